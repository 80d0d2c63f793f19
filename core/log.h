/* Logging: one line per record to stderr, as text or JSON. */
#ifndef HKD_LOG_H
#define HKD_LOG_H

#include "hookd/plugin.h"

enum hkd_log_format { HKD_LOG_TEXT = 0, HKD_LOG_JSON = 1 };

/* Set once at start-up, before threads exist. */
void hkd_log_setup(enum hkd_log_format format, enum hookd_log_level level);
int hkd_log_parse_format(const char *s, enum hkd_log_format *out);
int hkd_log_parse_level(const char *s, enum hookd_log_level *out);

/*
 * Write one record: `msg` is a short fixed word ("event", "attempt",
 * "config") and the rest are key/value string pairs ending with NULL.
 * Text:  2026-11-28T14:00:00.123Z INFO attempt key=value key="two words"
 * JSON:  {"ts":"…","level":"info","msg":"attempt","key":"value",…}
 * Each record is one write(2), so lines from threads never interleave.
 */
void hkd_log_kv(enum hookd_log_level level, const char *msg, ...);

/* A free-form record: `msg` word plus one "detail" rendered from fmt. */
void hkd_log(enum hookd_log_level level, const char *msg, const char *fmt, ...)
    HOOKD_PRINTF(3, 4);

#endif
