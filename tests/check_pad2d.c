/*
 * check_pad2d.c - the pad2d layer (src/layers/layer_pad2d.c): constant,
 * reflect and edge padding of the last two axes, against hand-computed
 * values and finite differences, a save/load round trip, attributes out of
 * range in a saved record, and argument and shape errors.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

static graft_layer *make_pad(graft_ctx *ctx, int t, int lft, int b, int r, int mode, float v)
{
    graft_pad2d_spec s = GRAFT_PAD2D_SPEC_INIT;
    s.pad_top = t;
    s.pad_left = lft;
    s.pad_bottom = b;
    s.pad_right = r;
    s.mode = mode;
    s.value = v;
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_pad2d(ctx, &s, &l) == GRAFT_OK, "%s", graft_errmsg(ctx));
    return l;
}

START_TEST(test_pad2d_forward)
{
    graft_ctx *ctx = tu_ctx();
    /* x = 1 2 3 / 4 5 6 (one plane), pads top 1, left 2, bottom 0, right 1:
     * (3, 6) output. */
    const int64_t d[4] = {1, 1, 2, 3};
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    const float want[3][18] = {
        /* constant -1 */
        {-1, -1, -1, -1, -1, -1, -1, -1, 1, 2, 3, -1, -1, -1, 4, 5, 6, -1},
        /* reflect: row -1 mirrors row 1; column -1 mirrors 1, -2 mirrors 2, 3 mirrors 1 */
        {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5},
        /* edge */
        {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6},
    };
    for (int mode = 0; mode < 3; mode++) {
        graft_layer *l = make_pad(ctx, 1, 2, 0, 1, mode, -1);
        ck_assert_str_eq(graft_layer_kind(l), "pad2d");
        graft_tensor *x = tu_tensor_from(ctx, 4, d, xv);
        const graft_tensor *y = tu_forward(l, 1, &x);
        ck_assert_int_eq(graft_tensor_dim(y, 2), 3);
        ck_assert_int_eq(graft_tensor_dim(y, 3), 6);
        tu_assert_close(graft_tensor_data_const(y), want[mode], 18, 0, 0, "pad2d");
        /* Backward with dy = 1 counts how often each input cell was read:
         * reflect reads rows (1, 0, 1) and columns (2, 1, 0, 1, 2, 1); edge
         * rows (0, 0, 1) and columns (0, 0, 0, 1, 2, 2). */
        graft_tensor *dy = tu_tensor(ctx, 4, 1, 1, 3, 6);
        graft_tensor_fill(dy, 1);
        const graft_tensor *dx;
        ck_assert_int_eq(graft_layer_backward(l, 1, (const graft_tensor *const *)&x, dy, &dx), 0);
        const float counts[3][6] = {{1, 1, 1, 1, 1, 1}, {1, 3, 2, 2, 6, 4}, {6, 2, 4, 3, 1, 2}};
        tu_assert_close(graft_tensor_data_const(dx), counts[mode], 6, 0, 0, "pad2d backward");
        graft_tensor_free(dy);
        graft_tensor_free(x);
        graft_layer_free(l);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_pad2d_gradcheck_and_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    for (int mode = 0; mode < 3; mode++) {
        graft_layer *l = make_pad(ctx, 2, 1, 1, 2, mode, 0.5f);
        graft_tensor *x = tu_tensor(ctx, 4, 2, 2, 3, 4);
        tu_fill_uniform(x, (uint64_t)mode, -1, 1);
        tu_build(l, 1, &x);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 48);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    /* Rank 3 and 5 inputs pad their last two axes too. */
    graft_layer *l = make_pad(ctx, 1, 1, 0, 0, GRAFT_PAD_EDGE, 0);
    graft_tensor *x3 = tu_tensor(ctx, 3, 2, 2, 3);
    tu_fill_uniform(x3, 7, -1, 1);
    tu_build(l, 1, &x3);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x3, NULL), 12);
    graft_layer_free(l);
    graft_tensor_free(x3);
    l = make_pad(ctx, 0, 1, 0, 1, GRAFT_PAD_REFLECT, 0);
    const int32_t bad_mode = 7, neg = -1;
    ck_assert_int_eq(tu_load_patched(l, 16, &bad_mode), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): mode is 7, must be GRAFT_PAD_CONSTANT, "
                                        "_REFLECT or _EDGE");
    ck_assert_int_eq(tu_load_patched(l, 4, &neg), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): pad_left is -1, must be >= 0");
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_pad2d_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_pad2d_spec s = GRAFT_PAD2D_SPEC_INIT;
    graft_layer *l = (graft_layer *)1;
    s.pad_bottom = -2;
    ck_assert_int_eq(graft_layer_pad2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_pad2d(): pad_bottom is -2, must be >= 0");
    s.pad_bottom = 0;
    s.mode = 3;
    ck_assert_int_eq(graft_layer_pad2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    s.mode = GRAFT_PAD_CONSTANT;
    s.value = NAN;
    ck_assert_int_eq(graft_layer_pad2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_pad2d(): value is nan, must be finite");
    s.value = 0;
    s.struct_size = 8;
    ck_assert_int_eq(graft_layer_pad2d(ctx, &s, &l), GRAFT_E_VERSION);
    ck_assert_int_eq(graft_layer_pad2d(ctx, NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_pad2d(NULL, &s, &l), GRAFT_E_INVALID_ARG);
    /* Reflection needs pads smaller than the axis; rank 2 cannot be padded. */
    l = make_pad(ctx, 2, 0, 0, 0, GRAFT_PAD_REFLECT, 0);
    graft_tensor *x = tu_tensor(ctx, 4, 1, 1, 2, 5), *x2 = tu_tensor(ctx, 2, 1, 5);
    ck_assert_int_eq(graft_layer_build(l, 1, (const graft_tensor *const *)&x, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): pad2d layer: reflect padding "
                                        "(2, 0, 0, 0) needs pads smaller than the 2x5 input");
    ck_assert_int_eq(graft_layer_build(l, 1, (const graft_tensor *const *)&x2, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): pad2d layer: input has 2 "
                                        "dimensions, needs at least 3 (N, ..., H, W)");
    graft_tensor_free(x);
    graft_tensor_free(x2);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_pad2d(void)
{
    Suite *s = suite_create("pad2d");
    TCase *tc = tcase_create("pad2d");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pad2d_forward);
    tcase_add_test(tc, test_pad2d_gradcheck_and_roundtrip);
    tcase_add_test(tc, test_pad2d_errors);
    suite_add_tcase(s, tc);
    return s;
}
