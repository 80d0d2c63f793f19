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
#include "host.h"

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

/* 16 base64 characters, to build a secret too long to be a key. */
#define B64_16 "AAAAAAAAAAAAAAAA"
/* What HOOKD_TEST_BAD_WHSEC holds: not base64 after whsec_. */
#define BAD_WHSEC_ENV "whsec_env-value-not-base64"

static const struct bad_case bad_cases[] = {
    {"server = {\n  listen = \n};\n", 3, "syntax error"},
    {"bogus = 1;\n", 1, "unknown key 'bogus' in the top level"},
    {"server = {\n  port = 80;\n};\n", 2, "unknown key 'port' in server"},
    {"server = { threads = \"two\"; };\n", 1, "threads must be an integer"},
    {"\nserver = { threads = 0; };\n", 2,
     "threads must be between 1 and 256 (got 0)"},
    {"server = { max_body = 10; };\n", 1, "max_body must be between 64 and"},
    {"server = { listen = \"localhost\"; };\n", 1,
     "listen must be \"host:port\""},
    {"server = { listen = \"127.0.0.1:99999\"; };\n", 1, "listen must be"},
    {"server = { listen = 8080; };\n", 1, "listen must be a string"},
    {"server = { api_keys = [\"env:HOOKD_TEST_UNSET_VARIABLE\"]; };\n", 1,
     "api_keys[0]: environment variable HOOKD_TEST_UNSET_VARIABLE is not set"},
    {"server = { api_keys = [\"short\"]; };\n", 1, "at least 16 characters"},
    {"server = { api_keys = [\"file:/nonexistent/key\"]; };\n", 1,
     "cannot read secret file /nonexistent/key"},
    {"server = \"x\";\n", 1, "server must be a group"},
    {"storage = { url = \"mysql://x\"; };\n", 1, "is not supported"},
    {"storage = { url = \"memory:\"; size = 1; };\n", 1,
     "unknown key 'size' in storage"},
    {"workers = 0;\n", 1, "workers must be between 1 and 1024"},
    {"workers = 1.5;\n", 1, "workers must be an integer"},
    {"plugin_dir = 5;\n", 1, "plugin_dir must be a string"},
    {"event_types = ( { name = \"a b\"; } );\n", 1,
     "event type name \"a b\" must be"},
    {"event_types = (\n { name = \"a\"; },\n { name = \"a\"; }\n);\n", 3,
     "event type \"a\" is defined twice"},
    {"event_types = ( { description = \"x\"; } );\n", 1,
     "event_types[0] has no name"},
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
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { handlers = "
     "[\"h\"]; } );\n",
     2, "needs events"},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; "
     "} );\n",
     2, "needs handlers"},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a "
     "b\"]; handlers = [\"h\"]; } );\n",
     2, "bad event glob \"a b\""},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"\"]; "
     "handlers = [\"h\"]; } );\n",
     2, "bad event glob \"\""},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; "
     "handlers = [\"h\"]; retry = [-1]; } );\n",
     2, "retry[0] must be between 0 and 604800 seconds"},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; "
     "handlers = [\"h\"]; retry = 5; } );\n",
     2, "retry must be a list"},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; "
     "handlers = [\"h\"]; retry = [\"5s\"]; } );\n",
     2, "retry[0] must be a number of seconds"},
    {"routes = ( { events = [\"a\"]; handlers = [\"h\"]; when = 1; } );\n", 1,
     "unknown key 'when' in a route"},
    {"routes = ( { events = [1]; handlers = [\"h\"]; } );\n", 1,
     "events[0] must be a string"},
    {"subscriptions = { allow_targets = [\"10.0.0.0/33\"]; };\n", 1,
     "allow_targets[0] \"10.0.0.0/33\""},
    {"subscriptions = { colour = 1; };\n", 1,
     "unknown key 'colour' in subscriptions"},
    {"subscriptions = { concurrency = 0; };\n", 1,
     "concurrency must be between 1 and 1000"},
    {"handlers = { sub_x = { plugin = \"exec\"; }; };\n", 1,
     "names starting with sub_ are kept for subscriptions"},
    {"sources = { a = { verify = \"magic\"; type = \"x\"; }; };\n", 1,
     "source 'a': verify must be standard-webhooks, github, stripe, hmac, "
     "token or none"},
    {"sources = { a = { verify = \"github\"; type = \"x\"; }; };\n", 1,
     "source 'a': verify = \"github\" needs secret (or secrets)"},
    {"sources = { a = { verify = \"none\"; type = \"x\"; }; };\n", 1,
     "verify = \"none\" is only allowed with allow_from"},
    {"sources = { a = { verify = \"token\"; token = \"t\"; type = \"x\"; }; "
     "};\n",
     1, "verify = \"token\" needs header"},
    {"sources = { a = { verify = \"github\"; secret = \"s\"; }; };\n", 1,
     "needs type (a fixed event type) or type_from"},
    {"sources = { a = { verify = \"github\"; secret = \"s\"; type_from = "
     "\"body\"; }; };\n",
     1, "type_from must be \"header:NAME\" or \"json:/pointer\""},
    {"sources = { a = { verify = \"hmac\"; secret = \"s\"; header = \"X\"; "
     "algorithm = \"md5\"; type = \"x\"; }; };\n",
     1, "algorithm must be sha1, sha256 or sha512"},
    {"sources = { a = { verify = \"none\"; allow_from = [\"1.2.3.4/40\"]; type "
     "= \"x\"; }; };\n",
     1, "allow_from[0] \"1.2.3.4/40\""},
    {"sources = { a = { verify = \"github\"; secret = "
     "\"env:HOOKD_TEST_UNSET_VARIABLE\"; type = \"x\"; }; };\n",
     1, "environment variable HOOKD_TEST_UNSET_VARIABLE is not set"},
    {"handlers = { h = { plugin = \"x\"; }; };\nroutes = ( { events = [\"a\"]; "
     "handlers = [\"h\"]; sources = [\"nope\"]; } );\n",
     2, "unknown source 'nope'"},
    /* Standard Webhooks secrets the verifier could not decode: each
     * named by its place and line, never quoted. */
    {"sources = { a = { verify = \"standard-webhooks\"; type = \"x\";\n"
     "  secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\",\n"
     "             \"whsec_!!!\"]; }; };\n",
     3,
     "source 'a': secret 2 is not whsec_<base64>, as standard-webhooks "
     "needs: it is not base64"},
    {"sources = { a = { verify = \"standard-webhooks\"; secret = "
     "\"whsec_abc\"; type = \"x\"; }; };\n",
     1, "source 'a': secret 1 is not whsec_<base64>"},
    {"sources = { a = { verify = \"standard-webhooks\"; secret = \"whsec_\"; "
     "type = \"x\"; }; };\n",
     1,
     "secret 1 is not whsec_<base64>, as standard-webhooks needs: nothing "
     "follows whsec_"},
    {"sources = { a = { verify = \"standard-webhooks\"; secret = \"\"; type = "
     "\"x\"; }; };\n",
     1,
     "secret 1 is not whsec_<base64>, as standard-webhooks needs: it is empty"},
    {"sources = { a = { verify = \"standard-webhooks\"; type = \"x\";\n"
     "  secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\";\n"
     "  secrets = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=\"; }; };\n",
     3, "secret 2 is not whsec_<base64>"},
    /* An empty secret or token of the other schemes matches nothing. */
    {"sources = { a = { verify = \"github\"; secret = \"\"; type = \"x\"; }; "
     "};\n",
     1, "source 'a': secret 1 is empty"},
    {"sources = { a = { verify = \"stripe\"; type = \"x\";\n"
     "  secrets = [\"whsec_x\",\n"
     "             \"\"]; }; };\n",
     3, "source 'a': secrets 2 is empty"},
    {"sources = { a = { verify = \"hmac\"; header = \"X-S\"; secret = \"\"; "
     "type = \"x\"; }; };\n",
     1, "source 'a': secret 1 is empty"},
    {"sources = { a = { verify = \"token\"; token = \"file:/dev/null\"; type = "
     "\"x\"; }; };\n",
     1, "source 'a': token 1 is empty (from file:/dev/null)"},
    /* 688 characters: more than 684, the base64 of 512 bytes. */
    {"sources = { a = { verify = \"standard-webhooks\"; type = \"x\"; secret = "
     "\"whsec_" B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16
         B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16
             B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16
                 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 B64_16
                     B64_16 B64_16 B64_16 B64_16 B64_16 B64_16 "\"; }; };\n",
     1,
     "secret 1 is not whsec_<base64>, as standard-webhooks needs: it is too "
     "long for a key (more than 512 bytes)"},
    /* Read from the environment (main sets it): checked once resolved. */
    {"sources = { a = { verify = \"standard-webhooks\"; type = \"x\";\n"
     "  secret = \"env:HOOKD_TEST_BAD_WHSEC\"; }; };\n",
     2,
     "source 'a': secret 1 (from env:HOOKD_TEST_BAD_WHSEC) is not "
     "whsec_<base64>"},
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
	struct hkd_config *cfg =
	    load("bogus = 1;\n"
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
	ck_assert_ptr_null(
	    hkd_config_load("/nonexistent/hookd.conf", NULL, &d));
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(
	    d.msgs[0],
	    "/nonexistent/hookd.conf: cannot read the file: file I/O error");
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
	ck_assert_int_eq(cfg->http_threads, 32);
	ck_assert_uint_eq(cfg->max_body, 1048576);
	ck_assert_int_eq(cfg->workers, 16);
	ck_assert_uint_eq(cfg->queue_size, 10000);
	ck_assert_str_eq(cfg->storage_url, HKD_DEFAULT_STORAGE);
	ck_assert_str_eq(cfg->storage_synchronous, "full");
	ck_assert_int_eq(cfg->keep_succeeded, 7 * 86400);
	ck_assert_int_eq(cfg->keep_dead, 30 * 86400);
	ck_assert_uint_eq(cfg->n_api_keys, 0);
	ck_assert_uint_eq(cfg->n_routes, 0);
	/* Subscriptions: as docs/configuration.md and hookd.conf(5) say. */
	ck_assert_uint_eq(cfg->n_sub_allow, 0);
	ck_assert_int_eq(cfg->sub_concurrency, 64);
	ck_assert_int_eq(cfg->sub_timeout, 15);
	ck_assert_int_eq(cfg->sub_disable_after, 5 * 86400);
	ck_assert_int_eq(cfg->sub_secret_grace, 86400);
	hkd_config_free(cfg);
}
END_TEST

