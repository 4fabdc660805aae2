/* netio.h - buffered POP3 line I/O over a plain descriptor or a TLS session.
 * Replies are collected and written when the process is about to wait for
 * input, so pipelined commands get their answers in few large writes. */
#ifndef POSTERN_NETIO_H
#define POSTERN_NETIO_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LINE_MAX_POP3 1024      /* longest command line we accept, CRLF included */
#define LINGER_MS 1000          /* conn_linger: how long a closing client may take */
/* Longest SASL response line: RFC 5034 section 4 wants the largest response
 * of each mechanism taken whatever the command line limit; the longest is a
 * PLAIN with a 255-octet authzid and authcid and a 511-byte password, 1023
 * octets, 1364 in base64. */
#define LINE_MAX_SASL 1400
#define IN_CAP 4096

enum line_status { LINE_OK, LINE_TOOLONG, LINE_EOF, LINE_TIMEOUT, LINE_ERR };

/* A transport other than a plain fd (TLS).  read/write return bytes, 0 at
 * EOF, -1 on error; pending says whether data is buffered inside. */
struct transport {
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	ssize_t (*write)(void *ctx, const void *buf, size_t n);
	int (*pending)(void *ctx);
	void *ctx;
};

struct conn {
	int rfd, wfd;
	const struct transport *tr;   /* NULL: plain rfd/wfd */
	char in[IN_CAP];
	size_t in_start, in_end;
	int discarding;               /* inside an over-long line */
	char *out;
	size_t out_len, out_cap;
	uint64_t deadline;            /* absolute now_ms() limit, 0 = none */
	uint64_t idle_ms;             /* per-read limit, 0 = none */
	int rcvtimeo;                 /* rfd is blocking with SO_RCVTIMEO =
	                               * idle_ms: read() itself waits */
	size_t line_max;              /* 0: LINE_MAX_POP3 */
	int last_outq;                /* output queue at the last idle check */
	int write_failed;
	uint64_t bytes_out;
};

void conn_init(struct conn *c, int rfd, int wfd);
void conn_free(struct conn *c);
/* Preload bytes already read by another process (pipelined input). */
int conn_preload(struct conn *c, const void *buf, size_t len);

/* Read one line into line (NUL-terminated, CRLF or LF stripped).  An
 * over-long line returns LINE_TOOLONG once and its rest is discarded. */
enum line_status conn_read_line(struct conn *c, char **line, size_t *len);
/* Bytes buffered but not yet consumed. */
size_t conn_buffered(const struct conn *c);

/* Queue reply text; conn_flush writes it out. */
void conn_put(struct conn *c, const void *buf, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int conn_flush(struct conn *c);
/* Write a large block: flushes queued text, then writes buf directly. */
int conn_write_big(struct conn *c, const void *buf, size_t len);
/* The end of the connection, when this process is its last user: shut
 * the write side, then read and drop the client's input until it closes,
 * for at most ms (see netio.c). */
void conn_linger(struct conn *c, unsigned ms);
#endif
