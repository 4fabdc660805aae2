/* scram.c - SCRAM-SHA-256 (RFC 5802, RFC 7677): the {SCRAM-SHA-256}
 * secret format, in one place for postern-passwd (which writes it) and the
 * monitor (which reads it), and the server side of the exchange.  The
 * server runs in the root monitor, which alone sees stored secrets; it gets
 * the client's messages already split into fields by the pre-auth process
 * and only checks lengths and character sets, compares and computes. */
#include "scram.h"
#include "base64.h"
#include "util.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hmac256(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
		   unsigned char out[32])
{
	unsigned int l = 32;
	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l) ? 0 : -1;
}

/* ---- the secret ---- */

int scram_secret_parse(const char *text, struct scram_secret *s)
{
	const char *f[4], *p = text;
	size_t fl[4];
	char num[16], *end;
	unsigned long it;
	long n;
	int i;

	for (i = 0; i < 4; i++) {
		const char *c = strchr(p, ',');
		f[i] = p;
		fl[i] = c ? (size_t)(c - p) : strlen(p);
		if ((i < 3) != (c != NULL) || fl[i] == 0)
			return -1;
		p = c ? c + 1 : p + fl[i];
	}
	if (fl[0] >= sizeof(num))
		return -1;
	memcpy(num, f[0], fl[0]);
	num[fl[0]] = '\0';
	if (num[0] < '1' || num[0] > '9')
		return -1;
	it = strtoul(num, &end, 10);
	if (*end || it > SCRAM_ITER_MAX)
		return -1;
	s->iter = (unsigned)it;
	if ((n = b64_decode(f[1], fl[1], s->salt, sizeof(s->salt))) <= 0)
		return -1;
	s->saltlen = (size_t)n;
	if (b64_decode(f[2], fl[2], s->stored, 32) != 32 ||
	    b64_decode(f[3], fl[3], s->server, 32) != 32)
		return -1;
	return 0;
}

static int salted_password(const char *pw, size_t pwlen, unsigned iter,
			   const unsigned char *salt, size_t saltlen, unsigned char out[32])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, (int)iter, EVP_sha256(),
				 32, out) == 1 ? 0 : -1;
}

int scram_secret_make(const char *pw, size_t pwlen, unsigned iter,
		      const unsigned char *salt, size_t saltlen, char *out, size_t cap)
{
	unsigned char salted[32], ckey[32], stored[32], server[32];
	char b[3][B64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	int n, rc = -1;

	if (iter < 1 || iter > SCRAM_ITER_MAX || saltlen < 1 || saltlen > SCRAM_SALT_MAX)
		return -1;
	if (salted_password(pw, pwlen, iter, salt, saltlen, salted) == 0 &&
	    hmac256(salted, 32, "Client Key", 10, ckey) == 0 &&
	    hmac256(salted, 32, "Server Key", 10, server) == 0 &&
	    SHA256(ckey, 32, stored)) {
		b64_encode(salt, saltlen, b[0]);
		b64_encode(stored, 32, b[1]);
		b64_encode(server, 32, b[2]);
		n = snprintf(out, cap, "%u,%s,%s,%s", iter, b[0], b[1], b[2]);
		rc = n > 0 && (size_t)n < cap ? 0 : -1;
	}
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	return rc;
}

int scram_password_ok(const char *pw, size_t pwlen, const char *text)
{
	struct scram_secret s;
	unsigned char salted[32], ckey[32], h[32];
	int ok = 0;
	if (scram_secret_parse(text, &s) < 0)
		return 0;
	if (salted_password(pw, pwlen, s.iter, s.salt, s.saltlen, salted) == 0 &&
	    hmac256(salted, 32, "Client Key", 10, ckey) == 0 && SHA256(ckey, 32, h))
		ok = CRYPTO_memcmp(h, s.stored, 32) == 0;
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	explicit_bzero(&s, sizeof(s));
	return ok;
}

/* ---- the server ---- */

struct scram_server {
	int step;
	int known;
	char user[IPC_USER_MAX + 1];
	char gs2[SCRAM_GS2_MAX + 1];
	unsigned char cbdata[SCRAM_CBDATA_MAX];
	size_t cblen;
	char bare[SCRAM_BARE_MAX + 1];
	char server_first[SCRAM_SERVER_MAX + 1];
	char nonce[SCRAM_NONCE_MAX + 64 + 1];
	struct scram_secret sec;
};

struct scram_server *scram_server_new(void)
{
	return xcalloc(1, sizeof(struct scram_server));
}

void scram_server_free(struct scram_server *s)
{
	if (s) {
		explicit_bzero(s, sizeof(*s));
		free(s);
	}
}

const char *scram_server_user(const struct scram_server *s)
{
	return s ? s->user : "";
}

static int nonce_ok(const char *p)
{
	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < 0x21 || *p > 0x7e || *p == ',')
			return 0;
	return 1;
}

/* For an unknown user: a salt that is the same on every connection (or two
 * attempts would tell which names exist) but that nobody can predict: an
 * HMAC of the name under the caller's key.  The keys are random and the
 * exchange cannot succeed. */
static void fake_secret(struct scram_server *s, const unsigned char key[32])
{
	unsigned char salt[32];
	hmac256(key, 32, s->user, strlen(s->user), salt);
	memcpy(s->sec.salt, salt, 16);
	s->sec.saltlen = 16;
	s->sec.iter = SCRAM_ITERATIONS;
	RAND_bytes(s->sec.stored, 32);
	RAND_bytes(s->sec.server, 32);
}

