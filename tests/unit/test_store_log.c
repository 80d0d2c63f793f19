/*
 * Unit tests for the store's log (core/store.h), through its public
 * interface only: what the API reads and changes there (replay of dead
 * deliveries, one or in bulk; the delivery log's pages and filters, the
 * dead count and its gauge, the audit trail), retention and max_size.
 * Every case of the "store" TCase runs once per backend
 * (store_fixture.h); the "shared" TCase holds the PostgreSQL cases with
 * two stores (two nodes) on one database.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log_json.h"
#include "store.h"
#include "store_fixture.h"

/* ---- replay ----------------------------------------------------------- */

static void never_called(void *arg, struct hkd_stored_delivery *d)
{
	char id[48];

	(void)arg;
	snprintf(id, sizeof(id), "%s", d->id);
	hkd_stored_delivery_release(d);
	ck_abort_msg("visit called for %s", id);
}

START_TEST(test_replay)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct visits v;
	struct hkd_stored_delivery *d;
	int state = -1, rc;
	int64_t before, after;
	json_t *ev;

	memset(&v, 0, sizeof(v));
	put_ok(st, "rpl-1", "order.created", 3);
	record(st, "rpl-1-d0", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       hkd_now_ms() + 1000, "HTTP 500");
	record(st, "rpl-1-d0", 2, HOOKD_RETRY, HKD_STATE_RETRYING,
	       hkd_now_ms() + 5000, "HTTP 500");
	record(st, "rpl-1-d0", 3, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 500");
	record(st, "rpl-1-d1", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       hkd_now_ms() + 60000, "HTTP 503");
	record(st, "rpl-1-d2", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "HTTP 200");
	wait_state(st, "rpl-1", "rpl-1-d0", "dead", 3);
	wait_state(st, "rpl-1", "rpl-1-d1", "retrying", 1);
	wait_state(st, "rpl-1", "rpl-1-d2", "succeeded", 1);
	ck_assert_int_eq(hkd_store_dead_count(st), 1);

	before = hkd_now_ms();
	rc = hkd_store_replay(st, "rpl-1-d0", collect, &v, &state);
	after = hkd_now_ms();
	ck_assert_int_eq(rc, HKD_STORE_OK);
	ck_assert_uint_eq(v.calls, 1);
	d = &v.d[0];
	ck_assert_str_eq(d->id, "rpl-1-d0");
	ck_assert_str_eq(d->target, "alpha");
	ck_assert_uint_eq(d->attempts, 3);
	ck_assert_uint_eq(d->base, 3);
	ck_assert_int_ge(d->next_at_ms, before);
	ck_assert_int_le(d->next_at_ms, after);
	assert_stored(d, "rpl-1", "order.created");
	visits_release(&v);

	ev = event_json(st, "rpl-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(str_of(delivery_in(ev, "rpl-1-d0"), "state"),
	                 "pending");
	/* The attempt log is kept. */
	ck_assert_uint_eq(json_array_size(json_object_get(
	                      delivery_in(ev, "rpl-1-d0"), "attempts")),
	                  3);
	json_decref(ev);
	ck_assert_int_eq(hkd_store_dead_count(st), 0);

	/* Not dead: refused, with the state it is in. */
	state = -1;
	rc = hkd_store_replay(st, "rpl-1-d0", never_called, NULL, &state);
	ck_assert_int_eq(rc, HKD_STORE_CONFLICT);
	ck_assert_int_eq(state, HKD_STATE_PENDING);
	state = -1;
	rc = hkd_store_replay(st, "rpl-1-d1", never_called, NULL, &state);
	ck_assert_int_eq(rc, HKD_STORE_CONFLICT);
	ck_assert_int_eq(state, HKD_STATE_RETRYING);
	state = -1;
	rc = hkd_store_replay(st, "rpl-1-d2", never_called, NULL, &state);
	ck_assert_int_eq(rc, HKD_STORE_CONFLICT);
	ck_assert_int_eq(state, HKD_STATE_SUCCEEDED);
	rc = hkd_store_replay(st, "rpl-1-d2", never_called, NULL, NULL);
	ck_assert_int_eq(rc, HKD_STORE_CONFLICT);

	state = -1;
	rc = hkd_store_replay(st, "no-such-delivery", never_called, NULL,
	                      &state);
	ck_assert_int_eq(rc, HKD_STORE_NOT_FOUND);

	/* What recovery sees after a replay (file: after a restart). */
	if (is_durable(url))
		st = reopen(st, url);
	ck_assert_int_eq(hkd_store_recover(st, collect, &v), 0);
	ck_assert_uint_eq(v.calls, 2); /* d0 pending again, d1 retrying */
	d = visited(&v, "rpl-1-d0");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->attempts, 3);
	ck_assert_uint_eq(d->base, 3);
	assert_stored(d, "rpl-1", "order.created");
	visits_release(&v);

	/* The replayed delivery dies again: replayable again. */
	record(st, "rpl-1-d0", 4, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 500");
	wait_state(st, "rpl-1", "rpl-1-d0", "dead", 4);
	rc = hkd_store_replay(st, "rpl-1-d0", collect, &v, &state);
	ck_assert_int_eq(rc, HKD_STORE_OK);
	ck_assert_uint_eq(v.calls, 1);
	ck_assert_uint_eq(v.d[0].attempts, 4);
	ck_assert_uint_eq(v.d[0].base, 4);
	visits_release(&v);
	hkd_store_close(st);
}
END_TEST

