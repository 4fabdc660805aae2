/* maildirsize.h - keeping a Maildir++ quota file (maildirsize) in step
 * with removals, one line per removed message as it goes, so that a
 * session killed half-way leaves a file that is right up to the message
 * in hand.  Called by the Maildir provider at UPDATE; the delivery agent
 * may use it for its own lines. */
#ifndef POSTERN_MAILDIRSIZE_H
#define POSTERN_MAILDIRSIZE_H
#include <stdint.h>
#include <sys/types.h>

/* The specification's bound: a reader recalculates a bigger file from the
 * Maildir (Courier's maildirquota, Dovecot and postern-deliver alike). */
#define MAILDIRSIZE_MAX 5120

struct maildirsize {
	int fd;              /* -1: no maildirsize (no quota), or done */
	off_t size;          /* its size as far as we know */
};

/* Open dir's maildirsize for appending, if there is one.  0, with fd -1
 * when there is none; -1 (logged) when it exists but cannot be opened. */
int maildirsize_open(int dir, struct maildirsize *q);
/* One removal: appends "-bytes -1".  Once the file is past MAILDIRSIZE_MAX
 * it is going to be recalculated anyway, and nothing more is written. */
void maildirsize_removed(struct maildirsize *q, uint64_t bytes);
void maildirsize_close(struct maildirsize *q);
#endif
