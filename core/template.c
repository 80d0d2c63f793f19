/*
 * Template rendering: literal text with {{placeholders}} expanded against an
 * event envelope and escaped for where the result goes (URL, JSON string,
 * shell word).
 *
 * One walk serves both rendering and the syntax check: with no output
 * buffer it only parses, so a template that passes hkd_template_check can
 * fail to render only for want of memory or a NUL byte in a value.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonptr.h"
#include "template.h"
#include "util.h"

/* A growable NUL-terminated string. p is malloc'd and owned by the buf. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

/* What a placeholder names. */
enum ph_kind {
	PH_ATTEMPT, /* {{attempt}}, from the vars */
	PH_TARGET,  /* {{target}}, from the vars */
	PH_PATH,    /* {{id}}, {{data}}, {{data.a.0}}: a dotted path */
	PH_POINTER  /* {{/data/a}}: an RFC 6901 pointer */
};

/* One parsed placeholder "{{ expr | default }}". */
struct placeholder {
	enum ph_kind kind;
	char *expr; /* trimmed expression; malloc'd, owned */
	const char
	    *def; /* default text, borrowed from the template; NULL if none */
	size_t def_len;
	size_t at;  /* offset of the opening "{{" */
	size_t end; /* offset just past the closing "}}" */
};

/* One text of a struct hkd_value_texts: immutable once published. */
struct hkd_value_text {
	const json_t *value; /* the key (borrowed from the envelope) */
	struct hkd_value_text *next;
	size_t len;
	char text[]; /* len bytes and a NUL */
};

/* The most texts one struct hkd_value_texts keeps. */
#define VALUE_TEXTS_MAX 8

/* Top-level members of an envelope a path or pointer may start with. */
static const char *const envelope_names[] = {"id", "type", "source",
                                             "timestamp", "data"};

/*
 * Make room for extra more bytes plus the NUL. 0, or -1 when memory (or
 * size_t) runs out; b is unchanged then.
 */
static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - 1 - b->len)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Append s[0..n) (borrowed) and keep b NUL-terminated. 0 or -1 (memory). */
static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Append a NUL-terminated string (borrowed). 0 or -1 (memory). */
static int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Free what b holds; b can be reused empty. */
static void buf_release(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* 1 for the whitespace ignored around expressions and defaults. */
static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Narrow [*s, *e) to exclude leading and trailing whitespace. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && space(**s))
		(*s)++;
	while (*e > *s && space((*e)[-1]))
		(*e)--;
}

