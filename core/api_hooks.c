/*
 * Inbound webhooks (POST /hooks/{source}): verified per source, then
 * ingested like published events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "envelope.h"
#include "jscan.h"
#include "jsonptr.h"
#include "log.h"
#include "metrics.h"
#include "signature.h"
#include "ssrf.h"
#include "util.h"

/* A header of the request, or NULL. */
const char *hkd_api_header(struct MHD_Connection *conn, const char *name)
{
	return name ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name)
	            : NULL;
}

/*
 * First look at POST /hooks/{source}: 404 for an unknown source, 403 for
 * a client outside its allow_from. Returns 1 when answered.
 */
int hkd_api_refuse_hook(struct MHD_Connection *conn, struct request *rq,
                        enum MHD_Result *rc)
{
	const struct hkd_source *src =
	    hkd_config_source(rq->rt->cfg, rq->route.param);
	const union MHD_ConnectionInfo *ci;
	struct hkd_ip ip;
	int allowed = 0;

	if (!src) {
		*rc = hkd_api_send_error(
		    conn, MHD_HTTP_NOT_FOUND, "not_found", NULL, NULL, NULL,
		    "no source named '%s'", rq->route.param);
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
	*rc = hkd_api_send_error(
	    conn, MHD_HTTP_FORBIDDEN, "forbidden", NULL, NULL, NULL,
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
		return hkd_sig_standard(
		    hkd_api_header(conn, "webhook-id"),
		    hkd_api_header(conn, "webhook-timestamp"),
		    hkd_api_header(conn, "webhook-signature"), body, rq->len,
		    sec, src->n_secrets, now, src->tolerance, why, whylen);
	case HKD_VERIFY_GITHUB:
		return hkd_sig_github(
		    hkd_api_header(conn, "X-Hub-Signature-256"), body, rq->len,
		    sec, src->n_secrets, why, whylen);
	case HKD_VERIFY_STRIPE:
		return hkd_sig_stripe(hkd_api_header(conn, "Stripe-Signature"),
		                      body, rq->len, sec, src->n_secrets, now,
		                      src->tolerance, why, whylen);
	case HKD_VERIFY_HMAC:
		return hkd_sig_hmac(hkd_api_header(conn, src->header),
		                    src->algorithm ? src->algorithm : "sha256",
		                    src->encoding ? src->encoding : "hex",
		                    src->prefix, body, rq->len, sec,
		                    src->n_secrets, why, whylen);
	case HKD_VERIFY_TOKEN:
		return hkd_sig_token(hkd_api_header(conn, src->header), sec,
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
		const char *h = hkd_api_header(conn, x->header);
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
enum MHD_Result hkd_api_receive_hook(struct MHD_Connection *conn,
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
		return hkd_api_send_error(
		    conn, stale ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_UNAUTHORIZED,
		    stale ? "stale_timestamp" : "invalid_signature", NULL, NULL,
		    NULL, "%s", why[0] ? why : hkd_sig_result_name(sig));
	}
	if (hook_scanned(conn, src, rq, &type, &xid) == 0)
		goto taken;
	body = hkd_api_loadb(rq, JSON_REJECT_DUPLICATES, &jerr);
	if (!body || !json_is_object(body)) {
		hkd_metrics_event_rejected("invalid_json");
		rc = hkd_api_send_error(
		    conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL, NULL,
		    NULL, "the body must be a JSON object%s%s",
		    body ? "" : ": ", body ? "" : jerr.text);
		goto out;
	}
	type = src->type ? strdup(src->type)
	                 : extract(conn, &src->type_from, body);
	xid = extract(conn, &src->id_from, body);
taken:
	if (!type || !hkd_event_type_valid(type)) {
		hkd_metrics_event_rejected("invalid_event");
		rc = hkd_api_send_error(
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
			rc = hkd_api_send_error(
			    conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
			    "invalid_event", NULL, NULL, NULL,
			    "no usable event id in %s (1-128 "
			    "characters of [A-Za-z0-9_.:-])",
			    src->id_from.header ? src->id_from.header
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
	rc = hkd_api_answer_ingest(conn, rq, &req, NULL);
out:
	free(type);
	free(xid);
	json_decref(body);
	return rc;
}
