/*
 * What the two halves of webhook subscriptions share: subscriptions.c (the
 * registry, its indexes, fan-out and each subscription's health) and
 * subs_api.c (the REST resource). Nothing else includes this file.
 */
#ifndef HKD_SUBS_H
#define HKD_SUBS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libconfig.h>

#include "hookd/plugin.h"
#include "strmap.h"

struct hkd_store;
struct hkd_plugin_lib;

struct sub {
	atomic_int refs;
	json_t *doc;    /* the stored document */
	const char *id; /* in doc */
	int enabled;
	int64_t grace_until; /* the previous secret signs until then (ms) */
	config_t lc;         /* the plugin settings made from doc */
	struct hookd_config hc;
	void *state;
	int created;
	/* In the registry (under S.lock): where in S.v, and whether its
	 * events hold a glob (then it is in S.globbed, else in the buckets
	 * of its event types). */
	size_t pos;
	int globbed;
};

/* The subscriptions that name one event type (or, S.globbed, a glob). */
struct bucket {
	char *type; /* the key in S.by_type (owned) */
	struct sub **v;
	size_t n, cap;
};

/* The registry and the settings subscriptions run with (subscriptions.c). */
struct hkd_subs {
	pthread_mutex_t lock;       /* the registry */
	pthread_mutex_t write_lock; /* one change at a time (store + install) */
	struct sub **v;             /* registry, by id: creation order */
	size_t n, cap;
	/* Its indexes: by id, and for routing by event type (struct bucket),
	 * the few with a glob apart. */
	struct hkd_strmap by_id, by_type;
	struct bucket globbed;
	struct hkd_store *store;
	struct hkd_plugin_lib *http;
	int concurrency;
	int64_t disable_after_ms;
	int64_t grace_ms;
	int timeout;
	char **allow;
	size_t n_allow;
	char http_error[1100]; /* why there is no http plugin */
};
extern struct hkd_subs hkd_subs;

/* Both files name the registry S, as each did when they were one. */
#define S hkd_subs

/* A document's member as a string (NULL when not one) or an integer. */
const char *hkd_doc_str(const json_t *doc, const char *key);
int64_t hkd_doc_int(const json_t *doc, const char *key);

/* A subscription made from doc (taken), with its http instance; for_test:
 * one whose 2xx reasons hold the receiver's answer. NULL with err set. */
struct sub *hkd_sub_make(json_t *doc, int for_test, char *err, size_t errlen);
void hkd_sub_unref(struct sub *s);

/* The registry, S.v in id order; find, remove_at, put and after with
 * S.lock held. hkd_sub_after: the index of the first one whose id sorts
 * after id (S.n when none). */
size_t hkd_sub_after(const char *id);
struct sub *hkd_sub_find(const char *id);
struct sub *hkd_sub_remove_at(size_t i);
int hkd_sub_put(struct sub *s, struct sub **old);
/* The subscription `id` with a reference, or NULL. */
struct sub *hkd_sub_get(const char *id);
/* Put s in place of the subscription with its id (or append it). */
int hkd_sub_install(struct sub *s);

/* subs_api.c: a URL with its credentials, path and query masked, as
 * logs and GET show it. Caller frees. */
char *hkd_url_masked(const char *url);

#endif
