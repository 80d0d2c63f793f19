/*
 * The plugin loader on real shared objects (the .so files in tests/plugins): a
 * good plugin loads; each broken one is refused with a message naming the file
 * and the reason. Then handler settings are checked against the keys the
 * plugin declares, through hkd_runtime_build.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "plugin_loader.h"
#include "runtime.h"

static const char *plugin_dir(void)
{
	const char *d = getenv("HOOKD_TEST_PLUGIN_DIR");
	return d ? d : "tests/plugins/.libs";
}

static char *so(const char *name)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf), "%s/%s.so", plugin_dir(), name);
	return buf;
}

/* Open `name`; expect refusal with every needle in the message. */
static void expect_refused(const char *name, const char *n1, const char *n2)
{
	char err[1024] = "";
	const char *path = so(name);
	struct hkd_plugin_lib *lib = hkd_plugin_open(path, err, sizeof(err));
	ck_assert_msg(lib == NULL, "%s loaded", name);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0,
	              "message does not start with the file: %s", err);
	ck_assert_msg(strstr(err, n1) != NULL, "no '%s' in: %s", n1, err);
	if (n2)
		ck_assert_msg(strstr(err, n2) != NULL, "no '%s' in: %s", n2,
		              err);
}

START_TEST(test_good)
{
	char err[1024] = "";
	struct hkd_plugin_lib *lib =
	    hkd_plugin_open(so("good"), err, sizeof(err));
	ck_assert_msg(lib != NULL, "%s", err);
	ck_assert_str_eq(lib->desc.name, "test-good");
	ck_assert_uint_eq(lib->desc.abi_major, HOOKD_ABI_MAJOR);
	ck_assert(lib->desc.flags & HOOKD_PLUGIN_THREADSAFE);
	ck_assert_ptr_nonnull(lib->desc.dispatch);
	hkd_plugin_close(lib);
}
END_TEST

/* A plugin built against the 1.0 header loads into this (newer) host and
 * keeps its 1.0 behaviour: callbacks added since are NULL in the copy. */
START_TEST(test_abi10_plugin)
{
	char err[1024] = "";
	struct hkd_plugin_lib *lib =
	    hkd_plugin_open(so("abi10"), err, sizeof(err));
	ck_assert_msg(lib != NULL, "%s", err);
	ck_assert_str_eq(lib->desc.name, "test-abi10");
	ck_assert_uint_eq(lib->desc.abi_major, 1);
	ck_assert_uint_eq(lib->desc.abi_minor, 0);
	ck_assert(lib->desc.struct_size < sizeof(struct hookd_plugin));
	ck_assert_ptr_nonnull(lib->desc.dispatch);
	ck_assert_ptr_null(lib->desc.dispatch_async);
	hkd_plugin_close(lib);
}
END_TEST

/* A plugin built against the 1.1 header loads with its asynchronous path
 * (this host is 1.2: its descriptor is as long as today's). */
START_TEST(test_abi11_plugin)
{
	char err[1024] = "";
	struct hkd_plugin_lib *lib =
	    hkd_plugin_open(so("abi11"), err, sizeof(err));
	ck_assert_msg(lib != NULL, "%s", err);
	ck_assert_str_eq(lib->desc.name, "test-abi11");
	ck_assert_uint_eq(lib->desc.abi_major, 1);
	ck_assert_uint_eq(lib->desc.abi_minor, 1);
	ck_assert_ptr_nonnull(lib->desc.dispatch);
	ck_assert_ptr_nonnull(lib->desc.dispatch_async);
	hkd_plugin_close(lib);
}
END_TEST

/* HOOKD_HOST_HAS and HOOKD_RESULT_HAS: a member is there when the table
 * or result is long enough and (for the host) the member is set. */
START_TEST(test_has_macros)
{
	struct hookd_host h;
	struct hookd_result r;

	memset(&h, 0, sizeof(h));
	h.struct_size = sizeof(h);
	ck_assert(!HOOKD_HOST_HAS(&h, complete)); /* long enough, but NULL */
	h.complete = hkd_host()->complete;
	ck_assert(HOOKD_HOST_HAS(&h, complete));
	h.struct_size = offsetof(struct hookd_host, complete); /* a 1.0 host */
	ck_assert(!HOOKD_HOST_HAS(&h, complete));
	ck_assert(HOOKD_HOST_HAS(hkd_host(), complete));

	memset(&r, 0, sizeof(r));
	r.struct_size = sizeof(r);
	ck_assert(HOOKD_RESULT_HAS(&r, status_code));
	r.struct_size = offsetof(struct hookd_result, status_code); /* 1.1 */
	ck_assert(!HOOKD_RESULT_HAS(&r, status_code));
	ck_assert(HOOKD_RESULT_HAS(&r, reason));
}
END_TEST

