/* preauth.c - the pre-auth process: AUTHORIZATION state, STLS and implicit
 * TLS, SASL framing.  Runs chrooted in an empty directory as the
 * unprivileged 'postern' user, opens no files, and asks the monitor to check
 * credentials over a socketpair.  After a login it hands the client socket to
 * the monitor (plain) or stays as the TLS relay (TLS). */
#include "capa.h"
#include "ipc.h"
#include "log.h"
#include "netio.h"
#include "passwd_line.h"
#include "pop3.h"
#include "sasl.h"
#include "serve.h"
#include "session.h"
#include "tls.h"
#include "util.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct preauth {
	struct session *s;
	const struct config *cfg;
	struct conn c;
	int mon;
	struct tls_server *tls_srv;
	struct tls_conn *tls;
	char user[PW_USER_MAX + 1];
	int have_user;
	unsigned failures;
	struct serve sv;
	char timestamp[160];
};

static void pa_exit(struct preauth *p, int code) __attribute__((noreturn));
static void pa_exit(struct preauth *p, int code)
{
	conn_flush(&p->c);
	if (p->tls)
		tls_close(p->tls);
	conn_linger(&p->c, LINGER_MS);
	_exit(code);
}

static void err(struct preauth *p, const char *text)
{
	conn_printf(&p->c, "-ERR %s\r\n", text);
}

static int tls_possible(const struct preauth *p)
{
	return p->tls_srv && p->cfg->ssl != CONF_SSL_OFF;
}

/* May passwords cross this connection as they are? */
static int plaintext_ok(const struct preauth *p)
{
	if (p->tls)
		return 1;
	if (p->cfg->ssl == CONF_SSL_REQUIRED)
		return 0;
	if (p->cfg->plaintext_auth == CONF_PLAINTEXT_ALWAYS)
		return 1;
	return p->s->conn.loopback && p->cfg->loopback_is_local;
}

/* ssl = required: nothing logs in before TLS, not even SCRAM. */
static int login_ok(const struct preauth *p)
{
	return p->tls || p->cfg->ssl != CONF_SSL_REQUIRED;
}

/* What this connection may use, for CAPA and the AUTH listing. */
static void caps(const struct preauth *p, struct capa_info *ci)
{
	ci->state = ST_AUTH;
	ci->stls = tls_possible(p) && !p->tls;
	ci->user = plaintext_ok(p);
	ci->sasl = login_ok(p);
	ci->scram_plus = p->tls && tls_can_bind(p->tls);
	ci->pipelining = 1;
	ci->login_delay = -1;
	ci->expire = -1;
	ci->auth_lines = NULL;
}

static const char *mechanisms(const struct preauth *p, char *buf, size_t cap)
{
	struct capa_info ci;
	caps(p, &ci);
	capa_mechanisms(&ci, buf, cap);
	return buf;
}

/* The USER and SASL lines of CAPA; the mail process lists them too (RFC
 * 2449 section 5, RFC 5034 section 3), so they go along with the hand-over. */
static const char *auth_capa(const struct preauth *p, char *buf, size_t cap)
{
	struct capa_info ci;
	caps(p, &ci);
	capa_auth_lines(&ci, buf, cap);
	return buf;
}

static void cmd_capa(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	struct capa_info ci;
	char text[CAPA_TEXT_MAX];
	caps(p, &ci);
	conn_put(&p->c, text, capa_text(&ci, text, sizeof(text)));
}

/* Names the ways to TLS this server really has: STLS, and the port of the
 * first listen_tls (not 995 where implicit TLS is elsewhere or off). */
static void refuse_plaintext(struct preauth *p)
{
	char text[160];
	unsigned port = p->cfg->ssl != CONF_SSL_OFF ? config_tls_port(p->cfg) : 0;
	int n = snprintf(text, sizeof(text), "[AUTH] plaintext authentication is not "
			 "allowed on this connection");
	if (tls_possible(p) && port)
		snprintf(text + n, sizeof(text) - (size_t)n, "; use STLS or port %u (TLS) first", port);
	else if (tls_possible(p))
		snprintf(text + n, sizeof(text) - (size_t)n, "; use STLS first");
	else if (port)
		snprintf(text + n, sizeof(text) - (size_t)n, "; use port %u (TLS)", port);
	err(p, text);
}

