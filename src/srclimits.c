/* srclimits.c - per-source limits in root processes: the master counts each
 * source's connections per minute and logs refusals at most once a minute,
 * the monitors rate-limit the log lines a client can trigger (failed TLS
 * handshakes), all in one table the master maps shared before it forks;
 * and the channel on which a monitor tells the master that its session
 * logged in (for max_preauth_sessions).  The clock is an argument.
 * Races between processes only blur the counts, never memory safety:
 * slots are fixed-size and every field is bounded. */
#include "srclimits.h"
#include "log.h"
#include "util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#define SLOTS 4096
#define PROBES 8

struct slot {
	unsigned char key[LIMITS_KEY];
	long window;            /* minute the connection count belongs to */
	unsigned count;
	long refusal_logged;    /* last minute a refusal was logged */
	long event_logged;      /* last minute a client-triggered event was logged */
	unsigned suppressed;    /* events not logged since */
};

static struct slot *table;
static int table_mapped;             /* 0: the calloc'd fallback */
static int report[2] = { -1, -1 };   /* [0] master reads, [1] monitors send */

void limits_init(void)
{
	void *p;
	int one = 1;
	struct timeval tv = { 1, 0 };
	if (table)
		return;
	p = mmap(NULL, sizeof(struct slot) * SLOTS, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	/* Without shared memory the master still keeps its own counts. */
	table_mapped = p != MAP_FAILED;
	table = table_mapped ? p : xcalloc(SLOTS, sizeof(struct slot));
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, report) < 0 ||
	    setsockopt(report[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    setsockopt(report[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		plog(LOG_ERR, "login reports: %s (max_preauth_sessions cannot tell logged-in "
		     "sessions)", strerror(errno));
		if (report[0] >= 0)
			close(report[0]);
		if (report[1] >= 0)
			close(report[1]);
		report[0] = report[1] = -1;
	}
}

void limits_detach(void)
{
	if (table && table_mapped && munmap(table, sizeof(struct slot) * SLOTS) < 0)
		pfatal("cannot unmap the limits table: %s", strerror(errno));
	else if (table && !table_mapped)
		free(table);
	table = NULL;
	if (report[0] >= 0)
		close(report[0]);
	if (report[1] >= 0)
		close(report[1]);
	report[0] = report[1] = -1;
}

void limits_forked(void)
{
	if (report[0] >= 0)
		close(report[0]);
	report[0] = -1;
}

void limits_source(const struct sockaddr_storage *ss, unsigned char key[LIMITS_KEY],
		   char *txt, size_t cap)
{
	memset(key, 0, LIMITS_KEY);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		memcpy(key, &a->sin_addr, 4);
		inet_ntop(AF_INET, &a->sin_addr, txt, (socklen_t)cap);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			memcpy(key, a->sin6_addr.s6_addr + 12, 4);
			inet_ntop(AF_INET, a->sin6_addr.s6_addr + 12, txt, (socklen_t)cap);
		} else {
			key[15] = 6;
			memcpy(key, a->sin6_addr.s6_addr, 8);  /* the /64 */
			inet_ntop(AF_INET6, &a->sin6_addr, txt, (socklen_t)cap);
		}
	} else {
		key[15] = 0xff;
		snprintf(txt, cap, "local");
	}
}

void limits_source_text(const char *rip, unsigned char key[LIMITS_KEY])
{
	struct sockaddr_storage ss;
	char txt[64];
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, rip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, rip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		ss.ss_family = AF_UNIX;
	limits_source(&ss, key, txt, sizeof(txt));
}

static int stale(const struct slot *s, long minute)
{
	return s->window < minute - 1 && s->refusal_logged < minute - 1 &&
	       s->event_logged < minute - 1;
}

/* key's slot, claimed if need be.  A crowded table shares the first slot
 * of the key's run (limits stay conservative). */
static struct slot *slot_of(const unsigned char key[LIMITS_KEY], long minute)
{
	uint64_t h = 1469598103934665603ULL;
	int i;
	for (i = 0; i < LIMITS_KEY; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	for (i = 0; i < PROBES; i++) {
		struct slot *s = &table[(h + (uint64_t)i) % SLOTS];
		if (memcmp(s->key, key, LIMITS_KEY) == 0)
			return s;
	}
	for (i = 0; i < PROBES; i++) {
		struct slot *s = &table[(h + (uint64_t)i) % SLOTS];
		if (stale(s, minute)) {
			memset(s, 0, sizeof(*s));
			s->window = s->refusal_logged = s->event_logged = -2;
			memcpy(s->key, key, LIMITS_KEY);
			return s;
		}
	}
	return &table[h % SLOTS];
}

const char *limits_admit(const struct config *cfg, const unsigned char key[LIMITS_KEY],
			 unsigned same, int local, time_t now)
{
	long minute = (long)(now / 60);
	struct slot *s;
	if (!table)
		return NULL;   /* limits_init not called: nothing is counted */
	s = slot_of(key, minute);
	if (s->window != minute) {
		s->window = minute;
		s->count = 0;
	}
	s->count++;
	/* Loopback clients are exempt (as Postfix exempts $mynetworks): on
	 * this host they are a webmail or a TLS proxy speaking for many
	 * users, or the administrator. */
	if (local)
		return NULL;
	if (cfg->max_sessions_per_source && same >= cfg->max_sessions_per_source)
		return "max_sessions_per_source";
	if (cfg->max_conn_rate_per_source && s->count > cfg->max_conn_rate_per_source)
		return "max_conn_rate_per_source";
	return NULL;
}

int limits_log_refusal(const unsigned char key[LIMITS_KEY], time_t now)
{
	long minute = (long)(now / 60);
	struct slot *s;
	if (!table)
		return 1;
	s = slot_of(key, minute);
	if (s->refusal_logged == minute)
		return 0;
	s->refusal_logged = minute;
	return 1;
}

int limits_log_allow(const char *rip, time_t now, unsigned *suppressed)
{
	unsigned char key[LIMITS_KEY];
	long minute = (long)(now / 60);
	struct slot *s;
	*suppressed = 0;
	if (!table)
		return 1;
	limits_source_text(rip, key);
	s = slot_of(key, minute);
	if (s->event_logged == minute) {
		s->suppressed++;
		return 0;
	}
	*suppressed = s->suppressed;
	s->event_logged = minute;
	s->suppressed = 0;
	return 1;
}

void limits_report_login(void)
{
	/* Blocking with a 1 s limit (SO_SNDTIMEO): the master drains the
	 * channel in its loop.  A report that cannot be sent only leaves the
	 * session counted as unauthenticated. */
	if (report[1] >= 0 && send(report[1], "L", 1, MSG_NOSIGNAL) < 0)
		plog(LOG_WARNING, "cannot report the login to the master: %s", strerror(errno));
}

int limits_report_fd(void)
{
	return report[0];
}

pid_t limits_next_login(void)
{
	char c, cbuf[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { &c, 1 };
	struct msghdr mh;
	struct cmsghdr *cm;
	if (report[0] < 0)
		return 0;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	while (recvmsg(report[0], &mh, MSG_DONTWAIT) == 1) {
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
				struct ucred uc;
				memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
				if (uc.pid > 0)
					return uc.pid;
			}
		mh.msg_controllen = sizeof(cbuf);
	}
	return 0;
}
