/* sleep.c - the SLEEP state of draft-billpg-pop3-sleeping-00 in the mail
 * process (the mailbox owner).  SLEE commits the DELEs and lets the
 * mailbox (and its lock) go; in SLEEP only NOOP, QUIT and WAKE are valid;
 * WAKE has the root parent check the account again against the credentials
 * file as it is now (this process cannot read it), then enters the mailbox
 * as a new login would (LOGIN-DELAY, lock, EXPIRE, a fresh snapshot) and
 * says whether anything arrived ([ACTIVITY/NEW]) or not.  Limits: a byte
 * of postern-sleepers in the Maildir locked per sleeping session of the
 * mailbox (max_sleeping_per_user), and a slot the root parent holds for
 * the server (max_sleeping_sessions). */
#include "mailsess.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLEEPERS_FILE "postern-sleepers"

/* One typed question to the root parent, no fields: 1 yes, 0 no, -1 when
 * the parent cannot be asked or answers out of turn. */
static int ask_parent(struct mailsess *m, uint32_t type)
{
	static struct ipc_msg a;
	if (ipc_send_bare(m->s->parent_fd, type) < 0 || ipc_recv(m->s->parent_fd, &a) < 0)
		return -1;
	if (ipc_decode_bare(&a, IPC_PARENT_YES) == 0)
		return 1;
	if (ipc_decode_bare(&a, IPC_PARENT_NO) == 0)
		return 0;
	ipc_close_fds(&a);
	return -1;
}

static void tell_parent(struct mailsess *m, uint32_t type)
{
	if (ask_parent(m, type) != 1)
		plog(LOG_WARNING, "user=<%s> the session's parent did not answer", m->s->user);
}

/* A sleeping session of this mailbox holds one byte of postern-sleepers
 * locked (fcntl: released by the kernel when the process ends, honoured
 * over NFSv4).  0 taken (or no limit), 1 all taken, -1 error. */
static int take_user_slot(struct mailsess *m)
{
	unsigned max = m->s->cfg->max_sleeping_per_user, k;
	int fd;
	if (max == 0)
		return 0;
	fd = openat(m->dfd, SLEEPERS_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	for (k = 0; k < max; k++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = (off_t)k, .l_len = 1 };
		if (fcntl(fd, F_SETLK, &fl) == 0) {
			m->slot_fd = fd;
			return 0;
		}
		if (errno != EAGAIN && errno != EACCES)
			break;
	}
	close(fd);
	return k == max ? 1 : -1;
}

