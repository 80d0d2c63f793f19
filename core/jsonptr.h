/* JSON pointers (RFC 6901) and dotted paths over jansson values. */
#ifndef HKD_JSONPTR_H
#define HKD_JSONPTR_H

#include <jansson.h>

/*
 * Resolve an RFC 6901 pointer ("/data/items/0", "" is the root) in root.
 * Returns the value (borrowed from root) or NULL when it does not resolve or
 * the pointer is malformed ("~" not followed by 0 or 1, no leading "/").
 */
const json_t *hkd_json_pointer(const json_t *root, const char *ptr);

/* 0 when ptr is a syntactically valid pointer, -1 otherwise. */
int hkd_json_pointer_check(const char *ptr);

/*
 * Resolve a dotted path ("data.items.0.name") in root: each segment is an
 * object key, or an array index when the value is an array. Returns the value
 * (borrowed) or NULL.
 */
const json_t *hkd_json_path(const json_t *root, const char *path);

#endif
