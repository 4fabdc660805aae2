/* ipc.c - framed messages over SOCK_SEQPACKET with SCM_RIGHTS.  Used on both
 * sides of each privilege boundary, so the parser trusts nothing: every
 * length is checked against what was actually received. */
#include "ipc.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Wire form: u32 type, u32 nfields, nfields x u32 length, then the field
 * bytes back to back. */
int ipc_send(int sock, uint32_t type, int nfields, const char *const *field,
	     const size_t *flen, int nfds, const int *fds)
{
	char buf[IPC_MAX_MSG];
	size_t off = 0;
	uint32_t hdr[2 + IPC_MAX_FIELDS];
	int i;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	ssize_t w;

	if (nfields < 0 || nfields > IPC_MAX_FIELDS || nfds < 0 || nfds > IPC_MAX_FDS)
		return -1;
	hdr[0] = type;
	hdr[1] = (uint32_t)nfields;
	for (i = 0; i < nfields; i++)
		hdr[2 + i] = (uint32_t)flen[i];
	off = sizeof(uint32_t) * (size_t)(2 + nfields);
	memcpy(buf, hdr, off);
	for (i = 0; i < nfields; i++) {
		if (flen[i] > sizeof(buf) - off)
			return -1;
		memcpy(buf + off, field[i], flen[i]);
		off += flen[i];
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = off;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.space;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)off ? 0 : -1;
}

int ipc_recv(int sock, struct ipc_msg *m)
{
	char raw[IPC_MAX_MSG];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
	} cm;
	struct msghdr mh;
	struct iovec iov = { raw, sizeof(raw) };
	struct cmsghdr *c;
	uint32_t hdr[2 + IPC_MAX_FIELDS];
	size_t off, dst = 0;
	ssize_t r;
	int i;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.space;
	mh.msg_controllen = sizeof(cm.space);
	m->nfds = 0;
	m->nfields = 0;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	/* Descriptors can come with an empty message too (r == 0, which
	 * reads as EOF): take them first so a refusal closes them. */
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[IPC_MAX_FDS + 8];
			if (n > IPC_MAX_FDS + 8)
				n = IPC_MAX_FDS + 8;
			memcpy(fds, CMSG_DATA(c), n * sizeof(int));
			for (size_t k = 0; k < n; k++) {
				if (m->nfds < IPC_MAX_FDS)
					m->fds[m->nfds++] = fds[k];
				else
					close(fds[k]);
			}
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)r < 8)
		goto bad;
	memcpy(hdr, raw, 8);
	if (hdr[1] > IPC_MAX_FIELDS)
		goto bad;
	off = 8 + 4 * (size_t)hdr[1];
	if ((size_t)r < off)
		goto bad;
	memcpy(hdr + 2, raw + 8, 4 * (size_t)hdr[1]);
	m->type = hdr[0];
	m->nfields = (int)hdr[1];
	for (i = 0; i < m->nfields; i++) {
		size_t len = hdr[2 + i];
		if (len > (size_t)r - off || dst + len + 1 > sizeof(m->buf))
			goto bad;
		memcpy(m->buf + dst, raw + off, len);
		m->buf[dst + len] = '\0';
		m->field[i] = m->buf + dst;
		m->flen[i] = len;
		dst += len + 1;
		off += len;
	}
	if (off != (size_t)r)
		goto bad;
	return 0;
bad:
	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
	return -1;
}
