/* check_dense.c - the dense (fully connected) layer. */
#include "testutil.h"

#include <math.h>

static graft_layer *built_dense(graft_ctx *ctx, int units, int bias, graft_tensor *x)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, units, bias, &l), GRAFT_OK);
    const graft_tensor *in[1] = {x};
    ck_assert_msg(graft_layer_build(l, 1, in, 7) == GRAFT_OK, "%s", graft_errmsg(ctx));
    return l;
}

/* Hand-computed: x (2, 3), W (2, 3), b (2). */
START_TEST(test_dense_forward_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {1, 2, 3, -1, 0, 2};
    const int64_t xd[] = {2, 3};
    graft_tensor *x = tu_tensor_from(ctx, 2, xd, xv);
    graft_layer *l = built_dense(ctx, 2, 1, x);
    const float w[] = {0.5f, -1, 2, 1, 1, 1}, b[] = {0.25f, -3};
    graft_tensor *wt, *bt;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &wt, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(l, 1, NULL, &bt, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_from(wt, w, 6), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_from(bt, b, 2), GRAFT_OK);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    /* row 0: 0.5 - 2 + 6 + 0.25 = 4.75; 1 + 2 + 3 - 3 = 3
       row 1: -0.5 + 0 + 4 + 0.25 = 3.75; -1 + 0 + 2 - 3 = -2 */
    const float want[] = {4.75f, 3, 3.75f, -2};
    ck_assert_int_eq(graft_tensor_ndim(y), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 0), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 2);
    tu_assert_close(graft_tensor_data_const(y), want, 4, 1e-6f, 0, "dense output");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dense_flattens_nchw_input)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 2, 2);
    tu_fill_uniform(x, 1, -1, 1);
    graft_layer *l = built_dense(ctx, 5, 1, x);
    graft_tensor *w;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &w, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(w, 0), 5);
    ck_assert_int_eq(graft_tensor_dim(w, 1), 12);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 5);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dense_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    for (int bias = 0; bias <= 1; bias++) {
        graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 2, 2);
        tu_fill_uniform(x, 3, -1, 1);
        graft_layer *l = built_dense(ctx, 4, bias, x);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 24 + 32 + (bias ? 4 : 0));
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dense_blas_vs_reference)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 17, 33);
    tu_fill_uniform(x, 5, -1, 1);
    graft_layer *l = built_dense(ctx, 9, 1, x);
    tu_check_blas_vs_reference(l, 1, &x, 1e-4f);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dense_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 4, 6);
    tu_fill_uniform(x, 9, -1, 1);
    for (int bias = 0; bias <= 1; bias++) {
        graft_layer *l = built_dense(ctx, 3, bias, x);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dense_init_is_he_uniform_and_seeded)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 1, 600);
    graft_layer *a = built_dense(ctx, 50, 1, x), *b = built_dense(ctx, 50, 1, x);
    graft_tensor *wa, *wb, *ba;
    ck_assert_int_eq(graft_layer_param(a, 0, NULL, &wa, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(b, 0, NULL, &wb, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(a, 1, NULL, &ba, NULL, NULL), GRAFT_OK);
    float bound = sqrtf(6.0f / 600.0f), maxabs = 0;
    double mean = 0;
    for (size_t i = 0; i < graft_tensor_numel(wa); i++) {
        float v = graft_tensor_data(wa)[i];
        ck_assert_float_eq(v, graft_tensor_data(wb)[i]); /* same seed, same values */
        if (fabsf(v) > maxabs) maxabs = fabsf(v);
        mean += v;
    }
    mean /= (double)graft_tensor_numel(wa);
    ck_assert(maxabs <= bound && maxabs > 0.95f * bound);
    ck_assert(fabs(mean) < 0.01);
    for (int i = 0; i < 50; i++) ck_assert_float_eq(graft_tensor_data(ba)[i], 0.0f);
    graft_layer_free(a);
    graft_layer_free(b);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_dense_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_dense(ctx, 0, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_dense(): units is 0, must be >= 1");
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 2, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_dense(NULL, 3, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, NULL), GRAFT_E_INVALID_ARG);

    graft_tensor *x = tu_tensor(ctx, 2, 2, 4), *bad = tu_tensor(ctx, 2, 2, 5);
    l = built_dense(ctx, 3, 1, x);
    const graft_tensor *in[1] = {bad}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_forward(): dense layer: inputs[0] has shape (2, 5), expected (2, 4)");
    in[0] = x;
    graft_tensor *g = tu_tensor(ctx, 2, 2, 3);
    const graft_tensor *din[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, g, din), GRAFT_E_STATE);
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    graft_tensor *g2 = tu_tensor(ctx, 2, 2, 4);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, g2, din), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, g, din), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(l, 2, in, &y), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_forward(NULL, 1, in, &y), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_forward(): layer is NULL");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(bad);
    graft_tensor_free(g);
    graft_tensor_free(g2);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_dense(void)
{
    Suite *s = suite_create("dense");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, test_dense_forward_hand_computed);
    tcase_add_test(tc, test_dense_flattens_nchw_input);
    tcase_add_test(tc, test_dense_init_is_he_uniform_and_seeded);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_add_test(tc, test_dense_gradcheck);
    tcase_add_test(tc, test_dense_blas_vs_reference);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_add_test(tc, test_dense_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_dense_errors);
    suite_add_tcase(s, tc);
    return s;
}
