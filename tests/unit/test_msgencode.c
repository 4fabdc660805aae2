/* test_msgencode.c - unit tests for src/msgencode.c: the POP3 wire form of
 * a stored message (LF -> CRLF, CRLF kept, bare CR kept, dot-stuffing, TOP,
 * the terminator) and the LIST size, which must equal the bytes RETR sends
 * minus the stuffing dots and the terminating ".\r\n", whatever the chunking. */
#include "unit.h"
#include "msgencode.h"
#include "msgref.h"

struct buf {
	char *p;
	size_t n;
};

/* Encode msg in the chunk sizes given (0-terminated list, repeated; a
 * negative entry means an empty chunk); NULL sizes = one shot.  Every
 * chunk gets an output buffer of exactly 2 * len bytes. */
static struct buf encode(const char *msg, size_t len, int64_t top, const int *sizes)
{
	struct msgenc e;
	struct buf b;
	size_t pos = 0, k = 0;

	b.p = malloc(2 * len + 5);
	assert_non_null(b.p);
	b.n = 0;
	msgenc_init(&e, top);
	for (;;) {
		size_t n, w;
		char *out;
		if (!sizes) {
			n = len - pos;
		} else {
			int s = sizes[k++];
			if (s == 0) {
				k = 0;
				s = sizes[k++];
			}
			n = s < 0 ? 0 : (size_t)s;
		}
		if (n > len - pos)
			n = len - pos;
		out = malloc(2 * n + 1);
		assert_non_null(out);
		w = msgenc_chunk(&e, msg + pos, n, out);
		assert_true(w <= 2 * n);
		memcpy(b.p + b.n, out, w);
		b.n += w;
		free(out);
		pos += n;
		if (pos >= len && (!sizes || n > 0 || len == 0))
			break;
	}
	b.n += msgenc_finish(&e, b.p + b.n);
	return b;
}

static uint64_t size_of(const char *msg, size_t len, const int *sizes)
{
	struct msgsize s;
	size_t pos = 0, k = 0;
	msgsize_init(&s);
	if (!sizes) {
		msgsize_chunk(&s, msg, len);
		return msgsize_total(&s);
	}
	while (pos < len) {
		int c = sizes[k++];
		size_t n;
		if (c == 0) {
			k = 0;
			c = sizes[k++];
		}
		n = c < 0 ? 0 : (size_t)c;
		if (n > len - pos)
			n = len - pos;
		msgsize_chunk(&s, msg + pos, n);
		pos += n;
	}
	return msgsize_total(&s);
}

static size_t count_stuffing(const char *msg, size_t len, int64_t top)
{
	char *out = malloc(2 * len + 5);
	size_t dots;
	uint64_t sz;
	assert_non_null(out);
	msgref_encode(msg, len, top, out, &dots, &sz);
	free(out);
	return dots;
}

static void expect_n(const char *msg, size_t len, int64_t top, const char *want, size_t wantlen)
{
	struct buf b = encode(msg, len, top, NULL);
	if (b.n != wantlen || memcmp(b.p, want, wantlen) != 0) {
		print_error("input (%zu bytes), top %lld: got %zu bytes, want %zu\n",
			    len, (long long)top, b.n, wantlen);
		fail();
	}
	free(b.p);
}

static void expect(const char *msg, int64_t top, const char *want)
{
	expect_n(msg, strlen(msg), top, want, strlen(want));
}

/* The central invariant: LIST size == RETR bytes - dots - ".\r\n". */
static void check_size_invariant(const char *msg, size_t len)
{
	struct buf b = encode(msg, len, -1, NULL);
	uint64_t sz = size_of(msg, len, NULL);
	size_t dots = count_stuffing(msg, len, -1);
	assert_true(b.n >= 3 && memcmp(b.p + b.n - 3, ".\r\n", 3) == 0);
	if (sz != b.n - dots - 3)
		fail_msg("size %llu, sent %zu, dots %zu", (unsigned long long)sz, b.n, dots);
	free(b.p);
}

