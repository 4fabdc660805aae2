/* checkpw_proto.c - the qmail checkpassword interface's formats: the input
 * on fd 3, what an exit status means, and the checkpassword-reply side
 * (postern started by the checkpassword program as its "prog", writing the
 * account the program set up back over fd 4, as Dovecot's
 * checkpassword-reply does).  Pure code, plus the reply program, which runs
 * with whatever rights the checkpassword program gave it. */
#include "passdb.h"
#include "parse.h"
#include "passwd_line.h"
#include "util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

size_t cpw_input(char *buf, size_t cap, const char *user, const char *pass, size_t passlen,
		 const char *stamp)
{
	size_t ul = strlen(user), sl = strlen(stamp), n = ul + 1 + passlen + 1 + sl + 1;
	if (n > cap || memchr(pass, '\0', passlen))
		return 0;
	memcpy(buf, user, ul + 1);
	memcpy(buf + ul + 1, pass, passlen);
	buf[ul + 1 + passlen] = '\0';
	memcpy(buf + ul + 1 + passlen + 1, stamp, sl + 1);
	return n;
}

enum auth_result cpw_status(int status, const char **why)
{
	if (WIFSIGNALED(status)) {
		*why = "checkpassword program killed by a signal";
		return AUTH_TEMPFAIL;
	}
	if (!WIFEXITED(status)) {
		*why = "checkpassword program did not exit";
		return AUTH_TEMPFAIL;
	}
	switch (WEXITSTATUS(status)) {
	case 0:
		*why = NULL;
		return AUTH_OK;
	case 1:
		*why = "wrong password";
		return AUTH_FAIL;
	case 2:
		*why = "checkpassword program says it was misused (exit 2)";
		return AUTH_TEMPFAIL;
	case 111:
		*why = "checkpassword program: temporary failure (exit 111)";
		return AUTH_TEMPFAIL;
	default:
		*why = "checkpassword program: unexpected exit status";
		return AUTH_TEMPFAIL;
	}
}

static int take_id(const char *v, unsigned long *out, int *have)
{
	uint64_t x;
	if (*have || parse_decimal(v, strlen(v), 0x7fffffff, &x) < 0)
		return -1;
	*out = (unsigned long)x;
	*have = 1;
	return 0;
}

int cpw_parse_reply(const char *buf, size_t len, struct cpw_reply *r)
{
	size_t i = 0;
	int have_user = 0, have_home = 0;
	memset(r, 0, sizeof(*r));
	if (len > 0 && buf[len - 1] != '\0')
		return -1;
	while (i < len) {
		const char *rec = buf + i, *eq = strchr(rec, '='), *v;
		size_t rl = strlen(rec), vl;
		i += rl + 1;
		if (!eq)
			return -1;
		v = eq + 1;
		vl = strlen(v);
		if ((size_t)(eq - rec) == 4 && memcmp(rec, "USER", 4) == 0) {
			if (have_user || vl == 0 || vl >= sizeof(r->user) || !pw_user_valid(v, vl))
				return -1;
			memcpy(r->user, v, vl + 1);
			have_user = 1;
		} else if ((size_t)(eq - rec) == 4 && memcmp(rec, "HOME", 4) == 0) {
			if (have_home || v[0] != '/' || vl >= sizeof(r->home))
				return -1;
			memcpy(r->home, v, vl + 1);
			have_home = 1;
		} else if ((size_t)(eq - rec) == 3 && memcmp(rec, "UID", 3) == 0) {
			if (take_id(v, &r->uid, &r->have_uid) < 0)
				return -1;
		} else if ((size_t)(eq - rec) == 3 && memcmp(rec, "GID", 3) == 0) {
			if (take_id(v, &r->gid, &r->have_gid) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* One "KEY=value\0" record, if value is set and fits. */
static int put(char *buf, size_t cap, size_t *n, const char *key, const char *value)
{
	int k;
	if (!value || !value[0])
		return 0;
	k = snprintf(buf + *n, cap - *n, "%s=%s", key, value);
	if (k < 0 || (size_t)k + 1 > cap - *n)
		return -1;
	*n += (size_t)k + 1;     /* snprintf's NUL ends the record */
	return 0;
}

/* An id from the environment (userdb_uid, as Dovecot's reply takes it), or
 * the process's own when the checkpassword program switched to the user. */
static const char *id_text(const char *env, unsigned long own, char *buf, size_t cap)
{
	const char *v = getenv(env);
	if (v && v[0])
		return v;
	if (own == 0)
		return NULL;
	snprintf(buf, cap, "%lu", own);
	return buf;
}

int cpw_reply_main(void)
{
	char buf[CPW_REPLY_MAX], uid[24], gid[24];
	size_t n = 0;
	if (put(buf, sizeof(buf), &n, "USER", getenv("USER")) < 0 ||
	    put(buf, sizeof(buf), &n, "HOME", getenv("HOME")) < 0 ||
	    put(buf, sizeof(buf), &n, "UID",
		id_text("userdb_uid", (unsigned long)getuid(), uid, sizeof(uid))) < 0 ||
	    put(buf, sizeof(buf), &n, "GID",
		id_text("userdb_gid", (unsigned long)getgid(), gid, sizeof(gid))) < 0) {
		fprintf(stderr, "postern " CPW_REPLY_ARG ": the account does not fit the reply\n");
		return 111;
	}
	if (write_all(4, buf, n) < 0) {
		fprintf(stderr, "postern " CPW_REPLY_ARG ": cannot write fd 4\n");
		return 111;
	}
	return 0;
}
