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

/* The rounds call the SHA-512 compression function directly (EVP costs a
 * third more per round); the low-level calls are deprecated in OpenSSL 3
 * but kept. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "sha512crypt.h"
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <endian.h>
#include <stdint.h>
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

/* The rounds: round r hashes the last digest D and the two sequences in
 * one of 8 layouts (r odd, r mod 3, r mod 7 nonzero).  Each layout's padded
 * blocks are built once; a round copies D in and runs the compression
 * function on them, without SHA512_Update's buffering (a fifth faster). */
#define LAYOUT_MAX (((64 + 2 * KEY_MAX + SALT_MAX + 17) + 127) / 128 * 128)

static void rounds_loop(unsigned char res[64], const unsigned char *pseq, size_t klen,
			const unsigned char *sseq, size_t slen, unsigned long rounds)
{
	unsigned char blocks[8][LAYOUT_MAX];
	size_t at[8], nblocks[8], j;
	SHA512_CTX iv, c;
	unsigned long r;
	int k, i;

	memset(blocks, 0, sizeof(blocks));
	for (k = 0; k < 8; k++) {
		unsigned char *b = blocks[k];
		size_t len = 0;
		uint64_t bits;
		if (k & 1) {
			memcpy(b, pseq, klen);
			len = klen;
		} else {
			at[k] = 0;
			len = 64;
		}
		if (k & 2) {
			memcpy(b + len, sseq, slen);
			len += slen;
		}
		if (k & 4) {
			memcpy(b + len, pseq, klen);
			len += klen;
		}
		if (k & 1) {
			at[k] = len;
			len += 64;
		} else {
			memcpy(b + len, pseq, klen);
			len += klen;
		}
		/* FIPS 180-4 padding: 0x80, zeros, the length in bits (128-bit BE). */
		b[len] = 0x80;
		nblocks[k] = (len + 17 + 127) / 128;
		bits = htobe64((uint64_t)len * 8);
		memcpy(b + nblocks[k] * 128 - 8, &bits, 8);
	}
	SHA512_Init(&iv);
	for (r = 0; r < rounds; r++) {
		k = (r & 1) | (r % 3 ? 2 : 0) | (r % 7 ? 4 : 0);
		memcpy(blocks[k] + at[k], res, 64);
		c = iv;
		for (j = 0; j < nblocks[k]; j++)
			SHA512_Transform(&c, blocks[k] + j * 128);
		for (i = 0; i < 8; i++) {
			uint64_t w = htobe64(c.h[i]);
			memcpy(res + 8 * i, &w, 8);
		}
	}
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(blocks, sizeof(blocks));
}

static void sha512_crypt_raw(const unsigned char *key, size_t klen, const unsigned char *salt,
			     size_t slen, unsigned long rounds, unsigned char res[64])
{
	SHA512_CTX c;
	unsigned char alt[64], dp[64], ds[64], pseq[KEY_MAX], sseq[SALT_MAX];
	size_t n;

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

	rounds_loop(res, pseq, klen, sseq, slen, rounds);
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
