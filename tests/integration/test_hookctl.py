#!/usr/bin/env python3
"""hookctl, the command-line client, black box: the built binary against a
real hookd (and a real webhook receiver, http_sink.py): publish and events
show, the catalog, subscriptions add/list/show/test/rm, the delivery log
with its paging, dead letters and their replay; exit statuses (2 usage, 1
API or network), API keys, the precedence flag > environment > file >
default, aligned tables, and the manual page against --help.

hookctl runs with an empty XDG_CONFIG_HOME and without HOOKD_URL or
HOOKD_API_KEY unless a test sets them, so a developer's own configuration
cannot leak in. Its stderr must hold no sanitizer report (leaks count)."""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import time

import hookdtest as h
from hookdtest import Daemon, conf, good_handler, q, test

from receivers import Sink

HOOKCTL_BIN = os.environ.get("HOOKCTL_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(h.HOOKD_BIN)), "hookctl")

KEY = "k3y-for-hookctl-0123456789"
OTHER_KEY = "another-key-for-hookctl-tests"

CATALOG = """
event_types = (
  { name = "order.created"; description = "an order was placed";
    required = ["/data/order_id"]; },
  { name = "ping"; description = "liveness, with a longer description"; },
  { name = "served"; description = "non-ASCII: caf\u00e9 \u2713"; }
);
"""

COMMANDS = ["publish", "types", "events show", "deliveries list",
            "deliveries retry", "subscriptions list", "subscriptions add",
            "subscriptions show", "subscriptions rm", "subscriptions test"]


# ---------------------------------------------------------------- helpers --

def ctl(*args, env=None, stdin=None, timeout=20.0, want=None):
    """Run hookctl with args; a CompletedProcess (text). env: names to set
    (None removes one) on top of a clean environment. want: the exit
    status it must have."""
    full = dict(os.environ)
    for k in ("HOOKD_URL", "HOOKD_API_KEY"):
        full.pop(k, None)
    xdg = os.path.join(h.tmpdir(), "xdg-empty")
    os.makedirs(xdg, exist_ok=True)
    full["XDG_CONFIG_HOME"] = xdg
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    # subprocess.run kills hookctl (by its PID) when the time is up.
    try:
        res = subprocess.run([HOOKCTL_BIN] + list(args), input=stdin or "",
                             capture_output=True, env=full, timeout=timeout,
                             encoding="utf-8", errors="replace")
    except subprocess.TimeoutExpired:
        raise AssertionError("hookctl %s did not finish within %.0f s"
                             % (" ".join(args), timeout))
    h.check_sanitizers(res.stderr, "hookctl %s" % " ".join(args))
    if want is not None:
        assert res.returncode == want, \
            "hookctl %s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), res.returncode, want, res.stdout, res.stderr)
    return res


def on(d, *args, **kw):
    """hookctl --url <d> args."""
    return ctl("--url", "http://127.0.0.1:%d" % d.port, *args, **kw)


def ctl_json(d, *args, **kw):
    """hookctl --url <d> --json args, exit 0; the parsed answer."""
    r = on(d, "--json", *args, want=0, **kw)
    assert r.stdout.count("\n") == 1, "not one line: %r" % r.stdout
    return json.loads(r.stdout)


def usage_error(r, text):
    """r is a usage error: exit 2, 'hookctl: ' + text, a usage line."""
    assert r.returncode == 2, r
    assert r.stdout == "", r
    first = r.stderr.splitlines()[0]
    assert first.startswith("hookctl: ") and text in first, r.stderr
    assert "Usage: hookctl" in r.stderr, r.stderr


def table(text):
    """The rows of one of hookctl's tables as dicts, header -> cell. Fails
    unless the columns line up under their headers, each as wide as its
    widest cell plus two spaces, without trailing blanks."""
    lines = text.rstrip("\n").split("\n")
    head = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+", head)]
    names = head.split()
    assert names and all(n == n.upper() for n in names), head
    rows = []
    for ln in lines[1:]:
        assert ln == ln.rstrip(), "trailing blanks in %r" % ln
        cells = []
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else len(ln)
            if i > 0:
                assert ln[s - 2:s] == "  " and ln[s] != " ", \
                    "column %s not aligned in %r" % (names[i], ln)
            cells.append(ln[s:end].rstrip())
        rows.append(dict(zip(names, cells)))
    for i in range(len(starts) - 1):
        widest = max([len(names[i])] + [len(r[names[i]]) for r in rows])
        assert starts[i + 1] - starts[i] == widest + 2, \
            "column %s is %d wide, its widest cell %d:\n%s" % (
                names[i], starts[i + 1] - starts[i] - 2, widest, text)
    return rows


def fields(text):
    """A `label: value` block as a dict (continuation lines joined with
    newlines); every value starts in the same column."""
    out, key, col = {}, None, None
    for ln in text.rstrip("\n").split("\n"):
        m = re.match(r"([a-z][a-z ]*):( +)(\S.*)$", ln)
        if m:
            assert col is None or m.start(3) == col, "not aligned: %r" % text
            key, col = m.group(1), m.start(3)
            out[key] = m.group(3)
        else:
            assert key and ln[:col].strip() == "", "stray line %r" % ln
            out[key] += "\n" + ln[col:]
    return out


def api_get(d, path, key=None):
    r = d.get(path, headers={"x-api-key": key} if key else None)
    assert r.status == 200, r
    return r.body


def wait_states(d, eids, key=None, timeout=10.0):
    """Wait until no delivery of these events is pending or retrying."""
    def settled():
        for e in eids:
            for x in api_get(d, "/v4/events/" + e, key)["deliveries"]:
                if x["state"] in ("pending", "retrying"):
                    return False
        return True
    h.wait_for(settled, timeout, "deliveries to settle", interval=0.05)


def handlers_conf(body=""):
    """The catalog; handlers ok (succeeds) and bad (fails at once);
    order.* routed to both, ping to ok; body after that."""
    return conf(CATALOG + """
handlers = { %s %s };
routes = ( { events = ["order.*"]; handlers = ["ok", "bad"]; },
           { events = ["ping"]; handlers = ["ok"]; } );
""" % (good_handler("ok"), good_handler("bad", mode="fail")) + body)


# ------------------------------------------------------------------ tests --

@test("--help lists every command and global option; each command's help "
      "(--help, -h, help CMD) exits 0")
def help_texts():
    r = ctl("--help", want=0)
    assert r.stderr == "", r
    for cmd in COMMANDS:
        assert re.search(r"^  %s\b" % re.escape(cmd), r.stdout, re.M), \
            (cmd, r.stdout)
    for opt in ("--url", "--api-key", "--config", "--json", "--timeout",
                "--version", "--help"):
        assert opt in r.stdout, (opt, r.stdout)
    assert ctl("help", want=0).stdout == r.stdout
    for cmd in COMMANDS:
        words = cmd.split()
        a = ctl(*words, "--help", want=0)
        assert a.stdout.startswith("Usage: hookctl %s [OPTIONS]" % cmd), a
        assert ctl(*words, "-h", want=0).stdout == a.stdout
        assert ctl("help", *words, want=0).stdout == a.stdout
    g = ctl("subscriptions", "--help", want=0)
    for action in ("list", "add", "show", "rm", "test"):
        assert "subscriptions " + action in g.stdout, g
    assert ctl("help", "subscriptions", want=0).stdout == g.stdout
    v = ctl("--version", want=0)
    assert re.fullmatch(r"hookctl \d+\.\d+\.\d+\n", v.stdout), v
    assert ctl("types", "-V", want=0).stdout == v.stdout


@test("usage errors exit 2 with 'hookctl: ' and a usage line, before "
      "any request")
def usage_errors():
    # Nothing listens there: a request would make it exit 1, not 2.
    url = "http://127.0.0.1:%d" % h.closed_port()
    data = os.path.join(h.tmpdir(), "bad.json")
    with open(data, "w") as f:
        f.write('{"a": 1,}')
    cases = [
        ([], "a command is needed"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["subscriptions"], "needs a command: list, add, show, rm, test"),
        (["subscriptions", "frob"], "has no command 'frob'"),
        (["--frob", "types"], "unknown option '--frob'"),
        (["types", "--frob"], "unknown option '--frob'"),
        (["types", "-x"], "unknown option '-x'"),
        (["types", "--state", "dead"], "unknown option '--state'"),
        (["types", "--json=yes"], "option '--json=yes' takes no value"),
        (["types", "--url"], "option '--url' needs a value"),
        (["types", "extra"], "unexpected argument 'extra'"),
        (["publish"], "missing argument TYPE"),
        (["publish", "a", "{}", "more"], "unexpected argument 'more'"),
        (["publish", "a", "{bad"], "data from the command line is not JSON"),
        (["publish", "a", '{"x":1,"x":2}'], "not JSON"),
        (["publish", "a", "@" + data], "data from %s is not JSON" % data),
        (["publish", "a", "@/nonexistent/x.json"], "/nonexistent/x.json"),
        (["events", "show"], "missing argument ID"),
        (["subscriptions", "add", "http://x.example/"],
         "missing argument EVENT..."),
        (["subscriptions", "add", "http://x.example/", "a", "--header",
          "no-colon"], "--header takes 'Name: value'"),
        (["subscriptions", "add", "http://x.example/", "a", "--header",
          "A: 1", "--header", "A: 2"], "--header A is given twice"),
        (["deliveries", "list", "--limit", "0"], "--limit takes a whole"),
        (["deliveries", "list", "--limit", "ten"], "--limit takes a whole"),
        (["deliveries", "retry"], "give either a delivery ID or --all-dead"),
        (["deliveries", "retry", "dlv_1", "--all-dead"], "give either"),
        (["deliveries", "retry", "dlv_1", "--target", "x"],
         "--target and --type go with --all-dead"),
        (["--timeout", "-1", "types"], "--timeout takes seconds"),
        (["--timeout", "soon", "types"], "--timeout takes seconds"),
        (["--timeout", "nan", "types"], "--timeout takes seconds"),
        (["help", "nothing"], "no such command: nothing"),
    ]
    for args, text in cases:
        r = ctl("--url", url, *args)
        usage_error(r, text)
    # A wrong URL is a usage error too.
    usage_error(ctl("--url", "ftp://127.0.0.1/", "types"),
                "must start with http:// or https://")
    usage_error(ctl("--url", "127.0.0.1:8080", "types"), "must start with")


@test("the manual page documents every command and every option of every "
      "--help, with ENVIRONMENT, FILES, EXIT STATUS and EXAMPLES")
def man_page():
    helps = [ctl("--help", want=0).stdout]
    helps += [ctl(*c.split(), "--help", want=0).stdout for c in COMMANDS]
    opts = sorted(set(o for t in helps for o in
                      re.findall(r"(?<![\w-])--[a-z][a-z-]+", t)))
    assert "--all-dead" in opts and "--header" in opts and "--url" in opts, \
        opts
    with open(os.path.join(h.SRCDIR, "docs", "man", "hookctl.1"),
              encoding="utf-8") as f:
        man = f.read()
    plain = re.sub(r"\\f[BIRP]", "", man).replace("\\-", "-")
    missing = [o for o in opts if o not in plain]
    assert not missing, "hookctl.1 does not mention %r" % missing
    missing = [c for c in COMMANDS if c not in plain]
    assert not missing, "hookctl.1 does not mention %r" % missing
    for sect in ("COMMANDS", "OPTIONS", "ENVIRONMENT", "FILES", "EXIT STATUS",
                 "EXAMPLES"):
        assert re.search(r"^\.SH %s$" % sect, man, re.M), sect
    for name in ("HOOKD_URL", "HOOKD_API_KEY", "XDG_CONFIG_HOME",
                 "hookctl/config"):
        assert name in plain, name


@test("publish then events show finds it: data from the command line, a "
      "file and stdin; --id and duplicates; --json parsed", timeout=30)
def publish_and_show():
    with Daemon(handlers_conf()) as d:
        r = on(d, "publish", "order.created",
               '{"order_id": 7, "text": "caf\u00e9 \\"q\\""}', want=0)
        m = re.fullmatch(r"(evt_[A-Za-z0-9]+): 2 deliveries\n", r.stdout)
        assert m, r
        eid = m.group(1)
        ev = ctl_json(d, "events", "show", eid)
        assert ev["id"] == eid and ev["type"] == "order.created", ev
        assert ev["source"] == "api", ev
        assert ev["data"] == {"order_id": 7, "text": "caf\u00e9 \"q\""}, ev
        assert sorted(x["target"] for x in ev["deliveries"]) == \
            ["bad", "ok"], ev
        assert ev == api_get(d, "/v4/events/" + eid)

        # Data from a file and from stdin; one delivery for ping.
        path = os.path.join(h.tmpdir(), "data.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"n": [1, 2.5, None]}, f)
        r = on(d, "publish", "ping", "@" + path, want=0)
        pid = r.stdout.split(":")[0]
        assert r.stdout == "%s: 1 delivery\n" % pid, r
        assert api_get(d, "/v4/events/" + pid)["data"] == {"n": [1, 2.5, None]}
        r = on(d, "publish", "ping", "-", stdin='{"from": "stdin"}', want=0)
        sid = r.stdout.split(":")[0]
        assert api_get(d, "/v4/events/" + sid)["data"] == {"from": "stdin"}
        # No data: {}.
        r = on(d, "publish", "ping", want=0)
        assert api_get(d, "/v4/events/" + r.stdout.split(":")[0])["data"] == {}

        # Your own id; the second time a duplicate that changes nothing.
        r = on(d, "publish", "--id", "run-42", "ping", '{"v": 1}', want=0)
        assert r.stdout == "run-42: 1 delivery\n", r
        r = on(d, "publish", "ping", '{"v": 2}', "--id", "run-42", want=0)
        assert r.stdout.startswith("run-42: duplicate"), r
        assert api_get(d, "/v4/events/run-42")["data"] == {"v": 1}
        ans = ctl_json(d, "publish", "ping", "--id", "run-42")
        assert ans == {"id": "run-42", "duplicate": True}, ans
        ans = ctl_json(d, "publish", "order.created", '{"order_id": 1}')
        assert sorted(ans) == ["deliveries", "id"] and ans["deliveries"] == 2

        # hookd refuses: exit 1 with its code, message and field.
        r = on(d, "publish", "order.created", '{"x": 1}', want=1)
        assert r.stdout == "", r
        assert r.stderr == ("hookctl: HTTP 422 invalid_event: missing "
                            "required field /data/order_id (field "
                            "/data/order_id)\n"), r.stderr
        r = on(d, "publish", "no.such.type", want=1)
        assert "HTTP 422 unknown_event_type" in r.stderr, r

        # The readable layout: the event, its deliveries, their attempts.
        wait_states(d, [eid])
        r = on(d, "events", "show", eid, want=0)
        head, dl, *attempts = r.stdout.split("\n\n")
        f = fields(head)
        assert f["id"] == eid and f["type"] == "order.created", f
        assert f["source"] == "api" and f["timestamp"] == ev["timestamp"], f
        assert json.loads(f["data"]) == ev["data"], f
        assert "\n" in f["data"], "data is not indented: %r" % f["data"]
        rows = table(dl)
        assert list(rows[0]) == ["ID", "STATE", "TARGET", "ATTEMPTS", "NEXT",
                                 "LAST"], rows
        got = {x["TARGET"]: x for x in rows}
        assert got["ok"]["STATE"] == "succeeded", rows
        assert got["bad"]["STATE"] == "dead", rows
        assert got["bad"]["LAST"] == "fail: test-good: fail", rows
        assert got["ok"]["ATTEMPTS"] == "1" and got["ok"]["NEXT"] == "-", rows
        assert len(attempts) == 2, r.stdout
        for part in attempts:
            title, rest = part.split("\n", 1)
            did = re.match(r"attempts of (\S+) \((ok|bad)\):$", title)
            assert did and did.group(1) in {x["ID"] for x in rows}, title
            arows = table("\n".join(ln[2:] for ln in rest.split("\n")))
            assert [a["#"] for a in arows] == ["1"], arows
            assert arows[0]["OUTCOME"] == ("ok" if did.group(2) == "ok"
                                           else "fail"), arows
            assert re.fullmatch(r"\d+\.\d ms", arows[0]["DURATION"]), arows


@test("types lists the catalog as an aligned table; --json is the API's "
      "answer")
def types():
    with Daemon(conf(CATALOG)) as d:
        api = api_get(d, "/v4/events")
        r = on(d, "types", want=0)
        rows = table(r.stdout)
        assert [x["NAME"] for x in rows] == [e["name"] for e in api["events"]]
        assert rows[0] == {"NAME": "order.created",
                           "DESCRIPTION": "an order was placed",
                           "REQUIRED": "/data/order_id"}, rows
        assert rows[1]["DESCRIPTION"] == "liveness, with a longer description"
        assert rows[1]["REQUIRED"] == "-", rows
        # Non-ASCII text counts one column per character.
        assert rows[2]["DESCRIPTION"] == "non-ASCII: caf\u00e9 \u2713", rows
        assert ctl_json(d, "types") == api
        # Global options after the command words work the same.
        r2 = ctl("types", "--url", "http://127.0.0.1:%d" % d.port, want=0)
        assert r2.stdout == r.stdout


@test("subscriptions add/list/show/test/rm against a real receiver: the "
      "printed secret signs the test delivery, headers, kadoa, PUT; 404 "
      "after rm", timeout=40)
def subscriptions():
    cfg = handlers_conf('subscriptions = { allow_targets = ["127.0.0.1/32"]; };\n')
    with Sink("rx") as s, Daemon(cfg) as d:
        assert on(d, "subscriptions", "list", want=0).stdout == \
            "no subscriptions\n"
        r = on(d, "subscriptions", "add", s.url("/ok"), "order.*", "ping",
               "--header", "X-Tenant: acme", "--header", "X-Two:2",
               "--description", "from hookctl", "--format", "kadoa",
               "--method", "PUT", want=0)
        block, note = r.stdout.split("\n\n")
        a = fields(block)
        assert re.fullmatch(r"sub_[A-Za-z0-9_-]+", a["id"]), a
        assert a["url"] == s.url("/ok") and a["method"] == "PUT", a
        assert a["events"] == "order.*, ping" and a["format"] == "kadoa", a
        assert a["headers"] == "X-Tenant: acme\nX-Two: 2", a
        assert a["description"] == "from hookctl" and a["enabled"] == "yes"
        secret = a["secret"]
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{40,}", secret), a
        assert "only now" in note, note
        sub = api_get(d, "/v4/webhook-subscriptions/" + a["id"])
        assert sub["headers"] == {"X-Tenant": "acme", "X-Two": "2"}, sub
        assert sub["description"] == "from hookctl", sub

        # A second one, standard, failing; both listed.
        b = ctl_json(d, "subscriptions", "add", s.url("/status/503"), "ping",
                     "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        assert b["secret"] == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b
        rows = table(on(d, "subscriptions", "list", want=0).stdout)
        assert sorted(x["ID"] for x in rows) == sorted([a["id"], b["id"]])
        mine = [x for x in rows if x["ID"] == a["id"]][0]
        assert mine == {"ID": a["id"], "STATE": "enabled", "METHOD": "PUT",
                        "FORMAT": "kadoa", "EVENTS": "order.*, ping",
                        "URL": s.url("/ok")}, mine
        listed = ctl_json(d, "subscriptions", "list")
        assert listed == api_get(d, "/v4/webhook-subscriptions"), listed

        # show masks the secret.
        sh = fields(on(d, "subscriptions", "show", a["id"], want=0).stdout)
        assert sh["secret"] == "whsec_\u2026" + secret[-4:], sh
        assert sh["url"] == a["url"] and sh["headers"] == a["headers"], sh

        # test: the receiver gets a signed PUT; the printed secret signs it.
        r = on(d, "subscriptions", "test", a["id"], "--type", "ping", want=0)
        t = fields(r.stdout)
        assert t["type"] == "ping" and t["success"] == "yes", t
        assert t["outcome"] == "ok" and t["detail"] == "200", t
        assert t["status"] == "200" and t["response"] == "ok", t
        req = s.wait_requests("/ok", 1)[0]
        hd = req["hdr"]
        assert req["method"] == "PUT", req
        assert hd["webhook-id"] == t["event"], (hd, t)
        assert hd["x-tenant"] == "acme" and hd["x-two"] == "2", hd
        assert hd["x-kadoa-event"] == "ping", hd
        assert json.loads(req["body"])["eventType"] == "ping", req
        key = base64.b64decode(secret[len("whsec_"):])
        signed = "%s.%s.%s" % (hd["webhook-id"], hd["webhook-timestamp"],
                               req["body"].decode("utf-8"))
        mac = base64.b64encode(hmac.new(key, signed.encode("utf-8"),
                                        hashlib.sha256).digest()).decode()
        assert hd["webhook-signature"].split(" ") == ["v1," + mac], hd

        # A receiver that does not acknowledge: printed, and exit 1.
        r = on(d, "subscriptions", "test", b["id"], want=1)
        t = fields(r.stdout)
        assert t["success"] == "no" and t["outcome"] == "retry", t
        assert t["detail"] == "503: maintenance", t
        assert "did not acknowledge" in r.stderr, r
        j = on(d, "--json", "subscriptions", "test", b["id"], want=1)
        assert json.loads(j.stdout)["success"] is False, j

        # rm, then it is gone: show and rm answer 404, exit 1.
        r = on(d, "subscriptions", "rm", b["id"], want=0)
        assert r.stdout == "deleted %s\n" % b["id"], r
        assert [x["ID"] for x in table(on(d, "subscriptions", "list",
                                          want=0).stdout)] == [a["id"]]
        for cmd in ("show", "rm", "test"):
            r = on(d, "subscriptions", cmd, b["id"], want=1)
            assert r.stdout == "", r
            assert r.stderr == ("hookctl: HTTP 404 not_found: no subscription "
                                "with id '%s'\n" % b["id"]), r.stderr
        # hookd's own validation: exit 1 with its message.
        r = on(d, "subscriptions", "add", s.url("/x"), "no.such.type", want=1)
        assert "HTTP 422 unknown_event_type" in r.stderr, r
        r = on(d, "subscriptions", "add", s.url("/x"), "ping", "--format",
               "xml", want=1)
        assert "HTTP 422 invalid_request" in r.stderr and "format" in r.stderr


@test("deliveries list --state dead after a failing handler; retry one "
      "and --all-dead replay them; 409 for a delivery that is not dead",
      timeout=40)
def dead_letters():
    with Daemon(handlers_conf()) as d:
        eids = [d.publish({"type": "order.created",
                           "data": {"order_id": i}})["id"] for i in range(3)]
        wait_states(d, eids)
        r = on(d, "deliveries", "list", "--state", "dead", want=0)
        rows = table(r.stdout)
        assert list(rows[0]) == ["ID", "STATE", "TARGET", "ATTEMPTS", "NEXT",
                                 "EVENT", "TYPE", "LAST"], rows
        assert len(rows) == 3, rows
        assert {x["STATE"] for x in rows} == {"dead"}, rows
        assert {x["TARGET"] for x in rows} == {"bad"}, rows
        assert sorted(x["EVENT"] for x in rows) == sorted(eids), rows
        assert {x["ATTEMPTS"] for x in rows} == {"1"}, rows
        api = api_get(d, "/v4/deliveries?state=dead")
        assert [x["ID"] for x in rows] == [x["id"] for x in api["deliveries"]]
        assert ctl_json(d, "deliveries", "list", "--state", "dead") == api
        ok = table(on(d, "deliveries", "list", "--target", "ok",
                      want=0).stdout)
        assert len(ok) == 3 and {x["STATE"] for x in ok} == {"succeeded"}, ok
        one = table(on(d, "deliveries", "list", "--event", eids[0],
                       want=0).stdout)
        assert {x["EVENT"] for x in one} == {eids[0]} and len(one) == 2, one
        r = on(d, "deliveries", "list", "--state", "sleeping", want=1)
        assert "HTTP 400 invalid_parameter" in r.stderr, r

        # A succeeded delivery cannot be retried: 409.
        r = on(d, "deliveries", "retry", ok[0]["ID"], want=1)
        assert r.stderr.startswith("hookctl: HTTP 409 not_dead: "), r
        r = on(d, "deliveries", "retry", "dlv_nonexistent", want=1)
        assert r.stderr.startswith("hookctl: HTTP 404 not_found: "), r

        # One dead delivery replayed: it runs (and fails) again.
        first = rows[0]["ID"]
        r = on(d, "deliveries", "retry", first, want=0)
        assert r.stdout == "%s: pending again\n" % first, r

        def attempts_of(did):
            for x in api_get(d, "/v4/deliveries?target=bad")["deliveries"]:
                if x["id"] == did and x["state"] == "dead":
                    return x["attemptCount"]
            return None
        h.wait_for(lambda: attempts_of(first) == 2, 10, "a second attempt")

        # The rest (and that one again) in bulk, for target bad only.
        r = on(d, "deliveries", "retry", "--all-dead", "--target", "bad",
               want=0)
        assert r.stdout == "retried 3 dead deliveries\n", r
        h.wait_for(lambda: [attempts_of(x["ID"]) for x in rows]
                   == [3, 2, 2], 10, "the replays to fail again")
        ans = ctl_json(d, "deliveries", "retry", "--all-dead", "--target",
                       "nobody")
        assert ans == {"retried": 0, "remaining": 0}, ans


@test("deliveries list pages: --limit, --cursor and --all follow nextCursor "
      "to the last page", timeout=30)
def paging():
    with Daemon(handlers_conf()) as d:
        eids = [d.publish({"type": "ping", "data": {"i": i}})["id"]
                for i in range(7)]
        wait_states(d, eids)
        every = api_get(d, "/v4/deliveries?limit=500")["deliveries"]
        assert len(every) == 7, every
        ids = [x["id"] for x in every]
        r = on(d, "deliveries", "list", "--limit", "3", want=0)
        rows = table(r.stdout)
        assert [x["ID"] for x in rows] == ids[:3], (rows, ids)
        m = re.search(r"add --cursor (\S+), or --all", r.stderr)
        assert m, r.stderr
        r = on(d, "deliveries", "list", "--limit", "3", "--cursor",
               m.group(1), want=0)
        assert [x["ID"] for x in table(r.stdout)] == ids[3:6], r
        r = on(d, "deliveries", "list", "--limit", "2", "--all", want=0)
        assert [x["ID"] for x in table(r.stdout)] == ids, r
        assert r.stderr == "", r
        j = ctl_json(d, "deliveries", "list", "--limit", "2", "--all")
        assert j == {"deliveries": every, "nextCursor": None}, j
        one = ctl_json(d, "deliveries", "list", "--limit", "2")
        assert one["nextCursor"] is not None and len(one["deliveries"]) == 2


@test("API keys: 401 exits 1 without printing the key; the key from the "
      "flag, HOOKD_API_KEY or the configuration file", timeout=30)
def api_keys():
    with Daemon(conf(CATALOG, api_keys=[KEY])) as d:
        url = "http://127.0.0.1:%d" % d.port
        r = on(d, "types", want=1)
        assert r.stderr.startswith("hookctl: HTTP 401 unauthorized: "), r
        assert "no API key was given" in r.stderr, r
        r = on(d, "--api-key", OTHER_KEY, "types", want=1)
        assert "HTTP 401 unauthorized" in r.stderr, r
        assert "no API key was given" not in r.stderr, r
        assert OTHER_KEY not in r.stderr + r.stdout, r
        on(d, "--api-key", KEY, "types", want=0)
        on(d, "types", env={"HOOKD_API_KEY": KEY}, want=0)
        cfg = os.path.join(h.tmpdir(), "ctl.conf")
        with open(cfg, "w") as f:
            f.write("# hookctl\n\nurl = %s\napi_key = \"%s\"\n" % (url, KEY))
        r = ctl("--config", cfg, "types", want=0)
        assert table(r.stdout)[0]["NAME"] == "order.created", r
        # A key that is wrong is never echoed, in any message.
        for args in (["--api-key", OTHER_KEY, "events", "show", "x"],
                     ["--api-key", OTHER_KEY, "deliveries", "list"]):
            r = on(d, *args, want=1)
            assert OTHER_KEY not in r.stdout + r.stderr, r


@test("settings precedence: flag > environment > configuration file > "
      "default; XDG_CONFIG_HOME and ~/.config; a missing --config file is "
      "an error, a missing default one is not", timeout=40)
def precedence():
    with Daemon(conf(CATALOG, api_keys=[KEY])) as d:
        good = "http://127.0.0.1:%d" % d.port
        dead = "http://127.0.0.1:%d" % h.closed_port()
        t = h.tmpdir()

        def write(path, url=None, key=None):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                if url:
                    f.write("url = %s\n" % url)
                if key:
                    f.write("api_key = '%s'\n" % key)
            return path

        def reaches(r, url):
            return r.returncode == 1 and \
                ("cannot reach %s/v4/events" % url) in r.stderr

        # URL: flag beats env beats file.
        cfg = write(os.path.join(t, "c1"), url=dead, key=KEY)
        ctl("--config", cfg, "--url", good, "types", want=0)
        ctl("--config", cfg, "types", env={"HOOKD_URL": good}, want=0)
        r = ctl("--config", cfg, "--url", dead, "types",
                env={"HOOKD_URL": good})
        assert reaches(r, dead), r
        cfg2 = write(os.path.join(t, "c2"), url=good, key=KEY)
        r = ctl("--config", cfg2, "types", env={"HOOKD_URL": dead})
        assert reaches(r, dead), r
        ctl("--config", cfg2, "types", want=0)
        # An empty variable counts as unset.
        ctl("--config", cfg2, "types", env={"HOOKD_URL": ""}, want=0)

        # Key: flag beats env beats file.
        cfg3 = write(os.path.join(t, "c3"), url=good, key=OTHER_KEY)
        assert "401" in ctl("--config", cfg3, "types", want=1).stderr
        ctl("--config", cfg3, "types", env={"HOOKD_API_KEY": KEY}, want=0)
        ctl("--config", cfg3, "--api-key", KEY, "types",
            env={"HOOKD_API_KEY": OTHER_KEY}, want=0)
        assert "401" in ctl("--config", cfg2, "--api-key", OTHER_KEY, "types",
                            env={"HOOKD_API_KEY": KEY}, want=1).stderr

        # The default file: $XDG_CONFIG_HOME/hookctl/config, else
        # $HOME/.config/hookctl/config.
        xdg = os.path.join(t, "xdg")
        write(os.path.join(xdg, "hookctl", "config"), url=good, key=KEY)
        ctl("types", env={"XDG_CONFIG_HOME": xdg}, want=0)
        home = os.path.join(t, "home")
        write(os.path.join(home, ".config", "hookctl", "config"), url=dead)
        r = ctl("types", env={"XDG_CONFIG_HOME": None, "HOME": home})
        assert reaches(r, dead), r
        r = ctl("types", env={"XDG_CONFIG_HOME": xdg, "HOME": home}, want=0)
        # Missing default files are fine; a missing --config is not.
        empty = os.path.join(t, "nothing-here")
        ctl("--url", good, "--api-key", KEY, "types",
            env={"XDG_CONFIG_HOME": empty, "HOME": empty}, want=0)
        usage_error(ctl("--config", os.path.join(t, "missing"), "--url",
                        good, "types"), "cannot open configuration file")
        # A broken file names its line, never the line's text.
        bad = os.path.join(t, "bad")
        with open(bad, "w") as f:
            f.write("url = %s\n%s\n" % (good, KEY))
        r = ctl("--config", bad, "types")
        usage_error(r, "%s:2: expected 'key = value'" % bad)
        assert KEY not in r.stderr, r
        with open(bad, "w") as f:
            f.write("api-key = %s\n" % KEY)
        usage_error(ctl("--config", bad, "types"), "%s:1: unknown key" % bad)


@test("without --url, HOOKD_URL or a configuration file hookctl asks "
      "http://127.0.0.1:8080")
def default_url():
    # Catch the request there (unless something else has the port).
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 8080))
    except OSError:
        s.close()
        h.skip("127.0.0.1:8080 is in use: the default URL is not tested")
    try:
        s.listen(4)
        empty = os.path.join(h.tmpdir(), "nothing-here")
        r = ctl("types", "--timeout", "0.5", env={"HOME": empty}, want=1)
        assert "no answer from http://127.0.0.1:8080/v4/events within 0.5 s" \
            in r.stderr, r
    finally:
        s.close()


@test("errors: 404 exits 1 with hookd's message; nothing listening exits 1 "
      "naming the URL; a silent server times out; control characters in "
      "hookd's messages do not reach the terminal", timeout=40)
def errors():
    port = h.closed_port()
    r = ctl("--url", "http://127.0.0.1:%d/" % port, "types", want=1)
    assert r.stdout == "", r
    assert r.stderr.startswith("hookctl: cannot reach http://127.0.0.1:%d/"
                               "v4/events: " % port), r.stderr
    # Credentials in the URL are not repeated.
    r = ctl("--url", "http://me:pa55word@127.0.0.1:%d" % port, "types",
            want=1)
    assert "pa55word" not in r.stderr and \
        "cannot reach http://127.0.0.1:%d/v4/events" % port in r.stderr, r

    # A server that accepts connections and never answers.
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        t0 = time.monotonic()
        r = ctl("--url", "http://127.0.0.1:%d" % s.getsockname()[1],
                "--timeout", "0.5", "types", want=1)
        took = time.monotonic() - t0
        # Less than a millisecond is a limit too, not "none".
        tiny = ctl("--url", "http://127.0.0.1:%d" % s.getsockname()[1],
                   "--timeout", "0.0001", "types", want=1, timeout=10)
    finally:
        s.close()
    assert "no answer from http://127.0.0.1:" in r.stderr and \
        "within 0.5 s" in r.stderr, r
    assert took < 5, took
    assert "within 0.0001 s" in tiny.stderr, tiny

    with Daemon(conf(CATALOG)) as d:
        r = on(d, "events", "show", "nope", want=1)
        assert r.stdout == "" and r.stderr == \
            "hookctl: HTTP 404 not_found: no event with id 'nope'\n", r
        # Ids are escaped in the path; hookd's message quotes the id back,
        # and its escape character is shown as '?'.
        r = on(d, "events", "show", "a\x1b[31mb/c?d", want=1)
        assert "\x1b" not in r.stderr, r
        assert "HTTP 404" in r.stderr, r
        r = on(d, "events", "show", "x\x1b[2Jy", want=1)
        assert r.stderr == ("hookctl: HTTP 404 not_found: no event with id "
                            "'x?[2Jy'\n"), r.stderr


if __name__ == "__main__":
    h.main()
