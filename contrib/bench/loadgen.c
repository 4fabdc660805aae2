/* loadgen.c - POP3 load generator and response validator for the postern
 * benchmark (contrib/bench).  Runs as an ordinary client process; plain
 * sockets plus OpenSSL for implicit TLS; one thread per concurrent client.
 *
 * Every response is validated, so a broken server cannot look fast:
 *   - status lines are "+OK" or "-ERR" ending in CRLF; -ERR is a failure
 *   - multi-line replies are read to the terminating "." line and
 *     un-dot-stuffed; every line must end in CRLF
 *   - STAT, LIST and UIDL must agree (count, total octets, numbering)
 *   - RETR octets (CRLF line ends, before dot-stuffing, including the final
 *     CRLF) must equal the size LIST gave for that message
 *   - with --manifest (written by genmaildir.py) each UIDL must be known and
 *     its LIST size must equal the generator's; with --md5 the un-stuffed
 *     RETR content must hash to the generator's MD5
 *
 * Modes (see usage()):  login poll retrall retr idle loopback
 * Output: "RESULT key=value ..." on stdout (one line), diagnostics on stderr.
 * Exit status: 0 all good, 1 any validation or I/O failure, 2 usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define RBUF_SIZE (256 * 1024)
#define MAX_REPORTED_FAILURES 20

/* ---------- options ---------- */
static const char *o_host = "127.0.0.1";
static int o_port = 110;
static int o_tls;
static double o_timeout = 60.0;        /* per I/O operation, seconds */
static const char *o_user = "u%03d";   /* printf pattern with one %d, or a name */
static const char *o_pass = "benchpass";
static int o_nusers = 1;
static int o_conc = 1;
static double o_duration = 5.0;        /* login: stop starting sessions after */
static long o_max_sessions = 1000000;  /* login: and after this many */
static int o_sessions = 1;             /* poll: sequential sessions */
static const char *o_manifest;
static int o_md5;
static long o_msgno = 1;
static double o_hold = 600.0;          /* idle: max seconds to hold */
static int o_sleep = 0;                /* idle: SLEE after STAT (postern's SLEEPING) */
static double o_linger;                /* retr: pause before QUIT (memory sampling) */
static int o_pipeline = 1;             /* retrall: RETRs in flight (RFC 2449 PIPELINING) */
static const char *o_src;              /* loopback: source message file */
static const char *o_cert, *o_key;     /* loopback --tls: server side */
static int o_verbose;
static int o_resume;                   /* --resume: offer the last session's ticket */
static int o_tls12;                    /* --tls12: TLS 1.2 at most */
static atomic_long g_resumed;          /* handshakes that resumed a session */

/* ---------- failure accounting ---------- */
static atomic_long g_failures;
static pthread_mutex_t g_errlock = PTHREAD_MUTEX_INITIALIZER;

static void
sanitize(char *dst, size_t dstsz, const char *src, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; i < len && j + 5 < dstsz; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '\r') { dst[j++] = '\\'; dst[j++] = 'r'; }
		else if (ch == '\n') { dst[j++] = '\\'; dst[j++] = 'n'; }
		else if (ch < 0x20 || ch > 0x7e)
			j += (size_t)snprintf(dst + j, dstsz - j, "\\x%02x", ch);
		else dst[j++] = (char)ch;
	}
	if (len > 0 && j + 5 >= dstsz) { dst[j++] = '.'; dst[j++] = '.'; dst[j++] = '.'; }
	dst[j] = 0;
}

static void
report_failure(const char *fmt, ...)
{
	long n = atomic_fetch_add(&g_failures, 1) + 1;
	if (n > MAX_REPORTED_FAILURES) {
		if (n == MAX_REPORTED_FAILURES + 1) {
			pthread_mutex_lock(&g_errlock);
			fprintf(stderr, "FAIL: (further failures not shown)\n");
			pthread_mutex_unlock(&g_errlock);
		}
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&g_errlock);
	fputs("FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&g_errlock);
	va_end(ap);
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -v: per-command timing trace on stderr (for latency diagnosis) */
static double g_t0;

static void
trace(const char *dir, const char *text, size_t len)
{
	if (!o_verbose) return;
	char s[200];
	sanitize(s, sizeof s, text, len);
	pthread_mutex_lock(&g_errlock);
	fprintf(stderr, "%9.3f ms %s %s\n", (now() - g_t0) * 1000.0, dir, s);
	pthread_mutex_unlock(&g_errlock);
}

/* ---------- manifest ---------- */
struct mentry { char *key; uint64_t size; unsigned char md5[16]; int has_md5; };
static struct mentry *g_man;
static size_t g_man_cap, g_man_n;

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
	return h;
}

/* The manifest key of a UIDL or file name: the part before ',' or ':'. */
static size_t
keylen(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == ':') return i;
	return n;
}

static const struct mentry *
man_find(const char *k, size_t n)
{
	if (!g_man) return NULL;
	n = keylen(k, n);
	size_t i = fnv1a(k, n) & (g_man_cap - 1);
	while (g_man[i].key) {
		if (strlen(g_man[i].key) == n && memcmp(g_man[i].key, k, n) == 0)
			return &g_man[i];
		i = (i + 1) & (g_man_cap - 1);
	}
	return NULL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static void
man_load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) { fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno)); exit(2); }
	size_t lines = 0;
	int ch;
	while ((ch = getc(f)) != EOF) if (ch == '\n') lines++;
	rewind(f);
	g_man_cap = 16;
	while (g_man_cap < lines * 2 + 16) g_man_cap <<= 1;
	g_man = calloc(g_man_cap, sizeof *g_man);
	if (!g_man) { perror("calloc"); exit(2); }
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		char key[512], md5[64] = "";
		unsigned long long size;
		int k = sscanf(line, "%511s %llu %63s", key, &size, md5);
		if (k < 2) continue;
		size_t n = keylen(key, strlen(key));
		key[n] = 0;
		size_t i = fnv1a(key, n) & (g_man_cap - 1);
		while (g_man[i].key) i = (i + 1) & (g_man_cap - 1);
		g_man[i].key = strdup(key);
		g_man[i].size = size;
		if (k == 3 && strlen(md5) == 32) {
			g_man[i].has_md5 = 1;
			for (int j = 0; j < 16; j++)
				g_man[i].md5[j] = (unsigned char)(hexval(md5[2 * j]) << 4 | hexval(md5[2 * j + 1]));
		}
		g_man_n++;
	}
	fclose(f);
}

