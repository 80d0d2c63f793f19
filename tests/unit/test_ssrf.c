/*
 * Unit tests of the http plugin's SSRF guard (plugins/http/ssrf.c,
 * compiled in directly): the classification of addresses at the edges of
 * every special range, IPv4 hidden in IPv6, CIDR parsing and matching.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "ssrf.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *addr;
	enum hkd_ssrf_class cls;
} classify_cases[] = {
    /* IPv4, each range with its first and last address and neighbours */
    {"0.0.0.0", HKD_SSRF_UNSPECIFIED},
    {"0.0.0.1", HKD_SSRF_THIS_NETWORK},
    {"0.255.255.255", HKD_SSRF_THIS_NETWORK},
    {"1.0.0.0", HKD_SSRF_PUBLIC},
    {"8.8.8.8", HKD_SSRF_PUBLIC},
    {"9.255.255.255", HKD_SSRF_PUBLIC},
    {"10.0.0.0", HKD_SSRF_PRIVATE},
    {"10.255.255.255", HKD_SSRF_PRIVATE},
    {"11.0.0.0", HKD_SSRF_PUBLIC},
    {"100.63.255.255", HKD_SSRF_PUBLIC},
    {"100.64.0.0", HKD_SSRF_SHARED},
    {"100.127.255.255", HKD_SSRF_SHARED},
    {"100.128.0.0", HKD_SSRF_PUBLIC},
    {"126.255.255.255", HKD_SSRF_PUBLIC},
    {"127.0.0.0", HKD_SSRF_LOOPBACK},
    {"127.0.0.1", HKD_SSRF_LOOPBACK},
    {"127.255.255.255", HKD_SSRF_LOOPBACK},
    {"128.0.0.0", HKD_SSRF_PUBLIC},
    {"169.253.255.255", HKD_SSRF_PUBLIC},
    {"169.254.0.0", HKD_SSRF_LINK_LOCAL},
    {"169.254.169.254", HKD_SSRF_LINK_LOCAL},
    {"169.254.255.255", HKD_SSRF_LINK_LOCAL},
    {"169.255.0.0", HKD_SSRF_PUBLIC},
    {"172.15.255.255", HKD_SSRF_PUBLIC},
    {"172.16.0.0", HKD_SSRF_PRIVATE},
    {"172.31.255.255", HKD_SSRF_PRIVATE},
    {"172.32.0.0", HKD_SSRF_PUBLIC},
    {"191.255.255.255", HKD_SSRF_PUBLIC},
    {"192.0.0.0", HKD_SSRF_RESERVED},
    {"192.0.0.255", HKD_SSRF_RESERVED},
    {"192.0.1.0", HKD_SSRF_PUBLIC},
    {"192.0.2.0", HKD_SSRF_DOCUMENTATION},
    {"192.0.2.255", HKD_SSRF_DOCUMENTATION},
    {"192.0.3.0", HKD_SSRF_PUBLIC},
    {"192.88.99.1", HKD_SSRF_RESERVED},
    {"192.167.255.255", HKD_SSRF_PUBLIC},
    {"192.168.0.0", HKD_SSRF_PRIVATE},
    {"192.168.255.255", HKD_SSRF_PRIVATE},
    {"192.169.0.0", HKD_SSRF_PUBLIC},
    {"198.17.255.255", HKD_SSRF_PUBLIC},
    {"198.18.0.0", HKD_SSRF_BENCHMARK},
    {"198.19.255.255", HKD_SSRF_BENCHMARK},
    {"198.20.0.0", HKD_SSRF_PUBLIC},
    {"198.51.100.7", HKD_SSRF_DOCUMENTATION},
    {"203.0.112.255", HKD_SSRF_PUBLIC},
    {"203.0.113.0", HKD_SSRF_DOCUMENTATION},
    {"203.0.113.255", HKD_SSRF_DOCUMENTATION},
    {"223.255.255.255", HKD_SSRF_PUBLIC},
    {"224.0.0.0", HKD_SSRF_MULTICAST},
    {"239.255.255.255", HKD_SSRF_MULTICAST},
    {"240.0.0.0", HKD_SSRF_RESERVED},
    {"255.255.255.254", HKD_SSRF_RESERVED},
    {"255.255.255.255", HKD_SSRF_BROADCAST},
    /* IPv6 */
    {"::", HKD_SSRF_UNSPECIFIED},
    {"::1", HKD_SSRF_LOOPBACK},
    {"::2", HKD_SSRF_RESERVED},
    {"::127.0.0.1", HKD_SSRF_RESERVED},        /* IPv4-compatible */
    {"::ffff:0:127.0.0.1", HKD_SSRF_RESERVED}, /* IPv4-translated */
    {"::fffe:7f00:1", HKD_SSRF_RESERVED},
    /* IPv4-mapped: judged as the IPv4 address */
    {"::ffff:127.0.0.1", HKD_SSRF_LOOPBACK},
    {"::ffff:7f00:1", HKD_SSRF_LOOPBACK},
    {"::ffff:0.0.0.0", HKD_SSRF_UNSPECIFIED},
    {"::ffff:10.1.2.3", HKD_SSRF_PRIVATE},
    {"::ffff:172.16.0.1", HKD_SSRF_PRIVATE},
    {"::ffff:192.168.1.1", HKD_SSRF_PRIVATE},
    {"::ffff:169.254.169.254", HKD_SSRF_LINK_LOCAL},
    {"::ffff:100.64.0.1", HKD_SSRF_SHARED},
    {"::ffff:224.0.0.1", HKD_SSRF_MULTICAST},
    {"::ffff:8.8.8.8", HKD_SSRF_PUBLIC},
    /* NAT64 and 6to4: the IPv4 address inside decides */
    {"64:ff9b::127.0.0.1", HKD_SSRF_LOOPBACK},
    {"64:ff9b::10.0.0.1", HKD_SSRF_PRIVATE},
    {"64:ff9b::8.8.8.8", HKD_SSRF_PUBLIC},
    {"64:ff9b:1::1", HKD_SSRF_PRIVATE},
    {"2002:7f00:1::", HKD_SSRF_LOOPBACK},
    {"2002:c0a8:101::1", HKD_SSRF_PRIVATE},
    {"2002:a9fe:a9fe::", HKD_SSRF_LINK_LOCAL},
    {"2002:808:808::1", HKD_SSRF_PUBLIC},
    /* special blocks */
    {"100::", HKD_SSRF_RESERVED},
    {"100::ffff:ffff:ffff:ffff", HKD_SSRF_RESERVED},
    {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", HKD_SSRF_RESERVED},
    {"2000::", HKD_SSRF_PUBLIC},
    {"2001::1", HKD_SSRF_RESERVED}, /* Teredo */
    {"2001:1ff:ffff:ffff::", HKD_SSRF_RESERVED},
    {"2001:200::", HKD_SSRF_PUBLIC},
    {"2001:db7:ffff:ffff::", HKD_SSRF_PUBLIC},
    {"2001:db8::", HKD_SSRF_DOCUMENTATION},
    {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", HKD_SSRF_DOCUMENTATION},
    {"2001:db9::", HKD_SSRF_PUBLIC},
    {"2606:4700:4700::1111", HKD_SSRF_PUBLIC},
    {"3ffe:ffff::1", HKD_SSRF_PUBLIC},
    {"3fff::", HKD_SSRF_DOCUMENTATION},
    {"3fff:fff:ffff::", HKD_SSRF_DOCUMENTATION},
    {"3fff:1000::", HKD_SSRF_PUBLIC},
    {"4000::", HKD_SSRF_RESERVED}, /* outside 2000::/3 */
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", HKD_SSRF_RESERVED},
    {"fc00::", HKD_SSRF_PRIVATE},
    {"fd12:3456:789a::1", HKD_SSRF_PRIVATE},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", HKD_SSRF_PRIVATE},
    {"fe00::", HKD_SSRF_RESERVED},
    {"fe7f:ffff::", HKD_SSRF_RESERVED},
    {"fe80::", HKD_SSRF_LINK_LOCAL},
    {"fe80::1", HKD_SSRF_LINK_LOCAL},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", HKD_SSRF_LINK_LOCAL},
    {"fec0::1", HKD_SSRF_PRIVATE}, /* site-local, deprecated */
    {"feff:ffff::", HKD_SSRF_PRIVATE},
    {"ff00::", HKD_SSRF_MULTICAST},
    {"ff02::1", HKD_SSRF_MULTICAST},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", HKD_SSRF_MULTICAST},
};

START_TEST(test_classify)
{
	struct hkd_ip ip;
	const char *a = classify_cases[_i].addr;
	enum hkd_ssrf_class got;

	ck_assert_msg(hkd_ip_parse(a, &ip) == 0, "'%s' does not parse", a);
	got = hkd_ssrf_classify(&ip);
	ck_assert_msg(got == classify_cases[_i].cls, "%s: got %s, want %s", a,
	              hkd_ssrf_class_text(got),
	              hkd_ssrf_class_text(classify_cases[_i].cls));
}
END_TEST

/* getaddrinfo hands back sockaddrs; they classify the same. */
START_TEST(test_sockaddr)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr un = {.sa_family = AF_UNIX};
	struct hkd_ip ip;

	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	inet_pton(AF_INET, "169.254.169.254", &in4.sin_addr);
	ck_assert_int_eq(hkd_ip_from_sockaddr((struct sockaddr *)&in4, &ip), 0);
	ck_assert_int_eq(ip.family, AF_INET);
	ck_assert_int_eq(hkd_ssrf_classify(&ip), HKD_SSRF_LINK_LOCAL);
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.168.0.1", &in6.sin6_addr);
	ck_assert_int_eq(hkd_ip_from_sockaddr((struct sockaddr *)&in6, &ip), 0);
	ck_assert_int_eq(ip.family, AF_INET6);
	ck_assert_int_eq(hkd_ssrf_classify(&ip), HKD_SSRF_PRIVATE);
	ck_assert_int_eq(hkd_ip_from_sockaddr(&un, &ip), -1);
}
END_TEST

