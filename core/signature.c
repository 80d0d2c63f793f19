/*
 * Inbound webhook signatures (see signature.h). Every scheme reduces to:
 * parse the header strictly into a small fixed array of candidate MACs,
 * compute the HMAC of the signed message once per configured secret, and
 * compare it with every candidate through CRYPTO_memcmp, accumulating
 * the outcome instead of returning at the first hit. HMAC goes through
 * libcrypto 3's EVP_MAC: multi-part (no copy of the body to prepend
 * "<id>.<ts>."), the HMAC implementation fetched once per process and one
 * context per verification, re-keyed for each secret. Building an
 * EVP_PKEY per secret instead cost about 15 times as much per HMAC.
 * Hex decoding is ours and base64 is lib/base64.h's, because
 * EVP_DecodeBlock accepts whitespace and does not report padding.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base64.h"
#include "signature.h"
#include "util.h"
#include "whsec.h"

/*
 * Bounds on attacker-controlled input. Real headers are a few hundred
 * bytes with one to three signatures (two during a rotation); anything far
 * beyond that is refused before any HMAC is computed.
 */
#define HEADER_MAX 8192
#define SIGS_MAX   32
/* A decoded sender's secret: at most HKD_SIG_SECRET_MAX bytes (senders'
 * keys vary; Standard Webhooks' own are 24 to 64, lib/whsec.h). */
#define SECRET_MAX HKD_SIG_SECRET_MAX

/* One piece of a signed message; the pieces are MACed back to back. */
struct span {
	const void *p;
	size_t n;
};

/*
 * State of one verification: the candidates parsed from the header and
 * the outcome accumulated over all secrets. Lives on the caller's stack.
 */
struct verify {
	const EVP_MD *md;
	EVP_MAC_CTX *ctx; /* made on the first key, freed by verify_end */
	const struct span *msg;
	size_t nmsg;
	unsigned char sigs[SIGS_MAX][EVP_MAX_MD_SIZE];
	size_t nsigs;
	size_t usable;    /* secrets that could be used as keys */
	size_t failed;    /* HMAC computations libcrypto refused */
	unsigned matched; /* 1 once any secret matched any candidate */
	size_t which;     /* 1-based index of the first matching secret */
};

/* Plural "s" for counts in messages. */
static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/*
 * Decode exactly 2 * outlen hex digits from s (borrowed, len bytes, not
 * necessarily terminated) into out (caller-owned). 0, or -1 for a wrong
 * length or a non-hex character.
 */
