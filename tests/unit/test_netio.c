/* test_netio.c - unit tests for the line reader of src/netio.c
 * (conn_read_line): CRLF and bare LF, the length limit, over-long lines
 * answered once and discarded to their end, lines split over many reads,
 * EOF in the middle of a line, preloaded input, the deadline. */
#include "unit.h"
#include "netio.h"
#include "util.h"
#include <unistd.h>

/* A transport that hands out a script in reads of the given sizes
 * (cycling), so that a line arrives in as many pieces as wanted. */
struct script {
	const char *data;
	size_t len, off;
	const size_t *sizes;     /* NULL: as much as fits */
	size_t nsizes, calls;
};

static ssize_t s_read(void *ctx, void *buf, size_t n)
{
	struct script *s = ctx;
	size_t want = s->len - s->off;
	if (s->sizes && s->sizes[s->calls++ % s->nsizes] < want)
		want = s->sizes[(s->calls - 1) % s->nsizes];
	if (want > n)
		want = n;
	memcpy(buf, s->data + s->off, want);
	s->off += want;
	return (ssize_t)want;
}

static ssize_t s_write(void *ctx, const void *buf, size_t n)
{
	return (ssize_t)n;
}

static int s_pending(void *ctx)
{
	return 1;
}

struct rd {
	struct conn c;
	struct script s;
	struct transport tr;
};

static void rd_init(struct rd *r, const char *data, size_t len, const size_t *sizes,
		    size_t nsizes)
{
	memset(r, 0, sizeof(*r));
	r->s.data = data;
	r->s.len = len;
	r->s.sizes = sizes;
	r->s.nsizes = nsizes;
	r->tr.read = s_read;
	r->tr.write = s_write;
	r->tr.pending = s_pending;
	r->tr.ctx = &r->s;
	conn_init(&r->c, -1, -1);
	r->c.tr = &r->tr;
}

static void want_line(struct rd *r, const char *text)
{
	char *line = NULL;
	size_t len = 0;
	enum line_status ls = conn_read_line(&r->c, &line, &len);
	if (ls != LINE_OK)
		fail_msg("want line '%.40s', got status %d", text, ls);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(line, text, len);
	assert_int_equal(line[len], '\0');
}

static void want_status(struct rd *r, enum line_status want)
{
	char *line;
	size_t len;
	enum line_status ls = conn_read_line(&r->c, &line, &len);
	if (ls != want)
		fail_msg("want status %d, got %d", want, ls);
}

/* The same stream read whole, a byte at a time, and in odd pieces must
 * give the same lines. */
static const size_t one[] = { 1 };
static const size_t odd[] = { 3, 1, 7, 2, 1000, 5 };

struct split { const size_t *sizes; size_t n; };
static const struct split splits[] = { { NULL, 0 }, { one, 1 }, { odd, 6 } };
#define NSPLITS (sizeof(splits) / sizeof(splits[0]))

static void test_crlf_and_lf(void **state)
{
	static const char in[] = "USER alice\r\nPASS a b\nNOOP\r\n\r\n\nQUIT\r\n";
	size_t k;
	for (k = 0; k < NSPLITS; k++) {
		struct rd r;
		rd_init(&r, in, sizeof(in) - 1, splits[k].sizes, splits[k].n);
		want_line(&r, "USER alice");
		want_line(&r, "PASS a b");
		want_line(&r, "NOOP");
		want_line(&r, "");
		want_line(&r, "");
		want_line(&r, "QUIT");
		want_status(&r, LINE_EOF);
		conn_free(&r.c);
	}
}

static void test_cr_inside_kept(void **state)
{
	/* Only the CR right before the LF belongs to the line end. */
	static const char in[] = "a\rb\r\nc\r\r\n\r\n";
	struct rd r;
	rd_init(&r, in, sizeof(in) - 1, NULL, 0);
	want_line(&r, "a\rb");
	want_line(&r, "c\r");
	want_line(&r, "");
	want_status(&r, LINE_EOF);
	conn_free(&r.c);
}