START_TEST(test_wrong_major)
{
	expect_refused("wrong_major", "ABI 2.0", "major differs");
}
END_TEST

START_TEST(test_newer_minor)
{
	char want[64];
	snprintf(want, sizeof(want), "ABI %d.%d, newer than this hookd's %d.%d",
	         HOOKD_ABI_MAJOR, HOOKD_ABI_MINOR + 1, HOOKD_ABI_MAJOR,
	         HOOKD_ABI_MINOR);
	expect_refused("newer_minor", want, NULL);
}
END_TEST

START_TEST(test_no_entry)
{
	expect_refused("no_entry", "not a hookd plugin",
	               "no hookd_plugin_entry symbol");
}
END_TEST

START_TEST(test_short_struct)
{
	expect_refused("short_struct", "shorter than the ABI 1.0 descriptor",
	               NULL);
}
END_TEST

START_TEST(test_refuses)
{
	expect_refused("refuses", "the plugin refused this host", NULL);
}
END_TEST

START_TEST(test_unreadable)
{
	expect_refused("does_not_exist", "cannot read plugin", "No such file");
}
END_TEST

START_TEST(test_not_a_shared_object)
{
	char err[1024] = "";
	ck_assert_ptr_null(hkd_plugin_open("/etc/hostname", err, sizeof(err)));
	ck_assert_msg(strstr(err, "/etc/hostname: cannot load plugin") == err,
	              "%s", err);
}
END_TEST

START_TEST(test_plugin_path)
{
	char *p = hkd_plugin_path("/usr/lib/hookd", "exec");
	ck_assert_str_eq(p, "/usr/lib/hookd/exec.so");
	free(p);
	p = hkd_plugin_path("/usr/lib/hookd", "/opt/my.so");
	ck_assert_str_eq(p, "/opt/my.so");
	free(p);
}
END_TEST

/* Build a runtime from text; returns it or NULL with diagnostics in d. */
static struct hkd_runtime *build(const char *text, struct hkd_diag *d)
{
	char path[] = "/tmp/hookd-test-loader-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	struct hkd_config *cfg;
	struct hkd_runtime *rt = NULL;
	char *expanded = NULL;
	const char *dir = plugin_dir();

	/* @DIR@ stands for the test plugin folder. */
	size_t n = strlen(text) + 16 * strlen(dir) + 1;
	expanded = calloc(1, n);
	for (const char *p = text; *p;) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			strcat(expanded, dir);
			p += 5;
		} else {
			strncat(expanded, p, 1);
			p++;
		}
	}
	fputs(expanded, f);
	fclose(f);
	hkd_diag_init(d);
	cfg = hkd_config_load(path, NULL, d);
	if (cfg)
		rt = hkd_runtime_build(cfg, d);
	unlink(path);
	free(expanded);
	return rt;
}

static int diag_has(const struct hkd_diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], needle))
			return 1;
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "# diag: %s\n", d->msgs[i]);
	return 0;
}

/*
 * The schedule Standard Webhooks recommends, as documented (the
 * architecture, docs/configuration.md, hookd.conf(5)): the delays before
 * the 2nd to 10th attempt — 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
 * 20 h, 24 h. Written out here, not taken from hkd_default_retry_ms.
 */
#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
static const int64_t documented_retry_ms[] = {
    5 * SEC,   5 * MIN,   30 * MIN,  2 * HOUR,  5 * HOUR,
    10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR,
};
#define N_DOCUMENTED                                                           \
	(sizeof(documented_retry_ms) / sizeof(documented_retry_ms[0]))

