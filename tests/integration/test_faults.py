#!/usr/bin/env python3
"""The store's guarantees against filesystem faults under the running
daemon.

A full disk is real: the SQLite database lives on a small tmpfs that each
case mounts itself and fills up, so the kernel answers ENOSPC
(test_store.py simulates one with `storage.max_size`). Needs root (mount);
a case that cannot mount reports itself as skipped, with the reason.

A read-only filesystem cannot be made that way: Linux refuses
`mount -o remount,ro` (EBUSY) while any process holds a file of the
filesystem open for writing, as hookd holds its database. That case
preloads tests/faults' fsfault.so into hookd instead, which makes every
write, sync and truncation under the database's folder fail with EROFS
while a flag file exists (FaultShim below); it needs no root.

The "gate" handler (exec, one attempt at a time) blocks until the test
creates a file, so attempts can be made to finish exactly when the disk is
full: with no free space at all the store cannot write their results, which
must then be kept in memory and written once there is room again.
"""

import errno
import http.client
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

import hookdtest as h
from hookdtest import Daemon, assert_error, conf, good_handler, q, qlist, test

FS_SIZE = "2m"
PAD = "x" * 4000       # ~4 KB events
LEAVE = 384 * 1024     # bytes the filler leaves free for the ~4 KB events
N_GATED = 6            # gated events: their results come once the disk is full
GATE_POLLS = 1200      # the gate script gives up (exit 3) after ~60 s


# ------------------------------------------------------------------ tmpfs --

def _run(argv, timeout=10.0):
    """Run a short command; CompletedProcess (text). Bounded in time."""
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, -1, "", "timed out after "
                                           "%.0f s" % timeout)


class Tmpfs:
    """A tmpfs of FS_SIZE mounted on a folder of the test's tmpdir, as a
    context manager. The case is skipped when it cannot be mounted. On exit
    every hookd of the test is stopped first (by PID), then the tmpfs is
    unmounted: `umount` retried a bounded number of times, `umount -l` as a
    last resort; a tmpfs that stays mounted is reported as a problem."""

    def __init__(self, name="fs", size=FS_SIZE):
        self.dir = os.path.join(h.tmpdir(), name)
        self.size = size
        self.mounted = False

    def __enter__(self):
        if os.geteuid() != 0:
            h.skip("not root: cannot mount a tmpfs")
        for tool in ("mount", "umount"):
            if shutil.which(tool) is None:
                h.skip("no %s command" % tool)
        os.makedirs(self.dir)
        r = _run(["mount", "-t", "tmpfs", "-o", "size=" + self.size,
                  "tmpfs", self.dir])
        if r.returncode != 0 or not os.path.ismount(self.dir):
            if os.path.ismount(self.dir):
                self.mounted = True
                self._unmount()
            h.skip("cannot mount a tmpfs (%s)" % (
                " ".join((r.stderr or r.stdout).split())[:200]
                or "status %d" % r.returncode))
        self.mounted = True
        return self

    def path(self, name):
        return os.path.join(self.dir, name)

    def free(self):
        st = os.statvfs(self.dir)
        return st.f_bavail * st.f_frsize

    def __exit__(self, exc_type, exc, tb):
        if self.mounted:
            ctx = h.context()
            for d in ctx.daemons:
                p = d.proc
                if p is not None and p.poll() is None:
                    ctx.notes.append("%s still ran before the unmount: killed"
                                     % d.name)
                    try:
                        os.kill(p.pid, signal.SIGKILL)
                        p.wait(timeout=5)
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        pass
            self._unmount()
        return False

    def _unmount(self):
        notes = h.context().notes
        last = ""
        for _ in range(20):
            try:
                r = _run(["umount", self.dir])
                last = " ".join((r.stderr or "").split())
                if not os.path.ismount(self.dir):
                    self.mounted = False
                    return
                time.sleep(0.25)
            except h.TestTimeout:
                continue  # the time limit passed meanwhile: finish clean-up
        r = _run(["umount", "-l", self.dir])
        if os.path.ismount(self.dir):
            notes.append("could not unmount %s (%s; umount -l: %s)" % (
                self.dir, last, " ".join((r.stderr or "").split())))
        else:
            self.mounted = False
            notes.append("%s was still busy after hookd stopped (%s): "
                         "lazily unmounted" % (self.dir, last))


