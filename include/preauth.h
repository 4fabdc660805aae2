/* preauth.h - private to the pre-auth process (preauth.c, preauth_sasl.c):
 * its state and the helpers the AUTH command shares with the rest of the
 * AUTHORIZATION state. */
#ifndef POSTERN_PREAUTH_H
#define POSTERN_PREAUTH_H
#include "config.h"
#include "ipc.h"
#include "netio.h"
#include "passwd_line.h"
#include "pop3.h"
#include "serve.h"
#include "session.h"

struct tls_server;
struct tls_conn;

struct preauth {
	struct session *s;
	const struct config *cfg;
	struct conn c;
	int mon;
	struct tls_server *tls_srv;
	struct tls_conn *tls;
	char user[PW_USER_MAX + 1];
	int have_user;
	unsigned failures;
	struct serve sv;
	char timestamp[160];
};

/* preauth.c */
void preauth_err(struct preauth *p, const char *text);
void preauth_exit(struct preauth *p, int code) __attribute__((noreturn));
int preauth_plaintext_ok(const struct preauth *p);
int preauth_login_ok(const struct preauth *p);
const char *preauth_mechanisms(const struct preauth *p, char *buf, size_t cap);
void preauth_refuse_plaintext(struct preauth *p);
/* Ask the monitor about a; on success never returns. */
void preauth_check(struct preauth *p, const struct ipc_auth *a);
/* A failed attempt: the delay, the count, the answer. */
void preauth_auth_failed(struct preauth *p, int temp);
/* After a login the monitor accepted (SCRAM): hand over and leave. */
void preauth_handoff(struct preauth *p, int method) __attribute__((noreturn));

/* preauth_sasl.c: the AUTH command (RFC 5034), a handler of the command
 * table (ctx: the struct preauth). */
void cmd_auth(void *ctx, const struct pop3_req *r);
#endif