/* Every chunking of msg gives the one-shot result, for encode and size. */
static void check_chunkings(const char *msg, size_t len, int64_t top)
{
	struct buf one = encode(msg, len, top, NULL), b;
	uint64_t sz = size_of(msg, len, NULL);
	static const int bytewise[] = { 1, 0 };
	static const int with_empty[] = { 1, -1, 2, -1, -1, 3, 0 };
	size_t i, j;
	uint32_t seed = 12345;

#define SAME(x) do { \
		assert_int_equal((x).n, one.n); \
		assert_memory_equal((x).p, one.p, one.n); \
		free((x).p); \
	} while (0)

	/* Split at every position: two chunks. */
	for (i = 0; i <= len; i++) {
		int sizes[3] = { (int)i, (int)(len - i), 0 };
		if (i == 0)
			sizes[0] = -1;
		if (len - i == 0)
			sizes[1] = -1;
		b = encode(msg, len, top, sizes);
		SAME(b);
		if (top < 0)
			assert_true(size_of(msg, len, sizes) == sz);
	}
	/* Three chunks, every pair of split points (small messages). */
	if (len <= 64)
		for (i = 0; i <= len; i++)
			for (j = i; j <= len; j++) {
				int sizes[4] = { i ? (int)i : -1, j > i ? (int)(j - i) : -1,
						 len > j ? (int)(len - j) : -1, 0 };
				b = encode(msg, len, top, sizes);
				SAME(b);
				if (top < 0)
					assert_true(size_of(msg, len, sizes) == sz);
			}
	b = encode(msg, len, top, bytewise);
	SAME(b);
	b = encode(msg, len, top, with_empty);
	SAME(b);
	if (top < 0) {
		assert_true(size_of(msg, len, bytewise) == sz);
		assert_true(size_of(msg, len, with_empty) == sz);
	}
	/* Random chunk sizes. */
	for (i = 0; i < 50; i++) {
		int sizes[33];
		for (j = 0; j < 32; j++)
			sizes[j] = test_rand(&seed) % 4 == 0 ? -1 : (int)(1 + test_rand(&seed) % 17);
		sizes[32] = 0;
		b = encode(msg, len, top, sizes);
		SAME(b);
		if (top < 0)
			assert_true(size_of(msg, len, sizes) == sz);
	}
#undef SAME
	free(one.p);
}

static const char *samples[] = {
	"",
	"\n",
	"\r\n",
	"\r",
	".",
	".\n",
	".\r\n",
	"..\n",
	"a",
	"a\n",
	"a\r\n",
	"a\rb\n",
	"a\r\rb\r\r\n",
	"\n\n\n",
	"\r\n\r\n",
	"\r\r\n\n\r",
	"From: a\nTo: b\n\nbody\n.\n..x\nlast",
	"From: a\r\nTo: b\r\n\r\n.body\r\n\r\n.\r\nend\r\n",
	"Subject: no blank line\n.dots\nmore",
	"H: 1\n\r\n.\n.\r\n\n\r\r\n.x",
	".H: dotted header\n\n.b1\nb2\n.b3\n",
	"mixed\r\nends\nhere\rand\r\n\nbody\r\n.\n",
};

static void test_retr_line_ends(void **state)
{
	expect("a\nb\n", -1, "a\r\nb\r\n.\r\n");
	expect("a\r\nb\r\n", -1, "a\r\nb\r\n.\r\n");
	expect("a\r\nb\nc\r\n", -1, "a\r\nb\r\nc\r\n.\r\n");
	expect("\n\n", -1, "\r\n\r\n.\r\n");
	expect("\r\n\n\r\n", -1, "\r\n\r\n\r\n.\r\n");
}

static void test_bare_cr(void **state)
{
	/* A CR not followed by LF is data and passes through unchanged. */
	expect("a\rb\n", -1, "a\rb\r\n.\r\n");
	expect("a\rb", -1, "a\rb\r\n.\r\n");
	expect("\r\r\n", -1, "\r\r\n.\r\n");
	expect("a\r\r\nb\n", -1, "a\r\r\nb\r\n.\r\n");
	/* A last line ending in a bare CR still gets the added CRLF. */
	expect("x\r", -1, "x\r\r\n.\r\n");
	expect("\r", -1, "\r\r\n.\r\n");
}

