/* sha512crypt.h - crypt(3)'s "$6$" hash over OpenSSL's SHA-512. */
#ifndef POSTERN_SHA512CRYPT_H
#define POSTERN_SHA512CRYPT_H
#include <stddef.h>

/* "$6$rounds=999999999$" + 16 salt + "$" + 86 + NUL, rounded up. */
#define SHA512CRYPT_OUT 128

/* The string crypt(key, setting) returns, written to out; NULL when
 * setting is not a "$6$" form handled here (the caller asks crypt(3)). */
const char *sha512crypt(const char *key, const char *setting, char *out, size_t outcap);
#endif
