/*
 * Accepting an event: check it against the catalog, decide its fan-out
 * (routes and subscriptions), store it with its deliveries, queue them.
 * Used by POST /v4/events and by hookd's own operational events.
 * Thread: any (blocks for the store's group commit).
 */
#ifndef HKD_INGEST_H
#define HKD_INGEST_H

#include <stddef.h>
#include <jansson.h>

#include "envelope.h"
#include "runtime.h"
#include "store.h"

struct hkd_ingest_req {
	const char *type;
	const json_t *data; /* an object (borrowed); NULL = {} */
	/* data as the client wrote it (valid JSON, borrowed), stored as it is
	 * instead of being written again from data; NULL: write data. Given
	 * without data, it is a text hkd_jscan_valid accepted, and required
	 * fields are looked up in it without a tree. */
	const char *data_text;
	size_t data_len;
	const char *id;     /* NULL: a new id */
	const char *source; /* "api", "hookd", … */
	int check_catalog;  /* refuse types missing from a non-empty catalog */
};

enum hkd_ingest_status {
	HKD_INGEST_OK = 0,
	HKD_INGEST_DUPLICATE,    /* the id is stored already: nothing done */
	HKD_INGEST_UNKNOWN_TYPE, /* not in the catalog (detail lists it) */
	HKD_INGEST_INVALID,      /* a required field is missing (err) */
	HKD_INGEST_QUEUE_FULL,
	HKD_INGEST_STORE_FAILED, /* detail says why */
	HKD_INGEST_NOMEM
};

struct hkd_ingest_result {
	char id[HKD_ID_MAX + 1];
	size_t deliveries;
	struct hkd_envelope_error err;
	char detail[512];
};

enum hkd_ingest_status hkd_ingest(struct hkd_runtime *rt, struct hkd_store *st,
                                  const struct hkd_ingest_req *rq,
                                  struct hkd_ingest_result *out);

#endif
