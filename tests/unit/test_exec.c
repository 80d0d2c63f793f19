/*
 * Unit tests of the exec plugin: the built exec.so is loaded with dlopen()
 * from $HOOKD_PLUGIN_DIR and driven through the unit tests' host
 * (mock_host.h: an in-memory configuration, templates rendered by
 * core/template.c, the log kept), running real programs (/bin/sh and
 * friends).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "hookd/plugin.h"
#include "mock_host.h"
#include "template.h"

/* ---- fixtures --------------------------------------------------------- */

static void *plugin_handle;
static const struct hookd_plugin *plugin;

/* Made by main(), removed with all it holds when the run ends, so a test
 * that fails half-way (and never reaches its teardown) leaves nothing. */
static char tmproot[128];
static char tmpdir[160]; /* a fresh directory per test, under tmproot */

static void tmpdir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-XXXXXX", tmproot);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Remove the files a test left in tmpdir (one level), then tmpdir. */
static void tmpdir_teardown(void)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(tmpdir);

	if (d) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir,
			         de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
}

static const char *tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* Read a whole small file into a malloc'd string (NULL when missing). */
static char *slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* The event every test sends unless it builds its own. */
#define EVENT_JSON                                                             \
	"{\"id\":\"evt_1\",\"type\":\"build.done\","                           \
	"\"timestamp\":\"2026-01-02T03:04:05.000Z\",\"source\":\"api\","       \
	"\"data\":{\"x\":\"hello world\",\"y\":\"$(touch nope) `id` *\","      \
	"\"n\":7}}"

static struct hookd_event make_event(const char *json)
{
	struct hookd_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.struct_size = sizeof(ev);
	ev.id = "evt_1";
	ev.type = "build.done";
	ev.source = "api";
	ev.timestamp = "2026-01-02T03:04:05.000Z";
	ev.json = json;
	ev.json_len = strlen(json);
	ev.attempt = 3;
	ev.deadline_ms = 0;
	ev.target = "runner";
	ev.delivery_id = "dlv_1";
	return ev;
}

static int64_t now_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* create() that must succeed. */
static void *create_ok(const struct hookd_config *cfg)
{
	char err[256] = "";
	void *state = NULL;
	int rc = plugin->create("exec-test", cfg, &state, err, sizeof(err));

	ck_assert_msg(rc == 0, "create failed: %s", err);
	return state;
}

/* create() that must fail; returns its message in err. */
static void create_fails(const struct hookd_config *cfg, char *err,
                         size_t errlen)
{
	void *state = NULL;
	int rc;

	err[0] = '\0';
	rc = plugin->create("exec-test", cfg, &state, err, errlen);
	ck_assert_msg(rc == -1, "create unexpectedly succeeded");
	ck_assert_msg(err[0] != '\0', "create failed without a message");
}

/* Create, dispatch one event, destroy. */
static enum hookd_status run_once(const struct hookd_config *cfg,
                                  const struct hookd_event *ev,
                                  struct hookd_result *res)
{
	void *state = create_ok(cfg);
	enum hookd_status st;

	memset(res, 0, sizeof(*res));
	res->struct_size = sizeof(*res);
	st = plugin->dispatch(state, ev, res);
	plugin->destroy(state);
	return st;
}

/* The shell command as a list: /bin/sh -c script sh args... */
#define SH(cfg, script, ...)                                                   \
	mock_config_list((cfg), "command", "/bin/sh", "-c", (script), "sh",    \
	                 __VA_ARGS__)

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_descriptor)
{
	const struct hookd_config_key *k;
	int seen = 0;

	ck_assert_str_eq(plugin->name, "exec");
	ck_assert_uint_eq(plugin->abi_major, HOOKD_ABI_MAJOR);
	ck_assert_uint_eq(plugin->struct_size, sizeof(struct hookd_plugin));
	ck_assert(plugin->flags & HOOKD_PLUGIN_THREADSAFE);
	for (k = plugin->keys; k->name; k++) {
		ck_assert_ptr_nonnull(k->help);
		if (strcmp(k->name, "command") == 0) {
			ck_assert_int_eq(k->type, HOOKD_KEY_LIST);
			ck_assert(k->flags & HOOKD_KEY_REQUIRED);
		}
		seen++;
	}
	ck_assert_int_eq(seen, 7);
}
END_TEST