# ------------------------------------------------------------- fault shim --

def asan_runtime():
    """The path of the ASan runtime hookd is linked with (a sanitizer
    build), or None. It must come first of all libraries, before anything
    preloaded, or ASan refuses to start."""
    r = _run(["ldd", h.HOOKD_BIN])
    for line in r.stdout.splitlines():
        name, _, where = line.strip().partition(" => ")
        if name.startswith("libasan.so"):
            return where.split(" (")[0]
    return None


class FaultShim:
    """A folder whose files cannot be written while the fault is on: give
    hookd env() (tests/faults/fsfault.so preloaded, pointed at the folder
    and at a flag file) and switch with on() and off(). As a context
    manager it switches the fault off on exit, whatever happened."""

    def __init__(self, name="db", error="EROFS"):
        self.dir = os.path.join(h.tmpdir(), name)
        self.flag = os.path.join(h.tmpdir(), name + ".fault")
        self.error = error
        os.makedirs(self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def env(self):
        shim = h.FAULT_SHIM
        if not os.path.exists(shim):
            raise AssertionError("no fault shim at %s (`make check` builds "
                                 "it)" % shim)
        preload = [shim]
        asan = asan_runtime()
        if asan:
            preload.insert(0, asan)
        return {"LD_PRELOAD": ":".join(preload),
                "HOOKD_FAULT_PATH": self.dir, "HOOKD_FAULT_FLAG": self.flag}

    def on(self):
        with open(self.flag, "w") as f:
            f.write(self.error + "\n")

    def off(self):
        try:
            os.unlink(self.flag)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.off()
        return False


def write_filler(path, size):
    """A file of about `size` bytes (less when the disk fills first)."""
    chunk = b"\0" * 65536
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left = size
        for _ in range(size // len(chunk) + 2):
            if left <= 0:
                break
            try:
                left -= os.write(fd, chunk[:min(left, len(chunk))])
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)


def fill_up(fs, path):
    """Take every byte left on fs with one more file (until ENOSPC)."""
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(4096):  # 16 MiB: far more than the tmpfs holds
            try:
                os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
        else:
            raise AssertionError("no ENOSPC after 16 MiB on %s" % fs.dir)
    finally:
        os.close(fd)
    assert fs.free() == 0, "still %d bytes free on %s" % (fs.free(), fs.dir)


# ---------------------------------------------------------------- helpers --

def get_event(d, eid):
    r = d.get("/v4/events/" + urllib.parse.quote(eid, safe=""))
    assert r.status == 200, "GET event %s: %r" % (eid, r)
    return r.body


def record_ids(path):
    return [r[1] for r in h.records(path)]


def check_503(r):
    assert_error(r, 503, "store_unavailable")
    ra = r.headers.get("retry-after")
    assert ra is not None and ra.isdigit() and int(ra) >= 1, r.headers


def publish_until_503(d, limit=400, seconds=60.0):
    """Publish ~4 KB events until one is refused. (ids answered 202, the
    refusal). Bounded in count and time."""
    acked = []
    deadline = time.monotonic() + seconds
    for i in range(limit):
        assert time.monotonic() < deadline, "no 503 within %.0f s (%d " \
            "events accepted)" % (seconds, len(acked))
        r = d.post_event({"type": "big", "data": {"pad": PAD, "i": i}})
        if r.status == 202:
            acked.append(r.body["id"])
            continue
        return acked, r
    raise AssertionError("no 503 after %d events of 4 KB" % limit)


def publish_retrying(d, event, tries=100, pause=0.2):
    """What a client does: publish, on 503 store_unavailable wait and try
    again (bounded). The accepted id."""
    last = None
    for _ in range(tries):
        r = d.post_event(event)
        if r.status == 202:
            return r.body["id"]
        check_503(r)
        last = r
        time.sleep(pause)
    raise AssertionError("still refused after %d tries %.1f s apart: %r; "
                         "store log: %r" % (tries, pause, last,
                                            d.records(msg="store")))


def wait_delivered(rec, ids, timeout=20.0):
    h.wait_for(lambda: set(ids) <= set(record_ids(rec)), timeout,
               "%d acknowledged events in %s" % (len(ids), rec))


def complete_history(ev):
    """Every delivery succeeded, with exactly one attempt (number 1, ok)
    recorded."""
    ds = ev["deliveries"]
    return bool(ds) and all(
        x["state"] == "succeeded" and x["attemptCount"] == 1
        and [(a["attempt"], a["outcome"]) for a in x["attempts"]] == [(1, "ok")]
        for x in ds)


def wait_complete(d, ids, timeout=20.0):
    """Wait until every event of ids has a complete history (see above)."""
    left = list(ids)

    def done():
        while left and complete_history(get_event(d, left[0])):
            left.pop(0)
        return not left
    try:
        h.wait_for(done, timeout, "complete attempt histories", interval=0.1)
    except AssertionError:
        raise AssertionError("incomplete history after %.0f s: %r" % (
            timeout, get_event(d, left[0])))


def writing_again(d):
    return d.records(msg="store", detail="writing again")


def gate_handler(gate):
    """An exec handler, one attempt at a time, that exits 0 once file
    `gate` exists (3 after ~60 s without it)."""
    script = ('i=0; while [ ! -e %s ]; do i=$((i+1)); '
              '[ "$i" -gt %d ] && exit 3; sleep 0.05; done; exit 0'
              % (q(gate), GATE_POLLS))
    return ('gate = { plugin = "exec"; command = %s; timeout = 120; '
            'concurrency = 1; };' % qlist(["/bin/sh", "-c", script]))


def fault_conf(fs, rec, gate=None):
    """good handler g (recording to rec) for every event; events of type
    "gated" also go to the gate handler. The database on fs."""
    handlers = [good_handler("g", record=rec)]
    routes = ['{ events = ["*"]; handlers = ["g"]; }']
    if gate is not None:
        handlers.append(gate_handler(gate))
        routes.append('{ events = ["gated"]; handlers = ["gate"]; }')
    return conf("""
workers = 4;
handlers = { %s };
routes = ( %s );
storage = { url = %s; };
""" % (" ".join(handlers), ",\n  ".join(routes),
       q("sqlite:" + fs.path("hookd.db"))))


class Gate:
    """The gate file; open() creates it. As a context manager it opens on
    exit whatever happened, so no gate script is left waiting."""

    def __init__(self):
        self.path = os.path.join(h.tmpdir(), "gate")

    def open(self):
        with open(self.path, "w"):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.open()
        return False


def before_fault(d, rec):
    """Three small events, delivered and stored as succeeded."""
    ids = [d.publish({"type": "before", "data": {"k": k}})["id"]
           for k in range(3)]
    wait_delivered(rec, ids)
    wait_complete(d, ids)
    return ids


def fill_disk(d, fs, rec, gate):
    """The fault, shared by the full-disk cases:
    - N_GATED "gated" events are accepted (their gate attempts wait), then
      a filler takes all but LEAVE bytes;
    - ~4 KB events until 503 store_unavailable (with Retry-After, and the
      log says "cannot write"); every one answered 202 is delivered and
      readable; an event refused now is not stored;
    - the rest of the disk is taken (ENOSPC), then the gate opens: the
      gate attempts finish while nothing can be written.
    Returns (acked ids, gated ids, gated ids whose result the store could
    not take while full)."""
    gated = [d.publish({"type": "gated", "data": {"n": n}})["id"]
             for n in range(N_GATED)]
    wait_delivered(rec, gated)
    h.wait_for(lambda: all(
        [x["state"] for x in get_event(d, e)["deliveries"]
         if x["target"] == "g"] == ["succeeded"] for e in gated),
        10, "the gated events' g deliveries stored as succeeded")
    free = fs.free()
    assert free > LEAVE + 256 * 1024, "only %d bytes free" % free
    write_filler(fs.path("filler"), free - LEAVE)
    big, r = publish_until_503(d)
    check_503(r)
    assert len(big) >= 3, "full after %d events of 4 KB" % len(big)
    bad = d.wait_log(msg="store", detail=lambda v: bool(v) and v.startswith(
        "cannot write; "))[0]
    assert "full" in bad.get("reason", ""), \
        "a full disk should say so: %r" % bad
    acked = gated + big
    # Every event answered 202 is delivered (by g) and readable.
    wait_delivered(rec, acked)
    for eid in big:
        ev = get_event(d, eid)
        assert ev["data"]["pad"] == PAD and len(ev["deliveries"]) == 1, eid
    for eid in gated:
        assert len(get_event(d, eid)["deliveries"]) == 2, eid
    # Still full: refused, nothing stored.
    r = d.post_event({"type": "big", "id": "refused-1", "data": {"pad": PAD}})
    check_503(r)
    assert_error(d.get("/v4/events/refused-1"), 404, "not_found")
    assert d.get("/healthz").status == 200

    # Not a byte left; then the gate attempts finish.
    fill_up(fs, fs.path("topup"))
    gate.open()
    h.wait_for(lambda: set(gated) <= {x["event"] for x in d.records(
        msg="attempt", target="gate")}, 30, "the gate attempts")
    oks = d.records(msg="attempt", target="gate", outcome="ok")
    assert len(oks) == N_GATED, "gate attempts: %r" % d.records(
        msg="attempt", target="gate")

    def gate_state(eid):
        return [x for x in get_event(d, eid)["deliveries"]
                if x["target"] == "gate"][0]

    def held():
        return [e for e in gated if gate_state(e)["state"] != "succeeded"]
    held_back = h.wait_for(held, 10, "a gate result the store cannot take")
    # Not merely in flight: with no free space they stay unwritten.
    time.sleep(2)
    for eid in held_back:
        x = gate_state(eid)
        assert x["state"] == "pending" and x["attemptCount"] == 0 and \
            x["attempts"] == [], "written on a full disk? %r" % x
    assert fs.free() == 0
    print("# tmpfs %s: filler %d KiB, then full after %d events of 4 KB; "
          "%d of %d gate results held back" % (
              FS_SIZE, (free - LEAVE) // 1024, len(big), len(held_back),
              N_GATED), flush=True)
    return acked, gated, held_back


def free_disk(fs):
    for name in ("filler", "topup"):
        os.unlink(fs.path(name))


# ------------------------------------------------------------------ cases --

@test("real disk full (tmpfs): 503 store_unavailable with Retry-After and "
      "'cannot write'; every 202 delivered and readable; space freed: "
      "publishing works again, 'writing again', held-back results written, "
      "every history complete", timeout=150)
def disk_full():
    rec = os.path.join(h.tmpdir(), "rec")
    gate = Gate()
    with Tmpfs() as fs:
        with Daemon(fault_conf(fs, rec, gate.path)) as d, gate:
            before = before_fault(d, rec)
            acked, gated, held_back = fill_disk(d, fs, rec, gate)
            acked = before + acked
            again_before = len(writing_again(d))

            free_disk(fs)
            after = [publish_retrying(d, {"type": "after", "data": {
                "pad": PAD}})]
            h.wait_for(lambda: len(writing_again(d)) > again_before, 15,
                       "'writing again' after the space was freed")
            after += [d.publish({"type": "after", "data": {"pad": PAD}})["id"]
                      for _ in range(3)]
            # The refused event was never stored: it is new now.
            r = d.post_event({"type": "big", "id": "refused-1",
                              "data": {"pad": PAD}})
            assert r.status == 202, "refused-1 was stored after all: %r" % r
            acked += after + ["refused-1"]

            wait_delivered(rec, acked)
            # The results held back while full are in the store now, and
            # every event has its whole history: one ok attempt each.
            wait_complete(d, acked)
            for eid in held_back:
                x = [x for x in get_event(d, eid)["deliveries"]
                     if x["target"] == "gate"][0]
                assert x["attempts"][0]["detail"] == "exit 0", x
            assert sorted(record_ids(rec)) == sorted(acked), \
                "delivered twice, or something not acknowledged"
            assert len(d.records(msg="attempt", target="gate")) == N_GATED
            assert d.records(msg="dead") == [], d.records(msg="dead")
        assert d.status == 0, d.status


@test("read-only filesystem (a preloaded fault: EROFS for every write "
      "under the database's folder): 503 store_unavailable with "
      "Retry-After, 'cannot write' naming the cause, results held back; "
      "the fault cleared: publishing works again by itself, held-back "
      "results written, nothing accepted lost, SIGTERM exits 0", timeout=120)
def read_only():
    rec = os.path.join(h.tmpdir(), "rec")
    gate = Gate()
    with FaultShim() as fs:
        with Daemon(fault_conf(fs, rec, gate.path), env=fs.env()) as d, gate:
            before = before_fault(d, rec)
            # Accepted before the fault; their gate attempts end during it.
            gated = [d.publish({"type": "gated", "data": {"n": n}})["id"]
                     for n in range(3)]
            wait_delivered(rec, gated)
            fs.on()
            refused = []
            for k in range(2):
                r = d.post_event({"type": "ro", "id": "ro-%d" % k},
                                 timeout=15)
                check_503(r)
                refused.append("ro-%d" % k)
            bad = d.wait_log(msg="store", detail=lambda v: bool(v) and
                             v.startswith("cannot write; "))[0]
            assert "read-only" in bad.get("reason", "").lower(), \
                "the log should name the cause: %r" % bad
            # Reads still work; the refused event is not there.
            assert_error(d.get("/v4/events/ro-0"), 404, "not_found")
            for eid in before:
                assert complete_history(get_event(d, eid)), eid
            assert d.get("/healthz").status == 200

            # The gate attempts finish while nothing can be written: their
            # results are kept in memory.
            gate.open()
            h.wait_for(lambda: set(gated) <= {x["event"] for x in d.records(
                msg="attempt", target="gate")}, 30, "the gate attempts")
            time.sleep(1)
            for eid in gated:
                x = [x for x in get_event(d, eid)["deliveries"]
                     if x["target"] == "gate"][0]
                assert x["state"] == "pending" and x["attemptCount"] == 0, \
                    "written while read-only? %r" % x
            again_before = len(writing_again(d))

            fs.off()
            after = [publish_retrying(d, {"type": "after"})]
            h.wait_for(lambda: len(writing_again(d)) > again_before, 15,
                       "'writing again' once the fault cleared")
            after += [d.publish({"type": "after"})["id"] for _ in range(3)]
            # The refused ids were never stored: new events now.
            for eid in refused:
                r = d.post_event({"type": "ro", "id": eid})
                assert r.status == 202, "%s was stored after all: %r" % (
                    eid, r)
            acked = before + gated + after + refused
            wait_delivered(rec, acked)
            wait_complete(d, acked)
            assert sorted(record_ids(rec)) == sorted(acked), h.records(rec)
            assert len(d.records(msg="attempt", target="gate")) == len(gated)
            status = d.stop()
            assert status == 0, "SIGTERM: exit status %s" % status


@test("restart after the fault: stopped while the disk is full with results "
      "held back; space freed; after a restart every acknowledged event "
      "ends succeeded and was delivered at least once", timeout=180)
def restart_after_fault():
    rec = os.path.join(h.tmpdir(), "rec")
    gate = Gate()
    with Tmpfs() as fs:
        config = fault_conf(fs, rec, gate.path)
        a = Daemon(config, name="first")
        with a, gate:
            before = before_fault(a, rec)
            acked, gated, held_back = fill_disk(a, fs, rec, gate)
            acked = before + acked
            status = a.stop()
        assert status == 0, "SIGTERM on a full disk: exit status %s" % status
        assert a.records(msg="stopped"), "no 'stopped' line"

        free_disk(fs)
        b = Daemon(config, name="second")
        with b:
            rec_lines = b.wait_log(msg="recovered")
            n = int(rec_lines[0].get("deliveries", "0"))
            assert n >= len(held_back), "recovered %d, %d results were " \
                "held back: %r" % (n, len(held_back), rec_lines)
            # At least once: everything acknowledged ends succeeded.
            left = list(acked)

            def all_succeeded():
                while left and all(
                        x["state"] == "succeeded" and x["attempts"]
                        and x["attempts"][-1]["outcome"] == "ok"
                        for x in get_event(b, left[0])["deliveries"]):
                    left.pop(0)
                return not left
            try:
                h.wait_for(all_succeeded, 30, "every acknowledged event "
                           "succeeded", interval=0.1)
            except AssertionError:
                raise AssertionError("not succeeded after the restart: %r"
                                     % get_event(b, left[0]))
            ids = record_ids(rec)
            missing = set(acked) - set(ids)
            assert not missing, "never delivered: %r" % sorted(missing)
            # The held-back gate results were re-attempted after the restart.
            gate_runs = [x["event"] for x in b.records(
                msg="attempt", target="gate", outcome="ok")]
            assert set(held_back) <= set(gate_runs), (held_back, gate_runs)
            # And the store takes new events again.
            eid = b.publish({"type": "after", "data": {"pad": PAD}})["id"]
            wait_delivered(rec, [eid])
            wait_complete(b, [eid])
        assert b.status == 0, b.status


# ---------------------------------------------------------- crashing plugin --

@test("a handler that crashes hookd (SIGSEGV): the next start counts the "
      "interrupted attempt as a retry, so the retry schedule ends it as dead "
      "instead of a crash loop; other events are delivered",
      timeout=90)
def crashing_plugin():
    t = h.tmpdir()
    db = os.path.join(t, "hookd.db")
    rec = os.path.join(t, "rec")
    body = conf("""
storage = { url = %s; };
handlers = { boom = { plugin = %s; mode = "crash"; };
             %s };
routes = ( { events = ["boom"]; handlers = ["boom"]; retry = [2]; },
           { events = ["fine"]; handlers = ["ok"]; } );
""" % (q("sqlite:" + db), q(h.test_plugin("good")),
       good_handler("ok", record=rec)))
    crash_file = db + ".crash"
    starts = []

    def run_until_crash():
        d = Daemon(body, expect_status=None, name="run%d" % len(starts))
        starts.append(d)
        d.start()
        status = d.wait_exit(30)
        assert status == -signal.SIGSEGV, "exit status %s" % status
        with open(crash_file) as f:
            lines = f.read().split("\n")
        assert lines[0] == "signal %d" % signal.SIGSEGV, lines
        return d, [x for x in lines[1:] if x]

    # 1st run: the attempt crashes hookd; the file names its delivery.
    d = Daemon(body, expect_status=None, name="run0")
    starts.append(d)
    with d:
        boom = "boom-1"
        try:
            r = d.post_event({"type": "boom", "id": boom})
            assert r.status == 202, r
        except (OSError, http.client.HTTPException):
            pass  # the crash came before the answer (it is stored first)
        assert d.wait_exit(30) == -signal.SIGSEGV
    dlv = get_event_offline(db, boom)
    with open(crash_file) as f:
        lines = f.read().split("\n")
    assert lines[0] == "signal %d" % signal.SIGSEGV, lines
    assert dlv in lines[1:], (dlv, lines)

    # 2nd run: attempt 1 is counted as a retry; attempt 2 runs (retry
    # [2]: two seconds later) and crashes again.
    d, ids = run_until_crash()
    assert d.records(msg="crashed", attempts_in_flight="1"), d.log_text()
    assert ids == [dlv], ids

    # 3rd run: attempt 2 is counted; the schedule is spent: dead. hookd
    # stays up and delivers the rest.
    with Daemon(body, name="run%d" % len(starts)) as d:
        ev = h.wait_for(lambda: (lambda e: e if e["deliveries"][0]["state"]
                                 == "dead" else None)(get_event(d, boom)),
                        15, "the crashing delivery dead")
        x = ev["deliveries"][0]
        assert [a["attempt"] for a in x["attempts"]] == [1, 2], x
        for a in x["attempts"]:
            assert a["outcome"] == "retry" and "signal %d" % signal.SIGSEGV \
                in a["detail"], a
        fine = d.publish({"type": "fine"})["id"]
        wait_delivered(rec, [fine])
        assert d.get("/healthz").status == 200
    assert not os.path.exists(crash_file)


def get_event_offline(db, eid):
    """The id of the only delivery of event eid, read from the database
    file (hookd is not running)."""
    import sqlite3
    c = sqlite3.connect(db)
    try:
        rows = c.execute("SELECT d.id FROM deliveries d JOIN events e "
                         "ON e.seq = d.event_seq WHERE e.id = ?",
                         (eid,)).fetchall()
    finally:
        c.close()
    assert len(rows) == 1, rows
    return rows[0][0]


if __name__ == "__main__":
    h.main()
