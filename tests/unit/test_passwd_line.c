/* test_passwd_line.c - unit tests for src/passwd_line.c: Dovecot-style
 * passwd-file lines, password schemes, locked entries, hostile input. */
#include "unit.h"
#include "passwd_line.h"

static int parse(const char *text, struct pwline *pw, char *buf, size_t cap)
{
	assert_true(strlen(text) < cap);
	strcpy(buf, text);
	return pw_parse_line(buf, pw);
}

#define PARSE(text) parse((text), &pw, buf, sizeof(buf))

static void test_full_line(void **state)
{
	struct pwline pw;
	char buf[512];
	assert_int_equal(PARSE("alice:$y$j9T$salt$hash:1000:1001:Alice A:/home/alice:/bin/sh:"), 1);
	assert_string_equal(pw.user, "alice");
	assert_string_equal(pw.password, "$y$j9T$salt$hash");
	assert_int_equal(pw.scheme, PW_CRYPT);
	assert_int_equal(pw.uid, 1000);
	assert_int_equal(pw.gid, 1001);
	assert_string_equal(pw.home, "/home/alice");
	assert_non_null(pw.extra);
	assert_string_equal(pw.extra, "");
	/* Pointers are into the caller's buffer. */
	assert_true(pw.user == buf);
}

static void test_field_counts(void **state)
{
	struct pwline pw;
	char buf[512];
	/* Six fields (no shell, no extra) are enough. */
	assert_int_equal(PARSE("bob:$6$s$h:1000:1000::/home/bob"), 1);
	assert_null(pw.extra);
	assert_string_equal(pw.home, "/home/bob");
	/* Seven: shell, no extra. */
	assert_int_equal(PARSE("bob:$6$s$h:1000:1000::/home/bob:/bin/false"), 1);
	assert_null(pw.extra);
	/* Eight and more: extra keeps its colons. */
	assert_int_equal(PARSE("bob:$6$s$h:1000:1000::/home/bob::userdb_mail=maildir:~/M:x"), 1);
	assert_string_equal(pw.extra, "userdb_mail=maildir:~/M:x");
	/* Too few. */
	static const char *few[] = {
		"bob", "bob:", "bob:pw", "bob:pw:1000", "bob:pw:1000:1000",
		"bob:pw:1000:1000:gecos",
	};
	size_t i;
	for (i = 0; i < sizeof(few) / sizeof(few[0]); i++)
		if (PARSE(few[i]) != -1)
			fail_msg("accepted '%s'", few[i]);
}

static void test_blank_and_comments(void **state)
{
	struct pwline pw;
	char buf[512];
	assert_int_equal(PARSE(""), 0);
	assert_int_equal(PARSE("   "), 0);
	assert_int_equal(PARSE("\t \t"), 0);
	assert_int_equal(PARSE("# comment"), 0);
	assert_int_equal(PARSE("  # indented:comment:1:1::/x"), 0);
	/* Leading blanks before an entry are skipped. */
	assert_int_equal(PARSE("  carol:x$:1:1::/h"), 1);
	assert_string_equal(pw.user, "carol");
}

struct scheme_case {
	const char *pwfield;
	enum pw_scheme scheme;
	const char *password;
};

