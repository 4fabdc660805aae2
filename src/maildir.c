/* maildir.c - the Maildir provider of the mailstore interface: open and
 * lock, scan, stream a message, commit.  Runs in the mail process, as the
 * mailbox owner.  Every path is relative to a descriptor of the Maildir
 * (openat and friends); the working directory is not changed.
 *
 * Snapshot at open: stale tmp/ files are swept (maildir_sweep.c), cur/ is
 * scanned, then each new/ message is moved to cur/NAME:2, and appended, so a
 * message is never listed twice.  Order is delivery order (mdname_order).
 * Sizes come from ,W= or from the size cache (maildir_index.c); the rest
 * are counted once by reading the file.  Files are opened O_NOFOLLOW and
 * must be regular files owned by the mailbox owner.  RETR and TOP stream
 * the file with msgstream.c.
 *
 * No rename here replaces a file (md_rename_noreplace): a message is never
 * lost to a name clash.  Two files with the same unique part (a restore,
 * another MDA) would share a UIDL: all but one are renamed to a unique part
 * of their own at login (maildir_dups.c), so UIDLs stay unique and stable.
 * UPDATE appends a maildirsize line per removed message (maildirsize.c). */
#include "maildir_impl.h"
#include "log.h"
#include "maildirsize.h"
#include "mdname.h"
#include "msgencode.h"
#include "netio.h"
#include "uidl_map.h"
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

/* ---- opening files safely ---- */

