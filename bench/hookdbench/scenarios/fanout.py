"""4. Fan-out: hookd delivering each event to 10 subscriptions, on a fast
sink (against wrk straight at it) and on a sink answering after 100 ms."""

import time

from .. import common
from ..measure import row
from ..net import metric, metrics, wrk
from ..proc import Sampler, cpu_seconds, proc_status, wait_until
from ..servers import sink_count, start_hookd, start_sink, subscribe

TITLE = "4. Fan-out — one event type, 10 subscriptions"
PRODUCES = "deliveries_per_s"


def hookd_extra():
    """What fan-out's hookd (and --profile's) adds to its configuration."""
    return ('subscriptions = { allow_targets = ["127.0.0.1/32"]; concurrency = %d; };\n'
            'queue_size = 1000000;' % common.OPT.sub_concurrency)


def run(ctx):
    """4. Fan-out to 10 subscriptions: fast sink (vs wrk on it), 100 ms sink."""
    rows = []
    for kind, delay in (("fast", 0), ("slow", 100)):
        sink = start_sink(ctx.tmp("sinks"), delay)
        try:
            for rnd in range(common.OPT.rounds):
                if kind == "fast":
                    rows.append(sink_round(ctx, sink, rnd))
                    ctx.progress(rows[-1])
                for who in ("hookd-sqlite", "hookd-memory"):
                    rows.append(hookd_round(ctx, sink, who, kind, delay, rnd))
                    ctx.progress(rows[-1])
        finally:
            sink.stop()
    return rows


def sink_round(ctx, sink, rnd):
    """wrk straight at the fast sink: the limit of a delivery rate here."""
    opt = common.OPT
    c0 = sink_count(sink)
    cpu0 = cpu_seconds(sink.pid)
    r = wrk(f"http://127.0.0.1:{sink.port}/w", opt.sink_conns, opt.duration, ctx.bodies.envelope_file)
    n = sink_count(sink) - c0
    st = proc_status(sink.pid)
    return row("fanout", f"wrk -> sink c{opt.sink_conns}", rnd,
               deliveries_per_s=n / r["seconds"], rps=r["rps"],
               p50_us=r["p50_us"], p99_us=r["p99_us"], max_us=r["max_us"],
               non2xx=r["non2xx"], socket_errors=r["socket_errors"],
               cpu_us_per_delivery=(cpu_seconds(sink.pid) - cpu0) * 1e6 / n if n else None,
               rss_peak_mb=st["VmHWM"], seconds=r["seconds"])


def hookd_round(ctx, sink, who, kind, delay, rnd):
    """hookd with OPT.subscriptions subscriptions to `sink`, published to at
    16 connections; then the drain of what is still owed."""
    opt = common.OPT
    pub_conns = 16
    folder = ctx.tmp(f"fanout-{kind}-{who}-{rnd}")
    s = start_hookd(folder, who.split("-")[1], handlers="none", extra=hookd_extra())
    try:
        subscribe(s.port, f"http://127.0.0.1:{sink.port}", opt.subscriptions)
        threads = [proc_status(s.pid)["Threads"]]
        c0 = sink_count(sink)
        cpu0 = cpu_seconds(s.pid)
        sampler = Sampler(s.pid)
        r = wrk(f"http://127.0.0.1:{s.port}/v4/events", pub_conns, opt.duration,
                ctx.bodies.envelope_file, on_start=lambda _p: sampler.start())
        n_load = sink_count(sink) - c0
        cpu1 = cpu_seconds(s.pid)
        sampler.stop()
        acc = metric(metrics(s.port), "hookd_events_accepted_total")
        want = acc * opt.subscriptions
        t1 = time.monotonic()
        n1 = sink_count(sink) - c0
        wait_until(lambda: sink_count(sink) - c0 >= want, opt.drain_max, 0.1)
        drain = time.monotonic() - t1
        n_all = sink_count(sink) - c0
        # the backlog left when the load stopped, delivered with nothing
        # else to do: the delivery path alone
        drain_rate = (n_all - n1) / drain if n_all - n1 >= 100 and drain > 0 else None
        st = proc_status(s.pid)
    finally:
        s.stop()
        ctx.clean(folder)
    return row("fanout", f"{who} -> {kind} sink", rnd,
               deliveries_per_s=n_load / r["seconds"], rps=r["rps"],
               p50_us=r["p50_us"], p99_us=r["p99_us"], max_us=r["max_us"],
               non2xx=r["non2xx"], socket_errors=r["socket_errors"],
               events=int(acc), deliveries=n_all, delivered_pct=100.0 * n_all / want if want else None,
               drain_s=drain, backlog_at_stop=max(0, int(want - n1)),
               drain_deliveries_per_s=drain_rate, in_flight_est=n_load / r["seconds"] * (delay / 1000.0),
               cpu_us_per_delivery=(cpu1 - cpu0) * 1e6 / n_load if n_load else None,
               rss_peak_mb=st["VmHWM"], threads=max(threads + sampler.threads),
               seconds=r["seconds"])
