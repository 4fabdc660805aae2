/* test_proxy_io.c - unit tests for src/proxy_io.c on real socket pairs:
 * the header is taken off the socket and not one byte after it (the TLS
 * ClientHello or POP3 command behind it stays for the session), whether
 * it arrives whole, with the client's bytes in the same segment, or a
 * byte at a time; errors, EOF, the deadline; the origin handed to the
 * monitor (PROXY vs LOCAL, the SSL TLV). */
#include "unit.h"
#include "proxy_io.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static const unsigned char SIG[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void send_all(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, 0), (ssize_t)n);
}

/* What is left in the socket after the header. */
static size_t rest(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
	return n < 0 ? 0 : (size_t)n;
}

static size_t v2_hdr(unsigned char *b, int command, const unsigned char *tlv, size_t tlvlen)
{
	size_t n = 0, len = command ? 12 + tlvlen : 0;
	memcpy(b, SIG, 12);
	n = 12;
	b[n++] = (unsigned char)(0x20 | command);
	b[n++] = command ? 0x11 : 0x00;
	b[n++] = (unsigned char)(len >> 8);
	b[n++] = (unsigned char)len;
	if (command) {
		static const unsigned char a[12] = { 192, 0, 2, 1, 10, 0, 0, 5, 0x9c, 0x40, 0, 110 };
		memcpy(b + n, a, 12);
		n += 12;
		if (tlvlen)     /* tlv may be NULL: memcpy's arguments never may */
			memcpy(b + n, tlv, tlvlen);
		n += tlvlen;
	}
	return n;
}

static void test_whole_with_tail(void **state)
{
	static const char tail[] = "\x16\x03\x01 a ClientHello";
	const char *v1 = "PROXY TCP4 192.0.2.9 10.0.0.5 40000 110\r\n";
	unsigned char b[256];
	char got[64];
	struct proxy_reader rd;
	struct proxy_result r;
	struct conn_origin o;
	int sv[2];
	/* v1 */
	pair(sv);
	memset(&rd, 0, sizeof(rd));
	memcpy(b, v1, strlen(v1));
	memcpy(b + strlen(v1), tail, sizeof(tail) - 1);
	send_all(sv[1], b, strlen(v1) + sizeof(tail) - 1);
	assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_OK);
	assert_int_equal(rd.have, strlen(v1));
	assert_int_equal(rest(sv[0], got, sizeof(got)), sizeof(tail) - 1);
	assert_memory_equal(got, tail, sizeof(tail) - 1);
	proxy_origin(&r, "127.0.0.1", &o);
	assert_int_equal(o.proxied, 1);
	proxy_addr_text(&o.src, got, sizeof(got));
	assert_string_equal(got, "192.0.2.9");
	assert_string_equal(o.via, "127.0.0.1");
	assert_string_equal(o.ssl, "");
	close(sv[0]);
	close(sv[1]);
	/* v2 with an SSL TLV */
	{
		static const unsigned char tlv[] = { 0x20, 0x00, 0x0d, 0x01, 0, 0, 0, 0,
						     0x21, 0x00, 0x05, 'T', 'L', 'S', 'v', '3' };
		size_t n = v2_hdr(b, 1, tlv, sizeof(tlv));
		pair(sv);
		memset(&rd, 0, sizeof(rd));
		memcpy(b + n, "CAPA\r\n", 6);
		send_all(sv[1], b, n + 6);
		assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_OK);
		assert_int_equal(rd.have, n);
		assert_int_equal(rest(sv[0], got, sizeof(got)), 6);
		assert_memory_equal(got, "CAPA\r\n", 6);
		proxy_origin(&r, "10.0.0.10", &o);
		assert_int_equal(o.proxied, 1);
		assert_string_equal(o.ssl, "TLSv3/-");
		close(sv[0]);
		close(sv[1]);
	}
	/* v2 LOCAL: the socket's own addresses */
	pair(sv);
	memset(&rd, 0, sizeof(rd));
	send_all(sv[1], b, v2_hdr(b, 0, NULL, 0));
	assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_OK);
	proxy_origin(&r, "127.0.0.1", &o);
	assert_int_equal(o.proxied, 0);
	assert_string_equal(o.via, "127.0.0.1");
	close(sv[0]);
	close(sv[1]);
}

