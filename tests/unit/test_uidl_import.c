/* test_uidl_import.c - unit tests for src/uidl_import.c: the dovecot-uidlist,
 * courierpop3dsizelist and postern-uidls parsers (good and malformed files:
 * a bad line is reported and skipped, never turned into a record), Courier's
 * UIDL rule, and the pop3_uidl_format expander against what Dovecot 2.3's
 * var_expand prints. */
#include "unit.h"
#include "uidl_import.h"

/* Records and skipped lines, as text: "uid base P G|" and "!line|". */
static char got[8192];

static void app(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void app(const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(got);
	va_start(ap, fmt);
	vsnprintf(got + n, sizeof(got) - n, fmt, ap);
	va_end(ap);
}

static void bad(void *ctx, unsigned line, const char *why)
{
	(void)ctx;
	assert_non_null(why);
	app("!%u|", line);
}

static void dc_rec(void *ctx, const struct dc_header *h, const struct dc_record *r)
{
	(void)ctx;
	app("%u %.*s %.*s %.*s v%u|", r->uid, (int)r->base_len, r->base,
	    r->pop3_uidl ? (int)r->pop3_uidl_len : 1, r->pop3_uidl ? r->pop3_uidl : "-",
	    r->guid ? (int)r->guid_len : 1, r->guid ? r->guid : "-", h->uidvalidity);
}

static const struct {
	const char *file;
	long n;             /* return value */
	const char *want;
} dc_cases[] = {
	/* A file as Dovecot 2.3 writes it. */
	{ "3 V1733500000 N4 G5b9d1e0c1a2b\n"
	  "1 :1700000001.M1P1.host,S=2:2,S\n"
	  "2 W2481 :1700000002.M2P2.host\n"
	  "3 G0011 Psaved W10 :1700000003.M3P3.host:2,\n",
	  3, "1 1700000001.M1P1.host,S=2 - - v1733500000|"
	     "2 1700000002.M2P2.host - - v1733500000|"
	     "3 1700000003.M3P3.host saved 0011 v1733500000|" },
	/* Header fields in any order; unknown ones ignored. */
	{ "3 N9 X1 V7\n5 :a\n", 1, "5 a - - v7|" },
	/* Not version 3, no V, empty: the whole file is refused. */
	{ "1 1733500000 4\n1 a\n", -1, "" },
	{ "3 N4\n1 :a\n", -1, "" },
	{ "3 V0\n1 :a\n", -1, "" },
	{ "", -1, "" },
	{ "3 V1", -1, "" },                       /* header without newline */
	/* Malformed lines: skipped and reported, the rest kept. */
	{ "3 V1\n"
	  "x :a\n"                                /* 2: no UID */
	  "0 :b\n"                                /* 3: UID 0 */
	  "4294967296 :c\n"                       /* 4: UID too big */
	  "2 W1\n"                                /* 5: no file name */
	  "3 :\n"                                 /* 6: empty name */
	  "4 :d/e\n"                              /* 7: a '/' */
	  "5 :f\n"
	  "5 :g\n"                                /* 9: UID not increasing */
	  "4 :h\n"                                /* 10: UID going back */
	  "6:i\n"                                 /* 11: no space after UID */
	  "7 ::2,S\n"                             /* 12: empty base */
	  "8 :j",                                 /* 13: cut short */
	  1, "!2|!3|!4|!5|!6|!7|5 f - - v1|!9|!10|!11|!12|!13|" },
	/* Many spaces, empty P: kept as given (the caller checks UIDLs). */
	{ "3 V2\n9   P  W1   :name with space:2,S\n", 1, "9 name with space  - v2|" },
};

static void test_dovecot_uidlist(void **state)
{
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(dc_cases) / sizeof(dc_cases[0]); i++) {
		long n;
		got[0] = '\0';
		n = dovecot_uidlist_parse(dc_cases[i].file, strlen(dc_cases[i].file), dc_rec, bad, NULL);
		if (n != dc_cases[i].n || strcmp(got, dc_cases[i].want) != 0)
			fail_msg("case %zu: got %ld \"%s\", want %ld \"%s\"", i, n, got,
				 dc_cases[i].n, dc_cases[i].want);
	}
}

