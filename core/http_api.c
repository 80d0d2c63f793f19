/*
 * HTTP API on libmicrohttpd.
 *
 * MHD calls on_request several times per request: once with the headers
 * (we pick the endpoint and refuse early: auth, method, content type,
 * declared size), once per body chunk (copied into the request up to
 * max_body), and once with no data (we answer). A request holds a
 * reference on the runtime it started with, so a reload mid-request is
 * harmless.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/sha.h>

#include "dispatch.h"
#include "envelope.h"
#include "glob.h"
#include "http_api.h"
#include "http_guard.h"
#include "ingest.h"
#include "jscan.h"
#include "jsonptr.h"
#include "signature.h"
#include "ssrf.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "store.h"
#include "subscriptions.h"
#include "util.h"

struct request {
	struct hkd_api_route route; /* the endpoint and its {id} */
	struct hkd_runtime *rt;     /* NULL until the headers are in */
	char *body;
	size_t len, cap;
	int too_big;
	int answered;
	/* The request target as it came, seen by on_request_line before
	 * libmicrohttpd cuts off its query and decodes it in place: where it
	 * starts, its length to the first NUL, whether it has a control byte
	 * or a space. NULL when that callback could not allocate. */
	const char *target;
	size_t target_len;
	int target_bad;
};

static struct MHD_Daemon *daemon_;
static struct hkd_store *store_;
static double started_at;

/* Queue text[0..len) as a JSON response; mode as MHD takes it. */
static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status,
                                 char *text, size_t len,
                                 enum MHD_ResponseMemoryMode mode,
                                 const char *hdr, const char *hdr_value)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(len, text, mode);
	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "application/json");
	if (hdr)
		MHD_add_response_header(resp, hdr, hdr_value);
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Queue a JSON response; steals body. */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status,
                                 json_t *body, const char *hdr,
                                 const char *hdr_value)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len;
	json_decref(body);
	if (!text)
		return MHD_NO;
	len = strlen(text);
	/* One trailing newline makes curl output readable. */
	char *nl = realloc(text, len + 2);
	if (nl) {
		text = nl;
		text[len++] = '\n';
		text[len] = '\0';
	}
	return send_text(conn, status, text, len, MHD_RESPMEM_MUST_FREE, hdr,
	                 hdr_value);
}

/* See http_api.h. All borrowed; the caller owns the result. */
json_t *hkd_api_error_body(const char *code, const char *field,
                           const char *message)
{
	char msg[1024];
	json_t *body;
	hkd_strlcpy(msg, message, sizeof(msg));
	/* Messages quote client input (a path, jansson's excerpt of a body)
	 * and may be cut short: jansson would refuse them as they are. */
	hkd_utf8_sanitize(msg);
	body = json_pack("{s:s, s:s}", "error", code, "message", msg);
	if (body && field)
		json_object_set_new(body, "field", json_string(field));
	return body;
}

/* Answer status with {"error": code, "message": text[, "field": field]}. */
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status,
                                  const char *code, const char *field,
                                  const char *hdr, const char *hdr_value,
                                  const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status,
                                  const char *code, const char *field,
                                  const char *hdr, const char *hdr_value,
                                  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return send_json(conn, status, hkd_api_error_body(code, field, msg),
	                 hdr, hdr_value);
}

static int is_method(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/* The key presented by the client, or NULL. */
static const char *presented_key(struct MHD_Connection *conn)
{
	const char *v =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
	if (v)
		return v;
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                MHD_HTTP_HEADER_AUTHORIZATION);
	if (v && strncasecmp(v, "Bearer ", 7) == 0) {
		v += 7;
		while (*v == ' ')
			v++;
		return v;
	}
	return NULL;
}

/* 1 when the request may use /v4 (no keys configured, or a right key). */
static int authorised(struct MHD_Connection *conn, const struct hkd_config *cfg)
{
	const char *key;
	int ok = 0;
	if (cfg->n_api_keys == 0)
		return 1;
	key = presented_key(conn);
	if (!key)
		return 0;
	/* Compare against every key, always: no early exit to time. */
	for (size_t i = 0; i < cfg->n_api_keys; i++)
		ok |= hkd_secret_equal(key, strlen(key), cfg->api_keys[i],
		                       strlen(cfg->api_keys[i]));
	return ok;
}

/* 1 when the request presents `key` (compared in constant time). */
static int presents(struct MHD_Connection *conn, const char *key)
{
	const char *k = presented_key(conn);
	return k && hkd_secret_equal(k, strlen(k), key, strlen(key));
}

/*
 * Which key made a request, for the audit trail: "key:" and the first 12
 * hex digits of its SHA-256 (names the key to whoever holds the keys,
 * reveals nothing of it), or "open" when hookd has no keys.
 */
static void key_id(struct MHD_Connection *conn, const struct hkd_config *cfg,
                   char *out, size_t len)
{
	const char *k = presented_key(conn);
	unsigned char d[SHA256_DIGEST_LENGTH];
	if (cfg->n_api_keys == 0 || !k) {
		snprintf(out, len, "open");
		return;
	}
	SHA256((const unsigned char *)k, strlen(k), d);
	snprintf(out, len, "key:%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2],
	         d[3], d[4], d[5]);
}

/*
 * A change made through the API: a structured log line and a stored
 * record (GET /v4/audit). A record the store cannot take is logged as
 * such; the change itself stands.
 */
static void audit(struct MHD_Connection *conn, const struct request *rq,
                  const char *action, const char *target, const char *detail)
{
	char kid[32];
	struct hkd_audit_rec rec;
	key_id(conn, rq->rt->cfg, kid, sizeof(kid));
	hkd_log_kv(HOOKD_LOG_INFO, "audit", "action", action, "target", target,
	           "key", kid, "detail", detail ? detail : "", NULL);
	rec.key_id = kid;
	rec.action = action;
	rec.target = target;
	rec.detail = detail;
	hkd_store_audit_add(store_, &rec);
}

/*
 * /metrics: open, unless server.metrics_key is set; then that key or one of
 * the API keys. Every key is compared, always: no early exit to time.
 */
static int metrics_authorised(struct MHD_Connection *conn,
                              const struct hkd_config *cfg)
{
	int ok;
	if (!cfg->metrics_key)
		return 1;
	ok = presents(conn, cfg->metrics_key);
	for (size_t i = 0; i < cfg->n_api_keys; i++)
		ok |= presents(conn, cfg->api_keys[i]);
	return ok;
}

/*
 * Without API keys, the Host a request names must be one that no web page
 * can rebind to this address through DNS: an IP literal, localhost (and
 * *.localhost, which browsers resolve themselves), the listen host, or one
 * of server.allowed_hosts. No Host at all (HTTP/1.0) is not a browser's.
 */
