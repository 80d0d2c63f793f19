/*
 * Unit tests for adaptive concurrency (core/adapt.c), against simulated
 * receivers: rounds in which the window's worth of attempts run at once
 * and answer after the latency the receiver has at that concurrency.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "adapt.h"

#define CEILING 64

/* A receiver: its latency in µs with `inflight` requests at once, or -1
 * for an attempt that fails with a retry (a 5xx, a timeout). */
typedef int64_t (*receiver_fn)(int inflight);

/* The same latency at any concurrency: fixed_us. */
static int64_t fixed_us;
static int64_t fixed(int inflight)
{
	(void)inflight;
	return fixed_us;
}

/* Flat 40 ms up to KNEE at once, then 30 ms more per request past it. */
#define KNEE 8
static int64_t knee(int inflight)
{
	return 40000 +
	       (inflight > KNEE ? (int64_t)(inflight - KNEE) * 30000 : 0);
}

static int64_t failing(int inflight)
{
	(void)inflight;
	return -1;
}

/*
 * Run `rounds` rounds against r from a's state (time from *now, µs): each
 * round sends hkd_adapt_room() attempts at once; all answer after r's
 * latency for that many. Returns the mean room over the last `tail`
 * rounds; *max_room is the most seen then.
 */
static double run(struct hkd_adapt *a, receiver_fn r, int rounds, int tail,
                  int64_t *now, int *max_room)
{
	double sum = 0;

	*max_room = 0;
	for (int i = 0; i < rounds; i++) {
		int room = hkd_adapt_room(a, CEILING);
		int64_t took = r(room);

		*now += took > 0 ? took : 6000000; /* a timeout: 6 s */
		for (int k = 0; k < room; k++)
			hkd_adapt_learn(a, took > 0 ? HOOKD_OK : HOOKD_RETRY,
			                took > 0 ? took : 6000000, *now,
			                CEILING);
		if (i >= rounds - tail) {
			sum += room;
			if (room > *max_room)
				*max_room = room;
		}
	}
	return sum / tail;
}

/* a, new, fed by a receiver answering in `us` at any concurrency until
 * its window is the ceiling (which it must reach). */
static void grow_to_ceiling(struct hkd_adapt *a, int64_t *now, int64_t us)
{
	int max_room;

	hkd_adapt_init(a);
	ck_assert_int_eq(hkd_adapt_room(a, CEILING), HKD_ADAPT_START);
	fixed_us = us;
	run(a, fixed, 40, 1, now, &max_room);
	ck_assert_int_eq(hkd_adapt_room(a, CEILING), CEILING);
}

/* A healthy receiver at a fixed 44 ms is given the whole ceiling: 64 at
 * once, about 1,450 deliveries a second. */
START_TEST(test_flat_receiver_reaches_ceiling)
{
	struct hkd_adapt a;
	int64_t now = 1000000;
	int max_room;

	grow_to_ceiling(&a, &now, 44000);
	run(&a, fixed, 10, 10, &now, &max_room);
	ck_assert_int_eq(max_room, CEILING);
}
END_TEST

/* A receiver whose latency climbs past KNEE requests at once: the window
 * settles near KNEE — neither at the ceiling nor at the start. */
START_TEST(test_knee_receiver_settles_near_knee)
{
	struct hkd_adapt a;
	int64_t now = 1000000;
	int max_room;
	double mean;

	hkd_adapt_init(&a);
	mean = run(&a, knee, 400, 200, &now, &max_room);
	printf("# knee at %d: mean window %.1f, at most %d\n", KNEE, mean,
	       max_room);
	ck_assert_msg(mean >= KNEE * 0.5 && mean <= KNEE * 2.0,
	              "mean window %.1f, the knee at %d", mean, KNEE);
	ck_assert_int_lt(max_room, CEILING / 2);
	ck_assert_int_gt(max_room, HKD_ADAPT_START);
}
END_TEST