START_TEST(test_full)
{
	struct hkd_diag d;
	struct hkd_config *cfg;
	setenv("HOOKD_TEST_API_KEY", "0123456789abcdef-from-env", 1);
	cfg = load("server = { listen = \"[::1]:9000\"; threads = 8; max_body "
	           "= 4096;\n"
	           "  api_keys = [\"env:HOOKD_TEST_API_KEY\", "
	           "\"literal-key-0123456789\"]; };\n"
	           "workers = 3; queue_size = 50; shutdown_timeout = 2;\n"
	           "event_types = ( { name = \"invoice.paid\"; description = "
	           "\"Paid\";\n"
	           "  required = [\"/data/amount\", \"/data/currency\"]; } );\n"
	           "handlers = { a = { plugin = \"exec\"; concurrency = 2; "
	           "command = [\"/bin/true\"]; };\n"
	           "             b = { plugin = \"/opt/x.so\"; }; };\n"
	           "routes = ( { events = [\"invoice.*\", \"refund\"]; "
	           "handlers = [\"a\", \"b\"];\n"
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
	ck_assert_msg(
	    strstr(d.msgs[0], "workers.conf:2: unknown key 'bogus'") != NULL,
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

/* Does any diagnostic contain needle? */
static int mentions(const struct hkd_diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], needle))
			return 1;
	return 0;
}