static void test_schemes(void **state)
{
	static const struct scheme_case cases[] = {
		{ "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7", PW_CRYPT, NULL },
		{ "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", PW_CRYPT, NULL },
		{ "$6$salt$hash", PW_CRYPT, NULL },
		{ "$5$rounds=5000$salt$hash", PW_CRYPT, NULL },
		{ "abJnggxhB/yWI", PW_CRYPT, NULL },
		{ "{CRYPT}$6$s$h", PW_CRYPT, "$6$s$h" },
		{ "{SHA512-CRYPT}$6$s$h", PW_CRYPT, "$6$s$h" },
		{ "{SHA256-CRYPT}$5$s$h", PW_CRYPT, "$5$s$h" },
		{ "{BLF-CRYPT}$2b$05$x", PW_CRYPT, "$2b$05$x" },
		{ "{MD5-CRYPT}$1$s$h", PW_CRYPT, "$1$s$h" },
		{ "{YESCRYPT}$y$j9T$s$h", PW_CRYPT, "$y$j9T$s$h" },
		{ "{sha512-crypt}$6$s$h", PW_CRYPT, "$6$s$h" },
		{ "{PLAIN}secret", PW_PLAIN, "secret" },
		{ "{plain}secret", PW_PLAIN, "secret" },
		{ "{CLEARTEXT}sec ret", PW_PLAIN, "sec ret" },
		{ "{PLAIN}{PLAIN}x", PW_PLAIN, "{PLAIN}x" },
		{ "{PLAIN}*", PW_PLAIN, "*" },
		{ "{SCRAM-SHA-256}4096,c2FsdA==,c3RvcmVk,c2VydmVy", PW_SCRAM256,
		  "4096,c2FsdA==,c3RvcmVk,c2VydmVy" },
		/* Locked: empty, '*', '!', unknown or broken scheme. */
		{ "", PW_LOCKED, NULL },
		{ "*", PW_LOCKED, NULL },
		{ "*LK*", PW_LOCKED, NULL },
		{ "!", PW_LOCKED, NULL },
		{ "!$6$salt$hash", PW_LOCKED, NULL },
		{ "!!", PW_LOCKED, NULL },
		{ "{CRYPT}", PW_LOCKED, NULL },
		{ "{CRYPT}*", PW_LOCKED, NULL },
		{ "{SHA512-CRYPT}!$6$s$h", PW_LOCKED, NULL },
		{ "{PLAIN}", PW_LOCKED, NULL },
		{ "{CLEARTEXT}", PW_LOCKED, NULL },
		{ "{MD5}xyz", PW_LOCKED, NULL },
		{ "{SSHA}xyz", PW_LOCKED, NULL },
		{ "{}xyz", PW_LOCKED, NULL },
		{ "{PLAIN", PW_LOCKED, NULL },
		{ "{", PW_LOCKED, NULL },
		{ "{ PLAIN}x", PW_LOCKED, NULL },
	};
	struct pwline pw;
	char buf[512];
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[400];
		snprintf(line, sizeof(line), "u:%s:1000:1000::/home/u", cases[i].pwfield);
		if (PARSE(line) != 1)
			fail_msg("'%s' rejected", line);
		if (pw.scheme != cases[i].scheme)
			fail_msg("'%s': scheme %d, want %d", cases[i].pwfield, pw.scheme,
				 cases[i].scheme);
		if (cases[i].password)
			assert_string_equal(pw.password, cases[i].password);
		else if (cases[i].scheme == PW_CRYPT)
			assert_string_equal(pw.password, cases[i].pwfield);
		assert_string_equal(pw.home, "/home/u");
	}
}

/* An empty SCRAM verifier cannot match anything; passwd_line.h says an
 * empty password is PW_LOCKED, as it is for {PLAIN} and {CRYPT}. */
static void test_scram_empty_is_locked(void **state)
{
	struct pwline pw;
	char buf[512];
	assert_int_equal(PARSE("u:{SCRAM-SHA-256}:1000:1000::/home/u"), 1);
	assert_int_equal(pw.scheme, PW_LOCKED);
}

