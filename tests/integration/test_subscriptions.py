#!/usr/bin/env python3
"""Webhook subscriptions (/v4/webhook-subscriptions), black box: the API
(every validation error), fan-out to real receivers (http_sink.py on
loopback) with every request's signature checked by the Standard Webhooks
reference library (verify_sigs.mjs), the kadoa format, GET subscriptions,
custom headers, secret rotation and its grace period, restarts, deletion
(also while an attempt is in flight), disabling on 410 and after failing
for `disable_after` (with the operational event), the test endpoint, and
isolation from a receiver that never answers."""

import base64
import json
import os
import re
import socket
import threading
import time
import urllib.parse
import urllib.request

import hookdtest as h
from hookdtest import Daemon, assert_error, good_handler, q, qlist, test

from receivers import Sink, run_verifier

API = "/v4/webhook-subscriptions"

# Standard Webhooks' published example key (24 bytes), a second key
# (bytes 1..32), and one no subscription uses.
S1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
S2 = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
WRONG = "whsec_" + base64.b64encode(b"\x07" * 32).decode()

ELLIPSIS = "\u2026"

TYPES = ["workflow_finished", "workflow_failed", "data_changed",
         "order.created", "order.paid"]
CATALOG = "event_types = (\n%s\n);\n" % ",\n".join(
    '  { name = %s; description = "test type %d"; }' % (q(t), i)
    for i, t in enumerate(TYPES))

# Data with escapes, non-ASCII text, nesting and numbers.
DATA = {"workflowId": "wf-1", "text": "caf\u00e9 \"q\" \u2713 {{type}}",
        "nested": {"x": [1, 2.5, None, True]}}

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# ---------------------------------------------------------------- config --

def sub_conf(db="hookd.db", allow=("127.0.0.1/32",), body="", **subs):
    """A configuration: loopback listener, the catalog, a `subscriptions`
    group (allow_targets plus subs, e.g. disable_after=2), body (handlers,
    routes) and an SQLite file `db` in the test's folder."""
    parts = []
    if allow:
        parts.append("allow_targets = %s;" % qlist(allow))
    parts += ["%s = %s;" % (k, v) for k, v in subs.items()]
    return (h.server_block() + CATALOG
            + "subscriptions = { %s };\n" % " ".join(parts) + body
            + '\nstorage = { url = %s; };\n'
            % q("sqlite:" + os.path.join(h.tmpdir(), db)))


def ops_routes(record):
    """A test-good handler `ops` recording to `record`, routed hookd.*."""
    return ("handlers = { %s };\n" % good_handler("ops", record=record)
            + 'routes = ( { events = ["hookd.*"]; handlers = ["ops"]; } );\n')


# ------------------------------------------------------------------- API --

def create(d, body, status=201):
    r = d.post(API, body)
    assert r.status == status, "create %r: %r" % (body, r)
    return r.body


def get_sub(d, sid):
    r = d.get(API + "/" + sid)
    assert r.status == 200, r
    return r.body


def patch(d, sid, body):
    r = d.request("PATCH", API + "/" + sid, body)
    assert r.status == 200, "PATCH %s %r: %r" % (sid, body, r)
    return r.body


def list_subs(d):
    """Every subscription, following nextCursor page by page."""
    out, path = [], API
    for _ in range(100):
        r = d.get(path)
        assert r.status == 200, r
        assert sorted(r.body) == ["nextCursor", "subscriptions"], r.body
        out += r.body["subscriptions"]
        if r.body["nextCursor"] is None:
            return out
        path = API + "?cursor=" + urllib.parse.quote(r.body["nextCursor"])
    raise AssertionError("more than 100 pages")


def masked(secret):
    return "whsec_" + ELLIPSIS + secret[-4:]


def secret_bytes(secret):
    assert secret.startswith("whsec_"), secret
    return base64.b64decode(secret[6:], validate=True)


def event_of(d, eid):
    r = d.get("/v4/events/" + eid)
    assert r.status == 200, r
    return r.body


def targets_of(d, eid):
    return sorted(x["target"] for x in event_of(d, eid)["deliveries"])


def wait_settled(d, eids, timeout=15.0):
    """Wait until every delivery of these events succeeded or is dead."""
    def settled():
        for eid in eids:
            for x in event_of(d, eid)["deliveries"]:
                if x["state"] not in ("succeeded", "dead"):
                    return False
        return True
    h.wait_for(settled, timeout, "deliveries of %d event(s) to settle"
               % len(eids), interval=0.05)


def sigs(rec):
    return rec["hdr"].get("webhook-signature", "").split(" ")


class Checks:
    """Signature checks run in one go by verify_sigs.mjs (the npm
    standardwebhooks package): each names requests (a sink's log, a path
    prefix, optionally webhook-ids), a secret, how many requests it must
    see and whether every one must verify (ok) or none may."""

    def __init__(self):
        self.checks = []
        self.want = {}

    def add(self, sink, path, secret, count, ok=True, ids=None, name=None):
        name = name or "%s %s #%d" % (path, "ok" if ok else "bad",
                                      len(self.checks))
        c = {"name": name, "scheme": "standard-webhooks", "secret": secret,
             "path": path, "requests": sink.log}
        if ids is not None:
            c["webhookIds"] = sorted(ids)
        self.checks.append(c)
        self.want[name] = (count, ok)

    def run(self):
        results = run_verifier({"checks": self.checks})
        for name, (count, ok) in self.want.items():
            got = [r for r in results if r["name"] == name]
            assert len(got) == count, "%s: %d request(s) checked, want %d: %r" \
                % (name, len(got), count, got)
            if ok:
                bad = [r for r in got if not r["ok"]]
                assert not bad, "%s: did not verify: %r" % (name, bad)
            else:
                good = [r for r in got if r["ok"]]
                assert not good, "%s: verified with the wrong secret: %r" % (
                    name, good)
        return results


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


# ----------------------------------------------------------------- tests --

@test("CRUD: create (secret shown, generated or given), list and get "
      "(masked), patch every member, rotate, enable/disable, delete; 404 "
      "for unknown ids; 405", timeout=30)
