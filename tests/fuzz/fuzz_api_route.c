/*
 * Fuzz target: routing of API requests (core/http_api.c): the endpoint
 * and {id} of a path, the methods it answers, the query of GET
 * /v4/deliveries, and the error answers that quote the request.
 *
 * Input: METHOD NUL TARGET, the request target as a client sends it
 * ("/v4/events/abc?limit=5"); anything after a second NUL is ignored. The
 * target is taken apart as libmicrohttpd does it before calling hookd:
 * the path before "?" percent-decoded (MHD_http_unescape), the query
 * split at "&" and "=" and decoded, the first of each name counting.
 * Properties:
 *  - an endpoint answers some methods, no endpoint none; the method bit
 *    is the method's; an {id} exists for the endpoints that have one, is
 *    1-200 bytes without "/", and the canonical path of the endpoint and
 *    {id} routes to the same;
 *  - the Allow header lists exactly the methods answered;
 *  - the 404 and 405 answers, which quote method, path and {id}, always
 *    have a body (they did not when the path was not UTF-8);
 *  - the deliveries query is accepted only with values in range, and a
 *    refusal names a parameter that was given.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "fuzz.h"
#include "http_api.h"
#include "store.h"

/* The canonical path of an endpoint; "{}" stands for the {id}. */
static const char *canonical(enum hkd_api_endpoint ep)
{
	switch (ep) {
	case HKD_EP_HEALTH:
		return "/healthz";
	case HKD_EP_METRICS:
		return "/metrics";
	case HKD_EP_EVENTS:
		return "/v4/events";
	case HKD_EP_EVENT:
		return "/v4/events/{}";
	case HKD_EP_DELIVERIES:
		return "/v4/deliveries";
	case HKD_EP_DELIVERY_RETRY:
		return "/v4/deliveries/{}/retry";
	case HKD_EP_DEAD_RETRY:
		return "/v4/deliveries/retry";
	case HKD_EP_AUDIT:
		return "/v4/audit";
	case HKD_EP_SUBS:
		return "/v4/webhook-subscriptions";
	case HKD_EP_SUB:
		return "/v4/webhook-subscriptions/{}";
	case HKD_EP_SUB_TEST:
		return "/v4/webhook-subscriptions/{}/test";
	case HKD_EP_HOOK:
		return "/hooks/{}";
	case HKD_EP_NONE:
		break;
	}
	return NULL;
}

static unsigned method_bit(const char *m)
{
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return HKD_M_GET;
	if (strcmp(m, "POST") == 0)
		return HKD_M_POST;
	if (strcmp(m, "PATCH") == 0)
		return HKD_M_PATCH;
	if (strcmp(m, "DELETE") == 0)
		return HKD_M_DELETE;
	return 0;
}

/* The bits an Allow header lists; each method once, known ones only. */
static unsigned parse_allow(char *allow)
{
	unsigned bits = 0, seen_head = 0;

	for (char *m = strtok(allow, ", "); m; m = strtok(NULL, ", ")) {
		unsigned b = method_bit(m);

		FUZZ_CHECK(b != 0);
		if (strcmp(m, "HEAD") == 0) {
			FUZZ_CHECK(!seen_head);
			seen_head = 1;
			continue;
		}
		FUZZ_CHECK(!(bits & b));
		bits |= b;
	}
	/* HEAD goes with GET. */
	FUZZ_CHECK(seen_head == !!(bits & HKD_M_GET));
	return bits;
}

/* The body of an error answer with message text (freed here) exists,
 * and so is valid UTF-8, JSON. */
static void check_answer(const char *code, const char *field, char *text)
{
	json_t *body = hkd_api_error_body(code, field, text);

	FUZZ_CHECK(body != NULL);
	FUZZ_CHECK(json_is_string(json_object_get(body, "message")));
	json_decref(body);
	free(text);
}

/* The value of query parameter `name` in q (decoded here), or NULL. */
static char *query_value(const char *q, const char *name)
{
	char *copy = strdup(q), *save = NULL, *found = NULL;

	FUZZ_CHECK(copy != NULL);
	for (char *kv = strtok_r(copy, "&", &save); kv && !found;
	     kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');

		if (eq)
			*eq = '\0';
		MHD_http_unescape(kv);
		if (strcmp(kv, name) == 0) {
			found = strdup(eq ? eq + 1 : "");
			FUZZ_CHECK(found != NULL);
			MHD_http_unescape(found);
		}
	}
	free(copy);
	return found;
}

