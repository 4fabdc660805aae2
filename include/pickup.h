/* pickup.h - the drop-folder pickup of postern-deliver (-p DIR): every
 * file dropped into DIR is delivered to the users its header names, each
 * at most once, whatever fails or crashes in between; a file that cannot
 * be delivered for good goes to DIR/failed/.  The agent_* functions are
 * postern-deliver.c's, used by src/pickup.c. */
#ifndef POSTERN_PICKUP_H
#define POSTERN_PICKUP_H
#include "authcheck.h"
#include <stddef.h>
#include <stdint.h>

/* One run over dir.  flush: retry deferred files now, not when their
 * back-off has passed.  0 when every file was delivered, deferred or set
 * aside; EX_CONFIG when the postmaster user is missing (the run still
 * delivers what it can) or the state areas are unsafe; EX_TEMPFAIL when
 * the folder or the passwd file cannot be read. */
int pickup_run(const struct config *cfg, const char *dir, uint64_t max_size, int flush);

/* In a child that drops to a mail user: close the run's directories (the
 * drop folder, .state, failed/), which that user has no business with. */
void pickup_close_fds(void);

/* From postern-deliver.c.  A line to stderr (unless that is the
 * systemd journal) and to syslog; agent_say returns code and logs at the
 * priority it implies. */
void agent_tell(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int agent_say(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int agent_find_user(const char *addr, int drop_domain, struct auth_user *u, char *found,
		    size_t cap);
/* Deliver fd's message to user (as the Maildir name uniq, Delivered-To
 * addr) in a child with that user's rights: a sysexits(3) code. */
int agent_copy(const char *user, const char *addr, int fd, uint64_t max_size,
	       const char *uniq);
/* Is a message named uniq in user's Maildir (new/ or cur/)?  0 yes,
 * 1 no, or a sysexits(3) code when that cannot be told. */
int agent_probe(const char *user, const char *uniq);
#endif
