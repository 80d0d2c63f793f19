#!/usr/bin/env python3
"""Security properties of the API, black box (docs/security.md, "Threat
model"): API input is data, never configuration — a subscription's header
values of `env:NAME` or `file:PATH` are sent literally on every delivery,
on /test, after PATCH and after a restart, and no answer tells whether the
variable or file exists."""

import json
import os

import hookdtest as h
from hookdtest import Daemon, q, test

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


if __name__ == "__main__":
    h.main()
