/* check_activation.c - the elementwise activations of
 * src/layers/layer_activation.c: relu, clip, leaky_relu, sigmoid, tanh,
 * hard_swish, hard_sigmoid, silu and gelu. */
#include "testutil.h"

#include "core/parallel.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RELU, CLIP, LEAKY, SIGMOID, TANH, HSWISH, N_KINDS };

static const char *const kind_names[N_KINDS] = {"relu",    "clip", "leaky_relu",
                                                "sigmoid", "tanh", "hard_swish"};

/* Attributes used wherever a test makes "one layer of every kind". */
#define CLIP_LO (-1.5f)
#define CLIP_HI 2.5f
#define LEAKY_ALPHA 0.2f

static graft_layer *make_kind(graft_ctx *ctx, int kind)
{
    graft_layer *l = NULL;
    int st = GRAFT_E_INTERNAL;
    switch (kind) {
    case RELU: st = graft_layer_relu(ctx, &l); break;
    case CLIP: st = graft_layer_clip(ctx, CLIP_LO, CLIP_HI, &l); break;
    case LEAKY: st = graft_layer_leaky_relu(ctx, LEAKY_ALPHA, &l); break;
    case SIGMOID: st = graft_layer_sigmoid(ctx, &l); break;
    case TANH: st = graft_layer_tanh(ctx, &l); break;
    case HSWISH: st = graft_layer_hard_swish(ctx, &l); break;
    }
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(graft_layer_kind(l), kind_names[kind]);
    return l;
}

/* Runs x (1, n) forward and backward with dy = 1 everywhere, and compares
 * the output with want_y and the input gradient (= f'(x)) with want_dx. */
static void check_values(graft_layer *l, const float *x, size_t n, const float *want_y,
                         const float *want_dx, float atol)
{
    graft_ctx *ctx = l->ctx;
    const int64_t dims[2] = {1, (int64_t)n};
    graft_tensor *xt = tu_tensor_from(ctx, 2, dims, x);
    graft_tensor *dy = tu_tensor(ctx, 2, 1, (int)n);
    ck_assert_int_eq(graft_tensor_fill(dy, 1.0f), GRAFT_OK);
    const graft_tensor *in[1] = {xt}, *y = NULL, *dx[1] = {NULL};
    ck_assert_msg(graft_layer_forward(l, 1, in, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_tensor_ndim(y), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 1), (int64_t)n);
    for (size_t i = 0; i < n; i++) ck_assert(isfinite(graft_tensor_data_const(y)[i]));
    tu_assert_close(graft_tensor_data_const(y), want_y, n, atol, 0, graft_layer_kind(l));
    ck_assert_msg(graft_layer_backward(l, 1, in, dy, dx) == GRAFT_OK, "%s", graft_errmsg(ctx));
    tu_assert_close(graft_tensor_data_const(dx[0]), want_dx, n, atol, 0, "f'(x)");
    graft_tensor_free(xt);
    graft_tensor_free(dy);
}

/* ---- forward and derivative at hand-picked points ------------------------- */

START_TEST(test_relu_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = make_kind(ctx, RELU);
    /* max(0, x); relu'(0) = 0 by convention. */
    const float x[] = {-2, -0.5f, 0, 0.5f, 3};
    const float y[] = {0, 0, 0, 0.5f, 3};
    const float d[] = {0, 0, 0, 1, 1};
    check_values(l, x, 5, y, d, 0);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_clip_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_clip(ctx, -1, 2, &l), GRAFT_OK);
    /* min(max(x, -1), 2); the gradient passes for -1 <= x <= 2, bounds included. */
    const float x[] = {-3, -1, 0.5f, 2, 5};
    const float y[] = {-1, -1, 0.5f, 2, 2};
    const float d[] = {0, 1, 1, 1, 0};
    check_values(l, x, 5, y, d, 0);
    graft_layer_free(l);

    /* relu6 is clip(0, 6). */
    ck_assert_int_eq(graft_layer_clip(ctx, 0, 6, &l), GRAFT_OK);
    const float x6[] = {-1, 0, 3, 6, 7};
    const float y6[] = {0, 0, 3, 6, 6};
    const float d6[] = {0, 1, 1, 1, 0};
    check_values(l, x6, 5, y6, d6, 0);
    graft_layer_free(l);

    /* lo == hi is allowed: a constant with gradient only at that point. */
    ck_assert_int_eq(graft_layer_clip(ctx, 1, 1, &l), GRAFT_OK);
    const float xc[] = {-4, 1, 9};
    const float yc[] = {1, 1, 1};
    const float dc[] = {0, 1, 0};
    check_values(l, xc, 3, yc, dc, 0);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_leaky_relu_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, 0.1f, &l), GRAFT_OK);
    /* x for x >= 0, 0.1 x below: -2 -> -0.2, -0.5 -> -0.05; slope 1 at 0. */
    const float x[] = {-2, -0.5f, 0, 3};
    const float y[] = {-0.2f, -0.05f, 0, 3};
    const float d[] = {0.1f, 0.1f, 1, 1};
    check_values(l, x, 4, y, d, 1e-7f);
    graft_layer_free(l);

    /* A negative alpha is finite, hence allowed: -2 * -0.5 = 1. */
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, -0.5f, &l), GRAFT_OK);
    const float xn[] = {-2, 4};
    const float yn[] = {1, 4};
    const float dn[] = {-0.5f, 1};
    check_values(l, xn, 2, yn, dn, 0);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_sigmoid_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = make_kind(ctx, SIGMOID);
    /* 1 / (1 + e^1) = 0.26894142, 1 / (1 + e^-2) = 0.88079708; y' = y (1 - y):
       0.26894142 * 0.73105858 = 0.19661193, 0.88079708 * 0.11920292 = 0.10499359,
       0.5 * 0.5 = 0.25. At -100 and 100, y is 0 and 1 within float precision
       (e^-100 = 3.7e-44) and y' is 0. */
    const float x[] = {-100, -1, 0, 2, 100};
    const float y[] = {0, 0.26894142f, 0.5f, 0.88079708f, 1};
    const float d[] = {0, 0.19661193f, 0.25f, 0.10499359f, 0};
    check_values(l, x, 5, y, d, 1e-6f);
    graft_layer_free(l);

    /* The extremes exactly: no overflow, no NaN, 0 <= y < 1e-30 and y == 1. */
    l = make_kind(ctx, SIGMOID);
    const int64_t dims[2] = {1, 2};
    const float xe[] = {-100, 100};
    graft_tensor *xt = tu_tensor_from(ctx, 2, dims, xe);
    const graft_tensor *in[1] = {xt}, *yt = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &yt), GRAFT_OK);
    const float *yv = graft_tensor_data_const(yt);
    ck_assert(isfinite(yv[0]) && yv[0] >= 0.0f && yv[0] < 1e-30f);
    ck_assert_float_eq(yv[1], 1.0f);
    graft_tensor_free(xt);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tanh_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = make_kind(ctx, TANH);
    /* tanh(-1) = -0.76159416, tanh(0.5) = 0.46211716, tanh(20) = 1 in float;
       1 - y^2: 1 - 0.58002566 = 0.41997434, 1 - 0.21355227 = 0.78644773. */
    const float x[] = {-1, 0, 0.5f, 20};
    const float y[] = {-0.76159416f, 0, 0.46211716f, 1};
    const float d[] = {0.41997434f, 1, 0.78644773f, 0};
    check_values(l, x, 4, y, d, 1e-6f);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_hard_swish_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = make_kind(ctx, HSWISH);
    /* x * min(max(x + 3, 0), 6) / 6:
         -4 -> -4 * 0 / 6 = 0      -3 -> -3 * 0 / 6 = 0    -1 -> -1 * 2 / 6 = -1/3
          0 -> 0                    1 -> 1 * 4 / 6 = 2/3    3 -> 3 * 6 / 6 = 3
          4 -> 4 * 6 / 6 = 4
       derivative as PyTorch's hardswish backward: 0 below -3, 1 above 3,
       (2x + 3) / 6 on [-3, 3]: -3 -> -1/2, -1 -> 1/6, 0 -> 1/2, 1 -> 5/6, 3 -> 3/2. */
    const float x[] = {-4, -3, -1, 0, 1, 3, 4};
    const float y[] = {0, 0, -1.0f / 3, 0, 2.0f / 3, 3, 4};
    const float d[] = {0, -0.5f, 1.0f / 6, 0.5f, 5.0f / 6, 1.5f, 1};
    check_values(l, x, 7, y, d, 1e-6f);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

