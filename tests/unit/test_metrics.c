/*
 * Unit tests for core/metrics.c: exact values after a known sequence of
 * calls, histogram buckets, label escaping and order, empty families,
 * concurrent recording, the label-set cap, and the syntax of every line.
 */
#include <check.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* "1.1": the ABI version the metrics report, as text. */
#include "hookd/plugin.h"
#define STR_(x)  #x
#define STR(x)   STR_(x)
#define ABI_TEXT STR(HOOKD_ABI_MAJOR) "." STR(HOOKD_ABI_MINOR)

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Helpers ---------------------------------------------------------- */

/* 1 when text holds line as one whole line. */
static int has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return 1;
		p++;
	}
	return 0;
}

#define assert_line(text, line)                                                \
	ck_assert_msg(has_line((text), (line)), "missing line: %s", (line))
#define assert_no_line(text, line)                                             \
	ck_assert_msg(!has_line((text), (line)), "unexpected line: %s", (line))

/* Number of lines of text that start with prefix. */
static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0;
	size_t len = strlen(prefix);

	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, prefix, len) == 0)
			n++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

/* The value of the sample line that starts with "series " (0 when none). */
static unsigned long long value_of(const char *text, const char *series)
{
	size_t len = strlen(series);

	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, series, len) == 0 && p[len] == ' ')
			return strtoull(p + len + 1, NULL, 10);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}

/* Characters a metric name may start with / continue with. */
static int name_start(int c)
{
	return isalpha(c) || c == '_' || c == ':';
}

static int name_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

/* Length of the metric name at s (borrowed), 0 when none; label names
 * pass colon = 0 (no ":" allowed). */
static size_t name_len(const char *s, int colon)
{
	size_t n = 0;

	if (!name_start((unsigned char)s[0]) || (!colon && s[0] == ':'))
		return 0;
	while (name_char((unsigned char)s[n]) && (colon || s[n] != ':'))
		n++;
	return n;
}

/* 1 when s (whole) is a sample value: a float, +Inf, -Inf or NaN. */
static int value_ok(const char *s)
{
	char *end;

	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 ||
	    strcmp(s, "NaN") == 0)
		return 1;
	if (*s == '\0' || isspace((unsigned char)*s))
		return 0;
	strtod(s, &end);
	return *end == '\0';
}

/* The family a sample name belongs to, given the declared histograms. */
static void family_of(const char *name, const char *types, char *fam,
                      size_t len)
{
	static const char *const suffix[] = {"_bucket", "_sum", "_count"};

	snprintf(fam, len, "%s", name);
	for (size_t i = 0; i < LEN(suffix); i++) {
		size_t n = strlen(name), m = strlen(suffix[i]);
		char key[256];

		if (n <= m || strcmp(name + n - m, suffix[i]) != 0)
			continue;
		snprintf(key, sizeof(key), "\n%.*s histogram\n", (int)(n - m),
		         name);
		if (strstr(types, key) != NULL)
			snprintf(fam, len, "%.*s", (int)(n - m), name);
	}
}

/* Why check_syntax refused, per thread (the scraper checks too). */
static _Thread_local char why[4096 + 128];

#define REFUSE(...)                                                            \
	do {                                                                   \
		snprintf(why, sizeof(why), __VA_ARGS__);                       \
		return why;                                                    \
	} while (0)

/*
 * Check the whole exposition: every line is "# HELP name text",
 * "# TYPE name type" or "name{label="value",...} value"; HELP and TYPE
 * come once per family, before its samples; label values use only the
 * escapes \\ \" \n; histogram buckets never decrease and +Inf equals
 * _count. NULL when it is fine, else why not (naming the line).
 */
