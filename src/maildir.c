/* maildir.c - the Maildir provider of the mailstore interface.  Runs in the
 * mail process, as the mailbox owner, with the Maildir as working directory.
 *
 * Snapshot at open: cur/ is scanned, then each new/ message is moved to
 * cur/NAME:2, and appended, so a message is never listed twice.  Order is
 * delivery order (mdname_order).  Sizes come from ,W= or from the size cache
 * (file postern-sizes, keyed by the whole name; see cache_find); the rest
 * are counted once by reading the file.  Files are opened O_NOFOLLOW and
 * must be regular files owned by the mailbox owner.
 *
 * No rename here replaces a file (rename_noreplace): a message is never
 * lost to a name clash.  Two files with the same unique part (a restore,
 * another MDA) would share a UIDL: all but one are renamed to a unique part
 * of their own at login (resolve_dups), so UIDLs stay unique and stable. */
#include "mailstore.h"
#include "log.h"
#include "mdname.h"
#include "msgencode.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_FILE "postern.lock"
#define CACHE_FILE "postern-sizes"
#define CACHE_MAGIC_V2 "postern-sizes 2\n"
#define CACHE_MAGIC_V3 "postern-sizes 3 "
/* cur/ unchanged for this long before a scan may be trusted later (see
 * cur_stamp). */
#define SETTLE_SECONDS 2

struct mdmsg {
	char *path;            /* "cur/NAME" or "new/NAME" */
	uint64_t size;         /* octets as sent */
	uint64_t time;         /* from the name, for ordering */
	unsigned short unique_len;
	unsigned short base_len;
	unsigned char has_w;   /* size came from ,W= */
	uint32_t rank;         /* position in the index; UINT32_MAX when new */
	unsigned char uidl_ok; /* the unique part is usable as UIDL as it is */
	unsigned char from_new; /* was in new/ at login */
	unsigned char dup;     /* another message had the same unique part */
	char *alt_uidl;        /* a dup that could not be renamed: its UIDL */
};

struct centry {
	const char *key;       /* the name (in cache_buf); hashed up to ':' */
	size_t klen;
	size_t nlen;           /* whole name; v2 files have keys only */
	uint64_t size;
};

/* File names live in a chain of blocks freed together: a 100,000-message
 * mailbox costs a few allocations, not one per message. */
struct name_block {
	struct name_block *next;
	size_t used, cap;
	char data[];
};

struct mailstore {
	struct name_block *names;
	struct mdmsg *msg;
	size_t n, cap;
	int lock_fd;
	uid_t owner;
	/* the index file (cache_load) */
	char *cache_buf;
	int cache_full_names;  /* v3: lines carry whole names of cur/ */
	struct timespec cache_cur;  /* v3: cur/'s mtime the index vouches for */
	struct timespec cur_stamp;  /* what this session can vouch for (cur_stamp()) */
	struct centry *cent;   /* entries in file order */
	size_t ncent;
	uint32_t *ctab;        /* open addressing: 1 + index into cent, 0 empty */
	size_t csize;          /* slots, a power of two */
	int renamed;           /* resolve_dups renamed a file: rewrite the index */
};

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

