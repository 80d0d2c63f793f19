/*
 * hookd.conf reader. libconfig does the syntax; this file does the
 * meaning: known keys only, types, ranges, references between sections.
 * Every problem is recorded (not just the first) so `hookd --check-config`
 * can list them all at once.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "config.h"
#include "config_load.h"
#include "envelope.h"
#include "glob.h"
#include "jsonptr.h"
#include "seal.h"
#include "store.h"
#include "ssrf.h"
#include "util.h"

const int64_t hkd_default_retry_ms[] = {
    5000,     300000,   1800000,  7200000,  18000000,
    36000000, 50400000, 72000000, 86400000,
};
const size_t hkd_default_retry_len = HKD_ARRAY_LEN(hkd_default_retry_ms);

/* The longest retry delay accepted: a week. */
#define RETRY_MAX_MS (7LL * 24 * 3600 * 1000)
/* The largest PEM file (certificate chain or key) server.tls_* may name. */
#define PEM_MAX (1024 * 1024)

/*
 * The keys each part of hookd.conf accepts. The loaders below check every
 * group against these very arrays, and hkd_config_sections publishes them,
 * so the manual page's test and the parser cannot drift apart. Adding a key
 * means adding it here, reading it in its load_* function and documenting it
 * in docs/man/hookd.conf.5 and docs/configuration.md.
 */
static const char *const top_keys[] = {
    "server",     "storage",          "plugin_dir",  "workers",
    "queue_size", "shutdown_timeout", "event_types", "handlers",
    "routes",     "subscriptions",    "sources",     NULL};
static const char *const server_keys[] = {"listen",
                                          "threads",
                                          "max_body",
                                          "api_keys",
                                          "connection_timeout",
                                          "max_connections",
                                          "max_connections_per_ip",
                                          "tls_cert",
                                          "tls_key",
                                          "allow_open_api",
                                          "allowed_hosts",
                                          "metrics_key",
                                          "request_timeout",
                                          NULL};
static const char *const storage_keys[] = {
    "url",           "synchronous",    "max_size", "keep_succeeded",
    "keep_dead",     "purge_interval", "lease",    "pool_size",
    "poll_interval", "secret_key",     NULL};
static const char *const subscriptions_keys[] = {
    "allow_targets", "concurrency", "disable_after", "secret_grace", "timeout",
    "max",           NULL};
/* Each group in the event_types list. */
static const char *const event_type_keys[] = {"name", "description", "required",
                                              NULL};
/*
 * hookd's own keys in a handler group. Every other member belongs to the
 * plugin and is checked against the keys it declares when the plugin is
 * loaded (hkd_host_config_init, which skips these; test_config checks that
 * it accepts exactly them).
 */
static const char *const handler_keys[] = {"plugin", "concurrency", NULL};
/* Each group in the routes list. */
static const char *const route_keys[] = {"events", "handlers", "retry",
                                         "sources", NULL};

const struct hkd_config_section hkd_config_sections[] = {
    {"top", top_keys},
    {"server", server_keys},
    {"storage", storage_keys},
    {"subscriptions", subscriptions_keys},
    {"sources", hkd_cfg_source_keys},
    {"event_types", event_type_keys},
    {"handlers", handler_keys},
    {"routes", route_keys},
    {NULL, NULL},
};

const char *const *hkd_config_section_keys(const char *name)
{
	static const char *const none[] = {NULL};
	for (const struct hkd_config_section *s = hkd_config_sections; s->name;
	     s++)
		if (strcmp(s->name, name) == 0)
			return s->keys;
	return none;
}

void hkd_diag_init(struct hkd_diag *d)
{
	d->msgs = NULL;
	d->n = 0;
}

void hkd_diag_release(struct hkd_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	hkd_diag_init(d);
}

void hkd_diag_add(struct hkd_diag *d, const char *file,
                  const config_setting_t *s, const char *fmt, ...)
{
	char msg[1024], *line;
	const char *f = file;
	int n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && config_setting_source_file(s))
		f = config_setting_source_file(s);
	if (s && config_setting_source_line(s) > 0)
		n = asprintf(&line, "%s:%u: %s", f ? f : "-",
		             config_setting_source_line(s), msg);
	else
		n = asprintf(&line, "%s: %s", f ? f : "-", msg);
	if (n < 0)
		return;
	char **grown = realloc(d->msgs, (d->n + 1) * sizeof(*grown));
	if (!grown) {
		free(line);
		return;
	}
	d->msgs = grown;
	d->msgs[d->n++] = line;
}

