"""A huge request body, with Content-Length and chunked: the answer, how
much was read before it, and the server's RSS afterwards."""

import socket
import time

from .. import common
from ..measure import row
from ..proc import proc_status
from ..servers import start_hookd, start_webhook

TITLE = "A huge request body (256 MB; 32 MB in smoke runs)"
PRODUCES = "rss_peak_mb"


def big_body(port, path, size, chunked, headers=()):
    """Send a `size`-byte body (stops when the server closes); its status."""
    c = socket.create_connection(("127.0.0.1", port), 10)
    c.settimeout(30)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {size}\r\n"
    head += "".join(h + "\r\n" for h in headers) + "\r\n"
    block = b"[" + b" " * (65536 - 1)
    sent = 0
    status = None
    try:
        c.sendall(head.encode())
        c.setblocking(False)
        while sent < size:
            piece = block if sent == 0 else b" " * 65536
            piece = piece[: size - sent]
            data = (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
            try:
                c.settimeout(30)
                c.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if status is None:
                c.setblocking(False)
                try:
                    got = c.recv(256)
                    if got:
                        status = int(got.split(b" ")[1])
                except (BlockingIOError, ValueError, IndexError):
                    pass
                except OSError:
                    break
        if chunked and sent >= size:
            try:
                c.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        if status is None:
            c.settimeout(30)
            try:
                got = c.recv(256)
                status = int(got.split(b" ")[1]) if got else None
            except (OSError, ValueError, IndexError):
                pass
    finally:
        c.close()
    return status, sent


def run(ctx):
    """256 MB body: refused at the limit, RSS of the server afterwards."""
    rows = []
    b = ctx.bodies
    size = common.OPT.big_body
    for who, chunked in (("hookd", False), ("hookd", True), ("webhook", False)):
        folder = ctx.tmp(f"body-{who}-{int(chunked)}")
        if who == "hookd":
            s = start_hookd(folder, "sqlite")
            path, hdrs = "/v4/events", ()
        else:
            s = start_webhook(folder)
            path, hdrs = "/hooks/validate", (b.envelope_sig,)
        try:
            rss0 = proc_status(s.pid)["VmRSS"]
            t0 = time.monotonic()
            status, sent = big_body(s.port, path, size, chunked, hdrs)
            secs = time.monotonic() - t0
            time.sleep(0.2)
            st = proc_status(s.pid)
        finally:
            s.stop()
            ctx.clean(folder)
        rows.append(row("body", f"{who} {'chunked' if chunked else 'content-length'}", 0,
                        body_mb=size / 1048576.0, status=status, sent_mb=sent / 1048576.0,
                        seconds=secs, rss_before_mb=rss0, rss_peak_mb=st["VmHWM"]))
        ctx.progress(rows[-1])
    return rows
