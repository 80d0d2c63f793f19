/*
 * Fuzz target: the validating JSON scanner (core/jscan.c) that POST
 * /v4/events uses instead of a jansson tree, held against jansson
 * (differential; the checks are tests/jscan_oracle.h's).
 *
 * Input: POINTER NUL DOCUMENT; without a NUL, the whole input is the
 * document and the pointer is "". The whole input is also scanned as it
 * is (so NUL bytes reach the scanner).
 * Properties:
 *  - hkd_jscan_valid says 1 only for texts json_loadb accepts with
 *    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY; for texts jansson accepts
 *    with no NUL, no backslash, number tokens of at most 15 characters
 *    (exponents of at most 2 digits), nesting of at most 60 and fewer
 *    than 400 members, it says 1;
 *  - hkd_jscan_publish agrees with json_loadb + hkd_envelope_check: the
 *    same type and id strings, data exactly hkd_json_member_text's text,
 *    and it takes every such ordinary body hkd_envelope_check accepts;
 *  - on a text the scanner accepts, hkd_jscan_pointer finds a value
 *    exactly when hkd_json_pointer does on jansson's tree, and an equal
 *    one: for POINTER, and for the pointer of every value in the
 *    document (documents up to 2 KiB).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../jscan_oracle.h"
#include "fuzz.h"

/* Longest document whose every value is looked up (quadratic). */
#define EVERY_VALUE_MAX 2048

/* Ends the run naming the property that failed, and where. */
static void check(const char *msg, const char *ptr)
{
	if (msg) {
		fprintf(stderr, "property failed: %s (pointer '%s')\n", msg,
		        ptr ? ptr : "");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, '\0', size);
	struct fuzz_in in = {data, size};
	char *ptr = nul ? fuzz_field(&in) : strdup("");
	const char *doc = nul ? (const char *)in.p : text;
	size_t n = nul ? in.n : size;
	char *where = NULL;

	FUZZ_CHECK(ptr != NULL);
	if (nul)
		check(oracle_valid(text, size), NULL);
	check(oracle_valid(doc, n), NULL);
	check(oracle_publish(doc, n), NULL);
	check(oracle_pointer(doc, n, ptr), ptr);
	if (n <= EVERY_VALUE_MAX) {
		const char *msg = oracle_every_value(doc, n, &where);

		check(msg, where);
	}
	free(where);
	free(ptr);
	return 0;
}