/* The hand-over of the client to the monitor, which becomes the mail
 * process on a good login: plain, the socket and any pipelined input; TLS,
 * nothing but the session's description (this process stays as the relay). */
static void send_handoff(struct preauth *p, const char *method)
{
	char info[128], lines[200];
	const char *f[4];
	size_t fl[4];
	int fds[2], nfds = 0;

	if (p->tls)
		tls_describe(p->tls, info, sizeof(info));
	else
		snprintf(info, sizeof(info), "plaintext");
	f[0] = p->tls ? "" : p->c.in + p->c.in_start;
	fl[0] = p->tls ? 0 : conn_buffered(&p->c);
	f[1] = info;
	fl[1] = strlen(info);
	f[2] = method;
	fl[2] = strlen(method);
	f[3] = auth_capa(p, lines, sizeof(lines));
	fl[3] = strlen(lines);
	if (conn_flush(&p->c) < 0)
		pa_exit(p, 1);
	if (!p->tls) {
		fds[nfds++] = p->c.rfd;
		if (p->c.wfd != p->c.rfd)
			fds[nfds++] = p->c.wfd;
	}
	if (ipc_send(p->mon, IPC_HANDOFF, 4, f, fl, nfds, fds) < 0)
		pfatal("handoff to monitor failed: %s", strerror(errno));
}

/* TLS after a good login: relay between the client and the mail process's
 * end of the socketpair the monitor sent (in m). */
static void become_relay(struct preauth *p, struct ipc_msg *m) __attribute__((noreturn));
static void become_relay(struct preauth *p, struct ipc_msg *m)
{
	if (m->type != IPC_RELAY || m->nfds != 1)
		pfatal("monitor sent no relay socket");
	close(p->mon);
	tls_relay(p->tls, m->fds[0], p->c.in + p->c.in_start, conn_buffered(&p->c),
		  p->cfg->timeout_ms);
	tls_close(p->tls);
	conn_linger(&p->c, LINGER_MS);
	_exit(0);
}

/* After a login the monitor accepted (SCRAM): hand over and leave. */
static void handoff(struct preauth *p, const char *method) __attribute__((noreturn));
static void handoff(struct preauth *p, const char *method)
{
	struct ipc_msg *m;
	send_handoff(p, method);
	if (!p->tls)
		_exit(0);
	m = xmalloc(sizeof(*m));
	if (ipc_recv(p->mon, m) < 0)
		pfatal("lost the monitor");
	become_relay(p, m);
}

static void auth_failed(struct preauth *p, int temp)
{
	p->have_user = 0;
	if (temp) {
		err(p, "[SYS/TEMP] authentication is temporarily unavailable");
		return;
	}
	p->failures++;
	/* A growing delay makes guessing slow; the same for every failure
	 * reason, so it tells nothing about the account. */
	conn_flush(&p->c);
	sleep_ms(p->cfg->login_fail_delay_ms * p->failures);
	if (p->failures >= p->cfg->max_login_failures) {
		err(p, "[AUTH] authentication failed; too many failures, closing connection");
		pa_exit(p, 0);
	}
	err(p, "[AUTH] authentication failed");
}

/* Ask the monitor; on success never returns.  The hand-over goes right
 * behind the question, so a good login needs no second round trip: the
 * monitor answers AUTH_OK (plain: this process just exits) or with the
 * relay socket (TLS), and on a failure drops its copies and answers
 * AUTH_FAIL.  Nothing is read from the client meanwhile, so the pipelined
 * input sent along is all there is. */
