/*
 * Event-type globs: "*" (any run, also empty), "?" (one character), every
 * other character literal. Matching is the two-pointer walk with a single
 * backtrack point (the last "*" seen), so it never recurses and never goes
 * exponential: at worst O(len(pattern) * len(s)), and patterns are at most
 * GLOB_MAX bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "glob.h"
#include "util.h"

/* Same limit as HKD_TYPE_MAX: a longer pattern could only match by "*"s. */
#define GLOB_MAX 128

/* 1 when c may occur in an event type name: [A-Za-z0-9_.:-]. */
static int type_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
	       c == '-';
}

/*
 * Validate pattern (borrowed). Messages name the first problem:
 * "empty pattern", "pattern longer than 128 bytes",
 * "character ' ' at offset 3 cannot occur in an event type" (bytes outside
 * printable ASCII are shown as \xNN). err is caller-owned.
 */
int hkd_glob_check(const char *pattern, char *err, size_t errlen)
{
	size_t len;

	if (pattern == NULL || *pattern == '\0') {
		hkd_set_err(err, errlen, "empty pattern");
		return -1;
	}
	len = strlen(pattern);
	if (len > GLOB_MAX) {
		hkd_set_err(err, errlen, "pattern longer than %d bytes",
		            GLOB_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pattern[i];

		if (type_char(c) || c == '*' || c == '?')
			continue;
		if (c >= 0x20 && c < 0x7f)
			hkd_set_err(err, errlen,
			            "character '%c' at offset %zu cannot occur "
			            "in an event type",
			            c, i);
		else
			hkd_set_err(err, errlen,
			            "character \\x%02x at offset %zu cannot "
			            "occur in an event type",
			            c, i);
		return -1;
	}
	return 0;
}

/*
 * Match s against pattern (both borrowed; NULL matches nothing). On a
 * mismatch after a "*", retry with that "*" swallowing one more character
 * of s. Only the last "*" needs remembering: whatever an earlier "*" could
 * absorb, the later one can absorb too, as runs are unconstrained.
 */
int hkd_glob_match(const char *pattern, const char *s)
{
	const char *p = pattern;
	const char *star = NULL;   /* the last "*" seen in pattern */
	const char *resume = NULL; /* where in s that "*" stops swallowing */

	if (pattern == NULL || s == NULL)
		return 0;
	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p != '\0' && (*p == '?' || *p == *s)) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* 1 when pattern (borrowed) contains "*" or "?"; 0 otherwise or for NULL. */
int hkd_glob_is_pattern(const char *pattern)
{
	return pattern != NULL && strpbrk(pattern, "*?") != NULL;
}
