/* mailstate.h - postern's own small state files in a Maildir, for the
 * RFC 2449 LOGIN-DELAY and EXPIRE policies.  They live in the Maildir (not
 * in a process's memory) so that they hold across sessions, processes and
 * hosts sharing the Maildir over NFS; each is replaced whole by a rename
 * from tmp/, so a reader sees the old file or the new one, never half.
 *
 *   postern-lastlogin   "postern-lastlogin 1 SECONDS\n": the wall-clock
 *                       time of the last login that got the mailbox lock
 *   postern-retrieved   "postern-retrieved 1\n" then "SECONDS UIDL\n" per
 *                       message: when a session that ended with QUIT had
 *                       first retrieved it (RETR) */
#ifndef POSTERN_MAILSTATE_H
#define POSTERN_MAILSTATE_H
#include "mailstore.h"
#include <stddef.h>
#include <stdint.h>

#define LASTLOGIN_FILE "postern-lastlogin"
#define RETRIEVED_FILE "postern-retrieved"
/* A last login recorded this far in the future (another host's clock
 * ahead of ours) is taken as "just now"; farther, as a wrong clock, and
 * ignored (logged).  Seconds. */
#define LOGIN_DELAY_SKEW 300
/* EXPIRE: messages removed at one login, at most. */
#define EXPIRE_BATCH 1000

/* LOGIN-DELAY: seconds still to wait after a login at last, now, for a
 * delay of delay seconds; 0 when a login may go ahead.  *skewed is set
 * when last is too far in the future to be believed.  Pure. */
long login_delay_wait(int64_t last, int64_t now, long delay, int *skewed);

/* The last login time from the Maildir at dirfd: 1 and *t, 0 when there
 * is none (no file, or one that does not parse), -1 on a read error. */
int lastlogin_read(int dirfd, int64_t *t);
/* Record t as the last login in the Maildir at dirfd. */
int lastlogin_write(int dirfd, int64_t t);

struct retr_rec {
	int64_t t;
	char *uidl;
};
struct retr_list {
	struct retr_rec *r;
	size_t n, cap;
	char *buf;           /* the file's text; uidl fields point in here */
};

/* Parse the text of postern-retrieved (buf is modified and kept); lines
 * that do not parse are skipped.  Pure. */
void retr_parse(struct retr_list *l, char *buf, size_t len);
/* Load postern-retrieved from the Maildir at dirfd (absent: empty list).
 * Returns 0, or -1 on a read error. */
int retr_load(int dirfd, struct retr_list *l);
void retr_free(struct retr_list *l);

/* EXPIRE n at login: remove (delete_now) the messages of the snapshot whose
 * recorded retrieval is more than days days before now (any, for 0), at
 * most EXPIRE_BATCH of them.  Returns how many went; *more counts those
 * left for a later login, *failed those that could not be removed. */
unsigned expire_old(const struct mailstore_ops *ops, struct mailstore *st,
		    const struct retr_list *l, long days, int64_t now,
		    unsigned *more, unsigned *failed);

/* At the end of a session with QUIT: write postern-retrieved anew from the
 * snapshot: each message not removed (gone[i]) keeps its recorded time or,
 * retrieved in this session (seen[i]), gets now.  Records of messages no
 * longer there are dropped.  Writes only when that changes the file. */
int retr_save(int dirfd, const struct mailstore_ops *ops, struct mailstore *st, size_t n,
	      const struct retr_list *old, const unsigned char *gone,
	      const unsigned char *seen, int64_t now);
#endif
