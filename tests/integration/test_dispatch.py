#!/usr/bin/env python3
"""Dispatching: outcomes, retry schedules, routing, per-handler concurrency."""

import os
import re
import time

import hookdtest as h
from hookdtest import Daemon, conf, good_handler, q, qlist, test


def one_route(handler_text, name="g", retry=None, events=("*",)):
    r = "" if retry is None else " retry = [%s];" % ", ".join(str(x) for x in retry)
    return conf("""
handlers = { %s };
routes = ( { events = %s; handlers = [%s];%s } );
""" % (handler_text, qlist(events), q(name), r))


def attempts_of(d, eid):
    return d.records(msg="attempt", event=eid)


@test("mode ok: one attempt, outcome ok, recorded once, no dead line")
def ok():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(one_route(good_handler("g", record=rec), retry=[0.05])) as d:
        ev = d.publish({"type": "thing.done", "data": {"n": 1}})
        assert ev["deliveries"] == 1, ev
        a = d.wait_log(msg="attempt", event=ev["id"])[0]
        assert a["outcome"] == "ok" and a["attempt"] == "1", a
        assert a["target"] == "g" and a["type"] == "thing.done", a
        assert a["delivery"].startswith("dlv_"), a
        assert re.fullmatch(r"[0-9]+\.[0-9]{3}", a["duration_ms"]), a
        time.sleep(0.2)
        assert h.records(rec) == [(1, ev["id"], "thing.done", "g")]
        assert len(attempts_of(d, ev["id"])) == 1
        assert d.records(msg="dead") == []


@test("retry-then-ok: attempts 1, 2, 3 for one event id, retry twice then "
      "ok, never early")
def retry_then_ok():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(one_route(good_handler("g", mode="retry-then-ok",
                                       ok_on_attempt=3, record=rec),
                          retry=[0.1, 0.1, 0.1])) as d:
        ev = d.publish({"type": "flaky"})
        recs = d.wait_log(count=3, msg="attempt", event=ev["id"])
        time.sleep(0.3)  # a 4th attempt would come by now
        recs = attempts_of(d, ev["id"])
        assert [(r["attempt"], r["outcome"]) for r in recs] == \
            [("1", "retry"), ("2", "retry"), ("3", "ok")], recs
        assert len({r["delivery"] for r in recs}) == 1, recs
        assert h.records(rec) == [(1, ev["id"], "flaky", "g"),
                                  (2, ev["id"], "flaky", "g"),
                                  (3, ev["id"], "flaky", "g")]
        for r in recs[:2]:
            assert int(r["retry_in_ms"]) >= 100, r
            assert int(r["retry_in_ms"]) <= 110, "jitter over 10 %%: %r" % r
        for a, b in zip(recs, recs[1:]):
            gap = h.ts_ms(b) - h.ts_ms(a)
            assert gap >= 99, "retry after %d ms, schedule says 100" % gap
        assert d.records(msg="dead") == []


@test("mode fail: one attempt, outcome fail, dead with attempts=1 and the "
      "plugin's reason")
