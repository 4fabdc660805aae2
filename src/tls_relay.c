/* tls_relay.c - the TLS relay: after a login over TLS the pre-auth process
 * (chrooted, user postern, seccomp) stays between the client and the mail
 * process, decrypting one way and encrypting the other, until either side
 * ends.  The mail process never runs TLS code. */
#include "tls.h"
#include "tls_server.h"
#include "util.h"
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Move bytes between the client (TLS) and the mail process (plaintext
 * socket) until the mail process ends or the client goes.  Each way waits
 * for the other side to take what it has before it reads more (a proxy
 * that buffered without bound, or blocked writing one way, could deadlock
 * with a client that pipelines many commands):
 *  - from the mail process, a CHUNK is read only while the client's socket
 *    has room (POLLOUT, which TCP_NOTSENT_LOWAT holds back), so what the
 *    client has not taken stays in the mail process's socket, where its
 *    idle clock sees it move (netio.c, output_moving);
 *  - from the client, a record is read only when the last one was taken
 *    whole by the mail process's socket (non-blocking sends); a remainder
 *    waits for POLLOUT there. */
enum { CHUNK = 64 * 1024, ROOM = 64 * 1024 };

/* Offer the mail process in[*off, *len) without blocking; what it does not
 * take waits for its POLLOUT.  Returns 0 when it takes no more input (it
 * ended; what it wrote is still delivered). */
static int feed_mail(int fd, const char *in, size_t *off, size_t *len)
{
	ssize_t w = send(fd, in + *off, *len - *off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		*off = *len = 0;
		return 0;
	}
	if (w > 0)
		*off += (size_t)w;
	if (*off >= *len)
		*off = *len = 0;
	return 1;
}

void tls_relay(struct tls_conn *c, int fd, const char *pending, size_t npending,
	       uint64_t idle_ms)
{
	char *buf = xmalloc(CHUNK), *in = xmalloc(CHUNK);
	size_t in_off = 0, in_len = 0; /* client bytes the mail process has not taken */
	size_t unconfirmed = 0; /* sent to the client since poll last saw room */
	int input_open = 1;     /* 0: the mail process takes no more input */

	/* A half record from the client, or a client that stops reading,
	 * may stall SSL_read/SSL_write (and the close_notify) no longer than
	 * the idle timeout. */
	tls_set_timeouts(c->fd, idle_ms);
	{
		int lowat = 128 * 1024;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
	}
	/* What the handshake and the login freed goes back to the kernel: a
	 * relay mostly sits idle between a client's polls. */
	malloc_trim(0);
	if (npending && write_all(fd, pending, npending) < 0)
		goto out;
	for (;;) {
		int room = unconfirmed < ROOM, backlog = in_off < in_len;
		int want_client = input_open && !backlog;
		/* A descriptor with nothing asked of it stays out of poll: its
		 * hang-up would wake it at once, again and again. */
		struct pollfd p[2] = {
			{ c->fd, (short)((want_client ? POLLIN : 0) | (room ? 0 : POLLOUT)), 0 },
			{ fd, (short)((room ? POLLIN : 0) | (backlog ? POLLOUT : 0)), 0 } };
		if (!p[0].events)
			p[0].fd = -1;
		if (!p[1].events)
			p[1].fd = -1;
		if (want_client && SSL_pending(c->ssl) > 0) {
			p[0].revents = POLLIN;
			p[1].revents = 0;
		} else {
			/* Without room, a client that takes nothing for the
			 * idle timeout ends the relay, as SO_SNDTIMEO would. */
			int r = poll(p, 2, (int)(room ? idle_ms + 60000 : idle_ms));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
		}
		if (p[0].revents & POLLOUT)
			unconfirmed = 0;
		if (!want_client && (p[0].revents & (POLLHUP | POLLERR)))
			break; /* client gone while it was not being read */
		/* A hang-up fails the send, which ends the input. */
		if (backlog && (p[1].revents & (POLLOUT | POLLHUP | POLLERR)))
			input_open = feed_mail(fd, in, &in_off, &in_len);
		if (want_client && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t got = 0;
			int ok = SSL_read_ex(c->ssl, in, CHUNK, &got);
			if (ok != 1) {
				int e = SSL_get_error(c->ssl, ok);
				/* Client gone: closing our end makes the mail
				 * process end without UPDATE. */
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					break;
			} else {
				in_off = 0;
				in_len = got;
				input_open = feed_mail(fd, in, &in_off, &in_len);
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && room) {
			ssize_t n = read(fd, buf, CHUNK);
			size_t done = 0;
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break; /* mail process finished */
			if (SSL_write_ex(c->ssl, buf, (size_t)n, &done) != 1)
				break;
			unconfirmed += (size_t)n;
		}
	}
out:
	close(fd);
	free(in);
	free(buf);
}

