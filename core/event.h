/*
 * An accepted event as the daemon holds it: the record its deliveries
 * share, the parsed envelope their renders share, and a delivery as read
 * back from the store. Below the store and the dispatcher, which both
 * hand these around.
 */
#ifndef HKD_EVENT_H
#define HKD_EVENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hookd/plugin.h"
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

#endif
