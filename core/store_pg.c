/*
 * The PostgreSQL store, behind core/store.h, for "postgresql://…" and
 * "postgres://…" (libpq connection URIs): one database that several hookd
 * nodes share as their queue, their delivery log and their subscriptions.
 *
 * The schema and the meaning of every call are SQLite's (store_sqlite.c).
 * What sharing adds:
 *   - Leases. Every process draws a random node id at start. A delivery a
 *     node holds in memory has lease_owner = that id and lease_until a
 *     wall-clock time `lease` ahead, which a renewal thread pushes forward
 *     every lease/3. A delivery nobody holds (parked, or leased by a node
 *     that died: its lease_until passed) is claimed with FOR UPDATE SKIP
 *     LOCKED, so two nodes never take the same row in one claim.
 *   - Connection loss. Writes go through the shared writer
 *     (store_writer.c): a batch that finds the connection gone reconnects
 *     first; while it cannot, callers hear HKD_STORE_FAILED (ingest
 *     answers 503) and queued attempt results are kept until written.
 *   - News. A transaction that parks deliveries, releases leases or
 *     changes subscriptions ends with NOTIFY on hookd_work or hookd_subs
 *     (so it is heard only once committed); each node LISTENs on a
 *     connection of its own and passes what it hears to opt.news, so the
 *     others claim or reload at once instead of at their next poll.
 *     Polling stays: a node that lost that connection hears nothing until
 *     it is back, and then acts as if it had heard everything.
 *
 * Connections: `wc` belongs to the writer thread (every write, the purge
 * and the lease renewal run there, as jobs). The reads (API GETs, recovery,
 * subscription reloads) borrow one of a pool of `pool_size` connections,
 * opened on first use, so concurrent reads run side by side; a read that
 * finds none free within `pool_wait_ms` fails (the API answers 503) rather
 * than hang. A connection found broken is dropped and opened again on its
 * next use; each keeps its own prepared statements.
 */
#include "store_pg.h"

static const char *const news_channel[] = {
    [HKD_STORE_NEWS_WORK] = "hookd_work",
    [HKD_STORE_NEWS_SUBS] = "hookd_subs",
};

static const char *outcome_name(int st)
{
	return st == HOOKD_OK ? "ok" : st == HOOKD_RETRY ? "retry" : "fail";
}

/* --- schema ---------------------------------------------------------- */

static const char schema_v1[] =
    "CREATE TABLE events ("
    "  seq bigserial PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  type text NOT NULL,"
    "  source text NOT NULL,"
    "  \"timestamp\" text NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  body text NOT NULL);"
    "CREATE INDEX events_created ON events(created_at);"
    "CREATE TABLE deliveries ("
    "  seq bigserial PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  event_seq bigint NOT NULL REFERENCES events(seq),"
    "  target text NOT NULL,"
    "  kind text NOT NULL DEFAULT 'handler',"
    "  state integer NOT NULL,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  base integer NOT NULL DEFAULT 0,"
    "  schedule text NOT NULL,"
    "  next_at bigint NOT NULL,"
    "  last_outcome text,"
    "  last_reason text,"
    "  lease_owner text,"
    "  lease_until bigint,"
    "  created_at bigint NOT NULL,"
    "  updated_at bigint NOT NULL);"
    "CREATE INDEX deliveries_state ON deliveries(state, next_at);"
    "CREATE INDEX deliveries_target ON deliveries(target, state);"
    "CREATE INDEX deliveries_event ON deliveries(event_seq);"
    "CREATE INDEX deliveries_due ON deliveries(next_at, seq) WHERE state < 2;"
    "CREATE INDEX deliveries_owner ON deliveries(lease_owner) WHERE state < 2;"
    "CREATE TABLE attempts ("
    "  seq bigserial PRIMARY KEY,"
    "  delivery_seq bigint NOT NULL REFERENCES deliveries(seq),"
    "  number integer NOT NULL,"
    "  started_at bigint NOT NULL,"
    "  duration_us bigint NOT NULL,"
    "  outcome text NOT NULL,"
    "  detail text NOT NULL);"
    "CREATE INDEX attempts_delivery ON attempts(delivery_seq);"
    "CREATE TABLE subscriptions ("
    "  seq bigserial PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  body text NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  updated_at bigint NOT NULL);";

