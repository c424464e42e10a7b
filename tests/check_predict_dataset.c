/* check_predict_dataset.c - predictions over a whole dataset
 * (src/model/predict_dataset.c): the same as graft_model_predict() batch by
 * batch, top-1, unlabelled class counts, and the errors. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 11
#define F 5
#define C 4

static graft_model *mlp(graft_ctx *ctx)
{
    int64_t dims[1] = {F};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 7, &m), GRAFT_OK);
    graft_layer_dense(ctx, 6, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc1", l, 0, NULL), GRAFT_OK);
    graft_layer_tanh(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "act", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, C, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc2", l, 0, NULL), GRAFT_OK);
    return m;
}

static void fill(float *x, int n, uint64_t seed)
{
    graftRng rng;
    graftRngSeed(&rng, seed);
    for (int k = 0; k < n; k++) x[k] = 4.0f * graftRngUniform(&rng) - 2.0f;
}

START_TEST(test_matches_predict)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = mlp(ctx);
    float x[N * F];
    int32_t y[N] = {0};
    fill(x, N * F, 1);
    int64_t dims[1] = {F};
    graft_dataset *ds = NULL;
    /* 2 classes in the dataset: the labels are not used */
    ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 1, dims, x, y, 2, 1, &ds), GRAFT_OK);
    int64_t xd[2] = {N, F}, pd[2] = {N, C};
    graft_tensor *in = tu_tensor_from(ctx, 2, xd, x), *want = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 2, pd, &want), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict(m, in, want), GRAFT_OK);
    for (int batch = 1; batch <= 16; batch += 3) {
        float probs[N * C];
        int32_t top1[N];
        memset(probs, 0, sizeof probs);
        ck_assert_int_eq(graft_model_predict_dataset(m, ds, batch, probs, top1), GRAFT_OK);
        tu_assert_close(probs, graft_tensor_data(want), N * C, 1e-6f, 1e-5f, "probs");
        for (int i = 0; i < N; i++) {
            const float *row = probs + i * C;
            int best = 0;
            for (int j = 1; j < C; j++)
                if (row[j] > row[best]) best = j;
            ck_assert_int_eq(top1[i], best);
        }
        /* either output alone */
        int32_t only[N];
        ck_assert_int_eq(graft_model_predict_dataset(m, ds, batch, NULL, only), GRAFT_OK);
        ck_assert_int_eq(memcmp(only, top1, sizeof only), 0);
        float p2[N * C];
        ck_assert_int_eq(graft_model_predict_dataset(m, ds, batch, p2, NULL), GRAFT_OK);
        ck_assert_int_eq(memcmp(p2, probs, sizeof p2), 0);
    }
    graft_tensor_free(in);
    graft_tensor_free(want);
    graft_dataset_free(ds);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = mlp(ctx);
    float x[N * F];
    int32_t y[N] = {0};
    fill(x, N * F, 2);
    int64_t dims[1] = {F}, other[1] = {F + 1};
    graft_dataset *ds = NULL, *wrong = NULL, *borrowed = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 1, dims, x, y, 2, 1, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 9, 1, other, x, y, 2, 1, &wrong), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 1, dims, x, y, 2, 0, &borrowed), GRAFT_OK);
    float probs[N * C];
    int32_t top1[N];
    ck_assert_int_eq(graft_model_predict_dataset(NULL, ds, 4, probs, top1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_predict_dataset(m, NULL, 4, probs, top1), GRAFT_E_INVALID_ARG);
    tu_expect_error(ctx, graft_model_predict_dataset(m, ds, 4, NULL, NULL), GRAFT_E_INVALID_ARG,
                    "graft_model_predict_dataset(): probs and top1 are both NULL: nothing to "
                    "write");
    ck_assert_int_eq(graft_model_predict_dataset(m, ds, 0, probs, top1), GRAFT_E_INVALID_ARG);
    tu_expect_error(ctx, graft_model_predict_dataset(m, wrong, 4, probs, top1), GRAFT_E_SHAPE,
                    "graft_model_predict_dataset(): the dataset's samples have shape (6), the "
                    "model takes (5)");
    /* a NaN in borrowed features is found and named */
    x[7 * F + 2] = NAN;
    int st = graft_model_predict_dataset(m, borrowed, 4, probs, top1);
    ck_assert_int_eq(st, GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "sample 7"));
    graft_model *empty = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 1, &empty), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict_dataset(empty, ds, 4, probs, top1), GRAFT_E_STATE);
    graft_model_free(empty);
    graft_dataset_free(ds);
    graft_dataset_free(wrong);
    graft_dataset_free(borrowed);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* Each allocation of graft_model_predict_dataset() failed in turn (once,
 * then for good): GRAFT_E_NOMEM naming the function, nothing leaked, and
 * the model predicts as before afterwards. */
START_TEST(test_allocation_failures)
{
    for (int persistent = 0; persistent <= 1; persistent++) {
        long k = 1;
        for (;; k++) {
            tu_fail_heap h;
            graft_ctx *ctx = tu_fail_heap_ctx(&h);
            graft_model *m = mlp(ctx);
            float x[N * F], probs[N * C], again[N * C];
            int32_t y[N] = {0}, top1[N];
            fill(x, N * F, 5);
            int64_t dims[1] = {F};
            graft_dataset *ds = NULL;
            ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 1, dims, x, y, 2, 1, &ds),
                             GRAFT_OK);
            tu_fail_heap_arm(&h, k, persistent);
            int st = graft_model_predict_dataset(m, ds, 4, probs, top1);
            const int injected = h.injected;
            tu_fail_heap_arm(&h, 0, 0);
            if (injected) {
                ck_assert_int_eq(st, GRAFT_E_NOMEM);
                ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_predict_dataset(): ", 31) == 0,
                              "allocation %ld: %s", k, graft_errmsg(ctx));
                ck_assert_int_eq(graft_model_predict_dataset(m, ds, 4, probs, top1), GRAFT_OK);
            } else {
                ck_assert_int_eq(st, GRAFT_OK);
            }
            ck_assert_int_eq(graft_model_predict_dataset(m, ds, 4, again, NULL), GRAFT_OK);
            ck_assert_int_eq(memcmp(again, probs, sizeof again), 0);
            graft_dataset_free(ds);
            graft_model_free(m);
            graft_ctx_free(ctx);
            ck_assert_int_eq(h.allocs, h.frees);
            if (!injected) break;
        }
        ck_assert_int_gt(k, 2);
    }
}
END_TEST

Suite *suite_predict_dataset(void)
{
    Suite *s = suite_create("predict_dataset");
    TCase *tc = tcase_create("predict_dataset");
    tcase_add_test(tc, test_matches_predict);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
