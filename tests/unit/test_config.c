/* test_config.c - unit tests for src/config.c: every key type, bad values,
 * "file:line: message" errors, listen addresses, certificates, the checks,
 * and config_print output loading back to the same settings. */
#include "unit.h"
#include "config.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

static char tmp_path[256];

/* Write text to a fresh temporary file; its name is in tmp_path. */
static const char *conf_file(const char *text)
{
	const char *dir = getenv("TMPDIR");
	int fd;
	size_t n = strlen(text);
	snprintf(tmp_path, sizeof(tmp_path), "%s/postern-test-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_true(write(fd, text, n) == (ssize_t)n);
	assert_int_equal(close(fd), 0);
	return tmp_path;
}

static int load_text(struct config *c, const char *text, char *err, size_t cap)
{
	int r;
	config_defaults(c);
	err[0] = '\0';
	r = config_load(c, conf_file(text), err, cap);
	unlink(tmp_path);
	return r;
}

/* The error must be "<path>:<line>: <message>". */
static void expect_load_error(const char *text, unsigned line, const char *msg_part)
{
	struct config c;
	char err[512], want[300];
	if (load_text(&c, text, err, sizeof(err)) != -1)
		fail_msg("loaded: %s", text);
	snprintf(want, sizeof(want), "%s:%u: ", tmp_path, line);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
	if (msg_part && !strstr(err, msg_part))
		fail_msg("error '%s' does not mention '%s'", err, msg_part);
}

static char *print_text(const struct config *c)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	assert_non_null(f);
	config_print(c, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static int set(struct config *c, const char *k, const char *v)
{
	char err[512];
	return config_set(c, k, v, err, sizeof(err));
}

static void test_defaults(void **state)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	assert_string_equal(c.passwd_file, SYSCONFDIR "/postern/passwd");
	assert_string_equal(c.mail_location, "%h/Maildir");
	assert_string_equal(c.unpriv_user, "postern");
	assert_true(c.timeout_ms == 600000);
	assert_true(c.login_timeout_ms == 60000);
	assert_int_equal(c.first_valid_uid, 500);
	assert_int_equal(c.max_login_failures, 3);
	assert_int_equal(c.apop, 0);
	assert_int_equal(c.seccomp, 1);
	assert_int_equal(c.ssl, CONF_SSL_OPTIONAL);
	assert_int_equal(c.plaintext_auth, CONF_PLAINTEXT_TLS_OR_LOOPBACK);
	assert_int_equal(c.ssl_min_protocol, CONF_TLS_V1_2);
	assert_int_equal(c.loopback_is_local, 1);
	/* One listener: *:110, plain. */
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].host, "");
	assert_int_equal(c.listen[0].port, 110);
	assert_int_equal(c.listen[0].tls, 0);
	assert_int_equal(c.ncerts, 0);
	assert_true(c.preauth_memory == 64ULL << 20);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
}

/* Issue 17: the extensions, their defaults and their values. */
static void test_extension_keys(void **state)
{
	struct config c;
	config_defaults(&c);
	assert_int_equal(c.uid_param, 1);
	assert_int_equal(c.deli, 1);
	assert_true(c.login_delay == PARSE_DELAY_OFF);
	assert_true(c.expire == PARSE_EXPIRE_NEVER);
	assert_int_equal(set(&c, "uid_param", "no"), 0);
	assert_int_equal(c.uid_param, 0);
	assert_int_equal(set(&c, "deli", "no"), 0);
	assert_int_equal(c.deli, 0);
	assert_int_equal(set(&c, "deli", "maybe"), -1);
	assert_int_equal(set(&c, "login_delay", "5m"), 0);
	assert_true(c.login_delay == 300);
	assert_int_equal(set(&c, "login_delay", "0"), 0);
	assert_true(c.login_delay == 0);
	assert_int_equal(set(&c, "login_delay", "OFF"), 0);
	assert_true(c.login_delay == PARSE_DELAY_OFF);
	assert_int_equal(set(&c, "login_delay", "1500ms"), -1);  /* whole seconds */
	assert_int_equal(set(&c, "login_delay", "367d"), -1);
	assert_int_equal(set(&c, "login_delay", "-1"), -1);
	assert_int_equal(set(&c, "login_delay", "never"), -1);
	assert_int_equal(set(&c, "expire", "0"), 0);
	assert_true(c.expire == 0);
	assert_int_equal(set(&c, "expire", "30"), 0);
	assert_true(c.expire == 30);
	assert_int_equal(set(&c, "expire", "Never"), 0);
	assert_true(c.expire == PARSE_EXPIRE_NEVER);
	assert_int_equal(set(&c, "expire", "off"), 0);
	assert_true(c.expire == PARSE_EXPIRE_OFF);
	assert_int_equal(set(&c, "expire", "36501"), -1);
	assert_int_equal(set(&c, "expire", "5d"), -1);
	assert_int_equal(set(&c, "expire", ""), -1);
	/* SLEEPING */
	assert_int_equal(c.sleeping, 0);
	assert_true(c.sleep_timeout_ms == 30 * 60000);
	assert_int_equal(c.max_sleeping_sessions, 100);
	assert_int_equal(c.max_sleeping_per_user, 2);
	assert_string_equal(c.sleeping_lock_file, "/run/postern/sleeping.lock");
	assert_int_equal(set(&c, "sleeping", "yes"), 0);
	assert_int_equal(c.sleeping, 1);
	assert_int_equal(set(&c, "sleep_timeout", "2h"), 0);
	assert_true(c.sleep_timeout_ms == 7200000);
	assert_int_equal(set(&c, "sleep_timeout", "500ms"), -1);
	assert_int_equal(set(&c, "max_sleeping_sessions", "0"), 0);
	assert_int_equal(c.max_sleeping_sessions, 0);
	assert_int_equal(set(&c, "max_sleeping_per_user", "-1"), -1);
}

