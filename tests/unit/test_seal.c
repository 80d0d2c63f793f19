/* Unit tests for core/seal.c: secrets sealed at rest. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal.h"

static const unsigned char key1[HKD_SEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const unsigned char key2[HKD_SEAL_KEY_LEN] = {8, 7, 6, 5, 4, 3, 2, 1};
static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

START_TEST(test_round_trip)
{
	char *a, *b, *plain;
	ck_assert_int_eq(hkd_seal(key1, "sub_1", secret, &a), 0);
	ck_assert_int_eq(hkd_seal(key1, "sub_1", secret, &b), 0);
	ck_assert(hkd_is_sealed(a));
	ck_assert_ptr_null(strstr(a, "whsec_"));
	ck_assert_ptr_null(strstr(a, "MfKQ9r8"));
	ck_assert_str_ne(a, b); /* a fresh nonce each time */
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", a, &plain), 0);
	ck_assert_str_eq(plain, secret);
	free(plain);
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", b, &plain), 0);
	ck_assert_str_eq(plain, secret);
	free(plain);
	free(a);
	ck_assert_int_eq(hkd_seal(key1, "sub_1", "", &a), 0);
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", a, &plain), 0);
	ck_assert_str_eq(plain, "");
	free(plain);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_refused)
{
	char *a, *plain = (char *)"x", *bad;
	size_t n;
	ck_assert_int_eq(hkd_seal(key1, "sub_1", secret, &a), 0);
	/* Another key, another owner. */
	ck_assert_int_eq(hkd_unseal(key2, "sub_1", a, &plain), -1);
	ck_assert_ptr_null(plain);
	ck_assert_int_eq(hkd_unseal(key1, "sub_2", a, &plain), -1);
	/* Every changed character of the text is refused. */
	n = strlen(a);
	bad = strdup(a);
	for (size_t i = strlen(HKD_SEAL_PREFIX); i < n; i++) {
		char was = bad[i];
		bad[i] = was == 'A' ? 'B' : 'A';
		ck_assert_msg(hkd_unseal(key1, "sub_1", bad, &plain) == -1,
		              "changed at %zu", i);
		bad[i] = was;
	}
	/* Cut short, not sealed, empty. */
	bad[n - 4] = '\0';
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", bad, &plain), -1);
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", secret, &plain), -1);
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", HKD_SEAL_PREFIX, &plain),
	                 -1);
	ck_assert_int_eq(hkd_unseal(key1, "sub_1", "enc:v1:AAAA", &plain), -1);
	ck_assert(!hkd_is_sealed(secret));
	ck_assert(!hkd_is_sealed(NULL));
	free(bad);
	free(a);
}
END_TEST

START_TEST(test_key_parse)
{
	unsigned char k[HKD_SEAL_KEY_LEN];
	char err[256];
	const char *hex = "000102030405060708090a0b0c0d0e0f"
	                  "101112131415161718191A1B1C1D1E1F";
	ck_assert_int_eq(hkd_seal_key_parse(hex, k, err, sizeof(err)), 0);
	for (int i = 0; i < HKD_SEAL_KEY_LEN; i++)
		ck_assert_int_eq(k[i], i);
	/* The same 32 bytes in base64. */
	memset(k, 0xee, sizeof(k));
	ck_assert_int_eq(hkd_seal_key_parse(
	                     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", k,
	                     err, sizeof(err)),
	                 0);
	for (int i = 0; i < HKD_SEAL_KEY_LEN; i++)
		ck_assert_int_eq(k[i], i);
	ck_assert_int_eq(hkd_seal_key_parse("abc", k, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "64 hex digits"));
	ck_assert_int_eq(hkd_seal_key_parse("zz0102030405060708090a0b0c0d0e0f"
	                                    "101112131415161718191a1b1c1d1e1f",
	                                    k, err, sizeof(err)),
	                 -1);
	ck_assert_int_eq(hkd_seal_key_parse(
	                     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", k,
	                     err, sizeof(err)),
	                 -1); /* 31 bytes */
}
END_TEST

START_TEST(test_key_file)
{
	char dir[] = "/tmp/hookd-test-seal-XXXXXX", path[64], err[256];
	unsigned char a[HKD_SEAL_KEY_LEN], b[HKD_SEAL_KEY_LEN];
	struct stat sb;
	mode_t old = umask(0);
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hookd.key", dir);
	ck_assert_int_eq(hkd_seal_key_file(path, a, err, sizeof(err)), 0);
	umask(old);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_eq(sb.st_size, 65);
	ck_assert_int_eq(hkd_seal_key_file(path, b, err, sizeof(err)), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	/* A file that holds no key is an error, never replaced. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a key\n", 10), 10);
	close(fd);
	ck_assert_int_eq(hkd_seal_key_file(path, b, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, 10);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("seal");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_key_parse);
	tcase_add_test(tc, test_key_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(seal_suite());
	int failures;

	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures == 0 ? 0 : 1;
}
