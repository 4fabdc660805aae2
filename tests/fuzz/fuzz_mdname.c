/* fuzz_mdname.c - libFuzzer target for src/mdname.c.
 *
 * Input: up to three Maildir file names separated by NUL bytes.  Checks,
 * abort() on failure: the parsed lengths and flags agree with the name; the
 * UIDL is 1-70 characters in 0x21-0x7e, is the unique part itself when that
 * qualifies and 40 hex digits otherwise, and does not change when the name's
 * ,S=/,W= fields or flags change (as when a message moves new/ -> cur/);
 * mdname_order is a total order (reflexive, antisymmetric, transitive);
 * mdname_dup_name gives another unique part and keeps the rest of the name. */
#include "mdname.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mdname: %s\n", what);
		abort();
	}
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void check_one(const char *name, const struct mdname *m)
{
	char uidl[UIDL_MAX + 1], uidl2[UIDL_MAX + 1], *moved;
	struct mdname m2;
	size_t i, ul, nlen = strlen(name);
	int plain = m->unique_len >= 1 && m->unique_len <= UIDL_MAX;
	uint64_t t = 0;

	check(m->unique_len == strcspn(name, ",:"), "unique_len");
	check(m->base_len == strcspn(name, ":"), "base_len");
	check(m->unique_len <= m->base_len && m->base_len <= nlen, "lengths");
	if (m->flags) {
		check(m->flags == name + m->base_len + 3 &&
		      strncmp(name + m->base_len, ":2,", 3) == 0, "flags pointer");
		for (i = 0; m->flags[i]; i++)
			check(mdname_has_flag(m, m->flags[i]), "has_flag");
	} else {
		check(!mdname_has_flag(m, 'S'), "has_flag without flags");
	}
	for (i = 0; i < m->unique_len && i < 19 && name[i] >= '0' && name[i] <= '9'; i++)
		t = t * 10 + (uint64_t)(name[i] - '0');
	check(m->time == t, "time");

	for (i = 0; plain && i < m->unique_len; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			plain = 0;
	memset(uidl, 'X', sizeof(uidl));
	mdname_uidl(name, m, uidl);
	ul = strlen(uidl);
	check(ul >= 1 && ul <= UIDL_MAX, "UIDL length");
	for (i = 0; i < ul; i++)
		check(uidl[i] >= 0x21 && uidl[i] <= 0x7e, "UIDL character");
	if (plain) {
		check(ul == m->unique_len && memcmp(uidl, name, ul) == 0, "UIDL != unique part");
	} else {
		check(ul == 40, "digest UIDL is not 40 characters");
		check(strspn(uidl, "0123456789abcdef") == 40, "digest UIDL is not hex");
	}

	/* Same unique part, other fields and flags: same UIDL, order by name. */
	moved = malloc(m->unique_len + 32);
	check(moved != NULL, "malloc");
	memcpy(moved, name, m->unique_len);
	strcpy(moved + m->unique_len, ",S=1,W=2:2,RS");
	check(mdname_parse(moved, &m2) == 0, "moved name rejected");
	{
		mdname_uidl(moved, &m2, uidl2);
		check(strcmp(uidl, uidl2) == 0, "UIDL changed with fields/flags");
		check(m2.has_s && m2.s_size == 1 && m2.has_w && m2.w_size == 2, "S/W fields");
		check(mdname_has_flag(&m2, 'S') && mdname_has_flag(&m2, 'R') &&
		      !mdname_has_flag(&m2, 'T'), "flags of moved name");
		check(m2.time == m->time, "time changed with fields/flags");
	}
	free(moved);
	{
		char dup[300];
		if (mdname_dup_name(name, m, 7, dup, sizeof(dup)) == 0) {
			check(mdname_parse(dup, &m2) == 0, "dup name rejected");
			check(m2.unique_len == m->unique_len + 5 &&
			      memcmp(dup, name, m->unique_len) == 0 &&
			      memcmp(dup + m->unique_len, ".dup7", 5) == 0, "dup unique part");
			check(strcmp(dup + m2.unique_len, name + m->unique_len) == 0,
			      "dup name lost fields or flags");
		} else {
			check(m->unique_len == 0 || nlen + 5 >= sizeof(dup),
			      "dup name refused though it fits");
		}
	}
	check(mdname_order(name, m, name, m) == 0, "order not reflexive");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *names[3];
	struct mdname m[3];
	int n = 0, i, j, k;
	size_t pos = 0;

	buf = malloc(size + 1);
	check(buf != NULL, "malloc");
	memcpy(buf, data, size);
	buf[size] = '\0';
	while (n < 3 && pos <= size) {
		char *nm = buf + pos;
		int r = mdname_parse(nm, &m[n]);
		check((r < 0) == (nm[0] == '\0' || nm[0] == '.'), "mdname_parse result");
		pos += strlen(nm) + 1;
		if (r == 0) {
			check_one(nm, &m[n]);
			names[n++] = nm;
		}
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			int ab = sign(mdname_order(names[i], &m[i], names[j], &m[j]));
			int ba = sign(mdname_order(names[j], &m[j], names[i], &m[i]));
			check(ab == -ba, "order not antisymmetric");
			check((ab == 0) == (strcmp(names[i], names[j]) == 0),
			      "distinct names compare equal");
			for (k = 0; k < n; k++) {
				int bc = sign(mdname_order(names[j], &m[j], names[k], &m[k]));
				int ac = sign(mdname_order(names[i], &m[i], names[k], &m[k]));
				if (ab <= 0 && bc <= 0)
					check(ac <= 0, "order not transitive");
			}
		}
	free(buf);
	return 0;
}
