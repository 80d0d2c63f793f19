/*
 * Test plugin: claims a descriptor that ends before create(), shorter than
 * the 1.0 descriptor; the host must refuse it rather than read past it.
 */
#include "stub.h"

static const struct hookd_plugin plugin =
    STUB_PLUGIN("test-short-struct", offsetof(struct hookd_plugin, create),
                HOOKD_ABI_MAJOR, HOOKD_ABI_MINOR);

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return &plugin;
}
