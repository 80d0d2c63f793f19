/*
 * Fuzz target: the validation of a subscription request body (POST and
 * PATCH /v4/webhook-subscriptions), apply() in core/subscriptions.c.
 *
 * apply() is static and the API functions around it need the store and
 * the http plugin, so this file includes subscriptions.c itself and calls
 * apply() directly; the copy of subscriptions.c in libhookdcore is then
 * never linked in (the names here start with fuzz_ so as not to meet its
 * own). Host names do not go to DNS: getaddrinfo is replaced,
 * for subscriptions.c only, by a table (numeric addresses as the real one
 * reads them, and a few names: public, private, allowed, loopback).
 *
 * Input: a byte (bit 0: PATCH of an existing subscription, else POST;
 * bit 1: an empty catalog, else three types), then the body as JSON.
 * Properties:
 *  - a refusal is a 422 {"error", "message", "field"} whose field is a
 *    JSON pointer to the member at fault (every refusal of apply() names
 *    one), and the body is never missing (it would be no answer at all);
 *  - an accepted body leaves a document that holds only what the API
 *    documents, each member within its limits, a secret hookd accepts
 *    (the one given, if any; the old one kept on rotation);
 *  - the public view never shows the secret in full;
 *  - the URL and header values, made into templates, render back to
 *    themselves (no "{{" in them is ever taken for a placeholder).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonptr.h"
#include "template.h"

struct addrinfo;
int fuzz_getaddrinfo(const char *node, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res);
void fuzz_freeaddrinfo(struct addrinfo *res);

#define getaddrinfo  fuzz_getaddrinfo
#define freeaddrinfo fuzz_freeaddrinfo
#include "subs_api.c"
#undef getaddrinfo
#undef freeaddrinfo

/* An addrinfo and its address in one allocation. */
struct fuzz_ai {
	struct addrinfo ai;
	struct sockaddr_storage ss;
};

/* Names the resolver knows, and what they stand for. */
static const char *const fuzz_hosts[][2] = {
    {"example.com", "93.184.215.14"},
    {"your-webhook-url.com", "93.184.215.15"},
    {"v6.example.com", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
    {"internal.example", "10.1.2.3"},
    {"allowed.example", "10.9.0.5"},
    {"localhost", "127.0.0.1"},
    {"metadata.example", "169.254.169.254"},
};

int fuzz_getaddrinfo(const char *node, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res)
{
	struct fuzz_ai *f;
	struct in_addr v4;
	struct in6_addr v6;
	const char *text = node;

	(void)service;
	(void)hints;
	*res = NULL;
	if (!node)
		return EAI_NONAME;
	for (size_t i = 0; i < sizeof(fuzz_hosts) / sizeof(fuzz_hosts[0]); i++)
		if (strcasecmp(node, fuzz_hosts[i][0]) == 0)
			text = fuzz_hosts[i][1];
	f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL);
	f->ai.ai_socktype = SOCK_STREAM;
	f->ai.ai_addr = (struct sockaddr *)&f->ss;
	/* inet_aton: the legacy forms ("127.1", "0x7f000001") resolvers
	 * accept too. */
	if (inet_aton(text, &v4)) {
		struct sockaddr_in *in = (struct sockaddr_in *)&f->ss;

		in->sin_family = AF_INET;
		in->sin_addr = v4;
		f->ai.ai_family = AF_INET;
		f->ai.ai_addrlen = sizeof(*in);
	} else if (inet_pton(AF_INET6, text, &v6) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&f->ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = v6;
		f->ai.ai_family = AF_INET6;
		f->ai.ai_addrlen = sizeof(*in6);
	} else {
		free(f);
		return EAI_NONAME;
	}
	*res = &f->ai;
	return 0;
}

void fuzz_freeaddrinfo(struct addrinfo *res)
{
	free(res); /* the first member of a struct fuzz_ai */
}

