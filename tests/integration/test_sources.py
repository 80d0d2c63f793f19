#!/usr/bin/env python3
"""Inbound webhooks (POST /hooks/{source}), black box.

1. Signature cases, one JSON object per file in tests/data/sources:

     {"description": "...",
      "source": "<a source of SOURCES below>",
      "body": "<the exact body text sent (UTF-8)>",
      "sign": {"scheme": "standard" | "github" | "stripe" | "hmac",
               "secrets": ["<what the sender signs with>", ...],
               "now_offset": seconds added to now for the signed timestamp
                             (standard, stripe; default 0),
               "signed_body": "<text signed instead of body>" (tampering),
               "algorithm": "sha1|sha256|sha512", "encoding": "hex|base64",
               "prefix": "...", "header": "<name>"       (hmac only)},
      "headers": {"<name>": "<value>" | null},
      "expect": 202 | 401 | 400 | ...,
      "error": "<error code>", "reason": "missing|malformed|mismatch|stale",
      "message": "<text the error message must contain>"}

   Signatures are computed here at run time (timestamps must be fresh):
   one per secret, encoded as the scheme does. The scheme's usual headers
   are made from them (standard: webhook-id "msg_<case>", webhook-timestamp,
   webhook-signature "v1,<sig> ..." for every secret; github:
   X-Hub-Signature-256 "sha256=<hex>" of the first secret plus
   X-GitHub-Event: push and X-GitHub-Delivery; stripe: Stripe-Signature
   "t=<ts>,v1=<hex>..."; hmac: <header> "<prefix><sig>"), then "headers"
   replaces or (null) removes some; in their values {ts}, {sig0}, {sig1}
   and {SIG0} (upper case) are replaced. Content-Type is application/json.
   "reason" is checked in hookd's "rejected" log line. An accepted case's
   event id is checked too: "<source>:<delivery id>" where the source has
   an id_from or its scheme's default (so each case has its own delivery
   id: webhook-id "msg_<case>", a fresh X-GitHub-Delivery, a Stripe body
   id "evt_<case>"), else a new "evt_" id.
2. Real senders: the npm standardwebhooks and @octokit/webhooks-methods
   packages sign (sign_sources.mjs); Stripe's documented formula.
3. End to end: a GitHub push runs an exec handler once (a replay is a
   duplicate), a Kadoa-shaped delivery fans out to a subscription whose
   receiver verifies it with the standardwebhooks package. Replay
   protection without id_from: the schemes' default delivery ids.
4. allow_from, 404, 415, 413, invalid JSON, invalid events, and routes'
   `sources`.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import uuid

import hookdtest as h
from hookdtest import Daemon, assert_error, good_handler, q, qlist, test

import receivers
from receivers import Sink, run_verifier

CASES = os.path.join(h.SRCDIR, "tests", "data", "sources")
SIGNER = os.path.join(h.HERE, "sign_sources.mjs")

# The secrets the sources are configured with (the case files sign with
# these, or with others to be refused).
STD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STD_A = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
STD_B = "whsec_" + base64.b64encode(b"\x42" * 32).decode()
WRONG_STD = "whsec_" + base64.b64encode(b"\x07" * 32).decode()
GH = "It's a Secret to Everybody"
STRIPE = "whsec_stripe_test_secret_1"
HMAC_HEX, HMAC_B64, HMAC_512 = ("hmac-hex-secret", "hmac-b64-secret",
                                "hmac-512-secret")
HMAC_ENV = "HOOKD_TEST_SOURCES_HMAC"


def sources_conf(b64_file):
    """The `sources` group for the signature cases."""
    return """
