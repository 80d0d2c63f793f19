"""
Shared pieces of hookd's black-box tests: a TAP runner, the real daemon on a
loopback port, HTTP helpers and a parser for hookd's log lines.

Standard library only. Every wait is bounded in time and in count, and every
process a test starts is stopped by its PID when the test ends, whatever
happened to the test.

Environment (set by `make check`; defaults point at ../../build for manual
runs from the source tree):
  HOOKD_BIN              the daemon
  HOOKD_PLUGIN_DIR       built-in plugins (exec.so, ...)
  HOOKD_TEST_PLUGIN_DIR  test plugins (good.so, wrong_major.so, ...)
  HOOKD_FAULT_SHIM       tests/faults' fsfault.so (see test_faults.py)
  HOOKD_SRCDIR           the source tree (for tests/data)
  ASAN_OPTIONS, UBSAN_OPTIONS are passed through to the daemon.
  HOOKD_KEEP_TMP=1       keep each test's temporary folder.
"""

import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
_BUILD = os.path.normpath(os.path.join(HERE, "..", "..", "build"))

HOOKD_BIN = os.environ.get("HOOKD_BIN") or os.path.join(_BUILD, "hookd")
PLUGIN_DIR = os.environ.get("HOOKD_PLUGIN_DIR") or os.path.join(
    _BUILD, "plugins", ".libs")
TEST_PLUGIN_DIR = os.environ.get("HOOKD_TEST_PLUGIN_DIR") or os.path.join(
    _BUILD, "tests", "plugins", ".libs")
FAULT_SHIM = os.environ.get("HOOKD_FAULT_SHIM") or os.path.join(
    _BUILD, "tests", "faults", ".libs", "fsfault.so")
SRCDIR = os.environ.get("HOOKD_SRCDIR") or os.path.normpath(
    os.path.join(HERE, "..", ".."))

# Text the sanitizers print when they find something.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")

START_TIMEOUT = 10.0  # seconds for the port line and /healthz
STOP_TIMEOUT = 15.0   # seconds between SIGTERM and SIGKILL


class TestTimeout(Exception):
    """Raised in the test when its time limit passes."""


class Skip(Exception):
    """Raised by skip(): the runner reports the case as skipped."""


def skip(reason):
    """End the running test as skipped: TAP "ok N - name # SKIP reason".
    Clean-up (finally blocks, process reaping) runs as for any test; a
    test that leaked a process or noted a problem is still not ok."""
    raise Skip(reason)


# ---------------------------------------------------------------- runner --

_TESTS = []


class _Context:
    """What the running test has made: its folder, processes, daemons."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.procs = []    # subprocess.Popen objects to reap by PID
        self.daemons = []  # Daemon objects, for log tails on failure
        self.notes = []    # extra diagnostics (problems seen in clean-up)


_ctx = None


def context():
    if _ctx is None:
        raise RuntimeError("hookdtest: not inside a test (use hookdtest.main())")
    return _ctx


def tmpdir():
    """The running test's private temporary folder (removed afterwards)."""
    return context().tmpdir


def test(description=None, timeout=20):
    """Register a test function: @test("what it checks", timeout=seconds)."""
    def deco(fn):
        register(fn, description or fn.__name__.replace("_", " "), timeout)
        return fn
    return deco


def register(fn, description, timeout=20):
    """Register fn (no arguments) as one TAP case."""
    _TESTS.append((fn, description, float(timeout)))


def _on_alarm(signum, frame):
    raise TestTimeout("test time limit passed")


def _reap(proc, notes, what):
    """Stop proc (a Popen) by its PID if it still runs; note that it did."""
    if proc.poll() is not None:
        return
    notes.append("%s (pid %d) was still running after the test: killed"
                 % (what, proc.pid))
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        notes.append("pid %d did not die after SIGKILL" % proc.pid)


