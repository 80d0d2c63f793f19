/*
 * The validating JSON scanner (see jscan.h).
 *
 * The grammar is RFC 8259's, held to what jansson 2.14 refuses beyond it:
 * strings must be valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF), "\u" escapes must pair surrogates and must not make a
 * NUL, integers must fit json_int_t and reals a double, and (with
 * JSON_REJECT_DUPLICATES) no object may name a member twice. Where that
 * is costly to decide exactly the scanner answers "cannot tell" instead:
 *
 *  - an escaped member name (deciding duplicates would need it decoded);
 *  - an integer of more than 18 digits (json_int_t holds any of 18);
 *  - a real whose integer or fraction part has more than 200 digits, or
 *    whose exponent has more than 2 (then |value| stays within 1e-299 and
 *    1e299, far from a double's overflow and from its subnormals);
 *  - nesting deeper than HKD_JSCAN_DEPTH, more than HKD_JSCAN_KEYS member
 *    names open at once.
 */
#include <string.h>

#include "jscan.h"
#include "util.h"

/* Members of a top-level object kept while scanning (publish needs 3). */
#define TOP_MAX 3

struct scan {
	const char *end;
	size_t nkeys;
	struct hkd_jscan_span keys[HKD_JSCAN_KEYS];
	/* The top-level object's first members (name, value) and how many
	 * it has in all. */
	struct hkd_jscan_span top[TOP_MAX][2];
	size_t ntop;
};

static const char *value(struct scan *s, const char *p, int depth);

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The code unit of the 4 hex digits at p (p + 4 <= end), or -1. */
static long unit4(const char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hkd_hex_value((unsigned char)p[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * p is just past a backslash: the end of the escape, or NULL when it is
 * invalid or makes a NUL or a lone surrogate.
 */
static const char *escape(const char *p, const char *end)
{
	long v, lo;

	if (p >= end)
		return NULL;
	switch (*p) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return p + 1;
	case 'u':
		break;
	default:
		return NULL;
	}
	if (end - p < 5 || (v = unit4(p + 1)) <= 0)
		return NULL; /* short, not hex, or \u0000 */
	p += 5;
	if (v >= 0xdc00 && v <= 0xdfff)
		return NULL; /* a low surrogate first */
	if (v < 0xd800 || v > 0xdbff)
		return p;
	if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
		return NULL;
	lo = unit4(p + 2);
	if (lo < 0xdc00 || lo > 0xdfff)
		return NULL;
	return p + 6;
}

/*
 * p is at an opening quote: the end of the string, or NULL. *escaped is
 * set when it holds a backslash.
 */
static const char *string(const char *p, const char *end, int *escaped)
{
	*escaped = 0;
	for (p++; p < end;) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c == '\\') {
			*escaped = 1;
			p = escape(p + 1, end);
		} else if (c < 0x20) {
			return NULL;
		} else if (c < 0x80) {
			p++;
			continue;
		} else {
			size_t n = hkd_utf8_len((const unsigned char *)p,
			                        (size_t)(end - p));

			p = n ? p + n : NULL;
		}
		if (!p)
			return NULL;
	}
	return NULL;
}

/* Digits from p: how many (*n), and the end. */
static const char *digits(const char *p, const char *end, size_t *n)
{
	const char *q = p;

	while (q < end && *q >= '0' && *q <= '9')
		q++;
	*n = (size_t)(q - p);
	return q;
}

/* p is at '-' or a digit: the end of the number, or NULL. */
static const char *number(const char *p, const char *end)
{
	size_t n_int, n_frac = 0, n_exp;

	if (*p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0') {
		p++;
		n_int = 1;
		if (p < end && *p >= '0' && *p <= '9')
			return NULL; /* a leading zero */
	} else {
		p = digits(p, end, &n_int);
	}
	if (p >= end || (*p != '.' && *p != 'e' && *p != 'E'))
		return n_int <= 18 ? p : NULL;
	if (*p == '.') {
		p = digits(p + 1, end, &n_frac);
		if (n_frac == 0)
			return NULL;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		p = digits(p, end, &n_exp);
		if (n_exp == 0 || n_exp > 2)
			return NULL;
	}
	return n_int <= 200 && n_frac <= 200 ? p : NULL;
}

static const char *literal(const char *p, const char *end, const char *word,
                           size_t n)
{
	if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
		return NULL;
	return p + n;
}

