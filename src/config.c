/* config.c - read postern.conf into struct config, check it, print it.
 * Pure code (plus reading one file); runs as root in the master, monitor and
 * in "postern -t". */
#include "config.h"
#include "parse.h"
#include "uidl_import.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum ktype { K_STR, K_ENUM, K_DUR, K_UINT, K_UID, K_GID, K_BOOL, K_SIZE, K_LISTEN, K_CERT, K_KEY,
	     K_DELAY, K_EXPIRE, K_NETS, K_PASSDB, K_MECHS };

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	size_t cap;          /* K_STR: buffer size */
	const char *const *names; /* K_ENUM: the value names, in enum order */
	uint64_t min, max;   /* K_DUR (ms), K_UINT: the range; max 0 = no limit */
};

static const char *const ssl_names[] = { "required", "optional", "off", NULL };
static const char *const plaintext_names[] = { "tls-or-loopback", "always", NULL };
static const char *const tlsver_names[] = { "TLSv1.2", "TLSv1.3", NULL };
/* passdb words, in enum conf_passdb order. */
static const char *const passdb_names[] = { "passwd-file", "pam", "checkpassword", NULL };
/* auth_mechanisms words and their CONF_MECH_* bits, in CAPA order. */
static const struct { const char *name; unsigned bit; } mech_names[] = {
	{ "plain", CONF_MECH_PLAIN }, { "login", CONF_MECH_LOGIN },
	{ "scram-sha-256", CONF_MECH_SCRAM }, { "scram-sha-256-plus", CONF_MECH_SCRAM_PLUS },
};
#define NMECHS (sizeof(mech_names) / sizeof(mech_names[0]))

