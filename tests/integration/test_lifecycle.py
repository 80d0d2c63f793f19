#!/usr/bin/env python3
"""Start-up, reload (SIGHUP), shutdown (SIGTERM), command-line options."""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

import hookdtest as h
from hookdtest import (Daemon, conf, good_handler, q, run_hookd, test,
                       test_plugin)


def line_of(text, needle):
    """1-based line number of the first line containing needle."""
    return text[:text.index(needle)].count("\n") + 1


def two_handlers(route_to, ra, rb, extra=""):
    return conf("""
handlers = { %s %s };
routes = ( { events = ["*"]; handlers = [%s]; } );
%s""" % (good_handler("A", record=ra), good_handler("B", record=rb),
         q(route_to), extra))


def assert_delivered(d, rec, n_before, type_="t"):
    """Publish one event; it must reach the handler recording into rec."""
    ev = d.publish({"type": type_})
    assert ev["deliveries"] == 1, ev
    lines = h.wait_lines(rec, n_before + 1)
    assert lines[-1].split(" ")[1] == ev["id"], lines
    return ev


def refused_reload(d, broken, needle, message):
    """SIGHUP with a broken config: refused, the error logged as
    config detail="FILE:LINE: ..." where LINE holds needle."""
    assert d.reload(broken) is False, "a broken configuration was taken"
    want = "%s:%d: " % (d.conf_path, line_of(broken, needle))
    recs = d.records(msg="config", level="error")
    assert any(r.get("detail", "").startswith(want) and message in r["detail"]
               for r in recs), "no %r ... %r in %r" % (want, message, recs)


@test("SIGHUP with a syntax error: refused with file:line, old routes work")
def reload_syntax_error():
    t = h.tmpdir()
    ra, rb = os.path.join(t, "a"), os.path.join(t, "b")
    with Daemon(two_handlers("A", ra, rb)) as d:
        assert_delivered(d, ra, 0)
        broken = two_handlers("B", ra, rb).replace(
            'routes = ( { events = ["*"];', 'routes = ( { events = ["*";')
        refused_reload(d, broken, 'events = ["*";', "syntax error")
        assert_delivered(d, ra, 1)
        assert_delivered(d, ra, 2)
        assert h.read_lines(rb) == []
        assert d.proc.poll() is None


@test("SIGHUP with an unknown handler: refused with file:line, old routes work")
def reload_unknown_handler():
    t = h.tmpdir()
    ra, rb = os.path.join(t, "a"), os.path.join(t, "b")
    with Daemon(two_handlers("A", ra, rb)) as d:
        assert_delivered(d, ra, 0)
        broken = two_handlers("nosuch", ra, rb)
        refused_reload(d, broken, '"nosuch"', "unknown handler 'nosuch'")
        assert_delivered(d, ra, 1)
        assert h.read_lines(rb) == []


@test("SIGHUP with a plugin that does not load: refused, old routes work")
def reload_bad_plugin():
    t = h.tmpdir()
    ra, rb = os.path.join(t, "a"), os.path.join(t, "b")
    with Daemon(two_handlers("A", ra, rb)) as d:
        broken = conf("""
handlers = { A = { plugin = %s; }; };
routes = ( { events = ["*"]; handlers = ["A"]; } );
""" % q(test_plugin("wrong_major")))
        refused_reload(d, broken, "wrong_major", "wrong_major.so")
        assert_delivered(d, ra, 0)


def own_types(d):
    """The configured part of the catalog (without hookd.* types)."""
    return [e for e in d.get("/v4/events").body["events"]
            if not e["name"].startswith("hookd.")]


