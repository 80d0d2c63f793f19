/* Unit tests for lib/: base64, the one decoder of whsec_ secrets by both
 * of its rules, UTF-8 sequences, error messages, the clocks, and a
 * plugin's side of the host table against a host of the test's own. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "clock.h"
#include "errmsg.h"
#include "pluginkit.h"
#include "strmap.h"
#include "utf8.h"
#include "whsec.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_base64_padded)
{
	unsigned char out[8];
	ck_assert_int_eq(hkd_base64_decode_padded("YWI=", 4, out, sizeof(out)),
	                 2);
	ck_assert_int_eq(memcmp(out, "ab", 2), 0);
	/* The unpadded form is the plain decoder's only. */
	ck_assert_int_eq(hkd_base64_decode("YWI", 3, out, sizeof(out)), 2);
	ck_assert_int_eq(hkd_base64_decode_padded("YWI", 3, out, sizeof(out)),
	                 -1);
	ck_assert_int_eq(hkd_base64_decode_padded("", 0, out, sizeof(out)), -1);
	/* Not canonical: the unused bits of the last character are set. */
	ck_assert_int_eq(hkd_base64_decode_padded("YWJ=", 4, out, sizeof(out)),
	                 -1);
	ck_assert_int_eq(hkd_base64_decode_padded("Y=I=", 4, out, sizeof(out)),
	                 -1);
}
END_TEST

/* 32 bytes 0x00..0x1f, as base64 (padded) behind the prefix. */
#define KEY32 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

