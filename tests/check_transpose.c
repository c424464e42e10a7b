/*
 * check_transpose.c - the transpose layer (src/layers/layer_transpose.c):
 * forward and backward against a copy that computes every index the slow
 * way, for every permutation of rank 3 to 5 inputs, with size-1 axes (which
 * the copy drops), axes that stay together (which it merges) and sides long
 * enough for several tiles; gradients, a save/load round trip; the argument,
 * shape and file errors. PyTorch references are check_torch_refs.c's.
 */
#include "testutil.h"
#include "core/parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* y = x permuted, index by index: y[i] = x[j] with j[perm[d]] = i[d]. */
static void slow_permute(const float *x, float *y, int r, const int64_t *xd, const int *perm)
{
    int64_t yd[GRAFT_MAX_DIMS], xs[GRAFT_MAX_DIMS], n = 1;
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = n;
        n *= xd[d];
    }
    for (int d = 0; d < r; d++) yd[d] = xd[perm[d]];
    for (int64_t e = 0; e < n; e++) {
        int64_t rest = e, src = 0;
        for (int d = r - 1; d >= 0; d--) {
            src += (rest % yd[d]) * xs[perm[d]];
            rest /= yd[d];
        }
        y[e] = x[src];
    }
}

/* Runs a transpose of x (rank r, dims xd) by perm forward and backward and
 * compares both with slow_permute. */
static void check_perm(graft_ctx *ctx, int r, const int64_t *xd, const int *perm)
{
    char what[96];
    int pos = snprintf(what, sizeof what, "perm");
    for (int d = 0; d < r; d++) pos += snprintf(what + pos, sizeof what - (size_t)pos, " %d", perm[d]);
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_transpose(ctx, r, perm, &l) == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_tensor *x = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, r, xd, &x), GRAFT_OK);
    tu_fill_distinct(x, 7, -1.0f, 0.01f);
    size_t n = graft_tensor_numel(x);
    float *want = malloc(n * sizeof *want);
    slow_permute(graft_tensor_data_const(x), want, r, xd, perm);
    const graft_tensor *y = tu_forward(l, 1, &x);
    int64_t yd[GRAFT_MAX_DIMS];
    for (int d = 0; d < r; d++) yd[d] = xd[perm[d]];
    tu_assert_dims(y, r, yd);
    tu_assert_close(graft_tensor_data_const(y), want, n, 0, 0, what);
    /* backward: dx = dy permuted back */
    graft_tensor *dy = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, r, yd, &dy), GRAFT_OK);
    tu_fill_distinct(dy, 8, -2.0f, 0.01f);
    int inv[GRAFT_MAX_DIMS];
    for (int d = 0; d < r; d++) inv[perm[d]] = d;
    slow_permute(graft_tensor_data_const(dy), want, r, yd, inv);
    const graft_tensor *in[1] = {x}, *dx[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    tu_assert_dims(dx[0], r, xd);
    tu_assert_close(graft_tensor_data_const(dx[0]), want, n, 0, 0, what);
    free(want);
    graft_tensor_free(dy);
    graft_tensor_free(x);
    graft_layer_free(l);
}

/* Calls check_perm for every permutation of axes 1 .. r-1 (perm[0] = 0). */
static void every_perm(graft_ctx *ctx, int r, const int64_t *xd, int *perm, int k, int *used)
{
    if (k == r) {
        check_perm(ctx, r, xd, perm);
        return;
    }
    for (int a = 1; a < r; a++) {
        if (used[a]) continue;
        used[a] = 1;
        perm[k] = a;
        every_perm(ctx, r, xd, perm, k + 1, used);
        used[a] = 0;
    }
}

START_TEST(test_transpose_every_permutation)
{
    graft_ctx *ctx = tu_ctx();
    static const int64_t shapes[][5] = {
        {2, 3, 4, 0, 0},   /* rank 3 */
        {2, 3, 4, 5, 0},   /* rank 4 */
        {2, 3, 1, 4, 5},   /* rank 5 with a size-1 axis */
        {1, 2, 3, 2, 3},   /* batch of 1 */
        {3, 1, 5, 1, 2},   /* two size-1 axes */
    };
    static const int ranks[] = {3, 4, 5, 5, 5};
    for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
        int perm[GRAFT_MAX_DIMS] = {0}, used[GRAFT_MAX_DIMS] = {0};
        every_perm(ctx, ranks[s], shapes[s], perm, 1, used);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_transpose_tiles_and_wide_axes)
{
    graft_ctx *ctx = tu_ctx();
    /* sides of several 32-element tiles and a remainder, both ways */
    const int64_t a[3] = {2, 70, 45};
    const int p021[3] = {0, 2, 1};
    check_perm(ctx, 3, a, p021);
    /* the ShuffleNet channel shuffle: (N, 2, C/2, H, W), axes 1 and 2 swapped,
     * H and W move as one row */
    const int64_t b[5] = {2, 2, 24, 7, 7};
    const int shuffle[5] = {0, 2, 1, 3, 4};
    check_perm(ctx, 5, b, shuffle);
    /* NCHW -> NHWC and back at a size where the planes are many tiles */
    const int64_t c[4] = {2, 40, 9, 37};
    const int to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2};
    check_perm(ctx, 4, c, to_nhwc);
    check_perm(ctx, 4, c, to_nchw);
    /* rank 8, the most graft holds */
    const int64_t d[8] = {2, 2, 1, 3, 2, 1, 2, 3};
    const int p8[8] = {0, 7, 3, 1, 6, 2, 5, 4};
    check_perm(ctx, 8, d, p8);
    /* the identity is a plain copy */
    const int id[4] = {0, 1, 2, 3};
    check_perm(ctx, 4, c, id);
    graft_ctx_free(ctx);
}
END_TEST

