"""6. Start-up: from exec to the first accepted request, hookd with
etc/hookd.conf and webhook."""

import json
import os
import socket
import time

from .. import common
from ..measure import row
from ..proc import Server, free_port, proc_status
from ..servers import example_conf, hookd_argv, webhook_argv

TITLE = "6. Start-up — exec to the first accepted request"
PRODUCES = "startup_ms"


def first_accepted(port, body, path, headers, deadline):
    """Seconds-precise polling: returns when `path` first answers 2xx."""
    req = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n" +
           "".join(h + "\r\n" for h in headers) + "\r\n").encode() + body
    while time.perf_counter() < deadline:
        try:
            c = socket.create_connection(("127.0.0.1", port), 1)
        except OSError:
            time.sleep(0.0005)
            continue
        try:
            c.sendall(req)
            status = c.recv(64).split(b" ")[1]
        except (OSError, IndexError):
            status = b"000"
        finally:
            c.close()
        if status.startswith(b"2"):
            return time.perf_counter()
        time.sleep(0.0005)
    return None


def run(ctx):
    """6. Time from exec to the first accepted request (2xx)."""
    rows = []
    b = ctx.bodies
    body = json.dumps({"type": "deploy.requested", "data": {"ref": "main"}}).encode()
    for rnd in range(common.OPT.rounds):
        for who in ("webhook", "hookd"):
            folder = ctx.tmp(f"startup-{who}-{rnd}")
            os.makedirs(folder, exist_ok=True)
            port = free_port()
            if who == "hookd":
                conf, opts = example_conf(folder, port)
                argv = hookd_argv(conf, opts)
                path, hdrs, payload = "/v4/events", [], body
            else:
                argv = webhook_argv(folder, port)
                path, hdrs, payload = "/hooks/validate", [b.envelope_sig], b.envelope
            s = Server(who, argv, port, os.path.join(folder, f"{who}.log"))
            try:
                t = first_accepted(port, payload, path, hdrs, s.t_spawn + 10)
                st = proc_status(s.pid)
            finally:
                s.stop()
                ctx.clean(folder)
            rows.append(row("startup", who, rnd,
                            startup_ms=(t - s.t_spawn) * 1000 if t else None,
                            rss_peak_mb=st["VmHWM"]))
            ctx.progress(rows[-1])
    return rows
