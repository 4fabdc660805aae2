/* mailstore.h - what the mail process needs from a mail store: open and
 * lock, a snapshot of messages with sizes and unique ids, open one message,
 * and commit deletions and flags.  Maildir (maildir.c) is the provider;
 * another store (mbox) would fill in the same table. */
#ifndef POSTERN_MAILSTORE_H
#define POSTERN_MAILSTORE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ms_status {
	MS_OK,
	MS_INUSE,     /* another session holds the lock: [IN-USE] */
	MS_TEMP,      /* temporary failure: [SYS/TEMP] */
	MS_PERM,      /* permanent failure: [SYS/PERM] */
	MS_TOOBIG,    /* over max_messages / max_mailbox_size: [SYS/PERM] */
};

struct mailstore_opts {
	uint64_t max_messages;     /* 0 = no limit */
	uint64_t max_bytes;        /* 0 = no limit */
	int size_cache;
	uid_t owner;               /* files must belong to this uid */
};

struct commit_result {
	unsigned deleted;          /* removed (or already gone) */
	unsigned failed;           /* could not be removed, kept */
	uint64_t deleted_bytes;    /* octets as sent */
};

struct mailstore;

struct mailstore_ops {
	enum ms_status (*open)(const char *path, const struct mailstore_opts *o,
			       struct mailstore **out, char *err, size_t errcap);
	size_t (*count)(const struct mailstore *s);
	uint64_t (*size)(const struct mailstore *s, size_t i);
	const char *(*uidl)(const struct mailstore *s, size_t i);
	/* Open message i for reading: a descriptor, or -1 (errno set);
	 * *file_size is the size of the file as opened. */
	int (*open_msg)(struct mailstore *s, size_t i, uint64_t *file_size);
	/* deleted[i] / seen[i]: 1 to remove / to mark retrieved. */
	enum ms_status (*commit)(struct mailstore *s, const unsigned char *deleted,
				 const unsigned char *seen, struct commit_result *r);
	void (*close)(struct mailstore *s);
};

extern const struct mailstore_ops maildir_ops;
#endif
