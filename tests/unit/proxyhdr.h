/* proxyhdr.h - builders and checks shared by the PROXY header unit tests
 * (test_proxy.c: version 1 and common; test_proxy_v2.c: version 2). */
#ifndef POSTERN_TEST_PROXYHDR_H
#define POSTERN_TEST_PROXYHDR_H
#include "unit.h"
#include "proxy.h"
#include <arpa/inet.h>
#include <netinet/in.h>

static const unsigned char SIG[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
/* The table row being checked, named in failure messages. */
static const char *row = "";
/* The client's first bytes after a header: they must never be consumed. */
static const char TAIL[] = "CAPA\r\n";

struct hdr {
	unsigned char b[PROXY_HDR_MAX + 256];
	size_t len;
};

static inline void put(struct hdr *h, const void *p, size_t n)
{
	assert_true(h->len + n <= sizeof(h->b));
	memcpy(h->b + h->len, p, n);
	h->len += n;
}

static inline void put8(struct hdr *h, unsigned v)
{
	unsigned char c = (unsigned char)v;
	put(h, &c, 1);
}

static inline void put16(struct hdr *h, unsigned v)
{
	put8(h, v >> 8);
	put8(h, v & 0xFF);
}

static inline void put_tlv(struct hdr *h, unsigned type, const void *v, size_t n)
{
	put8(h, type);
	put16(h, (unsigned)n);
	put(h, v, n);
}

/* A v2 header start: signature, version/command, family, length 0. */
static inline struct hdr v2(unsigned ver_cmd, unsigned fam)
{
	struct hdr h = { .len = 0 };
	put(&h, SIG, sizeof(SIG));
	put8(&h, ver_cmd);
	put8(&h, fam);
	put16(&h, 0);
	return h;
}

/* Set the length field to what follows the 16 fixed bytes. */
static inline void v2_done(struct hdr *h)
{
	h->b[14] = (unsigned char)((h->len - 16) >> 8);
	h->b[15] = (unsigned char)((h->len - 16) & 0xFF);
}

/* 192.0.2.1:56324 -> 198.51.100.7:110 */
static inline void put_v4_addrs(struct hdr *h)
{
	static const unsigned char a[12] = { 192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0, 110 };
	put(h, a, sizeof(a));
}

/* 2001:db8::1:995 -> 2001:db8::2:1995 */
static inline void put_v6_addrs(struct hdr *h)
{
	unsigned char a[36] = { 0 };
	a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = 1;
	a[16] = 0x20, a[17] = 0x01, a[18] = 0x0d, a[19] = 0xb8, a[31] = 2;
	a[32] = 995 >> 8, a[33] = 995 & 0xFF, a[34] = 1995 >> 8, a[35] = 1995 & 0xFF;
	put(h, a, sizeof(a));
}

static inline struct hdr text(const char *s)
{
	struct hdr h = { .len = 0 };
	put(&h, s, strlen(s));
	return h;
}

/* "addr port" of one side, via inet_ntop. */
static inline void side(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char a[INET6_ADDRSTRLEN];
	unsigned port;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		assert_non_null(inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a)));
		port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		assert_int_equal(ss->ss_family, AF_INET6);
		assert_non_null(inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a)));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, cap, "%s %u", a, port);
}

/* Every prefix of a valid header is incomplete, and the bound asked for
 * never reaches past the header; then a reader that reads exactly what
 * proxy_need asks for ends on the header's last byte. */
static inline void check_prefixes(const struct hdr *h, size_t hlen)
{
	struct proxy_result r;
	size_t k, n, have = 0;
	int rc;
	for (k = 0; k < hlen; k++) {
		rc = proxy_need(h->b, k, &n);
		if (rc != PROXY_MORE || n <= k || n > hlen)
			fail_msg("%s: prefix %zu of %zu: rc %d, n %zu", row, k, hlen, rc, n);
		assert_int_equal(proxy_parse(h->b, k, &r), PROXY_E_TRUNCATED);
		assert_int_equal(r.len, 0);
	}
	while ((rc = proxy_need(h->b, have, &n)) == PROXY_MORE)
		have = n;
	assert_int_equal(rc, PROXY_OK);
	assert_int_equal(have, hlen);
	assert_int_equal(n, hlen);
}

/* h is a valid header of hlen bytes (maybe followed by more bytes). */
static inline struct proxy_result expect_ok(const struct hdr *h, size_t hlen)
{
	struct proxy_result r;
	struct hdr t = *h;
	size_t n;
	assert_int_equal(proxy_need(h->b, h->len, &n), PROXY_OK);
	assert_int_equal(n, hlen);
	assert_int_equal(proxy_parse(h->b, h->len, &r), PROXY_OK);
	assert_int_equal(r.len, hlen);
	check_prefixes(h, hlen);
	/* The client's bytes after it change nothing. */
	put(&t, TAIL, strlen(TAIL));
	assert_int_equal(proxy_need(t.b, t.len, &n), PROXY_OK);
	assert_int_equal(n, hlen);
	return r;
}

/* h is invalid with error want; an error that proxy_need sees early on a
 * prefix is the same one, and a failed parse leaves out zeroed. */
static inline void expect_err(const struct hdr *h, int want)
{
	struct proxy_result r;
	size_t k, n;
	int rc, full;
	memset(&r, 0xA5, sizeof(r));
	rc = proxy_parse(h->b, h->len, &r);
	if (rc != want)
		fail_msg("%s: got %d (%s), want %d (%s)", row, rc, proxy_strerror(rc), want,
			 proxy_strerror(want));
	assert_int_equal(r.len, 0);
	assert_int_equal(r.family, 0);
	assert_int_equal(r.tls.present, 0);
	full = proxy_need(h->b, h->len, &n);
	assert_true(full == PROXY_OK || full == want);
	for (k = 0; k <= h->len; k++) {
		rc = proxy_need(h->b, k, &n);
		if (rc < 0 && rc != full)
			fail_msg("%s: prefix %zu: early error %d, full header gives %d", row, k, rc, full);
		if (rc == PROXY_OK && k < h->len)
			assert_true(full == PROXY_OK);
	}
}

/* An SSL TLV: client flags, verify result, then the sub-TLVs in subs. */
static inline void put_ssl(struct hdr *h, unsigned client, uint32_t verify, const struct hdr *subs)
{
	put8(h, 0x20);
	put16(h, 5 + (unsigned)subs->len);
	put8(h, client);
	put16(h, verify >> 16);
	put16(h, verify & 0xFFFF);
	put(h, subs->b, subs->len);
}
#endif
