/* mailstore.h - what the mail process needs from a mail store: open and
 * lock, a snapshot of messages with sizes and unique ids, send one message
 * (or its top) to the client, and commit deletions and flags.  Maildir
 * (maildir.c) is the provider.  Nothing here names a file or a descriptor
 * of a message: an mbox-style store (a message is a byte range of one file)
 * fills in the same table, streaming its ranges with msgstream_send(). */
#ifndef POSTERN_MAILSTORE_H
#define POSTERN_MAILSTORE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct conn;

enum ms_status {
	MS_OK,
	MS_INUSE,     /* another session holds the lock: [IN-USE] */
	MS_TEMP,      /* temporary failure: [SYS/TEMP] */
	MS_PERM,      /* permanent failure: [SYS/PERM] */
	MS_TOOBIG,    /* over max_messages / max_mailbox_size: [SYS/PERM] */
};

/* What a stream call did. */
enum ms_stream {
	MS_SENT,       /* head, message and terminating "." queued or written
	                * (a failed write shows in the conn's write_failed) */
	MS_NOT_SENT,   /* could not be opened, errno set (ENOENT: gone for
	                * good); nothing was written */
	MS_BROKEN,     /* read error after the head went out, errno set: the
	                * reply cannot be completed, the session must end */
};

struct mailstore_opts {
	uint64_t max_messages;     /* 0 = no limit */
	uint64_t max_bytes;        /* 0 = no limit */
	int size_cache;
	uid_t owner;               /* files must belong to this uid */
	int uidl_import;           /* serve a previous server's UIDLs (uidl_map.h) */
	const char *uidl_format;   /* Dovecot's pop3_uidl_format, for that */
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
	/* Send message i to c: once it is open, the head bytes (the reply
	 * line), then the message in POP3 form (msgencode: CRLF line ends,
	 * dot-stuffing, the final CRLF and "."), whole when top_lines < 0,
	 * else its header and top_lines body lines.  Memory stays bounded
	 * whatever the message's size.  *stored = the message's bytes in the
	 * store (set unless MS_NOT_SENT). */
	enum ms_stream (*stream)(struct mailstore *s, size_t i, int64_t top_lines,
				 struct conn *c, const char *head, size_t headlen,
				 uint64_t *stored);
	/* deleted[i] / seen[i]: 1 to remove / to mark retrieved. */
	enum ms_status (*commit)(struct mailstore *s, const unsigned char *deleted,
				 const unsigned char *seen, struct commit_result *r);
	/* Remove message i from the store now (DELI): MS_OK when it is gone
	 * (or was already), MS_TEMP when it could not be removed (it stays).
	 * Keeps maildirsize right. */
	enum ms_status (*delete_now)(struct mailstore *s, size_t i);
	void (*close)(struct mailstore *s);
};

extern const struct mailstore_ops maildir_ops;
#endif
