/* authtime.c - the measured check of issue 13 finding 6: what a failed
 * USER/PASS costs the monitor (auth_password, src/authcheck.c) for a known
 * user of the default scheme (yescrypt, crypt_gensalt's default cost, what
 * postern-passwd writes), an unknown user, users of other schemes, and a
 * SCRAM user.  An unknown name must cost what a known default-scheme user
 * costs, whatever the file's first hash is.
 *
 *   make bench-auth                  (BENCH_AUTH_RUNS=41 by default)
 *   contrib/bench/authtime [runs]
 *
 * Prints, per case, the median and the spread (min..max) of runs timed
 * calls, and the unknown/known ratio.  Not a test: timings are reported,
 * never asserted.  The passwd file is a temporary one whose FIRST entry is
 * a $6$ user at 5000 rounds (the case where the old dummy, the file's
 * first hash, made an unknown user cost a $6$ check). */
#include "authcheck.h"
#include "config.h"
#include "log.h"
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static const char *hash_of(const char *prefix, unsigned long count, const char *pw)
{
	static char out[4][CRYPT_OUTPUT_SIZE];
	static int n;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const char *h;
	memset(&cd, 0, sizeof(cd));
	if (!crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)) ||
	    !(h = crypt_rn(pw, setting, &cd, sizeof(cd))) || h[0] == '*') {
		fprintf(stderr, "crypt %s failed\n", prefix ? prefix : "(default)");
		exit(1);
	}
	snprintf(out[n], sizeof(out[n]), "%s", h);
	return out[n++];
}

int main(int argc, char **argv)
{
	static const struct { const char *label, *user; } cases[] = {
		{ "known yescrypt user (default scheme), wrong password", "yves" },
		{ "unknown user", "nosuchuser" },
		{ "invalid user name", "../x" },
		{ "known $6$ user (first line), wrong password", "sixten" },
		{ "known {PLAIN} user, wrong password", "plato" },
		{ "known SCRAM user (4096 iterations), wrong password", "scarlett" },
	};
	enum { NCASES = sizeof(cases) / sizeof(cases[0]) };
	int runs = argc > 1 ? atoi(argv[1]) : 15, i, k;
	char path[] = "/tmp/authtime.XXXXXX";
	struct config cfg;
	struct auth_user u;
	double med[NCASES];
	FILE *f;
	int fd;

	if (runs < 3)
		runs = 3;
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		perror("mkstemp");
		return 1;
	}
	fprintf(f, "sixten:%s:1000:1000::/home/sixten::\n", hash_of("$6$", 5000, "x"));
	fprintf(f, "yves:%s:1001:1001::/home/yves::\n", hash_of(NULL, 0, "x"));
	fprintf(f, "plato:{PLAIN}x:1002:1002::/home/plato::\n");
	fprintf(f, "scarlett:{SCRAM-SHA-256}4096,6Z5I+61j04AfmM7Yj9RQXQ==,"
		"fzPIL0YZqDUCsU69BWRSdEIUeSkYLzaTdd238Q8EHG8=,"
		"Ql1W55bJMVQsNT0tQw8GF2xdgnfAZ5xe6lZe1FaPr7A=:1003:1003::/home/scarlett::\n");
	fclose(f);
	config_defaults(&cfg);
	snprintf(cfg.passwd_file, sizeof(cfg.passwd_file), "%s", path);
	log_open("authtime", 1);
	printf("auth_password failures, %d runs each, the cases interleaved so that a\n"
	       "change of load touches all alike (median, min..max, ms):\n", runs);
	{
		double *t = calloc((size_t)runs * NCASES, sizeof(double));
		const char *why;
		for (k = 0; k < NCASES; k++)   /* warm up */
			auth_password(&cfg, cases[k].user, "wrong", 5, &u, &why);
		for (i = 0; i < runs; i++) {
			for (k = 0; k < NCASES; k++) {
				double t0 = now();
				if (auth_password(&cfg, cases[k].user, "wrong", 5, &u, &why) !=
				    AUTH_FAIL) {
					fprintf(stderr, "%s: not a failure\n", cases[k].user);
					return 1;
				}
				t[k * runs + i] = (now() - t0) * 1000;
			}
		}
		for (k = 0; k < NCASES; k++) {
			double *tk = t + k * runs;
			qsort(tk, (size_t)runs, sizeof(double), cmp);
			med[k] = tk[runs / 2];
			printf("  %-55s %8.2f  %7.2f..%-7.2f\n", cases[k].label, med[k], tk[0],
			       tk[runs - 1]);
		}
		free(t);
	}
	printf("unknown / known default-scheme user: %.3f\n", med[1] / med[0]);
	unlink(path);
	return 0;
}
