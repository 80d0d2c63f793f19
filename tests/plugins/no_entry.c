/*
 * Test plugin: a shared object without hookd_plugin_entry. It exports a
 * look-alike under another name, so dlsym() of the real one must fail.
 */
#include "stub.h"

const struct hookd_plugin *hookd_plugin_main(const struct hookd_host *host);

static const struct hookd_plugin plugin =
    STUB_PLUGIN("test-no-entry", sizeof(struct hookd_plugin), HOOKD_ABI_MAJOR,
                HOOKD_ABI_MINOR);

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_main(const struct hookd_host *host)
{
	(void)host;
	return &plugin;
}
