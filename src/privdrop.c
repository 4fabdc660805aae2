/* privdrop.c - the privilege drops of DESIGN.md, spelled out in one place.
 * Called as root by the monitor's children just after fork. */
#include "log.h"
#include "sandbox.h"
#include "session.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int resolve_unpriv(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(cfg->unpriv_user);
	if (!pw) {
		plog(LOG_ERR, "unprivileged user '%s' does not exist (create it: "
		     "useradd --system --no-create-home --shell /usr/sbin/nologin %s)",
		     cfg->unpriv_user, cfg->unpriv_user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		plog(LOG_ERR, "unprivileged user '%s' has uid 0", cfg->unpriv_user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static void become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0)
		pfatal("setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) < 0)
		pfatal("setresgid(%lu): %s", (unsigned long)gid, strerror(errno));
	if (setresuid(uid, uid, uid) < 0)
		pfatal("setresuid(%lu): %s", (unsigned long)uid, strerror(errno));
	/* Prove the drop cannot be undone. */
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0)
		pfatal("privilege drop did not stick");
}

/* Pre-auth: empty root directory, the 'postern' user, no way back up,
 * bounded memory and no core dumps. */
void drop_to_preauth(const struct config *cfg, uid_t uid, gid_t gid)
{
	struct stat st;
	struct rlimit rl;
	if (stat(cfg->empty_dir, &st) < 0 && errno == ENOENT) {
		/* /run is a tmpfs: the directory vanishes at boot. */
		char parent[sizeof(cfg->empty_dir)];
		char *slash;
		strcpy(parent, cfg->empty_dir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			mkdir(parent, 0755);
		}
		mkdir(cfg->empty_dir, 0555);
	}
	if (stat(cfg->empty_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 0022))
		pfatal("%s must be a directory owned by root, not group/world-writable",
		       cfg->empty_dir);
	if (chroot(cfg->empty_dir) < 0 || chdir("/") < 0)
		pfatal("chroot %s: %s", cfg->empty_dir, strerror(errno));
	become(uid, gid);
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	if (cfg->preauth_memory) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)cfg->preauth_memory;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			pfatal("setrlimit(RLIMIT_AS): %s", strerror(errno));
	}
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_NPROC, &rl);   /* cannot fork */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		pfatal("prctl(NO_NEW_PRIVS): %s", strerror(errno));
	if (cfg->seccomp)
		sandbox_preauth();
}

/* Mail process: the mailbox owner's uid and primary gid only. */
void drop_to_mail_user(const struct config *cfg, uid_t uid, gid_t gid)
{
	if (uid == 0 || uid < cfg->first_valid_uid || gid == 0 || gid < cfg->first_valid_gid)
		pfatal("refusing to run a mail process as uid %lu gid %lu",
		       (unsigned long)uid, (unsigned long)gid);
	become(uid, gid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		pfatal("prctl(NO_NEW_PRIVS): %s", strerror(errno));
	/* The store works from a directory descriptor; the working directory
	 * inherited from the master or the superserver is nobody's business
	 * of the mail user. */
	if (chdir("/") < 0)
		pfatal("chdir(/): %s", strerror(errno));
}
