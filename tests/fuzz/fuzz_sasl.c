/* fuzz_sasl.c - libFuzzer target for src/sasl.c: strict base64, PLAIN
 * splitting, the {SCRAM-SHA-256} secret parser and the SCRAM-SHA-256 server
 * state machine (the code the root monitor runs on the client's messages).
 *
 * Input: byte 0 picks the part, the rest is its input.
 *   0  b64_decode; whatever decodes must encode back to the same text (the
 *      decoder accepts canonical base64 only)
 *   1  b64_encode; must decode back to the same bytes
 *   2  sasl_plain_split; the three parts must lie in the buffer, the
 *      password must have no NUL and its length must add up
 *   3  scram_parse_secret
 *   4  SCRAM server: byte 1 = flags (1: -PLUS, 2: give channel-binding data,
 *      4: the harness answers the server-first message with a correct proof
 *      for the password of user "fz"), then client-first NUL client-final
 *      (or, with flag 4, NUL an extension to put before the proof).
 *      With flag 4 and an accepted client-first for "fz", the exchange must
 *      end in SCRAM_DONE with the right server signature.
 * The passwd file is a temporary file holding user "fz" with a SCRAM secret
 * of 16 iterations (fast), plus a crypt user. */
#include "authcheck.h"
#include "config.h"
#include "sasl.h"
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

static struct config cfg;
static unsigned char salted[32], stored_key[32], server_key[32];
static const unsigned char salt[12] = "NaCl-fuzzing";

static void hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen,
		 unsigned char out[32])
{
	unsigned int l = 32;
	HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &l);
}

static void setup(void)
{
	static int done;
	char path[] = "/tmp/fuzz_sasl_passwd.XXXXXX", b[3][64];
	unsigned char ckey[32];
	FILE *f;
	int fd;
	if (done)
		return;
	done = 1;
	PKCS5_PBKDF2_HMAC(PASSWORD, 6, salt, sizeof(salt), ITER, EVP_sha256(), 32, salted);
	hmac(salted, 32, "Client Key", 10, ckey);
	SHA256(ckey, 32, stored_key);
	hmac(salted, 32, "Server Key", 10, server_key);
	b64_encode(salt, sizeof(salt), b[0]);
	b64_encode(stored_key, 32, b[1]);
	b64_encode(server_key, 32, b[2]);
	fd = mkstemp(path);
	check(fd >= 0, "mkstemp");
	f = fdopen(fd, "w");
	fprintf(f, "# fuzz\nother:$6$abc$def:1000:1000::/home/other::\n"
		"fz:{SCRAM-SHA-256}%d,%s,%s,%s:1000:1000::/home/fz::\n", ITER, b[0], b[1], b[2]);
	fclose(f);
	config_defaults(&cfg);
	snprintf(cfg.passwd_file, sizeof(cfg.passwd_file), "%s", path);
	/* The file stays for the run; removed at exit. */
	{
		struct auth_user u;
		int scheme;
		char hash[512];
		check(auth_lookup(&cfg, "fz", &u, &scheme, hash, sizeof(hash)) == 1,
		      "test user not found");
	}
}

static unsigned long n_done;   /* exchanges that reached SCRAM_DONE */

