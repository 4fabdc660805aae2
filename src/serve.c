/* serve.c - the POP3 command loop both protocol processes run (pre-auth
 * as postern in its chroot, mail as the mailbox owner): read a line
 * (netio.c), parse and check it (pop3cmd.c), dispatch it to the process's
 * handler for the command.  Pure protocol code: no files, no privileges;
 * any process. */
#include "serve.h"
#include "log.h"

static void bad_line(struct serve *sv, const char *what, const struct pop3_req *r,
		     enum parse_result pr)
{
	if (++sv->bad <= SERVE_LOG_BAD_MAX) {
		if (r)
			plog(LOG_NOTICE, "bad command: %s cmd=<%s> error=%s", sv->who,
			     pop3_log_name(r, pr), what);
		else
			plog(LOG_NOTICE, "line too long: %s", sv->who);
	}
	conn_printf(sv->c, "-ERR %s\r\n", what);
}

enum serve_end serve(struct serve *sv)
{
	for (;;) {
		char *line;
		size_t len;
		struct pop3_req r;
		enum parse_result pr;
		pop3_handler *h;
		enum line_status ls = conn_read_line(sv->c, &line, &len);

		if (ls == LINE_TIMEOUT)
			return SERVE_TIMEOUT;
		if (ls == LINE_EOF || ls == LINE_ERR)
			return SERVE_EOF;
		if (sv->max_lines && ++sv->lines > sv->max_lines)
			return SERVE_TOO_MANY;
		if (ls == LINE_TOOLONG) {
			bad_line(sv, "line too long", NULL, PARSE_OK);
			continue;
		}
		pr = pop3_parse(line, len, sv->state, &r);
		if (r.cmd && (sv->off & (1UL << r.cmd->id)))
			pr = PARSE_UNKNOWN;
		if (pr != PARSE_OK) {
			bad_line(sv, pop3_parse_error(pr), &r, pr);
			continue;
		}
		/* pop3_parse() sets r.cmd whenever it returns PARSE_OK
		 * (pop3.h); the analyzer, seeing one file and the r.cmd test
		 * above, assumes it may still be NULL here. */
		h = sv->handlers[r.cmd->id]; /* NOLINT(clang-analyzer-core.NullDereference) */
		if (!h) {
			/* A row says this state, but this process has no
			 * handler: the table and the process disagree. */
			bad_line(sv, pop3_parse_error(PARSE_BAD_STATE), &r, PARSE_BAD_STATE);
			continue;
		}
		h(sv->ctx, &r);
		if (sv->state == ST_UPDATE)
			return SERVE_UPDATE;
		if (sv->c->write_failed)
			return SERVE_WRITE_FAILED;
	}
}
