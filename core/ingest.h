/*
 * Accepting an event: check it against the catalog, decide its fan-out
 * (routes and subscriptions), store it with its deliveries, queue them.
 * Used by POST /v4/events and by hookd's own operational events.
 * Thread: any (hkd_ingest blocks for the store's group commit).
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
	const json_t *data;  /* an object (borrowed); NULL = {} */
	const char *id;      /* NULL: a new id */
	const char *source;  /* "api", "hookd", … */
	int check_catalog;   /* refuse types missing from a non-empty catalog */
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

/* The whole of it, blocking until the event is stored. */
enum hkd_ingest_status hkd_ingest(struct hkd_runtime *rt, struct hkd_store *st,
                                  const struct hkd_ingest_req *rq,
                                  struct hkd_ingest_result *out);

/*
 * The same in three steps, for callers that must not block (the HTTP
 * threads, which answer once the commit is done):
 *  - hkd_ingest_start checks the event, decides its fan-out and takes
 *    queue room; only with HKD_INGEST_OK is *job set (out->id too);
 *  - hkd_ingest_store stores it, blocking (the store's answer: see
 *    hkd_store_put); or hkd_ingest_store_async hands the job to the
 *    store's writer; done
 *    runs on the writer thread with the store's answer (see
 *    hkd_store_put_async), -1 when it was not taken (err says why);
 *  - hkd_ingest_finish, with the store's answer, queues the deliveries,
 *    fills out and frees the job. Every started job is finished once.
 */
struct hkd_ingest_job;

enum hkd_ingest_status hkd_ingest_start(struct hkd_runtime *rt,
                                        const struct hkd_ingest_req *rq,
                                        struct hkd_ingest_result *out,
                                        struct hkd_ingest_job **job);
int hkd_ingest_store(struct hkd_store *st, struct hkd_ingest_job *job,
                     char *err, size_t errlen);
int hkd_ingest_store_async(struct hkd_store *st, struct hkd_ingest_job *job,
                           hkd_store_put_fn done, void *arg, char *err,
                           size_t errlen);
enum hkd_ingest_status hkd_ingest_finish(struct hkd_ingest_job *job,
                                         int store_rc, const char *err,
                                         struct hkd_ingest_result *out);

#endif
