/* tls.h - OpenSSL, used only in the root process that loads keys and in the
 * pre-auth process that does handshakes and relays.  Never in a mail
 * process. */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H
#include "config.h"
#include "netio.h"
#include <stddef.h>
#include <stdint.h>

struct tls_server;
struct tls_conn;

/* Load every certificate/key pair (the first is the default, the others
 * are picked by SNI).  NULL with err filled on failure. */
struct tls_server *tls_server_new(const struct config *cfg, char *err, size_t cap);
void tls_server_free(struct tls_server *t);
/* A handshake with itself, so that forked sessions start with OpenSSL's
 * algorithm caches filled (the master calls it once per load).  It uses
 * throw-away keys of the same types, configured as cfg says; never t's. */
void tls_server_warm(struct tls_server *t, const struct config *cfg);
/* Drop every private and session-ticket key from this process's memory
 * (before it becomes a mail process).  t may be NULL.  No OpenSSL call may
 * follow. */
void tls_keys_discard(struct tls_server *t);

/* Handshake on fd before deadline (now_ms() units).  NULL on failure, with
 * a short reason in err. */
struct tls_conn *tls_accept(struct tls_server *t, int fd, uint64_t deadline,
			    char *err, size_t cap);
const struct transport *tls_transport(struct tls_conn *c);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384" */
void tls_describe(struct tls_conn *c, char *out, size_t cap);
/* Whether the connection has channel binding: tls-exporter, on TLS 1.3
 * or on TLS 1.2 with the extended master secret.  Only then is
 * SCRAM-SHA-256-PLUS offered. */
int tls_can_bind(struct tls_conn *c);
/* The tls-exporter channel-binding data; returns its length or -1. */
int tls_channel_binding(struct tls_conn *c, const char **type, unsigned char *out,
			size_t cap);
/* Relay decrypted client data to fd and fd's data to the client until one
 * side closes; pending holds bytes already decrypted but unread. */
void tls_relay(struct tls_conn *c, int fd, const char *pending, size_t npending,
	       uint64_t idle_ms);
/* Send close_notify and free. */
void tls_close(struct tls_conn *c);
#endif
