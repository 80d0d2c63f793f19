#!/usr/bin/env python3
"""HTTP API of hookd: statuses, JSON error codes, keys, backpressure."""

import http.client
import os
import select
import shutil
import socket
import ssl
import subprocess
import time

import hookdtest as h
from hookdtest import (Daemon, assert_error, conf, good_handler, http_request,
                       q, run_hookd, test)

KEY = "k3y-for-tests-0123456789"
ENV_KEY = "env-key-for-tests-abcdefghij"


def catalog_conf(record=None):
    """A catalog of two types (one with a required field), routed to g."""
    rec = {"record": record} if record else {}
    return conf("""
event_types = (
  { name = "order.created"; description = "an order was placed";
    required = ["/data/order_id", "/data/customer/id"]; },
  { name = "ping"; description = "liveness"; }
);
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
""" % good_handler("g", **rec))


@test("GET /healthz answers 200 {status: ok} as JSON")
def healthz():
    with Daemon(conf()) as d:
        r = d.get("/healthz")
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("application/json"), r
        assert r.body == {"status": "ok"}, r
        assert d.request("HEAD", "/healthz").status == 200


@test("GET /v4/events lists the catalog with names, descriptions, required")
def catalog():
    with Daemon(catalog_conf()) as d:
        r = d.get("/v4/events")
        assert r.status == 200, r
        ev = r.body["events"]
        # The configured types, then hookd's own operational event types.
        assert [e["name"] for e in ev] == ["order.created", "ping",
                                           "hookd.subscription.disabled"], ev
        assert ev[0]["description"] == "an order was placed", ev
        assert ev[0]["required"] == ["/data/order_id", "/data/customer/id"], ev
        assert ev[1]["description"] == "liveness", ev
        # The trailing-slash form is the same endpoint.
        assert d.get("/v4/events/").body == r.body


@test("GET /v4/events without a catalog lists only hookd's own event types")
def empty_catalog():
    with Daemon(conf()) as d:
        r = d.get("/v4/events")
        assert r.status == 200, r
        assert [e["name"] for e in r.body["events"]] == \
            ["hookd.subscription.disabled"], r
        assert r.body["events"][0]["description"], r


@test("400 invalid_json for malformed, empty and duplicate-key bodies, "
      "and for a NUL byte anywhere (jansson skips one after a number)")
def invalid_json():
    with Daemon(conf()) as d:
        for body in ['{"type": "a"', "", "[1, 2", '{"type":"a","type":"b"}',
                     "\xff\xfe", '{"type":"a","data":{"n":1\x00}}',
                     '{"type":"a","data":{"n":[1\x00]}}',
                     '{"type":"a"}\x00', '{"type":"a\x00"}']:
            r = d.post("/v4/events", body.encode("latin-1"),
                       {"Content-Type": "application/json"})
            assert_error(r, 400, "invalid_json", field=None)
        r = d.post("/v4/events", b'{"type":"a",\n "data":{"n":1\x00}}',
                   {"Content-Type": "application/json"})
        assert r.body["message"] == ("body is not valid JSON: a NUL byte is "
                                     "not allowed (line 2, column 15)"), r
        # Nothing was accepted.
        assert d.records(msg="event") == []


@test("error answers quoting text that is not UTF-8, or cut inside a "
      "character, still have a JSON body")
def error_text_not_utf8():
    # Found by tests/fuzz: jansson refuses such messages, and hookd closed
    # the connection without an answer.
    json_ct = {"Content-Type": "application/json"}
    with Daemon(conf()) as d:
        # jansson's excerpt of the body ends inside a 4-byte character.
        r = d.post("/v4/events",
                   b'{"caf\xc3\xa9\\u00e\xf0\x9f\x98\x809~\xc3\xa9": 1}',
                   json_ct)
        assert_error(r, 400, "invalid_json", field=None)
        # A path with a byte that is not UTF-8; one cut at 1023 bytes.
        for path in ["/%C3%A9%C3%A9/x%FF", "/x" + "%C3%A9" * 600]:
            assert_error(d.get(path), 404, "not_found")
        # A subscription member whose name is cut inside a character, and
        # one with "/" and "~", named by its JSON pointer.
        name = "x" + "\u00e9" * 600
        r = d.post("/v4/webhook-subscriptions",
                   ('{"%s": 1}' % name).encode(), json_ct)
        assert_error(r, 422, "invalid_request", field="/" + name)
        r = d.post("/v4/webhook-subscriptions", b'{"a/b~c": 1}', json_ct)
        assert_error(r, 422, "invalid_request", field="/a~1b~0c")
        assert d.get("/healthz").status == 200


