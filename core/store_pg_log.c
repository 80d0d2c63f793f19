/*
 * The PostgreSQL store's reads of the delivery log (an event with its
 * deliveries and attempts, the listing of deliveries) and of the audit
 * trail, handed out as views (store.h), with the job that writes the
 * audit trail.
 */
#include "store_pg.h"

/* --- the delivery log ------------------------------------------------ */

/* NULL for an SQL NULL. */
static const char *val_or_null(const PGresult *r, int i, int c)
{
	return PQgetisnull(r, i, c) ? NULL : val(r, i, c);
}

/* Hand row i of r to rd: 0 to go on, nonzero when rd stopped. */
typedef int (*tuple_fn)(const PGresult *r, int i,
                        const struct hkd_log_reader *rd);

/* The rows of r (NULL: none) to row, until it stops. */
static void each_tuple(const PGresult *r, tuple_fn row,
                       const struct hkd_log_reader *rd)
{
	for (int i = 0; r && i < PQntuples(r); i++)
		if (row(r, i, rd) != 0)
			break;
}

/* End a read of r on rc: HKD_STORE_OK, or _FAILED when r is NULL. */
static int read_end(struct pg_store *st, struct rconn *rc, PGresult *r)
{
	PQclear(r);
	if (rc)
		pg_pool_put(st, rc);
	return r ? HKD_STORE_OK : HKD_STORE_FAILED;
}

/* The delivery of row i, DELIVERY_COLUMNS from column c. */
static int delivery_at(const PGresult *r, int i, int c,
                       const struct hkd_log_reader *rd)
{
	struct hkd_delivery_view d = {
	    .seq = val_int(r, i, c),
	    .id = val(r, i, c + 1),
	    .event_id = val(r, i, c + 2),
	    .event_type = val(r, i, c + 3),
	    .target = val(r, i, c + 4),
	    .state = (enum hkd_delivery_state)val_int(r, i, c + 5),
	    .attempts = (unsigned)val_int(r, i, c + 6),
	    .next_at = val_int(r, i, c + 7),
	    .last_outcome = val_or_null(r, i, c + 8),
	    .last_reason = val_or_null(r, i, c + 9),
	    .created_at = val_int(r, i, c + 10),
	    .updated_at = val_int(r, i, c + 11),
	};
	return rd->delivery(rd->arg, &d);
}

static int delivery_tuple(const PGresult *r, int i,
                          const struct hkd_log_reader *rd)
{
	return delivery_at(r, i, 0, rd);
}

static int attempt_tuple(const PGresult *r, int i,
                         const struct hkd_log_reader *rd)
{
	struct hkd_attempt_view a = {
	    .number = (unsigned)val_int(r, i, 0),
	    .started_at = val_int(r, i, 1),
	    .duration_us = val_int(r, i, 2),
	    .outcome = val(r, i, 3),
	    .detail = val(r, i, 4),
	};
	return rd->attempt(rd->arg, &a);
}

static int audit_tuple(const PGresult *r, int i,
                       const struct hkd_log_reader *rd)
{
	struct hkd_audit_view a = {
	    .seq = val_int(r, i, 0),
	    .at = val_int(r, i, 1),
	    .key_id = val(r, i, 2),
	    .action = val(r, i, 3),
	    .target = val(r, i, 4),
	    .detail = val_or_null(r, i, 5),
	};
	return rd->audit(rd->arg, &a);
}

/* Hand the attempts of delivery dseq to rd, oldest first, read on rc
 * (borrowed). HKD_STORE_OK or _FAILED. */
static int visit_attempts(struct pg_store *st, struct rconn *rc,
                          const char *dseq, const struct hkd_log_reader *rd)
{
	struct params p = {.n = 0};
	char err[256];
	PGresult *r;

	p_str(&p, dseq);
	r = pg_read_query(st, rc, R_ATTEMPTS, &p, err, sizeof(err));
	each_tuple(r, attempt_tuple, rd);
	return read_end(st, NULL, r);
}

int pg_read_event(struct hkd_store *base, const char *id,
                  const struct hkd_log_reader *rd)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {.n = 0};
	struct rconn *rc;
	char err[256];
	PGresult *r;
	int failed = 0;

	p_str(&p, id);
	r = pg_read_rows(st, &rc, R_EVENT, &p, err, sizeof(err));
	if (r && PQntuples(r) == 0) {
		read_end(st, rc, r);
		return HKD_STORE_NOT_FOUND;
	}
	if (r && rd->event(rd->arg, val(r, 0, 0),
	                   (size_t)PQgetlength(r, 0, 0)) == 0) {
		for (int i = 0; i < PQntuples(r); i++) {
			if (PQgetisnull(r, i, 1))
				continue; /* an event without deliveries */
			if (delivery_at(r, i, 1, rd) != 0) /* after e.body */
				break;
			if ((failed = visit_attempts(st, rc, val(r, i, 1),
			                             rd) != HKD_STORE_OK))
				break;
		}
	}
	return read_end(st, rc, r) == HKD_STORE_OK && !failed
	           ? HKD_STORE_OK
	           : HKD_STORE_FAILED;
}

int pg_read_deliveries(struct hkd_store *base,
                       const struct hkd_delivery_filter *f,
                       const struct hkd_log_reader *rd)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {.n = 0};
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
	each_tuple(r, delivery_tuple, rd);
	return read_end(st, rc, r);
}

/* --- audit ------------------------------------------------------------ */

int pg_read_audit(struct hkd_store *base, size_t limit, int64_t before_seq,
                  const struct hkd_log_reader *rd)
{
	struct pg_store *st = (struct pg_store *)base;
	struct params p = {.n = 0};
	struct rconn *rc;
	char err[256];
	PGresult *r;

	p_int(&p, before_seq);
	/* One more than asked: tells whether there is a next page. */
	p_int(&p, (int64_t)limit + 1);
	r = pg_read_rows(st, &rc, R_AUDIT, &p, err, sizeof(err));
	each_tuple(r, audit_tuple, rd);
	return read_end(st, rc, r);
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
