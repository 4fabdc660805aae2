/* test_pop3cmd.c - unit tests for src/pop3cmd.c (the command table and
 * pop3_parse, pop3_msgnum, pop3_log_name) and src/capa.c (the CAPA reply).
 * The expectations are written out here from RFC 1939, 2449 and 5034, not
 * taken from the table under test. */
#include "unit.h"
#include "capa.h"
#include "config.h"
#include "pop3.h"
#include "uidindex.h"

#define ANY_STATE (-1)

/* One line, one state, what pop3_parse must say. */
struct pcase {
	const char *line;
	size_t len;              /* 0: strlen(line) */
	int state;               /* ST_*, or ANY_STATE: each of the three */
	enum parse_result want;
	int id;                  /* expected command id, -1: none */
	int argc;
	const char *a0, *a1;
};

static const struct pcase cases[] = {
	/* Names are case-insensitive. */
	{ "user alice", 0, ST_AUTH, PARSE_OK, CMD_USER, 1, "alice", NULL },
	{ "UsEr alice", 0, ST_AUTH, PARSE_OK, CMD_USER, 1, "alice", NULL },
	{ "stat", 0, ST_TRANS, PARSE_OK, CMD_STAT, 0, NULL, NULL },
	{ "tOp 1 0", 0, ST_TRANS, PARSE_OK, CMD_TOP, 2, "1", "0" },
	/* Unknown: no such name, a prefix, a longer name, leading space,
	 * empty line, a TAB is not a separator. */
	{ "XYZZY", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ "QUI", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ "QUITX", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ "STATS", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ " QUIT", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ "", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ " ", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	{ "USER\talice", 0, ST_AUTH, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	/* Control bytes refuse the whole line, before anything else. */
	{ "\x01", 0, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "NOOP\r", 0, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "USER a\x1b[0m", 0, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "PASS se\ncret", 0, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "LIST 1\0" "2", 8, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "\0QUIT", 5, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "NOOP\x1f", 0, ANY_STATE, PARSE_BAD_CHARS, -1, 0, NULL, NULL },
	{ "XYZZY \x7f", 0, ANY_STATE, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	/* A TAB inside a word is kept (it is not a control byte here). */
	{ "USER a\tb", 0, ST_AUTH, PARSE_OK, CMD_USER, 1, "a\tb", NULL },
	/* Trailing spaces are tolerated, other extra spaces are not. */
	{ "LIST ", 0, ST_TRANS, PARSE_OK, CMD_LIST, 0, NULL, NULL },
	{ "LIST 1 ", 0, ST_TRANS, PARSE_OK, CMD_LIST, 1, "1", NULL },
	{ "LIST 1   ", 0, ST_TRANS, PARSE_OK, CMD_LIST, 1, "1", NULL },
	{ "STAT  ", 0, ST_TRANS, PARSE_OK, CMD_STAT, 0, NULL, NULL },
	{ "TOP 1 2 ", 0, ST_TRANS, PARSE_OK, CMD_TOP, 2, "1", "2" },
	{ "LIST  1", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_LIST, 0, NULL, NULL },
	{ "TOP 1  2", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_TOP, 0, NULL, NULL },
	/* ... even where the words would be as many as the command takes
	 * if an empty word counted. */
	{ "AUTH  PLAIN", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_AUTH, 0, NULL, NULL },
	{ "AUTH PLAIN  =", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_AUTH, 0, NULL, NULL },
	{ "APOP  alice", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_APOP, 0, NULL, NULL },
	/* Argument counts per rule. */
	{ "STAT 1", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_STAT, 0, NULL, NULL },
	{ "NOOP x", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_NOOP, 0, NULL, NULL },
	{ "QUIT now", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_QUIT, 0, NULL, NULL },
	{ "CAPA x", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_CAPA, 0, NULL, NULL },
	{ "STLS x", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_STLS, 0, NULL, NULL },
	{ "USER", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_USER, 0, NULL, NULL },
	{ "USER a b", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_USER, 0, NULL, NULL },
	{ "RETR", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_RETR, 0, NULL, NULL },
	{ "RETR 1 2", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_RETR, 0, NULL, NULL },
	{ "DELE", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_DELE, 0, NULL, NULL },
	{ "LIST 1 2", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_LIST, 0, NULL, NULL },
	{ "UIDL 1 2", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_UIDL, 0, NULL, NULL },
	{ "UIDL 3", 0, ST_TRANS, PARSE_OK, CMD_UIDL, 1, "3", NULL },
	{ "TOP 1", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_TOP, 0, NULL, NULL },
	{ "TOP 1 2 3", 0, ST_TRANS, PARSE_BAD_ARGS, CMD_TOP, 0, NULL, NULL },
	{ "APOP alice", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_APOP, 0, NULL, NULL },
	{ "APOP alice 0123456789abcdef0123456789abcdef", 0, ST_AUTH, PARSE_OK, CMD_APOP, 2,
	  "alice", "0123456789abcdef0123456789abcdef" },
	{ "APOP a b c", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_APOP, 0, NULL, NULL },
	{ "AUTH", 0, ST_AUTH, PARSE_OK, CMD_AUTH, 0, NULL, NULL },
	{ "AUTH PLAIN", 0, ST_AUTH, PARSE_OK, CMD_AUTH, 1, "PLAIN", NULL },
	{ "AUTH PLAIN =", 0, ST_AUTH, PARSE_OK, CMD_AUTH, 2, "PLAIN", "=" },
	{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 0, ST_AUTH, PARSE_OK, CMD_AUTH, 2, "PLAIN",
	  "AGFsaWNlAHNlY3JldA==" },
	{ "AUTH PLAIN a b", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_AUTH, 0, NULL, NULL },
	/* PASS: the rest of the line verbatim, spaces and all. */
	{ "PASS secret", 0, ST_AUTH, PARSE_OK, CMD_PASS, 1, "secret", NULL },
	{ "PASS my secret  pass", 0, ST_AUTH, PARSE_OK, CMD_PASS, 1, "my secret  pass", NULL },
	{ "PASS  lead", 0, ST_AUTH, PARSE_OK, CMD_PASS, 1, " lead", NULL },
	{ "PASS trail  ", 0, ST_AUTH, PARSE_OK, CMD_PASS, 1, "trail  ", NULL },
	{ "pass x", 0, ST_AUTH, PARSE_OK, CMD_PASS, 1, "x", NULL },
	{ "PASS", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_PASS, 0, NULL, NULL },
	{ "PASS ", 0, ST_AUTH, PARSE_BAD_ARGS, CMD_PASS, 0, NULL, NULL },
	{ "PASSx", 0, ST_AUTH, PARSE_UNKNOWN, -1, 0, NULL, NULL },
	/* Numbers are words to the parser; their range is pop3_msgnum's. */
	{ "LIST 4294967297", 0, ST_TRANS, PARSE_OK, CMD_LIST, 1, "4294967297", NULL },
	{ "RETR 99999999999999999999999", 0, ST_TRANS, PARSE_OK, CMD_RETR, 1,
	  "99999999999999999999999", NULL },
	{ "TOP 1 -1", 0, ST_TRANS, PARSE_OK, CMD_TOP, 2, "1", "-1" },
	/* The state is checked before the arguments. */
	{ "STAT x", 0, ST_AUTH, PARSE_BAD_STATE, CMD_STAT, 0, NULL, NULL },
	{ "USER", 0, ST_TRANS, PARSE_BAD_STATE, CMD_USER, 0, NULL, NULL },
	{ "PASS x y", 0, ST_TRANS, PARSE_BAD_STATE, CMD_PASS, 0, NULL, NULL },
};

static void run_case(const struct pcase *c, enum pop3_state st)
{
	char buf[256];
	size_t len = c->len ? c->len : strlen(c->line);
	struct pop3_req r;
	enum parse_result pr;

	memcpy(buf, c->line, len);
	buf[len] = '\0';
	pr = pop3_parse(buf, len, st, &r);
	if (pr != c->want)
		fail_msg("'%s' in state %d: result %d, want %d", c->line, st, pr, c->want);
	if (c->id < 0) {
		assert_null(r.cmd);
		assert_string_equal(pop3_log_name(&r, pr), "unknown");
		return;
	}
	assert_non_null(r.cmd);
	assert_int_equal(r.cmd->id, c->id);
	assert_string_equal(pop3_log_name(&r, pr), r.cmd->name);
	if (pr != PARSE_OK)
		return;
	assert_int_equal(r.argc, c->argc);
	if (c->argc > 0) {
		assert_int_equal(r.arglen[0], strlen(c->a0));
		assert_string_equal(r.argv[0], c->a0);
	}
	if (c->argc > 1) {
		assert_int_equal(r.arglen[1], strlen(c->a1));
		assert_string_equal(r.argv[1], c->a1);
	}
}

static void test_parse_table(void **state)
{
	static const enum pop3_state all[] = { ST_AUTH, ST_TRANS, ST_UPDATE };
	size_t i, k;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].state != ANY_STATE) {
			run_case(&cases[i], (enum pop3_state)cases[i].state);
			continue;
		}
		for (k = 0; k < 3; k++)
			run_case(&cases[i], all[k]);
	}
}

