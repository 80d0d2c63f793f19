/*
 * Test plugin built against the frozen ABI 1.1 header
 * (tests/plugins/abi-1.1/hookd/plugin.h), never against the current one:
 * the ABI test loads it into today's host and runs it through the 1.1
 * asynchronous path (dispatch_async, then hookd_host.complete with a
 * result of the 1.1 size). It appends "<attempt> <event id> <type>\n" to
 * the file named by key `record`.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hookd/plugin.h>

#if HOOKD_ABI_MAJOR != 1 || HOOKD_ABI_MINOR != 1
#error "abi11.c must be built against the ABI 1.1 header"
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

/* Append the call to the record file: 0, or -1. */
static int record(void *state, const struct hookd_event *ev)
{
	char line[512];
	int n, fd = open((const char *)state,
	                 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	n = snprintf(line, sizeof(line), "%u %s %s\n", ev->attempt, ev->id,
	             ev->type);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static enum hookd_status dispatch(void *state, const struct hookd_event *ev,
                                  struct hookd_result *res)
{
	if (record(state, ev) != 0)
		return HOOKD_RETRY;
	snprintf(res->reason, sizeof(res->reason), "abi 1.1 plugin: sync");
	return HOOKD_OK;
}

/* Completes at once, with a result of the 1.1 size (no status_code). */
static int dispatch_async(void *state, const struct hookd_event *ev,
                          struct hookd_attempt *attempt)
{
	struct hookd_result res;
	memset(&res, 0, sizeof(res));
	res.struct_size = sizeof(res);
	if (record(state, ev) != 0) {
		host->complete(attempt, HOOKD_RETRY, &res);
		return 0;
	}
	snprintf(res.reason, sizeof(res.reason), "abi 1.1 plugin: async");
	host->complete(attempt, HOOKD_OK, &res);
	return 0;
}

static const struct hookd_config_key keys[] = {
    {"record", HOOKD_KEY_STRING, HOOKD_KEY_REQUIRED, "file to append calls to"},
    {NULL, 0, 0, NULL},
};

static const struct hookd_plugin plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "test-abi11",
    .version = "1.1",
    .description = "a plugin built against the ABI 1.1 header",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = keys,
    .create = create,
    .dispatch = dispatch,
    .dispatch_async = dispatch_async,
};

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	host = h;
	return &plugin;
}
