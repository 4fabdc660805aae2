/* listen.c - the master's listening sockets (root): binding the listen
 * and listen_tls addresses, or taking the sockets systemd passes (socket
 * activation, sd_listen_fds(3) without libsystemd). */
#include "listen.h"
#include "log.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_one(const struct config *cfg, const struct listen_addr *la, struct listener *out, char *err, size_t cap)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1, one = 1, rc;
	const char *host = la->host[0] ? la->host : "::";

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", la->port);
	snprintf(err, cap, "%s:%u: no usable address", host, la->port);
again:
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, cap, "%s:%u: %s", host, la->port, gai_strerror(rc));
		if (!la->host[0] && strcmp(host, "::") == 0) {
			host = "0.0.0.0";
			goto again;
		}
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			snprintf(err, cap, "%s:%u: %s", host, la->port, strerror(errno));
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			/* "*:port" is dual-stack; an explicit v6 address is v6 only. */
			int v6only = la->host[0] ? 1 : 0;
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, (int)cfg->listen_backlog) == 0)
			break;
		snprintf(err, cap, "%s:%u: %s", host, la->port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && !la->host[0] && strcmp(host, "::") == 0) {
		/* No IPv6 on this host: "*" means IPv4 alone. */
		host = "0.0.0.0";
		res = NULL;
		goto again;
	}
	if (fd < 0)
		return -1;
	out->fd = fd;
	out->tls = la->tls;
	out->ssl = la->ssl;
	out->proxy = la->proxy;
	out->port = la->port;
	return 0;
}

int listen_bind_all(const struct config *cfg, struct listener *l, int *nl, char *err, size_t cap)
{
	int i;
	*nl = 0;
	for (i = 0; i < cfg->nlisten; i++) {
		if (bind_one(cfg, &cfg->listen[i], &l[*nl], err, cap) < 0) {
			listen_close_all(l, nl);
			return -1;
		}
		(*nl)++;
	}
	return 0;
}

/* systemd socket activation (sd_listen_fds(3) without libsystemd): fds
 * from 3; a socket is implicit TLS when its name (FileDescriptorName=) is
 * "pop3s" or its port is one of listen_tls's; its ssl= and proxy= are
 * those of the listen or listen_tls line with its port. */
int listen_systemd(const struct config *cfg, struct listener *l, int *nl)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end;
	long lpid, n;
	int i;
	if (!pid || !fds)
		return 0;
	/* Strict numbers, as sd_listen_fds(3) reads them: "12x" is not 12. */
	errno = 0;
	lpid = strtol(pid, &end, 10);
	if (errno || end == pid || *end || lpid != (long)getpid())
		return 0;
	n = strtol(fds, &end, 10);
	if (errno || end == fds || *end || n <= 0 || n > LISTEN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		unsigned port = 0;
		int fd = 3 + i, j;
		char name[64] = "";
		memset(&ss, 0, sizeof(ss));
		if (names) {
			const char *p = names;
			for (j = 0; j < i && p; j++)
				p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
			if (p)
				snprintf(name, sizeof(name), "%.*s", (int)strcspn(p, ":"), p);
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, O_NONBLOCK);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
			port = ntohs(ss.ss_family == AF_INET6 ?
				     ((struct sockaddr_in6 *)&ss)->sin6_port :
				     ((struct sockaddr_in *)&ss)->sin_port);
		l[i].fd = fd;
		l[i].tls = strcmp(name, "pop3s") == 0;
		l[i].port = port;
	}
	*nl = (int)n;
	listen_options(cfg, l, *nl);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	plog(LOG_INFO, "using %d socket(s) from systemd", *nl);
	return 1;
}

void listen_options(const struct config *cfg, struct listener *l, int nl)
{
	for (int i = 0; i < nl; i++) {
		const struct listen_addr *la = config_listen_by_port(cfg, l[i].port);
		l[i].ssl = la ? la->ssl : -1;
		l[i].proxy = la ? la->proxy : 0;
		if (la && la->tls)
			l[i].tls = 1;
	}
}

void listen_close_all(struct listener *l, int *nl)
{
	while (*nl > 0)
		close(l[--*nl].fd);
}
