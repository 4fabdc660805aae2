/* util.c - small helpers shared by every process (any rights). */
#include "util.h"
#include "log.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		pfatal("out of memory (%zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		pfatal("out of memory (%zu x %zu bytes)", n, m);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		pfatal("out of memory (%zu bytes)", n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

const char *log_safe(char *out, size_t cap, const char *s, size_t len)
{
	size_t i, j = 0;
	if (cap == 0)
		return out;
	for (i = 0; i < len && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x21 || c > 0x7e || c == '<' || c == '>' || c == '"' ||
		    c == '\\')
			c = '?';
		out[j++] = (char)c;
	}
	out[j] = '\0';
	return out;
}

const char *log_text(char *out, size_t cap, const char *s, size_t len)
{
	size_t i, j = 0;
	if (cap == 0)
		return out;
	for (i = 0; i < len && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		out[j++] = (char)(c < 0x20 || c > 0x7e ? '?' : c);
	}
	out[j] = '\0';
	return out;
}

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	size_t i, n = alen < blen ? alen : blen;
	unsigned char d = (unsigned char)(alen != blen);
	for (i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

const char *program_name(void)
{
	static char name[17];
	if (!name[0] && (prctl(PR_GET_NAME, name, 0, 0, 0) < 0 || !name[0]))
		snprintf(name, sizeof(name), "postern");
	return name;
}

int sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return ss->ss_family == AF_UNIX;
}

/* A fast hash of a name, eight bytes a step: a warm login hashes every
 * Maildir name (and every imported UIDL) more than once. */
uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
	while (n >= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}
