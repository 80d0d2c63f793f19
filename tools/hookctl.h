/*
 * hookctl: the command-line client of hookd's HTTP API.
 *
 * Shared between the files under tools/: the resolved settings, the HTTP
 * client, the table printer and the command functions. hookctl is a plain
 * API client: it links libcurl and jansson, never hookd's core.
 *
 * Everything runs on the main thread; nothing here is thread-safe.
 */
#ifndef CTL_HOOKCTL_H
#define CTL_HOOKCTL_H

#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

/* Exit statuses (see EXIT STATUS in hookctl(1)). */
#define CTL_EXIT_OK    0
#define CTL_EXIT_API   1 /* hookd refused, or could not be reached */
#define CTL_EXIT_USAGE 2 /* a wrong command line or configuration file */

#define CTL_DEFAULT_URL     "http://127.0.0.1:8080"
#define CTL_DEFAULT_TIMEOUT 30.0

/* printf-style report on stderr, prefixed "hookctl: ". */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------- settings -- */

/*
 * Where to reach hookd and how. Each member is resolved flag > environment
 * > configuration file > default by ctl_settings_resolve().
 */
struct ctl_settings {
	char *url;      /* base URL, no trailing '/' */
	char *api_key;  /* NULL: send none */
	double timeout; /* seconds for a whole request; 0: no limit */
	int json;       /* --json: print the API's answers as they are */
};

/* What the command line said; NULL / negative when it said nothing. */
struct ctl_flags {
	const char *url;
	const char *api_key;
	const char *config;
	double timeout;
	int json;
};

/*
 * Fill s from the flags, HOOKD_URL / HOOKD_API_KEY, the configuration file
 * and the defaults. 0, or -1 after reporting why (a usage error). The
 * caller releases s with ctl_settings_release() either way.
 */
int ctl_settings_resolve(const struct ctl_flags *f, struct ctl_settings *s);
void ctl_settings_release(struct ctl_settings *s);

/* ------------------------------------------------------------ client -- */

/* One API session: the settings and a reused libcurl handle. */
struct ctl {
	struct ctl_settings set;
	CURL *curl;
};

/* An answer from hookd. */
struct ctl_reply {
	long status;
	char *body; /* NUL-terminated, len bytes */
	size_t len;
	json_t *json;         /* body parsed, or NULL */
	char retry_after[32]; /* the Retry-After header, or "" */
};

/*
 * Send one request: method, path (already escaped, with its query) and an
 * optional JSON body (borrowed). On any 2xx answer whose body is JSON,
 * fill r and return 0. Otherwise report on stderr (cannot reach the URL,
 * no answer in time, or the API's error, code and HTTP status) and return
 * -1. The caller releases r with ctl_reply_release() either way.
 */
int ctl_call(struct ctl *c, const char *method, const char *path,
             const json_t *body, struct ctl_reply *r);
void ctl_reply_release(struct ctl_reply *r);

/*
 * ctl_call() for a command's answer, which --json prints as it came. A
 * NULL path means that making it ran out of memory. CTL_EXIT_OK, or
 * CTL_EXIT_API after reporting; the caller prints r for people unless
 * --json, and releases r either way.
 */
int ctl_request(struct ctl *c, const char *method, const char *path,
                const json_t *body, struct ctl_reply *r);

/* s escaped for a URL path segment or query value; NULL when out of
 * memory. Caller frees with curl_free(). */
char *ctl_escape(struct ctl *c, const char *s);

/* prefix, id escaped, suffix: a path. NULL when out of memory; caller
 * frees. */
char *ctl_path(struct ctl *c, const char *prefix, const char *id,
               const char *suffix);

/* Print an answer's body as it came, with a final newline (--json). */
void ctl_print_raw(const struct ctl_reply *r);

/* ------------------------------------------------------------ output -- */

/*
 * An aligned table: a header row in capitals, then rows; every column as
 * wide as its widest cell, two spaces between columns, no trailing blanks.
 * Cells are copied with control characters replaced (no terminal escapes
 * from the data). With `multiline` set, the last column keeps its line
 * breaks and continues under itself.
 */