#define O(f) offsetof(struct config, f)
#define S(f) O(f), sizeof(((struct config *)0)->f)
static const struct key keys[] = {
	{ "listen", K_LISTEN, 0, 0, NULL, 0, 0 },
	{ "listen_tls", K_LISTEN, 1, 0, NULL, 0, 0 },
	{ "passwd_file", K_STR, S(passwd_file), NULL, 0, 0 },
	{ "passdb", K_PASSDB, 0, 0, NULL, 0, 0 },
	{ "pam_service", K_STR, S(pam_service), NULL, 0, 0 },
	{ "checkpassword", K_STR, S(checkpassword), NULL, 0, 0 },
	{ "passdb_timeout", K_DUR, O(passdb_timeout_ms), 0, NULL, 1000, 0 },
	{ "passdb_fail_time", K_DUR, O(passdb_fail_time_ms), 0, NULL, 0, 0 },
	{ "auth_mechanisms", K_MECHS, 0, 0, NULL, 0, 0 },
	{ "mail_location", K_STR, S(mail_location), NULL, 0, 0 },
	{ "unpriv_user", K_STR, S(unpriv_user), NULL, 0, 0 },
	{ "empty_dir", K_STR, S(empty_dir), NULL, 0, 0 },
	{ "first_valid_uid", K_UID, O(first_valid_uid), 0, NULL, 0, 0 },
	{ "first_valid_gid", K_GID, O(first_valid_gid), 0, NULL, 0, 0 },
	{ "timeout", K_DUR, O(timeout_ms), 0, NULL, 1000, 0 },
	{ "login_timeout", K_DUR, O(login_timeout_ms), 0, NULL, 1000, 0 },
	{ "login_fail_delay", K_DUR, O(login_fail_delay_ms), 0, NULL, 0, 0 },
	{ "max_login_failures", K_UINT, O(max_login_failures), 0, NULL, 1, 0 },
	{ "max_login_commands", K_UINT, O(max_login_commands), 0, NULL, 1, 0 },
	{ "apop", K_BOOL, O(apop), 0, NULL, 0, 0 },
	{ "size_cache", K_BOOL, O(size_cache), 0, NULL, 0, 0 },
	{ "uidl_import", K_BOOL, O(uidl_import), 0, NULL, 0, 0 },
	{ "dovecot_uidl_format", K_STR, S(dovecot_uidl_format), NULL, 0, 0 },
	{ "max_messages", K_SIZE, O(max_messages), 0, NULL, 0, 0 },
	{ "max_mailbox_size", K_SIZE, O(max_mailbox_size), 0, NULL, 0, 0 },
	{ "max_sessions", K_UINT, O(max_sessions), 0, NULL, 0, 0 },
	{ "spare_sessions", K_UINT, O(spare_sessions), 0, NULL, 0, CONF_MAX_SPARES },
	{ "max_preauth_sessions", K_UINT, O(max_preauth_sessions), 0, NULL, 0, 0 },
	{ "max_sessions_per_source", K_UINT, O(max_sessions_per_source), 0, NULL, 0, 0 },
	{ "max_conn_rate_per_source", K_UINT, O(max_conn_rate_per_source), 0, NULL, 0, 0 },
	{ "listen_backlog", K_UINT, O(listen_backlog), 0, NULL, 0, 0 },
	{ "preauth_memory", K_SIZE, O(preauth_memory), 0, NULL, 0, 0 },
	{ "seccomp", K_BOOL, O(seccomp), 0, NULL, 0, 0 },
	{ "uid_param", K_BOOL, O(uid_param), 0, NULL, 0, 0 },
	{ "deli", K_BOOL, O(deli), 0, NULL, 0, 0 },
	{ "login_delay", K_DELAY, O(login_delay), 0, NULL, 0, 0 },
	{ "expire", K_EXPIRE, O(expire), 0, NULL, 0, 0 },
	{ "sleeping", K_BOOL, O(sleeping), 0, NULL, 0, 0 },
	{ "sleep_timeout", K_DUR, O(sleep_timeout_ms), 0, NULL, 1000, 0 },
	{ "max_sleeping_sessions", K_UINT, O(max_sleeping_sessions), 0, NULL, 0, 0 },
	{ "max_sleeping_per_user", K_UINT, O(max_sleeping_per_user), 0, NULL, 0, 0 },
	{ "sleeping_lock_file", K_STR, S(sleeping_lock_file), NULL, 0, 0 },
	{ "ssl", K_ENUM, O(ssl), 0, ssl_names, 0, 0 },
	{ "plaintext_auth", K_ENUM, O(plaintext_auth), 0, plaintext_names, 0, 0 },
	{ "loopback_is_local", K_BOOL, O(loopback_is_local), 0, NULL, 0, 0 },
	{ "ssl_cert", K_CERT, 0, 0, NULL, 0, 0 },
	{ "ssl_key", K_KEY, 0, 0, NULL, 0, 0 },
	{ "ssl_min_protocol", K_ENUM, O(ssl_min_protocol), 0, tlsver_names, 0, 0 },
	{ "ssl_ciphers", K_STR, S(ssl_ciphers), NULL, 0, 0 },
	{ "ssl_ciphersuites", K_STR, S(ssl_ciphersuites), NULL, 0, 0 },
	{ "ssl_prefer_server_ciphers", K_BOOL, O(ssl_prefer_server_ciphers), 0, NULL, 0, 0 },
	{ "proxy_trusted", K_NETS, 0, 0, NULL, 0, 0 },
	{ "proxy_timeout", K_DUR, O(proxy_timeout_ms), 0, NULL, 100, 0 },
	{ "postmaster", K_STR, S(postmaster), NULL, 0, 0 },
	{ "recipient_delimiter", K_STR, S(recipient_delimiter), NULL, 0, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int cerr(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int cerr(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->passwd_file, SYSCONFDIR "/postern/passwd");
	strcpy(c->mail_location, "%h/Maildir");
	c->passdb[0] = CONF_PASSDB_FILE;
	c->npassdb = 1;
	strcpy(c->pam_service, "postern");
	c->passdb_timeout_ms = 10000;
	c->passdb_fail_time_ms = 1000;
	c->auth_mechanisms = CONF_MECH_PLAIN | CONF_MECH_LOGIN;
	strcpy(c->postmaster, "postmaster");
	strcpy(c->unpriv_user, "postern");
	strcpy(c->empty_dir, "/run/postern/empty");
	c->first_valid_uid = 500;
	c->first_valid_gid = 1;
	c->timeout_ms = 600000;
	c->login_timeout_ms = 60000;
	c->login_fail_delay_ms = 2000;
	c->max_login_failures = 3;
	c->max_login_commands = 30;
	c->apop = 0;
	c->size_cache = 1;
	c->uidl_import = 1;
	strcpy(c->dovecot_uidl_format, "%08Xu%08Xv");
	c->max_messages = 1000000;
	c->max_mailbox_size = 0;
	c->max_sessions = 1000;
	c->spare_sessions = 2;
	c->max_sessions_per_source = 20;
	c->max_conn_rate_per_source = 120;
	c->listen_backlog = 128;
	c->preauth_memory = 64ULL << 20;
	c->seccomp = 1;
	c->uid_param = 1;
	c->deli = 1;
	c->login_delay = PARSE_DELAY_OFF;
	c->expire = PARSE_EXPIRE_NEVER;
	c->sleeping = 0;
	c->sleep_timeout_ms = 30 * 60000;
	c->max_sleeping_sessions = 100;
	c->max_sleeping_per_user = 2;
	strcpy(c->sleeping_lock_file, "/run/postern/sleeping.lock");
	c->ssl = CONF_SSL_OPTIONAL;
	c->plaintext_auth = CONF_PLAINTEXT_TLS_OR_LOOPBACK;
	c->loopback_is_local = 1;
	c->proxy_timeout_ms = 3000;
	c->ssl_min_protocol = CONF_TLS_V1_2;
	strcpy(c->ssl_ciphers,
	       "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!SHA1");
	strcpy(c->ssl_ciphersuites,
	       "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
	c->ssl_prefer_server_ciphers = 1;
	c->nlisten = 1;
	c->listen[0].port = 110;   /* "*:110": all addresses, IPv4 and IPv6 */
	c->listen[0].ssl = -1;
}

/* One "name=value" option after a listen address: it applies to that
 * address (the one before it on the line). */
static int listen_option(struct listen_addr *l, const char *tok, char *err, size_t cap)
{
	const char *v = strchr(tok, '=') + 1;
	size_t n = (size_t)(v - 1 - tok);
	if (n == 3 && strncmp(tok, "ssl", 3) == 0) {
		if (l->tls)
			return cerr(err, cap, "ssl=: a listen_tls address is always TLS");
		if (strcmp(v, "required") == 0)
			l->ssl = CONF_SSL_REQUIRED;
		else if (strcmp(v, "optional") == 0)
			l->ssl = CONF_SSL_OPTIONAL;
		else
			return cerr(err, cap, "ssl=%s: want ssl=required or ssl=optional", v);
		return 0;
	}
	if (n == 5 && strncmp(tok, "proxy", 5) == 0) {
		if (parse_bool(v, &l->proxy) < 0)
			return cerr(err, cap, "proxy=%s: want proxy=yes or proxy=no", v);
		return 0;
	}
	return cerr(err, cap, "unknown listen option '%s' (ssl=, proxy=)", tok);
}

static int set_listen(struct config *c, const char *value, int tls,
		      char *err, size_t cap)
{
	char buf[512], *tok, *save = NULL;
	int i;
	if (strlen(value) >= sizeof(buf))
		return cerr(err, cap, "listen list too long");
	/* A later line for the same key replaces the earlier one. */
	for (i = 0; i < c->nlisten;) {
		if (c->listen[i].tls == tls) {
			memmove(&c->listen[i], &c->listen[i + 1],
				sizeof(c->listen[0]) * (size_t)(c->nlisten - i - 1));
			c->nlisten--;
		} else {
			i++;
		}
	}
	strcpy(buf, value);
	for (tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		struct listen_addr *l;
		if (strchr(tok, '=')) {
			/* An option of the address before it (set_listen added it
			 * last, so it is c->listen[c->nlisten - 1] of this key). */
			if (c->nlisten == 0 || c->listen[c->nlisten - 1].tls != tls ||
			    tok == buf)
				return cerr(err, cap, "option '%s' before any address", tok);
			if (listen_option(&c->listen[c->nlisten - 1], tok, err, cap) < 0)
				return -1;
			continue;
		}
		if (c->nlisten >= CONF_MAX_LISTEN)
			return cerr(err, cap, "more than %d listen addresses", CONF_MAX_LISTEN);
		l = &c->listen[c->nlisten];
		memset(l, 0, sizeof(*l));
		l->ssl = -1;
		if (parse_hostport(tok, l->host, sizeof(l->host), &l->port) < 0)
			return cerr(err, cap, "bad address '%s' (want host:port, [v6]:port or *:port)", tok);
		l->tls = tls;
		c->nlisten++;
	}
	return 0;
}

static int set_nets(struct config *c, const char *value, char *err, size_t cap)
{
	char buf[1024], *tok, *save = NULL;
	if (strlen(value) >= sizeof(buf))
		return cerr(err, cap, "proxy_trusted: list too long");
	strcpy(buf, value);
	c->nproxy_trusted = 0;     /* a later line replaces the list */
	for (tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		if (c->nproxy_trusted >= CONF_MAX_NETS)
			return cerr(err, cap, "proxy_trusted: more than %d networks", CONF_MAX_NETS);
		if (config_parse_net(tok, &c->proxy_trusted[c->nproxy_trusted]) < 0)
			return cerr(err, cap, "proxy_trusted: bad network '%s' (want e.g. "
				    "10.0.0.0/8, ::1/128 or 192.0.2.7, no host bits past the prefix)", tok);
		c->nproxy_trusted++;
	}
	return 0;
}

enum conf_ssl config_listen_ssl(const struct config *c, const struct listen_addr *l)
{
	return l->ssl >= 0 ? (enum conf_ssl)l->ssl : c->ssl;
}

const struct listen_addr *config_listen_by_port(const struct config *c, unsigned port)
{
	int i;
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].port == port)
			return &c->listen[i];
	return NULL;
}

/* passdb = SOURCE [SOURCE...]: each at most once, tried in this order. */
static int set_passdb(struct config *c, const char *value, char *err, size_t cap)
{
	char buf[256], *tok, *save = NULL;
	int n = 0, i, j, list[CONF_MAX_PASSDB];
	if (strlen(value) >= sizeof(buf))
		return cerr(err, cap, "passdb: value too long");
	strcpy(buf, value);
	for (tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		for (i = 0; passdb_names[i] && strcmp(passdb_names[i], tok) != 0; i++)
			;
		if (!passdb_names[i])
			return cerr(err, cap, "passdb: '%s' is not one of passwd-file, pam, "
				    "checkpassword", tok);
		for (j = 0; j < n; j++)
			if (list[j] == i)
				return cerr(err, cap, "passdb: '%s' given twice", tok);
		list[n++] = i;     /* at most CONF_MAX_PASSDB distinct words */
	}
	if (n == 0)
		return cerr(err, cap, "passdb: name at least one source");
	memcpy(c->passdb, list, sizeof(list[0]) * (size_t)n);
	c->npassdb = n;
	return 0;
}

/* auth_mechanisms = MECH [MECH...], case-insensitive as in Dovecot. */
static int set_mechs(struct config *c, const char *value, char *err, size_t cap)
{
	char buf[256], *tok, *save = NULL;
	unsigned bits = 0;
	size_t i;
	if (strlen(value) >= sizeof(buf))
		return cerr(err, cap, "auth_mechanisms: value too long");
	strcpy(buf, value);
	for (tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
		for (i = 0; i < NMECHS && strcasecmp(mech_names[i].name, tok) != 0; i++)
			;
		if (i == NMECHS)
			return cerr(err, cap, "auth_mechanisms: '%s' is not one of plain, login, "
				    "scram-sha-256, scram-sha-256-plus", tok);
		bits |= mech_names[i].bit;
	}
	c->auth_mechanisms = bits;
	return 0;
}

int config_has_passdb(const struct config *c, int source)
{
	int i;
	for (i = 0; i < c->npassdb; i++)
		if (c->passdb[i] == source)
			return 1;
	return 0;
}

/* K_ENUM: the index of v in names, or -1; the list of names for errors. */
static int enum_index(const char *v, const char *const *names)
{
	int i;
	for (i = 0; names[i]; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return -1;
}

static const char *enum_list(const char *const *names, char *buf, size_t cap)
{
	size_t n = 0;
	int i;
	buf[0] = '\0';
	for (i = 0; names[i] && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "|" : "", names[i]);
	return buf;
}

static const struct key *find_key(const char *name)
{
	size_t i;
	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t cap)
{
	char *base = (char *)c;
	uint64_t u;
	const struct key *k = find_key(key);
	if (!k)
		return cerr(err, cap, "unknown key '%s'", key);
	switch (k->type) {
	case K_STR:
		if (strlen(value) >= k->cap)
			return cerr(err, cap, "%s: value too long", key);
		if (k->off == O(dovecot_uidl_format)) {
			const char *why;
			if (uidl_format_check(value, &why) < 0)
				return cerr(err, cap, "%s: '%s': %s", key, value, why);
		}
		strcpy(base + k->off, value);
		return 0;
	case K_ENUM: {
		char list[128];
		int e = enum_index(value, k->names);
		if (e < 0)
			return cerr(err, cap, "%s: '%s' is not one of %s", key, value,
				    enum_list(k->names, list, sizeof(list)));
		*(int *)(base + k->off) = e;
		return 0;
	}
	case K_DUR:
		if (parse_duration_ms(value, &u) < 0)
			return cerr(err, cap, "%s: bad duration '%s' (e.g. 10m, 30s, 500ms)", key, value);
		/* Range checks here, where the line is known. */
		if (u < k->min)
			return cerr(err, cap, "%s: must be at least %llus", key,
				    (unsigned long long)(k->min / 1000));
		*(uint64_t *)(base + k->off) = u;
		return 0;
	case K_UINT:
		if (parse_decimal(value, strlen(value), 0x7fffffff, &u) < 0)
			return cerr(err, cap, "%s: bad number '%s'", key, value);
		if (u < k->min)
			return cerr(err, cap, "%s: must be at least %llu", key,
				    (unsigned long long)k->min);
		if (k->max && u > k->max)
			return cerr(err, cap, "%s: must be at most %llu", key,
				    (unsigned long long)k->max);
		*(unsigned *)(base + k->off) = (unsigned)u;
		return 0;
	case K_UID:
	case K_GID:
		if (parse_decimal(value, strlen(value), 0x7fffffff, &u) < 0)
			return cerr(err, cap, "%s: bad id '%s'", key, value);
		if (k->type == K_UID)
			*(uid_t *)(base + k->off) = (uid_t)u;
		else
			*(gid_t *)(base + k->off) = (gid_t)u;
		return 0;
	case K_SIZE:
		if (parse_size(value, &u) < 0)
			return cerr(err, cap, "%s: bad size '%s' (e.g. 100000, 64M)", key, value);
		*(uint64_t *)(base + k->off) = u;
		return 0;
	case K_BOOL:
		if (parse_bool(value, (int *)(base + k->off)) < 0)
			return cerr(err, cap, "%s: '%s' is not yes or no", key, value);
		return 0;
	case K_DELAY:
		if (parse_login_delay(value, 1, (long *)(base + k->off)) < 0)
			return cerr(err, cap, "%s: '%s' is not off or a duration in whole seconds "
				    "up to 366d", key, value);
		return 0;
	case K_EXPIRE:
		if (parse_expire(value, 1, (long *)(base + k->off)) < 0)
			return cerr(err, cap, "%s: '%s' is not off, never or a number of days "
				    "up to %ld", key, value, PARSE_EXPIRE_MAX);
		return 0;
	case K_LISTEN:
		return set_listen(c, value, (int)k->off, err, cap);
	case K_NETS:
		return set_nets(c, value, err, cap);
	case K_PASSDB:
		return set_passdb(c, value, err, cap);
	case K_MECHS:
		return set_mechs(c, value, err, cap);
	case K_CERT:
		if (c->ncerts >= CONF_MAX_CERTS)
			return cerr(err, cap, "more than %d certificates", CONF_MAX_CERTS);
		if (strlen(value) >= sizeof(c->certs[0].cert) || value[0] != '/')
			return cerr(err, cap, "ssl_cert: want an absolute path");
		strcpy(c->certs[c->ncerts++].cert, value);
		return 0;
	case K_KEY:
		if (c->ncerts == 0 || c->certs[c->ncerts - 1].key[0])
			return cerr(err, cap, "ssl_key must follow its ssl_cert");
		if (strlen(value) >= sizeof(c->certs[0].key) || value[0] != '/')
			return cerr(err, cap, "ssl_key: want an absolute path");
		strcpy(c->certs[c->ncerts - 1].key, value);
		return 0;
	}
	return cerr(err, cap, "internal: key type");
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* s is what follows the '='.  A '#' that begins a word (the value's
 * first, or after a blank) starts a comment (Dovecot style: "timeout =
 * 10m  # ten minutes"); one inside a word ("%h/Mail#box") is part of the
 * value.  So no value that loads holds a word-starting '#', and
 * config_print's output loads back to the same settings. */
static void strip_comment(char *s)
{
	char *p;
	for (p = s; *p; p++)
		if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
}

/* Keys a file may give more than once on purpose (one pair per certificate). */
static int repeatable(const struct key *k)
{
	return k->type == K_CERT || k->type == K_KEY;
}

int config_load_warn(struct config *c, const char *path, char *err, size_t cap,
		     void (*warn)(void *arg, const char *msg), void *arg)
{
	FILE *f = fopen(path, "re");
	char line[1024], msg[512];
	unsigned lineno = 0, seen[NKEYS] = { 0 };
	if (!f)
		return cerr(err, cap, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *key, *eq, *value;
		size_t i;
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fclose(f);
			return cerr(err, cap, "%s:%u: line too long", path, lineno);
		}
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			fclose(f);
			return cerr(err, cap, "%s:%u: expected 'key = value'", path, lineno);
		}
		*eq = '\0';
		strip_comment(eq + 1);
		value = trim(eq + 1);
		key = trim(key);
		if (config_set(c, key, value, msg, sizeof(msg)) < 0) {
			fclose(f);
			return cerr(err, cap, "%s:%u: %s", path, lineno, msg);
		}
		i = (size_t)(find_key(key) - keys);    /* config_set found it */
		if (!repeatable(&keys[i])) {
			if (seen[i] && warn) {
				snprintf(msg, sizeof(msg), "%s:%u: %s is also set on line %u; "
					 "the later value wins", path, lineno, key, seen[i]);
				warn(arg, msg);
			}
			seen[i] = lineno;
		}
	}
	if (ferror(f)) {
		int e = errno;
		fclose(f);
		return cerr(err, cap, "%s: read error: %s", path, strerror(e));
	}
	fclose(f);
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t cap)
{
	return config_load_warn(c, path, err, cap, NULL, NULL);
}

unsigned config_tls_port(const struct config *c)
{
	int i;
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].tls)
			return c->listen[i].port;
	return 0;
}

