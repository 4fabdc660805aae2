/* test_sha512crypt.c - src/sha512crypt.c gives, for every "$6$" form it
 * takes, the string libxcrypt's crypt_rn gives; every other form it leaves
 * to crypt_rn (NULL). */
#include "unit.h"
#include "sha512crypt.h"
#include <crypt.h>

static const char ascii64[] =
	"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Both implementations on key and setting: equal strings, or NULL from
 * ours when want_handled is 0. */
static void same_as_crypt(const char *key, const char *setting, int want_handled)
{
	struct crypt_data cd;
	char ours[SHA512CRYPT_OUT];
	const char *r = sha512crypt(key, setting, ours, sizeof(ours)), *ref;
	if (!want_handled) {
		if (r)
			fail_msg("setting '%s' was handled, should go to crypt(3)", setting);
		return;
	}
	if (!r)
		fail_msg("setting '%s' (key length %zu) not handled", setting, strlen(key));
	memset(&cd, 0, sizeof(cd));
	ref = crypt_rn(key, setting, &cd, sizeof(cd));
	assert_non_null(ref);
	if (strcmp(r, ref) != 0)
		fail_msg("key length %zu setting '%s':\n ours %s\n libxcrypt %s", strlen(key),
			 setting, r, ref);
	/* Verification feeds the whole hash back in as the setting. */
	r = sha512crypt(key, ref, ours, sizeof(ours));
	assert_non_null(r);
	assert_string_equal(r, ref);
}

/* Drepper's published vector, so both cannot be wrong together. */
static void test_known_vector(void **state)
{
	char out[SHA512CRYPT_OUT];
	const char *r = sha512crypt("Hello world!", "$6$saltstring", out, sizeof(out));
	assert_non_null(r);
	assert_string_equal(r, "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNj"
			       "nQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1");
	same_as_crypt("Hello world!", "$6$saltstring", 1);
}

/* Keys of every length to 256 (the 64- and 128-byte block edges and
 * beyond), salts of 1 to 16 characters, default and custom rounds. */
static void test_random_against_libxcrypt(void **state)
{
	uint32_t seed = 20261201;
	char key[257], setting[64];
	size_t klen, slen, i;
	for (klen = 0; klen <= 256; klen++) {
		for (i = 0; i < klen; i++)
			key[i] = (char)(1 + test_rand(&seed) % 255);
		key[klen] = '\0';
		slen = 1 + test_rand(&seed) % 16;
		/* Custom rounds keep the test quick; every 16th uses the default. */
		if (klen % 16 == 0)
			memcpy(setting, "$6$", 4);
		else
			snprintf(setting, sizeof(setting), "$6$rounds=%u$",
				 1000 + test_rand(&seed) % 500);
		for (i = 0; i < slen; i++) {
			char c[2] = { ascii64[test_rand(&seed) % 64], '\0' };
			strcat(setting, c);
		}
		same_as_crypt(key, setting, 1);
	}
}

static void test_other_forms_go_to_crypt(void **state)
{
	char long_key[300];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	same_as_crypt("pw", "$5$saltstring", 0);
	same_as_crypt("pw", "$y$j9T$n7JfdwBU7N9zYekJ0pq5d.", 0);
	same_as_crypt("pw", "$6$", 0);                          /* empty salt */
	same_as_crypt("pw", "$6$saltstringsaltstring", 0);      /* salt > 16 */
	same_as_crypt("pw", "$6$ab*cd$x", 0);                   /* bad salt char */
	same_as_crypt("pw", "$6$rounds=5000$abc", 0);           /* explicit default */
	same_as_crypt("pw", "$6$rounds=999$abc", 0);            /* below minimum */
	same_as_crypt("pw", "$6$rounds=01000$abc", 0);          /* leading zero */
	same_as_crypt("pw", "$6$rounds=1000000000$abc", 0);     /* above maximum */
	same_as_crypt("pw", "$6$rounds=1000abc", 0);            /* no '$' */
	same_as_crypt(long_key, "$6$abc", 0);                   /* key > 256 */
	same_as_crypt("pw", "", 0);
	same_as_crypt("pw", "*", 0);
}

static void test_small_buffer_refused(void **state)
{
	char out[SHA512CRYPT_OUT - 1];
	assert_null(sha512crypt("pw", "$6$abc", out, sizeof(out)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vector),
		cmocka_unit_test(test_random_against_libxcrypt),
		cmocka_unit_test(test_other_forms_go_to_crypt),
		cmocka_unit_test(test_small_buffer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
