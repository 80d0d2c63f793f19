/* Unit tests for core/jsonptr.c: RFC 6901 pointers and dotted paths. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "jsonptr.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Marks an expected result that is the whole document. */
#define ROOT "<root>"

/* The document every case resolves in (keys from RFC 6901 section 5). */
static const char doc_text[] =
    "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
    " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
    " \"m~n\": 8, \"~1\": 9, \"01\": \"zero-one\", \"a.b\": \"dotted\","
    " \"a\": {\"b\": [10, 20, {\"c\": \"x\"}]},"
    " \"arr\": [[1, 2], [3]], \"n\": {\"0\": \"zero\", \"1x\": null, \"\": "
    "\"e\"}}";

static json_t *doc;

static void setup(void)
{
	json_error_t jerr;

	doc = json_loads(doc_text, 0, &jerr);
	ck_assert_msg(doc != NULL, "fixture: %s", jerr.text);
}

static void teardown(void)
{
	json_decref(doc);
	doc = NULL;
}

/* An address and the JSON it resolves to: NULL = no value, ROOT = doc. */
struct lookup_case {
	const char *addr;
	const char *expect;
};

static const struct lookup_case pointer_cases[] = {
    {"", ROOT},
    {"/foo", "[\"bar\", \"baz\"]"},
    {"/foo/0", "\"bar\""},
    {"/foo/1", "\"baz\""},
    {"/foo/2", NULL},
    {"/foo/-", NULL},  /* "-" is past the end: never a value */
    {"/foo/01", NULL}, /* leading zero */
    {"/foo/00", NULL},
    {"/foo/+1", NULL},
    {"/foo/-1", NULL},
    {"/foo/1a", NULL},
    {"/foo/", NULL},                     /* empty token on an array */
    {"/foo/18446744073709551617", NULL}, /* beyond SIZE_MAX */
    {"/", "0"},                          /* the member named "" */
    {"/a~1b", "1"},
    {"/c%d", "2"},
    {"/e^f", "3"},
    {"/g|h", "4"},
    {"/i\\j", "5"},
    {"/k\"l", "6"},
    {"/ ", "7"},
    {"/m~0n", "8"},
    {"/~01", "9"},           /* "~01" is "~1", not "~" + "1" unescaped twice */
    {"/~1", NULL},           /* that is "/", which is not a member */
    {"/01", "\"zero-one\""}, /* object keys may have leading zeros */
    {"/a.b", "\"dotted\""},
    {"/a/b/0", "10"},
    {"/a/b/2/c", "\"x\""},
    {"/a/b/2/c/d", NULL}, /* into a string */
    {"/a/b/3", NULL},
    {"/arr/0/1", "2"},
    {"/arr/1/0", "3"},
    {"/arr/1/1", NULL},
    {"/n/0", "\"zero\""}, /* numeric token on an object is a key */
    {"/n/1x", "null"},    /* a null value resolves */
    {"/n/", "\"e\""},     /* an empty token names the member "" */
    {"/nope", NULL},
    {"/0", NULL},    /* an object is not indexed */
    {"foo", NULL},   /* no leading "/" */
    {"#/foo", NULL}, /* URI fragments are not pointers */
    {"/m~2n", NULL}, /* malformed escapes */
    {"/m~", NULL},
    {"/foo~/0", NULL},
};

static const struct lookup_case path_cases[] = {
    {"", ROOT},
    {"foo", "[\"bar\", \"baz\"]"},
    {"foo.0", "\"bar\""},
    {"foo.1", "\"baz\""},
    {"foo.2", NULL},
    {"foo.01", NULL},
    {"foo.-", NULL},
    {"foo.-1", NULL},
    {"foo.x", NULL},
    {"a.b.0", "10"},
    {"a.b.2.c", "\"x\""},
    {"a.b.2.c.d", NULL},
    {"arr.0.1", "2"},
    {"arr.1.0", "3"},
    {"01", "\"zero-one\""},
    {"n.0", "\"zero\""},
    {"n.1x", "null"},
    {"a/b", "1"}, /* no escapes in paths */
    {"m~n", "8"},
    {"a.b", "[10, 20, {\"c\": \"x\"}]"}, /* "." always splits */
    {"a..b", NULL},
    {"a.", NULL},
    {".a", NULL},
    {".", NULL},
    {"n.", NULL}, /* even where a member "" exists */
    {"n..0", NULL},
    {"nope", NULL},
    {"nope.deeper", NULL},
};

/* Assert that got is what c->expect describes. */
static void assert_lookup(const struct lookup_case *c, const json_t *got)
{
	json_t *want;

	if (c->expect == NULL) {
		ck_assert_msg(got == NULL, "'%s' should not resolve", c->addr);
		return;
	}
	ck_assert_msg(got != NULL, "'%s' should resolve", c->addr);
	if (strcmp(c->expect, ROOT) == 0) {
		ck_assert_msg(got == doc, "'%s' should be the root", c->addr);
		return;
	}
	want = json_loads(c->expect, JSON_DECODE_ANY, NULL);
	ck_assert_ptr_nonnull(want);
	ck_assert_msg(json_equal(want, got), "'%s' resolved to the wrong value",
	              c->addr);
	json_decref(want);
}

