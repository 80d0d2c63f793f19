"""8. Nodes: 1, 2 and 3 hookd nodes on one PostgreSQL server that the
harness starts; skipped where PostgreSQL or a libpq build of hookd is
missing (unavailable)."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

from .. import common
from ..measure import hookd_idle, row
from ..net import metric, metrics, wrk
from ..proc import CLK_TCK, Server, cpu_seconds, free_port, stat_fields, wait_port, wait_until
from ..servers import hookd_conf, start_hookd

TITLE = "8. Nodes — 1, 2 and 3 hookd nodes on one PostgreSQL, 64 connections spread over them, no-op handler"
PRODUCES = "events_per_s"


def pg_bin():
    """PostgreSQL's bin folder (the newest installed), or None."""
    found = sorted((d for d in os.listdir("/usr/lib/postgresql")
                    if os.path.exists(f"/usr/lib/postgresql/{d}/bin/initdb")),
                   key=lambda d: [int(x) for x in re.findall(r"\d+", d)]) \
        if os.path.isdir("/usr/lib/postgresql") else []
    return f"/usr/lib/postgresql/{found[-1]}/bin" if found else None


def hookd_has_pg():
    """Was hookd built with PostgreSQL (libpq linked)?"""
    r = subprocess.run(["ldd", os.path.join(common.HOOKD_BUILD, "hookd")], capture_output=True, text=True)
    if "libpq" in r.stdout:
        return True
    libs = os.path.join(common.HOOKD_BUILD, ".libs")
    return any("libpq" in subprocess.run(["ldd", os.path.join(libs, f)], capture_output=True,
                                         text=True).stdout
               for f in (os.listdir(libs) if os.path.isdir(libs) else ()) if ".so" in f)


def unavailable():
    """Why the nodes scenario cannot run here, or None."""
    if not pg_bin():
        return "no PostgreSQL server installed (Debian package postgresql)"
    if not hookd_has_pg():
        return "hookd was built without PostgreSQL"
    return None


class Postgres:
    """A throwaway PostgreSQL server (initdb in `folder`, loopback,
    a free port, trust authentication), as scripts/dev starts one for the
    tests; run as the user postgres when root (initdb refuses root). The
    server is the harness's child, stopped by its pid."""

    def __init__(self, folder):
        self.bin = pg_bin()
        self.dir = folder
        os.makedirs(folder, exist_ok=True)
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(folder, self.user)
        self.port = free_port()
        data = os.path.join(folder, "data")
        subprocess.run([os.path.join(self.bin, "initdb"), "-D", data, "-U", "postgres",
                        "-A", "trust"], check=True, user=self.user, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT, timeout=120)
        self.server = Server("postgres", [os.path.join(self.bin, "postgres"), "-D", data,
                                          "-c", "listen_addresses=127.0.0.1",
                                          "-p", str(self.port), "-k", folder],
                             self.port, os.path.join(folder, "server.log"), user=self.user)
        wait_port(self.port, self.server, 30)
        # It listens before it accepts sessions ("the database system is
        # starting up"): wait until it does.
        ready = [os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                 str(self.port), "-t", "1"]
        if not wait_until(lambda: subprocess.run(ready, timeout=10).returncode == 0, 30, 0.1):
            raise RuntimeError("PostgreSQL did not accept sessions within 30 s: "
                               + self.server.log_tail())
        self.n = 0

    def database(self):
        """A new database: its URL."""
        self.n += 1
        name = f"hookd{self.n}"
        subprocess.run([os.path.join(self.bin, "createdb"), "-h", "127.0.0.1", "-p",
                        str(self.port), "-U", "postgres", name], check=True, timeout=60)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def cpu(self):
        """CPU seconds of the server: the postmaster, its reaped children
        and the backends running now."""
        total = cpu_seconds(self.server.pid)
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                fields = stat_fields(d)
                if int(fields[1]) == self.server.pid:
                    total += sum(int(x) for x in fields[11:13]) / CLK_TCK
            except (OSError, IndexError, ValueError):
                pass
        return total

    def stop(self):
        self.server.p.send_signal(signal.SIGINT)  # fast shutdown
        self.server.stop(30)


