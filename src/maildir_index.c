/* maildir_index.c - the Maildir provider's index file, postern-sizes: the
 * sizes and the order of the last session's snapshot.  Runs in the mail
 * process, as the mailbox owner, at login (maildir.c's open).
 *
 * A warm login finds every message there: sizes need no file reads and
 * order needs no name sorting (which also keeps the order stable when
 * names sort oddly).  The file is the user's: everything read from it is
 * checked (a name that is not a plain file name makes the listing
 * untrusted; a size is only a size). */
#include "maildir_impl.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_FILE "postern-sizes"
#define CACHE_MAGIC_V2 "postern-sizes 2\n"
#define CACHE_MAGIC_V3 "postern-sizes 3 "
/* cur/ unchanged for this long before a scan may be trusted later (see
 * mdx_cur_stamp). */
#define SETTLE_SECONDS 2

/* ---- the index: sizes and order of the last snapshot ----
 *
 * postern-sizes lists "name size" lines in the order of the last session,
 * after a header "postern-sizes 3 SEC NSEC" giving cur/'s mtime when that
 * list was read (0 0: not vouched for).  A warm login finds every message
 * there: sizes need no file reads and order needs no name sorting (which
 * also keeps the order stable when names sort oddly).  Messages not in it
 * are appended in name order.  When cur/'s mtime is still the one in the
 * header, nothing was added, removed or renamed in cur/ since, and the list
 * stands in for reading the directory (Dovecot does the same); only new/ is
 * read.  Version 2 files (keys up to ':' only) are still read, for sizes. */


/* Names go into the index with bytes outside 0x21-0x7e and '%' as %XX, so
 * a file name with spaces or newlines cannot break a line. */
static void write_escaped(FILE *f, const char *s, size_t len)
{
	size_t i;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '%')
			fprintf(f, "%%%02X", ch);
		else
			putc(ch, f);
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode in place; returns the new length. */
static size_t unescape_name(char *s, size_t len)
{
	size_t i, o = 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len + 0 && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

void mdx_load(struct mailstore *s)
{
	int fd = openat(s->dfd, CACHE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char *p, *end, *header_end;
	size_t lines = 0;
	ssize_t got = 0, r;

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != s->owner ||
	    st.st_size > (off_t)512 << 20) {
		close(fd);
		return;
	}
	s->cache_buf = xmalloc((size_t)st.st_size + 1);
	while (got < st.st_size &&
	       (r = read(fd, s->cache_buf + got, (size_t)(st.st_size - got))) > 0)
		got += r;
	close(fd);
	s->cache_buf[got] = '\0';
	end = s->cache_buf + got;
	if ((size_t)got >= sizeof(CACHE_MAGIC_V2) - 1 &&
	    memcmp(s->cache_buf, CACHE_MAGIC_V2, sizeof(CACHE_MAGIC_V2) - 1) == 0) {
		p = s->cache_buf + sizeof(CACHE_MAGIC_V2) - 1;
	} else if ((size_t)got >= sizeof(CACHE_MAGIC_V3) - 1 &&
		   memcmp(s->cache_buf, CACHE_MAGIC_V3, sizeof(CACHE_MAGIC_V3) - 1) == 0) {
		unsigned long long sec, nsec;
		char *e;
		p = s->cache_buf + sizeof(CACHE_MAGIC_V3) - 1;
		sec = strtoull(p, &e, 10);
		if (e == p || *e != ' ')
			return;
		p = e + 1;
		nsec = strtoull(p, &e, 10);
		if (e == p || *e != '\n' || nsec >= 1000000000ULL)
			return;
		p = e + 1;
		s->cache_full_names = 1;
		s->cache_cur.tv_sec = (time_t)sec;
		s->cache_cur.tv_nsec = (long)nsec;
	} else {
		return;
	}
	header_end = p;
	for (p = s->cache_buf; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		lines++;
	for (s->csize = 64; s->csize < lines * 2; s->csize *= 2)
		;
	s->ctab = xcalloc(s->csize, sizeof(*s->ctab));
	s->cent = xmalloc((lines + 1) * sizeof(*s->cent));
	p = header_end;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *sp, *e;
		unsigned long long size;
		if (!nl)
			break;
		*nl = '\0';
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp && sp > p && sp[1] >= '0' && sp[1] <= '9' &&
		    (size = strtoull(sp + 1, &e, 10), *e == '\0')) {
			struct centry *ce = &s->cent[s->ncent];
			size_t i;
			char *colon;
			ce->key = p;
			ce->nlen = unescape_name(p, (size_t)(sp - p));
			p[ce->nlen] = '\0';
			colon = memchr(p, ':', ce->nlen);
			ce->klen = colon ? (size_t)(colon - p) : ce->nlen;
			ce->size = size;
			for (i = md_hash(p, ce->klen) & (s->csize - 1); s->ctab[i];
			     i = (i + 1) & (s->csize - 1))
				;
			s->ctab[i] = (uint32_t)++s->ncent;
		}
		p = nl + 1;
	}
}

