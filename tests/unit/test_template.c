/* Unit tests for core/template.c: placeholders, defaults, escaping, errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define RAW HOOKD_RENDER_RAW
#define URL HOOKD_RENDER_URL
#define JSN HOOKD_RENDER_JSON
#define SH  HOOKD_RENDER_SHELL

/* The envelope every case renders against. */
static const char envelope_text[] =
    "{\"id\": \"evt_1\", \"type\": \"order.created\", \"source\": \"api\","
    " \"timestamp\": \"2026-01-02T03:04:05.000Z\","
    " \"data\": {"
    "  \"name\": \"Zo\\u00eb O'Brien\", \"n\": 42, \"neg\": -7, \"r\": 9.99,"
    "  \"whole\": 2.0, \"ok\": true, \"no\": false, \"nil\": null,"
    "  \"obj\": {\"k\": \"v\", \"z\": [1, 2]},"
    "  \"items\": [{\"sku\": \"A1\"}, {\"sku\": \"B2\"}],"
    "  \"a/b\": \"slash\", \"m~n\": \"tilde\", \"0\": \"zerokey\","
    "  \"q\": \"say \\\"hi\\\"\\n\", \"url\": \"a b&c=d/\\u00e9\","
    "  \"unres\": \"AZaz09-._~!*\", \"ctl\": "
    "\"\\u0001\\u001f\\t\\b\\f\\r\\\\/\\u007f\","
    "  \"empty\": \"\", \"nul\": \"a\\u0000b\", \"brace\": \"{{id}}\","
    "  \"sp\": \"first name\", \"dot\": \".\", \"dotdot\": \"..\","
    "  \"dots3\": \"...\", \"dotted\": \"a..b\""
    " }}";

static json_t *envelope;
static const struct hkd_template_vars vars = {3, "slack"};