static void test_string_keys(void **state)
{
	struct config c;
	char err[512], big[600];
	config_defaults(&c);
	assert_int_equal(config_set(&c, "passwd_file", "/srv/pw", err, sizeof(err)), 0);
	assert_string_equal(c.passwd_file, "/srv/pw");
	assert_int_equal(set(&c, "mail_location", "/var/mail/%u"), 0);
	assert_string_equal(c.mail_location, "/var/mail/%u");
	assert_int_equal(set(&c, "ssl_ciphers", ""), 0);
	assert_string_equal(c.ssl_ciphers, "");
	/* Too long: 255 fits in 256, 256 does not. */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[255] = '\0';
	assert_int_equal(set(&c, "passwd_file", big), 0);
	big[255] = 'a';
	big[256] = '\0';
	assert_int_equal(config_set(&c, "passwd_file", big, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "passwd_file"));
	assert_int_equal(strlen(c.passwd_file), 255);
	big[64] = '\0';
	assert_int_equal(set(&c, "unpriv_user", big), -1);
	big[63] = '\0';
	assert_int_equal(set(&c, "unpriv_user", big), 0);
}

static void test_choice_keys(void **state)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	assert_int_equal(set(&c, "ssl", "required"), 0);
	assert_int_equal(c.ssl, CONF_SSL_REQUIRED);
	assert_int_equal(set(&c, "ssl", "off"), 0);
	assert_int_equal(c.ssl, CONF_SSL_OFF);
	assert_int_equal(set(&c, "ssl", "optional"), 0);
	assert_int_equal(config_set(&c, "ssl", "Required", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "required|optional|off"));
	assert_int_equal(set(&c, "ssl", "yes"), -1);
	assert_int_equal(set(&c, "ssl", ""), -1);
	assert_int_equal(set(&c, "ssl", "require"), -1);
	assert_int_equal(set(&c, "ssl", "requiredx"), -1);
	assert_int_equal(set(&c, "ssl", "off|on"), -1);
	assert_int_equal(c.ssl, CONF_SSL_OPTIONAL);
	assert_int_equal(set(&c, "plaintext_auth", "always"), 0);
	assert_int_equal(c.plaintext_auth, CONF_PLAINTEXT_ALWAYS);
	assert_int_equal(set(&c, "plaintext_auth", "tls-or-loopback"), 0);
	assert_int_equal(c.plaintext_auth, CONF_PLAINTEXT_TLS_OR_LOOPBACK);
	assert_int_equal(config_set(&c, "plaintext_auth", "never", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tls-or-loopback|always"));
	assert_int_equal(c.plaintext_auth, CONF_PLAINTEXT_TLS_OR_LOOPBACK);
	assert_int_equal(set(&c, "ssl_min_protocol", "TLSv1.3"), 0);
	assert_int_equal(c.ssl_min_protocol, CONF_TLS_V1_3);
	assert_int_equal(set(&c, "ssl_min_protocol", "TLSv1.1"), -1);
	assert_int_equal(set(&c, "ssl_min_protocol", "TLSv1"), -1);
}

static void test_number_keys(void **state)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	/* durations */
	assert_int_equal(set(&c, "timeout", "10m"), 0);
	assert_true(c.timeout_ms == 600000);
	assert_int_equal(set(&c, "login_timeout", "30"), 0);
	assert_true(c.login_timeout_ms == 30000);
	assert_int_equal(set(&c, "login_fail_delay", "500ms"), 0);
	assert_true(c.login_fail_delay_ms == 500);
	assert_int_equal(config_set(&c, "timeout", "10 minutes", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "timeout"));
	assert_int_equal(set(&c, "timeout", "-1"), -1);
	assert_int_equal(set(&c, "timeout", ""), -1);
	assert_true(c.timeout_ms == 600000);
	/* unsigned */
	assert_int_equal(set(&c, "max_sessions", "10"), 0);
	assert_int_equal(c.max_sessions, 10);
	assert_int_equal(set(&c, "max_sessions", "2147483647"), 0);
	assert_int_equal(c.max_sessions, 2147483647u);
	assert_int_equal(config_set(&c, "max_sessions", "2147483648", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "max_sessions"));
	static const char *badnum[] = { "", "-1", "+1", "1.5", "1k", "0x10", " 1", "1 ", "4294967297" };
	size_t i;
	for (i = 0; i < sizeof(badnum) / sizeof(badnum[0]); i++)
		if (set(&c, "max_login_failures", badnum[i]) != -1)
			fail_msg("max_login_failures accepted '%s'", badnum[i]);
	/* Ranges are checked as the value is set (so errors name the line). */
	assert_int_equal(set(&c, "max_login_commands", "0"), -1);
	assert_int_equal(set(&c, "max_login_commands", "1"), 0);
	assert_int_equal(set(&c, "max_login_failures", "0"), -1);
	assert_int_equal(set(&c, "spare_sessions", "64"), 0);
	assert_int_equal(set(&c, "spare_sessions", "65"), -1);
	assert_int_equal(set(&c, "spare_sessions", "0"), 0);
	assert_int_equal(set(&c, "timeout", "999ms"), -1);
	assert_int_equal(set(&c, "login_timeout", "0"), -1);
	assert_int_equal(set(&c, "max_sessions_per_source", "5"), 0);
	assert_int_equal(set(&c, "max_conn_rate_per_source", "60"), 0);
	assert_int_equal(set(&c, "listen_backlog", "4096"), 0);
	assert_int_equal(c.listen_backlog, 4096);
	/* ids */
	assert_int_equal(set(&c, "first_valid_uid", "1000"), 0);
	assert_int_equal(c.first_valid_uid, 1000);
	assert_int_equal(set(&c, "first_valid_gid", "100"), 0);
	assert_int_equal(c.first_valid_gid, 100);
	assert_int_equal(set(&c, "first_valid_uid", "-1"), -1);
	assert_int_equal(set(&c, "first_valid_uid", "4294967295"), -1);
	assert_int_equal(set(&c, "first_valid_gid", "root"), -1);
	/* sizes */
	assert_int_equal(set(&c, "max_mailbox_size", "64M"), 0);
	assert_true(c.max_mailbox_size == 64ULL << 20);
	assert_int_equal(set(&c, "preauth_memory", "512k"), 0);
	assert_true(c.preauth_memory == 512ULL << 10);
	assert_int_equal(set(&c, "max_messages", "5000"), 0);
	assert_true(c.max_messages == 5000);
	assert_int_equal(set(&c, "max_mailbox_size", "64MB"), -1);
	assert_int_equal(set(&c, "max_mailbox_size", "1T"), -1);
	/* bools */
	assert_int_equal(set(&c, "apop", "yes"), 0);
	assert_int_equal(c.apop, 1);
	assert_int_equal(set(&c, "apop", "off"), 0);
	assert_int_equal(c.apop, 0);
	assert_int_equal(set(&c, "seccomp", "FALSE"), 0);
	assert_int_equal(c.seccomp, 0);
	assert_int_equal(set(&c, "size_cache", "1"), 0);
	assert_int_equal(set(&c, "ssl_prefer_server_ciphers", "no"), 0);
	assert_int_equal(set(&c, "loopback_is_local", "no"), 0);
	assert_int_equal(c.loopback_is_local, 0);
	assert_int_equal(set(&c, "loopback_is_local", "yes"), 0);
	assert_int_equal(c.loopback_is_local, 1);
	assert_int_equal(set(&c, "loopback_is_local", "remote"), -1);
	assert_int_equal(set(&c, "test_loopback_is_remote", "yes"), -1);
	assert_int_equal(config_set(&c, "apop", "maybe", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "apop"));
	assert_int_equal(c.apop, 0);
}

