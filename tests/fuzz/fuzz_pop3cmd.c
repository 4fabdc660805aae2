/* fuzz_pop3cmd.c - libFuzzer target for the POP3 line reader (netio.c) and
 * command parser (pop3cmd.c), as the pre-auth and mail processes use them.
 *
 * Input: byte 0 picks the transport (bit 0: a pipe, else an in-memory
 * transport whose read sizes come from byte 1), byte 1 also the number of
 * bytes preloaded with conn_preload (as a handoff does), byte 2 the message
 * count for pop3_msgnum; the rest is the client's byte stream.
 *
 * Checks: conn_read_line returns exactly the lines of an independent
 * reference splitter (CRLF or bare LF, one LINE_TOOLONG per over-long line
 * whose tail is never read as a command, EOF at the end), whatever the read
 * sizes; pop3_parse in both states gives arguments that lie inside the line,
 * are NUL-terminated, have no spaces (but PASS's), and match the command's
 * argument rule; pop3_msgnum agrees with a reference. */
#include "netio.h"
#include "pop3.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_pop3cmd: %s\n", what);
		abort();
	}
}

/* ---- an in-memory transport with chosen read sizes ---- */
struct memsrc {
	const uint8_t *p;
	size_t len, off;
	unsigned step;        /* read size pattern */
	unsigned calls;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct memsrc *m = ctx;
	size_t left = m->len - m->off, want;
	if (left == 0)
		return 0;
	/* 1, 2, ... up to step+1 bytes, cycling: exercises every split. */
	want = 1 + (m->calls++ % (m->step + 1)) * (m->step % 7 + 1);
	if (m->step == 255)
		want = n;         /* as much as fits */
	if (want > n)
		want = n;
	if (want > left)
		want = left;
	memcpy(buf, m->p + m->off, want);
	m->off += want;
	return (ssize_t)want;
}

static ssize_t mem_write(void *ctx, const void *buf, size_t n)
{
	return (ssize_t)n;
}

static int mem_pending(void *ctx)
{
	return 1;             /* never poll: data or EOF is always there */
}

/* ---- the reference splitter ---- */
enum { RF_LINE, RF_LONG, RF_EOF };

struct ref {
	const uint8_t *p;
	size_t len, off;
	int done;
};

/* Next expected result; for RF_LINE the line is p[*start .. *start+*n]. */
static int ref_next(struct ref *r, size_t *start, size_t *n)
{
	const uint8_t *lf;
	size_t seg;
	if (r->done)
		return RF_EOF;
	lf = memchr(r->p + r->off, '\n', r->len - r->off);
	if (!lf) {
		seg = r->len - r->off;
		r->off = r->len;
		r->done = 1;
		/* An unterminated tail: reported as too long when it already
		 * passed the limit, then EOF; a short one is just dropped. */
		return seg >= LINE_MAX_POP3 ? RF_LONG : RF_EOF;
	}
	seg = (size_t)(lf - (r->p + r->off));
	*start = r->off;
	r->off += seg + 1;
	if (seg + 1 > LINE_MAX_POP3)
		return RF_LONG;
	if (seg > 0 && r->p[*start + seg - 1] == '\r')
		seg--;
	*n = seg;
	return RF_LINE;
}

static int rule_ok(enum arg_rule r, int n)
{
	switch (r) {
	case ARGS_NONE: return n == 0;
	case ARGS_ONE: return n == 1;
	case ARGS_OPT: return n <= 1;
	case ARGS_TWO: return n == 2;
	case ARGS_ONE_TWO: return n == 1 || n == 2;
	case ARGS_UPTO_TWO: return n <= 2;
	case ARGS_REST: return n == 1;
	}
	return 0;
}

/* Strict 1..count message number: digits only, no sign, at most 20 digits,
 * value <= UINT32_MAX. */
static int ref_msgnum(const char *s, size_t len, size_t count, size_t *idx)
{
	uint64_t v = 0;
	size_t i;
	/* 20 digits like parse_decimal, so "00000000000000000040" is 40. */
	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (v == 0 || v > count)
		return -1;
	*idx = (size_t)(v - 1);
	return 0;
}

