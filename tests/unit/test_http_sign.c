/*
 * Unit tests of the http plugin's signatures (plugins/http/sign.c, compiled
 * in directly): the published Standard Webhooks and GitHub vectors and
 * RFC 4231's HMAC-SHA-256 (tests/data/signatures, shared with
 * test_signature), key rotation, secret decoding and the base64
 * underneath.
 *
 * Expected values not published elsewhere were computed independently with
 * Python's hmac, hashlib and base64 modules.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "case_file.h"
#include "sign.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The case files, loaded by main() before the suite is made. */
static struct case_file standard_json, github_json, hmac_json, secrets_json,
    base64_json;

/* A second key (bytes 1..32) and its signature of the Standard Webhooks
 * example's message. */
#define SW_SECRET2 "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define SW_SIG2    "v1,frM35V2Z51bxs4v81I6TpLnscXkhXtKLP/7WPYVyj3A="

/* The Standard Webhooks specification's example: standard-webhooks.json's
 * "vector". */
struct sw_example {
	const char *secret, *id, *body, *sig;
	int64_t ts;
};

static struct sw_example sw_example(void)
{
	struct test_case v = case_file_vector(&standard_json);
	struct sw_example e;
	const char *ts = case_str(&v, "timestamp");
	char *end;

	e.secret = case_one_str(&v, "secrets");
	e.id = case_str(&v, "id");
	e.body = case_str(&v, "body");
	e.sig = case_str(&v, "signature");
	e.ts = strtoll(ts, &end, 10);
	if (!*ts || *end)
		ck_abort_msg(
		    "%s: the vector's timestamp \"%s\" is not a number",
		    standard_json.path, ts);
	return e;
}

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
	struct sw_example e = sw_example();
	struct hkd_sw_key k = decode_ok(e.secret);
	char sig[HKD_SW_SIG_SIZE];

	ck_assert_uint_eq(k.len, 24);
	ck_assert_int_eq(
	    hkd_sw_sign(&k, e.id, e.ts, e.body, strlen(e.body), sig), 0);
	ck_assert_str_eq(sig, e.sig);
	/* One byte more or less of the body is another signature. */
	ck_assert_int_eq(
	    hkd_sw_sign(&k, e.id, e.ts, e.body, strlen(e.body) - 1, sig), 0);
	ck_assert_str_ne(sig, e.sig);
	ck_assert_int_eq(
	    hkd_sw_sign(&k, e.id, e.ts + 1, e.body, strlen(e.body), sig), 0);
	ck_assert_str_ne(sig, e.sig);
}
END_TEST

START_TEST(test_standard_webhooks_edges)
{
	struct hkd_sw_key k = decode_ok(sw_example().secret);
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
	struct sw_example e = sw_example();
	struct hkd_sw_key keys[2];
	char want[2 * HKD_SW_SIG_SIZE];
	char *hdr;

	keys[0] = decode_ok(e.secret);
	keys[1] = decode_ok(SW_SECRET2);
	ck_assert_uint_eq(keys[1].len, 32);
	hdr = hkd_sw_signature_header(keys, 2, e.id, e.ts, e.body,
	                              strlen(e.body));
	ck_assert_ptr_nonnull(hdr);
	snprintf(want, sizeof(want), "%s %s", e.sig, SW_SIG2);
	ck_assert_str_eq(hdr, want);
	free(hdr);
	/* Order is kept: the new key first works the same. */
	keys[0] = decode_ok(SW_SECRET2);
	keys[1] = decode_ok(e.secret);
	hdr = hkd_sw_signature_header(keys, 2, e.id, e.ts, e.body,
	                              strlen(e.body));
	snprintf(want, sizeof(want), "%s %s", SW_SIG2, e.sig);
	ck_assert_str_eq(hdr, want);
	free(hdr);
	/* One key: one signature, no space. */
	hdr = hkd_sw_signature_header(keys + 1, 1, e.id, e.ts, e.body,
	                              strlen(e.body));
	ck_assert_str_eq(hdr, e.sig);
	free(hdr);
	ck_assert_ptr_null(
	    hkd_sw_signature_header(keys, 0, e.id, e.ts, e.body, 1));
}
END_TEST

/* The digest hmac.json gives for algorithm, as a case. */
static struct test_case hmac_digest(const char *algorithm)
{
	int n = case_file_count(&hmac_json, "digests");