/* Any rank, and the output keeps the input's shape. */
START_TEST(test_activation_any_rank)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *xs[4] = {tu_tensor(ctx, 1, 5), tu_tensor(ctx, 2, 2, 3),
                           tu_tensor(ctx, 4, 2, 3, 2, 2), tu_tensor(ctx, 5, 1, 2, 1, 3, 2)};
    for (int k = 0; k < N_KINDS; k++) {
        for (int t = 0; t < 4; t++) {
            tu_fill_uniform(xs[t], (uint64_t)(10 * k + t), -4, 4);
            graft_layer *l = make_kind(ctx, k);
            const graft_tensor *in[1] = {xs[t]}, *y = NULL;
            ck_assert_msg(graft_layer_forward(l, 1, in, &y) == GRAFT_OK, "%s",
                          graft_errmsg(ctx));
            ck_assert(graftTensorSameShape(y, xs[t]));
            graft_layer_free(l);
        }
    }
    for (int t = 0; t < 4; t++) graft_tensor_free(xs[t]);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- gradients ------------------------------------------------------------ */

/* Asserts every element is at least margin away from every kink. */
static void assert_away_from_kinks(const graft_tensor *x, const float *kinks, int n_kinks,
                                   float margin)
{
    const float *p = graft_tensor_data_const(x);
    for (size_t i = 0; i < graft_tensor_numel(x); i++)
        for (int k = 0; k < n_kinks; k++)
            ck_assert_msg(fabsf(p[i] - kinks[k]) >= margin, "x[%zu] = %g is near the kink %g",
                          i, p[i], kinks[k]);
}

START_TEST(test_activation_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    /* 24 distinct values -5.05 + 0.43 k, k = 0..23, spanning [-5.05, 4.84]:
       every kink (0, -3, 3, CLIP_LO, CLIP_HI) lies inside the range, so both
       sides of each are exercised, and no value is within 0.05 of one (the
       finite-difference step is 0.01). */
    const float kinks[] = {0, -3, 3, CLIP_LO, CLIP_HI};
    graft_tensor *x = tu_tensor(ctx, 3, 2, 3, 4);
    graft_tensor *x4 = tu_tensor(ctx, 4, 2, 3, 2, 2);
    for (int k = 0; k < N_KINDS; k++) {
        tu_fill_distinct(x, (uint64_t)(100 + k), -5.05f, 0.43f);
        tu_fill_distinct(x4, (uint64_t)(200 + k), -5.05f, 0.43f);
        assert_away_from_kinks(x, kinks, 5, 0.05f);
        assert_away_from_kinks(x4, kinks, 5, 0.05f);
        graft_layer *l = make_kind(ctx, k);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 24);
        graft_layer_free(l);
        l = make_kind(ctx, k);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x4, NULL), 24);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_tensor_free(x4);
    graft_ctx_free(ctx);
}
END_TEST

/* backward with input_grads NULL has nothing to compute, and succeeds. */
START_TEST(test_activation_backward_without_input_grads)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 3, 4), *dy = tu_tensor(ctx, 2, 3, 4);
    tu_fill_uniform(x, 3, -2, 2);
    for (int k = 0; k < N_KINDS; k++) {
        graft_layer *l = make_kind(ctx, k);
        const graft_tensor *in[1] = {x}, *y = NULL;
        ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_layer_param_count(l), 0);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- serialisation -------------------------------------------------------- */