/* Every visited delivery: of target (NULL: any), of a type starting with
 * prefix (NULL: any), and pending now with base == attempts. */
static void assert_replayed(struct hkd_store *st, struct visits *v,
                            const char *target, const char *type_prefix)
{
	for (size_t i = 0; i < v->n; i++) {
		struct hkd_stored_delivery *d = &v->d[i];
		json_t *ev;

		if (target)
			ck_assert_str_eq(d->target, target);
		if (type_prefix)
			ck_assert_msg(strncmp(d->event->type, type_prefix,
			                      strlen(type_prefix)) == 0,
			              "%s has type %s", d->id, d->event->type);
		ck_assert_uint_eq(d->attempts, 1);
		ck_assert_uint_eq(d->base, 1);
		ck_assert_uint_eq(d->n_retry, LEN(sched3));
		ev = event_json(st, d->event->id);
		ck_assert_ptr_nonnull(ev);
		ck_assert_str_eq(str_of(delivery_in(ev, d->id), "state"),
		                 "pending");
		json_decref(ev);
	}
}

static void replay_dead(struct hkd_store *st, const char *target,
                        const char *glob, size_t max, struct visits *v,
                        size_t want_done, size_t want_left)
{
	size_t done = 99, left = 99;
	int rc = hkd_store_replay_dead(st, target, glob, max, collect, v, &done,
	                               &left);

	ck_assert_int_eq(rc, HKD_STORE_OK);
	ck_assert_msg(
	    done == want_done && left == want_left,
	    "replay_dead(%s, %s, %zu): done %zu left %zu, want %zu %zu",
	    target ? target : "*", glob ? glob : "*", max, done, left,
	    want_done, want_left);
	ck_assert_uint_eq(v->calls, done);
}

START_TEST(test_replay_dead)
{
	static const char *const targets[] = {"a", "b"};
	static const char *const types[] = {"order.created", "order.paid",
	                                    "user.created"};
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct visits v;
	char err[256], eid[32], did[48];

	memset(&v, 0, sizeof(v));
	/* Three events, each with one delivery to a and one to b; all dead. */
	for (size_t e = 0; e < LEN(types); e++) {
		snprintf(eid, sizeof(eid), "rd-%zu", e);
		ck_assert_int_eq(put_targets(st, eid, types[e], 2, targets, 2,
		                             0, err, sizeof(err)),
		                 HKD_STORE_OK);
		for (int i = 0; i < 2; i++) {
			snprintf(did, sizeof(did), "%s-d%d", eid, i);
			record(st, did, 1, HOOKD_FAIL, HKD_STATE_DEAD, 0,
			       "gone");
		}
	}
	/* And one that is not dead: never replayed. */
	put_ok(st, "rd-live", "order.created", 1);
	for (size_t e = 0; e < LEN(types); e++)
		for (int i = 0; i < 2; i++) {
			snprintf(eid, sizeof(eid), "rd-%zu", e);
			snprintf(did, sizeof(did), "%s-d%d", eid, i);
			wait_state(st, eid, did, "dead", 1);
		}
	ck_assert_int_eq(hkd_store_dead_count(st), 6);

	replay_dead(st, "a", NULL, 100, &v, 3, 0);
	assert_replayed(st, &v, "a", NULL);
	visits_release(&v);
	ck_assert_int_eq(hkd_store_dead_count(st), 3);

	/* b: order.created and order.paid match; one of them, one left. */
	replay_dead(st, NULL, "order.*", 1, &v, 1, 1);
	assert_replayed(st, &v, "b", "order.");
	visits_release(&v);
	ck_assert_int_eq(hkd_store_dead_count(st), 2);

	replay_dead(st, "b", "user.*", 10, &v, 1, 0);
	assert_replayed(st, &v, "b", "user.");
	ck_assert_str_eq(v.d[0].id, "rd-2-d1");
	visits_release(&v);
	ck_assert_int_eq(hkd_store_dead_count(st), 1);

	replay_dead(st, "nobody", NULL, 10, &v, 0, 0);
	replay_dead(st, NULL, "invoice.*", 10, &v, 0, 0);
	replay_dead(st, NULL, NULL, 0, &v, 0, 1);
	ck_assert_int_eq(hkd_store_dead_count(st), 1);

	replay_dead(st, NULL, NULL, 10, &v, 1, 0);
	assert_replayed(st, &v, "b", "order.");
	visits_release(&v);
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	replay_dead(st, NULL, NULL, 10, &v, 0, 0);

	/* Everything is pending: recovery hands out all seven. */
	if (is_durable(url))
		st = reopen(st, url);
	ck_assert_int_eq(hkd_store_recover(st, collect, &v), 0);
	ck_assert_uint_eq(v.calls, 7);
	visits_release(&v);
	hkd_store_close(st);
}
END_TEST

