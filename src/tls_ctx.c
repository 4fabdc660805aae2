/* tls_ctx.c - the TLS contexts, loaded as root (they read the private
 * keys) in the master, or in inetd mode the monitor, and inherited by every
 * forked session: certificates and keys with SNI, the session-ticket keys,
 * the warm-up handshake, and the discarding of every key before a monitor
 * becomes a mail process (tls_keys_discard).  The handshakes themselves run
 * in the pre-auth process (tls_conn.c). */
#include "tls.h"
#include "tls_server.h"
#include "log.h"
#include "util.h"
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
		tls_ssl_err(err, cap, what);
	}
	return pk;
}

/* Everything but the certificate and key: the live contexts and the
 * warm-up's throw-away one are configured alike. */
static SSL_CTX *new_ctx(const struct config *cfg, char *err, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_ssl_err(err, cap, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, cfg->ssl_min_protocol == CONF_TLS_V1_3 ?
				      TLS1_3_VERSION : TLS1_2_VERSION);
	/* An idle session keeps no 17 KB record buffers in each direction. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    (cfg->ssl_prefer_server_ciphers ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	if (SSL_CTX_set_cipher_list(ctx, cfg->ssl_ciphers) != 1) {
		tls_ssl_err(err, cap, "ssl_ciphers");
		goto fail;
	}
	if (SSL_CTX_set_ciphersuites(ctx, cfg->ssl_ciphersuites) != 1) {
		tls_ssl_err(err, cap, "ssl_ciphersuites");
		goto fail;
	}
	/* Session resumption by tickets, TLS 1.3 only (tls_ticket_cb): the
	 * ticket keys are made in the master, so every forked session
	 * shares them. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
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
		tls_ssl_err(err, cap, what);
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
			tls_ssl_err(err, cap, what);
			goto fail;
		}
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_ssl_err(err, cap, "ssl_key does not match ssl_cert");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* A fresh ticket key in the secure heap; one per load of the
 * certificates, so a reload (SIGHUP) also retires the old key. */
static struct tls_ticket_key *new_ticket_key(void)
{
	struct tls_ticket_key *k = OPENSSL_secure_malloc(sizeof(*k));
	if (k && (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
		  RAND_priv_bytes(k->aes, sizeof(k->aes)) != 1 ||
		  RAND_priv_bytes(k->hmac, sizeof(k->hmac)) != 1)) {
		OPENSSL_secure_clear_free(k, sizeof(*k));
		k = NULL;
	}
	return k;
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
	t->tk = new_ticket_key();
	if (!t->tk) {
		tls_ssl_err(err, cap, "session-ticket key");
		tls_server_free(t);
		return NULL;
	}
	for (i = 0; i < cfg->ncerts; i++) {
		t->ctx[i] = make_ctx(cfg, &cfg->certs[i], err, cap);
		if (!t->ctx[i]) {
			tls_server_free(t);
			return NULL;
		}
		SSL_CTX_set_app_data(t->ctx[i], t);
		t->n++;
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctx[0], tls_sni_cb);
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
		if (ctx) {
			/* tickets too, but under a throw-away key */
			struct tls_server w = { .tk = new_ticket_key() };
			SSL_CTX_set_app_data(ctx, &w);
			warm_up(ctx);
			if (w.tk)
				OPENSSL_secure_clear_free(w.tk, sizeof(*w.tk));
		}
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
	if (t->tk)
		OPENSSL_secure_clear_free(t->tk, sizeof(*t->tk));
	free(t);
}

