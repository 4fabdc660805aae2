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
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

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

/* Does a line holding an occurrence of "KEY=" carry KEY in its extra
 * field?  The line is parsed in a copy that is wiped after. */
static int line_has_key(const char *map, size_t size, const char *hit, const char *key)
{
	const char *b = hit, *e = hit;
	char *copy, v[2];
	struct pwline pw;
	int yes = 0;
	while (b > map && b[-1] != '\n')
		b--;
	while (e < map + size && *e != '\n')
		e++;
	copy = xstrndup(b, (size_t)(e - b));
	if (pw_parse_line(copy, &pw) == 1 && pw.extra)
		yes = pw_extra_get(pw.extra, key, v, sizeof(v)) != 0;
	explicit_bzero(copy, (size_t)(e - b));
	free(copy);
	return yes;
}

/* One pass over the mapped file for '=' (lines without extra fields have
 * none, crypt hashes never do): only the rare lines where KEY= stands are
 * parsed.  The file is mapped, not read into the heap. */
static void scan_map(const char *map, size_t size, int want_d, int want_e,
		     int *delay_user, int *expire_user)
{
	static const size_t dl = sizeof(KEY_DELAY) - 1, el = sizeof(KEY_EXPIRE) - 1;
	const char *p = map, *end = map + size;
	while ((want_d && !*delay_user) || (want_e && !*expire_user)) {
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (!eq)
			break;
		if (want_d && !*delay_user && (size_t)(eq - map) >= dl &&
		    memcmp(eq - dl, KEY_DELAY, dl) == 0)
			*delay_user = line_has_key(map, size, eq, KEY_DELAY);
		if (want_e && !*expire_user && (size_t)(eq - map) >= el &&
		    memcmp(eq - el, KEY_EXPIRE, el) == 0)
			*expire_user = line_has_key(map, size, eq, KEY_EXPIRE);
		p = eq + 1;
	}
}

/* The last scan's answer and the file it was made from.  A spare monitor
 * scans before its client comes (monitor_spare), so the client's path
 * costs one stat while the file is unchanged, not a read of every line. */
static struct {
	int valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int want_delay, want_expire;     /* what the scan looked for */
	int delay_user, expire_user;
} last;

static int same_file(const struct stat *st, int want_delay, int want_expire)
{
	return last.valid && last.want_delay == want_delay && last.want_expire == want_expire &&
	       st->st_dev == last.dev && st->st_ino == last.ino &&
	       st->st_size == last.size && st->st_mtim.tv_sec == last.mtime.tv_sec &&
	       st->st_mtim.tv_nsec == last.mtime.tv_nsec &&
	       st->st_ctim.tv_sec == last.ctime.tv_sec && st->st_ctim.tv_nsec == last.ctime.tv_nsec;
}

void userext_scan(const struct config *cfg, int *delay_user, int *expire_user)
{
	struct stat st;
	void *map;
	int fd, want_delay, want_expire;
	*delay_user = *expire_user = 0;
	if (cfg->login_delay == PARSE_DELAY_OFF && cfg->expire == PARSE_EXPIRE_OFF)
		return;
	want_delay = cfg->login_delay != PARSE_DELAY_OFF;
	want_expire = cfg->expire != PARSE_EXPIRE_OFF;
	if (stat(cfg->passwd_file, &st) == 0 && same_file(&st, want_delay, want_expire)) {
		*delay_user = last.delay_user;
		*expire_user = last.expire_user;
		return;
	}
	last.valid = 0;
	fd = open(cfg->passwd_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	scan_map(map, (size_t)st.st_size, want_delay, want_expire, delay_user, expire_user);
	munmap(map, (size_t)st.st_size);
	last.want_delay = want_delay;
	last.want_expire = want_expire;
	last.dev = st.st_dev;
	last.ino = st.st_ino;
	last.size = st.st_size;
	last.mtime = st.st_mtim;
	last.ctime = st.st_ctim;
	last.delay_user = *delay_user;
	last.expire_user = *expire_user;
	last.valid = 1;
}
