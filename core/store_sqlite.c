/*
 * The SQLite store, behind core/store.h, for both "sqlite:PATH" and
 * "memory:" (the same schema in an in-memory database).
 *
 * One writer thread (store_writer.c) owns the write connection. Writes
 * arrive as jobs on a queue; the writer takes everything waiting, runs
 * the jobs in one transaction, commits once, then wakes the callers that
 * wait (group commit). A job that fails for a storage reason (disk full,
 * locked, I/O) is rolled back alone: the batch runs again with each job in
 * its own SAVEPOINT (when the job ends the whole transaction,
 * as SQLITE_FULL does, the others are retried one by one); a synchronous
 * caller hears HKD_STORE_FAILED, a queued attempt result is kept and
 * written later, so a store that recovers loses nothing.
 *
 * Reads (the log API, recovery) use a second connection on a file
 * database (WAL lets it read while the writer writes); an in-memory
 * database has one connection, shared under the writer's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "glob.h"
#include "log.h"
#include "metrics.h"
#include "store_backend.h"
#include "store_sqlite.h"
#include "store_writer.h"
#include "util.h"

/* Bump with every schema change; migrate() brings older files forward. */
#define SCHEMA_VERSION 4
/* The lease owner of deliveries this process holds in memory. */
#define LEASE_LOCAL "local"
/* How long the writer waits for a lock held by another process. */
#define BUSY_TIMEOUT_MS 1000
/* Events purged per transaction. A step of a purge runs between two
 * batches of writes, so this bounds how long the purge delays a commit. */
#define PURGE_CHUNK 100

static const char *const wstmt_sql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_SAVEPOINT] = "SAVEPOINT job",
    [W_RELEASE] = "RELEASE job",
    [W_ROLLBACK_TO] = "ROLLBACK TO job",
    [W_PUT_EVENT] =
        "INSERT INTO events(id, type, source, timestamp, created_at, body) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
    [W_PUT_DELIVERY] =
        "INSERT INTO deliveries(id, event_seq, target, state, schedule, "
        "next_at, created_at, updated_at, lease_owner) "
        "VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)",
    [W_DELIVERY_SEQ] = "SELECT seq FROM deliveries WHERE id = ?",
    /* By seq, without RETURNING: SQLite runs a RETURNING clause as a
     * trigger, which makes the UPDATE open a statement journal (every
     * page it changes copied, a 64 KiB buffer allocated and freed) and
     * a temporary table for the rows it returns, on every attempt. */
    [W_RECORD_STATE] =
        "UPDATE deliveries SET state = ?, attempts = max(attempts, ?), "
        "next_at = ?, last_outcome = ?, last_reason = ?, updated_at = ?, "
        "lease_owner = CASE WHEN ?8 THEN NULL ELSE lease_owner END "
        "WHERE seq = ?7",
    [W_RECORD_ATTEMPT] =
        "INSERT INTO attempts(delivery_seq, number, started_at, duration_us, "
        "outcome, detail) VALUES (?, ?, ?, ?, ?, ?)",
};

/* The writer's statement `w`, reset and unbound; NULL when it cannot be
 * prepared (the error is db's). Call with wlock held. */
static sqlite3_stmt *wstmt(struct sq_store *st, enum wstmt w)
{
	if (st->ws[w]) {
		sqlite3_reset(st->ws[w]);
		sqlite3_clear_bindings(st->ws[w]);
		return st->ws[w];
	}
	if (sqlite3_prepare_v3(st->db, wstmt_sql[w], -1,
	                       SQLITE_PREPARE_PERSISTENT, &st->ws[w],
	                       NULL) != SQLITE_OK)
		return NULL;
	return st->ws[w];
}

/* Run statement `w`, which returns no rows. 0, or -1 (the error is db's). */
static int wexec(struct sq_store *st, enum wstmt w)
{
	sqlite3_stmt *q = wstmt(st, w);
	int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
	if (q)
		sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void wstmt_finalize(struct sq_store *st)
{
	for (int i = 0; i < W_COUNT; i++) {
		sqlite3_finalize(st->ws[i]);
		st->ws[i] = NULL;
	}
}

static const char *outcome_name(int st)
{
	return st == HOOKD_OK ? "ok" : st == HOOKD_RETRY ? "retry" : "fail";
}

/* --- schema ---------------------------------------------------------- */

static const char schema_v1[] =
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  timestamp TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  body TEXT NOT NULL);"
    "CREATE INDEX events_created ON events(created_at);"
    "CREATE TABLE deliveries ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  event_seq INTEGER NOT NULL REFERENCES events(seq),"
    "  target TEXT NOT NULL,"
    "  kind TEXT NOT NULL DEFAULT 'handler',"
    "  state INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  base INTEGER NOT NULL DEFAULT 0,"
    "  schedule TEXT NOT NULL,"
    "  next_at INTEGER NOT NULL,"
    "  last_outcome TEXT,"
    "  last_reason TEXT,"
    "  lease_owner TEXT,"
    "  lease_until INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX deliveries_state ON deliveries(state, next_at);"
    "CREATE INDEX deliveries_target ON deliveries(target, state);"
    "CREATE INDEX deliveries_event ON deliveries(event_seq);"
    "CREATE TABLE attempts ("
    "  seq INTEGER PRIMARY KEY,"
    "  delivery_seq INTEGER NOT NULL REFERENCES deliveries(seq),"
    "  number INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_us INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX attempts_delivery ON attempts(delivery_seq);"
    "CREATE TABLE subscriptions ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);";

