/* Unit tests for core/util.c: new ids, hex digits, times. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IDS    100 /* more than the 16 ids a thread's read-ahead holds */

static const char id_alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* ids[i] is "evt_" and 26 characters of the alphabet. */
static void check_shape(const char *id)
{
	ck_assert_uint_eq(strlen(id), 4 + 26);
	ck_assert(strncmp(id, "evt_", 4) == 0);
	ck_assert_uint_eq(strspn(id + 4, id_alphabet), 26);
}

static int cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Every id of every set distinct: sorted, no neighbours alike. */
static void check_distinct(char (*ids)[40], size_t n)
{
	qsort(ids, n, sizeof(*ids), cmp);
	for (size_t i = 1; i < n; i++)
		ck_assert_str_ne(ids[i - 1], ids[i]);
}

START_TEST(test_new_ids_distinct)
{
	static char ids[IDS][40];

	for (size_t i = 0; i < IDS; i++) {
		ck_assert_int_eq(hkd_new_id("evt_", ids[i], sizeof(ids[i])), 0);
		check_shape(ids[i]);
	}
	check_distinct(ids, IDS);
}
END_TEST

/* The ms an id's first 10 characters after "evt_" give. */
static int64_t id_time(const char *id)
{
	int64_t ms = 0;

	for (int i = 0; i < 10; i++)
		ms = ms * 32 +
		     (int64_t)(strchr(id_alphabet, id[4 + i]) - id_alphabet);
	return ms;
}

/* An id carries the time it was made; one made in a later millisecond
 * sorts after it, whatever the random part. */
START_TEST(test_new_ids_time_ordered)
{
	struct timespec pause = {0, 2 * 1000 * 1000};
	char prev[40], next[40];

	for (int i = 0; i < 20; i++) {
		int64_t before = hkd_now_ms(), after;

		ck_assert_int_eq(hkd_new_id("evt_", prev, sizeof(prev)), 0);
		after = hkd_now_ms();
		ck_assert_int_ge(id_time(prev), before);
		ck_assert_int_le(id_time(prev), after);
		nanosleep(&pause, NULL);
		ck_assert_int_eq(hkd_new_id("evt_", next, sizeof(next)), 0);
		ck_assert_int_gt(strcmp(next, prev), 0);
	}
}
END_TEST

START_TEST(test_new_id_room)
{
	char buf[31] = "untouched";

	/* "evt_" + 26 + NUL needs 31 bytes; nothing is written with fewer. */
	ck_assert_int_eq(hkd_new_id("evt_", buf, sizeof(buf) - 1), -1);
	ck_assert_str_eq(buf, "untouched");
	ck_assert_int_eq(hkd_new_id("evt_", buf, sizeof(buf)), 0);
	check_shape(buf);
}
END_TEST

static char thread_ids[2][IDS][40];

static void *make_ids(void *arg)
{
	char(*ids)[40] = arg;

	for (size_t i = 0; i < IDS; i++) {
		if (hkd_new_id("evt_", ids[i], 40) != 0)
			ids[i][0] = '\0';
	}
	return NULL;
}

/* Each thread reads ahead on its own: no two threads hand out the same
 * bytes. */
START_TEST(test_new_ids_threads)
{
	pthread_t t[2];
	static char all[2 * IDS][40];

	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, make_ids, thread_ids[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < IDS; k++) {
			check_shape(thread_ids[i][k]);
			memcpy(all[i * IDS + k], thread_ids[i][k], 40);
		}
	}
	check_distinct(all, 2 * IDS);
}
END_TEST

START_TEST(test_hex_value)
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";

	for (int c = 0; c < 256; c++) {
		int want = -1;

		for (int v = 0; v < 16; v++) {
			if (c == lower[v] || c == upper[v])
				want = v;
		}
		ck_assert_int_eq(hkd_hex_value(c), want);
	}
}
END_TEST

/* hkd_format_time as it was written before it cached: the reference. */
static void format_time_ref(int64_t wall_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(wall_ms % 1000));
}

static const int64_t time_cases[] = {
    1764374400000, /* 2025-11-29T00:00:00.000Z */
    1764374400001,
    1764374400999,
    1764374401000, /* across a second */
    1764374400999, /* and back: the cache must not be stuck */
    1764374459999,
    1764374460000,
    4102444799999, /* 2099-12-31T23:59:59.999Z */
    0,
    999,
    1000,
    -1,
    -999,
    -1000,
    -1001,
    -86400000,
};

/* hkd_grow doubles a full array, keeps what it held, leaves room alone
 * while there is some, and refuses sizes that would overflow. */
START_TEST(test_grow)
{
	int *v = NULL;
	size_t cap = 0, n;

	for (n = 0; n < 100; n++) {
		ck_assert_int_eq(hkd_grow(&v, &cap, n, sizeof(*v), 4), 0);
		ck_assert_uint_gt(cap, n);
		v[n] = (int)n * 3;
	}
	ck_assert_uint_eq(cap, 128); /* 4, 8, …, 128 */
	for (n = 0; n < 100; n++)
		ck_assert_int_eq(v[n], (int)n * 3);
	/* Room left: nothing moves. */
	{
		int *before = v;
		ck_assert_int_eq(hkd_grow(&v, &cap, 100, sizeof(*v), 4), 0);
		ck_assert_ptr_eq(v, before);
		ck_assert_uint_eq(cap, 128);
	}
	/* A size past SIZE_MAX fails and keeps the array. */
	{
		size_t huge = SIZE_MAX / 2 + 1, hn = huge;
		int *before = v;
		ck_assert_int_eq(hkd_grow(&v, &huge, hn, 2, 4), -1);
		ck_assert_ptr_eq(v, before);
		ck_assert_uint_eq(huge, SIZE_MAX / 2 + 1);
	}
	free(v);
}
END_TEST

START_TEST(test_format_time)
{
	char got[40], want[40];

	for (size_t i = 0; i < LEN(time_cases); i++) {
		format_time_ref(time_cases[i], want, sizeof(want));
		hkd_format_time(time_cases[i], got, sizeof(got));
		ck_assert_str_eq(got, want);
	}
	ck_assert_str_eq(
	    (hkd_format_time(1764374400042, got, sizeof(got)), got),
	    "2025-11-29T00:00:00.042Z");
	/* Buffers too short are cut as snprintf cuts. */
	for (size_t len = 1; len <= 26; len++) {
		memset(got, 'x', sizeof(got));
		memset(want, 'x', sizeof(want));
		format_time_ref(1764374400123, want, len);
		hkd_format_time(1764374400123, got, len);
		ck_assert_str_eq(got, want);
	}
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, test_new_ids_distinct);
	tcase_add_test(tc, test_new_id_room);
	tcase_add_test(tc, test_new_ids_time_ordered);
	tcase_add_test(tc, test_new_ids_threads);
	tcase_add_test(tc, test_hex_value);
	tcase_add_test(tc, test_format_time);
	tcase_add_test(tc, test_grow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
