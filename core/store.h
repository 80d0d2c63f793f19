/*
 * The store: where accepted events, their deliveries and every attempt
 * live. Acknowledged means stored: an event and all its deliveries are
 * written in one transaction before the client hears 202.
 *
 * Backends: "sqlite:PATH" (the default; WAL), "memory:" (the same
 * schema in an in-memory SQLite database: volatile, for tests and
 * benchmarks) and "postgresql://…" (one database several hookd nodes
 * share; see store_pg.c). All go through one writer thread that commits
 * whatever is waiting in one transaction (group commit): callers of the
 * synchronous functions block until their part is committed; attempt
 * results are queued and written in the next batch.
 *
 * Threads: every function may be called from any thread once
 * hkd_store_open returned; hkd_store_close from the main thread after the
 * dispatcher and HTTP server stopped.
 */
#ifndef HKD_STORE_H
#define HKD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"
#include "hookd/plugin.h"

struct hkd_store;

enum hkd_delivery_state {
	HKD_STATE_PENDING = 0,
	HKD_STATE_RETRYING = 1,
	HKD_STATE_SUCCEEDED = 2,
	HKD_STATE_DEAD = 3
};

/* "pending", …; hkd_state_parse returns -1 for an unknown name. */
const char *hkd_state_name(enum hkd_delivery_state s);
int hkd_state_parse(const char *name);

/* Results of the synchronous calls. */
#define HKD_STORE_OK        0
#define HKD_STORE_DUPLICATE 1 /* put: an event with that id exists */
#define HKD_STORE_NOT_FOUND 2
#define HKD_STORE_CONFLICT  3    /* replay: the delivery is not dead */
#define HKD_STORE_FAILED    (-1) /* could not write: disk full, locked, I/O */

/* What the nodes of a shared store tell each other at once (polling
 * finds it too, later). */
enum hkd_store_news {
	HKD_STORE_NEWS_WORK, /* deliveries became claimable */
	HKD_STORE_NEWS_SUBS, /* subscriptions changed */
};

struct hkd_store_options {
	const char *url; /* "sqlite:PATH", "memory:" or "postgresql://…" */
	const char *synchronous; /* "full" (default), "normal" or "off" */
	int64_t max_size; /* bytes the database may grow to; 0 = no cap */
	int64_t
	    keep_succeeded_ms; /* purge events whose deliveries all succeeded */
	int64_t keep_dead_ms;  /* purge events with dead deliveries */
	int64_t purge_interval_ms;
	int64_t lease_ms;     /* shared store: how long a node's claim holds
	                         without renewal; 0 = 30 s */
	int pool_size;        /* PostgreSQL: connections serving reads; 0 = 4 */
	int64_t pool_wait_ms; /* PostgreSQL: how long a read waits for one of
	                         them before it fails; 0 = 5 s */
	/* Shared store: called, on a thread of the store's, when another
	 * node committed news, and whenever the store could have missed
	 * some (it started listening again after losing its connection).
	 * Must not wait for the store. NULL: nobody listens. */
	void (*news)(void *arg, enum hkd_store_news what);
	void *news_arg;
	/* The key that seals subscription secrets at rest (storage.secret_key,
	 * resolved: 64 hex digits or base64 of 32 bytes). NULL: for sqlite:
	 * the file hookd.key beside the database, made when missing; for
	 * memory: a random one; PostgreSQL requires it (every node needs the
	 * same). */
	const char *secret_key;
};

/* 0 when url names a backend this build has, -1 with why in err. */
int hkd_store_url_check(const char *url, char *err, size_t errlen);

/*
 * Open (creating and migrating the schema) and start the writer thread.
 * NULL with the reason in err.
 */
struct hkd_store *hkd_store_open(const struct hkd_store_options *o, char *err,
                                 size_t errlen);
/* Write everything queued, stop the writer, close. */
void hkd_store_close(struct hkd_store *st);

/*
 * Do other hookd processes share this store's queue (PostgreSQL)? Then
 * deliveries may become claimable without this process parking them
 * (another node parked them, or died holding them): poll for them.
 */
int hkd_store_is_shared(const struct hkd_store *st);

/* A delivery created at ingest. */
struct hkd_new_delivery {
	char id[48];
	const char *target;
	const int64_t *retry_ms;
	size_t n_retry;
	int parked; /* not taken into memory now: hkd_store_claim hands it out
	             */
};