START_TEST(test_whsec_ours)
{
	unsigned char key[HKD_WHSEC_KEY_MAX];
	size_t len;

	ck_assert_int_eq(
	    hkd_whsec_decode(KEY32, &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_OK);
	ck_assert_uint_eq(len, 32);
	ck_assert_uint_eq(key[31], 31);
	/* Padding is optional for hookd's own secrets, the prefix is not. */
	ck_assert_int_eq(
	    hkd_whsec_decode(
	        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
	        &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_OK);
	ck_assert_int_eq(hkd_whsec_decode(KEY32 + 6, &hkd_whsec_ours, key,
	                                  sizeof(key), &len),
	                 HKD_WHSEC_NO_PREFIX);
	ck_assert_int_eq(
	    hkd_whsec_decode("whsec_", &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_EMPTY);
	ck_assert_int_eq(
	    hkd_whsec_decode(NULL, &hkd_whsec_ours, key, sizeof(key), &len),
	    HKD_WHSEC_EMPTY);
	/* 16 bytes: too short for Standard Webhooks. */
	ck_assert_int_eq(
	    hkd_whsec_decode("whsec_AAECAwQFBgcICQoLDA0ODw==", &hkd_whsec_ours,
	                     key, sizeof(key), &len),
	    HKD_WHSEC_BAD_LENGTH);
	ck_assert_uint_eq(len, 16);
	ck_assert_int_eq(hkd_whsec_decode("whsec_not*base64", &hkd_whsec_ours,
	                                  key, sizeof(key), &len),
	                 HKD_WHSEC_NOT_BASE64);
}
END_TEST

START_TEST(test_whsec_senders)
{
	unsigned char key[HKD_WHSEC_SENDER_MAX];
	char text[1200];
	size_t len;

	/* Senders' secrets may come without the prefix and be short. */
	ck_assert_int_eq(hkd_whsec_decode("YWI=", &hkd_whsec_senders, key,
	                                  sizeof(key), &len),
	                 HKD_WHSEC_OK);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(
	    hkd_whsec_decode(KEY32, &hkd_whsec_senders, key, sizeof(key), &len),
	    HKD_WHSEC_OK);
	/* But padded. */
	ck_assert_int_eq(
	    hkd_whsec_decode("YWI", &hkd_whsec_senders, key, sizeof(key), &len),
	    HKD_WHSEC_NOT_BASE64);
	/* Far more text than the longest key takes. */
	memset(text, 'A', 1000);
	text[1000] = '\0';
	ck_assert_int_eq(
	    hkd_whsec_decode(text, &hkd_whsec_senders, key, sizeof(key), &len),
	    HKD_WHSEC_TOO_LONG);
}
END_TEST

/* bytes, how many may be read, expected hkd_utf8_len and hkd_utf8_cut */
static const struct {
	const char *s;
	size_t avail;
	size_t len;
	int cut;
} utf8_cases[] = {
    {"a", 1, 1, 0},
    {"a", 0, 0, 0},                /* nothing may be read */
    {"\xc3\xa9", 2, 2, 0},         /* é */
    {"\xc3\xa9", 1, 0, 1},         /* cut by avail */
    {"\xc0\xaf", 2, 0, 0},         /* overlong '/' */
    {"\xc1\xbf", 2, 0, 0},         /* overlong */
    {"\xc0", 1, 0, 0},             /* overlong, whatever follows */
    {"\xe0\x9f\xbf", 3, 0, 0},     /* overlong 3-byte */
    {"\xe0\x9f", 2, 0, 0},         /* ... known so before its end */
    {"\xe0\xa0\x80", 3, 3, 0},     /* U+0800 */
    {"\xed\x9f\xbf", 3, 3, 0},     /* U+D7FF */
    {"\xed\xa0\x80", 3, 0, 0},     /* U+D800, a surrogate */
    {"\xed\xbf\xbf", 3, 0, 0},     /* U+DFFF, a surrogate */
    {"\xed\xa0", 2, 0, 0},         /* a surrogate, cut or not */
    {"\xef\xbf\xbf", 3, 3, 0},     /* U+FFFF */
    {"\xf0\x8f\xbf\xbf", 4, 0, 0}, /* overlong 4-byte */
    {"\xf0\x90\x80\x80", 4, 4, 0}, /* U+10000 */
    {"\xf0\x90\x80", 3, 0, 1},     /* U+10000 without its last byte */
    {"\xf4\x8f\xbf\xbf", 4, 4, 0}, /* U+10FFFF */
    {"\xf4\x90\x80\x80", 4, 0, 0}, /* past U+10FFFF */
    {"\xf5\x80\x80\x80", 4, 0, 0},
    {"\x80", 1, 0, 0},         /* a stray continuation */
    {"\xe2\x82", 2, 0, 1},     /* cut short */
    {"\xe2\x82\xac", 2, 0, 1}, /* € with one byte too few allowed */
    {"\xe2\x82\xac", 3, 3, 0}, /* € */
    {"\xe2\x28\xa1", 3, 0, 0}, /* not a continuation */
    {"\xe2\x82", 4, 0, 0},     /* the NUL ends it, avail notwithstanding */
};

START_TEST(test_utf8_table)
{
	const unsigned char *s = (const unsigned char *)utf8_cases[_i].s;

	ck_assert_uint_eq(hkd_utf8_len(s, utf8_cases[_i].avail),
	                  utf8_cases[_i].len);
	if (utf8_cases[_i].avail > 0)
		ck_assert_int_eq(hkd_utf8_cut(s, utf8_cases[_i].avail),
		                 utf8_cases[_i].cut);
}
END_TEST

START_TEST(test_utf8_control)
{
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\n", 1), 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\x1f", 1), 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\x7f", 1), 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)" ", 1), 0);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"~", 1), 0);
	/* C1: U+0080 and U+009F; U+00A0 (no-break space) is not. */
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc2\x80", 2),
	                 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc2\x9f", 2),
	                 1);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc2\xa0", 2),
	                 0);
	ck_assert_int_eq(hkd_utf8_control((const unsigned char *)"\xc3\xa9", 2),
	                 0);
	ck_assert_int_eq(
	    hkd_utf8_control((const unsigned char *)"\xe2\x82\xac", 3), 0);
}
END_TEST

