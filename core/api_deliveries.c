/*
 * The delivery log, replays of dead deliveries, and the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "dispatch.h"
#include "glob.h"
#include "log.h"
#include "log_json.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

/* The most deliveries one page of GET /v4/deliveries holds. */
#define PAGE_MAX      500
#define PAGE_MAX_TEXT "500" /* PAGE_MAX, for messages */

/* See http_api.h. The parameters are borrowed; f is the caller's. */
int hkd_api_deliveries_query(const char *state, const char *limit,
                             const char *cursor, struct hkd_delivery_filter *f,
                             const char **field, const char **message)
{
	char *end;

	f->state = -1;
	f->limit = 50;
	f->before_seq = 0;
	if (state && (f->state = hkd_state_parse(state)) < 0) {
		*field = "state";
		*message = "state must be pending, retrying, succeeded or dead";
		return -1;
	}
	if (limit) {
		long long v = strtoll(limit, &end, 10);
		if (*end || end == limit || v < 1 || v > PAGE_MAX) {
			*field = "limit";
			*message =
			    "limit must be a number from 1 to " PAGE_MAX_TEXT;
			return -1;
		}
		f->limit = (size_t)v;
	}
	if (cursor) {
		long long v = strtoll(cursor, &end, 10);
		if (*end || end == cursor || v < 1) {
			*field = "cursor";
			*message = "cursor must be a nextCursor value from an "
			           "earlier page";
			return -1;
		}
		f->before_seq = v;
	}
	return 0;
}

/* A query parameter, or NULL. */
static const char *query_arg(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Answer a page the store read (NULL: it could not). */
static enum MHD_Result answer_page(struct MHD_Connection *conn, json_t *page)
{
	if (!page)
		return hkd_api_send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                          "store_unavailable", NULL,
		                          MHD_HTTP_HEADER_RETRY_AFTER, "5",
		                          "the event store cannot be read");
	return hkd_api_send_json(conn, MHD_HTTP_OK, page, NULL, NULL);
}

enum MHD_Result hkd_api_deliveries(struct MHD_Connection *conn)
{
	struct hkd_delivery_filter f;
	const char *field, *message;

	memset(&f, 0, sizeof(f));
	f.target = query_arg(conn, "target");
	f.event_id = query_arg(conn, "event");
	if (hkd_api_deliveries_query(
	        query_arg(conn, "state"), query_arg(conn, "limit"),
	        query_arg(conn, "cursor"), &f, &field, &message) != 0)
		return hkd_api_send_error(conn, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter", field, NULL,
		                          NULL, "%s", message);
	return answer_page(conn, hkd_deliveries_json(hkd_api_store(), &f));
}

/* GET /v4/audit: the audit trail, newest first, paged like deliveries. */
enum MHD_Result hkd_api_audit_trail(struct MHD_Connection *conn)
{
	struct hkd_delivery_filter f;
	const char *field, *message;

	memset(&f, 0, sizeof(f));
	if (hkd_api_deliveries_query(NULL, query_arg(conn, "limit"),
	                             query_arg(conn, "cursor"), &f, &field,
	                             &message) != 0)
		return hkd_api_send_error(conn, MHD_HTTP_BAD_REQUEST,
		                          "invalid_parameter", field, NULL,
		                          NULL, "%s", message);
	return answer_page(
	    conn, hkd_audit_json(hkd_api_store(), f.limit, f.before_seq));
}

/* Visitor of replays: queue the delivery (a slot was reserved). */
static void resume_replayed(void *arg, struct hkd_stored_delivery *d)
{
	size_t *used = arg;
	char attempts[16];
	snprintf(attempts, sizeof(attempts), "%u", d->attempts);
	hkd_log_kv(HOOKD_LOG_INFO, "replay", "delivery", d->id, "event",
	           d->event->id, "target", d->target, "attempts", attempts,
	           NULL);
	if (hkd_dispatch_resume(d, 0) == 0)
		(*used)++;
	else
		hkd_stored_delivery_release(d);
}

