/*
 * Test plugin built against the frozen ABI 1.0 header
 * (tests/plugins/abi-1.0/hookd/plugin.h), never against the current one:
 * the ABI test loads it into today's host and runs it. It appends
 * "<attempt> <event id> <type>\n" to the file named by key `record`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hookd/plugin.h>

#if HOOKD_ABI_MAJOR != 1 || HOOKD_ABI_MINOR != 0
#error "abi10.c must be built against the ABI 1.0 header"
#endif

static const struct hookd_host *host;

static int create(const char *instance, const struct hookd_config *cfg,
                  void **state, char *errbuf, size_t errlen)
{
	const char *record = NULL;
	(void)instance;
	if (host->config_string(cfg, "record", &record) != 0) {
		snprintf(errbuf, errlen, "record is required");
		return -1;
	}
	*state = (void *)record;
	return 0;
}

static enum hookd_status dispatch(void *state, const struct hookd_event *ev,
                                  struct hookd_result *res)
{
	char line[512];
	int n, fd = open((const char *)state,
	                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return HOOKD_RETRY;
	n = snprintf(line, sizeof(line), "%u %s %s\n", ev->attempt, ev->id,
	             ev->type);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return HOOKD_RETRY;
	}
	close(fd);
	snprintf(res->reason, sizeof(res->reason), "abi 1.0 plugin: ok");
	return HOOKD_OK;
}

static const struct hookd_config_key keys[] = {
    {"record", HOOKD_KEY_STRING, HOOKD_KEY_REQUIRED, "file to append calls to"},
    {NULL, 0, 0, NULL},
};

static const struct hookd_plugin plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "test-abi10",
    .version = "1.0",
    .description = "a plugin built against the ABI 1.0 header",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = keys,
    .create = create,
    .dispatch = dispatch,
};

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	host = h;
	return &plugin;
}
