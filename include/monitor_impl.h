/* monitor_impl.h - what the connection monitor's two files share
 * (monitor.c: the connection's life; monitor_auth.c: the answers to the
 * pre-auth process's credential requests).  Root, the monitor only. */
#ifndef POSTERN_MONITOR_IMPL_H
#define POSTERN_MONITOR_IMPL_H
#include "authcheck.h"
#include "ipc.h"
#include "scram.h"
#include "session.h"
#include <stdint.h>

struct tls_server;

struct monitor {
	struct session s;
	int sock;
	int authed;
	unsigned failures;
	struct auth_user u;
	struct scram_server *scram;
	int scram_method;        /* enum auth_method of the exchange */
	struct tls_server *tls;
	uint64_t started;        /* now_ms() when the connection came */
};

/* monitor_auth.c: one request each; a good login ends in become_mail. */
void handle_auth(struct monitor *mo, struct ipc_msg *m, struct ipc_msg *h);
void handle_scram_first(struct monitor *mo, struct ipc_msg *m);
void handle_scram_final(struct monitor *mo, struct ipc_msg *m);

/* monitor.c: wipe, drop to the mailbox owner and run the mail process
 * (or fork it under the sleeping parent); m is the hand-over.  Does not
 * return on success. */
void become_mail(struct monitor *mo, struct ipc_msg *m);
#endif