/* 1 when s[0..n) (borrowed) is a top-level member of an envelope. */
static int envelope_name(const char *s, size_t n)
{
	for (size_t i = 0;
	     i < sizeof(envelope_names) / sizeof(envelope_names[0]); i++) {
		if (strlen(envelope_names[i]) == n &&
		    memcmp(envelope_names[i], s, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * Classify ph->expr and check its syntax. A pointer must be well formed and
 * a dotted path free of empty segments; both must start at an envelope
 * member, so a misspelt {{/dta/x}} is an error rather than always empty.
 * 0, or -1 with a message in err (caller-owned).
 */
static int classify(struct placeholder *ph, char *err, size_t errlen)
{
	const char *e = ph->expr;
	size_t head;

	if (e[0] == '/') {
		if (hkd_json_pointer_check(e) < 0) {
			hkd_set_err(err, errlen,
			            "malformed JSON pointer '%s' at offset %zu",
			            e, ph->at);
			return -1;
		}
		/* A raw token equal to a name unescapes to itself, no "~" in
		 * names. */
		head = strcspn(e + 1, "/");
		if (!envelope_name(e + 1, head))
			goto unknown;
		ph->kind = PH_POINTER;
		return 0;
	}
	if (strcmp(e, "attempt") == 0) {
		ph->kind = PH_ATTEMPT;
		return 0;
	}
	if (strcmp(e, "target") == 0) {
		ph->kind = PH_TARGET;
		return 0;
	}
	head = strcspn(e, ".");
	if (!envelope_name(e, head))
		goto unknown;
	if (e[head] != '\0' &&
	    (e[head + 1] == '\0' || strstr(e, "..") != NULL ||
	     e[strlen(e) - 1] == '.')) {
		hkd_set_err(err, errlen, "malformed path '%s' at offset %zu", e,
		            ph->at);
		return -1;
	}
	ph->kind = PH_PATH;
	return 0;
unknown:
	hkd_set_err(err, errlen, "unknown placeholder '%s' at offset %zu", e,
	            ph->at);
	return -1;
}

/*
 * Parse the placeholder whose "{{" is at tmpl + at (tmpl borrowed) into ph;
 * ph->expr is malloc'd and the caller frees it, also on failure. The
 * placeholder ends at the first "}}"; its expression runs to the first "|",
 * the default from there to the "}}", both trimmed. 0, or -1 with a message
 * in err (caller-owned).
 */
static int parse_placeholder(const char *tmpl, size_t at,
                             struct placeholder *ph, char *err, size_t errlen)
{
	const char *open = tmpl + at + 2;
	const char *close = strstr(open, "}}");
	const char *bar, *es, *ee;
	size_t n;

	ph->expr = NULL;
	ph->def = NULL;
	ph->def_len = 0;
	ph->at = at;
	if (close == NULL) {
		hkd_set_err(err, errlen,
		            "unterminated placeholder at offset %zu", at);
		return -1;
	}
	ph->end = (size_t)(close - tmpl) + 2;
	bar = memchr(open, '|', (size_t)(close - open));
	es = open;
	ee = bar ? bar : close;
	trim(&es, &ee);
	if (bar != NULL) {
		const char *ds = bar + 1, *de = close;

		trim(&ds, &de);
		ph->def = ds;
		ph->def_len = (size_t)(de - ds);
	}
	if (es == ee) {
		hkd_set_err(err, errlen, "empty placeholder at offset %zu", at);
		return -1;
	}
	n = (size_t)(ee - es);
	ph->expr = malloc(n + 1);
	if (ph->expr == NULL) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	memcpy(ph->expr, es, n);
	ph->expr[n] = '\0';
	return classify(ph, err, errlen);
}

/*
 * Append s[0..n) (borrowed) to out escaped for mode. SHELL wraps the value
 * in single quotes even when it is empty, so a missing value still makes
 * one (empty) word. 0, or -1 when memory runs out.
 */
static int escape_into(struct buf *out, const char *s, size_t n,
                       enum hookd_render_mode mode)
{
	static const char hex[] = "0123456789ABCDEF";
	char tmp[8];
	/* A value of dots alone ("." or ".." above all) is encoded whole in a
	 * URL: as a path segment it would otherwise be a dot-segment that
	 * leaves its place ("/a/{{x}}/b" with x ".." is "/b" to a client). */
	int dots_only = mode == HOOKD_RENDER_URL && n > 0;

	for (size_t i = 0; dots_only && i < n; i++)
		dots_only = s[i] == '.';
	if (mode == HOOKD_RENDER_RAW)
		return buf_add(out, s, n);
	if (mode == HOOKD_RENDER_SHELL && buf_add(out, "'", 1) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *piece = tmp;
		size_t len = 1;

		tmp[0] = (char)c;
		if (mode == HOOKD_RENDER_URL) {
			int keep =
			    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' ||
			    (c == '.' && !dots_only) || c == '_' || c == '~';
			if (!keep) {
				tmp[0] = '%';
				tmp[1] = hex[c >> 4];
				tmp[2] = hex[c & 0xf];
				len = 3;
			}
		} else if (mode == HOOKD_RENDER_JSON) {
			switch (c) {
			case '"':
				piece = "\\\"";
				len = 2;
				break;
			case '\\':
				piece = "\\\\";
				len = 2;
				break;
			case '\b':
				piece = "\\b";
				len = 2;
				break;
			case '\f':
				piece = "\\f";
				len = 2;
				break;
			case '\n':
				piece = "\\n";
				len = 2;
				break;
			case '\r':
				piece = "\\r";
				len = 2;
				break;
			case '\t':
				piece = "\\t";
				len = 2;
				break;
			default:
				if (c < 0x20) {
					memcpy(tmp, "\\u00", 4);
					tmp[4] = hex[c >> 4];
					tmp[5] = hex[c & 0xf];
					len = 6;
				}
			}
		} else if (mode == HOOKD_RENDER_SHELL && c == '\'') {
			piece = "'\\''";
			len = 4;
		}
		if (buf_add(out, piece, len) < 0)
			return -1;
	}
	if (mode == HOOKD_RENDER_SHELL && buf_add(out, "'", 1) < 0)
		return -1;
	return 0;
}

/*
 * Format the real d (not inf/nan; jansson has none) into scratch with the
 * fewest significant digits that read back as d, so 9.99 prints "9.99" and
 * not jansson's 17-digit "9.9900000000000002". Like jansson, keep a ".0"
 * on integral values so the text still reads as a real. 0 or -1 (memory).
 */
static int format_real(struct buf *scratch, double d)
{
	char tmp[40];

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* A locale with a decimal comma would have read the comma back. */
	for (char *c = tmp; *c; c++) {
		if (*c == ',')
			*c = '.';
	}
	if (strpbrk(tmp, ".e") == NULL)
		strcat(tmp, ".0");
	return buf_adds(scratch, tmp);
}

/* See template.h. texts is caller-owned. */
void hkd_value_texts_init(struct hkd_value_texts *texts)
{
	atomic_init(&texts->head, NULL);
	atomic_init(&texts->n, 0);
}

/* See template.h. texts is caller-owned; its texts are freed. */
void hkd_value_texts_release(struct hkd_value_texts *texts)
{
	struct hkd_value_text *t = atomic_load(&texts->head), *next;

	for (; t; t = next) {
		next = t->next;
		free(t);
	}
	hkd_value_texts_init(texts);
}

/* The text of v kept in texts (borrowed), or NULL. */
static const struct hkd_value_text *
value_texts_find(struct hkd_value_texts *texts, const json_t *v)
{
	const struct hkd_value_text *t =
	    atomic_load_explicit(&texts->head, memory_order_acquire);

	for (; t; t = t->next) {
		if (t->value == v)
			return t;
	}
	return NULL;
}

/*
 * Keep s[0..len) (borrowed) as the text of v in texts, unless it is full
 * or memory runs out (the text is then simply not kept). Two threads may
 * add the same value at once: both texts are equal, either one is found.
 */
static void value_texts_add(struct hkd_value_texts *texts, const json_t *v,
                            const char *s, size_t len)
{
	struct hkd_value_text *t;

	if (atomic_fetch_add(&texts->n, 1) >= VALUE_TEXTS_MAX) {
		atomic_fetch_sub(&texts->n, 1);
		return;
	}
	t = malloc(sizeof(*t) + len + 1);
	if (t == NULL) {
		atomic_fetch_sub(&texts->n, 1);
		return;
	}
	t->value = v;
	t->len = len;
	memcpy(t->text, s, len);
	t->text[len] = '\0';
	t->next = atomic_load_explicit(&texts->head, memory_order_relaxed);
	/* Release: a reader that finds t sees its text. */
	while (!atomic_compare_exchange_weak_explicit(&texts->head, &t->next, t,
	                                              memory_order_release,
	                                              memory_order_relaxed))
		;
}

/*
 * Produce the text of value v (borrowed): a string as is, a real as the
 * shortest round-trip number, anything else as compact JSON — an object
 * or array from texts when it holds it, else written and added to it
 * (texts may be NULL). *text points into v, into texts or into scratch
 * (caller-owned, reset here). 0 or -1 (memory).
 */
static int value_text(const json_t *v, struct hkd_value_texts *texts,
                      struct buf *scratch, const char **text, size_t *len)
{
	const struct hkd_value_text *kept;
	int composite = json_is_object(v) || json_is_array(v);
	size_t need;

	scratch->len = 0;
	if (json_is_string(v)) {
		*text = json_string_value(v);
		*len = json_string_length(v);
		return 0;
	}
	if (composite && texts && (kept = value_texts_find(texts, v)) != NULL) {
		*text = kept->text;
		*len = kept->len;
		return 0;
	}
	if (json_is_real(v)) {
		if (format_real(scratch, json_real_value(v)) < 0)
			return -1;
	} else {
		need = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		if (need == 0 || buf_reserve(scratch, need) < 0)
			return -1;
		scratch->len = json_dumpb(v, scratch->p, need,
		                          JSON_COMPACT | JSON_ENCODE_ANY);
		scratch->p[scratch->len] = '\0';
		if (composite && texts)
			value_texts_add(texts, v, scratch->p, scratch->len);
	}
	*text = scratch->p;
	*len = scratch->len;
	return 0;
}

/*
 * Append the value ph names to out, escaped for mode. A missing value is
 * replaced by the default text (or nothing), which is escaped like a value:
 * it stands in for one. RAW and SHELL output is a C string handed to
 * programs, so a NUL byte inside a value is an error, not a silent cut.
 * envelope, texts (may be NULL), vars and ph are borrowed; scratch is
 * caller-owned working space.
 * 0, or -1 with a message in err (caller-owned).
 */
static int expand(const struct placeholder *ph, const json_t *envelope,
                  struct hkd_value_texts *texts,
                  const struct hkd_template_vars *vars,
                  enum hookd_render_mode mode, struct buf *scratch,
                  struct buf *out, char *err, size_t errlen)
{
	const json_t *v = NULL;
	const char *text = NULL;
	size_t len = 0;
	char num[24];

	switch (ph->kind) {
	case PH_ATTEMPT:
		snprintf(num, sizeof(num), "%u", vars ? vars->attempt : 0u);
		text = num;
		len = strlen(num);
		break;
	case PH_TARGET:
		if (vars != NULL && vars->target != NULL) {
			text = vars->target;
			len = strlen(text);
		}
		break;
	case PH_PATH:
		v = hkd_json_path(envelope, ph->expr);
		break;
	case PH_POINTER:
		v = hkd_json_pointer(envelope, ph->expr);
		break;
	}
	if (v != NULL && value_text(v, texts, scratch, &text, &len) < 0)
		goto nomem;
	if (text == NULL) {
		text = ph->def ? ph->def : "";
		len = ph->def_len;
	}
	if ((mode == HOOKD_RENDER_RAW || mode == HOOKD_RENDER_SHELL) &&
	    memchr(text, '\0', len) != NULL) {
		hkd_set_err(err, errlen,
		            "value of '%s' at offset %zu contains a NUL byte",
		            ph->expr, ph->at);
		return -1;
	}
	if (escape_into(out, text, len, mode) < 0)
		goto nomem;
	return 0;
nomem:
	hkd_set_err(err, errlen, "out of memory");
	return -1;
}

/*
 * Walk tmpl (borrowed): copy literal text, turn "\{{" into "{{", parse each
 * placeholder and, when out is not NULL, expand it. With out NULL this is
 * the syntax check. 0, or -1 with a message in err (caller-owned).
 */
static int walk(const char *tmpl, const json_t *envelope,
                struct hkd_value_texts *texts,
                const struct hkd_template_vars *vars,
                enum hookd_render_mode mode, struct buf *out, char *err,
                size_t errlen)
{
	struct buf scratch = {NULL, 0, 0};
	struct placeholder ph = {PH_PATH, NULL, NULL, 0, 0, 0};
	size_t i = 0;
	int rc = -1;

	if (tmpl == NULL) {
		hkd_set_err(err, errlen, "no template");
		goto fail;
	}
	while (tmpl[i] != '\0') {
		size_t run = strcspn(tmpl + i, "\\{");

		if (run > 0) {
			if (out && buf_add(out, tmpl + i, run) < 0)
				goto nomem;
			i += run;
			continue;
		}
		if (tmpl[i] == '\\' && tmpl[i + 1] == '{' &&
		    tmpl[i + 2] == '{') {
			if (out && buf_add(out, "{{", 2) < 0)
				goto nomem;
			i += 3;
		} else if (tmpl[i] == '{' && tmpl[i + 1] == '{') {
			if (parse_placeholder(tmpl, i, &ph, err, errlen) < 0)
				goto fail;
			if (out && expand(&ph, envelope, texts, vars, mode,
			                  &scratch, out, err, errlen) < 0)
				goto fail;
			free(ph.expr);
			ph.expr = NULL;
			i = ph.end;
		} else {
			if (out && buf_add(out, tmpl + i, 1) < 0)
				goto nomem;
			i++;
		}
	}
	rc = 0;
	goto done;
nomem:
	hkd_set_err(err, errlen, "out of memory");
fail:
	rc = -1;
done:
	free(ph.expr);
	buf_release(&scratch);
	return rc;
}

/*
 * See template.h. tmpl, envelope and vars are borrowed (vars may be NULL:
 * attempt 0, no target); err is caller-owned and may be NULL. The result
 * is malloc'd and the caller frees it with free().
 */
char *hkd_template_render(const char *tmpl, const json_t *envelope,
                          const struct hkd_template_vars *vars,
                          enum hookd_render_mode mode, char *err, size_t errlen)
{
	return hkd_template_render_shared(tmpl, envelope, NULL, vars, mode, err,
	                                  errlen);
}

/*
 * See template.h. As hkd_template_render; texts (borrowed, may be NULL)
 * holds envelope's texts shared between renders.
 */
char *hkd_template_render_shared(const char *tmpl, const json_t *envelope,
                                 struct hkd_value_texts *texts,
                                 const struct hkd_template_vars *vars,
                                 enum hookd_render_mode mode, char *err,
                                 size_t errlen)
{
	struct buf out = {NULL, 0, 0};

	if (mode != HOOKD_RENDER_RAW && mode != HOOKD_RENDER_URL &&
	    mode != HOOKD_RENDER_JSON && mode != HOOKD_RENDER_SHELL) {
		hkd_set_err(err, errlen, "unknown render mode %d", (int)mode);
		goto fail;
	}
	if (walk(tmpl, envelope, texts, vars, mode, &out, err, errlen) < 0)
		goto fail;
	if (buf_reserve(&out, 0) <
	    0) { /* an empty result still needs its NUL */
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	out.p[out.len] = '\0';
	return out.p;
fail:
	buf_release(&out);
	return NULL;
}

/* See template.h. tmpl is borrowed; err is caller-owned and may be NULL. */
int hkd_template_check(const char *tmpl, char *err, size_t errlen)
{
	return walk(tmpl, NULL, NULL, NULL, HOOKD_RENDER_RAW, NULL, err,
	            errlen);
}

/* A template that inserts `text` literally: "{{" becomes "\{{". */
char *hkd_template_literal(const char *text)
{
	size_t n = strlen(text), extra = 0;
	char *out, *o;
	for (const char *p = text; (p = strstr(p, "{{")); p += 2)
		extra++;
	out = malloc(n + extra + 1);
	if (!out)
		return NULL;
	/* Left to right, as the template parser reads: each "{{" found is
	 * consumed whole, so "{{{" is one escape and a literal '{'. */
	for (o = out; *text;) {
		if (text[0] == '{' && text[1] == '{') {
			memcpy(o, "\\{{", 3);
			o += 3;
			text += 2;
		} else {
			*o++ = *text++;
		}
	}
	*o = '\0';
	return out;
}