int config_check(const struct config *c, char *err, size_t cap)
{
	int i;
	if (c->passwd_file[0] != '/')
		return cerr(err, cap, "passwd_file must be an absolute path");
	if (c->empty_dir[0] != '/')
		return cerr(err, cap, "empty_dir must be an absolute path");
	if (c->first_valid_uid == 0)
		return cerr(err, cap, "first_valid_uid must not be 0");
	if (c->first_valid_gid == 0)
		return cerr(err, cap, "first_valid_gid must not be 0");
	for (i = 0; i < c->ncerts; i++)
		if (!c->certs[i].key[0])
			return cerr(err, cap, "ssl_cert %s has no ssl_key", c->certs[i].cert);
	for (i = 0; i < c->nlisten; i++) {
		if (c->listen[i].tls && c->ncerts == 0)
			return cerr(err, cap, "listen_tls needs ssl_cert and ssl_key");
		if (c->listen[i].tls && c->ssl == CONF_SSL_OFF)
			return cerr(err, cap, "listen_tls cannot be used with ssl = off");
		if (c->listen[i].ssl >= 0 && c->ssl == CONF_SSL_OFF)
			return cerr(err, cap, "listen %s:%u: ssl= needs the global ssl not off",
				    c->listen[i].host[0] ? c->listen[i].host : "*", c->listen[i].port);
		if (c->listen[i].ssl == CONF_SSL_REQUIRED && c->ncerts == 0)
			return cerr(err, cap, "listen %s:%u: ssl=required needs ssl_cert and ssl_key",
				    c->listen[i].host[0] ? c->listen[i].host : "*", c->listen[i].port);
		if (c->listen[i].proxy && c->nproxy_trusted == 0)
			return cerr(err, cap, "listen %s:%u: proxy=yes needs proxy_trusted",
				    c->listen[i].host[0] ? c->listen[i].host : "*", c->listen[i].port);
	}
	if (c->ssl == CONF_SSL_REQUIRED && c->ncerts == 0)
		return cerr(err, cap, "ssl = required needs ssl_cert and ssl_key");
	/* Sleeping sessions count towards max_sessions: they must not be
	 * able to take all of it. */
	if (c->sleeping && c->max_sessions &&
	    (c->max_sleeping_sessions == 0 || c->max_sleeping_sessions >= c->max_sessions))
		return cerr(err, cap, "sleeping = yes needs max_sleeping_sessions between 1 and "
			    "max_sessions - 1 (%u)", c->max_sessions - 1);
	if (c->sleeping && c->max_sleeping_sessions && c->sleeping_lock_file[0] != '/')
		return cerr(err, cap, "sleeping_lock_file must be an absolute path");
	/* WAKE checks the account in the passwd file again (monparent.c);
	 * an account PAM or checkpassword vouched for is not there. */
	if (c->sleeping && (c->npassdb != 1 || c->passdb[0] != CONF_PASSDB_FILE))
		return cerr(err, cap, "sleeping = yes needs passdb = passwd-file alone (WAKE "
			    "checks the account in the passwd file again)");
	if (config_has_passdb(c, CONF_PASSDB_CHECKPASSWORD) && c->checkpassword[0] != '/')
		return cerr(err, cap, "passdb checkpassword needs checkpassword = an absolute path");
	if (!config_has_passdb(c, CONF_PASSDB_FILE)) {
		/* SCRAM and APOP need a secret stored for the user; only the
		 * passwd file holds one. */
		if (c->auth_mechanisms & (CONF_MECH_SCRAM | CONF_MECH_SCRAM_PLUS))
			return cerr(err, cap, "auth_mechanisms: SCRAM needs passwd-file among the "
				    "passdb sources (PAM and checkpassword hold no SCRAM secrets)");
		if (c->apop)
			return cerr(err, cap, "apop needs passwd-file among the passdb sources");
	}
	return 0;
}

