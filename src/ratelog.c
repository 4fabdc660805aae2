/* ratelog.c - per-source log rate limiting shared across the processes the
 * master forks (a MAP_SHARED anonymous table).  Used by the root monitor.
 * Races between monitors only blur the counts, never memory safety: slots are
 * fixed-size and every field is bounded. */
#include "ratelog.h"
#include "util.h"
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define SLOTS 512

struct slot {
	uint64_t key;
	long minute;
	unsigned suppressed;
};

static struct slot *table;

void ratelog_init(void)
{
	void *p = mmap(NULL, sizeof(struct slot) * SLOTS, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	table = p == MAP_FAILED ? NULL : p;
}

int ratelog_allow(const char *source, unsigned *suppressed)
{
	uint64_t h = 1469598103934665603ULL;
	const char *s;
	long minute = (long)(time(NULL) / 60);
	struct slot *sl;

	*suppressed = 0;
	if (!table)
		return 1;
	for (s = source; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h |= 1;
	sl = &table[h % SLOTS];
	if (sl->key == h && sl->minute == minute) {
		sl->suppressed++;
		return 0;
	}
	*suppressed = sl->key == h ? sl->suppressed : 0;
	sl->key = h;
	sl->minute = minute;
	sl->suppressed = 0;
	return 1;
}

void ratelog_detach(void)
{
	if (table)
		munmap(table, sizeof(struct slot) * SLOTS);
	table = NULL;
}
