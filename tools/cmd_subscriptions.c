/*
 * hookctl's webhook-subscription commands: list, add, show, rm and test
 * (/v4/webhook-subscriptions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

#define API "/v4/webhook-subscriptions"

/* Headers {"Name": "value"} as "Name: value" lines (a text of s). */
static const char *header_lines(struct ctl_scratch *s, const json_t *hdrs)
{
	const char *out = NULL, *name;
	json_t *v;
	json_object_foreach((json_t *)hdrs, name, v)
	{
		const char *t = ctl_text(s, v);
		out = out ? ctl_fmt(s, "%s\n%s: %s", out, name, t ? t : "")
		          : ctl_fmt(s, "%s: %s", name, t ? t : "");
	}
	return out;
}

/* A subscription as `label: value` lines. */
static void print_sub(const json_t *sub)
{
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_table t;
	const char *const rows[][2] = {
	    {"id:", ctl_str(sub, "id")},
	    {"url:", ctl_str(sub, "webhookUrl")},
	    {"method:", ctl_str(sub, "webhookHttpMethod")},
	    {"events:", ctl_joined(&s, json_object_get(sub, "events"))},
	    {"format:", ctl_str(sub, "format")},
	    {"headers:", header_lines(&s, json_object_get(sub, "headers"))},
	    {"description:", ctl_text(&s, json_object_get(sub, "description"))},
	    {"enabled:", ctl_text(&s, json_object_get(sub, "enabled"))},
	    {"disabled:", ctl_text(&s, json_object_get(sub, "disabledAt"))},
	    {"reason:", ctl_text(&s, json_object_get(sub, "disabledReason"))},
	    {"created:", ctl_str(sub, "createdAt")},
	    {"updated:", ctl_str(sub, "updatedAt")},
	    {"secret:", ctl_str(sub, "secret")},
	    {"old secret until:",
	     ctl_text(&s, json_object_get(sub, "previousSecretValidUntil"))},
	};

	ctl_table_init(&t, 2, NULL);
	t.multiline = 1;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* What it has; its headers even when there are none. */
		if (rows[i][1] || strcmp(rows[i][0], "headers:") == 0)
			ctl_table_add(&t, rows[i]);
	}
	ctl_table_print(&t, stdout, 0);
	ctl_table_release(&t);
	ctl_scratch_release(&s);
}

/* The path of a page of GET /v4/webhook-subscriptions, the most a page
 * holds; NULL when out of memory. */
static char *page_path(struct ctl *c, const struct ctl_args *a,
                       const char *cursor)
{
	char *q = strdup(""), *path = NULL;
	(void)a;
	if (!q || ctl_add_param(c, &q, "limit", "500") ||
	    ctl_add_param(c, &q, "cursor", cursor))
		goto out;
	if (asprintf(&path, API "%s", q) < 0)
		path = NULL;
out:
	free(q);
	return path;
}

int ctl_cmd_subs_list(struct ctl *c, const struct ctl_args *a)
{
	static const char *const head[] = {"ID",     "STATE",  "METHOD",
	                                   "FORMAT", "EVENTS", "URL"};
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_table t;
	const char *more;
	json_t *all, *sub;
	size_t i;
	int rc = CTL_EXIT_API;

	ctl_table_init(&t, 6, head);
	/* Every page: a subscription list is short enough to show whole. */
	if (!(all = ctl_fetch_pages(c, a, "subscriptions", page_path, 1, &s,
	                            &more)))
		goto out;
	if (c->set.json) {
		rc = ctl_print_merged(all, "subscriptions");
		goto out;
	}
	rc = CTL_EXIT_OK;
	json_array_foreach(all, i, sub)
	{
		int on = json_is_true(json_object_get(sub, "enabled"));
		const char *row[] = {
		    ctl_str(sub, "id"),
		    on ? "enabled" : "disabled",
		    ctl_str(sub, "webhookHttpMethod"),
		    ctl_str(sub, "format"),
		    ctl_joined(&s, json_object_get(sub, "events")),
		    ctl_str(sub, "webhookUrl")};
		ctl_table_add(&t, row);
	}
	ctl_table_show(&t, "no subscriptions");
out:
	ctl_table_release(&t);
	ctl_scratch_release(&s);
	json_decref(all);
	return rc;
}

/* Set member key of o to the string v when v is given; 0 or -1. */
static int set_text(json_t *o, const char *key, const char *v)
{
	return v ? json_object_set_new(o, key, json_string(v)) : 0;
}

