/* The plugin ABI 1.0 header, frozen as released: tests/plugins/abi10.c is
 * built against it to prove that newer hosts keep loading 1.0 plugins.
 * Never edit it. */
/*
 * hookd plugin ABI — the only header a handler plugin includes.
 *
 * A plugin is a shared object that exports one function, hookd_plugin_entry().
 * The host calls it once after dlopen() with its own table of services and
 * receives the plugin's descriptor. Both structures start with struct_size,
 * abi_major and abi_minor; fields are only ever appended, so:
 *
 *   - the host refuses a plugin whose abi_major differs from its own, whose
 *     abi_minor is newer than its own, or whose struct_size is smaller than
 *     the 1.0 descriptor;
 *   - the host copies min(plugin's struct_size, its own) bytes into a zeroed
 *     descriptor, so callbacks an older plugin does not know are NULL;
 *   - a plugin must check host->struct_size (or host->abi_minor) before it
 *     uses a host service appended after 1.0.
 *
 * Threads: create() runs on the main thread; destroy() runs once no
 * dispatch() runs or will run on the instance (after a reload replaced it,
 * or at shutdown), on the main thread or the worker that finished the last
 * attempt. dispatch() runs on worker threads; several at once for one
 * instance only when the descriptor sets HOOKD_PLUGIN_THREADSAFE, otherwise
 * the host serialises calls per instance. Host services are safe to call from
 * any thread.
 *
 * The host initialises libcurl (curl_global_init) before any thread starts;
 * plugins never call curl_global_init or curl_global_cleanup.
 *
 * Process-wide promises a plugin may rely on: SIGPIPE is ignored; SIGCHLD
 * keeps its default disposition and the host never calls waitpid(-1), so a
 * plugin may fork and reap its own children; the host opens its own
 * descriptors close-on-exec.
 *
 * struct hookd_event and struct hookd_result also start with struct_size
 * (the host's): a plugin reads or writes a field appended after 1.0 only
 * when struct_size covers it. Strings in them are never NULL unless a field
 * says so.
 */
#ifndef HOOKD_PLUGIN_H
#define HOOKD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version this header describes. */
#define HOOKD_ABI_MAJOR 1
#define HOOKD_ABI_MINOR 0

/** Name of the one symbol a plugin exports. */
#define HOOKD_PLUGIN_ENTRY_SYMBOL "hookd_plugin_entry"

#if defined(__GNUC__)
#define HOOKD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define HOOKD_EXPORT            __attribute__((visibility("default")))
#else
#define HOOKD_PRINTF(fmt, args)
#define HOOKD_EXPORT
#endif

/** Outcome of one dispatch() call (one attempt of one delivery). */
enum hookd_status {
	HOOKD_OK = 0,    /**< delivered; the delivery succeeded */
	HOOKD_RETRY = 1, /**< transient failure; try again by the schedule */
	HOOKD_FAIL = 2   /**< permanent failure; the delivery is dead at once */
};

/** Log levels for hookd_host.log. */
enum hookd_log_level {
	HOOKD_LOG_ERROR = 0,
	HOOKD_LOG_WARN = 1,
	HOOKD_LOG_INFO = 2,
	HOOKD_LOG_DEBUG = 3
};

/** Descriptor flags. */
#define HOOKD_PLUGIN_THREADSAFE                                                \
	0x1u /**< dispatch() may run concurrently on one state */

/** Type of a declared configuration key. */
enum hookd_key_type {
	HOOKD_KEY_STRING = 1, /**< a string */
	HOOKD_KEY_INT = 2,    /**< an integer (64-bit) */
	HOOKD_KEY_BOOL = 3,   /**< true or false */
	HOOKD_KEY_LIST = 4,   /**< a list or array of strings */
	HOOKD_KEY_GROUP =
	    5 /**< a group of string values (name = "value"; ...) */
};

/** Key flags. */
#define HOOKD_KEY_REQUIRED 0x1u /**< the key must be set */
#define HOOKD_KEY_SECRET                                                       \
	0x2u /**< the value may be "env:NAME" or "file:PATH"                   \
	      */