def run(ctx):
    """8. Several hookd nodes on one PostgreSQL: 1, 2 and 3 nodes, the load
    spread evenly over them, events routed to the no-op plugin."""
    rows = []
    b = ctx.bodies
    conns = common.OPT.ingest_conns[-1]
    # Its own folder in the system's temporary one: the user postgres
    # cannot reach into a work folder under a private parent (a checkout
    # in a mktemp -d folder, mode 0700).
    pg = Postgres(tempfile.mkdtemp(prefix="hookd-bench-pg-"))
    try:
        for rnd in range(common.OPT.rounds):
            for n in (1, 2, 3):
                url = pg.database()
                folder = ctx.tmp(f"nodes-{n}-{rnd}")
                nodes = []
                try:
                    for k in range(n):
                        f = os.path.join(folder, f"n{k}")
                        os.makedirs(f, exist_ok=True)
                        port = free_port()
                        conf = os.path.join(f, "hookd.conf")
                        hookd_conf(conf, port, url, "noop")
                        nodes.append(start_hookd(f, "pg", name=f"hookd-pg{k}", conf=conf,
                                                 port=port))
                    rows.append(nodes_round(ctx, pg, nodes, conns, rnd, b))
                finally:
                    for s in nodes:
                        s.stop()
                    ctx.clean(folder)
                ctx.progress(rows[-1])
    finally:
        pg.stop()
        ctx.clean(pg.dir)
    return rows


def nodes_round(ctx, pg, nodes, conns, rnd, b):
    """One measurement of the nodes scenario: wrk at every node at once,
    `conns` connections in all; then the drain."""
    n = len(nodes)
    per = [conns // n + (1 if k < conns % n else 0) for k in range(n)]
    if common.OPT.warmup > 0:
        parallel_wrk(nodes, per, common.OPT.warmup, b)
        for s in nodes:
            hookd_idle(s.port, 10)
    m0 = [metrics(s.port) for s in nodes]
    cpu0 = [cpu_seconds(s.pid) for s in nodes]
    pg0 = pg.cpu()
    rs = parallel_wrk(nodes, per, common.OPT.duration, b)
    left = sum(hookd_idle(s.port, 10) for s in nodes)
    cpu1 = [cpu_seconds(s.pid) for s in nodes]
    pg1 = pg.cpu()
    m1 = [metrics(s.port) for s in nodes]
    acc = sum(metric(b_, "hookd_events_accepted_total") - metric(a, "hookd_events_accepted_total")
              for a, b_ in zip(m0, m1))
    seconds = max(r["seconds"] for r in rs)
    def total(name):
        return sum(metric(b_, name) - metric(a, name) for a, b_ in zip(m0, m1))
    commits = total("hookd_store_commit_batch_size_count")
    writes = total("hookd_store_commit_batch_size_sum")
    requests = sum(r["requests"] for r in rs)
    hookd_cpu = sum(c1 - c0 for c0, c1 in zip(cpu0, cpu1))
    # Latency: the request-weighted mean of the nodes' medians, and the
    # worst node's p99 (percentiles of separate wrk runs do not add up).
    p50 = sum(r["p50_us"] * r["requests"] for r in rs) / requests if requests else None
    return row("nodes", f"{n} node{'s' if n > 1 else ''} c{conns}", rnd, nodes=n, connections=conns,
               rps=requests / seconds if seconds else 0.0, requests=requests,
               events_per_s=acc / seconds if seconds else 0.0, events=int(acc),
               p50_us=p50, p99_us=max(r["p99_us"] for r in rs),
               max_us=max(r["max_us"] for r in rs),
               non2xx=sum(r["non2xx"] for r in rs), socket_errors=sum(r["socket_errors"] for r in rs),
               cpu_us_per_req=hookd_cpu * 1e6 / acc if acc else None,
               cpu_us_per_event_node=hookd_cpu * 1e6 / acc / n if acc else None,
               pg_cpu_us_per_event=(pg1 - pg0) * 1e6 / acc if acc else None,
               cpu_cores=hookd_cpu / seconds if seconds else None,
               pg_cpu_cores=(pg1 - pg0) / seconds if seconds else None,
               commits_per_s=commits / seconds if seconds else None,
               writes_per_commit=writes / commits if commits else None,
               events_per_commit=acc / commits if commits else None,
               queue_left=left, seconds=seconds)


def parallel_wrk(nodes, per, duration, b):
    """wrk at each node at once (per[k] connections at node k); their figures."""
    out = [None] * len(nodes)
    errs = []

    def one(k):
        try:
            out[k] = wrk(f"http://127.0.0.1:{nodes[k].port}/v4/events", per[k], duration,
                         b.envelope_file)
        except Exception as e:  # noqa: BLE001 — raised below
            errs.append(e)
    ts = [threading.Thread(target=one, args=(k,)) for k in range(len(nodes))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(duration + 60)
    if errs or any(r is None for r in out):
        raise errs[0] if errs else RuntimeError("a wrk did not finish")
    return out
