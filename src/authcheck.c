/* authcheck.c - passwd-file lookup and password checks.  Runs in the
 * connection monitor, as root: the only process that reads the credentials
 * file.  The file is read afresh for every check, so edits take effect at
 * once without a restart. */
#include "authcheck.h"
#include "log.h"
#include "passwd_line.h"
#include "scram.h"
#include "util.h"
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Used when crypt_gensalt cannot make a setting: a yescrypt hash, at
 * libxcrypt's default cost (j9T), of a random string nobody knows. */
static const char fallback_hash[] =
	"$y$j9T$n7JfdwBU7N9zYekJ0pq5d.$UIfFqn.6JwLVH0BPFuImqU1G7ia7pxCuE8bqv2kyRd1";

/* What a failure that has no crypt hash of its own (an unknown user, a
 * locked entry, a wrong {PLAIN} password) pays: a crypt of the scheme and
 * cost postern-passwd writes for a new user, yescrypt at crypt_gensalt's
 * default cost (libxcrypt's own default scheme if it has no yescrypt).
 * Not the file's first hash: that may be another scheme or cost, and an
 * unknown name would time differently from a known one.  Made once per
 * process; a setting is all crypt needs. */
static const char *dummy_hash(void)
{
	static char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (setting[0])
		return setting;
	if ((!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)) ||
	     setting[0] == '*') &&
	    (!crypt_gensalt_rn(NULL, 0, NULL, 0, setting, sizeof(setting)) || setting[0] == '*'))
		snprintf(setting, sizeof(setting), "%s", fallback_hash);
	return setting;
}

#define IOBUF_SIZE (16 * 1024)

static int file_safe(FILE *f, const char *path)
{
	struct stat st;
	if (fstat(fileno(f), &st) < 0)
		return 0;
	/* A credentials file anyone can write is a credentials file anyone
	 * can log in with: refuse it. */
	if (st.st_mode & S_IWOTH) {
		plog(LOG_ERR, "%s is world-writable: refusing to use it", path);
		return 0;
	}
	return 1;
}

/* Copies the entry into u.  A field that does not fit its buffer locks the
 * account: cut, a {PLAIN} secret would match by its prefix, and an uncopied
 * crypt hash left the dummy (another user's hash) to decide. */
static void take_entry(const struct config *cfg, unsigned long lineno, const struct pwline *pw,
		       struct auth_user *u, int *scheme, size_t hashcap)
{
	size_t cap = SIZE_MAX;
	const char *what = NULL;

	snprintf(u->user, sizeof(u->user), "%s", pw->user);  /* pw_user_valid: <= 255 */
	u->uid = pw->uid;
	u->gid = pw->gid;
	*scheme = pw->scheme;
	if (pw->scheme == PW_CRYPT)
		cap = hashcap;
	else if (pw->scheme == PW_SCRAM256)
		cap = sizeof(u->scram);
	else if (pw->scheme == PW_PLAIN)
		cap = sizeof(u->plain);
	if (strlen(pw->password) >= cap)
		what = "password";
	else if (strlen(pw->home) >= sizeof(u->home))
		what = "home";
	if (what) {
		plog(LOG_ERR, "%s:%lu: malformed entry of user <%s> (%s field too long): "
		     "treated as locked", cfg->passwd_file, lineno, pw->user, what);
		*scheme = PW_LOCKED;
		return;
	}
	snprintf(u->home, sizeof(u->home), "%s", pw->home);
	if (pw->scheme == PW_SCRAM256)
		snprintf(u->scram, sizeof(u->scram), "%s", pw->password);
	if (pw->scheme == PW_PLAIN)
		snprintf(u->plain, sizeof(u->plain), "%s", pw->password);
}

/* first: when not NULL, receives the file's first crypt hash (a secret
 * only this host has; the SCRAM fake salt's key), or "". */
