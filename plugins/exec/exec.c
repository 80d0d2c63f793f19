/*
 * exec — run a program for each event.
 *
 * No shell is involved: `command` is an argv whose elements are templates,
 * rendered per event and passed to execve(). The child gets the event JSON on
 * stdin, a small fixed environment, its own process group, and is killed
 * (group and all) when the attempt's deadline passes. Exit status maps to the
 * result: 0 is HOOKD_OK, 75 (EX_TEMPFAIL) is HOOKD_RETRY, anything else is
 * HOOKD_FAIL with the first lines of stderr (else stdout) as the reason.
 *
 * Threads: the state is read-only after create(), so dispatch() runs
 * concurrently (HOOKD_PLUGIN_THREADSAFE); everything one dispatch() needs
 * lives on its stack or in memory it frees before returning. The one
 * shared thing is the list of running children (`kids`, under its lock),
 * which the plugin's destructor kills when hookd exits with attempts still
 * running (see exec_unload).
 *
 * Assumes, as the host guarantees: SIGPIPE is ignored in the process (a
 * child that does not read stdin gives EPIPE, not a signal) and SIGCHLD is
 * not ignored (children must stay waitable). Linux-only: pipe2, close_range,
 * pidfd_open (with a polling fallback when the kernel lacks it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hookd/plugin.h>

#define EXEC_VERSION            "0.1.0"
#define EXEC_DEFAULT_TIMEOUT    30
#define EXEC_MAX_TIMEOUT        86400 /* one day: anything longer is a mistake */
#define EXEC_DEFAULT_MAX_OUTPUT 4096
#define EXEC_MAX_MAX_OUTPUT     (16 * 1024 * 1024)
#define EXEC_TEMPFAIL           75 /* EX_TEMPFAIL from sysexits.h */
#define EXEC_PATH               "/usr/local/bin:/usr/bin:/bin"
/* Without a pidfd the child's exit is noticed by polling this often. */
#define EXEC_POLL_FALLBACK_MS 20
/* After the child exits, read at most this much more from its pipes: a
 * grandchild that keeps writing must not hold the attempt forever. */
#define EXEC_DRAIN_MAX (1024 * 1024)
/* exec_unload() waits at most this many ms for a vfork() under way. */
#define EXEC_UNLOAD_SPAWN_WAIT_MS 1000

/* Host services, set once by hookd_plugin_entry(). */
static const struct hookd_host *host;

/* Variables set by hookd itself; `env` may not override them. */
static const char *const reserved_env[] = {
    "HOOKD_EVENT_ID", "HOOKD_EVENT_TYPE",  "HOOKD_EVENT_SOURCE",
    "HOOKD_ATTEMPT",  "HOOKD_DELIVERY_ID", "HOOKD_TARGET",
};
#define N_FIXED_ENV (1 + sizeof(reserved_env) / sizeof(reserved_env[0]))

/* One `env` entry; both strings borrowed from the handler's config. */
struct exec_env {
	const char *name;
	const char *tmpl;
};

/*
 * One handler instance. Written by create() on the main thread, read-only
 * afterwards, shared by every dispatch() thread. Template strings are
 * borrowed from cfg, which the host keeps valid until destroy().
 */
struct exec_state {
	char *instance; /* handler name, for log lines (owned) */
	int argc;
	const char **argv; /* argc templates (array owned, strings borrowed) */
	int64_t timeout_ms;
	const char *cwd; /* NULL: hookd's working directory */
	int nenv;
	struct exec_env *env;
	size_t max_output; /* bytes kept of stdout, and of stderr */
	int set_ids;       /* switch groups (and maybe user) in the child */
	int set_uid;       /* ... including the user */
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t *groups; /* supplementary groups for setgroups() (owned) */
};

/* What the child reports through the status pipe when it cannot exec. */
enum child_stage {
	STAGE_DUP = 1,
	STAGE_CHDIR,
	STAGE_SETGROUPS,
	STAGE_SETGID,
	STAGE_SETUID,
	STAGE_EXEC
};

struct child_report {
	int stage; /* enum child_stage */
	int err;   /* errno */
};

/* Everything the child needs, prepared before fork(). All borrowed. */
struct child_plan {
	const struct exec_state *st;
	char **argv;
	char **envp;
	int stdin_fd, stdout_fd, stderr_fd, status_fd;
	int max_fd;  /* for the close() loop when close_range() is missing */
	int max_sig; /* SIGRTMAX */
	struct sigaction dfl;
	sigset_t empty;
};

/* Bounded capture of one output stream. */
struct capture {
	int fd;       /* parent's read end, -1 once closed */
	char *buf;    /* kept bytes (owned), not NUL-terminated */
	size_t len;   /* bytes kept */
	size_t total; /* bytes read, kept or not */
};

/* A fixed buffer that text is appended to, ending in "..." when it fills. */
struct sink {
	char *buf;
	size_t size; /* including the NUL */
	size_t len;
	int full;
};

static void fmt(char *buf, size_t len, const char *f, ...) HOOKD_PRINTF(3, 4);

/* snprintf into an optional buffer. */
static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	if (!buf || len == 0)
		return;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

