/*
 * Small helpers shared by core files: time, ids, secrets, comparisons.
 * The ones the plugins need as well live in lib/ and come along with this
 * header: the clocks (clock.h), error messages into a caller's buffer
 * (errmsg.h) and UTF-8 (utf8.h).
 */
#ifndef HKD_UTIL_H
#define HKD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "errmsg.h"
#include "utf8.h"

#define HKD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Room for one more element in a growing array: *vp (a pointer to the
 * array's pointer) holds *cap elements of elem bytes, n of them used. When
 * n == *cap the array is doubled (to `first` when empty). 0, or -1 when out
 * of memory, with the array and *cap as they were.
 */
int hkd_grow(void *vp, size_t *cap, size_t n, size_t elem, size_t first);

/* The absolute time ms from now on clock `clock`, for timed waits. */
struct timespec;
void hkd_deadline(int clock, int64_t ms, struct timespec *out);

/* RFC 3339 UTC time with milliseconds into buf (at least 32 bytes). */
void hkd_format_time(int64_t wall_ms, char *buf, size_t len);

/*
 * A new id: prefix followed by 26 base32 characters, 10 of the wall clock
 * in ms then 16 random ones (80 bits from the OS CSPRNG, read ahead for 16
 * ids per thread), e.g. "evt_01kb3x…". Ids made later sort after earlier
 * ones (to the millisecond), so the store's unique indexes of ids grow at
 * their end instead of taking inserts all over. buf must hold
 * strlen(prefix) + 27 bytes. 0 on success, -1 when no randomness is
 * available.
 */
int hkd_new_id(const char *prefix, char *buf, size_t len);

/*
 * Resolve a secret setting. "env:NAME" reads the environment variable NAME,
 * "file:PATH" the file's contents (one trailing newline dropped), anything
 * else is the literal value. Returns a malloc'd string (caller frees) or NULL
 * with the reason in err ("environment variable HOOKD_KEY is not set").
 */
char *hkd_secret_resolve(const char *value, char *err, size_t errlen);

/*
 * Compare two secrets in time independent of where they differ and of
 * their lengths (both are hashed first). 1 when equal.
 */
int hkd_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Value of the hex digit c (either case), -1 for anything else. */
int hkd_hex_value(int c);

/* malloc'd copy of s (NULL for NULL) / a bounded copy into dst. */
char *hkd_strdup(const char *s);
void hkd_strlcpy(char *dst, const char *src, size_t size);

/* Write s[0..n) at dst as the inside of a JSON string ('"' and '\\'
 * escaped, control characters as \u00XX, other bytes as they are); dst
 * has room for 6 * n bytes. Returns the end (nothing is terminated). */
char *hkd_json_escape(char *dst, const char *s, size_t n);

#endif