/* Eight bytes a step: a warm login hashes every name twice. */
static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
	while (n >= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

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

static void cache_load(struct mailstore *s)
{
	int fd = open(CACHE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
			for (i = hash_str(p, ce->klen) & (s->csize - 1); s->ctab[i];
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
static long cache_find(const struct mailstore *s, const struct mdmsg *m)
{
	const char *name = m->path + 4;
	size_t len = m->base_len, nlen = strlen(name), i;
	long base_match = -1;
	unsigned nbase = 0;
	if (!s->ctab)
		return -1;
	for (i = hash_str(name, len) & (s->csize - 1); s->ctab[i];
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
static void cache_save(struct mailstore *s, size_t known)
{
	char tmp[64];
	FILE *f;
	size_t i;
	if (!s->renamed && known == s->n && known == s->ncent && s->cache_full_names &&
	    s->cache_cur.tv_sec == s->cur_stamp.tv_sec &&
	    s->cache_cur.tv_nsec == s->cur_stamp.tv_nsec)
		return;
	snprintf(tmp, sizeof(tmp), "tmp/" CACHE_FILE ".%ld", (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
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
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0 || rename(tmp, CACHE_FILE) < 0) {
		plog(LOG_WARNING, "size cache: cannot save: %s", strerror(errno));
		unlink(tmp);
	}
}

/* ---- opening files safely ---- */

static int open_regular(const char *path, uid_t owner, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (st->st_uid != owner) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	/* O_NONBLOCK only guarded against FIFOs: it has no effect on reading a
	 * regular file, so it stays (one system call less per message). */
	return fd;
}

static int count_size(const char *path, uid_t owner, uint64_t *size)
{
	static char buf[128 * 1024];
	struct stat st;
	struct msgsize ms;
	ssize_t r;
	int fd = open_regular(path, owner, &st);
	if (fd < 0)
		return -1;
	msgsize_init(&ms);
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		msgsize_chunk(&ms, buf, (size_t)r);
	}
	close(fd);
	*size = msgsize_total(&ms);
	return 0;
}

/* rename() that never replaces an existing file: -1 with EEXIST when to
 * exists.  A file system without RENAME_NOREPLACE gets link() + unlink(),
 * which cannot replace either. */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) < 0)
		return -1;
	if (unlink(from) < 0) {
		/* Both names would be served next time, twice: take the new
		 * one back and report the failure. */
		int e = errno;
		(void)unlink(to);
		errno = e;
		return -1;
	}
	return 0;
}

/* ---- scanning ---- */

static char *name_alloc(struct mailstore *s, size_t len)
{
	struct name_block *b = s->names;
	if (!b || b->cap - b->used < len) {
		size_t cap = len > 256 * 1024 ? len : 256 * 1024;
		b = xmalloc(sizeof(*b) + cap);
		b->next = s->names;
		b->used = 0;
		b->cap = cap;
		s->names = b;
	}
	b->used += len;
	return b->data + b->used - len;
}

/* x->path = dir/name, and the fields that come from the name. */
static void set_path(struct mailstore *s, struct mdmsg *x, const char *dir,
		     const char *name, const struct mdname *m)
{
	size_t dl = strlen(dir), nl = strlen(name);
	x->path = name_alloc(s, dl + 1 + nl + 1);
	memcpy(x->path, dir, dl);
	x->path[dl] = '/';
	memcpy(x->path + dl + 1, name, nl + 1);
	x->unique_len = (unsigned short)(m->unique_len > 0xffff ? 0xffff : m->unique_len);
	x->base_len = (unsigned short)(m->base_len > 0xffff ? 0xffff : m->base_len);
	x->uidl_ok = m->unique_len >= 1 && m->unique_len <= UIDL_MAX;
	for (size_t k = 0; x->uidl_ok && k < m->unique_len; k++)
		if ((unsigned char)name[k] < 0x21 || (unsigned char)name[k] > 0x7e)
			x->uidl_ok = 0;
}

static struct mdmsg *add_msg(struct mailstore *s, const char *dir, const char *name,
			     const struct mdname *m)
{
	struct mdmsg *x;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->msg = xrealloc(s->msg, s->cap * sizeof(*s->msg));
	}
	x = &s->msg[s->n++];
	memset(x, 0, sizeof(*x));
	set_path(s, x, dir, name, m);
	x->time = m->time;
	if (m->has_w) {
		x->size = m->w_size;
		x->has_w = 1;
	}
	return x;
}

static int entry_is_regular(DIR *d, const struct dirent *de, const char *dir)
{
	struct stat st;
	if (de->d_type == DT_REG)
		return 1;
	if (de->d_type == DT_UNKNOWN &&
	    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode))
		return 1;
	plog(LOG_WARNING, "maildir: skipping %s/%s: not a regular file", dir, de->d_name);
	return 0;
}

static int scan_dir(struct mailstore *s, const char *dir, int move_to_cur)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct mdname m;
		if (mdname_parse(de->d_name, &m) < 0)
			continue; /* ".", "..", dot files */
		if (!entry_is_regular(d, de, dir))
			continue;
		if (move_to_cur) {
			char from[PATH_MAX], to[PATH_MAX], newname[NAME_MAX + 8];
			snprintf(from, sizeof(from), "new/%s", de->d_name);
			if (strchr(de->d_name, ':'))
				snprintf(newname, sizeof(newname), "%s", de->d_name);
			else
				snprintf(newname, sizeof(newname), "%s:2,", de->d_name);
			snprintf(to, sizeof(to), "cur/%s", newname);
			/* cur/ may hold that name already (a restore): then
			 * the message stays in new/, served from there. */
			if (rename_noreplace(from, to) == 0) {
				mdname_parse(newname, &m);
				add_msg(s, "cur", newname, &m)->from_new = 1;
				continue;
			}
			if (errno == ENOENT)
				continue; /* taken by another reader */
			plog(LOG_WARNING, "maildir: cannot move %s to cur/: %s; serving it from new/",
			     from, strerror(errno));
		}
		add_msg(s, dir, de->d_name, &m)->from_new = (unsigned char)move_to_cur;
	}
	closedir(d);
	return 0;
}

