/*
 * The delivery ids of the attempts running now, kept where a fatal-signal
 * handler can read them: fixed slots, written with atomics, read by
 * hkd_inflight_report without a lock or an allocation. A crash report then
 * says which deliveries were being attempted (see crash.c). Best effort
 * past HKD_INFLIGHT_SLOTS attempts at once.
 */
#ifndef HKD_INFLIGHT_H
#define HKD_INFLIGHT_H

#define HKD_INFLIGHT_SLOTS 1024

/* Note id as running: its slot, or -1 when every slot is taken. */
int hkd_inflight_take(const char *id);
/* The attempt of slot (from hkd_inflight_take; -1: none) ended. */
void hkd_inflight_free(int slot);
/* Write each running id, one per line, to fd; async-signal-safe. */
void hkd_inflight_report(int fd);

#endif