/* First answers far slower than the receiver's normal (it was busy with
 * others' load then) do not become its base: it still settles near its
 * knee, not far past it. */
START_TEST(test_slow_first_answers)
{
	struct hkd_adapt a;
	int64_t now = 1000000;
	int max_room;
	double mean;

	hkd_adapt_init(&a);
	for (int i = 0; i < 2; i++) {
		now += 10000000;
		hkd_adapt_learn(&a, HOOKD_OK, 10000000, now, CEILING);
	}
	mean = run(&a, knee, 400, 200, &now, &max_room);
	ck_assert_msg(mean >= KNEE * 0.5 && mean <= KNEE * 2.0,
	              "mean window %.1f, the knee at %d", mean, KNEE);
}
END_TEST

/* A receiver that fails every attempt is held to one at a time. */
START_TEST(test_failing_receiver_held_to_one)
{
	struct hkd_adapt a;
	int64_t now = 1000000;
	int max_room;

	hkd_adapt_init(&a);
	run(&a, failing, 20, 10, &now, &max_room);
	ck_assert_int_eq(max_room, 1);
}
END_TEST

/* Failures that are the sender's business (4xx) change nothing. */
START_TEST(test_fail_changes_nothing)
{
	struct hkd_adapt a;

	hkd_adapt_init(&a);
	for (int i = 0; i < 100; i++)
		hkd_adapt_learn(&a, HOOKD_FAIL, 1000, 1000000 + i, CEILING);
	ck_assert_int_eq(hkd_adapt_room(&a, CEILING), HKD_ADAPT_START);
}
END_TEST

/* One retry halves the window; the answers to attempts sent before that
 * cut (within one average latency) do not cut it again. */
START_TEST(test_one_cut_per_round_trip)
{
	struct hkd_adapt a;
	int64_t now = 1000000;

	grow_to_ceiling(&a, &now, 44000);
	now += 1000;
	for (int i = 0; i < 10; i++)
		hkd_adapt_learn(&a, HOOKD_RETRY, 44000, now + i, CEILING);
	ck_assert_int_eq(hkd_adapt_room(&a, CEILING), CEILING / 2);
	/* A round trip later, another retry cuts again. */
	hkd_adapt_learn(&a, HOOKD_RETRY, 44000, now + 50000, CEILING);
	ck_assert_int_eq(hkd_adapt_room(&a, CEILING), CEILING / 4);
}
END_TEST

/* A receiver that became slower for good (10 ms, then 100 ms at any
 * concurrency): its new latency becomes the base, and the window grows
 * again instead of staying cut. */
START_TEST(test_lasting_change_becomes_base)
{
	struct hkd_adapt a;
	int64_t now = 1000000;
	int max_room;

	grow_to_ceiling(&a, &now, 10000);
	fixed_us = 100000;
	run(&a, fixed, 300, 20, &now, &max_room);
	ck_assert_int_eq(max_room, CEILING);
}
END_TEST

/* The ceiling holds, also when it is lowered below the window. */
START_TEST(test_ceiling)
{
	struct hkd_adapt a;

	hkd_adapt_init(&a);
	for (int i = 0; i < 1000; i++)
		hkd_adapt_learn(&a, HOOKD_OK, 1000, 1000000 + i, 5);
	ck_assert_int_eq(hkd_adapt_room(&a, 5), 5);
	ck_assert_int_eq(hkd_adapt_room(&a, 3), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("adapt");
	TCase *tc = tcase_create("adapt");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_flat_receiver_reaches_ceiling);
	tcase_add_test(tc, test_knee_receiver_settles_near_knee);
	tcase_add_test(tc, test_slow_first_answers);
	tcase_add_test(tc, test_failing_receiver_held_to_one);
	tcase_add_test(tc, test_fail_changes_nothing);
	tcase_add_test(tc, test_one_cut_per_round_trip);
	tcase_add_test(tc, test_lasting_change_becomes_base);
	tcase_add_test(tc, test_ceiling);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
