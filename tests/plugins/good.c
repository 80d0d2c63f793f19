/*
 * Test plugin "test-good": a well-formed plugin whose dispatch() does what
 * its configuration says, so dispatcher and retry tests can script it.
 *
 *   mode = "ok" | "fail" | "retry" | "retry-then-ok" | "sleep" | "crash"
 *                        (default ok; "crash" kills hookd with SIGSEGV)
 *   retry_after_ms = N   with "retry": ask for the next try in N ms
 *   ok_on_attempt = N    with "retry-then-ok": RETRY before attempt N, then OK
 *   sleep_ms = N         with "sleep": sleep N ms, then OK
 *   record = "/path"     append "<attempt> <event id> <event type> <target>\n"
 *                        per call (O_APPEND, one write(), so lines from
 *                        concurrent calls never interleave)
 *
 * Thread-safe: the state is read-only after create().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hookd/plugin.h>

enum good_mode {
	MODE_OK,
	MODE_FAIL,
	MODE_RETRY,
	MODE_RETRY_THEN_OK,
	MODE_SLEEP,
	MODE_CRASH
};

static const char *const mode_names[] = {
    [MODE_OK] = "ok",       [MODE_FAIL] = "fail",
    [MODE_RETRY] = "retry", [MODE_RETRY_THEN_OK] = "retry-then-ok",
    [MODE_SLEEP] = "sleep", [MODE_CRASH] = "crash",
};

static const struct hookd_host *host;

/* One instance; strings borrowed from the config (valid until destroy). */
struct good {
	enum good_mode mode;
	int64_t retry_after_ms;
	int64_t ok_on_attempt;
	int64_t sleep_ms;
	const char *record;
};

/* Read a non-negative integer key (default 0). */
static int read_count(const struct hookd_config *cfg, const char *key,
                      int64_t *out, char *errbuf, size_t errlen)
{
	*out = 0;
	if (host->config_int(cfg, key, out) < 0)
		*out = 0;
	if (*out < 0) {
		snprintf(errbuf, errlen, "%s must be >= 0", key);
		return -1;
	}
	return 0;
}

static int good_create(const char *instance, const struct hookd_config *cfg,
                       void **state, char *errbuf, size_t errlen)
{
	struct good *g = calloc(1, sizeof(*g));
	const char *mode = "ok";
	size_t i;

	(void)instance;
	if (!g) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	if (host->config_string(cfg, "mode", &mode) < 0)
		mode = "ok";
	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(mode, mode_names[i]) == 0)
			break;
	if (i == sizeof(mode_names) / sizeof(mode_names[0])) {
		snprintf(errbuf, errlen, "mode: unknown mode '%s'", mode);
		goto fail;
	}
	g->mode = (enum good_mode)i;
	if (read_count(cfg, "retry_after_ms", &g->retry_after_ms, errbuf,
	               errlen) < 0 ||
	    read_count(cfg, "ok_on_attempt", &g->ok_on_attempt, errbuf,
	               errlen) < 0 ||
	    read_count(cfg, "sleep_ms", &g->sleep_ms, errbuf, errlen) < 0)
		goto fail;
	if (host->config_string(cfg, "record", &g->record) < 0)
		g->record = NULL;
	*state = g;
	return 0;
fail:
	free(g);
	return -1;
}

/* Append one line for this call to the record file. */
static void record_call(const struct good *g, const struct hookd_event *ev)
{
	char small[512], *line = small;
	int n, fd;

	n = snprintf(small, sizeof(small), "%u %s %s %s\n", ev->attempt,
	             ev->id ? ev->id : "", ev->type ? ev->type : "",
	             ev->target ? ev->target : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		line = malloc((size_t)n + 1);
		if (!line)
			return;
		snprintf(line, (size_t)n + 1, "%u %s %s %s\n", ev->attempt,
		         ev->id ? ev->id : "", ev->type ? ev->type : "",
		         ev->target ? ev->target : "");
	}
	fd = open(g->record, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			host->log(NULL, HOOKD_LOG_WARN,
			          "test-good: short write to %s", g->record);
		close(fd);
	} else {
		host->log(NULL, HOOKD_LOG_WARN, "test-good: open %s: %s",
		          g->record, strerrordesc_np(errno));
	}
	if (line != small)
		free(line);
}

static enum hookd_status good_dispatch(void *state,
                                       const struct hookd_event *ev,
                                       struct hookd_result *res)
{
	const struct good *g = state;
	struct timespec ts;

	if (g->record)
		record_call(g, ev);
	switch (g->mode) {
	case MODE_FAIL:
		snprintf(res->reason, sizeof(res->reason), "test-good: fail");
		return HOOKD_FAIL;
	case MODE_RETRY:
		res->retry_after_ms = g->retry_after_ms;
		snprintf(res->reason, sizeof(res->reason), "test-good: retry");
		return HOOKD_RETRY;
	case MODE_RETRY_THEN_OK:
		if ((int64_t)ev->attempt < g->ok_on_attempt) {
			res->retry_after_ms = g->retry_after_ms;
			snprintf(res->reason, sizeof(res->reason),
			         "test-good: retry until attempt %lld",
			         (long long)g->ok_on_attempt);
			return HOOKD_RETRY;
		}
		break;
	case MODE_SLEEP:
		ts.tv_sec = (time_t)(g->sleep_ms / 1000);
		ts.tv_nsec = (long)(g->sleep_ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		break;
	case MODE_CRASH:
		raise(SIGSEGV); /* what a wild pointer would do */
		break;
	case MODE_OK:
		break;
	}
	snprintf(res->reason, sizeof(res->reason), "test-good: ok");
	return HOOKD_OK;
}

static void good_destroy(void *state)
{
	free(state);
}

static const struct hookd_config_key good_keys[] = {
    {"mode", HOOKD_KEY_STRING, 0,
     "ok, fail, retry, retry-then-ok, sleep or crash (default ok)"},
    {"retry_after_ms", HOOKD_KEY_INT, 0, "retry_after_ms reported with RETRY"},
    {"ok_on_attempt", HOOKD_KEY_INT, 0,
     "retry-then-ok: first attempt that succeeds"},
    {"sleep_ms", HOOKD_KEY_INT, 0, "sleep: milliseconds to sleep"},
    {"record", HOOKD_KEY_STRING, 0,
     "file to append \"<attempt> <id> <type> <target>\" lines to"},
    {.name = NULL},
};

static const struct hookd_plugin good_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "test-good",
    .version = "1.0",
    .description = "hookd test plugin scripted by its configuration",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = good_keys,
    .create = good_create,
    .dispatch = good_dispatch,
    .destroy = good_destroy,
};

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	host = h;
	return &good_plugin;
}
