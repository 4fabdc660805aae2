/* heap.h - keep the master's heap friendly to copy-on-write children. */
#ifndef POSTERN_HEAP_H
#define POSTERN_HEAP_H
/* Fill the free holes setup left in the heap, so the connection processes
 * forked afterwards allocate from fresh pages at the top instead of
 * writing into (and so copying) pages shared with the master. */
void heap_plug(void);
/* Free the plugs again (before work that frees and allocates a lot, like
 * a reload; call heap_plug after it). */
void heap_unplug(void);
#endif
