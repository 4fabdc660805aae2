/* confcheck.c - the system checks of "postern -t": the unprivileged user,
 * the chroot directory, the credentials file line by line, the pickup's
 * postmaster, APOP against {PLAIN} entries, the PAM service file and the
 * checkpassword program.  Runs in "postern -t" only,
 * as whoever started it (root to read the credentials file); reads, never
 * writes or creates anything. */
#include "confcheck.h"
#include "parse.h"
#include "passwd_line.h"
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct report {
	FILE *out;
	int errors;
};

static void problem(struct report *r, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct report *r, int error, const char *fmt, ...)
{
	va_list ap;
	fputs(error ? "postern: " : "postern: warning: ", r->out);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	r->errors += error;
}

/* resolve_unpriv() refuses these at start. */
static void check_unpriv(const struct config *c, struct report *r)
{
	struct passwd *pw = getpwnam(c->unpriv_user);
	if (!pw)
		problem(r, 1, "unprivileged user '%s' does not exist (create it: useradd "
			"--system --no-create-home --shell /usr/sbin/nologin %s)",
			c->unpriv_user, c->unpriv_user);
	else if (pw->pw_uid == 0)
		problem(r, 1, "unprivileged user '%s' has uid 0", c->unpriv_user);
}

/* drop_to_preauth() chroots every connection's pre-auth process there; it
 * creates the directory (and its parent) when missing, and refuses one
 * that is not root's or that others may write. */
static void check_empty_dir(const struct config *c, struct report *r)
{
	struct stat st;
	char parent[sizeof(c->empty_dir)], *slash;
	if (stat(c->empty_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0022))
			problem(r, 1, "empty_dir %s must be a directory owned by root, not "
				"group/world-writable", c->empty_dir);
		return;
	}
	if (errno != ENOENT) {
		problem(r, 1, "empty_dir %s: %s", c->empty_dir, strerror(errno));
		return;
	}
	/* Missing: made at the first connection, with its parent, only. */
	strcpy(parent, c->empty_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode))
			return;
		slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		else
			strcpy(parent, "/");
		if (stat(parent, &st) == 0 && S_ISDIR(st.st_mode))
			return;
	}
	problem(r, 1, "empty_dir %s does not exist and cannot be made: %s is not a directory",
		c->empty_dir, parent);
}

/* Why pw_parse_line() refused a line (it only says that it did). */
static const char *line_problem(const char *line)
{
	char copy[1024], *f[8] = { 0 }, *p = copy;
	int n = 0;
	uint64_t v;
	if (strlen(line) >= sizeof(copy))
		return "line too long to say more";
	strcpy(copy, line);
	while (*p == ' ' || *p == '\t')
		p++;
	f[n++] = p;
	while (n < 8 && (p = strchr(p, ':')) != NULL) {
		*p++ = '\0';
		f[n++] = p;
	}
	if (n < 6)
		return "fewer than 6 ':'-separated fields (user:password:uid:gid:gecos:home)";
	if (!pw_user_valid(f[0], strlen(f[0])))
		return "bad user name";
	if (parse_decimal(f[2], strlen(f[2]), 0x7fffffff, &v) < 0)
		return "bad uid";
	if (parse_decimal(f[3], strlen(f[3]), 0x7fffffff, &v) < 0)
		return "bad gid";
	if (f[5][0] != '/')
		return "home is not an absolute path";
	return "malformed";
}

struct seen_user {
	char name[PW_USER_MAX + 1];
	unsigned long line;
};

/* What the whole file adds up to. */
struct passwd_scan {
	struct seen_user *users;
	size_t nusers, capusers;
	unsigned long nplain, nopen;     /* {PLAIN} entries, other usable ones */
	unsigned long first_open_line;
	char first_open[PW_USER_MAX + 1];
	int postmaster;
};

