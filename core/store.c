/*
 * The store's front (store.h): picks the backend named by the URL and
 * forwards every call to it (store_backend.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log.h"
#include "store_backend.h"
#include "util.h"

const char *hkd_state_name(enum hkd_delivery_state s)
{
	switch (s) {
	case HKD_STATE_PENDING:
		return "pending";
	case HKD_STATE_RETRYING:
		return "retrying";
	case HKD_STATE_SUCCEEDED:
		return "succeeded";
	case HKD_STATE_DEAD:
		return "dead";
	}
	return "?";
}

int hkd_state_parse(const char *name)
{
	for (int i = 0; i <= HKD_STATE_DEAD; i++)
		if (strcmp(name, hkd_state_name((enum hkd_delivery_state)i)) ==
		    0)
			return i;
	return -1;
}

/* "postgresql://…" or "postgres://…" (libpq's URI forms). */
static int is_pg_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 ||
	       strncmp(url, "postgres://", 11) == 0;
}

int hkd_store_url_check(const char *url, char *err, size_t errlen)
{
	if (strcmp(url, "memory:") == 0)
		return 0;
	if (strncmp(url, "sqlite:", 7) == 0 && url[7] != '\0')
		return 0;
	if (is_pg_url(url)) {
#ifdef HKD_HAVE_PQ
		return 0;
#else
		hkd_set_err(err, errlen,
		            "storage url \"%s\": this hookd was built without "
		            "PostgreSQL support (configure --with-postgresql, "
		            "which needs libpq)",
		            url);
		return -1;
#endif
	}
	hkd_set_err(err, errlen,
	            "storage url \"%s\" is not supported: use \"sqlite:PATH\", "
	            "\"memory:\" or \"postgresql://…\"",
	            url);
	return -1;
}

/*
 * The sealing key for a store of url: storage.secret_key when given; else
 * for "sqlite:PATH" the key file hookd.key in PATH's folder (made when
 * missing), for "memory:" a random one (nothing outlives the process).
 * PostgreSQL needs it given: every node must hold the same.
 */
static int seal_key(const struct hkd_store_options *o,
                    unsigned char key[HKD_SEAL_KEY_LEN], char *err,
                    size_t errlen)
{
	char why[256], *path;
	const char *db, *slash;
	int rc;

	if (o->secret_key) {
		if (hkd_seal_key_parse(o->secret_key, key, why, sizeof(why)) ==
		    0)
			return 0;
		hkd_set_err(err, errlen, "storage.secret_key: %s", why);
		return -1;
	}
	if (strcmp(o->url, "memory:") == 0) {
		if (RAND_bytes(key, HKD_SEAL_KEY_LEN) == 1)
			return 0;
		hkd_set_err(err, errlen, "no randomness for a key");
		return -1;
	}
	if (is_pg_url(o->url)) {
		hkd_set_err(
		    err, errlen,
		    "storage.secret_key is required with PostgreSQL (every "
		    "node seals subscription secrets with it, so all need "
		    "the same): openssl rand -hex 32");
		return -1;
	}
	db = o->url + 7;
	slash = strrchr(db, '/');
	if (asprintf(&path, "%.*shookd.key", slash ? (int)(slash - db + 1) : 0,
	             db) < 0) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	rc = hkd_seal_key_file(path, key, err, errlen);
	free(path);
	return rc;
}

