/* master.c - the standalone master, root: takes its listeners (listen.c),
 * admits each client within the global and per-source limits (limits.c),
 * closing the oldest session that has not logged in when the pre-auth
 * slots are full, keeps spare connection processes forked ahead and hands
 * each accepted socket to one (or forks a connection monitor), reaps
 * children, reloads on SIGHUP, stops on SIGTERM, and tells the service
 * manager (sdnotify.c).  It never parses client input and never dies of a
 * session's failure. */
#include "heap.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "srclimits.h"
#include "listen.h"
#include "proxy_wait.h"
#include "sandbox.h"
#include "sdnotify.h"
#include "session.h"
#include "tls.h"
#include "util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
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

struct child {
	pid_t pid;
	unsigned char key[LIMITS_KEY];  /* source: IPv4 address or IPv6 /64 */
	char rip[64];
	uint64_t seq;            /* order of acceptance: the oldest is evicted first */
	unsigned char authed;    /* its monitor reported a login */
	unsigned char evicted;   /* killed to make room; no longer counted */
};

/* A spare connection process: a monitor whose pre-auth process is already
 * started and confined, waiting on chan for a client (spare_sessions). */
struct spare {
	pid_t pid;
	int chan;
};

static struct {
	struct config cfg;
	const char *cfgpath;
	struct listener l[LISTEN_MAX];
	int nl;
	struct child *kids;
	unsigned nkids, capkids;
	unsigned nauthed, nevicted;      /* of the kids */
	unsigned orphans;        /* evicted pre-auth processes not reaped yet */
	uint64_t seq;
	struct tls_server *tls;
	uid_t unpriv_uid;
	gid_t unpriv_gid;
	int sigpipe[2];
	int from_systemd;        /* listeners belong to systemd: never rebind */
	struct spare spares[CONF_MAX_SPARES];
	unsigned nspares;
	uint64_t spares_paused_until;   /* ms: a spare died idle; do not fork-loop */
	uint64_t status_sent;           /* ms: last STATUS= to the service manager */
	unsigned status_kids, status_authed;
} M;

static void on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int e = errno;
	ssize_t w = write(M.sigpipe[1], &c, 1);
	(void)w;
	errno = e;
}

/* Sessions that count against the limits (an evicted one is on its way
 * out), and those of them not logged in yet. */
static unsigned live(void)
{
	return M.nkids - M.nevicted + proxy_wait_count();   /* + those awaiting a PROXY header */
}

static unsigned preauth_count(void)
{
	return live() - M.nauthed;
}

static unsigned preauth_limit(void)
{
	if (M.cfg.max_preauth_sessions)
		return M.cfg.max_preauth_sessions;
	return M.cfg.max_sessions ? (M.cfg.max_sessions + 1) / 2 : 0;
}

/* Logins the monitors reported: those sessions are never evicted.  Only a
 * pid the kernel vouches for, and only one of our sessions, is marked. */
static void note_logins(void)
{
	pid_t pid;
	while ((pid = limits_next_login()) > 0)
		for (unsigned i = 0; i < M.nkids; i++)
			if (M.kids[i].pid == pid && !M.kids[i].authed && !M.kids[i].evicted) {
				M.kids[i].authed = 1;
				M.nauthed++;
				break;
			}
}

/* Close the oldest session that has not logged in (its monitor and
 * pre-auth process: the session's process group), to admit a new client.
 * 0 if there is none. */
static int evict_oldest(const char *newrip)
{
	struct child *old = NULL;
	for (unsigned i = 0; i < M.nkids; i++) {
		struct child *k = &M.kids[i];
		if (!k->authed && !k->evicted && (!old || k->seq < old->seq))
			old = k;
	}
	if (!old)
		return 0;
	if (kill(-old->pid, SIGKILL) < 0 && kill(old->pid, SIGKILL) < 0)
		return 0;
	old->evicted = 1;
	M.nevicted++;
	M.orphans++;   /* its pre-auth process, reaped here as an orphan */
	if (limits_log_refusal(old->key, time(NULL)))
		plog(LOG_WARNING, "unauthenticated connection closed to admit another: rip=%s "
		     "limit=max_preauth_sessions new=%s (logged once a minute per source)",
		     old->rip, newrip);
	return 1;
}

