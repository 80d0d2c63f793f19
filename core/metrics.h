/* Process-wide counters and histograms, rendered for GET /metrics. */
#ifndef HKD_METRICS_H
#define HKD_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Content-Type of what hkd_metrics_render returns (Prometheus text 0.0.4). */
#define HKD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Most distinct label sets one labelled family keeps. A new set past it is
 * folded into target="_other" (reason="_other" for rejections), keeping the
 * outcome or state label; those few folded sets are not counted.
 */
#define HKD_METRICS_MAX_SERIES 1000
#define HKD_METRICS_OTHER      "_other"

/*
 * Counters are process-wide; every function is thread-safe and cheap
 * (atomics, or a short mutex for labelled series). String arguments are
 * borrowed: copied when a new series needs them. NULL or "" for a target or
 * reason is recorded as "unknown" (an empty label value would mean "no
 * label" to Prometheus). Recording never fails loudly: when memory runs out
 * for a new series, that one observation is lost.
 */

/*
 * Forget every observation and free the label tables. Tests only: it must
 * not run concurrently with any other hkd_metrics_ call.
 */
void hkd_metrics_reset(void);

/* hookd_events_accepted_total: an event was stored and acknowledged. */
void hkd_metrics_event_accepted(void);

/* hookd_events_duplicate_total: an event id was already stored (200). */
void hkd_metrics_event_duplicate(void);

/*
 * hookd_events_rejected_total{reason}: a request was refused; reason is the
 * API error code of the answer ("invalid_json", "payload_too_large", ...).
 */
void hkd_metrics_event_rejected(const char *reason);

/*
 * One attempt: hookd_attempts_total{target,outcome="ok|retry|fail"} and the
 * histogram hookd_attempt_duration_seconds{target} (buckets 0.005 0.01
 * 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 +Inf; _sum _count).
 * outcome is an enum hookd_status (0 ok, 1 retry, 2 fail); any other value
 * is ignored. A negative duration_us (a clock step) counts as 0.
 */
void hkd_metrics_attempt(const char *target, int outcome, int64_t duration_us);

/*
 * A delivery reached a final state:
 * hookd_deliveries_total{target,state="succeeded|dead"}. Other states are
 * ignored (they are not final).
 */
void hkd_metrics_delivery_final(const char *target, const char *state);

/*
 * One store commit (a group commit batch):
 * hookd_store_commits_total{result="ok|error"} (ok when ok != 0), and for
 * every commit, failed or not, the histograms hookd_store_commit_batch_size
 * (buckets 1 2 4 8 16 32 64 128 256 512 1024 +Inf) and
 * hookd_store_commit_seconds (buckets 0.0005 0.001 0.0025 0.005 0.01 0.025
 * 0.05 0.1 0.25 0.5 1 +Inf). A negative latency_us counts as 0.
 */
void hkd_metrics_commit(size_t batch, int64_t latency_us, int ok);

/* Values read at render time (gauges). */
struct hkd_metrics_gauges {
	size_t queue_ready;     /* hookd_queue_deliveries{state="ready"} */
	size_t queue_scheduled; /* hookd_queue_deliveries{state="scheduled"} */
	size_t queue_in_flight; /* hookd_queue_deliveries{state="in_flight"} */
	size_t queue_capacity;  /* hookd_queue_capacity */
	uint64_t claimed;       /* hookd_deliveries_claimed_total */
	long long dead_letters; /* hookd_dead_letters; < 0 = unknown: omitted */
	const char *version;    /* hookd_build_info{version,abi="1.0"} 1 */
	double start_time;      /* process_start_time_seconds (unix time) */
};

/*
 * The whole exposition, Prometheus text format 0.0.4 (serve it with
 * HKD_METRICS_CONTENT_TYPE). Every family has its # HELP and # TYPE lines,
 * always, in a fixed order; series within a family are sorted by their
 * label values (bytewise). A labelled family with no observations has no
 * series; accepted, duplicate and commits{result} are always printed.
 * g (borrowed) may be NULL: gauge families then have no series. A NULL
 * version is shown as "unknown"; a start_time <= 0 omits its series.
 * Caller owns the result and frees it with free(); NULL when memory runs
 * out. Safe to call while other threads record.
 */
char *hkd_metrics_render(const struct hkd_metrics_gauges *g);

#endif
