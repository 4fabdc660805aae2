/* sandbox.h - Linux seccomp confinement of the pre-auth process. */
#ifndef POSTERN_SANDBOX_H
#define POSTERN_SANDBOX_H
void sandbox_preauth(void);
#endif
