/* proxy.c - PROXY protocol v1 and v2 header parser (HAProxy's
 * specification).  Pure, any process: no I/O, no allocation, every read
 * bounded by the length given; the bytes are untrusted.  v1 is checked
 * strictly (exact single spaces, inet_pton addresses, ports without
 * leading zeros, CRLF within 107 bytes); v2 checks signature, version,
 * command, family byte and length, walks the TLVs so that none overruns
 * the header, verifies a CRC32C TLV, and keeps the SSL TLV's flags,
 * version and cipher for the log. */
#include "proxy.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const unsigned char v2sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
static const char v1sig[6] = "PROXY ";

#define PP2_TYPE_CRC32C 0x03
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CIPHER 0x23
#define PP2_SSL_FIXED 5            /* client (1) + verify (4) */

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Address block length for a v2 family/transport byte under the PROXY
 * command; 0 for UNSPEC (nothing defined, nothing parsed); -1 invalid. */
static int v2_addr_len(unsigned char fam)
{
	switch (fam) {
	case 0x00: return 0;          /* UNSPEC */
	case 0x11: case 0x12: return 12;  /* TCP/UDP over IPv4 */
	case 0x21: case 0x22: return 36;  /* TCP/UDP over IPv6 */
	case 0x31: case 0x32: return 216; /* UNIX stream/datagram */
	default: return -1;
	}
}

static int need_v2(const unsigned char *b, size_t len, size_t *n)
{
	size_t total;
	unsigned hlen;
	if (memcmp(b, v2sig, min_sz(len, sizeof(v2sig))) != 0)
		return PROXY_E_SIGNATURE;
	if (len > 12 && (b[12] >> 4) != 2)
		return PROXY_E_VERSION;
	if (len > 12 && (b[12] & 0x0F) > PROXY_CMD_PROXY)
		return PROXY_E_COMMAND;
	/* LOCAL ignores the family byte, as the specification says. */
	if (len > 13 && (b[12] & 0x0F) == PROXY_CMD_PROXY && v2_addr_len(b[13]) < 0)
		return PROXY_E_FAMILY;
	if (len < PROXY_V2_HDR) {
		*n = PROXY_V2_HDR;
		return PROXY_MORE;
	}
	hlen = (unsigned)b[14] << 8 | b[15];
	if (hlen > PROXY_V2_LEN_MAX)
		return PROXY_E_LENGTH;
	if ((b[12] & 0x0F) == PROXY_CMD_PROXY && hlen < (unsigned)v2_addr_len(b[13]))
		return PROXY_E_LENGTH;
	total = PROXY_V2_HDR + hlen;
	*n = total;
	return len >= total ? PROXY_OK : PROXY_MORE;
}

static int need_v1(const unsigned char *b, size_t len, size_t *n)
{
	size_t i, end = min_sz(len, PROXY_V1_MAX);
	if (memcmp(b, v1sig, min_sz(len, sizeof(v1sig))) != 0)
		return PROXY_E_SIGNATURE;
	for (i = 0; i < end; i++) {
		if (b[i] == '\r') {
			/* The line ends here (or is broken): its length is known. */
			if (i + 2 < PROXY_V1_MIN)
				return PROXY_E_SYNTAX; /* shorter than any valid line */
			if (i + 2 > PROXY_V1_MAX)
				return PROXY_E_TOO_LONG;
			*n = i + 2;
			if (i + 1 == len)
				return PROXY_MORE;
			return b[i + 1] == '\n' ? PROXY_OK : PROXY_E_CRLF;
		}
		if (b[i] == '\n')
			return PROXY_E_CRLF;
		if (b[i] < 0x20 || b[i] > 0x7E)
			return PROXY_E_CHAR;
	}
	/* No CR yet: both CR and LF are still to come. */
	if (len + 2 > PROXY_V1_MAX)
		return PROXY_E_TOO_LONG;
	*n = len + 2 < PROXY_V1_MIN ? PROXY_V1_MIN : len + 2;
	return PROXY_MORE;
}

int proxy_need(const unsigned char *buf, size_t len, size_t *n)
{
	*n = 0;
	if (len == 0) {
		*n = PROXY_V1_MIN;
		return PROXY_MORE;
	}
	if (buf[0] == v2sig[0])
		return need_v2(buf, len, n);
	if (buf[0] == (unsigned char)v1sig[0])
		return need_v1(buf, len, n);
	return PROXY_E_SIGNATURE;
}

