#!/usr/bin/env python3
"""Hostile clients against the real daemon, over raw sockets: a barrage of
malformed HTTP (truncated and mis-framed bodies, chunked bodies past
max_body, invalid UTF-8, deep nesting, huge numbers, duplicate keys, NUL
bytes, header floods, long URLs and header values, every method on every
path, bad percent-encoding, garbage request lines), repeated in rounds
while the daemon's memory is watched; bodies cut short on half-closed
connections; body framing RFC 9112 says not to guess (two Content-Length
values, Content-Length with chunked, unknown transfer codings); then the
API-key checks on every /v4 route.

Each case states what must come back: hookd's JSON error (docs/api.md)
where hookd sees the request, or libmicrohttpd's own 4xx / a clean close
where the request never reaches hookd. Every socket operation has a
timeout, so a hang fails the case instead of the run. Mismatches are
collected and reported together at the end of a test, with the request
that caused each, so one finding does not hide the next.

The per-class request counts and the memory figures are printed as TAP
comments (`# class X: N requests`, `# rss ...`) for docs/reliability.md.

HOOKD_HOSTILE_ROUNDS=N changes the number of barrage rounds (default 20).
"""

import json
import os
import re
import socket
import threading
import time

import hookdtest as h
from hookdtest import Daemon, assert_error, conf, good_handler, test

MAX_BODY = 131072          # server.max_body of the barrage daemon
ROUNDS = int(os.environ.get("HOOKD_HOSTILE_ROUNDS") or 20)
ROUNDS_BUDGET = 50.0       # seconds for all barrage rounds together
IO_TIMEOUT = 10.0          # seconds per request: connect, send, answer
# Growth of VmRSS allowed between the end of round 1 and the end of the
# last round. Measured: about +7 MiB over the first ten rounds (each HTTP
# thread's malloc arena and stack warming up to the largest bodies, the
# SQLite page cache filling), then about 25 KiB per round (the page cache,
# as the stored events grow). A leak of request bodies would add megabytes
# per round; small leaks are LeakSanitizer's job (the ASan build). The
# warm-up is per HTTP thread, so the barrage runs with BARRAGE_THREADS of
# them, not the default (32): the margin measures leaks, not threads.
RSS_MARGIN_KB = 12288
BARRAGE_THREADS = 8
KEY = "hostile-test-key-0123456789abcdef"      # 33 characters
KEY2 = "second-key-of-another-length-XYZ-0123456789"
CONN_TIMEOUT = 2           # server.connection_timeout of the half-close test
# server.connection_timeout of the barrage: a request line that never ends
# (a TLS ClientHello) is closed by then at the latest.
BARRAGE_CONN_TIMEOUT = 2

HOST = b"Host: 127.0.0.1\r\n"


# ------------------------------------------------------------------ wire --

class Answer:
    """What came back on one connection: status (None when the server
    closed without a byte), lower-case headers, body bytes, parsed JSON."""

    def __init__(self, status=None, headers=None, body=b"", raw=b""):
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.raw = raw
        self.json = None
        if body and self.headers.get("content-type", "").startswith(
                "application/json"):
            try:
                self.json = json.loads(body.decode("utf-8"))
            except (ValueError, RecursionError):
                pass  # deeper than Python's parser goes: see the raw body

    def __repr__(self):
        if self.status is None:
            return "<closed without an answer>"
        return "<%s %r %r>" % (self.status, self.headers, self.body[:200])


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})[^\r\n]*")


def _parse(buf, head_only, eof):
    """(Answer, bytes used) when buf starts with a complete response, or
    the connection ended (Answer with status None when nothing came);
    None when more bytes are needed."""
    pos = 0
    while True:
        m = _STATUS.match(buf, pos)
        end = buf.find(b"\r\n\r\n", pos)
        if m and end >= 0 and 100 <= int(m.group(1)) < 200:
            pos = end + 4   # an interim answer (100 Continue)
            continue
        break
    if end < 0:
        if not eof:
            return None
        if pos == len(buf):
            return Answer(), len(buf)
        raise AssertionError("the connection ended inside an answer: %r"
                             % buf[pos:pos + 300])
    assert m, "not an HTTP answer: %r" % buf[pos:pos + 300]
    status = int(m.group(1))
    headers = {}
    for line in buf[pos:end].split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    start = end + 4
    raw = buf[pos:]
    if head_only or status in (204, 304):
        return Answer(status, headers, b"", raw), start
    n = headers.get("content-length")
    if n is not None and n.isdigit():
        if len(buf) - start >= int(n):
            return Answer(status, headers, buf[start:start + int(n)],
                          raw), start + int(n)
        if eof:
            raise AssertionError("answer cut short (%d of %s body bytes): %r"
                                 % (len(buf) - start, n, raw[:300]))
        return None
    return (Answer(status, headers, buf[start:], raw), len(buf)) if eof \
        else None


def wire(port, data, head_only=False, timeout=IO_TIMEOUT, shut=False,
         every=False):
    """Send data on a fresh connection (then half-close it when shut) and
    read one answer, or the close. every: read answers until the server
    closes and return them all (a list, the close not included). Every
    step is bounded by timeout; no answer and no close in time raises
    AssertionError (a hang)."""
    deadline = time.monotonic() + timeout
    s = sent(port, data, timeout, shut)
    answers = []
    try:
        buf = b""
        eof = False
        for _ in range(1 << 16):
            got = _parse(buf, head_only, eof)
            if got is not None:
                ans, used = got
                buf = buf[used:]
                if not every:
                    return ans
                if ans.status is None:
                    return answers
                answers.append(ans)
                if ans.headers.get("connection", "").lower() == "close":
                    # Nothing after this answer counts (and libmicrohttpd
                    # 0.9.75 sends the head of some of its own error pages
                    # twice, so what follows is not an answer anyway).
                    return answers
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                break
            if not chunk:
                eof = True
            buf += chunk
        raise AssertionError("no answer and no close within %.0f s (got %r%s)"
                             % (timeout, buf[:300], " after %d answer(s)" %
                                len(answers) if answers else ""))
    finally:
        s.close()


