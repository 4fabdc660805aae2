/* userext.h - the per-user values of the RFC 2449 LOGIN-DELAY and EXPIRE
 * settings, from the extra field of the passwd file (Dovecot style
 * "login_delay=300 expire=30").  The monitor (root) alone reads that file. */
#ifndef POSTERN_USEREXT_H
#define POSTERN_USEREXT_H
#include "config.h"

struct userext {
	long login_delay;     /* seconds, PARSE_DELAY_OFF */
	long expire;          /* days, PARSE_EXPIRE_OFF / _NEVER */
};

/* The values for user: the server's, overridden by the user's entry where
 * the server's setting is not off.  A bad per-user value is logged and
 * the server's kept. */
void userext_for(const struct config *cfg, const char *user, struct userext *out);

/* Does any entry of the passwd file carry its own value (so CAPA says
 * USER before the login)?  Only asked for settings that are not off. */
void userext_scan(const struct config *cfg, int *delay_user, int *expire_user);
#endif