static const char *syntax_error(const char *text)
{
	char types[1 << 16] = "\n"; /* "\nname type\n" per declared family */
	char helps[1 << 16] = "\n";
	char prev_key[1024] = "";
	unsigned long long prev_bucket = 0, inf = 0;
	int have_inf = 0;

	if (*text == '\0')
		REFUSE("empty exposition");
	if (text[strlen(text) - 1] != '\n')
		REFUSE("no final newline");
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		char line[4096];
		char name[256], fam[256], key[1024];
		size_t len = (size_t)(nl - p), n, i;

		if (len >= sizeof(line))
			REFUSE("line too long: %.80s", p);
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;

		if (line[0] == '#') {
			int help = strncmp(line, "# HELP ", 7) == 0;
			char *store = help ? helps : types;

			if (!help && strncmp(line, "# TYPE ", 7) != 0)
				REFUSE("bad comment: %s", line);
			n = name_len(line + 7, 1);
			if (n == 0 || line[7 + n] != ' ' || line[8 + n] == '\0')
				REFUSE("bad comment: %s", line);
			snprintf(name, sizeof(name), "%.*s", (int)n, line + 7);
			snprintf(key, sizeof(key), "\n%s ", name);
			if (strstr(store, key) != NULL)
				REFUSE("second %s line: %s",
				       help ? "HELP" : "TYPE", line);
			if (!help && strcmp(line + 8 + n, "counter") != 0 &&
			    strcmp(line + 8 + n, "gauge") != 0 &&
			    strcmp(line + 8 + n, "histogram") != 0)
				REFUSE("bad type: %s", line);
			if (strlen(store) + len + 2 > sizeof(types))
				REFUSE("too many families");
			strcat(store, line + 7);
			strcat(store, "\n");
			continue;
		}

		n = name_len(line, 1);
		if (n == 0)
			REFUSE("bad metric name: %s", line);
		snprintf(name, sizeof(name), "%.*s", (int)n, line);
		i = n;
		if (line[i] == '{') {
			i++;
			for (;;) {
				size_t ln = name_len(line + i, 0);

				if (ln == 0)
					REFUSE("bad label name: %s", line);
				i += ln;
				if (line[i] != '=' || line[i + 1] != '"')
					REFUSE("bad label: %s", line);
				i += 2;
				while (line[i] != '"') {
					if (line[i] == '\0')
						REFUSE("unterminated value: %s",
						       line);
					if (line[i] == '\\') {
						if (line[i + 1] == '\0' ||
						    strchr("\\\"n",
						           line[i + 1]) == NULL)
							REFUSE("bad escape: %s",
							       line);
						i++;
					}
					i++;
				}
				i++;
				if (line[i] == '}')
					break;
				if (line[i] != ',')
					REFUSE("bad separator: %s", line);
				i++;
			}
			i++;
		}
		if (line[i] != ' ')
			REFUSE("no space before the value: %s", line);
		if (!value_ok(line + i + 1))
			REFUSE("bad value: %s", line);

		/* Its family must be declared (TYPE and HELP) before it. */
		family_of(name, types, fam, sizeof(fam));
		snprintf(key, sizeof(key), "\n%s ", fam);
		if (strstr(types, key) == NULL)
			REFUSE("sample before its TYPE: %s", line);
		if (strstr(helps, key) == NULL)
			REFUSE("sample without HELP: %s", line);

		/* Buckets cumulative; +Inf is the _count that follows. */
		n = strlen(name);
		if (n > 7 && strcmp(name + n - 7, "_bucket") == 0) {
			unsigned long long v = strtoull(line + i + 1, NULL, 10);
			char *le = strstr(line, "le=\"");

			if (le == NULL)
				REFUSE("bucket without le: %s", line);
			snprintf(key, sizeof(key), "%.*s", (int)(le - line),
			         line);
			if (strcmp(key, prev_key) == 0 && v < prev_bucket)
				REFUSE("bucket decreases: %s", line);
			snprintf(prev_key, sizeof(prev_key), "%s", key);
			prev_bucket = v;
			if (strncmp(le, "le=\"+Inf\"", 9) == 0) {
				inf = v;
				have_inf = 1;
			}
		} else if (n > 6 && strcmp(name + n - 6, "_count") == 0 &&
		           have_inf) {
			if (strtoull(line + i + 1, NULL, 10) != inf)
				REFUSE("_count differs from +Inf: %s", line);
			have_inf = 0;
		}
	}
	if (count_lines(text, "# HELP ") != count_lines(text, "# TYPE "))
		REFUSE("a family lacks HELP or TYPE");
	return NULL;
}

/* Fail the test when text is not a valid exposition. */
static void check_syntax(const char *text)
{
	const char *err = syntax_error(text);

	ck_assert_msg(err == NULL, "%s", err);
}

/* Render with fixed gauges, check the syntax; caller frees. */
static char *render(void)
{
	static const struct hkd_metrics_gauges g = {
	    .queue_ready = 5,
	    .queue_scheduled = 2,
	    .queue_in_flight = 1,
	    .queue_capacity = 1024,
	    .claimed = 12,
	    .dead_letters = 7,
	    .version = "1.2.3",
	    .start_time = 1700000000.5,
	};
	char *text = hkd_metrics_render(&g);

	ck_assert_ptr_nonnull(text);
	check_syntax(text);
	return text;
}

/* Every test starts and ends with nothing recorded. */
static void setup(void)
{
	hkd_metrics_reset();
}

static void teardown(void)
{
	hkd_metrics_reset();
}

/* ---- A known sequence ------------------------------------------------- */

