/* uidl_map.c - the UIDLs a previous server handed out, per Maildir.  Runs
 * in the mail process as the mailbox owner (at login, from maildir.c), and
 * in "postern -U" (read only).
 *
 * At the first login that finds no postern-uidls, dovecot-uidlist and
 * courierpop3dsizelist are read (uidl_import.c parses them), each entry's
 * UIDL is made as that server made it, and the result is written to
 * postern-uidls, even when empty: from then on only that file is read, so
 * the old files may go and a warm login reads one small file (or finds
 * none: three failed lookups for a Maildir that never had a previous
 * server).
 *
 * Uniqueness: an entry whose name or UIDL an earlier entry has is dropped
 * (the message gets postern's own UIDL) and logged, as is a UIDL that is not
 * 1-70 characters in 0x21-0x7e.  Where both old files exist, the newer one
 * (by mtime) is read first and wins. */
#include "uidl_map.h"
#include "log.h"
#include "uidl_import.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOVECOT_FILE "dovecot-uidlist"
#define COURIER_FILE "courierpop3dsizelist"
#define FILE_MAX ((off_t)256 << 20)
#define BAD_LOG_MAX 10    /* skipped lines logged per file */

struct uentry {
	size_t name, name_len;   /* offsets into pool */
	size_t uidl, uidl_len;
	uint32_t hname, huidl;   /* their hashes (low bits) */
};

struct uidl_map {
	char *pool;
	size_t pool_len, pool_cap;
	struct uentry *e;
	size_t n, cap;
	uint32_t *by_name, *by_uidl;  /* 1 + entry index, 0 empty */
	size_t tsize;
	const char *file;        /* being read, for log lines */
	unsigned bad;            /* lines skipped in it */
	unsigned dropped;        /* entries dropped (duplicate or unusable) */
	const char *fmt;
	int quiet;               /* postern -U: no syslog noise */
};

/* A warm login of a migrated mailbox hashes every entry twice and every
 * message once: util.c's name_hash, cut to the table's width. */
static uint32_t hash(const char *s, size_t n)
{
	return (uint32_t)name_hash(s, n);
}

static size_t pool_add(struct uidl_map *m, const char *s, size_t n)
{
	size_t off;
	if (m->pool_cap - m->pool_len < n + 1) {
		while (m->pool_cap - m->pool_len < n + 1)
			m->pool_cap = m->pool_cap ? m->pool_cap * 2 : 4096;
		m->pool = xrealloc(m->pool, m->pool_cap);
	}
	off = m->pool_len;
	memcpy(m->pool + off, s, n);
	m->pool[off + n] = '\0';
	m->pool_len += n + 1;
	return off;
}

static void add(struct uidl_map *m, const char *name, size_t nlen, const char *uidl, size_t ulen)
{
	struct uentry *x;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->e = xrealloc(m->e, m->cap * sizeof(*m->e));
	}
	x = &m->e[m->n++];
	x->name = pool_add(m, name, nlen);
	x->name_len = nlen;
	x->uidl = pool_add(m, uidl, ulen);
	x->uidl_len = ulen;
	x->hname = hash(name, nlen);
	x->huidl = hash(uidl, ulen);
}

/* The slot of s[0..n) (hash h) in tab: its entry, or the empty slot where
 * it would go. */
static size_t probe(const struct uidl_map *m, const uint32_t *tab, int by_uidl, const char *s,
		    size_t n, uint32_t h)
{
	size_t i;
	for (i = h & (m->tsize - 1); tab[i]; i = (i + 1) & (m->tsize - 1)) {
		const struct uentry *x = &m->e[tab[i] - 1];
		if ((by_uidl ? x->huidl : x->hname) != h ||
		    (by_uidl ? x->uidl_len : x->name_len) != n)
			continue;
		if (memcmp(m->pool + (by_uidl ? x->uidl : x->name), s, n) == 0)
			break;
	}
	return i;
}

