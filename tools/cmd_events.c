/*
 * hookctl's event commands: publish, types (the catalog) and events show.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

/*
 * The event's data from the command line: JSON text, @FILE, - (standard
 * input) or nothing ({}). A new reference, or NULL after reporting why.
 */
static json_t *load_data(const char *arg)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
	const char *from;
	json_error_t jerr;
	json_t *data;

	if (!arg)
		return json_object();
	if (strcmp(arg, "-") == 0) {
		from = "standard input";
		data = json_loadf(stdin, flags, &jerr);
	} else if (arg[0] == '@') {
		from = arg + 1;
		data = json_load_file(arg + 1, flags, &jerr);
	} else {
		from = "the command line";
		data = json_loads(arg, flags, &jerr);
	}
	if (!data) {
		if (jerr.line > 0)
			ctl_err(
			    "data from %s is not JSON: %s (line %d, column %d)",
			    from, jerr.text, jerr.line, jerr.column);
		else
			ctl_err("data from %s: %s", from, jerr.text);
	}
	return data;
}

int ctl_cmd_publish(struct ctl *c, const struct ctl_args *a)
{
	struct ctl_reply r;
	json_t *data, *body;
	char *id = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	data = load_data(a->argc > 1 ? a->argv[1] : NULL);
	if (!data)
		return CTL_EXIT_USAGE;
	/* "o" steals data, also when the packing fails. */
	body = json_pack("{s:s, s:o}", "type", a->argv[0], "data", data);
	if (body && a->id &&
	    json_object_set_new(body, "id", json_string(a->id)) != 0) {
		json_decref(body);
		body = NULL;
	}
	if (!body) {
		ctl_err("the type and the id must be UTF-8 text");
		return CTL_EXIT_USAGE;
	}
	rc = ctl_request(c, "POST", "/v4/events", body, &r);
	if (rc != CTL_EXIT_OK || c->set.json)
		goto out;
	id = ctl_printable(ctl_str(r.json, "id"), 0);
	if (json_is_true(json_object_get(r.json, "duplicate"))) {
		printf("%s: duplicate (stored before; nothing changed)\n",
		       id ? id : "");
	} else {
		json_int_t n =
		    json_integer_value(json_object_get(r.json, "deliveries"));
		printf("%s: %" JSON_INTEGER_FORMAT " deliver%s\n", id ? id : "",
		       n, n == 1 ? "y" : "ies");
	}
out:
	free(id);
	json_decref(body);
	ctl_reply_release(&r);
	return rc;
}

int ctl_cmd_types(struct ctl *c, const struct ctl_args *a)
{
	static const char *const head[] = {"NAME", "DESCRIPTION", "REQUIRED"};
	struct ctl_reply r;
	struct ctl_table t;
	struct ctl_scratch s = {NULL, 0, 0};
	json_t *types, *e;
	size_t i;
	int rc;

	ctl_table_init(&t, 3, head);
	rc = ctl_request(c, "GET", "/v4/events", NULL, &r);
	if (rc != CTL_EXIT_OK || c->set.json)
		goto out;
	types = json_object_get(r.json, "events");
	json_array_foreach(types, i, e)
	{
		const char *row[] = {
		    ctl_str(e, "name"), ctl_str(e, "description"),
		    ctl_joined(&s, json_object_get(e, "required"))};
		ctl_table_add(&t, row);
	}
	ctl_table_show(&t, "no event types");
out:
	ctl_scratch_release(&s);
	ctl_table_release(&t);
	ctl_reply_release(&r);
	return rc;
}

/* The attempts of delivery d as an indented table, below a title line. */
static void print_attempts(const json_t *d)
{
	static const char *const head[] = {"#", "STARTED", "DURATION",
	                                   "OUTCOME", "DETAIL"};
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_table t;
	char *id = ctl_printable(ctl_str(d, "id"), 0);
	char *target = ctl_printable(ctl_str(d, "target"), 0);
	json_t *at, *list = json_object_get(d, "attempts");
	size_t i;

	ctl_table_init(&t, 5, head);
	json_array_foreach(list, i, at)
	{
		json_t *ms = json_object_get(at, "durationMs");
		const char *row[] = {
		    ctl_text(&s, json_object_get(at, "attempt")),
		    ctl_text(&s, json_object_get(at, "startedAt")),
		    json_is_number(ms)
		        ? ctl_fmt(&s, "%.1f ms", json_number_value(ms))
		        : NULL,
		    ctl_text(&s, json_object_get(at, "outcome")),
		    ctl_text(&s, json_object_get(at, "detail"))};
		ctl_table_add(&t, row);
	}
	printf("\nattempts of %s (%s):\n", id ? id : "", target ? target : "");
	if (t.nrows == 0)
		printf("  none yet\n");
	else
		ctl_table_print(&t, stdout, 2);
	ctl_table_release(&t);
	ctl_scratch_release(&s);
	free(id);
	free(target);
}

int ctl_cmd_event_show(struct ctl *c, const struct ctl_args *a)
{
	static const char *const head[] = {"ID",       "STATE", "TARGET",
	                                   "ATTEMPTS", "NEXT",  "LAST"};
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_reply r;
	struct ctl_table fields, dl;
	char *path = ctl_path(c, "/v4/events/", a->argv[0], "");
	json_t *list, *d;
	size_t i;
	int rc;

	ctl_table_init(&fields, 2, NULL);
	fields.multiline = 1;
	ctl_table_init(&dl, 6, head);
	rc = ctl_request(c, "GET", path, NULL, &r);
	if (rc != CTL_EXIT_OK || c->set.json)
		goto out;
	{
		const char *const rows[][2] = {
		    {"id:", ctl_str(r.json, "id")},
		    {"type:", ctl_str(r.json, "type")},
		    {"timestamp:", ctl_str(r.json, "timestamp")},
		    {"source:", ctl_str(r.json, "source")},
		    {"data:", ctl_pretty(&s, json_object_get(r.json, "data"))},
		};
		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
			ctl_table_add(&fields, rows[i]);
	}
	ctl_table_print(&fields, stdout, 0);
	list = json_object_get(r.json, "deliveries");
	json_array_foreach(list, i, d)
	{
		ctl_delivery_row(&dl, d, 0);
	}
	if (dl.nrows == 0) {
		printf("\nno deliveries (no handler or subscription takes this "
		       "type)\n");
		goto out;
	}
	putchar('\n');
	ctl_table_print(&dl, stdout, 0);
	json_array_foreach(list, i, d)
	{
		print_attempts(d);
	}
out:
	ctl_scratch_release(&s);
	ctl_table_release(&fields);
	ctl_table_release(&dl);
	ctl_reply_release(&r);
	free(path);
	return rc;
}
