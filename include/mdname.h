/* mdname.h - Maildir file names: the unique part, the ,S= and ,W= fields,
 * the flags after ":2,", and the UIDL derived from them.  Pure functions. */
#ifndef POSTERN_MDNAME_H
#define POSTERN_MDNAME_H
#include <stddef.h>
#include <stdint.h>

struct mdname {
	size_t unique_len;   /* bytes before the first ',' or ':' */
	size_t base_len;     /* bytes before ':' (unique part plus ,X= fields) */
	int has_s, has_w;
	uint64_t s_size;     /* ,S=: size on disk */
	uint64_t w_size;     /* ,W=: size with CRLF line ends */
	const char *flags;   /* after ":2," or NULL */
	uint64_t time;       /* leading decimal seconds, 0 if none */
};

/* Parse a file name.  Returns 0, or -1 for names a Maildir must ignore
 * (empty, starting with '.'). */
int mdname_parse(const char *name, struct mdname *out);

#define UIDL_MAX 70
/* The UIDL of a message: the unique part when it is 1-70 characters in
 * 0x21-0x7e, else a stable 40-hex digest of it.  out needs UIDL_MAX+1. */
void mdname_uidl(const char *name, const struct mdname *m, char *out);

/* 40 hex digits of SHA-256 of s: the digest the UIDLs use.  out needs 41. */
void mdname_digest(const char *s, size_t len, char *out);

/* name with its unique part U made "U.dupK", the rest (,X= fields, info)
 * kept: a new name for a file whose unique part another file has.  -1 if
 * it does not fit in cap or the unique part is empty. */
int mdname_dup_name(const char *name, const struct mdname *m, unsigned k,
		    char *out, size_t cap);

/* Delivery order: by leading seconds, then by version-aware comparison of
 * the unique part.  qsort-style result. */
int mdname_order(const char *a, const struct mdname *ma,
		 const char *b, const struct mdname *mb);

/* Does the flag string contain flag c? */
int mdname_has_flag(const struct mdname *m, char c);
#endif
