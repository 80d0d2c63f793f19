#!/usr/bin/env python3
"""The http plugin against a real receiver (http_sink.py), through the real
daemon: outcomes, request shape, GET, keep-alive, the SSRF guard, settings
checks, and signatures verified by the receivers' own libraries (Node)."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse

import hookdtest as h
from hookdtest import Daemon, conf, q, qlist, test

from receivers import SINK, Sink, node_verifier

# Standard Webhooks' published example key, a second key (bytes 1..32) for
# rotation, and one no handler uses.
S1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
S2 = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
S3 = "whsec_" + base64.b64encode(b"\x07" * 32).decode()
GH = "It's a Secret to Everybody"

# The guard on, with an exception for the loopback sink.
GUARD = {"ssrf_guard": True, "allow_targets": ["127.0.0.1/32"]}


# ---------------------------------------------------------------- config --

def value(v):
    """A Python value as libconfig text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return qlist(v)
    if isinstance(v, dict):
        return "{ %s }" % " ".join("%s = %s;" % (k, q(x)) for k, x in v.items())
    return q(v)


def handler(name, url, **keys):
    parts = ['plugin = "http";', "url = %s;" % q(url)]
    parts += ["%s = %s;" % (k, value(v)) for k, v in keys.items()]
    return "%s = { %s };" % (name, " ".join(parts))


def routes(pairs, retry=(0.2, 0.2)):
    """One route per (event type, handler) pair, each with `retry`."""
    r = " retry = [%s];" % ", ".join(str(x) for x in retry)
    return "routes = (\n%s\n);\n" % ",\n".join(
        "  { events = [%s]; handlers = [%s];%s }" % (q(t), q(n), r)
        for t, n in pairs)


def http_conf(handlers, pairs, retry=(0.2, 0.2), extra=""):
    return conf("handlers = {\n%s\n};\n%s%s" % (
        "\n".join(handlers), routes(pairs, retry), extra))


def history(d, eid, deliveries=1):
    """GET /v4/events/{id}, which must have `deliveries` deliveries."""
    r = d.get("/v4/events/" + eid)
    assert r.status == 200, r
    assert len(r.body["deliveries"]) == deliveries, r.body
    return r.body


def version():
    r = h.run_hookd(["--version"])
    m = re.match(r"hookd (\S+)", r.stdout)
    assert m, r.stdout
    return m.group(1)


# The documentation's receiver code (docs/plugins/http.md), used as is.
def verify_standard_webhooks(secret, headers, body, tolerance=300):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(
        hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, sig[3:])
               for sig in headers["webhook-signature"].split()
               if sig.startswith("v1,"))


def verify_github(secret, headers, body):
    expected = "sha256=" + hmac.new(secret.encode(), body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected,
                               headers.get("x-hub-signature-256", ""))


# A host name no resolver can answer, decided on this machine: its first
# label is 64 characters, one more than DNS allows.
NO_SUCH_HOST = "x" * 64 + ".invalid"

# ----------------------------------------------------------------- tests --

@test("outcomes: 2xx ok (with reason_body, the body in its reason); 500, "
      "408, 429 (Retry-After seconds and date), timeout, a dropped "
      "connection, a refused one and a name that does not resolve (guard on "
      "or off) retry; 410, 404, 301 and 302 fail; reasons in the attempt log "
      "and the event history", timeout=60)
