#!/usr/bin/env python3
"""
A scriptable SMTP server for the smtp plugin's tests (Debian's
python3-aiosmtpd), one process per test, stopped by its PID.

    smtp_sink.py DIR [--auth USER:PASSWORD]

Listens on 127.0.0.1 on a port the kernel picks and writes that port into
DIR/port (atomically) once it accepts connections. Every message that reaches
the end of DATA is stored, whatever the answer, as

    DIR/NNNN.eml    the message as received (CRLF lines, dots un-stuffed)
    DIR/NNNN.json   {"n", "reply", "mail_from", "rcpt_tos", "mail_options",
                     "auth_login", "helo"}

the .json written last (and atomically), so a reader that sees it sees both.
Before each RCPT and DATA answer the sink reads DIR/control.json (when it
exists), so a test can change its behaviour while it runs:

    "data_tempfail": N     answer 451 to the first N DATA commands
    "data_reject": true    answer 550 to every DATA command
    "rcpt_reject": [ADDR]  answer 550 to RCPT TO for these addresses
    "rcpt_tempfail": [ADDR]  answer 450 to RCPT TO for these addresses

With --auth, AUTH PLAIN and LOGIN are offered without TLS and required
before MAIL; other credentials get 535.
"""

import argparse
import asyncio
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

TEMPFAIL_DATA = "451 4.3.0 Sink says: try again later"
REJECT_DATA = "550 5.7.1 Sink says: message refused"
REJECT_RCPT = "550 5.1.1 <%s>: sink says: no such user"
TEMPFAIL_RCPT = "450 4.2.1 <%s>: sink says: mailbox busy"
ACCEPT_DATA = "250 2.0.0 Sink says: stored as %04d"


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Sink:
    """The aiosmtpd handler: scripted answers, every message stored."""

    def __init__(self, folder):
        self.dir = folder
        self.count = 0       # messages stored (all DATA that ended)
        self.data_seen = 0   # DATA commands answered

    def control(self):
        try:
            with open(os.path.join(self.dir, "control.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        ctl = self.control()
        if address in ctl.get("rcpt_reject", []):
            return REJECT_RCPT % address
        if address in ctl.get("rcpt_tempfail", []):
            return TEMPFAIL_RCPT % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        ctl = self.control()
        self.data_seen += 1
        self.count += 1
        n = self.count
        if ctl.get("data_reject"):
            reply = REJECT_DATA
        elif self.data_seen <= int(ctl.get("data_tempfail", 0)):
            reply = TEMPFAIL_DATA
        else:
            reply = ACCEPT_DATA % n
        login = None
        if isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        base = os.path.join(self.dir, "%04d" % n)
        write_atomic(base + ".eml", bytes(envelope.original_content))
        write_atomic(base + ".json", json.dumps({
            "n": n,
            "reply": reply,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "auth_login": login,
            "helo": session.host_name,
        }).encode("utf-8"))
        return reply


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode("utf-8")
              and auth_data.password == password.encode("utf-8"))
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)
    return authenticate


async def serve(args):
    loop = asyncio.get_running_loop()
    handler = Sink(args.dir)
    kw = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        kw = dict(authenticator=make_authenticator(user, password),
                  auth_required=True, auth_require_tls=False)

    def factory():
        return SMTP(handler, hostname="sink.test", loop=loop, **kw)

    server = await loop.create_server(factory, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    write_atomic(os.path.join(args.dir, "port"), b"%d\n" % port)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir")
    p.add_argument("--auth", help="USER:PASSWORD required before MAIL")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
