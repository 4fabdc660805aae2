/* test_userext.c - unit tests for src/userext.c: the per-user LOGIN-DELAY
 * and EXPIRE values from the passwd file's extra field, and the
 * connection-time scan for whether any entry has one (CAPA's USER). */
#include "unit.h"
#include "userext.h"
#include <fcntl.h>
#include <unistd.h>

static char path[] = "/tmp/test_userext.XXXXXX";

static void with_file(struct config *c, const char *text)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_defaults(c);
	snprintf(c->passwd_file, sizeof(c->passwd_file), "%s", path);
}

static void done(void)
{
	unlink(path);
	strcpy(path, "/tmp/test_userext.XXXXXX");
}

#define H "$6$salt$abcdefghijklmnopqrstuvwxyz0123456789"

static void test_scan(void **state)
{
	struct config c;
	int d, e;
	/* None: '=' only in a SCRAM secret, a gecos and a home. */
	with_file(&c, "a:{SCRAM-SHA-256}4096,c2FsdA==,x,y:1000:1000:login_delay=5:/h::\n"
		      "b:" H ":1000:1000::/expire=3::\n");
	c.login_delay = 60;
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 0);
	assert_int_equal(e, 0);
	done();
	/* One of each, the userdb_ form too, the last line without '\n'. */
	with_file(&c, "a:" H ":1000:1000::/h::quota=1G userdb_expire=7\n"
		      "b:" H ":1000:1000::/h::login_delay=1m");
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 0);          /* login_delay is off */
	assert_int_equal(e, 1);
	c.login_delay = 60;
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 1);
	c.login_delay = PARSE_DELAY_OFF;
	c.expire = PARSE_EXPIRE_OFF;
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 0);
	assert_int_equal(e, 0);
	done();
	/* A key that only ends another word does not count. */
	with_file(&c, "a:" H ":1000:1000::/h::my_expire=3 xlogin_delay=4\n");
	c.login_delay = 60;
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 0);
	assert_int_equal(e, 0);
	done();
}

static void test_for(void **state)
{
	struct config c;
	struct userext u;
	with_file(&c, "a:" H ":1000:1000::/h::login_delay=2m expire=never\n"
		      "b:" H ":1000:1000::/h::login_delay=soon expire=-1\n"
		      "c:" H ":1000:1000::/h::\n");
	c.login_delay = 60;
	c.expire = 30;
	userext_for(&c, "a", &u);
	assert_true(u.login_delay == 120);
	assert_true(u.expire == PARSE_EXPIRE_NEVER);
	/* Bad values: the server's. */
	userext_for(&c, "b", &u);
	assert_true(u.login_delay == 60);
	assert_true(u.expire == 30);
	userext_for(&c, "c", &u);
	assert_true(u.login_delay == 60);
	userext_for(&c, "nobody", &u);
	assert_true(u.expire == 30);
	/* A setting that is off stays off whatever the entry says. */
	c.login_delay = PARSE_DELAY_OFF;
	c.expire = PARSE_EXPIRE_OFF;
	userext_for(&c, "a", &u);
	assert_true(u.login_delay == PARSE_DELAY_OFF);
	assert_true(u.expire == PARSE_EXPIRE_OFF);
	done();
}

/* The answer is kept while the file is unchanged (a spare scans before its
 * client comes); a rewrite in place, even of the same length, is seen. */
static void test_scan_kept_until_the_file_changes(void **state)
{
	struct config c;
	int d, e, fd;
	const char *off = "a:" H ":1000:1000::/h::login_xxxxx=5\n";
	with_file(&c, "a:" H ":1000:1000::/h::login_delay=5\n");
	c.login_delay = 60;
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 1);
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 1);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, off, strlen(off), 0), (ssize_t)strlen(off));
	close(fd);
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 0);
	/* The same file asked another question is scanned again. */
	c.login_delay = PARSE_DELAY_OFF;
	c.expire = 3;
	userext_scan(&c, &d, &e);
	assert_int_equal(d, 0);
	assert_int_equal(e, 0);
	done();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_for),
		cmocka_unit_test(test_scan_kept_until_the_file_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
