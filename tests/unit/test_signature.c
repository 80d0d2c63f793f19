/*
 * Unit tests for core/signature.c: Standard Webhooks, GitHub, Stripe,
 * generic HMAC and token checks, over cases kept in tests/data/signatures
 * (one JSON file per family, which says where its vectors come from: the
 * Standard Webhooks and GitHub documentation examples, RFC 2202 / RFC 4231
 * test case 2 ("Jefe"), Stripe values computed once with Python's hmac
 * module), each case run on its own.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_file.h"
#include "signature.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The case files, loaded by main() before the suite is made. */
static struct case_file standard_json, secrets_json, github_json, stripe_json,
    hmac_json, tokens_json;

/* The results a case names in "want". */
static const struct {
	const char *name;
	enum hkd_sig_result result;
} results[] = {
    {"ok", HKD_SIG_OK},
    {"missing", HKD_SIG_MISSING},
    {"malformed", HKD_SIG_MALFORMED},
    {"mismatch", HKD_SIG_MISMATCH},
    {"stale", HKD_SIG_STALE},
};

static enum hkd_sig_result want_of(const struct test_case *c)
{
	const char *want = case_str(c, "want");

	for (size_t i = 0; i < LEN(results); i++)
		if (strcmp(want, results[i].name) == 0)
			return results[i].result;
	ck_abort_msg("%s: %s[%d] (%s): \"want\" is \"%s\", not a result",
	             c->file->path, c->array, c->index, c->name, want);
}

/* Check the result and, when want_why is set, that why contains it. */
static void expect(enum hkd_sig_result got, const char *why,
                   enum hkd_sig_result want, const char *want_why,
                   const char *name)
{
	ck_assert_msg(got == want, "%s: got %s (%s), want %s", name,
	              hkd_sig_result_name(got), why, hkd_sig_result_name(want));
	if (want_why != NULL)
		ck_assert_msg(strstr(why, want_why) != NULL,
		              "%s: why \"%s\" lacks \"%s\"", name, why,
		              want_why);
}

/* Append s to the string in buf (size bytes), cut to fit. */
static void append(char *buf, size_t size, const char *s)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s", s);
}

/* ---- Standard Webhooks ---------------------------------------------- */

/* base64 of 32 zero bytes: a well-formed v1 value that never matches. */
#define SW_ZERO "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

/* The specification's example: standard-webhooks.json's "vector". */
struct sw_example {
	const char *id, *ts, *sig, *body, *secret;
	int64_t now;
};

static struct sw_example sw_example(void)
{
	struct test_case v = case_file_vector(&standard_json);
	struct sw_example e;

	e.id = case_str(&v, "id");
	e.ts = case_str(&v, "timestamp");
	e.sig = case_str(&v, "signature");
	e.body = case_str(&v, "body");
	e.secret = case_one_str(&v, "secrets");
	e.now = case_int(&v, "now");
	return e;
}

START_TEST(test_standard_table)
{
	struct test_case c = case_file_get(&standard_json, "cases", _i);
	const char *secrets[4], *body = case_str(&c, "body");
	size_t n = case_strs(&c, "secrets", secrets, LEN(secrets));
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_standard(
	    case_str_or_null(&c, "id"), case_str_or_null(&c, "timestamp"),
	    case_str_or_null(&c, "signature"), (const unsigned char *)body,
	    strlen(body), secrets, n, case_int(&c, "now"),
	    case_int(&c, "tolerance"), why, sizeof(why));
	expect(r, why, want_of(&c), case_str_or_null(&c, "why"), c.name);
}
END_TEST

/*
 * hkd_sig_standard_secret_check accepts exactly the secrets the verifier
 * can use as keys (it says "no usable secret" for the others), and says
 * why without quoting the secret.
 */