START_TEST(test_sequence)
{
	char *text;

	for (int i = 0; i < 3; i++)
		hkd_metrics_event_accepted();
	hkd_metrics_event_duplicate();
	hkd_metrics_event_rejected("invalid_json");
	hkd_metrics_event_rejected("invalid_json");
	hkd_metrics_event_rejected("payload_too_large");
	hkd_metrics_event_rejected(NULL);

	hkd_metrics_attempt("mailer", 0, 3000);     /* 0.005 */
	hkd_metrics_attempt("mailer", 1, 5000);     /* 0.005: le is inclusive */
	hkd_metrics_attempt("mailer", 2, 5001);     /* 0.01 */
	hkd_metrics_attempt("mailer", 0, 61000000); /* only +Inf */
	hkd_metrics_attempt("hook", 0, 1000000);    /* 1 */
	hkd_metrics_attempt("hook", 7, 10);         /* ignored */
	hkd_metrics_attempt("hook", -1, 10);        /* ignored */

	hkd_metrics_delivery_final("mailer", "succeeded");
	hkd_metrics_delivery_final("mailer", "succeeded");
	hkd_metrics_delivery_final("mailer", "dead");
	hkd_metrics_delivery_final("mailer", "pending"); /* not final */
	hkd_metrics_delivery_final("mailer", NULL);

	hkd_metrics_commit(1, 400, 1);
	hkd_metrics_commit(3, 2500, 1);
	hkd_metrics_commit(2000, 2000000, 0);

	text = render();

	assert_line(text, "hookd_build_info{version=\"1.2.3\",abi=\"" ABI_TEXT
	                  "\"} 1");
	assert_line(text, "process_start_time_seconds 1700000000.5");
	assert_line(text, "hookd_events_accepted_total 3");
	assert_line(text, "hookd_events_duplicate_total 1");
	assert_line(text,
	            "hookd_events_rejected_total{reason=\"invalid_json\"} 2");
	assert_line(
	    text,
	    "hookd_events_rejected_total{reason=\"payload_too_large\"} 1");
	assert_line(text, "hookd_events_rejected_total{reason=\"unknown\"} 1");
	ck_assert_int_eq(count_lines(text, "hookd_events_rejected_total{"), 3);

	assert_line(text,
	            "hookd_attempts_total{target=\"hook\",outcome=\"ok\"} 1");
	assert_line(
	    text, "hookd_attempts_total{target=\"mailer\",outcome=\"fail\"} 1");
	assert_line(text,
	            "hookd_attempts_total{target=\"mailer\",outcome=\"ok\"} 2");
	assert_line(
	    text,
	    "hookd_attempts_total{target=\"mailer\",outcome=\"retry\"} 1");
	ck_assert_int_eq(count_lines(text, "hookd_attempts_total{"), 4);

	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"0.005\"} 2");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"0.01\"} 3");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"0.025\"} 3");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"1\"} 3");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"2.5\"} 3");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"60\"} 3");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"mailer\",le=\"+Inf\"} 4");
	assert_line(
	    text,
	    "hookd_attempt_duration_seconds_sum{target=\"mailer\"} 61.013001");
	assert_line(
	    text, "hookd_attempt_duration_seconds_count{target=\"mailer\"} 4");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"hook\",le=\"0.5\"} 0");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"hook\",le=\"1\"} 1");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"hook\",le=\"+Inf\"} 1");
	assert_line(text,
	            "hookd_attempt_duration_seconds_sum{target=\"hook\"} 1");
	assert_line(text,
	            "hookd_attempt_duration_seconds_count{target=\"hook\"} 1");
	/* 13 finite buckets + Inf per target */
	ck_assert_int_eq(
	    count_lines(text, "hookd_attempt_duration_seconds_bucket{"), 28);

	assert_line(
	    text, "hookd_deliveries_total{target=\"mailer\",state=\"dead\"} 1");
	assert_line(
	    text,
	    "hookd_deliveries_total{target=\"mailer\",state=\"succeeded\"} 2");
	ck_assert_int_eq(count_lines(text, "hookd_deliveries_total{"), 2);

	assert_line(text, "hookd_queue_deliveries{state=\"in_flight\"} 1");
	assert_line(text, "hookd_queue_deliveries{state=\"ready\"} 5");
	assert_line(text, "hookd_queue_deliveries{state=\"scheduled\"} 2");
	assert_line(text, "hookd_queue_capacity 1024");
	assert_line(text, "hookd_deliveries_claimed_total 12");
	assert_line(text, "hookd_dead_letters 7");

	assert_line(text, "hookd_store_commits_total{result=\"error\"} 1");
	assert_line(text, "hookd_store_commits_total{result=\"ok\"} 2");
	assert_line(text, "hookd_store_commit_batch_size_bucket{le=\"1\"} 1");
	assert_line(text, "hookd_store_commit_batch_size_bucket{le=\"2\"} 1");
	assert_line(text, "hookd_store_commit_batch_size_bucket{le=\"4\"} 2");
	assert_line(text,
	            "hookd_store_commit_batch_size_bucket{le=\"1024\"} 2");
	assert_line(text,
	            "hookd_store_commit_batch_size_bucket{le=\"+Inf\"} 3");
	assert_line(text, "hookd_store_commit_batch_size_sum 2004");
	assert_line(text, "hookd_store_commit_batch_size_count 3");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"0.0005\"} 1");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"0.001\"} 1");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"0.0025\"} 2");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"1\"} 2");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"+Inf\"} 3");
	assert_line(text, "hookd_store_commit_seconds_sum 2.0029");
	assert_line(text, "hookd_store_commit_seconds_count 3");
	ck_assert_int_eq(
	    count_lines(text, "hookd_store_commit_batch_size_bucket{"), 12);
	ck_assert_int_eq(
	    count_lines(text, "hookd_store_commit_seconds_bucket{"), 12);
	free(text);
}
END_TEST

