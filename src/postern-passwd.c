/* postern-passwd.c - the administrator's tool for the credentials file
 * (default /etc/postern/passwd, Dovecot passwd-file compatible): add and
 * delete users, change passwords, list users, print a hash.
 *
 * Rights: run by root (or by the file's owner) from a shell or from
 * configuration management, never by the daemon.  It reads passwords from
 * the terminal with echo off or, with --stdin, one line from stdin, and never
 * writes a password or a hash to stderr.  Edits are serialised by an
 * exclusive lock on FILE.lock and land atomically: a temporary file in the
 * same directory, given the original's owner and mode, fsync'd and renamed
 * over the original, then the directory fsync'd.  The daemon re-reads the
 * file when it changes and so sees either the old or the new file, whole. */
#include "log.h"
#include "parse.h"
#include "passwd_line.h"
#include "util.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define PROG "postern-passwd"
#define DEFAULT_FILE SYSCONFDIR "/postern/passwd"
/* libxcrypt takes at most 511 bytes; the daemon checks with it too. */
#define PASSWORD_MAX (CRYPT_MAX_PASSPHRASE_SIZE - 1)
#define PWBUF (PASSWORD_MAX + 3)   /* room for a CR and the NUL */
#define FILE_MAX (64u << 20)       /* refuse to slurp anything bigger */
#define LOCK_WAIT_MS 5000
#define SCRAM_ITERATIONS 4096      /* Dovecot's default */
#define SCRAM_SALT_LEN 16
#define BCRYPT_COST 10             /* 2^10 rounds, about yescrypt's default */

/* ---------- errors ---------- */

static char *tmp_path;             /* temp file to remove if we die */
static int tty_fd = -1;            /* terminal with echo turned off */
static struct termios tty_saved;

static void restore_tty(void)
{
	if (tty_fd >= 0) {
		(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
		tty_fd = -1;
	}
}

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	restore_tty();
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	if (tmp_path)
		(void)unlink(tmp_path);
	exit(1);
}

/* ---------- command line ---------- */

enum scheme { S_YESCRYPT, S_BCRYPT, S_SHA512, S_SHA256, S_SCRAM, S_PLAIN };

static const struct {
	const char *name;
	const char *prefix;        /* crypt_gensalt prefix, NULL if not crypt */
} schemes[] = {
	[S_YESCRYPT] = { "yescrypt", "$y$" },
	[S_BCRYPT] = { "bcrypt", "$2b$" },
	[S_SHA512] = { "sha512-crypt", "$6$" },
	[S_SHA256] = { "sha256-crypt", "$5$" },
	[S_SCRAM] = { "scram-sha-256", NULL },
	[S_PLAIN] = { "plain", NULL },
};
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

enum { OPT_STDIN = 256 };
enum { A_UID = 1, A_GID = 2, A_HOME = 4, A_GECOS = 8, A_SCHEME = 16, A_STDIN = 32 };

struct args {
	const char *file;
	const char *user;
	const char *uid, *gid, *home, *gecos;
	enum scheme scheme;
	int use_stdin;
	unsigned given;            /* A_* bits of the options seen */
};

static void usage(FILE *out)
{
	fputs("usage: " PROG " [-f FILE] add USER -u UID -g GID -d HOME [-c GECOS]\n"
	      "                      [-s SCHEME] [--stdin]\n"
	      "       " PROG " [-f FILE] passwd USER [-s SCHEME] [--stdin]\n"
	      "       " PROG " [-f FILE] delete USER\n"
	      "       " PROG " [-f FILE] list\n"
	      "       " PROG " hash [-s SCHEME] [--stdin]\n"
	      "       " PROG " -h\n"
	      "\n"
	      "  -f, --file FILE     credentials file (default " DEFAULT_FILE ")\n"
	      "  -u, --uid UID       numeric user id of the mailbox owner (not 0)\n"
	      "  -g, --gid GID       numeric group id of the mailbox owner (not 0)\n"
	      "  -d, --home HOME     absolute home directory (the Maildir is below)\n"
	      "  -c, --gecos GECOS   free-text comment field\n"
	      "  -s, --scheme SCHEME yescrypt (default), bcrypt, sha512-crypt,\n"
	      "                      sha256-crypt, scram-sha-256, plain\n"
	      "      --stdin         read the password as one line from stdin\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "Without --stdin the password is read twice from the terminal.\n"
	      "list prints user, uid, gid, home and scheme, tab-separated.\n", out);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
	fputs("Try '" PROG " -h' for help.\n", stderr);
	exit(1);
}

