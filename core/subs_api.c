/*
 * The REST resource of webhook subscriptions (POST, GET, PATCH, DELETE
 * /v4/webhook-subscriptions and …/{id}/test): what a client may send,
 * checked member by member, and what it is shown (secrets masked).
 */
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dispatch.h"
#include "glob.h"
#include "host.h"
#include "ingest.h"
#include "log.h"
#include "plugin_loader.h"
#include "runtime.h"
#include "ssrf.h"
#include "store.h"
#include "strmap.h"
#include "subs.h"
#include "subscriptions.h"
#include "util.h"
#include "base64.h"
#include "whsec.h"

/* A page of GET /v4/webhook-subscriptions: by default, at most. */
#define LIST_DEFAULT 100
#define LIST_MAX     500

/* Limits on what a client may register. */
#define URL_MAX          2048
#define EVENTS_MAX       100
#define HEADERS_MAX      20
#define HEADER_VALUE_MAX 1024
#define DESCRIPTION_MAX  500

/* --- the API ---------------------------------------------------------- */

/* {"error": code, "message": …, "field": …}; returns status. */
static int api_error(json_t **out, int status, const char *code,
                     const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int api_error(json_t **out, int status, const char *code,
                     const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* It quotes the request (a member's name, a header's) and may be cut
	 * short: jansson refuses text that is not UTF-8. */
	hkd_utf8_sanitize(msg);
	*out = json_pack("{s:s, s:s}", "error", code, "message", msg);
	if (field)
		json_object_set_new(*out, "field", json_string(field));
	return status;
}

/*
 * The JSON pointer to member `key` (borrowed) of a request body: "/" and
 * the key with "~" and "/" escaped (RFC 6901), whole, so that it names
 * that member and no other. malloc'd (caller frees); NULL without memory.
 */
static char *member_pointer(const char *key)
{
	size_t n = 2;
	char *out, *o;
	for (const char *k = key; *k; k++)
		n += *k == '~' || *k == '/' ? 2 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	o = out;
	*o++ = '/';
	for (; *key; key++) {
		if (*key == '~' || *key == '/') {
			*o++ = '~';
			*o++ = *key == '~' ? '0' : '1';
		} else {
			*o++ = *key;
		}
	}
	*o = '\0';
	return out;
}

/* What clients see: the document without internals, secret masked
 * unless `show_secret`. */
/*
 * Masking in listings. A header whose name says it carries a credential
 * (Authorization, Proxy-Authorization, Cookie, or a name holding secret,
 * token, key, auth, signature or password, in any case) is shown as "…"
 * and, for a value of 12 or more bytes, its last 4; a webhookUrl's
 * user:password as "…". A PATCH that sends such a masked text back
 * leaves the stored value as it was (unmask).
 */
static int header_is_secret(const char *name)
{
	static const char *const words[] = {"secret", "token",     "key",
	                                    "auth",   "signature", "password",
	                                    "cookie", NULL};
	char low[128];
	size_t n = strlen(name);
	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (const char *const *w = words; *w; w++)
		if (strstr(low, *w))
			return 1;
	return 0;
}

/* The masked form of a header value. Caller owns: json_decref. */
static json_t *masked_value(const char *v)
{
	size_t n = strlen(v);
	char out[32];
	snprintf(out, sizeof(out), "\u2026%s", n >= 12 ? v + n - 4 : "");
	return json_string(out);
}

/* url with a user:password part shown as "…"; a copy when it has none.
 * Caller owns: free. NULL when out of memory. */
char *hkd_url_masked(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL;
	char *out;
	if (!auth)
		return strdup(url);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return strdup(url);
	if (asprintf(&out, "%.*s\u2026%s", (int)(auth - url), url, at) < 0)
		return NULL;
	return out;
}

/* headers (an object) as listings show them. Caller owns. */
static json_t *headers_masked(const json_t *headers)
{
	json_t *o = json_object(), *v;
	const char *k;
	json_object_foreach((json_t *)headers, k, v)
	{
		if (header_is_secret(k) && json_is_string(v))
			json_object_set_new(o, k,
			                    masked_value(json_string_value(v)));
		else
			json_object_set(o, k, v);
	}
	return o;
}

/*
 * req with every masked text that names a stored value put back to that
 * value: a webhookUrl equal to the stored one masked, a header equal to the
 * same header's stored value masked. So a client may PATCH what GET gave
 * it. Caller owns the result (a new reference; req itself when nothing
 * was masked).
 */
static json_t *unmask(const json_t *req, const json_t *doc)
{
	json_t *copy, *hdrs, *stored, *v;
	const char *k, *url = hkd_doc_str(doc, "webhookUrl");
	char *m;

	if (!json_is_object(req))
		return json_incref((json_t *)req);
	copy = json_copy((json_t *)req);
	if (!copy)
		return NULL;
	if (url && json_is_string(json_object_get(req, "webhookUrl")) &&
	    (m = hkd_url_masked(url))) {
		if (strcmp(m, url) != 0 &&
		    strcmp(m, json_string_value(
		                  json_object_get(req, "webhookUrl"))) == 0)
			json_object_set_new(copy, "webhookUrl",
			                    json_string(url));
		free(m);
	}
	hdrs = json_object_get(req, "headers");
	stored = json_object_get(doc, "headers");
	if (json_is_object(hdrs) && json_is_object(stored)) {
		json_t *fixed = json_copy(hdrs);
		json_object_foreach(hdrs, k, v)
		{
			json_t *old = json_object_get(stored, k), *mv;
			if (!fixed || !json_is_string(v) ||
			    !json_is_string(old) || !header_is_secret(k))
				continue;
			mv = masked_value(json_string_value(old));
			if (json_equal(mv, v))
				json_object_set(fixed, k, old);
			json_decref(mv);
		}
		if (fixed)
			json_object_set_new(copy, "headers", fixed);
	}
	return copy;
}

static json_t *public_view(const json_t *doc, int show_secret)
{
	json_t *o = json_object();
	static const char *const keys[] = {
	    "id",        "webhookUrl", "webhookHttpMethod", "events",
	    "headers",   "format",     "description",       "enabled",
	    "createdAt", "updatedAt",  "disabledReason",    "disabledAt",
	    NULL};
	const char *secret = hkd_doc_str(doc, "secret");
	for (const char *const *k = keys; *k; k++) {
		json_t *v = json_object_get(doc, *k);
		if (!v)
			continue;
		if (strcmp(*k, "webhookUrl") == 0 && json_is_string(v)) {
			char *m = hkd_url_masked(json_string_value(v));
			json_object_set_new(o, *k,
			                    m ? json_string(m) : json_null());
			free(m);
		} else if (strcmp(*k, "headers") == 0 && json_is_object(v)) {
			json_object_set_new(o, *k, headers_masked(v));
		} else {
			json_object_set(o, *k, v);
		}
	}
	if (show_secret) {
		json_object_set_new(o, "secret", json_string(secret));
	} else {
		char masked[32];
		size_t n = strlen(secret);
		snprintf(masked, sizeof(masked), "whsec_…%s",
		         n > 4 ? secret + n - 4 : "");
		json_object_set_new(o, "secret", json_string(masked));
	}
	/* The stored end of a grace stays until the next attempt tidies it
	 * away; one that has passed no longer signs, so it is not shown. */
	if (json_object_get(doc, "previousSecretUntil") &&
	    hkd_doc_int(doc, "previousSecretUntil") > hkd_now_ms()) {
		char ts[40];
		hkd_format_time(hkd_doc_int(doc, "previousSecretUntil"), ts,
		                sizeof(ts));
		json_object_set_new(o, "previousSecretValidUntil",
		                    json_string(ts));
	}
	return o;
}

/* A new secret: "whsec_" + base64 of 32 random bytes. */
static json_t *new_secret(void)
{
	unsigned char raw[32];
	char b64[64], out[80];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	hkd_base64_encode(raw, sizeof(raw), b64);
	snprintf(out, sizeof(out), "whsec_%s", b64);
	return json_string(out);
}

/* A secret hookd can sign with (lib/whsec.h, hkd_whsec_ours). */
static int secret_ok(const char *s)
{
	unsigned char key[HKD_WHSEC_KEY_MAX];
	size_t len;
	int ok = hkd_whsec_decode(s, &hkd_whsec_ours, key, sizeof(key), &len) ==
	         HKD_WHSEC_OK;
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/*
 * Is url an absolute http(s) URL whose host the SSRF guard lets through?
 * 0, or -1 with the reason in why.
 */
static int url_ok(const char *url, char *why, size_t len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	struct addrinfo hints, *res = NULL, *ai;
	int rc = -1, gai;

	if (!u || strlen(url) > URL_MAX ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		hkd_set_err(
		    why, len,
		    "webhookUrl must be an absolute http:// or https:// URL");
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0) {
		hkd_set_err(why, len,
		            "webhookUrl must use http or https, not %s",
		            scheme);
		goto out;
	}
	if (host[0] == '[') { /* curl keeps the brackets of IPv6 literals */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai != 0) {
		hkd_set_err(why, len, "webhookUrl host %s does not resolve: %s",
		            host, gai_strerror(gai));
		goto out;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct hkd_ip ip;
		enum hkd_ssrf_class c;
		int allowed = 0;
		char text[HKD_IP_TEXT_MAX];
		if (hkd_ip_from_sockaddr(ai->ai_addr, &ip) != 0)
			continue;
		c = hkd_ssrf_classify(&ip);
		if (c == HKD_SSRF_PUBLIC)
			continue;
		for (size_t i = 0; i < S.n_allow && !allowed; i++) {
			struct hkd_cidr cidr;
			if (hkd_cidr_parse(S.allow[i], &cidr, NULL, 0) == 0 &&
			    hkd_cidr_contains(&cidr, &ip))
				allowed = 1;
		}
		if (allowed)
			continue;
		hkd_ip_format(&ip, text, sizeof(text));
		hkd_set_err(why, len,
		            "webhookUrl host %s resolves to %s, %s (refused by "
		            "the SSRF guard)",
		            host, text, hkd_ssrf_class_text(c));
		goto out;
	}
	rc = 0;
out:
	if (res)
		freeaddrinfo(res);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* Is name a catalog type, a valid glob, or (empty catalog) a valid type? */
static int event_name_ok(const struct hkd_config *cfg, const char *name)
{
	char err[128];
	if (hkd_glob_is_pattern(name))
		return hkd_glob_check(name, err, sizeof(err)) == 0;
	if (strcmp(name, HKD_SUB_DISABLED_TYPE) == 0)
		return 1;
	if (cfg->n_types == 0)
		return hkd_event_type_valid(name);
	return hkd_config_type(cfg, name) != NULL;
}

/*
 * A 422 unknown_event_type for `name` (borrowed; NULL when it was not a
 * string) at `field`: the message lists the types a client may name (the
 * catalog's and hookd's own event), and globs when `globs`.
 */
static int unknown_type(json_t **out, const struct hkd_config *cfg,
                        const char *field, const char *name, int globs)
{
	char names[700] = "";
	size_t off = 0;
	for (size_t t = 0; t < cfg->n_types && off + 1 < sizeof(names); t++)
		off +=
		    (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
		                     t ? ", " : "", cfg->types[t].name);
	return api_error(
	    out, 422, "unknown_event_type", field,
	    "'%s' is %s; valid types: %s%s" HKD_SUB_DISABLED_TYPE "%s",
	    name ? name : "?",
	    globs ? "neither an event type nor a glob" : "not an event type",
	    names, cfg->n_types ? ", " : "",
	    globs ? " (or a glob such as \"workflow_*\")" : "");
}

/* An HTTP header name a client may set: a token, not one hookd sets. */
static int header_name_ok(const char *name)
{
	static const char *const reserved[] = {"content-type",
	                                       "content-length",
	                                       "user-agent",
	                                       "host",
	                                       "webhook-id",
	                                       "webhook-timestamp",
	                                       "webhook-signature",
	                                       "transfer-encoding",
	                                       "connection",
	                                       "x-kadoa-event",
	                                       "expect",
	                                       "x-hub-signature-256",
	                                       NULL};
	size_t n = strlen(name);
	if (n == 0 || n > 64 ||
	    !((name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= 'a' && name[0] <= 'z')))
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	for (const char *const *r = reserved; *r; r++)
		if (strcasecmp(name, *r) == 0)
			return 0;
	return 1;
}

/* A member of a subscription a client may send, and how it is checked. */
struct member {
	const char *name;
	/* 0, or the HTTP status of the error written to *out. */
	int (*check)(const struct member *m, const json_t *v,
	             const struct hkd_config *cfg, json_t **out);
	int update_only;            /* PATCH only (enabled, rotateSecret) */
	const char *const *choices; /* one_of's strings, NULL-terminated */
	const char *message;        /* one_of's error message */
};

static int member_error(json_t **out, const struct member *m, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

/* A 422 invalid_request at member m ("/<name>"). */
static int member_error(json_t **out, const struct member *m, const char *fmt,
                        ...)
{
	char field[48], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(field, sizeof(field), "/%s", m->name);
	return api_error(out, 422, "invalid_request", field, "%s", msg);
}

static int check_url(const struct member *m, const json_t *v,
                     const struct hkd_config *cfg, json_t **out)
{
	char why[512];
	(void)cfg;
	if (!json_is_string(v))
		return member_error(out, m, "webhookUrl must be a string");
	if (url_ok(json_string_value(v), why, sizeof(why)) != 0)
		return api_error(out, 422, "invalid_url", "/webhookUrl", "%s",
		                 why);
	return 0;
}

static int one_of(const struct member *m, const json_t *v,
                  const struct hkd_config *cfg, json_t **out)
{
	const char *s = json_string_value(v);
	(void)cfg;
	for (const char *const *c = m->choices; s && *c; c++)
		if (strcmp(s, *c) == 0)
			return 0;
	return member_error(out, m, "%s", m->message);
}

static int check_events(const struct member *m, const json_t *v,
                        const struct hkd_config *cfg, json_t **out)
{
	const json_t *e;
	size_t i;
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > EVENTS_MAX)
		return member_error(out, m,
		                    "events must be a list of 1 to %d event "
		                    "types or globs",
		                    EVENTS_MAX);
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) ||
		    !event_name_ok(cfg, json_string_value(e))) {
			char ptr[32];
			snprintf(ptr, sizeof(ptr), "/events/%zu", i);
			return unknown_type(out, cfg, ptr, json_string_value(e),
			                    1);
		}
	}
	return 0;
}

