/* passdb_checkpw.c - a qmail checkpassword program as a credential source
 * (passdb = checkpassword).  The monitor (root) runs the program for each
 * check, in its own process group with a clean environment, under
 * passdb_timeout: "user\0password\0timestamp\0" on fd 3, and as the
 * program to run on success postern itself in checkpassword-reply mode,
 * which writes the account back on fd 4 (checkpw_proto.c).  A hang, a
 * signal, output on stdout or a malformed reply is a temporary failure and
 * is logged, never a login. */
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

#define CPW_INPUT_MAX 2048

/* The path of the running postern, to hand the program as its "prog". */
static int self_path(char *buf, size_t cap)
{
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
	size_t dl = sizeof(deleted) - 1;
	if (n <= 0 || (size_t)n >= cap - 1)
		return -1;
	buf[n] = '\0';
	/* Replaced by an upgrade while running: the new binary has the
	 * same reply mode. */
	if ((size_t)n > dl && strcmp(buf + n - dl, deleted) == 0)
		buf[n - dl] = '\0';
	return 0;
}

/* The child: fds 0 /dev/null, 1 and 2 the pipes, 3 the input, 4 the reply;
 * nothing else open, default signals, a clean environment. */
static void __attribute__((noreturn)) run_program(const struct config *cfg,
						  const struct passdb_req *rq, const char *self,
						  int in, int out, int err, int reply)
{
	char rip[80], *env[4], *argv[4];
	int want[5], i, null;
	sigset_t none;

	setsid();
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* Out of the way of 0-4 first, then into place (dup2 clears CLOEXEC). */
	want[0] = null;
	want[1] = out;
	want[2] = err;
	want[3] = in;
	want[4] = reply;
	for (i = 0; i < 5; i++)
		if (want[i] < 0 || (want[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 10)) < 0)
			_exit(126);
	for (i = 0; i < 5; i++)
		if (dup2(want[i], i) < 0)
			_exit(126);
	if (close_range(5, ~0U, 0) < 0)
		for (i = 5; i < 1024; i++)
			close(i);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	snprintf(rip, sizeof(rip), "TCPREMOTEIP=%s", rq->rip);
	env[0] = "PATH=/usr/local/bin:/usr/bin:/bin";
	env[1] = "SERVICE=pop3";
	env[2] = rip;
	env[3] = NULL;
	argv[0] = (char *)cfg->checkpassword;
	argv[1] = (char *)self;
	argv[2] = CPW_REPLY_ARG;
	argv[3] = NULL;
	execve(cfg->checkpassword, argv, env);
	dprintf(2, "cannot run %s: %s", cfg->checkpassword, strerror(errno));
	_exit(126);
}

/* Up to the first line of what the program wrote, for the log. */
static void log_output(const struct config *cfg, const char *what, const char *buf, size_t len)
{
	char text[200];
	size_t n = 0;
	while (n < len && buf[n] != '\n')
		n++;
	plog(LOG_ERR, "checkpassword %s wrote on %s: %s", cfg->checkpassword, what,
	     log_text(text, sizeof(text), buf, n));
}

/* The account the program vouched for: its reply over the password
 * database's entry of that name. */
static enum auth_result account(const struct config *cfg, const struct passdb_req *rq,
				const struct cpw_reply *r, struct auth_user *u, const char **why)
{
	const char *name = r->user[0] ? r->user : rq->user, *w = NULL;
	int known = passdb_getpw(name, u, &w) == 0;

	if (!pw_user_valid(name, strlen(name))) {
		*why = "user name not usable";
		return AUTH_FAIL;
	}
	if (!known && (!r->have_uid || !r->have_gid || !r->home[0])) {
		plog(LOG_ERR, "checkpassword %s accepted <%s> but gave no uid, gid and home, and "
		     "the password database has no such user", cfg->checkpassword, name);
		*why = "checkpassword gave no account";
		return AUTH_TEMPFAIL;
	}
	snprintf(u->user, sizeof(u->user), "%s", name);
	if (r->home[0])
		snprintf(u->home, sizeof(u->home), "%s", r->home);
	if (r->have_uid)
		u->uid = (uid_t)r->uid;
	if (r->have_gid)
		u->gid = (gid_t)r->gid;
	if (auth_ids_ok(cfg, u, why) < 0)
		return AUTH_FAIL;
	return AUTH_OK;
}