/* Message for errno `err`; thread-safe, never NULL. */
static const char *errtext(int err)
{
	const char *s = strerrordesc_np(err);

	return s ? s : "Unknown error";
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- text clean-up for reasons and log lines -------------------------- */

static void sink_init(struct sink *s, char *buf, size_t size)
{
	s->buf = buf;
	s->size = size;
	s->len = 0;
	s->full = size == 0;
	if (size)
		buf[0] = '\0';
}

/* Mark the sink full: drop whole characters until "..." fits, append it. */
static void sink_close(struct sink *s)
{
	if (s->full)
		return;
	s->full = 1;
	if (s->size < 4)
		return;
	while (s->len > 0 && s->len + 4 > s->size) {
		do
			s->len--;
		while (s->len > 0 &&
		       ((unsigned char)s->buf[s->len] & 0xC0) == 0x80);
	}
	memcpy(s->buf + s->len, "...", 4);
	s->len += 3;
}

/* Append n bytes as a unit: all of them or, when they do not fit, "...". */
static void sink_put(struct sink *s, const char *p, size_t n)
{
	if (s->full)
		return;
	if (s->len + n + 1 > s->size) {
		sink_close(s);
		return;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

/*
 * Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0 when
 * p does not start one (stray continuation byte, overlong form, surrogate,
 * beyond U+10FFFF, cut short).
 */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		need = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		need = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		need = 4;
	else
		return 0;
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (n < need || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Append program output as one printable line: each line trimmed, empty
 * lines dropped, lines joined by " | ", tabs as spaces, other control
 * characters (C0, DEL, C1) and malformed UTF-8 as '?'.
 */
static void sink_put_clean(struct sink *s, const char *text, size_t n)
{
	const unsigned char *p = (const unsigned char *)text;
	const unsigned char *end = p + n;
	int first = 1;

	if (n == 0)
		return;
	while (p < end && !s->full) {
		const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
		const unsigned char *b = p, *e = eol ? eol : end;

		p = eol ? eol + 1 : end;
		while (b < e && is_blank(*b))
			b++;
		while (e > b && is_blank(e[-1]))
			e--;
		if (b == e)
			continue;
		if (!first)
			sink_put(s, " | ", 3);
		first = 0;
		while (b < e && !s->full) {
			size_t k = utf8_seq(b, (size_t)(e - b));

			if (k == 1 && *b == '\t')
				sink_put(s, " ", 1);
			else if (k == 0 ||
			         (k == 1 && (*b < 0x20 || *b == 0x7F)) ||
			         (k == 2 && b[0] == 0xC2 && b[1] < 0xA0))
				sink_put(s, "?", 1);
			else
				sink_put(s, (const char *)b, k);
			b += k ? k : 1;
		}
	}
}

/* 1 when the captured text has something besides white space. */
static int has_text(const struct capture *c)
{
	size_t i;

	for (i = 0; i < c->len; i++)
		if (!is_blank((unsigned char)c->buf[i]) && c->buf[i] != '\n')
			return 1;
	return 0;
}

/* ---- create / destroy ------------------------------------------------- */

/* Free an instance and everything it owns. */
static void exec_destroy(void *p)
{
	struct exec_state *st = p;

	if (!st)
		return;
	free(st->instance);
	free(st->argv);
	free(st->env);
	free(st->groups);
	free(st);
}

/*
 * `command`: a non-empty list whose first element is an absolute path;
 * every element a valid template. The strings stay borrowed from cfg.
 */
static int read_command(struct exec_state *st, const struct hookd_config *cfg,
                        char *err, size_t errlen)
{
	char terr[256];
	int n = host->config_count(cfg, "command");
	int i;

	if (n < 0) {
		fmt(err, errlen, "command is required");
		return -1;
	}
	if (n == 0) {
		fmt(err, errlen, "command must not be empty");
		return -1;
	}
	st->argv = calloc((size_t)n, sizeof(*st->argv));
	if (!st->argv) {
		fmt(err, errlen, "out of memory");
		return -1;
	}
	st->argc = n;
	for (i = 0; i < n; i++) {
		const char *s = NULL;

		if (host->config_item(cfg, "command", i, NULL, &s) < 0 || !s) {
			fmt(err, errlen, "command: cannot read argv[%d]", i);
			return -1;
		}
		if (i == 0 && s[0] != '/') {
			fmt(err, errlen,
			    "command: argv[0] '%s' must be an absolute path",
			    s);
			return -1;
		}
		terr[0] = '\0';
		if (host->check_template(s, terr, sizeof(terr)) < 0) {
			fmt(err, errlen, "command: argv[%d] '%s': %s", i, s,
			    terr[0] ? terr : "invalid template");
			return -1;
		}
		st->argv[i] = s;
	}
	return 0;
}

/* `timeout` (1 s to a day, default 30) and `max_output` (0 to 16 MiB). */
static int read_numbers(struct exec_state *st, const struct hookd_config *cfg,
                        char *err, size_t errlen)
{
	int64_t v;

	st->timeout_ms = (int64_t)EXEC_DEFAULT_TIMEOUT * 1000;
	if (host->config_int(cfg, "timeout", &v) == 0) {
		if (v <= 0) {
			fmt(err, errlen, "timeout must be > 0");
			return -1;
		}
		if (v > EXEC_MAX_TIMEOUT) {
			fmt(err, errlen, "timeout must be at most %d seconds",
			    EXEC_MAX_TIMEOUT);
			return -1;
		}
		st->timeout_ms = v * 1000;
	}
	st->max_output = EXEC_DEFAULT_MAX_OUTPUT;
	if (host->config_int(cfg, "max_output", &v) == 0) {
		if (v < 0) {
			fmt(err, errlen, "max_output must be >= 0");
			return -1;
		}
		if (v > EXEC_MAX_MAX_OUTPUT) {
			fmt(err, errlen, "max_output must be at most %d bytes",
			    EXEC_MAX_MAX_OUTPUT);
			return -1;
		}
		st->max_output = (size_t)v;
	}
	return 0;
}

/* 1 when s is a portable environment variable name. */
static int valid_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	      *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/*
 * `env`: NAME = "template" entries. Names must be portable and must not be
 * one hookd sets itself; PATH may be replaced.
 */
static int read_env(struct exec_state *st, const struct hookd_config *cfg,
                    char *err, size_t errlen)
{
	char terr[256];
	int n = host->config_count(cfg, "env");
	int i;
	size_t r;

	if (n <= 0)
		return 0;
	st->env = calloc((size_t)n, sizeof(*st->env));
	if (!st->env) {
		fmt(err, errlen, "out of memory");
		return -1;
	}
	st->nenv = n;
	for (i = 0; i < n; i++) {
		const char *name = NULL, *val = NULL;

		if (host->config_item(cfg, "env", i, &name, &val) < 0 ||
		    !name || !val) {
			fmt(err, errlen, "env: cannot read entry %d", i);
			return -1;
		}
		if (!valid_env_name(name)) {
			fmt(err, errlen,
			    "env: '%s' is not a valid variable name "
			    "([A-Za-z_][A-Za-z0-9_]*)",
			    name);
			return -1;
		}
		for (r = 0; r < sizeof(reserved_env) / sizeof(reserved_env[0]);
		     r++) {
			if (strcmp(name, reserved_env[r]) == 0) {
				fmt(err, errlen,
				    "env: %s is set by hookd and cannot be "
				    "overridden",
				    name);
				return -1;
			}
		}
		terr[0] = '\0';
		if (host->check_template(val, terr, sizeof(terr)) < 0) {
			fmt(err, errlen, "env: %s: %s", name,
			    terr[0] ? terr : "invalid template");
			return -1;
		}
		st->env[i].name = name;
		st->env[i].tmpl = val;
	}
	return 0;
}

/* Scratch buffer size for the get*nam_r functions. */
static size_t nss_bufsize(int which)
{
	long n = sysconf(which);

	return n > 0 ? (size_t)n : 16384;
}

/* Resolve user name to uid and primary gid. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid, char *err,
                       size_t errlen)
{
	struct passwd pw, *res = NULL;
	size_t len = nss_bufsize(_SC_GETPW_R_SIZE_MAX);
	char *buf = NULL;
	int rc, ret = -1;

	for (;;) {
		char *nb = realloc(buf, len);

		if (!nb) {
			fmt(err, errlen, "user '%s': out of memory", name);
			goto out;
		}
		buf = nb;
		rc = getpwnam_r(name, &pw, buf, len, &res);
		if (rc != ERANGE || len >= 1024 * 1024)
			break;
		len *= 2;
	}
	if (rc != 0)
		fmt(err, errlen, "user '%s': %s", name, errtext(rc));
	else if (!res)
		fmt(err, errlen, "user: no such user '%s'", name);
	else {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
		ret = 0;
	}
out:
	free(buf);
	return ret;
}

/* Resolve group name to gid. */
static int lookup_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	size_t len = nss_bufsize(_SC_GETGR_R_SIZE_MAX);
	char *buf = NULL;
	int rc, ret = -1;

	for (;;) {
		char *nb = realloc(buf, len);

		if (!nb) {
			fmt(err, errlen, "group '%s': out of memory", name);
			goto out;
		}
		buf = nb;
		rc = getgrnam_r(name, &gr, buf, len, &res);
		if (rc != ERANGE || len >= 1024 * 1024)
			break;
		len *= 2;
	}
	if (rc != 0)
		fmt(err, errlen, "group '%s': %s", name, errtext(rc));
	else if (!res)
		fmt(err, errlen, "group: no such group '%s'", name);
	else {
		*gid = gr.gr_gid;
		ret = 0;
	}
out:
	free(buf);
	return ret;
}

/*
 * Resolve `user` and `group` now, so the child only calls setgroups(),
 * setgid() and setuid() with numbers. The supplementary groups are the
 * user's (as initgroups() would set them), or just `group` without a user.
 */
static int read_identity(struct exec_state *st, const struct hookd_config *cfg,
                         char *err, size_t errlen)
{
	const char *user = NULL, *group = NULL;
	int n = 32, tries;

	if (host->config_string(cfg, "user", &user) < 0)
		user = NULL;
	if (host->config_string(cfg, "group", &group) < 0)
		group = NULL;
	if (!user && !group)
		return 0;
	if (geteuid() != 0) {
		fmt(err, errlen,
		    "%s '%s' is set but hookd does not run as root (euid %u), "
		    "so it cannot switch to it",
		    user ? "user" : "group", user ? user : group,
		    (unsigned)geteuid());
		return -1;
	}
	st->set_ids = 1;
	if (user) {
		if (lookup_user(user, &st->uid, &st->gid, err, errlen) < 0)
			return -1;
		st->set_uid = 1;
	}
	if (group && lookup_group(group, &st->gid, err, errlen) < 0)
		return -1;
	if (!user) {
		st->groups = malloc(sizeof(*st->groups));
		if (!st->groups) {
			fmt(err, errlen, "out of memory");
			return -1;
		}
		st->groups[0] = st->gid;
		st->ngroups = 1;
		return 0;
	}
	for (tries = 0; tries < 8; tries++) {
		gid_t *g = realloc(st->groups, (size_t)n * sizeof(*g));

		if (!g) {
			fmt(err, errlen, "out of memory");
			return -1;
		}
		st->groups = g;
		if (getgrouplist(user, st->gid, st->groups, &n) >= 0) {
			st->ngroups = n;
			return 0;
		}
		if (n < 1)
			n = 32;
		n *= 2; /* n now holds what was needed; leave room to grow */
	}
	fmt(err, errlen, "user '%s': cannot list its groups", user);
	return -1;
}

/*
 * Make an instance from the handler's settings. `instance` and `cfg` are
 * borrowed; cfg (and the strings read from it) must stay valid until
 * exec_destroy(). Every setting is checked here, so dispatch() only fails
 * on things that can change per event or over time.
 */
static int exec_create(const char *instance, const struct hookd_config *cfg,
                       void **state, char *err, size_t errlen)
{
	struct exec_state *st = calloc(1, sizeof(*st));

	if (!st) {
		fmt(err, errlen, "out of memory");
		return -1;
	}
	st->instance = strdup(instance ? instance : "exec");
	if (!st->instance) {
		fmt(err, errlen, "out of memory");
		goto fail;
	}
	if (read_command(st, cfg, err, errlen) < 0 ||
	    read_numbers(st, cfg, err, errlen) < 0)
		goto fail;
	if (host->config_string(cfg, "cwd", &st->cwd) < 0)
		st->cwd = NULL;
	if (st->cwd && st->cwd[0] != '/') {
		fmt(err, errlen, "cwd '%s' must be an absolute path", st->cwd);
		goto fail;
	}
	if (read_env(st, cfg, err, errlen) < 0 ||
	    read_identity(st, cfg, err, errlen) < 0)
		goto fail;
	*state = st;
	return 0;
fail:
	exec_destroy(st);
	return -1;
}

/* ---- per-event preparation (before fork) ------------------------------ */

/* Free a NULL-terminated argv from render_argv(). */
static void argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		host->free(argv[i]);
	free(argv);
}

/* Free a NULL-terminated envp from build_env(). */
static void envp_free(char **envp)
{
	size_t i;

	if (!envp)
		return;
	for (i = 0; envp[i]; i++)
		free(envp[i]);
	free(envp);
}

/*
 * Render every argv template. Returns a NULL-terminated array (caller frees
 * with argv_free) or NULL with the reason in `why`.
 */
static char **render_argv(const struct exec_state *st,
                          const struct hookd_event *ev, char *why,
                          size_t whylen)
{
	char terr[256];
	char **argv = calloc((size_t)st->argc + 1, sizeof(*argv));
	int i;

	if (!argv) {
		fmt(why, whylen, "out of memory");
		return NULL;
	}
	for (i = 0; i < st->argc; i++) {
		terr[0] = '\0';
		argv[i] = host->render(st->argv[i], ev, HOOKD_RENDER_RAW, terr,
		                       sizeof(terr));
		if (!argv[i]) {
			fmt(why, whylen, "command: argv[%d]: %s", i,
			    terr[0] ? terr : "cannot render");
			goto fail;
		}
	}
	return argv;
fail:
	argv_free(argv);
	return NULL;
}

/* malloc'd "name=value"; NULL value counts as empty. */
static char *env_pair(const char *name, const char *value)
{
	size_t n = strlen(name), v = value ? strlen(value) : 0;
	char *s = malloc(n + v + 2);

	if (!s)
		return NULL;
	memcpy(s, name, n);
	s[n] = '=';
	if (v)
		memcpy(s + n + 1, value, v);
	s[n + 1 + v] = '\0';
	return s;
}

/*
 * The child's whole environment: PATH (unless `env` sets it), the HOOKD_*
 * variables, then the rendered `env` entries. Returns a NULL-terminated
 * array (caller frees with envp_free) or NULL with the reason in `why`.
 */
static char **build_env(const struct exec_state *st,
                        const struct hookd_event *ev, char *why, size_t whylen)
{
	char terr[256], attempt[16];
	const char *fixed[N_FIXED_ENV - 1];
	char **envp = calloc(N_FIXED_ENV + (size_t)st->nenv + 1, sizeof(*envp));
	size_t n = 0, i;
	int have_path = 0, k;

	if (!envp)
		goto oom;
	snprintf(attempt, sizeof(attempt), "%u", ev->attempt);
	fixed[0] = ev->id;
	fixed[1] = ev->type;
	fixed[2] = ev->source;
	fixed[3] = attempt;
	fixed[4] = ev->delivery_id;
	fixed[5] = ev->target;
	for (k = 0; k < st->nenv; k++)
		if (strcmp(st->env[k].name, "PATH") == 0)
			have_path = 1;
	if (!have_path && !(envp[n++] = env_pair("PATH", EXEC_PATH)))
		goto oom;
	for (i = 0; i < N_FIXED_ENV - 1; i++)
		if (!(envp[n++] = env_pair(reserved_env[i], fixed[i])))
			goto oom;
	for (k = 0; k < st->nenv; k++) {
		char *val;

		terr[0] = '\0';
		val = host->render(st->env[k].tmpl, ev, HOOKD_RENDER_RAW, terr,
		                   sizeof(terr));
		if (!val) {
			fmt(why, whylen, "env: %s: %s", st->env[k].name,
			    terr[0] ? terr : "cannot render");
			goto fail;
		}
		envp[n] = env_pair(st->env[k].name, val);
		host->free(val);
		if (!envp[n++])
			goto oom;
	}
	return envp;
oom:
	fmt(why, whylen, "out of memory");
fail:
	envp_free(envp);
	return NULL;
}

/* ---- the child -------------------------------------------------------- */

/*
 * Runs in the vfork()ed child: it shares the parent's memory until execve,
 * and the parent is a multi-threaded process. So only async-signal-safe
 * calls, no writes to shared data (errno aside), no malloc, no stdio, no
 * locks; and the id changes are raw system calls, because glibc's
 * setuid() and friends would try to change the ids of every thread of the
 * (shared) process. Never returns.
 */
static __attribute__((noreturn)) void child_run(const struct child_plan *pl)
{
	const struct exec_state *st = pl->st;
	struct child_report rep;
	ssize_t wr;
	int sig, fd;

	setpgid(0, 0);
	/* Ignored signals stay ignored across execve (the host ignores
	 * SIGPIPE), and the worker's blocked mask would be inherited too.
	 * glibc refuses its own two (32, 33): those fail harmlessly. */
	for (sig = 1; sig <= pl->max_sig; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &pl->dfl, NULL);
	sigprocmask(SIG_SETMASK, &pl->empty, NULL);

	rep.stage = STAGE_DUP;
	/* All four descriptors are >= 3 (see make_pipe), so none is clobbered
	 * here and dup2() clears close-on-exec on each copy. */
	if (dup2(pl->stdin_fd, 0) < 0 || dup2(pl->stdout_fd, 1) < 0 ||
	    dup2(pl->stderr_fd, 2) < 0)
		goto fail;
	/* Close everything else but the status pipe (close-on-exec). */
	if (pl->status_fd > 3 &&
	    close_range(3, (unsigned)pl->status_fd - 1, 0) < 0)
		for (fd = 3; fd < pl->status_fd; fd++)
			close(fd);
	if (close_range((unsigned)pl->status_fd + 1, ~0U, 0) < 0)
		for (fd = pl->status_fd + 1; fd < pl->max_fd; fd++)
			close(fd);
	if (st->set_ids) {
		rep.stage = STAGE_SETGROUPS;
		if (syscall(SYS_setgroups, (size_t)st->ngroups, st->groups) < 0)
			goto fail;
		rep.stage = STAGE_SETGID;
		if (syscall(SYS_setgid, st->gid) < 0)
			goto fail;
		rep.stage = STAGE_SETUID;
		if (st->set_uid && syscall(SYS_setuid, st->uid) < 0)
			goto fail;
	}
	/* After the switch, so the directory must be the user's to enter. */
	rep.stage = STAGE_CHDIR;
	if (st->cwd && chdir(st->cwd) < 0)
		goto fail;
	rep.stage = STAGE_EXEC;
	execve(pl->argv[0], pl->argv, pl->envp);
fail:
	rep.err = errno;
	wr = write(pl->status_fd, &rep, sizeof(rep));
	(void)wr;
	_exit(127);
}

/* ---- the parent ------------------------------------------------------- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Move fd to a number >= 3 (keeping close-on-exec) so that the child's
 * dup2() onto 0, 1 and 2 never overwrites one of its sources. */
static int lift_fd(int fd)
{
	int nfd, e;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	e = errno;
	close(fd);
	errno = e;
	return nfd;
}

/* A close-on-exec pipe with both ends >= 3; -1 with errno on failure. */
static int make_pipe(int p[2])
{
	int e;

	if (pipe2(p, O_CLOEXEC) < 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	p[0] = lift_fd(p[0]);
	e = errno;
	p[1] = lift_fd(p[1]);
	if (p[0] >= 0 && p[1] >= 0)
		return 0;
	if (p[1] >= 0)
		e = errno;
	close_fd(&p[0]);
	close_fd(&p[1]);
	errno = e;
	return -1;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Read once from a capture's pipe. Keeps up to `cap` bytes, discards the
 * rest. Returns 1 after reading data, 0 at end of file or on an error (the
 * descriptor is then closed), -1 when nothing is available now.
 */
static int capture_read(struct capture *c, size_t cap)
{
	char tmp[8192];
	ssize_t n;

	n = read(c->fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		close_fd(&c->fd);
		return 0;
	}
	c->total += (size_t)n;
	if (c->len < cap) {
		size_t keep =
		    (size_t)n < cap - c->len ? (size_t)n : cap - c->len;

		if (!c->buf)
			c->buf = malloc(cap);
		if (c->buf) {
			memcpy(c->buf + c->len, tmp, keep);
			c->len += keep;
		}
	}
	return 1;
}

/* Read what the exited child left in its pipes, bounded by EXEC_DRAIN_MAX. */
static void capture_drain(struct capture *c, size_t cap)
{
	size_t start = c->total;

	while (c->fd >= 0 && c->total - start < EXEC_DRAIN_MAX)
		if (capture_read(c, cap) < 0)
			break;
	close_fd(&c->fd);
}

/* pidfd for pid, or -1 when the kernel has none (then we poll waitpid). */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* waitpid() that retries on EINTR. */
static pid_t reap(pid_t pid, int *wstatus, int options)
{
	pid_t r;

	do
		r = waitpid(pid, wstatus, options);
	while (r < 0 && errno == EINTR);
	return r;
}

/* One run of the child: its descriptors while it runs, then its outcome. */
struct run {
	pid_t pid;
	int pidfd;     /* -1: no pidfd, waitpid() is polled instead */
	int in_fd;     /* parent's end of the child's stdin, -1 when done */
	size_t in_off; /* bytes of the event JSON written so far */
	int status_fd; /* parent's end of the status pipe */
	struct capture out, err;
	int64_t start_ms; /* monotonic time of fork() */

	int exited; /* wstatus is valid */
	int wstatus;
	int wait_errno; /* waitpid() failed with this (exit status lost) */
	int poll_errno; /* poll() failed with this; the child was killed */
	int timed_out;
	int have_report; /* the child could not exec; see report */
	struct child_report report;
	int64_t elapsed_ms;

	const char *instance;    /* handler name, for exec_unload's log line */
	int linked;              /* in kids' list (pid and instance valid) */
	struct run *prev, *next; /* kids' list */
};

/*
 * The children now running, so that exec_unload() can kill them. The
 * nodes are the `struct run`s on the dispatching threads' stacks: linked
 * by spawn() once the child exists, unlinked when it is reaped (or given
 * up on), always before dispatch() returns. `spawning` counts vfork()s
 * under way whose child is not linked yet; `closing` is set by
 * exec_unload(), after which no child is started.
 */
static struct {
	pthread_mutex_t lock;
	struct run *head;
	int spawning;
	int closing;
} kids = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->pid = -1;
	r->pidfd = r->in_fd = r->status_fd = r->out.fd = r->err.fd = -1;
}

/* Close the run's descriptors and free its buffers (r stays valid). */
static void run_release(struct run *r)
{
	close_fd(&r->pidfd);
	close_fd(&r->in_fd);
	close_fd(&r->status_fd);
	close_fd(&r->out.fd);
	close_fd(&r->err.fd);
	free(r->out.buf);
	free(r->err.buf);
	r->out.buf = r->err.buf = NULL;
}

/* ---- the running children --------------------------------------------- */

/* Before vfork(): 0, or -1 once hookd is exiting (no child starts then). */
static int kids_enter(void)
{
	int rc = -1;

	pthread_mutex_lock(&kids.lock);
	if (!kids.closing) {
		kids.spawning++;
		rc = 0;
	}
	pthread_mutex_unlock(&kids.lock);
	return rc;
}

/*
 * After vfork(): link r when r->pid names a child, so that exec_unload()
 * finds it. If exec_unload() gave up waiting for this spawn, the child is
 * killed here instead.
 */
static void kids_link(struct run *r)
{
	pthread_mutex_lock(&kids.lock);
	kids.spawning--;
	if (r->pid > 0) {
		r->prev = NULL;
		r->next = kids.head;
		if (kids.head)
			kids.head->prev = r;
		kids.head = r;
		r->linked = 1;
		if (kids.closing) {
			kill(-r->pid, SIGKILL);
			kill(r->pid, SIGKILL);
		}
	}
	pthread_mutex_unlock(&kids.lock);
}

/* Take r out of the list (lock held); nothing when it is not in it. */
static void kids_unlink_locked(struct run *r)
{
	if (!r->linked)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		kids.head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->linked = 0;
}

static void kids_unlink(struct run *r)
{
	pthread_mutex_lock(&kids.lock);
	kids_unlink_locked(r);
	pthread_mutex_unlock(&kids.lock);
}

/*
 * reap() for a wait that does not block (the pidfd said the child has
 * exited, or WNOHANG), unlinking the child in the same step: exec_unload()
 * then never signals a process group whose number the kernel may have
 * handed out again once the child was reaped.
 */
static pid_t reap_linked(struct run *r, int options)
{
	pid_t w;

	pthread_mutex_lock(&kids.lock);
	w = reap(r->pid, &r->wstatus, options);
	if (w == r->pid)
		kids_unlink_locked(r);
	pthread_mutex_unlock(&kids.lock);
	return w;
}

/*
 * Runs when exec.so is unloaded and when the process exits. hookd calls
 * destroy() only once no attempt runs; but when shutdown_timeout passes
 * with attempts still running, it abandons them and exits without it (see
 * include/hookd/plugin.h). Their children, each in a process group of its
 * own, would not end with hookd: they would run on as orphans while the
 * deliveries, unfinished in the store, run again at the next start beside
 * them (two deploys at once, whatever `concurrency` says). So every child
 * still running gets SIGKILL, group and all, as when `timeout` passes:
 * shutdown_timeout was its grace. No SIGTERM first: hookd is exiting now,
 * and a wait here would stretch its stop past what the operator set. The
 * dispatch() calls supervising those children return; hookd records no
 * outcome of an abandoned attempt. No child starts afterwards.
 */
__attribute__((destructor)) static void exec_unload(void)
{
	const struct timespec tick = {0, 1000000};
	int waited;

	pthread_mutex_lock(&kids.lock);
	kids.closing = 1;
	/* A child being vforked now is not linked yet, and vfork() returns
	 * once it has called execve(): wait for that, bounded, so that it is
	 * killed here too (past the bound, kids_link() kills it). */
	for (waited = 0;
	     kids.spawning > 0 && waited < EXEC_UNLOAD_SPAWN_WAIT_MS;
	     waited++) {
		pthread_mutex_unlock(&kids.lock);
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&kids.lock);
	}
	for (struct run *r = kids.head; r; r = r->next) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL); /* in case it left its group */
		if (host)
			host->log(
			    r->instance, HOOKD_LOG_WARN,
			    "hookd exits with this attempt still running: "
			    "killed process group %d",
			    (int)r->pid);
	}
	pthread_mutex_unlock(&kids.lock);
}

