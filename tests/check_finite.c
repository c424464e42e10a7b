/*
 * check_finite.c - the finiteness and magnitude pass (src/core/finite.c):
 * the largest |x| of an array and whether every element is finite, against
 * a plain loop, for every length from 0 to 70 (the vector blocks of 16 and
 * the rest), with infinities, NaNs of either sign, denormals, signed zeros
 * and the largest floats placed at every position; the first non-finite
 * element across the search's blocks; the names of non-finite values.
 */
#include "testutil.h"

#include "core/finite.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t ref_bits(const float *x, size_t n)
{
    uint32_t best = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        u &= 0x7fffffffu;
        if (u > best) best = u;
    }
    return best;
}

static double ref_max(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) return INFINITY;
        m = fabs((double)x[i]) > m ? fabs((double)x[i]) : m;
    }
    return m;
}

static float pattern(size_t i)
{
    return (float)((int)(i * 29 % 31) - 15) * 0.125f;
}

START_TEST(test_finite_max_abs_matches_plain_loop)
{
    const float specials[] = {INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX,
                              FLT_MIN / 4, -0.0f, 1e30f, -1e-30f};
    float x[70] = {0};
    for (size_t n = 0; n <= 70; n++) {
        for (size_t i = 0; i < n; i++) x[i] = pattern(i);
        ck_assert_uint_eq(graftMaxAbsBits(x, n), ref_bits(x, n));
        ck_assert(graftMaxAbs(x, n) == ref_max(x, n));
        for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++)
            for (size_t at = 0; at < n; at++) {
                const float keep = x[at];
                x[at] = specials[s];
                const uint32_t bits = graftMaxAbsBits(x, n);
                ck_assert_msg(bits == ref_bits(x, n), "n %zu, special %zu at %zu", n, s, at);
                const int finite = isfinite(specials[s]);
                ck_assert_int_eq(bits < GRAFT_NONFINITE_BITS, finite);
                ck_assert(graftMaxAbs(x, n) == ref_max(x, n));
                x[at] = keep;
            }
    }
    ck_assert_uint_eq(graftMaxAbsBits(NULL, 0), 0);
    ck_assert(graftMaxAbs(NULL, 0) == 0.0);
}
END_TEST

/* The first inf or NaN, across the search's blocks of 1024 and their
 * remainders; n when every element is finite. */
START_TEST(test_finite_first_non_finite)
{
    const size_t n = 5000;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = pattern(i) * 1e30f;
    ck_assert_uint_eq(graftFirstNonFinite(x, n), n);
    ck_assert_uint_eq(graftFirstNonFinite(x, 0), 0);
    const size_t at[] = {0, 1, 15, 16, 1023, 1024, 1025, 2047, 3000, 4999};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        x[at[k]] = k % 2 ? NAN : -INFINITY;
        ck_assert_uint_eq(graftFirstNonFinite(x, n), at[k]);
        ck_assert_uint_eq(graftFirstNonFinite(x, at[k]), at[k]); /* before it: none */
        if (at[k] + 1 < n) {
            x[n - 1] = INFINITY; /* a later one does not change the answer */
            ck_assert_uint_eq(graftFirstNonFinite(x, n), at[k]);
            x[n - 1] = pattern(n - 1) * 1e30f;
        }
        x[at[k]] = pattern(at[k]) * 1e30f;
    }
    free(x);
}
END_TEST

START_TEST(test_finite_names)
{
    ck_assert_str_eq(graftNonFiniteName(NAN), "NaN");
    ck_assert_str_eq(graftNonFiniteName(-NAN), "NaN");
    ck_assert_str_eq(graftNonFiniteName(INFINITY), "inf");
    ck_assert_str_eq(graftNonFiniteName(-INFINITY), "-inf");
    ck_assert_str_eq(graftNonFiniteName(FLT_MAX), "finite");
    ck_assert_str_eq(graftNonFiniteName(-0.0f), "finite");
}
END_TEST

Suite *suite_finite(void)
{
    Suite *s = suite_create("finite");
    TCase *tc = tcase_create("finite");
    tcase_add_test(tc, test_finite_max_abs_matches_plain_loop);
    tcase_add_test(tc, test_finite_first_non_finite);
    tcase_add_test(tc, test_finite_names);
    suite_add_tcase(s, tc);
    return s;
}