/* Bucket edges and the exact decimal _sum, including a negative duration. */
START_TEST(test_histogram_edges)
{
	char *text;

	hkd_metrics_attempt("t", 0, -5);       /* counts as 0 */
	hkd_metrics_attempt("t", 0, 1);        /* 0.000001 s */
	hkd_metrics_attempt("t", 0, 60000000); /* exactly 60 */
	hkd_metrics_attempt("t", 0, 60000001); /* just past 60 */
	hkd_metrics_commit(0, 0, 1);           /* empty batch: le=1 */
	hkd_metrics_commit(1024, 1000000, 1);  /* exactly the last bounds */
	hkd_metrics_commit(1025, 1000001, 1);  /* just past */
	text = render();
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target=\"t\","
	                  "le=\"0.005\"} 2");
	assert_line(
	    text,
	    "hookd_attempt_duration_seconds_bucket{target=\"t\",le=\"30\"} 2");
	assert_line(
	    text,
	    "hookd_attempt_duration_seconds_bucket{target=\"t\",le=\"60\"} 3");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target=\"t\","
	                  "le=\"+Inf\"} 4");
	assert_line(
	    text,
	    "hookd_attempt_duration_seconds_sum{target=\"t\"} 120.000002");
	assert_line(text, "hookd_store_commit_batch_size_bucket{le=\"1\"} 1");
	assert_line(text, "hookd_store_commit_batch_size_bucket{le=\"512\"} 1");
	assert_line(text,
	            "hookd_store_commit_batch_size_bucket{le=\"1024\"} 2");
	assert_line(text,
	            "hookd_store_commit_batch_size_bucket{le=\"+Inf\"} 3");
	assert_line(text, "hookd_store_commit_batch_size_sum 2049");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"0.0005\"} 1");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"0.5\"} 1");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"1\"} 2");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"+Inf\"} 3");
	assert_line(text, "hookd_store_commit_seconds_sum 2.000001");
	free(text);
}
END_TEST

/* ---- Labels ----------------------------------------------------------- */

START_TEST(test_escaping)
{
	static const struct hkd_metrics_gauges g = {
	    .dead_letters = -1,
	    .version = "v\"2\\x\ny",
	};
	char *text;

	hkd_metrics_attempt("we\"ird\\name", 1, 100);
	hkd_metrics_attempt("line\nfeed", 2, 100);
	hkd_metrics_delivery_final("we\"ird\\name", "dead");
	hkd_metrics_event_rejected("a\"b");
	text = render();
	assert_line(text, "hookd_attempts_total{target=\"we\\\"ird\\\\name\","
	                  "outcome=\"retry\"} 1");
	assert_line(
	    text,
	    "hookd_attempts_total{target=\"line\\nfeed\",outcome=\"fail\"} 1");
	assert_line(text, "hookd_attempt_duration_seconds_bucket{target="
	                  "\"we\\\"ird\\\\name\",le=\"0.005\"} 1");
	assert_line(text, "hookd_attempt_duration_seconds_sum{target="
	                  "\"we\\\"ird\\\\name\"} 0.0001");
	assert_line(text, "hookd_attempt_duration_seconds_count{target="
	                  "\"we\\\"ird\\\\name\"} 1");
	assert_line(text, "hookd_deliveries_total{target=\"we\\\"ird\\\\name\","
	                  "state=\"dead\"} 1");
	assert_line(text, "hookd_events_rejected_total{reason=\"a\\\"b\"} 1");
	free(text);

	text = hkd_metrics_render(&g);
	ck_assert_ptr_nonnull(text);
	check_syntax(text);
	assert_line(
	    text, "hookd_build_info{version=\"v\\\"2\\\\x\\ny\",abi=\"" ABI_TEXT
	          "\"} 1");
	free(text);
}
END_TEST