def fail():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(one_route(good_handler("g", mode="fail", record=rec),
                          retry=[0.05, 0.05])) as d:
        ev = d.publish({"type": "doomed"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "1", dead
        assert dead["target"] == "g", dead
        assert dead["reason"] == "test-good: fail", dead
        time.sleep(0.3)
        recs = attempts_of(d, ev["id"])
        assert [(r["attempt"], r["outcome"]) for r in recs] == [("1", "fail")]
        assert recs[0]["level"] in ("warn", "WARN"), recs
        assert dead["delivery"] == recs[0]["delivery"], (dead, recs)
        assert len(h.records(rec)) == 1


@test("mode retry with a spent schedule: dead after len(retry)+1 attempts")
def retry_exhausted():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(one_route(good_handler("g", mode="retry", record=rec),
                          retry=[0.05, 0.05, 0.05])) as d:
        ev = d.publish({"type": "never"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "4", dead
        assert dead["reason"].startswith("retry schedule exhausted; last: "), dead
        time.sleep(0.3)
        recs = attempts_of(d, ev["id"])
        assert [(r["attempt"], r["outcome"]) for r in recs] == \
            [("1", "retry"), ("2", "retry"), ("3", "retry"), ("4", "retry")]
        assert "retry_in_ms" not in recs[-1], recs[-1]
        assert [r[0] for r in h.records(rec)] == [1, 2, 3, 4]
        assert len(d.records(msg="dead")) == 1


@test("an empty retry schedule: a RETRY is dead after one attempt")
def retry_empty_schedule():
    with Daemon(one_route(good_handler("g", mode="retry"), retry=[])) as d:
        ev = d.publish({"type": "x"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "1", dead


@test("a route without retry: the first retry comes after the Standard "
      "Webhooks schedule's 5 s, plus at most 10 % add-only jitter")
def retry_default_schedule():
    with Daemon(one_route(good_handler("g", mode="retry"))) as d:
        ev = d.publish({"type": "default.schedule"})
        a = d.wait_log(msg="attempt", event=ev["id"])[0]
        assert a["outcome"] == "retry" and a["attempt"] == "1", a
        assert 5000 <= int(a["retry_in_ms"]) <= 5500, a


@test("a plugin's retry_after_ms pushes the next attempt past the schedule")
def retry_after_hint():
    with Daemon(one_route(good_handler("g", mode="retry-then-ok",
                                       ok_on_attempt=2, retry_after_ms=400),
                          retry=[0.01])) as d:
        ev = d.publish({"type": "later"})
        recs = d.wait_log(count=2, msg="attempt", event=ev["id"])
        assert [r["outcome"] for r in recs] == ["retry", "ok"], recs
        assert int(recs[0]["retry_in_ms"]) >= 400, recs[0]
        gap = h.ts_ms(recs[1]) - h.ts_ms(recs[0])
        assert gap >= 399, "second attempt after %d ms, hint was 400" % gap


@test("glob routing: one event to two handlers via two routes, a handler "
      "in two matching routes gets it once, no match gives 0")
def glob_routing():
    t = h.tmpdir()
    ra, rb = os.path.join(t, "a"), os.path.join(t, "b")
    with Daemon(conf("""
handlers = { %s %s };
routes = (
  { events = ["order.*"]; handlers = ["A"]; },
  { events = ["order.created"]; handlers = ["B", "A"]; },
  { events = ["user.?", "nothing.*"]; handlers = ["B"]; }
);
""" % (good_handler("A", record=ra), good_handler("B", record=rb)))) as d:
        want = {"order.created": 2, "order.paid": 1, "user.x": 1,
                "user.xy": 0, "orders.x": 0, "order": 0, "misc": 0}
        ids = {}
        for typ, n in want.items():
            ev = d.publish({"type": typ})
            assert ev["deliveries"] == n, (typ, ev)
            ids[typ] = ev["id"]
        d.wait_log(count=4, msg="attempt", outcome="ok")
        time.sleep(0.2)
        got_a = sorted((r[2], r[1]) for r in h.records(ra))
        got_b = sorted((r[2], r[1]) for r in h.records(rb))
        assert got_a == sorted([("order.created", ids["order.created"]),
                                ("order.paid", ids["order.paid"])]), got_a
        assert got_b == sorted([("order.created", ids["order.created"]),
                                ("user.x", ids["user.x"])]), got_b
        assert len(d.records(msg="attempt")) == 4


@test("a '*' route takes every type")
def star_route():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(one_route(good_handler("C", record=rec), name="C")) as d:
        types = ["a", "b.c", "X:y-z_1", "9"]
        ids = [d.publish({"type": t})["id"] for t in types]
        h.wait_lines(rec, len(types))
        assert sorted((r[1], r[2]) for r in h.records(rec)) == \
            sorted(zip(ids, types))


SERIAL = r"""#!/bin/sh
now() { date +%s.%N; }
start=$(now)
if ! mkdir "$LOCK" 2>/dev/null; then
    echo "$HOOKD_EVENT_ID" >> "$OUT/collisions"
    echo "lock taken" >&2
    exit 3
fi
sleep 0.2
rmdir "$LOCK"
echo "$start $(now) $HOOKD_EVENT_ID" >> "$OUT/serial.times"
"""

PARALLEL = r"""#!/bin/sh
start=$(date +%s.%N)
sleep 0.4
echo "$start $(date +%s.%N) $HOOKD_EVENT_ID" >> "$OUT/parallel.times"
"""


def max_overlap(intervals):
    """Most intervals open at one instant."""
    points = []
    for s, e in intervals:
        points.append((s, 1))
        points.append((e, -1))
    best = cur = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        cur += delta
        best = max(best, cur)
    return best


def read_times(path):
    out = []
    for line in h.read_lines(path):
        s, e, eid = line.split()
        out.append((float(s), float(e), eid))
    return out


@test("concurrency = 1 serialises a handler while another with "
      "concurrency = 4 runs in parallel", timeout=30)
def concurrency():
    t = h.tmpdir()
    serial, parallel = os.path.join(t, "serial.sh"), os.path.join(t, "parallel.sh")
    for path, text in ((serial, SERIAL), (parallel, PARALLEL)):
        with open(path, "w") as f:
            f.write(text)
    lock = os.path.join(t, "lock")
    n = 5
    with Daemon(conf("""
workers = 8;
handlers = {
  serial = { plugin = "exec"; concurrency = 1; command = ["/bin/sh", %s];
             env = { LOCK = %s; OUT = %s; }; timeout = 20; };
  parallel = { plugin = "exec"; concurrency = 4; command = ["/bin/sh", %s];
               env = { OUT = %s; }; timeout = 20; };
};
routes = ( { events = ["work"]; handlers = ["serial", "parallel"];
             retry = []; } );
""" % (q(serial), q(lock), q(t), q(parallel), q(t)))) as d:
        ids = [d.publish({"type": "work", "data": {"i": i}})["id"]
               for i in range(n)]
        d.wait_log(count=2 * n, timeout=15, msg="attempt")
        recs = d.records(msg="attempt")
        bad = [r for r in recs if r["outcome"] != "ok"]
        assert not bad, bad
        assert not os.path.exists(os.path.join(t, "collisions")), \
            "the serial handler ran twice at once: %r" % h.read_lines(
                os.path.join(t, "collisions"))
        st = read_times(os.path.join(t, "serial.times"))
        pt = read_times(os.path.join(t, "parallel.times"))
        assert sorted(x[2] for x in st) == sorted(ids), st
        assert sorted(x[2] for x in pt) == sorted(ids), pt
        assert max_overlap([(s, e) for s, e, _ in st]) == 1, st
        par = max_overlap([(s, e) for s, e, _ in pt])
        assert par >= 2, "concurrency 4 but at most %d at once: %r" % (par, pt)
        assert par <= 4, "concurrency 4 but %d at once: %r" % (par, pt)


@test("a thread-safe handler without concurrency runs on every worker")
def default_concurrency():
    # test-good is thread-safe, so its default concurrency is the worker
    # count: 4 sleeps of 300 ms on 4 workers overlap.
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(conf("""
workers = 4;
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
""" % good_handler("g", mode="sleep", sleep_ms=300, record=rec))) as d:
        for i in range(4):
            d.publish({"type": "nap"})
        recs = d.wait_log(count=4, msg="attempt", outcome="ok")
        spans = [(h.ts_ms(r) - float(r["duration_ms"]), h.ts_ms(r)) for r in recs]
        assert all(e - s >= 299 for s, e in spans), spans
        par = max_overlap(spans)
        assert par >= 2, "4 sleeps on 4 workers ran one at a time: %r" % spans


def run_old_plugin(name, reason):
    """Route every event to test plugin `name` (built against a frozen ABI
    header), publish three, and check what it recorded and the reason of
    each attempt."""
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(conf("""
handlers = { old = { plugin = %s; record = %s; }; };
routes = ( { events = ["*"]; handlers = ["old"]; } );
""" % (q(h.test_plugin(name)), q(rec)))) as d:
        ids = [d.publish({"type": "legacy.ping"})["id"] for _ in range(3)]
        lines = h.wait_lines(rec, 3)
        assert sorted(l.split()[1] for l in lines) == sorted(ids), lines
        assert all(l.split()[0] == "1" and l.split()[2] == "legacy.ping"
                   for l in lines), lines
        ok = d.wait_log(count=3, msg="attempt", outcome="ok")
        assert all(r["reason"] == reason for r in ok), ok


@test("ABI test: a plugin built against the 1.0 header runs in this host")
def abi10_plugin():
    run_old_plugin("abi10", "abi 1.0 plugin: ok")


@test("ABI test: a plugin built against the 1.1 header runs in this host "
      "through its asynchronous path (complete() with a 1.1-sized result)")
def abi11_plugin():
    run_old_plugin("abi11", "abi 1.1 plugin: async")

if __name__ == "__main__":
    h.main()
