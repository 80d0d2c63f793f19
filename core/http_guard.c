/*
 * The connection guard (see http_guard.h).
 *
 * Threads: hkd_guard_notify runs on libmicrohttpd's threads (accept and
 * close of each connection), the request hooks on the HTTP thread that
 * serves the connection, the sweeper on its own thread. `lock` guards the
 * list and the per-client counts; a connection's deadline and EOF mark are
 * atomics, so the request hooks never take the lock. An entry is removed
 * (under the lock) before libmicrohttpd closes its socket, so the sweeper
 * never touches a descriptor that was closed or reused.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "http_guard.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* How often the sweeper looks. An EOF is acted on at its second sighting,
 * so a client's early close is cut off within two periods. */
#define SWEEP_MS 100

/* Descriptors kept free of connections: the store, plugins, outbound
 * requests, logs, the daemon's own pipes. */
#define FD_RESERVE 256

/* Per-client counts: a small chained hash, sized for max_connections. */
#define CLIENT_BUCKETS 1024

/* A client: an IPv4 address, or the /64 of an IPv6 one. */
struct client {
	unsigned char key[9]; /* family tag, then 4 or 8 address bytes */
	int conns;
	struct client *next;
};

struct conn {
	int fd;
	struct client *client;
	_Atomic int64_t
	    deadline; /* monotonic ms; 0: a request is being answered */
	_Atomic int64_t
	    eof_seen; /* monotonic ms of the first EOF seen; 0: none */
	int shut;     /* the guard shut it down (under lock) */
	struct conn *prev, *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t sweeper;
	int running, stopping;
	struct hkd_guard_options opt;
	struct conn *head;
	struct client *clients[CLIENT_BUCKETS];
} G = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

int hkd_http_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

void hkd_guard_client_key(const struct sockaddr *addr, unsigned char key[9])
{
	memset(key, 0, 9);
	if (addr && addr->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)addr)->sin_addr,
		       4);
	} else if (addr && addr->sa_family == AF_INET6) {
		const unsigned char *b =
		    ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = {
		    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			key[0] = 4;
			memcpy(key + 1, b + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, b, 8);
		}
	}
}

static unsigned bucket_of(const unsigned char key[9])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 9; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % CLIENT_BUCKETS;
}

/* The client of key with one more connection; NULL when out of memory.
 * Call with lock held. */
static struct client *client_add(const unsigned char key[9])
{
	unsigned b = bucket_of(key);
	struct client *c;
	for (c = G.clients[b]; c; c = c->next)
		if (memcmp(c->key, key, 9) == 0)
			break;
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			return NULL;
		memcpy(c->key, key, 9);
		c->next = G.clients[b];
		G.clients[b] = c;
	}
	c->conns++;
	return c;
}

