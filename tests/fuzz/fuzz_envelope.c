/*
 * Fuzz target: the event envelope (core/envelope.c) the way POST
 * /v4/events uses it: the body parsed as http_api.c parses it, checked
 * with hkd_envelope_check, made into the full envelope as ingest.c makes
 * it and held to an event type's required fields; refusals made into the
 * answer's body as http_api.c makes them (hkd_api_error_body).
 *
 * Input: a byte N (mod 5), N required-field pointers each ended by a NUL,
 * then the request body (the rest).
 * Properties:
 *  - a body jansson refuses gets an answer (400 invalid_json quoting
 *    jansson's excerpt of the body: the answer's body is never NULL);
 *  - a refused envelope names the field as a JSON pointer ("" for the
 *    whole body) that resolves in the body when it names an unknown
 *    member, with a printable ASCII message; both are in the answer;
 *  - an accepted envelope is what the API documents (type, optional data
 *    object and id, nothing else) and makes a full envelope;
 *  - hkd_envelope_require agrees with resolving the pointers one by one;
 *  - the answers do not depend on whether an error struct is passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz.h"
#include "http_api.h"
#include "jsonptr.h"

#define REQUIRED_MAX 4

/* Checks on a refusal: what send_error would put in the answer. */
static void check_refusal(const json_t *body,
                          const struct hkd_envelope_error *err)
{
	size_t flen;
	json_t *answer;

	FUZZ_CHECK(fuzz_terminated(err->field, sizeof(err->field)));
	FUZZ_CHECK(fuzz_terminated(err->message, sizeof(err->message)));
	FUZZ_CHECK(err->message[0] != '\0');
	for (const char *c = err->message; *c; c++)
		FUZZ_CHECK(*c >= 0x20 && *c < 0x7f);
	flen = strlen(err->field);
	FUZZ_CHECK(fuzz_utf8(err->field, flen));
	FUZZ_CHECK(hkd_json_pointer_check(err->field) == 0);
	/* An unknown member is named exactly, unless its name was cut. */
	if (strncmp(err->message, "unknown member", 14) == 0 &&
	    flen + 8 < sizeof(err->field))
		FUZZ_CHECK(hkd_json_pointer(body, err->field) != NULL);
	/* As publish() answers. */
	answer = hkd_api_error_body("invalid_event", err->field, err->message);
	FUZZ_CHECK(answer != NULL);
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(answer, "message")),
	                  err->message) == 0);
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(answer, "field")),
	                  err->field) == 0);
	json_decref(answer);
}

/* Checks on an accepted publish request; builds the envelope as ingest.c
 * does and returns it (caller decrefs). */
static json_t *check_accepted(const json_t *body)
{
	const char *key;
	json_t *v, *data, *envelope;
	const char *type, *id;

	FUZZ_CHECK(json_is_object(body));
	json_object_foreach((json_t *)body, key, v)
	    FUZZ_CHECK(strcmp(key, "type") == 0 || strcmp(key, "data") == 0 ||
	               strcmp(key, "id") == 0);
	type = json_string_value(json_object_get(body, "type"));
	FUZZ_CHECK(type != NULL && hkd_event_type_valid(type));
	data = json_object_get(body, "data");
	FUZZ_CHECK(data == NULL || json_is_object(data));
	v = json_object_get(body, "id");
	id = json_string_value(v);
	FUZZ_CHECK(v == NULL || (id != NULL && hkd_event_id_valid(id)));
	envelope = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id",
	                     id ? id : "evt_1", "type", type, "timestamp",
	                     "2026-11-28T14:00:00.123Z", "source", "api",
	                     "data", data ? json_incref(data) : json_object());
	FUZZ_CHECK(envelope != NULL);
	return envelope;
}

/* hkd_envelope_require against resolving each pointer by itself. */
static void check_require(const json_t *envelope, char **required, size_t n)
{
	struct hkd_envelope_error err;
	int want = 0, got, utf8 = 1;

	for (size_t i = 0; i < n; i++) {
		utf8 &= fuzz_utf8(required[i], strlen(required[i]));
		if (want == 0 &&
		    (hkd_json_pointer_check(required[i]) != 0 ||
		     hkd_json_pointer(envelope, required[i]) == NULL))
			want = -1;
	}
	got = hkd_envelope_require(envelope, (const char *const *)required, n,
	                           &err);
	FUZZ_CHECK(got == want);
	FUZZ_CHECK(hkd_envelope_require(envelope, (const char *const *)required,
	                                n, NULL) == got);
	FUZZ_CHECK(fuzz_terminated(err.field, sizeof(err.field)));
	FUZZ_CHECK(fuzz_terminated(err.message, sizeof(err.message)));
	if (got == 0) {
		FUZZ_CHECK(err.field[0] == '\0');
		return;
	}
	FUZZ_CHECK(err.message[0] != '\0');
	/* Pointers come from the configuration; when they are text, what
	 * is said about them is text too. */
	if (utf8) {
		FUZZ_CHECK(fuzz_utf8(err.field, strlen(err.field)));
		FUZZ_CHECK(fuzz_utf8(err.message, strlen(err.message)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	size_t n = fuzz_byte(&in) % (REQUIRED_MAX + 1), len;
	char *required[REQUIRED_MAX], *text;
	struct hkd_envelope_error err;
	json_error_t jerr;
	json_t *body, *envelope;
	int rc;

	for (size_t i = 0; i < n; i++)
		required[i] = fuzz_field(&in);
	text = fuzz_rest(&in, &len);

	/* As publish() in http_api.c reads it. */
	body = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                  &jerr);
	if (!body) {
		/* As publish() answers. */
		char *msg = fuzz_printf(
		    "body is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
		json_t *answer = hkd_api_error_body("invalid_json", NULL, msg);

		FUZZ_CHECK(answer != NULL);
		json_decref(answer);
		free(msg);
		goto out;
	}
	memset(&err, 'x', sizeof(err));
	rc = hkd_envelope_check(body, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(hkd_envelope_check(body, NULL) == rc);
	if (rc != 0) {
		check_refusal(body, &err);
		goto out;
	}
	FUZZ_CHECK(err.field[0] == '\0');
	envelope = check_accepted(body);
	check_require(envelope, required, n);
	json_decref(envelope);
out:
	json_decref(body);
	free(text);
	for (size_t i = 0; i < n; i++)
		free(required[i]);
	return 0;
}
