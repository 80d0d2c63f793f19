/*
 * hookd.conf: read with libconfig into plain structs, every problem
 * collected as "file:line: message" (all of them, not just the first).
 * Thread: main thread only; a loaded hkd_config is read-only afterwards.
 */
#ifndef HKD_CONFIG_H
#define HKD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <libconfig.h>

/* A list of diagnostics, each "file:line: message". */
struct hkd_diag {
	char **msgs;
	size_t n;
};

void hkd_diag_init(struct hkd_diag *d);
void hkd_diag_release(struct hkd_diag *d);
/* Add a message about setting s (NULL: about the file as a whole). */
void hkd_diag_add(struct hkd_diag *d, const char *file,
                  const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

struct hkd_event_type {
	char *name;
	char *description;
	char **required; /* JSON pointers that must resolve in the envelope */
	size_t n_required;
};

struct hkd_handler_conf {
	char *name;
	char *plugin;    /* a plugin name (plugin_dir/NAME.so) or a path */
	int concurrency; /* parallel attempts for this handler; 0 = workers */
	config_setting_t *setting; /* the handler's group (borrowed from lc) */
};

/* How an inbound source proves who it is (sources = { … }). */
enum hkd_verify {
	HKD_VERIFY_NONE = 0, /* only with allow_from */
	HKD_VERIFY_STANDARD, /* Standard Webhooks */
	HKD_VERIFY_GITHUB,   /* X-Hub-Signature-256 */
	HKD_VERIFY_STRIPE,   /* Stripe-Signature */
	HKD_VERIFY_HMAC,     /* generic HMAC of the body */
	HKD_VERIFY_TOKEN     /* a shared secret in a header */
};

/* Where a value comes from: a fixed text, a header, or a JSON pointer. */
struct hkd_extract {
	char *header;  /* "header:NAME" */
	char *pointer; /* "json:/pointer" */
};

struct hkd_source {
	char *name;
	enum hkd_verify verify;
	char **secrets; /* resolved (secret, secrets, token, tokens) */
	size_t n_secrets;
	char *header;      /* hmac/token: where the signature or token is */
	char *algorithm;   /* hmac: sha1, sha256 (default), sha512 */
	char *encoding;    /* hmac: hex (default) or base64 */
	char *prefix;      /* hmac: text before the signature, e.g. "sha256=" */
	int64_t tolerance; /* seconds, for timestamps */
	char *type;        /* fixed event type */
	struct hkd_extract type_from;
	struct hkd_extract id_from;
	/*
	 * 1: id_from was not set and is the scheme's own delivery id
	 * (standard-webhooks, github, stripe). A request without a usable one
	 * then gets a new id, as with no id_from, where a configured id_from
	 * missing is a 422.
	 */
	int id_from_default;
	char **allow_from; /* CIDRs */
	size_t n_allow_from;
};

struct hkd_route_conf {
	char **events; /* globs */
	size_t n_events;
	char **sources; /* only events from these sources; NULL = any */
	size_t n_sources;
	char **handlers;
	size_t n_handlers;
	int64_t *retry_ms; /* delays before attempt 2, 3, …; NULL = default */
	size_t n_retry;
	int line;
};

struct hkd_config {
	config_t lc; /* kept: handler settings point into it */
	char *path;

	char *listen_host; /* NULL = all addresses */
	char *listen_port;
	int http_threads;
	size_t max_body;
	int connection_timeout; /* seconds */
	int request_timeout; /* seconds from a request's start to its body's end
	                      */
	int max_connections; /* open connections at once */
	int max_connections_per_ip; /* from one IPv4 address or IPv6 /64; 0 = no
	                               limit */
	char *tls_cert_pem;         /* server.tls_cert's contents, or NULL */
	char *tls_key_pem;          /* server.tls_key's contents (secret) */
	char **api_keys;            /* resolved secrets */
	size_t n_api_keys;
	int allow_open_api;   /* no api_keys on a non-loopback listen: meant */
	char **allowed_hosts; /* Host names served without keys, but for
	                         localhost and IP literals */
	size_t n_allowed_hosts;
	char *metrics_key; /* resolved secret that /metrics needs, or NULL */

	char *storage_url;
	char *storage_synchronous; /* full, normal, off */
	char *storage_secret_key;  /* resolved secret, or NULL (see store.h) */
	int64_t storage_max_size;  /* bytes; 0 = no cap */
	int64_t keep_succeeded;    /* seconds */
	int64_t keep_dead;         /* seconds */
	int64_t purge_interval;    /* seconds */
	int64_t storage_lease; /* seconds a node's claim holds (shared store) */
	int storage_pool_size; /* PostgreSQL: connections for reads */
	int64_t storage_poll_interval; /* seconds between looks for what other
	                                  nodes did (shared store) */
	char *plugin_dir;
	int workers;
	size_t queue_size;
	int shutdown_timeout; /* seconds */

	/* subscriptions = { ... } */
	char **sub_allow; /* CIDRs the SSRF guard lets subscriptions reach */
	size_t n_sub_allow;
	int sub_concurrency;
	int64_t sub_disable_after; /* seconds of continuous failure */
	int64_t sub_secret_grace;  /* seconds an old secret still signs */
	int sub_timeout;           /* seconds per attempt */
	int sub_max;               /* subscriptions at most (422 past it) */

	struct hkd_source *sources;
	size_t n_sources;

	struct hkd_event_type *types;
	size_t n_types;
	struct hkd_handler_conf *handlers;
	size_t n_handlers;
	struct hkd_route_conf *routes;
	size_t n_routes;
};

/*
 * Read and check path. plugin_dir_override (may be NULL) replaces the
 * file's plugin_dir. Returns the config (caller frees with hkd_config_free)
 * or NULL when d received at least one error.
 */
struct hkd_config *hkd_config_load(const char *path,
                                   const char *plugin_dir_override,
                                   struct hkd_diag *d);

/* The default store. */
#define HKD_DEFAULT_STORAGE "sqlite:/var/lib/hookd/hookd.db"
/*
 * Like hkd_config_load, but returns the config whenever the file could be
 * parsed, even if d received errors about its contents: --check-config
 * uses it to go on and load the plugins, so every problem is listed at
 * once. Such a config must never be made live.
 */
struct hkd_config *hkd_config_read(const char *path,
                                   const char *plugin_dir_override,
                                   struct hkd_diag *d);
void hkd_config_free(struct hkd_config *c);

/* 1 when a listen host (NULL: every address) can be reached only from this
 * machine: localhost, 127.0.0.0/8, ::1. */
int hkd_listen_is_loopback(const char *host);

/* The inbound source named `name`, or NULL. */
const struct hkd_source *hkd_config_source(const struct hkd_config *c,
                                           const char *name);

/* The catalog entry named `name`, or NULL. */
const struct hkd_event_type *hkd_config_type(const struct hkd_config *c,
                                             const char *name);

/*
 * One part of hookd.conf and the keys it accepts: the arrays the loader
 * checks every group against (an unknown key is an error), so whatever reads
 * this table sees exactly what the parser accepts. Names:
 *   "top"            the top level of the file
 *   "server", "storage", "subscriptions"
 *                    the groups of those names
 *   "sources"        each group in sources = { name = { ... }; }
 *   "event_types"    each group in the event_types list
 *   "handlers"       hookd's own keys in each handler group (plugin,
 *                    concurrency); the other members are the plugin's
 *   "routes"         each group in the routes list
 * Both arrays are static and read-only: any thread may read them.
 */
struct hkd_config_section {
	const char *name;
	const char *const *keys; /* NULL-terminated */
};

/* Every section, in the order above, ended by {NULL, NULL}. */
extern const struct hkd_config_section hkd_config_sections[];

/* The keys of section `name` of hkd_config_sections (an empty list when
 * there is no such section). */
const char *const *hkd_config_section_keys(const char *name);

/* Default retry delays (ms) after attempts 1..N: the Standard Webhooks
 * schedule 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. */
extern const int64_t hkd_default_retry_ms[];
extern const size_t hkd_default_retry_len;

#endif
