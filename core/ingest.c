#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "subscriptions.h"
#include "util.h"

/* Comma-separated catalog names for messages (truncated with "..."). */
static void catalog_names(const struct hkd_config *cfg, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < cfg->n_types && off + 1 < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		                 cfg->types[i].name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

/* Handlers from the routes, then matching subscriptions. Caller frees
 * *out and *sub_ids (hkd_subs_free_ids). */
static size_t fan_out(const struct hkd_runtime *rt, const char *type,
                      const char *source, struct hkd_match **out,
                      char ***sub_ids)
{
	size_t n = hkd_runtime_route(rt, type, source, NULL, 0);
	size_t n_subs = hkd_subs_route(type, sub_ids);
	struct hkd_match *m = calloc(n + n_subs + 1, sizeof(*m));
	if (!m) {
		*out = NULL;
		return 0;
	}
	n = hkd_runtime_route(rt, type, source, m, n);
	for (size_t i = 0; i < n_subs; i++) {
		m[n + i].target = (*sub_ids)[i];
		m[n + i].concurrency = hkd_subs_concurrency();
		m[n + i].retry_ms = hkd_default_retry_ms;
		m[n + i].n_retry = hkd_default_retry_len;
	}
	*out = m;
	return n + n_subs;
}

struct hkd_ingest_job {
	struct hkd_runtime *rt; /* a reference: the matches point into it */
	struct hkd_event_rec *ev;
	struct hkd_new_delivery *dels;
	struct hkd_match *matches;
	char **sub_ids;
	size_t n;
	int reserved; /* 0, or HKD_DISPATCH_PARK */
	char id[HKD_ID_MAX + 1];
};

static void job_free(struct hkd_ingest_job *job)
{
	if (!job)
		return;
	hkd_event_rec_unref(job->ev);
	hkd_subs_free_ids(job->sub_ids);
	free(job->dels);
	free(job->matches);
	if (job->rt)
		hkd_runtime_unref(job->rt);
	free(job);
}

enum hkd_ingest_status hkd_ingest_start(struct hkd_runtime *rt,
                                        const struct hkd_ingest_req *rq,
                                        struct hkd_ingest_result *out,
                                        struct hkd_ingest_job **jobp)
{
	const struct hkd_config *cfg = rt->cfg;
	const struct hkd_event_type *et = hkd_config_type(cfg, rq->type);
	struct hkd_ingest_job *job = NULL;
	json_t *envelope = NULL;
	char ts[40], *json = NULL;
	int reserved;
	enum hkd_ingest_status rc = HKD_INGEST_NOMEM;

	memset(out, 0, sizeof(*out));
	*jobp = NULL;
	if (rq->check_catalog && cfg->n_types > 0 && !et) {
		char names[400];
		catalog_names(cfg, names, sizeof(names));
		snprintf(out->detail, sizeof(out->detail),
		         "event type '%s' is not in the catalog; known types: %s",
		         rq->type, names);
		return HKD_INGEST_UNKNOWN_TYPE;
	}
	if (rq->id)
		hkd_strlcpy(out->id, rq->id, sizeof(out->id));
	else if (hkd_random_id("evt_", out->id, sizeof(out->id)) != 0)
		goto out;
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	envelope = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", out->id, "type",
	                     rq->type, "timestamp", ts, "source", rq->source,
	                     "data",
	                     rq->data ? json_incref((json_t *)rq->data) : json_object());
	if (!envelope)
		goto out;
	if (et && hkd_envelope_require(envelope, (const char *const *)et->required,
	                               et->n_required, &out->err) != 0) {
		rc = HKD_INGEST_INVALID;
		goto out;
	}
	if (!(job = calloc(1, sizeof(*job))))
		goto out;
	hkd_runtime_ref(rt);
	job->rt = rt;
	hkd_strlcpy(job->id, out->id, sizeof(job->id));
	job->n = fan_out(rt, rq->type, rq->source, &job->matches, &job->sub_ids);
	json = json_dumps(envelope, JSON_COMPACT);
	job->dels = calloc(job->n + 1, sizeof(*job->dels));
	if (!job->matches || !json || !job->dels ||
	    !(job->ev = hkd_event_rec_new(out->id, rq->type, rq->source, ts, json)))
		goto out;
	for (size_t i = 0; i < job->n; i++) {
		if (hkd_random_id("dlv_", job->dels[i].id, sizeof(job->dels[i].id)) != 0)
			goto out;
		job->dels[i].target = job->matches[i].target;
		job->dels[i].retry_ms = job->matches[i].retry_ms;
		job->dels[i].n_retry = job->matches[i].n_retry;
	}
	/* Room first, so that nothing stored is ever refused a queue slot;
	 * past the capacity the deliveries wait in the store (parked). */
	reserved = hkd_dispatch_reserve(job->n);
	if (reserved < 0) {
		rc = HKD_INGEST_QUEUE_FULL;
		goto out;
	}
	job->reserved = reserved;
	for (size_t i = 0; i < job->n; i++)
		job->dels[i].parked = reserved == HKD_DISPATCH_PARK;
	out->deliveries = job->n;
	*jobp = job;
	job = NULL;
	rc = HKD_INGEST_OK;
out:
	if (rc == HKD_INGEST_NOMEM)
		snprintf(out->detail, sizeof(out->detail), "out of memory");
	job_free(job);
	free(json);
	json_decref(envelope);
	return rc;
}

