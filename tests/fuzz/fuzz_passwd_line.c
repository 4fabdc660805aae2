/* fuzz_passwd_line.c - libFuzzer target for src/passwd_line.c.
 *
 * The whole input is (1) given to pw_user_valid as exactly that many bytes
 * (no terminator, so ASan sees any over-read) and compared with a reference
 * of the documented rule, and (2) parsed as a passwd line; an accepted line
 * must have a valid user, numeric ids within range, an absolute home, and
 * pointers inside the caller's buffer. */
#include "passwd_line.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_passwd_line: %s\n", what);
		abort();
	}
}

/* 1-255 bytes of [A-Za-z0-9._+-], at most one '@' neither first nor last,
 * no "..", ".@" or "@.", not starting with '.' or '-', not ending in '.'. */
static int ref_user_valid(const char *s, size_t len)
{
	size_t i, ats = 0;
	if (len == 0 || len > PW_USER_MAX)
		return 0;
	if (s[0] == '.' || s[0] == '-' || s[0] == '@' || s[len - 1] == '@' ||
	    s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._+-@", c)) || c == '\0')
			return 0;
		if (c == '@')
			ats++;
		if (i + 1 < len && strchr(".@", c) && strchr(".@", s[i + 1]) &&
		    s[i + 1] != '\0' && !(c == '@' && s[i + 1] == '@'))
			return 0;
	}
	return ats <= 1;
}

static int in_buf(const char *p, const char *buf, size_t n)
{
	return p >= buf && p <= buf + n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *exact, *line;
	struct pwline pw;
	int r;

	exact = malloc(size ? size : 1);
	check(exact != NULL, "malloc");
	memcpy(exact, data, size);
	r = pw_user_valid(exact, size);
	check(r == ref_user_valid(exact, size), "pw_user_valid differs from the rule");
	if (r)
		check(!memchr(exact, '/', size) && exact[0] != '.', "unsafe user accepted");
	free(exact);

	line = malloc(size + 1);
	check(line != NULL, "malloc");
	memcpy(line, data, size);
	line[size] = '\0';
	r = pw_parse_line(line, &pw);
	check(r >= -1 && r <= 1, "pw_parse_line result");
	if (r == 1) {
		check(in_buf(pw.user, line, size) && in_buf(pw.password, line, size) &&
		      in_buf(pw.home, line, size), "pointer outside the line");
		check(pw.extra == NULL || in_buf(pw.extra, line, size), "extra pointer");
		check(pw_user_valid(pw.user, strlen(pw.user)), "invalid user accepted");
		check(pw.home[0] == '/', "relative home accepted");
		check((unsigned long)pw.uid <= 0x7fffffffUL &&
		      (unsigned long)pw.gid <= 0x7fffffffUL, "id out of range");
		check(pw.scheme == PW_CRYPT || pw.scheme == PW_PLAIN ||
		      pw.scheme == PW_SCRAM256 || pw.scheme == PW_LOCKED, "scheme");
		check(!strchr(pw.user, ':') && !strchr(pw.home, ':'), "':' in a field");
		if (pw.scheme == PW_CRYPT)
			check(pw.password[0] != '\0' && pw.password[0] != '*' &&
			      pw.password[0] != '!', "locked hash treated as crypt");
		if (pw.scheme != PW_LOCKED)
			check(pw.password[0] != '\0', "empty password not locked");
	}
	free(line);
	return 0;
}
