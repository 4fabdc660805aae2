/* config.h - postern.conf: one "key = value" a line, '#' comments.  Every
 * key, its default and its meaning is in man/postern.conf.5. */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "parse.h"

#define CONF_MAX_LISTEN 16
#define CONF_MAX_SPARES 64
#define CONF_MAX_CERTS 16
#define CONF_MAX_NETS 32

struct listen_addr {
	char host[64];       /* empty = all addresses (IPv4 and IPv6) */
	uint16_t port;
	int tls;             /* implicit TLS (RFC 8314) */
	int ssl;             /* "ssl=": enum conf_ssl, or -1 for the global ssl */
	int proxy;           /* "proxy=yes": a PROXY header comes first */
};

/* A network of proxy_trusted: AF_INET or AF_INET6, the address in network
 * order (4 or 16 bytes used), the prefix length. */
struct conf_net {
	int family;
	unsigned char addr[16];
	unsigned prefix;
};

/* Enumerated settings, turned into these at parse time (config_set). */
enum conf_ssl { CONF_SSL_REQUIRED, CONF_SSL_OPTIONAL, CONF_SSL_OFF };
enum conf_plaintext { CONF_PLAINTEXT_TLS_OR_LOOPBACK, CONF_PLAINTEXT_ALWAYS };
enum conf_tls_version { CONF_TLS_V1_2, CONF_TLS_V1_3 };

/* Credential sources (passdb), tried in the order given. */
enum conf_passdb { CONF_PASSDB_FILE, CONF_PASSDB_PAM, CONF_PASSDB_CHECKPASSWORD };
#define CONF_MAX_PASSDB 3

/* SASL mechanisms (auth_mechanisms), a bit each. */
#define CONF_MECH_PLAIN      1u
#define CONF_MECH_LOGIN      2u
#define CONF_MECH_SCRAM      4u   /* SCRAM-SHA-256 */
#define CONF_MECH_SCRAM_PLUS 8u   /* SCRAM-SHA-256-PLUS */

struct cert_pair {
	char cert[256];
	char key[256];
};

struct config {
	struct listen_addr listen[CONF_MAX_LISTEN];
	int nlisten;
	char passwd_file[256];
	int passdb[CONF_MAX_PASSDB];         /* enum conf_passdb, in order */
	int npassdb;
	char pam_service[64];
	char checkpassword[256];             /* the program's absolute path */
	uint64_t passdb_timeout_ms;          /* PAM and checkpassword checks */
	uint64_t passdb_fail_time_ms;        /* their failures answered after this */
	unsigned auth_mechanisms;            /* CONF_MECH_* */
	char mail_location[256];
	char unpriv_user[64];
	char empty_dir[256];
	uid_t first_valid_uid;
	gid_t first_valid_gid;
	uint64_t timeout_ms;
	uint64_t login_timeout_ms;
	uint64_t login_fail_delay_ms;
	unsigned max_login_failures;
	unsigned max_login_commands;
	int apop;
	int size_cache;
	int uidl_import;                     /* keep a previous server's UIDLs */
	char dovecot_uidl_format[128];       /* its pop3_uidl_format */
	uint64_t max_messages;
	uint64_t max_mailbox_size;
	unsigned max_sessions;
	unsigned spare_sessions;  /* pre-started connection processes (master) */
	unsigned max_preauth_sessions; /* not yet logged in; 0: max_sessions / 2 */
	unsigned max_sessions_per_source;
	unsigned max_conn_rate_per_source;   /* new connections per minute */
	unsigned listen_backlog;
	uint64_t preauth_memory;
	int seccomp;
	/* protocol extensions (issue 17) */
	int uid_param;                       /* UID-PARAM */
	int deli;                            /* DELI */
	long login_delay;                    /* seconds; PARSE_DELAY_OFF */
	long expire;                         /* days; PARSE_EXPIRE_OFF, _NEVER */
	int sleeping;                        /* SLEEPING: SLEE and WAKE */
	uint64_t sleep_timeout_ms;           /* idle time allowed in SLEEP */
	unsigned max_sleeping_sessions;      /* server-wide, 0 = no limit */
	unsigned max_sleeping_per_user;      /* per mailbox, 0 = no limit */
	char sleeping_lock_file[256];        /* counts the server's sleepers */
	/* TLS */
	enum conf_ssl ssl;                   /* required | optional | off */
	enum conf_plaintext plaintext_auth;  /* tls-or-loopback | always */
	struct cert_pair certs[CONF_MAX_CERTS];
	int ncerts;
	enum conf_tls_version ssl_min_protocol;
	char ssl_ciphers[512];
	char ssl_ciphersuites[512];
	int ssl_prefer_server_ciphers;
	/* postern-deliver */
	char postmaster[256];                /* pickup: unknown recipients' mailbox */
	char recipient_delimiter[16];        /* "+": user+ext delivers to user */
	int loopback_is_local;               /* loopback clients count as local */
	/* PROXY protocol (listeners with proxy=yes) */
	struct conf_net proxy_trusted[CONF_MAX_NETS];
	int nproxy_trusted;
	uint64_t proxy_timeout_ms;           /* the whole header within this */
};

void config_defaults(struct config *c);
/* Load path over the defaults.  On error writes "file:line: message" into
 * err and returns -1. */
int config_load(struct config *c, const char *path, char *err, size_t errcap);
/* The same; warn (if not NULL) is called with "file:line: message" for
 * what loads but is probably a mistake (a key set twice). */
int config_load_warn(struct config *c, const char *path, char *err, size_t errcap,
		     void (*warn)(void *arg, const char *msg), void *arg);
/* The port of the first implicit-TLS listener, 0 if there is none. */
unsigned config_tls_port(const struct config *c);
/* The ssl setting of a listener: its own "ssl=", else the global one. */
enum conf_ssl config_listen_ssl(const struct config *c, const struct listen_addr *l);
/* The listen line (either kind) whose port is port, or NULL: how a socket
 * systemd passes gets its options. */
const struct listen_addr *config_listen_by_port(const struct config *c, unsigned port);
/* 1 if the address (AF_INET, AF_INET6; v4-mapped v6 counts as v4) is in
 * one of proxy_trusted's networks. */
int config_proxy_trusted(const struct config *c, const struct sockaddr_storage *ss);
/* One network "ADDR/PREFIX" (or a bare address: one host), strictly:
 * no host bits set past the prefix.  0 or -1. */
int config_parse_net(const char *s, struct conf_net *n);
/* Parse one "key = value" pair (used by config_load and the fuzzer). */
int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t errcap);
/* Check cross-key consistency after loading. */
int config_check(const struct config *c, char *err, size_t errcap);
/* 1 if source (enum conf_passdb) is one of c's passdb sources. */
int config_has_passdb(const struct config *c, int source);
/* Print the effective settings in the file's own syntax. */
void config_print(const struct config *c, FILE *out);
#endif