static void cr_rec(void *ctx, const struct courier_record *r)
{
	char u[128];
	(void)ctx;
	assert_true(courier_uidl(r, u, sizeof(u)) > 0);
	app("%.*s=%s|", (int)r->base_len, r->base, u);
}

static const struct {
	const char *file;
	long n;
	const char *want;
} cr_cases[] = {
	/* As Debian's courierpop3d (1.0.16) wrote it in the integration test. */
	{ "/3 5 1796589046\n"
	  "16999999.M0P0.host:2,S 14 1:1796589046:0\n"
	  "170000001.M1P1.host:2, 32 2:1796589046:0\n",
	  2, "16999999.M0P0.host=UID1-1796589046|170000001.M1P1.host=UID2-1796589046|" },
	/* Version 2 lines have no utf8 field; uidv 0 prints UID<n>. */
	{ "/2 3 9\na 1 1:9\nb 1 2:0\n", 2, "a=UID1-9|b=UID2|" },
	/* A name with spaces: the last two fields are size and uid. */
	{ "/3 3 9\nname with  spaces 10 2:9:1\n", 1, "name with  spaces=UID2-9|" },
	/* uid 0: Courier's version 0 UIDL, the name with +XX escapes. */
	{ "/3 3 9\nab+c\"d' 1 0:9:0\n", 1, "ab+c\"d'=ab+2Bc+22d+27|" },
	/* Bad headers: ignored as a whole. */
	{ "/4 3 9\na 1 1:9:0\n", -1, "" },
	{ "3 3 9\na 1 1:9:0\n", -1, "" },
	{ "/3 x 9\na 1 1:9:0\n", -1, "" },
	{ "", -1, "" },
	/* Bad lines: skipped. */
	{ "/3 3 9\n"
	  "nospaces\n"                 /* 2 */
	  "a 1\n"                      /* 3 */
	  " 1 1:9:0\n"                 /* 4: empty name */
	  "a x 1:9:0\n"                /* 5: size */
	  "a 1 x:9:0\n"                /* 6: uid */
	  "a 1 1\n"                    /* 7: no uidv */
	  "a 1 1:9:x\n"                /* 8: utf8 */
	  "a 1 1:9:0:0\n"              /* 9: one field too many */
	  "a 1 -1:9:0\n"               /* 10: sign */
	  "d/e 1 1:9:0\n"              /* 11: a '/' */
	  ":2,S 1 1:9:0\n"             /* 12: empty base */
	  "a 1 99999999999999999999999:9:0\n" /* 13: overflow */
	  "ok 1 3:9:0\n"
	  "cut 1 4:9",                 /* 15: no newline */
	  1, "!2|!3|!4|!5|!6|!7|!8|!9|!10|!11|!12|!13|ok=UID3-9|!15|" },
};

static void test_courier_sizelist(void **state)
{
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(cr_cases) / sizeof(cr_cases[0]); i++) {
		long n;
		got[0] = '\0';
		n = courier_sizelist_parse(cr_cases[i].file, strlen(cr_cases[i].file), cr_rec, bad, NULL);
		if (n != cr_cases[i].n || strcmp(got, cr_cases[i].want) != 0)
			fail_msg("case %zu: got %ld \"%s\", want %ld \"%s\"", i, n, got,
				 cr_cases[i].n, cr_cases[i].want);
	}
}

static void test_courier_uidl_fits(void **state)
{
	struct courier_record r = { 1, "abc", 3, 123, 4567 };
	char out[16];
	(void)state;
	assert_int_equal(courier_uidl(&r, out, sizeof(out)), 11);
	assert_string_equal(out, "UID123-4567");
	assert_int_equal(courier_uidl(&r, out, 11), -1);   /* no room for the NUL */
	assert_int_equal(courier_uidl(&r, out, 12), 11);
	r.uid = 0;
	r.base = "a b";
	assert_int_equal(courier_uidl(&r, out, sizeof(out)), 5);
	assert_string_equal(out, "a+20b");
	assert_int_equal(courier_uidl(&r, out, 5), -1);
}

