/*
 * JSON of the delivery log and the audit trail (see log_json.h). The
 * store hands rows out as views; this file alone knows their names on the
 * wire, so both backends answer alike.
 */
#include <stdio.h>

#include "log_json.h"
#include "util.h"

/* A wall-clock ms as an RFC 3339 string; null when not positive. */
static json_t *time_json(int64_t ms)
{
	char buf[40];

	if (ms <= 0)
		return json_null();
	hkd_format_time(ms, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *delivery_json(const struct hkd_delivery_view *d)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:s?, s:s?, s:o, s:o}", "id",
	    d->id, "eventId", d->event_id, "eventType", d->event_type, "target",
	    d->target, "state", hkd_state_name(d->state), "attemptCount",
	    (json_int_t)d->attempts, "nextAttemptAt",
	    d->state < HKD_STATE_SUCCEEDED ? time_json(d->next_at)
	                                   : json_null(),
	    "lastOutcome", d->last_outcome, "lastReason", d->last_reason,
	    "createdAt", time_json(d->created_at), "updatedAt",
	    time_json(d->updated_at));
}

static json_t *attempt_json(const struct hkd_attempt_view *a)
{
	return json_pack("{s:I, s:o, s:f, s:s, s:s}", "attempt",
	                 (json_int_t)a->number, "startedAt",
	                 time_json(a->started_at), "durationMs",
	                 (double)a->duration_us / 1000.0, "outcome", a->outcome,
	                 "detail", a->detail);
}

static json_t *audit_row_json(const struct hkd_audit_view *a)
{
	char id[32];

	snprintf(id, sizeof(id), "aud_%lld", (long long)a->seq);
	return json_pack("{s:s, s:o, s:s, s:s, s:s, s:s*}", "id", id, "at",
	                 time_json(a->at), "keyId", a->key_id, "action",
	                 a->action, "target", a->target, "detail", a->detail);
}

/* Append row (stolen) to arr; -1 when either is missing (out of memory). */
static int append(json_t *arr, json_t *row)
{
	if (!row)
		return -1;
	return json_array_append_new(arr, row);
}

/* --- one event ---------------------------------------------------------- */

struct event_reading {
	json_t *ev;       /* the envelope, with "deliveries" */
	json_t *dels;     /* borrowed from ev */
	json_t *attempts; /* of the last delivery; borrowed */
	int bad;          /* something did not parse or fit */
};

static int on_event(void *arg, const char *json, size_t len)
{
	struct event_reading *e = arg;
	json_error_t jerr;

	e->ev = json_loadb(json, len, 0, &jerr);
	e->dels = json_array();
	if (!json_is_object(e->ev) || !e->dels ||
	    json_object_set_new(e->ev, "deliveries", e->dels) != 0) {
		e->bad = 1;
		return -1;
	}
	return 0;
}

static int on_event_delivery(void *arg, const struct hkd_delivery_view *d)
{
	struct event_reading *e = arg;
	json_t *o = delivery_json(d);

	e->attempts = json_array();
	if (!o || !e->attempts ||
	    json_object_set_new(o, "attempts", e->attempts) != 0 ||
	    append(e->dels, o) != 0) {
		e->bad = 1;
		return -1;
	}
	return 0;
}

static int on_attempt(void *arg, const struct hkd_attempt_view *a)
{
	struct event_reading *e = arg;

	if (append(e->attempts, attempt_json(a)) != 0) {
		e->bad = 1;
		return -1;
	}
	return 0;
}

json_t *hkd_event_json(struct hkd_store *st, const char *id, int *failed)
{
	struct event_reading e = {0};
	const struct hkd_log_reader r = {.event = on_event,
	                                 .delivery = on_event_delivery,
	                                 .attempt = on_attempt,
	                                 .arg = &e};
	int rc = hkd_store_read_event(st, id, &r);

	*failed = rc == HKD_STORE_FAILED || (rc == HKD_STORE_OK && e.bad);
	if (rc != HKD_STORE_OK || e.bad) {
		json_decref(e.ev); /* never half an answer */
		return NULL;
	}
	return e.ev;
}

/* --- pages ------------------------------------------------------------- */

/*
 * A page of a listing, newest first. The reads hand out one row more than
 * the limit: that row only says there is a next page, whose cursor is the
 * seq of the last row taken.
 */
struct page {
	json_t *out;  /* {"<key>": [...], "nextCursor": "<seq>" or null} */
	json_t *rows; /* borrowed from out */
	size_t limit, n;
	int64_t last;
	int bad; /* out of memory */
};

static void page_init(struct page *p, const char *key, size_t limit)
{
	p->limit = limit;
	p->n = 0;
	p->last = 0;
	p->bad = 0;
	p->out = json_object();
	p->rows = json_array();
	if (!p->out || !p->rows || json_object_set_new(p->out, key, p->rows) ||
	    json_object_set_new(p->out, "nextCursor", json_null()))
		p->bad = 1;
}

/* Take row (stolen) of seq; -1 to stop: the page is full or broken. */
static int page_add(struct page *p, int64_t seq, json_t *row)
{
	char cur[32];

	if (p->n == p->limit) {
		json_decref(row);
		snprintf(cur, sizeof(cur), "%lld", (long long)p->last);
		if (json_object_set_new(p->out, "nextCursor", json_string(cur)))
			p->bad = 1;
		return -1;
	}
	if (p->bad || append(p->rows, row) != 0) {
		p->bad = 1;
		return -1;
	}
	p->last = seq;
	p->n++;
	return 0;
}

/* The page read with rc, or NULL (read failed, out of memory). */
static json_t *page_done(struct page *p, int rc)
{
	if (rc != HKD_STORE_OK || p->bad) {
		json_decref(p->out);
		return NULL;
	}
	return p->out;
}

static int on_listed_delivery(void *arg, const struct hkd_delivery_view *d)
{
	return page_add(arg, d->seq, delivery_json(d));
}

json_t *hkd_deliveries_json(struct hkd_store *st,
                            const struct hkd_delivery_filter *f)
{
	struct page p;
	const struct hkd_log_reader r = {.delivery = on_listed_delivery,
	                                 .arg = &p};

	page_init(&p, "deliveries", f->limit);
	if (p.bad)
		return page_done(&p, HKD_STORE_FAILED);
	return page_done(&p, hkd_store_read_deliveries(st, f, &r));
}

static int on_audit(void *arg, const struct hkd_audit_view *a)
{
	return page_add(arg, a->seq, audit_row_json(a));
}

json_t *hkd_audit_json(struct hkd_store *st, size_t limit, int64_t before_seq)
{
	struct page p;
	const struct hkd_log_reader r = {.audit = on_audit, .arg = &p};

	page_init(&p, "audit", limit);
	if (p.bad)
		return page_done(&p, HKD_STORE_FAILED);
	return page_done(&p, hkd_store_read_audit(st, limit, before_seq, &r));
}
