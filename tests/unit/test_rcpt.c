/* test_rcpt.c - unit tests for src/rcpt.c: recipients of a dropped message
 * from its header (address lists with display names, comments, quoting,
 * groups, folding; envelope fields first), and the +extension split. */
#include "unit.h"
#include "rcpt.h"

static struct rcpt_list parse(const char *msg)
{
	struct rcpt_list l;
	rcpt_parse(msg, strlen(msg), &l);
	return l;
}

static void expect(const char *msg, int envelope, const char *const *want, int nwant)
{
	struct rcpt_list l = parse(msg);
	int i;
	if (l.n != nwant || l.envelope != envelope) {
		print_error("got %d addresses (envelope %d), want %d (envelope %d):\n", l.n,
			    l.envelope, nwant, envelope);
		for (i = 0; i < l.n; i++)
			print_error("  %s\n", l.addr[i]);
		fail();
	}
	for (i = 0; i < nwant; i++)
		assert_string_equal(l.addr[i], want[i]);
}

static void test_simple_to_and_cc(void **state)
{
	static const char *const w[] = { "alice@example.org", "bob@example.org" };
	expect("To: alice@example.org\nCc: bob@example.org\nSubject: x\n\nTo: body@x.org\n", 0, w, 2);
}

static void test_display_names_comments_quotes(void **state)
{
	static const char *const w[] = { "a@x.org", "b@x.org", "c@x.org", "d@x.org" };
	expect("To: Alice Example <a@x.org>, \"Bob, the <boss>\" <b@x.org>,\n"
	       "  c@x.org (Carol (the) Admin), (lead) d@x.org\n\n", 0, w, 4);
}

static void test_domain_lowercased_local_kept_and_duplicates_dropped(void **state)
{
	static const char *const w[] = { "Alice@example.org" };
	expect("To: Alice@EXAMPLE.org\nCc: <Alice@example.ORG>\n\n", 0, w, 1);
}

static void test_folded_lines_and_crlf(void **state)
{
	static const char *const w[] = { "a@x.org", "b@x.org" };
	expect("Subject: s\r\nTO: a@x.org,\r\n\tb@x.org\r\n\r\nCc: late@x.org\r\n", 0, w, 2);
}

static void test_groups(void **state)
{
	static const char *const w[] = { "a@x.org", "b@x.org" };
	expect("To: undisclosed-recipients:;\nCc: team: a@x.org, B <b@x.org>;\n\n", 0, w, 2);
}

static void test_envelope_fields_win(void **state)
{
	static const char *const w[] = { "bob@x.org", "carol@x.org" };
	expect("To: alice@x.org\nDelivered-To: bob@x.org\nX-Original-To: carol@x.org\n\n", 1, w, 2);
}

static void test_bare_local_part(void **state)
{
	static const char *const w[] = { "postmaster" };
	expect("To: postmaster\n\n", 0, w, 1);
}

static void test_junk_is_skipped(void **state)
{
	static const char *const w[] = { "ok@x.org" };
	expect("To: two words, @x.org, a@, a@@b, <>, \"unterminated <x@y>, ok@x.org\n\n", 0, w, 0);
	expect("To: two words, @x.org, a@, a@@b, <>, ok@x.org\n\n", 0, w, 1);
	expect("To: a\x01@x.org, a@x.org.\n\n", 0, w, 0);
}

static void test_mbox_from_line_and_no_header(void **state)
{
	static const char *const w[] = { "a@x.org" };
	expect("From x@y Mon Jan  1 00:00:00 2026\nTo: a@x.org\n\n", 0, w, 1);
	expect("\nTo: a@x.org\n", 0, w, 0);
	expect("", 0, w, 0);
	expect("To: a@x.org", 0, w, 1);            /* no line end at all */
}

static void test_limits(void **state)
{
	/* More than RCPT_MAX recipients: the first RCPT_MAX, no overflow. */
	char *msg = malloc(100 * 20 + 16), *p = msg;
	struct rcpt_list l;
	int i;
	assert_non_null(msg);
	p += sprintf(p, "To: ");
	for (i = 0; i < 100; i++)
		p += sprintf(p, "u%d@x.org, ", i);
	sprintf(p, "\n\n");
	rcpt_parse(msg, strlen(msg), &l);
	assert_int_equal(l.n, RCPT_MAX);
	assert_string_equal(l.addr[RCPT_MAX - 1], "u63@x.org");
	free(msg);
	/* An address longer than RCPT_ADDR_MAX is skipped. */
	msg = malloc(400);
	assert_non_null(msg);
	memset(msg, 'a', 399);
	memcpy(msg, "To: <", 5);
	msg[398] = '\0';
	rcpt_parse(msg, strlen(msg), &l);
	assert_int_equal(l.n, 0);
	free(msg);
}

static void test_split(void **state)
{
	char l[64], d[64];
	rcpt_split("bob+lists@x.org", "+", l, sizeof(l), d, sizeof(d));
	assert_string_equal(l, "bob");
	assert_string_equal(d, "x.org");
	rcpt_split("bob+lists@x.org", "", l, sizeof(l), d, sizeof(d));
	assert_string_equal(l, "bob+lists");
	rcpt_split("bob-x+y", "+-", l, sizeof(l), d, sizeof(d));
	assert_string_equal(l, "bob");
	assert_string_equal(d, "");
	rcpt_split("+only@x.org", "+", l, sizeof(l), d, sizeof(d));
	assert_string_equal(l, "+only");             /* nothing before the delimiter */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_to_and_cc),
		cmocka_unit_test(test_display_names_comments_quotes),
		cmocka_unit_test(test_domain_lowercased_local_kept_and_duplicates_dropped),
		cmocka_unit_test(test_folded_lines_and_crlf),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_envelope_fields_win),
		cmocka_unit_test(test_bare_local_part),
		cmocka_unit_test(test_junk_is_skipped),
		cmocka_unit_test(test_mbox_from_line_and_no_header),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
