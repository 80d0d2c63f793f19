#!/usr/bin/env python3
"""The smtp plugin, driven through the real daemon against a real SMTP
server: tests/integration/smtp_sink.py (aiosmtpd), one per test, on a free
loopback port. Messages are parsed back with Python's `email` package."""

import email
import email.policy
import email.utils
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import hookdtest as h
from hookdtest import Daemon, conf, q, qlist, test

SINK = os.path.join(h.HERE, "smtp_sink.py")
RETRY = (0.2, 0.2)
_python = []


def sink_python():
    """An interpreter that has aiosmtpd: ours, else Debian's (python3-aiosmtpd
    installs into /usr/lib/python3/dist-packages, which a pyenv or venv
    python3 does not see)."""
    if not _python:
        for exe in (sys.executable, "/usr/bin/python3"):
            if exe and os.path.exists(exe) and subprocess.run(
                    [exe, "-c", "import aiosmtpd"], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, timeout=20).returncode == 0:
                _python.append(exe)
                break
        else:
            _python.append(None)
    if _python[0] is None:
        raise AssertionError("no python3 with aiosmtpd: install python3-aiosmtpd "
                             "(scripts/dev deps does)")
    return _python[0]


class Sink:
    """smtp_sink.py in a subprocess, as a context manager; stopped by PID."""

    def __init__(self, auth=None, **control):
        t = h.tmpdir()
        k = 0
        while os.path.exists(os.path.join(t, "sink%d" % k)):
            k += 1
        self.dir = os.path.join(t, "sink%d" % k)
        os.makedirs(self.dir)
        self.auth = auth
        self.proc = None
        self.port = None
        if control:
            self.control(**control)

    def control(self, **kw):
        """Replace the sink's script (see smtp_sink.py)."""
        path = os.path.join(self.dir, "control.json")
        with open(path + ".new", "w") as f:
            json.dump(kw, f)
        os.replace(path + ".new", path)

    def __enter__(self):
        argv = [sink_python(), SINK, self.dir]
        if self.auth:
            argv += ["--auth", self.auth]
        with open(os.path.join(self.dir, "sink.err"), "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        h.context().procs.append(self.proc)

        def port():
            if self.proc.poll() is not None:
                raise AssertionError("smtp_sink exited (%s): %s" % (
                    self.proc.returncode, self.errors()))
            lines = h.read_lines(os.path.join(self.dir, "port"))
            return int(lines[0]) if lines else None
        self.port = h.wait_for(port, 10, "the sink's port file")
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        if exc_type is None:
            assert "Traceback" not in self.errors(), self.errors()
        return False

    def errors(self):
        return "\n".join(h.read_lines(os.path.join(self.dir, "sink.err")))

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def messages(self):
        """Every message that reached the end of DATA, in order: the sink's
        record with "raw" (bytes) and "msg" (parsed) added."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".json") or name == "control.json":
                continue
            with open(os.path.join(self.dir, name)) as f:
                rec = json.load(f)
            with open(os.path.join(self.dir, name[:-5] + ".eml"), "rb") as f:
                rec["raw"] = f.read()
            rec["msg"] = email.message_from_bytes(rec["raw"],
                                                  policy=email.policy.default)
            out.append(rec)
        return out

    def accepted(self):
        return [m for m in self.messages() if m["reply"].startswith("250")]

    def wait_accepted(self, n=1, timeout=10):
        return h.wait_for(lambda: (lambda ms: ms if len(ms) >= n else None)(
            self.accepted()), timeout, "%d accepted message(s)" % n)


def value(v):
    if isinstance(v, str):
        return q(v)
    if isinstance(v, (list, tuple)):
        return qlist(v)
    return str(v)


def handler(name, sink_url, **keys):
    """An smtp handler group; keys override the defaults (None drops one)."""
    settings = {"plugin": "smtp", "url": sink_url, "starttls": "none",
                "from": "hookd <hookd@example.test>",
                "to": ["ops@example.test"], "timeout": 5}
    settings.update(keys)
    return "%s = { %s };" % (name, " ".join(
        "%s = %s;" % (k, value(v)) for k, v in settings.items()
        if v is not None))


def smtp_conf(handlers, names, retry=RETRY):
    return conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = %s; retry = [%s]; } );
""" % (" ".join(handlers), qlist(names), ", ".join(str(x) for x in retry)))