static const struct {
	const char *fmt;
	const char *want;   /* NULL: expansion fails */
} fmt_cases[] = {
	/* uid 26, uidvalidity 1733500000, file "1700000001.M1P1.Host,S=2" */
	{ "%08Xu%08Xv", "0000001a67531c60" },   /* Dovecot 2.3: lower-case hex */
	{ "%u", "26" },
	{ "%v.%u", "1733500000.26" },
	{ "%v-%u", "1733500000-26" },
	{ "%f", "1700000001.M1P1.Host,S=2" },
	{ "%{filename}", "1700000001.M1P1.Host,S=2" },
	{ "%{uid}:%{uidvalidity}", "26:1733500000" },
	{ "%g", "GUID-1" },
	{ "%Lf", "1700000001.m1p1.host,s=2" },
	{ "%Uf", "1700000001.M1P1.HOST,S=2" },
	{ "%Xf", "0" },                           /* not a number: 0 */
	{ "%Mf", "8b1ae9a0306894491d7c3fd6e2b9f4fa" },
	{ "%Rf", "2=S,tsoH.1P1M.1000000071" },
	{ "%5u", "26" },                          /* width truncates, never pads */
	{ "%1u", "2" },
	{ "%05u", "00026" },                      /* 0: pads, never truncates */
	{ "%01u", "26" },
	{ "%2.3f", "000" },                       /* offset 2, width 3 */
	{ "%-3.2f", "S=" },                       /* 3 from the end, width 2 */
	{ "%-4f", "1700" },                       /* '-' without '.': width 4 */
	{ "%.-4f", "1700000001.M1P1.Host" },      /* all but the last 4 */
	{ "100%%%u", "100%26" },
	{ "%u%", NULL },
	{ "%m", NULL },
	{ "%{md5}", NULL },
	{ "%x", NULL },
	{ "%{uid", NULL },
	{ "%Hu", NULL },
	{ "%LLLLLLLLLLLu", NULL },
};

static void test_format_expand(void **state)
{
	struct uidl_vars v = { 26, 1733500000, "1700000001.M1P1.Host,S=2", 24, "GUID-1", 6 };
	char out[128];
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		int n = uidl_format_expand(fmt_cases[i].fmt, &v, out, sizeof(out));
		if (!fmt_cases[i].want) {
			if (n >= 0)
				fail_msg("'%s' expanded to '%s', want failure", fmt_cases[i].fmt, out);
			continue;
		}
		if (n < 0 || strcmp(out, fmt_cases[i].want) != 0 || (size_t)n != strlen(out))
			fail_msg("'%s': got %d '%s', want '%s'", fmt_cases[i].fmt, n, n < 0 ? "" : out,
				 fmt_cases[i].want);
	}
	/* No G field: %g is the file name up to ':'. */
	v.guid = NULL;
	assert_int_equal(uidl_format_expand("%g", &v, out, sizeof(out)), 24);
	assert_string_equal(out, "1700000001.M1P1.Host,S=2");
	/* Too long for the buffer: failure, never a cut UIDL. */
	assert_int_equal(uidl_format_expand("%f", &v, out, 24), -1);
	assert_int_equal(uidl_format_expand("%f", &v, out, 25), 24);
	/* Full range of numbers. */
	v.uid = 4294967294u;
	v.uidvalidity = 4294967295u;
	assert_true(uidl_format_expand("%08Xu%08Xv", &v, out, sizeof(out)) == 16);
	assert_string_equal(out, "fffffffeffffffff");
}

static void test_format_check(void **state)
{
	static const struct {
		const char *fmt;
		int ok;
	} c[] = {
		{ "%08Xu%08Xv", 1 }, { "%u", 1 }, { "%v.%u", 1 }, { "%f", 1 }, { "%g", 1 },
		{ "%Mf", 1 }, { "UID%u-%v", 1 }, { "%{uid}", 1 },
		{ "%v", 0 },          /* the same for every message */
		{ "static", 0 }, { "", 0 }, { "%m", 0 }, { "%Nu", 0 }, { "%08Xu%", 0 },
		{ "%{hostname}%u", 0 }, { "%{uid", 0 },
	};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const char *why = NULL;
		int r = uidl_format_check(c[i].fmt, &why);
		if ((r == 0) != c[i].ok)
			fail_msg("'%s': check %d (%s), want %s", c[i].fmt, r, why ? why : "",
				 c[i].ok ? "ok" : "refused");
		if (r < 0)
			assert_non_null(why);
	}
}

