/* capa.h - the CAPA reply (RFC 2449) and the SASL mechanism list, built
 * from what a connection may use.  Both protocol processes answer CAPA
 * through capa_text(); the AUTH command without arguments lists
 * capa_mechanisms(). */
#ifndef POSTERN_CAPA_H
#define POSTERN_CAPA_H
#include "pop3.h"
#include <stddef.h>

#define CAPA_TEXT_MAX 512          /* the longest reply, with room */
#define CAPA_AUTH_LINES_MAX 200    /* the USER and SASL lines (session.h's auth_capa) */
#define CAPA_EXPIRE_NEVER (-2)     /* EXPIRE NEVER (PARSE_EXPIRE_NEVER) */

struct capa_info {
	enum pop3_state state;
	int stls;            /* STLS: TLS possible and not in use yet */
	int user;            /* USER, and PLAIN/LOGIN: passwords may cross the
	                      * connection as they are */
	int sasl;            /* a SASL line: logins possible at all (not with
	                      * ssl = required before TLS) */
	int scram_plus;      /* SCRAM-SHA-256-PLUS: TLS with channel binding */
	unsigned mechs;      /* auth_mechanisms: the CONF_MECH_* bits that may
	                      * be offered at all */
	int pipelining;      /* PIPELINING */
	long login_delay;    /* LOGIN-DELAY n; < 0: not listed */
	int login_delay_user; /* ... followed by USER: it varies per user */
	long expire;         /* EXPIRE n, CAPA_EXPIRE_NEVER; -1: not listed */
	int expire_user;     /* ... followed by USER */
	int uid_param;       /* UID-PARAM */
	int deli;            /* DELI */
	int sleeping;        /* SLEEPING (SLEE, WAKE) */
	/* TRANSACTION: the USER and SASL lines as the AUTHORIZATION state
	 * listed them (RFC 2449 section 5, RFC 5034 section 3), handed over
	 * with the login; the four fields above then play no part. */
	const char *auth_lines;
};

/* The SASL mechanisms, space-separated ("" when none).  Returns the length
 * (as snprintf). */
size_t capa_mechanisms(const struct capa_info *ci, char *buf, size_t cap);
/* The CONF_MECH_* bit of a SASL mechanism's name (any case), 0 if postern
 * knows no such mechanism. */
unsigned capa_mech_bit(const char *name);
/* The USER and SASL lines, CRLF-terminated ("" when none). */
size_t capa_auth_lines(const struct capa_info *ci, char *buf, size_t cap);
/* The whole reply, "+OK ...\r\n" to ".\r\n".  Returns its length; cap
 * CAPA_TEXT_MAX is always enough. */
size_t capa_text(const struct capa_info *ci, char *buf, size_t cap);
#endif
