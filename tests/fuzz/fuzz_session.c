/* fuzz_session.c - libFuzzer target for the mail process: mail_main()
 * (src/mailproc.c) with the real Maildir provider (src/maildir*.c) and its
 * index file, TRANSACTION commands from the fuzzer, then UPDATE on QUIT.
 *
 * No change to src/ was needed.  mail_main() never returns (it ends in
 * _exit); the target is linked with --wrap=_exit so that exit becomes a
 * longjmp back here, with --wrap=plog/pfatal so log lines are formatted
 * (their arguments checked by ASan) but not written, and with
 * --wrap=xmalloc etc. and --wrap=free so that what the process would have
 * left to the kernel at exit is freed here.  Descriptors it leaves open are
 * closed, and the working directory is put back (the store works through a
 * descriptor of the Maildir and leaves it alone, but a regression must not
 * leak into the next run).
 *
 * A fresh Maildir under /dev/shm is laid out before every run: seven
 * messages (dot lines, CRLF, no final LF, empty, a 20 KB one), plus planted
 * entries that must never be served: a symlink to a secret file, a file
 * owned by another user, a FIFO and a directory.
 *
 * Input: byte 0 = flags
 *   1   write the bytes after the flags up to the first NUL as the index
 *       file postern-sizes (an attacker-controlled file: it is the user's)
 *   2   size_cache = no
 *   4   max_messages = 5 (the mailbox is over it: -ERR, nothing touched)
 *   8   messages delivered to new/ (moved to cur/ at login) instead of cur/
 *   16  names carry ,W= sizes
 *   32  a maildirsize file is present
 *   64  the first 200 bytes of the commands arrive as pending input
 *       (pipelined before the login, as the handoff passes them)
 *   128 max_mailbox_size = 30000 (over it)
 *   4|128 both: an empty mailbox instead (limits off)
 * then the client's byte stream (EOF after it).
 *
 * Checks: the secret and the other user's file never appear in the output;
 * the output starts with +OK or -ERR; without "+OK postern signing off"
 * nothing in the Maildir is deleted but what DELI answered "removed" for
 * and what SLEE said it deleted (the extensions of issue 17 are on: DELI,
 * "UID:<id>" arguments, and SLEE/WAKE with the session's root parent
 * played by a thread that answers yes); after it, exactly the number of
 * messages it announces, plus those, are gone and every message left is
 * intact.  The seed corpus has sessions with DELI and UID: arguments
 * (corpus/session/deli_uid) and with SLEE and WAKE (sleep_wake). */
#include "config.h"
#include "session.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ipc.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_session: %s\n", what);
		abort();
	}
}

/* ---- the redirected exits, logging and allocations ---- */

static jmp_buf session_env;
static int in_session;

void __real__exit(int code) __attribute__((noreturn));
void __wrap__exit(int code) __attribute__((noreturn));
void __wrap__exit(int code)
{
	if (in_session) {
		in_session = 0;
		longjmp(session_env, 1);
	}
	__real__exit(code);
}

void __wrap_plog(int prio, const char *fmt, ...);
void __wrap_plog(int prio, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "log: %s\n", buf);
}

void __wrap_pfatal(const char *fmt, ...) __attribute__((noreturn));
void __wrap_pfatal(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fatal: %s\n", buf);
	__wrap__exit(1);
}

static void **live;
static size_t nlive, caplive;

static void track(void *p)
{
	if (!in_session || !p)
		return;
	if (nlive == caplive) {
		caplive = caplive ? caplive * 2 : 256;
		live = realloc(live, caplive * sizeof(*live));
	}
	live[nlive++] = p;
}

static void untrack(void *p)
{
	size_t i;
	if (!p)
		return;
	for (i = nlive; i-- > 0;)
		if (live[i] == p) {
			live[i] = live[--nlive];
			return;
		}
}

void *__real_xmalloc(size_t n);
void *__real_xcalloc(size_t n, size_t m);
void *__real_xrealloc(void *p, size_t n);
char *__real_xstrdup(const char *s);
char *__real_xstrndup(const char *s, size_t n);
void __real_free(void *p);

void *__wrap_xmalloc(size_t n);
void *__wrap_xmalloc(size_t n)
{
	void *p = __real_xmalloc(n);
	track(p);
	return p;
}

void *__wrap_xcalloc(size_t n, size_t m);
void *__wrap_xcalloc(size_t n, size_t m)
{
	void *p = __real_xcalloc(n, m);
	track(p);
	return p;
}

