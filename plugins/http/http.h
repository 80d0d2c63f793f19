/*
 * The http plugin's parts and what they share: http.c (the plugin's entry
 * points), http_conf.c (an instance from its settings), request.c (one
 * attempt's request and its verdict) and engine.c (the event loops every
 * instance shares, and the synchronous path's handles).
 */
#ifndef HKD_HTTP_H
#define HKD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include <hookd/plugin.h>

#include "sign.h"
#include "ssrf.h"

#define HTTP_VERSION                 "0.1.0"
#define HTTP_DEFAULT_TIMEOUT         15
#define HTTP_DEFAULT_CONNECT_TIMEOUT 5
#define HTTP_MAX_TIMEOUT             3600 /* an hour: longer is a mistake */
#define HTTP_DEFAULT_CONTENT_TYPE    "application/json"
/* Bytes of the response body shown in a reason. */
#define HTTP_BODY_KEEP 200
/* Response bytes read (and thrown away) to keep the connection reusable;
 * past this the transfer is cut and the status alone decides. */
#define HTTP_DRAIN_MAX (1024 * 1024)
/* Longest Location kept from a redirect. */
#define HTTP_LOCATION_MAX 256
/* Most keys in `secrets`: each adds a 47-byte signature to the header. */
#define HTTP_MAX_SECRETS 16
/* Most addresses of one name checked and pinned by the SSRF guard. */
#define HTTP_MAX_ADDRS 16
/* Cap for a Retry-After hint (the dispatcher caps it too). */
#define HTTP_MAX_RETRY_AFTER_S (24 * 3600)
/* Connections an event loop opens to one host at most; further transfers
 * wait inside curl for one to come free (HTTP/2 multiplexes on them). Every
 * handler and subscription sending to the host shares them, each held to
 * its own concurrency (adaptive for subscriptions): as many as the loop
 * has transfers in curl. */
#define HTTP_MAX_HOST_CONNECTIONS HTTP_LOOP_ACTIVE
/* Transfers an event loop has in curl at once; more wait in the loop,
 * without an easy handle, in the order they came (their time limit starts
 * when they do). */
#define HTTP_LOOP_ACTIVE 512
/* Idle easy handles the event loop keeps for the next transfers. */
#define HTTP_POOL_MAX 64
/* The loop ends a transfer itself this long after its time limit, should
 * curl not have (curl's own timeout normally comes first, also for a
 * transfer still waiting for a connection): the attempt must end by the
 * event's deadline whatever a curl version does. */
#define HTTP_WATCHDOG_GRACE_MS 200
/* Longest sleep of the loop with nothing due (a new attempt wakes it). */
#define HTTP_LOOP_IDLE_MS 1000

/* Host services, set once by hookd_plugin_entry() (http.c). */
extern const struct hookd_host *host;

enum http_method { METHOD_POST, METHOD_PUT, METHOD_PATCH, METHOD_GET };

extern const char *const method_names[4]; /* by enum http_method */

enum http_sign { SIGN_NONE, SIGN_STANDARD, SIGN_GITHUB };

/* What came back, filled by curl's callbacks during one transfer. */
struct response {
	char head[HTTP_BODY_KEEP]; /* first bytes of the body */
	size_t kept;
	size_t total; /* body bytes received */
	int too_big;  /* the transfer was cut at HTTP_DRAIN_MAX */
	char retry_after[64];
	char location[HTTP_LOCATION_MAX];
};

/*
 * One attempt's request and what came back. Built by request_prepare() on
 * the thread that dispatches, read (and the response written) by curl
 * during the transfer, freed by request_release(). The synchronous path
 * keeps it on its stack; the asynchronous one in a struct transfer.
 */
struct request {
	char *event_id;      /* copy of event->id, for the log line */
	unsigned attempt;    /* event->attempt */
	int64_t deadline_ms; /* event->deadline_ms; 0: none */
	char *url;           /* rendered, GET query added (free) */
	const char *body;    /* what is sent: rendered, copy, envelope or "" */
	size_t body_len;
	char *rendered; /* output of the body template (host->free) */
	char *copy;     /* the envelope, copied for dispatch_async (free) */
	struct curl_slist *headers; /* every header but User-Agent */
	struct curl_slist *pins;    /* CURLOPT_RESOLVE of the SSRF guard */
	long limit_ms; /* CURLOPT_TIMEOUT_MS, set by request_arm() */
	int by_event;  /* limit_ms is what the event's deadline left */
	char errbuf[CURL_ERROR_SIZE];
	struct response resp;
};

