/* uidl_import.h - the files in which a previous POP3 server kept the UIDLs
 * it handed out, and postern's own copy of them: parsers for Dovecot's
 * dovecot-uidlist (version 3), Courier's courierpop3dsizelist and
 * postern-uidls, the expander for Dovecot's pop3_uidl_format, and Courier's
 * UIDL rule.  Pure functions over a buffer: they never write into it, never
 * allocate, and report each line they cannot use to a callback. */
#ifndef POSTERN_UIDL_IMPORT_H
#define POSTERN_UIDL_IMPORT_H
#include <stddef.h>
#include <stdint.h>

/* Is s[0..len) usable as a UIDL: 1-70 characters, each in 0x21-0x7e? */
int uidl_valid(const char *s, size_t len);

/* A line that was skipped: its number (1 = the first line) and why. */
typedef void (*uidl_bad_fn)(void *ctx, unsigned line, const char *why);

/* ---- Dovecot: dovecot-uidlist, version 3 ----
 * "3 V<uidvalidity> N<nextuid> G<guid> ..." then one line per message:
 * "<uid> [<key><value> ...] :<file name>". */
struct dc_header {
	uint32_t uidvalidity;
	uint32_t next_uid;
};
struct dc_record {
	unsigned line;
	uint32_t uid;
	const char *base;      /* the file name up to ':' (the Maildir key) */
	size_t base_len;
	const char *pop3_uidl; /* the P field (a UIDL saved by Dovecot), or NULL */
	size_t pop3_uidl_len;
	const char *guid;      /* the G field, or NULL */
	size_t guid_len;
};
typedef void (*dc_record_fn)(void *ctx, const struct dc_header *h, const struct dc_record *r);
/* Parse buf[0..len).  -1 when the header is not a version 3 header with a
 * UIDVALIDITY (nothing is reported then); else the number of records. */
long dovecot_uidlist_parse(const char *buf, size_t len, dc_record_fn rec,
			   uidl_bad_fn bad, void *ctx);

/* ---- Dovecot's pop3_uidl_format (2.3 var_expand rules) ----
 * %u uid, %v uidvalidity, %f file name up to ':', %g GUID (the G field,
 * else the file name up to ':'), %% a '%'; long forms %{uid},
 * %{uidvalidity}, %{filename}, %{guid}.  Modifiers L U X R M T E, width
 * and offset as Dovecot 2.3 has them (%08Xu: hex, lower case, zero padded
 * to 8).  %m (header MD5) is refused: Dovecot itself cannot compute it on a
 * Maildir. */
struct uidl_vars {
	uint32_t uid;
	uint32_t uidvalidity;
	const char *fname;
	size_t fname_len;
	const char *guid;      /* NULL: fname */
	size_t guid_len;
};
/* 0 when fmt can be expanded; -1 and a reason otherwise. */
int uidl_format_check(const char *fmt, const char **why);
/* Expand fmt into out (NUL-terminated).  The length, or -1 when fmt is bad
 * or the result does not fit in cap. */
int uidl_format_expand(const char *fmt, const struct uidl_vars *v, char *out, size_t cap);

/* ---- Courier: courierpop3dsizelist ----
 * "/3 <nextuid> <uidvalidity>" (or "/2 ..."), then "<file name> <size>
 * <uid>:<uidvalidity>[:<utf8>]" a line; the file name may hold spaces. */
struct courier_record {
	unsigned line;
	const char *base;      /* the file name up to ':' */
	size_t base_len;
	unsigned long long uid, uidv;
};
typedef void (*courier_record_fn)(void *ctx, const struct courier_record *r);
/* -1 when the header is missing or of another version; else the number of
 * records. */
long courier_sizelist_parse(const char *buf, size_t len, courier_record_fn rec,
			    uidl_bad_fn bad, void *ctx);
/* The UIDL courierpop3d hands out for a record: "UID<uid>-<uidv>",
 * "UID<uid>" when uidv is 0, and for uid 0 the file name up to ':' with
 * bytes outside 0x21-0x7e and ' " + as +XX.  Length, or -1 if it does not
 * fit in cap. */
int courier_uidl(const struct courier_record *r, char *out, size_t cap);

/* ---- postern-uidls: postern's own copy ----
 * "postern-uidls 1 <source>\n" then "<name> <uidl>\n" a message, name being
 * the file name up to ':' with bytes outside 0x21-0x7e and '%' as %XX. */
#define UIDLS_MAGIC "postern-uidls 1 "
typedef void (*uidls_record_fn)(void *ctx, const char *name, size_t name_len,
				const char *uidl, size_t uidl_len);
/* name is decoded into a scratch buffer handed to the callback.  -1 when
 * the header is wrong; else the number of records.  *source (up to srccap)
 * gets the source word of the header. */
long uidls_file_parse(const char *buf, size_t len, char *source, size_t srccap,
		      uidls_record_fn rec, uidl_bad_fn bad, void *ctx);
/* Escape name for a postern-uidls line; the length, or -1 if cap is short. */
int uidls_escape(const char *name, size_t len, char *out, size_t cap);
#endif
