/* test_deliver_fallback.c - src/deliver.c where renameat2(RENAME_NOREPLACE)
 * is missing: a file system without the flag says EINVAL, an old kernel or
 * a seccomp filter says ENOSYS; both must fall back on link() + unlink()
 * (as src/maildir.c does), and any other error must fail the delivery
 * without leaving the message in tmp/.  renameat2 is wrapped
 * (-Wl,--wrap). */
#include "unit.h"
#include "deliver.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

int __real_renameat2(int, const char *, int, const char *, unsigned int);

static int rename_errno;             /* renameat2 fails with it; 0 = real */
static unsigned renames;

int __wrap_renameat2(int ofd, const char *from, int nfd, const char *to, unsigned int flags)
{
	renames++;
	if (rename_errno) {
		errno = rename_errno;
		return -1;
	}
	return __real_renameat2(ofd, from, nfd, to, flags);
}

static char top[64], md[128];

static int setup(void **state)
{
	(void)state;
	renames = 0;
	snprintf(top, sizeof(top), "/tmp/postern-dlfb-XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(md, sizeof(md), "%s/Maildir", top);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

/* Names in md/sub (no dot files), and the content of the last one. */
static int count(const char *sub, char *content, size_t cap)
{
	char dir[256], p[600];
	DIR *d;
	struct dirent *e;
	int n = 0;
	snprintf(dir, sizeof(dir), "%s/%s", md, sub);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd;
		ssize_t r;
		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		fd = open(p, O_RDONLY);
		assert_true(fd >= 0);
		r = read(fd, content, cap - 1);
		close(fd);
		content[r > 0 ? r : 0] = '\0';
	}
	closedir(d);
	return n;
}

static int deliver_text(const char *text, char *err, size_t cap)
{
	char in[128];
	struct deliver_opts o = { NULL, "alice@example.org", 0, NULL };
	struct deliver_result res;
	int fd, rc;
	snprintf(in, sizeof(in), "%s/in", top);
	fd = open(in, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	rc = deliver_maildir(md, fd, &o, &res, err, cap);
	close(fd);
	return rc;
}

static void test_einval_and_enosys_fall_back(void **state)
{
	static const int errs[] = { EINVAL, ENOSYS };
	char err[256], got[256];
	(void)state;
	for (size_t k = 0; k < 2; k++) {
		rename_errno = errs[k];
		assert_int_equal(deliver_text("Subject: x\n\nbody\n", err, sizeof(err)), 0);
		assert_int_equal(count("new", got, sizeof(got)), (int)k + 1);
		assert_string_equal(got, "Delivered-To: alice@example.org\nSubject: x\n\nbody\n");
		assert_int_equal(count("tmp", got, sizeof(got)), 0);
	}
	assert_int_equal(renames, 2);
}

static void test_other_errors_fail_and_clean_up(void **state)
{
	char err[256], got[256];
	(void)state;
	rename_errno = EXDEV;
	assert_int_equal(deliver_text("Subject: y\n\nb\n", err, sizeof(err)), EX_TEMPFAIL);
	assert_non_null(strstr(err, "cannot move the message"));
	assert_int_equal(count("new", got, sizeof(got)), 0);
	assert_int_equal(count("tmp", got, sizeof(got)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_einval_and_enosys_fall_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_errors_fail_and_clean_up, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