def crud():
    u1 = "http://127.0.0.1:9/hook-one"
    u2 = "http://93.184.216.34/hook-two?x=1"  # public: never called here
    with Daemon(sub_conf()) as d:
        assert list_subs(d) == []
        t0 = time.time()
        a = create(d, {"webhookUrl": u1, "events": ["workflow_finished"]})
        assert sorted(a) == ["createdAt", "enabled", "events", "format",
                             "headers", "id", "secret", "updatedAt",
                             "webhookHttpMethod", "webhookUrl"], a
        assert re.fullmatch(r"sub_[A-Za-z0-9_-]+", a["id"]), a
        assert a["webhookUrl"] == u1 and a["events"] == ["workflow_finished"]
        assert a["webhookHttpMethod"] == "POST" and a["format"] == "standard"
        assert a["headers"] == {} and a["enabled"] is True, a
        assert ISO.match(a["createdAt"]) and ISO.match(a["updatedAt"]), a
        assert len(secret_bytes(a["secret"])) == 32, a
        b = create(d, {"webhookUrl": u2, "webhookHttpMethod": "PUT",
                       "events": ["order.*", "data_changed"], "secret": S1,
                       "headers": {"X-Tenant": "acme", "X-Empty": ""},
                       "format": "kadoa", "description": "the second"})
        assert b["secret"] == S1 and b["format"] == "kadoa", b
        assert b["webhookHttpMethod"] == "PUT", b
        assert b["headers"] == {"X-Tenant": "acme", "X-Empty": ""}, b
        assert b["description"] == "the second", b
        assert b["id"] != a["id"]
        c = create(d, {"webhookUrl": u1, "events": ["*"]})
        assert c["secret"] != a["secret"], "two generated secrets are equal"
        assert time.time() - t0 < 10

        # List and get: same views, secrets masked, creation order.
        listed = list_subs(d)
        assert [x["id"] for x in listed] == [a["id"], b["id"], c["id"]]
        for full, seen in zip((a, b, c), listed):
            want = dict(full, secret=masked(full["secret"]))
            assert seen == want, (seen, want)
            assert get_sub(d, full["id"]) == want
        assert all(full["secret"] not in json.dumps(listed)
                   for full in (a, b, c)), "a secret leaked into the list"

        # PATCH every plain member; the secret stays masked.
        time.sleep(0.01)
        p = patch(d, a["id"], {"webhookUrl": u2, "webhookHttpMethod": "PATCH",
                               "events": ["workflow_*", "order.paid"],
                               "headers": {"X-New": "1"}, "format": "kadoa",
                               "description": "changed"})
        assert p["id"] == a["id"] and p["createdAt"] == a["createdAt"], p
        assert p["secret"] == masked(a["secret"]), p
        assert "previousSecretValidUntil" not in p, p
        assert (p["webhookUrl"], p["webhookHttpMethod"], p["events"],
                p["headers"], p["format"], p["description"]) == (
            u2, "PATCH", ["workflow_*", "order.paid"], {"X-New": "1"},
            "kadoa", "changed"), p
        assert get_sub(d, a["id"]) == p
        p = patch(d, a["id"], {"format": "standard", "headers": {}})
        assert p["format"] == "standard" and p["headers"] == {}, p

        # rotateSecret: false rotates nothing and shows nothing.
        p = patch(d, a["id"], {"rotateSecret": False})
        assert p["secret"] == masked(a["secret"]), \
            "PATCH rotateSecret=false revealed the secret: %r" % p
        assert "previousSecretValidUntil" not in p, p

        # Rotation: the new secret is shown once, with the grace end.
        r1 = patch(d, a["id"], {"rotateSecret": True})
        assert r1["secret"] != a["secret"] and len(secret_bytes(r1["secret"])) == 32
        assert ISO.match(r1["previousSecretValidUntil"]), r1
        g = get_sub(d, a["id"])
        assert g["secret"] == masked(r1["secret"]), g
        assert g["previousSecretValidUntil"] == r1["previousSecretValidUntil"]
        r2 = patch(d, a["id"], {"secret": S2})
        assert r2["secret"] == S2, r2
        assert get_sub(d, a["id"])["secret"] == masked(S2)

        # Enable and disable.
        p = patch(d, b["id"], {"enabled": False})
        assert p["enabled"] is False and "disabledReason" not in p, p
        assert get_sub(d, b["id"])["enabled"] is False
        p = patch(d, b["id"], {"enabled": True})
        assert p["enabled"] is True, p

        # Delete.
        r = d.request("DELETE", API + "/" + b["id"])
        assert r.status == 200, r
        assert r.body == {"id": b["id"], "message": r.body["message"]}, r.body
        assert isinstance(r.body["message"], str) and r.body["message"], r.body
        assert [x["id"] for x in list_subs(d)] == [a["id"], c["id"]]
        for method, path, body in (
                ("GET", API + "/" + b["id"], None),
                ("DELETE", API + "/" + b["id"], None),
                ("PATCH", API + "/" + b["id"], {"enabled": True}),
                ("POST", API + "/" + b["id"] + "/test", None),
                ("GET", API + "/sub_doesnotexist", None),
                ("PATCH", API + "/sub_doesnotexist", {"description": "x"})):
            assert_error(d.request(method, path, body), 404, "not_found")

        # Methods an endpoint does not answer.
        r = d.request("PUT", API + "/" + a["id"], {"events": ["*"]})
        assert_error(r, 405, "method_not_allowed")
        assert r.headers.get("allow") == "GET, HEAD, PATCH, DELETE", r
        r = d.post(API + "/" + a["id"], {"events": ["*"]})
        assert_error(r, 405, "method_not_allowed")
        r = d.request("DELETE", API)
        assert_error(r, 405, "method_not_allowed")
        assert r.headers.get("allow") == "GET, HEAD, POST", r
        r = d.get(API + "/" + a["id"] + "/test")
        assert_error(r, 405, "method_not_allowed")


@test("listing is paged: by default 100 a page, ?limit=1..500, in "
      "creation order, nextCursor naming the last id of a page until the "
      "last page; a bad limit is 400 invalid_parameter; a deleted cursor "
      "still pages on")
def list_paging():
    with Daemon(sub_conf()) as d:
        ids = [create(d, {"webhookUrl": "http://127.0.0.1:9/%d" % i,
                          "events": ["order.created"]})["id"]
               for i in range(7)]
        # Ids sort by creation time (to the millisecond): the list's order.
        ids.sort()
        r = d.get(API)
        assert r.body["nextCursor"] is None and \
            [s["id"] for s in r.body["subscriptions"]] == ids, r.body
        pages, cursor = [], None
        while True:
            q = "?limit=3" + ("&cursor=" + cursor if cursor else "")
            r = d.get(API + q)
            assert r.status == 200, r
            pages.append([s["id"] for s in r.body["subscriptions"]])
            cursor = r.body["nextCursor"]
            if cursor is None:
                break
            assert cursor == pages[-1][-1], (cursor, pages)
        assert pages == [ids[0:3], ids[3:6], ids[6:7]], pages
        # The subscription a cursor names may go meanwhile.
        assert d.request("DELETE", API + "/" + ids[2]).status == 200
        r = d.get(API + "?limit=3&cursor=" + ids[2])
        assert [s["id"] for s in r.body["subscriptions"]] == ids[3:6], r.body
        for bad in ("0", "501", "x", "", "-1"):
            assert_error(d.get(API + "?limit=" + bad), 400,
                         "invalid_parameter", "limit")
        assert len(list_subs(d)) == 6


@test("validation: 415, 400 and every 422 (invalid_url, "
      "unknown_event_type, invalid_request) with its exact field; nothing "
      "is created or changed by a refused request", timeout=30)