/**
 * One configuration key a plugin accepts. A handler that sets a key not in
 * its plugin's list, or a value of another type, is a configuration error
 * reported with file:line before create() is ever called.
 */
struct hookd_config_key {
	const char *name;         /**< key as written in hookd.conf */
	enum hookd_key_type type; /**< expected type */
	unsigned flags;           /**< HOOKD_KEY_* */
	const char *help; /**< one line shown by `hookd --list-plugins` */
};

/**
 * The event being delivered. Borrowed: every pointer is valid only during
 * the dispatch() call that received it. Strings are NUL-terminated UTF-8.
 */
struct hookd_event {
	size_t struct_size;    /**< sizeof(struct hookd_event) of the host */
	const char *id;        /**< event id; identical on every attempt */
	const char *type;      /**< event type, e.g. "workflow_finished" */
	const char *source;    /**< "api" or the inbound source's name */
	const char *timestamp; /**< RFC 3339 UTC time the event was accepted */
	const char
	    *json; /**< the whole envelope {id,type,timestamp,source,data} */
	size_t json_len; /**< strlen(json) */
	unsigned
	    attempt; /**< 1 for the first attempt, 2 for the first retry... */
	int64_t deadline_ms; /**< wall-clock ms since the epoch the attempt
	                        should end by; 0 = none */
	const char *target;  /**< name of the handler instance delivering it */
	const char *delivery_id; /**< id of this (event, target) delivery */
};

/** Longest reason a plugin can report, including the NUL. */
#define HOOKD_REASON_MAX 512

/**
 * Filled by dispatch(). Zeroed by the host before each call.
 */
struct hookd_result {
	size_t struct_size;     /**< sizeof(struct hookd_result) of the host */
	int64_t retry_after_ms; /**< with HOOKD_RETRY: wait at least this many
	                           ms from now before the next try (0 = by the
	                           schedule alone) */
	char reason[HOOKD_REASON_MAX]; /**< short text for the attempt log
	                                  (optional) */
};

/** Opaque handle on one handler's settings in hookd.conf. */
struct hookd_config;

/** Template rendering modes for hookd_host.render. */
enum hookd_render_mode {
	HOOKD_RENDER_RAW = 0, /**< values inserted as they are */
	HOOKD_RENDER_URL =
	    1, /**< values percent-encoded (RFC 3986 unreserved kept) */
	HOOKD_RENDER_JSON =
	    2, /**< values escaped for use inside a JSON string */
	HOOKD_RENDER_SHELL =
	    3 /**< values single-quoted for a POSIX shell word */
};

/**
 * Services the host offers. Valid from hookd_plugin_entry() until the
 * plugin is unloaded; callable from any thread.
 */
struct hookd_host {
	size_t struct_size;  /**< sizeof(struct hookd_host) of the host */
	unsigned abi_major;  /**< host's HOOKD_ABI_MAJOR */
	unsigned abi_minor;  /**< host's HOOKD_ABI_MINOR */
	const char *version; /**< hookd's version string, e.g. "0.1.0" */

	/**
	 * Write one log line. `instance` is the handler name the line is about
	 * (NULL for the plugin as a whole).
	 */
	void (*log)(const char *instance, enum hookd_log_level level,
	            const char *fmt, ...) HOOKD_PRINTF(3, 4);

	/**
	 * Read a string key. Secret keys have their "env:"/"file:" reference
	 * resolved. Returns 0 and sets *out (borrowed, valid until destroy())
	 * when the key is set; -1 when it is not set (*out untouched).
	 */
	int (*config_string)(const struct hookd_config *cfg, const char *key,
	                     const char **out);

	/** Read an integer key. 0 when set, -1 when not. */
	int (*config_int)(const struct hookd_config *cfg, const char *key,
	                  int64_t *out);

	/** Read a boolean key (*out is 0 or 1). 0 when set, -1 when not. */
	int (*config_bool)(const struct hookd_config *cfg, const char *key,
	                   int *out);

	/**
	 * Number of elements of a list key, or of entries of a group key;
	 * -1 when the key is not set.
	 */
	int (*config_count)(const struct hookd_config *cfg, const char *key);

