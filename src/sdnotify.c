/* sdnotify.c - notifications to the service manager, in the master (root):
 * READY=1, RELOADING=1, STOPPING=1, STATUS=.  The protocol is the one
 * sd_notify(3) documents as stable: each notification is one datagram of
 * newline-separated KEY=VALUE lines on the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
 * No libsystemd. */
#include "sdnotify.h"
#include "log.h"
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addrlen;        /* 0: no socket */
static int warned;

void sdnotify_init(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	size_t n;
	addrlen = 0;
	if (!p || !*p)
		return;
	n = strlen(p);
	if ((p[0] != '/' && p[0] != '@') || n >= sizeof(addr.sun_path)) {
		plog(LOG_WARNING, "NOTIFY_SOCKET is neither a path nor an abstract name; "
		     "not notifying the service manager");
		unsetenv("NOTIFY_SOCKET");
		return;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, p, n);
	if (p[0] == '@')
		addr.sun_path[0] = '\0';   /* abstract: the name is the bytes after it */
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (p[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
}

int sdnotify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int fd, n;
	ssize_t w;
	struct iovec iov;
	struct msghdr mh;
	if (!addrlen)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		w = -1;
	} else {
		iov.iov_base = msg;
		iov.iov_len = (size_t)n;
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &addr;
		mh.msg_namelen = addrlen;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		close(fd);
	}
	if (w != (ssize_t)n) {
		if (!warned)
			plog(LOG_WARNING, "cannot notify the service manager: %s",
			     w < 0 ? strerror(errno) : "short send");
		warned = 1;
		return -1;
	}
	return 0;
}

unsigned long long sdnotify_monotonic_usec(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}
