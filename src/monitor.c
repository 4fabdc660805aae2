/* monitor.c - the connection monitor: one per connection, runs as root and
 * does almost nothing.  It forks the pre-auth process and answers its
 * credential questions from the passwd file; on a good login it drops to the
 * mailbox owner for good and becomes the mail process, with the client
 * socket the pre-auth process handed over (or a socketpair to the TLS
 * relay). */
#include "authcheck.h"
#include "ipc.h"
#include "log.h"
#include "monitor_impl.h"
#include "monparent.h"
#include "passdb.h"
#include "scram.h"
#include "srclimits.h"
#include "session.h"
#include "tls.h"
#include "userext.h"
#include "util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void session_peer(struct session *s, int fd, const struct conn_origin *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	snprintf(s->conn.rip, sizeof(s->conn.rip), "unknown");
	s->conn.loopback = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, s->conn.rip, sizeof(s->conn.rip));
			s->conn.rport = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			s->conn.rport = ntohs(a->sin6_port);
			if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
				struct in_addr v4;
				memcpy(&v4, a->sin6_addr.s6_addr + 12, 4);
				inet_ntop(AF_INET, &v4, s->conn.rip, sizeof(s->conn.rip));
			} else {
				inet_ntop(AF_INET6, &a->sin6_addr, s->conn.rip, sizeof(s->conn.rip));
			}
		} else if (ss.ss_family == AF_UNIX) {
			snprintf(s->conn.rip, sizeof(s->conn.rip), "local");
		}
		s->conn.loopback = sockaddr_is_loopback(&ss);
	}
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			s->conn.lport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			s->conn.lport = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (o && o->proxied) {
		/* The client as the trusted load balancer saw it: its address
		 * is the one for the logs, the limits and the plaintext policy
		 * (HAProxy on loopback does not make a remote client local). */
		proxy_addr_text(&o->src, s->conn.rip, sizeof(s->conn.rip));
		s->conn.rport = ntohs(o->src.ss_family == AF_INET6 ?
				      ((const struct sockaddr_in6 *)&o->src)->sin6_port :
				      ((const struct sockaddr_in *)&o->src)->sin_port);
		s->conn.loopback = sockaddr_is_loopback(&o->src);
	}
}

/* The greeting, with an RFC 1939 APOP timestamp when APOP is on. */
static void make_greeting(struct session *s)
{
	char host[64];
	s->conn.apop_stamp[0] = '\0';
	if (s->cfg->apop) {
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(s->conn.apop_stamp, sizeof(s->conn.apop_stamp), "<%ld.%ld.%lu@%s>",
			 (long)getpid(), (long)time(NULL), (unsigned long)now_ms(), host);
		snprintf(s->conn.greeting, sizeof(s->conn.greeting), "+OK postern ready %s\r\n",
			 s->conn.apop_stamp);
	} else {
		snprintf(s->conn.greeting, sizeof(s->conn.greeting), "%s", PLAIN_GREETING);
	}
}


/* One connection per process: the monitor's state is a file-scope static,
 * not on the stack, because it outlives monitor_serve's frame in the mail
 * process (mail_main keeps a pointer to the session). */
static struct monitor the_monitor;

/* sleeping = yes: the mail process is a child and this process stays as
 * its root parent (monparent.c), which WAKE asks to check the account
 * again.  Returns in the child only. */