START_TEST(test_activation_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 2, 2, 3, 3);
    tu_fill_uniform(x, 21, -5, 5); /* reaches past every clip bound */
    for (int k = 0; k < N_KINDS; k++) {
        graft_layer *l = make_kind(ctx, k);
        const graft_tensor *in[1] = {x};
        ck_assert_int_eq(graft_layer_build(l, 1, in, 1), GRAFT_OK);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Saves l, loads it back, and returns the copy. */
static graft_layer *save_load(graft_layer *l)
{
    graftWriter w;
    graftWriterInit(&w, l->ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    graftReader r;
    graftReaderInit(&r, l->ctx, w.data, w.size);
    graft_layer *copy = NULL;
    ck_assert_msg(graftLayerLoad(l->ctx, &r, &copy) == GRAFT_OK, "%s", graft_errmsg(l->ctx));
    ck_assert_uint_eq(r.pos, w.size);
    graftWriterDispose(&w);
    return copy;
}

/* The attributes themselves survive, also for an unbuilt layer: the loaded
 * copies clip at exactly the saved bounds and scale by exactly alpha. */
START_TEST(test_activation_roundtrip_keeps_attributes)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *clip = NULL, *leaky = NULL;
    ck_assert_int_eq(graft_layer_clip(ctx, -1.25f, 0.375f, &clip), GRAFT_OK);
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, 0.3f, &leaky), GRAFT_OK);
    graft_layer *clip2 = save_load(clip), *leaky2 = save_load(leaky);
    ck_assert_str_eq(graft_layer_kind(clip2), "clip");
    ck_assert_str_eq(graft_layer_kind(leaky2), "leaky_relu");
    /* clip: -10 -> -1.25, 10 -> 0.375, 0.25 -> 0.25. leaky: -2 -> -0.6, 2 -> 2. */
    const int64_t dims[2] = {1, 3};
    const float xv[] = {-10, 10, 0.25f};
    graft_tensor *x = tu_tensor_from(ctx, 2, dims, xv);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(clip2, 1, in, &y), GRAFT_OK);
    const float want_clip[] = {-1.25f, 0.375f, 0.25f};
    tu_assert_close(graft_tensor_data_const(y), want_clip, 3, 0, 0, "loaded clip");
    const float xl[] = {-2, 2, 0};
    ck_assert_int_eq(graft_tensor_copy_from(x, xl, 3), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(leaky2, 1, in, &y), GRAFT_OK);
    const float want_leaky[] = {-2 * 0.3f, 2, 0};
    tu_assert_close(graft_tensor_data_const(y), want_leaky, 3, 0, 0, "loaded leaky_relu");

    /* An attribute-less kind loads as its own kind, computing its function. */
    graft_layer *hs = make_kind(ctx, HSWISH);
    graft_layer *hs2 = save_load(hs);
    ck_assert_str_eq(graft_layer_kind(hs2), "hard_swish");
    const float xh[] = {-1, 1, 4};
    ck_assert_int_eq(graft_tensor_copy_from(x, xh, 3), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(hs2, 1, in, &y), GRAFT_OK);
    const float want_hs[] = {-1.0f / 3, 2.0f / 3, 4};
    tu_assert_close(graft_tensor_data_const(y), want_hs, 3, 1e-6f, 0, "loaded hard_swish");

    graft_layer_free(clip);
    graft_layer_free(clip2);
    graft_layer_free(leaky);
    graft_layer_free(leaky2);
    graft_layer_free(hs);
    graft_layer_free(hs2);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Loads an unbuilt layer record with hand-written attributes. */
static int load_record(graft_ctx *ctx, const char *kind, int n_attrs, float a0, float a1)
{
    graftWriter w;
    graftWriterInit(&w, ctx);
    graftWriteString(&w, kind);
    graftWriteU32(&w, 1);
    if (n_attrs >= 1) graftWriteF32(&w, a0);
    if (n_attrs >= 2) graftWriteF32(&w, a1);
    graftWriteU32(&w, 0); /* not built */
    ck_assert_int_eq(w.status, GRAFT_OK);
    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    graft_layer *l = (graft_layer *)1;
    int st = graftLayerLoad(ctx, &r, &l);
    if (st == GRAFT_OK) graft_layer_free(l);
    else ck_assert_ptr_null(l);
    graftWriterDispose(&w);
    return st;
}

START_TEST(test_activation_load_validates)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(load_record(ctx, "clip", 2, -1, 1), GRAFT_OK);
    ck_assert_int_eq(load_record(ctx, "clip", 2, 3, 1), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): lo (3) is greater than hi (1)");
    ck_assert_int_eq(load_record(ctx, "clip", 2, NAN, 1), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): lo is nan, must be finite");
    ck_assert_int_eq(load_record(ctx, "clip", 2, 0, INFINITY), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): hi is inf, must be finite");
    ck_assert_int_eq(load_record(ctx, "leaky_relu", 1, 0.5f, 0), GRAFT_OK);
    ck_assert_int_eq(load_record(ctx, "leaky_relu", 1, NAN, 0), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): alpha is nan, must be finite");
    ck_assert_int_eq(load_record(ctx, "relu", 0, 0, 0), GRAFT_OK);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