static int by_name(const void *a, const void *b)
{
	const struct seen_user *x = a, *y = b;
	int d = strcmp(x->name, y->name);
	return d ? d : (x->line > y->line) - (x->line < y->line);
}

/* One line of the file: what the monitor would make of it. */
static void check_line(const struct config *c, struct report *r, struct passwd_scan *ps,
		       const char *line, unsigned long lineno)
{
	struct pwline pw;
	char *copy = strdup(line);
	int rc;
	if (!copy) {
		problem(r, 1, "out of memory");
		return;
	}
	rc = pw_parse_line(copy, &pw);
	if (rc < 0)
		problem(r, 1, "%s:%lu: malformed entry, ignored by the daemon: %s",
			c->passwd_file, lineno, line_problem(line));
	if (rc != 1)
		goto out;
	if (strlen(pw.home) > PW_HOME_MAX)
		problem(r, 1, "%s:%lu: user <%s>: home longer than %d bytes; the daemon "
			"treats the entry as locked", c->passwd_file, lineno, pw.user,
			PW_HOME_MAX);
	if (pw.extra) {
		/* Per-user LOGIN-DELAY and EXPIRE (postern(8)): a bad value is
		 * ignored by the daemon, which uses the server's. */
		char v[64];
		long x;
		int g = pw_extra_get(pw.extra, "login_delay", v, sizeof(v));
		if (g < 0 || (g > 0 && parse_login_delay(v, 0, &x) < 0))
			problem(r, 0, "%s:%lu: user <%s>: bad login_delay value, the server's "
				"is used", c->passwd_file, lineno, pw.user);
		g = pw_extra_get(pw.extra, "expire", v, sizeof(v));
		if (g < 0 || (g > 0 && parse_expire(v, 0, &x) < 0))
			problem(r, 0, "%s:%lu: user <%s>: bad expire value, the server's is used",
				c->passwd_file, lineno, pw.user);
	}
	if (pw.scheme != PW_LOCKED &&
	    (pw.uid < c->first_valid_uid || pw.gid < c->first_valid_gid))
		problem(r, 0, "%s:%lu: user <%s> has uid %lu gid %lu, below first_valid_uid "
			"%lu / first_valid_gid %lu: its logins are refused", c->passwd_file,
			lineno, pw.user, (unsigned long)pw.uid, (unsigned long)pw.gid,
			(unsigned long)c->first_valid_uid, (unsigned long)c->first_valid_gid);
	if (ps->nusers == ps->capusers) {
		size_t ncap = ps->capusers ? ps->capusers * 2 : 64;
		struct seen_user *nu = realloc(ps->users, ncap * sizeof(*nu));
		if (!nu) {
			problem(r, 1, "out of memory");
			goto out;
		}
		ps->users = nu;
		ps->capusers = ncap;
	}
	snprintf(ps->users[ps->nusers].name, sizeof(ps->users[0].name), "%s", pw.user);
	ps->users[ps->nusers++].line = lineno;
	ps->postmaster |= strcmp(pw.user, c->postmaster) == 0;
	if (pw.scheme == PW_PLAIN) {
		ps->nplain++;
	} else if (pw.scheme != PW_LOCKED && ps->nopen++ == 0) {
		ps->first_open_line = lineno;
		snprintf(ps->first_open, sizeof(ps->first_open), "%s", pw.user);
	}
out:
	explicit_bzero(copy, strlen(copy));
	free(copy);
}

