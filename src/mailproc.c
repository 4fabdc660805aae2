/* mailproc.c - the mail process: TRANSACTION and UPDATE states of RFC 1939
 * (entering the mailbox is mailbox.c's, the SLEEP state sleep.c's).
 * Runs as the mailbox owner (never root), talking to a plain descriptor:
 * the client socket itself, or a socketpair to the TLS relay in the
 * pre-auth process.  The mail store (mailstore.h) does the file work,
 * RETR and TOP streaming included. */
#include "capa.h"
#include "log.h"
#include "mailstate.h"
#include "mailstore.h"
#include "netio.h"
#include "parse.h"
#include "pop3.h"
#include "serve.h"
#include "mailsess.h"
#include "session.h"
#include "uidindex.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void reply_err(struct mailsess *m, const char *text)
{
	conn_printf(&m->c, "-ERR %s\r\n", text);
}

static const char *uid_of(const void *ctx, size_t i)
{
	const struct mailsess *m = ctx;
	return m->ops->uidl(m->store, i);
}

/* A message argument: a number (RFC 1939) or, with UID-PARAM on,
 * "UID:<unique-id>" of a message of this session's snapshot. */
static int msg_arg(struct mailsess *m, const struct pop3_req *r, int k, size_t *idx)
{
	const char *id;
	size_t idlen;
	int uid = m->s->cfg->uid_param ?
		pop3_uid_arg(r->argv[k], r->arglen[k], &id, &idlen) : 0;
	if (uid < 0) {
		reply_err(m, "invalid unique-id");
		return -1;
	}
	if (uid > 0) {
		long i;
		if (!m->uix.size && uidindex_build(&m->uix, m->n, uid_of, m) < 0) {
			reply_err(m, "[SYS/TEMP] out of memory");
			return -1;
		}
		i = uidindex_find(&m->uix, id, idlen);
		if (i < 0 || m->deleted[i] == DEL_GONE) {
			reply_err(m, "[UID/NOT-FOUND] no message with that unique-id");
			return -1;
		}
		*idx = (size_t)i;
	} else if (pop3_msgnum(r->argv[k], r->arglen[k], m->n, idx) < 0 ||
		   m->deleted[*idx] == DEL_GONE) {
		reply_err(m, "no such message");
		return -1;
	}
	if (m->deleted[*idx]) {
		reply_err(m, "message is deleted");
		return -1;
	}
	return 0;
}

static void cmd_stat(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	size_t count;
	uint64_t octets;
	mailbox_totals(m, &count, &octets);
	conn_printf(&m->c, "+OK %zu %llu\r\n", count, (unsigned long long)octets);
}

/* Decimal digits of v at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static void list_uidl(struct mailsess *m, const struct pop3_req *r, int uidl)
{
	size_t i;
	char line[128];
	if (r->argc == 1) {
		if (msg_arg(m, r, 0, &i) < 0)
			return;
		if (uidl)
			conn_printf(&m->c, "+OK %zu %s\r\n", i + 1, m->ops->uidl(m->store, i));
		else
			conn_printf(&m->c, "+OK %zu %llu\r\n", i + 1,
				    (unsigned long long)m->ops->size(m->store, i));
		return;
	}
	if (uidl) {
		conn_put(&m->c, "+OK unique-id listing follows\r\n", 31);
	} else {
		size_t count;
		uint64_t octets;
		mailbox_totals(m, &count, &octets);
		conn_printf(&m->c, "+OK %zu messages (%llu octets)\r\n", count,
			    (unsigned long long)octets);
	}
	/* The hot loop of a big-mailbox poll: no printf. */
	for (i = 0; i < m->n; i++) {
		char *p;
		if (m->deleted[i])
			continue;
		p = put_u64(line, i + 1);
		*p++ = ' ';
		if (uidl) {
			const char *u = m->ops->uidl(m->store, i);
			size_t ul = strlen(u);
			memcpy(p, u, ul);
			p += ul;
		} else {
			p = put_u64(p, m->ops->size(m->store, i));
		}
		*p++ = '\r';
		*p++ = '\n';
		conn_put(&m->c, line, (size_t)(p - line));
	}
	conn_put(&m->c, ".\r\n", 3);
}

static void cmd_list(void *ctx, const struct pop3_req *r)
{
	list_uidl(ctx, r, 0);
}

static void cmd_uidl(void *ctx, const struct pop3_req *r)
{
	list_uidl(ctx, r, 1);
}

