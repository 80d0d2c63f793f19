/* Unit tests for lib/: base64, the one decoder of whsec_ secrets by both
 * of its rules, UTF-8 sequences, error messages and the clocks. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "base64.h"
#include "clock.h"
#include "errmsg.h"
#include "utf8.h"
#include "whsec.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_base64_padded)
{
	unsigned char out[8];
	ck_assert_int_eq(hkd_base64_decode_padded("YWI=", 4, out, sizeof(out)),
	                 2);
	ck_assert_int_eq(memcmp(out, "ab", 2), 0);
	/* The unpadded form is the plain decoder's only. */
	ck_assert_int_eq(hkd_base64_decode("YWI", 3, out, sizeof(out)), 2);
	ck_assert_int_eq(hkd_base64_decode_padded("YWI", 3, out, sizeof(out)),
	                 -1);
	ck_assert_int_eq(hkd_base64_decode_padded("", 0, out, sizeof(out)), -1);
	/* Not canonical: the unused bits of the last character are set. */
	ck_assert_int_eq(hkd_base64_decode_padded("YWJ=", 4, out, sizeof(out)),
	                 -1);
	ck_assert_int_eq(hkd_base64_decode_padded("Y=I=", 4, out, sizeof(out)),
	                 -1);
}
END_TEST

/* 32 bytes 0x00..0x1f, as base64 (padded) behind the prefix. */
#define KEY32 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

START_TEST(test_whsec_ours)
{
	unsigned char key[HKD_WHSEC_KEY_MAX];
	size_t len;

	ck_assert_int_eq(
	    hkd_whsec_decode(KEY32, &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_OK);
	ck_assert_uint_eq(len, 32);
	ck_assert_uint_eq(key[31], 31);
	/* Padding is optional for hookd's own secrets, the prefix is not. */
	ck_assert_int_eq(
	    hkd_whsec_decode(
	        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
	        &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_OK);
	ck_assert_int_eq(hkd_whsec_decode(KEY32 + 6, &hkd_whsec_ours, key,
	                                  sizeof(key), &len),
	                 HKD_WHSEC_NO_PREFIX);
	ck_assert_int_eq(
	    hkd_whsec_decode("whsec_", &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_EMPTY);
	ck_assert_int_eq(
	    hkd_whsec_decode(NULL, &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_EMPTY);
	/* 16 bytes: too short for Standard Webhooks. */
	ck_assert_int_eq(
	    hkd_whsec_decode("whsec_AAECAwQFBgcICQoLDA0ODw==", &hkd_whsec_ours,
	                     key, sizeof(key), &len),
	    HKD_WHSEC_BAD_LENGTH);
	ck_assert_uint_eq(len, 16);
	ck_assert_int_eq(hkd_whsec_decode("whsec_not*base64", &hkd_whsec_ours,
	                                  key, sizeof(key), &len),
	                 HKD_WHSEC_NOT_BASE64);
}
END_TEST

START_TEST(test_whsec_senders)
{
	unsigned char key[HKD_WHSEC_SENDER_MAX];
	char text[1200];
	size_t len;

	/* Senders' secrets may come without the prefix and be short. */
	ck_assert_int_eq(hkd_whsec_decode("YWI=", &hkd_whsec_senders, key,
	                                  sizeof(key), &len),
	                 HKD_WHSEC_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(
	    hkd_whsec_decode(KEY32, &hkd_whsec_senders, key, sizeof(key), &len),
	    HKD_WHSEC_OK);
	/* But padded. */
	ck_assert_int_eq(
	    hkd_whsec_decode("YWI", &hkd_whsec_senders, key, sizeof(key), &len),
	    HKD_WHSEC_NOT_BASE64);
	/* Far more text than the longest key takes. */
	memset(text, 'A', 1000);
	text[1000] = '\0';
	ck_assert_int_eq(
	    hkd_whsec_decode(text, &hkd_whsec_senders, key, sizeof(key), &len),
	    HKD_WHSEC_TOO_LONG);
}
END_TEST

/* bytes, how many may be read, expected hkd_utf8_len and hkd_utf8_cut */
static const struct {
	const char *s;
	size_t avail;
	size_t len;
	int cut;
} utf8_cases[] = {
    {"a", 1, 1, 0},
    {"a", 0, 0, 0},                /* nothing may be read */
    {"\xc3\xa9", 2, 2, 0},         /* é */
    {"\xc3\xa9", 1, 0, 1},         /* cut by avail */
    {"\xc0\xaf", 2, 0, 0},         /* overlong '/' */
    {"\xc1\xbf", 2, 0, 0},         /* overlong */
    {"\xc0", 1, 0, 0},             /* overlong, whatever follows */
    {"\xe0\x9f\xbf", 3, 0, 0},     /* overlong 3-byte */
    {"\xe0\x9f", 2, 0, 0},         /* ... known so before its end */
    {"\xe0\xa0\x80", 3, 3, 0},     /* U+0800 */
    {"\xed\x9f\xbf", 3, 3, 0},     /* U+D7FF */
    {"\xed\xa0\x80", 3, 0, 0},     /* U+D800, a surrogate */
    {"\xed\xbf\xbf", 3, 0, 0},     /* U+DFFF, a surrogate */
    {"\xed\xa0", 2, 0, 0},         /* a surrogate, cut or not */
    {"\xef\xbf\xbf", 3, 3, 0},     /* U+FFFF */
    {"\xf0\x8f\xbf\xbf", 4, 0, 0}, /* overlong 4-byte */
    {"\xf0\x90\x80\x80", 4, 4, 0}, /* U+10000 */
    {"\xf0\x90\x80", 3, 0, 1},     /* U+10000 without its last byte */
    {"\xf4\x8f\xbf\xbf", 4, 4, 0}, /* U+10FFFF */
    {"\xf4\x90\x80\x80", 4, 0, 0}, /* past U+10FFFF */
    {"\xf5\x80\x80\x80", 4, 0, 0},
    {"\x80", 1, 0, 0},         /* a stray continuation */
    {"\xe2\x82", 2, 0, 1},     /* cut short */
    {"\xe2\x82\xac", 2, 0, 1}, /* € with one byte too few allowed */
    {"\xe2\x82\xac", 3, 3, 0}, /* € */
    {"\xe2\x28\xa1", 3, 0, 0}, /* not a continuation */
    {"\xe2\x82", 4, 0, 0},     /* the NUL ends it, avail notwithstanding */
};

START_TEST(test_utf8_table)
{
	const unsigned char *s = (const unsigned char *)utf8_cases[_i].s;

	ck_assert_uint_eq(hkd_utf8_len(s, utf8_cases[_i].avail),
	                  utf8_cases[_i].len);
	if (utf8_cases[_i].avail > 0)
		ck_assert_int_eq(hkd_utf8_cut(s, utf8_cases[_i].avail),
		                 utf8_cases[_i].cut);
}
END_TEST

START_TEST(test_utf8_control)
{
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\n", 1), 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\x1f", 1), 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\x7f", 1), 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)" ", 1), 0);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"~", 1), 0);
	/* C1: U+0080 and U+009F; U+00A0 (no-break space) is not. */
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc2\x80", 2),
	                 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc2\x9f", 2),
	                 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc2\xa0", 2),
	                 0);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc3\xa9", 2),
	                 0);
	ck_assert_int_eq(
	    hkd_utf8_control((const unsigned char *)"\xe2\x82\xac", 3), 0);
}
END_TEST

START_TEST(test_utf8_sanitize)
{
	char s[32];

	strcpy(s, "caf\xc3\xa9 ok");
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "caf\xc3\xa9 ok");
	/* A surrogate is three bad bytes; a cut character at the end too. */
	strcpy(s, "a\xed\xa0\x80"
	          "b\xe2\x82");
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "a???b??");
	strcpy(s, "\xc0\xaf\xff");
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "???");
	s[0] = '\0';
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(test_set_err)
{
	char err[8];

	hkd_set_err(err, sizeof(err), "%s %d", "port", 80);
	ck_assert_str_eq(err, "port 80");
	/* Cut to the buffer, NUL-terminated. */
	hkd_set_err(err, sizeof(err), "no such user '%s'", "nobody");
	ck_assert_str_eq(err, "no such");
	/* No buffer, or none of it: nothing is written. */
	memcpy(err, "keep", 5);
	hkd_set_err(err, 0, "%s", "lost");
	ck_assert_str_eq(err, "keep");
	hkd_set_err(NULL, sizeof(err), "%s", "lost");
	hkd_set_err(NULL, 0, "%s", "lost");
	/* One byte: room for the NUL alone. */
	hkd_set_err(err, 1, "%s", "lost");
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_errtext)
{
	ck_assert_str_eq(hkd_errtext(ENOENT), "No such file or directory");
	ck_assert_str_eq(hkd_errtext(-1), "Unknown error");
	ck_assert_str_eq(hkd_errtext(100000), "Unknown error");
}
END_TEST

