/*
 * Request signatures (see sign.h). HMAC-SHA256 through OpenSSL's one-shot
 * HMAC(), which every libcrypto since 1.1 has undeprecated; base64 is ours
 * so its strictness is exactly what the documentation says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "errmsg.h"
#include "sign.h"
#include "whsec.h"

int hkd_sw_key_decode(const char *secret, struct hkd_sw_key *key, char *err,
                      size_t errlen)
{
	size_t len = 0;

	memset(key, 0, sizeof(*key));
	switch (hkd_whsec_decode(secret, &hkd_whsec_ours, key->key,
	                         sizeof(key->key), &len)) {
	case HKD_WHSEC_OK:
		key->len = len;
		return 0;
	case HKD_WHSEC_NO_PREFIX:
		hkd_set_err(err, errlen,
		            "a standard-webhooks secret must start with \"%s\" "
		            "(whsec_ + base64 of %d to %d random bytes)",
		            HKD_SW_PREFIX, HKD_SW_KEY_MIN, HKD_SW_KEY_MAX);
		return -1;
	case HKD_WHSEC_TOO_LONG:
		hkd_set_err(err, errlen,
		            "the key after \"%s\" is longer than %d bytes",
		            HKD_SW_PREFIX, HKD_SW_KEY_MAX);
		return -1;
	case HKD_WHSEC_NOT_BASE64:
		hkd_set_err(
		    err, errlen,
		    "the part after \"%s\" is not valid base64 (standard "
		    "alphabet A-Z a-z 0-9 + /, optional = padding)",
		    HKD_SW_PREFIX);
		return -1;
	case HKD_WHSEC_EMPTY:
	case HKD_WHSEC_BAD_LENGTH:
		break;
	}
	hkd_set_err(err, errlen,
	            "the key after \"%s\" is %zu bytes; Standard Webhooks "
	            "keys are %d to %d bytes",
	            HKD_SW_PREFIX, len, HKD_SW_KEY_MIN, HKD_SW_KEY_MAX);
	return -1;
}

int hkd_sw_sign(const struct hkd_sw_key *key, const char *id, int64_t timestamp,
                const char *body, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char ts[24];
	size_t idlen = strlen(id), tslen, total;
	char *msg;
	int ret = -1;

	tslen = (size_t)snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
	total = idlen + 1 + tslen + 1 + n;
	msg = malloc(total ? total : 1);
	if (!msg)
		return -1;
	memcpy(msg, id, idlen);
	msg[idlen] = '.';
	memcpy(msg + idlen + 1, ts, tslen);
	msg[idlen + 1 + tslen] = '.';
	if (n)
		memcpy(msg + idlen + tslen + 2, body, n);
	if (!HMAC(EVP_sha256(), key->key, (int)key->len,
	          (const unsigned char *)msg, total, md, &mdlen) ||
	    mdlen != 32)
		goto out;
	memcpy(out, "v1,", 3);
	hkd_base64_encode(md, mdlen, out + 3);
	ret = 0;
out:
	free(msg);
	return ret;
}

char *hkd_sw_signature_header(const struct hkd_sw_key *keys, size_t nkeys,
                              const char *id, int64_t timestamp,
                              const char *body, size_t n)
{
	char *hdr, sig[HKD_SW_SIG_SIZE];
	size_t i, len = 0;

	if (nkeys == 0)
		return NULL;
	hdr = malloc(nkeys * HKD_SW_SIG_SIZE);
	if (!hdr)
		return NULL;
	for (i = 0; i < nkeys; i++) {
		size_t k;

		if (hkd_sw_sign(&keys[i], id, timestamp, body, n, sig) < 0) {
			free(hdr);
			return NULL;
		}
		if (i > 0)
			hdr[len++] = ' ';
		k = strlen(sig);
		memcpy(hdr + len, sig, k);
		len += k;
	}
	hdr[len] = '\0';
	return hdr;
}

int hkd_github_sign(const char *secret, size_t slen, const char *body, size_t n,
                    char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	/* HMAC() wants a non-NULL data pointer even for zero bytes. */
	const unsigned char *data =
	    n ? (const unsigned char *)body : (const unsigned char *)"";

	if (!HMAC(EVP_sha256(), secret, (int)slen, data, n, md, &mdlen) ||
	    mdlen != 32)
		return -1;
	memcpy(out, "sha256=", 7);
	for (i = 0; i < mdlen; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[7 + 2 * mdlen] = '\0';
	return 0;
}
