/*
 * The http plugin's delivery engine: the event loops that carry every
 * asynchronous attempt of every instance, and the easy handles of the
 * synchronous path (see http.h).
 *
 * An instance is data. However many there are (configured handlers, one
 * per webhook subscription: thousands), the plugin runs HTTP_ENGINE_LOOPS
 * loop threads and one pthread key. A loop owns a curl multi handle, a
 * pool of idle easy handles and every transfer handed to it; attempts go
 * to the loops in turn, so that both share the work of a busy receiver,
 * and the attempts of all instances that send to one receiver share each
 * loop's connection cache (keep-alive, HTTP/2 multiplexing where the
 * receiver offers it).
 *
 * Life: the loops start with the first asynchronous attempt and are
 * stopped and joined when the last instance is destroyed (the host
 * destroys an instance only once every attempt it started was completed,
 * so nothing is in flight then), ready to start again. A destroy() that
 * runs on a loop thread (inside complete()) cannot join that thread: the
 * loops then keep running until the next last destroy() or until the
 * plugin is unloaded (engine_unload).
 *
 * Locks: E.lock guards the instance count and the loops' life (started,
 * stopping, broken); a loop's own lock guards its queue and its multi
 * pointer for curl_multi_wakeup(). Never both at once but in that order.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "errmsg.h"
#include "http.h"

/* One event loop. `lock` guards `queue` and the `multi` pointer for
 * curl_multi_wakeup(); the rest belongs to the loop thread while it runs. */
struct engine_loop {
	pthread_mutex_t lock;
	pthread_t thread;
	CURLM *multi;
	int stopping;                        /* under lock: end now */
	int complained;                      /* a multi error was logged */
	struct transfer *queue, *queue_tail; /* handed over, not started */
	struct transfer *wait, *wait_tail;   /* taken over, not started yet */
	struct transfer *active;             /* in the multi handle */
	int n_active;
	CURL *pool[HTTP_POOL_MAX]; /* idle easy handles */
	int npool;
};

/* One worker thread's easy handle for dispatch(). */
struct engine_conn {
	CURL *curl;
	struct engine_conn *next;
};

static struct {
	pthread_mutex_t lock;
	int instances; /* live instances */
	int started;   /* the loops run */
	int broken;    /* they could not start: dispatch() instead */
	struct engine_loop loop[HTTP_ENGINE_LOOPS];
	pthread_once_t key_once;
	int key_made;
	pthread_key_t key;         /* this thread's struct engine_conn */
	struct engine_conn *conns; /* every one made (under lock) */
} E = {.lock = PTHREAD_MUTEX_INITIALIZER, .key_once = PTHREAD_ONCE_INIT};

/* ---- the loops -------------------------------------------------------- */

/*
 * End transfer t on loop l's thread: its handle leaves the multi handle
 * for the pool, t is freed, then the attempt completes with `status` and
 * `res` (borrowed). complete() comes last: the host may start another
 * attempt inside it, or destroy the instance.
 */
static void transfer_end(struct engine_loop *l, struct transfer *t,
                         enum hookd_status status,
                         const struct hookd_result *res)
{
	struct hookd_attempt *attempt = t->attempt;

	if (t->curl) {
		curl_multi_remove_handle(l->multi, t->curl);
		handle_forget(t->curl);
		if (l->npool < HTTP_POOL_MAX)
			l->pool[l->npool++] = t->curl;
		else
			curl_easy_cleanup(t->curl);
		if (t->prev)
			t->prev->next = t->next;
		else
			l->active = t->next;
		if (t->next)
			t->next->prev = t->prev;
		l->n_active--;
	}
	request_release(&t->req);
	free(t);
	host->complete(attempt, status, res);
}

/*
 * Start transfer t (the loop owns it now): an easy handle from the pool,
 * the request's options, into the multi handle. An attempt that cannot
 * start (its deadline passed in the queue, memory) completes at once.
 */
