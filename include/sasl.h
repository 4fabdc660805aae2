/* sasl.h - SASL helpers for AUTH (RFC 5034): base64, PLAIN and LOGIN
 * decoding, and the SCRAM-SHA-256 server side (RFC 5802, RFC 7677). */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H
#include <stddef.h>
#include <stdint.h>

/* Strict base64 decode ("=" padding required, no whitespace).  Returns the
 * decoded length or -1. */
long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encode; returns the length written (out needs 4*ceil(len/3)+1). */
size_t b64_encode(const unsigned char *in, size_t len, char *out);

/* PLAIN: authzid NUL authcid NUL passwd.  Pointers into buf (which is
 * NUL-terminated at len by the caller's buffer of len+1).  0 or -1. */
int sasl_plain_split(const unsigned char *buf, size_t len, const char **authzid,
		     const char **authcid, const char **passwd, size_t *passlen);

/* SCRAM-SHA-256 server side, run by the root monitor, which alone sees the
 * stored secret.  The pre-auth process passes the client's messages. */
struct config;
struct auth_user;
struct scram_server;
enum scram_result { SCRAM_CONTINUE, SCRAM_DONE, SCRAM_FAIL, SCRAM_TEMPFAIL };

/* mech: "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS"; cbind: the connection's
 * channel-binding data as "type\0bytes" (empty when not on TLS). */
struct scram_server *scram_server_new(const char *mech, const char *cbind, size_t cblen);
/* Feed one client message; writes the next server message (raw, not
 * base64) into out.  SCRAM_DONE: out holds the server-final message and u
 * the account. */
enum scram_result scram_server_step(struct scram_server *s, const struct config *cfg,
				    const char *in, size_t inlen, char *out, size_t cap,
				    size_t *outlen, struct auth_user *u, const char **why);
const char *scram_server_user(const struct scram_server *s);
void scram_server_free(struct scram_server *s);

/* Parse "iter,salt,stored,server" (Dovecot's {SCRAM-SHA-256} form). */
int scram_parse_secret(const char *secret, unsigned *iter, unsigned char *salt,
		       size_t *saltlen, unsigned char stored[32], unsigned char server[32]);
#endif
