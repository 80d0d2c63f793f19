/*
 * Unit tests of the http plugin's asynchronous path (ABI 1.1
 * dispatch_async): the built http.so is loaded with dlopen() from
 * $HOOKD_PLUGIN_DIR and driven through the unit tests' host
 * (mock_host.h), whose complete() records each outcome here, against a small
 * HTTP server with scripted answers that the program runs in threads of its
 * own on 127.0.0.1 (http_server.h).
 *
 * The synchronous dispatch() runs on the same cases, so both paths are
 * held to one set of outcomes and reasons.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "hookd/plugin.h"
#include "http_server.h"
#include "mock_host.h"

static void *plugin_handle;
static const struct hookd_plugin *plugin;
static hookd_plugin_entry_fn entry;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- a resolver of the test's own ------------------------------------- */

/*
 * getaddrinfo() is defined here, in the test program, so that every
 * lookup of a name goes through it: the plugin's own (the SSRF guard, on
 * the thread that starts the attempt) and curl's (its threaded resolver
 * calls getaddrinfo on a thread of its own). The dynamic linker looks a
 * symbol up in the executable before the libraries that reference it —
 * libcurl, and http.so although it is opened with RTLD_LOCAL — provided
 * the executable exports it: tests/http.am.inc links this program with
 * -export-dynamic, since ld exports on its own only the symbols a library
 * on the link line references (libcurl happens to; http.so, opened at run
 * time, is not on it). Other names go to the C library's getaddrinfo
 * (RTLD_NEXT; under ASan, its interceptor).
 *
 * The fake names answer from `first` on their first lookup and from
 * `later` on the next ones: a DNS rebinding attack, or a name with one
 * internal address among others. Lookups are counted per name under
 * fake_lock (the lookups run on several threads).
 */
#define FAKE_ADDRS 2

/* The http plugin's event loops (HTTP_ENGINE_LOOPS, plugins/http/http.h). */
#define ENGINE_LOOPS 2

struct fake_name {
	const char *name;
	const char *first[FAKE_ADDRS]; /* NULL-terminated when shorter */
	const char *later[FAKE_ADDRS];
	int lookups;
};

static struct fake_name fake_names[] = {
    {"rebind.test", {"127.0.0.1", NULL}, {"127.0.0.2", NULL}, 0},
    {"mixed.test", {"127.0.0.1", "10.0.0.1"}, {"127.0.0.1", "10.0.0.1"}, 0},
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

typedef int getaddrinfo_fn(const char *, const char *, const struct addrinfo *,
                           struct addrinfo **);

static getaddrinfo_fn *real_getaddrinfo(void)
{
	static getaddrinfo_fn *fn;
	getaddrinfo_fn *f;

	pthread_mutex_lock(&fake_lock);
	if (!fn)
		*(void **)(&fn) = dlsym(RTLD_NEXT, "getaddrinfo");
	f = fn;
	pthread_mutex_unlock(&fake_lock);
	return f;
}

/* How many times name was looked up since fake_reset(). */
static int fake_lookups(const char *name)
{
	size_t i;
	int n = -1;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < sizeof(fake_names) / sizeof(fake_names[0]); i++)
		if (strcmp(fake_names[i].name, name) == 0)
			n = fake_names[i].lookups;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

static void fake_reset(void)
{
	size_t i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < sizeof(fake_names) / sizeof(fake_names[0]); i++)
		fake_names[i].lookups = 0;
	pthread_mutex_unlock(&fake_lock);
}

/*
 * The answer for a fake name: each address made by the real getaddrinfo
 * from its numeric text (with the caller's service and hints), the lists
 * chained. glibc's freeaddrinfo() frees a list node by node (each node
 * one allocation with its address), so the caller frees the chain with
 * it as it would any answer.
 */
