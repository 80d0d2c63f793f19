/*
 * Helpers shared by the libFuzzer targets: cutting an input into fields,
 * and checks that end the run with a message when a property fails.
 *
 * Inputs that carry several values separate them with NUL bytes (a C
 * string, a header, a secret cannot hold one anyway); the last field is
 * the rest of the input and may hold anything.
 */
#ifndef HKD_FUZZ_H
#define HKD_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* What is left of an input. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* A failed property: a finding, like a crash (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n",        \
			        __FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* The next byte, or 0 once the input is used up. */
static inline unsigned fuzz_byte(struct fuzz_in *in)
{
	unsigned b = 0;

	if (in->n > 0) {
		b = in->p[0];
		in->p++;
		in->n--;
	}
	return b;
}

/*
 * The bytes up to the next NUL (or the end) as a malloc'd C string; the
 * NUL is consumed. Caller frees. Aborts when memory runs out, which in a
 * fuzzer is a finding of its own kind (libFuzzer's malloc limit).
 */
static inline char *fuzz_field(struct fuzz_in *in)
{
	const uint8_t *end = memchr(in->p, '\0', in->n);
	size_t len = end ? (size_t)(end - in->p) : in->n;
	char *s = malloc(len + 1);

	FUZZ_CHECK(s != NULL);
	memcpy(s, in->p, len);
	s[len] = '\0';
	in->p += len;
	in->n -= len;
	if (end) {
		in->p++;
		in->n--;
	}
	return s;
}

/* All that is left, as a malloc'd copy with a NUL after it (it may hold
 * NULs itself); *len gets its length. Caller frees. */
static inline char *fuzz_rest(struct fuzz_in *in, size_t *len)
{
	char *s = malloc(in->n + 1);

	FUZZ_CHECK(s != NULL);
	memcpy(s, in->p, in->n);
	s[in->n] = '\0';
	*len = in->n;
	in->p += in->n;
	in->n = 0;
	return s;
}

/* printf into a malloc'd string (caller frees). */
static inline char *fuzz_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline char *fuzz_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	FUZZ_CHECK(n >= 0);
	return s;
}

/* 1 when s[0..n) is valid UTF-8 (what a JSON string may hold). */
static inline int fuzz_utf8(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	int ok = j != NULL;

	json_decref(j);
	return ok;
}

/* 1 when s is NUL-terminated within size bytes. */
static inline int fuzz_terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#endif
