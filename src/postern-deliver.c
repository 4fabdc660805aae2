/* postern-deliver.c - the local delivery agent: puts a message from the MTA
 * (Postfix pipe(8) or local(8), an Exim pipe transport) into a user's
 * Maildir, and, with -p, picks up the messages dropped into a folder and
 * routes each to its recipients by its header (unknown recipients to the
 * postmaster's mailbox).
 *
 * Rights: started as root (Exim, the pickup from a timer) it looks the
 * user up in the passwd file and drops to the mailbox owner (setgroups,
 * setresgid, setresuid; never uid 0, never below first_valid_uid) before it
 * touches a Maildir, one child process per delivery in pickup mode.
 * Started as the mailbox owner (Postfix pipe user=, local(8)) it delivers
 * with those rights and refuses any other owner's mailbox.  Exit codes are
 * sysexits(3), which every MTA understands: 0 delivered, 75 try again
 * later, 67 no such user, 77 not allowed, 64 usage, 78 configuration. */
#include "authcheck.h"
#include "config.h"
#include "deliver.h"
#include "log.h"
#include "parse.h"
#include "rcpt.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#define PROG "postern-deliver"
#define DEFAULT_CONF SYSCONFDIR "/postern/postern.conf"

static struct config cfg;

static void usage(void)
{
	fprintf(stderr,
		"usage: " PROG " [-c config] [-f sender] [-a recipient] [-s size] -d user\n"
		"       " PROG " [-f sender] [-a recipient] [-s size] -m maildir\n"
		"       " PROG " [-c config] [-s size] -p dropdir\n");
	exit(EX_USAGE);
}

/* One line for the MTA (stderr goes into its bounce or defer reason) and
 * one for syslog. */
