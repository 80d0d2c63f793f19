/*
 * Dispatcher. Deliveries live in one of three places, all under `lock`:
 *   - a target queue (FIFO per handler name), when due;
 *   - the timer heap (ordered by due time), when waiting for a retry;
 *   - a worker's hands, while an attempt runs (lock released).
 * Targets that have due deliveries and a free concurrency slot sit on the
 * runnable list, so a worker finds work in O(1) and a serialised handler
 * with a long backlog never makes others wait.
 *
 * Memory holds at most `capacity` (queue_size) deliveries. With a store,
 * the rest are parked there: deliveries accepted while memory is full, and
 * retries due later than PARK_RETRY_MS. The claimer thread takes parked
 * deliveries back, due ones first, whenever there is room — so a backlog
 * of millions costs disk, not memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "adapt.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "inflight.h"
#include "store.h"
#include "strmap.h"
#include "util.h"

/* How long one attempt may take before plugins are asked to give up. */
#define ATTEMPT_DEADLINE_MS (5 * 60 * 1000)
/* The longest Retry-After hint honoured. */
#define RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)
/* A retry due later than this waits in the store, not in memory. */
#define PARK_RETRY_MS (60 * 1000)
/* The claimer's longest sleep while deliveries are parked. */
#define CLAIM_POLL_MS 1000
/* Claim in batches of at least this much room (or capacity / 4). */
#define CLAIM_BATCH_MIN 256

struct delivery {
	char id[48];
	struct hkd_event_rec *event;
	char *target;
	int64_t *retry_ms; /* delays before attempt 2, 3, … (owned copy) */
	size_t n_retry;
	unsigned attempts; /* attempts made so far */
	unsigned base;     /* attempts made before the schedule (re)started */
	int64_t due;       /* monotonic ms */
	struct delivery *next;
};

struct target_q {
	char *name;
	int limit;    /* attempts at once; adaptive: the ceiling */
	int active;   /* attempts running */
	int adaptive; /* a subscription: `ad` decides below limit */
	struct hkd_adapt ad;
	struct delivery *head, *tail;
	size_t len;
	int runnable;
	struct target_q *next_runnable;
	struct target_q *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t capacity;
	size_t live;
	size_t ready;
	size_t in_flight;
	struct delivery **heap;
	size_t heap_len, heap_cap;
	struct target_q *targets;
	struct hkd_strmap by_name; /* the targets by name */
	struct target_q *run_head, *run_tail;
	int stopping;
	/* Set once hkd_dispatch_stop gave up on the attempts still running:
	 * the process is exiting under them (see complete_attempt), which
	 * keeps those that end anyway here, untouched. */
	atomic_int abandoned;
	struct hookd_attempt *abandoned_head;
	int n_workers;
	pthread_t *threads;
	uint64_t succeeded, dead, retried;
	struct hkd_store *store;
	struct hookd_attempt *done_head, *done_tail; /* completed elsewhere */
	struct probe *probe_head,
	    *probe_tail;           /* hkd_dispatch_probe's, queued */
	pthread_cond_t probe_cond; /* a probe ended */
	/* Deliveries in flight when hookd last died of a fatal signal. */
	char **suspects;
	size_t n_suspects;
	atomic_size_t suspects_left;
	char suspect_reason[HOOKD_REASON_MAX];
	/* Parked deliveries (see the top of the file). */
	pthread_cond_t claim_cond;
	pthread_t claimer;
	int claimer_started;
	int parked;         /* the store may hold parked deliveries */
	uint64_t park_gen;  /* counts parkings: a claim's answer may be stale */
	int64_t parked_due; /* wall ms: the earliest is due then (a hint) */
	int64_t poll_ms;    /* shared store: claim at least this often */
	int64_t next_poll;  /* wall ms: the next claim of a shared store */
	uint64_t claimed;
} D = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .cond = PTHREAD_COND_INITIALIZER,
       .probe_cond = PTHREAD_COND_INITIALIZER,
       .poll_ms = CLAIM_POLL_MS};

/* The targets that are not handlers (hkd_dispatch_set_targets). */
static _Atomic(const struct hkd_dispatch_targets *) other_targets;

void hkd_dispatch_set_targets(const struct hkd_dispatch_targets *t)
{
	atomic_store(&other_targets, t);
}

/* Room worth a claim: a batch, not one delivery at a time under load. */
static size_t claim_min(void)
{
	size_t m = D.capacity / 4;
	if (m > CLAIM_BATCH_MIN)
		m = CLAIM_BATCH_MIN;
	return m > 0 ? m : 1;
}

static void delivery_free(struct delivery *d)
{
	hkd_event_rec_unref(d->event);
	free(d->target);
	free(d->retry_ms);
	free(d);
}

/* --- timer heap (lock held) ------------------------------------------ */

static void heap_swap(size_t a, size_t b)
{
	struct delivery *t = D.heap[a];
	D.heap[a] = D.heap[b];
	D.heap[b] = t;
}

