"""One measurement under wrk (server CPU, peak RSS, hookd's group commit),
and the rows the scenarios return."""

from . import common
from .net import metric, metrics, wrk
from .proc import cpu_seconds, proc_status, wait_until


def measure_wrk(server, url, conns, body_file, headers=(), drain_hookd=False):
    """Warm up, then wrk for the duration; server CPU and peak RSS."""
    if common.OPT.warmup > 0:
        wrk(url, conns, common.OPT.warmup, body_file, headers)
        if drain_hookd:
            hookd_idle(server.port, 10)
    m0 = metrics(server.port) if drain_hookd else None
    cpu0 = cpu_seconds(server.pid)
    r = wrk(url, conns, common.OPT.duration, body_file, headers)
    if drain_hookd:
        # the deliveries accepted in the window finish on the bill of the window
        r["queue_left"] = hookd_idle(server.port, 10)
    cpu1 = cpu_seconds(server.pid)
    if drain_hookd:
        r.update(commit_stats(m0, metrics(server.port), r["seconds"]))
    st = proc_status(server.pid)
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / r["requests"] if r["requests"] else None
    r["cpu_cores"] = (cpu1 - cpu0) / r["seconds"] if r["seconds"] else None
    r["rss_peak_mb"] = st["VmHWM"]
    r["threads"] = st["Threads"]
    return r


def wrk_round(ctx, scenario, who, server, folder, rnd, conns, url, body_file, headers=()):
    """measure_wrk of `server` (hookd's queue drained in the window when
    `who` is a hookd), then the server stopped and `folder` removed; its row."""
    try:
        r = measure_wrk(server, url, conns, body_file, headers, drain_hookd=who.startswith("hookd"))
    finally:
        server.stop()
        ctx.clean(folder)
    return row(scenario, f"{who} c{conns}", rnd, connections=conns, **wrk_fields(r))


def commit_stats(m0, m1, seconds):
    """Group commit in the window: commits/s, writes per commit, ms per commit."""
    def d(name):
        return metric(m1, name) - metric(m0, name)
    n = d("hookd_store_commit_batch_size_count")
    return {"commits_per_s": n / seconds if seconds else None,
            "writes_per_commit": d("hookd_store_commit_batch_size_sum") / n if n else None,
            "commit_ms": 1000.0 * d("hookd_store_commit_seconds_sum") / n if n else None}


def hookd_idle(port, timeout):
    """Wait until hookd's queue is empty; the deliveries still queued."""
    def left():
        m = metrics(port)
        return metric(m, "hookd_queue_deliveries", state="ready") + \
            metric(m, "hookd_queue_deliveries", state="in_flight")
    wait_until(lambda: left() == 0, timeout, 0.1)
    return left()


def row(scenario, contender, rnd, **kv):
    d = {"scenario": scenario, "contender": contender, "round": rnd}
    d.update(kv)
    return d


def wrk_fields(r):
    keys = ("rps", "requests", "seconds", "p50_us", "p99_us", "max_us", "non2xx",
            "status_errors", "socket_errors", "cpu_us_per_req", "cpu_cores", "rss_peak_mb",
            "threads", "queue_left", "commits_per_s", "writes_per_commit", "commit_ms")
    return {k: r.get(k) for k in keys if k in r}