static int host_allowed(struct MHD_Connection *conn,
                        const struct hkd_config *cfg)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                            MHD_HTTP_HEADER_HOST);
	char name[256];
	size_t n;
	unsigned char addr[16];

	if (!h)
		return 1;
	if (h[0] == '[') {
		const char *end = strchr(h, ']');
		n = end ? (size_t)(end - h - 1) : 0;
		if (!end || n == 0 || n >= sizeof(name))
			return 0;
		memcpy(name, h + 1, n);
		name[n] = '\0';
		return inet_pton(AF_INET6, name, addr) == 1;
	}
	n = strcspn(h, ":");
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, h, n);
	name[n] = '\0';
	if (name[n - 1] == '.') /* the root label: "localhost." */
		name[--n] = '\0';
	if (n == 0)
		return 0;
	if (inet_pton(AF_INET, name, addr) == 1 ||
	    strcasecmp(name, "localhost") == 0 ||
	    (n > 10 && strcasecmp(name + n - 10, ".localhost") == 0))
		return 1;
	if (cfg->listen_host && strcasecmp(name, cfg->listen_host) == 0)
		return 1;
	for (size_t i = 0; i < cfg->n_allowed_hosts; i++)
		if (strcasecmp(name, cfg->allowed_hosts[i]) == 0)
			return 1;
	return 0;
}

/* 1 when Content-Type is application/json (parameters allowed). */
static int is_json_type(struct MHD_Connection *conn)
{
	const char *ct = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n;
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; ");
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static enum MHD_Result get_catalog(struct MHD_Connection *conn,
                                   const struct hkd_runtime *rt)
{
	json_error_t err;
	json_t *body = json_loads(rt->catalog_json, 0, &err);
	if (!body)
		return send_error(conn, 500, "internal", NULL, NULL, NULL,
		                  "cannot build the catalog");
	return send_json(conn, MHD_HTTP_OK, body, NULL, NULL);
}

/* Answer 503 because the store cannot write. */
static enum MHD_Result store_unavailable(struct MHD_Connection *conn,
                                         const char *why)
{
	hkd_metrics_event_rejected("store_unavailable");
	return send_error(
	    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", NULL,
	    MHD_HTTP_HEADER_RETRY_AFTER, "5",
	    "the event store cannot write (%s); retry later", why);
}

/*
 * Ingest req and answer as publishing does: 202 stored, 200 duplicate,
 * 422, 503. type_field names where the type came from in the request
 * (for the unknown_event_type error), or NULL.
 */
static enum MHD_Result answer_ingest(struct MHD_Connection *conn,
                                     struct request *rq,
                                     const struct hkd_ingest_req *req,
                                     const char *type_field)
{
	struct hkd_ingest_result res;
	switch (hkd_ingest(rq->rt, store_, req, &res)) {
	case HKD_INGEST_OK: {
		/* Written out directly: the answer to every event. The id is a
		 * name ([A-Za-z0-9_.:-], envelope.h): nothing to escape. */
		char text[HKD_ID_MAX + 64];
		int len = snprintf(text, sizeof(text),
		                   "{\"id\":\"%s\",\"deliveries\":%zu}\n",
		                   res.id, res.deliveries);

		hkd_metrics_event_accepted();
		return send_text(conn, MHD_HTTP_ACCEPTED, text, (size_t)len,
		                 MHD_RESPMEM_MUST_COPY, NULL, NULL);
	}
	case HKD_INGEST_DUPLICATE:
		/* Already stored (a retried publish, a replayed webhook). */
		hkd_metrics_event_duplicate();
		return send_json(
		    conn, MHD_HTTP_OK,
		    json_pack("{s:s, s:b}", "id", res.id, "duplicate", 1), NULL,
		    NULL);
	case HKD_INGEST_UNKNOWN_TYPE:
		hkd_metrics_event_rejected("unknown_event_type");
		return send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		                  "unknown_event_type", type_field, NULL, NULL,
		                  "%s", res.detail);
	case HKD_INGEST_INVALID:
		hkd_metrics_event_rejected("invalid_event");
		return send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		                  "invalid_event", res.err.field, NULL, NULL,
		                  "%s", res.err.message);
	case HKD_INGEST_QUEUE_FULL:
		hkd_metrics_event_rejected("queue_full");
		hkd_log_kv(HOOKD_LOG_WARN, "rejected", "type", req->type,
		           "source", req->source, "reason", "queue full", NULL);
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                  "queue_full", NULL,
		                  MHD_HTTP_HEADER_RETRY_AFTER, "1",
		                  "the delivery queue is full; retry later");
	case HKD_INGEST_STORE_FAILED:
		hkd_log_kv(HOOKD_LOG_WARN, "rejected", "type", req->type,
		           "source", req->source, "reason",
		           "store cannot write", "detail", res.detail, NULL);
		return store_unavailable(conn, res.detail);
	default:
		return send_error(
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
static const struct hkd_source *id_owner(const struct hkd_config *cfg,
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
static json_t *json_loadb_text(const struct request *rq, size_t flags,
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

static enum MHD_Result publish(struct MHD_Connection *conn, struct request *rq)
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
	body = json_loadb_text(rq, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                       &jerr);
	if (!body) {
		hkd_metrics_event_rejected("invalid_json");
		return send_error(
		    conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL, NULL,
		    NULL, "body is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
	}
	if (hkd_envelope_check(body, &eerr) != 0) {
		hkd_metrics_event_rejected("invalid_event");
		rc = send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		                "invalid_event", eerr.field, NULL, NULL, "%s",
		                eerr.message);
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
	if ((owner = id_owner(rq->rt->cfg, req.id))) {
		hkd_metrics_event_rejected("invalid_event");
		rc = send_error(
		    conn, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_event",
		    "/id", NULL, NULL,
		    "ids starting with \"%s:\" are reserved for webhooks "
		    "received from source '%s'",
		    owner->name, owner->name);
		goto out;
	}
	req.source = "api";
	req.check_catalog = 1;
	rc = answer_ingest(conn, rq, &req, "/type");
out:
	json_decref(body);
	return rc;
}

static enum MHD_Result get_metrics(struct MHD_Connection *conn)
{
	struct hkd_metrics_gauges g;
	struct hkd_dispatch_stats ds;
	struct MHD_Response *resp;
	enum MHD_Result rc;
	char *text;

	hkd_dispatch_stats(&ds);
	memset(&g, 0, sizeof(g));
	g.queue_ready = ds.ready;
	g.queue_scheduled = ds.scheduled;
	g.queue_in_flight = ds.in_flight;
	g.queue_capacity = ds.capacity;
	g.claimed = ds.claimed;
	g.dead_letters = hkd_store_dead_gauge(store_);
	g.version = PACKAGE_VERSION;
	g.start_time = started_at;
	text = hkd_metrics_render(&g);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text,
	                                       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result get_event(struct MHD_Connection *conn,
                                 struct request *rq)
{
	int failed;
	json_t *ev = hkd_store_event_lookup(store_, rq->route.param, &failed);
	if (!ev && failed)
		return send_error(
		    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
		    NULL, MHD_HTTP_HEADER_RETRY_AFTER, "5",
		    "the event store cannot be read; retry later");
	if (!ev)
		return send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                  NULL, NULL, "no event with id '%s'",
		                  rq->route.param);
	return send_json(conn, MHD_HTTP_OK, ev, NULL, NULL);
}

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

static enum MHD_Result get_deliveries(struct MHD_Connection *conn)
{
	struct hkd_delivery_filter f;
	const char *state, *limit, *cursor, *field, *message;
	json_t *page;

	memset(&f, 0, sizeof(f));
	state =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
	limit =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	cursor =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor");
	f.target =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "target");
	f.event_id =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "event");
	if (hkd_api_deliveries_query(state, limit, cursor, &f, &field,
	                             &message) != 0)
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		                  "invalid_parameter", field, NULL, NULL, "%s",
		                  message);
	page = hkd_store_deliveries_json(store_, &f);
	if (!page)
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                  "store_unavailable", NULL,
		                  MHD_HTTP_HEADER_RETRY_AFTER, "5",
		                  "the event store cannot be read");
	return send_json(conn, MHD_HTTP_OK, page, NULL, NULL);
}