int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
	getaddrinfo_fn *real = real_getaddrinfo();
	const char *const *addrs = NULL;
	struct addrinfo h, *head = NULL, **tail = &head;
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; node && i < sizeof(fake_names) / sizeof(fake_names[0]); i++)
		if (strcasecmp(fake_names[i].name, node) == 0) {
			addrs = fake_names[i].lookups++ == 0
			            ? fake_names[i].first
			            : fake_names[i].later;
			break;
		}
	pthread_mutex_unlock(&fake_lock);
	if (!addrs)
		return real(node, service, hints, res);

	memset(&h, 0, sizeof(h));
	if (hints) {
		h.ai_family = hints->ai_family;
		h.ai_socktype = hints->ai_socktype;
		h.ai_protocol = hints->ai_protocol;
	}
	h.ai_flags = AI_NUMERICHOST;
	for (i = 0; i < FAKE_ADDRS && addrs[i] && rc == 0; i++) {
		rc = real(addrs[i], service, &h, tail);
		while (rc == 0 && *tail)
			tail = &(*tail)->ai_next;
	}
	if (rc != 0) { /* e.g. the caller asked for IPv6 only */
		if (head)
			freeaddrinfo(head);
		return rc;
	}
	*res = head;
	return 0;
}

/* ---- configuration ---------------------------------------------------- */

/* A configuration for http://HOST_PART:<the server's port>PATH, nothing
 * else set. */
static void cfg_init(struct hookd_config *c, const char *host_part,
                     const char *path)
{
	char url[256];

	snprintf(url, sizeof(url), "http://%s:%d%s", host_part, srv.port, path);
	mock_config_clear(c);
	mock_config_string(c, "url", url);
}

/* ---- complete() ------------------------------------------------------- */

/*
 * The attempt token of the ABI, defined here: what complete() reported.
 * Written under done_lock.
 */
struct hookd_attempt {
	int completions; /* must end at exactly 1 */
	enum hookd_status status;
	char reason[HOOKD_REASON_MAX];
	int64_t retry_after_ms;
	int status_code;
	int after_all_returned; /* every dispatch_async had returned by then */
	pthread_t thread;       /* that called complete() */
	int64_t done_at;        /* mono_ms() of the call */
};

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int ndone;        /* complete() calls so far */
static int all_returned; /* set by a test once its calls returned */
/* When set, complete() destroys this instance (as the host does when the
 * attempt held the last reference to a replaced configuration). */
static void *destroy_in_complete;

static void record_complete(struct hookd_attempt *a, enum hookd_status status,
                            const struct hookd_result *res)
{
	void *victim;

	pthread_mutex_lock(&done_lock);
	a->completions++;
	a->status = status;
	snprintf(a->reason, sizeof(a->reason), "%s", res ? res->reason : "");
	a->retry_after_ms = res ? res->retry_after_ms : 0;
	a->status_code = res ? res->status_code : 0;
	a->after_all_returned = all_returned;
	a->thread = pthread_self();
	a->done_at = mono_ms();
	ndone++;
	victim = destroy_in_complete;
	destroy_in_complete = NULL;
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&done_lock);
	if (victim)
		plugin->destroy(victim);
}

/* ---- helpers ---------------------------------------------------------- */

#define EVENT_JSON                                                             \
	"{\"id\":\"evt_1\",\"type\":\"build.done\","                           \
	"\"timestamp\":\"2026-01-02T03:04:05.000Z\",\"source\":\"api\","       \
	"\"data\":{\"n\":7}}"

static struct hookd_event make_event(void)
{
	struct hookd_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.struct_size = sizeof(ev);
	ev.id = "evt_1";
	ev.type = "build.done";
	ev.source = "api";
	ev.timestamp = "2026-01-02T03:04:05.000Z";
	ev.json = EVENT_JSON;
	ev.json_len = strlen(EVENT_JSON);
	ev.attempt = 1;
	ev.deadline_ms = 0;
	ev.target = "hook";
	ev.delivery_id = "dlv_1";
	return ev;
}

