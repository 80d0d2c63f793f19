/*
 * Unit tests for core/signature.c: Standard Webhooks, GitHub, Stripe,
 * generic HMAC and token checks, as tables of cases run one by one.
 * Vectors: the Standard Webhooks and GitHub documentation examples,
 * RFC 2202 / RFC 4231 test case 2 ("Jefe"), and Stripe values computed
 * once with Python's hmac module (see the comment at the Stripe table).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signature.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

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

/* ---- Standard Webhooks ---------------------------------------------- */

#define SW_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS     "1614265330"
#define SW_NOW    INT64_C(1614265330)
#define SW_BODY   "{\"test\": 2432232314}"
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_B64    "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_SIG    "v1," SW_B64
/* A well-formed secret that signs nothing here: base64 of 30 bytes. */
#define SW_OTHER "whsec_aG9va2Qtc2Vjb25kLXN0YW5kYXJkLXNlY3JldCEh"
/* base64 of 32 zero bytes: a well-formed v1 value that never matches. */
#define SW_ZERO "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static const struct {
	const char *name;
	const char *id, *ts, *sig, *body;
	const char *secrets[3];
	size_t n;
	int64_t now, tolerance;
	enum hkd_sig_result want;
	const char *why;
} standard_cases[] = {
    {"published vector",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_OK,
     "matched secret 1 of 1"},
    {"stale by 301 s",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW + 301,
     300,
     HKD_SIG_STALE,
     "timestamp 1614265330 is 301 s old (tolerance 300 s)"},
    {"exactly at tolerance",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW + 300,
     300,
     HKD_SIG_OK,
     NULL},
    {"future by 301 s",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW - 301,
     300,
     HKD_SIG_STALE,
     "timestamp 1614265330 is 301 s in the future (tolerance 300 s)"},
    {"negative tolerance is 0",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW + 1,
     -5,
     HKD_SIG_STALE,
     "1 s old (tolerance 0 s)"},
    {"now far in the past",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     INT64_MIN,
     300,
     HKD_SIG_STALE,
     "out of range"},
    {"wrong secret first",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_OTHER, SW_SECRET},
     2,
     SW_NOW,
     300,
     HKD_SIG_OK,
     "matched secret 2 of 2"},
    {"secret without whsec_",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
     1,
     SW_NOW,
     300,
     HKD_SIG_OK,
     NULL},
    {"flipped body byte",
     SW_ID,
     SW_TS,
     SW_SIG,
     "{\"test\": 2432232315}",
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "no v1 signature matched any of 1 secret"},
    {"flipped body, two secrets",
     SW_ID,
     SW_TS,
     SW_SIG,
     "{\"test\": 2432232315}",
     {SW_OTHER, SW_SECRET},
     2,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "no v1 signature matched any of 2 secrets"},
    {"other id",
     "msg_p5jXN8AQM9LWM0D4loKWxJeK",
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     NULL},
    {"other timestamp",
     SW_ID,
     "1614265331",
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     NULL},
    {"forged and stale is a mismatch",
     SW_ID,
     SW_TS,
     SW_ZERO,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW + 9999,
     300,
     HKD_SIG_MISMATCH,
     NULL},
    {"several signatures",
     SW_ID,
     SW_TS,
     SW_ZERO " " SW_SIG " " SW_ZERO,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_OK,
     NULL},
    {"only wrong signatures",
     SW_ID,
     SW_TS,
     SW_ZERO " " SW_ZERO,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     NULL},
    {"v2 entry ignored",
     SW_ID,
     SW_TS,
     "v2,whatever!! " SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_OK,
     NULL},
    {"v1a with the right value ignored",
     SW_ID,
     SW_TS,
     "v1a," SW_B64,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "holds no v1 signature"},
    {"extra spaces",
     SW_ID,
     SW_TS,
     "  " SW_ZERO "   " SW_SIG " ",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_OK,
     NULL},
    {"base64 without padding",
     SW_ID,
     SW_TS,
     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     "entry 1 is not base64 of 32 bytes"},
    {"base64url alphabet",
     SW_ID,
     SW_TS,
     "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"bad base64 character",
     SW_ID,
     SW_TS,
     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O!=",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"non-canonical padding bits",
     SW_ID,
     SW_TS,
     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"padding in the middle",
     SW_ID,
     SW_TS,
     "v1,g0hM=SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"16 bytes instead of 32",
     SW_ID,
     SW_TS,
     "v1,AAAAAAAAAAAAAAAAAAAAAA==",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"bad entry beside a good one",
     SW_ID,
     SW_TS,
     SW_SIG " v1,@@@@",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     "entry 2"},
    {"entry without comma",
     SW_ID,
     SW_TS,
     "v1" SW_B64,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     "not <version>,<signature>"},
    {"empty version",
     SW_ID,
     SW_TS,
     "," SW_B64,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"empty value",
     SW_ID,
     SW_TS,
     "v1,",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"only spaces",
     SW_ID,
     SW_TS,
     "   ",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "holds no v1 signature"},
    {"non-numeric timestamp",
     SW_ID,
     "16142653x0",
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     "webhook-timestamp is not a decimal Unix time"},
    {"negative timestamp",
     SW_ID,
     "-1614265330",
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"timestamp with a space",
     SW_ID,
     " 1614265330",
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"timestamp overflowing int64",
     SW_ID,
     "9223372036854775808",
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"timestamp of 20 digits",
     SW_ID,
     "00000000001614265330",
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     NULL},
    {"id with a space",
     "msg 1",
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MALFORMED,
     "webhook-id"},
    {"id missing",
     NULL,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISSING,
     "webhook-id header missing"},
    {"timestamp missing",
     SW_ID,
     NULL,
     SW_SIG,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISSING,
     "webhook-timestamp header missing"},
    {"signature missing",
     SW_ID,
     SW_TS,
     NULL,
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISSING,
     "webhook-signature header missing"},
    {"signature empty",
     SW_ID,
     SW_TS,
     "",
     SW_BODY,
     {SW_SECRET},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISSING,
     "webhook-signature header missing"},
    {"unusable secret only",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {"whsec_%%%%"},
     1,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "no usable secret among 1 configured"},
    {"unusable secret, then the right one",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {"whsec_%%%%", NULL, SW_SECRET},
     3,
     SW_NOW,
     300,
     HKD_SIG_OK,
     "matched secret 3 of 3"},
    {"unusable and wrong secrets",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {"", SW_OTHER},
     2,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "(1 unusable)"},
    {"no secrets",
     SW_ID,
     SW_TS,
     SW_SIG,
     SW_BODY,
     {NULL},
     0,
     SW_NOW,
     300,
     HKD_SIG_MISMATCH,
     "no usable secret among 0 configured"},
};

