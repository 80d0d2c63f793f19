/* Test plugin: built against a newer minor ABI than the host's; refused. */
#include "stub.h"

static const struct hookd_plugin plugin =
    STUB_PLUGIN("test-newer-minor", sizeof(struct hookd_plugin),
                HOOKD_ABI_MAJOR, HOOKD_ABI_MINOR + 1);

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return &plugin;
}
