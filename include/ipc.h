/* ipc.h - framed messages between the connection monitor and its children
 * over a SOCK_SEQPACKET socketpair, with descriptor passing (SCM_RIGHTS).
 * Every received message is length-checked field by field. */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H
#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_MSG 6144   /* a handoff: IN_CAP of pending input plus two short strings */
#define IPC_MAX_FIELDS 8
#define IPC_MAX_FDS 2

enum ipc_type {
	IPC_AUTH = 1,        /* preauth -> monitor: method, user, secret[, extra] */
	IPC_AUTH_OK,         /* monitor -> preauth: canonical user */
	IPC_AUTH_FAIL,       /* monitor -> preauth: reason code */
	IPC_HANDOFF,         /* preauth -> monitor: fds (plain) + leftover input + tls info */
	IPC_RELAY,           /* monitor -> preauth: fd to relay TLS to */
	IPC_SASL_STEP,       /* preauth <-> monitor: one SASL exchange step */
	IPC_TLS_FAIL,        /* preauth -> monitor: handshake failed (reason) */
	IPC_CONN,            /* monitor -> preauth: client fd(s) + struct conn_info */
	IPC_ACCEPT,          /* master -> spare monitor: client fd + "<tls><greeted>" */
};

struct ipc_msg {
	uint32_t type;
	int nfields;
	const char *field[IPC_MAX_FIELDS];
	size_t flen[IPC_MAX_FIELDS];
	int nfds;
	int fds[IPC_MAX_FDS];
	char buf[IPC_MAX_MSG];   /* fields point in here, each NUL-terminated */
};

/* Send type with nfields fields (pointers + lengths) and nfds descriptors. */
int ipc_send(int sock, uint32_t type, int nfields, const char *const *field,
	     const size_t *flen, int nfds, const int *fds);
/* Receive one message; returns 0, or -1 on EOF, error or malformed input. */
int ipc_recv(int sock, struct ipc_msg *m);
#endif