/* ---------- connections ---------- */
static SSL_CTX *g_cli_ctx;
static char g_cipher[96];  /* first negotiated version/cipher, for RESULT */

struct conn {
	int fd;
	SSL *ssl;
	char *buf;
	size_t start, end;
	char ctx[160];        /* "user u003 @ port 1110" for messages */
	char last[160];       /* last command sent, sanitized */
	SSL_SESSION *sess;    /* --resume: the previous connection's session */
};

static void
conn_init(struct conn *c, const char *who)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->buf = malloc(RBUF_SIZE);
	if (!c->buf) { perror("malloc"); exit(2); }
	snprintf(c->ctx, sizeof c->ctx, "%s @ %s:%d%s", who, o_host, o_port, o_tls ? " tls" : "");
	strcpy(c->last, "(connect)");
}

static void
conn_close(struct conn *c)
{
	if (c->ssl && o_resume) {
		/* keep the newest resumable session (a TLS 1.3 ticket arrives
		 * after the handshake, read with the replies) */
		SSL_SESSION *s = SSL_get1_session(c->ssl);
		if (s && SSL_SESSION_is_resumable(s)) {
			SSL_SESSION_free(c->sess);
			c->sess = s;
		} else {
			SSL_SESSION_free(s);
		}
	}
	if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
	if (c->fd >= 0) { close(c->fd); c->fd = -1; }
	c->start = c->end = 0;
}

static void
conn_free(struct conn *c)
{
	conn_close(c);
	SSL_SESSION_free(c->sess);
	c->sess = NULL;
	free(c->buf);
	c->buf = NULL;
}

static void
set_timeouts(int fd)
{
	struct timeval tv = { (time_t)o_timeout, (suseconds_t)((o_timeout - (double)(time_t)o_timeout) * 1e6) };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
ssl_errstr(char *out, size_t n)
{
	unsigned long e = ERR_get_error();
	if (e) ERR_error_string_n(e, out, n);
	else snprintf(out, n, "%s", errno ? strerror(errno) : "EOF");
	ERR_clear_error();
}

static int
conn_open(struct conn *c)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o_port);
	if (inet_pton(AF_INET, o_host, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadgen: bad host %s (IPv4 literal expected)\n", o_host);
		exit(2);
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) { report_failure("%s: socket: %s", c->ctx, strerror(errno)); return -1; }
	set_timeouts(c->fd);
	trace("--", "connect", 7);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		report_failure("%s: connect: %s", c->ctx, strerror(errno));
		conn_close(c);
		return -1;
	}
	if (o_tls) {
		c->ssl = SSL_new(g_cli_ctx);
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_tlsext_host_name(c->ssl, "localhost");
		if (o_resume && c->sess)
			SSL_set_session(c->ssl, c->sess);
		errno = 0;
		if (SSL_connect(c->ssl) != 1) {
			char e[256];
			ssl_errstr(e, sizeof e);
			report_failure("%s: TLS handshake: %s", c->ctx, e);
			conn_close(c);
			return -1;
		}
		if (SSL_session_reused(c->ssl))
			atomic_fetch_add(&g_resumed, 1);
		const char *v = SSL_get_version(c->ssl), *ci = SSL_get_cipher_name(c->ssl);
		if (!g_cipher[0]) snprintf(g_cipher, sizeof g_cipher, "%s/%s", v, ci);
		char t[160];
		snprintf(t, sizeof t, "TLS done: %s %s", v, ci);
		trace("--", t, strlen(t));
	}
	return 0;
}

/* Read more bytes into the buffer.  Returns bytes read, 0 on EOF, -1 error. */
static ssize_t
conn_fill(struct conn *c)
{
	if (c->start == c->end) c->start = c->end = 0;
	if (c->end == RBUF_SIZE) {
		if (c->start == 0) return -2; /* full */
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	size_t room = RBUF_SIZE - c->end;
	ssize_t n;
	if (c->ssl) {
		errno = 0;
		int r = SSL_read(c->ssl, c->buf + c->end, (int)(room > INT32_MAX ? INT32_MAX : room));
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN) return 0;
			if (e == SSL_ERROR_SYSCALL && errno == 0) return 0;
			if (e == SSL_ERROR_SSL) {
				unsigned long le = ERR_peek_error();
				if (ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING) { ERR_clear_error(); return 0; }
			}
			return -1;
		}
		n = r;
	} else {
		do n = read(c->fd, c->buf + c->end, room); while (n < 0 && errno == EINTR);
		if (n < 0) return -1;
	}
	c->end += (size_t)n;
	return n;
}

