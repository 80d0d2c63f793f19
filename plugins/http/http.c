/*
 * http — deliver each event as an HTTP request.
 *
 * The request goes to a URL template with the method, headers and body
 * the handler's settings give (by default: POST of the event envelope as
 * JSON), signed the Standard Webhooks or the GitHub way when asked. The
 * response decides the outcome: 2xx is HOOKD_OK; 408, 429, 5xx and
 * transport failures (timeouts, refused or dropped connections, DNS) are
 * HOOKD_RETRY with the receiver's Retry-After as a hint; anything else,
 * redirects included (never followed), is HOOKD_FAIL. The reason holds the
 * status and the start of the response body.
 *
 * With ssrf_guard the plugin resolves the host itself, refuses internal
 * addresses (ssrf.c) unless allow_targets lets them through, and pins the
 * checked addresses into curl so a second DNS answer cannot differ.
 *
 * Two ways to send, one request and one verdict: dispatch() performs the
 * transfer on the calling worker thread; dispatch_async() (ABI 1.1) builds
 * the same request on the calling thread and hands it to the instance's
 * event loop, which keeps many transfers in flight with curl's multi
 * interface and completes each attempt through host->complete().
 * request_prepare() (URL, SSRF check and pins, body, headers, signatures),
 * request_arm() (the time limit), set_options() and request_judge() (the
 * outcome) serve both.
 *
 * Threads: an instance is data, read-only after create(), so dispatch()
 * and dispatch_async() run concurrently (HOOKD_PLUGIN_THREADSAFE). The
 * threads and curl handles are the engine's (engine.c), shared by every
 * instance: each worker thread's one easy handle for dispatch(), kept
 * between attempts so connections (and TLS sessions) are reused, and
 * HTTP_ENGINE_LOOPS event loops for dispatch_async(), however many
 * instances there are.
 *
 * The host calls curl_global_init; this file never does.
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

/* Host services, set once by hookd_plugin_entry(). */
const struct hookd_host *host;

const char *const method_names[] = {"POST", "PUT", "PATCH", "GET"};

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

/* An empty result for an attempt's outcome. */
void result_init(struct hookd_result *res)
{
	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
}

/* ---- text clean-up ---------------------------------------------------- */

/*
 * Copy n bytes of foreign text (a response body, a header) into out (size
 * bytes) as one printable line: white space runs become one space, other
 * control characters and malformed UTF-8 become '?', a character cut off
 * at the end is dropped, leading and trailing spaces go. `more` adds
 * "..." (the text went on). Returns strlen(out).
 */