	for (int i = 0; i < n; i++) {
		struct test_case c = case_file_get(&hmac_json, "digests", i);

		if (strcmp(case_str(&c, "algorithm"), algorithm) == 0)
			return c;
	}
	ck_abort_msg("%s: no %s digest", hmac_json.path, algorithm);
}

START_TEST(test_github_vector)
{
	struct test_case gh = case_file_vector(&github_json);
	struct test_case rfc = hmac_digest("sha256");
	const char *secret = case_one_str(&gh, "secrets");
	const char *body = case_str(&gh, "body");
	const char *key = case_str(&rfc, "key"), *data = case_str(&rfc, "data");
	char sig[HKD_GITHUB_SIG_SIZE], want[HKD_GITHUB_SIG_SIZE + 16];

	/* GitHub's documentation ("Validating webhook deliveries"). */
	ck_assert_int_eq(
	    hkd_github_sign(secret, strlen(secret), body, strlen(body), sig),
	    0);
	ck_assert_str_eq(sig, case_str(&gh, "header"));
	/* RFC 4231 test case 2 (HMAC-SHA-256). */
	ck_assert_int_eq(
	    hkd_github_sign(key, strlen(key), data, strlen(data), sig), 0);
	snprintf(want, sizeof(want), "sha256=%s", case_str(&rfc, "hex"));
	ck_assert_str_eq(sig, want);
	/* An empty body. */
	ck_assert_int_eq(hkd_github_sign(secret, strlen(secret), NULL, 0, sig),
	                 0);
	ck_assert_str_eq(sig, "sha256=66a0c074deaa0f489ead6537e0d32f9a344b90bb"
	                      "eda705b6ed45ecd3b413fb40");
}
END_TEST

/* Secrets refused (secrets.json, "signing"), and a word the message must
 * hold. */
START_TEST(test_bad_secrets)
{
	struct test_case c = case_file_get(&secrets_json, "signing", _i);
	const char *secret = case_str(&c, "secret");
	const char *msg = case_str(&c, "why");
	struct hkd_sw_key k;
	char err[256] = "";

	ck_assert_int_eq(hkd_sw_key_decode(secret, &k, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, msg) != NULL,
	              "secret '%s': message '%s' lacks '%s'", secret, err, msg);
	ck_assert_uint_eq(k.len, 0);
	/* The message never repeats the secret. */
	if (strlen(secret) > 8)
		ck_assert_ptr_null(strstr(err, secret + 6));
	/* err may be NULL. */
	ck_assert_int_eq(hkd_sw_key_decode(secret, &k, NULL, 0), -1);
}
END_TEST

START_TEST(test_good_secrets)
{
	struct hkd_sw_key k;

	/* 24 bytes without padding, 25 with "==" or without it, 64 bytes. */
	ck_assert_uint_eq(decode_ok(sw_example().secret).len, 24);
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

/* RFC 4648 section 10 (base64.json, "vectors"). */
START_TEST(test_base64_vectors)
{
	struct test_case c = case_file_get(&base64_json, "vectors", _i);
	char enc[64];
	unsigned char dec[64];
	const char *raw = case_str(&c, "raw"), *b64 = case_str(&c, "base64");
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

/* Texts the decoder refuses (base64.json, "invalid"). */
START_TEST(test_base64_invalid)
{
	struct test_case c = case_file_get(&base64_json, "invalid", _i);
	unsigned char dec[64];
	const char *s = case_str(&c, "text");

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
	tcase_add_loop_test(tc, test_bad_secrets, 0,
	                    case_file_count(&secrets_json, "signing"));
	tcase_add_test(tc, test_good_secrets);
	tcase_add_loop_test(tc, test_base64_vectors, 0,
	                    case_file_count(&base64_json, "vectors"));
	tcase_add_test(tc, test_base64_binary);
	tcase_add_loop_test(tc, test_base64_invalid, 0,
	                    case_file_count(&base64_json, "invalid"));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const struct case_file_use files[] = {
	    {&standard_json, "signatures/standard-webhooks.json"},
	    {&github_json, "signatures/github.json"},
	    {&hmac_json, "signatures/hmac.json"},
	    {&secrets_json, "signatures/secrets.json"},
	    {&base64_json, "signatures/base64.json"},
	};

	return case_files_run(files, LEN(files), sign_suite);
}