/*
 * Standard Webhooks secrets are checked once resolved: a bad one from the
 * environment or a file is reported at the line that names it, by its
 * place and reference, never by its value; good ones (with or without
 * whsec_) and another scheme's raw secret pass.
 */
START_TEST(test_standard_secrets)
{
	struct hkd_diag d;
	struct hkd_config *cfg;
	char file[600], text[2048], needle[1024];

	snprintf(file, sizeof(file), "%s/bad.secret", dir);
	write_file(file, "whsec_file-value*not+base64\n");
	snprintf(text, sizeof(text),
	         "sources = {\n"
	         "  good = { verify = \"standard-webhooks\"; type = \"x\";\n"
	         "    secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\",\n"
	         "               \"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\",\n"
	         "               "
	         "\"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\"]; };\n"
	         "  gh = { verify = \"github\"; secret = \"not base64!\"; type "
	         "= \"x\"; };\n"
	         "  bad = { verify = \"standard-webhooks\"; type = \"x\";\n"
	         "    secret = \"env:HOOKD_TEST_BAD_WHSEC\";\n"
	         "    secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\",\n"
	         "               \"file:%s\"]; };\n"
	         "};\n",
	         file);
	cfg = load(text, &d);
	if (d.n != 2)
		dump(&d);
	ck_assert_ptr_null(cfg);
	ck_assert(has(&d, 8,
	              "source 'bad': secret 1 (from "
	              "env:HOOKD_TEST_BAD_WHSEC) is not whsec_<base64>"));
	snprintf(needle, sizeof(needle),
	         "source 'bad': secret 3 (from file:%s) is not whsec_<base64>, "
	         "as standard-webhooks needs: it is not base64",
	         file);
	ck_assert(has(&d, 10, needle));
	ck_assert_uint_eq(d.n, 2);
	ck_assert(!mentions(&d, "env-value-not-base64"));
	ck_assert(!mentions(&d, "file-value"));
	hkd_diag_release(&d);
}
END_TEST

