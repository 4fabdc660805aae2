/* test_ipc.c - unit tests for src/ipc.c: the frame parser (truncated,
 * over-long, wrong counts, trailing bytes), and for every message type its
 * decode: a good message, each field at its limit and one byte over, NUL
 * in text fields, one field too few or too many, descriptors outside the
 * allowed count, a message of another type, and bad values (methods,
 * flags, characters).  Then every typed send and receive over a real
 * socketpair, descriptors included. */
#include "unit.h"
#include "ipc.h"
#include "netio.h"
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

struct fld {
	const char *s;
	size_t len;           /* SIZE_MAX: strlen(s) */
	size_t max;           /* the documented limit */
	int text;             /* a NUL makes it invalid */
};

struct tcase {
	const char *name;
	uint32_t type;
	int n;
	struct fld f[IPC_MAX_FIELDS];
	int nfds, fdmin, fdmax;
};

#define S(str, mx, tx) { str, SIZE_MAX, mx, tx }
#define B(str, l, mx) { str, l, mx, 0 }

static const char proof[SCRAM_PROOF_LEN] = "0123456789abcdef0123456789abcdef";

/* A good message of each type, and the limits of its fields. */
static const struct tcase good[] = {
	{ "auth", IPC_AUTH, 3, { B("\x01", 1, 1), B("alice", 5, IPC_USER_MAX),
				 B("pw\0x", 4, IPC_SECRET_MAX) }, 0, 0, 0 },
	{ "auth_ok", IPC_AUTH_OK, 2, { S("alice", IPC_USER_MAX, 1),
				       S("v=abc", SCRAM_SERVER_MAX, 1) }, 0, 0, 0 },
	{ "auth_fail", IPC_AUTH_FAIL, 1, { B("t", 1, 1) }, 0, 0, 0 },
	{ "handoff", IPC_HANDOFF, 4, { B("LIST\r\n", 6, IN_CAP), S("TLSv1.3", IPC_INFO_MAX, 1),
				       B("\x03", 1, 1), S("USER\r\nSASL PLAIN\r\n", IPC_CAPA_MAX, 1) },
	  2, 0, IPC_MAX_FDS },
	{ "relay", IPC_RELAY, 0, { { NULL, 0, 0, 0 } }, 1, 1, 1 },
	{ "scram_first", IPC_SCRAM_FIRST, 10,
	  { B("\x06", 1, 1), B("\0", 1, 1), B("p", 1, 1), S("tls-exporter", SCRAM_CBNAME_MAX, 1),
	    S("user", IPC_USER_MAX, 1), S("rOprNGfwEbeRWgbNEkqO", SCRAM_NONCE_MAX, 1),
	    S("p=tls-exporter,,", SCRAM_GS2_MAX, 1), S("n=user,r=rOprNGfwEbeRWgbNEkqO", SCRAM_BARE_MAX, 1),
	    S("tls-exporter", SCRAM_CBNAME_MAX, 1), B("\0\1\2\3", 4, SCRAM_CBDATA_MAX) }, 0, 0, 0 },
	{ "scram_challenge", IPC_SCRAM_CHALLENGE, 1, { S("r=ab,s=QSXCR+Q6sek8bf92,i=4096",
							 SCRAM_SERVER_MAX, 1) }, 0, 0, 0 },
	{ "scram_final", IPC_SCRAM_FINAL, 5,
	  { B("\0", 1, 1), S("biws", SCRAM_CBIND_MAX, 1), S("abc%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
							   SCRAM_NONCE_MAX + 64, 1),
	    S("c=biws,r=abc%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", SCRAM_NOPROOF_MAX, 1),
	    B(proof, SCRAM_PROOF_LEN, SCRAM_PROOF_LEN) }, 0, 0, 0 },
	{ "tls_fail", IPC_TLS_FAIL, 1, { B("no shared cipher\0", 17, IPC_REASON_MAX) }, 0, 0, 0 },
	{ "conn", IPC_CONN, 1, { B("12345678", 8, 8) }, 1, 1, 2 },
	{ "accept", IPC_ACCEPT, 2, { S("101", 3, 1), B("\0\1\2", 3, IPC_ORIGIN_MAX) }, 1, 1, 1 },
};
#define NGOOD (sizeof(good) / sizeof(good[0]))

