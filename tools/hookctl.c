/*
 * hookctl: the command-line client of hookd's HTTP API.
 *
 * This file reads the command line: the global options (before the
 * command, or after its words), the command, its own options and
 * arguments, and the help texts; then it resolves the settings and runs
 * the command (cmd_*.c). See hookctl(1).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

/* The longest --timeout: a day. */
#define TIMEOUT_MAX 86400.0

enum opt_id {
	O_URL = 256,
	O_API_KEY,
	O_CONFIG,
	O_JSON,
	O_TIMEOUT,
	O_ID,
	O_TYPE,
	O_METHOD,
	O_SECRET,
	O_FORMAT,
	O_HEADER,
	O_DESCRIPTION,
	O_STATE,
	O_TARGET,
	O_EVENT,
	O_LIMIT,
	O_CURSOR,
	O_ALL,
	O_ALL_DEAD,
};

/* Every option; the first N_GLOBAL work with every command. */
static const struct option options[] = {
    {"url", required_argument, NULL, O_URL},
    {"api-key", required_argument, NULL, O_API_KEY},
    {"config", required_argument, NULL, O_CONFIG},
    {"json", no_argument, NULL, O_JSON},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {"id", required_argument, NULL, O_ID},
    {"type", required_argument, NULL, O_TYPE},
    {"method", required_argument, NULL, O_METHOD},
    {"secret", required_argument, NULL, O_SECRET},
    {"format", required_argument, NULL, O_FORMAT},
    {"header", required_argument, NULL, O_HEADER},
    {"description", required_argument, NULL, O_DESCRIPTION},
    {"state", required_argument, NULL, O_STATE},
    {"target", required_argument, NULL, O_TARGET},
    {"event", required_argument, NULL, O_EVENT},
    {"limit", required_argument, NULL, O_LIMIT},
    {"cursor", required_argument, NULL, O_CURSOR},
    {"all", no_argument, NULL, O_ALL},
    {"all-dead", no_argument, NULL, O_ALL_DEAD},
};
#define N_GLOBAL  7
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* The most options one command has of its own (its opts[], 0-ended). */
#define CMD_OPTS_MAX 7

struct command {
	const char *group; /* "subscriptions", or NULL for a one-word command */
	const char *name;
	const char *args;     /* its arguments, for the usage line */
	const char *summary;  /* one line for the list of commands */
	const char *help;     /* what it does */
	const char *opt_help; /* its own options, one a line */
	int opts[CMD_OPTS_MAX];
	int min_args, max_args; /* max_args -1: any number */
	int (*run)(struct ctl *c, const struct ctl_args *a);
};

