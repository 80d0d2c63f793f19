/*
 * Base64, the standard alphabet (RFC 4648 section 4): the one encoder and
 * decoder of the tree (see base64.h). Ours rather than EVP_DecodeBlock,
 * which accepts white space and reports padding as zero bytes, so that its
 * strictness is exactly what base64.h says.
 */
#include <stddef.h>

#include "base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

long hkd_base64_decode_padded(const char *in, size_t n, unsigned char *out,
                              size_t cap)
{
	if (n == 0 || n % 4 != 0)
		return -1;
	return hkd_base64_decode(in, n, out, cap);
}
