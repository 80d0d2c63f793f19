/*
 * hookctl's HTTP client: one request to hookd's API, its answer, and the
 * messages for whatever went wrong (hookd unreachable, too slow, or
 * refusing with its JSON error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hookctl.h"

/* Answers larger than this are refused: hookd's pages are far smaller. */
#define BODY_MAX (64u << 20)

/* How much of an answer that is not JSON an error message quotes. */
#define SNIPPET_MAX 200

/* Collects the body of an answer. */
struct body_buf {
	char *p;
	size_t len, cap;
	int too_large;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body_buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n + 1 > BODY_MAX) {
		b->too_large = 1;
		return 0; /* makes libcurl fail with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Keeps the Retry-After header (of the last header block) in r. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ctl_reply *r = arg;
	size_t n = size * nmemb, name = sizeof("Retry-After:") - 1, k = 0;
	if (n > name && strncasecmp(data, "Retry-After:", name) == 0) {
		const char *v = data + name;
		size_t left = n - name;
		while (left > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			left--;
		}
		while (k < left && k + 1 < sizeof(r->retry_after) &&
		       v[k] != '\r' && v[k] != '\n')
			k++;
		memcpy(r->retry_after, v, k);
		r->retry_after[k] = '\0';
	}
	return n;
}

/*
 * url without a `user:password@` part, for messages (the address may
 * carry credentials too). Caller frees; NULL when out of memory.
 */
static char *display_url(const char *url)
{
	const char *host = strstr(url, "://"), *at, *end;
	char *out;
	if (!host)
		return strdup(url);
	host += 3;
	end = host + strcspn(host, "/");
	at = memchr(host, '@', (size_t)(end - host));
	if (!at)
		return strdup(url);
	if (asprintf(&out, "%.*s%s", (int)(host - url), url, at + 1) < 0)
		return NULL;
	return out;
}

/* Report an HTTP answer that is not a success. */
static void report_refusal(const struct ctl *c, const char *url,
                           const struct ctl_reply *r)
{
	const char *code = ctl_str(r->json, "error");
	const char *msg = ctl_str(r->json, "message");
	const char *field = ctl_str(r->json, "field");
	char *pmsg, *pfield, *retry;
	int seconds;

	if (!*code && !*msg) {
		char snippet[SNIPPET_MAX + 1];
		char *p;
		snprintf(snippet, sizeof(snippet), "%s",
		         r->body ? r->body : "");
		p = ctl_printable(snippet, 0);
		ctl_err("HTTP %ld from %s%s%s", r->status, url,
		        p && *p ? ": " : "", p ? p : "");
		free(p);
		return;
	}
	pmsg = ctl_printable(msg, 0);
	pfield = ctl_printable(field, 0);
	retry = ctl_printable(r->retry_after, 0);
	/* Retry-After is seconds from hookd; an HTTP date from a proxy. */
	seconds = retry && *retry && !retry[strspn(retry, "0123456789")];
	ctl_err("HTTP %ld %s: %s%s%s%s%s%s%s", r->status,
	        *code ? code : "error", pmsg ? pmsg : "",
	        *field ? " (field " : "", pfield ? pfield : "",
	        *field ? ")" : "", *r->retry_after ? "; retry after " : "",
	        *r->retry_after && retry ? retry : "", seconds ? " s" : "");
	if (r->status == 401 && !c->set.api_key)
		ctl_err("no API key was given (--api-key, HOOKD_API_KEY or "
		        "api_key in the configuration file)");
	free(pmsg);
	free(pfield);
	free(retry);
}

/* Report a request that got no answer. */
static void report_failure(const struct ctl *c, const char *url, CURLcode rc,
                           const char *errbuf, int too_large)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		ctl_err("no answer from %s within %g s (see --timeout)", url,
		        c->set.timeout);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		ctl_err("cannot reach %s: %s", url, why);
		break;
	default:
		if (too_large)
			ctl_err("the answer from %s is larger than %u MiB", url,
			        BODY_MAX >> 20);
		else
			ctl_err("request to %s failed: %s", url, why);
	}
}

/* --timeout in libcurl's terms: 0 is no limit, so round up to 1 ms. */
static long timeout_ms(double seconds)
{
	long ms = (long)(seconds * 1000.0);
	return seconds > 0 && ms < 1 ? 1 : ms;
}

