/* proxy_io.h - reading a PROXY header (proxy.h) off a client socket
 * without consuming a byte after it, for the master (non-blocking, one
 * step per poll wake-up) and the inetd-mode monitor (blocking under a
 * deadline).  Root, before anything else reads the socket. */
#ifndef POSTERN_PROXY_IO_H
#define POSTERN_PROXY_IO_H
#include "config.h"
#include "proxy.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Beyond proxy.h's statuses. */
#define PROXY_IO_EOF (-100)      /* the peer closed before the header ended */
#define PROXY_IO_ERR (-101)      /* a socket error */
#define PROXY_IO_TIMEOUT (-102)  /* proxy_timeout passed */
#define PROXY_IO_UNTRUSTED (-103) /* the TCP peer is not in proxy_trusted */

struct proxy_reader {
	unsigned char buf[PROXY_HDR_MAX];
	size_t have;                 /* bytes of the header consumed so far */
};

/* Where a connection comes from, as the monitor is told: a PROXY header's
 * source and destination, or nothing (the socket's own addresses). */
struct conn_origin {
	int proxied;                 /* 1: src is the client (PROXY command) */
	struct sockaddr_storage src, dst;
	char via[64];                /* the TCP peer: the load balancer */
	char ssl[2 * PROXY_TLS_STR + 2]; /* the SSL TLV "version/cipher", or "" */
};

/* Peek at what has arrived and consume exactly the part that is header.
 * PROXY_OK: complete, r decoded; PROXY_MORE: wait for the socket to be
 * readable again; otherwise an error (proxy.h's or PROXY_IO_*). */
int proxy_read_step(int fd, struct proxy_reader *st, struct proxy_result *r);
/* The same, blocking, with the whole header due within timeout_ms. */
int proxy_read_header(int fd, uint64_t timeout_ms, struct proxy_result *r);
/* A header into the origin the monitor uses (via: the TCP peer's text). */
void proxy_origin(const struct proxy_result *r, const char *via, struct conn_origin *o);
/* Text of a status for the log ("untrusted source", "timeout", ...). */
const char *proxy_io_strerror(int status);
/* The address text of ss for the log ("unknown" when not IP). */
void proxy_addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap);
/* Log why a connection from peer (the TCP peer) was closed for its PROXY
 * header: "connection refused: rip=... limit=proxy_trusted" for an
 * untrusted source (fail2ban matches it), "PROXY header refused: rip=...
 * reason=..." otherwise; at most once a minute per source. */
void proxy_log_refusal(const struct sockaddr_storage *peer, int status);
/* inetd mode (-P): check the peer of fd against proxy_trusted and read its
 * header under proxy_timeout, into o.  0, or -1 after logging the refusal. */
int proxy_inetd(const struct config *cfg, int fd, struct conn_origin *o);
#endif