/*
 * Store ev and its n deliveries in one transaction (group commit); blocks
 * until committed. HKD_STORE_OK, HKD_STORE_DUPLICATE (nothing written) or
 * HKD_STORE_FAILED (nothing written; why in err).
 */
int hkd_store_put(struct hkd_store *st, const struct hkd_event_rec *ev,
                  const struct hkd_new_delivery *d, size_t n, char *err,
                  size_t errlen);

/* The outcome of one attempt and the delivery's state after it. */
struct hkd_attempt_rec {
	char delivery_id[48];
	unsigned attempt;   /* 1-based */
	int outcome;        /* enum hookd_status */
	int64_t started_ms; /* wall clock */
	int64_t duration_us;
	char reason[HOOKD_REASON_MAX];
	enum hkd_delivery_state state;
	int64_t next_at_ms; /* wall clock, with HKD_STATE_RETRYING */
	int release; /* the delivery leaves memory: park it until next_at_ms */
};

/* Queue a result for the next batch (never blocks on the disk). */
void hkd_store_record(struct hkd_store *st, const struct hkd_attempt_rec *a);

/* Called for each delivery that goes back to the dispatcher; takes it. */
typedef void (*hkd_store_visit_fn)(void *arg, struct hkd_stored_delivery *d);

/* Every delivery not finished (pending or retrying). 0, or -1. */
int hkd_store_recover(struct hkd_store *st, hkd_store_visit_fn visit,
                      void *arg);

/*
 * Leases. A delivery the dispatcher holds in memory is leased to this
 * process; the others are parked in the store: a backlog past queue_size,
 * or a retry far in the future. hkd_store_claim takes parked deliveries
 * that are due, oldest due first.
 *
 * hkd_store_release_all, at start: nothing is in memory yet, so every
 * unfinished delivery this process holds becomes parked (on a shared
 * store, only this node's: other nodes' leases stay theirs). Returns how
 * many unfinished deliveries the store holds, or -1.
 */
long long hkd_store_release_all(struct hkd_store *st);

/* Unfinished (pending or retrying) deliveries, once every result queued
 * before the call is written; -1 when the store cannot say. */
long long hkd_store_unfinished(struct hkd_store *st);

/*
 * Lease up to max parked deliveries due now and hand each to visit (after
 * the lease is committed). *claimed counts them; *next_at is the wall-clock
 * due time of the earliest parked delivery left (-1: none). HKD_STORE_OK or
 * _FAILED.
 */
int hkd_store_claim(struct hkd_store *st, size_t max, hkd_store_visit_fn visit,
                    void *arg, size_t *claimed, int64_t *next_at);

/*
 * Make a dead delivery pending again (its schedule starts over) and hand
 * it to visit. HKD_STORE_OK, _NOT_FOUND, _CONFLICT (*state_out says the
 * state it is in) or _FAILED.
 */
int hkd_store_replay(struct hkd_store *st, const char *delivery_id,
                     hkd_store_visit_fn visit, void *arg, int *state_out);

/*
 * Replay up to max dead deliveries matching target (NULL: any) and event
 * type glob (NULL: any). *done and *left count replayed and still-dead
 * matches. HKD_STORE_OK or _FAILED.
 */
int hkd_store_replay_dead(struct hkd_store *st, const char *target,
                          const char *type_glob, size_t max,
                          hkd_store_visit_fn visit, void *arg, size_t *done,
                          size_t *left);

struct hkd_delivery_filter {
	int state;          /* -1 = any */
	const char *target; /* NULL = any */
	const char *event_id;
	size_t limit;
	int64_t
	    before_seq; /* cursor: only older than this; 0 = from the newest */
};

/*
 * The reads of the delivery log hand out rows as views: plain structs whose
 * strings are borrowed for the one call that receives them. What a row
 * looks like on the wire is not the store's business (log_json.c writes
 * the API's JSON from these).
 */
struct hkd_delivery_view {
	int64_t seq; /* order of creation; the listing's cursor */
	const char *id, *event_id, *event_type, *target;
	enum hkd_delivery_state state;
	unsigned attempts; /* made so far */
	int64_t next_at;   /* wall ms of the next attempt; while unfinished */
	const char *last_outcome, *last_reason; /* NULL before any attempt */
	int64_t created_at, updated_at;         /* wall ms */
};

