#!/usr/bin/env python3
"""Security properties of the API, black box (docs/security.md, "Threat
model"): API input is data, never configuration — a subscription's header
values of `env:NAME` or `file:PATH` are sent literally on every delivery,
on /test, after PATCH and after a restart, and no answer tells whether the
variable or file exists; an open hookd (no API keys) cannot be driven by a
web page: it refuses to listen beyond loopback unless told, state-changing
calls need JSON or a key, and only Host names no page can rebind are
served; /metrics can require a key; hostile and broken HTTP clients
(trickled headers and bodies, an EOF before the body is complete, TLS or
binary on the plain port, NUL bytes, too many connections from one
address) are answered 4xx or cut off within request_timeout while
/healthz from another address keeps answering; the descriptor limit is
raised and checked at start."""

import base64
import hashlib
import hmac
import json
import os
import re
import resource
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import hookdtest as h
from hookdtest import Daemon, assert_error, q, run_hookd, test

from receivers import Sink

API = "/v4/webhook-subscriptions"

# What hookd's environment and a file next to it hold: neither may ever
# reach a receiver or an answer.
CANARY_ENV = "HOOKD_TEST_CANARY"
CANARY_ENV_VALUE = "canary-env-4f1c9e"
CANARY_FILE_VALUE = "canary-file-8b2d71"


def sub_conf(db="hookd.db"):
    """Loopback listener, subscriptions allowed to reach loopback receivers,
    an SQLite file in the test's folder."""
    return (h.server_block()
            + 'subscriptions = { allow_targets = ["127.0.0.1/32"]; };\n'
            + "storage = { url = %s; };\n"
            % q("sqlite:" + os.path.join(h.tmpdir(), db)))


def no_canary(text, what):
    for c in (CANARY_ENV_VALUE, CANARY_FILE_VALUE):
        assert c not in text, "%s holds %r: %s" % (what, c, text)


@test("subscription headers are literal: env:/file: values (existing or "
      "not) are stored, shown and delivered as sent, on deliveries, /test, "
      "after PATCH and after a restart; no answer tells whether the "
      "variable or file exists", timeout=60)
def headers_are_literal():
    secret_file = os.path.join(h.tmpdir(), "stripe.secret")
    with open(secret_file, "w", encoding="utf-8") as f:
        f.write(CANARY_FILE_VALUE + "\n")
    headers = {
        "X-A": "env:" + CANARY_ENV,
        "X-B": "file:" + secret_file,
        "X-C": "file:/nonexistent/hookd/secret",
        "X-D": "env:HOOKD_TEST_NO_SUCH_VARIABLE",
        "X-E": "env:",
        "X-F": "file:",
    }
    env = {CANARY_ENV: CANARY_ENV_VALUE,
           "HOOKD_TEST_NO_SUCH_VARIABLE": None}

    def check_delivered(rec, want):
        for name, value in want.items():
            got = rec["hdr"].get(name.lower())
            assert got == value, "%s: sent %r, want %r" % (name, got, value)
        no_canary(json.dumps(rec["headers"]), "the delivered headers")

    with Sink("leak") as s:
        with Daemon(sub_conf(), env=env) as d:
            r = d.post(API, {"webhookUrl": s.url("/x"), "events": ["*"],
                             "headers": headers})
            # A file or variable that exists and one that does not are
            # answered alike: created, nothing resolved.
            assert r.status == 201, r
            sid = r.body["id"]
            no_canary(json.dumps(r.body), "the 201 answer")
            got = d.get(API + "/" + sid)
            assert got.status == 200, got
            assert got.body["headers"] == headers, got.body
            no_canary(json.dumps(got.body), "GET")

            d.publish({"type": "order.created", "data": {"n": 1}})
            check_delivered(s.wait_requests("/x", 1)[0], headers)

            t = d.post(API + "/" + sid + "/test")
            assert t.status == 200 and t.body["success"], t
            no_canary(json.dumps(t.body), "the /test answer")
            check_delivered(s.wait_requests("/x", 2)[1], headers)

            patched = dict(headers, **{"X-G": "file:" + secret_file,
                                       "X-A": "env:" + CANARY_ENV})
            p = d.request("PATCH", API + "/" + sid, {"headers": patched})
            assert p.status == 200, p
            no_canary(json.dumps(p.body), "the PATCH answer")
            d.publish({"type": "order.created", "data": {"n": 2}})
            check_delivered(s.wait_requests("/x", 3)[2], patched)
            log = d.log_text()
        no_canary(log, "hookd's log")

        # Reloaded from the store: still literal.
        with Daemon(sub_conf(), env=env) as d:
            d.publish({"type": "order.created", "data": {"n": 3}})
            check_delivered(s.wait_requests("/x", 4)[3], patched)

        # Each subscription whose headers name a file or variable that does
        # not exist is accepted like one that does.
        with Daemon(sub_conf("other.db"), env=env) as d:
            for value in ("env:" + CANARY_ENV,
                          "env:HOOKD_TEST_NO_SUCH_VARIABLE",
                          "file:" + secret_file,
                          "file:/nonexistent/hookd/secret",
                          "file:/proc/self/environ", "file:/etc/shadow"):
                r = d.post(API, {"webhookUrl": s.url("/y"), "events": ["*"],
                                 "headers": {"X-Probe": value}})
                assert r.status == 201, (value, r)
                no_canary(json.dumps(r.body), "the 201 answer")


