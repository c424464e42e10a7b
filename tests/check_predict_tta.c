/*
 * check_predict_tta.c - test-time augmentation (src/model/predict_tta.c):
 * no views is graft_model_predict(), the flip view is the mean of the two
 * predictions made by hand, the crops are the crops graft_image_crop() and
 * graft_image_resize() make, and the errors.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N 2
#define C 3
#define H 8
#define W 9
#define CLASSES 4

/* flatten + dense: a model whose output depends on every pixel's place. */
static graft_model *tiny_model(graft_ctx *ctx)
{
    const int64_t in[3] = {C, H, W};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, in, 11, &m), GRAFT_OK);
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, CLASSES, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

static graft_tensor *batch(graft_ctx *ctx)
{
    const int64_t dims[4] = {N, C, H, W};
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 4, dims, &t), GRAFT_OK);
    float *d = graft_tensor_data(t);
    for (int i = 0; i < N * C * H * W; i++) d[i] = (float)sin(i * 0.37) * 2.0f;
    return t;
}

static graft_tensor *probs_tensor(graft_ctx *ctx)
{
    const int64_t dims[2] = {N, CLASSES};
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 2, dims, &t), GRAFT_OK);
    return t;
}

static graft_tensor *clone(graft_ctx *ctx, graft_tensor *t)
{
    graft_tensor *c = batch(ctx);
    ck_assert_int_eq(graft_tensor_copy_from(c, graft_tensor_data(t), N * C * H * W), GRAFT_OK);
    return c;
}

/* Adds the prediction of view v into acc. */
static void add_prediction(graft_model *m, graft_tensor *v, graft_tensor *p, float *acc)
{
    ck_assert_int_eq(graft_model_predict(m, v, p), GRAFT_OK);
    const float *d = graft_tensor_data(p);
    for (int i = 0; i < N * CLASSES; i++) acc[i] += d[i];
}

/* Mirrors a batch in place. */
static void mirror(graft_tensor *t)
{
    float *d = graft_tensor_data(t);
    for (int r = 0; r < N * C * H; r++)
        for (int a = 0, b = W - 1; a < b; a++, b--) {
            float x = d[r * W + a];
            d[r * W + a] = d[r * W + b];
            d[r * W + b] = x;
        }
}

START_TEST(test_tta_identity_and_flip)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = tiny_model(ctx);
    graft_tensor *x = batch(ctx), *p = probs_tensor(ctx), *q = probs_tensor(ctx);
    ck_assert_int_eq(graft_model_predict(m, x, p), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict_tta(m, x, 0, q), GRAFT_OK);
    ck_assert(memcmp(graft_tensor_data(p), graft_tensor_data(q), N * CLASSES * sizeof(float)) == 0);

    float acc[N * CLASSES] = {0};
    add_prediction(m, x, p, acc);
    graft_tensor *flipped = clone(ctx, x);
    mirror(flipped);
    add_prediction(m, flipped, p, acc);
    for (int i = 0; i < N * CLASSES; i++) acc[i] /= 2.0f;
    ck_assert_int_eq(graft_model_predict_tta(m, x, GRAFT_TTA_FLIP, q), GRAFT_OK);
    tu_assert_close(graft_tensor_data(q), acc, N * CLASSES, 1e-6f, 0, "flip");
    /* The flip matters for this model, and the input is left as it was. */
    ck_assert_int_eq(graft_model_predict(m, x, p), GRAFT_OK);
    ck_assert(fabsf(graft_tensor_data(p)[0] - acc[0]) > 1e-4f);
    graft_tensor *x2 = batch(ctx);
    ck_assert(memcmp(graft_tensor_data(x), graft_tensor_data(x2), sizeof(float) * N * C * H * W) == 0);
    graft_tensor_free(x2);
    graft_tensor_free(flipped);
    graft_tensor_free(x);
    graft_tensor_free(p);
    graft_tensor_free(q);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* The 12 views made by hand with graft_image_* on each sample. */
START_TEST(test_tta_crops)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = tiny_model(ctx);
    graft_tensor *x = batch(ctx), *p = probs_tensor(ctx), *q = probs_tensor(ctx), *v = clone(ctx, x);
    const int ch = 7, cw = 8; /* round(0.875 * 8) = 7, round(0.875 * 9) = round(7.875) = 8 */
    const int lefts[6] = {0, 0, W - cw, 0, W - cw, (W - cw) / 2};
    const int tops[6] = {0, 0, 0, H - ch, H - ch, (H - ch) / 2};
    float acc[N * CLASSES] = {0};
    for (int b = 0; b < 6; b++) {
        for (int n = 0; n < N; n++) {
            const float *src = graft_tensor_data(x) + (size_t)n * C * H * W;
            graft_image *im = NULL;
            ck_assert_int_eq(graft_image_import(ctx, W, H, C, 0, src, &im), GRAFT_OK);
            if (b > 0) {
                ck_assert_int_eq(graft_image_crop(im, lefts[b], tops[b], cw, ch), GRAFT_OK);
                ck_assert_int_eq(graft_image_resize(im, W, H), GRAFT_OK);
            }
            ck_assert_int_eq(graft_image_export(im, 0, graft_tensor_data(v) + (size_t)n * C * H * W,
                                                C * H * W),
                             GRAFT_OK);
            graft_image_free(im);
        }
        add_prediction(m, v, p, acc);
        mirror(v);
        add_prediction(m, v, p, acc);
    }
    for (int i = 0; i < N * CLASSES; i++) acc[i] /= 12.0f;
    ck_assert_int_eq(graft_model_predict_tta(m, x, GRAFT_TTA_FLIP | GRAFT_TTA_CROPS, q), GRAFT_OK);
    tu_assert_close(graft_tensor_data(q), acc, N * CLASSES, 1e-6f, 0, "crops and flips");
    /* Probabilities still sum to 1. */
    for (int n = 0; n < N; n++) {
        float s = 0;
        for (int k = 0; k < CLASSES; k++) s += graft_tensor_data(q)[n * CLASSES + k];
        ck_assert_float_eq_tol(s, 1.0f, 1e-5f);
    }
    graft_tensor_free(v);
    graft_tensor_free(x);
    graft_tensor_free(p);
    graft_tensor_free(q);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tta_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = tiny_model(ctx);
    graft_tensor *x = batch(ctx), *p = probs_tensor(ctx);
    tu_expect_error(ctx, graft_model_predict_tta(m, x, 4, p), GRAFT_E_INVALID_ARG,
                    "graft_model_predict_tta(): views is 4, must combine GRAFT_TTA_FLIP (1) and "
                    "GRAFT_TTA_CROPS (2)");
    ck_assert_int_eq(graft_model_predict_tta(NULL, x, 1, p), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_predict_tta(m, x, 1, NULL), GRAFT_E_INVALID_ARG);
    const int64_t bad[2] = {N, 3};
    graft_tensor *wrong = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 2, bad, &wrong), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict_tta(m, x, GRAFT_TTA_FLIP, wrong), GRAFT_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "graft_model_predict_tta(): probs has shape"));
    ck_assert_int_eq(graft_model_predict_tta(m, x, 0, wrong), GRAFT_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "graft_model_predict_tta(): "));
    graft_tensor_free(wrong);
    graft_tensor_free(x);
    graft_tensor_free(p);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_predict_tta(void)
{
    Suite *s = suite_create("predict_tta");
    TCase *tc = tcase_create("tta");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tta_identity_and_flip);
    tcase_add_test(tc, test_tta_crops);
    tcase_add_test(tc, test_tta_errors);
    suite_add_tcase(s, tc);
    return s;
}