/* With two workers (each a run of samples) the copy is the same as with
 * one: a pure copy, checked against slow_permute. */
START_TEST(test_transpose_two_workers)
{
    if (!graft_has_blas()) {
        fprintf(stderr, "note: test_transpose_two_workers skipped: no BLAS, one thread\n");
        return;
    }
    graft_ctx *ctx = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 2), GRAFT_OK);
    const int64_t d[4] = {6, 16, 60, 70}; /* 67,200 floats a sample */
    ck_assert_int_eq(graftParallelWorkers(6, 2.0 * 16 * 60 * 70), 2);
    const int to_nhwc[4] = {0, 2, 3, 1};
    check_perm(ctx, 4, d, to_nhwc);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_transpose_gradients_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    const int perm[4] = {0, 3, 1, 2};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_transpose(ctx, 4, perm, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 4, 5);
    tu_fill_uniform(x, 3, -1, 1);
    tu_build(l, 1, &x);
    ck_assert_uint_gt(tu_gradcheck(l, 1, &x, NULL), 0);
    tu_forward(l, 1, &x);
    tu_check_roundtrip(l, 1, &x);
    /* attributes by name: the rank and perm (padded with the identity) */
    int64_t v[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graftLayerAttrInts(l, "rank", v, GRAFT_MAX_DIMS), 1);
    ck_assert_int_eq(v[0], 4);
    ck_assert_int_eq(graftLayerAttrInts(l, "perm", v, GRAFT_MAX_DIMS), GRAFT_MAX_DIMS);
    const int64_t want[GRAFT_MAX_DIMS] = {0, 3, 1, 2, 4, 5, 6, 7};
    for (int d = 0; d < GRAFT_MAX_DIMS; d++) ck_assert_int_eq(v[d], want[d]);
    graft_tensor_free(x);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_transpose_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    const int good[3] = {0, 2, 1}, moves_batch[3] = {1, 0, 2}, twice[3] = {0, 1, 1};
    tu_expect_error(ctx, graft_layer_transpose(ctx, 3, moves_batch, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_transpose(): perm[0] is 1, must be 0: the batch axis stays "
                    "first");
    ck_assert_ptr_null(l);
    tu_expect_error(ctx, graft_layer_transpose(ctx, 3, twice, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_transpose(): perm[2] is 1; perm must hold each of 0 to 2 once");
    const int big[3] = {0, 3, 1};
    tu_expect_error(ctx, graft_layer_transpose(ctx, 3, big, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_transpose(): perm[1] is 3; perm must hold each of 0 to 2 once");
    tu_expect_error(ctx, graft_layer_transpose(ctx, 1, good, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_transpose(): ndim is 1, must be 2 to 8 (the rank with the "
                    "batch axis)");
    ck_assert_int_eq(graft_layer_transpose(ctx, GRAFT_MAX_DIMS + 1, good, &l),
                     GRAFT_E_INVALID_ARG);
    tu_expect_error(ctx, graft_layer_transpose(ctx, 3, NULL, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_transpose(): perm is NULL");
    ck_assert_int_eq(graft_layer_transpose(ctx, 3, good, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_transpose(NULL, 3, good, &l), GRAFT_E_INVALID_ARG);
    /* the input's rank must be the permutation's */
    ck_assert_int_eq(graft_layer_transpose(ctx, 3, good, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 1, 2, 3, 4);
    const graft_tensor *in[1] = {x};
    tu_expect_error(ctx, graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): transpose layer: the input (1, 2, 3, 4) has rank 4, "
                    "perm has 3 entries");
    /* a file holding what the constructor refuses: rank 1, a moved batch
     * axis, a repeated entry, a non-identity tail */
    int32_t v = 1;
    ck_assert_int_eq(tu_load_patched(l, 0, &v), GRAFT_E_FORMAT);
    v = 1;
    ck_assert_int_eq(tu_load_patched(l, 4, &v), GRAFT_E_FORMAT);
    v = 1; /* 0 1 1 */
    ck_assert_int_eq(tu_load_patched(l, 8, &v), GRAFT_E_FORMAT);
    v = 4;
    ck_assert_int_eq(tu_load_patched(l, 16, &v), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): transpose layer: perm[3] is 4 beyond the "
                                        "rank 3, must be 3");
    v = 2; /* rank 2 with perm 0 2 1: 2 is beyond it */
    ck_assert_int_eq(tu_load_patched(l, 0, &v), GRAFT_E_FORMAT);
    v = 2; /* 0 2 2 */
    ck_assert_int_eq(tu_load_patched(l, 12, &v), GRAFT_E_FORMAT);
    v = 1; /* 0 2 1 as saved: loads */
    ck_assert_int_eq(tu_load_patched(l, 12, &v), GRAFT_OK);
    graft_tensor_free(x);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_transpose(void)
{
    Suite *s = suite_create("transpose");
    TCase *tc = tcase_create("transpose");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_transpose_every_permutation);
    tcase_add_test(tc, test_transpose_tiles_and_wide_axes);
    tcase_add_test(tc, test_transpose_two_workers);
    tcase_add_test(tc, test_transpose_gradients_roundtrip);
    tcase_add_test(tc, test_transpose_errors);
    suite_add_tcase(s, tc);
    return s;
}