static void *create_ok(const struct hookd_config *cfg)
{
	char err[256] = "";
	void *state = NULL;
	int rc = plugin->create("async-test", cfg, &state, err, sizeof(err));

	ck_assert_msg(rc == 0, "create failed: %s", err);
	return state;
}

static void reset_done(void)
{
	pthread_mutex_lock(&done_lock);
	ndone = 0;
	all_returned = 0;
	destroy_in_complete = NULL;
	pthread_mutex_unlock(&done_lock);
}

/* Wait until complete() ran n times in all; 0, or -1 on timeout. */
static int wait_done(int n, long timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&done_lock);
	while (ndone < n && rc == 0)
		if (pthread_cond_timedwait(&done_cond, &done_lock, &until) ==
		    ETIMEDOUT)
			rc = ndone < n ? -1 : 0;
	pthread_mutex_unlock(&done_lock);
	return rc;
}

static int done_count(void)
{
	int n;

	pthread_mutex_lock(&done_lock);
	n = ndone;
	pthread_mutex_unlock(&done_lock);
	return n;
}

/* One attempt through dispatch_async, waited for; returns its record. */
static void run_async(void *state, const struct hookd_event *ev,
                      struct hookd_attempt *a)
{
	int before = done_count();

	memset(a, 0, sizeof(*a));
	ck_assert_int_eq(plugin->dispatch_async(state, ev, a), 0);
	ck_assert_msg(wait_done(before + 1, 20000) == 0,
	              "no completion within 20 s");
	pthread_mutex_lock(&done_lock);
	ck_assert_int_eq(a->completions, 1);
	pthread_mutex_unlock(&done_lock);
}

/* One attempt through dispatch. */
static enum hookd_status run_sync(void *state, const struct hookd_event *ev,
                                  struct hookd_result *res)
{
	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
	return plugin->dispatch(state, ev, res);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_descriptor)
{
	struct hookd_host old = *mock_host();
	const struct hookd_plugin *d;

	ck_assert_ptr_nonnull(plugin->dispatch_async);
	ck_assert_ptr_nonnull(plugin->dispatch);
	ck_assert_uint_eq(plugin->abi_minor, HOOKD_ABI_MINOR);
	ck_assert(plugin->flags & HOOKD_PLUGIN_THREADSAFE);

	/* A 1.0 host: its table ends before complete(). */
	old.struct_size = offsetof(struct hookd_host, complete);
	old.abi_minor = 0;
	old.complete = NULL;
	d = entry(&old);
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_null(d->dispatch_async);
	ck_assert_ptr_nonnull(d->dispatch);
	ck_assert_uint_eq(d->abi_minor, 0);
	ck_assert_str_eq(d->name, "http");

	/* Back to the full host. */
	plugin = entry(mock_host());
	ck_assert_ptr_nonnull(plugin);
	ck_assert_ptr_nonnull(plugin->dispatch_async);
	ck_assert_uint_eq(plugin->abi_minor, HOOKD_ABI_MINOR);
}
END_TEST

/* One scripted case: the path, and what both paths must report. */
struct outcome_case {
	const char *path;
	enum hookd_status status;
	const char *reason; /* exact, or a prefix when `prefix` */
	int prefix;
	int64_t retry_after_ms;
	int status_code; /* the receiver's, in hookd_result (ABI 1.2); 0: none
	                  */
};

static const struct outcome_case outcome_cases[] = {
    {"/ok", HOOKD_OK, "200", 0, 0, 200},
    {"/slow", HOOKD_OK, "200", 0, 0, 200},
    {"/e500", HOOKD_RETRY, "500: upstream exploded", 0, 0, 500},
    {"/e429", HOOKD_RETRY, "429: slow down", 0, 2000, 429},
    {"/e404", HOOKD_FAIL, "404: no such hook", 0, 0, 404},
    {"/moved", HOOKD_FAIL,
     "301: redirect not followed (Location: http://example.invalid/there)", 0,
     0, 301},
    {"/drop", HOOKD_RETRY, "connection: Empty reply from server", 0, 0, 0},
    {"/hang", HOOKD_RETRY, "timeout: no complete response within 1s (", 1, 0,
     0},
};

