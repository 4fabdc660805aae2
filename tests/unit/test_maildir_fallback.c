/* test_maildir_fallback.c - the Maildir provider (src/maildir*.c) where
 * things go wrong.  On a file system without renameat2(RENAME_NOREPLACE)
 * every move is link() + unlink().  renameat2 and unlinkat (and unlink, for
 * older builds that called it) are wrapped (-Wl,--wrap) so a test can make
 * them fail the way such a file system, or a failing disk, does, or kill
 * the process half-way through UPDATE.  No move may replace a file, no
 * failure may lose a message or leave it under two names, and maildirsize
 * counts exactly what was removed.  Also the tmp/ sweep at login. */
#include "unit.h"
#include "mailstore.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int __real_renameat2(int, const char *, int, const char *, unsigned int);
int __real_unlink(const char *);
int __real_unlinkat(int, const char *, int);

static int rename_errno;             /* renameat2 fails with it; 0 = real */
static const char *unlink_fails_for; /* unlink of this (relative) name: EIO */
static unsigned renames, unlinks;
static unsigned kill_at_unlink;      /* the Nth unlink: SIGKILL instead */

int __wrap_renameat2(int ofd, const char *from, int nfd, const char *to, unsigned int flags)
{
	renames++;
	if (rename_errno) {
		errno = rename_errno;
		return -1;
	}
	return __real_renameat2(ofd, from, nfd, to, flags);
}

