/* rcpt.h - the recipients of a dropped message, read from its header:
 * the envelope fields an MTA adds (Delivered-To, X-Original-To,
 * Envelope-To) when there are any, else To and Cc.  Pure functions over
 * untrusted bytes, unit-tested and fuzzed. */
#ifndef POSTERN_RCPT_H
#define POSTERN_RCPT_H
#include <stddef.h>

#define RCPT_ADDR_MAX 254    /* RFC 5321 path limit, less the brackets */
#define RCPT_MAX 64          /* recipients taken from one message */

struct rcpt_list {
	int n;
	int envelope;        /* taken from envelope fields, not To/Cc */
	char addr[RCPT_MAX][RCPT_ADDR_MAX + 1];
};

/* Scan the header of msg (up to the first empty line, at most the first
 * 256 KiB) into out: addresses as "local@domain" with the domain in lower
 * case, or "local" alone, each once, in order of appearance.  Display
 * names, comments, quoted strings, groups and folded lines are handled;
 * anything that is not a plausible address is skipped. */
void rcpt_parse(const char *msg, size_t len, struct rcpt_list *out);

/* Split addr into the local part without a "+extension" (when delim is a
 * non-empty set of delimiter characters) and the domain ("" if none). */
void rcpt_split(const char *addr, const char *delim, char *local, size_t lcap,
		char *domain, size_t dcap);
#endif