def outcomes():
    quick = {"timeout": 2, "connect_timeout": 1}
    with Sink() as s:
        cases = {
            # name: (path or URL, extra keys; the guard is on, with the
            # sink's exception, unless they say ssrf_guard = false)
            "ok": ("/ok", {}),
            "okbody": ("/ok", {"reason_body": True}),
            "nobody": ("/status/204", {"reason_body": True}),
            "e500": ("/status/500", {}),
            "e503": ("/status/503", {}),
            "e408": ("/status/408", {}),
            "e429": ("/status/429", {}),
            "date": ("/retry-date", {}),
            "gone": ("/status/410", {}),
            "e404": ("/status/404", {}),
            "moved": ("/status/301", {}),
            "found": ("/status/302", {}),
            "slow": ("/slow", {"timeout": 1, "connect_timeout": 1}),
            "drop": ("/drop", {}),
            "messy": ("/messy", {}),
            # Nothing listens there: refused at once.
            "refused": ("http://127.0.0.1:%d/x" % h.closed_port(), quick),
            # A name that cannot resolve: curl's lookup, and the guard's
            # own one. Its first label is longer than DNS allows (63), so
            # the resolver refuses it without asking a server: the same
            # answer on a machine without DNS as on one with it.
            "nxdomain": ("http://%s/x" % NO_SUCH_HOST,
                         dict(quick, ssrf_guard=False)),
            "nxguard": ("http://%s/x" % NO_SUCH_HOST, quick),
        }

        def keys(k):
            return k if k.get("ssrf_guard") is False else dict(GUARD, **k)
        hs = [handler(n, p if p.startswith("http:") else s.url(p), **keys(k))
              for n, (p, k) in cases.items()]
        # The date case gets one retry: its hint is about 3 s.
        config = conf("handlers = {\n%s\n};\nroutes = (\n%s\n);\n" % (
            "\n".join(hs), ",\n".join(
                "  { events = [%s]; handlers = [%s]; retry = [%s]; }"
                % (q("t." + n), q(n), "0.2" if n == "date" else "0.2, 0.2")
                for n in cases)))
        with Daemon(config) as d:
            ids = {n: d.publish({"type": "t." + n, "data": {"n": n}})["id"]
                   for n in cases}
            oks = ("ok", "okbody", "nobody")
            for n in oks:
                d.wait_log(msg="attempt", event=ids[n], outcome="ok")
            for n in cases:
                if n not in oks:
                    d.wait_log(msg="dead", event=ids[n], timeout=20)

            def attempts(n):
                return [(r["outcome"], r["reason"], r.get("retry_in_ms"))
                        for r in d.records(msg="attempt", event=ids[n])]

            assert attempts("ok") == [("ok", "200", None)], attempts("ok")
            assert attempts("okbody") == [("ok", "200: ok", None)], \
                attempts("okbody")
            assert attempts("nobody") == [("ok", "204", None)], \
                attempts("nobody")
            for n, reason in (("e500", "500: upstream exploded"),
                              ("e503", "503: maintenance"),
                              ("e408", "408: request timeout"),
                              ("e429", "429: slow down")):
                a = attempts(n)
                assert [x[:2] for x in a] == [("retry", reason)] * 3, a
            # Retry-After: 1 beats the 200 ms schedule.
            for _, _, delay in attempts("e429")[:2] + attempts("e503")[:2]:
                assert int(delay) >= 1000, attempts("e429")
            # Retry-After as an HTTP date, 3 s ahead (whole seconds).
            a = attempts("date")
            assert [x[:2] for x in a] == [("retry", "429: come back later")] * 2, a
            assert int(a[0][2]) >= 1000, a
            for n, reason in (
                    ("gone", "410 Gone: subscription removed"),
                    ("e404", "404: no such hook"),
                    ("moved", "301: redirect not followed (Location: "
                              "http://example.invalid/moved-here)"),
                    ("found", "302: redirect not followed (Location: "
                              "http://example.invalid/moved-here)")):
                assert attempts(n) == [("fail", reason, None)], attempts(n)
                dead = d.records(msg="dead", event=ids[n])[0]
                assert dead["attempts"] == "1" and dead["reason"] == reason, dead
            a = attempts("slow")
            assert [x[0] for x in a] == ["retry"] * 3, a
            assert all(x[1].startswith("timeout: no complete response "
                                       "within 1s") for x in a), a
            a = attempts("drop")
            assert [x[0] for x in a] == ["retry"] * 3, a
            # Fresh connections the receiver drops read "Empty reply";
            # kept-alive ones (every target here is one receiver, whose
            # connections the engine shares) that it drops make curl try
            # others first: "Connection died, tried 5 times …".
            assert all(x[1] in ("connection: Empty reply from server",
                                "connection: Connection died, tried 5 "
                                "times before giving up")
                       for x in a), a
            a = attempts("refused")
            assert [x[0] for x in a] == ["retry"] * 3, a
            assert all(x[1].startswith("connect: ") for x in a), a
            # curl's words without the guard ("dns: Could not resolve
            # host: ..."), getaddrinfo's with it ("dns: NAME: ...").
            for n in ("nxdomain", "nxguard"):
                a = attempts(n)
                assert [x[0] for x in a] == ["retry"] * 3, a
                assert all(x[1].startswith("dns: ") and
                           NO_SUCH_HOST[:40] in x[1] for x in a), a
            assert attempts("nxguard")[0][1].startswith(
                "dns: %s" % NO_SUCH_HOST[:40]), attempts("nxguard")
            a = attempts("messy")
            reason = a[0][1]
            assert reason.startswith("500: line one line?two ?[31mred?[0m "
                                     "caf\u00e9 ?? xxxx"), reason
            assert reason.endswith("x...") and len(reason) <= 210, reason
            # The redirects were not followed: one request each, to the
            # sink (following would have ended in a DNS error, a retry).
            assert len(s.requests("/status/301")) == 1
            assert len(s.requests("/status/302")) == 1
            # Each attempt reached the sink (the guard let 127.0.0.1 pass).
            assert len(s.requests("/status/500")) == 3
            # A request the receiver reads and then drops the connection
            # of, on a kept-alive connection, curl sends again on another
            # (it cannot tell that from a connection closed while idle),
            # at most 5 times in all per attempt.
            assert 3 <= len(s.requests("/drop")) <= 15, s.requests("/drop")

            # The same story in GET /v4/events/{id}, once the store has
            # the last results (the log line of an attempt comes before
            # its result is committed).
            for n, count in (("e500", 3), ("slow", 3), ("gone", 1)):
                h.wait_for(lambda: len(history(d, ids[n])["deliveries"][0]
                                       ["attempts"]) >= count, 10,
                           "%d attempts of %s in the store" % (count, n))
            ev = history(d, ids["e500"])
            dl = ev["deliveries"][0]
            assert dl["state"] == "dead" and dl["attemptCount"] == 3, dl
            assert [(x["attempt"], x["outcome"], x["detail"])
                    for x in dl["attempts"]] == [
                (i, "retry", "500: upstream exploded") for i in (1, 2, 3)], dl
            dl = history(d, ids["gone"])["deliveries"][0]
            assert dl["state"] == "dead" and dl["lastOutcome"] == "fail", dl
            assert dl["lastReason"].startswith("410 Gone"), dl
            dl = history(d, ids["ok"])["deliveries"][0]
            assert dl["state"] == "succeeded", dl
            assert [(x["outcome"], x["detail"]) for x in dl["attempts"]] == [
                ("ok", "200")], dl
            dl = history(d, ids["slow"])["deliveries"][0]
            assert [x["outcome"] for x in dl["attempts"]] == ["retry"] * 3, dl
            assert all(900 <= x["durationMs"] < 2500 for x in dl["attempts"]), dl