static void print_listen(const struct config *c, FILE *out, int tls)
{
	int i, first = 1;
	fprintf(out, "%s =", tls ? "listen_tls" : "listen");
	for (i = 0; i < c->nlisten; i++) {
		const struct listen_addr *l = &c->listen[i];
		if (l->tls != tls)
			continue;
		if (!l->host[0])
			fprintf(out, "%s*:%u", first ? " " : ", ", l->port);
		else if (strchr(l->host, ':'))
			fprintf(out, "%s[%s]:%u", first ? " " : ", ", l->host, l->port);
		else
			fprintf(out, "%s%s:%u", first ? " " : ", ", l->host, l->port);
		if (l->ssl >= 0)
			fprintf(out, " ssl=%s", ssl_names[l->ssl]);
		if (l->proxy)
			fprintf(out, " proxy=yes");
		first = 0;
	}
	fputc('\n', out);
}

static void print_nets(const struct config *c, FILE *out)
{
	int i;
	fprintf(out, "proxy_trusted =");
	for (i = 0; i < c->nproxy_trusted; i++) {
		char a[INET6_ADDRSTRLEN];
		const struct conf_net *n = &c->proxy_trusted[i];
		if (!inet_ntop(n->family, n->addr, a, sizeof(a)))
			strcpy(a, "?");
		fprintf(out, " %s/%u", a, n->prefix);
	}
	fputc('\n', out);
}

