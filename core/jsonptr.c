/*
 * JSON pointers (RFC 6901) and dotted paths over jansson values.
 *
 * Both walk the value one segment at a time. A segment names an object
 * member, or, when the current value is an array, an index written in
 * canonical decimal (no sign, no leading zeros). The pointer token "-" (the
 * element after the last) never resolves: it names nothing that exists.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonptr.h"

/*
 * Parse s[0..len) as an array index: "0" or [1-9][0-9]*, no larger than
 * SIZE_MAX. 0 and *out set on success, -1 otherwise.
 */
static int parse_index(const char *s, size_t len, size_t *out)
{
	size_t v = 0;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (SIZE_MAX - (size_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * One step down from cur by the segment key[0..len) (already unescaped,
 * NUL-terminated at key[len]). Returns the child (borrowed from cur) or NULL.
 * json_object_get (not _getn, which needs jansson 2.14) keeps configure's
 * jansson >= 2.12; a member whose name contains a NUL is thus unreachable.
 */
static const json_t *step(const json_t *cur, const char *key, size_t len)
{
	size_t idx;

	if (json_is_object(cur))
		return json_object_get(cur, key);
	if (json_is_array(cur)) {
		if (parse_index(key, len, &idx) < 0)
			return NULL;
		return json_array_get(cur, idx);
	}
	return NULL;
}

/*
 * 0 when ptr is "" or "/" followed by tokens in which every "~" is followed
 * by "0" or "1"; -1 otherwise (also for NULL).
 */
int hkd_json_pointer_check(const char *ptr)
{
	if (ptr == NULL)
		return -1;
	if (*ptr == '\0')
		return 0;
	if (*ptr != '/')
		return -1;
	for (const char *p = ptr; *p; p++) {
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return -1;
	}
	return 0;
}

/*
 * Walk ptr token by token. Each token is unescaped ("~1" -> "/", then
 * "~0" -> "~", in one left-to-right pass so "~01" is "~1") into one scratch
 * copy of the pointer, which is at least as long as any token. root and the
 * result are borrowed; the scratch copy is freed before returning.
 */
const json_t *hkd_json_pointer(const json_t *root, const char *ptr)
{
	const json_t *cur = root;
	char *tok = NULL;
	const char *p;

	if (root == NULL || hkd_json_pointer_check(ptr) < 0)
		return NULL;
	if (*ptr == '\0')
		return root;
	tok = malloc(strlen(ptr) + 1);
	if (tok == NULL)
		goto fail;
	p = ptr + 1;
	for (;;) {
		size_t n = 0;

		while (*p != '\0' && *p != '/') {
			if (*p == '~') {
				tok[n++] = p[1] == '0' ? '~' : '/';
				p += 2;
			} else {
				tok[n++] = *p++;
			}
		}
		tok[n] = '\0';
		cur = step(cur, tok, n);
		if (cur == NULL || *p == '\0')
			break;
		p++; /* the '/' starting the next token */
	}
	free(tok);
	return cur;
fail:
	free(tok);
	return NULL;
}

/*
 * Walk path segment by segment, split at ".". An empty path is the root
 * (as the empty pointer is); an empty segment ("a..b", "a.", ".a") never
 * resolves. Segments are cut out of one scratch copy of the path. root and
 * the result are borrowed; the scratch copy is freed before returning.
 */
const json_t *hkd_json_path(const json_t *root, const char *path)
{
	const json_t *cur = root;
	char *copy = NULL;
	char *seg;

	if (root == NULL || path == NULL)
		return NULL;
	if (*path == '\0')
		return root;
	copy = malloc(strlen(path) + 1);
	if (copy == NULL)
		goto fail;
	strcpy(copy, path);
	seg = copy;
	for (;;) {
		char *dot = strchr(seg, '.');

		if (dot != NULL)
			*dot = '\0';
		if (*seg == '\0')
			goto fail;
		cur = step(cur, seg, strlen(seg));
		if (cur == NULL || dot == NULL)
			break;
		seg = dot + 1;
	}
	free(copy);
	return cur;
fail:
	free(copy);
	return NULL;
}