/*
 * Sources whose scheme carries the sender's own delivery id get it as
 * id_from unless they set one; the others have none.
 */
START_TEST(test_source_id_from_defaults)
{
	struct hkd_diag d;
	struct hkd_config *cfg = load(
	    "sources = {\n"
	    "  std = { verify = \"standard-webhooks\"; type = \"x\";\n"
	    "          secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"; "
	    "};\n"
	    "  gh = { verify = \"github\"; secret = \"s\"; type = \"x\"; };\n"
	    "  st = { verify = \"stripe\"; secret = \"s\"; type = \"x\"; };\n"
	    "  own = { verify = \"github\"; secret = \"s\"; type = \"x\";\n"
	    "          id_from = \"json:/delivery\"; };\n"
	    "  mac = { verify = \"hmac\"; secret = \"s\"; header = \"X-S\";\n"
	    "          type = \"x\"; };\n"
	    "  tok = { verify = \"token\"; token = \"t\"; header = \"A\";\n"
	    "          type = \"x\"; };\n"
	    "};\n",
	    &d);
	const struct hkd_source *s;

	if (!cfg)
		dump(&d);
	ck_assert_ptr_nonnull(cfg);
	s = hkd_config_source(cfg, "std");
	ck_assert_str_eq(s->id_from.header, "webhook-id");
	ck_assert_ptr_null(s->id_from.pointer);
	ck_assert_int_eq(s->id_from_default, 1);
	s = hkd_config_source(cfg, "gh");
	ck_assert_str_eq(s->id_from.header, "X-GitHub-Delivery");
	ck_assert_int_eq(s->id_from_default, 1);
	s = hkd_config_source(cfg, "st");
	ck_assert_ptr_null(s->id_from.header);
	ck_assert_str_eq(s->id_from.pointer, "/id");
	ck_assert_int_eq(s->id_from_default, 1);
	s = hkd_config_source(cfg, "own");
	ck_assert_ptr_null(s->id_from.header);
	ck_assert_str_eq(s->id_from.pointer, "/delivery");
	ck_assert_int_eq(s->id_from_default, 0);
	for (const char *const *n = (const char *const[]){"mac", "tok", NULL};
	     *n; n++) {
		s = hkd_config_source(cfg, *n);
		ck_assert_ptr_null(s->id_from.header);
		ck_assert_ptr_null(s->id_from.pointer);
		ck_assert_int_eq(s->id_from_default, 0);
	}
	hkd_config_free(cfg);
	hkd_diag_release(&d);
}
END_TEST

/*
 * hkd_config_sections: each key in it is what the parser accepts, and what
 * hookd.conf(5) documents.
 */

/*
 * How to put a key into each section so that the loader checks it, and how
 * the loader names the place in an "unknown key" message (NULL: the
 * handler's keys, which hkd_host_config_init checks).
 */
