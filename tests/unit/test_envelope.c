/* Unit tests for core/envelope.c: names, publish requests, required fields. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* s, hkd_event_type_valid, hkd_event_id_valid */
static const struct {
	const char *s;
	int type_ok;
	int id_ok;
} name_cases[] = {
    {"a", 1, 1},           {"order.created", 1, 1},
    {"A:b-c_d.e", 1, 1},   {"9lives", 1, 1},
    {"github:push", 1, 1}, {"", 0, 0},
    {"-a", 0, 1},          {"_a", 0, 1},
    {".a", 0, 1},          {":a", 0, 1},
    {"a b", 0, 0},         {"a/b", 0, 0},
    {"a*", 0, 0},          {"a?", 0, 0},
    {"a\n", 0, 0},         {"\xc3\xa9t\xc3\xa9", 0, 0},
    {"a+b", 0, 0},
};

START_TEST(test_name_table)
{
	ck_assert_msg(hkd_event_type_valid(name_cases[_i].s) ==
	                  name_cases[_i].type_ok,
	              "type_valid(\"%s\") should be %d", name_cases[_i].s,
	              name_cases[_i].type_ok);
	ck_assert_msg(hkd_event_id_valid(name_cases[_i].s) ==
	                  name_cases[_i].id_ok,
	              "id_valid(\"%s\") should be %d", name_cases[_i].s,
	              name_cases[_i].id_ok);
}
END_TEST

/* 128 bytes is the limit for both; NULL is never valid. */
START_TEST(test_name_limits)
{
	char s[131];

	memset(s, 'x', 128);
	s[128] = '\0';
	ck_assert_int_eq(hkd_event_type_valid(s), 1);
	ck_assert_int_eq(hkd_event_id_valid(s), 1);
	s[128] = 'x';
	s[129] = '\0';
	ck_assert_int_eq(hkd_event_type_valid(s), 0);
	ck_assert_int_eq(hkd_event_id_valid(s), 0);
	ck_assert_int_eq(hkd_event_type_valid(NULL), 0);
	ck_assert_int_eq(hkd_event_id_valid(NULL), 0);
}
END_TEST

/* Bodies hkd_envelope_check accepts. */
static const char *const valid_bodies[] = {
    "{\"type\": \"a\"}",
    "{\"type\": \"order.created\", \"data\": {\"x\": 1}}",
    "{\"type\": \"order.created\", \"data\": {}}",
    "{\"id\": \"-_.:\", \"type\": \"A:b-c_d.e\"}",
    "{\"data\": {\"nested\": {\"deep\": [1, 2]}}, \"id\": \"x\", \"type\": "
    "\"9\"}",
};

START_TEST(test_check_valid)
{
	json_t *body = json_loads(valid_bodies[_i], 0, NULL);
	struct hkd_envelope_error err;

	ck_assert_ptr_nonnull(body);
	memset(&err, 'z', sizeof(err));
	ck_assert_msg(hkd_envelope_check(body, &err) == 0, "%s refused: %s %s",
	              valid_bodies[_i], err.field, err.message);
	ck_assert_str_eq(err.field, "");
	json_decref(body);
}
END_TEST

