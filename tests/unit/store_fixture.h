/*
 * What the store's unit tests (test_store, test_store_log) share: the
 * backends a case runs on, stores opened with the options every case
 * uses, events stored with their deliveries, attempt results recorded and
 * waited for, the deliveries recovery and replay hand out.
 *
 * A case of a "store" TCase runs once per backend (loop index 0:
 * "memory:", 1: "sqlite:<tmp>/t.db", 2: PostgreSQL, in a schema of its
 * own in the database HOOKD_TEST_PG_URL names; without that variable, or
 * in a build without PostgreSQL, those cases are left out and the run
 * says so).
 *
 * Attempt results are written asynchronously, so the cases that record
 * one either poll hkd_store_event_json with a bounded wait or, on the
 * file backend, close and reopen the store to prove hkd_store_close
 * flushed them.
 */
#ifndef HOOKD_TEST_STORE_FIXTURE_H
#define HOOKD_TEST_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <jansson.h>

#include "clock.h"
#include "store.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* How long a case waits for the writer to apply a queued result. */
#define WAIT_MS 10000
#define DAY_MS  (86400LL * 1000)

/* ---- Fixtures --------------------------------------------------------- */

/* Made by store_fixture_run, removed with all it holds when the run ends.
 * Every case uses the same database file, deleted before each case
 * starts. */
extern char tmproot[200];
extern char db_path[260]; /* tmproot/t.db */
extern char db_url[270];  /* "sqlite:" db_path */

/* HOOKD_TEST_PG_URL, when set and this build has PostgreSQL; else "". */
extern const char *pg_base;

/* A fresh, empty schema for this case (cases run in processes of their
 * own, so the pid names it): pg_base in that schema, as a URL. The schema
 * also names the connections opened with it (application_name). */
const char *pg_case_url(void);

#ifdef HKD_HAVE_PQ
/* Close, from the server's side, every connection of this case's stores
 * (none of another program's or case's on the same database). */
void pg_case_disconnect(void);
#endif

/* The backend of loop iteration i. */
const char *backend(int i);

/* How many backends the "store" cases loop over. */
int n_backends(void);

/* Does a closed and reopened store still hold what it held? */
int is_durable(const char *url);

/* Delete the database file and this case's schema: a checked fixture's
 * setup and teardown. */
void remove_db(void);

/*
 * The run: the temporary folder and the database's names made, the
 * PostgreSQL URL read (or why those cases are left out said), the suite
 * make_suite builds run; then the folder removed. What main returns.
 */
int store_fixture_run(Suite *(*make_suite)(void));

/* ---- Helpers ---------------------------------------------------------- */

void sleep_ms(long ms);

/* GET /v4/events/{id}'s answer for id, or NULL (unknown or unreadable). */
json_t *event_json(struct hkd_store *st, const char *id);

/* Options the cases share: nothing is purged while a case runs. */
struct hkd_store_options options(const char *url);

/* Open with o or fail the case. Caller owns: hkd_store_close. */
struct hkd_store *open_with(const struct hkd_store_options *o);
struct hkd_store *open_url(const char *url);

/* An event whose envelope has a string of pad bytes when pad > 0.
 * Caller owns: hkd_event_rec_unref. */
struct hkd_event_rec *event_new(const char *id, const char *type, size_t pad);

/* The retry schedule of every delivery put_targets stores, and its
 * targets when it is given none. */
extern const int64_t sched3[3];
extern const char *const targets3[3];
/* put_targets parks what it stores (hkd_new_delivery.parked) when set. */
extern int parked_puts;

/*
 * Store event id of type with n deliveries "<id>-d<i>" to
 * targets[i % n_targets] (targets3 when NULL), each with sched3.
 * Returns what hkd_store_put returned; err gets its reason.
 */
int put_targets(struct hkd_store *st, const char *id, const char *type,
                size_t n, const char *const *targets, size_t n_targets,
                size_t pad, char *err, size_t errlen);

/* Store an event that must be accepted. */
void put_ok(struct hkd_store *st, const char *id, const char *type, size_t n);

/* Queue the result of one attempt. */
void record(struct hkd_store *st, const char *delivery_id, unsigned attempt,
            int outcome, enum hkd_delivery_state state, int64_t next_at_ms,
            const char *reason);

/* The delivery with that id in an event's JSON (borrowed), or NULL. */
json_t *delivery_in(json_t *ev, const char *delivery_id);

size_t n_deliveries(json_t *ev);

/* o's string member key, or "(not a string)". */
const char *str_of(json_t *o, const char *key);

/*
 * Poll until the delivery has state and attempt count; returns the
 * event's JSON (caller owns: json_decref), or fails the case after
 * WAIT_MS.
 */
json_t *wait_delivery(struct hkd_store *st, const char *event_id,
                      const char *delivery_id, const char *state,
                      json_int_t attempts);

/* Wait for a delivery's state and drop the JSON. */
void wait_state(struct hkd_store *st, const char *event_id,
                const char *delivery_id, const char *state,
                json_int_t attempts);

/* Close and open the same store again (file backend: what reached disk). */
struct hkd_store *reopen(struct hkd_store *st, const char *url);

/* The deliveries hkd_store_recover/replay hand out. */
struct visits {
	struct hkd_stored_delivery d[64];
	size_t n;
	size_t calls;
};

/* A hkd_store_visit_fn: takes d. */
void collect(void *arg, struct hkd_stored_delivery *d);

void visits_release(struct visits *v);

/* The visited delivery with that id, or NULL. */
struct hkd_stored_delivery *visited(struct visits *v, const char *id);

/* The schedule every delivery was stored with, and the event intact. */
void assert_stored(const struct hkd_stored_delivery *d, const char *event_id,
                   const char *type);

#endif /* HOOKD_TEST_STORE_FIXTURE_H */