static int heap_push(struct delivery *d)
{
	size_t i;
	if (hkd_grow(&D.heap, &D.heap_cap, D.heap_len, sizeof(*D.heap), 64))
		return -1;
	i = D.heap_len++;
	D.heap[i] = d;
	while (i > 0 && D.heap[(i - 1) / 2]->due > D.heap[i]->due) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

static struct delivery *heap_pop(void)
{
	struct delivery *top = D.heap[0];
	size_t i = 0;
	D.heap[0] = D.heap[--D.heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < D.heap_len && D.heap[l]->due < D.heap[m]->due)
			m = l;
		if (r < D.heap_len && D.heap[r]->due < D.heap[m]->due)
			m = r;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
	return top;
}

/* --- target queues (lock held) --------------------------------------- */

/* The concurrency the current configuration gives target `name`. */
static int limit_for(const char *name)
{
	struct hkd_runtime *rt;
	const struct hkd_handler *h;
	int limit;
	const struct hkd_dispatch_targets *subs = atomic_load(&other_targets);
	if (subs && subs->is_target(name))
		return subs->concurrency();
	rt = hkd_runtime_current();
	h = rt ? hkd_runtime_handler(rt, name) : NULL;
	limit = h && h->concurrency > 0 ? h->concurrency : 1;
	hkd_runtime_unref(rt);
	return limit;
}

/* The queue of target `name`, made on first use; NULL when out of memory.
 * Under D.lock. */
static struct target_q *target_get(const char *name)
{
	struct target_q *t = hkd_strmap_get(&D.by_name, name);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->name = strdup(name)) ||
	    hkd_strmap_put(&D.by_name, t->name, t) != 0) {
		if (t)
			free(t->name);
		free(t);
		return NULL;
	}
	t->limit = limit_for(name);
	{
		const struct hkd_dispatch_targets *subs =
		    atomic_load(&other_targets);
		t->adaptive = subs && subs->is_target(name);
		hkd_adapt_init(&t->ad);
	}
	t->next = D.targets;
	D.targets = t;
	return t;
}

/* How many attempts t may have running now. */
static int room_of(const struct target_q *t)
{
	return t->adaptive ? hkd_adapt_room(&t->ad, t->limit) : t->limit;
}

static void make_runnable(struct target_q *t)
{
	if (t->runnable || !t->head || t->active >= room_of(t))
		return;
	t->runnable = 1;
	t->next_runnable = NULL;
	if (D.run_tail)
		D.run_tail->next_runnable = t;
	else
		D.run_head = t;
	D.run_tail = t;
	pthread_cond_signal(&D.cond);
}

static void target_push(struct target_q *t, struct delivery *d)
{
	atomic_fetch_add(&d->event->queued, 1); /* until start_attempt */
	d->next = NULL;
	if (t->tail)
		t->tail->next = d;
	else
		t->head = d;
	t->tail = d;
	t->len++;
	D.ready++;
	make_runnable(t);
}

/* Take the next due delivery from the runnable targets, or NULL. */
static struct delivery *take_ready(struct target_q **tq)
{
	struct target_q *t = D.run_head;
	struct delivery *d;
	if (!t)
		return NULL;
	D.run_head = t->next_runnable;
	if (!D.run_head)
		D.run_tail = NULL;
	t->runnable = 0;
	d = t->head;
	t->head = d->next;
	if (!t->head)
		t->tail = NULL;
	t->len--;
	D.ready--;
	t->active++;
	make_runnable(t); /* back at the tail: fair between targets */
	*tq = t;
	return d;
}

/* Move deliveries whose retry time has come to their target queues. */
static void promote_due(int64_t now)
{
	while (D.heap_len > 0 && D.heap[0]->due <= now) {
		struct delivery *d = heap_pop();
		struct target_q *t = target_get(d->target);
		if (!t) {
			/* Out of memory: try again later rather than drop it.
			 */
			d->due = now + 1000;
			heap_push(d);
			return;
		}
		target_push(t, d);
	}
}

/* --- attempts -------------------------------------------------------- */

static const char *status_word(enum hookd_status st)
{
	return st == HOOKD_OK ? "ok" : st == HOOKD_RETRY ? "retry" : "fail";
}

/*
 * One attempt in progress: what the worker started, kept until the plugin
 * finishes it — at once (dispatch) or later from any thread
 * (dispatch_async, then hookd_host.complete).
 */
/* A probe queued or running; freed by whichever of the caller and the
 * attempt lets go of it last (`abandoned`: the caller gave up waiting). */
struct probe {
	struct hkd_probe *p; /* the caller's, while it waits */
	int done, abandoned; /* under D.lock */
	enum hookd_status status;
	struct hookd_result res;
	struct probe *next;
};