static void check_reason(const struct outcome_case *c, const char *reason,
                         const char *which)
{
	if (c->prefix)
		ck_assert_msg(strncmp(reason, c->reason, strlen(c->reason)) ==
		                  0,
		              "%s %s: reason '%s', expected '%s...'", which,
		              c->path, reason, c->reason);
	else
		ck_assert_msg(strcmp(reason, c->reason) == 0,
		              "%s %s: reason '%s', expected '%s'", which,
		              c->path, reason, c->reason);
}

START_TEST(test_outcomes_as_sync)
{
	const struct outcome_case *c = &outcome_cases[_i];
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_attempt a;
	struct hookd_result res;
	enum hookd_status st;
	int64_t t0;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", c->path);
	mock_config_int(&cfg, "timeout", 1);
	state = create_ok(&cfg);

	st = run_sync(state, &ev, &res);
	ck_assert_msg(st == c->status, "sync %s: status %d, expected %d (%s)",
	              c->path, (int)st, (int)c->status, res.reason);
	check_reason(c, res.reason, "sync");
	ck_assert_int_eq(res.retry_after_ms, c->retry_after_ms);
	ck_assert_int_eq(res.status_code, c->status_code);

	t0 = mono_ms();
	run_async(state, &ev, &a);
	ck_assert_msg(a.status == c->status,
	              "async %s: status %d, expected %d (%s)", c->path,
	              (int)a.status, (int)c->status, a.reason);
	check_reason(c, a.reason, "async");
	ck_assert_int_eq(a.retry_after_ms, c->retry_after_ms);
	ck_assert_int_eq(a.status_code, c->status_code);
	/* Same verdict as the synchronous path, word for word (a timeout's
	 * curl detail names the milliseconds, so only its start). */
	if (!c->prefix)
		ck_assert_str_eq(a.reason, res.reason);
	if (strcmp(c->path, "/hang") == 0)
		ck_assert_msg(a.done_at - t0 >= 900 && a.done_at - t0 < 2500,
		              "timeout after %lld ms",
		              (long long)(a.done_at - t0));
	/* The loop thread completed it, not the caller. */
	ck_assert(!pthread_equal(a.thread, pthread_self()));

	plugin->destroy(state);
	server_stop();
}
END_TEST

START_TEST(test_event_deadline)
{
	static const char within[] = "timeout: no complete response within 0.";
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_attempt a;
	int64_t t0;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/hang");
	mock_config_int(&cfg, "timeout", 10);
	state = create_ok(&cfg);
	ev.deadline_ms = wall_ms() + 600;
	t0 = mono_ms();
	run_async(state, &ev, &a);
	ck_assert_int_eq(a.status, HOOKD_RETRY);
	ck_assert_msg(strncmp(a.reason, within, strlen(within)) == 0 &&
	                  strstr(a.reason, ", the event deadline (") != NULL,
	              "reason: %s", a.reason);
	ck_assert_msg(a.done_at - t0 >= 500 && a.done_at - t0 < 1500,
	              "ended after %lld ms", (long long)(a.done_at - t0));
	plugin->destroy(state);
	server_stop();
}
END_TEST

/* An attempt that ends before it is sent completes inside the call. */
START_TEST(test_deadline_passed_inline)
{
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_attempt a;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/ok");
	state = create_ok(&cfg);
	ev.deadline_ms = wall_ms() - 1;
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(plugin->dispatch_async(state, &ev, &a), 0);
	ck_assert_int_eq(done_count(), 1); /* already, before returning */
	ck_assert_int_eq(a.completions, 1);
	ck_assert(pthread_equal(a.thread, pthread_self()));
	ck_assert_int_eq(a.status, HOOKD_RETRY);
	ck_assert_str_eq(a.reason,
	                 "event deadline passed before the request started");
	plugin->destroy(state);
	ck_assert_int_eq(server_get(&srv.requests), 0);
	server_stop();
}
END_TEST

