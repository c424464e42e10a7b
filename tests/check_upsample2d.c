/*
 * check_upsample2d.c - the upsample2d layer (src/layers/layer_upsample2d.c):
 * resizing of the last two axes, nearest (every rounding) and bilinear
 * (every coordinate mapping), against values computed by hand; backward
 * handing each output gradient to the cells it read; output sizes from a
 * scale or given; finite-difference gradients, a save/load round trip, and
 * the argument and shape errors. PyTorch references are check_torch_refs.c's.
 */
#include "testutil.h"

#include <math.h>

static graft_layer *make(graft_ctx *ctx, int mode, int coord, int nearest, int oh, int ow,
                         float sh, float sw)
{
    graft_upsample2d_spec s = GRAFT_UPSAMPLE2D_SPEC_INIT;
    s.mode = mode;
    s.coord = coord;
    s.nearest = nearest;
    s.out_h = oh;
    s.out_w = ow;
    s.scale_h = sh;
    s.scale_w = sw;
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_upsample2d(ctx, &s, &l) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_str_eq(graft_layer_kind(l), "upsample2d");
    return l;
}

/* y = l(x) for x = 1 2 / 3 4 (one plane), compared with want (oh x ow). */
static void check_2x2(graft_layer *l, int oh, int ow, const float *want, const char *what)
{
    graft_ctx *ctx = l->ctx;
    const int64_t d[4] = {1, 1, 2, 2};
    const float xv[4] = {1, 2, 3, 4};
    graft_tensor *x = tu_tensor_from(ctx, 4, d, xv);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_msg(graft_layer_forward(l, 1, in, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_tensor_dim(y, 2), oh);
    ck_assert_int_eq(graft_tensor_dim(y, 3), ow);
    tu_assert_close(graft_tensor_data_const(y), want, (size_t)(oh * ow), 1e-6f, 0, what);
    graft_tensor_free(x);
}

START_TEST(test_upsample2d_nearest)
{
    graft_ctx *ctx = tu_ctx();
    /* Doubling: every mapping and rounding picks rows and columns 0 0 1 1
     * (PyTorch's nearest is ASYMMETRIC with FLOOR). */
    const float twice[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    graft_layer *l = make(ctx, GRAFT_UPSAMPLE_NEAREST, GRAFT_COORD_ASYMMETRIC,
                          GRAFT_NEAREST_FLOOR, 0, 0, 2, 2);
    check_2x2(l, 4, 4, twice, "asymmetric floor");
    /* Backward: each input cell was read four times. */
    const int64_t d[4] = {1, 1, 2, 2};
    const float xv[4] = {1, 2, 3, 4};
    graft_tensor *x = tu_tensor_from(ctx, 4, d, xv), *dy = tu_tensor(ctx, 4, 1, 1, 4, 4);
    graft_tensor_fill(dy, 1);
    const graft_tensor *in[1] = {x}, *dx[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    const float four[4] = {4, 4, 4, 4};
    tu_assert_close(graft_tensor_data_const(dx[0]), four, 4, 0, 0, "nearest backward");
    graft_layer_free(l);
    l = make(ctx, GRAFT_UPSAMPLE_NEAREST, GRAFT_COORD_HALF_PIXEL,
             GRAFT_NEAREST_ROUND_PREFER_FLOOR, 0, 0, 2, 2);
    check_2x2(l, 4, 4, twice, "half pixel");
    graft_layer_free(l);
    /* Down to 1x1: half-pixel puts the one output at 0.5, between the
     * cells; the rounding decides. PYTORCH_HALF_PIXEL maps a size-1 output
     * to 0. */
    const struct {
        int coord, nearest;
        float want;
    } one[] = {
        {GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_ROUND_PREFER_FLOOR, 1},
        {GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_ROUND_PREFER_CEIL, 4},
        {GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_FLOOR, 1},
        {GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_CEIL, 4},
        {GRAFT_COORD_PYTORCH_HALF_PIXEL, GRAFT_NEAREST_ROUND_PREFER_CEIL, 1},
    };
    for (size_t k = 0; k < sizeof one / sizeof one[0]; k++) {
        l = make(ctx, GRAFT_UPSAMPLE_NEAREST, one[k].coord, one[k].nearest, 1, 1, 2, 2);
        check_2x2(l, 1, 1, &one[k].want, "to 1x1");
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_upsample2d_bilinear)
{
    graft_ctx *ctx = tu_ctx();
    /* Half pixel, doubling: coordinates -0.25, 0.25, 0.75, 1.25 clamped to
     * [0, 1]: weights (1, 0), (0.75, 0.25), (0.25, 0.75), (0, 1) on each
     * axis. */
    const float half[16] = {1,   1.25f, 1.75f, 2,   1.5f, 1.75f, 2.25f, 2.5f,
                            2.5f, 2.75f, 3.25f, 3.5f, 3,   3.25f, 3.75f, 4};
    graft_layer *l = make(ctx, GRAFT_UPSAMPLE_LINEAR, GRAFT_COORD_HALF_PIXEL,
                          GRAFT_NEAREST_ROUND_PREFER_FLOOR, 0, 0, 2, 2);
    check_2x2(l, 4, 4, half, "bilinear half pixel");
    /* Backward: the weights of each output sum to 1, and by symmetry each
     * input cell gets a quarter of the 16. */
    const int64_t d[4] = {1, 1, 2, 2};
    const float xv[4] = {1, 2, 3, 4};
    graft_tensor *x = tu_tensor_from(ctx, 4, d, xv), *dy = tu_tensor(ctx, 4, 1, 1, 4, 4);
    graft_tensor_fill(dy, 1);
    const graft_tensor *in[1] = {x}, *dx[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    const float four[4] = {4, 4, 4, 4};
    tu_assert_close(graft_tensor_data_const(dx[0]), four, 4, 1e-6f, 0, "bilinear backward");
    graft_layer_free(l);
    /* Align corners, 3x3 from a given size: coordinates 0, 0.5, 1. */
    const float corners[9] = {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4};
    l = make(ctx, GRAFT_UPSAMPLE_LINEAR, GRAFT_COORD_ALIGN_CORNERS,
             GRAFT_NEAREST_ROUND_PREFER_FLOOR, 3, 3, 2, 2);
    check_2x2(l, 3, 3, corners, "bilinear align corners");
    graft_layer_free(l);
    /* Asymmetric, doubling: coordinates 0, 0.5, 1, 1.5 (clamped to 1). */
    const float asym[16] = {1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4};
    l = make(ctx, GRAFT_UPSAMPLE_LINEAR, GRAFT_COORD_ASYMMETRIC, GRAFT_NEAREST_ROUND_PREFER_FLOOR,
             0, 0, 2, 2);
    check_2x2(l, 4, 4, asym, "bilinear asymmetric");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* Output sizes: floor(H * scale) or the size given; leading axes (several
 * planes, ranks 3 and 5) resize alike; gradients and save/load. */
START_TEST(test_upsample2d_shapes_gradients_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = make(ctx, GRAFT_UPSAMPLE_LINEAR, GRAFT_COORD_PYTORCH_HALF_PIXEL,
                          GRAFT_NEAREST_ROUND_PREFER_FLOOR, 5, 0, 1.5f, 0.5f);
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 3, 5);
    tu_fill_uniform(x, 11, -1, 1);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(y, 0), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 3);
    ck_assert_int_eq(graft_tensor_dim(y, 2), 5); /* given */
    ck_assert_int_eq(graft_tensor_dim(y, 3), 2); /* floor(5 * 0.5) */
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 90);
    tu_check_roundtrip(l, 1, &x);
    graft_layer_free(l);
    for (int mode = 0; mode <= 1; mode++) {
        l = make(ctx, mode, GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_ROUND_PREFER_FLOOR, 0, 0, 1.5f,
                 2.0f);
        graft_tensor *x3 = tu_tensor(ctx, 3, 2, 3, 4), *x5 = tu_tensor(ctx, 5, 1, 2, 2, 3, 2);
        tu_fill_uniform(x3, 12, -1, 1);
        tu_fill_uniform(x5, 13, -1, 1);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x3, NULL), 24);
        graft_layer_free(l);
        l = make(ctx, mode, GRAFT_COORD_HALF_PIXEL, GRAFT_NEAREST_ROUND_PREFER_FLOOR, 0, 0, 1.5f,
                 2.0f);
        const graft_tensor *in5[1] = {x5};
        ck_assert_int_eq(graft_layer_forward(l, 1, in5, &y), GRAFT_OK);
        ck_assert_int_eq(graft_tensor_ndim(y), 5);
        ck_assert_int_eq(graft_tensor_dim(y, 3), 4); /* floor(3 * 1.5) */
        ck_assert_int_eq(graft_tensor_dim(y, 4), 4);
        tu_check_roundtrip(l, 1, &x5);
        graft_layer_free(l);
        graft_tensor_free(x3);
        graft_tensor_free(x5);
    }
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_upsample2d_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_upsample2d_spec s = GRAFT_UPSAMPLE2D_SPEC_INIT;
    graft_layer *l = (graft_layer *)1;
    s.out_h = -1;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_upsample2d(): out_h and out_w are -1 and 0, "
                                        "must be >= 0 (0: from the scale)");
    s.out_h = 0;
    s.scale_h = NAN;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_upsample2d(): scale_h is nan, must be finite and > 0");
    s.out_h = 4; /* a given size makes the scale unused */
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_OK);
    graft_layer_free(l);
    s.scale_w = 0;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    s = (graft_upsample2d_spec)GRAFT_UPSAMPLE2D_SPEC_INIT;
    s.mode = 2;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_upsample2d(): mode is 2, must be "
                                        "GRAFT_UPSAMPLE_NEAREST or _LINEAR");
    s.mode = GRAFT_UPSAMPLE_NEAREST;
    s.coord = 4;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    s.coord = GRAFT_COORD_HALF_PIXEL;
    s.nearest = -1;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
    s.nearest = GRAFT_NEAREST_FLOOR;
    s.struct_size = 8;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_E_VERSION);
    s.struct_size = sizeof s;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_upsample2d(NULL, &s, &l), GRAFT_E_INVALID_ARG);
    /* Rank 2 cannot be resized; a scale that leaves no row is refused. */
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_OK);
    graft_tensor *x2 = tu_tensor(ctx, 2, 1, 5), *x = tu_tensor(ctx, 4, 1, 1, 2, 2);
    const graft_tensor *in2[1] = {x2}, *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(l, 1, in2, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): upsample2d layer: input has 2 "
                                        "dimensions, needs at least 3 (N, ..., H, W)");
    graft_layer_free(l);
    s.scale_h = s.scale_w = 0.25f;
    ck_assert_int_eq(graft_layer_upsample2d(ctx, &s, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): upsample2d layer: a 2x2 input gives "
                                        "a 0x0 output; each side must be 1 to 2^31");
    graft_layer_free(l);
    graft_tensor_free(x2);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_upsample2d(void)
{
    Suite *s = suite_create("upsample2d");
    TCase *tc = tcase_create("upsample2d");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_upsample2d_nearest);
    tcase_add_test(tc, test_upsample2d_bilinear);
    tcase_add_test(tc, test_upsample2d_shapes_gradients_roundtrip);
    tcase_add_test(tc, test_upsample2d_errors);
    suite_add_tcase(s, tc);
    return s;
}