/*
 * Version 2: deliveries not held in memory by the dispatcher ("parked": a
 * backlog past queue_size, retries far in the future) have no lease owner;
 * the claim query takes the due ones in order from this index.
 */
static const char schema_v2[] =
    "CREATE INDEX deliveries_parked ON deliveries(next_at, seq) "
    "WHERE state < 2 AND lease_owner IS NULL;";

/*
 * Version 3: indexes that the writer keeps up for every event only where a
 * query uses them. deliveries_target served no query (the log API and the
 * bulk replay filter by target with "?N IS NULL OR target = ?N", which
 * SQLite cannot look up in an index). deliveries_state held every
 * delivery, but the queries read only unfinished ones (recovery, the lease
 * release, their count) and dead ones (replay, the dead count): two partial
 * indexes hold just those, so a delivery that succeeds (nearly all) leaves
 * the first and enters none, instead of moving within both. (SQLite uses a
 * partial index only for a query that has its WHERE term as written:
 * "state < 2", "state = 3".)
 */
static const char schema_v3[] =
    "DROP INDEX deliveries_target;"
    "DROP INDEX deliveries_state;"
    "CREATE INDEX deliveries_open ON deliveries(state, next_at) WHERE state < "
    "2;"
    "CREATE INDEX deliveries_dead ON deliveries(state) WHERE state = 3;";

/* Version 4: the audit trail of changes made through the API. */
static const char schema_v4[] = "CREATE TABLE audit ("
                                "  seq INTEGER PRIMARY KEY,"
                                "  at INTEGER NOT NULL,"
                                "  key_id TEXT NOT NULL,"
                                "  action TEXT NOT NULL,"
                                "  target TEXT NOT NULL,"
                                "  detail TEXT);"
                                "CREATE INDEX audit_at ON audit(at);";

/* Each entry brings the schema from version i to i + 1. */
static const char *const migrations[] = {schema_v1, schema_v2, schema_v3,
                                         schema_v4};

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		hkd_set_err(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *q = NULL;
	int version = 0;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) !=
	    SQLITE_OK)
		goto fail;
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (version > SCHEMA_VERSION) {
		hkd_set_err(err, errlen,
		            "the database has schema version %d, newer than "
		            "this hookd's %d",
		            version, SCHEMA_VERSION);
		return -1;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		char sql[64];
		if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen) != 0)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(db, migrations[v], err, errlen) != 0 ||
		    exec_sql(db, sql, err, errlen) != 0 ||
		    exec_sql(db, "COMMIT", err, errlen) != 0) {
			exec_sql(db, "ROLLBACK", NULL, 0);
			return -1;
		}
	}
	hkd_store_log_schema(version, SCHEMA_VERSION);
	return 0;
fail:
	hkd_set_err(err, errlen, "%s", sqlite3_errmsg(db));
	return -1;
}

/*
 * A database file that does not exist yet is created here, mode 0600
 * whatever the umask: it holds events and subscription secrets, and SQLite
 * gives its -wal and -shm files the mode of the database. An existing
 * file keeps its mode (the operator's). 0, or -1 with why in err.
 */
