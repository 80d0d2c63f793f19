#!/usr/bin/env python3
"""Secrets stay secret: one run with every kind of secret configured (API
keys, a literal and from env:; inbound sources' signing secrets and token,
from file:; an http handler's signing secret, a credential in its URL and
an Authorization header; a second http handler whose receiver is down; an
smtp password; webhook subscriptions created through the API, one with a
generated secret that is then rotated, one with its own), every one of
them used: publishing with right and wrong keys, inbound webhooks good and
bad, deliveries that succeed and fail, the subscription API, /metrics,
`hookd --check-config` of the good file and of broken ones, SIGHUP reloads
(good and broken). Then every output is searched for every secret (also
as the base64 body and hex bytes of a whsec_ key, and as the base64 of a
URL's user:password): the daemon's log and stdout, every HTTP answer
(status line, headers, body), /metrics, --check-config's stdout and
stderr. The only allowed sighting: a subscription's secret in the one
answer that creates or rotates it (docs/api.md). The store file is not
searched (it holds the secrets by design)."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

import hookdtest as h
from hookdtest import Daemon, assert_error, conf, q, qlist, test

from receivers import Sink

SMTP_SINK = os.path.join(h.HERE, "smtp_sink.py")


def whsec(tag):
    """A whsec_ secret whose key bytes spell tag (32 bytes)."""
    return "whsec_" + base64.b64encode(tag.encode().ljust(32, b"#")).decode()


# Every configured secret, by name.
SECRETS = {
    "api_key": "apikey-Literal-7f3a9c1e5b2d4068",
    "api_key_env": "apikey-FromEnv-c81e728d9d4c2f63",
    "source_whsec": whsec("source-signing-key"),
    "source_token": "srctoken-9b2f4e71d3a6c058",
    "source_github": "ghsecret-5e8d1c3b7a0f2469",
    "handler_whsec": whsec("handler-signing-key"),
    "handler_header": "hdrtoken-3c6a9e1f7b2d4805",
    "url_password": "urlpass-8d4f2a6c1e9b3750",
    "down_url_password": "downpass-2b7e5a9c4f1d6083",
    "smtp_password": "smtppass-6f1c8a3e9d2b4750",
    "sub_own": whsec("subscription-own-secret"),
}
# Secrets that appear only in broken configurations.
BROKEN = {
    "short_api_key": "shortKey-91",
    "bad_whsec": "notwhsec-4a8c2e6f1b3d5970",
    "ftp_url_password": "ftppass-7c3e9a1f5b2d8046",
    "hmac_source": "hmacsecret-0e5c7a9f3b1d2846",
    "source_bad_whsec": "whsec_srcbad-6d2f9a4c1e7b3058",
}
URL_USER = "hookuser"
SMTP_USER = "mailer"


def forms(name, value):
    """The ways a secret could show up: itself, a whsec_ key's base64 body
    and hex bytes, a URL credential's Basic-auth base64."""
    out = {value}
    if value.startswith("whsec_"):
        body = value[len("whsec_"):]
        out.add(body)
        try:
            out.add(base64.b64decode(body, validate=True).hex())
        except ValueError:
            pass
    if name.endswith("url_password"):
        user = "downuser" if name.startswith("down") else URL_USER
        out.add(base64.b64encode(("%s:%s" % (user, value)).encode())
                .decode())
    return out


# ------------------------------------------------------------ receivers --

class SmtpSink:
    """smtp_sink.py (aiosmtpd) requiring AUTH, stopped by its PID."""

    def __init__(self, auth):
        self.dir = os.path.join(h.tmpdir(), "smtp")
        os.makedirs(self.dir)
        self.auth = auth
        self.proc = None
        self.port = None

    def python(self):
        for exe in (sys.executable, "/usr/bin/python3"):
            if exe and os.path.exists(exe) and subprocess.run(
                    [exe, "-c", "import aiosmtpd"], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, timeout=20).returncode == 0:
                return exe
        raise AssertionError("no python3 with aiosmtpd: install "
                             "python3-aiosmtpd (scripts/dev deps does)")

    def __enter__(self):
        with open(os.path.join(self.dir, "err"), "wb") as err:
            self.proc = subprocess.Popen(
                [self.python(), SMTP_SINK, self.dir, "--auth", self.auth],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        h.context().procs.append(self.proc)

        def port():
            assert self.proc.poll() is None, "smtp_sink exited"
            lines = h.read_lines(os.path.join(self.dir, "port"))
            return int(lines[0]) if lines else None
        self.port = h.wait_for(port, 10, "the smtp sink's port")
        return self

    def __exit__(self, *exc):
        Sink.__exit__(self, *exc)
        return False

    def accepted(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json") and name != "control.json":
                with open(os.path.join(self.dir, name)) as f:
                    rec = json.load(f)
                if rec["reply"].startswith("250"):
                    out.append(rec)
        return out


# --------------------------------------------------------------- signing --

def std_headers(secret, msg_id, body, ts=None):
    ts = str(int(time.time()) if ts is None else ts)
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body,
                   hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
            "Content-Type": "application/json"}


def github_headers(secret, delivery, body):
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "secret.github", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + sig,
            "Content-Type": "application/json"}