/* A refused body, the field named and the message. */
static const struct {
	const char *body;
	const char *field;
	const char *message;
} invalid_cases[] = {
    {"[]", "", "body must be a JSON object"},
    {"\"type\"", "", "body must be a JSON object"},
    {"null", "", "body must be a JSON object"},
    {"{}", "/type", "type is required"},
    {"{\"data\": {}}", "/type", "type is required"},
    {"{\"type\": 1}", "/type", "type must be a string"},
    {"{\"type\": null}", "/type", "type must be a string"},
    {"{\"type\": [\"a\"]}", "/type", "type must be a string"},
    {"{\"type\": \"\"}", "/type", "type must not be empty"},
    {"{\"type\": \"x y\"}", "/type",
     "type 'x y' has characters outside [A-Za-z0-9_.:-]"},
    {"{\"type\": \"order/created\"}", "/type",
     "type 'order/created' has characters outside [A-Za-z0-9_.:-]"},
    {"{\"type\": \"caf\\u00e9\"}", "/type",
     "type 'caf?"
     "?' has characters outside [A-Za-z0-9_.:-]"},
    {"{\"type\": \"a\\nb\"}", "/type",
     "type 'a?b' has characters outside [A-Za-z0-9_.:-]"},
    {"{\"type\": \"a\\u0000b\"}", "/type",
     "type 'a?b' has characters outside [A-Za-z0-9_.:-]"},
    {"{\"type\": \"-x\"}", "/type",
     "type '-x' must start with a letter or digit"},
    {"{\"type\": \".x\"}", "/type",
     "type '.x' must start with a letter or digit"},
    {"{\"type\": \"a\", \"data\": []}", "/data", "data must be an object"},
    {"{\"type\": \"a\", \"data\": null}", "/data", "data must be an object"},
    {"{\"type\": \"a\", \"data\": \"{}\"}", "/data", "data must be an object"},
    {"{\"type\": \"a\", \"data\": 0}", "/data", "data must be an object"},
    {"{\"type\": \"a\", \"id\": 5}", "/id", "id must be a string"},
    {"{\"type\": \"a\", \"id\": null}", "/id", "id must be a string"},
    {"{\"type\": \"a\", \"id\": \"\"}", "/id", "id must not be empty"},
    {"{\"type\": \"a\", \"id\": \"a b\"}", "/id",
     "id 'a b' has characters outside [A-Za-z0-9_.:-]"},
    {"{\"type\": \"a\", \"foo\": 1}", "/foo", "unknown member 'foo'"},
    {"{\"tpye\": \"a\"}", "/tpye", "unknown member 'tpye'"},
    {"{\"Type\": \"a\"}", "/Type", "unknown member 'Type'"},
    {"{\"type\": \"a\", \"x\": 1, \"y\": 2}", "/x", "unknown member 'x'"},
    {"{\"a/b~c\": 1, \"type\": \"a\"}", "/a~1b~0c", "unknown member 'a/b~c'"},
    {"{\"\": 1, \"type\": \"a\"}", "/", "unknown member ''"},
    /* an unknown member is named before problems with known ones */
    {"{\"type\": 1, \"extra\": true}", "/extra", "unknown member 'extra'"},
    /* then type, data, id in that order */
    {"{\"id\": 1, \"data\": 1, \"type\": 1}", "/type", "type must be a string"},
    {"{\"id\": 1, \"data\": 1, \"type\": \"a\"}", "/data",
     "data must be an object"},
};

