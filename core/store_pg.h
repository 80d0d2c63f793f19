/*
 * The PostgreSQL store's parts (store_pg.c: schema, writer jobs, leases,
 * news, open and close; store_pg_conn.c: connections, the writer's and
 * the readers' pool; store_pg_log.c: the API's reads and the audit job).
 * Private to them.
 */
#ifndef HKD_STORE_PG_H
#define HKD_STORE_PG_H
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "glob.h"
#include "log.h"
#include "metrics.h"
#include "store_backend.h"
#include "store_writer.h"
#include "util.h"

/* Bump with every schema change; migrate() brings older databases forward. */
#define SCHEMA_VERSION 2
/* Events purged per statement. A step of a purge runs between two
 * batches of writes, so this bounds how long the purge delays a commit. */
#define PURGE_CHUNK 100
/* The default lease when the options give none. */
#define LEASE_DEFAULT_MS 30000
/* Any constant: the advisory lock nodes take to migrate one at a time. */
#define MIGRATE_LOCK 0x686f6f6bLL
/* Most parameters of one statement. */
#define PARAMS_MAX 12
/* The readers' pool when the options give no size, and the most it may
 * have (storage.pool_size's range). */
#define POOL_DEFAULT 4
#define POOL_MAX     64
/* How long a read waits for a pooled connection when the options do not
 * say: as long as a connection attempt may take. */
#define POOL_WAIT_DEFAULT_MS 5000
/* The listener's pauses between connection attempts: doubling from the
 * first to the last. */
#define LISTEN_BACKOFF_MIN_MS 100
#define LISTEN_BACKOFF_MAX_MS 5000

/* The channels of the news (enum hkd_store_news), one bit each in
 * pg_store.news. */
#define NEWS_BIT(what) (1u << (what))

/*
 * The writer's statements, prepared once per connection (on first use
 * after each connect).
 */
enum wstmt {
	W_PUT_EVENT,
	W_PUT_DELIVERY,
	W_RECORD_STATE,
	W_RECORD_ATTEMPT,
	W_RENEW,
	W_COUNT
};

/* Columns: d.id, d.target, d.attempts, d.base, d.schedule, d.next_at,
 * e.id, e.type, e.source, e.timestamp, e.body */
#define STORED_COLUMNS                                                         \
	"d.id, d.target, d.attempts, d.base, d.schedule, d.next_at, "          \
	"e.id, e.type, e.source, e.\"timestamp\", e.body "

/* Columns: d.seq, d.id, e.id, e.type, d.target, d.state, d.attempts,
 * d.next_at, d.last_outcome, d.last_reason, d.created_at, d.updated_at */
#define DELIVERY_COLUMNS                                                       \
	"d.seq, d.id, e.id, e.type, d.target, d.state, d.attempts, "           \
	"d.next_at, "                                                          \
	"d.last_outcome, d.last_reason, d.created_at, d.updated_at "

/*
 * The readers' statements, prepared on each pooled connection on first
 * use after it connected.
 */
enum rstmt {
	R_RECOVER,
	R_EVENT,
	R_ATTEMPTS,
	R_DELIVERIES,
	R_SUBS,
	R_AUDIT,
	R_COUNT
};

/* One connection of the readers' pool. Under plock: busy; the rest is
 * the borrower's while busy. */
struct rconn {
	PGconn *c;         /* NULL until first used, and after it broke */
	unsigned prepared; /* bit r: rstmt r is prepared on c */
	int busy;          /* lent to a read */
};

struct pg_store {
	struct hkd_store base; /* first: the store.h handle */
	char *url;
	char node[24]; /* this process's lease owner */
	int64_t lease_ms;
	struct hkd_store_options opt;

	PGconn *wc;         /* the writer thread's */
	unsigned wprepared; /* bit w: wstmt w is prepared on wc */
	unsigned news;      /* the writer's: NEWS_BITs the batch will send */
	struct hkd_writer w;

	/* The readers' pool: any thread borrows with pool_get. */
	pthread_mutex_t plock;
	pthread_cond_t pcond; /* a connection was given back (monotonic) */
	struct rconn *pool;
	int pool_size;
	int64_t pool_wait_ms;

	/* The listener thread (when opt.news is set); wake[1] stops it. */
	int wake[2];
	int listen_started;
	pthread_t listener;

	/* The lease renewal thread. */
	pthread_mutex_t renew_lock;
	pthread_cond_t renew_cond;
	int renew_stop;
	int renew_started;
	pthread_t renewer;
};

/* Text parameters of one statement: NULL is SQL NULL. */
struct params {
	const char *v[PARAMS_MAX];
	char buf[PARAMS_MAX][24];
	int n;
};

static inline void p_str(struct params *p, const char *s)
{
	p->v[p->n++] = s;
}

static inline void p_int(struct params *p, int64_t v)
{
	snprintf(p->buf[p->n], sizeof(p->buf[0]), "%lld", (long long)v);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

/* Row i's column c as text ("" for NULL) and as an integer (0 for NULL). */
static inline const char *val(const PGresult *r, int i, int c)
{
	return PQgetvalue(r, i, c);
}

static inline int64_t val_int(const PGresult *r, int i, int c)
{
	return PQgetisnull(r, i, c) ? 0
	                            : strtoll(PQgetvalue(r, i, c), NULL, 10);
}

/* store_pg_conn.c */
void pg_chomp(char *s);
const char *pg_conn_err(const PGconn *c);
PGconn *pg_connect(const char *url, char *err, size_t errlen);
int pg_exec_sql(PGconn *c, const char *sql, char *err, size_t errlen);
PGresult *pg_query(PGconn *c, const char *sql, const struct params *p);
PGresult *pg_wquery(struct pg_store *st, enum wstmt w, const struct params *p);
int pg_writer_conn(struct pg_store *st, char *err, size_t errlen);
int pg_stmt_fail(struct pg_store *st, char *err, size_t errlen);
PGresult *pg_read_rows(struct pg_store *st, struct rconn **rc, enum rstmt s,
                       const struct params *p, char *err, size_t errlen);
PGresult *pg_read_query(struct pg_store *st, struct rconn *rc, enum rstmt s,
                        const struct params *p, char *err, size_t errlen);
void pg_pool_put(struct pg_store *st, struct rconn *rc);
int pg_recover(struct hkd_store *base, hkd_store_visit_fn visit, void *arg);

/* store_pg.c */
int pg_stored_from_row(const PGresult *r, int i, struct hkd_stored_delivery *d);

/* store_pg_log.c */
int pg_read_event(struct hkd_store *base, const char *id,
                  const struct hkd_log_reader *rd);
int pg_read_deliveries(struct hkd_store *base,
                       const struct hkd_delivery_filter *f,
                       const struct hkd_log_reader *rd);
int pg_read_audit(struct hkd_store *base, size_t limit, int64_t before_seq,
                  const struct hkd_log_reader *rd);
int pg_job_audit(void *backend, void *argp, char *err, size_t errlen);

#endif
