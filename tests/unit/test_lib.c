/* Unit tests for lib/: base64 and the one decoder of whsec_ secrets, by
 * both of its rules. */
#include <check.h>
#include <string.h>

#include "base64.h"
#include "whsec.h"

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

static Suite *lib_suite(void)
{
	Suite *s = suite_create("lib");
	TCase *tc = tcase_create("lib");
	tcase_add_test(tc, test_base64_padded);
	tcase_add_test(tc, test_whsec_ours);
	tcase_add_test(tc, test_whsec_senders);
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
