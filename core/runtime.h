/*
 * A runtime is one loaded configuration made live: its plugins, handler
 * instances, routes and catalog. The daemon holds one current runtime;
 * SIGHUP builds a new one and swaps it in. Requests and attempts take a
 * reference for as long as they use it, so an old runtime (and its plugin
 * instances) is destroyed only when its last user lets go.
 */
#ifndef HKD_RUNTIME_H
#define HKD_RUNTIME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "host.h"
#include "plugin_loader.h"

struct hkd_handler {
	char *name;
	struct hkd_plugin_lib *lib;
	struct hookd_config settings;
	void *state;     /* from the plugin's create() */
	int created;     /* create() succeeded: destroy() is owed */
	int concurrency; /* attempts at once; 1 when not THREADSAFE */
};

struct hkd_route {
	const struct hkd_route_conf *conf;
	size_t *handlers; /* indexes into runtime->handlers */
	size_t n_handlers;
};

/* One target an event fans out to, decided at ingest. */
struct hkd_match {
	const char *target; /* handler name or subscription id (borrowed) */
	int concurrency;    /* attempts at once for this target */
	const int64_t *retry_ms; /* borrowed from the runtime */
	size_t n_retry;
};

struct hkd_runtime {
	atomic_int refs;
	struct hkd_config *cfg;
	struct hkd_plugin_lib **libs;
	size_t n_libs;
	struct hkd_handler *handlers;
	size_t n_handlers;
	struct hkd_route *routes;
	size_t n_routes;
	char *catalog_json; /* body of GET /v4/events */
};

/*
 * Make cfg live (steals it): load plugins, check handler settings, create
 * instances. Returns the runtime with one reference, or NULL with every
 * problem in d (cfg freed).
 */
struct hkd_runtime *hkd_runtime_build(struct hkd_config *cfg,
                                      struct hkd_diag *d);
void hkd_runtime_ref(struct hkd_runtime *rt);
void hkd_runtime_unref(struct hkd_runtime *rt);

/* The current runtime, with a reference the caller drops; NULL before start. */
struct hkd_runtime *hkd_runtime_current(void);
/* Install rt (steals its reference) and drop the previous one. */
void hkd_runtime_install(struct hkd_runtime *rt);

/* The handler named `name`, or NULL. */
const struct hkd_handler *hkd_runtime_handler(const struct hkd_runtime *rt,
                                              const char *name);

/*
 * Targets for an event of `type` from `source` (routes with a sources
 * list only take events from those): each handler once (the first matching
 * route decides its retry schedule). Fills out[0..max) and returns the
 * count (may exceed max: call again with more room).
 */
size_t hkd_runtime_route(const struct hkd_runtime *rt, const char *type,
                         const char *source, struct hkd_match *out, size_t max);

#endif
