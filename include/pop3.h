/* pop3.h - the POP3 command table and line parser shared by the pre-auth
 * process (AUTHORIZATION) and the mail process (TRANSACTION, UPDATE).
 *
 * A command is one row of the table in pop3cmd.c (its name, id, the states
 * it is valid in, its argument rule) and one handler in each process that
 * serves a state it is valid in.  A process lists its handlers in an array
 * indexed by enum pop3_cmd_id (pop3_handler, below) and runs the shared
 * loop of serve.c over it; that loop reads, parses, checks the state and
 * the arguments against the row, and calls the handler only for a line
 * that passed.  Adding a command: an id here, a row in pop3cmd.c, a
 * handler in the process that serves its state (README, "Adding a
 * command"). */
#ifndef POSTERN_POP3_H
#define POSTERN_POP3_H
#include <stddef.h>
#include <stdint.h>

/* The states of RFC 1939 section 3, as bits so that a table row can name
 * several.  AUTHORIZATION runs in the pre-auth process, TRANSACTION and
 * UPDATE in the mail process.  No command is valid in UPDATE: a mail
 * process handler enters it (QUIT), which ends the serve loop, and the
 * mail process then commits.  SLEEP is entered by SLEE from TRANSACTION
 * and left by WAKE (back to TRANSACTION) or QUIT (the end, nothing to
 * commit). */
enum pop3_state {
	ST_AUTH = 1,       /* AUTHORIZATION */
	ST_TRANS = 2,      /* TRANSACTION */
	ST_UPDATE = 4,     /* UPDATE */
	ST_SLEEP = 8,      /* SLEEP (draft-billpg-pop3-sleeping-00), mail process */
};

enum pop3_cmd_id {
	CMD_USER, CMD_PASS, CMD_APOP, CMD_AUTH, CMD_STLS, CMD_CAPA, CMD_QUIT,
	CMD_STAT, CMD_LIST, CMD_RETR, CMD_DELE, CMD_NOOP, CMD_RSET, CMD_TOP,
	CMD_UIDL, CMD_DELI, CMD_SLEE, CMD_WAKE, CMD_COUNT
};

enum arg_rule {
	ARGS_NONE,      /* no argument */
	ARGS_ONE,       /* exactly one word */
	ARGS_OPT,       /* zero or one word */
	ARGS_TWO,       /* exactly two words */
	ARGS_ONE_TWO,   /* one or two words */
	ARGS_UPTO_TWO,  /* zero to two words */
	ARGS_REST,      /* the rest of the line, verbatim (PASS) */
};

struct pop3_cmd {
	const char *name;
	enum pop3_cmd_id id;
	unsigned states;        /* ST_AUTH | ST_TRANS ... */
	enum arg_rule args;
};

#define POP3_MAX_ARGS 2
struct pop3_req {
	const struct pop3_cmd *cmd;
	int argc;
	char *argv[POP3_MAX_ARGS];
	size_t arglen[POP3_MAX_ARGS];
};

/* A command's implementation in one process: ctx is that process's own
 * session (struct preauth, struct mailsess), r a request that passed the
 * table's state and argument checks.  The handler answers on its own
 * connection; it may change the serve loop's state (serve.h). */
typedef void pop3_handler(void *ctx, const struct pop3_req *r);

enum parse_result {
	PARSE_OK,
	PARSE_UNKNOWN,      /* no such command */
	PARSE_BAD_STATE,    /* command exists, not in this state */
	PARSE_BAD_ARGS,     /* wrong number or form of arguments */
	PARSE_BAD_CHARS,    /* NUL or other control bytes in the line */
};

/* Parse line (modified in place) for state.  Fills req on PARSE_OK and
 * req->cmd also on PARSE_BAD_STATE / PARSE_BAD_ARGS. */
enum parse_result pop3_parse(char *line, size_t len, enum pop3_state state,
			     struct pop3_req *req);
/* Text of the -ERR reply for a parse failure. */
const char *pop3_parse_error(enum parse_result r);

/* The table row of a command id (NULL for an id out of range). */
const struct pop3_cmd *pop3_command(enum pop3_cmd_id id);

/* What a log line may say about a failed command: its name when it is a
 * known command, else "unknown".  Never the arguments (they may hold a
 * password). */
const char *pop3_log_name(const struct pop3_req *req, enum parse_result r);

/* A message number argument: 1..count.  Returns 0 and sets *idx (0-based),
 * or -1. */
int pop3_msgnum(const char *arg, size_t len, size_t count, size_t *idx);

/* UID-PARAM (draft of the pop3svc design): a message argument of the form
 * "UID:<unique-id>", the prefix in any case.  Returns 1 and points *id
 * (*idlen) at the unique id when arg has that form and the id is 1-70
 * characters in 0x21-0x7E; -1 when arg starts with the prefix but the id is
 * not one (empty, too long, other bytes); 0 when arg does not start with
 * the prefix (a message number, or junk for pop3_msgnum to refuse). */
#define POP3_UID_MAX 70
int pop3_uid_arg(const char *arg, size_t len, const char **id, size_t *idlen);
#endif
