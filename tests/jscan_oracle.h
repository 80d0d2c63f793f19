/*
 * The scanner of core/jscan.c held against jansson, for tests/unit/test_jscan
 * and tests/fuzz/fuzz_jscan: the checks return NULL when the scanner agrees
 * with what jansson (and the code hookd runs on a jansson tree) gives for
 * the same text, else a static message saying which property failed.
 *
 * The properties (jscan.h is the contract):
 *  - hkd_jscan_valid says 1 only for texts json_loadb accepts with
 *    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, and it says 1 for every
 *    such text that is "ordinary" (oracle_ordinary);
 *  - hkd_jscan_publish says 1 only for an object of "type" (a string),
 *    "id" (a string, or absent) and "data" (an object, or absent), with
 *    exactly the strings jansson decodes and exactly the data text
 *    hkd_json_member_text finds; hkd_envelope_check accepts it when the
 *    names are valid; and it says 1 for every ordinary body that
 *    hkd_envelope_check accepts;
 *  - on a text hkd_jscan_valid accepted, hkd_jscan_pointer finds a value
 *    exactly when hkd_json_pointer does, and then the same one: its span
 *    is one JSON value, no white space around it, equal to the tree's.
 *
 * The text is copied into a buffer of exactly its length, so that a read
 * past its end is an AddressSanitizer report and not a lucky NUL.
 */
#ifndef HKD_JSCAN_ORACLE_H
#define HKD_JSCAN_ORACLE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "envelope.h"
#include "jscan.h"
#include "jsonptr.h"

#define ORACLE_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* A copy of t[0..n) in a buffer of n bytes (one when n is 0); caller frees.
 * NULL when memory runs out. */
static inline char *oracle_copy(const char *t, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c && n)
		memcpy(c, t, n);
	return c;
}

/* A text under test: c, a copy of it in exactly n bytes (oracle_copy);
 * root, jansson's tree of it, NULL when jansson refuses it. */
struct oracle_text {
	const char *c;
	size_t n;
	json_t *root;
};

/* One check on a text: NULL, or what failed. ptr: the pointer it looks up
 * (if any); *where: where it failed (caller frees; may stay NULL). */
typedef const char *oracle_check(const struct oracle_text *t, const char *ptr,
                                 char **where);

/* Run check on t[0..n) (borrowed), which it loads and releases. */
static inline const char *oracle_run(const char *t, size_t n,
                                     oracle_check *check, const char *ptr,
                                     char **where)
{
	struct oracle_text o = {oracle_copy(t, n), n, NULL};
	const char *msg;

	if (!o.c)
		return "out of memory";
	o.root = json_loadb(o.c, n, ORACLE_FLAGS, NULL);
	msg = check(&o, ptr, where);
	json_decref(o.root);
	free((char *)o.c);
	return msg;
}

/*
 * 1 when t[0..n), a text jansson accepted, is within the limits under
 * which the scanner must not say "cannot tell": no NUL byte (jansson
 * accepts one after a number, which is not JSON), no backslash at all (so
 * no escaped member name), number tokens of at most 15 characters with at
 * most 2 exponent digits, nesting of at most 60, fewer than 400 members.
 */
static inline int oracle_ordinary(const char *t, size_t n)
{
	int in_str = 0, depth = 0, in_exp = 0;
	size_t run = 0, exp_digits = 0, members = 0;

	if (memchr(t, '\\', n) || memchr(t, '\0', n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (in_str) {
			in_str = c != '"';
			continue;
		}
		if (c != '\0' && strchr("0123456789+-.eE", c)) {
			if (++run > 15)
				return 0;
			if (c == 'e' || c == 'E')
				in_exp = 1;
			else if (in_exp && c >= '0' && c <= '9' &&
			         ++exp_digits > 2)
				return 0;
			continue;
		}
		run = exp_digits = 0;
		in_exp = 0;
		if (c == '"')
			in_str = 1;
		else if (c == ':')
			members++;
		else if ((c == '{' || c == '[') && ++depth > 60)
			return 0;
		else if (c == '}' || c == ']')
			depth--;
	}
	return members < 400;
}

/* hkd_jscan_valid against json_loadb. */
static inline const char *oracle_valid_on(const struct oracle_text *t,
                                          const char *ptr, char **where)
{
	int scan = hkd_jscan_valid(t->c, t->n);

	(void)ptr;
	(void)where;
	if (scan && !t->root)
		return "hkd_jscan_valid accepts a text jansson refuses";
	if (!scan && t->root && oracle_ordinary(t->c, t->n))
		return "hkd_jscan_valid refuses an ordinary text jansson "
		       "accepts";
	return NULL;
}

static inline const char *oracle_valid(const char *t, size_t n)
{
	return oracle_run(t, n, oracle_valid_on, NULL, NULL);
}

/* 1 when the span s is the text of the string v (no escapes). */
static inline int oracle_same_string(const struct hkd_jscan_span *s,
                                     const json_t *v)
{
	return json_is_string(v) && json_string_length(v) == s->n &&
	       memcmp(json_string_value(v), s->p, s->n) == 0;
}

/* A span's bytes as a C string (caller frees), or NULL. */
static inline char *oracle_cstr(const struct hkd_jscan_span *s)
{
	char *c = malloc(s->n + 1);

	if (c) {
		memcpy(c, s->p, s->n);
		c[s->n] = '\0';
	}
	return c;
}

/* 1 when the object has no member but type, id and data. */
static inline int oracle_only_envelope_members(json_t *obj)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "type") && strcmp(key, "id") &&
		    strcmp(key, "data"))
			return 0;
	}
	return 1;
}

