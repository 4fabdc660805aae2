/* master.h - the standalone listener (root). */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H
#include "config.h"

/* Run until SIGTERM.  cfgpath is re-read on SIGHUP. */
int master_run(const struct config *cfg, const char *cfgpath);
#endif
