/* Template rendering: {{placeholders}} expanded against an event envelope. */
#ifndef HKD_TEMPLATE_H
#define HKD_TEMPLATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <jansson.h>
#include "hookd/plugin.h"

/* Values a template can name that are not part of the envelope. */
struct hkd_template_vars {
	unsigned attempt;   /* {{attempt}}; 0 renders as "0" */
	const char *target; /* {{target}}; NULL renders as nothing */
};

/*
 * Expand tmpl against envelope (an object {id,type,timestamp,source,data};
 * borrowed and only read — not even its reference counts change — so
 * several threads may render against one envelope at once). Syntax, as
 * documented in include/hookd/plugin.h (render):
 *   {{name}} for id, type, source, timestamp, attempt, target, data
 *   {{data.a.b}} dotted path, {{/data/a}} JSON pointer, optional " | default"
 *   "\{{" is a literal "{{"; whitespace inside the braces is ignored.
 * Strings are inserted as text, other values as compact JSON (reals in
 * their shortest round-trip form at the top level, "null" for a present
 * null), missing fields as the default or nothing; then escaped by mode.
 * A default stands in for the value and is escaped like one (so SHELL
 * quotes it, and a missing value without default is '' in SHELL mode).
 * Literal template text is never escaped.
 *
 * Details: the expression ends at the first "|" and the placeholder at the
 * first "}}", so neither can occur in a key named by the template; only
 * whitespace around the expression and the default is ignored. A path or
 * pointer must start at an envelope member (id, type, source, timestamp,
 * data), else it is an unknown placeholder. "\{{" is the only escape: other
 * backslashes are literal text.
 *
 * vars may be NULL (attempt 0, no target); envelope may be NULL (every
 * envelope field missing); err may be NULL. Messages name the 0-based byte
 * offset of the "{{": "unknown placeholder 'foo' at offset 0",
 * "unterminated placeholder at offset 7", "empty placeholder at offset 0",
 * "malformed JSON pointer '/a~2' at offset 0", "malformed path 'data.' at
 * offset 0". In RAW and SHELL modes a value holding a NUL byte is an error
 * too, since the result is a C string.
 * Returns a malloc'd string (caller frees with free()) or NULL with a message
 * ("unterminated placeholder at offset 7", ...) in err when the template is
 * malformed or memory runs out.
 */
char *hkd_template_render(const char *tmpl, const json_t *envelope,
                          const struct hkd_template_vars *vars,
                          enum hookd_render_mode mode, char *err,
                          size_t errlen);

/*
 * The texts of one envelope's objects and arrays as templates insert them
 * ({{data}}: compact JSON), kept between renders against that envelope so
 * that each is written once — for an envelope many renders share, like
 * the deliveries of one event. Keyed by the values' addresses: use it
 * with one envelope only, which must outlive it and never change. Any
 * number of threads may render with it at once (entries are only ever
 * added, each published whole by one atomic store). It holds at most a
 * few texts; past them values are written each time again.
 * hkd_value_texts_init makes it empty; hkd_value_texts_release frees its
 * texts once no render uses it.
 */
struct hkd_value_text;
struct hkd_value_texts {
	_Atomic(struct hkd_value_text *) head;
	atomic_uint n;
};

void hkd_value_texts_init(struct hkd_value_texts *texts);
void hkd_value_texts_release(struct hkd_value_texts *texts);

/*
 * hkd_template_render, with the texts of envelope's objects and arrays
 * taken from texts (borrowed; NULL: written for this render alone) and
 * added to it.
 */
char *hkd_template_render_shared(const char *tmpl, const json_t *envelope,
                                 struct hkd_value_texts *texts,
                                 const struct hkd_template_vars *vars,
                                 enum hookd_render_mode mode, char *err,
                                 size_t errlen);

/*
 * Syntax check only: 0 when tmpl is well formed, -1 with a message in err
 * (the same message hkd_template_render would give). err may be NULL.
 */
int hkd_template_check(const char *tmpl, char *err, size_t errlen);

/* A template that renders as `text`, whatever it holds: each "{{" in it
 * escaped as "\{{". Caller frees; NULL when out of memory. */
char *hkd_template_literal(const char *text);

#endif
