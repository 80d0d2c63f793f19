/*
 * Error messages into a caller's buffer: the convention of every
 * interface of the tree that reports why it failed (char *err, size_t
 * errlen), and of the plugin ABI (create()'s errbuf, hookd_result.reason).
 */
#ifndef HKD_ERRMSG_H
#define HKD_ERRMSG_H

#include <stddef.h>

/*
 * printf into err (errlen bytes, cut as vsnprintf cuts). err may be NULL
 * and errlen 0: then nothing is written, so a function can report through
 * whatever buffer its caller passed without checking it first.
 */
void hkd_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The message of errno value err ("No such file or directory"), or
 * "Unknown error" for a value that has none. Thread-safe, never NULL; a
 * static string.
 */
const char *hkd_errtext(int err);

#endif
