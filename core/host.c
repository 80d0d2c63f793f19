/*
 * Services for plugins. Everything here may be called from any thread:
 * settings are read-only after start-up and the renderer only reads the
 * event trees it shares with other threads (see hkd_event_rec_tree).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "host.h"
#include "log.h"
#include "template.h"
#include "util.h"

static void host_log(const char *instance, enum hookd_log_level level,
                     const char *fmt, ...) HOOKD_PRINTF(3, 4);

static void host_log(const char *instance, enum hookd_log_level level,
                     const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level > HOOKD_LOG_DEBUG)
		level = HOOKD_LOG_DEBUG;
	hkd_log_kv(level, "plugin", "handler", instance ? instance : "-",
	           "detail", msg, NULL);
}

static const struct hkd_secret *find_secret(const struct hookd_config *cfg,
                                            const char *key, int index)
{
	for (size_t i = 0; i < cfg->n_secrets; i++)
		if (cfg->secrets[i].index == index &&
		    strcmp(cfg->secrets[i].key, key) == 0)
			return &cfg->secrets[i];
	return NULL;
}

static const config_setting_t *member(const struct hookd_config *cfg,
                                      const char *key)
{
	if (!cfg || !cfg->group || !key)
		return NULL;
	return config_setting_get_member(cfg->group, key);
}

static int host_config_string(const struct hookd_config *cfg, const char *key,
                              const char **out)
{
	const config_setting_t *s = member(cfg, key);
	const struct hkd_secret *sec;
	if (!s || config_setting_type(s) != CONFIG_TYPE_STRING)
		return -1;
	sec = find_secret(cfg, key, 0);
	*out = sec ? sec->value : config_setting_get_string(s);
	return 0;
}

static int host_config_int(const struct hookd_config *cfg, const char *key,
                           int64_t *out)
{
	const config_setting_t *s = member(cfg, key);
	if (!s || (config_setting_type(s) != CONFIG_TYPE_INT &&
	           config_setting_type(s) != CONFIG_TYPE_INT64))
		return -1;
	*out = config_setting_get_int64(s);
	return 0;
}

static int host_config_bool(const struct hookd_config *cfg, const char *key,
                            int *out)
{
	const config_setting_t *s = member(cfg, key);
	if (!s || config_setting_type(s) != CONFIG_TYPE_BOOL)
		return -1;
	*out = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

static int is_aggregate(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST ||
	       t == CONFIG_TYPE_GROUP;
}

static int host_config_count(const struct hookd_config *cfg, const char *key)
{
	const config_setting_t *s = member(cfg, key);
	if (!s)
		return -1;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return 1; /* a lone string is a one-element list */
	if (!is_aggregate(s))
		return -1;
	return config_setting_length(s);
}

static int host_config_item(const struct hookd_config *cfg, const char *key,
                            int index, const char **name_out, const char **out)
{
	const config_setting_t *s = member(cfg, key), *e;
	const struct hkd_secret *sec;
	if (!s || index < 0)
		return -1;
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (index != 0)
			return -1;
		e = s;
	} else {
		if (!is_aggregate(s) || index >= config_setting_length(s))
			return -1;
		e = config_setting_get_elem(s, (unsigned)index);
	}
	if (config_setting_type(e) != CONFIG_TYPE_STRING)
		return -1;
	if (name_out)
		*name_out = config_setting_type(s) == CONFIG_TYPE_GROUP
		                ? config_setting_name(e)
		                : NULL;
	sec = find_secret(cfg, key, index);
	*out = sec ? sec->value : config_setting_get_string(e);
	return 0;
}

/*
 * hookd_host.render. A template without "{{" names nothing of the event
 * and is copied without a look at it. Otherwise the template reads the
 * event's tree: the one its record shares between every render of its
 * queued deliveries when event is the dispatcher's (hkd_event_rec_of),
 * with the texts of its objects ({{data}}) written once too; else a tree
 * parsed for this call — a plugin rendering a copy of its event, or from
 * its own thread, pays a parse as it always did.
 */