START_TEST(test_argv_rendered_without_shell)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char out[512], script[1024], *got;

	tmpdir_setup();
	snprintf(script, sizeof(script), "printf '%%s|' \"$@\" > '%s'",
	         tmp_path(out, sizeof(out), "argv"));
	SH(&cfg, script, "{{type}}", "{{data.x}}", "{{data.y}}", "{{attempt}}",
	   "[{{target}}]", NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	ck_assert_str_eq(res.reason, "exit 0");
	got = slurp(out, NULL);
	ck_assert_ptr_nonnull(got);
	/* One argv element per template, values never split or expanded. */
	ck_assert_str_eq(got, "build.done|hello world|$(touch nope) `id` *|3|"
	                      "[runner]|");
	free(got);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_stdin_is_event_json)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char out[512], script[1024], *got;
	size_t len;

	tmpdir_setup();
	snprintf(script, sizeof(script), "cat > '%s'",
	         tmp_path(out, sizeof(out), "stdin"));
	SH(&cfg, script, NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(out, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, ev.json_len);
	ck_assert_str_eq(got, EVENT_JSON);
	free(got);
	tmpdir_teardown();
}
END_TEST

/* An event far larger than a pipe buffer is fed completely. */
START_TEST(test_stdin_large)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev;
	struct hookd_result res;
	char out[512], script[1024], *got, *json;
	size_t big = 3 * 1024 * 1024, len;

	tmpdir_setup();
	json = malloc(big + 128);
	ck_assert_ptr_nonnull(json);
	len = (size_t)sprintf(json,
	                      "{\"id\":\"evt_1\",\"type\":\"t\",\"data\":\"");
	memset(json + len, 'a', big);
	strcpy(json + len + big, "\"}");
	ev = make_event(json);
	snprintf(script, sizeof(script), "cat > '%s'",
	         tmp_path(out, sizeof(out), "stdin"));
	SH(&cfg, script, NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(out, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, ev.json_len);
	ck_assert(memcmp(got, json, len) == 0);
	free(got);
	free(json);
	tmpdir_teardown();
}
END_TEST

/* A child that never reads a large stdin: EPIPE, not SIGPIPE, not a hang. */
START_TEST(test_stdin_not_read)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev;
	struct hookd_result res;
	size_t big = 2 * 1024 * 1024, len;
	char *json = malloc(big + 128);
	int64_t t0 = now_ms(CLOCK_MONOTONIC);

	ck_assert_ptr_nonnull(json);
	len = (size_t)sprintf(json, "{\"id\":\"e\",\"type\":\"t\",\"data\":\"");
	memset(json + len, 'b', big);
	strcpy(json + len + big, "\"}");
	ev = make_event(json);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	ck_assert_str_eq(res.reason, "exit 0");
	ck_assert_int_lt(now_ms(CLOCK_MONOTONIC) - t0, 5000);
	free(json);
}
END_TEST

