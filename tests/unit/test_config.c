/*
 * hookd.conf reader: every class of problem is reported with file:line,
 * all problems are reported at once, and a valid file yields the values.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/hookd-test-config-XXXXXX";
static char path[512];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hookd.conf", dir);
}

static void teardown(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/hookd-test-config-XXXXXX");
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Load text; return the config (may be NULL) and the diagnostics. */
static struct hkd_config *load(const char *text, struct hkd_diag *d)
{
	write_file(path, text);
	hkd_diag_init(d);
	return hkd_config_load(path, NULL, d);
}

/* Is there a diagnostic "PATH:line: ...needle..."? */
static int has(const struct hkd_diag *d, int line, const char *needle)
{
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	for (size_t i = 0; i < d->n; i++)
		if (strncmp(d->msgs[i], prefix, strlen(prefix)) == 0 &&
		    strstr(d->msgs[i], needle))
			return 1;
	return 0;
}

static void dump(const struct hkd_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "# diag: %s\n", d->msgs[i]);
}

/* One error case: text, expected line and message part. */
struct bad_case {
	const char *text;
	int line;
	const char *needle;
};

static const struct bad_case bad_cases[] = {
	{"server = {\n  listen = \n};\n", 3, "syntax error"},
	{"bogus = 1;\n", 1, "unknown key 'bogus' in the top level"},
	{"server = {\n  port = 80;\n};\n", 2, "unknown key 'port' in server"},
	{"server = { threads = \"two\"; };\n", 1, "threads must be an integer"},
	{"\nserver = { threads = 0; };\n", 2, "threads must be between 1 and 256 (got 0)"},
	{"server = { max_body = 10; };\n", 1, "max_body must be between 64 and"},
	{"server = { listen = \"localhost\"; };\n", 1, "listen must be \"host:port\""},
	{"server = { listen = \"127.0.0.1:99999\"; };\n", 1, "listen must be"},
	{"server = { listen = 8080; };\n", 1, "listen must be a string"},
	{"server = { api_keys = [\"env:HOOKD_TEST_UNSET_VARIABLE\"]; };\n", 1,
	 "api_keys[0]: environment variable HOOKD_TEST_UNSET_VARIABLE is not set"},
	{"server = { api_keys = [\"short\"]; };\n", 1, "at least 16 characters"},
	{"server = { api_keys = [\"file:/nonexistent/key\"]; };\n", 1,
	 "cannot read secret file /nonexistent/key"},
	{"server = \"x\";\n", 1, "server must be a group"},
	{"storage = { url = \"mysql://x\"; };\n", 1, "is not supported"},
	{"storage = { url = \"memory:\"; size = 1; };\n", 1, "unknown key 'size' in storage"},
	{"workers = 0;\n", 1, "workers must be between 1 and 1024"},
	{"workers = 1.5;\n", 1, "workers must be an integer"},
	{"plugin_dir = 5;\n", 1, "plugin_dir must be a string"},
	{"event_types = ( { name = \"a b\"; } );\n", 1, "event type name \"a b\" must be"},
	{"event_types = (\n { name = \"a\"; },\n { name = \"a\"; }\n);\n", 3,
	 "event type \"a\" is defined twice"},
	{"event_types = ( { description = \"x\"; } );\n", 1, "event_types[0] has no name"},
	{"event_types = ( { name = \"a\"; colour = \"x\"; } );\n", 1,
	 "unknown key 'colour' in an event type"},
	{"event_types = ( { name = \"a\"; required = [\"data/x\"]; } );\n", 1,
	 "\"data/x\" is not a JSON pointer"},
	{"event_types = { a = 1; };\n", 1, "event_types must be a list"},
	{"handlers = { h = { }; };\n", 1, "handler 'h' has no plugin"},
	{"handlers = { h = { plugin = \"exec\"; concurrency = 0; }; };\n", 1,
	 "concurrency must be between 1 and 10000"},
	{"handlers = { h = 3; };\n", 1, "handler 'h' must be a group"},
	{"routes = ( { events = [\"a\"]; handlers = [\"nope\"]; } );\n", 1,
	 "unknown handler 'nope'"},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { handlers = [\"h\"]; } );\n",
	 2, "needs events"},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; } );\n",
	 2, "needs handlers"},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a b\"]; handlers = [\"h\"]; } );\n",
	 2, "bad event glob \"a b\""},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"\"]; handlers = [\"h\"]; } );\n",
	 2, "bad event glob \"\""},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; handlers = [\"h\"]; retry = [-1]; } );\n",
	 2, "retry[0] must be between 0 and 604800 seconds"},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; handlers = [\"h\"]; retry = 5; } );\n",
	 2, "retry must be a list"},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; handlers = [\"h\"]; retry = [\"5s\"]; } );\n",
	 2, "retry[0] must be a number of seconds"},
	{"routes = ( { events = [\"a\"]; handlers = [\"h\"]; when = 1; } );\n", 1,
	 "unknown key 'when' in a route"},
	{"routes = ( { events = [1]; handlers = [\"h\"]; } );\n", 1, "events[0] must be a string"},
	{"subscriptions = { allow_targets = [\"10.0.0.0/33\"]; };\n", 1,
	 "allow_targets[0] \"10.0.0.0/33\""},
	{"subscriptions = { colour = 1; };\n", 1, "unknown key 'colour' in subscriptions"},
	{"subscriptions = { concurrency = 0; };\n", 1, "concurrency must be between 1 and 1000"},
	{"handlers = { sub_x = { plugin = \"exec\"; }; };\n", 1,
	 "names starting with sub_ are kept for subscriptions"},
	{"sources = { a = { verify = \"magic\"; type = \"x\"; }; };\n", 1,
	 "source 'a': verify must be standard-webhooks, github, stripe, hmac, token or none"},
	{"sources = { a = { verify = \"github\"; type = \"x\"; }; };\n", 1,
	 "source 'a': verify = \"github\" needs secret (or secrets)"},
	{"sources = { a = { verify = \"none\"; type = \"x\"; }; };\n", 1,
	 "verify = \"none\" is only allowed with allow_from"},
	{"sources = { a = { verify = \"token\"; token = \"t\"; type = \"x\"; }; };\n", 1,
	 "verify = \"token\" needs header"},
	{"sources = { a = { verify = \"github\"; secret = \"s\"; }; };\n", 1,
	 "needs type (a fixed event type) or type_from"},
	{"sources = { a = { verify = \"github\"; secret = \"s\"; type_from = \"body\"; }; };\n", 1,
	 "type_from must be \"header:NAME\" or \"json:/pointer\""},
	{"sources = { a = { verify = \"hmac\"; secret = \"s\"; header = \"X\"; algorithm = \"md5\"; type = \"x\"; }; };\n", 1,
	 "algorithm must be sha1, sha256 or sha512"},
	{"sources = { a = { verify = \"none\"; allow_from = [\"1.2.3.4/40\"]; type = \"x\"; }; };\n", 1,
	 "allow_from[0] \"1.2.3.4/40\""},
	{"sources = { a = { verify = \"github\"; secret = \"env:HOOKD_TEST_UNSET_VARIABLE\"; type = \"x\"; }; };\n", 1,
	 "environment variable HOOKD_TEST_UNSET_VARIABLE is not set"},
	{"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; handlers = [\"h\"]; sources = [\"nope\"]; } );\n",
	 2, "unknown source 'nope'"},
};

