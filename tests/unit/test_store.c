/*
 * Unit tests for the store (core/store.h), through its public interface
 * only. Every case of the "store" TCase runs once per backend (loop index
 * 0: "memory:", 1: "sqlite:<tmp>/t.db", 2: PostgreSQL, in a schema of its
 * own in the database HOOKD_TEST_PG_URL names; without that variable, or
 * in a build without PostgreSQL, those cases are left out and the run
 * says so). The "open" TCase holds the cases that only make sense for a
 * file (schema version, paths) and the URL checks; the "shared" TCase
 * the PostgreSQL cases with two stores (two nodes) on one database.
 *
 * Attempt results are written asynchronously, so the cases that record
 * one either poll hkd_store_event_json with a bounded wait or, on the
 * file backend, close and reopen the store to prove hkd_store_close
 * flushed them.
 */
#include <check.h>
#include <ctype.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#ifdef HKD_HAVE_PQ
#include <libpq-fe.h>
#endif

#include "dispatch.h"
#include "log_json.h"
#include "metrics.h"
#include "store.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* GET /v4/events/{id}'s answer for id, or NULL (unknown or unreadable). */
static json_t *event_json(struct hkd_store *st, const char *id)
{
	int failed;

	return hkd_event_json(st, id, &failed);
}

/* How long a case waits for the writer to apply a queued result. */
#define WAIT_MS 10000
#define DAY_MS  (86400LL * 1000)

/* ---- Fixtures --------------------------------------------------------- */

/* Made by main(), removed with all it holds when the run ends. Every case
 * uses the same database file, deleted before each case starts. */
static char tmproot[200];
static char db_path[260]; /* tmproot/t.db */
static char db_url[270];  /* "sqlite:" db_path */

/* HOOKD_TEST_PG_URL, when set and this build has PostgreSQL; else "". */
static const char *pg_base = "";
/* This case's PostgreSQL URL: pg_base in a schema of the case's own. */
static char pg_url[1200];

#ifdef HKD_HAVE_PQ
static char pg_schema[64]; /* the case's schema, once made */

/* Run sql on pg_base or fail the case. */
static void pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(pg_base);
	PGresult *r;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", pg_base,
	              PQerrorMessage(c));
	r = PQexec(c, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK ||
	                  PQresultStatus(r) == PGRES_TUPLES_OK,
	              "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}
#endif

/* A fresh, empty schema for this case (cases run in processes of their
 * own, so the pid names it); pg_url points there. */
static const char *pg_case_url(void)
{
#ifdef HKD_HAVE_PQ
	char sql[256];

	if (!pg_schema[0]) {
		snprintf(pg_schema, sizeof(pg_schema), "hookd_t%ld",
		         (long)getpid());
		snprintf(sql, sizeof(sql),
		         "SET client_min_messages = warning; DROP SCHEMA IF "
		         "EXISTS %s CASCADE; CREATE SCHEMA %s",
		         pg_schema, pg_schema);
		pg_exec(sql);
		snprintf(pg_url, sizeof(pg_url),
		         "%s%coptions=-csearch_path%%3D%s", pg_base,
		         strchr(pg_base, '?') ? '&' : '?', pg_schema);
	}
#endif
	return pg_url;
}

/* Drop this case's schema, if it made one. */
static void pg_case_drop(void)
{
#ifdef HKD_HAVE_PQ
	char sql[256];

	if (!pg_schema[0])
		return;
	snprintf(sql, sizeof(sql),
	         "SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s "
	         "CASCADE",
	         pg_schema);
	pg_exec(sql);
	pg_schema[0] = '\0';
#endif
}

/* The backend of loop iteration i. */
static const char *backend(int i)
{
	return i == 0 ? "memory:" : i == 1 ? db_url : pg_case_url();
}

/* How many backends the "store" cases loop over. */
static int n_backends(void)
{
	return *pg_base ? 3 : 2;
}

static int is_file(const char *url)
{
	return strncmp(url, "sqlite:", 7) == 0;
}

/* Does a closed and reopened store still hold what it held? */
static int is_durable(const char *url)
{
	return strcmp(url, "memory:") != 0;
}

static void remove_db(void)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	char path[300];

	pg_case_drop();
	for (size_t i = 0; i < LEN(suffix); i++) {
		snprintf(path, sizeof(path), "%s%s", db_path, suffix[i]);
		unlink(path);
	}
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* ---- Helpers ---------------------------------------------------------- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Options the cases share: nothing is purged while a case runs. */
static struct hkd_store_options options(const char *url)
{
	struct hkd_store_options o;

	memset(&o, 0, sizeof(o));
	o.url = url;
	/* PostgreSQL requires the key that seals subscription secrets. */
	o.secret_key =
	    "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
	o.keep_succeeded_ms = DAY_MS;
	o.keep_dead_ms = DAY_MS;
	o.purge_interval_ms = 3600 * 1000;
	return o;
}

/* Open with o or fail the case. Caller owns: hkd_store_close. */
static struct hkd_store *open_with(const struct hkd_store_options *o)
{
	char err[256] = "";
	struct hkd_store *st = hkd_store_open(o, err, sizeof(err));

	ck_assert_msg(st != NULL, "open %s: %s", o->url, err);
	return st;
}

static struct hkd_store *open_url(const char *url)
{
	struct hkd_store_options o = options(url);

	return open_with(&o);
}

/* The envelope of an event; pad adds a string of that many bytes.
 * Caller owns: free. */
static char *envelope(const char *id, const char *type, size_t pad)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "type",
	                      type, "source", "urn:test", "time",
	                      "2026-11-28T14:00:00Z", "data", "note", "hello");
	char *s;

	ck_assert_ptr_nonnull(o);
	if (pad > 0) {
		char *p = malloc(pad + 1);

		ck_assert_ptr_nonnull(p);
		memset(p, 'x', pad);
		p[pad] = '\0';
		json_object_set_new(o, "pad", json_string(p));
		free(p);
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Caller owns: hkd_event_rec_unref. */
static struct hkd_event_rec *event_new(const char *id, const char *type,
                                       size_t pad)
{
	char *json = envelope(id, type, pad);
	struct hkd_event_rec *ev = hkd_event_rec_new(
	    id, type, "urn:test", "2026-11-28T14:00:00Z", json);

	free(json);
	ck_assert_ptr_nonnull(ev);
	return ev;
}

static const int64_t sched3[] = {1000, 5000, 30000};
/* put_targets parks what it stores (hkd_new_delivery.parked) when set. */
static int parked_puts;
static const char *const targets3[] = {"alpha", "beta", "gamma"};

/*
 * Store event id of type with n deliveries "<id>-d<i>" to
 * targets[i % n_targets] (targets3 when NULL), each with sched3.
 * Returns what hkd_store_put returned; err gets its reason.
 */
static int put_targets(struct hkd_store *st, const char *id, const char *type,
                       size_t n, const char *const *targets, size_t n_targets,
                       size_t pad, char *err, size_t errlen)
{
	struct hkd_new_delivery d[32];
	struct hkd_event_rec *ev = event_new(id, type, pad);
	int rc;

	ck_assert_uint_le(n, LEN(d));
	if (!targets) {
		targets = targets3;
		n_targets = LEN(targets3);
	}
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < n; i++) {
		snprintf(d[i].id, sizeof(d[i].id), "%s-d%zu", id, i);
		d[i].target = targets[i % n_targets];
		d[i].retry_ms = sched3;
		d[i].n_retry = LEN(sched3);
		d[i].parked = parked_puts;
	}
	err[0] = '\0';
	rc = hkd_store_put(st, ev, d, n, err, errlen);
	hkd_event_rec_unref(ev);
	return rc;
}

