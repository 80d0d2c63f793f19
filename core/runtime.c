#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "glob.h"
#include "log.h"
#include "runtime.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hkd_runtime *current; /* guarded by current_lock */

/* Load (or reuse) the library for handler hc; NULL after a diagnostic. */
static struct hkd_plugin_lib *load_lib(struct hkd_runtime *rt,
                                       const struct hkd_handler_conf *hc,
                                       struct hkd_diag *d)
{
	char err[1024];
	char *path = hkd_plugin_path(rt->cfg->plugin_dir, hc->plugin);
	struct hkd_plugin_lib *lib = NULL, **grown;

	if (!path)
		return NULL;
	for (size_t i = 0; i < rt->n_libs; i++)
		if (strcmp(rt->libs[i]->path, path) == 0) {
			lib = rt->libs[i];
			goto out;
		}
	lib = hkd_plugin_open(path, err, sizeof(err));
	if (!lib) {
		hkd_diag_add(d, rt->cfg->path,
		             config_setting_get_member(hc->setting, "plugin"),
		             "handler '%s': %s", hc->name, err);
		goto out;
	}
	for (size_t i = 0; i < rt->n_libs; i++)
		if (strcmp(rt->libs[i]->desc.name, lib->desc.name) == 0) {
			hkd_diag_add(
			    d, rt->cfg->path,
			    config_setting_get_member(hc->setting, "plugin"),
			    "handler '%s': %s: duplicate plugin name '%s' "
			    "(also provided by %s)",
			    hc->name, path, lib->desc.name, rt->libs[i]->path);
			hkd_plugin_close(lib);
			lib = NULL;
			goto out;
		}
	grown = realloc(rt->libs, (rt->n_libs + 1) * sizeof(*grown));
	if (!grown) {
		hkd_plugin_close(lib);
		lib = NULL;
		goto out;
	}
	rt->libs = grown;
	rt->libs[rt->n_libs++] = lib;
out:
	free(path);
	return lib;
}

static void make_handlers(struct hkd_runtime *rt, struct hkd_diag *d)
{
	const struct hkd_config *cfg = rt->cfg;
	rt->handlers = calloc(cfg->n_handlers + 1, sizeof(*rt->handlers));
	if (!rt->handlers)
		return;
	for (size_t i = 0; i < cfg->n_handlers; i++) {
		const struct hkd_handler_conf *hc = &cfg->handlers[i];
		struct hkd_handler *h = &rt->handlers[rt->n_handlers++];
		char err[1024] = "";
		h->name = hc->name;
		/* A config with errors (--check-config) may have holes. */
		if (!hc->plugin || !config_setting_is_group(hc->setting))
			continue;
		h->lib = load_lib(rt, hc, d);
		if (!h->lib)
			continue;
		if (hkd_host_config_init(&h->settings, h->name, hc->setting,
		                         &h->lib->desc, HKD_SETTINGS_OPERATOR,
		                         cfg->path, d) != 0)
			continue;
		if (h->lib->desc.create(h->name, &h->settings, &h->state, err,
		                        sizeof(err)) != 0) {
			hkd_diag_add(
			    d, cfg->path, hc->setting, "handler '%s': %s",
			    h->name,
			    err[0] ? err : "the plugin refused its settings");
			continue;
		}
		h->created = 1;
		h->concurrency =
		    hc->concurrency > 0 ? hc->concurrency : cfg->workers;
		if (!(h->lib->desc.flags & HOOKD_PLUGIN_THREADSAFE))
			h->concurrency = 1;
	}
}

static void make_routes(struct hkd_runtime *rt)
{
	const struct hkd_config *cfg = rt->cfg;
	rt->routes = calloc(cfg->n_routes + 1, sizeof(*rt->routes));
	if (!rt->routes)
		return;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct hkd_route_conf *rc = &cfg->routes[i];
		struct hkd_route *r = &rt->routes[rt->n_routes++];
		r->conf = rc;
		r->handlers = calloc(rc->n_handlers + 1, sizeof(size_t));
		if (!r->handlers)
			continue;
		for (size_t j = 0; j < rc->n_handlers; j++)
			for (size_t k = 0; k < rt->n_handlers; k++)
				if (strcmp(rt->handlers[k].name,
				           rc->handlers[j]) == 0)
					r->handlers[r->n_handlers++] = k;
	}
}

