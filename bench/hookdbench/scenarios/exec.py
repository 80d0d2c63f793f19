"""3. Exec: a program run per event (tick, the counting stand-in for
/bin/true) by webhook and by hookd's exec handler."""

import os
import time

from .. import common
from ..common import file_size
from ..measure import row
from ..net import metric, metrics, wrk
from ..proc import cpu_seconds, proc_status, wait_until
from ..servers import start_hookd, start_webhook

TITLE = "3. Exec — one program run per event (the counting stand-in for /bin/true), 16 connections"
PRODUCES = "runs_per_s"


def run(ctx):
    """3. A program per event: completed runs/s under load, then the drain."""
    rows = []
    b = ctx.bodies
    conns = 16
    for rnd in range(common.OPT.rounds):
        for who in ("webhook", "hookd-sqlite", "hookd-memory"):
            folder = ctx.tmp(f"exec-{who}-{rnd}")
            runs = os.path.join(folder, "runs")
            if who == "webhook":
                s = start_webhook(folder)
                url, hdr = f"http://127.0.0.1:{s.port}/hooks/run", (b.envelope_sig,)
            else:
                s = start_hookd(folder, who.split("-")[1], handlers="exec")
                url, hdr = f"http://127.0.0.1:{s.port}/v4/events", ()
            try:
                cpu0 = cpu_seconds(s.pid)
                acc0 = metric(metrics(s.port), "hookd_events_accepted_total") if who != "webhook" else 0
                runs0 = file_size(runs)
                t0 = time.monotonic()
                r = wrk(url, conns, common.OPT.duration, b.envelope_file, hdr)
                t_end = time.monotonic()
                runs_load = file_size(runs) - runs0
                if who == "webhook":
                    acked = r["requests"] - r["status_errors"]
                else:
                    acked = metric(metrics(s.port), "hookd_events_accepted_total") - acc0
                # drain: until every acknowledged event ran (hookd), or the
                # count stops moving for 3 s (webhook loses some), bounded
                last = [file_size(runs), time.monotonic()]

                def drained():
                    nonlocal acked
                    n = file_size(runs)
                    if n != last[0]:
                        last[0], last[1] = n, time.monotonic()
                    if who != "webhook":  # requests in flight when wrk stopped count too
                        acked = metric(metrics(s.port), "hookd_events_accepted_total") - acc0
                    return n - runs0 >= acked or time.monotonic() - last[1] > 3
                wait_until(drained, common.OPT.drain_max, 0.02)
                t_drain = last[1] if file_size(runs) - runs0 < acked else time.monotonic()
                done = file_size(runs) - runs0
                cpu1 = cpu_seconds(s.pid)
                st = proc_status(s.pid)
            finally:
                s.stop()
                ctx.clean(folder)
            rows.append(row(
                "exec", who, rnd, connections=conns, rps=r["rps"], requests=r["requests"],
                p50_us=r["p50_us"], p99_us=r["p99_us"], max_us=r["max_us"],
                non2xx=r["non2xx"], status_errors=r["status_errors"],
                socket_errors=r["socket_errors"], acknowledged=int(acked), runs=done,
                runs_per_s=runs_load / r["seconds"],
                # webhook's requests in flight when wrk stops (at most one per
                # connection) can run without being counted as acknowledged
                executed_pct=min(100.0, 100.0 * done / acked) if acked else None,
                drain_s=max(0.0, t_drain - t_end), seconds=r["seconds"],
                cpu_us_per_req=(cpu1 - cpu0) * 1e6 / r["requests"] if r["requests"] else None,
                cpu_us_per_run=(cpu1 - cpu0) * 1e6 / done if done else None,
                rss_peak_mb=st["VmHWM"], threads=st["Threads"], wall_s=t_end - t0))
            ctx.progress(rows[-1])
    return rows