static size_t clean_text(char *out, size_t size, const char *text, size_t n,
                         int more)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t o = 0, i = 0;
	int space = 0;

	if (size == 0)
		return 0;
	while (i < n) {
		size_t k = hkd_utf8_len(p + i, n - i);

		if (k == 0 && hkd_utf8_cut(p + i, n - i))
			break; /* cut short by the window */
		if (k == 1 && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'))) {
			space = o > 0;
			i++;
			continue;
		}
		if (o + (space ? 1 : 0) + (k ? k : 1) + 1 > size)
			break;
		if (space)
			out[o++] = ' ';
		space = 0;
		if (k == 0 || hkd_utf8_control(p + i, k)) {
			out[o++] = '?';
			i += k ? k : 1;
			continue;
		}
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	if (more && o > 0 && o + 4 <= size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}

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
static void http_destroy(void *p)
{
	struct http_state *st = p;

	if (!st)
		return;
	state_free(st);
	engine_release();
}

/* 1 when s has a CR, LF or another byte that cannot go into a header. */
static int bad_header_text(const char *s)
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
static int http_create(const char *instance, const struct hookd_config *cfg,
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

/* ---- per-attempt preparation ------------------------------------------ */

/* The event as query parameters, percent-encoded, for GET. */
static const char get_query[] =
    "id={{id}}&type={{type}}&timestamp={{timestamp}}&source={{source}}"
    "&data={{data}}";

/*
 * The URL of this attempt: the rendered template, and for GET the event
 * appended as query parameters (before a fragment, after an existing
 * query). Returns a malloc'd string (caller frees with free()) or NULL
 * with the reason set.
 */
static char *build_url(const struct http_state *st,
                       const struct hookd_event *ev, struct hookd_result *res)
{
	char *base, *query = NULL, *url = NULL;
	size_t blen, qlen, cut;
	const char *sep;

	base = hkd_render(host, st->url, ev, HOOKD_RENDER_URL, res->reason,
	                  sizeof(res->reason), "url");
	if (!base)
		return NULL;
	if (st->method != METHOD_GET) {
		url = strdup(base);
		if (!url)
			hkd_set_err(res->reason, sizeof(res->reason),
			            "out of memory");
		goto out;
	}
	query = hkd_render(host, get_query, ev, HOOKD_RENDER_URL, res->reason,
	                   sizeof(res->reason), "query");
	if (!query)
		goto out;
	blen = strlen(base);
	qlen = strlen(query);
	cut = strcspn(base, "#");
	if (!memchr(base, '?', cut))
		sep = "?";
	else if (base[cut - 1] == '?' || base[cut - 1] == '&')
		sep = "";
	else
		sep = "&";
	url = malloc(blen + qlen + 2);
	if (!url) {
		hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
		goto out;
	}
	snprintf(url, blen + qlen + 2, "%.*s%s%s%s", (int)cut, base, sep, query,
	         base + cut);
out:
	host->free(base);
	if (query)
		host->free(query);
	return url;
}

/* Append one header line; -1 when memory runs out. */
static int add_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return -1;
	*list = l;
	return 0;
}

/* Append "name: value" (or "name;", curl's way to send an empty value). */
static int add_header2(struct curl_slist **list, const char *name,
                       const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = malloc(n);
	int rc;

	if (!line)
		return -1;
	if (*value)
		snprintf(line, n, "%s: %s", name, value);
	else
		snprintf(line, n, "%s;", name);
	rc = add_header(list, line);
	free(line);
	return rc;
}

/*
 * Every request header but User-Agent (a curl option): Content-Type
 * (on every method, a GET without a body too: every request carries the
 * same hookd headers), the rendered `headers`, the signature headers.
 * `body` is what will be sent (n bytes). Returns 0; -1 with the reason set
 * when rendering or memory failed (worth a retry); -2 when a rendered
 * value cannot be a header (this event never will be). The list is the
 * caller's to free either way.
 */
static int build_headers(const struct http_state *st,
                         const struct hookd_event *ev, const char *body,
                         size_t n, struct curl_slist **list,
                         struct hookd_result *res)
{
	char ts[24], gh[HKD_GITHUB_SIG_SIZE];
	int i;
	int64_t now = (int64_t)time(NULL);

	/* curl would add "Expect: 100-continue" to a large body: a round
	 * trip for nothing, and receivers that mishandle it exist. */
	if (add_header(list, "Expect:") < 0)
		goto oom;
	if (add_header(list, st->content_type) < 0)
		goto oom;
	for (i = 0; i < st->nheaders; i++) {
		char *v;

		v = hkd_render(host, st->headers[i].value, ev, HOOKD_RENDER_RAW,
		               res->reason, sizeof(res->reason), "headers: %s",
		               st->headers[i].name);
		if (!v)
			return -1;
		if (bad_header_text(v)) {
			host->free(v);
			hkd_set_err(
			    res->reason, sizeof(res->reason),
			    "headers: %s: the rendered value holds a control "
			    "character (line break?)",
			    st->headers[i].name);
			return -2;
		}
		if (add_header2(list, st->headers[i].name, v) < 0) {
			host->free(v);
			goto oom;
		}
		host->free(v);
	}
	if (st->sign == SIGN_STANDARD) {
		char *sig = hkd_sw_signature_header(st->keys, (size_t)st->nkeys,
		                                    ev->id, now, body, n);

		snprintf(ts, sizeof(ts), "%lld", (long long)now);
		if (!sig)
			goto oom;
		if (add_header2(list, "webhook-id", ev->id) < 0 ||
		    add_header2(list, "webhook-timestamp", ts) < 0 ||
		    add_header2(list, "webhook-signature", sig) < 0) {
			free(sig);
			goto oom;
		}
		free(sig);
	} else if (st->sign == SIGN_GITHUB) {
		if (hkd_github_sign(st->gh_secret, strlen(st->gh_secret), body,
		                    n, gh) < 0 ||
		    add_header2(list, "X-Hub-Signature-256", gh) < 0)
			goto oom;
	}
	return 0;
oom:
	hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
	return -1;
}

/* ---- the SSRF guard --------------------------------------------------- */

/* 1 when an allow_targets CIDR holds ip. */
static int allowed(const struct http_state *st, const struct hkd_ip *ip)
{
	int i;

	for (i = 0; i < st->nallow; i++)
		if (hkd_cidr_contains(&st->allow[i], ip))
			return 1;
	return 0;
}

/*
 * Judge one address: 0 when it may be reached, else -1 with the refusal
 * in the reason ("ssrf: 127.0.0.1 is a loopback address", or for a name
 * "ssrf: localhost resolves to ::1, a loopback address").
 */
static int check_addr(const struct http_state *st, const struct hkd_ip *ip,
                      const char *name, struct hookd_result *res)
{
	char text[HKD_IP_TEXT_MAX];
	enum hkd_ssrf_class cls;

	if (allowed(st, ip))
		return 0;
	cls = hkd_ssrf_classify(ip);
	if (cls == HKD_SSRF_PUBLIC)
		return 0;
	hkd_ip_format(ip, text, sizeof(text));
	if (name)
		hkd_set_err(res->reason, sizeof(res->reason),
		            "ssrf: %s resolves to %s, %s", name, text,
		            hkd_ssrf_class_text(cls));
	else
		hkd_set_err(res->reason, sizeof(res->reason), "ssrf: %s is %s",
		            text, hkd_ssrf_class_text(cls));
	return -1;
}

/* The parts of a URL the guard needs: scheme, host (no brackets), port. */
struct target {
	char scheme[16];
	char name[256];
	long port;
};

/* Parse the URL the way curl will. 0, or -1 with the reason set. */
static int parse_target(const char *url, struct target *t,
                        struct hookd_result *res)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *name = NULL, *port = NULL;
	CURLUcode uc;
	unsigned flags = 0;
	size_t len;
	int ret = -1;

	if (!u) {
		hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
		return -1;
	}
#ifdef CURLU_PUNYCODE
	flags |= CURLU_PUNYCODE; /* the name curl resolves, for the pin */
#endif
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_HOST, &name, flags);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	if (uc != CURLUE_OK) {
#if LIBCURL_VERSION_NUM >= 0x075000
		hkd_set_err(res->reason, sizeof(res->reason), "url: %s",
		            curl_url_strerror(uc));
#else
		hkd_set_err(res->reason, sizeof(res->reason),
		            "url: cannot be parsed (error %d)", (int)uc);
#endif
		goto out;
	}
	len = strlen(name);
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		name[len - 1] = '\0';
		memmove(name, name + 1, len - 1);
	}
	if (strlen(scheme) >= sizeof(t->scheme) ||
	    strlen(name) >= sizeof(t->name)) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "url: host name too long");
		goto out;
	}
	snprintf(t->scheme, sizeof(t->scheme), "%s", scheme);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->port = strtol(port, NULL, 10);
	ret = 0;