void *__wrap_xrealloc(void *p, size_t n);
void *__wrap_xrealloc(void *p, size_t n)
{
	void *q;
	untrack(p);
	q = __real_xrealloc(p, n);
	track(q);
	return q;
}

char *__wrap_xstrdup(const char *s);
char *__wrap_xstrdup(const char *s)
{
	char *p = __real_xstrdup(s);
	track(p);
	return p;
}

char *__wrap_xstrndup(const char *s, size_t n);
char *__wrap_xstrndup(const char *s, size_t n)
{
	char *p = __real_xstrndup(s, n);
	track(p);
	return p;
}

void __wrap_free(void *p);
void __wrap_free(void *p)
{
	untrack(p);
	__real_free(p);
}

/* ---- the Maildir ---- */

static char base[64];
static char mdpath[128];
static int saved_cwd = -1;

static const char *const msgs[] = {
	"From: a@example.org\nSubject: one\n\nbody\n",
	"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nend\r\n",
	"Subject: no final line end\n\nlast line",
	"",
	"Subject: blank header end\n\n\n\n.\n",
	"Subject: tabs\tand\x01control\n\n\x7f\xff\n",
};
#define NMSG_SMALL (sizeof(msgs) / sizeof(msgs[0]))
#define NMSG (NMSG_SMALL + 1)
static char big[20000];

static const char *msg_body(size_t i, size_t *len)
{
	if (i < NMSG_SMALL) {
		*len = strlen(msgs[i]);
		return msgs[i];
	}
	*len = sizeof(big);
	return big;
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	check(fd >= 0, "create a file");
	check(write(fd, data, len) == (ssize_t)len, "write a file");
	close(fd);
}

static void empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) < 0)
			rmdir(p);
	}
	closedir(d);
}

static void setup_once(void)
{
	size_t i;
	if (base[0])
		return;
	snprintf(base, sizeof(base), "/dev/shm/fuzz_session.%ld", (long)getpid());
	check(mkdir(base, 0700) == 0 || errno == EEXIST, "mkdir base");
	snprintf(mdpath, sizeof(mdpath), "%s/Maildir", base);
	mkdir(mdpath, 0700);
	saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(saved_cwd >= 0, "open cwd");
	for (i = 0; i < sizeof(big); i++)
		big[i] = (i % 77 == 76) ? '\n' : (i % 77 == 0) ? '.' : (char)('a' + i % 26);
	{
		char p[256];
		snprintf(p, sizeof(p), "%s/secret", base);
		write_file(p, "SECRET-MARKER\n", 14);
	}
}

static void cleanup_dirs(void)
{
	char p[256];
	const char *sub[] = { "cur", "new", "tmp" };
	size_t i;
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", mdpath, sub[i]);
		empty_dir(p);
	}
	empty_dir(mdpath);
}

__attribute__((destructor)) static void remove_all(void)
{
	char p[256];
	const char *sub[] = { "cur", "new", "tmp" };
	size_t i;
	if (!base[0])
		return;
	cleanup_dirs();
	for (i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", mdpath, sub[i]);
		rmdir(p);
	}
	rmdir(mdpath);
	snprintf(p, sizeof(p), "%s/secret", base);
	unlink(p);
	rmdir(base);
}