static void print_dur(FILE *out, const char *k, uint64_t ms)
{
	if (ms % 1000)
		fprintf(out, "%s = %llums\n", k, (unsigned long long)ms);
	else
		fprintf(out, "%s = %llus\n", k, (unsigned long long)(ms / 1000));
}

void config_print(const struct config *c, FILE *out)
{
	size_t i;
	int j;
	const char *base = (const char *)c;
	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		switch (k->type) {
		case K_STR:
			fprintf(out, "%s = %s\n", k->name, base + k->off);
			break;
		case K_ENUM:
			fprintf(out, "%s = %s\n", k->name, k->names[*(const int *)(base + k->off)]);
			break;
		case K_DUR:
			print_dur(out, k->name, *(const uint64_t *)(base + k->off));
			break;
		case K_UINT:
			fprintf(out, "%s = %u\n", k->name, *(const unsigned *)(base + k->off));
			break;
		case K_UID:
			fprintf(out, "%s = %lu\n", k->name, (unsigned long)*(const uid_t *)(base + k->off));
			break;
		case K_GID:
			fprintf(out, "%s = %lu\n", k->name, (unsigned long)*(const gid_t *)(base + k->off));
			break;
		case K_SIZE:
			fprintf(out, "%s = %llu\n", k->name, (unsigned long long)*(const uint64_t *)(base + k->off));
			break;
		case K_BOOL:
			fprintf(out, "%s = %s\n", k->name, *(const int *)(base + k->off) ? "yes" : "no");
			break;
		case K_DELAY: {
			long v = *(const long *)(base + k->off);
			if (v == PARSE_DELAY_OFF)
				fprintf(out, "%s = off\n", k->name);
			else
				fprintf(out, "%s = %lds\n", k->name, v);
			break;
		}
		case K_EXPIRE: {
			long v = *(const long *)(base + k->off);
			if (v == PARSE_EXPIRE_OFF || v == PARSE_EXPIRE_NEVER)
				fprintf(out, "%s = %s\n", k->name, v == PARSE_EXPIRE_OFF ? "off" : "never");
			else
				fprintf(out, "%s = %ld\n", k->name, v);
			break;
		}
		case K_LISTEN:
			print_listen(c, out, (int)k->off);
			break;
		case K_CERT:
			for (j = 0; j < c->ncerts; j++)
				fprintf(out, "ssl_cert = %s\nssl_key = %s\n",
					c->certs[j].cert, c->certs[j].key);
			break;
		case K_KEY:
			break;
		case K_NETS:
			print_nets(c, out);
			break;
		case K_PASSDB:
			fprintf(out, "%s =", k->name);
			for (j = 0; j < c->npassdb; j++)
				fprintf(out, " %s", passdb_names[c->passdb[j]]);
			fputc('\n', out);
			break;
		case K_MECHS:
			fprintf(out, "%s =", k->name);
			for (j = 0; j < (int)NMECHS; j++)
				if (c->auth_mechanisms & mech_names[j].bit)
					fprintf(out, " %s", mech_names[j].name);
			fputc('\n', out);
			break;
		}
	}
}