/* Report every member of group `g` whose name is not in `allowed`. */
void hkd_cfg_check_keys(struct loader *ld, const config_setting_t *g,
                        const char *what, const char *const *allowed)
{
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m =
		    config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (name && strcmp(name, *a) == 0)
				ok = 1;
		if (!ok)
			ERR(ld, m, "unknown key '%s' in %s", name ? name : "?",
			    what);
	}
}

static int is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* Integer member `key` of g in [min,max]; absent keeps *out. -1 on error. */
int hkd_cfg_get_int(struct loader *ld, const config_setting_t *g,
                    const char *key, long long min, long long max,
                    long long *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	if (!is_int(s)) {
		ERR(ld, s, "%s must be an integer", key);
		return -1;
	}
	long long v = config_setting_get_int64(s);
	if (v < min || v > max) {
		ERR(ld, s, "%s must be between %lld and %lld (got %lld)", key,
		    min, max, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* String member `key` of g, copied into *out (freeing the old value). */
int hkd_cfg_get_str(struct loader *ld, const config_setting_t *g,
                    const char *key, char **out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		ERR(ld, s, "%s must be a string", key);
		return -1;
	}
	free(*out);
	*out = strdup(config_setting_get_string(s));
	return *out ? 0 : -1;
}

/*
 * A list or array of strings at member `key` of g into a malloc'd vector.
 * Absent: *out stays NULL. Errors name the element.
 */
int hkd_cfg_get_strings(struct loader *ld, const config_setting_t *g,
                        const char *key, char ***out, size_t *n_out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	int t, n;
	*out = NULL;
	*n_out = 0;
	if (!s)
		return 0;
	t = config_setting_type(s);
	if (t == CONFIG_TYPE_STRING) {
		/* A single string is accepted where a list is expected. */
		*out = calloc(1, sizeof(char *));
		if (!*out)
			return -1;
		(*out)[0] = strdup(config_setting_get_string(s));
		*n_out = 1;
		return 0;
	}
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		ERR(ld, s, "%s must be a list of strings", key);
		return -1;
	}
	n = config_setting_length(s);
	*out = calloc((size_t)n + 1, sizeof(char *));
	if (!*out)
		return -1;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			ERR(ld, e, "%s[%d] must be a string", key, i);
			return -1;
		}
		(*out)[(*n_out)++] = strdup(config_setting_get_string(e));
	}
	return 0;
}

void hkd_cfg_free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Boolean member `key` of g into *out; absent keeps *out. -1 on error. */
int hkd_cfg_get_bool(struct loader *ld, const config_setting_t *g,
                     const char *key, int *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		ERR(ld, s, "%s must be true or false", key);
		return -1;
	}
	*out = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

int hkd_listen_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!host)
		return 0; /* every address */
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0; /* a name: it may resolve to anything */
}

/* "host:port", "[v6]:port" or ":port" / "port" (all addresses). */
static int parse_listen(struct loader *ld, const config_setting_t *s,
                        struct hkd_config *c)
{
	const char *v = config_setting_get_string(s);
	const char *colon, *host_start = v, *host_end;
	char *end;
	long port;

	if (v[0] == '[') {
		host_end = strchr(v, ']');
		if (!host_end || host_end[1] != ':')
			goto bad;
		host_start = v + 1;
		colon = host_end + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon) {
			colon = v - 1; /* bare port */
			host_end = v;
		} else {
			host_end = colon;
		}
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || port < 0 || port > 65535)
		goto bad;
	free(c->listen_host);
	free(c->listen_port);
	c->listen_host =
	    host_end > host_start
	        ? strndup(host_start, (size_t)(host_end - host_start))
	        : NULL;
	c->listen_port = strdup(colon + 1);
	return 0;
bad:
	ERR(ld, s,
	    "listen must be \"host:port\", \"[ipv6]:port\" or \":port\" (got "
	    "\"%s\")",
	    v);
	return -1;
}