/*
 * One asynchronous attempt. Made by dispatch_async() on a worker thread
 * and handed to one of the engine's loops (engine.c) through its queue;
 * from then on only that loop's thread touches it, until the loop frees it
 * and completes the attempt.
 */
struct transfer {
	const struct http_state *st; /* whose attempt; outlives it */
	struct request req;
	struct hookd_attempt *attempt; /* the host's token for complete() */
	CURL *curl;                    /* set while in the multi handle */
	int64_t give_up;               /* monotonic ms the watchdog ends it */
	struct transfer *prev, *next;  /* the queue (next only) or `active` */
};

/*
 * One handler instance (a configured handler, or one subscription): data
 * only, no thread, lock or key of its own. Written by create() on the main
 * thread; afterwards read-only for every dispatch() and dispatch_async()
 * thread. Strings marked borrowed come from cfg, valid until destroy().
 */
struct http_state {
	char *instance;  /* handler name, for log lines (owned) */
	const char *url; /* template (borrowed) */
	enum http_method method;
	int nheaders;
	struct hkd_conf_entry *headers; /* name = template: array owned */
	const char *body;               /* template, or NULL: the envelope */
	enum hookd_render_mode body_mode;
	char *content_type; /* "Content-Type: ..." header line (owned) */
	char *user_agent;   /* "hookd/<version>" (owned) */
	long timeout_ms;
	long connect_timeout_ms;
	const char *ca_file, *client_cert, *client_key; /* borrowed or NULL */
	int verify;
	const char *proxy; /* borrowed; NULL: no proxy at all */
	enum http_sign sign;
	int nkeys;
	struct hkd_sw_key *keys; /* standard-webhooks keys (owned, wiped) */
	const char *gh_secret;   /* github secret (borrowed) */
	int ssrf_guard;
	int nallow;
	struct hkd_cidr *allow; /* allow_targets (owned) */
	int reason_body; /* a 2xx reason holds the start of the body too */
};

/* http_conf.c: an instance from its settings, and freed. */
int http_create(const char *instance, const struct hookd_config *cfg,
                void **state, char *err, size_t errlen);
void http_destroy(void *state);
/* 1 when s has a CR, LF or another byte that cannot go into a header. */
int bad_header_text(const char *s);

/* request.c: one request, for both paths. request_prepare builds it from
 * the event (own: copy the envelope, for the engine); 0, or -1 with
 * *outcome and the reason set. */
int request_prepare(const struct http_state *st, const struct hookd_event *ev,
                    int own, struct request *req, struct hookd_result *res,
                    enum hookd_status *outcome);
void request_release(struct request *req);
int request_arm(const struct http_state *st, struct request *req,
                struct hookd_result *res);
void set_options(const struct http_state *st, CURL *c, struct request *req);
void handle_forget(CURL *c);
enum hookd_status request_judge(const struct http_state *st, CURL *c,
                                CURLcode rc, const struct request *req,
                                struct hookd_result *res);
void result_init(struct hookd_result *res);

/*
 * engine.c: the delivery engine. HTTP_ENGINE_LOOPS event-loop threads,
 * whatever the number of instances, each with one curl multi handle (its
 * connection cache: keep-alive and HTTP/2 across every instance's
 * attempts to a host). Attempts go to the loops in turn.
 * The loops start with the first asynchronous attempt and end when the
 * last instance is destroyed.
 */
#define HTTP_ENGINE_LOOPS 2

/* An instance was made / is being destroyed (the engine counts them). */
void engine_hold(void);
void engine_release(void);
/* Hand t to its loop (steals t on success). 0, or -1 when the engine
 * cannot run (no thread, no memory): the host then runs dispatch(). */
int engine_submit(struct transfer *t);
/* The calling thread's easy handle for dispatch(), kept for its next
 * attempts (its connections); NULL when memory runs out. */
CURL *engine_thread_curl(void);

#endif
