/*
 * Fuzz target: the template renderer (core/template.c) that plugins use
 * for URLs, headers, bodies, mail and command lines.
 *
 * Input: a byte (the attempt number), TEMPLATE NUL TARGET NUL, then the
 * envelope as JSON (the rest; NUL bytes allowed inside strings). An
 * envelope that is not JSON is replaced by a fixed one (built once: the
 * renderer only reads it). Inputs stop at 1 KiB (template.options says
 * why).
 * Properties:
 *  - rendering is deterministic, and hkd_template_check agrees with it: a
 *    template it refuses never renders (same message, unless a value with
 *    a NUL byte comes first), one it accepts
 *    renders in every mode unless a value holds a NUL byte (RAW, SHELL),
 *    and always without an envelope;
 *  - literal text comes out as it is: a template without "{" or "\"
 *    renders to itself;
 *  - escaping is reversible: undoing URL, JSON and SHELL escaping gives
 *    the RAW rendering, when the literal text holds nothing those modes
 *    leave unescaped and a reader would take for syntax (%, \, ').
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "template.h"

static const enum hookd_render_mode modes[] = {
    HOOKD_RENDER_RAW, HOOKD_RENDER_URL, HOOKD_RENDER_JSON, HOOKD_RENDER_SHELL};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo mode's escaping of s in place; -1 when s is not something the
 * mode produces. */
static int unescape(char *s, enum hookd_render_mode mode)
{
	char *o = s;
	int quoted = 0;

	for (const char *p = s; *p; p++) {
		if (mode == HOOKD_RENDER_URL && *p == '%') {
			if (hexval(p[1]) < 0 || hexval(p[2]) < 0)
				return -1;
			*o++ = (char)(hexval(p[1]) << 4 | hexval(p[2]));
			p += 2;
		} else if (mode == HOOKD_RENDER_JSON && *p == '\\') {
			p++;
			switch (*p) {
			case '"':
				*o++ = '"';
				break;
			case '\\':
				*o++ = '\\';
				break;
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'u':
				if (p[1] != '0' || p[2] != '0' ||
				    hexval(p[3]) < 0 || hexval(p[4]) < 0)
					return -1;
				*o++ = (char)(hexval(p[3]) << 4 | hexval(p[4]));
				p += 4;
				break;
			default:
				return -1;
			}
		} else if (mode == HOOKD_RENDER_SHELL && *p == '\'') {
			quoted = !quoted;
		} else if (mode == HOOKD_RENDER_SHELL && !quoted &&
		           *p == '\\') {
			if (*++p == '\0')
				return -1;
			*o++ = *p;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return quoted ? -1 : 0;
}

/* The envelope of inputs whose rest is not JSON (borrowed; lives as long
 * as the process). */
static json_t *fixed_envelope(void)
{
	static json_t *env;

	if (!env)
		env = json_pack(
		    "{s:s, s:s, s:s, s:s, s:{s:s, s:i, s:f, s:[s, n]}}", "id",
		    "evt_1", "type", "workflow_finished", "timestamp",
		    "2026-11-28T14:00:00.123Z", "source", "api", "data",
		    "workflowId", "wf_'1\"%", "rows", 42, "ratio", 9.99, "tags",
		    "a b");
	FUZZ_CHECK(env != NULL);
	return env;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct hkd_template_vars vars;
	char cerr[256], rerr[256], again_err[256];
	char *tmpl, *target, *text, *out[4] = {NULL, NULL, NULL, NULL};
	json_t *env;
	size_t len;
	int checked;

	vars.attempt = fuzz_byte(&in);
	tmpl = fuzz_field(&in);
	target = fuzz_field(&in);
	vars.target = target[0] ? target : NULL;
	text = fuzz_rest(&in, &len);
	env = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!env)
		env = json_incref(fixed_envelope());

	cerr[0] = '\0';
	checked = hkd_template_check(tmpl, cerr, sizeof(cerr));
	FUZZ_CHECK(checked == 0 || checked == -1);
	FUZZ_CHECK(fuzz_terminated(cerr, sizeof(cerr)));
	FUZZ_CHECK(checked == 0 || cerr[0] != '\0');
	for (size_t m = 0; m < 4; m++) {
		char *again;

		rerr[0] = again_err[0] = '\0';
		out[m] = hkd_template_render(tmpl, env, &vars, modes[m], rerr,
		                             sizeof(rerr));
		FUZZ_CHECK(fuzz_terminated(rerr, sizeof(rerr)));
		again = hkd_template_render(tmpl, env, &vars, modes[m],
		                            again_err, sizeof(again_err));
		FUZZ_CHECK((out[m] == NULL) == (again == NULL));
		FUZZ_CHECK(!out[m] || strcmp(out[m], again) == 0);
		FUZZ_CHECK(out[m] || strcmp(rerr, again_err) == 0);
		free(again);
		if (checked != 0) {
			/* The first problem on the way: a syntax error, or a
			 * value with a NUL byte before it. */
			FUZZ_CHECK(out[m] == NULL);
			FUZZ_CHECK(strcmp(rerr, cerr) == 0 ||
			           ((modes[m] == HOOKD_RENDER_RAW ||
			             modes[m] == HOOKD_RENDER_SHELL) &&
			            strstr(rerr, "contains a NUL byte")));
		} else if (!out[m]) {
			FUZZ_CHECK(modes[m] == HOOKD_RENDER_RAW ||
			           modes[m] == HOOKD_RENDER_SHELL);
			FUZZ_CHECK(strstr(rerr, "contains a NUL byte") != NULL);
		}
		/* Without an envelope nothing can hold a NUL byte. */
		again =
		    hkd_template_render(tmpl, NULL, NULL, modes[m], NULL, 0);
		FUZZ_CHECK((again != NULL) == (checked == 0));
		free(again);
	}
	if (!strpbrk(tmpl, "{\\"))
		for (size_t m = 0; m < 4; m++)
			FUZZ_CHECK(out[m] && strcmp(out[m], tmpl) == 0);
	if (out[0] && !strpbrk(tmpl, "%\\'"))
		for (size_t m = 1; m < 4; m++) {
			if (!out[m])
				continue;
			FUZZ_CHECK(unescape(out[m], modes[m]) == 0);
			FUZZ_CHECK(strcmp(out[m], out[0]) == 0);
		}

	for (size_t m = 0; m < 4; m++)
		free(out[m]);
	json_decref(env);
	free(text);
	free(target);
	free(tmpl);
	return 0;
}
