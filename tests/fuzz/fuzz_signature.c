/*
 * Fuzz target: the inbound signature parsers and verifiers
 * (core/signature.c): Standard Webhooks, GitHub, Stripe, generic HMAC and
 * shared tokens.
 *
 * Input: a byte choosing the scheme (value % 5: standard, github, stripe,
 * hmac, token; for hmac bits 3-4 pick sha1/sha256/sha512 and bit 5 base64,
 * and for github bit 3 upper-case hex, for token bit 3 "Bearer "), a byte
 * choosing the clock (now and tolerance, extremes included), then
 * ID NUL TIMESTAMP NUL HEADER NUL PREFIX NUL SECRET1 NUL SECRET2 NUL and
 * the body (the rest). Each scheme uses the fields it has.
 *
 * Two checks per input:
 *  - the fuzzed headers are verified with the fuzzed secrets: the result
 *    is one of the five, the same twice, with a terminated reason that
 *    never quotes a secret; should it be authentic (OK or STALE), the
 *    same input with other secrets is not;
 *  - a header signed here (HMAC from libcrypto, encodings written out
 *    below) with SECRET1 over the body verifies: OK with the right secret
 *    (also second of two, as during a rotation), MISMATCH with a secret
 *    that differs or a body that differs, and MISMATCH when the secret
 *    is empty (fail closed).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "signature.h"

enum scheme { STANDARD, GITHUB, STRIPE, HMAC_BODY, TOKEN };

/* The clock: now and tolerance, including values that overflow naively. */
static const int64_t nows[] = {1700000000, 0,          -1,         INT64_MAX,
                               INT64_MIN,  1700000301, 1699999699, 4102444800};
static const int64_t tolerances[] = {300, 0, -5, INT64_MAX, INT64_MIN};

/* Everything one verification needs; strings borrowed from the input. */
struct call {
	enum scheme scheme;
	const EVP_MD *md; /* hmac */
	const char *alg;  /* hmac: its name */
	int base64;       /* hmac */
	const char *id, *timestamp, *header, *prefix;
	const char *secrets[2];
	size_t n_secrets;
	const unsigned char *body;
	size_t body_len;
	int64_t now, tolerance;
};

/* Verify as c says; why gets the reason. */
static enum hkd_sig_result verify(const struct call *c, char *why,
                                  size_t whylen)
{
	switch (c->scheme) {
	case STANDARD:
		return hkd_sig_standard(c->id, c->timestamp, c->header, c->body,
		                        c->body_len, c->secrets, c->n_secrets,
		                        c->now, c->tolerance, why, whylen);
	case GITHUB:
		return hkd_sig_github(c->header, c->body, c->body_len,
		                      c->secrets, c->n_secrets, why, whylen);
	case STRIPE:
		return hkd_sig_stripe(c->header, c->body, c->body_len,
		                      c->secrets, c->n_secrets, c->now,
		                      c->tolerance, why, whylen);
	case HMAC_BODY:
		return hkd_sig_hmac(c->header, c->alg,
		                    c->base64 ? "base64" : "hex", c->prefix,
		                    c->body, c->body_len, c->secrets,
		                    c->n_secrets, why, whylen);
	case TOKEN:
		return hkd_sig_token(c->header, c->secrets, c->n_secrets, why,
		                     whylen);
	}
	return HKD_SIG_MALFORMED;
}