@test("request: webhook-id is the event id on every retry, User-Agent, "
      "Content-Type, rendered headers (a secret from env:), the body is the "
      "envelope, signed", timeout=30)
def request_shape():
    with Sink() as s:
        hs = [handler("shape", s.url("/flaky/3"), sign="standard-webhooks",
                      secret=S1, headers={
                          "X-Event-Type": "{{type}}",
                          "X-Workflow": "{{data.workflow.id | none}}",
                          "X-Attempt": "{{attempt}}",
                          "X-Static": "fixed value",
                          "X-Empty": "",
                          "Authorization": "env:HOOKD_IT_TOKEN",
                      }, **GUARD)]
        env = {"HOOKD_IT_TOKEN": "Bearer t0k3n"}
        with Daemon(http_conf(hs, [("workflow.*", "shape")], retry=[0.1, 0.1]),
                    env=env) as d:
            t0 = int(time.time())
            data = {"workflow": {"id": "wf 1/\u00e9"}, "text": "caf\u00e9 \"q\""}
            ev = d.publish({"type": "workflow.finished", "data": data})
            recs = d.wait_log(count=3, msg="attempt", event=ev["id"])
            assert [r["outcome"] for r in recs] == ["retry", "retry", "ok"], recs
            reqs = s.requests("/flaky/3")
            assert len(reqs) == 3, reqs
            stored = history(d, ev["id"])
            stored.pop("deliveries")
            ua = "hookd/" + version()
            stamps = []
            for i, r in enumerate(reqs, 1):
                hd = r["hdr"]
                assert r["method"] == "POST", r
                assert hd["webhook-id"] == ev["id"], (i, hd)
                stamps.append(int(hd["webhook-timestamp"]))
                assert hd["user-agent"] == ua, hd
                assert hd["content-type"] == "application/json", hd
                assert hd["x-event-type"] == "workflow.finished", hd
                assert hd["x-workflow"] == "wf 1/\u00e9".encode().decode(
                    "latin-1"), hd
                assert hd["x-attempt"] == str(i), hd
                assert hd["x-static"] == "fixed value", hd
                assert hd["x-empty"] == "", hd
                assert hd["authorization"] == "Bearer t0k3n", hd
                assert "expect" not in hd, hd
                assert "x-hub-signature-256" not in hd, hd
                assert int(hd["content-length"]) == len(r["body"]), hd
                assert r["body"] == reqs[0]["body"], "body changed on retry"
                body = json.loads(r["body"].decode("utf-8"))
                assert body == stored, (body, stored)
                assert sorted(body) == ["data", "id", "source", "timestamp",
                                        "type"], body
                assert body["data"] == data, body
                assert verify_standard_webhooks(S1, hd, r["body"]), hd
                assert not verify_standard_webhooks(S2, hd, r["body"]), hd
                assert hd["webhook-signature"].startswith("v1,"), hd
                assert " " not in hd["webhook-signature"], hd
            assert t0 - 5 <= stamps[0] <= stamps[1] <= stamps[2] \
                <= int(time.time()) + 1, stamps


@test("body templates: text/plain raw, JSON escaped, form URL-encoded, "
      "body_escape = raw; PUT and PATCH carry the body", timeout=30)
