/* confcheck.h - "postern -t": what the daemon needs at start and at a
 * login, checked against the system before it runs. */
#ifndef POSTERN_CONFCHECK_H
#define POSTERN_CONFCHECK_H
#include "config.h"
#include <stdio.h>

/* Checks the unprivileged user, empty_dir, the credentials file (every
 * line), the pickup's postmaster and APOP against {PLAIN} entries.  Writes
 * one "postern: ..." line per problem to out ("postern: warning: ..." for
 * what works but is probably a mistake); returns the number of errors. */
int confcheck_system(const struct config *c, FILE *out);
#endif
