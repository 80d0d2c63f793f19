"""From the rows to what a run reports: medians (summarise), the targets
of issue 8 with the reason of each miss, table.md and chart.png."""

import os
import shutil
import statistics
import subprocess

from . import common
from .common import log
from .scenarios import SCENARIOS, TITLES


def summarise(rows):
    """Per (scenario, contender): median, min, max of every number."""
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["contender"]), []).append(r)
    out = []
    for (sc, who), rs in groups.items():
        s = {"scenario": sc, "contender": who, "rounds": len(rs)}
        keys = {k for r in rs for k, v in r.items() if isinstance(v, (int, float)) and k != "round"}
        for k in sorted(keys):
            vals = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
            if vals:
                s[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
        out.append(s)
    return out


def med(summary, sc, who, key):
    for s in summary:
        if s["scenario"] == sc and s["contender"] == who and key in s:
            return s[key]["median"]
    return None


def worst(summary, sc, who, key):
    for s in summary:
        if s["scenario"] == sc and s["contender"] == who and key in s:
            return s[key]["max"]
    return None


# Where docs/performance.md analyses a miss and says what it needs.
NEEDS = "docs/performance.md, What the misses need"


def num(v, digits=0):
    """v for a reason's text: with thousands separators, "?" when not measured."""
    return "?" if v is None else f"{v:,.{digits}f}"


def targets(summary):
    """Each target of issue 8: (name, required, measured text, met or None,
    and for a miss why, from this run's own figures, and what it needs)."""
    t = []
    c = common.OPT.ingest_conns[-1]

    def ratio(a, b):
        return a / b if a is not None and b else None

    def add(name, need, value, ok, unit="", why="", needs=""):
        text = "—" if value is None else (f"{value:.2f}{unit}" if isinstance(value, float) else f"{value}{unit}")
        met = None if value is None else bool(ok)
        t.append({"target": name, "required": need, "measured": text, "met": met,
                  "why": f"{why}; needs: {needs} ({NEEDS})" if met is False and why else ""})

    def ingest_why(store, conns, peer="limit"):
        who = f"hookd-{store} c{conns}"
        why = (f"CPU {num(med(summary, 'ingest', who, 'cpu_us_per_req'))} µs/event against "
               f"{peer}'s {num(med(summary, 'ingest', f'{peer} c{conns}', 'cpu_us_per_req'))} µs/request")
        if store == "sqlite":
            why += (f"; the writer {num(med(summary, 'ingest', who, 'commit_ms'), 2)} ms/commit for "
                    f"{num(med(summary, 'ingest', who, 'writes_per_commit'), 1)} writes")
        return why

    ingest_needs = ("less CPU per event in the HTTP threads and the writer "
                    "(items 1-2), or answering from the writer (a libmicrohttpd newer than 0.9.75)")
    for conns in common.OPT.ingest_conns:
        sq = med(summary, "ingest", f"hookd-sqlite c{conns}", "rps")
        mm = med(summary, "ingest", f"hookd-memory c{conns}", "rps")
        lim = med(summary, "ingest", f"limit c{conns}", "rps")
        peer = med(summary, "ingest", f"webhook c{conns}", "rps")
        r = ratio(sq, lim)
        add(f"ingest sqlite / limit, c{conns}", "≥ 0.30", r, r is not None and r >= 0.30, "×",
            ingest_why("sqlite", conns), ingest_needs)
        r = ratio(sq, peer)
        add(f"ingest sqlite / webhook validate-only, c{conns}", "≥ 1.0", r, r is not None and r >= 1.0, "×",
            ingest_why("sqlite", conns, "webhook"), ingest_needs)
        r = ratio(mm, lim)
        add(f"ingest memory / limit, c{conns}", "≥ 0.40", r, r is not None and r >= 0.40, "×",
            ingest_why("memory", conns), ingest_needs + "; a memory store that is not SQLite (item 3)")
    p99 = med(summary, "ingest", f"hookd-sqlite c{c}", "p99_us")
    rps = med(summary, "ingest", f"hookd-sqlite c{c}", "rps")
    add(f"ingest sqlite p99, c{c}", "≤ 5 ms", None if p99 is None else p99 / 1000.0,
        p99 is not None and p99 <= 5000, " ms",
        f"{c} connections at {num(rps)} req/s wait {num(c / rps * 1000 if rps else None, 1)} ms "
        f"on average (Little's law): a p99 of 5 ms needs more than {num(c / 0.005)} req/s",
        ingest_needs)
    bad = [worst(summary, "ingest", f"hookd-sqlite c{n}", "non2xx") for n in common.OPT.ingest_conns]
    bad = [x for x in bad if x is not None]
    add("ingest sqlite non-2xx (worst round)", "0", int(max(bad)) if bad else None,
        bad and max(bad) == 0)
    sig = med(summary, "signed", f"hookd-sqlite c{c}", "rps")
    r = ratio(sig, med(summary, "signed", f"webhook c{c}", "rps"))
    add(f"signed ingest hookd / webhook, c{c} (no target; for reference)", "—", r, True, "×")
    lo = None
    for s in summary:
        if s["scenario"] == "exec" and s["contender"] == "hookd-sqlite" and "executed_pct" in s:
            lo = s["executed_pct"]["min"]
    add("exec: acknowledged events executed (worst round)", "100 %", lo,
        lo is not None and lo >= 99.999, " %")
    runs = med(summary, "exec", "hookd-sqlite", "runs_per_s")
    per_run = med(summary, "exec", "hookd-sqlite", "cpu_us_per_run")
    add("exec: completed runs/s sustained", "≥ 1,500", runs, runs is not None and runs >= 1500, "/s",
        f"CPU {num(per_run)} µs per run (hookd and the program it runs) × {num(runs)} runs/s = "
        f"{num(per_run * runs / 1e6 if per_run and runs else None, 2)} of 2 cores; the memory store ran "
        f"{num(med(summary, 'exec', 'hookd-memory', 'runs_per_s'))}/s",
        "less CPU per run beside the program's own start-up (item 4)")
    hr = med(summary, "exec", "hookd-sqlite", "rss_peak_mb")
    wr = med(summary, "exec", "webhook", "rss_peak_mb")
    r = ratio(hr, wr)
    add("exec: peak RSS hookd / webhook", "≤ 0.10", r, r is not None and r <= 0.10, "×")
    lim = med(summary, "fanout", f"wrk -> sink c{common.OPT.sink_conns}", "deliveries_per_s")
    for store in ("sqlite", "memory"):
        fo = med(summary, "fanout", f"hookd-{store} -> fast sink", "deliveries_per_s")
        r = ratio(fo, lim)
        add(f"fan-out, fast receiver, {store} store: deliveries/s / wrk on the sink", "≥ 0.5", r,
            r is not None and r >= 0.5, "×",
            f"CPU {num(med(summary, 'fanout', f'hookd-{store} -> fast sink', 'cpu_us_per_delivery'))} µs "
            f"per delivery (a signed HTTP request through curl, its attempt recorded) at "
            f"{num(fo)} deliveries/s against wrk's {num(lim)} requests/s",
            "less CPU per delivery: requests and their results batched (item 5)")
    for store in ("sqlite", "memory"):
        who = f"hookd-{store} -> slow sink"
        slow = med(summary, "fanout", who, "deliveries_per_s")
        add(f"fan-out, 100 ms receiver, {store} store: deliveries/s", "≥ 2,000", slow,
            slow is not None and slow >= 2000, "/s")
        thr = med(summary, "fanout", who, "threads")
        infl = med(summary, "fanout", who, "in_flight_est")
        if thr is not None and infl is not None:
            add(f"fan-out, 100 ms receiver, {store} store: threads (vs requests in flight)",
                f"< in flight ({infl:.0f})", int(thr), thr < infl)
    idle = med(summary, "memory", "hookd idle", "rss_mb")
    add("RSS idle (example config)", "≤ 8 MB", idle, idle is not None and idle <= 8, " MB",
        f"{num(med(summary, 'memory', 'hookd idle', 'rss_anon_mb'), 1)} MB of it hookd's own, "
        f"{num(med(summary, 'memory', 'hookd idle', 'rss_file_mb'), 1)} MB pages of shared libraries "
        "(libcrypto through curl_global_init, which the plugin ABI promises)",
        "libcurl initialised lazily, a change of the plugin ABI (item 6)")
    bl = None
    for s in summary:
        if s["contender"] == "hookd backlog":
            bl = s
    if bl:
        ev = bl["events"]["median"]
        short = "" if ev >= common.OPT.backlog else \
            f" — {common.OPT.backlog:,} not reached in {common.OPT.backlog_time:.0f} s"
        rss = bl["rss_mb"]["median"]
        add(f"RSS with a backlog of {int(ev):,} events{short}", f"≤ 64 MB at {common.OPT.backlog:,}", rss,
            rss <= 64 and ev >= common.OPT.backlog, " MB",
            f"the backlog filled at {num(bl.get('events_per_s', {}).get('median'))} events/s" if short else "",
            "a longer --backlog-time (item 7)")
        if "rss_restart_mb" in bl:
            rss = bl["rss_restart_mb"]["median"]
            add("RSS after a restart with that backlog in the store", f"≤ 64 MB at {common.OPT.backlog:,}",
                rss, rss <= 64 and ev >= common.OPT.backlog, " MB")
    st = med(summary, "startup", "hookd", "startup_ms")
    add("start-up to first accepted request", "≤ 100 ms", st, st is not None and st <= 100, " ms")
    for who in ("hookd content-length", "hookd chunked"):
        rss = med(summary, "body", who, "rss_peak_mb")
        code = med(summary, "body", who, "status")
        add(f"{common.OPT.big_body >> 20} MB body ({who.split()[1]}): {code if code else 'no'} answer, peak RSS",
            "413, < 16 MB", rss, rss is not None and rss < 16 and code == 413, " MB")
    return t


COLUMNS = [("rps", "req/s", 0), ("deliveries_per_s", "deliveries/s", 0),
           ("runs_per_s", "runs/s", 0), ("executed_pct", "executed %", 1),
           ("drain_s", "drain s", 2), ("backlog_at_stop", "backlog at stop", 0),
           ("drain_deliveries_per_s", "drain deliveries/s", 0), ("p50_us", "p50 ms", -3), ("p99_us", "p99 ms", -3),
           ("max_us", "max ms", -3), ("non2xx", "non-2xx", 0),
           ("socket_errors", "sock err", 0),
           ("cpu_us_per_req", "CPU µs/req", 1), ("cpu_cores", "CPU cores", 2),
           ("cpu_us_per_event_node", "hookd CPU µs/event per node", 1),
           ("pg_cpu_us_per_event", "PostgreSQL CPU µs/event", 1), ("pg_cpu_cores", "PostgreSQL CPU cores", 2),
           ("commits_per_s", "commits/s", 0), ("writes_per_commit", "writes/commit", 1),
           ("commit_ms", "ms/commit", 2), ("events_per_commit", "events/commit", 1),
           ("cpu_us_per_run", "CPU µs/run", 0),
           ("cpu_us_per_delivery", "CPU µs/delivery", 1),
           ("rss_mb", "RSS MB", 1), ("rss_anon_mb", "of it anon MB", 1),
           ("rss_file_mb", "of it files MB", 1),
           ("rss_peak_mb", "peak RSS MB", 1), ("threads", "threads", 0),
           ("events", "events", 0), ("queued_in_memory", "queued", 0),
           ("events_per_s", "events/s", 0), ("db_mb", "db MB", 0),
           ("kb_rss_per_event", "RSS KB/event", 2), ("fill_s", "fill s", 0),
           ("rss_restart_mb", "RSS after restart MB", 1), ("queued_after_restart", "queued after restart", 0),
           ("restart_s", "restart s", 1),
           ("startup_ms", "start-up ms", 1),
           ("subs", "subscriptions", 0), ("create_per_s", "created/s (keep-alive)", 0),
           ("fanout_s", "one event to all s", 2), ("rss_idle_mb", "RSS idle MB", 1),
           ("threads_idle", "threads idle", 0), ("page_us", "a page of the list ms", -3), ("status", "status", 0), ("sent_mb", "sent MB", 0),
           ("seconds", "s", 1)]


def cell(stat, digits, many):
    def f(v):
        if digits < 0:
            return f"{v / 1000.0:.2f}"
        if digits == 0:
            return f"{v:,.0f}"
        return f"{v:,.{digits}f}"
    if many and stat["min"] != stat["max"]:
        return f"{f(stat['median'])} ({f(stat['min'])}–{f(stat['max'])})"
    return f(stat["median"])


def table_md(summary, tg, meta):
    lines = [f"# hookd benchmark — {meta['date']}", ""]
    lines.append(f"{meta['machine']['cpu']} × {meta['machine']['cores']} cores, "
                 f"kernel {meta['machine']['kernel']}, load average before/after: "
                 f"{meta['load_before']} / {meta['load_after']}; "
                 f"{common.OPT.rounds} round(s) × {common.OPT.duration} s per contender, medians "
                 f"(min–max){' — SMOKE RUN, figures meaningless' if common.OPT.smoke else ''}.")
    pk = meta["machine"]["packages"]
    lines.append("")
    lines.append(f"hookd {meta['machine']['hookd_commit']} (built in {meta['machine']['hookd_build']}); "
                 f"libmicrohttpd {pk.get('libmicrohttpd12')}, SQLite {pk.get('libsqlite3-0')}, "
                 f"jansson {pk.get('libjansson4')}, webhook {pk.get('webhook')}, wrk {pk.get('wrk')}; "
                 f"{meta['machine']['os']}, {meta['machine']['mem_mb']:,} MB RAM.")
    lines += ["", "## Ratios and targets (issue 8)", "",
              "| target | required | measured | met | why not (this run's figures), and what it needs |",
              "|---|---|---|---|---|"]
    for x in tg:
        mark = "—" if x["met"] is None else ("✓" if x["met"] else "✗")
        lines.append(f"| {x['target']} | {x['required']} | {x['measured']} | {mark} | {x.get('why', '')} |")
    for sc in SCENARIOS:
        rs = [s for s in summary if s["scenario"] == sc]
        if not rs:
            continue
        cols = [(k, h, d) for k, h, d in COLUMNS if any(k in s for s in rs)]
        lines += ["", f"## {TITLES[sc]}", "",
                  "| contender | " + " | ".join(h for _, h, _ in cols) + " |",
                  "|---" * (len(cols) + 1) + "|"]
        for s in rs:
            cells = [cell(s[k], d, s["rounds"] > 1) if k in s else "" for k, _, d in cols]
            lines.append(f"| {s['contender']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(summary, out):
    """chart.png: requests/s of ingest and signed ingest, deliveries/s and
    runs/s, medians with min–max bars (gnuplot)."""
    if not shutil.which("gnuplot"):
        return None
    panels = [("ingest", "rps", "Ingest (req/s)"), ("signed", "rps", "Signed ingest (req/s)"),
              ("exec", "runs_per_s", "Exec (completed runs/s)"),
              ("fanout", "deliveries_per_s", "Fan-out (deliveries/s)")]
    panels = [p for p in panels if any(s["scenario"] == p[0] and p[1] in s for s in summary)]
    if not panels:
        return None
    cols = 2 if len(panels) > 1 else 1
    rows_ = (len(panels) + 1) // 2
    script = [("set terminal pngcairo size %d,%d font 'sans,10'" if gp_has("pngcairo")
               else "set terminal png size %d,%d") % (700 * cols, 450 * rows_),
              f"set output '{os.path.join(out, 'chart.png')}'",
              f"set multiplot layout {rows_},{cols} title 'hookd benchmark (median, min–max)'",
              "set style data histograms", "set style histogram errorbars gap 1 lw 1",
              "set style fill solid 0.6 border -1", "set boxwidth 0.8", "set grid ytics",
              "set yrange [0:*]", "set xtics rotate by -25 noenhanced", "unset key"]
    for sc, key, title in panels:
        rs = [s for s in summary if s["scenario"] == sc and key in s]
        path = os.path.join(out, f"chart-{sc}.dat")
        with open(path, "w") as f:
            for s in rs:
                v = s[key]
                f.write(f"\"{s['contender']}\" {v['median']:.1f} {v['min']:.1f} {v['max']:.1f}\n")
        script.append(f"set title '{title}'")
        script.append(f"plot '{path}' using 2:3:4:xtic(1) lc rgb '#4a7ab5', "
                      f"'' using ($0):4:(sprintf('%.0f', $2)) with labels offset 0,0.8 "
                      "font ',9'")
    script.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
    for sc, _, _ in panels:
        try:
            os.remove(os.path.join(out, f"chart-{sc}.dat"))
        except OSError:
            pass
    if r.returncode != 0:
        log("gnuplot failed: " + r.stderr.strip())
        return None
    return os.path.join(out, "chart.png")


def gp_has(term):
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return term in (r.stdout + r.stderr)
