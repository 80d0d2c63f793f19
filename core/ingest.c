#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "ingest.h"
#include "jscan.h"
#include "log.h"
#include "metrics.h"
#include "subscriptions.h"
#include "util.h"

/* Comma-separated catalog names for messages (truncated with "..."). */
static void catalog_names(const struct hkd_config *cfg, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < cfg->n_types && off + 1 < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		                 cfg->types[i].name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

/* Handlers from the routes, then matching subscriptions. Caller frees
 * *out and *sub_ids (hkd_subs_free_ids). */
static size_t fan_out(const struct hkd_runtime *rt, const char *type,
                      const char *source, struct hkd_match **out,
                      char ***sub_ids)
{
	size_t n = hkd_runtime_route(rt, type, source, NULL, 0);
	size_t n_subs = hkd_subs_route(type, sub_ids);
	struct hkd_match *m = calloc(n + n_subs + 1, sizeof(*m));
	if (!m) {
		*out = NULL;
		return 0;
	}
	n = hkd_runtime_route(rt, type, source, m, n);
	for (size_t i = 0; i < n_subs; i++) {
		m[n + i].target = (*sub_ids)[i];
		m[n + i].concurrency = hkd_subs_concurrency();
		m[n + i].retry_ms = hkd_default_retry_ms;
		m[n + i].n_retry = hkd_default_retry_len;
	}
	*out = m;
	return n + n_subs;
}

/* Append the text s to b (which has room for it). */
static char *put_text(char *b, const char *s)
{
	size_t n = strlen(s);

	memcpy(b, s, n);
	return b + n;
}

/* Append s to b as a JSON string (b has room: 6 bytes per byte + 2). */
static char *put_string(char *b, const char *s)
{
	*b++ = '"';
	b = hkd_json_escape(b, s, strlen(s));
	*b++ = '"';
	return b;
}

/*
 * The stored envelope, {"id","type","timestamp","source","data"}, written
 * around the data's text: the client's own when it came with the request
 * (jansson already checked it), else data written out. NULL when memory
 * runs out.
 */
static char *envelope_text(const char *id, const char *type, const char *ts,
                           const struct hkd_ingest_req *rq)
{
	const char *data = rq->data_text;
	size_t dlen = rq->data_len, n;
	char *dumped = NULL, *text, *b;

	if (!data && rq->data) {
		if (!(dumped = json_dumps(rq->data, JSON_COMPACT)))
			return NULL;
		data = dumped;
		dlen = strlen(dumped);
	} else if (!data) {
		data = "{}";
		dlen = 2;
	}
	n = 6 * (strlen(id) + strlen(type) + strlen(ts) + strlen(rq->source)) +
	    dlen + 64;
	if ((text = malloc(n))) {
		b = text;
		b = put_string(put_text(b, "{\"id\":"), id);
		b = put_string(put_text(b, ",\"type\":"), type);
		b = put_string(put_text(b, ",\"timestamp\":"), ts);
		b = put_string(put_text(b, ",\"source\":"), rq->source);
		b = put_text(b, ",\"data\":");
		memcpy(b, data, dlen);
		b += dlen;
		*b++ = '}';
		*b = '\0';
	}
	free(dumped);
	return text;
}

/*
 * 1 when every required field of et is found in json, the envelope's text,
 * without a jansson tree: only when its data came as text alone (which the
 * scanner accepted, see jscan.h; the rest of the envelope is written by
 * envelope_text). 0 when one is missing or the scanner cannot tell: the
 * caller then checks on a tree, which also words the error.
 */
static int required_in_text(const struct hkd_event_type *et,
                            const struct hkd_ingest_req *rq, const char *json)
{
	struct hkd_jscan_span v;

	if (rq->data)
		return 0;
	for (size_t i = 0; i < et->n_required; i++) {
		if (!hkd_jscan_pointer(json, strlen(json), et->required[i], &v))
			return 0;
	}
	return 1;
}

enum hkd_ingest_status hkd_ingest(struct hkd_runtime *rt, struct hkd_store *st,
                                  const struct hkd_ingest_req *rq,
                                  struct hkd_ingest_result *out)
{
	const struct hkd_config *cfg = rt->cfg;
	const struct hkd_event_type *et = hkd_config_type(cfg, rq->type);
	struct hkd_match *matches = NULL;
	struct hkd_new_delivery *dels = NULL;
	struct hkd_event_rec *ev = NULL;
	json_t *envelope = NULL;
	char ts[40], *json = NULL, **sub_ids = NULL;
	size_t n = 0;
	int src, reserved;
	enum hkd_ingest_status rc = HKD_INGEST_NOMEM;

	memset(out, 0, sizeof(*out));
	if (rq->check_catalog && cfg->n_types > 0 && !et) {
		char names[400];
		catalog_names(cfg, names, sizeof(names));
		snprintf(
		    out->detail, sizeof(out->detail),
		    "event type '%s' is not in the catalog; known types: %s",
		    rq->type, names);
		return HKD_INGEST_UNKNOWN_TYPE;
	}
	if (rq->id)
		hkd_strlcpy(out->id, rq->id, sizeof(out->id));
	else if (hkd_new_id("evt_", out->id, sizeof(out->id)) != 0)
		goto out;
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	if (!(json = envelope_text(out->id, rq->type, ts, rq)))
		goto out;
	if (et && et->n_required > 0 && !required_in_text(et, rq, json)) {
		/* Required fields are pointers into the whole envelope. */
		json_t *data =
		    rq->data ? json_incref((json_t *)rq->data)
		    : rq->data_text
		        ? json_loadb(rq->data_text, rq->data_len, 0, NULL)
		        : json_object();
		if (!data)
			goto out;
		envelope = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", out->id,
		                     "type", rq->type, "timestamp", ts,
		                     "source", rq->source, "data", data);
		if (!envelope)
			goto out;
		if (hkd_envelope_require(envelope,
		                         (const char *const *)et->required,
		                         et->n_required, &out->err) != 0) {
			rc = HKD_INGEST_INVALID;
			goto out;
		}
	}
	n = fan_out(rt, rq->type, rq->source, &matches, &sub_ids);
	dels = calloc(n + 1, sizeof(*dels));
	if (!matches || !dels ||
	    !(ev = hkd_event_rec_new(out->id, rq->type, rq->source, ts, json)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (hkd_new_id("dlv_", dels[i].id, sizeof(dels[i].id)) != 0)
			goto out;
		dels[i].target = matches[i].target;
		dels[i].retry_ms = matches[i].retry_ms;
		dels[i].n_retry = matches[i].n_retry;
	}
	/* Room first, so that nothing stored is ever refused a queue slot;
	 * past the capacity the deliveries wait in the store (parked). */
	reserved = hkd_dispatch_reserve(n);
	if (reserved < 0) {
		rc = HKD_INGEST_QUEUE_FULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		dels[i].parked = reserved == HKD_DISPATCH_PARK;
	src = hkd_store_put(st, ev, dels, n, out->detail, sizeof(out->detail));
	if (src != HKD_STORE_OK) {
		if (reserved == 0)
			hkd_dispatch_unreserve(n);
		rc = src == HKD_STORE_DUPLICATE ? HKD_INGEST_DUPLICATE
		                                : HKD_INGEST_STORE_FAILED;
		goto out;
	}
	/* Stored: from here on the deliveries exist, whatever happens. */
	if (reserved == HKD_DISPATCH_PARK && n > 0)
		hkd_dispatch_parked();
	for (size_t i = 0; reserved == 0 && i < n; i++)
		if (hkd_dispatch_submit(ev, &matches[i], dels[i].id) != 0) {
			hkd_dispatch_unreserve(1);
			hkd_log_kv(
			    HOOKD_LOG_ERROR, "dispatch", "delivery", dels[i].id,
			    "detail",
			    "out of memory: the delivery runs after a restart",
			    NULL);
		}
	out->deliveries = n;
	{
		char nbuf[24];
		snprintf(nbuf, sizeof(nbuf), "%zu", n);
		hkd_log_kv(HOOKD_LOG_INFO, "event", "id", out->id, "type",
		           rq->type, "source", rq->source, "deliveries", nbuf,
		           NULL);
	}
	rc = HKD_INGEST_OK;
out:
	if (rc == HKD_INGEST_NOMEM)
		snprintf(out->detail, sizeof(out->detail), "out of memory");
	hkd_event_rec_unref(ev);
	hkd_subs_free_ids(sub_ids);
	free(json);
	free(dels);
	free(matches);
	json_decref(envelope);
	return rc;
}
