#!/usr/bin/env python3
"""The event store: idempotent publishing, the delivery log API, replay of
dead letters, recovery after a restart, retention, metrics, and a store
that cannot write (disk full, locked) answering 503 and recovering."""

import os
import re
import signal
import sqlite3
import threading
import time
import urllib.parse

import hookdtest as h
from hookdtest import (Daemon, assert_error, conf, good_handler, q, qlist,
                       test)


def routes_conf(handlers, routes, extra=""):
    """handlers: texts of good_handler(); routes: (events, [handler names],
    retry list or None)."""
    parts = []
    for events, names, retry in routes:
        r = "" if retry is None else " retry = [%s];" % ", ".join(
            str(x) for x in retry)
        parts.append("{ events = %s; handlers = %s;%s }"
                     % (qlist(events), qlist(names), r))
    return conf("""
handlers = { %s };
routes = ( %s );
%s
""" % (" ".join(handlers), ",\n  ".join(parts), extra))


def get_event(d, eid):
    """GET /v4/events/{id}: the body (status 200 asserted)."""
    r = d.get("/v4/events/" + urllib.parse.quote(eid, safe=""))
    assert r.status == 200, "GET event %s: %r" % (eid, r)
    assert r.headers.get("content-type", "").startswith("application/json"), r
    return r.body


def wait_event(d, eid, pred, timeout=10.0, what="the event"):
    """Wait until pred(GET /v4/events/{id}) is true; return that body."""
    return h.wait_for(lambda: (lambda ev: ev if pred(ev) else None)(
        get_event(d, eid)), timeout, "%s %s" % (what, eid), interval=0.05)


def states(ev):
    return [x["state"] for x in ev["deliveries"]]


def all_state(state):
    return lambda ev: ev["deliveries"] and all(
        x["state"] == state for x in ev["deliveries"])


def deliveries(d, **params):
    """GET /v4/deliveries with params; the response."""
    qs = urllib.parse.urlencode(params)
    return d.get("/v4/deliveries" + ("?" + qs if qs else ""))


def deliveries_ok(d, **params):
    r = deliveries(d, **params)
    assert r.status == 200, "GET deliveries %r: %r" % (params, r)
    assert set(r.body) == {"deliveries", "nextCursor"}, r.body
    return r.body


def count_state(d, state, **params):
    return len(deliveries_ok(d, state=state, limit=500, **params)["deliveries"])


def wait_count(d, state, n, timeout=10.0, **params):
    return h.wait_for(lambda: count_state(d, state, **params) == n, timeout,
                      "%d deliveries %s %r" % (n, state, params))


def record_ids(path):
    return [r[1] for r in h.records(path)]


TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")

DELIVERY_KEYS = {"id", "eventId", "eventType", "target", "state",
                 "attemptCount", "nextAttemptAt", "lastOutcome", "lastReason",
                 "createdAt", "updatedAt"}


def check_delivery_shape(x):
    assert DELIVERY_KEYS <= set(x), "delivery lacks %r: %r" % (
        DELIVERY_KEYS - set(x), x)
    assert x["id"].startswith("dlv_"), x
    assert x["state"] in ("pending", "retrying", "succeeded", "dead"), x
    assert isinstance(x["attemptCount"], int) and x["attemptCount"] >= 0, x
    assert TIME_RE.fullmatch(x["createdAt"]), x
    assert TIME_RE.fullmatch(x["updatedAt"]), x


# ------------------------------------------------------------ idempotency --

@test("idempotency: the same id twice is 202 then 200 duplicate, handled "
      "once; another id is a new event")
def idempotency():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(routes_conf([good_handler("g", record=rec)],
                            [(["*"], ["g"], None)])) as d:
        r1 = d.post_event({"type": "order.paid", "id": "ord-1",
                           "data": {"n": 1}})
        assert r1.status == 202, r1
        assert r1.body == {"id": "ord-1", "deliveries": 1}, r1.body
        # Same id, even with another body: not stored again.
        r2 = d.post_event({"type": "order.paid", "id": "ord-1",
                           "data": {"n": 2}})
        assert r2.status == 200, r2
        assert r2.body == {"id": "ord-1", "duplicate": True}, r2.body
        r3 = d.post_event({"type": "order.paid", "id": "ord-1"})
        assert r3.status == 200 and r3.body.get("duplicate") is True, r3
        r4 = d.post_event({"type": "order.paid", "id": "ord-2"})
        assert r4.status == 202 and r4.body["id"] == "ord-2", r4
        h.wait_lines(rec, 2)
        time.sleep(0.3)  # a second call for ord-1 would come by now
        assert sorted(record_ids(rec)) == ["ord-1", "ord-2"], h.records(rec)
        ev = wait_event(d, "ord-1", all_state("succeeded"))
        assert ev["data"] == {"n": 1}, "the first body is kept: %r" % ev
        assert len(ev["deliveries"]) == 1, ev
        assert len(deliveries_ok(d, event="ord-1")["deliveries"]) == 1
        assert len(d.records(msg="event")) == 2, d.records(msg="event")


# -------------------------------------------------------- GET /v4/events/ --

@test("GET /v4/events/{id}: envelope, a delivery with attempts retry, retry, "
      "ok, state succeeded; 404 for an unknown id")
