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

/* Hand the delivery of row q (DELIVERY_COLUMNS) to r. */
static int visit_delivery(sqlite3_stmt *q, const struct hkd_log_reader *r)
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
	return r->delivery(r->arg, &d);
}

/* Hand the attempts of delivery dseq to r, oldest first. HKD_STORE_OK, or
 * _FAILED when they could not be read. */
static int visit_attempts(struct sq_store *st, int64_t dseq,
                          const struct hkd_log_reader *r)
{
	sqlite3_stmt *q = NULL;
	int rc = HKD_STORE_FAILED, step;

	if (sqlite3_prepare_v2(
	        st->rdb,
	        "SELECT number, started_at, duration_us, outcome, detail "
	        "FROM attempts WHERE delivery_seq = ? ORDER BY seq",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, dseq);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct hkd_attempt_view a = {
		    .number = (unsigned)sqlite3_column_int(q, 0),
		    .started_at = sqlite3_column_int64(q, 1),
		    .duration_us = sqlite3_column_int64(q, 2),
		    .outcome = sq_col(q, 3),
		    .detail = sq_col(q, 4),
		};
		if (r->attempt(r->arg, &a) != 0)
			break;
	}
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = HKD_STORE_OK;
out:
	sqlite3_finalize(q);
	return rc;
}

int sq_read_event(struct hkd_store *base, const char *id,
                  const struct hkd_log_reader *r)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	int64_t eseq;
	int rc = HKD_STORE_FAILED, step;

	pthread_mutex_lock(st->rlock);
	if (sqlite3_prepare_v2(st->rdb,
	                       "SELECT seq, body FROM events WHERE id = ?", -1,
	                       &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if ((step = sqlite3_step(q)) != SQLITE_ROW) {
		if (step == SQLITE_DONE)
			rc = HKD_STORE_NOT_FOUND;
		goto out;
	}
	eseq = sqlite3_column_int64(q, 0);
	if (r->event(r->arg, sq_col(q, 1),
	             (size_t)sqlite3_column_bytes(q, 1)) != 0) {
		rc = HKD_STORE_OK;
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(
	        st->rdb,
	        "SELECT " DELIVERY_COLUMNS "FROM deliveries d JOIN events e "
	        "ON e.seq = d.event_seq WHERE d.event_seq = ? ORDER BY d.seq",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, eseq);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		if (visit_delivery(q, r) != 0)
			break;
		if (visit_attempts(st, sqlite3_column_int64(q, 0), r) !=
		    HKD_STORE_OK)
			goto out;
	}
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = HKD_STORE_OK;
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return rc;
}

int sq_read_deliveries(struct hkd_store *base,
                       const struct hkd_delivery_filter *f,
                       const struct hkd_log_reader *r)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	int rc = HKD_STORE_FAILED, step;

	pthread_mutex_lock(st->rlock);
	if (sqlite3_prepare_v2(
	        st->rdb,
	        "SELECT " DELIVERY_COLUMNS "FROM deliveries d JOIN events e "
	        "ON e.seq = d.event_seq WHERE (?1 < 0 OR d.state = ?1) "
	        "AND (?2 IS NULL OR d.target = ?2) AND (?3 IS NULL OR e.id = "
	        "?3) "
	        "AND (?4 = 0 OR d.seq < ?4) ORDER BY d.seq DESC LIMIT ?5",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int(q, 1, f->state);
	if (f->target)
		sqlite3_bind_text(q, 2, f->target, -1, SQLITE_STATIC);
	if (f->event_id)
		sqlite3_bind_text(q, 3, f->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, f->before_seq);
	/* One more than asked: tells whether there is a next page. */
	sqlite3_bind_int64(q, 5, (sqlite3_int64)f->limit + 1);
	while ((step = sqlite3_step(q)) == SQLITE_ROW)
		if (visit_delivery(q, r) != 0)
			break;
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = HKD_STORE_OK;
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
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
		goto sqlfail;
	sqlite3_bind_int64(q, 1, a->at);
	sqlite3_bind_text(q, 2, a->rec->key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, a->rec->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, a->rec->target, -1, SQLITE_STATIC);
	if (a->rec->detail)
		sqlite3_bind_text(q, 5, a->rec->detail, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto sqlfail;
	rc = HKD_STORE_OK;
	goto out;
sqlfail:
	rc = sq_stmt_fail(st, err, errlen);
out:
	sqlite3_finalize(q);
	return rc;
}

int sq_read_audit(struct hkd_store *base, size_t limit, int64_t before_seq,
                  const struct hkd_log_reader *r)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	int rc = HKD_STORE_FAILED, step;

	pthread_mutex_lock(st->rlock);
	if (sqlite3_prepare_v2(
	        st->rdb,
	        "SELECT seq, at, key_id, action, target, detail FROM audit "
	        "WHERE (?1 = 0 OR seq < ?1) ORDER BY seq DESC LIMIT ?2",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, before_seq);
	/* One more than asked: tells whether there is a next page. */
	sqlite3_bind_int64(q, 2, (sqlite3_int64)limit + 1);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct hkd_audit_view a = {
		    .seq = sqlite3_column_int64(q, 0),
		    .at = sqlite3_column_int64(q, 1),
		    .key_id = sq_col(q, 2),
		    .action = sq_col(q, 3),
		    .target = sq_col(q, 4),
		    .detail = col_or_null(q, 5),
		};
		if (r->audit(r->arg, &a) != 0)
			break;
	}
	if (step == SQLITE_ROW || step == SQLITE_DONE)
		rc = HKD_STORE_OK;
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return rc;
}
