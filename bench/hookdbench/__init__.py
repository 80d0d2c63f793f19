"""hookd's benchmark harness, run as bench/run (bench/README.md says what
it measures and how to read it).

    cli          options, main(): a run, --profile, --table
    common       paths, constants, this run's options and hookd build, log
    build        Debian packages, hookd and bench/*.c built, machine facts
    proc         processes started and stopped by pid, ports, /proc (CPU, RSS)
    net          HTTP, hookd's /metrics, wrk
    bodies       the event posted and its signature
    servers      the contenders: hookd, the limit, webhook; the sink
    measure      one measurement under wrk; the rows
    ctx          what a scenario is handed
    scenarios/   one module a scenario, and their registry (__init__.py)
    report       medians, targets, table.md, chart.png
    profile      --profile: perf and callgrind
"""
