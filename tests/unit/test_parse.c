/* test_parse.c - unit tests for src/parse.c: strict numbers, durations,
 * sizes, booleans and listen addresses. */
#include "unit.h"
#include "parse.h"

static int dec(const char *s, uint64_t max, uint64_t *out)
{
	return parse_decimal(s, strlen(s), max, out);
}

static void test_decimal_good(void **state)
{
	uint64_t v;
	assert_int_equal(dec("0", UINT32_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(dec("1", UINT32_MAX, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(dec("42", 42, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(dec("007", 10, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(dec("4294967295", UINT32_MAX, &v), 0);
	assert_true(v == UINT32_MAX);
	assert_int_equal(dec("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(dec("65535", 65535, &v), 0);
	assert_int_equal(v, 65535);
}

static void test_decimal_bad(void **state)
{
	static const char *bad[] = {
		"", "-1", "+1", "1 ", " 1", "1a", "a1", "0x10", "1.0", "1,0",
		"1e3", "\t1", "1\n", "1\r", "٣", "１",
	};
	uint64_t v = 777;
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dec(bad[i], UINT64_MAX, &v) != -1)
			fail_msg("parse_decimal accepted '%s'", bad[i]);
	}
	assert_int_equal(dec("4294967296", UINT32_MAX, &v), -1);
	assert_int_equal(dec("4294967297", UINT32_MAX, &v), -1);
	assert_int_equal(dec("99999999999999999999", UINT64_MAX, &v), -1);
	assert_int_equal(dec("18446744073709551616", UINT64_MAX, &v), -1);
	assert_int_equal(dec("100000000000000000000", UINT64_MAX, &v), -1);
	assert_int_equal(dec("43", 42, &v), -1);
	assert_int_equal(dec("1", 0, &v), -1);
	assert_int_equal(dec("65536", 65535, &v), -1);
	/* Leading zeros do not make a long number out of a short one. */
	assert_int_equal(dec("000000000000000000000", UINT64_MAX, &v), -1);
	/* A failure leaves *out alone. */
	assert_int_equal(v, 777);
}

static void test_decimal_len_bounded(void **state)
{
	/* Only len bytes are read: "12" out of "123", and a NUL inside the
	 * span is junk, not an end. */
	uint64_t v;
	assert_int_equal(parse_decimal("123", 2, 1000, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(parse_decimal("1\0" "2", 3, 1000, &v), -1);
	assert_int_equal(parse_decimal("5", 0, 1000, &v), -1);
}

static void test_duration(void **state)
{
	static const struct { const char *s; uint64_t ms; } good[] = {
		{ "0", 0 }, { "10", 10000 }, { "10s", 10000 }, { "500ms", 500 },
		{ "10m", 600000 }, { "2h", 7200000 }, { "1d", 86400000 },
		{ "10 s", 10000 }, { "30 m", 1800000 }, { "0ms", 0 },
		{ "4294967295d", 4294967295ULL * 86400000ULL },
	};
	static const char *bad[] = {
		"", "s", "ms", "-1s", "+1s", "1.5s", "10x", "10 sec", "10S", "10M",
		"10mss", " 10s", "10 s x", "1e3", "18446744073709551615", "99999999999999999999d",
		"213503982335d",
		"10H", "10D", "10 m s",
	};
	uint64_t v;
	size_t i;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		if (parse_duration_ms(good[i].s, &v) != 0 || v != good[i].ms)
			fail_msg("parse_duration_ms('%s')", good[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_duration_ms(bad[i], &v) != -1)
			fail_msg("parse_duration_ms accepted '%s'", bad[i]);
}

static void test_size(void **state)
{
	static const struct { const char *s; uint64_t n; } good[] = {
		{ "0", 0 }, { "100000", 100000 }, { "4k", 4096 }, { "4K", 4096 },
		{ "64M", 64ULL << 20 }, { "2G", 2ULL << 30 }, { "1 M", 1ULL << 20 },
		{ "4294967295", 4294967295ULL }, { "4294967295G", 4294967295ULL << 30 },
	};
	static const char *bad[] = {
		"", "k", "M", "-1", "+1", "1.5M", "64m", "64g", "64MB", "64KiB",
		"1T", " 1", "1 M x", "18446744073709551616", "17179869184G",
	};
	uint64_t v;
	size_t i;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1;
		if (parse_size(good[i].s, &v) != 0 || v != good[i].n)
			fail_msg("parse_size('%s')", good[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_size(bad[i], &v) != -1)
			fail_msg("parse_size accepted '%s'", bad[i]);
}

static void test_bool(void **state)
{
	static const char *yes[] = { "yes", "YES", "Yes", "true", "TRUE", "on", "On", "1" };
	static const char *no[] = { "no", "NO", "false", "False", "off", "OFF", "0" };
	static const char *bad[] = { "", "y", "n", "2", "yes ", " no", "enable", "ja", "01", "onn" };
	int b;
	size_t i;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = -5;
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_int_equal(b, 1);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = -5;
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_int_equal(b, 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = -5;
		if (parse_bool(bad[i], &b) != -1)
			fail_msg("parse_bool accepted '%s'", bad[i]);
		assert_int_equal(b, -5);
	}
}

static void hp_ok(const char *s, const char *host, unsigned port)
{
	char h[64];
	uint16_t p = 0;
	memset(h, 'X', sizeof(h));
	if (parse_hostport(s, h, sizeof(h), &p) != 0)
		fail_msg("parse_hostport rejected '%s'", s);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void test_hostport_good(void **state)
{
	hp_ok("127.0.0.1:110", "127.0.0.1", 110);
	hp_ok("[::1]:110", "::1", 110);
	hp_ok("[::]:995", "::", 995);
	hp_ok("[fe80::1%eth0]:110", "fe80::1%eth0", 110);
	hp_ok("*:110", "", 110);
	hp_ok("mail.example.org:1", "mail.example.org", 1);
	hp_ok("0.0.0.0:65535", "0.0.0.0", 65535);
	hp_ok("localhost:0110", "localhost", 110);
}

static void test_hostport_bad(void **state)
{
	static const char *bad[] = {
		"", "110", ":", "host", "host:", "host:0", "host:65536",
		"host:-1", "host:+1", "host:1x", "host: 110", "host:110 ",
		"::1:110", "[::1]110", "[::1]", "[::1:110", "::1]:110",
		"[::1]:", "[::1]:0", "*:", "*:99999", "a:b:1",
		"host:4294967297", "host:18446744073709551617",
		"#8*:11", "a#b:1", "[#::1]:1",
	};
	char h[64];
	uint16_t p = 4242;
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_hostport(bad[i], h, sizeof(h), &p) != -1)
			fail_msg("parse_hostport accepted '%s'", bad[i]);
	assert_int_equal(p, 4242);
}

static void test_hostport_capacity(void **state)
{
	char h[8];
	uint16_t p;
	assert_int_equal(parse_hostport("1234567:1", h, sizeof(h), &p), 0);
	assert_string_equal(h, "1234567");
	assert_int_equal(parse_hostport("12345678:1", h, sizeof(h), &p), -1);
	assert_int_equal(parse_hostport("[1:3:5:7]:1", h, sizeof(h), &p), 0);
	assert_int_equal(parse_hostport("[1:3:5:7:]:1", h, sizeof(h), &p), -1);
	/* The wildcard needs only the terminator. */
	assert_int_equal(parse_hostport("*:1", h, 1, &p), 0);
	assert_string_equal(h, "");
}

/* Found by fuzz_parse: "[[1]:3" gave the host "[1", which config_print
 * writes as "[1:3", which does not parse.  Brackets are never part of a
 * host. */
static void test_hostport_brackets_in_host(void **state)
{
	static const char *bad[] = { "[[1]:3", "[[::1]:110", "a[b:1", "a]b:1", "[a[b]:1" };
	char h[64];
	uint16_t p;
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_hostport(bad[i], h, sizeof(h), &p) != -1)
			fail_msg("parse_hostport accepted '%s' (host '%s')", bad[i], h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal_good),
		cmocka_unit_test(test_decimal_bad),
		cmocka_unit_test(test_decimal_len_bounded),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_hostport_good),
		cmocka_unit_test(test_hostport_bad),
		cmocka_unit_test(test_hostport_capacity),
		cmocka_unit_test(test_hostport_brackets_in_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
