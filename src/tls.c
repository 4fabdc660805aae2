/* tls.c - OpenSSL server side.  tls_server_new runs as root (it reads the
 * private keys) in the master or, in inetd mode, the monitor; everything
 * else runs in the pre-auth process, chrooted as 'postern'.  The mail
 * process never runs TLS code, and the keys are gone from its memory before
 * it drops to the mail user (tls_keys_discard). */
#include "tls.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

struct tls_server {
	SSL_CTX *ctx[CONF_MAX_CERTS];
	int n;
};

struct tls_conn {
	SSL *ssl;
	int fd;
	struct transport tr;
};

static void ssl_err(char *err, size_t cap, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, cap, "%s: %s", what, e ? buf : strerror(errno));
	ERR_clear_error();
}

/* Private keys and session-ticket keys live in OpenSSL's secure heap: one
 * mapping of its own.  When the monitor becomes the mail process it maps
 * zero pages over it (tls_keys_discard), so the mail user never holds the
 * keys.  That costs nothing, where freeing the whole TLS context would
 * write to, and so copy, a few dozen heap pages per session.  Key files are read into secure
 * memory too (not through stdio, whose freed buffer would keep the PEM). */
#define SECURE_HEAP_SIZE (256 * 1024)
static char *key_arena;
static size_t key_arena_len;

static void secure_heap_init(void)
{
	static int done;
	FILE *f;
	char line[512];
	void *probe;
	if (done)
		return;
	done = 1;
	if (CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, 16) == 0)
		return;
	probe = OPENSSL_secure_malloc(16);
	f = fopen("/proc/self/maps", "re");
	while (probe && f && fgets(line, sizeof(line), f)) {
		char *end;
		unsigned long lo = strtoul(line, &end, 16), hi = 0;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 16);
		if (*end == ' ' && (uintptr_t)probe >= lo && (uintptr_t)probe < hi) {
			key_arena = (char *)lo;
			key_arena_len = hi - lo;
			break;
		}
	}
	if (f)
		fclose(f);
	OPENSSL_secure_free(probe);
}