static void test_nul_inside_kept(void **state)
{
	static const char in[] = "LI\0ST\r\n";
	struct rd r;
	char *line;
	size_t len;
	rd_init(&r, in, sizeof(in) - 1, NULL, 0);
	assert_int_equal(conn_read_line(&r.c, &line, &len), LINE_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(line, "LI\0ST", 5);
	conn_free(&r.c);
}

/* Fill buf with n copies of ch and return it as a string. */
static char *fill_str(char *buf, char ch, size_t n)
{
	memset(buf, ch, n);
	buf[n] = '\0';
	return buf;
}

static void test_limit_boundary(void **state)
{
	/* LINE_MAX_POP3 counts the CRLF: 1022 + CRLF is the longest line,
	 * 1023 + LF too (a bare LF is one octet), 1023 + CRLF is too long. */
	static char in[8192], a[1100], b[1100], c[1100];
	size_t k;
	fill_str(a, 'a', LINE_MAX_POP3 - 2);
	fill_str(b, 'b', LINE_MAX_POP3 - 1);
	fill_str(c, 'c', LINE_MAX_POP3 - 1);
	snprintf(in, sizeof(in), "%s\r\n%s\n%s\r\nNOOP\r\n", a, b, c);
	for (k = 0; k < NSPLITS; k++) {
		struct rd r;
		rd_init(&r, in, strlen(in), splits[k].sizes, splits[k].n);
		want_line(&r, a);
		want_line(&r, b);
		want_status(&r, LINE_TOOLONG);
		want_line(&r, "NOOP");
		want_status(&r, LINE_EOF);
		conn_free(&r.c);
	}
}

static void test_overlong_discarded_to_its_end(void **state)
{
	/* A line far longer than the buffer: one LINE_TOOLONG, and nothing of
	 * its tail (which looks like commands) is ever read as a line. */
	static char in[3 * IN_CAP + 64];
	size_t k, n = 0, i;
	for (i = 0; i < 3 * IN_CAP / 6; i++) {
		memcpy(in + n, "DELE 1", 6);
		n += 6;
	}
	memcpy(in + n, "\r\nSTAT\r\n", 8);
	n += 8;
	for (k = 0; k < NSPLITS; k++) {
		struct rd r;
		rd_init(&r, in, n, splits[k].sizes, splits[k].n);
		want_status(&r, LINE_TOOLONG);
		want_line(&r, "STAT");
		want_status(&r, LINE_EOF);
		conn_free(&r.c);
	}
}

static void test_overlong_then_eof(void **state)
{
	/* No line end at all: too long once, then the end. */
	static char in[2 * LINE_MAX_POP3];
	struct rd r;
	memset(in, 'x', sizeof(in));
	rd_init(&r, in, sizeof(in), odd, 6);
	want_status(&r, LINE_TOOLONG);
	want_status(&r, LINE_EOF);
	conn_free(&r.c);
}

static void test_eof_mid_line(void **state)
{
	/* An unterminated last line is not a command. */
	static const char in[] = "NOOP\r\nQUIT";
	size_t k;
	for (k = 0; k < NSPLITS; k++) {
		struct rd r;
		rd_init(&r, in, sizeof(in) - 1, splits[k].sizes, splits[k].n);
		want_line(&r, "NOOP");
		want_status(&r, LINE_EOF);
		conn_free(&r.c);
	}
	{
		static const char cr[] = "QUIT\r";
		struct rd r;
		rd_init(&r, cr, sizeof(cr) - 1, NULL, 0);
		want_status(&r, LINE_EOF);
		conn_free(&r.c);
	}
}

static void test_sasl_limit(void **state)
{
	/* line_max raises the limit for one read (a SASL response). */
	static char in[4096], a[1400];
	struct rd r;
	fill_str(a, 'Q', LINE_MAX_SASL - 2);
	snprintf(in, sizeof(in), "%s\r\n%s\r\n", a, a);
	rd_init(&r, in, strlen(in), odd, 6);
	r.c.line_max = LINE_MAX_SASL;
	want_line(&r, a);
	r.c.line_max = 0;
	want_status(&r, LINE_TOOLONG);
	want_status(&r, LINE_EOF);
	conn_free(&r.c);
}

static void test_preload(void **state)
{
	/* Bytes another process read first come before the transport's. */
	static const char pre[] = "STAT\r\nLI", rest[] = "ST 1\r\nQUIT\r\n";
	struct rd r;
	rd_init(&r, rest, sizeof(rest) - 1, one, 1);
	assert_int_equal(conn_preload(&r.c, pre, sizeof(pre) - 1), 0);
	assert_int_equal(conn_buffered(&r.c), sizeof(pre) - 1);
	want_line(&r, "STAT");
	assert_int_equal(conn_buffered(&r.c), 2);
	want_line(&r, "LIST 1");
	want_line(&r, "QUIT");
	want_status(&r, LINE_EOF);
	/* More than the input buffer is refused. */
	{
		static char big[IN_CAP + 1];
		assert_int_equal(conn_preload(&r.c, big, sizeof(big)), -1);
	}
	conn_free(&r.c);
}

static void test_pipe_and_deadline(void **state)
{
	/* A plain descriptor: lines, then a deadline already past while
	 * the writer keeps the pipe open gives LINE_TIMEOUT, not EOF. */
	int p[2];
	struct conn c;
	char *line;
	size_t len;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "CAPA\nNOOP\r\n", 11), 11);
	conn_init(&c, p[0], -1);
	assert_int_equal(conn_read_line(&c, &line, &len), LINE_OK);
	assert_string_equal(line, "CAPA");
	assert_int_equal(conn_read_line(&c, &line, &len), LINE_OK);
	assert_string_equal(line, "NOOP");
	c.deadline = 1;
	assert_int_equal(conn_read_line(&c, &line, &len), LINE_TIMEOUT);
	c.deadline = 0;
	close(p[1]);
	assert_int_equal(conn_read_line(&c, &line, &len), LINE_EOF);
	conn_free(&c);
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crlf_and_lf),
		cmocka_unit_test(test_cr_inside_kept),
		cmocka_unit_test(test_nul_inside_kept),
		cmocka_unit_test(test_limit_boundary),
		cmocka_unit_test(test_overlong_discarded_to_its_end),
		cmocka_unit_test(test_overlong_then_eof),
		cmocka_unit_test(test_eof_mid_line),
		cmocka_unit_test(test_sasl_limit),
		cmocka_unit_test(test_preload),
		cmocka_unit_test(test_pipe_and_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