@test("404 not_found for unknown paths, with a JSON body")
def not_found():
    with Daemon(conf()) as d:
        for method, path in [("GET", "/"), ("GET", "/v4/nothing"),
                             ("POST", "/v4/eventsx"), ("GET", "/healthz/x"),
                             ("DELETE", "/v3/events")]:
            assert_error(d.request(method, path), 404, "not_found")


@test("405 method_not_allowed with the Allow header")
def method_not_allowed():
    with Daemon(conf()) as d:
        for method in ("PUT", "DELETE", "PATCH"):
            r = d.request(method, "/v4/events", b"{}",
                          {"Content-Type": "application/json"})
            assert_error(r, 405, "method_not_allowed")
            allow = [m.strip() for m in r.headers.get("allow", "").split(",")]
            assert sorted(allow) == ["GET", "HEAD", "POST"], r
        r = d.post("/healthz", {"type": "x"})
        assert_error(r, 405, "method_not_allowed")
        allow = [m.strip() for m in r.headers.get("allow", "").split(",")]
        assert sorted(allow) == ["GET", "HEAD"], r
        # Still serving.
        assert d.get("/healthz").status == 200


@test("415 unsupported_media_type unless Content-Type is application/json")
def media_type():
    with Daemon(conf()) as d:
        body = b'{"type": "a"}'
        for ct in ("text/plain", "application/jsonx", "application/x-www-form-urlencoded",
                   "json"):
            r = d.post("/v4/events", body, {"Content-Type": ct})
            assert_error(r, 415, "unsupported_media_type")
        r = d.post("/v4/events", body, {})
        assert_error(r, 415, "unsupported_media_type")
        # Parameters and case do not matter.
        for ct in ("application/json; charset=utf-8", "Application/JSON"):
            r = d.post("/v4/events", body, {"Content-Type": ct})
            assert r.status == 202, (ct, r)


@test("413 payload_too_large for a declared Content-Length over max_body; "
      "the daemon still answers")
def too_large_declared():
    with Daemon(conf(max_body=1024)) as d:
        big = b'{"type": "a", "data": {"x": "' + b"y" * 5000 + b'"}}'
        req = (b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(big)) + big[:100]
        r = d.raw(req)
        assert_error(r, 413, "payload_too_large")
        # Exactly at the limit is fine.
        pad = 1024 - len(b'{"type":"a","data":{"x":""}}')
        ok = b'{"type":"a","data":{"x":"' + b"z" * pad + b'"}}'
        assert len(ok) == 1024
        r = d.post("/v4/events", ok, {"Content-Type": "application/json"})
        assert r.status == 202, r
        # One byte over is not.
        r = d.post("/v4/events", ok[:-2] + b' }}',
                   {"Content-Type": "application/json"})
        assert_error(r, 413, "payload_too_large")
        assert d.get("/healthz").status == 200
        assert d.post_event({"type": "after"}).status == 202


@test("413 payload_too_large for a chunked body over max_body; "
      "the daemon still answers")