def validation():
    ok_url = "http://127.0.0.1:9/hook"
    base = {"webhookUrl": ok_url, "events": ["order.created"]}

    def with_(**kw):
        b = dict(base)
        for k, v in kw.items():
            if v is Ellipsis:
                b.pop(k, None)
            else:
                b[k] = v
        return b

    too_many = {"X-H%d" % i: "v" for i in range(21)}
    cases = [
        # (body, error, field)
        ([1], "invalid_request", ""),
        ("text", "invalid_request", ""),
        ({}, "invalid_request", "/webhookUrl"),
        (with_(events=Ellipsis), "invalid_request", "/events"),
        (with_(webhookUrl=Ellipsis), "invalid_request", "/webhookUrl"),
        (with_(webhookUrl=5), "invalid_request", "/webhookUrl"),
        (with_(webhookUrl="ftp://127.0.0.1/x"), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="not a url"), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="/relative/path"), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="file:///etc/passwd"), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl=""), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="http://10.0.0.1/x"), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="http://169.254.169.254/latest/meta-data/"),
         "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="http://127.0.0.2:9/x"), "invalid_url",
         "/webhookUrl"),
        (with_(webhookUrl="http://[::1]:9/x"), "invalid_url", "/webhookUrl"),
        (with_(webhookUrl="http://[::ffff:10.1.2.3]:9/x"), "invalid_url",
         "/webhookUrl"),
        (with_(webhookUrl="http://100.64.0.1/x"), "invalid_url",
         "/webhookUrl"),
        (with_(webhookUrl="http://127.0.0.1:9/" + "a" * 2100),
         "invalid_url", "/webhookUrl"),
        (with_(webhookHttpMethod="DELETE"), "invalid_request",
         "/webhookHttpMethod"),
        (with_(webhookHttpMethod="post"), "invalid_request",
         "/webhookHttpMethod"),
        (with_(webhookHttpMethod=1), "invalid_request", "/webhookHttpMethod"),
        (with_(events=[]), "invalid_request", "/events"),
        (with_(events="order.created"), "invalid_request", "/events"),
        (with_(events=["order.created"] * 101), "invalid_request", "/events"),
        (with_(events=["order.created", "nope"]), "unknown_event_type",
         "/events/1"),
        (with_(events=["workflow finished"]), "unknown_event_type",
         "/events/0"),
        (with_(events=["order.*", "bad glob!*"]), "unknown_event_type",
         "/events/1"),
        (with_(events=[""]), "unknown_event_type", "/events/0"),
        (with_(headers="X-A: b"), "invalid_request", "/headers"),
        (with_(headers={"Bad Name": "v"}), "invalid_request", "/headers"),
        (with_(headers={"": "v"}), "invalid_request", "/headers"),
        (with_(headers={"X-A:": "v"}), "invalid_request", "/headers"),
        (with_(headers={"Content-Type": "text/plain"}), "invalid_request",
         "/headers"),
        (with_(headers={"content-length": "1"}), "invalid_request",
         "/headers"),
        (with_(headers={"Host": "evil"}), "invalid_request", "/headers"),
        (with_(headers={"User-Agent": "x"}), "invalid_request", "/headers"),
        (with_(headers={"Webhook-Signature": "v1,x"}), "invalid_request",
         "/headers"),
        (with_(headers={"webhook-id": "x"}), "invalid_request", "/headers"),
        (with_(headers={"X-Kadoa-Event": "x"}), "invalid_request",
         "/headers"),
        (with_(headers={"Expect": "100-continue"}), "invalid_request",
         "/headers"),
        (with_(headers={"X-Hub-Signature-256": "sha256=0"}),
         "invalid_request", "/headers"),
        (with_(headers={"X-A": "one\r\nX-Injected: 1"}), "invalid_request",
         "/headers"),
        (with_(headers={"X-A": 5}), "invalid_request", "/headers"),
        (with_(headers={"X-A": "x" * 1025}), "invalid_request", "/headers"),
        (with_(headers=too_many), "invalid_request", "/headers"),
        (with_(format="xml"), "invalid_request", "/format"),
        (with_(format=None), "invalid_request", "/format"),
        (with_(description=5), "invalid_request", "/description"),
        (with_(description="d" * 501), "invalid_request", "/description"),
        (with_(secret="plain-secret"), "invalid_request", "/secret"),
        (with_(secret="whsec_abc"), "invalid_request", "/secret"),
        (with_(secret="whsec_" + base64.b64encode(b"k" * 16).decode()),
         "invalid_request", "/secret"),
        (with_(secret="whsec_" + base64.b64encode(b"k" * 65).decode()),
         "invalid_request", "/secret"),
        (with_(secret="whsec_not*base64*at*all!"), "invalid_request",
         "/secret"),
        (with_(secret=5), "invalid_request", "/secret"),
        (with_(foo=1), "invalid_request", "/foo"),
        (with_(id="sub_mine"), "invalid_request", "/id"),
        (with_(enabled=False), "invalid_request", "/enabled"),
        (with_(rotateSecret=True), "invalid_request", "/rotateSecret"),
    ]
    with Daemon(sub_conf()) as d:
        jt = {"Content-Type": "application/json"}
        for body, code, field in cases:
            r = d.post(API, json.dumps(body), headers=jt)
            try:
                assert_error(r, 422, code, field)
            except AssertionError as e:
                raise AssertionError("POST %s: %s" % (
                    json.dumps(body)[:200], e)) from None
        # The messages say what is wrong.
        r = d.post(API, with_(events=["order.created", "nope"]))
        msg = r.body["message"]
        for t in TYPES + ["hookd.subscription.disabled", "'nope'"]:
            assert t in msg, "%r not in the message %r" % (t, msg)
        r = d.post(API, with_(webhookUrl="http://10.0.0.1/x"))
        assert "10.0.0.1" in r.body["message"] and \
            "SSRF" in r.body["message"], r.body
        r = d.post(API, with_(foo=1))
        assert "foo" in r.body["message"], r.body

        # Globs and hookd's own event are accepted.
        ok = create(d, with_(events=["order.*", "*", "workflow_f?????ed",
                                     "hookd.subscription.disabled"]))
        # Content type, JSON syntax, empty body.
        for hdrs in ({"Content-Type": "text/plain"}, {},
                     {"Content-Type": "application/jsonx"}):
            r = d.post(API, json.dumps(base), headers=hdrs)
            assert_error(r, 415, "unsupported_media_type")
        r = d.post(API, json.dumps(base),
                   headers={"Content-Type": "application/json; charset=utf-8"})
        assert r.status == 201, r
        second = r.body
        for raw in ('{"webhookUrl": ', "{'a': 1}", "", '{"a":1,"a":2}'):
            assert_error(d.post(API, raw, headers=jt), 400, "invalid_json")
        assert [x["id"] for x in list_subs(d)] == [ok["id"], second["id"]]

        # PATCH: the same checks; a refused PATCH changes nothing.
        before = get_sub(d, ok["id"])
        patch_cases = [
            ([1], "invalid_request", ""),
            ({"enabled": "yes"}, "invalid_request", "/enabled"),
            ({"enabled": None}, "invalid_request", "/enabled"),
            ({"rotateSecret": 1}, "invalid_request", "/rotateSecret"),
            ({"id": "sub_x"}, "invalid_request", "/id"),
            ({"createdAt": "2020-01-01T00:00:00Z"}, "invalid_request",
             "/createdAt"),
            ({"description": "fine", "bogus": 1}, "invalid_request",
             "/bogus"),
            ({"events": ["nope.never"]}, "unknown_event_type", "/events/0"),
            ({"events": []}, "invalid_request", "/events"),
            ({"webhookUrl": "http://10.0.0.1/x"}, "invalid_url",
             "/webhookUrl"),
            ({"webhookUrl": "gopher://127.0.0.1/"}, "invalid_url",
             "/webhookUrl"),
            ({"webhookHttpMethod": "HEAD"}, "invalid_request",
             "/webhookHttpMethod"),
            ({"headers": {"Connection": "close"}}, "invalid_request",
             "/headers"),
            ({"format": "Kadoa"}, "invalid_request", "/format"),
            ({"secret": "whsec_short"}, "invalid_request", "/secret"),
        ]
        for body, code, field in patch_cases:
            r = d.request("PATCH", API + "/" + ok["id"], json.dumps(body),
                          headers=jt)
            try:
                assert_error(r, 422, code, field)
            except AssertionError as e:
                raise AssertionError("PATCH %s: %s" % (
                    json.dumps(body)[:200], e)) from None
        r = d.request("PATCH", API + "/" + ok["id"], '{"enabled": tru',
                      headers=jt)
        assert_error(r, 400, "invalid_json")
        r = d.request("PATCH", API + "/" + ok["id"], "", headers=jt)
        assert_error(r, 400, "invalid_json")
        r = d.request("PATCH", API + "/" + ok["id"], '{"enabled": false}',
                      headers={"Content-Type": "text/plain"})
        assert_error(r, 415, "unsupported_media_type")
        r = d.request("PATCH", API + "/" + ok["id"], '{"enabled": false}')
        assert_error(r, 415, "unsupported_media_type")
        assert get_sub(d, ok["id"]) == before, "a refused PATCH changed it"

        # The test endpoint's own checks.
        tp = API + "/" + ok["id"] + "/test"
        for body, field in (({"foo": 1}, "/foo"),
                            ({"type": "bad type!"}, "/type"),
                            ({"type": "order.*"}, "/type"),
                            ({"type": 5}, "/type"),
                            ({"data": [1]}, "/data"),
                            ([1], "")):
            assert_error(d.post(tp, body), 422, "invalid_request", field)
        # A type outside the catalog, as create refuses it.
        r = d.post(tp, {"type": "nope.never", "data": {"x": 1}})
        assert_error(r, 422, "unknown_event_type", "/type")
        for t in TYPES + ["hookd.subscription.disabled", "'nope.never'"]:
            assert t in r.body["message"], r.body
        assert_error(d.post(tp, "{", headers=jt), 400, "invalid_json")
        assert_error(d.post(tp, '{"type": "order.paid"}',
                            headers={"Content-Type": "text/plain"}),
                     415, "unsupported_media_type")

    # Without allow_targets the SSRF guard refuses loopback receivers.
    with Daemon(sub_conf(db="guard.db", allow=()), name="guarded") as d:
        r = d.post(API, base)
        assert_error(r, 422, "invalid_url", "/webhookUrl")
        assert "127.0.0.1" in r.body["message"] and \
            "loopback" in r.body["message"], r.body
        assert list_subs(d) == []