/* Does the system resolve name (the C library's resolver)? */
static int name_resolves(const char *name)
{
	struct addrinfo hints, *res = NULL;
	getaddrinfo_fn *real = real_getaddrinfo();
	int ok;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	ok = real && real(name, "80", &hints, &res) == 0;
	if (res)
		freeaddrinfo(res);
	return ok;
}

/* The guard runs on the calling thread: a refusal completes inline; an
 * allowed name is resolved there and pinned for the loop. */
START_TEST(test_ssrf_guard)
{
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_attempt a;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/ok");
	mock_config_bool(&cfg, "ssrf_guard", 1);
	state = create_ok(&cfg);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(plugin->dispatch_async(state, &ev, &a), 0);
	ck_assert_int_eq(done_count(), 1);
	ck_assert_int_eq(a.status, HOOKD_FAIL);
	ck_assert_str_eq(a.reason, "ssrf: 127.0.0.1 is a loopback address");
	plugin->destroy(state);
	ck_assert_int_eq(server_get(&srv.requests), 0);

	/* The name half needs "localhost" to resolve (/etc/hosts): a bare
	 * build chroot may have none. */
	if (!name_resolves("localhost")) {
		fprintf(stderr, "# localhost does not resolve here: the name "
		                "half of test_ssrf_guard is not run\n");
		server_stop();
		return;
	}
	cfg_init(&cfg, "localhost", "/ok");
	mock_config_bool(&cfg, "ssrf_guard", 1);
	mock_config_list(&cfg, "allow_targets", "127.0.0.1/32", "::1/128",
	                 NULL);
	state = create_ok(&cfg);
	run_async(state, &ev, &a);
	ck_assert_msg(a.status == HOOKD_OK, "localhost: %s", a.reason);
	ck_assert_str_eq(a.reason, "200");
	plugin->destroy(state);
	ck_assert_int_eq(server_get(&srv.requests), 1);
	server_stop();
}
END_TEST

static const char *const path_names[] = {"dispatch", "dispatch_async"};

/*
 * Start the server and an instance for http://NAME:<port>/ok, with the
 * guard and an exception for 127.0.0.1 alone when `guard`; the fake
 * resolver's counts start again. Caller destroys the instance. The
 * configuration is static: the instance borrows its strings.
 */
static void *fake_instance(const char *name, int guard)
{
	static struct hookd_config cfg;

	server_start();
	reset_done();
	fake_reset();
	cfg_init(&cfg, name, "/ok");
	if (guard) {
		mock_config_bool(&cfg, "ssrf_guard", 1);
		mock_config_list(&cfg, "allow_targets", "127.0.0.1/32", NULL);
	}
	return create_ok(&cfg);
}

/* One attempt through dispatch (path 0) or dispatch_async (path 1),
 * which must end with `status` and exactly `reason`. */
static void expect_attempt(int path, void *state, enum hookd_status status,
                           const char *reason)
{
	struct hookd_event ev = make_event();
	struct hookd_result res;
	struct hookd_attempt a;
	enum hookd_status st;
	const char *got;

	if (path == 0) {
		st = run_sync(state, &ev, &res);
		got = res.reason;
	} else {
		run_async(state, &ev, &a);
		st = a.status;
		got = a.reason;
	}
	ck_assert_msg(st == status && strcmp(got, reason) == 0,
	              "%s: status %d, '%s'; expected %d, '%s'",
	              path_names[path], (int)st, got, (int)status, reason);
}

/*
 * Control for the tests below: without the guard curl resolves the name
 * itself, through the test's getaddrinfo, so a lookup curl makes is seen
 * and counted.
 */