def event_detail():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(routes_conf([good_handler("g", mode="retry-then-ok",
                                          ok_on_attempt=3, record=rec)],
                            [(["*"], ["g"], [0.05, 0.05])])) as d:
        eid = d.publish({"type": "flaky.thing", "data": {"k": "v"}})["id"]
        ev = wait_event(d, eid, all_state("succeeded"))
        assert ev["id"] == eid and ev["type"] == "flaky.thing", ev
        assert ev["source"] == "api" and ev["data"] == {"k": "v"}, ev
        assert TIME_RE.fullmatch(ev["timestamp"]), ev
        assert len(ev["deliveries"]) == 1, ev
        x = ev["deliveries"][0]
        check_delivery_shape(x)
        assert x["eventId"] == eid and x["eventType"] == "flaky.thing", x
        assert x["target"] == "g", x
        assert x["attemptCount"] == 3, x
        assert x["lastOutcome"] == "ok", x
        assert x["lastReason"] == "test-good: ok", x
        assert x["nextAttemptAt"] is None, x
        at = x["attempts"]
        assert [a["attempt"] for a in at] == [1, 2, 3], at
        assert [a["outcome"] for a in at] == ["retry", "retry", "ok"], at
        assert at[0]["detail"] == "test-good: retry until attempt 3", at
        assert at[2]["detail"] == "test-good: ok", at
        for a in at:
            assert set(a) == {"attempt", "startedAt", "durationMs", "outcome",
                              "detail"}, a
            assert TIME_RE.fullmatch(a["startedAt"]), a
            assert isinstance(a["durationMs"], (int, float)), a
            assert a["durationMs"] >= 0, a
        assert [r[0] for r in h.records(rec)] == [1, 2, 3]
        # The delivery log agrees.
        page = deliveries_ok(d, event=eid)["deliveries"]
        assert len(page) == 1 and page[0]["id"] == x["id"], page
        assert page[0]["state"] == "succeeded", page
        assert page[0]["attemptCount"] == 3, page
        assert_error(d.get("/v4/events/evt_no_such_event"), 404, "not_found")
        assert_error(d.get("/v4/events/nope-42"), 404, "not_found")


# ------------------------------------------------------------------ paging --

@test("GET /v4/deliveries: pages of 3, 3, 1 newest first, no duplicates; "
      "filters state, target, event; 400 for bad parameters")
