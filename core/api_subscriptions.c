/*
 * The webhook-subscriptions endpoints, answered by subscriptions.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "log.h"
#include "subscriptions.h"
#include "util.h"

/* /v4/webhook-subscriptions and below. */
enum MHD_Result hkd_api_subscriptions(struct MHD_Connection *conn,
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
			return hkd_api_send_error(
			    conn, MHD_HTTP_BAD_REQUEST, "invalid_json", NULL,
			    NULL, NULL,
			    "body is not valid JSON: %s (line %d, column %d)",
			    jerr.text, jerr.line, jerr.column);
	} else if (hkd_api_is_method(method, "POST") &&
	           rq->route.ep == HKD_EP_SUBS) {
		return hkd_api_send_error(conn, MHD_HTTP_BAD_REQUEST,
		                          "invalid_json", NULL, NULL, NULL,
		                          "a JSON body is required");
	}
	if (rq->route.ep == HKD_EP_SUBS)
		status = hkd_api_is_method(method, "POST")
		             ? hkd_subs_api_create(body, rq->rt->cfg, &out)
		             : hkd_subs_api_list(
		                   MHD_lookup_connection_value(
		                       conn, MHD_GET_ARGUMENT_KIND, "limit"),
		                   MHD_lookup_connection_value(
		                       conn, MHD_GET_ARGUMENT_KIND, "cursor"),
		                   &out);
	else if (rq->route.ep == HKD_EP_SUB_TEST)
		status =
		    hkd_subs_api_test(rq->route.param, body, rq->rt->cfg, &out);
	else if (hkd_api_is_method(method, "PATCH"))
		status = body ? hkd_subs_api_update(rq->route.param, body,
		                                    rq->rt->cfg, &out)
		              : (out = json_pack("{s:s, s:s}", "error",
		                                 "invalid_json", "message",
		                                 "a JSON body is required"),
		                 400);
	else if (hkd_api_is_method(method, "DELETE"))
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
		hkd_api_audit(
		    conn, rq,
		    hkd_api_is_method(method, "POST") ? "subscription.create"
		    : hkd_api_is_method(method, "DELETE")
		        ? "subscription.delete"
		    : json_is_true(json_object_get(body, "rotateSecret")) ||
		            json_object_get(body, "secret")
		        ? "subscription.rotate"
		        : "subscription.update",
		    id ? id : rq->route.param, changed[0] ? changed : NULL);
	}
	json_decref(body);
	if (!out)
		return MHD_NO;
	return hkd_api_send_json(
	    conn, (unsigned)status, out,
	    status == 503 || status == 429 ? MHD_HTTP_HEADER_RETRY_AFTER : NULL,
	    status == 503 ? "5" : "1");
}
