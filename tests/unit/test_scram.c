/* test_scram.c - unit tests for SCRAM-SHA-256: the pre-auth side's
 * splitting of client messages (src/sasl.c) and the monitor's server and
 * secret format (src/scram.c).  The RFC 7677 section 3 exchange end to
 * end, the {SCRAM-SHA-256} format against a secret postern-passwd wrote,
 * and tables of malformed client messages and of server-side refusals. */
#include "unit.h"
#include "base64.h"
#include "sasl.h"
#include "scram.h"

/* RFC 7677 section 3: user "user", password "pencil". */
#define C_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define S_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define S_FIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
		"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define C_FINAL "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
		"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define S_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* {SCRAM-SHA-256} of "pw1" as postern-passwd wrote it. */
#define PW1_SECRET "4096,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=," \
		   "Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A="

/* Not an error code of ipc.h: the split works, the monitor refuses. */
#define SCRAM_ERR_OK_BUT_EMPTY_USER 100

static const unsigned char fake_key[32] = "0123456789abcdef0123456789abcdef";

static char rfc_secret[256];

static int setup(void **state)
{
	unsigned char salt[32];
	long n = b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof(salt));
	assert_int_equal(n, 16);
	assert_int_equal(scram_secret_make("pencil", 6, 4096, salt, (size_t)n, rfc_secret,
					   sizeof(rfc_secret)), 0);
	return 0;
}

/* The client's messages through the pre-auth split and the monitor's
 * server, with the RFC's server nonce. */
static enum scram_result exchange(const char *first, const char *final, const char *secret,
				  int method, const char *cbtype, const char *cbdata, size_t cblen,
				  struct ipc_scram_challenge *ch, struct ipc_auth_ok *ok,
				  const char **why)
{
	struct ipc_scram_first f;
	struct ipc_scram_final fin;
	struct scram_server *s = scram_server_new();
	enum scram_result r;
	memset(&f, 0, sizeof(f));
	f.method = method;
	snprintf(f.cbtype, sizeof(f.cbtype), "%s", cbtype);
	memcpy(f.cbdata, cbdata, cblen);
	f.cblen = cblen;
	f.error = sasl_scram_first(first, strlen(first), &f);
	r = scram_server_first(s, &f, secret, fake_key, S_NONCE, ch, why);
	if (r == SCRAM_CONTINUE && final) {
		fin.error = sasl_scram_final(final, strlen(final), &fin);
		r = scram_server_final(s, &fin, ok, why);
	}
	scram_server_free(s);
	return r;
}

static void test_rfc7677_exchange(void **state)
{
	struct ipc_scram_challenge ch;
	struct ipc_auth_ok ok;
	const char *why = NULL;
	assert_int_equal(exchange(C_FIRST, C_FINAL, rfc_secret, AUTH_M_SCRAM, "", "", 0, &ch,
				  &ok, &why), SCRAM_DONE);
	assert_string_equal(ch.msg, S_FIRST);
	assert_int_equal(ch.len, strlen(S_FIRST));
	assert_string_equal(ok.server_final, S_FINAL);
	assert_int_equal(ok.sflen, strlen(S_FINAL));
	/* The same exchange with the password checked directly. */
	assert_int_equal(scram_password_ok("pencil", 6, rfc_secret), 1);
	assert_int_equal(scram_password_ok("pencil2", 7, rfc_secret), 0);
	assert_int_equal(scram_password_ok("", 0, rfc_secret), 0);
}