/* Series come sorted by label values, whatever the order of first use. */
START_TEST(test_order)
{
	static const char *const expect[] = {
	    "hookd_attempts_total{target=\"alpha\",outcome=\"fail\"} 1",
	    "hookd_attempts_total{target=\"alpha\",outcome=\"ok\"} 1",
	    "hookd_attempts_total{target=\"alpha\",outcome=\"retry\"} 1",
	    "hookd_attempts_total{target=\"mid\",outcome=\"ok\"} 1",
	    "hookd_attempts_total{target=\"zeta\",outcome=\"ok\"} 2",
	};
	const char *p;
	char *text;

	hkd_metrics_attempt("zeta", 0, 1);
	hkd_metrics_attempt("alpha", 1, 1);
	hkd_metrics_attempt("mid", 0, 1);
	hkd_metrics_attempt("alpha", 0, 1);
	hkd_metrics_attempt("zeta", 0, 1);
	hkd_metrics_attempt("alpha", 2, 1);
	text = render();
	p = strstr(text, "hookd_attempts_total{");
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < LEN(expect); i++) {
		size_t len = strlen(expect[i]);

		ck_assert_msg(strncmp(p, expect[i], len) == 0 && p[len] == '\n',
		              "line %zu: expected %s", i, expect[i]);
		p += len + 1;
	}
	ck_assert_msg(strncmp(p, "# HELP ", 7) == 0, "extra series: %.60s", p);
	p = strstr(text, "hookd_attempt_duration_seconds_count{");
	ck_assert_msg(
	    strncmp(
	        p, "hookd_attempt_duration_seconds_count{target=\"alpha\"} 3\n",
	        54) == 0,
	    "first histogram is not alpha: %.60s", p);
	free(text);
}
END_TEST

/* ---- Empty state ------------------------------------------------------ */

/* The whole exposition before anything happened, byte for byte. */
START_TEST(test_empty)
{
	static const char expect[] =
	    "# HELP hookd_build_info Always 1; labels name the hookd version "
	    "and plugin ABI.\n"
	    "# TYPE hookd_build_info gauge\n"
	    "hookd_build_info{version=\"1.2.3\",abi=\"" ABI_TEXT "\"} 1\n"
	    "# HELP process_start_time_seconds Start time of the process since "
	    "the Unix epoch, in seconds.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds 1700000000.5\n"
	    "# HELP hookd_events_accepted_total Events stored and acknowledged "
	    "with 202.\n"
	    "# TYPE hookd_events_accepted_total counter\n"
	    "hookd_events_accepted_total 0\n"
	    "# HELP hookd_events_duplicate_total Events whose id was already "
	    "stored (answered 200, not stored again).\n"
	    "# TYPE hookd_events_duplicate_total counter\n"
	    "hookd_events_duplicate_total 0\n"
	    "# HELP hookd_events_rejected_total Requests refused, by API error "
	    "code.\n"
	    "# TYPE hookd_events_rejected_total counter\n"
	    "# HELP hookd_attempts_total Delivery attempts, by target and "
	    "outcome.\n"
	    "# TYPE hookd_attempts_total counter\n"
	    "# HELP hookd_attempt_duration_seconds Duration of one delivery "
	    "attempt (one plugin call), by target.\n"
	    "# TYPE hookd_attempt_duration_seconds histogram\n"
	    "# HELP hookd_deliveries_total Deliveries that reached a final "
	    "state, by target.\n"
	    "# TYPE hookd_deliveries_total counter\n"
	    "# HELP hookd_queue_deliveries Deliveries in the in-memory run "
	    "queue, by state.\n"
	    "# TYPE hookd_queue_deliveries gauge\n"
	    "hookd_queue_deliveries{state=\"in_flight\"} 1\n"
	    "hookd_queue_deliveries{state=\"ready\"} 5\n"
	    "hookd_queue_deliveries{state=\"scheduled\"} 2\n"
	    "# HELP hookd_queue_capacity Most deliveries the in-memory run "
	    "queue holds.\n"
	    "# TYPE hookd_queue_capacity gauge\n"
	    "hookd_queue_capacity 1024\n"
	    "# HELP hookd_deliveries_claimed_total Parked deliveries taken "
	    "from the store into the run queue.\n"
	    "# TYPE hookd_deliveries_claimed_total counter\n"
	    "hookd_deliveries_claimed_total 12\n"
	    "# HELP hookd_dead_letters Dead deliveries currently stored "
	    "(replayable).\n"
	    "# TYPE hookd_dead_letters gauge\n"
	    "hookd_dead_letters 7\n"
	    "# HELP hookd_store_commits_total Store commits (group commit "
	    "batches), by result.\n"
	    "# TYPE hookd_store_commits_total counter\n"
	    "hookd_store_commits_total{result=\"error\"} 0\n"
	    "hookd_store_commits_total{result=\"ok\"} 0\n"
	    "# HELP hookd_store_commit_batch_size Writes in one store commit "
	    "(group commit): events, attempt results and other store jobs.\n"
	    "# TYPE hookd_store_commit_batch_size histogram\n"
	    "# HELP hookd_store_commit_seconds Duration of one store commit.\n"
	    "# TYPE hookd_store_commit_seconds histogram\n";
	char *text = render();

	ck_assert_str_eq(text, expect);
	free(text);
}
END_TEST

