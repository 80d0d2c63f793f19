/*
 * Metrics: process-wide counters and histograms, rendered in the Prometheus
 * text exposition format 0.0.4.
 *
 * Threads: any thread may record at any time. Unlabelled series are C11
 * atomics, updated with relaxed ordering: each is an independent tally and
 * nothing else is published through it. Labelled series live in one table
 * per family, sorted by label values, behind that family's mutex; the lock
 * covers a binary search and an increment (an insertion the first time a
 * label set is seen), or a copy of the table when rendering. Text is
 * formatted from the copy, outside any lock, so a scrape never stalls a
 * worker for longer than a memcpy.
 *
 * Durations are kept as integer microseconds and compared against integer
 * bucket bounds, so "le" is exact (no 0.1 + 0.2 surprises) and _sum is
 * printed as an exact decimal.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookd/plugin.h"
#include "metrics.h"
#include "util.h"

/* ---- Histogram layouts ------------------------------------------------ */

/* Finite buckets of the largest layout; the +Inf bucket comes on top. */
#define HIST_MAX 13

/*
 * Upper bounds (inclusive, as "le" says) in the unit observations are
 * recorded in, and their "le" text as Prometheus clients print it.
 */
struct hist_layout {
	const int64_t *bound;
	const char *const *le;
	size_t n;
	int micro; /* 1: observations are microseconds, _sum in seconds */
};

static const int64_t attempt_bound[] = {
    5000,    10000,   25000,   50000,    100000,   250000,  500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
static const char *const attempt_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1",     "2.5",  "5",     "10",   "30",  "60"};

static const int64_t batch_bound[] = {1,  2,   4,   8,   16,  32,
                                      64, 128, 256, 512, 1024};
static const char *const batch_le[] = {"1",  "2",   "4",   "8",   "16",  "32",
                                       "64", "128", "256", "512", "1024"};

static const int64_t commit_bound[] = {500,    1000,   2500,   5000,
                                       10000,  25000,  50000,  100000,
                                       250000, 500000, 1000000};
static const char *const commit_le[] = {"0.0005", "0.001", "0.0025", "0.005",
                                        "0.01",   "0.025", "0.05",   "0.1",
                                        "0.25",   "0.5",   "1"};

_Static_assert(HKD_ARRAY_LEN(attempt_bound) == HKD_ARRAY_LEN(attempt_le),
               "attempt buckets");
_Static_assert(HKD_ARRAY_LEN(batch_bound) == HKD_ARRAY_LEN(batch_le),
               "batch buckets");
_Static_assert(HKD_ARRAY_LEN(commit_bound) == HKD_ARRAY_LEN(commit_le),
               "commit buckets");
_Static_assert(HKD_ARRAY_LEN(attempt_bound) <= HIST_MAX, "HIST_MAX");
_Static_assert(HKD_ARRAY_LEN(batch_bound) <= HIST_MAX, "HIST_MAX");
_Static_assert(HKD_ARRAY_LEN(commit_bound) <= HIST_MAX, "HIST_MAX");

static const struct hist_layout attempt_layout = {
    attempt_bound, attempt_le, HKD_ARRAY_LEN(attempt_bound), 1};
static const struct hist_layout batch_layout = {batch_bound, batch_le,
                                                HKD_ARRAY_LEN(batch_bound), 0};
static const struct hist_layout commit_layout = {
    commit_bound, commit_le, HKD_ARRAY_LEN(commit_bound), 1};

/*
 * Index of the bucket v falls in: the first bound >= v, or n (the slot
 * above the last bound, counted only by +Inf). Buckets are stored
 * per slot and made cumulative when rendered.
 */
static size_t bucket_of(const struct hist_layout *h, int64_t v)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (v <= h->bound[i])
			break;
	return i;
}

/* ---- Unlabelled series: atomics --------------------------------------- */

/* A histogram without labels; its count is the sum of its slots. */
struct atomic_hist {
	_Atomic uint64_t slot[HIST_MAX + 1];
	_Atomic uint64_t sum;
};

