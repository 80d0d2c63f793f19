/*
 * One attempt's request, for both paths (dispatch and the engine): the URL,
 * headers, body and signatures built from the event, the SSRF guard with
 * its pins, curl's options, what came back and the verdict on it.
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
int request_prepare(const struct http_state *st, const struct hookd_event *ev,
                    int own, struct request *req, struct hookd_result *res,
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
