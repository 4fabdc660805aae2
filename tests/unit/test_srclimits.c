/* test_srclimits.c - unit tests for src/srclimits.c with a driven clock:
 * the per-source connection rate counts within the clock's minute and
 * starts again at the next one, the session limit and the loopback
 * exemption, IPv6 sources grouped by /64, refusals and client-triggered
 * events logged at most once a minute per source (with the count of the
 * swallowed ones), a crowded table, and the login report's sender pid
 * taken from the kernel. */
#include "unit.h"
#include "config.h"
#include "srclimits.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#define T0 ((time_t)1800000000 / 60 * 60)   /* the start of a minute */

static struct config cfg;

static int setup(void **state)
{
	(void)state;
	config_defaults(&cfg);
	cfg.max_sessions_per_source = 3;
	cfg.max_conn_rate_per_source = 5;
	limits_detach();   /* a fresh table for each test */
	limits_init();
	return 0;
}

static void key4(const char *ip, unsigned char key[LIMITS_KEY])
{
	limits_source_text(ip, key);
}

static void test_rate_counts_within_the_minute(void **state)
{
	unsigned char k[LIMITS_KEY];
	int i;
	(void)state;
	key4("192.0.2.1", k);
	for (i = 0; i < 5; i++)
		assert_null(limits_admit(&cfg, k, 0, 0, T0 + i * 10));
	/* the 6th in the same minute (at its last second) is refused */
	assert_string_equal(limits_admit(&cfg, k, 0, 0, T0 + 59), "max_conn_rate_per_source");
	/* the next minute starts a new count */
	for (i = 0; i < 5; i++)
		assert_null(limits_admit(&cfg, k, 0, 0, T0 + 60 + i));
	assert_string_equal(limits_admit(&cfg, k, 0, 0, T0 + 119), "max_conn_rate_per_source");
	/* much later too */
	assert_null(limits_admit(&cfg, k, 0, 0, T0 + 3600));
}

static void test_sources_are_counted_apart(void **state)
{
	unsigned char a[LIMITS_KEY], b[LIMITS_KEY];
	int i;
	(void)state;
	key4("192.0.2.1", a);
	key4("192.0.2.2", b);
	for (i = 0; i < 6; i++)
		(void)limits_admit(&cfg, a, 0, 0, T0);
	assert_non_null(limits_admit(&cfg, a, 0, 0, T0));
	assert_null(limits_admit(&cfg, b, 0, 0, T0));
}

static void test_sessions_per_source_and_loopback(void **state)
{
	unsigned char k[LIMITS_KEY];
	(void)state;
	key4("192.0.2.7", k);
	assert_null(limits_admit(&cfg, k, 2, 0, T0));
	assert_string_equal(limits_admit(&cfg, k, 3, 0, T0), "max_sessions_per_source");
	/* a local client is exempt from both per-source limits */
	key4("127.0.0.1", k);
	for (int i = 0; i < 20; i++)
		assert_null(limits_admit(&cfg, k, 10, 1, T0));
	/* 0 turns a limit off */
	cfg.max_sessions_per_source = 0;
	cfg.max_conn_rate_per_source = 0;
	key4("192.0.2.8", k);
	for (int i = 0; i < 20; i++)
		assert_null(limits_admit(&cfg, k, 100, 0, T0));
}

static void test_ipv6_by_slash64(void **state)
{
	unsigned char a[LIMITS_KEY], b[LIMITS_KEY], c[LIMITS_KEY], m[LIMITS_KEY], v4[LIMITS_KEY];
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char txt[64];
	(void)state;
	limits_source_text("2001:db8:1:2::1", a);
	limits_source_text("2001:db8:1:2:ffff::9", b);
	limits_source_text("2001:db8:1:3::1", c);
	assert_memory_equal(a, b, LIMITS_KEY);
	assert_memory_not_equal(a, c, LIMITS_KEY);
	/* a v4-mapped peer is its IPv4 address */
	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &s6->sin6_addr), 1);
	limits_source(&ss, m, txt, sizeof(txt));
	assert_string_equal(txt, "192.0.2.1");
	limits_source_text("192.0.2.1", v4);
	assert_memory_equal(m, v4, LIMITS_KEY);
	/* the /64 shares one rate count */
	for (int i = 0; i < 5; i++)
		assert_null(limits_admit(&cfg, i % 2 ? a : b, 0, 0, T0));
	assert_non_null(limits_admit(&cfg, b, 0, 0, T0));
	assert_null(limits_admit(&cfg, c, 0, 0, T0));
}