static void test_split_fields(void **state)
{
	struct ipc_scram_first f;
	struct ipc_scram_final fin;
	const char *first = "p=tls-exporter,a=u=2Cx=3D,n=u=2Cx=3D,r=abc,ext=1";
	assert_int_equal(sasl_scram_first(first, strlen(first), &f), SCRAM_OK);
	assert_int_equal(f.cbflag, 'p');
	assert_string_equal(f.cbname, "tls-exporter");
	assert_string_equal(f.user, "u,x=");
	assert_string_equal(f.nonce, "abc");
	assert_string_equal(f.gs2, "p=tls-exporter,a=u=2Cx=3D,");
	assert_string_equal(f.bare, "n=u=2Cx=3D,r=abc,ext=1");
	assert_int_equal(sasl_scram_final(C_FINAL, strlen(C_FINAL), &fin), SCRAM_OK);
	assert_string_equal(fin.cbind, "biws");
	assert_string_equal(fin.nonce, "rOprNGfwEbeRWgbNEkqO" S_NONCE);
	assert_string_equal(fin.noproof, "c=biws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE);
	/* Extensions before the proof stay in the AuthMessage part. */
	{
		const char *m = "c=biws,r=abc,x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
		assert_int_equal(sasl_scram_final(m, strlen(m), &fin), SCRAM_OK);
		assert_string_equal(fin.noproof, "c=biws,r=abc,x=1");
		assert_string_equal(fin.nonce, "abc");
	}
}

static void test_malformed_client_first(void **state)
{
	static const struct { const char *m; size_t len; int want; } bad[] = {
		{ "", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,x=user,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },  /* no n= */
		{ "n,,n=user", 0, SCRAM_ERR_MALFORMED_FIRST },        /* no r= */
		{ "n,,n=user,r=", 0, SCRAM_ERR_MALFORMED_FIRST },     /* empty nonce */
		{ "n,,n=user,x=abc", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "q,,n=user,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },  /* cbind flag */
		{ "nn,,n=user,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "p,,n=user,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "p=,,n=user,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,n=user,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },   /* one comma */
		{ "n", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,n=pt=bob,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST }, /* bad escape */
		{ "n,,n=pt=2,r=abc", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,n=,r=abc", 0, SCRAM_ERR_OK_BUT_EMPTY_USER },
		{ "n,,n=user,r=a\x01" "b", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,n=user,r=a b", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,n=user,r=a\x7f", 0, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,n=us\0er,r=abc", 16, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,,n=user,r=abc\0", 16, SCRAM_ERR_MALFORMED_FIRST },
		{ "n,a=other,n=user,r=abc", 0, SCRAM_ERR_AUTHZID },
		{ "n,b=user,n=user,r=abc", 0, SCRAM_ERR_AUTHZID },
		{ "n,a=us=er,n=user,r=abc", 0, SCRAM_ERR_AUTHZID },
	};
	struct ipc_scram_first f;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].m);
		int r = sasl_scram_first(bad[i].m, len, &f);
		if (bad[i].want == SCRAM_ERR_OK_BUT_EMPTY_USER) {
			/* Split, but the monitor refuses an empty name. */
			struct ipc_scram_challenge ch;
			struct scram_server *s = scram_server_new();
			const char *why;
			assert_int_equal(r, SCRAM_OK);
			f.method = AUTH_M_SCRAM;
			f.cbtype[0] = '\0';
			f.cblen = 0;
			assert_int_equal(scram_server_first(s, &f, NULL, fake_key, S_NONCE, &ch, &why),
					 SCRAM_FAIL);
			scram_server_free(s);
			continue;
		}
		if (r != bad[i].want)
			fail_msg("client-first %zu '%s': %d, want %d", i, bad[i].m, r, bad[i].want);
	}
}

static void test_overlong_client_first(void **state)
{
	char m[2600];
	struct ipc_scram_first f;
	/* A nonce over SCRAM_NONCE_MAX, a name over 255, a message over
	 * SCRAM_BARE_MAX, a binding name over SCRAM_CBNAME_MAX. */
	snprintf(m, sizeof(m), "n,,n=user,r=%0*d", SCRAM_NONCE_MAX + 1, 0);
	assert_int_equal(sasl_scram_first(m, strlen(m), &f), SCRAM_ERR_MALFORMED_FIRST);
	snprintf(m, sizeof(m), "n,,n=user,r=%0*d", SCRAM_NONCE_MAX, 0);
	assert_int_equal(sasl_scram_first(m, strlen(m), &f), SCRAM_OK);
	snprintf(m, sizeof(m), "n,,n=%0*d,r=abc", IPC_USER_MAX + 1, 0);
	assert_int_equal(sasl_scram_first(m, strlen(m), &f), SCRAM_ERR_MALFORMED_FIRST);
	snprintf(m, sizeof(m), "n,,n=%0*d,r=abc", IPC_USER_MAX, 0);
	assert_int_equal(sasl_scram_first(m, strlen(m), &f), SCRAM_OK);
	snprintf(m, sizeof(m), "n,,n=user,r=abc,x=%0*d", SCRAM_BARE_MAX, 0);
	assert_int_equal(sasl_scram_first(m, strlen(m), &f), SCRAM_ERR_MALFORMED_FIRST);
	snprintf(m, sizeof(m), "p=%0*d,,n=user,r=abc", SCRAM_CBNAME_MAX + 1, 0);
	assert_int_equal(sasl_scram_first(m, strlen(m), &f), SCRAM_ERR_MALFORMED_FIRST);
}

static void test_malformed_client_final(void **state)
{
	static const char *const bad[] = {
		"",
		"c=biws",
		"c=biws,r=abc",                                        /* no proof */
		"r=abc,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",   /* no r= */
		"c=biws,r=,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=a b,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV=",  /* not canonical */
		"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And",    /* short */
		"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=x",
		"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQdHzb",  /* 36 bytes */
		"c=biws,r=abc,p=",
	};
	struct ipc_scram_final f;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sasl_scram_final(bad[i], strlen(bad[i]), &f) != SCRAM_ERR_MALFORMED_FINAL)
			fail_msg("client-final %zu '%s' accepted", i, bad[i]);
	assert_int_equal(sasl_scram_final("c=biws,r=abc\0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
					  59, &f), SCRAM_ERR_MALFORMED_FINAL);
}