static _Atomic uint64_t events_accepted;
static _Atomic uint64_t events_duplicate;
static _Atomic uint64_t commits_ok;
static _Atomic uint64_t commits_error;
static struct atomic_hist commit_batch;
static struct atomic_hist commit_latency;

/* Add one observation v (already clamped to >= 0) to h. */
static void atomic_hist_observe(struct atomic_hist *h,
                                const struct hist_layout *layout, int64_t v)
{
	atomic_fetch_add_explicit(&h->slot[bucket_of(layout, v)], 1,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, (uint64_t)v, memory_order_relaxed);
}

/* Zero every slot and the sum of h. */
static void atomic_hist_clear(struct atomic_hist *h)
{
	for (size_t i = 0; i < HIST_MAX + 1; i++)
		atomic_store_explicit(&h->slot[i], 0, memory_order_relaxed);
	atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
}

/* ---- Labelled series: one sorted table per family --------------------- */

/*
 * One label set and its values. key is the target (or the reason), owned;
 * sub is the outcome or state name, a static string, or NULL for families
 * with a single label. Counter families use count only; the histogram
 * family uses count (observations), sum (microseconds) and slot.
 */
struct series {
	char *key;
	const char *sub;
	uint64_t count;
	uint64_t sum;
	uint64_t slot[HIST_MAX + 1];
};

/*
 * A labelled family's table. Every field is guarded by lock. v is sorted
 * by (key, sub); distinct counts the entries that count against
 * HKD_METRICS_MAX_SERIES (all but those created by folding).
 */
struct family {
	pthread_mutex_t lock;
	struct series **v;
	size_t n;
	size_t alloc;
	size_t distinct;
};

static struct family rejected = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};
static struct family attempts = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};
static struct family durations = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};
static struct family deliveries = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};

/* Label values of hookd_attempts_total{outcome}, indexed by hookd_status. */
static const char *const outcome_name[] = {"ok", "retry", "fail"};
_Static_assert(HOOKD_OK == 0 && HOOKD_RETRY == 1 && HOOKD_FAIL == 2,
               "outcome_name follows enum hookd_status");

/* NULL or "" would be an absent label to Prometheus: name it. */
static const char *label_or_unknown(const char *s)
{
	return s == NULL || *s == '\0' ? "unknown" : s;
}

/* Order of label sets: key bytewise, then sub (NULL first). */
static int series_cmp(const struct series *s, const char *key, const char *sub)
{
	int c = strcmp(s->key, key);

	if (c != 0)
		return c;
	if (s->sub == sub)
		return 0;
	if (s->sub == NULL)
		return -1;
	if (sub == NULL)
		return 1;
	return strcmp(s->sub, sub);
}

/*
 * Binary search of f (lock held) for (key, sub), both borrowed: the index
 * where it is (*found = 1) or would be inserted (*found = 0).
 */
static size_t series_find(const struct family *f, const char *key,
                          const char *sub, int *found)
{
	size_t lo = 0;
	size_t hi = f->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = series_cmp(f->v[mid], key, sub);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The series for (key, sub) in f, created (zeroed) when missing. Called
 * with f->lock held; key and sub are borrowed (key is copied, sub must be
 * static). Once f holds HKD_METRICS_MAX_SERIES distinct sets, a new set is
 * folded into key HKD_METRICS_OTHER with the same sub; sub takes only a
 * few fixed values, so the folded sets stay few and are not counted.
 * The table is owned by f; NULL when memory runs out.
 */
static struct series *series_get(struct family *f, const char *key,
                                 const char *sub)
{
	struct series *s = NULL;
	size_t at;
	int found;
	int counted = 1;

	at = series_find(f, key, sub, &found);
	if (found)
		return f->v[at];
	if (f->distinct >= HKD_METRICS_MAX_SERIES) {
		key = HKD_METRICS_OTHER;
		counted = 0;
		at = series_find(f, key, sub, &found);
		if (found)
			return f->v[at];
	}
	if (hkd_grow(&f->v, &f->alloc, f->n, sizeof(*f->v), 16))
		goto fail;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		goto fail;
	s->key = hkd_strdup(key);
	if (s->key == NULL)
		goto fail;
	s->sub = sub;
	memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof(*f->v));
	f->v[at] = s;
	f->n++;
	if (counted)
		f->distinct++;
	return s;
fail:
	free(s);
	return NULL;
}