static char *host_render(const char *tmpl, const struct hookd_event *event,
                         enum hookd_render_mode mode, char *errbuf,
                         size_t errlen)
{
	char scratch[256];
	json_error_t jerr;
	struct hkd_event_rec *rec;
	struct hkd_event_tree *shared = NULL;
	const json_t *root = NULL;
	json_t *parsed = NULL;
	char *out;
	struct hkd_template_vars vars = {0, NULL};

	if (!errbuf) {
		errbuf = scratch;
		errlen = sizeof(scratch);
	}
	if (!tmpl || !event) {
		snprintf(errbuf, errlen,
		         "render: template and event are required");
		return NULL;
	}
	vars.attempt = event->attempt;
	vars.target = event->target;
	if (!strstr(tmpl, "{{"))
		return hkd_template_render(tmpl, NULL, &vars, mode, errbuf,
		                           errlen);
	if (event->json) {
		rec = hkd_event_rec_of(event);
		if (rec) {
			shared = hkd_event_rec_tree(rec, &jerr);
			root = shared ? shared->root : NULL;
		} else {
			root = parsed =
			    json_loadb(event->json, event->json_len, 0, &jerr);
		}
		if (!root) {
			snprintf(errbuf, errlen, "render: event JSON: %s",
			         jerr.text);
			return NULL;
		}
	}
	out = hkd_template_render_shared(tmpl, root,
	                                 shared ? &shared->texts : NULL, &vars,
	                                 mode, errbuf, errlen);
	hkd_event_tree_put(shared);
	json_decref(parsed);
	return out;
}

static int host_check_template(const char *tmpl, char *errbuf, size_t errlen)
{
	char scratch[256];
	if (!errbuf) {
		errbuf = scratch;
		errlen = sizeof(scratch);
	}
	return hkd_template_check(tmpl ? tmpl : "", errbuf, errlen);
}

static void host_free(void *p)
{
	free(p);
}

/* Who finishes the attempts plugins complete asynchronously: the
 * dispatcher, which says so as it starts (hkd_host_on_complete), before
 * any attempt runs. */
static hkd_complete_fn complete_fn;

void hkd_host_on_complete(hkd_complete_fn fn)
{
	complete_fn = fn;
}

static void host_complete(struct hookd_attempt *a, enum hookd_status st,
                          const struct hookd_result *res)
{
	if (complete_fn)
		complete_fn(a, st, res);
	else
		hkd_log(HOOKD_LOG_ERROR, "host",
		        "complete() called while no dispatcher runs");
}

static const struct hookd_host host_table = {
    .struct_size = sizeof(struct hookd_host),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .version = PACKAGE_VERSION,
    .log = host_log,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .config_bool = host_config_bool,
    .config_count = host_config_count,
    .config_item = host_config_item,
    .render = host_render,
    .check_template = host_check_template,
    .free = host_free,
    .complete = host_complete,
};

const struct hookd_host *hkd_host(void)
{
	return &host_table;
}

static const char *type_name(enum hookd_key_type t)
{
	switch (t) {
	case HOOKD_KEY_STRING:
		return "a string";
	case HOOKD_KEY_INT:
		return "an integer";
	case HOOKD_KEY_BOOL:
		return "true or false";
	case HOOKD_KEY_LIST:
		return "a list of strings";
	case HOOKD_KEY_GROUP:
		return "a group of strings { NAME = \"value\"; }";
	}
	return "?";
}

/* Does setting s have the declared type t (strings inside aggregates)? */
static int type_ok(const config_setting_t *s, enum hookd_key_type t)
{
	int st = config_setting_type(s), n;
	switch (t) {
	case HOOKD_KEY_STRING:
		return st == CONFIG_TYPE_STRING;
	case HOOKD_KEY_INT:
		return st == CONFIG_TYPE_INT || st == CONFIG_TYPE_INT64;
	case HOOKD_KEY_BOOL:
		return st == CONFIG_TYPE_BOOL;
	case HOOKD_KEY_LIST:
		if (st == CONFIG_TYPE_STRING)
			return 1;
		if (st != CONFIG_TYPE_ARRAY && st != CONFIG_TYPE_LIST)
			return 0;
		break;
	case HOOKD_KEY_GROUP:
		if (st != CONFIG_TYPE_GROUP)
			return 0;
		break;
	default:
		return 0;
	}
	n = config_setting_length(s);
	for (int i = 0; i < n; i++)
		if (config_setting_type(config_setting_get_elem(
		        s, (unsigned)i)) != CONFIG_TYPE_STRING)
			return 0;
	return 1;
}