enum MHD_Result hkd_api_retry_one(struct MHD_Connection *conn,
                                  struct request *rq)
{
	size_t used = 0;
	int state = -1, rc;
	if (hkd_dispatch_reserve(1) != 0)
		return hkd_api_send_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_full", NULL,
		    MHD_HTTP_HEADER_RETRY_AFTER, "1",
		    "the delivery queue is full; retry later");
	rc = hkd_store_replay(hkd_api_store(), rq->route.param, resume_replayed,
	                      &used, &state);
	if (used == 0)
		hkd_dispatch_unreserve(1);
	switch (rc) {
	case HKD_STORE_OK:
		hkd_api_audit(conn, rq, "delivery.replay", rq->route.param,
		              NULL);
		return hkd_api_send_json(conn, MHD_HTTP_ACCEPTED,
		                         json_pack("{s:s, s:s}", "id",
		                                   rq->route.param, "state",
		                                   "pending"),
		                         NULL, NULL);
	case HKD_STORE_NOT_FOUND:
		return hkd_api_send_error(
		    conn, MHD_HTTP_NOT_FOUND, "not_found", NULL, NULL, NULL,
		    "no delivery with id '%s'", rq->route.param);
	case HKD_STORE_CONFLICT:
		return hkd_api_send_error(
		    conn, MHD_HTTP_CONFLICT, "not_dead", NULL, NULL, NULL,
		    "delivery '%s' is %s; only dead deliveries can be retried",
		    rq->route.param,
		    hkd_state_name((enum hkd_delivery_state)state));
	default:
		return hkd_api_store_unavailable(conn, "replay failed");
	}
}

/* Bulk replays per call, at most. */
#define REPLAY_MAX 1000

enum MHD_Result hkd_api_retry_dead(struct MHD_Connection *conn,
                                   struct request *rq)
{
	json_error_t jerr;
	json_t *body = NULL, *v;
	const char *target = NULL, *type = NULL, *key;
	char gerr[256];
	size_t max = REPLAY_MAX, used = 0, done = 0, left = 0, room;
	struct hkd_dispatch_stats ds;
	enum MHD_Result rc;

	if (rq->len > 0) {
		body = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES,
		                  &jerr);
		if (!body || !json_is_object(body)) {
			rc = hkd_api_send_error(
			    conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL,
			    NULL, NULL, "body must be a JSON object: %s",
			    body ? "not an object" : jerr.text);
			goto out;
		}
		json_object_foreach(body, key, v)
		{
			if (strcmp(key, "target") == 0 && json_is_string(v))
				target = json_string_value(v);
			else if (strcmp(key, "type") == 0 && json_is_string(v))
				type = json_string_value(v);
			else if (strcmp(key, "limit") == 0 &&
			         json_is_integer(v) &&
			         json_integer_value(v) >= 1 &&
			         json_integer_value(v) <= REPLAY_MAX)
				max = (size_t)json_integer_value(v);
			else {
				rc = hkd_api_send_error(
				    conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
				    "invalid_request", key, NULL, NULL,
				    "'%s' must be target (string), type (glob) "
				    "or limit (1-%d)",
				    key, REPLAY_MAX);
				goto out;
			}
		}
		if (type && hkd_glob_check(type, gerr, sizeof(gerr)) != 0) {
			rc = hkd_api_send_error(conn,
			                        MHD_HTTP_UNPROCESSABLE_CONTENT,
			                        "invalid_request", "type", NULL,
			                        NULL, "type: %s", gerr);
			goto out;
		}
	}
	/* Replay no more than the queue has room for. */
	hkd_dispatch_stats(&ds);
	room = ds.capacity > ds.live ? ds.capacity - ds.live : 0;
	if (max > room)
		max = room;
	if (max == 0 || hkd_dispatch_reserve(max) != 0) {
		rc = hkd_api_send_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "queue_full", NULL,
		    MHD_HTTP_HEADER_RETRY_AFTER, "1",
		    "the delivery queue is full; retry later");
		goto out;
	}
	if (hkd_store_replay_dead(hkd_api_store(), target, type, max,
	                          resume_replayed, &used, &done,
	                          &left) != HKD_STORE_OK) {
		hkd_dispatch_unreserve(max);
		rc = hkd_api_store_unavailable(conn, "replay failed");
		goto out;
	}
	hkd_dispatch_unreserve(max - used);
	{
		char detail[512];
		snprintf(detail, sizeof(detail), "retried %zu%s%s%s%s", used,
		         target ? ", target " : "", target ? target : "",
		         type ? ", type " : "", type ? type : "");
		hkd_api_audit(conn, rq, "deliveries.replay", "*", detail);
	}
	rc = hkd_api_send_json(conn, MHD_HTTP_ACCEPTED,
	                       json_pack("{s:I, s:I}", "retried",
	                                 (json_int_t)used, "remaining",
	                                 (json_int_t)(left + done - used)),
	                       NULL, NULL);
out:
	json_decref(body);
	return rc;
}