static const struct command commands[] = {
    {
        .name = "publish",
        .args = "TYPE [JSON | @FILE | -]",
        .summary = "publish an event",
        .help =
            "Publish an event of type TYPE (POST /v4/events). Its data is\n"
            "the JSON object JSON, the contents of FILE, or standard input\n"
            "(-); {} when left out. Prints the event's id and how many\n"
            "deliveries hookd made for it, or \"duplicate\" when an event\n"
            "with this id is stored already.\n",
        .opt_help =
            "      --id ID            your own event id; publishing it again\n"
            "                         changes nothing\n",
        .opts = {O_ID},
        .min_args = 1,
        .max_args = 2,
        .run = ctl_cmd_publish,
    },
    {
        .name = "types",
        .args = "",
        .summary = "list the event types hookd accepts",
        .help = "List the event catalog (GET /v4/events): each type's name,\n"
                "description and required fields.\n",
        .opt_help = "",
        .run = ctl_cmd_types,
    },
    {
        .group = "events",
        .name = "show",
        .args = "ID",
        .summary = "show an event, its deliveries and attempts",
        .help =
            "Show event ID (GET /v4/events/ID): the event with its data, a\n"
            "table of its deliveries, and every attempt of each.\n",
        .opt_help = "",
        .min_args = 1,
        .max_args = 1,
        .run = ctl_cmd_event_show,
    },
    {
        .group = "deliveries",
        .name = "list",
        .args = "",
        .summary = "list deliveries, newest first",
        .help = "List deliveries, newest first (GET /v4/deliveries). One page\n"
                "unless --all; when more are left it says which --cursor\n"
                "fetches the next.\n",
        .opt_help =
            "      --state S          pending, retrying, succeeded or dead\n"
            "      --target T         only those of handler (or\n"
            "                         subscription) T\n"
            "      --event ID         only those of event ID\n"
            "      --limit N          per page: 1 to 500 (default 50)\n"
            "      --cursor C         start at the page a previous list named\n"
            "      --all              follow the pages to the last one\n",
        .opts = {O_STATE, O_TARGET, O_EVENT, O_LIMIT, O_CURSOR, O_ALL},
        .run = ctl_cmd_deliveries_list,
    },
    {
        .group = "deliveries",
        .name = "retry",
        .args = "ID | --all-dead",
        .summary = "replay dead deliveries",
        .help = "Replay dead delivery ID (POST /v4/deliveries/ID/retry), or\n"
                "every dead delivery (POST /v4/deliveries/retry), as many as\n"
                "hookd's queue has room for; it says how many remain.\n",
        .opt_help =
            "      --all-dead         replay every dead delivery, not one\n"
            "      --target T         with --all-dead: only handler T's\n"
            "      --type GLOB        with --all-dead: only those of these\n"
            "                         event types\n",
        .opts = {O_ALL_DEAD, O_TARGET, O_TYPE},
        .max_args = 1,
        .run = ctl_cmd_deliveries_retry,
    },
    {
        .group = "subscriptions",
        .name = "list",
        .args = "",
        .summary = "list webhook subscriptions",
        .help = "List the webhook subscriptions (GET "
                "/v4/webhook-subscriptions).\n",
        .opt_help = "",
        .run = ctl_cmd_subs_list,
    },
    {
        .group = "subscriptions",
        .name = "add",
        .args = "URL EVENT...",
        .summary = "subscribe a URL to event types",
        .help = "Subscribe URL to the event types EVENT... (names or globs\n"
                "such as 'order.*'; POST /v4/webhook-subscriptions). Prints\n"
                "the subscription with its signing secret, which hookd shows\n"
                "in full only this once.\n",
        .opt_help =
            "      --method M         POST (default), PUT, PATCH or GET\n"
            "      --secret S         your own whsec_... secret (default:\n"
            "                         generated)\n"
            "      --format F         standard (default) or kadoa\n"
            "      --header 'N: V'    send header N with value V (repeatable)\n"
            "      --description D    free text\n",
        .opts = {O_METHOD, O_SECRET, O_FORMAT, O_HEADER, O_DESCRIPTION},
        .min_args = 2,
        .max_args = -1,
        .run = ctl_cmd_subs_add,
    },
    {
        .group = "subscriptions",
        .name = "show",
        .args = "ID",
        .summary = "show one subscription",
        .help = "Show subscription ID (GET /v4/webhook-subscriptions/ID); its\n"
                "secret is masked.\n",
        .opt_help = "",
        .min_args = 1,
        .max_args = 1,
        .run = ctl_cmd_subs_show,
    },
    {
        .group = "subscriptions",
        .name = "rm",
        .args = "ID",
        .summary = "delete a subscription",
        .help =
            "Delete subscription ID (DELETE /v4/webhook-subscriptions/ID).\n"
            "Deliveries still queued for it end as dead.\n",
        .opt_help = "",
        .min_args = 1,
        .max_args = 1,
        .run = ctl_cmd_subs_rm,
    },
    {
        .group = "subscriptions",
        .name = "test",
        .args = "ID",
        .summary = "send a sample event to a subscriber now",
        .help =
            "Send one signed sample event to subscription ID now (POST\n"
            "/v4/webhook-subscriptions/ID/test) and print what the\n"
            "receiver did. Exits 1 when it did not acknowledge the event.\n",
        .opt_help =
            "      --type T           the sample's event type (default: the\n"
            "                         first in the catalog)\n",
        .opts = {O_TYPE},
        .min_args = 1,
        .max_args = 1,
        .run = ctl_cmd_subs_test,
    },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_help[] =
    "Options (before the command, or after its words):\n"
    "      --url URL          hookd's address (default: $HOOKD_URL, the\n"
    "                         configuration file, " CTL_DEFAULT_URL ")\n"
    "      --api-key KEY      the API key, sent as x-api-key (default:\n"
    "                         $HOOKD_API_KEY, the configuration file)\n"
    "      --config FILE      the configuration file (default:\n"
    "                         $XDG_CONFIG_HOME/hookctl/config, else\n"
    "                         ~/.config/hookctl/config)\n"
    "      --json             print hookd's JSON answers as they come, one\n"
    "                         line each\n"
    "      --timeout SECONDS  give up on a request after SECONDS (default 30;\n"
    "                         0: no limit)\n"
    "  -V, --version          print the version and exit\n"
    "  -h, --help             print this help, or a command's, and exit\n";

void ctl_err(const char *fmt, ...)
{
	va_list ap;
	fputs("hookctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A command's words: "publish", "subscriptions add". */
static void print_words(const struct command *cmd, FILE *out)
{
	if (cmd->group)
		fprintf(out, "%s ", cmd->group);
	fputs(cmd->name, out);
}

/* The commands of group (every command when NULL) as an aligned list. */
static void print_commands(const char *group, FILE *out)
{
	struct ctl_scratch s = {NULL, 0, 0};
	struct ctl_table t;
	ctl_table_init(&t, 2, NULL);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];
		const char *row[2];
		if (group && (!c->group || strcmp(c->group, group) != 0))
			continue;
		row[0] = ctl_fmt(&s, "%s%s%s%s%s", c->group ? c->group : "",
		                 c->group ? " " : "", c->name,
		                 *c->args ? " " : "", c->args);
		row[1] = c->summary;
		ctl_table_add(&t, row);
	}
	if (!group) {
		const char *row[] = {"help [COMMAND]",
		                     "print a command's help"};
		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, out, 2);
	ctl_table_release(&t);
	ctl_scratch_release(&s);
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: hookctl [OPTIONS] COMMAND [ARGS]\n"
	        "Publish events to hookd, look at their deliveries and manage\n"
	        "webhook subscriptions, through hookd's HTTP API.\n"
	        "\n"
	        "Commands:\n");
	print_commands(NULL, out);
	fprintf(out, "\n%s", global_help);
	fprintf(out,
	        "\nExit status: 0 success, 1 hookd refused or could not be\n"
	        "reached, 2 a wrong command line or configuration file.\n"
	        "See hookctl(1).\n");
}

