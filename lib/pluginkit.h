/*
 * A built-in plugin's side of the host table (include/hookd/plugin.h):
 * accepting the table in hookd_plugin_entry(), reading a handler's
 * settings through the config accessors, checking and rendering templates
 * with a message that names the setting, and fitting an attempt into the
 * event's deadline.
 *
 * Only the public ABI: nothing here knows the daemon's side of the table.
 * Internal to the tree, like all of lib/: a third-party plugin compiles
 * against include/hookd/ alone. Thread-safe as the host services are;
 * nothing here keeps state.
 */
#ifndef HKD_PLUGINKIT_H
#define HKD_PLUGINKIT_H

#include <stddef.h>
#include <stdint.h>

#include <hookd/plugin.h>

/*
 * 1 when host table h (may be NULL) can carry a plugin built against this
 * header: it is not NULL, speaks HOOKD_ABI_MAJOR, and is long enough to
 * hold every 1.0 service (up to and including free). Any abi_minor will
 * do: a service appended later is checked where it is used, with
 * HOOKD_HOST_HAS. hookd_plugin_entry() returns NULL when this is 0.
 */
int hkd_host_usable(const struct hookd_host *h);

/*
 * String key `key` of cfg through h->config_string: the value (borrowed
 * from cfg, valid until destroy()), or NULL when the key is not set.
 */
const char *hkd_conf_string(const struct hookd_host *h,
                            const struct hookd_config *cfg, const char *key);

/* One entry of a group key (name = "value"); both strings borrowed from
 * cfg, valid until destroy(). */
struct hkd_conf_entry {
	const char *name;
	const char *value;
};

/*
 * The elements of list key `key` of cfg: *values is a new array of *n
 * strings (caller frees the array with free(); the strings are borrowed
 * from cfg), NULL when *n is 0. Returns 1 when the key is set (an empty
 * list too), 0 when it is not (*n 0), or -1 with "out of memory" or
 * "KEY: cannot read element I" in err (may be NULL), *values NULL and
 * *n 0.
 */
int hkd_conf_list(const struct hookd_host *h, const struct hookd_config *cfg,
                  const char *key, const char ***values, int *n, char *err,
                  size_t errlen);

/*
 * The same for group key `key`: *entries holds *n name/value pairs in the
 * order of the file ("KEY: cannot read entry I" for one without a name or
 * a string value).
 */
int hkd_conf_group(const struct hookd_host *h, const struct hookd_config *cfg,
                   const char *key, struct hkd_conf_entry **entries, int *n,
                   char *err, size_t errlen);

/*
 * Check the syntax of template tmpl (borrowed) with h->check_template.
 * 0 when valid; -1 with "WHAT: why" in err (may be NULL), WHAT formatted
 * from `what` and its arguments (the setting: "body", "env: NAME"), why
 * the host's message or "invalid template" when it gave none.
 */
int hkd_check_template(const struct hookd_host *h, const char *tmpl, char *err,
                       size_t errlen, const char *what, ...) HOOKD_PRINTF(5, 6);

/*
 * Render template tmpl (borrowed) for ev in mode with h->render. Returns
 * the text (caller frees with h->free), or NULL with "WHAT: why" in err
 * (may be NULL), why the host's message or "cannot render".
 */
char *hkd_render(const struct hookd_host *h, const char *tmpl,
                 const struct hookd_event *ev, enum hookd_render_mode mode,
                 char *err, size_t errlen, const char *what, ...)
    HOOKD_PRINTF(7, 8);

/*
 * The time limit of one attempt in ms: timeout_ms (> 0), or what is left
 * until deadline_ms (wall-clock ms, hookd_event.deadline_ms; 0: none)
 * when that is sooner, with *by_event set to 1 then (else 0). 0 or less
 * when the deadline has passed: the attempt should not start.
 */
int64_t hkd_attempt_limit(int64_t timeout_ms, int64_t deadline_ms,
                          int *by_event);

#endif