struct hookd_attempt {
	struct delivery *d; /* NULL for a probe */
	struct probe *probe;
	struct target_q *t;
	int64_t t0;             /* monotonic µs */
	struct hkd_runtime *rt; /* held for a handler target */
	void *sub;              /* held for a subscription target */
	const struct hkd_dispatch_targets *sub_ops; /* sub's owner */
	const char *plugin_name;
	/* Set by hookd_host.complete; the attempt then waits on D.done for a
	 * worker, so that no host work (store writes, destroy(), dlclose)
	 * ever runs on a plugin's own thread. */
	enum hookd_status status;
	struct hookd_result res;
	int crash_slot;
	struct hookd_attempt *next;
};

static void finish(struct delivery *d, enum hookd_status st,
                   const struct hookd_result *res, int64_t duration_us);
static void probe_end(struct probe *pr, enum hookd_status st,
                      const struct hookd_result *res);

/* An attempt of target t is over (st, after took_us): free its slot. */
static void end_slot(struct target_q *t, enum hookd_status st, int64_t took_us)
{
	pthread_mutex_lock(&D.lock);
	D.in_flight--;
	t->active--;
	if (t->adaptive)
		hkd_adapt_learn(&t->ad, st, took_us, hkd_mono_us(), t->limit);
	make_runnable(t);
	if (D.stopping)
		pthread_cond_broadcast(&D.cond);
	pthread_mutex_unlock(&D.lock);
}

/*
 * End attempt a (any thread, no lock held) and free it. An attempt that
 * ends after hkd_dispatch_stop abandoned it is kept as it is: the process
 * is exiting, and the plugin may have ended it for that reason (exec kills
 * its programs), so its outcome says nothing about the event. The
 * delivery stays unfinished in the store and runs again (at least once).
 * Nothing is freed or released under the exiting process; the list keeps
 * the attempt reachable (for LeakSanitizer's check at exit).
 */
static void complete_attempt(struct hookd_attempt *a, enum hookd_status st,
                             const struct hookd_result *given)
{
	struct hookd_result res;
	struct target_q *t = a->t;
	int64_t took;

	if (atomic_load(&D.abandoned)) {
		pthread_mutex_lock(&D.lock);
		a->next = D.abandoned_head;
		D.abandoned_head = a;
		pthread_mutex_unlock(&D.lock);
		return;
	}
	memset(&res, 0, sizeof(res));
	if (given) {
		size_t n =
		    given->struct_size && given->struct_size < sizeof(res)
		        ? given->struct_size
		        : sizeof(res);
		memcpy(&res, given, n);
	}
	res.struct_size = sizeof(res);
	res.reason[sizeof(res.reason) - 1] = '\0';
	if (st != HOOKD_OK && st != HOOKD_RETRY && st != HOOKD_FAIL) {
		snprintf(res.reason, sizeof(res.reason),
		         "plugin '%s' returned an unknown status %d",
		         a->plugin_name ? a->plugin_name : "?", (int)st);
		st = HOOKD_FAIL;
	}
	hkd_inflight_free(a->crash_slot);
	if (a->probe) {
		probe_end(a->probe, st, &res);
		free(a);
		return;
	}
	if (a->sub)
		a->sub_ops->end(a->sub, st, &res);
	hkd_runtime_unref(a->rt);
	took = hkd_mono_us() - a->t0;
	finish(a->d, st, &res, took);
	end_slot(t, st, took);
	free(a);
}

void hkd_dispatch_complete(struct hookd_attempt *a, enum hookd_status st,
                           const struct hookd_result *res)
{
	if (!a)
		return;
	memset(&a->res, 0, sizeof(a->res));
	if (res) {
		size_t n = res->struct_size && res->struct_size < sizeof(a->res)
		               ? res->struct_size
		               : sizeof(a->res);
		memcpy(&a->res, res, n);
	}
	a->status = st;
	a->next = NULL;
	pthread_mutex_lock(&D.lock);
	if (D.done_tail)
		D.done_tail->next = a;
	else
		D.done_head = a;
	D.done_tail = a;
	pthread_cond_signal(&D.cond);
	pthread_mutex_unlock(&D.lock);
}

/* 1 when id is a suspect of the last crash (it is then forgotten). */
static int take_suspect(const char *id)
{
	int found = 0;
	pthread_mutex_lock(&D.lock);
	for (size_t i = 0; i < D.n_suspects; i++)
		if (D.suspects[i] && strcmp(D.suspects[i], id) == 0) {
			free(D.suspects[i]);
			D.suspects[i] = NULL;
			atomic_fetch_sub(&D.suspects_left, 1);
			found = 1;
			break;
		}
	pthread_mutex_unlock(&D.lock);
	return found;
}

void hkd_dispatch_set_suspects(char **ids, size_t n, const char *reason)
{
	pthread_mutex_lock(&D.lock);
	D.suspects = ids;
	D.n_suspects = n;
	atomic_store(&D.suspects_left, n);
	hkd_strlcpy(D.suspect_reason, reason, sizeof(D.suspect_reason));
	pthread_mutex_unlock(&D.lock);
}

/*
 * Hand attempt a of ev to the plugin: dispatch_async when it has one
 * (the plugin calls hookd_host.complete), else dispatch, completed here.
 */