/* Split "A=1\nB=2\n" and look a line up. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

START_TEST(test_environment_minimal)
{
	static const char *const allowed[] = {
	    "PATH=",
	    "HOOKD_EVENT_ID=",
	    "HOOKD_EVENT_TYPE=",
	    "HOOKD_EVENT_SOURCE=",
	    "HOOKD_ATTEMPT=",
	    "HOOKD_DELIVERY_ID=",
	    "HOOKD_TARGET=",
	    /* what /bin/sh itself adds */
	    "PWD=",
	    "OLDPWD=",
	    "SHLVL=",
	    "_=",
	};
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char out[512], script[1024], *got, *line, *save = NULL;
	size_t i;

	tmpdir_setup();
	setenv("HOOKD_TEST_MUST_NOT_LEAK", "1", 1);
	snprintf(script, sizeof(script), "/usr/bin/env > '%s'",
	         tmp_path(out, sizeof(out), "env"));
	SH(&cfg, script, NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(out, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert(has_line(got, "PATH=/usr/local/bin:/usr/bin:/bin"));
	ck_assert(has_line(got, "HOOKD_EVENT_ID=evt_1"));
	ck_assert(has_line(got, "HOOKD_EVENT_TYPE=build.done"));
	ck_assert(has_line(got, "HOOKD_EVENT_SOURCE=api"));
	ck_assert(has_line(got, "HOOKD_ATTEMPT=3"));
	ck_assert(has_line(got, "HOOKD_DELIVERY_ID=dlv_1"));
	ck_assert(has_line(got, "HOOKD_TARGET=runner"));
	for (line = strtok_r(got, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int ok = 0;

		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			if (strncmp(line, allowed[i], strlen(allowed[i])) == 0)
				ok = 1;
		ck_assert_msg(ok, "unexpected variable in the child: %s", line);
	}
	free(got);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_environment_extra)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char out[512], script[1024], *got;

	tmpdir_setup();
	snprintf(script, sizeof(script), "/usr/bin/env > '%s'",
	         tmp_path(out, sizeof(out), "env"));
	SH(&cfg, script, NULL);
	mock_config_group(&cfg, "env", "PATH", "/opt/hookd/bin:/usr/bin:/bin",
	                  "GREETING", "hi {{data.x}} #{{data.n}}", "_under_9",
	                  "", NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(out, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert(has_line(got, "PATH=/opt/hookd/bin:/usr/bin:/bin"));
	ck_assert(!has_line(got, "PATH=/usr/local/bin:/usr/bin:/bin"));
	ck_assert(has_line(got, "GREETING=hi hello world #7"));
	ck_assert(has_line(got, "_under_9="));
	ck_assert(has_line(got, "HOOKD_EVENT_ID=evt_1"));
	free(got);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_exit_codes)
{
	static const struct {
		const char *script;
		enum hookd_status status;
		const char *reason;
	} cases[] = {
	    {"exit 0", HOOKD_OK, "exit 0"},
	    {"exit 75", HOOKD_RETRY, "exit 75"},
	    {"exit 3", HOOKD_FAIL, "exit 3"},
	    {"exit 1", HOOKD_FAIL, "exit 1"},
	    {"exit 127", HOOKD_FAIL, "exit 127"},
	    {"echo fine; exit 0", HOOKD_OK, "exit 0"},
	    {"echo busy >&2; exit 75", HOOKD_RETRY, "exit 75: busy"},
	};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hookd_config cfg = {0};

		SH(&cfg, cases[i].script, NULL);
		ck_assert_int_eq(run_once(&cfg, &ev, &res), cases[i].status);
		ck_assert_str_eq(res.reason, cases[i].reason);
		ck_assert_int_eq(res.retry_after_ms, 0);
	}
}
END_TEST

START_TEST(test_reason_from_output)
{
	static const struct {
		const char *script;
		const char *reason;
	} cases[] = {
	    /* stderr first, lines joined, blank lines and padding dropped */
	    {"echo out; printf '\\n  first line  \\n\\nsecond\\n' >&2; exit 3",
	     "exit 3: first line | second"},
	    /* stdout when stderr has nothing to say */
	    {"echo ' '>&2; echo only stdout; exit 4", "exit 4: only stdout"},
	    /* control characters replaced, tabs as spaces, UTF-8 kept */
	    {"printf 'a\\001b\\tc\\033[31m\\303\\251\\377\\n' >&2; exit 5",
	     "exit 5: a?b c?[31m\xc3\xa9?"},
	};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hookd_config cfg = {0};

		SH(&cfg, cases[i].script, NULL);
		ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
		ck_assert_str_eq(res.reason, cases[i].reason);
	}
}
END_TEST

/* A long single line is cut to fit, on a character boundary, with "...". */
START_TEST(test_reason_truncated)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	size_t len;

	/* 2000 two-byte characters (é) */
	SH(&cfg,
	   "i=0; while [ $i -lt 2000 ]; do printf '\\303\\251'; "
	   "i=$((i+1)); done >&2; exit 9",
	   NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
	len = strlen(res.reason);
	ck_assert_uint_lt(len, HOOKD_REASON_MAX);
	ck_assert_uint_gt(len, HOOKD_REASON_MAX - 8);
	ck_assert(strncmp(res.reason, "exit 9: \xc3\xa9", 10) == 0);
	ck_assert_str_eq(res.reason + len - 5, "\xc3\xa9...");
}
END_TEST

/* Lots of output on both streams: bounded, and the child never blocks. */
START_TEST(test_max_output)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	int64_t t0 = now_ms(CLOCK_MONOTONIC);

	mock_log_clear();
	SH(&cfg,
	   "head -c 4000000 /dev/zero | tr '\\0' o; "
	   "head -c 4000000 /dev/zero | tr '\\0' e >&2; exit 3",
	   NULL);
	mock_config_int(&cfg, "max_output", 100);
	mock_config_int(&cfg, "timeout", 20);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
	ck_assert_int_lt(now_ms(CLOCK_MONOTONIC) - t0, 15000);
	/* 100 kept bytes of 'e', no more */
	ck_assert_uint_eq(strlen(res.reason), strlen("exit 3: ") + 100);
	ck_assert(strncmp(res.reason, "exit 3: eeee", 12) == 0);
	/* every byte was read (counted), also what was left at exit */
	ck_assert_msg(
	    strstr(mock_log_text(), "stdout (4000000 bytes, truncated): ooo"),
	    "log: %s", mock_log_text());
	ck_assert_msg(
	    strstr(mock_log_text(), "stderr (4000000 bytes, truncated): eee"),
	    "log: %s", mock_log_text());
}
END_TEST