START_TEST(test_check_invalid)
{
	json_error_t jerr;
	json_t *body = json_loads(invalid_cases[_i].body,
	                          JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	struct hkd_envelope_error err;

	ck_assert_msg(body != NULL, "fixture %s: %s", invalid_cases[_i].body,
	              jerr.text);
	ck_assert_msg(hkd_envelope_check(body, &err) == -1, "%s accepted",
	              invalid_cases[_i].body);
	ck_assert_str_eq(err.field, invalid_cases[_i].field);
	ck_assert_str_eq(err.message, invalid_cases[_i].message);
	json_decref(body);
}
END_TEST

/* Oversized names and keys: limits and cut-short quoting. */
START_TEST(test_check_long)
{
	struct hkd_envelope_error err;
	char name[300];
	char want[300];
	json_t *body;

	/* type and id of 129 bytes */
	memset(name, 'x', 129);
	name[129] = '\0';
	body = json_pack("{s:s}", "type", name);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_str_eq(err.field, "/type");
	ck_assert_str_eq(err.message, "type is longer than 128 bytes");
	json_decref(body);
	body = json_pack("{s:s,s:s}", "type", "a", "id", name);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_str_eq(err.field, "/id");
	ck_assert_str_eq(err.message, "id is longer than 128 bytes");
	json_decref(body);

	/* a 100-byte bad type is quoted as its first 48 bytes and "..." */
	memset(name, 'x', 100);
	name[50] = ' ';
	name[100] = '\0';
	body = json_pack("{s:s}", "type", name);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	memset(want, 'x', 48);
	want[48] = '\0';
	ck_assert_str_eq(err.message,
	                 strcat(strcat(strcpy(name, "type '"), want),
	                        "...' has characters outside "
	                        "[A-Za-z0-9_.:-]"));
	json_decref(body);

	/* a 200-byte unknown key: the field keeps 127 bytes */
	memset(name, 'k', 200);
	name[200] = '\0';
	body = json_pack("{s:s,s:i}", "type", "a", name, 1);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_uint_eq(strlen(err.field), 127);
	ck_assert_int_eq(err.field[0], '/');
	ck_assert_int_eq(strspn(err.field + 1, "k"), 126);
	json_decref(body);

	/* escapes are never split: 100 "~" become "/" and 63 "~0" */
	memset(name, '~', 100);
	name[100] = '\0';
	body = json_pack("{s:s,s:i}", "type", "a", name, 1);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_uint_eq(strlen(err.field), 127);
	ck_assert_int_eq(err.field[126], '0');
	json_decref(body);

	/* nor UTF-8 sequences: 100 "é" (2 bytes each) leave "/" and 63 */
	name[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(name, "\xc3\xa9");
	body = json_pack("{s:s,s:i}", "type", "a", name, 1);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_uint_eq(strlen(err.field), 127);
	ck_assert_int_eq((unsigned char)err.field[126], 0xa9);
	json_decref(body);

	/* a 3-byte character that would straddle the end is dropped whole */
	strcpy(name, "a");
	for (int i = 0; i < 50; i++)
		strcat(name, "\xe2\x82\xac"); /* U+20AC */
	body = json_pack("{s:s,s:i}", "type", "a", name, 1);
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_uint_eq(strlen(err.field),
	                  2 + 41 * 3); /* "/a" + 41 of them */
	json_decref(body);

	/* a key cut inside a UTF-8 sequence (only via _nocheck) stops there */
	body = json_pack("{s:s}", "type", "a");
	json_object_set_new_nocheck(body, "ab\xe2\x82", json_true());
	ck_assert_int_eq(hkd_envelope_check(body, &err), -1);
	ck_assert_str_eq(err.field, "/ab");
	ck_assert_str_eq(err.message, "unknown member 'ab?"
	                              "?'");
	json_decref(body);
}
END_TEST

/* A NULL error struct is allowed and a NULL body is refused. */
START_TEST(test_check_null)
{
	struct hkd_envelope_error err;
	json_t *body = json_pack("{s:i}", "type", 1);

	ck_assert_int_eq(hkd_envelope_check(body, NULL), -1);
	ck_assert_int_eq(hkd_envelope_check(NULL, &err), -1);
	ck_assert_str_eq(err.field, "");
	json_decref(body);
	body = json_pack("{s:s}", "type", "a");
	ck_assert_int_eq(hkd_envelope_check(body, NULL), 0);
	json_decref(body);
}
END_TEST

static const char envelope_text[] =
    "{\"id\": \"evt_1\", \"type\": \"workflow.finished\","
    " \"timestamp\": \"2026-01-02T03:04:05.000Z\", \"source\": \"api\","
    " \"data\": {\"workflowId\": \"w1\", \"gone\": null, \"list\": [1],"
    " \"a/b\": true}}";

/* Required pointers; NULL ends a list. */
static const struct {
	const char *required[4];
	int rc;
	const char *field;
	const char *message;
} require_cases[] = {
    {{NULL}, 0, "", ""},
    {{"/data/workflowId", "/type", NULL}, 0, "", ""},
    {{"/data/gone", "/data/list/0", "/data/a~1b", NULL}, 0, "", ""},
    {{"", NULL}, 0, "", ""},
    {{"/data/workflowId", "/data/missing", "/data/other", NULL},
     -1,
     "/data/missing",
     "missing required field /data/missing"},
    {{"/data/list/1", NULL},
     -1,
     "/data/list/1",
     "missing required field /data/list/1"},
    {{"/data/list/-", NULL},
     -1,
     "/data/list/-",
     "missing required field /data/list/-"},
    {{"/data/workflowId/x", NULL},
     -1,
     "/data/workflowId/x",
     "missing required field /data/workflowId/x"},
    {{"/attempt", NULL}, -1, "/attempt", "missing required field /attempt"},
    {{"data.workflowId", NULL},
     -1,
     "data.workflowId",
     "required field 'data.workflowId' is not a JSON pointer"},
    {{"/data/a~2", NULL},
     -1,
     "/data/a~2",
     "required field '/data/a~2' is not a JSON pointer"},
};

START_TEST(test_require_table)
{
	json_t *env = json_loads(envelope_text, 0, NULL);
	struct hkd_envelope_error err;
	size_t n = 0;

	ck_assert_ptr_nonnull(env);
	while (n < 4 && require_cases[_i].required[n] != NULL)
		n++;
	ck_assert_int_eq(
	    hkd_envelope_require(env, require_cases[_i].required, n, &err),
	    require_cases[_i].rc);
	ck_assert_str_eq(err.field, require_cases[_i].field);
	if (require_cases[_i].rc != 0)
		ck_assert_str_eq(err.message, require_cases[_i].message);
	json_decref(env);
}
END_TEST

/* A NULL entry in the list, a NULL error struct, a NULL envelope. */
START_TEST(test_require_edges)
{
	static const char *const with_null[] = {"/type", NULL};
	static const char *const missing[] = {"/data/nope"};
	json_t *env = json_loads(envelope_text, 0, NULL);
	struct hkd_envelope_error err;

	ck_assert_int_eq(hkd_envelope_require(env, with_null, 2, &err), -1);
	ck_assert_str_eq(err.field, "");
	ck_assert_str_eq(err.message, "required field 1 is not set");
	ck_assert_int_eq(hkd_envelope_require(env, missing, 1, NULL), -1);
	ck_assert_int_eq(hkd_envelope_require(NULL, missing, 1, &err), -1);
	ck_assert_str_eq(err.field, "/data/nope");
	ck_assert_int_eq(hkd_envelope_require(env, NULL, 0, &err), 0);
	json_decref(env);
}
END_TEST

/* hkd_json_member_text: text, key, the value's text or NULL (not found). */
static const struct {
	const char *text;
	const char *key;
	const char *want;
} member_cases[] = {
    {"{\"data\":{\"a\":1}}", "data", "{\"a\":1}"},
    {"{\"type\":\"t\",\"data\":{}}", "data", "{}"},
    {" {\n \"type\" : \"t\" ,\n \"data\" :\t{ \"a\" : [1, 2] } \n} \n", "data",
     "{ \"a\" : [1, 2] }"},
    /* strings holding braces, brackets, quotes and escapes are skipped */
    {"{\"x\":\"}{][\\\"\",\"data\":{\"s\":\"a}\\\\\"}}", "data",
     "{\"s\":\"a}\\\\\"}"},
    {"{\"x\":{\"data\":1},\"data\":{\"d\":{\"data\":2}}}", "data",
     "{\"d\":{\"data\":2}}"},
    {"{\"x\":[{\"a\":\"]\"},[]],\"data\":{}}", "data", "{}"},
    {"{\"n\":-1.5e3,\"t\":true,\"f\":false,\"z\":null,\"data\":{}}", "data",
     "{}"},
    {"{\"n\":12}", "n", "12"},
    {"{\"z\":null}", "z", "null"},
    {"{\"s\":\"v\"}", "s", "\"v\""},
    /* not found: absent, only nested, or a name written with escapes */
    {"{\"type\":\"t\"}", "data", NULL},
    {"{}", "data", NULL},
    {"{\"x\":{\"data\":{}}}", "data", NULL},
    {"{\"d\\u0061ta\":{}}", "data", NULL},
    {"{\"dat\":{},\"datas\":{}}", "data", NULL},
    /* not an object, or cut short */
    {"[{\"data\":{}}]", "data", NULL},
    {"\"data\"", "data", NULL},
    {"{\"data\":{\"a\":1}", "data", NULL},
    {"{\"data\":", "data", NULL},
    {"", "data", NULL},
};

START_TEST(test_member_table)
{
	const char *t = member_cases[_i].text, *start = NULL;
	size_t n = 0;
	int rc = hkd_json_member_text(t, strlen(t), member_cases[_i].key,
	                              &start, &n);

	if (!member_cases[_i].want) {
		ck_assert_msg(rc == -1, "case %d: found %.*s", _i, (int)n,
		              start ? start : "");
		return;
	}
	ck_assert_msg(rc == 0, "case %d: not found", _i);
	ck_assert_uint_eq(n, strlen(member_cases[_i].want));
	ck_assert_msg(memcmp(start, member_cases[_i].want, n) == 0,
	              "case %d: got %.*s", _i, (int)n, start);
}
END_TEST

/* The text found parses to the very value jansson puts under the key. */
START_TEST(test_member_agrees_with_jansson)
{
	const char *bodies[] = {
	    "{\"type\":\"a\",\"data\":{\"k\":[1,{\"x\":\"}\"},\"\\u00e9\"],"
	    "\"e\":{}}}",
	    "{\"data\":{\"deep\":[[[[{\"a\":[]}]]]],\"q\":\"\\\"\\\\\"},\"id\":"
	    "\"x\"}",
	    "{ \"data\" : { \"n\" : 1.0e2 , \"u\" : \"caf\xc3\xa9\" } , "
	    "\"type\" : \"t\" }",
	};
	for (size_t i = 0; i < LEN(bodies); i++) {
		json_error_t e;
		json_t *body =
		    json_loads(bodies[i], JSON_REJECT_DUPLICATES, &e);
		json_t *got;
		const char *start;
		size_t n;

		ck_assert_msg(body != NULL, "body %zu: %s", i, e.text);
		ck_assert_int_eq(hkd_json_member_text(bodies[i],
		                                      strlen(bodies[i]), "data",
		                                      &start, &n),
		                 0);
		got = json_loadb(start, n, 0, &e);
		ck_assert_msg(got != NULL, "body %zu: %s", i, e.text);
		ck_assert_msg(json_equal(got, json_object_get(body, "data")),
		              "body %zu differs", i);
		json_decref(got);
		json_decref(body);
	}
}
END_TEST

static Suite *envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("envelope");

	tcase_add_loop_test(tc, test_name_table, 0, LEN(name_cases));
	tcase_add_test(tc, test_name_limits);
	tcase_add_loop_test(tc, test_check_valid, 0, LEN(valid_bodies));
	tcase_add_loop_test(tc, test_check_invalid, 0, LEN(invalid_cases));
	tcase_add_test(tc, test_check_long);
	tcase_add_test(tc, test_check_null);
	tcase_add_loop_test(tc, test_require_table, 0, LEN(require_cases));
	tcase_add_test(tc, test_require_edges);
	tcase_add_loop_test(tc, test_member_table, 0, LEN(member_cases));
	tcase_add_test(tc, test_member_agrees_with_jansson);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(envelope_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
