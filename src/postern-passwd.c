/* postern-passwd.c - the administrator's tool for the credentials file
 * (default /etc/postern/passwd, Dovecot passwd-file compatible): add and
 * delete users, change passwords, list users, print a hash.
 *
 * Rights: run by root (or by the file's owner) from a shell or from
 * configuration management, never by the daemon.  It reads passwords from
 * the terminal with echo off or, with --stdin, one line from stdin, and never
 * writes a password or a hash to stderr.  Edits are serialised by a lock
 * and land atomically (passwd_file.c), so the daemon, which re-reads the
 * file when it changes, sees either the old or the new file, whole.  This
 * file: the command line, the checks of what is given, the commands;
 * passwd_hash.c reads and hashes the password. */
#include "config.h"
#include "log.h"
#include "parse.h"
#include "passwd_line.h"
#include "passwd_tool.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_FILE SYSCONFDIR "/postern/passwd"
#define DEFAULT_CONF SYSCONFDIR "/postern/postern.conf"

/* ---------- errors ---------- */

char *tmp_path;                    /* temp file to remove if we die */

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, PROG ": %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void warnmsg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
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

enum { OPT_STDIN = 256, OPT_FORCE, OPT_CONFIG };

static void usage(FILE *out)
{
	fputs("usage: " PROG " [-f FILE] add USER -u UID -g GID -d HOME [-c GECOS]\n"
	      "                      [-s SCHEME] [--stdin] [--config CONF] [--force]\n"
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
	      "      --config CONF   the daemon's configuration, for first_valid_uid and\n"
	      "                      first_valid_gid (default " DEFAULT_CONF ")\n"
	      "      --force         add an entry the daemon would refuse (uid or gid\n"
	      "                      below first_valid_uid or first_valid_gid)\n"
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
	for (i = 0; i < S_END; i++)
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
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "config", required_argument, NULL, OPT_CONFIG },
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
		case OPT_FORCE: a->force = 1; bit = A_FORCE; break;
		case OPT_CONFIG: a->config = optarg; bit = A_CONFIG; break;
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
int field_ok(const char *s)
{
	for (; *s; s++)
		if (*s == ':' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* The daemon refuses a login whose uid is below first_valid_uid or whose
 * gid is below first_valid_gid (postern.conf(5)): add writes no such entry
 * unless --force says it is meant (a file shared with another server, an
 * entry for a later change of the limits).  The limits come from the
 * daemon's configuration; without one (the default path missing), from
 * its defaults. */
static void check_id_policy(const struct args *a, unsigned long uid, unsigned long gid)
{
	const char *path = a->config ? a->config : DEFAULT_CONF;
	struct config cfg;
	char err[512];

	config_defaults(&cfg);
	if ((a->config || access(path, F_OK) == 0) && config_load(&cfg, path, err, sizeof(err)) < 0)
		die("%s", err);
	if (uid < (unsigned long)cfg.first_valid_uid) {
		if (!a->force)
			die("uid %lu is below first_valid_uid %lu (%s): postern would refuse "
			    "this user's logins; use --force to add the entry anyway", uid,
			    (unsigned long)cfg.first_valid_uid, path);
		warnmsg("uid %lu is below first_valid_uid %lu: postern will refuse this "
			"user's logins", uid, (unsigned long)cfg.first_valid_uid);
	}
	if (gid < (unsigned long)cfg.first_valid_gid) {
		if (!a->force)
			die("gid %lu is below first_valid_gid %lu (%s): postern would refuse "
			    "this user's logins; use --force to add the entry anyway", gid,
			    (unsigned long)cfg.first_valid_gid, path);
		warnmsg("gid %lu is below first_valid_gid %lu: postern will refuse this "
			"user's logins", gid, (unsigned long)cfg.first_valid_gid);
	}
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


/* ---------- commands ---------- */

static int cmd_add(struct args *a)
{
	struct pwfile f;
	struct buf b = { 0 };
	struct buf entry = { 0 };
	struct pwline check;
	char *hash, *copy;
	unsigned long uid, gid;
	int lock;

	if ((a->given & (A_UID | A_GID | A_HOME)) != (A_UID | A_GID | A_HOME))
		usage_error("add: -u UID, -g GID and -d HOME are required");
	check_user(a->user);
	uid = check_id("uid", a->uid);
	gid = check_id("gid", a->gid);
	check_id_policy(a, uid, gid);
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
		{ "add", cmd_add, A_UID | A_GID | A_HOME | A_GECOS | A_SCHEME | A_STDIN | A_FORCE |
				  A_CONFIG, 1 },
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
