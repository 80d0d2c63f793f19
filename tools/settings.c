/*
 * hookctl's settings: where hookd is, the API key, the time limit.
 *
 * Each comes from the first of: the command-line flag, the environment
 * (HOOKD_URL, HOOKD_API_KEY), the configuration file, the default. The
 * file is a few `key = value` lines; `#` starts a comment line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

/* What the configuration file said (members NULL when it did not). */
struct file_settings {
	char *url;
	char *api_key;
};

/* s without leading and trailing white space, in place. */
static char *trim(char *s)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Read `key = value` lines from f (named path in messages) into fs. A
 * value may be quoted with " or ' (the quotes are dropped). Messages never
 * repeat a line: it may hold the key. 0, or -1 after reporting.
 */
static int parse_file(FILE *f, const char *path, struct file_settings *fs)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = -1;

	while (getline(&line, &cap, f) >= 0) {
		char *key, *value, *eq, **slot;
		size_t n;
		lineno++;
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			ctl_err("%s:%u: expected 'key = value'", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		n = strlen(value);
		if (n >= 2 && (value[0] == '"' || value[0] == '\'') &&
		    value[n - 1] == value[0]) {
			value[n - 1] = '\0';
			value++;
		}
		if (strcmp(key, "url") == 0)
			slot = &fs->url;
		else if (strcmp(key, "api_key") == 0)
			slot = &fs->api_key;
		else {
			ctl_err(
			    "%s:%u: unknown key (the keys are url and api_key)",
			    path, lineno);
			goto out;
		}
		free(*slot);
		*slot = strdup(value);
		if (!*slot) {
			ctl_err("out of memory");
			goto out;
		}
	}
	if (ferror(f)) {
		ctl_err("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	return rc;
}

/*
 * The default file: $XDG_CONFIG_HOME/hookctl/config, else
 * ~/.config/hookctl/config. NULL when neither variable helps (or out of
 * memory); caller frees.
 */
static char *default_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;
	/* The XDG specification ignores a relative XDG_CONFIG_HOME. */
	if (xdg && xdg[0] == '/') {
		if (asprintf(&path, "%s/hookctl/config", xdg) < 0)
			path = NULL;
	} else if (home && home[0]) {
		if (asprintf(&path, "%s/.config/hookctl/config", home) < 0)
			path = NULL;
	}
	return path;
}

/*
 * Read the configuration file: `explicit_path` (which must exist) or the
 * default one (which may be missing). 0, or -1 after reporting.
 */
static int read_file(const char *explicit_path, struct file_settings *fs)
{
	char *path = explicit_path ? strdup(explicit_path) : default_path();
	FILE *f;
	int rc = -1;

	if (!path) {
		/* No HOME: there is no default file to miss. */
		if (explicit_path)
			ctl_err("out of memory");
		return explicit_path ? -1 : 0;
	}
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !explicit_path)
			rc = 0;
		else
			ctl_err("cannot open configuration file %s: %s", path,
			        strerror(errno));
		goto out;
	}
	rc = parse_file(f, path, fs);
	fclose(f);
out:
	free(path);
	return rc;
}

/* The first of a, b, c that is set and not empty (or NULL). */
static const char *first_set(const char *a, const char *b, const char *c)
{
	if (a && *a)
		return a;
	if (b && *b)
		return b;
	return c && *c ? c : NULL;
}

/* 1 when s holds a control character (it would break the HTTP header). */
static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int ctl_settings_resolve(const struct ctl_flags *f, struct ctl_settings *s)
{
	struct file_settings fs = {NULL, NULL};
	const char *url, *key;
	size_t n;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->json = f->json;
	s->timeout = f->timeout >= 0 ? f->timeout : CTL_DEFAULT_TIMEOUT;
	if (read_file(f->config, &fs) != 0)
		goto out;
	url = first_set(f->url, getenv("HOOKD_URL"), fs.url);
	key = first_set(f->api_key, getenv("HOOKD_API_KEY"), fs.api_key);
	if (!url)
		url = CTL_DEFAULT_URL;
	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		ctl_err(
		    "the URL must start with http:// or https:// (got '%s')",
		    url);
		goto out;
	}
	if (has_control(url) || strpbrk(url, "?#")) {
		ctl_err("the URL must be hookd's address, without a query");
		goto out;
	}
	if (key && has_control(key)) {
		ctl_err("the API key holds a control character");
		goto out;
	}
	s->url = strdup(url);
	s->api_key = key ? strdup(key) : NULL;
	if (!s->url || (key && !s->api_key)) {
		ctl_err("out of memory");
		goto out;
	}
	n = strlen(s->url);
	while (n > 0 && s->url[n - 1] == '/')
		s->url[--n] = '\0';
	rc = 0;
out:
	free(fs.url);
	free(fs.api_key);
	return rc;
}

void ctl_settings_release(struct ctl_settings *s)
{
	free(s->url);
	free(s->api_key);
	s->url = NULL;
	s->api_key = NULL;
}
