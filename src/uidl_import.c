/* uidl_import.c - parsers for the UIDL state of a previous POP3 server
 * (Dovecot's dovecot-uidlist, Courier's courierpop3dsizelist), for
 * postern's own postern-uidls, and the expander for Dovecot's
 * pop3_uidl_format.  Pure code over a const buffer: no allocation, no I/O.
 * Linked into the mail process (uidl_map.c), "postern -U" and the config
 * check.  A line that cannot be used is reported and skipped: a wrong UIDL
 * is worse than a new one (the client fetches the message once more). */
#include "uidl_import.h"
#include "parse.h"
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define DC_EXT_MAX 16     /* extension fields looked at per line */
#define VAL_MAX 512       /* one expanded variable */

int uidl_valid(const char *s, size_t len)
{
	size_t i;
	if (len < 1 || len > 70)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Strict decimal in s[0..len): no sign, no junk, at most max (parse.c). */
static int dec(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	uint64_t v;
	if (parse_decimal(s, len, max, &v) < 0)
		return -1;
	*out = v;
	return 0;
}

/* Calls fn for each line; a last line without '\n' is reported as
 * truncated (a file cut short could hold half a name).  Returns the
 * number of lines given to fn. */
struct lines {
	const char *p, *end;
	unsigned no;
};

static int next_line(struct lines *l, const char **line, size_t *len, uidl_bad_fn bad, void *ctx)
{
	const char *nl;
	while (l->p < l->end) {
		nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
		l->no++;
		if (!nl) {
			if (bad)
				bad(ctx, l->no, "last line has no newline (file cut short?)");
			l->p = l->end;
			return 0;
		}
		*line = l->p;
		*len = (size_t)(nl - l->p);
		l->p = nl + 1;
		return 1;
	}
	return 0;
}

/* ---- Dovecot ---- */

static int dc_header(const char *s, size_t len, struct dc_header *h)
{
	size_t i = 0, j;
	int have_v = 0;
	unsigned long long v;
	if (len < 2 || s[0] != '3' || s[1] != ' ')
		return -1;
	memset(h, 0, sizeof(*h));
	for (i = 2; i < len; i = j) {
		while (i < len && s[i] == ' ')
			i++;
		for (j = i; j < len && s[j] != ' '; j++)
			;
		if (j == i)
			break;
		if (s[i] == 'V' && dec(s + i + 1, j - i - 1, UINT32_MAX, &v) == 0 && v != 0) {
			h->uidvalidity = (uint32_t)v;
			have_v = 1;
		} else if (s[i] == 'N' && dec(s + i + 1, j - i - 1, UINT32_MAX, &v) == 0) {
			h->next_uid = (uint32_t)v;
		}
	}
	return have_v ? 0 : -1;
}

static const char *dc_record(const char *s, size_t len, uint32_t prev_uid, struct dc_record *r)
{
	size_t i = 0, j;
	unsigned long long uid;
	const char *name, *colon;
	size_t nlen;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i == len || s[i] != ' ')
		return "no UID at the start";
	if (dec(s, i, UINT32_MAX - 1, &uid) < 0 || uid == 0)
		return "UID out of range";
	if (uid <= prev_uid)
		return "UID not above the one before";
	r->uid = (uint32_t)uid;
	/* Extension fields, each "<A-Z><value>", up to the one that starts
	 * with ':' (the file name follows it, to the end of the line). */
	for (;;) {
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			return "no file name";
		if (s[i] == ':')
			break;
		for (j = i; j < len && s[j] != ' '; j++)
			;
		if (s[i] == 'P') {
			r->pop3_uidl = s + i + 1;
			r->pop3_uidl_len = j - i - 1;
		} else if (s[i] == 'G') {
			r->guid = s + i + 1;
			r->guid_len = j - i - 1;
		}
		i = j;
	}
	name = s + i + 1;
	nlen = len - i - 1;
	if (nlen == 0)
		return "empty file name";
	if (memchr(name, '/', nlen) || memchr(name, '\0', nlen))
		return "file name with '/' or NUL";
	r->base = name;
	colon = memchr(name, ':', nlen);
	r->base_len = colon ? (size_t)(colon - name) : nlen;
	if (r->base_len == 0)
		return "empty file name";
	return NULL;
}

