/* base64.c - base64 for SASL and the SCRAM secret format.  Pure code (used
 * by the pre-auth process, the monitor and postern-passwd).
 *
 * Encoding is OpenSSL's EVP_EncodeBlock.  Decoding is our own, because
 * EVP_DecodeBlock cannot be made as strict as SASL needs (RFC 4648 section
 * 3.3, RFC 5034): it skips leading and trailing whitespace, decodes "=" as
 * zero bits and returns a length that counts padding as data (the caller
 * would have to count '=' itself), and accepts non-canonical final
 * characters (stray low bits), so two different strings would decode to the
 * same credentials.  The decoder below takes canonical base64 only: what it
 * accepts encodes back to the very same text. */
#include "base64.h"
#include <openssl/evp.h>

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
	/* EVP_EncodeBlock takes an int; SASL's and SCRAM's inputs are a few
	 * kilobytes at most. */
	if (len > 0x3fffffff) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}