static int lookup(const struct config *cfg, const char *user, struct auth_user *u,
		  int *scheme, char *hash, size_t hashcap, char *first, size_t firstcap)
{
	FILE *f = fopen(cfg->passwd_file, "re");
	char *iobuf, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	int found = 0, have_first = first == NULL;

	/* Nothing of an earlier lookup may reach this one's result. */
	memset(u, 0, sizeof(*u));
	*scheme = PW_LOCKED;
	snprintf(hash, hashcap, "%s", dummy_hash());
	if (first)
		first[0] = '\0';
	if (!f) {
		plog(LOG_ERR, "cannot read %s: %s", cfg->passwd_file, strerror(errno));
		return -1;
	}
	if (!file_safe(f, cfg->passwd_file)) {
		fclose(f);
		return -1;
	}
	/* stdio's buffer holds every user's hash too: give it one we wipe,
	 * in a mapping the mail process (forked later) will not inherit. */
	iobuf = mmap(NULL, IOBUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (iobuf == MAP_FAILED || setvbuf(f, iobuf, _IOFBF, IOBUF_SIZE) != 0) {
		plog(LOG_ERR, "cannot read %s: out of memory", cfg->passwd_file);
		if (iobuf != MAP_FAILED)
			munmap(iobuf, IOBUF_SIZE);
		fclose(f);
		return -1;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		struct pwline pw;
		lineno++;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (pw_parse_line(line, &pw) != 1)
			continue;
		if (!found && strcmp(pw.user, user) == 0) {
			take_entry(cfg, lineno, &pw, u, scheme, hashcap);
			found = 1;
			/* Only a crypt entry that fits replaces the dummy;
			 * any other entry's failures pay what an unknown
			 * user pays. */
			if (*scheme == PW_CRYPT)
				snprintf(hash, hashcap, "%s", pw.password);
			if (have_first)
				break;
		}
		if (!have_first && pw.scheme == PW_CRYPT && strlen(pw.password) < firstcap) {
			snprintf(first, firstcap, "%s", pw.password);
			have_first = 1;
			if (found)
				break;
		}
	}
	/* Other users' hashes passed through this buffer. */
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	explicit_bzero(iobuf, IOBUF_SIZE);
	munmap(iobuf, IOBUF_SIZE);
	return found;
}

int auth_lookup(const struct config *cfg, const char *user, struct auth_user *u,
		int *scheme, char *hash, size_t hashcap)
{
	return lookup(cfg, user, u, scheme, hash, hashcap, NULL, 0);
}

int auth_scram_lookup(const struct config *cfg, const char *user, struct auth_user *u,
		      const char **secret, unsigned char fake_key[32])
{
	char hash[512], first[512], mid[64] = "";
	int scheme, found;
	unsigned int klen = 0;
	FILE *f;
	EVP_MD_CTX *ctx;

	*secret = NULL;
	found = pw_user_valid(user, strlen(user)) ?
		lookup(cfg, user, u, &scheme, hash, sizeof(hash), first, sizeof(first)) :
		lookup(cfg, "", u, &scheme, hash, sizeof(hash), first, sizeof(first));
	if (found < 0)
		return -1;
	if (found == 1 && scheme == PW_SCRAM256)
		*secret = u->scram;
	/* The fake salt's key: secrets only this host has, the file's first
	 * crypt hash and /etc/machine-id, so that it is stable across
	 * connections and nobody outside can predict it. */
	f = fopen("/etc/machine-id", "re");
	if (f) {
		if (!fgets(mid, sizeof(mid), f))
			mid[0] = '\0';
		fclose(f);
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, "postern scram fake salt\n", 24) ||
	    !EVP_DigestUpdate(ctx, first, strlen(first)) ||
	    !EVP_DigestUpdate(ctx, mid, strlen(mid)) ||
	    !EVP_DigestFinal_ex(ctx, fake_key, &klen))
		RAND_bytes(fake_key, 32);
	EVP_MD_CTX_free(ctx);
	/* This stack becomes the mail process's, whoever logs in. */
	explicit_bzero(hash, sizeof(hash));
	explicit_bzero(first, sizeof(first));
	return found;
}

static int crypt_check(const char *pass, const char *hash)
{
	struct crypt_data *cd;
	const char *out;
	int ok = 0;

	/* crypt's 32 KB work area is mapped for the call and unmapped after,
	 * so it neither stays resident in the monitor nor leaves secrets in a
	 * page the mail process would inherit. */
	cd = mmap(NULL, sizeof(*cd), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cd == MAP_FAILED)
		return 0;
	out = crypt_rn(pass, hash, cd, sizeof(*cd));
	if (out && out[0] != '*')
		ok = ct_equal(out, strlen(out), hash, strlen(hash));
	explicit_bzero(cd, sizeof(*cd));
	munmap(cd, sizeof(*cd));
	return ok;
}

static enum auth_result password_check(const struct config *cfg, const char *user,
				       const char *pass, size_t passlen, struct auth_user *u,
				       const char **why, char *hash, size_t hashcap)
{
	int scheme, found, ok = 0;

	if (!pw_user_valid(user, strlen(user))) {
		/* Still pay for a hash so bad names cost what good ones do. */
		found = 0;
		auth_lookup(cfg, "", u, &scheme, hash, hashcap);
	} else {
		found = auth_lookup(cfg, user, u, &scheme, hash, hashcap);
	}
	if (found < 0) {
		*why = "passwd file unreadable";
		return AUTH_TEMPFAIL;
	}
	if (memchr(pass, '\0', passlen)) {
		*why = "NUL in password";
		crypt_check("", hash);
		return AUTH_FAIL;
	}
	if (found && scheme == PW_CRYPT) {
		if (crypt_check(pass, hash))
			return AUTH_OK;
		*why = "wrong password";
		return AUTH_FAIL;
	}
	if (found && scheme == PW_SCRAM256) {
		/* PBKDF2 is this account's cost, success or not: no dummy
		 * crypt on top, or a failure would tell itself by its time. */
		if (scram_password_ok(pass, passlen, u->scram))
			return AUTH_OK;
		*why = "wrong password";
		return AUTH_FAIL;
	}
	if (found && scheme == PW_PLAIN)
		ok = ct_equal(pass, passlen, u->plain, strlen(u->plain));
	/* A success may be fast: it tells the client nothing it did not know. */
	if (ok)
		return AUTH_OK;
	/* Every other failure (unknown user, locked or malformed entry, wrong
	 * {PLAIN} password) pays the crypt an unknown user pays: hash holds
	 * the dummy here, and its result is never used. */
	crypt_check(pass, hash);
	if (!found)
		*why = "unknown user";
	else if (scheme == PW_PLAIN)
		*why = "wrong password";
	else
		*why = "account locked or password scheme not usable";
	return AUTH_FAIL;
}

