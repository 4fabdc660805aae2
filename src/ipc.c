/* ipc.c - typed messages over SOCK_SEQPACKET with SCM_RIGHTS between the
 * monitor (root) and the pre-auth process (postern), and from the master to
 * a spare.  Pure code used on both sides of each privilege boundary, so the
 * decoder trusts nothing: the frame's lengths are checked against what was
 * received, and every message type's field count, field lengths, character
 * rules and descriptor count against the one table below. */
#include "ipc.h"
#include "netio.h"
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdlib.h>
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

int ipc_parse(const char *raw, size_t r, struct ipc_msg *m)
{
	uint32_t hdr[2 + IPC_MAX_FIELDS];
	size_t off, dst = 0;
	int i;

	m->nfields = 0;
	if (r < 8 || r > IPC_MAX_MSG)
		return -1;
	memcpy(hdr, raw, 8);
	if (hdr[1] > IPC_MAX_FIELDS)
		return -1;
	off = 8 + 4 * (size_t)hdr[1];
	if (r < off)
		return -1;
	memcpy(hdr + 2, raw + 8, 4 * (size_t)hdr[1]);
	m->type = hdr[0];
	for (i = 0; i < (int)hdr[1]; i++) {
		size_t len = hdr[2 + i];
		if (len > r - off || dst + len + 1 > sizeof(m->buf)) {
			m->nfields = 0;
			return -1;
		}
		memcpy(m->buf + dst, raw + off, len);
		m->buf[dst + len] = '\0';
		m->field[i] = m->buf + dst;
		m->flen[i] = len;
		dst += len + 1;
		off += len;
	}
	m->nfields = (int)hdr[1];
	if (off != r) {
		m->nfields = 0;
		return -1;
	}
	return 0;
}

void ipc_close_fds(struct ipc_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
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
	ssize_t r;

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
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || ipc_parse(raw, (size_t)r, m) < 0) {
		ipc_close_fds(m);
		return -1;
	}
	return 0;
}

/* ---- typed messages ---- */

static const char *const method_names[AUTH_M_END] = {
	[AUTH_M_USER] = "USER", [AUTH_M_APOP] = "APOP", [AUTH_M_PLAIN] = "PLAIN",
	[AUTH_M_LOGIN] = "LOGIN", [AUTH_M_SCRAM] = "SCRAM-SHA-256",
	[AUTH_M_SCRAM_PLUS] = "SCRAM-SHA-256-PLUS",
};

const char *auth_method_name(int method)
{
	return method > 0 && method < AUTH_M_END ? method_names[method] : "?";
}

static const char *const scram_errors[SCRAM_ERR_END] = {
	[SCRAM_OK] = "no error",
	[SCRAM_ERR_MALFORMED_FIRST] = "malformed client-first message",
	[SCRAM_ERR_MALFORMED_FINAL] = "malformed client-final message",
	[SCRAM_ERR_AUTHZID] = "authorization identity differs",
};

const char *scram_error_text(int e)
{
	return e >= 0 && e < SCRAM_ERR_END ? scram_errors[e] : "unknown SCRAM error";
}

/* One field: its length range, and whether it is text (no NUL). */
struct fspec {
	size_t min, max;
	int text;
};

struct spec {
	int nfields;
	int fdmin, fdmax;
	struct fspec f[IPC_MAX_FIELDS];
};

#define BYTE { 1, 1, 0 }
#define TEXT(lo, hi) { lo, hi, 1 }
#define BIN(lo, hi) { lo, hi, 0 }