/* GET /v4/audit: the audit trail, newest first, paged like deliveries. */
static enum MHD_Result get_audit(struct MHD_Connection *conn)
{
	struct hkd_delivery_filter f;
	const char *limit, *cursor, *field, *message;
	json_t *page;

	memset(&f, 0, sizeof(f));
	limit =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	cursor =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "cursor");
	if (hkd_api_deliveries_query(NULL, limit, cursor, &f, &field,
	                             &message) != 0)
		return send_error(conn, MHD_HTTP_BAD_REQUEST,
		                  "invalid_parameter", field, NULL, NULL, "%s",
		                  message);
	page = hkd_store_audit_json(store_, f.limit, f.before_seq);
	if (!page)
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                  "store_unavailable", NULL,
		                  MHD_HTTP_HEADER_RETRY_AFTER, "5",
		                  "the event store cannot be read");
	return send_json(conn, MHD_HTTP_OK, page, NULL, NULL);
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

static enum MHD_Result retry_one(struct MHD_Connection *conn,
                                 struct request *rq)
{
	size_t used = 0;
	int state = -1, rc;
	if (hkd_dispatch_reserve(1) != 0)
		return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                  "queue_full", NULL,
		                  MHD_HTTP_HEADER_RETRY_AFTER, "1",
		                  "the delivery queue is full; retry later");
	rc = hkd_store_replay(store_, rq->route.param, resume_replayed, &used,
	                      &state);
	if (used == 0)
		hkd_dispatch_unreserve(1);
	switch (rc) {
	case HKD_STORE_OK:
		audit(conn, rq, "delivery.replay", rq->route.param, NULL);
		return send_json(conn, MHD_HTTP_ACCEPTED,
		                 json_pack("{s:s, s:s}", "id", rq->route.param,
		                           "state", "pending"),
		                 NULL, NULL);
	case HKD_STORE_NOT_FOUND:
		return send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                  NULL, NULL, "no delivery with id '%s'",
		                  rq->route.param);
	case HKD_STORE_CONFLICT:
		return send_error(
		    conn, MHD_HTTP_CONFLICT, "not_dead", NULL, NULL, NULL,
		    "delivery '%s' is %s; only dead deliveries can be retried",
		    rq->route.param,
		    hkd_state_name((enum hkd_delivery_state)state));
	default:
		return store_unavailable(conn, "replay failed");
	}
}

/* Bulk replays per call, at most. */
#define REPLAY_MAX 1000

static enum MHD_Result retry_dead(struct MHD_Connection *conn,
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
			rc = send_error(conn, MHD_HTTP_BAD_REQUEST,
			                "invalid_json", NULL, NULL, NULL,
			                "body must be a JSON object: %s",
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
				rc = send_error(
				    conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
				    "invalid_request", key, NULL, NULL,
				    "'%s' must be target (string), type (glob) "
				    "or limit (1-%d)",
				    key, REPLAY_MAX);
				goto out;
			}
		}
		if (type && hkd_glob_check(type, gerr, sizeof(gerr)) != 0) {
			rc = send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
			                "invalid_request", "type", NULL, NULL,
			                "type: %s", gerr);
			goto out;
		}
	}
	/* Replay no more than the queue has room for. */
	hkd_dispatch_stats(&ds);
	room = ds.capacity > ds.live ? ds.capacity - ds.live : 0;
	if (max > room)
		max = room;
	if (max == 0 || hkd_dispatch_reserve(max) != 0) {
		rc = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		                "queue_full", NULL, MHD_HTTP_HEADER_RETRY_AFTER,
		                "1", "the delivery queue is full; retry later");
		goto out;
	}
	if (hkd_store_replay_dead(store_, target, type, max, resume_replayed,
	                          &used, &done, &left) != HKD_STORE_OK) {
		hkd_dispatch_unreserve(max);
		rc = store_unavailable(conn, "replay failed");
		goto out;
	}
	hkd_dispatch_unreserve(max - used);
	{
		char detail[512];
		snprintf(detail, sizeof(detail), "retried %zu%s%s%s%s", used,
		         target ? ", target " : "", target ? target : "",
		         type ? ", type " : "", type ? type : "");
		audit(conn, rq, "deliveries.replay", "*", detail);
	}
	rc = send_json(conn, MHD_HTTP_ACCEPTED,
	               json_pack("{s:I, s:I}", "retried", (json_int_t)used,
	                         "remaining", (json_int_t)(left + done - used)),
	               NULL, NULL);
out:
	json_decref(body);
	return rc;
}

/* A header of the request, or NULL. */
static const char *header(struct MHD_Connection *conn, const char *name)
{
	return name ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name)
	            : NULL;
}

/*
 * First look at POST /hooks/{source}: 404 for an unknown source, 403 for
 * a client outside its allow_from. Returns 1 when answered.
 */
static int refuse_hook(struct MHD_Connection *conn, struct request *rq,
                       enum MHD_Result *rc)
{
	const struct hkd_source *src =
	    hkd_config_source(rq->rt->cfg, rq->route.param);
	const union MHD_ConnectionInfo *ci;
	struct hkd_ip ip;
	int allowed = 0;

