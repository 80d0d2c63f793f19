/*
 * The SQLite store's parts (store_sqlite.c: schema, writer jobs, open and
 * close; store_sqlite_log.c: the delivery log, events and the audit trail
 * as the API reads them). Private to them.
 */
#ifndef HKD_STORE_SQLITE_H
#define HKD_STORE_SQLITE_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "store_backend.h"
#include "store_writer.h"

/*
 * The writer's hot statements, prepared once (on first use) and kept:
 * parsing SQL again for every event and every savepoint costs more than
 * running it.
 */
enum wstmt {
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_SAVEPOINT,
	W_RELEASE,
	W_ROLLBACK_TO,
	W_PUT_EVENT,
	W_PUT_DELIVERY,
	W_DELIVERY_SEQ,
	W_RECORD_STATE,
	W_RECORD_ATTEMPT,
	W_COUNT
};

struct sq_store {
	struct hkd_store base; /* first: the store.h handle */
	char *path;            /* file path, or NULL for memory */
	sqlite3 *db;           /* writer's */
	sqlite3 *rdb;          /* readers' (== db for memory) */
	pthread_mutex_t wlock; /* held by the writer while it uses db */
	pthread_mutex_t rlock_own;
	pthread_mutex_t *rlock; /* guards rdb: &rlock_own, or &wlock */

	struct hkd_writer w; /* runs the jobs below in batches */

	struct hkd_store_options opt;
	sqlite3_stmt *ws[W_COUNT]; /* on db, under wlock; see wstmt */
};

/* Column i as text, "" for NULL. */
const char *sq_col(sqlite3_stmt *q, int i);
/* A failed statement on the writer: its message in err; the job's rc. */
int sq_stmt_fail(struct sq_store *st, char *err, size_t errlen);
/* A writer job's end: its statement q (NULL: none) finalized when the job
 * prepared it (own), else reset (a cached one); rc, or for
 * HKD_STORE_FAILED what sq_stmt_fail makes of the failure. */
int sq_job_end(struct sq_store *st, sqlite3_stmt *q, int own, int rc, char *err,
               size_t errlen);

/* store_sqlite_log.c: the reads of the delivery log and the audit trail,
 * and the audit job. */
int sq_read_event(struct hkd_store *base, const char *id,
                  const struct hkd_log_reader *r);
int sq_read_deliveries(struct hkd_store *base,
                       const struct hkd_delivery_filter *f,
                       const struct hkd_log_reader *r);
int sq_read_audit(struct hkd_store *base, size_t limit, int64_t before_seq,
                  const struct hkd_log_reader *r);
int sq_job_audit(void *backend, void *argp, char *err, size_t errlen);

#endif