static int check_headers(const struct member *m, const json_t *v,
                         const struct hkd_config *cfg, json_t **out)
{
	const char *name;
	const json_t *e;
	(void)cfg;
	if (!json_is_object(v) || json_object_size(v) > HEADERS_MAX)
		return member_error(out, m,
		                    "headers must be an object of at most %d "
		                    "\"Name\": \"value\" pairs",
		                    HEADERS_MAX);
	json_object_foreach((json_t *)v, name, e)
	{
		const char *val = json_string_value(e);
		if (!header_name_ok(name))
			return member_error(
			    out, m,
			    "header name '%s' is not allowed "
			    "(letters, digits, - and _; not one "
			    "hookd sets)",
			    name);
		if (!val || strlen(val) > HEADER_VALUE_MAX ||
		    strpbrk(val, "\r\n"))
			return member_error(
			    out, m,
			    "header '%s' must be a string of at "
			    "most %d bytes without line breaks",
			    name, HEADER_VALUE_MAX);
	}
	return 0;
}

static int check_description(const struct member *m, const json_t *v,
                             const struct hkd_config *cfg, json_t **out)
{
	(void)cfg;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) > DESCRIPTION_MAX)
		return member_error(out, m,
		                    "description must be a string of at most "
		                    "%d bytes",
		                    DESCRIPTION_MAX);
	return 0;
}

