/*
 * The store's writer thread (see store_writer.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "store_writer.h"
#include "util.h"

static void enqueue(struct hkd_writer *w, struct hkd_job *j)
{
	j->next = NULL;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
}

int hkd_writer_run(struct hkd_writer *w, hkd_job_fn fn, void *arg, char *err,
                   size_t errlen)
{
	struct hkd_job j;
	sem_t done;

	memset(&j, 0, sizeof(j));
	j.fn = fn;
	j.arg = arg;
	j.wait = 1;
	j.sem = &done;
	if (sem_init(&done, 0, 0) != 0) {
		hkd_set_err(err, errlen, "cannot wait for the store: %s",
		            strerror(errno));
		return HKD_STORE_FAILED;
	}
	pthread_mutex_lock(&w->qlock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->qlock);
		sem_destroy(&done);
		hkd_set_err(err, errlen, "the store is closing");
		return HKD_STORE_FAILED;
	}
	enqueue(w, &j);
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	/* Woken alone when the job is done: one commit does not wake every
	 * waiting thread onto the queue's lock. */
	while (sem_wait(&done) != 0)
		; /* EINTR */
	sem_destroy(&done);
	if (j.rc == HKD_STORE_FAILED)
		hkd_set_err(err, errlen, "%s", j.err);
	return j.rc;
}

int hkd_writer_queue(struct hkd_writer *w, hkd_job_fn fn, void *arg,
                     void (*free_arg)(void *arg))
{
	struct hkd_job *j = calloc(1, sizeof(*j));
	if (!j) {
		free_arg(arg);
		return -1;
	}
	j->fn = fn;
	j->arg = arg;
	j->free_arg = free_arg;
	pthread_mutex_lock(&w->qlock);
	enqueue(w, j);
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	return 0;
}

int hkd_writer_pending(struct hkd_writer *w)
{
	int r;
	pthread_mutex_lock(&w->qlock);
	r = w->head != NULL || w->stopping;
	pthread_mutex_unlock(&w->qlock);
	return r;
}

static void free_job(struct hkd_job *j)
{
	if (j->free_arg)
		j->free_arg(j->arg);
	free(j);
}

/*
 * After a batch (qlock held): wake the callers, drop queued jobs that can
 * never succeed, and put the queued ones that failed back at the head of
 * the queue in their order. Copies the first failure's reason into
 * failed_err (empty: none). Returns whether any job was kept.
 */
static int settle(struct hkd_writer *w, struct hkd_job *batch, char *failed_err,
                  size_t errlen)
{
	struct hkd_job *keep = NULL, *keep_last = NULL;
	failed_err[0] = '\0';
	for (struct hkd_job *j = batch, *next; j; j = next) {
		next = j->next;
		if (j->rc == HKD_STORE_FAILED && !failed_err[0])
			hkd_strlcpy(failed_err,
			            j->err[0] ? j->err : "write failed",
			            errlen);
		if (j->wait) {
			if (j->rc == HKD_JOB_BROKEN)
				j->rc = HKD_STORE_FAILED;
			sem_post(
			    j->sem); /* j is the waiter's: not touched again */
		} else if (j->rc == HKD_JOB_BROKEN) {
			hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
			           "a queued write was refused and dropped",
			           "reason", j->err, NULL);
			free_job(j);
		} else if (j->rc == HKD_STORE_FAILED) {
			/* A result not written is kept, never dropped. */
			j->next = NULL;
			if (keep_last)
				keep_last->next = j;
			else
				keep = j;
			keep_last = j;
		} else {
			free_job(j);
		}
	}
	if (keep) {
		keep_last->next = w->head;
		if (!w->head)
			w->tail = keep_last;
		w->head = keep;
	}
	return keep != NULL;
}

/* Run the idle task (a step of it with step set), qlock held; with work
 * left it stays due (see struct hkd_writer). */
static void run_idle(struct hkd_writer *w, int step)
{
	int left = 0;
	pthread_mutex_unlock(&w->qlock);
	if (w->idle)
		left = w->idle(w->backend, step, &w->idle_done);
	if (!left && w->idle_done > 0) {
		char buf[24];
		snprintf(buf, sizeof(buf), "%lld", w->idle_done);
		hkd_log_kv(HOOKD_LOG_INFO, "purge", "events", buf, NULL);
		w->idle_done = 0;
	}
	pthread_mutex_lock(&w->qlock);
	w->idle_left = left;
	w->next_idle = hkd_mono_ms() + (left ? 0 : w->idle_ms);
}