START_TEST(test_standard_secret_check)
{
	struct test_case c = case_file_get(&secrets_json, "verifying", _i);
	struct sw_example e = sw_example();
	const char *secret = case_str_or_null(&c, "secret");
	const char *want = case_str_or_null(&c, "why");
	char why[160] = "", vwhy[160] = "";
	int rc = hkd_sig_standard_secret_check(secret, why, sizeof(why));

	hkd_sig_standard(e.id, e.ts, e.sig, (const unsigned char *)e.body,
	                 strlen(e.body), &secret, 1, e.now, 300, vwhy,
	                 sizeof(vwhy));
	ck_assert_msg(rc == (want ? -1 : 0), "%s: check %d", secret, rc);
	ck_assert_msg((strstr(vwhy, "no usable secret") != NULL) == (rc != 0),
	              "%s: check %d, verifier \"%s\"", secret, rc, vwhy);
	if (want)
		ck_assert_msg(strstr(why, want) != NULL, "%s: \"%s\"", secret,
		              why);
	if (secret && strlen(secret) > 6)
		ck_assert_ptr_null(strstr(why, secret + 6));
}
END_TEST

/* Longer than HKD_SIG_SECRET_MAX bytes is refused; the limit itself is
 * fine. */
START_TEST(test_standard_secret_limit)
{
	char secret[6 + 4 * (HKD_SIG_SECRET_MAX / 3 + 2) + 1] = "whsec_";
	char why[160] = "";
	size_t n = 4 * ((HKD_SIG_SECRET_MAX + 2) / 3); /* 684 */

	/* 512 bytes: 170 groups of three, then two bytes and one "=". */
	memset(secret + 6, 'A', n);
	secret[6 + n - 1] = '=';
	secret[6 + n] = '\0';
	ck_assert_int_eq(
	    hkd_sig_standard_secret_check(secret, why, sizeof(why)), 0);
	/* The same 684 characters unpadded: 513 bytes; then 688. */
	secret[6 + n - 1] = 'A';
	ck_assert_int_eq(
	    hkd_sig_standard_secret_check(secret, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "too long for a key (more than 512 bytes)"),
	              "%s", why);
	memcpy(secret + 6 + n, "AAAA", 5);
	ck_assert_int_eq(
	    hkd_sig_standard_secret_check(secret, why, sizeof(why)), -1);
	ck_assert_msg(strstr(why, "too long for a key (more than 512 bytes)"),
	              "%s", why);
}
END_TEST

/* Too many entries is refused before any HMAC; the limit itself is fine. */
START_TEST(test_standard_entry_limit)
{
	struct sw_example e = sw_example();
	const char *secrets[] = {e.secret};
	char header[40 * sizeof(SW_ZERO)] = "";
	char why[160] = "";
	enum hkd_sig_result r;

	for (int i = 0; i < 31; i++) {
		append(header, sizeof(header), SW_ZERO);
		append(header, sizeof(header), " ");
	}
	append(header, sizeof(header), e.sig);
	r = hkd_sig_standard(e.id, e.ts, header, (const unsigned char *)e.body,
	                     strlen(e.body), secrets, 1, e.now, 300, why,
	                     sizeof(why));
	expect(r, why, HKD_SIG_OK, NULL, "32 entries");
	append(header, sizeof(header), " ");
	append(header, sizeof(header), SW_ZERO);
	r = hkd_sig_standard(e.id, e.ts, header, (const unsigned char *)e.body,
	                     strlen(e.body), secrets, 1, e.now, 300, why,
	                     sizeof(why));
	expect(r, why, HKD_SIG_MALFORMED, "more than 32 entries", "33 entries");
}
END_TEST

/* ---- GitHub ---------------------------------------------------------- */

START_TEST(test_github_table)
{
	struct test_case c = case_file_get(&github_json, "cases", _i);
	const char *secrets[4], *body = case_str(&c, "body");
	size_t n = case_strs(&c, "secrets", secrets, LEN(secrets));
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_github(case_str_or_null(&c, "header"),
	                   (const unsigned char *)body, strlen(body), secrets,
	                   n, why, sizeof(why));
	expect(r, why, want_of(&c), case_str_or_null(&c, "why"), c.name);
}
END_TEST

