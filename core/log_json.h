/*
 * The delivery log and the audit trail as the API writes them: the one
 * place their JSON shapes are made, from the store's views (store.h).
 * GET /v4/events/{id}, GET /v4/deliveries and GET /v4/audit answer with
 * these, and hookctl --json prints what they answered.
 */
#ifndef HKD_LOG_JSON_H
#define HKD_LOG_JSON_H

#include <jansson.h>

#include "store.h"

/*
 * An event's envelope with "deliveries": [{delivery…, "attempts": [...]}].
 * NULL when unknown (*failed = 0) or when the store could not be read or
 * held something that does not parse (*failed = 1). Caller owns.
 */
json_t *hkd_event_json(struct hkd_store *st, const char *id, int *failed);

/* One page of the delivery log: {"deliveries": [...], "nextCursor": "<seq>"
 * or null}, newest first. NULL when the store could not be read. */
json_t *hkd_deliveries_json(struct hkd_store *st,
                            const struct hkd_delivery_filter *f);

/* One page of the audit trail: {"audit": [{"id", "at", "keyId", "action",
 * "target", "detail"}], "nextCursor": …}, newest first, at most limit,
 * older than before_seq when that is not 0. NULL when it could not be read.
 */
json_t *hkd_audit_json(struct hkd_store *st, size_t limit, int64_t before_seq);

#endif