/* NULL to accept the connection (after closing the oldest session that
 * has not logged in when the pre-auth slots are full); otherwise the limit
 * that refuses it.  The slots above max_preauth_sessions are so kept for
 * sessions that log in. */
static const char *admit(const unsigned char key[LIMITS_KEY], const char *txt, int local)
{
	unsigned same = 0, i, lim = preauth_limit();
	const char *why;
	for (i = 0; i < M.nkids; i++)
		if (!M.kids[i].evicted && memcmp(M.kids[i].key, key, LIMITS_KEY) == 0)
			same++;
	why = limits_admit(&M.cfg, key, same, local, time(NULL));
	if (!why && lim && preauth_count() >= lim) {
		note_logins();   /* a login in flight must not be taken for idle */
		if (preauth_count() >= lim && !evict_oldest(txt))
			why = "max_preauth_sessions";
	}
	if (!why && M.cfg.max_sessions && live() >= M.cfg.max_sessions)
		why = "max_sessions";
	if (why && limits_log_refusal(key, time(NULL)))
		plog(LOG_WARNING, "connection refused: rip=%s limit=%s (logged once a minute "
		     "per source)", txt, why);
	return why;
}

static void reap(void)
{
	pid_t pid;
	int status;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		unsigned i;
		int spare = 0;
		for (i = 0; i < M.nspares; i++)
			if (M.spares[i].pid == pid) {
				spare = 1;
				/* Idle spares end only when something is wrong (the
				 * pre-auth process could not start, or a kill). */
				plog(LOG_WARNING, "spare connection process %ld ended before a "
				     "client came; new spares in 1 s", (long)pid);
				close(M.spares[i].chan);
				M.spares[i] = M.spares[--M.nspares];
				M.spares_paused_until = now_ms() + 1000;
				break;
			}
		if (spare)
			continue;
		int known = 0, quiet = 0;
		for (i = 0; i < M.nkids; i++)
			if (M.kids[i].pid == pid) {
				known = 1;
				quiet = M.kids[i].evicted;   /* killed here: logged already */
				M.nevicted -= M.kids[i].evicted;
				M.nauthed -= M.kids[i].authed;
				M.kids[i] = M.kids[--M.nkids];
				break;
			}
		if (!known && M.orphans && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			M.orphans--;   /* an evicted session's pre-auth process */
			quiet = 1;
		}
		if (WIFSIGNALED(status) && !quiet)
			plog(LOG_WARNING, "session process %ld killed by signal %d", (long)pid,
			     WTERMSIG(status));
	}
}

/* In a child of the master: default signals, none of the master's
 * descriptors (listeners, signal pipe, the spares' channels). */
static void child_setup(void)
{
	struct sigaction sa;
	unsigned i;
	int j;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (j = 0; j < M.nl; j++)
		close(M.l[j].fd);
	close(M.sigpipe[0]);
	close(M.sigpipe[1]);
	limits_forked();
	proxy_wait_forked();
	for (i = 0; i < M.nspares; i++)
		close(M.spares[i].chan);
}

/* Start spares up to spare_sessions.  Called from the main loop, after a
 * client was served, so the fork is off that client's path. */
static void spares_fill(void)
{
	while (M.nspares < M.cfg.spare_sessions && now_ms() >= M.spares_paused_until) {
		int ch[2];
		pid_t pid;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0) {
			plog(LOG_ERR, "spare: socketpair: %s", strerror(errno));
			M.spares_paused_until = now_ms() + 1000;
			return;
		}
		pid = fork();
		if (pid < 0) {
			plog(LOG_ERR, "spare: fork: %s", strerror(errno));
			close(ch[0]);
			close(ch[1]);
			M.spares_paused_until = now_ms() + 1000;
			return;
		}
		if (pid == 0) {
			/* A group of its own: an eviction kills the monitor and its
			 * pre-auth process together. */
			if (setpgid(0, 0) < 0)
				plog(LOG_WARNING, "spare: setpgid: %s", strerror(errno));
			prctl(PR_SET_NAME, "postern-spare", 0, 0, 0);
			close(ch[0]);
			child_setup();
			_exit(monitor_spare(&M.cfg, ch[1], M.unpriv_uid, M.unpriv_gid, M.tls));
		}
		close(ch[1]);
		/* also here, so the group exists before anyone signals it (the
		 * child may have done it already: EACCES is not possible
		 * without exec, ESRCH when it died at once) */
		if (setpgid(pid, pid) < 0 && errno != ESRCH)
			plog(LOG_WARNING, "spare: setpgid: %s", strerror(errno));
		M.spares[M.nspares].pid = pid;
		M.spares[M.nspares].chan = ch[0];
		M.nspares++;
	}
}

