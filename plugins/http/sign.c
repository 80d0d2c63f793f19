/*
 * Request signatures (see sign.h). HMAC-SHA256 through OpenSSL's one-shot
 * HMAC(), which every libcrypto since 1.1 has undeprecated; base64 is ours
 * so its strictness is exactly what the documentation says.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sign.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void seterr(char *err, size_t errlen, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *f, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, f);
	vsnprintf(err, errlen, f, ap);
	va_end(ap);
}

size_t hkd_base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 |
		                  (unsigned long)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = b64_alphabet[v >> 6 & 63];
		out[o++] = b64_alphabet[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		out[o++] = b64_alphabet[v >> 18 & 63];
		out[o++] = b64_alphabet[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* Value of a base64 character, or -1. */
static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long hkd_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	size_t i, o = 0, pad = 0;
	unsigned long acc = 0;
	unsigned bits = 0;

	/* Padding, when present, completes the last group of four. */
	while (n > 0 && in[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad && (n + pad) % 4 != 0)
		return -1;
	if (n % 4 == 1)
		return -1; /* one character carries less than a byte */
	for (i = 0; i < n; i++) {
		int v = b64_value(in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xFFFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits & 0xFF);
		}
	}
	/* The bits left over must be zero, so every text has one meaning. */
	if (bits && (acc & ((1UL << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

int hkd_sw_key_decode(const char *secret, struct hkd_sw_key *key, char *err,
                      size_t errlen)
{
	size_t plen = strlen(HKD_SW_PREFIX), n;
	long got;
	unsigned char buf[HKD_SW_KEY_MAX + 3];

	memset(key, 0, sizeof(*key));
	if (!secret || strncmp(secret, HKD_SW_PREFIX, plen) != 0) {
		seterr(err, errlen,
		       "a standard-webhooks secret must start with \"%s\" "
		       "(whsec_ + base64 of %d to %d random bytes)",
		       HKD_SW_PREFIX, HKD_SW_KEY_MIN, HKD_SW_KEY_MAX);
		return -1;
	}
	n = strlen(secret + plen);
	got = hkd_base64_decode(secret + plen, n, buf, sizeof(buf));
	if (got < 0 && n > (HKD_SW_KEY_MAX + 2) / 3 * 4) {
		seterr(err, errlen,
		       "the key after \"%s\" is longer than %d bytes",
		       HKD_SW_PREFIX, HKD_SW_KEY_MAX);
		return -1;
	}
	if (got < 0) {
		seterr(err, errlen,
		       "the part after \"%s\" is not valid base64 (standard "
		       "alphabet A-Z a-z 0-9 + /, optional = padding)",
		       HKD_SW_PREFIX);
		return -1;
	}
	if (got < HKD_SW_KEY_MIN || got > HKD_SW_KEY_MAX) {
		seterr(err, errlen,
		       "the key after \"%s\" is %ld bytes; Standard Webhooks "
		       "keys are %d to %d bytes",
		       HKD_SW_PREFIX, got, HKD_SW_KEY_MIN, HKD_SW_KEY_MAX);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	memcpy(key->key, buf, (size_t)got);
	key->len = (size_t)got;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
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