@test("fan-out to three receivers: each subscription gets exactly its "
      "events (names, globs, *), standard and kadoa bodies, X-Kadoa-Event, "
      "PUT, PATCH, GET as query parameters, custom headers, retries keep "
      "webhook-id, deliveries listed per subscription; every request "
      "verified by standardwebhooks", timeout=60)
def fan_out():
    literal = "a {{type}} b {{{c}}} \\{{d} {{"
    with Sink("r1") as r1, Sink("r2") as r2, Sink("r3") as r3, \
            Daemon(sub_conf()) as d:
        subs = {
            "A": create(d, {"webhookUrl": r1.url("/a"), "secret": S1,
                            "events": ["workflow_finished", "order.*"]}),
            "B": create(d, {"webhookUrl": r2.url("/b"), "events": ["*"]}),
            "C": create(d, {"webhookUrl": r3.url("/c"), "format": "kadoa",
                            "webhookHttpMethod": "PUT",
                            "events": ["data_changed", "workflow_fail*"],
                            "headers": {"X-Tenant": "acme",
                                        "Authorization": "Bearer t0k3n",
                                        "X-Literal": literal,
                                        "X-Empty": ""}}),
            "D": create(d, {"webhookUrl": r3.url("/get?src=hookd"),
                            "webhookHttpMethod": "GET",
                            "events": ["order.paid"]}),
            "E": create(d, {"webhookUrl": r2.url("/flaky/2"),
                            "events": ["order.created"]}),
            "F": create(d, {"webhookUrl": r1.url("/f"),
                            "webhookHttpMethod": "PATCH",
                            "events": ["order.created"]}),
        }
        ids = {k: v["id"] for k, v in subs.items()}
        secret = {k: v["secret"] for k, v in subs.items()}
        published = ["workflow_finished", "workflow_finished",
                     "workflow_failed", "data_changed", "order.created",
                     "order.paid"]
        expect = {"A": {0, 1, 4, 5}, "B": {0, 1, 2, 3, 4, 5}, "C": {2, 3},
                  "D": {5}, "E": {4}, "F": {4}}
        evs = []
        for i, t in enumerate(published):
            data = dict(DATA, i=i)
            r = d.publish({"type": t, "data": data})
            want = sorted(ids[k] for k in expect if i in expect[k])
            assert r["deliveries"] == len(want), (t, r, want)
            evs.append((r["id"], t, data))
        eid = [e[0] for e in evs]
        for i, (e, t, _) in enumerate(evs):
            assert targets_of(d, e) == sorted(
                ids[k] for k in expect if i in expect[k]), (t, event_of(d, e))
        # E's first attempt gets 500, its retry (5 s later) 200.
        wait_settled(d, eid, timeout=25)

        paths = {"A": (r1, "/a"), "B": (r2, "/b"), "C": (r3, "/c"),
                 "D": (r3, "/get"), "E": (r2, "/flaky/2"), "F": (r1, "/f")}
        # Nothing else reached the receivers.
        assert len(r1.requests()) == 4 + 1, r1.requests()
        assert len(r2.requests()) == 6 + 2, r2.requests()
        assert len(r3.requests()) == 2 + 1, r3.requests()
        for k, (sink, path) in paths.items():
            reqs = sink.requests(path)
            got = sorted(r["hdr"]["webhook-id"] for r in reqs)
            want = sorted(eid[i] for i in expect[k]) * (2 if k == "E" else 1)
            assert got == sorted(want), (k, got, want)
            for r in reqs:
                hd = r["hdr"]
                assert hd["user-agent"].startswith("hookd/"), hd
                i = eid.index(hd["webhook-id"])
                e, t, data = evs[i]
                stored = event_of(d, e)
                assert len(sigs(r)) == 1 and sigs(r)[0].startswith("v1,"), hd
                if k == "D":
                    assert r["method"] == "GET" and r["body"] == b"", r
                    # hookd's Content-Type goes with every request.
                    assert hd.get("content-type") == "application/json", hd
                    path_, _, query = r["path"].partition("?")
                    assert path_ == "/get", r["path"]
                    qs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                                strict_parsing=True)
                    assert [x for x, _ in qs] == ["src", "id", "type",
                                                  "timestamp", "source",
                                                  "data"], qs
                    qd = dict(qs)
                    assert (qd["src"], qd["id"], qd["type"], qd["source"],
                            qd["timestamp"]) == ("hookd", e, t, "api",
                                                 stored["timestamp"]), qd
                    assert json.loads(qd["data"]) == data, qd
                    continue
                assert hd["content-type"] == "application/json", hd
                body = json.loads(r["body"].decode("utf-8"))
                if k == "C":
                    assert r["method"] == "PUT", r
                    assert list(body) == ["eventType", "timestamp", "data"], body
                    assert body == {"eventType": t,
                                    "timestamp": stored["timestamp"],
                                    "data": data}, (body, stored)
                    assert hd["x-kadoa-event"] == t, hd
                    assert hd["x-tenant"] == "acme", hd
                    assert hd["authorization"] == "Bearer t0k3n", hd
                    assert hd["x-literal"] == literal, hd
                    assert hd["x-empty"] == "", hd
                else:
                    assert r["method"] == ("PATCH" if k == "F" else "POST"), r
                    assert list(body) == ["id", "type", "timestamp", "data"], body
                    assert body == {"id": e, "type": t,
                                    "timestamp": stored["timestamp"],
                                    "data": data}, (body, stored)
                    assert "x-kadoa-event" not in hd and "x-tenant" not in hd
        # E: the retry carries the same webhook-id and body.
        e_reqs = r2.requests("/flaky/2")
        assert e_reqs[0]["body"] == e_reqs[1]["body"], e_reqs
        assert e_reqs[0]["hdr"]["webhook-id"] == eid[4], e_reqs
        dl = [x for x in event_of(d, eid[4])["deliveries"]
              if x["target"] == ids["E"]][0]
        assert dl["state"] == "succeeded" and dl["attemptCount"] == 2, dl
        assert [a["outcome"] for a in dl["attempts"]] == ["retry", "ok"], dl
        assert dl["attempts"][0]["detail"].startswith("500"), dl

        # Deliveries per subscription.
        for k in expect:
            r = d.get("/v4/deliveries?target=" + ids[k])
            assert r.status == 200, r
            got = r.body["deliveries"]
            assert sorted(x["eventId"] for x in got) == sorted(
                eid[i] for i in expect[k]), (k, got)
            assert all(x["target"] == ids[k] and x["state"] == "succeeded"
                       for x in got), got

        # The receivers' library: each subscription's own secret verifies
        # every request it got; a wrong secret and another's never do.
        ck = Checks()
        other = {"A": "B", "B": "C", "C": "D", "D": "E", "E": "F", "F": "A"}
        for k, (sink, path) in paths.items():
            n = len(expect[k]) * (2 if k == "E" else 1)
            ck.add(sink, path, secret[k], n, ok=True)
            ck.add(sink, path, WRONG, n, ok=False)
            ck.add(sink, path, secret[other[k]], n, ok=False)
        ck.run()


@test("rotation: after rotateSecret deliveries carry both signatures and "
      "verify with the new and the old secret; an explicit secret rotates "
      "too; with secret_grace = 1, after the grace only the new one "
      "verifies", timeout=40)
