/* capa.c - the CAPA reply and the SASL mechanism list from a description
 * of what the connection may use (capa.h).  Pure code, any rights: the
 * pre-auth process answers CAPA and AUTH with it, and the mail process
 * answers CAPA with it after the login. */
#include "capa.h"
#include <stdio.h>

/* snprintf's length, or what fitted when the text was cut. */
static size_t fitted(int n, size_t cap)
{
	if (n < 0)
		return 0;
	if ((size_t)n >= cap)
		return cap ? cap - 1 : 0;
	return (size_t)n;
}

size_t capa_mechanisms(const struct capa_info *ci, char *buf, size_t cap)
{
	return fitted(snprintf(buf, cap, "%s%s", ci->user ? "PLAIN LOGIN " : "",
			       !ci->sasl ? "" :
			       ci->scram_plus ? "SCRAM-SHA-256 SCRAM-SHA-256-PLUS" :
			       "SCRAM-SHA-256"), cap);
}

size_t capa_auth_lines(const struct capa_info *ci, char *buf, size_t cap)
{
	char mech[128];
	capa_mechanisms(ci, mech, sizeof(mech));
	return fitted(snprintf(buf, cap, "%s%s%s%s", ci->user ? "USER\r\n" : "",
			       ci->sasl ? "SASL " : "", ci->sasl ? mech : "",
			       ci->sasl ? "\r\n" : ""), cap);
}

size_t capa_text(const struct capa_info *ci, char *buf, size_t cap)
{
	char auth[CAPA_AUTH_LINES_MAX], delay[40] = "", expire[40] = "";
	if (ci->state != ST_AUTH && ci->auth_lines)
		snprintf(auth, sizeof(auth), "%s", ci->auth_lines);
	else
		capa_auth_lines(ci, auth, sizeof(auth));
	/* RFC 2449 sections 6.5 and 6.7: USER only in AUTHORIZATION. */
	int auth_state = ci->state == ST_AUTH;
	if (ci->login_delay >= 0)
		snprintf(delay, sizeof(delay), "LOGIN-DELAY %ld%s\r\n", ci->login_delay,
			 auth_state && ci->login_delay_user ? " USER" : "");
	if (ci->expire == CAPA_EXPIRE_NEVER)
		snprintf(expire, sizeof(expire), "EXPIRE NEVER%s\r\n",
			 auth_state && ci->expire_user ? " USER" : "");
	else if (ci->expire >= 0)
		snprintf(expire, sizeof(expire), "EXPIRE %ld%s\r\n", ci->expire,
			 auth_state && ci->expire_user ? " USER" : "");
	return fitted(snprintf(buf, cap, "+OK capability list follows\r\n"
			       "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n%s%s%s%s%s%s%s%s"
			       "IMPLEMENTATION postern\r\n.\r\n",
			       ci->pipelining ? "PIPELINING\r\n" : "", delay, expire,
			       ci->uid_param ? "UID-PARAM\r\n" : "", ci->deli ? "DELI\r\n" : "",
			       ci->sleeping ? "SLEEPING\r\n" : "",
			       auth,
			       ci->stls && ci->state == ST_AUTH ? "STLS\r\n" : ""), cap);
}