static void lay_out(int flags, const uint8_t *cache, size_t cachelen)
{
	char p[512];
	size_t i;
	cleanup_dirs();
	snprintf(p, sizeof(p), "%s/cur", mdpath);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/new", mdpath);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/tmp", mdpath);
	mkdir(p, 0700);
	for (i = 0; i < NMSG && (flags & 132) != 132; i++) {
		size_t len;
		const char *b = msg_body(i, &len);
		char w[32] = "";
		if (flags & 16) {
			/* The wire size, as a delivery agent would write it. */
			size_t k, wire = 0;
			for (k = 0; k < len; k++)
				wire += (b[k] == '\n' && (k == 0 || b[k - 1] != '\r')) ? 2 : 1;
			if (len && b[len - 1] != '\n')
				wire += 2;
			snprintf(w, sizeof(w), ",W=%zu", wire);
		}
		if (flags & 8)
			snprintf(p, sizeof(p), "%s/new/17000000%02zu.M%zuP1.fuzz%s", mdpath, i, i, w);
		else
			snprintf(p, sizeof(p), "%s/cur/17000000%02zu.M%zuP1.fuzz%s:2,%s", mdpath, i, i,
				 w, i == 2 ? "S" : "");
		write_file(p, b, len);
	}
	/* Planted entries: never served. */
	snprintf(p, sizeof(p), "%s/cur/1700000050.M50P1.link:2,", mdpath);
	{
		char t[256];
		snprintf(t, sizeof(t), "%s/secret", base);
		check(symlink(t, p) == 0, "symlink");
	}
	snprintf(p, sizeof(p), "%s/new/1700000051.M51P1.other", mdpath);
	write_file(p, "OTHER-MARKER\n", 13);
	check(chown(p, 65534, 65534) == 0, "chown");
	snprintf(p, sizeof(p), "%s/new/1700000052.M52P1.fifo", mdpath);
	check(mkfifo(p, 0600) == 0, "mkfifo");
	snprintf(p, sizeof(p), "%s/cur/1700000053.M53P1.dir:2,", mdpath);
	mkdir(p, 0700);
	if (flags & 1) {
		snprintf(p, sizeof(p), "%s/postern-sizes", mdpath);
		write_file(p, (const char *)cache, cachelen);
	}
	if (flags & 32) {
		snprintf(p, sizeof(p), "%s/maildirsize", mdpath);
		write_file(p, "0S,0C\n100 3\n", 12);
	}
}

/* Bodies of the regular message files now in the Maildir. */
static size_t collect(char **bodies, size_t *lens, size_t cap)
{
	const char *sub[] = { "cur", "new" };
	size_t n = 0, i;
	for (i = 0; i < 2; i++) {
		char dir[256];
		DIR *d;
		struct dirent *de;
		snprintf(dir, sizeof(dir), "%s/%s", mdpath, sub[i]);
		d = opendir(dir);
		check(d != NULL, "opendir");
		while ((de = readdir(d)) != NULL) {
			char p[512];
			struct stat st;
			int fd;
			if (de->d_name[0] == '.' || !strstr(de->d_name, ".fuzz"))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			check(lstat(p, &st) == 0 && S_ISREG(st.st_mode), "message not a file");
			check(n < cap, "more messages than delivered");
			bodies[n] = malloc((size_t)st.st_size + 1);
			fd = open(p, O_RDONLY | O_CLOEXEC);
			check(fd >= 0, "open message");
			check(read(fd, bodies[n], (size_t)st.st_size) == st.st_size, "read message");
			close(fd);
			lens[n++] = (size_t)st.st_size;
		}
		closedir(d);
	}
	return n;
}

static int open_fd_map[1024];

/* The session's root parent (sleeping = yes), played by a thread: every
 * bare question gets a bare yes, as a raw frame (type, no field): nothing
 * is allocated here, the allocation wrappers are not thread-safe. */