int scram_server_nonce(char out[SCRAM_SNONCE_SIZE])
{
	unsigned char nbytes[18];
	out[0] = '\0';
	if (RAND_bytes(nbytes, sizeof(nbytes)) != 1)
		return -1;
	b64_encode(nbytes, sizeof(nbytes), out);
	return 0;
}

enum scram_result scram_server_first(struct scram_server *s, const struct ipc_scram_first *f,
				     const char *secret, const unsigned char fake_key[32],
				     const char *snonce, struct ipc_scram_challenge *out,
				     const char **why)
{
	int plus = f->method == AUTH_M_SCRAM_PLUS;
	char saltb64[B64_ENCODED_SIZE(SCRAM_SALT_MAX)];
	int n;

	snprintf(s->user, sizeof(s->user), "%s", f->user);
	if (s->step++ != 0) {
		*why = "unexpected SCRAM message";
		return SCRAM_FAIL;
	}
	if (f->error) {
		*why = scram_error_text(f->error);
		return SCRAM_FAIL;
	}
	*why = "malformed client-first message";
	if (!f->user[0] || !nonce_ok(f->nonce) || strlen(f->nonce) > SCRAM_NONCE_MAX)
		return SCRAM_FAIL;
	if (f->cbflag == 'p') {
		if (!plus || !f->cblen || strcmp(f->cbname, f->cbtype) != 0) {
			*why = "channel binding type not supported";
			return SCRAM_FAIL;
		}
	} else if (plus) {
		*why = "SCRAM-SHA-256-PLUS without channel binding";
		return SCRAM_FAIL;
	} else if (f->cbflag == 'y' && f->cblen) {
		/* The client could bind but thinks we cannot; we advertise
		 * -PLUS whenever we have binding data: a downgrade. */
		*why = "channel binding downgrade";
		return SCRAM_FAIL;
	}
	snprintf(s->gs2, sizeof(s->gs2), "%s", f->gs2);
	snprintf(s->bare, sizeof(s->bare), "%s", f->bare);
	memcpy(s->cbdata, f->cbdata, f->cblen);
	s->cblen = f->cbflag == 'p' ? f->cblen : 0;
	if (!nonce_ok(snonce) || strlen(snonce) > 64) {
		*why = "no server nonce";
		return SCRAM_TEMPFAIL;
	}
	snprintf(s->nonce, sizeof(s->nonce), "%s%s", f->nonce, snonce);
	s->known = secret && scram_secret_parse(secret, &s->sec) == 0;
	if (!s->known)
		fake_secret(s, fake_key);
	b64_encode(s->sec.salt, s->sec.saltlen, saltb64);
	n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce,
		     saltb64, s->sec.iter);
	if (n < 0 || (size_t)n >= sizeof(s->server_first))
		return SCRAM_FAIL;
	memcpy(out->msg, s->server_first, (size_t)n + 1);
	out->len = (size_t)n;
	return SCRAM_CONTINUE;
}

enum scram_result scram_server_final(struct scram_server *s, const struct ipc_scram_final *f,
				     struct ipc_auth_ok *out, const char **why)
{
	unsigned char cb[SCRAM_GS2_MAX + SCRAM_CBDATA_MAX], sig[32], ckey[32], stored[32],
		ssig[32];
	char cbexp[B64_ENCODED_SIZE(sizeof(cb))], am[SCRAM_BARE_MAX + SCRAM_SERVER_MAX +
						     SCRAM_NOPROOF_MAX + 3];
	size_t cblen, i;
	int n, ok;

	if (s->step++ != 1) {
		*why = "unexpected SCRAM message";
		return SCRAM_FAIL;
	}
	if (f->error) {
		*why = scram_error_text(f->error);
		return SCRAM_FAIL;
	}
	*why = "malformed client-final message";
	if (strcmp(f->nonce, s->nonce) != 0 || strncmp(f->noproof, "c=", 2) != 0)
		return SCRAM_FAIL;
	/* The channel-binding field must be the gs2 header plus, for -PLUS,
	 * the binding data of this very TLS connection. */
	cblen = strlen(s->gs2);
	memcpy(cb, s->gs2, cblen);
	memcpy(cb + cblen, s->cbdata, s->cblen);
	cblen += s->cblen;
	b64_encode(cb, cblen, cbexp);
	if (strcmp(cbexp, f->cbind) != 0) {
		*why = "channel binding mismatch";
		return SCRAM_FAIL;
	}
	/* AuthMessage = client-first-bare "," server-first "," without-proof */
	n = snprintf(am, sizeof(am), "%s,%s,%s", s->bare, s->server_first, f->noproof);
	if (n < 0 || (size_t)n >= sizeof(am))
		return SCRAM_FAIL;
	hmac256(s->sec.stored, 32, am, (size_t)n, sig);
	for (i = 0; i < 32; i++)
		ckey[i] = f->proof[i] ^ sig[i];
	SHA256(ckey, 32, stored);
	ok = s->known && CRYPTO_memcmp(stored, s->sec.stored, 32) == 0;
	hmac256(s->sec.server, 32, am, (size_t)n, ssig);
	explicit_bzero(ckey, sizeof(ckey));
	if (!ok) {
		*why = s->known ? "wrong password" : "unknown user or no SCRAM secret";
		return SCRAM_FAIL;
	}
	{
		char sigb64[B64_ENCODED_SIZE(32)];
		b64_encode(ssig, 32, sigb64);
		n = snprintf(out->server_final, sizeof(out->server_final), "v=%s", sigb64);
		out->sflen = (size_t)n;
	}
	return SCRAM_DONE;
}
