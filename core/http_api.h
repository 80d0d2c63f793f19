/*
 * The HTTP front door (libmicrohttpd): /v4 API, /healthz. Handlers run on
 * MHD's threads; they read the current runtime and hand deliveries to the
 * dispatcher, never calling a plugin themselves.
 */
#ifndef HKD_HTTP_API_H
#define HKD_HTTP_API_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"

struct hkd_store;
struct hkd_delivery_filter;

/* Start listening as cfg->server says; events are stored in store.
 * 0, or -1 after logging why. */
int hkd_http_start(const struct hkd_config *cfg, struct hkd_store *store);
/* Stop and free everything. */
void hkd_http_stop(void);

/*
 * The body of every error answer: {"error": code, "message": message[,
 * "field": field]}, the message cut at 1023 bytes and made valid UTF-8 (it
 * quotes client input). All borrowed; caller owns the result, NULL only
 * when memory runs out.
 */
json_t *hkd_api_error_body(const char *code, const char *field,
                           const char *message);

/*
 * Routing, without libmicrohttpd: which endpoint a request names, the
 * methods it answers and the query of GET /v4/deliveries. Pure functions
 * (the handlers use them; so does tests/fuzz/fuzz_api_route).
 */
enum hkd_api_endpoint {
	HKD_EP_NONE = 0,
	HKD_EP_HEALTH,
	HKD_EP_METRICS,
	HKD_EP_EVENTS,         /* /v4/events */
	HKD_EP_EVENT,          /* /v4/events/{id} */
	HKD_EP_DELIVERIES,     /* /v4/deliveries */
	HKD_EP_DELIVERY_RETRY, /* /v4/deliveries/{id}/retry */
	HKD_EP_DEAD_RETRY,     /* /v4/deliveries/retry */
	HKD_EP_AUDIT,          /* /v4/audit */
	HKD_EP_SUBS,           /* /v4/webhook-subscriptions */
	HKD_EP_SUB,            /* /v4/webhook-subscriptions/{id} */
	HKD_EP_SUB_TEST,       /* /v4/webhook-subscriptions/{id}/test */
	HKD_EP_HOOK            /* /hooks/{source} */
};

/* Methods, as bits: what an endpoint answers (405 and its Allow header). */
#define HKD_M_GET    1u /* HEAD counts as GET */
#define HKD_M_POST   2u
#define HKD_M_PATCH  4u
#define HKD_M_DELETE 8u

struct hkd_api_route {
	enum hkd_api_endpoint ep;
	char *param;      /* the {id} of the path: 1-200 bytes without "/",
	                     malloc'd; NULL for endpoints without one */
	unsigned allowed; /* HKD_M_* bits the endpoint answers; 0 for NONE */
	unsigned method;  /* the request's method as a bit; 0 for others */
};

/*
 * Route a request: url is the path as libmicrohttpd hands it (decoded,
 * without the query), method its method; both borrowed. An unknown path
 * (or no memory for the {id}) is HKD_EP_NONE. Release r with
 * hkd_api_route_release.
 */
void hkd_api_route(const char *url, const char *method,
                   struct hkd_api_route *r);
void hkd_api_route_release(struct hkd_api_route *r);

/* The Allow header for the methods `allowed` ("GET, HEAD, POST") into
 * buf (caller's; 64 bytes hold every combination). */
void hkd_api_allow(unsigned allowed, char *buf, size_t len);

/*
 * The query of GET /v4/deliveries: state, limit and cursor (borrowed; NULL
 * when absent) into f->state (-1: any), f->limit (default 50) and
 * f->before_seq (0: from the newest); f's other members are left alone.
 * 0, or -1 with *field naming the first bad parameter and *message saying
 * why (static strings).
 */
int hkd_api_deliveries_query(const char *state, const char *limit,
                             const char *cursor, struct hkd_delivery_filter *f,
                             const char **field, const char **message);

#endif