/* ---- the log API ------------------------------------------------------ */

/* Delivery k of the paging case: event "pg-<k/5>", "pg-<k/5>-d<k%5>". */
static void page_id(size_t k, char *buf, size_t len)
{
	snprintf(buf, len, "pg-%zu-d%zu", k / 5, k % 5);
}

/*
 * Read every page of f (limit as set) and check the ids are exactly
 * want[0..n) in that order and the pages have the expected sizes.
 */
static void assert_pages(struct hkd_store *st, struct hkd_delivery_filter f,
                         const size_t *want, size_t n)
{
	size_t seen = 0, pages = 0;
	char id[48], eid[32];

	f.before_seq = 0;
	for (;;) {
		json_t *j = hkd_deliveries_json(st, &f);
		json_t *arr = json_object_get(j, "deliveries");
		json_t *cur = json_object_get(j, "nextCursor");
		size_t i, expect = n - seen < f.limit ? n - seen : f.limit;
		json_t *d;

		ck_assert_ptr_nonnull(j);
		ck_assert_msg(json_array_size(arr) == expect,
		              "page %zu has %zu deliveries, want %zu", pages,
		              json_array_size(arr), expect);
		json_array_foreach(arr, i, d)
		{
			page_id(want[seen], id, sizeof(id));
			ck_assert_str_eq(str_of(d, "id"), id);
			snprintf(eid, sizeof(eid), "pg-%zu", want[seen] / 5);
			ck_assert_str_eq(str_of(d, "eventId"), eid);
			seen++;
		}
		pages++;
		if (seen == n) {
			ck_assert_msg(json_is_null(cur),
			              "a cursor after the last page");
			json_decref(j);
			break;
		}
		ck_assert_msg(json_is_string(cur), "no cursor after page %zu",
		              pages);
		{
			char *end;
			long long c = strtoll(json_string_value(cur), &end, 10);

			ck_assert_msg(*end == '\0' && c > 0,
			              "bad cursor \"%s\"",
			              json_string_value(cur));
			f.before_seq = c;
		}
		json_decref(j);
		ck_assert_uint_le(pages, n + 1);
	}
}

START_TEST(test_deliveries_paging)
{
	static const char *const xy[] = {"x", "y"};
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct hkd_delivery_filter f = {-1, NULL, NULL, 10, 0};
	size_t want[25], n;
	char err[256], eid[48], did[48];
	json_t *j, *d;

	/* 5 events × 5 deliveries (k = 5 * event + i); d0, d2, d4 go to x. */
	for (size_t e = 0; e < 5; e++) {
		snprintf(eid, sizeof(eid), "pg-%zu", e);
		ck_assert_int_eq(put_targets(st, eid, "page.test", 5, xy, 2, 0,
		                             err, sizeof(err)),
		                 HKD_STORE_OK);
	}
	/* All 25, newest first: 10, 10, 5. */
	for (size_t i = 0; i < 25; i++)
		want[i] = 24 - i;
	assert_pages(st, f, want, 25);

	/* One page exactly as large as the rest: no cursor. */
	f.limit = 25;
	assert_pages(st, f, want, 25);
	f.limit = 100;
	assert_pages(st, f, want, 25);

	/* By target: x got d0, d2, d4 of each event. */
	n = 0;
	for (size_t i = 0; i < 25; i++)
		if ((24 - i) % 5 % 2 == 0)
			want[n++] = 24 - i;
	f.limit = 4;
	f.target = "x";
	assert_pages(st, f, want, n);
	j = hkd_deliveries_json(st, &f);
	d = json_array_get(json_object_get(j, "deliveries"), 0);
	ck_assert_str_eq(str_of(d, "target"), "x");
	ck_assert_str_eq(str_of(d, "eventType"), "page.test");
	json_decref(j);
	f.target = "nobody";
	assert_pages(st, f, want, 0);
	f.target = NULL;

	/* By event. */
	n = 0;
	for (size_t k = 14; k >= 10; k--)
		want[n++] = k;
	f.limit = 10;
	f.event_id = "pg-2";
	assert_pages(st, f, want, n);
	f.event_id = "pg-9";
	assert_pages(st, f, want, 0);
	f.event_id = NULL;

	/* By state: three die. */
	for (size_t k = 3; k < 25; k += 8) { /* 3, 11, 19 */
		page_id(k, did, sizeof(did));
		record(st, did, 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "no");
	}
	for (size_t k = 3; k < 25; k += 8) {
		snprintf(eid, sizeof(eid), "pg-%zu", k / 5);
		page_id(k, did, sizeof(did));
		wait_state(st, eid, did, "dead", 1);
	}
	want[0] = 19;
	want[1] = 11;
	want[2] = 3;
	f.state = HKD_STATE_DEAD;
	f.limit = 2;
	assert_pages(st, f, want, 3);
	f.limit = 10;
	f.target = "y"; /* 3 = pg-0-d3 and 11 = pg-2-d1: y; 19 = pg-3-d4: x */
	want[0] = 11;
	want[1] = 3;
	assert_pages(st, f, want, 2);
	f.target = NULL;
	f.state = HKD_STATE_PENDING;
	n = 0;
	for (size_t i = 0; i < 25; i++)
		if (24 - i != 19 && 24 - i != 11 && 24 - i != 3)
			want[n++] = 24 - i;
	assert_pages(st, f, want, n);
	f.state = HKD_STATE_SUCCEEDED;
	assert_pages(st, f, want, 0);
	hkd_store_close(st);
}
END_TEST

