/* msgref.h - a deliberately simple, line-at-a-time reference for the POP3
 * wire encoding (src/msgencode.c), shared by the unit tests and the fuzzer.
 * It reads the whole message at once, so it has none of the chunk-boundary
 * state the real encoder keeps; the two must agree byte for byte. */
#ifndef POSTERN_TEST_MSGREF_H
#define POSTERN_TEST_MSGREF_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Encode in[0..len) as RETR (top < 0) or TOP top, including the terminating
 * ".\r\n" or "\r\n.\r\n".  out must hold 2 * len + 5 bytes.  *dots gets the
 * number of stuffing dots added, *size the octet count LIST must report
 * (CRLF line ends, +2 for a last line without line end, no stuffing). */
static inline size_t msgref_encode(const char *in, size_t len, int64_t top,
				   char *out, size_t *dots, uint64_t *size)
{
	size_t i = 0, o = 0;
	int in_body = 0, at_bol = 1;
	int64_t left = top;

	*dots = 0;
	*size = 0;
	while (i < len) {
		size_t s = i, clen;
		int has_lf, ends_cr;
		if (in_body && left == 0)
			break;
		while (i < len && in[i] != '\n')
			i++;
		clen = i - s;
		has_lf = i < len;
		ends_cr = clen > 0 && in[s + clen - 1] == '\r';
		if (clen > 0 && in[s] == '.') {
			out[o++] = '.';
			(*dots)++;
		}
		memcpy(out + o, in + s, clen);
		o += clen;
		if (!has_lf) {
			*size += clen + 2;
			at_bol = 0;
			break;
		}
		i++;
		if (!ends_cr)
			out[o++] = '\r';
		out[o++] = '\n';
		*size += clen + (ends_cr ? 1 : 2);
		at_bol = 1;
		if (!in_body) {
			if (clen == 0 || (clen == 1 && ends_cr))
				in_body = 1;
		} else if (left > 0) {
			left--;
		}
	}
	if (at_bol) {
		memcpy(out + o, ".\r\n", 3);
		o += 3;
	} else {
		memcpy(out + o, "\r\n.\r\n", 5);
		o += 5;
	}
	return o;
}
#endif