/* The members a stored document may hold. */
static int fuzz_known_member(const char *key)
{
	static const char *const keys[] = {"id",
	                                   "webhookUrl",
	                                   "webhookHttpMethod",
	                                   "events",
	                                   "headers",
	                                   "format",
	                                   "description",
	                                   "enabled",
	                                   "createdAt",
	                                   "updatedAt",
	                                   "secret",
	                                   "previousSecret",
	                                   "previousSecretUntil",
	                                   "disabledReason",
	                                   "disabledAt",
	                                   "failingSince",
	                                   NULL};

	for (const char *const *k = keys; *k; k++)
		if (strcmp(key, *k) == 0)
			return 1;
	return 0;
}

/* text, made a literal template, renders back to itself. */
static void fuzz_check_literal(const char *text)
{
	char *tmpl = hkd_template_literal(text);
	char *out;

	FUZZ_CHECK(tmpl != NULL);
	out = hkd_template_render(tmpl, NULL, NULL, HOOKD_RENDER_RAW, NULL, 0);
	FUZZ_CHECK(out != NULL && strcmp(out, text) == 0);
	free(out);
	free(tmpl);
}

static void fuzz_check_refusal(const json_t *req, int rc, const json_t *out)
{
	const char *error = json_string_value(json_object_get(out, "error"));
	const char *message =
	    json_string_value(json_object_get(out, "message"));
	const char *field = json_string_value(json_object_get(out, "field"));

	FUZZ_CHECK(rc == 422);
	FUZZ_CHECK(json_is_object(out));
	FUZZ_CHECK(error && (strcmp(error, "invalid_request") == 0 ||
	                     strcmp(error, "invalid_url") == 0 ||
	                     strcmp(error, "unknown_event_type") == 0));
	FUZZ_CHECK(message && message[0]);
	FUZZ_CHECK(field != NULL);
	FUZZ_CHECK(hkd_json_pointer_check(field) == 0);
	/* It names the member at fault; a missing one cannot resolve. */
	if (!strstr(message, "are required"))
		FUZZ_CHECK(hkd_json_pointer(req, field) != NULL);
}