static void transfer_start(struct engine_loop *l, struct transfer *t)
{
	struct hookd_result res;
	CURLMcode mc;
	CURL *c;

	result_init(&res);
	if (request_arm(t->st, &t->req, &res) < 0) {
		transfer_end(l, t, HOOKD_RETRY, &res);
		return;
	}
	c = l->npool > 0 ? l->pool[--l->npool] : curl_easy_init();
	if (!c) {
		hkd_set_err(res.reason, sizeof(res.reason), "out of memory");
		transfer_end(l, t, HOOKD_RETRY, &res);
		return;
	}
	set_options(t->st, c, &t->req);
	curl_easy_setopt(c, CURLOPT_PRIVATE, (void *)t);
	t->curl = c;
	t->prev = NULL;
	t->next = l->active;
	if (l->active)
		l->active->prev = t;
	l->active = t;
	l->n_active++;
	t->give_up = hkd_mono_ms() + t->req.limit_ms + HTTP_WATCHDOG_GRACE_MS;
	mc = curl_multi_add_handle(l->multi, c);
	if (mc != CURLM_OK) {
		hkd_set_err(res.reason, sizeof(res.reason), "curl: %s",
		            curl_multi_strerror(mc));
		transfer_end(l, t, HOOKD_RETRY, &res);
	}
}

/* Complete every transfer curl has finished, by request_judge(). */
static void loop_reap(struct engine_loop *l)
{
	struct hookd_result res;
	enum hookd_status status;
	struct transfer *t;
	CURLMsg *m;
	char *priv;
	int left;

	while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		t = (struct transfer *)(void *)priv;
		if (!t)
			continue;
		result_init(&res);
		status = request_judge(t->st, t->curl, m->data.result, &t->req,
		                       &res);
		transfer_end(l, t, status, &res); /* m is stale from here */
	}
}

/*
 * End the transfers that curl let run past their limit (the watchdog, see
 * HTTP_WATCHDOG_GRACE_MS), with the verdict of a curl timeout.
 */
static void loop_expire(struct engine_loop *l)
{
	struct hookd_result res;
	enum hookd_status status;
	struct transfer *t, *next;
	int64_t now = hkd_mono_ms();

	for (t = l->active; t; t = next) {
		next = t->next;
		if (now < t->give_up)
			continue;
		result_init(&res);
		status = request_judge(t->st, t->curl, CURLE_OPERATION_TIMEDOUT,
		                       &t->req, &res);
		transfer_end(l, t, status, &res);
	}
}

/* How long the loop may sleep: until the next watchdog, at most idle. */
static int loop_wait_ms(const struct engine_loop *l)
{
	const struct transfer *t;
	int64_t now = hkd_mono_ms(), wait = HTTP_LOOP_IDLE_MS;

	for (t = l->active; t; t = t->next)
		if (t->give_up - now < wait)
			wait = t->give_up - now;
	return wait < 0 ? 0 : (int)wait;
}

/* Log a failing multi call once per loop, then keep quiet. */
static void loop_complain(struct engine_loop *l, const char *what, CURLMcode mc)
{
	if (l->complained)
		return;
	l->complained = 1;
	host->log("http", HOOKD_LOG_ERROR, "event loop: %s: %s", what,
	          curl_multi_strerror(mc));
}

/*
 * The loop's end: complete what it still holds — handed over but not
 * started (`queued`), in flight — with HOOKD_RETRY "hookd is stopping",
 * then free its curl handles. Nothing is held when the last instance went
 * (the host completed every attempt first); this is for an unload.
 */
static void loop_drain(struct engine_loop *l, struct transfer *queued)
{
	struct hookd_result res;
	struct transfer *t;

	result_init(&res);
	hkd_set_err(res.reason, sizeof(res.reason), "hookd is stopping");
	if (l->wait_tail) { /* the ones waiting, then the ones handed over */
		l->wait_tail->next = queued;
		queued = l->wait;
		l->wait = l->wait_tail = NULL;
	}
	while (queued) {
		t = queued;
		queued = t->next;
		t->next = NULL;
		transfer_end(l, t, HOOKD_RETRY, &res);
	}
	while (l->active)
		transfer_end(l, l->active, HOOKD_RETRY, &res);
	while (l->npool > 0)
		curl_easy_cleanup(l->pool[--l->npool]);
	pthread_mutex_lock(&l->lock);
	curl_multi_cleanup(l->multi);
	l->multi = NULL;
	pthread_mutex_unlock(&l->lock);
}