/* Every decoder, on whatever message: 0 or -1. */
static int decode_as(uint32_t type, const struct ipc_msg *m)
{
	union {
		struct ipc_auth a;
		struct ipc_auth_ok ok;
		struct ipc_auth_fail fail;
		struct ipc_handoff h;
		struct ipc_scram_first sf;
		struct ipc_scram_challenge sc;
		struct ipc_scram_final fin;
		struct ipc_tls_fail tf;
		struct ipc_accept ac;
		char conn[8];
	} *u = calloc(1, sizeof(*u));
	int fd, r = -1;
	assert_non_null(u);
	switch (type) {
	case IPC_AUTH: r = ipc_decode_auth(m, &u->a); break;
	case IPC_AUTH_OK: r = ipc_decode_auth_ok(m, &u->ok); break;
	case IPC_AUTH_FAIL: r = ipc_decode_auth_fail(m, &u->fail); break;
	case IPC_HANDOFF: r = ipc_decode_handoff(m, &u->h); break;
	case IPC_RELAY: r = ipc_decode_relay(m, &fd); break;
	case IPC_SCRAM_FIRST: r = ipc_decode_scram_first(m, &u->sf); break;
	case IPC_SCRAM_CHALLENGE: r = ipc_decode_scram_challenge(m, &u->sc); break;
	case IPC_SCRAM_FINAL: r = ipc_decode_scram_final(m, &u->fin); break;
	case IPC_TLS_FAIL: r = ipc_decode_tls_fail(m, &u->tf); break;
	case IPC_CONN: r = ipc_decode_conn(m, u->conn, sizeof(u->conn)); break;
	case IPC_ACCEPT: r = ipc_decode_accept(m, &u->ac); break;
	default: fail_msg("no decoder for type %u", type);
	}
	free(u);
	return r;
}

/* The wire bytes of a message: u32 type, u32 n, n x u32 length, fields. */
static size_t frame(char *out, uint32_t type, int n, const char *const *f, const size_t *fl)
{
	uint32_t h = type, c = (uint32_t)n;
	size_t off = 8;
	memcpy(out, &h, 4);
	memcpy(out + 4, &c, 4);
	for (int i = 0; i < n; i++) {
		uint32_t l = (uint32_t)fl[i];
		memcpy(out + off, &l, 4);
		off += 4;
	}
	for (int i = 0; i < n; i++) {
		memcpy(out + off, f[i], fl[i]);
		off += fl[i];
	}
	return off;
}

/* Build t's message with field `which` replaced by rep (len rlen), n
 * fields (may differ from t->n: extra ones are "x"), nfds descriptors;
 * parse it and decode it as t's type. */
static int try(const struct tcase *t, int n, int which, const char *rep, size_t rlen,
	       int nfds, uint32_t as)
{
	static char raw[2 * IPC_MAX_MSG];
	struct ipc_msg *m = calloc(1, sizeof(*m));
	const char *f[IPC_MAX_FIELDS + 1];
	size_t fl[IPC_MAX_FIELDS + 1], len;
	int r, i;
	assert_non_null(m);
	for (i = 0; i < n; i++) {
		if (i == which) {
			f[i] = rep;
			fl[i] = rlen;
		} else if (i < t->n) {
			f[i] = t->f[i].s;
			fl[i] = t->f[i].len == SIZE_MAX ? strlen(t->f[i].s) : t->f[i].len;
		} else {
			f[i] = "x";
			fl[i] = 1;
		}
	}
	len = frame(raw, t->type, n, f, fl);
	if (ipc_parse(raw, len, m) < 0) {
		free(m);
		return -2;
	}
	m->nfds = nfds;
	for (i = 0; i < nfds && i < IPC_MAX_FDS; i++)
		m->fds[i] = 100 + i;
	r = decode_as(as, m);
	free(m);
	return r;
}

static void test_good_messages_decode(void **state)
{
	for (size_t k = 0; k < NGOOD; k++)
		if (try(&good[k], good[k].n, -1, NULL, 0, good[k].nfds, good[k].type) != 0)
			fail_msg("%s: good message refused", good[k].name);
}

static void test_field_lengths(void **state)
{
	char *big = malloc(IPC_MAX_MSG);
	assert_non_null(big);
	memset(big, 'A', IPC_MAX_MSG);
	for (size_t k = 0; k < NGOOD; k++) {
		const struct tcase *t = &good[k];
		for (int i = 0; i < t->n; i++) {
			size_t mx = t->f[i].max;
			/* One byte over the limit: refused. */
			if (mx + 1 < IPC_MAX_MSG - 200 &&
			    try(t, t->n, i, big, mx + 1, t->nfds, t->type) != -1)
				fail_msg("%s: field %d of %zu bytes (limit %zu) accepted", t->name,
					 i, mx + 1, mx);
			/* At the limit: accepted (fields whose length is
			 * fixed, or whose bytes are values, are checked by
			 * test_bad_values). */
			if (mx > 1 && t->type != IPC_ACCEPT && t->type != IPC_CONN &&
			    !(t->type == IPC_SCRAM_FINAL && i == 4) &&
			    try(t, t->n, i, big, mx, t->nfds, t->type) != 0)
				fail_msg("%s: field %d at its limit %zu refused", t->name, i, mx);
			/* A NUL in a text field: refused. */
			if (t->f[i].text && try(t, t->n, i, "a\0b", 3, t->nfds, t->type) != -1)
				fail_msg("%s: NUL in text field %d accepted", t->name, i);
		}
	}
	free(big);
}

