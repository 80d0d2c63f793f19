/* Template rendering: {{placeholders}} expanded against an event envelope. */
#ifndef HKD_TEMPLATE_H
#define HKD_TEMPLATE_H

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
 * borrowed). Syntax, as documented in include/hookd/plugin.h (render):
 *   {{name}} for id, type, source, timestamp, attempt, target, data
 *   {{data.a.b}} dotted path, {{/data/a}} JSON pointer, optional " | default"
 *   "\{{" is a literal "{{"; whitespace inside the braces is ignored.
 * Strings are inserted as text, other values as compact JSON, missing fields
 * as the default or nothing; then escaped by mode.
 * Returns a malloc'd string (caller frees with free()) or NULL with a message
 * ("unterminated placeholder at offset 7", ...) in err when the template is
 * malformed or memory runs out.
 */
char *hkd_template_render(const char *tmpl, const json_t *envelope,
                          const struct hkd_template_vars *vars,
                          enum hookd_render_mode mode, char *err, size_t errlen);

/* Syntax check only: 0 when tmpl is well formed, -1 with a message in err. */
int hkd_template_check(const char *tmpl, char *err, size_t errlen);

#endif
