/* A plugin's side of the host table (see pluginkit.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errmsg.h"
#include "pluginkit.h"

/* Room for a host's message about a template. */
#define WHY_MAX 256

int hkd_host_usable(const struct hookd_host *h)
{
	return h && h->abi_major == HOOKD_ABI_MAJOR &&
	       h->struct_size >=
	           offsetof(struct hookd_host, free) + sizeof(h->free);
}

const char *hkd_conf_string(const struct hookd_host *h,
                            const struct hookd_config *cfg, const char *key)
{
	const char *s = NULL;

	return h->config_string(cfg, key, &s) == 0 ? s : NULL;
}

/*
 * Read list or group key `key` into *out (an array of *n entries, names
 * NULL for a list) as hkd_conf_list and hkd_conf_group promise, with
 * their return value.
 */
static int read_entries(const struct hookd_host *h,
                        const struct hookd_config *cfg, const char *key,
                        int group, struct hkd_conf_entry **out, int *n,
                        char *err, size_t errlen)
{
	struct hkd_conf_entry *e = NULL;
	int count = h->config_count(cfg, key);
	int i;

	*out = NULL;
	*n = 0;
	if (count <= 0)
		return count == 0;
	e = calloc((size_t)count, sizeof(*e));
	if (!e) {
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < count; i++) {
		if (h->config_item(cfg, key, i, group ? &e[i].name : NULL,
		                   &e[i].value) < 0 ||
		    !e[i].value || (group && !e[i].name)) {
			hkd_set_err(err, errlen, "%s: cannot read %s %d", key,
			            group ? "entry" : "element", i);
			goto fail;
		}
	}
	*out = e;
	*n = count;
	return 1;
fail:
	free(e);
	return -1;
}

int hkd_conf_list(const struct hookd_host *h, const struct hookd_config *cfg,
                  const char *key, const char ***values, int *n, char *err,
                  size_t errlen)
{
	struct hkd_conf_entry *e;
	const char **v;
	int i, ret;

	*values = NULL;
	ret = read_entries(h, cfg, key, 0, &e, n, err, errlen);
	if (!e)
		return ret;
	v = calloc((size_t)*n, sizeof(*v));
	if (!v) {
		hkd_set_err(err, errlen, "out of memory");
		*n = 0;
		ret = -1;
		goto out;
	}
	for (i = 0; i < *n; i++)
		v[i] = e[i].value;
	*values = v;
out:
	free(e);
	return ret;
}

int hkd_conf_group(const struct hookd_host *h, const struct hookd_config *cfg,
                   const char *key, struct hkd_conf_entry **entries, int *n,
                   char *err, size_t errlen)
{
	return read_entries(h, cfg, key, 1, entries, n, err, errlen);
}

static void explain(char *err, size_t errlen, const char *why,
                    const char *otherwise, const char *what, va_list ap)
    HOOKD_PRINTF(5, 0);

/* "WHAT: why" into err, WHAT from what and ap, why or else `otherwise`. */
static void explain(char *err, size_t errlen, const char *why,
                    const char *otherwise, const char *what, va_list ap)
{
	size_t n;

	if (!err || errlen == 0)
		return;
	vsnprintf(err, errlen, what, ap);
	n = strlen(err);
	snprintf(err + n, errlen - n, ": %s", why[0] ? why : otherwise);
}

int hkd_check_template(const struct hookd_host *h, const char *tmpl, char *err,
                       size_t errlen, const char *what, ...)
{
	char why[WHY_MAX];
	va_list ap;

	why[0] = '\0';
	if (h->check_template(tmpl, why, sizeof(why)) >= 0)
		return 0;
	va_start(ap, what);
	explain(err, errlen, why, "invalid template", what, ap);
	va_end(ap);
	return -1;
}

char *hkd_render(const struct hookd_host *h, const char *tmpl,
                 const struct hookd_event *ev, enum hookd_render_mode mode,
                 char *err, size_t errlen, const char *what, ...)
{
	char why[WHY_MAX];
	va_list ap;
	char *s;

	why[0] = '\0';
	s = h->render(tmpl, ev, mode, why, sizeof(why));
	if (!s) {
		va_start(ap, what);
		explain(err, errlen, why, "cannot render", what, ap);
		va_end(ap);
	}
	return s;
}

int64_t hkd_attempt_limit(int64_t timeout_ms, int64_t deadline_ms,
                          int *by_event)
{
	int64_t left;

	*by_event = 0;
	if (deadline_ms <= 0)
		return timeout_ms;
	left = deadline_ms - hkd_now_ms();
	if (left >= timeout_ms)
		return timeout_ms;
	*by_event = 1;
	return left;
}