	if (!src) {
		*rc = send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                 NULL, NULL, "no source named '%s'",
		                 rq->route.param);
		return 1;
	}
	if (src->n_allow_from == 0)
		return 0;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr &&
	    hkd_ip_from_sockaddr(ci->client_addr, &ip) == 0)
		for (size_t i = 0; i < src->n_allow_from && !allowed; i++) {
			struct hkd_cidr cidr;
			if (hkd_cidr_parse(src->allow_from[i], &cidr, NULL,
			                   0) == 0 &&
			    hkd_cidr_contains(&cidr, &ip))
				allowed = 1;
		}
	if (allowed)
		return 0;
	hkd_metrics_event_rejected("forbidden");
	*rc =
	    send_error(conn, MHD_HTTP_FORBIDDEN, "forbidden", NULL, NULL, NULL,
	               "source '%s' does not accept requests from this address",
	               src->name);
	return 1;
}

/* Check the request's signature the way src says. */
static enum hkd_sig_result verify_hook(struct MHD_Connection *conn,
                                       const struct hkd_source *src,
                                       const struct request *rq, char *why,
                                       size_t whylen)
{
	const unsigned char *body =
	    (const unsigned char *)(rq->body ? rq->body : "");
	const char *const *sec = (const char *const *)src->secrets;
	int64_t now = hkd_now_ms() / 1000;
	switch (src->verify) {
	case HKD_VERIFY_STANDARD:
		return hkd_sig_standard(header(conn, "webhook-id"),
		                        header(conn, "webhook-timestamp"),
		                        header(conn, "webhook-signature"), body,
		                        rq->len, sec, src->n_secrets, now,
		                        src->tolerance, why, whylen);
	case HKD_VERIFY_GITHUB:
		return hkd_sig_github(header(conn, "X-Hub-Signature-256"), body,
		                      rq->len, sec, src->n_secrets, why,
		                      whylen);
	case HKD_VERIFY_STRIPE:
		return hkd_sig_stripe(header(conn, "Stripe-Signature"), body,
		                      rq->len, sec, src->n_secrets, now,
		                      src->tolerance, why, whylen);
	case HKD_VERIFY_HMAC:
		return hkd_sig_hmac(header(conn, src->header),
		                    src->algorithm ? src->algorithm : "sha256",
		                    src->encoding ? src->encoding : "hex",
		                    src->prefix, body, rq->len, sec,
		                    src->n_secrets, why, whylen);
	case HKD_VERIFY_TOKEN:
		return hkd_sig_token(header(conn, src->header), sec,
		                     src->n_secrets, why, whylen);
	case HKD_VERIFY_NONE:
		break;
	}
	return HKD_SIG_OK;
}

/* A value taken from a header or the JSON body, as text (caller frees). */
static char *extract(struct MHD_Connection *conn, const struct hkd_extract *x,
                     const json_t *body)
{
	const json_t *v;
	char buf[64];
	if (x->header) {
		const char *h = header(conn, x->header);
		return h && *h ? strdup(h) : NULL;
	}
	if (!x->pointer || !(v = hkd_json_pointer(body, x->pointer)))
		return NULL;
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
		return strdup(buf);
	}
	return NULL;
}

/*
 * The value x names as text, taken without a tree: from a header, or a
 * string without escapes at x's pointer in the body, which the scanner
 * accepted. Caller frees; NULL when absent. *unsure is set when only the
 * tree can tell (another kind of value, or the pointer not resolved).
 */
static char *extract_text(struct MHD_Connection *conn,
                          const struct hkd_extract *x, const struct request *rq,
                          int *unsure)
{
	struct hkd_jscan_span v;
	char *s;

	if (x->header || !x->pointer)
		return extract(conn, x, NULL);
	if (!hkd_jscan_pointer(rq->body, rq->len, x->pointer, &v) || v.n < 2 ||
	    v.p[0] != '"' || memchr(v.p, '\\', v.n) || !(s = malloc(v.n - 1))) {
		*unsure = 1;
		return NULL;
	}
	memcpy(s, v.p + 1, v.n - 2);
	s[v.n - 2] = '\0';
	return s;
}

/*
 * A received webhook's body the scanner accepts as an object, its type
 * and id (*xid, the sender's delivery id) taken without a jansson tree:
 * 0 with both set (caller frees; NULL when absent). -1 when the body
 * needs jansson, which also words what is wrong with it.
 */
static int hook_scanned(struct MHD_Connection *conn,
                        const struct hkd_source *src, const struct request *rq,
                        char **type, char **xid)
{
	int unsure = 0;

	*type = *xid = NULL;
	if (!hkd_jscan_object(rq->body, rq->len))
		return -1;
	*type = src->type ? strdup(src->type)
	                  : extract_text(conn, &src->type_from, rq, &unsure);
	if (!unsure)
		*xid = extract_text(conn, &src->id_from, rq, &unsure);
	if (!unsure)
		return 0;
	free(*type);
	free(*xid);
	*type = *xid = NULL;
	return -1;
}

/* POST /hooks/{source}: a third party's webhook, verified, as an event. */
static enum MHD_Result receive_hook(struct MHD_Connection *conn,
                                    struct request *rq)
{
	const struct hkd_source *src =
	    hkd_config_source(rq->rt->cfg, rq->route.param);
	struct hkd_ingest_req req;
	enum hkd_sig_result sig;
	json_error_t jerr;
	json_t *body = NULL;
	char why[512] = "", *type = NULL, *xid = NULL, id[HKD_ID_MAX + 1];
	enum MHD_Result rc;

	sig = verify_hook(conn, src, rq, why, sizeof(why));
	if (sig != HKD_SIG_OK) {
		int stale = sig == HKD_SIG_STALE;
		hkd_metrics_event_rejected(stale ? "stale_timestamp"
		                                 : "invalid_signature");
		hkd_log_kv(HOOKD_LOG_WARN, "rejected", "source", src->name,
		           "reason", hkd_sig_result_name(sig), "detail", why,
		           NULL);
		return send_error(
		    conn, stale ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_UNAUTHORIZED,
		    stale ? "stale_timestamp" : "invalid_signature", NULL, NULL,
		    NULL, "%s", why[0] ? why : hkd_sig_result_name(sig));
	}
	if (hook_scanned(conn, src, rq, &type, &xid) == 0)
		goto taken;
	body = json_loadb_text(rq, JSON_REJECT_DUPLICATES, &jerr);
	if (!body || !json_is_object(body)) {
		hkd_metrics_event_rejected("invalid_json");
		rc =
		    send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL,
		               NULL, NULL, "the body must be a JSON object%s%s",
		               body ? "" : ": ", body ? "" : jerr.text);
		goto out;
	}
	type = src->type ? strdup(src->type)
	                 : extract(conn, &src->type_from, body);
	xid = extract(conn, &src->id_from, body);
