/*
 * The http plugin's settings: an instance made from a handler's (or a
 * subscription's) configuration, every key checked, and freed again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <hookd/plugin.h>

#include "clock.h"
#include "errmsg.h"
#include "http.h"
#include "pluginkit.h"
#include "utf8.h"

/* Headers hookd sets itself; `headers` may not name them. */
static const char *const reserved_headers[] = {
    "Content-Type",
    "User-Agent",
    "Content-Length",
    "Transfer-Encoding",
    "Host",
    "Connection",
    "Expect",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Hub-Signature-256",
};

/* ---- create / destroy ------------------------------------------------- */

/*
 * Free an instance and everything it owns (also a half-made one, from a
 * create() that failed).
 */
static void state_free(struct http_state *st)
{
	if (st->keys) {
		OPENSSL_cleanse(st->keys,
		                (size_t)st->nkeys * sizeof(*st->keys));
		free(st->keys);
	}
	free(st->allow);
	free(st->headers);
	free(st->content_type);
	free(st->user_agent);
	free(st->instance);
	free(st);
}

/*
 * Release an instance. The host completed its every attempt first, so no
 * transfer of it is left in the engine; the last instance stops the
 * engine's loops.
 */
void http_destroy(void *p)
{
	struct http_state *st = p;

	if (!st)
		return;
	state_free(st);
	engine_release();
}

/* 1 when s has a CR, LF or another byte that cannot go into a header. */
int bad_header_text(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return 1;
		else if (*s == 0x7F)
			return 1;
	return 0;
}

/*
 * `url`: a valid template whose literal text starts with http:// or
 * https://, so no event can choose the scheme.
 */
static int read_url(struct http_state *st, const struct hookd_config *cfg,
                    char *err, size_t errlen)
{
	st->url = hkd_conf_string(host, cfg, "url");
	if (!st->url) {
		hkd_set_err(err, errlen, "url is required");
		return -1;
	}
	/* Not quoted: url is a secret (credentials, a token in the path). */
	if (strncasecmp(st->url, "http://", 7) != 0 &&
	    strncasecmp(st->url, "https://", 8) != 0) {
		hkd_set_err(err, errlen,
		            "url must start with http:// or https://");
		return -1;
	}
	return hkd_check_template(host, st->url, err, errlen, "url");
}

/* `method`: POST (default), PUT, PATCH or GET, in any case. */
static int read_method(struct http_state *st, const struct hookd_config *cfg,
                       char *err, size_t errlen)
{
	const char *m = hkd_conf_string(host, cfg, "method");
	size_t i;

	st->method = METHOD_POST;
	if (!m)
		return 0;
	for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		if (strcasecmp(m, method_names[i]) == 0) {
			st->method = (enum http_method)i;
			return 0;
		}
	}
	hkd_set_err(err, errlen,
	            "method '%s' is not supported (POST, PUT, PATCH or GET)",
	            m);
	return -1;
}

/* 1 when name is an HTTP token (RFC 9110 section 5.6.2). */
static int valid_header_name(const char *name)
{
	const char *p;

	if (!*name)
		return 0;
	for (p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *p)))
			return 0;
	return 1;
}

/* `headers`: Name = "template" entries, none hookd sets itself. */
static int read_headers(struct http_state *st, const struct hookd_config *cfg,
                        char *err, size_t errlen)
{
	int i;
	size_t r;

	if (hkd_conf_group(host, cfg, "headers", &st->headers, &st->nheaders,
	                   err, errlen) < 0)
		return -1;
	for (i = 0; i < st->nheaders; i++) {
		const char *name = st->headers[i].name;
		const char *val = st->headers[i].value;

		if (!valid_header_name(name)) {
			hkd_set_err(err, errlen,
			            "headers: '%s' is not a valid header name",
			            name);
			return -1;
		}
		for (r = 0;
		     r < sizeof(reserved_headers) / sizeof(reserved_headers[0]);
		     r++) {
			if (strcasecmp(name, reserved_headers[r]) == 0) {
				hkd_set_err(
				    err, errlen,
				    "headers: %s is set by hookd and cannot be "
				    "overridden%s",
				    name,
				    strcasecmp(name, "Content-Type") == 0
				        ? " (use content_type)"
				        : "");
				return -1;
			}
		}
		if (bad_header_text(val)) {
			hkd_set_err(
			    err, errlen,
			    "headers: %s: the value holds a control character "
			    "(line break?)",
			    name);
			return -1;
		}
		if (hkd_check_template(host, val, err, errlen, "headers: %s",
		                       name) < 0)
			return -1;
	}
	return 0;
}

