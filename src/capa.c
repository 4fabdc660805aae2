/* capa.c - the CAPA reply and the SASL mechanism list from a description
 * of what the connection may use (capa.h).  Pure code, any rights: the
 * pre-auth process answers CAPA and AUTH with it, and the mail process
 * answers CAPA with it after the login. */
#include "capa.h"
#include "config.h"
#include <stdio.h>
#include <strings.h>

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
	/* auth_mechanisms says what may be offered; the connection says what
	 * can be used on it: PLAIN and LOGIN where passwords may cross it,
	 * SCRAM where logins are possible, -PLUS with channel binding. */
	int plain = ci->user && (ci->mechs & CONF_MECH_PLAIN);
	int login = ci->user && (ci->mechs & CONF_MECH_LOGIN);
	int scram = ci->sasl && (ci->mechs & CONF_MECH_SCRAM);
	int plus = ci->sasl && ci->scram_plus && (ci->mechs & CONF_MECH_SCRAM_PLUS);
	char all[80];
	snprintf(all, sizeof(all), "%s%s%s%s", plain ? " PLAIN" : "", login ? " LOGIN" : "",
		 scram ? " SCRAM-SHA-256" : "", plus ? " SCRAM-SHA-256-PLUS" : "");
	/* Without the leading blank. */
	return fitted(snprintf(buf, cap, "%s", all[0] ? all + 1 : ""), cap);
}

unsigned capa_mech_bit(const char *name)
{
	if (strcasecmp(name, "PLAIN") == 0)
		return CONF_MECH_PLAIN;
	if (strcasecmp(name, "LOGIN") == 0)
		return CONF_MECH_LOGIN;
	if (strcasecmp(name, "SCRAM-SHA-256") == 0)
		return CONF_MECH_SCRAM;
	if (strcasecmp(name, "SCRAM-SHA-256-PLUS") == 0)
		return CONF_MECH_SCRAM_PLUS;
	return 0;
}

size_t capa_auth_lines(const struct capa_info *ci, char *buf, size_t cap)
{
	char mech[128];
	/* No SASL line when no mechanism can be offered (RFC 2449: it
	 * lists at least one). */
	int sasl = ci->sasl && capa_mechanisms(ci, mech, sizeof(mech)) > 0;
	return fitted(snprintf(buf, cap, "%s%s%s%s", ci->user ? "USER\r\n" : "",
			       sasl ? "SASL " : "", sasl ? mech : "",
			       sasl ? "\r\n" : ""), cap);
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
