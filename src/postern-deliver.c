/* postern-deliver.c - the local delivery agent: puts a message from the MTA
 * (Postfix pipe(8) or local(8), an Exim pipe transport) into a user's
 * Maildir; with -p it runs the drop-folder pickup (src/pickup.c), for
 * which it makes each copy, and looks for a copy after a crash, in a
 * child with the mailbox owner's rights.
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
#include "pickup.h"
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
		"       " PROG " [-c config] [-s size] [-F] -p dropdir\n");
	exit(EX_USAGE);
}

/* Is stderr the systemd journal (JOURNAL_STREAM names its device and
 * inode)?  Then syslog already puts each line there. */
static int stderr_is_journal(void)
{
	static int known = -1;
	const char *js = getenv("JOURNAL_STREAM");
	char *end = NULL, *end2 = NULL;
	unsigned long long dev = 0, ino = 0;
	struct stat st;
	if (known >= 0)
		return known;
	if (js) {
		dev = strtoull(js, &end, 10);
		if (end != js && *end == ':')
			ino = strtoull(end + 1, &end2, 10);
	}
	known = end2 && end2 != end + 1 && *end2 == '\0' && fstat(2, &st) == 0 &&
		(unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return known;
}

static void vtell(int prio, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!stderr_is_journal())
		fprintf(stderr, PROG ": %s\n", msg);
	plog(prio, "%s", msg);
}

void agent_tell(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vtell(prio, fmt, ap);
	va_end(ap);
}

/* One line for the MTA (stderr goes into its bounce or defer reason) and
 * one for syslog. */
int agent_say(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vtell(code == 0 ? LOG_INFO : code == EX_TEMPFAIL ? LOG_WARNING : LOG_ERR, fmt, ap);
	va_end(ap);
	return code;
}

/* Find the account for addr in the passwd file: addr itself, then (with
 * recipient_delimiter) without its "+extension"; with drop_domain, each
 * also as the bare local part ("name@domain", then "name": users may be
 * either).  1 with the account in u and its name in found, 0 if none,
 * -1 if the file cannot be read.  The hash and secrets are wiped. */
int agent_find_user(const char *addr, int drop_domain, struct auth_user *u, char *found,
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
	int r = agent_find_user(user, 0, u, found, sizeof(found));

	log_safe(safe, sizeof(safe), user, strlen(user));
	if (r < 0)
		return agent_say(EX_TEMPFAIL, "user=<%s>: cannot read the passwd file %s", safe,
			   cfg.passwd_file);
	if (r == 0)
		return agent_say(EX_NOUSER, "user=<%s>: no such user", safe);
	if (auth_ids_ok(&cfg, u, &why) < 0)
		return agent_say(EX_NOPERM, "user=<%s>: refused: %s", safe, why);
	if (auth_mail_path(&cfg, u, maildir, cap) < 0)
		return agent_say(EX_CONFIG, "user=<%s>: mail_location does not give an absolute path",
			   safe);
	return 0;
}