__attribute__((destructor)) static void cleanup(void)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_sasl: %lu successful SCRAM exchanges\n", n_done);
	if (cfg.passwd_file[0])
		unlink(cfg.passwd_file);
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
	unsigned iter;
	unsigned char sl[64], st[32], sv[32];
	size_t sll = 0;
	memcpy(s, d, n);
	s[n] = '\0';
	if (scram_parse_secret(s, &iter, sl, &sll, st, sv) == 0)
		check(iter >= 1 && iter <= 10000000 && sll >= 1 && sll <= 64, "secret fields");
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
	size_t flen, slen, outlen = 0;
	char out[1024], cbind[64];
	size_t cblen = 0;
	struct scram_server *s;
	struct auth_user u;
	const char *why = NULL;
	enum scram_result r;

	if (n < 1)
		return;
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
	if (give_cb) {
		/* "type\0bytes", as preauth.c builds it. */
		memcpy(cbind, "tls-exporter", 13);
		memset(cbind + 13, 0xA5, 32);
		cblen = 13 + 32;
	}
	s = scram_server_new(plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256",
			     give_cb ? cbind : NULL, cblen);
	r = scram_server_step(s, &cfg, first, flen, out, sizeof(out), &outlen, &u, &why);
	check(r != SCRAM_DONE, "done after one message");
	check(r == SCRAM_CONTINUE || why != NULL, "failure without a reason");
	if (r == SCRAM_CONTINUE) {
		check(outlen > 0 && outlen < sizeof(out) && strlen(out) == outlen,
		      "server-first length");
		check(strncmp(out, "r=", 2) == 0 && strstr(out, ",s=") && strstr(out, ",i="),
		      "server-first form");
	}
	if (r == SCRAM_CONTINUE && prove) {
		/* A correct client-final for this exchange. */
		char sf[1024], gs2[320], cbb64[512], fin[1400], am[4096], proofb64[64];
		unsigned char cbraw[400], sig[32], proof[32], ssig[32];
		const char *nonce, *c2;
		size_t nlen, gl, cbl, i;
		int amlen, finlen;
		const char *ext = second;
		size_t extlen = slen;
		memcpy(sf, out, outlen + 1);
		nonce = attr(sf, 'r', &nlen);
		check(nonce != NULL, "no nonce");
		c2 = memchr(first, ',', flen);
		c2 = c2 ? memchr(c2 + 1, ',', flen - (size_t)(c2 + 1 - first)) : NULL;
		check(c2 != NULL, "accepted without a gs2 header");
		gl = (size_t)(c2 + 1 - first);
		check(gl < sizeof(gs2), "gs2 header too long");
		memcpy(gs2, first, gl);
		gs2[gl] = '\0';
		memcpy(cbraw, gs2, gl);
		cbl = gl;
		if (gs2[0] == 'p') {
			memcpy(cbraw + cbl, cbind + 13, 32);
			cbl += 32;
		}
		b64_encode(cbraw, cbl, cbb64);
		/* An extension the client may add (no proof inside it). */
		for (i = 0; i < extlen; i++)
			if (ext[i] < 0x21 || ext[i] > 0x7e)
				break;
		if (i < extlen || extlen > 200 || (extlen && memmem(ext, extlen, "p=", 2)))
			extlen = 0;
		finlen = snprintf(fin, sizeof(fin), "c=%s,r=%.*s%s%.*s", cbb64, (int)nlen, nonce,
				  extlen ? "," : "", (int)extlen, ext);
		amlen = snprintf(am, sizeof(am), "%.*s,%s,%s", (int)(flen - gl), first + gl,
				 sf, fin);
		hmac(stored_key, 32, am, (size_t)amlen, sig);
		{
			unsigned char ckey[32];
			hmac(salted, 32, "Client Key", 10, ckey);
			for (i = 0; i < 32; i++)
				proof[i] = ckey[i] ^ sig[i];
		}
		hmac(server_key, 32, am, (size_t)amlen, ssig);
		b64_encode(proof, 32, proofb64);
		finlen += snprintf(fin + finlen, sizeof(fin) - (size_t)finlen, ",p=%s", proofb64);
		r = scram_server_step(s, &cfg, fin, (size_t)finlen, out, sizeof(out), &outlen,
				      &u, &why);
		if (strcmp(scram_server_user(s), "fz") == 0 && (!plus || give_cb)) {
			char want[64] = "v=";
			b64_encode(ssig, 32, want + 2);
			if (r != SCRAM_DONE)
				fprintf(stderr, "why: %s\nfinal: %s\n", why, fin);
			check(r == SCRAM_DONE, "a correct proof was refused");
			check(outlen == strlen(want) && strcmp(out, want) == 0,
			      "wrong server signature");
			check(strcmp(u.user, "fz") == 0, "wrong account");
			n_done++;
		} else {
			check(r != SCRAM_DONE, "a proof for another user or no secret was accepted");
		}
	} else if (r == SCRAM_CONTINUE) {
		r = scram_server_step(s, &cfg, second, slen, out, sizeof(out), &outlen, &u, &why);
		/* Without the password nobody gets in (2^-256 aside). */
		check(r != SCRAM_DONE, "a guessed proof was accepted");
		check(r != SCRAM_CONTINUE, "a third step was asked for");
	}
	/* Any further message is refused. */
	r = scram_server_step(s, &cfg, "x", 1, out, sizeof(out), &outlen, &u, &why);
	check(r == SCRAM_FAIL, "a late step was not refused");
	scram_server_free(s);
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