static void test_unknown_key(void **state)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	assert_int_equal(config_set(&c, "nonsense", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "unknown key 'nonsense'");
	assert_int_equal(set(&c, "", "1"), -1);
	assert_int_equal(set(&c, "Timeout", "1"), -1);
	assert_int_equal(set(&c, "timeout ", "1"), -1);
	assert_int_equal(set(&c, "ssl_key_", "/x"), -1);
	/* A small error buffer is filled and terminated, not overrun. */
	memset(err, 'X', sizeof(err));
	assert_int_equal(config_set(&c, "nonsense", "1", err, 8), -1);
	assert_string_equal(err, "unknown");
	assert_int_equal(err[8], 'X');
}

static void test_listen(void **state)
{
	struct config c;
	char err[512];
	int i;
	config_defaults(&c);
	assert_int_equal(set(&c, "listen", "[::1]:110, *:110"), 0);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[0].host, "::1");
	assert_int_equal(c.listen[0].port, 110);
	assert_int_equal(c.listen[0].tls, 0);
	assert_string_equal(c.listen[1].host, "");
	assert_int_equal(c.listen[1].port, 110);
	assert_int_equal(set(&c, "listen_tls", "127.0.0.1:995\t[::]:995"), 0);
	assert_int_equal(c.nlisten, 4);
	assert_int_equal(c.listen[2].tls, 1);
	assert_string_equal(c.listen[3].host, "::");
	/* A second listen line replaces the first, keeps listen_tls. */
	assert_int_equal(set(&c, "listen", "10.0.0.1:1110"), 0);
	assert_int_equal(c.nlisten, 3);
	for (i = 0; i < c.nlisten; i++)
		if (!c.listen[i].tls)
			assert_string_equal(c.listen[i].host, "10.0.0.1");
	/* Empty value: no plain listeners. */
	assert_int_equal(set(&c, "listen", ""), 0);
	assert_int_equal(c.nlisten, 2);
	assert_int_equal(set(&c, "listen", " , ,"), 0);
	assert_int_equal(c.nlisten, 2);
	/* Bad addresses. */
	static const char *bad[] = {
		"110", "*:0", "*:65536", "::1:110", "[::1]110", "host", "host:", "*:110x",
		"a:1, b", "[[::1]]:1",
	};
	size_t k;
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		if (config_set(&c, "listen", bad[k], err, sizeof(err)) != -1)
			fail_msg("listen accepted '%s'", bad[k]);
		assert_non_null(strstr(err, "bad address"));
	}
	/* 16 addresses fit, 17 do not. */
	config_defaults(&c);
	char many[1024] = "";
	for (i = 0; i < 16; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "127.0.0.%d:110 ", i + 1);
	assert_int_equal(set(&c, "listen", many), 0);
	assert_int_equal(c.nlisten, 16);
	assert_int_equal(config_set(&c, "listen_tls", "*:995", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "16"));
	snprintf(many + strlen(many), sizeof(many) - strlen(many), "127.0.0.99:110");
	assert_int_equal(set(&c, "listen", many), -1);
	/* Too long a list. */
	memset(many, ' ', 600);
	many[600] = '\0';
	assert_int_equal(config_set(&c, "listen", many, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	/* Host longer than 63. */
	config_defaults(&c);
	memset(many, 'h', 64);
	strcpy(many + 64, ":110");
	assert_int_equal(set(&c, "listen", many), -1);
	strcpy(many + 63, ":110");
	assert_int_equal(set(&c, "listen", many), 0);
}

static void test_certs(void **state)
{
	struct config c;
	char err[512], path[40];
	int i;
	config_defaults(&c);
	assert_int_equal(config_set(&c, "ssl_key", "/k", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "follow"));
	assert_int_equal(set(&c, "ssl_cert", "/etc/ssl/a.pem"), 0);
	assert_int_equal(set(&c, "ssl_key", "/etc/ssl/a.key"), 0);
	assert_int_equal(set(&c, "ssl_key", "/etc/ssl/b.key"), -1);
	assert_int_equal(set(&c, "ssl_cert", "/etc/ssl/ec.pem"), 0);
	assert_int_equal(set(&c, "ssl_key", "/etc/ssl/ec.key"), 0);
	assert_int_equal(c.ncerts, 2);
	assert_string_equal(c.certs[1].key, "/etc/ssl/ec.key");
	assert_int_equal(set(&c, "ssl_cert", "relative.pem"), -1);
	assert_int_equal(set(&c, "ssl_cert", ""), -1);
	assert_int_equal(set(&c, "ssl_cert", "/c"), 0);
	assert_int_equal(set(&c, "ssl_key", "relative.key"), -1);
	assert_int_equal(set(&c, "ssl_key", ""), -1);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/c has no ssl_key"));
	config_defaults(&c);
	for (i = 0; i < CONF_MAX_CERTS; i++) {
		snprintf(path, sizeof(path), "/c%d", i);
		assert_int_equal(set(&c, "ssl_cert", path), 0);
		assert_int_equal(set(&c, "ssl_key", path), 0);
	}
	assert_int_equal(set(&c, "ssl_cert", "/one-too-many"), -1);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
}

static void test_check(void **state)
{
	static const struct { const char *k, *v, *msg; } cases[] = {
		{ "passwd_file", "etc/passwd", "passwd_file" },
		{ "passwd_file", "", "passwd_file" },
		{ "empty_dir", "run/empty", "empty_dir" },
		{ "first_valid_uid", "0", "first_valid_uid" },
		{ "first_valid_gid", "0", "first_valid_gid" },
		{ "listen_tls", "*:995", "listen_tls" },
		{ "ssl", "required", "ssl = required" },
	};
	struct config c;
	char err[512];
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_defaults(&c);
		assert_int_equal(set(&c, cases[i].k, cases[i].v), 0);
		err[0] = '\0';
		if (config_check(&c, err, sizeof(err)) != -1)
			fail_msg("config_check passed %s = %s", cases[i].k, cases[i].v);
		if (!strstr(err, cases[i].msg))
			fail_msg("'%s' does not mention '%s'", err, cases[i].msg);
	}
	/* Boundaries that pass. */
	config_defaults(&c);
	assert_int_equal(set(&c, "timeout", "1s"), 0);
	assert_int_equal(set(&c, "login_timeout", "1000ms"), 0);
	assert_int_equal(set(&c, "first_valid_uid", "1"), 0);
	assert_int_equal(set(&c, "listen_tls", "*:995"), 0);
	assert_int_equal(set(&c, "ssl", "required"), 0);
	assert_int_equal(set(&c, "ssl_cert", "/c"), 0);
	assert_int_equal(set(&c, "ssl_key", "/k"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
}

static const char full_conf[] =
	"# postern.conf test\n"
	"\n"
	"   # indented comment\n"
	"listen = 127.0.0.1:110, [::1]:110\n"
	"listen_tls=*:995\n"
	"  passwd_file   =   /etc/postern/passwd.test  \n"
	"mail_location = %h/Mail/inbox\n"
	"unpriv_user = nobody\n"
	"empty_dir = /var/empty\n"
	"first_valid_uid = 1000\n"
	"first_valid_gid = 100\n"
	"timeout = 10m\n"
	"login_timeout = 1500ms\n"
	"login_fail_delay = 0\n"
	"max_login_failures = 5\n"
	"max_login_commands = 50\n"
	"apop = yes\n"
	"size_cache = no\n"
	"max_messages = 20000\n"
	"max_mailbox_size = 2G\n"
	"max_sessions = 50\n"
	"max_sessions_per_source = 4\n"
	"max_conn_rate_per_source = 30\n"
	"listen_backlog = 64\n"
	"preauth_memory = 32M\n"
	"seccomp = off\n"
	"ssl = required\n"
	"plaintext_auth = always\n"
	"ssl_cert = /etc/ssl/rsa.pem\n"
	"ssl_key = /etc/ssl/rsa.key\n"
	"ssl_cert = /etc/ssl/ec.pem\n"
	"ssl_key = /etc/ssl/ec.key\n"
	"ssl_min_protocol = TLSv1.3\n"
	"ssl_ciphers = HIGH:!aNULL:!MD5\n"
	"ssl_ciphersuites = TLS_AES_128_GCM_SHA256\n"
	"ssl_prefer_server_ciphers = no\n"
	"loopback_is_local = no\n";

static void test_load_full(void **state)
{
	struct config c;
	char err[512];
	assert_int_equal(load_text(&c, full_conf, err, sizeof(err)), 0);
	assert_int_equal(c.nlisten, 3);
	assert_string_equal(c.listen[0].host, "127.0.0.1");
	assert_string_equal(c.listen[1].host, "::1");
	assert_string_equal(c.listen[2].host, "");
	assert_int_equal(c.listen[2].port, 995);
	assert_int_equal(c.listen[2].tls, 1);
	assert_string_equal(c.passwd_file, "/etc/postern/passwd.test");
	assert_string_equal(c.mail_location, "%h/Mail/inbox");
	assert_string_equal(c.unpriv_user, "nobody");
	assert_int_equal(c.first_valid_uid, 1000);
	assert_true(c.login_timeout_ms == 1500);
	assert_true(c.login_fail_delay_ms == 0);
	assert_int_equal(c.apop, 1);
	assert_int_equal(c.size_cache, 0);
	assert_true(c.max_mailbox_size == 2ULL << 30);
	assert_int_equal(c.seccomp, 0);
	assert_int_equal(c.ncerts, 2);
	assert_string_equal(c.certs[1].cert, "/etc/ssl/ec.pem");
	assert_string_equal(c.ssl_ciphers, "HIGH:!aNULL:!MD5");
	assert_int_equal(c.loopback_is_local, 0);
	assert_int_equal(c.ssl, CONF_SSL_REQUIRED);
	assert_int_equal(c.plaintext_auth, CONF_PLAINTEXT_ALWAYS);
	assert_int_equal(c.ssl_min_protocol, CONF_TLS_V1_3);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
}

static void test_load_syntax(void **state)
{
	struct config c;
	char err[512];
	/* CRLF lines, tabs, no spaces, no final newline, empty file. */
	assert_int_equal(load_text(&c, "timeout=30s\r\n\tapop\t=\tyes\r\nmax_sessions = 7", err,
				   sizeof(err)), 0);
	assert_true(c.timeout_ms == 30000);
	assert_int_equal(c.apop, 1);
	assert_int_equal(c.max_sessions, 7);
	assert_int_equal(load_text(&c, "", err, sizeof(err)), 0);
	assert_int_equal(load_text(&c, "\n\n# only comments\n#x = y\n", err, sizeof(err)), 0);
	/* A value may contain '=' and '#' inside a word. */
	assert_int_equal(load_text(&c, "mail_location = /m/%u#x=y\n", err, sizeof(err)), 0);
	assert_string_equal(c.mail_location, "/m/%u#x=y");
	/* A '#' that begins a word starts a comment, after a value too. */
	assert_int_equal(load_text(&c, "listen = 127.0.0.1:110 # local only\n"
				   "ssl = off\t# no TLS\ntimeout = 30s#x\n"
				   "  # indented comment\napop = yes #\n", err, sizeof(err)), -1);
	assert_int_equal(load_text(&c, "listen = 127.0.0.1:110 # local only\n"
				   "ssl = off\t# no TLS\n  # indented comment\n"
				   "apop = yes #\nmail_location = /m/%u # the #x\n", err, sizeof(err)), 0);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].host, "127.0.0.1");
	assert_int_equal(c.ssl, CONF_SSL_OFF);
	assert_int_equal(c.apop, 1);
	assert_string_equal(c.mail_location, "/m/%u");
	/* A '#' right after the '=' begins the value's first word: a comment. */
	assert_int_equal(load_text(&c, "mail_location =#x\n", err, sizeof(err)), 0);
	assert_string_equal(c.mail_location, "");
	/* A listen address cannot hold a '#' (it would print as a comment). */
	assert_int_equal(load_text(&c, "listen = a:1,#b:2\n", err, sizeof(err)), -1);
	/* A key with only a comment for a value has an empty value. */
	assert_int_equal(load_text(&c, "ssl_ciphers = # none\n", err, sizeof(err)), 0);
	assert_string_equal(c.ssl_ciphers, "");
	/* Empty value. */
	assert_int_equal(load_text(&c, "ssl_ciphers =\n", err, sizeof(err)), 0);
	assert_string_equal(c.ssl_ciphers, "");
}

