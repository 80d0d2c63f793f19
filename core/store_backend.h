/*
 * What a store backend provides (see store.h, whose functions store.c
 * forwards here). A backend's own struct starts with `struct hkd_store`,
 * so the handle it returns from its open function is its address.
 *
 * The functions have the meaning, ownership and thread rules of the
 * store.h function of the same name; a backend sets the handle's writer
 * before it returns it.
 */
#ifndef HKD_STORE_BACKEND_H
#define HKD_STORE_BACKEND_H

#include <stdatomic.h>

#include "seal.h"
#include "store.h"
#include "store_writer.h"

/* The arguments of the writer jobs below. */
struct hkd_put_arg {
	const struct hkd_event_rec *ev;
	const struct hkd_new_delivery *d;
	size_t n;
};

struct hkd_claim_arg {
	size_t max;
	int64_t now;                     /* wall ms */
	struct hkd_stored_delivery *out; /* room for max */
	size_t n_out;
	int64_t next_at; /* earliest claimable delivery left, or -1 */
};

struct hkd_replay_arg {
	const char *id;        /* one delivery, or NULL for bulk */
	const char *target;    /* bulk filter */
	const char *type_glob; /* bulk filter */
	size_t max;
	struct hkd_stored_delivery *out; /* room for max */
	size_t n_out;
	size_t left;
	int state; /* one delivery: its state when not dead */
};

struct hkd_sub_arg {
	const char *id;
	const char *body; /* NULL: delete */
};

/* What the audit_write job stores: a record and its time (wall ms). */
struct hkd_audit_arg {
	const struct hkd_audit_rec *rec;
	int64_t at;
};

/* The counts every backend takes, in the SQL both understand. */
#define HKD_SQL_COUNT_UNFINISHED                                               \
	"SELECT count(*) FROM deliveries WHERE state < 2"
#define HKD_SQL_COUNT_DEAD "SELECT count(*) FROM deliveries WHERE state = 3"

/*
 * Writes are jobs the backend's writer (store_writer.h) runs in its
 * batches; store.c makes the arguments, runs them and hands out what they
 * read back. A job that reads rows back starts by dropping what an
 * earlier run of it left in out (a batch run again job by job).
 */
struct hkd_store_ops {
	void (*close)(struct hkd_store *st);
	hkd_job_fn put;         /* struct hkd_put_arg */
	hkd_job_fn record;      /* struct hkd_attempt_rec */
	hkd_job_fn release_all; /* long long *: unfinished deliveries after */
	hkd_job_fn claim;       /* struct hkd_claim_arg */
	hkd_job_fn replay;      /* struct hkd_replay_arg: dead → pending */
	hkd_job_fn sub_write;   /* struct hkd_sub_arg */
	hkd_job_fn audit_write; /* struct hkd_audit_arg */
	/* On the writer: the one number a query (HKD_SQL_COUNT_*) gives. */
	int (*count)(struct hkd_store *st, const char *sql, long long *out,
	             char *err, size_t errlen);
	/* Reads, on the caller's thread. */
	int (*recover)(struct hkd_store *st, hkd_store_visit_fn visit,
	               void *arg);
	int (*read_event)(struct hkd_store *st, const char *id,
	                  const struct hkd_log_reader *r);
	int (*read_deliveries)(struct hkd_store *st,
	                       const struct hkd_delivery_filter *f,
	                       const struct hkd_log_reader *r);
	int (*read_audit)(struct hkd_store *st, size_t limit,
	                  int64_t before_seq, const struct hkd_log_reader *r);
	int (*sub_load)(struct hkd_store *st,
	                void (*visit)(void *arg, const json_t *doc), void *arg);
	int shared; /* other processes use the same queue: see
	               hkd_store_is_shared */
};

struct hkd_store {
	const struct hkd_store_ops *ops;
	struct hkd_writer *writer; /* the backend's; runs the jobs of ops */
	/* hkd_store_dead_gauge's cache, zero at open (calloc): the last count
	 * (-1 before one), when the writer took it (monotonic ms; 0: never),
	 * and whether a count is queued. Any thread reads; the writer sets. */
	_Atomic long long dead_gauge;
	_Atomic int64_t dead_gauge_at;
	atomic_int dead_gauge_queued;
	/* Seals subscription secrets at rest (seal.h); set by hkd_store_open.
	 */
	unsigned char seal_key[HKD_SEAL_KEY_LEN];
};

/* Helpers for the backends. */

/* Free the n rows of rows (not the array) and set n to 0. */
void hkd_store_drop_rows(struct hkd_stored_delivery *rows, size_t *n);
/* A retry schedule as the JSON text stored. Caller owns: free. */
char *hkd_store_schedule_json(const int64_t *ms, size_t n);
/* Log what opening did to the schema, found at version `from` (0: none)
 * and now at `to`: created, migrated, or nothing when it was current. */
void hkd_store_log_schema(int from, int to);

/* "sqlite:PATH" and "memory:" (store_sqlite.c). */
struct hkd_store *hkd_store_sqlite_open(const struct hkd_store_options *o,
                                        char *err, size_t errlen);

#ifdef HKD_HAVE_PQ
/* "postgresql://…" and "postgres://…" (store_pg.c). */
struct hkd_store *hkd_store_pg_open(const struct hkd_store_options *o,
                                    char *err, size_t errlen);
#endif

#endif
