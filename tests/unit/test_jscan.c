/*
 * Unit tests for core/jscan.c, the validating JSON scanner of the publish
 * path. Every case states what the scanner and jansson should say, and is
 * also held against jansson itself (tests/jscan_oracle.h), so that a table
 * written wrong fails as loudly as a scanner gone wrong. Texts are passed
 * in buffers of exactly their length (ASan catches a read past the end).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../jscan_oracle.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A literal with its length (it may hold NUL bytes). */
#define T(lit) lit, sizeof(lit) - 1

/* S: the scanner vouches for it and jansson accepts it. N: neither. U:
 * jansson accepts it, the scanner cannot tell (0). */
enum { S, N, U };

struct valid_case {
	const char *name;
	const char *text;
	size_t len;
	int expect;
};

static const struct valid_case valid_cases[] = {
    /* grammar */
    {"empty object", T("{}"), S},
    {"empty array", T("[]"), S},
    {"white space around", T(" \t\r\n{ \"a\" :\t[ 1 ,\n2 ] } \r\n"), S},
    {"empty text", T(""), N},
    {"only white space", T(" \t\r\n"), N},
    {"bare integer", T("1"), S},
    {"bare string", T("\"s\""), S},
    {"bare true", T("true"), S},
    {"bare false", T("false"), S},
    {"bare null", T(" null "), S},
    {"zero", T("0"), S},
    {"minus zero", T("-0"), S},
    {"truex", T("truex"), N},
    {"[truex]", T("[truex]"), N},
    {"tru", T("tru"), N},
    {"nul", T("[nul]"), N},
    {"True", T("True"), N},
    {"NaN", T("NaN"), N},
    {"Infinity", T("-Infinity"), N},
    {"two literals", T("[true false]"), N},
    {"literal then digit", T("[true1]"), N},
    {"trailing comma array", T("[1,]"), N},
    {"trailing comma object", T("{\"a\":1,}"), N},
    {"leading comma", T("[,1]"), N},
    {"lone comma in object", T("{,}"), N},
    {"double comma", T("[1,,2]"), N},
    {"missing comma", T("[1 2]"), N},
    {"missing colon", T("{\"a\" 1}"), N},
    {"missing value", T("{\"a\":}"), N},
    {"number as key", T("{1:2}"), N},
    {"single quotes", T("{'a':1}"), N},
    {"unclosed array", T("[1"), N},
    {"unclosed object", T("{\"a\":1"), N},
    {"lone bracket", T("["), N},
    {"closing only", T("]"), N},
    {"mismatched", T("[1}"), N},
    {"two values", T("1 2"), N},
    {"two objects", T("{} {}"), N},
    {"value then garbage", T("[1]x"), N},
    {"comment", T("/*c*/1"), N},
    {"vertical tab", T("\v1"), N},
    {"form feed", T("\f1"), N},
    {"NUL only", T("\0"), N},
    /* jansson 2.14 drops a NUL that follows a number or a literal (its
     * lexer reads the byte again after putting it back, and a NUL in its
     * buffer means "read more"); the scanner refuses every NUL. */
    {"NUL after a number", T("1\0"), U},
    {"NUL inside an array", T("[1\0]"), U},
    {"NUL after an array", T("[1]\0"), N},
    {"NUL before value", T("\0 1"), N},
    {"byte order mark", T("\xef\xbb\xbf{}"), N},
    {"no-break space",
     T("\xc2\xa0"
       "1"),
     N},
    {"leading zero", T("01"), N},
    {"negative leading zero", T("-01"), N},
    {"double zero", T("00"), N},
    {"1.", T("1."), N},
    {"1.e5", T("1.e5"), N},
    {".5", T(".5"), N},
    {"1e", T("1e"), N},
    {"1e+", T("1e+"), N},
    {"1E-", T("[1E-]"), N},
    {"lone minus", T("-"), N},
    {"minus in array", T("[-]"), N},
    {"plus sign", T("+1"), N},
    {"double minus", T("--1"), N},
    {"hex", T("0x10"), N},
    {"two dots", T("1.5.3"), N},
    {"real", T("1.5e+10"), S},
    {"real E-", T("1E-5"), S},
    {"negative real", T("-0.0e0"), S},
    {"exponent with zero", T("1e05"), S},
    {"integer with exponent", T("123456789012345678e5"), S},
    /* strings */
    {"every escape", T("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""), S},
    {"escape \\a", T("\"\\a\""), N},
    {"escape \\x", T("\"\\x41\""), N},
    {"escape \\'", T("\"\\'\""), N},
    {"escape \\U", T("\"\\U0041\""), N},
    {"escape \\0", T("\"\\0\""), N},
    {"escaped closing quote", T("\"\\\""), N},
    {"backslash at end", T("\"\\"), N},
    {"\\u0041", T("\"\\u0041\""), S},
    {"\\u hex cases", T("\"\\u00e9\\u00E9\\uFFFF\""), S},
    {"\\u three digits", T("\"\\u004\""), N},
    {"\\u not hex", T("\"\\u00G1\""), N},
    {"\\u nothing", T("\"\\u\""), N},
    {"\\u cut by the end", T("\"\\u12"), N},
    {"surrogate pair", T("\"\\uD83D\\uDE00\""), S},
    {"surrogate pair lower case", T("\"\\ud83d\\ude00\""), S},
    {"first surrogate pair", T("\"\\uD800\\uDC00\""), S},
    {"last surrogate pair", T("\"\\uDBFF\\uDFFF\""), S},
    {"lone high surrogate", T("\"\\uD83D\""), N},
    {"high surrogate at the end", T("\"\\uD83D"), N},
    {"high surrogate then text", T("\"\\uD83Dx\""), N},
    {"high then high", T("\"\\uD83D\\uD83D\""), N},
    {"high then BMP", T("\"\\uD83D\\u0041\""), N},
    {"high then short", T("\"\\uD83D\\uDE0\""), N},
    {"high then \\n", T("\"\\uD83D\\n\""), N},
    {"high then \\u cut", T("\"\\uD83D\\u"), N},
    {"lone low surrogate", T("\"\\uDE00\""), N},
    {"low then high", T("\"\\uDC00\\uD800\""), N},
    {"\\u0000", T("\"\\u0000\""), N},
    {"\\u0000 inside", T("\"a\\u0000b\""), N},
    {"\\u0000 in a member", T("{\"a\":\"\\u0000\"}"), N},
    {"\\u0001", T("\"\\u0001\""), S},
    {"raw 0x01", T("\"\x01\""), N},
    {"raw 0x1f", T("\"\x1f\""), N},
    {"raw tab", T("\"\t\""), N},
    {"raw newline", T("\"\n\""), N},
    {"raw NUL", T("\"a\0b\""), N},
    {"raw DEL", T("\"\x7f\""), S},
    {"unterminated", T("\"abc"), N},
    {"U+0080", T("\"\xc2\x80\""), S},
    {"U+07FF", T("\"\xdf\xbf\""), S},
    {"U+0800", T("\"\xe0\xa0\x80\""), S},
    {"U+D7FF", T("\"\xed\x9f\xbf\""), S},
    {"U+E000", T("\"\xee\x80\x80\""), S},
    {"U+FFFF", T("\"\xef\xbf\xbf\""), S},
    {"U+10000", T("\"\xf0\x90\x80\x80\""), S},
    {"U+10FFFF", T("\"\xf4\x8f\xbf\xbf\""), S},
    {"overlong 2 C0", T("\"\xc0\x80\""), N},
    {"overlong 2 C1", T("\"\xc1\xbf\""), N},
    {"overlong 3 zero", T("\"\xe0\x80\x80\""), N},
    {"overlong 3 U+07FF", T("\"\xe0\x9f\xbf\""), N},
    {"overlong 4 zero", T("\"\xf0\x80\x80\x80\""), N},
    {"overlong 4 U+FFFF", T("\"\xf0\x8f\xbf\xbf\""), N},
    {"encoded surrogate D800", T("\"\xed\xa0\x80\""), N},
    {"encoded surrogate DFFF", T("\"\xed\xbf\xbf\""), N},
    {"U+110000", T("\"\xf4\x90\x80\x80\""), N},
    {"F5", T("\"\xf5\x80\x80\x80\""), N},
    {"F8 five bytes", T("\"\xf8\x88\x80\x80\x80\""), N},
    {"FE", T("\"\xfe\""), N},
    {"FF", T("\"\xff\""), N},
    {"2 bytes cut by the end", T("\"\xc3"), N},
    {"3 bytes cut by the end", T("\"\xe2\x82"), N},
    {"4 bytes cut by the end", T("\"\xf0\x9f\x98"), N},
    {"lead byte at the end", T("\"\xf0"), N},
    {"2 bytes cut by the quote", T("\"\xc3\""), N},
    {"3 bytes cut by the quote", T("\"\xe2\x82\""), N},
    {"4 bytes cut by the quote", T("\"\xf0\x9f\x98\""), N},
    {"bare lead byte", T("\xc3"), N},
    {"stray continuation", T("\"\x80\""), N},
    {"stray continuation BF",
     T("\"a\xbf"
       "b\""),
     N},
    {"continuation after a character", T("\"\xc3\xa9\xa9\""), N},
    {"2 bytes, bad second", T("\"\xc3\x41\""), N},
    {"3 bytes, bad second", T("\"\xe2\x28\xa1\""), N},
    {"3 bytes, bad third", T("\"\xe2\x82\x28\""), N},
    {"4 bytes, bad fourth", T("\"\xf0\x9f\x98\x41\""), N},
    {"invalid UTF-8 in a key", T("{\"\xc0\x80\":1}"), N},
    {"invalid UTF-8 outside strings", T("[1,\xc3\xa9]"), N},
    {"UTF-8 key", T("{\"\xc3\xa9\":1}"), S},
    {"escaped key", T("{\"\\u0061\":1}"), U},
    {"escaped key \\n", T("{\"a\\n\":1}"), U},
    {"escaped key, nested", T("[{\"b\":{\"\\/\":1}}]"), U},
    {"escape in a value", T("{\"a\":\"\\n\\u00e9\"}"), S},
    /* duplicates */
    {"duplicate", T("{\"a\":1,\"a\":2}"), N},
    {"duplicate, not next", T("{\"a\":1,\"b\":2,\"a\":3}"), N},
    {"duplicate, nested", T("{\"x\":{\"a\":1,\"a\":1}}"), N},
    {"duplicate in an array", T("[{\"a\":1,\"a\":1}]"), N},
    {"duplicate empty name", T("{\"\":1,\"\":2}"), N},
    {"duplicate UTF-8 name", T("{\"\xc3\xa9\":1,\"\xc3\xa9\":2}"), N},
    {"duplicate after a nested object", T("{\"a\":{\"b\":1},\"a\":2}"), N},
    {"duplicate after a nested one closes",
     T("{\"a\":{\"x\":{\"y\":1}},\"b\":[{\"c\":1}],\"b\":2}"), N},
    {"duplicate, escaped", T("{\"a\":1,\"\\u0061\":2}"), N},
    {"prefix names", T("{\"a\":1,\"ab\":2,\"abc\":3}"), S},
    {"prefix names, reverse", T("{\"ab\":1,\"a\":2}"), S},
    {"same name in sibling objects", T("[{\"a\":1},{\"a\":2}]"), S},
    {"same name in sibling members", T("{\"x\":{\"a\":1},\"y\":{\"a\":2}}"), S},
    {"same name as the parent's", T("{\"a\":{\"a\":{\"a\":1}}}"), S},
    {"the parent's next name inside", T("{\"a\":{\"b\":1},\"b\":{\"a\":2}}"),
     S},
    /* numbers at the limits */
    {"18 digits", T("123456789012345678"), S},
    {"-18 digits", T("-999999999999999999"), S},
    {"19 digits", T("1234567890123456789"), U},
    {"INT64_MAX", T("9223372036854775807"), U},
    {"INT64_MIN", T("-9223372036854775808"), U},
    {"past INT64_MAX", T("9223372036854775808"), N},
    {"past INT64_MIN", T("-9223372036854775809"), N},
    {"20 digits", T("[99999999999999999999]"), N},
    {"exponent 2 digits", T("1e99"), S},
    {"exponent -2 digits", T("-1.5E-99"), S},
    {"exponent +2 digits", T("1e+99"), S},
    {"exponent 3 digits", T("1e100"), U},
    {"exponent -3 digits", T("1e-100"), U},
    {"exponent 3 digits, leading zero", T("1e099"), U},
    {"real overflow", T("1e999"), N},
    {"real overflow, negative", T("[-1e400]"), N},
    {"real underflow", T("1e-400"), U},
};

START_TEST(test_valid_table)
{
	const struct valid_case *c = &valid_cases[_i];
	char *text = oracle_copy(c->text, c->len);
	json_t *root;
	const char *msg;
	int scan;

	ck_assert_ptr_nonnull(text);
	scan = hkd_jscan_valid(text, c->len);
	root = json_loadb(text, c->len, ORACLE_FLAGS, NULL);
	ck_assert_msg(scan == (c->expect == S), "%s: hkd_jscan_valid says %d",
	              c->name, scan);
	ck_assert_msg((root != NULL) == (c->expect != N),
	              "%s: jansson %s it (the table is wrong)", c->name,
	              root ? "accepts" : "refuses");
	ck_assert_msg(hkd_jscan_object(text, c->len) ==
	                  (scan && json_is_object(root)),
	              "%s: hkd_jscan_object disagrees", c->name);
	json_decref(root);
	msg = oracle_valid(text, c->len);
	ck_assert_msg(msg == NULL, "%s: %s", c->name, msg);
	free(text);
}
END_TEST

/* A malloc'd text: head, then the piece repeated n times, then tail. */
static char *repeat(const char *head, const char *piece, size_t n,
                    const char *tail)
{
	size_t hl = strlen(head), pl = strlen(piece), tl = strlen(tail);
	char *s = malloc(hl + n * pl + tl + 1);

	ck_assert_ptr_nonnull(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(s + hl + i * pl, piece, pl);
	memcpy(s + hl + n * pl, tail, tl + 1);
	return s;
}

/* hkd_jscan_valid on s says scan, jansson accepts, and they agree. */
static void expect_valid(const char *what, char *s, int scan)
{
	size_t n = strlen(s);
	json_t *root = json_loadb(s, n, ORACLE_FLAGS, NULL);
	const char *msg = oracle_valid(s, n);

	ck_assert_msg(root != NULL, "%s: jansson refuses it", what);
	ck_assert_msg(hkd_jscan_valid(s, n) == scan, "%s: scanner says %d",
	              what, !scan);
	ck_assert_msg(msg == NULL, "%s: %s", what, msg);
	json_decref(root);
	free(s);
}

/* Nested arrays and objects: HKD_JSCAN_DEPTH levels are scanned, one more
 * is left to jansson. */
START_TEST(test_depth)
{
	size_t d = HKD_JSCAN_DEPTH;
	char *arr, *tail;

	tail = repeat("", "]", d, "");
	arr = repeat("", "[", d, tail);
	expect_valid("arrays 64, closed", arr, 1);
	free(tail);
	tail = repeat("1", "]", d + 1, "");
	expect_valid("arrays 65", repeat("", "[", d + 1, tail), 0);
	free(tail);
	tail = repeat("1", "}", d, "");
	expect_valid("objects 64", repeat("", "{\"a\":", d, tail), 1);
	free(tail);
	tail = repeat("{}", "}", d, "");
	expect_valid("objects 65", repeat("", "{\"a\":", d, tail), 0);
	free(tail);
	tail = repeat("null", "}]", d / 2, "");
	expect_valid("mixed 64", repeat("", "[{\"a\":", d / 2, tail), 1);
	free(tail);
	tail = repeat("[]", "}]", d / 2, "");
	expect_valid("mixed 65", repeat("", "[{\"a\":", d / 2, tail), 0);
	free(tail);
}
END_TEST

/* Writes "k<i>":0 members (a comma before all but the first) to s; the
 * end of what it wrote. */
static char *members(char *s, size_t from, size_t n)
{
	for (size_t i = from; i < from + n; i++)
		s += sprintf(s, "%s\"k%zu\":0", i > from ? "," : "", i);
	return s;
}

/* The key budget: HKD_JSCAN_KEYS names open at once (over all levels);
 * names of closed objects no longer count. */
START_TEST(test_key_budget)
{
	size_t k = HKD_JSCAN_KEYS;
	char *s = malloc(64 * 1024), *p;

	ck_assert_ptr_nonnull(s);
	/* one object of 512 names, then of 513 */
	for (size_t extra = 0; extra < 2; extra++) {
		p = s;
		*p++ = '{';
		p = members(p, 0, k + extra);
		strcpy(p, "}");
		expect_valid(extra ? "513 names" : "512 names", strdup(s),
		             !extra);
	}
	/* 256 open outside, 256 or 257 in the innermost object */
	for (size_t extra = 0; extra < 2; extra++) {
		p = s;
		*p++ = '{';
		p = members(p, 0, k / 2 - 1);
		p += sprintf(p, ",\"in\":{");
		p = members(p, 0, k / 2 + extra);
		strcpy(p, "}}");
		expect_valid(extra ? "513 open names" : "512 open names",
		             strdup(s), !extra);
	}
	/* three sibling objects of 400 names each, inside one of 400 */
	p = s;
	p += sprintf(p, "{\"list\":[");
	for (size_t i = 0; i < 3; i++) {
		p += sprintf(p, "%s{", i ? "," : "");
		p = members(p, 0, 400);
		*p++ = '}';
	}
	p += sprintf(p, "],");
	p = members(p, 0, 399);
	strcpy(p, "}");
	expect_valid("closed names are released", strdup(s), 1);
	free(s);
}
END_TEST

/* Integer and fraction parts of 200 digits are scanned, 201 are not. */
START_TEST(test_long_reals)
{
	char *digits200 = repeat("", "1", 200, ""),
	     *digits201 = repeat("", "1", 201, "");
	char buf[512];

	snprintf(buf, sizeof(buf), "%s.5", digits200);
	expect_valid("int part 200", strdup(buf), 1);
	snprintf(buf, sizeof(buf), "[%s.5]", digits201);
	expect_valid("int part 201", strdup(buf), 0);
	snprintf(buf, sizeof(buf), "-0.%s", digits200);
	expect_valid("fraction 200", strdup(buf), 1);
	snprintf(buf, sizeof(buf), "0.%s", digits201);
	expect_valid("fraction 201", strdup(buf), 0);
	snprintf(buf, sizeof(buf), "%s.%se99", digits200, digits200);
	expect_valid("largest scanned real", strdup(buf), 1);
	snprintf(buf, sizeof(buf), "-0.%se-99", digits200);
	expect_valid("smallest scanned real", strdup(buf), 1);
	snprintf(buf, sizeof(buf), "%se99", digits200);
	expect_valid("int part 200 with exponent", strdup(buf), 1);
	free(digits200);
	free(digits201);
}
END_TEST

/* A publish body: what hkd_jscan_publish says and finds (NULL: absent). */
struct publish_case {
	const char *name;
	const char *text;
	int ok;
	const char *type, *id, *data;
};

static const struct publish_case publish_cases[] = {
    {"type only", "{\"type\":\"a.b\"}", 1, "a.b", NULL, NULL},
    {"all three",
     "{\"type\":\"order.created\",\"id\":\"x-1\",\"data\":{\"k\":[1,2]}}", 1,
     "order.created", "x-1", "{\"k\":[1,2]}"},
    {"white space, data first", " \n{ \"data\" : { } ,\t\"type\" : \"t\" }\r\n",
     1, "t", NULL, "{ }"},
    {"empty id", "{\"type\":\"t\",\"id\":\"\"}", 1, "t", "", NULL},
    {"names are not checked", "{\"type\":\"-bad name\"}", 1, "-bad name", NULL,
     NULL},
    {"UTF-8 type", "{\"type\":\"\xc3\xa9t\xc3\xa9\"}", 1, "\xc3\xa9t\xc3\xa9",
     NULL, NULL},
    {"type and id inside data",
     "{\"data\":{\"type\":\"x\",\"id\":\"y\",\"data\":{}},\"type\":\"t\"}", 1,
     "t", NULL, "{\"type\":\"x\",\"id\":\"y\",\"data\":{}}"},
    {"brackets and quotes in data strings",
     "{\"data\":{\"s\":\"}\\\"{]\",\"t\":[\"]\"]},\"id\":\"i\",\"type\":\"t\"}",
     1, "t", "i", "{\"s\":\"}\\\"{]\",\"t\":[\"]\"]}"},
    {"escapes in data", "{\"type\":\"t\",\"data\":{\"a\":\"\\u00e9\"}}", 1, "t",
     NULL, "{\"a\":\"\\u00e9\"}"},
    {"unknown member", "{\"type\":\"a\",\"x\":1}", 0, NULL, NULL, NULL},
    {"unknown member first", "{\"tpye\":\"a\",\"type\":\"a\"}", 0, NULL, NULL,
     NULL},
    {"type missing", "{\"id\":\"x\"}", 0, NULL, NULL, NULL},
    {"type missing, empty", "{}", 0, NULL, NULL, NULL},
    {"type a number", "{\"type\":1}", 0, NULL, NULL, NULL},
    {"type null", "{\"type\":null}", 0, NULL, NULL, NULL},
    {"type an array", "{\"type\":[\"a\"]}", 0, NULL, NULL, NULL},
    {"type an object", "{\"type\":{}}", 0, NULL, NULL, NULL},
    {"type with escapes", "{\"type\":\"a\\u002eb\"}", 0, NULL, NULL, NULL},
    {"type with \\/", "{\"type\":\"a\\/b\"}", 0, NULL, NULL, NULL},
    {"id a number", "{\"type\":\"a\",\"id\":5}", 0, NULL, NULL, NULL},
    {"id null", "{\"type\":\"a\",\"id\":null}", 0, NULL, NULL, NULL},
    {"id with escapes", "{\"type\":\"a\",\"id\":\"\\u0041\"}", 0, NULL, NULL,
     NULL},
    {"data an array", "{\"type\":\"a\",\"data\":[]}", 0, NULL, NULL, NULL},
    {"data a string", "{\"type\":\"a\",\"data\":\"{}\"}", 0, NULL, NULL, NULL},
    {"data null", "{\"type\":\"a\",\"data\":null}", 0, NULL, NULL, NULL},
    {"data a number", "{\"type\":\"a\",\"data\":1}", 0, NULL, NULL, NULL},
    {"an array", "[{\"type\":\"a\"}]", 0, NULL, NULL, NULL},
    {"a string", "\"type\"", 0, NULL, NULL, NULL},
    {"a number", "1", 0, NULL, NULL, NULL},
    {"empty", "", 0, NULL, NULL, NULL},
    {"not JSON", "{\"type\":\"a\",}", 0, NULL, NULL, NULL},
    {"duplicate type", "{\"type\":\"a\",\"type\":\"b\"}", 0, NULL, NULL, NULL},
    {"duplicate data", "{\"type\":\"a\",\"data\":{},\"data\":{}}", 0, NULL,
     NULL, NULL},
    {"escaped member name", "{\"typ\\u0065\":\"a\"}", 0, NULL, NULL, NULL},
    {"invalid UTF-8 in data",
     "{\"type\":\"a\",\"data\":{\"s\":\"\xed\xa0\x80\"}}", 0, NULL, NULL, NULL},
};

/* The span s is the C string want (NULL: absent). */
static void expect_span(const char *what, const char *field,
                        const struct hkd_jscan_span *s, const char *want)
{
	if (!want) {
		ck_assert_msg(s->p == NULL, "%s: %s should be absent", what,
		              field);
		return;
	}
	ck_assert_msg(s->p != NULL, "%s: %s is absent", what, field);
	ck_assert_msg(s->n == strlen(want) && memcmp(s->p, want, s->n) == 0,
	              "%s: %s is '%.*s', not '%s'", what, field, (int)s->n,
	              s->p, want);
}

START_TEST(test_publish_table)
{
	const struct publish_case *c = &publish_cases[_i];
	size_t n = strlen(c->text);
	char *text = oracle_copy(c->text, n);
	struct hkd_jscan_span ty, id, data;
	const char *msg;
	int ok;

	ck_assert_ptr_nonnull(text);
	ok = hkd_jscan_publish(text, n, &ty, &id, &data);
	ck_assert_msg(ok == c->ok, "%s: hkd_jscan_publish says %d", c->name,
	              ok);
	if (ok) {
		expect_span(c->name, "type", &ty, c->type);
		expect_span(c->name, "id", &id, c->id);
		expect_span(c->name, "data", &data, c->data);
		/* spans point into the text itself */
		ck_assert(ty.p > text && ty.p + ty.n < text + n);
	}
	msg = oracle_publish(text, n);
	ck_assert_msg(msg == NULL, "%s: %s", c->name, msg);
	free(text);
}
END_TEST

/* The document of the pointer cases: white space everywhere, names that
 * need "~0" and "~1", strings holding brackets, quotes and commas. */
static const char ptr_doc[] =
    " { \"foo\" : [ \"bar\" , \"baz\" ] , \"\" : 0 , \"a/b\" : 1 ,"
    " \"m~n\" : 8 , \"~1\" : 9 , \"01\" : \"zero-one\" ,\n"
    " \"a\" : { \"b\" : [ 10 , 20 , { \"c\" : \"x\" } ] } ,"
    " \"arr\" : [ [ 1 , 2 ] , [ 3 ] , [ ] , { } ] ,\n"
    " \"n\" : { \"0\" : \"zero\" , \"1x\" : null , \"\" : \"e\" } ,"
    " \"s\" : \"a\\\"},]b\" , \"t\" : true ,\n"
    " \"o\" : [ { \"k\" : 1 } , { \"k\" : 2 } , { \"k\" : [ true , false ] } ] "
    ","
    " \"w\" :\n\t-1.5e3\r\n} ";

/* A pointer and the text it finds in ptr_doc (NULL: nothing). */
static const struct {
	const char *ptr, *want;
} pointer_cases[] = {
    {"/foo", "[ \"bar\" , \"baz\" ]"},
    {"/foo/0", "\"bar\""},
    {"/foo/1", "\"baz\""},
    {"/foo/2", NULL},
    {"/foo/-", NULL},
    {"/foo/01", NULL},
    {"/foo/00", NULL},
    {"/foo/+1", NULL},
    {"/foo/-1", NULL},
    {"/foo/1a", NULL},
    {"/foo/", NULL},
    {"/foo/999999999999999999", NULL},
    {"/foo/18446744073709551617", NULL},
    {"/foo/0/0", NULL},
    {"/", "0"},
    {"/a~1b", "1"},
    {"/m~0n", "8"},
    {"/~01", "9"},
    {"/~1", NULL},
    {"/a~2b", NULL},
    {"/~", NULL},
    {"foo", NULL},
    {"/01", "\"zero-one\""},
    {"/a/b/0", "10"},
    {"/a/b/1", "20"},
    {"/a/b/2/c", "\"x\""},
    {"/a/b/2/c/d", NULL},
    {"/a/b/0/x", NULL},
    {"/a/b/3", NULL},
    {"/arr/0/1", "2"},
    {"/arr/1/0", "3"},
    {"/arr/1/1", NULL},
    {"/arr/2", "[ ]"},
    {"/arr/2/0", NULL},
    {"/arr/3", "{ }"},
    {"/arr/3/", NULL},
    {"/n/0", "\"zero\""},
    {"/n/1x", "null"},
    {"/n/", "\"e\""},
    {"/n//", NULL},
    {"/s", "\"a\\\"},]b\""},
    {"/t", "true"},
    {"/t/0", NULL},
    {"/o/1/k", "2"},
    {"/o/2/k", "[ true , false ]"},
    {"/o/2/k/1", "false"},
    {"/o/3", NULL},
    {"/w", "-1.5e3"},
    {"/nope", NULL},
    {"/foo/0/", NULL},
};

START_TEST(test_pointer_table)
{
	const char *ptr = pointer_cases[_i].ptr, *want = pointer_cases[_i].want;
	size_t n = sizeof(ptr_doc) - 1;
	char *text = oracle_copy(ptr_doc, n);
	struct hkd_jscan_span got = {NULL, 0};
	const char *msg;
	int found;

	ck_assert_ptr_nonnull(text);
	ck_assert(hkd_jscan_valid(text, n));
	found = hkd_jscan_pointer(text, n, ptr, &got);
	ck_assert_msg(found == (want != NULL), "'%s': found %d", ptr, found);
	if (found)
		expect_span(ptr, "value", &got, want);
	msg = oracle_pointer(text, n, ptr);
	ck_assert_msg(msg == NULL, "'%s': %s", ptr, msg);
	free(text);
}
END_TEST

/* Every value of each document is found again through its pointer. */
static const char *const every_docs[] = {
    ptr_doc,
    "[[[]],[{}],[{\"a\":[{\"b\":[1,{\"c\":[]}]}]}]]",
    "{\"a\":[{\"x\":1},{\"x\":[2,3]},{\"y\":{\"x\":4}}],\"x\":5}",
    " \"top\" ",
    "-0.5e-3",
    "{\"~\":{\"/\":{\"~/\":{\"\":[\"~0\",\"~1\"]}}}}",
    "{\"d\":{\"e\":\"}]\\\\\",\"f\":\"\\\\\\\"\"},\"g\":[\",\",\":\"]}",
};

START_TEST(test_every_value)
{
	const char *doc = every_docs[_i];
	char *where = NULL;
	const char *msg;

	ck_assert(hkd_jscan_valid(doc, strlen(doc)));
	msg = oracle_every_value(doc, strlen(doc), &where);
	ck_assert_msg(msg == NULL, "document %d, '%s': %s", _i,
	              where ? where : "", msg);
	free(where);
}
END_TEST

/* Equal values in one array: the index picks the right one (by address,
 * which comparing values cannot tell). A scalar document: only "" finds. */
START_TEST(test_pointer_positions)
{
	static const char doc[] = "{\"same\":[1,1, 1 ,[1],{\"1\":1}],\"x\":1}";
	size_t n = sizeof(doc) - 1;
	char *text = oracle_copy(doc, n);
	const char *arr = strchr(text, '[');
	struct hkd_jscan_span v;

	ck_assert(hkd_jscan_valid(text, n));
	ck_assert(hkd_jscan_pointer(text, n, "/same/0", &v));
	ck_assert_ptr_eq(v.p, arr + 1);
	ck_assert(hkd_jscan_pointer(text, n, "/same/1", &v));
	ck_assert_ptr_eq(v.p, arr + 3);
	ck_assert(hkd_jscan_pointer(text, n, "/same/2", &v));
	ck_assert_ptr_eq(v.p, arr + 6);
	ck_assert(hkd_jscan_pointer(text, n, "/same/3/0", &v));
	ck_assert_ptr_eq(v.p, arr + 10);
	ck_assert(hkd_jscan_pointer(text, n, "/same/4/1", &v));
	ck_assert_ptr_eq(v.p, arr + 18);
	ck_assert(hkd_jscan_pointer(text, n, "/x", &v));
	ck_assert_ptr_eq(v.p, text + n - 2);
	ck_assert_uint_eq(v.n, 1);
	ck_assert(!hkd_jscan_pointer(text, n, NULL, &v));
	free(text);

	text = oracle_copy(" 12 ", 4);
	ck_assert(hkd_jscan_pointer(text, 4, "", &v));
	ck_assert_ptr_eq(v.p, text + 1);
	ck_assert_uint_eq(v.n, 2);
	ck_assert(!hkd_jscan_pointer(text, 4, "/0", &v));
	ck_assert(!hkd_jscan_pointer(text, 4, "/", &v));
	free(text);
}
END_TEST

/* A NULL text is not valid. */
START_TEST(test_null)
{
	ck_assert_int_eq(hkd_jscan_valid(NULL, 0), 0);
	ck_assert_int_eq(hkd_jscan_object(NULL, 0), 0);
}
END_TEST

static Suite *jscan_suite(void)
{
	Suite *s = suite_create("jscan");
	TCase *tc = tcase_create("jscan");

	tcase_add_loop_test(tc, test_valid_table, 0, LEN(valid_cases));
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_key_budget);
	tcase_add_test(tc, test_long_reals);
	tcase_add_loop_test(tc, test_publish_table, 0, LEN(publish_cases));
	tcase_add_loop_test(tc, test_pointer_table, 0, LEN(pointer_cases));
	tcase_add_loop_test(tc, test_every_value, 0, LEN(every_docs));
	tcase_add_test(tc, test_pointer_positions);
	tcase_add_test(tc, test_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jscan_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