def body_templates():
    with Sink() as s:
        hs = [
            handler("put", s.url("/put"), method="PUT",
                    content_type="text/plain; charset=utf-8",
                    body="{{type}} by {{data.user | someone}}\n"),
            handler("patch", s.url("/patch"), method="patch",
                    body='{"text": "{{data.msg}}", "n": "{{data.n}}"}'),
            handler("form", s.url("/form"),
                    content_type="application/x-www-form-urlencoded",
                    body="event={{type}}&msg={{data.msg}}"),
            handler("raw", s.url("/raw"), body_escape="raw",
                    content_type="application/cloudevents+json",
                    body='{"specversion": "1.0", "id": "{{id}}", '
                         '"data": {{data}}}'),
            handler("inject", s.url("/inject"),
                    headers={"X-Evil": "{{data.evil}}"}),
        ]
        msg = 'say "hi"\n& bye = \u00e9'
        with Daemon(http_conf(hs, [("b.*", n) for n in
                                   ("put", "patch", "form", "raw")] +
                              [("inj", "inject")])) as d:
            # A rendered header value cannot smuggle in another header.
            bad = d.publish({"type": "inj",
                             "data": {"evil": "a\r\nX-Injected: 1"}})
            dead = d.wait_log(msg="dead", event=bad["id"])[0]
            assert dead["attempts"] == "1", dead
            assert dead["reason"] == ("headers: X-Evil: the rendered value "
                                      "holds a control character (line "
                                      "break?)"), dead
            ev = d.publish({"type": "b.x", "data": {"msg": msg, "n": 7,
                                                   "user": "ann"}})
            d.wait_log(count=4, msg="attempt", event=ev["id"], outcome="ok")
            put = s.requests("/put")[0]
            assert put["method"] == "PUT", put
            assert put["body"] == b"b.x by ann\n", put
            assert put["hdr"]["content-type"] == "text/plain; charset=utf-8"
            patch = s.requests("/patch")[0]
            assert patch["method"] == "PATCH", patch
            assert json.loads(patch["body"]) == {"text": msg, "n": "7"}, patch
            form = s.requests("/form")[0]
            assert form["method"] == "POST", form
            assert urllib.parse.parse_qs(form["body"].decode()) == {
                "event": ["b.x"], "msg": [msg]}, form
            raw = s.requests("/raw")[0]
            assert json.loads(raw["body"]) == {
                "specversion": "1.0", "id": ev["id"],
                "data": {"msg": msg, "n": 7, "user": "ann"}}, raw
            assert raw["hdr"]["content-type"] == "application/cloudevents+json"
            assert s.requests("/inject") == []


@test("GET: no body but Content-Type and User-Agent, the event as query "
      "parameters id, type, timestamp, source, data; URL placeholders "
      "percent-encoded; signed over the empty body", timeout=30)
def get_method():
    with Sink() as s:
        hs = [handler("q", s.url("/get?fixed=1"), method="GET",
                      sign="standard-webhooks", secret=S1, **GUARD),
              handler("p", s.url("/by/{{type}}/{{data.s}}#frag"),
                      method="get", content_type="text/plain")]
        with Daemon(http_conf(hs, [("*", "q"), ("*", "p")])) as d:
            data = {"a": [1, {"b": None}], "s": "x&y=z \u00e9/?#"}
            ev = d.publish({"type": "a:b.c", "data": data})
            d.wait_log(count=2, msg="attempt", event=ev["id"], outcome="ok")
            stored = history(d, ev["id"], deliveries=2)
            r = s.requests("/get")[0]
            assert r["method"] == "GET" and r["body"] == b"", r
            # Every request carries hookd's Content-Type and User-Agent,
            # a GET without a body too.
            assert r["hdr"].get("content-type") == "application/json", r["hdr"]
            assert r["hdr"].get("user-agent") == "hookd/" + version(), r["hdr"]
            assert r["hdr"].get("content-length", "0") == "0", r["hdr"]
            path, _, query = r["path"].partition("?")
            assert path == "/get", r["path"]
            qs = urllib.parse.parse_qs(query, keep_blank_values=True,
                                       strict_parsing=True)
            assert json.loads(qs.pop("data")[0]) == data, query
            assert qs == {"fixed": ["1"], "id": [ev["id"]], "type": ["a:b.c"],
                          "timestamp": [stored["timestamp"]],
                          "source": ["api"]}, qs
            assert [k for k, _ in urllib.parse.parse_qsl(query)] == [
                "fixed", "id", "type", "timestamp", "source", "data"], query
            assert verify_standard_webhooks(S1, r["hdr"], b""), r["hdr"]
            r = s.requests("/by/")[0]
            assert r["hdr"].get("content-type") == "text/plain", r["hdr"]
            path, _, query = r["path"].partition("?")
            assert path == "/by/a%3Ab.c/x%26y%3Dz%20%C3%A9%2F%3F%23", r["path"]
            assert urllib.parse.parse_qs(query)["id"] == [ev["id"]], r["path"]
            assert "frag" not in r["path"], r["path"]