static enum scheme scheme_by_name(const char *name)
{
	size_t i;
	for (i = 0; i < NSCHEMES; i++)
		if (strcasecmp(name, schemes[i].name) == 0)
			return (enum scheme)i;
	usage_error("unknown scheme '%s' (yescrypt, bcrypt, sha512-crypt, "
		    "sha256-crypt, scram-sha-256, plain)", name);
}

static const struct option long_opts[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "uid", required_argument, NULL, 'u' },
	{ "gid", required_argument, NULL, 'g' },
	{ "home", required_argument, NULL, 'd' },
	{ "gecos", required_argument, NULL, 'c' },
	{ "scheme", required_argument, NULL, 's' },
	{ "stdin", no_argument, NULL, OPT_STDIN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The option getopt just complained about, for the message. */
static const char *opt_name(char **argv, int ind)
{
	static char shortopt[3];
	if (optopt) {
		shortopt[0] = '-';
		shortopt[1] = (char)optopt;
		return shortopt;
	}
	return argv[ind - 1];
}

/* Parse everything after the command name.  The leading '-' in the option
 * string returns operands in order (code 1) whatever POSIXLY_CORRECT says,
 * so "add USER -u 1000" and "add -u 1000 USER" both work. */
static void parse_command_args(int argc, char **argv, struct args *a,
			       unsigned allowed, int want_user)
{
	int c;
	opterr = 0;
	optind = 0;                /* glibc: full re-initialisation */
	while ((c = getopt_long(argc, argv, "-:f:u:g:d:c:s:h", long_opts, NULL)) != -1) {
		unsigned bit = 0;
		switch (c) {
		case 1:
			if (!want_user || a->user)
				usage_error("%s: unexpected argument '%s'", argv[0], optarg);
			a->user = optarg;
			continue;
		case 'f': a->file = optarg; continue;
		case 'h': usage(stdout); exit(0);
		case 'u': a->uid = optarg; bit = A_UID; break;
		case 'g': a->gid = optarg; bit = A_GID; break;
		case 'd': a->home = optarg; bit = A_HOME; break;
		case 'c': a->gecos = optarg; bit = A_GECOS; break;
		case 's': a->scheme = scheme_by_name(optarg); bit = A_SCHEME; break;
		case OPT_STDIN: a->use_stdin = 1; bit = A_STDIN; break;
		case ':':
			usage_error("%s: option '%s' needs a value", argv[0], opt_name(argv, optind));
		default:
			usage_error("%s: unknown option '%s'", argv[0], opt_name(argv, optind));
		}
		if (!(allowed & bit))
			usage_error("%s: option '%s' does not apply", argv[0], argv[optind - 1]);
		a->given |= bit;
	}
	if (want_user && !a->user)
		usage_error("%s: missing USER", argv[0]);
}

/* ---------- validation ---------- */

static void check_user(const char *user)
{
	if (!pw_user_valid(user, strlen(user)))
		die("invalid user name (1-%d characters of A-Z a-z 0-9 . _ + -, "
		    "optionally one @domain)", PW_USER_MAX);
}

static unsigned long check_id(const char *what, const char *s)
{
	uint64_t v;
	/* Same range as the daemon's parser; 0 would make a root mailbox. */
	if (parse_decimal(s, strlen(s), 0x7fffffffUL, &v) < 0)
		die("%s '%s' is not a number from 1 to 2147483647", what, s);
	if (v == 0)
		die("%s 0 refused: mail users are never root", what);
	return (unsigned long)v;
}

/* A field other than the password: no separator, no control characters. */
static int field_ok(const char *s)
{
	for (; *s; s++)
		if (*s == ':' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* ---------- reading the password ---------- */

static void on_signal(int sig)
{
	/* Put the terminal back before dying; tcsetattr is async-signal-safe. */
	if (tty_fd >= 0)
		(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read bytes up to a newline or end of file into buf (cap bytes, the
 * newline not stored).  Returns the length, or -1 for end of file before
 * any byte.  Dies on read errors and on lines that do not fit. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("reading the password: %s", strerror(errno));
		}
		if (r == 0)
			return n == 0 ? -1 : (ssize_t)n;
		if (ch == '\n')
			return (ssize_t)n;
		if (n + 1 >= cap)
			die("password too long (at most %d bytes)", (int)PASSWORD_MAX);
		buf[n++] = ch;
	}
}

static void check_password(const char *pw, size_t len)
{
	if (len == 0)
		die("empty password refused");
	if (len > PASSWORD_MAX)
		die("password too long (at most %d bytes)", (int)PASSWORD_MAX);
	if (memchr(pw, '\0', len) || memchr(pw, '\r', len) || memchr(pw, '\n', len))
		die("password must not contain NUL, CR or LF");
}

static void prompt(const char *text)
{
	if (write_all(STDERR_FILENO, text, strlen(text)) < 0)
		die("writing the prompt: %s", strerror(errno));
}

/* Ask twice on the terminal (stdin) with echo off, compare. */
static void read_password_tty(char *pw, size_t cap)
{
	char again[PWBUF];
	struct termios t;
	struct sigaction sa;
	ssize_t n1, n2;
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	size_t i;

	if (!isatty(STDIN_FILENO))
		die("stdin is not a terminal; use --stdin to read the password from it");
	if (tcgetattr(STDIN_FILENO, &tty_saved) < 0)
		die("tcgetattr: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			die("sigaction: %s", strerror(errno));
	/* A stopped process would leave the terminal silent: no job control
	 * while the password is typed. */
	if (signal(SIGTSTP, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));

	t = tty_saved;
	t.c_lflag &= (tcflag_t)~ECHO;
	t.c_lflag |= ECHONL;       /* the Enter key still moves to a new line */
	tty_fd = STDIN_FILENO;
	/* TCSAFLUSH drops anything typed ahead, before echo went off. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0) {
		tty_fd = -1;
		die("tcsetattr: %s", strerror(errno));
	}
	prompt("New password: ");
	n1 = read_line(STDIN_FILENO, pw, cap);
	if (n1 < 0)
		die("no password given");
	pw[n1] = '\0';
	check_password(pw, (size_t)n1);
	prompt("Retype new password: ");
	n2 = read_line(STDIN_FILENO, again, sizeof(again));
	restore_tty();
	if (n2 < 0 || n1 != n2 || memcmp(pw, again, (size_t)n1) != 0) {
		explicit_bzero(again, sizeof(again));
		die("passwords do not match");
	}
	explicit_bzero(again, sizeof(again));
}

static void read_password_stdin(char *pw, size_t cap)
{
	ssize_t n = read_line(STDIN_FILENO, pw, cap);
	if (n < 0)
		die("no password on stdin");
	if (n > 0 && pw[n - 1] == '\r')   /* CRLF from a Windows-made file */
		n--;
	pw[n] = '\0';
	check_password(pw, (size_t)n);
}

/* ---------- hashing ---------- */

static char *b64(const unsigned char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Dovecot's SCRAM-SHA-256 format (RFC 5802, RFC 7677):
 * {SCRAM-SHA-256}iterations,base64(salt),base64(StoredKey),base64(ServerKey) */
static char *hash_scram(const char *pw)
{
	unsigned char salt[SCRAM_SALT_LEN], salted[SHA256_DIGEST_LENGTH];
	unsigned char client_key[SHA256_DIGEST_LENGTH], server_key[SHA256_DIGEST_LENGTH];
	unsigned char stored_key[SHA256_DIGEST_LENGTH];
	unsigned int klen;
	char *s_salt, *s_stored, *s_server, *out;
	size_t outlen;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		die("RAND_bytes failed");
	if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt),
			      SCRAM_ITERATIONS, EVP_sha256(), sizeof(salted), salted) != 1)
		die("PBKDF2 failed");
	klen = sizeof(client_key);
	if (!HMAC(EVP_sha256(), salted, sizeof(salted),
		  (const unsigned char *)"Client Key", 10, client_key, &klen))
		die("HMAC failed");
	klen = sizeof(server_key);
	if (!HMAC(EVP_sha256(), salted, sizeof(salted),
		  (const unsigned char *)"Server Key", 10, server_key, &klen))
		die("HMAC failed");
	if (!SHA256(client_key, sizeof(client_key), stored_key))
		die("SHA-256 failed");

	s_salt = b64(salt, sizeof(salt));
	s_stored = b64(stored_key, sizeof(stored_key));
	s_server = b64(server_key, sizeof(server_key));
	outlen = 40 + strlen(s_salt) + strlen(s_stored) + strlen(s_server);
	out = xmalloc(outlen);
	snprintf(out, outlen, "{SCRAM-SHA-256}%d,%s,%s,%s", SCRAM_ITERATIONS,
		 s_salt, s_stored, s_server);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	free(s_salt);
	free(s_stored);
	free(s_server);
	return out;
}

static char *hash_crypt(enum scheme s, const char *pw)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	char *h, *out;

	/* rbytes NULL: libxcrypt takes the salt from the kernel's random
	 * source.  count 0 is the method's default cost, except for bcrypt
	 * whose default (5) dates from 1999. */
	if (!crypt_gensalt_rn(schemes[s].prefix, s == S_BCRYPT ? BCRYPT_COST : 0,
			      NULL, 0, setting, sizeof(setting)))
		die("crypt_gensalt(%s): %s", schemes[s].name, strerror(errno));
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn(pw, setting, cd, (int)sizeof(*cd));
	if (!h || h[0] == '*' || strncmp(h, schemes[s].prefix, strlen(schemes[s].prefix)) != 0)
		die("crypt(%s) failed", schemes[s].name);
	out = xstrdup(h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return out;
}

/* The password field to store for pw under scheme s (malloc'd). */
static char *make_hash(enum scheme s, const char *pw)
{
	char *out;
	size_t n;
	switch (s) {
	case S_SCRAM:
		return hash_scram(pw);
	case S_PLAIN:
		/* In clear text the field separator would split the line. */
		if (strchr(pw, ':'))
			die("a plain password cannot contain ':'");
		warnmsg("{PLAIN} keeps the password in clear text; use it only "
			"for accounts that need APOP");
		n = strlen(pw) + sizeof("{PLAIN}");
		out = xmalloc(n);
		snprintf(out, n, "{PLAIN}%s", pw);
		return out;
	default:
		out = hash_crypt(s, pw);
		if (!field_ok(out))   /* crypt never emits ':', but be sure */
			die("crypt(%s) produced an unusable hash", schemes[s].name);
		return out;
	}
}

static char *get_hash(const struct args *a)
{
	char pw[PWBUF];
	char *h;
	if (a->use_stdin)
		read_password_stdin(pw, sizeof(pw));
	else
		read_password_tty(pw, sizeof(pw));
	if (a->scheme == S_BCRYPT && strlen(pw) > 72)
		warnmsg("bcrypt uses only the first 72 bytes of a password");
	h = make_hash(a->scheme, pw);
	explicit_bzero(pw, sizeof(pw));
	return h;
}

/* ---------- the file ---------- */

struct pwfile {
	char *data;
	size_t len;
	int exists;
	struct stat st;
};

/* Read the whole file.  A missing file is empty with exists = 0. */
static void load_file(const char *path, struct pwfile *f)
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

struct line {
	const char *p;             /* start of the line */
	size_t len;                /* without the newline */
	size_t full;               /* with the newline, if any */
};

static int next_line(const struct pwfile *f, size_t *pos, struct line *l)
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
static int line_user(const struct line *l, const char **user, size_t *ulen)
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

static int is_user(const struct line *l, const char *user, int nocase)
{
	const char *u;
	size_t ulen, n = strlen(user);
	if (!line_user(l, &u, &ulen) || ulen != n)
		return 0;
	return nocase ? strncasecmp(u, user, n) == 0 : memcmp(u, user, n) == 0;
}

/* Line number of the first line for user, 0 if none. */
static unsigned find_user(const struct pwfile *f, const char *user, int nocase,
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

/* add refuses a name that differs from an existing one only in case: the
 * two would be one mailbox to a client and to most administrators. */
static void refuse_existing(const struct pwfile *f, const struct args *a)
{
	struct line l;
	unsigned lineno = find_user(f, a->user, 1, &l);
	const char *u;
	size_t ulen;
	if (!lineno)
		return;
	(void)line_user(&l, &u, &ulen);
	if (memcmp(u, a->user, ulen) == 0)
		die("%s:%u: user %s already exists", a->file, lineno, a->user);
	die("%s:%u: user %s already exists as %.*s", a->file, lineno, a->user,
	    (int)ulen, u);
}

/* A growing output buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *s, size_t n)
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
static void wipe_free(char *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static int lock_file(const char *path)
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
static void write_file(const char *path, const struct pwfile *old, const struct buf *b)
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

/* ---------- commands ---------- */

static int cmd_add(struct args *a)
{
	struct pwfile f;
	struct buf b = { 0 };
	struct buf entry = { 0 };
	struct pwline check;
	char *hash, *copy;
	int lock;

	if ((a->given & (A_UID | A_GID | A_HOME)) != (A_UID | A_GID | A_HOME))
		usage_error("add: -u UID, -g GID and -d HOME are required");
	check_user(a->user);
	check_id("uid", a->uid);
	check_id("gid", a->gid);
	if (a->home[0] != '/' || !field_ok(a->home))
		die("home must be an absolute path without ':' or control characters");
	if (strlen(a->home) > PW_HOME_MAX)
		die("home is longer than %d bytes: postern would treat the entry as locked",
		    PW_HOME_MAX);
	if (a->gecos && !field_ok(a->gecos))
		die("gecos must not contain ':' or control characters");

	/* Fail early, before asking for a password; checked again locked. */
	load_file(a->file, &f);
	refuse_existing(&f, a);
	wipe_free(f.data, f.len);

	hash = get_hash(a);
	buf_str(&entry, a->user);
	buf_str(&entry, ":");
	buf_str(&entry, hash);
	buf_str(&entry, ":");
	buf_str(&entry, a->uid);
	buf_str(&entry, ":");
	buf_str(&entry, a->gid);
	buf_str(&entry, ":");
	buf_str(&entry, a->gecos ? a->gecos : "");
	buf_str(&entry, ":");
	buf_str(&entry, a->home);
	buf_str(&entry, "::\n");   /* empty shell and extra fields */
	wipe_free(hash, strlen(hash));

	/* The daemon must read back exactly what we meant to write. */
	copy = xstrndup(entry.p, entry.len - 1);
	if (pw_parse_line(copy, &check) != 1 || strcmp(check.user, a->user) != 0)
		die("internal error: the new entry does not parse");
	wipe_free(copy, entry.len);

	lock = lock_file(a->file);
	load_file(a->file, &f);
	refuse_existing(&f, a);
	buf_add(&b, f.data, f.len);
	if (f.len > 0 && f.data[f.len - 1] != '\n')
		buf_str(&b, "\n");
	buf_add(&b, entry.p, entry.len);
	write_file(a->file, &f, &b);
	wipe_free(entry.p, entry.len);
	wipe_free(b.p, b.len);
	wipe_free(f.data, f.len);
	if (close(lock) < 0)
		die("close: %s", strerror(errno));
	return 0;
}

static void need_user(const struct pwfile *f, const struct args *a)
{
	if (!f->exists)
		die("%s: %s", a->file, strerror(ENOENT));
	if (!find_user(f, a->user, 0, NULL))
		die("%s: no user %s", a->file, a->user);
}

static int cmd_passwd(struct args *a)
{
	struct pwfile f;
	struct buf b = { 0 };
	struct line l;
	size_t pos = 0;
	unsigned changed = 0;
	char *hash;
	int lock;

	check_user(a->user);
	load_file(a->file, &f);
	need_user(&f, a);
	wipe_free(f.data, f.len);

	hash = get_hash(a);
	lock = lock_file(a->file);
	load_file(a->file, &f);
	need_user(&f, a);
	while (next_line(&f, &pos, &l)) {
		const char *pw, *pw_end, *end = l.p + l.len;
		if (!is_user(&l, a->user, 0)) {
			buf_add(&b, l.p, l.full);
			continue;
		}
		/* Replace only the password field; the rest stays as it was. */
		pw = (const char *)memchr(l.p, ':', l.len) + 1;
		pw_end = memchr(pw, ':', (size_t)(end - pw));
		if (!pw_end)
			pw_end = end;
		buf_add(&b, l.p, (size_t)(pw - l.p));
		buf_str(&b, hash);
		buf_add(&b, pw_end, l.full - (size_t)(pw_end - l.p));
		changed++;
	}
	if (changed > 1)
		warnmsg("%s has %u entries for %s; changed all of them",
			a->file, changed, a->user);
	write_file(a->file, &f, &b);
	wipe_free(hash, strlen(hash));
	wipe_free(b.p, b.len);
	wipe_free(f.data, f.len);
	if (close(lock) < 0)
		die("close: %s", strerror(errno));
	return 0;
}

static int cmd_delete(struct args *a)
{
	struct pwfile f;
	struct buf b = { 0 };
	struct line l;
	size_t pos = 0;
	unsigned removed = 0;
	int lock;

	check_user(a->user);
	lock = lock_file(a->file);
	load_file(a->file, &f);
	need_user(&f, a);
	buf_add(&b, "", 0);        /* an empty result is still a buffer */
	while (next_line(&f, &pos, &l)) {
		if (is_user(&l, a->user, 0))
			removed++;
		else
			buf_add(&b, l.p, l.full);
	}
	if (removed > 1)
		warnmsg("%s had %u entries for %s; removed all of them",
			a->file, removed, a->user);
	write_file(a->file, &f, &b);
	wipe_free(b.p, b.len);
	wipe_free(f.data, f.len);
	if (close(lock) < 0)
		die("close: %s", strerror(errno));
	return 0;
}

static const char *scheme_label(const struct pwline *e)
{
	static const struct {
		const char *prefix, *name;
	} crypts[] = {
		{ "$y$", "yescrypt" },     { "$gy$", "gost-yescrypt" },
		{ "$7$", "scrypt" },       { "$2b$", "bcrypt" },
		{ "$2a$", "bcrypt" },      { "$2y$", "bcrypt" },
		{ "$6$", "sha512-crypt" }, { "$5$", "sha256-crypt" },
		{ "$1$", "md5-crypt" },
	};
	size_t i;
	switch (e->scheme) {
	case PW_PLAIN: return "plain";
	case PW_SCRAM256: return "scram-sha-256";
	case PW_LOCKED: return "locked";
	case PW_CRYPT: break;
	}
	for (i = 0; i < sizeof(crypts) / sizeof(crypts[0]); i++)
		if (strncmp(e->password, crypts[i].prefix, strlen(crypts[i].prefix)) == 0)
			return crypts[i].name;
	return strlen(e->password) == 13 ? "des-crypt" : "crypt";
}

static int cmd_list(struct args *a)
{
	struct pwfile f;
	struct line l;
	size_t pos = 0;
	unsigned lineno = 0;

	load_file(a->file, &f);
	if (!f.exists)
		die("%s: %s", a->file, strerror(ENOENT));
	while (next_line(&f, &pos, &l)) {
		struct pwline e;
		char *copy = xstrndup(l.p, l.len);
		int r;
		lineno++;
		r = pw_parse_line(copy, &e);
		if (r < 0)   /* never echo the line: it may hold a password */
			warnmsg("%s:%u: malformed line skipped", a->file, lineno);
		else if (r > 0)
			printf("%s\t%lu\t%lu\t%s\t%s\n", e.user, (unsigned long)e.uid,
			       (unsigned long)e.gid, e.home, scheme_label(&e));
		wipe_free(copy, l.len);
	}
	wipe_free(f.data, f.len);
	if (fflush(stdout) == EOF || ferror(stdout))
		die("writing the list: %s", strerror(errno));
	return 0;
}

static int cmd_hash(struct args *a)
{
	char *hash = get_hash(a);
	int bad = puts(hash) == EOF || fflush(stdout) == EOF;
	wipe_free(hash, strlen(hash));
	if (bad)
		die("writing the hash: %s", strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct args *);
		unsigned allowed;
		int want_user;
	} cmds[] = {
		{ "add", cmd_add, A_UID | A_GID | A_HOME | A_GECOS | A_SCHEME | A_STDIN, 1 },
		{ "passwd", cmd_passwd, A_SCHEME | A_STDIN, 1 },
		{ "delete", cmd_delete, 0, 1 },
		{ "list", cmd_list, 0, 0 },
		{ "hash", cmd_hash, A_SCHEME | A_STDIN, 0 },
	};
	struct args a;
	size_t i;
	int c;

	memset(&a, 0, sizeof(a));
	a.file = DEFAULT_FILE;
	a.scheme = S_YESCRYPT;
	log_open(PROG, 1);         /* util.c reports out-of-memory through it */
	umask(077);

	/* Options before the command: '+' stops at the command name. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:f:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'f': a.file = optarg; break;
		case 'h': usage(stdout); return 0;
		case ':': usage_error("option '%s' needs a value", opt_name(argv, optind));
		default: usage_error("unknown option '%s'", opt_name(argv, optind));
		}
	}
	if (optind >= argc)
		usage_error("missing command (add, passwd, delete, list, hash)");
	if (a.file[0] == '\0')
		usage_error("empty file name");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[optind], cmds[i].name) != 0)
			continue;
		parse_command_args(argc - optind, argv + optind, &a,
				   cmds[i].allowed, cmds[i].want_user);
		if (a.file[0] == '\0')
			usage_error("empty file name");
		return cmds[i].run(&a);
	}
	usage_error("unknown command '%s' (add, passwd, delete, list, hash)", argv[optind]);
}