# ---------------------------------------------------------------- config --

def secrets_conf(sink, smtp_port, token_file, **over):
    """The configuration with every secret; over replaces a piece
    (server=..., handlers=..., sources=...) to make it broken."""
    s = SECRETS
    server = over.get("server") or h.server_block(
        api_keys=[s["api_key"], "env:HOOKD_IT_KEY2"])
    handlers = over.get("handlers") or """
handlers = {
  hook = { plugin = "http"; url = %s; sign = "standard-webhooks";
           secret = %s; headers = { Authorization = %s; }; timeout = 5; };
  down = { plugin = "http"; url = %s; sign = "standard-webhooks";
           secret = %s; connect_timeout = 1; timeout = 2; };
  mail = { plugin = "smtp"; url = %s; starttls = "none"; username = %s;
           password = "env:HOOKD_IT_SMTP_PW"; from = "hookd@example.test";
           to = ["ops@example.test"]; timeout = 5; };
};
""" % (q("http://%s:%s@127.0.0.1:%d/hook" % (URL_USER, s["url_password"],
                                              sink.port)),
       q(s["handler_whsec"]), q("Bearer " + s["handler_header"]),
       q("http://downuser:%s@127.0.0.1:9/down" % s["down_url_password"]),
       q(s["handler_whsec"]), q("smtp://127.0.0.1:%d" % smtp_port),
       q(SMTP_USER))
    sources = over.get("sources") or """
sources = {
  std = { verify = "standard-webhooks"; secret = %s;
          type_from = "json:/type"; id_from = "header:webhook-id"; };
  tok = { verify = "token"; token = %s; header = "Authorization";
          type = "secret.token"; };
  gh = { verify = "github"; secret = %s; type_from = "header:X-GitHub-Event";
         id_from = "header:X-GitHub-Delivery"; };
};
""" % (q(s["source_whsec"]), q("file:" + token_file), q(s["source_github"]))
    return server + handlers + sources + """
routes = (
  { events = ["secret.*"]; handlers = ["hook", "mail"]; },
  { events = ["secret.down"]; handlers = ["down"]; retry = [0.2]; }
);
subscriptions = { allow_targets = ["127.0.0.1/32"]; };
storage = { url = %s; };
""" % q("sqlite:" + os.path.join(h.tmpdir(), "hookd.db"))


def broken_confs(sink, smtp_port, token_file):
    """Broken configurations that hold secrets in the settings at fault:
    (name, text)."""
    b = BROKEN
    base = dict(sink=sink, smtp_port=smtp_port, token_file=token_file)
    http = 'handlers = { x = { plugin = "http"; url = %s; %s }; };\n'
    return [
        ("api key too short", secrets_conf(server=h.server_block(
            api_keys=[b["short_api_key"]]), **base)),
        ("a signing secret without whsec_", secrets_conf(handlers=http % (
            q("http://127.0.0.1:9/x"), 'sign = "standard-webhooks"; '
            'secret = %s;' % q(b["bad_whsec"])), **base)),
        ("a URL with credentials and a wrong scheme",
         secrets_conf(handlers=http % (q("ftp://u:%s@127.0.0.1/x"
                                         % b["ftp_url_password"]), ""),
                      **base)),
        ("an hmac source without header", secrets_conf(sources="""
sources = { s = { verify = "hmac"; secret = %s; type = "x"; }; };
""" % q(b["hmac_source"]), **base)),
        ("a standard-webhooks source secret that is not base64",
         secrets_conf(sources="""
sources = { s = { verify = "standard-webhooks"; secret = %s; type = "x"; }; };
""" % q(b["source_bad_whsec"]), **base)),
        ("a secret without sign", secrets_conf(handlers=http % (
            q("http://127.0.0.1:9/x"), "secret = %s;" % q(
                SECRETS["handler_whsec"])), **base)),
    ]


# ------------------------------------------------------------------ test --

class Capture:
    """Every HTTP answer of the run, as text, with the secrets allowed in
    it (by name)."""

    def __init__(self, d):
        self.d = d
        self.items = []

    def __call__(self, method, path, body=None, headers=None, allow=()):
        r = self.d.request(method, path, body, headers)
        text = "HTTP %d\n%s\n\n%s" % (
            r.status, "\n".join("%s: %s" % kv for kv in r.headers.items()),
            r.raw.decode("utf-8", "replace"))
        self.items.append(("%s %s -> %d" % (method, path, r.status), text,
                           set(allow)))
        return r


