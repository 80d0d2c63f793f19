/*
 * The PostgreSQL store's reads for the API: an event with its deliveries
 * and attempts, the delivery log, the dead count, and the audit trail
 * (with the job that writes it).
 */
#include "store_pg.h"

/* --- the log API ----------------------------------------------------- */

static json_t *text_or_null(const PGresult *r, int i, int c)
{
	return PQgetisnull(r, i, c) ? json_null() : json_string(val(r, i, c));
}

/* A delivery from row i of DELIVERY_COLUMNS, starting at column c. */
static json_t *delivery_from_row(const PGresult *r, int i, int c)
{
	int state = (int)val_int(r, i, c + 5);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(val(r, i, c + 1)));
	json_object_set_new(o, "eventId", json_string(val(r, i, c + 2)));
	json_object_set_new(o, "eventType", json_string(val(r, i, c + 3)));
	json_object_set_new(o, "target", json_string(val(r, i, c + 4)));
	json_object_set_new(
	    o, "state",
	    json_string(hkd_state_name((enum hkd_delivery_state)state)));
	json_object_set_new(o, "attemptCount",
	                    json_integer(val_int(r, i, c + 6)));
	json_object_set_new(o, "nextAttemptAt",
	                    state < HKD_STATE_SUCCEEDED
	                        ? hkd_store_time_json(val_int(r, i, c + 7))
	                        : json_null());
	json_object_set_new(o, "lastOutcome", text_or_null(r, i, c + 8));
	json_object_set_new(o, "lastReason", text_or_null(r, i, c + 9));
	json_object_set_new(o, "createdAt",
	                    hkd_store_time_json(val_int(r, i, c + 10)));
	json_object_set_new(o, "updatedAt",
	                    hkd_store_time_json(val_int(r, i, c + 11)));
	return o;
}

/* The attempts of delivery dseq, oldest first, read on rc (borrowed). */
static json_t *attempts_of(struct pg_store *st, struct rconn *rc,
                           const char *dseq)
{
	struct params p = {.n = 0};
	json_t *arr = json_array();
	char err[256];
	PGresult *r;
	p_str(&p, dseq);
	r = pg_read_query(st, rc, R_ATTEMPTS, &p, err, sizeof(err));
	for (int i = 0; r && i < PQntuples(r); i++) {
		json_t *a = json_object();
		json_object_set_new(a, "attempt",
		                    json_integer(val_int(r, i, 0)));
		json_object_set_new(a, "startedAt",
		                    hkd_store_time_json(val_int(r, i, 1)));
		json_object_set_new(
		    a, "durationMs",
		    json_real((double)val_int(r, i, 2) / 1000.0));
		json_object_set_new(a, "outcome", json_string(val(r, i, 3)));
		json_object_set_new(a, "detail", json_string(val(r, i, 4)));
		json_array_append_new(arr, a);
	}
	PQclear(r);
	return arr;
}

json_t *pg_event_json(struct hkd_store *base, const char *id, int *failed)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {.n = 0};
	json_t *ev = NULL, *dels;
	json_error_t jerr;
	struct rconn *rc;
	char err[256];
	PGresult *r;

	p_str(&p, id);
	r = pg_read_rows(st, &rc, R_EVENT, &p, err, sizeof(err));
	if (!r || PQntuples(r) == 0 ||
	    !(ev = json_loads(val(r, 0, 0), 0, &jerr))) {
		*failed = !r || PQntuples(r) > 0;
		goto out;
	}
	dels = json_array();
	json_object_set_new(ev, "deliveries", dels);
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *d;
		if (PQgetisnull(r, i, 1))
			continue; /* an event without deliveries */
		d = delivery_from_row(r, i, 1); /* after e.body */
		json_object_set_new(d, "attempts",
		                    attempts_of(st, rc, val(r, i, 1)));
		json_array_append_new(dels, d);
	}
out:
	PQclear(r);
	if (rc)
		pg_pool_put(st, rc);
	return ev;
}

json_t *pg_deliveries_json(struct hkd_store *base,
                           const struct hkd_delivery_filter *f)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {.n = 0};
	struct hkd_page pg;
	json_t *out = NULL;
	struct rconn *rc;
	char err[256];
	PGresult *r;

	p_int(&p, f->state);
	p_str(&p, f->target);
	p_str(&p, f->event_id);
	p_int(&p, f->before_seq);
	/* One more than asked: tells whether there is a next page. */
	p_int(&p, (int64_t)f->limit + 1);
	r = pg_read_rows(st, &rc, R_DELIVERIES, &p, err, sizeof(err));
	if (!r)
		goto out;
	hkd_page_init(&pg, "deliveries", f->limit);
	for (int i = 0; i < PQntuples(r) && hkd_page_room(&pg); i++)
		hkd_page_add(&pg, val_int(r, i, 0), delivery_from_row(r, i, 0));
	out = pg.out;
out:
	PQclear(r);
	if (rc)
		pg_pool_put(st, rc);
	return out;
}

json_t *pg_audit_json(struct hkd_store *base, size_t limit, int64_t before_seq)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {.n = 0};
	struct hkd_page pg;
	json_t *out = NULL;
	struct rconn *rc;
	char err[256];
	PGresult *r;

	p_int(&p, before_seq);
	/* One more than asked: tells whether there is a next page. */
	p_int(&p, (int64_t)limit + 1);
	r = pg_read_rows(st, &rc, R_AUDIT, &p, err, sizeof(err));
	if (!r)
		goto out;
	hkd_page_init(&pg, "audit", limit);
	for (int i = 0; i < PQntuples(r) && hkd_page_room(&pg); i++)
		hkd_page_add(&pg, val_int(r, i, 0),
		             hkd_store_audit_row(
		                 val_int(r, i, 0), val_int(r, i, 1),
		                 val(r, i, 2), val(r, i, 3), val(r, i, 4),
		                 PQgetisnull(r, i, 5) ? NULL : val(r, i, 5)));
	out = pg.out;
out:
	PQclear(r);
	if (rc)
		pg_pool_put(st, rc);
	return out;
}

/* Runs on the writer: store an audit record (struct hkd_audit_arg). */
int pg_job_audit(void *backend, void *argp, char *err, size_t errlen)
{
	struct pg_store *st = backend;
	struct hkd_audit_arg *a = argp;
	struct params p = {.n = 0};
	PGresult *r;
	p_int(&p, a->at);
	p_str(&p, a->rec->key_id);
	p_str(&p, a->rec->action);
	p_str(&p, a->rec->target);
	p_str(&p, a->rec->detail);
	r = pg_query(st->wc,
	             "INSERT INTO audit(at, key_id, action, target, detail) "
	             "VALUES ($1, $2, $3, $4, $5)",
	             &p);
	if (!r)
		return pg_stmt_fail(st, err, errlen);
	PQclear(r);
	return HKD_STORE_OK;
}