/* What the monitor refuses on fields that split well. */
static void test_server_refusals(void **state)
{
	static const struct {
		const char *first, *final;
		int method;
		const char *cbtype;
		size_t cblen;
		const char *why;
	} bad[] = {
		/* the RFC's messages, wrong for this connection or exchange */
		{ C_FIRST, NULL, AUTH_M_SCRAM_PLUS, "tls-exporter", 32,
		  "SCRAM-SHA-256-PLUS without channel binding" },
		{ "y,,n=user,r=rOprNGfwEbeRWgbNEkqO", NULL, AUTH_M_SCRAM, "tls-exporter", 32,
		  "channel binding downgrade" },
		{ "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO", NULL, AUTH_M_SCRAM,
		  "tls-exporter", 32, "channel binding type not supported" },
		{ "p=tls-unique,,n=user,r=rOprNGfwEbeRWgbNEkqO", NULL, AUTH_M_SCRAM_PLUS,
		  "tls-exporter", 32, "channel binding type not supported" },
		{ "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO", NULL, AUTH_M_SCRAM_PLUS,
		  "", 0, "channel binding type not supported" },
		{ C_FIRST, "c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		  AUTH_M_SCRAM, "", 0, "malformed client-final message" },     /* nonce */
		{ C_FIRST, "c=eSws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE
		  ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", AUTH_M_SCRAM, "", 0,
		  "channel binding mismatch" },                                /* c= of "y,," */
		{ C_FIRST, "c=biws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE
		  ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", AUTH_M_SCRAM, "", 0,
		  "wrong password" },
		{ C_FIRST, "c=biws,r=rOprNGfwEbeRWgbNEkqO" S_NONCE ",x=1"
		  ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", AUTH_M_SCRAM, "", 0,
		  "wrong password" },                  /* the AuthMessage covers extensions */
		{ "n,a=x,n=user,r=abc", NULL, AUTH_M_SCRAM, "", 0, "authorization identity differs" },
		{ "n,,n=user", NULL, AUTH_M_SCRAM, "", 0, "malformed client-first message" },
	};
	struct ipc_scram_challenge ch;
	struct ipc_auth_ok ok;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = "";
		char cb[64];
		memset(cb, 7, sizeof(cb));
		if (exchange(bad[i].first, bad[i].final, rfc_secret, bad[i].method, bad[i].cbtype,
			     cb, bad[i].cblen, &ch, &ok, &why) != SCRAM_FAIL)
			fail_msg("refusal %zu: not refused", i);
		if (strcmp(why, bad[i].why) != 0)
			fail_msg("refusal %zu: '%s', want '%s'", i, why, bad[i].why);
	}
}

/* -PLUS with binding data: c= must be base64 of the gs2 header and the
 * data; the server checks it against the connection's data. */