/* The PEM file named by `key` of g, whole, into *out (at most 1 MiB). */
static void read_pem(struct loader *ld, const config_setting_t *g,
                     const char *key, char **out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!s || hkd_cfg_get_str(ld, g, key, &path) != 0 || !path)
		return;
	f = fopen(path, "re");
	if (!f) {
		ERR(ld, s, "%s: cannot read %s: %s", key, path,
		    strerror(errno));
		free(path);
		return;
	}
	buf = malloc(PEM_MAX + 1);
	if (buf)
		len = fread(buf, 1, PEM_MAX + 1, f);
	fclose(f);
	if (buf && len > 0 && len <= PEM_MAX)
		buf[len] = '\0';
	if (!buf || len == 0 || len > PEM_MAX || !strstr(buf, "-----BEGIN ")) {
		ERR(ld, s,
		    "%s: %s is not a PEM file (empty, over 1 MiB, or no "
		    "-----BEGIN line)",
		    key, path);
		free(buf);
		free(path);
		return;
	}
	*out = buf;
	free(path);
}

/* server.tls_cert and tls_key: both or neither. */
static void load_tls(struct loader *ld, const config_setting_t *g,
                     struct hkd_config *c)
{
	const config_setting_t *cert = config_setting_get_member(g, "tls_cert");
	const config_setting_t *key = config_setting_get_member(g, "tls_key");

	if (!cert != !key) {
		ERR(ld, cert ? cert : key,
		    "tls_cert and tls_key go together: set both or neither");
		return;
	}
	read_pem(ld, g, "tls_cert", &c->tls_cert_pem);
	read_pem(ld, g, "tls_key", &c->tls_key_pem);
}

static void load_server(struct loader *ld, const config_setting_t *g,
                        struct hkd_config *c)
{
	const config_setting_t *s;
	long long v;
	char **keys_raw = NULL;
	size_t n_raw = 0;

	if (!config_setting_is_group(g)) {
		ERR(ld, g, "server must be a group { ... }");
		return;
	}
	hkd_cfg_check_keys(ld, g, "server", server_keys);
	s = config_setting_get_member(g, "listen");
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			ERR(ld, s, "listen must be a string");
		else
			parse_listen(ld, s, c);
	}
	v = c->http_threads;
	if (hkd_cfg_get_int(ld, g, "threads", 1, 256, &v) == 0)
		c->http_threads = (int)v;
	v = (long long)c->max_body;
	if (hkd_cfg_get_int(ld, g, "max_body", 64, 64LL * 1024 * 1024, &v) == 0)
		c->max_body = (size_t)v;
	v = c->connection_timeout;
	if (hkd_cfg_get_int(ld, g, "connection_timeout", 1, 3600, &v) == 0)
		c->connection_timeout = (int)v;
	v = c->request_timeout;
	if (hkd_cfg_get_int(ld, g, "request_timeout", 1, 3600, &v) == 0)
		c->request_timeout = (int)v;
	v = c->max_connections;
	if (hkd_cfg_get_int(ld, g, "max_connections", 1, 1000000, &v) == 0)
		c->max_connections = (int)v;
	v = c->max_connections_per_ip;
	if (hkd_cfg_get_int(ld, g, "max_connections_per_ip", 0, 1000000, &v) ==
	    0)
		c->max_connections_per_ip = (int)v;
	load_tls(ld, g, c);
	if (hkd_cfg_get_strings(ld, g, "api_keys", &keys_raw, &n_raw) == 0 &&
	    keys_raw) {
		s = config_setting_get_member(g, "api_keys");
		c->api_keys = calloc(n_raw + 1, sizeof(char *));
		for (size_t i = 0; c->api_keys && i < n_raw; i++) {
			char err[256];
			char *k =
			    hkd_secret_resolve(keys_raw[i], err, sizeof(err));
			if (!k) {
				ERR(ld, s, "api_keys[%zu]: %s", i, err);
				continue;
			}
			if (strlen(k) < 16) {
				ERR(ld, s,
				    "api_keys[%zu]: an API key must be at "
				    "least 16 characters",
				    i);
				free(k);
				continue;
			}
			c->api_keys[c->n_api_keys++] = k;
		}
	}
	hkd_cfg_free_strings(keys_raw, n_raw);
	hkd_cfg_get_bool(ld, g, "allow_open_api", &c->allow_open_api);
	hkd_cfg_get_strings(ld, g, "allowed_hosts", &c->allowed_hosts,
	                    &c->n_allowed_hosts);
	for (size_t i = 0; i < c->n_allowed_hosts; i++)
		if (!c->allowed_hosts[i] || !c->allowed_hosts[i][0] ||
		    strpbrk(c->allowed_hosts[i], " \t/:@"))
			ERR(ld, config_setting_get_member(g, "allowed_hosts"),
			    "allowed_hosts[%zu]: a host name without port or "
			    "scheme, "
			    "like \"hooks.example.com\"",
			    i);
	if ((s = config_setting_get_member(g, "metrics_key")) &&
	    hkd_cfg_get_str(ld, g, "metrics_key", &c->metrics_key) == 0 &&
	    c->metrics_key) {
		char err[256],
		    *k = hkd_secret_resolve(c->metrics_key, err, sizeof(err));
		free(c->metrics_key);
		c->metrics_key = k;
		if (!k)
			ERR(ld, s, "metrics_key: %s", err);
		else if (strlen(k) < 16)
			ERR(ld, s,
			    "metrics_key must be at least 16 characters");
	}
	/* An API without keys on an address others can reach: only on purpose.
	 */
	if (c->n_api_keys == 0 && !config_setting_get_member(g, "api_keys") &&
	    !c->allow_open_api && !hkd_listen_is_loopback(c->listen_host)) {
		s = config_setting_get_member(g, "listen");
		ERR(ld, s ? s : g,
		    "listen %s%s%s:%s is not a loopback address and api_keys "
		    "is "
		    "empty: /v4 would be open to anyone who can connect; set "
		    "api_keys, or allow_open_api = true to mean it",
		    c->listen_host && strchr(c->listen_host, ':') ? "[" : "",
		    c->listen_host ? c->listen_host : "",
		    c->listen_host && strchr(c->listen_host, ':') ? "]" : "",
		    c->listen_port);
	}
}