/* The one place where what each message may hold is written down. */
static const struct spec specs[IPC_TYPE_END] = {
	[IPC_AUTH] = { 3, 0, 0, { BYTE, BIN(0, IPC_USER_MAX), BIN(0, IPC_SECRET_MAX) } },
	[IPC_AUTH_OK] = { 2, 0, 0, { TEXT(1, IPC_USER_MAX), TEXT(0, SCRAM_SERVER_MAX) } },
	[IPC_AUTH_FAIL] = { 1, 0, 0, { BYTE } },
	[IPC_HANDOFF] = { 4, 0, IPC_MAX_FDS, { BIN(0, IN_CAP), TEXT(0, IPC_INFO_MAX), BYTE,
					       TEXT(0, IPC_CAPA_MAX) } },
	[IPC_RELAY] = { 0, 1, 1, { { 0, 0, 0 } } },
	[IPC_SCRAM_FIRST] = { 10, 0, 0, { BYTE, BYTE, BYTE, TEXT(0, SCRAM_CBNAME_MAX),
					  TEXT(0, IPC_USER_MAX), TEXT(0, SCRAM_NONCE_MAX),
					  TEXT(0, SCRAM_GS2_MAX), TEXT(0, SCRAM_BARE_MAX),
					  TEXT(0, SCRAM_CBNAME_MAX), BIN(0, SCRAM_CBDATA_MAX) } },
	[IPC_SCRAM_CHALLENGE] = { 1, 0, 0, { TEXT(1, SCRAM_SERVER_MAX) } },
	[IPC_SCRAM_FINAL] = { 5, 0, 0, { BYTE, TEXT(0, SCRAM_CBIND_MAX),
					 TEXT(0, SCRAM_NONCE_MAX + 64), TEXT(0, SCRAM_NOPROOF_MAX),
					 BIN(0, SCRAM_PROOF_LEN) } },
	[IPC_TLS_FAIL] = { 1, 0, 0, { BIN(0, IPC_REASON_MAX) } },
	[IPC_CONN] = { 1, 1, 2, { BIN(1, IPC_MAX_MSG) } },
	[IPC_ACCEPT] = { 2, 1, 1, { TEXT(3, 3), BIN(0, IPC_ORIGIN_MAX) } },
	[IPC_RECHECK] = { 0, 0, 0, { { 0, 0, 0 } } },
	[IPC_SLEEP_TAKE] = { 0, 0, 0, { { 0, 0, 0 } } },
	[IPC_SLEEP_END] = { 0, 0, 0, { { 0, 0, 0 } } },
	[IPC_PARENT_YES] = { 0, 0, 0, { { 0, 0, 0 } } },
	[IPC_PARENT_NO] = { 0, 0, 0, { { 0, 0, 0 } } },
};

static int check(const struct ipc_msg *m, uint32_t type)
{
	const struct spec *s;
	if (type == 0 || type >= IPC_TYPE_END || m->type != type)
		return -1;
	s = &specs[type];
	if (m->nfields != s->nfields || m->nfds < s->fdmin || m->nfds > s->fdmax)
		return -1;
	for (int i = 0; i < m->nfields; i++) {
		if (m->flen[i] < s->f[i].min || m->flen[i] > s->f[i].max)
			return -1;
		if (s->f[i].text && memchr(m->field[i], '\0', m->flen[i]))
			return -1;
	}
	return 0;
}

static void copy(char *dst, const struct ipc_msg *m, int i)
{
	/* check() bounded the length by the destination's size. */
	memcpy(dst, m->field[i], m->flen[i]);
	dst[m->flen[i]] = '\0';
}

static int send_fields(int sock, uint32_t type, int n, const char *const *f,
		       const size_t *fl, int nfds, const int *fds)
{
	/* What we send must pass the receiver's table: a local bug shows
	 * here, not as a refusal on the other side. */
	struct ipc_msg *m = malloc(sizeof(*m));
	int r = -1;
	if (!m)
		return -1;
	m->type = type;
	m->nfields = n;
	m->nfds = nfds;
	for (int i = 0; i < n; i++) {
		m->field[i] = f[i];
		m->flen[i] = fl[i];
	}
	if (check(m, type) == 0)
		r = ipc_send(sock, type, n, f, fl, nfds, fds);
	free(m);
	return r;
}

int ipc_send_auth(int sock, const struct ipc_auth *a)
{
	char method = (char)a->method;
	const char *f[3] = { &method, a->user, a->secret };
	size_t fl[3] = { 1, a->userlen, a->secretlen };
	return send_fields(sock, IPC_AUTH, 3, f, fl, 0, NULL);
}

int ipc_decode_auth(const struct ipc_msg *m, struct ipc_auth *a)
{
	if (check(m, IPC_AUTH) < 0)
		return -1;
	a->method = (unsigned char)m->field[0][0];
	if (a->method != AUTH_M_USER && a->method != AUTH_M_APOP &&
	    a->method != AUTH_M_PLAIN && a->method != AUTH_M_LOGIN)
		return -1;
	copy(a->user, m, 1);
	a->userlen = m->flen[1];
	copy(a->secret, m, 2);
	a->secretlen = m->flen[2];
	return 0;
}

