/* netio.c - buffered POP3 line I/O (pre-auth process as postern, mail process
 * as the mailbox owner).  Over-long lines are answered once and skipped to
 * their end so their tail is never read as a command. */
#include "netio.h"
#include "util.h"
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

void conn_init(struct conn *c, int rfd, int wfd)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	c->out_cap = 16384;
	c->out = xmalloc(c->out_cap);
}

void conn_free(struct conn *c)
{
	free(c->out);
	c->out = NULL;
}

int conn_preload(struct conn *c, const void *buf, size_t len)
{
	if (len > sizeof(c->in))
		return -1;
	memcpy(c->in, buf, len);
	c->in_start = 0;
	c->in_end = len;
	return 0;
}

size_t conn_buffered(const struct conn *c)
{
	return c->in_end - c->in_start;
}

/* Is the client still taking in what the last reply sent?  A long RETR
 * ends on the server's side when its last bytes fit in the socket buffer;
 * the client may need a while to read them, and is not idle meanwhile.
 * The idle timer therefore starts again while the output queue shrinks,
 * and runs out only when it did not move during a whole interval (a
 * client that stopped reading). */
static int output_moving(struct conn *c)
{
	int q = 0;
	if (ioctl(c->wfd, SIOCOUTQ, &q) < 0 || q < 0)
		q = 0;
	/* A queue that emptied during the interval moved too: what it held
	 * is now with the client (or the TLS relay), who gets one more
	 * interval to read it; after that, an empty queue is idleness. */
	if (q == c->last_outq)
		return 0;
	c->last_outq = q;
	return 1;
}