/* cur/'s mtime, if it may vouch for the listing read next: the last change
 * is SETTLE_SECONDS old, so any later change gets another timestamp even on
 * file systems with coarse ones.  Zero otherwise.  Taken before reading. */
static void cur_stamp(struct mailstore *s, struct timespec *mtime)
{
	struct stat st;
	struct timespec now;
	mtime->tv_sec = mtime->tv_nsec = 0;
	s->cur_stamp = *mtime;
	if (stat("cur", &st) < 0 || clock_gettime(CLOCK_REALTIME, &now) < 0)
		return;
	*mtime = st.st_mtim;
	if (st.st_mtim.tv_sec > 0 && st.st_mtim.tv_sec + SETTLE_SECONDS <= now.tv_sec)
		s->cur_stamp = st.st_mtim;
}

/* cur/ as the index lists it, when its mtime says nothing changed there
 * since.  0 if used; -1 to read the directory instead. */
static int list_cur_from_index(struct mailstore *s, const struct timespec *mtime)
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
			add_msg(s, "cur", s->cent[i].key, &m);
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
static void order_messages(struct mailstore *s)
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

/* ---- messages that share a unique part ----
 *
 * Maildir says the unique part names one message, and the UIDL is made of
 * it; a restore or another MDA can still leave cur/U:2,S next to new/U.  One
 * keeps U: the one the index knew first, else one that was in cur/ already,
 * else the first name.  The others get a unique part of their own,
 * "U.dupK", by a no-replace rename in their directory: their UIDL is then
 * stable from this session on, whatever happens to their flags.  (A digest
 * of the name would change with every flag change, and which file keeps U
 * could flip.)  Where the rename fails, the UIDL of that file is a digest
 * of its path for this session: unique, if not stable. */

static int same_unique(const struct mdmsg *a, const char *name, size_t len)
{
	return a->unique_len == len && memcmp(a->path + 4, name, len) == 0;
}

/* An open-addressing table of 1 + message index, at most 1/factor full. */
static uint32_t *utab_new(size_t n, size_t factor, size_t *size)
{
	for (*size = 64; *size < n * factor; *size *= 2)
		;
	return xcalloc(*size, sizeof(uint32_t));
}

static void utab_add(const struct mailstore *s, uint32_t *tab, size_t size, size_t i)
{
	const struct mdmsg *m = &s->msg[i];
	size_t j;
	for (j = hash_str(m->path + 4, m->unique_len) & (size - 1); tab[j]; j = (j + 1) & (size - 1))
		;
	tab[j] = (uint32_t)i + 1;
}

/* Mark the messages whose unique part another one has; how many. */
static size_t mark_dups(struct mailstore *s)
{
	size_t size, i, j, ndup = 0;
	uint32_t *tab;
	if (s->n < 2)
		return 0;
	tab = utab_new(s->n, 2, &size);
	for (i = 0; i < s->n; i++) {
		struct mdmsg *m = &s->msg[i];
		for (j = hash_str(m->path + 4, m->unique_len) & (size - 1); tab[j];
		     j = (j + 1) & (size - 1)) {
			struct mdmsg *o = &s->msg[tab[j] - 1];
			if (same_unique(o, m->path + 4, m->unique_len)) {
				ndup += !o->dup + !m->dup;
				o->dup = m->dup = 1;
			}
		}
		tab[j] = (uint32_t)i + 1;
	}
	free(tab);
	return ndup;
}

/* Does a keep the unique part rather than b? */
static int keeps_unique(const struct mdmsg *a, const struct mdmsg *b)
{
	int c;
	if (a->rank != b->rank)
		return a->rank < b->rank;
	if (a->from_new != b->from_new)
		return !a->from_new;
	c = strcmp(a->path + 4, b->path + 4);
	return c ? c < 0 : strcmp(a->path, b->path) < 0;
}