int ipc_send_auth_ok(int sock, const struct ipc_auth_ok *a)
{
	const char *f[2] = { a->user, a->server_final };
	size_t fl[2] = { strlen(a->user), a->sflen };
	return send_fields(sock, IPC_AUTH_OK, 2, f, fl, 0, NULL);
}

int ipc_decode_auth_ok(const struct ipc_msg *m, struct ipc_auth_ok *a)
{
	if (check(m, IPC_AUTH_OK) < 0)
		return -1;
	copy(a->user, m, 0);
	copy(a->server_final, m, 1);
	a->sflen = m->flen[1];
	return 0;
}

int ipc_send_auth_fail(int sock, const struct ipc_auth_fail *a)
{
	const char *f[1] = { a->temp ? "t" : "f" };
	size_t fl[1] = { 1 };
	return send_fields(sock, IPC_AUTH_FAIL, 1, f, fl, 0, NULL);
}

int ipc_decode_auth_fail(const struct ipc_msg *m, struct ipc_auth_fail *a)
{
	if (check(m, IPC_AUTH_FAIL) < 0 || (m->field[0][0] != 't' && m->field[0][0] != 'f'))
		return -1;
	a->temp = m->field[0][0] == 't';
	return 0;
}

int ipc_send_handoff(int sock, const struct ipc_handoff *h)
{
	char method = (char)h->method;
	const char *f[4] = { h->pending ? h->pending : "", h->tls_info, &method, h->capa };
	size_t fl[4] = { h->npending, strlen(h->tls_info), 1, strlen(h->capa) };
	return send_fields(sock, IPC_HANDOFF, 4, f, fl, h->nfds, h->fds);
}