def rotation():
    with Sink("rx") as s:
        with Daemon(sub_conf()) as d:
            sub = create(d, {"webhookUrl": s.url("/r"), "secret": S1,
                             "events": ["order.*"]})
            e1 = d.publish({"type": "order.created", "data": DATA})["id"]
            s.wait_requests("/r", 1)
            r1 = patch(d, sub["id"], {"rotateSecret": True})
            new = r1["secret"]
            assert new not in (S1, sub["secret"]) and \
                len(secret_bytes(new)) == 32, r1
            e2 = d.publish({"type": "order.paid", "data": DATA})["id"]
            s.wait_requests("/r", 2)
            # An explicit secret rotates again: the previous one (new)
            # keeps signing, the first (S1) no longer does.
            r2 = patch(d, sub["id"], {"secret": S2})
            assert r2["secret"] == S2, r2
            e3 = d.publish({"type": "order.paid", "data": DATA})["id"]
            s.wait_requests("/r", 3)
            wait_settled(d, [e1, e2, e3])
            by = {r["hdr"]["webhook-id"]: r for r in s.requests("/r")}
            assert sorted(by) == sorted([e1, e2, e3]), by.keys()
            assert len(sigs(by[e1])) == 1, by[e1]["hdr"]
            assert len(sigs(by[e2])) == 2, by[e2]["hdr"]
            assert len(sigs(by[e3])) == 2, by[e3]["hdr"]
            ck = Checks()
            ck.add(s, "/r", S1, 1, ids=[e1])
            ck.add(s, "/r", new, 1, ok=False, ids=[e1])
            ck.add(s, "/r", new, 1, ids=[e2])
            ck.add(s, "/r", S1, 1, ids=[e2])
            ck.add(s, "/r", S2, 1, ids=[e3])
            ck.add(s, "/r", new, 1, ids=[e3])
            ck.add(s, "/r", S1, 1, ok=False, ids=[e3])
            ck.add(s, "/r", WRONG, 3, ok=False)
            ck.run()

        with Daemon(sub_conf(db="grace.db", secret_grace=1),
                    name="grace") as d:
            sub = create(d, {"webhookUrl": s.url("/g"), "secret": S1,
                             "events": ["order.*"]})
            r = patch(d, sub["id"], {"rotateSecret": True})
            new = r["secret"]
            t_patch = time.monotonic()
            assert ISO.match(r["previousSecretValidUntil"]), r
            # Wait out the grace (1 s) with a margin: the view no longer
            # shows it, before any delivery has tidied it away; then deliver.
            time.sleep(max(0.0, 1.3 - (time.monotonic() - t_patch)))
            g = get_sub(d, sub["id"])
            assert "previousSecretValidUntil" not in g, g
            listed = [x for x in list_subs(d) if x["id"] == sub["id"]]
            assert len(listed) == 1 and \
                "previousSecretValidUntil" not in listed[0], listed
            e = d.publish({"type": "order.created", "data": DATA})["id"]
            s.wait_requests("/g", 1)
            wait_settled(d, [e])
            req = s.requests("/g")
            assert len(req) == 1 and len(sigs(req[0])) == 1, req
            ck = Checks()
            ck.add(s, "/g", new, 1, ids=[e])
            ck.add(s, "/g", S1, 1, ok=False, ids=[e])
            ck.run()
            g = get_sub(d, sub["id"])
            assert g["secret"] == masked(new), g
            assert "previousSecretValidUntil" not in g, g


@test("subscriptions survive a restart (same db): same views, enabled "
      "flags, secrets and grace; a deleted subscription gets nothing, "
      "before and after the restart", timeout=40)
def restart_and_delete():
    with Sink("rr") as s:
        config = sub_conf()
        with Daemon(config) as d:
            p = create(d, {"webhookUrl": s.url("/p"), "secret": S1,
                           "events": ["*"], "description": "keeps"})
            qq = create(d, {"webhookUrl": s.url("/q"), "format": "kadoa",
                            "events": ["data_changed"]})
            x = create(d, {"webhookUrl": s.url("/x"),
                           "events": ["data_changed"]})
            z = create(d, {"webhookUrl": s.url("/z"),
                           "events": ["data_changed"]})
            q_old = qq["secret"]
            q_new = patch(d, qq["id"], {"rotateSecret": True})["secret"]
            patch(d, x["id"], {"enabled": False})
            e1 = d.publish({"type": "data_changed", "data": DATA})
            assert e1["deliveries"] == 3, e1  # p, qq, z; x is disabled
            wait_settled(d, [e1["id"]])
            assert len(s.requests("/z")) == 1
            r = d.request("DELETE", API + "/" + z["id"])
            assert r.status == 200, r
            e2 = d.publish({"type": "data_changed", "data": DATA})
            assert e2["deliveries"] == 2, e2
            assert targets_of(d, e2["id"]) == sorted([p["id"], qq["id"]])
            wait_settled(d, [e2["id"]])
            before = list_subs(d)
            assert [v["id"] for v in before] == [p["id"], qq["id"], x["id"]]
        with Daemon(config, name="restarted") as d:
            after = list_subs(d)
            assert after == before, (after, before)
            assert_error(d.get(API + "/" + z["id"]), 404, "not_found")
            e3 = d.publish({"type": "data_changed", "data": DATA})
            assert e3["deliveries"] == 2, e3
            assert targets_of(d, e3["id"]) == sorted([p["id"], qq["id"]])
            wait_settled(d, [e3["id"]])
            ids3 = [e1["id"], e2["id"], e3["id"]]
            for path, want in (("/p", ids3), ("/q", ids3),
                               ("/z", [e1["id"]]), ("/x", [])):
                got = sorted(r["hdr"]["webhook-id"] for r in s.requests(path))
                assert got == sorted(want), (path, got, want)
            # Still re-enabled and delivering after the restart.
            patch(d, x["id"], {"enabled": True})
            e4 = d.publish({"type": "data_changed", "data": DATA})
            assert e4["deliveries"] == 3, e4
            wait_settled(d, [e4["id"]])
            assert [r["hdr"]["webhook-id"] for r in s.requests("/x")] == \
                [e4["id"]]
            assert len(s.requests("/z")) == 1, "the deleted one got more"
        ck = Checks()
        ck.add(s, "/p", S1, 4)
        ck.add(s, "/q", q_new, 4)
        ck.add(s, "/q", q_old, 4)   # the grace (a day) survived too
        ck.add(s, "/q", WRONG, 4, ok=False)
        ck.add(s, "/x", x["secret"], 1)
        ck.add(s, "/z", z["secret"], 1)
        ck.run()


@test("an attempt in flight during DELETE or PATCH neither brings the "
      "deleted subscription back nor undoes the PATCH", timeout=40)
def change_during_attempt():
    with Sink("rf") as s:
        config = sub_conf()
        with Daemon(config) as d:
            k = create(d, {"webhookUrl": s.url("/delay/1.5/500?sub=k"),
                           "events": ["order.created"]})
            l_ = create(d, {"webhookUrl": s.url("/delay/1.5/500?sub=l"),
                            "events": ["order.created"]})
            e1 = d.publish({"type": "order.created", "data": DATA})["id"]
            s.wait_requests("/delay/1.5/500?sub=k", 1)
            s.wait_requests("/delay/1.5/500?sub=l", 1)
            # Both attempts wait for their 500 now.
            r = d.request("DELETE", API + "/" + k["id"])
            assert r.status == 200, r
            new = patch(d, l_["id"], {"rotateSecret": True,
                                      "webhookUrl": s.url("/after")})
            d.wait_log(count=2, timeout=10, msg="attempt", event=e1)
            recs = d.records(msg="attempt", event=e1)
            assert sorted((x["target"], x["outcome"]) for x in recs) == \
                sorted([(k["id"], "retry"), (l_["id"], "retry")]), recs
            assert_error(d.get(API + "/" + k["id"]), 404, "not_found")
            assert [x["id"] for x in list_subs(d)] == [l_["id"]], list_subs(d)
            g = get_sub(d, l_["id"])
            assert g["webhookUrl"] == s.url("/after"), g
            assert g["secret"] == masked(new["secret"]), g
            e2 = d.publish({"type": "order.created", "data": DATA})
            assert e2["deliveries"] == 1, e2
            h.wait_for(lambda: [r for r in s.requests("/after")
                                if r["hdr"]["webhook-id"] == e2["id"]],
                       10, "e2 at /after")
        with Daemon(config, name="restarted") as d:
            assert_error(d.get(API + "/" + k["id"]), 404, "not_found")
            assert [x["id"] for x in list_subs(d)] == [l_["id"]]
            assert get_sub(d, l_["id"])["webhookUrl"] == s.url("/after")
        assert len(s.requests("/delay/1.5/500?sub=k")) == 1
        ck = Checks()
        ck.add(s, "/after", new["secret"], 1, ids=[e2["id"]])
        ck.add(s, "/after", l_["secret"], 1, ids=[e2["id"]])  # grace
        ck.add(s, "/after", WRONG, 1, ok=False, ids=[e2["id"]])
        ck.run()


