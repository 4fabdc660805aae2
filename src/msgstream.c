/* msgstream.c - RETR and TOP on the store side: a byte range of an open file
 * encoded for POP3 and written to the client.  Runs in the mail process, as
 * the mailbox owner, called by a mail store's stream operation.
 *
 * Large ranges are encoded straight from the page cache through a small
 * mapped window (one copy less than read(); memory stays flat whatever the
 * size), the rest, and whatever mapping is refused for, through one read
 * buffer.  The output goes out in large writes (conn_write_big).  Messages
 * do not change in place (Maildir forbids it): once the length seen at
 * open is read, the read that would only report the end is skipped. */
#include "msgstream.h"
#include "msgencode.h"
#include "netio.h"
#include "util.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define MAP_MIN (1024 * 1024)
#define MAP_WINDOW (1024 * 1024)

static void on_sigbus(int sig)
{
	/* The file shrank under a mapping: end the session, nothing deleted. */
	static const char msg[] = "postern: message file truncated during RETR\n";
	ssize_t w = write(2, msg, sizeof(msg) - 1);
	(void)w;
	(void)sig;
	_exit(1);
}

/* Encode what can be mapped of [start, start + len); returns how many bytes
 * of the range are done (len when finished, or when the client is gone). */
static uint64_t stream_mapped(struct msgstream *ms, int fd, uint64_t start, uint64_t len,
			      struct msgenc *e, struct conn *c)
{
	static long page;
	uint64_t off = 0;
	if (len < MAP_MIN)
		return 0;
	if (!page && (page = sysconf(_SC_PAGESIZE)) <= 0)
		page = 4096;
	signal(SIGBUS, on_sigbus);
	while (!e->done && off < len) {
		/* mmap wants a page-aligned offset: map from the page the
		 * window starts in, and skip the bytes before it. */
		uint64_t at = start + off;
		size_t skip = (size_t)(at % (uint64_t)page);
		size_t want = len - off < MAP_WINDOW ? (size_t)(len - off) : MAP_WINDOW;
		const char *map = mmap(NULL, skip + want, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
				       fd, (off_t)(at - skip));
		const char *p, *end;
		if (map == MAP_FAILED)
			break;
		for (p = map + skip, end = p + want; p < end && !e->done;) {
			size_t chunk = (size_t)(end - p) < READ_CHUNK ? (size_t)(end - p) : READ_CHUNK;
			size_t n = msgenc_chunk(e, p, chunk, ms->ebuf);
			if (conn_write_big(c, ms->ebuf, n) < 0)
				break;
			p += chunk;
		}
		munmap((void *)map, skip + want);
		if (c->write_failed)
			break;
		off += want;
	}
	if (e->done || c->write_failed)
		return len;
	return off;
}

int msgstream_send(struct msgstream *ms, int fd, uint64_t start, uint64_t len,
		   int64_t top_lines, struct conn *c)
{
	struct msgenc e;
	char fin[8];
	uint64_t got;
	ssize_t r;

	if (!ms->rbuf) {
		ms->rbuf = xmalloc(READ_CHUNK);
		ms->ebuf = xmalloc(2 * READ_CHUNK);
	}
	msgenc_init(&e, top_lines);
	got = stream_mapped(ms, fd, start, len, &e, c);
	while (!e.done && got < len) {
		size_t want = len - got < READ_CHUNK ? (size_t)(len - got) : READ_CHUNK;
		r = pread(fd, ms->rbuf, want, (off_t)(start + got));
		if (r == 0)
			break; /* shorter than at open */
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t n = msgenc_chunk(&e, ms->rbuf, (size_t)r, ms->ebuf);
		got += (uint64_t)r;
		if (conn_write_big(c, ms->ebuf, n) < 0)
			break;
	}
	conn_put(c, fin, msgenc_finish(&e, fin));
	return 0;
}

void msgstream_free(struct msgstream *ms)
{
	free(ms->rbuf);
	free(ms->ebuf);
	ms->rbuf = ms->ebuf = NULL;
}
