/* proxy_io.c - read a PROXY protocol header off a client socket, for the
 * standalone master (root, non-blocking, one step each time its poll loop
 * sees the socket readable) and the inetd-mode connection monitor (root,
 * blocking under proxy_timeout).  Every read is first a MSG_PEEK; only the
 * bytes proxy_need() vouches are header are then consumed, so the TLS
 * ClientHello or the POP3 command after it stays in the socket for the
 * pre-auth process.  The header itself is parsed by proxy.c (pure, fuzzed);
 * nothing else of the client's is read here. */
#include "proxy_io.h"
#include "log.h"
#include "srclimits.h"
#include "util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

int proxy_read_step(int fd, struct proxy_reader *st, struct proxy_result *r)
{
	for (;;) {
		size_t n = 0, take;
		ssize_t got = recv(fd, st->buf + st->have, sizeof(st->buf) - st->have,
				   MSG_PEEK | MSG_DONTWAIT);
		int rc;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? PROXY_MORE : PROXY_IO_ERR;
		}
		if (got == 0)
			return PROXY_IO_EOF;
		rc = proxy_need(st->buf, st->have + (size_t)got, &n);
		if (rc < 0)
			return rc;
		/* Complete: up to its end.  Incomplete: every byte seen is
		 * header (n is beyond them), so take them all and wait. */
		take = rc == PROXY_OK ? n - st->have : (size_t)got;
		while (take > 0) {
			ssize_t k = recv(fd, st->buf + st->have, take, MSG_DONTWAIT);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)   /* peeked bytes are there: anything else is an error */
				return PROXY_IO_ERR;
			st->have += (size_t)k;
			take -= (size_t)k;
		}
		if (rc == PROXY_OK)
			return proxy_parse(st->buf, st->have, r);
	}
}

int proxy_read_header(int fd, uint64_t timeout_ms, struct proxy_result *r)
{
	static struct proxy_reader st;   /* one header per process (inetd) */
	uint64_t end = now_ms() + timeout_ms;
	memset(&st, 0, sizeof(st));
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now = now_ms();
		int rc;
		if (now >= end)
			return PROXY_IO_TIMEOUT;
		rc = poll(&p, 1, (int)(end - now));
		if (rc < 0 && errno != EINTR)
			return PROXY_IO_ERR;
		if (rc <= 0)
			continue;
		rc = proxy_read_step(fd, &st, r);
		if (rc != PROXY_MORE)
			return rc;
	}
}

void proxy_addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	snprintf(buf, cap, "unknown");
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)cap);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, a->s6_addr + 12, buf, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)cap);
	}
}

void proxy_origin(const struct proxy_result *r, const char *via, struct conn_origin *o)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->via, sizeof(o->via), "%s", via);
	/* LOCAL (health checks), UNKNOWN, UNSPEC, AF_UNIX: the socket's own. */
	if (r->command == PROXY_CMD_PROXY &&
	    (r->family == AF_INET || r->family == AF_INET6)) {
		o->proxied = 1;
		o->src = r->src;
		o->dst = r->dst;
	}
	if (r->tls.present)
		snprintf(o->ssl, sizeof(o->ssl), "%s/%s",
			 r->tls.version[0] ? r->tls.version : "-",
			 r->tls.cipher[0] ? r->tls.cipher : "-");
}

const char *proxy_io_strerror(int status)
{
	switch (status) {
	case PROXY_IO_EOF: return "closed before the header ended";
	case PROXY_IO_ERR: return "socket error";
	case PROXY_IO_TIMEOUT: return "no complete header within proxy_timeout";
	case PROXY_IO_UNTRUSTED: return "source not in proxy_trusted";
	default: return proxy_strerror(status);
	}
}

void proxy_log_refusal(const struct sockaddr_storage *peer, int status)
{
	unsigned char key[LIMITS_KEY];
	char txt[64];
	limits_source(peer, key, txt, sizeof(txt));
	if (!limits_log_refusal(key, time(NULL)))
		return;
	if (status == PROXY_IO_UNTRUSTED)
		plog(LOG_WARNING, "connection refused: rip=%s limit=proxy_trusted (logged once "
		     "a minute per source)", txt);
	else
		plog(LOG_WARNING, "PROXY header refused: rip=%s reason=%s (logged once a minute "
		     "per source)", txt, proxy_io_strerror(status));
}

int proxy_inetd(const struct config *cfg, int fd, struct conn_origin *o)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct proxy_result r;
	char via[64];
	int rc;
	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		peer.ss_family = AF_UNSPEC;   /* a pipe: never trusted */
	proxy_addr_text(&peer, via, sizeof(via));
	if (!config_proxy_trusted(cfg, &peer))
		rc = PROXY_IO_UNTRUSTED;
	else
		rc = proxy_read_header(fd, cfg->proxy_timeout_ms, &r);
	if (rc != PROXY_OK) {
		proxy_log_refusal(&peer, rc);
		return -1;
	}
	proxy_origin(&r, via, o);
	return 0;
}