static void run_plugin(struct hookd_attempt *a, const struct hookd_plugin *desc,
                       void *state, const struct hookd_event *ev)
{
	struct hookd_result res;

	if (desc->dispatch_async && desc->dispatch_async(state, ev, a) == 0)
		return;
	memset(&res, 0, sizeof(res));
	res.struct_size = sizeof(res);
	complete_attempt(a, desc->dispatch(state, ev, &res), &res);
}

/*
 * Start one attempt of d (a slot of target t is taken; no lock held):
 * find the plugin instance, call dispatch_async when it has one, else
 * dispatch. The attempt completes here or, asynchronously, later.
 */
static void start_attempt(struct delivery *d, struct target_q *t)
{
	struct hookd_attempt *a = calloc(1, sizeof(*a));
	const struct hookd_plugin *desc = NULL;
	const struct hkd_dispatch_targets *subs;
	struct hookd_result res;
	struct hookd_event ev;
	/* Our own reference: dispatch_async may complete the attempt, and
	 * another worker free d, before it returns. */
	struct hkd_event_rec *rec = d->event;
	void *state = NULL;
	/* The event's target and delivery id, for the same reason: the
	 * plugin may read them until dispatch returns, d may be gone. */
	char did[sizeof(d->id)], tbuf[160], *target = tbuf;

	atomic_fetch_add(&rec->refs, 1);
	memset(&res, 0, sizeof(res));
	res.struct_size = sizeof(res);
	if (!a) {
		/* Nothing to track it with: try again later, like a RETRY. */
		snprintf(res.reason, sizeof(res.reason), "out of memory");
		finish(d, HOOKD_RETRY, &res, 0);
		end_slot(t, HOOKD_FAIL, 0); /* says nothing of the receiver */
		goto out;
	}
	a->d = d;
	a->t = t;
	a->t0 = hkd_mono_us();
	a->crash_slot = -1;
	if (atomic_load(&D.suspects_left) > 0 && take_suspect(d->id)) {
		/* It was in flight when hookd died: count that attempt, and let
		 * the schedule decide when (whether) it runs again. */
		hkd_strlcpy(res.reason, D.suspect_reason, sizeof(res.reason));
		complete_attempt(a, HOOKD_RETRY, &res);
		goto out;
	}
	a->crash_slot = hkd_inflight_take(d->id);
	subs = atomic_load(&other_targets);
	if (subs && subs->is_target(d->target)) {
		a->sub_ops = subs;
		if (subs->begin(d->target, &desc, &state, &a->sub, &res) != 0) {
			complete_attempt(a, HOOKD_FAIL, &res);
			goto out;
		}
	} else {
		const struct hkd_handler *h;
		a->rt = hkd_runtime_current();
		h = a->rt ? hkd_runtime_handler(a->rt, d->target) : NULL;
		if (!h) {
			snprintf(res.reason, sizeof(res.reason),
			         "handler '%s' is no longer configured",
			         d->target);
			complete_attempt(a, HOOKD_FAIL, &res);
			goto out;
		}
		desc = &h->lib->desc;
		state = h->state;
	}
	a->plugin_name = desc->name;
	memset(&ev, 0, sizeof(ev));
	ev.struct_size = sizeof(ev);
	ev.id = rec->id;
	ev.type = rec->type;
	ev.source = rec->source;
	ev.timestamp = rec->timestamp;
	ev.json = rec->json;
	ev.json_len = rec->json_len;
	ev.attempt = d->attempts + 1;
	ev.deadline_ms = hkd_now_ms() + ATTEMPT_DEADLINE_MS;
	memcpy(did, d->id, sizeof(did));
	if (strlen(d->target) >= sizeof(tbuf) &&
	    !(target = strdup(d->target))) {
		snprintf(res.reason, sizeof(res.reason), "out of memory");
		complete_attempt(a, HOOKD_RETRY, &res);
		target = tbuf;
		goto out;
	}
	if (target == tbuf)
		hkd_strlcpy(tbuf, d->target, sizeof(tbuf));
	ev.target = target;
	ev.delivery_id = did;
	hkd_event_rec_enter(rec);
	run_plugin(a, desc, state, &ev);
	hkd_event_rec_leave();
out:
	if (target != tbuf)
		free(target);
	/* The delivery left its queue: the last one queued drops the tree
	 * its renders shared (see struct hkd_event_rec). */
	if (atomic_fetch_sub(&rec->queued, 1) == 1)
		hkd_event_rec_tree_drop(rec);
	hkd_event_rec_unref(rec);
}

/* --- probes ------------------------------------------------------------ */

/* A probe's attempt ended (no lock held): hand the outcome over. */
static void probe_end(struct probe *pr, enum hookd_status st,
                      const struct hookd_result *res)
{
	int gone;

	pthread_mutex_lock(&D.lock);
	pr->status = st;
	pr->res = *res;
	pr->done = 1;
	gone = pr->abandoned;
	D.in_flight--;
	pthread_cond_broadcast(&D.probe_cond);
	if (D.stopping)
		pthread_cond_broadcast(&D.cond);
	pthread_mutex_unlock(&D.lock);
	if (gone)
		free(pr);
}

