#!/usr/bin/env python3
"""The crash test: the real daemon with the SQLite store is killed with
SIGKILL while clients publish as fast as they can, five times over; every
event it acknowledged with 202 must be delivered in the end (at least once).

HOOKD_CRASH_SEED=N repeats a run's kill moments."""

import http.client
import json
import os
import random
import signal
import threading
import time
import urllib.parse

import hookdtest as h
from hookdtest import Daemon, conf, good_handler, test

CYCLES = 5
PER_CYCLE = 3000      # most publish requests per cycle
CLIENTS = 4           # publishing threads
KILL_AFTER = (0.3, 1.5)  # seconds after publishing starts
DRAIN_TIMEOUT = 30.0


class Publishers:
    """CLIENTS threads publishing events with their own ids over keep-alive
    connections until stopped, PER_CYCLE requests are made, or a time limit
    passes. Only ids answered 202 count as acknowledged; a request cut by
    the kill (any connection error) does not."""

    def __init__(self, port, cycle):
        self.port = port
        self.cycle = cycle
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = []
        self.sent = 0
        self.errors = 0
        self.other = []  # unexpected answers (status, body)
        self.threads = [threading.Thread(target=self.run, args=(k,),
                                         daemon=True)
                        for k in range(CLIENTS)]

    def take_ticket(self):
        with self.lock:
            if self.sent >= PER_CYCLE:
                return None
            self.sent += 1
            return self.sent

    def run(self, k):
        deadline = time.monotonic() + 20.0
        conn = None
        n = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            ticket = self.take_ticket()
            if ticket is None:
                break
            n += 1
            eid = "c%d-t%d-%d" % (self.cycle, k, n)
            body = json.dumps({"type": "crash.test", "id": eid,
                               "data": {"cycle": self.cycle, "n": n}})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=5)
                conn.request("POST", "/v4/events", body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                # Cut by the kill (or refused after it): not acknowledged.
                with self.lock:
                    self.errors += 1
                if conn is not None:
                    conn.close()
                    conn = None
                time.sleep(0.01)
                continue
            if r.status == 202:
                got = json.loads(raw)["id"]
                with self.lock:
                    self.acked.append(got)
                    if got != eid:
                        self.other.append((r.status, raw[:200]))
            else:
                with self.lock:
                    self.other.append((r.status, raw[:200]))
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(timeout=10)
            assert not t.is_alive(), "a publishing thread did not stop"


@test("kill -9 while publishing, %d cycles: every acknowledged event is "
      "delivered" % CYCLES, timeout=120)
def crash():
    t = h.tmpdir()
    rec = os.path.join(t, "rec")
    seed = int(os.environ.get("HOOKD_CRASH_SEED") or
               random.SystemRandom().randrange(1 << 30))
    rnd = random.Random(seed)
    cfg = conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
""" % good_handler("g", record=rec))

    acked = []
    per_cycle = []
    for cycle in range(CYCLES):
        d = Daemon(cfg, name="cycle%d" % cycle, expect_status=None)
        d.start()
        recovered = d.wait_log(msg="recovered")[0]["deliveries"]
        pubs = Publishers(d.port, cycle)
        wait = rnd.uniform(*KILL_AFTER)
        pubs.start()
        time.sleep(wait)
        assert d.proc.poll() is None, \
            "hookd died by itself (status %s)" % d.proc.returncode
        os.kill(d.proc.pid, signal.SIGKILL)
        pubs.stop.set()
        status = d.wait_exit(timeout=10)
        assert status == -signal.SIGKILL, "status %r after SIGKILL" % status
        pubs.join()
        h.check_sanitizers(d.log_text(), "hookd (cycle %d)" % cycle)
        assert not pubs.other, "unexpected answers: %r" % pubs.other[:5]
        assert len(set(pubs.acked)) == len(pubs.acked), "an id acked twice"
        acked.extend(pubs.acked)
        per_cycle.append("%d:%.2fs:acked=%d,cut=%d,recovered=%s"
                         % (cycle, wait, len(pubs.acked), pubs.errors,
                            recovered))
    assert acked, "nothing was acknowledged in %d cycles" % CYCLES

    with Daemon(cfg, name="final") as d:
        recovered = d.wait_log(msg="recovered")[0]["deliveries"]
        want = set(acked)

        def missing():
            m = want - set(r[1] for r in h.records(rec))
            return None if m else True
        try:
            h.wait_for(missing, DRAIN_TIMEOUT, "every acknowledged id in "
                       "the record file", interval=0.2)
        except AssertionError:
            lost = sorted(want - set(r[1] for r in h.records(rec)))
            raise AssertionError("%d acknowledged events lost (seed %d), "
                                 "e.g. %r" % (len(lost), seed, lost[:10]))
        recs = h.records(rec)
        delivered_ids = [r[1] for r in recs]
        delivered = len(want & set(delivered_ids))
        duplicates = sum(1 for i in delivered_ids if i in want) - delivered
        unacked = len(set(delivered_ids) - want)
        assert all(r[2] == "crash.test" and r[3] == "g" for r in recs)

        # The log API after the last restart, for a sample of ids.
        sample = rnd.sample(acked, min(40, len(acked)))
        for eid in sample:
            def done():
                r = d.get("/v4/events/" + urllib.parse.quote(eid, safe=""))
                assert r.status == 200, "GET %s: %r" % (eid, r)
                x = r.body["deliveries"]
                return r.body if len(x) == 1 and \
                    x[0]["state"] == "succeeded" else None
            ev = h.wait_for(done, 10, "event %s succeeded" % eid)
            assert ev["id"] == eid and ev["type"] == "crash.test", ev
            assert ev["deliveries"][0]["attemptCount"] >= 1, ev
        # Nothing is left unfinished.
        h.wait_for(lambda: d.get("/v4/deliveries?state=pending&limit=1")
                   .body["deliveries"] == [] and
                   d.get("/v4/deliveries?state=retrying&limit=1")
                   .body["deliveries"] == [], 10, "no pending deliveries")

    print("# crash: acknowledged=%d delivered=%d duplicates=%d cycles=%d"
          % (len(want), delivered, duplicates, CYCLES))
    print("# crash: seed=%d unacknowledged_delivered=%d final_recovered=%s "
          "cycles: %s" % (seed, unacked, recovered, " ".join(per_cycle)))
    assert delivered == len(want)


if __name__ == "__main__":
    h.main()
