/*
 * The PostgreSQL store's connections: opening one, the writer's (with its
 * prepared statements) and the readers' pool, whose first read is the
 * recovery of unfinished deliveries at start.
 */
#include "store_pg.h"

static const char *const wstmt_sql[W_COUNT] = {
    [W_PUT_EVENT] =
        "INSERT INTO events(id, type, source, \"timestamp\", created_at, body) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING "
        "seq",
    [W_PUT_DELIVERY] = "INSERT INTO deliveries(id, event_seq, target, state, "
                       "schedule, next_at, "
                       "created_at, updated_at, lease_owner, lease_until) "
                       "VALUES ($1, $2, $3, 0, $4, $5, $5, $5, $6, $7)",
    /* A result releases the lease only when it is still this node's: a
     * delivery another node took over stays with that node. */
    [W_RECORD_STATE] =
        "UPDATE deliveries SET state = $1, attempts = greatest(attempts, $2), "
        "next_at = $3, last_outcome = $4, last_reason = $5, updated_at = $6, "
        "lease_owner = CASE WHEN $8 AND lease_owner = $9 THEN NULL ELSE "
        "lease_owner END, "
        "lease_until = CASE WHEN $8 AND lease_owner = $9 THEN NULL ELSE "
        "lease_until END "
        "WHERE id = $7 RETURNING seq",
    [W_RECORD_ATTEMPT] =
        "INSERT INTO attempts(delivery_seq, number, started_at, duration_us, "
        "outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    [W_RENEW] = "UPDATE deliveries SET lease_until = $2 WHERE lease_owner = $1 "
                "AND state < 2",
};

static const char *const rstmt_sql[R_COUNT] = {
    [R_RECOVER] = "SELECT " STORED_COLUMNS "FROM deliveries d "
                  "JOIN events e ON e.seq = d.event_seq "
                  "WHERE d.state IN (0, 1) ORDER BY d.next_at, d.seq",
    [R_EVENT] = "SELECT e.body, " DELIVERY_COLUMNS "FROM events e "
                "LEFT JOIN deliveries d ON d.event_seq = e.seq "
                "WHERE e.id = $1 ORDER BY d.seq",
    [R_ATTEMPTS] = "SELECT number, started_at, duration_us, outcome, detail "
                   "FROM attempts WHERE delivery_seq = $1 ORDER BY seq",
    [R_DELIVERIES] =
        "SELECT " DELIVERY_COLUMNS "FROM deliveries d JOIN events e "
        "ON e.seq = d.event_seq WHERE ($1::integer < 0 OR d.state = $1) "
        "AND ($2::text IS NULL OR d.target = $2) "
        "AND ($3::text IS NULL OR e.id = $3) "
        "AND ($4::bigint = 0 OR d.seq < $4) ORDER BY d.seq DESC LIMIT $5",
    [R_SUBS] = "SELECT body FROM subscriptions ORDER BY seq",
    [R_AUDIT] = "SELECT seq, at, key_id, action, target, detail FROM audit "
                "WHERE ($1::bigint = 0 OR seq < $1) ORDER BY seq DESC LIMIT $2",
};

/* --- connections ----------------------------------------------------- */

/* Drop the newline libpq ends its messages with. */
void pg_chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The message of c's last failure, one line. */
const char *pg_conn_err(const PGconn *c)
{
	const char *m = c ? PQerrorMessage(c) : "no connection";
	return m && *m ? m : "connection failed";
}

/*
 * A connection to url, or NULL with why in err. Caller owns: PQfinish.
 * Unless the URL says otherwise, a connection attempt gives up after 5 s
 * and a server that stops answering is noticed within about 10 s (TCP
 * user timeout, keepalives), so a lost database means 503s, not callers
 * stuck for minutes.
 */