def one_handler(sink_url, retry=RETRY, **keys):
    return smtp_conf([handler("mail", sink_url, **keys)], ["mail"], retry)


def attempts(d, eid):
    return d.records(msg="attempt", event=eid)


def wait_outcomes(d, eid, n, timeout=10):
    recs = d.wait_log(count=n, timeout=timeout, msg="attempt", event=eid)
    return [r["outcome"] for r in recs], recs


def addresses(header):
    return [(a.display_name, a.addr_spec) for a in header.addresses]


def content(msg):
    """The decoded text body with "\n" line ends (the parser keeps the
    CRLF of the wire)."""
    return msg.get_content().replace("\r\n", "\n")


def check_wire_format(raw):
    """CRLF line ends only, no line over 998 bytes (76 in the body), and
    nothing but ASCII on the wire."""
    assert raw.endswith(b"\r\n"), raw[-40:]
    lines = raw[:-2].split(b"\r\n")
    for ln in lines:
        assert b"\r" not in ln and b"\n" not in ln, "bare CR or LF: %r" % ln
        assert len(ln) <= 998, "line of %d bytes" % len(ln)
    body = lines[lines.index(b"") + 1:]
    assert all(len(ln) <= 76 for ln in body), \
        [ln for ln in body if len(ln) > 76][:3]
    assert max(raw) < 0x80, "non-ASCII bytes on the wire"
    return lines


# ------------------------------------------------------------- messages --

@test("headers: Date, Message-ID from the event id, MIME, From/To/Cc with "
      "display names, RFC 2047 Subject; the envelope holds to + cc")
def headers():
    with Sink() as s, Daemon(one_handler(
            s.url() + "/client.example.test",
            subject="Café ✓ {{data.n}} für {{data.who}}",
            **{"from": "Hookd Alerts <alerts@example.test>",
               "to": ["ops@example.test", '"Doe, Jane" <jane@example.test>'],
               "cc": ["Zoë Team <team@example.test>"]})) as d:
        t0 = time.time()
        d.publish({"type": "order.paid", "id": "smtp:hdr.1",
                   "data": {"n": 7, "who": "Zoë"}})
        out, recs = wait_outcomes(d, "smtp:hdr.1", 1)
        assert out == ["ok"], recs
        assert recs[0]["reason"].startswith("SMTP 250 2.0.0 Sink says"), recs
        m = s.wait_accepted()[0]
        assert len(s.messages()) == 1
        assert m["mail_from"] == "alerts@example.test", m
        assert m["helo"] == "client.example.test", m
        assert m["rcpt_tos"] == ["ops@example.test", "jane@example.test",
                                 "team@example.test"], m
        lines = check_wire_format(m["raw"])
        msg = m["msg"]
        sent = email.utils.parsedate_to_datetime(msg["Date"])
        assert sent.tzinfo is not None, msg["Date"]
        assert abs(sent.timestamp() - t0) < 120, (msg["Date"], t0)
        assert msg["Message-ID"] == "<smtp=3Ahdr=2E1@mail.hookd>", \
            msg["Message-ID"]
        assert msg["MIME-Version"] == "1.0"
        assert msg.get_content_type() == "text/plain"
        assert msg.get_content_charset() == "utf-8"
        assert msg["Content-Transfer-Encoding"] == "quoted-printable"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["X-Hookd-Event-Id"] == "smtp:hdr.1"
        assert msg["X-Hookd-Event-Type"] == "order.paid"
        assert addresses(msg["From"]) == [("Hookd Alerts",
                                           "alerts@example.test")]
        assert addresses(msg["To"]) == [("", "ops@example.test"),
                                        ("Doe, Jane", "jane@example.test")]
        assert addresses(msg["Cc"]) == [("Zoë Team", "team@example.test")]
        assert msg["Subject"] == "Café ✓ 7 für Zoë", msg["Subject"]
        subj = [ln for ln in lines if ln.startswith(b"Subject:")][0]
        assert subj.startswith(b"Subject: =?utf-8?b?"), subj
        for name in ("Date", "From", "To", "Cc", "Subject", "Message-ID"):
            assert len(msg.get_all(name)) == 1, name


