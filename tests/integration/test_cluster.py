#!/usr/bin/env python3
"""Several hookd nodes on one PostgreSQL database, black box: subscriptions
created through one node serve events accepted by every node, the delivery
log is shared, a node killed with SIGKILL mid-load has its deliveries
completed by the others once its lease ran out, and a PostgreSQL server
stopped mid-load makes ingest answer 503 until it is back, losing nothing
acknowledged. Duplicates (at-least-once delivery) are counted and printed
as TAP comments.

Needs HOOKD_TEST_PG_URL (a database the test may create databases next
to; scripts/dev test starts one) and, for the outage case,
HOOKD_TEST_PG_BIN (PostgreSQL's bin folder: the case runs a server of its
own, so stopping it disturbs no other test). Skips without them."""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import hookdtest as h
from hookdtest import Daemon, q, qlist, test

from receivers import Sink

API = "/v4/webhook-subscriptions"
TYPES = ["order.created", "order.paid", "data_changed"]
CATALOG = "event_types = (\n%s\n);\n" % ",\n".join(
    '  { name = %s; description = "test type"; }' % q(t) for t in TYPES)
LEASE = 2  # seconds: a dead node's deliveries move on soon
# The NOTIFY cases: nodes that poll the database this seldom (seconds)
# learn of other nodes' changes in time only by being told.
POLL_SELDOM = 60
NOTIFY_WAIT = 5  # seconds a notified node may take; far less than the poll


# ------------------------------------------------------------ PostgreSQL --

def pg_base():
    url = os.environ.get("HOOKD_TEST_PG_URL", "")
    if not url:
        h.skip("HOOKD_TEST_PG_URL is not set (scripts/dev test sets it)")
    if not shutil.which("psql"):
        h.skip("no psql to make the test's database with")
    return url


