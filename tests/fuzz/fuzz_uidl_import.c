/* fuzz_uidl_import.c - libFuzzer target for src/uidl_import.c.
 *
 * Input: one selector byte, then a file.  Selector % 4: 0 dovecot-uidlist,
 * 1 courierpop3dsizelist, 2 postern-uidls, 3 a pop3_uidl_format (up to the
 * first NUL) expanded for fixed variables.  Checks, abort() on failure:
 * every record points inside the input, names are non-empty and hold no
 * '/' or NUL (nor ':', where that ends the name); Dovecot UIDs increase;
 * the count returned is the number of records reported, and records plus
 * skipped lines are no more than the lines of the file; Courier's UIDL is
 * NUL-terminated and as long as said, or -1; postern-uidls records are
 * valid UIDLs; a format that uidl_format_check accepts expands (the result
 * as long as said), one it refuses never does. */
#include "uidl_import.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *in_lo, *in_hi;
static long records, skipped;
static uint32_t last_uid;

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_uidl_import: %s\n", what);
		abort();
	}
}

static void inside(const char *p, size_t n)
{
	check(p >= in_lo && p + n <= in_hi, "pointer outside the input");
}

static void name_ok(const char *p, size_t n, int colon_ends)
{
	check(n > 0, "empty name");
	check(!memchr(p, '/', n) && !memchr(p, '\0', n), "'/' or NUL in a name");
	if (colon_ends)
		check(!memchr(p, ':', n), "':' in a name");
}

static void bad(void *ctx, unsigned line, const char *why)
{
	(void)ctx;
	check(line > 0 && why && *why, "bad-line report");
	skipped++;
}

static void dc(void *ctx, const struct dc_header *h, const struct dc_record *r)
{
	(void)ctx;
	check(h->uidvalidity != 0, "uidvalidity 0");
	check(r->uid > last_uid, "UIDs not increasing");
	last_uid = r->uid;
	inside(r->base, r->base_len);
	name_ok(r->base, r->base_len, 1);
	if (r->pop3_uidl)
		inside(r->pop3_uidl, r->pop3_uidl_len);
	if (r->guid)
		inside(r->guid, r->guid_len);
	records++;
}

static void cr(void *ctx, const struct courier_record *r)
{
	char out[1024];
	int n;
	(void)ctx;
	inside(r->base, r->base_len);
	name_ok(r->base, r->base_len, 1);
	n = courier_uidl(r, out, sizeof(out));
	check(n == -1 || (n > 0 && (size_t)n == strlen(out)), "courier_uidl length");
	records++;
}

static void ul(void *ctx, const char *name, size_t nlen, const char *uidl, size_t ulen)
{
	(void)ctx;
	name_ok(name, nlen, 1);
	inside(uidl, ulen);
	check(uidl_valid(uidl, ulen), "postern-uidls record with a bad UIDL");
	records++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, src[64], out[256];
	const char *why;
	size_t lines = 0, i;
	long n = 0;
	if (size < 1)
		return 0;
	/* A copy of exactly the file, so reads past it are caught. */
	buf = malloc(size - 1 ? size - 1 : 1);
	memcpy(buf, data + 1, size - 1);
	in_lo = buf;
	in_hi = buf + size - 1;
	records = skipped = 0;
	last_uid = 0;
	for (i = 0; i < size - 1; i++)
		lines += buf[i] == '\n';
	switch (data[0] % 4) {
	case 0:
		n = dovecot_uidlist_parse(buf, size - 1, dc, bad, NULL);
		break;
	case 1:
		n = courier_sizelist_parse(buf, size - 1, cr, bad, NULL);
		break;
	case 2:
		n = uidls_file_parse(buf, size - 1, src, sizeof(src), ul, bad, NULL);
		break;
	case 3: {
		char fmt[128];
		size_t fl = strnlen(buf, size - 1);
		struct uidl_vars v = { 26, 1733500000, "1700.M1P2.h,S=3", 15, NULL, 0 };
		if (fl >= sizeof(fmt))
			fl = sizeof(fmt) - 1;
		memcpy(fmt, buf, fl);
		fmt[fl] = '\0';
		int ok = uidl_format_check(fmt, &why) == 0;
		int e = uidl_format_expand(fmt, &v, out, sizeof(out));
		check(e == -1 || (size_t)e == strlen(out), "expansion length");
		if (!ok) {
			/* Refused formats: only those that merely lack %u/%f/%g
			 * still expand. */
			check(e == -1 || strstr(why, "none of") != NULL, "refused format expanded");
		}
		free(buf);
		return 0;
	}
	}
	if (n >= 0) {
		check(n == records, "count differs from records reported");
		check((size_t)(records + skipped) <= lines + 1, "more records than lines");
	} else {
		check(records == 0, "records reported for a refused file");
	}
	free(buf);
	return 0;
}