def check_disabled_event(d, rec, sub, reason_re):
    """The ops handler recorded one hookd.subscription.disabled event for
    sub, whose data names it; returns (event, reason)."""
    lines = h.wait_lines(rec, 1)
    assert len(lines) == 1, lines
    (attempt, oid, otype, target), = h.records(rec)
    assert (attempt, otype, target) == (1, "hookd.subscription.disabled",
                                        "ops"), lines
    ev = event_of(d, oid)
    assert ev["type"] == "hookd.subscription.disabled", ev
    assert ev["source"] == "hookd", ev
    g = get_sub(d, sub["id"])
    assert g["enabled"] is False, g
    assert re.fullmatch(reason_re, g["disabledReason"]), g
    assert ISO.match(g["disabledAt"]), g
    assert ev["data"] == {"subscriptionId": sub["id"],
                          "webhookUrl": sub["webhookUrl"],
                          "reason": g["disabledReason"]}, (ev, g)
    return ev, g["disabledReason"]


@test("a receiver answering 410 disables its subscription at once; "
      "hookd.subscription.disabled reaches a handler and a subscription; "
      "a disabled subscription gets nothing; PATCH enabled re-enables",
      timeout=40)
def gone_disables():
    rec = os.path.join(h.tmpdir(), "ops.rec")
    with Sink("r410") as s, Daemon(sub_conf(body=ops_routes(rec))) as d:
        gone = create(d, {"webhookUrl": s.url("/status/410"),
                          "events": ["order.*"]})
        watch = create(d, {"webhookUrl": s.url("/watch"),
                           "events": ["hookd.subscription.disabled"]})
        e1 = d.publish({"type": "order.created", "data": DATA})
        assert e1["deliveries"] == 1, e1
        ev, reason = check_disabled_event(
            d, rec, gone, r"the receiver answered 410 Gone")
        h.wait_for(lambda: event_of(d, e1["id"])["deliveries"][0]["state"]
                   == "dead", 5, "the 410 delivery dead")
        dl = event_of(d, e1["id"])["deliveries"]
        assert len(dl) == 1 and dl[0]["lastOutcome"] == "fail", dl
        assert dl[0]["lastReason"].startswith("410 Gone"), dl
        assert targets_of(d, ev["id"]) == sorted(["ops", watch["id"]])
        d.wait_log(msg="subscription", id=gone["id"], detail="disabled")
        # The watching subscription got the operational event, signed.
        w = s.wait_requests("/watch", 1)
        wait_settled(d, [ev["id"]])
        assert len(s.requests("/watch")) == 1
        body = json.loads(w[0]["body"])
        assert body["id"] == ev["id"] == w[0]["hdr"]["webhook-id"], body
        assert body["type"] == "hookd.subscription.disabled", body
        assert body["data"] == {"subscriptionId": gone["id"],
                                "webhookUrl": gone["webhookUrl"],
                                "reason": reason}, body
        # Disabled: no more deliveries, nothing more at the receiver.
        e2 = d.publish({"type": "order.paid", "data": DATA})
        assert e2["deliveries"] == 0, e2
        assert len(s.requests("/status/410")) == 1
        assert len(h.read_lines(rec)) == 1
        # Re-enabled (at a receiver that answers 200).
        p = patch(d, gone["id"], {"enabled": True,
                                  "webhookUrl": s.url("/back")})
        assert p["enabled"] is True, p
        assert "disabledReason" not in p and "disabledAt" not in p, p
        e3 = d.publish({"type": "order.paid", "data": DATA})
        assert e3["deliveries"] == 1, e3
        wait_settled(d, [e3["id"]])
        assert [r["hdr"]["webhook-id"] for r in s.requests("/back")] == \
            [e3["id"]]
        assert get_sub(d, gone["id"])["enabled"] is True
        ck = Checks()
        ck.add(s, "/status/410", gone["secret"], 1)
        ck.add(s, "/back", gone["secret"], 1)
        ck.add(s, "/watch", watch["secret"], 1)
        ck.add(s, "/watch", gone["secret"], 1, ok=False)
        ck.run()


@test("a subscription failing for disable_after (2 s) is disabled, with "
      "the operational event; its pending retries do not reach the "
      "receiver; PATCH enabled re-enables it with a clean slate",
      timeout=45)
def failing_disables():
    rec = os.path.join(h.tmpdir(), "ops.rec")
    with Sink("r500") as s:
        with Daemon(sub_conf(body=ops_routes(rec), disable_after=2)) as d:
            f = create(d, {"webhookUrl": s.url("/status/500"),
                           "events": ["order.*"]})
            e1 = d.publish({"type": "order.created", "data": DATA})["id"]
            a1 = d.wait_log(msg="attempt", event=e1, target=f["id"])[0]
            t1 = time.monotonic()
            assert a1["outcome"] == "retry", a1
            assert a1["reason"] == "500: upstream exploded", a1
            # Failing, but not yet for 2 s: still enabled.
            assert get_sub(d, f["id"])["enabled"] is True
            time.sleep(max(0.0, 2.3 - (time.monotonic() - t1)))
            # The next failure (another event's first attempt, before e1's
            # retry at 5 s) is judged past disable_after.
            e2 = d.publish({"type": "order.paid", "data": DATA})["id"]
            a2 = d.wait_log(msg="attempt", event=e2, target=f["id"])[0]
            assert a2["outcome"] == "retry", a2
            ev, reason = check_disabled_event(
                d, rec, f, r"deliveries failed for .* without a success")
            m = re.fullmatch(r"deliveries failed for (\d+) (s|hours?) "
                             r"without a success", reason)
            assert m and int(m.group(1)) >= 1 and not (
                m.group(2) == "s" and int(m.group(1)) < 2), \
                "the reason misstates how long it failed: %r" % reason
            # The pending retries (about 5 s after each first attempt) find
            # it disabled: they fail without a request.
            for e in (e1, e2):
                d.wait_log(count=2, timeout=15, msg="attempt", event=e,
                           target=f["id"])
                a = d.records(msg="attempt", event=e, target=f["id"])
                assert len(a) == 2, a
                assert a[1]["outcome"] == "fail" and \
                    "disabled" in a[1]["reason"], a
                h.wait_for(lambda: event_of(d, e)["deliveries"][0]["state"]
                           == "dead", 5, "the delivery of %s dead" % e)
            assert len(s.requests("/status/500")) == 2, s.requests()
            # Re-enabled: failing starts anew, so one failure does not
            # disable it again.
            p = patch(d, f["id"], {"enabled": True})
            assert p["enabled"] is True and "disabledReason" not in p, p
            e3 = d.publish({"type": "order.paid", "data": DATA})
            assert e3["deliveries"] == 1, e3
            a3 = d.wait_log(msg="attempt", event=e3["id"], target=f["id"])[0]
            assert a3["outcome"] == "retry", a3
            assert get_sub(d, f["id"])["enabled"] is True
            assert len(h.read_lines(rec)) == 1
        # (e3's retry would come 5 s later: the daemon stopped before.)
        assert len(s.requests("/status/500")) == 3, s.requests()
        ck = Checks()
        ck.add(s, "/status/500", f["secret"], 3)
        ck.run()


def release(sink, name):
    """Let the sink's /scripted requests holding `name` answer."""
    with urllib.request.urlopen(sink.url("/release/" + name),
                                timeout=5) as r:
        assert r.status == 200, r.status