static void check_with_monitor(struct preauth *p, const char *method, int nf,
			       const char *const *f, const size_t *fl)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	if (ipc_send(p->mon, IPC_AUTH, nf, f, fl, 0, NULL) < 0)
		pfatal("lost the monitor");
	send_handoff(p, method);
	if (ipc_recv(p->mon, m) < 0)
		pfatal("lost the monitor");
	if (m->type == IPC_AUTH_OK && !p->tls)
		_exit(0);
	if (m->type == IPC_RELAY && p->tls)
		become_relay(p, m);
	if (m->type != IPC_AUTH_FAIL)
		pfatal("unexpected answer from the monitor (type %u)", m->type);
	int temp = m->nfields == 1 && strcmp(m->field[0], "temp") == 0;
	free(m);
	auth_failed(p, temp);
}

static void cmd_user(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	if (!plaintext_ok(p)) {
		refuse_plaintext(p);
		return;
	}
	if (r->arglen[0] > PW_USER_MAX) {
		err(p, "[AUTH] user name too long");
		return;
	}
	memcpy(p->user, r->argv[0], r->arglen[0] + 1);
	p->have_user = 1;
	conn_put(&p->c, "+OK\r\n", 5);
}

static void cmd_pass(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	const char *f[3];
	size_t fl[3];
	if (!plaintext_ok(p)) {
		refuse_plaintext(p);
		return;
	}
	if (!p->have_user) {
		err(p, "USER first");
		return;
	}
	f[0] = "USER";
	fl[0] = 4;
	f[1] = p->user;
	fl[1] = strlen(p->user);
	f[2] = r->argv[0];
	fl[2] = r->arglen[0];
	check_with_monitor(p, "USER", 3, f, fl);
	explicit_bzero(r->argv[0], r->arglen[0]);
}

static void cmd_apop(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	const char *f[4];
	size_t fl[4];
	if (!p->cfg->apop) {
		err(p, "APOP is not enabled on this server");
		return;
	}
	if (r->arglen[0] > PW_USER_MAX || r->arglen[1] != 32) {
		err(p, "syntax error in arguments");
		return;
	}
	f[0] = "APOP"; fl[0] = 4;
	f[1] = r->argv[0]; fl[1] = r->arglen[0];
	f[2] = r->argv[1]; fl[2] = r->arglen[1];
	f[3] = p->timestamp; fl[3] = strlen(p->timestamp);
	check_with_monitor(p, "APOP", 4, f, fl);
}

/* Read one SASL continuation line: base64, or "*" to cancel.  Returns the
 * decoded length, -1 for cancel/bad input (already answered), -2 on EOF. */
static long sasl_read(struct preauth *p, unsigned char *out, size_t cap)
{
	char *line;
	size_t len;
	enum line_status ls;
	long n;
	p->c.line_max = LINE_MAX_SASL;
	ls = conn_read_line(&p->c, &line, &len);
	p->c.line_max = 0;
	if (ls == LINE_TOOLONG) {
		err(p, "SASL response too long");
		return -1;
	}
	if (ls != LINE_OK)
		return -2;
	if (len == 1 && line[0] == '*') {
		err(p, "authentication cancelled");
		return -1;
	}
	n = b64_decode(line, len, out, cap);
	if (n < 0)
		err(p, "invalid base64");
	return n;
}

static long initial_or_read(struct preauth *p, const struct pop3_req *r,
			    unsigned char *out, size_t cap)
{
	long n;
	if (r->argc < 2) {
		conn_put(&p->c, "+ \r\n", 4);
		return sasl_read(p, out, cap);
	}
	if (r->arglen[1] == 1 && r->argv[1][0] == '=')
		return 0; /* RFC 5034: "=" is an empty initial response */
	n = b64_decode(r->argv[1], r->arglen[1], out, cap);
	if (n < 0)
		err(p, "invalid base64");
	return n;
}

