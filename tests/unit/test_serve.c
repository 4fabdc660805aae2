/* test_serve.c - unit tests for src/serve.c, the command loop of both
 * protocol processes: dispatch by command id to the process's handlers,
 * the -ERR answers of bad lines, the log limit (SERVE_LOG_BAD_MAX), the
 * line limit, state changes by a handler, and why the loop ends.  plog is
 * wrapped (-Wl,--wrap=plog) to see what is logged. */
#include "unit.h"
#include "serve.h"
#include "util.h"
#include <unistd.h>

/* ---- what was logged ---- */
static char logged[16][512];
static int nlogged;

void __wrap_plog(int prio, const char *fmt, ...);
void __wrap_plog(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (nlogged < 16)
		vsnprintf(logged[nlogged], sizeof(logged[0]), fmt, ap);
	nlogged++;
	va_end(ap);
}

/* ---- a client: a script to read, what the server wrote ---- */
struct client {
	const char *in;
	size_t len, off;
	char out[8192];
	size_t outlen;
	int fail_writes;
};

static ssize_t c_read(void *ctx, void *buf, size_t n)
{
	struct client *c = ctx;
	size_t want = c->len - c->off < n ? c->len - c->off : n;
	memcpy(buf, c->in + c->off, want);
	c->off += want;
	return (ssize_t)want;
}

static ssize_t c_write(void *ctx, const void *buf, size_t n)
{
	struct client *c = ctx;
	if (c->fail_writes)
		return -1;
	if (n > sizeof(c->out) - 1 - c->outlen)
		n = sizeof(c->out) - 1 - c->outlen;
	memcpy(c->out + c->outlen, buf, n);
	c->outlen += n;
	c->out[c->outlen] = '\0';
	return (ssize_t)n;
}

static int c_pending(void *ctx)
{
	return 1;
}

/* ---- a process: handlers that record what they were called with ---- */
struct proc {
	struct serve sv;
	struct conn conn;
	struct client cl;
	struct transport tr;
	char calls[512];
};

static void record(void *ctx, const struct pop3_req *r)
{
	struct proc *p = ctx;
	size_t n = strlen(p->calls);
	int i;
	n += (size_t)snprintf(p->calls + n, sizeof(p->calls) - n, "%s%s", n ? "," : "",
			      r->cmd->name);
	for (i = 0; i < r->argc; i++)
		n += (size_t)snprintf(p->calls + n, sizeof(p->calls) - n, " %s", r->argv[i]);
	conn_put(&p->conn, "+OK\r\n", 5);
}

static void to_trans(void *ctx, const struct pop3_req *r)
{
	struct proc *p = ctx;
	record(ctx, r);
	p->sv.state = ST_TRANS;
}

static void to_update(void *ctx, const struct pop3_req *r)
{
	struct proc *p = ctx;
	record(ctx, r);
	p->sv.state = ST_UPDATE;
}

static void flush_now(void *ctx, const struct pop3_req *r)
{
	struct proc *p = ctx;
	record(ctx, r);
	conn_flush(&p->conn);
}

static pop3_handler *const trans_handlers[CMD_COUNT] = {
	[CMD_STAT] = record, [CMD_LIST] = record, [CMD_RETR] = record,
	[CMD_TOP] = record, [CMD_QUIT] = to_update, [CMD_NOOP] = flush_now,
	/* CAPA, DELE, RSET, UIDL: valid in TRANSACTION, no handler here. */
};

static pop3_handler *const auth_handlers[CMD_COUNT] = {
	[CMD_USER] = record, [CMD_PASS] = to_trans, [CMD_QUIT] = record,
};

static void start(struct proc *p, const char *in, enum pop3_state st,
		  pop3_handler *const *handlers)
{
	memset(p, 0, sizeof(*p));
	nlogged = 0;
	p->cl.in = in;
	p->cl.len = strlen(in);
	p->tr.read = c_read;
	p->tr.write = c_write;
	p->tr.pending = c_pending;
	p->tr.ctx = &p->cl;
	conn_init(&p->conn, -1, -1);
	p->conn.tr = &p->tr;
	p->sv.c = &p->conn;
	p->sv.state = st;
	p->sv.handlers = handlers;
	p->sv.ctx = p;
	snprintf(p->sv.who, sizeof(p->sv.who), "rip=192.0.2.1");
}