def scripted(d, sub, **script):
    """Publish an order.created event whose data tells the /scripted sink
    how to answer (status, hold); its id."""
    return d.publish({"type": "order.created",
                      "data": {"sink": script}})["id"]


def attempt_of(d, eid, sub):
    """The first attempt of event eid for subscription sub, once logged
    (after its outcome was judged)."""
    return d.wait_log(msg="attempt", event=eid, target=sub["id"])[0]


def failing_since(d, sink, path):
    """A subscription to sink's /scripted `path` whose first delivery
    failed (400: no retry) 2.3 s ago, so that its failure clock is past
    disable_after (2 s)."""
    sub = create(d, {"webhookUrl": sink.url(path), "events": ["order.*"]})
    a = attempt_of(d, scripted(d, sub, status=400), sub)
    t = time.monotonic()
    assert a["outcome"] == "fail", a
    time.sleep(max(0.0, 2.3 - (time.monotonic() - t)))
    return sub


def assert_still_enabled(d, rec, sub):
    """sub is enabled; it was never disabled, no operational event."""
    assert get_sub(d, sub["id"])["enabled"] is True, get_sub(d, sub["id"])
    assert d.records(msg="subscription", id=sub["id"],
                     detail="disabled") == [], "disabled"
    assert h.read_lines(rec) == [], h.read_lines(rec)


@test("a failure whose attempt began before a success ended is judged by "
      "the failure clock as the success left it (restarted), not as it "
      "was when the attempt began (past disable_after): no disabling",
      timeout=40)
def failure_after_success():
    rec = os.path.join(h.tmpdir(), "ops.rec")
    with Sink("rs") as s, \
            Daemon(sub_conf(body=ops_routes(rec), disable_after=2)) as d:
        sub = failing_since(d, s, "/scripted")
        # Past disable_after, an attempt begins, the clock running for it,
        # and the receiver holds it...
        held = scripted(d, sub, hold="f", status=400)
        s.wait_requests("/scripted", 2)
        # ... while another one succeeds: the clock stops.
        ok = attempt_of(d, scripted(d, sub), sub)
        assert ok["outcome"] == "ok", ok
        # The held attempt fails now. Judged by the clock it began with
        # (2.3 s old), it would disable the subscription.
        release(s, "f")
        a2 = attempt_of(d, held, sub)
        assert a2["outcome"] == "fail", a2
        assert_still_enabled(d, rec, sub)
        # It restarted the clock: a failure right after is within
        # disable_after too.
        a3 = attempt_of(d, scripted(d, sub, status=400), sub)
        assert a3["outcome"] == "fail", a3
        assert_still_enabled(d, rec, sub)
        assert len(s.requests("/scripted")) == 4


@test("PATCH webhookUrl restarts the failure clock (the failures were the "
      "old URL's): the new URL's first failure, past disable_after of the "
      "old ones, does not disable; a 410 of an attempt made to the old URL "
      "does not disable it either", timeout=40)
def patch_url_resets_failing():
    rec = os.path.join(h.tmpdir(), "ops.rec")
    with Sink("rp") as s, \
            Daemon(sub_conf(body=ops_routes(rec), disable_after=2)) as d:
        sub = failing_since(d, s, "/scripted?v=1")
        # Past disable_after of the old URL's failures, an attempt to the
        # old URL is held while the URL changes.
        held = scripted(d, sub, hold="old", status=410)
        s.wait_requests("/scripted?v=1", 2)
        p = patch(d, sub["id"], {"webhookUrl": s.url("/scripted?v=2")})
        assert p["enabled"] is True, p
        # The new receiver fails its first event (it is still starting,
        # say). With the old URL's clock, 2.3 s old, that disables.
        a2 = attempt_of(d, scripted(d, sub, status=400), sub)
        assert a2["outcome"] == "fail", a2
        assert s.requests()[-1]["path"] == "/scripted?v=2", s.requests()
        assert_still_enabled(d, rec, sub)
        # The old URL's receiver answers 410 only now: it is gone, the
        # subscription's new receiver is not.
        release(s, "old")
        a3 = attempt_of(d, held, sub)
        assert (a3["outcome"], a3["reason"]) == ("fail", "410 Gone: "
                                                 "subscription removed"), a3
        assert_still_enabled(d, rec, sub)
        # And the new receiver, up now, gets the next event.
        a4 = attempt_of(d, scripted(d, sub), sub)
        assert a4["outcome"] == "ok", a4
        assert_still_enabled(d, rec, sub)


@test("test endpoint: success for a 200 receiver (signed, default and "
      "given type and data, nothing stored, disabled too); an honest "
      "failure for a 500 receiver, a 410 one, a redirect and a closed "
      "port; the receiver's status and the start of its body in each; "
      "without a catalog any valid type", timeout=40)
def test_endpoint():
    with Sink("rt") as s, Daemon(sub_conf()) as d:
        ok = create(d, {"webhookUrl": s.url("/ok"), "events": ["order.*"]})
        e500 = create(d, {"webhookUrl": s.url("/status/500"),
                          "events": ["order.*"]})
        e410 = create(d, {"webhookUrl": s.url("/status/410"),
                          "events": ["order.*"]})
        e301 = create(d, {"webhookUrl": s.url("/status/301"),
                          "events": ["order.*"]})
        e204 = create(d, {"webhookUrl": s.url("/status/204"),
                          "events": ["order.*"]})
        closed = create(d, {"webhookUrl": "http://127.0.0.1:%d/x"
                                          % closed_port(),
                            "events": ["order.*"]})

        def run(sub, body=None):
            r = d.post(API + "/" + sub["id"] + "/test", body)
            assert r.status == 200, r
            b = r.body
            assert sorted(b) == ["detail", "durationMs", "eventId",
                                 "outcome", "response", "status", "success",
                                 "type"], b
            assert re.fullmatch(r"evt_test_[A-Za-z0-9_-]+", b["eventId"]), b
            assert isinstance(b["durationMs"], (int, float)) and \
                b["durationMs"] >= 0, b
            return b

        # The sink answers /ok with 200 "ok", /status/500 with
        # "upstream exploded", /status/410 with "subscription removed".
        t1 = run(ok)
        assert (t1["success"], t1["outcome"], t1["detail"], t1["type"]) == \
            (True, "ok", "200", TYPES[0]), t1
        assert (t1["status"], t1["response"]) == (200, "ok"), t1
        t2 = run(ok, {"type": "order.paid", "data": {"x": 1, "s": "\u00e9"}})
        assert (t2["success"], t2["outcome"], t2["type"]) == \
            (True, "ok", "order.paid"), t2
        reqs = s.requests("/ok")
        assert [r["hdr"]["webhook-id"] for r in reqs] == [t1["eventId"],
                                                         t2["eventId"]]
        b1, b2 = (json.loads(r["body"]) for r in reqs)
        assert list(b1) == ["id", "type", "timestamp", "data"], b1
        assert (b1["id"], b1["type"], b1["data"]) == (
            t1["eventId"], TYPES[0], {"test": True}), b1
        assert ISO.match(b1["timestamp"]), b1
        assert (b2["id"], b2["type"], b2["data"]) == (
            t2["eventId"], "order.paid", {"x": 1, "s": "\u00e9"}), b2
        # Tests are not events: nothing stored, nothing queued.
        assert_error(d.get("/v4/events/" + t1["eventId"]), 404, "not_found")
        assert d.get("/v4/deliveries?target=" + ok["id"]).body[
            "deliveries"] == []

        f = run(e500)
        assert (f["success"], f["outcome"], f["detail"]) == \
            (False, "retry", "500: upstream exploded"), f
        assert (f["status"], f["response"]) == (500, "upstream exploded"), f
        f = run(e410, {"type": "order.created"})
        assert (f["success"], f["outcome"]) == (False, "fail"), f
        assert f["detail"].startswith("410 Gone"), f
        assert (f["status"], f["response"]) == (410, "subscription removed")
        # A redirect: the detail names where it points, not the body.
        f = run(e301)
        assert (f["success"], f["outcome"], f["status"], f["response"]) == \
            (False, "fail", 301, None), f
        assert f["detail"].startswith("301: redirect not followed"), f
        f = run(e204)
        assert (f["success"], f["detail"], f["status"], f["response"]) == \
            (True, "204", 204, ""), f
        # No answer at all: no status, no response.
        f = run(closed)
        assert (f["success"], f["outcome"]) == (False, "retry"), f
        assert f["detail"].startswith("connect:"), f
        assert (f["status"], f["response"]) == (None, None), f
        assert len(s.requests("/status/500")) == 1
        assert len(s.requests("/status/410")) == 1
        # hookd's own event may be tested, as it may be subscribed to.
        t4 = run(ok, {"type": "hookd.subscription.disabled"})
        assert (t4["success"], t4["type"]) == \
            (True, "hookd.subscription.disabled"), t4

        # A disabled subscription can be tested (before re-enabling it).
        patch(d, ok["id"], {"enabled": False})
        t3 = run(ok)
        assert t3["success"] is True, t3
        assert get_sub(d, ok["id"])["enabled"] is False
        ck = Checks()
        ck.add(s, "/ok", ok["secret"], 4)
        ck.add(s, "/ok", e500["secret"], 4, ok=False)
        ck.add(s, "/status/500", e500["secret"], 1)
        ck.run()

    # Without a catalog, as for create: any valid type name.
    bare = (h.server_block()
            + 'subscriptions = { allow_targets = ["127.0.0.1/32"]; };\n'
            + 'storage = { url = "memory:"; };\n')
    with Sink("rb") as s, Daemon(bare, name="bare") as d:
        sub = create(d, {"webhookUrl": s.url("/ok"),
                         "events": ["any.thing"]})
        r = d.post(API + "/" + sub["id"] + "/test", {"type": "other.thing"})
        assert r.status == 200, r
        assert (r.body["type"], r.body["status"]) == ("other.thing", 200), r


