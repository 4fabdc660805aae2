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
 * sizes; pop3_parse in each state agrees with a specification written
 * from the RFCs, not with a copy of its own code: a control byte refuses
 * the line; the command is the one the first word names, in any case;
 * BAD_STATE exactly where the RFCs say the command is not valid; the line
 * is accepted exactly when its words after the name are as many as the
 * command takes, each non-empty and single-spaced (trailing spaces
 * allowed; PASS takes the rest of the line); the arguments lie inside the
 * line, are NUL-terminated, hold no space or control byte, and joined
 * back with the name give the line; pop3_msgnum agrees with a
 * reference, and so does pop3_uid_arg (UID-PARAM's "UID:<id>" form). */
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

/* ---- the parser's specification, written from the RFCs ----
 * Not the parser's algorithm: what a correct answer looks like for a
 * line, stated as properties of the line itself.
 * The POP3 commands, the states they are valid in (RFC 1939, 2449 CAPA,
 * 2595 STLS, 5034 AUTH) and how many words follow the name; PASS takes
 * the rest of the line as it is (max -1). */
static const struct spec {
	const char *name;
	unsigned states;
	int min, max;
} spec[] = {
	{ "USER", ST_AUTH, 1, 1 },
	{ "PASS", ST_AUTH, 1, -1 },
	{ "APOP", ST_AUTH, 2, 2 },
	{ "AUTH", ST_AUTH, 0, 2 },
	{ "STLS", ST_AUTH, 0, 0 },
	{ "CAPA", ST_AUTH | ST_TRANS, 0, 0 },
	{ "QUIT", ST_AUTH | ST_TRANS | ST_SLEEP, 0, 0 },
	{ "STAT", ST_TRANS, 0, 0 },
	{ "LIST", ST_TRANS, 0, 1 },
	{ "RETR", ST_TRANS, 1, 1 },
	{ "DELE", ST_TRANS, 1, 1 },
	{ "NOOP", ST_TRANS | ST_SLEEP, 0, 0 },
	{ "RSET", ST_TRANS, 0, 0 },
	{ "TOP", ST_TRANS, 2, 2 },
	{ "UIDL", ST_TRANS, 0, 1 },
	{ "DELI", ST_TRANS, 1, 1 },     /* DELI draft of the pop3svc design */
	/* draft-billpg-pop3-sleeping-00: in SLEEP only NOOP, QUIT, WAKE. */
	{ "SLEE", ST_TRANS, 0, 0 },
	{ "WAKE", ST_SLEEP, 0, 0 },
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

static int upper(int ch)
{
	return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* Does line start with name, in any case, followed by a space or the end? */
static int names(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name), i;
	if (len < n || (len > n && line[n] != ' '))
		return 0;
	for (i = 0; i < n; i++)
		if (upper((unsigned char)line[i]) != name[i])
			return 0;
	return 1;
}

/* The words after the name when the text after it is "( word)*" and
 * trailing spaces: their number, or -1 when the text is anything else (an
 * empty word: a doubled or a leading space). */
static int words_after(const char *line, size_t len, size_t namelen)
{
	size_t end = len, i;
	int n = 0;
	while (end > namelen && line[end - 1] == ' ')
		end--;
	if (end == namelen)
		return 0;
	/* line[namelen] is a space; every space up to end starts a word
	 * that must not be empty. */
	for (i = namelen; i < end; i++)
		if (line[i] == ' ') {
			if (i + 1 >= end || line[i + 1] == ' ')
				return -1;
			n++;
		}
	return n;
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

/* UID-PARAM: "UID:" in any case, then 1 to 70 bytes in 0x21..0x7E. */
static int ref_uid_arg(const char *s, size_t len)
{
	size_t i;
	if (len < 4 || upper((unsigned char)s[0]) != 'U' || upper((unsigned char)s[1]) != 'I' ||
	    upper((unsigned char)s[2]) != 'D' || s[3] != ':')
		return 0;
	if (len == 4 || len > 74)
		return -1;
	for (i = 4; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return -1;
	return 1;
}

static void check_parse(const char *line, size_t len, enum pop3_state st, size_t count)
{
	char *copy = malloc(len + 1);
	struct pop3_req r;
	enum parse_result pr;
	const struct spec *sp = NULL;
	size_t k;
	int i, ctl = 0, nwords = 0;

	memcpy(copy, line, len);
	copy[len] = '\0';
	pr = pop3_parse(copy, len, st, &r);
	check(pop3_parse_error(pr) != NULL, "no error text");
	check(pop3_log_name(&r, pr) != NULL, "no log name");

	/* A control byte other than TAB refuses the line whole, and nothing
	 * else gets that answer. */
	for (k = 0; k < len; k++)
		if ((unsigned char)line[k] < 0x20 && line[k] != '\t')
			ctl = 1;
	check(ctl == (pr == PARSE_BAD_CHARS), "control bytes and BAD_CHARS disagree");
	if (ctl) {
		check(strcmp(pop3_log_name(&r, pr), "unknown") == 0, "a refused line's name logged");
		free(copy);
		return;
	}
	/* The command is the one the first word names, in any case; a line
	 * that names none is unknown. */
	for (k = 0; k < NSPEC; k++)
		if (names(line, len, spec[k].name))
			sp = &spec[k];
	check(!sp == (pr == PARSE_UNKNOWN), "known command and UNKNOWN disagree");
	if (!sp) {
		check(strcmp(pop3_log_name(&r, pr), "unknown") == 0, "an unknown name logged");
		free(copy);
		return;
	}
	check(r.cmd != NULL && strcmp(r.cmd->name, sp->name) == 0, "another command parsed");
	check(pop3_command(r.cmd->id) == r.cmd, "the row is not at its id");
	check(strcmp(pop3_log_name(&r, pr), sp->name) == 0, "the log name is not the command");
	/* The state: the specification's, nothing else. */
	check(!(sp->states & st) == (pr == PARSE_BAD_STATE), "valid state and BAD_STATE disagree");
	if (pr == PARSE_BAD_STATE) {
		free(copy);
		return;
	}
	/* The arguments: a line of the right form is accepted, any other
	 * gets BAD_ARGS. */
	if (sp->max < 0)
		nwords = len > strlen(sp->name) + 1 ? 1 : -1;
	else
		nwords = words_after(line, len, strlen(sp->name));
	{
		int form_ok = nwords >= sp->min && (sp->max < 0 || nwords <= sp->max);
		check(form_ok == (pr == PARSE_OK), "argument form and the result disagree");
	}
	if (pr != PARSE_OK) {
		free(copy);
		return;
	}
	check(r.argc == nwords, "argument count differs from the words of the line");
	/* Round trip: the name, a space before each argument, gives the line
	 * back (without its trailing spaces; PASS's as it is). */
	{
		char *back = malloc(len + 1);
		size_t n = strlen(sp->name), want = len;
		memcpy(back, line, n);
		for (i = 0; i < r.argc; i++) {
			check(r.argv[i] > copy && r.argv[i] + r.arglen[i] <= copy + len,
			      "argument outside the line");
			check(r.arglen[i] > 0, "empty argument");
			check(r.argv[i][r.arglen[i]] == '\0', "argument not terminated");
			if (sp->max >= 0) {
				check(memchr(r.argv[i], ' ', r.arglen[i]) == NULL, "space inside a word");
			}
			for (k = 0; k < r.arglen[i]; k++)
				check((unsigned char)r.argv[i][k] >= 0x20 || r.argv[i][k] == '\t',
				      "control byte in an argument");
			back[n++] = ' ';
			memcpy(back + n, r.argv[i], r.arglen[i]);
			n += r.arglen[i];
		}
		if (sp->max >= 0)
			while (want > 0 && line[want - 1] == ' ')
				want--;
		check(n == want && memcmp(back, line, n) == 0, "arguments do not give the line back");
		free(back);
	}
	for (i = 0; i < r.argc; i++) {
		size_t a = 0, b = 0;
		int x = pop3_msgnum(r.argv[i], r.arglen[i], count, &a);
		int y = ref_msgnum(r.argv[i], r.arglen[i], count, &b);
		check(x == y && (x < 0 || a == b), "pop3_msgnum differs");
		check(x < 0 || a < count, "message index out of range");
		{
			const char *id = NULL;
			size_t idlen = 0;
			int u = pop3_uid_arg(r.argv[i], r.arglen[i], &id, &idlen);
			check(u == ref_uid_arg(r.argv[i], r.arglen[i]), "pop3_uid_arg differs");
			check(u != 1 || (id == r.argv[i] + 4 && idlen == r.arglen[i] - 4),
			      "unique id not the argument's tail");
			check(u != 1 || x < 0, "an argument both a number and a unique id");
		}
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
			check_parse(line, len, ST_UPDATE, count);
			check_parse(line, len, ST_SLEEP, count);
		}
		/* Replies queue and flush like the processes do. */
		conn_printf(&c, "-ERR %s\r\n", pop3_parse_error(PARSE_UNKNOWN));
	}
	conn_free(&c);
	if (pfd[0] >= 0)
		close(pfd[0]);
	return 0;
}