/* Every command in every state, with arguments that fit its rule: valid
 * exactly where RFC 1939 (and 2449 for CAPA, 1734/5034 for AUTH, 2595 for
 * STLS) says, never in UPDATE. */
static void test_every_command_every_state(void **state)
{
	static const struct { const char *line; int id; unsigned states; } cmds[] = {
		{ "USER alice", CMD_USER, ST_AUTH },
		{ "PASS a secret", CMD_PASS, ST_AUTH },
		{ "APOP alice c4c9334bac560ecc979e58001b3e22fb", CMD_APOP, ST_AUTH },
		{ "AUTH SCRAM-SHA-256", CMD_AUTH, ST_AUTH },
		{ "STLS", CMD_STLS, ST_AUTH },
		{ "CAPA", CMD_CAPA, ST_AUTH | ST_TRANS },
		{ "QUIT", CMD_QUIT, ST_AUTH | ST_TRANS | ST_SLEEP },
		{ "STAT", CMD_STAT, ST_TRANS },
		{ "LIST 2", CMD_LIST, ST_TRANS },
		{ "RETR 1", CMD_RETR, ST_TRANS },
		{ "DELE 1", CMD_DELE, ST_TRANS },
		{ "NOOP", CMD_NOOP, ST_TRANS | ST_SLEEP },
		{ "RSET", CMD_RSET, ST_TRANS },
		{ "TOP 1 10", CMD_TOP, ST_TRANS },
		{ "UIDL", CMD_UIDL, ST_TRANS },
		{ "DELI 1", CMD_DELI, ST_TRANS },
		/* draft-billpg-pop3-sleeping-00: only NOOP, QUIT, WAKE in SLEEP. */
		{ "SLEE", CMD_SLEE, ST_TRANS },
		{ "WAKE", CMD_WAKE, ST_SLEEP },
	};
	static const enum pop3_state all[] = { ST_AUTH, ST_TRANS, ST_UPDATE, ST_SLEEP };
	size_t i, k;
	assert_int_equal(sizeof(cmds) / sizeof(cmds[0]), CMD_COUNT);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const struct pop3_cmd *row = pop3_command((enum pop3_cmd_id)cmds[i].id);
		assert_non_null(row);
		assert_int_equal(row->id, cmds[i].id);
		assert_int_equal(row->states, cmds[i].states);
		assert_int_equal(strncmp(row->name, cmds[i].line, strlen(row->name)), 0);
		for (k = 0; k < 4; k++) {
			char buf[128];
			struct pop3_req r;
			enum parse_result pr;
			snprintf(buf, sizeof(buf), "%s", cmds[i].line);
			pr = pop3_parse(buf, strlen(buf), all[k], &r);
			if (pr != ((cmds[i].states & all[k]) ? PARSE_OK : PARSE_BAD_STATE))
				fail_msg("'%s' in state %d: %d", cmds[i].line, all[k], pr);
			assert_int_equal(r.cmd->id, cmds[i].id);
		}
	}
	assert_null(pop3_command(CMD_COUNT));
}