static void test_ids(void **state)
{
	struct pwline pw;
	char buf[512];
	assert_int_equal(PARSE("u:x:0:0::/root"), 1);   /* policy is first_valid_uid's job */
	assert_int_equal(pw.uid, 0);
	assert_int_equal(PARSE("u:x:2147483647:2147483647::/h"), 1);
	assert_true(pw.uid == 2147483647 && pw.gid == 2147483647);
	assert_int_equal(PARSE("u:x:007:08::/h"), 1);
	assert_true(pw.uid == 7 && pw.gid == 8);
	static const char *bad[] = {
		"u:x::1000::/h", "u:x:1000:::/h", "u:x:-1:1000::/h", "u:x:+1:1000::/h",
		"u:x:1000 :1000::/h", "u:x: 1000:1000::/h", "u:x:abc:1000::/h",
		"u:x:1000:1e3::/h", "u:x:2147483648:1::/h", "u:x:1:4294967295::/h",
		"u:x:4294967297:1::/h", "u:x:99999999999999999999:1::/h", "u:x:0x10:1::/h",
		"u:x:1000:1000.0::/h",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (PARSE(bad[i]) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_home(void **state)
{
	struct pwline pw;
	char buf[512];
	static const char *bad[] = {
		"u:x:1:1::", "u:x:1:1::home/u", "u:x:1:1::./home", "u:x:1:1::~u",
		"u:x:1:1:: /home/u", "u:x:1:1::../u",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (PARSE(bad[i]) != -1)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(PARSE("u:x:1:1::/"), 1);
	assert_string_equal(pw.home, "/");
	assert_int_equal(PARSE("u:x:1:1:gecos: with : colons? no:/h"), -1);
}

static void test_user_names_in_lines(void **state)
{
	struct pwline pw;
	char buf[1024], line[1024], longname[301];
	static const char *bad[] = {
		"../x", "..", ".", "a/b", "/etc", "a b", "a\rb", "a\nb", "a\tb",
		"-rf", ".hidden", "a@b@c", "@x", "x@", "a..b", "a\\b", "a'b", "a\"b",
		"a;b", "a$b", "a*b", "a%b", "\xc3\xa9t\xc3\xa9", "a@.b", "a.@b", "a.",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s:x$:1:1::/h", bad[i]);
		if (PARSE(line) != -1)
			fail_msg("accepted user '%s'", bad[i]);
	}
	memset(longname, 'a', 300);
	longname[300] = '\0';
	snprintf(line, sizeof(line), "%s:x$:1:1::/h", longname);
	assert_int_equal(PARSE(line), -1);
	longname[255] = '\0';
	snprintf(line, sizeof(line), "%s:x$:1:1::/h", longname);
	assert_int_equal(PARSE(line), 1);
	assert_int_equal(strlen(pw.user), 255);
	assert_int_equal(PARSE("first.last+tag@mail.example.org:x$:1:1::/h"), 1);
	assert_string_equal(pw.user, "first.last+tag@mail.example.org");
}

static void test_user_valid(void **state)
{
	char name[300];
	static const char *good[] = {
		"a", "alice", "Alice_B", "a.b", "a-b", "a+b", "a-", "a_", "0", "a@b",
		"a@b.c", "a.b@c.d", "user+tag@example.org", "a@-b", "x_@y",
	};
	static const char *bad[] = {
		"", ".", "..", ".a", "-a", "@", "@a", "a@", "a@b@c", "a..b", "a.", "a.@b",
		"a@.b", "a/b", "../x", "a b", "a\rb", "a:b", "a\x7f", "\xff", "a=b",
		"a,b", "a|b", "a#b", "a~b",
	};
	size_t i;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!pw_user_valid(good[i], strlen(good[i])))
			fail_msg("rejected '%s'", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pw_user_valid(bad[i], strlen(bad[i])))
			fail_msg("accepted '%s'", bad[i]);
	/* Only len bytes count. */
	assert_true(pw_user_valid("abc/def", 3));
	assert_false(pw_user_valid("abc/def", 4));
	assert_false(pw_user_valid("ab\0c", 4));
	assert_false(pw_user_valid("abc", 0));
	memset(name, 'u', sizeof(name));
	assert_true(pw_user_valid(name, 255));
	assert_false(pw_user_valid(name, 256));
	assert_false(pw_user_valid(name, 300));
}

/* The extra field's key=value words (issue 17's per-user settings). */
static void test_extra_get(void **state)
{
	char v[16];
	assert_int_equal(pw_extra_get("login_delay=300 expire=30", "login_delay", v, sizeof(v)), 1);
	assert_string_equal(v, "300");
	assert_int_equal(pw_extra_get("login_delay=300 expire=30", "expire", v, sizeof(v)), 1);
	assert_string_equal(v, "30");
	assert_int_equal(pw_extra_get("  userdb_expire=never\tquota=1G ", "expire", v, sizeof(v)), 1);
	assert_string_equal(v, "never");
	/* The last one counts. */
	assert_int_equal(pw_extra_get("expire=1 expire=2", "expire", v, sizeof(v)), 1);
	assert_string_equal(v, "2");
	/* An empty value is a value. */
	assert_int_equal(pw_extra_get("expire=", "expire", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	/* Not a prefix or a suffix of another key, not a bare word. */
	assert_int_equal(pw_extra_get("expires=3 my_expire=4 expire", "expire", v, sizeof(v)), 0);
	assert_int_equal(pw_extra_get("", "expire", v, sizeof(v)), 0);
	assert_int_equal(pw_extra_get(NULL, "expire", v, sizeof(v)), 0);
	/* Too long for the caller's buffer: refused, not cut. */
	assert_int_equal(pw_extra_get("expire=0123456789abcdef", "expire", v, sizeof(v)), -1);
	{
		char line[] = "u:{PLAIN}x:1000:1000::/home/u::login_delay=60 expire=7";
		struct pwline pw;
		assert_int_equal(pw_parse_line(line, &pw), 1);
		assert_int_equal(pw_extra_get(pw.extra, "login_delay", v, sizeof(v)), 1);
		assert_string_equal(v, "60");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_line),
		cmocka_unit_test(test_field_counts),
		cmocka_unit_test(test_blank_and_comments),
		cmocka_unit_test(test_schemes),
		cmocka_unit_test(test_scram_empty_is_locked),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_home),
		cmocka_unit_test(test_user_names_in_lines),
		cmocka_unit_test(test_user_valid),
		cmocka_unit_test(test_extra_get),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