taken:
	if (!type || !hkd_event_type_valid(type)) {
		hkd_metrics_event_rejected("invalid_event");
		rc = send_error(
		    conn, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_event",
		    src->type_from.pointer ? src->type_from.pointer : NULL,
		    NULL, NULL, "%s %s%s%s",
		    type ? "the event type taken from" : "no event type in",
		    src->type_from.header ? "header " : "JSON pointer ",
		    src->type_from.header ? src->type_from.header
		                          : src->type_from.pointer,
		    type ? " is not a valid event type name" : "");
		goto out;
	}
	memset(&req, 0, sizeof(req));
	if (src->id_from.header || src->id_from.pointer) {
		int n = -1;

		/* Ids are the source's: "github:<delivery id>", so a replayed
		 * delivery is recognised and two sources never collide. */
		if (xid)
			n = snprintf(id, sizeof(id), "%s:%s", src->name, xid);
		if (n >= 0 && n < (int)sizeof(id) && hkd_event_id_valid(id)) {
			req.id = id;
		} else if (!src->id_from_default) {
			hkd_metrics_event_rejected("invalid_event");
			rc = send_error(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
			                "invalid_event", NULL, NULL, NULL,
			                "no usable event id in %s (1-128 "
			                "characters of [A-Za-z0-9_.:-])",
			                src->id_from.header
			                    ? src->id_from.header
			                    : src->id_from.pointer);
			goto out;
		}
		/* Else the scheme's default id_from, which this sender did not
		 * give in a usable form: a new id, as it was before there was a
		 * default, rather than refusing what used to be accepted. */
	}
	req.type = type;
	req.data = body;
	req.data_text = rq->body; /* the whole body, an object */
	req.data_len = rq->len;
	req.source = src->name;
	req.check_catalog = 1;
	rc = answer_ingest(conn, rq, &req, NULL);
out:
	free(type);
	free(xid);
	json_decref(body);
	return rc;
}

/* /v4/webhook-subscriptions and below. */
static enum MHD_Result subscriptions(struct MHD_Connection *conn,
                                     struct request *rq, const char *method)
{
	json_error_t jerr;
	json_t *body = NULL, *out = NULL;
	int status;

	if (rq->len > 0) {
		body =
		    json_loadb(rq->body, rq->len,
		               JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
		if (!body)
			return send_error(
			    conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL,
			    NULL, NULL,
			    "body is not valid JSON: %s (line %d, column %d)",
			    jerr.text, jerr.line, jerr.column);
	} else if (is_method(method, "POST") && rq->route.ep == HKD_EP_SUBS) {
		return send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_json",
		                  NULL, NULL, NULL, "a JSON body is required");
	}
	if (rq->route.ep == HKD_EP_SUBS)
		status = is_method(method, "POST")
		             ? hkd_subs_api_create(body, rq->rt->cfg, &out)
		             : hkd_subs_api_list(&out);
	else if (rq->route.ep == HKD_EP_SUB_TEST)
		status =
		    hkd_subs_api_test(rq->route.param, body, rq->rt->cfg, &out);
	else if (is_method(method, "PATCH"))
		status = body ? hkd_subs_api_update(rq->route.param, body,
		                                    rq->rt->cfg, &out)
		              : (out = json_pack("{s:s, s:s}", "error",
		                                 "invalid_json", "message",
		                                 "a JSON body is required"),
		                 400);
	else if (is_method(method, "DELETE"))
		status = hkd_subs_api_delete(rq->route.param, &out);
	else
		status = hkd_subs_api_get(rq->route.param, &out);
	if (out && status >= 200 && status < 300 &&
	    rq->route.method != HKD_M_GET &&
	    rq->route.ep != HKD_EP_SUB_TEST) { /* a change (HEAD is a GET) */
		const char *id = json_string_value(json_object_get(out, "id"));
		char changed[256] = "";
		const char *k;
		json_t *v;
		json_object_foreach(body, k,
		                    v) if (strlen(changed) + strlen(k) + 2 <
		                           sizeof(changed))
		    snprintf(changed + strlen(changed),
		             sizeof(changed) - strlen(changed), "%s%s",
		             changed[0] ? "," : "", k);
		audit(conn, rq,
		      is_method(method, "POST")     ? "subscription.create"
		      : is_method(method, "DELETE") ? "subscription.delete"
		      : json_is_true(json_object_get(body, "rotateSecret")) ||
		              json_object_get(body, "secret")
		          ? "subscription.rotate"
		          : "subscription.update",
		      id ? id : rq->route.param, changed[0] ? changed : NULL);
	}
	json_decref(body);
	if (!out)
		return MHD_NO;
	return send_json(
	    conn, (unsigned)status, out,
	    status == 503 || status == 429 ? MHD_HTTP_HEADER_RETRY_AFTER : NULL,
	    status == 503 ? "5" : "1");
}

/* Copy of the path segment at s up to the next '/' or the end. */
static char *segment(const char *s, const char **end)
{
	size_t n = strcspn(s, "/");
	*end = s + n;
	return n > 0 && n <= 200 ? strndup(s, n) : NULL;
}

/* Pick the endpoint and its {id}; HKD_EP_NONE when the path is unknown. */
static enum hkd_api_endpoint endpoint_of(const char *url, char **param)
{
	const char *rest;
	*param = NULL;
	if (strcmp(url, "/healthz") == 0)
		return HKD_EP_HEALTH;
	if (strcmp(url, "/metrics") == 0)
		return HKD_EP_METRICS;
	if (strcmp(url, "/v4/events") == 0 || strcmp(url, "/v4/events/") == 0)
		return HKD_EP_EVENTS;
	if (strcmp(url, "/v4/deliveries") == 0 ||
	    strcmp(url, "/v4/deliveries/") == 0)
		return HKD_EP_DELIVERIES;
	if (strcmp(url, "/v4/deliveries/retry") == 0)
		return HKD_EP_DEAD_RETRY;
	if (strcmp(url, "/v4/audit") == 0 || strcmp(url, "/v4/audit/") == 0)
		return HKD_EP_AUDIT;
	if (strncmp(url, "/hooks/", 7) == 0) {
		*param = segment(url + 7, &rest);
		if (*param && (*rest == '\0' || strcmp(rest, "/") == 0))
			return HKD_EP_HOOK;
		free(*param);
		*param = NULL;
		return HKD_EP_NONE;
	}
	if (strcmp(url, "/v4/webhook-subscriptions") == 0 ||
	    strcmp(url, "/v4/webhook-subscriptions/") == 0)
		return HKD_EP_SUBS;
	if (strncmp(url, "/v4/webhook-subscriptions/", 26) == 0) {
		*param = segment(url + 26, &rest);
		if (*param && *rest == '\0')
			return HKD_EP_SUB;
		if (*param && strcmp(rest, "/test") == 0)
			return HKD_EP_SUB_TEST;
	} else if (strncmp(url, "/v4/events/", 11) == 0) {
		*param = segment(url + 11, &rest);
		if (*param && *rest == '\0')
			return HKD_EP_EVENT;
	} else if (strncmp(url, "/v4/deliveries/", 15) == 0) {
		*param = segment(url + 15, &rest);
		if (*param && strcmp(rest, "/retry") == 0)
			return HKD_EP_DELIVERY_RETRY;
	}
	free(*param);
	*param = NULL;
	return HKD_EP_NONE;
}