/* Start probe pr on this worker (its in-flight count is taken). */
static void start_probe(struct probe *pr)
{
	struct hookd_attempt *a = calloc(1, sizeof(*a));
	struct hookd_result res = {.struct_size = sizeof(res)};

	if (!a) {
		snprintf(res.reason, sizeof(res.reason), "out of memory");
		probe_end(pr, HOOKD_RETRY, &res);
		return;
	}
	a->probe = pr;
	a->t0 = hkd_mono_us();
	a->crash_slot = -1;
	a->plugin_name = pr->p->desc->name;
	run_plugin(a, pr->p->desc, pr->p->state, &pr->p->ev);
}

int hkd_dispatch_probe(struct hkd_probe *p, int64_t wait_ms)
{
	struct probe *pr = calloc(1, sizeof(*pr));
	struct timespec ts;
	int64_t left;
	int rc = -1;

	memset(&p->res, 0, sizeof(p->res));
	p->res.struct_size = sizeof(p->res);
	p->status = HOOKD_RETRY;
	if (!pr) {
		snprintf(p->res.reason, sizeof(p->res.reason), "out of memory");
		return -1;
	}
	pr->p = p;
	pthread_mutex_lock(&D.lock);
	if (D.stopping || D.n_workers == 0) {
		pthread_mutex_unlock(&D.lock);
		free(pr);
		snprintf(p->res.reason, sizeof(p->res.reason),
		         "hookd is stopping");
		return -1;
	}
	if (D.probe_tail)
		D.probe_tail->next = pr;
	else
		D.probe_head = pr;
	D.probe_tail = pr;
	pthread_cond_signal(&D.cond);
	left = p->ev.deadline_ms - hkd_now_ms() + wait_ms;
	hkd_deadline(CLOCK_MONOTONIC, left > 0 ? left : 0, &ts);
	while (!pr->done &&
	       pthread_cond_timedwait(&D.probe_cond, &D.lock, &ts) == 0)
		;
	if (pr->done) {
		p->status = pr->status;
		p->res = pr->res;
		rc = 0;
	} else {
		/* The plugin broke its promise to end by the deadline: leave
		 * the probe to its attempt, which frees it when it ends. */
		pr->abandoned = 1;
		pr = NULL;
		snprintf(p->res.reason, sizeof(p->res.reason),
		         "no outcome by the deadline");
	}
	pthread_mutex_unlock(&D.lock);
	free(pr);
	return rc;
}

/* The delay before the next attempt, or -1 when the schedule is spent. */
static int64_t next_delay(const struct delivery *d, int64_t retry_after_ms)
{
	int64_t delay;
	uint32_t rnd = 0;
	unsigned run = d->attempts - d->base; /* attempts in this run, >= 1 */
	if (run > d->n_retry)
		return -1;
	delay = d->retry_ms[run - 1];
	if (retry_after_ms > RETRY_AFTER_MAX_MS)
		retry_after_ms = RETRY_AFTER_MAX_MS;
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	/* Jitter only adds, up to 10 %, so a retry never fires early. */
	if (delay >= 10 &&
	    getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) == sizeof(rnd))
		delay += (int64_t)(rnd % (uint32_t)(delay / 10 + 1));
	return delay;
}