/* Index the entries; the later of two with one name or one UIDL goes. */
static void build(struct uidl_map *m)
{
	size_t i, k = 0;
	for (m->tsize = 64; m->tsize < m->n * 2; m->tsize *= 2)
		;
	m->by_name = xcalloc(m->tsize, sizeof(uint32_t));
	m->by_uidl = xcalloc(m->tsize, sizeof(uint32_t));
	for (i = 0; i < m->n; i++) {
		struct uentry x = m->e[i];
		const char *name = m->pool + x.name, *uidl = m->pool + x.uidl;
		size_t sn = probe(m, m->by_name, 0, name, x.name_len, x.hname), su;
		if (m->by_name[sn])
			continue; /* the newer file's entry stands */
		su = probe(m, m->by_uidl, 1, uidl, x.uidl_len, x.huidl);
		if (m->by_uidl[su]) {
			if (!m->quiet)
				plog(LOG_WARNING, "uidl import: %s has UIDL %s a second time: "
				     "that message gets postern's own", name, uidl);
			m->dropped++;
			continue;
		}
		m->e[k] = x;
		m->by_name[sn] = m->by_uidl[su] = (uint32_t)k + 1;
		k++;
	}
	m->n = k;
}

const char *uidl_map_get(const struct uidl_map *m, const char *name, size_t len)
{
	size_t i = probe(m, m->by_name, 0, name, len, hash(name, len));
	return m->by_name[i] ? m->pool + m->e[m->by_name[i] - 1].uidl : NULL;
}

int uidl_map_taken(const struct uidl_map *m, const char *uidl, size_t len)
{
	return m->by_uidl[probe(m, m->by_uidl, 1, uidl, len, hash(uidl, len))] != 0;
}

size_t uidl_map_count(const struct uidl_map *m)
{
	return m->n;
}

void uidl_map_free(struct uidl_map *m)
{
	if (!m)
		return;
	free(m->pool);
	free(m->e);
	free(m->by_name);
	free(m->by_uidl);
	free(m);
}

/* The whole of a regular file owned by owner, NUL-terminated; NULL with
 * errno (ENOENT when absent). */
