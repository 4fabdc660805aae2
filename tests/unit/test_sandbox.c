/* test_sandbox.c - the real pre-auth seccomp filter (src/sandbox_linux.c),
 * loaded in forked children: what the pre-auth process needs works, and the
 * calls that could reach another process of the same uid (prlimit64 on
 * another pid, another process's CPU clock, F_SETOWN) end the caller with
 * SIGSYS and leave the other process untouched. */
#include "unit.h"
#include "sandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum action {
	PRLIMIT_SELF_GET, PRLIMIT_SELF_SET, GETRLIMIT, PRLIMIT_OTHER_SET,
	PRLIMIT_OTHER_GET, FCNTL_GETFL, FCNTL_SETOWN, CLOCK_MONO, CLOCK_OWN_CPU,
	CLOCK_OTHER_CPU,
};

static pid_t victim;    /* a sleeping child: the "other session" */
static int fds[2];      /* a pipe made before the filter is loaded */

static void do_action(enum action a)
{
	struct rlimit rl = { 1, 1 }, old;
	struct timespec ts;
	clockid_t cid;
	switch (a) {
	case PRLIMIT_SELF_GET:
		_exit(prlimit(0, RLIMIT_NOFILE, NULL, &old) == 0 ? 0 : 3);
	case PRLIMIT_SELF_SET:
		_exit(prlimit(0, RLIMIT_CORE, &(struct rlimit){ 0, 0 }, NULL) == 0 ? 0 : 3);
	case GETRLIMIT:
		_exit(getrlimit(RLIMIT_AS, &old) == 0 ? 0 : 3);
	case PRLIMIT_OTHER_SET:
		_exit(prlimit(victim, RLIMIT_CPU, &rl, NULL) == 0 ? 0 : 3);
	case PRLIMIT_OTHER_GET:
		_exit(prlimit(victim, RLIMIT_CPU, NULL, &old) == 0 ? 0 : 3);
	case FCNTL_GETFL:
		_exit(fcntl(fds[0], F_GETFL) >= 0 &&
		      fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0 ? 0 : 3);
	case FCNTL_SETOWN:
		_exit(fcntl(fds[0], F_SETOWN, victim) == 0 ? 0 : 3);
	case CLOCK_MONO:
		_exit(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0 ? 0 : 3);
	case CLOCK_OWN_CPU:
		_exit(syscall(SYS_clock_gettime, CLOCK_PROCESS_CPUTIME_ID, &ts) == 0 ? 0 : 3);
	case CLOCK_OTHER_CPU:
		/* Worked out before the filter is loaded (it reads nothing). */
		if (clock_getcpuclockid(victim, &cid) != 0)
			_exit(4);
		sandbox_preauth();
		_exit(syscall(SYS_clock_gettime, cid, &ts) == 0 ? 0 : 3);
	}
	_exit(5);
}

/* Runs a in a child under the filter; returns its wait status. */
static int run_sandboxed(enum action a)
{
	int st;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (pipe(fds) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(6);
		if (a != CLOCK_OTHER_CPU)
			sandbox_preauth();
		do_action(a);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int setup(void **state)
{
	sandbox_prepare();
	victim = fork();
	if (victim < 0)
		return -1;
	if (victim == 0) {
		for (;;)
			pause();
	}
	return 0;
}

static int teardown(void **state)
{
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);
	return 0;
}

static void assert_allowed(enum action a)
{
	int st = run_sandboxed(a);
	if (!WIFEXITED(st))
		fail_msg("action %d: killed by signal %d", (int)a, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void assert_killed(enum action a)
{
	int st = run_sandboxed(a);
	if (!WIFSIGNALED(st))
		fail_msg("action %d: allowed (exit %d), want SIGSYS", (int)a, WEXITSTATUS(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static void test_own_limits_allowed(void **state)
{
	assert_allowed(PRLIMIT_SELF_GET);
	assert_allowed(PRLIMIT_SELF_SET);
	assert_allowed(GETRLIMIT);
}

static void test_other_pid_limits_refused(void **state)
{
	struct rlimit before, after;
	assert_int_equal(prlimit(victim, RLIMIT_CPU, NULL, &before), 0);
	assert_killed(PRLIMIT_OTHER_SET);
	assert_killed(PRLIMIT_OTHER_GET);
	/* The other process's limit is what it was. */
	assert_int_equal(prlimit(victim, RLIMIT_CPU, NULL, &after), 0);
	assert_true(before.rlim_cur == after.rlim_cur && before.rlim_max == after.rlim_max);
	assert_int_equal(kill(victim, 0), 0);
}

static void test_fcntl(void **state)
{
	assert_allowed(FCNTL_GETFL);
	assert_killed(FCNTL_SETOWN);
}

static void test_clocks(void **state)
{
	assert_allowed(CLOCK_MONO);
	assert_allowed(CLOCK_OWN_CPU);
	assert_killed(CLOCK_OTHER_CPU);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_limits_allowed),
		cmocka_unit_test(test_other_pid_limits_refused),
		cmocka_unit_test(test_fcntl),
		cmocka_unit_test(test_clocks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
