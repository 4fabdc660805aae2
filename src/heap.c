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
	for (size = 64 * 1024; size >= 16 && nplugs < MAX_PLUGS; size /= 2) {
		while (nplugs < MAX_PLUGS && plugged + size <= budget) {
			/* keepcost is the size of the top chunk and arena the
			 * heap's: if the one shrank or the other grew, the
			 * block came from the top, so no hole of this size is
			 * left. */
			struct mallinfo2 before = mallinfo2(), after;
			void *p = malloc(size);
			if (!p)
				return;
			after = mallinfo2();
			if (after.keepcost < before.keepcost || after.arena != before.arena) {
				free(p);
				break;
			}
			plugs[nplugs++] = p;
			plugged += size;
		}
	}
}

void heap_unplug(void)
{
	while (nplugs > 0)
		free(plugs[--nplugs]);
}
