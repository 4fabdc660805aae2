/* test_mailstate.c - unit tests for the pure parts of src/mailstate.c:
 * the LOGIN-DELAY wait with clock skew, and the parser of the
 * postern-retrieved file (EXPIRE). */
#include "unit.h"
#include "mailstate.h"

static void test_login_delay_wait(void **state)
{
	int sk;
	const int64_t now = 1800000000;
	/* No delay, or long enough ago. */
	assert_int_equal(login_delay_wait(now, now, 0, &sk), 0);
	assert_int_equal(login_delay_wait(now - 300, now, 300, &sk), 0);
	assert_int_equal(sk, 0);
	assert_int_equal(login_delay_wait(now - 100000, now, 300, &sk), 0);
	/* Too soon: what is left. */
	assert_int_equal(login_delay_wait(now - 299, now, 300, &sk), 1);
	assert_int_equal(login_delay_wait(now, now, 300, &sk), 300);
	/* In the future by up to the skew allowance: as just now. */
	assert_int_equal(login_delay_wait(now + LOGIN_DELAY_SKEW, now, 300, &sk), 300);
	assert_int_equal(sk, 0);
	/* Farther: a wrong clock, ignored and said. */
	assert_int_equal(login_delay_wait(now + LOGIN_DELAY_SKEW + 1, now, 300, &sk), 0);
	assert_int_equal(sk, 1);
}

static void test_retr_parse(void **state)
{
	static const char text[] =
		"postern-retrieved 1\n"
		"1700000000 abc\n"
		"17x0 bad-time\n"
		"1700000001 two words\n"
		"1700000002 \n"
		"no-space\n"
		"1700000003 def\n"
		"1700000004 cut-off";   /* no newline: not trusted */
	struct retr_list l;
	char *buf = malloc(sizeof(text));
	memcpy(buf, text, sizeof(text));
	retr_parse(&l, buf, sizeof(text) - 1);
	assert_int_equal(l.n, 2);
	assert_true(l.r[0].t == 1700000000);
	assert_string_equal(l.r[0].uidl, "abc");
	assert_true(l.r[1].t == 1700000003);
	assert_string_equal(l.r[1].uidl, "def");
	retr_free(&l);
	/* Another header: nothing taken. */
	buf = strdup("postern-retrieved 2\n1700000000 abc\n");
	retr_parse(&l, buf, strlen(buf));
	assert_int_equal(l.n, 0);
	retr_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_delay_wait),
		cmocka_unit_test(test_retr_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