static void collect(void *arg, const char *msg)
{
	char *buf = arg;
	size_t n = strlen(buf);
	snprintf(buf + n, 1024 - n, "%s\n", msg);
}

/* A key given twice loads (the later value wins) and is reported with
 * file and line; certificate pairs may repeat. */
static void test_load_repeated_key(void **state)
{
	struct config c;
	char err[512], warns[1024] = "", want[400];
	const char *path;
	config_defaults(&c);
	path = conf_file("timeout = 10m\nssl_cert = /a.pem\nssl_key = /a.key\n"
			 "ssl_cert = /b.pem\nssl_key = /b.key\n# timeout = 1m\n"
			 "timeout = 20m\n");
	assert_int_equal(config_load_warn(&c, path, err, sizeof(err), collect, warns), 0);
	unlink(tmp_path);
	assert_true(c.timeout_ms == 20 * 60000);
	assert_int_equal(c.ncerts, 2);
	snprintf(want, sizeof(want), "%s:7: timeout is also set on line 1; the later value wins\n",
		 tmp_path);
	assert_string_equal(warns, want);
	/* No repeat, no warning; config_load takes no callback. */
	warns[0] = '\0';
	config_defaults(&c);
	path = conf_file("timeout = 10m\nlisten = *:110\n");
	assert_int_equal(config_load_warn(&c, path, err, sizeof(err), collect, warns), 0);
	unlink(tmp_path);
	assert_string_equal(warns, "");
}