struct hkd_store *hkd_store_open(const struct hkd_store_options *o, char *err,
                                 size_t errlen)
{
	unsigned char key[HKD_SEAL_KEY_LEN];
	struct hkd_store *st = NULL;

	if (hkd_store_url_check(o->url, err, errlen) != 0 ||
	    seal_key(o, key, err, errlen) != 0)
		return NULL;
#ifdef HKD_HAVE_PQ
	if (is_pg_url(o->url))
		st = hkd_store_pg_open(o, err, errlen);
	else
#endif
		st = hkd_store_sqlite_open(o, err, errlen);
	if (st)
		memcpy(st->seal_key, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return st;
}

int hkd_store_is_shared(const struct hkd_store *st)
{
	return st->ops->shared;
}

void hkd_store_close(struct hkd_store *st)
{
	if (!st)
		return;
	OPENSSL_cleanse(st->seal_key, sizeof(st->seal_key));
	st->ops->close(st);
}

/* --- helpers for the backends ----------------------------------------- */

void hkd_store_drop_rows(struct hkd_stored_delivery *rows, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		hkd_stored_delivery_release(&rows[i]);
	*n = 0;
}

char *hkd_store_schedule_json(const int64_t *ms, size_t n)
{
	/* "[d1,d2,…]": written directly, once per stored delivery (jansson's
	 * tree and dump cost ten times as much). 21 bytes per int64 + ','. */
	char *s = malloc(n * 21 + 3), *p = s;
	if (!s)
		return NULL;
	*p++ = '[';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%lld", i ? "," : "", (long long)ms[i]);
	*p++ = ']';
	*p = '\0';
	return s;
}

void hkd_store_log_schema(int from, int to)
{
	char a[16], b[16];
	snprintf(a, sizeof(a), "%d", from);
	snprintf(b, sizeof(b), "%d", to);
	if (from == 0)
		hkd_log_kv(HOOKD_LOG_INFO, "store", "detail", "schema created",
		           "version", b, NULL);
	else if (from < to)
		hkd_log_kv(HOOKD_LOG_INFO, "store", "detail", "schema migrated",
		           "from", a, "to", b, NULL);
}

/* After a job that read rows back: hand them to visit when it committed,
 * else drop them (nothing was changed). */
static void hand_out(struct hkd_stored_delivery *rows, size_t n, int committed,
                     hkd_store_visit_fn visit, void *arg)
{
	if (!committed) {
		hkd_store_drop_rows(rows, &n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		visit(arg, &rows[i]);
}

/* --- writes: jobs on the backend's writer ------------------------------ */

int hkd_store_put(struct hkd_store *st, const struct hkd_event_rec *ev,
                  const struct hkd_new_delivery *d, size_t n, char *err,
                  size_t errlen)
{
	struct hkd_put_arg a = {ev, d, n};
	return hkd_writer_run(st->writer, st->ops->put, &a, err, errlen);
}

void hkd_store_record(struct hkd_store *st, const struct hkd_attempt_rec *a)
{
	struct hkd_attempt_rec *copy = malloc(sizeof(*copy));
	if (copy) {
		*copy = *a;
		if (hkd_writer_queue(st->writer, st->ops->record, copy, free) ==
		    0)
			return;
	}
	hkd_log_kv(HOOKD_LOG_ERROR, "store", "delivery", a->delivery_id,
	           "detail", "out of memory: attempt result not recorded",
	           NULL);
}

/* A count on the writer: the query, and what it gave. */
struct count_arg {
	const char *sql;
	long long n;
};

/* Runs on the writer: the count of a struct count_arg. */
static int job_count(void *backend, void *argp, char *err, size_t errlen)
{
	struct hkd_store *st = backend;
	struct count_arg *a = argp;
	return st->ops->count(st, a->sql, &a->n, err, errlen);
}

/* The count sql gives, taken on the writer; -1 when it failed. */
static long long count_on_writer(struct hkd_store *st, const char *sql)
{
	struct count_arg a = {sql, 0};
	char err[256];
	if (hkd_writer_run(st->writer, job_count, &a, err, sizeof(err)) !=
	    HKD_STORE_OK)
		return -1;
	return a.n;
}

long long hkd_store_release_all(struct hkd_store *st)
{
	long long unfinished = 0;
	char err[256];
	if (hkd_writer_run(st->writer, st->ops->release_all, &unfinished, err,
	                   sizeof(err)) != HKD_STORE_OK) {
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
		           "recovery failed", "reason", err, NULL);
		return -1;
	}
	return unfinished;
}

long long hkd_store_unfinished(struct hkd_store *st)
{
	return count_on_writer(st, HKD_SQL_COUNT_UNFINISHED);
}

int hkd_store_claim(struct hkd_store *st, size_t max, hkd_store_visit_fn visit,
                    void *arg, size_t *claimed, int64_t *next_at)
{
	struct hkd_claim_arg a;
	char err[256];
	int rc;

	memset(&a, 0, sizeof(a));
	a.max = max;
	a.now = hkd_now_ms();
	a.next_at = -1;
	*claimed = 0;
	*next_at = -1;
	if (max == 0 || !(a.out = calloc(max, sizeof(*a.out))))
		return max == 0 ? HKD_STORE_OK : HKD_STORE_FAILED;
	rc = hkd_writer_run(st->writer, st->ops->claim, &a, err, sizeof(err));
	hand_out(a.out, a.n_out, rc == HKD_STORE_OK, visit, arg);
	if (rc == HKD_STORE_OK) {
		*claimed = a.n_out;
		*next_at = a.next_at;
	}
	free(a.out);
	return rc;
}

int hkd_store_replay(struct hkd_store *st, const char *delivery_id,
                     hkd_store_visit_fn visit, void *arg, int *state_out)
{
	struct hkd_stored_delivery d;
	struct hkd_replay_arg a;
	char err[256];
	int rc;
	memset(&a, 0, sizeof(a));
	a.id = delivery_id;
	a.max = 1;
	a.out = &d;
	rc = hkd_writer_run(st->writer, st->ops->replay, &a, err, sizeof(err));
	if (rc == HKD_STORE_CONFLICT && state_out)
		*state_out = a.state;
	if (rc == HKD_STORE_FAILED)
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "delivery", delivery_id,
		           "detail", "replay failed", "reason", err, NULL);
	if (rc == HKD_STORE_OK && a.n_out == 1)
		visit(arg, &d);
	else if (a.n_out == 1)
		/* Read back, then its batch was lost: nothing was replayed. */
		hkd_stored_delivery_release(&d);
	return rc;
}

int hkd_store_replay_dead(struct hkd_store *st, const char *target,
                          const char *type_glob, size_t max,
                          hkd_store_visit_fn visit, void *arg, size_t *done,
                          size_t *left)
{
	struct hkd_replay_arg a;
	char err[256];
	int rc;
	memset(&a, 0, sizeof(a));
	a.target = target;
	a.type_glob = type_glob;
	a.max = max;
	a.out = calloc(max + 1, sizeof(*a.out));
	*done = *left = 0;
	if (!a.out)
		return HKD_STORE_FAILED;
	rc = hkd_writer_run(st->writer, st->ops->replay, &a, err, sizeof(err));
	/* Rows read back before a batch was lost were not replayed. */
	hand_out(a.out, a.n_out, rc == HKD_STORE_OK, visit, arg);
	if (rc == HKD_STORE_OK) {
		*done = a.n_out;
		*left = a.left;
	} else {
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
		           "bulk replay failed", "reason", err, NULL);
	}
	free(a.out);
	return rc;
}

