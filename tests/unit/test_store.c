/*
 * Unit tests for the store (core/store.h), through its public interface
 * only: opening a store, storing events (also from many threads at once,
 * their commits grouped), recording attempt results and recovering the
 * deliveries left unfinished. Every case of the "store" TCase runs once
 * per backend (store_fixture.h); the "open" TCase holds the cases that
 * only make sense for a file (schema version, paths) and the URL checks.
 * What the API reads and changes in the log (replay, the delivery log,
 * the audit trail), retention and max_size are test_store_log's.
 */
#include <check.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "log_json.h"
#include "metrics.h"
#include "store.h"
#include "store_fixture.h"

/* ---- Helpers ---------------------------------------------------------- */

static int is_file(const char *url)
{
	return strncmp(url, "sqlite:", 7) == 0;
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
	       hkd_now_ms() + 60000, "HTTP 503");
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
	       hkd_now_ms() + 1000, "timeout");
	record(st, "rec-1-d1", 2, HOOKD_RETRY, HKD_STATE_RETRYING,
	       hkd_now_ms() + 5000, "connection refused");
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
	int64_t before, after, retry_at = hkd_now_ms() + 120000;

	memset(&v, 0, sizeof(v));
	before = hkd_now_ms();
	/* d0 stays pending, d1 retries, d2 succeeds, d3 dies. */
	put_ok(st, "rcv-1", "order.created", 4);
	put_ok(st, "rcv-2", "user.created", 1);
	after = hkd_now_ms();
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
	suite_add_tcase(s, tc);

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
	return store_fixture_run(store_suite);
}
