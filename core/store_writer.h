/*
 * The store's writer thread, shared by the backends: a queue of write
 * jobs and one thread that takes everything waiting and hands it to the
 * backend as one batch (group commit: one transaction, one savepoint per
 * job). Callers of hkd_writer_run block until their job's batch ended;
 * queued jobs (attempt results) are fire-and-forget, and one the backend
 * could not write (HKD_STORE_FAILED) is kept and tried again after a
 * backoff, never dropped while the store runs.
 *
 * Threads: hkd_writer_run, _queue and _pending from any thread once
 * hkd_writer_start returned; the callbacks run on the writer thread.
 */
#ifndef HKD_STORE_WRITER_H
#define HKD_STORE_WRITER_H

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>

/* Most jobs committed in one transaction. */
#define HKD_WRITER_BATCH_MAX 1024
/* A job's result when it can never succeed (a bug, not the storage). */
#define HKD_JOB_BROKEN (-2)

/* A write, run on the writer inside the batch's transaction: returns an
 * HKD_STORE_ code or HKD_JOB_BROKEN, with why in err. */
typedef int (*hkd_job_fn)(void *backend, void *arg, char *err, size_t errlen);

struct hkd_job {
	hkd_job_fn fn;
	void *arg;
	void (*free_arg)(void *arg); /* queued (asynchronous) jobs only */
	int wait;                    /* a caller waits for it, on sem */
	sem_t *sem;                  /* posted once the job is done */
	int rc;
	char err[256];
	struct hkd_job *next;
};

struct hkd_writer {
	/* Set before hkd_writer_start. run_batch runs the jobs of the list
	 * (each job's rc set) and returns 0 when anything was written, -1
	 * when the storage failed as a whole.
	 *
	 * idle (may be NULL; the purge) is due every idle_ms. It runs when
	 * due and nothing waits (with step 0: as long as it likes, yielding
	 * when hkd_writer_pending says a job came), and when due while the
	 * store fails. It returns 1 when it stopped with work left: it then
	 * stays due, and until it returns 0 one short step of it (step 1)
	 * runs after every batch, so a steady stream of jobs cannot starve
	 * it, and it delays a batch by one step at most. It adds the events
	 * it purged to *done; the writer logs a round's total when it ends. */
	void *backend;
	int (*run_batch)(void *backend, struct hkd_job *batch);
	int (*idle)(void *backend, int step, long long *done);
	int64_t idle_ms;

	/* The writer's own (under qlock). */
	pthread_mutex_t qlock;
	pthread_cond_t qcond; /* jobs arrived / stop */
	struct hkd_job *head, *tail;
	int stopping;
	int started;
	int64_t next_idle;   /* monotonic ms */
	int idle_left;       /* idle stopped with work left: a step per batch */
	long long idle_done; /* events the idle round purged so far */
	pthread_t thread;
};

/* Start the thread. 0, or -1 with why in err. */
int hkd_writer_start(struct hkd_writer *w, char *err, size_t errlen);

/* Write everything queued (giving up after repeated failures), stop the
 * thread. Jobs left unwritten are counted in a warning and freed. */
void hkd_writer_stop(struct hkd_writer *w);

/* Run fn in the next batch and wait for it: its result, with why in err
 * when HKD_STORE_FAILED (a broken job reads as failed). */
int hkd_writer_run(struct hkd_writer *w, hkd_job_fn fn, void *arg, char *err,
                   size_t errlen);

/* Queue fn for the next batch. Steals arg (freed with free_arg once
 * written or dropped). 0, or -1 when out of memory (arg freed). */
int hkd_writer_queue(struct hkd_writer *w, hkd_job_fn fn, void *arg,
                     void (*free_arg)(void *arg));

/* Does a job wait, or is the writer stopping? (A long idle task yields.) */
int hkd_writer_pending(struct hkd_writer *w);

#endif