# ------------------------------------------------------ open by default --

KEY = "security-test-key-0123456789"
METRICS_KEY = "metrics-scrape-key-0123456789"


def check_config(text):
    path = os.path.join(h.tmpdir(), "check.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path, run_hookd(["--check-config", "-c", path,
                            "--plugin-dir", h.PLUGIN_DIR])


@test("no API keys on a non-loopback listen address: --check-config and "
      "the daemon refuse it with file:line, unless allow_open_api = true; "
      "loopback, keys, or the explicit key are accepted", timeout=30)
def open_beyond_loopback():
    for listen, line in (("0.0.0.0:0", 1), (":0", 1), ("[::]:0", 1),
                         ("192.0.2.1:0", 1), ("example.internal:0", 1)):
        path, r = check_config('server = { listen = %s; };\n' % q(listen))
        assert r.returncode != 0, (listen, r)
        want = "%s:%d: listen" % (path, line)
        assert want in r.stderr and "api_keys is empty" in r.stderr and \
            "allow_open_api" in r.stderr, (listen, r.stderr)
    # The daemon itself refuses to start.
    path, _ = check_config('server = { listen = "0.0.0.0:0"; };\n')
    r = run_hookd(["-c", path, "--plugin-dir", h.PLUGIN_DIR,
                   "--storage", "memory:"])
    assert r.returncode != 0 and "api_keys is empty" in r.stderr, r
    for text in ('server = { listen = "127.0.0.1:0"; };\n',
                 'server = { listen = "127.0.0.9:0"; };\n',
                 'server = { listen = "[::1]:0"; };\n',
                 'server = { listen = "localhost:0"; };\n',
                 'server = { listen = "0.0.0.0:0"; api_keys = [%s]; };\n'
                 % q(KEY),
                 'server = { listen = "0.0.0.0:0"; allow_open_api = true; };\n',
                 ""):
        path, r = check_config(text)
        assert r.returncode == 0, (text, r.stderr)
    path, r = check_config('server = { listen = "0.0.0.0:0"; '
                           'allow_open_api = "yes"; };\n')
    assert r.returncode != 0 and \
        "allow_open_api must be true or false" in r.stderr, r.stderr


@test("without keys, a state-changing /v4 call needs Content-Type: "
      "application/json, body or not (415 naming it otherwise: text/plain, "
      "a form, none); with keys the key header suffices; GET needs "
      "nothing", timeout=30)
def state_changes_need_json():
    with Daemon(sub_conf()) as d:
        sub = d.post("/v4/webhook-subscriptions",
                     {"webhookUrl": "http://127.0.0.1:9/x", "events": ["*"]})
        assert sub.status == 201, sub
        sid = sub.body["id"]
        for ctype in (None, "text/plain", "application/x-www-form-urlencoded",
                      "multipart/form-data; boundary=x", "application/jsonx"):
            hdrs = {"Content-Type": ctype} if ctype else {"Content-Type": ""}
            for method, path, body in (
                    ("POST", "/v4/deliveries/retry", None),
                    ("POST", "/v4/deliveries/retry", "{}"),
                    ("POST", "/v4/deliveries/dlv_x/retry", None),
                    ("POST", "/v4/webhook-subscriptions/%s/test" % sid, None),
                    ("DELETE", "/v4/webhook-subscriptions/" + sid, None),
                    ("PATCH", "/v4/webhook-subscriptions/" + sid,
                     '{"enabled":false}')):
                r = d.request(method, path, body, headers=hdrs)
                assert_error(r, 415, "unsupported_media_type")
                assert "application/json" in r.body["message"], r.body
        # Nothing changed.
        assert d.get("/v4/webhook-subscriptions/" + sid).body["enabled"]
        assert d.request("POST", "/v4/deliveries/retry", None, headers={
            "Content-Type": "application/json; charset=utf-8"}).status == 202
        assert d.get("/v4/deliveries").status == 200
        r = d.request("DELETE", "/v4/webhook-subscriptions/" + sid)
        assert r.status in (200, 204), r
    with Daemon(h.conf(api_keys=[KEY])) as d:
        r = d.request("POST", "/v4/deliveries/retry", None,
                      headers={"x-api-key": KEY, "Content-Type": ""})
        assert r.status == 202, r
        r = d.request("POST", "/v4/deliveries/retry", None,
                      headers={"Authorization": "Bearer " + KEY,
                               "Content-Type": "text/plain"})
        assert r.status == 202, r
        assert_error(d.request("POST", "/v4/deliveries/retry", None,
                               headers={"Content-Type": "text/plain"}),
                     401, "unauthorized")


