/* deliver.c - one message into a Maildir (qmail's maildir(5) protocol):
 * tmp/<unique>, fsync, rename into new/ without replacing anything, fsync
 * new/.  The name carries ,S= (bytes on disk) and ,W= (octets as POP3 sends
 * them), so the server never opens the file to learn its size.  Runs with
 * the mailbox owner's rights, never as root (postern-deliver drops first). */
#include "deliver.h"
#include "log.h"
#include "mdname.h"
#include "msgencode.h"
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

static int fail(char *err, size_t cap, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return code;
}

/* mkdir -p with mode 0700 for what is missing. */
static int make_dirs(const char *path)
{
	char buf[4096];
	size_t i, len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

/* The host part of a unique name, with the characters maildir(5) and our
 * own ",X=" fields give a meaning to written as octal escapes. */
static void host_part(char *out, size_t cap)
{
	char host[256];
	size_t o = 0;
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p && o + 5 < cap; p++) {
		if (*p == '/' || *p == ':' || *p == ',' || (unsigned char)*p <= 0x20 ||
		    (unsigned char)*p >= 0x7f)
			o += (size_t)snprintf(out + o, cap - o, "\\%03o", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

void deliver_unique_name(char *out, size_t cap, unsigned seq)
{
	static char host[64];   /* longer host names are cut: the rest is unique */
	struct timeval tv;
	if (!host[0])
		host_part(host, sizeof(host));
	gettimeofday(&tv, NULL);
	snprintf(out, cap, "%lld.M%06ldP%ldQ%u.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
		 (long)getpid(), seq, host);
}

/* "Name: value\n" (with angle = 1, "Name: <value>\n"), the value cut at
 * HDR_VALUE_MAX bytes and kept on one line: a byte below 0x20 (or DEL)
 * becomes '?', so no argument can add a header of its own.  Return-Path
 * takes the brackets (RFC 5322 angle-addr); Delivered-To is the bare
 * address, as Postfix's local(8) and Dovecot write it. */
#define HDR_VALUE_MAX 512
static size_t header_line(char *out, const char *name, const char *value, int angle)
{
	size_t n = (size_t)sprintf(out, angle ? "%s: <" : "%s: ", name), i;
	for (i = 0; i < HDR_VALUE_MAX && value[i]; i++)
		out[n++] = (unsigned char)value[i] < 0x20 || value[i] == 0x7f ? '?' : value[i];
	if (angle)
		out[n++] = '>';
	out[n++] = '\n';
	return n;
}

/* A Maildir the caller may not write is a permanent refusal (77), which
 * the MTA bounces; everything else can be mended and is "try again". */
static int dir_errno_code(int e)
{
	return e == EACCES || e == EPERM ? EX_NOPERM : EX_TEMPFAIL;
}

/* Copy fd into out (the open tmp file), after our headers, without a
 * leading "From " line.  Returns 0 or an EX_ code. */
static int copy_message(int in, int out, const struct deliver_opts *o,
			struct deliver_result *res, char *err, size_t cap)
{
	enum { BUF = 64 * 1024 };
	char *buf = malloc(BUF);
	struct msgsize ms;
	int first = 1, skipping = 0, rc = 0;
	char hdr[2 * (HDR_VALUE_MAX + 20)];
	size_t hl = 0;

	if (!buf)
		return fail(err, cap, EX_TEMPFAIL, "out of memory");
	msgsize_init(&ms);
	if (o->return_path)
		hl += header_line(hdr + hl, "Return-Path", o->return_path, 1);
	if (o->delivered_to)
		hl += header_line(hdr + hl, "Delivered-To", o->delivered_to, 0);
	res->size = 0;
	if (hl) {
		if (write_all(out, hdr, hl) < 0)
			goto write_error;
		msgsize_chunk(&ms, hdr, hl);
		res->size += hl;
	}
	for (;;) {
		ssize_t r = read(in, buf, BUF);
		char *p = buf;
		size_t n;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = fail(err, cap, EX_TEMPFAIL, "cannot read the message: %s", strerror(errno));
			break;
		}
		if (r == 0)
			break;
		n = (size_t)r;
		if (first) {
			first = 0;
			/* An mbox envelope line ("From sender date") is not part of
			 * the message; Return-Path carries the sender. */
			if (n >= 5 && memcmp(p, "From ", 5) == 0)
				skipping = 1;
		}
		if (skipping) {
			char *lf = memchr(p, '\n', n);
			if (!lf)
				continue;
			n -= (size_t)(lf + 1 - p);
			p = lf + 1;
			skipping = 0;
		}
		if (o->max_size && res->size + n > o->max_size) {
			rc = fail(err, cap, EX_DATAERR, "message bigger than the limit of %" PRIu64
				  " bytes", o->max_size);
			break;
		}
		if (n && write_all(out, p, n) < 0)
			goto write_error;
		msgsize_chunk(&ms, p, n);
		res->size += n;
	}
	free(buf);
	res->wire_size = msgsize_total(&ms);
	return rc;
write_error:
	free(buf);
	return fail(err, cap, EX_TEMPFAIL, "cannot write the message: %s", strerror(errno));
}

/* Maildir++ quota (maildirsize: a first line like "1000000S,1000C", then
 * "bytes count" lines, negative for deletions).  The file is only a cache
 * of the Maildir's totals: past MAILDIRSIZE_MAX bytes, or when its sums
 * are clearly wrong, it is recalculated from new/ and cur/ and replaced. */
#define MAILDIRSIZE_MAX 5120        /* the specification's bound */
#define MAILDIRSIZE_STALE (15 * 60) /* an over-quota file older than this is checked */
#define QUOTA_DEF_MAX 1024          /* a longer first line is not copied */

struct quota {
	long long max_bytes, max_count; /* 0: no limit */
	long long bytes, count;
};

/* Sums saturate: a planted "9223372036854775807 1" line must not wrap. */
static long long sat_add(long long a, long long b)
{
	if (b > 0 && a > LLONG_MAX - b)
		return LLONG_MAX;
	if (b < 0 && a < LLONG_MIN - b)
		return LLONG_MIN;
	return a + b;
}

static void parse_definition(const char *line, struct quota *q)
{
	for (const char *p = line; *p;) {
		char *end;
		long long v = strtoll(p, &end, 10);
		if (end == p)
			break;
		if (*end == 'S')
			q->max_bytes = v;
		else if (*end == 'C')
			q->max_count = v;
		p = *end ? end + 1 : end;
		if (*p == ',')
			p++;
	}
}

static int would_exceed(const struct quota *q, uint64_t size)
{
	long long s = size > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)size;
	return (q->max_bytes > 0 && sat_add(q->bytes, s) > q->max_bytes) ||
	       (q->max_count > 0 && sat_add(q->count, 1) > q->max_count);
}

/* Add up the messages of new/ or cur/ with one readdir pass (no list of
 * names in memory).  The size is the name's ,S= when it has one, else the
 * file's; only regular files count, and nothing is followed: a symlink
 * is neither opened nor counted.  -1 if the directory cannot be read. */
static int sum_dir(int dir, const char *sub, struct quota *q)
{
	int fd = openat(dir, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (;;) {
		struct mdname m;
		struct stat st;
		long long sz;
		errno = 0;
		e = readdir(d);
		if (!e)
			break;
		if (mdname_parse(e->d_name, &m) < 0)   /* "." "..", dot files */
			continue;
		if (e->d_type == DT_UNKNOWN || !m.has_s) {
			/* Gone meanwhile (read, moved to cur/, deleted): skip it. */
			if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			if (!m.has_s)
				m.s_size = (uint64_t)st.st_size;
		} else if (e->d_type != DT_REG) {
			continue;
		}
		sz = m.s_size > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)m.s_size;
		q->bytes = sat_add(q->bytes, sz);
		q->count = sat_add(q->count, 1);
	}
	if (errno != 0) {
		int saved = errno;
		closedir(d);
		errno = saved;
		return -1;
	}
	closedir(d);
	return 0;
}

/* Replace maildirsize with def and the totals in q: a new file in tmp/
 * (ours: O_EXCL, O_NOFOLLOW), fsync, rename over the old one.  A delivery
 * appending to the old file meanwhile loses its line, which the
 * specification accepts (the file is advisory and will be recalculated).
 * Skipped when maildirsize is no longer the file that was read (someone
 * else replaced it first). */
static void write_maildirsize(int dir, const char *uniq, const char *def,
			      const struct quota *q, const struct stat *read_st)
{
	char tmp[160], buf[QUOTA_DEF_MAX + 64];
	struct stat now;
	int fd, n, ok;

	snprintf(tmp, sizeof(tmp), "tmp/%s.maildirsize", uniq);
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		plog(LOG_WARNING, "maildirsize: cannot recalculate: %s: %s", tmp, strerror(errno));
		return;
	}
	n = snprintf(buf, sizeof(buf), "%s\n%lld %lld\n", def, q->bytes, q->count);
	ok = n > 0 && (size_t)n < sizeof(buf) && write_all(fd, buf, (size_t)n) == 0 &&
	     fsync(fd) == 0;
	if (close(fd) < 0)
		ok = 0;
	if (ok && fstatat(dir, "maildirsize", &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_dev == read_st->st_dev && now.st_ino == read_st->st_ino) {
		if (renameat(dir, tmp, dir, "maildirsize") == 0)
			return;
		plog(LOG_WARNING, "maildirsize: cannot replace: %s", strerror(errno));
	} else if (!ok) {
		plog(LOG_WARNING, "maildirsize: cannot recalculate: %s", strerror(errno));
	}
	unlinkat(dir, tmp, 0);
}

/* Would size more bytes and one more message go over the quota?  1 yes,
 * 0 no (no file, no quota), -1 when a recalculation was needed and the
 * Maildir could not be read (err says why). */
static int over_quota(int dir, uint64_t size, const char *uniq, char *err, size_t cap)
{
	/* Reading stops one byte past the bound: the totals of a bigger file
	 * come from the Maildir, so only its first line is needed. */
	char buf[MAILDIRSIZE_MAX + 2], *line, *nl, def[QUOTA_DEF_MAX];
	struct quota q = { 0, 0, 0, 0 };
	struct stat st, dst;
	size_t got = 0;
	int fd, stale, first = 1;

	/* O_NONBLOCK: a FIFO planted under the name must not hang delivery. */
	fd = openat(dir, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	while (got < MAILDIRSIZE_MAX + 1) {
		ssize_t r = read(fd, buf + got, MAILDIRSIZE_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	def[0] = '\0';
	for (line = buf; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (first) {
			parse_definition(line, &q);
			if (strlen(line) < sizeof(def))
				memcpy(def, line, strlen(line) + 1);
			first = 0;
		} else {
			char *end, *end2;
			long long b = strtoll(line, &end, 10), c = strtoll(end, &end2, 10);
			if (end != line && end2 != end) {
				q.bytes = sat_add(q.bytes, b);
				q.count = sat_add(q.count, c);
			}
		}
	}
	/* The specification's reasons to distrust the sums: a file past its
	 * bound, totals below zero, an over-quota verdict from a file that
	 * has not been rewritten for a while. */
	stale = got > MAILDIRSIZE_MAX || q.bytes < 0 || q.count < 0 ||
		(would_exceed(&q, size) && time(NULL) - st.st_mtime > MAILDIRSIZE_STALE);
	if (!stale || (q.max_bytes <= 0 && q.max_count <= 0 && got <= MAILDIRSIZE_MAX))
		return would_exceed(&q, size);
	q.bytes = q.count = 0;
	if (sum_dir(dir, "new", &q) < 0 || sum_dir(dir, "cur", &q) < 0) {
		snprintf(err, cap, "cannot recalculate the quota (maildirsize): %s",
			 strerror(errno));
		return -1;
	}
	/* Only the owner's Maildir gets a new file; the figures serve anyway.
	 * A first line too long to copy is not rewritten either. */
	if (def[0] && fstat(dir, &dst) == 0 && dst.st_uid == geteuid())
		write_maildirsize(dir, uniq, def, &q, &st);
	return would_exceed(&q, size);
}

static void update_maildirsize(int dir, uint64_t size)
{
	char line[64];
	int fd = openat(dir, "maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	int n;
	if (fd < 0) {
		if (errno != ENOENT)   /* no quota file: nothing to keep */
			plog(LOG_WARNING, "maildirsize: cannot update: %s", strerror(errno));
		return;
	}
	n = snprintf(line, sizeof(line), "%" PRIu64 " 1\n", size);
	/* Not worth failing a delivery that is already safe in new/. */
	if (write_all(fd, line, (size_t)n) < 0)
		plog(LOG_WARNING, "maildirsize: cannot update: %s", strerror(errno));
	close(fd);
}

int deliver_maildir(const char *maildir, int in, const struct deliver_opts *o,
		    struct deliver_result *res, char *err, size_t errcap)
{
	char uniq[112], tmp[120], dst[170];
	int dir, fd = -1, rc, tries;
	unsigned seq = 0;
	struct stat st;

	memset(res, 0, sizeof(*res));
	if (o->uniq && (strlen(o->uniq) >= sizeof(uniq) || !o->uniq[0] ||
			strpbrk(o->uniq, "/:,") || o->uniq[0] == '.'))
		return fail(err, errcap, EX_SOFTWARE, "bad unique name");
	if (make_dirs(maildir) < 0)
		return fail(err, errcap, dir_errno_code(errno), "cannot create %s: %s", maildir,
			    strerror(errno));
	dir = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return fail(err, errcap, dir_errno_code(errno), "cannot open %s: %s", maildir,
			    strerror(errno));
	for (const char *sub = "tmp\0new\0cur\0"; *sub; sub += 4) {
		if (mkdirat(dir, sub, 0700) < 0 && errno != EEXIST) {
			rc = fail(err, errcap, dir_errno_code(errno), "cannot create %s/%s: %s", maildir, sub,
				  strerror(errno));
			goto out;
		}
		if (fstatat(dir, sub, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
			rc = fail(err, errcap, EX_TEMPFAIL, "%s/%s is not a directory", maildir, sub);
			goto out;
		}
	}
	for (tries = 0; fd < 0; tries++) {
		if (o->uniq)
			memcpy(uniq, o->uniq, strlen(o->uniq) + 1);
		else
			deliver_unique_name(uniq, sizeof(uniq), seq++);
		snprintf(tmp, sizeof(tmp), "tmp/%s", uniq);
		fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && (errno != EEXIST || tries >= 20 || o->uniq)) {
			rc = fail(err, errcap, dir_errno_code(errno), "cannot create %s/%s: %s", maildir, tmp,
				  strerror(errno));
			goto out;
		}
	}
	rc = copy_message(in, fd, o, res, err, errcap);
	if (rc == 0) {
		int q = over_quota(dir, res->size, uniq, err, errcap);
		if (q < 0)
			rc = EX_TEMPFAIL;
		else if (q > 0)
			rc = fail(err, errcap, EX_TEMPFAIL, "mailbox is over its quota (maildirsize)");
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = fail(err, errcap, EX_TEMPFAIL, "fsync: %s", strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = fail(err, errcap, EX_TEMPFAIL, "close: %s", strerror(errno));
	fd = -1;
	if (rc != 0) {
		unlinkat(dir, tmp, 0);
		goto out;
	}
	/* new/ never loses a message to a name clash: no-replace rename, and
	 * on a clash (which the pid and microseconds make next to impossible)
	 * another unique name for the file in new/. */
	for (tries = 0;; tries++) {
		int r;
		if (tries > 0)
			deliver_unique_name(uniq, sizeof(uniq), seq++);
		snprintf(res->name, sizeof(res->name), "%s,S=%" PRIu64 ",W=%" PRIu64, uniq,
			 res->size, res->wire_size);
		snprintf(dst, sizeof(dst), "new/%s", res->name);
		r = renameat2(dir, tmp, dir, dst, RENAME_NOREPLACE);
		if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
			/* A file system without RENAME_NOREPLACE (EINVAL), or a
			 * kernel or seccomp filter without renameat2 (ENOSYS):
			 * link, then unlink. */
			r = linkat(dir, tmp, dir, dst, 0);
			if (r == 0)
				unlinkat(dir, tmp, 0);
		}
		if (r == 0)
			break;
		/* A name the caller chose is not changed behind its back. */
		if (errno != EEXIST || tries >= 20 || o->uniq) {
			rc = fail(err, errcap, EX_TEMPFAIL, "cannot move the message into %s/new: %s",
				  maildir, strerror(errno));
			unlinkat(dir, tmp, 0);
			goto out;
		}
	}
	{
		/* The rename is durable only once new/ itself is on disk. */
		int nd = openat(dir, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (nd < 0 || fsync(nd) < 0)
			rc = fail(err, errcap, EX_TEMPFAIL, "fsync %s/new: %s", maildir,
				  strerror(errno));
		if (nd >= 0)
			close(nd);
		if (rc != 0) {
			/* In new/ but maybe not durable: say "try again" rather
			 * than risk a loss; a duplicate is the lesser harm. */
			goto out;
		}
	}
	update_maildirsize(dir, res->size);
out:
	if (fd >= 0)
		close(fd);
	close(dir);
	return rc;
}