START_TEST(test_fake_resolver_seen_by_curl)
{
	void *state = fake_instance("rebind.test", 0);

	expect_attempt(_i, state, HOOKD_OK, "200");
	ck_assert_int_eq(fake_lookups("rebind.test"), 1);
	plugin->destroy(state);
	ck_assert_int_eq(server_get(&srv.requests), 1);
	server_stop();
}
END_TEST

/*
 * DNS rebinding: rebind.test answers 127.0.0.1 (allowed) to its first
 * lookup and 127.0.0.2 (not allowed) to the next ones. The guard's lookup
 * is the only one of the first attempt — curl connects to the pinned
 * 127.0.0.1 without asking again (had it asked, it would get 127.0.0.2,
 * where nothing listens) — and the second attempt, looked up anew, is
 * refused naming the new address.
 */
START_TEST(test_ssrf_pinned)
{
	void *state = fake_instance("rebind.test", 1);

	expect_attempt(_i, state, HOOKD_OK, "200");
	ck_assert_int_eq(fake_lookups("rebind.test"), 1);
	ck_assert_int_eq(server_get(&srv.requests), 1);
	expect_attempt(_i, state, HOOKD_FAIL,
	               "ssrf: rebind.test resolves to 127.0.0.2, a loopback "
	               "address");
	ck_assert_int_eq(fake_lookups("rebind.test"), 2);
	plugin->destroy(state);
	ck_assert_int_eq(server_get(&srv.requests), 1);
	server_stop();
}
END_TEST

/* Every address of an answer is checked: an allowed first one does not
 * let a private second one through. */
START_TEST(test_ssrf_every_address)
{
	void *state = fake_instance("mixed.test", 1);

	expect_attempt(_i, state, HOOKD_FAIL,
	               "ssrf: mixed.test resolves to 10.0.0.1, a private "
	               "address");
	ck_assert_int_eq(fake_lookups("mixed.test"), 1);
	plugin->destroy(state);
	ck_assert_int_eq(server_get(&srv.requests), 0);
	server_stop();
}
END_TEST

#define MANY 100

/*
 * 100 attempts to a receiver that answers after 300 ms: every
 * dispatch_async returns before the first completion (it never waits for
 * a response), all complete once, with 200, many at the same time.
 */
START_TEST(test_many_in_flight)
{
	static struct hookd_attempt as[MANY];
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	int i, early;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/slow");
	mock_config_int(&cfg, "timeout", 20);
	state = create_ok(&cfg);
	memset(as, 0, sizeof(as));
	for (i = 0; i < MANY; i++)
		ck_assert_int_eq(plugin->dispatch_async(state, &ev, &as[i]), 0);
	pthread_mutex_lock(&done_lock);
	early = ndone;
	all_returned = 1;
	pthread_mutex_unlock(&done_lock);
	ck_assert_msg(early == 0,
	              "%d attempts completed before every dispatch_async "
	              "returned",
	              early);
	ck_assert_msg(wait_done(MANY, 20000) == 0, "only %d of %d completed",
	              done_count(), MANY);
	pthread_mutex_lock(&done_lock);
	for (i = 0; i < MANY; i++) {
		ck_assert_int_eq(as[i].completions, 1);
		ck_assert_msg(as[i].status == HOOKD_OK, "attempt %d: %s", i,
		              as[i].reason);
		ck_assert_str_eq(as[i].reason, "200");
		ck_assert(as[i].after_all_returned);
		ck_assert(!pthread_equal(as[i].thread, pthread_self()));
	}
	pthread_mutex_unlock(&done_lock);
	/* In flight together, not one after another. */
	ck_assert_msg(server_get(&srv.slow_peak) >= 32, "at most %d at once",
	              server_get(&srv.slow_peak));
	plugin->destroy(state);
	sleep_ms(50);
	ck_assert_int_eq(done_count(), MANY); /* no second completion */
	server_stop();
}
END_TEST