struct section_probe {
	const char *section;
	const char *before, *after; /* the config is before KEY = 1; after */
	const char *where;
	const char *man_title; /* the .SS block of hookd.conf.5 */
};

static const struct section_probe probes[] = {
    {"top", "", "\n", "the top level", "Top-level settings"},
    {"server", "server = { ", " };\n", "server", "server"},
    {"storage", "storage = { ", " };\n", "storage", "storage"},
    {"subscriptions", "subscriptions = { ", " };\n", "subscriptions",
     "subscriptions"},
    {"sources", "sources = { s = { ", " }; };\n", "a source", "sources"},
    {"event_types", "event_types = ( { ", " } );\n", "an event type",
     "event_types"},
    {"handlers", "handlers = { h = { ", " }; };\n", NULL, "handlers"},
    {"routes", "routes = ( { ", " } );\n", "a route", "routes"},
};

static const struct section_probe *probe_for(const char *section)
{
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		if (strcmp(probes[i].section, section) == 0)
			return &probes[i];
	return NULL;
}

/* A plugin that declares no key: every member but hookd's own is unknown. */
static const struct hookd_config_key no_keys[] = {{.name = NULL}};
static const struct hookd_plugin keyless = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "keyless",
    .keys = no_keys,
};

/*
 * Read a config with `key` put into section `p` and collect what the
 * loader (and, for handlers, the host) says about it into d.
 */
static void probe(const struct section_probe *p, const char *key,
                  struct hkd_diag *d)
{
	char text[256];
	struct hkd_config *cfg;

	snprintf(text, sizeof(text), "%s%s = 1;%s", p->before, key, p->after);
	write_file(path, text);
	hkd_diag_init(d);
	cfg = hkd_config_read(path, NULL, d);
	ck_assert_msg(cfg != NULL, "%s: \"%s\" does not parse", p->section,
	              text);
	if (!p->where) {
		struct hookd_config hc;
		ck_assert_uint_eq(cfg->n_handlers, 1);
		hkd_host_config_init(&hc, "h", cfg->handlers[0].setting,
		                     &keyless, HKD_SETTINGS_OPERATOR, path, d);
		hkd_host_config_release(&hc);
	}
	hkd_config_free(cfg);
}

/* A plugin with a secret string and a secret group (like http's headers). */
static const struct hookd_config_key secret_keys[] = {
    {.name = "token", .type = HOOKD_KEY_STRING, .flags = HOOKD_KEY_SECRET},
    {.name = "headers", .type = HOOKD_KEY_GROUP, .flags = HOOKD_KEY_SECRET},
    {.name = NULL},
};
static const struct hookd_plugin secretive = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "secretive",
    .keys = secret_keys,
};

/*
 * Settings built for HKD_SETTINGS_OPERATOR resolve env: and file: in
 * secret keys; the same settings built for HKD_SETTINGS_API (data from a
 * request) are read literally, and a reference that names nothing is no
 * error there.
 */
