/* passwd_file.c - postern-passwd's reading and locked, atomic rewriting
 * of the credentials file: the whole file is read (a missing file is
 * empty; a symlink or a non-regular file is refused), edits are serialised
 * by an exclusive lock on FILE.lock, and the new contents land through a
 * temporary file in the same directory, given the original's owner and
 * mode, fsync'd and renamed over the original, then the directory fsync'd.
 *
 * Rights: those of postern-passwd, run by root or the file's owner; never
 * part of the daemon. */
#include "passwd_tool.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (64u << 20)       /* refuse to slurp anything bigger */
#define LOCK_WAIT_MS 5000

/* Read the whole file.  A missing file is empty with exists = 0. */
void load_file(const char *path, struct pwfile *f)
{
	int fd;
	size_t cap;

	memset(f, 0, sizeof(*f));
	/* Replacing a symlink by rename would turn it into a plain file. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT) {
			f->data = xstrdup("");
			return;
		}
		if (errno == ELOOP)
			die("%s is a symbolic link; give the path of the file itself", path);
		die("%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &f->st) < 0)
		die("%s: fstat: %s", path, strerror(errno));
	if (!S_ISREG(f->st.st_mode))
		die("%s is not a regular file", path);
	if ((uint64_t)f->st.st_size > FILE_MAX)
		die("%s is larger than %u bytes", path, FILE_MAX);
	cap = (size_t)f->st.st_size + 1;
	f->data = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;
		if (f->len == cap) {
			if (cap > FILE_MAX)
				die("%s is larger than %u bytes", path, FILE_MAX);
			cap *= 2;
			f->data = xrealloc(f->data, cap + 1);
		}
		r = read(fd, f->data + f->len, cap - f->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("%s: read: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		f->len += (size_t)r;
	}
	f->data[f->len] = '\0';
	if (close(fd) < 0)
		die("%s: close: %s", path, strerror(errno));
	f->exists = 1;
}

int next_line(const struct pwfile *f, size_t *pos, struct line *l)
{
	const char *nl;
	if (*pos >= f->len)
		return 0;
	l->p = f->data + *pos;
	nl = memchr(l->p, '\n', f->len - *pos);
	l->len = nl ? (size_t)(nl - l->p) : f->len - *pos;
	l->full = nl ? l->len + 1 : l->len;
	*pos += l->full;
	return 1;
}

/* The user field of an entry line: what precedes the first ':', after
 * leading blanks (as the daemon's parser reads it).  Comments, blank lines
 * and lines without ':' have none. */
int line_user(const struct line *l, const char **user, size_t *ulen)
{
	const char *p = l->p, *end = l->p + l->len, *colon;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return 0;
	colon = memchr(p, ':', (size_t)(end - p));
	if (!colon)
		return 0;
	*user = p;
	*ulen = (size_t)(colon - p);
	return 1;
}

int is_user(const struct line *l, const char *user, int nocase)
{
	const char *u;
	size_t ulen, n = strlen(user);
	if (!line_user(l, &u, &ulen) || ulen != n)
		return 0;
	return nocase ? strncasecmp(u, user, n) == 0 : memcmp(u, user, n) == 0;
}

/* Line number of the first line for user, 0 if none. */
unsigned find_user(const struct pwfile *f, const char *user, int nocase,
			  struct line *found)
{
	size_t pos = 0;
	unsigned lineno = 0;
	struct line l;
	while (next_line(f, &pos, &l)) {
		lineno++;
		if (is_user(&l, user, nocase)) {
			if (found)
				*found = l;
			return lineno;
		}
	}
	return 0;
}

void buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Free memory that held hashes or passwords, overwriting it first. */
void wipe_free(char *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

int lock_file(const char *path)
{
	size_t n = strlen(path) + sizeof(".lock");
	char *lpath = xmalloc(n);
	uint64_t deadline = now_ms() + LOCK_WAIT_MS;
	int fd;

	snprintf(lpath, n, "%s.lock", path);
	/* The lock file stays: removing it would let two editors lock two
	 * different files of the same name. */
	fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		die("%s: %s", lpath, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			die("%s: flock: %s", lpath, strerror(errno));
		if (now_ms() >= deadline)
			die("%s is locked by another " PROG "; try again later", lpath);
		sleep_ms(50);
	}
	free(lpath);
	return fd;
}

/* Owner and group for a file we create: root and group postern when run
 * as root, else whoever runs us (a test or a private setup). */
static void new_file_owner(uid_t *uid, gid_t *gid)
{
	struct group *gr;
	if (geteuid() != 0) {
		*uid = geteuid();
		*gid = getegid();
		return;
	}
	*uid = 0;
	gr = getgrnam("postern");
	*gid = gr ? gr->gr_gid : 0;
}

/* Replace path by the contents of b, atomically, keeping owner and mode. */
void write_file(const char *path, const struct pwfile *old, const struct buf *b)
{
	size_t n = strlen(path) + sizeof(".XXXXXX");
	char *dir, *slash;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	int fd, dfd;

	if (old->exists) {
		uid = old->st.st_uid;
		gid = old->st.st_gid;
		mode = old->st.st_mode & 07777;
	} else {
		new_file_owner(&uid, &gid);
		mode = 0640;
	}
	tmp_path = xmalloc(n);
	snprintf(tmp_path, n, "%s.XXXXXX", path);
	fd = mkstemp(tmp_path);    /* mode 0600: nobody else can read it yet */
	if (fd < 0) {
		free(tmp_path);
		tmp_path = NULL;
		die("cannot create a temporary file next to %s: %s", path, strerror(errno));
	}
	if (write_all(fd, b->p, b->len) < 0)
		die("%s: write: %s", tmp_path, strerror(errno));
	/* chown before chmod: chown may clear mode bits. */
	if (fchown(fd, uid, gid) < 0)
		die("%s: fchown: %s", tmp_path, strerror(errno));
	if (fchmod(fd, mode) < 0)
		die("%s: fchmod: %s", tmp_path, strerror(errno));
	if (fsync(fd) < 0)
		die("%s: fsync: %s", tmp_path, strerror(errno));
	if (close(fd) < 0)
		die("%s: close: %s", tmp_path, strerror(errno));
	if (rename(tmp_path, path) < 0)
		die("rename %s to %s: %s", tmp_path, path, strerror(errno));
	free(tmp_path);
	tmp_path = NULL;

	/* Make the rename itself durable. */
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die("%s: %s", dir, strerror(errno));
	if (fsync(dfd) < 0)
		die("%s: fsync: %s", dir, strerror(errno));
	if (close(dfd) < 0)
		die("%s: close: %s", dir, strerror(errno));
	free(dir);
}