void tls_keys_discard(struct tls_server *t)
{
	/* Fresh zero pages over the arena: the keys are gone without writing
	 * to (and so copying) the pages this process shares with the master.
	 * No OpenSSL code may run here afterwards. */
	if (key_arena && mmap(key_arena, key_arena_len, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED)
		return;
	if (key_arena)
		pfatal("cannot discard the TLS keys: %s", strerror(errno));
	tls_server_free(t);   /* no secure heap: free (and clear) the keys */
}

/* The key file, read straight into secure memory and parsed from there. */
static EVP_PKEY *read_key(const char *path, char *err, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	EVP_PKEY *pk = NULL;
	BIO *b;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || st.st_size > 64 * 1024) {
		snprintf(err, cap, "ssl_key %s: %s", path,
			 fd < 0 ? strerror(errno) : "not a regular file of at most 64 KiB");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = OPENSSL_secure_malloc((size_t)st.st_size);
	while (buf && len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!buf || len != (size_t)st.st_size) {
		snprintf(err, cap, "ssl_key %s: cannot read it", path);
		OPENSSL_secure_clear_free(buf, (size_t)st.st_size);
		return NULL;
	}
	b = BIO_new_mem_buf(buf, (int)len);
	if (b)
		pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	OPENSSL_secure_clear_free(buf, len);
	if (!pk) {
		char what[600];
		snprintf(what, sizeof(what), "ssl_key %s", path);
		ssl_err(err, cap, what);
	}
	return pk;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
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

/* Everything but the certificate and key: the live contexts and the
 * warm-up's throw-away one are configured alike. */
static SSL_CTX *new_ctx(const struct config *cfg, char *err, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_err(err, cap, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, cfg->ssl_min_protocol == CONF_TLS_V1_3 ?
				      TLS1_3_VERSION : TLS1_2_VERSION);
	/* An idle session keeps no 17 KB record buffers in each direction. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    (cfg->ssl_prefer_server_ciphers ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	if (SSL_CTX_set_cipher_list(ctx, cfg->ssl_ciphers) != 1) {
		ssl_err(err, cap, "ssl_ciphers");
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, cfg->ssl_ciphersuites) != 1) {
		ssl_err(err, cap, "ssl_ciphersuites");
		goto fail;
	}
	/* Session resumption by tickets: the ticket keys are made here, in
	 * the master, so every forked session shares them. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *make_ctx(const struct config *cfg, const struct cert_pair *cp,
			 char *err, size_t cap)
{
	SSL_CTX *ctx = new_ctx(cfg, err, cap);
	char what[600];
	if (!ctx)
		return NULL;
	snprintf(what, sizeof(what), "ssl_cert %s", cp->cert);
	if (SSL_CTX_use_certificate_chain_file(ctx, cp->cert) != 1) {
		ssl_err(err, cap, what);
		goto fail;
	}
	{
		EVP_PKEY *pk = read_key(cp->key, err, cap);
		int ok;
		if (!pk)
			goto fail;
		ok = SSL_CTX_use_PrivateKey(ctx, pk);
		EVP_PKEY_free(pk);
		if (ok != 1) {
			snprintf(what, sizeof(what), "ssl_key %s", cp->key);
			ssl_err(err, cap, what);
			goto fail;
		}
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err(err, cap, "ssl_key does not match ssl_cert");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *tls_server_new(const struct config *cfg, char *err, size_t cap)
{
	struct tls_server *t;
	int i;
	if (cfg->ncerts == 0) {
		snprintf(err, cap, "no ssl_cert configured");
		return NULL;
	}
	secure_heap_init();
	t = xcalloc(1, sizeof(*t));
	for (i = 0; i < cfg->ncerts; i++) {
		t->ctx[i] = make_ctx(cfg, &cfg->certs[i], err, cap);
		if (!t->ctx[i]) {
			tls_server_free(t);
			return NULL;
		}
		t->n++;
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctx[0], sni_cb);
	SSL_CTX_set_tlsext_servername_arg(t->ctx[0], t);
	return t;
}

/* One handshake with ourselves over a BIO pair, in the master, before any
 * fork.  OpenSSL 3 looks up (and caches) every algorithm the first time a
 * handshake needs it; done here, every forked session finds the cache
 * filled instead of rebuilding it and copying the heap pages it writes. */
static void warm_up(SSL_CTX *sctx)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *srv = SSL_new(sctx), *cli = cctx ? SSL_new(cctx) : NULL;
	BIO *sb = NULL, *cb = NULL;
	int i, sdone = 0, cdone = 0;
	if (!srv || !cli || BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		goto out;
	SSL_set_bio(srv, sb, sb);
	SSL_set_bio(cli, cb, cb);
	SSL_set_accept_state(srv);
	SSL_set_connect_state(cli);
	for (i = 0; i < 16 && !(sdone && cdone); i++) {
		if (!cdone)
			cdone = SSL_do_handshake(cli) == 1;
		if (!sdone)
			sdone = SSL_do_handshake(srv) == 1;
	}
	if (sdone && cdone) {
		/* application data both ways: the record ciphers too */
		char b[4];
		size_t n;
		SSL_write_ex(srv, "+OK", 3, &n);
		SSL_read_ex(cli, b, sizeof(b), &n);
		SSL_write_ex(cli, "Q", 1, &n);
		SSL_read_ex(srv, b, sizeof(b), &n);
	}
out:
	SSL_free(cli);
	SSL_free(srv);
	SSL_CTX_free(cctx);
}

/* A throw-away key of the same type as real (the same curve: the key is
 * its template) with a self-signed certificate for it.  The warm-up must
 * not sign with the real key: OpenSSL would cache Montgomery contexts of
 * its primes in the ordinary heap, which tls_keys_discard does not reach
 * and every mail process would inherit. */
static SSL_CTX *warm_ctx(const struct config *cfg, EVP_PKEY *real)
{
	char err[256];
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_pkey(NULL, real, NULL);
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	SSL_CTX *ctx = NULL;
	const EVP_MD *md = NULL;
	int nid = NID_undef, rsa = EVP_PKEY_is_a(real, "RSA") || EVP_PKEY_is_a(real, "RSA-PSS");
	/* RSA at 1024 bits: the caches are the same for any size, and making
	 * a key of the real size takes up to seconds (4096 bits). */
	if (!kc || EVP_PKEY_keygen_init(kc) != 1 ||
	    (rsa && EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 1024) != 1) ||
	    EVP_PKEY_keygen(kc, &pk) != 1)
		goto out;
	/* Ed25519 and Ed448 sign without a separate digest. */
	if (EVP_PKEY_get_default_digest_nid(pk, &nid) > 0 && nid != NID_undef)
		md = EVP_get_digestbynid(nid);
	x = X509_new();
	if (!x || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				       (const unsigned char *)"postern warm-up", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_set_pubkey(x, pk) != 1 || X509_sign(x, pk, md) <= 0)
		goto out;
	ctx = new_ctx(cfg, err, sizeof(err));
	/* security level 1 admits the small key */
	if (ctx && rsa && SSL_CTX_get_security_level(ctx) > 1)
		SSL_CTX_set_security_level(ctx, 1);
	if (ctx && (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, pk) != 1)) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
out:
	X509_free(x);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(kc);
	return ctx;
}

void tls_server_warm(struct tls_server *t, const struct config *cfg)
{
	int i, j;
	for (i = 0; t && i < t->n; i++) {
		EVP_PKEY *real = SSL_CTX_get0_privatekey(t->ctx[i]);
		SSL_CTX *ctx;
		/* One warm-up per kind of key is enough. */
		for (j = 0; j < i; j++) {
			EVP_PKEY *k = SSL_CTX_get0_privatekey(t->ctx[j]);
			if (EVP_PKEY_get_id(k) == EVP_PKEY_get_id(real) &&
			    EVP_PKEY_get_bits(k) == EVP_PKEY_get_bits(real))
				break;
		}
		if (!real || j < i)
			continue;
		ctx = warm_ctx(cfg, real);
		if (ctx)
			warm_up(ctx);
		SSL_CTX_free(ctx);
	}
	ERR_clear_error();
}

void tls_server_free(struct tls_server *t)
{
	int i;
	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		SSL_CTX_free(t->ctx[i]);
	free(t);
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

static void set_rcvtimeo(int fd, uint64_t ms)
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
		ssl_err(err, cap, "SSL_new");
		free(c);
		return NULL;
	}
	/* Neither the handshake nor any later read or write before login may
	 * outlast the login deadline: poll() only says a byte is there, and a
	 * client that sends half a record would otherwise hold SSL_read for
	 * ever.  tls_relay sets the session's own limit after login. */
	set_rcvtimeo(fd, deadline > now ? deadline - now : 1);
	r = SSL_accept(c->ssl);
	if (r != 1) {
		ssl_err(err, cap, "handshake");
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

/* Move bytes between the client (TLS) and the mail process (plaintext
 * socket) until the mail process ends or the client goes.  Each way waits
 * for the other side to take what it has before it reads more (a proxy
 * that buffered without bound, or blocked writing one way, could deadlock
 * with a client that pipelines many commands):
 *  - from the mail process, a CHUNK is read only while the client's socket
 *    has room (POLLOUT, which TCP_NOTSENT_LOWAT holds back), so what the
 *    client has not taken stays in the mail process's socket, where its
 *    idle clock sees it move (netio.c, output_moving);
 *  - from the client, a record is read only when the last one was taken
 *    whole by the mail process's socket (non-blocking sends); a remainder
 *    waits for POLLOUT there. */
enum { CHUNK = 64 * 1024, ROOM = 64 * 1024 };

/* Offer the mail process in[*off, *len) without blocking; what it does not
 * take waits for its POLLOUT.  Returns 0 when it takes no more input (it
 * ended; what it wrote is still delivered). */
static int feed_mail(int fd, const char *in, size_t *off, size_t *len)
{
	ssize_t w = send(fd, in + *off, *len - *off, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		*off = *len = 0;
		return 0;
	}
	if (w > 0)
		*off += (size_t)w;
	if (*off >= *len)
		*off = *len = 0;
	return 1;
}

void tls_relay(struct tls_conn *c, int fd, const char *pending, size_t npending,
	       uint64_t idle_ms)
{
	char *buf = xmalloc(CHUNK), *in = xmalloc(CHUNK);
	size_t in_off = 0, in_len = 0; /* client bytes the mail process has not taken */
	size_t unconfirmed = 0; /* sent to the client since poll last saw room */
	int input_open = 1;     /* 0: the mail process takes no more input */

	/* A half record from the client, or a client that stops reading,
	 * may stall SSL_read/SSL_write (and the close_notify) no longer than
	 * the idle timeout. */
	set_rcvtimeo(c->fd, idle_ms);
	{
		int lowat = 128 * 1024;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
	}
	/* What the handshake and the login freed goes back to the kernel: a
	 * relay mostly sits idle between a client's polls. */
	malloc_trim(0);
	if (npending && write_all(fd, pending, npending) < 0)
		goto out;
	for (;;) {
		int room = unconfirmed < ROOM, backlog = in_off < in_len;
		int want_client = input_open && !backlog;
		/* A descriptor with nothing asked of it stays out of poll: its
		 * hang-up would wake it at once, again and again. */
		struct pollfd p[2] = {
			{ c->fd, (short)((want_client ? POLLIN : 0) | (room ? 0 : POLLOUT)), 0 },
			{ fd, (short)((room ? POLLIN : 0) | (backlog ? POLLOUT : 0)), 0 } };
		if (!p[0].events)
			p[0].fd = -1;
		if (!p[1].events)
			p[1].fd = -1;
		if (want_client && SSL_pending(c->ssl) > 0) {
			p[0].revents = POLLIN;
			p[1].revents = 0;
		} else {
			/* Without room, a client that takes nothing for the
			 * idle timeout ends the relay, as SO_SNDTIMEO would. */
			int r = poll(p, 2, (int)(room ? idle_ms + 60000 : idle_ms));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
		}
		if (p[0].revents & POLLOUT)
			unconfirmed = 0;
		if (!want_client && (p[0].revents & (POLLHUP | POLLERR)))
			break; /* client gone while it was not being read */
		/* A hang-up fails the send, which ends the input. */
		if (backlog && (p[1].revents & (POLLOUT | POLLHUP | POLLERR)))
			input_open = feed_mail(fd, in, &in_off, &in_len);
		if (want_client && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t got = 0;
			int ok = SSL_read_ex(c->ssl, in, CHUNK, &got);
			if (ok != 1) {
				int e = SSL_get_error(c->ssl, ok);
				/* Client gone: closing our end makes the mail
				 * process end without UPDATE. */
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					break;
			} else {
				in_off = 0;
				in_len = got;
				input_open = feed_mail(fd, in, &in_off, &in_len);
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) && room) {
			ssize_t n = read(fd, buf, CHUNK);
			size_t done = 0;
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break; /* mail process finished */
			if (SSL_write_ex(c->ssl, buf, (size_t)n, &done) != 1)
				break;
			unconfirmed += (size_t)n;
		}
	}
out:
	close(fd);
	free(in);
	free(buf);
}

void tls_close(struct tls_conn *c)
{
	if (!c)
		return;
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	free(c);
}
