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
 * ipc_send is received identically; no descriptor leaks, accepted or not.
 * Typed: every decoder runs on every accepted message; only the one of the
 * message's type may accept it, and what it accepts, sent again with the
 * type's own sender, decodes to the same struct. */
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

union typed {
	struct ipc_auth a;
	struct ipc_auth_ok ok;
	struct ipc_auth_fail fail;
	struct ipc_handoff h;
	struct ipc_scram_first sf;
	struct ipc_scram_challenge sc;
	struct ipc_scram_final fin;
	struct ipc_tls_fail tf;
	struct ipc_accept ac;
	int fd;
	char conn[64];
};
static union typed t1, t2;

static int decode(uint32_t type, const struct ipc_msg *msg, union typed *t)
{
	memset(t, 0, sizeof(*t));
	switch (type) {
	case IPC_AUTH: return ipc_decode_auth(msg, &t->a);
	case IPC_AUTH_OK: return ipc_decode_auth_ok(msg, &t->ok);
	case IPC_AUTH_FAIL: return ipc_decode_auth_fail(msg, &t->fail);
	case IPC_HANDOFF: return ipc_decode_handoff(msg, &t->h);
	case IPC_RELAY: return ipc_decode_relay(msg, &t->fd);
	case IPC_SCRAM_FIRST: return ipc_decode_scram_first(msg, &t->sf);
	case IPC_SCRAM_CHALLENGE: return ipc_decode_scram_challenge(msg, &t->sc);
	case IPC_SCRAM_FINAL: return ipc_decode_scram_final(msg, &t->fin);
	case IPC_TLS_FAIL: return ipc_decode_tls_fail(msg, &t->tf);
	case IPC_CONN: return ipc_decode_conn(msg, t->conn, 16);
	case IPC_ACCEPT: return ipc_decode_accept(msg, &t->ac);
	}
	return -1;
}

static int resend(int sock, uint32_t type, const union typed *t)
{
	switch (type) {
	case IPC_AUTH: return ipc_send_auth(sock, &t->a);
	case IPC_AUTH_OK: return ipc_send_auth_ok(sock, &t->ok);
	case IPC_AUTH_FAIL: return ipc_send_auth_fail(sock, &t->fail);
	case IPC_HANDOFF: return ipc_send_handoff(sock, &t->h);
	case IPC_RELAY: return ipc_send_relay(sock, t->fd);
	case IPC_SCRAM_FIRST: return ipc_send_scram_first(sock, &t->sf);
	case IPC_SCRAM_CHALLENGE: return ipc_send_scram_challenge(sock, &t->sc);
	case IPC_SCRAM_FINAL: return ipc_send_scram_final(sock, &t->fin);
	case IPC_TLS_FAIL: return ipc_send_tls_fail(sock, &t->tf);
	case IPC_CONN: return ipc_send_conn(sock, t->conn, 16, m.fds[0],
					   m.nfds > 1 ? m.fds[1] : m.fds[0]);
	case IPC_ACCEPT: return ipc_send_accept(sock, &t->ac);
	}
	return -1;
}

/* The typed layer on an accepted frame. */
static void typed(int sock, int back)
{
	uint32_t type;
	int ok = -1;
	for (type = 0; type <= IPC_TYPE_END; type++) {
		int r = decode(type, &m, &t1);
		check(r == -1 || type == m.type, "decoded as another type");
		if (type == m.type)
			ok = r;
	}
	if (ok != 0)
		return;
	ok = decode(m.type, &m, &t1);
	check(ok == 0, "decode not repeatable");
	/* Fixed-size fields and their lengths agree. */
	if (m.type == IPC_AUTH)
		check(t1.a.userlen <= IPC_USER_MAX && t1.a.secretlen <= IPC_SECRET_MAX, "auth lengths");
	if (m.type == IPC_HANDOFF)
		check(t1.h.npending <= m.flen[0] && t1.h.nfds == m.nfds, "handoff");
	check(resend(sock, m.type, &t1) == 0, "typed resend refused");
	check(ipc_recv(back, &m2) == 0, "typed resend not received");
	check(m2.type == m.type && m2.nfields == m.nfields, "typed resend header");
	check(decode(m2.type, &m2, &t2) == 0, "typed resend not decoded");
	switch (m.type) {
	case IPC_AUTH:
		check(t2.a.method == t1.a.method && t2.a.userlen == t1.a.userlen &&
		      !memcmp(t2.a.user, t1.a.user, t1.a.userlen) &&
		      t2.a.secretlen == t1.a.secretlen &&
		      !memcmp(t2.a.secret, t1.a.secret, t1.a.secretlen), "auth round trip");
		break;
	case IPC_SCRAM_FIRST:
		check(!strcmp(t2.sf.user, t1.sf.user) && !strcmp(t2.sf.bare, t1.sf.bare) &&
		      !strcmp(t2.sf.gs2, t1.sf.gs2) && t2.sf.cblen == t1.sf.cblen &&
		      t2.sf.cbflag == t1.sf.cbflag && t2.sf.error == t1.sf.error,
		      "scram first round trip");
		break;
	case IPC_SCRAM_FINAL:
		check(!strcmp(t2.fin.noproof, t1.fin.noproof) &&
		      !memcmp(t2.fin.proof, t1.fin.proof, sizeof(t1.fin.proof)),
		      "scram final round trip");
		break;
	case IPC_HANDOFF:
		check(t2.h.npending == t1.h.npending && t2.h.method == t1.h.method &&
		      !strcmp(t2.h.capa, t1.h.capa), "handoff round trip");
		break;
	}
	for (int i = 0; i < m2.nfds; i++)
		close(m2.fds[i]);
	m2.nfds = 0;
}

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
	typed(sv[1], sv[0]);
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