START_TEST(test_standard_table)
{
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_standard(standard_cases[_i].id, standard_cases[_i].ts,
	                     standard_cases[_i].sig,
	                     (const unsigned char *)standard_cases[_i].body,
	                     strlen(standard_cases[_i].body),
	                     standard_cases[_i].secrets, standard_cases[_i].n,
	                     standard_cases[_i].now,
	                     standard_cases[_i].tolerance, why, sizeof(why));
	expect(r, why, standard_cases[_i].want, standard_cases[_i].why,
	       standard_cases[_i].name);
}
END_TEST

/*
 * hkd_sig_standard_secret_check accepts exactly the secrets the verifier
 * can use as keys (it says "no usable secret" for the others), and says
 * why without quoting the secret.
 */
static const struct {
	const char *secret;
	const char *why; /* NULL: accepted */
} secret_cases[] = {
    {SW_SECRET, NULL},
    {SW_OTHER, NULL},
    {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL}, /* whsec_ is optional */
    {"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", NULL},
    {"whsec_AA==", NULL}, /* one byte: short, but a key */
    {"whsec_!!!", "it is not base64"},
    {"whsec_abc", "it is not base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=", "it is not base64"},
    {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w", "it is not base64"},
    {"whsec_AA=A", "it is not base64"},
    {"whsec_", "nothing follows whsec_"},
    {"", "it is empty"},
    {NULL, "there is no secret"},
};

START_TEST(test_standard_secret_check)
{
	const char *secret = secret_cases[_i].secret;
	const char *want = secret_cases[_i].why;
	char why[160] = "", vwhy[160] = "";
	int rc = hkd_sig_standard_secret_check(secret, why, sizeof(why));

	hkd_sig_standard(SW_ID, SW_TS, SW_SIG, (const unsigned char *)SW_BODY,
	                 strlen(SW_BODY), &secret, 1, SW_NOW, 300, vwhy,
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
	const char *secrets[] = {SW_SECRET};
	char header[40 * sizeof(SW_ZERO)] = "";
	char why[160] = "";
	enum hkd_sig_result r;

	for (int i = 0; i < 31; i++)
		strcat(strcat(header, SW_ZERO), " ");
	strcat(header, SW_SIG);
	r = hkd_sig_standard(SW_ID, SW_TS, header,
	                     (const unsigned char *)SW_BODY, strlen(SW_BODY),
	                     secrets, 1, SW_NOW, 300, why, sizeof(why));
	expect(r, why, HKD_SIG_OK, NULL, "32 entries");
	strcat(strcat(header, " "), SW_ZERO);
	r = hkd_sig_standard(SW_ID, SW_TS, header,
	                     (const unsigned char *)SW_BODY, strlen(SW_BODY),
	                     secrets, 1, SW_NOW, 300, why, sizeof(why));
	expect(r, why, HKD_SIG_MALFORMED, "more than 32 entries", "33 entries");
}
END_TEST

/* ---- GitHub ---------------------------------------------------------- */

#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY   "Hello, World!"
#define GH_HEX                                                                 \
	"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static const struct {
	const char *name;
	const char *header, *body;
	const char *secrets[2];
	size_t n;
	enum hkd_sig_result want;
	const char *why;
} github_cases[] = {
    {"published vector",
     "sha256=" GH_HEX,
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_OK,
     "matched secret 1 of 1"},
    {"upper-case hex",
     "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_OK,
     NULL},
    {"second secret",
     "sha256=" GH_HEX,
     GH_BODY,
     {"old secret", GH_SECRET},
     2,
     HKD_SIG_OK,
     "matched secret 2 of 2"},
    {"wrong secret",
     "sha256=" GH_HEX,
     GH_BODY,
     {"It's a secret to everybody"},
     1,
     HKD_SIG_MISMATCH,
     "no signature matched any of 1 secret"},
    {"other body",
     "sha256=" GH_HEX,
     "Hello, World?",
     {GH_SECRET},
     1,
     HKD_SIG_MISMATCH,
     NULL},
    {"missing",
     NULL,
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MISSING,
     "X-Hub-Signature-256 header missing"},
    {"empty", "", GH_BODY, {GH_SECRET}, 1, HKD_SIG_MISSING, NULL},
    {"sha1 header",
     "sha1=" GH_HEX,
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MALFORMED,
     "does not start with \"sha256=\""},
    {"bare hex", GH_HEX, GH_BODY, {GH_SECRET}, 1, HKD_SIG_MALFORMED, NULL},
    {"63 digits",
     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MALFORMED,
     "is not 64 hex digits"},
    {"65 digits",
     "sha256=" GH_HEX "7",
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MALFORMED,
     NULL},
    {"non-hex digit",
     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MALFORMED,
     NULL},
    {"trailing space",
     "sha256=" GH_HEX " ",
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MALFORMED,
     NULL},
    {"prefix only",
     "sha256=",
     GH_BODY,
     {GH_SECRET},
     1,
     HKD_SIG_MALFORMED,
     NULL},
    {"empty secret never matches",
     "sha256=" GH_HEX,
     GH_BODY,
     {""},
     1,
     HKD_SIG_MISMATCH,
     "no usable secret"},
};

START_TEST(test_github_table)
{
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_github(github_cases[_i].header,
	                   (const unsigned char *)github_cases[_i].body,
	                   strlen(github_cases[_i].body),
	                   github_cases[_i].secrets, github_cases[_i].n, why,
	                   sizeof(why));
	expect(r, why, github_cases[_i].want, github_cases[_i].why,
	       github_cases[_i].name);
}
END_TEST

/* ---- Stripe ----------------------------------------------------------- */

/*
 * Computed once with
 *   python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test_secret_hookd",
 *     b"1700000000.{\"id\":\"evt_1\",\"object\":\"event\"}",
 *     hashlib.sha256).hexdigest())'
 * and the same with b"whsec_other_secret" for ST_OTHER_HEX.
 */
#define ST_SECRET "whsec_test_secret_hookd"
#define ST_OTHER  "whsec_other_secret"
#define ST_T      "1700000000"
#define ST_NOW    INT64_C(1700000000)
#define ST_BODY   "{\"id\":\"evt_1\",\"object\":\"event\"}"
#define ST_HEX                                                                 \
	"04432310a19113fffc77606321c1c8ee080ecf1c7ec4b1a7e3c0ac739d41f444"
#define ST_OTHER_HEX                                                           \
	"b7ecf2b25fe8be89275e059c67c71512f61cf5110fbb361a3534f45aa94713f7"
#define ST_ZERO                                                                \
	"0000000000000000000000000000000000000000000000000000000000000000"

static const struct {
	const char *name;
	const char *header, *body;
	const char *secrets[2];
	size_t n;
	int64_t now;
	enum hkd_sig_result want;
	const char *why;
} stripe_cases[] = {
    {"fixed vector",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_OK,
     "matched secret 1 of 1"},
    {"stale by 301 s",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW + 301,
     HKD_SIG_STALE,
     "timestamp 1700000000 is 301 s old (tolerance 300 s)"},
    {"future by 301 s",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW - 301,
     HKD_SIG_STALE,
     "in the future"},
    {"within tolerance",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW + 299,
     HKD_SIG_OK,
     NULL},
    {"multiple v1, right one last",
     "t=" ST_T ",v1=" ST_ZERO ",v1=" ST_OTHER_HEX ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_OK,
     NULL},
    {"multiple v1, none right",
     "t=" ST_T ",v1=" ST_ZERO ",v1=" ST_OTHER_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MISMATCH,
     "no v1 signature matched any of 1 secret"},
    {"rotation, new secret signs",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_OTHER, ST_SECRET},
     2,
     ST_NOW,
     HKD_SIG_OK,
     "matched secret 2 of 2"},
    {"rotation, old secret signs",
     "t=" ST_T ",v1=" ST_OTHER_HEX,
     ST_BODY,
     {ST_OTHER, ST_SECRET},
     2,
     ST_NOW,
     HKD_SIG_OK,
     "matched secret 1 of 2"},
    {"v0 ignored",
     "t=" ST_T ",v0=not-hex-at-all,v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_OK,
     NULL},
    {"t after v1",
     "v1=" ST_HEX ",t=" ST_T,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_OK,
     NULL},
    {"upper-case hex",
     "t=" ST_T
     ",v1=04432310A19113FFFC77606321C1C8EE080ECF1C7EC4B1A7E3C0AC739D41F444",
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_OK,
     NULL},
    {"secret without whsec_ is another key",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {"test_secret_hookd"},
     1,
     ST_NOW,
     HKD_SIG_MISMATCH,
     NULL},
    {"other t",
     "t=1700000001,v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MISMATCH,
     NULL},
    {"flipped body byte",
     "t=" ST_T ",v1=" ST_HEX,
     "{\"id\":\"evt_2\",\"object\":\"event\"}",
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MISMATCH,
     NULL},
    {"no v1",
     "t=" ST_T ",v0=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MISMATCH,
     "holds no v1 signature"},
    {"no t",
     "v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     "has no t= timestamp"},
    {"two t",
     "t=" ST_T ",t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     "more than one t="},
    {"t not numeric",
     "t=17000x0000,v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     "t= is not a decimal Unix time"},
    {"t empty",
     "t=,v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     NULL},
    {"short v1",
     "t=" ST_T ",v1=04432310",
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     "item 2 is not 64 hex digits"},
    {"v1 with a space",
     "t=" ST_T ", v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MISMATCH,
     "holds no v1"},
    {"empty item",
     "t=" ST_T ",,v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     "item 2 is not key=value"},
    {"trailing comma",
     "t=" ST_T ",v1=" ST_HEX ",",
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     NULL},
    {"garbage",
     "garbage",
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     NULL},
    {"=value",
     "=x,t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MALFORMED,
     NULL},
    {"missing",
     NULL,
     ST_BODY,
     {ST_SECRET},
     1,
     ST_NOW,
     HKD_SIG_MISSING,
     "Stripe-Signature header missing"},
    {"no secrets",
     "t=" ST_T ",v1=" ST_HEX,
     ST_BODY,
     {NULL},
     0,
     ST_NOW,
     HKD_SIG_MISMATCH,
     "no usable secret"},
};

START_TEST(test_stripe_table)
{
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_stripe(stripe_cases[_i].header,
	                   (const unsigned char *)stripe_cases[_i].body,
	                   strlen(stripe_cases[_i].body),
	                   stripe_cases[_i].secrets, stripe_cases[_i].n,
	                   stripe_cases[_i].now, 300, why, sizeof(why));
	expect(r, why, stripe_cases[_i].want, stripe_cases[_i].why,
	       stripe_cases[_i].name);
}
END_TEST

/* ---- Generic HMAC ----------------------------------------------------- */

/* RFC 2202 (sha1) and RFC 4231 (sha256, sha512) test case 2. */
#define JEFE_KEY  "Jefe"
#define JEFE_DATA "what do ya want for nothing?"

static const struct {
	const char *algorithm, *hex, *b64;
} jefe[] = {
    {"sha1", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
     "7/zfauXrL6LSdBbV8YTfnCWafHk="},
    {"sha256",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="},
    {"sha512",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
     "Fkt6e/z4GeLjlfvnO1bgo4e9ZCIugx/WECcM1+olBVSXWL91wFqZSm0DT2X48Ob9yuqx"
     "o01Ka0tjbgcKOLznNw=="},
};

/*
 * _i runs over algorithm (3) x encoding (2) x prefix (2): the vector must
 * verify, and fail with another key, another body, or one character off.
 */
START_TEST(test_hmac_vectors)
{
	size_t a = (size_t)_i / 4;
	int b64 = (_i / 2) % 2;
	int prefixed = _i % 2;
	const char *secrets[] = {"wrong", JEFE_KEY};
	const char *value = b64 ? jefe[a].b64 : jefe[a].hex;
	const char *encoding = b64 ? "base64" : "hex";
	char prefix[16] = "";
	char header[256];
	char name[64];
	char why[160] = "";
	enum hkd_sig_result r;

	if (prefixed)
		snprintf(prefix, sizeof(prefix), "%s=", jefe[a].algorithm);
	snprintf(header, sizeof(header), "%s%s", prefix, value);
	snprintf(name, sizeof(name), "%s %s %s", jefe[a].algorithm, encoding,
	         prefixed ? "prefixed" : "bare");

	r = hkd_sig_hmac(header, jefe[a].algorithm, encoding,
	                 prefixed ? prefix : NULL,
	                 (const unsigned char *)JEFE_DATA, strlen(JEFE_DATA),
	                 secrets, 2, why, sizeof(why));
	expect(r, why, HKD_SIG_OK, "matched secret 2 of 2", name);

	r = hkd_sig_hmac(header, jefe[a].algorithm, encoding,
	                 prefixed ? prefix : NULL,
	                 (const unsigned char *)JEFE_DATA, strlen(JEFE_DATA),
	                 secrets, 1, why, sizeof(why));
	expect(r, why, HKD_SIG_MISMATCH, "no signature matched any of 1 secret",
	       name);

	r = hkd_sig_hmac(header, jefe[a].algorithm, encoding,
	                 prefixed ? prefix : NULL,
	                 (const unsigned char *)"what do ya want for nothing!",
	                 strlen(JEFE_DATA), secrets, 2, why, sizeof(why));
	expect(r, why, HKD_SIG_MISMATCH, NULL, name);

	/* The first value character moved to another valid one. */
	header[strlen(prefix)] = header[strlen(prefix)] == 'A' ? 'B' : 'A';
	r = hkd_sig_hmac(header, jefe[a].algorithm, encoding,
	                 prefixed ? prefix : NULL,
	                 (const unsigned char *)JEFE_DATA, strlen(JEFE_DATA),
	                 secrets, 2, why, sizeof(why));
	ck_assert_msg(r == HKD_SIG_MISMATCH || r == HKD_SIG_MALFORMED,
	              "%s: one character off gave %s", name,
	              hkd_sig_result_name(r));
	ck_assert_int_ne(r, HKD_SIG_OK);

	/* The value without its last character. */
	snprintf(header, sizeof(header), "%s%s", prefix, value);
	header[strlen(header) - 1] = '\0';
	r = hkd_sig_hmac(header, jefe[a].algorithm, encoding,
	                 prefixed ? prefix : NULL,
	                 (const unsigned char *)JEFE_DATA, strlen(JEFE_DATA),
	                 secrets, 2, why, sizeof(why));
	expect(r, why, HKD_SIG_MALFORMED, NULL, name);
}
END_TEST

static const struct {
	const char *name;
	const char *header, *algorithm, *encoding, *prefix;
	enum hkd_sig_result want;
	const char *why;
} hmac_cases[] = {
    {"upper-case hex",
     "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843",
     "sha256", "hex", NULL, HKD_SIG_OK, NULL},
    {"algorithm in capitals",
     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "SHA256", "HEX", "sha256=", HKD_SIG_OK, NULL},
    {"empty prefix is none",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "sha256", "hex", "", HKD_SIG_OK, NULL},
    {"prefix expected but absent",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "sha256", "hex", "sha256=", HKD_SIG_MALFORMED,
     "signature does not start with \"sha256=\""},
    {"prefix present but not configured",
     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
     "sha256", "hex", NULL, HKD_SIG_MALFORMED, "is not 64 hex digits"},
    {"sha1 value for sha256", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
     "sha256", "hex", NULL, HKD_SIG_MALFORMED, NULL},
    {"base64 without padding", "7/zfauXrL6LSdBbV8YTfnCWafHk", "sha1", "base64",
     NULL, HKD_SIG_MALFORMED, "is not base64 of 20 bytes"},
    {"base64 with a newline", "7/zfauXrL6LSdBbV8YTfnCWafHk=\n", "sha1",
     "base64", NULL, HKD_SIG_MALFORMED, NULL},
    {"hex where base64 is configured",
     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "sha1", "base64", NULL,
     HKD_SIG_MALFORMED, NULL},
    {"md5", "750c783e6ab0b503eaa86e310a5db738", "md5", "hex", NULL,
     HKD_SIG_MALFORMED, "unknown HMAC algorithm"},
    {"NULL algorithm", "750c783e6ab0b503eaa86e310a5db738", NULL, "hex", NULL,
     HKD_SIG_MALFORMED, "unknown HMAC algorithm"},
    {"base32", "x", "sha256", "base32", NULL, HKD_SIG_MALFORMED,
     "unknown signature encoding"},
    {"missing", NULL, "sha256", "hex", NULL, HKD_SIG_MISSING,
     "signature header missing"},
    {"empty", "", "sha1", "base64", "sha1=", HKD_SIG_MISSING, NULL},
};

START_TEST(test_hmac_table)
{
	const char *secrets[] = {JEFE_KEY};
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_hmac(hmac_cases[_i].header, hmac_cases[_i].algorithm,
	                 hmac_cases[_i].encoding, hmac_cases[_i].prefix,
	                 (const unsigned char *)JEFE_DATA, strlen(JEFE_DATA),
	                 secrets, 1, why, sizeof(why));
	expect(r, why, hmac_cases[_i].want, hmac_cases[_i].why,
	       hmac_cases[_i].name);
}
END_TEST

/* ---- Token ------------------------------------------------------------ */

static const struct {
	const char *name;
	const char *header;
	enum hkd_sig_result want;
	const char *why;
} token_cases[] = {
    {"raw token", "s3cret-token", HKD_SIG_OK, "matched token 1 of 2"},
    {"Bearer", "Bearer s3cret-token", HKD_SIG_OK, NULL},
    {"bearer, lower case", "bearer s3cret-token", HKD_SIG_OK, NULL},
    {"Bearer, two spaces", "Bearer  another-token-longer", HKD_SIG_OK,
     "matched token 2 of 2"},
    {"one character short", "s3cret-toke", HKD_SIG_MISMATCH,
     "token matched none of 2 tokens"},
    {"one character long", "s3cret-token-", HKD_SIG_MISMATCH, NULL},
    {"same length, last differs", "s3cret-tokeN", HKD_SIG_MISMATCH, NULL},
    {"prefix of the longer one", "another-token", HKD_SIG_MISMATCH, NULL},
    {"Bearer glued", "Bearers3cret-token", HKD_SIG_MISMATCH, NULL},
    {"Basic scheme", "Basic s3cret-token", HKD_SIG_MISMATCH, NULL},
    {"trailing space", "s3cret-token ", HKD_SIG_MISMATCH, NULL},
    {"Bearer alone", "Bearer", HKD_SIG_MALFORMED, "Bearer without a token"},
    {"Bearer and spaces", "Bearer   ", HKD_SIG_MALFORMED, NULL},
    {"empty", "", HKD_SIG_MISSING, "token header missing"},
    {"missing", NULL, HKD_SIG_MISSING, NULL},
};

START_TEST(test_token_table)
{
	const char *tokens[] = {"s3cret-token", "another-token-longer"};
	char why[160] = "";
	enum hkd_sig_result r;

	r = hkd_sig_token(token_cases[_i].header, tokens, LEN(tokens), why,
	                  sizeof(why));
	expect(r, why, token_cases[_i].want, token_cases[_i].why,
	       token_cases[_i].name);
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
	const char *secrets[] = {SW_SECRET};
	const char *raw[] = {"key"};
	char tiny[8];

	ck_assert_int_eq(hkd_sig_standard(SW_ID, SW_TS, SW_SIG,
	                                  (const unsigned char *)SW_BODY,
	                                  strlen(SW_BODY), secrets, 1, SW_NOW,
	                                  300, NULL, 0),
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
	const char *secrets[] = {SW_SECRET, "raw", ""};
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
		r[0] = hkd_sig_standard(SW_ID, h, h, (const unsigned char *)h,
		                        len, secrets, 3, SW_NOW, 300, NULL, 0);
		r[1] = hkd_sig_github(h, (const unsigned char *)h, len, secrets,
		                      3, NULL, 0);
		r[2] = hkd_sig_stripe(h, (const unsigned char *)h, len, secrets,
		                      3, SW_NOW, 300, NULL, 0);
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

	tcase_add_loop_test(tc, test_standard_table, 0, LEN(standard_cases));
	tcase_add_test(tc, test_standard_entry_limit);
	tcase_add_loop_test(tc, test_standard_secret_check, 0,
	                    LEN(secret_cases));
	tcase_add_test(tc, test_standard_secret_limit);
	tcase_add_loop_test(tc, test_github_table, 0, LEN(github_cases));
	tcase_add_loop_test(tc, test_stripe_table, 0, LEN(stripe_cases));
	tcase_add_loop_test(tc, test_hmac_vectors, 0, (int)LEN(jefe) * 4);
	tcase_add_loop_test(tc, test_hmac_table, 0, LEN(hmac_cases));
	tcase_add_loop_test(tc, test_token_table, 0, LEN(token_cases));
	tcase_add_test(tc, test_token_unusable);
	tcase_add_test(tc, test_result_names);
	tcase_add_test(tc, test_why_optional);
	tcase_add_test(tc, test_garbage_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(signature_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