START_TEST(test_settings_origin)
{
	const struct hookd_host *host = hkd_host();
	struct hkd_config *cfg;
	struct hookd_config hc;
	struct hkd_diag d;
	const char *v, *name;
	char secret_file[600], text[1600];

	snprintf(secret_file, sizeof(secret_file), "%s/token", dir);
	write_file(secret_file, "from-the-file\n");
	setenv("HOOKD_TEST_ORIGIN", "from-the-env", 1);
	snprintf(text, sizeof(text),
	         "handlers = { h = { plugin = \"secretive\"; token = "
	         "\"env:HOOKD_TEST_ORIGIN\"; headers = { X-A = \"file:%s\"; "
	         "X-B = \"plain\"; }; }; };\n",
	         secret_file);
	write_file(path, text);
	hkd_diag_init(&d);
	cfg = hkd_config_read(path, NULL, &d);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(cfg->n_handlers, 1);

	ck_assert_int_eq(
	    hkd_host_config_init(&hc, "h", cfg->handlers[0].setting, &secretive,
	                         HKD_SETTINGS_OPERATOR, path, &d),
	    0);
	ck_assert_int_eq(host->config_string(&hc, "token", &v), 0);
	ck_assert_str_eq(v, "from-the-env");
	ck_assert_int_eq(host->config_item(&hc, "headers", 0, &name, &v), 0);
	ck_assert_str_eq(name, "X-A");
	ck_assert_str_eq(v, "from-the-file");
	ck_assert_int_eq(host->config_item(&hc, "headers", 1, &name, &v), 0);
	ck_assert_str_eq(v, "plain");
	hkd_host_config_release(&hc);

	ck_assert_int_eq(
	    hkd_host_config_init(&hc, "h", cfg->handlers[0].setting, &secretive,
	                         HKD_SETTINGS_API, path, &d),
	    0);
	ck_assert_int_eq(host->config_string(&hc, "token", &v), 0);
	ck_assert_str_eq(v, "env:HOOKD_TEST_ORIGIN");
	ck_assert_int_eq(host->config_item(&hc, "headers", 0, &name, &v), 0);
	snprintf(text, sizeof(text), "file:%s", secret_file);
	ck_assert_str_eq(v, text);
	hkd_host_config_release(&hc);

	/* A missing variable: an error for the operator, literal for the API.
	 */
	unsetenv("HOOKD_TEST_ORIGIN");
	ck_assert_int_eq(
	    hkd_host_config_init(&hc, "h", cfg->handlers[0].setting, &secretive,
	                         HKD_SETTINGS_API, path, &d),
	    0);
	ck_assert_uint_eq(d.n, 0);
	hkd_host_config_release(&hc);
	ck_assert_int_eq(
	    hkd_host_config_init(&hc, "h", cfg->handlers[0].setting, &secretive,
	                         HKD_SETTINGS_OPERATOR, path, &d),
	    -1);
	ck_assert(mentions(&d, "HOOKD_TEST_ORIGIN is not set"));
	hkd_host_config_release(&hc);
	hkd_diag_release(&d);
	hkd_config_free(cfg);
}
END_TEST

START_TEST(test_sections_are_what_the_parser_accepts)
{
	size_t n_sections = 0;

	for (const struct hkd_config_section *sec = hkd_config_sections;
	     sec->name; sec++, n_sections++) {
		const struct section_probe *p = probe_for(sec->name);
		struct hkd_diag d;
		char needle[128];

		ck_assert_msg(p != NULL,
		              "section '%s' has no probe in this test",
		              sec->name);
		ck_assert_msg(sec->keys && sec->keys[0],
		              "section '%s' has no keys", sec->name);
		for (const char *const *k = sec->keys; *k; k++) {
			probe(p, *k, &d);
			snprintf(needle, sizeof(needle), "unknown key '%s'",
			         *k);
			if (mentions(&d, needle))
				dump(&d);
			ck_assert_msg(!mentions(&d, needle),
			              "%s: '%s' is in the table but the parser "
			              "refuses it",
			              sec->name, *k);
			hkd_diag_release(&d);
		}
		/* A key outside the table is refused, by name, where it stands.
		 */
		probe(p, "hookd_no_such_key", &d);
		if (p->where)
			snprintf(needle, sizeof(needle),
			         "unknown key 'hookd_no_such_key' in %s",
			         p->where);
		else
			snprintf(needle, sizeof(needle),
			         "handler 'h': unknown key 'hookd_no_such_key' "
			         "for plugin 'keyless'");
		if (!has(&d, 1, needle))
			dump(&d);
		ck_assert_msg(has(&d, 1, needle), "%s: no \"1: %s\"", sec->name,
		              needle);
		hkd_diag_release(&d);
	}
	/* Every section the test knows is published, and no other. */
	ck_assert_uint_eq(n_sections, sizeof(probes) / sizeof(probes[0]));
}
END_TEST

/* One ".TP" / ".B key" entry of hookd.conf.5 and the .SS block it is in. */
struct man_entry {
	char title[64];
	char key[64];
};

/*
 * Every ".B word" line that directly follows ".TP" at the outer level of an
 * .SS block (not inside .RS/.RE, where values are listed) of the page at
 * `file`. Returns how many were stored in e[0..max).
 */