static int
conn_write(struct conn *c, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n;
		if (c->ssl) {
			int r = SSL_write(c->ssl, p, (int)(len > (1 << 30) ? (1 << 30) : len));
			if (r <= 0) return -1;
			n = r;
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR) continue;
			if (n < 0) return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *
io_err(struct conn *c, ssize_t r)
{
	static __thread char e[256];
	if (r == 0) return "connection closed by server";
	if (r == -2) return "line longer than 256 KiB";
	if (c->ssl) { ssl_errstr(e, sizeof e); return e; }
	if (errno == EAGAIN || errno == EWOULDBLOCK) return "timeout";
	return strerror(errno);
}

/* Read one line; line and len exclude the CRLF.  Enforces CRLF. */
static int
read_line(struct conn *c, char **line, size_t *len, const char *what)
{
	for (;;) {
		char *p = c->buf + c->start;
		char *nl = memchr(p, '\n', c->end - c->start);
		if (nl) {
			size_t l = (size_t)(nl - p);
			c->start += l + 1;
			if (l == 0 || p[l - 1] != '\r') {
				char s[300];
				sanitize(s, sizeof s, p, l + 1);
				report_failure("%s: after %s: %s line not ending in CRLF: \"%s\"", c->ctx, c->last, what, s);
				return -1;
			}
			*line = p;
			*len = l - 1;
			p[l - 1] = 0;
			return 0;
		}
		ssize_t r = conn_fill(c);
		if (r <= 0) {
			report_failure("%s: after %s: reading %s: %s", c->ctx, c->last, what, io_err(c, r));
			return -1;
		}
	}
}

static int
send_cmd(struct conn *c, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(cmd, sizeof cmd - 2, fmt, ap);
	va_end(ap);
	if (strncmp(cmd, "PASS ", 5) == 0) snprintf(c->last, sizeof c->last, "\"PASS ****\"");
	else { char s[140]; sanitize(s, sizeof s, cmd, (size_t)n); snprintf(c->last, sizeof c->last, "\"%s\"", s); }
	trace("C:", c->last, strlen(c->last));
	cmd[n++] = '\r';
	cmd[n++] = '\n';
	if (conn_write(c, cmd, (size_t)n) < 0) {
		report_failure("%s: sending %s: %s", c->ctx, c->last, io_err(c, -1));
		return -1;
	}
	return 0;
}

/* Read a status line and require +OK.  *rest gets the text after "+OK". */
static int
expect_ok(struct conn *c, char **rest)
{
	char *line;
	size_t len;
	if (read_line(c, &line, &len, "status") < 0) return -1;
	trace("S:", line, len);
	if (len >= 3 && memcmp(line, "+OK", 3) == 0 && (len == 3 || line[3] == ' ')) {
		if (rest) *rest = line + (len > 3 ? 4 : 3);
		return 0;
	}
	char s[300];
	sanitize(s, sizeof s, line, len);
	if (len >= 4 && memcmp(line, "-ERR", 4) == 0)
		report_failure("%s: %s -> \"%s\"", c->ctx, c->last, s);
	else
		report_failure("%s: %s -> malformed status line \"%s\"", c->ctx, c->last, s);
	return -1;
}

/* Strict decimal: digits only, no sign, no overflow. */
static int
parse_u64(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	if (*p < '0' || *p > '9') return -1;
	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10) return -1;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	*pp = p;
	*out = v;
	return 0;
}

/* ---------- multi-line streaming parser (RETR/TOP) ---------- */
struct mlstate {
	int bol;         /* at beginning of line */
	int dot;         /* 0, 1 after a leading '.', 2 after ".\r" */
	char lastc;
	int done;
	int error;
	uint64_t octets; /* un-stuffed octets, CRLF included */
	EVP_MD_CTX *md;
	char errmsg[200];
};

static void
ml_hash(struct mlstate *m, const char *p, size_t n)
{
	if (m->md && n) EVP_DigestUpdate(m->md, p, n);
}

/* Consume bytes; returns how many were consumed (stops after the
 * terminating ".CRLF").  Lines must end in CRLF. */
static size_t
ml_feed(struct mlstate *m, const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;
	while (p < end && !m->done && !m->error) {
		if (m->bol) {
			if (m->dot == 0) {
				if (*p == '.') { m->dot = 1; p++; continue; }
				m->bol = 0;
			} else if (m->dot == 1) {
				if (*p == '\r') { m->dot = 2; p++; continue; }
				if (*p == '\n') {
					snprintf(m->errmsg, sizeof m->errmsg, "bare LF after leading '.' at octet %" PRIu64, m->octets);
					m->error = 1;
					break;
				}
				/* dot-stuffed line: the leading '.' was stuffing */
				m->dot = 0;
				m->bol = 0;
			} else { /* ".\r" seen */
				if (*p == '\n') { m->done = 1; p++; break; }
				/* ".\r<x>": stuffing dot, then content "\r<x>" */
				m->octets += 1;
				ml_hash(m, "\r", 1);
				m->lastc = '\r';
				m->dot = 0;
				m->bol = 0;
			}
		}
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			m->octets += (uint64_t)(end - p);
			ml_hash(m, p, (size_t)(end - p));
			m->lastc = end[-1];
			p = end;
			break;
		}
		char prev = nl > p ? nl[-1] : m->lastc;
		if (prev != '\r') {
			snprintf(m->errmsg, sizeof m->errmsg, "bare LF (line not ending in CRLF) at octet %" PRIu64,
				 m->octets + (uint64_t)(nl - p));
			m->error = 1;
			break;
		}
		m->octets += (uint64_t)(nl + 1 - p);
		ml_hash(m, p, (size_t)(nl + 1 - p));
		m->lastc = '\n';
		m->bol = 1;
		p = nl + 1;
	}
	return (size_t)(p - buf);
}

/* Read a multi-line body after its +OK line, validating it. */
static int
read_body(struct conn *c, uint64_t *octets, unsigned char *md5out)
{
	struct mlstate m;
	memset(&m, 0, sizeof m);
	m.bol = 1;
	if (md5out) {
		m.md = EVP_MD_CTX_new();
		EVP_DigestInit_ex(m.md, EVP_md5(), NULL);
	}
	int rc = 0;
	for (;;) {
		if (c->start < c->end) {
			size_t used = ml_feed(&m, c->buf + c->start, c->end - c->start);
			c->start += used;
			if (m.error) {
				report_failure("%s: %s -> body: %s", c->ctx, c->last, m.errmsg);
				rc = -1;
				break;
			}
			if (m.done) break;
		}
		ssize_t r = conn_fill(c);
		if (r <= 0) {
			report_failure("%s: %s -> body after %" PRIu64 " octets: %s", c->ctx, c->last, m.octets, io_err(c, r));
			rc = -1;
			break;
		}
	}
	if (md5out && m.md) {
		unsigned int l = 16;
		EVP_DigestFinal_ex(m.md, md5out, &l);
	}
	if (m.md) EVP_MD_CTX_free(m.md);
	*octets = m.octets;
	return rc;
}