static void release_user_slot(struct mailsess *m)
{
	if (m->slot_fd >= 0)
		close(m->slot_fd);
	m->slot_fd = -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t uidl_hash(const struct mailsess *m, size_t i)
{
	const char *u = m->ops->uidl(m->store, i);
	return uid_hash(u, strlen(u));
}

/* The output buffer: small while asleep (NOOP and -ERR lines), the full
 * page size again when awake.  Whatever is queued stays. */
static void resize_out(struct mailsess *m, size_t cap)
{
	if (cap < m->c.out_len)
		cap = m->c.out_len;
	char *p = xmalloc(cap);
	memcpy(p, m->c.out, m->c.out_len);
	free(m->c.out);
	m->c.out = p;
	m->c.out_cap = cap;
}

void cmd_slee(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	struct commit_result cr;
	enum ms_status st;
	size_t i;
	int got = take_user_slot(m);
	if (got != 0) {
		if (got < 0)
			plog(LOG_ERR, "user=<%s> %s: %s", m->s->user, SLEEPERS_FILE, strerror(errno));
		conn_printf(&m->c, "-ERR [SYS/TEMP] %s\r\n", got > 0 ?
			    "too many sleeping sessions of this mailbox" : "cannot sleep now");
		return;
	}
	got = ask_parent(m, IPC_SLEEP_TAKE);
	if (got != 1) {
		release_user_slot(m);
		conn_printf(&m->c, "-ERR [SYS/TEMP] %s\r\n", got == 0 ?
			    "too many sleeping sessions on this server" : "cannot sleep now");
		return;
	}
	/* Draft section 5: every DELE done, or -ERR and nothing changed. */
	st = mailbox_commit(m, &cr);
	if (st != MS_OK) {
		tell_parent(m, IPC_SLEEP_END);
		release_user_slot(m);
		conn_printf(&m->c, "-ERR [SYS/TEMP] %u deleted messages not removed\r\n", cr.failed);
		return;
	}
	m->commit_deleted += cr.deleted;
	m->commit_bytes += cr.deleted_bytes;
	/* What WAKE compares the new snapshot with: the messages left. */
	m->kept = xmalloc((m->n + 1) * sizeof(*m->kept));
	m->nkept = 0;
	for (i = 0; i < m->n; i++)
		if (!m->deleted[i] && !(m->s->expire == 0 && m->seen[i]))
			m->kept[m->nkept++] = uidl_hash(m, i);
	qsort(m->kept, m->nkept, sizeof(*m->kept), cmp_u64);
	mailbox_leave(m);
	conn_printf(&m->c, "+OK sleeping (%u message%s deleted)\r\n", cr.deleted,
		    cr.deleted == 1 ? "" : "s");
	resize_out(m, OUT_CAP_ASLEEP);
	m->sv.state = ST_SLEEP;
	mail_set_idle(m, m->s->cfg->sleep_timeout_ms);
	m->sleeps++;
	plog(LOG_INFO, "sleep: user=<%s> rip=%s dele=%u", m->s->user, m->s->conn.rip, cr.deleted);
}

void cmd_wake(void *ctx, const struct pop3_req *r)
{
	struct mailsess *m = ctx;
	char err[200];
	size_t i, count;
	uint64_t octets;
	int fresh = 0, ok = ask_parent(m, IPC_RECHECK);
	if (ok == 0) {
		plog(LOG_NOTICE, "wake refused: user=<%s> rip=%s: the account is no longer valid",
		     m->s->user, m->s->conn.rip);
		conn_put(&m->c, "-ERR [AUTH] the account is no longer valid\r\n", 44);
		return;
	}
	if (ok < 0) {
		conn_put(&m->c, "-ERR [SYS/TEMP] cannot check the account now\r\n", 46);
		return;
	}
	if (mailbox_enter(m, err, sizeof(err)) < 0) {
		conn_printf(&m->c, "-ERR %s\r\n", err);
		return;
	}
	resize_out(m, OUT_CAP_AWAKE);
	for (i = 0; i < m->n && !fresh; i++) {
		uint64_t h = uidl_hash(m, i);
		fresh = !bsearch(&h, m->kept, m->nkept, sizeof(*m->kept), cmp_u64);
	}
	free(m->kept);
	m->kept = NULL;
	m->nkept = 0;
	release_user_slot(m);
	tell_parent(m, IPC_SLEEP_END);
	m->sv.state = ST_TRANS;
	mail_set_idle(m, m->s->cfg->timeout_ms);
	mailbox_totals(m, &count, &octets);
	conn_printf(&m->c, "+OK [ACTIVITY/%s] maildrop has %zu message%s (%llu octets)\r\n",
		    fresh ? "NEW" : "NONE", count, count == 1 ? "" : "s",
		    (unsigned long long)octets);
	plog(LOG_INFO, "wake: user=<%s> rip=%s messages=%zu activity=%s", m->s->user,
	     m->s->conn.rip, count, fresh ? "new" : "none");
}

void sleep_quit(struct mailsess *m)
{
	/* Draft section 8: nothing left to commit. */
	conn_put(&m->c, "+OK postern signing off\r\n", 25);
	mail_log_logout(m, "quit-asleep", m->commit_deleted, m->commit_bytes);
	conn_flush(&m->c);
	conn_linger(&m->c, LINGER_MS);
	mail_exit(m, 0);
}