/* Wait until rfd is readable or the deadline passes: 1 ready, 0 timeout. */
static int wait_readable(struct conn *c)
{
	uint64_t now, limit = 0;
	if (c->tr && c->tr->pending && c->tr->pending(c->tr->ctx))
		return 1;
	for (;;) {
		struct pollfd p = { c->rfd, POLLIN, 0 };
		int ms = -1, r;
		now = now_ms();
		if (c->idle_ms && !limit)
			limit = now + c->idle_ms;
		if (c->deadline && (!limit || c->deadline < limit))
			limit = c->deadline;
		if (limit) {
			if (now >= limit && c->idle_ms && (!c->deadline || limit < c->deadline) &&
			    output_moving(c)) {
				limit = now + c->idle_ms;
				if (c->deadline && c->deadline < limit)
					limit = c->deadline;
			}
			if (now >= limit)
				return 0;
			ms = (int)(limit - now > 86400000 ? 86400000 : limit - now);
		}
		r = poll(&p, 1, ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1; /* let read() report the error */
	}
}

static ssize_t fill(struct conn *c)
{
	ssize_t r;
	if (c->in_start > 0) {
		memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
		c->in_end -= c->in_start;
		c->in_start = 0;
	}
	if (c->rcvtimeo && !c->tr && !c->deadline) {
		/* One system call a command instead of poll() and read(). */
		do
			r = read(c->rfd, c->in + c->in_end, sizeof(c->in) - c->in_end);
		while (r < 0 && (errno == EINTR ||
				 ((errno == EAGAIN || errno == EWOULDBLOCK) && output_moving(c))));
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -2;
		if (r > 0) {
			c->in_end += (size_t)r;
			c->last_outq = 0; /* a command: the idle clock starts afresh */
		}
		return r;
	}
	if (!wait_readable(c))
		return -2;
	do {
		if (c->tr)
			r = c->tr->read(c->tr->ctx, c->in + c->in_end, sizeof(c->in) - c->in_end);
		else
			r = read(c->rfd, c->in + c->in_end, sizeof(c->in) - c->in_end);
	} while (r < 0 && errno == EINTR);
	if (r > 0) {
		c->in_end += (size_t)r;
		c->last_outq = 0;
	}
	return r;
}

enum line_status conn_read_line(struct conn *c, char **line, size_t *len)
{
	for (;;) {
		char *start = c->in + c->in_start;
		size_t avail = c->in_end - c->in_start;
		char *lf = memchr(start, '\n', avail);
		if (lf) {
			size_t n = (size_t)(lf - start);
			c->in_start += n + 1;
			if (c->discarding) {
				c->discarding = 0;
				continue;
			}
			if (n + 1 > (c->line_max ? c->line_max : LINE_MAX_POP3)) {
				return LINE_TOOLONG;
			}
			if (n > 0 && start[n - 1] == '\r')
				n--;
			start[n] = '\0';
			*line = start;
			*len = n;
			return LINE_OK;
		}
		if (c->discarding) {
			c->in_start = c->in_end;
		} else if (avail >= (c->line_max ? c->line_max : LINE_MAX_POP3)) {
			/* No line end within the limit: answer once, then skip
			 * everything up to the next LF. */
			c->in_start = c->in_end;
			c->discarding = 1;
			return LINE_TOOLONG;
		}
		if (conn_flush(c) < 0)
			return LINE_ERR;
		ssize_t r = fill(c);
		if (r == -2)
			return LINE_TIMEOUT;
		if (r == 0)
			return LINE_EOF;
		if (r < 0)
			return LINE_ERR;
	}
}

void conn_put(struct conn *c, const void *buf, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		if (len > c->out_cap / 2) {
			conn_write_big(c, buf, len);
			return;
		}
		if (conn_flush(c) < 0)
			return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	conn_put(c, buf, (size_t)n);
}

static int raw_write(struct conn *c, const char *p, size_t len)
{
	if (c->write_failed)
		return -1;
	while (len > 0) {
		ssize_t w;
		uint64_t t0 = c->idle_ms ? now_ms() : 0;
		if (c->tr)
			w = c->tr->write(c->tr->ctx, p, len);
		else
			w = write(c->wfd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		/* Short after a whole timeout: the send timeout (SO_SNDTIMEO =
		 * the idle timeout) ran out with the client taking next to
		 * nothing; another write would only wait as long again. */
		if (w <= 0 || ((size_t)w < len && c->idle_ms && now_ms() - t0 >= c->idle_ms)) {
			c->write_failed = 1;
			return -1;
		}
		p += w;
		len -= (size_t)w;
		c->bytes_out += (uint64_t)w;
	}
	return 0;
}

int conn_flush(struct conn *c)
{
	int r = 0;
	if (c->out_len)
		r = raw_write(c, c->out, c->out_len);
	c->out_len = 0;
	return r;
}

int conn_write_big(struct conn *c, const void *buf, size_t len)
{
	/* Small enough to share a packet with queued replies: queue it. */
	if (c->out_len + len <= c->out_cap) {
		memcpy(c->out + c->out_len, buf, len);
		c->out_len += len;
		return 0;
	}
	if (conn_flush(c) < 0)
		return -1;
	return raw_write(c, buf, len);
}

/* Closing a TCP socket with unread input sends a reset instead of the
 * end of the stream, and a reset can overtake the last reply (or make the
 * client's stack throw it away).  Input may still be on its way (a client
 * that sent more after QUIT, a flood, TLS records behind the one read), so
 * the write side is shut first, which the client sees as the end, and its
 * input is read and dropped until it closes, for at most ms.  A client
 * that closes on the reply, as clients do, costs one round trip.  poll()
 * and read() only, as the pre-auth sandbox allows. */
void conn_linger(struct conn *c, unsigned ms)
{
	struct pollfd p = { c->rfd, POLLIN, 0 };
	char buf[4096];
	uint64_t end = now_ms() + ms;
	if (shutdown(c->wfd, SHUT_WR) < 0)
		return; /* not a socket, or already gone */
	for (;;) {
		uint64_t now = now_ms();
		ssize_t r;
		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			return;
		r = read(c->rfd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}