static void finish(struct delivery *d, enum hookd_status st,
                   const struct hookd_result *res, int64_t duration_us)
{
	char attempt_s[16], dur_s[24], next_s[24];
	int64_t delay = -1;
	int park;

	d->attempts++;
	if (st == HOOKD_RETRY)
		delay = next_delay(d, res->retry_after_ms);
	park = D.store && delay >= PARK_RETRY_MS;
	snprintf(attempt_s, sizeof(attempt_s), "%u", d->attempts);
	snprintf(dur_s, sizeof(dur_s), "%.3f", (double)duration_us / 1000.0);
	snprintf(next_s, sizeof(next_s), "%lld", (long long)delay);
	hkd_log_kv(st == HOOKD_OK ? HOOKD_LOG_INFO : HOOKD_LOG_WARN, "attempt",
	           "delivery", d->id, "event", d->event->id, "type",
	           d->event->type, "target", d->target, "attempt", attempt_s,
	           "outcome", status_word(st), "duration_ms", dur_s, "reason",
	           res->reason,
	           st == HOOKD_RETRY && delay >= 0 ? "retry_in_ms" : NULL,
	           next_s, NULL);
	if (st != HOOKD_OK && delay < 0) {
		char why[HOOKD_REASON_MAX + 40];
		if (st == HOOKD_RETRY)
			snprintf(why, sizeof(why),
			         "retry schedule exhausted; last: %s",
			         res->reason);
		else
			hkd_strlcpy(why, res->reason, sizeof(why));
		hkd_log_kv(HOOKD_LOG_ERROR, "dead", "delivery", d->id, "event",
		           d->event->id, "type", d->event->type, "target",
		           d->target, "attempts", attempt_s, "reason", why,
		           NULL);
	}

	hkd_metrics_attempt(d->target, (int)st, duration_us);
	if (st == HOOKD_OK)
		hkd_metrics_delivery_final(d->target, "succeeded");
	else if (delay < 0)
		hkd_metrics_delivery_final(d->target, "dead");
	if (D.store) {
		struct hkd_attempt_rec rec;
		memset(&rec, 0, sizeof(rec));
		hkd_strlcpy(rec.delivery_id, d->id, sizeof(rec.delivery_id));
		rec.attempt = d->attempts;
		rec.outcome = (int)st;
		rec.started_ms = hkd_now_ms() - duration_us / 1000;
		rec.duration_us = duration_us;
		hkd_strlcpy(rec.reason, res->reason, sizeof(rec.reason));
		rec.state = st == HOOKD_OK ? HKD_STATE_SUCCEEDED
		            : delay >= 0   ? HKD_STATE_RETRYING
		                           : HKD_STATE_DEAD;
		rec.next_at_ms = delay >= 0 ? hkd_now_ms() + delay : 0;
		rec.release = park;
		hkd_store_record(D.store, &rec);
	}

	pthread_mutex_lock(&D.lock);
	if (park) {
		/* Written back unleased (the record above): the claimer takes
		 * it again when it is due. The record is queued before any
		 * claim, and the store writes in order. */
		int64_t due = hkd_now_ms() + delay;
		D.retried++;
		if (!D.parked || due < D.parked_due)
			D.parked_due = due;
		D.parked = 1;
		D.park_gen++;
		pthread_cond_signal(&D.claim_cond);
	} else if (delay >= 0) {
		d->due = hkd_mono_ms() + delay;
		D.retried++;
		if (heap_push(d) == 0) {
			pthread_cond_broadcast(&D.cond);
			d = NULL;
		} else {
			hkd_log_kv(HOOKD_LOG_ERROR, "dead", "delivery", d->id,
			           "reason", "out of memory scheduling a retry",
			           NULL);
			D.dead++;
		}
	} else if (st == HOOKD_OK) {
		D.succeeded++;
	} else {
		D.dead++;
	}
	if (d) {
		D.live--;
		if (D.parked && D.capacity - D.live == claim_min())
			pthread_cond_signal(
			    &D.claim_cond); /* room for a claim */
	}
	pthread_mutex_unlock(&D.lock);
	if (d)
		delivery_free(d);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&D.lock);
	for (;;) {
		struct target_q *t = NULL;
		struct delivery *d;
		if (D.done_head) {
			/* An asynchronous attempt ended on a plugin's thread.
			 */
			struct hookd_attempt *a = D.done_head;
			D.done_head = a->next;
			if (!D.done_head)
				D.done_tail = NULL;
			pthread_mutex_unlock(&D.lock);
			complete_attempt(a, a->status, &a->res);
			pthread_mutex_lock(&D.lock);
			continue;
		}
		if (D.probe_head) {
			struct probe *pr = D.probe_head;
			D.probe_head = pr->next;
			if (!D.probe_head)
				D.probe_tail = NULL;
			D.in_flight++;
			pthread_mutex_unlock(&D.lock);
			start_probe(pr);
			pthread_mutex_lock(&D.lock);
			continue;
		}
		if (D.stopping) {
			/* No new attempts; stay for completions still to come.
			 */
			if (D.in_flight == 0)
				break;
			pthread_cond_wait(&D.cond, &D.lock);
			continue;
		}
		promote_due(hkd_mono_ms());
		d = take_ready(&t);
		if (d) {
			D.in_flight++;
			pthread_mutex_unlock(&D.lock);
			start_attempt(d, t);
			pthread_mutex_lock(&D.lock);
			continue;
		}
		if (D.heap_len > 0) {
			int64_t wait = D.heap[0]->due - hkd_mono_ms();
			struct timespec ts;
			if (wait <= 0)
				continue;
			hkd_deadline(CLOCK_MONOTONIC, wait, &ts);
			pthread_cond_timedwait(&D.cond, &D.lock, &ts);
		} else {
			pthread_cond_wait(&D.cond, &D.lock);
		}
	}
	pthread_cond_broadcast(&D.cond);
	pthread_mutex_unlock(&D.lock);
	return NULL;
}

/* --- the claimer ------------------------------------------------------ */

static void claim_visit(void *arg, struct hkd_stored_delivery *sd)
{
	size_t *used = arg;
	if (hkd_dispatch_resume(sd, 0) == 0)
		(*used)++;
}

