/* maildir_sweep.c - the tmp/ sweep of maildir(5) at login: files that a
 * killed delivery left in tmp/ are removed after 36 hours.  Runs in the
 * mail process, as the mailbox owner (maildir.c's open). */
#include "maildir_impl.h"
#include "log.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* tmp/ files older than this are left-overs of a killed delivery: maildir(5)
 * asks readers to remove them.  At most TMP_SWEEP_MAX entries of tmp/ are
 * looked at per login, so a tmp/ flooded with files costs a bounded time. */
#define TMP_STALE_SECONDS (36 * 3600)
#define TMP_SWEEP_MAX 256

static int is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* maildir(5): a file in tmp/ not touched for 36 hours is what a killed
 * delivery left; readers remove it.  Only regular files of the owner, read
 * and written that long ago, and at most TMP_SWEEP_MAX entries a login.
 * Nothing here can fail a login. */
void md_sweep_tmp(const struct mailstore *s)
{
	/* A tmp/ that is a symlink is not swept: its files are not the
	 * left-overs of deliveries into this Maildir. */
	DIR *d = md_open_sub(s, "tmp", O_NOFOLLOW);
	struct dirent *de;
	unsigned looked = 0, removed = 0;
	time_t limit = time(NULL) - TMP_STALE_SECONDS;
	if (!d) {
		plog(LOG_WARNING, "maildir: cannot read tmp/: %s", strerror(errno));
		return;
	}
	while (looked < TMP_SWEEP_MAX && (de = readdir(d)) != NULL) {
		struct stat st;
		if (is_dot_or_dotdot(de->d_name))
			continue;
		looked++;
		if ((de->d_type != DT_REG && de->d_type != DT_UNKNOWN) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != s->owner ||
		    st.st_mtime > limit || st.st_atime > limit)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
		else if (errno != ENOENT)
			plog(LOG_WARNING, "maildir: cannot remove tmp/%s: %s", de->d_name,
			     strerror(errno));
	}
	closedir(d);
	if (removed)
		plog(LOG_NOTICE, "maildir: removed %u file%s older than 36 hours from tmp/",
		     removed, removed == 1 ? "" : "s");
}
