/* UTF-8 sequences (see utf8.h). */
#include "utf8.h"

/*
 * The sequence at s: its length when well-formed, 0 when malformed, -1
 * when its first avail bytes are well-formed but too few. Reads no byte
 * past the first one that does not fit, so a NUL ends it.
 */
static int sequence(const unsigned char *s, size_t avail)
{
	unsigned char c, lo = 0x80, hi = 0xbf;
	int n, i;

	if (avail == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	for (i = 1; i < n; i++) {
		if ((size_t)i >= avail)
			return -1;
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
			return 0;
	}
	return n;
}

size_t hkd_utf8_len(const unsigned char *s, size_t avail)
{
	int n = sequence(s, avail);

	return n > 0 ? (size_t)n : 0;
}

int hkd_utf8_cut(const unsigned char *s, size_t avail)
{
	return sequence(s, avail) < 0;
}

int hkd_utf8_control(const unsigned char *s, size_t n)
{
	return (n == 1 && (s[0] < 0x20 || s[0] == 0x7f)) ||
	       (n == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

void hkd_utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = hkd_utf8_len(p, 4); /* stops at the NUL */

		if (n == 0)
			*p++ = '?';
		else
			p += n;
	}
}