int ipc_decode_handoff(const struct ipc_msg *m, struct ipc_handoff *h)
{
	if (check(m, IPC_HANDOFF) < 0)
		return -1;
	h->method = (unsigned char)m->field[2][0];
	/* The CAPA lines go to the client as they are: capitals, digits,
	 * '-', spaces and line ends only. */
	if (h->method <= 0 || h->method >= AUTH_M_END ||
	    strspn(m->field[3], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789- \r\n") != m->flen[3])
		return -1;
	h->pending = m->field[0];
	h->npending = m->flen[0];
	copy(h->tls_info, m, 1);
	copy(h->capa, m, 3);
	h->nfds = m->nfds;
	memcpy(h->fds, m->fds, sizeof(int) * (size_t)m->nfds);
	return 0;
}

int ipc_send_bare(int sock, uint32_t type)
{
	if (type < IPC_RECHECK || type > IPC_PARENT_NO)
		return -1;
	return send_fields(sock, type, 0, NULL, NULL, 0, NULL);
}

int ipc_decode_bare(const struct ipc_msg *m, uint32_t type)
{
	if (type < IPC_RECHECK || type > IPC_PARENT_NO)
		return -1;
	return check(m, type);
}

int ipc_send_relay(int sock, int fd)
{
	return send_fields(sock, IPC_RELAY, 0, NULL, NULL, 1, &fd);
}

int ipc_decode_relay(const struct ipc_msg *m, int *fd)
{
	if (check(m, IPC_RELAY) < 0)
		return -1;
	*fd = m->fds[0];
	return 0;
}

int ipc_send_scram_first(int sock, const struct ipc_scram_first *s)
{
	char method = (char)s->method, error = (char)s->error, flag = s->cbflag ? s->cbflag : 'n';
	const char *f[10] = { &method, &error, &flag, s->cbname, s->user, s->nonce, s->gs2,
			      s->bare, s->cbtype, (const char *)s->cbdata };
	size_t fl[10] = { 1, 1, 1, strlen(s->cbname), strlen(s->user), strlen(s->nonce),
			  strlen(s->gs2), strlen(s->bare), strlen(s->cbtype), s->cblen };
	return send_fields(sock, IPC_SCRAM_FIRST, 10, f, fl, 0, NULL);
}

int ipc_decode_scram_first(const struct ipc_msg *m, struct ipc_scram_first *s)
{
	if (check(m, IPC_SCRAM_FIRST) < 0)
		return -1;
	s->method = (unsigned char)m->field[0][0];
	s->error = (unsigned char)m->field[1][0];
	s->cbflag = m->field[2][0];
	if ((s->method != AUTH_M_SCRAM && s->method != AUTH_M_SCRAM_PLUS) ||
	    s->error >= SCRAM_ERR_END || !strchr("nyp", s->cbflag) || s->cbflag == '\0')
		return -1;
	copy(s->cbname, m, 3);
	copy(s->user, m, 4);
	copy(s->nonce, m, 5);
	copy(s->gs2, m, 6);
	copy(s->bare, m, 7);
	copy(s->cbtype, m, 8);
	memcpy(s->cbdata, m->field[9], m->flen[9]);
	s->cblen = m->flen[9];
	return 0;
}

int ipc_send_scram_final(int sock, const struct ipc_scram_final *s)
{
	char error = (char)s->error;
	const char *f[5] = { &error, s->cbind, s->nonce, s->noproof, (const char *)s->proof };
	size_t fl[5] = { 1, strlen(s->cbind), strlen(s->nonce), strlen(s->noproof),
			 s->error ? 0 : SCRAM_PROOF_LEN };
	return send_fields(sock, IPC_SCRAM_FINAL, 5, f, fl, 0, NULL);
}

int ipc_decode_scram_final(const struct ipc_msg *m, struct ipc_scram_final *s)
{
	if (check(m, IPC_SCRAM_FINAL) < 0)
		return -1;
	s->error = (unsigned char)m->field[0][0];
	/* A proof, or an error and no proof. */
	if (s->error >= SCRAM_ERR_END || m->flen[4] != (s->error ? 0 : SCRAM_PROOF_LEN))
		return -1;
	copy(s->cbind, m, 1);
	copy(s->nonce, m, 2);
	copy(s->noproof, m, 3);
	memset(s->proof, 0, sizeof(s->proof));
	memcpy(s->proof, m->field[4], m->flen[4]);
	return 0;
}

int ipc_send_scram_challenge(int sock, const struct ipc_scram_challenge *c)
{
	const char *f[1] = { c->msg };
	size_t fl[1] = { c->len };
	return send_fields(sock, IPC_SCRAM_CHALLENGE, 1, f, fl, 0, NULL);
}

int ipc_decode_scram_challenge(const struct ipc_msg *m, struct ipc_scram_challenge *c)
{
	if (check(m, IPC_SCRAM_CHALLENGE) < 0)
		return -1;
	copy(c->msg, m, 0);
	c->len = m->flen[0];
	return 0;
}

int ipc_send_tls_fail(int sock, const struct ipc_tls_fail *t)
{
	const char *f[1] = { t->why };
	size_t fl[1] = { strnlen(t->why, IPC_REASON_MAX) };
	return send_fields(sock, IPC_TLS_FAIL, 1, f, fl, 0, NULL);
}

int ipc_decode_tls_fail(const struct ipc_msg *m, struct ipc_tls_fail *t)
{
	if (check(m, IPC_TLS_FAIL) < 0)
		return -1;
	copy(t->why, m, 0);
	return 0;
}

int ipc_send_accept(int sock, const struct ipc_accept *a)
{
	char flags[3] = { a->tls ? '1' : '0', a->greeted ? '1' : '0', (char)('0' + a->ssl) };
	const char *f[2] = { flags, (const char *)a->origin };
	size_t fl[2] = { 3, a->origin_len };
	if (a->ssl < 0 || a->ssl > 2 || a->origin_len > IPC_ORIGIN_MAX)
		return -1;
	return send_fields(sock, IPC_ACCEPT, 2, f, fl, 1, &a->fd);
}

int ipc_decode_accept(const struct ipc_msg *m, struct ipc_accept *a)
{
	if (check(m, IPC_ACCEPT) < 0 || !strchr("01", m->field[0][0]) ||
	    !strchr("01", m->field[0][1]) || !strchr("012", m->field[0][2]))
		return -1;
	a->tls = m->field[0][0] == '1';
	a->greeted = m->field[0][1] == '1';
	a->ssl = m->field[0][2] - '0';
	memcpy(a->origin, m->field[1], m->flen[1]);
	a->origin_len = m->flen[1];
	a->fd = m->fds[0];
	return 0;
}

int ipc_send_conn(int sock, const void *info, size_t len, int rfd, int wfd)
{
	const char *f[1] = { info };
	size_t fl[1] = { len };
	int fds[2] = { rfd, wfd };
	return send_fields(sock, IPC_CONN, 1, f, fl, rfd == wfd ? 1 : 2, fds);
}

int ipc_decode_conn(const struct ipc_msg *m, void *info, size_t len)
{
	if (check(m, IPC_CONN) < 0 || m->flen[0] != len)
		return -1;
	memcpy(info, m->field[0], len);
	return 0;
}
