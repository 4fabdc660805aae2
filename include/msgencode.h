/* msgencode.h - the POP3 wire form of a stored message: LF becomes CRLF (CRLF
 * stays), a line starting with '.' gets one more '.', and TOP's header plus
 * N body lines cut.  Pure functions over chunks, so any message size streams
 * with bounded memory. */
#ifndef POSTERN_MSGENCODE_H
#define POSTERN_MSGENCODE_H
#include <stddef.h>
#include <stdint.h>

struct msgenc {
	int at_bol;          /* next byte starts a line */
	int prev_cr;         /* last byte seen was CR */
	int in_body;         /* the blank line ending the header was passed */
	uint64_t line_len;   /* bytes of the current line so far */
	int64_t body_left;   /* body lines still to send; -1 = unlimited */
	int done;            /* TOP limit reached: ignore further input */
	int last_was_lf;     /* the last byte emitted ended a line */
	int any;             /* at least one byte was consumed */
};

/* body_lines < 0: whole message (RETR); otherwise TOP with that many lines. */
void msgenc_init(struct msgenc *e, int64_t body_lines);

/* Encode len input bytes into out, which must hold 2 * len bytes.  Returns
 * the number of bytes written.  Sets e->done when a TOP limit is reached. */
size_t msgenc_chunk(struct msgenc *e, const char *in, size_t len, char *out);

/* The bytes that end the multi-line reply: "\r\n.\r\n" when the message did
 * not end in a line end, ".\r\n" otherwise.  Returns its length. */
size_t msgenc_finish(const struct msgenc *e, char *out /* >= 5 bytes */);

/* Size counting (no dot-stuffing): feed chunks, then read the total. */
struct msgsize {
	uint64_t octets;
	int prev_cr;
	int last_was_lf;
	int any;
};
void msgsize_init(struct msgsize *s);
void msgsize_chunk(struct msgsize *s, const char *in, size_t len);
/* Octets as sent: CRLF line ends, plus the CRLF added to a last line that
 * had no line end. */
uint64_t msgsize_total(const struct msgsize *s);
#endif
