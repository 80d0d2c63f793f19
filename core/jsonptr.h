/* JSON pointers (RFC 6901) and dotted paths over jansson values. */
#ifndef HKD_JSONPTR_H
#define HKD_JSONPTR_H

#include <jansson.h>

/*
 * Resolve an RFC 6901 pointer ("/data/items/0", "" is the root) in root.
 * Returns the value (borrowed from root) or NULL when it does not resolve or
 * the pointer is malformed ("~" not followed by 0 or 1, no leading "/").
 * On an array a token must be a canonical index ("0", "12"; not "01", "+1");
 * "-" never resolves. A JSON null resolves (to the null value, not NULL).
 */
const json_t *hkd_json_pointer(const json_t *root, const char *ptr);

/* 0 when ptr is a syntactically valid pointer, -1 otherwise. */
int hkd_json_pointer_check(const char *ptr);

/*
 * Resolve a dotted path ("data.items.0.name") in root: each segment is an
 * object key, or an array index (canonical, as for pointers) when the value
 * is an array. There are no escapes, so a key containing "." is only
 * reachable by pointer. "" is the root; an empty segment ("a..b", "a.")
 * never resolves. Returns the value (borrowed) or NULL.
 */
const json_t *hkd_json_path(const json_t *root, const char *path);

#endif
