/* pickup.c - postern-deliver -p DIR: the drop-folder pickup.  Every file
 * dropped into DIR (names with a leading dot are still being written) goes
 * to the users its header names, unknown recipients to the postmaster.
 *
 * Each recipient gets a file at most once, whatever fails or crashes:
 *   - a run first moves each dropped file into DIR/.state/ (0700, the
 *     pickup's own; writers cannot touch it there any more);
 *   - beside it, DIR/.state/.p.NAME records the progress, one fsynced line
 *     per step (src/pickup_record.c): "try UNIQ USER" before a copy (UNIQ
 *     is the name the copy gets in the Maildir), "done USER" after it,
 *     "fail CODE USER" for a recipient that can never get it, "defer TIME"
 *     when copies wait;
 *   - a "try" with no "done" (a crash between the Maildir's rename and the
 *     "done" line) is settled by looking for UNIQ in the user's new/ and
 *     cur/: found, it counts as done; not found, the copy is made again;
 *   - a file whose copies all went out is removed; one with a recipient
 *     that can never get it (unknown and no postmaster, over the size
 *     limit, an account refused by first_valid_uid, a Maildir the owner
 *     may not write) or that is not a regular file with one link goes to
 *     DIR/failed/ (0700), with a log line, once;
 *   - copies that failed for now are retried by later runs after a
 *     back-off (1, 2, 4 ... 60 minutes; -F: now), for at most 5 days, then
 *     the file goes to failed/.  A run never loops: it exits 0 when all
 *     that is left is waiting.
 * One run at a time: an flock on DIR/.state.
 *
 * Rights: the pickup's main process (root from the systemd units; or a
 * mail user, who can then serve only its own mailbox).  It reads the
 * passwd file and the dropped files; the copies and the Maildir probes
 * run in children with the mailbox owner's rights (postern-deliver.c). */
#include "pickup.h"
#include "pickup_record.h"
#include "deliver.h"
#include "log.h"
#include "rcpt.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define STATE_DIR ".state"
#define FAILED_DIR "failed"
#define NAME_LIMIT 200              /* longer dropped names go to failed/ */
#define HEAD_MAX (256 * 1024)       /* the header is read from this much */
#define BACKOFF_FIRST 60
#define BACKOFF_LAST 3600
#define GIVE_UP (5 * 24 * 3600)     /* as Postfix's maximal_queue_lifetime */

struct target {
	char user[256];
	char addr[256];
};


static const struct config *cfg;
static uint64_t size_limit;         /* -s */
static int postmaster_ok;
static unsigned seq;
static int run_fd[4] = { -1, -1, -1, -1 };   /* DIR, .state, failed/, a listing */

void pickup_close_fds(void)
{
	for (int i = 0; i < 4; i++)
		if (run_fd[i] >= 0)
			close(run_fd[i]);
}

/* ---- the state areas ---- */

/* DIR/name as a directory of ours with mode 0700 (made if missing). */
static int area(int dfd, const char *dir, const char *name)
{
	struct stat st;
	int fd, made = mkdirat(dfd, name, 0700) == 0;
	if (!made && errno != EEXIST)
		return -agent_say(EX_TEMPFAIL, "pickup: cannot create %s/%s: %s", dir, name,
				  strerror(errno));
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
		if (fd >= 0)
			close(fd);
		return -agent_say(EX_CONFIG, "pickup: %s/%s must be a directory of uid %lu with "
				  "mode 0700 (remove it: the pickup makes it)", dir, name,
				  (unsigned long)geteuid());
	}
	if (made && fsync(dfd) < 0)
		plog(LOG_WARNING, "pickup: fsync %s: %s", dir, strerror(errno));
	return fd;
}

static int exists_at(int fd, const char *name)
{
	struct stat st;
	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* Move fromfd/name into failed/ under name or name.N (never replacing). */
static void set_aside(int fromfd, int ffd, const char *name, const char *why)
{
	char target[NAME_MAX + 1], safe[80];
	log_safe(safe, sizeof(safe), name, strlen(name));
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(target, sizeof(target), "%.250s", name);
		else
			snprintf(target, sizeof(target), "%.200s.%d", name, i);
		if (exists_at(ffd, target))
			continue;
		if (renameat(fromfd, name, ffd, target) < 0) {
			agent_say(EX_TEMPFAIL, "pickup: file=%s: cannot move to failed/: %s", safe,
				  strerror(errno));
			return;
		}
		if (fsync(ffd) < 0)
			plog(LOG_WARNING, "pickup: fsync failed/: %s", strerror(errno));
		log_safe(safe, sizeof(safe), target, strlen(target));
		agent_tell(LOG_ERR, "pickup: file=%s moved to failed/: %s", safe, why);
		return;
	}
	agent_say(EX_TEMPFAIL, "pickup: file=%s: failed/ has too many files of that name", safe);
}