@test("keep-alive: 5 events through a concurrency-1 handler use at most "
      "one connection per worker", timeout=30)
def keep_alive():
    with Sink() as s:
        hs = [handler("ka", s.url("/ka"), concurrency=1, **GUARD)]
        with Daemon(http_conf(hs, [("*", "ka")], extra="workers = 2;\n")) as d:
            ids = [d.publish({"type": "k", "data": {"i": i}})["id"]
                   for i in range(5)]
            d.wait_log(count=5, msg="attempt", outcome="ok")
            reqs = s.requests("/ka")
            assert sorted(json.loads(r["body"])["id"] for r in reqs) == \
                sorted(ids), reqs
            ports = [r["client_port"] for r in reqs]
            # Two workers, so at most two handles; 5 requests on at most two
            # connections put 3 or more on one.
            assert len(set(ports)) <= 2, ports
            assert max(ports.count(p) for p in ports) >= 3, ports


@test("ssrf guard: 127.0.0.1, localhost, mapped, decimal, metadata, "
      "private, unspecified (v4, v6), multicast (v4, v6) and IPv6 link-local "
      "addresses refused without an exception; nothing reaches the sink",
      timeout=30)
def ssrf_refusals():
    with Sink() as s:
        guard = {"ssrf_guard": True}
        cases = {
            "lit": (s.url("/ok"), guard,
                    r"ssrf: 127\.0\.0\.1 is a loopback address"),
            "name": (s.url("/ok", host="localhost"), guard,
                     r"ssrf: localhost resolves to (127\.0\.0\.1|::1), a "
                     r"loopback address"),
            "mapped": (s.url("/ok", host="[::ffff:127.0.0.1]"), guard,
                       r"ssrf: ::ffff:127\.0\.0\.1 is a loopback address"),
            "v6": (s.url("/ok", host="[::1]"), guard,
                   r"ssrf: ::1 is a loopback address"),
            "decimal": (s.url("/ok", host="2130706433"), guard,
                        r"ssrf: (127\.0\.0\.1|2130706433 resolves to "
                        r"127\.0\.0\.1,) (is )?a loopback address"),
            "other": (s.url("/ok"), {"ssrf_guard": True,
                                     "allow_targets": ["10.0.0.0/8",
                                                       "::1/128"]},
                      r"ssrf: 127\.0\.0\.1 is a loopback address"),
            "meta": ("http://169.254.169.254/latest/meta-data/", guard,
                     r"ssrf: 169\.254\.169\.254 is a link-local address"),
            "private": ("http://10.0.0.1:9/x", guard,
                        r"ssrf: 10\.0\.0\.1 is a private address"),
            "ula": ("http://[fd00::1]:9/x", guard,
                    r"ssrf: fd00::1 is a private address"),
            "cgnat": ("http://100.64.0.1:9/x", guard,
                      r"ssrf: 100\.64\.0\.1 is a shared \(carrier-grade NAT\) "
                      r"address"),
            "zero": (s.url("/ok", host="0.0.0.0"), guard,
                     r"ssrf: 0\.0\.0\.0 is the unspecified address"),
            "zero6": (s.url("/ok", host="[::]"), guard,
                      r"ssrf: :: is the unspecified address"),
            "mcast": ("http://224.0.0.1:9/x", guard,
                      r"ssrf: 224\.0\.0\.1 is a multicast address"),
            "mcast6": ("http://[ff02::1]:9/x", guard,
                       r"ssrf: ff02::1 is a multicast address"),
            "link6": ("http://[fe80::1]:9/x", guard,
                      r"ssrf: fe80::1 is a link-local address"),
        }
        # "localhost" needs /etc/hosts, which a bare build chroot may
        # lack: then the name case is left out and the control uses the
        # address.
        try:
            socket.getaddrinfo("localhost", 80)
            local = "localhost"
        except socket.gaierror:
            print("# localhost does not resolve here: its case is left out")
            del cases["name"]
            local = "127.0.0.1"
        hs = [handler(n, u, **k) for n, (u, k, _) in cases.items()]
        # Controls: the exception lets the sink through, and without the
        # guard (the default) localhost is reachable.
        hs.append(handler("allowed", s.url("/allowed"), **GUARD))
        hs.append(handler("off", s.url("/off", host=local)))
        pairs = [("*", n) for n in cases] + [("*", "allowed"), ("*", "off")]
        with Daemon(http_conf(hs, pairs)) as d:
            ev = d.publish({"type": "probe"})
            dead = d.wait_log(count=len(cases), msg="dead", event=ev["id"])
            by = {r["target"]: r for r in dead}
            for n, (_, _, pattern) in cases.items():
                assert n in by, (n, dead)
                assert by[n]["attempts"] == "1", by[n]
                assert re.fullmatch(pattern, by[n]["reason"]), by[n]
            ok = d.wait_log(count=2, msg="attempt", event=ev["id"],
                            outcome="ok")
            assert sorted(r["target"] for r in ok) == ["allowed", "off"], ok
            assert [r["path"] for r in s.requests()] in (
                ["/allowed", "/off"], ["/off", "/allowed"]), s.requests()


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30)