def with_db(url, name):
    """url with its database replaced by name."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query,
                                    u.fragment))


def psql(url, sql, timeout=30):
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url,
                        "-c", sql], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "psql %s: %s" % (sql, r.stderr)
    return r.stdout


class Database:
    """A fresh database next to the one url names, dropped afterwards."""

    def __init__(self, url):
        self.admin = url
        self.name = "hookd_cluster_%d_%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        self.url = with_db(url, self.name)

    def __enter__(self):
        psql(self.admin, "CREATE DATABASE %s" % self.name)
        return self

    def __exit__(self, *exc):
        try:
            psql(self.admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        except Exception as e:  # report, do not hide the test's own failure
            h.context().notes.append("dropping %s: %s" % (self.name, e))
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateServer:
    """A PostgreSQL server of the test's own (initdb in a temporary folder,
    on a free loopback port), which the test may stop and start again.
    Run as the user postgres when root (initdb refuses root)."""

    def __init__(self):
        self.bin = os.environ.get("HOOKD_TEST_PG_BIN", "")
        if not self.bin or not os.path.exists(os.path.join(self.bin, "pg_ctl")):
            h.skip("HOOKD_TEST_PG_BIN is not set (scripts/dev test sets it)")
        self.dir = None
        self.port = free_port()

    def _run(self, *argv, timeout=60):
        cmd = [os.path.join(self.bin, argv[0])] + list(argv[1:])
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        assert r.returncode == 0, "%s: %s %s" % (argv[0], r.stdout, r.stderr)

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="hookd-pg-")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                  "postgres", "hookd")
        self.url = "postgresql://postgres@127.0.0.1:%d/hookd" % self.port
        return self

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l",
                  os.path.join(self.dir, "server.log"), "-w", "-t", "30", "-o",
                  "-c listen_addresses=127.0.0.1 -p %d -k %s" % (self.port,
                                                                 self.dir),
                  "start")

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30",
                  "stop")

    def __exit__(self, *exc):
        try:
            if os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


# ----------------------------------------------------------------- nodes --

# storage.secret_key of every node: the one that seals subscription
# secrets, the same on all of them.
SECRET_KEY = "5e" * 32


def node_conf(url, lease=LEASE, poll=None, queue_size=None):
    extra = "" if poll is None else " poll_interval = %d;" % poll
    return (h.server_block() + CATALOG
            + 'subscriptions = { allow_targets = %s; concurrency = 8; };\n'
            % qlist(["127.0.0.1/32"])
            + ("" if queue_size is None else "queue_size = %d;\n" % queue_size)
            + "storage = { url = %s; lease = %d; secret_key = %s;%s };\n"
            % (q(url), lease, q(SECRET_KEY), extra))


def create_sub(d, body):
    r = d.post(API, body)
    assert r.status == 201, "create %r: %r" % (body, r)
    return r.body["id"]


def wait_subs(nodes, ids, timeout=15):
    """Every node lists every subscription in ids."""
    def seen():
        for d in nodes:
            r = d.get(API)
            have = {s["id"] for s in r.body.get("subscriptions", [])}
            if not set(ids) <= have:
                return False
        return True
    h.wait_for(seen, timeout, "every node to see the subscriptions",
               interval=0.2)


def received(sink, prefix):
    """Event ids of the requests sink got on prefix, in order (repeats
    included)."""
    return [json.loads(r["body"])["id"] for r in sink.requests(prefix)]


def wait_delivered(sink, prefix, want, timeout):
    """Wait until sink got every event id of want on prefix; the number of
    requests beyond one per event (duplicates)."""
    want = set(want)

    def done():
        got = received(sink, prefix)
        return got if want <= set(got) else None
    try:
        got = h.wait_for(done, timeout, "every acknowledged event at %s"
                         % prefix, interval=0.2)
    except AssertionError:
        missing = want - set(received(sink, prefix))
        raise AssertionError("%d of %d acknowledged events never reached %s: %s"
                             % (len(missing), len(want), prefix,
                                sorted(missing)[:5]))
    return len(got) - len(set(got))


# ----------------------------------------------------------------- tests --

@test("three nodes on one database: subscriptions made through one node "
      "serve events accepted round-robin by all, each event fans out as on "
      "one node and reaches its receivers at least once; the log is shared",
      timeout=90)
def three_nodes():
    base = pg_base()
    with Database(base) as db, Sink("ra") as ra, Sink("rb") as rb:
        conf = node_conf(db.url)
        with Daemon(conf, name="n1") as n1, Daemon(conf, name="n2") as n2, \
                Daemon(conf, name="n3") as n3:
            nodes = [n1, n2, n3]
            node_ids = set()
            for d in nodes:
                recs = d.records(msg="store")
                node_ids |= {r["node"] for r in recs if "node" in r}
            assert len(node_ids) == 3, "node ids: %r" % node_ids
            a = create_sub(n1, {"webhookUrl": ra.url("/a"),
                                "events": ["order.*"]})
            b = create_sub(n1, {"webhookUrl": rb.url("/b"), "events": ["*"]})
            wait_subs(nodes, [a, b])
            acked = []
            for i in range(60):
                d = nodes[i % 3]
                t = TYPES[i % 3]
                r = d.publish({"type": t, "data": {"i": i}})
                want = 2 if t.startswith("order.") else 1
                assert r["deliveries"] == want, (t, r)
                acked.append((r["id"], t, i % 3))
            orders = [e for e, t, _ in acked if t.startswith("order.")]
            dup_a = wait_delivered(ra, "/a", orders, 60)
            dup_b = wait_delivered(rb, "/b", [e for e, _, _ in acked], 60)
            assert set(received(ra, "/a")) == set(orders), \
                "a got events it does not subscribe to"
            print("# duplicates: %d at a, %d at b" % (dup_a, dup_b))
            # The log is shared: every node tells about every event.
            for k, (eid, t, origin) in enumerate(acked[:9]):
                d = nodes[(origin + 1 + k) % 3]
                r = d.get("/v4/events/" + eid)
                assert r.status == 200, (eid, r)
                assert len(r.body["deliveries"]) == (2 if t.startswith("order.") else 1)
            # A delete through another node reaches all.
            r = n2.request("DELETE", API + "/" + a)
            assert r.status == 200, r

            def gone():
                return all(a not in {s["id"] for s in d.get(API).body["subscriptions"]}
                           for d in nodes)
            h.wait_for(gone, 15, "the deleted subscription to leave every node",
                       interval=0.2)
            r = n3.publish({"type": "order.paid", "data": {}})
            assert r["deliveries"] == 1, r


@test("kill -9 one node of three mid-load: its deliveries are completed by "
      "the others once its lease ran out; no acknowledged event is lost",
      timeout=120)
def node_killed():
    base = pg_base()
    with Database(base) as db, Sink("rk") as rk:
        conf = node_conf(db.url)
        with Daemon(conf, name="n1") as n1, Daemon(conf, name="n2") as n2, \
                Daemon(conf, name="n3", expect_status=None) as n3:
            nodes = [n1, n2, n3]
            # Each attempt takes a second: the victim dies with attempts
            # in flight and deliveries waiting in its memory.
            sid = create_sub(n1, {"webhookUrl": rk.url("/delay/1/200"),
                                  "events": ["*"]})
            wait_subs(nodes, [sid])
            acked = []
            for i in range(90):
                if i == 45:
                    n3.send_signal(signal.SIGKILL)
                    n3.wait_exit(10)
                    nodes = [n1, n2]
                d = nodes[i % len(nodes)]
                acked.append(d.publish({"type": "data_changed",
                                        "data": {"i": i}})["id"])
            dups = wait_delivered(rk, "/delay", acked, 90)
            print("# duplicates after the kill: %d of %d requests"
                  % (dups, len(received(rk, "/delay"))))
            # Every delivery is settled in the shared log.
            def settled():
                for eid in acked[40:50]:
                    r = n1.get("/v4/events/" + eid)
                    if r.status != 200 or r.body["deliveries"][0]["state"] != "succeeded":
                        return False
                return True
            h.wait_for(settled, 20, "the taken-over deliveries to be recorded",
                       interval=0.2)


@test("SIGTERM of a node with deliveries waiting in its memory: it gives "
      "its leases back and another node delivers them at once, long "
      "before the leases would run out", timeout=120)
def node_stopped():
    base = pg_base()
    with Database(base) as db, Sink("rs") as rs:
        conf = node_conf(db.url, lease=120)
        with Daemon(conf, name="n1") as n1, Daemon(conf, name="n2") as n2:
            # Each attempt takes a second and n2 runs 8 at a time: most
            # of its deliveries still wait in its memory when it stops.
            sid = create_sub(n1, {"webhookUrl": rs.url("/delay/1/200"),
                                  "events": ["*"]})
            wait_subs([n1, n2], [sid])
            acked = [n2.publish({"type": "data_changed", "data": {"i": i}})
                     ["id"] for i in range(40)]
            assert n2.stop() == 0
            # Either way (attempts finished in time or abandoned at the
            # shutdown timeout) the node hands its deliveries over.
            line = n2.wait_log(msg="stopped", detail=lambda v: bool(v) and (
                v.endswith("the other nodes take them over") or
                v.endswith("the other nodes take the deliveries over")))
            assert int(line[0].get("unfinished_deliveries", "1")) > 0, line
            # 40 one-second attempts, 8 at a time on n1: about 5 s.
            dups = wait_delivered(rs, "/delay", acked, 40)
            print("# duplicates after the stop: %d" % dups)


@test("PostgreSQL stopped mid-load: ingest answers 503 store_unavailable "
      "while it is down, accepts again once it is back, and every "
      "acknowledged event is delivered", timeout=150)
def database_outage():
    with PrivateServer() as pg, Sink("ro") as ro:
        conf = node_conf(pg.url)
        with Daemon(conf, name="n1") as n1, Daemon(conf, name="n2") as n2:
            nodes = [n1, n2]
            sid = create_sub(n1, {"webhookUrl": ro.url("/o"), "events": ["*"]})
            wait_subs(nodes, [sid])
            acked, refused = [], 0
            stop_at = time.monotonic() + 1.0
            i = 0

            def publish():
                nonlocal i, refused
                d = nodes[i % 2]
                i += 1
                r = d.post_event({"type": "data_changed", "data": {"i": i}})
                if r.status == 202:
                    acked.append(r.body["id"])
                else:
                    h.assert_error(r, 503, "store_unavailable")
                    refused += 1
                return r.status

            while time.monotonic() < stop_at:
                publish()
            pg.stop()
            # Down: nothing is acknowledged.
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                publish()
                time.sleep(0.02)
            assert refused > 0, "no 503 while PostgreSQL was down"
            # Reads say the store is down, not that the event is unknown.
            assert acked, "nothing acknowledged before the outage"
            for d in nodes:
                h.assert_error(d.get("/v4/events/" + acked[0]), 503,
                               "store_unavailable")
            before = len(acked)
            pg.start()
            # Back: both nodes accept again by themselves.
            for d in nodes:
                h.wait_for(lambda: d.post_event({"type": "data_changed",
                                                 "data": {}}).status == 202,
                           30, "ingest on %s to recover" % d.name,
                           interval=0.2)
            for _ in range(20):
                publish()
            assert len(acked) >= before + 20, (len(acked), before)
            print("# outage: %d refused with 503, %d acknowledged"
                  % (refused, len(acked)))
            dups = wait_delivered(ro, "/o", acked, 60)
            print("# duplicates after the outage: %d" % dups)


def attempts_by(d, event_ids):
    """The events of event_ids node d logged an attempt for."""
    want = set(event_ids)
    return {r["event"] for r in d.records(msg="attempt") if r.get("event") in want}


@test("NOTIFY: a subscription created or deleted through one node is in use "
      "on another for the very next events, long before that node's poll",
      timeout=60)
def notify_subscriptions():
    base = pg_base()
    with Database(base) as db, Sink("rn") as rn:
        conf = node_conf(db.url, poll=POLL_SELDOM)
        with Daemon(conf, name="n1") as n1, Daemon(conf, name="n2") as n2:
            sid = create_sub(n1, {"webhookUrl": rn.url("/n"), "events": ["*"]})

            def routed(want):
                r = n2.publish({"type": "data_changed", "data": {}})
                return r["id"] if r["deliveries"] == want else None
            eid = h.wait_for(lambda: routed(1), NOTIFY_WAIT,
                             "node 2 to route events to node 1's subscription",
                             interval=0.05)
            wait_delivered(rn, "/n", [eid], 30)
            # The attempt is logged once the receiver's answer is in, a
            # moment after the receiver has recorded the request.
            h.wait_for(lambda: attempts_by(n2, [eid]) == {eid}, 10,
                       "node 2 to log its attempt (did it deliver it?)",
                       interval=0.05)
            r = n2.request("DELETE", API + "/" + sid)
            assert r.status == 200, r
            h.wait_for(lambda: n1.publish({"type": "data_changed",
                                           "data": {}})["deliveries"] == 0,
                       NOTIFY_WAIT, "node 1 to drop node 2's deletion",
                       interval=0.05)


@test("NOTIFY: deliveries one node parks (its memory is full) are taken by "
      "another at once, long before that node's poll", timeout=90)
def notify_parked():
    base = pg_base()
    with Database(base) as db, Sink("rp") as rp:
        with Daemon(node_conf(db.url, poll=POLL_SELDOM, queue_size=1),
                    name="n1") as n1, \
                Daemon(node_conf(db.url, poll=POLL_SELDOM), name="n2") as n2:
            sid = create_sub(n1, {"webhookUrl": rp.url("/delay/1/200"),
                                  "events": ["*"]})
            h.wait_for(lambda: sid in {s["id"] for s in
                                       n2.get(API).body["subscriptions"]},
                       NOTIFY_WAIT, "node 2 to know the subscription",
                       interval=0.05)
            # Node 1 holds one delivery in memory (a second each) and
            # parks the others; node 2 hears of them and takes them.
            acked = [n1.publish({"type": "data_changed", "data": {"i": i}})["id"]
                     for i in range(10)]
            h.wait_for(lambda: attempts_by(n2, acked), NOTIFY_WAIT,
                       "node 2 to take over deliveries node 1 parked",
                       interval=0.1)
            dups = wait_delivered(rp, "/delay", acked, 60)
            print("# node 2 delivered %d of %d, %d duplicates"
                  % (len(attempts_by(n2, acked)), len(acked), dups))


if __name__ == "__main__":
    h.main()