START_TEST(test_dead_count)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct visits v;
	int state;

	memset(&v, 0, sizeof(v));
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	put_ok(st, "dc-1", "order.created", 5);
	put_ok(st, "dc-2", "order.created", 2);
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	record(st, "dc-1-d0", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "x");
	record(st, "dc-1-d1", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       hkd_now_ms() + 1000, "x");
	record(st, "dc-1-d2", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "x");
	record(st, "dc-1-d3", 1, HOOKD_RETRY, HKD_STATE_RETRYING, hkd_now_ms(),
	       "x");
	record(st, "dc-1-d3", 2, HOOKD_RETRY, HKD_STATE_DEAD, 0,
	       "out of retries");
	record(st, "dc-2-d1", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "x");
	wait_state(st, "dc-1", "dc-1-d0", "dead", 1);
	wait_state(st, "dc-1", "dc-1-d1", "retrying", 1);
	wait_state(st, "dc-1", "dc-1-d2", "succeeded", 1);
	wait_state(st, "dc-1", "dc-1-d3", "dead", 2);
	wait_state(st, "dc-2", "dc-2-d1", "dead", 1);
	ck_assert_int_eq(hkd_store_dead_count(st), 3);
	if (is_durable(url)) {
		st = reopen(st, url);
		ck_assert_int_eq(hkd_store_dead_count(st), 3);
	}
	ck_assert_int_eq(hkd_store_replay(st, "dc-1-d3", collect, &v, &state),
	                 HKD_STORE_OK);
	visits_release(&v);
	ck_assert_int_eq(hkd_store_dead_count(st), 2);
	hkd_store_close(st);
}
END_TEST

/*
 * The gauge of /metrics: the first call counts (on the writer); later calls
 * return the cached count, however the store changed, until it is
 * HKD_DEAD_GAUGE_TTL_MS old; then one call queues a count on the writer and
 * the calls after it see the new figure.
 */
START_TEST(test_dead_gauge)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	int64_t deadline;
	long long g;

	put_ok(st, "dg-1", "order.created", 3);
	record(st, "dg-1-d0", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "x");
	wait_state(st, "dg-1", "dg-1-d0", "dead", 1);
	ck_assert_int_eq(hkd_store_dead_gauge(st), 1);
	record(st, "dg-1-d1", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "x");
	record(st, "dg-1-d2", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "x");
	wait_state(st, "dg-1", "dg-1-d2", "dead", 1);
	ck_assert_int_eq(hkd_store_dead_count(st), 3);
	/* Cached: a burst of calls does not count again. */
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(hkd_store_dead_gauge(st), 1);
	usleep((HKD_DEAD_GAUGE_TTL_MS + 100) * 1000);
	deadline = hkd_mono_ms() + 5000;
	while ((g = hkd_store_dead_gauge(st)) != 3 && hkd_mono_ms() < deadline)
		usleep(10 * 1000);
	ck_assert_int_eq(g, 3);
	hkd_store_close(st);
}
END_TEST

/*
 * The audit trail: records come back newest first with every field, paged
 * by nextCursor; a record without detail has none.
 */