PGconn *pg_connect(const char *url, char *err, size_t errlen)
{
	/* Keywords before dbname are defaults the URL may override. */
	static const char *const keys[] = {"connect_timeout",
	                                   "tcp_user_timeout",
	                                   "keepalives_idle",
	                                   "keepalives_interval",
	                                   "keepalives_count",
	                                   "dbname",
	                                   NULL};
	const char *vals[] = {"5", "10000", "10", "2", "3", url, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		hkd_set_err(err, errlen, "cannot connect to PostgreSQL: %s",
		            pg_conn_err(c));
		pg_chomp(err);
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	return c;
}

/* Make *c usable: connect when there is none or it broke. 0, or -1. */
static int ensure_conn(const char *url, PGconn **c, char *err, size_t errlen)
{
	if (*c && PQstatus(*c) == CONNECTION_OK)
		return 0;
	PQfinish(*c);
	*c = pg_connect(url, err, errlen);
	return *c ? 0 : -1;
}

/* Run sql (no parameters, no rows wanted). 0, or -1 with why in err. */
int pg_exec_sql(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(c, sql);
	int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK ||
	               PQresultStatus(r) == PGRES_TUPLES_OK);
	if (!ok) {
		hkd_set_err(err, errlen, "%s", pg_conn_err(c));
		pg_chomp(err);
	}
	PQclear(r);
	return ok ? 0 : -1;
}

/* The SQLSTATE of this thread's last failed pg_query ("" when unknown). */
static _Thread_local char last_state[6];

/* r when it succeeded, else NULL (r cleared, its SQLSTATE kept). */
static PGresult *result_ok(PGresult *r)
{
	const char *state;
	if (r && (PQresultStatus(r) == PGRES_TUPLES_OK ||
	          PQresultStatus(r) == PGRES_COMMAND_OK))
		return r;
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	hkd_strlcpy(last_state, state ? state : "", sizeof(last_state));
	PQclear(r);
	return NULL;
}

/* A query on c; NULL when it failed (why in c's error message). */
PGresult *pg_query(PGconn *c, const char *sql, const struct params *p)
{
	return result_ok(PQexecParams(c, sql, p ? p->n : 0, NULL,
	                              p ? p->v : NULL, NULL, NULL, 0));
}

/*
 * Statement `sql`, named `kind` + i on c, with parameters p (may be NULL):
 * prepared first unless bit i of *prepared says it is (the bits are c's).
 * NULL when it failed.
 */
static PGresult *prepared_query(PGconn *c, unsigned *prepared, char kind, int i,
                                const char *sql, const struct params *p)
{
	char name[8];
	PGresult *r;
	snprintf(name, sizeof(name), "%c%d", kind, i);
	if (!(*prepared & (1u << i))) {
		if (!(r = result_ok(PQprepare(c, name, sql, 0, NULL))))
			return NULL;
		PQclear(r);
		*prepared |= 1u << i;
	}
	return result_ok(PQexecPrepared(c, name, p ? p->n : 0, p ? p->v : NULL,
	                                NULL, NULL, 0));
}

/* The writer's statement w with parameters p; NULL when it failed. */
PGresult *pg_wquery(struct pg_store *st, enum wstmt w, const struct params *p)
{
	return prepared_query(st->wc, &st->wprepared, 'w', (int)w, wstmt_sql[w],
	                      p);
}

/*
 * Report the writer's last failure as the job's: HKD_STORE_FAILED when the
 * database or the connection failed (worth trying again), HKD_JOB_BROKEN
 * when the job itself can never succeed (a constraint, a bug).
 */
int pg_stmt_fail(struct pg_store *st, char *err, size_t errlen)
{
	hkd_set_err(err, errlen, "%s", pg_conn_err(st->wc));
	pg_chomp(err);
	if (PQstatus(st->wc) != CONNECTION_OK)
		return HKD_STORE_FAILED;
	/* SQLSTATE classes 22 (data), 23 (integrity) and 42 (syntax, access)
	 * are the request's; the others (resources, shutdown, deadlocks,
	 * connection) the server's. */
	if (strncmp(last_state, "22", 2) == 0 ||
	    strncmp(last_state, "23", 2) == 0 ||
	    strncmp(last_state, "42", 2) == 0)
		return HKD_JOB_BROKEN;
	return HKD_STORE_FAILED;
}

/* Make the writer's connection usable (its statements are prepared again
 * on a new one). 0, or -1 with why in err. */
int pg_writer_conn(struct pg_store *st, char *err, size_t errlen)
{
	if (st->wc && PQstatus(st->wc) == CONNECTION_OK)
		return 0;
	st->wprepared = 0;
	if (ensure_conn(st->url, &st->wc, err, errlen) != 0)
		return -1;
	hkd_log_kv(HOOKD_LOG_INFO, "store", "detail", "connected to PostgreSQL",
	           NULL);
	return 0;
}

/* --- the readers' pool ------------------------------------------------ */

/* Give back a connection pool_get lent; one that broke is dropped (the
 * next borrower of its slot opens a new one). */
