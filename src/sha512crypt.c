/* sha512crypt.c - SHA-crypt with SHA-512 ("$6$", Ulrich Drepper's
 * specification, as crypt(3) computes it), over OpenSSL's SHA-512.
 *
 * Why not only libxcrypt: its portable C SHA-512 takes about 1.6 times as
 * long per hash as OpenSSL's assembly on x86-64, and this hash is most of a
 * POP3 login's CPU.  The result is the same string crypt(3) gives, for the
 * same rounds: this is no weaker, only faster for us (and for nobody
 * else: an attacker's crackers are faster still).  Only the common forms
 * are handled here; anything unusual is left to crypt(3) (NULL return), so
 * its edge cases stay libxcrypt's.  tests/unit/test_sha512crypt.c checks
 * the result against crypt_rn for many keys, salts and rounds. */

/* The one-shot and EVP interfaces cost 20% more per round; the low-level
 * calls are deprecated in OpenSSL 3 but kept. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sha512crypt.h"
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#define SALT_MAX 16
#define KEY_MAX 256          /* longer keys go to crypt(3) */
#define ROUNDS_DEFAULT 5000
#define ROUNDS_MIN 1000
#define ROUNDS_MAX 999999999UL

static const char itoa64[] =
	"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* "rounds=N$" with N written the way crypt(3) writes it: 0 if absent,
 * -1 if present but not in that form (left to crypt(3)). */
static long parse_rounds(const char **p)
{
	const char *s = *p;
	unsigned long n = 0;
	if (strncmp(s, "rounds=", 7) != 0)
		return 0;
	s += 7;
	if (*s < '1' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		n = n * 10 + (unsigned long)(*s++ - '0');
		if (n > ROUNDS_MAX)
			return -1;
	}
	if (*s != '$' || n < ROUNDS_MIN || n == ROUNDS_DEFAULT)
		return -1;
	*p = s + 1;
	return (long)n;
}

/* "Sequence" bytes: the digest repeated to len bytes. */
static void fill_sequence(unsigned char *out, size_t len, const unsigned char dig[64])
{
	size_t i;
	for (i = 0; i < len; i++)
		out[i] = dig[i % 64];
}

static void sha512_crypt_raw(const unsigned char *key, size_t klen, const unsigned char *salt,
			     size_t slen, unsigned long rounds, unsigned char res[64])
{
	SHA512_CTX c;
	unsigned char alt[64], dp[64], ds[64], pseq[KEY_MAX], sseq[SALT_MAX];
	size_t n;
	unsigned long r;

	/* Digest B = H(key salt key). */
	SHA512_Init(&c);
	SHA512_Update(&c, key, klen);
	SHA512_Update(&c, salt, slen);
	SHA512_Update(&c, key, klen);
	SHA512_Final(alt, &c);

	/* Digest A = H(key salt B-repeated-to-klen, then per bit of klen). */
	SHA512_Init(&c);
	SHA512_Update(&c, key, klen);
	SHA512_Update(&c, salt, slen);
	for (n = klen; n > 64; n -= 64)
		SHA512_Update(&c, alt, 64);
	SHA512_Update(&c, alt, n);
	for (n = klen; n > 0; n >>= 1) {
		if (n & 1)
			SHA512_Update(&c, alt, 64);
		else
			SHA512_Update(&c, key, klen);
	}
	SHA512_Final(res, &c);

	/* DP = H(key repeated klen times); DS = H(salt repeated 16+A[0] times). */
	SHA512_Init(&c);
	for (n = 0; n < klen; n++)
		SHA512_Update(&c, key, klen);
	SHA512_Final(dp, &c);
	fill_sequence(pseq, klen, dp);
	SHA512_Init(&c);
	for (n = 0; n < 16u + res[0]; n++)
		SHA512_Update(&c, salt, slen);
	SHA512_Final(ds, &c);
	fill_sequence(sseq, slen, ds);

	for (r = 0; r < rounds; r++) {
		SHA512_Init(&c);
		if (r & 1)
			SHA512_Update(&c, pseq, klen);
		else
			SHA512_Update(&c, res, 64);
		if (r % 3)
			SHA512_Update(&c, sseq, slen);
		if (r % 7)
			SHA512_Update(&c, pseq, klen);
		if (r & 1)
			SHA512_Update(&c, res, 64);
		else
			SHA512_Update(&c, pseq, klen);
		SHA512_Final(res, &c);
	}
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(alt, sizeof(alt));
	OPENSSL_cleanse(dp, sizeof(dp));
	OPENSSL_cleanse(ds, sizeof(ds));
	OPENSSL_cleanse(pseq, sizeof(pseq));
	OPENSSL_cleanse(sseq, sizeof(sseq));
}

static char *b64_24(char *o, unsigned b2, unsigned b1, unsigned b0, int n)
{
	unsigned w = (b2 << 16) | (b1 << 8) | b0;
	while (n-- > 0) {
		*o++ = itoa64[w & 0x3f];
		w >>= 6;
	}
	return o;
}

const char *sha512crypt(const char *key, const char *setting, char *out, size_t outcap)
{
	const char *salt = setting + 3;
	unsigned char res[64];
	size_t klen = strlen(key), slen, hdr;
	long rounds;
	char *o;
	int i;

	if (strncmp(setting, "$6$", 3) != 0 || klen > KEY_MAX || outcap < SHA512CRYPT_OUT)
		return NULL;
	rounds = parse_rounds(&salt);
	if (rounds < 0)
		return NULL;
	slen = strspn(salt, itoa64);
	if (slen == 0 || slen > SALT_MAX || (salt[slen] != '$' && salt[slen] != '\0'))
		return NULL;

	sha512_crypt_raw((const unsigned char *)key, klen, (const unsigned char *)salt, slen,
			 rounds ? (unsigned long)rounds : ROUNDS_DEFAULT, res);

	hdr = (size_t)(salt - setting) + slen;
	memcpy(out, setting, hdr);
	o = out + hdr;
	*o++ = '$';
	/* The digest's bytes in crypt's order: triples (i, i+21, i+42),
	 * rotated by i mod 3, then the last byte alone. */
	for (i = 0; i < 21; i++) {
		unsigned t[3] = { res[i], res[i + 21], res[i + 42] };
		int k = i % 3;
		o = b64_24(o, t[k], t[(k + 1) % 3], t[(k + 2) % 3], 4);
	}
	o = b64_24(o, 0, 0, res[63], 2);
	*o = '\0';
	OPENSSL_cleanse(res, sizeof(res));
	return out;
}
