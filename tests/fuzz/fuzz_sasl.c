/* fuzz_sasl.c - libFuzzer target for the SASL code: strict base64
 * (src/base64.c), PLAIN splitting and the splitting of SCRAM client messages
 * in the pre-auth process (src/sasl.c), and the {SCRAM-SHA-256} secret
 * parser and the SCRAM-SHA-256 server the root monitor runs on the split
 * fields (src/scram.c).
 *
 * Input: byte 0 picks the part, the rest is its input.
 *   0  b64_decode; whatever decodes must encode back to the same text (the
 *      decoder accepts canonical base64 only)
 *   1  b64_encode; must decode back to the same bytes
 *   2  sasl_plain_split; the three parts must lie in the buffer, the
 *      password must have no NUL and its length must add up
 *   3  scram_secret_parse
 *   4  SCRAM: byte 1 = flags (1: -PLUS, 2: the connection has binding data,
 *      4: the harness answers the server-first message with a correct proof
 *      for the password of user "fz"), then client-first NUL client-final
 *      (or, with flag 4, NUL an extension to put before the proof).  The
 *      client-first goes through sasl_scram_first (its fields must be the
 *      message's), then the server with fz's secret for "fz" and none for
 *      anyone else.  With flag 4 and an accepted client-first for "fz",
 *      the exchange must end in SCRAM_DONE with the right server signature.
 * fz's secret has 16 iterations (fast). */
#include "base64.h"
#include "sasl.h"
#include "scram.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD "pencil"
#define ITER 16

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_sasl: %s\n", what);
		abort();
	}
}

static unsigned char salted[32], stored_key[32], server_key[32];
static const unsigned char salt[12] = "NaCl-fuzzing";
static const unsigned char fake_key[32] = "fuzz fake salt key, 32 bytes...";
static char fz_secret[256];

static void hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
		 unsigned char out[32])
{
	unsigned int l = 32;
	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l);
}

static void setup(void)
{
	static int done;
	unsigned char ckey[32];
	if (done)
		return;
	done = 1;
	PKCS5_PBKDF2_HMAC(PASSWORD, 6, salt, sizeof(salt), ITER, EVP_sha256(), 32, salted);
	hmac(salted, 32, "Client Key", 10, ckey);
	SHA256(ckey, 32, stored_key);
	hmac(salted, 32, "Server Key", 10, server_key);
	check(scram_secret_make(PASSWORD, 6, ITER, salt, sizeof(salt), fz_secret,
				sizeof(fz_secret)) == 0, "secret");
	check(scram_password_ok(PASSWORD, 6, fz_secret), "secret does not match");
}

static unsigned long n_done;   /* exchanges that reached SCRAM_DONE */

__attribute__((destructor)) static void cleanup(void)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_sasl: %lu successful SCRAM exchanges\n", n_done);
}

static void fuzz_b64(const uint8_t *d, size_t n)
{
	unsigned char *out = malloc(n + 1);
	char *back = malloc(n + 8);
	long r = b64_decode((const char *)d, n, out, n);
	if (r >= 0) {
		size_t e;
		check((size_t)r <= n / 4 * 3, "decoded too long");
		e = b64_encode(out, (size_t)r, back);
		check(e == n && memcmp(back, d, n) == 0, "decode/encode round trip differs");
	}
	/* A too-small output buffer is refused, never overrun. */
	if (r > 0)
		check(b64_decode((const char *)d, n, out, (size_t)r - 1) < 0, "cap ignored");
	free(out);
	free(back);
}

static void fuzz_b64_encode(const uint8_t *d, size_t n)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *enc = malloc(cap);
	unsigned char *dec = malloc(n + 1);
	size_t e = b64_encode(d, n, enc);
	check(e == cap - 1 && enc[e] == '\0', "encoded length");
	check(b64_decode(enc, e, dec, n) == (long)n && memcmp(dec, d, n) == 0,
	      "encode/decode round trip differs");
	free(enc);
	free(dec);
}

