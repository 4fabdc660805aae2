/* maildir_dups.c - Maildir messages that share a unique part.  Runs in the
 * mail process, as the mailbox owner, at login (maildir.c's open).
 *
 * Maildir says the unique part names one message, and the UIDL is made of
 * it; a restore or another MDA can still leave cur/U:2,S next to new/U.  One
 * keeps U: the one the index knew first, else one that was in cur/ already,
 * else the first name.  The others get a unique part of their own,
 * "U.dupK", by a no-replace rename in their directory: their UIDL is then
 * stable from this session on, whatever happens to their flags.  (A digest
 * of the name would change with every flag change, and which file keeps U
 * could flip.)  Where the rename fails, the UIDL of that file is a digest
 * of its path for this session: unique, if not stable. */
#include "maildir_impl.h"
#include "log.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same_unique(const struct mdmsg *a, const char *name, size_t len)
{
	return a->unique_len == len && memcmp(a->path + 4, name, len) == 0;
}

/* An open-addressing table of 1 + message index, at most 1/factor full. */
static uint32_t *utab_new(size_t n, size_t factor, size_t *size)
{
	for (*size = 64; *size < n * factor; *size *= 2)
		;
	return xcalloc(*size, sizeof(uint32_t));
}

static void utab_add(const struct mailstore *s, uint32_t *tab, size_t size, size_t i)
{
	const struct mdmsg *m = &s->msg[i];
	size_t j;
	for (j = md_hash(m->path + 4, m->unique_len) & (size - 1); tab[j]; j = (j + 1) & (size - 1))
		;
	tab[j] = (uint32_t)i + 1;
}

/* Mark the messages whose unique part another one has; how many. */
size_t md_mark_dups(struct mailstore *s)
{
	size_t size, i, j, ndup = 0;
	uint32_t *tab;
	if (s->n < 2)
		return 0;
	tab = utab_new(s->n, 2, &size);
	for (i = 0; i < s->n; i++) {
		struct mdmsg *m = &s->msg[i];
		for (j = md_hash(m->path + 4, m->unique_len) & (size - 1); tab[j];
		     j = (j + 1) & (size - 1)) {
			struct mdmsg *o = &s->msg[tab[j] - 1];
			if (same_unique(o, m->path + 4, m->unique_len)) {
				ndup += !o->dup + !m->dup;
				o->dup = m->dup = 1;
			}
		}
		tab[j] = (uint32_t)i + 1;
	}
	free(tab);
	return ndup;
}

/* Does a keep the unique part rather than b? */
static int keeps_unique(const struct mdmsg *a, const struct mdmsg *b)
{
	int c;
	if (a->rank != b->rank)
		return a->rank < b->rank;
	if (a->from_new != b->from_new)
		return !a->from_new;
	c = strcmp(a->path + 4, b->path + 4);
	return c ? c < 0 : strcmp(a->path, b->path) < 0;
}

static int unique_taken(const struct mailstore *s, const uint32_t *tab, size_t size,
			const char *name, size_t len)
{
	size_t j;
	for (j = md_hash(name, len) & (size - 1); tab[j]; j = (j + 1) & (size - 1))
		if (same_unique(&s->msg[tab[j] - 1], name, len))
			return 1;
	return 0;
}

/* Give message i a unique part of its own; 0 if renamed. */
static int rename_dup(struct mailstore *s, size_t i, const uint32_t *tab, size_t size)
{
	struct mdmsg *m = &s->msg[i];
	char name[NAME_MAX + 1], to[PATH_MAX], dir[4];
	struct mdname mn, nn;
	unsigned k;

	memcpy(dir, m->path, 3);
	dir[3] = '\0';
	mdname_parse(m->path + 4, &mn);
	errno = EEXIST;
	for (k = 1; k <= 1000; k++) {
		if (mdname_dup_name(m->path + 4, &mn, k, name, sizeof(name)) < 0) {
			errno = ENAMETOOLONG;
			break;
		}
		mdname_parse(name, &nn);
		if (unique_taken(s, tab, size, name, nn.unique_len))
			continue;
		snprintf(to, sizeof(to), "%s/%s", dir, name);
		if (md_rename_noreplace(s->dfd, m->path, to) == 0) {
			plog(LOG_NOTICE, "maildir: %s has the unique part of another message: renamed to %s",
			     m->path, to);
			md_set_path(s, m, dir, name, &nn);
			m->dup = 0;
			s->renamed = 1;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	plog(LOG_WARNING, "maildir: cannot rename %s, which has the unique part of another message: %s",
	     m->path, strerror(errno));
	m->alt_uidl = md_name_alloc(s, 41);
	mdname_digest(m->path, strlen(m->path), m->alt_uidl);
	return -1;
}

/* Are the two names links of one file?  A move from new/ to cur/ by link
 * and unlink (no RENAME_NOREPLACE, as on GlusterFS) that was cut short by
 * a crash, or raced by another host, leaves exactly that. */
static int same_file(const struct mailstore *s, const struct mdmsg *a, const struct mdmsg *b)
{
	struct stat sa, sb;
	if (fstatat(s->dfd, a->path, &sa, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fstatat(s->dfd, b->path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
	       sa.st_nlink > 1;
}

/* Drop message i, a second name of the file that best has: the file stays
 * whole under best's name, so nothing is lost and no UIDL is made up. */
static int unlink_twin(struct mailstore *s, struct mdmsg *m, const struct mdmsg *best)
{
	if (unlinkat(s->dfd, m->path, 0) < 0 && errno != ENOENT) {
		plog(LOG_WARNING, "maildir: cannot remove %s, a second name of %s: %s",
		     m->path, best->path, strerror(errno));
		return -1;
	}
	plog(LOG_NOTICE, "maildir: %s was a second name of %s (a move cut short): removed",
	     m->path, best->path);
	return 0;
}

uint64_t md_resolve_dups(struct mailstore *s)
{
	size_t size, i, j, kept;
	uint64_t dropped = 0;
	unsigned char *gone = xcalloc(s->n ? s->n : 1, 1);
	/* Room for every message twice: a renamed one is added again. */
	uint32_t *tab = utab_new(s->n, 4, &size);
	for (i = 0; i < s->n; i++)
		utab_add(s, tab, size, i);
	for (i = 0; i < s->n; i++) {
		const struct mdmsg *m = &s->msg[i], *best = m;
		if (!m->dup)
			continue;
		for (j = md_hash(m->path + 4, m->unique_len) & (size - 1); tab[j];
		     j = (j + 1) & (size - 1)) {
			const struct mdmsg *o = &s->msg[tab[j] - 1];
			if (o != m && same_unique(o, m->path + 4, m->unique_len) &&
			    keeps_unique(o, best))
				best = o;
		}
		if (best == m)
			continue;
		if (same_file(s, m, best) && unlink_twin(s, &s->msg[i], best) == 0) {
			gone[i] = 1;
			s->renamed = 1;
			continue;
		}
		if (rename_dup(s, i, tab, size) == 0)
			utab_add(s, tab, size, i);
	}
	free(tab);
	for (i = 0, kept = 0; i < s->n; i++) {
		if (gone[i]) {
			dropped += s->msg[i].size;
			continue;
		}
		s->msg[kept++] = s->msg[i];
	}
	s->n = kept;
	free(gone);
	return dropped;
}