/* Add one to the counter (key, sub) of f; key borrowed, sub static. */
static void family_count(struct family *f, const char *key, const char *sub)
{
	struct series *s;

	pthread_mutex_lock(&f->lock);
	s = series_get(f, label_or_unknown(key), sub);
	if (s != NULL)
		s->count++;
	pthread_mutex_unlock(&f->lock);
}

/*
 * Copy f's series into a new array (*out, caller frees with free(); NULL
 * when *n is 0). The copy is shallow: keys stay owned by f, valid until
 * hkd_metrics_reset. 0, or -1 when memory runs out.
 */
static int family_snapshot(struct family *f, struct series **out, size_t *n)
{
	struct series *copy = NULL;
	int rc = -1;

	pthread_mutex_lock(&f->lock);
	if (f->n > 0) {
		copy = malloc(f->n * sizeof(*copy));
		if (copy == NULL)
			goto out;
		for (size_t i = 0; i < f->n; i++)
			copy[i] = *f->v[i];
	}
	*n = f->n;
	*out = copy;
	rc = 0;
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Free every series of f and its table (f itself is static). */
static void family_clear(struct family *f)
{
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i]->key);
		free(f->v[i]);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
	f->alloc = 0;
	f->distinct = 0;
	pthread_mutex_unlock(&f->lock);
}

/* ---- Recording -------------------------------------------------------- */

/* See metrics.h. Tests only: not concurrent with anything else. */
void hkd_metrics_reset(void)
{
	atomic_store_explicit(&events_accepted, 0, memory_order_relaxed);
	atomic_store_explicit(&events_duplicate, 0, memory_order_relaxed);
	atomic_store_explicit(&commits_ok, 0, memory_order_relaxed);
	atomic_store_explicit(&commits_error, 0, memory_order_relaxed);
	atomic_hist_clear(&commit_batch);
	atomic_hist_clear(&commit_latency);
	family_clear(&rejected);
	family_clear(&attempts);
	family_clear(&durations);
	family_clear(&deliveries);
}

/* See metrics.h. */
void hkd_metrics_event_accepted(void)
{
	atomic_fetch_add_explicit(&events_accepted, 1, memory_order_relaxed);
}

/* See metrics.h. */
void hkd_metrics_event_duplicate(void)
{
	atomic_fetch_add_explicit(&events_duplicate, 1, memory_order_relaxed);
}

/* See metrics.h. reason is borrowed. */
void hkd_metrics_event_rejected(const char *reason)
{
	family_count(&rejected, reason, NULL);
}

/*
 * See metrics.h. target is borrowed. The counter and the histogram are two
 * families with their own tables (and caps), updated one after the other.
 */
void hkd_metrics_attempt(const char *target, int outcome, int64_t duration_us)
{
	struct series *s;
	size_t slot;

	if (outcome < 0 || outcome >= (int)HKD_ARRAY_LEN(outcome_name))
		return;
	if (duration_us < 0)
		duration_us = 0;
	target = label_or_unknown(target);
	family_count(&attempts, target, outcome_name[outcome]);

	slot = bucket_of(&attempt_layout, duration_us);
	pthread_mutex_lock(&durations.lock);
	s = series_get(&durations, target, NULL);
	if (s != NULL) {
		s->slot[slot]++;
		s->count++;
		s->sum += (uint64_t)duration_us;
	}
	pthread_mutex_unlock(&durations.lock);
}

/* See metrics.h. target and state are borrowed. */
void hkd_metrics_delivery_final(const char *target, const char *state)
{
	const char *name;

	if (state == NULL)
		return;
	if (strcmp(state, "succeeded") == 0)
		name = "succeeded";
	else if (strcmp(state, "dead") == 0)
		name = "dead";
	else
		return;
	family_count(&deliveries, target, name);
}