/* ---- Stripe ----------------------------------------------------------- */

START_TEST(test_stripe_table)
{
	struct test_case c = case_file_get(&stripe_json, "cases", _i);
	const char *secrets[4], *body = case_str(&c, "body");
	size_t n = case_strs(&c, "secrets", secrets, LEN(secrets));
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_stripe(case_str_or_null(&c, "header"),
	                   (const unsigned char *)body, strlen(body), secrets,
	                   n, case_int(&c, "now"), 300, why, sizeof(why));
	expect(r, why, want_of(&c), case_str_or_null(&c, "why"), c.name);
}
END_TEST

/* ---- Generic HMAC ----------------------------------------------------- */

/*
 * _i runs over digest (hmac.json) x encoding (2) x prefix (2): the vector
 * must verify, and fail with another key, another body, or one character
 * off.
 */
START_TEST(test_hmac_vectors)
{
	struct test_case c = case_file_get(&hmac_json, "digests", _i / 4);
	const char *algorithm = case_str(&c, "algorithm");
	const char *key = case_str(&c, "key"), *data = case_str(&c, "data");
	int b64 = (_i / 2) % 2;
	int prefixed = _i % 2;
	const char *secrets[] = {"wrong", key};
	const char *value = case_str(&c, b64 ? "base64" : "hex");
	const char *encoding = b64 ? "base64" : "hex";
	char *other = strdup(data);
	char prefix[16] = "";
	char header[256];
	char name[64];
	char why[160] = "";
	enum hkd_sig_result r;

	/* Other data: the last character changed, '?' to '!'. */
	ck_assert_ptr_nonnull(other);
	if (other[0])
		other[strlen(other) - 1] =
		    other[strlen(other) - 1] == '!' ? '?' : '!';
	if (prefixed)
		snprintf(prefix, sizeof(prefix), "%s=", algorithm);
	snprintf(header, sizeof(header), "%s%s", prefix, value);
	snprintf(name, sizeof(name), "%s %s %s", algorithm, encoding,
	         prefixed ? "prefixed" : "bare");

	r = hkd_sig_hmac(header, algorithm, encoding, prefixed ? prefix : NULL,
	                 (const unsigned char *)data, strlen(data), secrets, 2,
	                 why, sizeof(why));
	expect(r, why, HKD_SIG_OK, "matched secret 2 of 2", name);

	r = hkd_sig_hmac(header, algorithm, encoding, prefixed ? prefix : NULL,
	                 (const unsigned char *)data, strlen(data), secrets, 1,
	                 why, sizeof(why));
	expect(r, why, HKD_SIG_MISMATCH, "no signature matched any of 1 secret",
	       name);

	r = hkd_sig_hmac(header, algorithm, encoding, prefixed ? prefix : NULL,
	                 (const unsigned char *)other, strlen(data), secrets, 2,
	                 why, sizeof(why));
	expect(r, why, HKD_SIG_MISMATCH, NULL, name);

	/* The first value character moved to another valid one. */
	header[strlen(prefix)] = header[strlen(prefix)] == 'A' ? 'B' : 'A';
	r = hkd_sig_hmac(header, algorithm, encoding, prefixed ? prefix : NULL,
	                 (const unsigned char *)data, strlen(data), secrets, 2,
	                 why, sizeof(why));
	ck_assert_msg(r == HKD_SIG_MISMATCH || r == HKD_SIG_MALFORMED,
	              "%s: one character off gave %s", name,
	              hkd_sig_result_name(r));
	ck_assert_int_ne(r, HKD_SIG_OK);

	/* The value without its last character. */
	snprintf(header, sizeof(header), "%s%s", prefix, value);
	header[strlen(header) - 1] = '\0';
	r = hkd_sig_hmac(header, algorithm, encoding, prefixed ? prefix : NULL,
	                 (const unsigned char *)data, strlen(data), secrets, 2,
	                 why, sizeof(why));
	expect(r, why, HKD_SIG_MALFORMED, NULL, name);
	free(other);
}
END_TEST

