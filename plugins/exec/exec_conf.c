/* The exec plugin: a handler's settings (create) and their release. */
#include "exec.h"

/* ---- create / destroy ------------------------------------------------- */

/* Free an instance and everything it owns. */
void exec_destroy(void *p)
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
	int i, set;

	set = hkd_conf_list(exec_host, cfg, "command", &st->argv, &st->argc,
	                    err, errlen);
	if (set < 0)
		return -1;
	if (!set) {
		hkd_set_err(err, errlen, "command is required");
		return -1;
	}
	if (st->argc == 0) {
		hkd_set_err(err, errlen, "command must not be empty");
		return -1;
	}
	for (i = 0; i < st->argc; i++) {
		const char *s = st->argv[i];

		if (i == 0 && s[0] != '/') {
			hkd_set_err(
			    err, errlen,
			    "command: argv[0] '%s' must be an absolute path",
			    s);
			return -1;
		}
		if (hkd_check_template(exec_host, s, err, errlen,
		                       "command: argv[%d] '%s'", i, s) < 0)
			return -1;
	}
	return 0;
}

/* `timeout` (1 s to a day, default 30) and `max_output` (0 to 16 MiB). */
static int read_numbers(struct exec_state *st, const struct hookd_config *cfg,
                        char *err, size_t errlen)
{
	int64_t v;

	st->timeout_ms = (int64_t)EXEC_DEFAULT_TIMEOUT * 1000;
	if (exec_host->config_int(cfg, "timeout", &v) == 0) {
		if (v <= 0) {
			hkd_set_err(err, errlen, "timeout must be > 0");
			return -1;
		}
		if (v > EXEC_MAX_TIMEOUT) {
			hkd_set_err(err, errlen,
			            "timeout must be at most %d seconds",
			            EXEC_MAX_TIMEOUT);
			return -1;
		}
		st->timeout_ms = v * 1000;
	}
	st->max_output = EXEC_DEFAULT_MAX_OUTPUT;
	if (exec_host->config_int(cfg, "max_output", &v) == 0) {
		if (v < 0) {
			hkd_set_err(err, errlen, "max_output must be >= 0");
			return -1;
		}
		if (v > EXEC_MAX_MAX_OUTPUT) {
			hkd_set_err(err, errlen,
			            "max_output must be at most %d bytes",
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
	int i;
	size_t r;

	if (hkd_conf_group(exec_host, cfg, "env", &st->env, &st->nenv, err,
	                   errlen) < 0)
		return -1;
	for (i = 0; i < st->nenv; i++) {
		const char *name = st->env[i].name;

		if (!valid_env_name(name)) {
			hkd_set_err(err, errlen,
			            "env: '%s' is not a valid variable name "
			            "([A-Za-z_][A-Za-z0-9_]*)",
			            name);
			return -1;
		}
		for (r = 0; r < sizeof(reserved_env) / sizeof(reserved_env[0]);
		     r++) {
			if (strcmp(name, reserved_env[r]) == 0) {
				hkd_set_err(
				    err, errlen,
				    "env: %s is set by hookd and cannot be "
				    "overridden",
				    name);
				return -1;
			}
		}
		if (hkd_check_template(exec_host, st->env[i].value, err, errlen,
		                       "env: %s", name) < 0)
			return -1;
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
			hkd_set_err(err, errlen, "user '%s': out of memory",
			            name);
			goto out;
		}
		buf = nb;
		rc = getpwnam_r(name, &pw, buf, len, &res);
		if (rc != ERANGE || len >= 1024 * 1024)
			break;
		len *= 2;
	}
	if (rc != 0)
		hkd_set_err(err, errlen, "user '%s': %s", name,
		            hkd_errtext(rc));
	else if (!res)
		hkd_set_err(err, errlen, "user: no such user '%s'", name);
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
			hkd_set_err(err, errlen, "group '%s': out of memory",
			            name);
			goto out;
		}
		buf = nb;
		rc = getgrnam_r(name, &gr, buf, len, &res);
		if (rc != ERANGE || len >= 1024 * 1024)
			break;
		len *= 2;
	}
	if (rc != 0)
		hkd_set_err(err, errlen, "group '%s': %s", name,
		            hkd_errtext(rc));
	else if (!res)
		hkd_set_err(err, errlen, "group: no such group '%s'", name);
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
	const char *user = hkd_conf_string(exec_host, cfg, "user");
	const char *group = hkd_conf_string(exec_host, cfg, "group");
	int n = 32, tries;

	if (!user && !group)
		return 0;
	if (geteuid() != 0) {
		hkd_set_err(
		    err, errlen,
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
			hkd_set_err(err, errlen, "out of memory");
			return -1;
		}
		st->groups[0] = st->gid;
		st->ngroups = 1;
		return 0;
	}
	for (tries = 0; tries < 8; tries++) {
		gid_t *g = realloc(st->groups, (size_t)n * sizeof(*g));

		if (!g) {
			hkd_set_err(err, errlen, "out of memory");
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
	hkd_set_err(err, errlen, "user '%s': cannot list its groups", user);
	return -1;
}

/*
 * Make an instance from the handler's settings. `instance` and `cfg` are
 * borrowed; cfg (and the strings read from it) must stay valid until
 * exec_destroy(). Every setting is checked here, so dispatch() only fails
 * on things that can change per event or over time.
 */
int exec_create(const char *instance, const struct hookd_config *cfg,
                void **state, char *err, size_t errlen)
{
	struct exec_state *st = calloc(1, sizeof(*st));

	if (!st) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	st->instance = strdup(instance ? instance : "exec");
	if (!st->instance) {
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (read_command(st, cfg, err, errlen) < 0 ||
	    read_numbers(st, cfg, err, errlen) < 0)
		goto fail;
	st->cwd = hkd_conf_string(exec_host, cfg, "cwd");
	if (st->cwd && st->cwd[0] != '/') {
		hkd_set_err(err, errlen, "cwd '%s' must be an absolute path",
		            st->cwd);
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
