/*
 * The SQLite store's reads for the API: an event with its deliveries and
 * attempts, the delivery log, the dead count, and the audit trail (with
 * the job that writes it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store_sqlite.h"
#include "util.h"

/* --- the log API ----------------------------------------------------- */

/* Columns: d.seq, d.id, e.id, e.type, d.target, d.state, d.attempts,
 * d.next_at, d.last_outcome, d.last_reason, d.created_at, d.updated_at */
#define DELIVERY_COLUMNS                                                       \
	"d.seq, d.id, e.id, e.type, d.target, d.state, d.attempts, "           \
	"d.next_at, "                                                          \
	"d.last_outcome, d.last_reason, d.created_at, d.updated_at "

static json_t *delivery_from_row(sqlite3_stmt *q)
{
	int state = sqlite3_column_int(q, 5);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(sq_col(q, 1)));
	json_object_set_new(o, "eventId", json_string(sq_col(q, 2)));
	json_object_set_new(o, "eventType", json_string(sq_col(q, 3)));
	json_object_set_new(o, "target", json_string(sq_col(q, 4)));
	json_object_set_new(
	    o, "state",
	    json_string(hkd_state_name((enum hkd_delivery_state)state)));
	json_object_set_new(o, "attemptCount",
	                    json_integer(sqlite3_column_int(q, 6)));
	json_object_set_new(
	    o, "nextAttemptAt",
	    state < HKD_STATE_SUCCEEDED
	        ? hkd_store_time_json(sqlite3_column_int64(q, 7))
	        : json_null());
	json_object_set_new(o, "lastOutcome",
	                    sqlite3_column_type(q, 8) == SQLITE_NULL
	                        ? json_null()
	                        : json_string(sq_col(q, 8)));
	json_object_set_new(o, "lastReason",
	                    sqlite3_column_type(q, 9) == SQLITE_NULL
	                        ? json_null()
	                        : json_string(sq_col(q, 9)));
	json_object_set_new(o, "createdAt",
	                    hkd_store_time_json(sqlite3_column_int64(q, 10)));
	json_object_set_new(o, "updatedAt",
	                    hkd_store_time_json(sqlite3_column_int64(q, 11)));
	return o;
}

static json_t *attempts_of(struct sq_store *st, int64_t dseq)
{
	sqlite3_stmt *q = NULL;
	json_t *arr = json_array();
	if (sqlite3_prepare_v2(
	        st->rdb,
	        "SELECT number, started_at, duration_us, outcome, detail "
	        "FROM attempts WHERE delivery_seq = ? ORDER BY seq",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, dseq);
	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *a = json_object();
		json_object_set_new(a, "attempt",
		                    json_integer(sqlite3_column_int(q, 0)));
		json_object_set_new(
		    a, "startedAt",
		    hkd_store_time_json(sqlite3_column_int64(q, 1)));
		json_object_set_new(
		    a, "durationMs",
		    json_real((double)sqlite3_column_int64(q, 2) / 1000.0));
		json_object_set_new(a, "outcome", json_string(sq_col(q, 3)));
		json_object_set_new(a, "detail", json_string(sq_col(q, 4)));
		json_array_append_new(arr, a);
	}
out:
	sqlite3_finalize(q);
	return arr;
}

json_t *sq_event_json(struct hkd_store *base, const char *id, int *failed)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	json_t *ev = NULL, *dels;
	json_error_t jerr;
	int64_t eseq;
	int rc;

	pthread_mutex_lock(st->rlock);
	if (sqlite3_prepare_v2(st->rdb,
	                       "SELECT seq, body FROM events WHERE id = ?", -1,
	                       &q, NULL) != SQLITE_OK) {
		*failed = 1;
		goto out;
	}
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		*failed = rc != SQLITE_DONE;
		goto out;
	}
	eseq = sqlite3_column_int64(q, 0);
	ev = json_loads(sq_col(q, 1), 0, &jerr);
	sqlite3_finalize(q);
	q = NULL;
	if (!ev) {
		*failed = 1;
		goto out;
	}
	dels = json_array();
	json_object_set_new(ev, "deliveries", dels);
	if (sqlite3_prepare_v2(
	        st->rdb,
	        "SELECT " DELIVERY_COLUMNS "FROM deliveries d JOIN events e "
	        "ON e.seq = d.event_seq WHERE d.event_seq = ? ORDER BY d.seq",
	        -1, &q, NULL) != SQLITE_OK) {
		json_decref(ev); /* never half an answer */
		ev = NULL;
		*failed = 1;
		goto out;
	}
	sqlite3_bind_int64(q, 1, eseq);
	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *d = delivery_from_row(q);
		json_object_set_new(
		    d, "attempts", attempts_of(st, sqlite3_column_int64(q, 0)));
		json_array_append_new(dels, d);
	}
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return ev;
}

json_t *sq_deliveries_json(struct hkd_store *base,
                           const struct hkd_delivery_filter *f)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	struct hkd_page pg;
	json_t *out = NULL;

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
	hkd_page_init(&pg, "deliveries", f->limit);
	while (sqlite3_step(q) == SQLITE_ROW && hkd_page_room(&pg))
		hkd_page_add(&pg, sqlite3_column_int64(q, 0),
		             delivery_from_row(q));
	out = pg.out;
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return out;
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

static const char *column_text(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return t ? (const char *)t : NULL;
}

json_t *sq_audit_json(struct hkd_store *base, size_t limit, int64_t before_seq)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	struct hkd_page pg;
	json_t *out = NULL;

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
	hkd_page_init(&pg, "audit", limit);
	while (sqlite3_step(q) == SQLITE_ROW && hkd_page_room(&pg))
		hkd_page_add(
		    &pg, sqlite3_column_int64(q, 0),
		    hkd_store_audit_row(sqlite3_column_int64(q, 0),
		                        sqlite3_column_int64(q, 1),
		                        column_text(q, 2), column_text(q, 3),
		                        column_text(q, 4), column_text(q, 5)));
	out = pg.out;
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return out;
}
