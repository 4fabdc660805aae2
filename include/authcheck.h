/* authcheck.h - credential checks against the passwd file, done by the
 * root monitor.  Every failed check costs the crypt an unknown user costs,
 * and every comparison is constant-time. */
#ifndef POSTERN_AUTHCHECK_H
#define POSTERN_AUTHCHECK_H
#include "config.h"
#include "passwd_line.h"
#include <stddef.h>
#include <sys/types.h>

struct auth_user {
	char user[256];
	uid_t uid;
	gid_t gid;
	char home[PW_HOME_MAX + 1];
	char scram[512];      /* {SCRAM-SHA-256} secret, if any */
	char plain[1024];     /* {PLAIN} secret, if any (APOP) */
};

enum auth_result { AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL };

/* Look up user; fills u (returns 1), 0 if unknown, -1 if the file cannot
 * be read.  u and *scheme are reset first.  An entry with a field too long
 * for u or hash is logged and given as PW_LOCKED, never cut.  hash receives
 * the user's crypt hash, or else the dummy a failure pays for: a crypt
 * setting of libxcrypt's default scheme at its default cost (what
 * postern-passwd writes for a new user), whatever the file holds. */
int auth_lookup(const struct config *cfg, const char *user, struct auth_user *u,
		int *scheme, char *hash, size_t hashcap);
/* For a SCRAM exchange: *secret is u's {SCRAM-SHA-256} text, or NULL (no
 * such user, invalid name, or no SCRAM secret); fake_key keys the made-up
 * salt of such a name (stable on this host, unknown outside).  Returns
 * auth_lookup's value. */
int auth_scram_lookup(const struct config *cfg, const char *user, struct auth_user *u,
		      const char **secret, unsigned char fake_key[32]);

enum auth_result auth_password(const struct config *cfg, const char *user,
			       const char *pass, size_t passlen, struct auth_user *u,
			       const char **why);
enum auth_result auth_apop(const struct config *cfg, const char *user,
			   const char *timestamp, const char *digest,
			   struct auth_user *u, const char **why);
/* uid/gid policy: 0 when the account may log in. */
int auth_ids_ok(const struct config *cfg, const struct auth_user *u, const char **why);
/* Expand mail_location (%h %u %n %d %%) for u into out. */
int auth_mail_path(const struct config *cfg, const struct auth_user *u, char *out,
		   size_t cap);
#endif