/*
 * vfork: no copy of the page tables of a large, busy daemon; the calling
 * thread waits until the child has called execve (or failed). A function
 * of its own, so that no variable of the caller lives across vfork().
 */
static __attribute__((noinline)) pid_t start_child(const struct child_plan *pl)
{
	pid_t pid = vfork();
	if (pid == 0)
		child_run(pl);
	return pid;
}

/*
 * Create the pipes and fork the child. On success r holds the child's pid
 * and the parent's ends of the pipes (non-blocking). Returns -1 with the
 * reason in `why` when the child could not be started; then nothing is
 * left open and there is no child.
 */
static int spawn(const struct exec_state *st, char **argv, char **envp,
                 struct run *r, char *why, size_t whylen)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int stp[2] = {-1, -1};
	struct child_plan pl;
	int ret = -1, e;
	long maxfd;
	pid_t pid;

	if (make_pipe(in) < 0 || make_pipe(out) < 0 || make_pipe(err) < 0 ||
	    make_pipe(stp) < 0) {
		fmt(why, whylen, "pipe: %s", errtext(errno));
		goto out;
	}
	memset(&pl, 0, sizeof(pl));
	pl.st = st;
	pl.argv = argv;
	pl.envp = envp;
	pl.stdin_fd = in[0];
	pl.stdout_fd = out[1];
	pl.stderr_fd = err[1];
	pl.status_fd = stp[1];
	maxfd = sysconf(_SC_OPEN_MAX);
	pl.max_fd = maxfd > 0 && maxfd < 1 << 20 ? (int)maxfd : 1 << 20;
	pl.max_sig = SIGRTMAX;
	pl.dfl.sa_handler = SIG_DFL;
	sigemptyset(&pl.dfl.sa_mask);
	sigemptyset(&pl.empty);

	r->start_ms = clock_ms(CLOCK_MONOTONIC);
	if (kids_enter() < 0) {
		fmt(why, whylen, "hookd is exiting");
		goto out;
	}
	pid = start_child(&pl);
	if (pid < 0) {
		e = errno;
		kids_link(r); /* no child: only ends the spawn */
		fmt(why, whylen, "vfork: %s", errtext(e));
		goto out;
	}
	/* Also set here, so kill(-pid) works whichever of the two runs first;
	 * EACCES (the child already exec'd, having done it itself) is fine. */
	setpgid(pid, pid);
	r->pid = pid;
	r->instance = st->instance;
	kids_link(r);
	r->pidfd = open_pidfd(pid);
	r->in_fd = in[1];
	r->out.fd = out[0];
	r->err.fd = err[0];
	r->status_fd = stp[0];
	in[1] = out[0] = err[0] = stp[0] = -1;
	set_nonblock(r->in_fd);
	set_nonblock(r->out.fd);
	set_nonblock(r->err.fd);
	set_nonblock(r->status_fd);
	ret = 0;
out:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&stp[0]);
	close_fd(&stp[1]);
	return ret;
}

/* Write the next piece of the event JSON to the child's stdin. */
static void feed_stdin(struct run *r, const struct hookd_event *ev)
{
	ssize_t n =
	    write(r->in_fd, ev->json + r->in_off, ev->json_len - r->in_off);

	if (n > 0)
		r->in_off += (size_t)n;
	/* EPIPE (SIGPIPE is ignored): the child does not read its stdin;
	 * that is its business, not an error. */
	if (r->in_off == ev->json_len ||
	    (n < 0 && errno != EAGAIN && errno != EINTR))
		close_fd(&r->in_fd);
}

/* EOF on the status pipe: exec succeeded. A report: it failed. */
static void read_status(struct run *r)
{
	if (read(r->status_fd, &r->report, sizeof(r->report)) ==
	    (ssize_t)sizeof(r->report))
		r->have_report = 1;
	close_fd(&r->status_fd);
}

/*
 * One poll() loop until the child exits or the deadline (monotonic ms)
 * passes: writes the event to stdin, reads stdout and stderr, watches the
 * status pipe and the child. Sets exited, timed_out, wait_errno or
 * poll_errno.
 */
static void supervise(const struct exec_state *st, const struct hookd_event *ev,
                      struct run *r, int64_t deadline)
{
	if (ev->json_len == 0 || !ev->json)
		close_fd(&r->in_fd);
	while (!r->exited) {
		struct pollfd pf[5];
		int np = 0, i_in = -1, i_out = -1, i_err = -1, i_st = -1;
		int i_pid = -1;
		int64_t now = clock_ms(CLOCK_MONOTONIC), wait_ms;
		pid_t w;

		if (now >= deadline) {
			r->timed_out = 1;
			return;
		}
		wait_ms = deadline - now;
		if (r->pidfd < 0 && wait_ms > EXEC_POLL_FALLBACK_MS)
			wait_ms = EXEC_POLL_FALLBACK_MS;
		if (r->in_fd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->in_fd, .events = POLLOUT};
			i_in = np++;
		}
		if (r->out.fd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->out.fd, .events = POLLIN};
			i_out = np++;
		}
		if (r->err.fd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->err.fd, .events = POLLIN};
			i_err = np++;
		}
		if (r->status_fd >= 0) {
			pf[np] = (struct pollfd){.fd = r->status_fd,
			                         .events = POLLIN};
			i_st = np++;
		}
		if (r->pidfd >= 0) {
			pf[np] =
			    (struct pollfd){.fd = r->pidfd, .events = POLLIN};
			i_pid = np++;
		}
		if (poll(pf, (nfds_t)np, (int)wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			r->poll_errno =
			    errno; /* ENOMEM: cannot wait any more */
			return;
		}
		if (i_in >= 0 && pf[i_in].revents)
			feed_stdin(r, ev);
		if (i_out >= 0 && pf[i_out].revents)
			capture_read(&r->out, st->max_output);
		if (i_err >= 0 && pf[i_err].revents)
			capture_read(&r->err, st->max_output);
		if (i_st >= 0 && pf[i_st].revents)
			read_status(r);
		if (i_pid >= 0 && !pf[i_pid].revents)
			continue;
		w = reap_linked(r, r->pidfd >= 0 ? 0 : WNOHANG);
		if (w == r->pid)
			r->exited = 1;
		else if (w < 0) {
			r->wait_errno = errno;
			return;
		}
	}
}