long dovecot_uidlist_parse(const char *buf, size_t len, dc_record_fn rec,
			   uidl_bad_fn bad, void *ctx)
{
	struct lines l = { buf, buf + len, 0 };
	struct dc_header h;
	const char *line;
	size_t ll;
	uint32_t prev = 0;
	long n = 0;
	if (!next_line(&l, &line, &ll, NULL, NULL) || dc_header(line, ll, &h) < 0)
		return -1;
	while (next_line(&l, &line, &ll, bad, ctx)) {
		struct dc_record r;
		const char *why;
		memset(&r, 0, sizeof(r));
		r.line = l.no;
		why = dc_record(line, ll, prev, &r);
		if (why) {
			if (bad)
				bad(ctx, l.no, why);
			continue;
		}
		prev = r.uid;
		n++;
		if (rec)
			rec(ctx, &h, &r);
	}
	return n;
}

/* ---- the pop3_uidl_format expander ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int over;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->over || n > b->cap - 1 - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* One modifier applied to val[0..*len) in place (VAL_MAX room).  -1 when
 * the result would not fit. */
static int modify(char m, char *val, size_t *len)
{
	char tmp[VAL_MAX];
	size_t i, n = *len, o = 0;
	switch (m) {
	case 'L':
	case 'U':
		for (i = 0; i < n; i++) {
			if (m == 'L' && val[i] >= 'A' && val[i] <= 'Z')
				val[i] = (char)(val[i] + 32);
			else if (m == 'U' && val[i] >= 'a' && val[i] <= 'z')
				val[i] = (char)(val[i] - 32);
		}
		return 0;
	case 'X': {
		unsigned long long v;
		if (dec(val, n, ~0ULL, &v) < 0)
			v = 0; /* Dovecot: not a number is 0 */
		*len = (size_t)snprintf(val, VAL_MAX, "%llx", v);
		return 0;
	}
	case 'R':
		for (i = 0; i < n / 2; i++) {
			char c = val[i];
			val[i] = val[n - 1 - i];
			val[n - 1 - i] = c;
		}
		return 0;
	case 'T':
		while (n > 0 && (val[n - 1] == ' ' || val[n - 1] == '\t' || val[n - 1] == '\r' ||
				 val[n - 1] == '\n'))
			n--;
		*len = n;
		return 0;
	case 'E':
		for (i = 0; i < n; i++) {
			if (val[i] == '"' || val[i] == '\'' || val[i] == '\\') {
				if (o + 1 >= sizeof(tmp))
					return -1;
				tmp[o++] = '\\';
			}
			if (o + 1 >= sizeof(tmp))
				return -1;
			tmp[o++] = val[i];
		}
		memcpy(val, tmp, o);
		*len = o;
		return 0;
	case 'M': {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		if (EVP_Digest(val, n, md, &mdlen, EVP_md5(), NULL) != 1)
			return -1;
		for (i = 0; i < mdlen; i++)
			snprintf(val + 2 * i, 3, "%02x", md[i]);
		*len = 2 * mdlen;
		return 0;
	}
	}
	return -1;
}

/* The value of variable key[0..klen) (a long name if klen > 1). */
#define USED_UID 1
#define USED_NAME 2
static const char *var_value(const char *key, size_t klen, const struct uidl_vars *v,
			     char *num, size_t *vlen, unsigned *used, const char **why)
{
#define IS(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
	if (IS("u") || IS("uid"))
		*used |= USED_UID;
	if (IS("f") || IS("filename") || IS("g") || IS("guid"))
		*used |= USED_NAME;
	if (IS("u") || IS("uid") || IS("v") || IS("uidvalidity")) {
		*vlen = (size_t)snprintf(num, 16, "%u", v ? ((IS("u") || IS("uid")) ? v->uid :
							  v->uidvalidity) : 0);
		return num;
	}
	if (IS("f") || IS("filename") || IS("g") || IS("guid")) {
		if (!v) {
			*vlen = 0;
			return "";
		}
		if ((IS("g") || IS("guid")) && v->guid) {
			*vlen = v->guid_len;
			return v->guid;
		}
		*vlen = v->fname_len;
		return v->fname;
	}
	if (IS("%")) {
		*vlen = 1;
		return "%";
	}
	if (IS("m") || IS("md5"))
		*why = "%m (header MD5) is mbox only: Dovecot cannot compute it on a Maildir";
	else
		*why = "unknown variable (known: %u %v %f %g and %{uid} %{uidvalidity} %{filename} %{guid})";
	return NULL;
#undef IS
}