/* The stack the hash passed through is inherited by the mail process. */
enum auth_result auth_password(const struct config *cfg, const char *user,
			       const char *pass, size_t passlen, struct auth_user *u,
			       const char **why)
{
	char hash[512];
	enum auth_result r = password_check(cfg, user, pass, passlen, u, why, hash, sizeof(hash));
	explicit_bzero(hash, sizeof(hash));
	return r;
}

#define APOP_HASH_CAP 512

static enum auth_result apop_check(const struct config *cfg, const char *user,
				   const char *timestamp, const char *digest,
				   struct auth_user *u, const char **why, char *hash, char *hex,
				   unsigned char *md)
{
	unsigned int mdlen = 0, i;
	int scheme, found;
	EVP_MD_CTX *ctx;
	const char *secret;

	found = pw_user_valid(user, strlen(user)) ?
		auth_lookup(cfg, user, u, &scheme, hash, APOP_HASH_CAP) : 0;
	if (found < 0) {
		*why = "passwd file unreadable";
		return AUTH_TEMPFAIL;
	}
	secret = (found == 1 && scheme == PW_PLAIN) ? u->plain : "\x01 no such secret";
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL) ||
	    !EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) ||
	    !EVP_DigestUpdate(ctx, secret, strlen(secret)) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen)) {
		EVP_MD_CTX_free(ctx);
		*why = "MD5 unavailable";
		return AUTH_TEMPFAIL;
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < mdlen && i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[32] = '\0';
	if (found != 1 || scheme != PW_PLAIN) {
		*why = found == 1 ? "no {PLAIN} secret for APOP (APOP needs a {PLAIN} entry)" :
			"unknown user";
		return AUTH_FAIL;
	}
	if (!ct_equal(hex, 32, digest, strlen(digest))) {
		*why = "wrong APOP digest";
		return AUTH_FAIL;
	}
	return AUTH_OK;
}

enum auth_result auth_apop(const struct config *cfg, const char *user,
			   const char *timestamp, const char *digest,
			   struct auth_user *u, const char **why)
{
	char hash[APOP_HASH_CAP], hex[33];
	unsigned char md[EVP_MAX_MD_SIZE];
	enum auth_result r = apop_check(cfg, user, timestamp, digest, u, why, hash, hex, md);
	explicit_bzero(hash, sizeof(hash));
	explicit_bzero(hex, sizeof(hex));
	explicit_bzero(md, sizeof(md));
	return r;
}

int auth_ids_ok(const struct config *cfg, const struct auth_user *u, const char **why)
{
	if (u->uid == 0 || u->uid < cfg->first_valid_uid) {
		*why = "uid below first_valid_uid";
		return -1;
	}
	if (u->gid == 0 || u->gid < cfg->first_valid_gid) {
		*why = "gid below first_valid_gid";
		return -1;
	}
	return 0;
}

int auth_mail_path(const struct config *cfg, const struct auth_user *u, char *out,
		   size_t cap)
{
	const char *t = cfg->mail_location, *at = strchr(u->user, '@');
	size_t o = 0;
	for (; *t; t++) {
		const char *ins = NULL;
		size_t inslen = 0;
		char one[2] = { *t, 0 };
		if (*t == '%' && t[1]) {
			t++;
			switch (*t) {
			case 'h':
				/* Empty only for an entry too long to copy. */
				if (!u->home[0])
					return -1;
				ins = u->home;
				inslen = strlen(ins);
				break;
			case 'u': ins = u->user; inslen = strlen(ins); break;
			case 'n': ins = u->user; inslen = at ? (size_t)(at - u->user) : strlen(ins); break;
			case 'd': ins = at ? at + 1 : ""; inslen = strlen(ins); break;
			case '%': ins = "%"; inslen = 1; break;
			default: return -1;
			}
		} else {
			ins = one;
			inslen = 1;
		}
		if (o + inslen >= cap)
			return -1;
		memcpy(out + o, ins, inslen);
		o += inslen;
	}
	out[o] = '\0';
	if (out[0] != '/' || strstr(out, "/../") || (o >= 3 && strcmp(out + o - 3, "/..") == 0))
		return -1;
	return 0;
}
