#!/usr/bin/env python3
"""Subscriptions are data: thousands of them on one hookd, black box.

A design that gives each subscription a thread, a thread-local key or a
descriptor of its own stops near 1,000 of them (1,024 keys a process) or
grows a thread per receiver; these tests use counts past that and assert
that the daemon's threads stay flat: the http plugin's delivery engine
adds its two event loops, whatever the number of subscriptions. And each
subscription is fed as fast as its receiver answers: adaptive concurrency
against receivers of http_sink.py's /knee."""

import os

import hookdtest as h
from hookdtest import Daemon, test

from receivers import Sink

API = "/v4/webhook-subscriptions"

# Past the 1,024 thread-local keys of a process, and many threads more than
# a small machine would start for them.
COUNT = 2000
# The engine's event loops (HTTP_ENGINE_LOOPS in plugins/http/http.h).
ENGINE_LOOPS = 2


def threads(d):
    """hookd's thread count now."""
    return len(os.listdir("/proc/%d/task" % d.proc.pid))


def scale_conf(count):
    return (h.server_block()
            + "subscriptions = { allow_targets = [\"127.0.0.1/32\"]; "
            + "max = %d; };\n" % (count + 10)
            + 'storage = { url = %s; synchronous = "normal"; };\n'
            % h.q("sqlite:" + os.path.join(h.tmpdir(), "scale.db")))


@test("%d subscriptions (past 1,024, the thread-local keys of a process): "
      "each created and sent one event; the thread count after the "
      "fan-out is the idle count plus the engine's %d loops"
      % (COUNT, ENGINE_LOOPS), timeout=240)
def fan_out_threads_flat():
    with Sink() as s, Daemon(scale_conf(COUNT)) as d:
        idle = threads(d)
        ids = []
        for i in range(COUNT):
            r = d.post(API, {"webhookUrl": s.url("/s/%d" % i),
                             "events": ["scale.*"]})
            assert r.status == 201, (i, r)
            ids.append(r.body["id"])
        assert len(set(ids)) == COUNT
        assert threads(d) <= idle, (threads(d), idle)
        body = d.publish({"type": "scale.tick", "data": {"n": 1}})
        assert body["deliveries"] == COUNT, body
        want = {"/s/%d" % i for i in range(COUNT)}

        # At least once: every subscription's request, some perhaps twice
        # (one the sink read but could not answer is sent again).
        def all_paths():
            paths = {x["path"] for x in s.requests("/s/")}
            return paths if paths >= want else None
        h.wait_for(all_paths, 180, "a request for each of %d subscriptions"
                   % COUNT)

        # Every delivery succeeded, as the store has it.
        def settled():
            for state in ("pending", "retrying", "dead"):
                r = d.get("/v4/deliveries?state=%s&limit=1" % state)
                if r.status != 200 or r.body["deliveries"]:
                    return None
            return True
        h.wait_for(settled, 30, "every delivery succeeded")
        after = threads(d)
        assert after <= idle + ENGINE_LOOPS, \
            "%d threads after the fan-out, %d idle" % (after, idle)


@test("the engine's loops end with the last handler: a reload that drops "
      "every http handler and subscription leaves the idle thread count",
      timeout=60)
def engine_stops_with_last_instance():
    with Sink() as s:
        base = (h.server_block()
                + 'storage = { url = %s; };\n'
                % h.q("sqlite:" + os.path.join(h.tmpdir(), "loops.db")))
        routed = base + (
            "handlers = { out = { plugin = \"http\"; url = %s; }; };\n"
            "routes = ( { events = [\"t.*\"]; handlers = [\"out\"]; } );\n"
            % h.q(s.url("/out")))
        with Daemon(routed) as d:
            idle = threads(d)
            d.publish({"type": "t.one", "data": {}})
            s.wait_requests("/out", 1)
            h.wait_for(lambda: threads(d) == idle + ENGINE_LOOPS, 10,
                       "the engine's loops running")
            d.reload(base)
            h.wait_for(lambda: threads(d) == idle, 10,
                       "the loops gone after the reload (%d threads, %d idle)"
                       % (threads(d), idle))
            # And they start again for the next handler.
            d.reload(routed)
            d.publish({"type": "t.two", "data": {}})
            s.wait_requests("/out", 2)
            assert threads(d) == idle + ENGINE_LOOPS, (threads(d), idle)


# ------------------------------------------------- adaptive concurrency --

def publish_n(d, n, label):
    for i in range(n):
        d.publish({"type": "scale.tick", "data": {"run": label, "i": i}})


def held_after(sink, prefix, skip):
    """The "held" of the requests at prefix after the first `skip`."""
    return [r["held"] for r in sink.requests(prefix)][skip:]


@test("adaptive concurrency: a receiver that answers in 300 ms is given "
      "many requests at once (far more than the 2 it starts with), while "
      "one that slows down past 6 requests at once is held near 6",
      timeout=180)
def adaptive_concurrency():
    # Receivers slow enough that the events wait for them (a backlog) on
    # any machine: the window, not the publishing, sets the concurrency.
    n = 240
    with Sink("flat") as s, Sink("knee") as k, Daemon(scale_conf(10)) as d:
        flat = d.post(API, {"webhookUrl": s.url("/knee/1000/300"),
                            "events": ["scale.*"]})
        assert flat.status == 201, flat
        publish_n(d, n, "flat")
        s.wait_requests("/knee/1000/", n, timeout=60)
        held = held_after(s, "/knee/1000/", n // 2)
        print("# 300 ms receiver: at most %d at once, median %d"
              % (max(held), sorted(held)[len(held) // 2]), flush=True)
        assert max(held) >= 24, "at most %d at once" % max(held)
        assert d.request("DELETE", API + "/" + flat.body["id"]).status == 200

        # Another receiver (process): the first one's requests still open
        # count for nothing here.
        knee = d.post(API, {"webhookUrl": k.url("/knee/6/300"),
                            "events": ["scale.*"]})
        assert knee.status == 201, knee
        publish_n(d, n, "knee")
        k.wait_requests("/knee/6/", n, timeout=120)
        held = sorted(held_after(k, "/knee/6/", n // 2))
        median = held[len(held) // 2]
        print("# receiver slowing past 6: median %d at once, at most %d"
              % (median, held[-1]), flush=True)
        assert 3 <= median <= 12, "median %d at once" % median
        assert held[-1] < 32, "at most %d at once" % held[-1]


if __name__ == "__main__":
    h.main()
