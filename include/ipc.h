/* ipc.h - messages between the connection monitor and its children over a
 * SOCK_SEQPACKET socketpair, with descriptor passing (SCM_RIGHTS).
 *
 * Two layers.  The frame: a type, up to IPC_MAX_FIELDS length-prefixed
 * fields and up to IPC_MAX_FDS descriptors (ipc_send, ipc_recv,
 * ipc_parse).  On top, one struct per message type with its own send and
 * decode; every decode checks the field count, each field's length and the
 * descriptor count against one table in ipc.c, so a receiver never indexes
 * a field by position itself. */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H
#include <stddef.h>
#include <stdint.h>

#define IPC_MAX_MSG 6144   /* a handoff: IN_CAP of pending input plus two short strings */
#define IPC_MAX_FIELDS 10
#define IPC_MAX_FDS 2

enum ipc_type {
	IPC_AUTH = 1,        /* preauth -> monitor: struct ipc_auth */
	IPC_AUTH_OK,         /* monitor -> preauth: struct ipc_auth_ok */
	IPC_AUTH_FAIL,       /* monitor -> preauth: struct ipc_auth_fail */
	IPC_HANDOFF,         /* preauth -> monitor: struct ipc_handoff (+ fds when plain) */
	IPC_RELAY,           /* monitor -> preauth: the fd to relay TLS to, no fields */
	IPC_SCRAM_FIRST,     /* preauth -> monitor: struct ipc_scram_first */
	IPC_SCRAM_CHALLENGE, /* monitor -> preauth: the server-first message */
	IPC_SCRAM_FINAL,     /* preauth -> monitor: struct ipc_scram_final */
	IPC_TLS_FAIL,        /* preauth -> monitor: handshake failed (reason) */
	IPC_CONN,            /* monitor -> preauth: client fd(s) + struct conn_info */
	IPC_ACCEPT,          /* master -> spare monitor: client fd, flags, origin */
	/* mail process -> its root parent (sleeping = yes), no fields: */
	IPC_RECHECK,         /* WAKE: is the account still valid now? */
	IPC_SLEEP_TAKE,      /* SLEE: a server-wide sleeping slot, please */
	IPC_SLEEP_END,       /* WAKE done or SLEE undone: the slot goes */
	IPC_PARENT_YES,      /* root parent -> mail process, no fields */
	IPC_PARENT_NO,
	IPC_TYPE_END
};

/* ---- the frame ---- */

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
/* Receive one message; returns 0, or -1 on EOF, error or malformed input
 * (its descriptors closed). */
int ipc_recv(int sock, struct ipc_msg *m);
/* The frame of raw[0..n) into m (m->nfds untouched); 0 or -1. */
int ipc_parse(const char *raw, size_t n, struct ipc_msg *m);
/* Close m's descriptors. */
void ipc_close_fds(struct ipc_msg *m);

/* ---- typed messages ---- */

enum auth_method {
	AUTH_M_USER = 1,     /* USER/PASS */
	AUTH_M_APOP,
	AUTH_M_PLAIN,
	AUTH_M_LOGIN,
	AUTH_M_SCRAM,        /* SCRAM-SHA-256 */
	AUTH_M_SCRAM_PLUS,   /* SCRAM-SHA-256-PLUS */
	AUTH_M_END
};
/* "USER", "APOP", ..., as in the log; "?" for anything else. */
const char *auth_method_name(int method);

#define IPC_USER_MAX 255        /* PW_USER_MAX */
#define IPC_SECRET_MAX 1024     /* a password, or an APOP digest */
#define IPC_INFO_MAX 127        /* struct session's tls_info */
#define IPC_CAPA_MAX 199        /* struct session's auth_capa */
#define IPC_REASON_MAX 200
#define SCRAM_NONCE_MAX 128     /* the client's part of the nonce */
#define SCRAM_CBNAME_MAX 31     /* "tls-exporter", ... */
#define SCRAM_CBDATA_MAX 128
#define SCRAM_GS2_MAX 299       /* the raw gs2 header */
#define SCRAM_BARE_MAX 1023     /* the raw client-first-message-bare */
#define SCRAM_CBIND_MAX 600     /* c=: base64 of the gs2 header and binding data */
#define SCRAM_NOPROOF_MAX 1023  /* the raw client-final-message-without-proof */
#define SCRAM_SERVER_MAX 1023   /* a server message */
#define SCRAM_PROOF_LEN 32

/* Why the pre-auth process refused a client's SCRAM message: the monitor
 * still logs and counts it as a failed login. */
enum scram_error {
	SCRAM_OK = 0,
	SCRAM_ERR_MALFORMED_FIRST,
	SCRAM_ERR_MALFORMED_FINAL,
	SCRAM_ERR_AUTHZID,
	SCRAM_ERR_END
};
const char *scram_error_text(int e);

struct ipc_auth {
	int method;                         /* enum auth_method, not SCRAM */
	char user[IPC_USER_MAX + 1];
	size_t userlen;                     /* user may hold a NUL: refused by the monitor */
	char secret[IPC_SECRET_MAX + 1];    /* password (any bytes), APOP digest */
	size_t secretlen;
};

