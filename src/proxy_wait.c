/* proxy_wait.c - the master's connections waiting for their PROXY header
 * (root, in the master's poll loop).  A socket accepted on a proxy=yes
 * listener from a proxy_trusted peer waits here, non-blocking, until its
 * header is complete (proxy_io.c reads it with MSG_PEEK and consumes no
 * byte after it), malformed, closed, or late (proxy_timeout): the
 * master's per-source limits then apply to the address in the header.
 * A failure closes the socket with one rate-limited log line and costs
 * the master nothing else.  Listeners without proxy=yes never come here. */
#include "proxy_wait.h"
#include "log.h"
#include "srclimits.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct waiting {
	int fd;
	struct listener l;
	struct sockaddr_storage peer;
	uint64_t deadline;
	struct proxy_reader rd;
};

static struct waiting *W[PROXY_PENDING_MAX];
static unsigned NW;

unsigned proxy_wait_count(void)
{
	return NW;
}

void proxy_wait_accept(const struct config *cfg, int fd, const struct listener *l,
		       const struct sockaddr_storage *peer, unsigned cap, int full,
		       proxy_done_fn done)
{
	struct pollfd now;
	struct waiting *w;
	const char *why = NULL;
	if (!config_proxy_trusted(cfg, peer)) {
		proxy_log_refusal(peer, PROXY_IO_UNTRUSTED);
		close(fd);
		return;
	}
	if (cap == 0 || cap > PROXY_PENDING_MAX)
		cap = PROXY_PENDING_MAX;
	if (NW >= cap)
		why = "max_preauth_sessions";
	else if (full)
		why = "max_sessions";
	if (why) {
		/* The peer is the balancer: not the fail2ban line. */
		unsigned char key[LIMITS_KEY];
		char txt[64];
		limits_source(peer, key, txt, sizeof(txt));
		if (limits_log_refusal(key, time(NULL)))
			plog(LOG_WARNING, "connection refused before its PROXY header: rip=%s "
			     "limit=%s (logged once a minute per source)", txt, why);
		close(fd);
		return;
	}
	if (!(w = calloc(1, sizeof(*w)))) {
		plog(LOG_ERR, "PROXY: out of memory");
		close(fd);
		return;
	}
	/* The socket stays blocking for the session: proxy_io.c reads it
	 * with MSG_DONTWAIT. */
	w->fd = fd;
	w->l = *l;
	w->peer = *peer;
	w->deadline = now_ms() + cfg->proxy_timeout_ms;
	W[NW++] = w;
	/* A balancer sends the header as soon as it is connected: it is
	 * often there already, and then needs no trip through poll. */
	now.fd = fd;
	now.events = now.revents = POLLIN;
	proxy_wait_run(&now, 1, 0, done);
}

int proxy_wait_pollfds(struct pollfd *p)
{
	for (unsigned i = 0; i < NW; i++) {
		p[i].fd = W[i]->fd;
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	return (int)NW;
}

int proxy_wait_timeout(uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < NW; i++)
		if (W[i]->deadline < next)
			next = W[i]->deadline;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

/* Remove entry i (the order does not matter). */
static void drop(unsigned i)
{
	free(W[i]);
	W[i] = W[--NW];
}

void proxy_wait_run(const struct pollfd *p, int n, uint64_t now, proxy_done_fn done)
{
	/* Walk the polled entries by fd: done() may fork, and entries move
	 * when one is dropped, so look each up by its descriptor. */
	for (int k = 0; k < n; k++) {
		unsigned i;
		int rc = PROXY_MORE;
		struct proxy_result r;
		for (i = 0; i < NW && W[i]->fd != p[k].fd; i++)
			;
		if (i == NW)
			continue;
		if (p[k].revents)
			rc = proxy_read_step(W[i]->fd, &W[i]->rd, &r);
		if (rc == PROXY_MORE && now >= W[i]->deadline)
			rc = PROXY_IO_TIMEOUT;
		if (rc == PROXY_MORE)
			continue;
		if (rc == PROXY_OK) {
			struct waiting *w = W[i];
			struct conn_origin o;
			char via[64];
			proxy_addr_text(&w->peer, via, sizeof(via));
			proxy_origin(&r, via, &o);
			W[i] = W[--NW];   /* out of the table before done() forks */
			done(w->fd, &w->l, &o);
			free(w);
			continue;
		}
		proxy_log_refusal(&W[i]->peer, rc);
		close(W[i]->fd);
		drop(i);
	}
	/* Late ones that were not in this poll set (added since). */
	for (unsigned i = 0; i < NW;) {
		if (now >= W[i]->deadline) {
			proxy_log_refusal(&W[i]->peer, PROXY_IO_TIMEOUT);
			close(W[i]->fd);
			drop(i);
		} else {
			i++;
		}
	}
}

void proxy_wait_forked(void)
{
	for (unsigned i = 0; i < NW; i++)
		close(W[i]->fd);
	/* The memory goes with the exec-less child; nothing to free. */
	NW = 0;
}