static int create_private(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		hkd_set_err(err, errlen, "cannot create %s: %s", path,
		            strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) != 0) { /* open's mode is masked by the umask */
		hkd_set_err(err, errlen, "cannot set the mode of %s: %s", path,
		            strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int open_db(const char *name, int flags, sqlite3 **out, char *err,
                   size_t errlen)
{
	int rc =
	    sqlite3_open_v2(name, out, flags | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		hkd_set_err(err, errlen, "cannot open %s: %s", name,
		            *out ? sqlite3_errmsg(*out) : sqlite3_errstr(rc));
		sqlite3_close(*out);
		*out = NULL;
		return -1;
	}
	sqlite3_busy_timeout(*out, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(*out, 1);
	return 0;
}

/* --- job queue ------------------------------------------------------- */

/* Is rc a failure of the storage itself (as opposed to the request)? */
static int storage_error(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_CORRUPT:
	case SQLITE_PROTOCOL:
		return 1;
	}
	return 0;
}

/*
 * The connection's last error into err, with the system's reason for an
 * I/O error: SQLite says only "disk I/O error", which does not tell a
 * read-only filesystem from a failing disk. Call it right after the call
 * that failed: SQLite keeps the reason (sqlite3_system_errno) for some
 * failures but not for a failed commit, and for those the reason is errno
 * as the failed call left it, which is how SQLite's unix VFS reads it too.
 */
static void db_err(sqlite3 *db, char *err, size_t errlen)
{
	int os = errno; /* before anything else can change it */
	int code = sqlite3_extended_errcode(db) & 0xff;
	int sys = sqlite3_system_errno(db);

	if (sys == 0)
		sys = os;
	if ((code == SQLITE_IOERR || code == SQLITE_CANTOPEN) && sys != 0)
		hkd_set_err(err, errlen, "%s (%s)", sqlite3_errmsg(db),
		            strerror(sys));
	else
		hkd_set_err(err, errlen, "%s", sqlite3_errmsg(db));
}

/* --- jobs (run on the writer, inside its transaction) ------------------ */

/*
 * Report the last statement's failure as the job's: HKD_STORE_FAILED when
 * the storage failed (worth trying again), HKD_JOB_BROKEN when the job itself
 * can never succeed.
 */
int sq_stmt_fail(struct sq_store *st, char *err, size_t errlen)
{
	int code = sqlite3_extended_errcode(st->db);
	db_err(st->db, err, errlen);
	return storage_error(code) ? HKD_STORE_FAILED : HKD_JOB_BROKEN;
}

int sq_job_end(struct sq_store *st, sqlite3_stmt *q, int own, int rc, char *err,
               size_t errlen)
{
	if (rc == HKD_STORE_FAILED)
		rc = sq_stmt_fail(st, err, errlen);
	if (own)
		sqlite3_finalize(q);
	else if (q)
		sqlite3_reset(q);
	return rc;
}

static int job_put(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	struct hkd_put_arg *a = argp;
	sqlite3_stmt *q = NULL;
	int64_t now = hkd_now_ms(), event_seq;
	int rc = HKD_STORE_FAILED;

	if (!(q = wstmt(st, W_PUT_EVENT)))
		goto out;
	sqlite3_bind_text(q, 1, a->ev->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, a->ev->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, a->ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, a->ev->timestamp, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, now);
	sqlite3_bind_text(q, 6, a->ev->json, (int)a->ev->json_len,
	                  SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto out;
	if (sqlite3_changes(st->db) == 0) {
		rc = HKD_STORE_DUPLICATE;
		goto out;
	}
	event_seq = sqlite3_last_insert_rowid(st->db);
	sqlite3_reset(q);
	if (!(q = wstmt(st, W_PUT_DELIVERY)))
		goto out;
	for (size_t i = 0; i < a->n; i++) {
		char *sched =
		    hkd_store_schedule_json(a->d[i].retry_ms, a->d[i].n_retry);
		if (!sched) {
			hkd_set_err(err, errlen, "out of memory");
			goto out;
		}
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, a->d[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, event_seq);
		sqlite3_bind_text(q, 3, a->d[i].target, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 4, sched, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 5, now);
		sqlite3_bind_int64(q, 6, now);
		sqlite3_bind_int64(q, 7, now);
		if (!a->d[i].parked)
			sqlite3_bind_text(q, 8, LEASE_LOCAL, -1, SQLITE_STATIC);
		free(sched);
		if (sqlite3_step(q) != SQLITE_DONE)
			goto out;
	}
	rc = HKD_STORE_OK;
out:
	return sq_job_end(st, q, 0, rc, err, errlen);
}

static int job_record(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	const struct hkd_attempt_rec *a = argp;
	sqlite3_stmt *q = NULL;
	int64_t dseq;
	int rc = HKD_STORE_FAILED;

	if (!(q = wstmt(st, W_DELIVERY_SEQ)))
		goto out;
	sqlite3_bind_text(q, 1, a->delivery_id, -1, SQLITE_STATIC);
	switch (sqlite3_step(q)) {
	case SQLITE_ROW:
		break;
	case SQLITE_DONE:
		rc = HKD_STORE_NOT_FOUND; /* purged meanwhile: nothing to do */
		goto out;
	default:
		goto out;
	}
	dseq = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	if (!(q = wstmt(st, W_RECORD_STATE)))
		goto out;
	sqlite3_bind_int(q, 1, (int)a->state);
	sqlite3_bind_int(q, 2, (int)a->attempt);
	sqlite3_bind_int64(q, 3, a->next_at_ms);
	sqlite3_bind_text(q, 4, outcome_name(a->outcome), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, a->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, hkd_now_ms());
	sqlite3_bind_int64(q, 7, dseq);
	sqlite3_bind_int(q, 8, a->release);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto out;
	sqlite3_reset(q);
	if (!(q = wstmt(st, W_RECORD_ATTEMPT)))
		goto out;
	sqlite3_bind_int64(q, 1, dseq);
	sqlite3_bind_int(q, 2, (int)a->attempt);
	sqlite3_bind_int64(q, 3, a->started_ms);
	sqlite3_bind_int64(q, 4, a->duration_us);
	sqlite3_bind_text(q, 5, outcome_name(a->outcome), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, a->reason, -1, SQLITE_STATIC);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto out;
	rc = HKD_STORE_OK;
out:
	return sq_job_end(st, q, 0, rc, err, errlen);
}

/* Delete up to PURGE_CHUNK finished events older than their retention, in
 * one transaction; *more says whether there may be more. Their number, or
 * -1. Call with wlock held. */
static int purge_chunk(struct sq_store *st, int64_t now, int *more)
{
	static const char sql[] = "CREATE TEMP TABLE IF NOT EXISTS "
	                          "purge_set(seq INTEGER PRIMARY KEY);"
	                          "DELETE FROM purge_set;";
	sqlite3_stmt *q = NULL;
	int n = 0, ok = -1;
	char err[256];

	*more = 0;
	/* Locked, or cannot write: the writer reports that. */
	if (exec_sql(st->db, "BEGIN IMMEDIATE", err, sizeof(err)) != 0)
		return -1;
	if (exec_sql(st->db, sql, err, sizeof(err)) != 0)
		goto out;
	/* Succeeded-only events past keep_succeeded, and events with dead
	 * deliveries past keep_dead; never one with work left. */
	if (sqlite3_prepare_v2(
	        st->db,
	        "INSERT INTO purge_set(seq) SELECT e.seq FROM events e WHERE "
	        "e.created_at < max(?1, ?2) "
	        "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq "
	        "= e.seq AND d.state < 2) "
	        "AND e.created_at < CASE WHEN EXISTS (SELECT 1 FROM deliveries "
	        "d "
	        "  WHERE d.event_seq = e.seq AND d.state = 3) THEN ?2 ELSE ?1 "
	        "END "
	        "LIMIT ?3",
	        -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(q, 1, now - st->opt.keep_succeeded_ms);
	sqlite3_bind_int64(q, 2, now - st->opt.keep_dead_ms);
	sqlite3_bind_int(q, 3, PURGE_CHUNK);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto out;
	n = sqlite3_changes(st->db);
	/* CROSS JOIN keeps purge_set the outer loop: left to choose, SQLite
	 * scans all of deliveries_event for the chunk's few events, which
	 * made a chunk's time grow with the whole database. */
	if (n > 0 &&
	    exec_sql(
	        st->db,
	        "DELETE FROM attempts WHERE delivery_seq IN (SELECT d.seq FROM "
	        "purge_set p "
	        "  CROSS JOIN deliveries d ON d.event_seq = p.seq);"
	        "DELETE FROM deliveries WHERE event_seq IN (SELECT seq FROM "
	        "purge_set);"
	        "DELETE FROM events WHERE seq IN (SELECT seq FROM purge_set);",
	        err, sizeof(err)) != 0)
		goto out;
	ok = 0;
out:
	sqlite3_finalize(q);
	if (ok == 0 && exec_sql(st->db, "COMMIT", err, sizeof(err)) == 0) {
		*more = n == PURGE_CHUNK;
		return n;
	}
	/* The reason before ROLLBACK replaces the connection's error. */
	db_err(st->db, err, sizeof(err));
	exec_sql(st->db, "ROLLBACK", NULL, 0);
	hkd_log_kv(HOOKD_LOG_WARN, "store", "detail", "purge failed", "reason",
	           err, NULL);
	return -1;
}

/* The audit records past keep_dead, with wlock held. */
static void purge_audit(struct sq_store *st, int64_t now)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM audit WHERE at < ?1", -1,
	                       &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, now - st->opt.keep_dead_ms);
		if (sqlite3_step(q) != SQLITE_DONE)
			hkd_log_kv(HOOKD_LOG_WARN, "store", "detail",
			           "audit purge failed", "reason",
			           sqlite3_errmsg(st->db), NULL);
	}
	sqlite3_finalize(q);
}

/*
 * The writer's idle task (see struct hkd_writer): purge in short
 * transactions, one with step set, else until done or a job waits. 1 when
 * work is left; the events purged are added to *done.
 */
static int purge(void *backend, int step, long long *done)
{
	struct sq_store *st = backend;
	int64_t now = hkd_now_ms();
	int more = 0;
	if (!step) {
		pthread_mutex_lock(&st->wlock);
		purge_audit(st, now);
		pthread_mutex_unlock(&st->wlock);
	}
	do {
		int n;
		pthread_mutex_lock(&st->wlock);
		n = purge_chunk(st, now, &more);
		pthread_mutex_unlock(&st->wlock);
		if (n < 0) {
			more = 0; /* logged; try again at the next interval */
			break;
		}
		*done += n;
	} while (more && !step && !hkd_writer_pending(&st->w));
	return more;
}

/* --- the writer ------------------------------------------------------ */

/*
 * Run the jobs of list `batch` in one transaction. With `isolate` each job
 * runs in its own savepoint, so a job that fails is rolled back alone and
 * leaves the others in. Without it the jobs run bare: a savepoint costs
 * more than the job itself (SQLite copies every page the job changes into
 * the statement journal, a 64 KiB buffer it allocates and frees per
 * savepoint), and jobs rarely fail. A bare job that fails (HKD_STORE_FAILED,
 * HKD_JOB_BROKEN) may have written half of itself: the transaction is then
 * rolled back and 1 returned, for the caller to run the batch again
 * isolated. (Every job can run again: the ones that read rows back start
 * afresh. A job that ends HKD_STORE_DUPLICATE or HKD_STORE_NOT_FOUND has
 * written nothing, so a bare one needs no rollback.)
 *
 * Sets every job's rc unless it returns 1; returns 0, 1, or -1 when the
 * transaction as a whole was lost (*in_job then says whether a job's own
 * statement ended it, as SQLITE_FULL does).
 */
static int run_txn(struct sq_store *st, struct hkd_job *batch, int isolate,
                   int *in_job)
{
	char err[256] = "";
	int64_t t0 = hkd_mono_us();
	size_t n = 0;
	int lost = 0, again = 0;

	*in_job = 0;
	pthread_mutex_lock(&st->wlock);
	if (wexec(st, W_BEGIN) != 0) {
		db_err(st->db, err, sizeof(err));
		lost = 1;
		goto done;
	}
	for (struct hkd_job *j = batch; j; j = j->next, n++) {
		int failed;
		if (isolate && wexec(st, W_SAVEPOINT) != 0) {
			db_err(st->db, err, sizeof(err));
			lost = 1;
			break;
		}
		j->rc = j->fn(st, j->arg, j->err, sizeof(j->err));
		/* Some errors (disk full, I/O) end the whole transaction. */
		if (sqlite3_get_autocommit(st->db)) {
			hkd_strlcpy(err, j->err, sizeof(err));
			lost = 1;
			*in_job = 1;
			break;
		}
		failed = j->rc == HKD_STORE_FAILED || j->rc == HKD_JOB_BROKEN;
		if (!isolate && failed) {
			again = 1;
			break;
		}
		if (isolate) {
			if (failed || j->rc == HKD_STORE_DUPLICATE)
				wexec(st, W_ROLLBACK_TO);
			wexec(st, W_RELEASE);
		}
	}
	if (!lost && !again && wexec(st, W_COMMIT) != 0) {
		db_err(st->db, err, sizeof(err));
		lost = 1;
	}
	if ((lost || again) && !sqlite3_get_autocommit(st->db))
		wexec(st, W_ROLLBACK);
done:
	if (lost)
		for (struct hkd_job *j = batch; j; j = j->next) {
			j->rc = HKD_STORE_FAILED;
			hkd_strlcpy(j->err, err, sizeof(j->err));
		}
	pthread_mutex_unlock(&st->wlock);
	if (again)
		return 1; /* not a commit: the isolated run is measured */
	hkd_metrics_commit(n, hkd_mono_us() - t0, !lost);
	return lost ? -1 : 0;
}

/*
 * Run one batch: bare, then isolated when a job failed in it. When one
 * job's failure ends the shared transaction (a large event on a full
 * disk), each job is tried again alone, so the others are not refused
 * with it. 0 when anything was written, else -1.
 */
static int run_batch(void *backend, struct hkd_job *batch)
{
	struct sq_store *st = backend;
	int rc, in_job, written = 0;
	rc = run_txn(st, batch, 0, &in_job);
	if (rc == 1)
		rc = run_txn(st, batch, 1, &in_job);
	if (rc == 0)
		return 0;
	if (!in_job || !batch->next)
		return -1;
	for (struct hkd_job *j = batch, *next; j; j = next) {
		next = j->next;
		j->next = NULL;
		if (run_txn(st, j, 1, &in_job) == 0)
			written = 1;
		j->next = next;
	}
	return written ? 0 : -1;
}

/* --- open and close -------------------------------------------------- */

static int configure_db(struct sq_store *st, sqlite3 *db, char *err,
                        size_t errlen)
{
	char sql[160];
	const char *sync = st->opt.synchronous ? st->opt.synchronous : "full";
	if (strcmp(sync, "full") != 0 && strcmp(sync, "normal") != 0 &&
	    strcmp(sync, "off") != 0) {
		hkd_set_err(err, errlen,
		            "synchronous must be full, normal or off");
		return -1;
	}
	if (st->path &&
	    exec_sql(db, "PRAGMA journal_mode = WAL", err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", sync);
	if (exec_sql(db, sql, err, errlen) != 0)
		return -1;
	if (st->opt.max_size > 0) {
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
		         (long long)(st->opt.max_size / 4096 > 0
		                         ? st->opt.max_size / 4096
		                         : 1));
		if (exec_sql(db, "PRAGMA page_size = 4096", err, errlen) != 0 ||
		    exec_sql(db, sql, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static const struct hkd_store_ops sq_ops;

struct hkd_store *hkd_store_sqlite_open(const struct hkd_store_options *o,
                                        char *err, size_t errlen)
{
	struct sq_store *st = calloc(1, sizeof(*st));
	int memory;
	if (!st) {
		hkd_set_err(err, errlen, "out of memory");
		return NULL;
	}
	st->base.ops = &sq_ops;
	st->base.writer = &st->w;
	st->opt = *o;
	if (st->opt.purge_interval_ms <= 0)
		st->opt.purge_interval_ms = 60000;
	memory = strcmp(o->url, "memory:") == 0;
	st->path = memory ? NULL : strdup(o->url + 7);
	pthread_mutex_init(&st->wlock, NULL);
	pthread_mutex_init(&st->rlock_own, NULL);
	if (!memory && create_private(st->path, err, errlen) != 0)
		goto fail;
	if (open_db(memory ? ":memory:" : st->path,
	            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->db, err,
	            errlen) != 0)
		goto fail;
	if (configure_db(st, st->db, err, errlen) != 0 ||
	    migrate(st->db, err, errlen) != 0)
		goto fail;
	if (memory) {
		st->rdb = st->db;
		st->rlock = &st->wlock;
	} else {
		if (open_db(st->path, SQLITE_OPEN_READONLY, &st->rdb, err,
		            errlen) != 0)
			goto fail;
		st->rlock = &st->rlock_own;
	}
	st->w.backend = st;
	st->w.run_batch = run_batch;
	st->w.idle = purge;
	st->w.idle_ms = st->opt.purge_interval_ms;
	if (hkd_writer_start(&st->w, err, errlen) != 0)
		goto fail;
	return &st->base;
fail:
	if (st->rdb && st->rdb != st->db)
		sqlite3_close(st->rdb);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->wlock);
	pthread_mutex_destroy(&st->rlock_own);
	free(st->path);
	free(st);
	return NULL;
}

static void sq_close(struct hkd_store *base)
{
	struct sq_store *st = (struct sq_store *)base;
	hkd_writer_stop(&st->w);
	wstmt_finalize(st);
	if (st->rdb != st->db)
		sqlite3_close(st->rdb);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->wlock);
	pthread_mutex_destroy(&st->rlock_own);
	free(st->path);
	free(st);
}

/* --- writes ---------------------------------------------------------- */

/* --- reading deliveries back ----------------------------------------- */

/* Columns: d.id, d.target, d.attempts, d.base, d.schedule, d.next_at,
 * e.id, e.type, e.source, e.timestamp, e.body */
#define STORED_COLUMNS                                                         \
	"d.id, d.target, d.attempts, d.base, d.schedule, d.next_at, "          \
	"e.id, e.type, e.source, e.timestamp, e.body "

const char *sq_col(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return t ? (const char *)t : "";
}

/* Fill d from a row of STORED_COLUMNS; 0, or -1 (out of memory). */
static int stored_from_row(sqlite3_stmt *q, struct hkd_stored_delivery *d)
{
	json_error_t jerr;
	json_t *sched;
	memset(d, 0, sizeof(*d));
	hkd_strlcpy(d->id, sq_col(q, 0), sizeof(d->id));
	d->target = strdup(sq_col(q, 1));
	d->attempts = (unsigned)sqlite3_column_int(q, 2);
	d->base = (unsigned)sqlite3_column_int(q, 3);
	d->next_at_ms = sqlite3_column_int64(q, 5);
	d->event = hkd_event_rec_new(sq_col(q, 6), sq_col(q, 7), sq_col(q, 8),
	                             sq_col(q, 9), sq_col(q, 10));
	sched = json_loads(sq_col(q, 4), 0, &jerr);
	d->n_retry = json_is_array(sched) ? json_array_size(sched) : 0;
	d->retry_ms = calloc(d->n_retry + 1, sizeof(int64_t));
	for (size_t i = 0; d->retry_ms && i < d->n_retry; i++)
		d->retry_ms[i] = json_integer_value(json_array_get(sched, i));
	json_decref(sched);
	if (!d->target || !d->event || !d->retry_ms) {
		hkd_stored_delivery_release(d);
		return -1;
	}
	return 0;
}

static int sq_recover(struct hkd_store *base, hkd_store_visit_fn visit,
                      void *arg)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	int rc = -1, step;
	pthread_mutex_lock(st->rlock);
	if (sqlite3_prepare_v2(st->rdb,
	                       "SELECT " STORED_COLUMNS "FROM deliveries d "
	                       "JOIN events e ON e.seq = d.event_seq "
	                       "WHERE d.state < 2 ORDER BY d.next_at, d.seq",
	                       -1, &q, NULL) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct hkd_stored_delivery d;
		if (stored_from_row(q, &d) != 0)
			goto out;
		visit(arg, &d);
	}
	rc = step == SQLITE_DONE ? 0 : -1;
out:
	if (rc != 0)
		hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
		           "recovery failed", "reason", sqlite3_errmsg(st->rdb),
		           NULL);
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return rc;
}

/* --- leases: which deliveries this process holds in memory ------------ */

/* On the writer: the one number of `sql` (a count) into *out. */
static int sq_count(struct hkd_store *base, const char *sql, long long *out,
                    char *err, size_t errlen)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	int rc = HKD_STORE_FAILED;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW)
		goto out;
	*out = sqlite3_column_int64(q, 0);
	rc = HKD_STORE_OK;
out:
	return sq_job_end(st, q, 1, rc, err, errlen);
}

static int job_release_all(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	sqlite3_stmt *q = NULL;
	int ok;

	ok = sqlite3_prepare_v2(st->db,
	                        "UPDATE deliveries SET lease_owner = NULL "
	                        "WHERE state < 2 AND lease_owner IS NOT NULL",
	                        -1, &q, NULL) == SQLITE_OK &&
	     sqlite3_step(q) == SQLITE_DONE;
	sqlite3_finalize(q);
	if (!ok)
		return sq_stmt_fail(st, err, errlen);
	return sq_count(&st->base, HKD_SQL_COUNT_UNFINISHED, argp, err, errlen);
}

/* Runs on the writer: take up to max due parked deliveries, in due order. */
static int job_claim(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	struct hkd_claim_arg *a = argp;
	sqlite3_stmt *q = NULL, *u = NULL;
	int rc = HKD_STORE_FAILED, step;

	/* Run again alone after a lost shared transaction: start afresh. */
	hkd_store_drop_rows(a->out, &a->n_out);

	if (sqlite3_prepare_v2(st->db,
	                       "SELECT " STORED_COLUMNS "FROM deliveries d "
	                       "JOIN events e ON e.seq = d.event_seq "
	                       "WHERE d.state < 2 AND d.lease_owner IS NULL "
	                       "AND d.next_at <= ?1 "
	                       "ORDER BY d.next_at, d.seq LIMIT ?2",
	                       -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        st->db,
	        "UPDATE deliveries SET lease_owner = '" LEASE_LOCAL "' "
	        "WHERE id = ?",
	        -1, &u, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_int64(q, 1, a->now);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)a->max);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct hkd_stored_delivery *d = &a->out[a->n_out];
		if (stored_from_row(q, d) != 0) {
			hkd_set_err(err, errlen, "out of memory");
			rc = HKD_JOB_BROKEN;
			goto out;
		}
		a->n_out++;
		sqlite3_reset(u);
		sqlite3_bind_text(u, 1, d->id, -1, SQLITE_STATIC);
		if (sqlite3_step(u) != SQLITE_DONE)
			goto sqlfail;
	}
	if (step != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT min(next_at) FROM deliveries "
	                       "WHERE state < 2 AND lease_owner IS NULL",
	                       -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_step(q) != SQLITE_ROW)
		goto sqlfail;
	a->next_at = sqlite3_column_type(q, 0) == SQLITE_NULL
	                 ? -1
	                 : sqlite3_column_int64(q, 0);
	rc = HKD_STORE_OK;
	goto out;
sqlfail:
	rc = sq_stmt_fail(st, err, errlen);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	if (rc != HKD_STORE_OK)
		hkd_store_drop_rows(a->out, &a->n_out);
	return rc;
}