/*
 * A loop thread: take new transfers from the queue, drive curl, complete
 * what ended, sleep in curl_multi_poll() until a socket, a curl timer, the
 * watchdog or curl_multi_wakeup() (a new attempt, the stop) calls.
 */
static void *loop_run(void *arg)
{
	struct engine_loop *l = arg;
	struct transfer *in, *t;
	int stop, running;
	CURLMcode mc;

	for (;;) {
		pthread_mutex_lock(&l->lock);
		in = l->queue;
		l->queue = l->queue_tail = NULL;
		stop = l->stopping;
		pthread_mutex_unlock(&l->lock);
		if (stop)
			break;
		if (in) {
			if (l->wait_tail)
				l->wait_tail->next = in;
			else
				l->wait = in;
			for (t = in; t->next; t = t->next)
				;
			l->wait_tail = t;
			in = NULL;
		}
		/* At most HTTP_LOOP_ACTIVE in curl at once: the others wait
		 * here, without an easy handle or a connection of their own. */
		while (l->wait && l->n_active < HTTP_LOOP_ACTIVE) {
			t = l->wait;
			l->wait = t->next;
			if (!l->wait)
				l->wait_tail = NULL;
			t->next = NULL;
			transfer_start(l, t);
		}
		mc = curl_multi_perform(l->multi, &running);
		if (mc != CURLM_OK)
			loop_complain(l, "curl_multi_perform", mc);
		loop_reap(l);
		loop_expire(l);
		mc = curl_multi_poll(l->multi, NULL, 0, loop_wait_ms(l), NULL);
		if (mc != CURLM_OK) {
			struct timespec pause = {0, 10 * 1000000};

			loop_complain(l, "curl_multi_poll", mc);
			nanosleep(&pause, NULL); /* no busy loop */
		}
	}
	loop_drain(l, in);
	return NULL;
}

/* Stop and join the first n loops (under E.lock, E.started). */
static void loops_stop(int n)
{
	for (int i = 0; i < n; i++) {
		struct engine_loop *l = &E.loop[i];

		pthread_mutex_lock(&l->lock);
		l->stopping = 1;
		if (l->multi)
			curl_multi_wakeup(l->multi);
		pthread_mutex_unlock(&l->lock);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(E.loop[i].thread, NULL);
		pthread_mutex_destroy(&E.loop[i].lock);
	}
	memset(E.loop, 0, sizeof(E.loop));
	E.started = 0;
}

/* Start the loops (under E.lock, not started). 0, or -1 logged. */
static int loops_start(void)
{
	sigset_t all, old;
	int i, rc = 0;

	for (i = 0; i < HTTP_ENGINE_LOOPS; i++) {
		struct engine_loop *l = &E.loop[i];

		memset(l, 0, sizeof(*l));
		if (pthread_mutex_init(&l->lock, NULL) != 0)
			break;
		l->multi = curl_multi_init();
		if (!l->multi) {
			pthread_mutex_destroy(&l->lock);
			host->log(
			    "http", HOOKD_LOG_ERROR,
			    "event loop: curl_multi_init failed; attempts "
			    "run one per worker thread");
			break;
		}
		curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		                  (long)HTTP_MAX_HOST_CONNECTIONS);
		/* Signals are the host's business: loops take none of them. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&l->thread, NULL, loop_run, l);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			host->log("http", HOOKD_LOG_ERROR,
			          "event loop: cannot start a thread: %s; "
			          "attempts run one per worker thread",
			          hkd_errtext(rc));
			curl_multi_cleanup(l->multi);
			pthread_mutex_destroy(&l->lock);
			break;
		}
	}
	if (i < HTTP_ENGINE_LOOPS) {
		E.started = 1; /* for loops_stop */
		loops_stop(i);
		return -1;
	}
	E.started = 1;
	return 0;
}

