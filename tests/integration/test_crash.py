#!/usr/bin/env python3
"""The crash tests: the real daemon with the SQLite store is killed with
SIGKILL while clients publish as fast as they can; every event it
acknowledged must be delivered in the end (at least once).

- five cycles of clients that publish new ids and count only what was
  answered 202;
- twenty cycles of clients that behave as docs/operations.md advises: an id
  whose request failed (connection cut, 503) is sent again, with the same
  id, to the restarted daemon, until it is acknowledged (202, or 200 when
  it had been stored before the answer was cut). Every id ends
  acknowledged; none may be lost; duplicate deliveries are counted.

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


def publish_on(conn, port, body):
    """POST body to /v4/events over conn, a keep-alive connection to port
    (a new one when None). (conn, response, raw body); the response is
    None when the request failed (a connection cut by a kill, or refused),
    and conn is None whenever the connection is closed."""
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/v4/events", body,
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
    except (OSError, http.client.HTTPException):
        if conn is not None:
            conn.close()
        return None, None, None
    if r.getheader("connection", "").lower() == "close":
        conn.close()
        conn = None
    return conn, r, raw


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
            conn, r, raw = publish_on(conn, self.port, body)
            if r is None:
                # Cut by the kill (or refused after it): not acknowledged.
                with self.lock:
                    self.errors += 1
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
        if conn is not None:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(timeout=10)
            assert not t.is_alive(), "a publishing thread did not stop"


def crash_setup():
    """The record file, the seed of the kill moments and its generator,
    and a configuration: test-good handler g, recording every event."""
    rec = os.path.join(h.tmpdir(), "rec")
    seed = int(os.environ.get("HOOKD_CRASH_SEED") or
               random.SystemRandom().randrange(1 << 30))
    cfg = conf("""