/*
 * The request headers; NULL when out of memory. Caller frees the list.
 * Every request but a GET says Content-Type: application/json, body or
 * not: hookd refuses a state-changing call that has neither that nor a key
 * (a cross-site form cannot send it).
 */
static struct curl_slist *request_headers(const struct ctl *c,
                                          int changes_state)
{
	struct curl_slist *h = NULL, *next;
	char *key = NULL;
	const char *fixed[] = {
	    "Accept: application/json",
	    /* hookd answers at once: no 100-continue */
	    "Expect:", changes_state ? "Content-Type: application/json" : NULL};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!fixed[i])
			continue;
		if (!(next = curl_slist_append(h, fixed[i])))
			goto fail;
		h = next;
	}
	if (c->set.api_key) {
		if (asprintf(&key, "x-api-key: %s", c->set.api_key) < 0) {
			key = NULL;
			goto fail;
		}
		next = curl_slist_append(h, key);
		explicit_bzero(key, strlen(key));
		free(key);
		if (!next)
			goto fail;
		h = next;
	}
	return h;
fail:
	curl_slist_free_all(h);
	return NULL;
}

int ctl_call(struct ctl *c, const char *method, const char *path,
             const json_t *body, struct ctl_reply *r)
{
	struct body_buf buf = {NULL, 0, 0, 0};
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url = NULL, *shown = NULL;
	char *payload = NULL;
	int send_body =
	    strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0;
	json_error_t jerr;
	CURLcode rc;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (asprintf(&url, "%s%s", c->set.url, path) < 0) {
		url = NULL;
		goto oom;
	}
	if (!(shown = display_url(url)))
		goto oom;
	if (body && !(payload = json_dumps(body, JSON_COMPACT)))
		goto oom;
	if (!(hdrs = request_headers(c, strcmp(method, "GET") != 0)))
		goto oom;

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS,
	                 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS,
	                 timeout_ms(c->set.timeout));
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT,
	                 "hookctl/" PACKAGE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
	if (send_body) {
		/* POST with an empty body when there is none (the retries). */
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		                 payload ? payload : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
		                 (long)(payload ? strlen(payload) : 0));
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);

	rc = curl_easy_perform(c->curl);
	r->body = buf.p;
	r->len = buf.len;
	buf.p = NULL;
	if (rc != CURLE_OK) {
		report_failure(c, shown, rc, errbuf, buf.too_large);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body)
		r->json = json_loadb(r->body, r->len, JSON_DECODE_ANY, &jerr);
	if (r->status < 200 || r->status > 299) {
		report_refusal(c, shown, r);
		goto out;
	}
	if (!json_is_object(r->json)) {
		ctl_err("the answer from %s is not a JSON object (HTTP %ld)",
		        shown, r->status);
		goto out;
	}
	ret = 0;
	goto out;
oom:
	ctl_err("out of memory");
out:
	curl_slist_free_all(hdrs);
	free(payload);
	free(shown);
	free(url);
	free(buf.p);
	return ret;
}

void ctl_reply_release(struct ctl_reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

int ctl_request(struct ctl *c, const char *method, const char *path,
                const json_t *body, struct ctl_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (!path) {
		ctl_err("out of memory");
		return CTL_EXIT_API;
	}
	if (ctl_call(c, method, path, body, r) != 0)
		return CTL_EXIT_API;
	if (c->set.json)
		ctl_print_raw(r);
	return CTL_EXIT_OK;
}

char *ctl_escape(struct ctl *c, const char *s)
{
	return curl_easy_escape(c->curl, s, 0);
}

char *ctl_path(struct ctl *c, const char *prefix, const char *id,
               const char *suffix)
{
	char *esc = ctl_escape(c, id), *path = NULL;
	if (esc && asprintf(&path, "%s%s%s", prefix, esc, suffix) < 0)
		path = NULL;
	curl_free(esc);
	return path;
}

void ctl_print_raw(const struct ctl_reply *r)
{
	if (r->len > 0)
		fwrite(r->body, 1, r->len, stdout);
	if (r->len == 0 || r->body[r->len - 1] != '\n')
		putchar('\n');
}
