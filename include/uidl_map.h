/* uidl_map.h - the UIDLs a previous POP3 server handed out for the messages
 * of one Maildir, keyed by file name up to ':'.  Read once from Dovecot's
 * dovecot-uidlist or Courier's courierpop3dsizelist and kept in the
 * Maildir's postern-uidls, which alone is read from then on. */
#ifndef POSTERN_UIDL_MAP_H
#define POSTERN_UIDL_MAP_H
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define UIDLS_FILE "postern-uidls"

struct uidl_map;

/* The map of the Maildir open at dirfd: postern-uidls when it exists, else
 * an import from the old servers' files, saved to postern-uidls when save
 * is set (through tmp/ and a rename).  fmt: Dovecot's pop3_uidl_format.
 * Files must be regular and belong to owner.  NULL when there is nothing
 * (no file, or no usable entry); *source then says why ("none"), else
 * where the map came from. */
struct uidl_map *uidl_map_open(int dirfd, uid_t owner, const char *fmt, int save,
			       const char **source);
/* The imported UIDL of the file whose name up to ':' is name[0..len). */
const char *uidl_map_get(const struct uidl_map *m, const char *name, size_t len);
/* Is uidl one of the imported UIDLs (kept from any message, present or
 * not)?  A message without an imported UIDL must not get one of these. */
int uidl_map_taken(const struct uidl_map *m, const char *uidl, size_t len);
size_t uidl_map_count(const struct uidl_map *m);
void uidl_map_free(struct uidl_map *m);

/* postern -U: how many messages of the Maildir keep an old UIDL.  Reads
 * only, never writes.  0, or -1 with a message on stderr. */
int uidl_report(const char *maildir, const char *fmt, FILE *out);
#endif