out:
	curl_free(scheme);
	curl_free(name);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

/*
 * The SSRF guard for one attempt: resolve the URL's host, refuse it when
 * any address is internal and not allowed, else pin the checked addresses
 * (*pins, for CURLOPT_RESOLVE; stays NULL for a literal address, which
 * curl does not resolve). HOOKD_OK to go on; HOOKD_FAIL for a refusal;
 * HOOKD_RETRY when the name does not resolve now. The list is the
 * caller's to free with curl_slist_free_all either way.
 */
static enum hookd_status guard(const struct http_state *st, const char *url,
                               struct curl_slist **pins,
                               struct hookd_result *res)
{
	struct addrinfo hints, *ai = NULL, *p;
	struct hkd_ip ip, seen[HTTP_MAX_ADDRS];
	struct target t;
	char line[64 + 256 + HTTP_MAX_ADDRS * (HKD_IP_TEXT_MAX + 3)];
	size_t len;
	int nseen = 0, rc, i;
	enum hookd_status status = HOOKD_FAIL;

	if (parse_target(url, &t, res) < 0)
		return HOOKD_FAIL;
	if (strcasecmp(t.scheme, "http") != 0 &&
	    strcasecmp(t.scheme, "https") != 0) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "ssrf: scheme %s is not http or https", t.scheme);
		return HOOKD_FAIL;
	}
	if (hkd_ip_parse(t.name, &ip) == 0)
		return check_addr(st, &ip, NULL, res) == 0 ? HOOKD_OK
		                                           : HOOKD_FAIL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(t.name, NULL, &hints, &ai);
	if (rc != 0) {
		hkd_set_err(
		    res->reason, sizeof(res->reason), "dns: %s: %s", t.name,
		    rc == EAI_SYSTEM ? hkd_errtext(errno) : gai_strerror(rc));
		return HOOKD_RETRY;
	}
	len = (size_t)snprintf(line, sizeof(line), "%s:%ld:", t.name, t.port);
	for (p = ai; p; p = p->ai_next) {
		char text[HKD_IP_TEXT_MAX];
		int dup = 0;

		if (hkd_ip_from_sockaddr(p->ai_addr, &ip) < 0)
			continue;
		for (i = 0; i < nseen; i++)
			if (seen[i].family == ip.family &&
			    memcmp(seen[i].b, ip.b, sizeof(ip.b)) == 0)
				dup = 1;
		if (dup)
			continue;
		/* Every address is checked, pinned or not. */
		if (check_addr(st, &ip, t.name, res) < 0)
			goto out;
		if (nseen == HTTP_MAX_ADDRS)
			continue;
		seen[nseen++] = ip;
		hkd_ip_format(&ip, text, sizeof(text));
		len +=
		    (size_t)snprintf(line + len, sizeof(line) - len,
		                     ip.family == AF_INET6 ? "%s[%s]" : "%s%s",
		                     nseen > 1 ? "," : "", text);
	}
	if (nseen == 0) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "dns: %s has no IPv4 or IPv6 address", t.name);
		status = HOOKD_RETRY;
		goto out;
	}
	{
		/* Drop what an earlier attempt pinned (older curls keep the
		 * first entry for a name), then pin what was checked now. */
		char drop[300];

		snprintf(drop, sizeof(drop), "-%s:%ld", t.name, t.port);
		if (add_header(pins, drop) < 0 || add_header(pins, line) < 0) {
			hkd_set_err(res->reason, sizeof(res->reason),
			            "out of memory");
			status = HOOKD_RETRY;
			goto out;
		}
	}
	status = HOOKD_OK;