static int check_secret(const struct member *m, const json_t *v,
                        const struct hkd_config *cfg, json_t **out)
{
	(void)cfg;
	if (!json_is_string(v) || !secret_ok(json_string_value(v)))
		return member_error(out, m,
		                    "secret must be \"whsec_\" followed by the "
		                    "base64 of 24 to 64 bytes");
	return 0;
}

static int check_bool(const struct member *m, const json_t *v,
                      const struct hkd_config *cfg, json_t **out)
{
	(void)cfg;
	if (!json_is_boolean(v))
		return member_error(out, m, "%s must be true or false",
		                    m->name);
	return 0;
}

static const char *const methods[] = {"POST", "PUT", "PATCH", "GET", NULL};
static const char *const formats[] = {"standard", "kadoa", NULL};

/* The members a client may send; anything else is refused by name. */
static const struct member members[] = {
    {"webhookUrl", check_url, 0, NULL, NULL},
    {"webhookHttpMethod", one_of, 0, methods,
     "webhookHttpMethod must be POST, PUT, PATCH or GET"},
    {"events", check_events, 0, NULL, NULL},
    {"headers", check_headers, 0, NULL, NULL},
    {"format", one_of, 0, formats, "format must be \"standard\" or \"kadoa\""},
    {"description", check_description, 0, NULL, NULL},
    {"secret", check_secret, 0, NULL, NULL},
    {"enabled", check_bool, 1, NULL, NULL},
    {"rotateSecret", check_bool, 1, NULL, NULL},
};