@test("SIGHUP with a good config changes routing and the catalog")
def reload_good():
    t = h.tmpdir()
    ra, rb = os.path.join(t, "a"), os.path.join(t, "b")
    with Daemon(two_handlers("A", ra, rb)) as d:
        assert_delivered(d, ra, 0)
        assert own_types(d) == []
        new = two_handlers("B", ra, rb, """
event_types = ( { name = "t"; description = "now typed"; } );""")
        assert d.reload(new) is True, d.records(msg="config")
        assert own_types(d) == [{"name": "t", "description": "now typed"}]
        assert_delivered(d, rb, 0)
        assert len(h.read_lines(ra)) == 1
        r = d.post_event({"type": "other"})
        h.assert_error(r, 422, "unknown_event_type", field="/type")
        # And back again.
        assert d.reload(two_handlers("A", ra, rb)) is True
        assert_delivered(d, ra, 1, type_="other")


@test("a retry scheduled before a reload is delivered by the new handler "
      "of that name")
def reload_keeps_pending_retry():
    t = h.tmpdir()
    rec1, rec2 = os.path.join(t, "1"), os.path.join(t, "2")
    first = conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; retry = [0.6]; } );
""" % good_handler("g", mode="retry", record=rec1))
    second = conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; retry = [0.6]; } );
""" % good_handler("g", mode="ok", record=rec2))
    with Daemon(first) as d:
        ev = d.publish({"type": "t"})
        d.wait_log(msg="attempt", event=ev["id"], outcome="retry")
        assert d.reload(second) is True
        recs = d.wait_log(count=2, msg="attempt", event=ev["id"])
        assert recs[1]["outcome"] == "ok" and recs[1]["attempt"] == "2", recs
        assert [r[:2] for r in h.records(rec2)] == [(2, ev["id"])]


@test("SIGTERM during a slow attempt: the attempt completes, exit 0",
      timeout=30)
def sigterm_finishes_inflight():
    rec = os.path.join(h.tmpdir(), "rec")
    d = Daemon(conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["slow"]; } );
""" % good_handler("slow", mode="sleep", sleep_ms=1500, record=rec)))
    with d:
        ev = d.publish({"type": "slow"})
        h.wait_lines(rec, 1)  # the attempt has started
        t0 = time.monotonic()
        status = d.stop(signal.SIGTERM)
        took = time.monotonic() - t0
        assert status == 0, "exit status %s" % status
    a = d.records(msg="attempt", event=ev["id"])
    assert len(a) == 1 and a[0]["outcome"] == "ok", a
    assert float(a[0]["duration_ms"]) >= 1400, a
    assert took >= 0.5, "exited after %.2f s, before the attempt ended" % took
    assert h.records(rec) == [(1, ev["id"], "slow", "slow")]
    msgs = [r["msg"] for r in d.records()]
    assert "stopping" in msgs, msgs
    assert msgs.index("stopping") < msgs.index("attempt"), msgs
    assert d.records(msg="stopped", unfinished_deliveries="0"), msgs
    assert d.records(msg="stopping", signal="SIGTERM"), msgs


@test("SIGTERM with deliveries waiting for a retry: counted as unfinished, "
      "exit 0")
def sigterm_unfinished():
    d = Daemon(conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; retry = [60]; } );
""" % good_handler("g", mode="retry")))
    with d:
        ids = [d.publish({"type": "t"})["id"] for _ in range(3)]
        d.wait_log(count=3, msg="attempt", outcome="retry")
    assert d.status == 0
    assert d.records(msg="stopped", unfinished_deliveries="3"), d.records()
    assert d.records(msg="dead") == []
    assert len(ids) == 3


def stored_delivery(db, eid):
    """(state, attempts, rows in attempts) of the one delivery of event eid
    in an SQLite store hookd is not running on."""
    c = sqlite3.connect(db, timeout=10)
    try:
        rows = c.execute(
            "SELECT d.state, d.attempts, (SELECT count(*) FROM attempts a"
            " WHERE a.delivery_seq = d.seq) FROM deliveries d"
            " JOIN events e ON e.seq = d.event_seq WHERE e.id = ?",
            (eid,)).fetchall()
    finally:
        c.close()
    assert len(rows) == 1, "deliveries of %s: %r" % (eid, rows)
    return rows[0]


@test("SIGTERM past shutdown_timeout: the running attempt is abandoned, "
      "hookd exits 0 soon after, the exec program's process group is "
      "killed, and the delivery, still pending in the store, runs again at "
      "the next start", timeout=60)
