"""bench/run's options and main(): a run (the scenarios of --only, then
results.json, rounds.csv, table.md, chart.png and the TAP lines),
--profile, or --table DIR (retable)."""

import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import time

from . import common
from .build import build, deps, loadavg, machine
from .common import BENCH, BUILD, log
from .ctx import Ctx
from .profile import profile
from .proc import on_signal, stop_all
from .report import chart, summarise, table_md, targets
from .scenarios import PRODUCES, RUNNERS, SCENARIOS, unavailable


def options(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description="hookd's benchmark harness")
    ap.add_argument("--smoke", action="store_true",
                    help="every scenario once, ~1 s each, tiny counts (CI)")
    ap.add_argument("--rounds", type=int, help="rounds per scenario (default 3)")
    ap.add_argument("--duration", type=float, help="seconds of load per contender (default 10)")
    ap.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    ap.add_argument("--out", help="results folder (default bench/results/<date>, "
                                  "bench/build/smoke with --smoke)")
    ap.add_argument("--hookd-build", help="use hookd built in this folder (e.g. build)")
    ap.add_argument("--rev", help="build hookd from this git revision (e.g. HEAD) instead of "
                                  "the working tree")
    ap.add_argument("--wait-load", type=float, metavar="L",
                    help="first wait (at most --wait-max s) until the 1-minute load average is below L")
    ap.add_argument("--wait-max", type=float, default=1800, metavar="S")
    ap.add_argument("--table", metavar="DIR",
                    help="write DIR/table.md again from DIR/results.json (no run)")
    ap.add_argument("--profile", action="store_true",
                    help="profile hookd's ingest path (perf, callgrind) instead of benchmarking")
    ap.add_argument("--backlog-time", type=float, metavar="S",
                    help="the longest the backlog may take to fill (default 300 s)")
    ap.add_argument("--backlog", type=int, help="events to queue for the down receiver "
                                                "(default 1000000)")
    ap.add_argument("--scale-subs", type=int, default=10000, metavar="N",
                    help="subscriptions of the subs scenario (default 10000; 500 with --smoke)")
    o = ap.parse_args(argv)
    o.rounds = o.rounds or (1 if o.smoke else 3)
    o.duration = o.duration or (1 if o.smoke else 10)
    o.duration = max(1, int(round(o.duration)))  # wrk takes whole seconds
    o.warmup = 0 if o.smoke else 1
    o.only = [s.strip() for s in o.only.split(",")] if o.only else SCENARIOS
    for s in o.only:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    o.backlog = o.backlog or (2000 if o.smoke else 1000000)
    o.backlog_time = o.backlog_time or (10 if o.smoke else 300)
    o.drain_max = 5 if o.smoke else 60
    o.idle_wait = 0.5 if o.smoke else 2
    o.big_body = (32 if o.smoke else 256) << 20
    o.ingest_conns = [16, 64]
    o.sink_conns = 64
    o.subscriptions = 10
    o.sub_concurrency = 64
    return o


def retable(folder):
    """Judge the targets of folder's results.json again with the harness's
    targets() as it is now and write its table.md anew (the chart stays as
    it is)."""
    path = os.path.join(folder, "results.json")
    with open(path) as f:
        res = json.load(f)
    for k, v in res["meta"]["options"].items():
        if k != "table":
            setattr(common.OPT, k, v)
    res["targets"] = targets(res["summary"])
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    text = table_md(res["summary"], res["targets"], res["meta"])
    with open(os.path.join(folder, "table.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


def main(argv):
    """bench/run ARGV: its exit status. Whatever way it ends, every process
    the harness started is stopped."""
    try:
        return benchmark(argv)
    finally:
        stop_all()


def benchmark(argv):
    opt = common.OPT = options(argv)
    if opt.table:
        return retable(opt.table)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deps()
    build()
    date = datetime.date.today().isoformat()
    out = os.path.abspath(opt.out or (os.path.join(BUILD, "smoke") if opt.smoke
                                      else os.path.join(BENCH, "results", date)))
    os.makedirs(out, exist_ok=True)
    for d in os.listdir(BUILD) if os.path.isdir(BUILD) else ():
        if d.startswith("work-") and not os.path.exists(f"/proc/{d[5:]}"):
            shutil.rmtree(os.path.join(BUILD, d), ignore_errors=True)  # left by a killed run
    work = os.path.join(BUILD, f"work-{os.getpid()}")  # runs at once must not share it
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if opt.profile:
        for who, n, per in profile(out, work):
            print(f"{who}: {per:,.0f} instructions per request ({n} requests)")
        shutil.rmtree(work, ignore_errors=True)
        return 0
    ctx = Ctx(out, work)
    meta = {"date": date, "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(), "load_before": loadavg(), "smoke": opt.smoke,
            "options": {k: v for k, v in vars(opt).items()}}
    if opt.wait_load is not None:
        deadline = time.monotonic() + opt.wait_max
        while os.getloadavg()[0] >= opt.wait_load and time.monotonic() < deadline:
            log(f"load average {loadavg()}: waiting for it to fall below {opt.wait_load}")
            time.sleep(30)
        meta["load_before"] = loadavg()
    log(f"load average {meta['load_before']}; results in {out}")
    rows, tap = [], []
    t0 = time.monotonic()
    meta["load_per_scenario"] = {}
    for sc in opt.only:
        t_sc = time.monotonic()
        meta["load_per_scenario"][sc] = loadavg()
        err = None
        why = unavailable(sc)
        if why:
            log(f"{sc} skipped: {why}")
            tap.append((True, f"scenario {sc} # SKIP {why}"))
            continue
        try:
            got = RUNNERS[sc](ctx)
        except Exception as e:  # noqa: BLE001 — reported as a failed scenario
            got, err = [], f"{type(e).__name__}: {e}"
            log(f"{sc} failed: {err}")
            stop_all()
        rows += got
        key = PRODUCES[sc]
        ok = err is None and got and all(r.get("contender") for r in got) and \
            any(isinstance(r.get(key), (int, float)) for r in got) and \
            all(isinstance(r.get(key), (int, float)) for r in got if key in r)
        reason = err or ("" if ok else f"no {key}")
        tap.append((bool(ok), f"scenario {sc} produced numbers ({time.monotonic() - t_sc:.0f} s)"
                    + (f" # {reason.splitlines()[0]}" if reason else "")))
    meta["load_after"] = loadavg()
    meta["seconds"] = round(time.monotonic() - t0, 1)
    summary = summarise(rows)
    tg = targets(summary)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "targets": tg, "summary": summary, "rounds": rows}, f, indent=1)
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(os.path.join(out, "rounds.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    text = table_md(summary, tg, meta)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    png = chart(summary, out)
    shutil.rmtree(work, ignore_errors=True)
    print(text)
    print(f"results: {out} ({'chart.png' if png else 'no chart'}); {meta['seconds']} s, "
          f"load average {meta['load_before']} → {meta['load_after']}")
    print(f"1..{len(tap)}")
    for i, (ok, text_) in enumerate(tap, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {text_}")
    return 0 if all(ok for ok, _ in tap) else 1
