"""HTTP to the servers, hookd's /metrics, and wrk (the load generator,
with post.lua)."""

import json
import re
import subprocess
import urllib.error
import urllib.request

from .common import LUA
from .proc import STARTED


def http(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metrics(port):
    """hookd's /metrics as {name{labels}: value}."""
    _, text = http("GET", f"http://127.0.0.1:{port}/metrics")
    out = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def metric(m, name, **labels):
    """Sum of a family's samples whose labels include `labels`."""
    total = 0.0
    for k, v in m.items():
        base, _, lab = k.partition("{")
        if base != name:
            continue
        if all(f'{a}="{b}"' in lab for a, b in labels.items()):
            total += v
    return total


def wrk(url, conns, duration, body_file, headers=(), on_start=None):
    """Run wrk for `duration` s; its figures (from post.lua's done())."""
    argv = ["wrk", "-t", str(min(2, conns)), "-c", str(conns), "-d", f"{max(1, round(duration))}s",
            "--latency", "--timeout", "5s", "-s", LUA, url, "--", body_file, *headers]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    STARTED.append(p)
    if on_start:
        on_start(p)
    try:
        out, _ = p.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    if p in STARTED:
        STARTED.remove(p)
    text = out.decode(errors="replace")
    m = re.search(r"^BENCH (\{.*\})", text, re.M)
    if not m:
        raise RuntimeError("wrk gave no figures:\n" + text)
    r = json.loads(m.group(1))
    # wrk's own line, as a cross-check of status_errors
    n = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(n.group(1)) if n else 0
    r["socket_errors"] = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    r["seconds"] = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / r["seconds"] if r["seconds"] > 0 else 0.0
    return r