struct ipc_auth_ok {
	char user[IPC_USER_MAX + 1];        /* the canonical name */
	char server_final[SCRAM_SERVER_MAX + 1];  /* SCRAM only, raw */
	size_t sflen;
};

struct ipc_auth_fail {
	int temp;                           /* 1: temporarily unavailable */
};

struct ipc_handoff {
	const char *pending;                /* pipelined input (plain); into the ipc_msg */
	size_t npending;
	char tls_info[IPC_INFO_MAX + 1];
	int method;                         /* enum auth_method */
	char capa[IPC_CAPA_MAX + 1];        /* the USER and SASL lines of CAPA */
	int nfds;                           /* plain: client fd(s); TLS: none */
	int fds[IPC_MAX_FDS];
};

/* A client-first message, split by the pre-auth process (sasl.c). */
struct ipc_scram_first {
	int method;                         /* AUTH_M_SCRAM or AUTH_M_SCRAM_PLUS */
	int error;                          /* enum scram_error; the rest unused if set */
	char cbflag;                        /* 'n', 'y' or 'p' */
	char cbname[SCRAM_CBNAME_MAX + 1];  /* with 'p': the binding type asked for */
	char user[IPC_USER_MAX + 1];        /* n=, unescaped */
	char nonce[SCRAM_NONCE_MAX + 1];    /* r= */
	char gs2[SCRAM_GS2_MAX + 1];        /* raw, for the c= check */
	char bare[SCRAM_BARE_MAX + 1];      /* raw, for the AuthMessage */
	/* The connection's binding data (TLS), not the client's. */
	char cbtype[SCRAM_CBNAME_MAX + 1];
	unsigned char cbdata[SCRAM_CBDATA_MAX];
	size_t cblen;
};

/* A client-final message, split by the pre-auth process. */
struct ipc_scram_final {
	int error;                          /* enum scram_error */
	char cbind[SCRAM_CBIND_MAX + 1];    /* c=, as sent (base64 text) */
	char nonce[SCRAM_NONCE_MAX + 64 + 1];  /* r=, the whole nonce */
	char noproof[SCRAM_NOPROOF_MAX + 1];   /* raw, for the AuthMessage */
	unsigned char proof[SCRAM_PROOF_LEN];  /* p=, decoded */
};

struct ipc_scram_challenge {
	char msg[SCRAM_SERVER_MAX + 1];     /* server-first, raw */
	size_t len;
};

struct ipc_tls_fail {
	char why[IPC_REASON_MAX + 1];
};

/* IPC_ACCEPT: flags "<tls><greeted><ssl>" (ssl: the listener's enum
 * conf_ssl digit), and the connection's origin (the bytes of a struct
 * conn_origin, or none when no PROXY header was read). */
#define IPC_ORIGIN_MAX 640
struct ipc_accept {
	int tls, greeted, ssl;
	int fd;
	unsigned char origin[IPC_ORIGIN_MAX];
	size_t origin_len;
};

int ipc_send_auth(int sock, const struct ipc_auth *a);
int ipc_send_auth_ok(int sock, const struct ipc_auth_ok *a);
int ipc_send_auth_fail(int sock, const struct ipc_auth_fail *a);
int ipc_send_handoff(int sock, const struct ipc_handoff *h);
int ipc_send_relay(int sock, int fd);
int ipc_send_scram_first(int sock, const struct ipc_scram_first *f);
int ipc_send_scram_final(int sock, const struct ipc_scram_final *f);
int ipc_send_scram_challenge(int sock, const struct ipc_scram_challenge *c);
int ipc_send_tls_fail(int sock, const struct ipc_tls_fail *t);
int ipc_send_accept(int sock, const struct ipc_accept *a);

/* Each decode: 0 and x filled, or -1 (wrong type, field count, length,
 * value or descriptor count).  m's descriptors stay in m (ipc_close_fds). */
int ipc_decode_auth(const struct ipc_msg *m, struct ipc_auth *a);
int ipc_decode_auth_ok(const struct ipc_msg *m, struct ipc_auth_ok *a);
int ipc_decode_auth_fail(const struct ipc_msg *m, struct ipc_auth_fail *a);
int ipc_decode_handoff(const struct ipc_msg *m, struct ipc_handoff *h);
int ipc_decode_relay(const struct ipc_msg *m, int *fd);
int ipc_decode_scram_first(const struct ipc_msg *m, struct ipc_scram_first *f);
int ipc_decode_scram_final(const struct ipc_msg *m, struct ipc_scram_final *f);
int ipc_decode_scram_challenge(const struct ipc_msg *m, struct ipc_scram_challenge *c);
int ipc_decode_tls_fail(const struct ipc_msg *m, struct ipc_tls_fail *t);
int ipc_decode_accept(const struct ipc_msg *m, struct ipc_accept *a);
/* The messages between a mail process and its root parent (sleeping =
 * yes): a type and nothing else, no field, no descriptor. */
int ipc_send_bare(int sock, uint32_t type);
int ipc_decode_bare(const struct ipc_msg *m, uint32_t type);
/* IPC_CONN: the bytes of a struct of size len (conn_info) into out. */
int ipc_send_conn(int sock, const void *info, size_t len, int rfd, int wfd);
int ipc_decode_conn(const struct ipc_msg *m, void *info, size_t len);
#endif
