/* confnet.c - the networks of proxy_trusted: strict parsing of
 * "ADDR/PREFIX" and matching a peer address against the list.  Pure code;
 * runs as root in the master and the monitor (inetd -P) and in
 * "postern -t", and in the unit tests. */
#include "config.h"
#include "parse.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int config_parse_net(const char *s, struct conf_net *n)
{
	char a[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, i;
	uint64_t pfx;
	memset(n, 0, sizeof(*n));
	if (alen == 0 || alen >= sizeof(a))
		return -1;
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (inet_pton(AF_INET, a, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	pfx = max;
	if (slash) {
		const char *d = slash + 1;
		size_t dl = strlen(d);
		/* digits only, no leading zero ("/08"), within the family */
		if (dl == 0 || (dl > 1 && d[0] == '0') ||
		    parse_decimal(d, dl, max, &pfx) < 0)
			return -1;
	}
	n->prefix = (unsigned)pfx;
	/* strict: "10.0.0.1/8" is a typo for a host or for 10.0.0.0/8 */
	for (i = n->prefix; i < max; i++)
		if (n->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

static int net_match(const struct conf_net *n, const unsigned char *a, int family)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;
	if (n->family != family || memcmp(n->addr, a, full) != 0)
		return 0;
	return rest == 0 || ((n->addr[full] ^ a[full]) & (0xff00 >> rest) & 0xff) == 0;
}

int config_proxy_trusted(const struct config *c, const struct sockaddr_storage *ss)
{
	const unsigned char *a;
	int family = ss->ss_family, i;
	if (family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
	} else if (family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			a += 12;
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (i = 0; i < c->nproxy_trusted; i++)
		if (net_match(&c->proxy_trusted[i], a, family))
			return 1;
	return 0;
}
