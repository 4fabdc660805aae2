/* sdnotify.h - the service manager's readiness protocol (sd_notify(3)),
 * without libsystemd: one datagram per notification to $NOTIFY_SOCKET. */
#ifndef POSTERN_SDNOTIFY_H
#define POSTERN_SDNOTIFY_H

/* Take $NOTIFY_SOCKET and remove it from the environment, so that no
 * child (nor a program a child runs) inherits it.  The master calls it
 * once at start. */
void sdnotify_init(void);
/* Send "KEY=value\n..." lines; nothing when there is no socket.  0 on
 * success or no socket, -1 when the send failed (logged once). */
int sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The monotonic clock in microseconds, for MONOTONIC_USEC=. */
unsigned long long sdnotify_monotonic_usec(void);
#endif