/* Attempts one after another reuse the loops' connections: ten attempts,
 * taken by the engine's loops in turn, over one connection per loop. */
START_TEST(test_connection_reused)
{
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_attempt a;
	void *state;
	int i;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/ok");
	state = create_ok(&cfg);
	for (i = 0; i < 10; i++) {
		run_async(state, &ev, &a);
		ck_assert_str_eq(a.reason, "200");
	}
	ck_assert_int_eq(server_get(&srv.requests), 10);
	ck_assert_int_eq(server_get(&srv.nconns), ENGINE_LOOPS);
	plugin->destroy(state);
	server_stop();
}
END_TEST

#define OVER_LIMIT 70

/*
 * Many hanging attempts at once, spread over the engine's loops: each ends
 * by its time limit, as a timeout, all together rather than one after
 * another.
 */
START_TEST(test_timeout_past_connection_limit)
{
	static struct hookd_attempt as[OVER_LIMIT];
	static const char within[] = "timeout: no complete response within 1s";
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	int64_t t0, first = 0, last = 0;
	void *state;
	int i;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/hang");
	mock_config_int(&cfg, "timeout", 1);
	state = create_ok(&cfg);
	memset(as, 0, sizeof(as));
	t0 = mono_ms();
	for (i = 0; i < OVER_LIMIT; i++)
		ck_assert_int_eq(plugin->dispatch_async(state, &ev, &as[i]), 0);
	ck_assert_msg(wait_done(OVER_LIMIT, 20000) == 0,
	              "only %d of %d completed", done_count(), OVER_LIMIT);
	pthread_mutex_lock(&done_lock);
	for (i = 0; i < OVER_LIMIT; i++) {
		ck_assert_int_eq(as[i].completions, 1);
		ck_assert_int_eq(as[i].status, HOOKD_RETRY);
		ck_assert_msg(strncmp(as[i].reason, within, strlen(within)) ==
		                  0,
		              "attempt %d: %s", i, as[i].reason);
		first = i == 0 || as[i].done_at < first ? as[i].done_at : first;
		last = as[i].done_at > last ? as[i].done_at : last;
	}
	pthread_mutex_unlock(&done_lock);
	/* Together, not one time limit after the others (those would end a
	 * whole second later): compared with each other, not with the
	 * clock, so a slow machine delays them all alike. */
	ck_assert_msg(last - first < 700,
	              "the attempts ended over %lld ms (first after %lld ms)",
	              (long long)(last - first), (long long)(first - t0));
	plugin->destroy(state);
	server_stop();
}
END_TEST

#define HANGING 20

/* destroy() with attempts in flight completes each once, before it
 * returns, with HOOKD_RETRY "hookd is stopping". */
START_TEST(test_destroy_in_flight)
{
	static struct hookd_attempt as[HANGING];
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	int64_t until;
	void *state;
	int i;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/hang");
	mock_config_int(&cfg, "timeout", 30);
	state = create_ok(&cfg);
	memset(as, 0, sizeof(as));
	for (i = 0; i < HANGING; i++)
		ck_assert_int_eq(plugin->dispatch_async(state, &ev, &as[i]), 0);
	until = mono_ms() + 10000;
	while (server_get(&srv.hanging) < HANGING && mono_ms() < until)
		sleep_ms(10);
	ck_assert_int_eq(server_get(&srv.hanging), HANGING);
	ck_assert_int_eq(done_count(), 0);
	plugin->destroy(state);
	ck_assert_int_eq(done_count(), HANGING);
	pthread_mutex_lock(&done_lock);
	for (i = 0; i < HANGING; i++) {
		ck_assert_int_eq(as[i].completions, 1);
		ck_assert_int_eq(as[i].status, HOOKD_RETRY);
		ck_assert_str_eq(as[i].reason, "hookd is stopping");
	}
	pthread_mutex_unlock(&done_lock);
	sleep_ms(50);
	ck_assert_int_eq(done_count(), HANGING);
	server_stop();
}
END_TEST

