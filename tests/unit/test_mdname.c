/* test_mdname.c - unit tests for src/mdname.c: Maildir names, their ,S= and
 * ,W= fields and flags, the UIDL derived from them, delivery order. */
#include "unit.h"
#include "mdname.h"

static struct mdname P(const char *name)
{
	struct mdname m;
	if (mdname_parse(name, &m) != 0)
		fail_msg("mdname_parse rejected '%s'", name);
	return m;
}

static void test_parse_dovecot_name(void **state)
{
	const char *n = "1700000000.M12P345Q6.host,S=1234,W=1260:2,S";
	struct mdname m = P(n);
	assert_int_equal(m.unique_len, strlen("1700000000.M12P345Q6.host"));
	assert_int_equal(m.base_len, strlen("1700000000.M12P345Q6.host,S=1234,W=1260"));
	assert_true(m.has_s);
	assert_true(m.s_size == 1234);
	assert_true(m.has_w);
	assert_true(m.w_size == 1260);
	assert_non_null(m.flags);
	assert_string_equal(m.flags, "S");
	assert_true(m.time == 1700000000);
	assert_true(mdname_has_flag(&m, 'S'));
	assert_false(mdname_has_flag(&m, 'T'));
}

static void test_parse_plain_names(void **state)
{
	struct mdname m = P("1234.abc");
	assert_int_equal(m.unique_len, 8);
	assert_int_equal(m.base_len, 8);
	assert_null(m.flags);
	assert_false(m.has_s);
	assert_false(m.has_w);
	assert_true(m.time == 1234);
	assert_false(mdname_has_flag(&m, 'S'));

	/* new/ names have no info; cur/ names may have empty flags. */
	m = P("1234.abc:2,");
	assert_non_null(m.flags);
	assert_string_equal(m.flags, "");
	assert_int_equal(m.unique_len, 8);
	assert_false(mdname_has_flag(&m, 'S'));
	m = P("1234.abc:2,DFRST");
	assert_true(mdname_has_flag(&m, 'D') && mdname_has_flag(&m, 'F') &&
		    mdname_has_flag(&m, 'R') && mdname_has_flag(&m, 'S') &&
		    mdname_has_flag(&m, 'T'));
	assert_false(mdname_has_flag(&m, 'P'));
	/* Experimental ":1," info: no flags. */
	m = P("1234.abc:1,xyz");
	assert_null(m.flags);
	m = P("1234.abc:2");
	assert_null(m.flags);
	m = P("1234.abc:");
	assert_null(m.flags);
	assert_int_equal(m.base_len, 8);
	/* A ',' inside the flags does not start a field. */
	m = P("1234.abc:2,S,S=5");
	assert_false(m.has_s);
	assert_int_equal(m.unique_len, 8);
}

static void test_parse_rejects(void **state)
{
	struct mdname m;
	assert_int_equal(mdname_parse("", &m), -1);
	assert_int_equal(mdname_parse(".", &m), -1);
	assert_int_equal(mdname_parse("..", &m), -1);
	assert_int_equal(mdname_parse(".hidden", &m), -1);
	assert_int_equal(mdname_parse(".1234.abc:2,S", &m), -1);
}

static void test_parse_fields(void **state)
{
	struct mdname m = P("1.x,W=20,S=10");
	assert_true(m.has_s && m.s_size == 10 && m.has_w && m.w_size == 20);
	m = P("1.x,X=5,S=7,FOO,W=8:2,");
	assert_true(m.has_s && m.s_size == 7 && m.has_w && m.w_size == 8);
	assert_int_equal(m.unique_len, 3);
	m = P("1.x,S=0");
	assert_true(m.has_s && m.s_size == 0);
	m = P("1.x,S=18446744073709551615");
	assert_true(m.has_s && m.s_size == UINT64_MAX);
	/* Bad values are ignored, not guessed at. */
	static const char *bad[] = {
		"1.x,S=", "1.x,S=abc", "1.x,S=-1", "1.x,S=+1", "1.x,S=12a",
		"1.x,S=18446744073709551616", "1.x,S=99999999999999999999999",
		"1.x,S", "1.x,S5", "1.x,s=5", "1.x,=5", "1.x,,", "1.x:2,S=5",
		"1.x,S= 5", "1.x,S=5 ",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = P(bad[i]);
		if (m.has_s)
			fail_msg("'%s' gave S=%llu", bad[i], (unsigned long long)m.s_size);
		assert_false(m.has_w);
	}
	/* The last of two fields wins. */
	m = P("1.x,S=5,S=6");
	assert_true(m.s_size == 6);
}

