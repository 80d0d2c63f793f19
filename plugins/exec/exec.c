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
#include "exec.h"
#include "utf8.h"

/* Host services, set once by hookd_plugin_entry(). */
const struct hookd_host *exec_host;

const char *const reserved_env[N_RESERVED_ENV] = {
    "HOOKD_EVENT_ID", "HOOKD_EVENT_TYPE",  "HOOKD_EVENT_SOURCE",
    "HOOKD_ATTEMPT",  "HOOKD_DELIVERY_ID", "HOOKD_TARGET",
};

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
			size_t k = hkd_utf8_len(b, (size_t)(e - b));

			if (k == 1 && *b == '\t')
				sink_put(s, " ", 1);
			else if (k == 0 || hkd_utf8_control(b, k))
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

/* ---- per-event preparation (before fork) ------------------------------ */

/* Free a NULL-terminated argv from render_argv(). */
static void argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		exec_host->free(argv[i]);
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
	char **argv = calloc((size_t)st->argc + 1, sizeof(*argv));
	int i;

	if (!argv) {
		hkd_set_err(why, whylen, "out of memory");
		return NULL;
	}
	for (i = 0; i < st->argc; i++) {
		argv[i] =
		    hkd_render(exec_host, st->argv[i], ev, HOOKD_RENDER_RAW,
		               why, whylen, "command: argv[%d]", i);
		if (!argv[i])
			goto fail;
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
	char attempt[16];
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

		val = hkd_render(exec_host, st->env[k].value, ev,
		                 HOOKD_RENDER_RAW, why, whylen, "env: %s",
		                 st->env[k].name);
		if (!val)
			goto fail;
		envp[n] = env_pair(st->env[k].name, val);
		exec_host->free(val);
		if (!envp[n++])
			goto oom;
	}
	return envp;
oom:
	hkd_set_err(why, whylen, "out of memory");
fail:
	envp_free(envp);
	return NULL;
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
	exec_host->log(st->instance, HOOKD_LOG_DEBUG, "%s %s (%zu bytes%s): %s",
	               argv0, what, c->total,
	               c->total > c->len ? ", truncated" : "", line);
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
			hkd_set_err(res->reason, sizeof(res->reason), "%s: %s",
			            stage_name(r->report.stage),
			            hkd_errtext(e));
		else if (r->report.stage == STAGE_SETGID)
			hkd_set_err(res->reason, sizeof(res->reason),
			            "setgid %u: %s", (unsigned)st->gid,
			            hkd_errtext(e));
		else if (r->report.stage == STAGE_SETUID)
			hkd_set_err(res->reason, sizeof(res->reason),
			            "setuid %u: %s", (unsigned)st->uid,
			            hkd_errtext(e));
		else
			hkd_set_err(res->reason, sizeof(res->reason),
			            "%s %s: %s", stage_name(r->report.stage),
			            arg, hkd_errtext(e));
		/* Out of resources is worth another try; the rest is config. */
		return e == EAGAIN || e == ENOMEM || e == ENFILE ||
		               e == EMFILE || e == ETXTBSY
		           ? HOOKD_RETRY
		           : HOOKD_FAIL;
	}
	if (r->poll_errno) {
		hkd_set_err(res->reason, sizeof(res->reason), "poll: %s",
		            hkd_errtext(r->poll_errno));
		return HOOKD_RETRY;
	}
	if (r->timed_out) {
		hkd_format_seconds(secs, sizeof(secs), limit_ms);
		hkd_set_err(res->reason, sizeof(res->reason),
		            "timed out after %s%s", secs,
		            by_event ? " (event deadline)" : "");
		return HOOKD_RETRY;
	}
	if (!r->exited) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "cannot collect the exit status: %s",
		            hkd_errtext(r->wait_errno));
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
		hkd_set_err(res->reason, sizeof(res->reason), "%s", head);
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
	int64_t limit_ms;
	int by_event;
	struct run r;

	run_init(&r);
	limit_ms =
	    hkd_attempt_limit(st->timeout_ms, ev->deadline_ms, &by_event);
	if (limit_ms <= 0) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "event deadline passed before the command started");
		goto out;
	}
	argv = render_argv(st, ev, res->reason, sizeof(res->reason));
	if (!argv)
		goto out;
	if (argv[0][0] != '/') {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "command: argv[0] '%s' is not an absolute path",
		            argv[0]);
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
	exec_host->log(st->instance, HOOKD_LOG_DEBUG, "%s: %s in %lld ms",
	               argv[0], res->reason, (long long)r.elapsed_ms);
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
	if (!hkd_host_usable(h))
		return NULL;
	exec_host = h;
	return &exec_plugin;
}
