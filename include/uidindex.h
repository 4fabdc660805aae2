/* uidindex.h - find a message of the snapshot by its unique id (UID-PARAM):
 * a hash table over the snapshot's UIDLs, built on the first "UID:"
 * argument of a session, so a session that never uses one pays nothing and
 * one that does pays one pass, not one per command. */
#ifndef POSTERN_UIDINDEX_H
#define POSTERN_UIDINDEX_H
#include <stddef.h>
#include <stdint.h>

/* The UIDL of message i (0-based) of the snapshot, NUL-terminated; may
 * return the same static buffer each call. */
#define UIDINDEX_ID_MAX 70   /* longer ids are left out (POP3_UID_MAX) */

typedef const char *uid_get_fn(const void *ctx, size_t i);

struct uidindex {
	uint32_t *tab;       /* open addressing: 1 + message index, 0 empty */
	size_t size;         /* slots, a power of two; 0 = not built */
	size_t n;
	uid_get_fn *get;
	const void *ctx;
};

/* Build the table for messages 0..n-1.  Returns 0, or -1 for more
 * messages than it can number (the allocation itself is xcalloc's).  When two messages share a UIDL (the store does not hand
 * those out) the first one is found. */
int uidindex_build(struct uidindex *x, size_t n, uid_get_fn *get, const void *ctx);
/* The index of the message whose UIDL is id (idlen bytes), or -1. */
long uidindex_find(const struct uidindex *x, const char *id, size_t idlen);
void uidindex_free(struct uidindex *x);
/* The 64-bit hash of an id the table uses (FNV-1a based). */
uint64_t uid_hash(const char *s, size_t n);
#endif