static void test_error_texts(void **state)
{
	assert_string_equal(pop3_parse_error(PARSE_UNKNOWN), "unknown command");
	assert_string_equal(pop3_parse_error(PARSE_BAD_STATE), "command not valid in this state");
	assert_string_equal(pop3_parse_error(PARSE_BAD_ARGS), "syntax error in arguments");
	assert_string_equal(pop3_parse_error(PARSE_BAD_CHARS), "invalid characters in command");
}

static void test_msgnum(void **state)
{
	static const struct { const char *s; size_t count; int ok; size_t idx; } t[] = {
		{ "1", 1, 0, 0 }, { "2", 3, 0, 1 }, { "3", 3, 0, 2 }, { "007", 10, 0, 6 },
		{ "0", 5, -1, 0 }, { "4", 3, -1, 0 }, { "1", 0, -1, 0 },
		{ "4294967295", (size_t)UINT32_MAX, 0, (size_t)UINT32_MAX - 1 },
		{ "4294967296", SIZE_MAX, -1, 0 }, { "4294967297", SIZE_MAX, -1, 0 },
		{ "99999999999999999999999", SIZE_MAX, -1, 0 },
		{ "00000000000000000001", 5, 0, 0 },       /* 20 digits */
		{ "000000000000000000001", 5, -1, 0 },     /* 21 digits */
		{ "", 5, -1, 0 }, { "-1", 5, -1, 0 }, { "+1", 5, -1, 0 }, { "1a", 5, -1, 0 },
		{ "0x1", 5, -1, 0 }, { " 1", 5, -1, 0 }, { "1.", 5, -1, 0 },
	};
	size_t i;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t idx = 12345;
		int r = pop3_msgnum(t[i].s, strlen(t[i].s), t[i].count, &idx);
		if (r != t[i].ok)
			fail_msg("pop3_msgnum('%s', %zu) = %d", t[i].s, t[i].count, r);
		if (r == 0 && idx != t[i].idx)
			fail_msg("pop3_msgnum('%s') idx %zu", t[i].s, idx);
		if (r < 0 && idx != 12345)
			fail_msg("pop3_msgnum('%s') changed idx on failure", t[i].s);
	}
}

