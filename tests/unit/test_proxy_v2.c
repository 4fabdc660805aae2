/* test_proxy_v2.c - unit tests for src/proxy.c, PROXY protocol version 2:
 * PROXY and LOCAL, every family byte, TLVs skipped or overrunning, the SSL
 * TLV and its sub-TLVs (extracted, bounded, sanitised, overrunning), the
 * CRC32C TLV, signature/version/command/length errors, and every
 * truncation. */
#include "proxyhdr.h"

static void test_v2_proxy_tcp4_and_tcp6(void **state)
{
	struct hdr h4 = v2(0x21, 0x11), h6 = v2(0x21, 0x21);
	struct proxy_result r;
	char s[80];
	put_v4_addrs(&h4);
	v2_done(&h4);
	r = expect_ok(&h4, 28);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.command, PROXY_CMD_PROXY);
	assert_int_equal(r.family, AF_INET);
	side(&r.src, s, sizeof(s));
	assert_string_equal(s, "192.0.2.1 56324");
	side(&r.dst, s, sizeof(s));
	assert_string_equal(s, "198.51.100.7 110");
	assert_int_equal(r.tls.present, 0);

	put_v6_addrs(&h6);
	v2_done(&h6);
	r = expect_ok(&h6, 52);
	assert_int_equal(r.family, AF_INET6);
	side(&r.src, s, sizeof(s));
	assert_string_equal(s, "2001:db8::1 995");
	side(&r.dst, s, sizeof(s));
	assert_string_equal(s, "2001:db8::2 1995");
}

/* LOCAL (health checks): the block, family included, is ignored. */
static void test_v2_local(void **state)
{
	struct hdr bare = v2(0x20, 0x00), with4 = v2(0x20, 0x11), odd = v2(0x20, 0xFF);
	struct hdr short4 = v2(0x20, 0x11);
	struct proxy_result r;
	v2_done(&bare);
	r = expect_ok(&bare, 16);
	assert_int_equal(r.command, PROXY_CMD_LOCAL);
	assert_int_equal(r.family, AF_UNSPEC);
	put_v4_addrs(&with4);
	put_tlv(&with4, 0x04, "", 0);
	v2_done(&with4);
	r = expect_ok(&with4, 31);
	assert_int_equal(r.command, PROXY_CMD_LOCAL);
	assert_int_equal(r.family, AF_UNSPEC);
	assert_int_equal(r.src.ss_family, AF_UNSPEC);
	put(&odd, "junk", 4);
	v2_done(&odd);
	r = expect_ok(&odd, 20);
	assert_int_equal(r.command, PROXY_CMD_LOCAL);
	/* A LOCAL block shorter than the family's addresses is fine too. */
	put(&short4, "ab", 2);
	v2_done(&short4);
	r = expect_ok(&short4, 18);
	assert_int_equal(r.family, AF_UNSPEC);
}

/* Families whose addresses are not used: UNSPEC (block skipped unread),
 * UDP and AF_UNIX (block skipped, TLVs after it still checked). */
static void test_v2_unused_families(void **state)
{
	static const unsigned fams[] = { 0x12, 0x22, 0x31, 0x32 };
	static const size_t alen[] = { 12, 36, 216, 216 };
	struct hdr u = v2(0x21, 0x00), uj = v2(0x21, 0x00);
	struct proxy_result r;
	size_t i;
	v2_done(&u);
	r = expect_ok(&u, 16);
	assert_int_equal(r.command, PROXY_CMD_PROXY);
	assert_int_equal(r.family, AF_UNSPEC);
	put(&uj, "\xff\xff\xff", 3); /* not a TLV, but UNSPEC bytes are not read */
	v2_done(&uj);
	r = expect_ok(&uj, 19);
	assert_int_equal(r.family, AF_UNSPEC);
	for (i = 0; i < 4; i++) {
		struct hdr h = v2(0x21, fams[i]), bad;
		unsigned char z[216];
		memset(z, 'x', sizeof(z));
		put(&h, z, alen[i]);
		put_tlv(&h, 0x05, "id-1", 4);
		v2_done(&h);
		r = expect_ok(&h, 16 + alen[i] + 7);
		assert_int_equal(r.family, AF_UNSPEC);
		bad = h;
		bad.b[16 + alen[i] + 2] = 5; /* TLV claims one byte too many */
		expect_err(&bad, PROXY_E_TLV);
	}
}

