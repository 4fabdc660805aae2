/* fuzz_proxy.c - libFuzzer target for src/proxy.c, the PROXY protocol
 * header parser (untrusted bytes from the network, before any other byte
 * of the connection is read).
 *
 * Input: the bytes as received.  Checks, abort() on failure:
 *   - proxy_need and proxy_parse agree: incomplete <-> truncated, the same
 *     error, a complete header's length is within the input;
 *   - a reader that reads what proxy_need asks for never passes the end of
 *     the header (every prefix of a complete header is incomplete, with a
 *     bound above the prefix and not past the header);
 *   - a v1 header is at most 107 bytes and ends in CRLF; a v2 one is 16
 *     bytes plus its length field, at most PROXY_HDR_MAX;
 *   - TCP4 v1 headers print back to the same text (inet_ntop, ports);
 *     v2 addresses are the bytes of the address block;
 *   - the TLS strings are NUL-terminated within their buffers and hold
 *     only 0x21-0x7e.
 * ASan catches any out-of-bounds access. */
#include "proxy.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_proxy: %s\n", what);
		abort();
	}
}

static void check_str(const char *s)
{
	size_t n = strnlen(s, PROXY_TLS_STR);
	check(n < PROXY_TLS_STR, "tls string not terminated");
	for (size_t i = 0; i < n; i++)
		check(s[i] > 0x20 && s[i] < 0x7f, "tls string character");
}

static void check_v1_tcp4(const uint8_t *d, size_t n, const struct proxy_result *r)
{
	const struct sockaddr_in *s = (const struct sockaddr_in *)&r->src;
	const struct sockaddr_in *t = (const struct sockaddr_in *)&r->dst;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], line[PROXY_V1_MAX + 1];
	int len;
	check(inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a)) != NULL, "ntop src");
	check(inet_ntop(AF_INET, &t->sin_addr, b, sizeof(b)) != NULL, "ntop dst");
	len = snprintf(line, sizeof(line), "PROXY TCP4 %s %s %u %u\r\n", a, b,
		       ntohs(s->sin_port), ntohs(t->sin_port));
	check(len > 0 && (size_t)len == n && memcmp(line, d, n) == 0, "v1 TCP4 round trip");
}

static void check_v2_addrs(const uint8_t *d, const struct proxy_result *r)
{
	if (r->family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&r->src;
		const struct sockaddr_in *t = (const struct sockaddr_in *)&r->dst;
		check(d[13] == 0x11, "v2 AF_INET from another family byte");
		check(memcmp(&s->sin_addr, d + 16, 4) == 0 && memcmp(&t->sin_addr, d + 20, 4) == 0,
		      "v2 IPv4 addresses");
		check(memcmp(&s->sin_port, d + 24, 2) == 0 && memcmp(&t->sin_port, d + 26, 2) == 0,
		      "v2 IPv4 ports");
	} else if (r->family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&r->src;
		const struct sockaddr_in6 *t = (const struct sockaddr_in6 *)&r->dst;
		check(d[13] == 0x21, "v2 AF_INET6 from another family byte");
		check(memcmp(&s->sin6_addr, d + 16, 16) == 0 &&
			      memcmp(&t->sin6_addr, d + 32, 16) == 0,
		      "v2 IPv6 addresses");
		check(memcmp(&s->sin6_port, d + 48, 2) == 0 && memcmp(&t->sin6_port, d + 50, 2) == 0,
		      "v2 IPv6 ports");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_result r;
	size_t n, m, k;
	uint8_t *d = malloc(size ? size : 1); /* exact size: ASan sees overreads */
	int need, rc;
	check(d != NULL, "malloc");
	memcpy(d, data, size);
	need = proxy_need(d, size, &n);
	rc = proxy_parse(d, size, &r);
	check(proxy_strerror(rc)[0] != '\0', "empty error text");
	if (need == PROXY_MORE) {
		check(n > size && n <= PROXY_HDR_MAX, "bound not above input");
		check(rc == PROXY_E_TRUNCATED, "incomplete but not truncated");
	} else if (need < 0) {
		check(rc == need, "need and parse disagree on the error");
	} else {
		check(need == PROXY_OK && n >= PROXY_V1_MIN && n <= size, "complete length");
		check(rc != PROXY_MORE && rc != PROXY_E_TRUNCATED, "complete but truncated");
		/* Reading what proxy_need asks for stops on the header's end. */
		for (k = 0; k < n; k++) {
			check(proxy_need(d, k, &m) == PROXY_MORE, "prefix of a header not incomplete");
			check(m > k && m <= n, "bound overshoots the header");
		}
	}
	if (rc == PROXY_OK) {
		check(r.len == n, "parsed length");
		check(r.family == AF_UNSPEC || r.family == AF_INET || r.family == AF_INET6, "family");
		check(r.family == AF_UNSPEC || r.command == PROXY_CMD_PROXY, "LOCAL with addresses");
		check(r.src.ss_family == r.family && r.dst.ss_family == r.family, "sockaddr family");
		if (r.version == 1) {
			check(n <= PROXY_V1_MAX && d[n - 2] == '\r' && d[n - 1] == '\n', "v1 line");
			check(!r.tls.present, "v1 with TLS info");
			if (r.family == AF_INET)
				check_v1_tcp4(d, n, &r);
		} else {
			check(r.version == 2 && n >= 16 && n == 16 + ((size_t)d[14] << 8 | d[15]),
			      "v2 length");
			check_v2_addrs(d, &r);
		}
		check_str(r.tls.version);
		check_str(r.tls.cipher);
	} else {
		check(r.len == 0 && r.family == 0 && !r.tls.present, "result not cleared");
	}
	free(d);
	return 0;
}
