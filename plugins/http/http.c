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
/* An empty result for an attempt's outcome. */
void result_init(struct hookd_result *res)
{
	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
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