/* ---- one file ---- */

static int permanent(int code)
{
	return code == EX_NOUSER || code == EX_NOPERM || code == EX_DATAERR ||
	       code == EX_USAGE || code == EX_SOFTWARE;
}

/* The copies name needs: known recipients (each user once), and the
 * postmaster for unknown ones (or for none at all).  -1 when the passwd
 * file cannot be read, -2 when the message cannot. */
static int targets(int fd, struct target *t, int *n, int *nunknown, char *unknown,
		   size_t ucap, int *recipients)
{
	struct rcpt_list rl;
	char *head = xmalloc(HEAD_MAX);
	ssize_t got = pread(fd, head, HEAD_MAX, 0);
	if (got < 0) {
		free(head);
		return -2;
	}
	rcpt_parse(head, (size_t)got, &rl);
	free(head);
	*n = *nunknown = 0;
	*recipients = rl.n;
	for (int i = 0; i < rl.n; i++) {
		char user[256];
		struct auth_user u;
		int k = agent_find_user(rl.addr[i], 1, &u, user, sizeof(user)), dup = 0;
		if (k < 0)
			return -1;
		if (k == 0) {
			if (!(*nunknown)++)
				snprintf(unknown, ucap, "%s", rl.addr[i]);
			continue;
		}
		for (int j = 0; j < *n; j++)
			dup |= strcmp(t[j].user, user) == 0;
		if (!dup) {
			snprintf(t[*n].user, sizeof(t[0].user), "%s", user);
			snprintf(t[*n].addr, sizeof(t[0].addr), "%s", rl.addr[i]);
			(*n)++;
		}
	}
	if (*n == 0 || *nunknown) {
		int dup = 0;
		for (int j = 0; j < *n; j++)
			dup |= strcmp(t[j].user, cfg->postmaster) == 0;
		if (!dup) {
			snprintf(t[*n].user, sizeof(t[0].user), "%.255s", cfg->postmaster);
			snprintf(t[*n].addr, sizeof(t[0].addr), "%.255s",
				 unknown[0] ? unknown : cfg->postmaster);
			(*n)++;
		}
	}
	return 0;
}

enum outcome { DONE, WAITING, SET_ASIDE, STOP };

/* Deliver .state/name to whoever has not got it.  STOP: the passwd file
 * cannot be read (the run ends). */
static enum outcome process(int sfd, int ffd, const char *name, int flush)
{
	static struct target t[RCPT_MAX + 1];
	static struct record p;
	char safe[80], unknown[RCPT_ADDR_MAX + 1] = "", why[600] = "", pn[NAME_MAX + 1];
	struct stat st, fst;
	long long now = (long long)time(NULL);
	int fd, n, nunknown, recipients, copies = 0, temp = 0, perm = 0, r;