def find_secrets(outputs, secrets):
    """[(output, secret name, form)] for every sighting not allowed."""
    hits = []
    for what, text, allowed in outputs:
        for name, value in secrets.items():
            if name in allowed:
                continue
            for f in forms(name, value):
                if f in text:
                    hits.append((what, name, f))
    return hits


@test("every kind of secret configured and used; none appears in the log, "
      "any HTTP answer (but the one that creates or rotates a "
      "subscription's), /metrics or --check-config output", timeout=80)
def secrets_never_shown():
    s = SECRETS
    token_file = os.path.join(h.tmpdir(), "source.token")
    with open(token_file, "w") as f:
        f.write(s["source_token"] + "\n")
    env = {"HOOKD_IT_KEY2": s["api_key_env"],
           "HOOKD_IT_SMTP_PW": s["smtp_password"]}
    key = {"x-api-key": s["api_key"]}
    outputs = []
    found = dict(SECRETS)
    found.update(BROKEN)
    with Sink() as sink, SmtpSink("%s:%s" % (SMTP_USER,
                                             s["smtp_password"])) as smtp:
        text = secrets_conf(sink, smtp.port, token_file)
        path = os.path.join(h.tmpdir(), "good.conf")
        with open(path, "w") as f:
            f.write(text)
        args = ["--check-config", "-c", path, "--plugin-dir", h.PLUGIN_DIR]
        r = h.run_hookd(args, env=env)
        assert r.returncode == 0, r
        outputs.append(("--check-config (good) stdout", r.stdout, set()))
        outputs.append(("--check-config (good) stderr", r.stderr, set()))
        for name, bad in broken_confs(sink, smtp.port, token_file):
            bpath = os.path.join(h.tmpdir(), "broken.conf")
            with open(bpath, "w") as f:
                f.write(bad)
            r = h.run_hookd(["--check-config", "-c", bpath, "--plugin-dir",
                             h.PLUGIN_DIR], env=env)
            assert r.returncode == 1, (name, r)
            outputs.append(("--check-config (%s) stdout" % name, r.stdout,
                            set()))
            outputs.append(("--check-config (%s) stderr" % name, r.stderr,
                            set()))

        d = Daemon(text, env=env, args=["--log-level", "debug"])
        with d:
            call = Capture(d)
            call("GET", "/healthz")
            call("GET", "/metrics")
            # Keys: wrong ones everywhere they could be given, then right.
            for hd in ({}, {"x-api-key": s["api_key"][:-1]},
                       {"x-api-key": s["api_key"] + "x"},
                       {"Authorization": "Bearer " + s["api_key_env"][:20]},
                       {"Authorization": "Basic " + s["api_key"]}):
                assert_error(call("POST", "/v4/events", {"type": "secret.x"},
                                  hd), 401, "unauthorized")
                assert_error(call("GET", "/v4/webhook-subscriptions", None,
                                  hd), 401, "unauthorized")
            ids = [call("POST", "/v4/events", {"type": "secret.api"},
                        hd).body["id"] for hd in (
                key, {"Authorization": "Bearer " + s["api_key_env"]})]

            # Subscriptions: a generated secret, then rotated; an own one.
            sub = {"webhookUrl": sink.url("/sub"), "events": ["secret.*"]}
            a = call("POST", "/v4/webhook-subscriptions", sub, key,
                     allow={"sub_generated"})
            assert a.status == 201, a
            found["sub_generated"] = a.body["secret"]
            b = call("POST", "/v4/webhook-subscriptions",
                     dict(sub, secret=s["sub_own"]), key, allow={"sub_own"})
            assert b.status == 201 and b.body["secret"] == s["sub_own"], b
            rot = call("PATCH", "/v4/webhook-subscriptions/" + a.body["id"],
                       {"rotateSecret": True}, key, allow={"sub_rotated"})
            assert rot.status == 200, rot
            found["sub_rotated"] = rot.body["secret"]
            assert found["sub_rotated"] != found["sub_generated"]
            listed = call("GET", "/v4/webhook-subscriptions", None, key)
            for x in listed.body["subscriptions"]:
                assert x["secret"].startswith("whsec_\u2026"), x
            for sid in (a.body["id"], b.body["id"]):
                one = call("GET", "/v4/webhook-subscriptions/" + sid, None,
                           key)
                assert one.body["secret"].startswith("whsec_\u2026"), one
            call("PATCH", "/v4/webhook-subscriptions/" + b.body["id"],
                 {"description": "changed"}, key)
            r = call("PATCH", "/v4/webhook-subscriptions/" + b.body["id"],
                     {"secret": "whsec_not*base64"}, key)
            assert r.status == 422, r
            t = call("POST", "/v4/webhook-subscriptions/%s/test"
                     % a.body["id"], {"type": "secret.test"}, key)
            assert t.status == 200 and t.body["success"] is True, t

            # Inbound webhooks: right and wrong signatures and tokens.
            body = json.dumps({"type": "secret.std", "n": 1}).encode()
            r = call("POST", "/hooks/std", body,
                     std_headers(s["source_whsec"], "msg_1", body))
            assert r.status == 202, r
            ids.append(r.body["id"])
            for hd in (std_headers(s["handler_whsec"], "msg_2", body),
                       std_headers(s["source_whsec"], "msg_3", body + b" "),
                       std_headers(s["source_whsec"], "msg_4", body,
                                   ts=int(time.time()) - 3600)):
                r = call("POST", "/hooks/std", body, hd)
                assert r.status in (400, 401), r
            tbody = json.dumps({"n": 2}).encode()
            for tok, want in ((s["source_token"], 202),
                              ("Bearer " + s["source_token"], 202),
                              (s["source_token"][:-1], 401),
                              ("Bearer " + s["source_token"] + "0", 401),
                              (s["api_key"], 401)):
                r = call("POST", "/hooks/tok", tbody,
                         {"Authorization": tok,
                          "Content-Type": "application/json"})
                assert r.status == want, (tok, r)
                if want == 202:
                    ids.append(r.body["id"])
            gbody = json.dumps({"ref": "main"}).encode()
            r = call("POST", "/hooks/gh", gbody,
                     github_headers(s["source_github"], "d-1", gbody))
            assert r.status == 202, r
            ids.append(r.body["id"])
            r = call("POST", "/hooks/gh", gbody,
                     github_headers(s["source_github"] + "x", "d-2", gbody))
            assert_error(r, 401, "invalid_signature")

            # A delivery that fails: the receiver is down.
            down = call("POST", "/v4/events", {"type": "secret.down"},
                        key).body["id"]
            d.wait_log(msg="dead", event=down, target="down", timeout=20)

            # Every delivery of the events ends; look at their histories.
            def done(eid):
                ev = call("GET", "/v4/events/" + eid, None, key).body
                return all(x["state"] in ("succeeded", "dead")
                           for x in ev["deliveries"])
            for eid in ids + [down]:
                h.wait_for(lambda: done(eid), 20, "deliveries of %s" % eid,
                           interval=0.1)
            call("GET", "/v4/deliveries?limit=500", None, key)
            call("GET", "/v4/deliveries?state=dead", None, key)
            assert not d.records(msg="dead", target="hook"), \
                d.records(msg="dead")
            assert not d.records(msg="dead", target="mail"), \
                d.records(msg="dead")

            # Reloads: a broken file (refused), then the good one again.
            good_text = text
            bad_text = broken_confs(sink, smtp.port, token_file)[0][1]
            assert d.reload(bad_text) is False
            assert d.reload(good_text) is True
            ids.append(call("POST", "/v4/events", {"type": "secret.after"},
                            key).body["id"])
            h.wait_for(lambda: done(ids[-1]), 20, "the last event delivered",
                       interval=0.1)
            call("GET", "/metrics")
            call("GET", "/v4/webhook-subscriptions", None, key)
        outputs.append(("hookd's log", d.log_text(), set()))
        with open(d.out_path, encoding="utf-8", errors="replace") as f:
            outputs.append(("hookd's stdout", f.read(), set()))
        outputs.extend(call.items)

        # The secrets were in use: the receivers saw them.
        hooks = sink.requests("/hook")
        assert hooks and all(
            x["hdr"].get("authorization") == "Bearer " + s["handler_header"]
            for x in hooks), hooks[:1]
        assert len(sink.requests("/sub")) >= 2 * len(ids) - 2
        assert smtp.accepted(), "no mail accepted (SMTP AUTH)"
        assert d.records(msg="attempt", target="mail", outcome="ok")

    hits = find_secrets(outputs, found)
    # The allowed sightings happened (the search finds what is there).
    for name in ("sub_generated", "sub_own", "sub_rotated"):
        assert [o for o in outputs if name in o[2] and found[name] in o[1]], \
            "the answer that set %s does not show it" % name
    total = sum(len(t) for _, t, _ in outputs)
    print("# secrets: %d secret values (%d forms) searched in %d outputs "
          "(%d KiB: the log, %d HTTP answers, --check-config of 1 good and "
          "%d broken files); %d sightings outside the documented ones"
          % (len(found), sum(len(forms(n, v)) for n, v in found.items()),
             len(outputs), total // 1024, len(call.items),
             len(broken_confs(sink, smtp.port, token_file)), len(hits)))
    assert not hits, "secrets shown:\n%s" % "\n".join(
        "%s: %s as %r" % hit for hit in hits[:40])


if __name__ == "__main__":
    h.main()
