/*
 * Validation of published events: names (types, ids), the shape of a
 * publish request, and required fields of a full envelope.
 *
 * Error fields and messages end up in HTTP responses (as JSON strings) and
 * logs, so every piece of client input quoted in them is cut short and made
 * plain ASCII, and fields are only ever truncated at a UTF-8 boundary.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "jsonptr.h"

/* Longest excerpt of client input quoted in a message, bytes. */
#define EXCERPT_MAX 48

/* Why a name is not a valid type or id; the first that applies. */
enum name_fault {
	NAME_OK = 0,
	NAME_EMPTY, /* zero bytes */
	NAME_LONG,  /* more than the maximum */
	NAME_CHARS, /* a byte outside [A-Za-z0-9_.:-] (a NUL counts) */
	NAME_START  /* a type not starting with a letter or digit */
};

/* 1 when c is a letter or digit (ASCII only, unlike isalnum's locale). */
static int alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* 1 when c may occur in a type or id: [A-Za-z0-9_.:-]. */
static int name_char(unsigned char c)
{
	return alnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
}

/*
 * Classify s[0..len) (borrowed) as a name of at most max bytes; when
 * need_start, it must start with a letter or digit.
 */
static enum name_fault name_check(const char *s, size_t len, size_t max,
                                  int need_start)
{
	if (len == 0)
		return NAME_EMPTY;
	if (len > max)
		return NAME_LONG;
	for (size_t i = 0; i < len; i++) {
		if (!name_char((unsigned char)s[i]))
			return NAME_CHARS;
	}
	if (need_start && !alnum((unsigned char)s[0]))
		return NAME_START;
	return NAME_OK;
}

/* See envelope.h. s is borrowed; NULL is invalid. */
int hkd_event_type_valid(const char *s)
{
	return s != NULL &&
	       name_check(s, strlen(s), HKD_TYPE_MAX, 1) == NAME_OK;
}

/* See envelope.h. s is borrowed; NULL is invalid. */
int hkd_event_id_valid(const char *s)
{
	return s != NULL && name_check(s, strlen(s), HKD_ID_MAX, 0) == NAME_OK;
}

/*
 * Quote client input s[0..len) (borrowed) into dst (caller's, dstlen > 4)
 * for a message: at most EXCERPT_MAX bytes then "...", every byte outside
 * printable ASCII shown as "?".
 */
static void excerpt(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && i < EXCERPT_MAX && n + 4 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n < len && n + 4 <= dstlen) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

/*
 * Number of bytes of the UTF-8 sequence starting at s (borrowed): 1 for
 * ASCII and for a stray continuation byte, so a walk always advances; 0
 * when the sequence is cut short by the end of the string (or by anything
 * but continuation bytes), which the caller treats as the end.
 */