/* A byte at a time: MORE until the last byte, and nothing after it taken. */
static void test_byte_at_a_time(void **state)
{
	const char *v1 = "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
	unsigned char b[64];
	size_t n2 = v2_hdr(b, 1, NULL, 0), i;
	char got[16];
	struct proxy_reader rd;
	struct proxy_result r;
	int sv[2];
	for (int which = 0; which < 2; which++) {
		const unsigned char *h = which ? b : (const unsigned char *)v1;
		size_t n = which ? n2 : strlen(v1);
		pair(sv);
		memset(&rd, 0, sizeof(rd));
		assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_MORE);   /* nothing yet */
		for (i = 0; i + 1 < n; i++) {
			send_all(sv[1], h + i, 1);
			assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_MORE);
			assert_int_equal(rd.have, i + 1);
		}
		send_all(sv[1], h + i, 1);
		send_all(sv[1], "X", 1);
		assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_OK);
		assert_int_equal(r.version, which ? 2 : 1);
		assert_int_equal(rest(sv[0], got, sizeof(got)), 1);
		assert_int_equal(got[0], 'X');
		close(sv[0]);
		close(sv[1]);
	}
}

static void test_errors(void **state)
{
	struct proxy_reader rd;
	struct proxy_result r;
	char over[200];
	int sv[2];
	/* not a header: refused at once, nothing consumed */
	pair(sv);
	memset(&rd, 0, sizeof(rd));
	send_all(sv[1], "USER a\r\n", 8);
	assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_E_SIGNATURE);
	close(sv[0]);
	close(sv[1]);
	/* malformed v1 */
	pair(sv);
	memset(&rd, 0, sizeof(rd));
	send_all(sv[1], "PROXY TCP4 1.2.3.4 5.6.7.8 x 1\r\n", 32);
	assert_true(proxy_read_step(sv[0], &rd, &r) < 0);
	close(sv[0]);
	close(sv[1]);
	/* over-long v1 */
	pair(sv);
	memset(&rd, 0, sizeof(rd));
	memset(over, '1', sizeof(over));
	memcpy(over, "PROXY TCP4 ", 11);
	send_all(sv[1], over, sizeof(over));
	assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_E_TOO_LONG);
	close(sv[0]);
	close(sv[1]);
	/* truncated: the peer closes mid-header */
	pair(sv);
	memset(&rd, 0, sizeof(rd));
	send_all(sv[1], "PROXY TCP4 1.2", 14);
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(proxy_read_step(sv[0], &rd, &r), PROXY_IO_EOF);
	close(sv[0]);
	close(sv[1]);
	/* the blocking reader's deadline */
	pair(sv);
	send_all(sv[1], "PROXY ", 6);
	assert_int_equal(proxy_read_header(sv[0], 50, &r), PROXY_IO_TIMEOUT);
	close(sv[1]);
	close(sv[0]);
	/* and its good path */
	pair(sv);
	send_all(sv[1], "PROXY UNKNOWN\r\nQUIT\r\n", 21);
	assert_int_equal(proxy_read_header(sv[0], 1000, &r), PROXY_OK);
	assert_int_equal(r.family, AF_UNSPEC);
	{
		char got[8];
		assert_int_equal(rest(sv[0], got, sizeof(got)), 6);
	}
	close(sv[1]);
	close(sv[0]);
	assert_non_null(strstr(proxy_io_strerror(PROXY_IO_UNTRUSTED), "proxy_trusted"));
	assert_non_null(strstr(proxy_io_strerror(PROXY_IO_TIMEOUT), "proxy_timeout"));
	assert_string_equal(proxy_io_strerror(PROXY_E_SIGNATURE), proxy_strerror(PROXY_E_SIGNATURE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_with_tail),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
