/*
 * Base64 with the standard alphabet (RFC 4648 section 4), strict: no
 * other character (white space, '-', '_') is accepted, and the unused
 * bits of the last character must be zero, so every text has one meaning.
 */
#ifndef HKD_BASE64_H
#define HKD_BASE64_H

#include <stddef.h>

/*
 * n bytes into out, with padding; out holds at least 4 * ((n + 2) / 3) + 1
 * bytes. Returns the length written, without the NUL.
 */
size_t hkd_base64_encode(const unsigned char *in, size_t n, char *out);

/*
 * Decode n characters; padding may be left out. Writes at most cap bytes.
 * Returns the number of bytes, or -1 when the text is not base64 or does
 * not fit.
 */
long hkd_base64_decode(const char *in, size_t n, unsigned char *out,
                       size_t cap);

/* The same, but the text must be padded: not empty, a multiple of 4. */
long hkd_base64_decode_padded(const char *in, size_t n, unsigned char *out,
                              size_t cap);

#endif