def sent(port, data, timeout, shut=False):
    """A new connection (every operation bounded by timeout) with data
    sent, then half-closed when shut. A server that answers early may
    close before it has everything: what it said can still be read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass
    except BaseException:
        s.close()
        raise
    return s


def send_and_close(port, data, timeout=IO_TIMEOUT):
    """Send data and close the connection without reading: a client that
    gives up in the middle of its request."""
    sent(port, data, timeout).close()


# -------------------------------------------------------------- requests --

def req(method, path, body=None, headers=b"", ctype=b"application/json",
        close=True, length=None):
    """One HTTP/1.1 request as bytes. length: the Content-Length to claim
    (default: the body's; False: none). A POST, PATCH or DELETE says ctype
    even without a body, as well-behaved clients of /v4 do."""
    out = b"%s %s HTTP/1.1\r\n" % (method, path) + HOST
    if close:
        out += b"Connection: close\r\n"
    if ctype and (body is not None or method in (b"POST", b"PATCH",
                                                 b"DELETE")):
        out += b"Content-Type: " + ctype + b"\r\n"
    out += headers
    if body is not None and length is not False:
        out += b"Content-Length: %d\r\n" % (len(body) if length is None
                                             else length)
    return out + b"\r\n" + (body or b"")


def chunked(method, path, pieces, headers=b"", tail=b"0\r\n\r\n"):
    """A chunked request: each piece one chunk, then tail."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return (b"%s %s HTTP/1.1\r\n" % (method, path) + HOST
            + b"Connection: close\r\nContent-Type: application/json\r\n"
            + headers + b"Transfer-Encoding: chunked\r\n\r\n" + body + tail)


# ---------------------------------------------------------------- checks --
# A check takes an Answer and returns None (as documented) or what is
# wrong, as text.

def _json_error(a, status, code, field=Ellipsis):
    if a.status != status:
        return "want %d %s, got %r" % (status, code, a)
    if not a.headers.get("content-type", "").startswith("application/json"):
        return "want a JSON error, got %r" % a
    b = a.json
    if not isinstance(b, dict) or b.get("error") != code:
        return "want error %r, got %r" % (code, a)
    if not isinstance(b.get("message"), str) or not b["message"]:
        return "error without a message: %r" % a
    if field is not Ellipsis and b.get("field") != field:
        return "want field %r, got %r" % (field, a)
    return None


def err(status, code, field=Ellipsis):
    """hookd's JSON error."""
    return lambda a: _json_error(a, status, code, field)


def head_err(status, allow=None):
    """An error to a HEAD request: the status (and Allow), no body."""
    def check(a):
        if a.status != status:
            return "want %d, got %r" % (status, a)
        if allow is not None and a.headers.get("allow") != allow:
            return "want Allow %r, got %r" % (allow, a)
        return None
    return check


def not_allowed(allow):
    def check(a):
        e = _json_error(a, 405, "method_not_allowed")
        if e is None and a.headers.get("allow") != allow:
            e = "want Allow %r, got %r" % (allow, a)
        return e
    return check


def ok(status, keys=None, into=None, text=False):
    """A success: status, JSON object with these keys (or Prometheus text);
    the "id" of a 202 goes into `into` (accepted events)."""
    def check(a):
        if a.status != status:
            return "want %d, got %r" % (status, a)
        if text:
            return None if a.body.startswith(b"# HELP") else \
                "want Prometheus text, got %r" % a
        if not isinstance(a.json, dict):
            return "want a JSON object, got %r" % a
        for k in keys or ():
            if k not in a.json:
                return "want member %r, got %r" % (k, a)
        if into is not None and status == 202:
            into.append(a.json["id"])
        return None
    return check


def head_ok(status):
    return lambda a: None if a.status == status and a.body == b"" else \
        "want %d without a body, got %r" % (status, a)


def mhd(*statuses):
    """libmicrohttpd's own answer (hookd never saw the request): one of
    these 4xx statuses, not hookd's JSON, and the connection closed."""
    def check(a):
        if a.status not in statuses:
            return "want libmicrohttpd's %s, got %r" % (
                "/".join(map(str, statuses)), a)
        if a.headers.get("content-type", "").startswith("application/json"):
            return "want libmicrohttpd's page, got hookd's JSON: %r" % a
        if a.headers.get("connection", "").lower() != "close":
            return "libmicrohttpd's error without Connection: close: %r" % a
        return None
    return check


def closed_or(*statuses):
    """A clean close without an answer, or libmicrohttpd's 4xx."""
    inner = mhd(*statuses)
    return lambda a: None if a.status is None else inner(a)


# Bodies no JSON parser may accept, by class; each goes to every endpoint
# that reads a JSON body (400 invalid_json).
BAD_JSON = {
    "invalid_utf8": [
        b'{"type": "a\xff"}',
        b'{"type": "a", "data": {"x": "\xc0\xaf"}}',          # overlong
        b'{"type": "a", "data": {"x": "\xed\xa0\x80"}}',     # surrogate
        b'{"type": "a", "data": {"x": "\xf4\x90\x80\x80"}}',  # > U+10FFFF
        b'{"type": "a", "data": {"x": "\xe2\x82"}}',          # cut short
        b'{"type": "a", "data": {"\xfe\xff": 1}}',            # in a key
        b'{"type": "a", "data": {"x": "\\ud800"}}',           # lone escape
        b'{"type": "a", "data": {"x": "\\udc00\\ud800"}}',  # reversed pair
    ],
    "deep_nesting": [b"[" * 100000, b'{"a": ' * 20000,
                     b'{"type": "a", "data": ' + b"[" * 100000],
    "huge_numbers": [
        b'{"type": "a", "data": {"x": 1e400}}',
        b'{"type": "a", "data": {"x": -1e400}}',
        b'{"type": "a", "data": {"x": ' + b"9" * 300 + b"}}",
        b'{"type": "a", "data": {"x": -' + b"9" * 300 + b"}}",
        b'{"type": "a", "data": {"x": 9223372036854775808}}',
        b'{"limit": 1e999999999999}',
    ],
    "duplicate_keys": [
        b'{"type": "a", "type": "b"}',
        b'{"type": "a", "data": {"x": 1, "x": 2}}',
        b'{"type": "a", "data": {"x": {"y": [{"z": 1, "z": 1}]}}}',
        b'{"events": ["a"], "events": ["b"]}',
        b'{"type": "a", "data": {"x": 1, "\\u0078": 2}}',   # "x" escaped
    ],
    "nul_bytes": [
        b'{"type": "a\x00b"}',
        b'{"type": "a"}\x00',
        b'\x00{"type": "a"}',
        b'{"type": "a\\u0000b"}',
        b'{"type": "a", "data": {"x": "\\u0000"}}',
        b'{"type": "a", "data": {"\\u0000": 1}}',
    ],
}


