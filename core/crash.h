/* Crash containment (see crash.c). Main thread, at start. */
#ifndef HKD_CRASH_H
#define HKD_CRASH_H

/* Catch fatal signals and write the attempts in flight to STORE.crash
 * (only for an SQLite store: a memory store keeps nothing anyway). */
void hkd_crash_guard_install(const char *storage_url);

/* Read what the last crash left (if anything) and hand it to the
 * dispatcher; the file is removed. After hkd_crash_guard_install. */
void hkd_crash_report_load(void);

#endif
