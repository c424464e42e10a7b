/* check_version.c - run-time version and capability queries
 * (src/core/version.c). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

START_TEST(test_version_matches_header)
{
    ck_assert_int_eq(graft_version_number(), GRAFT_VERSION_NUMBER);
    ck_assert_str_eq(graft_version_string(), GRAFT_VERSION_STRING);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR,
             GRAFT_VERSION_PATCH);
    ck_assert_str_eq(graft_version_string(), want);
    ck_assert_int_eq(graft_has_blas(), 1);
}
END_TEST

/* The BLAS kernel set is named (graft is built with OpenBLAS here), and the
 * name is a stable string, the same on every call. */
START_TEST(test_blas_core_name)
{
    const char *name = graft_blas_core_name();
    ck_assert_ptr_nonnull(name);
    ck_assert_str_ne(name, "");
    ck_assert_str_ne(name, "none");
    ck_assert_str_eq(graft_blas_core_name(), name);
    ck_assert_uint_lt(strlen(name), 64);
}
END_TEST

Suite *suite_version(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_version_matches_header);
    tcase_add_test(tc, test_blas_core_name);
    suite_add_tcase(s, tc);
    return s;
}