out:
	freeaddrinfo(ai);
	return status;
}

/* ---- the transfer ----------------------------------------------------- */

/* curl's body callback: keep the first bytes, count the rest. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	size_t n = size * nmemb;

	if (r->kept < sizeof(r->head)) {
		size_t k = sizeof(r->head) - r->kept;

		if (k > n)
			k = n;
		memcpy(r->head + r->kept, p, k);
		r->kept += k;
	}
	r->total += n;
	if (r->total > HTTP_DRAIN_MAX) {
		r->too_big = 1;
		return 0; /* cut the transfer: CURLE_WRITE_ERROR */
	}
	return n;
}

/* If header line p (n bytes) is `name: value`, copy the trimmed value. */
static void take_header(const char *p, size_t n, const char *name, char *out,
                        size_t size)
{
	size_t k = strlen(name);

	if (n <= k || p[k] != ':' || strncasecmp(p, name, k) != 0)
		return;
	p += k + 1;
	n -= k + 1;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' ||
	                 p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	clean_text(out, size, p, n, 0);
}

/* curl's header callback: Retry-After and Location of the final response. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct response *r = arg;
	size_t n = size * nmemb;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): forget the previous one's. */
		r->retry_after[0] = '\0';
		r->location[0] = '\0';
	}
	take_header(p, n, "Retry-After", r->retry_after,
	            sizeof(r->retry_after));
	take_header(p, n, "Location", r->location, sizeof(r->location));
	return n;
}

/*
 * Retry-After (RFC 9110 section 10.2.3) as milliseconds from now: delay
 * seconds or an HTTP date; 0 when absent, malformed or past.
 */
