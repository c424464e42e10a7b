/*
 * check_rng.c - the seedable generator (src/core/rng.c): SplitMix64 expands
 * the seed into the state of xoshiro256**. The sequence is compared with an
 * implementation written here from the published algorithms (Vigna's
 * reference code), and SplitMix64's first outputs for seed 0 with their
 * published values, so the numbers cannot drift between platforms or
 * versions.
 */
#include "testutil.h"

#include <math.h>

static uint64_t ref_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t ref_next(uint64_t s[4])
{
    const uint64_t result = ref_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return result;
}

/* Seeding: the state is SplitMix64's first four outputs; for seed 0 those
 * are the values published with SplitMix64. */
START_TEST(test_rng_seed_is_splitmix64)
{
    graftRng r;
    graftRngSeed(&r, 0);
    ck_assert(r.s[0] == 0xe220a8397b1dcdafull);
    ck_assert(r.s[1] == 0x6e789e6aa1b965f4ull);
    ck_assert(r.s[2] == 0x06c45d188009454full);
    const uint64_t seeds[] = {1, 42, 0xdeadbeefull, UINT64_MAX};
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        uint64_t x = seeds[k];
        graftRngSeed(&r, seeds[k]);
        for (int i = 0; i < 4; i++) ck_assert(r.s[i] == ref_splitmix(&x));
    }
}
END_TEST

/* The sequence is xoshiro256**'s, for several seeds and many steps. */
START_TEST(test_rng_next_is_xoshiro256starstar)
{
    const uint64_t seeds[] = {0, 1, 7, 123456789ull, UINT64_MAX};
    for (size_t k = 0; k < sizeof seeds / sizeof seeds[0]; k++) {
        graftRng r;
        graftRngSeed(&r, seeds[k]);
        uint64_t s[4], x = seeds[k];
        for (int i = 0; i < 4; i++) s[i] = ref_splitmix(&x);
        for (int i = 0; i < 10000; i++) {
            uint64_t got = graftRngNext(&r), want = ref_next(s);
            ck_assert_msg(got == want, "seed %llu, draw %d: %llx, expected %llx",
                          (unsigned long long)seeds[k], i, (unsigned long long)got,
                          (unsigned long long)want);
        }
    }
}
END_TEST

/* Same seed, same numbers; a different seed, other numbers; two generators
 * do not share state. */
START_TEST(test_rng_seeds_reproduce_and_differ)
{
    graftRng a, b, c;
    graftRngSeed(&a, 99);
    graftRngSeed(&b, 99);
    graftRngSeed(&c, 100);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t va = graftRngNext(&a);
        ck_assert(va == graftRngNext(&b));
        same_c += va == graftRngNext(&c);
    }
    ck_assert_int_eq(same_c, 0);
    /* Reseeding restarts the sequence. */
    graftRngSeed(&a, 99);
    graftRngSeed(&b, 99);
    (void)graftRngNext(&b);
    graftRngSeed(&b, 99);
    for (int i = 0; i < 10; i++) ck_assert(graftRngNext(&a) == graftRngNext(&b));
}
END_TEST

/* Uniform floats: the top 24 bits of a draw over 2^24, so every value is
 * k / 2^24 in [0, 1); their mean and variance are those of U(0, 1). */
START_TEST(test_rng_uniform_range_and_moments)
{
    graftRng r, raw;
    graftRngSeed(&r, 2024);
    graftRngSeed(&raw, 2024);
    const int n = 200000;
    double sum = 0, sum2 = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        float u = graftRngUniform(&r);
        uint64_t bits = graftRngNext(&raw) >> 40;
        ck_assert(u == (float)bits / 16777216.0f);
        ck_assert(u >= 0.0f && u < 1.0f);
        ck_assert(u * 16777216.0f == floorf(u * 16777216.0f));
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        sum2 += (double)u * u;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    /* Standard errors: 1/sqrt(12 n) = 6.5e-4 for the mean; about 2e-4 for
     * the variance. Five of them. */
    ck_assert_msg(fabs(mean - 0.5) < 3.3e-3, "mean %g", mean);
    ck_assert_msg(fabs(var - 1.0 / 12) < 1e-3, "variance %g", var);
    ck_assert(lo < 1e-4f && hi > 1 - 1e-4f);
}
END_TEST

Suite *suite_rng(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rng_seed_is_splitmix64);
    tcase_add_test(tc, test_rng_next_is_xoshiro256starstar);
    tcase_add_test(tc, test_rng_seeds_reproduce_and_differ);
    tcase_add_test(tc, test_rng_uniform_range_and_moments);
    suite_add_tcase(s, tc);
    return s;
}