static void load_storage(struct loader *ld, const config_setting_t *g,
                         struct hkd_config *c)
{
	const config_setting_t *s;
	long long v;
	char err[256];
	if (!config_setting_is_group(g)) {
		ERR(ld, g, "storage must be a group { url = \"...\"; }");
		return;
	}
	hkd_cfg_check_keys(ld, g, "storage", storage_keys);
	hkd_cfg_get_str(ld, g, "url", &c->storage_url);
	s = config_setting_get_member(g, "url");
	if (s && c->storage_url &&
	    hkd_store_url_check(c->storage_url, err, sizeof(err)) != 0)
		ERR(ld, s, "%s", err);
	hkd_cfg_get_str(ld, g, "synchronous", &c->storage_synchronous);
	if ((s = config_setting_get_member(g, "secret_key")) &&
	    hkd_cfg_get_str(ld, g, "secret_key", &c->storage_secret_key) == 0 &&
	    c->storage_secret_key) {
		unsigned char key[HKD_SEAL_KEY_LEN];
		char *k =
		    hkd_secret_resolve(c->storage_secret_key, err, sizeof(err));
		free(c->storage_secret_key);
		c->storage_secret_key = k;
		if (!k)
			ERR(ld, s, "secret_key: %s", err);
		else if (hkd_seal_key_parse(k, key, err, sizeof(err)) != 0)
			ERR(ld, s, "secret_key: %s", err);
		OPENSSL_cleanse(key, sizeof(key));
	}
	s = config_setting_get_member(g, "synchronous");
	if (s && c->storage_synchronous &&
	    strcmp(c->storage_synchronous, "full") != 0 &&
	    strcmp(c->storage_synchronous, "normal") != 0 &&
	    strcmp(c->storage_synchronous, "off") != 0)
		ERR(ld, s,
		    "synchronous must be \"full\", \"normal\" or \"off\"");
	v = c->storage_max_size;
	if (hkd_cfg_get_int(ld, g, "max_size", 0, 1LL << 50, &v) == 0)
		c->storage_max_size = v;
	v = c->keep_succeeded;
	if (hkd_cfg_get_int(ld, g, "keep_succeeded", 0, 10LL * 365 * 86400,
	                    &v) == 0)
		c->keep_succeeded = v;
	v = c->keep_dead;
	if (hkd_cfg_get_int(ld, g, "keep_dead", 0, 10LL * 365 * 86400, &v) == 0)
		c->keep_dead = v;
	v = c->purge_interval;
	if (hkd_cfg_get_int(ld, g, "purge_interval", 1, 86400, &v) == 0)
		c->purge_interval = v;
	v = c->storage_lease;
	if (hkd_cfg_get_int(ld, g, "lease", 1, 3600, &v) == 0)
		c->storage_lease = v;
	v = c->storage_pool_size;
	if (hkd_cfg_get_int(ld, g, "pool_size", 1, 64, &v) == 0)
		c->storage_pool_size = (int)v;
	v = c->storage_poll_interval;
	if (hkd_cfg_get_int(ld, g, "poll_interval", 1, 3600, &v) == 0)
		c->storage_poll_interval = v;
	/* Every node seals subscription secrets with one key: it is given. */
	if (c->storage_url && !config_setting_get_member(g, "secret_key") &&
	    (strncmp(c->storage_url, "postgresql://", 13) == 0 ||
	     strncmp(c->storage_url, "postgres://", 11) == 0))
		ERR(ld, config_setting_get_member(g, "url"),
		    "a PostgreSQL store needs storage.secret_key (the same on "
		    "every "
		    "node; it seals subscription secrets): openssl rand -hex "
		    "32");
}