static void test_load_errors(void **state)
{
	char big[2100];
	expect_load_error("nonsense = 1\n", 1, "unknown key 'nonsense'");
	expect_load_error("# c\n\ntimeout = 10m\nbogus_key = yes\n", 4, "unknown key 'bogus_key'");
	expect_load_error("apop = yes\napop = perhaps\n", 2, "apop");
	expect_load_error("timeout = 10 minutes\n", 1, "timeout");
	expect_load_error("max_sessions = -1\n", 1, "max_sessions");
	expect_load_error("listen = 127.0.0.1\n", 1, "bad address");
	expect_load_error("ssl = maybe\n", 1, "ssl");
	expect_load_error("ssl_key = /k\n", 1, "ssl_key");
	expect_load_error("\n\njust words\n", 3, "key = value");
	expect_load_error("= value\n", 1, "unknown key ''");
	expect_load_error("timeout 10m\n", 1, "key = value");
	expect_load_error("Timeout = 10m\n", 1, "unknown key");
	/* A line longer than the buffer is an error, not two lines. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "ssl_ciphers = ", 14);
	big[2000] = '\n';
	big[2001] = '\0';
	expect_load_error(big, 1, "too long");
	/* Missing file: "path: reason". */
	{
		struct config c;
		char err[512];
		config_defaults(&c);
		assert_int_equal(config_load(&c, "/nonexistent/postern.conf", err, sizeof(err)), -1);
		assert_string_equal(err, "/nonexistent/postern.conf: No such file or directory");
	}
}

