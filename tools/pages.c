/*
 * hookd's paged listings (GET /v4/deliveries, /v4/webhook-subscriptions):
 * query strings, following nextCursor, and all pages as one answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

/* Append "&name=value" (value escaped) to *q; 0 or -1 (out of memory). */
int ctl_add_param(struct ctl *c, char **q, const char *name, const char *value)
{
	char *esc, *next;
	int n;
	if (!value)
		return 0;
	if (!(esc = ctl_escape(c, value)))
		return -1;
	n = asprintf(&next, "%s%s%s=%s", *q, **q ? "&" : "?", name, esc);
	curl_free(esc);
	if (n < 0)
		return -1;
	free(*q);
	*q = next;
	return 0;
}

/* A page's nextCursor as text (a copy in s), NULL on the last page. */
static const char *next_cursor(struct ctl_scratch *s, const json_t *page)
{
	const char *t = ctl_text(s, json_object_get(page, "nextCursor"));
	return t ? ctl_fmt(s, "%s", t) : NULL;
}

json_t *ctl_fetch_pages(struct ctl *c, const struct ctl_args *a,
                        const char *key, ctl_page_path_fn page_path, int all,
                        struct ctl_scratch *s, const char **more)
{
	const char *cursor = a->cursor;
	json_t *rows = json_array();

	*more = NULL;
	if (!rows) {
		ctl_err("out of memory");
		return NULL;
	}
	for (;;) {
		struct ctl_reply r;
		char *path = page_path(c, a, cursor);
		const char *next = NULL;
		int failed = !path || ctl_call(c, "GET", path, NULL, &r) != 0;
		if (!path)
			ctl_err("out of memory");
		else {
			if (!failed) {
				json_array_extend(rows,
				                  json_object_get(r.json, key));
				next = next_cursor(s, r.json);
			}
			ctl_reply_release(&r);
		}
		free(path);
		/* A cursor that does not move would page for ever. */
		if (!failed && next && cursor && strcmp(next, cursor) == 0) {
			ctl_err("the API answered the same cursor %s twice",
			        next);
			failed = 1;
		}
		if (failed) {
			json_decref(rows);
			return NULL;
		}
		*more = next;
		if (!next || !all)
			return rows;
		cursor = next;
	}
}

/* All pages for --json: one answer of a page's shape. */
int ctl_print_merged(json_t *all, const char *key)
{
	json_t *merged = json_pack("{s:O, s:n}", key, all, "nextCursor");
	char *text = merged ? json_dumps(merged, JSON_COMPACT) : NULL;
	int rc = CTL_EXIT_OK;
	if (text)
		printf("%s\n", text);
	else {
		ctl_err("out of memory");
		rc = CTL_EXIT_API;
	}
	free(text);
	json_decref(merged);
	return rc;
}
