/*
 * The HTTP front door (libmicrohttpd): /v4 API, /healthz. Handlers run on
 * MHD's threads; they read the current runtime and hand deliveries to the
 * dispatcher, never calling a plugin themselves.
 */
#ifndef HKD_HTTP_API_H
#define HKD_HTTP_API_H

#include <jansson.h>

#include "config.h"

struct hkd_store;

/* Start listening as cfg->server says; events are stored in store.
 * 0, or -1 after logging why. */
int hkd_http_start(const struct hkd_config *cfg, struct hkd_store *store);
/* Stop accepting connections (in-flight requests finish). */
void hkd_http_quiesce(void);
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

#endif