/* A directory opens with fopen() but cannot be read; config_load does not
 * check ferror() after the loop, so it returns 0 (an empty config) instead
 * of an error.  The same hides a read error in the middle of a file. */
static void test_load_directory(void **state)
{
	struct config c;
	char err[512] = "";
	config_defaults(&c);
	assert_true_msg(config_load(&c, "/", err, sizeof(err)) == -1,
		  "config_load(\"/\") succeeds: read errors (EISDIR, EIO) are ignored");
}

/* Print, load what was printed, print again: the texts must be equal. */
static void round_trip(const struct config *c)
{
	struct config d;
	char err[512], *t1 = print_text(c), *t2;
	config_defaults(&d);
	if (config_load(&d, conf_file(t1), err, sizeof(err)) != 0) {
		unlink(tmp_path);
		fail_msg("printed config does not load: %s\n%s", err, t1);
	}
	unlink(tmp_path);
	t2 = print_text(&d);
	if (strcmp(t1, t2) != 0)
		fail_msg("round trip differs:\n%s---\n%s", t1, t2);
	free(t1);
	free(t2);
}

static void test_print_round_trip(void **state)
{
	struct config c;
	char err[512], *t;
	config_defaults(&c);
	round_trip(&c);
	t = print_text(&c);
	assert_non_null(strstr(t, "timeout = 600s\n"));
	assert_non_null(strstr(t, "listen = *:110\n"));
	assert_non_null(strstr(t, "listen_tls =\n"));
	assert_non_null(strstr(t, "ssl = optional\n"));
	free(t);
	assert_int_equal(load_text(&c, full_conf, err, sizeof(err)), 0);
	round_trip(&c);
	t = print_text(&c);
	assert_non_null(strstr(t, "listen = 127.0.0.1:110, [::1]:110\n"));
	assert_non_null(strstr(t, "listen_tls = *:995\n"));
	assert_non_null(strstr(t, "login_timeout = 1500ms\n"));
	assert_non_null(strstr(t, "ssl_cert = /etc/ssl/rsa.pem\nssl_key = /etc/ssl/rsa.key\n"));
	assert_non_null(strstr(t, "apop = yes\n"));
	free(t);
	/* Every listen form. */
	assert_int_equal(load_text(&c, "listen = [::1]:110 *:110 0.0.0.0:1 [fe80::1%lo]:2 [10.1.1.1]:3\n",
				   err, sizeof(err)), 0);
	assert_int_equal(c.nlisten, 5);
	round_trip(&c);
}