	log_safe(safe, sizeof(safe), name, strlen(name));
	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? DONE : WAITING;
	/* A FIFO, device, symbolic link or directory is never opened; a hard
	 * link planted in the folder must not mail someone else's file. */
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		set_aside(sfd, ffd, name, "not a regular file with one link");
		return SET_ASIDE;
	}
	fd = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev ||
	    !S_ISREG(fst.st_mode) || fst.st_nlink != 1) {
		if (fd >= 0)
			close(fd);
		agent_say(EX_TEMPFAIL, "pickup: file=%s: cannot open: %s", safe, strerror(errno));
		return WAITING;
	}
	record_load(sfd, name, &p);
	if (p.ndefer && !flush) {
		long long wait = BACKOFF_FIRST;
		for (int i = 1; i < p.ndefer && wait < BACKOFF_LAST; i++)
			wait *= 2;
		if (wait > BACKOFF_LAST)
			wait = BACKOFF_LAST;
		if (now >= p.last_defer && now < p.last_defer + wait) {
			close(fd);
			return WAITING;
		}
	}
	r = targets(fd, t, &n, &nunknown, unknown, sizeof(unknown), &recipients);
	if (r < 0) {
		close(fd);
		if (r == -2) {
			agent_say(EX_TEMPFAIL, "pickup: file=%s: %s", safe, strerror(errno));
			return WAITING;
		}
		agent_say(EX_TEMPFAIL, "pickup: cannot read the passwd file %s", cfg->passwd_file);
		return STOP;
	}
	for (int j = 0; j < n; j++) {
		const char *uniq = NULL;
		char kind = record_of(&p, t[j].user, &uniq), u[112], su[80];
		log_safe(su, sizeof(su), t[j].user, strlen(t[j].user));
		if (kind == 'd') {
			copies++;
			continue;
		}
		if (kind == 'f') {
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "%s<%s>: refused by an earlier run", why[0] ? "; " : "", su);
			perm++;
			continue;
		}
		if (strcmp(t[j].user, cfg->postmaster) == 0 && !postmaster_ok) {
			/* Known users named the postmaster directly still get
			 * it; unknown ones cannot be delivered. */
			struct auth_user au;
			char found[256];
			if (agent_find_user(t[j].user, 1, &au, found, sizeof(found)) != 1) {
				snprintf(why + strlen(why), sizeof(why) - strlen(why),
					 "%s<%s>: no such user and no postmaster", why[0] ? "; " : "",
					 su);
				perm++;
				continue;
			}
		}
		if (kind == 't') {
			/* A copy was started and not recorded: did it arrive? */
			r = agent_probe(t[j].user, uniq);
			if (r == 0) {
				agent_tell(LOG_INFO, "pickup: file=%s user=<%s>: copy %s found after an "
				     "interrupted run", safe, su, uniq);
				if (record_add(sfd, name, &p, "done %s\n", t[j].user) < 0)
					goto no_record;
				copies++;
				continue;
			}
			if (r != 1) {
				temp++;
				continue;
			}
		}
		deliver_unique_name(u, sizeof(u), seq++);
		if (record_add(sfd, name, &p, "try %s %s\n", u, t[j].user) < 0)
			goto no_record;
		r = agent_copy(t[j].user, t[j].addr, fd, size_limit, u);
		if (r == 0) {
			if (record_add(sfd, name, &p, "done %s\n", t[j].user) < 0)
				goto no_record;
			copies++;
		} else if (permanent(r)) {
			if (record_add(sfd, name, &p, "fail %d %s\n", r, t[j].user) < 0)
				goto no_record;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "%s<%s>: exit %d", why[0] ? "; " : "", su, r);
			perm++;
		} else {
			temp++;
		}
	}
	close(fd);
	if (temp && p.ndefer && now - p.first_defer > GIVE_UP) {
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
			 "%s%d copies still failing after %d days", why[0] ? "; " : "", temp,
			 GIVE_UP / 86400);
		perm += temp;
		temp = 0;
	}
	if (temp) {
		if (record_add(sfd, name, &p, "defer %lld\n", now) < 0) {
			record_close(&p);
			return WAITING;     /* retried on the next run, no back-off */
		}
		record_close(&p);
		agent_tell(LOG_WARNING, "pickup: file=%s deferred: %d of %d copies wait for a later "
		     "run", safe, temp, n);
		return WAITING;
	}
	record_close(&p);
	record_name(pn, sizeof(pn), name);
	if (perm) {
		plog(LOG_INFO, "pickup: file=%s recipients=%d copies=%d unknown=%d failed=%d",
		     safe, recipients, copies, nunknown, perm);
		set_aside(sfd, ffd, name, why);
	} else {
		char first[80];
		if (unlinkat(sfd, name, 0) < 0 && errno != ENOENT) {
			agent_say(EX_TEMPFAIL, "pickup: file=%s: delivered but cannot be removed: %s",
				  safe, strerror(errno));
			return WAITING;
		}
		log_safe(first, sizeof(first), t[0].user, strlen(t[0].user));
		plog(LOG_INFO, "pickup: file=%s recipients=%d copies=%d unknown=%d first=<%s>",
		     safe, recipients, n, nunknown, first);
	}
	/* The file first, then its record: a crash between the two leaves a
	 * record without a file, which the next run removes. */
	if (!exists_at(sfd, name) && unlinkat(sfd, pn, 0) < 0 && errno != ENOENT)
		plog(LOG_WARNING, "pickup: cannot remove .state/%s: %s", pn, strerror(errno));
	return perm ? SET_ASIDE : DONE;
no_record:
	close(fd);
	record_close(&p);
	agent_say(EX_TEMPFAIL, "pickup: file=%s: cannot record the progress in .state: %s",
		  safe, strerror(errno));
	return WAITING;
}

/* ---- the run ---- */

/* A directory stream over dirfd's directory from its start (a dup shares
 * the offset that an earlier pass left at the end). */
