/*
 * What a store backend provides (see store.h, whose functions store.c
 * forwards here). A backend's own struct starts with `struct hkd_store`,
 * so the handle it returns from its open function is its address.
 *
 * The functions have the meaning, ownership and thread rules of the
 * store.h function of the same name.
 */
#ifndef HKD_STORE_BACKEND_H
#define HKD_STORE_BACKEND_H

#include "store.h"

struct hkd_store_ops {
	void (*close)(struct hkd_store *st);
	int (*put)(struct hkd_store *st, const struct hkd_event_rec *ev,
	           const struct hkd_new_delivery *d, size_t n, char *err,
	           size_t errlen);
	void (*record)(struct hkd_store *st, const struct hkd_attempt_rec *a);
	int (*recover)(struct hkd_store *st, hkd_store_visit_fn visit, void *arg);
	long long (*release_all)(struct hkd_store *st);
	long long (*unfinished)(struct hkd_store *st);
	int (*claim)(struct hkd_store *st, size_t max, hkd_store_visit_fn visit,
	             void *arg, size_t *claimed, int64_t *next_at);
	int (*replay)(struct hkd_store *st, const char *delivery_id,
	              hkd_store_visit_fn visit, void *arg, int *state_out);
	int (*replay_dead)(struct hkd_store *st, const char *target,
	                   const char *type_glob, size_t max,
	                   hkd_store_visit_fn visit, void *arg, size_t *done,
	                   size_t *left);
	json_t *(*event_json)(struct hkd_store *st, const char *id);
	json_t *(*deliveries_json)(struct hkd_store *st,
	                           const struct hkd_delivery_filter *f);
	long long (*dead_count)(struct hkd_store *st);
	int (*sub_save)(struct hkd_store *st, const char *id, const json_t *doc);
	int (*sub_delete)(struct hkd_store *st, const char *id);
	int (*sub_load)(struct hkd_store *st,
	                void (*visit)(void *arg, const json_t *doc), void *arg);
	int shared; /* other processes use the same queue: see hkd_store_is_shared */
};

struct hkd_store {
	const struct hkd_store_ops *ops;
};

/* "sqlite:PATH" and "memory:" (store_sqlite.c). */
struct hkd_store *hkd_store_sqlite_open(const struct hkd_store_options *o,
                                        char *err, size_t errlen);

#endif