static void test_uidl_valid(void **state)
{
	char s[72];
	(void)state;
	memset(s, 'a', sizeof(s));
	assert_true(uidl_valid("a", 1));
	assert_true(uidl_valid("!~", 2));
	assert_true(uidl_valid(s, 70));
	assert_false(uidl_valid(s, 71));
	assert_false(uidl_valid("", 0));
	assert_false(uidl_valid("a b", 3));
	assert_false(uidl_valid("a\x7f", 2));
	assert_false(uidl_valid("a\x80", 2));
	assert_false(uidl_valid("a\0b", 3));
}

static void ul_rec(void *ctx, const char *name, size_t nlen, const char *uidl, size_t ulen)
{
	(void)ctx;
	app("%.*s=%.*s|", (int)nlen, name, (int)ulen, uidl);
}

static void test_uidls_file(void **state)
{
	static const struct {
		const char *file;
		long n;
		const char *src, *want;
	} c[] = {
		{ "postern-uidls 1 dovecot\na b\n1700.M1%20x%25 UID1-2\n", 2, "dovecot",
		  "a=b|1700.M1 x%=UID1-2|" },
		{ "postern-uidls 1 courier\n", 0, "courier", "" },
		{ "postern-uidls 2 dovecot\na b\n", -1, "", "" },
		{ "postern-uidls 1 \na b\n", -1, "", "" },
		{ "postern-uidls 1 dovecot", -1, "", "" },
		{ "postern-uidls 1 x\n"
		  "nospace\n"                        /* 2 */
		  " b\n"                             /* 3: empty name */
		  "a b c\n"                          /* 4: UIDL with a space */
		  "a/b c\n"                          /* 5: '/' */
		  "a%2Fb c\n"                        /* 6: escaped '/' */
		  "a:2 c\n"                          /* 7: ':' */
		  "a%00 c\n"                         /* 8: NUL */
		  "a%zz c\n"                         /* kept as it is */
		  "a%4 c\n"                          /* kept as it is */
		  "a x\x7f\n"                        /* 11 */
		  "last y",                          /* 12: cut short */
		  2, "x", "!2|!3|!4|!5|!6|!7|!8|a%zz=c|a%4=c|!11|!12|" },
	};
	size_t i;
	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char src[64] = "";
		long n;
		got[0] = '\0';
		n = uidls_file_parse(c[i].file, strlen(c[i].file), src, sizeof(src), ul_rec, bad, NULL);
		if (n != c[i].n || strcmp(got, c[i].want) != 0 || (n >= 0 && strcmp(src, c[i].src)))
			fail_msg("case %zu: got %ld \"%s\" src '%s', want %ld \"%s\"", i, n, got, src,
				 c[i].n, c[i].want);
	}
}

static void test_uidls_escape_round_trip(void **state)
{
	char name[256], esc[1024], file[1200];
	uint32_t seed = 7;
	int k;
	(void)state;
	for (k = 0; k < 500; k++) {
		size_t len = 1 + test_rand(&seed) % 100, i;
		for (i = 0; i < len; i++) {
			do
				name[i] = (char)(test_rand(&seed) & 0xff);
			while (name[i] == '/' || name[i] == ':' || name[i] == '\0');
		}
		assert_true(uidls_escape(name, len, esc, sizeof(esc)) > 0);
		snprintf(file, sizeof(file), "postern-uidls 1 t\n%s U\n", esc);
		got[0] = '\0';
		assert_int_equal(uidls_file_parse(file, strlen(file), esc, 8, ul_rec, bad, NULL), 1);
		assert_memory_equal(got, name, len);
		assert_string_equal(got + len, "=U|");
	}
	assert_int_equal(uidls_escape("ab", 2, esc, 2), -1);
	assert_int_equal(uidls_escape(" ", 1, esc, 3), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dovecot_uidlist),
		cmocka_unit_test(test_courier_sizelist),
		cmocka_unit_test(test_courier_uidl_fits),
		cmocka_unit_test(test_format_expand),
		cmocka_unit_test(test_format_check),
		cmocka_unit_test(test_uidl_valid),
		cmocka_unit_test(test_uidls_file),
		cmocka_unit_test(test_uidls_escape_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
