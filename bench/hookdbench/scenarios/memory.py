"""5. Memory: RSS of hookd (etc/hookd.conf) and of webhook idle, and of
hookd holding a backlog for a receiver that is down, before and after a
restart."""

import os
import signal
import threading
import time

from .. import common
from ..common import file_size
from ..measure import row
from ..net import metric, metrics, wrk
from ..proc import free_port, proc_status, wait_until
from ..servers import example_conf, start_hookd, start_webhook, subscribe

TITLE = "5. Memory"
PRODUCES = "rss_mb"


def run(ctx):
    """5. RSS idle (example config; webhook), and with a backlog in the store."""
    rows = []
    for rnd in range(common.OPT.rounds):
        for who in ("webhook", "hookd"):
            folder = ctx.tmp(f"idle-{who}-{rnd}")
            os.makedirs(folder, exist_ok=True)
            if who == "hookd":
                port = free_port()
                conf, opts = example_conf(folder, port)
                s = start_hookd(folder, "sqlite", conf=conf, name="hookd", port=port, opts=opts)
            else:
                s = start_webhook(folder)
            try:
                time.sleep(common.OPT.idle_wait)
                st = proc_status(s.pid)
            finally:
                s.stop()
                ctx.clean(folder)
            # RssFile: pages of the program and its libraries (shared with
            # other processes using them); RssAnon: the process's own
            rows.append(row("memory", f"{who} idle", rnd, rss_mb=st["VmRSS"],
                            rss_anon_mb=st["RssAnon"], rss_file_mb=st["RssFile"],
                            rss_peak_mb=st["VmHWM"], threads=st["Threads"]))
            ctx.progress(rows[-1])
    rows.append(backlog(ctx))
    ctx.progress(rows[-1])
    return rows


def backlog(ctx):
    """Publish until hookd holds common.OPT.backlog events for a receiver that is down
    (a subscription to a port nothing listens on), bounded in time; RSS then,
    and again after a restart on the same store (the backlog recovered)."""
    b = ctx.bodies
    folder = ctx.tmp("backlog")
    dead_port = free_port()  # nothing listens there: connections are refused
    # queue_size stays at its default (10,000): past it deliveries are
    # parked in the store, which is the behaviour this scenario measures.
    extra = 'subscriptions = { allow_targets = ["127.0.0.1/32"]; };\n'
    # synchronous = off only to fill faster: what is measured is the memory
    s = start_hookd(folder, "sqlite", handlers="none", extra=extra, sync="off")
    reached = 0.0
    state = {}
    try:
        subscribe(s.port, f"http://127.0.0.1:{dead_port}", 1)
        t0 = time.monotonic()
        th = threading.Thread(target=lambda: state.setdefault(
            "r", wrk(f"http://127.0.0.1:{s.port}/v4/events", 64, common.OPT.backlog_time,
                     b.envelope_file, on_start=lambda p: state.setdefault("p", p))), daemon=True)
        th.start()
        while th.is_alive():
            try:
                reached = metric(metrics(s.port), "hookd_events_accepted_total")
            except OSError:
                pass
            if reached >= common.OPT.backlog and "p" in state:
                state["p"].send_signal(signal.SIGINT)  # wrk stops and reports
                break
            time.sleep(0.5)
        th.join(60)
        fill_s = time.monotonic() - t0
        time.sleep(common.OPT.idle_wait)  # let the work in flight settle
        m = metrics(s.port)
        reached = metric(m, "hookd_events_accepted_total")
        queued = sum(metric(m, "hookd_queue_deliveries", state=x)
                     for x in ("ready", "scheduled", "in_flight"))
        st = proc_status(s.pid)
    finally:
        s.stop(60)
    db = sum(file_size(os.path.join(folder, f)) for f in ("hookd.db", "hookd.db-wal"))
    # the same store, hookd started again: the backlog is recovered from it
    t1 = time.monotonic()
    s = start_hookd(folder, "sqlite", handlers="none", extra=extra, conf=os.path.join(folder, "hookd.conf"),
                    port=s.port)
    try:
        def recovered():
            with open(s.logpath, "rb") as f:
                return b"recovered" in f.read()
        wait_until(recovered, 300, 0.1)
        recover_s = time.monotonic() - t1
        time.sleep(common.OPT.idle_wait)
        st2 = proc_status(s.pid)
        m = metrics(s.port)
        queued2 = sum(metric(m, "hookd_queue_deliveries", state=x)
                      for x in ("ready", "scheduled", "in_flight"))
    finally:
        s.stop(60)
        ctx.clean(folder)
    r = state.get("r", {})
    return row("memory", "hookd backlog", 0, target_events=common.OPT.backlog, events=int(reached),
               queued_in_memory=int(queued), fill_s=fill_s,
               events_per_s=reached / fill_s if fill_s else None,
               non2xx=r.get("non2xx"), rss_mb=st["VmRSS"], rss_peak_mb=st["VmHWM"],
               threads=st["Threads"], db_mb=db / 1048576.0,
               kb_rss_per_event=st["VmRSS"] * 1024.0 / reached if reached else None,
               restart_s=recover_s, rss_restart_mb=st2["VmRSS"],
               queued_after_restart=int(queued2))
