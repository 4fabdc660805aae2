/* maildirsize.c - Maildir++ quota lines for removed messages.  Runs in the
 * mail process, as the mailbox owner, at UPDATE (maildir.c).
 *
 * maildirsize is a cache of the Maildir's totals: a definition line, then
 * "bytes count" lines that readers add up, recalculating from the
 * directories when the file is over MAILDIRSIZE_MAX bytes.  A line is
 * appended after each unlink that succeeded (a message that was already gone
 * was counted by whoever removed it), so a session killed during UPDATE
 * leaves the file right but for the one message between its unlink and its
 * line.  Past the bound the file will be recalculated, so further lines
 * would only make it longer: they are not written. */
#include "maildirsize.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int maildirsize_open(int dir, struct maildirsize *q)
{
	struct stat st;
	q->fd = openat(dir, "maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
		       O_CLOEXEC);
	q->size = 0;
	if (q->fd < 0) {
		if (errno == ENOENT)   /* no quota file: nothing to keep */
			return 0;
		plog(LOG_WARNING, "maildirsize: cannot update: %s", strerror(errno));
		return -1;
	}
	if (fstat(q->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fstat(q->fd, &st) == 0)
			errno = EINVAL;
		plog(LOG_WARNING, "maildirsize: cannot update: %s", strerror(errno));
		maildirsize_close(q);
		return -1;
	}
	q->size = st.st_size;
	return 0;
}

void maildirsize_removed(struct maildirsize *q, uint64_t bytes)
{
	char line[48];
	int n;
	if (q->fd < 0 || q->size > MAILDIRSIZE_MAX)
		return;
	n = snprintf(line, sizeof(line), "-%" PRIu64 " -1\n", bytes);
	if (write_all(q->fd, line, (size_t)n) < 0) {
		plog(LOG_WARNING, "maildirsize: cannot update: %s", strerror(errno));
		maildirsize_close(q);
		return;
	}
	q->size += n;
}

void maildirsize_close(struct maildirsize *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}
