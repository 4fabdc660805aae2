/* uidindex.c - a hash table from unique id to message number for the
 * UID-PARAM argument form (uidindex.h).  Pure code; the mail process (the
 * mailbox owner) builds it lazily over its snapshot. */
#include "uidindex.h"
#include "util.h"
#include <stdlib.h>
#include <string.h>

/* FNV-1a: the ids are short and the table only needs a spread. */
uint64_t uid_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	while (n--) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

int uidindex_build(struct uidindex *x, size_t n, uid_get_fn *get, const void *ctx)
{
	size_t size = 16, i;
	memset(x, 0, sizeof(*x));
	if (n >= UINT32_MAX)
		return -1;
	while (size < 2 * n)
		size *= 2;
	x->tab = xcalloc(size, sizeof(*x->tab));
	x->size = size;
	x->n = n;
	x->get = get;
	x->ctx = ctx;
	for (i = 0; i < n; i++) {
		/* A copy: get may hand out one buffer for every message. */
		char u[UIDINDEX_ID_MAX + 1];
		const char *g = get(ctx, i);
		size_t len = strlen(g), slot;
		if (len > UIDINDEX_ID_MAX)
			continue;  /* no "UID:" argument can name it */
		memcpy(u, g, len + 1);
		slot = (size_t)uid_hash(u, len) & (size - 1);
		while (x->tab[slot]) {
			const char *v = get(ctx, x->tab[slot] - 1);
			if (strlen(v) == len && memcmp(v, u, len) == 0)
				break;  /* a second message with the same id: the first stays */
			slot = (slot + 1) & (size - 1);
		}
		if (!x->tab[slot])
			x->tab[slot] = (uint32_t)(i + 1);
	}
	return 0;
}

long uidindex_find(const struct uidindex *x, const char *id, size_t idlen)
{
	size_t slot;
	if (!x->size)
		return -1;
	slot = (size_t)uid_hash(id, idlen) & (x->size - 1);
	while (x->tab[slot]) {
		size_t i = x->tab[slot] - 1;
		const char *v = x->get(x->ctx, i);
		if (strlen(v) == idlen && memcmp(v, id, idlen) == 0)
			return (long)i;
		slot = (slot + 1) & (x->size - 1);
	}
	return -1;
}

void uidindex_free(struct uidindex *x)
{
	free(x->tab);
	memset(x, 0, sizeof(*x));
}
