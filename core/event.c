/* Accepted events: records, their shared trees, stored deliveries (see
 * event.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

struct hkd_event_rec *hkd_event_rec_new(const char *id, const char *type,
                                        const char *source,
                                        const char *timestamp, const char *json)
{
	struct hkd_event_rec *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	atomic_init(&ev->refs, 1);
	ev->id = strdup(id);
	ev->type = strdup(type);
	ev->source = strdup(source);
	ev->timestamp = strdup(timestamp);
	ev->json = strdup(json);
	if (!ev->id || !ev->type || !ev->source || !ev->timestamp ||
	    !ev->json) {
		hkd_event_rec_unref(ev);
		return NULL;
	}
	ev->json_len = strlen(json);
	ev->tree = NULL;
	atomic_init(&ev->queued, 0);
	return ev;
}

void hkd_event_rec_unref(struct hkd_event_rec *ev)
{
	if (!ev || atomic_fetch_sub(&ev->refs, 1) != 1)
		return;
	hkd_event_tree_put(ev->tree);
	free(ev->id);
	free(ev->type);
	free(ev->source);
	free(ev->timestamp);
	free(ev->json);
	free(ev);
}

/*
 * Locks of the records' `tree`, picked by the record's address: the
 * deliveries of one event racing to render wait for one parse instead of
 * each making its own, and a lock per record would cost every queued
 * event its size. Held for a pointer's copy, or for the parse itself.
 */
#define TREE_LOCKS 8
static pthread_mutex_t tree_locks[TREE_LOCKS] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};

static pthread_mutex_t *tree_lock(const struct hkd_event_rec *ev)
{
	return &tree_locks[((uintptr_t)ev / sizeof(*ev)) % TREE_LOCKS];
}

void hkd_event_tree_put(struct hkd_event_tree *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	hkd_value_texts_release(&t->texts);
	json_decref(t->root);
	free(t);
}

struct hkd_event_tree *hkd_event_rec_tree(struct hkd_event_rec *ev,
                                          json_error_t *jerr)
{
	pthread_mutex_t *lock = tree_lock(ev);
	struct hkd_event_tree *t;
	json_t *root;

	pthread_mutex_lock(lock);
	t = ev->tree;
	if (!t) {
		root = json_loadb(ev->json, ev->json_len, 0, jerr);
		t = root ? malloc(sizeof(*t)) : NULL;
		if (t) {
			atomic_init(&t->refs, 1); /* ev's */
			t->root = root;
			hkd_value_texts_init(&t->texts);
			ev->tree = t;
		} else if (root) {
			json_decref(root);
			if (jerr)
				hkd_strlcpy(jerr->text, "out of memory",
				            sizeof(jerr->text));
		}
	}
	if (t)
		atomic_fetch_add(&t->refs, 1);
	pthread_mutex_unlock(lock);
	return t;
}

void hkd_event_rec_tree_drop(struct hkd_event_rec *ev)
{
	pthread_mutex_t *lock = tree_lock(ev);
	struct hkd_event_tree *t;

	pthread_mutex_lock(lock);
	t = ev->tree;
	ev->tree = NULL;
	pthread_mutex_unlock(lock);
	hkd_event_tree_put(t);
}

/* The event of the plugin call this thread is making (see enter/leave). */
static _Thread_local struct hkd_event_rec *attempt_event;

void hkd_event_rec_enter(struct hkd_event_rec *ev)
{
	attempt_event = ev;
}

void hkd_event_rec_leave(void)
{
	attempt_event = NULL;
}

struct hkd_event_rec *hkd_event_rec_of(const struct hookd_event *ev)
{
	struct hkd_event_rec *rec = attempt_event;

	/* The envelope's own text, not a copy: the plugin's event is ours. */
	if (!rec || !ev || ev->json != rec->json ||
	    ev->json_len != rec->json_len)
		return NULL;
	return rec;
}

void hkd_stored_delivery_release(struct hkd_stored_delivery *d)
{
	hkd_event_rec_unref(d->event);
	free(d->target);
	free(d->retry_ms);
	d->event = NULL;
	d->target = NULL;
	d->retry_ms = NULL;
}
