/* userext.c - per-user LOGIN-DELAY and EXPIRE values from the passwd
 * file's extra fields (userext.h).  Runs in the connection monitor as root:
 * the credentials file is 0640 root:postern and no other process of a
 * session may read it.  The file is read as it is now (it may change while
 * postern runs), one line at a time. */
#include "userext.h"
#include "log.h"
#include "passwd_line.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_DELAY "login_delay"
#define KEY_EXPIRE "expire"

static void apply(const struct config *cfg, const char *user, const char *extra,
		  struct userext *out)
{
	char v[64];
	long x;
	int r;
	if (cfg->login_delay != PARSE_DELAY_OFF &&
	    (r = pw_extra_get(extra, KEY_DELAY, v, sizeof(v))) != 0) {
		if (r > 0 && parse_login_delay(v, 0, &x) == 0)
			out->login_delay = x;
		else
			plog(LOG_WARNING, "passwd: user=<%s>: bad %s value, the server's is used",
			     user, KEY_DELAY);
	}
	if (cfg->expire != PARSE_EXPIRE_OFF &&
	    (r = pw_extra_get(extra, KEY_EXPIRE, v, sizeof(v))) != 0) {
		if (r > 0 && parse_expire(v, 0, &x) == 0)
			out->expire = x;
		else
			plog(LOG_WARNING, "passwd: user=<%s>: bad %s value, the server's is used",
			     user, KEY_EXPIRE);
	}
}

void userext_for(const struct config *cfg, const char *user, struct userext *out)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	out->login_delay = cfg->login_delay;
	out->expire = cfg->expire;
	if (cfg->login_delay == PARSE_DELAY_OFF && cfg->expire == PARSE_EXPIRE_OFF)
		return;
	f = fopen(cfg->passwd_file, "re");
	if (!f)
		return;   /* the login itself has just read it; nothing to add */
	while ((len = getline(&line, &cap, f)) > 0) {
		struct pwline pw;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (pw_parse_line(line, &pw) == 1 && strcmp(pw.user, user) == 0) {
			if (pw.extra)
				apply(cfg, user, pw.extra, out);
			break;
		}
	}
	free(line);
	fclose(f);
}

/* A word "KEY=" or "userdb_KEY=" in the extra field of a line. */
static int has_key(const char *extra, const char *key)
{
	char v[2];
	return pw_extra_get(extra, key, v, sizeof(v)) != 0;
}

void userext_scan(const struct config *cfg, int *delay_user, int *expire_user)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int want_d = cfg->login_delay != PARSE_DELAY_OFF;
	int want_e = cfg->expire != PARSE_EXPIRE_OFF;
	*delay_user = *expire_user = 0;
	if (!want_d && !want_e)
		return;
	f = fopen(cfg->passwd_file, "re");
	if (!f)
		return;
	while ((len = getline(&line, &cap, f)) > 0) {
		struct pwline pw;
		/* Most lines have no extras: skip them before parsing. */
		if (!strstr(line, "="))
			continue;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (pw_parse_line(line, &pw) != 1 || !pw.extra)
			continue;
		if (want_d && has_key(pw.extra, KEY_DELAY))
			*delay_user = 1;
		if (want_e && has_key(pw.extra, KEY_EXPIRE))
			*expire_user = 1;
		if ((*delay_user || !want_d) && (*expire_user || !want_e))
			break;
	}
	free(line);
	fclose(f);
}