/* ---------- POP3 session helpers ---------- */
struct msginfo { uint64_t size; char *uidl; };

struct session {
	struct conn c;
	char user[128];
	uint64_t stat_n, stat_octets;
	struct msginfo *msgs;  /* 1-based, n+1 entries */
	uint64_t nmsgs;
};

static void
sess_reset(struct session *s)
{
	if (s->msgs) {
		for (uint64_t i = 0; i <= s->nmsgs; i++) free(s->msgs[i].uidl);
		free(s->msgs);
	}
	s->msgs = NULL;
	s->nmsgs = 0;
}

static void
user_name(char *out, size_t n, int idx)
{
	if (strchr(o_user, '%')) snprintf(out, n, o_user, idx);
	else snprintf(out, n, "%s", o_user);
}

static int
pop_login(struct session *s)
{
	struct conn *c = &s->c;
	if (conn_open(c) < 0) return -1;
	strcpy(c->last, "(greeting)");
	if (expect_ok(c, NULL) < 0) return -1;
	if (send_cmd(c, "USER %s", s->user) < 0 || expect_ok(c, NULL) < 0) return -1;
	if (send_cmd(c, "PASS %s", o_pass) < 0 || expect_ok(c, NULL) < 0) return -1;
	return 0;
}

static int
pop_stat(struct session *s)
{
	char *rest;
	struct conn *c = &s->c;
	if (send_cmd(c, "STAT") < 0 || expect_ok(c, &rest) < 0) return -1;
	const char *p = rest;
	if (parse_u64(&p, &s->stat_n) < 0 || *p++ != ' ' || parse_u64(&p, &s->stat_octets) < 0 ||
	    (*p != 0 && *p != ' ')) {
		report_failure("%s: STAT -> malformed \"+OK %s\"", c->ctx, rest);
		return -1;
	}
	return 0;
}

static void
ensure_msgs(struct session *s)
{
	if (!s->msgs) {
		s->nmsgs = s->stat_n;
		s->msgs = calloc(s->nmsgs + 1, sizeof *s->msgs);
		if (!s->msgs) { perror("calloc"); exit(2); }
	}
}

/* LIST or UIDL with no argument; validates numbering and counts. */
static int
pop_list_uidl(struct session *s, int uidl)
{
	struct conn *c = &s->c;
	ensure_msgs(s);
	if (send_cmd(c, uidl ? "UIDL" : "LIST") < 0 || expect_ok(c, NULL) < 0) return -1;
	uint64_t expect = 1, total = 0;
	int bad = 0;
	for (;;) {
		char *line;
		size_t len;
		if (read_line(c, &line, &len, uidl ? "UIDL" : "LIST") < 0) return -1;
		if (len == 1 && line[0] == '.') break;
		if (bad) continue; /* drain to the end */
		char s0[200];
		const char *p = line;
		uint64_t num, size = 0;
		if (line[0] == '.') { p++; } /* dot-stuffed (should not happen) */
		if (parse_u64(&p, &num) < 0 || *p++ != ' ') goto malformed;
		if (num != expect) {
			sanitize(s0, sizeof s0, line, len);
			report_failure("%s: %s -> expected message %" PRIu64 ", got line \"%s\"", c->ctx, c->last, expect, s0);
			bad = 1;
			continue;
		}
		if (num > s->nmsgs) {
			sanitize(s0, sizeof s0, line, len);
			report_failure("%s: %s -> more messages than STAT's %" PRIu64 ": \"%s\"", c->ctx, c->last, s->nmsgs, s0);
			bad = 1;
			continue;
		}
		if (uidl) {
			size_t ul = strlen(p);
			int okc = ul >= 1 && ul <= 70;
			for (size_t i = 0; okc && i < ul; i++)
				if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e) okc = 0;
			if (!okc) goto malformed;
			free(s->msgs[num].uidl);
			s->msgs[num].uidl = strdup(p);
		} else {
			if (parse_u64(&p, &size) < 0 || (*p != 0 && *p != ' ')) goto malformed;
			s->msgs[num].size = size;
			total += size;
		}
		expect++;
		continue;
malformed:
		sanitize(s0, sizeof s0, line, len);
		report_failure("%s: %s -> malformed line \"%s\"", c->ctx, c->last, s0);
		bad = 1;
	}
	if (bad) return -1;
	if (expect - 1 != s->stat_n) {
		report_failure("%s: %s -> %" PRIu64 " lines, STAT said %" PRIu64, c->ctx, c->last, expect - 1, s->stat_n);
		return -1;
	}
	if (!uidl && total != s->stat_octets) {
		report_failure("%s: LIST sizes sum to %" PRIu64 ", STAT said %" PRIu64, c->ctx, total, s->stat_octets);
		return -1;
	}
	return 0;
}

