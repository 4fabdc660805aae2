/* mailsess.h - the mail process's session, shared by its three files:
 * mailproc.c (the TRANSACTION commands, UPDATE, the end), mailbox.c
 * (entering the mailbox at login and at WAKE: LOGIN-DELAY, the lock,
 * EXPIRE, the snapshot; and committing) and sleep.c (SLEE, the SLEEP state
 * and WAKE).  All run in the mail process, as the mailbox owner. */
#ifndef POSTERN_MAILSESS_H
#define POSTERN_MAILSESS_H
#include "mailstate.h"
#include "mailstore.h"
#include "netio.h"
#include "serve.h"
#include "session.h"
#include "uidindex.h"
#include <stddef.h>
#include <stdint.h>

#define OUT_CAP_AWAKE (256 * 1024)   /* a whole LIST/UIDL page per write */
#define OUT_CAP_ASLEEP 512           /* NOOP and the -ERR lines of SLEEP */

/* deleted[i]: marked by DELE (goes at UPDATE, RSET takes it back), or
 * removed from the store by DELI or EXPIRE (gone for the session). */
enum { DEL_MARKED = 1, DEL_GONE = 2 };

struct mailsess {
	struct session *s;
	struct conn c;
	const struct mailstore_ops *ops;
	struct mailstore *store;         /* NULL while asleep */
	int dfd;                         /* the Maildir, for postern's own state
	                                  * files (mailstate.h, sleep.c); -1 */
	struct mailstore_opts o;
	size_t n;
	unsigned char *deleted, *seen;   /* deleted[i]: DEL_MARKED, DEL_GONE */
	unsigned ndeleted;
	uint64_t del_bytes;
	unsigned retr, top, deli;
	uint64_t retr_bytes, top_bytes, deli_bytes;
	unsigned commit_deleted;         /* removed by SLEE's commits so far */
	uint64_t commit_bytes;
	struct uidindex uix;             /* UID-PARAM, built on first use */
	struct retr_list rl;             /* EXPIRE: postern-retrieved at login */
	struct serve sv;
	/* SLEEP */
	uint64_t *kept;                  /* hashes of the UIDLs left at SLEE, sorted */
	size_t nkept;
	int slot_fd;                     /* postern-sleepers, a byte locked: -1 */
	unsigned sleeps;
};

/* mailbox.c: LOGIN-DELAY, lock, EXPIRE, snapshot, buffers.  Returns 0, or
 * -1 with the reply text after "-ERR " in err (logged; nothing held). */
int mailbox_enter(struct mailsess *m, char *err, size_t cap);
/* The DELEs (and EXPIRE 0's retrievals) out of the store, and the
 * retrieval records; what commit() answered. */
enum ms_status mailbox_commit(struct mailsess *m, struct commit_result *cr);
/* Close the store (the lock goes) and free the snapshot. */
void mailbox_leave(struct mailsess *m);
void mailbox_totals(const struct mailsess *m, size_t *count, uint64_t *octets);

/* mailproc.c */
void mail_set_idle(struct mailsess *m, uint64_t ms);
void mail_log_logout(struct mailsess *m, const char *reason, unsigned deleted,
		     uint64_t del_bytes);
void mail_exit(const struct mailsess *m, int code) __attribute__((noreturn));

/* sleep.c: the handlers of SLEE, WAKE, and QUIT in SLEEP. */
void cmd_slee(void *ctx, const struct pop3_req *r);
void cmd_wake(void *ctx, const struct pop3_req *r);
void sleep_quit(struct mailsess *m) __attribute__((noreturn));
#endif