static void test_channel_binding(void **state)
{
	char cbind[200], final[400];
	unsigned char raw[64];
	struct ipc_scram_challenge ch;
	struct ipc_auth_ok ok;
	const char *why = "";
	const char *gs2 = "p=tls-exporter,,";
	memcpy(raw, gs2, 16);
	memset(raw + 16, 7, 32);
	b64_encode(raw, 48, cbind);
	/* The proof is wrong (the RFC's is for "biws"), but the binding is
	 * checked first: the failure must be the password, not the binding. */
	snprintf(final, sizeof(final), "c=%s,r=abc%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		 cbind, S_NONCE);
	assert_int_equal(exchange("p=tls-exporter,,n=user,r=abc", final, rfc_secret,
				  AUTH_M_SCRAM_PLUS, "tls-exporter", "\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7"
				  "\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7", 32, &ch, &ok, &why), SCRAM_FAIL);
	assert_string_equal(why, "wrong password");
	/* Other binding data on this connection: a mismatch. */
	assert_int_equal(exchange("p=tls-exporter,,n=user,r=abc", final, rfc_secret,
				  AUTH_M_SCRAM_PLUS, "tls-exporter", "\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7"
				  "\7\7\7\7\7\7\7\7\7\7\7\7\7\7\7\x08", 32, &ch, &ok, &why), SCRAM_FAIL);
	assert_string_equal(why, "channel binding mismatch");
}

/* An unknown user: a server-first of the same shape, a salt that is the
 * same every time, and a failure at the end even with a "right" proof. */
static void test_unknown_user(void **state)
{
	struct ipc_scram_challenge a, b, c;
	struct ipc_auth_ok ok;
	const char *why = "";
	assert_int_equal(exchange(C_FIRST, C_FINAL, NULL, AUTH_M_SCRAM, "", "", 0, &a, &ok, &why),
			 SCRAM_FAIL);
	assert_string_equal(why, "unknown user or no SCRAM secret");
	assert_int_equal(exchange(C_FIRST, NULL, NULL, AUTH_M_SCRAM, "", "", 0, &b, &ok, &why),
			 SCRAM_CONTINUE);
	assert_string_equal(a.msg, b.msg);
	assert_int_equal(exchange("n,,n=other,r=rOprNGfwEbeRWgbNEkqO", NULL, NULL, AUTH_M_SCRAM,
				  "", "", 0, &c, &ok, &why), SCRAM_CONTINUE);
	assert_int_equal(a.len, c.len);
	assert_string_not_equal(a.msg, c.msg);
	assert_non_null(strstr(c.msg, ",i=4096"));
	/* A broken secret is no secret. */
	assert_int_equal(exchange(C_FIRST, C_FINAL, "4096,xx,yy", AUTH_M_SCRAM, "", "", 0, &a, &ok,
				  &why), SCRAM_FAIL);
	assert_string_equal(why, "unknown user or no SCRAM secret");
}

/* Messages out of order, or a second client-first. */
static void test_steps(void **state)
{
	struct scram_server *s = scram_server_new();
	struct ipc_scram_final fin;
	struct ipc_scram_first f;
	struct ipc_scram_challenge ch;
	struct ipc_auth_ok ok;
	const char *why = "";
	assert_int_equal(sasl_scram_final(C_FINAL, strlen(C_FINAL), &fin), SCRAM_OK);
	assert_int_equal(scram_server_final(s, &fin, &ok, &why), SCRAM_FAIL);
	assert_string_equal(why, "unexpected SCRAM message");
	scram_server_free(s);
	s = scram_server_new();
	memset(&f, 0, sizeof(f));
	f.method = AUTH_M_SCRAM;
	assert_int_equal(sasl_scram_first(C_FIRST, strlen(C_FIRST), &f), SCRAM_OK);
	assert_int_equal(scram_server_first(s, &f, rfc_secret, fake_key, S_NONCE, &ch, &why),
			 SCRAM_CONTINUE);
	assert_int_equal(scram_server_first(s, &f, rfc_secret, fake_key, S_NONCE, &ch, &why),
			 SCRAM_FAIL);
	scram_server_free(s);
	/* A server nonce that is not one. */
	s = scram_server_new();
	assert_int_equal(scram_server_first(s, &f, rfc_secret, fake_key, "a,b", &ch, &why),
			 SCRAM_TEMPFAIL);
	scram_server_free(s);
	{
		char n1[SCRAM_SNONCE_SIZE], n2[SCRAM_SNONCE_SIZE];
		assert_int_equal(scram_server_nonce(n1), 0);
		assert_int_equal(scram_server_nonce(n2), 0);
		assert_int_equal(strlen(n1), 24);
		assert_string_not_equal(n1, n2);
	}
}

static void test_secret_format(void **state)
{
	struct scram_secret s;
	unsigned char salt[16];
	char out[256];
	/* The same salt and password give what postern-passwd wrote. */
	assert_int_equal(b64_decode("6Z5I+61j04AfmM7Yj9RQXQ==", 24, salt, sizeof(salt)), 16);
	assert_int_equal(scram_secret_make("pw1", 3, 4096, salt, 16, out, sizeof(out)), 0);
	assert_string_equal(out, PW1_SECRET);
	assert_int_equal(scram_secret_parse(PW1_SECRET, &s), 0);
	assert_int_equal(s.iter, 4096);
	assert_int_equal(s.saltlen, 16);
	assert_memory_equal(s.salt, salt, 16);
	assert_int_equal(scram_password_ok("pw1", 3, PW1_SECRET), 1);
	/* Too small an output buffer. */
	assert_int_equal(scram_secret_make("pw1", 3, 4096, salt, 16, out, 50), -1);
	{
		static const char *const bad[] = {
			"", "4096", "4096,6Z5I+61j04AfmM7Yj9RQXQ==",
			"0,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=",
			"x4096,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=",
			"4096x,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=",
			"99999999,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=",
			"4096,,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=",
			"4096,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=",
			"4096,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
			"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=,",
			"4096,6Z5I+61j04AfmM7Yj9RQXQ==,fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (scram_secret_parse(bad[i], &s) != -1)
				fail_msg("secret %zu '%s' accepted", i, bad[i]);
			assert_int_equal(scram_password_ok("pw1", 3, bad[i]), 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_exchange),
		cmocka_unit_test(test_split_fields),
		cmocka_unit_test(test_malformed_client_first),
		cmocka_unit_test(test_overlong_client_first),
		cmocka_unit_test(test_malformed_client_final),
		cmocka_unit_test(test_server_refusals),
		cmocka_unit_test(test_channel_binding),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_secret_format),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