static enum serve_end run(struct proc *p)
{
	enum serve_end e = serve(&p->sv);
	conn_flush(&p->conn);
	return e;
}

static void test_dispatch_by_id(void **state)
{
	struct proc p;
	start(&p, "STAT\r\nlist 2\r\nTOP 1 5\nRETR 3\r\n", ST_TRANS, trans_handlers);
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.calls, "STAT,LIST 2,TOP 1 5,RETR 3");
	assert_string_equal(p.cl.out, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n");
	assert_int_equal(nlogged, 0);
	conn_free(&p.conn);
}

/* An extension turned off (sv.off): its command is an unknown command in
 * every state, whatever its row says, and its handler is never called. */
static void test_extension_off(void **state)
{
	struct proc p;
	start(&p, "STAT\r\nDELI 1\r\nSLEE\r\nWAKE\r\nDELI\r\nSTAT\r\n", ST_TRANS,
	      trans_handlers);
	p.sv.off = 1UL << CMD_DELI | 1UL << CMD_SLEE | 1UL << CMD_WAKE;
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.calls, "STAT,STAT");
	assert_string_equal(p.cl.out,
			    "+OK\r\n"
			    "-ERR unknown command\r\n"
			    "-ERR unknown command\r\n"
			    "-ERR unknown command\r\n"
			    "-ERR unknown command\r\n"
			    "+OK\r\n");
	assert_string_equal(logged[0], "bad command: rip=192.0.2.1 cmd=<unknown> error=unknown command");
	conn_free(&p.conn);
	/* On: DELI reaches the row (no handler here), WAKE is not for
	 * TRANSACTION. */
	start(&p, "DELI 1\r\nWAKE\r\n", ST_TRANS, trans_handlers);
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.cl.out, "-ERR command not valid in this state\r\n"
			    "-ERR command not valid in this state\r\n");
	conn_free(&p.conn);
}

static void test_bad_lines_answered_and_go_on(void **state)
{
	struct proc p;
	start(&p, "XYZZY\r\nUSER a\r\nSTAT 1\r\n\x01\r\nCAPA\r\nSTAT\r\n", ST_TRANS,
	      trans_handlers);
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.calls, "STAT");
	assert_string_equal(p.cl.out,
			    "-ERR unknown command\r\n"
			    "-ERR command not valid in this state\r\n"
			    "-ERR syntax error in arguments\r\n"
			    "-ERR invalid characters in command\r\n"
			    "-ERR command not valid in this state\r\n" /* no handler */
			    "+OK\r\n");
	assert_int_equal(p.sv.bad, 5);
	assert_int_equal(nlogged, 5);
	assert_string_equal(logged[0], "bad command: rip=192.0.2.1 cmd=<unknown> error=unknown command");
	assert_string_equal(logged[1], "bad command: rip=192.0.2.1 cmd=<USER> error=command not valid in this state");
	assert_string_equal(logged[2], "bad command: rip=192.0.2.1 cmd=<STAT> error=syntax error in arguments");
	assert_string_equal(logged[3], "bad command: rip=192.0.2.1 cmd=<unknown> error=invalid characters in command");
	assert_string_equal(logged[4], "bad command: rip=192.0.2.1 cmd=<CAPA> error=command not valid in this state");
	conn_free(&p.conn);
}

static void test_log_limit_and_no_arguments(void **state)
{
	/* 30 bad lines, over-long ones among them: all answered, the first
	 * SERVE_LOG_BAD_MAX logged, never a password. */
	static char in[30 * 1100];
	struct proc p;
	size_t n = 0;
	int i;
	for (i = 0; i < 30; i++) {
		if (i % 3 == 2) {
			memset(in + n, 'X', 1100);
			n += 1100;
			memcpy(in + n, "\r\n", 2);
			n += 2;
		} else {
			n += (size_t)sprintf(in + n, "PASS hunter%d secret\r\n", i);
		}
	}
	in[n] = '\0';
	start(&p, in, ST_TRANS, trans_handlers);
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.calls, "");
	assert_int_equal(p.sv.bad, 30);
	assert_int_equal(nlogged, SERVE_LOG_BAD_MAX);
	assert_int_equal(SERVE_LOG_BAD_MAX, 5);
	assert_string_equal(logged[0], "bad command: rip=192.0.2.1 cmd=<PASS> error=command not valid in this state");
	assert_string_equal(logged[2], "line too long: rip=192.0.2.1");
	for (i = 0; i < SERVE_LOG_BAD_MAX; i++)
		assert_null(strstr(logged[i], "hunter"));
	{
		const char *o = p.cl.out;
		int errs = 0, longs = 0;
		while ((o = strstr(o, "-ERR ")) != NULL) {
			errs++;
			if (strncmp(o, "-ERR line too long\r\n", 20) == 0)
				longs++;
			o++;
		}
		assert_int_equal(errs, 30);
		assert_int_equal(longs, 10);
	}
	conn_free(&p.conn);
}

