/* preauth_sasl.c - the AUTH command (RFC 5034) of the pre-auth process:
 * PLAIN, LOGIN and the client side of SCRAM-SHA-256[-PLUS] framing (base64
 * lines, cancel, the SCRAM messages split into fields for the monitor).
 * Runs chrooted as the unprivileged 'postern' user, like preauth.c; the
 * monitor checks the credentials. */
#include "preauth.h"
#include "base64.h"
#include "capa.h"
#include "log.h"
#include "sasl.h"
#include "tls.h"
#include "util.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* A name or password the monitor's message cannot carry is a failed
 * login like any other. */
static void check(struct preauth *p, int method, const char *user, size_t ulen,
		  const char *pass, size_t plen)
{
	struct ipc_auth *a;
	char safe[80];
	if (ulen > IPC_USER_MAX || plen > IPC_SECRET_MAX) {
		plog(LOG_NOTICE, "auth failed: user=<%s> rip=%s method=%s reason=%s too long",
		     log_safe(safe, sizeof(safe), user, ulen), p->s->conn.rip,
		     auth_method_name(method), ulen > IPC_USER_MAX ? "user name" : "password");
		preauth_auth_failed(p, 0);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->method = method;
	memcpy(a->user, user, ulen);
	a->userlen = ulen;
	memcpy(a->secret, pass, plen);
	a->secretlen = plen;
	preauth_check(p, a);
	explicit_bzero(a, sizeof(*a));
	free(a);
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
		preauth_err(p, "SASL response too long");
		return -1;
	}
	if (ls != LINE_OK)
		return -2;
	if (len == 1 && line[0] == '*') {
		preauth_err(p, "authentication cancelled");
		return -1;
	}
	n = b64_decode(line, len, out, cap);
	if (n < 0)
		preauth_err(p, "invalid base64");
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
		preauth_err(p, "invalid base64");
	return n;
}

static void auth_plain(struct preauth *p, const struct pop3_req *r)
{
	unsigned char buf[LINE_MAX_SASL];
	const char *authz, *authc, *pass;
	size_t passlen;
	long n = initial_or_read(p, r, buf, sizeof(buf) - 1);
	if (n == -2)
		preauth_exit(p, 0);
	if (n < 0)
		return;
	buf[n] = '\0';
	if (sasl_plain_split(buf, (size_t)n, &authz, &authc, &pass, &passlen) < 0) {
		preauth_err(p, "malformed PLAIN response");
		return;
	}
	if (authz[0] && strcmp(authz, authc) != 0) {
		preauth_err(p, "[AUTH] authorization identity differs from the authentication identity");
		return;
	}
	check(p, AUTH_M_PLAIN, authc, strlen(authc), pass, passlen);
	explicit_bzero(buf, sizeof(buf));
}

static void auth_login(struct preauth *p, const struct pop3_req *r)
{
	unsigned char user[LINE_MAX_SASL], pass[LINE_MAX_SASL];
	long un, pn;
	if (r->argc == 2) {
		un = initial_or_read(p, r, user, sizeof(user) - 1);
	} else {
		conn_put(&p->c, "+ VXNlcm5hbWU6\r\n", 16); /* "Username:" */
		un = sasl_read(p, user, sizeof(user) - 1);
	}
	if (un == -2)
		preauth_exit(p, 0);
	if (un < 0)
		return;
	conn_put(&p->c, "+ UGFzc3dvcmQ6\r\n", 16); /* "Password:" */
	pn = sasl_read(p, pass, sizeof(pass) - 1);
	if (pn == -2)
		preauth_exit(p, 0);
	if (pn < 0)
		return;
	user[un] = '\0';
	if (memchr(user, '\0', (size_t)un)) {
		preauth_err(p, "[AUTH] malformed user name");
		return;
	}
	check(p, AUTH_M_LOGIN, (const char *)user, (size_t)un, (const char *)pass, (size_t)pn);
	explicit_bzero(pass, sizeof(pass));
}

/* The monitor's answer to a SCRAM message (caller frees). */
static struct ipc_msg *scram_answer(struct preauth *p, int sent)
{
	struct ipc_msg *m = xmalloc(sizeof(*m));
	if (sent < 0 || ipc_recv(p->mon, m) < 0)
		pfatal("lost the monitor");
	return m;
}

/* Not the answer hoped for: a failure (counted, delayed) unless it is
 * one.  0 when m is of type want. */
static int scram_fail(struct preauth *p, struct ipc_msg *m, uint32_t want)
{
	struct ipc_auth_fail f;
	if (m->type == want)
		return 0;
	if (ipc_decode_auth_fail(m, &f) < 0) {
		free(m);
		pfatal("bad SCRAM answer from the monitor");
	}
	free(m);
	preauth_auth_failed(p, f.temp);
	return -1;
}

