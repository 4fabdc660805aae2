/* parse.c - strict parsers for POP3 arguments and configuration values.
 * Pure code, any rights. */
#include "parse.h"
#include <ctype.h>
#include <string.h>
#include <strings.h>

int parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int split_unit(const char *s, uint64_t *num, const char **unit)
{
	size_t n = 0;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (parse_decimal(s, n, UINT64_MAX, num) < 0)
		return -1;
	*unit = s + n;
	while (**unit == ' ')
		(*unit)++;
	return 0;
}

/* n * mul, refusing overflow. */
static int scale(uint64_t n, uint64_t mul, uint64_t *out)
{
	if (n > UINT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t n;
	const char *u;
	if (split_unit(s, &n, &u) < 0)
		return -1;
	if (*u == '\0' || strcmp(u, "s") == 0)
		return scale(n, 1000, out);
	if (strcmp(u, "ms") == 0)
		return scale(n, 1, out);
	if (strcmp(u, "m") == 0)
		return scale(n, 60000, out);
	if (strcmp(u, "h") == 0)
		return scale(n, 3600000, out);
	if (strcmp(u, "d") == 0)
		return scale(n, 86400000, out);
	return -1;
}

int parse_login_delay(const char *s, int allow_off, long *out)
{
	uint64_t ms;
	if (allow_off && strcasecmp(s, "off") == 0) {
		*out = PARSE_DELAY_OFF;
		return 0;
	}
	if (parse_duration_ms(s, &ms) < 0 || ms % 1000 || ms / 1000 > (uint64_t)PARSE_DELAY_MAX)
		return -1;
	*out = (long)(ms / 1000);
	return 0;
}

int parse_expire(const char *s, int allow_off, long *out)
{
	uint64_t d;
	if (allow_off && strcasecmp(s, "off") == 0) {
		*out = PARSE_EXPIRE_OFF;
		return 0;
	}
	if (strcasecmp(s, "never") == 0) {
		*out = PARSE_EXPIRE_NEVER;
		return 0;
	}
	if (parse_decimal(s, strlen(s), PARSE_EXPIRE_MAX, &d) < 0)
		return -1;
	*out = (long)d;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t n;
	const char *u;
	if (split_unit(s, &n, &u) < 0)
		return -1;
	if (*u == '\0')
		return scale(n, 1, out);
	if (strcasecmp(u, "k") == 0)
		return scale(n, 1ULL << 10, out);
	if (strcmp(u, "M") == 0)
		return scale(n, 1ULL << 20, out);
	if (strcmp(u, "G") == 0)
		return scale(n, 1ULL << 30, out);
	return -1;
}

int parse_bool(const char *s, int *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;
	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int parse_hostport(const char *s, char *hostbuf, size_t hostcap, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hlen;
	uint64_t p;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (parse_decimal(colon + 1, strlen(colon + 1), 65535, &p) < 0 || p == 0)
		return -1;
	if (hlen == 1 && h[0] == '*')
		hlen = 0;
	/* No host name or address holds these; '#' would start a comment
	 * where config_print writes the address back. */
	if (memchr(h, '[', hlen) || memchr(h, ']', hlen) || memchr(h, '#', hlen))
		return -1;
	if (hlen >= hostcap)
		return -1;
	memcpy(hostbuf, h, hlen);
	hostbuf[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}
