/*
 * Verification of inbound webhook signatures: Standard Webhooks, GitHub,
 * Stripe, a generic HMAC header and a shared token. Pure functions: no
 * HTTP, no clock (the caller passes `now`), no allocation that outlives a
 * call, no global state. Safe to call from any thread.
 *
 * Common contract of every hkd_sig_* function:
 *  - all arguments are borrowed for the duration of the call;
 *  - a NULL or empty header yields HKD_SIG_MISSING;
 *  - a header that does not follow its syntax yields HKD_SIG_MALFORMED
 *    (parsing is strict: hex digits in either case but exact length,
 *    base64 with the standard alphabet, canonical padding);
 *  - every configured secret is tried against every signature, with no
 *    early exit, and all comparisons use CRYPTO_memcmp;
 *  - NULL or empty secrets never match; with no usable secret the result
 *    is HKD_SIG_MISMATCH (fail closed);
 *  - why (may be NULL) receives a short reason, truncated to whylen, for
 *    every result including HKD_SIG_OK. It never contains secrets.
 */
#ifndef HKD_SIGNATURE_H
#define HKD_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

enum hkd_sig_result {
	HKD_SIG_OK = 0,
	HKD_SIG_MISSING,   /* the header (or a required one) is absent */
	HKD_SIG_MALFORMED, /* present but not parseable; also bad settings */
	HKD_SIG_MISMATCH,  /* well-formed, but no signature matched */
	HKD_SIG_STALE /* authentic, but the timestamp is out of tolerance */
};

/*
 * Standard Webhooks (https://www.standardwebhooks.com/): HMAC-SHA256 over
 * "<id>.<timestamp>.<body>", base64, in webhook-signature as a space
 * separated list of "<version>,<signature>"; only "v1" entries are
 * checked, other versions are ignored. Secrets are "whsec_<base64>" (the
 * prefix is optional) and several may be given for rotation.
 * The timestamp (decimal seconds) is checked after the signature, so
 * HKD_SIG_STALE is reported only for authentic messages: it is older or
 * newer than now ± tolerance seconds.
 */
enum hkd_sig_result
hkd_sig_standard(const char *id, const char *timestamp,
                 const char *signature_header, const unsigned char *body,
                 size_t body_len, const char *const *secrets, size_t n_secrets,
                 int64_t now, int64_t tolerance, char *why, size_t whylen);

/*
 * Whether secret (borrowed) is a key hkd_sig_standard can use: "whsec_"
 * (optional) then strict base64, as above, of 1 to HKD_SIG_SECRET_MAX
 * bytes. 0, or -1 with why (may be NULL) saying what is wrong with it in
 * words that never quote it. The configuration checks every secret of a
 * standard-webhooks source with it, so that one the verifier would skip
 * is refused at load instead of failing every request.
 */
#define HKD_SIG_SECRET_MAX 512
int hkd_sig_standard_secret_check(const char *secret, char *why, size_t whylen);

/*
 * GitHub: X-Hub-Signature-256 is "sha256=<64 hex digits>", HMAC-SHA256 of
 * the body keyed with the raw secret.
 */
enum hkd_sig_result hkd_sig_github(const char *header,
                                   const unsigned char *body, size_t body_len,
                                   const char *const *secrets, size_t n,
                                   char *why, size_t whylen);

/*
 * Stripe: Stripe-Signature is "t=<ts>,v1=<hex>[,v1=<hex>...]" (other
 * schemes such as v0 are ignored), HMAC-SHA256 hex over "<t>.<body>" keyed
 * with the secret string as-is ("whsec_..." included). Exactly one t.
 * Freshness as for hkd_sig_standard.
 */
enum hkd_sig_result hkd_sig_stripe(const char *header,
                                   const unsigned char *body, size_t body_len,
                                   const char *const *secrets, size_t n,
                                   int64_t now, int64_t tolerance, char *why,
                                   size_t whylen);

/*
 * Generic HMAC of the body with raw secrets. algorithm is "sha1", "sha256"
 * or "sha512"; encoding "hex" or "base64"; prefix (NULL or "" for none) is
 * a literal the header must start with, e.g. "sha256=". An unknown
 * algorithm or encoding is HKD_SIG_MALFORMED (a settings error; config
 * should have caught it).
 */
enum hkd_sig_result hkd_sig_hmac(const char *header, const char *algorithm,
                                 const char *encoding, const char *prefix,
                                 const unsigned char *body, size_t body_len,
                                 const char *const *secrets, size_t n,
                                 char *why, size_t whylen);

/*
 * Shared token: the header is the token itself or "Bearer <token>" (scheme
 * case-insensitive). Compared to each configured token after hashing both,
 * so the time taken reveals neither where they differ nor their lengths.
 */
enum hkd_sig_result hkd_sig_token(const char *header, const char *const *tokens,
                                  size_t n, char *why, size_t whylen);

/* "ok", "missing", "malformed", "mismatch", "stale"; "unknown" otherwise. */
const char *hkd_sig_result_name(enum hkd_sig_result r);

#endif