static void send_challenge(struct preauth *p, const char *raw, size_t len)
{
	char b64[B64_ENCODED_SIZE(SCRAM_SERVER_MAX)];
	if (len > SCRAM_SERVER_MAX)
		len = SCRAM_SERVER_MAX;
	b64_encode((const unsigned char *)raw, len, b64);
	conn_printf(&p->c, "+ %s\r\n", b64);
}

static void preauth_scram(struct preauth *p, const struct pop3_req *r, int plus)
{
	int method = plus ? AUTH_M_SCRAM_PLUS : AUTH_M_SCRAM;
	unsigned char in[LINE_MAX_POP3];
	struct ipc_scram_first *first = xcalloc(1, sizeof(*first));
	struct ipc_scram_final *final = xcalloc(1, sizeof(*final));
	struct ipc_scram_challenge ch;
	struct ipc_auth_ok ok;
	struct ipc_msg *m;
	long n;

	first->method = method;
	if (p->tls) {
		const char *type;
		int dl = tls_channel_binding(p->tls, &type, first->cbdata, sizeof(first->cbdata));
		if (dl > 0 && strlen(type) <= SCRAM_CBNAME_MAX) {
			snprintf(first->cbtype, sizeof(first->cbtype), "%s", type);
			first->cblen = (size_t)dl;
		}
	}
	n = initial_or_read(p, r, in, sizeof(in));
	if (n == -2)
		preauth_exit(p, 0);
	if (n < 0)
		goto out;
	/* The monitor gets fields, not the client's text; a message that
	 * does not split is still its to log and count. */
	first->error = sasl_scram_first((const char *)in, (size_t)n, first);
	m = scram_answer(p, ipc_send_scram_first(p->mon, first));
	if (scram_fail(p, m, IPC_SCRAM_CHALLENGE) < 0)
		goto out;
	if (ipc_decode_scram_challenge(m, &ch) < 0) {
		free(m);
		pfatal("bad SCRAM answer from the monitor");
	}
	free(m);
	send_challenge(p, ch.msg, ch.len);
	n = sasl_read(p, in, sizeof(in));
	if (n == -2)
		preauth_exit(p, 0);
	if (n < 0) {
		/* Cancelled or garbage: the monitor forgets the exchange. */
		final->error = SCRAM_ERR_MALFORMED_FINAL;
		m = scram_answer(p, ipc_send_scram_final(p->mon, final));
		free(m);
		goto out;
	}
	final->error = sasl_scram_final((const char *)in, (size_t)n, final);
	m = scram_answer(p, ipc_send_scram_final(p->mon, final));
	if (scram_fail(p, m, IPC_AUTH_OK) < 0)
		goto out;
	if (ipc_decode_auth_ok(m, &ok) < 0 || ok.sflen == 0) {
		free(m);
		pfatal("bad SCRAM answer from the monitor");
	}
	free(m);
	/* Success data goes in a last challenge (RFC 5034 has no room for it
	 * in +OK); the client answers with an empty line. */
	send_challenge(p, ok.server_final, ok.sflen);
	{
		char *line;
		size_t len;
		if (conn_read_line(&p->c, &line, &len) != LINE_OK || len != 0) {
			preauth_err(p, "authentication aborted");
			preauth_exit(p, 0);
		}
	}
	preauth_handoff(p, method);
out:
	free(first);
	free(final);
}

void cmd_auth(void *ctx, const struct pop3_req *r)
{
	struct preauth *p = ctx;
	char mech[128];
	if (r->argc == 0) {
		/* Pre-RFC 5034 clients (Outlook) list mechanisms this way. */
		char *s, *save = NULL;
		conn_put(&p->c, "+OK\r\n", 5);
		preauth_mechanisms(p, mech, sizeof(mech));
		for (s = strtok_r(mech, " ", &save); s; s = strtok_r(NULL, " ", &save))
			conn_printf(&p->c, "%s\r\n", s);
		conn_put(&p->c, ".\r\n", 3);
		return;
	}
	if (!(p->cfg->auth_mechanisms & capa_mech_bit(r->argv[0]))) {
		preauth_err(p, "unsupported authentication mechanism");
		return;
	}
	if (strcasecmp(r->argv[0], "PLAIN") == 0 || strcasecmp(r->argv[0], "LOGIN") == 0) {
		if (!preauth_plaintext_ok(p)) {
			preauth_refuse_plaintext(p);
			return;
		}
		if (toupper((unsigned char)r->argv[0][0]) == 'P')
			auth_plain(p, r);
		else
			auth_login(p, r);
	} else if (!preauth_login_ok(p)) {
		preauth_refuse_plaintext(p);
	} else if (strcasecmp(r->argv[0], "SCRAM-SHA-256") == 0) {
		preauth_scram(p, r, 0);
	} else if (strcasecmp(r->argv[0], "SCRAM-SHA-256-PLUS") == 0 && p->tls &&
		   tls_can_bind(p->tls)) {
		preauth_scram(p, r, 1);
	} else {
		preauth_err(p, "unsupported authentication mechanism");
	}
}

