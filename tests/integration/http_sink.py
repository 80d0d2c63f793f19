#!/usr/bin/env python3
"""A scripted webhook receiver for test_http.py and test_subscriptions.py.

    http_sink.py --port-file FILE --log FILE.jsonl
                 [--tls-cert PEM --tls-key PEM [--client-ca PEM]]

Listens on 127.0.0.1 on a free port (written to --port-file once it
listens), speaks HTTP/1.1 with keep-alive, and records every request as one
JSON line in --log *before* answering it:

    {"n": 1, "method": "POST", "path": "/ok?x=1", "headers": [[name, value],
     ...], "body_b64": "...", "client_port": 54321, "t": 1700000000.123}

With --tls-cert it speaks HTTPS; with --client-ca too it requires a client
certificate issued by that CA (a client without one gets no further than
the handshake), and each record has "peer": the certificate's subject
common name. A proxy's request line holds the absolute URI, so "path"
shows whether a request came through a proxy ("http://host/...").
/hang requests also carry "held", see below.

Answers by path (the query is ignored):

    /ok, anything else   200 "ok"
    /status/CODE         CODE with a short body (see BODIES); 301/302/307/308
                         carry Location: http://example.invalid/moved-here,
                         429 and 503 carry Retry-After: 1
    /retry-date          429 with Retry-After as an HTTP date 3 s ahead
    /flaky/N             500 until the N-th request with the same webhook-id
                         (or path, without one), then 200
    /slow                waits 3 s, then 200
    /delay/S/CODE        waits S seconds (at most 60), then CODE (as
                         /status/CODE); a longer wait than the client's
                         timeout makes a receiver that never answers
    /drop                closes the connection without answering
    /hang                never answers: holds the request until the client
                         closes the connection (at most 60 s, then 200).
                         Its record has "held": how many /hang requests
                         the sink held when it arrived, itself included —
                         the receiver's view of the client's concurrency
    /scripted            answers as the JSON body's data.sink says (a
                         subscription's standard body): {"status": CODE}
                         (default 200) after {"hold": NAME}, which waits
                         until /release/NAME is requested (at most 30 s)
    /release/NAME        200; lets the /scripted requests holding NAME go
    /messy               500 with a long body full of control characters
    /knee/N/MS           200 after MS ms while at most N /knee requests
                         are open at once (itself included), MS ms more for
                         each one past N: a receiver that slows down under
                         load. Its record has "held": the /knee requests
                         open when it arrived, itself included

Standard library only; stopped by its PID (SIGTERM).
"""

import argparse
import base64
import email.utils
import http.server
import json
import os
import select
import socket
import ssl
import sys
import threading
import time

BODIES = {
    500: b"upstream exploded",
    503: b"maintenance",
    408: b"request timeout",
    429: b"slow down",
    410: b"subscription removed",
    404: b"no such hook",
    400: b"bad payload",
}
REDIRECTS = (301, 302, 303, 307, 308)
# Longest /hang and longest /scripted hold, in seconds.
HANG_MAX = 60.0
HOLD_MAX = 30.0
MESSY = (b"line one\r\n\tline\x01two \x1b[31mred\x1b[0m caf\xc3\xa9 \xff\xfe "
         + b"x" * 300)


