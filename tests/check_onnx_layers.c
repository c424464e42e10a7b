/*
 * check_onnx_layers.c - the layer kinds added for ONNX models: mul,
 * hard_sigmoid, pad2d, reshape and scale_shift (src/layer_mul.c, ...).
 * For each: forward against hand-computed values, finite-difference
 * gradients, a save/load round trip (with every truncation), attributes out
 * of range in a saved record, and argument and shape errors.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

static const graft_tensor *forward1(graft_layer *l, int n, graft_tensor **in)
{
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_layer_forward(l, n, (const graft_tensor *const *)in, &y) == GRAFT_OK,
                  "%s", graft_errmsg(l->ctx));
    return y;
}

static void build(graft_layer *l, int n, graft_tensor **in)
{
    ck_assert_msg(graft_layer_build(l, n, (const graft_tensor *const *)in, 1) == GRAFT_OK, "%s",
                  graft_errmsg(l->ctx));
}

/* Saves l, overwrites 4 bytes of its attributes at attr_offset (counted from
 * the start of the attributes) with v, and loads it back: the status. */
static int load_patched(graft_layer *l, size_t attr_offset, const void *v)
{
    graftWriter w;
    graftWriterInit(&w, l->ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    size_t start = 4 + strlen(l->vtbl->kind) + 4; /* kind string, version */
    ck_assert_uint_le(start + attr_offset + 4, w.size);
    memcpy(w.data + start + attr_offset, v, 4);
    graftReader r;
    graftReaderInit(&r, l->ctx, w.data, w.size);
    graft_layer *back = NULL;
    int st = graftLayerLoad(l->ctx, &r, &back);
    graft_layer_free(back);
    graftWriterDispose(&w);
    return st;
}

/* ---- mul ----------------------------------------------------------------------------- */

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
    const graft_tensor *y = forward1(l, 2, in);
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
    build(l, 2, gate);
    ck_assert_uint_eq(tu_gradcheck(l, 2, gate, NULL), 24 + 6);
    tu_check_roundtrip(l, 2, gate);
    graft_layer_free(l);
    ck_assert_int_eq(graft_layer_mul(ctx, &l), GRAFT_OK);
    build(l, 2, full);
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

/* ---- hard_sigmoid --------------------------------------------------------------------- */

START_TEST(test_hard_sigmoid_forward)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_hard_sigmoid(ctx, 0.5f, 0.25f, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "hard_sigmoid");
    /* y = min(max(0.5 x + 0.25, 0), 1): -2 -> 0, -0.5 -> 0, 0 -> 0.25, 1 -> 0.75, 3 -> 1 */
    const int64_t d[2] = {1, 5};
    const float xv[5] = {-2, -0.5f, 0, 1, 3}, want[5] = {0, 0, 0.25f, 0.75f, 1};
    graft_tensor *x = tu_tensor_from(ctx, 2, d, xv);
    tu_assert_close(graft_tensor_data_const(forward1(l, 1, &x)), want, 5, 1e-7f, 0, "hsig");
    /* dx = 0.5 dy inside (0, 1), else 0 */
    graft_tensor *dy = tu_tensor(ctx, 2, 1, 5);
    graft_tensor_fill(dy, 2);
    const graft_tensor *dx;
    ck_assert_int_eq(graft_layer_backward(l, 1, (const graft_tensor *const *)&x, dy, &dx), 0);
    const float dwant[5] = {0, 0, 1, 1, 0};
    tu_assert_close(graft_tensor_data_const(dx), dwant, 5, 0, 0, "hsig grad");
    graft_tensor_free(dy);
    graft_tensor_free(x);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_hard_sigmoid_gradcheck_and_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_hard_sigmoid(ctx, 0.2f, 0.5f, &l), GRAFT_OK);
    /* Kinks at x = -2.5 and 2.5; distinct values -3.85, -3.65, ... stay
     * 0.05 away from them. */
    graft_tensor *x = tu_tensor(ctx, 3, 2, 4, 5);
    tu_fill_distinct(x, 4, -3.85f, 0.2f);
    build(l, 1, &x);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 40);
    tu_check_roundtrip(l, 1, &x);
    const float nan = NAN, big = 2.0f;
    ck_assert_int_eq(load_patched(l, 0, &nan), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): alpha is nan, must be finite");
    ck_assert_int_eq(load_patched(l, 4, &big), GRAFT_OK);
    graft_tensor_free(x);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_hard_sigmoid_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_hard_sigmoid(ctx, INFINITY, 0.5f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_hard_sigmoid(): alpha is inf, must be finite");
    ck_assert_int_eq(graft_layer_hard_sigmoid(ctx, 0.2f, NAN, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_hard_sigmoid(): beta is nan, must be finite");
    ck_assert_int_eq(graft_layer_hard_sigmoid(NULL, 0.2f, 0.5f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_hard_sigmoid(ctx, 0.2f, 0.5f, NULL), GRAFT_E_INVALID_ARG);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- pad2d ------------------------------------------------------------------------------ */

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
        const graft_tensor *y = forward1(l, 1, &x);
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
        build(l, 1, &x);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 48);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    /* Rank 3 and 5 inputs pad their last two axes too. */
    graft_layer *l = make_pad(ctx, 1, 1, 0, 0, GRAFT_PAD_EDGE, 0);
    graft_tensor *x3 = tu_tensor(ctx, 3, 2, 2, 3);
    tu_fill_uniform(x3, 7, -1, 1);
    build(l, 1, &x3);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x3, NULL), 12);
    graft_layer_free(l);
    graft_tensor_free(x3);
    l = make_pad(ctx, 0, 1, 0, 1, GRAFT_PAD_REFLECT, 0);
    const int32_t bad_mode = 7, neg = -1;
    ck_assert_int_eq(load_patched(l, 16, &bad_mode), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): mode is 7, must be GRAFT_PAD_CONSTANT, "
                                        "_REFLECT or _EDGE");
    ck_assert_int_eq(load_patched(l, 4, &neg), GRAFT_E_FORMAT);
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

