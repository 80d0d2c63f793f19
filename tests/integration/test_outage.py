#!/usr/bin/env python3
"""Receiver outage: the receiver (http_sink.py) of an http handler and of a
webhook subscription is stopped by its PID while events are published, so
their attempts fail and are retried; it is started again on the same port
and every event is delivered, signed, with the same webhook-id (the event
id) on every attempt that reaches it.

The handler's route has a short retry schedule ([1, 1, 2, 2, 3] s); the
subscription has hookd's default one, whose first retry comes after 5 s:
the receiver is back before that."""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

import hookdtest as h
from hookdtest import Daemon, conf, q, test

from receivers import SINK, Sink

SECRET = "whsec_" + base64.b64encode(b"outage-test-key-" * 2).decode()
RETRY = [1, 1, 2, 2, 3]
BEFORE, DURING = 2, 8      # events published before / during the outage
# Handler attempts refused per event before the receiver comes back (the
# receiver is back before the 4th, 2 s after the 3rd; the 4th gets its 500,
# the 5th its 200; a 6th is left in case).
REFUSED = 3

# http_sink.py's own server, on the port given (0: a free one); the port
# it got is written to the port file once it listens.
LAUNCH = """
import os, sys
sys.path.insert(0, sys.argv[1])
import http_sink
srv = http_sink.Sink(("127.0.0.1", int(sys.argv[2])), sys.argv[3])
with open(sys.argv[4] + ".tmp", "w") as f:
    f.write("%d\\n" % srv.server_address[1])
os.replace(sys.argv[4] + ".tmp", sys.argv[4])
srv.serve_forever(poll_interval=0.1)
"""