/* retry_ms[0..n) is the documented default schedule. */
static void expect_default_schedule(const int64_t *retry_ms, size_t n)
{
	ck_assert_uint_eq(n, N_DOCUMENTED);
	for (size_t i = 0; i < N_DOCUMENTED; i++)
		ck_assert_msg(retry_ms[i] == documented_retry_ms[i],
		              "retry %zu: %lld ms, documented %lld ms", i + 1,
		              (long long)retry_ms[i],
		              (long long)documented_retry_ms[i]);
}

START_TEST(test_default_retry_schedule)
{
	expect_default_schedule(hkd_default_retry_ms, hkd_default_retry_len);
}
END_TEST

START_TEST(test_runtime_ok_and_routes)
{
	struct hkd_diag d;
	struct hkd_match m[4];
	struct hkd_runtime *rt = build(
	    "handlers = { a = { plugin = \"@DIR@/good.so\"; mode = \"ok\"; };\n"
	    "             b = { plugin = \"@DIR@/good.so\"; concurrency = 3; "
	    "}; };\n"
	    "routes = ( { events = [\"order.*\"]; handlers = [\"a\", \"b\"]; "
	    "retry = [1, 2]; },\n"
	    "           { events = [\"*\"]; handlers = [\"b\"]; } );\n",
	    &d);
	ck_assert_msg(rt != NULL, "%s", d.n ? d.msgs[0] : "?");
	/* One library for both handlers. */
	ck_assert_uint_eq(rt->n_libs, 1);
	ck_assert_int_eq(hkd_runtime_handler(rt, "b")->concurrency, 3);
	ck_assert_uint_eq(hkd_runtime_route(rt, "order.paid", "api", m, 4), 2);
	ck_assert_str_eq(m[0].target, "a");
	ck_assert_str_eq(m[1].target, "b");
	/* b matched the first route first: its schedule is that route's. */
	ck_assert_uint_eq(m[1].n_retry, 2);
	ck_assert_int_eq(m[1].retry_ms[1], 2000);
	ck_assert_uint_eq(hkd_runtime_route(rt, "user.created", "api", m, 4),
	                  1);
	ck_assert_str_eq(m[0].target, "b");
	/* A route without `retry`: the documented default. */
	expect_default_schedule(m[0].retry_ms, m[0].n_retry);
	hkd_runtime_unref(rt);
	hkd_diag_release(&d);
}
END_TEST

START_TEST(test_runtime_plugin_errors)
{
	struct hkd_diag d;
	struct hkd_runtime *rt =
	    build("handlers = {\n"
	          "  a = { plugin = \"@DIR@/good.so\"; colour = \"red\"; };\n"
	          "  b = { plugin = \"@DIR@/good.so\"; mode = 3; };\n"
	          "  c = { plugin = \"@DIR@/bad_create.so\"; };\n"
	          "  d = { plugin = \"@DIR@/dup_name.so\"; };\n"
	          "  e = { plugin = \"@DIR@/wrong_major.so\"; };\n"
	          "};\n",
	          &d);
	ck_assert_ptr_null(rt);
	ck_assert(diag_has(
	    &d,
	    ":2: handler 'a': unknown key 'colour' for plugin 'test-good'"));
	ck_assert(diag_has(&d, ":3: handler 'b': mode must be a string"));
	ck_assert(diag_has(&d, ":4: handler 'c': bad_create always refuses"));
	ck_assert(diag_has(&d, ":5: handler 'd': "));
	ck_assert(diag_has(&d, "duplicate plugin name 'test-good'"));
	ck_assert(diag_has(&d, ":6: handler 'e': "));
	ck_assert(diag_has(&d, "wrong_major.so: plugin built for ABI 2.0"));
	ck_assert_uint_eq(d.n, 5);
	hkd_diag_release(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("loader");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_abi10_plugin);
	tcase_add_test(tc, test_abi11_plugin);
	tcase_add_test(tc, test_has_macros);
	tcase_add_test(tc, test_wrong_major);
	tcase_add_test(tc, test_newer_minor);
	tcase_add_test(tc, test_no_entry);
	tcase_add_test(tc, test_short_struct);
	tcase_add_test(tc, test_refuses);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_not_a_shared_object);
	tcase_add_test(tc, test_plugin_path);
	tcase_add_test(tc, test_default_retry_schedule);
	tcase_add_test(tc, test_runtime_ok_and_routes);
	tcase_add_test(tc, test_runtime_plugin_errors);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