/* ---- capa.c: the replies as they are on the wire ---- */
#define CAPA_HEAD "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n" \
		  "AUTH-RESP-CODE\r\nPIPELINING\r\n"
#define CAPA_TAIL "IMPLEMENTATION postern\r\n.\r\n"

static struct capa_info pre(int stls, int user, int sasl, int plus)
{
	struct capa_info ci = { .state = ST_AUTH, .stls = stls, .user = user, .sasl = sasl,
				.scram_plus = plus, .pipelining = 1, .login_delay = -1,
				.expire = -1, .mechs = CONF_MECH_PLAIN | CONF_MECH_LOGIN |
				CONF_MECH_SCRAM | CONF_MECH_SCRAM_PLUS };
	return ci;
}

static void check_capa(const struct capa_info *ci, const char *want)
{
	char buf[CAPA_TEXT_MAX];
	size_t n = capa_text(ci, buf, sizeof(buf));
	assert_int_equal(n, strlen(want));
	assert_string_equal(buf, want);
}

static void test_capa_authorization(void **state)
{
	/* Loopback plain connection, TLS configured (ssl = yes). */
	struct capa_info ci = pre(1, 1, 1, 0);
	check_capa(&ci, CAPA_HEAD "USER\r\nSASL PLAIN LOGIN SCRAM-SHA-256\r\nSTLS\r\n" CAPA_TAIL);
	/* A remote client on a plain connection: no passwords in the clear. */
	ci = pre(1, 0, 1, 0);
	check_capa(&ci, CAPA_HEAD "SASL SCRAM-SHA-256\r\nSTLS\r\n" CAPA_TAIL);
	/* ssl = required before STLS: nothing logs in, no SASL line. */
	ci = pre(1, 0, 0, 0);
	check_capa(&ci, CAPA_HEAD "STLS\r\n" CAPA_TAIL);
	/* Inside TLS with channel binding. */
	ci = pre(0, 1, 1, 1);
	check_capa(&ci, CAPA_HEAD "USER\r\nSASL PLAIN LOGIN SCRAM-SHA-256 "
		   "SCRAM-SHA-256-PLUS\r\n" CAPA_TAIL);
	/* ssl = off. */
	ci = pre(0, 1, 1, 0);
	check_capa(&ci, CAPA_HEAD "USER\r\nSASL PLAIN LOGIN SCRAM-SHA-256\r\n" CAPA_TAIL);
}

