/*
 * The connection guard: what libmicrohttpd leaves to hookd about clients
 * that hold connections or send what is not HTTP/1.x (docs/security.md,
 * "Hostile and broken clients").
 *
 * Every connection is known from accept to close, in one list that a
 * single sweeper thread walks a few times a second; nothing here grows a
 * thread or a descriptor per connection.
 *
 * - First bytes: the listen socket defers accept until the client has sent
 *   something (TCP_DEFER_ACCEPT), and what it sent is looked at (MSG_PEEK)
 *   before libmicrohttpd reads it. Not the start of a request line (a TLS
 *   ClientHello, binary, a control byte in the method): 400, closed.
 * - Whole-request deadline: from accept, or from the end of the previous
 *   request on a kept-alive connection, until the request's body is
 *   complete, at most request_timeout; past it the sweeper shuts the socket
 *   down, however slowly the bytes trickle (libmicrohttpd's own timeout
 *   counts idleness, which every byte resets).
 * - EOF: a client that closed its side before its request is complete is
 *   cut off at the next sweeps instead of at the idle timeout.
 * - Connections per client: counted per IPv4 address and per IPv6 /64;
 *   past max_connections_per_ip a new one is answered 503 and closed.
 */
#ifndef HKD_HTTP_GUARD_H
#define HKD_HTTP_GUARD_H

#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct hkd_guard_options {
	int64_t request_timeout_ms; /* whole-request deadline */
	int max_per_client;         /* per address or /64; 0: no limit */
	int check_first_bytes;      /* 0 for a TLS listener */
};

/* Start the sweeper. 0, or -1 (logged). */
int hkd_guard_start(const struct hkd_guard_options *o);

/* Stop the sweeper (after the daemon that used the guard is stopped). */
void hkd_guard_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION's callback. */
void hkd_guard_notify(void *cls, struct MHD_Connection *conn,
                      void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* The request on conn has its whole body: its deadline stops. */
void hkd_guard_request_complete(struct MHD_Connection *conn);

/* The request on conn was answered: the next one's deadline starts. */
void hkd_guard_request_done(struct MHD_Connection *conn);

/* Ask the kernel to accept connections on the listen socket fd only once
 * they have data (TCP_DEFER_ACCEPT), so their first bytes can be looked
 * at. Best effort: 0, or -1 when the system does not have it. */
int hkd_guard_defer_accept(int fd);

/*
 * Raise the soft RLIMIT_NOFILE to the hard one, and check that it holds
 * max_connections with room for the store, plugins and outbound requests.
 * 0, or -1 with why in err.
 */
int hkd_guard_fd_room(int max_connections, char *err, size_t errlen);

/* The key a client's connections are counted under: a family tag, then
 * the IPv4 address (an IPv4-mapped IPv6 one too) or the first 64 bits of
 * the IPv6 address. NULL or another family: all zero. */
void hkd_guard_client_key(const struct sockaddr *addr, unsigned char key[9]);

/* Bytes of a method token (RFC 9110's tchar). */
int hkd_http_tchar(unsigned char c);

#endif
