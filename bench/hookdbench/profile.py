"""bench/run --profile: perf and callgrind profiles of hookd's ingest and
fan-out paths."""

import os
import re
import shutil
import subprocess
import threading
import time

from . import common
from .bodies import Bodies
from .build import PACKAGES, deps
from .common import log
from .measure import hookd_idle
from .net import metric, metrics, wrk
from .proc import Server, free_port, wait_port
from .scenarios.fanout import hookd_extra
from .servers import hookd_argv, hookd_conf, limit_argv, start_hookd, start_sink, subscribe


def profile(out, work):
    """Where hookd's ingest time goes: perf (CPU samples with call graphs) under
    wrk at 64 connections, and callgrind (instructions per request) for
    hookd with each store and for the limit. Writes profile-*.txt to `out`."""
    for tool, pkg in (("perf", "linux-perf"), ("valgrind", "valgrind")):
        if not shutil.which(tool):
            PACKAGES.append(pkg)
    deps()
    b = Bodies(work)
    for name in ("ingest-sqlite", "ingest-memory", "fanout-memory"):
        perf(out, work, b, name)
    summary = []
    for who in ("limit", "hookd-sqlite", "hookd-memory"):
        got = callgrind(out, work, b, who)
        if got:
            summary.append(got)
    with open(os.path.join(out, "profile-summary.txt"), "w") as f:
        for who, n, per in summary:
            f.write(f"{who}: {per:,.0f} instructions per request ({n} requests)\n")
    return summary


def perf(out, work, b, name):
    """perf record of hookd under wrk (`name`: ingest-STORE or fanout-STORE):
    profile-perf-NAME.txt, the CPU by object and by function."""
    folder = os.path.join(work, f"perf-{name}")
    store = name.split("-")[1]
    sink = None
    if name.startswith("fanout"):
        # 10 subscriptions to the fast sink, 16 publishers (scenario 4)
        sink = start_sink(folder)
        s = start_hookd(folder, store, handlers="none", extra=hookd_extra())
        subscribe(s.port, f"http://127.0.0.1:{sink.port}", common.OPT.subscriptions)
        conns, what = 16, "publishing at 16 connections, 10 subscriptions to the fast sink"
    else:
        s = start_hookd(folder, store)
        conns, what = 64, "POST /v4/events at 64 connections"
    data = os.path.join(folder, "perf.data")
    try:
        th = threading.Thread(target=wrk, args=(f"http://127.0.0.1:{s.port}/v4/events", conns,
                                                common.OPT.duration + 2, b.envelope_file), daemon=True)
        th.start()
        time.sleep(1)
        subprocess.run(["perf", "record", "-F", "999", "--call-graph", "dwarf,16384",
                        "-p", str(s.pid), "-o", data, "--", "sleep", str(common.OPT.duration)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        th.join()
    finally:
        s.stop()
        if sink:
            sink.stop()
    parts = []
    for title, args in (("CPU by object (self)", ["--no-children", "--sort", "dso"]),
                        ("functions, inclusive (children)", ["--children", "--sort", "sym"]),
                        ("functions, self", ["--no-children", "--sort", "dso,sym"])):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", *args],
                           capture_output=True, text=True)
        lines = [ln for ln in r.stdout.splitlines() if "%" in ln and not ln.startswith("#")]
        parts.append(f"## {title}\n\n" + "\n".join(lines[:45]))
    path = os.path.join(out, f"profile-perf-{name}.txt")
    with open(path, "w") as f:
        f.write(f"# perf record -g (dwarf) of hookd, {store} store, {what}, "
                f"{common.OPT.duration} s\n\n" + "\n\n".join(parts) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    log(f"wrote {path}")


def callgrind(out, work, b, who):
    """callgrind of `who` (limit, hookd-sqlite, hookd-memory) under wrk at 16
    connections: profile-callgrind-WHO.txt, instructions per request;
    (who, requests, instructions per request), or None."""
    folder = os.path.join(work, f"cg-{who}")
    os.makedirs(folder, exist_ok=True)
    port = free_port()
    if who == "limit":
        argv = limit_argv(port)
        url = f"http://127.0.0.1:{port}/"
    else:
        conf = os.path.join(folder, "hookd.conf")
        hookd_conf(conf, port, "memory:" if who.endswith("memory") else f"sqlite:{folder}/hookd.db")
        argv = hookd_argv(conf)
        url = f"http://127.0.0.1:{port}/v4/events"
    s = Server(who, ["valgrind", "--tool=callgrind",
                     f"--callgrind-out-file={folder}/cg.out"] + argv,
               port, os.path.join(folder, "valgrind.log"))
    try:
        wait_port(port, s, 60)
        time.sleep(1)
        subprocess.run(["callgrind_control", "-z", str(s.pid)], capture_output=True, check=True)
        a0 = metric(metrics(port), "hookd_events_accepted_total") if who != "limit" else 0
        r = wrk(url, 16, common.OPT.duration, b.envelope_file)
        if who != "limit":
            hookd_idle(port, 60)
            n = metric(metrics(port), "hookd_events_accepted_total") - a0
        else:
            n = r["requests"]
        subprocess.run(["callgrind_control", "-d", str(s.pid)], capture_output=True, check=True)
        time.sleep(1)
    finally:
        s.stop(60)
    dumps = sorted(f for f in os.listdir(folder) if f.startswith("cg.out."))
    if not dumps or not n:
        log(f"callgrind of {who} gave nothing")
        return None
    dump = os.path.join(folder, dumps[0])
    text = []
    total = None
    for incl in ("yes", "no"):
        r = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100",
                            f"--inclusive={incl}", dump], capture_output=True, text=True)
        rows_ = []
        for ln in r.stdout.splitlines():
            m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", ln)
            if not m:
                continue
            ir = int(m.group(1).replace(",", ""))
            name = m.group(2)
            if name == "PROGRAM TOTALS":
                total = ir
                continue
            fn = re.sub(r"^.*?:(?=[^:/]+ \[)", "", name)  # drop the source path
            rows_.append((ir, fn))
        text.append(f"## {'inclusive' if incl == 'yes' else 'self'}: instructions per request\n")
        text += [f"{ir / n:12,.0f}  {fn}" for ir, fn in rows_[:40]]
        text.append("")
    path = os.path.join(out, f"profile-callgrind-{who}.txt")
    with open(path, "w") as f:
        f.write(f"# callgrind, {who}: {int(n)} requests at 16 connections, "
                f"{total / n:,.0f} instructions per request (all threads)\n\n" + "\n".join(text))
    shutil.rmtree(folder, ignore_errors=True)
    log(f"wrote {path}: {total / n:,.0f} instructions per request")
    return who, int(n), total / n