/*
 * Run the command once: fork, supervise until exit or `limit_ms`, kill the
 * process group when time is up, always reap, then collect what the child
 * left in its pipes. Borrowed: st, ev, argv, envp; r is filled (release it
 * with run_release). Returns -1 with the reason in `why` when the child
 * could not be started.
 */
static int run_child(const struct exec_state *st, const struct hookd_event *ev,
                     char **argv, char **envp, int64_t limit_ms, struct run *r,
                     char *why, size_t whylen)
{
	if (spawn(st, argv, envp, r, why, whylen) < 0)
		return -1;
	supervise(st, ev, r, r->start_ms + limit_ms);
	if (r->timed_out || r->poll_errno) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL); /* in case it left its group */
		/* Before the wait, which may block (a child stuck in the
		 * kernel) and frees the pid: killed, it is not exec_unload's.
		 */
		kids_unlink(r);
		if (reap(r->pid, &r->wstatus, 0) == r->pid)
			r->exited = 1;
		else
			r->wait_errno = errno;
	}
	kids_unlink(r); /* when waitpid() failed: the run ends here anyway */
	r->elapsed_ms = clock_ms(CLOCK_MONOTONIC) - r->start_ms;
	/* Whatever the child wrote before it ended is in the pipes now. */
	close_fd(&r->in_fd);
	capture_drain(&r->out, st->max_output);
	capture_drain(&r->err, st->max_output);
	if (r->status_fd >= 0)
		read_status(r);
	close_fd(&r->pidfd);
	return 0;
}

