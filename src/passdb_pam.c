/* passdb_pam.c - system accounts through PAM (passdb = pam).  The monitor
 * (root) forks a child for each check; the child runs the PAM service's
 * auth and account stacks and writes one fixed-size answer back over a
 * pipe, then exits.  So no PAM module runs in the pre-auth process, and
 * nothing a module leaves behind (memory holding the password, descriptors,
 * threads, signal handlers) stays in the monitor, which becomes the mail
 * process.  The conversation answers password prompts only; nothing PAM
 * says reaches the client. */
#include <security/pam_appl.h>
#include "passdb.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Why a check failed, as the child reports it: an index, so the child
 * sends no text of its own to the monitor. */
static const char *const reasons[] = {
	"",
	"unknown user",
	"wrong password",
	"account expired",
	"password expired",
	"account refused by PAM",
	"PAM asked for more than a password",
	"PAM unavailable",
	"no such user in the password database",
	"password database entry not usable",
	"NUL in password",
	"uid below first_valid_uid",
	"gid below first_valid_gid",
};
enum { R_NONE, R_UNKNOWN, R_WRONG, R_EXPIRED, R_PWEXPIRED, R_ACCT, R_CONV, R_UNAVAIL,
       R_NOPW, R_PWBAD, R_NUL, R_UID, R_GID, R_MAX };

struct pam_answer {
	int result;              /* enum auth_result */
	int reason;              /* index into reasons */
	char user[256];
	char home[PW_HOME_MAX + 1];
	uid_t uid;
	gid_t gid;
};

int passdb_pam_conv(int n, const struct pam_message **msg, struct pam_response **resp,
		    void *data)
{
	struct passdb_pam_conv_data *d = data;
	struct pam_response *r;
	char text[200];
	int i;

	*resp = NULL;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			/* A hidden prompt is a password prompt: the password.
			 * Each module of a stack may ask for it. */
			r[i].resp = malloc(d->passlen + 1);
			if (!r[i].resp)
				goto fail;
			memcpy(r[i].resp, d->pass, d->passlen);
			r[i].resp[d->passlen] = '\0';
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			/* For the log, never for the client. */
			if (msg[i]->msg)
				plog(LOG_INFO, "PAM says: %s",
				     log_text(text, sizeof(text), msg[i]->msg, strlen(msg[i]->msg)));
			break;
		default:
			/* An echoed prompt asks for something postern does not
			 * have (a one-time code, a new password); it is never
			 * shown to the client. */
			d->refused = 1;
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < n; i++)
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	free(r);
	return PAM_CONV_ERR;
}

/* libpam sleeps after a failure a module asks a delay for (pam_unix: 2 s,
 * randomised); postern's own delay and fixed failure time apply instead. */
static void no_delay(int retval, unsigned usec, void *appdata)
{
	(void)retval;
	(void)usec;
	(void)appdata;
}

/* The child: one PAM transaction, its answer in a. */
static void pam_check(const struct config *cfg, const struct passdb_req *rq,
		      struct pam_answer *a)
{
	struct passdb_pam_conv_data d = { rq->pass, rq->passlen, 0 };
	struct pam_conv conv = { passdb_pam_conv, &d };
	pam_handle_t *ph = NULL;
	const void *item = NULL;
	const char *why = NULL;
	struct auth_user u;
	int e;