def paging():
    t = h.tmpdir()
    with Daemon(routes_conf([good_handler("a", record=os.path.join(t, "a")),
                             good_handler("f", mode="fail")],
                            [(["p.*"], ["a"], None),
                             (["f.*"], ["f"], [0.05])])) as d:
        ids = [d.publish({"type": "p.x", "data": {"i": i}})["id"]
               for i in range(7)]
        dead_ids = [d.publish({"type": "f.x"})["id"] for _ in range(2)]
        wait_count(d, "succeeded", 7, target="a")
        wait_count(d, "dead", 2)

        pages, cursor = [], None
        for _ in range(10):  # bounded: 3 pages expected
            params = {"target": "a", "limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            body = deliveries_ok(d, **params)
            pages.append(body["deliveries"])
            cursor = body["nextCursor"]
            if cursor is None:
                break
            assert isinstance(cursor, str) and cursor, body
        assert [len(p) for p in pages] == [3, 3, 1], pages
        flat = [x for p in pages for x in p]
        for x in flat:
            check_delivery_shape(x)
            assert x["target"] == "a" and x["state"] == "succeeded", x
        assert len({x["id"] for x in flat}) == 7, "duplicates across pages"
        assert [x["eventId"] for x in flat] == ids[::-1], "not newest first"

        # Exactly one full page: no next cursor.
        body = deliveries_ok(d, target="a", limit=7)
        assert len(body["deliveries"]) == 7 and body["nextCursor"] is None
        # Unfiltered and default limit: all nine, newest first.
        body = deliveries_ok(d)
        assert [x["eventId"] for x in body["deliveries"]] == \
            (ids + dead_ids)[::-1], body
        assert body["nextCursor"] is None, body

        dead = deliveries_ok(d, state="dead")["deliveries"]
        assert sorted(x["eventId"] for x in dead) == sorted(dead_ids), dead
        assert all(x["target"] == "f" and x["lastOutcome"] == "fail"
                   for x in dead), dead
        assert deliveries_ok(d, state="succeeded", target="f")[
            "deliveries"] == []
        assert deliveries_ok(d, state="pending")["deliveries"] == []
        assert deliveries_ok(d, target="nobody")["deliveries"] == []
        one = deliveries_ok(d, event=ids[4])["deliveries"]
        assert [x["eventId"] for x in one] == [ids[4]], one
        assert deliveries_ok(d, event="evt_unknown")["deliveries"] == []
        # Filters with paging: state + target, 2 per page.
        body = deliveries_ok(d, state="succeeded", target="a", limit=2)
        assert len(body["deliveries"]) == 2 and body["nextCursor"], body
        nxt = deliveries_ok(d, state="succeeded", target="a", limit=2,
                            cursor=body["nextCursor"])
        assert [x["eventId"] for x in body["deliveries"] + nxt["deliveries"]] \
            == ids[::-1][:4], (body, nxt)

        for params, field in [({"state": "bogus"}, "state"),
                              ({"limit": "0"}, "limit"),
                              ({"limit": "abc"}, "limit"),
                              ({"limit": "-1"}, "limit"),
                              ({"limit": "501"}, "limit"),
                              ({"cursor": "x"}, "cursor"),
                              ({"cursor": "0"}, "cursor")]:
            assert_error(deliveries(d, **params), 400, "invalid_parameter",
                         field=field)


# ------------------------------------------------------------ replay one --

@test("replay one dead delivery: 202, a new attempt; 409 for a succeeded "
      "or retrying one, 404 unknown; after a reload to ok it succeeds")
def replay_one():
    t = h.tmpdir()
    rec = os.path.join(t, "rec")

    def config(mode):
        return routes_conf([good_handler("g", mode=mode, record=rec),
                            good_handler("ok"),
                            good_handler("slow", mode="retry")],
                           [(["x.*"], ["g"], [0.05]),
                            (["y.*"], ["ok"], None),
                            (["z.*"], ["slow"], [60])])
    with Daemon(config("fail")) as d:
        eid = d.publish({"type": "x.1"})["id"]
        ev = wait_event(d, eid, all_state("dead"))
        did = ev["deliveries"][0]["id"]
        assert ev["deliveries"][0]["attemptCount"] == 1, ev
        assert ev["deliveries"][0]["lastOutcome"] == "fail", ev

        r = d.post("/v4/deliveries/%s/retry" % did)
        assert r.status == 202, r
        assert r.body == {"id": did, "state": "pending"}, r.body
        d.wait_log(msg="replay", delivery=did)
        ev = wait_event(d, eid, lambda e: e["deliveries"][0]["attemptCount"]
                        == 2 and e["deliveries"][0]["state"] == "dead")
        x = ev["deliveries"][0]
        assert [a["outcome"] for a in x["attempts"]] == ["fail", "fail"], x
        assert [a["attempt"] for a in x["attempts"]] == [1, 2], x
        assert [r[0] for r in h.records(rec)] == [1, 2], h.records(rec)
        assert len(d.records(msg="dead", delivery=did)) == 2

        # Not dead: 409 not_dead, naming the state.
        okid = d.publish({"type": "y.1"})["id"]
        okd = wait_event(d, okid, all_state("succeeded"))["deliveries"][0]
        r = d.post("/v4/deliveries/%s/retry" % okd["id"])
        assert_error(r, 409, "not_dead")
        assert "succeeded" in r.body["message"], r.body
        slowid = d.publish({"type": "z.1"})["id"]
        slow = wait_event(d, slowid, all_state("retrying"))["deliveries"][0]
        r = d.post("/v4/deliveries/%s/retry" % slow["id"])
        assert_error(r, 409, "not_dead")
        assert "retrying" in r.body["message"], r.body
        # Unknown: 404.
        assert_error(d.post("/v4/deliveries/dlv_nope/retry"), 404, "not_found")
        # A retry call is POST only.
        assert_error(d.get("/v4/deliveries/%s/retry" % did), 405,
                     "method_not_allowed")

        # Fix the handler (reload), replay: succeeded on attempt 3.
        assert d.reload(config("ok")), "reload refused"
        d.wait_log(msg="reload", detail="configuration reloaded")
        r = d.post("/v4/deliveries/%s/retry" % did)
        assert r.status == 202 and r.body["state"] == "pending", r
        ev = wait_event(d, eid, all_state("succeeded"))
        x = ev["deliveries"][0]
        assert x["attemptCount"] == 3 and x["lastOutcome"] == "ok", x
        assert [a["outcome"] for a in x["attempts"]] == \
            ["fail", "fail", "ok"], x
        assert [r[0] for r in h.records(rec)] == [1, 2, 3], h.records(rec)
        # Succeeded now: no more replays.
        assert_error(d.post("/v4/deliveries/%s/retry" % did), 409, "not_dead")


# ----------------------------------------------------------- bulk replay --

@test("bulk replay: by target, then the rest, then limit 1 with remaining; "
      "type glob; bad bodies refused")
def bulk_replay():
    t = h.tmpdir()
    ra, rb = os.path.join(t, "a"), os.path.join(t, "b")

    def config(mode_a):
        return routes_conf([good_handler("a", mode=mode_a, record=ra),
                            good_handler("b", mode="fail", record=rb)],
                           [(["ta.*"], ["a"], [0.05]),
                            (["tb.*"], ["b"], [0.05])])
    with Daemon(config("fail")) as d:
        a_ids = [d.publish({"type": "ta.x"})["id"] for _ in range(3)]
        b_ids = [d.publish({"type": "tb.x"})["id"] for _ in range(2)]
        wait_count(d, "dead", 5)
        assert_error(d.post("/v4/deliveries/retry", {"limit": 0}), 422,
                     "invalid_request", field="limit")
        assert_error(d.post("/v4/deliveries/retry", {"colour": "red"}), 422,
                     "invalid_request", field="colour")
        assert_error(d.post("/v4/deliveries/retry", {"type": "a[b"}), 422,
                     "invalid_request", field="type")
        assert_error(d.post("/v4/deliveries/retry", "[1",
                            {"Content-Type": "application/json"}), 400,
                     "invalid_json")
        assert count_state(d, "dead") == 5, "a refused call replayed"

        assert d.reload(config("ok"))
        r = d.post("/v4/deliveries/retry", {"target": "a"})
        assert r.status == 202, r
        assert r.body == {"retried": 3, "remaining": 0}, r.body
        assert count_state(d, "dead", target="b") == 2
        wait_count(d, "succeeded", 3, target="a")
        assert sorted(r[1] for r in h.records(ra) if r[0] == 2) == \
            sorted(a_ids), h.records(ra)
        r = d.post("/v4/deliveries/retry", {"target": "a"})
        assert r.status == 202 and r.body == {"retried": 0, "remaining": 0}, r

        # A glob that matches nothing, then everything that is left.
        r = d.post("/v4/deliveries/retry", {"type": "zz.*"})
        assert r.status == 202 and r.body == {"retried": 0, "remaining": 0}, r
        r = d.post("/v4/deliveries/retry", {})
        assert r.status == 202, r
        assert r.body == {"retried": 2, "remaining": 0}, r.body
        h.wait_for(lambda: [x["attemptCount"] for x in deliveries_ok(
            d, state="dead", target="b")["deliveries"]] == [2, 2], 10,
            "both b deliveries dead again after 2 attempts")

        # limit 1: the oldest one, one left.
        r = d.post("/v4/deliveries/retry", {"limit": 1, "type": "tb.*"})
        assert r.status == 202, r
        assert r.body == {"retried": 1, "remaining": 1}, r.body
        ev = wait_event(d, b_ids[0], lambda e: e["deliveries"][0][
            "attemptCount"] == 3 and e["deliveries"][0]["state"] == "dead")
        assert get_event(d, b_ids[1])["deliveries"][0]["attemptCount"] == 2
        # No body at all is "everything".
        r = d.post("/v4/deliveries/retry")
        assert r.status == 202 and r.body == {"retried": 2, "remaining": 0}, r
        wait_count(d, "dead", 2, target="b")
        assert len(d.records(msg="replay")) == 3 + 2 + 1 + 2


@test("a replay that finds no room in memory (queue_size) is refused with "
      "503 queue_full and Retry-After, one by one and in bulk; nothing is "
      "replayed, and publishing is still accepted (parked)")
def replay_queue_full():
    # queue_size 1: a retry due within a minute stays in memory and holds
    # the one place.
    config = routes_conf([good_handler("bad", mode="fail"),
                          good_handler("hold", mode="retry")],
                         [(["bad.*"], ["bad"], []),
                          (["hold.*"], ["hold"], [50])],
                         "queue_size = 1;")
    with Daemon(config) as d:
        eid = d.publish({"type": "bad.x"})["id"]
        did = wait_event(d, eid, all_state("dead"))["deliveries"][0]["id"]
        hid = d.publish({"type": "hold.x"})["id"]
        wait_event(d, hid, all_state("retrying"))
        for r in (d.post("/v4/deliveries/%s/retry" % did),
                  d.post("/v4/deliveries/retry"),
                  d.post("/v4/deliveries/retry", {"target": "bad"})):
            assert_error(r, 503, "queue_full", field=None)
            assert r.headers.get("retry-after") == "1", r
        assert d.records(msg="replay") == []
        assert count_state(d, "dead") == 1
        # Publishing past queue_size is never refused: the delivery waits
        # in the store.
        r = d.post_event({"type": "bad.y"})
        assert r.status == 202, r


# -------------------------------------------------- restart with backlog --

@test("restart with a backlog: 20 retrying deliveries survive SIGTERM and "
      "are delivered after the restart", timeout=60)
def restart_backlog():
    t = h.tmpdir()
    rec = os.path.join(t, "rec")

    def config(mode):
        return routes_conf([good_handler("g", mode=mode, record=rec)],
                           [(["*"], ["g"], [0.2] * 10)])
    d1 = Daemon(config("retry"), name="before")
    with d1:
        ids = [d1.publish({"type": "backlog", "data": {"i": i}})["id"]
               for i in range(20)]
        # Every event attempted once (and so retrying), then stop.
        h.wait_for(lambda: set(ids) <= set(record_ids(rec)), 10,
                   "a first attempt of every event")
    assert d1.status == 0
    dead_before = d1.records(msg="dead")
    assert dead_before == [], "dead before the restart (slow machine?): %r" \
        % dead_before
    stopped = d1.records(msg="stopped")
    assert stopped and stopped[-1].get("unfinished_deliveries") == "20", stopped
    first_run = len(h.records(rec))

    with Daemon(config("ok"), name="after") as d2:
        rc = d2.wait_log(msg="recovered")[0]
        assert rc["deliveries"] == "20", rc
        d2.wait_log(count=20, timeout=15, msg="attempt", outcome="ok")
        for eid in ids:
            ev = wait_event(d2, eid, all_state("succeeded"))
            x = ev["deliveries"][0]
            n = x["attemptCount"]
            assert n >= 2, x
            assert [a["attempt"] for a in x["attempts"]] == \
                list(range(1, n + 1)), x
            assert [a["outcome"] for a in x["attempts"]] == \
                ["retry"] * (n - 1) + ["ok"], x
            mine = [r[0] for r in h.records(rec) if r[1] == eid]
            assert mine == list(range(1, n + 1)), (eid, mine, x)
        time.sleep(0.5)  # nothing more may come
        recs = h.records(rec)
        assert len(recs) == first_run + 20, (first_run, len(recs))
        assert len(d2.records(msg="attempt")) == 20


# -------------------------------------------------------------- retention --

@test("retention: succeeded events are purged (404) within seconds, dead "
      "and unfinished ones stay", timeout=40)
def retention():
    with Daemon(routes_conf(
            [good_handler("g"), good_handler("f", mode="fail"),
             good_handler("r", mode="retry")],
            [(["ok.*"], ["g"], None), (["bad.*"], ["f"], None),
             (["slow.*"], ["r"], [60]), (["mix.*"], ["g", "r"], [60])],
            extra="storage = { url = %s; keep_succeeded = 0; "
                  "keep_dead = 3600; purge_interval = 1; };"
            % q("sqlite:" + os.path.join(h.tmpdir(), "hookd.db")))) as d:
        ok_ids = [d.publish({"type": "ok.x"})["id"] for _ in range(3)]
        dead_id = d.publish({"type": "bad.x"})["id"]
        slow_id = d.publish({"type": "slow.x"})["id"]
        mix_id = d.publish({"type": "mix.x"})["id"]
        wait_event(d, dead_id, all_state("dead"))
        wait_event(d, slow_id, all_state("retrying"))
        wait_event(d, mix_id, lambda e: sorted(states(e)) ==
                   ["retrying", "succeeded"])
        h.wait_for(lambda: all(d.get("/v4/events/" + i).status == 404
                               for i in ok_ids), 8,
                   "the succeeded events purged")
        purged = d.wait_log(msg="purge")
        assert sum(int(p["events"]) for p in purged) >= 3, purged
        # Two more purge rounds: the others stay.
        time.sleep(2.5)
        for i in ok_ids:
            assert_error(d.get("/v4/events/" + i), 404, "not_found")
        assert states(get_event(d, dead_id)) == ["dead"]
        assert states(get_event(d, slow_id)) == ["retrying"]
        assert sorted(states(get_event(d, mix_id))) == \
            ["retrying", "succeeded"]
        # The purged deliveries left the log; the kept event's are there.
        left = deliveries_ok(d, target="g")["deliveries"]
        assert [x["eventId"] for x in left] == [mix_id], left
        # The dead one stays replayable.
        did = get_event(d, dead_id)["deliveries"][0]["id"]
        assert d.post("/v4/deliveries/%s/retry" % did).status == 202
        assert sum(int(p["events"]) for p in d.records(msg="purge")) == 3


OLD_EVENTS = 20000


def seed_old_succeeded(db, n, age_ms):
    """Write n events straight into hookd's database (hookd stopped; the
    file made by hookd, so the schema is its own), each with one succeeded
    delivery and its attempt, all created age_ms ago."""
    old = int(time.time() * 1000) - age_ms
    pad = "p" * 300
    c = sqlite3.connect(db, isolation_level=None)
    try:
        c.execute("BEGIN")
        c.executemany(
            "INSERT INTO events(id, type, source, timestamp, created_at, "
            "body) VALUES (?, 'old.x', 'urn:test', '2020-01-01T00:00:00Z', "
            "?, ?)",
            (("old-%d" % k, old, '{"id":"old-%d","type":"old.x",'
              '"data":{"pad":"%s"}}' % (k, pad)) for k in range(n)))
        c.execute(
            "INSERT INTO deliveries(id, event_seq, target, state, attempts, "
            "schedule, next_at, last_outcome, last_reason, created_at, "
            "updated_at) SELECT 'dlv_old_' || seq, seq, 'g', 2, 1, '[]', "
            "?1, 'ok', '', ?1, ?1 FROM events WHERE type = 'old.x'", (old,))
        c.execute(
            "INSERT INTO attempts(delivery_seq, number, started_at, "
            "duration_us, outcome, detail) SELECT seq, 1, ?1, 1000, 'ok', "
            "'' FROM deliveries WHERE id LIKE 'dlv_old_%'", (old,))
        c.execute("COMMIT")
    finally:
        c.close()


def count_type(db, typ):
    """Events of type typ in the database, read beside the running hookd."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return c.execute("SELECT count(*) FROM events WHERE type = ?",
                         (typ,)).fetchone()[0]
    finally:
        c.close()


@test("retention under steady ingest: %d expired events are all purged "
      "while a client publishes steadily (~40/s), every publish answered 202"
      % OLD_EVENTS, timeout=180)
def retention_under_load():
    db = os.path.join(h.tmpdir(), "hookd.db")
    # The next purge is an hour away once the first, a second after the
    # start, has begun: only a purge that goes on between the client's
    # commits can take them all.
    config = routes_conf([good_handler("g")], [(["*"], ["g"], None)],
                         extra="storage = { url = %s; keep_succeeded = 3600; "
                               "purge_interval = 3600; };"
                               % q("sqlite:" + db))
    with Daemon(config, name="schema"):
        pass
    seed_old_succeeded(db, OLD_EVENTS, 2 * 86400 * 1000)
    results = []  # (status, seconds)
    stop = threading.Event()

    def client():
        # About 40 publishes a second, one at a time; bounded in count.
        for k in range(20000):
            if stop.is_set():
                return
            t0 = time.monotonic()
            try:
                r = d.post_event({"type": "new.x", "id": "new-%d" % k},
                                 timeout=30)
                results.append((r.status, time.monotonic() - t0))
            except OSError as e:
                results.append((str(e), time.monotonic() - t0))
            time.sleep(max(0.0, 0.025 - (time.monotonic() - t0)))

    with Daemon(config) as d:
        th = threading.Thread(target=client)
        th.start()
        left = [OLD_EVENTS]

        def all_purged():
            left[0] = count_type(db, "old.x")
            return left[0] == 0
        try:
            t0 = time.monotonic()
            try:
                h.wait_for(all_purged, 90, "the purge", interval=0.5)
            except AssertionError:
                raise AssertionError("%d of %d expired events left after "
                                     "90 s; purges: %r" % (
                                         left[0], OLD_EVENTS,
                                         d.records(msg="purge")))
            took = time.monotonic() - t0
            time.sleep(1)  # the client still publishing after it
        finally:
            stop.set()
            th.join(60)
        assert not th.is_alive(), "the client did not stop"
        purged = d.wait_log(msg="purge")
        assert sum(int(p["events"]) for p in purged) == OLD_EVENTS, purged
        bad = [x for x in results if x[0] != 202]
        assert not bad, "%d of %d publishes not answered 202: %r" % (
            len(bad), len(results), bad[:5])
        assert len(results) >= 40, "only %d publishes" % len(results)
        slowest = max(x[1] for x in results)
        # Very generous: a publish waits for one short purge step at most.
        assert slowest < 10, "a publish took %.1f s" % slowest
        # The new events are kept (they are young).
        assert count_type(db, "new.x") == len(results)
        print("# purged %d events in %.1f s while %d publishes were "
              "answered (slowest %.0f ms)" % (OLD_EVENTS, took, len(results),
                                              slowest * 1000), flush=True)


# ----------------------------------------------------------------- schema --

def schema_lines(d):
    return d.records(msg="store", detail=lambda v: bool(v) and
                     v.startswith("schema"))


@test("schema: a new database logs 'schema created' with its version, "
      "reopening it logs nothing about the schema, a version 1 database "
      "is migrated (logged from 1) and keeps its events")
def schema_log():
    db = os.path.join(h.tmpdir(), "hookd.db")
    config = routes_conf([good_handler("g")], [(["*"], ["g"], None)])
    with Daemon(config, name="new") as d:
        created = d.wait_log(msg="store", detail="schema created")
        version = created[0].get("version", "")
        assert version.isdigit() and int(version) >= 3, created
        eid = d.publish({"type": "x"})["id"]
        wait_event(d, eid, all_state("succeeded"))
    assert len(schema_lines(d)) == 1, schema_lines(d)
    with Daemon(config, name="again") as d:
        get_event(d, eid)
    assert schema_lines(d) == [], schema_lines(d)
    # Back to version 1: without the index version 2 added, with the two
    # that version 3 replaced, without the table version 4 added.
    c = sqlite3.connect(db, isolation_level=None)
    try:
        c.execute("DROP TABLE audit")
        c.execute("DROP INDEX deliveries_parked")
        c.execute("DROP INDEX deliveries_open")
        c.execute("DROP INDEX deliveries_dead")
        c.execute("CREATE INDEX deliveries_state ON deliveries(state, next_at)")
        c.execute("CREATE INDEX deliveries_target ON deliveries(target, state)")
        c.execute("PRAGMA user_version = 1")
    finally:
        c.close()
    with Daemon(config, name="old") as d:
        lines = schema_lines(d)
        assert [(x["detail"], x.get("from"), x.get("to")) for x in lines] == \
            [("schema migrated", "1", version)], lines
        assert states(get_event(d, eid)) == ["succeeded"]
        d.publish({"type": "x"})
    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA user_version").fetchone()[0] == int(version)
        names = {r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"deliveries_parked", "deliveries_open",
                "deliveries_dead"} <= names, names
        assert not {"deliveries_state", "deliveries_target"} & names, names
    finally:
        c.close()


# ---------------------------------------------------------------- metrics --

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( -?\d+)?")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_prometheus(text):
    """Parse text format 0.0.4 strictly. Returns ({(name, labels): value},
    {family: type}); AssertionError on any line that does not parse."""
    assert text.endswith("\n"), "the text does not end with a line feed"
    samples, types, helps = {}, {}, set()
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d %r" % (n, line)
        assert line, "empty " + where
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "HELP":
                assert parts[2] not in helps, "second HELP, " + where
                helps.add(parts[2])
            elif len(parts) >= 3 and parts[1] == "TYPE":
                assert len(parts) == 4 and parts[3] in _TYPES, where
                assert parts[2] not in types, "second TYPE, " + where
                types[parts[2]] = parts[3]
                current = parts[2]
            continue
        m = _SAMPLE.fullmatch(line)
        assert m, "not a sample, " + where
        name, lab, value = m.group(1), m.group(2), m.group(3)
        labels = ()
        if lab:
            inner = lab[1:-1]
            pos, pairs = 0, []
            while pos < len(inner):
                lm = _LABEL.match(inner, pos)
                assert lm, "bad labels, " + where
                pairs.append((lm.group(1), lm.group(2)))
                pos = lm.end()
                if pos < len(inner):
                    assert inner[pos] == ",", "bad labels, " + where
                    pos += 1
            names = [k for k, _ in pairs]
            assert len(set(names)) == len(names), "repeated label, " + where
            labels = tuple(sorted(pairs))
        try:
            v = float(value)
        except ValueError:
            raise AssertionError("bad value, " + where)
        fam = name
        if current and types.get(current) in ("histogram", "summary"):
            for suf in ("_bucket", "_sum", "_count"):
                if name == current + suf:
                    fam = current
        assert fam == current, "sample outside its family (%r), %s" % (
            current, where)
        assert (name, labels) not in samples, "repeated series, " + where
        samples[(name, labels)] = v
    assert set(types) <= helps | set(types), "TYPE without HELP"
    # Histograms: cumulative buckets, +Inf equal to _count.
    for (name, labels), v in samples.items():
        if not name.endswith("_count") or types.get(name[:-6]) != "histogram":
            continue
        base = name[:-6]
        buckets = sorted(
            ((float(dict(lb)["le"]), val) for (nm, lb), val in samples.items()
             if nm == base + "_bucket" and
             tuple(p for p in lb if p[0] != "le") == labels),
            key=lambda b: b[0])
        assert buckets and buckets[-1][0] == float("inf"), (name, labels)
        counts = [c for _, c in buckets]
        assert counts == sorted(counts), "buckets not cumulative: %r" % buckets
        assert counts[-1] == v, "+Inf %r != _count %r" % (counts[-1], v)
        assert (base + "_sum", labels) in samples, (name, labels)
    return samples, types


def family(samples, name):
    """{labels dict as sorted tuple: value} of one sample name."""
    return {lb: v for (nm, lb), v in samples.items() if nm == name}


@test("metrics: exact counters after a known sequence; histogram count, "
      "dead letters; every line parses as Prometheus text")
def metrics():
    with Daemon(routes_conf(
            [good_handler("g"), good_handler("f", mode="fail")],
            [(["m.ok"], ["g"], None), (["m.fail"], ["f"], None)],
            extra="""
queue_size = 123;
event_types = ( { name = "m.ok"; }, { name = "m.fail"; } );
""")) as d:
        r = d.get("/metrics")
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/plain"), r.headers
        assert "version=0.0.4" in r.headers["content-type"], r.headers
        s, types = parse_prometheus(r.raw.decode("utf-8"))
        assert s[("hookd_events_accepted_total", ())] == 0
        assert s[("hookd_dead_letters", ())] == 0

        d.publish({"type": "m.ok", "id": "met-1"})
        d.publish({"type": "m.ok"})
        d.publish({"type": "m.fail"})
        r = d.post_event({"type": "m.ok", "id": "met-1"})
        assert r.status == 200 and r.body["duplicate"] is True, r
        assert_error(d.post("/v4/events", "{nope",
                            {"Content-Type": "application/json"}),
                     400, "invalid_json")
        assert_error(d.post_event({"type": "m.other"}), 422,
                     "unknown_event_type")

        def settled():
            s, _ = parse_prometheus(d.get("/metrics").raw.decode("utf-8"))
            att = family(s, "hookd_attempts_total")
            if sum(att.values()) == 3 and \
                    s.get(("hookd_dead_letters", ())) == 1 and \
                    s.get(("hookd_queue_deliveries",
                           (("state", "in_flight"),))) == 0:
                return s
            return None
        s = h.wait_for(settled, 10, "3 attempts and 1 dead letter in /metrics")
        _, types = parse_prometheus(d.get("/metrics").raw.decode("utf-8"))

        assert s[("hookd_events_accepted_total", ())] == 3
        assert s[("hookd_events_duplicate_total", ())] == 1
        assert family(s, "hookd_events_rejected_total") == {
            (("reason", "invalid_json"),): 1,
            (("reason", "unknown_event_type"),): 1}, \
            family(s, "hookd_events_rejected_total")
        assert family(s, "hookd_attempts_total") == {
            (("outcome", "ok"), ("target", "g")): 2,
            (("outcome", "fail"), ("target", "f")): 1}, \
            family(s, "hookd_attempts_total")
        assert family(s, "hookd_attempt_duration_seconds_count") == {
            (("target", "g"),): 2, (("target", "f"),): 1}
        assert family(s, "hookd_deliveries_total") == {
            (("state", "succeeded"), ("target", "g")): 2,
            (("state", "dead"), ("target", "f")): 1}, \
            family(s, "hookd_deliveries_total")
        assert s[("hookd_dead_letters", ())] == 1
        assert s[("hookd_queue_capacity", ())] == 123
        assert family(s, "hookd_queue_deliveries") == {
            (("state", "in_flight"),): 0, (("state", "ready"),): 0,
            (("state", "scheduled"),): 0}
        commits = family(s, "hookd_store_commits_total")
        assert commits[(("result", "error"),)] == 0, commits
        assert commits[(("result", "ok"),)] >= 1, commits
        batches = sum(commits.values())
        assert s[("hookd_store_commit_batch_size_count", ())] == batches
        assert s[("hookd_store_commit_seconds_count", ())] == batches
        # Every put and every attempt result went through a commit.
        assert s[("hookd_store_commit_batch_size_sum", ())] >= 4 + 3
        bi = family(s, "hookd_build_info")
        assert len(bi) == 1 and list(bi.values()) == [1], bi
        assert dict(next(iter(bi)))["version"], bi
        want = {"hookd_events_accepted_total": "counter",
                "hookd_events_duplicate_total": "counter",
                "hookd_events_rejected_total": "counter",
                "hookd_attempts_total": "counter",
                "hookd_attempt_duration_seconds": "histogram",
                "hookd_deliveries_total": "counter",
                "hookd_queue_deliveries": "gauge",
                "hookd_queue_capacity": "gauge",
                "hookd_dead_letters": "gauge",
                "hookd_store_commits_total": "counter",
                "hookd_store_commit_batch_size": "histogram",
                "hookd_store_commit_seconds": "histogram",
                "hookd_build_info": "gauge"}
        for fam, typ in want.items():
            assert types.get(fam) == typ, (fam, types.get(fam))

        # A replay and its attempt are counted too.
        did = deliveries_ok(d, state="dead")["deliveries"][0]["id"]
        assert d.post("/v4/deliveries/%s/retry" % did).status == 202
        s = h.wait_for(lambda: (lambda s: s if family(
            s, "hookd_attempts_total").get((("outcome", "fail"),
                                             ("target", "f")))
            == 2 and s.get(("hookd_dead_letters", ())) == 1 else None)(
            parse_prometheus(d.get("/metrics").raw.decode("utf-8"))[0]),
            10, "the replayed attempt in /metrics")
        assert family(s, "hookd_attempt_duration_seconds_count")[
            (("target", "f"),)] == 2
        assert family(s, "hookd_deliveries_total")[
            (("state", "dead"), ("target", "f"))] == 2
        assert s[("hookd_events_accepted_total", ())] == 3


# ---------------------------------------------------------------- disk full --

PAD = "x" * 4000


def fill_until_503(d, limit=400, seconds=30.0):
    """Publish ~4 KB events until one is refused with 503. Returns (ids
    answered 202, that 503 response). Bounded in count and time."""
    acked = []
    deadline = time.monotonic() + seconds
    for i in range(limit):
        assert time.monotonic() < deadline, "no 503 within %.0f s" % seconds
        r = d.post_event({"type": "big", "data": {"pad": PAD, "i": i}})
        if r.status == 202:
            acked.append(r.body["id"])
            continue
        return acked, r
    raise AssertionError("no 503 after %d events of 4 KB" % limit)


def check_503(r):
    assert_error(r, 503, "store_unavailable")
    ra = r.headers.get("retry-after")
    assert ra is not None and ra.isdigit() and int(ra) >= 1, r.headers


def storage_conf(rec, extra_storage):
    return routes_conf(
        [good_handler("g", record=rec)], [(["*"], ["g"], None)],
        extra="storage = { url = %s; %s };" % (
            q("sqlite:" + os.path.join(h.tmpdir(), "hookd.db")),
            extra_storage))


@test("disk full: 503 store_unavailable with Retry-After; every event "
      "answered 202 was delivered and is readable", timeout=60)
def disk_full():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(storage_conf(rec, "max_size = 200000;")) as d:
        acked, r = fill_until_503(d)
        check_503(r)
        assert len(acked) >= 5, "full after %d events" % len(acked)
        d.wait_log(msg="store", detail=lambda v: v and v.startswith(
            "cannot write; "))
        # Still full: refused again, nothing stored for it.
        r = d.post_event({"type": "big", "id": "refused-1",
                          "data": {"pad": PAD}})
        check_503(r)
        assert len(d.records(msg="rejected", reason="store cannot write")) >= 2
        h.wait_for(lambda: set(acked) <= set(record_ids(rec)), 15,
                   "every acknowledged event delivered")
        assert sorted(record_ids(rec)) == sorted(acked), "delivered twice " \
            "or something not acknowledged"
        assert "refused-1" not in record_ids(rec)
        assert_error(d.get("/v4/events/refused-1"), 404, "not_found")
        for eid in acked:
            ev = get_event(d, eid)
            assert ev["data"]["pad"] == PAD, eid
            assert len(ev["deliveries"]) == 1, ev
        assert d.get("/healthz").status == 200
        s, _ = parse_prometheus(d.get("/metrics").raw.decode("utf-8"))
        assert s[("hookd_events_accepted_total", ())] == len(acked)
        assert family(s, "hookd_events_rejected_total")[
            (("reason", "store_unavailable"),)] == 2
        assert family(s, "hookd_store_commits_total")[
            (("result", "error"),)] >= 1


@test("disk full with keep_succeeded = 0: retention frees room and "
      "publishing works again while clients keep retrying", timeout=60)
def disk_full_recovers():
    rec = os.path.join(h.tmpdir(), "rec")
    with Daemon(storage_conf(rec, "max_size = 200000; keep_succeeded = 0; "
                                  "purge_interval = 1;")) as d:
        acked, r = fill_until_503(d)
        check_503(r)
        # Clients retry (every 0.2 s, a bounded number of times) until the
        # purge made room.
        again = None
        for _ in range(75):
            r = d.post_event({"type": "big", "data": {"pad": PAD}})
            if r.status == 202:
                again = r.body["id"]
                break
            check_503(r)
            time.sleep(0.2)
        assert again, "still 503 after 15 s of retries; purges: %r" % (
            d.records(msg="purge"),)
        acked.append(again)
        d.wait_log(msg="purge")
        d.wait_log(msg="store", detail="writing again")
        for _ in range(5):
            acked.append(d.publish({"type": "big", "data": {"pad": PAD}})["id"])
        h.wait_for(lambda: set(acked) <= set(record_ids(rec)), 15,
                   "every acknowledged event delivered")
        assert len(record_ids(rec)) == len(acked), "delivered twice"


# -------------------------------------------------------------- store locked --

def accepted_again(d):
    """Publish until the store takes events again (bounded); the id."""
    return h.wait_for(
        lambda: (lambda r: r.body["id"] if r.status == 202 else None)(
            d.post_event({"type": "after"}, timeout=15)),
        10, "a publish accepted after the lock is released", interval=0.1)


@test("store locked by another process: 503 store_unavailable, then writing "
      "again after the lock is released; nothing accepted is lost",
      timeout=60)
def store_locked():
    t = h.tmpdir()
    rec = os.path.join(t, "rec")
    db = os.path.join(t, "hookd.db")
    with Daemon(routes_conf([good_handler("g", record=rec)],
                            [(["*"], ["g"], None)])) as d:
        before = [d.publish({"type": "before"})["id"] for _ in range(3)]
        h.wait_for(lambda: set(before) <= set(record_ids(rec)), 10,
                   "the first events delivered")
        wait_event(d, before[-1], all_state("succeeded"))
        locker = sqlite3.connect(db, timeout=10, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            for k in range(2):
                r = d.post_event({"type": "locked", "id": "locked-%d" % k},
                                 timeout=15)
                check_503(r)
            d.wait_log(msg="store", detail=lambda v: v and v.startswith(
                "cannot write; "))
            # Reads still work (WAL), and the refused event is not there.
            assert_error(d.get("/v4/events/locked-0"), 404, "not_found")
            assert states(get_event(d, before[0])) == ["succeeded"]
            assert d.get("/healthz").status == 200
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        again = accepted_again(d)
        d.wait_log(msg="store", detail="writing again")
        after = [again] + [d.publish({"type": "after"})["id"]
                           for _ in range(3)]
        r = d.post_event({"type": "locked", "id": "locked-0"})
        assert r.status == 202, "the refused id was stored after all: %r" % r
        acked = before + after + ["locked-0"]
        h.wait_for(lambda: set(acked) <= set(record_ids(rec)), 10,
                   "every acknowledged event delivered")
        assert sorted(record_ids(rec)) == sorted(acked), h.records(rec)
        for eid in acked:
            wait_event(d, eid, all_state("succeeded"))
        assert "locked-1" not in record_ids(rec)


@test("stopping while events wait for a locked store: hookd exits cleanly "
      "(status 0, no sanitizer report), the waiting clients are refused, "
      "nothing is half-stored", timeout=90)
def stop_while_waiting():
    t = h.tmpdir()
    rec = os.path.join(t, "rec")
    db = os.path.join(t, "hookd.db")
    d = Daemon(routes_conf([good_handler("g", record=rec)],
                           [(["*"], ["g"], None)]))
    d.start()
    locker = None
    try:
        d.publish({"type": "warm", "id": "warm"})
        locker = sqlite3.connect(db, timeout=10, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        out = []

        def late(k):
            try:
                r = d.post_event({"type": "late", "id": "late-%d" % k},
                                 timeout=30)
                out.append((k, r.status))
            except OSError:  # closed by the stopping daemon
                out.append((k, 0))
        threads = [threading.Thread(target=late, args=(k,))
                   for k in range(6)]
        for th in threads:
            th.start()
        d.wait_log(msg="store", detail=lambda v: v and v.startswith(
            "cannot write; "))
        d.send_signal(signal.SIGTERM)
        locker.execute("ROLLBACK")
        locker.close()
        locker = None
        for th in threads:
            th.join(40)
        assert d.stop(timeout=30) == 0
    finally:
        if locker:
            locker.close()
        d.stop()
    assert len(out) == 6, out
    for k, status in out:
        assert status in (0, 202, 503), out
    # After a restart: whatever was acknowledged is stored with its
    # delivery, a refused event is not, an event whose answer was lost
    # is either stored whole or not at all.
    with Daemon(routes_conf([good_handler("g", record=rec)],
                            [(["*"], ["g"], None)])) as d2:
        get_event(d2, "warm")
        for k, status in out:
            r = d2.get("/v4/events/late-%d" % k)
            if status == 202:
                assert r.status == 200, (k, r, out)
            elif status == 503:
                assert r.status == 404, (k, r, out)
            if r.status == 200:
                assert len(r.body["deliveries"]) == 1, r


# ---------------------------------------------------------------- memory --

@test("storage memory: publish, duplicate, GET, paging and replay work; "
      "no file is written")
def memory_store():
    t = h.tmpdir()
    rec = os.path.join(t, "rec")
    with Daemon(routes_conf(
            [good_handler("g", record=rec), good_handler("f", mode="fail")],
            [(["ok.*"], ["g"], None), (["bad.*"], ["f"], None)],
            extra='storage = { url = "memory:"; };')) as d:
        assert d.wait_log(msg="started")[0]["storage"] == "memory:"
        r = d.post_event({"type": "ok.1", "id": "mem-1", "data": {"a": 1}})
        assert r.status == 202, r
        r = d.post_event({"type": "ok.1", "id": "mem-1"})
        assert r.status == 200 and r.body == {"id": "mem-1",
                                              "duplicate": True}, r
        ev = wait_event(d, "mem-1", all_state("succeeded"))
        assert ev["data"] == {"a": 1} and ev["deliveries"][0]["target"] == "g"
        assert [a["outcome"] for a in ev["deliveries"][0]["attempts"]] == ["ok"]
        ids = ["mem-1"] + [d.publish({"type": "ok.n"})["id"] for _ in range(4)]
        wait_count(d, "succeeded", 5, target="g")
        p1 = deliveries_ok(d, target="g", limit=3)
        p2 = deliveries_ok(d, target="g", limit=3, cursor=p1["nextCursor"])
        assert [x["eventId"] for x in p1["deliveries"] + p2["deliveries"]] == \
            ids[::-1] and p2["nextCursor"] is None, (p1, p2)

        bad = d.publish({"type": "bad.1"})["id"]
        x = wait_event(d, bad, all_state("dead"))["deliveries"][0]
        r = d.post("/v4/deliveries/%s/retry" % x["id"])
        assert r.status == 202, r
        wait_event(d, bad, lambda e: e["deliveries"][0]["attemptCount"] == 2
                   and e["deliveries"][0]["state"] == "dead")
        r = d.post("/v4/deliveries/retry", {"target": "f"})
        assert r.status == 202 and r.body == {"retried": 1, "remaining": 0}, r
        wait_event(d, bad, lambda e: e["deliveries"][0]["attemptCount"] == 3
                   and e["deliveries"][0]["state"] == "dead")
        assert_error(d.get("/v4/events/nothing"), 404, "not_found")
        assert sorted(record_ids(rec)) == sorted(ids)
    assert not any(n.startswith("hookd.db") for n in os.listdir(t)), \
        os.listdir(t)
    stopped = d.records(msg="stopped")
    assert stopped and "memory store" in stopped[-1]["detail"], stopped


if __name__ == "__main__":
    h.main()
