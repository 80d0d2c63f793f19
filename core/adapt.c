/*
 * Adaptive concurrency: the rule of adapt.h.
 */
#include <string.h>

#include "adapt.h"

void hkd_adapt_init(struct hkd_adapt *a)
{
	memset(a, 0, sizeof(*a));
	a->window = HKD_ADAPT_START;
}

void hkd_adapt_learn(struct hkd_adapt *a, enum hookd_status st, int64_t took_us,
                     int64_t now_us, int ceiling)
{
	double cut = 1;

	if (st == HOOKD_OK) {
		if (a->samples == 0 || took_us < a->low_us)
			a->low_us = took_us;
		if (a->base_us == 0 || took_us < a->base_us)
			a->base_us = took_us;
		if (++a->samples >= HKD_ADAPT_SAMPLES) {
			a->base_us = a->low_us; /* may rise: a lasting change */
			a->samples = 0;
		}
		a->avg_us =
		    a->avg_us ? a->avg_us + (took_us - a->avg_us) / 8 : took_us;
		if (a->avg_us >
		    a->base_us * HKD_ADAPT_SLOWER + HKD_ADAPT_MARGIN_US)
			cut = 0.8;
		else
			a->window += a->grown ? 1 / a->window : 1;
	} else if (st == HOOKD_RETRY) {
		cut = 0.5;
	}
	if (cut < 1 && now_us - a->cut_at >= a->avg_us) {
		a->window *= cut;
		a->grown = 1;
		a->cut_at = now_us;
	}
	if (a->window > ceiling)
		a->window = ceiling;
	if (a->window < 1)
		a->window = 1;
}

int hkd_adapt_room(const struct hkd_adapt *a, int ceiling)
{
	int w = (int)a->window;

	return w < 1 ? 1 : w > ceiling ? ceiling : w;
}