/* Store an event that must be accepted. */
static void put_ok(struct hkd_store *st, const char *id, const char *type,
                   size_t n)
{
	char err[256];
	int rc = put_targets(st, id, type, n, NULL, 0, 0, err, sizeof(err));

	ck_assert_msg(rc == HKD_STORE_OK, "put %s: rc %d (%s)", id, rc, err);
}

/* Queue the result of one attempt. */
static void record(struct hkd_store *st, const char *delivery_id,
                   unsigned attempt, int outcome, enum hkd_delivery_state state,
                   int64_t next_at_ms, const char *reason)
{
	struct hkd_attempt_rec a;

	memset(&a, 0, sizeof(a));
	snprintf(a.delivery_id, sizeof(a.delivery_id), "%s", delivery_id);
	a.attempt = attempt;
	a.outcome = outcome;
	a.started_ms = wall_ms();
	a.duration_us = 1500;
	snprintf(a.reason, sizeof(a.reason), "%s", reason);
	a.state = state;
	a.next_at_ms = next_at_ms;
	hkd_store_record(st, &a);
}

/* The delivery with that id in an event's JSON (borrowed), or NULL. */
static json_t *delivery_in(json_t *ev, const char *delivery_id)
{
	json_t *dels = json_object_get(ev, "deliveries");
	size_t i;
	json_t *d;

	json_array_foreach(dels, i, d)
	{
		if (strcmp(json_string_value(json_object_get(d, "id")),
		           delivery_id) == 0)
			return d;
	}
	return NULL;
}

static size_t n_deliveries(json_t *ev)
{
	return json_array_size(json_object_get(ev, "deliveries"));
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "(not a string)";
}

/*
 * Poll until the delivery has state and attempt count; returns the
 * event's JSON (caller owns: json_decref), or fails the case after
 * WAIT_MS.
 */
static json_t *wait_delivery(struct hkd_store *st, const char *event_id,
                             const char *delivery_id, const char *state,
                             json_int_t attempts)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	char seen[128] = "no event";

	for (;;) {
		json_t *ev = event_json(st, event_id);
		json_t *d = ev ? delivery_in(ev, delivery_id) : NULL;

		if (d) {
			json_int_t n = json_integer_value(
			    json_object_get(d, "attemptCount"));

			if (strcmp(str_of(d, "state"), state) == 0 &&
			    n == attempts)
				return ev;
			snprintf(seen, sizeof(seen), "%s after %lld",
			         str_of(d, "state"), (long long)n);
		} else if (ev) {
			snprintf(seen, sizeof(seen), "no delivery");
		}
		json_decref(ev);
		ck_assert_msg(mono_ms() < deadline,
		              "%s never became %s after %lld attempts (%s)",
		              delivery_id, state, (long long)attempts, seen);
		sleep_ms(10);
	}
}

/* Wait for a delivery's state and drop the JSON. */
static void wait_state(struct hkd_store *st, const char *event_id,
                       const char *delivery_id, const char *state,
                       json_int_t attempts)
{
	json_decref(wait_delivery(st, event_id, delivery_id, state, attempts));
}

/* Close and open the same store again (file backend: what reached disk). */
static struct hkd_store *reopen(struct hkd_store *st, const char *url)
{
	hkd_store_close(st);
	return open_url(url);
}

/* The deliveries hkd_store_recover/replay hand out. */
struct visits {
	struct hkd_stored_delivery d[64];
	size_t n;
	size_t calls;
};

/* A hkd_store_visit_fn: takes d. */
static void collect(void *arg, struct hkd_stored_delivery *d)
{
	struct visits *v = arg;

	v->calls++;
	if (v->n < LEN(v->d))
		v->d[v->n++] = *d;
	else
		hkd_stored_delivery_release(d);
}

static void visits_release(struct visits *v)
{
	for (size_t i = 0; i < v->n; i++)
		hkd_stored_delivery_release(&v->d[i]);
	v->n = 0;
	v->calls = 0;
}

static struct hkd_stored_delivery *visited(struct visits *v, const char *id)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->d[i].id, id) == 0)
			return &v->d[i];
	return NULL;
}

/* The schedule every delivery was stored with, and the event intact. */
static void assert_stored(const struct hkd_stored_delivery *d,
                          const char *event_id, const char *type)
{
	char *json = envelope(event_id, type, 0);

	ck_assert_uint_eq(d->n_retry, LEN(sched3));
	ck_assert_ptr_nonnull(d->retry_ms);
	for (size_t i = 0; i < LEN(sched3); i++)
		ck_assert_int_eq(d->retry_ms[i], sched3[i]);
	ck_assert_ptr_nonnull(d->event);
	ck_assert_str_eq(d->event->id, event_id);
	ck_assert_str_eq(d->event->type, type);
	ck_assert_str_eq(d->event->source, "urn:test");
	ck_assert_str_eq(d->event->timestamp, "2026-11-28T14:00:00Z");
	ck_assert_str_eq(d->event->json, json);
	ck_assert_uint_eq(d->event->json_len, strlen(json));
	free(json);
}

