/* passdb.c - the chain of credential sources (passdb = ...), the fixed
 * failure time of PAM and checkpassword, and what their children share:
 * the password database lookup and reading a child's pipes under a
 * deadline.  Runs in the connection monitor, as root. */
#include "passdb.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int passdb_getpw(const char *name, struct auth_user *u, const char **why)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (e != 0 || !res) {
		*why = e ? "password database unreadable" : "no such user in the password database";
		return -1;
	}
	if (strlen(pw.pw_name) >= sizeof(u->user) || strlen(pw.pw_dir) >= sizeof(u->home) ||
	    !pw_user_valid(pw.pw_name, strlen(pw.pw_name))) {
		*why = "password database entry not usable";
		return -1;
	}
	snprintf(u->user, sizeof(u->user), "%s", pw.pw_name);
	snprintf(u->home, sizeof(u->home), "%s", pw.pw_dir);
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	/* The buffer held the entry's password field (often "x", not always). */
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int passdb_collect(pid_t pid, struct passdb_pipe *p, int np, uint64_t deadline,
		   int *status, int *timed_out)
{
	struct pollfd pf[4];
	int open_pipes = np, i, r;
	uint64_t now;

	*timed_out = 0;
	while (open_pipes > 0) {
		now = now_ms();
		if (now >= deadline)
			goto timeout;
		for (i = 0; i < np; i++) {
			pf[i].fd = p[i].fd;      /* -1 once at end of file: ignored */
			pf[i].events = POLLIN;
			pf[i].revents = 0;
		}
		r = poll(pf, (nfds_t)np, (int)(deadline - now));
		if (r < 0 && errno != EINTR)
			goto timeout;
		for (i = 0; r > 0 && i < np; i++) {
			char tmp[1024];
			ssize_t n;
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			n = read(p[i].fd, tmp, sizeof(tmp));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open_pipes--;
				continue;
			}
			if ((size_t)n > p[i].cap - p[i].len) {
				p[i].overflow = 1;
				n = (ssize_t)(p[i].cap - p[i].len);
			}
			memcpy(p[i].buf + p[i].len, tmp, (size_t)n);
			p[i].len += (size_t)n;
			explicit_bzero(tmp, sizeof(tmp));
		}
	}
	/* Every pipe is closed; the child may still be running. */
	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR) {
			plog(LOG_ERR, "waitpid: %s", strerror(errno));
			return -1;
		}
		if (now_ms() >= deadline)
			break;
		sleep_ms(5);
	}
timeout:
	*timed_out = 1;
	for (i = 0; i < np; i++)
		if (p[i].fd >= 0) {
			close(p[i].fd);
			p[i].fd = -1;
		}
	/* The child leads its own process group: whatever it started goes too. */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

static int external(int source)
{
	return source == CONF_PASSDB_PAM || source == CONF_PASSDB_CHECKPASSWORD;
}

enum auth_result passdb_password(const struct config *cfg, const struct passdb_req *rq,
				 struct auth_user *u, const char **why)
{
	enum auth_result r = AUTH_FAIL, best = AUTH_FAIL;
	const char *w = "no source", *first_why = NULL;
	uint64_t start = now_ms();
	int i, pad = 0;
	struct sigaction dfl, old;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (i = 0; i < cfg->npassdb; i++)
		if (external(cfg->passdb[i]))
			pad = 1;
	/* The monitor lets the kernel reap its children (SIGCHLD ignored);
	 * a checkpassword program's exit status must be waited for. */
	if (pad && sigaction(SIGCHLD, &dfl, &old) < 0) {
		*why = "sigaction failed";
		return AUTH_TEMPFAIL;
	}
	for (i = 0; i < cfg->npassdb; i++) {
		w = NULL;
		switch (cfg->passdb[i]) {
		case CONF_PASSDB_FILE:
			r = auth_password(cfg, rq->user, rq->pass, rq->passlen, u, &w);
			break;
		case CONF_PASSDB_PAM:
			r = passdb_pam(cfg, rq, u, &w);
			break;
		case CONF_PASSDB_CHECKPASSWORD:
			r = passdb_checkpw(cfg, rq, u, &w);
			break;
		default:
			r = AUTH_TEMPFAIL;
			w = "unknown source";
		}
		if (!w)
			w = "refused";
		if (r == AUTH_OK)
			break;
		if (r == AUTH_TEMPFAIL)
			best = AUTH_TEMPFAIL;
		/* The first source that knew the user says why, in the log. */
		if (!first_why || strstr(first_why, "unknown user"))
			first_why = w;
	}
	if (pad)
		sigaction(SIGCHLD, &old, NULL);
	if (r == AUTH_OK) {
		*why = w;
		return AUTH_OK;
	}
	*why = first_why ? first_why : w;
	/* Fixed time: an unknown user, a wrong password and an account PAM
	 * refuses take the same time, whatever each module or program costs
	 * (the passwd file evens its own failures out with a dummy crypt). */
	if (pad && best == AUTH_FAIL) {
		uint64_t now = now_ms(), until = start + cfg->passdb_fail_time_ms;
		if (now < until)
			sleep_ms(until - now);
	}
	return best;
}
