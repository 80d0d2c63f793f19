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
 * dispatch() runs or will run on the instance and every dispatch_async()
 * attempt was completed (after a reload replaced it, or at a shutdown that
 * finished every attempt: see "Stopping" below), on the main thread or a
 * host worker thread — never on a thread of the plugin's own, never inside
 * host->complete(). dispatch() runs on worker threads; several at once for
 * one instance only when the descriptor sets HOOKD_PLUGIN_THREADSAFE,
 * otherwise the host serialises calls per instance. Host services are safe
 * to call from any thread.
 *
 * The host initialises libcurl (curl_global_init) before any thread starts;
 * plugins never call curl_global_init or curl_global_cleanup.
 *
 * Process-wide promises a plugin may rely on: SIGPIPE is ignored; SIGCHLD
 * keeps its default disposition and the host never calls waitpid(-1), so a
 * plugin may fork and reap its own children; the host opens its own
 * descriptors close-on-exec.
 *
 * Stopping: on SIGTERM or SIGINT the host waits up to shutdown_timeout for
 * running attempts. When some still run then, it abandons them: it exits
 * without calling destroy() and without unloading plugins, and records no
 * outcome those dispatch() (or dispatch_async()) calls still bring; their
 * deliveries run again later (at least once). It exits through exit(), so
 * a plugin's ELF destructors and atexit() handlers run — while those calls
 * may still be running on other threads. A plugin whose attempts start
 * something that would outlive the process (a child in a process group of
 * its own) ends it there; the exec plugin kills its children's groups.
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

/**
 * Major ABI version this header describes. It changes only when an
 * existing field changes meaning; the host refuses a plugin whose
 * abi_major differs from its own.
 */
#define HOOKD_ABI_MAJOR 1
/**
 * Minor ABI version this header describes, raised each time fields are
 * appended within HOOKD_ABI_MAJOR (1.1 appended hookd_host.complete and
 * hookd_plugin.dispatch_async; 1.2 appended hookd_result.status_code). The
 * host refuses a plugin whose abi_minor is newer than its own, and loads an
 * older one: what it appended since is zero (NULL) for that plugin.
 */
#define HOOKD_ABI_MINOR 2

/** Name of the one symbol a plugin exports. */
#define HOOKD_PLUGIN_ENTRY_SYMBOL "hookd_plugin_entry"

#if defined(__GNUC__)
/**
 * Marks a printf-like function: argument `fmt` (1-based) is the format,
 * checked against the arguments from `args` on (hookd_host.log uses it,
 * so a wrong format is a compiler warning). Empty for other compilers.
 */
#define HOOKD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
/**
 * Gives a symbol default visibility, so that hookd_plugin_entry stays
 * exported from a plugin built with -fvisibility=hidden. Empty for other
 * compilers.
 */
#define HOOKD_EXPORT __attribute__((visibility("default")))
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

/**
 * Log levels for hookd_host.log, most severe first. hookd writes a line
 * whose level is at most its --log-level (default HOOKD_LOG_INFO); a value
 * past HOOKD_LOG_DEBUG counts as HOOKD_LOG_DEBUG.
 */
enum hookd_log_level {
	HOOKD_LOG_ERROR = 0, /**< a failure the operator must act on */
	HOOKD_LOG_WARN = 1, /**< something went wrong; the handler carries on */
	HOOKD_LOG_INFO = 2, /**< a normal event worth one line */
	HOOKD_LOG_DEBUG = 3 /**< detail for finding a problem */
};

/** Descriptor flags. */
/** dispatch() may run concurrently on one state. */
#define HOOKD_PLUGIN_THREADSAFE 0x1u

/** Type of a declared configuration key. */
enum hookd_key_type {
	HOOKD_KEY_STRING = 1, /**< a string */
	HOOKD_KEY_INT = 2,    /**< an integer (64-bit) */
	HOOKD_KEY_BOOL = 3,   /**< true or false */
	HOOKD_KEY_LIST = 4,   /**< a list or array of strings */
	/** A group of string values (name = "value"; ...). */
	HOOKD_KEY_GROUP = 5
};

/** Key flags. */
/** The key must be set. */
#define HOOKD_KEY_REQUIRED 0x1u
/** In hookd.conf, the value may be "env:NAME" or "file:PATH". */
#define HOOKD_KEY_SECRET 0x2u

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
 * the dispatch() or dispatch_async() call that received it. Strings are
 * NUL-terminated UTF-8.
 */
struct hookd_event {
	size_t struct_size;    /**< sizeof(struct hookd_event) of the host */
	const char *id;        /**< event id; identical on every attempt */
	const char *type;      /**< event type, e.g. "workflow_finished" */
	const char *source;    /**< "api" or the inbound source's name */
	const char *timestamp; /**< RFC 3339 UTC time the event was accepted */
	/** The whole envelope {id,type,timestamp,source,data}. */
	const char *json;
	size_t json_len; /**< strlen(json) */
	/** 1 for the first attempt, 2 for the first retry... */
	unsigned attempt;
	/** Wall-clock ms since the epoch the attempt should end by (0: none).
	 */
	int64_t deadline_ms;
	const char *target; /**< name of the handler instance delivering it */
	const char *delivery_id; /**< id of this (event, target) delivery */
};

