/* Secrets sealed at rest (see seal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64.h"
#include "seal.h"
#include "util.h"

#define NONCE_LEN  12
#define TAG_LEN    16
#define PREFIX_LEN (sizeof(HKD_SEAL_PREFIX) - 1)

int hkd_is_sealed(const char *text)
{
	return text && strncmp(text, HKD_SEAL_PREFIX, PREFIX_LEN) == 0;
}

/*
 * AES-256-GCM over in (n bytes) into out (n bytes) with nonce and aad;
 * `tag` is written when sealing and checked when opening. 0, or -1.
 */
static int gcm(int seal, const unsigned char *key, const unsigned char *nonce,
               const char *aad, const unsigned char *in, size_t n,
               unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len, ok = c != NULL && n <= INT32_MAX;

	ok = ok && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
	                             seal) == 1;
	ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
	                               NULL) == 1;
	ok = ok && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, seal) == 1;
	ok = ok && EVP_CipherUpdate(c, NULL, &len, (const unsigned char *)aad,
	                            (int)strlen(aad)) == 1;
	ok = ok && EVP_CipherUpdate(c, out, &len, in, (int)n) == 1;
	if (ok && !seal)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
		                         tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + len, &len) == 1;
	if (ok && seal)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
		                         tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

int hkd_seal(const unsigned char key[HKD_SEAL_KEY_LEN], const char *aad,
             const char *plain, char **out)
{
	size_t n = strlen(plain), raw_len = NONCE_LEN + n + TAG_LEN;
	unsigned char *raw = malloc(raw_len);
	char *text = malloc(PREFIX_LEN + 4 * ((raw_len + 2) / 3) + 1);
	int rc = -1;

	*out = NULL;
	if (!raw || !text || RAND_bytes(raw, NONCE_LEN) != 1 ||
	    gcm(1, key, raw, aad, (const unsigned char *)plain, n,
	        raw + NONCE_LEN, raw + NONCE_LEN + n) != 0)
		goto out;
	memcpy(text, HKD_SEAL_PREFIX, PREFIX_LEN);
	hkd_base64_encode(raw, raw_len, text + PREFIX_LEN);
	*out = text;
	text = NULL;
	rc = 0;
out:
	free(raw);
	free(text);
	return rc;
}

int hkd_unseal(const unsigned char key[HKD_SEAL_KEY_LEN], const char *aad,
               const char *sealed, char **out)
{
	const char *b64;
	size_t b64_len, raw_len, n;
	unsigned char *raw = NULL;
	char *plain = NULL;
	int got, rc = -1;

	*out = NULL;
	if (!hkd_is_sealed(sealed))
		return -1;
	b64 = sealed + PREFIX_LEN;
	b64_len = strlen(b64);
	if (b64_len == 0 || b64_len % 4 != 0 || b64_len > 1 << 20)
		return -1;
	raw = malloc(b64_len / 4 * 3);
	if (!raw)
		return -1;
	got = hkd_base64_decode_padded(b64, b64_len, raw, b64_len / 4 * 3);
	if (got < 0)
		goto out;
	raw_len = (size_t)got;
	if (raw_len < NONCE_LEN + TAG_LEN)
		goto out;
	n = raw_len - NONCE_LEN - TAG_LEN;
	if (!(plain = malloc(n + 1)) ||
	    gcm(0, key, raw, aad, raw + NONCE_LEN, n, (unsigned char *)plain,
	        raw + NONCE_LEN + n) != 0 ||
	    memchr(plain, '\0', n))
		goto out;
	plain[n] = '\0';
	*out = plain;
	plain = NULL;
	rc = 0;
out:
	if (plain)
		OPENSSL_cleanse(plain, n);
	free(plain);
	free(raw);
	return rc;
}

int hkd_seal_key_parse(const char *text, unsigned char key[HKD_SEAL_KEY_LEN],
                       char *err, size_t errlen)
{
	size_t n = strlen(text);
	unsigned char buf[48];

	if (n == 2 * HKD_SEAL_KEY_LEN) {
		for (size_t i = 0; i < HKD_SEAL_KEY_LEN; i++) {
			int hi = hkd_hex_value((unsigned char)text[2 * i]);
			int lo = hkd_hex_value((unsigned char)text[2 * i + 1]);
			if (hi < 0 || lo < 0)
				goto bad;
			key[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	/* base64 of 32 bytes: 44 characters, one '=' of padding. */
	if (hkd_base64_decode_padded(text, n, buf, sizeof(buf)) ==
	    HKD_SEAL_KEY_LEN) {
		memcpy(key, buf, HKD_SEAL_KEY_LEN);
		OPENSSL_cleanse(buf, sizeof(buf));
		return 0;
	}
bad:
	OPENSSL_cleanse(buf, sizeof(buf));
	hkd_set_err(err, errlen,
	            "a key is 32 bytes written as 64 hex digits or as base64 "
	            "(openssl rand -hex 32)");
	return -1;
}

int hkd_seal_key_file(const char *path, unsigned char key[HKD_SEAL_KEY_LEN],
                      char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	char text[2 * HKD_SEAL_KEY_LEN + 2];
	unsigned char raw[HKD_SEAL_KEY_LEN];
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (n < 2 * HKD_SEAL_KEY_LEN) {
			hkd_set_err(
			    err, errlen,
			    "the key file %s is shorter than 64 hex digits",
			    path);
			goto out;
		}
		text[2 * HKD_SEAL_KEY_LEN] = '\0';
		if (hkd_seal_key_parse(text, key, err, errlen) != 0) {
			hkd_set_err(
			    err, errlen,
			    "the key file %s does not hold 64 hex digits",
			    path);
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (errno != ENOENT) {
		hkd_set_err(err, errlen, "cannot read the key file %s: %s",
		            path, strerror(errno));
		goto out;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		hkd_set_err(err, errlen, "no randomness for a key");
		goto out;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		text[2 * i] = hex[raw[i] >> 4];
		text[2 * i + 1] = hex[raw[i] & 0xf];
	}
	text[2 * HKD_SEAL_KEY_LEN] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) /* made meanwhile by another process */
			return hkd_seal_key_file(path, key, err, errlen);
		hkd_set_err(err, errlen, "cannot create the key file %s: %s",
		            path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 ||
	    write(fd, text, 2 * HKD_SEAL_KEY_LEN + 1) !=
	        2 * HKD_SEAL_KEY_LEN + 1 ||
	    fsync(fd) != 0) {
		hkd_set_err(err, errlen, "cannot write the key file %s: %s",
		            path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	close(fd);
	memcpy(key, raw, sizeof(raw));
	rc = 0;
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}
