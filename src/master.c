/* master.c - the standalone master: runs as root, binds the listeners (or
 * takes systemd's), enforces global and per-source limits, forks one
 * connection monitor per accepted socket, reaps children, reloads on SIGHUP
 * and stops on SIGTERM.  It never parses client input and never dies of a
 * session's failure. */
#include "heap.h"
#include "ipc.h"
#include "log.h"
#include "master.h"
#include "ratelog.h"
#include "sandbox.h"
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

struct listener {
	int fd;
	int tls;
};

struct child {
	pid_t pid;
	unsigned char key[16];   /* source: IPv4 address or IPv6 /64 */
};

struct rate {
	unsigned char key[16];
	time_t window;           /* minute the count belongs to */
	unsigned count;
	time_t logged;           /* last minute a limit was logged */
};

#define RATE_SLOTS 4096

/* A spare connection process: a monitor whose pre-auth process is already
 * started and confined, waiting on chan for a client (spare_sessions). */
struct spare {
	pid_t pid;
	int chan;
};

static struct {
	struct config cfg;
	const char *cfgpath;
	struct listener l[CONF_MAX_LISTEN * 2];
	int nl;
	struct child *kids;
	unsigned nkids, capkids;
	struct rate *rates;
	struct tls_server *tls;
	uid_t unpriv_uid;
	gid_t unpriv_gid;
	int sigpipe[2];
	int from_systemd;        /* listeners belong to systemd: never rebind */
	struct spare spares[CONF_MAX_SPARES];
	unsigned nspares;
	uint64_t spares_paused_until;   /* ms: a spare died idle; do not fork-loop */
} M;

static void on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int e = errno;
	ssize_t w = write(M.sigpipe[1], &c, 1);
	(void)w;
	errno = e;
}

static int bind_one(const struct listen_addr *la, struct listener *out, char *err, size_t cap)
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
		    listen(fd, (int)M.cfg.listen_backlog) == 0)
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
	return 0;
}

static int bind_all(const struct config *cfg, struct listener *l, int *nl, char *err, size_t cap)
{
	int i;
	*nl = 0;
	for (i = 0; i < cfg->nlisten; i++) {
		if (bind_one(&cfg->listen[i], &l[*nl], err, cap) < 0) {
			while (*nl > 0)
				close(l[--*nl].fd);
			return -1;
		}
		(*nl)++;
	}
	return 0;
}

/* systemd socket activation (sd_listen_fds(3) without libsystemd): fds
 * from 3; a socket is implicit TLS when its name (FileDescriptorName=) is
 * "pop3s" or its port is one of listen_tls's. */
static int take_systemd_sockets(void)
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
	if (errno || end == fds || *end || n <= 0 || n > CONF_MAX_LISTEN * 2)
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
		M.l[i].fd = fd;
		M.l[i].tls = strcmp(name, "pop3s") == 0;
		for (j = 0; j < M.cfg.nlisten; j++)
			if (M.cfg.listen[j].tls && M.cfg.listen[j].port == port)
				M.l[i].tls = 1;
	}
	M.nl = (int)n;
	M.from_systemd = 1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	plog(LOG_INFO, "using %d socket(s) from systemd", M.nl);
	return 1;
}

static void source_key(const struct sockaddr_storage *ss, unsigned char key[16], char *txt,
		       size_t cap)
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		memcpy(key, &a->sin_addr, 4);
		inet_ntop(AF_INET, &a->sin_addr, txt, (socklen_t)cap);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			memcpy(key, a->sin6_addr.s6_addr + 12, 4);
			inet_ntop(AF_INET, a->sin6_addr.s6_addr + 12, txt, (socklen_t)cap);
		} else {
			key[15] = 6;
			memcpy(key, a->sin6_addr.s6_addr, 8);  /* the /64 */
			inet_ntop(AF_INET6, &a->sin6_addr, txt, (socklen_t)cap);
		}
	} else {
		snprintf(txt, cap, "local");
	}
}