static void test_parse_time(void **state)
{
	assert_true(P("abc").time == 0);
	assert_true(P("0012.x").time == 12);
	assert_true(P("1700000000").time == 1700000000);
	assert_true(P("1700000000,S=5").time == 1700000000);
	assert_true(P("12x34").time == 12);
	/* Long digit runs: the first 19 digits, no overflow. */
	assert_true(P("12345678901234567890123.x").time == 1234567890123456789ULL);
	assert_true(P("99999999999999999999999").time == 9999999999999999999ULL);
	/* Leading field, no unique digits. */
	assert_true(P(",S=5").time == 0);
}

static void uidl_of(const char *name, char *out)
{
	struct mdname m = P(name);
	memset(out, 'Z', UIDL_MAX + 1);
	mdname_uidl(name, &m, out);
}

static int is_hex40(const char *s)
{
	return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

static void test_uidl_plain(void **state)
{
	char u[UIDL_MAX + 1], n[200];
	uidl_of("1700000000.M12P345Q6.host,S=1234,W=1260:2,S", u);
	assert_string_equal(u, "1700000000.M12P345Q6.host");
	uidl_of("1700000000.M12P345Q6.host", u);
	assert_string_equal(u, "1700000000.M12P345Q6.host");
	uidl_of("1700000000.M12P345Q6.host:2,", u);
	assert_string_equal(u, "1700000000.M12P345Q6.host");
	uidl_of("x", u);
	assert_string_equal(u, "x");
	uidl_of("!~\"#$%&'()*+-./;<=>?@[\\]^_`{|}", u);
	assert_string_equal(u, "!~\"#$%&'()*+-./;<=>?@[\\]^_`{|}");
	/* Exactly 70 characters: used as is. */
	memset(n, 'b', 70);
	strcpy(n + 70, ",S=1:2,S");
	uidl_of(n, u);
	assert_int_equal(strlen(u), 70);
	assert_memory_equal(u, n, 70);
}

static void test_uidl_digest(void **state)
{
	char u[UIDL_MAX + 1], u2[UIDL_MAX + 1], n[200];
	/* 71 characters: digest, the same whatever follows the unique part. */
	memset(n, 'a', 71);
	n[71] = '\0';
	uidl_of(n, u);
	assert_true(is_hex40(u));
	assert_string_equal(u, "eefa4cfbea79400c2f4239e1f702e02ebece761f");
	strcpy(n + 71, ",S=10,W=12:2,RS");
	uidl_of(n, u2);
	assert_string_equal(u, u2);
	/* 72 characters: another digest. */
	memset(n, 'a', 72);
	n[72] = '\0';
	uidl_of(n, u2);
	assert_true(is_hex40(u2));
	assert_string_not_equal(u, u2);
	/* Characters outside 0x21-0x7e. */
	uidl_of("has space.host", u);
	assert_string_equal(u, "b70f7b5bd444ccf9217ff474be7c93d13c55fa93");
	uidl_of("has space.host,S=1:2,T", u2);
	assert_string_equal(u, u2);
	uidl_of("1700000000.M1P2.h\001st", u);
	assert_string_equal(u, "fc13ddd8939314866c21e9f8ea544872b4dbbaf5");
	uidl_of("a\x7f", u);
	assert_true(is_hex40(u));
	uidl_of("a\x80", u);
	assert_true(is_hex40(u));
	uidl_of("a\xff" "b", u);
	assert_true(is_hex40(u));
	uidl_of("tab\there", u);
	assert_true(is_hex40(u));
	/* Empty unique part (name starting with ','): digest of "". */
	uidl_of(",S=5:2,S", u);
	assert_string_equal(u, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4");
	/* 300 characters. */
	memset(n, 'q', 199);
	n[199] = '\0';
	uidl_of(n, u);
	assert_true(is_hex40(u));
	uidl_of(n, u2);
	assert_string_equal(u, u2);
}

static int order(const char *a, const char *b)
{
	struct mdname ma = P(a), mb = P(b);
	int r = mdname_order(a, &ma, b, &mb), s = mdname_order(b, &mb, a, &ma);
	/* Antisymmetric, whatever the answer. */
	assert_true((r > 0) - (r < 0) == -((s > 0) - (s < 0)));
	return (r > 0) - (r < 0);
}

static void test_order(void **state)
{
	assert_int_equal(order("1000.M9P1.h", "1000.M12P1.h"), -1);
	assert_int_equal(order("1000.M12P1.h", "1000.M9P1.h"), 1);
	assert_int_equal(order("999.zzz", "1000.aaa"), -1);
	assert_int_equal(order("1000.aaa", "1000.aab"), -1);
	assert_int_equal(order("1000.M1P99.h", "1000.M1P100.h"), -1);
	assert_int_equal(order("1000.M9P1.h:2,S", "1000.M12P1.h"), -1);
	/* Fields and flags do not change the order of different messages. */
	assert_int_equal(order("1000.M9P1.h,S=999:2,T", "1000.M12P1.h,S=1"), -1);
	/* No leading time sorts first. */
	assert_int_equal(order("abc", "1.abc"), -1);
	/* Leading zeros: same number; the full name breaks the tie. */
	assert_int_equal(order("1000.M009", "1000.M10"), -1);
	assert_true(order("1000.M09", "1000.M9") != 0);
	/* Same unique part, other suffix: not equal. */
	assert_true(order("1000.x:2,S", "1000.x:2,RS") != 0);
	assert_int_equal(order("1000.x:2,S", "1000.x:2,S"), 0);
	/* Long digit runs compare by value, not by overflowed value. */
	assert_int_equal(order("1.M99999999999999999999999", "1.M100000000000000000000000"), -1);
}

static int cmp_names(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	struct mdname mx = P(x), my = P(y);
	return mdname_order(x, &mx, y, &my);
}

static void test_order_sort(void **state)
{
	const char *names[] = {
		"1700000001.M1P1.h:2,S", "1700000000.M12P1.h,S=5", "1700000000.M9P1.h:2,",
		"1700000000.M100P1.h", "1699999999.M999999P9.h", "1700000000.M9P2.h",
		"1700000000.M9P10.h", "legacy-name",
	};
	const char *want[] = {
		"legacy-name", "1699999999.M999999P9.h", "1700000000.M9P1.h:2,",
		"1700000000.M9P2.h", "1700000000.M9P10.h", "1700000000.M12P1.h,S=5",
		"1700000000.M100P1.h", "1700000001.M1P1.h:2,S",
	};
	size_t i, n = sizeof(names) / sizeof(names[0]);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++)
		assert_string_equal(names[i], want[i]);
}

static void test_digest(void **state)
{
	char d[41], u[UIDL_MAX + 1];
	/* SHA-256("abc"), first 20 bytes. */
	mdname_digest("abc", 3, d);
	assert_string_equal(d, "ba7816bf8f01cfea414140de5dae2223b00361a3");
	/* The UIDL digest of an unusable unique part is this digest. */
	uidl_of("has space.host:2,S", u);
	mdname_digest("has space.host", 14, d);
	assert_string_equal(u, d);
	/* Different paths of one unique part: different digests. */
	mdname_digest("cur/U:2,S", 9, d);
	mdname_digest("cur/U:2,", 8, u);
	assert_string_not_equal(d, u);
}

static void dup_name(const char *name, unsigned k, const char *want)
{
	char out[256];
	struct mdname m = P(name);
	assert_int_equal(mdname_dup_name(name, &m, k, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_dup_name(void **state)
{
	char out[32], u[UIDL_MAX + 1];
	struct mdname m;
	/* The unique part grows, fields and info stay. */
	dup_name("1700000104.dup.host", 1, "1700000104.dup.host.dup1");
	dup_name("1700000104.dup.host:2,S", 2, "1700000104.dup.host.dup2:2,S");
	dup_name("1.h,S=5,W=6:2,RS", 17, "1.h.dup17,S=5,W=6:2,RS");
	dup_name("u:2,", 4000000000u, "u.dup4000000000:2,");
	/* ... and is the UIDL of the new name, distinct from the old one. */
	dup_name("1.h,S=5:2,", 1, "1.h.dup1,S=5:2,");
	uidl_of("1.h.dup1,S=5:2,", u);
	assert_string_equal(u, "1.h.dup1");
	/* No unique part: ".dup1:2,S" would be a hidden file. */
	m = P(":2,S");
	assert_int_equal(mdname_dup_name(":2,S", &m, 1, out, sizeof(out)), -1);
	m = P(",S=5");
	assert_int_equal(mdname_dup_name(",S=5", &m, 1, out, sizeof(out)), -1);
	/* Too long for the buffer: refused, not cut. */
	m = P("1700000104.a-rather-long-name:2,S");
	assert_int_equal(mdname_dup_name("1700000104.a-rather-long-name:2,S", &m, 1,
					 out, sizeof(out)), -1);
	m = P("12345678901234567890123456");
	assert_int_equal(mdname_dup_name("12345678901234567890123456", &m, 1, out,
					 sizeof(out)), 0);
	assert_int_equal(mdname_dup_name("12345678901234567890123456", &m, 10, out,
					 sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_dovecot_name),
		cmocka_unit_test(test_parse_plain_names),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_uidl_plain),
		cmocka_unit_test(test_uidl_digest),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_order_sort),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_dup_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
