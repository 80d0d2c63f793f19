/*
 * Adaptive concurrency: how many attempts one receiver (a subscription)
 * is given at once, learnt from how it answers — more while it answers
 * quickly, fewer at once when it fails, times out or slows down — between
 * 1 and a ceiling (subscriptions.concurrency). The dispatcher keeps one
 * per subscription queue, under its lock; this file holds the rule.
 *
 * The rule (additive increase, multiplicative decrease):
 * - the window starts at HKD_ADAPT_START;
 * - a success adds one while in slow start (the window doubles per round
 *   trip), then 1/window (one per round trip);
 * - a retry (a timeout, a 5xx or 429, a transport error) halves it and
 *   ends slow start;
 * - when the average latency (a moving average, 1/8 per sample) exceeds
 *   HKD_ADAPT_SLOWER times the base latency plus HKD_ADAPT_MARGIN_US, a
 *   success cuts it by a fifth instead; the base is the least latency
 *   seen, and every HKD_ADAPT_SAMPLES successes the least of those, so a
 *   lasting change of the receiver becomes the new base;
 * - at most one decrease per average latency: answers to attempts sent
 *   before a cut do not cut again. A failure (a 4xx) changes nothing.
 */
#ifndef HKD_ADAPT_H
#define HKD_ADAPT_H

#include <stdint.h>

#include "hookd/plugin.h"

#define HKD_ADAPT_START     2
#define HKD_ADAPT_SAMPLES   64
#define HKD_ADAPT_SLOWER    2
#define HKD_ADAPT_MARGIN_US 5000

struct hkd_adapt {
	double window;   /* attempts it may have in flight now */
	int grown;       /* slow start is over (a first sign of load) */
	int64_t base_us; /* least latency since the last HKD_ADAPT_SAMPLES */
	int64_t low_us;  /* the least of the samples since base_us was set */
	int samples;     /* since then */
	int64_t avg_us;  /* latency, moving average */
	int64_t cut_at;  /* monotonic µs of the last decrease */
};

void hkd_adapt_init(struct hkd_adapt *a);
/* An attempt ended with st after took_us, at now_us (monotonic). */
void hkd_adapt_learn(struct hkd_adapt *a, enum hookd_status st, int64_t took_us,
                     int64_t now_us, int ceiling);
/* The attempts allowed at once now: 1 to ceiling. */
int hkd_adapt_room(const struct hkd_adapt *a, int ceiling);

#endif
