/* test_maildir_lock.c - the one-session-per-mailbox lock of src/maildir.c
 * (postern.lock, an fcntl record lock) as shared storage can present it:
 * held by another process ([IN-USE]), released when that holder dies, and
 * refused by the file system (NFS mounted with nolock and no local locks,
 * a FUSE file system without lock support: ENOLCK, EOPNOTSUPP), where the
 * login must fail with [SYS/TEMP] and never be served unlocked.  fcntl is
 * wrapped (-Wl,--wrap) so a test can make F_SETLK fail that way. */
#include "unit.h"
#include "mailstore.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int __real_fcntl(int fd, int cmd, ...);

static int setlk_errno;              /* F_SETLK fails with it; 0 = real */
static unsigned setlks;

/* glibc's own fcntl reads the third argument as a pointer for every
 * command; so does this wrapper. */
int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (cmd == F_SETLK) {
		setlks++;
		if (setlk_errno) {
			errno = setlk_errno;
			return -1;
		}
	}
	return __real_fcntl(fd, cmd, arg);
}

static char top[64], here[4096], md[128];

static int setup(void **state)
{
	(void)state;
	setlk_errno = 0;
	setlks = 0;
	snprintf(top, sizeof(top), "/tmp/postern-mdlock-XXXXXX");
	if (!mkdtemp(top) || !getcwd(here, sizeof(here)))
		return -1;
	snprintf(md, sizeof(md), "%s/Maildir", top);
	return 0;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4200];
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_dir(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int teardown(void **state)
{
	(void)state;
	if (chdir(here) < 0)
		return -1;
	rm_dir(top);
	return 0;
}

static void put(const char *rel, const char *data)
{
	char p[4200];
	snprintf(p, sizeof(p), "%s/%s", md, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void make_maildir(void)
{
	char p[4200];
	const char *sub[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", md, sub[i]);
		assert_int_equal(mkdir(p, 0700), 0);
	}
	put("new/1700000001.M1P1.host", "Subject: one\n\nbody\n");
}

static enum ms_status try_open(struct mailstore **s, char *err, size_t cap)
{
	struct mailstore_opts o = { 0, 0, 1, geteuid(), 0, NULL };
	*s = NULL;
	return maildir_ops.open(md, &o, s, err, cap);
}

/* A file system that cannot lock: the session is refused as a temporary
 * failure, with the reason, and nothing of the mailbox is touched (the
 * message stays in new/: the store was never opened). */
static void refused_when_locks_fail(int e)
{
	struct mailstore *s;
	char err[256] = "";
	char p[4200];
	struct stat st;
	make_maildir();
	setlk_errno = e;
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_TEMP);
	assert_null(s);
	assert_true(setlks >= 1);
	assert_non_null(strstr(err, "cannot lock mailbox"));
	assert_non_null(strstr(err, strerror(e)));
	snprintf(p, sizeof(p), "%s/new/1700000001.M1P1.host", md);
	assert_int_equal(stat(p, &st), 0);
	/* The same mailbox opens once locking works again. */
	setlk_errno = 0;
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_OK);
	assert_int_equal(maildir_ops.count(s), 1);
	maildir_ops.close(s);
}

static void test_enolck_is_temp(void **state)
{
	(void)state;
	refused_when_locks_fail(ENOLCK);
}

static void test_eopnotsupp_is_temp(void **state)
{
	(void)state;
	refused_when_locks_fail(EOPNOTSUPP);
}

static void test_eio_is_temp(void **state)
{
	(void)state;
	refused_when_locks_fail(EIO);
}

/* EAGAIN and EACCES (POSIX allows either for a held lock) are [IN-USE]. */
static void test_conflict_errnos_are_inuse(void **state)
{
	struct mailstore *s;
	char err[256];
	(void)state;
	make_maildir();
	setlk_errno = EAGAIN;
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_INUSE);
	assert_null(s);
	setlk_errno = EACCES;
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_INUSE);
	assert_null(s);
}

/* The real lock, held by another process: [IN-USE] while it lives, free
 * as soon as it is killed (the kernel, or the lock server of a shared file
 * system, drops the locks of a dead holder). */
static void test_real_lock_held_then_holder_killed(void **state)
{
	struct mailstore *s;
	char err[256], lk[4200];
	int pfd[2];
	char c;
	pid_t pid;
	int status;
	(void)state;
	make_maildir();
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_OK);
	maildir_ops.close(s);                 /* creates postern.lock */
	snprintf(lk, sizeof(lk), "%s/postern.lock", md);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock fl;
		int fd = open(lk, O_RDWR);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd < 0 || __real_fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(pfd[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_INUSE);
	assert_null(s);
	assert_non_null(strstr(err, "locked by another session"));
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(try_open(&s, err, sizeof(err)), MS_OK);
	maildir_ops.close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enolck_is_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eopnotsupp_is_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eio_is_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_errnos_are_inuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_lock_held_then_holder_killed, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
