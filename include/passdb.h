/* passdb.h - the credential sources the monitor asks in turn (passdb =
 * passwd-file pam checkpassword): the passwd file (authcheck.c), system
 * accounts through PAM (passdb_pam.c) and a qmail checkpassword program
 * (passdb_checkpw.c).  Each answers a user name and a password with
 * AUTH_OK and the account (name, uid, gid, home), AUTH_FAIL or
 * AUTH_TEMPFAIL.  PAM and checkpassword run in a child of the monitor,
 * under passdb_timeout. */
#ifndef POSTERN_PASSDB_H
#define POSTERN_PASSDB_H
#include "authcheck.h"
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One password check: what the pre-auth process sent, and what the monitor
 * knows about the connection. */
struct passdb_req {
	const char *user;
	const char *pass;
	size_t passlen;
	const char *rip;         /* client address, for PAM_RHOST and TCPREMOTEIP */
	const char *stamp;       /* the greeting's APOP timestamp, or "" */
};

/* Ask cfg's sources in order; the first AUTH_OK wins.  Otherwise
 * AUTH_TEMPFAIL if a source was unavailable, else AUTH_FAIL; *why says why
 * for the log.  When PAM or checkpassword is among the sources, a failure
 * is answered passdb_fail_time after the check began (or when it ends, if
 * later), whatever its reason. */
enum auth_result passdb_password(const struct config *cfg, const struct passdb_req *rq,
				 struct auth_user *u, const char **why);

/* The sources that run a child (passdb.c provides the common part). */
enum auth_result passdb_pam(const struct config *cfg, const struct passdb_req *rq,
			    struct auth_user *u, const char **why);
enum auth_result passdb_checkpw(const struct config *cfg, const struct passdb_req *rq,
				struct auth_user *u, const char **why);

/* The password database's entry of name into u (user, uid, gid, home;
 * getpwnam_r).  0, or -1 with *why when there is none or it does not fit. */
int passdb_getpw(const char *name, struct auth_user *u, const char **why);

/* The PAM conversation's data: what it answers password prompts with, and
 * whether it refused another kind of prompt. */
struct passdb_pam_conv_data {
	const char *pass;
	size_t passlen;
	int refused;
};
#ifdef PAM_SUCCESS    /* with <security/pam_appl.h> included first */
/* Answers PAM_PROMPT_ECHO_OFF with the password, logs PAM_ERROR_MSG and
 * PAM_TEXT_INFO, refuses anything else (PAM_CONV_ERR).  data: struct
 * passdb_pam_conv_data. */
int passdb_pam_conv(int n, const struct pam_message **msg, struct pam_response **resp,
		    void *data);
#endif

/* A pipe from a child, read into buf until end of file. */
struct passdb_pipe {
	int fd;
	char *buf;
	size_t cap, len;
	int overflow;            /* more came than cap */
};
/* Read the pipes until each is at end of file and pid has exited, until
 * deadline (now_ms()).  Past it pid's process group is killed.  Returns 0
 * with *status (waitpid's), or -1 on timeout or a wait error (*timed_out
 * says which).  Closes the pipes' descriptors. */
int passdb_collect(pid_t pid, struct passdb_pipe *p, int np, uint64_t deadline,
		   int *status, int *timed_out);

/* ---- checkpassword's pure parts (unit-tested) ---- */

/* What the reply program writes back on fd 4, "KEY=value\0" records. */
#define CPW_REPLY_MAX 4096
#define CPW_REPLY_ARG "--checkpassword-reply"
struct cpw_reply {
	char user[256];          /* "" when USER was not set */
	char home[PW_HOME_MAX + 1];
	unsigned long uid, gid;
	int have_uid, have_gid;
};
/* 0 and r filled, or -1: not what the reply program writes (unknown key,
 * a key twice, a bad number, a value too long, no final NUL). */
int cpw_parse_reply(const char *buf, size_t len, struct cpw_reply *r);
/* The checkpassword input "user\0password\0timestamp\0" into buf; its
 * length, or 0 when it does not fit cap. */
size_t cpw_input(char *buf, size_t cap, const char *user, const char *pass, size_t passlen,
		 const char *stamp);
/* The program's end (waitpid status) as a result: 0 is yes, 1 a wrong
 * password, 111 and everything else temporary.  *why for the log. */
enum auth_result cpw_status(int status, const char **why);
/* postern started as the checkpassword-reply program: write USER, HOME,
 * UID and GID (from userdb_uid/userdb_gid, or the process's own ids when
 * they are not root) to fd 4.  Returns the exit status. */
int cpw_reply_main(void);
#endif
