/*
 * A host for the unit tests that load a built plugin with dlopen() and
 * drive it directly: the services of struct hookd_host over a
 * configuration the test builds key by key, templates rendered by
 * core/template.c, every log line kept for the test to read, and
 * complete() handed to the test's own bookkeeping.
 *
 * Keys read as core/host.c reads hookd.conf's: each reader answers only
 * for a key of its own type (else -1, as for a key not set), a boolean is
 * 0 or 1, and a string key is also a one-element list.
 */
#ifndef HOOKD_TEST_MOCK_HOST_H
#define HOOKD_TEST_MOCK_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "hookd/plugin.h"

#define MOCK_CONFIG_KEYS  16   /* keys of one configuration */
#define MOCK_CONFIG_ITEMS 16   /* elements of a list, entries of a group */
#define MOCK_CONFIG_TEXT  8192 /* bytes of names and values, NULs included */

/* One key: its type says which of the other members hold its value. */
struct mock_key {
	const char *name;
	enum hookd_key_type type;
	const char *str; /* HOOKD_KEY_STRING */
	int64_t num;     /* HOOKD_KEY_INT, HOOKD_KEY_BOOL (0 or 1) */
	int n;           /* HOOKD_KEY_LIST, HOOKD_KEY_GROUP: items */
	const char *items[MOCK_CONFIG_ITEMS];
	const char *names[MOCK_CONFIG_ITEMS]; /* a group's entry names */
};

/*
 * The opaque configuration handle of the ABI, defined here for the mock
 * host. All zeros (`= {0}`, memset, mock_config_clear) is a configuration
 * with no key set. The setters copy names and values into `text`, so a
 * configuration borrows nothing from its caller; it points into itself,
 * so it is never copied by assignment. A key set twice, or more than the
 * limits above, fails the running test.
 */
struct hookd_config {
	int n;
	struct mock_key keys[MOCK_CONFIG_KEYS];
	size_t text_len;
	char text[MOCK_CONFIG_TEXT];
};

/* Unset every key of c. */
void mock_config_clear(struct hookd_config *c);

/* Set key to a string, an integer or a boolean (any non-zero is true). */
void mock_config_string(struct hookd_config *c, const char *key,
                        const char *value);
void mock_config_int(struct hookd_config *c, const char *key, int64_t value);
void mock_config_bool(struct hookd_config *c, const char *key, int value);

/* Set key to a list of the strings that follow, up to a NULL (none: an
 * empty list). */
void mock_config_list(struct hookd_config *c, const char *key, ...);

/* Set key to a group of the name, value pairs that follow, up to a NULL
 * in a name's place. */
void mock_config_group(struct hookd_config *c, const char *key, ...);

/*
 * The host table: ABI HOOKD_ABI_MAJOR.HOOKD_ABI_MINOR, version "test",
 * complete() NULL until mock_host_on_complete sets it. Valid for the whole
 * run; a test wanting an older host copies it and shrinks the copy's
 * struct_size.
 */
const struct hookd_host *mock_host(void);

/* The function of the test's own that the table's complete() is: set it
 * before the plugin's entry reads the table. */
typedef void mock_complete_fn(struct hookd_attempt *attempt,
                              enum hookd_status status,
                              const struct hookd_result *result);
void mock_host_on_complete(mock_complete_fn *fn);

/*
 * Every line logged since mock_log_clear(), each "LEVEL TEXT\n" (LEVEL as
 * a number, e.g. "3 ..." for HOOKD_LOG_DEBUG), cut at 64 KiB. Borrowed:
 * read it while no plugin call runs. With HOOKD_TEST_VERBOSE set in the
 * environment each line goes to stderr as well.
 */
const char *mock_log_text(void);
void mock_log_clear(void);

#endif /* HOOKD_TEST_MOCK_HOST_H */
