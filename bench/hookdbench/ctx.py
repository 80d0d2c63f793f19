"""What a scenario is handed: the results folder, a work folder, the
bodies to post, and a progress line per row."""

import os
import shutil

from .bodies import Bodies
from .common import log


class Ctx:
    def __init__(self, out, work):
        self.out = out
        self.work = work
        self.bodies = Bodies(work)

    def tmp(self, name):
        return os.path.join(self.work, name)

    def clean(self, folder):
        shutil.rmtree(folder, ignore_errors=True)

    def progress(self, r):
        keys = ("rps", "deliveries_per_s", "runs_per_s", "p99_us", "non2xx", "cpu_us_per_req",
                "rss_mb", "rss_peak_mb", "startup_ms", "status", "events", "executed_pct")
        bits = [f"{k}={fmt(r[k])}" for k in keys if r.get(k) is not None]
        log(f"{r['scenario']:8} {r['contender']:28} round {r['round']}: " + " ".join(bits))


def fmt(v):
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)