class Sink(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # hookd may open hundreds of connections at once (a fan-out to
    # thousands of subscriptions): a short listen queue would reset some.
    request_queue_size = 1024

    def __init__(self, addr, log_path, tls=None):
        super().__init__(addr, Handler)
        self.log_path = log_path
        self.tls = tls  # an ssl.SSLContext, or None
        self.lock = threading.Lock()
        self.count = 0
        self.seen = {}  # flaky: key -> requests so far
        self.held = []  # /hang: the sockets of the requests held
        self.released = {}  # /scripted: hold name -> threading.Event
        self.knee_open = 0  # /knee: requests open now

    def release(self, name):
        """The event a /scripted hold on name waits for."""
        with self.lock:
            return self.released.setdefault(name, threading.Event())

    def get_request(self):
        # The handshake runs in the connection's thread (Handler.setup),
        # so a client that fails it or stalls holds up no other.
        sock, addr = super().get_request()
        if self.tls:
            sock = self.tls.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, addr


def peer_closed(sock):
    """Has the client closed (or reset) this connection? Never blocks."""
    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hookd-test-sink"

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def setup(self):
        self.peer = None
        self.refused = False
        if self.server.tls:
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.refused = True  # no (good) client certificate
            else:
                cert = self.request.getpeercert() or {}
                self.peer = next((v for rdn in cert.get("subject", ())
                                  for k, v in rdn if k == "commonName"), None)
        super().setup()

    def handle(self):
        if not self.refused:
            super().handle()

    def record(self, body, hold=False, extra=None):
        srv = self.server
        with srv.lock:
            srv.count += 1
            rec = {
                "n": srv.count,
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_b64": base64.b64encode(body).decode("ascii"),
                "client_port": self.client_address[1],
                "t": time.time(),
            }
            if srv.tls:
                rec["peer"] = self.peer
            if hold:
                # Requests whose client gave up (a timeout closes the
                # connection) no longer count. The client closed them
                # before it sent this one, so their end of file is here
                # already: the count never includes a request the client
                # had ended.
                srv.held = [c for c in srv.held if not peer_closed(c)]
                srv.held.append(self.connection)
                rec["held"] = len(srv.held)
            rec.update(extra or {})
            with open(srv.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
            return rec

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def hang(self):
        """Hold the request until the client closes the connection."""
        end = time.monotonic() + HANG_MAX
        try:
            while time.monotonic() < end:
                wait = max(0.0, min(1.0, end - time.monotonic()))
                if select.select([self.connection], [], [], wait)[0]:
                    if peer_closed(self.connection):
                        self.close_connection = True
                        return
                    break  # it sent more: answer rather than spin
            self.answer(200, b"hung")
        finally:
            with self.server.lock:
                if self.connection in self.server.held:
                    self.server.held.remove(self.connection)

    def knee(self, body, n, latency):
        """Answer after latency, more for each request open past n."""
        with self.server.lock:
            self.server.knee_open += 1
            open_now = self.server.knee_open
        try:
            self.record(body, extra={"held": open_now})
            extra = max(0, open_now - n)
            time.sleep(min(latency * (1 + extra), 10.0))
            self.answer(200, b"ok")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with self.server.lock:
                self.server.knee_open -= 1

    def scripted(self, body):
        """Answer as data.sink in the JSON body says."""
        try:
            script = json.loads(body)["data"]["sink"]
        except (ValueError, KeyError, TypeError):
            script = {}
        if "hold" in script:
            self.server.release(str(script["hold"])).wait(HOLD_MAX)
        code = int(script.get("status", 200))
        self.answer(code, BODIES.get(code, b"scripted"))

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if parts[0] == "knee" and len(parts) == 3:
            self.knee(body, int(parts[1]), float(parts[2]) / 1000.0)
            return
        self.record(body, hold=parts[0] == "hang")
        try:
            if parts[0] == "status" and len(parts) == 2:
                code = int(parts[1])
                hdrs = []
                if code in REDIRECTS:
                    hdrs.append(("Location", "http://example.invalid/moved-here"))
                if code in (429, 503):
                    hdrs.append(("Retry-After", "1"))
                self.answer(code, BODIES.get(code, b""), hdrs)
            elif parts[0] == "retry-date":
                when = email.utils.formatdate(time.time() + 3, usegmt=True)
                self.answer(429, b"come back later", [("Retry-After", when)])
            elif parts[0] == "flaky" and len(parts) == 2:
                key = self.headers.get("webhook-id") or path
                with self.server.lock:
                    k = self.server.seen.get(key, 0) + 1
                    self.server.seen[key] = k
                if k < int(parts[1]):
                    self.answer(500, b"flaky %d" % k)
                else:
                    self.answer(200, b"ok")
            elif parts[0] == "slow":
                time.sleep(3)
                self.answer(200, b"late")
            elif parts[0] == "delay" and len(parts) == 3:
                time.sleep(min(max(float(parts[1]), 0.0), 60.0))
                code = int(parts[2])
                self.answer(code, BODIES.get(code, b"late"))
            elif parts[0] == "drop":
                self.close_connection = True
            elif parts[0] == "hang":
                self.hang()
            elif parts[0] == "scripted":
                self.scripted(body)
            elif parts[0] == "release" and len(parts) == 2:
                self.server.release(parts[1]).set()
                self.answer(200, b"released")
            elif parts[0] == "messy":
                self.answer(500, MESSY)
            else:
                self.answer(200, b"ok")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    args = ap.parse_args()
    open(args.log, "a").close()
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(args.client_ca)
    srv = Sink(("127.0.0.1", 0), args.log, tls)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.1)
    finally:
        srv.server_close()


if __name__ == "__main__":
    sys.exit(main())
