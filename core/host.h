/*
 * The host side of the plugin ABI: the service table handed to plugins and
 * the settings handle (struct hookd_config) each handler instance reads.
 */
#ifndef HKD_HOST_H
#define HKD_HOST_H

#include <libconfig.h>
#include "config.h"
#include "hookd/plugin.h"

/* One resolved secret: element `index` (0 for a string) of key `key`. */
struct hkd_secret {
	char *key;
	int index;
	char *value;
};

/* A handler's settings as a plugin sees them. Read-only once built. */
struct hookd_config {
	const config_setting_t *group; /* borrowed from the hkd_config */
	const char *instance;          /* borrowed handler name */
	struct hkd_secret *secrets;
	size_t n_secrets;
};

/* The table given to every plugin's entry function. */
const struct hookd_host *hkd_host(void);

/* What finishes an asynchronous attempt (hookd_host.complete). */
typedef void (*hkd_complete_fn)(struct hookd_attempt *a, enum hookd_status st,
                                const struct hookd_result *res);

/* Route hookd_host.complete to fn (the dispatcher, as it starts; the host
 * sits below it and does not call it by name). */
void hkd_host_on_complete(hkd_complete_fn fn);

/*
 * Where a handler's settings come from, which decides what its secret keys
 * mean. HKD_SETTINGS_OPERATOR: hookd.conf, whose secret values may be
 * `env:NAME` or `file:PATH` references that are resolved here.
 * HKD_SETTINGS_API: built from data that arrived over HTTP (a
 * subscription): every value is literal, nothing is ever resolved, so no
 * request can make hookd read its environment or a file.
 */
enum hkd_settings_origin {
	HKD_SETTINGS_OPERATOR,
	HKD_SETTINGS_API,
};

/*
 * Build hc for handler group `group` of a plugin declaring `keys`: every
 * member must be a declared key (or a core key: plugin, concurrency) of the
 * declared type, required keys must be set, and secret keys are resolved
 * when origin is HKD_SETTINGS_OPERATOR. Problems go to d with file:line.
 * 0 when clean, -1 otherwise.
 */
int hkd_host_config_init(struct hookd_config *hc, const char *instance,
                         const config_setting_t *group,
                         const struct hookd_plugin *plugin,
                         enum hkd_settings_origin origin, const char *file,
                         struct hkd_diag *d);
void hkd_host_config_release(struct hookd_config *hc);

#endif