/* 1 when the calling thread is one of the loops (under E.lock). */
static int on_loop_thread(void)
{
	for (int i = 0; E.started && i < HTTP_ENGINE_LOOPS; i++)
		if (pthread_equal(pthread_self(), E.loop[i].thread))
			return 1;
	return 0;
}

/* Which loop the next transfer goes to: each in turn (under E.lock), so
 * that the loops share the work of one busy receiver too. */
static unsigned loop_next(void)
{
	static unsigned turn;

	return turn++ % HTTP_ENGINE_LOOPS;
}

int engine_submit(struct transfer *t)
{
	struct engine_loop *l;
	int ret = -1;

	pthread_mutex_lock(&E.lock);
	if (!E.started && !E.broken && loops_start() < 0)
		E.broken = 1;
	if (!E.started) {
		pthread_mutex_unlock(&E.lock);
		return -1;
	}
	l = &E.loop[loop_next()];
	pthread_mutex_lock(&l->lock);
	if (!l->stopping && l->multi) {
		t->next = NULL;
		if (l->queue_tail)
			l->queue_tail->next = t;
		else
			l->queue = t;
		l->queue_tail = t;
		curl_multi_wakeup(l->multi);
		ret = 0;
	}
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_unlock(&E.lock);
	return ret;
}

/* ---- the synchronous path's handles ----------------------------------- */

static void key_make(void)
{
	/* No destructor: one could run on an exiting thread while the last
	 * destroy() frees the list. */
	E.key_made = pthread_key_create(&E.key, NULL) == 0;
}

CURL *engine_thread_curl(void)
{
	struct engine_conn *c;

	pthread_once(&E.key_once, key_make);
	if (!E.key_made)
		return NULL;
	if ((c = pthread_getspecific(E.key)) != NULL)
		return c->curl;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->curl = curl_easy_init();
	if (c->curl)
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	if (!c->curl || pthread_setspecific(E.key, c) != 0) {
		if (c->curl)
			curl_easy_cleanup(c->curl);
		free(c);
		return NULL;
	}
	pthread_mutex_lock(&E.lock);
	c->next = E.conns;
	E.conns = c;
	pthread_mutex_unlock(&E.lock);
	return c->curl;
}

/* ---- instances -------------------------------------------------------- */

void engine_hold(void)
{
	pthread_mutex_lock(&E.lock);
	E.instances++;
	pthread_mutex_unlock(&E.lock);
}

void engine_release(void)
{
	pthread_mutex_lock(&E.lock);
	if (--E.instances == 0) {
		/* Nothing is in flight: the host completed every attempt. */
		if (E.started && !on_loop_thread())
			loops_stop(HTTP_ENGINE_LOOPS);
		E.broken = 0; /* a later instance tries again */
	}
	pthread_mutex_unlock(&E.lock);
}

/*
 * The plugin is unloaded (dlclose, or exit): with no instance left, end
 * what the last destroy() could not (the loops, when it ran on one of
 * them) and free the synchronous handles. With instances left, the
 * process is exiting with attempts abandoned (see plugin.h, "Stopping"):
 * other threads may still use all of it, so it is left alone.
 */
__attribute__((destructor)) static void engine_unload(void)
{
	struct engine_conn *c, *next;

	pthread_mutex_lock(&E.lock);
	if (E.instances == 0) {
		if (E.started && !on_loop_thread())
			loops_stop(HTTP_ENGINE_LOOPS);
		for (c = E.conns; c; c = next) {
			next = c->next;
			curl_easy_cleanup(c->curl);
			free(c);
		}
		E.conns = NULL;
		if (E.key_made)
			pthread_key_delete(E.key);
		E.key_made = 0;
	}
	pthread_mutex_unlock(&E.lock);
}
