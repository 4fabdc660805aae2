/* deliver.h - put one message into a Maildir the way qmail's maildir(5)
 * says: write tmp/<unique>, fsync, move it to new/ without replacing
 * anything, fsync new/.  Runs with the rights of the mailbox owner (the
 * caller has dropped them). */
#ifndef POSTERN_DELIVER_H
#define POSTERN_DELIVER_H
#include <stddef.h>
#include <stdint.h>

struct deliver_opts {
	const char *return_path;    /* envelope sender: Return-Path header, or NULL */
	const char *delivered_to;   /* recipient: Delivered-To header, or NULL */
	uint64_t max_size;          /* refuse bigger messages (0 = no limit) */
	const char *uniq;           /* the unique part of the name in new/, or
	                             * NULL for a fresh one (the pickup chooses
	                             * it, records it, then delivers, so that it
	                             * can tell after a crash whether the copy
	                             * arrived) */
};

struct deliver_result {
	char name[160];             /* the file name in new/ */
	uint64_t size;              /* bytes on disk (,S=) */
	uint64_t wire_size;         /* octets as POP3 sends them (,W=) */
};

/* Read the message from fd (to its end) and deliver it into maildir,
 * creating maildir and its cur/ new/ tmp/ (mode 0700) if missing.  A
 * leading mbox "From " line is dropped; a message that would go over the
 * Maildir++ quota (maildirsize, recalculated from new/ and cur/ when it is
 * past 5120 bytes or stale) is refused for now.  Returns 0, or a sysexits(3) code
 * with a one-line reason in err: EX_DATAERR for a message over max_size,
 * EX_NOPERM for a Maildir the caller may not write (EACCES, EPERM),
 * EX_TEMPFAIL for everything else (I/O errors, a full disk or quota, a
 * Maildir that is not a directory): the administrator can mend those, and
 * the MTA keeps the message meanwhile instead of bouncing it.  With
 * o->uniq, a name already taken is EX_TEMPFAIL (no other name is tried). */
int deliver_maildir(const char *maildir, int fd, const struct deliver_opts *o,
		    struct deliver_result *res, char *err, size_t errcap);

/* A unique name "sec.MusecPpidQseq.host" (maildir(5)), host escaped. */
void deliver_unique_name(char *out, size_t cap, unsigned seq);

#endif