START_TEST(test_activation_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_clip(ctx, 2, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_clip(): lo (2) is greater than hi (1)");
    ck_assert_int_eq(graft_layer_clip(ctx, NAN, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_clip(): lo is nan, must be finite");
    ck_assert_int_eq(graft_layer_clip(ctx, 0, NAN, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_clip(): hi is nan, must be finite");
    ck_assert_int_eq(graft_layer_clip(ctx, -INFINITY, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_clip(): lo is -inf, must be finite");
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, NAN, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_leaky_relu(): alpha is nan, must be finite");
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, INFINITY, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_leaky_relu(): alpha is inf, must be finite");

    /* NULL ctx and NULL out, for every constructor. */
    ck_assert_int_eq(graft_layer_relu(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_relu(): ctx is NULL");
    ck_assert_int_eq(graft_layer_clip(NULL, 0, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_clip(): ctx is NULL");
    ck_assert_int_eq(graft_layer_leaky_relu(NULL, 0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_sigmoid(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_tanh(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_hard_swish(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_hard_swish(): ctx is NULL");
    ck_assert_int_eq(graft_layer_relu(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_relu(): out is NULL");
    ck_assert_int_eq(graft_layer_clip(ctx, 0, 1, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, 0.1f, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_sigmoid(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_tanh(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_tanh(): out is NULL");
    ck_assert_int_eq(graft_layer_hard_swish(ctx, NULL), GRAFT_E_INVALID_ARG);

    /* One input only; a shape other than the build's is refused. */
    graft_tensor *x = tu_tensor(ctx, 2, 2, 3), *bad = tu_tensor(ctx, 2, 2, 4);
    l = make_kind(ctx, SIGMOID);
    const graft_tensor *two[2] = {x, x}, *y = NULL;
    ck_assert_int_eq(graft_layer_build(l, 2, two, 0), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): a sigmoid layer takes 1 to 1 inputs, not 2");
    ck_assert_int_eq(graft_layer_forward(l, 1, two, &y), GRAFT_OK);
    const graft_tensor *in[1] = {bad};
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_forward(): sigmoid layer: inputs[0] has "
                                        "shape (2, 4), expected (2, 3)");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(bad);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- long rows: blocks of 8 elements and the remainder --------------------- */

/* The kernels run blocks of 8 elements and then the remainder one by one;
 * 35 elements (4 blocks and 3 more) take both paths. Each kind's output and
 * input gradient (with a random dy) must match the formula element by
 * element, computed here in double. x holds distinct values 0.37 apart from
 * -6.3, which stay 0.01 or more away from every kink (0, -1.5, 2.5, -3, 3). */
START_TEST(test_activation_long_rows)
{
    graft_ctx *ctx = tu_ctx();
    enum { N = 35 };
    const int kinds[] = {RELU, CLIP, LEAKY, HSWISH};
    graft_tensor *x = tu_tensor(ctx, 2, 1, N), *dy = tu_tensor(ctx, 2, 1, N);
    float *xv = graft_tensor_data(x);
    for (int i = 0; i < N; i++) xv[i] = -6.3f + 0.37f * (float)i;
    tu_fill_uniform(dy, 9, -1, 1);
    const float *g = graft_tensor_data(dy);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        graft_layer *l = make_kind(ctx, kinds[k]);
        const graft_tensor *in[1] = {x}, *y = NULL, *dx[1] = {NULL};
        ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
        ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
        int negative_seen = 0, positive_seen = 0;
        for (int i = 0; i < N; i++) {
            double v = xv[i], want_y, want_d;
            switch (kinds[k]) {
            case RELU: want_y = v > 0 ? v : 0; want_d = v > 0; break;
            case CLIP:
                want_y = v < CLIP_LO ? CLIP_LO : (v > CLIP_HI ? CLIP_HI : v);
                want_d = v >= CLIP_LO && v <= CLIP_HI;
                break;
            case LEAKY: want_y = v >= 0 ? v : LEAKY_ALPHA * v; want_d = v >= 0 ? 1 : LEAKY_ALPHA; break;
            default: {
                double r = v + 3 < 0 ? 0 : (v + 3 > 6 ? 6 : v + 3);
                want_y = v * r / 6;
                want_d = v < -3 ? 0 : (v > 3 ? 1 : (2 * v + 3) / 6);
            }
            }
            negative_seen += v < 0;
            positive_seen += v > 0;
            ck_assert_msg(fabs(graft_tensor_data_const(y)[i] - want_y) <= 1e-5 * (1 + fabs(want_y)),
                          "%s y[%d] = %g, want %g", kind_names[kinds[k]], i,
                          (double)graft_tensor_data_const(y)[i], want_y);
            ck_assert_msg(fabs(graft_tensor_data_const(dx[0])[i] - want_d * g[i]) <= 1e-5,
                          "%s dx[%d] = %g, want %g", kind_names[kinds[k]], i,
                          (double)graft_tensor_data_const(dx[0])[i], want_d * g[i]);
        }
        ck_assert_int_eq(negative_seen, 18); /* -6.3 .. -0.01: both sides are covered */
        ck_assert_int_eq(positive_seen, 17);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* leaky_relu's vector kernels on the values a branch-free form could get
 * wrong, in a block of 8 and in the tail: 0 (y = 0, dx = dy since 0 >= 0),
 * NaN (propagated to y; dx = alpha * dy), +-inf (y = inf and -inf * alpha), with a
 * negative alpha. x = {0, NaN, inf, -inf, -2, 3, 0, -1} repeated, 19 long. */
START_TEST(test_leaky_relu_special_values)
{
    graft_ctx *ctx = tu_ctx();
    enum { N = 19 };
    const float alpha = -0.25f, pattern[8] = {0.0f, NAN, INFINITY, -INFINITY, -2, 3, 0, -1};
    graft_tensor *x = tu_tensor(ctx, 2, 1, N), *dy = tu_tensor(ctx, 2, 1, N);
    float *xv = graft_tensor_data(x), *gv = graft_tensor_data(dy);
    for (int i = 0; i < N; i++) {
        xv[i] = pattern[i % 8];
        gv[i] = 0.5f + (float)i;
    }
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_leaky_relu(ctx, alpha, &l), GRAFT_OK);
    const graft_tensor *in[1] = {x}, *y = NULL, *dx[1] = {NULL};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    const float *yv = graft_tensor_data_const(y), *dv = graft_tensor_data_const(dx[0]);
    for (int i = 0; i < N; i++) {
        float v = xv[i];
        if (isnan(v)) { /* NaN >= 0 is false: the negative side's slope */
            ck_assert_msg(isnan(yv[i]) && dv[i] == alpha * gv[i], "NaN at %d: y %g dx %g", i,
                          (double)yv[i], (double)dv[i]);
            continue;
        }
        float want_y = v >= 0 ? v : alpha * v, want_d = v >= 0 ? gv[i] : alpha * gv[i];
        ck_assert_msg(yv[i] == want_y, "y[%d] = %g, want %g", i, (double)yv[i], (double)want_y);
        ck_assert_msg(dv[i] == want_d, "dx[%d] = %g, want %g", i, (double)dv[i], (double)want_d);
    }
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- the kernels against plain loops, bit for bit -------------------------- */

/* Each kind's forward value and derivative factor as the plain scalar
 * expressions of layer_activation.c; the kernels' vector blocks must give
 * the same bits. */
static float ref_fwd(int kind, float v)
{
    switch (kind) {
    case RELU: return v <= 0.0f ? 0.0f : v;
    case CLIP: v = v < CLIP_LO ? CLIP_LO : v; return v > CLIP_HI ? CLIP_HI : v;
    case LEAKY: {
        float p = v > 0.0f ? v : 0.0f, q = v > 0.0f ? 0.0f : v;
        return p + LEAKY_ALPHA * q;
    }
    case SIGMOID:
        if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
        return expf(v) / (1.0f + expf(v));
    case TANH: return tanhf(v);
    default: {
        float g = v + 3.0f;
        g = g < 0.0f ? 0.0f : g;
        g = g > 6.0f ? 6.0f : g;
        return v * g / 6.0f;
    }
    }
}

/* dx from x, y and dy */
static float ref_bwd(int kind, float v, float y, float g)
{
    switch (kind) {
    case RELU: return y <= 0.0f ? 0.0f : g;
    case CLIP: g = v >= CLIP_LO ? g : 0.0f; return v <= CLIP_HI ? g : 0.0f;
    case LEAKY: return g * (v >= 0.0f ? 1.0f : LEAKY_ALPHA);
    case SIGMOID: return g * y * (1.0f - y);
    case TANH: return g * (1.0f - y * y);
    default: {
        float d = (2.0f * v + 3.0f) / 6.0f;
        d = v < -3.0f ? 0.0f : d;
        d = v > 3.0f ? 1.0f : d;
        return g * d;
    }
    }
}

/* Every kind, out of place and (for the kinds that allow it) in place as a
 * model runs it (clip then keeps its derivative as a mask), on lengths that
 * are not multiples of 8 (1, 7, 9, 63, 100) and 8 and 64: random values in
 * [-8, 8) with, at positions that fall in blocks and in the remainder,
 * NaN, +-inf, +-0 and the kinks (clip's lo and hi, +-3); y and dx must have
 * the bits of the scalar expressions. */
START_TEST(test_activation_kernels_bit_exact)
{
    graft_ctx *ctx = tu_ctx();
    const int lengths[] = {1, 7, 8, 9, 63, 64, 100};
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, CLIP_LO, CLIP_HI,
                             -3.0f, 3.0f, -NAN};
    const int inplace_ok[N_KINDS] = {[RELU] = 1, [CLIP] = 1, [SIGMOID] = 1, [TANH] = 1};
    uint64_t seed = 700;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int n = lengths[li];
        graft_tensor *x = tu_tensor(ctx, 2, 1, n), *dy = tu_tensor(ctx, 2, 1, n);
        tu_fill_uniform(x, seed++, -8, 8);
        tu_fill_uniform(dy, seed++, -1, 1);
        float *xv = graft_tensor_data(x);
        /* specials every 5th element, so they land on every lane */
        for (int i = 0, k = 0; i < n; i += 5, k++)
            xv[i] = special[k % (int)(sizeof special / sizeof special[0])];
        float *x0 = malloc((size_t)n * sizeof(float)), *want_y = malloc((size_t)n * sizeof(float));
        float *want_dx = malloc((size_t)n * sizeof(float));
        ck_assert(x0 && want_y && want_dx);
        memcpy(x0, xv, (size_t)n * sizeof(float));
        const float *g = graft_tensor_data(dy);
        for (int kind = 0; kind < N_KINDS; kind++) {
            for (int i = 0; i < n; i++) {
                want_y[i] = ref_fwd(kind, x0[i]);
                want_dx[i] = ref_bwd(kind, x0[i], want_y[i], g[i]);
            }
            for (int inplace = 0; inplace <= inplace_ok[kind]; inplace++) {
                memcpy(xv, x0, (size_t)n * sizeof(float));
                graft_layer *l = make_kind(ctx, kind);
                const graft_tensor *in[1] = {x}, *y = NULL, *dx[1] = {NULL};
                ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
                if (inplace) {
                    ck_assert_int_eq(graftLayerForwardInPlace(l, in, &y), GRAFT_OK);
                    ck_assert_ptr_eq(graft_tensor_data_const(y), xv);
                } else {
                    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
                }
                ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
                const float *yv = graft_tensor_data_const(y), *dv = graft_tensor_data_const(dx[0]);
                for (int i = 0; i < n; i++) {
                    ck_assert_msg(memcmp(yv + i, want_y + i, sizeof(float)) == 0,
                                  "%s%s n %d: y[%d] = %a, want %a (x %a)", kind_names[kind],
                                  inplace ? " in place" : "", n, i, (double)yv[i],
                                  (double)want_y[i], (double)x0[i]);
                    ck_assert_msg(memcmp(dv + i, want_dx + i, sizeof(float)) == 0,
                                  "%s%s n %d: dx[%d] = %a, want %a (x %a)", kind_names[kind],
                                  inplace ? " in place" : "", n, i, (double)dv[i],
                                  (double)want_dx[i], (double)x0[i]);
                }
                graft_layer_free(l);
            }
        }
        free(x0);
        free(want_y);
        free(want_dx);
        graft_tensor_free(x);
        graft_tensor_free(dy);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- worker counts ---------------------------------------------------------- */

/* The first i < n where a[i] and b[i] differ in bits, or n. */
/* Forward (out of place, or in place for the kinds that allow it) and
 * backward of a fresh layer of the kind on x0 at the current thread count;
 * out receives y then dx. */
static void act_run_all(graft_ctx *ctx, int kind, int inplace, const float *x0, graft_tensor *x,
                        graft_tensor *dy, float *out)
{
    const size_t n = graft_tensor_numel(x);
    memcpy(graft_tensor_data(x), x0, n * sizeof(float));
    graft_layer *l = make_kind(ctx, kind);
    const graft_tensor *in[1] = {x}, *y = NULL, *dx[1] = {NULL};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
    if (inplace)
        ck_assert_int_eq(graftLayerForwardInPlace(l, in, &y), GRAFT_OK);
    else
        ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_msg(graft_layer_backward(l, 1, in, dy, dx) == GRAFT_OK, "%s", graft_errmsg(ctx));
    memcpy(out, graft_tensor_data_const(y), n * sizeof(float));
    memcpy(out + n, graft_tensor_data_const(dx[0]), n * sizeof(float));
    graft_layer_free(l);
}

/* Every kind, in place and not, split over 2 workers gives the bits of one
 * worker: 4 * 5 * 97 * 131 elements (not a whole number of the layer's
 * blocks), with NaN, infinities, zeros of both signs and the kinks among
 * random values. */
START_TEST(test_activation_workers_bit_identical)
{
    if (!graft_has_blas()) {
        fprintf(stderr, "note: test_activation_workers_bit_identical skipped: no BLAS, one "
                        "thread\n");
        return;
    }
    graft_ctx *ctx = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, CLIP_LO, CLIP_HI,
                             -3.0f, 3.0f, -NAN};
    const int inplace_ok[N_KINDS] = {[RELU] = 1, [CLIP] = 1, [SIGMOID] = 1, [TANH] = 1};
    graft_tensor *x = tu_tensor(ctx, 4, 4, 5, 97, 131), *dy = tu_tensor(ctx, 4, 4, 5, 97, 131);
    const size_t n = graft_tensor_numel(x);
    tu_fill_uniform(x, 801, -8, 8);
    tu_fill_uniform(dy, 802, -1, 1);
    float *x0 = malloc(n * sizeof *x0), *one = malloc(2 * n * sizeof *one);
    float *two = malloc(2 * n * sizeof *two);
    ck_assert(x0 && one && two);
    memcpy(x0, graft_tensor_data(x), n * sizeof *x0);
    for (size_t i = 0, k = 0; i < n; i += 997, k++)
        x0[i] = special[k % (sizeof special / sizeof special[0])];
    for (int kind = 0; kind < N_KINDS; kind++)
        for (int inplace = 0; inplace <= inplace_ok[kind]; inplace++) {
            ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 1), GRAFT_OK);
            act_run_all(ctx, kind, inplace, x0, x, dy, one);
            ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 2), GRAFT_OK);
            /* two floats touched per element is the least any pass counts */
            ck_assert_int_eq(graftParallelWorkers((int)(n / 4096), 2.0 * 4096), 2);
            act_run_all(ctx, kind, inplace, x0, x, dy, two);
            const size_t i = tu_first_bit_difference(one, two, 2 * n);
            ck_assert_msg(i == 2 * n, "%s%s: %s[%zu] = %a at 1 thread, %a at 2",
                          kind_names[kind], inplace ? " in place" : "", i < n ? "y" : "dx",
                          i % n, (double)one[i], (double)two[i]);
        }
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    free(x0);
    free(one);
    free(two);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- hard_sigmoid ------------------------------------------------------------ */

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
    tu_assert_close(graft_tensor_data_const(tu_forward(l, 1, &x)), want, 5, 1e-7f, 0, "hsig");
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
    tu_build(l, 1, &x);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 40);
    tu_check_roundtrip(l, 1, &x);
    const float nan = NAN, big = 2.0f;
    ck_assert_int_eq(tu_load_patched(l, 0, &nan), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): alpha is nan, must be finite");
    ck_assert_int_eq(tu_load_patched(l, 4, &big), GRAFT_OK);
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

/* ---- silu and gelu ------------------------------------------------------------ */

enum { SILU, GELU_ERF, GELU_TANH };
#define TEST_PI 3.14159265358979323846

static graft_layer *make_smooth(graft_ctx *ctx, int which)
{
    graft_layer *l = NULL;
    int st = which == SILU ? graft_layer_silu(ctx, &l)
                           : graft_layer_gelu(ctx, which == GELU_ERF ? GRAFT_GELU_ERF
                                                                     : GRAFT_GELU_TANH, &l);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_str_eq(graft_layer_kind(l), which == SILU ? "silu" : "gelu");
    return l;
}

/* f(v) and f'(v) in double, from the definitions (not graft's expressions) */
static void smooth_ref(int which, double v, double *y, double *d)
{
    if (which == SILU) {
        double s = 1.0 / (1.0 + exp(-v));
        *y = v * s;
        *d = s + v * s * (1.0 - s);
    } else if (which == GELU_ERF) {
        double cdf = 0.5 * (1.0 + erf(v / sqrt(2.0)));
        *y = v * cdf;
        *d = cdf + v * exp(-0.5 * v * v) / sqrt(2.0 * TEST_PI);
    } else {
        double k = sqrt(2.0 / TEST_PI), u = k * (v + 0.044715 * v * v * v), t = tanh(u);
        *y = 0.5 * v * (1.0 + t);
        *d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * v * v);
    }
}

/* Values and derivatives against double-precision references, over a
 * range that reaches the saturated tails (where y is x or 0). */
START_TEST(test_silu_gelu_values)
{
    enum { N = 41 };
    float x[N], want_y[N], want_d[N];
    for (int i = 0; i < N; i++) x[i] = -12.0f + 0.6f * (float)i + 0.013f;
    for (int which = SILU; which <= GELU_TANH; which++) {
        graft_ctx *ctx = tu_ctx();
        graft_layer *l = make_smooth(ctx, which);
        for (int i = 0; i < N; i++) {
            double y, d;
            smooth_ref(which, x[i], &y, &d);
            want_y[i] = (float)y;
            want_d[i] = (float)d;
        }
        check_values(l, x, N, want_y, want_d, 2e-6f);
        graft_layer_free(l);
        graft_ctx_free(ctx);
    }
}
END_TEST

/* The tanh form and silu (check_kinds.c covers the erf form): gradients
 * against finite differences, save/load keeping "approximate", a file with
 * another value refused. */
START_TEST(test_silu_gelu_gradcheck_and_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    for (int which = SILU; which <= GELU_TANH; which++) {
        graft_layer *l = make_smooth(ctx, which);
        graft_tensor *x = tu_tensor(ctx, 3, 2, 4, 5);
        tu_fill_distinct(x, 11, -4.9f, 0.25f);
        tu_build(l, 1, &x);
        ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 40);
        tu_check_roundtrip(l, 1, &x);
        if (which != SILU) {
            int64_t a = -1;
            ck_assert_int_eq(graftLayerAttrInts(l, "approximate", &a, 1), 1);
            ck_assert_int_eq(a, which == GELU_ERF ? GRAFT_GELU_ERF : GRAFT_GELU_TANH);
            const int32_t bad = 2, tanh_form = GRAFT_GELU_TANH;
            ck_assert_int_eq(tu_load_patched(l, 0, &bad), GRAFT_E_FORMAT);
            ck_assert_str_eq(graft_errmsg(ctx),
                             "graft_load(): approximate is 2, must be GRAFT_GELU_ERF (0) or "
                             "GRAFT_GELU_TANH (1)");
            ck_assert_int_eq(tu_load_patched(l, 0, &tanh_form), GRAFT_OK);
        }
        graft_tensor_free(x);
        graft_layer_free(l);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_silu_gelu_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_gelu(ctx, 2, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_gelu(): approximate is 2, must be "
                                        "GRAFT_GELU_ERF (0) or GRAFT_GELU_TANH (1)");
    ck_assert_int_eq(graft_layer_gelu(ctx, -1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_gelu(NULL, GRAFT_GELU_ERF, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_gelu(): ctx is NULL");
    ck_assert_int_eq(graft_layer_gelu(ctx, GRAFT_GELU_ERF, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_gelu(): out is NULL");
    ck_assert_int_eq(graft_layer_silu(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_silu(): ctx is NULL");
    ck_assert_int_eq(graft_layer_silu(ctx, NULL), GRAFT_E_INVALID_ARG);
    graft_ctx_free(ctx);
}
END_TEST

/* A NaN input gives NaN (value and gradient), as in PyTorch; infinities give
 * PyTorch's values: silu(inf) = inf, silu(-inf) = NaN (-inf / inf),
 * gelu(inf) = inf, gelu(-inf) = NaN (-inf * 0). */
START_TEST(test_silu_gelu_nan_and_inf)
{
    const float x[4] = {NAN, 1.0f, INFINITY, -INFINITY};
    const int64_t dims[2] = {1, 4};
    for (int which = SILU; which <= GELU_TANH; which++) {
        graft_ctx *ctx = tu_ctx();
        graft_layer *l = make_smooth(ctx, which);
        graft_tensor *xt = tu_tensor_from(ctx, 2, dims, x);
        graft_tensor *dy = tu_tensor(ctx, 2, 1, 4);
        graft_tensor_fill(dy, 1.0f);
        const graft_tensor *in[1] = {xt}, *y = NULL, *dx[1] = {NULL};
        ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
        const float *yv = graft_tensor_data_const(y);
        ck_assert_msg(isnan(yv[0]), "%d: f(NaN) = %g", which, (double)yv[0]);
        ck_assert(isfinite(yv[1]));
        ck_assert_msg(isinf(yv[2]) && yv[2] > 0, "%d: f(inf) = %g", which, (double)yv[2]);
        ck_assert_msg(isnan(yv[3]), "%d: f(-inf) = %g", which, (double)yv[3]);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
        ck_assert(isnan(graft_tensor_data_const(dx[0])[0]));
        graft_tensor_free(dy);
        graft_tensor_free(xt);
        graft_layer_free(l);
        graft_ctx_free(ctx);
    }
}
END_TEST

/* ---- NaN propagation -------------------------------------------------------- */

/* Every kind gives NaN for a NaN input, as PyTorch's activations do, on a
 * row long enough for vector blocks and a scalar tail, out of place and
 * (where allowed) in place: relu and clip keep the NaN's bits, and relu's
 * gradient passes at a NaN (PyTorch's threshold_backward: x <= 0 ? 0 : dy). */
START_TEST(test_activation_nan_propagates)
{
    graft_ctx *ctx = tu_ctx();
    enum { N = 19 };
    float x0[N];
    for (int i = 0; i < N; i++) x0[i] = (float)(i % 5) - 2.0f; /* -2 .. 2 */
    const int nan_at[] = {0, 3, 9, 17, 18};                        /* blocks and tail */
    for (size_t k = 0; k < sizeof nan_at / sizeof nan_at[0]; k++)
        x0[nan_at[k]] = k == 1 ? -NAN : NAN;
    const int inplace_ok[N_KINDS + 1] = {[RELU] = 1, [CLIP] = 1, [SIGMOID] = 1, [TANH] = 1};
    for (int kind = 0; kind <= N_KINDS; kind++) { /* N_KINDS: hard_sigmoid */
        for (int inplace = 0; inplace <= inplace_ok[kind]; inplace++) {
            graft_layer *l = NULL;
            if (kind == N_KINDS)
                ck_assert_int_eq(graft_layer_hard_sigmoid(ctx, 1.0f / 6, 0.5f, &l), GRAFT_OK);
            else
                l = make_kind(ctx, kind);
            graft_tensor *x = tu_tensor(ctx, 2, 1, N), *dy = tu_tensor(ctx, 2, 1, N);
            memcpy(graft_tensor_data(x), x0, sizeof x0);
            graft_tensor_fill(dy, 0.5f);
            const graft_tensor *in[1] = {x}, *y = NULL, *dx[1] = {NULL};
            ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
            if (inplace)
                ck_assert_int_eq(graftLayerForwardInPlace(l, in, &y), GRAFT_OK);
            else
                ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
            const float *yv = graft_tensor_data_const(y);
            const char *name = graft_layer_kind(l);
            for (int i = 0; i < N; i++) {
                ck_assert_msg(isnan(yv[i]) == isnan(x0[i]), "%s%s: y[%d] = %g for x %g", name,
                              inplace ? " in place" : "", i, (double)yv[i], (double)x0[i]);
                if (isnan(x0[i]) && (kind == RELU || kind == CLIP))
                    ck_assert_msg(memcmp(yv + i, x0 + i, sizeof(float)) == 0,
                                  "%s: y[%d] is not x's NaN", name, i);
            }
            ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
            if (kind == RELU)
                for (int i = 0; i < N; i++) {
                    const float want = isnan(x0[i]) || x0[i] > 0 ? 0.5f : 0.0f;
                    ck_assert_msg(graft_tensor_data_const(dx[0])[i] == want,
                                  "relu%s: dx[%d] = %g for x %g", inplace ? " in place" : "", i,
                                  (double)graft_tensor_data_const(dx[0])[i], (double)x0[i]);
                }
            graft_tensor_free(x);
            graft_tensor_free(dy);
            graft_layer_free(l);
        }
    }
    graft_ctx_free(ctx);
}
END_TEST

/* A model's conv2d -> batch_norm -> relu (clip, hard_swish) runs fused in inference
 * (conv_epilogue.c): a NaN pixel stays NaN through the fused clamp and the
 * max pooling after it, with the bits the unfused layers give, and only the
 * pooling windows that read it are NaN. */
START_TEST(test_fused_conv_epilogue_propagates_nan)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 0), GRAFT_OK);
    for (int use_clip = 0; use_clip <= 2; use_clip++) { /* relu, clip, hard_swish */
        const int64_t dims[3] = {2, 6, 6};
        graft_model *m = NULL;
        graft_layer *l = NULL;
        ck_assert_int_eq(graft_model_create(ctx, 3, dims, 5, &m), GRAFT_OK);
        graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
        cs.out_channels = 3;
        cs.kernel_h = cs.kernel_w = 1;
        graft_layer_conv2d(ctx, &cs, &l);
        ck_assert_int_eq(graft_model_add(m, "conv", l, 0, NULL), GRAFT_OK);
        graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l);
        ck_assert_int_eq(graft_model_add(m, "bn", l, 0, NULL), GRAFT_OK);
        if (use_clip == 2)
            graft_layer_hard_swish(ctx, &l);
        else if (use_clip)
            graft_layer_clip(ctx, 0.0f, 6.0f, &l);
        else
            graft_layer_relu(ctx, &l);
        ck_assert_int_eq(graft_model_add(m, "act", l, 0, NULL), GRAFT_OK);
        graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
        ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
        graft_layer_max_pool2d(ctx, &ps, &l);
        ck_assert_int_eq(graft_model_add(m, "pool", l, 0, NULL), GRAFT_OK);
        graft_tensor *x = tu_tensor(ctx, 4, 2, 2, 6, 6);
        tu_fill_uniform(x, 31, -1, 1);
        /* sample 1, channel 0, row 3, column 4: pooling window (1, 2) */
        graft_tensor_data(x)[((1 * 2 + 0) * 6 + 3) * 6 + 4] = NAN;
        const graft_tensor *y = NULL;
        ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
        ck_assert_int_eq(m->nodes[0].fused, 2); /* conv, bn and the clamp in one pass */
        const size_t n = graft_tensor_numel(y);
        ck_assert_uint_eq(n, 2 * 3 * 3 * 3);
        float *fused = malloc(n * sizeof *fused);
        ck_assert_ptr_nonnull(fused);
        memcpy(fused, graft_tensor_data_const(y), n * sizeof *fused);
        for (size_t i = 0; i < n; i++) {
            const int s = (int)(i / 27), r = (int)(i % 9) / 3, c = (int)(i % 3);
            const int want_nan = s == 1 && r == 1 && c == 2; /* every output channel */
            ck_assert_msg(isnan(fused[i]) == want_nan, "%s: output %zu is %g",
                          use_clip == 2 ? "hard_swish" : use_clip ? "clip" : "relu", i,
                          (double)fused[i]);
        }
        m->fusion = 0; /* the same layers one after the other */
        ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
        ck_assert_int_eq(m->nodes[0].fused, 0);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(memcmp(fused + i, graft_tensor_data_const(y) + i, sizeof(float)) == 0,
                          "%s: fused output %zu is %a, unfused %a",
                          use_clip == 2 ? "hard_swish" : use_clip ? "clip" : "relu", i,
                          (double)fused[i], (double)graft_tensor_data_const(y)[i]);
        free(fused);
        graft_tensor_free(x);
        graft_model_free(m);
    }
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_activation(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, test_relu_values);
    tcase_add_test(tc, test_clip_values);
    tcase_add_test(tc, test_leaky_relu_values);
    tcase_add_test(tc, test_sigmoid_values);
    tcase_add_test(tc, test_tanh_values);
    tcase_add_test(tc, test_hard_swish_values);
    tcase_add_test(tc, test_activation_any_rank);
    tcase_add_test(tc, test_activation_long_rows);
    tcase_add_test(tc, test_leaky_relu_special_values);
    tcase_add_test(tc, test_activation_kernels_bit_exact);
    tcase_add_test(tc, test_activation_workers_bit_identical);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_activation_gradcheck);
    tcase_add_test(tc, test_activation_backward_without_input_grads);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_activation_roundtrip);
    tcase_add_test(tc, test_activation_roundtrip_keeps_attributes);
    tcase_add_test(tc, test_activation_load_validates);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_activation_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("hard_sigmoid");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hard_sigmoid_forward);
    tcase_add_test(tc, test_hard_sigmoid_gradcheck_and_roundtrip);
    tcase_add_test(tc, test_hard_sigmoid_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("silu_gelu");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_silu_gelu_values);
    tcase_add_test(tc, test_silu_gelu_gradcheck_and_roundtrip);
    tcase_add_test(tc, test_silu_gelu_errors);
    tcase_add_test(tc, test_silu_gelu_nan_and_inf);
    suite_add_tcase(s, tc);
    tc = tcase_create("nan");
    tcase_add_test(tc, test_activation_nan_propagates);
    tcase_add_test(tc, test_fused_conv_epilogue_propagates_nan);
    suite_add_tcase(s, tc);
    return s;
}
