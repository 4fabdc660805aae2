/* test_util.c - unit tests for src/util.c: log_safe, ct_equal, write_all
 * and the small allocation and time helpers. */
#include "unit.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_log_safe(void **state)
{
	char out[64];
	assert_string_equal(log_safe(out, sizeof(out), "alice", 5), "alice");
	assert_string_equal(log_safe(out, sizeof(out), "a b", 3), "a?b");
	assert_string_equal(log_safe(out, sizeof(out), "x\r\nuser=<root>", 14), "x??user=?root?");
	assert_string_equal(log_safe(out, sizeof(out), "\"q\"\\", 4), "?q??");
	assert_string_equal(log_safe(out, sizeof(out), "\x7f\x80\xff\x01\t", 5), "?????");
	assert_string_equal(log_safe(out, sizeof(out), "!~", 2), "!~");
	/* NUL inside the span is replaced, not an end. */
	assert_string_equal(log_safe(out, sizeof(out), "a\0b", 3), "a?b");
	/* Only len bytes are read. */
	assert_string_equal(log_safe(out, sizeof(out), "abcdef", 3), "abc");
	assert_string_equal(log_safe(out, sizeof(out), "abc", 0), "");
	/* Truncated to cap - 1, always terminated, nothing past cap written. */
	memset(out, 'Z', sizeof(out));
	assert_string_equal(log_safe(out, 4, "abcdef", 6), "abc");
	assert_int_equal(out[4], 'Z');
	memset(out, 'Z', sizeof(out));
	assert_string_equal(log_safe(out, 1, "abc", 3), "");
	assert_int_equal(out[1], 'Z');
	memset(out, 'Z', sizeof(out));
	log_safe(out, 0, "abc", 3);
	assert_int_equal(out[0], 'Z');
	/* Returns out. */
	assert_ptr_equal(log_safe(out, sizeof(out), "x", 1), out);
}

static void test_log_safe_all_bytes(void **state)
{
	char in[256], out[257];
	int i;
	for (i = 0; i < 256; i++)
		in[i] = (char)i;
	log_safe(out, sizeof(out), in, sizeof(in));
	assert_int_equal(strlen(out), 256);
	for (i = 0; i < 256; i++) {
		int keep = i >= 0x21 && i <= 0x7e && i != '<' && i != '>' && i != '"' && i != '\\';
		if (keep ? out[i] != (char)i : out[i] != '?')
			fail_msg("byte 0x%02x -> 0x%02x", i, (unsigned char)out[i]);
	}
}

static void test_ct_equal(void **state)
{
	assert_true(ct_equal("abc", 3, "abc", 3));
	assert_true(ct_equal("", 0, "", 0));
	assert_true(ct_equal("x", 0, "y", 0));
	assert_false(ct_equal("abc", 3, "abd", 3));
	assert_false(ct_equal("abc", 3, "bbc", 3));
	assert_false(ct_equal("abc", 3, "ab", 2));
	assert_false(ct_equal("ab", 2, "abc", 3));
	assert_false(ct_equal("", 0, "a", 1));
	assert_false(ct_equal("a\0b", 3, "a\0c", 3));
	assert_true(ct_equal("a\0b", 3, "a\0b", 3));
	/* Every single-bit difference is seen. */
	unsigned char a[32], b[32];
	size_t i;
	int bit;
	for (i = 0; i < sizeof(a); i++)
		a[i] = (unsigned char)(i * 37);
	for (i = 0; i < sizeof(a); i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(b, a, sizeof(a));
			b[i] ^= (unsigned char)(1 << bit);
			assert_false(ct_equal(a, sizeof(a), b, sizeof(b)));
		}
	assert_true(ct_equal(a, sizeof(a), a, sizeof(a)));
	/* Length 256 apart: a truncated (unsigned char) length difference
	 * must not make them equal. */
	{
		static unsigned char big[512];
		assert_false(ct_equal(big, 256, big, 512));
		assert_false(ct_equal(big, 0, big, 256));
	}
}

static void test_write_all_pipe(void **state)
{
	int fds[2];
	char buf[16];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write_all(fds[1], "hello", 5), 0);
	assert_int_equal(write_all(fds[1], "", 0), 0);
	assert_int_equal(read(fds[0], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	close(fds[0]);
	close(fds[1]);
}

static void test_write_all_large(void **state)
{
	/* More than a pipe holds: write_all must loop over short writes. */
	size_t n = 4 << 20, got = 0, i;
	char *data = malloc(n), *back = malloc(n);
	int fds[2], status;
	pid_t pid;
	assert_non_null(data);
	assert_non_null(back);
	for (i = 0; i < n; i++)
		data[i] = (char)(i * 131 + (i >> 12));
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(write_all(fds[1], data, n) == 0 ? 0 : 1);
	}
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], back + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == n)
			break;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got, n);
	assert_memory_equal(back, data, n);
	free(data);
	free(back);
}

static void test_write_all_errors(void **state)
{
	int fds[2];
	void (*old)(int);
	assert_int_equal(write_all(-1, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	/* Reader gone: EPIPE (with SIGPIPE ignored), not a hang or a loop. */
	old = signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	assert_int_equal(write_all(fds[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(fds[1]);
	signal(SIGPIPE, old);
	/* Read-only descriptor. */
	{
		int fd = open("/dev/null", O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(write_all(fd, "x", 1), -1);
		close(fd);
	}
}

static void test_alloc_helpers(void **state)
{
	char *s = xstrdup("postern");
	char *t = xstrndup("postern", 4);
	char *z = xmalloc(0);
	char *c = xcalloc(0, 0);
	int *v = xcalloc(4, sizeof(int));
	assert_string_equal(s, "postern");
	assert_string_equal(t, "post");
	assert_non_null(z);
	assert_non_null(c);
	assert_true(v[0] == 0 && v[3] == 0);
	v = xrealloc(v, 100 * sizeof(int));
	v[99] = 1;
	free(s);
	free(t);
	free(z);
	free(c);
	free(v);
}

static void test_time(void **state)
{
	uint64_t a = now_ms(), b;
	sleep_ms(20);
	b = now_ms();
	assert_true(b >= a + 19);
	assert_true(b < a + 5000);
	sleep_ms(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_safe),
		cmocka_unit_test(test_log_safe_all_bytes),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_write_all_pipe),
		cmocka_unit_test(test_write_all_large),
		cmocka_unit_test(test_write_all_errors),
		cmocka_unit_test(test_alloc_helpers),
		cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