struct ctl_table {
	size_t ncols, nrows, cap;
	const char *const *head; /* ncols headers (borrowed), or NULL */
	char **cells;            /* nrows * ncols */
	int multiline;
};

/* headers: ncols strings (borrowed, static), or NULL for a table without
 * a header row. */
void ctl_table_init(struct ctl_table *t, size_t ncols,
                    const char *const *headers);
/* Add a row of ncols cells (borrowed; NULL prints as "-"). 0 or -1 (OOM). */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(const struct ctl_table *t, FILE *out, int indent);
/* On stdout: the table, or the line `none` when it has no rows. */
void ctl_table_show(const struct ctl_table *t, const char *none);
void ctl_table_release(struct ctl_table *t);

/*
 * s (NULL: "") with control characters replaced by '?' (tabs, and line
 * breaks unless keep_newlines, by a space). NULL when out of memory;
 * caller frees.
 */
char *ctl_printable(const char *s, int keep_newlines);

/* The string member key of o, or "" (absent, not a string). Borrowed. */
const char *ctl_str(const json_t *o, const char *key);

/* Texts made for one table row or block, released together. */
struct ctl_scratch {
	char **v;
	size_t n, cap;
};

/*
 * v as text for people: a string as it is, numbers, yes / no for booleans,
 * compact JSON for the rest; NULL for null or absent (a table shows "-").
 * The text belongs to s.
 */
const char *ctl_text(struct ctl_scratch *s, const json_t *v);
/* v as indented JSON (a text of s); NULL for absent. */
const char *ctl_pretty(struct ctl_scratch *s, const json_t *v);
/* printf into a text that belongs to s ("" when out of memory). */
const char *ctl_fmt(struct ctl_scratch *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The members of a list as "a, b, c" (a text of s); NULL when empty. */
const char *ctl_joined(struct ctl_scratch *s, const json_t *list);
void ctl_scratch_release(struct ctl_scratch *s);

/*
 * Add one row for delivery d (an object of GET /v4/deliveries) to t, whose
 * columns are ID STATE TARGET ATTEMPTS NEXT, then EVENT TYPE when
 * with_event, then LAST. 0 or -1 (out of memory).
 */
int ctl_delivery_row(struct ctl_table *t, const json_t *d, int with_event);

/* ---------------------------------------------------------- commands -- */

/* Everything a command's options can say. */
struct ctl_args {
	int argc;    /* positional arguments after the command words */
	char **argv; /* borrowed from main's argv */
	const char *id, *type, *method, *secret, *format, *description;
	const char *state, *target, *event, *cursor;
	json_t *headers; /* --header: an object, or NULL */
	long limit;      /* 0: not given */
	int all, all_dead;
};

int ctl_cmd_publish(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_types(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_event_show(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_subs_list(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_subs_add(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_subs_show(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_subs_rm(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_subs_test(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_deliveries_list(struct ctl *c, const struct ctl_args *a);
int ctl_cmd_deliveries_retry(struct ctl *c, const struct ctl_args *a);

/* pages.c: hookd's paged listings. Append "&name=value" (escaped; "?"
 * first) to *q unless value is NULL: 0, or -1 when out of memory. */
int ctl_add_param(struct ctl *c, char **q, const char *name, const char *value);
/* The path of the page after `cursor` (NULL: the first); NULL when out of
 * memory. */
typedef char *(*ctl_page_path_fn)(struct ctl *c, const struct ctl_args *a,
                                  const char *cursor);
/*
 * The rows (member `key`) of one page from a->cursor on, or with `all`
 * of every page, following nextCursor: a new array, or NULL after
 * reporting. *more is the cursor of the page after the last one fetched
 * (a text of s), NULL at the end.
 */
json_t *ctl_fetch_pages(struct ctl *c, const struct ctl_args *a,
                        const char *key, ctl_page_path_fn page_path, int all,
                        struct ctl_scratch *s, const char **more);
/* Print rows as one page of `key` (nextCursor null), for --json. */
int ctl_print_merged(json_t *rows, const char *key);

#endif
