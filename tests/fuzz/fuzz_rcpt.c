/* fuzz_rcpt.c - libFuzzer target for src/rcpt.c (recipients from the
 * header of a dropped message, untrusted bytes read by the root pickup).
 * Checks, abort() on failure: at most RCPT_MAX addresses, each terminated
 * within its slot, 1-RCPT_ADDR_MAX printable characters without blanks or
 * specials, at most one '@' and not at either end, the domain in lower
 * case, no duplicates; rcpt_split stays within small buffers and returns a
 * prefix of the address.  ASan catches any out-of-bounds access. */
#include "rcpt.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_rcpt: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rcpt_list l;
	char *msg = malloc(size ? size : 1);
	int i, j;
	check(msg != NULL, "malloc");
	memcpy(msg, data, size);
	rcpt_parse(msg, size, &l);
	check(l.n >= 0 && l.n <= RCPT_MAX, "count");
	for (i = 0; i < l.n; i++) {
		const char *a = l.addr[i], *at;
		size_t n = strnlen(a, RCPT_ADDR_MAX + 1);
		char loc[16], dom[16];
		check(n >= 1 && n <= RCPT_ADDR_MAX, "length");
		for (size_t k = 0; k < n; k++)
			check(a[k] > 0x20 && a[k] < 0x7f && !strchr("<>(),;:\\\"[]", a[k]), "character");
		at = strchr(a, '@');
		check(!at || (at != a && at[1] && !strchr(at + 1, '@')), "at sign");
		for (const char *p = at ? at + 1 : a + n; *p; p++)
			check(!isupper((unsigned char)*p), "domain case");
		for (j = 0; j < i; j++)
			check(strcmp(l.addr[j], a) != 0, "duplicate");
		rcpt_split(a, "+-", loc, sizeof(loc), dom, sizeof(dom));
		check(strlen(loc) < sizeof(loc) && strlen(dom) < sizeof(dom), "split bounds");
		check(strncmp(a, loc, strlen(loc)) == 0, "split prefix");
	}
	free(msg);
	return 0;
}
