/* check_softmax.c - the softmax layer (src/layers/layer_softmax.c): over the
 * channel axis of (N, C, ...), hand-computed values, large logits, rows that
 * sum to one, gradients, save/load and errors; over any other axis
 * (graft_layer_softmax_axis), and the records each writes and reads. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

START_TEST(test_softmax_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "softmax");
    /* Row 0 {1, 2, 3}: e^-2 = 0.13533528, e^-1 = 0.36787944, e^0 = 1, sum
       1.50321472 -> {0.09003057, 0.24472847, 0.66524096}.
       Row 1 {5, 5, 5}: 1/3 each. */
    const int64_t dims[2] = {2, 3};
    const float xv[] = {1, 2, 3, 5, 5, 5};
    graft_tensor *x = tu_tensor_from(ctx, 2, dims, xv);
    const graft_tensor *y = tu_forward(l, 1, &x);
    tu_assert_dims(y, 2, dims);
    const float want[] = {0.09003057f, 0.24472847f, 0.66524096f, 1.0f / 3, 1.0f / 3, 1.0f / 3};
    tu_assert_close(graft_tensor_data_const(y), want, 6, 1e-6f, 0, "softmax");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_rows_sum_to_one)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 6, 10);
    tu_fill_uniform(x, 8, -8, 8);
    const float *y = graft_tensor_data_const(tu_forward(l, 1, &x));
    for (int n = 0; n < 6; n++) {
        double sum = 0;
        for (int c = 0; c < 10; c++) {
            ck_assert(y[n * 10 + c] > 0.0f && y[n * 10 + c] < 1.0f);
            sum += y[n * 10 + c];
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-6);
    }
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_large_logits)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    /* Row 0 {1000, 999, 0}: after subtracting 1000, {1, e^-1, e^-1000 = 0} / (1 + e^-1)
       = {0.73105858, 0.26894142, 0}. Row 1 {-1000, -1000, 1000}: {0, 0, 1}. */
    const int64_t dims[2] = {2, 3};
    const float xv[] = {1000, 999, 0, -1000, -1000, 1000};
    graft_tensor *x = tu_tensor_from(ctx, 2, dims, xv);
    const graft_tensor *y = tu_forward(l, 1, &x);
    const float want[] = {0.73105858f, 0.26894142f, 0, 0, 0, 1};
    for (int i = 0; i < 6; i++) ck_assert(isfinite(graft_tensor_data_const(y)[i]));
    tu_assert_close(graft_tensor_data_const(y), want, 6, 1e-6f, 0, "softmax of large logits");
    /* The gradient stays finite too. */
    graft_tensor *dy = tu_tensor(ctx, 2, 2, 3);
    tu_fill_uniform(dy, 2, -1, 1);
    const graft_tensor *in[1] = {x}, *dx[1] = {NULL};
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    for (int i = 0; i < 6; i++) ck_assert(isfinite(graft_tensor_data_const(dx[0])[i]));
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_4d_per_position)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    /* x (1, 2, 1, 2), laid out x[c][w]: channel 0 = {0, 1}, channel 1 = {ln 3, 1}.
       Position 0: {1, 3} / 4 = {0.25, 0.75}. Position 1: {0.5, 0.5}.
       So y = {0.25, 0.5, 0.75, 0.5} in the same layout. */
    const int64_t dims[4] = {1, 2, 1, 2};
    const float xv[] = {0, 1, logf(3.0f), 1};
    graft_tensor *x = tu_tensor_from(ctx, 4, dims, xv);
    const graft_tensor *y = tu_forward(l, 1, &x);
    tu_assert_dims(y, 4, dims);
    const float want[] = {0.25f, 0.5f, 0.75f, 0.5f};
    tu_assert_close(graft_tensor_data_const(y), want, 4, 1e-6f, 0, "4-D softmax");
    graft_layer_free(l);

    /* Random (2, 3, 2, 2): at every (n, h, w) the 3 channels sum to 1. */
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    graft_tensor *x2 = tu_tensor(ctx, 4, 2, 3, 2, 2);
    tu_fill_uniform(x2, 12, -3, 3);
    const float *yv = graft_tensor_data_const(tu_forward(l, 1, &x2));
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 4; p++) {
            double sum = 0;
            for (int c = 0; c < 3; c++) sum += yv[(n * 3 + c) * 4 + p];
            ck_assert_double_eq_tol(sum, 1.0, 1e-6);
        }
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(x2);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x2 = tu_tensor(ctx, 2, 3, 5), *x4 = tu_tensor(ctx, 4, 2, 3, 2, 2);
    tu_fill_uniform(x2, 31, -2, 2);
    tu_fill_uniform(x4, 32, -2, 2);
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x2, NULL), 15);
    graft_layer_free(l);
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x4, NULL), 24);
    graft_layer_free(l);
    graft_tensor_free(x2);
    graft_tensor_free(x4);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_softmax(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_softmax(): out is NULL");
    ck_assert_int_eq(graft_layer_softmax(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);

    graft_tensor *vec = tu_tensor(ctx, 1, 4);
    const graft_tensor *in[1] = {vec}, *two[2] = {vec, vec};
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): softmax layer: the input has 1 "
                                        "dimension, needs at least 2 (N, C, ...)");
    ck_assert_int_eq(graft_layer_build(l, 2, two, 0), GRAFT_E_INVALID_ARG);
    graft_layer_free(l);
    graft_tensor_free(vec);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax(ctx, &l), GRAFT_OK);
    tu_check_roundtrip_small(l, 1);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