/* Without gauges (NULL, unknown dead letters, no start time). */
START_TEST(test_no_gauges)
{
	static const struct hkd_metrics_gauges g = {
	    .dead_letters = -1,
	    .start_time = 0,
	};
	char *text = hkd_metrics_render(NULL);

	ck_assert_ptr_nonnull(text);
	check_syntax(text);
	ck_assert_int_eq(count_lines(text, "# TYPE "), 15);
	ck_assert_int_eq(count_lines(text, "hookd_queue"), 0);
	ck_assert_int_eq(count_lines(text, "hookd_build_info"), 0);
	assert_line(text, "hookd_events_accepted_total 0");
	free(text);

	text = hkd_metrics_render(&g);
	ck_assert_ptr_nonnull(text);
	check_syntax(text);
	assert_line(text, "hookd_build_info{version=\"unknown\",abi=\"" ABI_TEXT
	                  "\"} 1");
	assert_line(text, "hookd_queue_capacity 0");
	ck_assert_int_eq(count_lines(text, "hookd_dead_letters"), 0);
	ck_assert_int_eq(count_lines(text, "process_start_time_seconds"), 0);
	free(text);
}
END_TEST

/* reset forgets everything. */
START_TEST(test_reset)
{
	char *text;

	hkd_metrics_event_accepted();
	hkd_metrics_event_rejected("x");
	hkd_metrics_attempt("t", 0, 1);
	hkd_metrics_delivery_final("t", "dead");
	hkd_metrics_commit(1, 1, 0);
	hkd_metrics_reset();
	text = render();
	assert_line(text, "hookd_events_accepted_total 0");
	assert_line(text, "hookd_store_commits_total{result=\"error\"} 0");
	ck_assert_int_eq(count_lines(text, "hookd_events_rejected_total{"), 0);
	ck_assert_int_eq(count_lines(text, "hookd_attempt"), 0);
	ck_assert_int_eq(count_lines(text, "hookd_deliveries_total{"), 0);
	ck_assert_int_eq(count_lines(text, "hookd_store_commit_"), 0);
	free(text);
}
END_TEST

/* ---- Threads ---------------------------------------------------------- */

#define THREADS 8
#define ROUNDS  10000

static const char *const thread_target[] = {"even", "odd"};

/* One recording thread: ROUNDS of every kind of call. */
static void *record(void *arg)
{
	int id = (int)(size_t)arg;

	for (int i = 0; i < ROUNDS; i++) {
		hkd_metrics_event_accepted();
		hkd_metrics_event_duplicate();
		hkd_metrics_event_rejected(i % 2 ? "invalid_json"
		                                 : "unauthorized");
		hkd_metrics_attempt(thread_target[id % 2], i % 3, 1000);
		hkd_metrics_delivery_final(thread_target[id % 2], "succeeded");
		hkd_metrics_commit(2, 1000, i % 2);
	}
	return NULL;
}

