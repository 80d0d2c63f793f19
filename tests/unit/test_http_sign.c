/*
 * Unit tests of the http plugin's signatures (plugins/http/sign.c, compiled
 * in directly): the published Standard Webhooks and GitHub vectors, key
 * rotation, secret decoding and the base64 underneath.
 *
 * Expected values not published elsewhere were computed independently with
 * Python's hmac, hashlib and base64 modules.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sign.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The Standard Webhooks specification's example (also in its libraries'
 * test suites). */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS     1614265330
#define SW_BODY   "{\"test\": 2432232314}"
#define SW_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* A second key (bytes 1..32) and its signature of the same message. */
#define SW_SECRET2 "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define SW_SIG2    "v1,frM35V2Z51bxs4v81I6TpLnscXkhXtKLP/7WPYVyj3A="

static struct hkd_sw_key decode_ok(const char *secret)
{
	struct hkd_sw_key k;
	char err[256] = "";

	ck_assert_msg(hkd_sw_key_decode(secret, &k, err, sizeof(err)) == 0,
	              "%s: %s", secret, err);
	return k;
}

START_TEST(test_standard_webhooks_vector)
{
	struct hkd_sw_key k = decode_ok(SW_SECRET);
	char sig[HKD_SW_SIG_SIZE];

	ck_assert_uint_eq(k.len, 24);
	ck_assert_int_eq(
	    hkd_sw_sign(&k, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), sig), 0);
	ck_assert_str_eq(sig, SW_SIG);
	/* One byte more or less of the body is another signature. */
	ck_assert_int_eq(
	    hkd_sw_sign(&k, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY) - 1, sig),
	    0);
	ck_assert_str_ne(sig, SW_SIG);
	ck_assert_int_eq(
	    hkd_sw_sign(&k, SW_ID, SW_TS + 1, SW_BODY, strlen(SW_BODY), sig),
	    0);
	ck_assert_str_ne(sig, SW_SIG);
}
END_TEST

START_TEST(test_standard_webhooks_edges)
{
	struct hkd_sw_key k = decode_ok(SW_SECRET);
	struct hkd_sw_key k3 =
	    decode_ok("whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fA==");
	char sig[HKD_SW_SIG_SIZE];

	/* An empty body (GET) signs "id.ts." */
	ck_assert_int_eq(hkd_sw_sign(&k, "evt_1", 1700000000, "", 0, sig), 0);
	ck_assert_str_eq(sig,
	                 "v1,oBpYuMiV1A+3rHbB1OJfN4Z0ytu+rZe53/sHdi1qKjg=");
	/* The body is counted, not NUL-terminated; a 25-byte key. */
	ck_assert_uint_eq(k3.len, 25);
	ck_assert_int_eq(hkd_sw_sign(&k3, "id", 0, "a\0b", 3, sig), 0);
	ck_assert_str_eq(sig,
	                 "v1,6nD1b3dCsKWDhFbBnNlmpWfkzvOTa+A0XJvAadpYjx4=");
	ck_assert_uint_eq(strlen(sig), HKD_SW_SIG_SIZE - 1);
}
END_TEST

START_TEST(test_rotation)
{
	struct hkd_sw_key keys[2];
	char *hdr;

	keys[0] = decode_ok(SW_SECRET);
	keys[1] = decode_ok(SW_SECRET2);
	ck_assert_uint_eq(keys[1].len, 32);
	hdr = hkd_sw_signature_header(keys, 2, SW_ID, SW_TS, SW_BODY,
	                              strlen(SW_BODY));
	ck_assert_ptr_nonnull(hdr);
	ck_assert_str_eq(hdr, SW_SIG " " SW_SIG2);
	free(hdr);
	/* Order is kept: the new key first works the same. */
	keys[0] = decode_ok(SW_SECRET2);
	keys[1] = decode_ok(SW_SECRET);
	hdr = hkd_sw_signature_header(keys, 2, SW_ID, SW_TS, SW_BODY,
	                              strlen(SW_BODY));
	ck_assert_str_eq(hdr, SW_SIG2 " " SW_SIG);
	free(hdr);
	/* One key: one signature, no space. */
	hdr = hkd_sw_signature_header(keys + 1, 1, SW_ID, SW_TS, SW_BODY,
	                              strlen(SW_BODY));
	ck_assert_str_eq(hdr, SW_SIG);
	free(hdr);
	ck_assert_ptr_null(
	    hkd_sw_signature_header(keys, 0, SW_ID, SW_TS, SW_BODY, 1));
}
END_TEST

START_TEST(test_github_vector)
{
	static const char secret[] = "It's a Secret to Everybody";
	char sig[HKD_GITHUB_SIG_SIZE];

	/* GitHub's documentation ("Validating webhook deliveries"). */
	ck_assert_int_eq(
	    hkd_github_sign(secret, strlen(secret), "Hello, World!", 13, sig),
	    0);
	ck_assert_str_eq(sig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d"
	                      "7586c22c46f4379c8b043e17");
	/* RFC 4231 test case 2 (HMAC-SHA-256). */
	ck_assert_int_eq(
	    hkd_github_sign("Jefe", 4, "what do ya want for nothing?", 28, sig),
	    0);
	ck_assert_str_eq(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f08"
	                      "9d2739839dec58b964ec3843");
	/* An empty body. */
	ck_assert_int_eq(hkd_github_sign(secret, strlen(secret), NULL, 0, sig),
	                 0);
	ck_assert_str_eq(sig, "sha256=66a0c074deaa0f489ead6537e0d32f9a344b90bb"
	                      "eda705b6ed45ecd3b413fb40");
}
END_TEST