static int unique_taken(const struct mailstore *s, const uint32_t *tab, size_t size,
			const char *name, size_t len)
{
	size_t j;
	for (j = hash_str(name, len) & (size - 1); tab[j]; j = (j + 1) & (size - 1))
		if (same_unique(&s->msg[tab[j] - 1], name, len))
			return 1;
	return 0;
}

/* Give message i a unique part of its own; 0 if renamed. */
static int rename_dup(struct mailstore *s, size_t i, const uint32_t *tab, size_t size)
{
	struct mdmsg *m = &s->msg[i];
	char name[NAME_MAX + 1], to[PATH_MAX], dir[4];
	struct mdname mn, nn;
	unsigned k;

	memcpy(dir, m->path, 3);
	dir[3] = '\0';
	mdname_parse(m->path + 4, &mn);
	errno = EEXIST;
	for (k = 1; k <= 1000; k++) {
		if (mdname_dup_name(m->path + 4, &mn, k, name, sizeof(name)) < 0) {
			errno = ENAMETOOLONG;
			break;
		}
		mdname_parse(name, &nn);
		if (unique_taken(s, tab, size, name, nn.unique_len))
			continue;
		snprintf(to, sizeof(to), "%s/%s", dir, name);
		if (rename_noreplace(m->path, to) == 0) {
			plog(LOG_NOTICE, "maildir: %s has the unique part of another message: renamed to %s",
			     m->path, to);
			set_path(s, m, dir, name, &nn);
			m->dup = 0;
			s->renamed = 1;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	plog(LOG_WARNING, "maildir: cannot rename %s, which has the unique part of another message: %s",
	     m->path, strerror(errno));
	m->alt_uidl = name_alloc(s, 41);
	mdname_digest(m->path, strlen(m->path), m->alt_uidl);
	return -1;
}

static void resolve_dups(struct mailstore *s)
{
	size_t size, i, j;
	/* Room for every message twice: a renamed one is added again. */
	uint32_t *tab = utab_new(s->n, 4, &size);
	for (i = 0; i < s->n; i++)
		utab_add(s, tab, size, i);
	for (i = 0; i < s->n; i++) {
		const struct mdmsg *m = &s->msg[i], *best = m;
		if (!m->dup)
			continue;
		for (j = hash_str(m->path + 4, m->unique_len) & (size - 1); tab[j];
		     j = (j + 1) & (size - 1)) {
			const struct mdmsg *o = &s->msg[tab[j] - 1];
			if (o != m && same_unique(o, m->path + 4, m->unique_len) &&
			    keeps_unique(o, best))
				best = o;
		}
		if (best != m && rename_dup(s, i, tab, size) == 0)
			utab_add(s, tab, size, i);
	}
	free(tab);
}

static void free_store(struct mailstore *s)
{
	while (s->names) {
		struct name_block *next = s->names->next;
		free(s->names);
		s->names = next;
	}
	free(s->msg);
	free(s->ctab);
	free(s->cent);
	free(s->cache_buf);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

static int ensure_maildir(void)
{
	static const char *sub[] = { "cur", "new", "tmp" };
	size_t i;
	for (i = 0; i < 3; i++)
		if (mkdir(sub[i], 0700) < 0 && errno != EEXIST)
			return -1;
	return 0;
}

static enum ms_status md_open(const char *path, const struct mailstore_opts *o,
			      struct mailstore **out, char *err, size_t errcap)
{
	struct mailstore *s = xcalloc(1, sizeof(*s));
	struct flock fl;
	struct timespec cur_mtime;
	size_t i, kept, known, ndup;
	uint64_t total = 0;

	s->lock_fd = -1;
	s->owner = o->owner;
	if (chdir(path) < 0) {
		if (errno != ENOENT || mkdir(path, 0700) < 0 || chdir(path) < 0) {
			snprintf(err, errcap, "cannot open Maildir %s: %s", path, strerror(errno));
			free_store(s);
			return MS_TEMP;
		}
	}
	if (ensure_maildir() < 0) {
		snprintf(err, errcap, "cannot create cur/new/tmp in %s: %s", path, strerror(errno));
		free_store(s);
		return MS_TEMP;
	}
	/* One session per mailbox: a POSIX record lock, released by the kernel
	 * when the holder dies, and honoured by NFSv4 servers. */
	s->lock_fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		snprintf(err, errcap, "cannot open lock file: %s", strerror(errno));
		free_store(s);
		return MS_TEMP;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(s->lock_fd, F_SETLK, &fl) < 0) {
		int e = errno;
		free_store(s);
		if (e == EACCES || e == EAGAIN) {
			snprintf(err, errcap, "mailbox is locked by another session");
			return MS_INUSE;
		}
		snprintf(err, errcap, "cannot lock mailbox: %s", strerror(e));
		return MS_TEMP;
	}
	if (o->size_cache)
		cache_load(s);
	cur_stamp(s, &cur_mtime);
	if ((list_cur_from_index(s, &cur_mtime) < 0 && scan_dir(s, "cur", 0) < 0) ||
	    scan_dir(s, "new", 1) < 0) {
		snprintf(err, errcap, "cannot read Maildir: %s", strerror(errno));
		free_store(s);
		return MS_TEMP;
	}
	if (o->max_messages && s->n > o->max_messages) {
		snprintf(err, errcap, "mailbox has %zu messages, limit is %llu", s->n,
			 (unsigned long long)o->max_messages);
		free_store(s);
		return MS_TOOBIG;
	}
	ndup = mark_dups(s);
	for (i = 0, kept = 0, known = 0; i < s->n; i++) {
		struct mdmsg *m = &s->msg[i];
		long ci = cache_find(s, m);
		m->rank = ci >= 0 ? (uint32_t)ci : UINT32_MAX;
		if (ci >= 0)
			known++;
		if (!m->has_w) {
			if (ci >= 0) {
				m->size = s->cent[ci].size;
			} else if (count_size(m->path, s->owner, &m->size) < 0) {
				if (errno != ENOENT)
					plog(LOG_WARNING, "maildir: skipping %s: %s", m->path,
					     errno == EINVAL ? "not a regular file" :
					     errno == EPERM ? "not owned by the mailbox owner" :
					     strerror(errno));
				continue;
			}
		}
		total += m->size;
		s->msg[kept++] = *m;
	}
	s->n = kept;
	if (ndup)
		resolve_dups(s);
	order_messages(s);
	if (o->max_bytes && total > o->max_bytes) {
		snprintf(err, errcap, "mailbox holds %llu octets, limit is %llu",
			 (unsigned long long)total, (unsigned long long)o->max_bytes);
		free_store(s);
		return MS_TOOBIG;
	}
	if (o->size_cache)
		cache_save(s, known);
	*out = s;
	return MS_OK;
}

static size_t md_count(const struct mailstore *s)
{
	return s->n;
}

static uint64_t md_size(const struct mailstore *s, size_t i)
{
	return s->msg[i].size;
}

static const char *md_uidl(const struct mailstore *s, size_t i)
{
	static char buf[UIDL_MAX + 1];
	const struct mdmsg *m = &s->msg[i];
	if (m->alt_uidl)
		return m->alt_uidl;
	if (m->uidl_ok) {
		memcpy(buf, m->path + 4, m->unique_len);
		buf[m->unique_len] = '\0';
	} else {
		struct mdname mn;
		mdname_parse(m->path + 4, &mn);
		mdname_uidl(m->path + 4, &mn, buf);
	}
	return buf;
}

/* Is name (in cur/) the file of a message of the snapshot other than m? */
static int held_by_other(const struct mailstore *s, const struct mdmsg *m, const char *name)
{
	size_t i;
	for (i = 0; i < s->n; i++)
		if (&s->msg[i] != m && strncmp(s->msg[i].path, "cur/", 4) == 0 &&
		    strcmp(s->msg[i].path + 4, name) == 0)
			return 1;
	return 0;
}

/* A message whose flags were changed by another program since the snapshot
 * has a new name: find it in cur/ by the part before ':'.  Only a single
 * candidate is taken: with two, which one is m cannot be told, and DELE
 * must not remove the other message. */
static int relocate(struct mailstore *s, struct mdmsg *m)
{
	DIR *d = opendir("cur");
	struct dirent *de;
	const char *name = m->path + 4;
	char found[NAME_MAX + 1];
	size_t len = 0;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, name, m->base_len) != 0 ||
		    (de->d_name[m->base_len] != ':' && de->d_name[m->base_len] != '\0'))
			continue;
		/* Only a dup can meet the file of another message here. */
		if (m->dup && held_by_other(s, m, de->d_name))
			continue;
		if (++n > 1)
			break;
		len = strlen(de->d_name);
		memcpy(found, de->d_name, len + 1);
	}
	closedir(d);
	if (n != 1)
		return -1;
	m->path = name_alloc(s, len + 5);
	memcpy(m->path, "cur/", 4);
	memcpy(m->path + 4, found, len + 1);
	return 0;
}