/* Index of message m in the loaded index, or -1.  The whole name must
 * match: two files that differ only in their flags are two messages.  Only
 * when the name up to ':' is in the index once and no other message of
 * the snapshot shares the unique part is that entry taken for a file whose
 * flags were changed since (by another program, or by the flag rename at
 * QUIT), so a renamed message keeps its size and place. */
long mdx_find(const struct mailstore *s, const struct mdmsg *m)
{
	const char *name = m->path + 4;
	size_t len = m->base_len, nlen = strlen(name), i;
	long base_match = -1;
	unsigned nbase = 0;
	if (!s->ctab)
		return -1;
	for (i = md_hash(name, len) & (s->csize - 1); s->ctab[i];
	     i = (i + 1) & (s->csize - 1)) {
		const struct centry *ce = &s->cent[s->ctab[i] - 1];
		if (ce->klen != len || memcmp(ce->key, name, len) != 0)
			continue;
		if (s->cache_full_names && ce->nlen == nlen && memcmp(ce->key, name, nlen) == 0)
			return (long)s->ctab[i] - 1;
		nbase++;
		base_match = (long)s->ctab[i] - 1;
	}
	return nbase == 1 && !m->dup ? base_match : -1;
}

/* Rewrite the index when the mailbox changed since it was written.  Failure
 * (a full disk) only costs speed next time: logged and ignored. */