static void group_help(const char *group, FILE *out)
{
	fprintf(out,
	        "Usage: hookctl %s COMMAND [OPTIONS] [ARGS]\n\nCommands:\n",
	        group);
	print_commands(group, out);
	fprintf(out,
	        "\nRun 'hookctl help %s COMMAND' for a command's options.\n",
	        group);
}

static void command_help(const struct command *cmd, FILE *out)
{
	fputs("Usage: hookctl ", out);
	print_words(cmd, out);
	fprintf(out, " [OPTIONS]%s%s\n%s\nOptions:\n%s", *cmd->args ? " " : "",
	        cmd->args, cmd->help, cmd->opt_help);
	fprintf(out, "  -h, --help             print this help and exit\n");
	fprintf(out,
	        "\nThe global options (--url, --api-key, --config, --json,\n"
	        "--timeout) work here too; see 'hookctl --help'.\n");
}

/* After a usage error: the usage line and where to read more. */
static void usage_hint(const struct command *cmd)
{
	if (!cmd) {
		fprintf(stderr, "Usage: hookctl [OPTIONS] COMMAND [ARGS]\n"
		                "Run 'hookctl --help' for the commands.\n");
		return;
	}
	fputs("Usage: hookctl ", stderr);
	print_words(cmd, stderr);
	fprintf(stderr, " [OPTIONS]%s%s\nRun 'hookctl help ",
	        *cmd->args ? " " : "", cmd->args);
	print_words(cmd, stderr);
	fprintf(stderr, "' for more.\n");
}

static int is_group(const char *word)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (commands[i].group && strcmp(commands[i].group, word) == 0)
			return 1;
	return 0;
}

/* The command named by word (and by action, in a group), or NULL. */
static const struct command *find_command(const char *word, const char *action)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];
		if (!c->group && strcmp(c->name, word) == 0)
			return c;
		if (c->group && action && strcmp(c->group, word) == 0 &&
		    strcmp(c->name, action) == 0)
			return c;
	}
	return NULL;
}

/* The names of group's commands, "list, add, show" (a text of s). */
static const char *actions_of(struct ctl_scratch *s, const char *group)
{
	const char *out = NULL;
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];
		if (!c->group || strcmp(c->group, group) != 0)
			continue;
		out = out ? ctl_fmt(s, "%s, %s", out, c->name) : c->name;
	}
	return out ? out : "";
}

/* What the command line says. */
struct parsed {
	struct ctl_flags flags;
	struct ctl_args args;
	int help, version;
};

/* seconds in 0..TIMEOUT_MAX, decimals allowed; 0 or -1. */
static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v) || v < 0 ||
	    v > TIMEOUT_MAX)
		return -1;
	*out = v;
	return 0;
}

/* A whole number from 1 up; 0 or -1. */
static int parse_count(const char *s, long *out)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < 1)
		return -1;
	*out = v;
	return 0;
}