static int hex_decode(const char *s, size_t len, unsigned char *out,
                      size_t outlen)
{
	if (len != 2 * outlen)
		return -1;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hkd_hex_value((unsigned char)s[2 * i]);
		int lo = hkd_hex_value((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Parse a Unix timestamp: 1 to 19 decimal digits, nothing else (no sign,
 * no spaces), at most INT64_MAX. s is borrowed, len bytes. 0 or -1.
 */
static int parse_timestamp(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = s[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * HKD_SIG_OK when ts lies within now ± tolerance (a negative tolerance
 * counts as 0), else HKD_SIG_STALE with the distance in why. The
 * subtraction is overflow-checked: now is the caller's and may be anything.
 */
static enum hkd_sig_result check_fresh(int64_t ts, int64_t now,
                                       int64_t tolerance, char *why,
                                       size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_OK;
	int64_t age;

	if (tolerance < 0)
		tolerance = 0;
	if (__builtin_sub_overflow(now, ts, &age)) {
		r = HKD_SIG_STALE;
		hkd_set_err(why, whylen,
		            "timestamp %" PRId64
		            " is out of range (tolerance %" PRId64 " s)",
		            ts, tolerance);
		goto out;
	}
	if (age > tolerance) {
		r = HKD_SIG_STALE;
		hkd_set_err(why, whylen,
		            "timestamp %" PRId64 " is %" PRId64
		            " s old (tolerance %" PRId64 " s)",
		            ts, age, tolerance);
	} else if (age < -tolerance) {
		r = HKD_SIG_STALE;
		/* age > INT64_MIN here, as -tolerance >= -INT64_MAX */
		hkd_set_err(why, whylen,
		            "timestamp %" PRId64 " is %" PRId64
		            " s in the future (tolerance %" PRId64 " s)",
		            ts, -age, tolerance);
	}
out:
	return r;
}

/* libcrypto's HMAC, fetched once; shared by every thread (read-only). */
static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
	hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/*
 * HMAC with v->md keyed by key (borrowed, keylen > 0 bytes) over the
 * concatenation of v's message parts into out (caller-owned, at least
 * EVP_MAX_MD_SIZE bytes); *outlen gets the MAC size. The first call makes
 * v->ctx with the digest set; later calls only re-key it. -1 when
 * libcrypto fails (out of memory, no HMAC or digest in the provider).
 */
static int hmac_compute(struct verify *v, const unsigned char *key,
                        size_t keylen, unsigned char *out, size_t *outlen)
{
	if (keylen == 0)
		return -1;
	if (v->ctx == NULL) {
		OSSL_PARAM params[2];

		pthread_once(&hmac_once, hmac_fetch);
		if (hmac_impl == NULL ||
		    (v->ctx = EVP_MAC_CTX_new(hmac_impl)) == NULL)
			return -1;
		params[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(v->md), 0);
		params[1] = OSSL_PARAM_construct_end();
		if (EVP_MAC_CTX_set_params(v->ctx, params) != 1)
			return -1;
	}
	if (EVP_MAC_init(v->ctx, key, keylen, NULL) != 1)
		return -1;
	for (size_t i = 0; i < v->nmsg; i++) {
		if (v->msg[i].n > 0 &&
		    EVP_MAC_update(v->ctx, v->msg[i].p, v->msg[i].n) != 1)
			return -1;
	}
	return EVP_MAC_final(v->ctx, out, outlen, EVP_MAX_MD_SIZE) == 1 ? 0
	                                                                : -1;
}

/* Free what verifying with v allocated; v may be used for nothing else. */
static void verify_end(struct verify *v)
{
	EVP_MAC_CTX_free(v->ctx);
	v->ctx = NULL;
}

/*
 * Try one key (borrowed) against every candidate in v; index is the
 * secret's 1-based position, for the log. The comparisons all run and are
 * folded into v->matched; v->which keeps the first matching index through
 * arithmetic rather than a branch on the comparison.
 */
static void verify_key(struct verify *v, const unsigned char *key,
                       size_t keylen, size_t index)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	unsigned hit = 0;
	size_t first;

	v->usable++;
	if (hmac_compute(v, key, keylen, mac, &maclen) != 0) {
		v->failed++;
		goto out;
	}
	for (size_t i = 0; i < v->nsigs; i++)
		hit |= (unsigned)(CRYPTO_memcmp(mac, v->sigs[i], maclen) == 0);
	first = (size_t)(hit & (unsigned)(v->which == 0));
	v->which |= ((size_t)0 - first) & index;
	v->matched |= hit;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
}

/*
 * Try every raw secret (borrowed strings, used as-is as keys; NULL or ""
 * skipped as unusable) against the candidates in v.
 */
static void verify_raw_secrets(struct verify *v, const char *const *secrets,
                               size_t n)
{
	for (size_t i = 0; secrets != NULL && i < n; i++) {
		if (secrets[i] == NULL || secrets[i][0] == '\0')
			continue;
		verify_key(v, (const unsigned char *)secrets[i],
		           strlen(secrets[i]), i + 1);
	}
}

/*
 * The verdict once every secret was tried: OK (why names the secret, which
 * helps retire an old one during rotation) or MISMATCH with the reason.
 * what names the signatures, e.g. "v1 signature".
 */
static enum hkd_sig_result verdict(const struct verify *v, const char *what,
                                   size_t n_secrets, char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MISMATCH;
	size_t unusable = n_secrets - v->usable;

	if (v->matched) {
		r = HKD_SIG_OK;
		hkd_set_err(why, whylen, "%s matched secret %zu of %zu", what,
		            v->which, n_secrets);
	} else if (v->usable == 0) {
		hkd_set_err(why, whylen,
		            "no usable secret among %zu configured", n_secrets);
	} else if (v->failed > 0) {
		hkd_set_err(
		    why, whylen,
		    "no %s matched; HMAC failed for %zu of %zu secret%s", what,
		    v->failed, n_secrets, plural(n_secrets));
	} else if (unusable > 0) {
		hkd_set_err(why, whylen,
		            "no %s matched any of %zu secret%s (%zu unusable)",
		            what, n_secrets, plural(n_secrets), unusable);
	} else {
		hkd_set_err(why, whylen, "no %s matched any of %zu secret%s",
		            what, n_secrets, plural(n_secrets));
	}
	return r;
}

/*
 * Decode a Standard Webhooks secret (borrowed; "whsec_" prefix optional)
 * into key (caller-owned, SECRET_MAX bytes). 0, or -1 when it is NULL,
 * empty or not strict base64.
 */
static int standard_secret(const char *secret, unsigned char *key,
                           size_t *keylen)
{
	return hkd_whsec_decode(secret, &hkd_whsec_senders, key, SECRET_MAX,
	                        keylen) == HKD_WHSEC_OK
	           ? 0
	           : -1;
}

/*
 * Check a Standard Webhooks secret (borrowed) by decoding it the way the
 * verifier does; see signature.h. The reasons are told apart only after
 * standard_secret refused it, from the length alone.
 */
int hkd_sig_standard_secret_check(const char *secret, char *why, size_t whylen)
{
	unsigned char key[SECRET_MAX];
	size_t keylen = 0;
	int rc = -1;

	if (secret == NULL) {
		hkd_set_err(why, whylen, "there is no secret");
		return -1;
	}
	switch (hkd_whsec_decode(secret, &hkd_whsec_senders, key, sizeof(key),
	                         &keylen)) {
	case HKD_WHSEC_OK:
		rc = 0;
		break;
	case HKD_WHSEC_EMPTY:
		hkd_set_err(why, whylen, "%s",
		            strncmp(secret, "whsec_", 6) == 0
		                ? "nothing follows whsec_"
		                : "it is empty");
		break;
	case HKD_WHSEC_TOO_LONG:
	case HKD_WHSEC_BAD_LENGTH: /* only longer: the rule's minimum is 1 */
		hkd_set_err(why, whylen,
		            "it is too long for a key (more than %d bytes)",
		            SECRET_MAX);
		break;
	case HKD_WHSEC_NO_PREFIX: /* the prefix is optional here */
	case HKD_WHSEC_NOT_BASE64:
		hkd_set_err(
		    why, whylen,
		    "it is not base64 (A-Z a-z 0-9 + /, padded with =)");
		break;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/*
 * Parse webhook-signature (borrowed) into v's candidates: entries split by
 * runs of spaces, each "<version>,<value>" with a non-empty version and
 * value; "v1" values must be base64 of exactly 32 bytes. Other versions
 * count towards SIGS_MAX but are otherwise ignored.
 */
static enum hkd_sig_result parse_standard(const char *h, struct verify *v,
                                          char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MALFORMED;
	size_t entries = 0;
	const char *p = h;

	while (*p != '\0') {
		const char *end, *comma;
		size_t vlen, slen;

		if (*p == ' ') {
			p++;
			continue;
		}
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if (++entries > SIGS_MAX) {
			hkd_set_err(
			    why, whylen,
			    "webhook-signature has more than %d entries",
			    SIGS_MAX);
			goto out;
		}
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL || comma == p || comma + 1 == end) {
			hkd_set_err(why, whylen,
			            "webhook-signature entry %zu is not "
			            "<version>,<signature>",
			            entries);
			goto out;
		}
		vlen = (size_t)(comma - p);
		slen = (size_t)(end - comma - 1);
		if (vlen == 2 && memcmp(p, "v1", 2) == 0) {
			unsigned char tmp[EVP_MAX_MD_SIZE];

			long got = hkd_base64_decode_padded(comma + 1, slen,
			                                    tmp, sizeof(tmp));
			if (got != 32) {
				hkd_set_err(why, whylen,
				            "webhook-signature entry %zu is "
				            "not base64 of 32 bytes",
				            entries);
				goto out;
			}
			memcpy(v->sigs[v->nsigs++], tmp, 32);
		}
		p = end;
	}
	r = HKD_SIG_OK;
out:
	return r;
}

/*
 * Standard Webhooks. All arguments borrowed; see signature.h. The id must
 * be printable ASCII without spaces, as it is part of the signed text.
 */
enum hkd_sig_result
hkd_sig_standard(const char *id, const char *timestamp,
                 const char *signature_header, const unsigned char *body,
                 size_t body_len, const char *const *secrets, size_t n_secrets,
                 int64_t now, int64_t tolerance, char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MISSING;
	struct verify v;
	struct span msg[5];
	int64_t ts;

	memset(&v, 0, sizeof(v));
	if (id == NULL || *id == '\0') {
		hkd_set_err(why, whylen, "webhook-id header missing");
		goto out;
	}
	if (timestamp == NULL || *timestamp == '\0') {
		hkd_set_err(why, whylen, "webhook-timestamp header missing");
		goto out;
	}
	if (signature_header == NULL || *signature_header == '\0') {
		hkd_set_err(why, whylen, "webhook-signature header missing");
		goto out;
	}
	r = HKD_SIG_MALFORMED;
	if (strlen(id) > HEADER_MAX || strlen(signature_header) > HEADER_MAX) {
		hkd_set_err(why, whylen, "header longer than %d bytes",
		            HEADER_MAX);
		goto out;
	}
	for (const char *c = id; *c != '\0'; c++) {
		if (*c <= ' ' || *c > '~') {
			hkd_set_err(why, whylen,
			            "webhook-id has a byte 0x%02x outside "
			            "printable ASCII",
			            (unsigned char)*c);
			goto out;
		}
	}
	if (parse_timestamp(timestamp, strlen(timestamp), &ts) != 0) {
		hkd_set_err(why, whylen,
		            "webhook-timestamp is not a decimal Unix time");
		goto out;
	}
	r = parse_standard(signature_header, &v, why, whylen);
	if (r != HKD_SIG_OK)
		goto out;
	if (v.nsigs == 0) {
		r = HKD_SIG_MISMATCH;
		hkd_set_err(why, whylen,
		            "webhook-signature holds no v1 signature");
		goto out;
	}

	msg[0] = (struct span){id, strlen(id)};
	msg[1] = (struct span){".", 1};
	msg[2] = (struct span){timestamp, strlen(timestamp)};
	msg[3] = (struct span){".", 1};
	msg[4] = (struct span){body, body != NULL ? body_len : 0};
	v.md = EVP_sha256();
	v.msg = msg;
	v.nmsg = 5;
	for (size_t i = 0; secrets != NULL && i < n_secrets; i++) {
		unsigned char key[SECRET_MAX];
		size_t keylen = 0;

		if (standard_secret(secrets[i], key, &keylen) == 0)
			verify_key(&v, key, keylen, i + 1);
		OPENSSL_cleanse(key, sizeof(key));
	}
	verify_end(&v);
	r = verdict(&v, "v1 signature", secrets != NULL ? n_secrets : 0, why,
	            whylen);
	if (r == HKD_SIG_OK)
		r = check_fresh(ts, now, tolerance, why, whylen);
out:
	return r;
}

/*
 * Body HMAC with raw secrets: the shared part of hkd_sig_github and
 * hkd_sig_hmac. label names the header in messages; hex selects hex
 * (else base64); prefix may be NULL. All borrowed.
 */
static enum hkd_sig_result
body_hmac(const char *label, const char *header, const EVP_MD *md, int hex,
          const char *prefix, const unsigned char *body, size_t body_len,
          const char *const *secrets, size_t n, char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MISSING;
	struct verify v;
	struct span msg[1];
	size_t mdlen = (size_t)EVP_MD_size(md);
	size_t plen = prefix != NULL ? strlen(prefix) : 0;
	size_t hlen;
	const char *value;

	memset(&v, 0, sizeof(v));
	if (header == NULL || *header == '\0') {
		hkd_set_err(why, whylen, "%s header missing", label);
		goto out;
	}
	r = HKD_SIG_MALFORMED;
	hlen = strlen(header);
	if (hlen > HEADER_MAX) {
		hkd_set_err(why, whylen, "%s header longer than %d bytes",
		            label, HEADER_MAX);
		goto out;
	}
	if (plen > 0 && strncmp(header, prefix, plen) != 0) {
		hkd_set_err(why, whylen, "%s does not start with \"%s\"", label,
		            prefix);
		goto out;
	}
	value = header + plen;
	hlen -= plen;
	if (hex) {
		if (hex_decode(value, hlen, v.sigs[0], mdlen) != 0) {
			hkd_set_err(why, whylen, "%s is not %zu hex digits",
			            label, 2 * mdlen);
			goto out;
		}
	} else if (hkd_base64_decode_padded(value, hlen, v.sigs[0],
	                                    sizeof(v.sigs[0])) != (long)mdlen) {
		hkd_set_err(why, whylen, "%s is not base64 of %zu bytes", label,
		            mdlen);
		goto out;
	}
	v.nsigs = 1;

	msg[0] = (struct span){body, body != NULL ? body_len : 0};
	v.md = md;
	v.msg = msg;
	v.nmsg = 1;
	verify_raw_secrets(&v, secrets, n);
	verify_end(&v);
	r = verdict(&v, "signature", secrets != NULL ? n : 0, why, whylen);
out:
	return r;
}

/* GitHub's X-Hub-Signature-256. All borrowed; see signature.h. */
enum hkd_sig_result hkd_sig_github(const char *header,
                                   const unsigned char *body, size_t body_len,
                                   const char *const *secrets, size_t n,
                                   char *why, size_t whylen)
{
	return body_hmac("X-Hub-Signature-256", header, EVP_sha256(), 1,
	                 "sha256=", body, body_len, secrets, n, why, whylen);
}

/*
 * Generic body HMAC. All borrowed; see signature.h. Algorithm and encoding
 * names are matched case-insensitively.
 */
enum hkd_sig_result hkd_sig_hmac(const char *header, const char *algorithm,
                                 const char *encoding, const char *prefix,
                                 const unsigned char *body, size_t body_len,
                                 const char *const *secrets, size_t n,
                                 char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MALFORMED;
	const EVP_MD *md = NULL;
	int hex;

	if (algorithm != NULL && strcasecmp(algorithm, "sha1") == 0)
		md = EVP_sha1();
	else if (algorithm != NULL && strcasecmp(algorithm, "sha256") == 0)
		md = EVP_sha256();
	else if (algorithm != NULL && strcasecmp(algorithm, "sha512") == 0)
		md = EVP_sha512();
	if (md == NULL) {
		hkd_set_err(
		    why, whylen,
		    "unknown HMAC algorithm (want sha1, sha256 or sha512)");
		goto out;
	}
	if (encoding != NULL && strcasecmp(encoding, "hex") == 0) {
		hex = 1;
	} else if (encoding != NULL && strcasecmp(encoding, "base64") == 0) {
		hex = 0;
	} else {
		hkd_set_err(why, whylen,
		            "unknown signature encoding (want hex or base64)");
		goto out;
	}
	r = body_hmac("signature", header, md, hex, prefix, body, body_len,
	              secrets, n, why, whylen);
out:
	return r;
}

/*
 * Parse Stripe-Signature (borrowed): comma-separated "key=value" items,
 * exactly one "t" (a decimal timestamp, whose text is kept in *t / *tlen
 * since it is signed verbatim), any number of "v1" (64 hex digits each,
 * up to SIGS_MAX items in all), other keys ignored.
 */
static enum hkd_sig_result parse_stripe(const char *h, struct verify *v,
                                        const char **t, size_t *tlen,
                                        int64_t *ts, char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MALFORMED;
	size_t items = 0;
	const char *p = h;

	*t = NULL;
	for (;;) {
		const char *end = strchr(p, ',');
		const char *eq;
		size_t klen, vlen;

		if (end == NULL)
			end = p + strlen(p);
		if (++items > SIGS_MAX) {
			hkd_set_err(why, whylen,
			            "Stripe-Signature has more than %d items",
			            SIGS_MAX);
			goto out;
		}
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq == NULL || eq == p) {
			hkd_set_err(
			    why, whylen,
			    "Stripe-Signature item %zu is not key=value",
			    items);
			goto out;
		}
		klen = (size_t)(eq - p);
		vlen = (size_t)(end - eq - 1);
		if (klen == 1 && *p == 't') {
			if (*t != NULL) {
				hkd_set_err(
				    why, whylen,
				    "Stripe-Signature has more than one t=");
				goto out;
			}
			if (parse_timestamp(eq + 1, vlen, ts) != 0) {
				hkd_set_err(why, whylen,
				            "Stripe-Signature t= is not a "
				            "decimal Unix time");
				goto out;
			}
			*t = eq + 1;
			*tlen = vlen;
		} else if (klen == 2 && memcmp(p, "v1", 2) == 0) {
			if (hex_decode(eq + 1, vlen, v->sigs[v->nsigs], 32) !=
			    0) {
				hkd_set_err(why, whylen,
				            "Stripe-Signature item %zu is not "
				            "64 hex digits",
				            items);
				goto out;
			}
			v->nsigs++;
		}
		if (*end == '\0')
			break;
		p = end + 1;
	}
	if (*t == NULL) {
		hkd_set_err(why, whylen,
		            "Stripe-Signature has no t= timestamp");
		goto out;
	}
	r = HKD_SIG_OK;
out:
	return r;
}

/* Stripe's Stripe-Signature. All borrowed; see signature.h. */
enum hkd_sig_result hkd_sig_stripe(const char *header,
                                   const unsigned char *body, size_t body_len,
                                   const char *const *secrets, size_t n,
                                   int64_t now, int64_t tolerance, char *why,
                                   size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MISSING;
	struct verify v;
	struct span msg[3];
	const char *t = NULL;
	size_t tlen = 0;
	int64_t ts = 0;

	memset(&v, 0, sizeof(v));
	if (header == NULL || *header == '\0') {
		hkd_set_err(why, whylen, "Stripe-Signature header missing");
		goto out;
	}
	if (strlen(header) > HEADER_MAX) {
		r = HKD_SIG_MALFORMED;
		hkd_set_err(why, whylen,
		            "Stripe-Signature header longer than %d bytes",
		            HEADER_MAX);
		goto out;
	}
	r = parse_stripe(header, &v, &t, &tlen, &ts, why, whylen);
	if (r != HKD_SIG_OK)
		goto out;
	if (v.nsigs == 0) {
		r = HKD_SIG_MISMATCH;
		hkd_set_err(why, whylen,
		            "Stripe-Signature holds no v1 signature");
		goto out;
	}

	msg[0] = (struct span){t, tlen};
	msg[1] = (struct span){".", 1};
	msg[2] = (struct span){body, body != NULL ? body_len : 0};
	v.md = EVP_sha256();
	v.msg = msg;
	v.nmsg = 3;
	verify_raw_secrets(&v, secrets, n);
	verify_end(&v);
	r = verdict(&v, "v1 signature", secrets != NULL ? n : 0, why, whylen);
	if (r == HKD_SIG_OK)
		r = check_fresh(ts, now, tolerance, why, whylen);
out:
	return r;
}

/*
 * Shared token. All borrowed; see signature.h. "Bearer" followed by one or
 * more spaces is stripped; what remains must be non-empty. Each configured
 * token (NULL or "" never match) is compared via hkd_secret_equal, which
 * hashes both sides first.
 */
enum hkd_sig_result hkd_sig_token(const char *header, const char *const *tokens,
                                  size_t n, char *why, size_t whylen)
{
	enum hkd_sig_result r = HKD_SIG_MISSING;
	const char *value;
	size_t vlen, usable = 0, which = 0;
	unsigned matched = 0;

	if (header == NULL || *header == '\0') {
		hkd_set_err(why, whylen, "token header missing");
		goto out;
	}
	r = HKD_SIG_MALFORMED;
	value = header;
	if (strncasecmp(value, "Bearer", 6) == 0 &&
	    (value[6] == ' ' || value[6] == '\0')) {
		value += 6;
		while (*value == ' ')
			value++;
	}
	vlen = strlen(value);
	if (vlen == 0) {
		hkd_set_err(why, whylen, "Bearer without a token");
		goto out;
	}
	if (vlen > HEADER_MAX) {
		hkd_set_err(why, whylen, "token longer than %d bytes",
		            HEADER_MAX);
		goto out;
	}
	for (size_t i = 0; tokens != NULL && i < n; i++) {
		unsigned hit;
		size_t first;

		if (tokens[i] == NULL || tokens[i][0] == '\0')
			continue;
		usable++;
		hit = (unsigned)hkd_secret_equal(value, vlen, tokens[i],
		                                 strlen(tokens[i]));
		first = (size_t)(hit & (unsigned)(which == 0));
		which |= ((size_t)0 - first) & (i + 1);
		matched |= hit;
	}
	r = HKD_SIG_MISMATCH;
	if (matched) {
		r = HKD_SIG_OK;
		hkd_set_err(why, whylen, "matched token %zu of %zu", which, n);
	} else if (usable == 0) {
		hkd_set_err(why, whylen, "no usable token among %zu configured",
		            tokens != NULL ? n : 0);
	} else {
		hkd_set_err(why, whylen, "token matched none of %zu token%s",
		            usable, plural(usable));
	}
out:
	return r;
}

/* Static names for logs and metrics labels. */
const char *hkd_sig_result_name(enum hkd_sig_result r)
{
	switch (r) {
	case HKD_SIG_OK:
		return "ok";
	case HKD_SIG_MISSING:
		return "missing";
	case HKD_SIG_MALFORMED:
		return "malformed";
	case HKD_SIG_MISMATCH:
		return "mismatch";
	case HKD_SIG_STALE:
		return "stale";
	}
	return "unknown";
}