/* Over axis 2 and -1 of (N, 2, 3): each row of 3 sums to one, the same for
 * both spellings; over axis 1 of it the columns do. */
START_TEST(test_softmax_axis)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[3] = {1, 2, 3};
    const float xv[] = {1, 2, 3, 5, 5, 5};
    graft_tensor *x = tu_tensor_from(ctx, 3, dims, xv);
    const float want[] = {0.09003057f, 0.24472847f, 0.66524096f, 1.0f / 3, 1.0f / 3, 1.0f / 3};
    for (int axis = -1; axis <= 2; axis += 3) {
        graft_layer *l = NULL;
        ck_assert_int_eq(graft_layer_softmax_axis(ctx, axis, &l), GRAFT_OK);
        tu_assert_close(graft_tensor_data_const(tu_forward(l, 1, &x)), want, 6, 1e-6f, 0,
                        "softmax over the last axis");
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 6);
        graft_layer_free(l);
    }
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_softmax_axis(ctx, 1, &l), GRAFT_OK);
    const float *y = graft_tensor_data_const(tu_forward(l, 1, &x));
    float e = 1 / (1 + expf(4)), f = 1 / (1 + expf(3)), g = 1 / (1 + expf(2));
    const float want1[] = {e, f, g, 1 - e, 1 - f, 1 - g};
    tu_assert_close(y, want1, 6, 1e-6f, 0, "softmax over axis 1");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_softmax_axis_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_softmax_axis(ctx, 0, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_softmax_axis(): axis is 0, must be 1 to 7 "
                                        "or -1 to -7 (axis 0 is the batch)");
    ck_assert_int_eq(graft_layer_softmax_axis(ctx, 8, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_softmax_axis(ctx, -8, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_softmax_axis(ctx, 1, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_softmax_axis(NULL, 1, &l), GRAFT_E_INVALID_ARG);
    /* axis 3 of a rank-3 input, and -3 (the batch) */
    graft_tensor *x = tu_tensor(ctx, 3, 2, 3, 4);
    const graft_tensor *in[1] = {x};
    for (int axis = 3; axis >= -3; axis -= 6) {
        ck_assert_int_eq(graft_layer_softmax_axis(ctx, axis, &l), GRAFT_OK);
        ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
        char want[160];
        snprintf(want, sizeof want,
                 "graft_layer_build(): softmax layer: axis %d does not fit an input of rank 3 "
                 "(axis 0 is the batch)",
                 axis);
        ck_assert_str_eq(graft_errmsg(ctx), want);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* The record: graft_layer_softmax() writes version 1 with no attributes,
 * as 1.0 and 1.1 did (so they read it); another axis writes version 2 with
 * the axis; a version-1 record reads as axis 1. */
START_TEST(test_softmax_records)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL, *back = NULL;
    const int want_version[2] = {1, 2};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(k ? graft_layer_softmax_axis(ctx, -1, &l) : graft_layer_softmax(ctx, &l),
                         GRAFT_OK);
        graftWriter w;
        graftWriterInit(&w, ctx);
        ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
        /* u32 length, "softmax", u32 version, then the record */
        ck_assert_uint_ge(w.size, 4 + 7 + 4 + 4);
        uint32_t version = (uint32_t)w.data[11] | (uint32_t)w.data[12] << 8;
        ck_assert_uint_eq(version, (uint32_t)want_version[k]);
        ck_assert_uint_eq(w.size, 4 + 7 + 4 + (k ? 4u : 0u) + 4); /* unbuilt: the built flag */
        graftReader r;
        graftReaderInit(&r, ctx, w.data, w.size);
        ck_assert_int_eq(graftLayerLoad(ctx, &r, &back), GRAFT_OK);
        int64_t axis = 0;
        ck_assert_int_eq(graftLayerAttrInts(back, "axis", &axis, 1), 1);
        ck_assert_int_eq(axis, k ? -1 : 1);
        graft_layer_free(back);
        /* the same bytes under version 2 hold no axis: the file is short */
        if (!k) {
            w.data[11] = 2;
            graftReaderInit(&r, ctx, w.data, w.size);
            ck_assert_int_eq(graftLayerLoad(ctx, &r, &back), GRAFT_E_FORMAT);
        }
        graftWriterDispose(&w);
        graft_layer_free(l);
    }
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_softmax(void)
{
    Suite *s = suite_create("softmax");
    TCase *tc = tcase_create("softmax");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_softmax_hand_computed);
    tcase_add_test(tc, test_softmax_rows_sum_to_one);
    tcase_add_test(tc, test_softmax_large_logits);
    tcase_add_test(tc, test_softmax_4d_per_position);
    tcase_add_test(tc, test_softmax_gradcheck);
    tcase_add_test(tc, test_softmax_errors);
    tcase_add_test(tc, test_softmax_roundtrip);
    tcase_add_test(tc, test_softmax_axis);
    tcase_add_test(tc, test_softmax_axis_errors);
    tcase_add_test(tc, test_softmax_records);
    suite_add_tcase(s, tc);
    return s;
}