static void auth_plain(struct preauth *p, const struct pop3_req *r)
{
	unsigned char buf[LINE_MAX_SASL];
	const char *authz, *authc, *pass, *f[3];
	size_t passlen, fl[3];
	long n = initial_or_read(p, r, buf, sizeof(buf) - 1);
	if (n == -2)
		pa_exit(p, 0);
	if (n < 0)
		return;
	buf[n] = '\0';
	if (sasl_plain_split(buf, (size_t)n, &authz, &authc, &pass, &passlen) < 0) {
		err(p, "malformed PLAIN response");
		return;
	}
	if (authz[0] && strcmp(authz, authc) != 0) {
		err(p, "[AUTH] authorization identity differs from the authentication identity");
		return;
	}
	f[0] = "PLAIN"; fl[0] = 5;
	f[1] = authc; fl[1] = strlen(authc);
	f[2] = pass; fl[2] = passlen;
	check_with_monitor(p, "PLAIN", 3, f, fl);
	explicit_bzero(buf, sizeof(buf));
}

static void auth_login(struct preauth *p, const struct pop3_req *r)
{
	unsigned char user[LINE_MAX_SASL], pass[LINE_MAX_SASL];
	const char *f[3];
	size_t fl[3];
	long un, pn;
	if (r->argc == 2) {
		un = initial_or_read(p, r, user, sizeof(user) - 1);
	} else {
		conn_put(&p->c, "+ VXNlcm5hbWU6\r\n", 16); /* "Username:" */
		un = sasl_read(p, user, sizeof(user) - 1);
	}
	if (un == -2)
		pa_exit(p, 0);
	if (un < 0)
		return;
	conn_put(&p->c, "+ UGFzc3dvcmQ6\r\n", 16); /* "Password:" */
	pn = sasl_read(p, pass, sizeof(pass) - 1);
	if (pn == -2)
		pa_exit(p, 0);
	if (pn < 0)
		return;
	user[un] = '\0';
	if (memchr(user, '\0', (size_t)un)) {
		err(p, "[AUTH] malformed user name");
		return;
	}
	f[0] = "LOGIN"; fl[0] = 5;
	f[1] = (const char *)user; fl[1] = (size_t)un;
	f[2] = (const char *)pass; fl[2] = (size_t)pn;
	check_with_monitor(p, "LOGIN", 3, f, fl);
	explicit_bzero(pass, sizeof(pass));
}

/* One SCRAM message to the monitor; its answer in *m (caller frees). */
static struct ipc_msg *scram_exchange(struct preauth *p, const char *mech,
				      const unsigned char *in, size_t len,
				      const char *cb, size_t cblen)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	const char *f[3] = { mech, (const char *)in, cb };
	size_t fl[3] = { strlen(mech), len, cblen };
	if (ipc_send(p->mon, IPC_SASL_STEP, cb ? 3 : 2, f, fl, 0, NULL) < 0 ||
	    ipc_recv(p->mon, m) < 0)
		pfatal("lost the monitor");
	return m;
}

static int scram_fail(struct preauth *p, struct ipc_msg *m, int want)
{
	if (m->type == (uint32_t)want)
		return 0;
	int temp = m->type == IPC_AUTH_FAIL && m->nfields == 1 && strcmp(m->field[0], "temp") == 0;
	free(m);
	auth_failed(p, temp);
	return -1;
}

static void send_challenge(struct preauth *p, const char *raw, size_t len)
{
	char b64[1400];
	if (len > 1024)
		len = 1024;
	b64_encode((const unsigned char *)raw, len, b64);
	conn_printf(&p->c, "+ %s\r\n", b64);
}