/* ---- results ---------------------------------------------------------- */

static const char *stage_name(int stage)
{
	switch (stage) {
	case STAGE_DUP:
		return "dup2";
	case STAGE_CHDIR:
		return "chdir";
	case STAGE_SETGROUPS:
		return "setgroups";
	case STAGE_SETGID:
		return "setgid";
	case STAGE_SETUID:
		return "setuid";
	default:
		return "exec";
	}
}

/* "1.5s", "30s": seconds with a tenth only when it is not whole. */
static void format_seconds(char *buf, size_t len, int64_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(buf, len, "%lld.%llds", (long long)(ms / 1000),
		         (long long)(ms % 1000 / 100));
}

/* "head" or "head: <first lines of stderr, else stdout>" into the reason. */
static void set_reason(struct hookd_result *res, const char *head,
                       const struct run *r)
{
	const struct capture *c = has_text(&r->err) ? &r->err : &r->out;
	struct sink s;

	sink_init(&s, res->reason, sizeof(res->reason));
	sink_put(&s, head, strlen(head));
	if (has_text(c)) {
		sink_put(&s, ": ", 2);
		sink_put_clean(&s, c->buf, c->len);
	}
}

/* Log one captured stream at DEBUG as a single cleaned line. */
static void log_capture(const struct exec_state *st, const char *argv0,
                        const char *what, const struct capture *c)
{
	size_t size = c->len * 3 + 8;
	char *line;
	struct sink s;

	if (c->total == 0)
		return;
	line = malloc(size);
	if (!line)
		return;
	sink_init(&s, line, size);
	sink_put_clean(&s, c->buf, c->len);
	host->log(st->instance, HOOKD_LOG_DEBUG, "%s %s (%zu bytes%s): %s",
	          argv0, what, c->total, c->total > c->len ? ", truncated" : "",
	          line);
	free(line);
}