static void test_no_final_newline(void **state)
{
	expect("abc", -1, "abc\r\n.\r\n");
	expect("a\nbc", -1, "a\r\nbc\r\n.\r\n");
	expect("a\r\nbc", -1, "a\r\nbc\r\n.\r\n");
}

static void test_empty_message(void **state)
{
	struct msgsize s;
	expect("", -1, ".\r\n");
	expect("", 0, ".\r\n");
	expect("", 5, ".\r\n");
	msgsize_init(&s);
	assert_true(msgsize_total(&s) == 0);
	msgsize_chunk(&s, "", 0);
	assert_true(msgsize_total(&s) == 0);
}

static void test_dot_stuffing(void **state)
{
	expect(".\n", -1, "..\r\n.\r\n");
	expect(".\r\n", -1, "..\r\n.\r\n");
	expect("..\n", -1, "...\r\n.\r\n");
	expect(".x\n", -1, "..x\r\n.\r\n");
	expect("a.\n.b\n", -1, "a.\r\n..b\r\n.\r\n");
	expect("a\n.", -1, "a\r\n..\r\n.\r\n");
	expect(".", -1, "..\r\n.\r\n");
	/* Only a dot at the start of a line; after a bare CR is not a start. */
	expect("a\r.b\n", -1, "a\r.b\r\n.\r\n");
	expect(" .\n", -1, " .\r\n.\r\n");
	/* The old terminator in the middle of a message stays data. */
	expect("x\r\n.\r\ny\r\n", -1, "x\r\n..\r\ny\r\n.\r\n");
}

static void test_mixed(void **state)
{
	expect("H: v\r\nI: w\n\r\n.a\rb\n\n.\r\nend",
	       -1, "H: v\r\nI: w\r\n\r\n..a\rb\r\n\r\n..\r\nend\r\n.\r\n");
}

