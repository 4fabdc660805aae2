/* passwd_hash.c - postern-passwd's reading of a new password (twice from
 * the terminal with echo off, or one line from stdin) and its hashing in
 * the scheme asked for: crypt(3) schemes through libxcrypt's
 * crypt_gensalt and crypt_rn, {SCRAM-SHA-256} through scram.c (the one
 * place that knows that format), {PLAIN} as is.
 *
 * Rights: those of postern-passwd, run by root or the file's owner; never
 * part of the daemon.  No password or hash is ever written to stderr. */
#include "passwd_tool.h"
#include "scram.h"
#include "util.h"
#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/rand.h>

#define BCRYPT_COST 10             /* 2^10 rounds, about yescrypt's default */

static int tty_fd = -1;            /* terminal with echo turned off */
static struct termios tty_saved;

const struct scheme_info schemes[S_END] = {
	[S_YESCRYPT] = { "yescrypt", "$y$" },
	[S_BCRYPT] = { "bcrypt", "$2b$" },
	[S_SHA512] = { "sha512-crypt", "$6$" },
	[S_SHA256] = { "sha256-crypt", "$5$" },
	[S_SCRAM] = { "scram-sha-256", NULL },
	[S_PLAIN] = { "plain", NULL },
};

void restore_tty(void)
{
	if (tty_fd >= 0) {
		(void)tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
		tty_fd = -1;
	}
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

/* {SCRAM-SHA-256} with Dovecot's defaults: 4096 iterations, 16 bytes of
 * salt; the format itself is scram.c's. */
static char *hash_scram(const char *pw)
{
	unsigned char salt[SCRAM_SALT_LEN];
	char secret[SCRAM_SECRET_MAX + 1], *out;
	size_t n;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		die("RAND_bytes failed");
	if (scram_secret_make(pw, strlen(pw), SCRAM_ITERATIONS, salt, sizeof(salt), secret,
			      sizeof(secret)) < 0)
		die("PBKDF2 failed");
	n = sizeof(SCRAM_PREFIX) + strlen(secret);
	out = xmalloc(n);
	snprintf(out, n, SCRAM_PREFIX "%s", secret);
	explicit_bzero(secret, sizeof(secret));
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

char *get_hash(const struct args *a)
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