static int md_open_msg(struct mailstore *s, size_t i, uint64_t *file_size)
{
	struct stat st;
	int fd = open_regular(s->msg[i].path, s->owner, &st);
	if (fd < 0 && errno == ENOENT && relocate(s, &s->msg[i]) == 0)
		fd = open_regular(s->msg[i].path, s->owner, &st);
	if (fd < 0)
		return -1;
	*file_size = (uint64_t)st.st_size;
	/* Only a big message is read in more than one go. */
	if (st.st_size >= 1024 * 1024)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return fd;
}

/* New name with flag 'S' added, flags kept in ASCII order. */
static char *with_seen_flag(const struct mdmsg *m)
{
	const char *name = m->path + 4;
	const char *colon = strchr(name, ':');
	const char *flags = (colon && colon[1] == '2' && colon[2] == ',') ? colon + 3 : "";
	size_t blen = colon ? (size_t)(colon - name) : strlen(name);
	size_t flen = strlen(flags), j = 0;
	char *out = xmalloc(4 + blen + 3 + flen + 2);
	char *p = out;
	if (strchr(flags, 'S')) {
		free(out);
		return NULL;
	}
	memcpy(p, "cur/", 4);
	p += 4;
	memcpy(p, name, blen);
	p += blen;
	memcpy(p, ":2,", 3);
	p += 3;
	while (j < flen && (unsigned char)flags[j] < 'S')
		*p++ = flags[j++];
	*p++ = 'S';
	while (j < flen)
		*p++ = flags[j++];
	*p = '\0';
	return out;
}