/* "+OK", the message (or its top) and the terminating dot, streamed by the
 * store (for Maildir: msgstream.c).  A read error after "+OK" cannot be
 * reported in-band, so the session ends. */
static void send_message(struct mailsess *m, size_t idx, int64_t top_lines)
{
	char head[48];
	uint64_t before, stored = 0;
	uint64_t listed = m->ops->size(m->store, idx);
	int hl = snprintf(head, sizeof(head), "+OK %llu octets\r\n", (unsigned long long)listed);
	enum ms_stream st;

	before = m->c.bytes_out + m->c.out_len + (uint64_t)hl;
	st = m->ops->stream(m->store, idx, top_lines, &m->c, head, (size_t)hl, &stored);
	if (st == MS_NOT_SENT) {
		plog(LOG_ERR, "user=<%s> rip=%s cannot open message %zu: %s",
		     m->s->user, m->s->conn.rip, idx + 1, strerror(errno));
		/* Gone for good (another program removed it): no code, so a
		 * client skips it and goes on; retrying would not help. */
		reply_err(m, errno == ENOENT ? "message no longer exists"
					     : "[SYS/TEMP] cannot read message");
		return;
	}
	if (st == MS_BROKEN) {
		plog(LOG_ERR, "user=<%s> rip=%s read error in message %zu: %s",
		     m->s->user, m->s->conn.rip, idx + 1, strerror(errno));
		conn_flush(&m->c);
		_exit(1);
	}
	/* The size said in LIST comes from the name (,W=) or the size cache
	 * without reading the file.  With CRLF line ends it is at least the
	 * stored size and at most twice it plus a final CRLF; outside that
	 * the name lies or the file was changed in place (Maildir forbids
	 * both).  Too late to take back, but the administrator hears of it. */
	if (listed < stored || listed > 2 * stored + 2)
		plog(LOG_WARNING, "user=<%s> rip=%s message %zu: listed as %llu octets but its "
		     "file has %llu bytes: a wrong ,W= in its name, or a file changed in place",
		     m->s->user, m->s->conn.rip, idx + 1, (unsigned long long)listed,
		     (unsigned long long)stored);
	if (top_lines < 0) {
		m->retr++;
		m->retr_bytes += m->c.bytes_out + m->c.out_len - before;
		m->seen[idx] = 1;
	} else {
		m->top++;
		m->top_bytes += m->c.bytes_out + m->c.out_len - before;
	}
}

static void cmd_retr(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	size_t i;
	if (msg_arg(m, r, 0, &i) == 0)
		send_message(m, i, -1);
}

static void cmd_top(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	size_t i;
	uint64_t lines;
	if (msg_arg(m, r, 0, &i) < 0)
		return;
	if (parse_decimal(r->argv[1], r->arglen[1], INT64_MAX, &lines) < 0) {
		reply_err(m, "invalid line count");
		return;
	}
	send_message(m, i, (int64_t)lines);
}

static void cmd_dele(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	size_t i;
	if (msg_arg(m, r, 0, &i) < 0)
		return;
	m->deleted[i] = DEL_MARKED;
	m->ndeleted++;
	m->del_bytes += m->ops->size(m->store, i);
	conn_printf(&m->c, "+OK message %zu deleted\r\n", i + 1);
}

/* DELI (draft of the pop3svc design): the message leaves the store now,
 * with UPDATE's care (a file already gone is not an error, one that cannot
 * be removed gets [SYS/TEMP] and stays); every other number stays. */
static void cmd_deli(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	size_t i;
	if (msg_arg(m, r, 0, &i) < 0)
		return;
	if (m->ops->delete_now(m->store, i) != MS_OK) {
		reply_err(m, "[SYS/TEMP] message could not be removed");
		return;
	}
	m->deleted[i] = DEL_GONE;
	m->seen[i] = 0;
	m->deli++;
	m->deli_bytes += m->ops->size(m->store, i);
	conn_printf(&m->c, "+OK message %zu removed\r\n", i + 1);
}

/* Take back every DELE; what DELI removed stays gone. */
static void unmark(struct mailsess *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->deleted[i] == DEL_MARKED)
			m->deleted[i] = 0;
}

static void cmd_rset(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	size_t count;
	uint64_t octets;
	unmark(m);
	m->ndeleted = 0;
	m->del_bytes = 0;
	mailbox_totals(m, &count, &octets);
	conn_printf(&m->c, "+OK maildrop has %zu message%s (%llu octets)\r\n", count,
		    count == 1 ? "" : "s",
		    (unsigned long long)octets);
}