/* What the file adds up to: repeated users, the postmaster, APOP. */
static void check_totals(const struct config *c, struct report *r, struct passwd_scan *ps)
{
	size_t i, first = 0;
	/* The monitor takes a user's first entry. */
	if (ps->nusers > 1)
		qsort(ps->users, ps->nusers, sizeof(*ps->users), by_name);
	for (i = 1; i < ps->nusers; i++) {
		if (strcmp(ps->users[i].name, ps->users[first].name) != 0) {
			first = i;
			continue;
		}
		problem(r, 0, "%s:%lu: user <%s> again (first on line %lu): this entry is "
			"never used", c->passwd_file, ps->users[i].line, ps->users[i].name,
			ps->users[first].line);
	}
	if (!ps->postmaster)
		problem(r, 0, "postmaster <%s> is not a user in %s: the pickup (postern-deliver "
			"-p) has nowhere to put mail for unknown recipients; add the user or "
			"set postmaster to one", c->postmaster, c->passwd_file);
	if (c->apop && ps->nplain == 0)
		problem(r, 1, "apop = yes, but no entry in %s has a {PLAIN} password: APOP "
			"needs the clear password, so no APOP login can succeed; set apop = no "
			"or give the APOP users {PLAIN} passwords", c->passwd_file);
	else if (c->apop && ps->nopen)
		problem(r, 0, "apop = yes: %lu user(s) in %s have no {PLAIN} password and "
			"cannot log in with APOP (the first: <%s>, line %lu)", ps->nopen,
			c->passwd_file, ps->first_open, ps->first_open_line);
}

static void check_passwd(const struct config *c, struct report *r)
{
	FILE *f = fopen(c->passwd_file, "re");
	struct passwd_scan ps;
	struct stat st;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;

	if (!f) {
		int e = errno;
		if (e == EACCES && geteuid() != 0) {
			/* The monitor reads it as root; an unprivileged check
			 * cannot, and says what it did not check. */
			problem(r, 0, "passwd_file %s not checked: %s (run postern -t as root)",
				c->passwd_file, strerror(e));
			return;
		}
		problem(r, 1, "passwd_file %s: cannot read: %s", c->passwd_file, strerror(e));
		return;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IWOTH))
		problem(r, 1, "passwd_file %s is world-writable: the daemon refuses to use it",
			c->passwd_file);
	memset(&ps, 0, sizeof(ps));
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		check_line(c, r, &ps, line, lineno);
	}
	if (ferror(f))
		problem(r, 1, "passwd_file %s: read error: %s", c->passwd_file, strerror(errno));
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	check_totals(c, r, &ps);
	free(ps.users);
}

/* The sources besides the passwd file: the PAM service's file (without it
 * libpam uses "other", on Debian a stack that refuses everyone) and the
 * checkpassword program, which the monitor runs as root. */
static void check_passdb(const struct config *c, struct report *r)
{
	char path[128];
	struct stat st;
	if (config_has_passdb(c, CONF_PASSDB_PAM)) {
		int found = 0;
		snprintf(path, sizeof(path), "/etc/pam.d/%s", c->pam_service);
		found = stat(path, &st) == 0;
		if (!found) {
			snprintf(path, sizeof(path), "/usr/lib/pam.d/%s", c->pam_service);
			found = stat(path, &st) == 0;
		}
		if (!found)
			problem(r, 0, "passdb = pam: no /etc/pam.d/%s: libpam will use the "
				"\"other\" service (install contrib/pam.d/postern)", c->pam_service);
	}
	if (config_has_passdb(c, CONF_PASSDB_CHECKPASSWORD)) {
		if (stat(c->checkpassword, &st) < 0)
			problem(r, 1, "checkpassword %s: %s", c->checkpassword, strerror(errno));
		else if (!S_ISREG(st.st_mode) || access(c->checkpassword, X_OK) < 0)
			problem(r, 1, "checkpassword %s is not an executable file", c->checkpassword);
		else if (st.st_mode & S_IWOTH)
			problem(r, 1, "checkpassword %s is world-writable: the daemon runs it "
				"as root", c->checkpassword);
	}
}

int confcheck_system(const struct config *c, FILE *out)
{
	struct report r = { out, 0 };
	check_unpriv(c, &r);
	check_empty_dir(c, &r);
	/* The passwd file only when it is a credential source. */
	if (config_has_passdb(c, CONF_PASSDB_FILE))
		check_passwd(c, &r);
	check_passdb(c, &r);
	return r.errors;
}
