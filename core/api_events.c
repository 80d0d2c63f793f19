/*
 * The events endpoints: the catalog, publishing, one event (GET
 * /v4/events/{id}), and the ingest answer received webhooks share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "dispatch.h"
#include "envelope.h"
#include "jscan.h"
#include "jsonptr.h"
#include "log.h"
#include "log_json.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

enum MHD_Result hkd_api_catalog(struct MHD_Connection *conn,
                                const struct hkd_runtime *rt)
{
	json_error_t err;
	json_t *body = json_loads(rt->catalog_json, 0, &err);
	if (!body)
		return hkd_api_send_error(conn, 500, "internal", NULL, NULL,
		                          NULL, "cannot build the catalog");
	return hkd_api_send_json(conn, MHD_HTTP_OK, body, NULL, NULL);
}

/*
 * Ingest req and answer as publishing does: 202 stored, 200 duplicate,
 * 422, 503. type_field names where the type came from in the request
 * (for the unknown_event_type error), or NULL.
 */
enum MHD_Result hkd_api_answer_ingest(struct MHD_Connection *conn,
                                      struct request *rq,
                                      const struct hkd_ingest_req *req,
                                      const char *type_field)
{
	struct hkd_ingest_result res;
	switch (hkd_ingest(rq->rt, hkd_api_store(), req, &res)) {
	case HKD_INGEST_OK: {
		/* Written out directly: the answer to every event. The id is a
		 * name ([A-Za-z0-9_.:-], envelope.h): nothing to escape. */
		char text[HKD_ID_MAX + 64];
		int len = snprintf(text, sizeof(text),
		                   "{\"id\":\"%s\",\"deliveries\":%zu}\n",
		                   res.id, res.deliveries);

		hkd_metrics_event_accepted();
		return hkd_api_send_text(conn, MHD_HTTP_ACCEPTED, text,
		                         (size_t)len, MHD_RESPMEM_MUST_COPY,
		                         NULL, NULL);
	}
	case HKD_INGEST_DUPLICATE:
		/* Already stored (a retried publish, a replayed webhook). */
		hkd_metrics_event_duplicate();
		return hkd_api_send_json(
		    conn, MHD_HTTP_OK,
		    json_pack("{s:s, s:b}", "id", res.id, "duplicate", 1), NULL,
		    NULL);
	case HKD_INGEST_UNKNOWN_TYPE:
		hkd_metrics_event_rejected("unknown_event_type");
		return hkd_api_send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		                          "unknown_event_type", type_field,
		                          NULL, NULL, "%s", res.detail);
	case HKD_INGEST_INVALID:
		hkd_metrics_event_rejected("invalid_event");
		return hkd_api_send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		                          "invalid_event", res.err.field, NULL,
		                          NULL, "%s", res.err.message);
	case HKD_INGEST_QUEUE_FULL:
		hkd_metrics_event_rejected("queue_full");
		hkd_log_kv(HOOKD_LOG_WARN, "rejected", "type", req->type,
		           "source", req->source, "reason", "queue full", NULL);
		return hkd_api_send_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_full", NULL,
		    MHD_HTTP_HEADER_RETRY_AFTER, "1",
		    "the delivery queue is full; retry later");
	case HKD_INGEST_STORE_FAILED:
		hkd_log_kv(HOOKD_LOG_WARN, "rejected", "type", req->type,
		           "source", req->source, "reason",
		           "store cannot write", "detail", res.detail, NULL);
		return hkd_api_store_unavailable(conn, res.detail);
	default:
		return hkd_api_send_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
		    MHD_HTTP_HEADER_RETRY_AFTER, "1", "out of memory");
	}
}

/*
 * The source whose received events' ids id (borrowed) looks like: ids of
 * the form "<source>:<delivery id>" are that source's (see receive_hook),
 * so a published event must not take one and make the real delivery a
 * "duplicate". Every configured source's prefix is kept, whether or not
 * it has an id_from, as a reload may give it one. NULL when id is free.
 */
const struct hkd_source *hkd_api_id_owner(const struct hkd_config *cfg,
                                          const char *id)
{
	for (size_t i = 0; id && i < cfg->n_sources; i++) {
		size_t n = strlen(cfg->sources[i].name);

		if (strncmp(id, cfg->sources[i].name, n) == 0 && id[n] == ':')
			return &cfg->sources[i];
	}
	return NULL;
}

/*
 * json_loadb of a request body whose text is stored as it came. A NUL byte
 * is never valid in JSON text, but jansson 2.14 skips one right after a
 * number ("{\"n\":1\0}" is accepted), and the stored text would end there:
 * such a body is refused here, with jansson's kind of message.
 */