static unsigned methods_of(enum hkd_api_endpoint ep)
{
	switch (ep) {
	case HKD_EP_HEALTH:
	case HKD_EP_METRICS:
	case HKD_EP_EVENT:
	case HKD_EP_AUDIT:
	case HKD_EP_DELIVERIES:
		return HKD_M_GET;
	case HKD_EP_EVENTS:
		return HKD_M_GET | HKD_M_POST;
	case HKD_EP_DELIVERY_RETRY:
	case HKD_EP_DEAD_RETRY:
	case HKD_EP_SUB_TEST:
	case HKD_EP_HOOK:
		return HKD_M_POST;
	case HKD_EP_SUBS:
		return HKD_M_GET | HKD_M_POST;
	case HKD_EP_SUB:
		return HKD_M_GET | HKD_M_PATCH | HKD_M_DELETE;
	case HKD_EP_NONE:
		break;
	}
	return 0;
}

/* The method as an HKD_M_* bit; 0 for methods no endpoint answers. */
static unsigned method_bit(const char *method)
{
	if (is_method(method, "GET") || is_method(method, "HEAD"))
		return HKD_M_GET;
	if (is_method(method, "POST"))
		return HKD_M_POST;
	if (is_method(method, "PATCH"))
		return HKD_M_PATCH;
	if (is_method(method, "DELETE"))
		return HKD_M_DELETE;
	return 0;
}

/* See http_api.h. url and method are borrowed; r->param is r's. */
void hkd_api_route(const char *url, const char *method, struct hkd_api_route *r)
{
	r->ep = endpoint_of(url, &r->param);
	r->allowed = methods_of(r->ep);
	r->method = method_bit(method);
}

void hkd_api_route_release(struct hkd_api_route *r)
{
	free(r->param);
	r->param = NULL;
	r->ep = HKD_EP_NONE;
	r->allowed = r->method = 0;
}

/* See http_api.h. buf is the caller's; truncated to len. */
void hkd_api_allow(unsigned allowed, char *buf, size_t len)
{
	char allow[64] = "";
	if (allowed & HKD_M_GET)
		strcat(allow, "GET, HEAD");
	if (allowed & HKD_M_POST)
		strcat(allow, allow[0] ? ", POST" : "POST");
	if (allowed & HKD_M_PATCH)
		strcat(allow, allow[0] ? ", PATCH" : "PATCH");
	if (allowed & HKD_M_DELETE)
		strcat(allow, allow[0] ? ", DELETE" : "DELETE");
	hkd_strlcpy(buf, allow, len);
}

/* Does the request announce a body (Content-Length > 0, or chunked)? */
static int has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return (cl && strtoull(cl, NULL, 10) > 0) || te;
}

/*
 * First call for a request: decide whether to refuse it before reading
 * the body. Returns 1 when an answer was queued (in *rc).
 */
/* The headers that frame a request body (RFC 9112 section 6). */
struct framing {
	int n_length;   /* Content-Length headers */
	int bad_length; /* one that is not a plain number */
	int n_coding;   /* Transfer-Encoding headers */
	int chunked;    /* the one Transfer-Encoding is exactly "chunked" */
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
	struct framing *f = cls;
	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		f->n_length++;
		if (!value || !*value ||
		    value[strspn(value, "0123456789")] != '\0')
			f->bad_length = 1;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->n_coding++;
		f->chunked = value && strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/*
 * Refuse a body whose length would have to be guessed — two lengths, a
 * length and a transfer coding, a coding other than chunked — and close
 * the connection after the answer, so that bytes behind it can never pass
 * for a request of their own. 1 when answered.
 */
static int refuse_framing(struct MHD_Connection *conn, enum MHD_Result *rc)
{
	struct framing f;
	memset(&f, 0, sizeof(f));
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
	if (f.n_length > 1 || f.bad_length) {
		*rc =
		    send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_request",
		               NULL, MHD_HTTP_HEADER_CONNECTION, "close",
		               "Content-Length must be one number, given once");
		return 1;
	}
	if (f.n_coding > 0 && f.n_length > 0) {
		*rc = send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_request",
		                 NULL, MHD_HTTP_HEADER_CONNECTION, "close",
		                 "Content-Length and Transfer-Encoding "
		                 "together are ambiguous");
		return 1;
	}
	if (f.n_coding > 1 || (f.n_coding == 1 && !f.chunked)) {
		*rc = send_error(
		    conn, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", NULL,
		    MHD_HTTP_HEADER_CONNECTION, "close",
		    "the only transfer coding understood is chunked");
		return 1;
	}
	return 0;
}

static int refuse_early(struct MHD_Connection *conn, const char *url,
                        const char *method, struct request *rq,
                        enum MHD_Result *rc)
{
	const struct hkd_config *cfg = rq->rt->cfg;
	const char *cl;
	unsigned m = rq->route.method;