static void check_query(const char *q)
{
	char *state = query_value(q, "state"), *limit = query_value(q, "limit");
	char *cursor = query_value(q, "cursor");
	struct hkd_delivery_filter f;
	const char *field = NULL, *message = NULL;

	memset(&f, 0, sizeof(f));
	if (hkd_api_deliveries_query(state, limit, cursor, &f, &field,
	                             &message) == 0) {
		FUZZ_CHECK(f.limit >= 1 && f.limit <= 500);
		FUZZ_CHECK(f.before_seq >= 0);
		FUZZ_CHECK(cursor || f.before_seq == 0);
		FUZZ_CHECK(state || f.state == -1);
		if (state)
			FUZZ_CHECK(f.state >= 0 &&
			           strcmp(hkd_state_name(
			                      (enum hkd_delivery_state)f.state),
			                  state) == 0);
	} else {
		FUZZ_CHECK(field && message && message[0]);
		FUZZ_CHECK((strcmp(field, "state") == 0 && state) ||
		           (strcmp(field, "limit") == 0 && limit) ||
		           (strcmp(field, "cursor") == 0 && cursor));
		check_answer("invalid_parameter", field, strdup(message));
	}
	free(state);
	free(limit);
	free(cursor);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *method = fuzz_field(&in), *target = fuzz_field(&in);
	char *query = strchr(target, '?'), allow[64], *again;
	const char *shape;
	struct hkd_api_route r, r2;

	if (query)
		*query++ = '\0';
	MHD_http_unescape(target); /* the path hookd is given */
	hkd_api_route(target, method, &r);

	FUZZ_CHECK(r.method == method_bit(method));
	FUZZ_CHECK((r.allowed == 0) == (r.ep == HKD_EP_NONE));
	FUZZ_CHECK((r.allowed & ~(HKD_M_GET | HKD_M_POST | HKD_M_PATCH |
	                          HKD_M_DELETE)) == 0);
	shape = canonical(r.ep);
	FUZZ_CHECK((r.param != NULL) == (shape && strstr(shape, "{}")));
	if (r.param) {
		FUZZ_CHECK(r.param[0] && strlen(r.param) <= 200);
		FUZZ_CHECK(!strchr(r.param, '/'));
		FUZZ_CHECK(strstr(target, r.param) != NULL);
	}
	if (shape) {
		const char *hole = strstr(shape, "{}");
		size_t n = strlen(shape) + (r.param ? strlen(r.param) : 0) + 1;

		again = malloc(n);
		FUZZ_CHECK(again != NULL);
		if (hole)
			snprintf(again, n, "%.*s%s%s", (int)(hole - shape),
			         shape, r.param, hole + 2);
		else
			snprintf(again, n, "%s", shape);
		hkd_api_route(again, method, &r2);
		FUZZ_CHECK(r2.ep == r.ep);
		FUZZ_CHECK((r2.param == NULL) == (r.param == NULL));
		FUZZ_CHECK(!r.param || strcmp(r.param, r2.param) == 0);
		hkd_api_route_release(&r2);
		free(again);
	}

	hkd_api_allow(r.allowed, allow, sizeof(allow));
	FUZZ_CHECK(fuzz_terminated(allow, sizeof(allow)));
	FUZZ_CHECK(parse_allow(allow) == r.allowed);

	/* The answers that quote the request (as refuse_early and the
	 * handlers word them). */
	if (r.ep == HKD_EP_NONE)
		check_answer(
		    "not_found", NULL,
		    fuzz_printf("no such endpoint: %s %s", method, target));
	else if (!(r.allowed & r.method))
		check_answer(
		    "method_not_allowed", NULL,
		    fuzz_printf("%s is not allowed on %s", method, target));
	if (r.param)
		check_answer("not_found", NULL,
		             fuzz_printf("no source named '%s'", r.param));
	check_query(query ? query : "");

	hkd_api_route_release(&r);
	FUZZ_CHECK(r.param == NULL && r.ep == HKD_EP_NONE);
	free(method);
	free(target);
	return 0;
}
