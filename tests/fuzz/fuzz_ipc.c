/* fuzz_ipc.c - libFuzzer target for ipc_recv (src/ipc.c): what a
 * compromised pre-auth process could send the root monitor, and what a
 * compromised monitor could send back.
 *
 * Input: byte 0 = number of descriptors to attach (0-7, SCM_RIGHTS, copies
 * of /dev/null), the rest is one SOCK_SEQPACKET message, sent as is over a
 * socketpair (larger than IPC_MAX_MSG too: it must be refused, not cut).
 *
 * Checks: an accepted message has at most IPC_MAX_FIELDS fields, each inside
 * m->buf, NUL-terminated, of the length the header says, with the bytes the
 * sender sent; at most IPC_MAX_FDS descriptors; a message sent back with
 * ipc_send is received identically; no descriptor leaks, accepted or not. */
#include "ipc.h"
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ipc: %s\n", what);
		abort();
	}
}

static int open_fds(void)
{
	int fd, n = 0;
	for (fd = 0; fd < 256; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

static int send_raw(int sock, const uint8_t *d, size_t n, int nfds, const int *fds)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	struct msghdr mh;
	struct iovec iov = { (void *)d, n };
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *c;
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.space;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static struct ipc_msg m, m2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2], fds[8], nfds, i, before, rc;
	uint32_t hdr[2 + IPC_MAX_FIELDS];

	if (size < 1)
		return 0;
	nfds = data[0] & 7;
	data++;
	size--;
	before = open_fds();
	check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	{
		int big = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}
	for (i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (send_raw(sv[0], data, size, nfds, fds) < 0) {
		/* Too big for the socket: nothing to receive. */
		goto out;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	nfds = 0;
	rc = ipc_recv(sv[1], &m);
	if (rc < 0) {
		check(m.nfds == 0, "refused message kept descriptors");
		goto out;
	}
	check(size <= IPC_MAX_MSG, "oversized message accepted");
	check(m.nfields >= 0 && m.nfields <= IPC_MAX_FIELDS, "field count");
	check(m.nfds >= 0 && m.nfds <= IPC_MAX_FDS, "descriptor count");
	check(size >= 8, "short header accepted");
	memcpy(hdr, data, 8);
	check(m.type == hdr[0] && (uint32_t)m.nfields == hdr[1], "header not as sent");
	{
		size_t off = 8 + 4 * (size_t)m.nfields, total = off;
		memcpy(hdr + 2, data + 8, 4 * (size_t)m.nfields);
		for (i = 0; i < m.nfields; i++) {
			check(m.flen[i] == hdr[2 + i], "field length not as sent");
			check(m.field[i] >= m.buf && m.field[i] + m.flen[i] < m.buf + sizeof(m.buf),
			      "field outside the buffer");
			check(m.field[i][m.flen[i]] == '\0', "field not terminated");
			check(memcmp(m.field[i], data + off, m.flen[i]) == 0, "field bytes differ");
			off += m.flen[i];
			total += m.flen[i];
		}
		check(total == size, "trailing bytes accepted");
	}
	for (i = 0; i < m.nfds; i++)
		check(fcntl(m.fds[i], F_GETFD) & FD_CLOEXEC, "received fd without CLOEXEC");
	/* Back the other way: what was accepted goes through unchanged. */
	if (ipc_send(sv[1], m.type, m.nfields, m.field, m.flen, m.nfds, m.fds) == 0) {
		check(ipc_recv(sv[0], &m2) == 0, "round trip refused");
		check(m2.type == m.type && m2.nfields == m.nfields && m2.nfds == m.nfds,
		      "round trip header");
		for (i = 0; i < m.nfields; i++)
			check(m2.flen[i] == m.flen[i] &&
			      memcmp(m2.field[i], m.field[i], m.flen[i]) == 0, "round trip field");
		for (i = 0; i < m2.nfds; i++)
			close(m2.fds[i]);
	}
	for (i = 0; i < m.nfds; i++)
		close(m.fds[i]);
out:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
	check(open_fds() == before, "descriptor leak");
	return 0;
}
