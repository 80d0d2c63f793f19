/*
 * UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing past U+10FFFF. The one validator of the tree,
 * for the daemon (JSON it writes, text it quotes) and the plugins (text
 * they take from programs and servers into a reason or a log line).
 */
#ifndef HKD_UTF8_H
#define HKD_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence at s, of which at most avail
 * bytes may be read (a NUL ends a sequence early, so avail may exceed a C
 * string's end), or 0 when there is none: a stray continuation byte, a
 * malformed or cut-short sequence, or avail 0. 1 for ASCII.
 */
size_t hkd_utf8_len(const unsigned char *s, size_t avail);

/*
 * 1 when the avail bytes at s (avail > 0) are the well-formed start of a
 * sequence longer than avail: a character that the end of a window cut
 * off, where more text would complete it, rather than malformed text.
 * 0 otherwise, for a whole character too.
 */
int hkd_utf8_cut(const unsigned char *s, size_t avail);

/*
 * 1 when the character of n bytes at s (a sequence hkd_utf8_len measured)
 * is a control character: C0 (below U+0020), DEL or C1 (U+0080..U+009F).
 * What a one-line message shows as '?'.
 */
int hkd_utf8_control(const unsigned char *s, size_t n);

/*
 * Make the C string s valid UTF-8, in place: every byte that is not part
 * of a well-formed sequence becomes "?". For text bound for JSON, which
 * jansson refuses unless it is valid: messages that quote client input,
 * or that a fixed buffer cut in the middle of a character.
 */
void hkd_utf8_sanitize(char *s);

#endif