int hkd_ingest_store(struct hkd_store *st, struct hkd_ingest_job *job,
                     char *err, size_t errlen)
{
	return hkd_store_put(st, job->ev, job->dels, job->n, err, errlen);
}

int hkd_ingest_store_async(struct hkd_store *st, struct hkd_ingest_job *job,
                           hkd_store_put_fn done, void *arg, char *err,
                           size_t errlen)
{
	return hkd_store_put_async(st, job->ev, job->dels, job->n, done, arg, err,
	                           errlen);
}

enum hkd_ingest_status hkd_ingest_finish(struct hkd_ingest_job *job,
                                         int store_rc, const char *err,
                                         struct hkd_ingest_result *out)
{
	enum hkd_ingest_status rc;
	size_t n = job->n;

	hkd_strlcpy(out->id, job->id, sizeof(out->id));
	out->deliveries = 0;
	if (store_rc != HKD_STORE_OK) {
		if (job->reserved == 0)
			hkd_dispatch_unreserve(n);
		if (store_rc == HKD_STORE_DUPLICATE) {
			rc = HKD_INGEST_DUPLICATE;
		} else {
			hkd_strlcpy(out->detail, err && err[0] ? err : "write failed",
			            sizeof(out->detail));
			rc = HKD_INGEST_STORE_FAILED;
		}
		job_free(job);
		return rc;
	}
	/* Stored: from here on the deliveries exist, whatever happens. */
	if (job->reserved == HKD_DISPATCH_PARK && n > 0)
		hkd_dispatch_parked();
	for (size_t i = 0; job->reserved == 0 && i < n; i++)
		if (hkd_dispatch_submit(job->ev, &job->matches[i], job->dels[i].id) != 0) {
			hkd_dispatch_unreserve(1);
			hkd_log_kv(HOOKD_LOG_ERROR, "dispatch", "delivery", job->dels[i].id,
			           "detail", "out of memory: the delivery runs after a restart",
			           NULL);
		}
	out->deliveries = n;
	{
		char nbuf[24];
		snprintf(nbuf, sizeof(nbuf), "%zu", n);
		hkd_log_kv(HOOKD_LOG_INFO, "event", "id", job->id, "type",
		           job->ev->type, "source", job->ev->source, "deliveries",
		           nbuf, NULL);
	}
	job_free(job);
	return HKD_INGEST_OK;
}

enum hkd_ingest_status hkd_ingest(struct hkd_runtime *rt, struct hkd_store *st,
                                  const struct hkd_ingest_req *rq,
                                  struct hkd_ingest_result *out)
{
	struct hkd_ingest_job *job;
	char err[256] = "";
	enum hkd_ingest_status rc = hkd_ingest_start(rt, rq, out, &job);
	int src;

	if (rc != HKD_INGEST_OK)
		return rc;
	src = hkd_ingest_store(st, job, err, sizeof(err));
	return hkd_ingest_finish(job, src, err, out);
}