START_TEST(test_audit)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct hkd_audit_rec r1 = {"key:0123456789ab", "subscription.create",
	                           "sub_1", "webhookUrl,events"};
	struct hkd_audit_rec r2 = {"open", "delivery.replay", "dlv_2", NULL};
	struct hkd_audit_rec r3 = {"key:0123456789ab", "subscription.delete",
	                           "sub_1", NULL};
	json_t *page, *a, *next;
	const char *cursor;

	page = hkd_audit_json(st, 10, 0);
	ck_assert_ptr_nonnull(page);
	ck_assert_uint_eq(json_array_size(json_object_get(page, "audit")), 0);
	json_decref(page);
	ck_assert_int_eq(hkd_store_audit_add(st, &r1), HKD_STORE_OK);
	ck_assert_int_eq(hkd_store_audit_add(st, &r2), HKD_STORE_OK);
	ck_assert_int_eq(hkd_store_audit_add(st, &r3), HKD_STORE_OK);
	page = hkd_audit_json(st, 2, 0);
	ck_assert_ptr_nonnull(page);
	a = json_object_get(page, "audit");
	ck_assert_uint_eq(json_array_size(a), 2);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 0), "action")),
	    "subscription.delete");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 1), "target")),
	    "dlv_2");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 1), "keyId")),
	    "open");
	ck_assert_ptr_null(json_object_get(json_array_get(a, 1), "detail"));
	ck_assert(json_is_string(json_object_get(json_array_get(a, 0), "at")));
	cursor = json_string_value(json_object_get(page, "nextCursor"));
	ck_assert_ptr_nonnull(cursor);
	next = hkd_audit_json(st, 2, strtoll(cursor, NULL, 10));
	ck_assert_ptr_nonnull(next);
	a = json_object_get(next, "audit");
	ck_assert_uint_eq(json_array_size(a), 1);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(a, 0), "detail")),
	    "webhookUrl,events");
	ck_assert(json_is_null(json_object_get(next, "nextCursor")));
	json_decref(next);
	json_decref(page);
	if (is_durable(url)) {
		st = reopen(st, url);
		page = hkd_audit_json(st, 10, 0);
		ck_assert_uint_eq(
		    json_array_size(json_object_get(page, "audit")), 3);
		json_decref(page);
	}
	hkd_store_close(st);
}
END_TEST

/* ---- retention -------------------------------------------------------- */

/* A store of url that purges every 100 ms with these retentions. */
static struct hkd_store *
open_purging(const char *url, int64_t keep_succeeded_ms, int64_t keep_dead_ms)
{
	struct hkd_store_options o = options(url);

	o.keep_succeeded_ms = keep_succeeded_ms;
	o.keep_dead_ms = keep_dead_ms;
	o.purge_interval_ms = 100;
	return open_with(&o);
}

/* Poll until event id is purged; fail the case after WAIT_MS. */
static void wait_purged(struct hkd_store *st, const char *id)
{
	int64_t deadline = hkd_mono_ms() + WAIT_MS;
	json_t *ev;

	while ((ev = event_json(st, id)) != NULL) {
		json_decref(ev);
		ck_assert_msg(hkd_mono_ms() < deadline,
		              "%s was not purged in %d ms", id, WAIT_MS);
		sleep_ms(20);
	}
}

