/* preauth.c - the pre-auth process: AUTHORIZATION state, STLS and implicit
 * TLS, USER/PASS and APOP (AUTH is preauth_sasl.c).  Runs chrooted in an empty directory as the
 * unprivileged 'postern' user, opens no files, and asks the monitor to check
 * credentials over a socketpair.  After a login it hands the client socket to
 * the monitor (plain) or stays as the TLS relay (TLS). */
#include "preauth.h"
#include "capa.h"
#include "log.h"
#include "tls.h"
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
	return p->tls_srv && p->s->conn.ssl != CONF_SSL_OFF;
}

/* May passwords cross this connection as they are? */
static int plaintext_ok(const struct preauth *p)
{
	if (p->tls)
		return 1;
	if (p->s->conn.ssl == CONF_SSL_REQUIRED)   /* the listener's ssl= */
		return 0;
	if (p->cfg->plaintext_auth == CONF_PLAINTEXT_ALWAYS)
		return 1;
	return p->s->conn.loopback && p->cfg->loopback_is_local;
}

/* ssl = required: nothing logs in before TLS, not even SCRAM. */
static int login_ok(const struct preauth *p)
{
	return p->tls || p->s->conn.ssl != CONF_SSL_REQUIRED;
}

/* What this connection may use, for CAPA and the AUTH listing. */
static void caps(const struct preauth *p, struct capa_info *ci)
{
	ci->state = ST_AUTH;
	ci->stls = tls_possible(p) && !p->tls;
	ci->user = plaintext_ok(p);
	ci->sasl = login_ok(p);
	ci->scram_plus = p->tls && tls_can_bind(p->tls);
	ci->mechs = p->cfg->auth_mechanisms;
	ci->pipelining = 1;
	/* RFC 2449 6.5, 6.7: the server's values, USER when some user has
	 * their own (the monitor looked, IPC_CONN). */
	ci->login_delay = p->cfg->login_delay;
	ci->login_delay_user = p->s->conn.login_delay_user;
	ci->expire = p->cfg->expire;
	ci->expire_user = p->s->conn.expire_user;
	ci->uid_param = p->cfg->uid_param;
	ci->deli = p->cfg->deli;
	ci->sleeping = p->cfg->sleeping;
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
	unsigned port = p->s->conn.ssl != CONF_SSL_OFF ? config_tls_port(p->cfg) : 0;
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

/* For preauth_sasl.c. */
void preauth_err(struct preauth *p, const char *text)
{
	err(p, text);
}

void preauth_exit(struct preauth *p, int code)
{
	pa_exit(p, code);
}

int preauth_plaintext_ok(const struct preauth *p)
{
	return plaintext_ok(p);
}

int preauth_login_ok(const struct preauth *p)
{
	return login_ok(p);
}

const char *preauth_mechanisms(const struct preauth *p, char *buf, size_t cap)
{
	return mechanisms(p, buf, cap);
}

void preauth_refuse_plaintext(struct preauth *p)
{
	refuse_plaintext(p);
}

/* The hand-over of the client to the monitor, which becomes the mail
 * process on a good login: plain, the socket and any pipelined input; TLS,
 * nothing but the session's description (this process stays as the relay). */
static void send_handoff(struct preauth *p, int method)
{
	struct ipc_handoff h;

	memset(&h, 0, sizeof(h));
	if (p->tls)
		tls_describe(p->tls, h.tls_info, sizeof(h.tls_info));
	else
		snprintf(h.tls_info, sizeof(h.tls_info), "plaintext");
	h.pending = p->tls ? "" : p->c.in + p->c.in_start;
	h.npending = p->tls ? 0 : conn_buffered(&p->c);
	h.method = method;
	auth_capa(p, h.capa, sizeof(h.capa));
	if (conn_flush(&p->c) < 0)
		pa_exit(p, 1);
	if (!p->tls) {
		h.fds[h.nfds++] = p->c.rfd;
		if (p->c.wfd != p->c.rfd)
			h.fds[h.nfds++] = p->c.wfd;
	}
	if (ipc_send_handoff(p->mon, &h) < 0)
		pfatal("handoff to monitor failed: %s", strerror(errno));
}

/* TLS after a good login: relay between the client and the mail process's
 * end of the socketpair the monitor sent (in m). */
static void become_relay(struct preauth *p, struct ipc_msg *m) __attribute__((noreturn));
static void become_relay(struct preauth *p, struct ipc_msg *m)
{
	int fd;
	if (ipc_decode_relay(m, &fd) < 0)
		pfatal("monitor sent no relay socket");
	close(p->mon);
	/* The mail process keeps the session's timers; the relay's own
	 * limit must not end a session that sleeps longer (SLEEP). */
	tls_relay(p->tls, fd, p->c.in + p->c.in_start, conn_buffered(&p->c),
		  p->cfg->sleeping && p->cfg->sleep_timeout_ms > p->cfg->timeout_ms ?
		  p->cfg->sleep_timeout_ms : p->cfg->timeout_ms);
	tls_close(p->tls);
	conn_linger(&p->c, LINGER_MS);
	_exit(0);
}

void preauth_handoff(struct preauth *p, int method)
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

void preauth_auth_failed(struct preauth *p, int temp)
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
void preauth_check(struct preauth *p, const struct ipc_auth *a)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	struct ipc_auth_fail f;
	if (ipc_send_auth(p->mon, a) < 0)
		pfatal("lost the monitor");
	send_handoff(p, a->method);
	if (ipc_recv(p->mon, m) < 0)
		pfatal("lost the monitor");
	if (m->type == IPC_AUTH_OK && !p->tls)
		_exit(0);
	if (m->type == IPC_RELAY && p->tls)
		become_relay(p, m);
	if (ipc_decode_auth_fail(m, &f) < 0)
		pfatal("unexpected answer from the monitor (type %u)", m->type);
	ipc_close_fds(m);
	free(m);
	preauth_auth_failed(p, f.temp);
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
	struct ipc_auth a;
	if (!plaintext_ok(p)) {
		refuse_plaintext(p);
		return;
	}
	if (!p->have_user) {
		err(p, "USER first");
		return;
	}
	if (r->arglen[0] > IPC_SECRET_MAX) {
		/* The monitor would refuse it; a failed login all the same. */
		preauth_auth_failed(p, 0);
		return;
	}
	a.method = AUTH_M_USER;
	a.userlen = strlen(p->user);
	memcpy(a.user, p->user, a.userlen + 1);
	a.secretlen = r->arglen[0];
	memcpy(a.secret, r->argv[0], a.secretlen);
	a.secret[a.secretlen] = '\0';
	preauth_check(p, &a);
	explicit_bzero(&a, sizeof(a));
	explicit_bzero(r->argv[0], r->arglen[0]);
}

