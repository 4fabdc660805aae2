/* base64.h - base64 (RFC 4648 section 4) for SASL and the SCRAM secret
 * format.  Pure code. */
#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H
#include <stddef.h>

/* The room b64_encode needs for len bytes, with the NUL. */
#define B64_ENCODED_SIZE(len) (4 * (((len) + 2) / 3) + 1)

/* Strict decode: "=" padding required, no whitespace, no characters outside
 * the alphabet, no stray bits in the last character.  Returns the decoded
 * length, or -1 (also when the result would not fit in cap). */
long b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encode with padding; out needs B64_ENCODED_SIZE(len).  Returns the
 * length written (without the NUL). */
size_t b64_encode(const unsigned char *in, size_t len, char *out);
#endif