START_TEST(test_bad_case)
{
	struct hkd_diag d;
	const struct bad_case *c = &bad_cases[_i];
	struct hkd_config *cfg = load(c->text, &d);
	if (cfg || !has(&d, c->line, c->needle))
		dump(&d);
	ck_assert_msg(cfg == NULL, "case %d loaded although it is wrong", _i);
	ck_assert_msg(has(&d, c->line, c->needle), "case %d: no \"%d: %s\"", _i,
	              c->line, c->needle);
	hkd_diag_release(&d);
}
END_TEST

START_TEST(test_all_problems_reported)
{
	struct hkd_diag d;
	struct hkd_config *cfg = load("bogus = 1;\n"
	                              "workers = 0;\n"
	                              "server = { threads = 999; };\n"
	                              "routes = ( { events = [\"a\"]; handlers = [\"x\"]; } );\n",
	                              &d);
	ck_assert_ptr_null(cfg);
	ck_assert(has(&d, 1, "unknown key 'bogus'"));
	ck_assert(has(&d, 2, "workers must be between"));
	ck_assert(has(&d, 3, "threads must be between"));
	ck_assert(has(&d, 4, "unknown handler 'x'"));
	ck_assert_uint_eq(d.n, 4);
	hkd_diag_release(&d);
}
END_TEST

START_TEST(test_missing_file)
{
	struct hkd_diag d;
	hkd_diag_init(&d);
	ck_assert_ptr_null(hkd_config_load("/nonexistent/hookd.conf", NULL, &d));
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msgs[0], "/nonexistent/hookd.conf: cannot read the file: file I/O error");
	hkd_diag_release(&d);
}
END_TEST

START_TEST(test_defaults)
{
	struct hkd_diag d;
	struct hkd_config *cfg = load("# nothing\n", &d);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_str_eq(cfg->listen_host, "127.0.0.1");
	ck_assert_str_eq(cfg->listen_port, "8080");
	ck_assert_int_eq(cfg->http_threads, 8);
	ck_assert_uint_eq(cfg->max_body, 1048576);
	ck_assert_int_eq(cfg->workers, 16);
	ck_assert_uint_eq(cfg->queue_size, 10000);
	ck_assert_str_eq(cfg->storage_url, HKD_DEFAULT_STORAGE);
	ck_assert_str_eq(cfg->storage_synchronous, "full");
	ck_assert_int_eq(cfg->keep_succeeded, 7 * 86400);
	ck_assert_uint_eq(cfg->n_api_keys, 0);
	ck_assert_uint_eq(cfg->n_routes, 0);
	hkd_config_free(cfg);
}
END_TEST