struct hkd_attempt_view {
	unsigned number;     /* 1, 2, … */
	int64_t started_at;  /* wall ms */
	int64_t duration_us; /* how long it took */
	const char *outcome, *detail;
};

struct hkd_audit_view {
	int64_t seq, at; /* at: wall ms */
	const char *key_id, *action, *target;
	const char *detail; /* NULL when none */
};

/*
 * What a read calls, row by row, in order. Each function returns 0 to go
 * on or -1 to stop the read there (the reader has what it wants, or ran
 * out of memory); a stopped read is not a failed one. Members a read never
 * calls may be NULL.
 */
struct hkd_log_reader {
	/* The event as stored: its envelope, JSON text of len bytes. */
	int (*event)(void *arg, const char *json, size_t len);
	int (*delivery)(void *arg, const struct hkd_delivery_view *d);
	/* One attempt of the delivery last handed to delivery(). */
	int (*attempt)(void *arg, const struct hkd_attempt_view *a);
	int (*audit)(void *arg, const struct hkd_audit_view *a);
	void *arg;
};

/* Event id: the event, then each of its deliveries (oldest first), each
 * followed by its attempts (oldest first). HKD_STORE_OK, _NOT_FOUND, or
 * _FAILED when the store could not be read (the event may exist). */
int hkd_store_read_event(struct hkd_store *st, const char *id,
                         const struct hkd_log_reader *r);

/* The deliveries f selects, newest first: at most f->limit + 1 of them,
 * so that a reader can tell whether there is a next page. HKD_STORE_OK or
 * _FAILED. */
int hkd_store_read_deliveries(struct hkd_store *st,
                              const struct hkd_delivery_filter *f,
                              const struct hkd_log_reader *r);

/* Dead deliveries currently stored, or -1. */
long long hkd_store_dead_count(struct hkd_store *st);

/* How old hkd_store_dead_gauge's count may be before a new one is queued. */
#define HKD_DEAD_GAUGE_TTL_MS 1000

/*
 * The dead-letter gauge of /metrics: hkd_store_dead_count as the writer
 * thread last took it, so scrapes, however many, never count themselves.
 * A count older than HKD_DEAD_GAUGE_TTL_MS queues one new count on the
 * writer (one at a time) and is returned as it is; only a call before any
 * count waits for one. -1 when no count has succeeded yet.
 */
long long hkd_store_dead_gauge(struct hkd_store *st);

/* One change made through the API, for the audit trail. Borrowed. */
struct hkd_audit_rec {
	const char *key_id; /* which API key: "key:" and 12 hex digits of its
	                       SHA-256, never the key; "open" without keys */
	const char *action; /* "subscription.create", "delivery.replay", ... */
	const char *target; /* the id acted on; "*" for a bulk replay */
	const char *detail; /* more, or NULL */
};

/* Store rec stamped now, synchronously. HKD_STORE_OK or _FAILED. Kept as
 * long as dead deliveries (keep_dead), then purged. */
int hkd_store_audit_add(struct hkd_store *st, const struct hkd_audit_rec *rec);

/* The audit trail, newest first: at most limit + 1 records, older than
 * before_seq when that is not 0. HKD_STORE_OK or _FAILED. */
int hkd_store_read_audit(struct hkd_store *st, size_t limit, int64_t before_seq,
                         const struct hkd_log_reader *r);

/* Subscriptions, stored as JSON documents keyed by id (synchronous).
 * save inserts or replaces; HKD_STORE_OK or _FAILED. Their "secret" and
 * "previousSecret" are stored sealed (seal.h) and handed to load's visit
 * open; one found stored in the clear (a database from before) is sealed
 * by the load that finds it. load fails (-1, logged) when a sealed one
 * does not open with this store's key. */
int hkd_store_sub_save(struct hkd_store *st, const char *id, const json_t *doc);
/* HKD_STORE_OK, _NOT_FOUND or _FAILED. */
int hkd_store_sub_delete(struct hkd_store *st, const char *id);
/* Call visit for every stored subscription (doc borrowed for the call). */
int hkd_store_sub_load(struct hkd_store *st,
                       void (*visit)(void *arg, const json_t *doc), void *arg);

#endif
