/* passwd_line.h - one line of the credentials file, Dovecot passwd-file
 * compatible: user:password:uid:gid:gecos:home:shell:extra.  Pure parser. */
#ifndef POSTERN_PASSWD_LINE_H
#define POSTERN_PASSWD_LINE_H
#include <stddef.h>
#include <sys/types.h>

#define PW_USER_MAX 255
/* The longest home the monitor takes (struct auth_user); postern-passwd
 * refuses longer ones rather than write an entry that would be locked. */
#define PW_HOME_MAX 4095

enum pw_scheme {
	PW_CRYPT,        /* crypt(3) hash: $y$ $2b$ $6$ $5$ ... */
	PW_PLAIN,        /* {PLAIN}secret */
	PW_SCRAM256,     /* {SCRAM-SHA-256}iter,salt,stored,server */
	PW_LOCKED,       /* empty, '*', '!' or unknown scheme: never matches */
};

struct pwline {
	/* Pointers into the caller's (modified) line buffer. */
	char *user;
	char *password;      /* after any {SCHEME} prefix */
	enum pw_scheme scheme;
	uid_t uid;
	gid_t gid;
	char *home;
	char *extra;
};

/* Is name a user name postern accepts?  1-255 bytes of [A-Za-z0-9._+-],
 * at most one '@' not first or last; no "..", no leading '.' or '-'. */
int pw_user_valid(const char *name, size_t len);

/* The value of key in an entry's extra field: space-separated key=value
 * words, as in Dovecot's passwd-file ("login_delay=300 expire=30").  A
 * word "userdb_KEY=" counts as KEY= too.  Copies the value (NUL-terminated)
 * into val and returns 1; 0 when the key is absent; -1 when its value does
 * not fit cap. */
int pw_extra_get(const char *extra, const char *key, char *val, size_t cap);

/* Parse line in place (the newline already removed).  Returns 1 for an
 * entry, 0 for a blank or comment line, -1 for a malformed line. */
int pw_parse_line(char *line, struct pwline *out);
#endif
