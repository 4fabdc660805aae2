/* pickup_record.c - the drop-folder pickup's progress records
 * (include/pickup_record.h): what has been done for each recipient of a
 * dropped file, durable before the next step.  Runs in the pickup's main
 * process (root from the systemd units) on its own directory .state/. */
#include "pickup_record.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void record_name(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, RECORD_PREFIX "%s", name);
}

/* Record kind for user (the last line about a user wins). */
static void record_set(struct record *p, char kind, const char *user, const char *uniq)
{
	int i;
	for (i = 0; i < p->nuser; i++)
		if (strcmp(p->user[i].name, user) == 0)
			break;
	if (i == p->nuser) {
		if (p->nuser >= (int)(sizeof(p->user) / sizeof(p->user[0])))
			return;
		snprintf(p->user[i].name, sizeof(p->user[0].name), "%s", user);
		p->nuser++;
	}
	p->user[i].kind = kind;
	snprintf(p->user[i].uniq, sizeof(p->user[0].uniq), "%s", uniq ? uniq : "");
}

void record_load(int sfd, const char *name, struct record *p)
{
	char pn[NAME_MAX + 1], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int fd;
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	record_name(pn, sizeof(pn), name);
	fd = openat(sfd, pn, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		char *sp, *end;
		/* A last line without its newline was cut by a crash: not counted. */
		if (line[len - 1] != '\n')
			break;
		line[len - 1] = '\0';
		sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp++ = '\0';
		if (strcmp(line, "done") == 0) {
			record_set(p, 'd', sp, NULL);
		} else if (strcmp(line, "try") == 0 || strcmp(line, "fail") == 0) {
			/* "try UNIQ USER", "fail CODE USER" */
			char *user = strchr(sp, ' ');
			if (!user || user == sp || (size_t)(user - sp) >= sizeof(p->user[0].uniq))
				continue;
			*user++ = '\0';
			record_set(p, line[0], user, line[0] == 't' ? sp : NULL);
		} else if (strcmp(line, "defer") == 0) {
			long long t = strtoll(sp, &end, 10);
			if (end == sp || *end)
				continue;
			if (!p->ndefer++)
				p->first_defer = t;
			p->last_defer = t;
		}
	}
	free(line);
	fclose(f);
}

/* The last record of user: 't', 'd', 'f' or 0; uniq of a 't'. */
char record_of(const struct record *p, const char *user, const char **uniq)
{
	for (int i = 0; i < p->nuser; i++)
		if (strcmp(p->user[i].name, user) == 0) {
			*uniq = p->user[i].uniq;
			return p->user[i].kind;
		}
	return 0;
}

/* Append one line and make it durable before anything else happens. */
int record_add(int sfd, const char *name, struct record *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (p->fd < 0) {
		char pn[NAME_MAX + 1];
		record_name(pn, sizeof(pn), name);
		p->fd = openat(sfd, pn, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			       0600);
		if (p->fd < 0 || fsync(sfd) < 0)
			return -1;
	}
	if (write_all(p->fd, line, (size_t)n) < 0 || fsync(p->fd) < 0)
		return -1;
	return 0;
}

void record_close(struct record *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

