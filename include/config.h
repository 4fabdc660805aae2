/* config.h - postern.conf: one "key = value" a line, '#' comments.  Every
 * key, its default and its meaning is in man/postern.conf.5. */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "parse.h"

#define CONF_MAX_LISTEN 16
#define CONF_MAX_SPARES 64
#define CONF_MAX_CERTS 16

struct listen_addr {
	char host[64];       /* empty = all addresses (IPv4 and IPv6) */
	uint16_t port;
	int tls;             /* implicit TLS (RFC 8314) */
};

/* Enumerated settings, turned into these at parse time (config_set). */
enum conf_ssl { CONF_SSL_REQUIRED, CONF_SSL_OPTIONAL, CONF_SSL_OFF };
enum conf_plaintext { CONF_PLAINTEXT_TLS_OR_LOOPBACK, CONF_PLAINTEXT_ALWAYS };
enum conf_tls_version { CONF_TLS_V1_2, CONF_TLS_V1_3 };

struct cert_pair {
	char cert[256];
	char key[256];
};

struct config {
	struct listen_addr listen[CONF_MAX_LISTEN];
	int nlisten;
	char passwd_file[256];
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
/* Parse one "key = value" pair (used by config_load and the fuzzer). */
int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t errcap);
/* Check cross-key consistency after loading. */
int config_check(const struct config *c, char *err, size_t errcap);
/* Print the effective settings in the file's own syntax. */
void config_print(const struct config *c, FILE *out);
#endif
