/* mdname.c - Maildir file-name parsing, UIDL derivation and delivery order.
 * Pure code, any rights. */
#include "mdname.h"
#include "parse.h"
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void parse_field(const char *f, size_t len, struct mdname *m)
{
	uint64_t v;
	if (len < 3 || f[1] != '=')
		return;
	if (parse_decimal(f + 2, len - 2, UINT64_MAX, &v) < 0)
		return;
	if (f[0] == 'S') {
		m->has_s = 1;
		m->s_size = v;
	} else if (f[0] == 'W') {
		m->has_w = 1;
		m->w_size = v;
	}
}

int mdname_parse(const char *name, struct mdname *m)
{
	const char *colon, *p;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (name[0] == '\0' || name[0] == '.')
		return -1;
	colon = strchr(name, ':');
	m->base_len = colon ? (size_t)(colon - name) : strlen(name);
	m->unique_len = strcspn(name, ",:");
	if (colon && colon[1] == '2' && colon[2] == ',')
		m->flags = colon + 3;
	/* ,KEY=VALUE fields between the unique part and ':' */
	p = name + m->unique_len;
	while (p < name + m->base_len && *p == ',') {
		const char *next = p + 1;
		while (next < name + m->base_len && *next != ',')
			next++;
		parse_field(p + 1, (size_t)(next - p - 1), m);
		p = next;
	}
	for (i = 0; i < m->unique_len && name[i] >= '0' && name[i] <= '9' && i < 19; i++)
		m->time = m->time * 10 + (uint64_t)(name[i] - '0');
	return 0;
}

void mdname_digest(const char *s, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 20 && i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * i] = '\0';
}

void mdname_uidl(const char *name, const struct mdname *m, char *out)
{
	size_t k;
	int ok = m->unique_len >= 1 && m->unique_len <= UIDL_MAX;

	for (k = 0; ok && k < m->unique_len; k++)
		if ((unsigned char)name[k] < 0x21 || (unsigned char)name[k] > 0x7e)
			ok = 0;
	if (ok) {
		memcpy(out, name, m->unique_len);
		out[m->unique_len] = '\0';
		return;
	}
	/* Stable digest of the unique part. */
	mdname_digest(name, m->unique_len, out);
}

int mdname_dup_name(const char *name, const struct mdname *m, unsigned k,
		    char *out, size_t cap)
{
	/* No '.' in "dupK": "U.dupK" can only come from U, so two renamed
	 * files of different groups never meet. */
	int n;
	/* An empty unique part would make ".dupK...": a hidden file. */
	if (m->unique_len == 0 || m->unique_len > INT_MAX)
		return -1;
	n = snprintf(out, cap, "%.*s.dup%u%s", (int)m->unique_len, name, k,
			 name + m->unique_len);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Compare runs of digits by value, other bytes by byte value. */
static int vercmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0;
	while (i < alen && j < blen) {
		if (a[i] >= '0' && a[i] <= '9' && b[j] >= '0' && b[j] <= '9') {
			size_t si = i, sj = j, li, lj;
			while (si < alen && a[si] == '0')
				si++;
			while (sj < blen && b[sj] == '0')
				sj++;
			li = si;
			lj = sj;
			while (li < alen && a[li] >= '0' && a[li] <= '9')
				li++;
			while (lj < blen && b[lj] >= '0' && b[lj] <= '9')
				lj++;
			if (li - si != lj - sj)
				return li - si < lj - sj ? -1 : 1;
			int c = memcmp(a + si, b + sj, li - si);
			if (c)
				return c < 0 ? -1 : 1;
			i = li;
			j = lj;
			continue;
		}
		if (a[i] != b[j])
			return (unsigned char)a[i] < (unsigned char)b[j] ? -1 : 1;
		i++;
		j++;
	}
	if (i < alen)
		return 1;
	if (j < blen)
		return -1;
	return 0;
}

int mdname_order(const char *a, const struct mdname *ma,
		 const char *b, const struct mdname *mb)
{
	if (ma->time != mb->time)
		return ma->time < mb->time ? -1 : 1;
	int c = vercmp(a, ma->unique_len, b, mb->unique_len);
	if (c)
		return c;
	return strcmp(a, b);
}

int mdname_has_flag(const struct mdname *m, char c)
{
	return m->flags && strchr(m->flags, c) != NULL;
}