/* Hex (lower or upper case) of p[0..n) into out (2n + 1 bytes). */
static void hex(const unsigned char *p, size_t n, int upper, char *out)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Standard base64 with padding of p[0..n) into out (4 * ceil(n / 3) + 1). */
static void b64(const unsigned char *p, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t q = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			q |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			q |= p[i + 2];
		out[o++] = a[q >> 18];
		out[o++] = a[(q >> 12) & 63];
		out[o++] = i + 1 < n ? a[(q >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? a[q & 63] : '=';
	}
	out[o] = '\0';
}

/* malloc'd concatenation of the parts (NULL ends the list). */
static char *join(const char *first, ...)
{
	va_list ap;
	size_t n = 0;
	char *out;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		n += strlen(s);
	va_end(ap);
	out = malloc(n + 1);
	FUZZ_CHECK(out != NULL);
	out[0] = '\0';
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		strcat(out, s);
	va_end(ap);
	return out;
}

/* HMAC of head (text) followed by the body, keyed with key[0..keylen). */
static unsigned hmac(const EVP_MD *md, const void *key, size_t keylen,
                     const char *head, const unsigned char *body,
                     size_t body_len, unsigned char *mac)
{
	size_t hlen = strlen(head);
	unsigned char *msg = malloc(hlen + body_len + 1);
	unsigned maclen = 0;

	FUZZ_CHECK(msg != NULL);
	memcpy(msg, head, hlen);
	if (body_len)
		memcpy(msg + hlen, body, body_len);
	FUZZ_CHECK(HMAC(md, key, (int)keylen, msg, hlen + body_len, mac,
	                &maclen) != NULL);
	free(msg);
	return maclen;
}

/* A secret of the same kind that differs from s (malloc'd). */
static char *other_secret(enum scheme scheme, const char *s)
{
	char *o = strdup(s);
	size_t at = 0;

	FUZZ_CHECK(o != NULL);
	if (scheme == STANDARD)
		at = strncmp(o, "whsec_", 6) == 0 ? 6 : 0;
	if (o[at] == '\0') {
		free(o);
		return strdup(scheme == STANDARD ? "whsec_AAAA" : "x");
	}
	/* Stays in the base64 alphabet, and is not a padding bit. */
	o[at] = o[at] == 'A' ? 'B' : 'A';
	return o;
}

/* The fuzzed headers as they are. */
static void check_fuzzed(struct call c)
{
	char why[256], why2[256];
	enum hkd_sig_result r, r2;

	memset(why, 'x', sizeof(why));
	r = verify(&c, why, sizeof(why));
	FUZZ_CHECK(r >= HKD_SIG_OK && r <= HKD_SIG_STALE);
	FUZZ_CHECK(strcmp(hkd_sig_result_name(r), "unknown") != 0);
	FUZZ_CHECK(fuzz_terminated(why, sizeof(why)));
	FUZZ_CHECK(why[0] != '\0');
	r2 = verify(&c, why2, sizeof(why2));
	FUZZ_CHECK(r2 == r && strcmp(why, why2) == 0);
	FUZZ_CHECK(verify(&c, NULL, 0) == r);
	/* A secret is never quoted: checked for those that cannot be
	 * mistaken for words of a message (any byte outside printable
	 * ASCII, which the messages never hold but for the hmac prefix they
	 * quote, blanked out first with its quotes). */
	if (c.prefix[0]) {
		char *quoted = fuzz_printf("\"%s\"", c.prefix);
		char *at = strstr(why, quoted);

		if (at)
			memset(at, ' ', strlen(quoted));
		free(quoted);
	}
	for (size_t i = 0; i < c.n_secrets; i++) {
		const char *s = c.secrets[i];
		int odd = 0;

		for (const char *p = s; *p; p++)
			odd |= (unsigned char)*p < 0x20 ||
			       (unsigned char)*p >= 0x7f;
		if (odd && strlen(s) >= 4 && !strstr(c.prefix, s))
			FUZZ_CHECK(strstr(why, s) == NULL);
	}
	if (r == HKD_SIG_OK || r == HKD_SIG_STALE) {
		char *o1 = other_secret(c.scheme, c.secrets[0]);
		char *o2 = other_secret(c.scheme, c.secrets[1]);

		/* Unless the header holds a signature for each. */
		if (strcmp(o1, c.secrets[1]) != 0 &&
		    strcmp(o2, c.secrets[0]) != 0) {
			c.secrets[0] = o1;
			c.secrets[1] = o2;
			r2 = verify(&c, NULL, 0);
			FUZZ_CHECK(r2 != HKD_SIG_OK && r2 != HKD_SIG_STALE);
		}
		free(o1);
		free(o2);
	}
}

/* Sign the body here with c.secrets[0] and check the verifier's verdicts. */
static void check_signed(struct call c, unsigned flags)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char enc[2 * EVP_MAX_MD_SIZE + 1], ts[24], *header = NULL;
	char *key_secret = NULL, *other = NULL;
	const char *secret = c.secrets[0];
	size_t slen = strlen(secret);
	enum hkd_sig_result want = HKD_SIG_OK, r;
	unsigned n;
	char why[256];

	snprintf(ts, sizeof(ts), "%" PRId64, (int64_t)1700000000);
	c.now = 1700000000;
	c.tolerance = 300;
	c.timestamp = ts;
	/* Fail closed: an empty secret matches nothing. A token header
	 * without the token is missing, or malformed as "Bearer " alone. */
	if (slen == 0)
		want = c.scheme != TOKEN ? HKD_SIG_MISMATCH
		       : flags & 1       ? HKD_SIG_MALFORMED
		                         : HKD_SIG_MISSING;
	switch (c.scheme) {
	case STANDARD: {
		/* SECRET1 is the key; the secret is its whsec_ form. */
		char *b = malloc(4 * (slen / 3 + 1) + 1), *head;

		FUZZ_CHECK(b != NULL);
		b64((const unsigned char *)secret, slen, b);
		key_secret = join("whsec_", b, NULL);
		free(b);
		/* An id is printable ASCII without spaces. */
		for (const char *p = c.id; *p; p++)
			if (*p <= ' ' || *p > '~')
				c.id = "msg_1";
		if (!c.id[0] || strlen(c.id) > 8192)
			c.id = "msg_1";
		head = join(c.id, ".", ts, ".", NULL);
		n = hmac(EVP_sha256(), secret, slen, head, c.body, c.body_len,
		         mac);
		free(head);
		b64(mac, n, enc);
		header = join("v1,", enc, NULL);
		c.secrets[0] = key_secret;
		if (slen > 512) /* longer keys are refused */
			want = HKD_SIG_MISMATCH;
		break;
	}
	case GITHUB:
		n = hmac(EVP_sha256(), secret, slen, "", c.body, c.body_len,
		         mac);
		hex(mac, n, flags & 1, enc);
		header = join("sha256=", enc, NULL);
		break;
	case STRIPE: {
		char *head = join(ts, ".", NULL);

		n = hmac(EVP_sha256(), secret, slen, head, c.body, c.body_len,
		         mac);
		free(head);
		hex(mac, n, 0, enc);
		header = join("t=", ts, ",v1=", enc, NULL);
		break;
	}
	case HMAC_BODY:
		n = hmac(c.md, secret, slen, "", c.body, c.body_len, mac);
		if (c.base64)
			b64(mac, n, enc);
		else
			hex(mac, n, flags & 1, enc);
		header = join(c.prefix, enc, NULL);
		if (strlen(header) > 8192)
			want = HKD_SIG_MALFORMED;
		break;
	case TOKEN:
		header = join(flags & 1 ? "Bearer " : "", secret, NULL);
		/* What the verifier strips must not be part of the token. */
		if (secret[0] == ' ' || strncasecmp(secret, "bearer", 6) == 0 ||
		    slen > 8192)
			goto out;
		break;
	}
	c.header = header;
	c.secrets[1] = NULL;
	c.n_secrets = 1;
	r = verify(&c, why, sizeof(why));
	FUZZ_CHECK(r == want);
	if (want != HKD_SIG_OK)
		goto out;
	/* Rotation: the right secret second. */
	other = other_secret(c.scheme, c.secrets[0]);
	c.secrets[1] = c.secrets[0];
	c.secrets[0] = other;
	c.n_secrets = 2;
	FUZZ_CHECK(verify(&c, why, sizeof(why)) == HKD_SIG_OK);
	if (c.scheme != TOKEN)
		FUZZ_CHECK(strstr(why, "secret 2 of 2") != NULL);
	/* A secret that differs. */
	c.n_secrets = 1;
	FUZZ_CHECK(verify(&c, NULL, 0) == HKD_SIG_MISMATCH);
	/* A body that differs (tokens do not sign it). */
	if (c.scheme != TOKEN) {
		unsigned char *body = malloc(c.body_len + 1);

		FUZZ_CHECK(body != NULL);
		if (c.body_len)
			memcpy(body, c.body, c.body_len);
		body[c.body_len] = 'x';
		c.secrets[0] = c.secrets[1];
		c.body = body;
		c.body_len++;
		FUZZ_CHECK(verify(&c, NULL, 0) == HKD_SIG_MISMATCH);
		free(body);
	}
out:
	free(other);
	free(header);
	free(key_secret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	unsigned sel = fuzz_byte(&in), clock = fuzz_byte(&in);
	char *id = fuzz_field(&in), *timestamp = fuzz_field(&in);
	char *header = fuzz_field(&in), *prefix = fuzz_field(&in);
	char *secret1 = fuzz_field(&in), *secret2 = fuzz_field(&in);
	size_t body_len;
	char *body = fuzz_rest(&in, &body_len);
	static const char *const algs[] = {"sha1", "sha256", "sha512"};
	struct call c;

	memset(&c, 0, sizeof(c));
	c.scheme = (enum scheme)(sel % 5);
	c.alg = algs[(sel >> 3) % 3];
	c.md = (sel >> 3) % 3 == 0   ? EVP_sha1()
	       : (sel >> 3) % 3 == 1 ? EVP_sha256()
	                             : EVP_sha512();
	c.base64 = (sel >> 5) & 1;
	c.id = id;
	c.timestamp = timestamp;
	c.header = header;
	c.prefix = prefix;
	c.secrets[0] = secret1;
	c.secrets[1] = secret2;
	c.n_secrets = 2;
	c.body = (const unsigned char *)body;
	c.body_len = body_len;
	c.now = nows[clock % (sizeof(nows) / sizeof(nows[0]))];
	c.tolerance = tolerances[(clock >> 3) %
	                         (sizeof(tolerances) / sizeof(tolerances[0]))];

	check_fuzzed(c);
	check_signed(c, sel >> 3);

	free(id);
	free(timestamp);
	free(header);
	free(prefix);
	free(secret1);
	free(secret2);
	free(body);
	return 0;
}