/* The member called name that a create (or an update) may send, or NULL. */
static const struct member *find_member(const char *name, int create)
{
	for (size_t i = 0; i < HKD_ARRAY_LEN(members); i++)
		if (strcmp(members[i].name, name) == 0 &&
		    !(create && members[i].update_only))
			return &members[i];
	return NULL;
}

/*
 * Apply the members of req to doc (a new or copied document), checking
 * each against its entry in members[]. `create` requires webhookUrl and
 * events. Returns 0, or the HTTP status of the error written to *out.
 */
static int apply(json_t *doc, const json_t *req, const struct hkd_config *cfg,
                 int create, json_t **out)
{
	const struct member *m;
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(req))
		return api_error(out, 422, "invalid_request", "",
		                 "the body must be a JSON object");
	json_object_foreach((json_t *)req, key, v)
	{
		if (!(m = find_member(key, create))) {
			char *ptr = member_pointer(key);
			rc = api_error(out, 422, "invalid_request", ptr,
			               "unknown member '%s'", key);
			free(ptr);
			return rc;
		}
		if ((rc = m->check(m, v, cfg, out)) != 0)
			return rc;
	}
	if (create && (!json_object_get(req, "webhookUrl") ||
	               !json_object_get(req, "events")))
		return api_error(out, 422, "invalid_request",
		                 json_object_get(req, "webhookUrl")
		                     ? "/events"
		                     : "/webhookUrl",
		                 "webhookUrl and events are required");
	/* The failures so far were the old receiver's: a new URL starts the
	 * failure clock (failingSince) anew. */
	if (!create && json_object_get(req, "webhookUrl") &&
	    !json_equal(json_object_get(req, "webhookUrl"),
	                json_object_get(doc, "webhookUrl")))
		json_object_del(doc, "failingSince");
	/* Checked: copy into doc. */
	json_object_foreach((json_t *)req, key, v)
	{
		if (strcmp(key, "rotateSecret") == 0 ||
		    strcmp(key, "secret") == 0)
			continue;
		json_object_set(doc, key, v);
	}
	{
		int rotate = json_is_true(json_object_get(req, "rotateSecret"));
		json_t *given = json_object_get(req, "secret");
		if (create) {
			json_object_set_new(doc, "secret",
			                    given ? json_incref(given)
			                          : new_secret());
		} else if (rotate || given) {
			json_object_set(doc, "previousSecret",
			                json_object_get(doc, "secret"));
			json_object_set_new(
			    doc, "previousSecretUntil",
			    json_integer(hkd_now_ms() + S.grace_ms));
			json_object_set_new(doc, "secret",
			                    given ? json_incref(given)
			                          : new_secret());
		}
		if (!json_is_string(json_object_get(doc, "secret")))
			return api_error(out, 503, "unavailable", NULL,
			                 "no randomness for a secret");
	}
	if (json_is_true(json_object_get(req, "enabled"))) {
		json_object_del(doc, "disabledReason");
		json_object_del(doc, "disabledAt");
		json_object_del(doc, "failingSince");
	}
	return 0;
}