/* The members of a subscription that are sealed at rest. */
static const char *const sealed_members[] = {"secret", "previousSecret", NULL};

/* doc as stored: a copy with its secrets sealed. Caller owns; NULL when
 * out of memory or without randomness. */
static json_t *sub_sealed(struct hkd_store *st, const char *id,
                          const json_t *doc)
{
	json_t *copy = json_copy((json_t *)doc);
	for (const char *const *m = sealed_members; copy && *m; m++) {
		const char *v = json_string_value(json_object_get(doc, *m));
		char *sealed;
		if (!v || hkd_is_sealed(v))
			continue;
		if (hkd_seal(st->seal_key, id, v, &sealed) != 0) {
			json_decref(copy);
			return NULL;
		}
		json_object_set_new(copy, *m, json_string(sealed));
		free(sealed);
	}
	return copy;
}

int hkd_store_sub_save(struct hkd_store *st, const char *id, const json_t *doc)
{
	char err[256];
	json_t *stored = sub_sealed(st, id, doc);
	char *body = stored ? json_dumps(stored, JSON_COMPACT) : NULL;
	struct hkd_sub_arg a = {id, body};
	int rc;
	json_decref(stored);
	if (!body)
		return HKD_STORE_FAILED;
	rc = hkd_writer_run(st->writer, st->ops->sub_write, &a, err,
	                    sizeof(err));
	if (rc != HKD_STORE_OK)
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "subscription", id,
		           "detail", "cannot save the subscription", "reason",
		           err, NULL);
	free(body);
	return rc;
}

int hkd_store_sub_delete(struct hkd_store *st, const char *id)
{
	char err[256];
	struct hkd_sub_arg a = {id, NULL};
	return hkd_writer_run(st->writer, st->ops->sub_write, &a, err,
	                      sizeof(err));
}

int hkd_store_audit_add(struct hkd_store *st, const struct hkd_audit_rec *rec)
{
	char err[256];
	struct hkd_audit_arg a = {rec, hkd_now_ms()};
	int rc = hkd_writer_run(st->writer, st->ops->audit_write, &a, err,
	                        sizeof(err));
	if (rc != HKD_STORE_OK)
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
		           "cannot store an audit record", "action",
		           rec->action, "target", rec->target, "reason", err,
		           NULL);
	return rc;
}

/* --- reads: the backend's --------------------------------------------------
 */

int hkd_store_recover(struct hkd_store *st, hkd_store_visit_fn visit, void *arg)
{
	return st->ops->recover(st, visit, arg);
}

int hkd_store_read_event(struct hkd_store *st, const char *id,
                         const struct hkd_log_reader *r)
{
	return st->ops->read_event(st, id, r);
}

int hkd_store_read_deliveries(struct hkd_store *st,
                              const struct hkd_delivery_filter *f,
                              const struct hkd_log_reader *r)
{
	return st->ops->read_deliveries(st, f, r);
}