/* Map the finished run to a status and reason. */
static enum hookd_status judge(const struct exec_state *st, const char *argv0,
                               int64_t limit_ms, int by_event,
                               const struct run *r, struct hookd_result *res)
{
	char head[128], secs[32];

	if (r->have_report) {
		const char *arg = argv0;
		int e = r->report.err;

		if (r->report.stage == STAGE_CHDIR)
			arg = st->cwd;
		if (r->report.stage == STAGE_DUP ||
		    r->report.stage == STAGE_SETGROUPS)
			fmt(res->reason, sizeof(res->reason), "%s: %s",
			    stage_name(r->report.stage), errtext(e));
		else if (r->report.stage == STAGE_SETGID)
			fmt(res->reason, sizeof(res->reason), "setgid %u: %s",
			    (unsigned)st->gid, errtext(e));
		else if (r->report.stage == STAGE_SETUID)
			fmt(res->reason, sizeof(res->reason), "setuid %u: %s",
			    (unsigned)st->uid, errtext(e));
		else
			fmt(res->reason, sizeof(res->reason), "%s %s: %s",
			    stage_name(r->report.stage), arg, errtext(e));
		/* Out of resources is worth another try; the rest is config. */
		return e == EAGAIN || e == ENOMEM || e == ENFILE ||
		               e == EMFILE || e == ETXTBSY
		           ? HOOKD_RETRY
		           : HOOKD_FAIL;
	}
	if (r->poll_errno) {
		fmt(res->reason, sizeof(res->reason), "poll: %s",
		    errtext(r->poll_errno));
		return HOOKD_RETRY;
	}
	if (r->timed_out) {
		format_seconds(secs, sizeof(secs), limit_ms);
		fmt(res->reason, sizeof(res->reason), "timed out after %s%s",
		    secs, by_event ? " (event deadline)" : "");
		return HOOKD_RETRY;
	}
	if (!r->exited) {
		fmt(res->reason, sizeof(res->reason),
		    "cannot collect the exit status: %s",
		    errtext(r->wait_errno));
		return HOOKD_FAIL;
	}
	if (WIFSIGNALED(r->wstatus)) {
		int sig = WTERMSIG(r->wstatus);
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev)
			snprintf(head, sizeof(head), "killed by SIG%s%s",
			         abbrev,
			         WCOREDUMP(r->wstatus) ? " (core dumped)" : "");
		else
			snprintf(head, sizeof(head), "killed by signal %d",
			         sig);
		set_reason(res, head, r);
		return HOOKD_FAIL;
	}
	snprintf(head, sizeof(head), "exit %d", WEXITSTATUS(r->wstatus));
	if (WEXITSTATUS(r->wstatus) == 0) {
		fmt(res->reason, sizeof(res->reason), "%s", head);
		return HOOKD_OK;
	}
	set_reason(res, head, r);
	return WEXITSTATUS(r->wstatus) == EXEC_TEMPFAIL ? HOOKD_RETRY
	                                                : HOOKD_FAIL;
}

