/* parse.h - strict parsers for numbers and values found in POP3 commands and
 * in the configuration file.  Pure functions, no I/O. */
#ifndef POSTERN_PARSE_H
#define POSTERN_PARSE_H
#include <stddef.h>
#include <stdint.h>

/* A decimal argument: 1-20 ASCII digits, no sign, no junk, no overflow, value
 * at most max.  "4294967297" with max UINT32_MAX fails.  Returns 0 or -1. */
int parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);

/* A duration: digits followed by an optional unit ms, s (default), m, h, d.
 * Result in milliseconds.  Returns 0 or -1. */
int parse_duration_ms(const char *s, uint64_t *out);

/* A size: digits followed by an optional unit k, M, G (powers of 1024). */
int parse_size(const char *s, uint64_t *out);

/* yes/no/true/false/on/off/1/0.  Returns 0 or -1. */
int parse_bool(const char *s, int *out);

/* RFC 2449 LOGIN-DELAY and EXPIRE settings (postern.conf and the passwd
 * file's extra fields).  A login delay: "off" (-1) or a duration, in whole
 * seconds (at most PARSE_DELAY_MAX).  An expiry: "off" (PARSE_EXPIRE_OFF,
 * only where allow_off), "never" (PARSE_EXPIRE_NEVER) or a number of days
 * (at most PARSE_EXPIRE_MAX).  Words in any case.  Return 0 or -1. */
#define PARSE_DELAY_OFF (-1L)
#define PARSE_DELAY_MAX (366L * 86400)
#define PARSE_EXPIRE_OFF (-1L)
#define PARSE_EXPIRE_NEVER (-2L)
#define PARSE_EXPIRE_MAX 36500L
int parse_login_delay(const char *s, int allow_off, long *out);
int parse_expire(const char *s, int allow_off, long *out);

/* A listen address: "host:port", "[v6]:port" or "*:port".  host is copied
 * into hostbuf (empty for the wildcard), port checked to be 1-65535.  A
 * host (or v6 address) holding "[", "]" or "#" is refused. */
int parse_hostport(const char *s, char *hostbuf, size_t hostcap, uint16_t *port);
#endif