sources = {
  std = { verify = "standard-webhooks"; secret = %s;
          type_from = "json:/type"; id_from = "header:webhook-id"; };
  std2 = { verify = "standard-webhooks"; secrets = [%s, %s];
           type_from = "json:/type"; };
  gh = { verify = "github"; secret = %s; type_from = "header:X-GitHub-Event";
         id_from = "header:X-GitHub-Delivery"; };
  gh2 = { verify = "github"; secrets = ["gh-rotate-old", "gh-rotate-new"];
          type = "github.push"; };
  stripe = { verify = "stripe"; secret = %s; tolerance = 60;
             type_from = "json:/type"; };
  stripe2 = { verify = "stripe"; secrets = ["whsec_stripe_old", "whsec_stripe_new"];
              type_from = "json:/type"; };
  hmac_hex = { verify = "hmac"; secret = %s; header = "X-Signature";
               algorithm = "sha256"; encoding = "hex"; prefix = "sha256=";
               type = "hmac.hex"; };
  hmac_b64 = { verify = "hmac"; secret = %s; header = "X-Hmac-B64";
               algorithm = "sha1"; encoding = "base64"; prefix = "sha1=";
               type = "hmac.b64"; };
  hmac_512 = { verify = "hmac"; secret = %s; header = "X-Sig-512";
               algorithm = "sha512"; encoding = "hex"; type = "hmac.sha512"; };
  tok = { verify = "token"; header = "Authorization";
          tokens = ["tok-A-0123456789", "tok-B-abcdef"];
          type_from = "json:/eventType"; };
};
""" % (q(STD), q(STD_A), q(STD_B), q(GH), q(STRIPE), q("env:" + HMAC_ENV),
       q("file:" + b64_file), q(HMAC_512))


# --------------------------------------------------------------- signing --

def std_key(secret):
    return base64.b64decode(secret[6:] if secret.startswith("whsec_")
                            else secret, validate=True)


def std_sig(secret, msg_id, ts, body):
    mac = hmac.new(std_key(secret), b"%s.%s." % (msg_id.encode(), ts.encode())
                   + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def stripe_sig(secret, ts, body):
    return hmac.new(secret.encode(), ts.encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def body_sig(secret, body, algorithm="sha256", encoding="hex"):
    mac = hmac.new(secret.encode(), body, getattr(hashlib, algorithm))
    return mac.hexdigest() if encoding == "hex" \
        else base64.b64encode(mac.digest()).decode()


def build_request(name, case):
    """The case's body (bytes) and headers, signed now."""
    body = case["body"].encode("utf-8")
    sign = case.get("sign")
    ts = str(int(time.time()) + int((sign or {}).get("now_offset", 0)))
    hdrs = {"Content-Type": "application/json"}
    sigs = []
    if sign:
        signed = sign.get("signed_body", case["body"]).encode("utf-8")
        scheme = sign["scheme"]
        msg_id = "msg_" + name
        for s in sign["secrets"]:
            if scheme == "standard":
                sigs.append(std_sig(s, msg_id, ts, signed))
            elif scheme == "github":
                sigs.append(body_sig(s, signed))
            elif scheme == "stripe":
                sigs.append(stripe_sig(s, ts, signed))
            elif scheme == "hmac":
                sigs.append(body_sig(s, signed, sign["algorithm"],
                                     sign["encoding"]))
            else:
                raise AssertionError("%s: unknown scheme %r" % (name, scheme))
        if scheme == "standard":
            hdrs.update({"webhook-id": msg_id, "webhook-timestamp": ts,
                         "webhook-signature": " ".join("v1," + s for s in sigs)})
        elif scheme == "github":
            hdrs.update({"X-Hub-Signature-256": "sha256=" + sigs[0],
                         "X-GitHub-Event": "push",
                         "X-GitHub-Delivery": str(uuid.uuid4())})
        elif scheme == "stripe":
            hdrs["Stripe-Signature"] = "t=%s,%s" % (
                ts, ",".join("v1=" + s for s in sigs))
        else:
            hdrs[sign["header"]] = sign.get("prefix", "") + sigs[0]
    subst = {"{ts}": ts}
    for i, s in enumerate(sigs):
        subst["{sig%d}" % i] = s
        subst["{SIG%d}" % i] = s.upper()
    for k, v in case.get("headers", {}).items():
        for old in [x for x in hdrs if x.lower() == k.lower()]:
            del hdrs[old]
        if v is not None:
            for a, b in subst.items():
                v = v.replace(a, b)
            hdrs[k] = v
    return body, hdrs