void pg_pool_put(struct pg_store *st, struct rconn *rc)
{
	if (rc->c && PQstatus(rc->c) != CONNECTION_OK) {
		PQfinish(rc->c);
		rc->c = NULL;
		rc->prepared = 0;
	}
	pthread_mutex_lock(&st->plock);
	rc->busy = 0;
	pthread_cond_signal(&st->pcond);
	pthread_mutex_unlock(&st->plock);
}

/*
 * Borrow a pooled connection, connected: a free open one first, else a
 * free slot, which is connected now. Waits at most pool_wait_ms for one to
 * come free. NULL, with why in err, when none did or the connection
 * attempt failed. Give it back with pool_put.
 */
static struct rconn *pool_get(struct pg_store *st, char *err, size_t errlen)
{
	struct rconn *rc = NULL;
	struct timespec ts;
	int timed_out = 0;

	hkd_deadline(CLOCK_MONOTONIC, st->pool_wait_ms, &ts);
	pthread_mutex_lock(&st->plock);
	for (;;) {
		for (int i = 0; i < st->pool_size; i++) {
			struct rconn *c = &st->pool[i];
			if (!c->busy && (!rc || (c->c && !rc->c)))
				rc = c;
		}
		if (rc || timed_out)
			break;
		timed_out = pthread_cond_timedwait(&st->pcond, &st->plock,
		                                   &ts) == ETIMEDOUT;
	}
	if (rc)
		rc->busy = 1;
	pthread_mutex_unlock(&st->plock);
	if (!rc) {
		hkd_set_err(err, errlen,
		            "no PostgreSQL connection came free within %lld ms "
		            "(storage.pool_size = %d)",
		            (long long)st->pool_wait_ms, st->pool_size);
		return NULL;
	}
	if (!rc->c || PQstatus(rc->c) != CONNECTION_OK) {
		rc->prepared = 0;
		if (ensure_conn(st->url, &rc->c, err, errlen) != 0) {
			pg_pool_put(st, rc);
			return NULL;
		}
	}
	return rc;
}

/* Run the readers' statement s on rc; NULL when it failed. */
static PGresult *rc_query(struct rconn *rc, enum rstmt s,
                          const struct params *p)
{
	return prepared_query(rc->c, &rc->prepared, 'r', (int)s, rstmt_sql[s],
	                      p);
}

/*
 * The readers' statement s on rc, once more on a new connection when rc
 * turned out broken (the server restarted since its last use). NULL when
 * it failed, with why in err.
 */
PGresult *pg_read_query(struct pg_store *st, struct rconn *rc, enum rstmt s,
                        const struct params *p, char *err, size_t errlen)
{
	PGresult *r = rc_query(rc, s, p);
	if (!r && PQstatus(rc->c) != CONNECTION_OK) {
		rc->prepared = 0;
		if (ensure_conn(st->url, &rc->c, err, errlen) != 0)
			return NULL;
		r = rc_query(rc, s, p);
	}
	if (!r) {
		hkd_set_err(err, errlen, "%s", pg_conn_err(rc->c));
		pg_chomp(err);
	}
	return r;
}

/*
 * Borrow a connection and run s on it: its rows, or NULL (why in err).
 * *rcp is the connection to give back with pool_put, NULL when none was
 * lent.
 */
PGresult *pg_read_rows(struct pg_store *st, struct rconn **rcp, enum rstmt s,
                       const struct params *p, char *err, size_t errlen)
{
	if (!(*rcp = pool_get(st, err, errlen)))
		return NULL;
	return pg_read_query(st, *rcp, s, p, err, errlen);
}

int pg_recover(struct hkd_store *base, hkd_store_visit_fn visit, void *arg)
{
	struct pg_store *st = (struct pg_store *)base;
	struct rconn *rc;
	char err[256] = "";
	PGresult *r;
	int res = 0;
	r = pg_read_rows(st, &rc, R_RECOVER, NULL, err, sizeof(err));
	for (int i = 0; r && i < PQntuples(r); i++) {
		struct hkd_stored_delivery d;
		if (pg_stored_from_row(r, i, &d) != 0) {
			res = -1;
			break;
		}
		visit(arg, &d);
	}
	if (!r) {
		res = -1;
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
		           "recovery failed", "reason", err, NULL);
	}
	PQclear(r);
	if (rc)
		pg_pool_put(st, rc);
	return res;
}
