/* test_msgstream.c - src/msgstream.c: a byte range of a file, streamed in
 * POP3 form, is exactly what msgencode makes of those bytes, whether it
 * goes through the mapped window (1 MiB and up, at an offset that is not a
 * page boundary, as a message inside an mbox would be) or through read
 * buffers, for RETR and for TOP, and nothing outside the range is sent. */
#include "unit.h"
#include "msgencode.h"
#include "msgstream.h"
#include "netio.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BEFORE 5000      /* bytes before the message: not page-aligned */
#define AFTER 3000

/* A message of about len bytes: LF lines, some starting with '.', a
 * header, no final line end. */
static char *make_message(size_t len)
{
	static const char hdr[] = "Subject: range\n\n";
	size_t i = sizeof(hdr) - 1 < len ? sizeof(hdr) - 1 : len;
	char *m = malloc(len + 1);
	uint32_t seed = 12345;
	assert_non_null(m);
	memcpy(m, hdr, i);
	for (; i < len; i++) {
		uint32_t r = test_rand(&seed) % 80;
		m[i] = r == 0 ? '\n' : (r == 1 && m[i - 1] == '\n') ? '.' : (char)('a' + r % 26);
	}
	return m;
}

/* msgencode over the whole message at once, plus the end. */
static char *reference(const char *msg, size_t len, int64_t top, size_t *outlen)
{
	struct msgenc e;
	char *out = malloc(2 * len + 8);
	size_t n;
	assert_non_null(out);
	msgenc_init(&e, top);
	n = msgenc_chunk(&e, msg, len, out);
	n += msgenc_finish(&e, out + n);
	*outlen = n;
	return out;
}

static void check_range(size_t len, int64_t top)
{
	char *msg = make_message(len), *ref, *got;
	int file = memfd_create("msg", 0), out = memfd_create("out", 0);
	struct msgstream ms = { NULL, NULL };
	struct conn c;
	struct stat st;
	size_t reflen;
	char pad[BEFORE];

	assert_true(file >= 0 && out >= 0);
	memset(pad, 'X', sizeof(pad));   /* never part of the output */
	assert_int_equal(write(file, pad, BEFORE), BEFORE);
	assert_int_equal(write(file, msg, len), (ssize_t)len);
	assert_int_equal(write(file, pad, AFTER), AFTER);
	conn_init(&c, -1, out);
	assert_int_equal(msgstream_send(&ms, file, BEFORE, len, top, &c), 0);
	assert_int_equal(conn_flush(&c), 0);
	assert_int_equal(c.write_failed, 0);

	ref = reference(msg, len, top, &reflen);
	assert_int_equal(fstat(out, &st), 0);
	assert_int_equal((size_t)st.st_size, reflen);
	got = malloc(reflen + 1);
	assert_non_null(got);
	assert_int_equal(pread(out, got, reflen, 0), (ssize_t)reflen);
	assert_memory_equal(got, ref, reflen);
	assert_null(memchr(got, 'X', reflen));
	free(got);
	free(ref);
	free(msg);
	conn_free(&c);
	msgstream_free(&ms);
	close(file);
	close(out);
}

static void test_small_range_by_read(void **state)
{
	(void)state;
	check_range(200 * 1000, -1);
	check_range(17, -1);
}

static void test_big_range_mapped_at_an_odd_offset(void **state)
{
	(void)state;
	check_range(3 * 1024 * 1024 + 123, -1);
	check_range(1024 * 1024, -1);   /* exactly one window */
}

static void test_top_of_big_and_small_ranges(void **state)
{
	(void)state;
	check_range(3 * 1024 * 1024 + 123, 0);
	check_range(3 * 1024 * 1024 + 123, 40000);
	check_range(200 * 1000, 5);
}

/* An empty range is an empty message: just the end. */
static void test_empty_range(void **state)
{
	(void)state;
	check_range(0, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_range_by_read),
		cmocka_unit_test(test_big_range_mapped_at_an_odd_offset),
		cmocka_unit_test(test_top_of_big_and_small_ranges),
		cmocka_unit_test(test_empty_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
