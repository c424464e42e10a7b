/*
 * check_mul.c - the mul layer (src/layers/layer_mul.c): the elementwise
 * product of two inputs with broadcasting, against hand-computed values and
 * finite differences, a save/load round trip, and argument and shape errors.
 */
#include "testutil.h"

START_TEST(test_mul_forward_broadcast)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_mul(ctx, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "mul");
    /* a (1, 2, 1), b (1, 1, 3): y[i][j] = a[i] * b[j] */
    const int64_t ad[3] = {1, 2, 1}, bd[3] = {1, 1, 3};
    const float av[2] = {2, -1}, bv[3] = {1, 3, 0.5f};
    graft_tensor *in[2] = {tu_tensor_from(ctx, 3, ad, av), tu_tensor_from(ctx, 3, bd, bv)};
    const graft_tensor *y = tu_forward(l, 2, in);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 2), 3);
    const float want[6] = {2, 6, 1, -1, -3, -0.5f};
    tu_assert_close(graft_tensor_data_const(y), want, 6, 0, 0, "mul");
    /* Backward of dy = 1: da[i] = sum_j b[j] = 4.5, db[j] = sum_i a[i] = 1. */
    graft_tensor *dy = tu_tensor(ctx, 3, 1, 2, 3);
    graft_tensor_fill(dy, 1);
    const graft_tensor *din[2];
    ck_assert_int_eq(graft_layer_backward(l, 2, (const graft_tensor *const *)in, dy, din), 0);
    const float da[2] = {4.5f, 4.5f}, db[3] = {1, 1, 1};
    tu_assert_close(graft_tensor_data_const(din[0]), da, 2, 1e-6f, 0, "da");
    tu_assert_close(graft_tensor_data_const(din[1]), db, 3, 1e-6f, 0, "db");
    graft_tensor_free(dy);
    graft_tensor_free(in[0]);
    graft_tensor_free(in[1]);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_mul_gradcheck_and_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    /* (N, C, H, W) times a gate (N, C, 1, 1), and two full tensors. */
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 2, 2), *g = tu_tensor(ctx, 4, 2, 3, 1, 1);
    graft_tensor *z = tu_tensor(ctx, 4, 2, 3, 2, 2);
    tu_fill_uniform(x, 1, -1, 1);
    tu_fill_uniform(g, 2, -1, 1);
    tu_fill_uniform(z, 3, -1, 1);
    graft_tensor *gate[2] = {x, g}, *full[2] = {x, z};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_mul(ctx, &l), GRAFT_OK);
    tu_build(l, 2, gate);
    ck_assert_uint_eq(tu_gradcheck(l, 2, gate, NULL), 24 + 6);
    tu_check_roundtrip(l, 2, gate);
    graft_layer_free(l);
    ck_assert_int_eq(graft_layer_mul(ctx, &l), GRAFT_OK);
    tu_build(l, 2, full);
    ck_assert_uint_eq(tu_gradcheck(l, 2, full, NULL), 48);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_tensor_free(z);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_mul_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_mul(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(graft_layer_mul(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_mul(): out is NULL");
    ck_assert_int_eq(graft_layer_mul(ctx, &l), GRAFT_OK);
    graft_tensor *a = tu_tensor(ctx, 3, 2, 3, 4), *b = tu_tensor(ctx, 3, 2, 2, 4);
    graft_tensor *c = tu_tensor(ctx, 2, 2, 3);
    graft_tensor *ab[2] = {a, b}, *ac[2] = {a, c};
    ck_assert_int_eq(graft_layer_build(l, 2, (const graft_tensor *const *)ab, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): mul layer: inputs of shapes (N, 3, 4) "
                     "and (N, 2, 4) do not broadcast (same rank >= 2, each size "
                     "equal or 1)");
    ck_assert_int_eq(graft_layer_build(l, 2, (const graft_tensor *const *)ac, 0), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_layer_build(l, 1, (const graft_tensor *const *)ab, 0),
                     GRAFT_E_INVALID_ARG);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_mul(void)
{
    Suite *s = suite_create("mul");
    TCase *tc = tcase_create("mul");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mul_forward_broadcast);
    tcase_add_test(tc, test_mul_gradcheck_and_roundtrip);
    tcase_add_test(tc, test_mul_errors);
    suite_add_tcase(s, tc);
    return s;
}