# How much a receiver that never answers may slow the others down: the
# healthy receivers get their events within max(3 x baseline, baseline +
# 2 s), the baseline being the same run without it (docs/configuration.md,
# subscriptions.concurrency). Generous, for a loaded machine under ASan;
# a pipeline that the hanging receiver starves waits for its attempts'
# timeout, longer than the margin (the test's timeout is 6 s), and misses
# it.
def isolation_bound(baseline):
    return max(3.0 * baseline, baseline + 2.0)


@test("tests at once: with server.threads = 4 a second test while one "
      "waits for its receiver is 429 too_many_tests with Retry-After; once "
      "the first has ended (200, a timeout), the next is served", timeout=60)
def tests_at_once():
    config = sub_conf(timeout=2).replace(
        'listen = "127.0.0.1:0";', 'listen = "127.0.0.1:0"; threads = 4;', 1)
    assert "threads = 4;" in config, config
    with Sink("hang") as hang, Daemon(config) as d:
        sub = create(d, {"webhookUrl": hang.url("/hang"),
                         "events": ["order.created"]})
        path = API + "/" + sub["id"] + "/test"
        first = {}

        def run_first():
            first["r"] = d.post(path, {"type": "order.created"})
        t = threading.Thread(target=run_first)
        t.start()
        try:
            hang.wait_requests("/hang", 1)
            r = d.post(path, {"type": "order.created"})
            assert r.status == 429, r
            assert r.body["error"] == "too_many_tests", r.body
            assert "tests already running: 1," in r.body["message"], r.body
            assert r.headers.get("retry-after") == "1", r.headers
            # Other requests are still served meanwhile.
            assert get_sub(d, sub["id"])["id"] == sub["id"]
        finally:
            t.join(30)
        assert not t.is_alive(), "the first test did not end"
        r = first["r"]
        assert r.status == 200 and r.body["success"] is False, r
        assert r.body["detail"].startswith("timeout"), r.body
        r = d.post(path, {"type": "order.created"})
        assert r.status == 200 and r.body["outcome"] == "retry", r
        assert len(hang.requests("/hang")) == 2, hang.requests("/hang")


@test("isolation: a receiver that never answers (subscriptions.timeout = "
      "6) holds at most subscriptions.concurrency (2) requests at once and "
      "does not slow the two others beyond the documented margin of a "
      "baseline run without it", timeout=90)
def isolation():
    n = 20
    limit = 2    # subscriptions.concurrency
    timeout = 6  # subscriptions.timeout: longer than the margin
    with Sink("hang") as hang, Sink("f1") as f1, Sink("f2") as f2, \
            Daemon(sub_conf(timeout=timeout, concurrency=limit)) as d:
        s1 = create(d, {"webhookUrl": f1.url("/f1"),
                        "events": ["order.created"]})
        s2 = create(d, {"webhookUrl": f2.url("/f2"),
                        "events": ["order.created"]})
        healthy = ((f1, "/f1"), (f2, "/f2"))

        def run(label, targets):
            """Publish n events; their ids and the seconds from the first
            publish until each healthy receiver had all of them."""
            t0 = time.time()
            ids = []
            for i in range(n):
                r = d.publish({"type": "order.created",
                               "data": {"run": label, "i": i}})
                assert r["deliveries"] == targets, r
                ids.append(r["id"])

            def arrived(sink, path):
                got = [r for r in sink.requests(path)
                       if r["hdr"]["webhook-id"] in ids]
                return got if len(got) >= n else None
            took = []
            for sink, path in healthy:
                got = h.wait_for(lambda: arrived(sink, path), 30,
                                 "%d %s events at %s" % (n, label, path),
                                 interval=0.05)
                assert sorted(r["hdr"]["webhook-id"] for r in got) == \
                    sorted(ids), (label, path)
                took.append(max(r["t"] for r in got) - t0)
            return ids, took

        # Connections to the healthy receivers are open before either run.
        d.publish({"type": "order.created", "data": {"warm": True}})
        f1.wait_requests("/f1", 1)
        f2.wait_requests("/f2", 1)
        _, base = run("baseline", 2)

        sh = create(d, {"webhookUrl": hang.url("/hang"),
                        "events": ["order.created"]})
        # The hanging receiver holds every slot it may have first.
        for i in range(limit):
            d.publish({"type": "order.created", "data": {"fill": i}})
        hang.wait_requests("/hang", limit)
        ids, took = run("hanging", 3)

        # Meanwhile its attempts time out and the next ones take the slots.
        tout = d.wait_log(msg="attempt", target=sh["id"],
                          timeout=timeout + 10)[0]
        assert tout["outcome"] == "retry", tout
        assert tout["reason"].startswith("timeout"), tout
        hang.wait_requests("/hang", 2 * limit)
        held = [r["held"] for r in hang.requests("/hang")]
        print("# isolation: the healthy receivers had %d events %.3f s and "
              "%.3f s after the first publish, %.3f s and %.3f s without "
              "the hanging receiver (bounds %.3f s, %.3f s); the hanging "
              "one got %d request(s), at most %d at once (limit %d)"
              % (n, took[0], took[1], base[0], base[1],
                 isolation_bound(base[0]), isolation_bound(base[1]),
                 len(held), max(held), limit), flush=True)
        problems = ["%s: %d events took %.3f s with a hanging receiver, "
                    "%.3f s without: more than max(3 x, + 2 s)"
                    % (path, n, t, b)
                    for (sink, path), t, b in zip(healthy, took, base)
                    if t > isolation_bound(b)]
        if not 1 <= max(held) <= limit:
            problems.append("the hanging receiver held %d requests at once; "
                            "subscriptions.concurrency is %d"
                            % (max(held), limit))
        assert not problems, "; ".join(problems)

        total = 1 + n + limit + n
        assert len(f1.requests("/f1")) == total
        assert len(f2.requests("/f2")) == total
        ck = Checks()
        ck.add(f1, "/f1", s1["secret"], total)
        ck.add(f2, "/f2", s2["secret"], total)
        ck.add(f2, "/f2", s1["secret"], total, ok=False)
        ck.run()


if __name__ == "__main__":
    h.main()