static void setup(void)
{
	json_error_t jerr;

	envelope = json_loads(envelope_text, JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(envelope != NULL, "fixture: %s", jerr.text);
}

static void teardown(void)
{
	json_decref(envelope);
	envelope = NULL;
}

/* A template, the mode, and what it renders to. */
static const struct {
	const char *tmpl;
	enum hookd_render_mode mode;
	const char *want;
} render_cases[] = {
    /* each top-level placeholder */
    {"{{id}}", RAW, "evt_1"},
    {"{{type}}", RAW, "order.created"},
    {"{{source}}", RAW, "api"},
    {"{{timestamp}}", RAW, "2026-01-02T03:04:05.000Z"},
    {"{{attempt}}", RAW, "3"},
    {"{{target}}", RAW, "slack"},
    {"{{/id}}", RAW, "evt_1"},
    /* literal text around and between placeholders */
    {"", RAW, ""},
    {"no placeholders", RAW, "no placeholders"},
    {"x{{id}}y{{type}}z", RAW, "xevt_1yorder.createdz"},
    {"{{id}}{{id}}", RAW, "evt_1evt_1"},
    {"[{{attempt}}/{{target}}]", RAW, "[3/slack]"},
    /* whitespace inside the braces */
    {"{{ id }}", RAW, "evt_1"},
    {"{{\tdata.n\n}}", RAW, "42"},
    {"{{  /data/n  |  x  }}", RAW, "42"},
    /* dotted paths, objects and arrays */
    {"{{data.name}}", RAW, "Zo\xc3\xab O'Brien"},
    {"{{data.obj.k}}", RAW, "v"},
    {"{{data.obj.z.1}}", RAW, "2"},
    {"{{data.items.1.sku}}", RAW, "B2"},
    {"{{data.0}}", RAW, "zerokey"},
    {"{{data.a/b}}", RAW, "slash"},
    {"{{data.sp}}", RAW, "first name"},
    /* JSON pointers */
    {"{{/data/items/0/sku}}", RAW, "A1"},
    {"{{/data/a~1b}}", RAW, "slash"},
    {"{{/data/m~0n}}", RAW, "tilde"},
    {"{{/data/obj/z/0}}", RAW, "1"},
    /* non-string values as compact JSON */
    {"{{data.n}}", RAW, "42"},
    {"{{data.neg}}", RAW, "-7"},
    {"{{data.r}}", RAW, "9.99"},
    {"{{data.whole}}", RAW, "2.0"},
    {"{{data.ok}}", RAW, "true"},
    {"{{data.no}}", RAW, "false"},
    {"{{data.nil}}", RAW, "null"},
    {"{{data.obj}}", RAW, "{\"k\":\"v\",\"z\":[1,2]}"},
    {"{{data.obj.z}}", RAW, "[1,2]"},
    {"{{data.items}}", RAW, "[{\"sku\":\"A1\"},{\"sku\":\"B2\"}]"},
    {"{{/data/items/1}}", RAW, "{\"sku\":\"B2\"}"},
    /* missing fields, with and without default */
    {"<{{data.missing}}>", RAW, "<>"},
    {"<{{/data/missing}}>", RAW, "<>"},
    {"{{data.missing | n/a}}", RAW, "n/a"},
    {"{{data.missing|n/a}}", RAW, "n/a"},
    {"{{data.missing |   spaced  default  }}", RAW, "spaced  default"},
    {"<{{data.missing |}}>", RAW, "<>"},
    {"{{data.missing | a|b}}", RAW, "a|b"},
    {"{{/data/missing | x}}", RAW, "x"},
    {"{{data.items.5.sku | none}}", RAW, "none"},
    {"{{data.items.01 | lead}}", RAW, "lead"},
    {"{{data.items.- | dash}}", RAW, "dash"},
    {"{{data.name.x | deeper}}", RAW, "deeper"},
    {"{{id | unused}}", RAW, "evt_1"},
    {"{{target | unused}}", RAW, "slack"},
    /* present values win over defaults, even empty or null ones */
    {"<{{data.empty | d}}>", RAW, "<>"},
    {"{{data.nil | d}}", RAW, "null"},
    /* "\{{" and other braces and backslashes */
    {"\\{{id}}", RAW, "{{id}}"},
    {"\\{{id}} {{id}}", RAW, "{{id}} evt_1"},
    {"\\{{", RAW, "{{"},
    {"a\\b \\{ \\", RAW, "a\\b \\{ \\"},
    {"{ {id} }", RAW, "{ {id} }"},
    {"}} {", RAW, "}} {"},
    {"{\"a\":{{data.n}}}", RAW, "{\"a\":42}"},
    {"{{data.brace}}", RAW, "{{id}}"}, /* values are never expanded again */
    /* URL: everything but unreserved percent-encoded, upper-case hex */
    {"{{data.url}}", URL, "a%20b%26c%3Dd%2F%C3%A9"},
    {"{{data.unres}}", URL, "AZaz09-._~%21%2A"},
    {"?q={{data.name}}&x=a b", URL, "?q=Zo%C3%AB%20O%27Brien&x=a b"},
    {"{{data.obj}}", URL, "%7B%22k%22%3A%22v%22%2C%22z%22%3A%5B1%2C2%5D%7D"},
    {"{{data.missing | a b}}", URL, "a%20b"},
    {"{{data.nul}}", URL, "a%00b"},
    {"{{data.r}}", URL, "9.99"},
    /* A value of dots alone is never a dot-segment of the URL's path. */
    {"/a/{{data.dotdot}}/b", URL, "/a/%2E%2E/b"},
    {"/a/{{data.dot}}/b", URL, "/a/%2E/b"},
    {"/a/{{data.dots3}}/b", URL, "/a/%2E%2E%2E/b"},
    {"/a/{{data.dotted}}/b", URL, "/a/a..b/b"},
    {"/a/{{data.missing | ..}}/b", URL, "/a/%2E%2E/b"},
    {"/a/{{data.dotdot}}/b", RAW, "/a/../b"},
    /* JSON: escaped for the inside of a JSON string */
    {"{\"t\":\"{{data.q}}\"}", JSN, "{\"t\":\"say \\\"hi\\\"\\n\"}"},
    {"{{data.ctl}}", JSN, "\\u0001\\u001F\\t\\b\\f\\r\\\\/\x7f"},
    {"{{data.obj}}", JSN, "{\\\"k\\\":\\\"v\\\",\\\"z\\\":[1,2]}"},
    {"{{data.name}}", JSN, "Zo\xc3\xab O'Brien"},
    {"{{data.nul}}", JSN, "a\\u0000b"},
    {"\"{{data.n}}\" \\", JSN, "\"42\" \\"},
    {"{{data.missing | \"q\"}}", JSN, "\\\"q\\\""},
    /* SHELL: each value one single-quoted word */
    {"echo {{data.name}}", SH, "echo 'Zo\xc3\xab O'\\''Brien'"},
    {"echo {{data.q}}", SH, "echo 'say \"hi\"\n'"},
    {"x {{data.missing}} y", SH, "x '' y"},
    {"{{data.missing | a b}}", SH, "'a b'"},
    {"{{data.missing | it's}}", SH, "'it'\\''s'"},
    {"{{data.n}} {{attempt}}", SH, "'42' '3'"},
    {"'{{id}}'", SH, "''evt_1''"},
    {"{{data.url}}", SH, "'a b&c=d/\xc3\xa9'"},
    {"$(rm -rf /) {{data.obj}}", SH, "$(rm -rf /) '{\"k\":\"v\",\"z\":[1,2]}'"},
};

START_TEST(test_render_table)
{
	char err[256] = "";
	char *out =
	    hkd_template_render(render_cases[_i].tmpl, envelope, &vars,
	                        render_cases[_i].mode, err, sizeof(err));

	ck_assert_msg(out != NULL, "'%s' failed: %s", render_cases[_i].tmpl,
	              err);
	ck_assert_str_eq(out, render_cases[_i].want);
	ck_assert_int_eq(
	    hkd_template_check(render_cases[_i].tmpl, err, sizeof(err)), 0);
	free(out);
}
END_TEST

/* {{data}} is the whole data object as compact JSON. */
START_TEST(test_render_data)
{
	char err[256] = "";
	char *out = hkd_template_render("{{data}}", envelope, &vars, RAW, err,
	                                sizeof(err));
	json_t *back;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_null(strstr(out, ": "));
	ck_assert_ptr_null(strchr(out, '\n'));
	back = json_loads(out, JSON_ALLOW_NUL, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(back, json_object_get(envelope, "data")));
	json_decref(back);
	free(out);
}
END_TEST

/* A malformed template and its message, from render and check alike. */
static const struct {
	const char *tmpl;
	const char *message;
} error_cases[] = {
    {"{{foo}}", "unknown placeholder 'foo' at offset 0"},
    {"ab{{ foo }}", "unknown placeholder 'foo' at offset 2"},
    {"{{id}} {{nope}}", "unknown placeholder 'nope' at offset 7"},
    {"{{foo.bar}}", "unknown placeholder 'foo.bar' at offset 0"},
    {"{{datum.x}}", "unknown placeholder 'datum.x' at offset 0"},
    {"{{attempt.x}}", "unknown placeholder 'attempt.x' at offset 0"},
    {"{{Data}}", "unknown placeholder 'Data' at offset 0"},
    {"{{/dta/x}}", "unknown placeholder '/dta/x' at offset 0"},
    {"{{/attempt}}", "unknown placeholder '/attempt' at offset 0"},
    {"{{/}}", "unknown placeholder '/' at offset 0"},
    {"{{.data}}", "unknown placeholder '.data' at offset 0"},
    {"{{{id}}}", "unknown placeholder '{id' at offset 0"},
    {"x {{id", "unterminated placeholder at offset 2"},
    {"{{id}", "unterminated placeholder at offset 0"},
    {"{{", "unterminated placeholder at offset 0"},
    {"{{id}} {{", "unterminated placeholder at offset 7"},
    {"\\{{id}} {{", "unterminated placeholder at offset 8"},
    {"{{}}", "empty placeholder at offset 0"},
    {"a{{  }}", "empty placeholder at offset 1"},
    {"{{ | x}}", "empty placeholder at offset 0"},
    {"{{/data/a~2}}", "malformed JSON pointer '/data/a~2' at offset 0"},
    {"{{/data/~}}", "malformed JSON pointer '/data/~' at offset 0"},
    {"{{data.}}", "malformed path 'data.' at offset 0"},
    {"{{data..a}}", "malformed path 'data..a' at offset 0"},
    {"{{data.a.}}", "malformed path 'data.a.' at offset 0"},
};

START_TEST(test_error_table)
{
	char err[256] = "";
	char *out = hkd_template_render(error_cases[_i].tmpl, envelope, &vars,
	                                RAW, err, sizeof(err));

	ck_assert_msg(out == NULL, "'%s' rendered as '%s'",
	              error_cases[_i].tmpl, out ? out : "");
	ck_assert_str_eq(err, error_cases[_i].message);
	err[0] = '\0';
	ck_assert_int_eq(
	    hkd_template_check(error_cases[_i].tmpl, err, sizeof(err)), -1);
	ck_assert_str_eq(err, error_cases[_i].message);
}
END_TEST

/* A NUL byte cannot go into a C string: RAW and SHELL refuse the value. */
START_TEST(test_nul_value)
{
	static const enum hookd_render_mode modes[] = {RAW, SH};
	char err[256];

	for (size_t i = 0; i < LEN(modes); i++) {
		err[0] = '\0';
		ck_assert_ptr_null(
		    hkd_template_render("x {{data.nul}}", envelope, &vars,
		                        modes[i], err, sizeof(err)));
		ck_assert_str_eq(
		    err, "value of 'data.nul' at offset 2 contains a NUL byte");
	}
}
END_TEST

/* No vars: attempt is 0, target missing; no envelope: all else missing. */
START_TEST(test_vars_and_envelope_absent)
{
	struct hkd_template_vars no_target = {0, NULL};
	char err[256] = "";
	char *out;

	out = hkd_template_render("{{attempt}}|{{target | none}}|{{id}}",
	                          envelope, NULL, RAW, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "0|none|evt_1");
	free(out);
	out = hkd_template_render("{{attempt}}<{{target}}>", envelope,
	                          &no_target, RAW, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "0<>");
	free(out);
	out = hkd_template_render("{{id | x}}<{{data.a}}>{{/type}}", NULL,
	                          &vars, RAW, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "x<>");
	free(out);
}
END_TEST

/* Values are never truncated, however long. */
START_TEST(test_long_value)
{
	size_t n = 100000;
	char *big = malloc(n + 1);
	json_t *env = json_object();
	json_t *data = json_object();
	char err[256] = "";
	char *out;

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	big[n] = '\0';
	json_object_set_new(data, "big", json_string(big));
	json_object_set_new(env, "data", data);
	out = hkd_template_render("<{{data.big}}>", env, &vars, RAW, err,
	                          sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), n + 2);
	ck_assert_int_eq(out[n + 1], '>');
	free(out);
	out = hkd_template_render("{{data.big}}", env, &vars, URL, err,
	                          sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), 3 * n);
	ck_assert_int_eq(strncmp(out + 3 * n - 3, "%20", 3), 0);
	free(out);
	out =
	    hkd_template_render("{{data}}", env, &vars, RAW, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), n + strlen("{\"big\":\"\"}"));
	free(out);
	json_decref(env);
	free(big);
}
END_TEST

