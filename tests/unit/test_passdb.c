/* test_passdb.c - unit tests for the credential sources' pure parts: the
 * checkpassword formats (input on fd 3, exit statuses, the reply on fd 4
 * and the reply program), the PAM conversation, and reading a child's
 * pipes under a deadline (passdb_collect, with real children). */
#include <security/pam_appl.h>
#include "unit.h"
#include "passdb.h"
#include "util.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_cpw_input(void **state)
{
	char buf[64];
	size_t n = cpw_input(buf, sizeof(buf), "joe", "pw d", 4, "<1.2@h>");
	assert_int_equal(n, 4 + 5 + 8);
	assert_memory_equal(buf, "joe\0pw d\0<1.2@h>\0", n);
	/* Empty timestamp (no APOP greeting). */
	n = cpw_input(buf, sizeof(buf), "joe", "x", 1, "");
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "joe\0x\0\0", 7);
	/* A NUL in the password would end it early: refused. */
	assert_int_equal(cpw_input(buf, sizeof(buf), "joe", "a\0b", 3, ""), 0);
	/* Too long for the buffer: refused, not cut. */
	assert_int_equal(cpw_input(buf, 8, "joe", "xyz", 3, ""), 0);
	assert_int_equal(cpw_input(buf, 9, "joe", "xyz", 3, ""), 9);
}

static void test_cpw_status(void **state)
{
	const char *why = "x";
	assert_int_equal(cpw_status(0 << 8, &why), AUTH_OK);
	assert_null(why);
	assert_int_equal(cpw_status(1 << 8, &why), AUTH_FAIL);
	assert_string_equal(why, "wrong password");
	assert_int_equal(cpw_status(111 << 8, &why), AUTH_TEMPFAIL);
	assert_non_null(strstr(why, "111"));
	assert_int_equal(cpw_status(2 << 8, &why), AUTH_TEMPFAIL);
	assert_int_equal(cpw_status(3 << 8, &why), AUTH_TEMPFAIL);
	assert_int_equal(cpw_status(126 << 8, &why), AUTH_TEMPFAIL);
	assert_int_equal(cpw_status(255 << 8, &why), AUTH_TEMPFAIL);
	/* Killed by SIGSEGV, with or without a core. */
	assert_int_equal(cpw_status(SIGSEGV, &why), AUTH_TEMPFAIL);
	assert_non_null(strstr(why, "signal"));
	assert_int_equal(cpw_status(SIGKILL | 0x80, &why), AUTH_TEMPFAIL);
}

#define REPLY(s) s, sizeof(s) - 1

static void test_cpw_parse_reply(void **state)
{
	struct cpw_reply r;
	assert_int_equal(cpw_parse_reply(REPLY("USER=joe\0HOME=/home/joe\0UID=1001\0GID=100\0"),
					 &r), 0);
	assert_string_equal(r.user, "joe");
	assert_string_equal(r.home, "/home/joe");
	assert_true(r.have_uid && r.uid == 1001 && r.have_gid && r.gid == 100);
	/* Nothing at all: the program ran no reply; empty fields. */
	assert_int_equal(cpw_parse_reply("", 0, &r), 0);
	assert_true(!r.user[0] && !r.home[0] && !r.have_uid && !r.have_gid);
	assert_int_equal(cpw_parse_reply(REPLY("HOME=/srv/mail/a@b\0"), &r), 0);
	assert_string_equal(r.home, "/srv/mail/a@b");
	assert_false(r.have_uid);
	/* What the reply program never writes. */
	static const struct { const char *s; size_t n; } bad[] = {
		{ REPLY("USER=joe") },                  /* no final NUL */
		{ REPLY("garbage\n") },
		{ REPLY("USER=joe\0\0") },              /* an empty record */
		{ REPLY("SHELL=/bin/sh\0") },           /* unknown key */
		{ REPLY("user=joe\0") },
		{ REPLY("USER=joe\0USER=root\0") },     /* twice */
		{ REPLY("UID=1\0UID=2\0") },
		{ REPLY("UID=-1\0") },
		{ REPLY("UID=1x\0") },
		{ REPLY("UID=\0") },
		{ REPLY("GID=4294967296\0") },
		{ REPLY("HOME=relative\0") },
		{ REPLY("HOME=\0") },
		{ REPLY("USER=\0") },
		{ REPLY("USER=a:b\0") },                /* not a valid user name */
		{ REPLY("USER=a b\0") },
		{ REPLY("USERX=a\0") },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cpw_parse_reply(bad[i].s, bad[i].n, &r) != -1)
			fail_msg("accepted bad reply %zu", i);
	/* A user name that does not fit. */
	char big[400];
	memcpy(big, "USER=", 5);
	memset(big + 5, 'a', 300);
	big[305] = '\0';
	assert_int_equal(cpw_parse_reply(big, 306, &r), -1);
}

