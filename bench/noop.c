/*
 * noop — a handler plugin that does nothing measurable: every attempt
 * succeeds at once. The ingest scenarios route their events to it so that
 * what is measured is hookd's own path (HTTP, validation, routing, store,
 * queue, attempt bookkeeping), not a handler's work.
 *
 *   handlers = { sink = { plugin = "/path/to/noop.so"; }; };
 *
 * Built by bench/run against include/hookd/plugin.h. Bench-only.
 */
#include <stddef.h>

#include <hookd/plugin.h>

static int noop_create(const char *instance, const struct hookd_config *cfg,
                       void **state, char *errbuf, size_t errlen)
{
	(void)instance;
	(void)cfg;
	(void)errbuf;
	(void)errlen;
	*state = NULL;
	return 0;
}

static enum hookd_status noop_dispatch(void *state,
                                       const struct hookd_event *ev,
                                       struct hookd_result *result)
{
	(void)state;
	(void)ev;
	(void)result;
	return HOOKD_OK;
}

static const struct hookd_config_key noop_keys[] = {{NULL, 0, 0, NULL}};

static const struct hookd_plugin noop_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "noop",
    .version = "1",
    .description = "succeeds at once (benchmarks)",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = noop_keys,
    .create = noop_create,
    .dispatch = noop_dispatch,
};

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return &noop_plugin;
}