/* See metrics.h. */
void hkd_metrics_commit(size_t batch, int64_t latency_us, int ok)
{
	int64_t size = batch > (size_t)INT64_MAX ? INT64_MAX : (int64_t)batch;

	if (latency_us < 0)
		latency_us = 0;
	atomic_fetch_add_explicit(ok ? &commits_ok : &commits_error, 1,
	                          memory_order_relaxed);
	atomic_hist_observe(&commit_batch, &batch_layout, size);
	atomic_hist_observe(&commit_latency, &commit_layout, latency_us);
}

/* ---- Rendering -------------------------------------------------------- */

/* A growing text buffer; failed sticks once an allocation failed. */
struct out {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

/* Room for more bytes plus a NUL in o; 0, or -1 (and o->failed). */
static int out_reserve(struct out *o, size_t more)
{
	size_t cap = o->cap ? o->cap : 4096;
	char *p;

	if (o->failed)
		return -1;
	if (o->len + more + 1 <= o->cap)
		return 0;
	while (cap < o->len + more + 1)
		cap *= 2;
	p = realloc(o->p, cap);
	if (p == NULL) {
		o->failed = 1;
		return -1;
	}
	o->p = p;
	o->cap = cap;
	return 0;
}

/* Append printf output to o. */
static void out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (out_reserve(o, 64) < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->failed = 1;
		return;
	}
	if ((size_t)n >= o->cap - o->len) {
		if (out_reserve(o, (size_t)n) < 0)
			return;
		va_start(ap, fmt);
		vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
	}
	o->len += (size_t)n;
}

/*
 * Append s (borrowed) as a label value: the format escapes backslash,
 * double quote and line feed, and nothing else.
 */
static void out_label_value(struct out *o, const char *s)
{
	/* Escaping at most doubles the length. */
	if (out_reserve(o, 2 * strlen(s)) < 0)
		return;
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"') {
			o->p[o->len++] = '\\';
			o->p[o->len++] = *s;
		} else if (*s == '\n') {
			o->p[o->len++] = '\\';
			o->p[o->len++] = 'n';
		} else {
			o->p[o->len++] = *s;
		}
	}
	o->p[o->len] = '\0';
}

/*
 * Append "name{label="value",...}" (borrowed strings): up to two label
 * pairs (a NULL label name ends the list) and an optional le. No braces at
 * all when there is no label.
 */
static void out_series(struct out *o, const char *name, const char *suffix,
                       const char *l1, const char *v1, const char *l2,
                       const char *v2, const char *le)
{
	const char *sep = "{";

	out_printf(o, "%s%s", name, suffix);
	if (l1 != NULL) {
		out_printf(o, "%s%s=\"", sep, l1);
		out_label_value(o, v1);
		out_printf(o, "\"");
		sep = ",";
	}
	if (l2 != NULL) {
		out_printf(o, "%s%s=\"", sep, l2);
		out_label_value(o, v2);
		out_printf(o, "\"");
		sep = ",";
	}
	if (le != NULL) {
		out_printf(o, "%sle=\"%s\"", sep, le);
		sep = ",";
	}
	if (*sep == ',')
		out_printf(o, "}");
}

