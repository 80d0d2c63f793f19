/*
 * The HTTP front door (libmicrohttpd): /v4 API, /healthz. Handlers run on
 * MHD's threads; they read the current runtime and hand deliveries to the
 * dispatcher, never calling a plugin themselves.
 */
#ifndef HKD_HTTP_API_H
#define HKD_HTTP_API_H

#include "config.h"

struct hkd_store;

/* Start listening as cfg->server says; events are stored in store.
 * 0, or -1 after logging why. */
int hkd_http_start(const struct hkd_config *cfg, struct hkd_store *store);
/* Stop accepting connections (in-flight requests finish). */
void hkd_http_quiesce(void);
/* Stop and free everything. */
void hkd_http_stop(void);

#endif
