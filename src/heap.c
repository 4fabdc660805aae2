/* heap.c - plugging the holes in the master's heap.
 *
 * Every connection process starts as a copy-on-write image of the master.
 * Setup (configuration, OpenSSL) leaves free chunks scattered over the
 * master's heap; malloc() in a child reuses them first, and every page it
 * writes a chunk header into is copied for that child: a dozen pages per
 * session for a few hundred bytes of data.  Allocating those holes once in
 * the master (and never touching them) makes the children's allocations
 * come from the top of the heap, on pages of their own that they need
 * anyway.  Costs the master only memory that was free already. */
#include "heap.h"
#include <malloc.h>
#include <stdlib.h>

#define MAX_PLUGS 8192
#define TCACHE_SLACK (64 * 1024)

static void *plugs[MAX_PLUGS];
static size_t nplugs;

/* Request sizes to plug with, largest first: powers of two down to 2 KiB,
 * then every small chunk size glibc has (16-byte steps), so the per-thread
 * cache of each size class is drained too. */
static size_t next_size(size_t size)
{
	if (size > 2048)
		return size / 2;
	if (size == 2048)
		return 1016;
	return size > 24 ? size - 16 : 0;
}

/* Take blocks of this size while they come from holes and the budget
 * lasts; 1 if the table is full or malloc fails (stop altogether). */
static int plug_size(size_t size, size_t budget, size_t *plugged)
{
	while (*plugged + size <= budget) {
		if (nplugs == MAX_PLUGS)
			return 1;
		/* keepcost is the size of the top chunk and arena the heap's: if
		 * the one shrank or the other grew, the block came from the top,
		 * so no hole of this size is left. */
		struct mallinfo2 before = mallinfo2(), after;
		void *p = malloc(size);
		if (!p)
			return 1;
		after = mallinfo2();
		if (after.keepcost < before.keepcost || after.arena != before.arena) {
			free(p);
			return 0;
		}
		plugs[nplugs++] = p;
		*plugged += size;
	}
	return 0;
}

void heap_plug(void)
{
	struct mallinfo2 mi = mallinfo2();
	size_t size, plugged = 0;
	/* Never more than the free space below the top, plus what the
	 * per-thread cache holds (mallinfo counts that as in use).  An
	 * allocator that reports no arena, like a sanitizer's, gets no plugs. */
	size_t budget = mi.fordblks > mi.keepcost ? mi.fordblks - mi.keepcost : 0;
	if (mi.arena == 0)
		return;
	budget += TCACHE_SLACK;
	for (size = 64 * 1024; size > 0; size = next_size(size))
		if (plug_size(size, budget, &plugged))
			return;
}

void heap_unplug(void)
{
	while (nplugs > 0)
		free(plugs[--nplugs]);
}
