/* test_proxy.c - unit tests for src/proxy.c, the PROXY protocol header
 * parser: version 1 (every valid form, every malformed variant the
 * specification names), random damage to v1 and v2 headers, and the error
 * texts.  For each header every truncation is checked: proxy_need must
 * never ask for a byte past the header, so the client's first bytes stay
 * in the socket.  Version 2 is in test_proxy_v2.c. */
#include "proxyhdr.h"

/* ---- version 1 ---- */

static const struct v1_ok {
	const char *line;
	int family;
	const char *src, *dst;   /* "addr port" */
} v1_ok[] = {
	{ "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", AF_INET,
	  "192.168.0.1 56324", "192.168.0.11 443" },
	{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", AF_INET,
	  "255.255.255.255 65535", "255.255.255.255 65535" },
	{ "PROXY TCP4 0.0.0.0 10.0.0.1 0 110\r\n", AF_INET, "0.0.0.0 0", "10.0.0.1 110" },
	{ "PROXY TCP6 2001:db8::1 2001:DB8::2 1 995\r\n", AF_INET6, "2001:db8::1 1",
	  "2001:db8::2 995" },
	{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	  AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535" },
	{ "PROXY TCP6 ::ffff:10.0.0.1 ::1 40000 110\r\n", AF_INET6, "::ffff:10.0.0.1 40000",
	  "::1 110" },
	{ "PROXY UNKNOWN\r\n", AF_UNSPEC, NULL, NULL },
	{ "PROXY UNKNOWN \r\n", AF_UNSPEC, NULL, NULL },
	{ "PROXY UNKNOWN 192.168.0.1 192.168.0.11 56324 443\r\n", AF_UNSPEC, NULL, NULL },
	{ "PROXY UNKNOWN anything at all, even  double  spaces\r\n", AF_UNSPEC, NULL, NULL },
	/* The worst case of the specification: exactly 107 bytes. */
	{ "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	  AF_UNSPEC, NULL, NULL },
};

static void test_v1_valid(void **state)
{
	size_t i;
	for (i = 0; i < sizeof(v1_ok) / sizeof(v1_ok[0]); i++) {
		struct hdr h = text(v1_ok[i].line);
		struct proxy_result r;
		char s[80];
		row = v1_ok[i].line;
		r = expect_ok(&h, strlen(v1_ok[i].line));
		assert_int_equal(r.version, 1);
		assert_int_equal(r.command, PROXY_CMD_PROXY);
		assert_int_equal(r.family, v1_ok[i].family);
		assert_int_equal(r.tls.present, 0);
		if (v1_ok[i].family == AF_UNSPEC) {
			assert_int_equal(r.src.ss_family, AF_UNSPEC);
			assert_int_equal(r.dst.ss_family, AF_UNSPEC);
			continue;
		}
		side(&r.src, s, sizeof(s));
		assert_string_equal(s, v1_ok[i].src);
		side(&r.dst, s, sizeof(s));
		assert_string_equal(s, v1_ok[i].dst);
	}
	assert_int_equal(strlen(v1_ok[4].line), 104);
	assert_int_equal(strlen(v1_ok[10].line), PROXY_V1_MAX);
}

static const struct v1_bad {
	const char *line;
	int err;
} v1_bad[] = {
	/* not PROXY at all */
	{ "GET / HTTP/1.0\r\n", PROXY_E_SIGNATURE },
	{ "USER alice\r\n", PROXY_E_SIGNATURE },
	{ "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_SIGNATURE },
	{ "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_SIGNATURE },
	{ "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_SIGNATURE },
	{ "\x16\x03\x01\x02\x01\x01\xfc\x03\x03", PROXY_E_SIGNATURE }, /* TLS */
	/* protocol */
	{ "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_FAMILY },
	{ "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_FAMILY },
	{ "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_FAMILY },
	{ "PROXY UNKNOWNX\r\n", PROXY_E_FAMILY },
	{ "PROXY UNKNOWN4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_FAMILY },
	{ "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_FAMILY },
	{ "PROXY TCP4 \r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4\r\n", PROXY_E_SYNTAX },
	{ "PROXY \r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP\r\n", PROXY_E_SYNTAX },
	/* single spaces, four fields */
	{ "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8\r\n", PROXY_E_SYNTAX },
	{ "PROXY TCP41.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_SYNTAX },
	/* addresses */
	{ "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 1.2.3.4x 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 1.2.3.4 5.6.7.888 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 1.2.3.4 localhost 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 0x7f.0.0.1 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 1.2.3.4 ::1 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP4 0001.0002.0003.0004 5.6.7.8 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP6 ::1 ::g 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP6 2001:db8::1%eth0 ::1 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP6 1::2::3 ::1 1 2\r\n", PROXY_E_ADDRESS },
	{ "PROXY TCP6 00000000000000000000000000000000000000001 ::1 1 2\r\n", PROXY_E_ADDRESS },
	/* ports */
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 4294967297 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n", PROXY_E_PORT },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n", PROXY_E_PORT },
	{ "PROXY TCP6 ::1 ::2 110 65536\r\n", PROXY_E_PORT },
	/* line end and characters */
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", PROXY_E_CRLF },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", PROXY_E_CRLF },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", PROXY_E_CRLF },
	{ "PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n", PROXY_E_CRLF },
	{ "PROXY UNKNOWN \n\r\n", PROXY_E_CRLF },
	{ "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", PROXY_E_CHAR },
	{ "PROXY UNKNOWN caf\xc3\xa9\r\n", PROXY_E_CHAR },
	{ "PROXY UNKNOWN \x7f\r\n", PROXY_E_CHAR },
	/* over-long: 108 bytes, then no CRLF at all within 107 */
	{ "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n",
	  PROXY_E_TOO_LONG },
	{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535 xxxxxxxxxxxxxxxxxxxxx",
	  PROXY_E_TOO_LONG },
};

static void test_v1_malformed(void **state)
{
	size_t i;
	for (i = 0; i < sizeof(v1_bad) / sizeof(v1_bad[0]); i++) {
		struct hdr h = text(v1_bad[i].line);
		row = v1_bad[i].line;
		expect_err(&h, v1_bad[i].err);
	}
}

/* A NUL byte inside the line (strings in the tables cannot hold one). */
static void test_v1_nul_byte(void **state)
{
	struct hdr h = text("PROXY UNKNOWN ");
	put8(&h, 0);
	put(&h, "\r\n", 2);
	expect_err(&h, PROXY_E_CHAR);
}

/* Over-long found early: 106 bytes without a CR cannot end within 107,
 * and are refused before more is read; a CR as the 106th byte still can,
 * as the 107th it cannot. */
static void test_v1_too_long_early(void **state)
{
	struct hdr h = text("PROXY UNKNOWN ");
	struct hdr at107;
	size_t n;
	while (h.len < PROXY_V1_MAX - 2)
		put8(&h, 'a');
	assert_int_equal(proxy_need(h.b, h.len, &n), PROXY_MORE);
	assert_int_equal(n, PROXY_V1_MAX);
	put8(&h, 'a');
	assert_int_equal(proxy_need(h.b, h.len, &n), PROXY_E_TOO_LONG);
	h.b[h.len - 1] = '\r';
	assert_int_equal(proxy_need(h.b, h.len, &n), PROXY_MORE);
	assert_int_equal(n, PROXY_V1_MAX);
	put8(&h, '\n');
	(void)expect_ok(&h, PROXY_V1_MAX);
	at107 = h;
	at107.b[PROXY_V1_MAX - 2] = 'a';
	at107.b[PROXY_V1_MAX - 1] = '\r';
	assert_int_equal(proxy_need(at107.b, PROXY_V1_MAX, &n), PROXY_E_TOO_LONG);
	put8(&at107, '\n');
	expect_err(&at107, PROXY_E_TOO_LONG);
}

/* A v2 signature inside v1: its first CRLF ends the v1 line, so the rest is
 * the client's and is never read as part of the header. */
static void test_v1_containing_v2_signature(void **state)
{
	struct hdr h = text("PROXY UNKNOWN ");
	struct hdr bad = text("PROXY ");
	struct hdr bad2 = text("PROXY");
	struct hdr tcp = text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2");
	struct proxy_result r;
	put(&h, SIG, sizeof(SIG));
	r = expect_ok(&h, 16);
	assert_int_equal(r.family, AF_UNSPEC);
	put(&tcp, SIG, sizeof(SIG));
	r = expect_ok(&tcp, strlen("PROXY TCP4 1.2.3.4 5.6.7.8 1 2") + 2);
	assert_int_equal(r.family, AF_INET);
	put(&bad, SIG, sizeof(SIG));
	expect_err(&bad, PROXY_E_SYNTAX);
	put(&bad2, SIG, sizeof(SIG));
	expect_err(&bad2, PROXY_E_SIGNATURE);
}

/* Random damage to valid headers: whatever the bytes, proxy_need and
 * proxy_parse agree, and a header reported is within the input. */
static void test_random_damage(void **state)
{
	struct hdr seeds[4];
	struct hdr subs = { .len = 0 };
	uint32_t rnd = 16;
	int i, j;
	seeds[0] = text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	seeds[1] = text("PROXY TCP6 2001:db8::1 2001:db8::2 1 995\r\n");
	seeds[2] = v2(0x21, 0x11);
	put_v4_addrs(&seeds[2]);
	put_tlv(&subs, 0x21, "TLSv1.3", 7);
	put_ssl(&seeds[2], PP2_CLIENT_SSL, 0, &subs);
	v2_done(&seeds[2]);
	seeds[3] = v2(0x20, 0x00);
	v2_done(&seeds[3]);
	for (i = 0; i < 20000; i++) {
		struct hdr h = seeds[i % 4];
		struct proxy_result r;
		size_t n, len;
		int rc, need;
		for (j = (int)(test_rand(&rnd) % 4); j >= 0; j--)
			h.b[test_rand(&rnd) % h.len] = (unsigned char)test_rand(&rnd);
		len = test_rand(&rnd) % (h.len + 1);
		need = proxy_need(h.b, len, &n);
		rc = proxy_parse(h.b, len, &r);
		if (need == PROXY_MORE)
			assert_int_equal(rc, PROXY_E_TRUNCATED);
		else if (need < 0)
			assert_int_equal(rc, need);
		if (rc == PROXY_OK) {
			assert_int_equal(need, PROXY_OK);
			assert_int_equal(r.len, n);
			assert_true(r.len <= len);
			assert_true(r.family == AF_UNSPEC || r.family == AF_INET || r.family == AF_INET6);
		}
	}
}

static void test_strerror(void **state)
{
	int a, b;
	for (a = PROXY_E_TRUNCATED; a <= PROXY_MORE; a++) {
		assert_true(strlen(proxy_strerror(a)) > 0);
		assert_string_not_equal(proxy_strerror(a), proxy_strerror(-99));
		for (b = PROXY_E_TRUNCATED; b < a; b++)
			assert_string_not_equal(proxy_strerror(a), proxy_strerror(b));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_valid),
		cmocka_unit_test(test_v1_malformed),
		cmocka_unit_test(test_v1_nul_byte),
		cmocka_unit_test(test_v1_too_long_early),
		cmocka_unit_test(test_v1_containing_v2_signature),
		cmocka_unit_test(test_random_damage),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