/* --header 'Name: value' into a->headers; 0, or -1 after reporting. */
static int add_header(struct ctl_args *a, const char *text)
{
	const char *colon = strchr(text, ':'), *value;
	size_t n = colon ? (size_t)(colon - text) : 0;
	char *name;
	int rc = -1;

	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	if (n == 0 || strcspn(text, " \t\r\n") < n) {
		ctl_err("--header takes 'Name: value'");
		return -1;
	}
	if (!(name = strndup(text, n))) {
		ctl_err("out of memory");
		return -1;
	}
	value = colon + 1 + strspn(colon + 1, " \t");
	if (!a->headers && !(a->headers = json_object()))
		ctl_err("out of memory");
	else if (json_object_get(a->headers, name))
		ctl_err("--header %s is given twice", name);
	else if (json_object_set_new(a->headers, name, json_string(value)) != 0)
		ctl_err("--header must be UTF-8 text");
	else
		rc = 0;
	free(name);
	return rc;
}

/* Report the option getopt_long() refused (ch is ':' or '?'). */
static void bad_option(int ch, char **argv)
{
	const char *arg = argv[optind - 1];
	if (ch == ':')
		ctl_err("option '%s' needs a value", arg);
	else if (optopt > 0 && optopt < 256)
		ctl_err("unknown option '-%c'", optopt);
	else if (optopt >= 256)
		ctl_err("option '%s' takes no value", arg);
	else
		ctl_err("unknown option '%s'", arg);
}

/* The value of one option into p; 0, or -1 after reporting. */
static int take_option(int ch, const char *arg, struct parsed *p)
{
	struct ctl_args *a = &p->args;
	switch (ch) {
	case 'h':
		p->help = 1;
		break;
	case 'V':
		p->version = 1;
		break;
	case O_URL:
		p->flags.url = arg;
		break;
	case O_API_KEY:
		p->flags.api_key = arg;
		break;
	case O_CONFIG:
		p->flags.config = arg;
		break;
	case O_JSON:
		p->flags.json = 1;
		break;
	case O_TIMEOUT:
		if (parse_seconds(arg, &p->flags.timeout) == 0)
			break;
		ctl_err("--timeout takes seconds, from 0 (no limit) to %g",
		        TIMEOUT_MAX);
		return -1;
	case O_ID:
		a->id = arg;
		break;
	case O_TYPE:
		a->type = arg;
		break;
	case O_METHOD:
		a->method = arg;
		break;
	case O_SECRET:
		a->secret = arg;
		break;
	case O_FORMAT:
		a->format = arg;
		break;
	case O_HEADER:
		return add_header(a, arg);
	case O_DESCRIPTION:
		a->description = arg;
		break;
	case O_STATE:
		a->state = arg;
		break;
	case O_TARGET:
		a->target = arg;
		break;
	case O_EVENT:
		a->event = arg;
		break;
	case O_CURSOR:
		a->cursor = arg;
		break;
	case O_ALL:
		a->all = 1;
		break;
	case O_ALL_DEAD:
		a->all_dead = 1;
		break;
	case O_LIMIT:
		if (parse_count(arg, &a->limit) == 0)
			break;
		ctl_err("--limit takes a whole number from 1");
		return -1;
	}
	return 0;
}

/*
 * Parse the options of argv[1..argc-1] (argv[0] is the word before them)
 * into p: the global ones, and cmd's when cmd is given. Without cmd, stop
 * at the first argument that is not an option; with it, gather the
 * arguments at the end of argv. The index of the first argument, or -1
 * after reporting.
 */
static int parse_options(int argc, char **argv, const struct command *cmd,
                         struct parsed *p)
{
	struct option longopts[N_GLOBAL + CMD_OPTS_MAX + 1];
	size_t n = 0;
	int ch;

