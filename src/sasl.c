/* sasl.c - SASL framing for AUTH (RFC 5034) in the pre-auth process
 * (postern, chroot): PLAIN splitting, and the splitting of the client's
 * SCRAM-SHA-256 messages (RFC 5802 section 7) into length-checked fields,
 * so that the root monitor never parses a client's protocol text.  Pure. */
#include "sasl.h"
#include "base64.h"
#include <string.h>

int sasl_plain_split(const unsigned char *buf, size_t len, const char **authzid,
		     const char **authcid, const char **passwd, size_t *passlen)
{
	const unsigned char *n1 = memchr(buf, '\0', len), *n2;
	if (!n1)
		return -1;
	n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - buf));
	if (!n2 || n2 == n1 + 1)
		return -1;
	*authzid = (const char *)buf;
	*authcid = (const char *)n1 + 1;
	*passwd = (const char *)n2 + 1;
	*passlen = len - (size_t)(n2 + 1 - buf);
	if (*passlen == 0 || memchr(*passwd, '\0', *passlen))
		return -1;
	return 0;
}

/* saslname: '=2C' is ',' and '=3D' is '='; any other '=' is an error. */
static int unescape_name(const char *in, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '=') {
			if (i + 2 < len && in[i + 1] == '2' && in[i + 2] == 'C')
				c = ',';
			else if (i + 2 < len && in[i + 1] == '3' && in[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (o + 1 >= cap || c == '\0')
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* A nonce: printable ASCII but ','. */
static int nonce_ok(const char *p, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return 0;
	return 1;
}

static void put(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

int sasl_scram_first(const char *in, size_t inlen, struct ipc_scram_first *f)
{
	const char *p = in, *end = in + inlen, *c1, *c2, *bare, *nstart, *rstart, *rend;

	f->cbflag = 'n';
	f->cbname[0] = f->user[0] = f->nonce[0] = f->gs2[0] = f->bare[0] = '\0';
	if (inlen == 0 || memchr(in, '\0', inlen))
		return SCRAM_ERR_MALFORMED_FIRST;
	/* gs2-header: cbind-flag "," [authzid] "," */
	c1 = memchr(p, ',', inlen);
	if (!c1)
		return SCRAM_ERR_MALFORMED_FIRST;
	c2 = memchr(c1 + 1, ',', (size_t)(end - c1 - 1));
	if (!c2)
		return SCRAM_ERR_MALFORMED_FIRST;
	if (p[0] == 'p' && c1 - p > 2 && p[1] == '=') {
		if ((size_t)(c1 - p - 2) > SCRAM_CBNAME_MAX)
			return SCRAM_ERR_MALFORMED_FIRST;
		f->cbflag = 'p';
		put(f->cbname, p + 2, (size_t)(c1 - p - 2));
	} else if (c1 - p == 1 && (p[0] == 'n' || p[0] == 'y')) {
		f->cbflag = p[0];
	} else {
		return SCRAM_ERR_MALFORMED_FIRST;
	}
	if ((size_t)(c2 + 1 - p) > SCRAM_GS2_MAX)
		return SCRAM_ERR_MALFORMED_FIRST;
	put(f->gs2, p, (size_t)(c2 + 1 - p));
	bare = c2 + 1;
	if ((size_t)(end - bare) > SCRAM_BARE_MAX)
		return SCRAM_ERR_MALFORMED_FIRST;
	put(f->bare, bare, (size_t)(end - bare));
	/* "n=user,r=nonce[,ext]" */
	if (end - bare < 2 || memcmp(bare, "n=", 2) != 0)
		return SCRAM_ERR_MALFORMED_FIRST;
	nstart = bare + 2;
	rstart = memchr(nstart, ',', (size_t)(end - nstart));
	if (!rstart || end - rstart < 4 || memcmp(rstart, ",r=", 3) != 0)
		return SCRAM_ERR_MALFORMED_FIRST;
	if (unescape_name(nstart, (size_t)(rstart - nstart), f->user, sizeof(f->user)) < 0)
		return SCRAM_ERR_MALFORMED_FIRST;
	if (c2 > c1 + 1) {
		/* authzid "a=name" must be the user itself */
		char authz[IPC_USER_MAX + 1];
		if (c2 - c1 < 3 || c1[1] != 'a' || c1[2] != '=' ||
		    unescape_name(c1 + 3, (size_t)(c2 - c1 - 3), authz, sizeof(authz)) < 0 ||
		    strcmp(authz, f->user) != 0)
			return SCRAM_ERR_AUTHZID;
	}
	rstart += 3;
	rend = memchr(rstart, ',', (size_t)(end - rstart));
	if (!rend)
		rend = end;
	if ((size_t)(rend - rstart) > SCRAM_NONCE_MAX || !nonce_ok(rstart, (size_t)(rend - rstart)))
		return SCRAM_ERR_MALFORMED_FIRST;
	put(f->nonce, rstart, (size_t)(rend - rstart));
	return SCRAM_OK;
}

int sasl_scram_final(const char *in, size_t inlen, struct ipc_scram_final *f)
{
	const char *end = in + inlen, *comma, *r, *rend, *pp = NULL, *q;

	f->cbind[0] = f->nonce[0] = f->noproof[0] = '\0';
	memset(f->proof, 0, sizeof(f->proof));
	if (inlen == 0 || memchr(in, '\0', inlen) || inlen < 2 || memcmp(in, "c=", 2) != 0)
		return SCRAM_ERR_MALFORMED_FINAL;
	/* p= is the last attribute; no value holds a ','. */
	for (q = in; q + 3 <= end && !pp; q++)
		if (memcmp(q, ",p=", 3) == 0)
			pp = q;
	if (!pp)
		return SCRAM_ERR_MALFORMED_FINAL;
	comma = memchr(in, ',', inlen);
	if ((size_t)(comma - in - 2) > SCRAM_CBIND_MAX)
		return SCRAM_ERR_MALFORMED_FINAL;
	put(f->cbind, in + 2, (size_t)(comma - in - 2));
	if (comma == pp || end - comma < 3 || memcmp(comma, ",r=", 3) != 0)
		return SCRAM_ERR_MALFORMED_FINAL;
	r = comma + 3;
	rend = memchr(r, ',', (size_t)(end - r));    /* at pp at the latest */
	if ((size_t)(rend - r) > SCRAM_NONCE_MAX + 64 || !nonce_ok(r, (size_t)(rend - r)))
		return SCRAM_ERR_MALFORMED_FINAL;
	put(f->nonce, r, (size_t)(rend - r));
	if ((size_t)(pp - in) > SCRAM_NOPROOF_MAX)
		return SCRAM_ERR_MALFORMED_FINAL;
	put(f->noproof, in, (size_t)(pp - in));
	if (b64_decode(pp + 3, (size_t)(end - pp - 3), f->proof, sizeof(f->proof)) != SCRAM_PROOF_LEN)
		return SCRAM_ERR_MALFORMED_FINAL;
	return SCRAM_OK;
}