static void load_subscriptions(struct loader *ld, const config_setting_t *g,
                               struct hkd_config *c)
{
	long long v;
	if (!config_setting_is_group(g)) {
		ERR(ld, g, "subscriptions must be a group { ... }");
		return;
	}
	hkd_cfg_check_keys(ld, g, "subscriptions", subscriptions_keys);
	hkd_cfg_get_strings(ld, g, "allow_targets", &c->sub_allow,
	                    &c->n_sub_allow);
	for (size_t i = 0; i < c->n_sub_allow; i++) {
		struct hkd_cidr cidr;
		char err[128];
		if (hkd_cidr_parse(c->sub_allow[i], &cidr, err, sizeof(err)) !=
		    0)
			ERR(ld, config_setting_get_member(g, "allow_targets"),
			    "allow_targets[%zu] \"%s\": %s", i, c->sub_allow[i],
			    err);
	}
	v = c->sub_concurrency;
	if (hkd_cfg_get_int(ld, g, "concurrency", 1, 1000, &v) == 0)
		c->sub_concurrency = (int)v;
	v = c->sub_disable_after;
	if (hkd_cfg_get_int(ld, g, "disable_after", 1, 365LL * 86400, &v) == 0)
		c->sub_disable_after = v;
	v = c->sub_secret_grace;
	if (hkd_cfg_get_int(ld, g, "secret_grace", 0, 30LL * 86400, &v) == 0)
		c->sub_secret_grace = v;
	v = c->sub_max;
	if (hkd_cfg_get_int(ld, g, "max", 1, 1000000, &v) == 0)
		c->sub_max = (int)v;
	v = c->sub_timeout;
	if (hkd_cfg_get_int(ld, g, "timeout", 1, 300, &v) == 0)
		c->sub_timeout = (int)v;
}

static void load_types(struct loader *ld, const config_setting_t *list,
                       struct hkd_config *c)
{
	int n;
	if (!config_setting_is_list(list)) {
		ERR(ld, list,
		    "event_types must be a list ( { name = \"...\"; }, ... )");
		return;
	}
	n = config_setting_length(list);
	c->types = calloc((size_t)n + 1, sizeof(*c->types));
	if (!c->types)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g =
		    config_setting_get_elem(list, (unsigned)i);
		struct hkd_event_type *t = &c->types[c->n_types];
		if (!config_setting_is_group(g)) {
			ERR(ld, g,
			    "event_types[%d] must be a group { name = ...; }",
			    i);
			continue;
		}
		hkd_cfg_check_keys(ld, g, "an event type", event_type_keys);
		hkd_cfg_get_str(ld, g, "name", &t->name);
		hkd_cfg_get_str(ld, g, "description", &t->description);
		hkd_cfg_get_strings(ld, g, "required", &t->required,
		                    &t->n_required);
		c->n_types++;
		if (!t->name) {
			ERR(ld, g, "event_types[%d] has no name", i);
			continue;
		}
		if (!hkd_event_type_valid(t->name))
			ERR(ld, config_setting_get_member(g, "name"),
			    "event type name \"%s\" must be 1-%d characters of "
			    "[A-Za-z0-9_.:-]",
			    t->name, HKD_TYPE_MAX);
		for (size_t j = 0; j + 1 < c->n_types; j++)
			if (c->types[j].name &&
			    strcmp(c->types[j].name, t->name) == 0)
				ERR(ld, g, "event type \"%s\" is defined twice",
				    t->name);
		for (size_t j = 0; j < t->n_required; j++)
			if (hkd_json_pointer_check(t->required[j]) != 0 ||
			    t->required[j][0] == '\0')
				ERR(ld,
				    config_setting_get_member(g, "required"),
				    "required: \"%s\" is not a JSON pointer "
				    "such as \"/data/id\"",
				    t->required[j]);
		if (!t->description)
			t->description = strdup("");
	}
}