	if (refuse_framing(conn, rc))
		return 1;
	if (cfg->n_api_keys == 0 &&
	    (strncmp(url, "/v4/", 4) == 0 || rq->route.ep == HKD_EP_METRICS) &&
	    !host_allowed(conn, cfg)) {
		hkd_metrics_event_rejected("misdirected_request");
		*rc =
		    send_error(conn, MHD_HTTP_MISDIRECTED_REQUEST,
		               "misdirected_request", NULL, NULL, NULL,
		               "this Host is not served without API keys: name "
		               "hookd by its address or localhost, or list the "
		               "name in server.allowed_hosts");
		return 1;
	}
	if (rq->route.ep == HKD_EP_METRICS && !metrics_authorised(conn, cfg)) {
		*rc = send_error(
		    conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
		    "/metrics needs server.metrics_key or an API key "
		    "(x-api-key header or Authorization: Bearer)");
		return 1;
	}
	if (strncmp(url, "/v4/", 4) == 0 && !authorised(conn, cfg)) {
		hkd_metrics_event_rejected("unauthorized");
		*rc =
		    send_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized",
		               NULL, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
		               "a valid API key is required (x-api-key header "
		               "or Authorization: Bearer)");
		return 1;
	}
	if (rq->route.ep == HKD_EP_NONE) {
		*rc = send_error(conn, MHD_HTTP_NOT_FOUND, "not_found", NULL,
		                 NULL, NULL, "no such endpoint: %s %s", method,
		                 url);
		return 1;
	}
	if (!(rq->route.allowed & m)) {
		char allow[64];
		hkd_api_allow(rq->route.allowed, allow, sizeof(allow));
		*rc = send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                 "method_not_allowed", NULL,
		                 MHD_HTTP_HEADER_ALLOW, allow,
		                 "%s is not allowed on %s", method, url);
		return 1;
	}
	/*
	 * A call that changes state says it speaks JSON, body or not, or
	 * carries a key: what no cross-site form or simple fetch can send
	 * (either makes a browser ask first, and hookd answers no CORS).
	 */
	if ((m & (HKD_M_POST | HKD_M_PATCH | HKD_M_DELETE)) &&
	    strncmp(url, "/v4/", 4) == 0 && !is_json_type(conn) &&
	    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key") &&
	    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_AUTHORIZATION)) {
		hkd_metrics_event_rejected("unsupported_media_type");
		*rc =
		    send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		               "unsupported_media_type", NULL, NULL, NULL,
		               "%s on /v4 needs Content-Type: application/json "
		               "(with a body or without one)",
		               method);
		return 1;
	}
	if (m != HKD_M_POST && m != HKD_M_PATCH)
		return 0;
	if (rq->route.ep == HKD_EP_HOOK && refuse_hook(conn, rq, rc))
		return 1;
	/* Publishing and subscribing need a JSON body; the retry and test
	 * calls take an optional one. */
	if ((rq->route.ep == HKD_EP_EVENTS || rq->route.ep == HKD_EP_SUBS ||
	     rq->route.ep == HKD_EP_SUB || rq->route.ep == HKD_EP_HOOK ||
	     has_body(conn)) &&
	    !is_json_type(conn)) {
		hkd_metrics_event_rejected("unsupported_media_type");
		*rc = send_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		                 "unsupported_media_type", NULL, NULL, NULL,
		                 "Content-Type must be application/json");
		return 1;
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > cfg->max_body) {
		hkd_metrics_event_rejected("payload_too_large");
		*rc = send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		                 "payload_too_large", NULL, NULL, NULL,
		                 "body is larger than the limit of %zu bytes",
		                 cfg->max_body);
		return 1;
	}
	return 0;
}

/*
 * MHD_OPTION_URI_LOG_CALLBACK: called with the raw request target as soon
 * as the request line is in, before anything else touches it. Its result
 * becomes the request's state (*con_cls).
 */
static void *on_request_line(void *cls, const char *uri,
                             struct MHD_Connection *conn)
{
	struct request *rq = calloc(1, sizeof(*rq));
	(void)cls;
	(void)conn;
	if (!rq)
		return NULL;
	rq->target = uri;
	rq->target_len = strlen(uri);
	for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			rq->target_bad = 1;
	return rq;
}

/* Walks the headers in the order they came (MHD_get_connection_values). */
struct header_walk {
	const char *end; /* where the previous value ended */
	int nul;
};

/*
 * In libmicrohttpd 0.9.75 the header lines stay in its read buffer one
 * after the other, each line end (CR LF or LF) overwritten with NULs. So
 * from the end of one value to the next name there are one or two NULs,
 * and anything else there is what followed a NUL inside the value.
 */
static enum MHD_Result walk_header(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
	struct header_walk *w = cls;
	(void)kind;
	if (w->end) {
		uintptr_t gap = (uintptr_t)key - (uintptr_t)w->end;
		if (gap < 1 || gap > 2 || w->end[gap - 1] != '\0') {
			w->nul = 1;
			return MHD_NO;
		}
	}
	w->end = value ? value + strlen(value) : key + strlen(key);
	return MHD_YES;
}

/*
 * A request line or header that is not what it seemed: a method that is not
 * a token, a control byte or space in the target, a NUL anywhere in the
 * request line or a header (libmicrohttpd reads such text only up to the
 * NUL, so "GET /healthz\0junk" would be served as /healthz). 400, closed.
 */
static int refuse_malformed(struct MHD_Connection *conn, const char *method,
                            const char *version, struct request *rq,
                            enum MHD_Result *rc)
{
	struct header_walk w = {NULL, 0};
	const char *why = NULL;

	for (const unsigned char *p = (const unsigned char *)method; *p; p++)
		if (!hkd_http_tchar(*p))
			why = "the method is not a token";
	if (!why && rq->target && rq->target_bad)
		why = "the request target holds a control byte or a space";
	/* The version follows the target and one space in the same buffer: a
	 * shorter target ended at a NUL. */
	if (!why && rq->target &&
	    (uintptr_t)version != (uintptr_t)rq->target + rq->target_len + 1)
		why = "the request line holds a NUL byte";
	if (!why) {
		MHD_get_connection_values(conn, MHD_HEADER_KIND, walk_header,
		                          &w);
		if (w.nul || (w.end && w.end[1] != '\0'))
			why = "a header holds a NUL byte";
	}
	if (!why)
		return 0;
	hkd_metrics_event_rejected("invalid_request");
	*rc = send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_request", NULL,
	                 "Connection", "close", "%s", why);
	return 1;
}