static void test_top(void **state)
{
	const char *m = "H1: a\nH2: b\n\nl1\n.l2\nl3\n";
	expect(m, 0, "H1: a\r\nH2: b\r\n\r\n.\r\n");
	expect(m, 1, "H1: a\r\nH2: b\r\n\r\nl1\r\n.\r\n");
	expect(m, 2, "H1: a\r\nH2: b\r\n\r\nl1\r\n..l2\r\n.\r\n");
	expect(m, 3, "H1: a\r\nH2: b\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	expect(m, 100, "H1: a\r\nH2: b\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	/* CRLF blank line ends the header too. */
	expect("H: a\r\n\r\nb1\r\nb2\r\n", 1, "H: a\r\n\r\nb1\r\n.\r\n");
	expect("H: a\r\n\r\nb1\r\nb2\r\n", 0, "H: a\r\n\r\n.\r\n");
	/* Header without a blank line: all of it is header. */
	expect("H: a\nH: b\n", 0, "H: a\r\nH: b\r\n.\r\n");
	expect("H: a\nH: b", 0, "H: a\r\nH: b\r\n.\r\n");
	/* Last body line without line end. */
	expect("H: a\n\nb1\nb2", 2, "H: a\r\n\r\nb1\r\nb2\r\n.\r\n");
	expect("H: a\n\nb1\nb2", 1, "H: a\r\n\r\nb1\r\n.\r\n");
	/* Message that is only the blank line. */
	expect("\n", 0, "\r\n.\r\n");
	expect("\nbody\n", 0, "\r\n.\r\n");
	expect("\nbody\n", 1, "\r\nbody\r\n.\r\n");
	/* Empty body lines count as lines. */
	expect("H: a\n\n\n\nx\n", 2, "H: a\r\n\r\n\r\n\r\n.\r\n");
	/* A line "\r" (bare CR then LF) is the blank line. */
	expect("H: a\r\n\r\nb\r\n", 0, "H: a\r\n\r\n.\r\n");
	/* A line of spaces is not the blank line. */
	expect("H: a\n \nb\n\nc\n", 0, "H: a\r\n \r\nb\r\n\r\n.\r\n");
	/* Header lines starting with '.' are stuffed in TOP too. */
	expect(".H\n\n.b\n", 1, "..H\r\n\r\n..b\r\n.\r\n");
}

static void test_top_done(void **state)
{
	struct msgenc e;
	char out[64];
	size_t n;
	msgenc_init(&e, 0);
	n = msgenc_chunk(&e, "H: a\n\n", 6, out);
	assert_int_equal(n, 8);
	assert_false(e.done);
	n = msgenc_chunk(&e, "body\n", 5, out);
	assert_int_equal(n, 0);
	assert_true(e.done);
	n = msgenc_chunk(&e, "more\n", 5, out);
	assert_int_equal(n, 0);
	n = msgenc_finish(&e, out);
	assert_int_equal(n, 3);
	assert_memory_equal(out, ".\r\n", 3);
	/* RETR is never done. */
	msgenc_init(&e, -1);
	n = msgenc_chunk(&e, "H: a\n\nb\n", 8, out);
	assert_int_equal(n, 11);
	assert_false(e.done);
}

static void test_output_bound(void **state)
{
	/* Worst cases of the 2 * len bound: all LF, all ".\n". */
	static char in[4096], out[8192];
	struct msgenc e;
	size_t i, n;
	memset(in, '\n', sizeof(in));
	msgenc_init(&e, -1);
	n = msgenc_chunk(&e, in, sizeof(in), out);
	assert_int_equal(n, 2 * sizeof(in));
	for (i = 0; i < sizeof(in); i += 2) {
		in[i] = '.';
		in[i + 1] = '\n';
	}
	msgenc_init(&e, -1);
	n = msgenc_chunk(&e, in, sizeof(in), out);
	assert_int_equal(n, 2 * sizeof(in));
}

static void test_size_values(void **state)
{
	static const struct { const char *m; uint64_t size; } cases[] = {
		{ "", 0 }, { "\n", 2 }, { "\r\n", 2 }, { "a", 3 }, { "a\n", 3 },
		{ "a\r\n", 3 }, { "a\rb\n", 5 }, { "\r", 3 }, { ".\n", 3 },
		{ "a\nb", 6 }, { "a\r\nb\r\n", 6 }, { "\n\n\n", 6 },
	};
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t sz = size_of(cases[i].m, strlen(cases[i].m), NULL);
		if (sz != cases[i].size)
			fail_msg("size of sample %zu: %llu, want %llu", i,
				 (unsigned long long)sz, (unsigned long long)cases[i].size);
	}
}

static void test_size_invariant_samples(void **state)
{
	size_t i;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		check_size_invariant(samples[i], strlen(samples[i]));
}

static void test_chunk_boundaries(void **state)
{
	size_t i;
	int64_t top;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		for (top = -1; top <= 3; top++)
			check_chunkings(samples[i], strlen(samples[i]), top);
}

/* Random messages over a small alphabet rich in the interesting bytes,
 * compared with the line-at-a-time reference. */
static void test_random_vs_reference(void **state)
{
	static const char alpha[] = "\n\n\r\r..ab ";
	uint32_t seed = 99;
	char msg[300], *ref = malloc(2 * sizeof(msg) + 5);
	int iter;
	assert_non_null(ref);
	for (iter = 0; iter < 3000; iter++) {
		size_t len = test_rand(&seed) % sizeof(msg), i, dots, refn;
		int64_t top = (int64_t)(test_rand(&seed) % 6) - 1;
		uint64_t refsize;
		struct buf b;
		for (i = 0; i < len; i++)
			msg[i] = alpha[test_rand(&seed) % (sizeof(alpha) - 1)];
		refn = msgref_encode(msg, len, top, ref, &dots, &refsize);
		b = encode(msg, len, top, NULL);
		assert_int_equal(b.n, refn);
		assert_memory_equal(b.p, ref, refn);
		free(b.p);
		if (top < 0) {
			assert_true(size_of(msg, len, NULL) == refsize);
			check_size_invariant(msg, len);
		}
		if (iter % 10 == 0)
			check_chunkings(msg, len, top);
	}
	free(ref);
}