/* Renders while the others record: every snapshot must parse. */
static void *scrape(void *arg)
{
	atomic_int *stop = arg;
	int rounds = 0;

	while (!atomic_load(stop) || rounds < 3) {
		char *text = hkd_metrics_render(NULL);

		ck_assert_ptr_nonnull(text);
		check_syntax(text);
		free(text);
		rounds++;
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t th[THREADS], scraper;
	atomic_int stop = 0;
	char *text;
	char line[256];

	ck_assert_int_eq(pthread_create(&scraper, NULL, scrape, &stop), 0);
	for (size_t i = 0; i < THREADS; i++)
		ck_assert_int_eq(
		    pthread_create(&th[i], NULL, record, (void *)i), 0);
	for (size_t i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	atomic_store(&stop, 1);
	ck_assert_int_eq(pthread_join(scraper, NULL), 0);

	text = render();
	assert_line(text, "hookd_events_accepted_total 80000");
	assert_line(text, "hookd_events_duplicate_total 80000");
	assert_line(
	    text, "hookd_events_rejected_total{reason=\"invalid_json\"} 40000");
	assert_line(
	    text, "hookd_events_rejected_total{reason=\"unauthorized\"} 40000");
	/* Per thread: i % 3 == 0 for 3334 rounds, 1 and 2 for 3333 each. */
	for (size_t t = 0; t < LEN(thread_target); t++) {
		snprintf(
		    line, sizeof(line),
		    "hookd_attempts_total{target=\"%s\",outcome=\"ok\"} %d",
		    thread_target[t], 4 * 3334);
		assert_line(text, line);
		snprintf(
		    line, sizeof(line),
		    "hookd_attempts_total{target=\"%s\",outcome=\"retry\"} %d",
		    thread_target[t], 4 * 3333);
		assert_line(text, line);
		snprintf(
		    line, sizeof(line),
		    "hookd_attempts_total{target=\"%s\",outcome=\"fail\"} %d",
		    thread_target[t], 4 * 3333);
		assert_line(text, line);
		snprintf(line, sizeof(line),
		         "hookd_attempt_duration_seconds_bucket{target=\"%s\","
		         "le=\"0.001\"} 0",
		         thread_target[t]);
		ck_assert_msg(!has_line(text, line), "no 0.001 bucket exists");
		snprintf(line, sizeof(line),
		         "hookd_attempt_duration_seconds_bucket{target=\"%s\","
		         "le=\"0.005\"} %d",
		         thread_target[t], 4 * ROUNDS);
		assert_line(text, line);
		snprintf(line, sizeof(line),
		         "hookd_attempt_duration_seconds_sum{target=\"%s\"} 40",
		         thread_target[t]);
		assert_line(text, line);
		snprintf(
		    line, sizeof(line),
		    "hookd_attempt_duration_seconds_count{target=\"%s\"} %d",
		    thread_target[t], 4 * ROUNDS);
		assert_line(text, line);
		snprintf(line, sizeof(line),
		         "hookd_deliveries_total{target=\"%s\",state="
		         "\"succeeded\"} %d",
		         thread_target[t], 4 * ROUNDS);
		assert_line(text, line);
	}
	assert_line(text, "hookd_store_commits_total{result=\"error\"} 40000");
	assert_line(text, "hookd_store_commits_total{result=\"ok\"} 40000");
	assert_line(text, "hookd_store_commit_batch_size_bucket{le=\"1\"} 0");
	assert_line(text,
	            "hookd_store_commit_batch_size_bucket{le=\"2\"} 80000");
	assert_line(text, "hookd_store_commit_batch_size_sum 160000");
	assert_line(text, "hookd_store_commit_batch_size_count 80000");
	assert_line(text, "hookd_store_commit_seconds_bucket{le=\"0.0005\"} 0");
	assert_line(text,
	            "hookd_store_commit_seconds_bucket{le=\"0.001\"} 80000");
	assert_line(text, "hookd_store_commit_seconds_sum 80");
	assert_line(text, "hookd_store_commit_seconds_count 80000");
	free(text);
}
END_TEST

/* ---- The label-set cap ------------------------------------------------ */

START_TEST(test_cap)
{
	char name[32], line[128];
	unsigned long long total = 0;
	char *text;
	const char *p;

	/* 1100 targets: the first 1000 get their own series. */
	for (int i = 0; i < 1100; i++) {
		snprintf(name, sizeof(name), "t%04d", i);
		hkd_metrics_attempt(name, 0, 1000);
		hkd_metrics_delivery_final(name, "dead");
	}
	/* Known sets keep counting on their own; new ones fold. */
	hkd_metrics_attempt("t0000", 0, 1000);
	hkd_metrics_attempt("t0000", 1, 1000); /* a new set: folded */
	hkd_metrics_attempt("t1099", 2, 1000);
	for (int i = 0; i < 1005; i++) {
		snprintf(name, sizeof(name), "code_%04d", i);
		hkd_metrics_event_rejected(name);
	}

	text = render();
	ck_assert_int_eq(count_lines(text, "hookd_attempts_total{"), 1003);
	ck_assert_int_eq(
	    count_lines(text, "hookd_attempt_duration_seconds_count{"), 1001);
	ck_assert_int_eq(count_lines(text, "hookd_deliveries_total{"), 1001);
	ck_assert_int_eq(count_lines(text, "hookd_events_rejected_total{"),
	                 1001);

	assert_line(text,
	            "hookd_attempts_total{target=\"t0000\",outcome=\"ok\"} 2");
	assert_line(text,
	            "hookd_attempts_total{target=\"t0999\",outcome=\"ok\"} 1");
	assert_no_line(
	    text, "hookd_attempts_total{target=\"t1000\",outcome=\"ok\"} 1");
	assert_line(
	    text, "hookd_attempts_total{target=\"_other\",outcome=\"ok\"} 100");
	assert_line(
	    text,
	    "hookd_attempts_total{target=\"_other\",outcome=\"retry\"} 1");
	assert_line(
	    text, "hookd_attempts_total{target=\"_other\",outcome=\"fail\"} 1");
	/* The histogram family has its own table: t0000 was known, t1099 not.
	 */
	assert_line(text,
	            "hookd_attempt_duration_seconds_count{target=\"t0000\"} 3");
	assert_line(
	    text,
	    "hookd_attempt_duration_seconds_count{target=\"_other\"} 101");
	assert_line(
	    text, "hookd_deliveries_total{target=\"t0999\",state=\"dead\"} 1");
	assert_line(
	    text,
	    "hookd_deliveries_total{target=\"_other\",state=\"dead\"} 100");
	assert_line(text,
	            "hookd_events_rejected_total{reason=\"code_0999\"} 1");
	assert_line(text, "hookd_events_rejected_total{reason=\"_other\"} 5");

	/* Nothing is lost: the attempt counters still add up. */
	for (p = text; (p = strstr(p, "\nhookd_attempts_total{")) != NULL;
	     p++) {
		const char *sp = strchr(p + 1, ' ');

		total += strtoull(sp + 1, NULL, 10);
	}
	ck_assert_uint_eq(total, 1103);
	snprintf(line, sizeof(line),
	         "hookd_attempt_duration_seconds_count{target=\"%s\"}",
	         "t0500");
	ck_assert_uint_eq(value_of(text, line), 1);
	free(text);
}
END_TEST

/* ---- The syntax checker itself ---------------------------------------- */

/* Lines the checker must refuse, one exposition each. */
static const char *const bad_docs[] = {
    "hookd_x 1\n",                         /* no TYPE */
    "# TYPE hookd_x counter\nhookd_x 1\n", /* no HELP */
    "# HELP hookd_x h\n# TYPE hookd_x counter\nhookd_x\n",
    "# HELP hookd_x h\n# TYPE hookd_x counter\nhookd_x one\n",
    "# HELP hookd_x h\n# TYPE hookd_x counter\nhookd_x{a=\"b} 1\n",
    "# HELP hookd_x h\n# TYPE hookd_x counter\nhookd_x{a=\"\\t\"} 1\n",
    "# HELP hookd_x h\n# TYPE hookd_x counter\nhookd_x{1a=\"b\"} 1\n",
    "# HELP hookd_x h\n# TYPE hookd_x counter\n9x 1\n",
    "# HELP hookd_x h\n# TYPE hookd_x counter\nhookd_x 1",
    "# HELP hookd_x h\n# TYPE hookd_x wrong\nhookd_x 1\n",
    "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} "
    "2\nh_bucket{le=\"+Inf\"} 1\n",
    "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
};

START_TEST(test_checker_refuses)
{
	ck_assert_msg(syntax_error(bad_docs[_i]) != NULL, "accepted: %s",
	              bad_docs[_i]);
}
END_TEST

START_TEST(test_checker_accepts)
{
	ck_assert_ptr_null(syntax_error(
	    "# HELP h h\n# TYPE h histogram\n"
	    "h_bucket{a=\"x\\\"y\\\\z\\n\",le=\"1\"} 1\n"
	    "h_bucket{a=\"x\\\"y\\\\z\\n\",le=\"+Inf\"} 2\n"
	    "h_sum{a=\"x\\\"y\\\\z\\n\"} 0.5\n"
	    "h_count{a=\"x\\\"y\\\\z\\n\"} 2\n"
	    "# HELP g g\n# TYPE g gauge\ng -1.5e3\ng{b=\"\"} NaN\n"));
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sequence);
	tcase_add_test(tc, test_histogram_edges);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_no_gauges);
	tcase_add_test(tc, test_reset);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_cap);
	tcase_add_loop_test(tc, test_checker_refuses, 0, LEN(bad_docs));
	tcase_add_test(tc, test_checker_accepts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
