/* mailstate.c - the LOGIN-DELAY and EXPIRE state files in a Maildir
 * (mailstate.h): read, written whole through tmp/ and rename, and the
 * expiry at login.  Runs in the mail process as the mailbox owner. */
#include "mailstate.h"
#include "log.h"
#include "parse.h"
#include "uidindex.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LASTLOGIN_MAGIC "postern-lastlogin 1 "
#define RETRIEVED_MAGIC "postern-retrieved 1\n"
#define STATE_MAX (64u << 20)    /* a state file larger than this is ignored */

long login_delay_wait(int64_t last, int64_t now, long delay, int *skewed)
{
	int64_t elapsed;
	*skewed = 0;
	if (delay <= 0)
		return 0;
	if (last > now + LOGIN_DELAY_SKEW) {
		*skewed = 1;
		return 0;
	}
	elapsed = last > now ? 0 : now - last;
	return elapsed >= delay ? 0 : (long)(delay - elapsed);
}

/* The whole of a small regular file at dirfd/name, NUL-terminated: 1,
 * 0 when absent, -1 on error. */
static int read_small(int dirfd, const char *name, char **out, size_t *len)
{
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATE_MAX) {
		close(fd);
		return -1;
	}
	*out = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size &&
	       (r = read(fd, *out + got, (size_t)st.st_size - got)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(*out);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	(*out)[got] = '\0';
	*len = got;
	return 1;
}

/* Replace name in the Maildir at dirfd with text, through tmp/. */
static int write_whole(int dirfd, const char *name, const char *text, size_t len)
{
	char tmp[128];
	int fd;
	snprintf(tmp, sizeof(tmp), "tmp/%s.%ld", name, (long)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, text, len) < 0 || close(fd) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int lastlogin_read(int dirfd, int64_t *t)
{
	char *buf = NULL, *nl;
	size_t len = 0;
	uint64_t v;
	int r = read_small(dirfd, LASTLOGIN_FILE, &buf, &len);
	if (r <= 0)
		return r;
	r = 0;
	nl = strchr(buf, '\n');
	if (nl && strncmp(buf, LASTLOGIN_MAGIC, strlen(LASTLOGIN_MAGIC)) == 0 &&
	    parse_decimal(buf + strlen(LASTLOGIN_MAGIC),
			  (size_t)(nl - buf) - strlen(LASTLOGIN_MAGIC), INT64_MAX, &v) == 0) {
		*t = (int64_t)v;
		r = 1;
	}
	free(buf);
	return r;
}

int lastlogin_write(int dirfd, int64_t t)
{
	char text[64];
	int n = snprintf(text, sizeof(text), LASTLOGIN_MAGIC "%lld\n", (long long)t);
	return write_whole(dirfd, LASTLOGIN_FILE, text, (size_t)n);
}

void retr_parse(struct retr_list *l, char *buf, size_t len)
{
	char *p = buf, *end = buf + len;
	memset(l, 0, sizeof(*l));
	l->buf = buf;
	if (len < strlen(RETRIEVED_MAGIC) ||
	    memcmp(buf, RETRIEVED_MAGIC, strlen(RETRIEVED_MAGIC)) != 0)
		return;
	p += strlen(RETRIEVED_MAGIC);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		uint64_t v;
		size_t ulen;
		if (!nl)
			break;   /* a cut last line: not trusted */
		*nl = '\0';
		sp = memchr(p, ' ', (size_t)(nl - p));
		ulen = sp ? (size_t)(nl - sp - 1) : 0;
		if (sp && parse_decimal(p, (size_t)(sp - p), INT64_MAX, &v) == 0 &&
		    ulen >= 1 && ulen <= UIDINDEX_ID_MAX && !memchr(sp + 1, ' ', ulen)) {
			if (l->n == l->cap) {
				l->cap = l->cap ? 2 * l->cap : 64;
				l->r = xrealloc(l->r, l->cap * sizeof(*l->r));
			}
			l->r[l->n].t = (int64_t)v;
			l->r[l->n].uidl = sp + 1;
			l->n++;
		}
		p = nl + 1;
	}
}

int retr_load(int dirfd, struct retr_list *l)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_small(dirfd, RETRIEVED_FILE, &buf, &len);
	memset(l, 0, sizeof(*l));
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	retr_parse(l, buf, len);
	return 0;
}

void retr_free(struct retr_list *l)
{
	free(l->r);
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

struct snap {
	const struct mailstore_ops *ops;
	struct mailstore *st;
};

static const char *snap_uidl(const void *ctx, size_t i)
{
	const struct snap *s = ctx;
	return s->ops->uidl(s->st, i);
}

unsigned expire_old(const struct mailstore_ops *ops, struct mailstore *st,
		    const struct retr_list *l, long days, int64_t now,
		    unsigned *more, unsigned *failed)
{
	struct snap sn = { ops, st };
	struct uidindex x;
	unsigned gone = 0;
	size_t k;
	*more = *failed = 0;
	if (days < 0 || l->n == 0 || uidindex_build(&x, ops->count(st), snap_uidl, &sn) < 0)
		return 0;
	for (k = 0; k < l->n; k++) {
		const struct retr_rec *r = &l->r[k];
		long i;
		if (days > 0 ? now - r->t <= (int64_t)days * 86400 : r->t > now)
			continue;
		i = uidindex_find(&x, r->uidl, strlen(r->uidl));
		if (i < 0)
			continue;
		if (gone + *failed >= EXPIRE_BATCH) {
			(*more)++;
			continue;
		}
		if (ops->delete_now(st, (size_t)i) == MS_OK)
			gone++;
		else
			(*failed)++;
	}
	uidindex_free(&x);
	return gone;
}

int retr_save(int dirfd, const struct mailstore_ops *ops, struct mailstore *st, size_t n,
	      const struct retr_list *old, const unsigned char *gone,
	      const unsigned char *seen, int64_t now)
{
	struct uidindex x;
	struct snap sn = { ops, st };
	int64_t *t = xcalloc(n + 1, sizeof(*t));   /* 0: no record */
	size_t i, k, cap = 64, len;
	int changed = 0, rc = 0;
	char *text;
	if (uidindex_build(&x, n, snap_uidl, &sn) < 0) {
		free(t);
		return -1;
	}
	for (k = 0; k < old->n; k++) {
		long j = uidindex_find(&x, old->r[k].uidl, strlen(old->r[k].uidl));
		if (j < 0 || gone[j] || t[j]) {
			changed = 1;   /* the message left (or a repeated line) */
			continue;
		}
		t[j] = old->r[k].t > 0 ? old->r[k].t : 1;
	}
	uidindex_free(&x);
	for (i = 0; i < n; i++)
		if (!gone[i] && !t[i] && seen[i]) {
			t[i] = now;
			changed = 1;
		}
	if (!changed) {
		free(t);
		return 0;
	}
	text = xmalloc(cap);
	len = (size_t)snprintf(text, cap, "%s", RETRIEVED_MAGIC);
	for (i = 0; i < n; i++) {
		const char *u;
		if (!t[i] || gone[i])
			continue;
		u = ops->uidl(st, i);
		while (len + strlen(u) + 24 > cap) {
			cap *= 2;
			text = xrealloc(text, cap);
		}
		len += (size_t)snprintf(text + len, cap - len, "%lld %s\n", (long long)t[i], u);
	}
	if (write_whole(dirfd, RETRIEVED_FILE, text, len) < 0) {
		plog(LOG_WARNING, "%s: cannot write: %s", RETRIEVED_FILE, strerror(errno));
		rc = -1;
	}
	free(text);
	free(t);
	return rc;
}