static struct rate *rate_slot(const unsigned char key[16], time_t minute)
{
	uint64_t h = 1469598103934665603ULL;
	int i;
	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	for (i = 0; i < 8; i++) {
		struct rate *r = &M.rates[(h + (uint64_t)i) % RATE_SLOTS];
		if (memcmp(r->key, key, 16) == 0)
			return r;
		if (r->window < minute - 1) {
			memset(r, 0, sizeof(*r));
			memcpy(r->key, key, 16);
			return r;
		}
	}
	/* Table crowded: share the first slot (limits stay conservative). */
	return &M.rates[h % RATE_SLOTS];
}

/* 0 to accept; otherwise the connection is refused with a reason.  The
 * per-source limits do not apply to loopback clients (as Postfix exempts
 * $mynetworks): on this host they are a webmail or a TLS proxy speaking
 * for many users, or the administrator. */
static const char *over_limit(const unsigned char key[16], const char *txt, int local)
{
	time_t minute = time(NULL) / 60;
	struct rate *r = rate_slot(key, minute);
	unsigned same = 0, i;
	const char *why = NULL;

	if (r->window != minute) {
		r->window = minute;
		r->count = 0;
	}
	r->count++;
	for (i = 0; i < M.nkids; i++)
		if (memcmp(M.kids[i].key, key, 16) == 0)
			same++;
	if (M.cfg.max_sessions && M.nkids >= M.cfg.max_sessions)
		why = "max_sessions";
	else if (local)
		why = NULL;
	else if (M.cfg.max_sessions_per_source && same >= M.cfg.max_sessions_per_source)
		why = "max_sessions_per_source";
	else if (M.cfg.max_conn_rate_per_source && r->count > M.cfg.max_conn_rate_per_source)
		why = "max_conn_rate_per_source";
	if (why && r->logged != minute) {
		r->logged = minute;
		plog(LOG_WARNING, "connection refused: rip=%s limit=%s (logged once a minute "
		     "per source)", txt, why);
	}
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
		for (i = 0; i < M.nkids; i++)
			if (M.kids[i].pid == pid) {
				M.kids[i] = M.kids[--M.nkids];
				break;
			}
		if (WIFSIGNALED(status))
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
			prctl(PR_SET_NAME, "postern-spare", 0, 0, 0);
			close(ch[0]);
			child_setup();
			_exit(monitor_spare(&M.cfg, ch[1], M.unpriv_uid, M.unpriv_gid, M.tls));
		}
		close(ch[1]);
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
static pid_t spare_take(int fd, int tls, int greeted)
{
	while (M.nspares > 0) {
		struct spare sp = M.spares[--M.nspares];
		struct ipc_accept a = { tls, greeted, fd };
		int rc = ipc_send_accept(sp.chan, &a);
		close(sp.chan);
		if (rc == 0)
			return sp.pid;
		/* It died and is not reaped yet: try the next one. */
	}
	return -1;
}

