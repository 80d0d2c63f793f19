/* Readiness notification over $NOTIFY_SOCKET (see notify.h). */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len; /* 0: nobody asked for notifications */

void hkd_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	notify_len = 0;
	if (!path || !*path)
		return;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    n >= sizeof(notify_addr.sun_path)) {
		hkd_log_kv(HOOKD_LOG_WARN, "notify", "detail",
		           "NOTIFY_SOCKET is not an absolute or abstract "
		           "socket name; not notifying",
		           NULL);
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@')
		notify_addr.sun_path[0] =
		    '\0'; /* abstract: no terminating NUL */
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	                         (path[0] == '@' ? 0 : 1));
	unsetenv("NOTIFY_SOCKET");
}

int hkd_notify(const char *state)
{
	ssize_t sent = -1;
	int fd, err;

	if (notify_len == 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		sent =
		    sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		           (const struct sockaddr *)&notify_addr, notify_len);
	err = errno;
	if (fd >= 0)
		close(fd);
	if (sent == (ssize_t)strlen(state))
		return 0;
	hkd_log_kv(HOOKD_LOG_WARN, "notify", "state", state, "detail",
	           sent < 0 ? strerror(err) : "short write", NULL);
	return -1;
}

int hkd_notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000ULL);
	return hkd_notify(msg);
}