static void test_v2_tlvs_skipped(void **state)
{
	struct hdr h = v2(0x21, 0x11);
	struct proxy_result r;
	unsigned char id[128];
	memset(id, 0xEE, sizeof(id));
	put_v4_addrs(&h);
	put_tlv(&h, 0x01, "pop3", 4);               /* ALPN */
	put_tlv(&h, 0x02, "mail.example.org", 16);  /* AUTHORITY */
	put_tlv(&h, 0x04, "", 0);                   /* NOOP, empty */
	put_tlv(&h, 0x05, id, sizeof(id));          /* UNIQUE_ID */
	put_tlv(&h, 0x30, "blue", 4);               /* NETNS */
	put_tlv(&h, 0xE0, "\x00\r\n", 3);           /* custom */
	put_tlv(&h, 0xFF, "", 0);                   /* future */
	v2_done(&h);
	r = expect_ok(&h, h.len);
	assert_int_equal(r.family, AF_INET);
	assert_int_equal(r.tls.present, 0);
}


static void test_v2_ssl_tlv(void **state)
{
	struct hdr h = v2(0x21, 0x21), subs = { .len = 0 }, none = { .len = 0 }, h2;
	struct proxy_result r;
	put_tlv(&subs, 0x21, "TLSv1.3", 7);
	put_tlv(&subs, 0x22, "client.example.org", 18);
	put_tlv(&subs, 0x23, "TLS_AES_256_GCM_SHA384", 22);
	put_tlv(&subs, 0x24, "RSA-SHA256", 10);
	put_v6_addrs(&h);
	put_tlv(&h, 0x01, "pop3", 4);
	put_ssl(&h, PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, 0x01020304, &subs);
	v2_done(&h);
	r = expect_ok(&h, h.len);
	assert_int_equal(r.family, AF_INET6);
	assert_int_equal(r.tls.present, 1);
	assert_int_equal(r.tls.client, PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN);
	assert_int_equal(r.tls.verify, 0x01020304);
	assert_string_equal(r.tls.version, "TLSv1.3");
	assert_string_equal(r.tls.cipher, "TLS_AES_256_GCM_SHA384");

	/* A second SSL TLV changes nothing: the first one is kept. */
	h2 = h;
	subs.len = 0;
	put_tlv(&subs, 0x21, "SSLv3", 5);
	put_ssl(&h2, 0, 7, &subs);
	v2_done(&h2);
	r = expect_ok(&h2, h2.len);
	assert_int_equal(r.tls.client, PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN);
	assert_int_equal(r.tls.verify, 0x01020304);
	assert_string_equal(r.tls.version, "TLSv1.3");

	/* An SSL TLV without sub-TLVs (client not on TLS). */
	h2 = v2(0x21, 0x11);
	put_v4_addrs(&h2);
	put_ssl(&h2, 0, 0, &none);
	v2_done(&h2);
	r = expect_ok(&h2, h2.len);
	assert_int_equal(r.tls.present, 1);
	assert_int_equal(r.tls.client, 0);
	assert_string_equal(r.tls.version, "");
	assert_string_equal(r.tls.cipher, "");
}

/* Version and cipher go to a log line: bounded, control and 8-bit bytes
 * and blanks replaced. */
