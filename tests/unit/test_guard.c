/* Unit tests for core/http_guard.c: the key a client's connections are
 * counted under, and the bytes of a method token. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "http_guard.h"

static void key_v4(const char *text, unsigned char key[9])
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, text, &a.sin_addr), 1);
	hkd_guard_client_key((const struct sockaddr *)&a, key);
}

static void key_v6(const char *text, unsigned char key[9])
{
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	hkd_guard_client_key((const struct sockaddr *)&a, key);
}

START_TEST(test_ipv4_by_address)
{
	unsigned char a[9], b[9], c[9];
	key_v4("192.0.2.1", a);
	key_v4("192.0.2.1", b);
	key_v4("192.0.2.2", c);
	ck_assert_mem_eq(a, b, 9);
	ck_assert(memcmp(a, c, 9) != 0);
	/* An IPv4-mapped IPv6 address is the same client as the IPv4 one. */
	key_v6("::ffff:192.0.2.1", b);
	ck_assert_mem_eq(a, b, 9);
}
END_TEST

START_TEST(test_ipv6_by_64)
{
	unsigned char a[9], b[9], c[9], d[9];
	key_v6("2001:db8:1:2::1", a);
	key_v6("2001:db8:1:2:ffff:ffff:ffff:ffff", b);
	key_v6("2001:db8:1:3::1", c);
	key_v4("32.1.13.184", d); /* the same first bytes, another family */
	ck_assert_mem_eq(a, b, 9);
	ck_assert(memcmp(a, c, 9) != 0);
	ck_assert(memcmp(a, d, 9) != 0);
}
END_TEST

START_TEST(test_unknown_family)
{
	static const unsigned char zero[9];
	unsigned char k[9];
	struct sockaddr s;
	memset(&s, 0, sizeof(s));
	s.sa_family = AF_UNIX;
	hkd_guard_client_key(&s, k);
	ck_assert_mem_eq(k, zero, 9);
	hkd_guard_client_key(NULL, k);
	ck_assert_mem_eq(k, zero, 9);
}
END_TEST

START_TEST(test_tchar)
{
	const char *ok = "!#$%&'*+-.^_`|~09azAZ";
	for (const char *p = ok; *p; p++)
		ck_assert_msg(hkd_http_tchar((unsigned char)*p), "'%c'", *p);
	for (int c = 0; c < 256; c++) {
		int want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		           (c >= 'A' && c <= 'Z') || (c && strchr(ok, c));
		ck_assert_int_eq(hkd_http_tchar((unsigned char)c) != 0, want);
	}
}
END_TEST

static Suite *guard_suite(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("guard");
	tcase_add_test(tc, test_ipv4_by_address);
	tcase_add_test(tc, test_ipv6_by_64);
	tcase_add_test(tc, test_unknown_family);
	tcase_add_test(tc, test_tchar);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(guard_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