static void test_line_limit(void **state)
{
	/* Every line counts, bad and over-long ones too; the one over the
	 * limit is not run. */
	static char in[2048];
	struct proc p;
	memset(in, 'Y', 1500);
	strcpy(in + 1500, "\r\nXYZZY\r\nUSER a\r\nUSER b\r\n");
	start(&p, in, ST_AUTH, auth_handlers);
	p.sv.max_lines = 3;
	assert_int_equal(run(&p), SERVE_TOO_MANY);
	assert_string_equal(p.calls, "USER a");
	assert_int_equal(p.sv.lines, 4);
	conn_free(&p.conn);
	/* Within the limit: no end on its account. */
	start(&p, "USER a\r\nUSER b\r\nUSER c\r\n", ST_AUTH, auth_handlers);
	p.sv.max_lines = 3;
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.calls, "USER a,USER b,USER c");
	conn_free(&p.conn);
}

static void test_handler_changes_state(void **state)
{
	/* After PASS the handler moved to TRANSACTION: USER is refused and
	 * STAT parsed in the new state (its handler absent here). */
	struct proc p;
	start(&p, "STAT\r\nUSER a\r\nPASS x y\r\nUSER b\r\nQUIT\r\n", ST_AUTH, auth_handlers);
	assert_int_equal(run(&p), SERVE_EOF);
	assert_string_equal(p.calls, "USER a,PASS x y,QUIT");
	assert_string_equal(p.cl.out,
			    "-ERR command not valid in this state\r\n+OK\r\n+OK\r\n"
			    "-ERR command not valid in this state\r\n+OK\r\n");
	conn_free(&p.conn);
}

static void test_update_ends_the_loop(void **state)
{
	/* QUIT entering UPDATE ends the loop at once: what the client
	 * pipelined behind it is not read as commands. */
	struct proc p;
	start(&p, "NOOP\r\nQUIT\r\nSTAT\r\n", ST_TRANS, trans_handlers);
	assert_int_equal(run(&p), SERVE_UPDATE);
	assert_string_equal(p.calls, "NOOP,QUIT");
	assert_int_equal(p.sv.state, ST_UPDATE);
	assert_int_equal(conn_buffered(&p.conn), 6);
	conn_free(&p.conn);
}

static void test_write_failure_ends_the_loop(void **state)
{
	struct proc p;
	start(&p, "NOOP\r\nSTAT\r\n", ST_TRANS, trans_handlers);
	p.cl.fail_writes = 1;
	assert_int_equal(serve(&p.sv), SERVE_WRITE_FAILED);
	assert_string_equal(p.calls, "NOOP");
	conn_free(&p.conn);
}

static void test_timeout(void **state)
{
	/* A plain descriptor with nothing to read and a deadline already
	 * past. */
	int fds[2];
	struct proc p;
	assert_int_equal(pipe(fds), 0);
	start(&p, "", ST_AUTH, auth_handlers);
	conn_free(&p.conn);
	conn_init(&p.conn, fds[0], fds[1]);
	p.conn.deadline = 1;
	assert_int_equal(serve(&p.sv), SERVE_TIMEOUT);
	conn_free(&p.conn);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_by_id),
		cmocka_unit_test(test_extension_off),
		cmocka_unit_test(test_bad_lines_answered_and_go_on),
		cmocka_unit_test(test_log_limit_and_no_arguments),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_handler_changes_state),
		cmocka_unit_test(test_update_ends_the_loop),
		cmocka_unit_test(test_write_failure_ends_the_loop),
		cmocka_unit_test(test_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