/*
 * The child writes a lot before it reads its stdin, and the event is large
 * too: writing stdin must not block reading stdout (one poll loop for all).
 */
START_TEST(test_stdin_and_output_interleaved)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev;
	struct hookd_result res;
	char out[512], script[1024], *got, *json;
	size_t big = 1024 * 1024, len;

	tmpdir_setup();
	json = malloc(big + 128);
	ck_assert_ptr_nonnull(json);
	len = (size_t)sprintf(json, "{\"id\":\"e\",\"type\":\"t\",\"data\":\"");
	memset(json + len, 'c', big);
	strcpy(json + len + big, "\"}");
	ev = make_event(json);
	snprintf(script, sizeof(script),
	         "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; "
	         "cat > '%s'",
	         tmp_path(out, sizeof(out), "stdin"));
	SH(&cfg, script, NULL);
	mock_config_int(&cfg, "timeout", 10);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(out, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(len, ev.json_len);
	free(got);
	free(json);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_killed_by_signal)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;

	SH(&cfg, "echo dying >&2; kill -TERM $$; sleep 5", NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
	ck_assert_str_eq(res.reason, "killed by SIGTERM: dying");
}
END_TEST

/* State of a process from /proc: 0 gone, 'Z' zombie, else its state. */
static int proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')) || p[1] != ' ')
		return 0;
	return p[2];
}

/* Wait up to 3 s for pid to be gone (or a zombie nobody reaps). */
static int dies(pid_t pid)
{
	int i, s;

	for (i = 0; i < 300; i++) {
		s = proc_state(pid);
		if (s == 0 || s == 'Z' || s == 'X')
			return 1;
		usleep(10000);
	}
	return 0;
}

static pid_t read_pid(const char *path)
{
	char *s = slurp(path, NULL);
	pid_t pid;

	ck_assert_msg(s != NULL, "no pid file %s", path);
	pid = (pid_t)atoi(s);
	free(s);
	ck_assert_int_gt(pid, 1);
	return pid;
}

/* Timeout: the whole process group is killed, the attempt retried. */
START_TEST(test_timeout_kills_group)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char pidfile[512], script[1024];
	int64_t t0, took;
	pid_t grandchild;

	tmpdir_setup();
	snprintf(script, sizeof(script),
	         "sleep 60 & echo $! > '%s'; echo started >&2; wait",
	         tmp_path(pidfile, sizeof(pidfile), "pid"));
	SH(&cfg, script, NULL);
	mock_config_int(&cfg, "timeout", 1);
	t0 = now_ms(CLOCK_MONOTONIC);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_RETRY);
	took = now_ms(CLOCK_MONOTONIC) - t0;
	ck_assert_str_eq(res.reason, "timed out after 1s");
	ck_assert_int_ge(took, 900);
	ck_assert_int_lt(took, 4000);
	grandchild = read_pid(pidfile);
	ck_assert_msg(dies(grandchild), "grandchild %d survived the timeout",
	              (int)grandchild);
	tmpdir_teardown();
}
END_TEST