/* Cross-checks once both UIDL and LIST are known. */
static int
check_uidls(struct session *s)
{
	struct conn *c = &s->c;
	int rc = 0;
	if (g_man) {
		for (uint64_t i = 1; i <= s->nmsgs; i++) {
			const char *u = s->msgs[i].uidl;
			if (!u) continue;
			const struct mentry *e = man_find(u, strlen(u));
			if (!e) {
				report_failure("%s: UIDL of message %" PRIu64 " \"%s\" is not a message of this mailbox",
					       c->ctx, i, u);
				rc = -1;
				break;
			}
			if (s->msgs[i].size && e->size != s->msgs[i].size) {
				report_failure("%s: LIST %" PRIu64 " says %" PRIu64 " octets, message %s has %" PRIu64
					       " (CRLF line ends, before dot-stuffing)", c->ctx, i, s->msgs[i].size, u, e->size);
				rc = -1;
				break;
			}
		}
	}
	return rc;
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
check_uidl_unique(struct session *s)
{
	if (s->nmsgs < 2) return 0;
	char **v = malloc(s->nmsgs * sizeof *v);
	for (uint64_t i = 0; i < s->nmsgs; i++) v[i] = s->msgs[i + 1].uidl ? s->msgs[i + 1].uidl : "";
	qsort(v, s->nmsgs, sizeof *v, cmp_strp);
	int rc = 0;
	for (uint64_t i = 1; i < s->nmsgs; i++)
		if (strcmp(v[i - 1], v[i]) == 0) {
			report_failure("%s: UIDL \"%s\" is not unique", s->c.ctx, v[i]);
			rc = -1;
			break;
		}
	free(v);
	return rc;
}

/* The reply to RETR n, sent before (maybe with others behind it). */
static int
pop_retr_reply(struct session *s, uint64_t n, uint64_t *octets_out)
{
	struct conn *c = &s->c;
	unsigned char md5[16];
	uint64_t octets;
	snprintf(c->last, sizeof c->last, "\"RETR %" PRIu64 "\"", n);
	if (expect_ok(c, NULL) < 0) return -1;
	if (read_body(c, &octets, o_md5 ? md5 : NULL) < 0) return -1;
	if (octets_out) *octets_out = octets;
	if (s->msgs && n <= s->nmsgs && s->msgs[n].size && octets != s->msgs[n].size) {
		report_failure("%s: RETR %" PRIu64 " sent %" PRIu64 " octets (un-stuffed, CRLF), LIST said %" PRIu64,
			       c->ctx, n, octets, s->msgs[n].size);
		return -1;
	}
	if (o_md5 && g_man && s->msgs && n <= s->nmsgs && s->msgs[n].uidl) {
		const struct mentry *e = man_find(s->msgs[n].uidl, strlen(s->msgs[n].uidl));
		if (e && e->has_md5 && memcmp(e->md5, md5, 16) != 0) {
			report_failure("%s: RETR %" PRIu64 " (%s): content differs from the Maildir file (MD5)",
				       c->ctx, n, s->msgs[n].uidl);
			return -1;
		}
	}
	return 0;
}

/* CAPA must list PIPELINING before a client may send commands ahead. */
static int
pop_require_pipelining(struct session *s)
{
	struct conn *c = &s->c;
	int found = 0;
	if (send_cmd(c, "CAPA") < 0 || expect_ok(c, NULL) < 0) return -1;
	for (;;) {
		char *line;
		size_t len;
		if (read_line(c, &line, &len, "CAPA") < 0) return -1;
		if (len == 1 && line[0] == '.') break;
		if (len == 10 && strncasecmp(line, "PIPELINING", 10) == 0) found = 1;
	}
	if (!found) {
		report_failure("%s: --pipeline: CAPA does not list PIPELINING", c->ctx);
		return -1;
	}
	return 0;
}

static int
pop_quit(struct session *s)
{
	struct conn *c = &s->c;
	if (send_cmd(c, "QUIT") < 0 || expect_ok(c, NULL) < 0) return -1;
	/* The server must close the connection and send nothing more. */
	if (c->start != c->end) {
		char x[200];
		sanitize(x, sizeof x, c->buf + c->start, c->end - c->start);
		report_failure("%s: data after QUIT reply: \"%s\"", c->ctx, x);
		return -1;
	}
	ssize_t r = conn_fill(c);
	if (r > 0) {
		char x[200];
		sanitize(x, sizeof x, c->buf + c->start, c->end - c->start);
		report_failure("%s: data after QUIT reply: \"%s\"", c->ctx, x);
		return -1;
	}
	if (r < 0) {
		report_failure("%s: waiting for close after QUIT: %s", c->ctx, io_err(c, r));
		return -1;
	}
	trace("--", "closed by server", 16);
	if (c->ssl) SSL_shutdown(c->ssl); /* our close_notify; ignore result */
	conn_close(c);
	return 0;
}

/* ---------- mode: login storm ---------- */
static atomic_long g_started, g_done;
static double g_deadline;
static pthread_barrier_t g_barrier;

struct lthread { int id; pthread_t th; long ok; };

static void *
login_thread(void *arg)
{
	struct lthread *t = arg;
	struct session s;
	memset(&s, 0, sizeof s);
	conn_init(&s.c, "login");
	pthread_barrier_wait(&g_barrier);
	int k = 0;
	for (;;) {
		if (now() >= g_deadline) break;
		if (atomic_fetch_add(&g_started, 1) >= o_max_sessions) break;
		int uidx = t->id + k * o_conc;
		if (uidx >= o_nusers) { k = 0; uidx = t->id; }
		k++;
		user_name(s.user, sizeof s.user, uidx);
		snprintf(s.c.ctx, sizeof s.c.ctx, "user %s @ %s:%d%s", s.user, o_host, o_port, o_tls ? " tls" : "");
		int rc = pop_login(&s);
		if (rc == 0) rc = pop_stat(&s);
		if (rc == 0) rc = pop_quit(&s);
		conn_close(&s.c);
		if (rc == 0) { t->ok++; atomic_fetch_add(&g_done, 1); }
		else usleep(10000); /* do not spin on a dead server */
	}
	conn_free(&s.c);
	return NULL;
}

static int
mode_login(void)
{
	if (o_conc > o_nusers) {
		fprintf(stderr, "loadgen: -c %d needs at least that many users (--nusers)\n", o_conc);
		return 2;
	}
	struct lthread *ts = calloc((size_t)o_conc, sizeof *ts);
	pthread_barrier_init(&g_barrier, NULL, (unsigned)o_conc + 1);
	for (int i = 0; i < o_conc; i++) {
		ts[i].id = i;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024);
		if (pthread_create(&ts[i].th, &a, login_thread, &ts[i]) != 0) { perror("pthread_create"); return 2; }
		pthread_attr_destroy(&a);
	}
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	g_deadline = now() + o_duration;
	double t0 = now();
	pthread_barrier_wait(&g_barrier);
	for (int i = 0; i < o_conc; i++) pthread_join(ts[i].th, NULL);
	double wall = now() - t0;
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
		     (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	long ok = atomic_load(&g_done);
	printf("RESULT mode=login conc=%d tls=%d sessions=%ld fail=%ld wall=%.6f rate=%.3f client_cpu=%.3f cipher=%s resumed=%ld\n",
	       o_conc, o_tls, ok, atomic_load(&g_failures), wall, ok / wall, cpu, g_cipher[0] ? g_cipher : "none",
	       atomic_load(&g_resumed));
	free(ts);
	return atomic_load(&g_failures) ? 1 : 0;
}

/* ---------- mode: poll (STAT UIDL LIST) ---------- */
static int
mode_poll(void)
{
	struct session s;
	memset(&s, 0, sizeof s);
	conn_init(&s.c, "poll");
	user_name(s.user, sizeof s.user, 0);
	snprintf(s.c.ctx, sizeof s.c.ctx, "user %s @ %s:%d%s", s.user, o_host, o_port, o_tls ? " tls" : "");
	int fails = 0;
	double sum = 0;
	uint64_t n = 0, oct = 0;
	for (int i = 0; i < o_sessions; i++) {
		double t0 = now();
		int rc = pop_login(&s);
		if (rc == 0) rc = pop_stat(&s);
		if (rc == 0) rc = pop_list_uidl(&s, 1);
		if (rc == 0) rc = pop_list_uidl(&s, 0);
		if (rc == 0) rc = pop_quit(&s);
		double w = now() - t0;
		if (rc == 0) rc = check_uidl_unique(&s);
		if (rc == 0) rc = check_uidls(&s);
		conn_close(&s.c);
		n = s.stat_n;
		oct = s.stat_octets;
		sess_reset(&s);
		if (rc) { fails++; printf("SESSION %d fail\n", i); break; }
		printf("SESSION %d wall=%.6f msgs=%" PRIu64 " octets=%" PRIu64 "\n", i, w, n, oct);
		fflush(stdout);
		sum += w;
	}
	printf("RESULT mode=poll sessions=%d fail=%ld msgs=%" PRIu64 " octets=%" PRIu64 " wall=%.6f\n",
	       o_sessions - fails, atomic_load(&g_failures), n, oct, sum);
	conn_free(&s.c);
	return atomic_load(&g_failures) ? 1 : 0;
}

/* ---------- mode: retrall / retr ---------- */
static int
mode_retr(int all)
{
	struct session s;
	memset(&s, 0, sizeof s);
	conn_init(&s.c, "retr");
	user_name(s.user, sizeof s.user, 0);
	snprintf(s.c.ctx, sizeof s.c.ctx, "user %s @ %s:%d%s", s.user, o_host, o_port, o_tls ? " tls" : "");
	double t0 = now(), tx0 = 0, tx1 = 0;
	uint64_t total = 0, nretr = 0;
	int rc = pop_login(&s);
	if (rc == 0 && o_pipeline > 1) rc = pop_require_pipelining(&s);
	if (rc == 0) rc = pop_stat(&s);
	if (rc == 0) rc = pop_list_uidl(&s, 0);
	if (rc == 0 && (g_man || o_md5)) rc = pop_list_uidl(&s, 1);
	if (rc == 0) rc = check_uidls(&s);
	if (rc == 0 && !all && (o_msgno < 1 || (uint64_t)o_msgno > s.stat_n)) {
		report_failure("%s: message %ld requested, mailbox has %" PRIu64, s.c.ctx, o_msgno, s.stat_n);
		rc = -1;
	}
	tx0 = now();
	if (rc == 0) {
		uint64_t first = all ? 1 : (uint64_t)o_msgno, last = all ? s.stat_n : (uint64_t)o_msgno;
		/* Up to o_pipeline commands out ahead of the replies; the
		 * commands are small, so writing them cannot block for long. */
		uint64_t sent = first;
		for (uint64_t i = first; i <= last && rc == 0; i++) {
			uint64_t o = 0;
			while (rc == 0 && sent <= last && sent - i < (uint64_t)o_pipeline)
				rc = send_cmd(&s.c, "RETR %" PRIu64, sent++);
			if (rc == 0) rc = pop_retr_reply(&s, i, &o);
			total += o;
			nretr++;
		}
	}
	tx1 = now();
	if (rc == 0 && o_linger > 0) usleep((useconds_t)(o_linger * 1e6));
	if (rc == 0) rc = pop_quit(&s);
	double wall = now() - t0, xfer = tx1 - tx0;
	conn_close(&s.c);
	printf("RESULT mode=%s tls=%d msgs=%" PRIu64 " octets=%" PRIu64 " fail=%ld wall=%.6f xfer=%.6f "
	       "mbps=%.3f xfer_mbps=%.3f cipher=%s\n", all ? "retrall" : "retr", o_tls, nretr, total,
	       atomic_load(&g_failures), wall, xfer, total / wall / 1e6, total / (xfer > 0 ? xfer : 1e-9) / 1e6,
	       g_cipher[0] ? g_cipher : "none");
	sess_reset(&s);
	conn_free(&s.c);
	return atomic_load(&g_failures) ? 1 : 0;
}

/* ---------- mode: idle ---------- */
static int
mode_idle(void)
{
	struct session *ss = calloc((size_t)o_conc, sizeof *ss);
	int open_ok = 0;
	for (int i = 0; i < o_conc; i++) {
		user_name(ss[i].user, sizeof ss[i].user, i % o_nusers);
		conn_init(&ss[i].c, "idle");
		snprintf(ss[i].c.ctx, sizeof ss[i].c.ctx, "idle user %s @ %s:%d%s", ss[i].user, o_host, o_port,
			 o_tls ? " tls" : "");
		/* Keep the read buffer small: only status lines follow. */
		char *rest;
		if (pop_login(&ss[i]) == 0 && pop_stat(&ss[i]) == 0 &&
		    (!o_sleep || (send_cmd(&ss[i].c, "SLEE") == 0 && expect_ok(&ss[i].c, &rest) == 0)))
			open_ok++;
		else { conn_close(&ss[i].c); break; }
	}
	printf("READY %d\n", open_ok);
	fflush(stdout);
	/* Hold until stdin reaches EOF (the harness closes it) or o_hold. */
	double end = now() + o_hold;
	for (;;) {
		double left = end - now();
		if (left <= 0) break;
		struct pollfd p = { 0, POLLIN, 0 };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		char b[256];
		ssize_t n = read(0, b, sizeof b);
		if (n <= 0) break;
	}
	int quit_ok = 0;
	for (int i = 0; i < o_conc; i++) {
		if (ss[i].c.fd < 0) continue;
		if (pop_quit(&ss[i]) == 0) quit_ok++;
		conn_free(&ss[i].c);
	}
	printf("RESULT mode=idle conc=%d tls=%d opened=%d quit_ok=%d fail=%ld\n", o_conc, o_tls, open_ok, quit_ok,
	       atomic_load(&g_failures));
	free(ss);
	return atomic_load(&g_failures) || open_ok != o_conc ? 1 : 0;
}

/* ---------- mode: loopback ceiling ---------- */
/* Sends "+OK\r\n" + the message as a POP3 server would (CRLF, dot-stuffed,
 * ".\r\n") over a loopback TCP socket; the receiving side is the same code
 * that reads RETR replies. */
struct lbsrv { int lfd; char *wire; size_t wlen; SSL_CTX *sctx; int rc; };

static void *
lb_server(void *arg)
{
	struct lbsrv *L = arg;
	int fd = accept(L->lfd, NULL, NULL);
	if (fd < 0) { L->rc = -1; return NULL; }
	set_timeouts(fd);
	SSL *ssl = NULL;
	if (L->sctx) {
		ssl = SSL_new(L->sctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) != 1) { L->rc = -1; SSL_free(ssl); close(fd); return NULL; }
	}
	char cmd[64];
	ssize_t got = 0;
	/* wait for "RETR 1\r\n" so timing matches a real request */
	while (got < (ssize_t)sizeof cmd - 1) {
		ssize_t n = ssl ? SSL_read(ssl, cmd + got, (int)(sizeof cmd - 1 - (size_t)got)) : read(fd, cmd + got, sizeof cmd - 1 - (size_t)got);
		if (n <= 0) break;
		got += n;
		if (memchr(cmd, '\n', (size_t)got)) break;
	}
	size_t off = 0, chunk = 256 * 1024;
	while (off < L->wlen) {
		size_t n = L->wlen - off < chunk ? L->wlen - off : chunk;
		ssize_t w;
		if (ssl) { int r = SSL_write(ssl, L->wire + off, (int)n); w = r > 0 ? r : -1; }
		else w = send(fd, L->wire + off, n, MSG_NOSIGNAL);
		if (w < 0) { if (errno == EINTR) continue; L->rc = -1; break; }
		off += (size_t)w;
	}
	if (ssl) { SSL_shutdown(ssl); SSL_free(ssl); }
	close(fd);
	return NULL;
}