START_TEST(test_utf8_sanitize)
{
	char s[32];

	strcpy(s, "caf\xc3\xa9 ok");
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "caf\xc3\xa9 ok");
	/* A surrogate is three bad bytes; a cut character at the end too. */
	strcpy(s, "a\xed\xa0\x80"
	          "b\xe2\x82");
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "a???b??");
	strcpy(s, "\xc0\xaf\xff");
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "???");
	s[0] = '\0';
	hkd_utf8_sanitize(s);
	ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(test_set_err)
{
	char err[8];

	hkd_set_err(err, sizeof(err), "%s %d", "port", 80);
	ck_assert_str_eq(err, "port 80");
	/* Cut to the buffer, NUL-terminated. */
	hkd_set_err(err, sizeof(err), "no such user '%s'", "nobody");
	ck_assert_str_eq(err, "no such");
	/* No buffer, or none of it: nothing is written. */
	memcpy(err, "keep", 5);
	hkd_set_err(err, 0, "%s", "lost");
	ck_assert_str_eq(err, "keep");
	hkd_set_err(NULL, sizeof(err), "%s", "lost");
	hkd_set_err(NULL, 0, "%s", "lost");
	/* One byte: room for the NUL alone. */
	hkd_set_err(err, 1, "%s", "lost");
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_errtext)
{
	ck_assert_str_eq(hkd_errtext(ENOENT), "No such file or directory");
	ck_assert_str_eq(hkd_errtext(-1), "Unknown error");
	ck_assert_str_eq(hkd_errtext(100000), "Unknown error");
}
END_TEST

START_TEST(test_format_seconds)
{
	char buf[32];

	hkd_format_seconds(buf, sizeof(buf), 30000);
	ck_assert_str_eq(buf, "30s");
	hkd_format_seconds(buf, sizeof(buf), 1500);
	ck_assert_str_eq(buf, "1.5s");
	/* Tenths only, dropped rather than rounded. */
	hkd_format_seconds(buf, sizeof(buf), 1999);
	ck_assert_str_eq(buf, "1.9s");
	hkd_format_seconds(buf, sizeof(buf), 50);
	ck_assert_str_eq(buf, "0.0s");
	hkd_format_seconds(buf, sizeof(buf), 0);
	ck_assert_str_eq(buf, "0s");
	/* Cut as snprintf cuts. */
	hkd_format_seconds(buf, 3, 86400000);
	ck_assert_str_eq(buf, "86");
}
END_TEST

START_TEST(test_clocks)
{
	int64_t wall = hkd_now_ms(), ms = hkd_mono_ms(), us = hkd_mono_us();

	/* After 2020-01-01, in ms. */
	ck_assert(wall > INT64_C(1577836800000));
	/* The monotonic clock in both units, read within a second. */
	ck_assert(us / 1000 >= ms && us / 1000 - ms < 1000);
	ck_assert(hkd_mono_ms() >= ms);
}
END_TEST

/* ---- pluginkit, against a host of this file's own ---------------------- */

/*
 * One handler's settings: "url" a string; "command" a list; "empty" an
 * empty list; "env" a group; "broken" a list whose second element cannot
 * be read; "nameless" a group entry without a name.
 */
struct item {
	const char *key, *name, *value;
};

static const struct item items[] = {
    {"url", NULL, "https://example.com/"},
    {"command", NULL, "/bin/echo"},
    {"command", NULL, "{{id}}"},
    {"env", "A", "1"},
    {"env", "B", "{{type}}"},
    {"broken", NULL, "first"},
    {"broken", NULL, NULL},
    {"nameless", NULL, "x"},
};

static int cfg_string(const struct hookd_config *cfg, const char *key,
                      const char **out)
{
	(void)cfg;
	if (strcmp(key, "url") != 0)
		return -1;
	*out = items[0].value;
	return 0;
}

static int cfg_count(const struct hookd_config *cfg, const char *key)
{
	int n = 0;

	(void)cfg;
	if (strcmp(key, "empty") == 0)
		return 0;
	for (size_t i = 0; i < LEN(items); i++)
		n += strcmp(items[i].key, key) == 0;
	return n > 0 ? n : -1;
}