@test("default body: type, id, time, source and the data pretty-printed; "
      "long and non-ASCII lines survive quoted-printable")
def default_body():
    data = {"workflowId": "wf-1", "n": 2.5, "ok": True, "none": None,
            "nested": {"list": [1, "two", {"three": 3}], "empty": {},
                       "arr": []},
            "text": "naïve \"quoted\" {braces}, [brackets]: colons",
            "long": "x" * 3000 + " é " + "y" * 100}
    with Sink() as s, Daemon(one_handler(s.url())) as d:
        ev = d.publish({"type": "thing.done", "data": data})
        assert wait_outcomes(d, ev["id"], 1)[0] == ["ok"]
        m = s.wait_accepted()[0]
        assert m["helo"] == socket.gethostname(), m
        check_wire_format(m["raw"])
        msg = m["msg"]
        assert msg["Subject"] == "[hookd] thing.done", msg["Subject"]
        body = content(msg)
        stamp = event_timestamp(d, ev["id"])
        head = body.split("\n\n", 1)[0].splitlines()
        assert head == ["Event:   thing.done", "Id:      " + ev["id"],
                        "Time:    " + stamp, "Source:  api"], head
        assert "\nData:\n{\n  \"workflowId\": \"wf-1\",\n" in body, body[:400]
        block = body.split("\nData:\n", 1)[1].split("\n\n-- \n", 1)[0]
        assert json.loads(block) == data, block[:400]
        assert '  "nested": {\n    "list": [\n      1,\n' in block, block
        assert '"empty": {},' in block and '"arr": []' in block, block
        assert body.endswith("\n\n-- \nSent by hookd, handler mail.\n"), \
            body[-80:]


def event_timestamp(d, eid):
    """The stored timestamp of event eid (GET /v4/events/{id}): what the
    default body must show."""
    r = d.get("/v4/events/" + eid)
    assert r.status == 200, r
    return r.body["timestamp"]


@test("a body template renders; lines starting with '.' (curl dot-stuffs "
      "them) and every kind of line break arrive intact")
def template_body():
    tmpl = ("Workflow {{data.name}} finished: {{data.status}}\n.\n.hidden\n"
            "..two dots\n. \nCR LF\r\nlone CR\rtabs\tand trailing space \n"
            "{{data.text}}\nend")
    with Sink() as s, Daemon(one_handler(s.url(), body=tmpl)) as d:
        ev = d.publish({"type": "wf.done", "data": {
            "name": "nightly", "status": "ok", "text": "a\n.\nb\n.\n"}})
        assert wait_outcomes(d, ev["id"], 1)[0] == ["ok"]
        m = s.wait_accepted()[0]
        check_wire_format(m["raw"])
        want = ("Workflow nightly finished: ok\n.\n.hidden\n..two dots\n. \n"
                "CR LF\nlone CR\ntabs\tand trailing space \na\n.\nb\n.\n\n"
                "end\n")
        got = content(m["msg"])
        assert got == want, "got %r\nwant %r" % (got, want)


@test("random bodies (white space at line ends, '=', '.', UTF-8, long "
      "lines) and subjects round-trip exactly")
