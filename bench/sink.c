/*
 * sink — a webhook receiver for the fan-out scenarios.
 *
 * Answers every POST/PUT/PATCH with 204 and counts it; GET /count answers
 * the number of requests answered so far (text). With --delay-ms D each
 * answer is sent D ms after the request was read — without a thread per
 * waiting request: the connection is suspended (MHD suspend/resume) and one
 * timer thread resumes connections in the order they arrived, which is the
 * order they fall due because the delay is the same for all.
 *
 *   sink --port 18090 [--threads 2] [--delay-ms 100]
 *
 * Listens on 127.0.0.1 only; runs until SIGTERM or SIGINT. Bench-only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve.h"

/* One request. `next` links the timer FIFO (timer thread and MHD threads,
 * under `lock`). */
struct req {
	int waited; /* 1 once resumed after the delay */
	int64_t due;
	struct MHD_Connection *conn;
	struct req *next;
};

static atomic_ulong answered;
static unsigned delay_ms;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static struct req *head, *tail;
static int quitting;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The timer thread: resumes each suspended connection once it is due. */
static void *timer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!quitting) {
		struct req *r = head;
		int64_t now = mono_ms();
		if (!r) {
			pthread_cond_wait(&cond, &lock);
			continue;
		}
		if (r->due > now) {
			struct timespec ts;
			int64_t at = r->due;
			ts.tv_sec = at / 1000;
			ts.tv_nsec = (at % 1000) * 1000000;
			pthread_cond_timedwait(&cond, &lock, &ts);
			continue;
		}
		head = r->next;
		if (!head)
			tail = NULL;
		r->waited = 1;
		MHD_resume_connection(r->conn);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	(void)cls;
	(void)version;
	(void)upload;
	if (strcmp(method, "GET") == 0 && strcmp(url, "/count") == 0) {
		char text[32];
		snprintf(text, sizeof(text), "%lu\n", atomic_load(&answered));
		return serve_answer(conn, 200, text, 0);
	}
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0; /* the body is read and dropped */
		return MHD_YES;
	}
	if (delay_ms > 0 && !r->waited) {
		r->conn = conn;
		r->due = mono_ms() + delay_ms;
		MHD_suspend_connection(conn);
		pthread_mutex_lock(&lock);
		if (tail)
			tail->next = r;
		else
			head = r;
		tail = r;
		pthread_cond_signal(&cond);
		pthread_mutex_unlock(&lock);
		return MHD_YES;
	}
	atomic_fetch_add(&answered, 1);
	return serve_answer(conn, 204, "", 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	unsigned port = 0, threads = 2;
	struct MHD_Daemon *d;
	pthread_condattr_t ca;
	pthread_t tid;
	MHD_socket ls;
	int i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--threads") == 0)
			threads = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--delay-ms") == 0)
			delay_ms = (unsigned)atoi(argv[i + 1]);
		else
			break;
	}
	if (i < argc || port == 0) {
		fprintf(stderr,
		        "usage: %s --port P [--threads N] [--delay-ms D]\n",
		        argv[0]);
		return 2;
	}
	serve_block_signals();
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	if (pthread_create(&tid, NULL, timer, NULL) != 0) {
		perror("sink: timer thread");
		return 1;
	}
	d = serve_start(port, threads, MHD_ALLOW_SUSPEND_RESUME, on_request,
	                on_completed, 60);
	if (!d) {
		fprintf(stderr, "sink: cannot listen on port %u\n", port);
		return 1;
	}
	fprintf(stderr, "sink: listening on %u, %u threads, delay %u ms\n",
	        port, threads, delay_ms);
	serve_wait();
	/* MHD must not stop with suspended connections: take no new ones, let
	 * the timer resume the waiting ones, then stop. */
	ls = MHD_quiesce_daemon(d);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	usleep((delay_ms * 2 + 10) * 1000u);
	MHD_stop_daemon(d);
	pthread_mutex_lock(&lock);
	quitting = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(tid, NULL);
	return 0;
}
