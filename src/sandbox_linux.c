/* sandbox_linux.c - Linux-only confinement of the pre-auth process: a
 * seccomp allowlist (libseccomp) of what it needs after chroot and the
 * privilege drop: socket I/O on descriptors it already has, memory, time,
 * randomness for TLS, and exit.  Opening files, creating sockets, fork and
 * exec are refused.  Installed by drop_to_preauth() when seccomp = yes. */
#include "log.h"
#include "sandbox.h"
#include "util.h"
#include <errno.h>
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
	SCMP_SYS(getpeername), SCMP_SYS(fcntl), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(lseek), SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(madvise), SCMP_SYS(mprotect), SCMP_SYS(futex), SCMP_SYS(getrandom),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
	SCMP_SYS(uname), SCMP_SYS(getrlimit), SCMP_SYS(prlimit64),
};

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
