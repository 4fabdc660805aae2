/* test_heap.c - unit tests for src/heap.c: after heap_plug, new blocks no
 * longer land in the holes freed earlier; heap_unplug gives the plugs back;
 * an allocator that reports no arena (a sanitizer's) is left alone. */
#include "unit.h"
#include "heap.h"
#include <malloc.h>
#include <stdint.h>

#define NBLOCKS 64
#define BLOCK 200

static void *blk[NBLOCKS], *guard[NBLOCKS];
static uintptr_t lo, hi;

/* NBLOCKS holes of BLOCK bytes, each kept apart by a live guard block. */
static void make_holes(void)
{
	int i;
	lo = UINTPTR_MAX;
	hi = 0;
	for (i = 0; i < NBLOCKS; i++) {
		blk[i] = malloc(BLOCK);
		guard[i] = malloc(BLOCK);
		assert_non_null(blk[i]);
		assert_non_null(guard[i]);
		if ((uintptr_t)blk[i] < lo)
			lo = (uintptr_t)blk[i];
		if ((uintptr_t)blk[i] + BLOCK > hi)
			hi = (uintptr_t)blk[i] + BLOCK;
	}
	for (i = 0; i < NBLOCKS; i++)
		free(blk[i]);
}

static void drop_guards(void)
{
	int i;
	for (i = 0; i < NBLOCKS; i++)
		free(guard[i]);
}

static int in_holes(const void *p)
{
	return (uintptr_t)p >= lo && (uintptr_t)p < hi;
}

static void test_plug_keeps_new_blocks_out_of_holes(void **state)
{
	void *p, *q[8];
	int i;
	(void)state;
	if (mallinfo2().arena == 0) {
		/* Not glibc's allocator (the ASan build): heap_plug must leave
		 * it alone, and a block freed just before is still reusable
		 * by the allocator's own rules.  The plugging itself is tested
		 * in the normal build. */
		heap_plug();
		p = malloc(BLOCK);
		assert_non_null(p);
		free(p);
		heap_unplug();
		return;
	}
	make_holes();
	/* Without plugs a new block reuses a hole: the check below can fail. */
	p = malloc(BLOCK);
	assert_true(in_holes(p));
	free(p);
	heap_plug();
	for (i = 0; i < 8; i++) {
		q[i] = malloc(BLOCK);
		assert_non_null(q[i]);
		assert_false(in_holes(q[i]));
	}
	for (i = 0; i < 8; i++)
		free(q[i]);
	/* Unplugged, the holes are free again (and nothing leaks: the
	 * sanitizer build runs this too). */
	heap_unplug();
	p = malloc(BLOCK);
	free(p);
	drop_guards();
}

static void test_plug_twice_and_unplug_are_safe(void **state)
{
	(void)state;
	heap_unplug();          /* nothing plugged: no-op */
	heap_plug();
	heap_plug();            /* adds to the same table, bounded */
	heap_unplug();
	heap_unplug();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plug_keeps_new_blocks_out_of_holes),
		cmocka_unit_test(test_plug_twice_and_unplug_are_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