static void *claimer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&D.lock);
	while (!D.stopping) {
		size_t room = D.capacity > D.live ? D.capacity - D.live : 0;
		size_t used = 0, claimed = 0;
		int64_t now = hkd_now_ms(), next_at = -1;
		uint64_t gen;
		int rc;

		/* Other nodes park deliveries too, and one that dies leaves its
		 * leased ones behind: a shared store is polled every poll_ms,
		 * parked hint or not (their news, hkd_dispatch_parked, wakes
		 * the claimer sooner). */
		if (!D.parked && hkd_store_is_shared(D.store) &&
		    now >= D.next_poll) {
			D.parked = 1;
			D.parked_due = now;
		}
		if (!D.parked || room < claim_min() || D.parked_due > now) {
			struct timespec ts;
			int64_t wait = CLAIM_POLL_MS;
			if (D.parked && room >= claim_min() &&
			    D.parked_due - now < wait)
				wait = D.parked_due - now;
			if (!D.parked) /* until hkd_dispatch_parked, or the poll
			                */
				wait = hkd_store_is_shared(D.store)
				           ? D.next_poll - now
				           : 60 * 1000;
			hkd_deadline(CLOCK_MONOTONIC, wait, &ts);
			pthread_cond_timedwait(&D.claim_cond, &D.lock, &ts);
			/* Parked deliveries may have come due meanwhile (the
			 * hint is the earliest known, others may be parked
			 * since). */
			if (D.parked && hkd_now_ms() >= now + CLAIM_POLL_MS)
				D.parked_due = 0;
			continue;
		}
		D.live += room; /* reserved for what the claim brings */
		gen = D.park_gen;
		D.next_poll = now + D.poll_ms;
		pthread_mutex_unlock(&D.lock);
		rc = hkd_store_claim(D.store, room, claim_visit, &used,
		                     &claimed, &next_at);
		pthread_mutex_lock(&D.lock);
		D.live -= room - used;
		D.claimed += used;
		if (D.park_gen != gen) {
			/* Parked while the claim ran (its reservation filled
			 * the room, so ingest parked): the claim may not have
			 * seen them. Look again now rather than trust its
			 * answer. */
			D.parked = 1;
			D.parked_due = 0;
		} else if (rc == HKD_STORE_OK) {
			D.parked = next_at >= 0;
			D.parked_due = next_at;
		} else {
			D.parked_due =
			    hkd_now_ms() + CLAIM_POLL_MS; /* try again */
		}
	}
	pthread_mutex_unlock(&D.lock);
	return NULL;
}

void hkd_dispatch_set_poll(int64_t ms)
{
	pthread_mutex_lock(&D.lock);
	D.poll_ms = ms;
	pthread_mutex_unlock(&D.lock);
}

void hkd_dispatch_parked(void)
{
	pthread_mutex_lock(&D.lock);
	D.parked = 1;
	D.parked_due = 0; /* due now */
	D.park_gen++;
	pthread_cond_signal(&D.claim_cond);
	pthread_mutex_unlock(&D.lock);
}

int hkd_dispatch_start(size_t capacity, int workers)
{
	pthread_condattr_t ca;
	/* Plugins' asynchronous attempts end here. */
	hkd_host_on_complete(hkd_dispatch_complete);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&D.cond);
	pthread_cond_init(&D.cond, &ca);
	pthread_cond_init(&D.claim_cond, &ca);
	pthread_cond_destroy(&D.probe_cond);
	pthread_cond_init(&D.probe_cond, &ca);
	pthread_condattr_destroy(&ca);
	D.capacity = capacity;
	D.stopping = 0;
	D.threads = calloc((size_t)workers, sizeof(pthread_t));
	if (!D.threads)
		return -1;
	for (int i = 0; i < workers; i++) {
		if (pthread_create(&D.threads[i], NULL, worker, NULL) != 0) {
			hkd_log(HOOKD_LOG_ERROR, "dispatch",
			        "cannot start worker %d: %s", i,
			        strerror(errno));
			break;
		}
		D.n_workers++;
	}
	if (D.store) {
		if (pthread_create(&D.claimer, NULL, claimer_main, NULL) != 0) {
			hkd_log(HOOKD_LOG_ERROR, "dispatch",
			        "cannot start the claimer: %s",
			        strerror(errno));
			return -1;
		}
		D.claimer_started = 1;
	}
	return D.n_workers == workers ? 0 : -1;
}