def make_pki(folder):
    """A throwaway CA, a server certificate for 127.0.0.1 and a client
    certificate ("hookd test client"), all signed by the CA: a dict of
    PEM paths (ca, server, server_key, client, client_key)."""
    p = {k: os.path.join(folder, k + ".pem") for k in (
        "ca", "ca_key", "server", "server_key", "client", "client_key")}
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes"]
    openssl("req", "-x509", *curve, "-keyout", p["ca_key"], "-out", p["ca"],
            "-days", "2", "-subj", "/CN=hookd test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    for n, (who, ext) in enumerate((
            ("server", "subjectAltName=IP:127.0.0.1\n"
                       "extendedKeyUsage=serverAuth\n"),
            ("client", "extendedKeyUsage=clientAuth\n")), 1):
        csr = os.path.join(folder, who + ".csr")
        extfile = os.path.join(folder, who + ".ext")
        with open(extfile, "w") as f:
            f.write(ext)
        cn = "127.0.0.1" if who == "server" else "hookd test client"
        openssl("req", "-new", *curve, "-keyout", p[who + "_key"],
                "-out", csr, "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey",
                p["ca_key"], "-set_serial", str(n), "-days", "2",
                "-extfile", extfile, "-out", p[who])
    return p


@test("TLS: the system's CAs refuse a private CA (tls: ..., retried); "
      "ca_file with client_cert/client_key delivers to a receiver that "
      "requires a client certificate and sees its subject; without a "
      "client certificate the receiver refuses (retried); verify = false "
      "accepts any server", timeout=60)
def tls():
    if shutil.which("openssl") is None:
        h.skip("the openssl command is not installed")
    pki = make_pki(h.tmpdir())
    quick = {"timeout": 2, "connect_timeout": 2}
    mtls = {"client_cert": pki["client"], "client_key": pki["client_key"]}
    with Sink(tls={"cert": pki["server"], "key": pki["server_key"],
                   "client_ca": pki["ca"]}) as s:
        cases = {
            "strict": dict(quick, **mtls),
            "mtls": dict(quick, ca_file=pki["ca"], **mtls),
            "nocert": dict(quick, ca_file=pki["ca"]),
            "noverify": dict(quick, verify=False, **mtls),
        }
        hs = [handler(n, s.url("/" + n), **k) for n, k in cases.items()]
        with Daemon(http_conf(hs, [("t." + n, n) for n in cases],
                              retry=[0.2])) as d:
            ids = {n: d.publish({"type": "t." + n})["id"] for n in cases}
            # Each to its end: a first attempt that is not retried, or
            # every retry.
            for n in cases:
                if d.wait_log(msg="attempt", event=ids[n])[0]["outcome"] \
                        == "retry":
                    d.wait_log(msg="dead", event=ids[n], timeout=20)

            def attempts(n):
                return [(r["outcome"], r["reason"])
                        for r in d.records(msg="attempt", event=ids[n])]
            for n in ("mtls", "noverify"):
                assert attempts(n) == [("ok", "200")], attempts(n)
                r = s.requests("/" + n)
                assert len(r) == 1 and r[0]["peer"] == "hookd test client", r
            # curl does not trust the private CA: a certificate problem.
            a = attempts("strict")
            assert [x[0] for x in a] == ["retry"] * 2, a
            assert all(x[1].startswith("tls: SSL certificate problem")
                       for x in a), a
            # The receiver refuses the handshake: TLS 1.3 sends the
            # refusal after curl's side of the handshake is done, so curl
            # may meet it as it sends or reads the request.
            a = attempts("nocert")
            assert [x[0] for x in a] == ["retry"] * 2, a
            assert all(re.match(r"(tls|connection): ", x[1]) for x in a), a
            assert not s.requests("/strict") and not s.requests("/nocert"), \
                s.requests()


@test("proxy: the request goes through the proxy (absolute URI on the "
      "request line), which resolves the host itself", timeout=30)
def proxy():
    with Sink() as s:
        # The target's name does not resolve: only the proxy, which
        # answers by itself, lets this attempt succeed.
        hs = [handler("px", "http://no-such-host.invalid/via/{{type}}?a=1",
                      proxy="http://127.0.0.1:%d" % s.port, timeout=2,
                      connect_timeout=1)]
        with Daemon(http_conf(hs, [("*", "px")])) as d:
            ev = d.publish({"type": "proxied", "data": {"n": 1}})
            recs = d.wait_log(msg="attempt", event=ev["id"])
            assert [(r["outcome"], r["reason"]) for r in recs] == [
                ("ok", "200")], recs
            reqs = s.requests()
            assert len(reqs) == 1, reqs
            r = reqs[0]
            assert r["method"] == "POST", r
            assert r["path"] == "http://no-such-host.invalid/via/proxied?a=1", r
            assert r["hdr"]["host"] == "no-such-host.invalid", r["hdr"]
            assert json.loads(r["body"])["id"] == ev["id"], r


