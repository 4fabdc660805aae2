/* pop3cmd.c - POP3 command table and strict line parsing, shared by the
 * pre-auth and mail processes (their loop is serve.c).  Pure code, any
 * rights. */
#include "pop3.h"
#include "parse.h"
#include <string.h>
#include <strings.h>

/* One row per command, at its id.  Which process answers it follows from
 * its states: ST_AUTH the pre-auth process, ST_TRANS the mail process. */
static const struct pop3_cmd table[CMD_COUNT] = {
	[CMD_USER] = { "USER", CMD_USER, ST_AUTH, ARGS_ONE },
	[CMD_PASS] = { "PASS", CMD_PASS, ST_AUTH, ARGS_REST },
	[CMD_APOP] = { "APOP", CMD_APOP, ST_AUTH, ARGS_TWO },
	[CMD_AUTH] = { "AUTH", CMD_AUTH, ST_AUTH, ARGS_UPTO_TWO },
	[CMD_STLS] = { "STLS", CMD_STLS, ST_AUTH, ARGS_NONE },
	[CMD_CAPA] = { "CAPA", CMD_CAPA, ST_AUTH | ST_TRANS, ARGS_NONE },
	[CMD_QUIT] = { "QUIT", CMD_QUIT, ST_AUTH | ST_TRANS | ST_SLEEP, ARGS_NONE },
	[CMD_STAT] = { "STAT", CMD_STAT, ST_TRANS, ARGS_NONE },
	[CMD_LIST] = { "LIST", CMD_LIST, ST_TRANS, ARGS_OPT },
	[CMD_RETR] = { "RETR", CMD_RETR, ST_TRANS, ARGS_ONE },
	[CMD_DELE] = { "DELE", CMD_DELE, ST_TRANS, ARGS_ONE },
	[CMD_NOOP] = { "NOOP", CMD_NOOP, ST_TRANS | ST_SLEEP, ARGS_NONE },
	[CMD_RSET] = { "RSET", CMD_RSET, ST_TRANS, ARGS_NONE },
	[CMD_TOP]  = { "TOP",  CMD_TOP,  ST_TRANS, ARGS_TWO },
	[CMD_UIDL] = { "UIDL", CMD_UIDL, ST_TRANS, ARGS_OPT },
	[CMD_DELI] = { "DELI", CMD_DELI, ST_TRANS, ARGS_ONE },
	[CMD_SLEE] = { "SLEE", CMD_SLEE, ST_TRANS, ARGS_NONE },
	[CMD_WAKE] = { "WAKE", CMD_WAKE, ST_SLEEP, ARGS_NONE },
};

const struct pop3_cmd *pop3_command(enum pop3_cmd_id id)
{
	return (unsigned)id < CMD_COUNT ? &table[id] : NULL;
}

static int arg_count_ok(enum arg_rule r, int n)
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

enum parse_result pop3_parse(char *line, size_t len, enum pop3_state state,
			     struct pop3_req *req)
{
	size_t i, kwlen;
	char *p, *end = line + len;
	const struct pop3_cmd *cmd = NULL;

	memset(req, 0, sizeof(*req));
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 && ch != '\t')
			return PARSE_BAD_CHARS;
	}
	kwlen = strcspn(line, " ");
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strlen(table[i].name) == kwlen &&
		    strncasecmp(table[i].name, line, kwlen) == 0)
			cmd = &table[i];
	if (!cmd)
		return PARSE_UNKNOWN;
	req->cmd = cmd;
	if (!(cmd->states & state))
		return PARSE_BAD_STATE;
	p = line + kwlen;
	if (cmd->args == ARGS_REST) {
		/* "PASS secret with spaces": one argument, taken verbatim. */
		if (*p != ' ' || p + 1 >= end)
			return PARSE_BAD_ARGS;
		req->argv[0] = p + 1;
		req->arglen[0] = (size_t)(end - p - 1);
		req->argc = 1;
		return PARSE_OK;
	}
	/* Words separated by single spaces; trailing spaces are tolerated
	 * (some clients send "LIST "), anything else is a syntax error. */
	while (end > p && end[-1] == ' ')
		*--end = '\0';
	while (p < end) {
		char *w;
		if (*p != ' ' || p + 1 >= end || p[1] == ' ')
			return PARSE_BAD_ARGS;
		w = ++p;
		while (p < end && *p != ' ')
			p++;
		if (req->argc == POP3_MAX_ARGS)
			return PARSE_BAD_ARGS;
		req->argv[req->argc] = w;
		req->arglen[req->argc] = (size_t)(p - w);
		req->argc++;
	}
	for (i = 0; i < (size_t)req->argc; i++)
		req->argv[i][req->arglen[i]] = '\0';
	if (!arg_count_ok(cmd->args, req->argc))
		return PARSE_BAD_ARGS;
	return PARSE_OK;
}

const char *pop3_parse_error(enum parse_result r)
{
	switch (r) {
	case PARSE_OK: return "";
	case PARSE_UNKNOWN: return "unknown command";
	case PARSE_BAD_STATE: return "command not valid in this state";
	case PARSE_BAD_ARGS: return "syntax error in arguments";
	case PARSE_BAD_CHARS: return "invalid characters in command";
	}
	return "error";
}

const char *pop3_log_name(const struct pop3_req *req, enum parse_result r)
{
	if (r != PARSE_UNKNOWN && r != PARSE_BAD_CHARS && req->cmd)
		return req->cmd->name;
	return "unknown";
}

int pop3_msgnum(const char *arg, size_t len, size_t count, size_t *idx)
{
	uint64_t v;
	if (parse_decimal(arg, len, UINT32_MAX, &v) < 0 || v == 0 || v > count)
		return -1;
	*idx = (size_t)(v - 1);
	return 0;
}

int pop3_uid_arg(const char *arg, size_t len, const char **id, size_t *idlen)
{
	size_t i;
	if (len < 4 || strncasecmp(arg, "UID:", 4) != 0)
		return 0;
	if (len == 4 || len - 4 > POP3_UID_MAX)
		return -1;
	for (i = 4; i < len; i++) {
		unsigned char ch = (unsigned char)arg[i];
		if (ch < 0x21 || ch > 0x7e)
			return -1;
	}
	*id = arg + 4;
	*idlen = len - 4;
	return 1;
}