static char *make_catalog(const struct hkd_config *cfg)
{
	json_t *root = json_object(), *arr = json_array();
	char *out;
	for (size_t i = 0; i < cfg->n_types; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "name", json_string(cfg->types[i].name));
		json_object_set_new(e, "description",
		                    json_string(cfg->types[i].description));
		if (cfg->types[i].n_required) {
			json_t *req = json_array();
			for (size_t j = 0; j < cfg->types[i].n_required; j++)
				json_array_append_new(
				    req,
				    json_string(cfg->types[i].required[j]));
			json_object_set_new(e, "required", req);
		}
		json_array_append_new(arr, e);
	}
	/* hookd's own operational events can be routed and subscribed to. */
	json_array_append_new(
	    arr, json_pack("{s:s, s:s}", "name", "hookd.subscription.disabled",
	                   "description",
	                   "hookd disabled a webhook subscription (its "
	                   "receiver answered 410, or failed for too long)"));
	json_object_set_new(root, "events", arr);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

static void runtime_free(struct hkd_runtime *rt)
{
	for (size_t i = 0; i < rt->n_handlers; i++) {
		struct hkd_handler *h = &rt->handlers[i];
		if (h->created && h->lib->desc.destroy)
			h->lib->desc.destroy(h->state);
		hkd_host_config_release(&h->settings);
	}
	for (size_t i = 0; i < rt->n_routes; i++)
		free(rt->routes[i].handlers);
	for (size_t i = 0; i < rt->n_libs; i++)
		hkd_plugin_close(rt->libs[i]);
	free(rt->libs);
	free(rt->handlers);
	free(rt->routes);
	free(rt->catalog_json);
	hkd_config_free(rt->cfg);
	free(rt);
}

struct hkd_runtime *hkd_runtime_build(struct hkd_config *cfg,
                                      struct hkd_diag *d)
{
	size_t before = d->n;
	struct hkd_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt) {
		hkd_config_free(cfg);
		hkd_diag_add(d, NULL, NULL, "out of memory");
		return NULL;
	}
	atomic_init(&rt->refs, 1);
	rt->cfg = cfg;
	make_handlers(rt, d);
	make_routes(rt);
	rt->catalog_json = make_catalog(cfg);
	if (d->n > before || !rt->handlers || !rt->routes ||
	    !rt->catalog_json) {
		if (d->n == before)
			hkd_diag_add(d, cfg->path, NULL, "out of memory");
		runtime_free(rt);
		return NULL;
	}
	return rt;
}

void hkd_runtime_ref(struct hkd_runtime *rt)
{
	atomic_fetch_add(&rt->refs, 1);
}

void hkd_runtime_unref(struct hkd_runtime *rt)
{
	if (rt && atomic_fetch_sub(&rt->refs, 1) == 1)
		runtime_free(rt);
}

struct hkd_runtime *hkd_runtime_current(void)
{
	struct hkd_runtime *rt;
	pthread_mutex_lock(&current_lock);
	rt = current;
	if (rt)
		hkd_runtime_ref(rt);
	pthread_mutex_unlock(&current_lock);
	return rt;
}

void hkd_runtime_install(struct hkd_runtime *rt)
{
	struct hkd_runtime *old;
	pthread_mutex_lock(&current_lock);
	old = current;
	current = rt;
	pthread_mutex_unlock(&current_lock);
	hkd_runtime_unref(old);
}

const struct hkd_handler *hkd_runtime_handler(const struct hkd_runtime *rt,
                                              const char *name)
{
	for (size_t i = 0; i < rt->n_handlers; i++)
		if (strcmp(rt->handlers[i].name, name) == 0)
			return &rt->handlers[i];
	return NULL;
}

size_t hkd_runtime_route(const struct hkd_runtime *rt, const char *type,
                         const char *source, struct hkd_match *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < rt->n_routes; i++) {
		const struct hkd_route *r = &rt->routes[i];
		int hit = 0;
		if (r->conf->n_sources) {
			int from = 0;
			for (size_t j = 0; j < r->conf->n_sources && !from; j++)
				from = source &&
				       strcmp(r->conf->sources[j], source) == 0;
			if (!from)
				continue;
		}
		for (size_t j = 0; j < r->conf->n_events && !hit; j++)
			hit = hkd_glob_match(r->conf->events[j], type);
		if (!hit)
			continue;
		for (size_t j = 0; j < r->n_handlers; j++) {
			const struct hkd_handler *h =
			    &rt->handlers[r->handlers[j]];
			int seen = 0;
			for (size_t k = 0; k < n && k < max; k++)
				if (out[k].target == h->name)
					seen = 1;
			if (seen)
				continue;
			if (n < max) {
				out[n].target = h->name;
				out[n].concurrency = h->concurrency;
				out[n].retry_ms = r->conf->retry_ms
				                      ? r->conf->retry_ms
				                      : hkd_default_retry_ms;
				out[n].n_retry = r->conf->retry_ms
				                     ? r->conf->n_retry
				                     : hkd_default_retry_len;
			}
			n++;
		}
	}
	return n;
}