static void test_capa_mechanisms(void **state)
{
	char buf[128];
	struct capa_info ci = pre(0, 1, 1, 1);
	capa_mechanisms(&ci, buf, sizeof(buf));
	assert_string_equal(buf, "PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS");
	ci = pre(1, 0, 1, 0);
	capa_mechanisms(&ci, buf, sizeof(buf));
	assert_string_equal(buf, "SCRAM-SHA-256");
	ci = pre(1, 0, 0, 0);
	assert_int_equal(capa_mechanisms(&ci, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	ci = pre(1, 1, 1, 0);
	assert_int_equal(capa_auth_lines(&ci, buf, sizeof(buf)),
			 strlen("USER\r\nSASL PLAIN LOGIN SCRAM-SHA-256\r\n"));
	assert_string_equal(buf, "USER\r\nSASL PLAIN LOGIN SCRAM-SHA-256\r\n");
	/* Cut short, not overrun. */
	assert_int_equal(capa_auth_lines(&ci, buf, 8), 7);
	assert_string_equal(buf, "USER\r\nS");
}

/* auth_mechanisms: only what it lists is offered, and still only where
 * the connection allows it. */
static void test_capa_auth_mechanisms(void **state)
{
	char buf[128];
	/* The default (plain login): no SCRAM, even with channel binding. */
	struct capa_info ci = pre(0, 1, 1, 1);
	ci.mechs = CONF_MECH_PLAIN | CONF_MECH_LOGIN;
	capa_mechanisms(&ci, buf, sizeof(buf));
	assert_string_equal(buf, "PLAIN LOGIN");
	check_capa(&ci, CAPA_HEAD "USER\r\nSASL PLAIN LOGIN\r\n" CAPA_TAIL);
	/* A remote plain connection with the default: nothing SASL can
	 * offer, so no SASL line (RFC 2449 lists at least one). */
	ci = pre(1, 0, 1, 0);
	ci.mechs = CONF_MECH_PLAIN | CONF_MECH_LOGIN;
	assert_int_equal(capa_mechanisms(&ci, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	check_capa(&ci, CAPA_HEAD "STLS\r\n" CAPA_TAIL);
	/* One mechanism of each kind. */
	ci = pre(0, 1, 1, 1);
	ci.mechs = CONF_MECH_LOGIN | CONF_MECH_SCRAM_PLUS;
	capa_mechanisms(&ci, buf, sizeof(buf));
	assert_string_equal(buf, "LOGIN SCRAM-SHA-256-PLUS");
	ci.mechs = CONF_MECH_SCRAM;
	capa_mechanisms(&ci, buf, sizeof(buf));
	assert_string_equal(buf, "SCRAM-SHA-256");
	/* -PLUS only where channel binding is possible. */
	ci = pre(0, 1, 1, 0);
	ci.mechs = CONF_MECH_SCRAM_PLUS | CONF_MECH_PLAIN;
	capa_mechanisms(&ci, buf, sizeof(buf));
	assert_string_equal(buf, "PLAIN");
	/* The names AUTH takes, in any case. */
	assert_int_equal(capa_mech_bit("plain"), CONF_MECH_PLAIN);
	assert_int_equal(capa_mech_bit("Login"), CONF_MECH_LOGIN);
	assert_int_equal(capa_mech_bit("scram-sha-256"), CONF_MECH_SCRAM);
	assert_int_equal(capa_mech_bit("SCRAM-SHA-256-PLUS"), CONF_MECH_SCRAM_PLUS);
	assert_int_equal(capa_mech_bit("SCRAM-SHA-1"), 0);
	assert_int_equal(capa_mech_bit("PLAINX"), 0);
	assert_int_equal(capa_mech_bit(""), 0);
	/* None at all: USER still, no SASL line. */
	ci.mechs = 0;
	check_capa(&ci, CAPA_HEAD "USER\r\n" CAPA_TAIL);
}

static void test_capa_transaction(void **state)
{
	/* After the login: the lines the AUTHORIZATION state listed, and
	 * never STLS, whatever the flags say. */
	struct capa_info ci = { .state = ST_TRANS, .stls = 1, .user = 0, .sasl = 0,
				.pipelining = 1, .login_delay = -1, .expire = -1,
				.auth_lines = "USER\r\nSASL SCRAM-SHA-256\r\n" };
	check_capa(&ci, CAPA_HEAD "USER\r\nSASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.auth_lines = "";
	check_capa(&ci, CAPA_HEAD CAPA_TAIL);
}

static void test_capa_optional_lines(void **state)
{
	struct capa_info ci = pre(0, 0, 1, 0);
	ci.pipelining = 0;
	ci.login_delay = 900;
	ci.expire = CAPA_EXPIRE_NEVER;
	check_capa(&ci, "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		   "AUTH-RESP-CODE\r\nLOGIN-DELAY 900\r\nEXPIRE NEVER\r\n"
		   "SASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.expire = 0;
	ci.login_delay = -1;
	check_capa(&ci, "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		   "AUTH-RESP-CODE\r\nEXPIRE 0\r\nSASL SCRAM-SHA-256\r\n" CAPA_TAIL);
}

/* UID-PARAM arguments: "UID:" in any case, then 1-70 bytes in 0x21-0x7E. */
static void test_uid_arg(void **state)
{
	static const struct { const char *s; int want; const char *id; } t[] = {
		{ "UID:abc", 1, "abc" },
		{ "uid:abc", 1, "abc" },
		{ "Uid:1700000000.M1P2.host", 1, "1700000000.M1P2.host" },
		{ "UID:UID:x", 1, "UID:x" },
		{ "UID:!~", 1, "!~" },
		{ "UID:", -1, NULL },
		{ "UID:a b", -1, NULL },          /* a space (not from the parser) */
		{ "UID:a\x7f", -1, NULL },
		{ "UID:\x01", -1, NULL },
		{ "UID:\xe9", -1, NULL },
		{ "UID", 0, NULL },
		{ "UI:x", 0, NULL },
		{ "UIDX:1", 0, NULL },
		{ "1", 0, NULL },
		{ "", 0, NULL },
		{ " UID:x", 0, NULL },
	};
	char buf[100];
	const char *id;
	size_t i, idlen;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r;
		id = NULL;
		idlen = 0;
		r = pop3_uid_arg(t[i].s, strlen(t[i].s), &id, &idlen);
		if (r != t[i].want)
			fail_msg("pop3_uid_arg('%s') = %d", t[i].s, r);
		if (r == 1 && (idlen != strlen(t[i].id) || memcmp(id, t[i].id, idlen) != 0))
			fail_msg("pop3_uid_arg('%s') id", t[i].s);
	}
	/* 70 characters is the longest id; 71 is refused. */
	memcpy(buf, "UID:", 4);
	memset(buf + 4, 'x', 71);
	assert_int_equal(pop3_uid_arg(buf, 4 + 70, &id, &idlen), 1);
	assert_int_equal(idlen, 70);
	assert_ptr_equal(id, buf + 4);
	assert_int_equal(pop3_uid_arg(buf, 4 + 71, &id, &idlen), -1);
	/* The length given is the argument: a NUL inside is a bad byte. */
	assert_int_equal(pop3_uid_arg("UID:a\0b", 7, &id, &idlen), -1);
}

/* The lookup table: ids come from a callback that reuses one buffer, as
 * the Maildir store's does. */
static char ids[1000][16];
static char idbuf[16];
static const char *get_id(const void *ctx, size_t i)
{
	(void)ctx;
	strcpy(idbuf, ids[i]);
	return idbuf;
}

static void test_uidindex(void **state)
{
	struct uidindex x;
	size_t i, n = sizeof(ids) / sizeof(ids[0]);
	for (i = 0; i < n; i++)
		snprintf(ids[i], sizeof(ids[i]), "m%zu", i * 7);
	strcpy(ids[999], "m0");   /* a repeated id: the first message wins */
	assert_int_equal(uidindex_build(&x, n, get_id, NULL), 0);
	for (i = 0; i < n - 1; i++) {
		long got = uidindex_find(&x, ids[i], strlen(ids[i]));
		if (got != (long)i)
			fail_msg("uidindex_find(%s) = %ld, want %zu", ids[i], got, i);
	}
	assert_int_equal(uidindex_find(&x, "m0", 2), 0);
	assert_int_equal(uidindex_find(&x, "m1", 2), -1);
	assert_int_equal(uidindex_find(&x, "m", 1), -1);
	assert_int_equal(uidindex_find(&x, "m07", 3), -1);
	/* A prefix of a longer id, and a longer id with the prefix. */
	assert_int_equal(uidindex_find(&x, "m700", 4), 100);
	assert_int_equal(uidindex_find(&x, "m7000", 5), -1);
	uidindex_free(&x);
	assert_int_equal(uidindex_find(&x, "m0", 2), -1);
	/* An empty snapshot. */
	assert_int_equal(uidindex_build(&x, 0, get_id, NULL), 0);
	assert_int_equal(uidindex_find(&x, "m0", 2), -1);
	uidindex_free(&x);
}

static void test_capa_extensions(void **state)
{
	struct capa_info ci = pre(0, 0, 1, 0);
	ci.uid_param = 1;
	ci.deli = 1;
	check_capa(&ci, CAPA_HEAD "UID-PARAM\r\nDELI\r\nSASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.uid_param = 0;
	check_capa(&ci, CAPA_HEAD "DELI\r\nSASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.deli = 0;
	ci.uid_param = 1;
	check_capa(&ci, CAPA_HEAD "UID-PARAM\r\nSASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.uid_param = 0;
	ci.sleeping = 1;
	check_capa(&ci, CAPA_HEAD "SLEEPING\r\nSASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.sleeping = 0;
	/* RFC 2449 6.5, 6.7: USER when the value varies per user, and only
	 * before the login. */
	ci.uid_param = 0;
	ci.login_delay = 300;
	ci.login_delay_user = 1;
	ci.expire = CAPA_EXPIRE_NEVER;
	ci.expire_user = 1;
	check_capa(&ci, CAPA_HEAD "LOGIN-DELAY 300 USER\r\nEXPIRE NEVER USER\r\n"
		   "SASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.expire = 30;
	ci.login_delay_user = 0;
	check_capa(&ci, CAPA_HEAD "LOGIN-DELAY 300\r\nEXPIRE 30 USER\r\n"
		   "SASL SCRAM-SHA-256\r\n" CAPA_TAIL);
	ci.state = ST_TRANS;
	ci.auth_lines = "";
	ci.login_delay_user = 1;
	check_capa(&ci, CAPA_HEAD "LOGIN-DELAY 300\r\nEXPIRE 30\r\n" CAPA_TAIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_every_command_every_state),
		cmocka_unit_test(test_error_texts),
		cmocka_unit_test(test_msgnum),
		cmocka_unit_test(test_capa_authorization),
		cmocka_unit_test(test_capa_mechanisms),
		cmocka_unit_test(test_capa_auth_mechanisms),
		cmocka_unit_test(test_capa_transaction),
		cmocka_unit_test(test_capa_optional_lines),
		cmocka_unit_test(test_uid_arg),
		cmocka_unit_test(test_uidindex),
		cmocka_unit_test(test_capa_extensions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
