/* scram.h - SCRAM-SHA-256 (RFC 5802, RFC 7677): the stored secret's format
 * (Dovecot's {SCRAM-SHA-256}iter,salt,stored,server), written by
 * postern-passwd and read by the monitor, and the server side of the
 * exchange, run by the root monitor on the fields the pre-auth process
 * split out of the client's messages (struct ipc_scram_first/final). */
#ifndef POSTERN_SCRAM_H
#define POSTERN_SCRAM_H
#include "ipc.h"
#include <stddef.h>

#define SCRAM_PREFIX "{SCRAM-SHA-256}"
#define SCRAM_ITERATIONS 4096      /* Dovecot's default */
#define SCRAM_SALT_LEN 16
#define SCRAM_SALT_MAX 64
#define SCRAM_ITER_MAX 10000000u
#define SCRAM_SECRET_MAX 511       /* the text after the prefix */

struct scram_secret {
	unsigned iter;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t saltlen;
	unsigned char stored[32];      /* StoredKey = H(ClientKey) */
	unsigned char server[32];      /* ServerKey */
};

/* "iter,salt,stored,server" (after the prefix) into s; 0 or -1. */
int scram_secret_parse(const char *text, struct scram_secret *s);
/* The secret of password pw (iter rounds of PBKDF2 over salt) as
 * "iter,salt,stored,server" into out; 0 or -1 (too small, crypto error). */
int scram_secret_make(const char *pw, size_t pwlen, unsigned iter,
		      const unsigned char *salt, size_t saltlen, char *out, size_t cap);
/* Does the plain password pw match the secret text?  1 or 0. */
int scram_password_ok(const char *pw, size_t pwlen, const char *text);

enum scram_result { SCRAM_CONTINUE, SCRAM_DONE, SCRAM_FAIL, SCRAM_TEMPFAIL };

struct scram_server;
struct scram_server *scram_server_new(void);
void scram_server_free(struct scram_server *s);
/* The server's part of the nonce: random, base64 (24 characters). */
#define SCRAM_SNONCE_SIZE 25
int scram_server_nonce(char out[SCRAM_SNONCE_SIZE]);
/* The client-first message f.  secret: the user's secret text, or NULL
 * (unknown user, or no SCRAM secret): the exchange then goes on with a
 * made-up salt keyed by fake_key (the same on every connection) and fails
 * at the end.  snonce: the server's part of the nonce (scram_server_nonce;
 * printable, no ','), appended to the client's.  Fills out with the
 * server-first message (SCRAM_CONTINUE). */
enum scram_result scram_server_first(struct scram_server *s, const struct ipc_scram_first *f,
				     const char *secret, const unsigned char fake_key[32],
				     const char *snonce, struct ipc_scram_challenge *out,
				     const char **why);
/* The client-final message; SCRAM_DONE with out->server_final set, or
 * SCRAM_FAIL with *why. */
enum scram_result scram_server_final(struct scram_server *s, const struct ipc_scram_final *f,
				     struct ipc_auth_ok *out, const char **why);
/* The user the client named (for the log). */
const char *scram_server_user(const struct scram_server *s);
#endif