/* The event's deadline cuts the attempt shorter than `timeout`. */
START_TEST(test_event_deadline)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	int64_t t0 = now_ms(CLOCK_MONOTONIC), took;

	SH(&cfg, "exec sleep 30", NULL);
	mock_config_int(&cfg, "timeout", 30);
	ev.deadline_ms = now_ms(CLOCK_REALTIME) + 400;
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_RETRY);
	took = now_ms(CLOCK_MONOTONIC) - t0;
	ck_assert_int_ge(took, 300);
	ck_assert_int_lt(took, 3000);
	ck_assert_msg(strstr(res.reason, "timed out after") &&
	                  strstr(res.reason, "(event deadline)"),
	              "reason: %s", res.reason);
}
END_TEST

/* A deadline already past: retried without running anything. */
START_TEST(test_event_deadline_passed)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char marker[512], script[1024];

	tmpdir_setup();
	snprintf(script, sizeof(script), "touch '%s'",
	         tmp_path(marker, sizeof(marker), "ran"));
	SH(&cfg, script, NULL);
	ev.deadline_ms = now_ms(CLOCK_REALTIME) - 1000;
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_RETRY);
	ck_assert_int_ne(access(marker, F_OK), 0);
	tmpdir_teardown();
}
END_TEST

/* A background process holding stdout open does not hold the attempt. */
START_TEST(test_background_child_does_not_block)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char pidfile[512], script[1024];
	int64_t t0 = now_ms(CLOCK_MONOTONIC);
	pid_t bg;

	tmpdir_setup();
	snprintf(script, sizeof(script), "sleep 30 & echo $! > '%s'; exit 0",
	         tmp_path(pidfile, sizeof(pidfile), "pid"));
	SH(&cfg, script, NULL);
	mock_config_int(&cfg, "timeout", 20);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	ck_assert_int_lt(now_ms(CLOCK_MONOTONIC) - t0, 5000);
	bg = read_pid(pidfile);
	kill(bg, SIGKILL);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_missing_program)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;

	mock_config_list(&cfg, "command", "/nonexistent/hookd-test-program",
	                 "x", NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
	ck_assert_str_eq(res.reason, "exec /nonexistent/hookd-test-program: "
	                             "No such file or directory");
}
END_TEST

START_TEST(test_not_executable)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char prog[512], want[700];
	int fd;

	tmpdir_setup();
	fd = open(tmp_path(prog, sizeof(prog), "prog"),
	          O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	mock_config_list(&cfg, "command", prog, NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
	snprintf(want, sizeof(want), "exec %s: Permission denied", prog);
	ck_assert_str_eq(res.reason, want);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_cwd)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	/* realpath() writes up to PATH_MAX bytes (_FORTIFY_SOURCE checks it).
	 */
	char out[PATH_MAX], want[PATH_MAX + 2], *got;

	tmpdir_setup();
	SH(&cfg, "pwd -P > pwd.txt", NULL);
	mock_config_string(&cfg, "cwd", tmpdir);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(tmp_path(out, sizeof(out), "pwd.txt"), NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(realpath(tmpdir, out));
	snprintf(want, sizeof(want), "%s\n", out);
	ck_assert_str_eq(got, want);
	free(got);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_cwd_missing)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;

	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_string(&cfg, "cwd", "/nonexistent/hookd-dir");
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_FAIL);
	ck_assert_str_eq(
	    res.reason,
	    "chdir /nonexistent/hookd-dir: No such file or directory");
}
END_TEST

/*
 * The program exec'd (not a shell, which would tidy up after itself)
 * leads its own process group, has no blocked or ignored signals although
 * the worker blocks some and hookd ignores SIGPIPE, and holds no
 * descriptor but 0, 1 and 2.
 */