/* Store doc and make it live; answers with the subscription. */
static int commit(json_t *doc, int status, int show_secret, json_t **out)
{
	char err[512];
	struct sub *s;
	char ts[40];
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	json_object_set_new(doc, "updatedAt", json_string(ts));
	/* Build first: settings the plugin refuses are never stored. */
	s = hkd_sub_make(json_incref(doc), 0, err, sizeof(err));
	if (!s) {
		json_decref(doc);
		return api_error(out, 422, "invalid_request", NULL, "%s", err);
	}
	if (hkd_store_sub_save(S.store, s->id, doc) != HKD_STORE_OK) {
		hkd_sub_unref(s);
		json_decref(doc);
		return api_error(
		    out, 503, "store_unavailable", NULL,
		    "the subscription could not be stored; retry later");
	}
	hkd_sub_install(s);
	*out = public_view(doc, show_secret);
	json_decref(doc);
	return status;
}

int hkd_subs_api_create(const json_t *req, const struct hkd_config *cfg,
                        json_t **out)
{
	char id[48], ts[40];
	json_t *doc;
	size_t n;
	int rc;
	if (!S.http)
		return api_error(out, 503, "unavailable", NULL, "%s",
		                 S.http_error);
	if (hkd_new_id(HKD_SUB_PREFIX, id, sizeof(id)) != 0)
		return api_error(out, 503, "unavailable", NULL,
		                 "no randomness for an id");
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	doc = json_pack("{s:s, s:s, s:s, s:{}, s:b, s:s}", "id", id,
	                "webhookHttpMethod", "POST", "format", "standard",
	                "headers", "enabled", 1, "createdAt", ts);
	if (!doc)
		return api_error(out, 503, "unavailable", NULL,
		                 "out of memory");
	if ((rc = apply(doc, req, cfg, 1, out)) != 0) {
		json_decref(doc);
		return rc;
	}
	/* Counted and added under one lock: never past subscriptions.max. */
	pthread_mutex_lock(&S.write_lock);
	pthread_mutex_lock(&S.lock);
	n = S.n;
	pthread_mutex_unlock(&S.lock);
	if (n >= (size_t)cfg->sub_max) {
		json_decref(doc);
		rc = api_error(out, 422, "too_many_subscriptions", NULL,
		               "there are %zu subscriptions, as many as "
		               "subscriptions.max allows",
		               n);
	} else {
		rc = commit(doc, 201, 1, out);
	}
	pthread_mutex_unlock(&S.write_lock);
	if (rc == 201)
		hkd_log_kv(HOOKD_LOG_INFO, "subscription", "id", id, "url",
		           hkd_doc_str(*out, "webhookUrl"), "detail", "created",
		           NULL);
	return rc;
}