static void serve(const struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	unsigned char key[16];
	char txt[64];
	int fd;
	pid_t pid;
	int greeted = 0;

	memset(&ss, 0, sizeof(ss));
	fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			plog(LOG_ERR, "accept: %s", strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			sleep_ms(100);
		return;
	}
	source_key(&ss, key, txt, sizeof(txt));
	if (over_limit(key, txt, sockaddr_is_loopback(&ss) && M.cfg.loopback_is_local)) {
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
		greeted = send(fd, PLAIN_GREETING, sizeof(PLAIN_GREETING) - 1,
			       MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(PLAIN_GREETING) - 1;
	}
	pid = spare_take(fd, l->tls, greeted);
	if (pid < 0)
		pid = fork();
	if (pid < 0) {
		plog(LOG_ERR, "fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid == 0) {
		child_setup();
		fcntl(fd, F_SETFD, 0);
		_exit(monitor_run(&M.cfg, fd, fd, l->tls, greeted, M.unpriv_uid, M.unpriv_gid,
				  l->tls || M.cfg.ssl != CONF_SSL_OFF ? M.tls : NULL));
	}
	close(fd);
	if (M.nkids == M.capkids) {
		M.capkids = M.capkids ? M.capkids * 2 : 64;
		M.kids = xrealloc(M.kids, M.capkids * sizeof(*M.kids));
	}
	M.kids[M.nkids].pid = pid;
	memcpy(M.kids[M.nkids].key, key, 16);
	M.nkids++;
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

static void reload_config(void)
{
	struct config nc;
	struct tls_server *nt;
	char err[512];
	config_defaults(&nc);
	if (config_load(&nc, M.cfgpath, err, sizeof(err)) < 0 ||
	    config_check(&nc, err, sizeof(err)) < 0) {
		plog(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
		return;
	}
	if (load_tls(&nc, &nt) < 0) {
		plog(LOG_ERR, "reload failed, keeping the running configuration and certificates");
		return;
	}
	if (M.from_systemd) {
		/* systemd owns the sockets; listen lines do not apply. */
	} else if (nc.nlisten != M.cfg.nlisten ||
	    memcmp(nc.listen, M.cfg.listen, sizeof(nc.listen[0]) * (size_t)nc.nlisten) != 0) {
		struct listener nl[CONF_MAX_LISTEN * 2];
		int n, i;
		for (i = 0; i < M.nl; i++)
			close(M.l[i].fd);
		if (bind_all(&nc, nl, &n, err, sizeof(err)) < 0) {
			plog(LOG_ERR, "reload: cannot bind %s; trying the old addresses", err);
			if (bind_all(&M.cfg, nl, &n, err, sizeof(err)) < 0)
				pfatal("cannot bind the old addresses either: %s", err);
			tls_server_free(nt);
			return;
		}
		memcpy(M.l, nl, sizeof(nl[0]) * (size_t)n);
		M.nl = n;
	}
	tls_server_free(M.tls);
	M.tls = nt;
	M.cfg = nc;
	spares_retire();
	plog(LOG_INFO, "configuration reloaded from %s", M.cfgpath);
}

/* SIGHUP.  The heap's holes are unplugged around it so what the old
 * configuration frees can be reused, then plugged again. */
static void reload(void)
{
	heap_unplug();
	reload_config();
	heap_plug();
}

int master_run(const struct config *cfg, const char *cfgpath)
{
	struct sigaction sa;
	char err[512];
	int i;

	M.cfg = *cfg;
	M.cfgpath = cfgpath;
	(void)program_name();   /* cached before any child renames itself */
	M.rates = xcalloc(RATE_SLOTS, sizeof(*M.rates));
	if (resolve_unpriv(&M.cfg, &M.unpriv_uid, &M.unpriv_gid) < 0)
		return 1;
	if (load_tls(&M.cfg, &M.tls) < 0)
		return 1;
	if (M.cfg.seccomp)
		sandbox_prepare();
	ratelog_init();
	if (!take_systemd_sockets()) {
		if (M.cfg.nlisten == 0) {
			plog(LOG_ERR, "no listen addresses configured");
			return 1;
		}
		if (bind_all(&M.cfg, M.l, &M.nl, err, sizeof(err)) < 0) {
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

	for (;;) {
		struct pollfd p[CONF_MAX_LISTEN * 2 + 1];
		unsigned char sig;
		int wait = -1;
		spares_fill();
		if (M.nspares < M.cfg.spare_sessions)
			wait = 1000;   /* paused after a failure: try again then */
		p[0].fd = M.sigpipe[0];
		p[0].events = POLLIN;
		for (i = 0; i < M.nl; i++) {
			p[i + 1].fd = M.l[i].fd;
			p[i + 1].events = POLLIN;
		}
		if (poll(p, (nfds_t)M.nl + 1, wait) < 0) {
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
				for (i = 0; i < M.nl; i++)
					close(M.l[i].fd);
				plog(LOG_INFO, "postern stopping (sessions in progress finish on their own)");
				return 0;
			}
		}
		reap();
		for (i = 0; i < M.nl; i++)
			if (p[i + 1].revents & POLLIN)
				serve(&M.l[i]);
	}
}