/* PRAGMA user_version of a database file, read with SQLite directly. */
static int user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int v = -1;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL),
	    SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void set_user_version(const char *path, int v)
{
	sqlite3 *db = NULL;
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	ck_assert_int_eq(
	    sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* 1 when text holds n as a whole number (not part of a longer one). */
static int has_number(const char *text, long n)
{
	for (const char *p = text; *p;) {
		if (isdigit((unsigned char)*p)) {
			char *end;
			long v = strtol(p, &end, 10);

			if (v == n &&
			    (p == text || !isdigit((unsigned char)p[-1])))
				return 1;
			p = end;
		} else {
			p++;
		}
	}
	return 0;
}

/*
 * The value of sample `name` (labels included, as rendered) in
 * hkd_metrics_render's text, copied into buf; fails the case when there
 * is no such sample.
 */
static const char *metric(const char *name, char *buf, size_t len)
{
	char *text = hkd_metrics_render(NULL);
	size_t n = strlen(name);
	const char *line = text;

	ck_assert_ptr_nonnull(text);
	buf[0] = '\0';
	while (line && *line) {
		const char *end = strchr(line, '\n');

		if (strncmp(line, name, n) == 0 && line[n] == ' ') {
			int vlen = (int)(end ? end - line - (long)n - 1
			                     : (long)strlen(line + n + 1));

			snprintf(buf, len, "%.*s", vlen, line + n + 1);
			break;
		}
		line = end ? end + 1 : NULL;
	}
	free(text);
	ck_assert_msg(buf[0], "no sample %s in the metrics", name);
	return buf;
}

static long long metric_int(const char *name)
{
	char buf[64];

	return strtoll(metric(name, buf, sizeof(buf)), NULL, 10);
}

/* A sample in seconds (at most six decimals), in microseconds. */
static long long metric_us(const char *name)
{
	char buf[64];
	char *p;
	long long us =
	    strtoll(metric(name, buf, sizeof(buf)), &p, 10) * 1000000;
	long long unit = 100000;

	if (*p == '.')
		for (p++; isdigit((unsigned char)*p) && unit > 0;
		     p++, unit /= 10)
			us += (*p - '0') * unit;
	return us;
}

/* ---- open ------------------------------------------------------------- */

START_TEST(test_open_and_reopen)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct hkd_delivery_filter f = {-1, NULL, NULL, 10, 0};
	json_t *j, *ev;
	int version = 0;

	/* An empty, working store: the schema is there. */
	ck_assert_ptr_null(event_json(st, "nope"));
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	j = hkd_deliveries_json(st, &f);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "deliveries")), 0);
	ck_assert(json_is_null(json_object_get(j, "nextCursor")));
	json_decref(j);
	put_ok(st, "keep-1", "order.created", 2);
	hkd_store_close(st);

	if (is_file(url)) {
		version = user_version(db_path);
		ck_assert_int_ge(version, 1);
	}
	st = open_url(url);
	ev = event_json(st, "keep-1");
	if (is_durable(url)) {
		ck_assert_msg(ev != NULL, "the event did not survive a reopen");
		ck_assert_uint_eq(n_deliveries(ev), 2);
		ck_assert_str_eq(str_of(ev, "type"), "order.created");
	} else {
		ck_assert_msg(ev == NULL, "memory: is volatile");
	}
	json_decref(ev);
	/* The reopened store takes writes. */
	put_ok(st, "keep-2", "order.created", 1);
	hkd_store_close(st);
	if (is_file(url)) {
		ck_assert_int_eq(user_version(db_path), version);
		st = open_url(url);
		ev = event_json(st, "keep-1");
		ck_assert_ptr_nonnull(ev);
		json_decref(ev);
		ev = event_json(st, "keep-2");
		ck_assert_ptr_nonnull(ev);
		json_decref(ev);
		hkd_store_close(st);
	}
}
END_TEST

START_TEST(test_open_newer_schema)
{
	struct hkd_store_options o = options(db_url);
	struct hkd_store *st;
	char err[256] = "";
	int version, newer;

	/* Learn the code's version from a file it made. */
	st = open_url(db_url);
	hkd_store_close(st);
	version = user_version(db_path);
	ck_assert_int_ge(version, 1);
	remove_db();

	newer = version + 41;
	set_user_version(db_path, newer);
	st = hkd_store_open(&o, err, sizeof(err));
	ck_assert_msg(st == NULL, "opened a database of schema version %d",
	              newer);
	ck_assert_msg(has_number(err, newer) && has_number(err, version),
	              "the message does not name %d and %d: %s", newer, version,
	              err);
	/* Left as it was, not "migrated" downwards. */
	ck_assert_int_eq(user_version(db_path), newer);
}
END_TEST

/* 1 when the database file has a schema object (table, index) of that
 * name, read with SQLite directly. */
static int has_object(const char *path, const char *name)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int found;

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
	                                    "SELECT 1 FROM sqlite_master "
	                                    "WHERE name = ?",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	sqlite3_close(db);
	return found;
}

/*
 * Take the schema of the database file at path back to `version` (1 or 2)
 * as those versions made it, keeping the rows.
 */