/* passdb (sources in order), their settings, and auth_mechanisms. */
static void test_passdb_and_mechanisms(void **state)
{
	struct config c;
	char err[512], *t;
	config_defaults(&c);
	/* Defaults: the passwd file only; PLAIN and LOGIN only. */
	assert_int_equal(c.npassdb, 1);
	assert_int_equal(c.passdb[0], CONF_PASSDB_FILE);
	assert_string_equal(c.pam_service, "postern");
	assert_true(c.passdb_timeout_ms == 10000 && c.passdb_fail_time_ms == 1000);
	assert_int_equal(c.auth_mechanisms, CONF_MECH_PLAIN | CONF_MECH_LOGIN);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);

	assert_int_equal(set(&c, "passdb", "pam passwd-file"), 0);
	assert_int_equal(c.npassdb, 2);
	assert_int_equal(c.passdb[0], CONF_PASSDB_PAM);
	assert_int_equal(c.passdb[1], CONF_PASSDB_FILE);
	assert_true(config_has_passdb(&c, CONF_PASSDB_PAM));
	assert_false(config_has_passdb(&c, CONF_PASSDB_CHECKPASSWORD));
	assert_int_equal(set(&c, "passdb", "passwd-file, pam, checkpassword"), 0);
	assert_int_equal(c.npassdb, 3);
	/* A bad list leaves the old one. */
	assert_int_equal(set(&c, "passdb", "pam ldap"), -1);
	assert_int_equal(set(&c, "passdb", "pam pam"), -1);
	assert_int_equal(set(&c, "passdb", ""), -1);
	assert_int_equal(set(&c, "passdb", "PAM"), -1);
	assert_int_equal(c.npassdb, 3);
	/* checkpassword needs its program. */
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "checkpassword"));
	assert_int_equal(set(&c, "checkpassword", "bin/check"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_int_equal(set(&c, "checkpassword", "/usr/bin/checkpassword"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);

	assert_int_equal(set(&c, "auth_mechanisms", "SCRAM-SHA-256 plain"), 0);
	assert_int_equal(c.auth_mechanisms, CONF_MECH_SCRAM | CONF_MECH_PLAIN);
	assert_int_equal(set(&c, "auth_mechanisms", "scram-sha-256-plus,login"), 0);
	assert_int_equal(c.auth_mechanisms, CONF_MECH_SCRAM_PLUS | CONF_MECH_LOGIN);
	assert_int_equal(set(&c, "auth_mechanisms", "plain cram-md5"), -1);
	assert_int_equal(set(&c, "auth_mechanisms", ""), 0);
	assert_int_equal(c.auth_mechanisms, 0);
	/* SCRAM and APOP need the passwd file among the sources. */
	assert_int_equal(set(&c, "auth_mechanisms", "plain scram-sha-256"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(set(&c, "passdb", "pam checkpassword"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SCRAM"));
	assert_int_equal(set(&c, "auth_mechanisms", "plain login"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(set(&c, "apop", "yes"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "apop"));

	/* SLEEP's WAKE re-checks the account in the passwd file. */
	config_defaults(&c);
	assert_int_equal(set(&c, "sleeping", "yes"), 0);
	assert_int_equal(set(&c, "max_sleeping_sessions", "10"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(set(&c, "passdb", "passwd-file pam"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sleeping"));
	assert_int_equal(set(&c, "sleeping", "no"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);

	assert_int_equal(set(&c, "passdb_timeout", "500ms"), -1);
	assert_int_equal(set(&c, "passdb_fail_time", "0"), 0);
	/* Printed in the file's own syntax, and loaded back the same. */
	assert_int_equal(load_text(&c, "passdb = checkpassword passwd-file\n"
				   "checkpassword = /bin/cpw\nauth_mechanisms = Login PLAIN\n"
				   "passdb_fail_time = 250ms\n", err, sizeof(err)), 0);
	t = print_text(&c);
	assert_non_null(strstr(t, "passdb = checkpassword passwd-file\n"));
	assert_non_null(strstr(t, "auth_mechanisms = plain login\n"));
	assert_non_null(strstr(t, "passdb_fail_time = 250ms\n"));
	free(t);
	round_trip(&c);
	expect_load_error("\n\npassdb = sql\n", 3, "passdb");
	expect_load_error("auth_mechanisms = gssapi\n", 1, "auth_mechanisms");
}

/* config_print writes sizes in bytes and durations in s or ms, but
 * parse_size and parse_duration_ms take at most 4294967295 before the unit,
 * so "max_mailbox_size = 8G" prints as 8589934592, which postern then
 * refuses to load ("bad size"); same for durations over ~136 years. */

/* Options after a listen address apply to it: ssl=, proxy=. */
static void test_listen_options(void **state)
{
	struct config c;
	char err[512], *t;
	size_t k;
	config_defaults(&c);
	assert_int_equal(c.listen[0].ssl, -1);
	assert_int_equal(c.listen[0].proxy, 0);
	assert_int_equal(set(&c, "listen", "127.0.0.1:110 ssl=required proxy=yes, [::1]:110, "
			     "*:1110 ssl=optional"), 0);
	assert_int_equal(c.nlisten, 3);
	assert_int_equal(c.listen[0].ssl, CONF_SSL_REQUIRED);
	assert_int_equal(c.listen[0].proxy, 1);
	assert_int_equal(c.listen[1].ssl, -1);
	assert_int_equal(c.listen[1].proxy, 0);
	assert_int_equal(c.listen[2].ssl, CONF_SSL_OPTIONAL);
	assert_int_equal(config_listen_ssl(&c, &c.listen[1]), CONF_SSL_OPTIONAL);
	c.ssl = CONF_SSL_REQUIRED;
	assert_int_equal(config_listen_ssl(&c, &c.listen[1]), CONF_SSL_REQUIRED);
	assert_int_equal(config_listen_ssl(&c, &c.listen[2]), CONF_SSL_OPTIONAL);
	assert_int_equal(set(&c, "listen_tls", "*:995 proxy=yes"), 0);
	assert_int_equal(c.listen[3].tls, 1);
	assert_int_equal(c.listen[3].proxy, 1);
	assert_ptr_equal(config_listen_by_port(&c, 995), &c.listen[3]);
	assert_ptr_equal(config_listen_by_port(&c, 1110), &c.listen[2]);
	assert_null(config_listen_by_port(&c, 111));
	t = print_text(&c);
	assert_non_null(strstr(t, "listen = 127.0.0.1:110 ssl=required proxy=yes, [::1]:110, "
			       "*:1110 ssl=optional\n"));
	assert_non_null(strstr(t, "listen_tls = *:995 proxy=yes\n"));
	free(t);
	assert_int_equal(set(&c, "proxy_trusted", "127.0.0.1"), 0);
	round_trip(&c);
	static const struct { const char *key, *v, *msg; } bad[] = {
		{ "listen", "ssl=required *:110", "before any address" },
		{ "listen", "*:110 ssl=off", "ssl=required or ssl=optional" },
		{ "listen", "*:110 ssl=", "ssl=required or ssl=optional" },
		{ "listen", "*:110 proxy=maybe", "proxy=yes or proxy=no" },
		{ "listen", "*:110 tls=yes", "unknown listen option" },
		{ "listen", "*:110 =yes", "unknown listen option" },
		{ "listen_tls", "*:995 ssl=required", "always TLS" },
		{ "listen_tls", "proxy=yes", "before any address" },
	};
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		config_defaults(&c);
		if (config_set(&c, bad[k].key, bad[k].v, err, sizeof(err)) != -1)
			fail_msg("%s accepted '%s'", bad[k].key, bad[k].v);
		if (!strstr(err, bad[k].msg))
			fail_msg("%s '%s': error '%s' lacks '%s'", bad[k].key, bad[k].v, err,
				 bad[k].msg);
	}
	/* The checks: proxy=yes needs proxy_trusted; ssl=required needs a
	 * certificate; ssl= needs the global ssl not off. */
	config_defaults(&c);
	assert_int_equal(set(&c, "listen", "*:110 proxy=yes"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "proxy_trusted"));
	assert_int_equal(set(&c, "proxy_trusted", "10.0.0.0/8"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(set(&c, "listen", "*:110 ssl=required"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ssl=required needs ssl_cert"));
	assert_int_equal(set(&c, "listen", "*:110 ssl=optional"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(set(&c, "ssl", "off"), 0);
	assert_int_equal(config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "global ssl not off"));
}

static void sin4(struct sockaddr_storage *ss, const char *a)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &((struct sockaddr_in *)ss)->sin_addr), 1);
}

static void sin6(struct sockaddr_storage *ss, const char *a)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &((struct sockaddr_in6 *)ss)->sin6_addr), 1);
}

static void test_proxy_trusted(void **state)
{
	struct config c;
	struct conf_net n;
	struct sockaddr_storage ss;
	char err[512], *t;
	size_t k;
	static const char *good[] = {
		"127.0.0.1/32", "10.0.0.0/8", "0.0.0.0/0", "::1/128", "::/0", "192.0.2.7",
		"2001:db8::/32", "10.128.0.0/9", "fe80::/10",
	};
	static const char *bad[] = {
		"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1",
		"10.0.0.0/+8", "10.0.0.0/8x", "::1/129", "2001:db8::1/32", "10.0.0", "host",
		"/8", "", "10.0.0.0/8/8", "1.2.3.4 ", "010.0.0.0/8", "::ffff:/96x",
	};
	for (k = 0; k < sizeof(good) / sizeof(good[0]); k++)
		if (config_parse_net(good[k], &n) != 0)
			fail_msg("refused '%s'", good[k]);
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		if (config_parse_net(bad[k], &n) != -1)
			fail_msg("accepted '%s'", bad[k]);
	config_defaults(&c);
	assert_int_equal(c.nproxy_trusted, 0);
	assert_int_equal(c.proxy_timeout_ms, 3000);
	sin4(&ss, "127.0.0.1");
	assert_int_equal(config_proxy_trusted(&c, &ss), 0);   /* nothing by default */
	assert_int_equal(set(&c, "proxy_trusted", "127.0.0.1/32 ::1/128, 10.128.0.0/9"), 0);
	assert_int_equal(c.nproxy_trusted, 3);
	assert_int_equal(config_proxy_trusted(&c, &ss), 1);
	sin4(&ss, "127.0.0.2");
	assert_int_equal(config_proxy_trusted(&c, &ss), 0);
	sin4(&ss, "10.200.1.1");
	assert_int_equal(config_proxy_trusted(&c, &ss), 1);
	sin4(&ss, "10.127.255.255");
	assert_int_equal(config_proxy_trusted(&c, &ss), 0);
	sin6(&ss, "::1");
	assert_int_equal(config_proxy_trusted(&c, &ss), 1);
	sin6(&ss, "::2");
	assert_int_equal(config_proxy_trusted(&c, &ss), 0);
	sin6(&ss, "::ffff:127.0.0.1");   /* v4-mapped: the v4 networks */
	assert_int_equal(config_proxy_trusted(&c, &ss), 1);
	sin6(&ss, "::ffff:127.0.0.3");
	assert_int_equal(config_proxy_trusted(&c, &ss), 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(config_proxy_trusted(&c, &ss), 0);
	t = print_text(&c);
	assert_non_null(strstr(t, "proxy_trusted = 127.0.0.1/32 ::1/128 10.128.0.0/9\n"));
	assert_non_null(strstr(t, "proxy_timeout = 3s\n"));
	free(t);
	round_trip(&c);
	/* a later line replaces the list; an empty one empties it */
	assert_int_equal(set(&c, "proxy_trusted", "192.0.2.0/24"), 0);
	assert_int_equal(c.nproxy_trusted, 1);
	assert_int_equal(set(&c, "proxy_trusted", ""), 0);
	assert_int_equal(c.nproxy_trusted, 0);
	assert_int_equal(config_set(&c, "proxy_trusted", "10.0.0.0/8 10.0.0.1/8", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "10.0.0.1/8"));
	/* 32 fit, 33 do not */
	char many[1024] = "";
	for (k = 0; k < 33; k++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.0.%zu ", k);
	assert_int_equal(config_set(&c, "proxy_trusted", many, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 32"));
	many[0] = '\0';
	for (k = 0; k < 32; k++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.0.%zu ", k);
	assert_int_equal(set(&c, "proxy_trusted", many), 0);
	assert_int_equal(c.nproxy_trusted, 32);
	/* proxy_timeout: a duration, at least 100ms */
	assert_int_equal(set(&c, "proxy_timeout", "500ms"), 0);
	assert_int_equal(c.proxy_timeout_ms, 500);
	assert_int_equal(set(&c, "proxy_timeout", "99ms"), -1);
}

static void test_print_round_trip_big_values(void **state)
{
	struct config c;
	char err[512], *t, *t2;
	struct config d;
	int ok;
	assert_int_equal(load_text(&c, "max_mailbox_size = 8G\n", err, sizeof(err)), 0);
	t = print_text(&c);
	config_defaults(&d);
	ok = config_load(&d, conf_file(t), err, sizeof(err)) == 0;
	unlink(tmp_path);
	if (ok) {
		t2 = print_text(&d);
		ok = strcmp(t, t2) == 0;
		free(t2);
	}
	free(t);
	assert_true_msg(ok, "config_print output of max_mailbox_size = 8G does not load");
	assert_int_equal(load_text(&c, "timeout = 4294967295m\n", err, sizeof(err)), 0);
	round_trip(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_string_keys),
		cmocka_unit_test(test_choice_keys),
		cmocka_unit_test(test_number_keys),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_certs),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_load_full),
		cmocka_unit_test(test_load_syntax),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_repeated_key),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_extension_keys),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_passdb_and_mechanisms),
		cmocka_unit_test(test_print_round_trip_big_values),
		cmocka_unit_test(test_listen_options),
		cmocka_unit_test(test_proxy_trusted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