START_TEST(test_format_seconds)
{
	char buf[32];

	hkd_format_seconds(buf, sizeof(buf), 30000);
	ck_assert_str_eq(buf, "30s");
	hkd_format_seconds(buf, sizeof(buf), 1500);
	ck_assert_str_eq(buf, "1.5s");
	/* Tenths only, dropped rather than rounded. */
	hkd_format_seconds(buf, sizeof(buf), 1999);
	ck_assert_str_eq(buf, "1.9s");
	hkd_format_seconds(buf, sizeof(buf), 50);
	ck_assert_str_eq(buf, "0.0s");
	hkd_format_seconds(buf, sizeof(buf), 0);
	ck_assert_str_eq(buf, "0s");
	/* Cut as snprintf cuts. */
	hkd_format_seconds(buf, 3, 86400000);
	ck_assert_str_eq(buf, "86");
}
END_TEST

START_TEST(test_clocks)
{
	int64_t wall = hkd_now_ms(), ms = hkd_mono_ms(), us = hkd_mono_us();

	/* After 2020-01-01, in ms. */
	ck_assert(wall > INT64_C(1577836800000));
	/* The monotonic clock in both units, read within a second. */
	ck_assert(us / 1000 >= ms && us / 1000 - ms < 1000);
	ck_assert(hkd_mono_ms() >= ms);
}
END_TEST

static Suite *lib_suite(void)
{
	Suite *s = suite_create("lib");
	TCase *tc = tcase_create("lib");
	tcase_add_test(tc, test_base64_padded);
	tcase_add_test(tc, test_whsec_ours);
	tcase_add_test(tc, test_whsec_senders);
	tcase_add_loop_test(tc, test_utf8_table, 0, LEN(utf8_cases));
	tcase_add_test(tc, test_utf8_control);
	tcase_add_test(tc, test_utf8_sanitize);
	tcase_add_test(tc, test_set_err);
	tcase_add_test(tc, test_errtext);
	tcase_add_test(tc, test_format_seconds);
	tcase_add_test(tc, test_clocks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