class Receiver(Sink):
    """http_sink.py that can be stopped (by PID) and started again on the
    same port, appending to the same request log."""

    def __init__(self):
        super().__init__("outage-sink")
        self.port = 0
        self.starts = 0

    def start(self):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        with open(self.err + str(self.starts), "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, os.path.dirname(SINK),
                 str(self.port), self.log, self.port_file],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        h.context().procs.append(self.proc)
        self.starts += 1

        def port():
            if self.proc.poll() is not None:
                raise AssertionError("the sink exited with %s"
                                     % self.proc.returncode)
            lines = h.read_lines(self.port_file)
            return int(lines[0]) if lines else None
        got = h.wait_for(port, 10, "the sink's port file")
        assert self.port in (0, got), "came back on %d, not %d" % (got,
                                                                  self.port)
        self.port = got

    def stop(self):
        """SIGTERM by PID (SIGKILL if it lingers), as Sink's exit does."""
        self.__exit__(None, None, None)

    def refuses(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return False


def signed_by(secret, rec):
    """Does rec carry a valid Standard Webhooks signature by secret?"""
    hd = rec["hdr"]
    key = base64.b64decode(secret[len("whsec_"):])
    msg = "%s.%s." % (hd["webhook-id"], hd["webhook-timestamp"])
    mac = base64.b64encode(hmac.new(key, msg.encode() + rec["body"],
                                    hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest("v1," + mac, s)
               for s in hd.get("webhook-signature", "").split())


def deliveries(d, eid):
    r = d.get("/v4/events/" + eid)
    assert r.status == 200, r
    return {x["target"]: x for x in r.body["deliveries"]}


@test("receiver down while events are published (attempts fail and are "
      "retried), then back on the same port: every event delivered to the "
      "http handler and the subscription, the same webhook-id on each "
      "attempt, nothing dead", timeout=80)
def receiver_outage():
    sink = Receiver()
    sink.start()
    handler = ('out = { plugin = "http"; url = %s; sign = "standard-webhooks";'
               ' secret = %s; timeout = 2; connect_timeout = 1; };'
               % (q(sink.url("/flaky/2")), q(SECRET)))
    config = conf("""
handlers = { %s };
routes = ( { events = ["outage.*"]; handlers = ["out"]; retry = [%s]; } );
subscriptions = { allow_targets = ["127.0.0.1/32"]; timeout = 2; };
""" % (handler, ", ".join(map(str, RETRY))))
    with Daemon(config) as d:
        r = d.post("/v4/webhook-subscriptions",
                   {"webhookUrl": sink.url("/sub"), "events": ["outage.*"]})
        assert r.status == 201, r
        sub, sub_secret = r.body["id"], r.body["secret"]

        def settled(ids):
            def check():
                for eid in ids:
                    for x in deliveries(d, eid).values():
                        if x["state"] != "succeeded":
                            return False
                return True
            return check

        before = [d.publish({"type": "outage.before", "data": {"n": n}})["id"]
                  for n in range(BEFORE)]
        h.wait_for(settled(before), 15, "the events before the outage "
                   "delivered", interval=0.1)

        sink.stop()
        down_at = time.monotonic()
        assert sink.refuses(), "the port still answers"
        during = [d.publish({"type": "outage.during", "data": {"n": n}})["id"]
                  for n in range(DURING)]

        def refused():
            for eid in during:
                recs = d.records(msg="attempt", event=eid, target="out",
                                 outcome="retry")
                if len(recs) < REFUSED:
                    return False
                if not d.records(msg="attempt", event=eid, target=sub,
                                 outcome="retry"):
                    return False
            return True
        h.wait_for(refused, 15, "%d failed handler attempts and one "
                   "failed subscription attempt per event" % REFUSED,
                   interval=0.05)
        down_attempts = len([x for x in d.records(msg="attempt", outcome="retry")
                             if x["event"] in during])
        sink.start()
        down_for = time.monotonic() - down_at
        back_at = time.monotonic()
        h.wait_for(settled(before + during), 30, "every event delivered "
                   "after the receiver came back", interval=0.1)
        recovery = time.monotonic() - back_at

        assert not d.records(msg="dead"), d.records(msg="dead")
        for eid in during:
            ds = deliveries(d, eid)
            assert sorted(ds) == ["out", sub], ds
            out = [(a["outcome"], a["detail"]) for a in ds["out"]["attempts"]]
            # Refused while down, then the receiver's first answer for this
            # webhook-id (500), then 200.
            assert out[-2:] == [("retry", "500: flaky 1"), ("ok", "200")], out
            assert len(out) >= REFUSED + 2 and all(
                o == "retry" and "500" not in det for o, det in out[:-2]), out
            subs = [a["outcome"] for a in ds[sub]["attempts"]]
            assert subs[-1] == "ok" and set(subs[:-1]) == {"retry"}, ds[sub]

        # What reached the receiver: each event, signed, its id in
        # webhook-id on every attempt, the same body each time.
        flaky, subreqs = sink.requests("/flaky/2"), sink.requests("/sub")
        for eid in before + during:
            mine = [x for x in flaky if x["hdr"].get("webhook-id") == eid]
            assert len(mine) == 2, (eid, mine)
            assert mine[0]["body"] == mine[1]["body"], mine
            assert json.loads(mine[0]["body"])["id"] == eid
            assert all(signed_by(SECRET, x) for x in mine), mine
            got = [x for x in subreqs if x["hdr"].get("webhook-id") == eid]
            assert len(got) == 1, (eid, got)
            assert signed_by(sub_secret, got[0]), got
        assert len(flaky) == 2 * (BEFORE + DURING), len(flaky)
        assert len(subreqs) == BEFORE + DURING, len(subreqs)
        print("# outage: receiver down %.1f s (%d events published meanwhile,"
              " %d attempts refused), back on port %d; all %d events "
              "delivered to the handler and the subscription %.1f s later; "
              "0 dead" % (down_for, DURING, down_attempts, sink.port,
                          BEFORE + DURING, recovery))
    sink.stop()


if __name__ == "__main__":
    h.main()