/*
 * Texts of objects and arrays kept between renders of one envelope: the
 * same output as without them, whichever render wrote them, and past the
 * few kept the rest are written each time.
 */
START_TEST(test_shared_texts)
{
	static const char *const tmpls[] = {
	    "{{data}}",
	    "{{data.obj}}|{{/data/obj/z}}",
	    "{{data.items}}",
	    "{{data.items.0}}{{data.items.1}}",
	    "{{data.obj.z}} {{data.n}}",
	    "{{data.ok}}{{data.nil}}{{data.r}}",
	    "{{/data}}",
	};
	struct hkd_value_texts texts;
	char err[256] = "";

	hkd_value_texts_init(&texts);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < LEN(tmpls); i++) {
			char *want = hkd_template_render(
			    tmpls[i], envelope, &vars, JSN, err, sizeof(err));
			char *got = hkd_template_render_shared(
			    tmpls[i], envelope, &texts, &vars, JSN, err,
			    sizeof(err));

			ck_assert_ptr_nonnull(want);
			ck_assert_ptr_nonnull(got);
			ck_assert_str_eq(got, want);
			free(want);
			free(got);
		}
	}
	/* data, data.obj, data.obj.z, data.items and its two elements */
	ck_assert_uint_eq(atomic_load(&texts.n), 6);
	hkd_value_texts_release(&texts);
	ck_assert_uint_eq(atomic_load(&texts.n), 0);
}
END_TEST

