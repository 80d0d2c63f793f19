/*
 * serve.h — what bench/limit.c and bench/sink.c share: an MHD daemon in
 * hookd's threading mode (internal polling thread, epoll, a thread pool;
 * the flags of core/http_api.c) on 127.0.0.1 only, and a main thread that
 * waits for SIGTERM or SIGINT. Bench-only.
 */
#ifndef BENCH_SERVE_H
#define BENCH_SERVE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <microhttpd.h>

/* Block SIGTERM, SIGINT (to be taken by serve_wait()) and SIGPIPE in this
 * thread and every thread started after it. Call first in main(). */
static inline void serve_block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Wait until SIGTERM or SIGINT arrives. */
static inline void serve_wait(void)
{
	sigset_t set;
	int sig;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigwait(&set, &sig);
}

/* Queue a response with `text` (copied) as its body; a JSON one when `json`. */
static inline enum MHD_Result serve_answer(struct MHD_Connection *conn,
                                           unsigned status, const char *text,
                                           int json)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;
	if (!r)
		return MHD_NO;
	if (json)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        "application/json");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Start a daemon on 127.0.0.1:port with `threads` threads (1: no pool) and
 * hookd's flags plus `extra_flags`. NULL when it cannot listen. */
static inline struct MHD_Daemon *
serve_start(unsigned port, unsigned threads, unsigned extra_flags,
            MHD_AccessHandlerCallback on_request,
            MHD_RequestCompletedCallback on_completed, unsigned timeout_s)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
	        MHD_USE_EPOLL | extra_flags,
	    0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
	    threads > 1 ? threads : 0, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
}

#endif