@test("without keys only Host names no page can rebind are served on /v4 "
      "and /metrics (IP literals, localhost, *.localhost, "
      "server.allowed_hosts, any case, port or not): others get 421 "
      "misdirected_request; /healthz and /hooks are not affected; with "
      "keys any Host", timeout=30)
def host_names():
    good = ["127.0.0.1", "127.0.0.1:1", "localhost", "LOCALHOST:8080",
            "localhost.", "app.localhost:3000", "[::1]:8080", "[::1]",
            "10.1.2.3:80", "hooks.example.com", "Hooks.Example.COM:443"]
    bad = ["evil.example", "evil.example:8080", "127.0.0.1.nip.io",
           "localhost.evil.example", "example.com", "hooks.example.com.evil",
           "[::1", "[not-an-ip]:80", ":8080", ""]
    conf = h.conf(allowed_hosts=["hooks.example.com"])
    with Daemon(conf) as d:
        for host in good:
            for path in ("/v4/events", "/metrics"):
                r = d.get(path, headers={"Host": host})
                assert r.status == 200, (host, path, r)
        for host in bad:
            for path in ("/v4/events", "/metrics",
                         "/v4/webhook-subscriptions"):
                r = d.get(path, headers={"Host": host})
                assert_error(r, 421, "misdirected_request")
                assert "allowed_hosts" in r.body["message"], r.body
            r = d.request("POST", "/v4/events", {"type": "x", "data": {}},
                          headers={"Host": host})
            assert_error(r, 421, "misdirected_request")
            assert d.get("/healthz", headers={"Host": host}).status == 200
        assert d.get("/v4/events").status == 200
    with Daemon(h.conf(api_keys=[KEY])) as d:
        r = d.get("/v4/events", headers={"Host": "evil.example",
                                         "x-api-key": KEY})
        assert r.status == 200, r
        assert_error(d.get("/v4/events", headers={"Host": "evil.example"}),
                     401, "unauthorized")
    path, r = check_config('server = { allowed_hosts = ["http://x.example"]; };\n')
    assert r.returncode != 0 and "%s:1: allowed_hosts[0]" % path in r.stderr, \
        r.stderr


@test("/metrics: open by default; with server.metrics_key it needs that key "
      "or an API key (x-api-key or Bearer), 401 otherwise", timeout=30)
def metrics_key():
    with Daemon(h.conf()) as d:
        assert d.get("/metrics").status == 200
    with Daemon(h.conf(api_keys=[KEY], metrics_key=METRICS_KEY)) as d:
        assert_error(d.get("/metrics"), 401, "unauthorized")
        assert_error(d.get("/metrics", headers={"x-api-key": "wrong-key-0123456789"}),
                     401, "unauthorized")
        for hdrs in ({"x-api-key": METRICS_KEY},
                     {"Authorization": "Bearer " + METRICS_KEY},
                     {"x-api-key": KEY}):
            r = d.get("/metrics", headers=hdrs)
            assert r.status == 200 and b"hookd_dead_letters" in r.raw, r
        # The metrics key is not an API key.
        assert_error(d.get("/v4/events", headers={"x-api-key": METRICS_KEY}),
                     401, "unauthorized")
        assert d.get("/healthz").status == 200
    with Daemon(h.conf(metrics_key=METRICS_KEY)) as d:
        assert_error(d.get("/metrics"), 401, "unauthorized")
        assert d.get("/metrics", headers={"x-api-key": METRICS_KEY}).status \
            == 200
    path, r = check_config('server = { metrics_key = "short"; };\n')
    assert r.returncode != 0 and "metrics_key must be at least 16" in r.stderr, \
        r.stderr


# ------------------------------------------------ hostile HTTP clients --

