/* util.h - small helpers shared by every process: allocation that cannot
 * return NULL, log-safe string escaping, monotonic time. */
#ifndef POSTERN_UTIL_H
#define POSTERN_UTIL_H
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Copy at most len bytes of s into out (capacity cap, always terminated),
 * replacing bytes outside 0x21-0x7e and the characters <>"\ by '?', so a
 * client-supplied string can go into a log line without forging fields. */
const char *log_safe(char *out, size_t cap, const char *s, size_t len);

/* The same for free text (spaces allowed): bytes outside 0x20-0x7e become
 * '?'. */
const char *log_text(char *out, size_t cap, const char *s, size_t len);

struct sockaddr_storage;
/* A loopback client: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 or AF_UNIX. */
int sockaddr_is_loopback(const struct sockaddr_storage *ss);

/* The process name (comm) as the program started, cached on the first
 * call: children renamed for ps(1) can take it back. */
const char *program_name(void);
/* Milliseconds from CLOCK_MONOTONIC. */
uint64_t now_ms(void);
/* A fast, non-cryptographic hash of s[0..n) for in-memory tables. */
uint64_t name_hash(const char *s, size_t n);
/* Sleep for ms milliseconds, restarting after signals. */
void sleep_ms(uint64_t ms);

/* Constant-time equality of two byte strings (length leaks, content not). */
int ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Write all of buf to fd (restarting on EINTR).  0 on success, -1 on error. */
int write_all(int fd, const void *buf, size_t len);
#endif