static int unlink_hook(const char *path)
{
	unlinks++;
	if (kill_at_unlink && unlinks == kill_at_unlink)
		raise(SIGKILL);
	if (unlink_fails_for && strcmp(path, unlink_fails_for) == 0) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int __wrap_unlink(const char *path)
{
	if (unlink_hook(path) < 0)
		return -1;
	return __real_unlink(path);
}

int __wrap_unlinkat(int dfd, const char *path, int flags)
{
	if (unlink_hook(path) < 0)
		return -1;
	return __real_unlinkat(dfd, path, flags);
}

static char top[64], here[4096];

static int setup(void **state)
{
	(void)state;
	rename_errno = EINVAL;
	unlink_fails_for = NULL;
	renames = unlinks = kill_at_unlink = 0;
	snprintf(top, sizeof(top), "/tmp/postern-mdfb-XXXXXX");
	if (!mkdtemp(top) || !getcwd(here, sizeof(here)))
		return -1;
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
			__real_unlink(p);
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

static void put(const char *rel, const char *text)
{
	char p[256];
	int fd;
	snprintf(p, sizeof(p), "%s/Maildir/%s", top, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void make_maildir(void)
{
	static const char *sub[] = { "", "/cur", "/new", "/tmp" };
	char p[256];
	size_t i;
	for (i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/Maildir%s", top, sub[i]);
		assert_int_equal(mkdir(p, 0700), 0);
	}
}

/* What a directory holds: "name=content" lines, sorted, in out. */
static void listing(const char *sub, char *out, size_t cap)
{
	char dir[256], p[600], buf[128];
	struct dirent **v;
	int n, i;
	size_t used = 0;
	snprintf(dir, sizeof(dir), "%s/Maildir/%s", top, sub);
	n = scandir(dir, &v, NULL, alphasort);
	assert_true(n >= 0);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (v[i]->d_name[0] != '.') {
			int fd;
			ssize_t r;
			snprintf(p, sizeof(p), "%s/%s", dir, v[i]->d_name);
			fd = open(p, O_RDONLY);
			assert_true(fd >= 0);
			r = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[r > 0 ? r : 0] = '\0';
			used += (size_t)snprintf(out + used, cap - used, "%s=%s;", v[i]->d_name, buf);
		}
		free(v[i]);
	}
	free(v);
}

static struct mailstore *open_store(void)
{
	struct mailstore_opts o = { 0, 0, 0, geteuid(), 0, NULL };
	struct mailstore *s = NULL;
	char path[256], err[256];
	snprintf(path, sizeof(path), "%s/Maildir", top);
	assert_int_equal(maildir_ops.open(path, &o, &s, err, sizeof(err)), MS_OK);
	return s;
}

static void check(const char *sub, const char *want)
{
	char got[1024];
	listing(sub, got, sizeof(got));
	assert_string_equal(got, want);
}

/* new/ to cur/ and the seen flag by link + unlink, for both errors that
 * say "no RENAME_NOREPLACE here". */
static void test_moves_by_link_and_unlink(void **state)
{
	static const int errs[] = { EINVAL, ENOSYS };
	size_t k;
	(void)state;
	for (k = 0; k < 2; k++) {
		struct mailstore *s;
		unsigned char del[1] = { 0 }, seen[1] = { 1 };
		struct commit_result r;
		if (k) {
			teardown(state);
			setup(state);
		}
		rename_errno = errs[k];
		make_maildir();
		put("new/1700000000.M1P1Q1.host", "one");
		s = open_store();
		assert_int_equal(maildir_ops.count(s), 1);
		assert_true(renames >= 1);
		check("new", "");
		check("cur", "1700000000.M1P1Q1.host:2,=one;");
		assert_int_equal(maildir_ops.commit(s, del, seen, &r), MS_OK);
		maildir_ops.close(s);
		check("cur", "1700000000.M1P1Q1.host:2,S=one;");
		check("new", "");
	}
}

/* The fallback cannot replace either: cur/ has the name already (a
 * restore), so the message stays in new/.  Two files with one unique
 * part are then two messages: the later one gets a ".dup1" name (by the
 * same fallback), so their UIDLs differ. */
static void test_existing_name_is_not_replaced(void **state)
{
	struct mailstore *s;
	(void)state;
	make_maildir();
	put("new/1700000000.M1P1Q1.host", "restored copy");
	put("cur/1700000000.M1P1Q1.host:2,", "original");
	s = open_store();
	assert_int_equal(maildir_ops.count(s), 2);
	maildir_ops.close(s);
	check("cur", "1700000000.M1P1Q1.host:2,=original;");
	check("new", "1700000000.M1P1Q1.host.dup1=restored copy;");
}

/* link() worked and unlink() of the old name failed: both names would be
 * served next time, so the new one is taken back and the message stays
 * where it was, under one name. */
static void test_failed_unlink_takes_the_new_name_back(void **state)
{
	struct mailstore *s;
	unsigned char del[1] = { 0 }, seen[1] = { 1 };
	struct commit_result r;
	(void)state;
	make_maildir();
	put("new/1700000000.M1P1Q1.host", "one");
	unlink_fails_for = "new/1700000000.M1P1Q1.host";
	s = open_store();
	assert_int_equal(maildir_ops.count(s), 1);
	check("cur", "");
	check("new", "1700000000.M1P1Q1.host=one;");
	/* Flagging it on commit fails the same way and keeps it too. */
	assert_int_equal(maildir_ops.commit(s, del, seen, &r), MS_OK);
	maildir_ops.close(s);
	check("cur", "");
	check("new", "1700000000.M1P1Q1.host=one;");

	/* The same in cur/: the seen flag is not set, the file keeps its name. */
	unlink_fails_for = NULL;
	s = open_store();
	maildir_ops.close(s);
	check("cur", "1700000000.M1P1Q1.host:2,=one;");
	unlink_fails_for = "cur/1700000000.M1P1Q1.host:2,";
	s = open_store();
	assert_int_equal(maildir_ops.commit(s, del, seen, &r), MS_OK);
	maildir_ops.close(s);
	check("cur", "1700000000.M1P1Q1.host:2,=one;");
}

/* DELE on such a file system: unlink, as always; a failing unlink keeps
 * the message and says so. */
static void test_delete_and_failed_delete(void **state)
{
	struct mailstore *s;
	unsigned char del[2] = { 1, 1 }, seen[2] = { 0, 0 };
	struct commit_result r;
	(void)state;
	make_maildir();
	put("cur/1700000000.M1P1Q1.host:2,", "one");
	put("cur/1700000001.M1P1Q2.host:2,", "two");
	s = open_store();
	assert_int_equal(maildir_ops.count(s), 2);
	unlink_fails_for = "cur/1700000001.M1P1Q2.host:2,";
	assert_int_equal(maildir_ops.commit(s, del, seen, &r), MS_TEMP);
	maildir_ops.close(s);
	assert_int_equal(r.deleted, 1);
	assert_int_equal(r.failed, 1);
	check("cur", "1700000001.M1P1Q2.host:2,=two;");
}

/* A file's whole content, NUL-terminated, in out. */
static void slurp(const char *rel, char *out, size_t cap)
{
	char p[256];
	int fd;
	ssize_t r;
	snprintf(p, sizeof(p), "%s/Maildir/%s", top, rel);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	r = read(fd, out, cap - 1);
	assert_true(r >= 0);
	out[r] = '\0';
	close(fd);
}

/* maildirsize loses what UPDATE removed, and only that: a message another
 * program removed first is not subtracted again, and a message counts
 * with its ,S= size as the Maildir++ recalculation counts it. */
static void test_maildirsize_counts_only_what_was_removed(void **state)
{
	struct mailstore *s;
	unsigned char del[3] = { 1, 1, 0 }, seen[3] = { 0, 0, 0 };
	struct commit_result r;
	char got[256], p[256];
	(void)state;
	rename_errno = 0;
	make_maildir();
	put("cur/1700000000.M1P1Q1.host,S=100:2,", "one");
	put("cur/1700000001.M1P1Q2.host:2,", "second");
	put("cur/1700000002.M1P1Q3.host:2,", "third!!");
	put("maildirsize", "1000S,10C\n116 3\n");
	s = open_store();
	assert_int_equal(maildir_ops.count(s), 3);
	snprintf(p, sizeof(p), "%s/Maildir/cur/1700000001.M1P1Q2.host:2,", top);
	assert_int_equal(__real_unlink(p), 0);   /* another reader took it */
	assert_int_equal(maildir_ops.commit(s, del, seen, &r), MS_OK);
	maildir_ops.close(s);
	assert_int_equal(r.deleted, 2);
	assert_int_equal(r.failed, 0);
	slurp("maildirsize", got, sizeof(got));
	assert_string_equal(got, "1000S,10C\n116 3\n-100 -1\n");
	check("cur", "1700000002.M1P1Q3.host:2,=third!!;");
}

/* A session killed during UPDATE (SIGKILL at the third unlink) leaves a
 * maildirsize that has every removal done before it. */
static void test_maildirsize_right_after_a_kill_during_update(void **state)
{
	struct mailstore *s;
	unsigned char del[3] = { 1, 1, 1 }, seen[3] = { 0, 0, 0 };
	struct commit_result r;
	char got[256];
	pid_t pid;
	int status;
	(void)state;
	rename_errno = 0;
	make_maildir();
	put("cur/1700000000.M1P1Q1.host:2,", "one");
	put("cur/1700000001.M1P1Q2.host:2,", "second");
	put("cur/1700000002.M1P1Q3.host:2,", "third!!");
	put("maildirsize", "1000S,10C\n16 3\n");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		s = open_store();
		unlinks = 0;
		kill_at_unlink = 3;
		maildir_ops.commit(s, del, seen, &r);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	check("cur", "1700000002.M1P1Q3.host:2,=third!!;");
	slurp("maildirsize", got, sizeof(got));
	assert_string_equal(got, "1000S,10C\n16 3\n-3 -1\n-6 -1\n");
}

/* A maildirsize over the specification's 5120 bytes is recalculated by
 * its next reader: no line is added to it. */
static void test_maildirsize_over_the_bound_is_left_to_recalculation(void **state)
{
	struct mailstore *s;
	unsigned char del[1] = { 1 }, seen[1] = { 0 };
	struct commit_result r;
	static char big[6000], got[7000];
	(void)state;
	rename_errno = 0;
	make_maildir();
	put("cur/1700000000.M1P1Q1.host:2,", "one");
	memset(big, '\n', 5200);
	memcpy(big, "1000S\n", 6);
	put("maildirsize", big);
	s = open_store();
	assert_int_equal(maildir_ops.commit(s, del, seen, &r), MS_OK);
	maildir_ops.close(s);
	assert_int_equal(r.deleted, 1);
	slurp("maildirsize", got, sizeof(got));
	assert_string_equal(got, big);
	check("cur", "");
}

static void put_aged(const char *rel, time_t age)
{
	char p[256];
	struct timespec ts[2];
	put(rel, "partial delivery");
	snprintf(p, sizeof(p), "%s/Maildir/%s", top, rel);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* maildir(5): tmp/ files untouched for 36 hours go at login; fresh ones,
 * and what is not a regular file, stay. */
static void test_tmp_sweep_removes_only_stale_files(void **state)
{
	struct mailstore *s;
	char p[256];
	(void)state;
	rename_errno = 0;
	make_maildir();
	put_aged("tmp/1700000000.M1P1Q1.host", 37 * 3600);
	put_aged("tmp/1700000001.M1P1Q2.host", 35 * 3600);
	put("tmp/1700000002.M1P1Q3.host", "fresh");
	snprintf(p, sizeof(p), "%s/Maildir/tmp/olddir", top);
	assert_int_equal(mkdir(p, 0700), 0);
	{
		struct timespec ts[2] = { { time(NULL) - 40 * 3600, 0 }, { time(NULL) - 40 * 3600, 0 } };
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
	s = open_store();
	assert_int_equal(maildir_ops.count(s), 0);
	maildir_ops.close(s);
	check("tmp", "1700000001.M1P1Q2.host=partial delivery;1700000002.M1P1Q3.host=fresh;"
	      "olddir=;");
}

/* A login looks at a bounded number of tmp/ entries: a flooded tmp/ is
 * cleared over several logins. */
static void test_tmp_sweep_is_bounded(void **state)
{
	struct mailstore *s;
	char rel[64], dir[256];
	struct dirent **v;
	int n, i, left[2];
	(void)state;
	rename_errno = 0;
	make_maildir();
	for (i = 0; i < 300; i++) {
		snprintf(rel, sizeof(rel), "tmp/17000%05d.M1P1Q1.host", i);
		put_aged(rel, 40 * 3600);
	}
	snprintf(dir, sizeof(dir), "%s/Maildir/tmp", top);
	for (i = 0; i < 2; i++) {
		s = open_store();
		maildir_ops.close(s);
		n = scandir(dir, &v, NULL, alphasort);
		assert_true(n >= 2);
		left[i] = n - 2;
		while (n--)
			free(v[n]);
		free(v);
	}
	assert_true(left[0] > 0 && left[0] < 300);
	assert_int_equal(left[1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_moves_by_link_and_unlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_name_is_not_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_unlink_takes_the_new_name_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_failed_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildirsize_counts_only_what_was_removed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_maildirsize_right_after_a_kill_during_update,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_maildirsize_over_the_bound_is_left_to_recalculation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_sweep_removes_only_stale_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tmp_sweep_is_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
