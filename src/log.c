/* log.c - syslog(3) facility mail, or stderr with -d.  Any rights.
 *
 * Stable line formats (fail2ban: see contrib/fail2ban/postern.conf):
 *   login: user=<U> rip=A lport=P tls=<VERSION/CIPHER|plaintext> method=M
 *   logout: user=<U> rip=A retr=N/BYTES top=N dele=N/BYTES left=N/BYTES reason=R
 *   auth failed: user=<U> rip=A method=M failures=N
 */
#include "log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_stderr;
static char log_ident[32] = "postern";

void log_open(const char *ident, int to_stderr)
{
	log_stderr = to_stderr;
	log_set_ident(ident);
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
}

static void vlog(int prio, const char *fmt, va_list ap)
{
	if (log_stderr) {
		char buf[1024];
		int n = snprintf(buf, sizeof(buf), "%s[%ld]: ", log_ident, (long)getpid());
		if (n < 0)
			return;
		vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
		/* One write per line so lines from many processes do not mix. */
		size_t len = strlen(buf);
		if (len + 1 < sizeof(buf)) {
			buf[len++] = '\n';
		} else {
			buf[sizeof(buf) - 2] = '\n';
			len = sizeof(buf) - 1;
		}
		ssize_t w = write(2, buf, len);
		(void)w;
	} else {
		vsyslog(prio, fmt, ap);
	}
}

void plog(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(prio, fmt, ap);
	va_end(ap);
}

void pfatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	_exit(1);
}