def sigterm_abandons():
    t = h.tmpdir()
    pids, ran = os.path.join(t, "pids"), os.path.join(t, "ran")

    def deploy(command):
        return conf("""
shutdown_timeout = 1;
handlers = { deploy = { plugin = "exec"; timeout = 120; command = %s; }; };
routes = ( { events = ["*"]; handlers = ["deploy"]; } );
""" % h.qlist(command))

    def read_pids():
        words = " ".join(h.read_lines(pids)).split()
        return [int(w) for w in words] if len(words) == 2 else None
    # The shell leads the program's process group; the sleep, its child,
    # is in the group too. Both PIDs are written before the wait.
    slow = ["/bin/sh", "-c", "/bin/sleep 31.5 & echo $$ $! > %s.new && "
            "mv %s.new %s; wait" % (pids, pids, pids)]
    d1 = Daemon(deploy(slow), name="before")
    with d1:
        ev = d1.publish({"type": "deploy"})
        sh_pid, sleep_pid = h.wait_for(read_pids, 10, "the program's PIDs")
        d1.send_signal(signal.SIGTERM)
        # Bounded well past shutdown_timeout: a loaded machine, ASan.
        assert d1.wait_exit(timeout=10) == 0, d1.status
    stopped = d1.records(msg="stopped")
    assert len(stopped) == 1 and stopped[0]["level"] == "warn", stopped
    assert stopped[0].get("abandoned_attempts") == "1", stopped
    assert "abandoned" in stopped[0]["detail"] and \
        "run again at the next start" in stopped[0]["detail"], stopped
    # The program did not outlive hookd: exec killed its group on exit.
    try:
        h.wait_for(lambda: h.pid_gone(sh_pid) and h.pid_gone(sleep_pid), 5,
                   "the abandoned program (pids %d, %d) to be gone"
                   % (sh_pid, sleep_pid))
    finally:
        for pid in (sh_pid, sleep_pid):
            if not h.pid_gone(pid):
                os.kill(pid, signal.SIGKILL)
    assert d1.records(msg="plugin", handler="deploy", level="warn",
                      detail=lambda v: v is not None and
                      v.endswith("killed process group %d" % sh_pid)), \
        d1.records(msg="plugin")
    # Its outcome (killed) was not recorded: pending, no attempt counted.
    ended = d1.records(msg="attempt") + d1.records(msg="dead")
    assert ended == [], "an abandoned attempt's outcome was logged: %r" % ended
    state, attempts, rows = stored_delivery(os.path.join(t, "hookd.db"),
                                            ev["id"])
    assert (state, attempts, rows) == (0, 0, 0), (state, attempts, rows)

    # At least once: the next start runs it again, once.
    fast = ["/bin/sh", "-c", 'echo "$HOOKD_ATTEMPT $HOOKD_EVENT_ID" >> %s'
            % ran]
    d2 = Daemon(deploy(fast), name="after")
    with d2:
        d2.wait_log(msg="attempt", event=ev["id"], outcome="ok")
    assert h.read_lines(ran) == ["1 %s" % ev["id"]], h.read_lines(ran)


@test("SIGINT stops gracefully too")
def sigint():
    d = Daemon(conf())
    with d:
        assert d.stop(signal.SIGINT) == 0
    assert d.records(msg="stopping", signal="SIGINT"), d.records()


@test("new connections are refused once hookd is stopping")
def no_accept_after_stop():
    rec = os.path.join(h.tmpdir(), "rec")
    d = Daemon(conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["slow"]; } );
""" % good_handler("slow", mode="sleep", sleep_ms=1000, record=rec)))
    with d:
        d.publish({"type": "slow"})
        h.wait_lines(rec, 1)
        d.send_signal(signal.SIGTERM)
        d.wait_log(msg="stopping")
        time.sleep(0.1)
        try:
            r = d.post_event({"type": "late"}, timeout=3)
        except OSError:
            r = None
        assert r is None or r.status == 503, r
        assert d.wait_exit() == 0
    assert len(h.read_lines(rec)) == 1


@test("a broken config at start-up: exit 1, errors on stderr, no listening")
def start_broken():
    bad = conf("""