static void downgrade(const char *path, int version)
{
	char sql[600];
	sqlite3 *db = NULL;

	ck_assert_int_eq(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	/* Version 4 added the audit table; version 3 replaced version 1's
	 * two delivery indexes. */
	snprintf(sql, sizeof(sql),
	         "DROP TABLE audit; DROP INDEX deliveries_open; DROP INDEX "
	         "deliveries_dead; "
	         "CREATE INDEX deliveries_state ON deliveries(state, next_at); "
	         "CREATE INDEX deliveries_target ON deliveries(target, state); "
	         "%s PRAGMA user_version = %d",
	         version < 2 ? "DROP INDEX deliveries_parked;" : "", version);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(user_version(path), version);
}

/*
 * A version 1 database is brought to the current version on open,
 * keeping what it held.
 */
START_TEST(test_migrate_v1)
{
	struct hkd_store *st = open_url(db_url);
	json_t *ev;
	int version;

	put_ok(st, "old-1", "order.created", 2);
	hkd_store_close(st);
	version = user_version(db_path);
	ck_assert_int_ge(version, 3);
	ck_assert(has_object(db_path, "deliveries_parked"));

	downgrade(db_path, 1);
	ck_assert(!has_object(db_path, "deliveries_parked"));

	st = open_url(db_url);
	ck_assert_int_eq(user_version(db_path), version);
	ck_assert(has_object(db_path, "deliveries_parked"));
	ev = event_json(st, "old-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(n_deliveries(ev), 2);
	json_decref(ev);
	put_ok(st, "new-1", "order.created", 1);
	hkd_store_close(st);
}
END_TEST

/*
 * A version 2 database: its two indexes over every delivery are replaced
 * by the partial ones of version 3, and what they serve reads the same:
 * recovery, the dead count, bulk replay.
 */
START_TEST(test_migrate_v2)
{
	struct hkd_store *st = open_url(db_url);
	struct visits v;
	size_t done, left;

	memset(&v, 0, sizeof(v));
	put_ok(st, "mig-1", "order.created", 3);
	record(st, "mig-1-d0", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "HTTP 200");
	record(st, "mig-1-d1", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 410");
	wait_state(st, "mig-1", "mig-1-d1", "dead", 1);
	wait_state(st, "mig-1", "mig-1-d0", "succeeded", 1);
	hkd_store_close(st);

	downgrade(db_path, 2);
	ck_assert(has_object(db_path, "deliveries_state"));
	ck_assert(!has_object(db_path, "deliveries_open"));

	st = open_url(db_url);
	ck_assert_int_eq(user_version(db_path), 4);
	ck_assert(has_object(db_path, "audit"));
	ck_assert(has_object(db_path, "deliveries_open"));
	ck_assert(has_object(db_path, "deliveries_dead"));
	ck_assert(!has_object(db_path, "deliveries_state"));
	ck_assert(!has_object(db_path, "deliveries_target"));
	ck_assert_int_eq(hkd_store_dead_count(st), 1);
	ck_assert_int_eq(hkd_store_recover(st, collect, &v), 0);
	ck_assert_uint_eq(v.calls, 1);
	ck_assert_ptr_nonnull(visited(&v, "mig-1-d2"));
	visits_release(&v);
	ck_assert_int_eq(hkd_store_replay_dead(st, "beta", NULL, 10, collect,
	                                       &v, &done, &left),
	                 HKD_STORE_OK);
	ck_assert_uint_eq(done, 1);
	ck_assert_str_eq(v.d[0].id, "mig-1-d1");
	visits_release(&v);
	ck_assert_int_eq(hkd_store_dead_count(st), 0);
	ck_assert_int_eq(hkd_store_unfinished(st), 2);
	hkd_store_close(st);
}
END_TEST

START_TEST(test_url_check)
{
	static const char *const bad[] = {"",
	                                  "sqlite:",
	                                  "memory",
	                                  "memory:x",
	                                  "mysql://localhost/hookd",
	                                  "postgres:db",
	                                  "SQLITE:/tmp/x.db",
	                                  "/var/lib/hookd/hookd.db"};
	static const char *const good[] = {"memory:", "sqlite:/tmp/x.db",
	                                   "sqlite:relative.db"};
	static const char *const pg[] = {
	    "postgresql://127.0.0.1/hookd",
	    "postgres://u@db.example:5433/q?sslmode=require"};
	char err[256];

	for (size_t i = 0; i < LEN(good); i++) {
		err[0] = '\0';
		ck_assert_msg(hkd_store_url_check(good[i], err, sizeof(err)) ==
		                  0,
		              "refused \"%s\": %s", good[i], err);
	}
	for (size_t i = 0; i < LEN(bad); i++) {
		struct hkd_store_options o = options(bad[i]);
		struct hkd_store *st;

		err[0] = '\0';
		ck_assert_msg(hkd_store_url_check(bad[i], err, sizeof(err)) ==
		                  -1,
		              "accepted \"%s\"", bad[i]);
		ck_assert_msg(strstr(err, "sqlite:PATH") &&
		                  strstr(err, "memory:"),
		              "unclear message for \"%s\": %s", bad[i], err);
		if (*bad[i])
			ck_assert_msg(strstr(err, bad[i]) != NULL,
			              "the message does not name \"%s\": %s",
			              bad[i], err);
		err[0] = '\0';
		st = hkd_store_open(&o, err, sizeof(err));
		ck_assert_msg(st == NULL, "opened \"%s\"", bad[i]);
		ck_assert_msg(strstr(err, "sqlite:PATH") != NULL,
		              "unclear message for \"%s\": %s", bad[i], err);
	}
	/* PostgreSQL URLs: accepted when this build has it, else refused
	 * with a message that says why. */
	for (size_t i = 0; i < LEN(pg); i++) {
		err[0] = '\0';
#ifdef HKD_HAVE_PQ
		ck_assert_msg(hkd_store_url_check(pg[i], err, sizeof(err)) == 0,
		              "refused \"%s\": %s", pg[i], err);
#else
		ck_assert_int_eq(hkd_store_url_check(pg[i], err, sizeof(err)),
		                 -1);
		ck_assert_msg(strstr(err, "without PostgreSQL"), "unclear: %s",
		              err);
#endif
	}
}
END_TEST

START_TEST(test_open_unwritable)
{
	char path[320], url[340], err[256];
	struct hkd_store_options o;
	struct hkd_store *st;
	FILE *f;

	/* A folder that does not exist. */
	snprintf(url, sizeof(url), "sqlite:%s/missing/t.db", tmproot);
	o = options(url);
	err[0] = '\0';
	st = hkd_store_open(&o, err, sizeof(err));
	ck_assert_msg(st == NULL, "opened %s", url);
	ck_assert_msg(err[0] != '\0', "no reason given for %s", url);

	/* A "folder" that is a plain file: unwritable even for root. */
	snprintf(path, sizeof(path), "%s/plain", tmproot);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(url, sizeof(url), "sqlite:%s/plain/t.db", tmproot);
	o = options(url);
	err[0] = '\0';
	st = hkd_store_open(&o, err, sizeof(err));
	ck_assert_msg(st == NULL, "opened %s", url);
	ck_assert_msg(err[0] != '\0', "no reason given for %s", url);
	unlink(path);

	/* A read-only folder (root writes anyway: skip that part). */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", tmproot);
		ck_assert_int_eq(mkdir(path, 0500), 0);
		snprintf(url, sizeof(url), "sqlite:%s/ro/t.db", tmproot);
		o = options(url);
		err[0] = '\0';
		st = hkd_store_open(&o, err, sizeof(err));
		ck_assert_msg(st == NULL, "opened %s", url);
		ck_assert_msg(err[0] != '\0', "no reason given for %s", url);
		rmdir(path);
	}

	/* A bad option is refused too, with why. */
	o = options(db_url);
	o.synchronous = "sometimes";
	err[0] = '\0';
	st = hkd_store_open(&o, err, sizeof(err));
	ck_assert_msg(st == NULL, "opened with synchronous = sometimes");
	ck_assert_msg(strstr(err, "synchronous") != NULL, "unclear: %s", err);
}
END_TEST

/* ---- put -------------------------------------------------------------- */

START_TEST(test_put_and_duplicate)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct hkd_delivery_filter f = {-1, NULL, NULL, 100, 0};
	char err[256];
	json_t *ev, *d, *all;
	int rc;

	put_ok(st, "dup-1", "order.created", 3);
	ev = event_json(st, "dup-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(str_of(ev, "id"), "dup-1");
	ck_assert_str_eq(str_of(ev, "type"), "order.created");
	ck_assert_str_eq(str_of(json_object_get(ev, "data"), "note"), "hello");
	ck_assert_uint_eq(n_deliveries(ev), 3);
	for (size_t i = 0; i < 3; i++) {
		char id[48];

		snprintf(id, sizeof(id), "dup-1-d%zu", i);
		d = delivery_in(ev, id);
		ck_assert_msg(d != NULL, "no delivery %s", id);
		ck_assert_str_eq(str_of(d, "state"), "pending");
		ck_assert_str_eq(str_of(d, "target"), targets3[i]);
		ck_assert_str_eq(str_of(d, "eventId"), "dup-1");
		ck_assert_str_eq(str_of(d, "eventType"), "order.created");
		ck_assert_int_eq(
		    json_integer_value(json_object_get(d, "attemptCount")), 0);
		ck_assert_uint_eq(
		    json_array_size(json_object_get(d, "attempts")), 0);
		ck_assert(json_is_null(json_object_get(d, "lastOutcome")));
	}
	json_decref(ev);

	/* The same id again, other type and one delivery: nothing changes. */
	rc = put_targets(st, "dup-1", "order.deleted", 1, NULL, 0, 0, err,
	                 sizeof(err));
	ck_assert_msg(rc == HKD_STORE_DUPLICATE, "rc %d (%s)", rc, err);
	ev = event_json(st, "dup-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(n_deliveries(ev), 3);
	ck_assert_str_eq(str_of(ev, "type"), "order.created");
	json_decref(ev);
	all = hkd_deliveries_json(st, &f);
	ck_assert_uint_eq(json_array_size(json_object_get(all, "deliveries")),
	                  3);
	json_decref(all);

	/* No deliveries at all (nothing matched a route): still stored. */
	put_ok(st, "none-1", "ping", 0);
	ev = event_json(st, "none-1");
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(str_of(ev, "type"), "ping");
	ck_assert(json_is_array(json_object_get(ev, "deliveries")));
	ck_assert_uint_eq(n_deliveries(ev), 0);
	json_decref(ev);
	rc = put_targets(st, "none-1", "ping", 0, NULL, 0, 0, err, sizeof(err));
	ck_assert_int_eq(rc, HKD_STORE_DUPLICATE);

	/* Still taking writes after the duplicates. */
	put_ok(st, "dup-2", "order.created", 1);
	if (is_durable(url))
		st = reopen(st, url);
	ev = event_json(st, "dup-2");
	ck_assert_ptr_nonnull(ev);
	json_decref(ev);
	hkd_store_close(st);
}
END_TEST

/* ---- group commit under concurrency ----------------------------------- */

#define N_THREADS 8
#define N_PUTS    200

struct putter {
	struct hkd_store *st;
	pthread_barrier_t *start;
	int index;
	int round; /* same-id case */
	int ok, dup, failed, other;
	char err[300]; /* "rc N: " and a store error */
};

static void count_rc(struct putter *p, int rc, const char *err)
{
	if (rc == HKD_STORE_OK) {
		p->ok++;
	} else if (rc == HKD_STORE_DUPLICATE) {
		p->dup++;
	} else {
		if (rc == HKD_STORE_FAILED)
			p->failed++;
		else
			p->other++;
		snprintf(p->err, sizeof(p->err), "rc %d: %s", rc, err);
	}
}

static void *put_distinct(void *arg)
{
	struct putter *p = arg;
	char id[48], err[256];

	pthread_barrier_wait(p->start);
	for (int i = 0; i < N_PUTS; i++) {
		snprintf(id, sizeof(id), "c%d-%d", p->index, i);
		count_rc(p,
		         put_targets(p->st, id, "load.test", 1 + i % 3, NULL, 0,
		                     0, err, sizeof(err)),
		         err);
	}
	return NULL;
}

/* Run N_THREADS putters on st until they end: thread 0 runs first, the
 * others rest; p gets what each saw. */
static void run_putters(struct hkd_store *st, struct putter *p, int round,
                        void *(*first)(void *), void *(*rest)(void *))
{
	pthread_t th[N_THREADS];
	pthread_barrier_t start;

	pthread_barrier_init(&start, NULL, N_THREADS);
	memset(p, 0, N_THREADS * sizeof(*p));
	for (int t = 0; t < N_THREADS; t++) {
		p[t].st = st;
		p[t].start = &start;
		p[t].index = t;
		p[t].round = round;
		ck_assert_int_eq(
		    pthread_create(&th[t], NULL, t == 0 ? first : rest, &p[t]),
		    0);
	}
	for (int t = 0; t < N_THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&start);
}

START_TEST(test_concurrent_distinct)
{
	const char *url = backend(_i);
	struct hkd_store *st;
	struct putter p[N_THREADS];
	struct hkd_delivery_filter f = {-1, NULL, NULL, 10000, 0};
	size_t want_deliveries = 0;
	long long commits, writes;
	json_t *all;

	hkd_metrics_reset(); /* count this case's commits only */
	st = open_url(url);
	run_putters(st, p, 0, put_distinct, put_distinct);
	for (int t = 0; t < N_THREADS; t++)
		ck_assert_msg(
		    p[t].ok == N_PUTS,
		    "thread %d: %d ok, %d duplicate, %d failed, %d other; %s",
		    t, p[t].ok, p[t].dup, p[t].failed, p[t].other, p[t].err);
	/*
	 * Group commit: every put went through a commit, and puts made
	 * while a commit ran shared the next one. On a file a commit waits
	 * for the disk, so the threads always find one running; in memory a
	 * commit may end before the next put comes.
	 */
	commits = metric_int("hookd_store_commits_total{result=\"ok\"}");
	writes = metric_int("hookd_store_commit_batch_size_sum");
	ck_assert_int_ge(writes, N_THREADS * N_PUTS);
	if (is_durable(url))
		ck_assert_msg(commits < N_THREADS * N_PUTS,
		              "%lld commits for %d puts: none shared", commits,
		              N_THREADS * N_PUTS);

	for (int t = 0; t < N_THREADS; t++)
		for (int i = 0; i < N_PUTS; i++) {
			char id[48];
			json_t *ev;

			snprintf(id, sizeof(id), "c%d-%d", t, i);
			ev = event_json(st, id);
			ck_assert_msg(ev != NULL, "%s is not readable", id);
			ck_assert_uint_eq(n_deliveries(ev),
			                  (size_t)(1 + i % 3));
			json_decref(ev);
			want_deliveries += 1 + i % 3;
		}
	all = hkd_deliveries_json(st, &f);
	ck_assert_uint_eq(json_array_size(json_object_get(all, "deliveries")),
	                  want_deliveries);
	json_decref(all);
	hkd_store_close(st);
}
END_TEST

/* Puts whose second delivery takes the id of one stored before: each
 * fails after its event and first delivery were written. */
static void *put_colliding(void *arg)
{
	struct putter *p = arg;
	struct hkd_new_delivery d[2];
	char id[32], err[256];

	pthread_barrier_wait(p->start);
	for (int i = 0; i < N_PUTS / 4; i++) {
		struct hkd_event_rec *ev;

		snprintf(id, sizeof(id), "half-%d", i);
		ev = event_new(id, "load.test", 0);
		memset(d, 0, sizeof(d));
		snprintf(d[0].id, sizeof(d[0].id), "%s-d0", id);
		snprintf(d[1].id, sizeof(d[1].id), "seed-d0");
		for (int k = 0; k < 2; k++) {
			d[k].target = targets3[k];
			d[k].retry_ms = sched3;
			d[k].n_retry = LEN(sched3);
		}
		err[0] = '\0';
		count_rc(p, hkd_store_put(p->st, ev, d, 2, err, sizeof(err)),
		         err);
		hkd_event_rec_unref(ev);
	}
	return NULL;
}

/*
 * A put that fails half-way (its event written, then a delivery refused)
 * leaves nothing behind, and the puts that shared its commit are all
 * stored: the writer runs a batch without a savepoint per job and, when a
 * job fails, runs it again with them.
 */
START_TEST(test_put_fails_alone)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct putter p[N_THREADS];

	put_ok(st, "seed", "load.test", 1);
	run_putters(st, p, 0, put_colliding, put_distinct);
	ck_assert_msg(p[0].failed == N_PUTS / 4 && p[0].ok == 0,
	              "colliding puts: %d ok, %d failed, %d other; %s", p[0].ok,
	              p[0].failed, p[0].other, p[0].err);
	for (int t = 1; t < N_THREADS; t++)
		ck_assert_msg(p[t].ok == N_PUTS,
		              "thread %d: %d ok, %d failed, %d other; %s", t,
		              p[t].ok, p[t].failed, p[t].other, p[t].err);
	for (int i = 0; i < N_PUTS / 4; i++) {
		char id[48];
		json_t *ev;

		snprintf(id, sizeof(id), "half-%d", i);
		ev = event_json(st, id);
		ck_assert_msg(ev == NULL, "%s was stored", id);
	}
	for (int t = 1; t < N_THREADS; t++) {
		char id[48];
		json_t *ev;

		snprintf(id, sizeof(id), "c%d-%d", t, N_PUTS - 1);
		ev = event_json(st, id);
		ck_assert_msg(ev != NULL, "%s is not readable", id);
		json_decref(ev);
	}
	/* The seed's delivery is untouched, and the store takes writes. */
	put_ok(st, "after", "load.test", 1);
	if (is_durable(url))
		st = reopen(st, url);
	{
		json_t *ev = event_json(st, "seed");
		ck_assert_ptr_nonnull(ev);
		ck_assert_uint_eq(n_deliveries(ev), 1);
		json_decref(ev);
	}
	hkd_store_close(st);
}
END_TEST

/*
 * Commit latency in microseconds: one put in memory commits in well under a
 * millisecond, so a duration timed in whole milliseconds would read 0 (or
 * a whole number of them).
 */
START_TEST(test_commit_seconds)
{
	struct hkd_store *st;
	long long us;

	hkd_metrics_reset();
	st = open_url("memory:");
	put_ok(st, "lat-1", "order.created", 1);
	hkd_store_close(st);
	ck_assert_int_eq(metric_int("hookd_store_commit_seconds_count"), 1);
	us = metric_us("hookd_store_commit_seconds_sum");
	ck_assert_msg(us > 0 && us % 1000 != 0,
	              "one commit took %lld us: timed in whole milliseconds?",
	              us);
}
END_TEST

static void *put_same(void *arg)
{
	struct putter *p = arg;
	struct hkd_new_delivery d;
	struct hkd_event_rec *ev;
	char id[48], err[256] = "";
	int rc;

	snprintf(id, sizeof(id), "same-%d", p->round);
	ev = hkd_event_rec_new(id, "race", "urn:test", "2026-11-28T14:00:00Z",
	                       "{\"id\":\"same\"}");
	if (!ev) {
		p->other++;
		pthread_barrier_wait(p->start);
		return NULL;
	}
	memset(&d, 0, sizeof(d));
	/* The delivery id says which thread won. */
	snprintf(d.id, sizeof(d.id), "same-%d-t%d", p->round, p->index);
	d.target = "alpha";
	d.retry_ms = sched3;
	d.n_retry = LEN(sched3);
	pthread_barrier_wait(p->start);
	rc = hkd_store_put(p->st, ev, &d, 1, err, sizeof(err));
	count_rc(p, rc, err);
	hkd_event_rec_unref(ev);
	return NULL;
}

START_TEST(test_concurrent_same_id)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);

	for (int round = 0; round < 10; round++) {
		struct putter p[N_THREADS];
		int ok = 0, dup = 0, winner = -1;
		char id[48], did[48];
		json_t *ev, *d;

		run_putters(st, p, round, put_same, put_same);
		for (int t = 0; t < N_THREADS; t++) {
			ck_assert_msg(p[t].failed == 0 && p[t].other == 0,
			              "round %d thread %d: %s", round, t,
			              p[t].err);
			ok += p[t].ok;
			dup += p[t].dup;
			if (p[t].ok)
				winner = t;
		}
		ck_assert_msg(ok == 1 && dup == N_THREADS - 1,
		              "round %d: %d ok, %d duplicate", round, ok, dup);

		snprintf(id, sizeof(id), "same-%d", round);
		snprintf(did, sizeof(did), "same-%d-t%d", round, winner);
		ev = event_json(st, id);
		ck_assert_ptr_nonnull(ev);
		ck_assert_uint_eq(n_deliveries(ev), 1);
		d = delivery_in(ev, did);
		ck_assert_msg(d != NULL,
		              "round %d: the winner's delivery %s is missing",
		              round, did);
		json_decref(ev);
	}
	hkd_store_close(st);
}
END_TEST