static void cmd_apop(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	struct ipc_auth a;
	if (!p->cfg->apop) {
		err(p, "APOP is not enabled on this server");
		return;
	}
	if (r->arglen[0] > PW_USER_MAX || r->arglen[1] != 32) {
		err(p, "syntax error in arguments");
		return;
	}
	/* The monitor uses its own timestamp, not one from here. */
	a.method = AUTH_M_APOP;
	a.userlen = r->arglen[0];
	memcpy(a.user, r->argv[0], a.userlen + 1);
	a.secretlen = r->arglen[1];
	memcpy(a.secret, r->argv[1], a.secretlen + 1);
	preauth_check(p, &a);
}

/* A failed handshake is for the monitor to log: it rate-limits per source,
 * since anyone can cause one at will. */
static void __attribute__((noreturn)) tls_failed(struct preauth *p, const char *why)
{
	struct ipc_tls_fail t;
	snprintf(t.why, sizeof(t.why), "%s", why);
	if (ipc_send_tls_fail(p->mon, &t) < 0)
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
	if (ipc_decode_conn(m, ci, sizeof(*ci)) < 0)
		pfatal("malformed connection hand-over from the monitor");
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
	/* Extensions turned off are unknown commands here too. */
	p->sv.off = (cfg->deli ? 0 : 1UL << CMD_DELI) |
		    (cfg->sleeping ? 0 : 1UL << CMD_SLEE | 1UL << CMD_WAKE);
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
