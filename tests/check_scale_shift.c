/*
 * check_scale_shift.c - the scale_shift layer (src/layers/layer_scale_shift.c):
 * y = scale * x + shift with coefficients (buffers) that broadcast over the
 * input; hand-computed values, finite-difference gradients, a save/load
 * round trip, attributes out of range in a saved record, and argument and
 * shape errors.
 */
#include "testutil.h"

#include <string.h>

START_TEST(test_scale_shift)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[2] = {2, 1};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_scale_shift(ctx, 2, dims, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "scale_shift");
    const int64_t xd[3] = {1, 2, 3};
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    graft_tensor *x = tu_tensor_from(ctx, 3, xd, xv);
    tu_build(l, 1, &x);
    /* The coefficients are buffers initialised to scale 1, shift 0. */
    graft_tensor *scale, *shift;
    int trainable = 1;
    const char *name;
    ck_assert_int_eq(graft_layer_param(l, 0, &name, &scale, NULL, &trainable), GRAFT_OK);
    ck_assert_str_eq(name, "scale");
    ck_assert_int_eq(trainable, 0);
    ck_assert_float_eq(graft_tensor_data(scale)[1], 1);
    ck_assert_int_eq(graft_layer_param(l, 1, &name, &shift, NULL, NULL), GRAFT_OK);
    ck_assert_str_eq(name, "shift");
    const float sv[2] = {2, -1}, hv[2] = {0.5f, 10};
    graft_tensor_copy_from(scale, sv, 2);
    graft_tensor_copy_from(shift, hv, 2);
    /* row 0: 2x + 0.5 -> 2.5 4.5 6.5; row 1: -x + 10 -> 6 5 4 */
    const float want[6] = {2.5f, 4.5f, 6.5f, 6, 5, 4};
    tu_assert_close(graft_tensor_data_const(tu_forward(l, 1, &x)), want, 6, 0, 0, "scale_shift");
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 6);
    tu_check_roundtrip(l, 1, &x);
    const uint32_t rank9 = 9;
    ck_assert_int_eq(tu_load_patched(l, 0, &rank9), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): scale_shift rank is 9, must be 1 to 7");
    const int32_t zero = 0;
    ck_assert_int_eq(tu_load_patched(l, 4, &zero), GRAFT_E_FORMAT); /* dims[0] = 0 */
    graft_layer_free(l);
    /* A wider input: (N, 2, 3, 4) with per-channel coefficients (2, 1, 1). */
    const int64_t cd[3] = {2, 1, 1};
    ck_assert_int_eq(graft_layer_scale_shift(ctx, 3, cd, &l), GRAFT_OK);
    graft_tensor *x4 = tu_tensor(ctx, 4, 2, 2, 3, 4);
    tu_fill_uniform(x4, 3, -1, 1);
    tu_build(l, 1, &x4);
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &scale, NULL, NULL), GRAFT_OK);
    graft_tensor_copy_from(scale, sv, 2);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x4, NULL), 48);
    /* Errors */
    graft_layer *bad = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_scale_shift(ctx, 8, cd, &bad), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(bad);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_scale_shift(): ndim is 8, must be 1 to 7");
    ck_assert_int_eq(graft_layer_scale_shift(ctx, 1, NULL, &bad), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_scale_shift(NULL, 3, cd, &bad), GRAFT_E_INVALID_ARG);
    const int64_t three[2] = {3, 1};
    ck_assert_int_eq(graft_layer_scale_shift(ctx, 2, three, &bad), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(bad, 1, (const graft_tensor *const *)&x, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): scale_shift layer: coefficients of "
                                        "shape (3, 1) do not broadcast over the input (1, 2, 3) "
                                        "(one per non-batch axis, each 1 or the input's size)");
    graft_layer_free(bad);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(x4);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_scale_shift(void)
{
    Suite *s = suite_create("scale_shift");
    TCase *tc = tcase_create("scale_shift");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_scale_shift);
    suite_add_tcase(s, tc);
    return s;
}