/* ---- record ----------------------------------------------------------- */

static void assert_attempt(json_t *d, size_t i, json_int_t number,
                           const char *outcome, const char *detail)
{
	json_t *a = json_array_get(json_object_get(d, "attempts"), i);

	ck_assert_msg(a != NULL, "no attempt #%zu", i);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "attempt")),
	                 number);
	ck_assert_str_eq(str_of(a, "outcome"), outcome);
	ck_assert_str_eq(str_of(a, "detail"), detail);
	ck_assert(json_is_string(json_object_get(a, "startedAt")));
	ck_assert(json_is_number(json_object_get(a, "durationMs")));
	ck_assert(json_number_value(json_object_get(a, "durationMs")) == 1.5);
}

START_TEST(test_record)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	json_t *ev, *d;

	put_ok(st, "rec-1", "order.created", 3);

	record(st, "rec-1-d0", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       wall_ms() + 60000, "HTTP 503");
	ev = wait_delivery(st, "rec-1", "rec-1-d0", "retrying", 1);
	d = delivery_in(ev, "rec-1-d0");
	ck_assert(json_is_string(json_object_get(d, "nextAttemptAt")));
	ck_assert_str_eq(str_of(d, "lastOutcome"), "retry");
	ck_assert_str_eq(str_of(d, "lastReason"), "HTTP 503");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "attempts")), 1);
	assert_attempt(d, 0, 1, "retry", "HTTP 503");
	json_decref(ev);

	record(st, "rec-1-d0", 2, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "HTTP 200");
	ev = wait_delivery(st, "rec-1", "rec-1-d0", "succeeded", 2);
	d = delivery_in(ev, "rec-1-d0");
	ck_assert(json_is_null(json_object_get(d, "nextAttemptAt")));
	ck_assert_str_eq(str_of(d, "lastOutcome"), "ok");
	ck_assert_str_eq(str_of(d, "lastReason"), "HTTP 200");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "attempts")), 2);
	assert_attempt(d, 0, 1, "retry", "HTTP 503");
	assert_attempt(d, 1, 2, "ok", "HTTP 200");
	/* The others are untouched. */
	d = delivery_in(ev, "rec-1-d1");
	ck_assert_str_eq(str_of(d, "state"), "pending");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "attemptCount")),
	                 0);
	ck_assert_uint_eq(json_array_size(json_object_get(d, "attempts")), 0);
	json_decref(ev);

	/* Three results queued back to back, the store closed at once. */
	record(st, "rec-1-d1", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       wall_ms() + 1000, "timeout");
	record(st, "rec-1-d1", 2, HOOKD_RETRY, HKD_STATE_RETRYING,
	       wall_ms() + 5000, "connection refused");
	record(st, "rec-1-d1", 3, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 410");
	record(st, "rec-1-d2", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 404");
	/* A result for a delivery that is gone is dropped quietly. */
	record(st, "no-such-delivery", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "");
	if (is_durable(url))
		st = reopen(st, url); /* no wait: close must flush them */
	/* Written in order, maybe in two batches: d2's result came last. */
	json_decref(wait_delivery(st, "rec-1", "rec-1-d2", "dead", 1));
	ev = wait_delivery(st, "rec-1", "rec-1-d1", "dead", 3);
	d = delivery_in(ev, "rec-1-d1");
	ck_assert_str_eq(str_of(d, "lastOutcome"), "fail");
	ck_assert_str_eq(str_of(d, "lastReason"), "HTTP 410");
	ck_assert(json_is_null(json_object_get(d, "nextAttemptAt")));
	ck_assert_uint_eq(json_array_size(json_object_get(d, "attempts")), 3);
	assert_attempt(d, 0, 1, "retry", "timeout");
	assert_attempt(d, 1, 2, "retry", "connection refused");
	assert_attempt(d, 2, 3, "fail", "HTTP 410");
	d = delivery_in(ev, "rec-1-d2");
	ck_assert_str_eq(str_of(d, "state"), "dead");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "attempts")), 1);
	d = delivery_in(ev, "rec-1-d0");
	ck_assert_str_eq(str_of(d, "state"), "succeeded");
	ck_assert_uint_eq(json_array_size(json_object_get(d, "attempts")), 2);
	json_decref(ev);
	hkd_store_close(st);
}
END_TEST