static void test_wrong_counts(void **state)
{
	for (size_t k = 0; k < NGOOD; k++) {
		const struct tcase *t = &good[k];
		if (t->n > 0 && try(t, t->n - 1, -1, NULL, 0, t->nfds, t->type) != -1)
			fail_msg("%s: one field too few accepted", t->name);
		if (t->n < IPC_MAX_FIELDS && try(t, t->n + 1, -1, NULL, 0, t->nfds, t->type) != -1)
			fail_msg("%s: one field too many accepted", t->name);
		if (t->fdmin > 0 && try(t, t->n, -1, NULL, 0, t->fdmin - 1, t->type) != -1)
			fail_msg("%s: too few descriptors accepted", t->name);
		if (t->fdmax < IPC_MAX_FDS && try(t, t->n, -1, NULL, 0, t->fdmax + 1, t->type) != -1)
			fail_msg("%s: too many descriptors accepted", t->name);
	}
}

static void test_wrong_types(void **state)
{
	for (size_t k = 0; k < NGOOD; k++)
		for (size_t j = 0; j < NGOOD; j++)
			if (j != k && try(&good[k], good[k].n, -1, NULL, 0, good[k].nfds,
					  good[j].type) != -1)
				fail_msg("%s decoded as %s", good[k].name, good[j].name);
	/* Types outside the enum have no decoder to pass. */
	for (uint32_t type = 0; type < 3 * IPC_TYPE_END; type += IPC_TYPE_END) {
		struct tcase t = good[0];
		t.type = type;
		if (try(&t, t.n, -1, NULL, 0, 0, IPC_AUTH) != -1)
			fail_msg("type %u decoded as IPC_AUTH", type);
	}
}

/* Field values a length check alone would let through. */
static const struct { size_t k; int field; const char *v; size_t len; } bad_values[] = {
	{ 0, 0, "\x00", 1 }, { 0, 0, "\x05", 1 }, { 0, 0, "\x06", 1 }, { 0, 0, "\x07", 1 },
	{ 0, 0, "\xff", 1 },                          /* IPC_AUTH: USER..LOGIN only */
	{ 2, 0, "x", 1 }, { 2, 0, "\0", 1 },          /* AUTH_FAIL: 't' or 'f' */
	{ 3, 2, "\0", 1 }, { 3, 2, "\x07", 1 },       /* HANDOFF: a method */
	{ 3, 3, "user\r\n", 6 }, { 3, 3, "USER;\r\n", 7 },  /* CAPA characters */
	{ 5, 0, "\x01", 1 }, { 5, 0, "\x07", 1 },     /* SCRAM_FIRST: SCRAM methods only */
	{ 5, 1, "\x04", 1 }, { 5, 2, "q", 1 }, { 5, 2, "\0", 1 },  /* error, cbflag */
	{ 7, 0, "\x04", 1 }, { 7, 4, proof, 31 }, { 7, 4, "", 0 }, /* error, proof */
	{ 10, 0, "21", 2 }, { 10, 0, "1x", 2 },       /* ACCEPT flags */
};

static void test_bad_values(void **state)
{
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct tcase *t = &good[bad_values[i].k];
		if (try(t, t->n, bad_values[i].field, bad_values[i].v, bad_values[i].len, t->nfds,
			t->type) != -1)
			fail_msg("%s: bad value %zu in field %d accepted", t->name, i,
				 bad_values[i].field);
	}
	/* A failed SCRAM message carries no proof. */
	assert_int_equal(try(&good[7], 5, 0, "\x02", 1, 0, IPC_SCRAM_FINAL), -1);
	{
		struct tcase t = good[7];
		t.f[0] = (struct fld)B("\x02", 1, 1);
		t.f[4] = (struct fld)B("", 0, 32);
		assert_int_equal(try(&t, 5, -1, NULL, 0, 0, IPC_SCRAM_FINAL), 0);
	}
	/* IPC_CONN: exactly the size of the struct asked for. */
	assert_int_equal(try(&good[9], 1, 0, "1234567", 7, 1, IPC_CONN), -1);
	assert_int_equal(try(&good[9], 1, 0, "123456789", 9, 1, IPC_CONN), -1);
}