/*
 * Run the command for one event (borrowed). The attempt ends by the earlier
 * of `timeout` and the event's deadline; past it the child's process group
 * is killed and the attempt is retried.
 */
static enum hookd_status exec_dispatch(void *state,
                                       const struct hookd_event *ev,
                                       struct hookd_result *res)
{
	const struct exec_state *st = state;
	enum hookd_status status = HOOKD_RETRY;
	char **argv = NULL, **envp = NULL;
	int64_t limit_ms = st->timeout_ms;
	int by_event = 0;
	struct run r;

	run_init(&r);
	if (ev->deadline_ms > 0) {
		int64_t left = ev->deadline_ms - clock_ms(CLOCK_REALTIME);

		if (left < limit_ms) {
			limit_ms = left;
			by_event = 1;
		}
		if (left <= 0) {
			fmt(res->reason, sizeof(res->reason),
			    "event deadline passed before the command started");
			goto out;
		}
	}
	argv = render_argv(st, ev, res->reason, sizeof(res->reason));
	if (!argv)
		goto out;
	if (argv[0][0] != '/') {
		fmt(res->reason, sizeof(res->reason),
		    "command: argv[0] '%s' is not an absolute path", argv[0]);
		status = HOOKD_FAIL;
		goto out;
	}
	envp = build_env(st, ev, res->reason, sizeof(res->reason));
	if (!envp)
		goto out;
	if (run_child(st, ev, argv, envp, limit_ms, &r, res->reason,
	              sizeof(res->reason)) < 0)
		goto out; /* could not start: pipes or fork, worth a retry */
	status = judge(st, argv[0], limit_ms, by_event, &r, res);
	host->log(st->instance, HOOKD_LOG_DEBUG, "%s: %s in %lld ms", argv[0],
	          res->reason, (long long)r.elapsed_ms);
	log_capture(st, argv[0], "stdout", &r.out);
	log_capture(st, argv[0], "stderr", &r.err);
out:
	run_release(&r);
	argv_free(argv);
	envp_free(envp);
	return status;
}

static const struct hookd_config_key exec_keys[] = {
    {"command", HOOKD_KEY_LIST, HOOKD_KEY_REQUIRED,
     "program and arguments, each a template; argv[0] an absolute path "
     "(no shell)"},
    {"timeout", HOOKD_KEY_INT, 0,
     "seconds before the process group is killed and the attempt retried "
     "(default 30)"},
    {"cwd", HOOKD_KEY_STRING, 0,
     "absolute working directory (default: hookd's)"},
    {"env", HOOKD_KEY_GROUP, 0,
     "extra environment variables, NAME = \"template\" (may set PATH)"},
    {"user", HOOKD_KEY_STRING, 0,
     "run as this user and its groups (hookd must run as root)"},
    {"group", HOOKD_KEY_STRING, 0,
     "run with this group (hookd must run as root)"},
    {"max_output", HOOKD_KEY_INT, 0,
     "bytes of stdout and of stderr kept for the log and reason "
     "(default 4096)"},
    {.name = NULL},
};

static const struct hookd_plugin exec_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "exec",
    .version = EXEC_VERSION,
    .description = "run a program per event, the event JSON on its stdin",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = exec_keys,
    .create = exec_create,
    .dispatch = exec_dispatch,
    .destroy = exec_destroy,
};

/* Keep the host table; refuse a host whose table lacks the 1.0 services. */
HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	if (!h || h->abi_major != HOOKD_ABI_MAJOR ||
	    h->struct_size <
	        offsetof(struct hookd_host, free) + sizeof(h->free))
		return NULL;
	host = h;
	return &exec_plugin;
}
