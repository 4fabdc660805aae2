/* srclimits.h - per-source limits and log rates (one table, one clock), and
 * the monitors' report of a login to the master.  The table lives in
 * memory the master maps shared before it forks; the root processes use
 * it, no unprivileged one can reach it (limits_detach).  Every function
 * that depends on the time takes it as an argument (seconds, as time()),
 * so a test drives the clock. */
#ifndef POSTERN_SRCLIMITS_H
#define POSTERN_SRCLIMITS_H
#include "config.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

/* A source: its IPv4 address or IPv6 /64 prefix. */
#define LIMITS_KEY 16

/* Map the shared table and make the login-report channel; the master
 * calls it once before forking.  Without it (inetd mode: one process per
 * connection) every event is logged and no login is reported. */
void limits_init(void);
/* Unmap the table and close the report channel: a pre-auth process and a
 * monitor about to become a mail process must not reach what the root
 * processes share. */
void limits_detach(void);

/* In a child of the master: close the master's end of the report
 * channel (only the master reads reports). */
void limits_forked(void);

/* The source key of a peer address, and its text for the log. */
void limits_source(const struct sockaddr_storage *ss, unsigned char key[LIMITS_KEY],
		   char *txt, size_t cap);
/* The same key from a peer address as text (the monitor's rip); a text
 * that is no address gives one shared key. */
void limits_source_text(const char *rip, unsigned char key[LIMITS_KEY]);

/* Count a new connection of key at now, and say whether a per-source
 * limit refuses it: NULL to accept, or the name of the limit.  same: the
 * source's sessions now; local: a loopback client, which the per-source
 * limits do not apply to (only the count is kept). */
const char *limits_admit(const struct config *cfg, const unsigned char key[LIMITS_KEY],
			 unsigned same, int local, time_t now);
/* 1 if a refusal or an eviction for key may be logged at now: at most
 * once a minute per source. */
int limits_log_refusal(const unsigned char key[LIMITS_KEY], time_t now);
/* 1 if a client-triggered event of rip (a failed TLS handshake) may be
 * logged at now; *suppressed tells how many were swallowed since the last
 * logged one (at most one line a minute per source). */
int limits_log_allow(const char *rip, time_t now, unsigned *suppressed);

/* Monitor: this session has logged in (called as root, before the drop
 * to the mail user).  The master learns the sender's pid from the kernel
 * (SCM_CREDENTIALS), not from the message. */
void limits_report_login(void);
/* Master: the descriptor to poll for reports, and the next reporting
 * pid (0 when none is waiting). */
int limits_report_fd(void);
pid_t limits_next_login(void);
#endif
