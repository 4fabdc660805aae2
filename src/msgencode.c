/* msgencode.c - stored message to POP3 wire form, chunk by chunk: LF to
 * CRLF, dot-stuffing, TOP cut; and the matching size count.  Pure code, any
 * rights; the hot loop of RETR, so it moves whole lines with memchr/memcpy. */
#include "msgencode.h"
#include <string.h>

void msgenc_init(struct msgenc *e, int64_t body_lines)
{
	memset(e, 0, sizeof(*e));
	e->at_bol = 1;
	e->body_left = body_lines;
}

#ifdef __SSE2__
#include <emmintrin.h>

/* Bit i set where p[i] is LF, for the 64 bytes at p. */
static inline uint64_t lf_mask64(const char *p)
{
	const __m128i lf = _mm_set1_epi8('\n');
	uint64_t m0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), lf));
	uint64_t m1 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), lf));
	uint64_t m2 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), lf));
	uint64_t m3 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), lf));
	return m0 | m1 << 16 | m2 << 32 | m3 << 48;
}

/* The bulk of a RETR, 64 input bytes at a time: one mask of the block's
 * line ends, and every piece of a line moved by a fixed 64-byte copy that
 * may run past the piece (the next piece or block overwrites the excess).
 * No call per line, no variable-length copy.  It stops 128 bytes before
 * the end, so those copies never read past the input, and never write
 * past 2 * len of output (the caller's promise).  Returns where it
 * stopped; *op, *bolp, *crp carry the state. */
static const char *encode_blocks(const char *p, const char *end, char **op,
				 int *bolp, int *crp)
{
	char *o = *op;
	int bol = *bolp, prev_cr = *crp;

	while (end - p >= 128) {
		const char *blk_end = p + 64, *s = p;
		uint64_t m = lf_mask64(p);
		/* A big message comes from memory, not cache: ask early. */
		__builtin_prefetch(p + 2048);
		while (m) {
			const char *lf = p + __builtin_ctzll(m);
			size_t seg = (size_t)(lf - s);
			m &= m - 1;
			if (bol && *s == '.')
				*o++ = '.';
			memcpy(o, s, 64);
			o += seg;
			if (seg ? lf[-1] != '\r' : !prev_cr)
				*o++ = '\r';
			*o++ = '\n';
			s = lf + 1;
			bol = 1;
			prev_cr = 0;
		}
		if (s < blk_end) {
			if (bol && *s == '.')
				*o++ = '.';
			memcpy(o, s, 64);
			o += blk_end - s;
			bol = 0;
			prev_cr = blk_end[-1] == '\r';
		}
		p = blk_end;
	}
	*op = o;
	*bolp = bol;
	*crp = prev_cr;
	return p;
}
#endif

/* RETR: the whole message, so no header or line counting; the state lives
 * in locals (stores through out could alias *e and force reloads). */
static size_t encode_all(struct msgenc *e, const char *in, size_t len, char *out)
{
	const char *p = in, *end = in + len;
	char *o = out;
	int bol = e->at_bol, prev_cr = e->prev_cr;

#ifdef __SSE2__
	p = encode_blocks(p, end, &o, &bol, &prev_cr);
#endif
	while (p < end) {
		const char *lf;
		size_t seg;
		if (bol && *p == '.')
			*o++ = '.';
		lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf) {
			seg = (size_t)(end - p);
			memcpy(o, p, seg);
			o += seg;
			prev_cr = end[-1] == '\r';
			bol = 0;
			break;
		}
		seg = (size_t)(lf - p);
		memcpy(o, p, seg);
		o += seg;
		if (seg ? p[seg - 1] != '\r' : !prev_cr)
			*o++ = '\r';
		*o++ = '\n';
		p = lf + 1;
		bol = 1;
		prev_cr = 0;
	}
	e->at_bol = bol;
	e->prev_cr = prev_cr;
	return (size_t)(o - out);
}

size_t msgenc_chunk(struct msgenc *e, const char *in, size_t len, char *out)
{
	const char *p = in, *end = in + len;
	char *o = out;

	if (len)
		e->any = 1;
	if (e->body_left < 0)
		return encode_all(e, in, len, out);
	while (p < end && !e->done) {
		const char *lf;
		size_t seg;
		int empty;

		if (e->at_bol) {
			if (e->in_body && e->body_left == 0) {
				e->done = 1;
				break;
			}
			if (*p == '.')
				*o++ = '.';
			e->at_bol = 0;
		}
		lf = memchr(p, '\n', (size_t)(end - p));
		seg = (size_t)((lf ? lf : end) - p);
		memcpy(o, p, seg);
		o += seg;
		if (seg > 0)
			e->prev_cr = p[seg - 1] == '\r';
		e->line_len += seg;
		if (!lf)
			break;
		/* LF ends the line; an empty line ("" or "\r") ends the header. */
		empty = e->line_len == 0 || (e->line_len == 1 && e->prev_cr);
		if (!e->prev_cr)
			*o++ = '\r';
		*o++ = '\n';
		p = lf + 1;
		e->at_bol = 1;
		e->prev_cr = 0;
		e->line_len = 0;
		if (!e->in_body) {
			if (empty)
				e->in_body = 1;
		} else if (e->body_left > 0) {
			e->body_left--;
		}
	}
	return (size_t)(o - out);
}

size_t msgenc_finish(const struct msgenc *e, char *out)
{
	if (e->at_bol) {
		memcpy(out, ".\r\n", 3);
		return 3;
	}
	memcpy(out, "\r\n.\r\n", 5);
	return 5;
}

void msgsize_init(struct msgsize *s)
{
	memset(s, 0, sizeof(*s));
	s->last_was_lf = 1;
}

void msgsize_chunk(struct msgsize *s, const char *in, size_t len)
{
	const char *p = in, *end = in + len;
	if (len == 0)
		return;
	s->octets += len;
	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (!lf)
			break;
		if (!(lf > p ? lf[-1] == '\r' : s->prev_cr))
			s->octets++;
		s->prev_cr = 0;
		p = lf + 1;
	}
	s->prev_cr = end[-1] == '\r';
	s->last_was_lf = end[-1] == '\n';
}

uint64_t msgsize_total(const struct msgsize *s)
{
	return s->octets + (s->last_was_lf ? 0 : 2);
}