static void fork_mail_process(struct monitor *mo, int rfd, int wfd)
{
	unsigned char print[ACCOUNT_PRINT_LEN];
	int ch[2];
	pid_t pid, me = getpid();
	if (account_print(&mo->s, print) < 0) {
		plog(LOG_ERR, "login refused: user=<%s> rip=%s: the account changed during the login",
		     mo->s.user, mo->s.conn.rip);
		_exit(1);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0)
		pfatal("socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		pfatal("fork: %s", strerror(errno));
	if (pid == 0) {
		close(ch[0]);
		if (getppid() != me)
			_exit(1);
		mo->s.parent_fd = ch[1];
		/* The pre-auth process is the parent's child, not ours. */
		mo->s.preauth_pid = 0;
		return;
	}
	close(ch[1]);
	close(rfd);
	if (wfd != rfd)
		close(wfd);
	monitor_parent(&mo->s, ch[0], pid, print);
}

/* A good login handed over: the monitor itself becomes the mail process
 * (after popa3d), so a session costs two processes, not three.  Nothing it
 * holds as root may survive the drop: the account's secrets are wiped,
 * the TLS keys' mapping replaced by zero pages, the shared log-rate table
 * unmapped.  Returns only if the hand-over message is malformed. */
void become_mail(struct monitor *mo, struct ipc_msg *m)
{
	int rfd, wfd, relay[2] = { -1, -1 };
	struct ipc_handoff h;

	if (ipc_decode_handoff(m, &h) < 0)
		return;
	/* Both come from the pre-auth process: the description goes into
	 * the log line, so only its plain characters are kept. */
	snprintf(mo->s.tls_info, sizeof(mo->s.tls_info), "%s", h.tls_info);
	for (char *c = mo->s.tls_info; *c; c++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/-", *c))
			*c = '?';
	snprintf(mo->s.auth_capa, sizeof(mo->s.auth_capa), "%s", h.capa);
	if (h.nfds == 0) {
		/* TLS: the pre-auth process relays between the client and a
		 * socketpair whose other end the mail process gets. */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, relay) < 0 ||
		    ipc_send_relay(mo->sock, relay[0]) < 0) {
			plog(LOG_ERR, "cannot set up the TLS relay: %s", strerror(errno));
			return;
		}
		close(relay[0]);
		rfd = wfd = relay[1];
		/* The relay outlives the mail process (it sends close_notify). */
		mo->s.preauth_pid = 0;
	} else {
		rfd = h.fds[0];
		wfd = h.nfds > 1 ? h.fds[1] : h.fds[0];
	}
	close(mo->sock);
	explicit_bzero(&mo->u, sizeof(mo->u));
	tls_keys_discard(mo->tls);
	limits_detach();
	if (mo->s.cfg->sleeping)
		fork_mail_process(mo, rfd, wfd);   /* returns in the child */
	drop_to_mail_user(mo->s.cfg, mo->s.uid, mo->s.gid);
	/* The root parent going means the session goes (set after the
	 * uid change, which clears it). */
	if (mo->s.parent_fd >= 0 && prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		pfatal("prctl: %s", strerror(errno));
	/* The message buffer is the mail process's now; only the pipelined
	 * input in field 0 is still needed, and mail_main copies it first. */
	mail_main(&mo->s, rfd, wfd, h.pending, h.npending);
}

static void monitor_init(const struct config *cfg, uid_t unpriv_uid, gid_t unpriv_gid,
			 struct tls_server *tls)
{
	struct monitor *mo = &the_monitor;
	memset(mo, 0, sizeof(*mo));
	mo->s.cfg = cfg;
	/* The server's values until a login looks up the user's. */
	mo->s.login_delay = cfg->login_delay;
	mo->s.expire = cfg->expire;
	mo->s.parent_fd = -1;
	mo->tls = tls;
	mo->s.unpriv_uid = unpriv_uid;
	mo->s.unpriv_gid = unpriv_gid;
	mo->sock = -1;
}

/* Fork the pre-auth process.  It drops to the unprivileged user in the
 * empty chroot at once and then waits for its connection (IPC_CONN), so
 * the drop can happen before a client exists (spare_sessions).  other: a
 * descriptor of the monitor's that the child must not keep, or -1. */
static int start_preauth(int other)
{
	struct monitor *mo = &the_monitor;
	int sv[2];
	pid_t pre;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		plog(LOG_ERR, "socketpair: %s", strerror(errno));
		return -1;
	}
	pre = fork();
	if (pre < 0) {
		plog(LOG_ERR, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pre == 0) {
		close(sv[0]);
		if (other >= 0)
			close(other);
		prctl(PR_SET_NAME, program_name(), 0, 0, 0);
		/* The log-rate table is the root processes' (the monitor logs
		 * failed handshakes for it): not writable from here. */
		limits_detach();
		drop_to_preauth(mo->s.cfg, mo->s.unpriv_uid, mo->s.unpriv_gid);
		preauth_wait(&mo->s, sv[1], mo->tls);
	}
	close(sv[1]);
	mo->sock = sv[0];
	mo->s.preauth_pid = pre;
	return 0;
}

/* Give the pre-auth process its client: the descriptors and what it needs
 * to know about the connection. */
static int send_conn(int rfd, int wfd)
{
	struct monitor *mo = &the_monitor;
	userext_scan(mo->s.cfg, &mo->s.conn.login_delay_user, &mo->s.conn.expire_user);
	return ipc_send_conn(mo->sock, &mo->s.conn, sizeof(mo->s.conn), rfd, wfd);
}

/* The pre-auth process's next message.  The monitor does not rely on it
 * to keep its own limits: past the login timeout (with a margin for the
 * TLS handshake it also bounds) or after max_login_failures failed
 * attempts it gets no more answers, and descriptors may only come with a
 * hand-over.  -1 ends the session. */
static int receive(struct monitor *mo, struct ipc_msg *m)
{
	const struct config *cfg = mo->s.cfg;
	/* The pre-auth process's own deadline covers the TLS handshake and
	 * every command, not its failure delays (d, 2d, ... n·d). */
	uint64_t n = cfg->max_login_failures, now;
	uint64_t deadline = mo->started + cfg->login_timeout_ms +
			    cfg->login_fail_delay_ms * n * (n + 1) / 2 + 5000;
	struct pollfd p = { mo->sock, POLLIN, 0 };
	int r;
	for (;;) {
		now = now_ms();
		if (now >= deadline) {
			plog(LOG_ERR, "pre-auth process outlived the login timeout: rip=%s; "
			     "ending the session", mo->s.conn.rip);
			kill(mo->s.preauth_pid, SIGKILL);
			return -1;
		}
		r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	return ipc_recv(mo->sock, m);
}

/* The next request: every message from the pre-auth process, the
 * hand-over behind a credential check included, comes under the same
 * deadline (receive()). */
static int next_request(struct monitor *mo, struct ipc_msg *m)
{
	const struct config *cfg = mo->s.cfg;
	if (receive(mo, m) < 0)
		return -1;
	if (m->type != IPC_HANDOFF)
		ipc_close_fds(m);
	if ((m->type == IPC_AUTH || m->type == IPC_SCRAM_FIRST) &&
	    mo->failures >= cfg->max_login_failures) {
		plog(LOG_ERR, "pre-auth process tried again after %u failed logins: rip=%s; "
		     "ending the session", mo->failures, mo->s.conn.rip);
		ipc_close_fds(m);
		kill(mo->s.preauth_pid, SIGKILL);
		return -1;
	}
	return 0;
}

/* Serve one connection with the pre-auth process already started. */
static int monitor_serve(int rfd, int wfd, const struct conn_start *st)
{
	struct monitor *mo = &the_monitor;
	int status, greeted = st->greeted, tls_listener = st->tls_listener;
	pid_t pre;
	struct ipc_msg *m, *h;
	struct ipc_tls_fail *tf;
	struct conn_origin inetd_origin;
	const struct conn_origin *o = &st->origin;

	if (st->proxy_inetd) {
		if (proxy_inetd(mo->s.cfg, rfd, &inetd_origin) < 0) {
			close(mo->sock);   /* the pre-auth process ends with it */
			while (waitpid(-1, &status, 0) > 0 || errno == EINTR)
				;
			return 1;
		}
		o = &inetd_origin;
	}
	m = xmalloc(sizeof(*m));
	h = xmalloc(sizeof(*h));
	tf = xmalloc(sizeof(*tf));
	mo->s.conn.tls_listener = tls_listener;
	mo->s.conn.ssl = st->ssl;
	mo->started = now_ms();
	session_peer(&mo->s, rfd, o);
	if (o->via[0])
		plog(LOG_INFO, "proxied: rip=%s via=%s%s%s", mo->s.conn.rip, o->via,
		     o->ssl[0] ? " proxy_ssl=" : "", o->ssl);
	{
		/* Every reply (and each TLS record) goes out at once: with Nagle a
		 * small write after unacknowledged data waits for the client's
		 * delayed ACK, 40 ms a time.  Not a socket (inetd pipes): no-op. */
		int one = 1;
		setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	make_greeting(&mo->s);
	if (greeted) {
		mo->s.conn.greeted = 1;   /* the master sent PLAIN_GREETING */
	} else if (!tls_listener) {
		mo->s.conn.greeted = write_all(wfd, mo->s.conn.greeting, strlen(mo->s.conn.greeting)) == 0;
	}
	if (send_conn(rfd, wfd) < 0) {
		/* A spare whose pre-auth process is gone: start a fresh one. */
		plog(LOG_WARNING, "pre-auth process %ld is gone; starting another",
		     (long)mo->s.preauth_pid);
		close(mo->sock);
		if (start_preauth(-1) < 0 || send_conn(rfd, wfd) < 0) {
			plog(LOG_ERR, "cannot start the pre-auth process: %s", strerror(errno));
			return 1;
		}
	}
	pre = mo->s.preauth_pid;
	/* Children are reaped by the kernel: the pre-auth process of a plain
	 * connection exits right after the hand-over, and after it the mail
	 * process (this one) has no use for its status. */
	signal(SIGCHLD, SIG_IGN);
	{
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0 && rfd <= 1)
			dup2(null, rfd);
		else
			close(rfd);
		if (wfd != rfd) {
			if (null >= 0 && wfd <= 1)
				dup2(null, wfd);
			else
				close(wfd);
		}
		if (null > 2)
			close(null);
	}

	while (next_request(mo, m) == 0) {
		if (m->type == IPC_AUTH) {
			if (receive(mo, h) < 0 || h->type != IPC_HANDOFF) {
				plog(LOG_ERR, "pre-auth process sent no hand-over with its "
				     "credentials; ending the session");
				ipc_close_fds(h);
				kill(pre, SIGKILL);
				break;
			}
			handle_auth(mo, m, h);
		} else if (m->type == IPC_SCRAM_FIRST) {
			handle_scram_first(mo, m);
		} else if (m->type == IPC_SCRAM_FINAL) {
			handle_scram_final(mo, m);
		} else if (m->type == IPC_TLS_FAIL && ipc_decode_tls_fail(m, tf) == 0) {
			unsigned suppressed;
			char why[200];
			char more[32] = "";
			if (limits_log_allow(mo->s.conn.rip, time(NULL), &suppressed)) {
				if (suppressed)
					snprintf(more, sizeof(more), " (%u more not logged)", suppressed);
				plog(LOG_NOTICE, "TLS handshake failed: rip=%s reason=%s%s", mo->s.conn.rip,
				     log_text(why, sizeof(why), tf->why, strlen(tf->why)), more);
			}
		} else if (m->type == IPC_HANDOFF && mo->authed) {
			become_mail(mo, m);
			kill(pre, SIGKILL);
			break;
		} else {
			plog(LOG_ERR, "pre-auth process sent an unexpected message (type %u); "
			     "ending the session", m->type);
			ipc_close_fds(m);
			kill(pre, SIGKILL);
			break;
		}
	}
	close(mo->sock);
	explicit_bzero(&mo->u, sizeof(mo->u));
	free(m);
	free(h);
	free(tf);
	/* The session ended in AUTHORIZATION (or its hand-over failed): wait
	 * for the pre-auth process, then end with it. */
	while (waitpid(-1, &status, 0) > 0 || errno == EINTR)
		;
	return 0;
}

int monitor_run(const struct config *cfg, int rfd, int wfd, const struct conn_start *st,
		uid_t unpriv_uid, gid_t unpriv_gid, struct tls_server *tls)
{
	monitor_init(cfg, unpriv_uid, unpriv_gid, tls);
	if (start_preauth(-1) < 0)
		return 1;
	return monitor_serve(rfd, wfd, st);
}

/* A spare: start the pre-auth process now and wait for the master to hand
 * over a connection on chan (IPC_ACCEPT: flags "<tls><greeted>" and the
 * socket).  The master closing chan retires the spare. */
int monitor_spare(const struct config *cfg, int chan, uid_t unpriv_uid, gid_t unpriv_gid,
		  struct tls_server *tls)
{
	struct monitor *mo = &the_monitor;
	struct ipc_msg *m;
	struct ipc_accept a;
	struct conn_start st;
	struct pollfd p[2];

	/* "postern-spare" in ps(1) until a client comes (the master set it
	 * right after the fork); the pre-auth process is "postern" at once. */
	monitor_init(cfg, unpriv_uid, unpriv_gid, tls);
	if (start_preauth(chan) < 0)
		return 1;
	{
		/* Off the client's path: send_conn then only checks the file. */
		int d, e;
		userext_scan(cfg, &d, &e);
	}
	p[0].fd = chan;
	p[0].events = POLLIN;
	p[1].fd = mo->sock;        /* readable or hung up: the pre-auth process died */
	p[1].events = POLLIN;
	while (poll(p, 2, -1) < 0)
		if (errno != EINTR)
			return 1;
	m = xmalloc(sizeof(*m));
	if (!(p[0].revents & POLLIN) || ipc_recv(chan, m) < 0) {
		/* Retired (reload, stop) or broken: the pre-auth process sees
		 * its socket close and exits too. */
		free(m);
		close(mo->sock);
		waitpid(mo->s.preauth_pid, NULL, 0);
		return p[1].revents ? 1 : 0;
	}
	close(chan);
	if (ipc_decode_accept(m, &a) < 0) {
		plog(LOG_ERR, "spare: malformed hand-over from the master");
		ipc_close_fds(m);
		free(m);
		return 1;
	}
	free(m);
	memset(&st, 0, sizeof(st));
	st.tls_listener = a.tls;
	st.greeted = a.greeted;
	st.ssl = a.ssl;
	if (a.origin_len == sizeof(st.origin))
		memcpy(&st.origin, a.origin, sizeof(st.origin));
	prctl(PR_SET_NAME, program_name(), 0, 0, 0);
	return monitor_serve(a.fd, a.fd, &st);
}
