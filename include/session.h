/* session.h - what one connection carries from process to process, and the
 * entry points of the processes drawn in DESIGN.md:
 *   master (root)  ->  monitor (root)  ->  preauth (postern, chroot)
 *                                      ->  mail (mailbox owner)          */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H
#include "config.h"
#include "proxy_io.h"
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* What a connection is, as the monitor learns it: the part of the session
 * it hands to its pre-auth process (IPC_CONN) in one piece, since that
 * process may have been started before the client connected. */
struct conn_info {
	char rip[64];            /* client address, "unknown" for pipes */
	unsigned rport;
	unsigned lport;
	int loopback;            /* client is on a loopback address */
	int tls_listener;        /* implicit TLS port */
	int ssl;                 /* the listener's enum conf_ssl (ssl=, else ssl) */
	char greeting[200];      /* "+OK postern ready[ <apop-timestamp>]\r\n" */
	char apop_stamp[160];    /* the timestamp, empty unless apop = yes */
	int greeted;             /* the monitor already sent the greeting */
	int login_delay_user;    /* some user has a LOGIN-DELAY of their own */
	int expire_user;         /* some user has an EXPIRE of their own */
};

struct session {
	const struct config *cfg;
	struct conn_info conn;
	uid_t unpriv_uid;        /* the 'postern' user */
	gid_t unpriv_gid;
	/* Filled by the monitor after a successful login. */
	char user[256];
	uid_t uid;
	gid_t gid;
	char mailbox[PATH_MAX];
	char method[24];
	char tls_info[128];      /* "TLSv1.3/TLS_AES_256_GCM_SHA384" or "plaintext" */
	char auth_capa[200];     /* the USER and SASL lines of CAPA at login */
	pid_t preauth_pid;       /* plain: the pre-auth process, to wait for at the end */
	long login_delay;        /* this user's LOGIN-DELAY, seconds (userext.h) */
	long expire;             /* this user's EXPIRE, days (userext.h) */
	int parent_fd;           /* mail process: its root parent (sleeping =
	                          * yes, monparent.c); -1: none */
};

struct tls_server;

/* How a connection starts, as the master (or main, in inetd mode) hands
 * it to its monitor. */
struct conn_start {
	int tls_listener;        /* implicit TLS */
	int greeted;             /* the master already sent PLAIN_GREETING */
	int ssl;                 /* enum conf_ssl for this listener */
	int proxy_inetd;         /* inetd -P: the monitor reads the PROXY header */
	struct conn_origin origin; /* what a PROXY header said (master) */
};

/* Fill conn.rip/rport/lport/loopback from the client socket, then from
 * o when a PROXY header gave the client's address (o may be NULL). */
void session_peer(struct session *s, int fd, const struct conn_origin *o);

/* The greeting of a plain connection when APOP is off: constant, so the
 * master can send it before it forks (the client's next round trip then
 * overlaps the fork). */
#define PLAIN_GREETING "+OK postern ready\r\n"

/* monitor.c: run one connection to its end (root).  Returns the exit code. */
int monitor_run(const struct config *cfg, int rfd, int wfd, const struct conn_start *st,
		uid_t unpriv_uid, gid_t unpriv_gid, struct tls_server *tls);

/* monitor.c: a spare connection process (master only): starts its
 * pre-auth process at once, then waits on chan for the master to hand it a
 * client.  Returns the exit code. */
int monitor_spare(const struct config *cfg, int chan, uid_t unpriv_uid, gid_t unpriv_gid,
		  struct tls_server *tls);

/* preauth.c: the AUTHORIZATION state (postern, chroot).  preauth_wait
 * receives the connection from the monitor (IPC_CONN) and runs
 * preauth_main on it; both never return. */
void preauth_wait(struct session *s, int monitor, struct tls_server *tls)
	__attribute__((noreturn));
void preauth_main(struct session *s, int rfd, int wfd, int monitor,
		  struct tls_server *tls) __attribute__((noreturn));

/* mailproc.c: TRANSACTION and UPDATE (mailbox owner).  Never returns. */
void mail_main(struct session *s, int rfd, int wfd, const char *pending,
	       size_t npending) __attribute__((noreturn));

/* privdrop.c */
void drop_to_preauth(const struct config *cfg, uid_t uid, gid_t gid);
void drop_to_mail_user(const struct config *cfg, uid_t uid, gid_t gid);
int resolve_unpriv(const struct config *cfg, uid_t *uid, gid_t *gid);
#endif