/* ---- recover ---------------------------------------------------------- */

START_TEST(test_recover)
{
	const char *url = backend(_i);
	struct hkd_store *st = open_url(url);
	struct visits v;
	struct hkd_stored_delivery *d;
	int64_t before, after, retry_at = wall_ms() + 120000;

	memset(&v, 0, sizeof(v));
	before = wall_ms();
	/* d0 stays pending, d1 retries, d2 succeeds, d3 dies. */
	put_ok(st, "rcv-1", "order.created", 4);
	put_ok(st, "rcv-2", "user.created", 1);
	after = wall_ms();
	record(st, "rcv-1-d1", 1, HOOKD_RETRY, HKD_STATE_RETRYING, retry_at,
	       "HTTP 502");
	record(st, "rcv-1-d2", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "HTTP 200");
	record(st, "rcv-1-d3", 1, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 400");
	if (is_durable(url))
		st = reopen(st, url);
	wait_state(st, "rcv-1", "rcv-1-d1", "retrying", 1);
	wait_state(st, "rcv-1", "rcv-1-d2", "succeeded", 1);
	wait_state(st, "rcv-1", "rcv-1-d3", "dead", 1);

	ck_assert_int_eq(hkd_store_recover(st, collect, &v), 0);
	ck_assert_uint_eq(v.calls, 3);
	ck_assert_ptr_null(visited(&v, "rcv-1-d2"));
	ck_assert_ptr_null(visited(&v, "rcv-1-d3"));

	d = visited(&v, "rcv-1-d0");
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->target, "alpha");
	ck_assert_uint_eq(d->attempts, 0);
	ck_assert_uint_eq(d->base, 0);
	ck_assert_int_ge(d->next_at_ms, before);
	ck_assert_int_le(d->next_at_ms, after);
	assert_stored(d, "rcv-1", "order.created");

	d = visited(&v, "rcv-1-d1");
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->target, "beta");
	ck_assert_uint_eq(d->attempts, 1);
	ck_assert_uint_eq(d->base, 0);
	ck_assert_int_eq(d->next_at_ms, retry_at);
	assert_stored(d, "rcv-1", "order.created");

	d = visited(&v, "rcv-2-d0");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->attempts, 0);
	assert_stored(d, "rcv-2", "user.created");
	visits_release(&v);

	/* Recovery reads; it changes nothing. */
	ck_assert_int_eq(hkd_store_recover(st, collect, &v), 0);
	ck_assert_uint_eq(v.calls, 3);
	visits_release(&v);
	hkd_store_close(st);
}
END_TEST

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
	       wall_ms() + 1000, "HTTP 500");
	record(st, "rpl-1-d0", 2, HOOKD_RETRY, HKD_STATE_RETRYING,
	       wall_ms() + 5000, "HTTP 500");
	record(st, "rpl-1-d0", 3, HOOKD_FAIL, HKD_STATE_DEAD, 0, "HTTP 500");
	record(st, "rpl-1-d1", 1, HOOKD_RETRY, HKD_STATE_RETRYING,
	       wall_ms() + 60000, "HTTP 503");
	record(st, "rpl-1-d2", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "HTTP 200");
	wait_state(st, "rpl-1", "rpl-1-d0", "dead", 3);
	wait_state(st, "rpl-1", "rpl-1-d1", "retrying", 1);
	wait_state(st, "rpl-1", "rpl-1-d2", "succeeded", 1);
	ck_assert_int_eq(hkd_store_dead_count(st), 1);

	before = wall_ms();
	rc = hkd_store_replay(st, "rpl-1-d0", collect, &v, &state);
	after = wall_ms();
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
	       wall_ms() + 1000, "x");
	record(st, "dc-1-d2", 1, HOOKD_OK, HKD_STATE_SUCCEEDED, 0, "x");
	record(st, "dc-1-d3", 1, HOOKD_RETRY, HKD_STATE_RETRYING, wall_ms(),
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
	deadline = mono_ms() + 5000;
	while ((g = hkd_store_dead_gauge(st)) != 3 && mono_ms() < deadline)
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
	int64_t deadline = mono_ms() + WAIT_MS;
	json_t *ev;

	while ((ev = event_json(st, id)) != NULL) {
		json_decref(ev);
		ck_assert_msg(mono_ms() < deadline,
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
	       wall_ms() + 60000, "");

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
	record(b, vb.d[0].id, 1, HOOKD_RETRY, HKD_STATE_RETRYING, wall_ms(),
	       "x");
	{
		struct hkd_attempt_rec r;
		memset(&r, 0, sizeof(r));
		snprintf(r.delivery_id, sizeof(r.delivery_id), "%s",
		         vb.d[1].id);
		r.attempt = 1;
		r.outcome = HOOKD_RETRY;
		r.state = HKD_STATE_RETRYING;
		r.next_at_ms = wall_ms();
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
	t0 = mono_ms();
	while (got < 3 && mono_ms() - t0 < WAIT_MS) {
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
	int64_t t0 = mono_ms();
	memset(h, 0, sizeof(*h));
	h->st = st;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	ck_assert_int_eq(pthread_create(&h->thread, NULL, hold_main, h), 0);
	pthread_mutex_lock(&h->lock);
	while (!h->holding && mono_ms() - t0 < WAIT_MS) {
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
	t0 = mono_ms();
	ck_assert_ptr_null(hkd_event_json(st, "evt_none", &failed));
	ck_assert_int_eq(failed, 1);
	ck_assert_ptr_null(hkd_deliveries_json(st, &f));
	ck_assert_int_lt(mono_ms() - t0, WAIT_MS);
	hold_stop(&h);
	page = hkd_deliveries_json(st, &f);
	ck_assert_ptr_nonnull(page);
	json_decref(page);

	/* Connections the server closed are opened again on their next use. */
#ifdef HKD_HAVE_PQ
	pg_exec(
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
	    "AND backend_type = 'client backend'");
	ck_assert_ptr_null(hkd_event_json(st, "evt_none", &failed));
	ck_assert_int_eq(failed, 0);
#endif
	json_decref(doc);
	hkd_store_close(st);
}
END_TEST

/* ---- runner ----------------------------------------------------------- */

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	TCase *open = tcase_create("open");

	/* Every case starts from no database file. */
	tcase_add_checked_fixture(tc, remove_db, remove_db);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_open_and_reopen, 0, n_backends());
	tcase_add_loop_test(tc, test_put_and_duplicate, 0, n_backends());
	tcase_add_loop_test(tc, test_concurrent_distinct, 0, n_backends());
	tcase_add_loop_test(tc, test_put_fails_alone, 0, n_backends());
	tcase_add_test(tc, test_commit_seconds);
	tcase_add_loop_test(tc, test_concurrent_same_id, 0, n_backends());
	tcase_add_loop_test(tc, test_record, 0, n_backends());
	tcase_add_loop_test(tc, test_recover, 0, n_backends());
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

	/* Only for a file: versions and paths; and the URL itself. */
	tcase_add_checked_fixture(open, remove_db, remove_db);
	tcase_set_timeout(open, 60);
	tcase_add_test(open, test_open_newer_schema);
	tcase_add_test(open, test_migrate_v1);
	tcase_add_test(open, test_migrate_v2);
	tcase_add_test(open, test_url_check);
	tcase_add_test(open, test_open_unwritable);
	suite_add_tcase(s, open);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	snprintf(tmproot, sizeof(tmproot), "%s/hookd-store-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmproot)) {
		perror(tmproot);
		printf("1..1\nnot ok 1 - make a temporary directory\n");
		return 1;
	}
	snprintf(db_path, sizeof(db_path), "%s/t.db", tmproot);
	snprintf(db_url, sizeof(db_url), "sqlite:%s", db_path);
#ifdef HKD_HAVE_PQ
	if (getenv("HOOKD_TEST_PG_URL") && *getenv("HOOKD_TEST_PG_URL"))
		pg_base = getenv("HOOKD_TEST_PG_URL");
	else
		printf("# SKIP the PostgreSQL cases: HOOKD_TEST_PG_URL is not "
		       "set\n");
#else
	printf("# SKIP the PostgreSQL cases: built without PostgreSQL\n");
#endif
	fflush(stdout);
	sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmproot, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? 1 : 0;
}