static void load_handlers(struct loader *ld, const config_setting_t *g,
                          struct hkd_config *c)
{
	int n;
	if (!config_setting_is_group(g)) {
		ERR(ld, g,
		    "handlers must be a group { name = { plugin = \"...\"; }; "
		    "}");
		return;
	}
	n = config_setting_length(g);
	c->handlers = calloc((size_t)n + 1, sizeof(*c->handlers));
	if (!c->handlers)
		return;
	for (int i = 0; i < n; i++) {
		config_setting_t *h = config_setting_get_elem(g, (unsigned)i);
		struct hkd_handler_conf *hc = &c->handlers[c->n_handlers++];
		long long conc = 0;
		hc->name = strdup(config_setting_name(h));
		hc->setting = h;
		if (strncmp(hc->name, "sub_", 4) == 0)
			ERR(ld, h,
			    "handler name '%s': names starting with sub_ are "
			    "kept for subscriptions",
			    hc->name);
		if (!config_setting_is_group(h)) {
			ERR(ld, h,
			    "handler '%s' must be a group { plugin = \"...\"; "
			    "}",
			    hc->name);
			continue;
		}
		hkd_cfg_get_str(ld, h, "plugin", &hc->plugin);
		if (!hc->plugin)
			ERR(ld, h, "handler '%s' has no plugin", hc->name);
		if (hkd_cfg_get_int(ld, h, "concurrency", 1, 10000, &conc) == 0)
			hc->concurrency = (int)conc;
		/* Other keys belong to the plugin: checked when it is loaded.
		 */
	}
}

static const struct hkd_handler_conf *find_handler(const struct hkd_config *c,
                                                   const char *name)
{
	for (size_t i = 0; i < c->n_handlers; i++)
		if (strcmp(c->handlers[i].name, name) == 0)
			return &c->handlers[i];
	return NULL;
}

static void load_retry(struct loader *ld, const config_setting_t *s,
                       struct hkd_route_conf *r)
{
	int n;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		ERR(ld, s,
		    "retry must be a list of delays in seconds, e.g. [5, 300, "
		    "1800]");
		return;
	}
	n = config_setting_length(s);
	r->retry_ms = calloc((size_t)n + 1, sizeof(int64_t));
	if (!r->retry_ms)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(s, (unsigned)i);
		double secs;
		if (is_int(e))
			secs = (double)config_setting_get_int64(e);
		else if (config_setting_type(e) == CONFIG_TYPE_FLOAT)
			secs = config_setting_get_float(e);
		else {
			ERR(ld, e, "retry[%d] must be a number of seconds", i);
			continue;
		}
		if (secs < 0 || secs * 1000 > (double)RETRY_MAX_MS) {
			ERR(ld, e,
			    "retry[%d] must be between 0 and 604800 seconds",
			    i);
			continue;
		}
		r->retry_ms[r->n_retry++] = (int64_t)(secs * 1000 + 0.5);
	}
}