int hkd_store_read_audit(struct hkd_store *st, size_t limit, int64_t before_seq,
                         const struct hkd_log_reader *r)
{
	return st->ops->read_audit(st, limit, before_seq, r);
}

long long hkd_store_dead_count(struct hkd_store *st)
{
	return count_on_writer(st, HKD_SQL_COUNT_DEAD);
}

/* Runs on the writer: count the dead into the gauge's cache. */
static int job_dead_gauge(void *backend, void *argp, char *err, size_t errlen)
{
	struct hkd_store *st = argp;
	long long n = -1;
	if (st->ops->count(backend, HKD_SQL_COUNT_DEAD, &n, err, errlen) !=
	    HKD_STORE_OK)
		return HKD_STORE_OK; /* a failed count keeps the last one */
	atomic_store(&st->dead_gauge, n);
	atomic_store(&st->dead_gauge_at, hkd_mono_ms());
	return HKD_STORE_OK;
}

/* The queued count is done (or dropped): another may be queued. */
static void dead_gauge_done(void *argp)
{
	struct hkd_store *st = argp;
	atomic_store(&st->dead_gauge_queued, 0);
}

long long hkd_store_dead_gauge(struct hkd_store *st)
{
	int64_t at = atomic_load(&st->dead_gauge_at);
	char err[256];

	if (at == 0) {
		/* Never counted: wait for the writer once (at start). */
		atomic_store(&st->dead_gauge, -1);
		if (hkd_writer_run(st->writer, job_dead_gauge, st, err,
		                   sizeof(err)) != HKD_STORE_OK)
			return -1;
		return atomic_load(&st->dead_gauge_at)
		           ? atomic_load(&st->dead_gauge)
		           : -1;
	}
	if (hkd_mono_ms() - at >= HKD_DEAD_GAUGE_TTL_MS &&
	    atomic_exchange(&st->dead_gauge_queued, 1) == 0 &&
	    hkd_writer_queue(st->writer, job_dead_gauge, st, dead_gauge_done) !=
	        0)
		atomic_store(&st->dead_gauge_queued, 0);
	return atomic_load(&st->dead_gauge);
}

/* hkd_store_sub_load's walk: each document opened, then visited. */
struct sub_walk {
	struct hkd_store *st;
	void (*visit)(void *arg, const json_t *doc);
	void *arg;
	json_t *clear;  /* documents found with secrets in the clear */
	size_t refused; /* documents whose secrets did not open */
};

static void open_one(void *arg, const json_t *doc)
{
	struct sub_walk *w = arg;
	const char *id = json_string_value(json_object_get(doc, "id"));
	json_t *open = json_copy((json_t *)doc);
	int clear = 0;

	for (const char *const *m = sealed_members; open && id && *m; m++) {
		const char *v = json_string_value(json_object_get(doc, *m));
		char *plain;
		if (!v)
			continue;
		if (!hkd_is_sealed(v)) {
			clear = 1;
			continue;
		}
		if (hkd_unseal(w->st->seal_key, id, v, &plain) != 0) {
			w->refused++;
			json_decref(open);
			return;
		}
		json_object_set_new(open, *m, json_string(plain));
		OPENSSL_cleanse(plain, strlen(plain));
		free(plain);
	}
	if (!open || !id)
		return;
	if (clear)
		json_array_append(w->clear, open);
	w->visit(w->arg, open);
	json_decref(open);
}

int hkd_store_sub_load(struct hkd_store *st,
                       void (*visit)(void *arg, const json_t *doc), void *arg)
{
	struct sub_walk w = {st, visit, arg, json_array(), 0};
	size_t i, sealed = 0;
	json_t *doc;
	int rc;

	if (!w.clear)
		return -1;
	rc = st->ops->sub_load(st, open_one, &w);
	/* A database from before secrets were sealed: seal them now. */
	json_array_foreach(
	    w.clear, i,
	    doc) if (rc == 0 &&
	             hkd_store_sub_save(
	                 st, json_string_value(json_object_get(doc, "id")),
	                 doc) == HKD_STORE_OK) sealed++;
	if (sealed) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", sealed);
		hkd_log_kv(
		    HOOKD_LOG_INFO, "store", "detail",
		    "subscription secrets stored in the clear are sealed now",
		    "subscriptions", n, NULL);
	}
	json_decref(w.clear);
	if (w.refused) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", w.refused);
		hkd_log_kv(
		    HOOKD_LOG_ERROR, "store", "detail",
		    "stored subscription secrets do not open with this key: "
		    "is storage.secret_key (or the key file) the one they "
		    "were sealed with?",
		    "subscriptions", n, NULL);
		return -1;
	}
	return rc;
}
