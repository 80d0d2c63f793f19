/*
 * The clocks hookd reads, in the units it keeps: wall-clock milliseconds
 * since the epoch (event times, deadlines) and monotonic milliseconds or
 * microseconds (timeouts, durations); and how a duration is written in a
 * message. Thread-safe.
 */
#ifndef HKD_CLOCK_H
#define HKD_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock ms since the epoch (CLOCK_REALTIME), the unit of
 * hookd_event.deadline_ms. */
int64_t hkd_now_ms(void);

/* Monotonic ms and µs (CLOCK_MONOTONIC), for intervals only. */
int64_t hkd_mono_ms(void);
int64_t hkd_mono_us(void);

/*
 * ms (at least 0) as seconds into buf (len bytes, cut as snprintf cuts):
 * "30s", or "1.5s" with the tenth when it is not whole (the rest is
 * dropped, not rounded). For messages such as "timed out after 1.5s".
 */
void hkd_format_seconds(char *buf, size_t len, int64_t ms);

#endif
