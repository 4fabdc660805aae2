/* pickup_record.h - the pickup's progress record of one dropped file,
 * DIR/.state/.p.NAME: one line per step, appended and fsynced before the
 * next step, read back by later runs (postern-deliver(8), THE PICKUP):
 *   try UNIQ USER     before a copy (UNIQ: its name in the Maildir)
 *   done USER         after it
 *   fail CODE USER    a recipient that can never get it
 *   defer TIME        copies failed for now (seconds since 1970)
 * A last line without its newline (cut by a crash) is not counted. */
#ifndef POSTERN_PICKUP_RECORD_H
#define POSTERN_PICKUP_RECORD_H
#include "rcpt.h"
#include <stddef.h>

#define RECORD_PREFIX ".p."         /* .state/.p.NAME: NAME's record */

struct record {
	int fd;                         /* append-only, -1 until the first line */
	int nuser;
	struct {
		char kind;              /* 't'ry, 'd'one, 'f'ail: the last line */
		char name[256];
		char uniq[112];
	} user[4 * (RCPT_MAX + 1)];     /* a file has at most RCPT_MAX + 1 */
	int ndefer;
	long long first_defer, last_defer;
};

/* RECORD_PREFIX NAME into out. */
void record_name(char *out, size_t cap, const char *name);
/* Read NAME's record from the directory sfd (none: an empty record). */
void record_load(int sfd, const char *name, struct record *p);
/* The last line about user: 't', 'd', 'f' or 0; *uniq for a 't'. */
char record_of(const struct record *p, const char *user, const char **uniq);
/* Append one line and fsync it (the first one also creates the file and
 * fsyncs sfd).  0, or -1 with errno. */
int record_add(int sfd, const char *name, struct record *p, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void record_close(struct record *p);
#endif