/* Retire every spare (reload: they carry the old configuration and
 * certificates).  Each sees its channel close and exits; reap() does not
 * count them any more. */
static void spares_retire(void)
{
	while (M.nspares > 0)
		close(M.spares[--M.nspares].chan);
}

/* Hand fd to a spare.  Returns its pid, which is now a session like any
 * forked one, or -1 when there is no spare that took it. */
static pid_t spare_take(int fd, const struct conn_start *st)
{
	static struct ipc_accept a;
	memset(&a, 0, sizeof(a));
	a.tls = st->tls_listener;
	a.greeted = st->greeted;
	a.ssl = st->ssl;
	a.fd = fd;
	if (st->origin.via[0]) {   /* a PROXY header was read */
		_Static_assert(sizeof(st->origin) <= IPC_ORIGIN_MAX, "origin fits IPC_ACCEPT");
		memcpy(a.origin, &st->origin, sizeof(st->origin));
		a.origin_len = sizeof(st->origin);
	}
	while (M.nspares > 0) {
		struct spare sp = M.spares[--M.nspares];
		int rc = ipc_send_accept(sp.chan, &a);
		close(sp.chan);
		if (rc == 0)
			return sp.pid;
		/* It died and is not reaped yet: try the next one. */
	}
	return -1;
}

/* Admit fd (the client at ss; o: what its PROXY header said, or NULL) and
 * hand it to a spare or a forked connection monitor. */