START_TEST(test_retention)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_purging(url, 0, 3600 * 1000);
	json_t *ev;

	put_ok(st, "ret-ok", "order.created", 2);   /* both succeed */
	put_ok(st, "ret-dead", "order.created", 2); /* one succeeds, one dies */
	put_ok(st, "ret-pend", "order.created", 1); /* never tried */
	put_ok(st, "ret-retry", "order.created",
	       2); /* one succeeds, one retries */
	record(st, "ret-ok-d0", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	record(st, "ret-ok-d1", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	record(st, "ret-dead-d0", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	record(st, "ret-dead-d1", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "");
	record(st, "ret-retry-d0", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	record(st, "ret-retry-d1", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       hkd_now_ms() + 60000, "");

	wait_purged(st, "ret-ok");
	/* A few more purge rounds: the others stay. */
	sleep_ms(500);
	ev = wait_delivery(st, "ret-dead", "ret-dead-d1", "dead", 1);
	ck_assert_uint_eq(n_deliveries(ev), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(
	                      delivery_in(ev, "ret-dead-d1"), "attempts")),
	                  1);
	json_decref(ev);
	ev = wait_delivery(st, "ret-retry", "ret-retry-d1", "retrying", 1);
	ck_assert_uint_eq(n_deliveries(ev), 2);
	json_decref(ev);
	ev = event_json(st, "ret-pend");
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(n_deliveries(ev), 1);
	json_decref(ev);
	ck_assert_int_eq(hkd_store_dead_count(st), 1);
	{
		struct hkd_delivery_filter f = {-1, NULL, "ret-ok", 10, 0};
		json_t *j = hkd_deliveries_json(st, &f);

		ck_assert_uint_eq(
		    json_array_size(json_object_get(j, "deliveries")), 0);
		json_decref(j);
	}
	/* The purged id can be used again. */
	put_ok(st, "ret-ok", "order.created", 1);
	hkd_store_close(st);
}
END_TEST

/* keep_dead short, keep_succeeded long: the dead event goes, the others
 * stay. */
START_TEST(test_retention_dead)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_purging(url, DAY_MS, 0);
	json_t *ev;

	put_ok(st, "rd-dead", "order.created", 2); /* one succeeds, one dies */
	put_ok(st, "rd-ok", "order.created", 1);   /* succeeds */
	record(st, "rd-ok-d0", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	record(st, "rd-dead-d0", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	record(st, "rd-dead-d1", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "");
	wait_state(st, "rd-ok", "rd-ok-d0", "succeeded", 1);

	wait_purged(st, "rd-dead");
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	/* A few more purge rounds: the succeeded one stays. */
	sleep_ms(500);
	ev = wait_delivery(st, "rd-ok", "rd-ok-d0", "succeeded", 1);
	ck_assert_uint_eq(n_deliveries(ev), 1);
	json_decref(ev);
	hkd_store_close(st);
}
END_TEST

/* ---- max_size --------------------------------------------------------- */

START_TEST(test_max_size)
{
	const char *url = backend(_i);
	struct hkd_store_options o = options(url);
	struct hkd_delivery_filter f = {-1, NULL, NULL, 100, 0};
	struct hkd_store *st;
	char err[256], id[48];
	int rc;
	json_t *ev, *j;

	o.max_size = 65536;
	st = open_with(&o);
	put_ok(st, "small-1", "order.created", 1);
	put_ok(st, "small-2", "order.created", 1);

	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "large-%d", i);
		rc = put_targets(st, id, "order.created", 2, NULL, 0,
		                 256 * 1024, err, sizeof(err));
		ck_assert_msg(rc == HKD_STORE_FAILED,
		              "a 256 KiB event in a 64 KiB store: rc %d", rc);
		ck_assert_msg(err[0] != '\0', "no reason for the failed put");
		ev = event_json(st, id);
		ck_assert_ptr_null(ev);
	}

	/* Earlier events are intact. */
	ev = event_json(st, "small-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(n_deliveries(ev), 1);
	json_decref(ev);
	ev = event_json(st, "small-2");
	ck_assert_ptr_nonnull(ev);
	json_decref(ev);

	/* A small put may or may not fit; either way the store still works. */
	rc = put_targets(st, "small-3", "order.created", 1, NULL, 0, 0, err,
	                 sizeof(err));
	ck_assert_msg(rc == HKD_STORE_OK || rc == HKD_STORE_FAILED, "rc %d",
	              rc);
	if (rc == HKD_STORE_FAILED)
		ck_assert_msg(err[0] != '\0', "no reason for the failed put");
	ev = event_json(st, "small-3");
	ck_assert_msg((ev != NULL) == (rc == HKD_STORE_OK),
	              "put said %d but the event is %s", rc,
	              ev ? "there" : "missing");
	json_decref(ev);
	rc = put_targets(st, "small-1", "order.created", 1, NULL, 0, 0, err,
	                 sizeof(err));
	ck_assert_int_eq(rc, HKD_STORE_DUPLICATE);
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	j = hkd_deliveries_json(st, &f);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_ge(json_array_size(json_object_get(j, "deliveries")), 2);
	json_decref(j);
	hkd_store_close(st);

	if (is_durable(url)) {
		st = open_with(&o);
		ev = event_json(st, "small-2");
		ck_assert_ptr_nonnull(ev);
		json_decref(ev);
		ev = event_json(st, "large-0");
		ck_assert_ptr_null(ev);
		hkd_store_close(st);
	}
}
END_TEST

/* ---- shared (PostgreSQL): two stores, two nodes ----------------------- */

/* Claim up to max into v (released first); returns how many came. */
static size_t claim_into(struct hkd_store *st, size_t max, struct visits *v)
{
	size_t claimed = 0;
	int64_t next_at = 0;

	visits_release(v);
	ck_assert_int_eq(
	    hkd_store_claim(st, max, collect, v, &claimed, &next_at),
	    HKD_STORE_OK);
	ck_assert_uint_eq(claimed, v->n);
	return claimed;
}

/* A visitor of hkd_store_sub_load: counts into *(size_t *)arg. */
static void count_docs(void *arg, const json_t *doc)
{
	(void)doc;
	(*(size_t *)arg)++;
}

START_TEST(test_shared_claims)
{
	const char *url = pg_case_url();
	struct hkd_store_options o = options(url);
	struct hkd_store *a, *b;
	struct visits va, vb;
	char id[32];

	memset(&va, 0, sizeof(va));
	memset(&vb, 0, sizeof(vb));
	a = open_with(&o);
	b = open_with(&o);
	ck_assert(hkd_store_is_shared(a));
	parked_puts = 1;
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "sh-%d", i);
		put_ok(a, id, "order.created", 1);
	}
	parked_puts = 0;
	/* Each parked delivery goes to one node only. */
	ck_assert_uint_eq(claim_into(a, 4, &va), 4);
	ck_assert_uint_eq(claim_into(b, 64, &vb), 6);
	for (size_t i = 0; i < va.n; i++)
		ck_assert_ptr_null(visited(&vb, va.d[i].id));
	ck_assert_uint_eq(claim_into(a, 64, &va), 0);
	/* A node that starts again gives up its own leases, not others'. */
	ck_assert_int_eq(hkd_store_release_all(a), 10);
	ck_assert_uint_eq(claim_into(b, 64, &vb), 4);
	ck_assert_uint_eq(claim_into(a, 64, &va), 0);
	/* A result that releases a delivery parks it for anyone. */
	record(b, vb.d[0].id, 1, HOOKD_RETRY, HKD_STATE_RETRYING, hkd_now_ms(),
	       "x");
	{
		struct hkd_attempt_rec r;
		memset(&r, 0, sizeof(r));
		snprintf(r.delivery_id, sizeof(r.delivery_id), "%s",
		         vb.d[1].id);
		r.attempt = 1;
		r.outcome = HOOKD_RETRY;
		r.state = HKD_STATE_RETRYING;
		r.next_at_ms = hkd_now_ms();
		r.release = 1;
		hkd_store_record(b, &r);
	}
	ck_assert_int_eq(hkd_store_unfinished(b), 10); /* the results are in */
	ck_assert_uint_eq(claim_into(a, 64, &va), 1);
	ck_assert_str_eq(va.d[0].id, vb.d[1].id);
	visits_release(&va);
	visits_release(&vb);
	hkd_store_close(a);
	hkd_store_close(b);
}
END_TEST