static void test_v2_ssl_strings_sanitised(void **state)
{
	struct hdr h = v2(0x21, 0x11), subs = { .len = 0 };
	struct proxy_result r;
	char longc[300], want[PROXY_TLS_STR];
	memset(longc, 'C', sizeof(longc));
	put_tlv(&subs, 0x21, "TLS 1\r\n\x00\xff%s", 11);
	put_tlv(&subs, 0x23, longc, sizeof(longc));
	put_v4_addrs(&h);
	put_ssl(&h, PP2_CLIENT_SSL, 0, &subs);
	v2_done(&h);
	r = expect_ok(&h, h.len);
	assert_string_equal(r.tls.version, "TLS?1????%s");
	memset(want, 'C', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	assert_string_equal(r.tls.cipher, want);
}

static void test_v2_ssl_tlv_malformed(void **state)
{
	struct hdr base = v2(0x21, 0x11), h, subs = { .len = 0 };
	put_v4_addrs(&base);
	/* SSL TLV shorter than its fixed client+verify part. */
	h = base;
	put_tlv(&h, 0x20, "\x01\x00\x00\x00", 4);
	v2_done(&h);
	expect_err(&h, PROXY_E_SSL_TLV);
	/* A sub-TLV longer than the SSL TLV holding it, although the header
	 * has bytes to spare after it (a NOOP TLV covers them). */
	h = base;
	subs.len = 0;
	put_tlv(&subs, 0x21, "TLSv1.2", 7);
	subs.b[2] = 20;
	put_ssl(&h, PP2_CLIENT_SSL, 0, &subs);
	put_tlv(&h, 0x04, "0123456789abcdef", 16);
	v2_done(&h);
	expect_err(&h, PROXY_E_SSL_TLV);
	/* A sub-TLV header cut short (one or two bytes left). */
	h = base;
	subs.len = 0;
	put_tlv(&subs, 0x21, "TLSv1.2", 7);
	put8(&subs, 0x23);
	put8(&subs, 0);
	put_ssl(&h, PP2_CLIENT_SSL, 0, &subs);
	v2_done(&h);
	expect_err(&h, PROXY_E_SSL_TLV);
	/* The SSL TLV itself overrunning the header is a TLV error. */
	h = base;
	subs.len = 0;
	put_ssl(&h, PP2_CLIENT_SSL, 0, &subs);
	h.b[h.len - 6] = 6;
	v2_done(&h);
	expect_err(&h, PROXY_E_TLV);
}

static void test_v2_tlv_overruns(void **state)
{
	struct hdr base = v2(0x21, 0x11), h;
	put_v4_addrs(&base);
	h = base;                      /* length one past the end */
	put_tlv(&h, 0x05, "abc", 3);
	h.b[h.len - 4] = 4;
	v2_done(&h);
	expect_err(&h, PROXY_E_TLV);
	h = base;                      /* length 0xFFFF */
	put_tlv(&h, 0x05, "abc", 3);
	h.b[h.len - 5] = 0xFF;
	h.b[h.len - 4] = 0xFF;
	v2_done(&h);
	expect_err(&h, PROXY_E_TLV);
	h = base;                      /* one stray byte */
	put8(&h, 0x04);
	v2_done(&h);
	expect_err(&h, PROXY_E_TLV);
	h = base;                      /* a TLV header of two bytes */
	put_tlv(&h, 0x04, "", 0);
	put8(&h, 0x04);
	put8(&h, 0x00);
	v2_done(&h);
	expect_err(&h, PROXY_E_TLV);
}

static void test_v2_crc32c(void **state)
{
	/* Checksum computed independently (Python, CRC32C of this header with
	 * the field zeroed; the same code gives 0xE3069283 for "123456789"). */
	struct hdr h = v2(0x21, 0x11), bad, shortc;
	put_v4_addrs(&h);
	put_tlv(&h, 0x03, "\x00\x00\x00\x00", 4);
	v2_done(&h);
	memcpy(h.b + h.len - 4, "\xe2\x32\x6c\x59", 4);
	(void)expect_ok(&h, 35);
	bad = h;
	bad.b[bad.len - 1] ^= 1;       /* a wrong checksum */
	expect_err(&bad, PROXY_E_CRC);
	bad = h;
	memset(bad.b + bad.len - 4, 0, 4); /* a zero one */
	expect_err(&bad, PROXY_E_CRC);
	bad = h;
	bad.b[19] ^= 1;                /* a changed address */
	expect_err(&bad, PROXY_E_CRC);
	shortc = v2(0x21, 0x11);
	put_v4_addrs(&shortc);
	put_tlv(&shortc, 0x03, "\xe2\x32\x6c", 3);
	v2_done(&shortc);
	expect_err(&shortc, PROXY_E_CRC);
}

/* Headers captured from Debian's HAProxy 2.6.12: a TLS-terminating
 * frontend with "send-proxy-v2 proxy-v2-options ssl,cert-cn,ssl-cipher,
 * cert-sig,cert-key,authority,unique-id,crc32c" (client 127.0.0.1:53698 to
 * 127.0.0.1:21101), and a health check with "proxy-v2-options crc32c"
 * (LOCAL, UNSPEC, a CRC32C TLV after the 16 bytes). */
static const unsigned char haproxy_ssl[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x6a, 0x7f, 0x00, 0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
	0xd1, 0xc2, 0x52, 0x6d, 0x03, 0x00, 0x04, 0x53, 0xbc, 0x66, 0x3c, 0x02,
	0x00, 0x0f, 0x70, 0x6f, 0x70, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
	0x65, 0x2e, 0x6f, 0x72, 0x67, 0x05, 0x00, 0x00, 0x20, 0x00, 0x3f, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x07, 0x54, 0x4c, 0x53, 0x76, 0x31,
	0x2e, 0x33, 0x25, 0x00, 0x07, 0x52, 0x53, 0x41, 0x32, 0x30, 0x34, 0x38,
	0x24, 0x00, 0x0a, 0x52, 0x53, 0x41, 0x2d, 0x53, 0x48, 0x41, 0x32, 0x35,
	0x36, 0x23, 0x00, 0x16, 0x54, 0x4c, 0x53, 0x5f, 0x41, 0x45, 0x53, 0x5f,
	0x32, 0x35, 0x36, 0x5f, 0x47, 0x43, 0x4d, 0x5f, 0x53, 0x48, 0x41, 0x33,
	0x38, 0x34
};
static const unsigned char haproxy_check[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x20, 0x00, 0x00, 0x07, 0x03, 0x00, 0x04, 0xa9, 0xb8, 0x7e, 0x8f,
};

static void test_v2_real_haproxy(void **state)
{
	struct hdr h = { .len = 0 }, c = { .len = 0 };
	struct proxy_result r;
	char s[80];
	put(&h, haproxy_ssl, sizeof(haproxy_ssl));
	r = expect_ok(&h, sizeof(haproxy_ssl));
	assert_int_equal(r.command, PROXY_CMD_PROXY);
	assert_int_equal(r.family, AF_INET);
	side(&r.src, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1 53698");
	side(&r.dst, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1 21101");
	assert_int_equal(r.tls.present, 1);
	assert_int_equal(r.tls.client, PP2_CLIENT_SSL);
	assert_string_equal(r.tls.version, "TLSv1.3");
	assert_string_equal(r.tls.cipher, "TLS_AES_256_GCM_SHA384");
	h.b[17] ^= 1;                  /* its CRC32C no longer matches */
	expect_err(&h, PROXY_E_CRC);
	put(&c, haproxy_check, sizeof(haproxy_check));
	r = expect_ok(&c, sizeof(haproxy_check));
	assert_int_equal(r.command, PROXY_CMD_LOCAL);
	assert_int_equal(r.family, AF_UNSPEC);
}

static void test_v2_bad_signature_version_command_family(void **state)
{
	struct hdr good = v2(0x21, 0x11), h;
	size_t i;
	unsigned v;
	put_v4_addrs(&good);
	v2_done(&good);
	for (i = 0; i < 12; i++) {
		h = good;
		h.b[i] ^= 0x20;
		expect_err(&h, PROXY_E_SIGNATURE);
	}
	for (v = 0; v < 16; v++) {
		if (v == 2)
			continue;
		h = good;
		h.b[12] = (unsigned char)(v << 4 | 1);
		expect_err(&h, PROXY_E_VERSION);
	}
	for (v = 2; v < 16; v++) {
		h = good;
		h.b[12] = (unsigned char)(0x20 | v);
		expect_err(&h, PROXY_E_COMMAND);
	}
	for (v = 0; v < 256; v++) {
		int ok = v == 0x00 || v == 0x11 || v == 0x12 || v == 0x21 || v == 0x22 ||
			 v == 0x31 || v == 0x32;
		if (ok)
			continue;
		h = good;
		h.b[13] = (unsigned char)v;
		expect_err(&h, PROXY_E_FAMILY);
	}
}

static void test_v2_lengths(void **state)
{
	static const struct { unsigned fam; unsigned need; } f[] = {
		{ 0x11, 12 }, { 0x12, 12 }, { 0x21, 36 }, { 0x22, 36 }, { 0x31, 216 }, { 0x32, 216 },
	};
	struct hdr h, max;
	unsigned char pad[PROXY_V2_LEN_MAX];
	size_t i, n;
	/* Too short for the address block. */
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		h = v2(0x21, f[i].fam);
		memset(pad, 0, sizeof(pad));
		put(&h, pad, f[i].need - 1);
		v2_done(&h);
		expect_err(&h, PROXY_E_LENGTH);
		h = v2(0x21, f[i].fam);
		v2_done(&h);
		expect_err(&h, PROXY_E_LENGTH);
	}
	/* The largest block accepted, filled with one NOOP TLV; one more byte
	 * is refused from the 16 fixed bytes alone. */
	max = v2(0x21, 0x11);
	put_v4_addrs(&max);
	memset(pad, 'n', sizeof(pad));
	put_tlv(&max, 0x04, pad, PROXY_V2_LEN_MAX - 12 - 3);
	v2_done(&max);
	assert_int_equal(max.len, PROXY_HDR_MAX);
	(void)expect_ok(&max, PROXY_HDR_MAX);
	h = max;
	put8(&h, 0);
	v2_done(&h);
	expect_err(&h, PROXY_E_LENGTH);
	assert_int_equal(proxy_need(h.b, 16, &n), PROXY_E_LENGTH);
	h.b[14] = h.b[15] = 0xFF;
	assert_int_equal(proxy_need(h.b, 16, &n), PROXY_E_LENGTH);
}

/* Every prefix of a v2 header, and the early answers on the way. */
static void test_v2_truncated(void **state)
{
	struct hdr h = v2(0x21, 0x21);
	size_t k, n;
	put_v6_addrs(&h);
	put_tlv(&h, 0x05, "abcdef", 6);
	v2_done(&h);
	(void)expect_ok(&h, 61);
	for (k = 0; k < 16; k++) {
		assert_int_equal(proxy_need(h.b, k, &n), PROXY_MORE);
		assert_int_equal(n, k == 0 ? PROXY_V1_MIN : 16);
	}
	for (k = 16; k < 61; k++) {
		assert_int_equal(proxy_need(h.b, k, &n), PROXY_MORE);
		assert_int_equal(n, 61);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_proxy_tcp4_and_tcp6),
		cmocka_unit_test(test_v2_local),
		cmocka_unit_test(test_v2_unused_families),
		cmocka_unit_test(test_v2_tlvs_skipped),
		cmocka_unit_test(test_v2_ssl_tlv),
		cmocka_unit_test(test_v2_ssl_strings_sanitised),
		cmocka_unit_test(test_v2_ssl_tlv_malformed),
		cmocka_unit_test(test_v2_tlv_overruns),
		cmocka_unit_test(test_v2_crc32c),
		cmocka_unit_test(test_v2_real_haproxy),
		cmocka_unit_test(test_v2_bad_signature_version_command_family),
		cmocka_unit_test(test_v2_lengths),
		cmocka_unit_test(test_v2_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