START_TEST(test_hmac_table)
{
	struct test_case c = case_file_get(&hmac_json, "cases", _i);
	const char *secrets[] = {case_str(&c, "key")};
	const char *data = case_str(&c, "data");
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_hmac(
	    case_str_or_null(&c, "header"), case_str_or_null(&c, "algorithm"),
	    case_str(&c, "encoding"), case_str_or_null(&c, "prefix"),
	    (const unsigned char *)data, strlen(data), secrets, 1, why,
	    sizeof(why));
	expect(r, why, want_of(&c), case_str_or_null(&c, "why"), c.name);
}
END_TEST

/* ---- Token ------------------------------------------------------------ */

START_TEST(test_token_table)
{
	struct test_case c = case_file_get(&tokens_json, "cases", _i);
	const char *tokens[4];
	size_t n = case_strs(&c, "tokens", tokens, LEN(tokens));
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_token(case_str_or_null(&c, "header"), tokens, n, why,
	                  sizeof(why));
	expect(r, why, want_of(&c), case_str_or_null(&c, "why"), c.name);
}
END_TEST

/* Empty or NULL configured tokens never match, not even an empty header. */
START_TEST(test_token_unusable)
{
	const char *tokens[] = {"", NULL};
	char why[160] = "";

	expect(hkd_sig_token("Bearer x", tokens, 2, why, sizeof(why)), why,
	       HKD_SIG_MISMATCH, "no usable token among 2 configured",
	       "empty tokens");
	expect(hkd_sig_token("x", NULL, 0, why, sizeof(why)), why,
	       HKD_SIG_MISMATCH, "no usable token among 0 configured",
	       "no tokens");
}
END_TEST

/* ---- Misc ------------------------------------------------------------- */

START_TEST(test_result_names)
{
	ck_assert_str_eq(hkd_sig_result_name(HKD_SIG_OK), "ok");
	ck_assert_str_eq(hkd_sig_result_name(HKD_SIG_MISSING), "missing");
	ck_assert_str_eq(hkd_sig_result_name(HKD_SIG_MALFORMED), "malformed");
	ck_assert_str_eq(hkd_sig_result_name(HKD_SIG_MISMATCH), "mismatch");
	ck_assert_str_eq(hkd_sig_result_name(HKD_SIG_STALE), "stale");
	ck_assert_str_eq(hkd_sig_result_name((enum hkd_sig_result)42),
	                 "unknown");
}
END_TEST

/* why may be NULL or tiny; it is truncated and terminated, never overrun. */
START_TEST(test_why_optional)
{
	struct sw_example e = sw_example();
	const char *secrets[] = {e.secret};
	const char *raw[] = {"key"};
	char tiny[8];

	ck_assert_int_eq(
	    hkd_sig_standard(e.id, e.ts, e.sig, (const unsigned char *)e.body,
	                     strlen(e.body), secrets, 1, e.now, 300, NULL, 0),
	    HKD_SIG_OK);
	memset(tiny, 'x', sizeof(tiny));
	ck_assert_int_eq(
	    hkd_sig_github(NULL, NULL, 0, secrets, 1, tiny, sizeof(tiny)),
	    HKD_SIG_MISSING);
	ck_assert_uint_eq(strlen(tiny), sizeof(tiny) - 1);
	/* A NULL body is the empty one: HMAC-SHA1("key", ""). */
	ck_assert_int_eq(
	    hkd_sig_hmac("f42bb0eeb018ebbd4597ae7213711ec60760843f", "sha1",
	                 "hex", NULL, NULL, 0, raw, 1, NULL, 0),
	    HKD_SIG_OK);
}
END_TEST