static int expand(const char *fmt, const struct uidl_vars *v, struct sbuf *out,
		  unsigned *used, const char **why)
{
	const char *s = fmt;
	*why = NULL;
	while (*s) {
		char mods[10], val[VAL_MAX], num[16];
		size_t nmods = 0, vlen, klen;
		const char *key, *vp;
		int sign = 1, zero = 0;
		long width = 0, offset = 0;
		if (*s != '%') {
			put(out, s++, 1);
			continue;
		}
		s++;
		if (*s == '-') {
			sign = -1;
			s++;
		}
		if (*s == '0') {
			zero = 1;
			s++;
		}
		for (; *s >= '0' && *s <= '9'; s++)
			if ((width = width * 10 + (*s - '0')) > 1000)
				return *why = "width too large", -1;
		if (*s == '.') {
			offset = sign * width;
			sign = 1;
			width = 0;
			zero = 0;
			s++;
			if (*s == '0') {
				zero = 1;
				s++;
			}
			if (*s == '-') {
				sign = -1;
				s++;
			}
			for (; *s >= '0' && *s <= '9'; s++)
				if ((width = width * 10 + (*s - '0')) > 1000)
					return *why = "width too large", -1;
			width *= sign;
		}
		while (*s && strchr("LUEXRHNMDT", *s)) {
			if (strchr("HND", *s))
				return *why = "modifiers H, N and D are not supported", -1;
			if (nmods == sizeof(mods))
				return *why = "more than 10 modifiers", -1;
			mods[nmods++] = *s++;
		}
		if (*s == '\0')
			return *why = "the format ends inside a %-sequence", -1;
		if (*s == '{') {
			const char *e = strchr(s, '}');
			if (!e)
				return *why = "%{ without }", -1;
			key = s + 1;
			klen = (size_t)(e - key);
			s = e + 1;
		} else {
			key = s++;
			klen = 1;
		}
		vp = var_value(key, klen, v, num, &vlen, used, why);
		if (!vp)
			return -1;
		if (vlen >= sizeof(val))
			return *why = "value too long", -1;
		memcpy(val, vp, vlen);
		for (size_t i = 0; i < nmods; i++)
			if (modify(mods[i], val, &vlen) < 0)
				return *why = "value too long", -1;
		vp = val;
		if (offset < 0) {
			if (vlen > (size_t)-offset) {
				vp += vlen - (size_t)-offset;
				vlen = (size_t)-offset;
			}
		} else {
			size_t skip = (size_t)offset < vlen ? (size_t)offset : vlen;
			vp += skip;
			vlen -= skip;
		}
		if (width == 0) {
			put(out, vp, vlen);
		} else if (!zero) {
			long w = width < 0 ? (long)vlen + width : width;
			put(out, vp, w >= 0 && (size_t)w < vlen ? (size_t)w : vlen);
		} else {
			for (long pad = width - (long)vlen; pad > 0; pad--)
				put(out, "0", 1);
			put(out, vp, vlen);
		}
	}
	return 0;
}

int uidl_format_check(const char *fmt, const char **why)
{
	char tmp[1024];
	struct sbuf b = { tmp, 0, sizeof(tmp), 0 };
	unsigned used = 0;
	tmp[0] = '\0';
	if (expand(fmt, NULL, &b, &used, why) < 0)
		return -1;
	if (!(used & (USED_UID | USED_NAME))) {
		*why = "the format has none of %u %f %g: UIDLs would not be unique";
		return -1;
	}
	return 0;
}

int uidl_format_expand(const char *fmt, const struct uidl_vars *v, char *out, size_t cap)
{
	struct sbuf b = { out, 0, cap, 0 };
	const char *why;
	unsigned used = 0;
	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (expand(fmt, v, &b, &used, &why) < 0 || b.over)
		return -1;
	return (int)b.len;
}

/* ---- Courier ---- */

