/*
 * notify — an example hookd handler plugin with settings.
 *
 * For each event it renders a one-line template and appends the line to a
 * file. It shows the parts of the ABI most plugins need:
 *
 *   - declaring configuration keys (the host type-checks them, reports
 *     unknown keys and missing required ones with file:line);
 *   - validating settings in create() and explaining problems in errbuf;
 *   - rendering templates with host->render and freeing with host->free;
 *   - reporting HOOKD_RETRY with a retry hint when delivery fails.
 *
 * Settings:
 *   path        (string, required)  file to append to
 *   line        (string)            template, default "{{type}} {{id}}"
 *   fail_every  (int, >= 0)         demo: every Nth call fails with RETRY
 *
 * Example:
 *   handlers = { audit = { plugin = "notify"; path = "/var/log/events";
 *                          line = "{{timestamp}} {{type}} {{data.user}}"; }; };
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_CLOEXEC on older C libraries */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hookd/plugin.h>

#define DEFAULT_LINE   "{{type}} {{id}}"
#define RETRY_AFTER_MS 200 /* hint given with HOOKD_RETRY */

static const struct hookd_host *host;

/*
 * One handler instance. The strings are borrowed from the configuration:
 * host->config_string() promises they stay valid until destroy(), so there
 * is nothing to copy. `calls` is the only field that changes after
 * create(): it is why this plugin does not set HOOKD_PLUGIN_THREADSAFE —
 * the host then never runs two dispatch() calls on one instance at once
 * (they may still run on different worker threads, one after the other,
 * and the host orders them, so no lock is needed).
 */
struct notify {
	const char *path;
	const char *line;
	int64_t fail_every;
	int64_t calls;
};

/*
 * create(): main thread, once per handler, before any dispatch(). The host
 * has already checked the keys' names and types, and that `path` is set
 * (it is HOOKD_KEY_REQUIRED); what remains is checking values. On failure:
 * message in errbuf, free what was allocated, return -1. The host prints
 * the message at the handler's file:line (also under --check-config).
 */
static int notify_create(const char *instance, const struct hookd_config *cfg,
                         void **state, char *errbuf, size_t errlen)
{
	struct notify *n = calloc(1, sizeof(*n));
	char why[256];

	if (!n) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	(void)instance; /* the handler's name, borrowed for this call */
	if (host->config_string(cfg, "path", &n->path) < 0 || !n->path[0]) {
		/* REQUIRED keeps a missing key out, but "" still gets here. */
		snprintf(errbuf, errlen,
		         "path: set it to the file to append to");
		goto fail;
	}
	if (n->path[0] != '/') {
		snprintf(errbuf, errlen,
		         "path: '%s' is not absolute (hookd may change folder)",
		         n->path);
		goto fail;
	}
	if (host->config_string(cfg, "line", &n->line) < 0)
		n->line = DEFAULT_LINE;
	/* Catch template mistakes now, not at the first event. */
	if (host->check_template(n->line, why, sizeof(why)) < 0) {
		snprintf(errbuf, errlen, "line: %s", why);
		goto fail;
	}
	if (host->config_int(cfg, "fail_every", &n->fail_every) < 0)
		n->fail_every = 0;
	if (n->fail_every < 0) {
		snprintf(errbuf, errlen,
		         "fail_every: must be 0 (never) or more, not %lld",
		         (long long)n->fail_every);
		goto fail;
	}
	*state = n;
	return 0;
fail:
	free(n);
	return -1;
}

/* Append `text` and a newline to path with one write(): with O_APPEND, lines
 * from several writers (other handlers, other processes) never interleave.
 * Returns 0, or an errno value. */
static int append_line(const char *path, const char *text)
{
	size_t len = strlen(text);
	char *buf = malloc(len + 2);
	ssize_t w;
	int fd, err = 0;

	if (!buf)
		return ENOMEM;
	memcpy(buf, text, len);
	buf[len] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
	} else {
		w = write(fd, buf, len + 1);
		if (w < 0)
			err = errno;
		else if ((size_t)w != len + 1)
			err = EIO; /* short write (disk full?) */
		if (close(fd) < 0 && !err)
			err = errno;
	}
	free(buf);
	return err;
}

/*
 * dispatch(): a worker thread, one attempt. Everything in `ev` is borrowed
 * for this call. Return OK when the line is written, RETRY when trying
 * again later may help (the file system may recover), FAIL when it never
 * will. result->reason ends up in hookd's attempt log line.
 */
static enum hookd_status notify_dispatch(void *state,
                                         const struct hookd_event *ev,
                                         struct hookd_result *result)
{
	struct notify *n = state;
	char why[256];
	char *text;
	int err;

	n->calls++;
	if (n->fail_every > 0 && n->calls % n->fail_every == 0) {
		/* Demo only: pretend the write failed. */
		result->retry_after_ms = RETRY_AFTER_MS;
		snprintf(result->reason, sizeof(result->reason),
		         "notify: simulated failure (call %lld)",
		         (long long)n->calls);
		return HOOKD_RETRY;
	}

	/* render() returns memory the host owns the allocator of: free it with
	 * host->free, never free(). NULL can happen even for a checked template
	 * (out of memory, a NUL in a value): count it as a failed attempt. */
	text = host->render(n->line, ev, HOOKD_RENDER_RAW, why, sizeof(why));
	if (!text) {
		snprintf(result->reason, sizeof(result->reason),
		         "notify: render: %s", why);
		return HOOKD_FAIL;
	}
	err = append_line(n->path, text);
	host->free(text);
	if (err) {
		result->retry_after_ms = RETRY_AFTER_MS;
		snprintf(result->reason, sizeof(result->reason),
		         "notify: %s: %s", n->path, strerror(err));
		return HOOKD_RETRY;
	}
	snprintf(result->reason, sizeof(result->reason), "notify: appended");
	return HOOKD_OK;
}

/* destroy(): no dispatch() runs or will run; release the instance. */
static void notify_destroy(void *state)
{
	free(state);
}

/* Keys the handler may set, ended by a NULL name. `help` is shown by
 * `hookd --list-plugins`. */
static const struct hookd_config_key notify_keys[] = {
    {"path", HOOKD_KEY_STRING, HOOKD_KEY_REQUIRED,
     "absolute path of the file to append one line per event to"},
    {"line", HOOKD_KEY_STRING, 0,
     "template of the line, default \"" DEFAULT_LINE "\""},
    {"fail_every", HOOKD_KEY_INT, 0,
     "demo: every Nth attempt returns RETRY (0 = never)"},
    {.name = NULL},
};

static const struct hookd_plugin notify_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "notify",
    .version = "1.0",
    .description = "example: appends a rendered line per event to a file",
    .flags = 0, /* not thread-safe: see struct notify */
    .keys = notify_keys,
    .create = notify_create,
    .dispatch = notify_dispatch,
    .destroy = notify_destroy,
};

HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	host = h;
	return &notify_plugin;
}
