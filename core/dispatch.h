/*
 * The dispatcher: a bounded set of live deliveries, a pool of worker
 * threads calling plugins, per-handler concurrency limits and retries.
 *
 * Threads: hkd_dispatch_reserve/submit are called by HTTP threads; workers
 * are internal; start/stop by the main thread. One mutex guards all state;
 * plugins are always called without it.
 */
#ifndef HKD_DISPATCH_H
#define HKD_DISPATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"
#include "hookd/plugin.h"
#include "runtime.h"

/*
 * The targets that are not handlers (subscriptions), made known to the
 * dispatcher by their owner as it starts, so that the dispatcher, which
 * sits below it, never calls it by name. Every member is required; see
 * subscriptions.h for what each does.
 */
struct hkd_dispatch_targets {
	int (*is_target)(const char *target);
	int (*concurrency)(void);
	int (*begin)(const char *id, const struct hookd_plugin **desc,
	             void **state, void **token, struct hookd_result *res);
	void (*end)(void *token, enum hookd_status st,
	            const struct hookd_result *res);
};

/* t (static, or living until replaced) or NULL: no such targets. */
void hkd_dispatch_set_targets(const struct hkd_dispatch_targets *t);

struct hkd_store;

/* Where attempt results are written (NULL: nowhere). Before start. */
void hkd_dispatch_set_store(struct hkd_store *st);

/*
 * Queue a stored delivery (takes over everything d holds). It uses one
 * reserved slot, except with `force` (recovery: never refuse what was
 * already accepted, even past the capacity).
 */
int hkd_dispatch_resume(struct hkd_stored_delivery *d, int force);

/* hookd_host.complete: the end of an attempt started by dispatch_async. */
void hkd_dispatch_complete(struct hookd_attempt *a, enum hookd_status st,
                           const struct hookd_result *res);

/*
 * A one-off attempt outside the store and the delivery log (POST
 * /v4/webhook-subscriptions/{id}/test): a worker starts it as it starts a
 * delivery's attempt — dispatch_async when the plugin has it, else
 * dispatch — and the caller waits for the outcome. desc, state and ev's
 * strings are the caller's, valid until hkd_dispatch_probe returns.
 */
struct hkd_probe {
	const struct hookd_plugin *desc;
	void *state;
	struct hookd_event ev;
	/* The outcome, set by hkd_dispatch_probe. */
	enum hookd_status status;
	struct hookd_result res;
};

/* Run p and wait for it, at most until its event's deadline and then
 * wait_ms more. 0 with the outcome in p; -1 when no worker runs (not
 * started, stopping) or the plugin let the deadline pass, with the reason
 * in p->res. */
int hkd_dispatch_probe(struct hkd_probe *p, int64_t wait_ms);

/* Take per-handler concurrency from the current runtime (after a reload). */
void hkd_dispatch_refresh_limits(void);

struct hkd_dispatch_stats {
	size_t capacity; /* queue_size */
	size_t live; /* accepted deliveries not yet finished (incl. reserved) */
	size_t ready;     /* due, waiting for a worker */
	size_t scheduled; /* waiting for their retry time */
	size_t in_flight; /* attempts running */
	uint64_t succeeded, dead, retried;
	uint64_t claimed; /* parked deliveries taken back into memory */
	int parked;       /* the store holds parked deliveries */
};

/* Start `workers` threads; at most `capacity` live deliveries. 0 / -1. */
int hkd_dispatch_start(size_t capacity, int workers);

/*
 * Stop: no new attempts start; running ones finish. Waits up to
 * timeout_ms for the workers. Returns the number of deliveries that were
 * never completed (queued or waiting for a retry), or -1 when some attempt
 * was still running at the deadline: those are abandoned (an outcome they
 * still bring is not recorded), and the caller exits without unloading
 * the plugins under them.
 */
long hkd_dispatch_stop(int64_t timeout_ms);

/*
 * Reserve room in memory for n deliveries of one event: 0; or, when that
 * would pass the capacity, HKD_DISPATCH_PARK with a store (the caller
 * stores them parked, then calls hkd_dispatch_parked) and -1 without one
 * (the caller answers 503). Each reserved slot is later used by
 * hkd_dispatch_submit or returned with hkd_dispatch_unreserve.
 */
#define HKD_DISPATCH_PARK 1
int hkd_dispatch_reserve(size_t n);

/* Parked deliveries were stored: the claimer takes them when there is room. */
void hkd_dispatch_parked(void);
/* With a shared store, claim at least every ms (other nodes' parkings and
 * expired leases); 1 s unless set. */
void hkd_dispatch_set_poll(int64_t ms);
void hkd_dispatch_unreserve(size_t n);

/*
 * Queue the first attempt of a delivery of ev (takes a new reference on
 * it) to match->handler, using one reserved slot. delivery_id is copied.
 */
int hkd_dispatch_submit(struct hkd_event_rec *ev, const struct hkd_match *match,
                        const char *delivery_id);

void hkd_dispatch_stats(struct hkd_dispatch_stats *out);

/*
 * Crash containment: a crash report lists the attempts in flight
 * (inflight.h). hkd_dispatch_set_suspects (at start, before deliveries
 * are claimed) names the deliveries such a report listed: the next attempt
 * of each is not run but counted as a RETRY with `reason`, so its retry
 * schedule — not a crash loop — decides what happens next. Takes ids (a
 * malloc'd array of malloc'd strings).
 */
void hkd_dispatch_set_suspects(char **ids, size_t n, const char *reason);

#endif
