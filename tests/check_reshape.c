/*
 * check_reshape.c - the reshape layer (src/layers/layer_reshape.c): the
 * per-sample shape changed, values kept in order; finite-difference
 * gradients, a save/load round trip, attributes out of range in a saved
 * record, and argument and shape errors.
 */
#include "testutil.h"

#include <string.h>

START_TEST(test_reshape)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[3] = {3, 1, 4};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_reshape(ctx, 3, dims, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "reshape");
    graft_tensor *x = tu_tensor(ctx, 3, 2, 2, 6);
    tu_fill_uniform(x, 5, -1, 1);
    const graft_tensor *y = tu_forward(l, 1, &x);
    /* (2, 2, 6) -> (2, 3, 1, 4), the same 24 values in order */
    ck_assert_int_eq(graft_tensor_ndim(y), 4);
    ck_assert_int_eq(graft_tensor_dim(y, 0), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 3);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 4);
    tu_assert_close(graft_tensor_data_const(y), graft_tensor_data(x), 24, 0, 0, "reshape");
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 24);
    tu_check_roundtrip(l, 1, &x);
    const uint32_t zero_rank = 0;
    ck_assert_int_eq(tu_load_patched(l, 0, &zero_rank), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): reshape rank is 0, must be 1 to 7");
    const int32_t zero = 0;
    ck_assert_int_eq(tu_load_patched(l, 4, &zero), GRAFT_E_FORMAT); /* dims[0] = 0 */
    graft_layer_free(l);
    /* Errors */
    l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_reshape(ctx, 0, dims, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_reshape(): ndim is 0, must be 1 to 7 (the "
                                        "batch dimension is kept)");
    ck_assert_int_eq(graft_layer_reshape(ctx, 2, NULL, &l), GRAFT_E_INVALID_ARG);
    const int64_t bad[2] = {4, 0};
    ck_assert_int_eq(graft_layer_reshape(ctx, 2, bad, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_reshape(): dims[1] is 0; sizes must be >= 1 "
                                        "with at most 2^40 elements");
    const int64_t five[1] = {5};
    ck_assert_int_eq(graft_layer_reshape(ctx, 1, five, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, (const graft_tensor *const *)&x, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): reshape layer: the input (1, 2, 6) "
                                        "holds 12 elements per sample, the target shape 5");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_reshape(void)
{
    Suite *s = suite_create("reshape");
    TCase *tc = tcase_create("reshape");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reshape);
    suite_add_tcase(s, tc);
    return s;
}