# ------------------------------------------------------------- the barrage --

class Barrage:
    """Cases by class, run against one daemon; counts and mismatches."""

    def __init__(self, d, sub_id):
        self.d = d
        self.sub = sub_id.encode()
        self.counts = {}
        self.failures = {}   # case name -> (request excerpt, problem)
        self.accepted = []   # ids answered 202
        self.order = []
        self.shut_closes = []  # seconds until the close, half-closed cases

    def note(self, cls, n=1):
        if cls not in self.counts:
            self.order.append(cls)
            self.counts[cls] = 0
        self.counts[cls] += n

    def run(self, cls, name, data, check, head_only=False, shut=False):
        self.note(cls)
        t0 = time.monotonic()
        try:
            a = wire(self.d.port, data, head_only, shut=shut)
            if shut:
                self.shut_closes.append(time.monotonic() - t0)
            problem = check(a)
        except (AssertionError, OSError) as e:
            problem = "%s: %s" % (type(e).__name__, e)
        if problem and name not in self.failures and len(self.failures) < 60:
            self.failures[name] = (data[:160], problem)

    def gone(self, cls, data):
        """A request abandoned half-way: nothing to read."""
        self.note(cls)
        send_and_close(self.d.port, data)

    def alive(self, after):
        assert self.d.proc.poll() is None, "hookd died after %s (status %s)" \
            % (after, self.d.proc.returncode)

    # -- the targets that take a JSON body --------------------------------

    def json_targets(self):
        s = self.sub
        return [(b"POST", b"/v4/events"),
                (b"POST", b"/v4/webhook-subscriptions"),
                (b"PATCH", b"/v4/webhook-subscriptions/" + s),
                (b"POST", b"/v4/webhook-subscriptions/" + s + b"/test"),
                (b"POST", b"/v4/deliveries/retry"),
                (b"POST", b"/hooks/open")]

    def bad_json(self, cls, bodies):
        """Each body to each JSON endpoint: 400 invalid_json."""
        for i, body in enumerate(bodies):
            for method, path in self.json_targets():
                self.run(cls, "%s #%d %s %s" % (cls, i, method.decode(),
                                                 path.decode()),
                         req(method, path, body), err(400, "invalid_json"))

    # -- the classes -------------------------------------------------------

    def truncated(self, r):
        cls = "truncated_body"
        for method, path in self.json_targets():
            body = b'{"type": "cut", "data": {"x": "' + b"y" * 50
            self.gone(cls, req(method, path, body, length=len(body) + 100))
            self.gone(cls, req(method, path, body, length=MAX_BODY))
            self.gone(cls, chunked(method, path, [body], tail=b"40\r\nxx"))
        # A declared chunk of 2^64-1 bytes, a few of them sent.
        self.gone(cls, chunked(b"POST", b"/v4/events", [],
                               tail=b"ffffffffffffffff\r\nabc"))
        # Headers cut in the middle.
        self.gone(cls, b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCont")
        self.alive(cls)

    def content_length(self, r):
        cls = "content_length"
        pub = b'{"type": "hostile.cl", "id": "cl-%d"}' % r
        P = b"POST", b"/v4/events"
        self.run(cls, "CL not a number", req(*P, pub, b"Content-Length: abc\r\n",
                                             length=False), mhd(400))
        self.run(cls, "CL negative", req(*P, pub, b"Content-Length: -5\r\n",
                                         length=False), mhd(400))
        self.run(cls, "CL with a sign", req(*P, pub, b"Content-Length: +5\r\n",
                                            length=False), mhd(400))
        self.run(cls, "CL past 2^64", req(*P, b"", length=10 ** 23), mhd(413))
        self.run(cls, "CL past max_body (no body sent)",
                 req(*P, b"", length=MAX_BODY * 80),
                 err(413, "payload_too_large"))
        self.run(cls, "CL past max_body, Expect: 100-continue",
                 req(*P, b"", b"Expect: 100-continue\r\n", length=MAX_BODY + 1),
                 err(413, "payload_too_large"))
        self.run(cls, "CL shorter than the body",
                 req(*P, pub, length=len(pub) - 5), err(400, "invalid_json"))
        self.run(cls, "CL 0 with a body", req(*P, pub, length=0),
                 err(400, "invalid_json"))
        # No Content-Length: the body is not read; the endpoints that need
        # one say so.
        for method, path in self.json_targets():
            if path == b"/v4/deliveries/retry" or path.endswith(b"/test"):
                continue  # their body is optional
            self.run(cls, "no CL %s %s" % (method.decode(), path.decode()),
                     req(method, path, pub, length=False),
                     err(400, "invalid_json"))
        self.alive(cls)

    def chunked_past_limit(self, r):
        cls = "chunked_past_max_body"
        kib = b"x" * 1024
        n = MAX_BODY // 1024 + 1
        for method, path in self.json_targets():
            if path == b"/hooks/open":
                continue  # below, with a valid head
            self.run(cls, "1 KiB chunks past max_body %s" % path.decode(),
                     chunked(method, path, [b'{"x": "'] + [kib] * n
                             + [b'"}']), err(413, "payload_too_large"))
        self.run(cls, "1 KiB chunks past max_body /hooks/open",
                 chunked(b"POST", b"/hooks/open", [kib] * n),
                 err(413, "payload_too_large"))
        self.run(cls, "one chunk past max_body",
                 chunked(b"POST", b"/v4/events", [b"[" + b" " * MAX_BODY]),
                 err(413, "payload_too_large"))
        # 200 000 one-byte chunks (1.2 MB of framing for 200 KB of data).
        self.run(cls, "one-byte chunks past max_body",
                 chunked(b"POST", b"/v4/events", [b" "] * (MAX_BODY + 4096)),
                 err(413, "payload_too_large"))
        self.run(cls, "chunk size of 21 hex digits",
                 chunked(b"POST", b"/v4/events", [],
                         tail=b"f" * 21 + b"\r\nabc\r\n0\r\n\r\n"), mhd(413))
        self.run(cls, "chunk size not hex",
                 chunked(b"POST", b"/v4/events", [],
                         tail=b"zz\r\nabc\r\n0\r\n\r\n"), mhd(400))
        self.run(cls, "negative chunk size",
                 chunked(b"POST", b"/v4/events", [],
                         tail=b"-5\r\nabc\r\n0\r\n\r\n"), mhd(400))
        self.alive(cls)

    def invalid_utf8(self, r):
        cls = "invalid_utf8"
        self.bad_json(cls, BAD_JSON[cls])
        # In the path: hookd's message quotes it, made valid UTF-8.
        for path in (b"/v4/events/\xff\xfe", b"/v4/events/%ff%fe",
                     b"/v4/events/%C0%AF", b"/v4/webhook-subscriptions/%ed%a0%80"):
            self.run(cls, "path %r" % path, req(b"GET", path),
                     err(404, "not_found"))
        self.run(cls, "source name %ff", req(b"POST", b"/hooks/%ff", b"{}"),
                 err(404, "not_found"))
        self.alive(cls)

    def nesting(self, r):
        cls = "deep_nesting"
        self.bad_json(cls, BAD_JSON[cls])
        # Nesting just inside jansson's limit is an ordinary event: stored,
        # delivered, readable.
        depth = 2046
        body = (b'{"type": "hostile.deep", "id": "deep-%d", "data": ' % r
                + b'{"a": ' * depth + b"1" + b"}" * depth + b"}")
        self.run(cls, "nested %d deep" % depth, req(b"POST", b"/v4/events",
                                                    body),
                 ok(202, ["id"], self.accepted))
        self.alive(cls)

    def numbers(self, r):
        cls = "huge_numbers"
        self.bad_json(cls, BAD_JSON[cls])
        self.run(cls, "1e300 as the bulk-retry limit",
                 req(b"POST", b"/v4/deliveries/retry", b'{"limit": 1e300}'),
                 err(422, "invalid_request", "limit"))
        self.run(cls, "2^63-1 as the bulk-retry limit",
                 req(b"POST", b"/v4/deliveries/retry",
                     b'{"limit": 9223372036854775807}'),
                 err(422, "invalid_request", "limit"))
        self.run(cls, "a number as the id",
                 req(b"POST", b"/v4/events",
                     b'{"type": "a", "id": 1e300}'),
                 err(422, "invalid_event", "/id"))
        # Representable after rounding: ordinary data.
        for name, num in (("tiny", b"1e-400"), ("frac", b"0." + b"1" * 400),
                          ("max", b"9223372036854775807"),
                          ("min", b"-9223372036854775808")):
            body = b'{"type": "hostile.num", "id": "%s-%d", "data": {"x": %s}}' \
                % (name.encode(), r, num)
            self.run(cls, "%s number" % name, req(b"POST", b"/v4/events", body),
                     ok(202, ["id"], self.accepted))
        self.alive(cls)

    def duplicates(self, r):
        cls = "duplicate_keys"
        self.bad_json(cls, BAD_JSON[cls])
        self.alive(cls)

    def nul(self, r):
        cls = "nul_bytes"
        self.bad_json(cls, BAD_JSON[cls])
        # A NUL in the request line or a header is 400: libmicrohttpd
        # would read the text only up to it.
        self.run(cls, "raw NUL in the path",
                 req(b"GET", b"/heal\x00thz"), err(400, "invalid_request"))
        self.run(cls, "raw NUL after the path",
                 req(b"GET", b"/healthz\x00junk"),
                 err(400, "invalid_request"))
        self.run(cls, "NUL in a header value",
                 req(b"GET", b"/healthz", headers=b"X-Nul: a\x00b\r\n"),
                 err(400, "invalid_request"))
        self.run(cls, "NUL in the last header value",
                 b"GET /healthz HTTP/1.1\r\n" + HOST
                 + b"x-api-key: KEY\x00junk\r\n\r\n",
                 err(400, "invalid_request"))
        # %00 in a path or a query value: the decoded text holds a NUL, so
        # it names no event, endpoint or number.
        self.run(cls, "GET /v4/events/%00", req(b"GET", b"/v4/events/%00"),
                 err(404, "not_found"))
        self.run(cls, "GET /v4/events/%00x", req(b"GET", b"/v4/events/%00x"),
                 err(404, "not_found"))
        self.run(cls, "POST /v4/webhook-subscriptions/%00/test",
                 req(b"POST", b"/v4/webhook-subscriptions/%00/test", b"{}"),
                 err(404, "not_found"))
        self.run(cls, "POST /v4/deliveries/%00/retry",
                 req(b"POST", b"/v4/deliveries/%00/retry"),
                 err(404, "not_found"))
        self.run(cls, "limit=1%00", req(b"GET", b"/v4/deliveries?limit=1%00"),
                 err(400, "invalid_parameter", "limit"))
        self.run(cls, "state=dead%00x",
                 req(b"GET", b"/v4/deliveries?state=dead%00x"),
                 err(400, "invalid_parameter", "state"))
        self.alive(cls)

    def header_flood(self, r):
        cls = "header_flood"
        many = b"".join(b"X-Flood-%d: v\r\n" % i for i in range(5000))
        self.run(cls, "5000 headers", req(b"GET", b"/healthz", headers=many),
                 mhd(431))
        self.run(cls, "5000 headers on a publish",
                 req(b"POST", b"/v4/events", b'{"type": "flood"}', many),
                 mhd(431))
        self.run(cls, "3000 copies of one header",
                 req(b"GET", b"/healthz", headers=b"X-Same: v\r\n" * 3000),
                 mhd(431))
        some = b"".join(b"X-Some-%d: v\r\n" % i for i in range(300))
        self.run(cls, "300 headers (within the limit)",
                 req(b"GET", b"/healthz", headers=some), ok(200, ["status"]))
        self.alive(cls)

    def long_parts(self, r):
        cls = "long_url_or_header"
        self.run(cls, "URL of 100 KB",
                 req(b"GET", b"/v4/events/" + b"a" * 100000), mhd(414))
        self.run(cls, "URL of 100 KB on a publish",
                 req(b"POST", b"/v4/events?" + b"a" * 100000,
                     b'{"type": "long"}'), mhd(414))
        self.run(cls, "URL of 20 KB", req(b"GET", b"/v4/events/" + b"a" * 20000),
                 err(404, "not_found"))
        self.run(cls, "query of 20 KB",
                 req(b"GET", b"/v4/deliveries?target=" + b"t" * 20000),
                 ok(200, ["deliveries"]))
        self.run(cls, "header value of 100 KB",
                 req(b"GET", b"/healthz", headers=b"X-Long: " + b"v" * 100000
                     + b"\r\n"), mhd(431))
        self.run(cls, "header name of 40 KB",
                 req(b"GET", b"/healthz", headers=b"X" * 40000 + b": v\r\n"),
                 mhd(431))
        self.run(cls, "header value of 20 KB",
                 req(b"GET", b"/healthz", headers=b"X-Long: " + b"v" * 20000
                     + b"\r\n"), ok(200, ["status"]))
        self.run(cls, "Content-Type of 20 KB",
                 req(b"POST", b"/v4/events", b'{"type": "long"}',
                     ctype=b"application/json; x=" + b"y" * 20000),
                 ok(202, ["id"], self.accepted))
        self.alive(cls)

    def methods(self, r):
        cls = "method_x_path"
        s = self.sub
        gh = "GET, HEAD"
        # path, Allow, {allowed method: (status, check)}
        paths = [
            (b"/healthz", gh, {b"GET": (200, ok(200, ["status"]))}),
            (b"/metrics", gh, {b"GET": (200, ok(200, text=True))}),
            (b"/v4/events", gh + ", POST",
             {b"GET": (200, ok(200, ["events"])),
              b"POST": (422, err(422, "invalid_event", "/type"))}),
            (b"/v4/events/evt_nothing", gh,
             {b"GET": (404, err(404, "not_found"))}),
            (b"/v4/deliveries", gh, {b"GET": (200, ok(200, ["deliveries"]))}),
            (b"/v4/audit", gh, {b"GET": (200, ok(200, ["audit"]))}),
            (b"/v4/deliveries/dlv_nothing/retry", "POST",
             {b"POST": (404, err(404, "not_found"))}),
            (b"/v4/deliveries/retry", "POST",
             {b"POST": (202, ok(202, ["retried", "remaining"]))}),
            (b"/v4/webhook-subscriptions", gh + ", POST",
             {b"GET": (200, ok(200, ["subscriptions"])),
              b"POST": (422, err(422, "invalid_request"))}),
            (b"/v4/webhook-subscriptions/sub_nothing",
             gh + ", PATCH, DELETE",
             {b"GET": (404, err(404, "not_found")),
              b"PATCH": (404, err(404, "not_found")),
              b"DELETE": (404, err(404, "not_found"))}),
            # DELETE left out: it would end the subscription.
            (b"/v4/webhook-subscriptions/" + s, gh + ", PATCH, DELETE",
             {b"GET": (200, ok(200, ["id", "secret"])),
              b"PATCH": (200, ok(200, ["id"]))}),
            (b"/v4/webhook-subscriptions/sub_nothing/test", "POST",
             {b"POST": (404, err(404, "not_found"))}),
            (b"/hooks/nothing", "POST", {b"POST": (404, err(404, "not_found"))}),
            (b"/hooks/open", "POST",
             {b"POST": (202, ok(202, ["id"], self.accepted))}),
        ]
        methods = [b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE",
                   b"OPTIONS", b"TRACE", b"BREW"]
        for path, allow, allowed in paths:
            for m in methods:
                if m == b"DELETE" and path.endswith(s):
                    continue
                name = "%s %s" % (m.decode(), path.decode())
                body = None if m in (b"GET", b"HEAD") else b"{}"
                data = req(m, path, body)
                if m == b"HEAD":
                    if b"GET" not in allowed:
                        want = head_err(405, allow)
                    elif allowed[b"GET"][0] == 200:
                        want = head_ok(200)
                    else:
                        want = head_err(allowed[b"GET"][0])
                    self.run(cls, name, data, want, head_only=True)
                elif m in allowed:
                    self.run(cls, name, data, allowed[m][1])
                else:
                    self.run(cls, name, data, not_allowed(allow))
        self.alive(cls)

    def percent(self, r):
        cls = "percent_encoding"
        nf = err(404, "not_found")
        for path in (b"/v4/events/%zz", b"/v4/events/%", b"/v4/events/%4",
                     b"/v4/events/%%41", b"/v4/events/%2e%2e",
                     b"/v4/events/a%2Fb", b"/v4/events/..%2f..%2fetc",
                     b"/v4/events/%252e", b"/v4/webhook-subscriptions/%zz",
                     b"/%zz/events"):
            self.run(cls, "GET %s" % path.decode(), req(b"GET", path), nf)
        for path in (b"/v4/deliveries/%zz/retry", b"/hooks/%zz",
                     b"/hooks/op%65n%"):
            self.run(cls, "POST %s" % path.decode(),
                     req(b"POST", path, b"{}"), nf)
        # Decoded, these name an endpoint (libmicrohttpd decodes %2F too).
        for path in (b"/%76%34/event%73", b"/v4%2Fevents"):
            self.run(cls, "GET %s" % path.decode(), req(b"GET", path),
                     ok(200, ["events"]))
        for query, field in ((b"limit=%zz", "limit"), (b"limit=%", "limit"),
                             (b"limit=%31%30%30%30", "limit"),
                             (b"state=%ff", "state"), (b"state=%zz", "state"),
                             (b"cursor=%2D1", "cursor")):
            self.run(cls, "query %s" % query.decode(),
                     req(b"GET", b"/v4/deliveries?" + query),
                     err(400, "invalid_parameter", field))
        for query in (b"target=%ff%fe", b"event=%", b"target=%zz&event=%G0",
                      b"&&&=&==", b"%zz=%zz"):
            self.run(cls, "query %s" % query.decode(),
                     req(b"GET", b"/v4/deliveries?" + query),
                     ok(200, ["deliveries"]))
        self.run(cls, "query on /healthz", req(b"GET", b"/healthz?%zz=%"),
                 ok(200, ["status"]))
        self.alive(cls)

    def request_line(self, r):
        cls = "request_line"
        # What cannot start a request line is answered as soon as it is
        # seen (the connection guard), line end or not.
        self.run(cls, "TLS ClientHello",
                 b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"
                 + b"\x00" * 160, err(400, "invalid_request"))
        self.run(cls, "1000 bytes of 0xff", b"\xff" * 1000 + b"\r\n\r\n",
                 err(400, "invalid_request"))
        self.run(cls, "a control byte in the method",
                 b"G\x01T /healthz HTTP/1.1\r\n" + HOST + b"\r\n",
                 err(400, "invalid_request"))
        self.run(cls, "HTTP/0.9 request line", b"GET /healthz\r\n\r\n",
                 closed_or(400))
        self.run(cls, "header line without a colon",
                 req(b"GET", b"/healthz", headers=b"X-No-Colon\r\n"),
                 mhd(400))
        self.run(cls, "HTTP/1.0", b"GET /healthz HTTP/1.0\r\n\r\n",
                 ok(200, ["status"]))
        # The one 5xx of the barrage: libmicrohttpd's correct answer to a
        # version it does not speak (RFC 9110 15.6.6), not a server fault.
        self.run(cls, "HTTP/2.0 request line",
                 b"GET /healthz HTTP/2.0\r\n" + HOST + b"\r\n", mhd(505))
        self.run(cls, "absolute URI", req(b"GET", b"http://x/healthz"),
                 err(404, "not_found"))
        self.run(cls, "OPTIONS *", req(b"OPTIONS", b"*"), err(404, "not_found"))
        self.alive(cls)

    CLASSES = ("truncated", "content_length", "chunked_past_limit",
               "invalid_utf8", "nesting", "numbers", "duplicates", "nul",
               "header_flood", "long_parts", "methods", "percent",
               "request_line")

    def round(self, r):
        for name in self.CLASSES:
            getattr(self, name)(r)
            # The daemon answers between classes.
            a = wire(self.d.port, req(b"GET", b"/healthz"))
            assert a.status == 200, "after %s: %r" % (name, a)


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def sanitized_build():
    """Is HOOKD_BIN built with AddressSanitizer? (Its quarantine keeps
    freed memory, so RSS says nothing about leaks there.)"""
    with open(h.HOOKD_BIN, "rb") as f:
        return b"__asan_init" in f.read()


def barrage_conf(rec, **server):
    """test-good handler g for every event, the source "open" (no
    signature, loopback only), subscriptions to loopback allowed."""
    return conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
sources = { open = { verify = "none"; allow_from = ["127.0.0.1/32"];
                     type = "hostile.hook"; }; };
subscriptions = { allow_targets = ["127.0.0.1/32"]; };
""" % good_handler("g", record=rec), **server)


def report(failures):
    lines = ["%s: %s\n    request: %r" % (name, problem, data)
             for name, (data, problem) in failures.items()]
    return "%d case(s) not as documented:\n%s" % (len(lines),
                                                   "\n".join(lines))


@test("barrage of malformed HTTP, %d rounds: every case gets the documented "
      "status and JSON error (or libmicrohttpd's 4xx / a clean close), the "
      "daemon stays up, a normal publish is delivered, nothing accepted is "
      "lost, RSS stays within the margin" % ROUNDS, timeout=88)
def barrage():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(barrage_conf(rec, max_body=MAX_BODY, threads=BARRAGE_THREADS,
                             connection_timeout=BARRAGE_CONN_TIMEOUT)) as d:
        # A subscription no event reaches, for the PATCH and /test cases.
        r = d.post("/v4/webhook-subscriptions",
                   {"webhookUrl": "http://127.0.0.1:9/never",
                    "events": ["never.*"]})
        assert r.status == 201, r
        b = Barrage(d, r.body["id"])
        t0 = time.monotonic()
        b.round(0)
        first = time.monotonic() - t0
        rss1 = vm_rss_kb(d.proc.pid)
        done = 1
        rss = [rss1]
        for k in range(1, ROUNDS):
            if time.monotonic() - t0 > ROUNDS_BUDGET:
                break
            b.round(k)
            done += 1
            rss.append(vm_rss_kb(d.proc.pid))
        took = time.monotonic() - t0
        rss_end = rss[-1]

        # Still serving: a normal publish is delivered, and so is every
        # event the barrage got accepted.
        assert d.proc.poll() is None, "hookd died"
        normal = d.publish({"type": "after.barrage", "data": {"ok": True}})
        want = set(b.accepted) | {normal["id"]}
        h.wait_for(lambda: want <= {x[1] for x in h.records(rec)}, 20,
                   "every accepted event delivered", interval=0.1)
        for eid in b.accepted + [normal["id"]]:
            g = wire(d.port, req(b"GET", b"/v4/events/" + eid.encode()))
            assert g.status == 200 and g.body.startswith(
                b'{"id":"%s",' % eid.encode()), (eid, g)
        assert not d.records(level="error"), d.records(level="error")[:5]

        for cls in b.order:
            print("# class %s: %d requests" % (cls, b.counts[cls]))
        print("# barrage: %d rounds, %d requests in %.1f s (round 1: %.1f s); "
              "%d accepted events, all delivered"
              % (done, sum(b.counts.values()), took, first,
                 len(b.accepted)))
        late = sum(1 for t in b.shut_closes
                   if t >= BARRAGE_CONN_TIMEOUT - 0.5)
        print("# half-closed request lines: %d, %d closed at the client's EOF, "
              "%d only at connection_timeout (%d s)" % (
                  len(b.shut_closes), len(b.shut_closes) - late, late,
                  BARRAGE_CONN_TIMEOUT))
        print("# rss: after round 1 %d KiB, after round %d %d KiB "
              "(%+d KiB), max %d KiB" % (rss1, done, rss_end, rss_end - rss1,
                                         max(rss)))
        print("# rss by round (KiB): %s" % " ".join(map(str, rss)))
        assert not b.failures, report(b.failures)
        assert done >= min(ROUNDS, 5), "only %d rounds in %.0f s" % (
            done, ROUNDS_BUDGET)
        if sanitized_build():
            print("# rss: sanitizer build, margin not applied")
        else:
            assert rss_end - rss1 <= RSS_MARGIN_KB, \
                "RSS grew by %d KiB over %d rounds (margin %d KiB): %r" % (
                    rss_end - rss1, done, RSS_MARGIN_KB, rss)


@test("a body cut short by a half-closed connection: no answer, and the "
      "connection is closed by server.connection_timeout at the latest",
      timeout=40)
def half_closed():
    with Daemon(conf(connection_timeout=CONN_TIMEOUT)) as d:
        n = 8
        results = [None] * n

        def one(k):
            t0 = time.monotonic()
            s = socket.create_connection(("127.0.0.1", d.port),
                                         timeout=CONN_TIMEOUT + 8)
            try:
                s.sendall(req(b"POST", b"/v4/events", b'{"type": "cu',
                              close=False, length=500))
                s.shutdown(socket.SHUT_WR)
                got = b""
                for _ in range(1000):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                results[k] = (time.monotonic() - t0, got)
            except OSError as e:
                results[k] = (time.monotonic() - t0, e)
            finally:
                s.close()
        threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=CONN_TIMEOUT + 15)
            assert not t.is_alive(), "a client thread did not finish"
        for took, got in results:
            assert got == b"", "want a close without an answer, got %r" % (
                got,)
            assert took <= CONN_TIMEOUT + 5, "closed after %.1f s" % took
        at_eof = sum(1 for took, _ in results if took < CONN_TIMEOUT - 0.5)
        print("# half-closed truncated bodies: %d connections, %d closed at "
              "the client's EOF, %d at connection_timeout (%d s)"
              % (n, at_eof, n - at_eof, CONN_TIMEOUT))
        assert d.get("/healthz").status == 200
        assert d.post_event({"type": "after"}).status == 202


FRAMING_TIMEOUT = 3   # server.connection_timeout of the framing test


def framing_cases():
    """Requests whose body length RFC 9112 section 6 says a server must not
    guess: (name, bytes, what is required). Each carries a second request
    behind the first (on the same connection), which must not be
    processed when the framing is ambiguous."""
    outer = b'{"type": "framing.outer"}'
    inner = req(b"POST", b"/v4/events", b'{"type": "framing.inner"}',
                close=False)
    both = outer + inner
    head = (b"POST /v4/events HTTP/1.1\r\n" + HOST
            + b"Content-Type: application/json\r\n")
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(outer), outer)
    return [
        # 6.3 item 5: an invalid Content-Length (here two different
        # values) is an unrecoverable error: 400, then close.
        ("two Content-Length values, the first shorter",
         head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
         % (len(outer), len(both)) + both, "400"),
        ("two Content-Length values, the first longer",
         head + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n"
         % (len(both), len(outer)) + both, "400"),
        ("a list of two Content-Length values",
         head + b"Content-Length: %d, %d\r\n\r\n" % (len(outer), len(both))
         + both, "400"),
        # 6.1: with both, the chunked framing may be used, but the
        # connection must be closed after the answer.
        ("Content-Length and chunked",
         head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
         % len(outer) + chunk + inner, "close"),
        # 6.1 and 6.3 item 4: a transfer coding the server does not know
        # (501), or chunked not the final coding (400).
        ("Transfer-Encoding: gzip, chunked",
         head + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunk + inner,
         "400/501"),
        ("Transfer-Encoding: gzip",
         head + b"Transfer-Encoding: gzip\r\n\r\n" + outer, "400/501"),
        ("Transfer-Encoding: identity with a Content-Length",
         head + b"Transfer-Encoding: identity\r\nContent-Length: %d\r\n\r\n"
         % len(outer) + outer, "400/501"),
        ("GET /healthz with Transfer-Encoding: gzip",
         b"GET /healthz HTTP/1.1\r\n" + HOST
         + b"Transfer-Encoding: gzip\r\n\r\n", "400/501"),
        # Controls: the coding name is case-insensitive; one Content-Length
        # and a pipelined second request are two events.
        ("Transfer-Encoding: Chunked",
         head + b"Transfer-Encoding: Chunked\r\n\r\n" + chunk, "202"),
        ("pipelined, well framed",
         head + b"Content-Length: %d\r\n\r\n" % len(outer) + both,
         "202 202"),
    ]


@test("ambiguous body framing (RFC 9112 section 6): two Content-Length "
      "values, Content-Length with chunked, unknown transfer codings: 400 "
      "or 501 (or a close), never a second request smuggled behind the "
      "first, never a hang", timeout=40)
def framing():
    with Daemon(conf(connection_timeout=FRAMING_TIMEOUT)) as d:
        cases = framing_cases()
        got = [None] * len(cases)

        def one(k):
            try:
                got[k] = wire(d.port, cases[k][1], shut=True, every=True)
            except (AssertionError, OSError) as e:
                got[k] = e
        threads = [threading.Thread(target=one, args=(k,))
                   for k in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=IO_TIMEOUT + 5)
            assert not t.is_alive(), "a client thread did not finish"
        failures = []
        for (name, data, want), answers in zip(cases, got):
            statuses = [a.status for a in answers] \
                if isinstance(answers, list) else answers
            problem = None
            if not isinstance(answers, list):
                problem = "%s" % answers
            elif want == "400":
                if statuses != [400]:
                    problem = "want one 400 and a close"
            elif want == "close":
                if len(statuses) > 1:
                    problem = "want one answer and a close: the second " \
                        "request was processed too"
            elif want == "400/501":
                if len(statuses) != 1 or statuses[0] not in (400, 501):
                    problem = "want one 400 or 501"
            elif statuses != [int(x) for x in want.split()]:
                problem = "want %s" % want
            if problem:
                failures.append("%s: %s, got %r\n    request: %r" % (
                    name, problem, answers, data[:200]))
        print("# class framing: %d requests" % len(cases))
        smuggled = d.records(msg="event", type="framing.inner")
        # The controls' second event is the only "inner" one allowed.
        assert len(smuggled) <= 1 or failures, smuggled
        assert d.get("/healthz").status == 200
        assert not failures, "%d of %d not as RFC 9112 requires:\n%s" % (
            len(failures), len(cases), "\n".join(failures))
        assert len(smuggled) == 1, "inner requests processed: %r" % smuggled


# ------------------------------------------------------------ API keys --

def routes_and_methods(sub):
    """Every /v4 route with every method the API has: (method, path)."""
    paths = ["/v4/events", "/v4/events/evt_x", "/v4/deliveries",
             "/v4/deliveries/dlv_x/retry", "/v4/deliveries/retry", "/v4/audit",
             "/v4/webhook-subscriptions", "/v4/webhook-subscriptions/" + sub,
             "/v4/webhook-subscriptions/" + sub + "/test",
             "/v4/nothing", "/v4/"]
    methods = ["GET", "HEAD", "POST", "PATCH", "DELETE"]
    return [(m, p) for p in paths for m in methods]


@test("API keys: every /v4 route and method without a key, with a wrong "
      "key of the same length, of another length, a prefix of the key, in "
      "x-api-key and in Authorization: Bearer -> 401 unauthorized; nothing "
      "is done; /healthz, /metrics and /hooks need no key", timeout=80)
def api_keys():
    config = barrage_conf(os.path.join(h.tmpdir(), "rec"),
                          api_keys=[KEY, "env:HOOKD_IT_KEY2"])
    good = {"x-api-key": KEY}
    with Daemon(config, env={"HOOKD_IT_KEY2": KEY2}) as d:
        r = d.post("/v4/webhook-subscriptions",
                   {"webhookUrl": "http://127.0.0.1:9/never",
                    "events": ["never.*"]}, good)
        assert r.status == 201, r
        sub = r.body["id"]
        flip = chr(ord(KEY[-1]) ^ 1)
        wrong = {
            "none": None,
            "same length": KEY[:-1] + flip,
            "same length, first byte": chr(ord(KEY[0]) ^ 1) + KEY[1:],
            "shorter": KEY[:-1],
            "longer": KEY + "0",
            "prefix": KEY[:16],
            "one character": KEY[0],
            "empty": "",
            "the second key cut to the first's length": KEY2[:len(KEY)],
            "both keys joined": KEY + KEY2,
            "case changed": KEY.upper(),
        }
        presentations = [
            ("x-api-key", lambda k: {"x-api-key": k}),
            ("Bearer", lambda k: {"Authorization": "Bearer " + k}),
        ]
        cases = []
        for name, key in wrong.items():
            if key is None:
                cases.append(("no key", {}))
                continue
            for how, make in presentations:
                cases.append(("%s (%s)" % (name, how), make(key)))
        cases += [("right key as Basic", {"Authorization": "Basic " + KEY}),
                  ("right key without a scheme", {"Authorization": KEY}),
                  ("right key in another header", {"X-Api-Token": KEY}),
                  ("Bearer without a key", {"Authorization": "Bearer"})]
        body = json.dumps({"type": "auth.probe"})
        failures = []
        sent = 0
        t0 = time.monotonic()
        for method, path in routes_and_methods(sub):
            for name, hdrs in cases:
                hd = dict(hdrs)
                data = None
                if method in ("POST", "PATCH"):
                    hd["Content-Type"] = "application/json"
                    data = body
                r = d.request(method, path, data, hd)
                sent += 1
                problem = None
                if method == "HEAD":
                    if r.status != 401:
                        problem = "want 401, got %r" % r
                else:
                    try:
                        assert_error(r, 401, "unauthorized")
                    except AssertionError as e:
                        problem = str(e)
                if problem is None and not r.headers.get(
                        "www-authenticate", "").startswith("Bearer"):
                    problem = "no WWW-Authenticate: Bearer in %r" % r
                if problem:
                    failures.append("%s %s, %s: %s" % (method, path, name,
                                                       problem))
        took = time.monotonic() - t0
        # Nothing happened: no event, no new subscription.
        assert not d.records(msg="event"), d.records(msg="event")[:3]
        subs = d.get("/v4/webhook-subscriptions", good).body["subscriptions"]
        assert [s["id"] for s in subs] == [sub], subs
        m = d.get("/metrics")
        assert m.status == 200, m
        rejected = re.search(r'^hookd_events_rejected_total\{reason='
                             r'"unauthorized"\} (\d+)', m.raw.decode(), re.M)
        assert rejected and int(rejected.group(1)) == sent, \
            "%d requests refused, the counter says %s" % (
                sent, rejected and rejected.group(1))

        # The right keys (each of both, both ways) open every route.
        opened = 0
        for key in (KEY, KEY2):
            for hd in ({"x-api-key": key}, {"Authorization": "Bearer " + key},
                       {"Authorization": "bearer  " + key}):
                for method, path in routes_and_methods(sub):
                    if method == "DELETE" and path.endswith(sub):
                        continue
                    hdrs = dict(hd)
                    data = None
                    if method in ("POST", "PATCH"):
                        hdrs["Content-Type"] = "application/json"
                        data = "{}"
                    r = d.request(method, path, data, hdrs)
                    opened += 1
                    if r.status == 401 or r.status >= 500:
                        failures.append("%s %s with %r: %r" % (
                            method, path, hd, r))
        # No key needed here.
        assert d.get("/healthz").status == 200
        m = d.get("/metrics")
        assert m.status == 200 and m.raw.startswith(b"# HELP"), m
        r = d.post("/hooks/open", {"a": 1})
        assert r.status == 202, r
        assert_error(d.post("/hooks/nothing", {"a": 1}), 404, "not_found")
        print("# api keys: %d requests with a missing or wrong key "
              "(%d routes and methods x %d keys) in %.1f s, all 401; %d with "
              "the right keys" % (sent, len(routes_and_methods(sub)),
                                  len(cases), took, opened))
        assert not failures, "%d not as documented:\n%s" % (
            len(failures), "\n".join(failures[:40]))
        # The key never appears in what hookd logged.
        log = d.log_text()
        assert KEY not in log and KEY2 not in log


if __name__ == "__main__":
    h.main()