enum auth_result passdb_checkpw(const struct config *cfg, const struct passdb_req *rq,
				struct auth_user *u, const char **why)
{
	char input[CPW_INPUT_MAX], self[4096], out[256], errs[1024], rep[CPW_REPLY_MAX + 1];
	struct passdb_pipe p[3];
	struct cpw_reply r;
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 }, rp[2] = { -1, -1 };
	int status, timed_out, i;
	enum auth_result res;
	size_t inlen;
	pid_t pid;

	memset(u, 0, sizeof(*u));
	if (!pw_user_valid(rq->user, strlen(rq->user))) {
		*why = "invalid user name";
		return AUTH_FAIL;
	}
	inlen = cpw_input(input, sizeof(input), rq->user, rq->pass, rq->passlen, rq->stamp);
	if (inlen == 0) {
		*why = "user or password not usable for checkpassword";
		return AUTH_FAIL;
	}
	if (self_path(self, sizeof(self)) < 0) {
		plog(LOG_ERR, "cannot find postern's own path for checkpassword-reply: %s",
		     strerror(errno));
		*why = "checkpassword not usable";
		explicit_bzero(input, sizeof(input));
		return AUTH_TEMPFAIL;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 ||
	    pipe2(rp, O_CLOEXEC) < 0 ||
	    /* Smaller than a pipe's buffer: written before the program runs. */
	    write_all(in[1], input, inlen) < 0) {
		plog(LOG_ERR, "checkpassword: pipe: %s", strerror(errno));
		pid = -1;
	} else {
		pid = fork();
		if (pid == 0)
			run_program(cfg, rq, self, in[0], o[1], e[1], rp[1]);
	}
	explicit_bzero(input, sizeof(input));
	{
		int ends[5] = { in[0], in[1], o[1], e[1], rp[1] };
		for (i = 0; i < 5; i++)
			if (ends[i] >= 0)
				close(ends[i]);
	}
	if (pid < 0) {
		for (i = 0; i < 3; i++) {
			int rd = i == 0 ? o[0] : i == 1 ? e[0] : rp[0];
			if (rd >= 0)
				close(rd);
		}
		*why = "cannot run checkpassword";
		return AUTH_TEMPFAIL;
	}
	memset(p, 0, sizeof(p));
	p[0].fd = o[0]; p[0].buf = out; p[0].cap = sizeof(out);
	p[1].fd = e[0]; p[1].buf = errs; p[1].cap = sizeof(errs);
	p[2].fd = rp[0]; p[2].buf = rep; p[2].cap = sizeof(rep);
	if (passdb_collect(pid, p, 3, now_ms() + cfg->passdb_timeout_ms, &status, &timed_out) < 0) {
		if (timed_out)
			plog(LOG_ERR, "checkpassword %s gave no answer within passdb_timeout "
			     "(%llu ms): killed", cfg->checkpassword,
			     (unsigned long long)cfg->passdb_timeout_ms);
		*why = timed_out ? "checkpassword timed out" : "checkpassword failed";
		return AUTH_TEMPFAIL;
	}
	if (p[1].len)
		log_output(cfg, "stderr", errs, p[1].len);
	res = cpw_status(status, why);
	if (res == AUTH_TEMPFAIL) {
		plog(LOG_ERR, "checkpassword %s: %s %d", cfg->checkpassword,
		     WIFSIGNALED(status) ? "killed by signal" : "exit status",
		     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		return AUTH_TEMPFAIL;
	}
	/* The interface has nothing to say on stdout (qmail's is the client's
	 * connection): output there is a program gone wrong. */
	if (p[0].len) {
		log_output(cfg, "stdout", out, p[0].len);
		*why = "checkpassword wrote on stdout";
		return AUTH_TEMPFAIL;
	}
	if (res != AUTH_OK)
		return res;
	if (p[2].overflow || cpw_parse_reply(rep, p[2].len, &r) < 0) {
		plog(LOG_ERR, "checkpassword %s: malformed checkpassword-reply data on fd 4",
		     cfg->checkpassword);
		*why = "checkpassword reply malformed";
		return AUTH_TEMPFAIL;
	}
	return account(cfg, rq, &r, u, why);
}