static void fuzz_plain(const uint8_t *d, size_t n)
{
	unsigned char *buf = malloc(n + 1);
	const char *z, *c, *p;
	size_t pl;
	memcpy(buf, d, n);
	buf[n] = '\0';
	if (sasl_plain_split(buf, n, &z, &c, &p, &pl) == 0) {
		const char *b = (const char *)buf, *e = b + n;
		check(z == b && c > z && c < e && p > c && p <= e, "parts outside the buffer");
		check(p + pl == e, "password length");
		check(pl > 0 && memchr(p, '\0', pl) == NULL, "password with NUL");
		check(strlen(z) + 1 + strlen(c) + 1 + pl == n, "parts do not add up");
		check(strlen(c) > 0, "empty authcid");
	}
	free(buf);
}

static void fuzz_secret(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);
	struct scram_secret sec;
	memcpy(s, d, n);
	s[n] = '\0';
	if (scram_secret_parse(s, &sec) == 0)
		check(sec.iter >= 1 && sec.iter <= SCRAM_ITER_MAX && sec.saltlen >= 1 &&
		      sec.saltlen <= SCRAM_SALT_MAX, "secret fields");
	free(s);
}

/* The value of attribute a ("r=", "s=", "i=") in a server-first message. */
static const char *attr(const char *msg, char a, size_t *len)
{
	const char *p = msg;
	while (p && *p) {
		if (p[0] == a && p[1] == '=') {
			*len = strcspn(p + 2, ",");
			return p + 2;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return NULL;
}

static void fuzz_scram(const uint8_t *d, size_t n)
{
	int flags, plus, give_cb, prove;
	const char *first, *second, *nul;
	size_t flen, slen;
	struct scram_server *s;
	struct ipc_scram_first *f = calloc(1, sizeof(*f));
	struct ipc_scram_final *fin = calloc(1, sizeof(*fin));
	struct ipc_scram_challenge ch;
	struct ipc_auth_ok ok;
	const char *why = NULL;
	char snonce[SCRAM_SNONCE_SIZE];
	enum scram_result r;

	if (n < 1)
		goto out;
	flags = d[0];
	plus = flags & 1;
	give_cb = flags & 2;
	prove = flags & 4;
	d++;
	n--;
	nul = memchr(d, '\0', n);
	first = (const char *)d;
	flen = nul ? (size_t)(nul - first) : n;
	second = nul ? nul + 1 : "";
	slen = nul ? n - flen - 1 : 0;
	f->method = plus ? AUTH_M_SCRAM_PLUS : AUTH_M_SCRAM;
	if (give_cb) {
		/* The connection's binding data, as preauth_sasl.c sets it. */
		strcpy(f->cbtype, "tls-exporter");
		memset(f->cbdata, 0xA5, 32);
		f->cblen = 32;
	}
	/* The pre-auth split: what it accepts lies inside the message. */
	f->error = sasl_scram_first(first, flen, f);
	check(f->error >= 0 && f->error < SCRAM_ERR_END, "split error code");
	if (f->error == SCRAM_OK) {
		size_t gl = strlen(f->gs2), bl = strlen(f->bare);
		check(gl + bl == flen && memcmp(f->gs2, first, gl) == 0 &&
		      memcmp(f->bare, first + gl, bl) == 0, "gs2 and bare are not the message");
		check(strchr("nyp", f->cbflag) && f->cbflag, "cbind flag");
		check(f->nonce[0] && strlen(f->nonce) <= SCRAM_NONCE_MAX && !strchr(f->nonce, ','),
		      "nonce");
		check(strlen(f->user) <= IPC_USER_MAX, "user");
	}
	check(scram_server_nonce(snonce) == 0, "server nonce");
	s = scram_server_new();
	r = scram_server_first(s, f, strcmp(f->user, "fz") == 0 ? fz_secret : NULL, fake_key,
			       snonce, &ch, &why);
	check(r != SCRAM_DONE, "done after one message");
	check(r == SCRAM_CONTINUE || why != NULL, "failure without a reason");
	check(r != SCRAM_CONTINUE || f->error == SCRAM_OK, "a refused split went on");
	if (r == SCRAM_CONTINUE) {
		check(ch.len > 0 && ch.len <= SCRAM_SERVER_MAX && strlen(ch.msg) == ch.len,
		      "server-first length");
		check(strncmp(ch.msg, "r=", 2) == 0 && strstr(ch.msg, ",s=") && strstr(ch.msg, ",i="),
		      "server-first form");
	}
	if (r == SCRAM_CONTINUE && prove) {
		/* A correct client-final for this exchange. */
		char sf[1100], cbb64[600], fm[1600], am[4096], proofb64[64];
		unsigned char cbraw[400], sig[32], proof[32], ssig[32];
		const char *nonce;
		size_t nlen, gl, cbl, i;
		int amlen, finlen;
		const char *ext = second;
		size_t extlen = slen;
		memcpy(sf, ch.msg, ch.len + 1);
		nonce = attr(sf, 'r', &nlen);
		check(nonce != NULL, "no nonce");
		gl = strlen(f->gs2);
		memcpy(cbraw, f->gs2, gl);
		cbl = gl;
		if (f->gs2[0] == 'p') {
			memset(cbraw + cbl, 0xA5, 32);
			cbl += 32;
		}
		b64_encode(cbraw, cbl, cbb64);
		/* An extension the client may add (no proof inside it). */
		for (i = 0; i < extlen; i++)
			if (ext[i] < 0x21 || ext[i] > 0x7e)
				break;
		if (i < extlen || extlen > 200 || (extlen && memmem(ext, extlen, "p=", 2)))
			extlen = 0;
		finlen = snprintf(fm, sizeof(fm), "c=%s,r=%.*s%s%.*s", cbb64, (int)nlen, nonce,
				  extlen ? "," : "", (int)extlen, ext);
		amlen = snprintf(am, sizeof(am), "%s,%s,%s", f->bare, sf, fm);
		hmac(stored_key, 32, am, (size_t)amlen, sig);
		{
			unsigned char ckey[32];
			hmac(salted, 32, "Client Key", 10, ckey);
			for (i = 0; i < 32; i++)
				proof[i] = ckey[i] ^ sig[i];
		}
		hmac(server_key, 32, am, (size_t)amlen, ssig);
		b64_encode(proof, 32, proofb64);
		finlen += snprintf(fm + finlen, sizeof(fm) - (size_t)finlen, ",p=%s", proofb64);
		fin->error = sasl_scram_final(fm, (size_t)finlen, fin);
		r = scram_server_final(s, fin, &ok, &why);
		if (strcmp(scram_server_user(s), "fz") == 0 && (!plus || give_cb) &&
		    fin->error == SCRAM_OK) {
			char want[64] = "v=";
			b64_encode(ssig, 32, want + 2);
			if (r != SCRAM_DONE)
				fprintf(stderr, "why: %s\nfinal: %s\n", why, fm);
			check(r == SCRAM_DONE, "a correct proof was refused");
			check(ok.sflen == strlen(want) && strcmp(ok.server_final, want) == 0,
			      "wrong server signature");
			n_done++;
		} else {
			check(r != SCRAM_DONE, "a proof for another user or no secret was accepted");
		}
	} else if (r == SCRAM_CONTINUE) {
		fin->error = sasl_scram_final(second, slen, fin);
		check(fin->error >= 0 && fin->error < SCRAM_ERR_END, "split error code");
		if (fin->error == SCRAM_OK)
			check(strncmp(fin->noproof, "c=", 2) == 0 &&
			      memcmp(fin->noproof, second, strlen(fin->noproof)) == 0,
			      "without-proof is not the message's start");
		r = scram_server_final(s, fin, &ok, &why);
		/* Without the password nobody gets in (2^-256 aside). */
		check(r != SCRAM_DONE, "a guessed proof was accepted");
		check(r != SCRAM_CONTINUE, "a third step was asked for");
	}
	/* Any further message is refused. */
	r = scram_server_final(s, fin, &ok, &why);
	check(r == SCRAM_FAIL, "a late step was not refused");
	scram_server_free(s);
out:
	free(f);
	free(fin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	setup();
	switch (data[0] % 5) {
	case 0: fuzz_b64(data + 1, size - 1); break;
	case 1: fuzz_b64_encode(data + 1, size - 1); break;
	case 2: fuzz_plain(data + 1, size - 1); break;
	case 3: fuzz_secret(data + 1, size - 1); break;
	case 4: fuzz_scram(data + 1, size - 1); break;
	}
	return 0;
}
