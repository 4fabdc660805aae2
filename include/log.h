/* log.h - logging through syslog(3), facility mail, or to stderr with -d.
 * Stable formats for fail2ban are in log.c. */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H
#include <syslog.h>

void log_open(const char *ident, int to_stderr);
void log_set_ident(const char *ident);
void plog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log and exit(1): for a child process that cannot go on. */
void pfatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#endif