static int64_t retry_after_ms(const char *v)
{
	int64_t secs = 0;
	const char *p;
	time_t when;

	if (!*v)
		return 0;
	for (p = v; *p >= '0' && *p <= '9'; p++)
		if (secs <= HTTP_MAX_RETRY_AFTER_S)
			secs = secs * 10 + (*p - '0');
	if (*p == '\0') {
		if (secs > HTTP_MAX_RETRY_AFTER_S)
			secs = HTTP_MAX_RETRY_AFTER_S;
		return secs * 1000;
	}
	when = curl_getdate(v, NULL);
	if (when < 0)
		return 0;
	secs = (int64_t)when - (int64_t)time(NULL);
	if (secs <= 0)
		return 0;
	if (secs > HTTP_MAX_RETRY_AFTER_S)
		secs = HTTP_MAX_RETRY_AFTER_S;
	return secs * 1000;
}

/*
 * Map a transfer that ended without a usable response. Transient unless
 * the error says the request itself, or hookd's TLS settings, are wrong.
 */
static enum hookd_status judge_error(CURLcode rc, const char *errbuf,
                                     long limit_ms, int by_event,
                                     struct hookd_result *res)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	char secs[32];

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		hkd_format_seconds(secs, sizeof(secs), limit_ms);
		hkd_set_err(res->reason, sizeof(res->reason),
		            "timeout: no complete response within %s%s (%s)",
		            secs, by_event ? ", the event deadline" : "",
		            detail);
		return HOOKD_RETRY;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		hkd_set_err(res->reason, sizeof(res->reason), "dns: %s",
		            detail);
		return HOOKD_RETRY;
	case CURLE_COULDNT_CONNECT:
		hkd_set_err(res->reason, sizeof(res->reason), "connect: %s",
		            detail);
		return HOOKD_RETRY;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
		hkd_set_err(res->reason, sizeof(res->reason), "tls: %s",
		            detail);
		return HOOKD_RETRY;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		hkd_set_err(res->reason, sizeof(res->reason), "request: %s",
		            detail);
		return HOOKD_FAIL;
	default:
		hkd_set_err(res->reason, sizeof(res->reason), "connection: %s",
		            detail);
		return HOOKD_RETRY;
	}
}

/*
 * Map an HTTP status; the reason is "<status>: <start of the body>", for
 * a 2xx the status alone unless `reason_body`.
 */
static enum hookd_status judge_status(CURL *c, long code,
                                      const struct response *r, int reason_body,
                                      struct hookd_result *res)
{
	char body[HTTP_BODY_KEEP + 8], loc[HTTP_LOCATION_MAX];
	const char *where = NULL;
	enum hookd_status status;

	clean_text(body, sizeof(body), r->head, r->kept, r->total > r->kept);
	if (HOOKD_RESULT_HAS(res, status_code))
		res->status_code = (int)code;
	if (code >= 200 && code < 300) {
		if (reason_body && body[0])
			hkd_set_err(res->reason, sizeof(res->reason), "%ld: %s",
			            code, body);
		else
			hkd_set_err(res->reason, sizeof(res->reason), "%ld",
			            code);
		return HOOKD_OK;
	}
	if (code >= 300 && code < 400) {
		/* Never followed: a receiver that moved must be reconfigured,
		 * and following would let it point hookd anywhere. */
		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &where) !=
		        CURLE_OK ||
		    !where)
			where = r->location[0] ? r->location : NULL;
		if (where) {
			clean_text(loc, sizeof(loc), where, strlen(where), 0);
			hkd_set_err(res->reason, sizeof(res->reason),
			            "%ld: redirect not followed (Location: %s)",
			            code, loc);
		} else {
			hkd_set_err(res->reason, sizeof(res->reason),
			            "%ld: redirect not followed (no Location)",
			            code);
		}
		return HOOKD_FAIL;
	}
	if (code == 408 || code == 429 || (code >= 500 && code < 600)) {
		status = HOOKD_RETRY;
		res->retry_after_ms = retry_after_ms(r->retry_after);
	} else {
		status = HOOKD_FAIL;
	}
	if (code < 100 || code >= 600)
		hkd_set_err(res->reason, sizeof(res->reason),
		            "unexpected status %ld%s%s", code,
		            body[0] ? ": " : "", body);
	else if (code == 410)
		hkd_set_err(res->reason, sizeof(res->reason), "410 Gone%s%s",
		            body[0] ? ": " : "", body);
	else
		hkd_set_err(res->reason, sizeof(res->reason), "%ld%s%s", code,
		            body[0] ? ": " : "", body);
	return status;
}