def random_bodies():
    rnd = random.Random(5322)
    pool = ["a", "b", " ", "\t", "=", ".", "é", "✓", "€", "\u00a0", "=20",
            "x" * 70, "From ", "\U0001F600", "?", "_"]
    texts, subjects = [], []
    for _ in range(12):
        lines = ["".join(rnd.choice(pool) for _ in range(rnd.randrange(0, 60)))
                 for _ in range(rnd.randrange(1, 40))]
        texts.append("\n".join(lines) + rnd.choice(["", "\n"]))
        subjects.append("".join(rnd.choice(pool)
                                for _ in range(rnd.randrange(0, 40))))
    with Sink() as s, Daemon(one_handler(s.url(), body="{{data.text}}",
                                         subject="{{data.s}}")) as d:
        for i, text in enumerate(texts):
            d.publish({"type": "rnd", "id": "rnd-%d" % i,
                       "data": {"text": text, "s": subjects[i]}})
        ms = s.wait_accepted(len(texts))
        by_id = {m["msg"]["X-Hookd-Event-Id"]: m for m in ms}
        for i, text in enumerate(texts):
            m = by_id["rnd-%d" % i]
            check_wire_format(m["raw"])
            want = text if text.endswith("\n") else text + "\n"
            got = content(m["msg"])
            assert got == want, "case %d:\ngot  %r\nwant %r" % (i, got, want)
            assert str(m["msg"]["Subject"]) == subjects[i], \
                (subjects[i], m["msg"]["Subject"])


@test("subjects: long ASCII folds, odd white space, '=?' text and long "
      "non-ASCII all decode back unchanged")
def subjects():
    cases = [
        "word " * 60 + "end",
        "two  spaces\tand a tab",
        "looks =?utf-8?q?encoded?= but is not",
        " leading and trailing ",
        "ünïcødé ✓ " * 30,
        "a" * 1200,
        "",
    ]
    with Sink() as s, Daemon(one_handler(s.url(),
                                         subject="{{data.s}}")) as d:
        ids = []
        for i, subj in enumerate(cases):
            ids.append(d.publish({"type": "subj", "id": "subj-%d" % i,
                                  "data": {"s": subj}})["id"])
        ms = s.wait_accepted(len(cases))
        by_id = {m["msg"]["X-Hookd-Event-Id"]: m for m in ms}
        for i, subj in enumerate(cases):
            m = by_id["subj-%d" % i]
            lines = check_wire_format(m["raw"])
            assert all(len(ln) <= 78 for ln in lines[:lines.index(b"")]), \
                [ln for ln in lines if len(ln) > 78]
            assert str(m["msg"]["Subject"]) == subj, (subj, m["msg"]["Subject"])


# ------------------------------------------------------------- outcomes --

@test("451 then 250: outcome retry, then ok; the same Message-ID both times")
def tempfail_then_ok():
    with Sink(data_tempfail=1) as s, Daemon(one_handler(s.url())) as d:
        ev = d.publish({"type": "flaky", "id": "smtp-retry-1"})
        out, recs = wait_outcomes(d, ev["id"], 2)
        assert out == ["retry", "ok"], recs
        assert recs[0]["reason"] == ("SMTP 451 4.3.0 Sink says: try again "
                                     "later (after DATA)"), recs[0]
        assert int(recs[0]["retry_in_ms"]) >= 200, recs[0]
        ms = s.messages()
        assert [m["reply"][:3] for m in ms] == ["451", "250"], ms
        ids = [m["msg"]["Message-ID"] for m in ms]
        assert ids[0] == ids[1] == "<smtp-retry-1@mail.hookd>", ids
        time.sleep(0.5)
        assert len(attempts(d, ev["id"])) == 2
        assert d.records(msg="dead") == []


@test("550 after DATA: outcome fail at once, a dead line, reason with the "
      "code and the server's text")
