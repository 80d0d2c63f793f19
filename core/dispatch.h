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

#include "hookd/plugin.h"
#include "runtime.h"
#include "template.h"

/*
 * An event's envelope parsed, with the texts templates wrote of it
 * (hkd_template_render_shared). Read-only once made: any number of
 * threads render from one at once. Refcounted (hkd_event_tree_put).
 */
struct hkd_event_tree {
	atomic_int refs;
	json_t *root;                 /* owned; never changed */
	struct hkd_value_texts texts; /* of root's objects and arrays */
};

/* Give back a reference on t (NULL is ignored); the last frees it. */
void hkd_event_tree_put(struct hkd_event_tree *t);

/*
 * An accepted event, shared (refcounted) by its deliveries and their
 * threads. Immutable, but for `tree` (under a lock of dispatch.c) and the
 * `queued` count: while deliveries of the event are queued for an attempt
 * they share one parsed envelope; when the last of them was attempted it
 * is dropped, so that an event waiting for a retry (or for a receiver
 * that is down) holds its text alone, not the ≈ 5× larger tree.
 */
struct hkd_event_rec {
	atomic_int refs;
	char *id;
	char *type;
	char *source;
	char *timestamp;
	char *json; /* the envelope */
	size_t json_len;
	struct hkd_event_tree *tree; /* json parsed (one reference), or NULL */
	atomic_int queued; /* deliveries in a target queue or an attempt call */
};

/* Copies every string; one reference. NULL when memory runs out. */
struct hkd_event_rec *hkd_event_rec_new(const char *id, const char *type,
                                        const char *source,
                                        const char *timestamp,
                                        const char *json);
void hkd_event_rec_unref(struct hkd_event_rec *ev);

/*
 * The envelope of ev parsed, shared with every render of the event's
 * deliveries: parsed by the first call since ev was made or its tree
 * dropped, then kept by ev. Returns one reference (caller gives it back
 * with hkd_event_tree_put), or NULL with jansson's error in jerr (may be
 * NULL) when the envelope does not parse; the next call tries again.
 */
struct hkd_event_tree *hkd_event_rec_tree(struct hkd_event_rec *ev,
                                          json_error_t *jerr);

/*
 * Let ev forget its tree; renders holding a reference keep it until they
 * give it back, the next hkd_event_rec_tree parses anew. The dispatcher
 * calls it when no delivery of ev is queued for an attempt any more.
 */
void hkd_event_rec_tree_drop(struct hkd_event_rec *ev);

/*
 * The record behind a struct hookd_event a plugin passes back to the host
 * (hookd_host.render): ev's record when ev carries the envelope of the
 * attempt this thread runs (see hkd_event_rec_enter), else NULL — a
 * plugin's own copy of the envelope, or a call from a plugin's thread.
 * Borrowed: valid until the attempt's plugin call returns.
 */
struct hkd_event_rec *hkd_event_rec_of(const struct hookd_event *ev);

/*
 * Mark ev (borrowed; the caller holds a reference) as the event of the
 * plugin call this thread is about to make, until hkd_event_rec_leave.
 * The dispatcher does this around dispatch() and dispatch_async().
 */
void hkd_event_rec_enter(struct hkd_event_rec *ev);
void hkd_event_rec_leave(void);

/* A delivery read back from the store (recovery, replay). */
struct hkd_stored_delivery {
	struct hkd_event_rec *event; /* one reference */
	char id[48];
	char *target;
	unsigned attempts; /* made so far */
	unsigned base;     /* attempts made before the schedule (re)started */
	int64_t *retry_ms; /* delays before attempt base+2, base+3, … */
	size_t n_retry;
	int64_t next_at_ms; /* wall clock: not before */
};

/* Free what d holds (not d itself). */
void hkd_stored_delivery_release(struct hkd_stored_delivery *d);

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
 * Crash containment. hkd_dispatch_crash_report writes the delivery id of
 * every attempt in flight, one per line, to fd; it is async-signal-safe,
 * for a fatal-signal handler. hkd_dispatch_set_suspects (at start, before
 * deliveries are claimed) names the deliveries such a report listed: the
 * next attempt of each is not run but counted as a RETRY with `reason`,
 * so its retry schedule — not a crash loop — decides what happens next.
 * Takes ids (a malloc'd array of malloc'd strings).
 */
void hkd_dispatch_crash_report(int fd);
void hkd_dispatch_set_suspects(char **ids, size_t n, const char *reason);

#endif