@test("settings are checked at start-up with precise messages", timeout=30)
def settings_checked():
    u = "http://127.0.0.1:9/x"
    cases = [
        ("m", {"method": "DELETE"},
         "method 'DELETE' is not supported (POST, PUT, PATCH or GET)"),
        ("s", {"sign": "hmac"},
         "sign 'hmac' is unknown (none, standard-webhooks or github)"),
        ("ns", {"sign": "github"}, 'sign = "github" needs secret'),
        ("nsw", {"sign": "standard-webhooks"},
         'sign = "standard-webhooks" needs secret or secrets'),
        ("pre", {"sign": "standard-webhooks", "secret": "plain-secret"},
         'secret: a standard-webhooks secret must start with "whsec_"'),
        ("rot", {"sign": "standard-webhooks", "secrets": [S1, "whsec_abc"]},
         "secrets[1]: the key after \"whsec_\" is 2 bytes"),
        ("b64", {"sign": "standard-webhooks", "secret": "whsec_not*base64"},
         'secret: the part after "whsec_" is not valid base64'),
        ("ghr", {"sign": "github", "secrets": [GH]},
         "sign = \"github\" takes one secret, not secrets"),
        ("both", {"sign": "standard-webhooks", "secret": S1, "secrets": [S2]},
         "set secret or secrets, not both"),
        ("nosign", {"secret": S1}, 'secret is set but sign is "none"'),
        ("cidr", {"ssrf_guard": True, "allow_targets": ["10.0.0.1/8"]},
         "allow_targets[0]: '10.0.0.1/8': host bits are set (the network is "
         "10.0.0.0/8)"),
        ("cidr2", {"ssrf_guard": True,
                   "allow_targets": ["127.0.0.1/32", "fe80::/129"]},
         "allow_targets[1]: 'fe80::/129': prefix 129 is longer than 128 bits"),
        ("cidr3", {"ssrf_guard": True, "allow_targets": ["localhost"]},
         "allow_targets[0]: 'localhost' is not an IPv4 or IPv6 address"),
        ("noguard", {"allow_targets": ["10.0.0.0/8"]},
         "allow_targets is set but ssrf_guard is off"),
        ("hdr", {"headers": {"Content-Type": "text/plain"}},
         "headers: Content-Type is set by hookd and cannot be overridden "
         "(use content_type)"),
        ("hdr2", {"headers": {"webhook-id": "x"}},
         "headers: webhook-id is set by hookd"),
        ("hdr3", {"headers": {"X-A": "{{data"}},
         "headers: X-A: unterminated placeholder at offset 0"),
        ("t0", {"timeout": 0}, "timeout must be 1 to 3600 seconds, not 0"),
        ("ct", {"timeout": 2, "connect_timeout": 5},
         "connect_timeout (5 s) is longer than timeout (2 s)"),
        ("ca", {"ca_file": "/nonexistent/ca.pem"},
         "ca_file '/nonexistent/ca.pem': No such file or directory"),
        ("key", {"client_key": SINK},
         "client_key is set without client_cert"),
        ("getbody", {"method": "GET", "body": "x"},
         "body is set but method GET sends no body"),
        ("esc", {"body": "x", "body_escape": "html"},
         "body_escape 'html' is unknown (json, url or raw)"),
        ("esc2", {"body_escape": "raw"},
         "body_escape is set but there is no body template"),
        ("body", {"body": "{{nope}}"},
         "body: unknown placeholder 'nope' at offset 0"),
    ]
    hs = [handler(n, u, **k) for n, k, _ in cases]
    hs.append('tmpl = { plugin = "http"; url = "http://x/{{data.a"; };')
    hs.append('scheme = { plugin = "http"; url = "ftp://x/"; };')
    hs.append('nourl = { plugin = "http"; };')
    hs.append('typed = { plugin = "http"; url = "http://x/"; verify = "yes"; };')
    hs.append('good = { plugin = "http"; url = "https://x/{{type}}"; '
              'method = "put"; sign = "standard-webhooks"; '
              'secrets = [%s, %s]; ssrf_guard = true; '
              'allow_targets = ["10.0.0.0/8", "fd00::/8", "::ffff:1.2.3.4"]; '
              'verify = false; ca_file = %s; };' % (q(S1), q(S2), q(SINK)))
    names = [n for n, _, _ in cases] + ["tmpl", "scheme", "nourl", "typed",
                                        "good"]
    path = os.path.join(h.tmpdir(), "bad.conf")
    with open(path, "w") as f:
        f.write(conf("handlers = {\n%s\n};\nroutes = ( { events = [\"*\"]; "
                     "handlers = %s; } );\n" % ("\n".join(hs), qlist(names))))
    r = h.run_hookd(["--check-config", "-c", path, "--plugin-dir",
                     h.PLUGIN_DIR])
    assert r.returncode == 1, r
    # One line per refused setting (other lines are log output).
    lines = [ln for ln in r.stderr.splitlines() if ": handler '" in ln]
    expect = [(n, m) for n, _, m in cases] + [
        ("tmpl", "url: unterminated placeholder at offset 9"),
        ("scheme", "url must start with http:// or https://"),
        ("nourl", "plugin 'http' requires key 'url'"),
        ("typed", "verify must be true or false"),
    ]
    for n, m in expect:
        hit = [ln for ln in lines if "handler '%s': " % n in ln and m in ln]
        assert hit, "no message for %s containing %r in:\n%s" % (
            n, m, r.stderr)
    assert not [ln for ln in lines if "'good'" in ln], r.stderr
    assert len(lines) == len(expect), r.stderr
    # Secrets never appear in a message.
    assert "MfKQ9r8" not in r.stderr and "plain-secret" not in r.stderr