static int add_secret(struct hookd_config *hc, const char *key, int index,
                      const char *raw, char *err, size_t errlen)
{
	struct hkd_secret *grown;
	char *v = hkd_secret_resolve(raw, err, errlen);
	if (!v)
		return -1;
	grown = realloc(hc->secrets, (hc->n_secrets + 1) * sizeof(*grown));
	if (!grown) {
		free(v);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	hc->secrets = grown;
	hc->secrets[hc->n_secrets].key = strdup(key);
	hc->secrets[hc->n_secrets].index = index;
	hc->secrets[hc->n_secrets].value = v;
	hc->n_secrets++;
	return 0;
}

int hkd_host_config_init(struct hookd_config *hc, const char *instance,
                         const config_setting_t *group,
                         const struct hookd_plugin *plugin,
                         enum hkd_settings_origin origin, const char *file,
                         struct hkd_diag *d)
{
	size_t before = d->n;
	int n = config_setting_length(group);
	char err[512];

	memset(hc, 0, sizeof(*hc));
	hc->group = group;
	hc->instance = instance;
	for (int i = 0; i < n; i++) {
		const config_setting_t *s =
		    config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct hookd_config_key *k = NULL;
		int core = 0;
		/* Keys the host itself reads from every handler group. */
		for (const char *const *c = hkd_config_section_keys("handlers");
		     *c; c++)
			if (strcmp(*c, name) == 0)
				core = 1;
		if (core)
			continue;
		for (const struct hookd_config_key *p = plugin->keys;
		     p && p->name; p++)
			if (strcmp(p->name, name) == 0)
				k = p;
		if (!k) {
			hkd_diag_add(
			    d, file, s,
			    "handler '%s': unknown key '%s' for plugin '%s'",
			    instance, name, plugin->name);
			continue;
		}
		if (!type_ok(s, k->type)) {
			hkd_diag_add(d, file, s, "handler '%s': %s must be %s",
			             instance, name, type_name(k->type));
			continue;
		}
		/* API data is literal: no secret is resolved, so the plugin
		 * reads every value as it was sent. */
		if (!(k->flags & HOOKD_KEY_SECRET) ||
		    origin != HKD_SETTINGS_OPERATOR)
			continue;
		if (config_setting_type(s) == CONFIG_TYPE_STRING) {
			if (add_secret(hc, name, 0,
			               config_setting_get_string(s), err,
			               sizeof(err)) != 0)
				hkd_diag_add(d, file, s, "handler '%s': %s: %s",
				             instance, name, err);
			continue;
		}
		for (int j = 0; j < config_setting_length(s); j++) {
			const char *raw = config_setting_get_string(
			    config_setting_get_elem(s, (unsigned)j));
			if (add_secret(hc, name, j, raw, err, sizeof(err)) != 0)
				hkd_diag_add(d, file, s,
				             "handler '%s': %s[%d]: %s",
				             instance, name, j, err);
		}
	}
	for (const struct hookd_config_key *p = plugin->keys; p && p->name; p++)
		if ((p->flags & HOOKD_KEY_REQUIRED) &&
		    !config_setting_get_member(group, p->name))
			hkd_diag_add(
			    d, file, group,
			    "handler '%s': plugin '%s' requires key '%s' (%s)",
			    instance, plugin->name, p->name,
			    p->help ? p->help : type_name(p->type));
	return d->n > before ? -1 : 0;
}

void hkd_host_config_release(struct hookd_config *hc)
{
	for (size_t i = 0; i < hc->n_secrets; i++) {
		free(hc->secrets[i].key);
		if (hc->secrets[i].value)
			memset(hc->secrets[i].value, 0,
			       strlen(hc->secrets[i].value));
		free(hc->secrets[i].value);
	}
	free(hc->secrets);
	hc->secrets = NULL;
	hc->n_secrets = 0;
}