START_TEST(test_child_process_state)
{
	struct hookd_config pgrp = {0}, blk = {0}, ign = {0}, fds = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char out[512], script[1024], *got;
	sigset_t block, old;

	tmpdir_setup();
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &block, &old), 0);
	signal(SIGHUP, SIG_IGN);
	signal(SIGRTMIN + 2, SIG_IGN);
	mock_config_list(&pgrp, "command", "/usr/bin/awk",
	                 "{ exit !($1 == $5) }", "/proc/self/stat", NULL);
	ck_assert_int_eq(run_once(&pgrp, &ev, &res), HOOKD_OK);
	mock_config_list(&blk, "command", "/bin/grep", "-Eq",
	                 "^SigBlk:[[:space:]]*0+$", "/proc/self/status", NULL);
	ck_assert_int_eq(run_once(&blk, &ev, &res), HOOKD_OK);
	/* signals 1-31 and the real-time ones; glibc keeps 32 and 33 to
	 * itself, so whatever a parent left on those stays */
	mock_config_list(&ign, "command", "/bin/grep", "-Eq",
	                 "^SigIgn:[[:space:]]*0{7}[01][08]0{7}$",
	                 "/proc/self/status", NULL);
	ck_assert_int_eq(run_once(&ign, &ev, &res), HOOKD_OK);
	/* ls itself opens 3 to read the directory */
	snprintf(script, sizeof(script), "exec /bin/ls /proc/self/fd > '%s'",
	         tmp_path(out, sizeof(out), "fds"));
	SH(&fds, script, NULL);
	ck_assert_int_eq(run_once(&fds, &ev, &res), HOOKD_OK);
	got = slurp(out, NULL);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "0\n1\n2\n3\n");
	free(got);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGRTMIN + 2, SIG_DFL);
	tmpdir_teardown();
}
END_TEST

START_TEST(test_create_errors)
{
	char err[256], tcheck[128];
	struct hookd_config cfg;

	mock_config_clear(&cfg);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "command is required");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", NULL);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "command must not be empty");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "ls", "-l", NULL);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "command: argv[0] 'ls' must be an absolute path");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "{{data.prog}}", NULL);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "command: argv[0] '{{data.prog}}' must be an "
	                      "absolute path");

	if (hkd_template_check("{{type", tcheck, sizeof(tcheck)) < 0) {
		mock_config_clear(&cfg);
		mock_config_list(&cfg, "command", "/bin/echo", "{{type", NULL);
		create_fails(&cfg, err, sizeof(err));
		ck_assert_msg(strncmp(err, "command: argv[1] '{{type': ", 26) ==
		                  0,
		              "err: %s", err);
	}

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_group(&cfg, "env", "OK_NAME", "x", "1BAD", "y", NULL);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "env: '1BAD' is not a valid variable name "
	                      "([A-Za-z_][A-Za-z0-9_]*)");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_group(&cfg, "env", "A-B", "x", NULL);
	create_fails(&cfg, err, sizeof(err));
	ck_assert(strstr(err, "'A-B' is not a valid variable name"));

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_group(&cfg, "env", "HOOKD_EVENT_ID", "x", NULL);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "env: HOOKD_EVENT_ID is set by hookd and cannot "
	                      "be overridden");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_int(&cfg, "timeout", 0);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "timeout must be > 0");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_int(&cfg, "timeout", -5);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "timeout must be > 0");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_int(&cfg, "max_output", -1);
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "max_output must be >= 0");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_string(&cfg, "cwd", "relative/dir");
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "cwd 'relative/dir' must be an absolute path");
}
END_TEST