static DIR *list(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* Move every dropped file into .state/ (or straight to failed/). */
static void claim(const char *dir, int dfd, int sfd, int ffd)
{
	DIR *d = list(dfd);
	struct dirent *e;
	int moved = 0;
	if (!d) {
		agent_say(EX_TEMPFAIL, "pickup: %s: %s", dir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char safe[80];
		if (e->d_name[0] == '.' || strcmp(e->d_name, FAILED_DIR) == 0)
			continue;
		log_safe(safe, sizeof(safe), e->d_name, strlen(e->d_name));
		if (strlen(e->d_name) > NAME_LIMIT) {
			set_aside(dfd, ffd, e->d_name, "name too long");
			continue;
		}
		/* .state is ours alone and we hold its lock: a name that is not
		 * there now is not there at the rename either. */
		if (exists_at(sfd, e->d_name)) {
			agent_tell(LOG_INFO, "pickup: file=%s waits: one of that name is still in "
			     "progress", safe);
			continue;
		}
		if (renameat(dfd, e->d_name, sfd, e->d_name) < 0) {
			if (errno != ENOENT)
				agent_say(EX_TEMPFAIL, "pickup: file=%s: cannot move into .state: %s",
					  safe, strerror(errno));
			continue;
		}
		moved++;
	}
	closedir(d);
	if (moved && (fsync(sfd) < 0 || fsync(dfd) < 0))
		plog(LOG_WARNING, "pickup: fsync %s: %s", dir, strerror(errno));
}

/* Remove records whose file is gone (a crash after the file went). */
static void sweep(int sfd)
{
	DIR *d = list(sfd);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, RECORD_PREFIX, strlen(RECORD_PREFIX)) == 0 &&
		    !exists_at(sfd, e->d_name + strlen(RECORD_PREFIX)))
			unlinkat(sfd, e->d_name, 0);
	closedir(d);
}

static int check_postmaster(void)
{
	struct auth_user u;
	char found[256], safe[80];
	const char *why;
	int r = agent_find_user(cfg->postmaster, 1, &u, found, sizeof(found));
	log_safe(safe, sizeof(safe), cfg->postmaster, strlen(cfg->postmaster));
	if (r < 0)
		return agent_say(EX_TEMPFAIL, "pickup: cannot read the passwd file %s",
				 cfg->passwd_file);
	if (r == 0)
		return agent_say(EX_CONFIG, "pickup: the postmaster user <%s> is not in %s: mail "
				 "for unknown recipients goes to failed/", safe, cfg->passwd_file);
	if (auth_ids_ok(cfg, &u, &why) < 0)
		return agent_say(EX_CONFIG, "pickup: the postmaster user <%s> is refused (%s): "
				 "mail for unknown recipients goes to failed/", safe, why);
	return 0;
}

int pickup_run(const struct config *c, const char *dir, uint64_t max_size, int flush)
{
	int dfd, sfd, ffd, rc;
	DIR *d;
	struct dirent *e;
	cfg = c;
	size_limit = max_size;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return agent_say(EX_TEMPFAIL, "pickup: %s: %s", dir, strerror(errno));
	rc = check_postmaster();
	postmaster_ok = rc == 0;
	if (rc == EX_TEMPFAIL) {
		close(dfd);
		return rc;
	}
	sfd = area(dfd, dir, STATE_DIR);
	if (sfd < 0) {
		close(dfd);
		return -sfd;
	}
	ffd = area(dfd, dir, FAILED_DIR);
	if (ffd < 0) {
		close(sfd);
		close(dfd);
		return -ffd;
	}
	run_fd[0] = dfd;
	run_fd[1] = sfd;
	run_fd[2] = ffd;
	if (flock(sfd, LOCK_EX | LOCK_NB) < 0) {
		agent_tell(LOG_INFO, "pickup: %s: another run is at work", dir);
		goto out;
	}
	sweep(sfd);
	claim(dir, dfd, sfd, ffd);
	d = list(sfd);
	if (!d) {
		rc = agent_say(EX_TEMPFAIL, "pickup: %s/.state: %s", dir, strerror(errno));
		goto out;
	}
	run_fd[3] = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (process(sfd, ffd, e->d_name, flush) == STOP) {
			rc = EX_TEMPFAIL;
			break;
		}
	}
	closedir(d);
out:
	for (int i = 0; i < 4; i++)
		run_fd[i] = -1;
	close(ffd);
	close(sfd);
	close(dfd);
	return rc;
}