json_t *hkd_api_loadb(const struct request *rq, size_t flags,
                      json_error_t *jerr)
{
	const char *nul = rq->body ? memchr(rq->body, '\0', rq->len) : NULL;

	if (nul) {
		memset(jerr, 0, sizeof(*jerr));
		jerr->line = 1;
		for (const char *p = rq->body; p <= nul; p++) {
			if (*p == '\n') {
				jerr->line++;
				jerr->column = 0;
			} else if (((unsigned char)*p & 0xc0) != 0x80) {
				jerr->column++; /* characters, as jansson counts
				                 */
			}
		}
		jerr->position = (int)(nul - rq->body);
		snprintf(jerr->text, sizeof(jerr->text),
		         "a NUL byte is not allowed");
		return NULL;
	}
	return json_loadb(rq->body ? rq->body : "", rq->len, flags, jerr);
}

/*
 * A publish request body the scanner accepts, with a valid type and id,
 * taken without a jansson tree: 0 with req filled (type and id copied
 * into the caller's buffers, data borrowed from the body). -1 when the body
 * needs jansson, which also words what is wrong with it.
 */
static int publish_scanned(const struct request *rq, struct hkd_ingest_req *req,
                           char type[HKD_TYPE_MAX + 1], char id[HKD_ID_MAX + 1])
{
	struct hkd_jscan_span t, i, d;

	if (!rq->body || !hkd_jscan_publish(rq->body, rq->len, &t, &i, &d) ||
	    t.n > HKD_TYPE_MAX || i.n > HKD_ID_MAX)
		return -1;
	memcpy(type, t.p, t.n);
	type[t.n] = '\0';
	memcpy(id, i.p ? i.p : "", i.n);
	id[i.n] = '\0';
	if (!hkd_event_type_valid(type) || (i.p && !hkd_event_id_valid(id)))
		return -1;
	memset(req, 0, sizeof(*req));
	req->type = type;
	req->id = i.p ? id : NULL;
	req->data_text = d.p;
	req->data_len = d.n;
	return 0;
}

enum MHD_Result hkd_api_publish(struct MHD_Connection *conn, struct request *rq)
{
	const struct hkd_source *owner;
	struct hkd_envelope_error eerr;
	struct hkd_ingest_req req;
	char type[HKD_TYPE_MAX + 1], id[HKD_ID_MAX + 1];
	json_error_t jerr;
	json_t *body = NULL;
	enum MHD_Result rc;

	if (publish_scanned(rq, &req, type, id) == 0)
		goto checked;
	body =
	    hkd_api_loadb(rq, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!body) {
		hkd_metrics_event_rejected("invalid_json");
		return hkd_api_send_error(
		    conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL, NULL,
		    NULL, "body is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
	}
	if (hkd_envelope_check(body, &eerr) != 0) {
		hkd_metrics_event_rejected("invalid_event");
		rc = hkd_api_send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		                        "invalid_event", eerr.field, NULL, NULL,
		                        "%s", eerr.message);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.type = json_string_value(json_object_get(body, "type"));
	req.data = json_object_get(body, "data");
	if (req.data &&
	    hkd_json_member_text(rq->body, rq->len, "data", &req.data_text,
	                         &req.data_len) != 0)
		req.data_text = NULL; /* a name with escapes: write data out */
	req.id = json_string_value(json_object_get(body, "id"));
checked:
	if ((owner = hkd_api_id_owner(rq->rt->cfg, req.id))) {
		hkd_metrics_event_rejected("invalid_event");
		rc = hkd_api_send_error(
		    conn, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_event",
		    "/id", NULL, NULL,
		    "ids starting with \"%s:\" are reserved for webhooks "
		    "received from source '%s'",
		    owner->name, owner->name);
		goto out;
	}
	req.source = "api";
	req.check_catalog = 1;
	rc = hkd_api_answer_ingest(conn, rq, &req, "/type");
out:
	json_decref(body);
	return rc;
}

enum MHD_Result hkd_api_event(struct MHD_Connection *conn, struct request *rq)
{
	int failed;
	json_t *ev = hkd_event_json(hkd_api_store(), rq->route.param, &failed);
	if (!ev && failed)
		return hkd_api_send_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
		    NULL, MHD_HTTP_HEADER_RETRY_AFTER, "5",
		    "the event store cannot be read; retry later");
	if (!ev)
		return hkd_api_send_error(
		    conn, MHD_HTTP_NOT_FOUND, "not_found", NULL, NULL, NULL,
		    "no event with id '%s'", rq->route.param);
	return hkd_api_send_json(conn, MHD_HTTP_OK, ev, NULL, NULL);
}
