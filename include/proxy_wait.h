/* proxy_wait.h - the master's connections waiting for their PROXY header
 * (root): accepted on a proxy=yes listener from a proxy_trusted peer,
 * polled with the listeners, each due within proxy_timeout. */
#ifndef POSTERN_PROXY_WAIT_H
#define POSTERN_PROXY_WAIT_H
#include "listen.h"
#include "proxy_io.h"
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>

/* The most connections that wait for a header at once (the master also
 * counts them against max_sessions and max_preauth_sessions). */
#define PROXY_PENDING_MAX 256

/* What to do with a connection whose header has come: admit it with
 * o's address (the listener it came on is l, its fd now the callee's). */
typedef void (*proxy_done_fn)(int fd, const struct listener *l, const struct conn_origin *o);

unsigned proxy_wait_count(void);
/* A connection accepted on a proxy=yes listener l from peer: closed
 * (and logged, once a minute per source) if peer is not in proxy_trusted,
 * if full (max_sessions reached) or if cap (max_preauth_sessions, 0: no
 * limit; never more than PROXY_PENDING_MAX) connections wait already;
 * otherwise it waits for its header until proxy_timeout from now (and
 * goes to done at once if the whole header is there already). */
void proxy_wait_accept(const struct config *cfg, int fd, const struct listener *l,
		       const struct sockaddr_storage *peer, unsigned cap, int full,
		       proxy_done_fn done);
/* Fill p (room for PROXY_PENDING_MAX) with the waiting sockets; the count. */
int proxy_wait_pollfds(struct pollfd *p);
/* Milliseconds to the next deadline, -1 when nothing waits. */
int proxy_wait_timeout(uint64_t now_ms);
/* After poll: step each readable socket of p (n of them, as filled), hand
 * complete headers to done, close (and log) the failed and the late. */
void proxy_wait_run(const struct pollfd *p, int n, uint64_t now_ms, proxy_done_fn done);
/* In a child of the master: close the waiting sockets (not its own). */
void proxy_wait_forked(void);
#endif