START_TEST(test_full)
{
	struct hkd_diag d;
	struct hkd_config *cfg;
	setenv("HOOKD_TEST_API_KEY", "0123456789abcdef-from-env", 1);
	cfg = load("server = { listen = \"[::1]:9000\"; threads = 8; max_body = 4096;\n"
	           "  api_keys = [\"env:HOOKD_TEST_API_KEY\", \"literal-key-0123456789\"]; };\n"
	           "workers = 3; queue_size = 50; shutdown_timeout = 2;\n"
	           "event_types = ( { name = \"invoice.paid\"; description = \"Paid\";\n"
	           "  required = [\"/data/amount\", \"/data/currency\"]; } );\n"
	           "handlers = { a = { plugin = \"exec\"; concurrency = 2; command = [\"/bin/true\"]; };\n"
	           "             b = { plugin = \"/opt/x.so\"; }; };\n"
	           "routes = ( { events = [\"invoice.*\", \"refund\"]; handlers = [\"a\", \"b\"];\n"
	           "             retry = [0.25, 1.0, 30.0]; },\n"
	           "           { events = \"*\"; handlers = \"b\"; } );\n",
	           &d);
	if (!cfg)
		dump(&d);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->listen_host, "::1");
	ck_assert_str_eq(cfg->listen_port, "9000");
	ck_assert_int_eq(cfg->http_threads, 8);
	ck_assert_uint_eq(cfg->max_body, 4096);
	ck_assert_uint_eq(cfg->n_api_keys, 2);
	ck_assert_str_eq(cfg->api_keys[0], "0123456789abcdef-from-env");
	ck_assert_str_eq(cfg->api_keys[1], "literal-key-0123456789");
	ck_assert_int_eq(cfg->workers, 3);
	ck_assert_uint_eq(cfg->queue_size, 50);
	ck_assert_int_eq(cfg->shutdown_timeout, 2);
	ck_assert_uint_eq(cfg->n_types, 1);
	ck_assert_str_eq(cfg->types[0].name, "invoice.paid");
	ck_assert_uint_eq(cfg->types[0].n_required, 2);
	ck_assert_str_eq(cfg->types[0].required[1], "/data/currency");
	ck_assert_ptr_nonnull(hkd_config_type(cfg, "invoice.paid"));
	ck_assert_ptr_null(hkd_config_type(cfg, "invoice"));
	ck_assert_uint_eq(cfg->n_handlers, 2);
	ck_assert_str_eq(cfg->handlers[0].name, "a");
	ck_assert_int_eq(cfg->handlers[0].concurrency, 2);
	ck_assert_str_eq(cfg->handlers[1].plugin, "/opt/x.so");
	ck_assert_uint_eq(cfg->n_routes, 2);
	ck_assert_uint_eq(cfg->routes[0].n_events, 2);
	ck_assert_uint_eq(cfg->routes[0].n_retry, 3);
	ck_assert_int_eq(cfg->routes[0].retry_ms[0], 250);
	ck_assert_int_eq(cfg->routes[0].retry_ms[2], 30000);
	/* A lone string is a one-element list; no retry means the default. */
	ck_assert_uint_eq(cfg->routes[1].n_events, 1);
	ck_assert_str_eq(cfg->routes[1].events[0], "*");
	ck_assert_ptr_null(cfg->routes[1].retry_ms);
	hkd_config_free(cfg);
	hkd_diag_release(&d);
}
END_TEST

START_TEST(test_include_relative)
{
	struct hkd_diag d;
	struct hkd_config *cfg;
	char inc[600];
	snprintf(inc, sizeof(inc), "%s/workers.conf", dir);
	write_file(inc, "workers = 7;\nbogus = 1;\n");
	cfg = load("@include \"workers.conf\"\n", &d);
	ck_assert_ptr_null(cfg);
	/* The problem names the included file and its line. */
	ck_assert_uint_eq(d.n, 1);
	ck_assert_msg(strstr(d.msgs[0], "workers.conf:2: unknown key 'bogus'") != NULL,
	              "%s", d.msgs[0]);
	hkd_diag_release(&d);
	write_file(inc, "workers = 7;\n");
	cfg = load("@include \"workers.conf\"\n", &d);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(cfg->workers, 7);
	hkd_config_free(cfg);
	hkd_diag_release(&d);
}
END_TEST

START_TEST(test_plugin_dir_override)
{
	struct hkd_diag d;
	struct hkd_config *cfg;
	write_file(path, "plugin_dir = \"/from/file\";\n");
	hkd_diag_init(&d);
	cfg = hkd_config_load(path, "/from/flag", &d);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->plugin_dir, "/from/flag");
	hkd_config_free(cfg);
	hkd_diag_release(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_case, 0,
	                    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_all_problems_reported);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_include_relative);
	tcase_add_test(tc, test_plugin_dir_override);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
