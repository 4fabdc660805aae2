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
#include <sys/mman.h>

#define IOBUF_SIZE 65536

/* The file holds every user's hash: stdio gets a buffer that is wiped and
 * unmapped after, and the line buffer is wiped before it is freed, so
 * nothing of it is left in the heap the mail process inherits. */
struct pwfile {
	FILE *f;
	char *iobuf;
	char *line;
	size_t cap;
};

static int pw_open(const struct config *cfg, struct pwfile *p)
{
	memset(p, 0, sizeof(*p));
	p->f = fopen(cfg->passwd_file, "re");
	if (!p->f)
		return -1;
	p->iobuf = mmap(NULL, IOBUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (p->iobuf == MAP_FAILED || setvbuf(p->f, p->iobuf, _IOFBF, IOBUF_SIZE) != 0) {
		if (p->iobuf != MAP_FAILED)
			munmap(p->iobuf, IOBUF_SIZE);
		fclose(p->f);
		return -1;
	}
	return 0;
}

static ssize_t pw_next(struct pwfile *p)
{
	ssize_t len = getline(&p->line, &p->cap, p->f);
	if (len > 0 && p->line[len - 1] == '\n')
		p->line[--len] = '\0';
	if (len > 0 && p->line[len - 1] == '\r')
		p->line[--len] = '\0';
	return len;
}

static void pw_close(struct pwfile *p)
{
	if (p->line)
		explicit_bzero(p->line, p->cap);
	free(p->line);
	fclose(p->f);
	explicit_bzero(p->iobuf, IOBUF_SIZE);
	munmap(p->iobuf, IOBUF_SIZE);
}

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
	struct pwfile p;
	out->login_delay = cfg->login_delay;
	out->expire = cfg->expire;
	if (cfg->login_delay == PARSE_DELAY_OFF && cfg->expire == PARSE_EXPIRE_OFF)
		return;
	if (pw_open(cfg, &p) < 0)
		return;   /* the login itself has just read it; nothing to add */
	while (pw_next(&p) >= 0) {
		struct pwline pw;
		if (pw_parse_line(p.line, &pw) == 1 && strcmp(pw.user, user) == 0) {
			if (pw.extra)
				apply(cfg, user, pw.extra, out);
			break;
		}
	}
	pw_close(&p);
}

/* A word "KEY=" or "userdb_KEY=" in the extra field of a line. */
static int has_key(const char *extra, const char *key)
{
	char v[2];
	return pw_extra_get(extra, key, v, sizeof(v)) != 0;
}

void userext_scan(const struct config *cfg, int *delay_user, int *expire_user)
{
	struct pwfile p;
	int want_d = cfg->login_delay != PARSE_DELAY_OFF;
	int want_e = cfg->expire != PARSE_EXPIRE_OFF;
	*delay_user = *expire_user = 0;
	if (!want_d && !want_e)
		return;
	if (pw_open(cfg, &p) < 0)
		return;
	while (pw_next(&p) >= 0) {
		struct pwline pw;
		/* Most lines have no extras: skip them before parsing. */
		if (!strchr(p.line, '='))
			continue;
		if (pw_parse_line(p.line, &pw) != 1 || !pw.extra)
			continue;
		if (want_d && has_key(pw.extra, KEY_DELAY))
			*delay_user = 1;
		if (want_e && has_key(pw.extra, KEY_EXPIRE))
			*expire_user = 1;
		if ((*delay_user || !want_d) && (*expire_user || !want_e))
			break;
	}
	pw_close(&p);
}