def reject_data():
    with Sink(data_reject=True) as s, Daemon(one_handler(s.url())) as d:
        ev = d.publish({"type": "doomed"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "1", dead
        assert dead["reason"] == ("SMTP 550 5.7.1 Sink says: message "
                                  "refused (after DATA)"), dead
        time.sleep(0.5)
        assert [r["outcome"] for r in attempts(d, ev["id"])] == ["fail"]
        assert [m["reply"][:3] for m in s.messages()] == ["550"]


@test("RCPT answers: 550 for one recipient fails the mail, 450 retries it; "
      "no DATA is sent either way")
def rcpt_answers():
    with Sink(rcpt_reject=["nobody@example.test"],
              rcpt_tempfail=["busy@example.test"]) as s, Daemon(smtp_conf([
                  handler("bad", s.url(),
                          to=["ops@example.test", "nobody@example.test"]),
                  handler("busy", s.url(), cc=["busy@example.test"])],
                  ["bad", "busy"], retry=[0.2])) as d:
        ev = d.publish({"type": "rcpt"})
        dead = d.wait_log(count=2, msg="dead", event=ev["id"])
        by = {r["target"]: r for r in dead}
        assert by["bad"]["attempts"] == "1", by
        reason = d.records(msg="attempt", target="bad")[0]["reason"]
        assert reason.startswith("SMTP 550 5.1.1 <nobody@example.test>: "
                                 "sink says: no such user"), reason
        assert "RCPT" in reason, reason
        busy = d.records(msg="attempt", target="busy")
        assert [r["outcome"] for r in busy] == ["retry", "retry"], busy
        assert busy[0]["reason"].startswith("SMTP 450 4.2.1"), busy
        assert by["busy"]["reason"].startswith("retry schedule exhausted; last: "), by
        assert s.messages() == []


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@test("an unreachable server (a closed port): retry, dead when the schedule "
      "is spent")
def unreachable():
    port = closed_port()
    with Daemon(one_handler("smtp://127.0.0.1:%d" % port)) as d:
        ev = d.publish({"type": "lost"})
        dead = d.wait_log(msg="dead", event=ev["id"])[0]
        assert dead["attempts"] == "3", dead
        recs = attempts(d, ev["id"])
        assert [r["outcome"] for r in recs] == ["retry"] * 3, recs
        assert "connect" in recs[0]["reason"].lower(), recs[0]
        assert str(port) in recs[0]["reason"], recs[0]


@test("starttls = required with a server that offers no STARTTLS: retry, "
      "nothing sent")
def starttls_required():
    with Sink() as s, Daemon(one_handler(s.url(), starttls="required",
                                         retry=[])) as d:
        ev = d.publish({"type": "tls"})
        rec = d.wait_log(msg="attempt", event=ev["id"])[0]
        assert rec["outcome"] == "retry", rec
        assert "STARTTLS" in rec["reason"], rec
        assert s.messages() == []


@test("a server that never greets: retry when `timeout` passes")
def silent_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        with Daemon(one_handler("smtp://127.0.0.1:%d" % port, timeout=1,
                                retry=[])) as d:
            ev = d.publish({"type": "silent"})
            rec = d.wait_log(msg="attempt", event=ev["id"], timeout=10)[0]
            assert rec["outcome"] == "retry", rec
            assert rec["reason"].startswith("timed out after 1s"), rec
            assert 900 <= float(rec["duration_ms"]) < 5000, rec


# ------------------------------------------------------ header injection --

@test("CR or LF in a rendered subject, to or cc is refused with fail and "
      "no mail leaves; an invalid rendered address fails too")
def injection():
    with Sink() as s, Daemon(one_handler(
            s.url(), subject="{{data.subject}}", to=["{{data.to}}"],
            cc=["{{data.cc | cc@example.test}}"],
            **{"from": "{{data.from | hookd@example.test}}"})) as d:
        ok_to = "ops@example.test"
        bad = [
            ("subject", {"subject": "Hi\r\nBcc: x@evil.example", "to": ok_to}),
            ("subject", {"subject": "Hi\nBcc: x@evil.example", "to": ok_to}),
            ("to[0]", {"subject": "s", "to": "a@example.test\r\nBcc: x@evil"}),
            ("cc[0]", {"subject": "s", "to": ok_to,
                       "cc": "b@example.test\rBcc: x@evil"}),
            ("from", {"subject": "s", "to": ok_to,
                      "from": "me@example.test\nBcc: x@evil"}),
        ]
        ids = [d.publish({"type": "inject", "data": data})["id"]
               for _, data in bad]
        invalid = d.publish({"type": "inject", "data": {
            "subject": "s", "to": "not an address"}})["id"]
        for (what, _), eid in zip(bad, ids):
            dead = d.wait_log(msg="dead", event=eid)[0]
            assert dead["attempts"] == "1", dead
            assert dead["reason"].startswith(what + ": "), dead
            assert "CR or LF" in dead["reason"], dead
            assert "\n" not in dead["reason"] and "\r" not in dead["reason"]
        dead = d.wait_log(msg="dead", event=invalid)[0]
        assert dead["reason"] == ("to[0]: the rendered 'not an address' is not "
                                  "a valid address: missing '@'"), dead
        good = d.publish({"type": "inject", "data": {
            "subject": "fine", "to": "Ann <ann@example.test>"}})["id"]
        assert wait_outcomes(d, good, 1)[0] == ["ok"]
        ms = s.wait_accepted()
        time.sleep(0.3)
        assert len(s.messages()) == 1, [m["raw"][:300] for m in s.messages()]
        assert ms[0]["rcpt_tos"] == ["ann@example.test", "cc@example.test"]
        assert ms[0]["msg"]["X-Hookd-Event-Id"] == good


# --------------------------------------------------------- auth, config --

@test("SMTP AUTH: a password from env: logs in; a wrong one is a 535 fail")
def auth():
    with Sink(auth="hookd:s3cret pw") as s, Daemon(smtp_conf([
            handler("good", s.url(), username="hookd",
                    password="env:SMTP_TEST_PW"),
            handler("wrong", s.url(), username="hookd",
                    password="env:SMTP_TEST_BAD")], ["good", "wrong"]),
            env={"SMTP_TEST_PW": "s3cret pw",
                 "SMTP_TEST_BAD": "guess"}) as d:
        ev = d.publish({"type": "auth"})
        d.wait_log(count=2, msg="attempt", event=ev["id"])
        good = d.records(msg="attempt", target="good")
        wrong = d.records(msg="attempt", target="wrong")
        assert [r["outcome"] for r in good] == ["ok"], good
        assert [r["outcome"] for r in wrong] == ["fail"], wrong
        assert wrong[0]["reason"].startswith(
            "SMTP 535 5.7.8 Authentication credentials invalid"), wrong
        ms = s.wait_accepted()
        assert ms[0]["auth_login"] == "hookd", ms
        # Credentials on a connection that may stay unencrypted: warned.
        assert d.records(level="warn", msg=lambda m: m and "unencrypted" in m) \
            or "unencrypted" in d.log_text(), d.log_text()[-2000:]
        assert "s3cret" not in d.log_text()


# Settings create() refuses: (handler settings, message after
# "handler 'NAME': ").
BAD_SETTINGS = [
    ({"url": "http://mail.example.test"},
     "url 'http://mail.example.test': the scheme must be smtp:// or smtps://"),
    ({"url": "mail.example.test"}, "url 'mail.example.test': "),
    ({"url": "smtp://u:p@mail.example.test"},
     "url: give credentials in username and password, not in the URL"),
    ({"url": "smtp://mail.example.test/?x=1"},
     "a query or fragment means nothing for SMTP"),
    ({"starttls": "maybe"},
     "starttls 'maybe': must be \"none\", \"try\" or \"required\""),
    ({"url": "smtps://mail.example.test", "starttls": "none"},
     "starttls 'none' contradicts an smtps:// url"),
    ({"username": "me"}, "username is set but password is not"),
    ({"password": "pw"}, "password is set but username is not"),
    ({"from": "not-an-address"},
     "from 'not-an-address' is not a valid address: missing '@'"),
    ({"from": "Name <a@b.example"},
     "from 'Name <a@b.example' is not a valid address: text after the "
     "'<address>' or a '<' without '>'"),
    ({"to": []}, "to must list at least one address"),
    ({"to": ["ops@example.test", "a b@example.test"]},
     "to[1] 'a b@example.test' is not a valid address: a space in the "
     "local part"),
    ({"cc": ["x@-bad.example"]},
     "cc[0] 'x@-bad.example' is not a valid address: a domain label starts "
     "or ends with '-'"),
    ({"cc": ["x@a..example"]}, "the domain has an empty label"),
    ({"to": ["jörg@example.test"]}, "non-ASCII address"),
    ({"to": [".x@example.test"]}, "a misplaced '.' in the local part"),
    ({"to": ["a@b@example.test"]}, "more than one '@'"),
    ({"to": ["{{data.to"]}, "to[0] '{{data.to': "),
    ({"from": "a@example.test\nBcc: x@evil"},
     "from 'a@example.test?Bcc: x@evil': an address must not hold a line "
     "break"),
    ({"subject": "{{data.x"}, "subject: "),
    ({"subject": "line\nbreak"}, "subject must not hold a line break"),
    ({"body": "{{nope}}"}, "body: "),
    ({"timeout": 0}, "timeout must be 1 to 3600 seconds, not 0"),
    ({"timeout": 3601}, "timeout must be 1 to 3600 seconds, not 3601"),
]


@test("create() refuses bad settings, each with a precise message at its "
      "handler's line")
def bad_settings():
    lines = ['server = { listen = "127.0.0.1:0"; };', "handlers = {"]
    where = {}
    for i, (keys, _) in enumerate(BAD_SETTINGS):
        lines.append("  " + handler("h%d" % i, "smtp://mail.example.test",
                                    **keys))
        where[i] = len(lines)
    lines.append("};")
    path = os.path.join(h.tmpdir(), "bad.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    r = h.run_hookd(["--check-config", "-c", path, "--plugin-dir",
                     h.PLUGIN_DIR])
    assert r.returncode == 1, r
    diags = r.stderr.splitlines()
    missing = []
    for i, (_, text) in enumerate(BAD_SETTINGS):
        prefix = "%s:%d: handler 'h%d': " % (path, where[i], i)
        if not any(d.startswith(prefix) and text in d[len(prefix):]
                   for d in diags):
            missing.append("line %d: %s" % (where[i], text))
    assert not missing, "not reported:\n  %s\nstderr:\n  %s" % (
        "\n  ".join(missing), "\n  ".join(diags))
    assert len(diags) == len(BAD_SETTINGS), diags


@test("good settings pass --check-config; --list-plugins shows every key "
      "with its help")
def good_settings():
    text = conf("handlers = { %s %s %s };" % (
        handler("a", "smtp://mail.example.test:587/client.example.test",
                starttls="required", username="u", password="env:SMTP_PW",
                cc=["{{data.cc}}", "Team <team@example.test>"],
                subject="{{type}}", body="{{data}}", timeout=3600),
        handler("b", "smtps://mail.example.test", starttls=None,
                **{"from": '"Ops, Team" <ops@[192.0.2.1]>',
                   "to": ["{{data.owner | root@localhost}}"]}),
        handler("c", "SMTP://mail.example.test", starttls="try",
                to=["x!#$%&'*+-/=?^_`{|}~@example.test"])))
    path = os.path.join(h.tmpdir(), "good.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = h.run_hookd(["--check-config", "-c", path, "--plugin-dir",
                     h.PLUGIN_DIR], env={"SMTP_PW": "pw"})
    assert r.returncode == 0, r.stderr
    r = h.run_hookd(["--list-plugins", "--plugin-dir", h.PLUGIN_DIR])
    assert r.returncode == 0, r
    block = r.stdout.split("\nsmtp ", 1)[1].split("\n\n", 1)[0] \
        if "\nsmtp " in r.stdout else r.stdout.split("smtp ", 1)[1]
    for key in ("url", "starttls", "username", "password", "from", "to",
                "cc", "subject", "body", "timeout"):
        line = [ln for ln in block.splitlines()
                if ln.strip().startswith(key + " ")]
        assert line, "key %s not listed:\n%s" % (key, block)
        assert len(line[0].split()) > 3, "no help for %s: %r" % (key, line)


if __name__ == "__main__":
    h.main()