/* Append a body chunk; 0, or -1 when the limit is passed. */
static int take_body(struct request *rq, const char *data, size_t n,
                     size_t limit)
{
	if (rq->len + n > limit)
		return -1;
	if (rq->len + n + 1 > rq->cap) {
		size_t cap = rq->cap ? rq->cap : 4096;
		while (cap < rq->len + n + 1)
			cap *= 2;
		if (cap > limit + 1)
			cap = limit + 1;
		char *grown = realloc(rq->body, cap);
		if (!grown)
			return -1;
		rq->body = grown;
		rq->cap = cap;
	}
	memcpy(rq->body + rq->len, data, n);
	rq->len += n;
	rq->body[rq->len] = '\0';
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct request *rq = *con_cls;
	enum MHD_Result rc = MHD_YES;
	(void)cls;

	if (!rq || !rq->rt) { /* the headers are in */
		if (!rq && !(rq = calloc(1, sizeof(*rq))))
			return MHD_NO;
		*con_cls = rq;
		rq->rt = hkd_runtime_current();
		if (!rq->rt)
			return MHD_NO;
		hkd_api_route(url, method, &rq->route);
		if (refuse_malformed(conn, method, version, rq, &rc) ||
		    refuse_early(conn, url, method, rq, &rc))
			rq->answered = 1;
		return rc;
	}
	if (*upload_data_size > 0) {
		if (!rq->answered && !rq->too_big &&
		    take_body(rq, upload_data, *upload_data_size,
		              rq->rt->cfg->max_body) != 0) {
			rq->too_big = 1;
			free(rq->body);
			rq->body = NULL;
			rq->len = rq->cap = 0;
		}
		/* Past the limit the rest is read and dropped, never kept. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole request is in: its deadline (http_guard.h) stops. */
	hkd_guard_request_complete(conn);
	if (rq->answered)
		return MHD_YES;
	rq->answered = 1;
	if (rq->too_big) {
		hkd_metrics_event_rejected("payload_too_large");
		return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		                  "payload_too_large", NULL, "Connection",
		                  "close",
		                  "body is larger than the limit of %zu bytes",
		                  rq->rt->cfg->max_body);
	}
	switch (rq->route.ep) {
	case HKD_EP_HEALTH:
		return send_json(conn, MHD_HTTP_OK,
		                 json_pack("{s:s}", "status", "ok"), NULL,
		                 NULL);
	case HKD_EP_METRICS:
		return get_metrics(conn);
	case HKD_EP_EVENTS:
		if (is_method(method, "POST"))
			return publish(conn, rq);
		return get_catalog(conn, rq->rt);
	case HKD_EP_EVENT:
		return get_event(conn, rq);
	case HKD_EP_DELIVERIES:
		return get_deliveries(conn);
	case HKD_EP_AUDIT:
		return get_audit(conn);
	case HKD_EP_DELIVERY_RETRY:
		return retry_one(conn, rq);
	case HKD_EP_DEAD_RETRY:
		return retry_dead(conn, rq);
	case HKD_EP_SUBS:
	case HKD_EP_SUB:
	case HKD_EP_SUB_TEST:
		return subscriptions(conn, rq, method);
	case HKD_EP_HOOK:
		return receive_hook(conn, rq);
	case HKD_EP_NONE:
		break;
	}
	return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	(void)cls;
	(void)toe;
	/* The next request on this connection has its own deadline. */
	hkd_guard_request_done(conn);
	if (!rq)
		return;
	hkd_runtime_unref(rq->rt);
	hkd_api_route_release(&rq->route);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* libmicrohttpd's messages: fmt is its own format string, not data. */
__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	hkd_log_kv(HOOKD_LOG_WARN, "http", "detail", msg, NULL);
}

/*
 * Percent-decoding of paths and query values, in place. "%00" stays as it
 * is: decoded, it would end the C string early, and "/v4/events/%00" would
 * be routed as "/v4/events/". Returns the new length.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *out = s;
	(void)cls;
	(void)conn;
	for (const char *in = s; *in; in++) {
		int hi, lo;
		if (in[0] == '%' &&
		    (hi = hkd_hex_value((unsigned char)in[1])) >= 0 &&
		    (lo = hkd_hex_value((unsigned char)in[2])) >= 0 &&
		    (hi | lo) != 0) {
			*out++ = (char)(hi << 4 | lo);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

/* Copies of the PEM texts for the daemon's lifetime (a reload frees the
 * configuration they came from). */
static char *tls_cert_, *tls_key_;

static void tls_forget(void)
{
	free(tls_cert_);
	if (tls_key_) {
		explicit_bzero(tls_key_, strlen(tls_key_));
		free(tls_key_);
	}
	tls_cert_ = tls_key_ = NULL;
}

int hkd_http_start(const struct hkd_config *cfg, struct hkd_store *store)
{
	struct addrinfo hints, *res = NULL;
	unsigned flags =
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
	const union MHD_DaemonInfo *info;
	struct MHD_OptionItem opts[6];
	struct hkd_guard_options guard;
	size_t n_opts = 0;
	char host[256] = "", port[16], why[512];
	int err;

	/* The connections must fit the descriptor limit (raised to the hard
	 * one here). Connections per client are the guard's to count: it
	 * counts an IPv6 client by its /64, libmicrohttpd by its address. */
	if (hkd_guard_fd_room(cfg->max_connections, why, sizeof(why)) != 0) {
		hkd_log(HOOKD_LOG_ERROR, "http", "%s", why);
		return -1;
	}
	/* Limits and TLS, in an option array: each only when set. */
	opts[n_opts++] = (struct MHD_OptionItem){
	    MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->max_connections, NULL};
	if (cfg->tls_cert_pem && cfg->tls_key_pem) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			hkd_log(HOOKD_LOG_ERROR, "http",
			        "server.tls_cert is set, but this "
			        "libmicrohttpd has no TLS support");
			return -1;
		}
		tls_cert_ = strdup(cfg->tls_cert_pem);
		tls_key_ = strdup(cfg->tls_key_pem);
		if (!tls_cert_ || !tls_key_) {
			tls_forget();
			return -1;
		}
		flags |= MHD_USE_TLS;
		opts[n_opts++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert_};
		opts[n_opts++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key_};
	}
	opts[n_opts] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	store_ = store;
	started_at = (double)hkd_now_ms() / 1000.0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	err = getaddrinfo(cfg->listen_host, cfg->listen_port, &hints, &res);
	if (err != 0) {
		hkd_log(HOOKD_LOG_ERROR, "http",
		        "cannot resolve listen address %s:%s: %s",
		        cfg->listen_host ? cfg->listen_host : "*",
		        cfg->listen_port, gai_strerror(err));
		return -1;
	}
	if (res->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	guard.request_timeout_ms = (int64_t)cfg->request_timeout * 1000;
	guard.max_per_client = cfg->max_connections_per_ip;
	guard.check_first_bytes = !(flags & MHD_USE_TLS);
	if (hkd_guard_start(&guard) != 0) {
		freeaddrinfo(res);
		tls_forget();
		return -1;
	}
	daemon_ = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, res->ai_addr,
	    MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)(cfg->http_threads > 1 ? cfg->http_threads : 0),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, hkd_guard_notify, NULL,
	    MHD_OPTION_URI_LOG_CALLBACK, on_request_line, NULL,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_ARRAY,
	    opts, MHD_OPTION_END);
	if (!daemon_) {
		hkd_guard_stop();
		hkd_log(HOOKD_LOG_ERROR, "http",
		        "cannot listen on %s:%s (address in use, not "
		        "permitted, or a "
		        "certificate and key that do not match?)",
		        cfg->listen_host ? cfg->listen_host : "*",
		        cfg->listen_port);
		freeaddrinfo(res);
		tls_forget();
		return -1;
	}
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_LISTEN_FD);
	if (info)
		hkd_guard_defer_accept(info->listen_fd);
	getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host), NULL, 0,
	            NI_NUMERICHOST);
	freeaddrinfo(res);
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(port, sizeof(port), "%u", info ? (unsigned)info->port : 0u);
	hkd_log_kv(HOOKD_LOG_INFO, "listening", "address", host, "port", port,
	           "tls", tls_cert_ ? "on" : "off", NULL);
	return 0;
}

void hkd_http_stop(void)
{
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	hkd_guard_stop();
	tls_forget();
}
