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

#include "api.h"
#include "dispatch.h"
#include "http_api.h"
#include "http_guard.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "store.h"
#include "util.h"

static struct MHD_Daemon *daemon_;
static struct hkd_store *store_;
static double started_at;

struct hkd_store *hkd_api_store(void)
{
	return store_;
}

/* Queue text[0..len) as a JSON response; mode as MHD takes it. */
enum MHD_Result hkd_api_send_text(struct MHD_Connection *conn, unsigned status,
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
enum MHD_Result hkd_api_send_json(struct MHD_Connection *conn, unsigned status,
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
	return hkd_api_send_text(conn, status, text, len, MHD_RESPMEM_MUST_FREE,
	                         hdr, hdr_value);
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

/* See api.h. */
enum MHD_Result hkd_api_send_error(struct MHD_Connection *conn, unsigned status,
                                   const char *code, const char *field,
                                   const char *hdr, const char *hdr_value,
                                   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hkd_api_send_json(
	    conn, status, hkd_api_error_body(code, field, msg), hdr, hdr_value);
}

int hkd_api_is_method(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/* The key presented by the client, or NULL. */
const char *hkd_api_presented_key(struct MHD_Connection *conn)
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
	key = hkd_api_presented_key(conn);
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
	const char *k = hkd_api_presented_key(conn);
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
	const char *k = hkd_api_presented_key(conn);
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
void hkd_api_audit(struct MHD_Connection *conn, const struct request *rq,
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
int hkd_api_is_json_type(struct MHD_Connection *conn)
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
/* Answer 503 because the store cannot write. */
enum MHD_Result hkd_api_store_unavailable(struct MHD_Connection *conn,
                                          const char *why)
{
	hkd_metrics_event_rejected("store_unavailable");
	return hkd_api_send_error(
	    conn, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable", NULL,
	    MHD_HTTP_HEADER_RETRY_AFTER, "5",
	    "the event store cannot write (%s); retry later", why);
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
	if (hkd_api_is_method(method, "GET") ||
	    hkd_api_is_method(method, "HEAD"))
		return HKD_M_GET;
	if (hkd_api_is_method(method, "POST"))
		return HKD_M_POST;
	if (hkd_api_is_method(method, "PATCH"))
		return HKD_M_PATCH;
	if (hkd_api_is_method(method, "DELETE"))
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
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_BAD_REQUEST, "invalid_request", NULL,
		    MHD_HTTP_HEADER_CONNECTION, "close",
		    "Content-Length must be one number, given once");
		return 1;
	}
	if (f.n_coding > 0 && f.n_length > 0) {
		*rc = hkd_api_send_error(conn, MHD_HTTP_BAD_REQUEST,
		                         "invalid_request", NULL,
		                         MHD_HTTP_HEADER_CONNECTION, "close",
		                         "Content-Length and Transfer-Encoding "
		                         "together are ambiguous");
		return 1;
	}
	if (f.n_coding > 1 || (f.n_coding == 1 && !f.chunked)) {
		*rc = hkd_api_send_error(
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
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_MISDIRECTED_REQUEST, "misdirected_request",
		    NULL, NULL, NULL,
		    "this Host is not served without API keys: name "
		    "hookd by its address or localhost, or list the "
		    "name in server.allowed_hosts");
		return 1;
	}
	if (rq->route.ep == HKD_EP_METRICS && !metrics_authorised(conn, cfg)) {
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
		    "/metrics needs server.metrics_key or an API key "
		    "(x-api-key header or Authorization: Bearer)");
		return 1;
	}
	if (strncmp(url, "/v4/", 4) == 0 && !authorised(conn, cfg)) {
		hkd_metrics_event_rejected("unauthorized");
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
		    "a valid API key is required (x-api-key header "
		    "or Authorization: Bearer)");
		return 1;
	}
	if (rq->route.ep == HKD_EP_NONE) {
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_NOT_FOUND, "not_found", NULL, NULL, NULL,
		    "no such endpoint: %s %s", method, url);
		return 1;
	}
	if (!(rq->route.allowed & m)) {
		char allow[64];
		hkd_api_allow(rq->route.allowed, allow, sizeof(allow));
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
		    NULL, MHD_HTTP_HEADER_ALLOW, allow,
		    "%s is not allowed on %s", method, url);
		return 1;
	}
	/*
	 * A call that changes state says it speaks JSON, body or not, or
	 * carries a key: what no cross-site form or simple fetch can send
	 * (either makes a browser ask first, and hookd answers no CORS).
	 */
	if ((m & (HKD_M_POST | HKD_M_PATCH | HKD_M_DELETE)) &&
	    strncmp(url, "/v4/", 4) == 0 && !hkd_api_is_json_type(conn) &&
	    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key") &&
	    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_AUTHORIZATION)) {
		hkd_metrics_event_rejected("unsupported_media_type");
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "unsupported_media_type", NULL, NULL, NULL,
		    "%s on /v4 needs Content-Type: application/json "
		    "(with a body or without one)",
		    method);
		return 1;
	}
	if (m != HKD_M_POST && m != HKD_M_PATCH)
		return 0;
	if (rq->route.ep == HKD_EP_HOOK && hkd_api_refuse_hook(conn, rq, rc))
		return 1;
	/* Publishing and subscribing need a JSON body; the retry and test
	 * calls take an optional one. */
	if ((rq->route.ep == HKD_EP_EVENTS || rq->route.ep == HKD_EP_SUBS ||
	     rq->route.ep == HKD_EP_SUB || rq->route.ep == HKD_EP_HOOK ||
	     has_body(conn)) &&
	    !hkd_api_is_json_type(conn)) {
		hkd_metrics_event_rejected("unsupported_media_type");
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "unsupported_media_type", NULL, NULL, NULL,
		    "Content-Type must be application/json");
		return 1;
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > cfg->max_body) {
		hkd_metrics_event_rejected("payload_too_large");
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", NULL,
		    NULL, NULL, "body is larger than the limit of %zu bytes",
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
 * request line or a hkd_api_header (libmicrohttpd reads such text only up to
 * the NUL, so "GET /healthz\0junk" would be served as /healthz). 400, closed.
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
	*rc = hkd_api_send_error(conn, MHD_HTTP_BAD_REQUEST, "invalid_request",
	                         NULL, "Connection", "close", "%s", why);
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
		return hkd_api_send_error(
		    conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", NULL,
		    "Connection", "close",
		    "body is larger than the limit of %zu bytes",
		    rq->rt->cfg->max_body);
	}
	switch (rq->route.ep) {
	case HKD_EP_HEALTH:
		return hkd_api_send_json(conn, MHD_HTTP_OK,
		                         json_pack("{s:s}", "status", "ok"),
		                         NULL, NULL);
	case HKD_EP_METRICS:
		return get_metrics(conn);
	case HKD_EP_EVENTS:
		if (hkd_api_is_method(method, "POST"))
			return hkd_api_publish(conn, rq);
		return hkd_api_catalog(conn, rq->rt);
	case HKD_EP_EVENT:
		return hkd_api_event(conn, rq);
	case HKD_EP_DELIVERIES:
		return hkd_api_deliveries(conn);
	case HKD_EP_AUDIT:
		return hkd_api_audit_trail(conn);
	case HKD_EP_DELIVERY_RETRY:
		return hkd_api_retry_one(conn, rq);
	case HKD_EP_DEAD_RETRY:
		return hkd_api_retry_dead(conn, rq);
	case HKD_EP_SUBS:
	case HKD_EP_SUB:
	case HKD_EP_SUB_TEST:
		return hkd_api_subscriptions(conn, rq, method);
	case HKD_EP_HOOK:
		return hkd_api_receive_hook(conn, rq);
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
