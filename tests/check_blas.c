/* check_blas.c - graftSgemm through OpenBLAS against the reference loops,
 * and the reference loops against hand-computed products. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* blas.c's thread settings (behind the proposed GRAFT_CTX_NUM_THREADS). */
int graftBlasSetThreads(int n);
int graftBlasThreads(void);
const char *graftBlasCoreName(void);

START_TEST(test_reference_hand_computed)
{
    /* A (2x3) * B (3x2) = [[1*7+2*9+3*11, 1*8+2*10+3*12], [4*7+5*9+6*11, 4*8+5*10+6*12]] */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
    float c[4] = {1, 1, 1, 1};
    graftSgemmReference(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
    const float want[4] = {58, 64, 139, 154};
    tu_assert_close(c, want, 4, 0, 0, "A*B");
    /* alpha 2, beta 1 onto the previous result */
    graftSgemmReference(0, 0, 2, 2, 3, 2.0f, a, 3, b, 2, 1.0f, c, 2);
    const float want2[4] = {174, 192, 417, 462};
    tu_assert_close(c, want2, 4, 0, 0, "2*A*B + C");
    /* A^T (3x2 stored as 2x3) * B^T: (A^T)(B^T) with A 2x3 read transposed = 3x2 ... */
    float at[6] = {1, 4, 2, 5, 3, 6}; /* A stored transposed (3x2) */
    float bt[6] = {7, 9, 11, 8, 10, 12}; /* B stored transposed (2x3) */
    graftSgemmReference(1, 1, 2, 2, 3, 1.0f, at, 2, bt, 3, 0.0f, c, 2);
    tu_assert_close(c, want, 4, 0, 0, "A^T^T * B^T^T");
}
END_TEST

static void compare_paths(int ta, int tb, int m, int n, int k, float alpha, float beta)
{
    graft_ctx *ctx = tu_ctx();
    int lda = ta ? m : k, ldb = tb ? k : n;
    size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c1 = malloc((size_t)m * n * sizeof *c1), *c2 = malloc((size_t)m * n * sizeof *c2);
    graftRng rng;
    graftRngSeed(&rng, (uint64_t)(m * 131 + n * 7 + k));
    for (size_t i = 0; i < na; i++) a[i] = 2 * graftRngUniform(&rng) - 1;
    for (size_t i = 0; i < nb; i++) b[i] = 2 * graftRngUniform(&rng) - 1;
    for (size_t i = 0; i < (size_t)m * n; i++) c1[i] = c2[i] = graftRngUniform(&rng);
    graftSgemm(ctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, n);
    graftSgemmReference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, n);
    /* Sums of k products of values in [-1, 1]: allow k * 1e-6 absolute. */
    tu_assert_close(c1, c2, (size_t)m * n, 1e-6f * (float)k + 1e-6f, 1e-5f, "sgemm");
    free(a);
    free(b);
    free(c1);
    free(c2);
    graft_ctx_free(ctx);
}

START_TEST(test_blas_matches_reference_all_transposes)
{
    static const int sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 64, 64}, {3, 100, 9}};
    for (int ta = 0; ta <= 1; ta++)
        for (int tb = 0; tb <= 1; tb++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                compare_paths(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], 1.0f, 0.0f);
                compare_paths(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], 0.5f, 1.0f);
            }
}
END_TEST

START_TEST(test_empty_k_scales_c)
{
    graft_ctx *ctx = tu_ctx();
    float c[2] = {3, 4};
    graftSgemm(ctx, 0, 0, 1, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, c, 2);
    ck_assert_float_eq(c[0], 1.5f);
    ck_assert_float_eq(c[1], 2.0f);
    graft_ctx_free(ctx);
}
END_TEST

/* The thread count set is the one read back, 0 is refused, and the
 * products stay correct at 1 and 2 threads. */
START_TEST(test_blas_threads)
{
    graft_ctx *ctx = tu_ctx();
    int before = graftBlasThreads();
    ck_assert_int_ge(before, 1);
    ck_assert_int_eq(graftBlasSetThreads(0), GRAFT_E_RANGE);
    ck_assert_int_eq(graftBlasThreads(), before);
    const char *core = graftBlasCoreName();
    ck_assert_ptr_nonnull(core);
    ck_assert_int_gt((int)strlen(core), 0);
    enum { M = 67, N = 129, K = 33 };
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
    float *c = malloc(sizeof(float) * M * N), *r = malloc(sizeof(float) * M * N);
    ck_assert(a && b && c && r);
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
    for (int i = 0; i < K * N; i++) b[i] = (float)((i * 11) % 23) / 11.0f - 1.0f;
    graftSgemmReference(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, r, N);
    for (int t = 1; t <= 2; t++) {
        if (!graft_has_blas() && t > 1) {
            ck_assert_int_eq(graftBlasSetThreads(t), GRAFT_E_UNSUPPORTED);
            continue;
        }
        ck_assert_int_eq(graftBlasSetThreads(t), GRAFT_OK);
        ck_assert_int_eq(graftBlasThreads(), t);
        graftSgemm(ctx, 0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        tu_assert_close(c, r, (size_t)M * N, 1e-4f, 1e-4f, "threads");
    }
    ck_assert_int_eq(graftBlasSetThreads(before), GRAFT_OK);
    free(a);
    free(b);
    free(c);
    free(r);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_blas(void)
{
    Suite *s = suite_create("blas");
    TCase *tc = tcase_create("sgemm");
    tcase_add_test(tc, test_reference_hand_computed);
    tcase_add_test(tc, test_blas_matches_reference_all_transposes);
    tcase_add_test(tc, test_empty_k_scales_c);
    tcase_add_test(tc, test_blas_threads);
    suite_add_tcase(s, tc);
    return s;
}
