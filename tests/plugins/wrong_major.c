/* Test plugin: built for ABI 2.0; a 1.x host must refuse it. */
#include "stub.h"

static const struct hookd_plugin plugin = STUB_PLUGIN(
    "test-wrong-major", sizeof(struct hookd_plugin), HOOKD_ABI_MAJOR + 1, 0);

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return &plugin;
}