START_TEST(test_shared_lease_expiry)
{
	const char *url = pg_case_url();
	struct hkd_store_options o = options(url);
	struct hkd_store *a, *b;
	struct visits vb;
	int64_t t0;
	size_t got = 0;
	json_t *ev;

	memset(&vb, 0, sizeof(vb));
	o.lease_ms = 1500;
	a = open_with(&o);
	b = open_with(&o);
	/* Taken into a's memory at ingest: leased to a, renewed while a runs.
	 */
	put_ok(a, "held-1", "order.created", 3);
	sleep_ms(2500);
	ck_assert_uint_eq(claim_into(b, 64, &vb), 0);
	/* a dies (no renewal, nothing released): b takes over once the
	 * lease ran out. */
	hkd_store_close(a);
	t0 = hkd_mono_ms();
	while (got < 3 && hkd_mono_ms() - t0 < WAIT_MS) {
		got += claim_into(b, 64, &vb);
		sleep_ms(100);
	}
	ck_assert_uint_eq(got, 3);
	/* The log is shared: b sees a's event. */
	ev = event_json(b, "held-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(n_deliveries(ev), 3);
	json_decref(ev);
	visits_release(&vb);
	hkd_store_close(b);
}
END_TEST

START_TEST(test_shared_subscriptions)
{
	const char *url = pg_case_url();
	struct hkd_store *a = open_url(url), *b = open_url(url);
	json_t *doc = json_pack("{s:s, s:s}", "id", "sub_1", "url",
	                        "http://127.0.0.1:9/x");
	size_t n = 0;

	ck_assert_int_eq(hkd_store_sub_save(a, "sub_1", doc), HKD_STORE_OK);
	ck_assert_int_eq(hkd_store_sub_load(b, count_docs, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(hkd_store_sub_delete(b, "sub_1"), HKD_STORE_OK);
	ck_assert_int_eq(hkd_store_sub_delete(a, "sub_1"), HKD_STORE_NOT_FOUND);
	json_decref(doc);
	hkd_store_close(a);
	hkd_store_close(b);
}
END_TEST

/* A reader that holds one of the pool's connections: hkd_store_sub_load
 * calls its visitor with the connection lent, and the visitor waits. */
struct holder {
	struct hkd_store *st;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int holding, release, left; /* left: the visitor returned */
	pthread_t thread;
};

/* hkd_store_sub_load's visitor: say it holds, wait (bounded) to let go. */
static void hold_visit(void *arg, const json_t *doc)
{
	struct holder *h = arg;
	struct timespec ts;
	(void)doc;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&h->lock);
	h->holding = 1;
	pthread_cond_broadcast(&h->cond);
	while (!h->release)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &ts) != 0)
			break;
	h->left = 1;
	pthread_mutex_unlock(&h->lock);
}

