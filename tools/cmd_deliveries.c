/*
 * hookctl's delivery commands: the delivery log (deliveries list, paged)
 * and replays (deliveries retry).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

int ctl_delivery_row(struct ctl_table *t, const json_t *d, int with_event)
{
	struct ctl_scratch s = {NULL, 0, 0};
	const char *outcome = ctl_str(d, "lastOutcome");
	const char *reason = ctl_str(d, "lastReason");
	const char *last = NULL;
	int rc;

	if (*outcome && *reason)
		last = ctl_fmt(&s, "%s: %s", outcome, reason);
	else if (*outcome || *reason)
		last = *outcome ? outcome : reason;
	{
		/* Without the event columns the table has six: LAST is 6th. */
		const char *row[] = {
		    ctl_str(d, "id"),
		    ctl_str(d, "state"),
		    ctl_str(d, "target"),
		    ctl_text(&s, json_object_get(d, "attemptCount")),
		    ctl_text(&s, json_object_get(d, "nextAttemptAt")),
		    with_event ? ctl_str(d, "eventId") : last,
		    ctl_str(d, "eventType"),
		    last,
		};
		rc = ctl_table_add(t, row);
	}
	ctl_scratch_release(&s);
	return rc;
}

/* The path of one page of GET /v4/deliveries; NULL when out of memory. */
static char *page_path(struct ctl *c, const struct ctl_args *a,
                       const char *cursor)
{
	char limit[24], *q = strdup(""), *path = NULL;
	snprintf(limit, sizeof(limit), "%ld", a->limit);
	if (!q || ctl_add_param(c, &q, "state", a->state) ||
	    ctl_add_param(c, &q, "target", a->target) ||
	    ctl_add_param(c, &q, "event", a->event) ||
	    ctl_add_param(c, &q, "limit", a->limit > 0 ? limit : NULL) ||
	    ctl_add_param(c, &q, "cursor", cursor))
		goto out;
	if (asprintf(&path, "/v4/deliveries%s", q) < 0)
		path = NULL;
out:
	free(q);
	return path;
}

int ctl_cmd_deliveries_list(struct ctl *c, const struct ctl_args *a)
{
	static const char *const head[] = {"ID",       "STATE", "TARGET",
	                                   "ATTEMPTS", "NEXT",  "EVENT",
	                                   "TYPE",     "LAST"};
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_reply r;
	struct ctl_table t;
	const char *more;
	char *path = NULL;
	json_t *all = NULL, *d;
	size_t i;
	int rc = CTL_EXIT_API;

	memset(&r, 0, sizeof(r));
	ctl_table_init(&t, 8, head);
	if (c->set.json && !a->all) {
		/* One page, as it comes. */
		path = page_path(c, a, a->cursor);
		rc = ctl_request(c, "GET", path, NULL, &r);
		goto out;
	}
	if (!(all = ctl_fetch_pages(c, a, "deliveries", page_path, a->all, &s,
	                            &more)))
		goto out;
	if (c->set.json) {
		rc = ctl_print_merged(all, "deliveries");
		goto out;
	}
	json_array_foreach(all, i, d)
	{
		ctl_delivery_row(&t, d, 1);
	}
	ctl_table_show(&t, "no deliveries");
	if (more)
		fprintf(stderr, "more deliveries: add --cursor %s, or --all\n",
		        more);
	rc = CTL_EXIT_OK;
out:
	ctl_table_release(&t);
	ctl_reply_release(&r);
	json_decref(all);
	ctl_scratch_release(&s);
	free(path);
	return rc;
}

/* POST /v4/deliveries/{id}/retry. */
static int retry_one(struct ctl *c, const char *id)
{
	struct ctl_reply r;
	char *path = ctl_path(c, "/v4/deliveries/", id, "/retry"), *shown;
	int rc = ctl_request(c, "POST", path, NULL, &r);

	if (rc == CTL_EXIT_OK && !c->set.json) {
		shown = ctl_printable(ctl_str(r.json, "id"), 0);
		printf("%s: %s again\n", shown ? shown : "",
		       ctl_str(r.json, "state"));
		free(shown);
	}
	ctl_reply_release(&r);
	free(path);
	return rc;
}

/* POST /v4/deliveries/retry with the filters given. */
static int retry_dead(struct ctl *c, const struct ctl_args *a)
{
	struct ctl_reply r;
	json_t *body = json_object();
	int rc = CTL_EXIT_API;

	memset(&r, 0, sizeof(r));
	if (!body ||
	    (a->target &&
	     json_object_set_new(body, "target", json_string(a->target))) ||
	    (a->type &&
	     json_object_set_new(body, "type", json_string(a->type)))) {
		ctl_err("--target and --type must be UTF-8 text");
		rc = CTL_EXIT_USAGE;
		goto out;
	}
	rc = ctl_request(c, "POST", "/v4/deliveries/retry", body, &r);
	if (rc != CTL_EXIT_OK || c->set.json)
		goto out;
	{
		json_int_t done =
		    json_integer_value(json_object_get(r.json, "retried"));
		json_int_t left =
		    json_integer_value(json_object_get(r.json, "remaining"));
		printf("retried %" JSON_INTEGER_FORMAT " dead deliver%s\n",
		       done, done == 1 ? "y" : "ies");
		if (left > 0)
			printf("%" JSON_INTEGER_FORMAT
			       " remaining: run it again "
			       "to replay more\n",
			       left);
	}
out:
	json_decref(body);
	ctl_reply_release(&r);
	return rc;
}

int ctl_cmd_deliveries_retry(struct ctl *c, const struct ctl_args *a)
{
	if (a->all_dead == (a->argc == 1)) {
		ctl_err("give either a delivery ID or --all-dead");
		return CTL_EXIT_USAGE;
	}
	if (!a->all_dead && (a->target || a->type)) {
		ctl_err("--target and --type go with --all-dead");
		return CTL_EXIT_USAGE;
	}
	return a->all_dead ? retry_dead(c, a) : retry_one(c, a->argv[0]);
}
