/*
 * Fuzz target: JSON pointers and dotted paths (core/jsonptr.c), which
 * templates, required fields and inbound type/id extraction resolve.
 *
 * Input: DOCUMENT NUL POINTER NUL PATH (a document that is not JSON is
 * replaced by a fixed one).
 * Properties:
 *  - hkd_json_pointer_check accepts exactly RFC 6901 syntax, and a
 *    malformed pointer never resolves;
 *  - every value of the document is found again, by identity, through
 *    the pointer built from its position (and through the dotted path
 *    when its keys allow one);
 *  - a pointer and the dotted path with the same plain tokens agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonptr.h"

/* A growable string for the pointer and path of the value being visited. */
struct text {
	char *p;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;

		while (cap < t->len + n + 1)
			cap *= 2;
		t->p = realloc(t->p, cap);
		FUZZ_CHECK(t->p != NULL);
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* RFC 6901 syntax, written out independently of jsonptr.c. */
static int pointer_syntax(const char *p)
{
	if (*p == '\0')
		return 1;
	if (*p != '/')
		return 0;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return 0;
	return 1;
}

/*
 * Visit v (borrowed from root) at pointer ptr and dotted path path
 * (path_ok: whether a path can name it at all). Both texts are restored
 * to their length on return.
 */
static void visit(const json_t *root, const json_t *v, struct text *ptr,
                  struct text *path, int path_ok)
{
	size_t plen = ptr->len, dlen = path->len;
	const char *key;
	json_t *child;
	size_t i;
	char num[32];

	FUZZ_CHECK(hkd_json_pointer(root, ptr->p) == v);
	if (path_ok)
		FUZZ_CHECK(hkd_json_path(root, path->p) == v);
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child)
		{
			size_t klen = strlen(key);

			/* Keys with a NUL are unreachable (documented). */
			text_add(ptr, "/", 1);
			for (const char *c = key; *c; c++) {
				if (*c == '~')
					text_add(ptr, "~0", 2);
				else if (*c == '/')
					text_add(ptr, "~1", 2);
				else
					text_add(ptr, c, 1);
			}
			if (dlen > 0)
				text_add(path, ".", 1);
			text_add(path, key, klen);
			visit(root, child, ptr, path,
			      path_ok && klen > 0 && !strchr(key, '.'));
			ptr->len = plen;
			ptr->p[plen] = '\0';
			path->len = dlen;
			path->p[dlen] = '\0';
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
		{
			int n = snprintf(num, sizeof(num), "%zu", i);

			text_add(ptr, "/", 1);
			text_add(ptr, num, (size_t)n);
			if (dlen > 0)
				text_add(path, ".", 1);
			text_add(path, num, (size_t)n);
			visit(root, child, ptr, path, path_ok);
			ptr->len = plen;
			ptr->p[plen] = '\0';
			path->len = dlen;
			path->p[dlen] = '\0';
		}
	}
}

/*
 * The dotted path with the same tokens as pointer p (malloc'd), or NULL
 * when there is none: not a pointer to a member, an escape, a "." or an
 * empty token.
 */
static char *as_path(const char *p)
{
	char *out;

	if (*p != '/' || strpbrk(p, "~.") || strstr(p, "//") ||
	    p[strlen(p) - 1] == '/')
		return NULL;
	out = strdup(p + 1);
	FUZZ_CHECK(out != NULL);
	for (char *c = out; *c; c++)
		if (*c == '/')
			*c = '.';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *doc = fuzz_field(&in);
	char *ptr = fuzz_field(&in);
	char *path = fuzz_field(&in);
	struct text tp = {NULL, 0, 0}, tq = {NULL, 0, 0};
	json_t *root;
	const json_t *r;
	char *same;

	root = json_loads(doc, JSON_DECODE_ANY, NULL);
	if (!root)
		root =
		    json_pack("{s:s, s:{s:[i, s, n]}, s:{s:i}}", "id", "evt_1",
		              "data", "items", 1, "x", "~/", "a/b", "c~d", 2);
	FUZZ_CHECK(root != NULL);

	FUZZ_CHECK((hkd_json_pointer_check(ptr) == 0) == pointer_syntax(ptr));
	r = hkd_json_pointer(root, ptr);
	if (!pointer_syntax(ptr))
		FUZZ_CHECK(r == NULL);
	if (ptr[0] == '\0')
		FUZZ_CHECK(r == root);
	same = as_path(ptr);
	if (same)
		FUZZ_CHECK(hkd_json_path(root, same) == r);
	free(same);
	/* Whatever it names, the path resolves to a value of the document or
	 * nothing; the root for "". */
	r = hkd_json_path(root, path);
	if (path[0] == '\0')
		FUZZ_CHECK(r == root);
	FUZZ_CHECK(hkd_json_pointer(NULL, ptr) == NULL);
	FUZZ_CHECK(hkd_json_path(NULL, path) == NULL);
	FUZZ_CHECK(hkd_json_path(root, NULL) == NULL);

	text_add(&tp, "", 0);
	text_add(&tq, "", 0);
	visit(root, root, &tp, &tq, 1);

	free(tp.p);
	free(tq.p);
	json_decref(root);
	free(doc);
	free(ptr);
	free(path);
	return 0;
}