handlers = { A = { plugin = %s; }; };
routes = ( { events = ["*"]; handlers = ["B"]; } );
""" % q(test_plugin("good")))
    path = os.path.join(h.tmpdir(), "bad.conf")
    with open(path, "w") as f:
        f.write(bad)
    r = run_hookd(["-c", path, "--plugin-dir", h.PLUGIN_DIR], timeout=10)
    assert r.returncode == 1, r
    assert "%s:%d: " % (path, line_of(bad, '"B"')) in r.stderr, r.stderr
    assert "unknown handler 'B'" in r.stderr, r.stderr
    assert "listening" not in r.stderr, r.stderr


@test("the manual page documents every option --help lists")
def man_page_options():
    r = run_hookd(["--help"])
    assert r.returncode == 0, r
    opts = sorted(set(re.findall(r"--[a-z][a-z-]+", r.stdout)))
    assert "--check-config" in opts and "--storage" in opts, opts
    with open(os.path.join(h.SRCDIR, "docs", "man", "hookd.8"),
              encoding="utf-8") as f:
        man = f.read().replace("\\-", "-")
    missing = [o for o in opts if o not in man]
    assert not missing, "hookd.8 does not mention %r" % missing


# ----------------------------------------------------------- manual pages --
# The manual pages are checked against what they describe: hookd.conf(5)
# against the keys the built plugins declare, hookd-plugin(3) against the
# public header and a build of its own example.

def man_text(name):
    with open(os.path.join(h.SRCDIR, "docs", "man", name),
              encoding="utf-8") as f:
        return f.read()


def man_sections(text, macro):
    """{title: [lines]} for every `macro` (".SH" or ".SS") heading; an .SS
    block ends at the next .SS or .SH, an .SH block at the next .SH."""
    out, title = {}, None
    for ln in text.splitlines():
        if ln.startswith(".SH") or (macro == ".SS" and ln.startswith(".SS")):
            title = None
            if ln.startswith(macro + " "):
                title = ln[len(macro) + 1:].strip().strip('"')
                out[title] = []
        elif title is not None:
            out[title].append(ln)
    return out


def tag_lines(lines):
    """The tag (the line after .TP) of every outer-level entry of a block;
    entries inside .RS/.RE list values, not keys or fields."""
    tags, depth, after_tp = [], 0, False
    for ln in lines:
        ln = ln.rstrip()
        if ln == ".RS" or ln.startswith(".RS "):
            depth += 1
        elif ln == ".RE":
            depth = max(0, depth - 1)
        elif after_tp and depth == 0:
            tags.append(ln)
        after_tp = ln == ".TP"
    return tags


def key_entries(lines):
    """Keys documented as `.TP` then `.B key`, in order."""
    return [m.group(1) for m in (re.match(r"^\.B (\S+)$", t)
                                 for t in tag_lines(lines)) if m]


def roff_unescape(s):
    """Text of roff escapes: font changes dropped, special characters
    replaced."""
    s = re.sub(r"\\f[BIRP]", "", s)
    for esc, ch in (("\\(aq", "'"), ("\\(ga", "`"), ("\\(dq", '"'),
                    ("\\(em", "-"), ("\\-", "-"), ("\\&", "")):
        s = s.replace(esc, ch)
    return s.replace("\\e", "\\")


def roff_line(ln):
    """The text a roff line prints: the arguments of a font macro joined as
    the macro joins them (.B and .I with spaces, .BI, .BR, ... without)."""
    m = re.match(r"^\.([A-Z]{1,2})(?: (.*))?$", ln)
    if not m:
        return roff_unescape(ln)
    args = [q_ or w for q_, w in
            re.findall(r'"([^"]*)"|(\S+)', m.group(2) or "")]
    if m.group(1) in ("B", "I"):
        return roff_unescape(" ".join(args))
    if re.match(r"^[BIR]{2}$", m.group(1)):
        return roff_unescape("".join(args))
    return ""


def roff_text(text):
    return "\n".join(roff_line(ln) for ln in text.splitlines())


@test("hookd.conf(5) documents each key of exec, http and smtp that "
      "--list-plugins shows, and no other, in .SS \"<plugin> handlers\"")
def man_conf_plugin_keys():
    r = run_hookd(["--list-plugins", "--plugin-dir", h.PLUGIN_DIR])
    assert r.returncode == 0, r
    declared, plugin = {}, None
    for ln in r.stdout.splitlines():
        m = re.match(r"^(\S+) \S+ \(ABI \d+\.\d+[^)]*\) \S+$", ln)
        if m:
            plugin = declared.setdefault(m.group(1), [])
            continue
        km = re.match(r"^\s{4}(\S+)\s+(string|integer|bool|list|group)\b", ln)
        if km and plugin is not None:
            plugin.append(km.group(1))
    blocks = man_sections(man_text("hookd.conf.5"), ".SS")
    problems = []
    for name in ("exec", "http", "smtp"):
        keys = declared.get(name)
        assert keys, "--list-plugins shows no keys of %s:\n%s" % (name, r.stdout)
        title = "%s handlers" % name
        if title not in blocks:
            problems.append('no .SS "%s"' % title)
            continue
        documented = key_entries(blocks[title])
        missing = [k for k in keys if k not in documented]
        stale = [k for k in documented if k not in keys]
        if missing:
            problems.append("%s: not documented: %s" % (title, missing))
        if stale:
            problems.append("%s: documented, not declared: %s" % (title, stale))
    assert not problems, "hookd.conf.5: " + "; ".join(problems)


def header_api():
    """What include/hookd/plugin.h declares: HOOKD_* names, struct members
    with their declarations, opaque structs, enums, typedefs, functions and
    the ABI version."""
    with open(os.path.join(h.SRCDIR, "include", "hookd", "plugin.h"),
              encoding="utf-8") as f:
        code = f.read()
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    code = re.sub(r"//[^\n]*", " ", code)
    api = {"consts": set(re.findall(r"\bHOOKD_[A-Z0-9_]+\b", code)) -
           {"HOOKD_PLUGIN_H"}, "structs": {}}
    for name, body in re.findall(r"\bstruct\s+(hookd_\w+)\s*\{(.*?)\};",
                                 code, re.S):
        members = {}
        for decl in body.split(";"):
            decl = re.sub(r"\bHOOKD_PRINTF\([^)]*\)", "", decl).strip()
            if not decl:
                continue
            m = (re.search(r"\(\s*\*\s*(\w+)\s*\)", decl) or
                 re.search(r"(\w+)\s*(?:\[[^\]]*\])?$", decl))
            assert m, "cannot read %r in struct %s" % (decl, name)
            members[m.group(1)] = c_norm(decl + ";")
        api["structs"][name] = members
    api["names"] = (set(re.findall(r"\bstruct\s+(hookd_\w+)\s*;", code)) |
                    set(re.findall(r"\benum\s+(hookd_\w+)\s*\{", code)) |
                    set(re.findall(r"\btypedef\b[^;]*?\(\s*\*\s*(\w+)\s*\)",
                                   code)))
    protos = re.findall(r"^HOOKD_EXPORT\s+([^;]*?\b(hookd_\w+)\s*\([^;]*\);)",
                        code, re.M)
    assert protos, "no exported function in plugin.h"
    api["functions"] = {fn: c_norm(decl) for decl, fn in protos}
    api["abi"] = "%s.%s" % (
        re.search(r"#define\s+HOOKD_ABI_MAJOR\s+(\d+)", code).group(1),
        re.search(r"#define\s+HOOKD_ABI_MINOR\s+(\d+)", code).group(1))
    return api


def c_norm(decl):
    """A C declaration with its white space made canonical."""
    s = re.sub(r"\s+", " ", decl).strip()
    return re.sub(r"\s*([(),;*\[\]])\s*", r"\1", s).replace(",", ", ")


@test("hookd-plugin(3) documents every struct member of plugin.h with its "
      "exact declaration, every HOOKD_* name, type and function, and the "
      "current ABI version")
def man_plugin_header():
    api = header_api()
    text = man_text("hookd-plugin.3")
    plain = roff_text(text)
    blocks = man_sections(text, ".SS")
    problems = []
    for struct, members in sorted(api["structs"].items()):
        title = "struct " + struct
        if title not in blocks:
            problems.append('no .SS "%s"' % title)
            continue
        tags = {}
        for t in tag_lines(blocks[title]):
            decl = c_norm(roff_line(t))
            m = (re.search(r"\(\*(\w+)\)", decl) or
                 re.search(r"(\w+)(?:\[[^\]]*\])?;$", decl))
            if m:
                tags[m.group(1)] = decl
        for member, decl in members.items():
            if member not in tags:
                problems.append("%s: no entry for %s" % (title, member))
            elif tags[member] != decl:
                problems.append("%s: %r, but plugin.h says %r"
                                % (title, tags[member], decl))
        stale = sorted(set(tags) - set(members))
        if stale:
            problems.append("%s: entries for members it lacks: %s"
                            % (title, stale))
    for fn, decl in api["functions"].items():
        if decl not in c_norm(plain):
            problems.append("the prototype %r is not given" % decl)
    for name in sorted(api["consts"] | api["names"]):
        if not re.search(r"\b%s\b" % re.escape(name), plain):
            problems.append("%s is not mentioned" % name)
    versions = tag_lines(man_sections(text, ".SH").get("VERSIONS", []))
    if api["abi"] not in versions:
        problems.append("VERSIONS has no entry for ABI %s (has %r)"
                        % (api["abi"], versions))
    assert not problems, "hookd-plugin.3:\n  " + "\n  ".join(problems)


@test("the example plugin of hookd-plugin(3) compiles with -Wall -Wextra "
      "-Werror, loads, and writes an event into a file", timeout=60)
def man_plugin_example():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        h.skip("no C compiler")
    examples = man_sections(man_text("hookd-plugin.3"), ".SH")["EXAMPLES"]
    blocks, cur = [], None
    for ln in examples:
        if ln == ".EX":
            cur = []
        elif ln == ".EE":
            blocks.append("\n".join(cur) + "\n")
            cur = None
        elif cur is not None:
            cur.append(roff_unescape(ln))
    sources = [b for b in blocks if "hookd_plugin_entry" in b]
    assert len(sources) == 1, "one example with hookd_plugin_entry: %r" % blocks
    m = re.search(r'\.name = "(\w+)"', sources[0])
    assert m, "the example's descriptor has no .name"
    name = m.group(1)
    t = h.tmpdir()
    plugdir = os.path.join(t, "plugins")
    os.makedirs(plugdir)
    src = os.path.join(t, name + ".c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(sources[0])
    proc = subprocess.run(
        [cc, "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
         "-I" + os.path.join(h.SRCDIR, "include"),
         "-o", os.path.join(plugdir, name + ".so"), src],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, "%s:\n%s" % (src, proc.stderr)

    r = run_hookd(["--list-plugins", "--plugin-dir", plugdir])
    assert r.returncode == 0 and re.search(r"^%s " % name, r.stdout, re.M), r
    # The usage snippet after the code is a valid configuration.
    usage = [b for b in blocks if "handlers" in b]
    assert usage, "no configuration example for the plugin"
    snippet = os.path.join(t, "usage.conf")
    with open(snippet, "w", encoding="utf-8") as f:
        f.write(usage[0])
    r = run_hookd(["--check-config", "-c", snippet, "--plugin-dir", plugdir])
    assert r.returncode == 0, r

    out = os.path.join(t, "out")
    os.makedirs(out)
    with Daemon(conf("""