long courier_sizelist_parse(const char *buf, size_t len, courier_record_fn rec,
			    uidl_bad_fn bad, void *ctx)
{
	struct lines l = { buf, buf + len, 0 };
	const char *line, *sp1, *sp2;
	size_t ll, i;
	unsigned long long v;
	long n = 0;
	if (!next_line(&l, &line, &ll, NULL, NULL) || ll < 3 || line[0] != '/' ||
	    (line[1] != '3' && line[1] != '2') || line[2] != ' ')
		return -1;
	/* "/V nextuid [uidv]" */
	for (i = 3; i < ll && line[i] >= '0' && line[i] <= '9'; i++)
		;
	if (i == 3 || dec(line + 3, i - 3, ~0ULL, &v) < 0)
		return -1;
	while (next_line(&l, &line, &ll, bad, ctx)) {
		struct courier_record r;
		const char *p, *colon, *e = line + ll;
		memset(&r, 0, sizeof(r));
		r.line = l.no;
		/* name SP size SP uid:uidv[:utf8]; the name may hold spaces. */
		sp2 = NULL;
		for (p = e; p > line; p--)
			if (p[-1] == ' ') {
				sp2 = p - 1;
				break;
			}
		sp1 = NULL;
		for (p = sp2; sp2 && p > line; p--)
			if (p[-1] == ' ') {
				sp1 = p - 1;
				break;
			}
		if (!sp1 || sp1 == line) {
			if (bad)
				bad(ctx, l.no, "not \"name size uid:uidv\"");
			continue;
		}
		if (dec(sp1 + 1, (size_t)(sp2 - sp1 - 1), ~0ULL, &v) < 0) {
			if (bad)
				bad(ctx, l.no, "bad size");
			continue;
		}
		colon = memchr(sp2 + 1, ':', (size_t)(e - sp2 - 1));
		if (!colon || dec(sp2 + 1, (size_t)(colon - sp2 - 1), ~0UL, &r.uid) < 0) {
			if (bad)
				bad(ctx, l.no, "bad uid");
			continue;
		}
		p = memchr(colon + 1, ':', (size_t)(e - colon - 1));
		if (dec(colon + 1, (size_t)((p ? p : e) - colon - 1), ~0UL, &r.uidv) < 0 ||
		    (p && dec(p + 1, (size_t)(e - p - 1), 1, &v) < 0)) {
			if (bad)
				bad(ctx, l.no, "bad uidvalidity or utf8 field");
			continue;
		}
		r.base = line;
		p = memchr(line, ':', (size_t)(sp1 - line));
		r.base_len = (size_t)((p ? p : sp1) - line);
		if (r.base_len == 0 || memchr(line, '/', (size_t)(sp1 - line)) ||
		    memchr(line, '\0', (size_t)(sp1 - line))) {
			if (bad)
				bad(ctx, l.no, "bad file name");
			continue;
		}
		n++;
		if (rec)
			rec(ctx, &r);
	}
	return n;
}

int courier_uidl(const struct courier_record *r, char *out, size_t cap)
{
	size_t i, o = 0;
	int n;
	if (r->uid != 0) {
		n = r->uidv ? snprintf(out, cap, "UID%llu-%llu", r->uid, r->uidv)
			    : snprintf(out, cap, "UID%llu", r->uid);
		return n < 0 || (size_t)n >= cap ? -1 : n;
	}
	for (i = 0; i < r->base_len; i++) {
		unsigned char c = (unsigned char)r->base[i];
		if (c < 0x21 || c > 0x7e || c == '\'' || c == '"' || c == '+') {
			if (o + 4 > cap)
				return -1;
			snprintf(out + o, 4, "+%02X", c);
			o += 3;
		} else {
			if (o + 2 > cap)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (int)o;
}

/* ---- postern-uidls ---- */

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int uidls_escape(const char *name, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == '%') {
			if (o + 4 > cap)
				return -1;
			snprintf(out + o, 4, "%%%02X", c);
			o += 3;
		} else {
			if (o + 2 > cap)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (int)o;
}

long uidls_file_parse(const char *buf, size_t len, char *source, size_t srccap,
		      uidls_record_fn rec, uidl_bad_fn bad, void *ctx)
{
	struct lines l = { buf, buf + len, 0 };
	const char *line, *sp;
	size_t ll, ml = sizeof(UIDLS_MAGIC) - 1, i, o;
	char name[1024];
	long n = 0;
	if (!next_line(&l, &line, &ll, NULL, NULL) || ll <= ml || memcmp(line, UIDLS_MAGIC, ml) != 0 ||
	    !uidl_valid(line + ml, ll - ml) || ll - ml >= srccap)
		return -1;
	memcpy(source, line + ml, ll - ml);
	source[ll - ml] = '\0';
	while (next_line(&l, &line, &ll, bad, ctx)) {
		sp = memchr(line, ' ', ll);
		if (!sp || sp == line || !uidl_valid(sp + 1, (size_t)(line + ll - sp - 1))) {
			if (bad)
				bad(ctx, l.no, "not \"name uidl\"");
			continue;
		}
		for (i = 0, o = 0; i < (size_t)(sp - line) && o < sizeof(name); i++) {
			if (line[i] == '%' && i + 2 < (size_t)(sp - line) &&
			    hexv(line[i + 1]) >= 0 && hexv(line[i + 2]) >= 0) {
				name[o++] = (char)(hexv(line[i + 1]) * 16 + hexv(line[i + 2]));
				i += 2;
			} else {
				name[o++] = line[i];
			}
		}
		if (i < (size_t)(sp - line) || memchr(name, '/', o) || memchr(name, ':', o) ||
		    memchr(name, '\0', o)) {
			if (bad)
				bad(ctx, l.no, "bad name");
			continue;
		}
		n++;
		if (rec)
			rec(ctx, name, o, sp + 1, (size_t)(line + ll - sp - 1));
	}
	return n;
}