static int cfg_item(const struct hookd_config *cfg, const char *key, int index,
                    const char **name_out, const char **out)
{
	(void)cfg;
	for (size_t i = 0; i < LEN(items); i++) {
		if (strcmp(items[i].key, key) != 0 || index-- > 0)
			continue;
		if (!items[i].value)
			return -1;
		if (name_out)
			*name_out = items[i].name;
		*out = items[i].value;
		return 0;
	}
	return -1;
}

/* Templates: "{{" without "}}" is wrong, "{{bad" says why, "{{mute" not. */
static int check(const char *tmpl, char *errbuf, size_t errlen)
{
	if (strstr(tmpl, "{{mute"))
		return -1;
	if (strstr(tmpl, "{{") && !strstr(tmpl, "}}")) {
		snprintf(errbuf, errlen, "unclosed \"{{\" at 0");
		return -1;
	}
	return 0;
}

/* Renders a template as itself, but for one naming "nul". */
static char *render(const char *tmpl, const struct hookd_event *ev,
                    enum hookd_render_mode mode, char *errbuf, size_t errlen)
{
	(void)ev;
	(void)mode;
	if (strstr(tmpl, "nul")) {
		if (strstr(tmpl, "why"))
			snprintf(errbuf, errlen, "a NUL byte in data.x");
		return NULL;
	}
	return strdup(tmpl);
}

static const struct hookd_host test_host = {
    .struct_size = sizeof(struct hookd_host),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .config_string = cfg_string,
    .config_count = cfg_count,
    .config_item = cfg_item,
    .render = render,
    .check_template = check,
    .free = free,
};

START_TEST(test_host_usable)
{
	struct hookd_host h = test_host;

	ck_assert_int_eq(hkd_host_usable(&h), 1);
	ck_assert_int_eq(hkd_host_usable(NULL), 0);
	/* A 1.0 host: no complete(), an older minor. Still usable. */
	h.struct_size = offsetof(struct hookd_host, complete);
	h.abi_minor = 0;
	ck_assert_int_eq(hkd_host_usable(&h), 1);
	/* A table that ends inside free, or before it. */
	h.struct_size = offsetof(struct hookd_host, free) + sizeof(h.free) - 1;
	ck_assert_int_eq(hkd_host_usable(&h), 0);
	h.struct_size = offsetof(struct hookd_host, free);
	ck_assert_int_eq(hkd_host_usable(&h), 0);
	/* Another major version, whatever its table. */
	h = test_host;
	h.abi_major = HOOKD_ABI_MAJOR + 1;
	ck_assert_int_eq(hkd_host_usable(&h), 0);
}
END_TEST

START_TEST(test_conf_string)
{
	ck_assert_str_eq(hkd_conf_string(&test_host, NULL, "url"),
	                 "https://example.com/");
	ck_assert_ptr_null(hkd_conf_string(&test_host, NULL, "proxy"));
}
END_TEST

