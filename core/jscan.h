/*
 * A validating JSON scanner for the ingest hot path: it checks a text and
 * finds members in it without building a jansson tree (parsing a 1 KB
 * event into a tree and freeing it was about half of the instructions an
 * event cost).
 *
 * The scanner is conservative, never lenient: when it says a text is
 * valid, jansson's json_loadb with JSON_REJECT_DUPLICATES accepts it too.
 * The reverse does not hold: texts it is not sure of (escaped member
 * names, numbers near the limits of a double or of json_int_t, nesting
 * deeper than HKD_JSCAN_DEPTH, objects with more than HKD_JSCAN_KEYS
 * members) are left to jansson, which also words every error. Callers
 * therefore use it as a fast path only, with jansson behind it.
 *
 * Thread: any; no state, no allocation.
 */
#ifndef HKD_JSCAN_H
#define HKD_JSCAN_H

#include <stddef.h>

/* Deepest nesting of objects and arrays the scanner checks itself. */
#define HKD_JSCAN_DEPTH 64
/* Most member names it keeps at once to find duplicates (all levels). */
#define HKD_JSCAN_KEYS 512

/* A piece of the scanned text (borrowed from it). */
struct hkd_jscan_span {
	const char *p; /* NULL: absent */
	size_t n;
};

/*
 * 1 when text[0..len) is one JSON value (with surrounding white space)
 * that jansson accepts with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
 * 0 when it is not, or when the scanner cannot tell.
 */
int hkd_jscan_valid(const char *text, size_t len);

/* 1 when text[0..len) is valid (as hkd_jscan_valid) and an object. */
int hkd_jscan_object(const char *text, size_t len);

/*
 * A publish request body, {"type", "id", "data"}, scanned: 1 when text is
 * valid (as hkd_jscan_valid), an object whose members are only "type",
 * "id" and "data", type and id (when present) strings without escapes
 * (their spans are the bytes between the quotes), data (when present) an
 * object (its span is the whole value, braces included). 0 otherwise, and
 * the caller takes the body to jansson (which also reports what is wrong).
 * Names are not checked here (see envelope.h).
 */
int hkd_jscan_publish(const char *text, size_t len, struct hkd_jscan_span *type,
                      struct hkd_jscan_span *id, struct hkd_jscan_span *data);

/*
 * Resolve the JSON pointer ptr (RFC 6901, as hkd_json_pointer does) in
 * text[0..len), which hkd_jscan_valid accepted. 1 and *out set to the
 * value's text when found; 0 when not found or when the scanner cannot
 * tell (a member name with escapes on the way): the caller asks jansson.
 */
int hkd_jscan_pointer(const char *text, size_t len, const char *ptr,
                      struct hkd_jscan_span *out);

#endif