/* destroy() right after create(), and after only synchronous attempts:
 * no loop was ever started. */
START_TEST(test_destroy_idle)
{
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_result res;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/ok");
	state = create_ok(&cfg);
	plugin->destroy(state);
	state = create_ok(&cfg);
	ck_assert_int_eq(run_sync(state, &ev, &res), HOOKD_OK);
	plugin->destroy(state);
	ck_assert_int_eq(done_count(), 0);
	server_stop();
}
END_TEST

/*
 * The host may destroy the instance inside complete(), on the loop thread
 * (the attempt held the last reference to a replaced configuration): the
 * loop cannot join itself, so it ends and frees the instance once the
 * call returns.
 */
START_TEST(test_destroy_inside_complete)
{
	struct hookd_event ev = make_event();
	struct hookd_config cfg;
	struct hookd_attempt a;
	void *state;

	server_start();
	reset_done();
	cfg_init(&cfg, "127.0.0.1", "/ok");
	state = create_ok(&cfg);
	pthread_mutex_lock(&done_lock);
	destroy_in_complete = state;
	pthread_mutex_unlock(&done_lock);
	run_async(state, &ev, &a);
	ck_assert_str_eq(a.reason, "200");
	ck_assert(!pthread_equal(a.thread, pthread_self()));
	/* Let the detached loop thread finish freeing (ASan checks). */
	sleep_ms(300);
	ck_assert_int_eq(done_count(), 1);
	server_stop();
}
END_TEST

static Suite *http_async_suite(void)
{
	Suite *s = suite_create("http_async");
	TCase *tc = tcase_create("http_async");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_descriptor);
	tcase_add_loop_test(
	    tc, test_outcomes_as_sync, 0,
	    (int)(sizeof(outcome_cases) / sizeof(outcome_cases[0])));
	tcase_add_test(tc, test_event_deadline);
	tcase_add_test(tc, test_deadline_passed_inline);
	tcase_add_test(tc, test_ssrf_guard);
	tcase_add_loop_test(tc, test_fake_resolver_seen_by_curl, 0, 2);
	tcase_add_loop_test(tc, test_ssrf_pinned, 0, 2);
	tcase_add_loop_test(tc, test_ssrf_every_address, 0, 2);
	tcase_add_test(tc, test_many_in_flight);
	tcase_add_test(tc, test_connection_reused);
	tcase_add_test(tc, test_timeout_past_connection_limit);
	tcase_add_test(tc, test_destroy_in_flight);
	tcase_add_test(tc, test_destroy_idle);
	tcase_add_test(tc, test_destroy_inside_complete);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *dir = getenv("HOOKD_PLUGIN_DIR");
	char path[4096];
	SRunner *sr;
	int failed;

	if (!dir || !*dir) {
		printf("1..0 # SKIP HOOKD_PLUGIN_DIR is not set\n");
		return 0;
	}
	/* As hookd does: no SIGPIPE, curl initialised by the host. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		printf("1..1\nnot ok 1 - curl_global_init\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/http.so", dir);
	plugin_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!plugin_handle) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		printf("1..1\nnot ok 1 - load %s\n", path);
		curl_global_cleanup();
		return 1;
	}
	*(void **)(&entry) = dlsym(plugin_handle, HOOKD_PLUGIN_ENTRY_SYMBOL);
	mock_host_on_complete(record_complete);
	plugin = entry ? entry(mock_host()) : NULL;
	if (!plugin) {
		fprintf(stderr, "%s: no usable %s\n", path,
		        HOOKD_PLUGIN_ENTRY_SYMBOL);
		printf("1..1\nnot ok 1 - entry of %s\n", path);
		dlclose(plugin_handle);
		curl_global_cleanup();
		return 1;
	}
	sr = srunner_create(http_async_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	dlclose(plugin_handle);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