/* The frame itself: every truncation of a good message is refused, and so
 * are lengths that point past the end, trailing bytes, too many fields
 * and messages over IPC_MAX_MSG. */
static void test_frame(void **state)
{
	static char raw[2 * IPC_MAX_MSG];
	struct ipc_msg *m = calloc(1, sizeof(*m));
	const char *f[3] = { "\x01", "alice", "pw" };
	size_t fl[3] = { 1, 5, 2 }, len, cut;
	uint32_t v;
	assert_non_null(m);
	len = frame(raw, IPC_AUTH, 3, f, fl);
	assert_int_equal(ipc_parse(raw, len, m), 0);
	assert_int_equal(m->nfields, 3);
	assert_string_equal(m->field[1], "alice");
	for (cut = 0; cut < len; cut++)
		if (ipc_parse(raw, cut, m) != -1)
			fail_msg("truncated at %zu of %zu accepted", cut, len);
	raw[len] = 'x';
	assert_int_equal(ipc_parse(raw, len + 1, m), -1);       /* trailing byte */
	v = 0xffffffffu;
	memcpy(raw + 12, &v, 4);                                /* field 1: 4 GB */
	assert_int_equal(ipc_parse(raw, len, m), -1);
	v = IPC_MAX_FIELDS + 1;
	len = frame(raw, IPC_AUTH, 0, NULL, NULL);
	memcpy(raw + 4, &v, 4);
	memset(raw + 8, 0, 4 * (IPC_MAX_FIELDS + 1));
	assert_int_equal(ipc_parse(raw, 8 + 4 * (IPC_MAX_FIELDS + 1), m), -1);
	{
		/* Over IPC_MAX_MSG in all: refused, not cut. */
		static char big[IPC_MAX_MSG];
		const char *bf[1] = { big };
		size_t bl[1] = { IPC_MAX_MSG - 8 - 4 + 1 };
		len = frame(raw, IPC_TLS_FAIL, 1, bf, bl);
		assert_int_equal(ipc_parse(raw, len, m), -1);
		bl[0]--;
		len = frame(raw, IPC_TLS_FAIL, 1, bf, bl);
		assert_int_equal(ipc_parse(raw, len, m), 0);
	}
	free(m);
}