static void *hold_main(void *arg)
{
	struct holder *h = arg;
	hkd_store_sub_load(h->st, hold_visit, h);
	return NULL;
}

/* Start a holder on st (which has a subscription stored) and wait until
 * it holds its connection. */
static void hold_start(struct holder *h, struct hkd_store *st)
{
	int64_t t0 = hkd_mono_ms();
	memset(h, 0, sizeof(*h));
	h->st = st;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	ck_assert_int_eq(pthread_create(&h->thread, NULL, hold_main, h), 0);
	pthread_mutex_lock(&h->lock);
	while (!h->holding && hkd_mono_ms() - t0 < WAIT_MS) {
		pthread_mutex_unlock(&h->lock);
		sleep_ms(10);
		pthread_mutex_lock(&h->lock);
	}
	ck_assert_msg(h->holding, "the holder never got a connection");
	pthread_mutex_unlock(&h->lock);
}

static void hold_stop(struct holder *h)
{
	pthread_mutex_lock(&h->lock);
	h->release = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
}

START_TEST(test_shared_pool)
{
	const char *url = pg_case_url();
	struct hkd_store_options o = options(url);
	struct hkd_delivery_filter f = {.state = -1, .limit = 10};
	json_t *doc = json_pack("{s:s}", "id", "sub_p");
	struct hkd_store *st;
	struct holder h;
	json_t *page;
	int64_t t0;
	int failed;

	/* Two connections: a read runs while another holds one. */
	o.pool_size = 2;
	o.pool_wait_ms = 300;
	st = open_with(&o);
	ck_assert_int_eq(hkd_store_sub_save(st, "sub_p", doc), HKD_STORE_OK);
	hold_start(&h, st);
	page = hkd_deliveries_json(st, &f);
	ck_assert_ptr_nonnull(page);
	json_decref(page);
	pthread_mutex_lock(&h.lock);
	ck_assert_msg(!h.left, "the read waited for the other one to end");
	pthread_mutex_unlock(&h.lock);
	hold_stop(&h);
	hkd_store_close(st);

	/* One connection, held: a read gives up after pool_wait_ms, as
	 * when the database is unreachable, and reads again once it is back. */
	o.pool_size = 1;
	st = open_with(&o);
	hold_start(&h, st);
	t0 = hkd_mono_ms();
	ck_assert_ptr_null(hkd_event_json(st, "evt_none", &failed));
	ck_assert_int_eq(failed, 1);
	ck_assert_ptr_null(hkd_deliveries_json(st, &f));
	ck_assert_int_lt(hkd_mono_ms() - t0, WAIT_MS);
	hold_stop(&h);
	page = hkd_deliveries_json(st, &f);
	ck_assert_ptr_nonnull(page);
	json_decref(page);

	/* Connections the server closed are opened again on their next use. */
#ifdef HKD_HAVE_PQ
	pg_case_disconnect();
	ck_assert_ptr_null(hkd_event_json(st, "evt_none", &failed));
	ck_assert_int_eq(failed, 0);
#endif
	json_decref(doc);
	hkd_store_close(st);
}
END_TEST

/* ---- runner ----------------------------------------------------------- */

static Suite *store_log_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	/* Every case starts from no database file. */
	tcase_add_checked_fixture(tc, remove_db, remove_db);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_replay, 0, n_backends());
	tcase_add_loop_test(tc, test_replay_dead, 0, n_backends());
	tcase_add_loop_test(tc, test_deliveries_paging, 0, n_backends());
	tcase_add_loop_test(tc, test_dead_count, 0, n_backends());
	tcase_add_loop_test(tc, test_dead_gauge, 0, n_backends());
	tcase_add_loop_test(tc, test_audit, 0, n_backends());
	tcase_add_loop_test(tc, test_retention, 0, n_backends());
	tcase_add_loop_test(tc, test_retention_dead, 0, n_backends());
	tcase_add_loop_test(tc, test_max_size, 0, 2); /* SQLite's cap */
	suite_add_tcase(s, tc);

	/* PostgreSQL only: several nodes on one database. */
	if (*pg_base) {
		TCase *shared = tcase_create("shared");
		tcase_add_checked_fixture(shared, remove_db, remove_db);
		tcase_set_timeout(shared, 60);
		tcase_add_test(shared, test_shared_claims);
		tcase_add_test(shared, test_shared_lease_expiry);
		tcase_add_test(shared, test_shared_subscriptions);
		tcase_add_test(shared, test_shared_pool);
		suite_add_tcase(s, shared);
	}
	return s;
}

int main(void)
{
	return store_fixture_run(store_log_suite);
}