void mail_log_logout(struct mailsess *m, const char *reason, unsigned deleted,
		     uint64_t del_bytes)
{
	size_t count;
	uint64_t octets;
	mailbox_totals(m, &count, &octets);
	plog(LOG_INFO, "logout: user=<%s> rip=%s retr=%u/%llu top=%u/%llu dele=%u/%llu "
	     "deli=%u/%llu left=%zu/%llu reason=%s", m->s->user, m->s->conn.rip, m->retr,
	     (unsigned long long)m->retr_bytes, m->top, (unsigned long long)m->top_bytes,
	     deleted, (unsigned long long)del_bytes, m->deli,
	     (unsigned long long)m->deli_bytes, count, (unsigned long long)octets, reason);
}

/* The end of the session.  A plain session's pre-auth process leaves on
 * the monitor's answer, normally long before; if it has not been scheduled
 * yet, wait for it, so that this process reaps it (SIGCHLD is ignored) and
 * it is not left to an init that may not reap (inetd mode).  It is not our
 * child any more once reaped, so the wait then returns at once. */
void mail_exit(const struct mailsess *m, int code)
{
	/* The client sees the end now, not after the exit has taken the
	 * address space down (the kernel closes descriptors after that). */
	close(m->c.rfd);
	if (m->c.wfd != m->c.rfd)
		close(m->c.wfd);
	if (m->s->preauth_pid > 0)
		while (waitpid(m->s->preauth_pid, NULL, 0) < 0 && errno == EINTR)
			;
	_exit(code);
}

/* The end without an UPDATE state (a dropped connection, autologout, a
 * client that stopped reading): nothing marked with DELE goes, so it counts
 * as left. */
static void __attribute__((noreturn)) end_session(struct mailsess *m, const char *reason)
{
	unmark(m);
	mail_log_logout(m, reason, 0, 0);
	mail_exit(m, 0);
}

/* The UPDATE state (RFC 1939 section 6), after QUIT. */
static void __attribute__((noreturn)) update(struct mailsess *m)
{
	struct commit_result cr;
	enum ms_status st = mailbox_commit(m, &cr);
	if (st == MS_OK) {
		conn_printf(&m->c, "+OK postern signing off (%zu message%s deleted)\r\n",
			    (size_t)cr.deleted, cr.deleted == 1 ? "" : "s");
	} else {
		conn_printf(&m->c, "-ERR [SYS/TEMP] %u deleted messages not removed\r\n",
			    cr.failed);
	}
	/* The logout line's "left" counts what is still in the mailbox: all
	 * but the removed messages, or, when some could not be removed
	 * (which ones is not known here), every message of the snapshot. */
	if (st != MS_OK)
		unmark(m);
	mail_log_logout(m, st == MS_OK ? "quit" : "quit-partial",
			m->commit_deleted + cr.deleted, m->commit_bytes + cr.deleted_bytes);
	/* The mailbox lock goes before the answer: a client that logs in
	 * again as soon as it reads "+OK" must not find it still held. */
	m->ops->close(m->store);
	conn_flush(&m->c);
	conn_linger(&m->c, LINGER_MS);
	mail_exit(m, 0);
}

static void cmd_noop(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	conn_put(&m->c, "+OK\r\n", 5);
}

static void cmd_quit(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	if (m->sv.state == ST_SLEEP)
		sleep_quit(m);
	m->sv.state = ST_UPDATE;
}

/* As before the login, STLS aside: RFC 2449 section 5 wants what the
 * AUTHORIZATION state offered (USER, SASL) listed in both states. */
static void cmd_capa(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	struct capa_info ci = {
		.state = ST_TRANS, .pipelining = 1,
		.login_delay = m->s->login_delay, .expire = m->s->expire,
		.uid_param = m->s->cfg->uid_param, .deli = m->s->cfg->deli,
		.sleeping = m->s->cfg->sleeping && m->s->parent_fd >= 0,
		.auth_lines = m->s->auth_capa,
	};
	char text[CAPA_TEXT_MAX];
	conn_put(&m->c, text, capa_text(&ci, text, sizeof(text)));
}

/* The TRANSACTION state's commands (their rows: pop3cmd.c). */
static pop3_handler *const handlers[CMD_COUNT] = {
	[CMD_STAT] = cmd_stat,
	[CMD_LIST] = cmd_list,
	[CMD_RETR] = cmd_retr,
	[CMD_DELE] = cmd_dele,
	[CMD_NOOP] = cmd_noop,
	[CMD_RSET] = cmd_rset,
	[CMD_TOP] = cmd_top,
	[CMD_UIDL] = cmd_uidl,
	[CMD_CAPA] = cmd_capa,
	[CMD_QUIT] = cmd_quit,
	[CMD_DELI] = cmd_deli,
	[CMD_SLEE] = cmd_slee,
	[CMD_WAKE] = cmd_wake,
};

