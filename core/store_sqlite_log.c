/*
 * The SQLite store's reads of the delivery log (an event with its
 * deliveries and attempts, the listing of deliveries) and of the audit
 * trail, handed out as views (store.h), with the job that writes the
 * audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite.h"
#include "util.h"

/* --- the delivery log ------------------------------------------------ */

/* Columns: d.seq, d.id, e.id, e.type, d.target, d.state, d.attempts,
 * d.next_at, d.last_outcome, d.last_reason, d.created_at, d.updated_at */
#define DELIVERY_COLUMNS                                                       \
	"d.seq, d.id, e.id, e.type, d.target, d.state, d.attempts, "           \
	"d.next_at, "                                                          \
	"d.last_outcome, d.last_reason, d.created_at, d.updated_at "

/* NULL for an SQL NULL (sq_col gives ""). */
static const char *col_or_null(sqlite3_stmt *q, int i)
{
	return sqlite3_column_type(q, i) == SQLITE_NULL ? NULL : sq_col(q, i);
}

/* A read in progress: the store (readers' connection, lock held) and the
 * reader its rows go to. */
struct reading {
	struct sq_store *st;
	const struct hkd_log_reader *r;
};

/* What a row function returns: go on, the reader stopped, or failed. */
enum { ROW_NEXT = 0, ROW_STOP = 1, ROW_FAILED = -1 };

typedef int (*row_fn)(const struct reading *rd, sqlite3_stmt *q);

/*
 * Prepare sql on the readers' connection, let bind bind it (may be NULL),
 * and hand each row to row until it says stop. Finalizes what it prepared.
 * HKD_STORE_OK, or _FAILED when the statement or a row failed.
 */
static int each_row(const struct reading *rd, const char *sql,
                    void (*bind)(sqlite3_stmt *q, const void *arg),
                    const void *arg, row_fn row)
{
	sqlite3_stmt *q = NULL;
	int step = SQLITE_ERROR, rc = ROW_NEXT;

	if (sqlite3_prepare_v2(rd->st->rdb, sql, -1, &q, NULL) == SQLITE_OK) {
		if (bind)
			bind(q, arg);
		while ((step = sqlite3_step(q)) == SQLITE_ROW &&
		       (rc = row(rd, q)) == ROW_NEXT)
			;
	}
	sqlite3_finalize(q);
	if (rc == ROW_FAILED || (step != SQLITE_ROW && step != SQLITE_DONE))
		return HKD_STORE_FAILED;
	return HKD_STORE_OK;
}

/* The delivery of row q (DELIVERY_COLUMNS), to the reader. */
static int delivery_row(const struct reading *rd, sqlite3_stmt *q)
{
	struct hkd_delivery_view d = {
	    .seq = sqlite3_column_int64(q, 0),
	    .id = sq_col(q, 1),
	    .event_id = sq_col(q, 2),
	    .event_type = sq_col(q, 3),
	    .target = sq_col(q, 4),
	    .state = (enum hkd_delivery_state)sqlite3_column_int(q, 5),
	    .attempts = (unsigned)sqlite3_column_int(q, 6),
	    .next_at = sqlite3_column_int64(q, 7),
	    .last_outcome = col_or_null(q, 8),
	    .last_reason = col_or_null(q, 9),
	    .created_at = sqlite3_column_int64(q, 10),
	    .updated_at = sqlite3_column_int64(q, 11),
	};
	return rd->r->delivery(rd->r->arg, &d) ? ROW_STOP : ROW_NEXT;
}

static int attempt_row(const struct reading *rd, sqlite3_stmt *q)
{
	struct hkd_attempt_view a = {
	    .number = (unsigned)sqlite3_column_int(q, 0),
	    .started_at = sqlite3_column_int64(q, 1),
	    .duration_us = sqlite3_column_int64(q, 2),
	    .outcome = sq_col(q, 3),
	    .detail = sq_col(q, 4),
	};
	return rd->r->attempt(rd->r->arg, &a) ? ROW_STOP : ROW_NEXT;
}

static void bind_seq(sqlite3_stmt *q, const void *arg)
{
	sqlite3_bind_int64(q, 1, *(const int64_t *)arg);
}

/* A delivery of the event, then its attempts. */
static int event_delivery_row(const struct reading *rd, sqlite3_stmt *q)
{
	int64_t dseq = sqlite3_column_int64(q, 0);
	int rc = delivery_row(rd, q);

	if (rc != ROW_NEXT)
		return rc;
	if (each_row(rd,
	             "SELECT number, started_at, duration_us, outcome, detail "
	             "FROM attempts WHERE delivery_seq = ? ORDER BY seq",
	             bind_seq, &dseq, attempt_row) != HKD_STORE_OK)
		return ROW_FAILED;
	return ROW_NEXT;
}

static void bind_text(sqlite3_stmt *q, const void *arg)
{
	sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
}

