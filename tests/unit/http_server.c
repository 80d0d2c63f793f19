/*
 * The http plugin's unit tests' scripted HTTP server (see
 * http_server.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "http_server.h"

struct server srv;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait until fd is readable or the server stops: 1, 0 (stop), -1. */
static int wait_readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	while (!atomic_load(&srv.stop)) {
		int n = poll(&p, 1, 50);

		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

static void reply(int fd, const char *status, const char *extra,
                  const char *body)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
	                 "HTTP/1.1 %s\r\n%sContent-Type: text/plain\r\n"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 status, extra, strlen(body), body);

	send_all(fd, buf, (size_t)n);
}

/* Content-Length of a request head (0 when absent). */
static size_t content_length(const char *head)
{
	const char *p = head;

	while ((p = strchr(p, '\n')) != NULL) {
		p++;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			return (size_t)strtoul(p + 15, NULL, 10);
	}
	return 0;
}

/* One connection: read requests, answer each by its path. */
static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536], path[256];
	size_t len = 0;

	for (;;) {
		char *end;
		size_t head, need;

		while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
			ssize_t k;

			if (len == sizeof(buf) || wait_readable(fd) <= 0)
				goto out;
			k = recv(fd, buf + len, sizeof(buf) - len, 0);
			if (k <= 0)
				goto out;
			len += (size_t)k;
		}
		*end = '\0';
		head = (size_t)(end - buf) + 4;
		need = head + content_length(buf);
		if (need > sizeof(buf))
			goto out;
		while (len < need) {
			ssize_t k;

			if (wait_readable(fd) <= 0)
				goto out;
			k = recv(fd, buf + len, sizeof(buf) - len, 0);
			if (k <= 0)
				goto out;
			len += (size_t)k;
		}
		if (sscanf(buf, "%*s %255s", path) != 1)
			goto out;
		memmove(buf, buf + need, len - need);
		len -= need;
		pthread_mutex_lock(&srv.lock);
		srv.requests++;
		pthread_mutex_unlock(&srv.lock);

		if (strcmp(path, "/ok") == 0) {
			reply(fd, "200 OK", "", "fine");
		} else if (strcmp(path, "/e500") == 0) {
			reply(fd, "500 Internal Server Error", "",
			      "upstream exploded");
		} else if (strcmp(path, "/e429") == 0) {
			reply(fd, "429 Too Many Requests", "Retry-After: 2\r\n",
			      "slow down");
		} else if (strcmp(path, "/e404") == 0) {
			reply(fd, "404 Not Found", "", "no such hook");
		} else if (strcmp(path, "/moved") == 0) {
			reply(fd, "301 Moved Permanently",
			      "Location: http://example.invalid/there\r\n", "");
		} else if (strcmp(path, "/slow") == 0) {
			pthread_mutex_lock(&srv.lock);
			if (++srv.slow_now > srv.slow_peak)
				srv.slow_peak = srv.slow_now;
			pthread_mutex_unlock(&srv.lock);
			sleep_ms(300);
			pthread_mutex_lock(&srv.lock);
			srv.slow_now--;
			pthread_mutex_unlock(&srv.lock);
			reply(fd, "200 OK", "", "slow but fine");
		} else if (strcmp(path, "/hang") == 0) {
			pthread_mutex_lock(&srv.lock);
			srv.hanging++;
			pthread_mutex_unlock(&srv.lock);
			/* Until the client closes (recv 0) or we stop. */
			while (wait_readable(fd) > 0 &&
			       recv(fd, buf, sizeof(buf), 0) > 0)
				;
			pthread_mutex_lock(&srv.lock);
			srv.hanging--;
			pthread_mutex_unlock(&srv.lock);
			goto out;
		} else if (strcmp(path, "/drop") == 0) {
			goto out;
		} else {
			reply(fd, "404 Not Found", "", "unknown path");
		}
	}
out:
	close(fd);
	return NULL;
}

static void *serve_accept(void *arg)
{
	(void)arg;
	while (wait_readable(srv.fd) > 0) {
		int c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (c < 0)
			continue;
		pthread_mutex_lock(&srv.lock);
		if (srv.nconns == SERVER_MAX_CONNS ||
		    pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)c) !=
		        0) {
			pthread_mutex_unlock(&srv.lock);
			close(c);
			continue;
		}
		srv.conns[srv.nconns++] = t;
		pthread_mutex_unlock(&srv.lock);
	}
	return NULL;
}

void server_start(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int one = 1;

	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(srv.fd, 0);
	setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(srv.fd, 256), 0);
	ck_assert_int_eq(getsockname(srv.fd, (struct sockaddr *)&a, &alen), 0);
	srv.port = ntohs(a.sin_port);
	ck_assert_int_eq(
	    pthread_create(&srv.acceptor, NULL, serve_accept, NULL), 0);
}

void server_stop(void)
{
	int i, n;

	atomic_store(&srv.stop, 1);
	pthread_join(srv.acceptor, NULL);
	pthread_mutex_lock(&srv.lock);
	n = srv.nconns;
	pthread_mutex_unlock(&srv.lock);
	for (i = 0; i < n; i++)
		pthread_join(srv.conns[i], NULL);
	close(srv.fd);
	pthread_mutex_destroy(&srv.lock);
}

int server_get(const int *field)
{
	int v;

	pthread_mutex_lock(&srv.lock);
	v = *field;
	pthread_mutex_unlock(&srv.lock);
	return v;
}