REQUEST_TIMEOUT = 2   # server.request_timeout of these tests
SLACK = 3.0           # seconds past it a cut-off may take (sweeps, load)
OTHER = "127.0.0.2"   # another client address, on loopback


def connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def healthz_from_other(port, timeout=10.0):
    """GET /healthz from another address on a fresh connection: status."""
    s = connect(port, OTHER)
    s.settimeout(timeout)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1]) if data else None
    finally:
        s.close()


def answer(s, timeout=5.0):
    """What the server sends before it closes s (bounded), and whether it
    closed: (bytes, closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def json_answer(data):
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


class Trickler(threading.Thread):
    """Sends data one byte every `every` seconds until the server closes
    the connection (or `limit` seconds pass); `took` is then the seconds
    from the first byte to the close, None when it never closed."""

    def __init__(self, port, data, every=0.4, limit=20.0, head=b""):
        super().__init__(daemon=True)
        self.s = connect(port)
        self.data, self.every, self.limit, self.head = data, every, limit, head
        self.took = None

    def run(self):
        t0 = time.monotonic()
        try:
            if self.head:
                self.s.sendall(self.head)
            for i in range(len(self.data)):
                if time.monotonic() - t0 > self.limit:
                    return
                self.s.sendall(self.data[i:i + 1])
                r, _, _ = select.select([self.s], [], [], self.every)
                if r and self.s.recv(4096) == b"":
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            if time.monotonic() - t0 <= self.limit:
                self.took = time.monotonic() - t0
            self.s.close()


@test("trickled headers and a trickled body (a byte every 0.4 s, which "
      "resets any idle timeout) are cut off at request_timeout; "
      "connections held that way free their slots, and /healthz from "
      "another address keeps answering meanwhile", timeout=60)
def trickle_cut_off():
    head = (b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n")
    with Daemon(h.conf(request_timeout=REQUEST_TIMEOUT, connection_timeout=60,
                       max_connections=12, max_connections_per_ip=0,
                       threads=1)) as d:
        ts = [Trickler(d.port, head) for _ in range(5)]
        ts += [Trickler(d.port, b"x" * 200, head=head) for _ in range(5)]
        for t in ts:
            t.start()
        seen = []
        t0 = time.monotonic()
        while any(t.is_alive() for t in ts) and time.monotonic() - t0 < 15:
            seen.append(healthz_from_other(d.port))
            time.sleep(0.2)
        for t in ts:
            t.join(timeout=5)
        for t in ts:
            assert t.took is not None, "a trickling client was never cut off"
            assert t.took <= REQUEST_TIMEOUT + SLACK, \
                "cut off after %.1f s" % t.took
        assert seen and all(st == 200 for st in seen), seen
        # All 12 slots held by slow clients: freed at request_timeout.
        held = [connect(d.port) for _ in range(12)]
        try:
            for s in held:
                s.sendall(b"GET /heal")
            time.sleep(0.3)
            t0 = time.monotonic()
            # Every slot is taken: a new client waits unanswered.
            assert not _safe_status(d.port, 0.5), \
                "12 slow clients held no slot"
            h.wait_for(lambda: _safe_status(d.port, 1.0) or None,
                       REQUEST_TIMEOUT + 5, "a slot freed", interval=0.2)
            assert time.monotonic() - t0 <= REQUEST_TIMEOUT + SLACK + 1
            for s in held:
                _, closed = answer(s, 3)
                assert closed, "a slow client still holds its slot"
        finally:
            for s in held:
                s.close()
        rej = d.get("/metrics").raw.decode()
        assert 'hookd_events_rejected_total{reason="request_timeout"}' in rej


def _safe_status(port, timeout=10.0):
    try:
        return healthz_from_other(port, timeout) == 200
    except OSError:  # refused, reset or not answered in time
        return False


@test("a client that closes its side before its request is complete (a "
      "body shorter than Content-Length, a header never ended) is cut off "
      "at once, not at request_timeout or connection_timeout", timeout=30)
def eof_before_complete():
    with Daemon(h.conf(request_timeout=30, connection_timeout=30)) as d:
        for data, pause in (
                (b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                 b"\r\n{\"type\":", 0.0),
                (b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                 b"\r\n{\"type\":", 0.5),
                (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b", 0.5)):
            s = connect(d.port)
            try:
                s.sendall(data)
                time.sleep(pause)
                s.shutdown(socket.SHUT_WR)
                t0 = time.monotonic()
                got, closed = answer(s, 5)
                took = time.monotonic() - t0
                assert closed and took < 1.5, (data, got, took)
                assert got == b"" or got.startswith(b"HTTP/1.1 4"), got
            finally:
                s.close()
        assert d.get("/healthz").status == 200


@test("what is not an HTTP/1.x request is answered 400 invalid_request "
      "and closed as soon as it is seen: a TLS ClientHello, binary, a "
      "control byte in the method, a NUL in the target or in a header "
      "(which would otherwise be read only up to the NUL)", timeout=30)
def not_http():
    hello = (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
             + b"\x00" * 160)
    cases = [
        ("TLS ClientHello", hello),
        ("binary", b"\xff\xfe\x00\x01" * 64),
        ("control byte in the method", b"G\x01T /healthz HTTP/1.1\r\n\r\n"),
        ("NUL in the target", b"GET /healthz\x00junk HTTP/1.1\r\n"
                              b"Host: 127.0.0.1\r\n\r\n"),
        ("NUL in a header", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            b"x-api-key: KEY\x00junk\r\nX-B: c\r\n\r\n"),
        ("NUL in the last header", b"GET /healthz HTTP/1.1\r\n"
                                   b"Host: 127.0.0.1\r\n"
                                   b"x-api-key: KEY\x00junk\r\n\r\n"),
        ("a space in the target", b"GET /heal thz HTTP/1.1\r\n"
                                  b"Host: 127.0.0.1\r\n\r\n"),
    ]
    with Daemon(h.conf(request_timeout=30, connection_timeout=30)) as d:
        for name, data in cases:
            s = connect(d.port)
            try:
                s.sendall(data)
                t0 = time.monotonic()
                got, closed = answer(s, 5)
                took = time.monotonic() - t0
                assert closed and took < 1.5, (name, got, took)
                status, body = json_answer(got)
                assert status == 400 and body["error"] == "invalid_request", \
                    (name, got)
            finally:
                s.close()
        # The same requests without the NUL are served.
        s = connect(d.port)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"x-api-key: KEY\r\nConnection: close\r\n\r\n")
            got, closed = answer(s, 5)
            assert got.startswith(b"HTTP/1.1 200"), got
        finally:
            s.close()


@test("max_connections_per_ip: past it a client's new connection is "
      "answered 503 too_many_connections and closed at once, while another "
      "address is served (IPv6 clients are counted per /64: test_guard)",
      timeout=30)
def per_client_limit():
    # One HTTP thread: connections are counted in the order they came.
    with Daemon(h.conf(max_connections_per_ip=3, threads=1)) as d:
        held = []
        try:
            # Three held connections; one refused because an earlier
            # connection (the start-up probe's, a refused one) was not yet
            # released is opened again, after a moment for the release.
            refused = []
            for _ in range(30):
                while len(held) < 3:
                    s = connect(d.port)
                    s.sendall(b"GET /heal")
                    held.append(s)
                for s in select.select(held, [], [], 0.3)[0]:
                    held.remove(s)
                    refused.append(answer(s, 1)[0][:40])
                    s.close()
                if len(held) == 3:
                    break
                time.sleep(0.2)
            assert len(held) == 3, \
                "three connections were not held; refused: %r" % refused
            s = connect(d.port)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            got, closed = answer(s, 5)
            s.close()
            assert closed, got
            status, body = json_answer(got)
            assert (status, body["error"]) == (503, "too_many_connections"), \
                got
            assert healthz_from_other(d.port) == 200
        finally:
            for s in held:
                s.close()
        # Once the held ones are reaped, this client is served again.
        r = h.wait_for(lambda: (lambda r: r if r.status == 200 else None)(
            d.get("/metrics")), 10, "/metrics answered", interval=0.1)
        m = re.search(r'reason="too_many_connections"\} (\d+)', r.raw.decode())
        assert m and int(m.group(1)) >= 1, r


def _limited(soft, hard):
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return apply


@test("the descriptor limit: hookd raises its soft RLIMIT_NOFILE to the "
      "hard one at start, and refuses a max_connections it cannot hold, "
      "naming LimitNOFILE", timeout=30)
def descriptor_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2048:
        h.skip("the hard descriptor limit here is %d" % hard)
    path = os.path.join(h.tmpdir(), "fd.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(h.conf(max_connections=1000))
    args = [h.HOOKD_BIN, "-c", path, "--plugin-dir", h.PLUGIN_DIR]
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20, preexec_fn=_limited(512, 512),
                       env=h.daemon_env())
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode != 0, err
    assert "max_connections = 1000" in err and "LimitNOFILE" in err, err
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_limited(256, 2048),
                            env=h.daemon_env())
    try:
        def limits():
            with open("/proc/%d/limits" % proc.pid) as f:
                for line in f:
                    if line.startswith("Max open files"):
                        return line.split()[3:5] if line.split()[3] == "2048" \
                            else None
            return None
        assert h.wait_for(limits, 10, "the soft limit raised") == \
            ["2048", "2048"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        proc.stderr.close()


# ---------------------------------------------------- smaller leaks --

@test("the SQLite database and its WAL are created 0600 whatever the "
      "umask (0000 here); an existing file keeps its mode", timeout=30)
def database_mode():
    db = os.path.join(h.tmpdir(), "private.db")
    conf = h.conf('storage = { url = %s; };\n' % q("sqlite:" + db))
    old = os.umask(0)
    try:
        with Daemon(conf) as d:
            d.publish({"type": "order.created", "data": {}})
            for path in (db, db + "-wal", db + "-shm"):
                mode = os.stat(path).st_mode & 0o777
                assert mode == 0o600, "%s: %o" % (path, mode)
    finally:
        os.umask(old)
    os.chmod(db, 0o640)
    with Daemon(conf) as d:
        d.publish({"type": "order.created", "data": {}})
    assert os.stat(db).st_mode & 0o777 == 0o640


@test("credentials are masked in listings and logs: a webhookUrl's "
      "user:password, and header values whose names say credential "
      "(Authorization, Cookie, *key*, *token*, ...); deliveries carry the "
      "real values; a PATCH sending the masked text back keeps them",
      timeout=40)
def credentials_masked():
    token = "Bearer abcdefghijklmnop"
    with Sink("masked") as s, Daemon(sub_conf()) as d:
        url = s.url("/m").replace("http://", "http://hookd-user:s3cr3t-pw@")
        hdrs = {"Authorization": token, "X-Api-Key": "k-1234567890abcdef",
                "Cookie": "sid=short", "X-Session-Token": "tok-0987654321",
                "X-Plain": "visible-value"}
        r = d.post(API, {"webhookUrl": url, "events": ["*"], "headers": hdrs})
        assert r.status == 201, r
        sid = r.body["id"]
        masked_url = url.replace("hookd-user:s3cr3t-pw", "\u2026")
        want = {"Authorization": "\u2026mnop", "X-Api-Key": "\u2026cdef",
                "Cookie": "\u2026", "X-Session-Token": "\u20264321",
                "X-Plain": "visible-value"}
        for view in (r.body, d.get(API + "/" + sid).body,
                     d.get(API).body["subscriptions"][0]):
            assert view["webhookUrl"] == masked_url, view
            assert view["headers"] == want, view
        d.publish({"type": "order.created", "data": {"n": 1}})
        rec = s.wait_requests("/m", 1)[0]
        assert rec["hdr"]["authorization"] == token, rec["hdr"]
        assert rec["hdr"]["x-api-key"] == "k-1234567890abcdef", rec["hdr"]
        # What GET gave, sent back with one change: the rest is kept.
        view = d.get(API + "/" + sid).body
        p = d.request("PATCH", API + "/" + sid, {
            "webhookUrl": view["webhookUrl"],
            "headers": dict(view["headers"], **{"X-Plain": "changed"})})
        assert p.status == 200, p
        assert p.body["headers"] == dict(want, **{"X-Plain": "changed"}), p.body
        d.publish({"type": "order.created", "data": {"n": 2}})
        rec = s.wait_requests("/m", 2)[1]
        assert rec["hdr"]["authorization"] == token, rec["hdr"]
        assert rec["hdr"]["x-session-token"] == "tok-0987654321", rec["hdr"]
        assert rec["hdr"]["x-plain"] == "changed", rec["hdr"]
        # A URL with credentials and no Authorization header: they reach
        # the receiver as Basic auth, before and after a PATCH that sends
        # the masked URL back.
        basic = "Basic " + base64.b64encode(b"hookd-user:s3cr3t-pw").decode()
        r = d.post(API, {"webhookUrl": url.replace("/m", "/b"),
                         "events": ["order.paid"]})
        assert r.status == 201, r
        sid2 = r.body["id"]
        d.publish({"type": "order.paid", "data": {}})
        assert s.wait_requests("/b", 1)[0]["hdr"]["authorization"] == basic
        view = d.get(API + "/" + sid2).body
        p = d.request("PATCH", API + "/" + sid2,
                      {"webhookUrl": view["webhookUrl"], "description": "d"})
        assert p.status == 200 and p.body["webhookUrl"] == view["webhookUrl"], p
        d.publish({"type": "order.paid", "data": {}})
        assert s.wait_requests("/b", 2)[1]["hdr"]["authorization"] == basic
        log = d.log_text()
        for secret in ("s3cr3t-pw", "abcdefghijklmnop", "k-1234567890abcdef"):
            assert secret not in log, secret


@test("subscriptions.max: creating one more than it allows is 422 "
      "too_many_subscriptions naming it; deleting one makes room", timeout=30)
def subscriptions_max():
    conf = sub_conf().replace("subscriptions = {",
                              "subscriptions = { max = 3;")
    with Daemon(conf) as d:
        ids = []
        for i in range(3):
            r = d.post(API, {"webhookUrl": "http://127.0.0.1:9/%d" % i,
                             "events": ["*"]})
            assert r.status == 201, r
            ids.append(r.body["id"])
        r = d.post(API, {"webhookUrl": "http://127.0.0.1:9/x", "events": ["*"]})
        assert_error(r, 422, "too_many_subscriptions")
        assert "subscriptions.max" in r.body["message"], r.body
        assert len(d.get(API).body["subscriptions"]) == 3
        assert d.request("DELETE", API + "/" + ids[0]).status == 200
        r = d.post(API, {"webhookUrl": "http://127.0.0.1:9/x", "events": ["*"]})
        assert r.status == 201, r


# ---------------------------------------------------- secrets at rest --

S1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   # Standard Webhooks' example


def signed_with(rec, secret):
    """Does the recorded request carry a v1 signature made with secret?"""
    key = base64.b64decode(secret[len("whsec_"):])
    msg = ("%s.%s." % (rec["hdr"]["webhook-id"], rec["hdr"]["webhook-timestamp"])
           ).encode() + rec["body"]
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()
                                    ).decode()
    return want in rec["hdr"].get("webhook-signature", "").split(" ")


def stored_bodies(db):
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT body FROM subscriptions")]
    finally:
        con.close()


@test("subscription secrets are sealed at rest (AES-256-GCM): the database "
      "holds no whsec_ secret, the key file beside it is 0600; deliveries "
      "are signed after a restart; secrets stored in the clear are sealed "
      "at start; another key refuses to start; storage.secret_key from env: "
      "needs no key file", timeout=60)
def secrets_at_rest():
    folder = os.path.join(h.tmpdir(), "data")
    os.mkdir(folder)
    db = os.path.join(folder, "hookd.db")

    def conf(extra=""):
        return (h.server_block()
                + 'subscriptions = { allow_targets = ["127.0.0.1/32"]; };\n'
                + "storage = { url = %s;%s };\n" % (q("sqlite:" + db), extra))

    with Sink("rest") as s:
        with Daemon(conf()) as d:
            r = d.post(API, {"webhookUrl": s.url("/r"), "events": ["*"],
                             "secret": S1})
            assert r.status == 201, r
            sid = r.body["id"]
            rot = d.request("PATCH", API + "/" + sid, {"rotateSecret": True})
            new_secret = rot.body["secret"]
        bodies = stored_bodies(db)
        assert len(bodies) == 1
        for secret in (S1, new_secret):
            for part in (secret, secret[len("whsec_"):]):
                assert part not in bodies[0], "stored in the clear: %s" % part
        stored = json.loads(bodies[0])
        assert stored["secret"].startswith("enc:v1:"), stored
        assert stored["previousSecret"].startswith("enc:v1:"), stored
        keyfile = os.path.join(folder, "hookd.key")
        assert os.stat(keyfile).st_mode & 0o777 == 0o600

        with Daemon(conf()) as d:
            d.publish({"type": "order.created", "data": {"n": 1}})
            rec = s.wait_requests("/r", 1)[0]
            assert signed_with(rec, new_secret) and signed_with(rec, S1), rec
            assert d.get(API + "/" + sid).body["secret"].endswith(
                new_secret[-4:])

        # As an older hookd left it: the secrets in the clear.
        stored["secret"], stored["previousSecret"] = new_secret, S1
        con = sqlite3.connect(db)
        con.execute("UPDATE subscriptions SET body = ?", (json.dumps(stored),))
        con.commit()
        con.close()
        with Daemon(conf()) as d:
            d.wait_log(msg="store", detail="subscription secrets stored in "
                       "the clear are sealed now")
            d.publish({"type": "order.created", "data": {"n": 2}})
            rec = s.wait_requests("/r", 2)[1]
            assert signed_with(rec, new_secret), rec
        assert new_secret not in stored_bodies(db)[0]
        assert json.loads(stored_bodies(db)[0])["secret"].startswith("enc:v1:")

        # Another key: the secrets do not open, hookd does not start.
        with open(os.path.join(h.tmpdir(), "wrong.conf"), "w") as f:
            f.write(conf(' secret_key = "%s";' % ("ab" * 32)))
        r = run_hookd(["-c", f.name, "--plugin-dir", h.PLUGIN_DIR])
        assert r.returncode != 0, r
        assert "do not open with this key" in r.stderr, r.stderr

    # A key from the environment: nothing written beside the database.
    db = os.path.join(h.tmpdir(), "env.db")
    env_conf = (h.server_block()
                + 'subscriptions = { allow_targets = ["127.0.0.1/32"]; };\n'
                + 'storage = { url = %s; secret_key = "env:HOOKD_TEST_SEAL_KEY"; };\n'
                % q("sqlite:" + db))
    env = {"HOOKD_TEST_SEAL_KEY": "cd" * 32}
    with Daemon(env_conf, env=env) as d:
        r = d.post(API, {"webhookUrl": "http://127.0.0.1:9/x", "events": ["*"],
                         "secret": S1})
        assert r.status == 201, r
    assert not os.path.exists(os.path.join(h.tmpdir(), "hookd.key"))
    assert json.loads(stored_bodies(db)[0])["secret"].startswith("enc:v1:")
    with Daemon(env_conf, env=env) as d:
        assert len(d.get(API).body["subscriptions"]) == 1
    path, r = check_config("storage = { secret_key = \"short\"; };\n")
    assert r.returncode != 0 and "%s:1: secret_key" % path in r.stderr, r.stderr
    path, r = check_config('storage = { url = "postgresql://h/db"; };\n')
    assert r.returncode != 0 and "storage.secret_key" in r.stderr, r.stderr


# --------------------------------------------------------- audit trail --

@test("audit trail: create, PATCH, rotate, delete and replays through the "
      "API are each a log line and a stored record (GET /v4/audit, newest "
      "first, paged) naming the key by id, never the key itself", timeout=40)
def audit_trail():
    key = "audit-test-key-0123456789abcdef"
    kid = "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]
    hdr = {"x-api-key": key}
    conf = sub_conf().replace('listen = "127.0.0.1:0";',
                              'listen = "127.0.0.1:0"; api_keys = [%s];' % q(key))
    with Daemon(conf) as d:
        r = d.request("POST", API, {"webhookUrl": "http://127.0.0.1:9/a",
                                    "events": ["*"]}, headers=hdr)
        assert r.status == 201, r
        sid = r.body["id"]
        assert d.request("PATCH", API + "/" + sid, {"description": "x"},
                         headers=hdr).status == 200
        assert d.request("PATCH", API + "/" + sid, {"rotateSecret": True},
                         headers=hdr).status == 200
        # Reads are no change: GET and HEAD are not recorded.
        assert d.request("GET", API + "/" + sid, headers=hdr).status == 200
        assert d.request("HEAD", API, headers=hdr).status == 200
        assert d.request("POST", "/v4/deliveries/retry", {"target": "nobody"},
                         headers=hdr).status == 202
        assert d.request("DELETE", API + "/" + sid, headers=hdr).status == 200
        # A refused change is no change: nothing recorded.
        assert d.request("DELETE", API + "/" + sid, headers=hdr).status == 404
        assert_error(d.get("/v4/audit"), 401, "unauthorized")
        page = d.request("GET", "/v4/audit?limit=3", headers=hdr)
        assert page.status == 200, page
        rows = page.body["audit"]
        more = d.request("GET", "/v4/audit?limit=3&cursor=%s"
                         % page.body["nextCursor"], headers=hdr).body
        rows += more["audit"]
        assert more["nextCursor"] is None, more
        got = [(x["action"], x["target"], x["keyId"]) for x in rows]
        assert got == [("subscription.delete", sid, kid),
                       ("deliveries.replay", "*", kid),
                       ("subscription.rotate", sid, kid),
                       ("subscription.update", sid, kid),
                       ("subscription.create", sid, kid)], got
        assert rows[3]["detail"] == "description", rows[3]
        assert rows[1]["detail"].startswith("retried 0, target nobody"), rows[1]
        assert all(x["at"].endswith("Z") and x["id"] for x in rows), rows
        assert_error(d.request("GET", "/v4/audit?limit=0", headers=hdr), 400,
                     "invalid_parameter", "limit")
        log = d.log_text()
        assert key not in log and key not in json.dumps(rows)
        logged = [rec for rec in d.records(msg="audit")]
        assert [(x["action"], x["key"]) for x in logged][:1] == \
            [("subscription.create", kid)], logged


if __name__ == "__main__":
    h.main()