/* The body of POST /v4/webhook-subscriptions; NULL after reporting. */
static json_t *new_sub_body(const struct ctl_args *a)
{
	json_t *body = json_object(), *events = json_array();

	if (!body || !events)
		goto fail;
	for (int i = 1; i < a->argc; i++)
		if (json_array_append_new(events, json_string(a->argv[i])) != 0)
			goto fail;
	/* Stolen, even when it fails. */
	if (json_object_set_new(body, "events", events) != 0) {
		events = NULL;
		goto fail;
	}
	events = NULL;
	if (set_text(body, "webhookUrl", a->argv[0]) ||
	    set_text(body, "webhookHttpMethod", a->method) ||
	    set_text(body, "format", a->format) ||
	    set_text(body, "secret", a->secret) ||
	    set_text(body, "description", a->description) ||
	    (a->headers && json_object_set(body, "headers", a->headers) != 0))
		goto fail;
	return body;
fail:
	ctl_err("every argument must be UTF-8 text");
	json_decref(events);
	json_decref(body);
	return NULL;
}

int ctl_cmd_subs_add(struct ctl *c, const struct ctl_args *a)
{
	struct ctl_reply r;
	json_t *body = new_sub_body(a);
	int rc;

	memset(&r, 0, sizeof(r));
	if (!body)
		return CTL_EXIT_USAGE;
	rc = ctl_request(c, "POST", API, body, &r);
	if (rc != CTL_EXIT_OK || c->set.json)
		goto out;
	print_sub(r.json);
	printf("\nKeep the secret: hookd shows it in full only now.\n");
out:
	json_decref(body);
	ctl_reply_release(&r);
	return rc;
}

/* method on API/{id}[suffix] with an optional body, as ctl_request(). */
static int call_sub(struct ctl *c, const char *method, const char *id,
                    const char *suffix, const json_t *body, struct ctl_reply *r)
{
	char *path = ctl_path(c, API "/", id, suffix);
	int rc = ctl_request(c, method, path, body, r);
	free(path);
	return rc;
}

int ctl_cmd_subs_show(struct ctl *c, const struct ctl_args *a)
{
	struct ctl_reply r;
	int rc = call_sub(c, "GET", a->argv[0], "", NULL, &r);
	if (rc == CTL_EXIT_OK && !c->set.json)
		print_sub(r.json);
	ctl_reply_release(&r);
	return rc;
}

int ctl_cmd_subs_rm(struct ctl *c, const struct ctl_args *a)
{
	struct ctl_reply r;
	int rc = call_sub(c, "DELETE", a->argv[0], "", NULL, &r);
	if (rc == CTL_EXIT_OK && !c->set.json) {
		char *id = ctl_printable(ctl_str(r.json, "id"), 0);
		printf("deleted %s\n", id ? id : "");
		free(id);
	}
	ctl_reply_release(&r);
	return rc;
}

/* The outcome of a test as `label: value` lines. */
static void print_test(const json_t *res)
{
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_table t;
	json_t *ms = json_object_get(res, "durationMs");
	const char *answer = ctl_text(&s, json_object_get(res, "response"));
	const char *const rows[][2] = {
	    {"event:", ctl_str(res, "eventId")},
	    {"type:", ctl_str(res, "type")},
	    {"success:", ctl_text(&s, json_object_get(res, "success"))},
	    {"outcome:", ctl_str(res, "outcome")},
	    {"duration:", json_is_number(ms)
	                      ? ctl_fmt(&s, "%.1f ms", json_number_value(ms))
	                      : NULL},
	    {"detail:", ctl_str(res, "detail")},
	    /* "-" without an answer, and for an empty body. */
	    {"status:", ctl_text(&s, json_object_get(res, "status"))},
	    {"response:", answer && *answer ? answer : NULL},
	};
	ctl_table_init(&t, 2, NULL);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		ctl_table_add(&t, rows[i]);
	ctl_table_print(&t, stdout, 0);
	ctl_table_release(&t);
	ctl_scratch_release(&s);
}

int ctl_cmd_subs_test(struct ctl *c, const struct ctl_args *a)
{
	struct ctl_reply r;
	json_t *body = NULL;
	int rc;

	if (a->type) {
		body = json_pack("{s:s}", "type", a->type);
		if (!body) {
			ctl_err("--type must be UTF-8 text");
			return CTL_EXIT_USAGE;
		}
	}
	rc = call_sub(c, "POST", a->argv[0], "/test", body, &r);
	if (rc != CTL_EXIT_OK)
		goto out;
	if (!c->set.json)
		print_test(r.json);
	/* The API answered, but a receiver that failed the test is a failure
	 * for scripts too. */
	if (!json_is_true(json_object_get(r.json, "success"))) {
		ctl_err("the receiver did not acknowledge the test event");
		rc = CTL_EXIT_API;
	}
out:
	json_decref(body);
	ctl_reply_release(&r);
	return rc;
}