int hkd_subs_api_list(const char *limit, const char *cursor, json_t **out)
{
	json_t *arr = json_array(), *next = json_null();
	long long n = LIST_DEFAULT;
	char *end;
	size_t i;

	if (limit) {
		n = strtoll(limit, &end, 10);
		if (*end || end == limit || n < 1 || n > LIST_MAX) {
			json_decref(arr);
			return api_error(out, 400, "invalid_parameter", "limit",
			                 "limit must be a number from 1 to %d",
			                 LIST_MAX);
		}
	}
	pthread_mutex_lock(&S.lock);
	/* A page costs a lookup and its rows, whatever the number of
	 * subscriptions: the registry is in id order. */
	for (i = cursor ? hkd_sub_after(cursor) : 0;
	     i < S.n && json_array_size(arr) < (size_t)n; i++)
		json_array_append_new(arr, public_view(S.v[i]->doc, 0));
	if (i < S.n && i > 0)
		next = json_string(S.v[i - 1]->id);
	pthread_mutex_unlock(&S.lock);
	*out =
	    json_pack("{s:o, s:o}", "subscriptions", arr, "nextCursor", next);
	return *out ? 200
	            : api_error(out, 503, "unavailable", NULL, "out of memory");
}

int hkd_subs_api_get(const char *id, json_t **out)
{
	struct sub *s = hkd_sub_get(id);
	if (!s)
		return api_error(out, 404, "not_found", NULL,
		                 "no subscription with id '%s'", id);
	*out = public_view(s->doc, 0);
	hkd_sub_unref(s);
	return 200;
}

int hkd_subs_api_update(const char *id, const json_t *req,
                        const struct hkd_config *cfg, json_t **out)
{
	struct sub *s;
	json_t *doc, *plain;
	int rc, rotated;
	if (!S.http)
		return api_error(out, 503, "unavailable", NULL, "%s",
		                 S.http_error);
	pthread_mutex_lock(&S.write_lock);
	s = hkd_sub_get(id);
	if (!s) {
		rc = api_error(out, 404, "not_found", NULL,
		               "no subscription with id '%s'", id);
		goto out;
	}
	doc = json_deep_copy(s->doc);
	hkd_sub_unref(s);
	plain = unmask(req, doc);
	if (!doc || !plain) {
		json_decref(doc);
		json_decref(plain);
		rc = api_error(out, 503, "unavailable", NULL, "out of memory");
		goto out;
	}
	rc = apply(doc, plain, cfg, 0, out);
	json_decref(plain);
	if (rc != 0) {
		json_decref(doc);
		goto out;
	}
	rotated = json_is_true(json_object_get(req, "rotateSecret")) ||
	          json_object_get(req, "secret");
	rc = commit(doc, 200, rotated, out);
	if (rc == 200)
		hkd_log_kv(HOOKD_LOG_INFO, "subscription", "id", id, "detail",
		           rotated ? "updated, secret rotated" : "updated",
		           NULL);
out:
	pthread_mutex_unlock(&S.write_lock);
	return rc;
}

