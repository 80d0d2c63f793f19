/*
 * A map from strings to pointers: open addressing, linear probing, grown
 * at 70 % load. For what is looked up by name on a hot path and may hold
 * hundreds of thousands of entries (subscriptions by id, the dispatcher's
 * queues by target), where a list walk would make every lookup cost the
 * number of entries.
 *
 * Keys are borrowed: each must stay valid, unchanged, while its entry is
 * in the map (typically the name inside the value). Not thread-safe: the
 * owner locks.
 */
#ifndef HKD_STRMAP_H
#define HKD_STRMAP_H

#include <stddef.h>

struct hkd_strmap_slot {
	const char *key; /* NULL: empty; HKD_STRMAP_GONE: a deleted entry */
	void *value;
	size_t hash;
};

struct hkd_strmap {
	struct hkd_strmap_slot *slots;
	size_t cap;  /* slots: 0 or a power of two */
	size_t n;    /* entries */
	size_t used; /* entries and deleted ones (they lengthen probes) */
};

/* An empty map; needs no allocation until the first put. */
#define HKD_STRMAP_INIT                                                        \
	{                                                                      \
		NULL, 0, 0, 0                                                  \
	}

/* Free the table (not the keys or values); the map is empty again. */
void hkd_strmap_free(struct hkd_strmap *m);

/* The value of key, or NULL. */
void *hkd_strmap_get(const struct hkd_strmap *m, const char *key);

/* Set key's value (key and value replace those of an entry with an equal
 * key). 0, or -1 when out of memory (the map unchanged). */
int hkd_strmap_put(struct hkd_strmap *m, const char *key, void *value);

/* Remove key's entry: its value, or NULL when there was none. */
void *hkd_strmap_del(struct hkd_strmap *m, const char *key);

#endif
