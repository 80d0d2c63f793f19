/*
 * Test plugin: loads fine, but create() refuses every configuration, so
 * the host must report "bad_create always refuses" as a config error.
 */
#include <stdio.h>

#include "stub.h"

static int bad_create(const char *instance, const struct hookd_config *cfg,
                      void **state, char *errbuf, size_t errlen)
{
	(void)instance;
	(void)cfg;
	(void)state;
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "bad_create always refuses");
	return -1;
}

static const struct hookd_plugin plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "test-bad-create",
    .version = "0",
    .description = "hookd test plugin whose create() always fails",
    .flags = 0,
    .keys = stub_keys,
    .create = bad_create,
    .dispatch = stub_dispatch,
    .destroy = NULL,
};

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host)
{
	(void)host;
	return &plugin;
}
