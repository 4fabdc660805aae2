/* ratelog.h - "at most one line a minute per source" for log lines a
 * client can trigger at will (TLS handshake failures).  The table lives in
 * memory shared by every process the master forks. */
#ifndef POSTERN_RATELOG_H
#define POSTERN_RATELOG_H

/* Map the shared table; call once in the master before forking.  Without it
 * (inetd mode, one process per connection) every event is logged. */
void ratelog_init(void);
/* Unmap the table (a process about to drop to a mail user must not be
 * able to write to what root processes share). */
void ratelog_detach(void);
/* 1 if an event from source may be logged now; *suppressed tells how many
 * were swallowed since the last logged one. */
int ratelog_allow(const char *source, unsigned *suppressed);
#endif