/* One connection of c fewer; c is freed with its last. Lock held. */
static void client_drop(struct client *c)
{
	struct client **p;
	if (--c->conns > 0)
		return;
	for (p = &G.clients[bucket_of(c->key)]; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	free(c);
}

/*
 * Answer what libmicrohttpd will never see: status and a JSON error, then
 * the socket shut down both ways (libmicrohttpd then reads EOF and closes
 * it). What the client sent so far is read and dropped first, so the close
 * does not turn into a reset that could discard the answer.
 */
static void refuse(int fd, const char *status, const char *code,
                   const char *message)
{
	char drop[4096], resp[512], body[256];
	int n, m;

	for (int i = 0;
	     i < 16 && recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0; i++)
		;
	m = snprintf(body, sizeof(body),
	             "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
	n = snprintf(resp, sizeof(resp),
	             "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	             "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
	             status, m, body);
	if (n > 0 && (size_t)n < sizeof(resp))
		(void)!send(fd, resp, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_RDWR);
}

/*
 * Whether the bytes the client sent first can start an HTTP/1.x request:
 * optional empty lines, then a method token and a space. Bytes not there
 * yet (or a TLS listener) cannot be judged: 1.
 */
static int first_bytes_ok(int fd)
{
	unsigned char b[32];
	ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	size_t i = 0, start;

	if (n <= 0)
		return 1;
	while (i < (size_t)n && (b[i] == '\r' || b[i] == '\n'))
		i++;
	start = i;
	while (i < (size_t)n && hkd_http_tchar(b[i]))
		i++;
	if (i == (size_t)n) /* a token so far: a method, unless too long */
		return i - start < 24;
	return i > start && b[i] == ' ';
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void started(struct MHD_Connection *mc, void **socket_context)
{
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	const union MHD_ConnectionInfo *ai =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct conn *c;
	unsigned char key[9];
	int over = 0;

	if (!fi)
		return;
	c = calloc(1, sizeof(*c));
	hkd_guard_client_key(ai ? ai->client_addr : NULL, key);
	pthread_mutex_lock(&G.lock);
	if (c && !(c->client = client_add(key))) {
		free(c);
		c = NULL;
	}
	if (c) {
		c->fd = fi->connect_fd;
		atomic_init(&c->deadline,
		            hkd_mono_ms() + G.opt.request_timeout_ms);
		atomic_init(&c->eof_seen, 0);
		c->next = G.head;
		if (G.head)
			G.head->prev = c;
		G.head = c;
		over = G.opt.max_per_client > 0 &&
		       c->client->conns > G.opt.max_per_client;
		/* Judged now: not swept again. */
		c->shut =
		    over || (G.opt.check_first_bytes && !first_bytes_ok(c->fd));
	}
	pthread_mutex_unlock(&G.lock);
	*socket_context = c;
	if (!c) { /* out of memory: not tracked, so not kept */
		shutdown(fi->connect_fd, SHUT_RDWR);
		return;
	}
	if (over) {
		hkd_metrics_event_rejected("too_many_connections");
		refuse(c->fd, "503 Service Unavailable", "too_many_connections",
		       "too many connections from this address "
		       "(server.max_connections_per_ip)");
	} else if (c->shut) {
		hkd_metrics_event_rejected("invalid_request");
		refuse(c->fd, "400 Bad Request", "invalid_request",
		       "not an HTTP/1.x request line: METHOD SP target SP "
		       "HTTP/1.x");
	}
}

static void closed(void **socket_context)
{
	struct conn *c = *socket_context;
	if (!c)
		return;
	pthread_mutex_lock(&G.lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		G.head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	client_drop(c->client);
	pthread_mutex_unlock(&G.lock);
	free(c);
	*socket_context = NULL;
}

void hkd_guard_notify(void *cls, struct MHD_Connection *conn,
                      void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		started(conn, socket_context);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		closed(socket_context);
}

void hkd_guard_request_complete(struct MHD_Connection *conn)
{
	struct conn *c = conn_of(conn);
	if (c)
		atomic_store(&c->deadline, 0);
}

void hkd_guard_request_done(struct MHD_Connection *conn)
{
	struct conn *c = conn_of(conn);
	if (!c)
		return;
	atomic_store(&c->eof_seen, 0);
	atomic_store(&c->deadline, hkd_mono_ms() + G.opt.request_timeout_ms);
}

/*
 * One look at every connection whose request is not complete: past its
 * deadline, or at EOF on two looks in a row (the client closed its side
 * and nothing it sent is left unread: the request can never complete),
 * it is shut down. Lock held.
 */
static void sweep(int64_t now)
{
	for (struct conn *c = G.head; c; c = c->next) {
		int64_t deadline = atomic_load(&c->deadline);
		char b;
		if (c->shut || deadline == 0)
			continue;
		if (now >= deadline) {
			c->shut = 1;
			hkd_metrics_event_rejected("request_timeout");
			shutdown(c->fd, SHUT_RDWR);
			continue;
		}
		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0) {
			atomic_store(&c->eof_seen, 0);
			continue;
		}
		if (atomic_load(&c->eof_seen) == 0) {
			atomic_store(&c->eof_seen, now);
		} else if (atomic_load(&c->deadline) != 0) {
			c->shut = 1;
			hkd_metrics_event_rejected("client_eof");
			shutdown(c->fd, SHUT_RDWR);
		}
	}
}

static void *sweeper_main(void *arg)
{
	struct timespec ts;
	(void)arg;
	pthread_mutex_lock(&G.lock);
	while (!G.stopping) {
		hkd_deadline(CLOCK_REALTIME, SWEEP_MS, &ts);
		pthread_cond_timedwait(&G.wake, &G.lock, &ts);
		if (!G.stopping)
			sweep(hkd_mono_ms());
	}
	pthread_mutex_unlock(&G.lock);
	return NULL;
}

int hkd_guard_start(const struct hkd_guard_options *o)
{
	int err;
	G.opt = *o;
	G.stopping = 0;
	err = pthread_create(&G.sweeper, NULL, sweeper_main, NULL);
	if (err != 0) {
		hkd_log(HOOKD_LOG_ERROR, "http",
		        "cannot start the connection guard: %s", strerror(err));
		return -1;
	}
	G.running = 1;
	return 0;
}

void hkd_guard_stop(void)
{
	if (!G.running)
		return;
	pthread_mutex_lock(&G.lock);
	G.stopping = 1;
	pthread_cond_signal(&G.wake);
	pthread_mutex_unlock(&G.lock);
	pthread_join(G.sweeper, NULL);
	G.running = 0;
}

int hkd_guard_defer_accept(int fd)
{
#ifdef TCP_DEFER_ACCEPT
	int secs = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
	                  sizeof(secs));
#else
	(void)fd;
	return -1;
#endif
}

int hkd_guard_fd_room(int max_connections, char *err, size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		hkd_set_err(err, errlen, "cannot read the descriptor limit: %s",
		            strerror(errno));
		return -1;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)max_connections + FD_RESERVE > rl.rlim_cur) {
		hkd_set_err(
		    err, errlen,
		    "server.max_connections = %d needs %d file descriptors "
		    "(%d kept for the store, plugins and deliveries), but the "
		    "limit is %llu: lower max_connections, or raise the limit "
		    "(ulimit -n, or LimitNOFILE= in the systemd unit)",
		    max_connections, max_connections + FD_RESERVE, FD_RESERVE,
		    (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}
