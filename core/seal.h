/*
 * Secrets sealed at rest: what hookd stores that would sign or authenticate
 * on someone's behalf (a subscription's whsec_ secrets) is kept encrypted,
 * so a copy of the database or a backup without the key reveals none.
 *
 * AES-256-GCM through libcrypto, a fresh random 96-bit nonce per value,
 * and the owner's id (a subscription id) as associated data, so a sealed
 * value moved to another record does not open. The stored text is
 * "enc:v1:" and the base64 of nonce | ciphertext | 128-bit tag.
 */
#ifndef HKD_SEAL_H
#define HKD_SEAL_H

#include <stddef.h>

#define HKD_SEAL_KEY_LEN 32
#define HKD_SEAL_PREFIX  "enc:v1:"

/* Is text a sealed value (by its prefix)? */
int hkd_is_sealed(const char *text);

/* Seal plain for owner `aad`. Caller owns *out (free). 0, or -1 (out of
 * memory or no randomness). */
int hkd_seal(const unsigned char key[HKD_SEAL_KEY_LEN], const char *aad,
             const char *plain, char **out);

/* Open a sealed value. Caller owns *out (free; wiped is better). 0, or -1
 * when it is not a sealed value, was sealed with another key or for
 * another owner, or was changed. */
int hkd_unseal(const unsigned char key[HKD_SEAL_KEY_LEN], const char *aad,
               const char *sealed, char **out);

/* A key written as 64 hex digits or as the base64 of 32 bytes. 0, or -1
 * with why in err (which never holds the text). */
int hkd_seal_key_parse(const char *text, unsigned char key[HKD_SEAL_KEY_LEN],
                       char *err, size_t errlen);

/*
 * The key file `path`: read when it exists (64 hex digits), else made from
 * 32 random bytes and written with mode 0600, created so that it is never
 * replaced (O_EXCL). 0, or -1 with why in err.
 */
int hkd_seal_key_file(const char *path, unsigned char key[HKD_SEAL_KEY_LEN],
                      char *err, size_t errlen);

#endif
