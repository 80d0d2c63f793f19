/*
 * hello — the smallest useful hookd handler plugin.
 *
 * It logs one line per event through the host's logger and always reports
 * success. Read it top to bottom: it is the whole contract in miniature.
 * Build it with the Makefile next to it (only pkg-config is needed):
 *
 *   make && make install
 *
 * and use it from hookd.conf:
 *
 *   handlers = { hi = { plugin = "hello"; }; };
 *   routes = ( { events = ["*"]; handlers = ["hi"]; } );
 */
#include <stddef.h>

#include <hookd/plugin.h> /* the only hookd header a plugin needs */

/*
 * The host's table of services (log, config getters, render...). It is
 * handed to hookd_plugin_entry() and stays valid until the plugin is
 * unloaded; its services may be called from any thread.
 */
static const struct hookd_host *host;

/*
 * create(): runs once per handler instance, on the main thread, while the
 * configuration is loaded. hello has no settings and no per-instance state,
 * so it only sets *state (NULL is fine) and returns 0. A plugin that cannot
 * work with its settings writes a message into errbuf and returns -1.
 */
static int hello_create(const char *instance, const struct hookd_config *cfg,
                        void **state, char *errbuf, size_t errlen)
{
	(void)instance;
	(void)cfg;
	(void)errbuf;
	(void)errlen;
	*state = NULL;
	return 0;
}

/*
 * dispatch(): one attempt to deliver one event, on a worker thread. The
 * event and every string in it are borrowed: valid only during this call.
 * `result` was zeroed by the host; filling its reason is optional.
 */
static enum hookd_status hello_dispatch(void *state,
                                        const struct hookd_event *ev,
                                        struct hookd_result *result)
{
	(void)state;
	(void)result;
	host->log(ev->target, HOOKD_LOG_INFO,
	          "hello: event %s of type %s (attempt %u)", ev->id, ev->type,
	          ev->attempt);
	return HOOKD_OK;
}

/* No settings: the key list is just its terminator. */
static const struct hookd_config_key hello_keys[] = {{.name = NULL}};

/*
 * The descriptor. It must live until the plugin is unloaded: a static const
 * struct is usual. struct_size and the ABI numbers let the host check the
 * plugin was built against a header it understands.
 */
static const struct hookd_plugin hello_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "hello",
    .version = "1.0",
    .description = "example: logs every event it receives",
    /* dispatch() touches no shared state, so concurrent calls are fine. */
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = hello_keys,
    .create = hello_create,
    .dispatch = hello_dispatch,
    .destroy = NULL, /* nothing to release */
};

/* The one exported symbol: keep the host table, hand back the descriptor. */
HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	host = h;
	return &hello_plugin;
}