/* Runs on the writer: dead → pending, schedule restarted, rows read back. */
static int job_replay(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	struct hkd_replay_arg *a = argp;
	sqlite3_stmt *q = NULL, *u = NULL;
	int64_t now = hkd_now_ms();
	int rc = HKD_STORE_FAILED, step;

	/* Run again alone after a lost shared transaction: start afresh. */
	hkd_store_drop_rows(a->out, &a->n_out);
	a->left = 0;

	if (a->id) {
		if (sqlite3_prepare_v2(
		        st->db,
		        "SELECT " STORED_COLUMNS ", d.state FROM deliveries d "
		        "JOIN events e ON e.seq = d.event_seq WHERE d.id = ?",
		        -1, &q, NULL) != SQLITE_OK)
			goto sqlfail;
		sqlite3_bind_text(q, 1, a->id, -1, SQLITE_STATIC);
	} else {
		if (sqlite3_prepare_v2(
		        st->db,
		        "SELECT " STORED_COLUMNS ", d.state FROM deliveries d "
		        "JOIN events e ON e.seq = d.event_seq WHERE d.state = "
		        "3 "
		        "AND (?1 IS NULL OR d.target = ?1) ORDER BY d.seq",
		        -1, &q, NULL) != SQLITE_OK)
			goto sqlfail;
		if (a->target)
			sqlite3_bind_text(q, 1, a->target, -1, SQLITE_STATIC);
	}
	if (sqlite3_prepare_v2(st->db,
	                       "UPDATE deliveries SET state = 0, base = "
	                       "attempts, next_at = ?, "
	                       "updated_at = ?, lease_owner = '" LEASE_LOCAL
	                       "' "
	                       "WHERE id = ? AND state = 3",
	                       -1, &u, NULL) != SQLITE_OK)
		goto sqlfail;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct hkd_stored_delivery *d;
		if (a->type_glob && !hkd_glob_match(a->type_glob, sq_col(q, 7)))
			continue;
		if (sqlite3_column_int(q, 11) != HKD_STATE_DEAD) {
			a->state = sqlite3_column_int(q, 11);
			rc = HKD_STORE_CONFLICT;
			goto out;
		}
		if (a->n_out >= a->max) {
			a->left++;
			continue;
		}
		sqlite3_reset(u);
		sqlite3_bind_int64(u, 1, now);
		sqlite3_bind_int64(u, 2, now);
		sqlite3_bind_text(u, 3, sq_col(q, 0), -1, SQLITE_TRANSIENT);
		if (sqlite3_step(u) != SQLITE_DONE)
			goto sqlfail;
		d = &a->out[a->n_out];
		if (stored_from_row(q, d) != 0) {
			hkd_set_err(err, errlen, "out of memory");
			goto out;
		}
		/* The row was read before the update: apply it. */
		d->base = d->attempts;
		d->next_at_ms = now;
		a->n_out++;
	}
	if (step != SQLITE_DONE)
		goto sqlfail;
	rc = a->id && a->n_out == 0 ? HKD_STORE_NOT_FOUND : HKD_STORE_OK;
	goto out;