/* 1 when a media type is JSON: application/json or any "+json" type. */
static int is_json_type(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/*
 * `content_type` (default application/json), `body` (a template; default
 * the envelope) and `body_escape` (how the body's placeholders are
 * escaped; default from the content type).
 */
static int read_body(struct http_state *st, const struct hookd_config *cfg,
                     char *err, size_t errlen)
{
	const char *ct = hkd_conf_string(host, cfg, "content_type");
	const char *esc = hkd_conf_string(host, cfg, "body_escape");
	size_t n;

	if (!ct)
		ct = HTTP_DEFAULT_CONTENT_TYPE;
	if (!*ct || bad_header_text(ct)) {
		hkd_set_err(err, errlen,
		            "content_type must be a non-empty media type "
		            "without control characters");
		return -1;
	}
	n = strlen("Content-Type: ") + strlen(ct) + 1;
	st->content_type = malloc(n);
	if (!st->content_type) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	snprintf(st->content_type, n, "Content-Type: %s", ct);

	st->body = hkd_conf_string(host, cfg, "body");
	if (st->body && st->method == METHOD_GET) {
		hkd_set_err(err, errlen,
		            "body is set but method GET sends no body");
		return -1;
	}
	if (esc && !st->body) {
		hkd_set_err(err, errlen,
		            "body_escape is set but there is no body "
		            "template");
		return -1;
	}
	if (st->body &&
	    hkd_check_template(host, st->body, err, errlen, "body") < 0)
		return -1;
	if (!esc)
		st->body_mode = is_json_type(ct) ? HOOKD_RENDER_JSON
		                : strncasecmp(ct,
		                              "application/x-www-form-"
		                              "urlencoded",
		                              33) == 0
		                    ? HOOKD_RENDER_URL
		                    : HOOKD_RENDER_RAW;
	else if (strcmp(esc, "json") == 0)
		st->body_mode = HOOKD_RENDER_JSON;
	else if (strcmp(esc, "url") == 0)
		st->body_mode = HOOKD_RENDER_URL;
	else if (strcmp(esc, "raw") == 0)
		st->body_mode = HOOKD_RENDER_RAW;
	else {
		hkd_set_err(err, errlen,
		            "body_escape '%s' is unknown (json, url or raw)",
		            esc);
		return -1;
	}
	return 0;
}

/* `timeout` (default 15 s) and `connect_timeout` (default 5 s). */
static int read_timeouts(struct http_state *st, const struct hookd_config *cfg,
                         char *err, size_t errlen)
{
	int64_t t = HTTP_DEFAULT_TIMEOUT, c = HTTP_DEFAULT_CONNECT_TIMEOUT;
	int have_c;

	if (host->config_int(cfg, "timeout", &t) == 0 &&
	    (t <= 0 || t > HTTP_MAX_TIMEOUT)) {
		hkd_set_err(err, errlen,
		            "timeout must be 1 to %d seconds, not %lld",
		            HTTP_MAX_TIMEOUT, (long long)t);
		return -1;
	}
	have_c = host->config_int(cfg, "connect_timeout", &c) == 0;
	if (have_c && (c <= 0 || c > HTTP_MAX_TIMEOUT)) {
		hkd_set_err(err, errlen,
		            "connect_timeout must be 1 to %d seconds, not %lld",
		            HTTP_MAX_TIMEOUT, (long long)c);
		return -1;
	}
	if (have_c && c > t) {
		hkd_set_err(
		    err, errlen,
		    "connect_timeout (%lld s) is longer than timeout (%lld s), "
		    "which bounds the whole request",
		    (long long)c, (long long)t);
		return -1;
	}
	if (c > t)
		c = t; /* the default 5 s with a shorter timeout */
	st->timeout_ms = (long)t * 1000;
	st->connect_timeout_ms = (long)c * 1000;
	return 0;
}

/* A readable file for `key`, or an error naming it. */
static int read_file_key(const struct hookd_config *cfg, const char *key,
                         const char **out, char *err, size_t errlen)
{
	*out = hkd_conf_string(host, cfg, key);
	if (!*out)
		return 0;
	if (!**out) {
		hkd_set_err(err, errlen, "%s must not be empty", key);
		return -1;
	}
	if (access(*out, R_OK) < 0) {
		hkd_set_err(err, errlen, "%s '%s': %s", key, *out,
		            hkd_errtext(errno));
		return -1;
	}
	return 0;
}

/* `ca_file`, `client_cert`, `client_key`, `verify`, `proxy`. */
static int read_tls(struct http_state *st, const struct hookd_config *cfg,
                    char *err, size_t errlen)
{
	if (read_file_key(cfg, "ca_file", &st->ca_file, err, errlen) < 0 ||
	    read_file_key(cfg, "client_cert", &st->client_cert, err, errlen) <
	        0 ||
	    read_file_key(cfg, "client_key", &st->client_key, err, errlen) < 0)
		return -1;
	if (st->client_key && !st->client_cert) {
		hkd_set_err(err, errlen,
		            "client_key is set without client_cert");
		return -1;
	}
	st->verify = 1;
	if (host->config_bool(cfg, "verify", &st->verify) < 0)
		st->verify = 1;
	st->proxy = hkd_conf_string(host, cfg, "proxy");
	if (st->proxy && (!*st->proxy || bad_header_text(st->proxy))) {
		hkd_set_err(err, errlen, "proxy must be a non-empty URL");
		return -1;
	}
	return 0;
}

/*
 * `sign` (none, standard-webhooks, github) with `secret` or `secrets`.
 * Standard Webhooks keys are decoded now, so a bad one is a config error.
 */
static int read_sign(struct http_state *st, const struct hookd_config *cfg,
                     char *err, size_t errlen)
{
	char kerr[256];
	const char *sign = hkd_conf_string(host, cfg, "sign");
	const char *secret = hkd_conf_string(host, cfg, "secret");
	int nsecrets = host->config_count(cfg, "secrets");
	int i;

	if (!sign || strcmp(sign, "none") == 0)
		st->sign = SIGN_NONE;
	else if (strcmp(sign, "standard-webhooks") == 0)
		st->sign = SIGN_STANDARD;
	else if (strcmp(sign, "github") == 0)
		st->sign = SIGN_GITHUB;
	else {
		hkd_set_err(
		    err, errlen,
		    "sign '%s' is unknown (none, standard-webhooks or github)",
		    sign);
		return -1;
	}
	if (secret && nsecrets >= 0) {
		hkd_set_err(err, errlen, "set secret or secrets, not both");
		return -1;
	}
	if (st->sign == SIGN_NONE) {
		if (secret || nsecrets >= 0) {
			hkd_set_err(
			    err, errlen,
			    "%s is set but sign is \"none\" (set sign = "
			    "\"standard-webhooks\" or \"github\")",
			    secret ? "secret" : "secrets");
			return -1;
		}
		return 0;
	}
	if (!secret && nsecrets < 0) {
		hkd_set_err(err, errlen, "sign = \"%s\" needs secret%s", sign,
		            st->sign == SIGN_STANDARD ? " or secrets" : "");
		return -1;
	}
	if (st->sign == SIGN_GITHUB) {
		if (!secret) {
			hkd_set_err(
			    err, errlen,
			    "sign = \"github\" takes one secret, not secrets "
			    "(X-Hub-Signature-256 holds one signature)");
			return -1;
		}
		if (!*secret) {
			hkd_set_err(err, errlen, "secret must not be empty");
			return -1;
		}
		st->gh_secret = secret;
		return 0;
	}
	if (nsecrets == 0) {
		hkd_set_err(err, errlen, "secrets must not be empty");
		return -1;
	}
	if (nsecrets > HTTP_MAX_SECRETS) {
		hkd_set_err(err, errlen, "secrets has %d keys; at most %d",
		            nsecrets, HTTP_MAX_SECRETS);
		return -1;
	}
	st->nkeys = secret ? 1 : nsecrets;
	st->keys = calloc((size_t)st->nkeys, sizeof(*st->keys));
	if (!st->keys) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < st->nkeys; i++) {
		const char *s = secret;

		if (!secret &&
		    (host->config_item(cfg, "secrets", i, NULL, &s) < 0 ||
		     !s)) {
			hkd_set_err(err, errlen,
			            "secrets: cannot read element %d", i);
			return -1;
		}
		kerr[0] = '\0';
		if (hkd_sw_key_decode(s, &st->keys[i], kerr, sizeof(kerr)) <
		    0) {
			if (secret)
				hkd_set_err(err, errlen, "secret: %s", kerr);
			else
				hkd_set_err(err, errlen, "secrets[%d]: %s", i,
				            kerr);
			return -1;
		}
	}
	return 0;
}