/* Past the texts kept, values are still rendered in full. */
START_TEST(test_shared_texts_full)
{
	json_t *env = json_object();
	json_t *data = json_array();
	struct hkd_value_texts texts;
	char tmpl[16], want[32], err[256] = "";

	for (int i = 0; i < 20; i++)
		json_array_append_new(data, json_pack("[i]", i));
	json_object_set_new(env, "data", data);
	hkd_value_texts_init(&texts);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 20; i++) {
			char *got;

			snprintf(tmpl, sizeof(tmpl), "{{data.%d}}", i);
			snprintf(want, sizeof(want), "[%d]", i);
			got = hkd_template_render_shared(
			    tmpl, env, &texts, &vars, RAW, err, sizeof(err));
			ck_assert_ptr_nonnull(got);
			ck_assert_str_eq(got, want);
			free(got);
		}
	}
	ck_assert_uint_eq(atomic_load(&texts.n), 8);
	hkd_value_texts_release(&texts);
	json_decref(env);
}
END_TEST

/* Error buffers may be NULL or small; an unknown mode is refused. */
START_TEST(test_error_buffers)
{
	char small[10] = "xxxxxxxxx";
	char err[256] = "";

	ck_assert_ptr_null(
	    hkd_template_render("{{foo}}", envelope, &vars, RAW, NULL, 0));
	ck_assert_int_eq(hkd_template_check("{{foo}}", NULL, 0), -1);
	ck_assert_int_eq(hkd_template_check("{{foo}}", small, sizeof(small)),
	                 -1);
	ck_assert_str_eq(small, "unknown p");
	ck_assert_ptr_null(hkd_template_render("{{id}}", envelope, &vars,
	                                       (enum hookd_render_mode)9, err,
	                                       sizeof(err)));
	ck_assert_str_eq(err, "unknown render mode 9");
	ck_assert_ptr_null(
	    hkd_template_render(NULL, envelope, &vars, RAW, err, sizeof(err)));
	ck_assert_int_eq(hkd_template_check(NULL, err, sizeof(err)), -1);
}
END_TEST

static Suite *template_suite(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("template");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_render_table, 0, LEN(render_cases));
	tcase_add_test(tc, test_render_data);
	tcase_add_loop_test(tc, test_error_table, 0, LEN(error_cases));
	tcase_add_test(tc, test_nul_value);
	tcase_add_test(tc, test_vars_and_envelope_absent);
	tcase_add_test(tc, test_long_value);
	tcase_add_test(tc, test_error_buffers);
	tcase_add_test(tc, test_shared_texts);
	tcase_add_test(tc, test_shared_texts_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(template_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