long hkd_dispatch_stop(int64_t timeout_ms)
{
	int64_t deadline = hkd_mono_ms() + timeout_ms;
	long pending = 0;
	int all_joined = 1;

	pthread_mutex_lock(&D.lock);
	D.stopping = 1;
	pthread_cond_broadcast(&D.cond);
	pthread_cond_signal(&D.claim_cond);
	pthread_mutex_unlock(&D.lock);
	if (D.claimer_started) {
		/* A claim under way finishes first: what it took is in memory,
		 * counted below as unfinished, and stays stored. */
		pthread_join(D.claimer, NULL);
		D.claimer_started = 0;
	}
	pthread_mutex_lock(&D.lock);
	while (D.in_flight > 0) {
		struct timespec ts;
		int64_t left = deadline - hkd_mono_ms();
		if (left <= 0)
			break;
		hkd_deadline(CLOCK_MONOTONIC, left, &ts);
		pthread_cond_timedwait(&D.cond, &D.lock, &ts);
	}
	if (D.in_flight > 0) {
		all_joined = 0;
		atomic_store(&D.abandoned, 1);
	}
	pthread_mutex_unlock(&D.lock);
	if (!all_joined)
		return -1; /* workers still inside plugins: leave them be */
	for (int i = 0; i < D.n_workers; i++)
		pthread_join(D.threads[i], NULL);
	free(D.threads);
	D.threads = NULL;
	D.n_workers = 0;

	/* Free what was never attempted (the memory store keeps nothing). */
	for (struct target_q *t = D.targets, *tn; t; t = tn) {
		tn = t->next;
		for (struct delivery *d = t->head, *dn; d; d = dn) {
			dn = d->next;
			delivery_free(d);
			pending++;
		}
		free(t->name);
		free(t);
	}
	D.targets = NULL;
	hkd_strmap_free(&D.by_name);
	D.run_head = D.run_tail = NULL;
	while (D.heap_len > 0) {
		delivery_free(heap_pop());
		pending++;
	}
	free(D.heap);
	D.heap = NULL;
	D.heap_cap = 0;
	for (size_t i = 0; i < D.n_suspects; i++)
		free(D.suspects[i]);
	free(D.suspects);
	D.suspects = NULL;
	D.n_suspects = 0;
	return pending;
}

int hkd_dispatch_reserve(size_t n)
{
	int rc = -1;
	pthread_mutex_lock(&D.lock);
	if (!D.stopping && D.live + n <= D.capacity) {
		D.live += n;
		rc = 0;
	} else if (D.store) {
		rc = HKD_DISPATCH_PARK;
	}
	pthread_mutex_unlock(&D.lock);
	return rc;
}

void hkd_dispatch_unreserve(size_t n)
{
	pthread_mutex_lock(&D.lock);
	D.live -= n;
	pthread_mutex_unlock(&D.lock);
}

int hkd_dispatch_submit(struct hkd_event_rec *ev, const struct hkd_match *m,
                        const char *delivery_id)
{
	struct delivery *d = calloc(1, sizeof(*d));
	struct target_q *t;
	if (!d)
		return -1;
	hkd_strlcpy(d->id, delivery_id, sizeof(d->id));
	d->target = strdup(m->target);
	d->retry_ms = malloc((m->n_retry + 1) * sizeof(int64_t));
	if (!d->target || !d->retry_ms)
		goto fail;
	memcpy(d->retry_ms, m->retry_ms, m->n_retry * sizeof(int64_t));
	d->n_retry = m->n_retry;
	atomic_fetch_add(&ev->refs, 1);
	d->event = ev;
	pthread_mutex_lock(&D.lock);
	t = target_get(d->target);
	if (!t) {
		pthread_mutex_unlock(&D.lock);
		goto fail;
	}
	t->limit = m->concurrency > 0 ? m->concurrency : 1;
	target_push(t, d);
	pthread_mutex_unlock(&D.lock);
	return 0;
fail:
	delivery_free(d);
	return -1;
}

void hkd_dispatch_set_store(struct hkd_store *st)
{
	D.store = st;
}

int hkd_dispatch_resume(struct hkd_stored_delivery *sd, int force)
{
	struct delivery *d = calloc(1, sizeof(*d));
	int64_t wait;
	if (!d) {
		hkd_stored_delivery_release(sd);
		return -1;
	}
	hkd_strlcpy(d->id, sd->id, sizeof(d->id));
	d->event = sd->event;
	d->target = sd->target;
	d->retry_ms = sd->retry_ms;
	d->n_retry = sd->n_retry;
	d->attempts = sd->attempts;
	d->base = sd->base;
	sd->event = NULL;
	sd->target = NULL;
	sd->retry_ms = NULL;
	wait = sd->next_at_ms - hkd_now_ms();
	d->due = hkd_mono_ms() + (wait > 0 ? wait : 0);
	pthread_mutex_lock(&D.lock);
	if (force)
		D.live++;
	if (heap_push(d) != 0) {
		if (force)
			D.live--;
		pthread_mutex_unlock(&D.lock);
		delivery_free(d);
		return -1;
	}
	pthread_cond_broadcast(&D.cond);
	pthread_mutex_unlock(&D.lock);
	return 0;
}

void hkd_dispatch_refresh_limits(void)
{
	pthread_mutex_lock(&D.lock);
	for (struct target_q *t = D.targets; t; t = t->next) {
		t->limit = limit_for(t->name);
		make_runnable(t);
	}
	pthread_mutex_unlock(&D.lock);
}

void hkd_dispatch_stats(struct hkd_dispatch_stats *out)
{
	pthread_mutex_lock(&D.lock);
	out->capacity = D.capacity;
	out->live = D.live;
	out->ready = D.ready;
	out->scheduled = D.heap_len;
	out->in_flight = D.in_flight;
	out->succeeded = D.succeeded;
	out->dead = D.dead;
	out->retried = D.retried;
	out->claimed = D.claimed;
	out->parked = D.parked;
	pthread_mutex_unlock(&D.lock);
}