def _run_one(fn, limit):
    global _ctx
    tmp = tempfile.mkdtemp(prefix="hookd-it-")
    _ctx = _Context(tmp)
    ok = True
    diag = []
    skipped = None
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        fn()
    except Skip as e:
        signal.setitimer(signal.ITIMER_REAL, 0)
        skipped = str(e) or "skipped"
    except BaseException as e:  # noqa: B902 - a test failure of any kind
        signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(e, KeyboardInterrupt):
            raise
        ok = False
        if isinstance(e, TestTimeout):
            diag.append("timed out after %.0f s" % limit)
        diag.extend(traceback.format_exc().rstrip().splitlines())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    leaked = []
    for p in _ctx.procs:
        _reap(p, leaked, "process %r" % (p.args[0] if p.args else "?"))
    if leaked:
        ok = False
        diag.extend(leaked)
    if _ctx.notes:
        diag.extend(_ctx.notes)
        ok = False
    if not ok:
        for d in _ctx.daemons:
            diag.append("--- last lines of %s ---" % d.log_path)
            diag.extend(d.log_text().splitlines()[-40:])
    if os.environ.get("HOOKD_KEEP_TMP") == "1":
        diag.append("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    _ctx = None
    return ok, diag, skipped


def main():
    """Run the registered tests (those whose description contains one of
    the command-line words, if any) and print TAP. Always exits 0: the TAP
    driver counts the failures."""
    words = sys.argv[1:]
    tests = [t for t in _TESTS
             if not words or any(w in t[1] for w in words)]
    print("1..%d" % len(tests), flush=True)
    for k, (fn, desc, limit) in enumerate(tests, 1):
        t0 = time.monotonic()
        ok, diag, skipped = _run_one(fn, limit)
        took = time.monotonic() - t0
        # A bare '#' would start a TAP directive (SKIP, TODO).
        line = "%s %d - %s" % ("ok" if ok else "not ok", k,
                               desc.replace("#", "\\#"))
        if ok and skipped is not None:
            line += " # SKIP " + " ".join(skipped.replace("#", "").split())
        print(line)
        for line in diag:
            print("# " + line.replace("\n", " "))
        if took > 5:
            print("# (took %.1f s)" % took)
        sys.stdout.flush()
    sys.exit(0)


# --------------------------------------------------------------- waiting --

def wait_for(cond, timeout=10.0, what="a condition", interval=0.02):
    """Call cond() until it returns something truthy; return that. Bounded
    in time (timeout seconds) and count; AssertionError when it never does."""
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 2
    last = None
    for _ in range(tries):
        last = cond()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError("timed out after %.1f s waiting for %s (last: %r)"
                         % (timeout, what, last))


def read_lines(path):
    """Lines of a text file without their newlines; [] when it is missing."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_lines(path, n, timeout=10.0):
    """Wait until file `path` has at least n lines; return them."""
    return wait_for(lambda: (lambda ls: ls if len(ls) >= n else None)(
        read_lines(path)), timeout, "%d lines in %s" % (n, path))


def records(path):
    """Lines of a test-good `record` file as (attempt, id, type, target)."""
    out = []
    for line in read_lines(path):
        parts = line.split(" ")
        assert len(parts) == 4, "bad record line %r" % line
        out.append((int(parts[0]), parts[1], parts[2], parts[3]))
    return out


def pid_gone(pid):
    """1 when no live process has this PID (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return True
    # "pid (comm) S ...": the state follows the last ')'.
    return stat[stat.rindex(")") + 2] in "ZX"


# ------------------------------------------------------------------- logs --

_KV = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def parse_log_line(line):
    """One log line (text or JSON format) as a dict with ts, level (lower
    case), msg and the key=value fields; None when it is not a log line
    (sanitizer reports, stray output)."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        try:
            rec = json.loads(line)
        except ValueError:
            return None
        return rec if isinstance(rec, dict) and "msg" in rec else None
    parts = line.split(" ", 3)
    if len(parts) < 3 or not re.match(r"\d{4}-\d\d-\d\dT", parts[0]) \
            or parts[1] not in ("ERROR", "WARN", "INFO", "DEBUG"):
        return None
    rec = {"ts": parts[0], "level": parts[1].lower(), "msg": parts[2]}
    rest = parts[3] if len(parts) > 3 else ""
    pos = 0
    while pos < len(rest):
        if rest[pos] == " ":
            pos += 1
            continue
        m = _KV.match(rest, pos)
        if not m:
            rec.setdefault("_unparsed", rest[pos:])
            break
        key, val = m.group(1), m.group(2)
        if val.startswith('"'):
            val = json.loads(val)
        rec[key] = val
        pos = m.end()
    return rec


def ts_ms(rec):
    """A record's ts as milliseconds since the epoch."""
    t = datetime.datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    t = t.replace(tzinfo=datetime.timezone.utc)
    return int(round(t.timestamp() * 1000))


def matches(rec, **want):
    """Does record rec have every field in want? A value may be a callable
    (a predicate on the field's text, or None when absent)."""
    for k, v in want.items():
        have = rec.get(k)
        if callable(v):
            if not v(have):
                return False
        elif have != (None if v is None else str(v)):
            return False
    return True


# ------------------------------------------------------------------- HTTP --

class Response:
    """status, headers (lower-case names), body (parsed JSON or None), raw."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.body = None

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<Response %s %r %r>" % (self.status, self.headers, self.raw[:300])


def closed_port():
    """A loopback port nothing listens on (bound, then closed: another
    process could take it meanwhile, but nothing in a test does)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def http_request(port, method, path, body=None, headers=None, timeout=10.0,
                 host="127.0.0.1", tls=None):
    """One request on a fresh connection. body: bytes, str, or an object
    (sent as JSON with Content-Type application/json unless headers say
    otherwise); a POST, PATCH or DELETE without a body says application/json
    too unless headers say otherwise. tls: an ssl.SSLContext for HTTPS."""
    hdrs = dict(headers or {})
    has_type = any(k.lower() == "content-type" for k in hdrs)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        if not has_type:
            hdrs["Content-Type"] = "application/json"
    elif body is None and method in ("POST", "PATCH", "DELETE") \
            and not has_type:
        # As hookctl does: a state-changing call says JSON, body or not
        # (without a key, hookd refuses it otherwise: docs/security.md).
        hdrs["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode("utf-8")
    if tls is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=tls)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, raw)
    finally:
        conn.close()


def raw_request(port, data, timeout=10.0, half_close=False):
    """Send raw bytes; read one HTTP response (until Content-Length is
    satisfied or the server closes). Bounded by timeout."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: read what it said
        buf = b""
        for _ in range(100000):
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", buf[:head_end])
                if m and len(buf) >= head_end + 4 + int(m.group(1)):
                    break
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no complete response within %.0f s: %r"
                                     % (timeout, buf[:300]))
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    assert m, "not an HTTP response: %r" % buf[:300]
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(rest)))
    return Response(int(m.group(1)), headers, rest[:n])


def assert_error(resp, status, code, field=Ellipsis):
    """resp is hookd's JSON error with this status and code (and field,
    when given; field=None means no field member)."""
    assert resp.status == status, "want %d %s, got %r" % (status, code, resp)
    ct = resp.headers.get("content-type", "")
    assert ct.startswith("application/json"), "content-type %r" % ct
    b = resp.body
    assert isinstance(b, dict), "error body is not a JSON object: %r" % resp.raw
    assert b.get("error") == code, "want error %r, got %r" % (code, b)
    assert isinstance(b.get("message"), str) and b["message"], \
        "error without a message: %r" % b
    if field is None:
        assert "field" not in b, "unexpected field in %r" % b
    elif field is not Ellipsis:
        assert b.get("field") == field, "want field %r, got %r" % (field, b)


# ----------------------------------------------------------------- config --

def q(s):
    """s as a libconfig string literal."""
    return json.dumps(str(s), ensure_ascii=False)


def qlist(items):
    """A libconfig array of strings."""
    return "[" + ", ".join(q(i) for i in items) + "]"


def test_plugin(name):
    """Absolute path of test plugin `name` (e.g. "good")."""
    return os.path.join(TEST_PLUGIN_DIR, name + ".so")


def server_block(**opts):
    """`server = { listen = "127.0.0.1:0"; ... };` with extra settings
    given as Python values (str, int, list of str)."""
    parts = ['listen = "127.0.0.1:0";']
    for k, v in opts.items():
        if isinstance(v, str):
            v = q(v)
        elif isinstance(v, (list, tuple)):
            v = qlist(v)
        parts.append("%s = %s;" % (k, v))
    return "server = { %s };\n" % " ".join(parts)


def conf(body="", **server_opts):
    """A whole configuration: a loopback server block, then body. Unless
    body has its own `storage`, events go to an SQLite file in the test's
    folder (the default store, exercised by every test)."""
    text = server_block(**server_opts) + body
    if "storage" not in body and _ctx is not None:
        text += '\nstorage = { url = "sqlite:%s"; };\n' % os.path.join(
            _ctx.tmpdir, "hookd.db")
    return text


def good_handler(name, **keys):
    """A handler group for the test-good plugin."""
    parts = ["plugin = %s;" % q(test_plugin("good"))]
    for k, v in keys.items():
        parts.append("%s = %s;" % (k, q(v) if isinstance(v, str) else v))
    return "%s = { %s };" % (name, " ".join(parts))


def daemon_env(extra=None):
    """hookd's environment: ours (so ASAN_OPTIONS/UBSAN_OPTIONS pass
    through), with `extra` applied (a value of None removes the name)."""
    env = dict(os.environ)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_hookd(args, timeout=20.0, env=None):
    """Run hookd to completion (--check-config, --version, ...): a
    CompletedProcess with text stdout/stderr. Killed by PID past timeout."""
    proc = subprocess.Popen([HOOKD_BIN] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=daemon_env(env))
    if _ctx is not None:
        _ctx.procs.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=5)
        raise AssertionError("hookd %s did not finish within %.0f s"
                             % (" ".join(args), timeout))
    res = subprocess.CompletedProcess(proc.args, proc.returncode,
                                      out.decode("utf-8", "replace"),
                                      err.decode("utf-8", "replace"))
    check_sanitizers(res.stderr, "hookd %s" % " ".join(args))
    return res


def check_sanitizers(text, what):
    for mark in SANITIZER_MARKS:
        if mark in text:
            at = text.index(mark)
            raise AssertionError("%s: sanitizer report: %s"
                                 % (what, text[max(0, at - 200):at + 1500]))


# ----------------------------------------------------------------- daemon --

class Daemon:
    """The real hookd on a loopback port, as a context manager.

        with Daemon(conf(...)) as d:
            r = d.post_event({"type": "x"})

    The configuration is written into the test's folder; stderr goes to a
    log file. On exit hookd gets SIGTERM (SIGKILL by PID if it does not stop
    in time); its exit status must be `expect_status` (None: any) and its
    log must hold no sanitizer report.
    """

    def __init__(self, config, args=(), env=None, expect_status=0,
                 log_format=None, name=None, plugin_dir=None):
        ctx = context()
        assert "127.0.0.1:0" in config, "tests listen on 127.0.0.1:0 only"
        self.name = name or "hookd%d" % len(ctx.daemons)
        self.dir = ctx.tmpdir
        self.conf_path = os.path.join(self.dir, self.name + ".conf")
        self.log_path = os.path.join(self.dir, self.name + ".log")
        self.out_path = os.path.join(self.dir, self.name + ".out")
        self.args = list(args)
        self.env = env
        self.expect_status = expect_status
        self.log_format = log_format
        self.plugin_dir = plugin_dir or PLUGIN_DIR
        self.proc = None
        self.tls = None  # an ssl.SSLContext when hookd serves HTTPS
        self.port = None
        self.status = None
        self.write_config(config)
        ctx.daemons.append(self)

    # -- process --------------------------------------------------------

    def write_config(self, text):
        """Replace the configuration file (atomically)."""
        tmp = self.conf_path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.conf_path)

    def argv(self):
        argv = [HOOKD_BIN, "-c", self.conf_path, "--plugin-dir", self.plugin_dir]
        if self.log_format:
            argv += ["--log-format", self.log_format]
        return argv + self.args

    def start(self):
        with open(self.log_path, "wb") as log, open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=log,
                                         env=daemon_env(self.env),
                                         cwd=self.dir)
        context().procs.append(self.proc)

        def port_line():
            for rec in self.records(msg="listening"):
                if rec.get("port", "").isdigit():
                    return int(rec["port"])
            if self.proc.poll() is not None:
                raise AssertionError("hookd exited with status %s before it "
                                     "listened:\n%s" % (self.proc.returncode,
                                                        self.log_text()))
            return None
        self.port = wait_for(port_line, START_TIMEOUT, "the 'listening' log line")
        assert 0 < self.port < 65536

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError("hookd exited with status %s:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            try:
                return self.get("/healthz", timeout=2).status == 200
            except OSError:
                return False
        wait_for(healthy, START_TIMEOUT, "GET /healthz = 200", interval=0.05)
        return self

    def send_signal(self, sig):
        """Send sig to hookd, by PID, if it is running."""
        assert self.proc is not None and self.proc.poll() is None, \
            "hookd is not running"
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for hookd to exit; its status. SIGKILL and fail past timeout."""
        try:
            self.status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
            raise AssertionError("hookd did not exit within %.0f s; killed"
                                 % timeout)
        return self.status

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig (SIGTERM) and wait; the exit status. Fails on a
        sanitizer report in the log."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        status = self.wait_exit(timeout)
        check_sanitizers(self.log_text(), "hookd")
        return status

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            status = self.stop()
            if self.expect_status is not None and exc_type is None:
                assert status == self.expect_status, \
                    "hookd exited with status %s, expected %s" % (
                        status, self.expect_status)
        except Exception as e:
            if exc_type is None:
                raise
            # The test failed already; report this too, not instead.
            context().notes.append("while stopping hookd: %s" % e)
        return False

    # -- logs -------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def records(self, **want):
        """Parsed log lines (every one when want is empty) matching want."""
        out = []
        for line in self.log_text().splitlines():
            rec = parse_log_line(line)
            if rec is not None and matches(rec, **want):
                out.append(rec)
        return out

    def wait_log(self, count=1, timeout=10.0, **want):
        """Wait until at least `count` log lines match want; return them."""
        return wait_for(
            lambda: (lambda rs: rs if len(rs) >= count else None)(
                self.records(**want)),
            timeout, "%d log line(s) matching %r" % (count, want))

    def reload(self, config=None, timeout=10.0):
        """Write config (if given), send SIGHUP and wait for the verdict:
        True when the new configuration was taken, False when refused."""
        done = ("configuration reloaded",
                "the new configuration has errors; keeping the running one")
        before = len(self.records(msg="reload", detail=lambda v: v in done))
        if config is not None:
            self.write_config(config)
        self.send_signal(signal.SIGHUP)
        recs = self.wait_log(count=before + 1, timeout=timeout, msg="reload",
                             detail=lambda v: v in done)
        return recs[before]["detail"] == done[0]

    # -- HTTP -------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        return http_request(self.port, method, path, body, headers, timeout,
                            tls=self.tls)

    def get(self, path, headers=None, timeout=10.0):
        return self.request("GET", path, None, headers, timeout)

    def post(self, path, body=None, headers=None, timeout=10.0):
        return self.request("POST", path, body, headers, timeout)

    def post_event(self, event, key=None, headers=None, timeout=10.0):
        """POST /v4/events with event (an object, sent as JSON)."""
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        if key is not None:
            hdrs["x-api-key"] = key
        return self.post("/v4/events", json.dumps(event), hdrs, timeout)

    def publish(self, event, key=None):
        """post_event that must be accepted; the response body."""
        r = self.post_event(event, key=key)
        assert r.status == 202, "publish %r: %r" % (event, r)
        assert isinstance(r.body, dict) and isinstance(r.body.get("id"), str), r
        return r.body

    def raw(self, data, timeout=10.0, half_close=False):
        return raw_request(self.port, data, timeout, half_close)
