/*
 * Test plugin: valid, but named "test-good" like good.c; loading both must
 * be refused (plugin names are unique).
 */
#include "stub.h"

static const struct hookd_plugin plugin = STUB_PLUGIN(
    "test-good", sizeof(struct hookd_plugin), HOOKD_ABI_MAJOR, HOOKD_ABI_MINOR);

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return &plugin;
}
