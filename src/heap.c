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

static void *plugs[MAX_PLUGS];
static size_t nplugs;

void heap_plug(void)
{
	size_t size;
	for (size = 64 * 1024; size >= 16 && nplugs < MAX_PLUGS; size /= 2) {
		while (nplugs < MAX_PLUGS) {
			/* keepcost is the size of the top chunk: if it shrank,
			 * the block came from the top, so no hole of this size
			 * is left. */
			size_t top = mallinfo2().keepcost;
			void *p = malloc(size);
			if (!p)
				return;
			if (mallinfo2().keepcost < top) {
				free(p);
				break;
			}
			plugs[nplugs++] = p;
		}
	}
}

void heap_unplug(void)
{
	while (nplugs > 0)
		free(plugs[--nplugs]);
}