int sq_read_event(struct hkd_store *base, const char *id,
                  const struct hkd_log_reader *r)
{
	struct reading rd = {(struct sq_store *)base, r};
	sqlite3_stmt *q = NULL;
	int64_t eseq;
	int rc = HKD_STORE_FAILED, step, stop;

	pthread_mutex_lock(rd.st->rlock);
	if (sqlite3_prepare_v2(rd.st->rdb,
	                       "SELECT seq, body FROM events WHERE id = ?", -1,
	                       &q, NULL) != SQLITE_OK)
		goto out;
	bind_text(q, id);
	if ((step = sqlite3_step(q)) != SQLITE_ROW) {
		if (step == SQLITE_DONE)
			rc = HKD_STORE_NOT_FOUND;
		goto out;
	}
	eseq = sqlite3_column_int64(q, 0);
	stop = r->event(r->arg, sq_col(q, 1),
	                (size_t)sqlite3_column_bytes(q, 1)) != 0;
	sqlite3_finalize(q);
	q = NULL;
	rc = stop ? HKD_STORE_OK
	          : each_row(&rd,
	                     "SELECT " DELIVERY_COLUMNS
	                     "FROM deliveries d JOIN events e ON e.seq = "
	                     "d.event_seq WHERE d.event_seq = ? ORDER BY d.seq",
	                     bind_seq, &eseq, event_delivery_row);
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(rd.st->rlock);
	return rc;
}

static void bind_filter(sqlite3_stmt *q, const void *arg)
{
	const struct hkd_delivery_filter *f = arg;

	sqlite3_bind_int(q, 1, f->state);
	if (f->target)
		sqlite3_bind_text(q, 2, f->target, -1, SQLITE_STATIC);
	if (f->event_id)
		sqlite3_bind_text(q, 3, f->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, f->before_seq);
	/* One more than asked: tells whether there is a next page. */
	sqlite3_bind_int64(q, 5, (sqlite3_int64)f->limit + 1);
}

int sq_read_deliveries(struct hkd_store *base,
                       const struct hkd_delivery_filter *f,
                       const struct hkd_log_reader *r)
{
	struct reading rd = {(struct sq_store *)base, r};
	int rc;

	pthread_mutex_lock(rd.st->rlock);
	rc = each_row(&rd,
	              "SELECT " DELIVERY_COLUMNS
	              "FROM deliveries d JOIN events e "
	              "ON e.seq = d.event_seq WHERE (?1 < 0 OR d.state = ?1) "
	              "AND (?2 IS NULL OR d.target = ?2) AND (?3 IS NULL OR "
	              "e.id = ?3) AND (?4 = 0 OR d.seq < ?4) "
	              "ORDER BY d.seq DESC LIMIT ?5",
	              bind_filter, f, delivery_row);
	pthread_mutex_unlock(rd.st->rlock);
	return rc;
}

/* --- audit ------------------------------------------------------------ */

int sq_job_audit(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	struct hkd_audit_arg *a = argp;
	sqlite3_stmt *q = NULL;
	int rc = HKD_STORE_FAILED;

	if (sqlite3_prepare_v2(
	        st->db,
	        "INSERT INTO audit(at, key_id, action, target, detail) "
	        "VALUES (?1, ?2, ?3, ?4, ?5)",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, a->at);
	sqlite3_bind_text(q, 2, a->rec->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, a->rec->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, a->rec->target, -1, SQLITE_STATIC);
	if (a->rec->detail)
		sqlite3_bind_text(q, 5, a->rec->detail, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto out;
	rc = HKD_STORE_OK;
out:
	return sq_job_end(st, q, 1, rc, err, errlen);
}

/* Binds v[0], the cursor (0: from the newest), and v[1], the row limit. */
static void bind_audit(sqlite3_stmt *q, const void *arg)
{
	const int64_t *v = arg;

	sqlite3_bind_int64(q, 1, v[0]);
	sqlite3_bind_int64(q, 2, v[1]);
}

static int audit_row(const struct reading *rd, sqlite3_stmt *q)
{
	struct hkd_audit_view a = {
	    .seq = sqlite3_column_int64(q, 0),
	    .at = sqlite3_column_int64(q, 1),
	    .key_id = sq_col(q, 2),
	    .action = sq_col(q, 3),
	    .target = sq_col(q, 4),
	    .detail = col_or_null(q, 5),
	};
	return rd->r->audit(rd->r->arg, &a) ? ROW_STOP : ROW_NEXT;
}

int sq_read_audit(struct hkd_store *base, size_t limit, int64_t before_seq,
                  const struct hkd_log_reader *r)
{
	struct reading rd = {(struct sq_store *)base, r};
	/* One more than asked: tells whether there is a next page. */
	int64_t args[2] = {before_seq, (int64_t)limit + 1};
	int rc;

	pthread_mutex_lock(rd.st->rlock);
	rc = each_row(
	    &rd,
	    "SELECT seq, at, key_id, action, target, detail FROM audit "
	    "WHERE (?1 = 0 OR seq < ?1) ORDER BY seq DESC LIMIT ?2",
	    bind_audit, args, audit_row);
	pthread_mutex_unlock(rd.st->rlock);
	return rc;
}