handlers = { s = { plugin = %s; dir = %s; name = "{{type}}-{{data.x}}.json"; }; };
routes = ( { events = ["*"]; handlers = ["s"]; } );
""" % (q(os.path.join(plugdir, name + ".so")), q(out)))) as d:
        ev = d.publish({"type": "t", "data": {"x": "a/b"}})
        d.wait_log(msg="attempt", event=ev["id"], outcome="ok")
    # "/" was percent-encoded, so the file stayed in its folder.
    assert os.listdir(out) == ["t-a%2Fb.json"], os.listdir(out)
    with open(os.path.join(out, "t-a%2Fb.json"), encoding="utf-8") as f:
        stored = json.load(f)
    assert stored["id"] == ev["id"] and stored["data"] == {"x": "a/b"}, stored


@test("--version prints the version and the plugin ABI")
def version():
    r = run_hookd(["--version"])
    assert r.returncode == 0, r
    assert re.match(r"^hookd \d+\.\d+\.\d+\S* \(plugin ABI 1\.\d+\)\n$",
                    r.stdout), r.stdout
    r2 = run_hookd(["-V"])
    assert r2.stdout == r.stdout, r2


@test("bad command lines exit 2 with a message")
def bad_args():
    for args in (["--bogus"], ["--log-format", "xml"], ["--log-level", "loud"],
                 ["extra-arg"]):
        r = run_hookd(args)
        assert r.returncode == 2, (args, r)
        assert r.stderr.strip(), (args, r)
    r = run_hookd(["--help"])
    assert r.returncode == 0 and "--check-config" in r.stdout, r


@test("--log-format json: every line is a JSON object with ts, level, msg")
def json_logs():
    rec = os.path.join(h.tmpdir(), "rec")
    d = Daemon(conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; retry = []; } );
""" % good_handler("g", mode="fail", record=rec)), log_format="json")
    with d:
        ev = d.publish({"type": "j", "id": "json-1"})
        d.wait_log(msg="dead", event=ev["id"])
        d.post_event({"type": "bad type"})
    lines = [ln for ln in d.log_text().splitlines() if ln.strip()]
    assert len(lines) >= 6, lines
    for ln in lines:
        rec_ = json.loads(ln)
        assert isinstance(rec_, dict), ln
        for k in ("ts", "level", "msg"):
            assert isinstance(rec_.get(k), str) and rec_[k], (k, ln)
        assert rec_["level"] in ("error", "warn", "info", "debug"), ln
        h.ts_ms(rec_)
    by_msg = {}
    for ln in lines:
        r = json.loads(ln)
        by_msg.setdefault(r["msg"], []).append(r)
    assert by_msg["listening"][0]["port"] == str(d.port), by_msg["listening"]
    e = by_msg["event"][0]
    assert e["id"] == ev["id"] and e["deliveries"] == "1", e
    a = by_msg["attempt"][0]
    assert a["outcome"] == "fail" and a["reason"] == "test-good: fail", a
    assert by_msg["dead"][0]["attempts"] == "1", by_msg["dead"]
    assert "stopped" in by_msg, sorted(by_msg)


