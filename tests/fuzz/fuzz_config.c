/* fuzz_config.c - libFuzzer target for src/config.c.
 *
 * Byte 0 picks the mode:
 *  even: the rest is a postern.conf, loaded with config_load from a memfd.
 *        A file that loads and passes config_check must print (config_print)
 *        to text that loads again and prints identically.
 *  odd:  the rest is key NUL value NUL key NUL value ... fed to config_set,
 *        then config_check and config_print run on the result.
 * Every error message must be a terminated string. */
#include "config.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_config: %s\n", what);
		abort();
	}
}

static int memfd = -1;
static char memfd_path[64];

static void put_file(const void *p, size_t n)
{
	if (memfd < 0) {
		memfd = memfd_create("fuzz_config", 0);
		check(memfd >= 0, "memfd_create");
		snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	}
	check(ftruncate(memfd, 0) == 0, "ftruncate");
	check(n == 0 || pwrite(memfd, p, n, 0) == (ssize_t)n, "pwrite");
}

static char *print(const struct config *c, size_t *n)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, n);
	check(f != NULL, "open_memstream");
	config_print(c, f);
	check(fclose(f) == 0, "fclose");
	return text;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, d;
	char err[256], err2[256];
	char *t1, *t2;
	size_t n1, n2;

	if (size < 1)
		return 0;
	config_defaults(&c);
	memset(err, 'X', sizeof(err));
	if ((data[0] & 1) == 0) {
		put_file(data + 1, size - 1);
		if (config_load(&c, memfd_path, err, sizeof(err)) < 0) {
			check(memchr(err, '\0', sizeof(err)) != NULL, "error not terminated");
			check(strncmp(err, memfd_path, strlen(memfd_path)) == 0 &&
			      err[strlen(memfd_path)] == ':', "error lacks file:");
			return 0;
		}
		check(c.nlisten >= 0 && c.nlisten <= CONF_MAX_LISTEN, "nlisten");
		check(c.ncerts >= 0 && c.ncerts <= CONF_MAX_CERTS, "ncerts");
		if (config_check(&c, err, sizeof(err)) < 0)
			return 0;
		t1 = print(&c, &n1);
		put_file(t1, n1);
		config_defaults(&d);
		if (config_load(&d, memfd_path, err2, sizeof(err2)) < 0) {
			fprintf(stderr, "%s\n--- printed:\n%s", err2, t1);
			check(0, "config_print output does not load");
		}
		t2 = print(&d, &n2);
		if (n1 != n2 || memcmp(t1, t2, n1) != 0) {
			fprintf(stderr, "--- first:\n%s--- second:\n%s", t1, t2);
			check(0, "config_print round trip differs");
		}
		free(t1);
		free(t2);
	} else {
		/* key NUL value NUL ... */
		char *buf = malloc(size + 1);
		size_t pos = 1;
		check(buf != NULL, "malloc");
		memcpy(buf, data, size);
		buf[size] = '\0';
		while (pos < size) {
			const char *key = buf + pos, *value;
			pos += strlen(key) + 1;
			value = pos <= size ? buf + pos : "";
			if (pos <= size)
				pos += strlen(value) + 1;
			if (config_set(&c, key, value, err, sizeof(err)) < 0)
				check(memchr(err, '\0', sizeof(err)) != NULL, "error not terminated");
			check(c.nlisten >= 0 && c.nlisten <= CONF_MAX_LISTEN, "nlisten");
			check(c.ncerts >= 0 && c.ncerts <= CONF_MAX_CERTS, "ncerts");
		}
		(void)config_check(&c, err, sizeof(err));
		t1 = print(&c, &n1);
		free(t1);
		free(buf);
	}
	return 0;
}
