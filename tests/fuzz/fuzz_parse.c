/* fuzz_parse.c - libFuzzer target for src/parse.c.
 *
 * Input: byte 0 picks the function, byte 1 a parameter (the max of
 * parse_decimal, the host buffer size of parse_hostport), the rest is the
 * text.  Every parser is compared with an independent reference written
 * from the header's contract; parse_hostport results must also survive
 * being printed the way config_print prints them and parsed again. */
#include "parse.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_parse: %s\n", what);
		abort();
	}
}

/* 1-20 digits, value <= max, no overflow. */
static int ref_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	unsigned __int128 v = 0;
	size_t i;
	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* digits, spaces, unit; the scaled value must fit in 64 bits. */
static int ref_unit(const char *s, uint64_t *n, const char **unit)
{
	size_t d = strspn(s, "0123456789");
	if (ref_decimal(s, d, UINT64_MAX, n) < 0)
		return -1;
	s += d;
	while (*s == ' ')
		s++;
	*unit = s;
	return 0;
}

static int ref_duration(const char *s, uint64_t *out)
{
	static const struct { const char *u; uint64_t m; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t n;
	const char *u;
	size_t i;
	if (ref_unit(s, &n, &u) < 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(u, units[i].u) == 0) {
			unsigned __int128 v = (unsigned __int128)n * units[i].m;
			if (v > UINT64_MAX)
				return -1;
			*out = (uint64_t)v;
			return 0;
		}
	return -1;
}

static int ref_size(const char *s, uint64_t *out)
{
	static const struct { const char *u; unsigned sh; } units[] = {
		{ "", 0 }, { "k", 10 }, { "K", 10 }, { "M", 20 }, { "G", 30 },
	};
	uint64_t n;
	const char *u;
	size_t i;
	if (ref_unit(s, &n, &u) < 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(u, units[i].u) == 0) {
			if (units[i].sh && n > (UINT64_MAX >> units[i].sh))
				return -1;
			*out = n << units[i].sh;
			return 0;
		}
	return -1;
}

static int ref_bool(const char *s, int *out)
{
	static const char *words[] = { "no", "yes", "false", "true", "off", "on", "0", "1" };
	size_t i;
	for (i = 0; i < 8; i++)
		if (strcasecmp(s, words[i]) == 0) {
			*out = (int)(i & 1);
			return 0;
		}
	return -1;
}

static int ref_hostport(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *h, *ps;
	size_t hlen;
	uint64_t p;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(end - h);
		ps = end + 2;
	} else {
		const char *c = strchr(s, ':');
		if (!c || strchr(c + 1, ':'))
			return -1;
		h = s;
		hlen = (size_t)(c - s);
		ps = c + 1;
	}
	if (ref_decimal(ps, strlen(ps), 65535, &p) < 0 || p == 0)
		return -1;
	if (hlen == 1 && h[0] == '*')
		hlen = 0;
	for (size_t i = 0; i < hlen; i++)
		if (h[i] == '[' || h[i] == ']' || h[i] == '#')
			return -1;
	if (hlen >= cap)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t maxes[] = { UINT32_MAX, 65535, UINT64_MAX, 0x7fffffff, 0, 1, 10 };
	uint8_t fn, par;
	size_t len;
	char *s;

	if (size < 2)
		return 0;
	fn = data[0] % 5;
	par = data[1];
	len = size - 2;
	/* Exactly len bytes, no terminator: parse_decimal must not read more. */
	s = malloc(len + 1);
	check(s != NULL, "malloc");
	memcpy(s, data + 2, len);

	if (fn == 0) {
		uint64_t max = maxes[par % (sizeof(maxes) / sizeof(maxes[0]))];
		uint64_t a = 12345, b = 12345;
		char *exact = malloc(len ? len : 1);
		int ra, rb;
		check(exact != NULL, "malloc");
		memcpy(exact, data + 2, len);
		ra = parse_decimal(exact, len, max, &a);
		rb = ref_decimal(exact, len, max, &b);
		check(ra == rb, "parse_decimal accepts/rejects unlike the reference");
		check(ra < 0 ? a == 12345 : a == b, "parse_decimal value");
		free(exact);
		free(s);
		return 0;
	}
	s[len] = '\0';
	if (fn == 1 || fn == 2) {
		uint64_t a = 7, b = 7;
		int ra = fn == 1 ? parse_duration_ms(s, &a) : parse_size(s, &a);
		int rb = fn == 1 ? ref_duration(s, &b) : ref_size(s, &b);
		check(ra == rb, "duration/size accepts/rejects unlike the reference");
		check(ra < 0 || a == b, "duration/size value");
	} else if (fn == 3) {
		int a = 7, b = 7;
		int ra = parse_bool(s, &a), rb = ref_bool(s, &b);
		check(ra == rb && (ra < 0 || a == b), "parse_bool");
	} else {
		size_t cap = 1 + par % 80;
		char *host = malloc(cap), rhost[80], again[80], printed[200];
		uint16_t port = 0, rport = 0, port2 = 0;
		int ra, rb;
		check(host != NULL, "malloc");
		ra = parse_hostport(s, host, cap, &port);
		rb = ref_hostport(s, rhost, cap, &rport);
		check(ra == rb, "parse_hostport accepts/rejects unlike the reference");
		if (ra == 0) {
			check(strcmp(host, rhost) == 0 && port == rport, "parse_hostport value");
			check(port != 0 && strlen(host) < cap, "parse_hostport range");
			/* Print as config_print does and parse again. */
			if (!host[0])
				snprintf(printed, sizeof(printed), "*:%u", port);
			else if (strchr(host, ':'))
				snprintf(printed, sizeof(printed), "[%s]:%u", host, port);
			else
				snprintf(printed, sizeof(printed), "%s:%u", host, port);
			check(parse_hostport(printed, again, sizeof(again), &port2) == 0,
			      "printed listen address does not parse again");
			check(strcmp(again, host) == 0 && port2 == port,
			      "printed listen address parses differently");
		}
		free(host);
	}
	free(s);
	return 0;
}