def too_large_chunked():
    with Daemon(conf(max_body=1024)) as d:
        chunk = b"x" * 1000
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in
                        [b'{"type":"a","data":{"x":"'] + [chunk] * 4 + [b'"}}'])
        req = (b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n")
        r = d.raw(req)
        assert_error(r, 413, "payload_too_large")
        assert d.records(msg="event") == []
        # A small chunked body is accepted.
        small = b'{"type":"chunky"}'
        req = (b"POST /v4/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small))
        r = d.raw(req)
        assert r.status == 202, r
        assert d.get("/healthz").status == 200
        assert d.post_event({"type": "after"}).status == 202


@test("422 invalid_event names the offending member in field")
def invalid_event():
    cases = [
        ([1, 2], ""),
        ("just a string", ""),
        ({}, "/type"),
        ({"data": {}}, "/type"),
        ({"type": 5}, "/type"),
        ({"type": ""}, "/type"),
        ({"type": "has space"}, "/type"),
        ({"type": "-starts.with.dash"}, "/type"),
        ({"type": "x" * 129}, "/type"),
        ({"type": "a", "data": [1]}, "/data"),
        ({"type": "a", "data": "text"}, "/data"),
        ({"type": "a", "id": 7}, "/id"),
        ({"type": "a", "id": "bad id"}, "/id"),
        ({"type": "a", "id": ""}, "/id"),
        ({"type": "a", "tpye": "b"}, "/tpye"),
        ({"type": "a", "a/b": 1}, "/a~1b"),
    ]
    with Daemon(conf()) as d:
        for body, field in cases:
            r = d.post_event(body)
            try:
                assert_error(r, 422, "invalid_event", field=field)
            except AssertionError as e:
                raise AssertionError("body %r: %s" % (body, e))
        assert d.records(msg="event") == []
        # The longest valid type is fine.
        assert d.post_event({"type": "x" * 128}).status == 202


@test("422 unknown_event_type when the catalog lacks the type; "
      "any type without a catalog")
def unknown_type():
    with Daemon(catalog_conf()) as d:
        r = d.post_event({"type": "order.deleted", "data": {}})
        assert_error(r, 422, "unknown_event_type", field="/type")
        assert "order.created" in r.body["message"], r.body
        assert d.post_event({"type": "ping"}).status == 202
    with Daemon(conf()) as d:
        assert d.post_event({"type": "order.deleted"}).status == 202


@test("422 invalid_event with field = the missing required pointer")
def required_fields():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(catalog_conf(rec)) as d:
        r = d.post_event({"type": "order.created", "data": {"customer": {"id": 1}}})
        assert_error(r, 422, "invalid_event", field="/data/order_id")
        r = d.post_event({"type": "order.created", "data": {"order_id": 1}})
        assert_error(r, 422, "invalid_event", field="/data/customer/id")
        r = d.post_event({"type": "order.created"})
        assert_error(r, 422, "invalid_event", field="/data/order_id")
        r = d.post_event({"type": "order.created",
                          "data": {"order_id": 1, "customer": {"name": "x"}}})
        assert_error(r, 422, "invalid_event", field="/data/customer/id")
        # null counts as present.
        ev = d.publish({"type": "order.created",
                        "data": {"order_id": None, "customer": {"id": "c1"}}})
        assert ev["deliveries"] == 1, ev
        h.wait_lines(rec, 1)
        assert [r[1] for r in h.records(rec)] == [ev["id"]]


@test("an event no route matches is accepted with deliveries 0")
def zero_routes():
    with Daemon(conf("""
handlers = { %s };
routes = ( { events = ["order.*"]; handlers = ["g"]; } );
""" % good_handler("g"))) as d:
        r = d.post_event({"type": "user.created", "data": {"a": 1}})
        assert r.status == 202, r
        assert r.body["deliveries"] == 0, r
        assert r.body["id"].startswith("evt_"), r
        d.wait_log(msg="event", id=r.body["id"], deliveries="0")
        r2 = d.post_event({"type": "user.created"})
        assert r2.body["id"] != r.body["id"], "event ids repeat"
    with Daemon(conf()) as d:  # no routes at all
        r = d.post_event({"type": "anything"})
        assert r.status == 202 and r.body["deliveries"] == 0, r


@test("a client-supplied id is echoed, logged and delivered")
def client_id():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
""" % good_handler("g", record=rec))) as d:
        eid = "client-Id_1.2:3"
        r = d.post_event({"type": "t", "id": eid, "data": {}})
        assert r.status == 202, r
        assert r.body == {"id": eid, "deliveries": 1}, r
        d.wait_log(msg="event", id=eid, type="t", deliveries="1")
        h.wait_lines(rec, 1)
        assert h.records(rec) == [(1, eid, "t", "g")]


@test("api keys: 401 unauthorized without or with a wrong key; x-api-key, "
      "Bearer and env: keys work; /healthz needs none")
def api_keys():
    config = conf(api_keys=[KEY, "env:HOOKD_IT_API_KEY"])
    with Daemon(config, env={"HOOKD_IT_API_KEY": ENV_KEY}) as d:
        ev = {"type": "t"}
        for hdrs in [{}, {"x-api-key": "wrong-key-0123456789"},
                     {"x-api-key": KEY[:-1]}, {"x-api-key": KEY + "x"},
                     {"Authorization": "Bearer nope"},
                     {"Authorization": "Basic " + KEY},
                     {"x-api-key": ""}]:
            r = d.post_event(ev, headers=hdrs)
            assert_error(r, 401, "unauthorized")
            assert r.headers.get("www-authenticate", "").startswith("Bearer"), r
            assert_error(d.get("/v4/events", hdrs), 401, "unauthorized")
        # Auth is decided before the path: unknown /v4 paths are 401 too.
        assert_error(d.get("/v4/nothing"), 401, "unauthorized")
        assert_error(d.get("/nothing"), 404, "not_found")
        assert d.records(msg="event") == []
        for hdrs in [{"x-api-key": KEY}, {"Authorization": "Bearer " + KEY},
                     {"Authorization": "bearer " + KEY},
                     {"x-api-key": ENV_KEY},
                     {"Authorization": "Bearer " + ENV_KEY}]:
            assert d.post_event(ev, headers=hdrs).status == 202, hdrs
            assert d.get("/v4/events", hdrs).status == 200, hdrs
        r = d.get("/healthz")
        assert r.status == 200 and r.body == {"status": "ok"}, r


@test("a key from a file: works without the file's trailing newline")
def api_key_file():
    path = os.path.join(h.tmpdir(), "key")
    with open(path, "w") as f:
        f.write(KEY + "\r\n")
    with Daemon(conf(api_keys=["file:" + path])) as d:
        assert d.post_event({"type": "t"}, key=KEY).status == 202
        assert_error(d.post_event({"type": "t"}, key=KEY[1:]), 401,
                     "unauthorized")


def metric(d, name):
    """The value of an unlabelled series of GET /metrics."""
    for line in d.get("/metrics").raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


def queue_gauges(d):
    """in_flight + ready + scheduled of hookd_queue_deliveries."""
    total = 0
    for line in d.get("/metrics").raw.decode().splitlines():
        if line.startswith("hookd_queue_deliveries{"):
            total += int(line.split()[1])
    return total


@test("past queue_size, accepted deliveries are parked in the store, not "
      "refused: memory never holds more than queue_size, each is delivered "
      "once, and the claimed counter shows them coming back",
      timeout=60)
def backlog_parked():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(conf("""
queue_size = 4;
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["slow"]; } );
""" % good_handler("slow", mode="sleep", sleep_ms=50, concurrency=1,
                   record=rec))) as d:
        accepted = []
        for i in range(30):
            r = d.post_event({"type": "work", "data": {"i": i}})
            assert r.status == 202 and r.body["deliveries"] == 1, r
            accepted.append(r.body["id"])
        most = 0
        deadline = time.monotonic() + 30
        while len(h.records(rec)) < len(accepted):
            assert time.monotonic() < deadline, \
                "%d of %d delivered" % (len(h.records(rec)), len(accepted))
            most = max(most, queue_gauges(d))
            time.sleep(0.02)
        assert most <= 4, "memory held %d deliveries, queue_size is 4" % most
        got = [x[1] for x in h.records(rec)]
        assert sorted(got) == sorted(accepted), (got, accepted)
        assert len(set(got)) == len(got), "delivered twice: %r" % got
        assert metric(d, "hookd_deliveries_claimed_total") >= 26 - 4, \
            d.get("/metrics").raw.decode()
        for eid in accepted:
            ev = h.wait_for(lambda: (lambda r: r.body if r.status == 200 and
                                     r.body["deliveries"][0]["state"] ==
                                     "succeeded" else None)(
                d.get("/v4/events/" + eid)), 10, "event %s succeeded" % eid)
            assert len(ev["deliveries"]) == 1, ev


# ------------------------------------------------------- TLS and limits --

def make_cert(folder):
    """A self-signed certificate for 127.0.0.1: (cert path, key path)."""
    cert = os.path.join(folder, "cert.pem")
    key = os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


@test("server.tls_cert/tls_key: hookd serves HTTPS; a client trusting the "
      "certificate publishes and the event is delivered; an untrusting one "
      "and plain HTTP get nowhere")
def tls_listener():
    if shutil.which("openssl") is None:
        h.skip("the openssl command is not installed")
    t = h.tmpdir()
    cert, key = make_cert(t)
    rec = os.path.join(t, "rec")
    d = Daemon(conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
""" % good_handler("g", record=rec), tls_cert=cert, tls_key=key))
    d.tls = ssl.create_default_context(cafile=cert)
    with d:
        assert d.records(msg="listening", tls="on"), d.log_text()
        ev = d.publish({"type": "secure"})
        h.wait_lines(rec, 1)
        assert h.records(rec)[0][1] == ev["id"]
        strict = ssl.create_default_context()  # the system's CAs only
        try:
            http_request(d.port, "GET", "/healthz", tls=strict)
            raise AssertionError("an untrusted certificate was accepted")
        except ssl.SSLCertVerificationError:
            pass
        try:
            r = http_request(d.port, "GET", "/healthz", timeout=3)
            assert r.status != 200, "plain HTTP answered on the TLS port"
        except (OSError, http.client.HTTPException):
            pass  # the TLS layer drops it: fine