/* Version 2: the audit trail of changes made through the API. */
static const char schema_v2[] = "CREATE TABLE audit ("
                                "  seq bigserial PRIMARY KEY,"
                                "  at bigint NOT NULL,"
                                "  key_id text NOT NULL,"
                                "  action text NOT NULL,"
                                "  target text NOT NULL,"
                                "  detail text);"
                                "CREATE INDEX audit_at ON audit(at);";

/* Each entry brings the schema from version i to i + 1. */
static const char *const migrations[] = {schema_v1, schema_v2};

/*
 * Bring the schema to SCHEMA_VERSION in one transaction. Nodes starting
 * together take turns (an advisory lock), so each sees the version the
 * one before it left.
 */
static int migrate(PGconn *c, char *err, size_t errlen)
{
	PGresult *r = NULL;
	char sql[96];
	int version = 0;

	if (pg_exec_sql(c, "BEGIN", err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
	         MIGRATE_LOCK);
	if (pg_exec_sql(c, sql, err, errlen) != 0 ||
	    pg_exec_sql(
	        c,
	        "CREATE TABLE IF NOT EXISTS hookd_schema (version integer "
	        "NOT NULL)",
	        err, errlen) != 0)
		goto fail;
	if (!(r = pg_query(c, "SELECT max(version) FROM hookd_schema", NULL))) {
		hkd_set_err(err, errlen, "%s", pg_conn_err(c));
		goto fail;
	}
	version = (int)val_int(r, 0, 0);
	PQclear(r);
	if (version > SCHEMA_VERSION) {
		hkd_set_err(err, errlen,
		            "the database has schema version %d, newer than "
		            "this hookd's %d",
		            version, SCHEMA_VERSION);
		goto fail;
	}
	for (int v = version; v < SCHEMA_VERSION; v++)
		if (pg_exec_sql(c, migrations[v], err, errlen) != 0)
			goto fail;
	if (version < SCHEMA_VERSION) {
		snprintf(sql, sizeof(sql),
		         "DELETE FROM hookd_schema; INSERT INTO hookd_schema "
		         "VALUES (%d)",
		         SCHEMA_VERSION);
		if (pg_exec_sql(c, sql, err, errlen) != 0)
			goto fail;
	}
	if (pg_exec_sql(c, "COMMIT", err, errlen) != 0)
		goto fail;
	hkd_store_log_schema(version, SCHEMA_VERSION);
	return 0;
fail:
	pg_chomp(err);
	pg_exec_sql(c, "ROLLBACK", NULL, 0);
	return -1;
}

/* --- jobs (run on the writer, inside its transaction) ------------------ */

static int job_put(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct hkd_put_arg *a = argp;
	struct params p = {.n = 0};
	PGresult *r;
	int64_t now = hkd_now_ms();
	char event_seq[24];
	int parked = 0;

	p_str(&p, a->ev->id);
	p_str(&p, a->ev->type);
	p_str(&p, a->ev->source);
	p_str(&p, a->ev->timestamp);
	p_int(&p, now);
	p_str(&p, a->ev->json);
	if (!(r = pg_wquery(st, W_PUT_EVENT, &p)))
		return pg_stmt_fail(st, err, errlen);
	if (PQntuples(r) == 0) {
		PQclear(r);
		return HKD_STORE_DUPLICATE;
	}
	hkd_strlcpy(event_seq, val(r, 0, 0), sizeof(event_seq));
	PQclear(r);
	for (size_t i = 0; i < a->n; i++) {
		char *sched =
		    hkd_store_schedule_json(a->d[i].retry_ms, a->d[i].n_retry);
		if (!sched) {
			hkd_set_err(err, errlen, "out of memory");
			return HKD_STORE_FAILED;
		}
		p.n = 0;
		p_str(&p, a->d[i].id);
		p_str(&p, event_seq);
		p_str(&p, a->d[i].target);
		p_str(&p, sched);
		p_int(&p, now);
		p_str(&p, a->d[i].parked ? NULL : st->node);
		if (a->d[i].parked)
			p_str(&p, NULL);
		else
			p_int(&p, now + st->lease_ms);
		r = pg_wquery(st, W_PUT_DELIVERY, &p);
		free(sched);
		if (!r)
			return pg_stmt_fail(st, err, errlen);
		PQclear(r);
		if (a->d[i].parked)
			parked = 1;
	}
	if (parked)
		st->news |= NEWS_BIT(HKD_STORE_NEWS_WORK);
	return HKD_STORE_OK;
}

static int job_record(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	const struct hkd_attempt_rec *a = argp;
	struct params p = {.n = 0};
	PGresult *r;
	char dseq[24];

	p_int(&p, (int64_t)a->state);
	p_int(&p, (int64_t)a->attempt);
	p_int(&p, a->next_at_ms);
	p_str(&p, outcome_name(a->outcome));
	p_str(&p, a->reason);
	p_int(&p, hkd_now_ms());
	p_str(&p, a->delivery_id);
	p_str(&p, a->release ? "true" : "false");
	p_str(&p, st->node);
	if (!(r = pg_wquery(st, W_RECORD_STATE, &p)))
		return pg_stmt_fail(st, err, errlen);
	if (PQntuples(r) == 0) {
		PQclear(r);
		return HKD_STORE_NOT_FOUND; /* purged meanwhile: nothing to do
		                             */
	}
	hkd_strlcpy(dseq, val(r, 0, 0), sizeof(dseq));
	PQclear(r);
	p.n = 0;
	p_str(&p, dseq);
	p_int(&p, (int64_t)a->attempt);
	p_int(&p, a->started_ms);
	p_int(&p, a->duration_us);
	p_str(&p, outcome_name(a->outcome));
	p_str(&p, a->reason);
	if (!(r = pg_wquery(st, W_RECORD_ATTEMPT, &p)))
		return pg_stmt_fail(st, err, errlen);
	PQclear(r);
	if (a->release && a->state < HKD_STATE_SUCCEEDED)
		st->news |= NEWS_BIT(HKD_STORE_NEWS_WORK); /* a parked retry */
	return HKD_STORE_OK;
}

/* Push this node's leases lease_ms ahead. */
static int job_renew(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct params p = {.n = 0};
	PGresult *r;
	(void)argp;
	p_str(&p, st->node);
	p_int(&p, hkd_now_ms() + st->lease_ms);
	if (!(r = pg_wquery(st, W_RENEW, &p)))
		return pg_stmt_fail(st, err, errlen);
	PQclear(r);
	return HKD_STORE_OK;
}

/* --- the writer's batch ---------------------------------------------- */

/* NOTIFY the channels of st->news, signed with this node's id (its own
 * listener ignores them), inside the batch's transaction: they are heard
 * once it committed, and never when it did not. 0, or -1. */
static int send_news(struct pg_store *st, char *err, size_t errlen)
{
	char sql[96];
	for (size_t i = 0; i < HKD_ARRAY_LEN(news_channel); i++) {
		if (!(st->news & NEWS_BIT(i)))
			continue;
		snprintf(sql, sizeof(sql), "NOTIFY %s, '%s'", news_channel[i],
		         st->node);
		if (pg_exec_sql(st->wc, sql, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/*
 * Run the jobs of `batch` in one transaction, each in its own savepoint
 * so a job that fails leaves the others in; reconnect first when the
 * connection broke. Sets every job's rc; 0, or -1 when the batch as a
 * whole was lost (no connection, or the commit failed).
 */
static int run_batch(void *backend, struct hkd_job *batch)
{
	struct pg_store *st = backend;
	char err[256] = "";
	int64_t t0 = hkd_mono_us();
	size_t n = 0;
	int lost = 0;

	if (pg_writer_conn(st, err, sizeof(err)) != 0) {
		lost = 1;
		goto done;
	}
	if (pg_exec_sql(st->wc, "BEGIN", err, sizeof(err)) != 0) {
		lost = 1;
		goto done;
	}
	for (struct hkd_job *j = batch; j; j = j->next, n++) {
		if (pg_exec_sql(st->wc, "SAVEPOINT job", err, sizeof(err)) !=
		    0) {
			lost = 1;
			break;
		}
		j->rc = j->fn(st, j->arg, j->err, sizeof(j->err));
		if (j->rc == HKD_STORE_FAILED || j->rc == HKD_JOB_BROKEN ||
		    j->rc == HKD_STORE_DUPLICATE) {
			if (pg_exec_sql(st->wc, "ROLLBACK TO SAVEPOINT job",
			                err, sizeof(err)) != 0) {
				lost = 1;
				break;
			}
		}
		if (pg_exec_sql(st->wc, "RELEASE SAVEPOINT job", err,
		                sizeof(err)) != 0) {
			lost = 1;
			break;
		}
	}
	if (!lost && st->news && send_news(st, err, sizeof(err)) != 0)
		lost = 1;
	if (!lost && pg_exec_sql(st->wc, "COMMIT", err, sizeof(err)) != 0)
		lost = 1;
	if (lost && PQstatus(st->wc) == CONNECTION_OK)
		pg_exec_sql(st->wc, "ROLLBACK", NULL, 0);
done:
	st->news = 0;
	if (lost)
		for (struct hkd_job *j = batch; j; j = j->next) {
			j->rc = HKD_STORE_FAILED;
			hkd_strlcpy(j->err, err, sizeof(j->err));
		}
	hkd_metrics_commit(n, hkd_mono_us() - t0, !lost);
	return lost ? -1 : 0;
}

/*
 * The writer's idle task (see struct hkd_writer): delete finished events
 * past their retention, a chunk per statement; one with step set, else
 * until done or a job waits. 1 when work is left; the events purged are
 * added to *done.
 */
static int purge(void *backend, int step, long long *done)
{
	struct pg_store *st = backend;
	int64_t now = hkd_now_ms();
	int more = 0;
	char err[256];

	if (pg_writer_conn(st, err, sizeof(err)) != 0)
		return 0;
	if (!step) { /* the audit records past keep_dead */
		struct params p = {.n = 0};
		PGresult *r;
		p_int(&p, now - st->opt.keep_dead_ms);
		r = pg_query(st->wc, "DELETE FROM audit WHERE at < $1", &p);
		if (!r)
			hkd_log_kv(HOOKD_LOG_WARN, "store", "detail",
			           "audit purge failed", "reason",
			           pg_conn_err(st->wc), NULL);
		PQclear(r);
	}
	do {
		struct params p = {.n = 0};
		PGresult *r;
		long long n;
		p_int(&p, now - st->opt.keep_succeeded_ms);
		p_int(&p, now - st->opt.keep_dead_ms);
		p_int(&p, PURGE_CHUNK);
		/* Succeeded-only events past keep_succeeded, and events with
		 * dead deliveries past keep_dead; never one with work left. */
		r = pg_query(
		    st->wc,
		    "WITH p AS (SELECT e.seq FROM events e WHERE "
		    "e.created_at < greatest($1::bigint, $2::bigint) "
		    "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE "
		    "d.event_seq = e.seq AND d.state < 2) "
		    "AND e.created_at < CASE WHEN EXISTS (SELECT 1 FROM "
		    "deliveries d "
		    "  WHERE d.event_seq = e.seq AND d.state = 3) THEN "
		    "$2::bigint ELSE $1::bigint END "
		    "LIMIT $3), "
		    "a AS (DELETE FROM attempts WHERE delivery_seq IN "
		    "  (SELECT d.seq FROM deliveries d JOIN p ON "
		    "d.event_seq = p.seq)), "
		    "d AS (DELETE FROM deliveries WHERE event_seq IN "
		    "(SELECT seq FROM p)) "
		    "DELETE FROM events WHERE seq IN (SELECT seq FROM p)",
		    &p);
		if (!r) {
			hkd_set_err(err, sizeof(err), "%s",
			            pg_conn_err(st->wc));
			pg_chomp(err);
			hkd_log_kv(HOOKD_LOG_WARN, "store", "detail",
			           "purge failed", "reason", err, NULL);
			more = 0; /* try again at the next interval */
			break;
		}
		n = strtoll(PQcmdTuples(r), NULL, 10);
		PQclear(r);
		*done += n;
		more = n == PURGE_CHUNK;
	} while (more && !step && !hkd_writer_pending(&st->w));
	return more;
}

/* --- lease renewal ---------------------------------------------------- */

static void *renewer_main(void *arg)
{
	struct pg_store *st = arg;
	pthread_mutex_lock(&st->renew_lock);
	while (!st->renew_stop) {
		struct timespec ts;
		char err[256];
		hkd_deadline(CLOCK_REALTIME, st->lease_ms / 3, &ts);
		pthread_cond_timedwait(&st->renew_cond, &st->renew_lock, &ts);
		if (st->renew_stop)
			break;
		pthread_mutex_unlock(&st->renew_lock);
		/* A failure is the writer's to report; the next round retries.
		 */
		hkd_writer_run(&st->w, job_renew, NULL, err, sizeof(err));
		pthread_mutex_lock(&st->renew_lock);
	}
	pthread_mutex_unlock(&st->renew_lock);
	return NULL;
}

/* --- news from the other nodes ---------------------------------------- */

/* Wait up to ms for the socket fd to be readable (-1: none) or for a
 * stop. 1 when stopping, else 0. */
static int listener_wait(struct pg_store *st, int fd, int ms)
{
	struct pollfd p[2] = {{.fd = st->wake[0], .events = POLLIN},
	                      {.fd = fd, .events = POLLIN}};
	poll(p, fd >= 0 ? 2 : 1, ms);
	return (p[0].revents & POLLIN) != 0;
}

/* A connection listening on every news channel, or NULL (why in err). */
static PGconn *listen_connect(struct pg_store *st, char *err, size_t errlen)
{
	PGconn *c = pg_connect(st->url, err, errlen);
	char sql[64];
	for (size_t i = 0; c && i < HKD_ARRAY_LEN(news_channel); i++) {
		snprintf(sql, sizeof(sql), "LISTEN %s", news_channel[i]);
		if (pg_exec_sql(c, sql, err, errlen) != 0) {
			PQfinish(c);
			c = NULL;
		}
	}
	return c;
}

/* Hand every notification c received to opt.news, but this node's own. */
static void pass_news(struct pg_store *st, PGconn *c)
{
	PGnotify *n;
	while ((n = PQnotifies(c))) {
		for (size_t i = 0; i < HKD_ARRAY_LEN(news_channel); i++)
			if (strcmp(n->relname, news_channel[i]) == 0 &&
			    strcmp(n->extra, st->node) != 0)
				st->opt.news(st->opt.news_arg,
				             (enum hkd_store_news)i);
		PQfreemem(n);
	}
}

/*
 * The listener thread: keeps a connection LISTENing (connecting again by
 * itself, with a growing pause) and passes what it hears on. Each time it
 * starts listening it reports every kind of news, since some may have
 * been sent while it was not.
 */
static void *listener_main(void *arg)
{
	struct pg_store *st = arg;
	int backoff = LISTEN_BACKOFF_MIN_MS, was_lost = 0;
	PGconn *c = NULL;
	char err[256];

	for (;;) {
		if (!c) {
			if (!(c = listen_connect(st, err, sizeof(err)))) {
				if (!was_lost)
					hkd_log_kv(HOOKD_LOG_WARN, "store",
					           "detail",
					           "not hearing from the other "
					           "nodes until reconnected",
					           "reason", err, NULL);
				was_lost = 1;
				if (listener_wait(st, -1, backoff))
					break;
				backoff = backoff * 2 < LISTEN_BACKOFF_MAX_MS
				              ? backoff * 2
				              : LISTEN_BACKOFF_MAX_MS;
				continue;
			}
			backoff = LISTEN_BACKOFF_MIN_MS;
			was_lost = 0;
			for (size_t i = 0; i < HKD_ARRAY_LEN(news_channel); i++)
				st->opt.news(st->opt.news_arg,
				             (enum hkd_store_news)i);
		}
		if (listener_wait(st, PQsocket(c), -1))
			break;
		if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
			/* Lost (pg_connect's keepalives notice a dead server).
			 */
			PQfinish(c);
			c = NULL;
			if (listener_wait(st, -1, LISTEN_BACKOFF_MIN_MS))
				break;
			continue;
		}
		pass_news(st, c);
	}
	PQfinish(c);
	return NULL;
}

/* --- open and close -------------------------------------------------- */

static const struct hkd_store_ops pg_ops;

static void make_node_id(char *buf, size_t len)
{
	unsigned char r[8];
	static const char hex[] = "0123456789abcdef";
	size_t k = 0;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t v =
		    (uint64_t)hkd_now_ms() ^ ((uint64_t)getpid() << 32);
		memcpy(r, &v, sizeof(r));
	}
	for (size_t i = 0; i < sizeof(r) && k + 2 < len; i++) {
		buf[k++] = hex[r[i] >> 4];
		buf[k++] = hex[r[i] & 15];
	}
	buf[k] = '\0';
}

static void pg_free(struct pg_store *st)
{
	PQfinish(st->wc);
	for (int i = 0; st->pool && i < st->pool_size; i++)
		PQfinish(st->pool[i].c);
	free(st->pool);
	for (int i = 0; i < 2; i++)
		if (st->wake[i] >= 0)
			close(st->wake[i]);
	pthread_mutex_destroy(&st->plock);
	pthread_cond_destroy(&st->pcond);
	pthread_mutex_destroy(&st->renew_lock);
	pthread_cond_destroy(&st->renew_cond);
	free(st->url);
	free(st);
}

/* Stop the listener, the renewal thread and the writer (writing what is
 * queued), those of them that run. */
static void pg_stop_threads(struct pg_store *st)
{
	if (st->listen_started) {
		ssize_t n = write(st->wake[1], "x", 1);
		(void)n;
		pthread_join(st->listener, NULL);
		st->listen_started = 0;
	}
	if (st->renew_started) {
		pthread_mutex_lock(&st->renew_lock);
		st->renew_stop = 1;
		pthread_cond_signal(&st->renew_cond);
		pthread_mutex_unlock(&st->renew_lock);
		pthread_join(st->renewer, NULL);
		st->renew_started = 0;
	}
	hkd_writer_stop(&st->w);
}

struct hkd_store *hkd_store_pg_open(const struct hkd_store_options *o,
                                    char *err, size_t errlen)
{
	struct pg_store *st = calloc(1, sizeof(*st));
	pthread_condattr_t ca;
	if (!st || !(st->url = strdup(o->url))) {
		free(st);
		hkd_set_err(err, errlen, "out of memory");
		return NULL;
	}
	st->base.ops = &pg_ops;
	st->base.writer = &st->w;
	st->wake[0] = st->wake[1] = -1;
	st->opt = *o;
	st->lease_ms = o->lease_ms > 0 ? o->lease_ms : LEASE_DEFAULT_MS;
	make_node_id(st->node, sizeof(st->node));
	st->pool_size = o->pool_size <= 0         ? POOL_DEFAULT
	                : o->pool_size > POOL_MAX ? POOL_MAX
	                                          : o->pool_size;
	st->pool_wait_ms =
	    o->pool_wait_ms > 0 ? o->pool_wait_ms : POOL_WAIT_DEFAULT_MS;
	st->pool = calloc((size_t)st->pool_size, sizeof(*st->pool));
	pthread_mutex_init(&st->plock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->pcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&st->renew_lock, NULL);
	pthread_cond_init(&st->renew_cond, NULL);
	if (!st->pool) {
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (!(st->wc = pg_connect(st->url, err, errlen)) ||
	    migrate(st->wc, err, errlen) != 0)
		goto fail;
	st->w.backend = st;
	st->w.run_batch = run_batch;
	st->w.idle = purge;
	st->w.idle_ms = o->purge_interval_ms > 0 ? o->purge_interval_ms : 60000;
	if (hkd_writer_start(&st->w, err, errlen) != 0)
		goto fail;
	if (pthread_create(&st->renewer, NULL, renewer_main, st) != 0) {
		hkd_set_err(err, errlen,
		            "cannot start the lease renewal thread");
		hkd_writer_stop(&st->w);
		goto fail;
	}
	st->renew_started = 1;
	if (o->news) {
		if (pipe2(st->wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
		    pthread_create(&st->listener, NULL, listener_main, st) !=
		        0) {
			hkd_set_err(err, errlen,
			            "cannot start the listener thread");
			pg_stop_threads(st);
			goto fail;
		}
		st->listen_started = 1;
	}
	{
		char lease[24], pool[16];
		snprintf(lease, sizeof(lease), "%lld",
		         (long long)(st->lease_ms / 1000));
		snprintf(pool, sizeof(pool), "%d", st->pool_size);
		hkd_log_kv(HOOKD_LOG_INFO, "store", "backend", "postgresql",
		           "node", st->node, "lease_seconds", lease,
		           "pool_size", pool, NULL);
	}
	return &st->base;
fail:
	pg_free(st);
	return NULL;
}

static void pg_close(struct hkd_store *base)
{
	struct pg_store *st = (struct pg_store *)base;
	pg_stop_threads(st);
	pg_free(st);
}

/* --- writes ---------------------------------------------------------- */

/* --- reading deliveries back ----------------------------------------- */

/* Fill d from row i of STORED_COLUMNS; 0, or -1 (out of memory). */
int pg_stored_from_row(const PGresult *r, int i, struct hkd_stored_delivery *d)
{
	json_error_t jerr;
	json_t *sched;
	memset(d, 0, sizeof(*d));
	hkd_strlcpy(d->id, val(r, i, 0), sizeof(d->id));
	d->target = strdup(val(r, i, 1));
	d->attempts = (unsigned)val_int(r, i, 2);
	d->base = (unsigned)val_int(r, i, 3);
	d->next_at_ms = val_int(r, i, 5);
	d->event = hkd_event_rec_new(val(r, i, 6), val(r, i, 7), val(r, i, 8),
	                             val(r, i, 9), val(r, i, 10));
	sched = json_loads(val(r, i, 4), 0, &jerr);
	d->n_retry = json_is_array(sched) ? json_array_size(sched) : 0;
	d->retry_ms = calloc(d->n_retry + 1, sizeof(int64_t));
	for (size_t k = 0; d->retry_ms && k < d->n_retry; k++)
		d->retry_ms[k] = json_integer_value(json_array_get(sched, k));
	json_decref(sched);
	if (!d->target || !d->event || !d->retry_ms) {
		hkd_stored_delivery_release(d);
		return -1;
	}
	return 0;
}

/* --- leases ------------------------------------------------------------ */

/* On the writer: the one number of `sql` (a count) into *out. */
static int pg_count(struct hkd_store *base, const char *sql, long long *out,
                    char *err, size_t errlen)
{
	struct pg_store *st = (struct pg_store *)base;
	PGresult *r = pg_query(st->wc, sql, NULL);
	if (!r)
		return pg_stmt_fail(st, err, errlen);
	*out = val_int(r, 0, 0);
	PQclear(r);
	return HKD_STORE_OK;
}

/* Runs on the writer: give up this node's leases (never another's). */
static int job_release_all(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct params p = {.n = 0};
	PGresult *r;
	p_str(&p, st->node);
	r = pg_query(
	    st->wc,
	    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL "
	    "WHERE state < 2 AND lease_owner = $1",
	    &p);
	if (!r)
		return pg_stmt_fail(st, err, errlen);
	if (strcmp(PQcmdTuples(r), "0") != 0)
		st->news |= NEWS_BIT(HKD_STORE_NEWS_WORK);
	PQclear(r);
	return pg_count(backend, HKD_SQL_COUNT_UNFINISHED, argp, err, errlen);
}

/*
 * Runs on the writer: lease up to max deliveries that are due and that no
 * live lease holds (parked ones, and those of a node whose lease ran
 * out), oldest due first. Rows another node is claiming are skipped.
 */
static int job_claim(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct hkd_claim_arg *a = argp;
	struct params p = {.n = 0};
	PGresult *r;

	hkd_store_drop_rows(a->out, &a->n_out);
	p_str(&p, st->node);
	p_int(&p, a->now);
	p_int(&p, a->now + st->lease_ms);
	p_int(&p, (int64_t)a->max);
	r = pg_query(
	    st->wc,
	    "UPDATE deliveries d SET lease_owner = $1, lease_until = $3 "
	    "FROM events e WHERE e.seq = d.event_seq AND d.seq IN ("
	    "  SELECT seq FROM deliveries WHERE state < 2 "
	    "  AND (lease_owner IS NULL OR lease_until < $2) AND next_at <= $2 "
	    "  ORDER BY next_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED) "
	    "RETURNING " STORED_COLUMNS,
	    &p);
	if (!r)
		return pg_stmt_fail(st, err, errlen);
	for (int i = 0; i < PQntuples(r) && a->n_out < a->max; i++) {
		if (pg_stored_from_row(r, i, &a->out[a->n_out]) != 0) {
			PQclear(r);
			hkd_store_drop_rows(a->out, &a->n_out);
			hkd_set_err(err, errlen, "out of memory");
			return HKD_JOB_BROKEN;
		}
		a->n_out++;
	}
	PQclear(r);
	p.n = 0;
	p_int(&p, a->now);
	r = pg_query(st->wc,
	             "SELECT min(next_at) FROM deliveries WHERE state < 2 "
	             "AND (lease_owner IS NULL OR lease_until < $1)",
	             &p);
	if (!r) {
		hkd_store_drop_rows(a->out, &a->n_out);
		return pg_stmt_fail(st, err, errlen);
	}
	a->next_at = PQgetisnull(r, 0, 0) ? -1 : val_int(r, 0, 0);
	PQclear(r);
	return HKD_STORE_OK;
}

/* Runs on the writer: dead → pending (leased here), schedule restarted. */
static int job_replay(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct hkd_replay_arg *a = argp;
	struct params p = {.n = 0};
	PGresult *r, *u;
	int64_t now = hkd_now_ms();
	int rc = HKD_STORE_OK;

	hkd_store_drop_rows(a->out, &a->n_out);
	a->left = 0;
	if (a->id) {
		p_str(&p, a->id);
		r = pg_query(
		    st->wc,
		    "SELECT " STORED_COLUMNS ", d.state FROM deliveries d "
		    "JOIN events e ON e.seq = d.event_seq WHERE d.id = "
		    "$1 FOR UPDATE OF d",
		    &p);
	} else {
		p_str(&p, a->target);
		r = pg_query(
		    st->wc,
		    "SELECT " STORED_COLUMNS ", d.state FROM deliveries d "
		    "JOIN events e ON e.seq = d.event_seq WHERE d.state = 3 "
		    "AND ($1::text IS NULL OR d.target = $1) ORDER BY d.seq "
		    "FOR UPDATE OF d",
		    &p);
	}
	if (!r)
		return pg_stmt_fail(st, err, errlen);
	for (int i = 0; i < PQntuples(r); i++) {
		struct hkd_stored_delivery *d;
		if (a->type_glob && !hkd_glob_match(a->type_glob, val(r, i, 7)))
			continue;
		if (val_int(r, i, 11) != HKD_STATE_DEAD) {
			a->state = (int)val_int(r, i, 11);
			rc = HKD_STORE_CONFLICT;
			break;
		}
		if (a->n_out >= a->max) {
			a->left++;
			continue;
		}
		p.n = 0;
		p_int(&p, now);
		p_str(&p, val(r, i, 0));
		p_str(&p, st->node);
		p_int(&p, now + st->lease_ms);
		u = pg_query(
		    st->wc,
		    "UPDATE deliveries SET state = 0, base = attempts, "
		    "next_at = $1, "
		    "updated_at = $1, lease_owner = $3, lease_until = $4 "
		    "WHERE id = $2 AND state = 3",
		    &p);
		if (!u) {
			rc = pg_stmt_fail(st, err, errlen);
			break;
		}
		PQclear(u);
		d = &a->out[a->n_out];
		if (pg_stored_from_row(r, i, d) != 0) {
			hkd_set_err(err, errlen, "out of memory");
			rc = HKD_STORE_FAILED;
			break;
		}
		/* The row was read before the update: apply it. */
		d->base = d->attempts;
		d->next_at_ms = now;
		a->n_out++;
	}
	PQclear(r);
	if (rc == HKD_STORE_OK && a->id && a->n_out == 0)
		rc = HKD_STORE_NOT_FOUND;
	if (rc != HKD_STORE_OK && rc != HKD_STORE_NOT_FOUND)
		hkd_store_drop_rows(a->out, &a->n_out);
	return rc;
}

/* --- subscriptions --------------------------------------------------- */

static int job_sub(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct hkd_sub_arg *a = argp;
	struct params p = {.n = 0};
	PGresult *r;
	int rc;
	p_str(&p, a->id);
	if (a->body) {
		p_str(&p, a->body);
		p_int(&p, hkd_now_ms());
		r = pg_query(
		    st->wc,
		    "INSERT INTO subscriptions(id, body, created_at, "
		    "updated_at) "
		    "VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO UPDATE SET "
		    "body = excluded.body, updated_at = excluded.updated_at",
		    &p);
	} else {
		r = pg_query(st->wc, "DELETE FROM subscriptions WHERE id = $1",
		             &p);
	}
	if (!r)
		return pg_stmt_fail(st, err, errlen);
	rc = !a->body && strcmp(PQcmdTuples(r), "0") == 0 ? HKD_STORE_NOT_FOUND
	                                                  : HKD_STORE_OK;
	PQclear(r);
	if (rc == HKD_STORE_OK)
		st->news |= NEWS_BIT(HKD_STORE_NEWS_SUBS);
	return rc;
}

static int pg_sub_load(struct hkd_store *base,
                       void (*visit)(void *arg, const json_t *doc), void *arg)
{
	struct pg_store *st = (struct pg_store *)base;
	struct rconn *rc;
	char err[256];
	PGresult *r = pg_read_rows(st, &rc, R_SUBS, NULL, err, sizeof(err));
	int res = -1;
	for (int i = 0; r && i < PQntuples(r); i++) {
		json_error_t jerr;
		json_t *doc = json_loads(val(r, i, 0), 0, &jerr);
		if (doc)
			visit(arg, doc);
		json_decref(doc);
	}
	if (r)
		res = 0;
	PQclear(r);
	if (rc)
		pg_pool_put(st, rc);
	return res;
}

static const struct hkd_store_ops pg_ops = {
    .close = pg_close,
    .put = job_put,
    .record = job_record,
    .release_all = job_release_all,
    .count = pg_count,
    .audit_write = pg_job_audit,
    .read_audit = pg_read_audit,
    .claim = job_claim,
    .replay = job_replay,
    .sub_write = job_sub,
    .recover = pg_recover,
    .read_event = pg_read_event,
    .read_deliveries = pg_read_deliveries,
    .sub_load = pg_sub_load,
    .shared = 1,
};