/* Every typed send, received and decoded over a real socketpair. */
static void test_round_trips(void **state)
{
	int sv[2], fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct ipc_msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	assert_true(fd >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	{
		struct ipc_auth a = { AUTH_M_LOGIN, "bob", 3, "se\0cret", 7 }, b;
		assert_int_equal(ipc_send_auth(sv[0], &a), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_auth(m, &b), 0);
		assert_int_equal(b.method, AUTH_M_LOGIN);
		assert_string_equal(b.user, "bob");
		assert_int_equal(b.secretlen, 7);
		assert_memory_equal(b.secret, "se\0cret", 7);
		/* What the table refuses is not sent either. */
		a.userlen = IPC_USER_MAX + 1;
		assert_int_equal(ipc_send_auth(sv[0], &a), -1);
		a.userlen = 3;
		a.method = AUTH_M_SCRAM;
		assert_int_equal(ipc_send_auth(sv[0], &a), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_auth(m, &b), -1);
	}
	{
		struct ipc_auth_ok a = { "bob", "v=xyz", 5 }, b;
		struct ipc_auth_fail f = { 1 }, g;
		assert_int_equal(ipc_send_auth_ok(sv[0], &a), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_auth_ok(m, &b), 0);
		assert_string_equal(b.user, "bob");
		assert_int_equal(b.sflen, 5);
		assert_string_equal(b.server_final, "v=xyz");
		assert_int_equal(ipc_send_auth_fail(sv[0], &f), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_auth_fail(m, &g), 0);
		assert_int_equal(g.temp, 1);
	}
	{
		struct ipc_handoff h, g;
		memset(&h, 0, sizeof(h));
		h.pending = "RETR 1\r\n";
		h.npending = 8;
		strcpy(h.tls_info, "plaintext");
		h.method = AUTH_M_APOP;
		strcpy(h.capa, "USER\r\n");
		h.nfds = 2;
		h.fds[0] = h.fds[1] = fd;
		assert_int_equal(ipc_send_handoff(sv[0], &h), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_handoff(m, &g), 0);
		assert_int_equal(g.npending, 8);
		assert_memory_equal(g.pending, "RETR 1\r\n", 8);
		assert_string_equal(g.tls_info, "plaintext");
		assert_int_equal(g.method, AUTH_M_APOP);
		assert_string_equal(g.capa, "USER\r\n");
		assert_int_equal(g.nfds, 2);
		assert_true(g.fds[0] != fd && g.fds[1] != fd);   /* new descriptors */
		ipc_close_fds(m);
	}
	{
		int got;
		assert_int_equal(ipc_send_relay(sv[0], fd), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_relay(m, &got), 0);
		assert_true(got >= 0);
		ipc_close_fds(m);
	}
	{
		struct ipc_scram_first *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
		a->method = AUTH_M_SCRAM_PLUS;
		a->cbflag = 'p';
		strcpy(a->cbname, "tls-exporter");
		strcpy(a->user, "u,=");
		strcpy(a->nonce, "abc");
		strcpy(a->gs2, "p=tls-exporter,,");
		strcpy(a->bare, "n=u=2C=3D,r=abc");
		strcpy(a->cbtype, "tls-exporter");
		memcpy(a->cbdata, "\0\1\2", 3);
		a->cblen = 3;
		assert_int_equal(ipc_send_scram_first(sv[0], a), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_scram_first(m, b), 0);
		assert_int_equal(b->method, AUTH_M_SCRAM_PLUS);
		assert_int_equal(b->cbflag, 'p');
		assert_string_equal(b->user, "u,=");
		assert_string_equal(b->bare, "n=u=2C=3D,r=abc");
		assert_int_equal(b->cblen, 3);
		assert_memory_equal(b->cbdata, "\0\1\2", 3);
		free(a);
		free(b);
	}
	{
		struct ipc_scram_final a, b;
		struct ipc_scram_challenge c = { "r=abc,s=c2FsdA==,i=4096", 23 }, d;
		memset(&a, 0, sizeof(a));
		strcpy(a.cbind, "biws");
		strcpy(a.nonce, "abcdef");
		strcpy(a.noproof, "c=biws,r=abcdef");
		memcpy(a.proof, proof, 32);
		assert_int_equal(ipc_send_scram_final(sv[0], &a), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_scram_final(m, &b), 0);
		assert_string_equal(b.noproof, "c=biws,r=abcdef");
		assert_memory_equal(b.proof, proof, 32);
		assert_int_equal(ipc_send_scram_challenge(sv[0], &c), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_scram_challenge(m, &d), 0);
		assert_string_equal(d.msg, c.msg);
	}
	{
		struct ipc_tls_fail a = { "handshake: no shared cipher" }, b;
		static struct ipc_accept c, d;
		char info[8] = "abcdefg", got[8];
		assert_int_equal(ipc_send_tls_fail(sv[0], &a), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_tls_fail(m, &b), 0);
		assert_string_equal(b.why, a.why);
		c.tls = 1;
		c.greeted = 0;
		c.ssl = 0;
		c.fd = fd;
		memcpy(c.origin, "origin", 6);
		c.origin_len = 6;
		assert_int_equal(ipc_send_accept(sv[0], &c), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_accept(m, &d), 0);
		assert_int_equal(d.tls, 1);
		assert_int_equal(d.greeted, 0);
		assert_int_equal(d.ssl, 0);
		assert_int_equal(d.origin_len, 6);
		assert_memory_equal(d.origin, "origin", 6);
		ipc_close_fds(m);
		/* no origin (no PROXY header), ssl = optional */
		c.ssl = 1;
		c.origin_len = 0;
		assert_int_equal(ipc_send_accept(sv[0], &c), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(ipc_decode_accept(m, &d), 0);
		assert_int_equal(d.ssl, 1);
		assert_int_equal(d.origin_len, 0);
		ipc_close_fds(m);
		/* an ssl digit out of range is refused on both sides */
		c.ssl = 3;
		assert_int_equal(ipc_send_accept(sv[0], &c), -1);
		assert_int_equal(ipc_send_conn(sv[0], info, sizeof(info), fd, fd), 0);
		assert_int_equal(ipc_recv(sv[1], m), 0);
		assert_int_equal(m->nfds, 1);
		assert_int_equal(ipc_decode_conn(m, got, sizeof(got)), 0);
		assert_memory_equal(got, info, sizeof(info));
		ipc_close_fds(m);
	}
	close(sv[0]);
	close(sv[1]);
	close(fd);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_messages_decode),
		cmocka_unit_test(test_field_lengths),
		cmocka_unit_test(test_wrong_counts),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