/* Lines of 0-150 bytes, so line ends fall anywhere in and across the
 * encoder's 64-byte blocks, each line ending at random in LF or CRLF and
 * starting with '.' now and then; one shot and in chunks of 100-500 bytes,
 * against the reference. */
static void test_block_path_vs_reference(void **state)
{
	uint32_t seed = 7;
	enum { MAX = 8192 };
	char *msg = malloc(MAX), *ref = malloc(2 * MAX + 5);
	int sizes[9], iter, j;
	assert_non_null(msg);
	assert_non_null(ref);
	for (iter = 0; iter < 400; iter++) {
		size_t len = 0, dots, refn;
		uint64_t refsize;
		struct buf b;
		while (len < MAX - 160) {
			size_t n = test_rand(&seed) % 151, i;
			for (i = 0; i < n; i++)
				msg[len++] = (char)('a' + test_rand(&seed) % 26);
			if (n && test_rand(&seed) % 8 == 0)
				msg[len - n] = '.';
			if (test_rand(&seed) % 3 == 0)
				msg[len++] = '\r';
			msg[len++] = '\n';
			if (test_rand(&seed) % 16 == 0)
				break;
		}
		refn = msgref_encode(msg, len, -1, ref, &dots, &refsize);
		b = encode(msg, len, -1, NULL);
		assert_int_equal(b.n, refn);
		assert_memory_equal(b.p, ref, refn);
		free(b.p);
		for (j = 0; j < 8; j++)
			sizes[j] = (int)(100 + test_rand(&seed) % 401);
		sizes[8] = 0;
		b = encode(msg, len, -1, sizes);
		assert_int_equal(b.n, refn);
		assert_memory_equal(b.p, ref, refn);
		free(b.p);
	}
	free(msg);
	free(ref);
}

static void test_one_megabyte_line(void **state)
{
	size_t len = 1 << 20, i;
	char *m = malloc(len + 2);
	static const int chunks[] = { 65536, 0 };
	static const int odd[] = { 4093, 1, 65521, 0 };
	struct buf b;
	assert_non_null(m);
	memset(m, 'x', len);
	m[0] = '.';
	/* Without a line end. */
	b = encode(m, len, -1, NULL);
	assert_int_equal(b.n, 1 + len + 5);
	assert_memory_equal(b.p, "..x", 3);
	assert_memory_equal(b.p + b.n - 5, "\r\n.\r\n", 5);
	for (i = 2; i < len + 1; i++)
		if (b.p[i] != 'x')
			fail_msg("byte %zu", i);
	free(b.p);
	assert_true(size_of(m, len, NULL) == len + 2);
	assert_true(size_of(m, len, chunks) == len + 2);
	b = encode(m, len, -1, chunks);
	assert_int_equal(b.n, 1 + len + 5);
	free(b.p);
	check_size_invariant(m, len);
	/* With LF, and with CRLF. */
	m[len] = '\n';
	b = encode(m, len + 1, -1, odd);
	assert_int_equal(b.n, 1 + len + 2 + 3);
	assert_memory_equal(b.p + b.n - 5, "\r\n.\r\n", 5);
	free(b.p);
	assert_true(size_of(m, len + 1, odd) == len + 2);
	check_size_invariant(m, len + 1);
	m[len] = '\r';
	m[len + 1] = '\n';
	b = encode(m, len + 2, -1, odd);
	assert_int_equal(b.n, 1 + len + 2 + 3);
	free(b.p);
	assert_true(size_of(m, len + 2, odd) == len + 2);
	/* As a TOP 0 header line. */
	b = encode(m, len + 2, 0, chunks);
	assert_int_equal(b.n, 1 + len + 2 + 3);
	free(b.p);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retr_line_ends),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_top_done),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_size_values),
		cmocka_unit_test(test_size_invariant_samples),
		cmocka_unit_test(test_chunk_boundaries),
		cmocka_unit_test(test_random_vs_reference),
		cmocka_unit_test(test_block_path_vs_reference),
		cmocka_unit_test(test_one_megabyte_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