static void *fake_parent(void *arg)
{
	int fd = *(const int *)arg;
	char buf[64];
	for (;;) {
		uint32_t yes[2] = { IPC_PARENT_YES, 0 };
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0 || send(fd, yes, sizeof(yes), MSG_NOSIGNAL) < 0)
			break;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	static struct session s;
	int flags, pfd[2], out, out_copy, fd;
	size_t cachelen = 0, npending = 0;
	const uint8_t *cmds;
	size_t ncmds;
	char *bodies[NMSG + 4];
	size_t lens[NMSG + 4], nleft, i;
	struct stat st;
	char *outbuf;
	size_t outlen;
	int quit = 0, empty;
	unsigned long announced = 0, removed = 0;

	if (size < 1)
		return 0;
	setup_once();
	flags = data[0];
	cmds = data + 1;
	ncmds = size - 1;
	if (flags & 1) {
		const uint8_t *nul = memchr(cmds, '\0', ncmds);
		cachelen = nul ? (size_t)(nul - cmds) : ncmds;
		cmds += nul ? cachelen + 1 : cachelen;
		ncmds -= nul ? cachelen + 1 : cachelen;
	}
	lay_out(flags, data + 1, cachelen);

	config_defaults(&cfg);
	cfg.size_cache = !(flags & 2);
	empty = (flags & 132) == 132;
	cfg.max_messages = (flags & 4) && !empty ? 5 : 1000000;
	cfg.max_mailbox_size = (flags & 128) && !empty ? 30000 : 0;
	memset(&s, 0, sizeof(s));
	s.cfg = &cfg;
	s.login_delay = cfg.login_delay;
	s.expire = cfg.expire;
	cfg.sleeping = 1;
	snprintf(s.conn.rip, sizeof(s.conn.rip), "192.0.2.1");
	snprintf(s.user, sizeof(s.user), "fuzz");
	snprintf(s.method, sizeof(s.method), "USER");
	snprintf(s.tls_info, sizeof(s.tls_info), "plaintext");
	snprintf(s.mailbox, sizeof(s.mailbox), "%s", mdpath);

	if (flags & 64)
		npending = ncmds < 200 ? ncmds : 200;
	/* The commands through a pipe (max_len keeps them under its size). */
	check(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
	if (ncmds > npending)
		check(write(pfd[1], cmds + npending, ncmds - npending) ==
		      (ssize_t)(ncmds - npending), "pipe write");
	close(pfd[1]);
	out = memfd_create("fuzz-out", MFD_CLOEXEC);
	check(out >= 0, "memfd");
	/* The session closes its client descriptors at the end: it gets
	 * copies, and the output is read back through out. */
	out_copy = dup(out);
	check(out_copy >= 0, "dup");

	static int pp[2];
	pthread_t parent;
	check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pp) == 0, "socketpair");
	check(pthread_create(&parent, NULL, fake_parent, &pp[1]) == 0, "pthread_create");
	s.parent_fd = pp[0];
	for (fd = 0; fd < 1024; fd++)
		open_fd_map[fd] = fcntl(fd, F_GETFD) >= 0;
	open_fd_map[pfd[0]] = open_fd_map[out_copy] = 0;

	in_session = 1;
	nlive = 0;
	if (setjmp(session_env) == 0)
		mail_main(&s, pfd[0], out_copy, (const char *)cmds, npending);
	in_session = 0;
	/* What the kernel would have cleaned up at exit. */
	for (i = 0; i < nlive; i++)
		__real_free(live[i]);
	nlive = 0;
	for (fd = 0; fd < 1024; fd++)
		if (!open_fd_map[fd] && fcntl(fd, F_GETFD) >= 0)
			close(fd);
	check(fchdir(saved_cwd) == 0, "fchdir back");
	close(pp[0]);
	pthread_join(parent, NULL);
	close(pp[1]);

	/* The output. */
	check(fstat(out, &st) == 0, "fstat output");
	outlen = (size_t)st.st_size;
	outbuf = malloc(outlen + 1);
	check(pread(out, outbuf, outlen, 0) == (ssize_t)outlen, "read output");
	outbuf[outlen] = '\0';
	close(out);
	check(outlen >= 4 && (memcmp(outbuf, "+OK ", 4) == 0 || memcmp(outbuf, "-ERR", 4) == 0),
	      "no greeting");
	check(!memmem(outbuf, outlen, "SECRET-MARKER", 13), "a symlink's target was served");
	check(!memmem(outbuf, outlen, "OTHER-MARKER", 12), "another user's file was served");
	{
		const char *q = "+OK postern signing off (";
		char *hit = memmem(outbuf, outlen, q, strlen(q));
		if (hit) {
			quit = 1;
			announced = strtoul(hit + strlen(q), NULL, 10);
		}
	}
	{
		/* DELI's answer, "+OK message N removed", once per message. */
		const char *p = outbuf, *e = outbuf + outlen;
		while ((p = memmem(p, (size_t)(e - p), "+OK message ", 12)) != NULL) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			if (nl && nl - p > 9 && memcmp(nl - 9, " removed\r", 9) == 0)
				removed++;
			p += 12;
		}
		/* SLEE's commit: "+OK sleeping (N messages deleted)". */
		p = outbuf;
		while ((p = memmem(p, (size_t)(e - p), "+OK sleeping (", 14)) != NULL) {
			p += 14;
			removed += strtoul(p, NULL, 10);
		}
	}
	free(outbuf);

	/* The Maildir: nothing lost unless QUIT said so, nothing corrupted. */
	nleft = collect(bodies, lens, NMSG + 4);
	if (quit)
		check(nleft + announced + removed == (empty ? 0 : NMSG),
		      "deleted count differs from QUIT's and DELI's answers");
	else
		check(nleft + removed == (empty ? 0 : NMSG),
		      "messages deleted without QUIT or DELI");
	for (i = 0; i < nleft; i++) {
		size_t k, len;
		int found = 0;
		for (k = 0; k < NMSG && !found; k++) {
			const char *b = msg_body(k, &len);
			found = len == lens[i] && memcmp(b, bodies[i], len) == 0;
		}
		check(found, "a message was changed");
		free(bodies[i]);
	}
	return 0;
}
