/* test_base64.c - unit tests for src/base64.c: the RFC 4648 section 10
 * vectors both ways, and the strict decoder's refusals (bad padding,
 * whitespace, characters outside the alphabet, stray bits, small buffer). */
#include "unit.h"
#include "base64.h"

static const struct { const char *plain, *b64; } rfc4648[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_vectors(void **state)
{
	char enc[64];
	unsigned char dec[64];
	size_t i;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		const char *p = rfc4648[i].plain, *b = rfc4648[i].b64;
		size_t n = b64_encode((const unsigned char *)p, strlen(p), enc);
		assert_int_equal(n, strlen(b));
		assert_string_equal(enc, b);
		assert_int_equal(b64_decode(b, strlen(b), dec, sizeof(dec)), (long)strlen(p));
		assert_memory_equal(dec, p, strlen(p));
	}
}

static void test_binary_round_trip(void **state)
{
	unsigned char in[256], dec[256];
	char enc[B64_ENCODED_SIZE(256)];
	size_t len, i;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(255 - i);
	for (len = 0; len <= sizeof(in); len += 7) {
		size_t n = b64_encode(in, len, enc);
		assert_int_equal(n, B64_ENCODED_SIZE(len) - 1);
		assert_int_equal(enc[n], '\0');
		assert_int_equal(b64_decode(enc, n, dec, sizeof(dec)), (long)len);
		assert_memory_equal(dec, in, len);
	}
	/* "+/" of the alphabet */
	assert_int_equal(b64_encode((const unsigned char *)"\xfb\xff", 2, enc), 4);
	assert_string_equal(enc, "+/8=");
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v=", /* length, padding */
		"Zg==Zm9v", "Zm=v", "=Zm9", "Zm9vY===",        /* padding inside, too much */
		" Zm9v", "Zm9v ", "Zm 9v", "Zm9v\n", "Zm9v\r\n", "Zm\t9v", /* whitespace */
		"Zm9-", "Zm9_", "Zm9v!", "Zm9\x80",            /* outside the alphabet */
		"Zh==", "Zm9=", "Zm8/Zh==",                     /* stray bits: not canonical */
		"*",
	};
	unsigned char out[64];
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
			fail_msg("accepted '%s'", bad[i]);
	}
	/* A NUL inside the given length is no base64 character either. */
	assert_int_equal(b64_decode("Zm\0v", 4, out, sizeof(out)), -1);
}

static void test_cap(void **state)
{
	unsigned char out[6];
	assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(b64_decode("Zm9vYg==", 8, out, 4), 4);
	assert_int_equal(b64_decode("Zm9vYg==", 8, out, 3), -1);
	assert_int_equal(b64_decode("", 0, out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_binary_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
