/* Test plugin: its entry function refuses every host (returns NULL). */
#include "stub.h"

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return NULL;
}
