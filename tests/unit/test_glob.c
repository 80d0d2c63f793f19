/* Unit tests for core/glob.c: pattern checks, matching, the wildcard test. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "glob.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* pattern, subject, expected hkd_glob_match result */
static const struct {
	const char *pattern;
	const char *s;
	int match;
} match_cases[] = {
    {"order.created", "order.created", 1},
    {"order.created", "order.create", 0},
    {"order.created", "order.createdx", 0},
    {"order.created", "Order.created", 0},
    {"*", "", 1},
    {"*", "anything.at:all", 1},
    {"**", "x", 1},
    {"?", "", 0},
    {"?", "a", 1},
    {"?", "ab", 0},
    {"??", "ab", 1},
    {"order.*", "order.", 1},
    {"order.*", "order.created", 1},
    {"order.*", "order", 0},
    {"order.*", "orders.created", 0},
    {"*.created", "order.created", 1},
    {"*.created", "order.created.v2", 0},
    {"*.created*", "order.created.v2", 1},
    {"order.*.v?", "order.created.v2", 1},
    {"order.*.v?", "order.created.v10", 0},
    {"order.*.v?", "order..v1", 1},
    {"a*b*c", "abc", 1},
    {"a*b*c", "axxbyyc", 1},
    {"a*b*c", "acb", 0},
    {"a*b*c", "abcabc", 1},
    {"a*b", "aaab", 1},
    {"a*b", "aaabx", 0},
    {"*b*", "abba", 1},
    {"*x*", "abba", 0},
    {"a?c*", "abc", 1},
    {"a?c*", "ac", 0},
    {"*:*", "github:push", 1},
    {"github:*", "gitlab:push", 0},
    {"*-*_*", "a-b_c", 1},
    {"*ab", "aab", 1}, /* needs the backtrack after a partial match */
    {"*aab", "aaab", 1},
    {"*aab", "aaaba", 0},
    {"a*a*a*a*b", "aaaaaaaaab", 1},
    {"a*a*a*a*b", "aaaaaaaaaa", 0},
    {"?*?", "ab", 1},
    {"?*?", "a", 0},
    {"", "", 1},
    {"", "a", 0},
    {"a", "", 0},
};

/* pattern, hkd_glob_check result, message (NULL: not checked) */
static const struct {
	const char *pattern;
	int rc;
	const char *message;
} check_cases[] = {
    {"order.created", 0, NULL},
    {"*", 0, NULL},
    {"?", 0, NULL},
    {"A-z_0.9:*?", 0, NULL},
    {"", -1, "empty pattern"},
    {"order created", -1,
     "character ' ' at offset 5 cannot occur in an event type"},
    {"order/*", -1, "character '/' at offset 5 cannot occur in an event type"},
    {"a[bc]", -1, "character '[' at offset 1 cannot occur in an event type"},
    {"a\tb", -1, "character \\x09 at offset 1 cannot occur in an event type"},
    {"\xc3\xa9", -1,
     "character \\xc3 at offset 0 cannot occur in an event type"},
    {"a{b,c}", -1, "character '{' at offset 1 cannot occur in an event type"},
};

START_TEST(test_match_table)
{
	ck_assert_msg(
	    hkd_glob_match(match_cases[_i].pattern, match_cases[_i].s) ==
	        match_cases[_i].match,
	    "match(\"%s\", \"%s\") should be %d", match_cases[_i].pattern,
	    match_cases[_i].s, match_cases[_i].match);
}
END_TEST

START_TEST(test_check_table)
{
	char err[128] = "";
	int rc = hkd_glob_check(check_cases[_i].pattern, err, sizeof(err));

	ck_assert_msg(rc == check_cases[_i].rc, "check(\"%s\") returned %d",
	              check_cases[_i].pattern, rc);
	if (check_cases[_i].message != NULL)
		ck_assert_str_eq(err, check_cases[_i].message);
}
END_TEST

/* The 128-byte limit: 128 is accepted, 129 refused. */
START_TEST(test_check_length)
{
	char pat[131];
	char err[128] = "";

	memset(pat, 'a', 128);
	pat[128] = '\0';
	ck_assert_int_eq(hkd_glob_check(pat, err, sizeof(err)), 0);
	pat[128] = '*';
	pat[129] = '\0';
	ck_assert_int_eq(hkd_glob_check(pat, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "pattern longer than 128 bytes");
}
END_TEST

/* NULL pattern, NULL or tiny error buffers must not crash. */
START_TEST(test_check_edges)
{
	char err[6] = "xxxxx";

	ck_assert_int_eq(hkd_glob_check(NULL, NULL, 0), -1);
	ck_assert_int_eq(hkd_glob_check("a b", NULL, 0), -1);
	ck_assert_int_eq(hkd_glob_check("a b", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "chara");
	ck_assert_int_eq(hkd_glob_match(NULL, "a"), 0);
	ck_assert_int_eq(hkd_glob_match("*", NULL), 0);
}
END_TEST

START_TEST(test_is_pattern)
{
	ck_assert_int_eq(hkd_glob_is_pattern("order.created"), 0);
	ck_assert_int_eq(hkd_glob_is_pattern(""), 0);
	ck_assert_int_eq(hkd_glob_is_pattern(NULL), 0);
	ck_assert_int_eq(hkd_glob_is_pattern("order.*"), 1);
	ck_assert_int_eq(hkd_glob_is_pattern("order.v?"), 1);
	ck_assert_int_eq(hkd_glob_is_pattern("*"), 1);
}
END_TEST

/* Seconds of CPU time since an arbitrary start. */
static double cpu_seconds(void)
{
	return (double)clock() / CLOCKS_PER_SEC;
}

/*
 * Patterns that make a recursive matcher explode must stay fast: many stars
 * against a long run of one letter that never ends in the final literal.
 */
START_TEST(test_pathological)
{
	static const char *const patterns[] = {
	    "a*a*a*a*b",
	    "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
	    "*a*a*a*a*a*a*a*a*a*a*?b",
	    "*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	};
	size_t n = 200000;
	char *s = malloc(n + 2);
	double start;

	ck_assert_ptr_nonnull(s);
	memset(s, 'a', n);
	s[n] = '\0';
	start = cpu_seconds();
	for (size_t i = 0; i < LEN(patterns); i++)
		ck_assert_int_eq(hkd_glob_match(patterns[i], s), 0);
	s[n] = 'b';
	s[n + 1] = '\0';
	for (size_t i = 0; i < LEN(patterns); i++)
		ck_assert_int_eq(hkd_glob_match(patterns[i], s), 1);
	ck_assert_msg(cpu_seconds() - start < 2.0, "matching took %.2fs",
	              cpu_seconds() - start);
	free(s);
}
END_TEST

static Suite *glob_suite(void)
{
	Suite *s = suite_create("glob");
	TCase *tc = tcase_create("glob");

	tcase_add_loop_test(tc, test_match_table, 0, LEN(match_cases));
	tcase_add_loop_test(tc, test_check_table, 0, LEN(check_cases));
	tcase_add_test(tc, test_check_length);
	tcase_add_test(tc, test_check_edges);
	tcase_add_test(tc, test_is_pattern);
	tcase_add_test(tc, test_pathological);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(glob_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