static void fuzz_check_document(const json_t *doc, const json_t *req,
                                const char *old_secret)
{
	const char *key, *secret, *given;
	json_t *v, *e, *copy, *view;
	char *dump;
	size_t i;

	json_object_foreach((json_t *)doc, key, v)
	    FUZZ_CHECK(fuzz_known_member(key));
	v = json_object_get(doc, "webhookUrl");
	FUZZ_CHECK(json_is_string(v) && json_string_length(v) <= URL_MAX);
	fuzz_check_literal(json_string_value(v));
	FUZZ_CHECK(strcmp(hkd_doc_str(doc, "webhookHttpMethod"), "POST") == 0 ||
	           strcmp(hkd_doc_str(doc, "webhookHttpMethod"), "PUT") == 0 ||
	           strcmp(hkd_doc_str(doc, "webhookHttpMethod"), "PATCH") ==
	               0 ||
	           strcmp(hkd_doc_str(doc, "webhookHttpMethod"), "GET") == 0);
	v = json_object_get(doc, "events");
	FUZZ_CHECK(json_is_array(v) && json_array_size(v) >= 1 &&
	           json_array_size(v) <= EVENTS_MAX);
	json_array_foreach(v, i, e) FUZZ_CHECK(json_is_string(e));
	v = json_object_get(doc, "headers");
	FUZZ_CHECK(json_is_object(v) && json_object_size(v) <= HEADERS_MAX);
	json_object_foreach(v, key, e)
	{
		const char *val = json_string_value(e);

		FUZZ_CHECK(header_name_ok(key));
		FUZZ_CHECK(val && strlen(val) <= HEADER_VALUE_MAX &&
		           !strpbrk(val, "\r\n"));
		fuzz_check_literal(val);
	}
	FUZZ_CHECK(strcmp(hkd_doc_str(doc, "format"), "standard") == 0 ||
	           strcmp(hkd_doc_str(doc, "format"), "kadoa") == 0);
	v = json_object_get(doc, "description");
	FUZZ_CHECK(!v || (json_is_string(v) &&
	                  json_string_length(v) <= DESCRIPTION_MAX));
	FUZZ_CHECK(json_is_boolean(json_object_get(doc, "enabled")));
	secret = hkd_doc_str(doc, "secret");
	FUZZ_CHECK(secret && secret_ok(secret));
	given = json_string_value(json_object_get(req, "secret"));
	if (given)
		FUZZ_CHECK(strcmp(secret, given) == 0);
	if (old_secret &&
	    (given || json_is_true(json_object_get(req, "rotateSecret"))))
		FUZZ_CHECK(strcmp(hkd_doc_str(doc, "previousSecret"),
		                  old_secret) == 0);

	/* The public view masks the secret: unless the client wrote it
	 * somewhere else too, it is nowhere in the view. */
	copy = json_deep_copy(doc);
	FUZZ_CHECK(copy != NULL);
	json_object_del(copy, "secret");
	json_object_del(copy, "previousSecret");
	dump = json_dumps(copy, JSON_COMPACT);
	FUZZ_CHECK(dump != NULL);
	if (!strstr(dump, secret)) {
		free(dump);
		view = public_view(doc, 0);
		dump = json_dumps(view, JSON_COMPACT);
		FUZZ_CHECK(dump != NULL);
		FUZZ_CHECK(strstr(dump, secret) == NULL);
		json_decref(view);
	}
	free(dump);
	json_decref(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hkd_event_type types[] = {
	    {"workflow_finished", "", NULL, 0},
	    {"workflow_failed", "", NULL, 0},
	    {"order.created", "", NULL, 0},
	};
	static char *allow[] = {"10.9.0.0/16", "::ffff:10.8.0.0/112"};
	struct fuzz_in in = {data, size};
	unsigned flags = fuzz_byte(&in);
	int create = !(flags & 1), rc;
	struct hkd_config cfg;
	const char *old_secret = NULL;
	json_t *req, *doc, *out = NULL;
	size_t len;
	char *text = fuzz_rest(&in, &len);

	memset(&cfg, 0, sizeof(cfg));
	if (!(flags & 2)) {
		cfg.types = types;
		cfg.n_types = sizeof(types) / sizeof(types[0]);
	}
	S.allow = allow;
	S.n_allow = sizeof(allow) / sizeof(allow[0]);
	S.grace_ms = 86400 * 1000;

	/* As subscriptions() in http_api.c reads it. */
	req = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	                 NULL);
	free(text);
	if (!req)
		return 0;
	/* What hkd_subs_api_create starts from, or a stored subscription. */
	doc = json_pack("{s:s, s:s, s:s, s:{}, s:b, s:s}", "id", "sub_1",
	                "webhookHttpMethod", "POST", "format", "standard",
	                "headers", "enabled", 1, "createdAt",
	                "2026-11-28T15:00:00.000Z");
	FUZZ_CHECK(doc != NULL);
	if (!create) {
		old_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
		FUZZ_CHECK(json_object_set_new(
		               doc, "webhookUrl",
		               json_string("https://example.com/in")) == 0);
		FUZZ_CHECK(
		    json_object_set_new(doc, "events",
		                        json_pack("[s]", "workflow_*")) == 0);
		FUZZ_CHECK(json_object_set_new(doc, "secret",
		                               json_string(old_secret)) == 0);
	}
	rc = apply(doc, req, &cfg, create, &out);
	if (rc != 0)
		fuzz_check_refusal(req, rc, out);
	else
		fuzz_check_document(doc, req, old_secret);
	json_decref(out);
	json_decref(doc);
	json_decref(req);
	return 0;
}
