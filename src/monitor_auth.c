/* monitor_auth.c - the connection monitor's answers to the pre-auth
 * process's credential requests: USER/PASS, APOP, PLAIN and LOGIN through
 * the credential sources (passdb.c), the SCRAM exchange on fields the
 * pre-auth process split (scram.c), the failure log line, and the
 * hand-over to the mail process after a good login.  Runs in the monitor,
 * as root; parses no client protocol text (the IPC decoders checked every
 * field's length and characters). */
#include "monitor_impl.h"
#include "capa.h"
#include "log.h"
#include "passdb.h"
#include "srclimits.h"
#include "userext.h"
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ok: AUTH_OK for mo->u (server_final: SCRAM's, or NULL); otherwise
 * AUTH_FAIL, temporary or not. */
static void reply(struct monitor *mo, int ok, int temp, const char *server_final, size_t sflen)
{
	int r;
	if (ok) {
		struct ipc_auth_ok a;
		memset(&a, 0, sizeof(a));
		snprintf(a.user, sizeof(a.user), "%s", mo->u.user);
		if (server_final && sflen < sizeof(a.server_final)) {
			memcpy(a.server_final, server_final, sflen);
			a.sflen = sflen;
		}
		r = ipc_send_auth_ok(mo->sock, &a);
	} else {
		struct ipc_auth_fail f = { temp };
		r = ipc_send_auth_fail(mo->sock, &f);
	}
	if (r < 0)
		pfatal("cannot answer the pre-auth process: %s", strerror(errno));
}

/* A login passed the password check: may this account have a session? */
static int accept_login(struct monitor *mo, int method)
{
	const char *why;
	if (auth_ids_ok(mo->s.cfg, &mo->u, &why) < 0 ||
	    auth_mail_path(mo->s.cfg, &mo->u, mo->s.mailbox, sizeof(mo->s.mailbox)) < 0) {
		if (auth_ids_ok(mo->s.cfg, &mo->u, &why) == 0)
			why = "mail_location does not give an absolute path";
		plog(LOG_ERR, "login refused: user=<%s> rip=%s: %s", mo->u.user, mo->s.conn.rip, why);
		return 0;
	}
	snprintf(mo->s.user, sizeof(mo->s.user), "%s", mo->u.user);
	snprintf(mo->s.method, sizeof(mo->s.method), "%s", auth_method_name(method));
	mo->s.uid = mo->u.uid;
	mo->s.gid = mo->u.gid;
	{
		struct userext ux;
		userext_for(mo->s.cfg, mo->s.user, &ux);
		mo->s.login_delay = ux.login_delay;
		mo->s.expire = ux.expire;
	}
	mo->authed = 1;
	limits_report_login();   /* the master no longer counts it as pre-auth */
	/* The secrets are checked; the mail process need not inherit them. */
	explicit_bzero(mo->u.scram, sizeof(mo->u.scram));
	explicit_bzero(mo->u.plain, sizeof(mo->u.plain));
	return 1;
}

static void log_failure(struct monitor *mo, const char *user, size_t ulen,
			int method, const char *why)
{
	char safe[80];
	mo->failures++;
	plog(LOG_NOTICE, "auth failed: user=<%s> rip=%s method=%s failures=%u reason=%s",
	     log_safe(safe, sizeof(safe), user, ulen), mo->s.conn.rip, auth_method_name(method),
	     mo->failures, why);
}



/* auth_mechanisms: the pre-auth process offers only what it lists; the
 * monitor does not rely on that. */
static int mech_offered(const struct config *cfg, int method)
{
	switch (method) {
	case AUTH_M_PLAIN: return (cfg->auth_mechanisms & CONF_MECH_PLAIN) != 0;
	case AUTH_M_LOGIN: return (cfg->auth_mechanisms & CONF_MECH_LOGIN) != 0;
	case AUTH_M_SCRAM: return (cfg->auth_mechanisms & CONF_MECH_SCRAM) != 0;
	case AUTH_M_SCRAM_PLUS: return (cfg->auth_mechanisms & CONF_MECH_SCRAM_PLUS) != 0;
	default: return 1;   /* USER/PASS; APOP has its own setting */
	}
}

/* A credential check; h is the hand-over the pre-auth process sent right
 * behind it.  A good login becomes the mail process here and does not
 * return; otherwise h's descriptors are dropped and the answer is "no". */
void handle_auth(struct monitor *mo, struct ipc_msg *m, struct ipc_msg *h)
{
	enum auth_result r;
	const char *why = "malformed request";
	struct ipc_auth *a = xmalloc(sizeof(*a));

	if (mo->authed || ipc_decode_auth(m, a) < 0 || memchr(a->user, '\0', a->userlen)) {
		ipc_close_fds(h);
		log_failure(mo, "", 0, 0, why);
		reply(mo, 0, 0, NULL, 0);
		explicit_bzero(m->buf, sizeof(m->buf));
		free(a);
		return;
	}
	explicit_bzero(m->buf, sizeof(m->buf));
	if (a->method == AUTH_M_APOP && mo->s.cfg->apop) {
		/* The monitor's own timestamp, not one from the pre-auth
		 * process: a subverted pre-auth process must not be able to
		 * replay a digest it saw for an older timestamp. */
		r = auth_apop(mo->s.cfg, a->user, mo->s.conn.apop_stamp, a->secret, &mo->u, &why);
	} else if (a->method != AUTH_M_APOP && mech_offered(mo->s.cfg, a->method)) {
		struct passdb_req rq = { a->user, a->secret, a->secretlen, mo->s.conn.rip,
					 mo->s.conn.apop_stamp };
		r = passdb_password(mo->s.cfg, &rq, &mo->u, &why);
	} else {
		r = AUTH_FAIL;
	}
	/* The secret is no longer needed; user and method still are. */
	explicit_bzero(a->secret, sizeof(a->secret));
	if (r == AUTH_OK && accept_login(mo, a->method)) {
		free(a);
		/* Plain: the pre-auth process exits on this answer; TLS: the
		 * relay socket become_mail sends is the answer. */
		if (h->nfds > 0)
			reply(mo, 1, 0, NULL, 0);
		become_mail(mo, h);
		pfatal("login hand-over failed; ending the session");
	}
	ipc_close_fds(h);
	if (r == AUTH_TEMPFAIL) {
		plog(LOG_ERR, "auth unavailable: rip=%s reason=%s", mo->s.conn.rip, why);
		reply(mo, 0, 1, NULL, 0);
	} else {
		log_failure(mo, a->user, a->userlen, a->method,
			    r == AUTH_OK ? "account refused" : why);
		reply(mo, 0, 0, NULL, 0);
	}
	free(a);
}

/* The end of a SCRAM exchange that did not log in. */
static void scram_failed(struct monitor *mo, int method, enum scram_result r, const char *why)
{
	const char *user = scram_server_user(mo->scram);
	if (r == SCRAM_TEMPFAIL)
		plog(LOG_ERR, "auth unavailable: rip=%s reason=%s", mo->s.conn.rip, why);
	else
		log_failure(mo, user, strlen(user), method, r == SCRAM_DONE ? "account refused" : why);
	scram_server_free(mo->scram);
	mo->scram = NULL;
	reply(mo, 0, r == SCRAM_TEMPFAIL, NULL, 0);
}

/* The client-first message, already split into fields by the pre-auth
 * process: look the user up and answer with the server-first message. */
void handle_scram_first(struct monitor *mo, struct ipc_msg *m)
{
	struct ipc_scram_first *f = xmalloc(sizeof(*f));
	struct ipc_scram_challenge ch;
	unsigned char key[32];
	char snonce[SCRAM_SNONCE_SIZE];
	const char *secret = NULL, *why = "malformed request";
	enum scram_result r = SCRAM_FAIL;
	int found;

	scram_server_free(mo->scram);
	mo->scram = scram_server_new();
	if (mo->authed || ipc_decode_scram_first(m, f) < 0) {
		scram_failed(mo, 0, SCRAM_FAIL, why);
		free(f);
		return;
	}
	mo->scram_method = f->method;
	if (!mech_offered(mo->s.cfg, f->method)) {
		scram_failed(mo, mo->scram_method, SCRAM_FAIL, "mechanism not in auth_mechanisms");
		free(f);
		return;
	}
	found = auth_scram_lookup(mo->s.cfg, f->user, &mo->u, &secret, key);
	if (found < 0) {
		why = "passwd file unreadable";
		r = SCRAM_TEMPFAIL;
	} else if (scram_server_nonce(snonce) < 0) {
		why = "no random bytes";
		r = SCRAM_TEMPFAIL;
	} else {
		r = scram_server_first(mo->scram, f, secret, key, snonce, &ch, &why);
	}
	explicit_bzero(key, sizeof(key));
	free(f);
	if (r != SCRAM_CONTINUE) {
		scram_failed(mo, mo->scram_method, r, why);
		return;
	}
	if (ipc_send_scram_challenge(mo->sock, &ch) < 0)
		pfatal("cannot answer the pre-auth process");
}

void handle_scram_final(struct monitor *mo, struct ipc_msg *m)
{
	struct ipc_scram_final *f = xmalloc(sizeof(*f));
	struct ipc_auth_ok ok;
	const char *why = "malformed request";
	enum scram_result r;

	memset(&ok, 0, sizeof(ok));
	if (mo->authed || !mo->scram || ipc_decode_scram_final(m, f) < 0)
		r = SCRAM_FAIL;
	else
		r = scram_server_final(mo->scram, f, &ok, &why);
	free(f);
	if (r == SCRAM_DONE && accept_login(mo, mo->scram_method)) {
		/* The server signature goes back with the OK. */
		scram_server_free(mo->scram);
		mo->scram = NULL;
		reply(mo, 1, 0, ok.server_final, ok.sflen);
		return;
	}
	scram_failed(mo, mo->scram_method, r, why);
}

