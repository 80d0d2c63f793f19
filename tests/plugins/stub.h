/*
 * A do-nothing plugin body shared by the test plugins that are wrong in
 * one way only (ABI version, struct size, name, entry point, create): each
 * includes this and builds its descriptor with STUB_PLUGIN, so a loader
 * test that refuses one of them refuses it for that one reason.
 */
#ifndef HOOKD_TEST_STUB_H
#define HOOKD_TEST_STUB_H

#include <stddef.h>

#include <hookd/plugin.h>

#if defined(__GNUC__)
#define STUB_UNUSED __attribute__((unused))
#else
#define STUB_UNUSED
#endif

/* No state; accepts an empty configuration. */
STUB_UNUSED static int stub_create(const char *instance,
                                   const struct hookd_config *cfg, void **state,
                                   char *errbuf, size_t errlen)
{
	(void)instance;
	(void)cfg;
	(void)errbuf;
	(void)errlen;
	*state = NULL;
	return 0;
}

/* Every event is delivered. */
STUB_UNUSED static enum hookd_status
stub_dispatch(void *state, const struct hookd_event *event,
              struct hookd_result *result)
{
	(void)state;
	(void)event;
	(void)result;
	return HOOKD_OK;
}

STUB_UNUSED static const struct hookd_config_key stub_keys[] = {
    {.name = NULL},
};

/* A descriptor initialiser; only what a test varies is a parameter. */
#define STUB_PLUGIN(name_, size_, major_, minor_)                              \
	{                                                                      \
		.struct_size = (size_), .abi_major = (major_),                 \
		.abi_minor = (minor_), .name = (name_), .version = "0",        \
		.description = "hookd test plugin", .flags = 0,                \
		.keys = stub_keys, .create = stub_create,                      \
		.dispatch = stub_dispatch, .destroy = NULL,                    \
	}

#endif
