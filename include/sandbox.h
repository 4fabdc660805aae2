/* sandbox.h - Linux seccomp confinement of the pre-auth process. */
#ifndef POSTERN_SANDBOX_H
#define POSTERN_SANDBOX_H
/* Compile the pre-auth filter (once, before forking). */
void sandbox_prepare(void);
/* Load it into the calling process; exits on failure. */
void sandbox_preauth(void);
#endif