static void load_routes(struct loader *ld, const config_setting_t *list,
                        struct hkd_config *c)
{
	int n;
	if (!config_setting_is_list(list)) {
		ERR(ld, list,
		    "routes must be a list ( { events = [...]; handlers = "
		    "[...]; }, ... )");
		return;
	}
	n = config_setting_length(list);
	c->routes = calloc((size_t)n + 1, sizeof(*c->routes));
	if (!c->routes)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g =
		    config_setting_get_elem(list, (unsigned)i);
		struct hkd_route_conf *r = &c->routes[c->n_routes];
		const config_setting_t *s;
		char err[256];
		if (!config_setting_is_group(g)) {
			ERR(ld, g,
			    "routes[%d] must be a group { events = ...; "
			    "handlers = ...; }",
			    i);
			continue;
		}
		c->n_routes++;
		r->line = (int)config_setting_source_line(g);
		hkd_cfg_check_keys(ld, g, "a route", route_keys);
		hkd_cfg_get_strings(ld, g, "events", &r->events, &r->n_events);
		hkd_cfg_get_strings(ld, g, "handlers", &r->handlers,
		                    &r->n_handlers);
		if (r->n_events == 0)
			ERR(ld, g, "routes[%d] needs events = [\"glob\", ...]",
			    i);
		if (r->n_handlers == 0)
			ERR(ld, g,
			    "routes[%d] needs handlers = [\"name\", ...]", i);
		s = config_setting_get_member(g, "events");
		for (size_t j = 0; j < r->n_events; j++)
			if (hkd_glob_check(r->events[j], err, sizeof(err)) != 0)
				ERR(ld, s, "bad event glob \"%s\": %s",
				    r->events[j], err);
		s = config_setting_get_member(g, "handlers");
		for (size_t j = 0; j < r->n_handlers; j++)
			if (!find_handler(c, r->handlers[j]))
				ERR(ld, s,
				    "unknown handler '%s' (not defined in "
				    "handlers)",
				    r->handlers[j]);
		s = config_setting_get_member(g, "retry");
		if (s)
			load_retry(ld, s, r);
		hkd_cfg_get_strings(ld, g, "sources", &r->sources,
		                    &r->n_sources);
		s = config_setting_get_member(g, "sources");
		for (size_t j = 0; j < r->n_sources; j++)
			if (strcmp(r->sources[j], "api") != 0 &&
			    strcmp(r->sources[j], "hookd") != 0 &&
			    !hkd_config_source(c, r->sources[j]))
				ERR(ld, s,
				    "unknown source '%s' (not defined in "
				    "sources; \"api\" and \"hookd\" are built "
				    "in)",
				    r->sources[j]);
	}
}

static void set_defaults(struct hkd_config *c)
{
	c->listen_host = strdup("127.0.0.1");
	c->listen_port = strdup("8080");
	c->http_threads = 32;
	c->max_body = 1024 * 1024;
	c->connection_timeout = 30;
	c->max_connections = 1024;
	c->request_timeout = 30;
	c->max_connections_per_ip = 64;
	c->storage_url = strdup(HKD_DEFAULT_STORAGE);
	c->storage_synchronous = strdup("full");
	c->keep_succeeded = 7 * 86400;
	c->keep_dead = 30 * 86400;
	c->purge_interval = 60;
	c->storage_lease = 30;
	c->storage_pool_size = 4;
	c->storage_poll_interval = 2;
	c->sub_concurrency = 64;
	c->sub_disable_after = 5 * 86400;
	c->sub_secret_grace = 86400;
	c->sub_timeout = 15;
	c->sub_max = 100000;
	c->plugin_dir = strdup(HKD_PLUGIN_DIR);
	c->workers = 16;
	c->queue_size = 10000;
	c->shutdown_timeout = 10;
}

static void load_top(struct loader *ld, struct hkd_config *c)
{
	const config_setting_t *root = config_root_setting(&c->lc);
	const config_setting_t *s;
	long long v;

	hkd_cfg_check_keys(ld, root, "the top level", top_keys);
	if ((s = config_setting_get_member(root, "server")))
		load_server(ld, s, c);
	if ((s = config_setting_get_member(root, "storage")))
		load_storage(ld, s, c);
	hkd_cfg_get_str(ld, root, "plugin_dir", &c->plugin_dir);
	v = c->workers;
	if (hkd_cfg_get_int(ld, root, "workers", 1, 1024, &v) == 0)
		c->workers = (int)v;
	v = (long long)c->queue_size;
	if (hkd_cfg_get_int(ld, root, "queue_size", 1, 100000000, &v) == 0)
		c->queue_size = (size_t)v;
	v = c->shutdown_timeout;
	if (hkd_cfg_get_int(ld, root, "shutdown_timeout", 0, 3600, &v) == 0)
		c->shutdown_timeout = (int)v;
	if ((s = config_setting_get_member(root, "subscriptions")))
		load_subscriptions(ld, s, c);
	/* Sources before routes: routes may name them. */
	if ((s = config_setting_get_member(root, "sources")))
		hkd_cfg_load_sources(ld, s, c);
	if ((s = config_setting_get_member(root, "event_types")))
		load_types(ld, s, c);
	/* Handlers before routes: routes refer to them by name. */
	if ((s = config_setting_get_member(root, "handlers")))
		load_handlers(ld, s, c);
	if ((s = config_setting_get_member(root, "routes")))
		load_routes(ld, s, c);
}

