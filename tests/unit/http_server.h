/*
 * A scripted HTTP server for the http plugin's unit tests, run by the
 * test program itself in threads of its own on 127.0.0.1.
 *
 * Answers by path:
 *   /ok     200 "fine"
 *   /e500   500 "upstream exploded"
 *   /e429   429 with Retry-After: 2, "slow down"
 *   /e404   404 "no such hook"
 *   /moved  301 with a Location
 *   /slow   200 "slow but fine" after 300 ms
 *   /hang   nothing, until the client goes away or the server stops
 *   /drop   the connection closed, no answer
 * Keeps connections alive between requests (HTTP/1.1).
 *
 * Threads: one accepting, one per connection (joined by server_stop).
 * The counters are under `lock`: read them with server_get.
 */
#ifndef HOOKD_TEST_HTTP_SERVER_H
#define HOOKD_TEST_HTTP_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#define SERVER_MAX_CONNS 512

struct server {
	int fd;
	int port;
	atomic_int stop;
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_t conns[SERVER_MAX_CONNS];
	int nconns;    /* connections accepted */
	int requests;  /* requests read */
	int hanging;   /* requests in /hang now */
	int slow_now;  /* requests in /slow now */
	int slow_peak; /* most at once in /slow */
};

/* The program's one server, started and stopped by each case. */
extern struct server srv;

/* Start srv on a port of its own (srv.port), or fail the case. */
void server_start(void);

/* Stop srv: no more connections, and every thread joined. */
void server_stop(void);

/* One of srv's counters, e.g. server_get(&srv.requests). */
int server_get(const int *field);

#endif /* HOOKD_TEST_HTTP_SERVER_H */