/* ---- version 1 ---- */

/* A port: 1-5 digits, no leading zero (but "0" itself), at most 65535. */
static int v1_port(const char *s, size_t len, in_port_t *out)
{
	unsigned long v = 0;
	size_t i;
	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = htons((uint16_t)v);
	return 0;
}

/* An address of family af into ss (with the port set later). */
static int v1_addr(int af, const char *s, size_t len, struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN];
	size_t max = af == AF_INET ? 15 : 39;
	if (len == 0 || len > max)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
}

static void set_port(struct sockaddr_storage *ss, in_port_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port;
}

/* line: the header without its CRLF, m bytes, known to start "PROXY ". */
static int parse_v1(const char *line, size_t m, struct proxy_result *out)
{
	const char *p = line + sizeof(v1sig), *end = line + m;
	const char *f[4];
	size_t fl[4];
	in_port_t sport, dport;
	int af, i;
	out->version = 1;
	out->command = PROXY_CMD_PROXY;
	if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0) {
		/* Anything after "UNKNOWN " is ignored, as specified. */
		if (end - p == 7 || p[7] == ' ') {
			out->family = AF_UNSPEC;
			return PROXY_OK;
		}
		return PROXY_E_FAMILY;
	}
	if ((size_t)(end - p) < 5 || (memcmp(p, "TCP4 ", 5) != 0 && memcmp(p, "TCP6 ", 5) != 0))
		return end - p >= 4 && (memcmp(p, "TCP4", 4) == 0 || memcmp(p, "TCP6", 4) == 0)
			       ? PROXY_E_SYNTAX : PROXY_E_FAMILY;
	af = p[3] == '4' ? AF_INET : AF_INET6;
	p += 5;
	/* Exactly four non-empty fields separated by exactly one space. */
	for (i = 0; i < 4; i++) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fe = sp ? sp : end;
		if (fe == p || (i < 3 && !sp) || (i == 3 && sp))
			return PROXY_E_SYNTAX;
		f[i] = p;
		fl[i] = (size_t)(fe - p);
		p = sp ? sp + 1 : end;
	}
	if (v1_addr(af, f[0], fl[0], &out->src) < 0 || v1_addr(af, f[1], fl[1], &out->dst) < 0)
		return PROXY_E_ADDRESS;
	if (v1_port(f[2], fl[2], &sport) < 0 || v1_port(f[3], fl[3], &dport) < 0)
		return PROXY_E_PORT;
	set_port(&out->src, sport);
	set_port(&out->dst, dport);
	out->family = af;
	return PROXY_OK;
}

/* ---- version 2 ---- */

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), bitwise: the
 * header is at most PROXY_HDR_MAX bytes and is checked once. */
