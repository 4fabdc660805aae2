/* sandbox_linux.c - Linux-only confinement of the pre-auth process: a
 * seccomp allowlist (libseccomp) of what it needs after chroot and the
 * privilege drop: socket I/O on descriptors it already has, memory, time,
 * randomness for TLS, and exit.  Opening files, creating sockets, fork and
 * exec are refused.  Nothing in the list reaches another process: every
 * pre-auth process and TLS relay runs as the same uid, so a call that takes
 * a pid or a process's clock is allowed for the caller only (see
 * self_only_rules()).  Installed by drop_to_preauth() when seccomp = yes. */
#include "log.h"
#include "sandbox.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <seccomp.h>
#include <string.h>

static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(close), SCMP_SYS(shutdown),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(lseek), SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(futex), SCMP_SYS(getrandom),
	SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(uname), SCMP_SYS(getrlimit),
};

/* fcntl commands: all but the ones that name a process to signal
 * (F_SETOWN, F_SETOWN_EX with O_ASYNC send SIGIO, whose default action
 * ends a process, to any process of the same uid) or a signal to send. */
static const int fcntl_cmds[] = {
	F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL,
	F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
	F_GETOWN, F_GETOWN_EX, F_GETSIG, F_GETPIPE_SZ,
};

/* Clocks: the system-wide ones and the caller's own CPU clocks.  A
 * negative clock id encodes another process's or thread's CPU clock. */
static const int clocks[] = {
	CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
	CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
	CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME,
};

/* The calls that could reach another process, allowed for the caller only.
 * Anything else (prlimit64 on another pid, a pid's CPU clock, F_SETOWN)
 * falls through to the default action: the process is killed. */
static int self_only_rules(scmp_filter_ctx ctx)
{
	/* Each comparison names datum_b (unused by SCMP_CMP_EQ) as 0: the
	 * macros build a compound literal, and clang's
	 * -Wmissing-field-initializers (-Wextra) refuses one that leaves it out. */
	size_t i;
	int rc;
	/* prlimit64(0, ...): glibc's getrlimit/setrlimit.  Another pid would
	 * let one session set a 1-second CPU limit on every other. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
			      SCMP_A0(SCMP_CMP_EQ, 0, 0));
	for (i = 0; i < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1_32(SCMP_CMP_EQ, (uint32_t)fcntl_cmds[i], 0));
	for (i = 0; i < sizeof(clocks) / sizeof(clocks[0]) && rc == 0; i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clock_gettime), 1,
				      SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)clocks[i], 0));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clock_nanosleep), 1,
					      SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)clocks[i], 0));
	}
	return rc;
}

/* Refused with an error instead of a kill: library code that may try them
 * (syslog reconnecting, OpenSSL looking for its config) copes with failure. */
static const int refused[] = {
	SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(socket), SCMP_SYS(connect),
	SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(statx), SCMP_SYS(readlink),
};

/* The filter is compiled once (in the master, before any fork) and only
 * loaded per connection: compiling costs more than the rest of a fork. */
static struct sock_filter *prog;
static unsigned short prog_len;

void sandbox_prepare(void)
{
	scmp_filter_ctx ctx;
	size_t i;
	int rc = 0, fd;
	off_t len;

	if (prog)
		return;
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		pfatal("seccomp_init failed");
	/* A binary tree of syscall numbers instead of a linear list: the
	 * kernel runs the filter once per syscall number when it is loaded
	 * (to build its allow cache), so a short path per number is most of
	 * the cost of loading it for each connection. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	if (rc == 0)
		rc = self_only_rules(ctx);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), refused[i], 0);
	fd = memfd_create("postern-seccomp", MFD_CLOEXEC);
	if (rc == 0 && fd >= 0)
		rc = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (rc != 0 || fd < 0 || (len = lseek(fd, 0, SEEK_END)) <= 0 ||
	    len % (off_t)sizeof(struct sock_filter) != 0 ||
	    len / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
		pfatal("cannot build the seccomp filter");
	prog = xmalloc((size_t)len);
	if (pread(fd, prog, (size_t)len, 0) != (ssize_t)len)
		pfatal("cannot read the seccomp filter back");
	prog_len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	close(fd);
}

void sandbox_preauth(void)
{
	struct sock_fprog fp;
	sandbox_prepare();
	fp.len = prog_len;
	fp.filter = prog;
	/* no_new_privs is already set by drop_to_preauth(). */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0)
		pfatal("cannot install the seccomp filter: %s", strerror(errno));
}