int hkd_subs_api_delete(const char *id, json_t **out)
{
	struct sub *old = NULL;
	int rc;
	pthread_mutex_lock(&S.write_lock);
	rc = hkd_store_sub_delete(S.store, id);
	if (rc != HKD_STORE_OK) {
		pthread_mutex_unlock(&S.write_lock);
		if (rc == HKD_STORE_NOT_FOUND)
			return api_error(out, 404, "not_found", NULL,
			                 "no subscription with id '%s'", id);
		return api_error(
		    out, 503, "store_unavailable", NULL,
		    "the subscription could not be deleted; retry later");
	}
	pthread_mutex_lock(&S.lock);
	if ((old = hkd_sub_find(id)) != NULL)
		old = hkd_sub_remove_at(old->pos);
	pthread_mutex_unlock(&S.lock);
	pthread_mutex_unlock(&S.write_lock);
	hkd_sub_unref(old);
	hkd_log_kv(HOOKD_LOG_INFO, "subscription", "id", id, "detail",
	           "deleted", NULL);
	*out = json_pack("{s:s, s:s}", "id", id, "message",
	                 "subscription deleted");
	return 200;
}

/*
 * What the http plugin's reason for an attempt says of the receiver's
 * answer (the reasons are in docs/plugins/http.md, Outcomes: "200",
 * "200: <body>" with reason_body, "500: <body>", "410 Gone: <body>",
 * "unexpected status 999: <body>", "301: redirect not followed (…)",
 * "timeout: …", "connect: …"). Returns its HTTP status, or 0 when there
 * was no answer. *excerpt (in reason, borrowed): the start of the body,
 * "" for none; NULL without a status, and for a redirect, whose reason
 * names the Location instead. *head: the length of the reason before the
 * excerpt ("200", "410 Gone").
 */
