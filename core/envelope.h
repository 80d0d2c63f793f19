/* Validation of published events (the body of POST /v4/events). */
#ifndef HKD_ENVELOPE_H
#define HKD_ENVELOPE_H

#include <stddef.h>
#include <jansson.h>

#define HKD_TYPE_MAX 128 /* longest event type name, bytes */
#define HKD_ID_MAX   128 /* longest client-supplied event id, bytes */

/*
 * Event type names: 1..HKD_TYPE_MAX bytes of [A-Za-z0-9_.:-], starting with a
 * letter or digit. Event ids: 1..HKD_ID_MAX bytes of [A-Za-z0-9_.:-].
 * 1 when valid, 0 otherwise.
 */
int hkd_event_type_valid(const char *s);
int hkd_event_id_valid(const char *s);

/*
 * Why an envelope was refused: the field (JSON pointer; "" for the whole
 * body) and a message. Client input quoted in either is cut short: field
 * at a character boundary, message to 48 bytes of printable ASCII.
 */
struct hkd_envelope_error {
	char field[128];
	char message[256];
};

/*
 * Check a publish request: an object with "type" (string, valid type),
 * optional "data" (object; absent means {}, null is refused), optional "id"
 * (string, valid id). Any other member is refused (names it). Reported in
 * this order: not an object, the first unknown member, type, data, id.
 * 0 when valid (err->field ""), -1 with err set. err may be NULL.
 */
int hkd_envelope_check(const json_t *body, struct hkd_envelope_error *err);

/*
 * Check that every pointer in required[0..n) resolves in envelope (the full
 * {id,type,timestamp,source,data} object); a null value counts as present.
 * 0 when all do, -1 naming the first missing one ("missing required field
 * /data/x"), or a NULL or malformed pointer in the list. err may be NULL.
 */
int hkd_envelope_require(const json_t *envelope, const char *const *required,
                         size_t n, struct hkd_envelope_error *err);

/*
 * Where the value of member `key` of the JSON object written in
 * text[0..len) is, so that it can be stored as it was received instead of
 * being written again from a tree. text must be valid JSON (jansson has
 * parsed it). Only a member whose name is written without escapes is
 * found. 0 with *start and *vlen set, else -1.
 */
int hkd_json_member_text(const char *text, size_t len, const char *key,
                         const char **start, size_t *vlen);

#endif
