/*
 * The string map (see strmap.h). A deleted entry leaves a marker so that
 * probes for the keys after it go on; markers count toward the load and
 * disappear when the table is rebuilt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* The key of a deleted entry: an address no caller's key can have. */
static const char gone_mark;
#define GONE (&gone_mark)

/* The first table's size; then doubled. */
#define FIRST_CAP 16

/* FNV-1a, 64-bit. */
static size_t hash_of(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)h;
}

/* The slot of key, or of where it would go (the first deleted slot on its
 * probe, else the empty one that ends it). cap must be non-zero. */
static struct hkd_strmap_slot *probe(const struct hkd_strmap *m,
                                     const char *key, size_t h)
{
	size_t mask = m->cap - 1, i = h & mask;
	struct hkd_strmap_slot *reuse = NULL;

	for (;;) {
		struct hkd_strmap_slot *s = &m->slots[i];

		if (!s->key)
			return reuse ? reuse : s;
		if (s->key == GONE) {
			if (!reuse)
				reuse = s;
		} else if (s->hash == h && strcmp(s->key, key) == 0) {
			return s;
		}
		i = (i + 1) & mask;
	}
}

/* Rebuild the table with cap slots (a power of two): 0, or -1. */
static int rebuild(struct hkd_strmap *m, size_t cap)
{
	struct hkd_strmap old = *m;

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		*m = old;
		return -1;
	}
	m->cap = cap;
	m->used = m->n;
	for (size_t i = 0; i < old.cap; i++) {
		const struct hkd_strmap_slot *s = &old.slots[i];

		if (s->key && s->key != GONE)
			*probe(m, s->key, s->hash) = *s;
	}
	free(old.slots);
	return 0;
}

void hkd_strmap_free(struct hkd_strmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

void *hkd_strmap_get(const struct hkd_strmap *m, const char *key)
{
	struct hkd_strmap_slot *s;

	if (m->n == 0)
		return NULL;
	s = probe(m, key, hash_of(key));
	return s->key && s->key != GONE ? s->value : NULL;
}

int hkd_strmap_put(struct hkd_strmap *m, const char *key, void *value)
{
	struct hkd_strmap_slot *s;
	size_t h = hash_of(key);

	/* Room for one more entry under 70 % load, markers counted; a table
	 * mostly of markers is rebuilt at its size. */
	if ((m->used + 1) * 10 > m->cap * 7) {
		size_t cap = m->cap ? m->cap : FIRST_CAP;

		while ((m->n + 1) * 10 > cap * 7)
			cap *= 2;
		if (cap < m->cap)
			cap = m->cap;
		if (rebuild(m, cap) != 0)
			return -1;
	}
	s = probe(m, key, h);
	if (!s->key || s->key == GONE) {
		if (!s->key)
			m->used++;
		m->n++;
	}
	s->key = key;
	s->value = value;
	s->hash = h;
	return 0;
}

void *hkd_strmap_del(struct hkd_strmap *m, const char *key)
{
	struct hkd_strmap_slot *s;
	void *value;

	if (m->n == 0)
		return NULL;
	s = probe(m, key, hash_of(key));
	if (!s->key || s->key == GONE)
		return NULL;
	value = s->value;
	s->key = GONE;
	s->value = NULL;
	m->n--;
	return value;
}
