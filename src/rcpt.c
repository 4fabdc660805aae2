/* rcpt.c - recipients from a message header (RFC 5322 address lists:
 * display names, comments, quoted strings, groups, folding).  Pure code
 * over untrusted input; every write is bounded. */
#include "rcpt.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HEADER_SCAN_MAX (256 * 1024)

static int plausible(const char *a, size_t n)
{
	size_t i, at = 0, ats = 0;
	if (n == 0 || n > RCPT_ADDR_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' ||
		    c == ',' || c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' ||
		    c == ']')
			return 0;
		if (c == '@') {
			ats++;
			at = i;
		}
	}
	if (ats > 1 || (ats == 1 && (at == 0 || at == n - 1)))
		return 0;
	return a[0] != '.' && a[n - 1] != '.';
}

static void add(struct rcpt_list *out, const char *a, size_t n)
{
	char buf[RCPT_ADDR_MAX + 1];
	char *at;
	int i;
	if (out->n >= RCPT_MAX || !plausible(a, n))
		return;
	memcpy(buf, a, n);
	buf[n] = '\0';
	if ((at = strchr(buf, '@')) != NULL)
		for (char *p = at + 1; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	for (i = 0; i < out->n; i++)
		if (strcmp(out->addr[i], buf) == 0)
			return;
	memcpy(out->addr[out->n++], buf, n + 1);
}

/* One unfolded field value: an address list. */
static void parse_list(const char *v, size_t len, struct rcpt_list *out)
{
	char cur[RCPT_ADDR_MAX + 2];   /* bare addr-spec being collected */
	char ang[RCPT_ADDR_MAX + 2];   /* the <...> of the current mailbox */
	size_t cn = 0, an = 0, i = 0;
	int have_ang = 0, overflow = 0, blank = 0;

	while (i <= len) {
		char c = i < len ? v[i] : ',';
		if (c == '(') {                      /* comment, may nest */
			int depth = 0;
			for (; i < len; i++) {
				if (v[i] == '\\' && i + 1 < len) {
					i++;
					continue;
				}
				if (v[i] == '(')
					depth++;
				else if (v[i] == ')' && --depth == 0)
					break;
			}
			i++;
			continue;
		}
		if (c == '"') {                      /* quoted: a display name */
			for (i++; i < len && v[i] != '"'; i++)
				if (v[i] == '\\' && i + 1 < len)
					i++;
			i++;
			cn = 0;                          /* what came before was a name too */
			overflow = 1;                    /* and so is the rest until < */
			blank = 0;
			continue;
		}
		if (c == '<') {
			an = 0;
			for (i++; i < len && v[i] != '>'; i++) {
				if (an <= RCPT_ADDR_MAX)
					ang[an++] = v[i];
			}
			have_ang = an <= RCPT_ADDR_MAX;
			i++;
			continue;
		}
		if (c == ':') {                      /* "group name:" */
			cn = 0;
			overflow = blank = 0;
			i++;
			continue;
		}
		if (c == ',' || c == ';') {
			if (have_ang) {
				const char *a = ang;
				size_t n = an;
				/* an obsolete source route "@a,@b:user@dom" */
				const char *colon = memchr(a, ':', n);
				if (n && a[0] == '@' && colon) {
					n -= (size_t)(colon + 1 - a);
					a = colon + 1;
				}
				add(out, a, n);
			} else if (!overflow && cn) {
				add(out, cur, cn);
			}
			cn = an = 0;
			have_ang = overflow = blank = 0;
			i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			blank = cn > 0;
			i++;
			continue;
		}
		/* A second word: what came before is a display name, and a
		 * bare address has no blank inside. */
		if (blank)
			overflow = 1;
		blank = 0;
		if (cn <= RCPT_ADDR_MAX)
			cur[cn++] = c;
		else
			overflow = 1;
		i++;
	}
}

static int field_is(const char *line, size_t namelen, const char *name)
{
	return strlen(name) == namelen && strncasecmp(line, name, namelen) == 0;
}

void rcpt_parse(const char *msg, size_t len, struct rcpt_list *out)
{
	static const char *const envelope[] = { "Delivered-To", "X-Original-To", "Envelope-To" };
	static const char *const header[] = { "To", "Cc" };
	struct rcpt_list env, hdr;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	memset(&env, 0, sizeof(env));
	memset(&hdr, 0, sizeof(hdr));
	if (len > HEADER_SCAN_MAX)
		len = HEADER_SCAN_MAX;
	/* An mbox envelope line first is not a header field. */
	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		const char *lf = memchr(msg, '\n', len);
		pos = lf ? (size_t)(lf - msg) + 1 : len;
	}
	while (pos < len) {
		const char *line = msg + pos, *colon, *end;
		size_t namelen, i;
		/* the field: this line and its continuation lines */
		end = line;
		for (;;) {
			const char *lf = memchr(end, '\n', (size_t)(msg + len - end));
			end = lf ? lf + 1 : msg + len;
			if (end >= msg + len || (*end != ' ' && *end != '\t'))
				break;
		}
		pos = (size_t)(end - msg);
		if (line[0] == '\n' || (line[0] == '\r' && end - line <= 2))
			break;                           /* the empty line: body follows */
		colon = memchr(line, ':', (size_t)(end - line));
		if (!colon)
			continue;
		namelen = (size_t)(colon - line);
		while (namelen && (line[namelen - 1] == ' ' || line[namelen - 1] == '\t'))
			namelen--;
		for (i = 0; i < sizeof(envelope) / sizeof(envelope[0]); i++)
			if (field_is(line, namelen, envelope[i]))
				parse_list(colon + 1, (size_t)(end - colon - 1), &env);
		for (i = 0; i < sizeof(header) / sizeof(header[0]); i++)
			if (field_is(line, namelen, header[i]))
				parse_list(colon + 1, (size_t)(end - colon - 1), &hdr);
	}
	if (env.n) {
		*out = env;
		out->envelope = 1;
	} else {
		*out = hdr;
	}
}

void rcpt_split(const char *addr, const char *delim, char *local, size_t lcap,
		char *domain, size_t dcap)
{
	const char *at = strrchr(addr, '@');
	size_t ln = at ? (size_t)(at - addr) : strlen(addr);
	if (delim && *delim) {
		size_t cut = strcspn(addr, delim);
		if (cut > 0 && cut < ln)
			ln = cut;
	}
	if (ln >= lcap)
		ln = lcap - 1;
	memcpy(local, addr, ln);
	local[ln] = '\0';
	snprintf(domain, dcap, "%s", at ? at + 1 : "");
}
