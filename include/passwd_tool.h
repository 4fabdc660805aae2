/* passwd_tool.h - private to postern-passwd (postern-passwd.c,
 * passwd_hash.c, passwd_file.c): its errors, the schemes it writes, and
 * the file it edits. */
#ifndef POSTERN_PASSWD_TOOL_H
#define POSTERN_PASSWD_TOOL_H
#include <crypt.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define PROG "postern-passwd"
/* libxcrypt takes at most 511 bytes; the daemon checks with it too. */
#define PASSWORD_MAX (CRYPT_MAX_PASSPHRASE_SIZE - 1)
#define PWBUF (PASSWORD_MAX + 3)   /* room for a CR and the NUL */

/* postern-passwd.c: messages to stderr; die removes tmp_path and exits 1. */
void warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
extern char *tmp_path;             /* temp file to remove if we die */
/* A field other than the password: no separator, no control characters. */
int field_ok(const char *s);

enum scheme { S_YESCRYPT, S_BCRYPT, S_SHA512, S_SHA256, S_SCRAM, S_PLAIN, S_END };
struct scheme_info {
	const char *name;
	const char *prefix;        /* crypt_gensalt prefix, NULL if not crypt */
};
extern const struct scheme_info schemes[S_END];

enum { A_UID = 1, A_GID = 2, A_HOME = 4, A_GECOS = 8, A_SCHEME = 16, A_STDIN = 32,
       A_FORCE = 64, A_CONFIG = 128 };

struct args {
	const char *file;
	const char *config;        /* the daemon's configuration (first_valid_uid) */
	const char *user;
	const char *uid, *gid, *home, *gecos;
	enum scheme scheme;
	int use_stdin;
	int force;
	unsigned given;            /* A_* bits of the options seen */
};

/* passwd_hash.c: read the password (terminal or --stdin) and return the
 * password field for a->scheme (malloc'd; wipe it). */
char *get_hash(const struct args *a);
/* Put the terminal's echo back (die calls it). */
void restore_tty(void);

/* passwd_file.c */
struct pwfile {
	char *data;
	size_t len;
	int exists;
	struct stat st;
};

struct line {
	const char *p;             /* start of the line */
	size_t len;                /* without the newline */
	size_t full;               /* with the newline, if any */
};

/* A growing output buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

/* Read the whole file.  A missing file is empty with exists = 0. */
void load_file(const char *path, struct pwfile *f);
int next_line(const struct pwfile *f, size_t *pos, struct line *l);
int line_user(const struct line *l, const char **user, size_t *ulen);
int is_user(const struct line *l, const char *user, int nocase);
/* Line number of the first line for user, 0 if none. */
unsigned find_user(const struct pwfile *f, const char *user, int nocase, struct line *found);
void buf_add(struct buf *b, const void *s, size_t n);
void buf_str(struct buf *b, const char *s);
/* Free memory that held hashes or passwords, overwriting it first. */
void wipe_free(char *p, size_t n);
/* Take FILE.lock (waits a few seconds); returns its descriptor. */
int lock_file(const char *path);
/* Replace path by the contents of b, atomically, keeping owner and mode. */
void write_file(const char *path, const struct pwfile *old, const struct buf *b);
#endif