handlers = { %s };
routes = ( { events = ["*"]; handlers = ["g"]; } );
""" % good_handler("g", record=rec))
    return rec, seed, random.Random(seed), cfg


def wait_delivered(rec, want, seed):
    """Wait until every id of want is in the record file; name the lost
    ones when some never come."""
    try:
        h.wait_for(lambda: want <= set(r[1] for r in h.records(rec)),
                   DRAIN_TIMEOUT, "every acknowledged id in the record file",
                   interval=0.2)
    except AssertionError:
        lost = sorted(want - set(r[1] for r in h.records(rec)))
        raise AssertionError("%d of %d acknowledged events lost (seed %d), "
                             "e.g. %r" % (len(lost), len(want), seed,
                                          lost[:10]))


def wait_settled(d):
    """Wait until no delivery is pending or retrying."""
    h.wait_for(lambda: d.get("/v4/deliveries?state=pending&limit=1")
               .body["deliveries"] == [] and
               d.get("/v4/deliveries?state=retrying&limit=1")
               .body["deliveries"] == [], 10, "no pending deliveries")


@test("kill -9 while publishing, %d cycles: every acknowledged event is "
      "delivered" % CYCLES, timeout=120)
def crash():
    rec, seed, rnd, cfg = crash_setup()

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
        wait_delivered(rec, want, seed)
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
        wait_settled(d)

    print("# crash: acknowledged=%d delivered=%d duplicates=%d cycles=%d"
          % (len(want), delivered, duplicates, CYCLES))
    print("# crash: seed=%d unacknowledged_delivered=%d final_recovered=%s "
          "cycles: %s" % (seed, unacked, recovered, " ".join(per_cycle)))
    assert delivered == len(want)


KILL_CYCLES = 20
LOAD_TIME = (0.5, 1.0)     # seconds of load before each kill
RETRY_CLIENTS = 2          # publishing threads of the retrying test


class RetryingPublisher(threading.Thread):
    """A client that publishes ids <name>-1, <name>-2, ... in order over a
    keep-alive connection to whichever daemon runs (self.port; None while
    none does). Each id is sent until it is acknowledged: 202, or 200
    {"duplicate": true}. A connection error or a 503 means: the same id
    again, a moment later. After stop is set it finishes the id it holds,
    then ends. Bounded in time (deadline) and requests (MAX_TRIES)."""

    MAX_TRIES = 200000

    def __init__(self, name, deadline):
        super().__init__(daemon=True)
        self.label = name
        self.deadline = deadline
        self.port = None
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}        # id -> the status that acknowledged it
        self.tries = 0
        self.cut = 0           # connection errors (the kills)
        self.unavailable = 0   # 503 answers
        self.other = []        # anything else: (id, status, body)
        self.holding = None    # the id not yet acknowledged

    def run(self):
        conn, conn_port, n = None, None, 0
        for _ in range(self.MAX_TRIES):
            if time.monotonic() > self.deadline:
                break
            if self.holding is None:
                if self.stop.is_set():
                    break
                n += 1
                self.holding = "%s-%d" % (self.label, n)
            port = self.port
            if port is None:
                time.sleep(0.01)
                continue
            if conn is not None and conn_port != port:
                conn.close()
                conn = None
            body = json.dumps({"type": "crash.retry", "id": self.holding,
                               "data": {"n": n}})
            self.tries += 1
            conn_port = port
            conn, r, raw = publish_on(conn, port, body)
            if r is None:
                self.cut += 1
                time.sleep(0.01)
                continue
            if r.status in (200, 202):
                got = json.loads(raw)
                with self.lock:
                    if got.get("id") != self.holding or (
                            r.status == 200 and got.get("duplicate") is not True):
                        self.other.append((self.holding, r.status, raw[:200]))
                    self.acked[self.holding] = r.status
                self.holding = None
            elif r.status == 503:
                self.unavailable += 1
                time.sleep(0.05)
            else:
                with self.lock:
                    self.other.append((self.holding, r.status, raw[:200]))
                self.holding = None
        if conn is not None:
            conn.close()


@test("kill -9 under load, %d cycles, clients that retry with the same id: "
      "every id acknowledged (202 or 200 duplicate), none lost after a "
      "clean restart; duplicate deliveries counted" % KILL_CYCLES,
      timeout=100)
def crash_retrying_clients():
    rec, seed, rnd, cfg = crash_setup()
    t0 = time.monotonic()
    pubs = [RetryingPublisher("p%d" % k, t0 + 80) for k in
            range(RETRY_CLIENTS)]
    for p in pubs:
        p.start()
    cycles = []
    recovered_total = 0
    try:
        for cycle in range(KILL_CYCLES):
            d = Daemon(cfg, name="kill%d" % cycle, expect_status=None)
            d.start()
            recovered = int(d.wait_log(msg="recovered")[0]["deliveries"])
            recovered_total += recovered
            before = sum(len(p.acked) for p in pubs)
            for p in pubs:
                p.port = d.port
            wait = rnd.uniform(*LOAD_TIME)
            time.sleep(wait)
            assert d.proc.poll() is None, \
                "hookd died by itself (status %s)" % d.proc.returncode
            os.kill(d.proc.pid, signal.SIGKILL)
            for p in pubs:
                p.port = None
            status = d.wait_exit(timeout=10)
            assert status == -signal.SIGKILL, "status %r after SIGKILL" % status
            h.check_sanitizers(d.log_text(), "hookd (cycle %d)" % cycle)
            cycles.append("%d:%.2fs:+%d" % (
                cycle, wait, sum(len(p.acked) for p in pubs) - before))

        with Daemon(cfg, name="final") as d:
            recovered = int(d.wait_log(msg="recovered")[0]["deliveries"])
            for p in pubs:
                p.port = d.port
            # A moment of normal load; then each client finishes the id
            # it holds (the one the last kill cut, perhaps) and stops.
            time.sleep(0.3)
            for p in pubs:
                p.stop.set()
            for p in pubs:
                p.join(timeout=20)
                assert not p.is_alive(), "a publishing thread did not stop"
            acked = {}
            for p in pubs:
                acked.update(p.acked)
                assert not p.other, "unexpected answers: %r" % p.other[:5]
                assert p.holding is None, "%s never acknowledged" % p.holding
            assert acked, "nothing was acknowledged"
            want = set(acked)
            wait_delivered(rec, want, seed)
            wait_settled(d)
            # Every id is stored once, as one event with one delivery.
            for eid in rnd.sample(sorted(want), min(40, len(want))):
                r = d.get("/v4/events/" + eid)
                assert r.status == 200 and len(r.body["deliveries"]) == 1, r
                assert r.body["deliveries"][0]["state"] == "succeeded", r.body
        recs = h.records(rec)
        ids = [r[1] for r in recs]
        assert set(ids) == want, "delivered ids never acknowledged: %r" % (
            sorted(set(ids) - want)[:10])
        duplicates = len(ids) - len(set(ids))
        after_cut = sum(1 for v in acked.values() if v == 200)
    finally:
        for p in pubs:
            p.port = None
            p.stop.set()
    took = time.monotonic() - t0
    print("# kill cycles: %d (load %.1f-%.1f s each), then a clean run; "
          "%.1f s" % (KILL_CYCLES, LOAD_TIME[0], LOAD_TIME[1], took))
    print("# acknowledged=%d delivered=%d lost=0 duplicates=%d "
          "(acknowledged by 200 duplicate after a cut answer: %d)"
          % (len(want), len(want), duplicates, after_cut))
    print("# requests=%d cut_by_kill=%d answered_503=%d recovered_at_starts=%d"
          " final_recovered=%d seed=%d"
          % (sum(p.tries for p in pubs), sum(p.cut for p in pubs),
             sum(p.unavailable for p in pubs), recovered_total, recovered,
             seed))
    print("# per cycle (cycle:load:acknowledged): %s" % " ".join(cycles))


if __name__ == "__main__":
    h.main()
