/* sasl.c - SASL for AUTH (RFC 5034): strict base64, PLAIN splitting (run in
 * the pre-auth process), and the SCRAM-SHA-256 server (RFC 5802/7677, run in
 * the root monitor, which alone reads stored secrets). */
#include "sasl.h"
#include "authcheck.h"
#include "passwd_line.h"
#include "util.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	size_t i, o = 0;
	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64val(c)) < 0)
				return -1;
		}
		if (pad == 1 && in[i + 3] != '=')
			return -1;
		if (o + 3 - (size_t)pad > cap)
			return -1;
		unsigned long w = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
				  ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		/* Non-canonical encodings (stray low bits) are rejected. */
		if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	return (long)o;
}

size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;
	for (i = 0; i + 2 < len; i += 3) {
		unsigned long w = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
		out[o++] = b64chars[(w >> 18) & 63];
		out[o++] = b64chars[(w >> 12) & 63];
		out[o++] = b64chars[(w >> 6) & 63];
		out[o++] = b64chars[w & 63];
	}
	if (i < len) {
		unsigned long w = (unsigned long)in[i] << 16;
		if (i + 1 < len)
			w |= (unsigned long)in[i + 1] << 8;
		out[o++] = b64chars[(w >> 18) & 63];
		out[o++] = b64chars[(w >> 12) & 63];
		out[o++] = i + 1 < len ? b64chars[(w >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int sasl_plain_split(const unsigned char *buf, size_t len, const char **authzid,
		     const char **authcid, const char **passwd, size_t *passlen)
{
	const unsigned char *n1 = memchr(buf, '\0', len), *n2;
	if (!n1)
		return -1;
	n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - buf));
	if (!n2 || n2 == n1 + 1)
		return -1;
	*authzid = (const char *)buf;
	*authcid = (const char *)n1 + 1;
	*passwd = (const char *)n2 + 1;
	*passlen = len - (size_t)(n2 + 1 - buf);
	if (*passlen == 0 || memchr(*passwd, '\0', *passlen))
		return -1;
	return 0;
}

/* ---- SCRAM-SHA-256 ---- */

struct scram_server {
	int plus;
	int step;
	char user[PW_USER_MAX + 1];
	char cbtype[32];
	unsigned char cbdata[128];
	size_t cblen;
	char gs2[300];
	char client_first_bare[1024];
	char server_first[512];
	char nonce[256];
	int known;
	unsigned iter;
	unsigned char stored[32], server_key[32];
	struct auth_user u;
};

struct scram_server *scram_server_new(const char *mech, const char *cbind, size_t cblen)
{
	struct scram_server *s = xcalloc(1, sizeof(*s));
	size_t tl;
	s->plus = strcmp(mech, "SCRAM-SHA-256-PLUS") == 0;
	if (cbind && cblen) {
		tl = strnlen(cbind, cblen);
		if (tl < sizeof(s->cbtype) && tl < cblen && cblen - tl - 1 <= sizeof(s->cbdata)) {
			memcpy(s->cbtype, cbind, tl);
			s->cblen = cblen - tl - 1;
			memcpy(s->cbdata, cbind + tl + 1, s->cblen);
		}
	}
	return s;
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

int scram_parse_secret(const char *secret, unsigned *iter, unsigned char *salt,
		       size_t *saltlen, unsigned char stored[32], unsigned char server[32])
{
	char buf[512], *f[4], *save = NULL;
	int i;
	long n;
	if (strlen(secret) >= sizeof(buf))
		return -1;
	strcpy(buf, secret);
	for (i = 0; i < 4; i++)
		if (!(f[i] = strtok_r(i ? NULL : buf, ",", &save)))
			return -1;
	*iter = (unsigned)strtoul(f[0], NULL, 10);
	if (*iter < 1 || *iter > 10000000)
		return -1;
	if ((n = b64_decode(f[1], strlen(f[1]), salt, 64)) <= 0)
		return -1;
	*saltlen = (size_t)n;
	if (b64_decode(f[2], strlen(f[2]), stored, 32) != 32 ||
	    b64_decode(f[3], strlen(f[3]), server, 32) != 32)
		return -1;
	return 0;
}

/* saslname: '=2C' is ',' and '=3D' is '='; any other '=' is an error. */
static int unescape_name(const char *in, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '=') {
			if (i + 2 < len + 0 && in[i + 1] == '2' && in[i + 2] == 'C')
				c = ',';
			else if (i + 2 < len + 0 && in[i + 1] == '3' && in[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= cap || c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

static void hmac256(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
		    unsigned char out[32])
{
	unsigned int l = 32;
	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l);
}

/* For an unknown user: a salt that is the same on every connection (or two
 * attempts would tell which names exist) but that nobody can predict.  Its
 * key is derived from secrets only this host has: the first password hash of
 * the credentials file (which auth_lookup returns for unknown users) and
 * /etc/machine-id. */
static void fake_secret(struct scram_server *s, const char *file_secret,
			unsigned char *salt, size_t *saltlen)
{
	unsigned char key[32];
	char mid[64] = "";
	FILE *f = fopen("/etc/machine-id", "re");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int klen = 0;
	if (f) {
		if (!fgets(mid, sizeof(mid), f))
			mid[0] = '\0';
		fclose(f);
	}
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, "postern scram fake salt\n", 24) ||
	    !EVP_DigestUpdate(ctx, file_secret, strlen(file_secret)) ||
	    !EVP_DigestUpdate(ctx, mid, strlen(mid)) ||
	    !EVP_DigestFinal_ex(ctx, key, &klen))
		RAND_bytes(key, sizeof(key));
	EVP_MD_CTX_free(ctx);
	hmac256(key, sizeof(key), s->user, strlen(s->user), salt);
	explicit_bzero(key, sizeof(key));
	*saltlen = 16;
	s->iter = 4096;
	RAND_bytes(s->stored, 32);
	RAND_bytes(s->server_key, 32);
}

static enum scram_result client_first(struct scram_server *s, const struct config *cfg,
				      const char *in, size_t inlen, char *out, size_t cap,
				      size_t *outlen, const char **why)
{
	const char *p = in, *end = in + inlen, *c1, *c2, *bare, *nstart, *rstart, *rend;
	unsigned char salt[64], nbytes[18];
	char saltb64[100], snonce[32], hash[512] = "";
	size_t saltlen = 0;
	int scheme, found;

	*why = "malformed client-first message";
	if (memchr(in, '\0', inlen))
		return SCRAM_FAIL;
	/* gs2-header: cbind-flag "," [authzid] "," */
	c1 = memchr(p, ',', inlen);
	if (!c1)
		return SCRAM_FAIL;
	c2 = memchr(c1 + 1, ',', (size_t)(end - c1 - 1));
	if (!c2)
		return SCRAM_FAIL;
	if (p[0] == 'p' && c1 - p > 2 && p[1] == '=') {
		if (!s->plus || !s->cblen || (size_t)(c1 - p - 2) != strlen(s->cbtype) ||
		    memcmp(p + 2, s->cbtype, strlen(s->cbtype)) != 0) {
			*why = "channel binding type not supported";
			return SCRAM_FAIL;
		}
	} else if (c1 - p == 1 && (p[0] == 'n' || p[0] == 'y')) {
		if (s->plus) {
			*why = "SCRAM-SHA-256-PLUS without channel binding";
			return SCRAM_FAIL;
		}
		/* 'y': the client could bind but thinks we cannot; we
		 * advertise -PLUS whenever we have binding data, so then
		 * that is a downgrade. */
		if (p[0] == 'y' && s->cblen) {
			*why = "channel binding downgrade";
			return SCRAM_FAIL;
		}
	} else {
		return SCRAM_FAIL;
	}
	if ((size_t)(c2 + 1 - p) >= sizeof(s->gs2))
		return SCRAM_FAIL;
	memcpy(s->gs2, p, (size_t)(c2 + 1 - p));
	s->gs2[c2 + 1 - p] = '\0';
	bare = c2 + 1;
	if ((size_t)(end - bare) >= sizeof(s->client_first_bare))
		return SCRAM_FAIL;
	memcpy(s->client_first_bare, bare, (size_t)(end - bare));
	s->client_first_bare[end - bare] = '\0';
	/* "n=user,r=nonce[,ext]"; in is not NUL-terminated: stay inside it. */
	if (end - bare < 2 || memcmp(bare, "n=", 2) != 0)
		return SCRAM_FAIL;
	nstart = bare + 2;
	rstart = memchr(nstart, ',', (size_t)(end - nstart));
	if (!rstart || end - rstart < 4 || strncmp(rstart, ",r=", 3) != 0)
		return SCRAM_FAIL;
	if (unescape_name(nstart, (size_t)(rstart - nstart), s->user, sizeof(s->user)) < 0)
		return SCRAM_FAIL;
	if (c2 > c1 + 1) {
		/* authzid "a=name" must be the user itself */
		char authz[PW_USER_MAX + 1];
		if (c2 - c1 < 3 || c1[1] != 'a' || c1[2] != '=' ||
		    unescape_name(c1 + 3, (size_t)(c2 - c1 - 3), authz, sizeof(authz)) < 0 ||
		    strcmp(authz, s->user) != 0) {
			*why = "authorization identity differs";
			return SCRAM_FAIL;
		}
	}
	rstart += 3;
	rend = memchr(rstart, ',', (size_t)(end - rstart));
	if (!rend)
		rend = end;
	if (rend == rstart || (size_t)(rend - rstart) > 128)
		return SCRAM_FAIL;
	for (p = rstart; p < rend; p++)
		if (*p < 0x21 || *p > 0x7e || *p == ',')
			return SCRAM_FAIL;
	RAND_bytes(nbytes, sizeof(nbytes));
	b64_encode(nbytes, sizeof(nbytes), snonce);
	snprintf(s->nonce, sizeof(s->nonce), "%.*s%s", (int)(rend - rstart), rstart, snonce);

	found = pw_user_valid(s->user, strlen(s->user)) ?
		auth_lookup(cfg, s->user, &s->u, &scheme, hash, sizeof(hash)) : 0;
	if (found < 0) {
		explicit_bzero(hash, sizeof(hash));
		*why = "passwd file unreadable";
		return SCRAM_TEMPFAIL;
	}
	s->known = found == 1 && scheme == PW_SCRAM256 &&
		   scram_parse_secret(s->u.scram, &s->iter, salt, &saltlen, s->stored,
				      s->server_key) == 0;
	if (!s->known)
		fake_secret(s, hash, salt, &saltlen);
	/* A crypt hash (the user's or the dummy): this stack becomes the
	 * mail process's, whoever logs in on this connection. */
	explicit_bzero(hash, sizeof(hash));
	b64_encode(salt, saltlen, saltb64);
	snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce,
		 saltb64, s->iter);
	*outlen = (size_t)snprintf(out, cap, "%s", s->server_first);
	return SCRAM_CONTINUE;
}

static enum scram_result client_final(struct scram_server *s, const char *in, size_t inlen,
				      char *out, size_t cap, size_t *outlen,
				      struct auth_user *u, const char **why)
{
	char msg[2048], *pp, cbexp[512], cbin[256];
	unsigned char proof[64], sig[32], ckey[32], stored[32], ssig[32], cb[300];
	size_t cblen, i, without;
	long plen;
	int ok;

	*why = "malformed client-final message";
	if (inlen >= sizeof(msg) / 2 || memchr(in, '\0', inlen))
		return SCRAM_FAIL;
	memcpy(msg, in, inlen);
	msg[inlen] = '\0';
	/* "c=cbind,r=nonce,...,p=proof" with p last */
	pp = strstr(msg, ",p=");
	if (strncmp(msg, "c=", 2) != 0 || !pp)
		return SCRAM_FAIL;
	without = (size_t)(pp - msg);
	{
		char *comma = strchr(msg, ',');
		if (!comma || (size_t)(comma - msg - 2) >= sizeof(cbin))
			return SCRAM_FAIL;
		memcpy(cbin, msg + 2, (size_t)(comma - msg - 2));
		cbin[comma - msg - 2] = '\0';
		if (strncmp(comma, ",r=", 3) != 0 ||
		    strncmp(comma + 3, s->nonce, strlen(s->nonce)) != 0 ||
		    (comma[3 + strlen(s->nonce)] != ',' ))
			return SCRAM_FAIL;
	}
	/* The channel-binding field must be the gs2 header plus, for -PLUS,
	 * the binding data of this very TLS connection. */
	cblen = strlen(s->gs2);
	memcpy(cb, s->gs2, cblen);
	if (s->gs2[0] == 'p') {
		memcpy(cb + cblen, s->cbdata, s->cblen);
		cblen += s->cblen;
	}
	b64_encode(cb, cblen, cbexp);
	if (strcmp(cbexp, cbin) != 0) {
		*why = "channel binding mismatch";
		return SCRAM_FAIL;
	}
	plen = b64_decode(pp + 3, strlen(pp + 3), proof, sizeof(proof));
	if (plen != 32)
		return SCRAM_FAIL;
	/* AuthMessage = client-first-bare "," server-first "," without-proof */
	{
		char am[4096];
		int n = snprintf(am, sizeof(am), "%s,%s,%.*s", s->client_first_bare,
				 s->server_first, (int)without, msg);
		if (n < 0 || (size_t)n >= sizeof(am))
			return SCRAM_FAIL;
		hmac256(s->stored, 32, am, (size_t)n, sig);
		for (i = 0; i < 32; i++)
			ckey[i] = proof[i] ^ sig[i];
		SHA256(ckey, 32, stored);
		ok = s->known && CRYPTO_memcmp(stored, s->stored, 32) == 0;
		hmac256(s->server_key, 32, am, (size_t)n, ssig);
	}
	if (!ok) {
		*why = s->known ? "wrong password" : "unknown user or no SCRAM secret";
		return SCRAM_FAIL;
	}
	{
		char sigb64[64];
		b64_encode(ssig, 32, sigb64);
		*outlen = (size_t)snprintf(out, cap, "v=%s", sigb64);
	}
	*u = s->u;
	return SCRAM_DONE;
}

enum scram_result scram_server_step(struct scram_server *s, const struct config *cfg,
				    const char *in, size_t inlen, char *out, size_t cap,
				    size_t *outlen, struct auth_user *u, const char **why)
{
	*outlen = 0;
	switch (s->step++) {
	case 0:
		return client_first(s, cfg, in, inlen, out, cap, outlen, why);
	case 1:
		return client_final(s, in, inlen, out, cap, outlen, u, why);
	}
	*why = "unexpected SCRAM message";
	return SCRAM_FAIL;
}