static size_t man_entries(const char *file, struct man_entry *e, size_t max)
{
	FILE *f = fopen(file, "r");
	char line[1024], title[64] = "";
	int after_tp = 0, depth = 0;
	size_t n = 0;

	ck_assert_msg(f != NULL, "cannot open %s", file);
	while (fgets(line, sizeof(line), f)) {
		char *end = line + strlen(line);
		while (end > line && (end[-1] == '\n' || end[-1] == ' '))
			*--end = '\0';
		if (strncmp(line, ".SS ", 4) == 0 ||
		    strncmp(line, ".SH", 3) == 0) {
			const char *t = line + 4;
			size_t len;
			title[0] = '\0';
			depth = 0;
			if (line[1] == 'S' && line[2] == 'S') {
				if (*t == '"')
					t++;
				len = strcspn(t, "\"");
				if (len >= sizeof(title))
					len = sizeof(title) - 1;
				memcpy(title, t, len);
				title[len] = '\0';
			}
		} else if (strcmp(line, ".RS") == 0 ||
		           strncmp(line, ".RS ", 4) == 0) {
			depth++;
		} else if (strcmp(line, ".RE") == 0 && depth > 0) {
			depth--;
		} else if (after_tp && depth == 0 && title[0] &&
		           strncmp(line, ".B ", 3) == 0 &&
		           !strchr(line + 3, ' ') &&
		           strlen(line + 3) < sizeof(e->key)) {
			ck_assert_msg(n < max, "more than %zu entries in %s",
			              max, file);
			strcpy(e[n].title, title);
			strcpy(e[n].key, line + 3);
			n++;
		}
		after_tp = strcmp(line, ".TP") == 0;
	}
	fclose(f);
	return n;
}

START_TEST(test_man_page_documents_every_key)
{
	static struct man_entry e[1024];
	const char *src = getenv("HOOKD_SRCDIR");
	char file[1024], missing[4096] = "", stale[2048] = "";
	size_t n;

	ck_assert_msg(src != NULL && src[0], "HOOKD_SRCDIR is not set");
	snprintf(file, sizeof(file), "%s/docs/man/hookd.conf.5", src);
	n = man_entries(file, e, sizeof(e) / sizeof(e[0]));
	for (const struct hkd_config_section *sec = hkd_config_sections;
	     sec->name; sec++) {
		const struct section_probe *p = probe_for(sec->name);
		ck_assert_ptr_nonnull(p);
		for (const char *const *k = sec->keys; *k; k++) {
			int found = 0;
			for (size_t i = 0; i < n && !found; i++)
				found = strcmp(e[i].title, p->man_title) == 0 &&
				        strcmp(e[i].key, *k) == 0;
			if (!found) {
				size_t used = strlen(missing);
				snprintf(missing + used, sizeof(missing) - used,
				         " %s.%s (.SS \"%s\")", sec->name, *k,
				         p->man_title);
			}
		}
	}
	/* And the other way round: no entry for a key the parser refuses. */
	for (size_t i = 0; i < n; i++)
		for (const struct hkd_config_section *sec = hkd_config_sections;
		     sec->name; sec++) {
			const struct section_probe *p = probe_for(sec->name);
			int known = 0;
			if (strcmp(e[i].title, p->man_title) != 0)
				continue;
			for (const char *const *k = sec->keys; *k; k++)
				known |= strcmp(*k, e[i].key) == 0;
			if (!known) {
				size_t used = strlen(stale);
				snprintf(stale + used, sizeof(stale) - used,
				         " %s.%s", sec->name, e[i].key);
			}
		}
	ck_assert_msg(missing[0] == '\0', "%s has no .TP/.B entry for:%s", file,
	              missing);
	ck_assert_msg(stale[0] == '\0',
	              "%s documents keys the parser refuses:%s", file, stale);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	/* Read by the env: case of bad_cases and by test_standard_secrets. */
	setenv("HOOKD_TEST_BAD_WHSEC", BAD_WHSEC_ENV, 1);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_case, 0,
	                    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_all_problems_reported);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_include_relative);
	tcase_add_test(tc, test_plugin_dir_override);
	tcase_add_test(tc, test_standard_secrets);
	tcase_add_test(tc, test_source_id_from_defaults);
	tcase_add_test(tc, test_sections_are_what_the_parser_accepts);
	tcase_add_test(tc, test_settings_origin);
	tcase_add_test(tc, test_man_page_documents_every_key);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