/* As root: become the mailbox owner for good.  As anyone else: be it. */
static int become_owner(const struct auth_user *u)
{
	if (geteuid() != 0) {
		if (getuid() != u->uid || geteuid() != u->uid)
			return agent_say(EX_NOPERM, "user=<%s>: mailbox owned by uid %lu; run as root "
				   "or as that uid", u->user, (unsigned long)u->uid);
		return 0;
	}
	if (setgroups(0, NULL) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
	    setresuid(u->uid, u->uid, u->uid) < 0)
		return agent_say(EX_TEMPFAIL, "user=<%s>: cannot drop to uid %lu: %s", u->user,
			   (unsigned long)u->uid, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
		return agent_say(EX_TEMPFAIL, "privilege drop did not stick");
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
		return agent_say(rc, "delivery failed: user=<%s> from=<%s> reason=%s", to, from, err);
	plog(LOG_INFO, "delivered: user=<%s> from=<%s> size=%llu file=%s", to, from,
	     (unsigned long long)res.size, res.name);
	return 0;
}

/* ---- the pickup's copies (src/pickup.c decides what to copy) ---- */

/* In a child: the account of user with its rights, or an EX_ code.  Not
 * root and not the owner: 75, a pickup run as root may serve it. */
static int child_become(const char *user, struct auth_user *u, char *maildir, size_t cap)
{
	int rc;
	pickup_close_fds();
	rc = lookup(user, u, maildir, cap);
	if (rc == 0)
		rc = become_owner(u);
	if (rc == EX_NOPERM && geteuid() != 0 && getuid() != u->uid)
		rc = EX_TEMPFAIL;
	return rc;
}

static int wait_child(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EX_TEMPFAIL;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EX_TEMPFAIL;
}

int agent_copy(const char *user, const char *addr, int fd, uint64_t max_size,
	       const char *uniq)
{
	pid_t pid = fork();
	if (pid < 0)
		return agent_say(EX_TEMPFAIL, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct auth_user u;
		char maildir[4096];
		struct deliver_opts o = { NULL, addr, max_size, uniq };
		int rc = child_become(user, &u, maildir, sizeof(maildir));
		if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
			rc = agent_say(EX_TEMPFAIL, "lseek: %s", strerror(errno));
		if (rc == 0)
			rc = deliver_one(maildir, fd, &o, u.user);
		_exit(rc);
	}
	return wait_child(pid);
}

/* Does dir/sub hold uniq, or uniq with its ",S=..." or ":2,..." tail? */
static int holds(const char *maildir, const char *sub, const char *uniq)
{
	char path[4200];
	size_t n = strlen(uniq);
	DIR *d;
	struct dirent *e;
	int found = 0;
	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while (!found && (errno = 0, e = readdir(d)) != NULL)
		found = strncmp(e->d_name, uniq, n) == 0 &&
			(e->d_name[n] == '\0' || e->d_name[n] == ',' || e->d_name[n] == ':');
	if (!found && errno != 0) {
		closedir(d);
		return -1;
	}
	closedir(d);
	return found;
}

int agent_probe(const char *user, const char *uniq)
{
	pid_t pid = fork();
	if (pid < 0)
		return agent_say(EX_TEMPFAIL, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct auth_user u;
		char maildir[4096];
		int rc = child_become(user, &u, maildir, sizeof(maildir)), a, b;
		if (rc != 0)
			_exit(rc);
		a = holds(maildir, "new", uniq);
		b = a == 0 ? holds(maildir, "cur", uniq) : 0;
		if (a < 0 || b < 0)
			_exit(agent_say(EX_TEMPFAIL, "user=<%s>: cannot read %s: %s", u.user,
					maildir, strerror(errno)));
		_exit(a || b ? 0 : 1);
	}
	return wait_child(pid);
}

int main(int argc, char **argv)
{
	const char *conf = DEFAULT_CONF, *user = NULL, *maildir = NULL, *dropdir = NULL;
	struct deliver_opts o = { NULL, NULL, 0, NULL };
	char err[512];
	int c, flush = 0;

	log_open(PROG, 0);
	while ((c = getopt(argc, argv, "c:d:m:p:f:a:s:Fh")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': user = optarg; break;
		case 'm': maildir = optarg; break;
		case 'p': dropdir = optarg; break;
		case 'F': flush = 1; break;
		case 'f': o.return_path = optarg; break;
		case 'a': o.delivered_to = optarg; break;
		case 's':
			if (parse_size(optarg, &o.max_size) < 0)
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || (!!user + !!maildir + !!dropdir) != 1 || (flush && !dropdir))
		usage();
	/* "-f <>" and "-f ''" both mean the null sender. */
	if (o.return_path && (strcmp(o.return_path, "<>") == 0))
		o.return_path = "";
	if (maildir) {
		if (geteuid() == 0)
			return agent_say(EX_NOPERM, "will not write a Maildir as root: use -d user, or "
				   "run as the mailbox owner");
		if (maildir[0] != '/')
			return agent_say(EX_USAGE, "-m needs an absolute path");
		return deliver_one(maildir, 0, &o, maildir);
	}
	config_defaults(&cfg);
	if (config_load(&cfg, conf, err, sizeof(err)) < 0 ||
	    config_check(&cfg, err, sizeof(err)) < 0)
		return agent_say(EX_CONFIG, "%s", err);
	if (dropdir)
		return pickup_run(&cfg, dropdir, o.max_size, flush);
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