static void update_maildirsize(uint64_t bytes, unsigned count)
{
	char line[64];
	int fd = open("maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	int n = snprintf(line, sizeof(line), "-%llu -%u\n", (unsigned long long)bytes, count);
	if (write_all(fd, line, (size_t)n) < 0)
		plog(LOG_WARNING, "maildirsize: cannot update: %s", strerror(errno));
	close(fd);
}

static enum ms_status md_commit(struct mailstore *s, const unsigned char *deleted,
				const unsigned char *seen, struct commit_result *r)
{
	size_t i;
	uint64_t disk_bytes = 0;
	int quota = access("maildirsize", F_OK) == 0;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < s->n; i++) {
		struct mdmsg *m = &s->msg[i];
		if (deleted[i]) {
			struct stat st;
			st.st_size = 0;
			if (lstat(m->path, &st) < 0 && errno == ENOENT &&
			    (relocate(s, m) < 0 || lstat(m->path, &st) < 0)) {
				r->deleted++; /* already gone: not an error */
				continue;
			}
			if (unlink(m->path) == 0 || errno == ENOENT) {
				r->deleted++;
				r->deleted_bytes += m->size;
				disk_bytes += (uint64_t)st.st_size;
			} else {
				plog(LOG_ERR, "maildir: cannot delete %s: %s", m->path, strerror(errno));
				r->failed++;
			}
		} else if (seen[i]) {
			/* No-replace: a file that has the new name already
			 * (same unique part) is another message.  On any
			 * failure the message keeps its name, unflagged. */
			char *to = with_seen_flag(m);
			int rc = to ? rename_noreplace(m->path, to) : 0;
			if (rc < 0 && errno == ENOENT && relocate(s, m) == 0) {
				free(to);
				to = with_seen_flag(m);
				rc = to ? rename_noreplace(m->path, to) : 0;
			}
			if (rc < 0 && errno != ENOENT)
				plog(LOG_WARNING, "maildir: cannot flag %s: %s", m->path, strerror(errno));
			free(to);
		}
	}
	if (quota && r->deleted)
		update_maildirsize(disk_bytes, r->deleted);
	return r->failed ? MS_TEMP : MS_OK;
}

static void md_close(struct mailstore *s)
{
	free_store(s);
}

const struct mailstore_ops maildir_ops = {
	md_open, md_count, md_size, md_uidl, md_open_msg, md_commit, md_close,
};
