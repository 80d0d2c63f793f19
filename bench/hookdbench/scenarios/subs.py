"""9. Subscriptions at scale: many subscriptions on one hookd (SQLite),
created through the API on one keep-alive connection, one event fanned out
to all of them on a fast sink, a restart with all of them loaded, and a
page of the list."""

import json
import os
import time
from http.client import HTTPConnection

from .. import common
from ..bodies import event_data
from ..measure import row
from ..net import http
from ..proc import cpu_seconds, proc_status, wait_until
from ..servers import sink_count, start_hookd, start_sink

TITLE = "9. Subscriptions at scale — one hookd, SQLite"
PRODUCES = "create_per_s"


def count():
    """How many subscriptions: 500 in a smoke run, else --scale-subs."""
    return 500 if common.OPT.smoke else common.OPT.scale_subs


def extra(n):
    return ('subscriptions = { allow_targets = ["127.0.0.1/32"]; max = %d; };\n'
            'queue_size = %d;' % (n + 10, max(100000, 2 * n)))


def create(port, url, n):
    """n subscriptions on one keep-alive connection: the seconds it took."""
    c = HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.perf_counter()
    for i in range(n):
        c.request("POST", "/v4/webhook-subscriptions",
                  json.dumps({"webhookUrl": f"{url}/s{i}", "events": ["workflow_finished"]}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        if r.status != 201:
            raise RuntimeError(f"subscription {i} refused: {r.status} {body[:200]!r}")
    took = time.perf_counter() - t0
    c.close()
    return took


def timed_get(port, path):
    t0 = time.perf_counter()
    st, _ = http("GET", f"http://127.0.0.1:{port}{path}")
    if st != 200:
        raise RuntimeError(f"GET {path}: {st}")
    return (time.perf_counter() - t0) * 1e6


def restart_to_first_event(s, folder):
    """Stop hookd, start it on the same database: the seconds from the
    start to the first accepted event (its fan-out decided), and the new
    server."""
    s.stop()
    t0 = time.perf_counter()
    s2 = start_hookd(folder, "sqlite", handlers="none", conf=os.path.join(folder, "hookd.conf"),
                     port=s.port)
    st, body = http("POST", f"http://127.0.0.1:{s2.port}/v4/events",
                    {"type": "workflow_finished", "data": event_data()})
    if st != 202:
        raise RuntimeError(f"publish after restart: {st} {body[:200]!r}")
    return time.perf_counter() - t0, s2


def run(ctx):
    """One round per --rounds: create, fan out, restart, page."""
    rows = []
    n = count()
    sink = start_sink(ctx.tmp("sinks"))
    try:
        for rnd in range(common.OPT.rounds):
            folder = ctx.tmp(f"subs-{rnd}")
            s = start_hookd(folder, "sqlite", handlers="none", extra=extra(n))
            try:
                idle = proc_status(s.pid)
                took = create(s.port, f"http://127.0.0.1:{sink.port}", n)
                made = proc_status(s.pid)
                c0, cpu0 = sink_count(sink), cpu_seconds(s.pid)
                t0 = time.perf_counter()
                st, _ = http("POST", f"http://127.0.0.1:{s.port}/v4/events",
                             {"type": "workflow_finished", "data": event_data()})
                if st != 202:
                    raise RuntimeError(f"publish: {st}")
                wait_until(lambda: sink_count(sink) - c0 >= n, 120, 0.02)
                fanout_s = time.perf_counter() - t0
                cpu = cpu_seconds(s.pid) - cpu0
                done = proc_status(s.pid)
                page_us = timed_get(s.port, "/v4/webhook-subscriptions?limit=100")
                restart_s, s = restart_to_first_event(s, folder)
            finally:
                s.stop()
                ctx.clean(folder)
            rows.append(row("subs", f"hookd {n:,} subscriptions", rnd,
                            subs=n, create_per_s=n / took, fanout_s=fanout_s,
                            cpu_us_per_delivery=cpu * 1e6 / n,
                            rss_idle_mb=idle["VmRSS"], rss_mb=made["VmRSS"],
                            rss_peak_mb=done["VmHWM"], threads_idle=idle["Threads"],
                            threads=done["Threads"], page_us=page_us,
                            restart_s=restart_s))
            ctx.progress(rows[-1])
    finally:
        sink.stop()
    return rows