@test("server.tls_cert without tls_key, and an unreadable key file: "
      "--check-config names the line")
def tls_config_errors():
    t = h.tmpdir()
    cert, key = (make_cert(t) if shutil.which("openssl")
                 else (os.path.join(t, "c.pem"), None))
    if key is None:
        with open(cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n")
    path = os.path.join(t, "half.conf")
    with open(path, "w") as f:
        f.write('server = {\n  listen = "127.0.0.1:0";\n  tls_cert = %s;\n};\n'
                % q(cert))
    r = run_hookd(["--check-config", "-c", path])
    assert r.returncode == 1, r
    assert "%s:3: tls_cert and tls_key go together" % path in r.stderr, r.stderr
    with open(path, "w") as f:
        f.write('server = {\n  listen = "127.0.0.1:0";\n  tls_cert = %s;\n'
                '  tls_key = %s;\n};\n' % (q(cert), q(os.path.join(t, "nope.pem"))))
    r = run_hookd(["--check-config", "-c", path])
    assert r.returncode == 1, r
    assert "%s:4: tls_key: cannot read %s" % (path, os.path.join(t, "nope.pem")) \
        in r.stderr, r.stderr


def open_idle(port, n):
    """n connections that sent half a request line and wait, each one held
    by the server. A connection the server refused at once (an earlier
    one of ours, such as the start-up /healthz probe, not yet released
    when it came) is opened again, up to 10 times."""
    socks = []
    for _ in range(10):
        while len(socks) < n:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /healthz HT")
            socks.append(s)
        # A refused one is answered 503 or closed at once; a held one
        # stays silent.
        ready = select.select(socks, [], [], 0.3)[0]
        for s in ready:
            socks.remove(s)
            s.close()
        if len(socks) == n:
            return socks
    for s in socks:
        s.close()
    raise AssertionError("the server did not hold %d idle connections" % n)


@test("max_connections_per_ip: past it a client's new connection is "
      "answered 503 too_many_connections and closed while its slow ones "
      "hold theirs; connection_timeout cuts the slow ones off, then "
      "requests are answered again", timeout=40)
def connection_limits():
    with Daemon(conf("", max_connections_per_ip=3,
                     connection_timeout=4, threads=1)) as d:
        socks = open_idle(d.port, 3)
        try:
            # Well inside connection_timeout: once the slow ones are cut
            # off, a 4th connection is rightly served.
            r = http_request(d.port, "GET", "/healthz", timeout=1.5)
            assert_error(r, 503, "too_many_connections")
            assert r.headers.get("connection") == "close", r
            # The slow ones are closed by the server after the timeout.
            t0 = time.monotonic()
            for s in socks:
                s.settimeout(10)
                try:
                    got = s.recv(100)
                except ConnectionResetError:
                    got = b""  # closed with the half request unread
                assert got == b"", "the server answered a half request"
            assert time.monotonic() - t0 < 10
        finally:
            for s in socks:
                s.close()
        # Until libmicrohttpd has reaped the closed ones, a new connection
        # may still count against the limit and be closed unanswered.
        def answered():
            try:
                return d.get("/healthz", timeout=2).status == 200
            except (OSError, http.client.HTTPException):
                return False
        h.wait_for(answered, 10, "healthz answered again", interval=0.1)


if __name__ == "__main__":
    h.main()