/* A member name key[0..n) (no escapes) joins the open object's names
 * from base: 0, or -1 when it is there already or there is no room. */
static int add_key(struct scan *s, size_t base, const char *key, size_t n)
{
	for (size_t i = base; i < s->nkeys; i++) {
		if (s->keys[i].n == n && memcmp(s->keys[i].p, key, n) == 0)
			return -1;
	}
	if (s->nkeys == HKD_JSCAN_KEYS)
		return -1;
	s->keys[s->nkeys].p = key;
	s->keys[s->nkeys].n = n;
	s->nkeys++;
	return 0;
}

/* p is at '{': the end of the object, or NULL. */
static const char *object(struct scan *s, const char *p, int depth)
{
	size_t base = s->nkeys;
	int escaped;

	p = ws(p + 1, s->end);
	if (p < s->end && *p == '}')
		return p + 1;
	for (;;) {
		const char *key = p, *val;
		size_t klen;

		if (p >= s->end || *p != '"' ||
		    !(p = string(p, s->end, &escaped)) || escaped)
			return NULL;
		klen = (size_t)(p - key - 2);
		if (add_key(s, base, key + 1, klen) != 0)
			return NULL;
		p = ws(p, s->end);
		if (p >= s->end || *p != ':')
			return NULL;
		val = ws(p + 1, s->end);
		if (!(p = value(s, val, depth)))
			return NULL;
		if (depth == 1 && s->ntop++ < TOP_MAX) {
			struct hkd_jscan_span *m = s->top[s->ntop - 1];

			m[0].p = key + 1;
			m[0].n = klen;
			m[1].p = val;
			m[1].n = (size_t)(p - val);
		}
		p = ws(p, s->end);
		if (p < s->end && *p == '}') {
			s->nkeys = base;
			return p + 1;
		}
		if (p >= s->end || *p != ',')
			return NULL;
		p = ws(p + 1, s->end);
	}
}

/* p is at '[': the end of the array, or NULL. */
static const char *array(struct scan *s, const char *p, int depth)
{
	p = ws(p + 1, s->end);
	if (p < s->end && *p == ']')
		return p + 1;
	for (;;) {
		if (!(p = value(s, p, depth)))
			return NULL;
		p = ws(p, s->end);
		if (p < s->end && *p == ']')
			return p + 1;
		if (p >= s->end || *p != ',')
			return NULL;
		p = ws(p + 1, s->end);
	}
}

/* p is where a value must start (white space skipped): its end, or NULL.
 * depth counts the containers around it. */
static const char *value(struct scan *s, const char *p, int depth)
{
	int escaped;

	if (p >= s->end)
		return NULL;
	switch (*p) {
	case '{':
		return depth < HKD_JSCAN_DEPTH ? object(s, p, depth + 1) : NULL;
	case '[':
		return depth < HKD_JSCAN_DEPTH ? array(s, p, depth + 1) : NULL;
	case '"':
		return string(p, s->end, &escaped);
	case 't':
		return literal(p, s->end, "true", 4);
	case 'f':
		return literal(p, s->end, "false", 5);
	case 'n':
		return literal(p, s->end, "null", 4);
	default:
		return number(p, s->end);
	}
}

/* Scan text[0..len) with s: 1 when valid (see hkd_jscan_valid). */
static int scan_text(struct scan *s, const char *text, size_t len)
{
	const char *p;

	if (!text)
		return 0;
	s->end = text + len;
	s->nkeys = 0;
	s->ntop = 0;
	p = value(s, ws(text, s->end), 0);
	return p != NULL && ws(p, s->end) == s->end;
}

int hkd_jscan_valid(const char *text, size_t len)
{
	struct scan s;

	return scan_text(&s, text, len);
}

int hkd_jscan_object(const char *text, size_t len)
{
	struct scan s;

	return scan_text(&s, text, len) && *ws(text, s.end) == '{';
}

/* --- walking a text the scanner accepted ---------------------------- */

/* p is at the start of a value of a valid text: its end. */
static const char *skip(const char *p, const char *end)
{
	int depth = 0;

	if (*p != '{' && *p != '[' && *p != '"') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' &&
		       *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		return p;
	}
	do {
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\\')
					p++;
			}
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		}
		p++;
	} while (depth > 0);
	return p;
}