static int open_regular(int dfd, const char *path, uid_t owner, struct stat *st)
{
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
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

static int count_size(int dfd, const char *path, uid_t owner, uint64_t *size)
{
	static char buf[128 * 1024];
	struct stat st;
	struct msgsize ms;
	ssize_t r;
	int fd = open_regular(dfd, path, owner, &st);
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
int md_rename_noreplace(int dfd, const char *from, const char *to)
{
	if (renameat2(dfd, from, dfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(dfd, from, dfd, to, 0) < 0)
		return -1;
	if (unlinkat(dfd, from, 0) < 0) {
		/* Both names would be served next time, twice: take the new
		 * one back and report the failure. */
		int e = errno;
		(void)unlinkat(dfd, to, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* ---- scanning ---- */

char *md_name_alloc(struct mailstore *s, size_t len)
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
void md_set_path(struct mailstore *s, struct mdmsg *x, const char *dir,
		     const char *name, const struct mdname *m)
{
	size_t dl = strlen(dir), nl = strlen(name);
	x->path = md_name_alloc(s, dl + 1 + nl + 1);
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

struct mdmsg *md_add_msg(struct mailstore *s, const char *dir, const char *name,
			     const struct mdname *m)
{
	struct mdmsg *x;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->msg = xrealloc(s->msg, s->cap * sizeof(*s->msg));
	}
	x = &s->msg[s->n++];
	memset(x, 0, sizeof(*x));
	md_set_path(s, x, dir, name, m);
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

/* A subdirectory of the Maildir, for reading; flags: O_NOFOLLOW or 0. */
DIR *md_open_sub(const struct mailstore *s, const char *dir, int flags)
{
	int fd = openat(s->dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

static int scan_dir(struct mailstore *s, const char *dir, int move_to_cur)
{
	DIR *d = md_open_sub(s, dir, 0);
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
			if (md_rename_noreplace(s->dfd, from, to) == 0) {
				mdname_parse(newname, &m);
				md_add_msg(s, "cur", newname, &m)->from_new = 1;
				continue;
			}
			if (errno == ENOENT)
				continue; /* taken by another reader */
			plog(LOG_WARNING, "maildir: cannot move %s to cur/: %s; serving it from new/",
			     from, strerror(errno));
		}
		md_add_msg(s, dir, de->d_name, &m)->from_new = (unsigned char)move_to_cur;
	}
	closedir(d);
	return 0;
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
	uidl_map_free(s->imp);
	msgstream_free(&s->out);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->dfd >= 0)
		close(s->dfd);
	free(s);
}

static int ensure_maildir(const struct mailstore *s)
{
	static const char *sub[] = { "cur", "new", "tmp" };
	size_t i;
	for (i = 0; i < 3; i++)
		if (mkdirat(s->dfd, sub[i], 0700) < 0 && errno != EEXIST)
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
	s->dfd = -1;
	s->owner = o->owner;
	/* A descriptor (O_PATH: search right only, as chdir needed) that every
	 * path of this store is relative to; the working directory is left
	 * alone. */
	s->dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		if (errno != ENOENT || mkdir(path, 0700) < 0 ||
		    (s->dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(err, errcap, "cannot open Maildir %s: %s", path, strerror(errno));
			free_store(s);
			return MS_TEMP;
		}
	}
	if (ensure_maildir(s) < 0) {
		snprintf(err, errcap, "cannot create cur/new/tmp in %s: %s", path, strerror(errno));
		free_store(s);
		return MS_TEMP;
	}
	/* One session per mailbox: a POSIX record lock, released by the kernel
	 * when the holder dies, and honoured by NFSv4 servers. */
	s->lock_fd = openat(s->dfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
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
	md_sweep_tmp(s);
	if (o->size_cache)
		mdx_load(s);
	if (o->uidl_import) {
		const char *source;
		s->imp = uidl_map_open(s->dfd, s->owner, o->uidl_format, 1, &source);
	}
	mdx_cur_stamp(s, &cur_mtime);
	if ((mdx_list_cur(s, &cur_mtime) < 0 && scan_dir(s, "cur", 0) < 0) ||
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
	ndup = md_mark_dups(s);
	for (i = 0, kept = 0, known = 0; i < s->n; i++) {
		struct mdmsg *m = &s->msg[i];
		long ci = mdx_find(s, m);
		m->rank = ci >= 0 ? (uint32_t)ci : UINT32_MAX;
		if (ci >= 0)
			known++;
		if (!m->has_w) {
			if (ci >= 0) {
				m->size = s->cent[ci].size;
			} else if (count_size(s->dfd, m->path, s->owner, &m->size) < 0) {
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
		total -= md_resolve_dups(s);
	mdx_order(s);
	if (o->max_bytes && total > o->max_bytes) {
		snprintf(err, errcap, "mailbox holds %llu octets, limit is %llu",
			 (unsigned long long)total, (unsigned long long)o->max_bytes);
		free_store(s);
		return MS_TOOBIG;
	}
	if (o->size_cache)
		mdx_save(s, known);
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
	const char *old;
	if (m->alt_uidl)
		return m->alt_uidl;
	/* The UIDL a previous server handed out, if any (uidl_map.c). */
	if (s->imp && (old = uidl_map_get(s->imp, m->path + 4, m->base_len)))
		return old;
	if (m->uidl_ok) {
		memcpy(buf, m->path + 4, m->unique_len);
		buf[m->unique_len] = '\0';
	} else {
		struct mdname mn;
		mdname_parse(m->path + 4, &mn);
		mdname_uidl(m->path + 4, &mn, buf);
	}
	/* A newer message must not get a UIDL a client has seen for an
	 * old one: it gets the digest of its unique part instead. */
	if (s->imp && uidl_map_taken(s->imp, buf, strlen(buf)))
		mdname_digest(m->path + 4, m->unique_len, buf);
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
	DIR *d = md_open_sub(s, "cur", 0);
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
	m->path = md_name_alloc(s, len + 5);
	memcpy(m->path, "cur/", 4);
	memcpy(m->path + 4, found, len + 1);
	return 0;
}

static enum ms_stream md_stream(struct mailstore *s, size_t i, int64_t top_lines,
				struct conn *c, const char *head, size_t headlen,
				uint64_t *stored)
{
	struct stat st;
	int rc, e;
	int fd = open_regular(s->dfd, s->msg[i].path, s->owner, &st);
	if (fd < 0 && errno == ENOENT && relocate(s, &s->msg[i]) == 0)
		fd = open_regular(s->dfd, s->msg[i].path, s->owner, &st);
	if (fd < 0)
		return MS_NOT_SENT;
	*stored = (uint64_t)st.st_size;
	/* Only a big message is read in more than one go. */
	if (st.st_size >= 1024 * 1024)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	conn_put(c, head, headlen);
	rc = msgstream_send(&s->out, fd, 0, (uint64_t)st.st_size, top_lines, c);
	e = errno;
	close(fd);
	errno = e;
	return rc < 0 ? MS_BROKEN : MS_SENT;
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

/* What a removed message counted for in maildirsize: its ,S= size, as the
 * recalculation counts it, else the file's. */
static uint64_t quota_size(const struct mdmsg *m, const struct stat *st)
{
	struct mdname mn;
	if (mdname_parse(m->path + 4, &mn) == 0 && mn.has_s)
		return mn.s_size;
	return (uint64_t)st->st_size;
}

static enum ms_status md_commit(struct mailstore *s, const unsigned char *deleted,
				const unsigned char *seen, struct commit_result *r)
{
	size_t i;
	struct maildirsize quota = { -1, 0 };

	memset(r, 0, sizeof(*r));
	for (i = 0; i < s->n; i++)
		if (deleted[i]) {
			maildirsize_open(s->dfd, &quota);
			break;
		}
	for (i = 0; i < s->n; i++) {
		struct mdmsg *m = &s->msg[i];
		if (deleted[i]) {
			struct stat st;
			st.st_size = 0;
			if (fstatat(s->dfd, m->path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
			    (relocate(s, m) < 0 ||
			     fstatat(s->dfd, m->path, &st, AT_SYMLINK_NOFOLLOW) < 0)) {
				r->deleted++; /* already gone: not an error */
				continue;
			}
			/* Only what this unlink removed leaves the quota: a
			 * message someone else removed was theirs to count. */
			if (unlinkat(s->dfd, m->path, 0) == 0) {
				r->deleted++;
				r->deleted_bytes += m->size;
				maildirsize_removed(&quota, quota_size(m, &st));
			} else if (errno == ENOENT) {
				r->deleted++;
				r->deleted_bytes += m->size;
			} else {
				plog(LOG_ERR, "maildir: cannot delete %s: %s", m->path, strerror(errno));
				r->failed++;
			}
		} else if (seen[i]) {
			/* No-replace: a file that has the new name already
			 * (same unique part) is another message.  On any
			 * failure the message keeps its name, unflagged. */
			char *to = with_seen_flag(m);
			int rc = to ? md_rename_noreplace(s->dfd, m->path, to) : 0;
			if (rc < 0 && errno == ENOENT && relocate(s, m) == 0) {
				free(to);
				to = with_seen_flag(m);
				rc = to ? md_rename_noreplace(s->dfd, m->path, to) : 0;
			}
			if (rc < 0 && errno != ENOENT)
				plog(LOG_WARNING, "maildir: cannot flag %s: %s", m->path, strerror(errno));
			free(to);
		}
	}
	maildirsize_close(&quota);
	return r->failed ? MS_TEMP : MS_OK;
}

static enum ms_status md_delete_now(struct mailstore *s, size_t i)
{
	struct mdmsg *m = &s->msg[i];
	struct maildirsize quota = { -1, 0 };
	struct stat st;
	if (fstatat(s->dfd, m->path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
	    (relocate(s, m) < 0 || fstatat(s->dfd, m->path, &st, AT_SYMLINK_NOFOLLOW) < 0))
		return MS_OK;   /* already gone: not an error */
	if (unlinkat(s->dfd, m->path, 0) < 0) {
		if (errno == ENOENT)
			return MS_OK;
		plog(LOG_ERR, "maildir: cannot delete %s: %s", m->path, strerror(errno));
		return MS_TEMP;
	}
	/* As in md_commit: only what this unlink removed leaves the quota. */
	maildirsize_open(s->dfd, &quota);
	maildirsize_removed(&quota, quota_size(m, &st));
	maildirsize_close(&quota);
	return MS_OK;
}

static void md_close(struct mailstore *s)
{
	free_store(s);
}

const struct mailstore_ops maildir_ops = {
	.open = md_open,
	.count = md_count,
	.size = md_size,
	.uidl = md_uidl,
	.stream = md_stream,
	.commit = md_commit,
	.delete_now = md_delete_now,
	.close = md_close,
};