	a->result = AUTH_FAIL;
	if (memchr(rq->pass, '\0', rq->passlen)) {
		a->reason = R_NUL;
		return;
	}
	e = pam_start(cfg->pam_service, rq->user, &conv, &ph);
	if (e != PAM_SUCCESS) {
		plog(LOG_ERR, "pam_start(%s): %s", cfg->pam_service, pam_strerror(NULL, e));
		a->result = AUTH_TEMPFAIL;
		a->reason = R_UNAVAIL;
		return;
	}
	if (pam_set_item(ph, PAM_RHOST, rq->rip) != PAM_SUCCESS ||
	    pam_set_item(ph, PAM_FAIL_DELAY, (const void *)no_delay) != PAM_SUCCESS) {
		a->result = AUTH_TEMPFAIL;
		a->reason = R_UNAVAIL;
		pam_end(ph, PAM_SYSTEM_ERR);
		return;
	}
	e = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	switch (e) {
	case PAM_SUCCESS:
		break;
	case PAM_USER_UNKNOWN:
		a->reason = R_UNKNOWN;
		break;
	case PAM_AUTH_ERR:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
		a->reason = R_WRONG;
		break;
	default:
		/* PAM_AUTHINFO_UNAVAIL (a directory down), a conversation
		 * postern cannot hold, a broken stack. */
		plog(LOG_ERR, "pam_authenticate(%s): %s", cfg->pam_service, pam_strerror(ph, e));
		a->result = AUTH_TEMPFAIL;
		a->reason = d.refused ? R_CONV : R_UNAVAIL;
		break;
	}
	if (e == PAM_SUCCESS) {
		/* Expired, locked or otherwise barred accounts. */
		e = pam_acct_mgmt(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
		switch (e) {
		case PAM_SUCCESS:
			break;
		case PAM_ACCT_EXPIRED:
			a->reason = R_EXPIRED;
			break;
		case PAM_NEW_AUTHTOK_REQD:
			a->reason = R_PWEXPIRED;
			break;
		case PAM_USER_UNKNOWN:
		case PAM_AUTH_ERR:
		case PAM_PERM_DENIED:
			a->reason = R_ACCT;
			break;
		default:
			plog(LOG_ERR, "pam_acct_mgmt(%s): %s", cfg->pam_service, pam_strerror(ph, e));
			a->result = AUTH_TEMPFAIL;
			a->reason = R_UNAVAIL;
			break;
		}
	}
	if (e == PAM_SUCCESS) {
		/* A module may have mapped the name (PAM_USER): the account
		 * is the one PAM authenticated. */
		if (pam_get_item(ph, PAM_USER, &item) != PAM_SUCCESS || !item) {
			a->result = AUTH_TEMPFAIL;
			a->reason = R_UNAVAIL;
		} else if (passdb_getpw(item, &u, &why) < 0) {
			a->reason = strcmp(why, "password database entry not usable") == 0 ?
				    R_PWBAD : R_NOPW;
		} else if (auth_ids_ok(cfg, &u, &why) < 0) {
			a->reason = u.uid == 0 || u.uid < cfg->first_valid_uid ? R_UID : R_GID;
		} else {
			a->result = AUTH_OK;
			memcpy(a->user, u.user, sizeof(a->user));
			memcpy(a->home, u.home, sizeof(a->home));
			a->uid = u.uid;
			a->gid = u.gid;
		}
	}
	pam_end(ph, e);
}

enum auth_result passdb_pam(const struct config *cfg, const struct passdb_req *rq,
			    struct auth_user *u, const char **why)
{
	struct pam_answer a;
	struct passdb_pipe p;
	int fds[2], status, timed_out;
	pid_t pid;

	memset(u, 0, sizeof(*u));
	/* PAM modules get names of the passwd file's rule only. */
	if (!pw_user_valid(rq->user, strlen(rq->user))) {
		*why = "invalid user name";
		return AUTH_FAIL;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		*why = "pipe failed";
		return AUTH_TEMPFAIL;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		*why = "fork failed";
		return AUTH_TEMPFAIL;
	}
	if (pid == 0) {
		/* Its own process group, so a timeout kills what PAM started. */
		setsid();
		close(fds[0]);
		memset(&a, 0, sizeof(a));
		pam_check(cfg, rq, &a);
		_exit(write_all(fds[1], &a, sizeof(a)) == 0 ? 0 : 1);
	}
	close(fds[1]);
	memset(&a, 0, sizeof(a));
	p.fd = fds[0];
	p.buf = (char *)&a;
	p.cap = sizeof(a);
	p.len = 0;
	p.overflow = 0;
	if (passdb_collect(pid, &p, 1, now_ms() + cfg->passdb_timeout_ms, &status,
			   &timed_out) < 0) {
		if (timed_out)
			plog(LOG_ERR, "PAM check took longer than passdb_timeout (%llu ms): killed",
			     (unsigned long long)cfg->passdb_timeout_ms);
		*why = timed_out ? "PAM timed out" : "PAM check failed";
		return AUTH_TEMPFAIL;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || p.len != sizeof(a) || p.overflow ||
	    a.reason < 0 || a.reason >= R_MAX || a.result < AUTH_OK || a.result > AUTH_TEMPFAIL ||
	    !memchr(a.user, '\0', sizeof(a.user)) || !memchr(a.home, '\0', sizeof(a.home))) {
		plog(LOG_ERR, "PAM check ended without an answer (%s %d)",
		     WIFSIGNALED(status) ? "signal" : "exit status",
		     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		*why = "PAM check failed";
		return AUTH_TEMPFAIL;
	}
	*why = reasons[a.reason][0] ? reasons[a.reason] : NULL;
	if (a.result != AUTH_OK)
		return (enum auth_result)a.result;
	memcpy(u->user, a.user, sizeof(u->user));
	memcpy(u->home, a.home, sizeof(u->home));
	u->uid = a.uid;
	u->gid = a.gid;
	return AUTH_OK;
}