static void dispatch(int fd, const struct listener *l, const struct sockaddr_storage *ss,
		     const struct conn_origin *o)
{
	unsigned char key[LIMITS_KEY];
	char txt[64];
	pid_t pid;
	struct conn_start st;

	memset(&st, 0, sizeof(st));
	st.tls_listener = l->tls;
	st.ssl = l->ssl >= 0 ? l->ssl : (int)M.cfg.ssl;
	if (o) {
		st.origin = *o;
		if (o->proxied)
			ss = &o->src;   /* the client, for the per-source limits */
	}
	limits_source(ss, key, txt, sizeof(txt));
	if (admit(key, txt, sockaddr_is_loopback(ss) && M.cfg.loopback_is_local)) {
		static const char msg[] = "-ERR [SYS/TEMP] too many connections, try again later\r\n";
		/* On an implicit-TLS port a plaintext line would only be a TLS
		 * error to the client (and a handshake costs what the limit is
		 * there to save): just close. */
		if (!l->tls) {
			ssize_t w = send(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			(void)w;
		}
		close(fd);
		return;
	}
	if (!l->tls && !M.cfg.apop) {
		/* Constant text, nothing read: the client can answer it while
		 * the fork runs.  A fresh socket takes 19 bytes whole or not. */
		st.greeted = send(fd, PLAIN_GREETING, sizeof(PLAIN_GREETING) - 1,
				  MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(PLAIN_GREETING) - 1;
	}
	pid = spare_take(fd, &st);
	if (pid < 0)
		pid = fork();
	if (pid < 0) {
		plog(LOG_ERR, "fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid == 0) {
		if (setpgid(0, 0) < 0)
			plog(LOG_WARNING, "setpgid: %s", strerror(errno));
		child_setup();
		fcntl(fd, F_SETFD, 0);
		_exit(monitor_run(&M.cfg, fd, fd, &st, M.unpriv_uid, M.unpriv_gid,
				  l->tls || M.cfg.ssl != CONF_SSL_OFF ? M.tls : NULL));
	}
	close(fd);
	if (setpgid(pid, pid) < 0 && errno != ESRCH)   /* a spare: set already, again */
		plog(LOG_WARNING, "setpgid: %s", strerror(errno));
	if (M.nkids == M.capkids) {
		M.capkids = M.capkids ? M.capkids * 2 : 64;
		M.kids = xrealloc(M.kids, M.capkids * sizeof(*M.kids));
	}
	memset(&M.kids[M.nkids], 0, sizeof(M.kids[0]));
	M.kids[M.nkids].pid = pid;
	memcpy(M.kids[M.nkids].key, key, LIMITS_KEY);
	snprintf(M.kids[M.nkids].rip, sizeof(M.kids[0].rip), "%s", txt);
	M.kids[M.nkids].seq = ++M.seq;
	M.nkids++;
}

/* A PROXY header came complete (proxy_wait.c): the connection is now the
 * client's own, at the address the header gives. */
static void proxied(int fd, const struct listener *l, const struct conn_origin *o)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (!o->proxied && getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);   /* gone already */
		return;
	}
	dispatch(fd, l, &ss, o);
}

/* proxy=yes: the header is read in the poll loop (proxy_wait.c); the
 * waiting count against max_sessions and max_preauth_sessions. */
static void await_header(int fd, const struct listener *l, const struct sockaddr_storage *ss)
{
	proxy_wait_accept(&M.cfg, fd, l, ss, preauth_limit(),
			  M.cfg.max_sessions && live() >= M.cfg.max_sessions, proxied);
}

static void serve(const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	memset(&ss, 0, sizeof(ss));
	fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			plog(LOG_ERR, "accept: %s", strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			sleep_ms(100);
		return;
	}
	if (l->proxy)
		await_header(fd, l, &ss);
	else
		dispatch(fd, l, &ss, NULL);
}

static int load_tls(const struct config *cfg, struct tls_server **out)
{
	char err[512];
	*out = NULL;
	if (cfg->ncerts == 0 || cfg->ssl == CONF_SSL_OFF)
		return 0;
	*out = tls_server_new(cfg, err, sizeof(err));
	if (!*out) {
		plog(LOG_ERR, "TLS: %s", err);
		return -1;
	}
	tls_server_warm(*out, cfg);
	return 0;
}

static int reload_config(void)
{
	struct config nc;
	struct tls_server *nt;
	char err[512];
	config_defaults(&nc);
	if (config_load(&nc, M.cfgpath, err, sizeof(err)) < 0 ||
	    config_check(&nc, err, sizeof(err)) < 0) {
		plog(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
		return -1;
	}
	if (load_tls(&nc, &nt) < 0) {
		plog(LOG_ERR, "reload failed, keeping the running configuration and certificates");
		return -1;
	}
	if (M.from_systemd) {
		/* systemd owns the sockets; only the options of listen lines apply. */
		listen_options(&nc, M.l, M.nl);
	} else if (nc.nlisten != M.cfg.nlisten ||
	    memcmp(nc.listen, M.cfg.listen, sizeof(nc.listen[0]) * (size_t)nc.nlisten) != 0) {
		struct listener nl[LISTEN_MAX];
		int n;
		listen_close_all(M.l, &M.nl);
		if (listen_bind_all(&nc, nl, &n, err, sizeof(err)) < 0) {
			plog(LOG_ERR, "reload: cannot bind %s; trying the old addresses", err);
			if (listen_bind_all(&M.cfg, nl, &n, err, sizeof(err)) < 0)
				pfatal("cannot bind the old addresses either: %s", err);
			memcpy(M.l, nl, sizeof(nl[0]) * (size_t)n);
			M.nl = n;
			tls_server_free(nt);
			return -1;
		}
		memcpy(M.l, nl, sizeof(nl[0]) * (size_t)n);
		M.nl = n;
	}
	tls_server_free(M.tls);
	M.tls = nt;
	M.cfg = nc;
	spares_retire();
	plog(LOG_INFO, "configuration reloaded from %s", M.cfgpath);
	return 0;
}

/* SIGHUP.  The heap's holes are unplugged around it so what the old
 * configuration frees can be reused, then plugged again.  The service
 * manager hears RELOADING=1 before and READY=1 after. */
static void reload(void)
{
	sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration\n",
		 sdnotify_monotonic_usec());
	int rc;
	heap_unplug();
	rc = reload_config();
	heap_plug();
	if (rc < 0) {
		sdnotify("READY=1\nSTATUS=reload failed, running on (see the log); "
			 "%u sessions (%u logged in)\n", live(), M.nauthed);
		M.status_sent = now_ms();   /* shown for a second at least */
		return;
	}
	M.status_sent = 0;
	M.status_kids = live();
	M.status_authed = M.nauthed;
	sdnotify("READY=1\nSTATUS=%u sessions (%u logged in)\n", live(), M.nauthed);
}

/* STATUS= for systemctl status when the counts changed, at most once a
 * second.  Returns the poll timeout that brings the next one (-1: none). */
static int status_update(void)
{
	uint64_t now = now_ms();
	note_logins();
	if (live() == M.status_kids && M.nauthed == M.status_authed)
		return -1;
	if (M.status_sent && now < M.status_sent + 1000)
		return (int)(M.status_sent + 1000 - now);
	M.status_kids = live();
	M.status_authed = M.nauthed;
	M.status_sent = now;
	sdnotify("STATUS=%u sessions (%u logged in)\n", M.status_kids, M.status_authed);
	return -1;
}

int master_run(const struct config *cfg, const char *cfgpath)
{
	struct sigaction sa;
	char err[512];
	int i;

	M.cfg = *cfg;
	M.cfgpath = cfgpath;
	(void)program_name();   /* cached before any child renames itself */
	sdnotify_init();
	if (resolve_unpriv(&M.cfg, &M.unpriv_uid, &M.unpriv_gid) < 0)
		return 1;
	if (load_tls(&M.cfg, &M.tls) < 0)
		return 1;
	if (M.cfg.seccomp)
		sandbox_prepare();
	limits_init();
	if (listen_systemd(&M.cfg, M.l, &M.nl)) {
		M.from_systemd = 1;
	} else {
		if (M.cfg.nlisten == 0) {
			plog(LOG_ERR, "no listen addresses configured");
			return 1;
		}
		if (listen_bind_all(&M.cfg, M.l, &M.nl, err, sizeof(err)) < 0) {
			plog(LOG_ERR, "cannot listen on %s", err);
			return 1;
		}
	}
	for (i = 0; i < M.nl; i++)
		if (M.l[i].tls && !M.tls) {
			plog(LOG_ERR, "an implicit-TLS listener needs ssl_cert/ssl_key");
			return 1;
		}
	if (pipe2(M.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		pfatal("pipe: %s", strerror(errno));
	/* A TLS relay is the child of its mail process and may outlive it by
	 * the moment it takes to flush and close; orphans come back here to be
	 * reaped instead of relying on whatever init the host has.  (Linux
	 * only; without it init reaps them.) */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		plog(LOG_WARNING, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	plog(LOG_INFO, "postern started, %d listener(s)", M.nl);
	heap_plug();
	sdnotify("READY=1\nSTATUS=%u sessions (%u logged in)\n", 0u, 0u);

	for (;;) {
		static struct pollfd p[LISTEN_MAX + 2 + PROXY_PENDING_MAX];
		unsigned char sig;
		int wait = status_update(), np, nw, pw;
		spares_fill();
		if (M.nspares < M.cfg.spare_sessions && (wait < 0 || wait > 1000))
			wait = 1000;   /* paused after a failure: try again then */
		pw = proxy_wait_timeout(now_ms());
		if (pw >= 0 && (wait < 0 || pw < wait))
			wait = pw;
		p[0].fd = M.sigpipe[0];
		p[0].events = POLLIN;
		p[1].fd = limits_report_fd();   /* logins: for the STATUS= line */
		p[1].events = POLLIN;
		np = 2;
		for (i = 0; i < M.nl; i++) {
			p[np].fd = M.l[i].fd;
			p[np++].events = POLLIN;
		}
		nw = proxy_wait_pollfds(p + np);   /* none unless a listener has proxy=yes */
		if (poll(p, (nfds_t)np + (nfds_t)nw, wait) < 0) {
			if (errno != EINTR)
				plog(LOG_ERR, "poll: %s", strerror(errno));
			continue;
		}
		while (read(M.sigpipe[0], &sig, 1) == 1) {
			if (sig == SIGCHLD) {
				reap();
			} else if (sig == SIGHUP) {
				reload();
			} else if (sig == SIGTERM || sig == SIGINT) {
				sdnotify("STOPPING=1\nSTATUS=stopping; %u sessions finish on their own\n",
					 live());
				listen_close_all(M.l, &M.nl);
				plog(LOG_INFO, "postern stopping (sessions in progress finish on their own)");
				return 0;
			}
		}
		reap();
		note_logins();
		if (nw || proxy_wait_count())
			proxy_wait_run(p + np, nw, now_ms(), proxied);
		for (i = 0; i < M.nl; i++)
			if (p[i + 2].revents & POLLIN)
				serve(&M.l[i]);
	}
}