static uint32_t crc32c(const unsigned char *b, size_t len, size_t zero_at)
{
	uint32_t crc = 0xFFFFFFFFu;
	size_t i;
	int k;
	for (i = 0; i < len; i++) {
		/* The checksum field itself counts as zeros. */
		crc ^= (i >= zero_at && i < zero_at + 4) ? 0 : b[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* Copy a TLV string for the log: cut to fit, only 0x21-0x7e kept. */
static void tls_str(char *dst, const unsigned char *s, size_t len)
{
	size_t i;
	if (len > PROXY_TLS_STR - 1)
		len = PROXY_TLS_STR - 1;
	for (i = 0; i < len; i++)
		dst[i] = s[i] > 0x20 && s[i] < 0x7F ? (char)s[i] : '?';
	dst[len] = '\0';
}

static int parse_ssl_tlv(const unsigned char *v, size_t len, struct proxy_tls *tls)
{
	size_t off = PP2_SSL_FIXED;
	if (len < PP2_SSL_FIXED)
		return PROXY_E_SSL_TLV;
	if (tls->present)
		return PROXY_OK; /* the first one is kept */
	tls->present = 1;
	tls->client = v[0];
	tls->verify = (uint32_t)v[1] << 24 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 8 | v[4];
	while (off < len) {
		size_t sl;
		if (len - off < 3)
			return PROXY_E_SSL_TLV;
		sl = (size_t)v[off + 1] << 8 | v[off + 2];
		if (sl > len - off - 3)
			return PROXY_E_SSL_TLV;
		if (v[off] == PP2_SUBTYPE_SSL_VERSION && !tls->version[0])
			tls_str(tls->version, v + off + 3, sl);
		else if (v[off] == PP2_SUBTYPE_SSL_CIPHER && !tls->cipher[0])
			tls_str(tls->cipher, v + off + 3, sl);
		off += 3 + sl;
	}
	return PROXY_OK;
}

/* The TLVs in b[off..total): each must fit; unknown types are skipped. */
static int parse_tlvs(const unsigned char *b, size_t off, size_t total, struct proxy_tls *tls)
{
	int rc;
	while (off < total) {
		size_t tl;
		if (total - off < 3)
			return PROXY_E_TLV;
		tl = (size_t)b[off + 1] << 8 | b[off + 2];
		if (tl > total - off - 3)
			return PROXY_E_TLV;
		if (b[off] == PP2_TYPE_SSL) {
			rc = parse_ssl_tlv(b + off + 3, tl, tls);
			if (rc != PROXY_OK)
				return rc;
		} else if (b[off] == PP2_TYPE_CRC32C) {
			const unsigned char *c = b + off + 3;
			uint32_t want;
			if (tl != 4)
				return PROXY_E_CRC;
			want = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
			if (crc32c(b, total, off + 3) != want)
				return PROXY_E_CRC;
		}
		off += 3 + tl;
	}
	return PROXY_OK;
}

static int parse_v2(const unsigned char *b, size_t total, struct proxy_result *out)
{
	const unsigned char *a = b + PROXY_V2_HDR;
	unsigned char fam = b[13];
	out->version = 2;
	out->command = b[12] & 0x0F;
	out->family = AF_UNSPEC;
	/* LOCAL: the block, family included, is ignored.  UNSPEC: nothing in
	 * it is defined, so it is skipped unread as well. */
	if (out->command == PROXY_CMD_LOCAL || fam == 0x00)
		return PROXY_OK;
	if (fam == 0x11) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&out->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		out->family = AF_INET;
	} else if (fam == 0x21) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		out->family = AF_INET6;
	}
	/* UDP and AF_UNIX fall back to the socket's addresses (AF_UNSPEC);
	 * their address blocks have known sizes, so the TLVs are still walked. */
	return parse_tlvs(b, PROXY_V2_HDR + (size_t)v2_addr_len(fam), total, &out->tls);
}

int proxy_parse(const unsigned char *buf, size_t len, struct proxy_result *out)
{
	size_t n;
	int rc;
	memset(out, 0, sizeof(*out));
	rc = proxy_need(buf, len, &n);
	if (rc == PROXY_MORE)
		return PROXY_E_TRUNCATED;
	if (rc != PROXY_OK)
		return rc;
	out->len = n;
	if (buf[0] == v2sig[0])
		rc = parse_v2(buf, n, out);
	else
		rc = parse_v1((const char *)buf, n - 2, out);
	if (rc != PROXY_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return PROXY_OK;
}

const char *proxy_strerror(int status)
{
	switch (status) {
	case PROXY_OK: return "ok";
	case PROXY_MORE: return "incomplete header";
	case PROXY_E_SIGNATURE: return "not a PROXY protocol header";
	case PROXY_E_VERSION: return "unsupported v2 version";
	case PROXY_E_COMMAND: return "bad v2 command";
	case PROXY_E_FAMILY: return "bad address family or protocol";
	case PROXY_E_LENGTH: return "bad v2 header length";
	case PROXY_E_TOO_LONG: return "v1 header too long";
	case PROXY_E_CRLF: return "v1 header without CRLF";
	case PROXY_E_CHAR: return "bad character in v1 header";
	case PROXY_E_SYNTAX: return "malformed v1 header";
	case PROXY_E_ADDRESS: return "bad address in v1 header";
	case PROXY_E_PORT: return "bad port in v1 header";
	case PROXY_E_TLV: return "v2 TLV overruns header";
	case PROXY_E_SSL_TLV: return "malformed v2 SSL TLV";
	case PROXY_E_CRC: return "v2 CRC32C mismatch";
	case PROXY_E_TRUNCATED: return "truncated header";
	default: return "unknown PROXY error";
	}
}