/* user/group: resolved in create(), applied only by a root hookd. */
START_TEST(test_user_and_group)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	char out[512], script[1024], want[64], err[256], *got;
	struct passwd *pw = getpwnam("nobody");

	if (!pw)
		return; /* no such user on this system */
	if (geteuid() != 0) {
		mock_config_list(&cfg, "command", "/bin/true", NULL);
		mock_config_string(&cfg, "user", "nobody");
		create_fails(&cfg, err, sizeof(err));
		ck_assert_msg(strstr(err, "user 'nobody'") &&
		                  strstr(err, "does not run as root"),
		              "err: %s", err);
		return;
	}
	tmpdir_setup();
	ck_assert_int_eq(chmod(tmpdir, 0777), 0);
	snprintf(script, sizeof(script), "echo $(id -u) $(id -g) > '%s'",
	         tmp_path(out, sizeof(out), "id"));
	SH(&cfg, script, NULL);
	mock_config_string(&cfg, "user", "nobody");
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	got = slurp(out, NULL);
	ck_assert_ptr_nonnull(got);
	snprintf(want, sizeof(want), "%u %u\n", (unsigned)pw->pw_uid,
	         (unsigned)pw->pw_gid);
	ck_assert_str_eq(got, want);
	free(got);
	unlink(out);

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_string(&cfg, "user", "hookd-no-such-user");
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "user: no such user 'hookd-no-such-user'");

	mock_config_clear(&cfg);
	mock_config_list(&cfg, "command", "/bin/true", NULL);
	mock_config_string(&cfg, "group", "hookd-no-such-group");
	create_fails(&cfg, err, sizeof(err));
	ck_assert_str_eq(err, "group: no such group 'hookd-no-such-group'");
	tmpdir_teardown();
}
END_TEST

/* The captured output reaches the log at DEBUG. */
START_TEST(test_output_logged)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;

	mock_log_clear();
	SH(&cfg, "echo to-stdout-marker; echo to-stderr-marker >&2", NULL);
	ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
	ck_assert_msg(strstr(mock_log_text(), "3 /bin/sh stdout (17 bytes): "
	                                      "to-stdout-marker"),
	              "log: %s", mock_log_text());
	ck_assert_msg(strstr(mock_log_text(), "3 /bin/sh stderr (17 bytes): "
	                                      "to-stderr-marker"),
	              "log: %s", mock_log_text());
}
END_TEST

/* Output still in the pipes when the child exits is read, not lost. */
START_TEST(test_output_left_at_exit)
{
	struct hookd_config cfg = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	int i;

	for (i = 0; i < 5; i++) {
		mock_config_clear(&cfg);
		mock_log_clear();
		/* one write of 60000 bytes, then exit at once */
		mock_config_list(&cfg, "command", "/bin/dd", "if=/dev/zero",
		                 "bs=60000", "count=1", "of=/dev/stderr",
		                 "status=none", NULL);
		mock_config_int(&cfg, "max_output", 10);
		ck_assert_int_eq(run_once(&cfg, &ev, &res), HOOKD_OK);
		ck_assert_msg(
		    strstr(mock_log_text(), "stderr (60000 bytes, truncated)"),
		    "log: %s", mock_log_text());
	}
}
END_TEST

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* 50 dispatches of every kind leave no descriptor and no child behind. */
START_TEST(test_no_leaks)
{
	struct hookd_config ok = {0}, fail = {0}, missing = {0}, slow = {0};
	struct hookd_event ev = make_event(EVENT_JSON);
	struct hookd_result res;
	void *states[4];
	int before, after, i, wst;

	mock_config_list(&ok, "command", "/bin/cat", NULL);
	SH(&fail, "echo no >&2; exit 2", NULL);
	mock_config_list(&missing, "command", "/nonexistent/x", NULL);
	SH(&slow, "sleep 5", NULL);
	before = count_fds();
	states[0] = create_ok(&ok);
	states[1] = create_ok(&fail);
	states[2] = create_ok(&missing);
	states[3] = create_ok(&slow);
	for (i = 0; i < 50; i++) {
		int k = i % 4;

		memset(&res, 0, sizeof(res));
		ev.deadline_ms = k == 3 ? now_ms(CLOCK_REALTIME) + 50 : 0;
		plugin->dispatch(states[k], &ev, &res);
	}
	for (i = 0; i < 4; i++)
		plugin->destroy(states[i]);
	after = count_fds();
	ck_assert_int_eq(before, after);
	ck_assert_int_eq(waitpid(-1, &wst, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}
END_TEST

struct worker_arg {
	void *state;
	int index;
	int failures;
	char last[HOOKD_REASON_MAX];
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	char json[256], want[64];
	struct hookd_event ev;
	struct hookd_result res;
	int i;

	snprintf(json, sizeof(json),
	         "{\"id\":\"e\",\"type\":\"t\",\"data\":{\"x\":\"worker-%d\"}}",
	         w->index);
	snprintf(want, sizeof(want), "exit 3: worker-%d", w->index);
	ev = make_event(json);
	for (i = 0; i < 10; i++) {
		memset(&res, 0, sizeof(res));
		if (plugin->dispatch(w->state, &ev, &res) != HOOKD_FAIL ||
		    strcmp(res.reason, want) != 0) {
			w->failures++;
			memcpy(w->last, res.reason, sizeof(w->last));
		}
	}
	return NULL;
}

/* One state, many threads: every result belongs to its own event. */
START_TEST(test_concurrent_dispatch)
{
	struct hookd_config cfg = {0};
	struct worker_arg args[8];
	pthread_t th[8];
	void *state;
	int i;

	SH(&cfg, "cat >/dev/null; printf '%s\\n' \"$1\" >&2; exit 3",
	   "{{data.x}}", NULL);
	state = create_ok(&cfg);
	for (i = 0; i < 8; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].state = state;
		args[i].index = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &args[i]),
		                 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0,
		              "worker %d: %d bad, last '%s'", i,
		              args[i].failures, args[i].last);
	}
	plugin->destroy(state);
}
END_TEST