static void *writer_main(void *arg)
{
	struct hkd_writer *w = arg;
	int failures = 0;

	pthread_mutex_lock(&w->qlock);
	for (;;) {
		struct hkd_job *batch, *j;
		char failed_err[256];
		size_t n = 0;
		int rc, stop, kept;

		while (!w->head && !w->stopping) {
			struct timespec ts;
			int64_t wait = w->next_idle - hkd_mono_ms();
			if (wait <= 0)
				break;
			hkd_deadline(CLOCK_REALTIME, wait, &ts);
			pthread_cond_timedwait(&w->qcond, &w->qlock, &ts);
		}
		stop = w->stopping;
		if (!w->head && stop)
			break;
		/*
		 * The idle task (the purge) when idle and due; and when due
		 * while the store is failing even with jobs waiting: after a
		 * failure the backoff wait ends with the next job, so the
		 * writer would never be idle while clients retry, and with a
		 * full disk the purge is what makes room for them. (With work
		 * left over, the step after each batch below does that
		 * already.)
		 */
		if (!w->head || (failures > 0 && !stop && !w->idle_left &&
		                 hkd_mono_ms() >= w->next_idle)) {
			run_idle(w, 0);
			continue;
		}
		batch = w->head;
		for (j = batch; j->next && ++n < HKD_WRITER_BATCH_MAX;
		     j = j->next)
			;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		j->next = NULL;
		pthread_mutex_unlock(&w->qlock);

		rc = w->run_batch(w->backend, batch);

		pthread_mutex_lock(&w->qlock);
		kept = settle(w, batch, failed_err, sizeof(failed_err));
		if (failed_err[0] && failures == 0)
			hkd_log_kv(HOOKD_LOG_ERROR, "store", "detail",
			           "cannot write; ingest answers 503 until it "
			           "recovers",
			           "reason", failed_err, NULL);
		if (rc != 0 || kept) {
			/* The store is failing: back off, then try again. */
			int64_t pause = 50LL << (failures < 5 ? failures : 5);
			struct timespec ts;
			failures++;
			if (stop && failures > 5)
				break; /* give up at shutdown: the rest is lost
				        */
			hkd_deadline(CLOCK_REALTIME, pause, &ts);
			pthread_cond_timedwait(&w->qcond, &w->qlock, &ts);
		} else if (failed_err[0]) {
			failures++; /* a job failed alone: no pause, but not
			               well */
		} else if (failures) {
			failures = 0;
			hkd_log_kv(HOOKD_LOG_INFO, "store", "detail",
			           "writing again", NULL);
		}
		/*
		 * A purge that a steady stream of jobs interrupted goes on a
		 * short step per batch: run only while the writer is idle, it
		 * could fall behind any ingest rate that leaves it no idle
		 * moment long enough, and the database would grow without
		 * bound. Each step delays the next batch by one short chunk.
		 */
		if (w->idle_left && !w->stopping)
			run_idle(w, 1);
	}
	pthread_mutex_unlock(&w->qlock);
	return NULL;
}

int hkd_writer_start(struct hkd_writer *w, char *err, size_t errlen)
{
	pthread_mutex_init(&w->qlock, NULL);
	pthread_cond_init(&w->qcond, NULL);
	w->head = w->tail = NULL;
	w->stopping = 0;
	w->idle_left = 0;
	w->idle_done = 0;
	w->next_idle = hkd_mono_ms() + 1000;
	if (w->idle_ms <= 0)
		w->idle_ms = 60000;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		hkd_set_err(err, errlen, "cannot start the store writer: %s",
		            strerror(errno));
		pthread_mutex_destroy(&w->qlock);
		pthread_cond_destroy(&w->qcond);
		return -1;
	}
	w->started = 1;
	return 0;
}

void hkd_writer_stop(struct hkd_writer *w)
{
	size_t dropped = 0;
	if (!w->started)
		return;
	pthread_mutex_lock(&w->qlock);
	w->stopping = 1;
	pthread_cond_broadcast(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	pthread_join(w->thread, NULL);
	w->started = 0;
	/* Anything left could not be written (the store kept failing). Those
	 * deliveries are still pending in the store and run again at the
	 * next start: say so. */
	while (w->head) {
		struct hkd_job *j = w->head;
		w->head = j->next;
		if (j->wait) {
			j->rc = HKD_STORE_FAILED;
			hkd_strlcpy(j->err, "the store is closing",
			            sizeof(j->err));
			sem_post(j->sem);
		} else {
			dropped++;
			free_job(j);
		}
	}
	if (dropped) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", dropped);
		hkd_log_kv(HOOKD_LOG_WARN, "store", "unwritten_results", n,
		           "detail",
		           "the store could not write these attempt results; "
		           "their deliveries run again at the next start",
		           NULL);
	}
	pthread_mutex_destroy(&w->qlock);
	pthread_cond_destroy(&w->qcond);
}
