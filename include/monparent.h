/* monparent.h - the root parent a session keeps when sleeping = yes: the
 * connection monitor forks the mail process instead of becoming it, and
 * stays to answer the mail process's typed questions (IPC_RECHECK,
 * IPC_SLEEP_TAKE, IPC_SLEEP_END).  Root, parses no client text. */
#ifndef POSTERN_MONPARENT_H
#define POSTERN_MONPARENT_H
#include "session.h"

#define ACCOUNT_PRINT_LEN 32

/* What the account's entry is now (SHA-256 over its secrets and ids), to
 * tell at WAKE whether it changed since the login.  0, or -1 when the
 * account is gone or locked. */
int account_print(const struct session *s, unsigned char out[ACCOUNT_PRINT_LEN]);

/* Serve the mail process child on chan until it ends; exits with its
 * status. */
void monitor_parent(const struct session *s, int chan, pid_t child,
		    const unsigned char print[ACCOUNT_PRINT_LEN]) __attribute__((noreturn));
#endif