/* `ssrf_guard` and `allow_targets` (CIDRs, only with the guard). */
static int read_ssrf(struct http_state *st, const struct hookd_config *cfg,
                     char *err, size_t errlen)
{
	char cerr[256];
	int n = host->config_count(cfg, "allow_targets");
	int i;

	if (host->config_bool(cfg, "ssrf_guard", &st->ssrf_guard) < 0)
		st->ssrf_guard = 0;
	if (n < 0)
		return 0;
	if (!st->ssrf_guard) {
		hkd_set_err(
		    err, errlen,
		    "allow_targets is set but ssrf_guard is off (it only makes "
		    "exceptions to the guard)");
		return -1;
	}
	if (n == 0)
		return 0;
	st->allow = calloc((size_t)n, sizeof(*st->allow));
	if (!st->allow) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	st->nallow = n;
	for (i = 0; i < n; i++) {
		const char *s = NULL;

		if (host->config_item(cfg, "allow_targets", i, NULL, &s) < 0 ||
		    !s) {
			hkd_set_err(err, errlen,
			            "allow_targets: cannot read element %d", i);
			return -1;
		}
		cerr[0] = '\0';
		if (hkd_cidr_parse(s, &st->allow[i], cerr, sizeof(cerr)) < 0) {
			hkd_set_err(err, errlen, "allow_targets[%d]: %s", i,
			            cerr);
			return -1;
		}
	}
	return 0;
}

