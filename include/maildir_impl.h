/* maildir_impl.h - the Maildir provider's own shared state, for its files
 * only (maildir.c: open, scan, stream, commit; maildir_index.c: the size
 * cache and the order; maildir_dups.c: messages sharing a unique part).
 * The mail process sees only mailstore.h. */
#ifndef POSTERN_MAILDIR_IMPL_H
#define POSTERN_MAILDIR_IMPL_H
#include <dirent.h>
#include "mailstore.h"
#include "mdname.h"
#include "msgstream.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct mdmsg {
	char *path;            /* "cur/NAME" or "new/NAME", relative to dfd */
	uint64_t size;         /* octets as sent */
	uint64_t time;         /* from the name, for ordering */
	unsigned short unique_len;
	unsigned short base_len;
	unsigned char has_w;   /* size came from ,W= */
	uint32_t rank;         /* position in the index; UINT32_MAX when new */
	unsigned char uidl_ok; /* the unique part is usable as UIDL as it is */
	unsigned char from_new; /* was in new/ at login */
	unsigned char dup;     /* another message had the same unique part */
	char *alt_uidl;        /* a dup that could not be renamed: its UIDL */
};

struct centry {
	const char *key;       /* the name (in cache_buf); hashed up to ':' */
	size_t klen;
	size_t nlen;           /* whole name; v2 files have keys only */
	uint64_t size;
};

/* File names live in a chain of blocks freed together: a 100,000-message
 * mailbox costs a few allocations, not one per message. */
struct name_block {
	struct name_block *next;
	size_t used, cap;
	char data[];
};

struct mailstore {
	int dfd;               /* the Maildir: every path is relative to it */
	struct name_block *names;
	struct mdmsg *msg;
	size_t n, cap;
	int lock_fd;
	uid_t owner;
	struct msgstream out;  /* RETR/TOP buffers */
	/* the index file (maildir_index.c) */
	char *cache_buf;
	int cache_full_names;  /* v3: lines carry whole names of cur/ */
	struct timespec cache_cur;  /* v3: cur/'s mtime the index vouches for */
	struct timespec cur_stamp;  /* what this session can vouch for (mdx_cur_stamp) */
	struct centry *cent;   /* entries in file order */
	size_t ncent;
	uint32_t *ctab;        /* open addressing: 1 + index into cent, 0 empty */
	size_t csize;          /* slots, a power of two */
	int renamed;           /* a duplicate was renamed: rewrite the index */
	struct uidl_map *imp;  /* UIDLs of a previous server (uidl_map.c), or NULL */
};

/* maildir.c */
char *md_name_alloc(struct mailstore *s, size_t len);
void md_set_path(struct mailstore *s, struct mdmsg *x, const char *dir,
		 const char *name, const struct mdname *m);
struct mdmsg *md_add_msg(struct mailstore *s, const char *dir, const char *name,
			 const struct mdname *m);
int md_rename_noreplace(int dfd, const char *from, const char *to);

/* maildir_index.c: postern-sizes, the sizes and order of the last session */
#define md_hash name_hash       /* util.c */
void mdx_load(struct mailstore *s);
long mdx_find(const struct mailstore *s, const struct mdmsg *m);
void mdx_cur_stamp(struct mailstore *s, struct timespec *mtime);
int mdx_list_cur(struct mailstore *s, const struct timespec *mtime);
void mdx_order(struct mailstore *s);
void mdx_save(struct mailstore *s, size_t known);

/* maildir.c: a subdirectory of the Maildir, for reading; flags O_NOFOLLOW
 * or 0. */
DIR *md_open_sub(const struct mailstore *s, const char *dir, int flags);
/* maildir_sweep.c: remove tmp/ files a killed delivery left (bounded). */
void md_sweep_tmp(const struct mailstore *s);

/* maildir_dups.c: two files with one unique part */
size_t md_mark_dups(struct mailstore *s);
uint64_t md_resolve_dups(struct mailstore *s);   /* octets of twins removed */
#endif