/* Append the # HELP and # TYPE lines of a family (static strings). */
static void out_header(struct out *o, const char *name, const char *type,
                       const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * Append v as a decimal: microseconds as exact seconds ("0.25", "3",
 * "0.000001") when micro, else as an integer.
 */
static void out_amount(struct out *o, uint64_t v, int micro)
{
	char frac[24];
	size_t len;

	if (!micro || v % 1000000 == 0) {
		out_printf(o, "%" PRIu64, micro ? v / 1000000 : v);
		return;
	}
	snprintf(frac, sizeof(frac), "%06" PRIu64, v % 1000000);
	len = strlen(frac);
	while (len > 0 && frac[len - 1] == '0')
		frac[--len] = '\0';
	out_printf(o, "%" PRIu64 ".%s", v / 1000000, frac);
}

/*
 * Append one histogram series: cumulative _bucket lines from per-slot
 * counts, +Inf (which is the count), _sum and _count. Labels as for
 * out_series; all borrowed.
 */
static void out_histogram(struct out *o, const char *name,
                          const struct hist_layout *h, const char *l1,
                          const char *v1, const uint64_t *slot, uint64_t sum)
{
	uint64_t cum = 0;

	for (size_t i = 0; i < h->n; i++) {
		cum += slot[i];
		out_series(o, name, "_bucket", l1, v1, NULL, NULL, h->le[i]);
		out_printf(o, " %" PRIu64 "\n", cum);
	}
	cum += slot[h->n];
	out_series(o, name, "_bucket", l1, v1, NULL, NULL, "+Inf");
	out_printf(o, " %" PRIu64 "\n", cum);
	out_series(o, name, "_sum", l1, v1, NULL, NULL, NULL);
	out_printf(o, " ");
	out_amount(o, sum, h->micro);
	out_printf(o, "\n");
	out_series(o, name, "_count", l1, v1, NULL, NULL, NULL);
	out_printf(o, " %" PRIu64 "\n", cum);
}

/*
 * Append an unlabelled histogram family read from atomics. Each slot is
 * read once and _count is their total, so the +Inf bucket and _count
 * always agree even while commits land; _sum may be one commit ahead.
 * No series when nothing was observed.
 */
static void out_atomic_hist(struct out *o, const char *name, const char *help,
                            struct atomic_hist *a, const struct hist_layout *h)
{
	uint64_t slot[HIST_MAX + 1];
	uint64_t total = 0;

	out_header(o, name, "histogram", help);
	for (size_t i = 0; i <= h->n; i++) {
		slot[i] =
		    atomic_load_explicit(&a->slot[i], memory_order_relaxed);
		total += slot[i];
	}
	if (total == 0)
		return;
	out_histogram(o, name, h, NULL, NULL, slot,
	              atomic_load_explicit(&a->sum, memory_order_relaxed));
}

/*
 * Append a labelled counter family: key_label is the label of
 * series.key, sub_label that of series.sub (NULL for none). 0, or -1 when
 * memory runs out.
 */
static int out_counter_family(struct out *o, struct family *f, const char *name,
                              const char *help, const char *key_label,
                              const char *sub_label)
{
	struct series *snap = NULL;
	size_t n = 0;

	out_header(o, name, "counter", help);
	if (family_snapshot(f, &snap, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out_series(o, name, "", key_label, snap[i].key, sub_label,
		           snap[i].sub, NULL);
		out_printf(o, " %" PRIu64 "\n", snap[i].count);
	}
	free(snap);
	return 0;
}

/* Append hookd_attempt_duration_seconds. 0, or -1 when memory runs out. */
static int out_durations(struct out *o)
{
	static const char name[] = "hookd_attempt_duration_seconds";
	struct series *snap = NULL;
	size_t n = 0;

	out_header(o, name, "histogram",
	           "Duration of one delivery attempt (one plugin call), "
	           "by target.");
	if (family_snapshot(&durations, &snap, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out_histogram(o, name, &attempt_layout, "target", snap[i].key,
		              snap[i].slot, snap[i].sum);
	free(snap);
	return 0;
}

/* Append the families whose values the caller supplies (g may be NULL). */
static void out_gauges(struct out *o, const struct hkd_metrics_gauges *g)
{
	out_header(o, "hookd_queue_deliveries", "gauge",
	           "Deliveries in the in-memory run queue, by state.");
	if (g != NULL)
		out_printf(o,
		           "hookd_queue_deliveries{state=\"in_flight\"} %zu\n"
		           "hookd_queue_deliveries{state=\"ready\"} %zu\n"
		           "hookd_queue_deliveries{state=\"scheduled\"} %zu\n",
		           g->queue_in_flight, g->queue_ready,
		           g->queue_scheduled);
	out_header(o, "hookd_queue_capacity", "gauge",
	           "Most deliveries the in-memory run queue holds.");
	if (g != NULL)
		out_printf(o, "hookd_queue_capacity %zu\n", g->queue_capacity);
	out_header(
	    o, "hookd_deliveries_claimed_total", "counter",
	    "Parked deliveries taken from the store into the run queue.");
	if (g != NULL)
		out_printf(o, "hookd_deliveries_claimed_total %llu\n",
		           (unsigned long long)g->claimed);
	out_header(o, "hookd_dead_letters", "gauge",
	           "Dead deliveries currently stored (replayable).");
	if (g != NULL && g->dead_letters >= 0)
		out_printf(o, "hookd_dead_letters %lld\n", g->dead_letters);
}

/*
 * Append hookd_build_info and process_start_time_seconds (g may be NULL).
 * The start time is printed to the millisecond, trailing zeros dropped.
 */
static void out_process(struct out *o, const struct hkd_metrics_gauges *g)
{
	char num[64];
	size_t len;

	out_header(o, "hookd_build_info", "gauge",
	           "Always 1; labels name the hookd version and plugin ABI.");
	if (g != NULL) {
		out_printf(o, "hookd_build_info{version=\"");
		out_label_value(o, label_or_unknown(g->version));
		out_printf(o, "\",abi=\"%d.%d\"} 1\n", HOOKD_ABI_MAJOR,
		           HOOKD_ABI_MINOR);
	}
	out_header(o, "process_start_time_seconds", "gauge",
	           "Start time of the process since the Unix epoch, in "
	           "seconds.");
	/* The comparison is false for NaN too; 1e15 s keeps %.3f short. */
	if (g == NULL || !(g->start_time > 0 && g->start_time < 1e15))
		return;
	snprintf(num, sizeof(num), "%.3f", g->start_time);
	len = strlen(num);
	while (len > 0 && num[len - 1] == '0')
		num[--len] = '\0';
	if (len > 0 && num[len - 1] == '.')
		num[--len] = '\0';
	out_printf(o, "process_start_time_seconds %s\n", num);
}

/*
 * See metrics.h. Families come in a fixed order (process, events,
 * deliveries, queue, store); each table is copied under its lock and
 * formatted after. Caller owns the result (free()).
 */
char *hkd_metrics_render(const struct hkd_metrics_gauges *g)
{
	struct out o = {NULL, 0, 0, 0};

	out_process(&o, g);

	out_header(&o, "hookd_events_accepted_total", "counter",
	           "Events stored and acknowledged with 202.");
	out_printf(
	    &o, "hookd_events_accepted_total %" PRIu64 "\n",
	    atomic_load_explicit(&events_accepted, memory_order_relaxed));
	out_header(&o, "hookd_events_duplicate_total", "counter",
	           "Events whose id was already stored (answered 200, "
	           "not stored again).");
	out_printf(
	    &o, "hookd_events_duplicate_total %" PRIu64 "\n",
	    atomic_load_explicit(&events_duplicate, memory_order_relaxed));
	if (out_counter_family(&o, &rejected, "hookd_events_rejected_total",
	                       "Requests refused, by API error code.", "reason",
	                       NULL) < 0)
		goto fail;

	if (out_counter_family(&o, &attempts, "hookd_attempts_total",
	                       "Delivery attempts, by target and outcome.",
	                       "target", "outcome") < 0)
		goto fail;
	if (out_durations(&o) < 0)
		goto fail;
	if (out_counter_family(&o, &deliveries, "hookd_deliveries_total",
	                       "Deliveries that reached a final state, by "
	                       "target.",
	                       "target", "state") < 0)
		goto fail;

	out_gauges(&o, g);

	out_header(&o, "hookd_store_commits_total", "counter",
	           "Store commits (group commit batches), by result.");
	out_printf(&o,
	           "hookd_store_commits_total{result=\"error\"} %" PRIu64 "\n"
	           "hookd_store_commits_total{result=\"ok\"} %" PRIu64 "\n",
	           atomic_load_explicit(&commits_error, memory_order_relaxed),
	           atomic_load_explicit(&commits_ok, memory_order_relaxed));
	out_atomic_hist(&o, "hookd_store_commit_batch_size",
	                "Writes in one store commit (group commit): events, "
	                "attempt results and other store jobs.",
	                &commit_batch, &batch_layout);
	out_atomic_hist(&o, "hookd_store_commit_seconds",
	                "Duration of one store commit.", &commit_latency,
	                &commit_layout);

	if (o.failed)
		goto fail;
	return o.p;
fail:
	free(o.p);
	return NULL;
}