static int
mode_loopback(void)
{
	if (!o_src) { fprintf(stderr, "loadgen loopback: --src FILE needed\n"); return 2; }
	int fd = open(o_src, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) { perror(o_src); return 2; }
	char *src = mmap(NULL, (size_t)st.st_size ? (size_t)st.st_size : 1, PROT_READ, MAP_PRIVATE, fd, 0);
	if (src == MAP_FAILED) { perror("mmap"); return 2; }
	size_t cap = (size_t)st.st_size * 2 + 64, wl = 0;
	char *wire = malloc(cap);
	if (!wire) { perror("malloc"); return 2; }
	memcpy(wire, "+OK\r\n", 5);
	wl = 5;
	uint64_t expect_octets = 0;
	int bol = 1;
	for (off_t i = 0; i < st.st_size; i++) {
		char ch = src[i];
		if (bol && ch == '.') wire[wl++] = '.';
		if (ch == '\n') { wire[wl++] = '\r'; expect_octets++; bol = 1; }
		else bol = 0;
		wire[wl++] = ch;
		expect_octets++;
	}
	if (!bol) { memcpy(wire + wl, "\r\n", 2); wl += 2; expect_octets += 2; }
	memcpy(wire + wl, ".\r\n", 3);
	wl += 3;
	munmap(src, (size_t)st.st_size ? (size_t)st.st_size : 1);
	close(fd);

	struct lbsrv L = { .wire = wire, .wlen = wl };
	if (o_tls) {
		if (!o_cert || !o_key) { fprintf(stderr, "loadgen loopback --tls: --cert and --key needed\n"); return 2; }
		L.sctx = SSL_CTX_new(TLS_server_method());
		SSL_CTX_set_min_proto_version(L.sctx, TLS1_2_VERSION);
		if (SSL_CTX_use_certificate_chain_file(L.sctx, o_cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(L.sctx, o_key, SSL_FILETYPE_PEM) != 1) {
			ERR_print_errors_fp(stderr);
			return 2;
		}
	}
	L.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	if (bind(L.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(L.lfd, 1) < 0 ||
	    getsockname(L.lfd, (struct sockaddr *)&sa, &sl) < 0) { perror("loopback listen"); return 2; }
	o_port = ntohs(sa.sin_port);
	o_host = "127.0.0.1";
	pthread_t th;
	pthread_create(&th, NULL, lb_server, &L);

	struct session s;
	memset(&s, 0, sizeof s);
	conn_init(&s.c, "loopback");
	int rc = conn_open(&s.c);
	double t0 = now();
	uint64_t octets = 0;
	if (rc == 0) rc = send_cmd(&s.c, "RETR 1");
	if (rc == 0) rc = expect_ok(&s.c, NULL);
	if (rc == 0) rc = read_body(&s.c, &octets, NULL);
	double xfer = now() - t0;
	if (rc == 0 && octets != expect_octets) {
		report_failure("loopback: %" PRIu64 " octets, expected %" PRIu64, octets, expect_octets);
		rc = -1;
	}
	conn_free(&s.c);
	pthread_join(th, NULL);
	close(L.lfd);
	printf("RESULT mode=loopback tls=%d octets=%" PRIu64 " fail=%ld xfer=%.6f xfer_mbps=%.3f\n", o_tls, octets,
	       atomic_load(&g_failures), xfer, octets / (xfer > 0 ? xfer : 1e-9) / 1e6);
	if (L.sctx) SSL_CTX_free(L.sctx);
	free(wire);
	return atomic_load(&g_failures) || L.rc ? 1 : 0;
}

/* ---------- main ---------- */
static void
usage(void)
{
	fprintf(stderr,
		"usage: loadgen MODE [options]\n"
		"modes:\n"
		"  login     N clients (-c) each looping connect, USER, PASS, STAT, QUIT\n"
		"            until -d seconds or -n sessions; client i uses users i, i+c, ...\n"
		"  poll      -s sessions of USER, PASS, STAT, UIDL, LIST, QUIT (one per line: SESSION)\n"
		"  retrall   one session: LIST, RETR every message, QUIT\n"
		"  retr      one session: LIST, RETR -m N, QUIT (xfer_mbps = RETR only)\n"
		"  idle      open -c authenticated sessions, print READY, hold until stdin EOF, QUIT\n"
		"  loopback  --src FILE: send it POP3-encoded over loopback TCP to ourselves (ceiling)\n"
		"options:\n"
		"  -H host (127.0.0.1)  -p port (110)  --tls (implicit TLS)  -t timeout-sec (60)\n"
		"  -u user|pattern-with-%%d (u%%03d)  -w password (benchpass)  -N nusers (1)\n"
		"  -c clients (1)  -d seconds (5)  -n max-sessions  -s sessions (1)  -m msgno (1)\n"
		"  --manifest FILE  --md5 (check RETR content)  --hold sec (600)\n"
		"  --sleep (idle: each session sends SLEE after STAT and holds asleep)\n"
		"  --linger sec (retr/retrall: pause after the RETRs, before QUIT)\n"
		"  --pipeline N (retrall: keep N RETRs in flight; needs PIPELINING in CAPA)\n"
		"  --src FILE  --cert PEM --key PEM (loopback --tls)\n"
		"  --resume (each client offers its previous session: TLS resumption)\n"
		"  --tls12 (TLS 1.2 at most)\n"
		"  -v  trace every command and reply with a timestamp (stderr)\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) { usage(); return 2; }
	const char *mode = argv[1];
	static const struct option lo[] = {
		{ "tls", no_argument, NULL, 'T' },
		{ "manifest", required_argument, NULL, 'M' },
		{ "md5", no_argument, NULL, '5' },
		{ "hold", required_argument, NULL, 'h' },
		{ "src", required_argument, NULL, 'S' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "nusers", required_argument, NULL, 'N' },
		{ "linger", required_argument, NULL, 'L' },
		{ "pipeline", required_argument, NULL, 'P' },
		{ "resume", no_argument, NULL, 'R' },
		{ "tls12", no_argument, NULL, '2' },
		{ "sleep", no_argument, NULL, 'Z' },
		{ NULL, 0, NULL, 0 },
	};
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "H:p:t:u:w:N:c:d:n:s:m:v", lo, NULL)) != -1) {
		switch (ch) {
		case 'H': o_host = optarg; break;
		case 'p': o_port = atoi(optarg); break;
		case 't': o_timeout = atof(optarg); break;
		case 'u': o_user = optarg; break;
		case 'w': o_pass = optarg; break;
		case 'N': o_nusers = atoi(optarg); break;
		case 'c': o_conc = atoi(optarg); break;
		case 'd': o_duration = atof(optarg); break;
		case 'n': o_max_sessions = atol(optarg); break;
		case 's': o_sessions = atoi(optarg); break;
		case 'm': o_msgno = atol(optarg); break;
		case 'T': o_tls = 1; break;
		case 'M': o_manifest = optarg; break;
		case '5': o_md5 = 1; break;
		case 'h': o_hold = atof(optarg); break;
		case 'S': o_src = optarg; break;
		case 'C': o_cert = optarg; break;
		case 'K': o_key = optarg; break;
		case 'v': o_verbose = 1; break;
		case 'L': o_linger = atof(optarg); break;
		case 'P': o_pipeline = atoi(optarg); break;
		case 'R': o_resume = 1; break;
		case '2': o_tls12 = 1; break;
		case 'Z': o_sleep = 1; break;
		default: usage(); return 2;
		}
	}
	if (o_conc < 1 || o_pipeline < 1 || o_nusers < 1 || o_port <= 0 || o_port > 65535 || o_timeout <= 0) { usage(); return 2; }
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_cli_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(g_cli_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(g_cli_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_options(g_cli_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* full handshakes, unless --resume offers each client's last session */
	SSL_CTX_set_session_cache_mode(g_cli_ctx, SSL_SESS_CACHE_OFF);
	if (o_tls12)
		SSL_CTX_set_max_proto_version(g_cli_ctx, TLS1_2_VERSION);
	if (o_manifest) man_load(o_manifest);
	g_t0 = now();

	if (!strcmp(mode, "login")) return mode_login();
	if (!strcmp(mode, "poll")) return mode_poll();
	if (!strcmp(mode, "retrall")) return mode_retr(1);
	if (!strcmp(mode, "retr")) return mode_retr(0);
	if (!strcmp(mode, "idle")) return mode_idle();
	if (!strcmp(mode, "loopback")) return mode_loopback();
	usage();
	return 2;
}