/* ---- reshape ------------------------------------------------------------------------------ */

START_TEST(test_reshape)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[3] = {3, 1, 4};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_reshape(ctx, 3, dims, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "reshape");
    graft_tensor *x = tu_tensor(ctx, 3, 2, 2, 6);
    tu_fill_uniform(x, 5, -1, 1);
    const graft_tensor *y = forward1(l, 1, &x);
    /* (2, 2, 6) -> (2, 3, 1, 4), the same 24 values in order */
    ck_assert_int_eq(graft_tensor_ndim(y), 4);
    ck_assert_int_eq(graft_tensor_dim(y, 0), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 3);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 4);
    tu_assert_close(graft_tensor_data_const(y), graft_tensor_data(x), 24, 0, 0, "reshape");
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 24);
    tu_check_roundtrip(l, 1, &x);
    const uint32_t zero_rank = 0;
    ck_assert_int_eq(load_patched(l, 0, &zero_rank), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): reshape rank is 0, must be 1 to 7");
    const int32_t zero = 0;
    ck_assert_int_eq(load_patched(l, 4, &zero), GRAFT_E_FORMAT); /* dims[0] = 0 */
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

/* ---- scale_shift -------------------------------------------------------------------------- */

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
    build(l, 1, &x);
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
    tu_assert_close(graft_tensor_data_const(forward1(l, 1, &x)), want, 6, 0, 0, "scale_shift");
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 6);
    tu_check_roundtrip(l, 1, &x);
    const uint32_t rank9 = 9;
    ck_assert_int_eq(load_patched(l, 0, &rank9), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): scale_shift rank is 9, must be 1 to 7");
    const int32_t zero = 0;
    ck_assert_int_eq(load_patched(l, 4, &zero), GRAFT_E_FORMAT); /* dims[0] = 0 */
    graft_layer_free(l);
    /* A wider input: (N, 2, 3, 4) with per-channel coefficients (2, 1, 1). */
    const int64_t cd[3] = {2, 1, 1};
    ck_assert_int_eq(graft_layer_scale_shift(ctx, 3, cd, &l), GRAFT_OK);
    graft_tensor *x4 = tu_tensor(ctx, 4, 2, 2, 3, 4);
    tu_fill_uniform(x4, 3, -1, 1);
    build(l, 1, &x4);
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

Suite *suite_onnx_layers(void)
{
    Suite *s = suite_create("onnx_layers");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"mul_forward_broadcast", test_mul_forward_broadcast},
        {"mul_gradcheck_and_roundtrip", test_mul_gradcheck_and_roundtrip},
        {"mul_errors", test_mul_errors},
        {"hard_sigmoid_forward", test_hard_sigmoid_forward},
        {"hard_sigmoid_gradcheck_and_roundtrip", test_hard_sigmoid_gradcheck_and_roundtrip},
        {"hard_sigmoid_errors", test_hard_sigmoid_errors},
        {"pad2d_forward", test_pad2d_forward},
        {"pad2d_gradcheck_and_roundtrip", test_pad2d_gradcheck_and_roundtrip},
        {"pad2d_errors", test_pad2d_errors},
        {"reshape", test_reshape},
        {"scale_shift", test_scale_shift},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        TCase *tc = tcase_create(cases[k].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[k].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