def load_cases():
    names = sorted(f[:-5] for f in os.listdir(CASES) if f.endswith(".json"))
    assert len(names) >= 40, "only %d case files in %s" % (len(names), CASES)
    out = []
    for n in names:
        with open(os.path.join(CASES, n + ".json"), encoding="utf-8") as f:
            case = json.load(f)
        assert isinstance(case, dict) and "expect" in case \
            and "source" in case and "body" in case, "%s: bad case" % n
        out.append((n, case))
    return out


def expected_id(name, case, hdrs):
    """The id an accepted case's event gets: "<source>:<the sender's
    delivery id>" (id_from, configured for std and gh, the scheme's
    default for std2, gh2, stripe and stripe2), else None (a new id)."""
    src = case["source"]
    if src in ("std", "std2"):
        return "%s:msg_%s" % (src, name)
    if src in ("gh", "gh2"):
        return "%s:%s" % (src, hdrs["X-GitHub-Delivery"])
    if src in ("stripe", "stripe2"):
        return "%s:%s" % (src, json.loads(case["body"])["id"])
    return None


def run_case(d, name, case):
    """Send one case; a list of problems (empty when it behaved)."""
    body, hdrs = build_request(name, case)
    before = len(d.records(msg="rejected"))
    r = d.post("/hooks/" + case["source"], body, hdrs)
    want = case["expect"]
    if r.status != want:
        return ["want %d %s, got %r" % (want, case.get("error", ""), r)]
    if want == 202:
        b = r.body
        if not (isinstance(b, dict) and sorted(b) == ["deliveries", "id"]
                and isinstance(b["deliveries"], int)):
            return ["202 body %r" % r.raw]
        want_id = expected_id(name, case, hdrs)
        if want_id and b["id"] != want_id:
            return ["id %r, want %r" % (b["id"], want_id)]
        if not want_id and not b["id"].startswith("evt_"):
            return ["id %r, want a new evt_ id" % b["id"]]
        ev = d.get("/v4/events/" + b["id"])
        if ev.status != 200 or ev.body.get("source") != case["source"] or \
                ev.body.get("data") != json.loads(case["body"]):
            return ["stored event %r" % ev]
        return []
    try:
        assert_error(r, want, case["error"])
    except AssertionError as e:
        return [str(e)]
    problems = []
    if case.get("message") and case["message"] not in r.body["message"]:
        problems.append("message %r lacks %r" % (r.body["message"],
                                                  case["message"]))
    if case.get("reason"):
        recs = d.wait_log(count=before + 1, timeout=5, msg="rejected")
        rec = recs[before]
        if rec.get("source") != case["source"] or \
                rec.get("reason") != case["reason"]:
            problems.append("log %r, want source=%s reason=%s" % (
                rec, case["source"], case["reason"]))
    return problems


@test("signature cases in tests/data/sources: every scheme's valid, wrong "
      "secret, tampered, stale/future, several signatures, rotation and "
      "malformed headers give their status and error; a body that is not "
      "JSON is verified before it is parsed (401 when forged, 400 when "
      "authentic)", timeout=60)
def signature_cases():
    cases = load_cases()
    b64_file = os.path.join(h.tmpdir(), "hmac-b64.secret")
    with open(b64_file, "w") as f:
        f.write(HMAC_B64 + "\n")  # one trailing newline is dropped
    with Daemon(h.conf(sources_conf(b64_file)),
                env={HMAC_ENV: HMAC_HEX}) as d:
        failed = []
        seen = {}
        for name, case in cases:
            seen[case["expect"]] = seen.get(case["expect"], 0) + 1
            for p in run_case(d, name, case):
                failed.append("%s (%s): %s" % (name, case["description"], p))
        assert not failed, "%d of %d cases failed:\n  %s" % (
            len(failed), len(cases), "\n  ".join(failed))
        # The files cover what they must.
        assert seen.get(202, 0) >= 10 and seen.get(401, 0) >= 30 \
            and seen.get(400, 0) >= 4, seen


# ---------------------------------------------------------- real senders --

def node_signer():
    """node and sign_sources.mjs, copied next to the pinned npm packages."""
    node, verify = receivers.node_verifier()
    script = os.path.join(os.path.dirname(verify), "sign_sources.mjs")
    receivers.place(SIGNER, script)
    return node, script