START_TEST(test_pointer_table)
{
	assert_lookup(&pointer_cases[_i],
	              hkd_json_pointer(doc, pointer_cases[_i].addr));
}
END_TEST

START_TEST(test_path_table)
{
	assert_lookup(&path_cases[_i], hkd_json_path(doc, path_cases[_i].addr));
}
END_TEST

/* pointer, expected hkd_json_pointer_check result */
static const struct {
	const char *ptr;
	int rc;
} check_cases[] = {
    {"", 0},     {"/", 0},    {"//", 0},     {"/a~0", 0},   {"/a~1b", 0},
    {"/~01", 0}, {"/-", 0},   {"/a b/c", 0}, {"a", -1},     {"~0", -1},
    {"/~", -1},  {"/~2", -1}, {"/a~", -1},   {"/a/~b", -1}, {" /a", -1},
};

START_TEST(test_check_table)
{
	ck_assert_msg(hkd_json_pointer_check(check_cases[_i].ptr) ==
	                  check_cases[_i].rc,
	              "check(\"%s\") should be %d", check_cases[_i].ptr,
	              check_cases[_i].rc);
}
END_TEST

/* NULL arguments and non-container roots resolve to nothing. */
START_TEST(test_null_and_scalars)
{
	json_t *scalar = json_integer(5);

	ck_assert_int_eq(hkd_json_pointer_check(NULL), -1);
	ck_assert_ptr_null(hkd_json_pointer(NULL, "/a"));
	ck_assert_ptr_null(hkd_json_pointer(NULL, ""));
	ck_assert_ptr_null(hkd_json_pointer(doc, NULL));
	ck_assert_ptr_null(hkd_json_path(NULL, "a"));
	ck_assert_ptr_null(hkd_json_path(doc, NULL));
	ck_assert_ptr_eq(hkd_json_pointer(scalar, ""), scalar);
	ck_assert_ptr_null(hkd_json_pointer(scalar, "/0"));
	ck_assert_ptr_null(hkd_json_path(scalar, "0"));
	json_decref(scalar);
}
END_TEST

/* Results are borrowed from the document, not copies. */
START_TEST(test_borrowed)
{
	const json_t *a = json_object_get(doc, "a");

	ck_assert_ptr_eq(hkd_json_pointer(doc, "/a"), a);
	ck_assert_ptr_eq(hkd_json_path(doc, "a"), a);
	ck_assert_int_eq((int)a->refcount, 1);
}
END_TEST

/* Long keys and deep documents need no fixed-size buffer or recursion. */
START_TEST(test_long_key_and_deep)
{
	size_t klen = 10000;
	char *key = malloc(klen + 1);
	char *ptr = malloc(klen + 2);
	char *deep = malloc(2 * 501 + 1);
	json_t *root = json_object();
	json_t *cur;

	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(ptr);
	ck_assert_ptr_nonnull(deep);
	memset(key, 'k', klen);
	key[klen] = '\0';
	json_object_set_new(root, key, json_string("long"));
	ptr[0] = '/';
	memcpy(ptr + 1, key, klen + 1);
	ck_assert_str_eq(json_string_value(hkd_json_pointer(root, ptr)),
	                 "long");
	ck_assert_str_eq(json_string_value(hkd_json_path(root, key)), "long");
	json_decref(root);

	/* [[[...[true]...]]] 500 deep, addressed by "/0/0/.../0" */
	root = json_array();
	cur = root;
	deep[0] = '\0';
	for (int i = 0; i < 499; i++) {
		json_t *next = json_array();

		json_array_append_new(cur, next);
		cur = next;
		strcat(deep, "/0");
	}
	json_array_append_new(cur, json_true());
	strcat(deep, "/0");
	ck_assert_ptr_eq(hkd_json_pointer(root, deep), json_true());
	strcat(deep, "/0");
	ck_assert_ptr_null(hkd_json_pointer(root, deep));
	json_decref(root);
	free(deep);
	free(ptr);
	free(key);
}
END_TEST

static Suite *jsonptr_suite(void)
{
	Suite *s = suite_create("jsonptr");
	TCase *tc = tcase_create("jsonptr");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_pointer_table, 0, LEN(pointer_cases));
	tcase_add_loop_test(tc, test_path_table, 0, LEN(path_cases));
	tcase_add_loop_test(tc, test_check_table, 0, LEN(check_cases));
	tcase_add_test(tc, test_null_and_scalars);
	tcase_add_test(tc, test_borrowed);
	tcase_add_test(tc, test_long_key_and_deep);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jsonptr_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