static void check_parse(const char *line, size_t len, enum pop3_state st, size_t count)
{
	char *copy = malloc(len + 1);
	struct pop3_req r;
	enum parse_result pr;
	int i;
	memcpy(copy, line, len);
	copy[len] = '\0';
	pr = pop3_parse(copy, len, st, &r);
	check(pop3_parse_error(pr) != NULL, "no error text");
	check(pop3_log_name(&r, pr) != NULL, "no log name");
	if (pr == PARSE_OK) {
		check(r.cmd != NULL, "OK without a command");
		check((r.cmd->states & st) != 0, "command accepted in the wrong state");
		check(rule_ok(r.cmd->args, r.argc), "argument count breaks the rule");
		for (i = 0; i < r.argc; i++) {
			check(r.argv[i] > copy && r.argv[i] + r.arglen[i] <= copy + len,
			      "argument outside the line");
			check(r.arglen[i] > 0, "empty argument");
			check(r.argv[i][r.arglen[i]] == '\0', "argument not terminated");
			if (r.cmd->args != ARGS_REST)
				check(memchr(r.argv[i], ' ', r.arglen[i]) == NULL,
				      "space inside a word");
			{
				size_t a = 0, b = 0;
				int x = pop3_msgnum(r.argv[i], r.arglen[i], count, &a);
				int y = ref_msgnum(r.argv[i], r.arglen[i], count, &b);
				check(x == y && (x < 0 || a == b), "pop3_msgnum differs");
				check(x < 0 || a < count, "message index out of range");
			}
		}
	}
	if (pr == PARSE_OK || pr == PARSE_BAD_STATE || pr == PARSE_BAD_ARGS)
		check(r.cmd != NULL, "known command without its table entry");
	/* A line with a control byte other than TAB is refused whole. */
	{
		size_t k;
		int ctl = 0;
		for (k = 0; k < len; k++)
			if ((unsigned char)line[k] < 0x20 && line[k] != '\t')
				ctl = 1;
		check(!ctl || pr == PARSE_BAD_CHARS, "control byte accepted");
	}
	free(copy);
}

static int devnull = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c;
	struct memsrc ms;
	struct transport tr = { mem_read, mem_write, mem_pending, &ms };
	struct ref ref;
	int use_pipe, pfd[2] = { -1, -1 };
	size_t pre, count, stream_len;
	const uint8_t *stream;
	unsigned lines = 0;

	if (size < 3)
		return 0;
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	use_pipe = data[0] & 1;
	pre = (size_t)data[1] * 33;
	count = data[2];
	stream = data + 3;
	stream_len = size - 3;
	if (pre > stream_len)
		pre = stream_len;
	if (pre > IN_CAP)
		pre = IN_CAP;

	memset(&ms, 0, sizeof(ms));
	ms.p = stream + pre;
	ms.len = stream_len - pre;
	ms.step = data[1];
	if (use_pipe) {
		/* The whole rest fits a pipe buffer (max_len is 16 KB). */
		check(pipe(pfd) == 0, "pipe");
		if (ms.len)
			check(write(pfd[1], ms.p, ms.len) == (ssize_t)ms.len, "pipe write");
		close(pfd[1]);
		conn_init(&c, pfd[0], devnull);
	} else {
		conn_init(&c, -1, -1);
		c.tr = &tr;
	}
	c.idle_ms = 60000;
	check(conn_preload(&c, stream, pre) == 0, "preload refused");

	memset(&ref, 0, sizeof(ref));
	ref.p = stream;
	ref.len = stream_len;
	for (;;) {
		char *line = NULL;
		size_t len = 0, rs = 0, rn = 0;
		enum line_status ls = conn_read_line(&c, &line, &len);
		int want = ref_next(&ref, &rs, &rn);
		check(ls != LINE_TIMEOUT && ls != LINE_ERR, "timeout or error on a finite stream");
		if (want == RF_EOF) {
			check(ls == LINE_EOF, "reader goes on after the reference ended");
			break;
		}
		if (want == RF_LONG) {
			check(ls == LINE_TOOLONG, "over-long line not reported once");
			continue;
		}
		check(ls == LINE_OK, "line expected");
		check(len == rn && memcmp(line, stream + rs, len) == 0, "line differs");
		check(line[len] == '\0', "line not terminated");
		check(len < LINE_MAX_POP3, "line over the limit");
		check(conn_buffered(&c) <= IN_CAP, "buffered count out of range");
		if (lines++ < 64) {
			check_parse(line, len, ST_AUTH, count);
			check_parse(line, len, ST_TRANS, count);
		}
		/* Replies queue and flush like the processes do. */
		conn_printf(&c, "-ERR %s\r\n", pop3_parse_error(PARSE_UNKNOWN));
	}
	conn_free(&c);
	if (pfd[0] >= 0)
		close(pfd[0]);
	return 0;
}
