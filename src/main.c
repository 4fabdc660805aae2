/* main.c - command line, configuration, and the choice of mode: inetd (one
 * session on stdin/stdout) or the standalone master.  Starts as root. */
#include "config.h"
#include "confcheck.h"
#include "log.h"
#include "master.h"
#include "passdb.h"
#include "session.h"
#include "tls.h"
#include "uidl_map.h"
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The Makefile passes the version from contrib/debian/changelog. */
#ifndef POSTERN_VERSION
#define POSTERN_VERSION "unknown"
#endif

/* -V: the version and what it was built with (the seccomp filter is
 * compiled in always; postern.conf's "seccomp = no" turns it off). */
static void print_version(void)
{
	const struct scmp_version *sv = seccomp_version();
	printf("postern %s\n%s (built with %s)\nlibxcrypt %s\n"
	       "seccomp on (libseccomp %u.%u.%u)\n", POSTERN_VERSION,
	       OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT,
	       XCRYPT_VERSION_STR, sv ? sv->major : 0, sv ? sv->minor : 0,
	       sv ? sv->micro : 0);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: postern [-f config] [-i [-S] [-P]] [-d] [-t | -T | -U maildir] [-V | -h]\n"
		"  -f FILE  configuration file (default %s/postern/postern.conf)\n"
		"  -i       inetd mode: serve one session on stdin/stdout\n"
		"  -S       with -i: the session is implicit TLS (port 995)\n"
		"  -P       with -i: a PROXY protocol header comes first, from a\n"
		"           proxy_trusted address\n"
		"  -d       log to stderr instead of syslog\n"
		"  -t       check the configuration, certificates, users and\n"
		"           credentials file, and exit\n"
		"  -T       print the effective settings and exit\n"
		"  -U DIR   report how many messages of Maildir DIR keep the UIDL\n"
		"           of the previous server (read only) and exit\n"
		"  -V       print the version and exit\n"
		"  -h       print this help and exit\n", SYSCONFDIR);
}

static void warn_stderr(void *arg, const char *msg)
{
	fprintf(stderr, "postern: warning: %s\n", msg);
}

int main(int argc, char **argv)
{
	const char *path = SYSCONFDIR "/postern/postern.conf", *report = NULL;
	int inetd = 0, implicit_tls = 0, proxy = 0, to_stderr = 0, check = 0, print = 0, opt;
	struct config cfg;
	char err[512];

	/* Run by a checkpassword program as the program to start on success. */
	if (argc == 2 && strcmp(argv[1], CPW_REPLY_ARG) == 0)
		return cpw_reply_main();
	while ((opt = getopt(argc, argv, "f:iSPdtTU:Vh")) != -1) {
		switch (opt) {
		case 'f': path = optarg; break;
		case 'i': inetd = 1; break;
		case 'S': implicit_tls = 1; break;
		case 'P': proxy = 1; break;
		case 'd': to_stderr = 1; break;
		case 't': check = 1; break;
		case 'T': print = 1; break;
		case 'U': report = optarg; break;
		case 'V': print_version(); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || ((implicit_tls || proxy) && !inetd)) {
		usage(stderr);
		return 2;
	}
	config_defaults(&cfg);
	if (config_load_warn(&cfg, path, err, sizeof(err), check ? warn_stderr : NULL, NULL) < 0 ||
	    config_check(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "postern: %s\n", err);
		return 1;
	}
	if (report)
		return uidl_report(report, cfg.dovecot_uidl_format, stdout) < 0 ? 1 : 0;
	if (check || print) {
		if (cfg.ncerts && cfg.ssl != CONF_SSL_OFF) {
			struct tls_server *t = tls_server_new(&cfg, err, sizeof(err));
			if (!t) {
				fprintf(stderr, "postern: TLS: %s\n", err);
				return 1;
			}
			tls_server_free(t);
		}
		if (print) {
			config_print(&cfg, stdout);
			return 0;
		}
		/* What the daemon checks at start or at a login, checked now. */
		if (confcheck_system(&cfg, stderr) > 0) {
			fprintf(stderr, "postern: %s: configuration NOT OK (see above)\n", path);
			return 1;
		}
		fprintf(stderr, "postern: %s: configuration OK\n", path);
		return 0;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "postern: must be started as root (it drops privileges itself)\n");
		return 1;
	}
	log_open("postern", to_stderr);
	signal(SIGPIPE, SIG_IGN);
	if (inetd) {
		uid_t uid;
		gid_t gid;
		struct tls_server *tls = NULL;
		if (!to_stderr) {
			/* inetd hands the socket on 0, 1 and 2: keep protocol
			 * bytes away from stray diagnostics. */
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0 && null != 2) {
				dup2(null, 2);
				close(null);
			}
		}
		if (resolve_unpriv(&cfg, &uid, &gid) < 0)
			return 1;
		if (cfg.ncerts && cfg.ssl != CONF_SSL_OFF) {
			tls = tls_server_new(&cfg, err, sizeof(err));
			if (!tls) {
				plog(LOG_ERR, "TLS: %s", err);
				return 1;
			}
		} else if (implicit_tls) {
			plog(LOG_ERR, "-S needs ssl_cert and ssl_key");
			return 1;
		}
		if (proxy && cfg.nproxy_trusted == 0) {
			plog(LOG_ERR, "-P needs proxy_trusted");
			return 1;
		}
		{
			struct conn_start st;
			memset(&st, 0, sizeof(st));
			st.tls_listener = implicit_tls;
			st.ssl = cfg.ssl;
			st.proxy_inetd = proxy;
			return monitor_run(&cfg, 0, 1, &st, uid, gid, tls);
		}
	}
	return master_run(&cfg, path);
}