static size_t utf8_unit(const char *s)
{
	unsigned char c = (unsigned char)s[0];
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

	for (size_t i = 1; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

/*
 * Set err->field to prefix ("/" or "") followed by s (borrowed), with "~"
 * and "/" escaped as in a JSON pointer when escape is set. Whole characters
 * only: what does not fit is dropped at a UTF-8 (and "~N") boundary.
 */
static void set_field(struct hkd_envelope_error *err, const char *prefix,
                      const char *s, int escape)
{
	size_t room = sizeof(err->field) - 1;
	size_t n = strlen(prefix);
	size_t i = 0;

	memcpy(err->field, prefix, n);
	while (s[i] != '\0') {
		unsigned char c = (unsigned char)s[i];
		size_t unit = utf8_unit(s + i);

		if (escape && (c == '~' || c == '/')) {
			if (n + 2 > room)
				break;
			err->field[n++] = '~';
			err->field[n++] = c == '~' ? '0' : '1';
			i++;
			continue;
		}
		if (unit == 0 || n + unit > room)
			break;
		memcpy(err->field + n, s + i, unit);
		n += unit;
		i += unit;
	}
	err->field[n] = '\0';
}

/* Format err->message (err not NULL, caller-owned); truncates. */
static void set_message(struct hkd_envelope_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(struct hkd_envelope_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/*
 * Check the string member `what` ("type" or "id") of a publish request:
 * v (borrowed) must be a string and a valid name. 0 or -1 with err set
 * (field "/type" or "/id").
 */
static int check_name(const json_t *v, const char *what, size_t max,
                      int need_start, struct hkd_envelope_error *err)
{
	char quoted[EXCERPT_MAX + 4];
	const char *s;
	size_t len;

	set_field(err, "/", what, 0);
	if (!json_is_string(v)) {
		set_message(err, "%s must be a string", what);
		return -1;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	excerpt(quoted, sizeof(quoted), s, len);
	switch (name_check(s, len, max, need_start)) {
	case NAME_OK:
		return 0;
	case NAME_EMPTY:
		set_message(err, "%s must not be empty", what);
		break;
	case NAME_LONG:
		set_message(err, "%s is longer than %zu bytes", what, max);
		break;
	case NAME_CHARS:
		set_message(err,
		            "%s '%s' has characters outside [A-Za-z0-9_.:-]",
		            what, quoted);
		break;
	case NAME_START:
		set_message(err, "%s '%s' must start with a letter or digit",
		            what, quoted);
		break;
	}
	return -1;
}

/*
 * Check a publish request body (borrowed). Problems are reported in this
 * order: not an object (field ""), an unknown member (the first in document
 * order, so a misspelt "tpye" is named rather than reported as a missing
 * "type"), "type", "data", "id". err is caller-owned and may be NULL.
 */
int hkd_envelope_check(const json_t *body, struct hkd_envelope_error *err)
{
	struct hkd_envelope_error scratch;
	const char *key;
	const json_t *v;
	char quoted[EXCERPT_MAX + 4];

	if (err == NULL)
		err = &scratch;
	err->field[0] = '\0';
	err->message[0] = '\0';
	if (!json_is_object(body)) {
		set_message(err, "body must be a JSON object");
		return -1;
	}
	/* json_object_foreach needs a non-const object; it only reads it. */
	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "type") == 0 || strcmp(key, "data") == 0 ||
		    strcmp(key, "id") == 0)
			continue;
		set_field(err, "/", key, 1);
		excerpt(quoted, sizeof(quoted), key, strlen(key));
		set_message(err, "unknown member '%s'", quoted);
		return -1;
	}
	v = json_object_get(body, "type");
	if (v == NULL) {
		set_field(err, "/", "type", 0);
		set_message(err, "type is required");
		return -1;
	}
	if (check_name(v, "type", HKD_TYPE_MAX, 1, err) < 0)
		return -1;
	v = json_object_get(body, "data");
	if (v != NULL && !json_is_object(v)) {
		set_field(err, "/", "data", 0);
		set_message(err, "data must be an object");
		return -1;
	}
	v = json_object_get(body, "id");
	if (v != NULL && check_name(v, "id", HKD_ID_MAX, 0, err) < 0)
		return -1;
	err->field[0] = '\0';
	return 0;
}

/*
 * Check required pointers (borrowed) against envelope (borrowed). A field
 * that is present with the value null counts as present. A NULL or
 * malformed pointer in the list is reported like a missing field, with its
 * own message. err is caller-owned and may be NULL.
 */
int hkd_envelope_require(const json_t *envelope, const char *const *required,
                         size_t n, struct hkd_envelope_error *err)
{
	struct hkd_envelope_error scratch;

	if (err == NULL)
		err = &scratch;
	err->field[0] = '\0';
	err->message[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *ptr = required[i];

		if (ptr == NULL) {
			err->field[0] = '\0';
			set_message(err, "required field %zu is not set", i);
			return -1;
		}
		set_field(err, "", ptr, 0);
		if (hkd_json_pointer_check(ptr) < 0) {
			set_message(err,
			            "required field '%s' is not a JSON pointer",
			            err->field);
			return -1;
		}
		if (hkd_json_pointer(envelope, ptr) == NULL) {
			set_message(err, "missing required field %s",
			            err->field);
			return -1;
		}
	}
	err->field[0] = '\0';
	return 0;
}

/* --- finding a member's text ------------------------------------------ */

static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len &&
	       (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* t[i] is the opening quote: the index after the closing one, or len.
 * *escaped says whether the string holds a backslash. */
static size_t skip_string(const char *t, size_t len, size_t i, int *escaped)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\') {
			*escaped = 1;
			i++;
		} else if (t[i] == '"') {
			return i + 1;
		}
	}
	return len;
}

/* t[i] starts a value: the index after it, or len. */
static size_t skip_value(const char *t, size_t len, size_t i)
{
	int escaped, depth = 0;

	if (i >= len)
		return len;
	if (t[i] == '"')
		return skip_string(t, len, i, &escaped);
	if (t[i] != '{' && t[i] != '[') {
		while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' &&
		       t[i] != ' ' && t[i] != '\t' && t[i] != '\n' &&
		       t[i] != '\r')
			i++;
		return i;
	}
	while (i < len) {
		if (t[i] == '"') {
			i = skip_string(t, len, i, &escaped);
			continue;
		}
		if (t[i] == '{' || t[i] == '[')
			depth++;
		else if ((t[i] == '}' || t[i] == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return len;
}

int hkd_json_member_text(const char *text, size_t len, const char *key,
                         const char **start, size_t *vlen)
{
	size_t klen = strlen(key), i = skip_ws(text, len, 0);

	if (i >= len || text[i] != '{')
		return -1;
	i = skip_ws(text, len, i + 1);
	while (i < len && text[i] == '"') {
		int escaped = 0;
		size_t k0 = i + 1, k1 = skip_string(text, len, i, &escaped), v0;

		i = skip_ws(text, len, k1);
		if (k1 >= len || i >= len || text[i] != ':')
			return -1;
		v0 = skip_ws(text, len, i + 1);
		i = skip_value(text, len, v0);
		if (i >= len || v0 >= i)
			return -1; /* an object's value never ends the text */
		if (!escaped && k1 - 1 - k0 == klen &&
		    memcmp(text + k0, key, klen) == 0) {
			*start = text + v0;
			*vlen = i - v0;
			return 0;
		}
		i = skip_ws(text, len, i);
		if (i >= len || text[i] != ',')
			return -1;
		i = skip_ws(text, len, i + 1);
	}
	return -1;
}