static char *read_file(int dirfd, const char *name, uid_t owner, size_t *len, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char *buf;
	size_t got = 0;
	ssize_t r;
	if (fd < 0)
		return NULL;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_uid != owner ||
	    st->st_size > FILE_MAX) {
		int e = errno;
		close(fd);
		errno = !S_ISREG(st->st_mode) ? EINVAL : st->st_uid != owner ? EPERM :
			st->st_size > FILE_MAX ? EFBIG : e;
		return NULL;
	}
	buf = xmalloc((size_t)st->st_size + 1);
	while (got < (size_t)st->st_size &&
	       (r = read(fd, buf + got, (size_t)st->st_size - got)) != 0) {
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

static void bad_line(void *ctx, unsigned line, const char *why)
{
	struct uidl_map *m = ctx;
	if (++m->bad <= BAD_LOG_MAX && !m->quiet)
		plog(LOG_WARNING, "uidl import: %s line %u skipped: %s", m->file, line, why);
}

static void unusable(struct uidl_map *m, const char *name, size_t nlen, const char *why)
{
	char safe[128];
	m->dropped++;
	if (!m->quiet)
		plog(LOG_WARNING, "uidl import: %s: %s: that message gets postern's own UIDL",
		     log_safe(safe, sizeof(safe), name, nlen), why);
}

static void dc_rec(void *ctx, const struct dc_header *h, const struct dc_record *r)
{
	struct uidl_map *m = ctx;
	char out[1024];
	int n;
	if (r->pop3_uidl) {
		/* A UIDL Dovecot saved for this message: served as it is. */
		if (!uidl_valid(r->pop3_uidl, r->pop3_uidl_len))
			unusable(m, r->base, r->base_len, "saved UIDL (P field) not 1-70 characters in 0x21-0x7e");
		else
			add(m, r->base, r->base_len, r->pop3_uidl, r->pop3_uidl_len);
		return;
	}
	struct uidl_vars v = { r->uid, h->uidvalidity, r->base, r->base_len, r->guid, r->guid_len };
	n = uidl_format_expand(m->fmt, &v, out, sizeof(out));
	if (n < 0 || !uidl_valid(out, (size_t)n))
		unusable(m, r->base, r->base_len, "UIDL from the format not 1-70 characters in 0x21-0x7e");
	else
		add(m, r->base, r->base_len, out, (size_t)n);
}

static void courier_rec(void *ctx, const struct courier_record *r)
{
	struct uidl_map *m = ctx;
	char out[1024];
	int n = courier_uidl(r, out, sizeof(out));
	if (n < 0 || !uidl_valid(out, (size_t)n))
		unusable(m, r->base, r->base_len, "Courier's UIDL not 1-70 characters in 0x21-0x7e");
	else
		add(m, r->base, r->base_len, out, (size_t)n);
}

static void uidls_rec(void *ctx, const char *name, size_t nlen, const char *uidl, size_t ulen)
{
	add(ctx, name, nlen, uidl, ulen);
}

/* Import one old file; 1 if it was there and usable. */
static int import(struct uidl_map *m, int dirfd, uid_t owner, const char *file)
{
	size_t len;
	struct stat st;
	long r;
	char *buf = read_file(dirfd, file, owner, &len, &st);
	if (!buf) {
		if (errno != ENOENT && !m->quiet)
			plog(LOG_WARNING, "uidl import: cannot read %s: %s", file,
			     errno == EPERM ? "not owned by the mailbox owner" : strerror(errno));
		return 0;
	}
	m->file = file;
	m->bad = 0;
	if (strcmp(file, DOVECOT_FILE) == 0)
		r = dovecot_uidlist_parse(buf, len, dc_rec, bad_line, m);
	else
		r = courier_sizelist_parse(buf, len, courier_rec, bad_line, m);
	if (r < 0 && !m->quiet)
		plog(LOG_WARNING, "uidl import: %s: not a file of the version postern reads; ignored", file);
	if (m->bad > BAD_LOG_MAX && !m->quiet)
		plog(LOG_WARNING, "uidl import: %s: %u lines skipped in all", file, m->bad);
	free(buf);
	return r >= 0;
}

static void save(const struct uidl_map *m, int dirfd, const char *source)
{
	char tmp[64], esc[1024];
	FILE *f;
	size_t i;
	int fd;
	snprintf(tmp, sizeof(tmp), "tmp/" UIDLS_FILE ".%ld", (long)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		plog(LOG_WARNING, "uidl import: cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	fprintf(f, UIDLS_MAGIC "%s\n", source);
	for (i = 0; i < m->n; i++)
		if (uidls_escape(m->pool + m->e[i].name, m->e[i].name_len, esc, sizeof(esc)) >= 0)
			fprintf(f, "%s %s\n", esc, m->pool + m->e[i].uidl);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
		plog(LOG_WARNING, "uidl import: cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		unlinkat(dirfd, tmp, 0);
		return;
	}
	if (fclose(f) != 0 || renameat(dirfd, tmp, dirfd, UIDLS_FILE) < 0) {
		plog(LOG_WARNING, "uidl import: cannot save " UIDLS_FILE ": %s", strerror(errno));
		unlinkat(dirfd, tmp, 0);
	}
}

static struct uidl_map *open_map(int dirfd, uid_t owner, const char *fmt, int save_it,
				 int quiet, const char **source)
{
	struct uidl_map *m = xcalloc(1, sizeof(*m));
	size_t len;
	struct stat st, sd, sc;
	char src[64];
	char *buf;
	int have_d, have_c, used = 0;

	m->fmt = fmt;
	m->quiet = quiet;
	buf = read_file(dirfd, UIDLS_FILE, owner, &len, &st);
	if (buf) {
		/* Room for all of it at once: no reallocation while reading. */
		m->pool_cap = len + 1;
		m->pool = xmalloc(m->pool_cap);
		m->cap = len / 16 + 16;
		m->e = xmalloc(m->cap * sizeof(*m->e));
		m->file = UIDLS_FILE;
		long r = uidls_file_parse(buf, len, src, sizeof(src), uidls_rec, bad_line, m);
		free(buf);
		if (r >= 0) {
			*source = UIDLS_FILE;
			build(m);
			goto done;
		}
		/* Damaged (it is written whole, by rename): import again if
		 * the old files are still there, else serve postern's own. */
		if (!quiet)
			plog(LOG_ERR, "uidl import: " UIDLS_FILE " has a bad header; not used");
	} else if (errno != ENOENT) {
		if (!quiet)
			plog(LOG_ERR, "uidl import: cannot read " UIDLS_FILE ": %s", strerror(errno));
		*source = "none (" UIDLS_FILE " unreadable)";
		uidl_map_free(m);
		return NULL;
	}

	have_d = fstatat(dirfd, DOVECOT_FILE, &sd, AT_SYMLINK_NOFOLLOW) == 0;
	have_c = fstatat(dirfd, COURIER_FILE, &sc, AT_SYMLINK_NOFOLLOW) == 0;
	if (!have_d && !have_c) {
		*source = "none";
		uidl_map_free(m);
		return NULL;
	}
	/* The newer file first: its entries win. */
	if (have_d && have_c && (sc.st_mtim.tv_sec > sd.st_mtim.tv_sec ||
				 (sc.st_mtim.tv_sec == sd.st_mtim.tv_sec &&
				  sc.st_mtim.tv_nsec > sd.st_mtim.tv_nsec))) {
		used |= import(m, dirfd, owner, COURIER_FILE) ? 2 : 0;
		used |= import(m, dirfd, owner, DOVECOT_FILE) ? 1 : 0;
	} else {
		if (have_d)
			used |= import(m, dirfd, owner, DOVECOT_FILE) ? 1 : 0;
		if (have_c)
			used |= import(m, dirfd, owner, COURIER_FILE) ? 2 : 0;
	}
	*source = used == 3 ? DOVECOT_FILE "+" COURIER_FILE : used == 1 ? DOVECOT_FILE :
		  used == 2 ? COURIER_FILE : "none (old files unusable)";
	build(m);
	if (!quiet)
		plog(LOG_NOTICE, "uidl import: %zu UIDLs from %s kept, %u entries dropped",
		     m->n, *source, m->dropped);
	if (save_it)
		save(m, dirfd, used == 3 ? "dovecot+courier" : used == 1 ? "dovecot" :
		     used == 2 ? "courier" : "none");

done:
	if (m->n == 0) {
		uidl_map_free(m);
		return NULL;
	}
	return m;
}

struct uidl_map *uidl_map_open(int dirfd, uid_t owner, const char *fmt, int save_it,
			       const char **source)
{
	return open_map(dirfd, owner, fmt, save_it, 0, source);
}

/* Count the messages of dir (cur or new) and those with an old UIDL. */
static int count_dir(int dirfd, const char *dir, const struct uidl_map *m,
		     size_t *total, size_t *kept)
{
	int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT ? 0 : -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(*total)++;
		if (m && uidl_map_get(m, de->d_name, strcspn(de->d_name, ":")))
			(*kept)++;
	}
	closedir(d);
	return 0;
}

int uidl_report(const char *maildir, const char *fmt, FILE *out)
{
	int dirfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	struct uidl_map *m;
	const char *source = "none";
	size_t total = 0, kept = 0;
	if (dirfd < 0 || fstat(dirfd, &st) < 0) {
		fprintf(stderr, "postern: %s: %s\n", maildir, strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
		return -1;
	}
	m = open_map(dirfd, st.st_uid, fmt, 0, 1, &source);
	if (count_dir(dirfd, "cur", m, &total, &kept) < 0 ||
	    count_dir(dirfd, "new", m, &total, &kept) < 0) {
		fprintf(stderr, "postern: %s: cannot list cur/ or new/: %s\n", maildir, strerror(errno));
		uidl_map_free(m);
		close(dirfd);
		return -1;
	}
	fprintf(out, "%s: %zu messages, %zu keep the UIDL of the previous server, "
		"%zu get postern's own (old UIDLs from: %s, %zu entries)\n",
		maildir, total, kept, total - kept, source, m ? uidl_map_count(m) : (size_t)0);
	uidl_map_free(m);
	close(dirfd);
	return 0;
}