/* Secrets refused, and a word the message must hold. */
static const struct {
	const char *secret;
	const char *msg;
} bad_secrets[] = {
    /* Decision: no raw-bytes fallback without the prefix. */
    {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with \"whsec_\""},
    {"It's a Secret to Everybody", "must start with \"whsec_\""},
    {"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with"},
    {"", "must start with"},
    {"whsec_", "is 0 bytes"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "not valid base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w", "not valid base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa_w", "not valid base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw", "not valid base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", "not valid base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", "not valid base64"},
    /* 23 bytes: one short of the minimum. */
    {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhc=", "is 23 bytes"},
    /* 16 bytes. */
    {"whsec_AAAAAAAAAAAAAAAAAAAAAA==", "is 16 bytes"},
    /* 65 bytes: one past the maximum. */
    {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
     "is 65 bytes"},
    /* 96 bytes. */
    {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
     "longer than 64 bytes"},
};

START_TEST(test_bad_secrets)
{
	struct hkd_sw_key k;
	char err[256] = "";

	ck_assert_int_eq(
	    hkd_sw_key_decode(bad_secrets[_i].secret, &k, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, bad_secrets[_i].msg) != NULL,
	              "secret '%s': message '%s' lacks '%s'",
	              bad_secrets[_i].secret, err, bad_secrets[_i].msg);
	ck_assert_uint_eq(k.len, 0);
	/* The message never repeats the secret. */
	if (strlen(bad_secrets[_i].secret) > 8)
		ck_assert_ptr_null(strstr(err, bad_secrets[_i].secret + 6));
	/* err may be NULL. */
	ck_assert_int_eq(hkd_sw_key_decode(bad_secrets[_i].secret, &k, NULL, 0),
	                 -1);
}
END_TEST

START_TEST(test_good_secrets)
{
	struct hkd_sw_key k;

	/* 24 bytes without padding, 25 with "==" or without it, 64 bytes. */
	ck_assert_uint_eq(decode_ok(SW_SECRET).len, 24);
	ck_assert_uint_eq(
	    decode_ok("whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fA==").len, 25);
	ck_assert_uint_eq(
	    decode_ok("whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fA").len, 25);
	k = decode_ok(
	    "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
	ck_assert_uint_eq(k.len, 64);
	k = decode_ok(SW_SECRET2);
	for (size_t i = 0; i < k.len; i++)
		ck_assert_uint_eq(k.key[i], i + 1);
}
END_TEST

/* RFC 4648 section 10. */
static const struct {
	const char *raw, *b64;
} b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(test_base64_vectors)
{
	char enc[64];
	unsigned char dec[64];
	const char *raw = b64_vectors[_i].raw, *b64 = b64_vectors[_i].b64;
	size_t n = strlen(raw);
	long got;

	ck_assert_uint_eq(hkd_base64_encode((const unsigned char *)raw, n, enc),
	                  strlen(b64));
	ck_assert_str_eq(enc, b64);
	got = hkd_base64_decode(b64, strlen(b64), dec, sizeof(dec));
	ck_assert_int_eq(got, (long)n);
	ck_assert_int_eq(memcmp(dec, raw, n), 0);
	/* Without its padding it decodes the same. */
	got = hkd_base64_decode(b64, strcspn(b64, "="), dec, sizeof(dec));
	ck_assert_int_eq(got, (long)n);
	ck_assert_int_eq(memcmp(dec, raw, n), 0);
	/* Too small an output is an error, not an overflow. */
	if (n > 0)
		ck_assert_int_eq(
		    hkd_base64_decode(b64, strlen(b64), dec, n - 1), -1);
}
END_TEST

START_TEST(test_base64_binary)
{
	unsigned char all[256], back[256];
	char enc[400];
	size_t len;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	len = hkd_base64_encode(all, sizeof(all), enc);
	ck_assert_uint_eq(len, 344);
	ck_assert_int_eq(hkd_base64_decode(enc, len, back, sizeof(back)), 256);
	ck_assert_int_eq(memcmp(all, back, sizeof(all)), 0);
	/* Both characters past 'z' and '9' in the alphabet. */
	ck_assert_ptr_nonnull(strchr(enc, '+'));
	ck_assert_ptr_nonnull(strchr(enc, '/'));
}
END_TEST

static const char *const b64_invalid[] = {
    "Z",     /* one character is less than a byte */
    "Zg=",   /* padding that does not complete the group */
    "Zh==",  /* non-zero leftover bits: "Zg==" is the only form of "f" */
    "Zm9=",  /* the same with one pad */
    "Zm9v=", /* padding after a full group */
    "Zm9-",  /* url-safe alphabet */
    "Zm9_",  /* url-safe alphabet */
    "Zm 9v", /* white space */
    "Zm9v\n",  "====", "Zg==Zg==", /* padding in the middle */
    "Zm9v===",
};

START_TEST(test_base64_invalid)
{
	unsigned char dec[64];
	const char *s = b64_invalid[_i];

	ck_assert_msg(hkd_base64_decode(s, strlen(s), dec, sizeof(dec)) == -1,
	              "'%s' was accepted", s);
}
END_TEST

static Suite *sign_suite(void)
{
	Suite *s = suite_create("http_sign");
	TCase *tc = tcase_create("sign");

	tcase_add_test(tc, test_standard_webhooks_vector);
	tcase_add_test(tc, test_standard_webhooks_edges);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_github_vector);
	tcase_add_loop_test(tc, test_bad_secrets, 0, LEN(bad_secrets));
	tcase_add_test(tc, test_good_secrets);
	tcase_add_loop_test(tc, test_base64_vectors, 0, LEN(b64_vectors));
	tcase_add_test(tc, test_base64_binary);
	tcase_add_loop_test(tc, test_base64_invalid, 0, LEN(b64_invalid));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sign_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