START_TEST(test_format_and_unmap)
{
	struct hkd_ip ip, v4;
	char buf[HKD_IP_TEXT_MAX];

	ck_assert_int_eq(hkd_ip_parse("::ffff:127.0.0.1", &ip), 0);
	hkd_ip_format(&ip, buf, sizeof(buf));
	ck_assert_str_eq(buf, "::ffff:127.0.0.1");
	hkd_ip_unmap(&ip, &v4);
	ck_assert_int_eq(v4.family, AF_INET);
	hkd_ip_format(&v4, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1");
	/* In place, and a no-op on anything else. */
	hkd_ip_unmap(&ip, &ip);
	ck_assert_int_eq(ip.family, AF_INET);
	ck_assert_int_eq(hkd_ip_parse("2001:DB8:0:0::1", &ip), 0);
	hkd_ip_unmap(&ip, &ip);
	ck_assert_int_eq(ip.family, AF_INET6);
	hkd_ip_format(&ip, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::1");
	/* A short buffer is cut, still terminated. */
	hkd_ip_format(&ip, buf, 5);
	ck_assert_str_eq(buf, "2001");
}
END_TEST

static const char *const not_addresses[] = {
    "",           "1.2.3",      "1.2.3.4.5", "256.0.0.1",         "01.2.3.4",
    "0x7f.0.0.1", "2130706433", "127.1",     " 1.2.3.4",          "1.2.3.4 ",
    "[::1]",      "::1%lo",     "fe80::1%1", "1:2:3:4:5:6:7:8:9", "::g",
    "localhost",  "1.2.3.4/32",
};

START_TEST(test_not_addresses)
{
	struct hkd_ip ip;

	ck_assert_msg(hkd_ip_parse(not_addresses[_i], &ip) == -1,
	              "'%s' was taken for an address", not_addresses[_i]);
}
END_TEST

START_TEST(test_class_texts)
{
	const char *seen[HKD_SSRF_RESERVED + 1];
	int c, d;

	ck_assert_str_eq(hkd_ssrf_class_text(HKD_SSRF_LOOPBACK),
	                 "a loopback address");
	for (c = 0; c <= HKD_SSRF_RESERVED; c++) {
		seen[c] = hkd_ssrf_class_text((enum hkd_ssrf_class)c);
		ck_assert_ptr_nonnull(seen[c]);
		for (d = 0; d < c; d++)
			ck_assert_str_ne(seen[c], seen[d]);
	}
}
END_TEST

/* Good CIDRs: text, family, prefix, and the network as text. */
static const struct {
	const char *text;
	int family;
	unsigned prefix;
	const char *net;
} good_cidrs[] = {
    {"127.0.0.1/32", AF_INET, 32, "127.0.0.1"},
    {"127.0.0.0/8", AF_INET, 8, "127.0.0.0"},
    {"10.0.0.0/8", AF_INET, 8, "10.0.0.0"},
    {"0.0.0.0/0", AF_INET, 0, "0.0.0.0"},
    {"192.168.1.7", AF_INET, 32, "192.168.1.7"},
    {"172.16.0.0/12", AF_INET, 12, "172.16.0.0"},
    {"10.1.2.0/24", AF_INET, 24, "10.1.2.0"},
    {"10.0.0.0/08", AF_INET, 8, "10.0.0.0"},
    {"::1/128", AF_INET6, 128, "::1"},
    {"::1", AF_INET6, 128, "::1"},
    {"::/0", AF_INET6, 0, "::"},
    {"fd00::/8", AF_INET6, 8, "fd00::"},
    {"2001:db8::/33", AF_INET6, 33, "2001:db8::"},
    {"FE80::/10", AF_INET6, 10, "fe80::"},
    /* IPv4-mapped networks become IPv4 ones */
    {"::ffff:10.0.0.0/104", AF_INET, 8, "10.0.0.0"},
    {"::ffff:127.0.0.1/128", AF_INET, 32, "127.0.0.1"},
    {"::ffff:0:0/96", AF_INET, 0, "0.0.0.0"},
};

START_TEST(test_cidr_good)
{
	struct hkd_cidr c;
	char err[256] = "", buf[HKD_IP_TEXT_MAX];

	ck_assert_msg(
	    hkd_cidr_parse(good_cidrs[_i].text, &c, err, sizeof(err)) == 0,
	    "%s: %s", good_cidrs[_i].text, err);
	ck_assert_int_eq(c.net.family, good_cidrs[_i].family);
	ck_assert_uint_eq(c.prefix, good_cidrs[_i].prefix);
	hkd_ip_format(&c.net, buf, sizeof(buf));
	ck_assert_str_eq(buf, good_cidrs[_i].net);
}
END_TEST

/* Bad CIDRs and a piece of the message. */
static const struct {
	const char *text;
	const char *msg;
} bad_cidrs[] = {
    {"", "empty"},
    {"/8", "is not ADDRESS/PREFIX"},
    {"10.0.0.0/", "prefix '' is not a number from 0 to 32"},
    {"10.0.0.0/33", "prefix 33 is longer than 32 bits"},
    {"::/129", "prefix 129 is longer than 128 bits"},
    {"::/1280", "prefix '1280' is not a number from 0 to 128"},
    {"10.0.0.0/-1", "prefix '-1' is not a number"},
    {"10.0.0.0/+8", "prefix '+8' is not a number"},
    {"10.0.0.0/ 8", "prefix ' 8' is not a number"},
    {"10.0.0.0/8/9", "prefix '8/9' is not a number"},
    {"10.0.0.1/8", "host bits are set (the network is 10.0.0.0/8)"},
    {"192.168.1.1/24", "host bits are set (the network is 192.168.1.0/24)"},
    {"fd00::1/8", "host bits are set (the network is fd00::/8)"},
    {"2001:db8:8000::/32", "host bits are set (the network is 2001:db8::/32)"},
    {"10.0.0/8", "'10.0.0' is not an IPv4 or IPv6 address"},
    {"010.0.0.0/8", "is not an IPv4 or IPv6 address"},
    {"localhost", "'localhost' is not an IPv4 or IPv6 address"},
    {"[::1]/128", "is not an IPv4 or IPv6 address"},
    {"fe80::1%eth0/64", "is not an IPv4 or IPv6 address"},
    {"*", "is not an IPv4 or IPv6 address"},
};

START_TEST(test_cidr_bad)
{
	struct hkd_cidr c;
	char err[256] = "";

	ck_assert_int_eq(
	    hkd_cidr_parse(bad_cidrs[_i].text, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_cidrs[_i].msg) != NULL,
	              "'%s': message '%s' lacks '%s'", bad_cidrs[_i].text, err,
	              bad_cidrs[_i].msg);
	ck_assert_int_eq(hkd_cidr_parse(bad_cidrs[_i].text, &c, NULL, 0), -1);
}
END_TEST

static const struct {
	const char *cidr, *addr;
	int in;
} contains_cases[] = {
    {"127.0.0.1/32", "127.0.0.1", 1},
    {"127.0.0.1/32", "127.0.0.2", 0},
    {"127.0.0.1/32", "::ffff:127.0.0.1", 1}, /* mapped counts as IPv4 */
    {"127.0.0.1/32", "::1", 0},
    {"10.0.0.0/8", "10.0.0.0", 1},
    {"10.0.0.0/8", "10.255.255.255", 1},
    {"10.0.0.0/8", "11.0.0.0", 0},
    {"10.0.0.0/8", "9.255.255.255", 0},
    {"10.0.0.0/8", "::a00:1", 0},
    {"172.16.0.0/12", "172.31.255.255", 1},
    {"172.16.0.0/12", "172.32.0.0", 0},
    {"192.168.4.0/22", "192.168.7.255", 1},
    {"192.168.4.0/22", "192.168.8.0", 0},
    {"0.0.0.0/0", "8.8.8.8", 1},
    {"0.0.0.0/0", "::1", 0},
    {"::/0", "::1", 1},
    {"::/0", "127.0.0.1", 0},
    {"::/0", "::ffff:127.0.0.1", 0}, /* families never mix */
    {"fd00::/8", "fdff::1", 1},
    {"fd00::/8", "fe00::", 0},
    {"2001:db8::/33", "2001:db8:7fff:ffff::", 1},
    {"2001:db8::/33", "2001:db8:8000::", 0},
    {"::1/128", "::1", 1},
    {"::1/128", "::2", 0},
    {"::ffff:10.0.0.0/104", "10.2.3.4", 1},
    {"::ffff:10.0.0.0/104", "::ffff:10.2.3.4", 1},
    {"::ffff:10.0.0.0/104", "11.0.0.0", 0},
};

START_TEST(test_cidr_contains)
{
	struct hkd_cidr c;
	struct hkd_ip ip;

	ck_assert_int_eq(hkd_cidr_parse(contains_cases[_i].cidr, &c, NULL, 0),
	                 0);
	ck_assert_int_eq(hkd_ip_parse(contains_cases[_i].addr, &ip), 0);
	ck_assert_msg(hkd_cidr_contains(&c, &ip) == contains_cases[_i].in,
	              "%s in %s: want %d", contains_cases[_i].addr,
	              contains_cases[_i].cidr, contains_cases[_i].in);
}
END_TEST

static Suite *ssrf_suite(void)
{
	Suite *s = suite_create("ssrf");
	TCase *tc = tcase_create("ssrf");

	tcase_add_loop_test(tc, test_classify, 0, LEN(classify_cases));
	tcase_add_test(tc, test_sockaddr);
	tcase_add_test(tc, test_format_and_unmap);
	tcase_add_loop_test(tc, test_not_addresses, 0, LEN(not_addresses));
	tcase_add_test(tc, test_class_texts);
	tcase_add_loop_test(tc, test_cidr_good, 0, LEN(good_cidrs));
	tcase_add_loop_test(tc, test_cidr_bad, 0, LEN(bad_cidrs));
	tcase_add_loop_test(tc, test_cidr_contains, 0, LEN(contains_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ssrf_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