sqlfail:
	rc = sq_stmt_fail(st, err, errlen);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	if (rc == HKD_STORE_FAILED || rc == HKD_STORE_CONFLICT)
		hkd_store_drop_rows(a->out, &a->n_out);
	return rc;
}

/* --- subscriptions --------------------------------------------------- */

static int job_sub(void *backend, void *argp, char *err, size_t errlen)
{
	struct sq_store *st = backend;
	struct hkd_sub_arg *a = argp;
	sqlite3_stmt *q = NULL;
	int64_t now = hkd_now_ms();
	int rc;
	if (a->body)
		rc = sqlite3_prepare_v2(
		    st->db,
		    "INSERT INTO subscriptions(id, body, created_at, "
		    "updated_at) "
		    "VALUES (?1, ?2, ?3, ?3) ON CONFLICT(id) DO UPDATE SET "
		    "body = excluded.body, updated_at = excluded.updated_at",
		    -1, &q, NULL);
	else
		rc = sqlite3_prepare_v2(
		    st->db, "DELETE FROM subscriptions WHERE id = ?1", -1, &q,
		    NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(q, 1, a->id, -1, SQLITE_STATIC);
	if (a->body) {
		sqlite3_bind_text(q, 2, a->body, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, now);
	}
	if (sqlite3_step(q) != SQLITE_DONE)
		goto sqlfail;
	rc = !a->body && sqlite3_changes(st->db) == 0 ? HKD_STORE_NOT_FOUND
	                                              : HKD_STORE_OK;
	sqlite3_finalize(q);
	return rc;
sqlfail:
	rc = sq_stmt_fail(st, err, errlen);
	sqlite3_finalize(q);
	return rc;
}

static int sq_sub_load(struct hkd_store *base,
                       void (*visit)(void *arg, const json_t *doc), void *arg)
{
	struct sq_store *st = (struct sq_store *)base;
	sqlite3_stmt *q = NULL;
	int rc = -1, step;
	pthread_mutex_lock(st->rlock);
	if (sqlite3_prepare_v2(st->rdb,
	                       "SELECT body FROM subscriptions ORDER BY seq",
	                       -1, &q, NULL) != SQLITE_OK)
		goto out;
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		json_error_t jerr;
		json_t *doc = json_loads(sq_col(q, 0), 0, &jerr);
		if (doc)
			visit(arg, doc);
		json_decref(doc);
	}
	rc = step == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(q);
	pthread_mutex_unlock(st->rlock);
	return rc;
}

static const struct hkd_store_ops sq_ops = {
    .close = sq_close,
    .put = job_put,
    .record = job_record,
    .release_all = job_release_all,
    .count = sq_count,
    .audit_write = sq_job_audit,
    .read_audit = sq_read_audit,
    .claim = job_claim,
    .replay = job_replay,
    .sub_write = job_sub,
    .recover = sq_recover,
    .read_event = sq_read_event,
    .read_deliveries = sq_read_deliveries,
    .sub_load = sq_sub_load,
};