START_TEST(test_conf_list)
{
	const char **v = (const char **)&v; /* not NULL: must be reset */
	char err[64];
	int n = 42;

	ck_assert_int_eq(hkd_conf_list(&test_host, NULL, "command", &v, &n, err,
	                               sizeof(err)),
	                 1);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(v[0], "/bin/echo");
	ck_assert_str_eq(v[1], "{{id}}");
	free(v);
	/* Not set, and set but empty: no array either way. */
	v = (const char **)&v;
	ck_assert_int_eq(
	    hkd_conf_list(&test_host, NULL, "args", &v, &n, err, sizeof(err)),
	    0);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(
	    hkd_conf_list(&test_host, NULL, "empty", &v, &n, err, sizeof(err)),
	    1);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(v);
	/* An element the host cannot give. */
	err[0] = '\0';
	ck_assert_int_eq(
	    hkd_conf_list(&test_host, NULL, "broken", &v, &n, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "broken: cannot read element 1");
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(v);
	/* The same without an error buffer. */
	ck_assert_int_eq(
	    hkd_conf_list(&test_host, NULL, "broken", &v, &n, NULL, 0), -1);
}
END_TEST

START_TEST(test_conf_group)
{
	struct hkd_conf_entry *e = NULL;
	char err[64];
	int n = 0;

	ck_assert_int_eq(
	    hkd_conf_group(&test_host, NULL, "env", &e, &n, err, sizeof(err)),
	    1);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(e[0].name, "A");
	ck_assert_str_eq(e[0].value, "1");
	ck_assert_str_eq(e[1].name, "B");
	ck_assert_str_eq(e[1].value, "{{type}}");
	free(e);
	ck_assert_int_eq(hkd_conf_group(&test_host, NULL, "headers", &e, &n,
	                                err, sizeof(err)),
	                 0);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(e);
	/* An entry without a name is no group entry. */
	ck_assert_int_eq(hkd_conf_group(&test_host, NULL, "nameless", &e, &n,
	                                err, sizeof(err)),
	                 -1);
	ck_assert_str_eq(err, "nameless: cannot read entry 0");
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_check_template)
{
	char err[64], small[12];

	strcpy(err, "untouched");
	ck_assert_int_eq(
	    hkd_check_template(&test_host, "{{id}}", err, sizeof(err), "body"),
	    0);
	ck_assert_str_eq(err, "untouched");
	ck_assert_int_eq(hkd_check_template(&test_host, "a {{id", err,
	                                    sizeof(err), "env: %s", "NAME"),
	                 -1);
	ck_assert_str_eq(err, "env: NAME: unclosed \"{{\" at 0");
	/* The host said nothing. */
	ck_assert_int_eq(hkd_check_template(&test_host, "{{mute}}", err,
	                                    sizeof(err), "command: argv[%d]",
	                                    2),
	                 -1);
	ck_assert_str_eq(err, "command: argv[2]: invalid template");
	/* Cut to the buffer, in the name or after it. */
	ck_assert_int_eq(hkd_check_template(&test_host, "{{mute}}", small,
	                                    sizeof(small), "headers: %s",
	                                    "X-Long-Name"),
	                 -1);
	ck_assert_str_eq(small, "headers: X-");
	ck_assert_int_eq(hkd_check_template(&test_host, "{{mute}}", small,
	                                    sizeof(small), "url"),
	                 -1);
	ck_assert_str_eq(small, "url: invali");
	/* No buffer: the verdict alone. */
	ck_assert_int_eq(
	    hkd_check_template(&test_host, "{{mute}}", NULL, 0, "url"), -1);
	strcpy(small, "untouched");
	ck_assert_int_eq(
	    hkd_check_template(&test_host, "{{mute}}", small, 0, "url"), -1);
	ck_assert_str_eq(small, "untouched");
}
END_TEST

START_TEST(test_render)
{
	char err[64];
	char *s;

	s = hkd_render(&test_host, "{{id}}", NULL, HOOKD_RENDER_RAW, err,
	               sizeof(err), "url");
	ck_assert_str_eq(s, "{{id}}");
	free(s);
	ck_assert_ptr_null(hkd_render(&test_host, "{{nul why}}", NULL,
	                              HOOKD_RENDER_JSON, err, sizeof(err),
	                              "headers: %s", "X-A"));
	ck_assert_str_eq(err, "headers: X-A: a NUL byte in data.x");
	ck_assert_ptr_null(hkd_render(&test_host, "{{nul}}", NULL,
	                              HOOKD_RENDER_RAW, err, sizeof(err),
	                              "body"));
	ck_assert_str_eq(err, "body: cannot render");
	ck_assert_ptr_null(hkd_render(&test_host, "{{nul}}", NULL,
	                              HOOKD_RENDER_RAW, NULL, 0, "body"));
}
END_TEST

START_TEST(test_attempt_limit)
{
	int by_event = -1;
	int64_t now = hkd_now_ms(), limit;

	/* No deadline: the timeout. */
	ck_assert_int_eq(hkd_attempt_limit(30000, 0, &by_event), 30000);
	ck_assert_int_eq(by_event, 0);
	/* A deadline later than the timeout. */
	by_event = -1;
	ck_assert_int_eq(hkd_attempt_limit(30000, now + 3600000, &by_event),
	                 30000);
	ck_assert_int_eq(by_event, 0);
	/* A sooner one: what is left of it (the clock moves on a little). */
	limit = hkd_attempt_limit(30000, now + 5000, &by_event);
	ck_assert(limit <= 5000 && limit > 4000);
	ck_assert_int_eq(by_event, 1);
	/* A passed one: nothing left. */
	limit = hkd_attempt_limit(30000, now - 1, &by_event);
	ck_assert(limit <= 0);
	ck_assert_int_eq(by_event, 1);
}
END_TEST

/* The string map against a plain array: puts, replaces, deletes and gets
 * of thousands of keys, in an order that leaves deleted markers behind,
 * agree with the array at every step; a key equal to one stored (another
 * pointer) finds it. */
START_TEST(test_strmap)
{
	enum { N = 5000 };
	static char keys[N][16];
	static int vals[N], present[N];
	struct hkd_strmap m = HKD_STRMAP_INIT;
	char probe[16];

	ck_assert_ptr_null(hkd_strmap_get(&m, "none"));
	ck_assert_ptr_null(hkd_strmap_del(&m, "none"));
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "sub_%d", i * 7919 % N);
		ck_assert_int_eq(hkd_strmap_put(&m, keys[i], &vals[i]), 0);
		present[i] = 1;
	}
	ck_assert_uint_eq(m.n, N);
	/* Delete every third, then put every sixth back. */
	for (int i = 0; i < N; i += 3) {
		ck_assert_ptr_eq(hkd_strmap_del(&m, keys[i]), &vals[i]);
		present[i] = 0;
	}
	for (int i = 0; i < N; i += 6) {
		ck_assert_int_eq(hkd_strmap_put(&m, keys[i], &vals[i]), 0);
		present[i] = 1;
	}
	for (int i = 0; i < N; i++) {
		/* Looked up by an equal string, not the stored pointer. */
		memcpy(probe, keys[i], sizeof(probe));
		ck_assert_ptr_eq(hkd_strmap_get(&m, probe),
		                 present[i] ? &vals[i] : NULL);
	}
	/* Replacing keeps one entry and takes the new key and value. */
	{
		size_t n = m.n;
		char again[16];
		int other = 0;
		memcpy(again, keys[0], sizeof(again));
		ck_assert_int_eq(hkd_strmap_put(&m, again, &other), 0);
		ck_assert_uint_eq(m.n, n);
		ck_assert_ptr_eq(hkd_strmap_get(&m, keys[0]), &other);
		ck_assert_ptr_eq(hkd_strmap_del(&m, keys[0]), &other);
	}
	/* Deleted markers never fill the table: churn on one key. */
	for (int i = 0; i < 100000; i++) {
		ck_assert_int_eq(hkd_strmap_put(&m, "churn", &vals[1]), 0);
		ck_assert_ptr_eq(hkd_strmap_del(&m, "churn"), &vals[1]);
	}
	ck_assert_uint_le(m.used * 10, m.cap * 7);
	hkd_strmap_free(&m);
	ck_assert_uint_eq(m.n, 0);
	ck_assert_ptr_null(hkd_strmap_get(&m, keys[1]));
}
END_TEST

static Suite *lib_suite(void)
{
	Suite *s = suite_create("lib");
	TCase *tc = tcase_create("lib");
	tcase_add_test(tc, test_base64_padded);
	tcase_add_test(tc, test_whsec_ours);
	tcase_add_test(tc, test_whsec_senders);
	tcase_add_loop_test(tc, test_utf8_table, 0, LEN(utf8_cases));
	tcase_add_test(tc, test_utf8_control);
	tcase_add_test(tc, test_utf8_sanitize);
	tcase_add_test(tc, test_set_err);
	tcase_add_test(tc, test_errtext);
	tcase_add_test(tc, test_format_seconds);
	tcase_add_test(tc, test_clocks);
	tcase_add_test(tc, test_host_usable);
	tcase_add_test(tc, test_conf_string);
	tcase_add_test(tc, test_conf_list);
	tcase_add_test(tc, test_conf_group);
	tcase_add_test(tc, test_check_template);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_attempt_limit);
	tcase_add_test(tc, test_strmap);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