def run_signer(spec, timeout=60):
    node, script = node_signer()
    path = os.path.join(h.tmpdir(), "sign-spec.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    p = subprocess.run([node, script, path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=os.path.dirname(script))
    assert p.returncode == 0, p
    return json.loads(p.stdout)


def flip_byte(body):
    """body with one byte changed (still JSON)."""
    i = body.index(b"1")
    return body[:i] + b"2" + body[i + 1:]


@test("real senders: bytes signed by the npm standardwebhooks and "
      "@octokit/webhooks-methods packages are accepted, one changed byte is "
      "not; Stripe's documented formula: fresh 202, stale 400", timeout=120)
def real_senders():
    payload = json.dumps({"type": "order.paid", "data": {
        "n": 1, "text": "caf\u00e9 \u2713 \"q\""}}, ensure_ascii=False)
    gh_payload = json.dumps({"ref": "refs/heads/main", "n": 1,
                             "pusher": {"name": "j\u00f6rg"}},
                            ensure_ascii=False)
    msg_id = "msg_" + uuid.uuid4().hex
    signed = run_signer({"standard": {"secret": STD, "msgId": msg_id,
                                      "payload": payload},
                         "github": {"secret": GH, "payload": gh_payload}})
    sw = signed["standard"]
    assert sw["webhook-signature"].startswith("v1,"), signed
    conf = h.conf("""
sources = {
  sw = { verify = "standard-webhooks"; secret = %s; type_from = "json:/type"; };
  gh = { verify = "github"; secret = %s; type_from = "header:X-GitHub-Event"; };
  stripe = { verify = "stripe"; secret = %s; type_from = "json:/type"; };
};
""" % (q(STD), q(GH), q(STRIPE)))
    ct = {"Content-Type": "application/json"}
    with Daemon(conf) as d:
        body = payload.encode("utf-8")
        r = d.post("/hooks/sw", body, dict(ct, **sw))
        assert r.status == 202, r
        ev = d.get("/v4/events/" + r.body["id"]).body
        assert ev["source"] == "sw" and ev["type"] == "order.paid", ev
        assert ev["data"] == json.loads(payload), ev
        r = d.post("/hooks/sw", flip_byte(body), dict(ct, **sw))
        assert_error(r, 401, "invalid_signature")

        gbody = gh_payload.encode("utf-8")
        gh_hdrs = dict(ct, **{"X-GitHub-Event": "push",
                              "X-Hub-Signature-256":
                              signed["github"]["x-hub-signature-256"]})
        r = d.post("/hooks/gh", gbody, gh_hdrs)
        assert r.status == 202, r
        ev = d.get("/v4/events/" + r.body["id"]).body
        assert ev["source"] == "gh" and ev["type"] == "push", ev
        assert ev["data"] == json.loads(gh_payload), ev
        r = d.post("/hooks/gh", flip_byte(gbody), gh_hdrs)
        assert_error(r, 401, "invalid_signature")

        sbody = b'{"id":"evt_1","type":"charge.succeeded","amount":1}'
        for age, status in ((0, 202), (600, 400)):
            t = str(int(time.time()) - age)
            v1 = hmac.new(STRIPE.encode(), t.encode() + b"." + sbody,
                          hashlib.sha256).hexdigest()
            r = d.post("/hooks/stripe", sbody, dict(
                ct, **{"Stripe-Signature": "t=%s,v1=%s" % (t, v1)}))
            if status == 202:
                assert r.status == 202, r
            else:
                assert_error(r, 400, "stale_timestamp")


# ----------------------------------------------------------- end to end --

S1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def runs(folder):
    return sorted(f for f in os.listdir(folder) if f.startswith("run."))


@test("end to end: a GitHub push runs the exec handler routed on "
      "sources = [\"github\"] once (replay: 200 duplicate); a Kadoa-shaped "
      "delivery fans out to a subscription, signed", timeout=120)
def end_to_end():
    t = h.tmpdir()
    out = os.path.join(t, "runs")
    os.mkdir(out)
    sh = os.path.join(t, "onpush.sh")
    with open(sh, "w") as f:
        # Each run: stdin into its own file, renamed run.* once complete.
        f.write('#!/bin/sh\nf=$(mktemp %s/tmp.XXXXXX) || exit 1\n'
                'cat > "$f" && mv "$f" %s/run."${f##*.}"\n' % (q(out), q(out)))
    os.chmod(sh, 0o755)
    kadoa_token = "kadoa-" + uuid.uuid4().hex
    with Sink() as sink:
        conf = h.conf("""
sources = {
  github = { verify = "github"; secret = %s; type_from = "header:X-GitHub-Event";
             id_from = "header:X-GitHub-Delivery"; };
  kadoa = { verify = "token"; header = "Authorization"; token = %s;
            type_from = "json:/eventType"; };
};
subscriptions = { allow_targets = ["127.0.0.1/32"]; };
handlers = { onpush = { plugin = "exec"; command = ["/bin/sh", %s]; }; };
routes = ( { events = ["push"]; sources = ["github"]; handlers = ["onpush"]; } );
""" % (q(GH), q(kadoa_token), q(sh)))
        with Daemon(conf) as d:
            delivery = str(uuid.uuid4())
            body = json.dumps({
                "ref": "refs/heads/main",
                "before": "0" * 40, "after": "a" * 40,
                "repository": {"id": 1, "full_name": "octo/hello"},
                "pusher": {"name": "octocat"},
                "commits": [{"id": "a" * 40, "message": "caf\u00e9"}]},
                ensure_ascii=False).encode("utf-8")
            hdrs = {"Content-Type": "application/json",
                    "User-Agent": "GitHub-Hookshot/abc123",
                    "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                    "X-GitHub-Hook-ID": "42",
                    "X-Hub-Signature-256": "sha256=" + body_sig(GH, body)}
            eid = "github:" + delivery
            r = d.post("/hooks/github", body, hdrs)
            assert r.status == 202, r
            assert r.body == {"id": eid, "deliveries": 1}, r.body
            h.wait_for(lambda: len(runs(out)) == 1, 10, "the exec handler")
            env = json.load(open(os.path.join(out, runs(out)[0]),
                                 encoding="utf-8"))
            assert env["type"] == "push" and env["source"] == "github", env
            assert env["id"] == eid, env
            assert env["data"] == json.loads(body), env

            # The same delivery again: acknowledged, not run again.
            r = d.post("/hooks/github", body, hdrs)
            assert r.status == 200, r
            assert r.body == {"id": eid, "duplicate": True}, r.body
            # A second, new delivery runs; once it has, the replay has had
            # every chance to run too.
            d2 = str(uuid.uuid4())
            body2 = body.replace(b"octocat", b"hubot")
            r = d.post("/hooks/github", body2, dict(
                hdrs, **{"X-GitHub-Delivery": d2,
                         "X-Hub-Signature-256": "sha256=" + body_sig(GH, body2)}))
            assert r.status == 202 and r.body["id"] == "github:" + d2, r
            h.wait_for(lambda: len(runs(out)) >= 2, 10, "the second run")
            d.wait_log(msg="attempt", event="github:" + d2, outcome="ok")
            ids = sorted(json.load(open(os.path.join(out, f)))["id"]
                         for f in runs(out))
            assert ids == sorted([eid, "github:" + d2]), ids
            ev = d.get("/v4/events/" + eid).body
            assert len(ev["deliveries"]) == 1 and \
                ev["deliveries"][0]["attemptCount"] == 1, ev
            # An api event of the same type is not the route's.
            r = d.post_event({"type": "push", "data": {"x": 1}})
            assert r.status == 202 and r.body["deliveries"] == 0, r

            # Kadoa-shaped, token-verified, to a subscription.
            sub = d.post("/v4/webhook-subscriptions", {
                "webhookUrl": sink.url("/kadoa-sub"), "secret": S1,
                "events": ["workflow_finished"]})
            assert sub.status == 201, sub
            kbody = {"eventType": "workflow_finished", "workflowId": "wf-7",
                     "timestamp": "2024-01-01T00:00:00Z",
                     "data": {"rows": 3, "name": "caf\u00e9"}}
            kraw = json.dumps(kbody).encode()
            r = d.post("/hooks/kadoa", kraw, {
                "Content-Type": "application/json",
                "Authorization": "Bearer " + kadoa_token})
            assert r.status == 202 and r.body["deliveries"] == 1, r
            kid = r.body["id"]
            r2 = d.post("/hooks/kadoa", kraw, {
                "Content-Type": "application/json",
                "Authorization": "Bearer wrong"})
            assert_error(r2, 401, "invalid_signature")
            reqs = sink.wait_requests("/kadoa-sub", 1)
            got = json.loads(reqs[0]["body"])
            assert reqs[0]["hdr"]["webhook-id"] == kid, reqs[0]["hdr"]
            assert got["id"] == kid and got["type"] == "workflow_finished", got
            assert got["data"] == kbody, got
            ev = d.get("/v4/events/" + kid).body
            assert ev["source"] == "kadoa", ev
            res = run_verifier({"checks": [
                {"name": "ok", "scheme": "standard-webhooks", "secret": S1,
                 "path": "/kadoa-sub", "requests": sink.log},
                {"name": "wrong", "scheme": "standard-webhooks",
                 "secret": WRONG_STD, "path": "/kadoa-sub",
                 "requests": sink.log}]})
            ok = [x for x in res if x["name"] == "ok"]
            bad = [x for x in res if x["name"] == "wrong"]
            assert len(ok) == 1 and ok[0]["ok"], res
            assert len(bad) == 1 and not bad[0]["ok"], res
            assert len(sink.requests()) == 1, sink.requests()


def std_headers(secret, msg_id, body, ts=None):
    ts = ts or str(int(time.time()))
    return {"Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": ts,
            "webhook-signature": "v1," + std_sig(secret, msg_id, ts, body)}


def gh_headers(body, delivery=None):
    hdrs = {"Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-Hub-Signature-256": "sha256=" + body_sig(GH, body)}
    if delivery:
        hdrs["X-GitHub-Delivery"] = delivery
    return hdrs


def stripe_headers(body):
    t = str(int(time.time()))
    return {"Content-Type": "application/json",
            "Stripe-Signature": "t=%s,v1=%s" % (t, stripe_sig(STRIPE, t, body))}


@test("replay protection without id_from: standard-webhooks, github and "
      "stripe sources take the sender's delivery id (webhook-id, "
      "X-GitHub-Delivery, the body's /id); the same signed request twice "
      "is 202 then 200 duplicate, one event, one handler run. Without a "
      "usable one a new id, as before; an explicit id_from wins and is "
      "strict", timeout=60)
def default_delivery_ids():
    rec = os.path.join(h.tmpdir(), "runs.rec")
    conf = h.conf("""
sources = {
  sw = { verify = "standard-webhooks"; secret = %s; type_from = "json:/type"; };
  gh = { verify = "github"; secret = %s; type_from = "header:X-GitHub-Event"; };
  stripe = { verify = "stripe"; secret = %s; type_from = "json:/type"; };
  own = { verify = "standard-webhooks"; secret = %s; type_from = "json:/type";
          id_from = "json:/delivery"; };
};
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["rec"]; } );
""" % (q(STD), q(GH), q(STRIPE), q(STD), good_handler("rec", record=rec)))
    sw_body = b'{"type":"order.paid","data":{"n":1}}'
    gh_body = b'{"ref":"refs/heads/main","after":"' + b"a" * 40 + b'"}'
    msg, delivery = "msg_" + uuid.uuid4().hex, str(uuid.uuid4())
    evt = "evt_" + uuid.uuid4().hex[:24]
    st_body = ('{"id":"%s","object":"event","type":"invoice.paid"}'
               % evt).encode()
    with Daemon(conf) as d:
        accepted = []
        # Each request twice, signed once: the second is the replay.
        for path, body, hdrs, eid in (
                ("/hooks/sw", sw_body, std_headers(STD, msg, sw_body),
                 "sw:" + msg),
                ("/hooks/gh", gh_body, gh_headers(gh_body, delivery),
                 "gh:" + delivery),
                ("/hooks/stripe", st_body, stripe_headers(st_body),
                 "stripe:" + evt)):
            r = d.post(path, body, hdrs)
            assert r.status == 202 and r.body == {"id": eid,
                                                  "deliveries": 1}, r
            r = d.post(path, body, hdrs)
            assert r.status == 200, r
            assert r.body == {"id": eid, "duplicate": True}, r.body
            accepted.append(eid)

        # No usable delivery id: a new one each time, as without a
        # default (nothing accepted before is refused now).
        no_id = (
            ("/hooks/gh", gh_body, gh_headers(gh_body)),
            ("/hooks/stripe", b'{"type":"invoice.paid"}',
             stripe_headers(b'{"type":"invoice.paid"}')),
            ("/hooks/stripe", b'{"id":"evt 1","type":"invoice.paid"}',
             stripe_headers(b'{"id":"evt 1","type":"invoice.paid"}')),
            # Signed, printable, but not an event id ("/", "+").
            ("/hooks/sw", sw_body, std_headers(STD, "msg/1+2", sw_body)))
        for path, body, hdrs in no_id:
            ids = []
            for _ in range(2):
                r = d.post(path, body, hdrs)
                assert r.status == 202 and r.body["id"].startswith("evt_"), \
                    (path, body, r)
                ids.append(r.body["id"])
            assert ids[0] != ids[1], ids
            accepted.extend(ids)

        # An explicit id_from wins over webhook-id, and is strict.
        own = b'{"type":"order.paid","delivery":"d-1"}'
        for status in (202, 200):
            r = d.post("/hooks/own", own, std_headers(STD, msg, own))
            assert r.status == status and r.body["id"] == "own:d-1", r
        accepted.append("own:d-1")
        assert_error(d.post("/hooks/own", sw_body,
                            std_headers(STD, "msg_x", sw_body)),
                     422, "invalid_event")

        # One event and one handler run per accepted id; the replays made
        # no delivery (every delivery is listed, so none is left to run).
        dl = d.get("/v4/deliveries?target=rec&limit=500")
        assert dl.status == 200, dl
        assert sorted(x["eventId"] for x in dl.body["deliveries"]) == \
            sorted(accepted), dl.body
        for eid in accepted:
            d.wait_log(msg="attempt", event=eid, outcome="ok")
        h.wait_lines(rec, len(accepted))
        assert sorted(x[1] for x in h.records(rec)) == sorted(accepted), \
            h.records(rec)


@test("POST /v4/events refuses an id starting with a configured source's "
      "name and \":\" (422, field /id): it would make that source's real "
      "delivery a duplicate; other ids with \":\" are published")
def source_ids_reserved():
    conf = h.conf("""
sources = {
  typed = { verify = "none"; allow_from = ["::1/128", "127.0.0.0/8"];
            type_from = "json:/kind"; id_from = "json:/n"; };
  gh = { verify = "github"; secret = %s; type_from = "header:X-GitHub-Event"; };
};
""" % q(GH))
    ct = {"Content-Type": "application/json"}
    with Daemon(conf) as d:
        for eid, name in (("typed:8", "typed"),
                          ("gh:" + str(uuid.uuid4()), "gh")):
            r = d.post_event({"type": "typed.ok", "id": eid})
            assert_error(r, 422, "invalid_event", "/id")
            assert ('"%s:"' % name) in r.body["message"] and \
                ("source '%s'" % name) in r.body["message"], r.body
            assert d.get("/v4/events/" + eid).status == 404
        # The delivery the refused publish would have pre-empted.
        r = d.post("/hooks/typed", b'{"kind":"typed.ok","n":8}', ct)
        assert r.status == 202 and r.body["id"] == "typed:8", r
        # A longer or other name, another case, a later ":": not reserved.
        for eid in ("typedx:8", "TYPED:8", "api:1", "x:typed:1", "typed"):
            assert d.publish({"type": "typed.ok", "id": eid})["id"] == eid


# ------------------------------------------------------------ refusals --

@test("allow_from (127.0.0.1/32 accepts, 10.0.0.0/8 403), 404 unknown "
      "source, 415, 413, invalid_json, invalid_event, unknown_event_type; "
      "a route with sources = [\"api\"] gets api events only")
def refusals_and_routes():
    t = h.tmpdir()
    rec_api, rec_open = os.path.join(t, "api.rec"), os.path.join(t, "open.rec")
    conf = h.conf("""
event_types = (
  { name = "open.ping"; description = "ping"; },
  { name = "closed.ping"; description = "ping"; },
  { name = "api.thing"; description = "api"; },
  { name = "typed.ok"; description = "typed"; }
);
sources = {
  open = { verify = "none"; allow_from = ["127.0.0.1/32"]; type = "open.ping"; };
  closed = { verify = "none"; allow_from = ["10.0.0.0/8"]; type = "closed.ping"; };
  typed = { verify = "none"; allow_from = ["::1/128", "127.0.0.0/8"];
            type_from = "json:/kind"; id_from = "json:/n"; };
};
handlers = { %s %s };
routes = (
  { events = ["*"]; sources = ["api"]; handlers = ["onapi"]; },
  { events = ["*"]; sources = ["open"]; handlers = ["onopen"]; }
);
""" % (good_handler("onapi", record=rec_api),
       good_handler("onopen", record=rec_open)), max_body=1024)
    ct = {"Content-Type": "application/json"}
    with Daemon(conf) as d:
        r = d.post("/hooks/open", b'{"hello":"world"}', ct)
        assert r.status == 202 and r.body["deliveries"] == 1, r
        inbound = r.body["id"]
        api = d.publish({"type": "api.thing", "data": {"x": 1}})
        assert api["deliveries"] == 1, api
        assert_error(d.post("/hooks/closed", b"{}", ct), 403, "forbidden")
        # 403 comes before the body is looked at.
        assert_error(d.post("/hooks/closed", b"x", {"Content-Type": "text/plain"}),
                     403, "forbidden")
        assert_error(d.post("/hooks/nope", b"{}", ct), 404, "not_found")
        assert_error(d.post("/hooks/open", b'{"a":1}',
                            {"Content-Type": "text/plain"}),
                     415, "unsupported_media_type")
        assert_error(d.post("/hooks/open", b'{"a":"' + b"x" * 2000 + b'"}', ct),
                     413, "payload_too_large")
        for bad in (b"[1,2]", b'{"a":', b'"s"', b"", b'{"a":1\x00}'):
            assert_error(d.post("/hooks/open", bad, ct), 400, "invalid_json")
        r = d.post("/hooks/typed", b'{"kind":"typed.ok","n":7}', ct)
        assert r.status == 202 and r.body["id"] == "typed:7", r
        assert d.post("/hooks/typed", b'{"kind":"typed.ok","n":7}', ct).body \
            == {"id": "typed:7", "duplicate": True}
        assert_error(d.post("/hooks/typed", b'{"n":8}', ct), 422, "invalid_event")
        assert_error(d.post("/hooks/typed", b'{"kind":"bad type!","n":8}', ct),
                     422, "invalid_event")
        assert_error(d.post("/hooks/typed", b'{"kind":"typed.ok"}', ct),
                     422, "invalid_event")
        assert_error(d.post("/hooks/typed", b'{"kind":"typed.ok","n":"a b"}', ct),
                     422, "invalid_event")
        assert_error(d.post("/hooks/typed", b'{"kind":"not.listed","n":9}', ct),
                     422, "unknown_event_type")

        h.wait_lines(rec_api, 1)
        h.wait_lines(rec_open, 1)
        # Both events have been dispatched: neither crossed over.
        d.wait_log(msg="attempt", event=inbound, outcome="ok")
        d.wait_log(msg="attempt", event=api["id"], outcome="ok")
        assert [x[1] for x in h.records(rec_api)] == [api["id"]], \
            h.records(rec_api)
        assert [x[1] for x in h.records(rec_open)] == [inbound], \
            h.records(rec_open)
        ev = d.get("/v4/events/" + inbound).body
        assert ev["source"] == "open" and ev["data"] == {"hello": "world"}, ev
        assert [x["target"] for x in ev["deliveries"]] == ["onopen"], ev


if __name__ == "__main__":
    h.main()
