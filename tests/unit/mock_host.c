/*
 * The unit tests' host (see mock_host.h): configurations built by the
 * test, log lines kept in memory, templates through core/template.c.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "mock_host.h"
#include "template.h"

/* ---- configuration ---------------------------------------------------- */

void mock_config_clear(struct hookd_config *c)
{
	memset(c, 0, sizeof(*c));
}

static const struct mock_key *find_key(const struct hookd_config *c,
                                       const char *name)
{
	if (!c || !name)
		return NULL;
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return &c->keys[i];
	return NULL;
}

/* A copy of s in c's text. */
static const char *keep(struct hookd_config *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	ck_assert_msg(n <= sizeof(c->text) - c->text_len,
	              "mock config: over %d bytes of text", MOCK_CONFIG_TEXT);
	p = memcpy(c->text + c->text_len, s, n);
	c->text_len += n;
	return p;
}

static struct mock_key *add_key(struct hookd_config *c, const char *name,
                                enum hookd_key_type type)
{
	struct mock_key *k;

	ck_assert_msg(find_key(c, name) == NULL, "mock config: %s set twice",
	              name);
	ck_assert_msg(c->n < MOCK_CONFIG_KEYS, "mock config: over %d keys",
	              MOCK_CONFIG_KEYS);
	k = &c->keys[c->n++];
	memset(k, 0, sizeof(*k));
	k->name = keep(c, name);
	k->type = type;
	return k;
}

static void add_item(struct hookd_config *c, struct mock_key *k,
                     const char *name, const char *value)
{
	ck_assert_msg(k->n < MOCK_CONFIG_ITEMS,
	              "mock config: %s: over %d items", k->name,
	              MOCK_CONFIG_ITEMS);
	k->names[k->n] = name ? keep(c, name) : NULL;
	k->items[k->n++] = keep(c, value);
}

void mock_config_string(struct hookd_config *c, const char *key,
                        const char *value)
{
	struct mock_key *k = add_key(c, key, HOOKD_KEY_STRING);

	k->str = keep(c, value);
}

void mock_config_int(struct hookd_config *c, const char *key, int64_t value)
{
	add_key(c, key, HOOKD_KEY_INT)->num = value;
}

void mock_config_bool(struct hookd_config *c, const char *key, int value)
{
	add_key(c, key, HOOKD_KEY_BOOL)->num = value != 0;
}

/* Set key to a list (the strings of ap) or a group (name, value pairs),
 * up to a NULL. */
static void add_items(struct hookd_config *c, const char *key,
                      enum hookd_key_type type, va_list ap)
{
	struct mock_key *k = add_key(c, key, type);
	const char *s;

	while ((s = va_arg(ap, const char *)) != NULL) {
		if (type == HOOKD_KEY_GROUP)
			add_item(c, k, s, va_arg(ap, const char *));
		else
			add_item(c, k, NULL, s);
	}
}

void mock_config_list(struct hookd_config *c, const char *key, ...)
{
	va_list ap;

	va_start(ap, key);
	add_items(c, key, HOOKD_KEY_LIST, ap);
	va_end(ap);
}

void mock_config_group(struct hookd_config *c, const char *key, ...)
{
	va_list ap;

	va_start(ap, key);
	add_items(c, key, HOOKD_KEY_GROUP, ap);
	va_end(ap);
}

static int config_string(const struct hookd_config *c, const char *key,
                         const char **out)
{
	const struct mock_key *k = find_key(c, key);

	if (!k || k->type != HOOKD_KEY_STRING)
		return -1;
	*out = k->str;
	return 0;
}

static int config_int(const struct hookd_config *c, const char *key,
                      int64_t *out)
{
	const struct mock_key *k = find_key(c, key);

	if (!k || k->type != HOOKD_KEY_INT)
		return -1;
	*out = k->num;
	return 0;
}

static int config_bool(const struct hookd_config *c, const char *key, int *out)
{
	const struct mock_key *k = find_key(c, key);

	if (!k || k->type != HOOKD_KEY_BOOL)
		return -1;
	*out = (int)k->num;
	return 0;
}

static int config_count(const struct hookd_config *c, const char *key)
{
	const struct mock_key *k = find_key(c, key);

	if (!k)
		return -1;
	if (k->type == HOOKD_KEY_STRING)
		return 1; /* a lone string is a one-element list */
	if (k->type != HOOKD_KEY_LIST && k->type != HOOKD_KEY_GROUP)
		return -1;
	return k->n;
}

static int config_item(const struct hookd_config *c, const char *key, int index,
                       const char **name_out, const char **out)
{
	const struct mock_key *k = find_key(c, key);

	if (!k || index < 0)
		return -1;
	if (k->type == HOOKD_KEY_STRING) {
		if (index != 0)
			return -1;
		if (name_out)
			*name_out = NULL;
		*out = k->str;
		return 0;
	}
	if ((k->type != HOOKD_KEY_LIST && k->type != HOOKD_KEY_GROUP) ||
	    index >= k->n)
		return -1;
	if (name_out)
		*name_out = k->type == HOOKD_KEY_GROUP ? k->names[index] : NULL;
	*out = k->items[index];
	return 0;
}

/* ---- log -------------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536]; /* every line, newline-separated */
static size_t log_len;

static void host_log(const char *instance, enum hookd_log_level level,
                     const char *fmt, ...) HOOKD_PRINTF(3, 4);

static void host_log(const char *instance, enum hookd_log_level level,
                     const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (getenv("HOOKD_TEST_VERBOSE"))
		fprintf(stderr, "[%s] %d %s\n", instance ? instance : "-",
		        (int)level, line);
	pthread_mutex_lock(&log_lock);
	log_len +=
	    (size_t)snprintf(log_text + log_len, sizeof(log_text) - log_len,
	                     "%d %s\n", (int)level, line);
	if (log_len >= sizeof(log_text))
		log_len = sizeof(log_text) - 1;
	pthread_mutex_unlock(&log_lock);
}

const char *mock_log_text(void)
{
	return log_text;
}

void mock_log_clear(void)
{
	pthread_mutex_lock(&log_lock);
	log_len = 0;
	log_text[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

/* ---- templates -------------------------------------------------------- */

/* Render as the real host does: parse the envelope, expand against it. */
static char *host_render(const char *tmpl, const struct hookd_event *ev,
                         enum hookd_render_mode mode, char *err, size_t errlen)
{
	struct hkd_template_vars vars = {ev->attempt, ev->target};
	json_error_t jerr;
	json_t *env = json_loadb(ev->json, ev->json_len, 0, &jerr);
	char *s;

	if (!env) {
		if (err && errlen)
			snprintf(err, errlen, "event json: %s", jerr.text);
		return NULL;
	}
	s = hkd_template_render(tmpl, env, &vars, mode, err, errlen);
	json_decref(env);
	return s;
}

static int host_check_template(const char *tmpl, char *err, size_t errlen)
{
	return hkd_template_check(tmpl, err, errlen);
}

/* ---- the table -------------------------------------------------------- */

static struct hookd_host host_table = {
    .struct_size = sizeof(struct hookd_host),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .version = "test",
    .log = host_log,
    .config_string = config_string,
    .config_int = config_int,
    .config_bool = config_bool,
    .config_count = config_count,
    .config_item = config_item,
    .render = host_render,
    .check_template = host_check_template,
    .free = free,
};

const struct hookd_host *mock_host(void)
{
	return &host_table;
}

void mock_host_on_complete(mock_complete_fn *fn)
{
	host_table.complete = fn;
}
