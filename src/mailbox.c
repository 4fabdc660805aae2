/* mailbox.c - the mail process entering and leaving its mailbox: at login
 * and at WAKE, the LOGIN-DELAY check (RFC 2449 6.5), the lock, EXPIRE
 * (6.7) and the snapshot; the commit of UPDATE and SLEE; closing it for
 * SLEEP.  Runs in the mail process as the mailbox owner. */
#include "mailsess.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void mailbox_totals(const struct mailsess *m, size_t *count, uint64_t *octets)
{
	size_t i;
	*count = 0;
	*octets = 0;
	for (i = 0; i < m->n; i++)
		if (!m->deleted[i]) {
			(*count)++;
			*octets += m->ops->size(m->store, i);
		}
}

/* LOGIN-DELAY, after the password (the monitor checked it) and before the
 * lock: a login too soon takes no lock and is not counted. */
/* The Maildir's descriptor for postern's state files (the store keeps its
 * own): 0, or -1 while there is no Maildir yet. */
static int maildir_fd(struct mailsess *m)
{
	if (m->dfd < 0)
		m->dfd = open(m->s->mailbox, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return m->dfd < 0 ? -1 : 0;
}

static int check_login_delay(struct mailsess *m, char *err, size_t cap)
{
	int64_t last;
	int skewed;
	long wait;
	if (maildir_fd(m) < 0 || lastlogin_read(m->dfd, &last) <= 0)
		return 0;   /* no Maildir yet, or no login recorded */
	wait = login_delay_wait(last, (int64_t)time(NULL), m->s->login_delay, &skewed);
	if (skewed)
		plog(LOG_WARNING, "user=<%s> %s is %lld s in the future: ignored (a clock is wrong)",
		     m->s->user, LASTLOGIN_FILE, (long long)(last - (int64_t)time(NULL)));
	if (wait == 0)
		return 0;
	plog(LOG_NOTICE, "login refused: user=<%s> rip=%s: login-delay, %ld s to wait",
	     m->s->user, m->s->conn.rip, wait);
	snprintf(err, cap, "[LOGIN-DELAY] minimum time between logins is %ld seconds",
		 m->s->login_delay);
	return -1;
}

static int open_store(struct mailsess *m, char *err, size_t cap)
{
	static const char *code[] = { "", "[IN-USE] mailbox is in use by another session",
		"[SYS/TEMP] mailbox unavailable, try again later",
		"[SYS/PERM] mailbox unavailable",
		"[SYS/PERM] mailbox too large for POP3, ask your administrator" };
	char why[512];
	enum ms_status st = m->ops->open(m->s->mailbox, &m->o, &m->store, why, sizeof(why));
	if (st == MS_OK)
		return 0;
	m->store = NULL;
	plog(LOG_WARNING, "login refused: user=<%s> rip=%s: %s", m->s->user, m->s->conn.rip, why);
	snprintf(err, cap, "%s", code[st]);
	return -1;
}

/* EXPIRE n at login: messages retrieved more than n days ago in a session
 * that ended with QUIT are removed, a bounded number per login; the
 * snapshot is then taken again, so numbers have no gaps. */
static int expire_at_login(struct mailsess *m, char *err, size_t cap)
{
	unsigned more, failed, gone;
	if (retr_load(m->dfd, &m->rl) < 0) {
		plog(LOG_WARNING, "user=<%s> %s: cannot read: %s", m->s->user, RETRIEVED_FILE,
		     strerror(errno));
		return 0;
	}
	gone = expire_old(m->ops, m->store, &m->rl, m->s->expire, (int64_t)time(NULL),
			  &more, &failed);
	if (gone + failed + more == 0)
		return 0;
	plog(LOG_INFO, "expire: user=<%s> days=%ld removed=%u failed=%u later=%u",
	     m->s->user, m->s->expire, gone, failed, more);
	if (!gone)
		return 0;
	m->ops->close(m->store);
	return open_store(m, err, cap);
}

int mailbox_enter(struct mailsess *m, char *err, size_t cap)
{
	if (m->s->login_delay > 0 && check_login_delay(m, err, cap) < 0)
		return -1;
	if (open_store(m, err, cap) < 0)
		return -1;
	/* The store made the Maildir if it was missing. */
	if (maildir_fd(m) < 0) {
		plog(LOG_ERR, "user=<%s> %s: %s", m->s->user, m->s->mailbox, strerror(errno));
		m->ops->close(m->store);
		m->store = NULL;
		snprintf(err, cap, "[SYS/TEMP] mailbox unavailable, try again later");
		return -1;
	}
	/* The lock is held: this login counts for LOGIN-DELAY. */
	if (m->s->login_delay > 0 && lastlogin_write(m->dfd, (int64_t)time(NULL)) < 0)
		plog(LOG_WARNING, "user=<%s> %s: cannot write: %s", m->s->user, LASTLOGIN_FILE,
		     strerror(errno));
	if (m->s->expire >= 0 && expire_at_login(m, err, cap) < 0) {
		retr_free(&m->rl);
		return -1;
	}
	m->n = m->ops->count(m->store);
	m->deleted = xcalloc(m->n + 1, 1);
	m->seen = xcalloc(m->n + 1, 1);
	m->ndeleted = 0;
	m->del_bytes = 0;
	/* The scan's directory buffers are free again: give those pages back
	 * (an idle session should cost little memory). */
	malloc_trim(0);
	return 0;
}

enum ms_status mailbox_commit(struct mailsess *m, struct commit_result *cr)
{
	enum ms_status st;
	size_t i;
	/* What DELI removed is not the commit's business. */
	unsigned char *marked = xcalloc(m->n + 1, 1);
	for (i = 0; i < m->n; i++)
		marked[i] = m->deleted[i] == DEL_MARKED;
	/* EXPIRE 0 (RFC 2449 6.7): what was retrieved goes with the DELEs. */
	for (i = 0; m->s->expire == 0 && i < m->n; i++)
		if (m->seen[i] && !m->deleted[i])
			marked[i] = 1;
	st = m->ops->commit(m->store, marked, m->seen, cr);
	if (m->s->expire >= 0) {
		/* The retrieval times of what stays, for a later EXPIRE. */
		for (i = 0; i < m->n; i++)
			marked[i] = m->deleted[i] == DEL_GONE || (st == MS_OK && marked[i]);
		retr_save(m->dfd, m->ops, m->store, m->n, &m->rl, marked, m->seen,
			  (int64_t)time(NULL));
	}
	free(marked);
	return st;
}

void mailbox_leave(struct mailsess *m)
{
	if (m->store)
		m->ops->close(m->store);
	m->store = NULL;
	uidindex_free(&m->uix);
	retr_free(&m->rl);
	free(m->deleted);
	free(m->seen);
	m->deleted = m->seen = NULL;
	m->n = 0;
	malloc_trim(0);
}
