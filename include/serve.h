/* serve.h - the command loop of the two protocol processes: read a line,
 * parse it against the command table, check state and arguments, call the
 * process's handler, count bad lines.  What ends the loop is returned to
 * the process, which knows what to answer and log at its end. */
#ifndef POSTERN_SERVE_H
#define POSTERN_SERVE_H
#include "netio.h"
#include "pop3.h"

/* Bad lines (unknown commands, wrong state or arguments, control bytes,
 * over-long lines) are answered with -ERR and the session goes on; the
 * first SERVE_LOG_BAD_MAX of them in each process (before and after the
 * login) are logged, the rest only counted, so a client cannot flood the
 * log.  postern(8) and README say the same. */
#define SERVE_LOG_BAD_MAX 5

enum serve_end {
	SERVE_EOF,          /* the client closed, or a read failed */
	SERVE_TIMEOUT,      /* the connection's deadline or idle timeout */
	SERVE_TOO_MANY,     /* more than max_lines command lines */
	SERVE_WRITE_FAILED, /* a reply could not be written */
	SERVE_UPDATE,       /* a handler entered the UPDATE state (QUIT) */
};

struct serve {
	struct conn *c;
	enum pop3_state state;           /* handlers may change it */
	pop3_handler *const *handlers;   /* [CMD_COUNT]; NULL: not here */
	unsigned long off;               /* bit (1 << id): an extension turned
	                                  * off, answered as an unknown command */
	void *ctx;                       /* the handlers' first argument */
	unsigned max_lines;              /* command lines allowed, 0: no limit */
	unsigned lines, bad;             /* counted so far */
	char who[352];                   /* log text naming the client:
	                                  * "rip=ADDR" or "user=<U> rip=ADDR" */
};

/* Serve commands until the session ends; returns why. */
enum serve_end serve(struct serve *sv);
#endif