static void preauth_scram(struct preauth *p, const struct pop3_req *r, int plus)
{
	const char *mech = plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
	unsigned char in[LINE_MAX_POP3];
	char cb[160];
	size_t cblen = 0;
	struct ipc_msg *m;
	long n;

	if (p->tls) {
		const char *type;
		unsigned char data[128];
		int dl = tls_channel_binding(p->tls, &type, data, sizeof(data));
		if (dl > 0 && strlen(type) + 1 + (size_t)dl <= sizeof(cb)) {
			cblen = strlen(type) + 1;
			memcpy(cb, type, cblen);
			memcpy(cb + cblen, data, (size_t)dl);
			cblen += (size_t)dl;
		}
	}
	n = initial_or_read(p, r, in, sizeof(in));
	if (n == -2)
		pa_exit(p, 0);
	if (n < 0)
		return;
	m = scram_exchange(p, mech, in, (size_t)n, cb, cblen);
	if (scram_fail(p, m, IPC_SASL_STEP) < 0)
		return;
	if (m->nfields != 1) {
		free(m);
		pfatal("bad SCRAM answer from the monitor");
	}
	send_challenge(p, m->field[0], m->flen[0]);
	free(m);
	n = sasl_read(p, in, sizeof(in));
	if (n == -2)
		pa_exit(p, 0);
	if (n < 0) {
		/* Cancelled or garbage: the monitor forgets the exchange. */
		m = scram_exchange(p, mech, (const unsigned char *)"", 0, NULL, 0);
		free(m);
		return;
	}
	m = scram_exchange(p, mech, in, (size_t)n, NULL, 0);
	if (scram_fail(p, m, IPC_AUTH_OK) < 0)
		return;
	if (m->nfields != 2) {
		free(m);
		pfatal("bad SCRAM answer from the monitor");
	}
	/* Success data goes in a last challenge (RFC 5034 has no room for it
	 * in +OK); the client answers with an empty line. */
	send_challenge(p, m->field[1], m->flen[1]);
	free(m);
	{
		char *line;
		size_t len;
		if (conn_read_line(&p->c, &line, &len) != LINE_OK || len != 0) {
			err(p, "authentication aborted");
			pa_exit(p, 0);
		}
	}
	handoff(p, mech);
}

static void cmd_auth(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	char mech[128];
	if (r->argc == 0) {
		/* Pre-RFC 5034 clients (Outlook) list mechanisms this way. */
		char *s, *save = NULL;
		conn_put(&p->c, "+OK\r\n", 5);
		mechanisms(p, mech, sizeof(mech));
		for (s = strtok_r(mech, " ", &save); s; s = strtok_r(NULL, " ", &save))
			conn_printf(&p->c, "%s\r\n", s);
		conn_put(&p->c, ".\r\n", 3);
		return;
	}
	if (strcasecmp(r->argv[0], "PLAIN") == 0 || strcasecmp(r->argv[0], "LOGIN") == 0) {
		if (!plaintext_ok(p)) {
			refuse_plaintext(p);
			return;
		}
		if (toupper((unsigned char)r->argv[0][0]) == 'P')
			auth_plain(p, r);
		else
			auth_login(p, r);
	} else if (!login_ok(p)) {
		refuse_plaintext(p);
	} else if (strcasecmp(r->argv[0], "SCRAM-SHA-256") == 0) {
		preauth_scram(p, r, 0);
	} else if (strcasecmp(r->argv[0], "SCRAM-SHA-256-PLUS") == 0 && p->tls &&
		   tls_can_bind(p->tls)) {
		preauth_scram(p, r, 1);
	} else {
		err(p, "unsupported authentication mechanism");
	}
}

/* A failed handshake is for the monitor to log: it rate-limits per source,
 * since anyone can cause one at will. */
static void __attribute__((noreturn)) tls_failed(struct preauth *p, const char *why)
{
	const char *f[1] = { why };
	size_t fl[1] = { strlen(why) };
	if (ipc_send(p->mon, IPC_TLS_FAIL, 1, f, fl, 0, NULL) < 0)
		plog(LOG_NOTICE, "TLS handshake failed: rip=%s reason=%s", p->s->conn.rip, why);
	_exit(0);
}

