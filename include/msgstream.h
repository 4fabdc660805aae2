/* msgstream.h - the store side of RETR and TOP: a byte range of an open
 * file, encoded for POP3 (msgencode) and written to the client with bounded
 * memory.  Big ranges go through a small mapped window, the rest through
 * read buffers.  Any store whose messages are byte ranges of files (a
 * Maildir file, a stretch of an mbox) streams with it. */
#ifndef POSTERN_MSGSTREAM_H
#define POSTERN_MSGSTREAM_H
#include <stddef.h>
#include <stdint.h>

struct conn;

/* The buffers, made on first use and kept for the session. */
struct msgstream {
	char *rbuf, *ebuf;
};

/* Send bytes [start, start + len) of fd encoded (top_lines < 0: all; else
 * the header and that many body lines), then the terminating ".".  0 when
 * done (a failed write shows in c->write_failed); -1 with errno set on a
 * read error, after which the reply cannot be completed.  A file that
 * shrinks under the mapping ends the process (SIGBUS): nothing is deleted. */
int msgstream_send(struct msgstream *ms, int fd, uint64_t start, uint64_t len,
		   int64_t top_lines, struct conn *c);
void msgstream_free(struct msgstream *ms);
#endif
