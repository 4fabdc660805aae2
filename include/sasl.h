/* sasl.h - the pre-auth side of SASL for AUTH (RFC 5034): PLAIN splitting
 * and the splitting of SCRAM-SHA-256 client messages (RFC 5802) into the
 * length-checked fields the monitor gets (struct ipc_scram_first/final).
 * Pure code; the SCRAM server itself is scram.h (monitor). */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H
#include "ipc.h"
#include <stddef.h>

/* PLAIN: authzid NUL authcid NUL passwd.  Pointers into buf (which is
 * NUL-terminated at len by the caller's buffer of len+1).  0 or -1. */
int sasl_plain_split(const unsigned char *buf, size_t len, const char **authzid,
		     const char **authcid, const char **passwd, size_t *passlen);

/* client-first-message: gs2-header client-first-message-bare.  Fills f's
 * client fields (cbflag, cbname, user, nonce, gs2, bare; not method or
 * the connection's binding data).  Returns SCRAM_OK or the enum
 * scram_error to report. */
int sasl_scram_first(const char *in, size_t len, struct ipc_scram_first *f);
/* client-final-message: "c=" cbind ",r=" nonce [extensions] ",p=" proof. */
int sasl_scram_final(const char *in, size_t len, struct ipc_scram_final *f);
#endif