/** Longest reason a plugin can report, including the NUL. */
#define HOOKD_REASON_MAX 512

/**
 * Filled by dispatch(). Zeroed by the host before each call.
 */
struct hookd_result {
	size_t struct_size; /**< sizeof(struct hookd_result) of the host */
	/** With HOOKD_RETRY: wait at least this many ms from now before the
	 *  next try (0 = by the schedule alone). */
	int64_t retry_after_ms;
	/** Short text for the attempt log (optional). */
	char reason[HOOKD_REASON_MAX];
	/** (1.2) The receiver's own status code when there was one — the
	 *  HTTP status, an SMTP reply code — else 0. The host decides on it
	 *  (a 410 disables a subscription), never on the text of reason. */
	int status_code;
};

/**
 * Whether result `r` has member `m` (appended after ABI 1.0): a plugin
 * writes a newer member only when the host's result holds it, e.g.
 * `if (HOOKD_RESULT_HAS(res, status_code)) res->status_code = 410;`.
 */
#define HOOKD_RESULT_HAS(r, m)                                                 \
	((r)->struct_size >= offsetof(struct hookd_result, m) + sizeof((r)->m))

/** Opaque handle on one handler's settings in hookd.conf. */
struct hookd_config;

/** Opaque handle on one asynchronous attempt (ABI 1.1, dispatch_async). */
struct hookd_attempt;

/** Template rendering modes for hookd_host.render. */
enum hookd_render_mode {
	/** Values inserted as they are. */
	HOOKD_RENDER_RAW = 0,
	/** Values percent-encoded (RFC 3986 unreserved kept, but a value of
	 *  dots alone, "." or "..", is encoded whole, so it is never a
	 *  dot-segment). */
	HOOKD_RENDER_URL = 1,
	/** Values escaped for use inside a JSON string. */
	HOOKD_RENDER_JSON = 2,
	/** Values single-quoted for a POSIX shell word. */
	HOOKD_RENDER_SHELL = 3
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

	/* --- ABI 1.1 ------------------------------------------------------ */

	/**
	 * Finish an attempt started with the plugin's dispatch_async(): call
	 * exactly once per started attempt, from any thread (also from inside
	 * dispatch_async itself). `result` (may be NULL) is the plugin's own,
	 * with the plugin's struct_size; the host copies what both know before
	 * this returns. complete() only queues the outcome: the host does its
	 * work (the store, retries, destroy() of a replaced instance) on its
	 * own threads, never inside this call. Present when struct_size covers
	 * it (host ABI >= 1.1).
	 */
	void (*complete)(struct hookd_attempt *attempt,
	                 enum hookd_status status,
	                 const struct hookd_result *result);
};

/**
 * Whether host `h` offers service `m` (a member appended to struct
 * hookd_host after ABI 1.0): its table is long enough to hold the member
 * and the member is set. A plugin that also runs in older hosts checks
 * before each call of a newer service, e.g.
 * `if (HOOKD_HOST_HAS(host, complete))`.
 */
#define HOOKD_HOST_HAS(h, m)                                                   \
	((h)->struct_size >=                                                   \
	     offsetof(struct hookd_host, m) + sizeof((h)->m) &&                \
	 (h)->m != NULL)

/**
 * What a plugin is. Returned by hookd_plugin_entry(); must stay valid until
 * the plugin is unloaded (a static const struct is usual).
 */
struct hookd_plugin {
	/** sizeof(struct hookd_plugin) the plugin was built with. */
	size_t struct_size;
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
	 * *state. On failure return -1 and write a message into errbuf (the
	 * host gives at least 256 bytes; the message may be cut to errlen);
	 * the host reports it as a configuration error at the handler's
	 * file:line. After a failed create() the host never calls destroy()
	 * and ignores *state: free whatever the call allocated before
	 * returning -1.
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

	/**
	 * Release an instance; no dispatch() runs on it any more and every
	 * asynchronous attempt has been completed. May be NULL.
	 */
	void (*destroy)(void *state);

	/* --- ABI 1.1 ------------------------------------------------------ */

	/**
	 * Optional. Start an attempt without tying up the calling worker
	 * thread, for plugins that can keep many attempts in flight at once
	 * (an event loop, curl's multi interface). `event` is borrowed for this
	 * call only: copy what the attempt needs. Return 0 when the attempt was
	 * started — host->complete(attempt, …) must then follow exactly once,
	 * when it ends (by event->deadline_ms at the latest) — or -1, only when
	 * complete() was not and will not be called for it, to have the host
	 * run this attempt through dispatch() instead. Threads and concurrency
	 * are as for dispatch(): without HOOKD_PLUGIN_THREADSAFE the host makes
	 * no two calls on one instance at once (dispatch_async or dispatch),
	 * and the per-handler concurrency limit counts attempts in flight
	 * either way. The host uses it only when its own ABI is >= 1.1; a
	 * plugin setting it also sets dispatch(). A plugin that also wants to
	 * load into a 1.0 host checks host->struct_size in hookd_plugin_entry()
	 * and returns a descriptor with abi_minor 0 and no dispatch_async
	 * there.
	 */
	int (*dispatch_async)(void *state, const struct hookd_event *event,
	                      struct hookd_attempt *attempt);
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