/* Clear O_NONBLOCK on fd; 0 when fd is blocking now. */
static int make_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		return -1;
	return 0;
}

static void set_socket_options(struct conn *c, uint64_t timeout_ms)
{
	int one = 1, blocking;
	struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
	/* Replies go out assembled; never wait for a delayed ACK. */
	setsockopt(c->wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A client that stops reading cannot hold the process forever. */
	setsockopt(c->wfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* An inetd may hand over a non-blocking socket: the mail process
	 * streams with blocking writes bounded by SO_SNDTIMEO, so it clears
	 * the flag (the pre-auth process copes either way). */
	blocking = make_blocking(c->rfd) == 0;
	if (c->wfd != c->rfd)
		make_blocking(c->wfd);
	/* The idle timeout as the socket's receive timeout: a blocking read
	 * then waits by itself, one system call a command (not for a pipe). */
	if (blocking && setsockopt(c->rfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0)
		c->rcvtimeo = 1;
}

void mail_set_idle(struct mailsess *m, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
	m->c.idle_ms = ms;
	if (m->c.rcvtimeo && setsockopt(m->c.rfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		plog(LOG_WARNING, "SO_RCVTIMEO: %s", strerror(errno));
}

void mail_main(struct session *s, int rfd, int wfd, const char *pending, size_t npending)
{
	struct mailsess m;
	char err[200];

	memset(&m, 0, sizeof(m));
	m.s = s;
	m.ops = &maildir_ops;
	m.slot_fd = -1;
	m.dfd = -1;
	conn_init(&m.c, rfd, wfd);
	/* Room for a whole LIST/UIDL page per write; allocated fresh (mmap)
	 * so untouched pages cost no memory in an idle session. */
	free(m.c.out);
	m.c.out_cap = OUT_CAP_AWAKE;
	m.c.out = xmalloc(m.c.out_cap);
	m.c.idle_ms = s->cfg->timeout_ms;
	set_socket_options(&m.c, s->cfg->timeout_ms);
	if (conn_preload(&m.c, pending, npending) < 0)
		pfatal("pending input too large");

	m.o.max_messages = s->cfg->max_messages;
	m.o.max_bytes = s->cfg->max_mailbox_size;
	m.o.size_cache = s->cfg->size_cache;
	m.o.uidl_import = s->cfg->uidl_import;
	m.o.uidl_format = s->cfg->dovecot_uidl_format;
	m.o.owner = getuid();
	if (mailbox_enter(&m, err, sizeof(err)) < 0) {
		reply_err(&m, err);
		conn_flush(&m.c);
		mail_exit(&m, 1);
	}
	{
		size_t count;
		uint64_t octets;
		mailbox_totals(&m, &count, &octets);
		conn_printf(&m.c, "+OK maildrop has %zu message%s (%llu octets)\r\n", count,
			    count == 1 ? "" : "s",
			    (unsigned long long)octets);
		plog(LOG_INFO, "login: user=<%s> rip=%s lport=%u tls=%s method=%s messages=%zu",
		     s->user, s->conn.rip, s->conn.lport, s->tls_info, s->method, count);
	}

	m.sv.c = &m.c;
	m.sv.state = ST_TRANS;
	m.sv.handlers = handlers;
	m.sv.ctx = &m;
	/* Extensions turned off are unknown commands (postern.conf(5)). */
	if (!s->cfg->deli)
		m.sv.off |= 1UL << CMD_DELI;
	if (!s->cfg->sleeping || s->parent_fd < 0)
		m.sv.off |= 1UL << CMD_SLEE | 1UL << CMD_WAKE;
	snprintf(m.sv.who, sizeof(m.sv.who), "user=<%s> rip=%s", s->user, s->conn.rip);
	switch (serve(&m.sv)) {
	case SERVE_UPDATE:
		update(&m);
	case SERVE_TIMEOUT:
		reply_err(&m, "autologout: idle for too long");
		conn_flush(&m.c);
		end_session(&m, "timeout");
	case SERVE_WRITE_FAILED:
		end_session(&m, "write-failed");
	case SERVE_EOF:
	case SERVE_TOO_MANY:
		break;
	}
	end_session(&m, "disconnected");
}