/*
 * Random headers from an alphabet rich in separators and signature
 * characters, through every parser: the results must be in range and
 * nothing may crash (the sanitizer build checks the memory accesses).
 */
START_TEST(test_garbage_headers)
{
	static const char alphabet[] = "v1,= t0123456789abcdefABCDEF+/=,,  "
	                               "Bearerwhsec_sha256=\x01\xff";
	struct sw_example e = sw_example();
	const char *secrets[] = {e.secret, "raw", ""};
	uint32_t seed = 12345;
	char h[200];

	for (int round = 0; round < 4000; round++) {
		size_t len;
		enum hkd_sig_result r[5];

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % (sizeof(h) - 1);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			h[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		h[len] = '\0';
		r[0] = hkd_sig_standard(e.id, h, h, (const unsigned char *)h,
		                        len, secrets, 3, e.now, 300, NULL, 0);
		r[1] = hkd_sig_github(h, (const unsigned char *)h, len, secrets,
		                      3, NULL, 0);
		r[2] = hkd_sig_stripe(h, (const unsigned char *)h, len, secrets,
		                      3, e.now, 300, NULL, 0);
		r[3] = hkd_sig_hmac(h, "sha1", round % 2 ? "hex" : "base64",
		                    round % 3 ? "sha1=" : NULL,
		                    (const unsigned char *)h, len, secrets, 3,
		                    NULL, 0);
		r[4] = hkd_sig_token(h, secrets, 3, NULL, 0);
		for (size_t i = 0; i < LEN(r); i++)
			ck_assert_int_le(r[i], HKD_SIG_STALE);
		/* Random text must not authenticate (except by being the
		 * token). */
		ck_assert_int_ne(r[0], HKD_SIG_OK);
		ck_assert_int_ne(r[1], HKD_SIG_OK);
		ck_assert_int_ne(r[2], HKD_SIG_OK);
		ck_assert_int_ne(r[3], HKD_SIG_OK);
	}
}
END_TEST

static Suite *signature_suite(void)
{
	Suite *s = suite_create("signature");
	TCase *tc = tcase_create("signature");

	tcase_add_loop_test(tc, test_standard_table, 0,
	                    case_file_count(&standard_json, "cases"));
	tcase_add_test(tc, test_standard_entry_limit);
	tcase_add_loop_test(tc, test_standard_secret_check, 0,
	                    case_file_count(&secrets_json, "verifying"));
	tcase_add_test(tc, test_standard_secret_limit);
	tcase_add_loop_test(tc, test_github_table, 0,
	                    case_file_count(&github_json, "cases"));
	tcase_add_loop_test(tc, test_stripe_table, 0,
	                    case_file_count(&stripe_json, "cases"));
	tcase_add_loop_test(tc, test_hmac_vectors, 0,
	                    case_file_count(&hmac_json, "digests") * 4);
	tcase_add_loop_test(tc, test_hmac_table, 0,
	                    case_file_count(&hmac_json, "cases"));
	tcase_add_loop_test(tc, test_token_table, 0,
	                    case_file_count(&tokens_json, "cases"));
	tcase_add_test(tc, test_token_unusable);
	tcase_add_test(tc, test_result_names);
	tcase_add_test(tc, test_why_optional);
	tcase_add_test(tc, test_garbage_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const struct case_file_use files[] = {
	    {&standard_json, "signatures/standard-webhooks.json"},
	    {&secrets_json, "signatures/secrets.json"},
	    {&github_json, "signatures/github.json"},
	    {&stripe_json, "signatures/stripe.json"},
	    {&hmac_json, "signatures/hmac.json"},
	    {&tokens_json, "signatures/tokens.json"},
	};

	return case_files_run(files, LEN(files), signature_suite);
}
