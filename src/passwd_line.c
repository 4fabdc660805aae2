/* passwd_line.c - parse one line of the Dovecot-compatible passwd file.
 * Pure code, any rights (run by the root monitor and by postern-passwd). */
#include "passwd_line.h"
#include "parse.h"
#include <string.h>
#include <strings.h>

int pw_user_valid(const char *name, size_t len)
{
	size_t i, ats = 0;
	if (len == 0 || len > PW_USER_MAX)
		return 0;
	if (name[0] == '.' || name[0] == '-' || name[0] == '@' ||
	    name[len - 1] == '@' || name[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (c == '@') {
			if (++ats > 1 || name[i + 1] == '.' || name[i - 1] == '.')
				return 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '+'))
			return 0;
		if (c == '.' && i + 1 < len && name[i + 1] == '.')
			return 0;
	}
	return 1;
}

static const struct {
	const char *name;
	enum pw_scheme scheme;
} schemes[] = {
	{ "CRYPT", PW_CRYPT },        { "SHA512-CRYPT", PW_CRYPT },
	{ "SHA256-CRYPT", PW_CRYPT }, { "BLF-CRYPT", PW_CRYPT },
	{ "MD5-CRYPT", PW_CRYPT },    { "YESCRYPT", PW_CRYPT },
	{ "PLAIN", PW_PLAIN },        { "CLEARTEXT", PW_PLAIN },
	{ "SCRAM-SHA-256", PW_SCRAM256 },
};

static void set_password(char *pw, struct pwline *out)
{
	out->password = pw;
	out->scheme = PW_CRYPT;
	if (pw[0] == '{') {
		char *close = strchr(pw, '}');
		size_t i;
		out->scheme = PW_LOCKED;
		if (!close)
			return;
		*close = '\0';
		for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
			if (strcasecmp(pw + 1, schemes[i].name) == 0)
				out->scheme = schemes[i].scheme;
		out->password = close + 1;
	}
	/* A crypt hash starts with '$' (modern) or is 13 DES characters;
	 * "", "*", "!..." lock the account. */
	if (out->scheme == PW_CRYPT &&
	    (out->password[0] == '\0' || out->password[0] == '*' ||
	     out->password[0] == '!'))
		out->scheme = PW_LOCKED;
	if (out->password[0] == '\0')
		out->scheme = PW_LOCKED;
}

static int parse_id(const char *s, unsigned long *out)
{
	uint64_t v;
	if (parse_decimal(s, strlen(s), 0x7fffffffUL, &v) < 0)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

int pw_extra_get(const char *extra, const char *key, char *val, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = extra;
	int found = 0;
	if (!p)
		return 0;
	while (*p) {
		const char *w = p, *end;
		while (*w == ' ' || *w == '\t')
			w++;
		end = w + strcspn(w, " \t");
		if (end == w)
			break;
		if (strncmp(w, "userdb_", 7) == 0)
			w += 7;
		if ((size_t)(end - w) > klen && strncmp(w, key, klen) == 0 && w[klen] == '=') {
			/* The last one counts, as in Dovecot. */
			size_t vlen = (size_t)(end - w) - klen - 1;
			if (vlen >= cap)
				return -1;
			memcpy(val, w + klen + 1, vlen);
			val[vlen] = '\0';
			found = 1;
		}
		p = end;
	}
	return found;
}

int pw_parse_line(char *line, struct pwline *out)
{
	char *f[8] = { 0 };
	char *p = line;
	int n = 0;
	unsigned long uid, gid;

	memset(out, 0, sizeof(*out));
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	/* user:password:uid:gid:gecos:home:shell:extra - extra may hold ':' */
	f[n++] = p;
	while (n < 8 && (p = strchr(p, ':')) != NULL) {
		*p++ = '\0';
		f[n++] = p;
	}
	if (n < 6)
		return -1;
	if (!pw_user_valid(f[0], strlen(f[0])))
		return -1;
	if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
		return -1;
	if (f[5][0] != '/')
		return -1;
	out->user = f[0];
	set_password(f[1], out);
	out->uid = (uid_t)uid;
	out->gid = (gid_t)gid;
	out->home = f[5];
	out->extra = n > 7 ? f[7] : NULL;
	return 1;
}