@test("signatures verify with the receivers' libraries: standardwebhooks "
      "(each rotated secret alone; retries; GET) and "
      "@octokit/webhooks-methods", timeout=400)
def third_party_verification():
    node, script = node_verifier()
    with Sink() as s:
        sw = {"sign": "standard-webhooks", "secrets": [S1, S2]}
        hs = [handler("sw", s.url("/sw/{{type}}"), **dict(GUARD, **sw)),
              handler("swretry", s.url("/flaky/2"), **sw),
              handler("swget", s.url("/swget/"), method="GET", **sw),
              handler("gh", s.url("/gh/"), sign="github", secret=GH),
              handler("ghbody", s.url("/ghbody/"), sign="github", secret=GH,
                      body='{"text": "{{data.text}}"}')]
        with Daemon(http_conf(hs, [("*", n) for n in
                                   ("sw", "swretry", "swget", "gh",
                                    "ghbody")], retry=[0.1])) as d:
            evs = [d.publish({"type": "sig.%d" % i,
                              "data": {"i": i, "text": "caf\u00e9 \u2713 \"q\"",
                                       "nested": {"x": [1, 2.5, None]}}})
                   for i in range(3)]
            # 5 handlers, the retrying one twice, for each event.
            d.wait_log(count=5 * len(evs), msg="attempt", outcome="ok",
                       timeout=20)
        reqs = s.requests()
        counts = {p: len(s.requests(p)) for p in
                  ("/sw/", "/flaky/2", "/swget/", "/gh/", "/ghbody/")}
        assert counts == {"/sw/": 3, "/flaky/2": 6, "/swget/": 3, "/gh/": 3,
                          "/ghbody/": 3}, counts
        # Both secrets' signatures are in the header.
        for r in s.requests("/sw/"):
            sigs = r["hdr"]["webhook-signature"].split(" ")
            assert len(sigs) == 2 and all(x.startswith("v1,") for x in sigs), r
            assert verify_standard_webhooks(S1, r["hdr"], r["body"])
            assert verify_standard_webhooks(S2, r["hdr"], r["body"])
        for r in s.requests("/gh"):
            assert verify_github(GH, r["hdr"], r["body"]), r["hdr"]
        checks = []
        for prefix in ("/sw/", "/flaky/2", "/swget/"):
            for secret, tag in ((S1, "S1"), (S2, "S2"), (S3, "wrong")):
                checks.append({"name": "%s %s" % (prefix, tag),
                               "scheme": "standard-webhooks",
                               "secret": secret, "path": prefix})
        for prefix in ("/gh/", "/ghbody/"):
            for secret, tag in ((GH, "right"), (GH + "!", "wrong")):
                checks.append({"name": "%s %s" % (prefix, tag),
                               "scheme": "github", "secret": secret,
                               "path": prefix})
        spec = os.path.join(h.tmpdir(), "spec.json")
        with open(spec, "w") as f:
            json.dump({"requests": s.log, "checks": checks}, f)
        p = subprocess.run([node, script, spec], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, cwd=os.path.dirname(script))
        assert p.returncode == 0, p
        results = json.loads(p.stdout)["results"]
        for c in checks:
            got = [r for r in results if r["name"] == c["name"]]
            assert len(got) == counts[c["path"]], (c, got)
            if c["name"].endswith("wrong"):
                assert not any(r["ok"] for r in got), (c, got)
            else:
                assert all(r["ok"] for r in got), (c, got)
        assert len(reqs) == sum(counts.values())


if __name__ == "__main__":
    h.main()