/* The parts of a scanned publish body held against the tree root of c. */
static inline const char *oracle_publish_spans(
    const char *c, size_t n, json_t *root, const struct hkd_jscan_span *ty,
    const struct hkd_jscan_span *id, const struct hkd_jscan_span *data)
{
	json_t *jid = json_object_get(root, "id");
	json_t *jdata = json_object_get(root, "data");
	const char *start = NULL;
	size_t vlen = 0;
	char *tname, *iname;
	int names_ok, env_ok;

	if (!json_is_object(root) || !oracle_only_envelope_members(root))
		return "hkd_jscan_publish accepts a body that is not "
		       "{type, id, data}";
	if (!oracle_same_string(ty, json_object_get(root, "type")))
		return "hkd_jscan_publish: type differs from jansson's";
	if (id->p ? !oracle_same_string(id, jid) : jid != NULL)
		return "hkd_jscan_publish: id differs from jansson's";
	if (!data->p != !jdata || (jdata && !json_is_object(jdata)))
		return "hkd_jscan_publish: data differs from jansson's";
	if (data->p &&
	    (hkd_json_member_text(c, n, "data", &start, &vlen) != 0 ||
	     start != data->p || vlen != data->n))
		return "hkd_jscan_publish: data text differs from "
		       "hkd_json_member_text's";
	tname = oracle_cstr(ty);
	iname = id->p ? oracle_cstr(id) : NULL;
	names_ok = tname && hkd_event_type_valid(tname) &&
	           (!id->p || (iname && hkd_event_id_valid(iname)));
	free(tname);
	free(iname);
	env_ok = hkd_envelope_check(root, NULL) == 0;
	if (names_ok != env_ok)
		return "hkd_jscan_publish: valid names but hkd_envelope_check "
		       "refuses the body, or the reverse";
	return NULL;
}

/* hkd_jscan_publish against json_loadb + hkd_envelope_check. */
static inline const char *oracle_publish_on(const struct oracle_text *t,
                                            const char *ptr, char **where)
{
	struct hkd_jscan_span ty, id, data;
	int scan = hkd_jscan_publish(t->c, t->n, &ty, &id, &data);

	(void)ptr;
	(void)where;
	if (scan && !t->root)
		return "hkd_jscan_publish accepts a text jansson refuses";
	if (scan)
		return oracle_publish_spans(t->c, t->n, t->root, &ty, &id,
		                            &data);
	if (t->root && oracle_ordinary(t->c, t->n) &&
	    hkd_envelope_check(t->root, NULL) == 0)
		return "hkd_jscan_publish refuses an ordinary body that "
		       "hkd_envelope_check accepts";
	return NULL;
}

static inline const char *oracle_publish(const char *t, size_t n)
{
	return oracle_run(t, n, oracle_publish_on, NULL, NULL);
}

/* 1 when c is JSON white space. */
static inline int oracle_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The compact, key-sorted text of v (caller frees), or NULL. */
static inline char *oracle_dump(const json_t *v)
{
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
}

/*
 * hkd_jscan_pointer(c, n, ptr) against hkd_json_pointer(root, ptr), where
 * c[0..n) is a text hkd_jscan_valid accepted and root its tree.
 */
