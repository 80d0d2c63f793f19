/*
 * The store's unit tests' fixtures and helpers (see store_fixture.h): a
 * temporary folder for the database file, a schema of its own for each
 * case on PostgreSQL, and the stores, events and results the cases build.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#ifdef HKD_HAVE_PQ
#include <libpq-fe.h>
#endif

#include "log_json.h"
#include "store_fixture.h"

/* ---- Fixtures --------------------------------------------------------- */

char tmproot[200];
char db_path[260];
char db_url[270];
const char *pg_base = "";

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

const char *pg_case_url(void)
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
		         "%s%coptions=-csearch_path%%3D%s&application_name=%s",
		         pg_base, strchr(pg_base, '?') ? '&' : '?', pg_schema,
		         pg_schema);
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

#ifdef HKD_HAVE_PQ
void pg_case_disconnect(void)
{
	char sql[512];

	if (!pg_schema[0])
		return;
	snprintf(sql, sizeof(sql),
	         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	         "WHERE datname = current_database() AND pid <> "
	         "pg_backend_pid() AND backend_type = 'client backend' "
	         "AND application_name = '%s'",
	         pg_schema);
	pg_exec(sql);
}
#endif

const char *backend(int i)
{
	return i == 0 ? "memory:" : i == 1 ? db_url : pg_case_url();
}

int n_backends(void)
{
	return *pg_base ? 3 : 2;
}

int is_durable(const char *url)
{
	return strcmp(url, "memory:") != 0;
}

void remove_db(void)
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

int store_fixture_run(Suite *(*make_suite)(void))
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
	sr = srunner_create(make_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmproot, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? 1 : 0;
}

/* ---- Helpers ---------------------------------------------------------- */

void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

json_t *event_json(struct hkd_store *st, const char *id)
{
	int failed;

	return hkd_event_json(st, id, &failed);
}

struct hkd_store_options options(const char *url)
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

struct hkd_store *open_with(const struct hkd_store_options *o)
{
	char err[256] = "";
	struct hkd_store *st = hkd_store_open(o, err, sizeof(err));

	ck_assert_msg(st != NULL, "open %s: %s", o->url, err);
	return st;
}

struct hkd_store *open_url(const char *url)
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

struct hkd_event_rec *event_new(const char *id, const char *type, size_t pad)
{
	char *json = envelope(id, type, pad);
	struct hkd_event_rec *ev = hkd_event_rec_new(
	    id, type, "urn:test", "2026-11-28T14:00:00Z", json);

	free(json);
	ck_assert_ptr_nonnull(ev);
	return ev;
}

const int64_t sched3[3] = {1000, 5000, 30000};
const char *const targets3[3] = {"alpha", "beta", "gamma"};
int parked_puts;

int put_targets(struct hkd_store *st, const char *id, const char *type,
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

void put_ok(struct hkd_store *st, const char *id, const char *type, size_t n)
{
	char err[256];
	int rc = put_targets(st, id, type, n, NULL, 0, 0, err, sizeof(err));

	ck_assert_msg(rc == HKD_STORE_OK, "put %s: rc %d (%s)", id, rc, err);
}

void record(struct hkd_store *st, const char *delivery_id, unsigned attempt,
            int outcome, enum hkd_delivery_state state, int64_t next_at_ms,
            const char *reason)
{
	struct hkd_attempt_rec a;

	memset(&a, 0, sizeof(a));
	snprintf(a.delivery_id, sizeof(a.delivery_id), "%s", delivery_id);
	a.attempt = attempt;
	a.outcome = outcome;
	a.started_ms = hkd_now_ms();
	a.duration_us = 1500;
	snprintf(a.reason, sizeof(a.reason), "%s", reason);
	a.state = state;
	a.next_at_ms = next_at_ms;
	hkd_store_record(st, &a);
}

json_t *delivery_in(json_t *ev, const char *delivery_id)
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

size_t n_deliveries(json_t *ev)
{
	return json_array_size(json_object_get(ev, "deliveries"));
}

const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "(not a string)";
}

json_t *wait_delivery(struct hkd_store *st, const char *event_id,
                      const char *delivery_id, const char *state,
                      json_int_t attempts)
{
	int64_t deadline = hkd_mono_ms() + WAIT_MS;
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
		ck_assert_msg(hkd_mono_ms() < deadline,
		              "%s never became %s after %lld attempts (%s)",
		              delivery_id, state, (long long)attempts, seen);
		sleep_ms(10);
	}
}

void wait_state(struct hkd_store *st, const char *event_id,
                const char *delivery_id, const char *state, json_int_t attempts)
{
	json_decref(wait_delivery(st, event_id, delivery_id, state, attempts));
}

struct hkd_store *reopen(struct hkd_store *st, const char *url)
{
	hkd_store_close(st);
	return open_url(url);
}

void collect(void *arg, struct hkd_stored_delivery *d)
{
	struct visits *v = arg;

	v->calls++;
	if (v->n < LEN(v->d))
		v->d[v->n++] = *d;
	else
		hkd_stored_delivery_release(d);
}

void visits_release(struct visits *v)
{
	for (size_t i = 0; i < v->n; i++)
		hkd_stored_delivery_release(&v->d[i]);
	v->n = 0;
	v->calls = 0;
}

struct hkd_stored_delivery *visited(struct visits *v, const char *id)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->d[i].id, id) == 0)
			return &v->d[i];
	return NULL;
}

void assert_stored(const struct hkd_stored_delivery *d, const char *event_id,
                   const char *type)
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