static void test_refusals_logged_once_a_minute(void **state)
{
	unsigned char a[LIMITS_KEY], b[LIMITS_KEY];
	(void)state;
	key4("198.51.100.1", a);
	key4("198.51.100.2", b);
	assert_true(limits_log_refusal(a, T0 + 5));
	assert_false(limits_log_refusal(a, T0 + 6));
	assert_false(limits_log_refusal(a, T0 + 59));
	assert_true(limits_log_refusal(b, T0 + 59));
	assert_true(limits_log_refusal(a, T0 + 60));
	assert_false(limits_log_refusal(a, T0 + 119));
}

static void test_events_logged_once_a_minute_with_count(void **state)
{
	unsigned suppressed = 99;
	(void)state;
	assert_true(limits_log_allow("203.0.113.5", T0, &suppressed));
	assert_int_equal(suppressed, 0);
	assert_false(limits_log_allow("203.0.113.5", T0 + 1, &suppressed));
	assert_false(limits_log_allow("203.0.113.5", T0 + 30, &suppressed));
	assert_false(limits_log_allow("203.0.113.5", T0 + 59, &suppressed));
	/* another source is logged at once */
	assert_true(limits_log_allow("203.0.113.6", T0 + 59, &suppressed));
	assert_int_equal(suppressed, 0);
	/* next minute: logged, with the three swallowed ones counted */
	assert_true(limits_log_allow("203.0.113.5", T0 + 60, &suppressed));
	assert_int_equal(suppressed, 3);
	assert_false(limits_log_allow("203.0.113.5", T0 + 61, &suppressed));
	assert_true(limits_log_allow("203.0.113.5", T0 + 125, &suppressed));
	assert_int_equal(suppressed, 1);
	/* a rip that is no address ("local", "unknown") has a key too */
	assert_true(limits_log_allow("local", T0, &suppressed));
	assert_false(limits_log_allow("local", T0, &suppressed));
}

static void test_crowded_table_stays_conservative(void **state)
{
	unsigned char k[LIMITS_KEY], first[LIMITS_KEY];
	char ip[32];
	int i, refused = 0;
	(void)state;
	/* 20000 sources in one minute: more than the table's slots.  Sources
	 * that share a slot share a count, so some are refused early; none
	 * ever gets more than the limit. */
	key4("10.0.0.0", first);
	for (i = 0; i < 20000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		key4(ip, k);
		if (limits_admit(&cfg, k, 0, 0, T0))
			refused++;
	}
	assert_true(refused > 0);
	for (i = 0; i < 5; i++)
		(void)limits_admit(&cfg, first, 0, 0, T0);
	assert_non_null(limits_admit(&cfg, first, 0, 0, T0));
	/* two minutes on, slots are reclaimed: a new source starts afresh */
	key4("10.200.0.1", k);
	assert_null(limits_admit(&cfg, k, 0, 0, T0 + 180));
}

static void test_login_report_carries_the_kernels_pid(void **state)
{
	pid_t child, got;
	int st;
	(void)state;
	assert_int_equal(limits_next_login(), 0);   /* nothing waiting */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		limits_forked();
		limits_report_login();
		_exit(0);
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	got = limits_next_login();
	assert_int_equal(got, child);
	assert_int_equal(limits_next_login(), 0);
	/* detached: no channel, no reports */
	limits_detach();
	limits_report_login();
	assert_int_equal(limits_next_login(), 0);
	assert_int_equal(limits_report_fd(), -1);
}

static void test_without_table_nothing_is_counted(void **state)
{
	unsigned char k[LIMITS_KEY];
	unsigned suppressed;
	(void)state;
	limits_detach();
	key4("192.0.2.1", k);
	for (int i = 0; i < 10; i++)
		assert_null(limits_admit(&cfg, k, 0, 0, T0));
	assert_true(limits_log_allow("192.0.2.1", T0, &suppressed));
	assert_true(limits_log_allow("192.0.2.1", T0, &suppressed));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rate_counts_within_the_minute, setup),
		cmocka_unit_test_setup(test_sources_are_counted_apart, setup),
		cmocka_unit_test_setup(test_sessions_per_source_and_loopback, setup),
		cmocka_unit_test_setup(test_ipv6_by_slash64, setup),
		cmocka_unit_test_setup(test_refusals_logged_once_a_minute, setup),
		cmocka_unit_test_setup(test_events_logged_once_a_minute_with_count, setup),
		cmocka_unit_test_setup(test_crowded_table_stays_conservative, setup),
		cmocka_unit_test_setup(test_login_report_carries_the_kernels_pid, setup),
		cmocka_unit_test_setup(test_without_table_nothing_is_counted, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
