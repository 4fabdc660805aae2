/* monparent.c - the root parent of a session with sleeping = yes
 * (monparent.h), after popa3d's design: the monitor forked the mail
 * process and stays as a small root process that parses no client text
 * and answers only zero-field typed messages from its own child: "is the
 * account this session logged in as still valid" (WAKE, checked against
 * the credentials file as it is now, which the mail process may not read),
 * and "may this session sleep" (a slot of max_sleeping_sessions, a byte of
 * sleeping_lock_file locked with fcntl, held while the child sleeps and
 * released by the kernel if this process dies).  Runs as root. */
#include "monparent.h"
#include "authcheck.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int account_print(const struct session *s, unsigned char out[ACCOUNT_PRINT_LEN])
{
	static struct auth_user u;
	static char hash[1024];
	const struct config *cfg = s->cfg;
	char path[sizeof(s->mailbox)];
	const char *why;
	int scheme = PW_LOCKED, rc = -1;
	unsigned len = 0;
	EVP_MD_CTX *ctx;
	if (auth_lookup(cfg, s->user, &u, &scheme, hash, sizeof(hash)) != 1 ||
	    scheme == PW_LOCKED || u.uid != s->uid || u.gid != s->gid ||
	    auth_ids_ok(cfg, &u, &why) < 0 ||
	    auth_mail_path(cfg, &u, path, sizeof(path)) < 0 || strcmp(path, s->mailbox) != 0)
		goto out;
	/* The secrets as they are now: a password changed since the login
	 * counts as a different account. */
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, &scheme, sizeof(scheme)) &&
	    EVP_DigestUpdate(ctx, hash, strlen(hash) + 1) &&
	    EVP_DigestUpdate(ctx, u.scram, strlen(u.scram) + 1) &&
	    EVP_DigestUpdate(ctx, u.plain, strlen(u.plain) + 1) &&
	    EVP_DigestFinal_ex(ctx, out, &len) && len == ACCOUNT_PRINT_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
out:
	explicit_bzero(&u, sizeof(u));
	explicit_bzero(hash, sizeof(hash));
	return rc;
}

/* A server-wide sleeping slot: 1 held (or no limit), 0 all taken. */
static int take_slot(const struct config *cfg, int *fd)
{
	unsigned k;
	int f;
	if (cfg->max_sleeping_sessions == 0 || *fd >= 0)
		return 1;
	f = open(cfg->sleeping_lock_file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0) {
		plog(LOG_ERR, "%s: %s", cfg->sleeping_lock_file, strerror(errno));
		return 0;
	}
	for (k = 0; k < cfg->max_sleeping_sessions; k++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = (off_t)k, .l_len = 1 };
		if (fcntl(f, F_SETLK, &fl) == 0) {
			*fd = f;
			return 1;
		}
	}
	close(f);
	return 0;
}

static void answer(int chan, int yes)
{
	if (ipc_send_bare(chan, yes ? IPC_PARENT_YES : IPC_PARENT_NO) < 0)
		plog(LOG_WARNING, "session parent: cannot answer: %s", strerror(errno));
}

void monitor_parent(const struct session *s, int chan, pid_t child,
		    const unsigned char print[ACCOUNT_PRINT_LEN])
{
	static struct ipc_msg m;
	int slot = -1, status = 0, code = 1;
	pid_t p;
	/* The child's status is wanted: no automatic reaping here. */
	signal(SIGCHLD, SIG_DFL);
	while (ipc_recv(chan, &m) == 0) {
		unsigned char now[ACCOUNT_PRINT_LEN];
		/* A bare type, or the end: the table in ipc.c says what each
		 * may hold (nothing). */
		if (ipc_decode_bare(&m, m.type) < 0) {
			ipc_close_fds(&m);
			plog(LOG_ERR, "session parent: user=<%s>: malformed message type %u",
			     s->user, m.type);
			break;
		}
		switch (m.type) {
		case IPC_RECHECK:
			answer(chan, account_print(s, now) == 0 &&
			       memcmp(now, print, ACCOUNT_PRINT_LEN) == 0);
			continue;
		case IPC_SLEEP_TAKE:
			answer(chan, take_slot(s->cfg, &slot));
			continue;
		case IPC_SLEEP_END:
			/* Answered, so the slot is free before the client
			 * hears of the WAKE. */
			if (slot >= 0)
				close(slot);
			slot = -1;
			answer(chan, 1);
			continue;
		default:
			plog(LOG_ERR, "session parent: user=<%s>: unexpected message type %u",
			     s->user, m.type);
			break;
		}
		break;
	}
	/* The child ended (or misbehaved: it is told by the closed channel
	 * and ends at its next question).  Reap it and the pre-auth process. */
	close(chan);
	while ((p = wait(&status)) != 0) {
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p == child)
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	_exit(code);
}