static void cmd_stls(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	char why[128];
	if (p->tls) {
		err(p, "already using TLS");
		return;
	}
	if (!tls_possible(p)) {
		err(p, "STLS is not available");
		return;
	}
	conn_put(&p->c, "+OK begin TLS negotiation\r\n", 27);
	if (conn_flush(&p->c) < 0)
		pa_exit(p, 0);
	/* Bytes pipelined after STLS were sent in the clear: drop them, never
	 * run them inside the TLS session (CVE-2011-0411 class). */
	p->c.in_start = p->c.in_end = 0;
	p->c.discarding = 0;
	p->tls = tls_accept(p->tls_srv, p->c.rfd, p->c.deadline, why, sizeof(why));
	if (!p->tls)
		tls_failed(p, why);
	p->c.tr = tls_transport(p->tls);
	p->have_user = 0;
}

static void cmd_quit(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	conn_put(&p->c, "+OK bye\r\n", 9);
	pa_exit(p, 0);
}

/* The AUTHORIZATION state's commands (their rows: pop3cmd.c). */
static pop3_handler *const handlers[CMD_COUNT] = {
	[CMD_USER] = cmd_user,
	[CMD_PASS] = cmd_pass,
	[CMD_APOP] = cmd_apop,
	[CMD_AUTH] = cmd_auth,
	[CMD_STLS] = cmd_stls,
	[CMD_CAPA] = cmd_capa,
	[CMD_QUIT] = cmd_quit,
};

void preauth_wait(struct session *s, int mon, struct tls_server *tls)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	struct conn_info *ci = &s->conn;
	int rfd, wfd;
	/* EOF: the spare was retired before a client came. */
	if (ipc_recv(mon, m) < 0)
		_exit(0);
	if (m->type != IPC_CONN || m->nfields != 1 || m->flen[0] != sizeof(*ci) ||
	    m->nfds < 1)
		pfatal("malformed connection hand-over from the monitor");
	memcpy(ci, m->field[0], sizeof(*ci));
	ci->rip[sizeof(ci->rip) - 1] = '\0';
	ci->greeting[sizeof(ci->greeting) - 1] = '\0';
	ci->apop_stamp[sizeof(ci->apop_stamp) - 1] = '\0';
	rfd = m->fds[0];
	wfd = m->nfds > 1 ? m->fds[1] : m->fds[0];
	free(m);
	preauth_main(s, rfd, wfd, mon, tls);
}

void preauth_main(struct session *s, int rfd, int wfd, int mon, struct tls_server *tls)
{
	struct preauth *p = xcalloc(1, sizeof(*p));
	const struct config *cfg = s->cfg;

	p->s = s;
	p->cfg = cfg;
	p->mon = mon;
	p->tls_srv = tls;
	conn_init(&p->c, rfd, wfd);
	p->c.deadline = now_ms() + cfg->login_timeout_ms;
	if (s->conn.tls_listener) {
		char why[128];
		p->tls = tls_accept(tls, rfd, p->c.deadline, why, sizeof(why));
		if (!p->tls)
			tls_failed(p, why);
		p->c.tr = tls_transport(p->tls);
	}
	snprintf(p->timestamp, sizeof(p->timestamp), "%s", s->conn.apop_stamp);
	if (!s->conn.greeted)
		conn_put(&p->c, s->conn.greeting, strlen(s->conn.greeting));

	p->sv.c = &p->c;
	p->sv.state = ST_AUTH;
	p->sv.handlers = handlers;
	p->sv.ctx = p;
	p->sv.max_lines = cfg->max_login_commands;
	snprintf(p->sv.who, sizeof(p->sv.who), "rip=%s", s->conn.rip);
	switch (serve(&p->sv)) {
	case SERVE_TIMEOUT:
		err(p, "login timeout, closing connection");
		plog(LOG_NOTICE, "login timeout: rip=%s", s->conn.rip);
		break;
	case SERVE_TOO_MANY:
		err(p, "too many commands before login, closing connection");
		plog(LOG_NOTICE, "too many commands before login: rip=%s", s->conn.rip);
		break;
	case SERVE_EOF:
	case SERVE_WRITE_FAILED:
	case SERVE_UPDATE:
		break;
	}
	pa_exit(p, 0);
}