@test("--list-plugins lists exec with its keys, types and flags")
def list_plugins():
    r = run_hookd(["--list-plugins", "--plugin-dir", h.PLUGIN_DIR])
    assert r.returncode == 0, r
    out = r.stdout
    m = re.search(r"^exec \S+ \(ABI 1\.\d+[^)]*\) (\S+)$", out, re.M)
    assert m, out
    assert m.group(1) == os.path.join(h.PLUGIN_DIR, "exec.so"), m.group(0)
    keys = {}
    for ln in out.splitlines():
        km = re.match(r"^\s{4}(\S+)\s+(string|integer|bool|list|group)\b(.*)$", ln)
        if km:
            keys[km.group(1)] = (km.group(2), km.group(3))
    for k, typ in (("command", "list"), ("timeout", "integer"), ("cwd", "string"),
                   ("env", "group"), ("user", "string"), ("group", "string"),
                   ("max_output", "integer")):
        assert k in keys and keys[k][0] == typ, (k, keys)
    assert "required" in keys["command"][1], keys["command"]
    assert "required" not in keys["timeout"][1], keys["timeout"]


@test("--list-plugins over the test plugins: good ones listed, each bad one "
      "named on stderr, exit 1")
def list_test_plugins():
    r = run_hookd(["--list-plugins", "--plugin-dir", h.TEST_PLUGIN_DIR])
    assert r.returncode == 1, r
    assert re.search(r"^test-good 1\.0 .*good\.so$", r.stdout, re.M), r.stdout
    assert "sleep_ms" in r.stdout and "record" in r.stdout, r.stdout
    for name in ("wrong_major", "newer_minor", "no_entry", "short_struct",
                 "refuses"):
        assert os.path.join(h.TEST_PLUGIN_DIR, name + ".so") in r.stderr, \
            (name, r.stderr)
    assert "ABI 2.0" in r.stderr, r.stderr