/* ---- runner ----------------------------------------------------------- */

static Suite *exec_suite(void)
{
	Suite *s = suite_create("exec");
	TCase *tc = tcase_create("exec");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_descriptor);
	tcase_add_test(tc, test_argv_rendered_without_shell);
	tcase_add_test(tc, test_stdin_is_event_json);
	tcase_add_test(tc, test_stdin_large);
	tcase_add_test(tc, test_stdin_not_read);
	tcase_add_test(tc, test_environment_minimal);
	tcase_add_test(tc, test_environment_extra);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test(tc, test_reason_from_output);
	tcase_add_test(tc, test_reason_truncated);
	tcase_add_test(tc, test_max_output);
	tcase_add_test(tc, test_stdin_and_output_interleaved);
	tcase_add_test(tc, test_killed_by_signal);
	tcase_add_test(tc, test_timeout_kills_group);
	tcase_add_test(tc, test_event_deadline);
	tcase_add_test(tc, test_event_deadline_passed);
	tcase_add_test(tc, test_background_child_does_not_block);
	tcase_add_test(tc, test_missing_program);
	tcase_add_test(tc, test_not_executable);
	tcase_add_test(tc, test_cwd);
	tcase_add_test(tc, test_cwd_missing);
	tcase_add_test(tc, test_child_process_state);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_user_and_group);
	tcase_add_test(tc, test_output_logged);
	tcase_add_test(tc, test_output_left_at_exit);
	tcase_add_test(tc, test_no_leaks);
	tcase_add_test(tc, test_concurrent_dispatch);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *dir = getenv("HOOKD_PLUGIN_DIR");
	const char *tmp = getenv("TMPDIR");
	hookd_plugin_entry_fn entry;
	char path[4096];
	SRunner *sr;
	int failed;

	if (!dir || !*dir) {
		printf("1..0 # SKIP HOOKD_PLUGIN_DIR is not set\n");
		return 0;
	}
	/* As hookd does: a child that stops reading must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	snprintf(path, sizeof(path), "%s/exec.so", dir);
	plugin_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!plugin_handle) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		printf("1..1\nnot ok 1 - load %s\n", path);
		return 1;
	}
	entry = (hookd_plugin_entry_fn)dlsym(plugin_handle,
	                                     HOOKD_PLUGIN_ENTRY_SYMBOL);
	plugin = entry ? entry(mock_host()) : NULL;
	if (!plugin) {
		fprintf(stderr, "%s: no usable %s\n", path,
		        HOOKD_PLUGIN_ENTRY_SYMBOL);
		printf("1..1\nnot ok 1 - entry of %s\n", path);
		dlclose(plugin_handle);
		return 1;
	}
	snprintf(tmproot, sizeof(tmproot), "%s/hookd-exec-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmproot)) {
		perror(tmproot);
		printf("1..1\nnot ok 1 - make a temporary directory\n");
		dlclose(plugin_handle);
		return 1;
	}
	/* others may pass through: the user test runs a child as nobody */
	chmod(tmproot, 0711);
	sr = srunner_create(exec_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmproot, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	dlclose(plugin_handle);
	return failed ? 1 : 0;
}