/* ---- the request: one implementation for dispatch and dispatch_async -- */

/* Free what request_prepare() made; req itself is the caller's. */
void request_release(struct request *req)
{
	curl_slist_free_all(req->headers);
	curl_slist_free_all(req->pins);
	if (req->rendered)
		host->free(req->rendered);
	free(req->copy);
	free(req->url);
	free(req->event_id);
	memset(req, 0, sizeof(*req));
}

/*
 * Fix the attempt's time limit: `timeout`, or what is left until the
 * event's deadline when that is sooner. Called when the request is built
 * (nothing is built for an attempt already late) and again just before
 * the transfer starts, so time spent before it counts. 0, or -1 with the
 * reason set when the deadline has passed (a HOOKD_RETRY).
 */
int request_arm(const struct http_state *st, struct request *req,
                struct hookd_result *res)
{
	req->limit_ms = (long)hkd_attempt_limit(
	    st->timeout_ms, req->deadline_ms, &req->by_event);
	if (req->limit_ms <= 0) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "event deadline passed before the request started");
		return -1;
	}
	return 0;
}

/*
 * Build everything one attempt sends from the event (borrowed): the URL
 * (with the GET query), the SSRF guard's check and pins (a DNS lookup:
 * this may block), the body, the headers with their signatures. `own`
 * copies the envelope too, so the request outlives the event
 * (dispatch_async). Returns 0 when the request is ready; else -1 with
 * *outcome and the reason set. req is reset first; free it with
 * request_release() either way.
 */
static int request_prepare(const struct http_state *st,
                           const struct hookd_event *ev, int own,
                           struct request *req, struct hookd_result *res,
                           enum hookd_status *outcome)
{
	enum hookd_status status;

	memset(req, 0, sizeof(*req));
	*outcome = HOOKD_RETRY;
	req->attempt = ev->attempt;
	req->deadline_ms = ev->deadline_ms;
	req->body = "";
	req->event_id = strdup(ev->id ? ev->id : "");
	if (!req->event_id) {
		hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
		return -1;
	}
	if (request_arm(st, req, res) < 0)
		return -1;
	req->url = build_url(st, ev, res);
	if (!req->url)
		return -1;
	if (st->ssrf_guard) {
		status = guard(st, req->url, &req->pins, res);
		if (status != HOOKD_OK) {
			*outcome = status;
			return -1;
		}
	}
	if (st->method != METHOD_GET) {
		if (st->body) {
			req->rendered = hkd_render(host, st->body, ev,
			                           st->body_mode, res->reason,
			                           sizeof(res->reason), "body");
			if (!req->rendered)
				return -1;
			req->body = req->rendered;
			req->body_len = strlen(req->rendered);
		} else if (ev->json && own) {
			req->copy = malloc(ev->json_len + 1);
			if (!req->copy) {
				hkd_set_err(res->reason, sizeof(res->reason),
				            "out of memory");
				return -1;
			}
			memcpy(req->copy, ev->json, ev->json_len);
			req->copy[ev->json_len] = '\0';
			req->body = req->copy;
			req->body_len = ev->json_len;
		} else if (ev->json) {
			req->body = ev->json;
			req->body_len = ev->json_len;
		}
	}
	switch (build_headers(st, ev, req->body, req->body_len, &req->headers,
	                      res)) {
	case 0:
		return 0;
	case -2:
		*outcome = HOOKD_FAIL;
		return -1;
	default:
		return -1;
	}
}

/*
 * Point curl at the request: every option. c is new or was reset by
 * handle_forget() when its last transfer ended, so no option of another
 * attempt is left (resetting it here again cost a reset per delivery).
 * req (its lists, buffers and response) must outlive the transfer.
 */