# ------------------------------------------------------------- sd_notify --

def notify_socket(name):
    """A datagram socket for the notify protocol: (socket, address)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if name.startswith("@"):
        sock.bind("\0" + name[1:])
    else:
        sock.bind(name)
    sock.settimeout(10)
    return sock


def next_notice(sock, what):
    try:
        return sock.recv(4096).decode()
    except socket.timeout:
        raise AssertionError("no notification (%s) within 10 s" % what)


@test("NOTIFY_SOCKET: READY=1 once listening, RELOADING=1 with "
      "MONOTONIC_USEC then READY=1 around SIGHUP (good or refused), "
      "STOPPING=1 on SIGTERM; handlers' programs do not inherit it",
      timeout=40)
def sd_notify():
    t = h.tmpdir()
    path = os.path.join(t, "notify.sock")
    env_out = os.path.join(t, "env")
    sock = notify_socket(path)
    try:
        body = conf("""
handlers = { envdump = { plugin = "exec";
                         command = ["/bin/sh", "-c", "env > %s"]; }; };
routes = ( { events = ["*"]; handlers = ["envdump"]; } );
""" % env_out)
        d = Daemon(body, env={"NOTIFY_SOCKET": path})
        with d:
            msg = next_notice(sock, "start")
            assert msg.split("\n")[0] == "READY=1", msg
            assert d.records(msg="started"), "READY=1 before 'started'"
            assert d.get("/healthz").status == 200
            d.publish({"type": "x"})
            h.wait_for(lambda: os.path.exists(env_out) and
                       "HOOKD_EVENT_ID" in open(env_out).read(), 10,
                       "the exec handler's environment dump")
            assert "NOTIFY_SOCKET" not in open(env_out).read(), \
                "a handler's program inherited NOTIFY_SOCKET"

            before = time.monotonic()
            assert d.reload(body) is True
            after = time.monotonic()
            msg = next_notice(sock, "reload")
            fields = dict(l.split("=", 1) for l in msg.split("\n") if l)
            assert fields.get("RELOADING") == "1", msg
            usec = int(fields["MONOTONIC_USEC"]) / 1e6
            assert before - 1 <= usec <= after + 1, (before, usec, after)
            assert next_notice(sock, "after reload") == "READY=1"

            assert d.reload("this is { not a config") is False
            assert next_notice(sock, "refused").startswith("RELOADING=1\n")
            assert next_notice(sock, "after refused") == "READY=1"

            assert d.stop(signal.SIGTERM) == 0
            assert next_notice(sock, "stop") == "STOPPING=1"
    finally:
        sock.close()


@test("NOTIFY_SOCKET in the abstract namespace (@name) works; a relative "
      "name is refused with a warning and hookd runs on")
def sd_notify_abstract():
    name = "@hookd-test-%d" % os.getpid()
    sock = notify_socket(name)
    try:
        with Daemon(conf(), env={"NOTIFY_SOCKET": name}):
            assert next_notice(sock, "start").startswith("READY=1")
    finally:
        sock.close()
    with Daemon(conf(), env={"NOTIFY_SOCKET": "relative.sock"}) as d:
        assert d.get("/healthz").status == 200
        assert d.records(msg="notify", level="warn"), d.log_text()


if __name__ == "__main__":
    h.main()
