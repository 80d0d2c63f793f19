/*
 * Fuzz target: event-type globs (core/glob.c), as routes, subscriptions
 * and the bulk replay use them.
 *
 * Input: PATTERN NUL SUBJECT (anything after a second NUL is ignored).
 * Properties:
 *  - hkd_glob_match agrees with a plain dynamic-programming matcher;
 *  - a pattern without wildcards matches exactly itself, and every
 *    pattern matches its own text ("*" and "?" match themselves too);
 *  - hkd_glob_check accepts exactly the documented patterns (1-128 bytes
 *    of event-type characters, "*" and "?") and explains every refusal in
 *    a terminated message, also when the buffer is tiny.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "glob.h"

/* Reference matcher: row[j] says whether p[0..i) matches s[0..j). */
static int dp_match(const char *p, const char *s)
{
	size_t n = strlen(s);
	unsigned char *row = calloc(n + 1, 1);
	int m;

	FUZZ_CHECK(row != NULL);
	row[0] = 1;
	for (; *p; p++) {
		if (*p == '*') {
			/* "*" extends any match to the right. */
			for (size_t j = 1; j <= n; j++)
				row[j] |= row[j - 1];
			continue;
		}
		/* Walk right to left so row[j - 1] is still the old row. */
		for (size_t j = n; j > 0; j--)
			row[j] = row[j - 1] && (*p == '?' || *p == s[j - 1]);
		row[0] = 0;
	}
	m = row[n];
	free(row);
	return m;
}

/* The documented validity of a pattern. */
static int valid_pattern(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > 128)
		return 0;
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("_.:-*?", c)))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *pattern = fuzz_field(&in);
	char *subject = fuzz_field(&in);
	char err[256], tiny[8];
	int m = hkd_glob_match(pattern, subject);
	int ok;

	FUZZ_CHECK(m == 0 || m == 1);
	/* The reference is quadratic: only for inputs where that is cheap. */
	if (strlen(pattern) * (strlen(subject) + 1) <= (1u << 20))
		FUZZ_CHECK(m == dp_match(pattern, subject));
	if (!hkd_glob_is_pattern(pattern))
		FUZZ_CHECK(m == (strcmp(pattern, subject) == 0));
	FUZZ_CHECK(hkd_glob_is_pattern(pattern) ==
	           (strpbrk(pattern, "*?") != NULL));
	FUZZ_CHECK(hkd_glob_match(pattern, pattern) == 1);
	FUZZ_CHECK(hkd_glob_match(NULL, subject) == 0);
	FUZZ_CHECK(hkd_glob_match(pattern, NULL) == 0);

	err[0] = '\0';
	ok = hkd_glob_check(pattern, err, sizeof(err)) == 0;
	FUZZ_CHECK(ok == valid_pattern(pattern));
	FUZZ_CHECK(fuzz_terminated(err, sizeof(err)));
	FUZZ_CHECK(ok || err[0] != '\0');
	/* Its messages show client input: never anything unprintable. */
	for (const char *c = err; *c; c++)
		FUZZ_CHECK(*c >= 0x20 && *c < 0x7f);
	memset(tiny, 'x', sizeof(tiny));
	FUZZ_CHECK((hkd_glob_check(pattern, tiny, sizeof(tiny)) == 0) == ok);
	FUZZ_CHECK(ok || fuzz_terminated(tiny, sizeof(tiny)));
	FUZZ_CHECK((hkd_glob_check(pattern, NULL, 0) == 0) == ok);

	free(pattern);
	free(subject);
	return 0;
}