struct hkd_config *hkd_config_load(const char *path,
                                   const char *plugin_dir_override,
                                   struct hkd_diag *d)
{
	size_t before = d->n;
	struct hkd_config *c = hkd_config_read(path, plugin_dir_override, d);
	if (c && d->n > before) {
		hkd_config_free(c);
		c = NULL;
	}
	return c;
}

struct hkd_config *hkd_config_read(const char *path,
                                   const char *plugin_dir_override,
                                   struct hkd_diag *d)
{
	struct loader ld = {path, d};
	struct hkd_config *c = calloc(1, sizeof(*c));
	char *dir, *slash;

	if (!c) {
		hkd_diag_add(d, path, NULL, "out of memory");
		return NULL;
	}
	config_init(&c->lc);
	c->path = strdup(path);
	set_defaults(c);
	/* @include paths are relative to the config file's folder. */
	dir = strdup(path);
	if (dir && (slash = strrchr(dir, '/'))) {
		*slash = '\0';
		config_set_include_dir(&c->lc, dir[0] ? dir : "/");
	}
	free(dir);
	if (config_read_file(&c->lc, path) != CONFIG_TRUE) {
		if (config_error_type(&c->lc) == CONFIG_ERR_FILE_IO)
			hkd_diag_add(d, path, NULL, "cannot read the file: %s",
			             config_error_text(&c->lc));
		else {
			char *line = NULL;
			if (asprintf(&line, "%s:%d: %s",
			             config_error_file(&c->lc)
			                 ? config_error_file(&c->lc)
			                 : path,
			             config_error_line(&c->lc),
			             config_error_text(&c->lc)) >= 0) {
				char **grown = realloc(
				    d->msgs, (d->n + 1) * sizeof(*grown));
				if (grown) {
					d->msgs = grown;
					d->msgs[d->n++] = line;
				} else
					free(line);
			}
		}
		goto fail;
	}
	load_top(&ld, c);
	if (plugin_dir_override) {
		free(c->plugin_dir);
		c->plugin_dir = strdup(plugin_dir_override);
	}
	return c;
fail:
	hkd_config_free(c);
	return NULL;
}

void hkd_config_free(struct hkd_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_types; i++) {
		free(c->types[i].name);
		free(c->types[i].description);
		hkd_cfg_free_strings(c->types[i].required,
		                     c->types[i].n_required);
	}
	free(c->types);
	for (size_t i = 0; i < c->n_handlers; i++) {
		free(c->handlers[i].name);
		free(c->handlers[i].plugin);
	}
	free(c->handlers);
	for (size_t i = 0; i < c->n_routes; i++) {
		hkd_cfg_free_strings(c->routes[i].events,
		                     c->routes[i].n_events);
		hkd_cfg_free_strings(c->routes[i].handlers,
		                     c->routes[i].n_handlers);
		hkd_cfg_free_strings(c->routes[i].sources,
		                     c->routes[i].n_sources);
		free(c->routes[i].retry_ms);
	}
	free(c->routes);
	for (size_t i = 0; i < c->n_api_keys; i++)
		free(c->api_keys[i]);
	free(c->api_keys);
	hkd_cfg_free_strings(c->allowed_hosts, c->n_allowed_hosts);
	if (c->metrics_key) {
		explicit_bzero(c->metrics_key, strlen(c->metrics_key));
		free(c->metrics_key);
	}
	free(c->listen_host);
	free(c->listen_port);
	free(c->tls_cert_pem);
	if (c->tls_key_pem) {
		explicit_bzero(c->tls_key_pem, strlen(c->tls_key_pem));
		free(c->tls_key_pem);
	}
	free(c->storage_url);
	if (c->storage_secret_key) {
		OPENSSL_cleanse(c->storage_secret_key,
		                strlen(c->storage_secret_key));
		free(c->storage_secret_key);
	}
	hkd_cfg_free_strings(c->sub_allow, c->n_sub_allow);
	hkd_cfg_free_sources(c);
	free(c->storage_synchronous);
	free(c->plugin_dir);
	free(c->path);
	config_destroy(&c->lc);
	free(c);
}

const struct hkd_event_type *hkd_config_type(const struct hkd_config *c,
                                             const char *name)
{
	for (size_t i = 0; i < c->n_types; i++)
		if (c->types[i].name && strcmp(c->types[i].name, name) == 0)
			return &c->types[i];
	return NULL;
}