	/**
	 * Element `index` of a list key, or entry `index` of a group key.
	 * For a group, *name_out (if not NULL) receives the entry's name.
	 * Returns 0 and sets *out (borrowed) on success, -1 when out of range.
	 */
	int (*config_item)(const struct hookd_config *cfg, const char *key,
	                   int index, const char **name_out, const char **out);

	/**
	 * Expand placeholders in `tmpl` against `event`:
	 *   {{id}} {{type}} {{source}} {{timestamp}} {{attempt}} {{target}}
	 *   {{data}}               the whole data object as compact JSON
	 *   {{data.a.b}}           a field by dotted path (arrays:
	 * {{data.items.0}})
	 *   {{/data/a/b}}          a field by JSON pointer (RFC 6901)
	 *   {{data.a | default}}   `default` used when the field is missing
	 * A string value is inserted as its text, another value (also null) as
	 * compact JSON, a missing field as its default or nothing. "\{{" is a
	 * literal "{{". Paths and pointers start at id, type, source, timestamp
	 * or data; any other name is an "unknown placeholder" error.
	 * `mode` escapes inserted values (and defaults), never the template's
	 * own text: HOOKD_RENDER_JSON escapes for use *inside* a JSON string;
	 * HOOKD_RENDER_SHELL quotes each value, a missing one becoming ''.
	 * Error messages give the 0-based byte offset of the offending "{{".
	 * Returns a string the caller frees with host->free, or NULL with a
	 * message in errbuf — errbuf may be NULL. NULL can also come at
	 * dispatch time for a valid template: a value holding a NUL byte in RAW
	 * or SHELL mode, or memory running out; treat it as a failed attempt.
	 */
	char *(*render)(const char *tmpl, const struct hookd_event *event,
	                enum hookd_render_mode mode, char *errbuf,
	                size_t errlen);

	/**
	 * Check a template's syntax without an event (for create()). 0 when
	 * valid, -1 with a message in errbuf.
	 */
	int (*check_template)(const char *tmpl, char *errbuf, size_t errlen);

	/** Free memory the host returned (render). */
	void (*free)(void *ptr);
};

/**
 * What a plugin is. Returned by hookd_plugin_entry(); must stay valid until
 * the plugin is unloaded (a static const struct is usual).
 */
struct hookd_plugin {
	size_t struct_size; /**< sizeof(struct hookd_plugin) the plugin was
	                       built with */
	unsigned abi_major; /**< HOOKD_ABI_MAJOR the plugin was built with */
	unsigned abi_minor; /**< HOOKD_ABI_MINOR the plugin was built with */
	const char *name;   /**< plugin name used in `plugin = "..."`; unique */
	const char *version;     /**< the plugin's own version */
	const char *description; /**< one line for `hookd --list-plugins` */
	unsigned flags;          /**< HOOKD_PLUGIN_* */

	/** Accepted keys, terminated by an entry whose name is NULL. */
	const struct hookd_config_key *keys;

	/**
	 * Make a handler instance. `instance` is the handler's name (borrowed);
	 * `cfg` stays valid until destroy(). On success return 0 and set
	 * *state. On failure return -1 and write a message into errbuf; the
	 * host reports it as a configuration error at the handler's file:line.
	 */
	int (*create)(const char *instance, const struct hookd_config *cfg,
	              void **state, char *errbuf, size_t errlen);

	/**
	 * Deliver `event` (borrowed). Runs on a worker thread. Return HOOKD_OK,
	 * HOOKD_RETRY or HOOKD_FAIL and optionally fill `result`. The call
	 * should end by event->deadline_ms.
	 */
	enum hookd_status (*dispatch)(void *state,
	                              const struct hookd_event *event,
	                              struct hookd_result *result);

	/** Release an instance; no dispatch() runs on it any more. May be NULL.
	 */
	void (*destroy)(void *state);
};

/** Type of the entry function. */
typedef const struct hookd_plugin *(*hookd_plugin_entry_fn)(
    const struct hookd_host *host);

/**
 * The function every plugin defines and exports. Return the descriptor, or
 * NULL to refuse this host (for example when host->abi_minor is too old for
 * a service the plugin needs).
 */
HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *host);

#ifdef __cplusplus
}
#endif

#endif /* HOOKD_PLUGIN_H */