static inline const char *oracle_pointer_tree(const char *c, size_t n,
                                              const json_t *root,
                                              const char *ptr)
{
	const json_t *want = hkd_json_pointer(root, ptr);
	struct hkd_jscan_span got = {NULL, 0};
	const char *msg = NULL;
	json_t *v = NULL;
	char *a = NULL, *b = NULL;

	if (!hkd_jscan_pointer(c, n, ptr, &got))
		return want ? "hkd_jscan_pointer misses a value "
		              "hkd_json_pointer finds"
		            : NULL;
	if (!want)
		return "hkd_jscan_pointer finds a value where hkd_json_pointer "
		       "finds none";
	if (!got.p || got.p < c || got.n == 0 || got.n > n ||
	    (size_t)(got.p - c) > n - got.n || oracle_ws(got.p[0]) ||
	    oracle_ws(got.p[got.n - 1]))
		return "hkd_jscan_pointer: the span is not a value's text";
	v = json_loadb(got.p, got.n, ORACLE_FLAGS, NULL);
	a = v ? oracle_dump(v) : NULL;
	b = oracle_dump(want);
	if (!v)
		msg = "hkd_jscan_pointer: the span is not one JSON value";
	else if (!a || !b || strcmp(a, b) != 0 || !json_equal(v, want))
		msg = "hkd_jscan_pointer finds another value than "
		      "hkd_json_pointer";
	free(a);
	free(b);
	json_decref(v);
	return msg;
}

/* hkd_jscan_pointer, when the scanner accepts the text, against
 * hkd_json_pointer on jansson's tree. */
static inline const char *oracle_pointer_on(const struct oracle_text *t,
                                            const char *ptr, char **where)
{
	(void)where;
	if (!t->root || !hkd_jscan_valid(t->c, t->n))
		return NULL;
	return oracle_pointer_tree(t->c, t->n, t->root, ptr);
}

static inline const char *oracle_pointer(const char *t, size_t n,
                                         const char *ptr)
{
	return oracle_run(t, n, oracle_pointer_on, ptr, NULL);
}

/*
 * The pointer to a value being visited: p holds 2 * n + 2 bytes for a text
 * of n, which no pointer into it outgrows: a level adds "/" and the name
 * with each byte escaped into at most two (the name takes two quotes and a
 * colon in the text), or "/" and an index i (after i commas in the text).
 */
struct oracle_ptr {
	char *p;
	size_t len;
};

/* Check the pointer in t to v and, depth first, to every value inside v. */
static inline const char *oracle_visit(const char *c, size_t n,
                                       const json_t *root, const json_t *v,
                                       struct oracle_ptr *t)
{
	size_t len = t->len, i;
	const char *key, *msg;
	json_t *child;

	if ((msg = oracle_pointer_tree(c, n, root, t->p)))
		return msg;
	json_object_foreach((json_t *)v, key, child)
	{
		t->p[t->len++] = '/';
		for (const char *k = key; *k; k++) {
			if (*k == '~' || *k == '/')
				t->p[t->len++] = '~';
			t->p[t->len++] = *k == '~' ? '0' : *k == '/' ? '1' : *k;
		}
		t->p[t->len] = '\0';
		if ((msg = oracle_visit(c, n, root, child, t)))
			return msg;
		t->len = len;
		t->p[len] = '\0';
	}
	json_array_foreach(v, i, child)
	{
		t->len += (size_t)sprintf(t->p + t->len, "/%zu", i);
		if ((msg = oracle_visit(c, n, root, child, t)))
			return msg;
		t->len = len;
		t->p[len] = '\0';
	}
	return NULL;
}

/*
 * When the scanner accepts the text: every value of jansson's tree is found
 * again by hkd_jscan_pointer through the pointer built from its position.
 * *where gets that pointer on a failure.
 */
static inline const char *oracle_every_value_on(const struct oracle_text *t,
                                                const char *ptr, char **where)
{
	struct oracle_ptr p = {NULL, 0};
	const char *msg;

	(void)ptr;
	if (!t->root || !hkd_jscan_valid(t->c, t->n))
		return NULL;
	if (!(p.p = malloc(2 * t->n + 2)))
		return "out of memory";
	p.p[0] = '\0';
	msg = oracle_visit(t->c, t->n, t->root, t->root, &p);
	if (msg)
		*where = p.p;
	else
		free(p.p);
	return msg;
}

/* where may be NULL; else *where is set to NULL or a pointer (caller frees). */
static inline const char *oracle_every_value(const char *t, size_t n,
                                             char **where)
{
	char *at = NULL;
	const char *msg = oracle_run(t, n, oracle_every_value_on, NULL, &at);

	if (where)
		*where = at;
	else
		free(at);
	return msg;
}

#endif
