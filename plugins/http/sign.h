/*
 * Signatures the http plugin puts on a request: Standard Webhooks
 * (webhook-signature) and GitHub's X-Hub-Signature-256, plus the base64
 * they need.
 *
 * Compiled into plugins/http.la and, on its own, into
 * tests/unit/test_http_sign. Pure functions over OpenSSL's HMAC; thread-safe.
 */
#ifndef HKD_HTTP_SIGN_H
#define HKD_HTTP_SIGN_H

#include <stddef.h>
#include <stdint.h>

/* Standard Webhooks keys: "whsec_" + base64 of 24 to 64 bytes. */
#define HKD_SW_PREFIX  "whsec_"
#define HKD_SW_KEY_MIN 24
#define HKD_SW_KEY_MAX 64

/* "v1," + base64 of a SHA-256 HMAC (44 characters), with the NUL. */
#define HKD_SW_SIG_SIZE (3 + 44 + 1)
/* "sha256=" + 64 hex digits, with the NUL. */
#define HKD_GITHUB_SIG_SIZE (7 + 64 + 1)

/* One decoded Standard Webhooks key. */
struct hkd_sw_key {
	unsigned char key[HKD_SW_KEY_MAX];
	size_t len;
};

/* Base64 is lib/base64.h's. */

/*
 * Decode a Standard Webhooks secret ("whsec_" + base64 of 24 to 64 bytes)
 * into key. A secret without the prefix is refused: the reference
 * libraries would base64-decode it anyway, so taking it as raw bytes
 * would sign with a key no receiver uses. 0 on success; -1 with the reason
 * in err (which may be NULL); the secret itself never appears in it.
 */
int hkd_sw_key_decode(const char *secret, struct hkd_sw_key *key, char *err,
                      size_t errlen);

/*
 * One Standard Webhooks signature, "v1,<base64 HMAC-SHA256(key,
 * id "." timestamp "." body)>", into out (HKD_SW_SIG_SIZE bytes).
 * Borrowed: key, id, body (n bytes, may hold NULs). 0, or -1 when memory
 * runs out or HMAC fails.
 */
int hkd_sw_sign(const struct hkd_sw_key *key, const char *id, int64_t timestamp,
                const char *body, size_t n, char *out);

/*
 * The webhook-signature header value for several keys (key rotation):
 * one signature per key, in order, separated by single spaces. Returns a
 * malloc'd string (caller frees with free()), or NULL when nkeys is 0,
 * memory runs out or HMAC fails.
 */
char *hkd_sw_signature_header(const struct hkd_sw_key *keys, size_t nkeys,
                              const char *id, int64_t timestamp,
                              const char *body, size_t n);

/*
 * GitHub's signature, "sha256=<hex HMAC-SHA256(secret, body)>", into out
 * (HKD_GITHUB_SIG_SIZE bytes). The secret is used as its bytes (slen).
 * 0, or -1 when HMAC fails.
 */
int hkd_github_sign(const char *secret, size_t slen, const char *body, size_t n,
                    char *out);

#endif /* HKD_HTTP_SIGN_H */