void mdx_save(struct mailstore *s, size_t known)
{
	char tmp[64];
	FILE *f;
	size_t i;
	if (!s->renamed && known == s->n && known == s->ncent && s->cache_full_names &&
	    s->cache_cur.tv_sec == s->cur_stamp.tv_sec &&
	    s->cache_cur.tv_nsec == s->cur_stamp.tv_nsec)
		return;
	snprintf(tmp, sizeof(tmp), "tmp/" CACHE_FILE ".%ld", (long)getpid());
	int fd = openat(s->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		plog(LOG_WARNING, "size cache: cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	/* Vouch for cur/'s listing only if every message is in cur/. */
	for (i = 0; i < s->n; i++)
		if (strncmp(s->msg[i].path, "cur/", 4) != 0)
			s->cur_stamp.tv_sec = s->cur_stamp.tv_nsec = 0;
	fprintf(f, CACHE_MAGIC_V3 "%lld %ld\n", (long long)s->cur_stamp.tv_sec,
		s->cur_stamp.tv_nsec);
	for (i = 0; i < s->n; i++) {
		const struct mdmsg *m = &s->msg[i];
		write_escaped(f, m->path + 4, strlen(m->path + 4));
		fprintf(f, " %llu\n", (unsigned long long)m->size);
	}
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0 || renameat(s->dfd, tmp, s->dfd, CACHE_FILE) < 0) {
		plog(LOG_WARNING, "size cache: cannot save: %s", strerror(errno));
		unlinkat(s->dfd, tmp, 0);
	}
}

/* cur/'s mtime, if it may vouch for the listing read next: the last change
 * is SETTLE_SECONDS old, so any later change gets another timestamp even on
 * file systems with coarse ones.  Zero otherwise.  Taken before reading. */
void mdx_cur_stamp(struct mailstore *s, struct timespec *mtime)
{
	struct stat st;
	struct timespec now;
	mtime->tv_sec = mtime->tv_nsec = 0;
	s->cur_stamp = *mtime;
	if (fstatat(s->dfd, "cur", &st, 0) < 0 || clock_gettime(CLOCK_REALTIME, &now) < 0)
		return;
	*mtime = st.st_mtim;
	if (st.st_mtim.tv_sec > 0 && st.st_mtim.tv_sec + SETTLE_SECONDS <= now.tv_sec)
		s->cur_stamp = st.st_mtim;
}

/* cur/ as the index lists it, when its mtime says nothing changed there
 * since.  0 if used; -1 to read the directory instead. */
int mdx_list_cur(struct mailstore *s, const struct timespec *mtime)
{
	size_t i;
	if (!s->cache_full_names || s->cache_cur.tv_sec == 0 ||
	    s->cache_cur.tv_sec != mtime->tv_sec || s->cache_cur.tv_nsec != mtime->tv_nsec)
		return -1;
	for (i = 0; i < s->ncent; i++) {
		const struct centry *ce = &s->cent[i];
		if (ce->nlen == 0 || ce->nlen > NAME_MAX || ce->key[0] == '.' ||
		    memchr(ce->key, '/', ce->nlen) || memchr(ce->key, '\0', ce->nlen))
			return -1;
	}
	for (i = 0; i < s->ncent; i++) {
		struct mdname m;
		if (mdname_parse(s->cent[i].key, &m) == 0)
			md_add_msg(s, "cur", s->cent[i].key, &m);
	}
	return 0;
}

static int order_cmp(const void *a, const void *b)
{
	const struct mdmsg *x = a, *y = b;
	struct mdname mx, my;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	/* mdname_order needs only these two fields: no re-parsing per compare. */
	memset(&mx, 0, sizeof(mx));
	memset(&my, 0, sizeof(my));
	mx.time = x->time;
	mx.unique_len = x->unique_len;
	my.time = y->time;
	my.unique_len = y->unique_len;
	return mdname_order(x->path + 4, &mx, y->path + 4, &my);
}

/* Known messages keep the index's order (placed by rank, no comparisons);
 * new ones follow in delivery (name) order. */
void mdx_order(struct mailstore *s)
{
	size_t i, k = 0, nnew = 0;
	long *slot;
	struct mdmsg *out;
	if (s->ncent == 0) {
		/* An empty mailbox has no array at all: qsort(NULL, 0) is
		 * undefined (UBSan, make asan). */
		if (s->n > 1)
			qsort(s->msg, s->n, sizeof(*s->msg), order_cmp);
		return;
	}
	slot = xmalloc(s->ncent * sizeof(*slot));
	for (i = 0; i < s->ncent; i++)
		slot[i] = -1;
	for (i = 0; i < s->n; i++) {
		uint32_t r = s->msg[i].rank;
		if (r == UINT32_MAX)
			continue;
		if (slot[r] >= 0)
			s->msg[i].rank = UINT32_MAX; /* same name twice: treat as new */
		else
			slot[r] = (long)i;
	}
	out = xmalloc((s->n + 1) * sizeof(*out));
	for (i = 0; i < s->ncent; i++)
		if (slot[i] >= 0)
			out[k++] = s->msg[slot[i]];
	for (i = 0; i < s->n; i++)
		if (s->msg[i].rank == UINT32_MAX)
			out[k + nnew++] = s->msg[i];
	qsort(out + k, nnew, sizeof(*out), order_cmp);
	free(slot);
	free(s->msg);
	s->msg = out;
	s->cap = s->n + 1;
}