static int say(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int say(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s\n", msg);
	plog(code == 0 ? LOG_INFO : code == EX_TEMPFAIL ? LOG_WARNING : LOG_ERR, "%s", msg);
	return code;
}

/* Find the account for addr in the passwd file: addr itself, then (with
 * recipient_delimiter) without its "+extension"; with drop_domain, each
 * also as the bare local part ("name@domain", then "name": users may be
 * either).  1 with the account in u and its name in found, 0 if none,
 * -1 if the file cannot be read.  The hash and secrets are wiped. */
static int find_user(const char *addr, int drop_domain, struct auth_user *u, char *found,
		     size_t cap)
{
	char local[256], domain[256], cand[520], hash[512];
	const char *delims[2] = { "", cfg.recipient_delimiter };
	int scheme;
	for (int d = 0; d < 2; d++) {
		if (d == 1 && !delims[1][0])
			break;
		rcpt_split(addr, delims[d], local, sizeof(local), domain, sizeof(domain));
		int top = domain[0] ? 1 : 0, bottom = drop_domain ? 0 : top;
		for (int withdom = top; withdom >= bottom; withdom--) {
			int r;
			snprintf(cand, sizeof(cand), "%s%s%s", local, withdom ? "@" : "",
				 withdom ? domain : "");
			r = auth_lookup(&cfg, cand, u, &scheme, hash, sizeof(hash));
			explicit_bzero(hash, sizeof(hash));
			explicit_bzero(u->scram, sizeof(u->scram));
			explicit_bzero(u->plain, sizeof(u->plain));
			if (r < 0)
				return -1;
			if (r == 1 && strlen(cand) < cap) {
				memcpy(found, cand, strlen(cand) + 1);
				return 1;
			}
		}
	}
	return 0;
}

/* The account of user (exactly, or without its "+extension"), its
 * Maildir in maildir.  0, or an EX_ code with the reason said. */
static int lookup(const char *user, struct auth_user *u, char *maildir, size_t cap)
{
	char found[520], safe[80];
	const char *why;
	int r = find_user(user, 0, u, found, sizeof(found));

	log_safe(safe, sizeof(safe), user, strlen(user));
	if (r < 0)
		return say(EX_TEMPFAIL, "user=<%s>: cannot read the passwd file %s", safe,
			   cfg.passwd_file);
	if (r == 0)
		return say(EX_NOUSER, "user=<%s>: no such user", safe);
	if (auth_ids_ok(&cfg, u, &why) < 0)
		return say(EX_NOPERM, "user=<%s>: refused: %s", safe, why);
	if (auth_mail_path(&cfg, u, maildir, cap) < 0)
		return say(EX_CONFIG, "user=<%s>: mail_location does not give an absolute path",
			   safe);
	return 0;
}

/* As root: become the mailbox owner for good.  As anyone else: be it. */
static int become_owner(const struct auth_user *u)
{
	if (geteuid() != 0) {
		if (getuid() != u->uid || geteuid() != u->uid)
			return say(EX_NOPERM, "user=<%s>: mailbox owned by uid %lu; run as root "
				   "or as that uid", u->user, (unsigned long)u->uid);
		return 0;
	}
	if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return say(EX_TEMPFAIL, "user=<%s>: cannot drop to uid %lu: %s", u->user,
			   (unsigned long)u->uid, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
		return say(EX_TEMPFAIL, "privilege drop did not stick");
	return 0;
}

static int deliver_one(const char *maildir, int fd, const struct deliver_opts *o,
		       const char *who)
{
	struct deliver_result res;
	char err[512], from[80], to[80];
	int rc;
	umask(077);
	rc = deliver_maildir(maildir, fd, o, &res, err, sizeof(err));
	log_safe(from, sizeof(from), o->return_path ? o->return_path : "", o->return_path ?
		 strlen(o->return_path) : 0);
	log_safe(to, sizeof(to), who, strlen(who));
	if (rc != 0)
		return say(rc, "delivery failed: user=<%s> from=<%s> reason=%s", to, from, err);
	plog(LOG_INFO, "delivered: user=<%s> from=<%s> size=%llu file=%s", to, from,
	     (unsigned long long)res.size, res.name);
	return 0;
}

/* ---- pickup ---- */

struct target {
	char user[256];
	char addr[256];
};

/* Deliver fd's message to user in a child with that user's rights. */
static int deliver_as(const char *user, const char *addr, int fd, uint64_t max_size)
{
	pid_t pid = fork();
	int status;
	if (pid < 0)
		return say(EX_TEMPFAIL, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct auth_user u;
		char maildir[4096];
		struct deliver_opts o = { NULL, addr, max_size };
		int rc = lookup(user, &u, maildir, sizeof(maildir));
		if (rc == 0)
			rc = become_owner(&u);
		if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
			rc = say(EX_TEMPFAIL, "lseek: %s", strerror(errno));
		if (rc == 0)
			rc = deliver_one(maildir, fd, &o, u.user);
		_exit(rc);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EX_TEMPFAIL;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EX_TEMPFAIL;
}

/* One dropped file: 0 when it was delivered to everyone (and removed),
 * EX_TEMPFAIL when it stays for the next run. */
static int pickup_file(int dirfd, const char *name, uint64_t max_size)
{
	static struct target t[RCPT_MAX + 1];
	struct rcpt_list rl;
	struct stat st, again;
	char *head, safe[80], unknown[RCPT_ADDR_MAX + 1] = "";
	ssize_t got;
	int fd, n = 0, nunknown = 0, rc = 0;

	log_safe(safe, sizeof(safe), name, strlen(name));
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : say(EX_TEMPFAIL, "pickup: file=%s: %s", safe,
						strerror(errno));
	/* Only plain files with one link: a hard link planted in the drop
	 * folder must not send someone else's file to a mailbox.  The link
	 * count is taken on the open file, and the name must still be that
	 * file afterwards: unlinking the planted name between the open and
	 * the fstat (which leaves one link, the victim's) is then caught. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    fstatat(dirfd, name, &again, AT_SYMLINK_NOFOLLOW) < 0 ||
	    again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
		close(fd);
		return say(EX_TEMPFAIL, "pickup: file=%s: not a regular file with one link; "
			   "left alone", safe);
	}
	head = xmalloc(256 * 1024);
	got = pread(fd, head, 256 * 1024, 0);
	if (got < 0) {
		free(head);
		close(fd);
		return say(EX_TEMPFAIL, "pickup: file=%s: %s", safe, strerror(errno));
	}
	rcpt_parse(head, (size_t)got, &rl);
	free(head);
	for (int i = 0; i < rl.n; i++) {
		char user[256];
		struct auth_user u;
		int k = find_user(rl.addr[i], 1, &u, user, sizeof(user)), dup = 0;
		if (k < 0) {
			close(fd);
			return say(EX_TEMPFAIL, "pickup: cannot read the passwd file %s",
				   cfg.passwd_file);
		}
		if (k == 0) {
			if (!nunknown++)
				snprintf(unknown, sizeof(unknown), "%s", rl.addr[i]);
			continue;
		}
		for (int j = 0; j < n; j++)
			dup |= strcmp(t[j].user, user) == 0;
		if (!dup) {
			snprintf(t[n].user, sizeof(t[n].user), "%s", user);
			snprintf(t[n].addr, sizeof(t[n].addr), "%s", rl.addr[i]);
			n++;
		}
	}
	if (n == 0 || nunknown) {
		int dup = 0;
		for (int j = 0; j < n; j++)
			dup |= strcmp(t[j].user, cfg.postmaster) == 0;
		if (!dup) {
			snprintf(t[n].user, sizeof(t[n].user), "%.255s", cfg.postmaster);
			snprintf(t[n].addr, sizeof(t[n].addr), "%.255s",
				 unknown[0] ? unknown : cfg.postmaster);
			n++;
		}
	}
	for (int j = 0; j < n; j++) {
		int r = deliver_as(t[j].user, t[j].addr, fd, max_size);
		if (r != 0)
			rc = r;
	}
	close(fd);
	if (rc != 0)
		return say(EX_TEMPFAIL, "pickup: file=%s: kept for the next run (a copy "
			   "failed; the others may arrive twice)", safe);
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return say(EX_TEMPFAIL, "pickup: file=%s: delivered but cannot be removed: %s",
			   safe, strerror(errno));
	{
		char first[80];
		log_safe(first, sizeof(first), t[0].user, strlen(t[0].user));
		plog(LOG_INFO, "pickup: file=%s recipients=%d copies=%d unknown=%d first=<%s>",
		     safe, rl.n, n, nunknown, first);
	}
	return 0;
}

static int pickup(const char *dir, uint64_t max_size)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	DIR *d;
	struct dirent *e;
	if (dfd < 0)
		return say(EX_TEMPFAIL, "pickup: %s: %s", dir, strerror(errno));
	d = fdopendir(dup(dfd));
	if (!d) {
		close(dfd);
		return say(EX_TEMPFAIL, "pickup: %s: %s", dir, strerror(errno));
	}
	/* Dot files are still being written (drop them under a dot name and
	 * rename them when complete). */
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (pickup_file(dfd, e->d_name, max_size) != 0)
			rc = EX_TEMPFAIL;
	}
	closedir(d);
	close(dfd);
	return rc;
}

int main(int argc, char **argv)
{
	const char *conf = DEFAULT_CONF, *user = NULL, *maildir = NULL, *dropdir = NULL;
	struct deliver_opts o = { NULL, NULL, 0 };
	char err[512];
	int c;

	log_open(PROG, 0);
	while ((c = getopt(argc, argv, "c:d:m:p:f:a:s:h")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': user = optarg; break;
		case 'm': maildir = optarg; break;
		case 'p': dropdir = optarg; break;
		case 'f': o.return_path = optarg; break;
		case 'a': o.delivered_to = optarg; break;
		case 's':
			if (parse_size(optarg, &o.max_size) < 0)
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || (!!user + !!maildir + !!dropdir) != 1)
		usage();
	/* "-f <>" and "-f ''" both mean the null sender. */
	if (o.return_path && (strcmp(o.return_path, "<>") == 0))
		o.return_path = "";
	if (maildir) {
		if (geteuid() == 0)
			return say(EX_NOPERM, "will not write a Maildir as root: use -d user, or "
				   "run as the mailbox owner");
		if (maildir[0] != '/')
			return say(EX_USAGE, "-m needs an absolute path");
		return deliver_one(maildir, 0, &o, maildir);
	}
	config_defaults(&cfg);
	if (config_load(&cfg, conf, err, sizeof(err)) < 0 ||
	    config_check(&cfg, err, sizeof(err)) < 0)
		return say(EX_CONFIG, "%s", err);
	if (dropdir)
		return pickup(dropdir, o.max_size);
	{
		struct auth_user u;
		char path[4096];
		int rc = lookup(user, &u, path, sizeof(path));
		if (rc == 0)
			rc = become_owner(&u);
		if (rc == 0)
			rc = deliver_one(path, 0, &o, u.user);
		return rc;
	}
}
