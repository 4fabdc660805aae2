/* listen.h - the master's listening sockets (root). */
#ifndef POSTERN_LISTEN_H
#define POSTERN_LISTEN_H
#include "config.h"
#include <stddef.h>

#define LISTEN_MAX (CONF_MAX_LISTEN * 2)

struct listener {
	int fd;
	int tls;                 /* implicit TLS (listen_tls, or systemd's "pop3s") */
	int ssl;                 /* its "ssl=" (enum conf_ssl), -1: the global ssl */
	int proxy;               /* "proxy=yes": a PROXY header comes first */
	unsigned port;
};

/* Bind every listen/listen_tls address of cfg into l (up to LISTEN_MAX),
 * non-blocking and close-on-exec.  On failure nothing stays open and err
 * names the address. */
int listen_bind_all(const struct config *cfg, struct listener *l, int *nl, char *err,
		    size_t cap);
/* systemd socket activation: 1 if LISTEN_PID/LISTEN_FDS give this
 * process sockets (then in l, and the variables are unset), else 0.  A
 * socket is implicit TLS when its FileDescriptorName= is "pop3s" or its
 * port is one of cfg's listen_tls ports. */
int listen_systemd(const struct config *cfg, struct listener *l, int *nl);
/* systemd's sockets: take ssl= and proxy= (and listen_tls) from the listen
 * line of the same port, if any; called again after a reload. */
void listen_options(const struct config *cfg, struct listener *l, int nl);
void listen_close_all(struct listener *l, int *nl);
#endif