/*
 * The next member of a valid object: *pp is at its '{', or at the ',' or
 * '}' after the previous member. 1 with the name (between its quotes) and
 * the value, *pp moved to the ',' or '}' after it; 0 at the object's end.
 */
static int member(const char **pp, const char *end, struct hkd_jscan_span *key,
                  struct hkd_jscan_span *val)
{
	const char *p = *pp;

	if (*p == '}')
		return 0;
	p = ws(p + 1, end); /* past '{' or ',' */
	if (*p == '}')
		return 0; /* {} */
	key->p = p + 1;
	p = skip(p, end);
	key->n = (size_t)(p - key->p - 1);
	val->p = ws(ws(p, end) + 1, end); /* past ':' */
	p = skip(val->p, end);
	val->n = (size_t)(p - val->p);
	*pp = ws(p, end);
	return 1;
}

static int named(const struct hkd_jscan_span *key, const char *name)
{
	size_t n = strlen(name);

	return key->n == n && memcmp(key->p, name, n) == 0;
}

int hkd_jscan_publish(const char *text, size_t len, struct hkd_jscan_span *type,
                      struct hkd_jscan_span *id, struct hkd_jscan_span *data)
{
	struct hkd_jscan_span *slot;
	struct scan s;

	type->p = id->p = data->p = NULL;
	type->n = id->n = data->n = 0;
	if (!scan_text(&s, text, len) || *ws(text, s.end) != '{' ||
	    s.ntop > TOP_MAX)
		return 0;
	for (size_t i = 0; i < s.ntop; i++) {
		const struct hkd_jscan_span *key = &s.top[i][0];

		if (named(key, "type"))
			slot = type;
		else if (named(key, "id"))
			slot = id;
		else if (named(key, "data"))
			slot = data;
		else
			return 0;
		*slot = s.top[i][1];
	}
	if (!type->p || *type->p != '"' || (id->p && *id->p != '"') ||
	    (data->p && *data->p != '{'))
		return 0;
	/* Strings: the bytes between the quotes, which must be plain. */
	for (int i = 0; i < 2; i++) {
		slot = i == 0 ? type : id;
		if (!slot->p)
			continue;
		slot->p++;
		slot->n -= 2;
		if (memchr(slot->p, '\\', slot->n))
			return 0;
	}
	return 1;
}

/* --- JSON pointers ---------------------------------------------------- */

/*
 * 1 when the pointer token tok[0..n) (escaped as in the pointer: "~0",
 * "~1") is the member name key (plain bytes).
 */
static int token_is(const char *tok, size_t n, const struct hkd_jscan_span *key)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++, k++) {
		char c = tok[i];

		if (c == '~')
			c = tok[++i] == '0' ? '~' : '/';
		if (k >= key->n || key->p[k] != c)
			return 0;
	}
	return k == key->n;
}

/* tok[0..n) as an array index ("0" or [1-9][0-9]*, at most 18 digits):
 * 0 and *out set, or -1. */
static int index_of(const char *tok, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || n > 18 || (n > 1 && tok[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (size_t)(tok[i] - '0');
	}
	*out = v;
	return 0;
}

int hkd_jscan_pointer(const char *text, size_t len, const char *ptr,
                      struct hkd_jscan_span *out)
{
	const char *end = text + len, *p = ws(text, end);

	if (!ptr || (*ptr != '\0' && *ptr != '/'))
		return 0;
	for (const char *c = ptr; *c; c++) {
		if (*c == '~' && c[1] != '0' && c[1] != '1')
			return 0;
	}
	while (*ptr == '/') {
		const char *tok = ptr + 1;
		size_t n = strcspn(tok, "/"), idx;
		struct hkd_jscan_span key, val;
		int found = 0;

		ptr = tok + n;
		if (*p == '{') {
			while (member(&p, end, &key, &val)) {
				if (token_is(tok, n, &key)) {
					found = 1;
					break;
				}
			}
		} else if (*p == '[' && index_of(tok, n, &idx) == 0) {
			p = ws(p + 1, end);
			while (*p != ']') {
				val.p = p;
				p = skip(p, end);
				if (idx-- == 0) {
					found = 1;
					break;
				}
				p = ws(p, end);
				if (*p == ',')
					p = ws(p + 1, end);
			}
		}
		if (!found)
			return 0;
		p = val.p;
	}
	out->p = p;
	out->n = (size_t)(skip(p, end) - p);
	return 1;
}
