#!/usr/bin/env python3
"""Security properties of the API, black box (docs/security.md, "Threat
model"): API input is data, never configuration — a subscription's header
values of `env:NAME` or `file:PATH` are sent literally on every delivery,
on /test, after PATCH and after a restart, and no answer tells whether the
variable or file exists; an open hookd (no API keys) cannot be driven by a
web page: it refuses to listen beyond loopback unless told, state-changing
calls need JSON or a key, and only Host names no page can rebind are
served; /metrics can require a key."""

import json
import os

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


if __name__ == "__main__":
    h.main()
