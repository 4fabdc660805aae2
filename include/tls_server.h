/* tls_server.h - what the TLS files share and nothing else sees: the
 * loaded contexts and session-ticket keys (made as root by tls_ctx.c, used
 * in the pre-auth process by tls_conn.c) and a connection's state
 * (tls_conn.c, tls_relay.c). */
#ifndef POSTERN_TLS_SERVER_H
#define POSTERN_TLS_SERVER_H
#include "config.h"
#include "netio.h"
#include <stdint.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One session-ticket key (RFC 5077 layout, as OpenSSL's own: a name that
 * picks the key, AES-256-CBC and HMAC-SHA256).  Made by the master with
 * each load of the certificates and kept in the secure heap, so that
 * tls_keys_discard removes it with the private keys. */
struct tls_ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct tls_server {
	SSL_CTX *ctx[CONF_MAX_CERTS];
	int n;
	struct tls_ticket_key *tk;
};

/* One connection (pre-auth process: tls_conn.c and tls_relay.c). */
struct tls_conn {
	SSL *ssl;
	int fd;
	struct transport tr;
};

/* SO_RCVTIMEO and SO_SNDTIMEO on fd: no SSL_read/SSL_write waits longer. */
void tls_set_timeouts(int fd, uint64_t ms);

/* Callbacks run during a handshake (pre-auth process), set up by
 * tls_ctx.c on every context (app data: the struct tls_server). */
int tls_sni_cb(SSL *ssl, int *alert, void *arg);
int tls_ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
		  EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc);

/* "what: OpenSSL's reason" (or errno's) into err; clears OpenSSL's queue. */
static inline void tls_ssl_err(char *err, size_t cap, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, cap, "%s: %s", what, e ? buf : strerror(errno));
	ERR_clear_error();
}
#endif
