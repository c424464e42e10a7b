/* check_flatten.c - the flatten layer (src/layers/layer_flatten.c): (N, d1, ...)
 * to (N, d1 * ...), gradients handed back in the input's shape, save/load,
 * and errors. */
#include "testutil.h"

START_TEST(test_flatten_shape_and_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "flatten");
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 2, 2);
    float *xv = graft_tensor_data(x);
    for (int i = 0; i < 24; i++) xv[i] = (float)i - 7.5f;
    const graft_tensor *y = tu_forward(l, 1, &x);
    /* (2, 3, 2, 2) -> (2, 12), row-major order unchanged. */
    const int64_t want[2] = {2, 12};
    tu_assert_dims(y, 2, want);
    tu_assert_close(graft_tensor_data_const(y), xv, 24, 0, 0, "flatten output");

    /* Backward hands the gradient back in the input's shape. */
    graft_tensor *dy = tu_tensor(ctx, 2, 2, 12);
    tu_fill_uniform(dy, 4, -1, 1);
    const graft_tensor *in[1] = {x}, *dx[1] = {NULL};
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    const int64_t xd[4] = {2, 3, 2, 2};
    tu_assert_dims(dx[0], 4, xd);
    tu_assert_close(graft_tensor_data_const(dx[0]), graft_tensor_data_const(dy), 24, 0, 0,
                    "flatten input gradient");
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, NULL), GRAFT_OK);

    /* Another batch size through the same layer: (5, 3, 2, 2) -> (5, 12). */
    graft_tensor *x5 = tu_tensor(ctx, 4, 5, 3, 2, 2);
    y = tu_forward(l, 1, &x5);
    const int64_t want5[2] = {5, 12};
    tu_assert_dims(y, 2, want5);
    graft_layer_free(l);

    /* A 2-D input stays as it is. */
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    graft_tensor *x2 = tu_tensor(ctx, 2, 3, 7);
    y = tu_forward(l, 1, &x2);
    const int64_t want2[2] = {3, 7};
    tu_assert_dims(y, 2, want2);
    graft_layer_free(l);

    graft_tensor_free(x);
    graft_tensor_free(x5);
    graft_tensor_free(x2);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_flatten_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 3, 2, 3, 4);
    tu_fill_uniform(x, 6, -1, 1);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 24);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_flatten_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_flatten(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_flatten(): ctx is NULL");
    ck_assert_int_eq(graft_layer_flatten(ctx, NULL), GRAFT_E_INVALID_ARG);

    graft_tensor *vec = tu_tensor(ctx, 1, 4);
    const graft_tensor *in[1] = {vec}, *two[2] = {vec, vec};
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): flatten layer: the input has 1 "
                                        "dimension, needs at least 2 (N, d1, ...)");
    ck_assert_int_eq(graft_layer_build(l, 2, two, 0), GRAFT_E_INVALID_ARG);
    graft_layer_free(l);
    graft_tensor_free(vec);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_flatten_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    tu_check_roundtrip_small(l, 1);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_flatten(void)
{
    Suite *s = suite_create("flatten");
    TCase *tc = tcase_create("flatten");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flatten_shape_and_values);
    tcase_add_test(tc, test_flatten_gradcheck);
    tcase_add_test(tc, test_flatten_errors);
    tcase_add_test(tc, test_flatten_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
