/* tls_conn.c - one TLS connection in the pre-auth process (chrooted,
 * user postern, seccomp): the handshake with its SNI and session-ticket
 * callbacks, the transport the POP3 code reads through, the description
 * for the log, channel binding, and close_notify.  The contexts and keys
 * it uses were loaded as root by tls_ctx.c before the fork; nothing here
 * opens a file. */
#include "tls.h"
#include "tls_server.h"
#include "util.h"
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int i;
	(void)alert;
	if (!name)
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < t->n; i++) {
		X509 *cert = SSL_CTX_get0_certificate(t->ctx[i]);
		if (cert && X509_check_host(cert, name, 0, 0, NULL) == 1) {
			if (i > 0)
				SSL_set_SSL_CTX(ssl, t->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	/* Unknown name: the default certificate. */
	return SSL_TLSEXT_ERR_OK;
}

/* Session tickets are issued and accepted for TLS 1.3 only.  A TLS 1.2
 * ticket holds the session's master secret: whoever obtains the ticket key
 * (it sits in every pre-auth process) could decrypt every recorded TLS 1.2
 * session that got one, passwords included.  A TLS 1.3 ticket holds only a
 * resumption secret derived one way from the session, and OpenSSL resumes
 * with a fresh (EC)DHE exchange (psk_dhe_ke), so a stolen key opens no
 * recorded session.  Returning 0 makes OpenSSL send no TLS 1.2 ticket and
 * treat one a client offers as unknown (a full handshake). */
int tls_ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv,
		  EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct tls_server *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	const struct tls_ticket_key *k = t ? t->tk : NULL;
	OSSL_PARAM params[3];
	if (!k || SSL_version(s) < TLS1_3_VERSION)
		return 0;
	if (enc) {
		memcpy(key_name, k->name, sizeof(k->name));
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
			return -1;
	} else {
		if (memcmp(key_name, k->name, sizeof(k->name)) != 0)
			return 0;   /* another key (before a reload): full handshake */
		if (EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
			return -1;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						      sizeof(k->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 1 : -1;
}

static ssize_t tr_read(void *ctx, void *buf, size_t n)
{
	struct tls_conn *c = ctx;
	size_t got = 0;
	int r = SSL_read_ex(c->ssl, buf, n, &got);
	if (r == 1)
		return (ssize_t)got;
	if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = EIO;
	return -1;
}

static ssize_t tr_write(void *ctx, const void *buf, size_t n)
{
	struct tls_conn *c = ctx;
	size_t done = 0;
	if (SSL_write_ex(c->ssl, buf, n, &done) == 1)
		return (ssize_t)done;
	errno = EIO;
	return -1;
}

static int tr_pending(void *ctx)
{
	struct tls_conn *c = ctx;
	return SSL_pending(c->ssl) > 0;
}

void tls_set_timeouts(int fd, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

struct tls_conn *tls_accept(struct tls_server *t, int fd, uint64_t deadline,
			    char *err, size_t cap)
{
	struct tls_conn *c;
	uint64_t now = now_ms();
	int r;
	if (!t) {
		snprintf(err, cap, "TLS not configured");
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->ssl = SSL_new(t->ctx[0]);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		tls_ssl_err(err, cap, "SSL_new");
		free(c);
		return NULL;
	}
	/* Neither the handshake nor any later read or write before login may
	 * outlast the login deadline: poll() only says a byte is there, and a
	 * client that sends half a record would otherwise hold SSL_read for
	 * ever.  tls_relay sets the session's own limit after login. */
	tls_set_timeouts(fd, deadline > now ? deadline - now : 1);
	r = SSL_accept(c->ssl);
	if (r != 1) {
		tls_ssl_err(err, cap, "handshake");
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	c->tr.read = tr_read;
	c->tr.write = tr_write;
	c->tr.pending = tr_pending;
	c->tr.ctx = c;
	return c;
}

const struct transport *tls_transport(struct tls_conn *c)
{
	return &c->tr;
}

void tls_describe(struct tls_conn *c, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
}

/* RFC 9266 tls-exporter is defined for TLS 1.3, and for TLS 1.2 only with
 * the extended master secret (RFC 7627): without it a man in the middle can
 * give two connections the same master secret (the triple handshake). */
int tls_can_bind(struct tls_conn *c)
{
	return SSL_version(c->ssl) >= TLS1_3_VERSION || SSL_get_extms_support(c->ssl) == 1;
}

int tls_channel_binding(struct tls_conn *c, const char **type, unsigned char *out,
			size_t cap)
{
	*type = "tls-exporter";
	if (!tls_can_bind(c) || cap < 32 ||
	    SSL_export_keying_material(c->ssl, out, 32, "EXPORTER-Channel-Binding", 24,
				       NULL, 0, 0) != 1)
		return -1;
	return 32;
}

void tls_close(struct tls_conn *c)
{
	if (!c)
		return;
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	free(c);
}
