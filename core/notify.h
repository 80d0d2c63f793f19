/*
 * Readiness notification for service managers (systemd's Type=notify).
 *
 * The protocol is one datagram of "KEY=value" lines sent to the unix socket
 * named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 * hookd speaks it directly, so it needs no libsystemd; without the
 * variable every call does nothing.
 */
#ifndef HKD_NOTIFY_H
#define HKD_NOTIFY_H

/*
 * Take $NOTIFY_SOCKET from the environment and remove it, so programs that
 * handlers start do not inherit it. Call once, before any thread starts.
 */
void hkd_notify_init(void);

/* Send `state` ("READY=1", "STOPPING=1", ...). 0 when sent or not wanted. */
int hkd_notify(const char *state);

/* "RELOADING=1" with the MONOTONIC_USEC stamp systemd asks for. */
int hkd_notify_reloading(void);

#endif