/* The reply program writes what cpw_parse_reply reads. */
static void run_reply(const char *user, const char *home, const char *uid, const char *gid,
		      char *out, size_t cap, size_t *len, int *rc)
{
	int p[2], saved;
	ssize_t n;
	saved = dup(4);
	/* Hold fd 4 so that the pipe gets other numbers. */
	assert_true(dup2(2, 4) == 4);
	assert_int_equal(pipe(p), 0);
	assert_true(dup2(p[1], 4) == 4);
	close(p[1]);
	user ? setenv("USER", user, 1) : unsetenv("USER");
	home ? setenv("HOME", home, 1) : unsetenv("HOME");
	uid ? setenv("userdb_uid", uid, 1) : unsetenv("userdb_uid");
	gid ? setenv("userdb_gid", gid, 1) : unsetenv("userdb_gid");
	*rc = cpw_reply_main();
	close(4);
	if (saved >= 0) {
		dup2(saved, 4);
		close(saved);
	}
	n = read(p[0], out, cap);
	close(p[0]);
	*len = n > 0 ? (size_t)n : 0;
}

static void test_cpw_reply_main(void **state)
{
	char out[CPW_REPLY_MAX + 16], longhome[CPW_REPLY_MAX + 8];
	size_t len;
	int rc;
	struct cpw_reply r;
	run_reply("virt@example.org", "/srv/virt", "2001", "2002", out, sizeof(out), &len, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(cpw_parse_reply(out, len, &r), 0);
	assert_string_equal(r.user, "virt@example.org");
	assert_string_equal(r.home, "/srv/virt");
	assert_true(r.uid == 2001 && r.gid == 2002);
	/* No userdb_uid: the process's own ids, unless it is root. */
	run_reply("joe", NULL, NULL, NULL, out, sizeof(out), &len, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(cpw_parse_reply(out, len, &r), 0);
	assert_int_equal(r.have_uid, getuid() != 0);
	assert_int_equal(r.have_gid, getgid() != 0);
	assert_false(r.home[0]);
	/* Too much for the reply: exit 111 (temporary), nothing written. */
	memset(longhome, 'h', sizeof(longhome) - 1);
	longhome[0] = '/';
	longhome[sizeof(longhome) - 1] = '\0';
	run_reply("joe", longhome, NULL, NULL, out, sizeof(out), &len, &rc);
	assert_int_equal(rc, 111);
	assert_int_equal(len, 0);
	unsetenv("USER");
	unsetenv("HOME");
}

static int conv(struct passdb_pam_conv_data *d, int n, const int *styles,
		struct pam_response **resp)
{
	struct pam_message m[4];
	const struct pam_message *mp[4];
	for (int i = 0; i < n; i++) {
		m[i].msg_style = styles[i];
		m[i].msg = styles[i] == PAM_PROMPT_ECHO_OFF ? "Password: " : "something";
		mp[i] = &m[i];
	}
	return passdb_pam_conv(n, mp, resp, d);
}

static void free_resp(struct pam_response *r, int n)
{
	for (int i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
}

static void test_pam_conv(void **state)
{
	struct passdb_pam_conv_data d = { "s3cret pass", 11, 0 };
	struct pam_response *r = NULL;
	int one[] = { PAM_PROMPT_ECHO_OFF };
	int mixed[] = { PAM_TEXT_INFO, PAM_PROMPT_ECHO_OFF, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF };
	int echo[] = { PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON };
	int unknown[] = { 99 };

	assert_int_equal(conv(&d, 1, one, &r), PAM_SUCCESS);
	assert_string_equal(r[0].resp, "s3cret pass");
	free_resp(r, 1);
	/* Messages get no answer; every password prompt gets the password. */
	assert_int_equal(conv(&d, 4, mixed, &r), PAM_SUCCESS);
	assert_null(r[0].resp);
	assert_string_equal(r[1].resp, "s3cret pass");
	assert_null(r[2].resp);
	assert_string_equal(r[3].resp, "s3cret pass");
	free_resp(r, 4);
	assert_int_equal(d.refused, 0);
	/* An echoed prompt (a one-time code, a user name): refused. */
	r = (struct pam_response *)&d;
	assert_int_equal(conv(&d, 2, echo, &r), PAM_CONV_ERR);
	assert_null(r);
	assert_int_equal(d.refused, 1);
	d.refused = 0;
	assert_int_equal(conv(&d, 1, unknown, &r), PAM_CONV_ERR);
	assert_int_equal(d.refused, 1);
	assert_int_equal(passdb_pam_conv(0, NULL, &r, &d), PAM_CONV_ERR);
	/* The password as given, up to its length. */
	struct passdb_pam_conv_data d2 = { "abcdef", 3, 0 };
	assert_int_equal(conv(&d2, 1, one, &r), PAM_SUCCESS);
	assert_string_equal(r[0].resp, "abc");
	free_resp(r, 1);
}

/* A child that writes text on its pipe, then sleeps secs and exits code. */
static pid_t child(const char *text, int secs, int code, int *rd)
{
	int p[2];
	pid_t pid;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		close(p[0]);
		if (write_all(p[1], text, strlen(text)) < 0)
			_exit(99);
		if (secs)
			sleep((unsigned)secs);
		_exit(code);
	}
	close(p[1]);
	*rd = p[0];
	return pid;
}

static void test_collect(void **state)
{
	char buf[8];
	struct passdb_pipe p;
	int status, timed_out;
	pid_t pid;

	memset(&p, 0, sizeof(p));
	pid = child("hello", 0, 3, &p.fd);
	p.buf = buf;
	p.cap = sizeof(buf);
	assert_int_equal(passdb_collect(pid, &p, 1, now_ms() + 10000, &status, &timed_out), 0);
	assert_false(timed_out);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	assert_int_equal(p.len, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_false(p.overflow);
	/* More than the buffer: kept to its size, flagged. */
	memset(&p, 0, sizeof(p));
	pid = child("0123456789", 0, 0, &p.fd);
	p.buf = buf;
	p.cap = sizeof(buf);
	assert_int_equal(passdb_collect(pid, &p, 1, now_ms() + 10000, &status, &timed_out), 0);
	assert_int_equal(p.len, sizeof(buf));
	assert_true(p.overflow);
	/* A child that outlives the deadline is killed and reaped. */
	memset(&p, 0, sizeof(p));
	pid = child("x", 30, 0, &p.fd);
	p.buf = buf;
	p.cap = sizeof(buf);
	assert_int_equal(passdb_collect(pid, &p, 1, now_ms() + 200, &status, &timed_out), -1);
	assert_true(timed_out);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(p.fd, -1);
	assert_int_equal(kill(pid, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpw_input),
		cmocka_unit_test(test_cpw_status),
		cmocka_unit_test(test_cpw_parse_reply),
		cmocka_unit_test(test_cpw_reply_main),
		cmocka_unit_test(test_pam_conv),
		cmocka_unit_test(test_collect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