/*
 * Make an instance from the handler's settings. `instance` and `cfg` are
 * borrowed; cfg (and the strings read from it) must stay valid until
 * http_destroy(). Every setting is checked here, so dispatch() only fails
 * on what can change per event or over time.
 */
int http_create(const char *instance, const struct hookd_config *cfg,
                void **state, char *err, size_t errlen)
{
	struct http_state *st = calloc(1, sizeof(*st));
	size_t n;

	if (!st) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	st->instance = strdup(instance ? instance : "http");
	n = strlen("hookd/") + strlen(host->version ? host->version : "") + 1;
	st->user_agent = malloc(n);
	if (!st->instance || !st->user_agent) {
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(st->user_agent, n, "hookd/%s",
	         host->version ? host->version : "");
	if (read_url(st, cfg, err, errlen) < 0 ||
	    read_method(st, cfg, err, errlen) < 0 ||
	    read_headers(st, cfg, err, errlen) < 0 ||
	    read_body(st, cfg, err, errlen) < 0 ||
	    read_timeouts(st, cfg, err, errlen) < 0 ||
	    read_tls(st, cfg, err, errlen) < 0 ||
	    read_sign(st, cfg, err, errlen) < 0 ||
	    read_ssrf(st, cfg, err, errlen) < 0)
		goto fail;
	if (host->config_bool(cfg, "reason_body", &st->reason_body) < 0)
		st->reason_body = 0;
	if (!st->verify)
		host->log(st->instance, HOOKD_LOG_WARN,
		          "verify = false: TLS certificates and host names are "
		          "not checked");
	engine_hold();
	*state = st;
	return 0;
fail:
	state_free(st);
	return -1;
}
