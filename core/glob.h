/* Event-type globs used by routes and subscriptions. */
#ifndef HKD_GLOB_H
#define HKD_GLOB_H

#include <stddef.h>

/*
 * Patterns: "*" matches any run of characters (also none), "?" exactly one,
 * every other character itself. Allowed characters are those of event type
 * names (see hkd_event_type_valid) plus "*" and "?".
 * 0 when pattern is valid, -1 with a message in err (empty pattern, a
 * character that can never occur in an event type, longer than 128 bytes).
 * err may be NULL; messages are truncated to errlen.
 */
int hkd_glob_check(const char *pattern, char *err, size_t errlen);

/*
 * 1 when s matches pattern, 0 otherwise (also when either is NULL). The
 * whole of s must match. Iterative, no recursion, no exponential blow-up:
 * at worst O(len(pattern) * len(s)), i.e. linear in s for checked patterns.
 * pattern need not have passed hkd_glob_check.
 */
int hkd_glob_match(const char *pattern, const char *s);

/* 1 when pattern contains a wildcard ("*" or "?"); 0 for NULL. */
int hkd_glob_is_pattern(const char *pattern);

#endif