void set_options(const struct http_state *st, CURL *c, struct request *req)
{
	long limit_ms = req->limit_ms;

	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, req->errbuf);
	req->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, limit_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                 st->connect_timeout_ms < limit_ms
	                     ? st->connect_timeout_ms
	                     : limit_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, st->user_agent);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers);
	/* "" turns off the *_proxy environment variables too: where hookd
	 * connects is the configuration's business alone. */
	curl_easy_setopt(c, CURLOPT_PROXY, st->proxy ? st->proxy : "");
	if (req->pins)
		curl_easy_setopt(c, CURLOPT_RESOLVE, req->pins);
	if (st->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, st->ca_file);
	if (st->client_cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, st->client_cert);
	if (st->client_key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, st->client_key);
	if (!st->verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	switch (st->method) {
	case METHOD_GET:
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		break;
	case METHOD_PUT:
	case METHOD_PATCH:
		/* A POST with another method name: the body goes the same. */
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
		                 method_names[st->method]);
		/* fall through */
	case METHOD_POST:
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)req->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		break;
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &req->resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &req->resp);
}

/*
 * Drop every option of handle c's last transfer — its request is about to
 * be freed, and nothing (not even closing a connection later) may reach
 * it — keeping the caches: connections, TLS sessions, DNS with the pins.
 * Every transfer's handle comes here when it ends: set_options() relies
 * on it.
 */
