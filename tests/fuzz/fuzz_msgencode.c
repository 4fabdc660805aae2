/* fuzz_msgencode.c - libFuzzer target for src/msgencode.c.
 *
 * Input: byte 0 picks RETR (high bit set) or TOP 0-15, byte 1 seeds the
 * chunk sizes, the rest is the stored message.  Checks, abort() on failure:
 *  - one-shot, byte-at-a-time, small- and large-chunk encodings are identical and
 *    equal a simple line-at-a-time reference (tests/unit/msgref.h);
 *  - each msgenc_chunk call stays within its 2 * len output buffer (each
 *    call gets a malloc of exactly that size, so ASan sees any overrun);
 *  - msgsize_total, one-shot and chunked, equals the RETR bytes sent minus
 *    the stuffing dots and the terminating ".\r\n". */
#include "msgencode.h"
#include "../unit/msgref.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_msgencode: %s\n", what);
		abort();
	}
}

/* Encode in chunks whose sizes come from next_len (0 = whole rest). */
static size_t encode_chunked(const char *msg, size_t len, int64_t top,
			     uint32_t seed, int mode, char *out)
{
	struct msgenc e;
	size_t pos = 0, o = 0;
	uint32_t x = seed * 2654435761u + 1;

	msgenc_init(&e, top);
	while (pos < len) {
		size_t n, w;
		char *buf;
		if (mode == 1) {
			n = 1;
		} else if (mode == 2) {
			/* Chunks long enough for the 64-byte block path, which
			 * then meets its state at every boundary. */
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = 100 + (x >> 8) % 400;
		} else {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* Mostly small chunks, sometimes empty ones. */
			n = x % 9 == 0 ? 0 : 1 + (x >> 8) % 7;
		}
		if (n > len - pos)
			n = len - pos;
		buf = malloc(2 * n ? 2 * n : 1);
		check(buf != NULL, "malloc");
		w = msgenc_chunk(&e, msg + pos, n, buf);
		check(w <= 2 * n, "chunk wrote more than 2 * len");
		memcpy(out + o, buf, w);
		o += w;
		free(buf);
		pos += n;
	}
	o += msgenc_finish(&e, out + o);
	return o;
}

static uint64_t size_chunked(const char *msg, size_t len, uint32_t seed)
{
	struct msgsize s;
	size_t pos = 0;
	uint32_t x = seed * 40503u + 7;

	msgsize_init(&s);
	while (pos < len) {
		size_t n;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		n = x % 5 == 0 ? 0 : 1 + (x >> 8) % 5;
		if (n > len - pos)
			n = len - pos;
		msgsize_chunk(&s, msg + pos, n);
		pos += n;
	}
	return msgsize_total(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg;
	size_t len, refn, n1, fl1, nc, nb, nl, dots;
	uint64_t refsize;
	int64_t top;
	char *ref, *one, *chk, *byt, *lng;
	struct msgenc e;
	struct msgsize s;

	if (size < 2)
		return 0;
	top = (data[0] & 0x80) ? -1 : (int64_t)(data[0] & 0x0f);
	msg = (const char *)data + 2;
	len = size - 2;

	ref = malloc(2 * len + 5);
	one = malloc(2 * len + 5);
	chk = malloc(2 * len + 5);
	byt = malloc(2 * len + 5);
	lng = malloc(2 * len + 5);
	check(ref && one && chk && byt && lng, "malloc");

	refn = msgref_encode(msg, len, top, ref, &dots, &refsize);

	msgenc_init(&e, top);
	n1 = msgenc_chunk(&e, msg, len, one);
	check(n1 <= 2 * len, "one-shot wrote more than 2 * len");
	fl1 = msgenc_finish(&e, one + n1);
	n1 += fl1;

	nc = encode_chunked(msg, len, top, data[1], 0, chk);
	nb = encode_chunked(msg, len, top, 0, 1, byt);
	nl = encode_chunked(msg, len, top, data[1], 2, lng);

	check(n1 == refn && memcmp(one, ref, refn) == 0, "one-shot != reference");
	check(nc == refn && memcmp(chk, ref, refn) == 0, "chunked != reference");
	check(nb == refn && memcmp(byt, ref, refn) == 0, "byte-wise != reference");
	check(nl == refn && memcmp(lng, ref, refn) == 0, "large-chunk != reference");

	if (top < 0) {
		uint64_t sz;
		msgsize_init(&s);
		msgsize_chunk(&s, msg, len);
		sz = msgsize_total(&s);
		check(sz == refsize, "msgsize one-shot != reference size");
		check(sz == n1 - dots - 3, "msgsize != bytes sent - dots - \".\\r\\n\"");
		check(size_chunked(msg, len, data[1]) == sz, "msgsize chunked != one-shot");
	} else {
		/* TOP sends a prefix of what RETR sends (before the terminator). */
		char *retr = malloc(2 * len + 5);
		struct msgenc r;
		size_t nr;
		check(retr != NULL, "malloc");
		msgenc_init(&r, -1);
		nr = msgenc_chunk(&r, msg, len, retr);
		check(n1 - fl1 <= nr && memcmp(one, retr, n1 - fl1) == 0,
		      "TOP is not a prefix of RETR");
		free(retr);
	}
	free(ref);
	free(one);
	free(chk);
	free(byt);
	free(lng);
	return 0;
}