	for (size_t i = 0; i < N_GLOBAL; i++)
		longopts[n++] = options[i];
	for (size_t k = 0; cmd && k < CMD_OPTS_MAX && cmd->opts[k]; k++)
		for (size_t i = N_GLOBAL; i < N_OPTIONS; i++)
			if (options[i].val == cmd->opts[k])
				longopts[n++] = options[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));

	optind = 0; /* glibc: start afresh on this argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, cmd ? ":hV" : "+:hV", longopts,
	                         NULL)) != -1) {
		if (ch == ':' || ch == '?') {
			bad_option(ch, argv);
			return -1;
		}
		if (take_option(ch, optarg, p) != 0)
			return -1;
	}
	return optind;
}

/* hookctl help [GROUP] [COMMAND]. */
static int help(int argc, char **argv)
{
	const struct command *cmd;
	if (argc == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	cmd = find_command(argv[0], argc > 1 ? argv[1] : NULL);
	if (cmd && argc == (cmd->group ? 2 : 1)) {
		command_help(cmd, stdout);
		return CTL_EXIT_OK;
	}
	if (argc == 1 && is_group(argv[0])) {
		group_help(argv[0], stdout);
		return CTL_EXIT_OK;
	}
	ctl_err("no such command: %s%s%s", argv[0], argc > 1 ? " " : "",
	        argc > 1 ? argv[1] : "");
	usage_hint(NULL);
	return CTL_EXIT_USAGE;
}

/*
 * Find the command at argv[0] (and argv[1]). Its number of words, 0 when
 * the answer is already given (a group's help; *rc says how it went).
 */
static int command_at(int argc, char **argv, const struct command **cmd,
                      int *rc)
{
	const char *action = argc > 1 ? argv[1] : NULL;
	*cmd = find_command(argv[0], action);
	if (*cmd)
		return (*cmd)->group ? 2 : 1;
	if (is_group(argv[0]) && action &&
	    (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0)) {
		group_help(argv[0], stdout);
		*rc = CTL_EXIT_OK;
		return 0;
	}
	if (is_group(argv[0])) {
		struct ctl_scratch s = {NULL, 0, 0};
		if (action)
			ctl_err("'%s' has no command '%s' (%s)", argv[0],
			        action, actions_of(&s, argv[0]));
		else
			ctl_err("'%s' needs a command: %s", argv[0],
			        actions_of(&s, argv[0]));
		ctl_scratch_release(&s);
	} else {
		ctl_err("unknown command '%s'", argv[0]);
	}
	usage_hint(NULL);
	*rc = CTL_EXIT_USAGE;
	return 0;
}

/* The name of the n-th argument in cmd's usage ("EVENT..."); static. */
static const char *missing_arg(const struct command *cmd, int n)
{
	static char name[32];
	const char *s = cmd->args;
	for (int i = 0; i < n && *s; i++) {
		s += strcspn(s, " ");
		s += strspn(s, " ");
	}
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(s, " "), s);
	return name;
}

/* Check the settings, open libcurl and run cmd. */
static int run(const struct command *cmd, const struct parsed *p)
{
	struct ctl c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (ctl_settings_resolve(&p->flags, &c.set) != 0) {
		ctl_settings_release(&c.set);
		usage_hint(cmd);
		return CTL_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    !(c.curl = curl_easy_init())) {
		ctl_err("cannot initialise libcurl");
		rc = CTL_EXIT_API;
	} else {
		rc = cmd->run(&c, &p->args);
		if (rc == CTL_EXIT_USAGE)
			usage_hint(cmd);
	}
	if (c.curl)
		curl_easy_cleanup(c.curl);
	curl_global_cleanup();
	ctl_settings_release(&c.set);
	return rc;
}

int main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct parsed p;
	int k, words, last, rc = CTL_EXIT_USAGE;

	memset(&p, 0, sizeof(p));
	p.flags.timeout = -1;
	k = parse_options(argc, argv, NULL, &p);
	if (k < 0) {
		usage_hint(NULL);
		goto out;
	}
	if (p.version || p.help || k >= argc) {
		if (p.version)
			printf("hookctl %s\n", PACKAGE_VERSION);
		else if (p.help)
			usage(stdout);
		else {
			ctl_err("a command is needed");
			usage_hint(NULL);
			goto out;
		}
		rc = CTL_EXIT_OK;
		goto out;
	}
	if (strcmp(argv[k], "help") == 0) {
		rc = help(argc - k - 1, argv + k + 1);
		goto out;
	}
	words = command_at(argc - k, argv + k, &cmd, &rc);
	if (words == 0)
		goto out;

	/* The command's options and arguments, after its last word. */
	last = k + words - 1;
	k = parse_options(argc - last, argv + last, cmd, &p);
	if (k < 0) {
		usage_hint(cmd);
		goto out;
	}
	if (p.version || p.help) {
		if (p.version)
			printf("hookctl %s\n", PACKAGE_VERSION);
		else
			command_help(cmd, stdout);
		rc = CTL_EXIT_OK;
		goto out;
	}
	p.args.argv = argv + last + k;
	p.args.argc = argc - last - k;
	if (p.args.argc < cmd->min_args) {
		ctl_err("missing argument %s", missing_arg(cmd, p.args.argc));
		usage_hint(cmd);
		goto out;
	}
	if (cmd->max_args >= 0 && p.args.argc > cmd->max_args) {
		ctl_err("unexpected argument '%s'", p.args.argv[cmd->max_args]);
		usage_hint(cmd);
		goto out;
	}
	rc = run(cmd, &p);
out:
	json_decref(p.args.headers);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_err("cannot write the output: %s", strerror(errno));
		rc = CTL_EXIT_API;
	}
	return rc;
}