static long reason_status(const char *reason, const char **excerpt,
                          size_t *head)
{
	const char *p = reason;
	long code = 0;
	int digits = 0;

	*excerpt = NULL;
	*head = strlen(reason);
	if (strncmp(p, "unexpected status ", 18) == 0)
		p += 18;
	for (; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
		code = code * 10 + (*p - '0');
	if (digits == 0)
		return 0;
	if (strncmp(p, " Gone", 5) == 0)
		p += 5;
	if (*p != '\0' && strncmp(p, ": ", 2) != 0)
		return 0;
	if (code >= 300 && code < 400)
		return code;
	*head = (size_t)(p - reason);
	*excerpt = *p ? p + 2 : p;
	return code;
}

/* How long past its deadline a test's outcome is waited for. */
#define PROBE_GRACE_MS 5000

/* Subscription tests running now (see hkd_subs_api_test). */
static atomic_int tests_running;

/* How many tests may run at once: a quarter of the HTTP threads, 1 at least. */
static int test_slot_limit(const struct hkd_config *cfg)
{
	return cfg->http_threads >= 8 ? cfg->http_threads / 4 : 1;
}

/* 1 and a slot taken, or 0 when the limit is reached. */
static int test_slot_take(const struct hkd_config *cfg)
{
	if (atomic_fetch_add(&tests_running, 1) < test_slot_limit(cfg))
		return 1;
	atomic_fetch_sub(&tests_running, 1);
	return 0;
}

static void test_slot_give(void)
{
	atomic_fetch_sub(&tests_running, 1);
}

int hkd_subs_api_test(const char *id, const json_t *req,
                      const struct hkd_config *cfg, json_t **out)
{
	struct sub *cur, *s;
	struct hkd_probe pb;
	struct hookd_result res;
	enum hookd_status st;
	const char *type = NULL, *key, *excerpt, *outcome;
	json_t *data = NULL, *envelope, *v;
	char eid[48], ts[40], err[512], *json;
	size_t head;
	long code;
	int64_t t0;
	double ms;

	if (req && !json_is_object(req))
		return api_error(out, 422, "invalid_request", "",
		                 "the body must be a JSON object");
	json_object_foreach((json_t *)req, key, v)
	{
		if (strcmp(key, "type") == 0 && json_is_string(v) &&
		    hkd_event_type_valid(json_string_value(v))) {
			/* The types a subscription could be delivered, as
			 * create checks them. */
			type = json_string_value(v);
			if (!event_name_ok(cfg, type))
				return unknown_type(out, cfg, "/type", type, 0);
		} else if (strcmp(key, "data") == 0 && json_is_object(v)) {
			data = v;
		} else {
			char *ptr = member_pointer(key);
			int rc = api_error(out, 422, "invalid_request", ptr,
			                   "'%s': the body may have type (an "
			                   "event type) and data (an object)",
			                   key);
			free(ptr);
			return rc;
		}
	}
	if (!type)
		type = cfg->n_types ? cfg->types[0].name : "hookd.test";
	cur = hkd_sub_get(id);
	if (!cur)
		return api_error(out, 404, "not_found", NULL,
		                 "no subscription with id '%s'", id);
	/* The HTTP thread that asked waits for the test, up to
	 * subscriptions.timeout: a quarter of the threads at most, so that
	 * tests cannot take every thread from ingest. */
	if (!test_slot_take(cfg)) {
		hkd_sub_unref(cur);
		return api_error(
		    out, 429, "too_many_tests", NULL,
		    "subscription tests already running: %d, the "
		    "most at once (a quarter of server.threads, at "
		    "least 1); try again when one has ended",
		    test_slot_limit(cfg));
	}
	/* An instance of its own, made from the current document, whose
	 * reason carries the receiver's answer on a 2xx too. */
	s = hkd_sub_make(json_deep_copy(cur->doc), 1, err, sizeof(err));
	hkd_sub_unref(cur);
	if (!s) {
		test_slot_give();
		return api_error(out, 503, "unavailable", NULL, "%s", err);
	}
	if (hkd_new_id("evt_test_", eid, sizeof(eid)) != 0) {
		hkd_sub_unref(s);
		test_slot_give();
		return api_error(out, 503, "unavailable", NULL,
		                 "no randomness");
	}
	hkd_format_time(hkd_now_ms(), ts, sizeof(ts));
	envelope = json_pack("{s:s, s:s, s:s, s:s, s:O}", "id", eid, "type",
	                     type, "timestamp", ts, "source", "test", "data",
	                     data ? data : json_pack("{s:b}", "test", 1));
	if (!data)
		json_decref(json_object_get(envelope, "data"));
	json = json_dumps(envelope, JSON_COMPACT);
	json_decref(envelope);
	memset(&pb, 0, sizeof(pb));
	pb.desc = &S.http->desc;
	pb.state = s->state;
	pb.ev.struct_size = sizeof(pb.ev);
	pb.ev.id = eid;
	pb.ev.type = type;
	pb.ev.source = "test";
	pb.ev.timestamp = ts;
	pb.ev.json = json ? json : "{}";
	pb.ev.json_len = strlen(pb.ev.json);
	pb.ev.attempt = 1;
	pb.ev.deadline_ms = hkd_now_ms() + (int64_t)S.timeout * 1000;
	pb.ev.target = s->id;
	pb.ev.delivery_id = eid;
	/* A test reaches a disabled subscription too: that is how one checks
	 * a receiver before enabling it again. The attempt runs on a worker
	 * and the delivery engine, as a delivery's does; this thread waits. */
	t0 = hkd_mono_us();
	hkd_dispatch_probe(&pb, PROBE_GRACE_MS);
	st = pb.status;
	res = pb.res;
	res.reason[sizeof(res.reason) - 1] = '\0';
	code = reason_status(res.reason, &excerpt, &head);
	/* detail stays what a delivery's attempt would log: on a 2xx, the
	 * status alone. */
	if (st == HOOKD_OK && excerpt)
		res.reason[head] = '\0';
	ms = (double)(hkd_mono_us() - t0) / 1000.0;
	outcome = st == HOOKD_OK ? "ok" : st == HOOKD_RETRY ? "retry" : "fail";
	*out = json_pack(
	    "{s:s, s:s, s:b, s:s, s:f, s:s, s:o, s:s?}", "eventId", eid, "type",
	    type, "success", st == HOOKD_OK, "outcome", outcome, "durationMs",
	    ms, "detail", res.reason, "status",
	    code ? json_integer(code) : json_null(), "response", excerpt);
	free(json);
	hkd_sub_unref(s);
	test_slot_give();
	return 200;
}
