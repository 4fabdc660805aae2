/* proxy.h - the PROXY protocol header (HAProxy's specification, versions 1
 * and 2) that a trusted load balancer sends before the client's own bytes.
 * Pure functions over untrusted bytes, no I/O: usable in any process,
 * unit-tested and fuzzed.
 *
 * The caller reads from the socket with a short deadline and must never
 * consume a byte of the POP3 or TLS stream that follows the header.
 * proxy_need() says, for the bytes read so far, either that the header is
 * complete and exactly how long it is, or a lower bound on its total
 * length (reading up to that bound can never overshoot), or that the bytes
 * can never become a valid header.  Two ways to read with it:
 *   - read(2) exactly (bound - have) bytes at a time until complete;
 *     v2 then costs two reads, v1 one read per byte after the first 15;
 *   - or recv(MSG_PEEK) whatever has arrived into buf + have, call
 *     proxy_need() on all of it: when complete, read exactly (length -
 *     have) bytes; otherwise consume only up to the bound (so the next
 *     poll waits for new bytes instead of spinning) and peek again.
 * Then proxy_parse() decodes the complete header. */
#ifndef POSTERN_PROXY_H
#define POSTERN_PROXY_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107          /* longest v1 line, CRLF included */
#define PROXY_V1_MIN 15           /* "PROXY UNKNOWN\r\n", the shortest header */
#define PROXY_V2_HDR 16           /* signature, version/command, family, length */
#define PROXY_V2_LEN_MAX 1536     /* longest v2 address block + TLVs accepted */
#define PROXY_HDR_MAX (PROXY_V2_HDR + PROXY_V2_LEN_MAX) /* buffer that always fits */

/* Results of proxy_need() and proxy_parse(); errors are negative. */
enum proxy_status {
	PROXY_OK = 0,             /* complete (need) / decoded (parse) */
	PROXY_MORE = 1,           /* proxy_need only: more bytes needed */
	PROXY_E_SIGNATURE = -1,   /* neither "PROXY " nor the v2 signature */
	PROXY_E_VERSION = -2,     /* v2 version nibble is not 2 */
	PROXY_E_COMMAND = -3,     /* v2 command neither LOCAL nor PROXY */
	PROXY_E_FAMILY = -4,      /* v2 family/transport byte, or v1 protocol */
	PROXY_E_LENGTH = -5,      /* v2 length over the maximum or short of the addresses */
	PROXY_E_TOO_LONG = -6,    /* v1: no CRLF within 107 bytes */
	PROXY_E_CRLF = -7,        /* v1: a CR or LF that is not a CRLF */
	PROXY_E_CHAR = -8,        /* v1: a control or non-ASCII byte */
	PROXY_E_SYNTAX = -9,      /* v1: fields or single spaces not as specified */
	PROXY_E_ADDRESS = -10,    /* v1: address not valid for its family */
	PROXY_E_PORT = -11,       /* v1: port not 0-65535 without leading zero */
	PROXY_E_TLV = -12,        /* v2: a TLV runs past the end of the header */
	PROXY_E_SSL_TLV = -13,    /* v2: SSL TLV too short, or a sub-TLV overruns it */
	PROXY_E_CRC = -14,        /* v2: CRC32C TLV malformed or wrong checksum */
	PROXY_E_TRUNCATED = -15,  /* proxy_parse: the header is incomplete */
};

enum proxy_command { PROXY_CMD_LOCAL = 0, PROXY_CMD_PROXY = 1 };

/* From the v2 PP2_TYPE_SSL TLV: what the load balancer saw of the client's
 * TLS.  Strings are NUL-terminated, cut to fit, and hold only 0x21-0x7e
 * (anything else becomes '?'), so they can go into a log line as they are. */
#define PROXY_TLS_STR 64
struct proxy_tls {
	int present;              /* an SSL TLV was in the header */
	uint8_t client;           /* PP2_CLIENT_* bits */
	uint32_t verify;          /* 0: client certificate verified */
	char version[PROXY_TLS_STR]; /* PP2_SUBTYPE_SSL_VERSION, "" if absent */
	char cipher[PROXY_TLS_STR];  /* PP2_SUBTYPE_SSL_CIPHER, "" if absent */
};
#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

struct proxy_result {
	int version;              /* 1 or 2 */
	int command;              /* PROXY_CMD_PROXY or PROXY_CMD_LOCAL (v2 only) */
	/* AF_INET or AF_INET6: src/dst hold the client's and the proxy's
	 * listening address and port.  AF_UNSPEC (v1 UNKNOWN, v2 LOCAL, v2
	 * UNSPEC, AF_UNIX or DGRAM): keep the socket's own addresses. */
	int family;
	struct sockaddr_storage src, dst;
	size_t len;               /* bytes of the header */
	struct proxy_tls tls;
};

/* For the first len bytes received: PROXY_OK with *n the exact header
 * length (<= len; later bytes belong to the client), PROXY_MORE with *n a
 * lower bound on the header length (> len, <= PROXY_HDR_MAX), or an error
 * as soon as the bytes can no longer start a valid header.  A v2 length
 * field is checked here (maximum, room for the addresses), v1 characters
 * and line end too; the fields themselves are checked by proxy_parse. */
int proxy_need(const unsigned char *buf, size_t len, size_t *n);

/* Decode the header at the start of buf (bytes after it are ignored) into
 * out.  Returns PROXY_OK or an error; out is zeroed first either way. */
int proxy_parse(const unsigned char *buf, size_t len, struct proxy_result *out);

/* A short constant text for a status, for the log line. */
const char *proxy_strerror(int status);
#endif