void handle_forget(CURL *c)
{
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

/*
 * The outcome of a transfer of req on handle c that ended with rc, with
 * the reason (and Retry-After) in res; logged at debug level.
 */
enum hookd_status request_judge(const struct http_state *st, CURL *c,
                                CURLcode rc, const struct request *req,
                                struct hookd_result *res)
{
	enum hookd_status status;
	long code = 0;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	/* A body cut at HTTP_DRAIN_MAX still had a status. */
	if (rc == CURLE_OK ||
	    (rc == CURLE_WRITE_ERROR && req->resp.too_big && code))
		status =
		    judge_status(c, code, &req->resp, st->reason_body, res);
	else
		status = judge_error(rc, req->errbuf, req->limit_ms,
		                     req->by_event, res);
	host->log(st->instance, HOOKD_LOG_DEBUG,
	          "%s attempt %u of event %s: %s (%zu response bytes)",
	          method_names[st->method], req->attempt, req->event_id,
	          res->reason, req->resp.total);
	return status;
}

/*
 * Send the event (borrowed) once, on this thread. The attempt ends by the
 * earlier of `timeout` and the event's deadline.
 */
static enum hookd_status http_dispatch(void *state,
                                       const struct hookd_event *ev,
                                       struct hookd_result *res)
{
	struct http_state *st = state;
	enum hookd_status status;
	struct request req;
	CURL *c;

	if (request_prepare(st, ev, 0, &req, res, &status) < 0)
		goto out;
	status = HOOKD_RETRY;
	c = engine_thread_curl();
	if (!c) {
		hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
		goto out;
	}
	if (request_arm(st, &req, res) < 0)
		goto out;
	set_options(st, c, &req);
	status = request_judge(st, c, curl_easy_perform(c), &req, res);
	/* The handle outlives this call, req does not. */
	handle_forget(c);
out:
	request_release(&req);
	return status;
}

/*
 * Start one attempt of the event (borrowed for this call only) without
 * waiting for the response. The request is built here, on the calling
 * worker thread — the SSRF guard's DNS lookup included, so the loop never
 * blocks on it — and handed to the engine's loop, which completes the
 * attempt through host->complete(). An attempt that ends before it is sent
 * (a template, the guard, the deadline) completes here, inside this call.
 * Returns 0, or -1 to have the host run dispatch() when the loop cannot
 * run.
 */
static int http_dispatch_async(void *state, const struct hookd_event *ev,
                               struct hookd_attempt *attempt)
{
	struct http_state *st = state;
	struct hookd_result res;
	enum hookd_status status;
	struct transfer *t;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	result_init(&res);
	if (request_prepare(st, ev, 1, &t->req, &res, &status) < 0) {
		request_release(&t->req);
		free(t);
		/* Last: the host may destroy the instance inside it. */
		host->complete(attempt, status, &res);
		return 0;
	}
	t->st = st;
	t->attempt = attempt;
	if (engine_submit(t) < 0) {
		request_release(&t->req);
		free(t);
		return -1;
	}
	return 0;
}

static const struct hookd_config_key http_keys[] = {
    {"url", HOOKD_KEY_STRING, HOOKD_KEY_REQUIRED | HOOKD_KEY_SECRET,
     "http:// or https:// URL; a template, values percent-encoded"},
    {"method", HOOKD_KEY_STRING, 0,
     "POST (default), PUT, PATCH or GET (GET: the event as query "
     "parameters id, type, timestamp, source, data; no body)"},
    {"headers", HOOKD_KEY_GROUP, HOOKD_KEY_SECRET,
     "extra request headers, Name = \"template\""},
    {"body", HOOKD_KEY_STRING, 0,
     "body template (default: the event envelope JSON as stored)"},
    {"body_escape", HOOKD_KEY_STRING, 0,
     "how body placeholders are escaped: json, url or raw (default from "
     "content_type)"},
    {"content_type", HOOKD_KEY_STRING, 0,
     "Content-Type of the body (default application/json)"},
    {"timeout", HOOKD_KEY_INT, 0,
     "seconds for the whole request, retried past it (default 15)"},
    {"connect_timeout", HOOKD_KEY_INT, 0,
     "seconds to connect, TLS included (default 5)"},
    {"ca_file", HOOKD_KEY_STRING, 0,
     "PEM file of CA certificates to trust (default: the system's)"},
    {"client_cert", HOOKD_KEY_STRING, 0,
     "PEM client certificate for mutual TLS"},
    {"client_key", HOOKD_KEY_STRING, 0,
     "PEM private key of client_cert (default: inside client_cert)"},
    {"verify", HOOKD_KEY_BOOL, 0,
     "check the server's certificate and name (default true)"},
    {"proxy", HOOKD_KEY_STRING, HOOKD_KEY_SECRET,
     "proxy URL (default none; *_proxy variables are ignored)"},
    {"sign", HOOKD_KEY_STRING, 0,
     "none (default), standard-webhooks or github"},
    {"secret", HOOKD_KEY_STRING, HOOKD_KEY_SECRET,
     "signing secret: whsec_<base64> for standard-webhooks, any text for "
     "github"},
    {"secrets", HOOKD_KEY_LIST, HOOKD_KEY_SECRET,
     "standard-webhooks secrets during key rotation: one signature each"},
    {"ssrf_guard", HOOKD_KEY_BOOL, 0,
     "refuse loopback, private, link-local and other internal addresses "
     "(default false)"},
    {"allow_targets", HOOKD_KEY_LIST, 0,
     "CIDRs the SSRF guard lets through, e.g. [\"10.1.2.0/24\"]"},
    {"reason_body", HOOKD_KEY_BOOL, 0,
     "the reason of a 2xx attempt holds the start of the response body "
     "too, as a 4xx or 5xx one does (default false)"},
    {.name = NULL},
};

/* The descriptor as built; hookd_plugin_entry() hands out a copy fitted
 * to the host. */
static const struct hookd_plugin http_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "http",
    .version = HTTP_VERSION,
    .description = "send each event as an HTTP request (webhooks), "
                   "optionally signed",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = http_keys,
    .create = http_create,
    .dispatch = http_dispatch,
    .destroy = http_destroy,
    .dispatch_async = http_dispatch_async,
};

/* What hookd_plugin_entry() returned: http_plugin as the host can use it.
 * Written on the host's loading thread, before any instance exists. */
static struct hookd_plugin http_desc;

/*
 * Keep the host table; refuse a host whose table lacks the 1.0 services.
 * A host without complete() (ABI 1.0) gets no dispatch_async, and the
 * 1.0 minor version it accepts: that host refuses a plugin "newer" than
 * itself, though this one then needs nothing newer.
 */
HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	if (!hkd_host_usable(h))
		return NULL;
	host = h;
	http_desc = http_plugin;
	if (h->struct_size <
	    offsetof(struct hookd_host, complete) + sizeof(h->complete)) {
		http_desc.dispatch_async = NULL;
		if (h->abi_minor < http_desc.abi_minor)
			http_desc.abi_minor = h->abi_minor;
	}
	return &http_desc;
}
