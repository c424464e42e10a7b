/* check_conv2d.c - the 2-D convolution layer (src/layers/layer_conv2d.c). Its
 * depthwise loops are check_conv_depthwise.c's, its Winograd transforms
 * check_conv_winograd.c's; the configuration helpers named tu_conv_* here
 * serve both (testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers (those named tu_conv_* are declared in testutil.h) ----------- */

static graft_conv2d_spec spec_of(const tu_conv_cfg *k)
{
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = k->oc;
    s.kernel_h = k->kh;
    s.kernel_w = k->kw;
    s.stride_h = k->sh;
    s.stride_w = k->sw;
    s.pad_top = k->pt;
    s.pad_left = k->pl;
    s.pad_bottom = k->pb;
    s.pad_right = k->pr;
    s.dilation_h = k->dh;
    s.dilation_w = k->dw;
    s.groups = k->groups;
    s.bias = k->bias;
    return s;
}

int tu_conv_oh(const tu_conv_cfg *k)
{
    return (k->h + k->pt + k->pb - k->dh * (k->kh - 1) - 1) / k->sh + 1;
}

int tu_conv_ow(const tu_conv_cfg *k)
{
    return (k->w + k->pl + k->pr - k->dw * (k->kw - 1) - 1) / k->sw + 1;
}

graft_tensor *tu_conv_input(graft_ctx *ctx, const tu_conv_cfg *k, uint64_t seed)
{
    graft_tensor *x = tu_tensor(ctx, 4, k->n, k->c, k->h, k->w);
    tu_fill_uniform(x, seed, -1, 1);
    return x;
}

/* A conv2d layer for cfg, built on x; the bias (when present) is set to
 * non-zero values so that tests see it. */
graft_layer *tu_conv_layer(graft_ctx *ctx, const tu_conv_cfg *k, const graft_tensor *x)
{
    graft_conv2d_spec s = spec_of(k);
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_conv2d(ctx, &s, &l) == GRAFT_OK, "%s", graft_errmsg(ctx));
    const graft_tensor *in[1] = {x};
    ck_assert_msg(graft_layer_build(l, 1, in, 11) == GRAFT_OK, "%s", graft_errmsg(ctx));
    if (k->bias) {
        graft_tensor *b = NULL;
        ck_assert_int_eq(graft_layer_param(l, 1, NULL, &b, NULL, NULL), GRAFT_OK);
        tu_fill_uniform(b, 23, -0.5f, 0.5f);
    }
    return l;
}

float *tu_conv_param(graft_layer *l, int i)
{
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_layer_param(l, i, NULL, &t, NULL, NULL), GRAFT_OK);
    return graft_tensor_data(t);
}

void tu_conv_set_param(graft_layer *l, int i, const float *v, size_t n)
{
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_layer_param(l, i, NULL, &t, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_from(t, v, n), GRAFT_OK);
}

/* A layer from a spec, built on x. */
graft_layer *tu_conv_spec_layer(graft_ctx *ctx, const graft_conv2d_spec *s,
                                const graft_tensor *x)
{
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_conv2d(ctx, s, &l) == GRAFT_OK, "%s", graft_errmsg(ctx));
    const graft_tensor *in[1] = {x};
    ck_assert_msg(graft_layer_build(l, 1, in, 3) == GRAFT_OK, "%s", graft_errmsg(ctx));
    return l;
}

const graft_tensor *tu_conv_forward(graft_layer *l, const graft_tensor *x)
{
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_msg(graft_layer_forward(l, 1, in, &y) == GRAFT_OK, "%s", graft_errmsg(l->ctx));
    return y;
}

/* The convolution written straight from its definition in graft.h, in
 * double: y (n, oc, oh, ow). */
static void ref_forward(const tu_conv_cfg *k, const float *x, const float *w, const float *b,
                        double *y)
{
    int oh = tu_conv_oh(k), ow = tu_conv_ow(k), cg = k->c / k->groups, og = k->oc / k->groups;
    for (int n = 0; n < k->n; n++)
        for (int o = 0; o < k->oc; o++)
            for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++) {
                    int g = o / og;
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < k->kh; i++)
                            for (int j = 0; j < k->kw; j++) {
                                int iy = yy * k->sh - k->pt + i * k->dh;
                                int ix = xx * k->sw - k->pl + j * k->dw;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                s += (double)w[((o * cg + c) * k->kh + i) * k->kw + j] *
                                     x[((n * k->c + g * cg + c) * k->h + iy) * k->w + ix];
                            }
                    y[((n * k->oc + o) * oh + yy) * ow + xx] = s;
                }
}

/* The gradients of sum(y * dy), from the same definition: each product
 * w * x in y contributes dy * x to dw and dy * w to dx. */
static void ref_backward(const tu_conv_cfg *k, const float *x, const float *w, const float *dy,
                         double *dx, double *dw, double *db)
{
    int oh = tu_conv_oh(k), ow = tu_conv_ow(k), cg = k->c / k->groups, og = k->oc / k->groups;
    memset(dx, 0, sizeof(double) * (size_t)k->n * k->c * k->h * k->w);
    memset(dw, 0, sizeof(double) * (size_t)k->oc * cg * k->kh * k->kw);
    memset(db, 0, sizeof(double) * (size_t)k->oc);
    for (int n = 0; n < k->n; n++)
        for (int o = 0; o < k->oc; o++)
            for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++) {
                    int g = o / og;
                    double d = dy[((n * k->oc + o) * oh + yy) * ow + xx];
                    db[o] += d;
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < k->kh; i++)
                            for (int j = 0; j < k->kw; j++) {
                                int iy = yy * k->sh - k->pt + i * k->dh;
                                int ix = xx * k->sw - k->pl + j * k->dw;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                size_t wi = (size_t)((o * cg + c) * k->kh + i) * k->kw + j;
                                size_t xi = (size_t)((n * k->c + g * cg + c) * k->h + iy) * k->w + ix;
                                dw[wi] += d * x[xi];
                                dx[xi] += d * w[wi];
                            }
                }
}

static void assert_close_double(const float *a, const double *b, size_t n, double atol,
                                double rtol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= atol + rtol * fabs(b[i]) && !isnan(a[i]),
                      "%s[%zu]: got %.8g, expected %.8g", what, i, a[i], b[i]);
}

/* Runs forward and backward of a layer for cfg and compares output, input
 * gradient and parameter gradients with ref_forward/ref_backward. */
static void check_against_reference_scaled(graft_ctx *ctx, const tu_conv_cfg *k, int scaled);

void tu_conv_check_reference(graft_ctx *ctx, const tu_conv_cfg *k)
{
    check_against_reference_scaled(ctx, k, 0);
}

/* The largest magnitude of b[0..n), at least 1. */
static double max_abs(const double *b, size_t n)
{
    double m = 1.0;
    for (size_t i = 0; i < n; i++) m = fabs(b[i]) > m ? fabs(b[i]) : m;
    return m;
}

/* As check_against_reference; with scaled, the absolute tolerance of each
 * tensor is 1e-5 times its largest magnitude (for algorithms whose rounding
 * follows the tensor's scale, not each element's). */
static void check_against_reference_scaled(graft_ctx *ctx, const tu_conv_cfg *k, int scaled)
{
    graft_tensor *x = tu_conv_input(ctx, k, 101);
    graft_layer *l = tu_conv_layer(ctx, k, x);
    const float *w = tu_conv_param(l, 0), *b = k->bias ? tu_conv_param(l, 1) : NULL;
    size_t ny = (size_t)k->n * k->oc * tu_conv_oh(k) * tu_conv_ow(k);
    size_t nx = graft_tensor_numel(x), nw = (size_t)k->oc * (k->c / k->groups) * k->kh * k->kw;
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr);
    double *dwr = malloc(nw * sizeof *dwr), *dbr = malloc((size_t)k->oc * sizeof *dbr);

    const graft_tensor *y = tu_conv_forward(l, x);
    ck_assert_int_eq(graft_tensor_dim(y, 0), k->n);
    ck_assert_int_eq(graft_tensor_dim(y, 1), k->oc);
    ck_assert_int_eq(graft_tensor_dim(y, 2), tu_conv_oh(k));
    ck_assert_int_eq(graft_tensor_dim(y, 3), tu_conv_ow(k));
    ref_forward(k, graft_tensor_data(x), w, b, yr);
    assert_close_double(graft_tensor_data_const(y), yr, ny, 1e-5 * (scaled ? max_abs(yr, ny) : 1),
                        1e-5, "output");

    graft_tensor *dy = tu_tensor(ctx, 4, k->n, k->oc, tu_conv_oh(k), tu_conv_ow(k));
    tu_fill_uniform(dy, 202, -1, 1);
    const graft_tensor *in[1] = {x}, *dx = NULL;
    ck_assert_msg(graft_layer_backward(l, 1, in, dy, &dx) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ref_backward(k, graft_tensor_data(x), w, graft_tensor_data(dy), dxr, dwr, dbr);
    assert_close_double(graft_tensor_data_const(dx), dxr, nx,
                        1e-5 * (scaled ? max_abs(dxr, nx) : 1), 1e-5, "input gradient");
    const graft_tensor *g = NULL;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &g, NULL), GRAFT_OK);
    assert_close_double(graft_tensor_data_const(g), dwr, nw,
                        1e-5 * (scaled ? max_abs(dwr, nw) : 1), 1e-5, "weight gradient");
    if (k->bias) {
        ck_assert_int_eq(graft_layer_param(l, 1, NULL, NULL, &g, NULL), GRAFT_OK);
        assert_close_double(graft_tensor_data_const(g), dbr, (size_t)k->oc, 1e-5, 1e-5,
                            "bias gradient");
    }
    free(yr);
    free(dxr);
    free(dwr);
    free(dbr);
    graft_tensor_free(dy);
    graft_layer_free(l);
    graft_tensor_free(x);
}

/* ---- forward on hand-computed values -------------------------------------- */

/* x (1, 2, 3, 3), kernel 3x3, stride 2, padding 1, 2 output channels; the
 * output is 2x2 (floor((3 + 2 - 3) / 2) + 1 = 2). */
START_TEST(test_conv2d_forward_pad_stride)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {1, 2, 3, 4, 5, 6, 7, 8, 9,     /* channel 0 */
                        1, -1, 2, 0, 3, 1, 2, 2, -2};  /* channel 1 */
    const int64_t xd[] = {1, 2, 3, 3};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 2;
    s.kernel_h = s.kernel_w = 3;
    s.stride_h = s.stride_w = 2;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    graft_layer *l = tu_conv_spec_layer(ctx, &s, x);
    /* o = 0: channel 0 all ones (window sum), channel 1 only the centre, 2.
       o = 1: channel 0 only the bottom-right tap (2, 2), channel 1 zero. */
    float w[36] = {0};
    for (int t = 0; t < 9; t++) w[t] = 1;
    w[9 + 4] = 2;
    w[18 + 8] = 1;
    const float b[] = {0.5f, -1};
    tu_conv_set_param(l, 0, w, 36);
    tu_conv_set_param(l, 1, b, 2);
    const graft_tensor *y = tu_conv_forward(l, x);
    /* Output (y, x) reads input rows 2y-1..2y+1 and columns 2x-1..2x+1.
       o = 0: (0,0) 1+2+4+5 = 12, centre x1[0][0] = 1 -> 12 + 2 + 0.5 = 14.5
              (0,1) 2+3+5+6 = 16, centre x1[0][2] = 2 -> 16 + 4 + 0.5 = 20.5
              (1,0) 4+5+7+8 = 24, centre x1[2][0] = 2 -> 24 + 4 + 0.5 = 28.5
              (1,1) 5+6+8+9 = 28, centre x1[2][2] = -2 -> 28 - 4 + 0.5 = 24.5
       o = 1: tap (2,2) reads x0[2y+1][2x+1]: only (0,0) is inside, x0[1][1] = 5,
              so 5 - 1 = 4, and the other three are the bias -1. */
    const float want[] = {14.5f, 20.5f, 28.5f, 24.5f, 4, -1, -1, -1};
    ck_assert_int_eq(graft_tensor_ndim(y), 4);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 2), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 2);
    tu_assert_close(graft_tensor_data_const(y), want, 8, 1e-5f, 0, "conv2d output");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* x (1, 2, 2, 2), kernel 2x2, pad_top 1, pad_right 1 (left and bottom 0),
 * no bias: output (floor((2+1+0-2)/1)+1, floor((2+0+1-2)/1)+1) = 2x2. */
START_TEST(test_conv2d_forward_asymmetric_padding)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {1, 2, 3, 4, 10, 20, 30, 40};
    const int64_t xd[] = {1, 2, 2, 2};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 1;
    s.kernel_h = s.kernel_w = 2;
    s.pad_top = 1;
    s.pad_right = 1;
    s.bias = 0;
    graft_layer *l = tu_conv_spec_layer(ctx, &s, x);
    /* channel 0 all ones; channel 1 only tap (0, 0). */
    const float w[] = {1, 1, 1, 1, 1, 0, 0, 0};
    tu_conv_set_param(l, 0, w, 8);
    const graft_tensor *y = tu_conv_forward(l, x);
    /* Output (y, x) reads rows y-1..y, columns x..x+1.
       (0,0): row 0 cols 0,1: 1+2 = 3; x1[-1][0] outside -> 3
       (0,1): row 0 col 1: 2;          x1[-1][1] outside -> 2
       (1,0): rows 0,1 cols 0,1: 10;   x1[0][0] = 10     -> 20
       (1,1): rows 0,1 col 1: 2+4 = 6; x1[0][1] = 20     -> 26 */
    const float want[] = {3, 2, 20, 26};
    ck_assert_int_eq(graft_tensor_dim(y, 2), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 2);
    tu_assert_close(graft_tensor_data_const(y), want, 4, 1e-5f, 0, "conv2d output");

    /* Padding on one side only changes the output size accordingly:
       pad_bottom 2 alone on H = 2 with kernel 2 gives (2+0+2-2)+1 = 3 rows. */
    graft_conv2d_spec s2 = GRAFT_CONV2D_SPEC_INIT;
    s2.out_channels = 1;
    s2.kernel_h = s2.kernel_w = 2;
    s2.pad_bottom = 2;
    graft_layer *l2 = tu_conv_spec_layer(ctx, &s2, x);
    y = tu_conv_forward(l2, x);
    ck_assert_int_eq(graft_tensor_dim(y, 2), 3);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 1);
    graft_layer_free(l2);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* x (1, 2, 4, 4), kernel 2x2 with dilation 2 (taps 2 apart, span 3): output
 * 2x2. Channel 0 holds x0[r][c] = 4r + c, channel 1 holds 0.5 everywhere. */
START_TEST(test_conv2d_forward_dilation)
{
    graft_ctx *ctx = tu_ctx();
    float xv[32];
    for (int i = 0; i < 16; i++) {
        xv[i] = (float)i;
        xv[16 + i] = 0.5f;
    }
    const int64_t xd[] = {1, 2, 4, 4};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 1;
    s.kernel_h = s.kernel_w = 2;
    s.dilation_h = s.dilation_w = 2;
    graft_layer *l = tu_conv_spec_layer(ctx, &s, x);
    const float w[] = {1, 2, 3, 4, 1, 1, 1, 1}, b[] = {0};
    tu_conv_set_param(l, 0, w, 8);
    tu_conv_set_param(l, 1, b, 1);
    const graft_tensor *y = tu_conv_forward(l, x);
    /* y = x0[y][x] + 2 x0[y][x+2] + 3 x0[y+2][x] + 4 x0[y+2][x+2] + 4 * 0.5
       (0,0): 0 + 2*2 + 3*8 + 4*10 = 68 -> 70
       (0,1): 1 + 2*3 + 3*9 + 4*11 = 78 -> 80
       (1,0): 4 + 2*6 + 3*12 + 4*14 = 108 -> 110
       (1,1): 5 + 2*7 + 3*13 + 4*15 = 118 -> 120 */
    const float want[] = {70, 80, 110, 120};
    ck_assert_int_eq(graft_tensor_dim(y, 2), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 2);
    tu_assert_close(graft_tensor_data_const(y), want, 4, 1e-5f, 0, "conv2d output");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* x (1, 4, 2, 2) holding 1..16, groups 2, kernel 2x2, 2 output channels:
 * output o reads only the input channels of its group. */
START_TEST(test_conv2d_forward_groups)
{
    graft_ctx *ctx = tu_ctx();
    float xv[16];
    for (int i = 0; i < 16; i++) xv[i] = (float)(i + 1);
    const int64_t xd[] = {1, 4, 2, 2};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 2;
    s.kernel_h = s.kernel_w = 2;
    s.groups = 2;
    graft_layer *l = tu_conv_spec_layer(ctx, &s, x);
    graft_tensor *wt = NULL;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &wt, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(wt, 1), 2); /* in_channels / groups */
    float w[16];
    for (int i = 0; i < 8; i++) {
        w[i] = 1;
        w[8 + i] = 0.5f;
    }
    const float b[] = {1, -1};
    tu_conv_set_param(l, 0, w, 16);
    tu_conv_set_param(l, 1, b, 2);
    const graft_tensor *y = tu_conv_forward(l, x);
    /* channel sums: 1+2+3+4 = 10, 5..8 = 26, 9..12 = 42, 13..16 = 58.
       o = 0 (channels 0, 1, weights 1):   10 + 26 + 1 = 37
       o = 1 (channels 2, 3, weights 0.5): (42 + 58) / 2 - 1 = 49
       (with one group both would read all 136.) */
    const float want[] = {37, 49};
    ck_assert_int_eq(graft_tensor_dim(y, 2), 1);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 1);
    tu_assert_close(graft_tensor_data_const(y), want, 2, 1e-5f, 0, "conv2d output");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Without bias there is one parameter, "weight", and the output is the bias
 * layer's output minus its bias. */
START_TEST(test_conv2d_no_bias)
{
    graft_ctx *ctx = tu_ctx();
    tu_conv_cfg k = {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    graft_tensor *x = tu_conv_input(ctx, &k, 5);
    graft_layer *lb = tu_conv_layer(ctx, &k, x);
    k.bias = 0;
    graft_layer *ln = tu_conv_layer(ctx, &k, x);
    ck_assert_int_eq(graft_layer_param_count(ln), 1);
    const char *name = NULL;
    ck_assert_int_eq(graft_layer_param(ln, 0, &name, NULL, NULL, NULL), GRAFT_OK);
    ck_assert_str_eq(name, "weight");
    ck_assert_int_eq(graft_layer_param(ln, 1, &name, NULL, NULL, NULL), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_layer_param_count(lb), 2);
    ck_assert_int_eq(graft_layer_param(lb, 1, &name, NULL, NULL, NULL), GRAFT_OK);
    ck_assert_str_eq(name, "bias");
    const float bias[] = {1, -2, 3, 0.25f};
    tu_conv_set_param(lb, 1, bias, 4);
    /* Same seed, same weights. */
    ck_assert(memcmp(tu_conv_param(lb, 0), tu_conv_param(ln, 0), 108 * sizeof(float)) == 0);
    const float *yb = graft_tensor_data_const(tu_conv_forward(lb, x));
    const float *yn = graft_tensor_data_const(tu_conv_forward(ln, x));
    for (int i = 0; i < 2 * 4 * 25; i++)
        ck_assert_float_eq_tol(yb[i] - yn[i], bias[(i / 25) % 4], 1e-5f);
    tu_conv_check_reference(ctx, &k);
    graft_layer_free(lb);
    graft_layer_free(ln);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* The 1x1 fast path (stride 1, no padding: the input is the GEMM operand)
 * against the general path with the same weights: stride 2 keeps every
 * other row and column; padding 1 adds a border holding the bias. The input
 * has 24x22 = 528 positions per image, so each image is one product and
 * the fast path applies to the batch of 2; the strided output (12x11) takes
 * the several-images-per-product path, the padded one (26x24) one image per
 * product with im2col. */
START_TEST(test_conv2d_pointwise_matches_general_path)
{
    enum { N = 2, C = 3, H = 24, W = 22, O = 4, SH = 12, SW = 11, PH = 26, PW = 24 };
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, N, C, H, W);
    tu_fill_uniform(x, 8, -1, 1);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = O;
    graft_layer *fast = tu_conv_spec_layer(ctx, &s, x);
    const float bias[O] = {0.5f, -0.25f, 1, 2};
    tu_conv_set_param(fast, 1, bias, O);
    s.stride_h = s.stride_w = 2;
    graft_layer *strided = tu_conv_spec_layer(ctx, &s, x);
    s.stride_h = s.stride_w = 1;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    graft_layer *padded = tu_conv_spec_layer(ctx, &s, x);
    const float *w = tu_conv_param(fast, 0);
    tu_conv_set_param(strided, 0, w, O * C);
    tu_conv_set_param(padded, 0, w, O * C);
    tu_conv_set_param(strided, 1, bias, O);
    tu_conv_set_param(padded, 1, bias, O);

    const float *yf = graft_tensor_data_const(tu_conv_forward(fast, x));
    const graft_tensor *ys = tu_conv_forward(strided, x), *yp = tu_conv_forward(padded, x);
    ck_assert_int_eq(graft_tensor_dim(ys, 2), SH); /* floor((24 - 1) / 2) + 1 */
    ck_assert_int_eq(graft_tensor_dim(ys, 3), SW); /* floor((22 - 1) / 2) + 1 */
    ck_assert_int_eq(graft_tensor_dim(yp, 2), PH);
    ck_assert_int_eq(graft_tensor_dim(yp, 3), PW);
    const float *sd = graft_tensor_data_const(ys), *pd = graft_tensor_data_const(yp);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            const float *f = yf + (n * O + o) * H * W;
            for (int r = 0; r < SH; r++)
                for (int c = 0; c < SW; c++)
                    ck_assert_float_eq_tol(sd[((n * O + o) * SH + r) * SW + c],
                                           f[2 * r * W + 2 * c], 1e-6f);
            for (int r = 0; r < PH; r++)
                for (int c = 0; c < PW; c++) {
                    float want = (r == 0 || r == PH - 1 || c == 0 || c == PW - 1)
                                     ? bias[o]
                                     : f[(r - 1) * W + (c - 1)];
                    ck_assert_float_eq_tol(pd[((n * O + o) * PH + r) * PW + c], want, 1e-6f);
                }
        }
    /* And the fast path itself against the definition: a batch of 2 with
       large images, one image with small ones, and grouped. */
    tu_conv_cfg k = {N, C, H, W, O, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    tu_conv_check_reference(ctx, &k);
    const tu_conv_cfg one = {1, 3, 4, 5, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    tu_conv_check_reference(ctx, &one);
    k.groups = 3;
    k.c = 6;
    k.oc = 9;
    tu_conv_check_reference(ctx, &k);
    graft_layer_free(fast);
    graft_layer_free(strided);
    graft_layer_free(padded);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Forward and backward against the definition over configurations covering
 * every path: GEMM with im2col (one image per product, and several side by
 * side when images are small, with a partial last group of images), grouped
 * GEMM, 1x1 in place, direct depthwise loops (with channel multipliers and
 * strides), a one-channel input, large padding and kernels wider than the
 * input. */
START_TEST(test_conv2d_matches_definition)
{
    graft_ctx *ctx = tu_ctx();
    /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
    const tu_conv_cfg cfgs[] = {
        {2, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 3, 7, 6, 5, 3, 2, 2, 3, 1, 0, 2, 1, 1, 1, 1, 1},
        {1, 2, 9, 8, 3, 3, 3, 1, 2, 2, 1, 0, 3, 2, 3, 1, 0},
        {2, 6, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1},
        {2, 6, 6, 7, 6, 2, 3, 2, 1, 0, 1, 1, 0, 1, 2, 3, 1},
        {2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1},
        {2, 4, 7, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 4, 0},
        {1, 3, 7, 7, 6, 3, 2, 2, 1, 0, 2, 1, 1, 2, 1, 3, 1},
        {2, 1, 6, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 1, 7, 6, 8, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1}, /* one channel, many outputs */
        {1, 2, 5, 5, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1}, /* 5 outputs per channel */
        {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1},
        {1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2, 1},
        {1, 3, 2, 2, 2, 1, 1, 3, 3, 4, 4, 4, 4, 1, 1, 1, 1},
        {3, 8, 5, 4, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0},
        /* taps that lie wholly below or right of the input for every output */
        {1, 2, 2, 3, 2, 5, 3, 1, 1, 0, 0, 4, 0, 1, 1, 1, 1},
        {1, 2, 3, 2, 2, 3, 5, 1, 1, 0, 0, 0, 5, 1, 1, 2, 1},
        {1, 2, 2, 2, 3, 3, 3, 2, 2, 0, 0, 5, 5, 2, 2, 1, 1},
        {1, 2, 2, 3, 2, 2, 1, 1, 1, 0, 0, 5, 0, 5, 1, 1, 1},
        {1, 2, 3, 2, 2, 1, 2, 1, 1, 0, 0, 0, 5, 1, 5, 2, 1},
        /* ... and wholly above or left of it */
        {1, 2, 1, 3, 2, 3, 1, 1, 1, 4, 0, 0, 0, 1, 1, 1, 1},
        {1, 2, 3, 1, 2, 1, 3, 1, 1, 0, 4, 0, 0, 1, 1, 2, 1},
        /* depthwise rows wide enough for whole kernel rows in one pass, with
           3, 4 and 5 taps per row, dilation and widths not a multiple of 8 */
        {2, 3, 5, 21, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1},
        {1, 2, 4, 19, 4, 2, 4, 1, 1, 0, 2, 1, 1, 1, 2, 2, 1},
        {1, 2, 3, 30, 2, 1, 5, 1, 1, 0, 0, 0, 3, 1, 3, 2, 0},
        {2, 2, 5, 17, 4, 3, 3, 2, 2, 1, 2, 1, 2, 2, 2, 2, 1}, /* strided and dilated */
        {1, 2, 4, 12, 2, 3, 3, 1, 1, 1, 0, 1, 3, 1, 1, 2, 1}, /* right padding > kernel span */
        /* 16x16 = 256 positions: 2 images per product, batch 3 -> 2 + 1 */
        {3, 3, 16, 16, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {5, 4, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0},
        /* depthwise layers large enough to be split over threads by input
           channel (when the BLAS has 2 or more): 3x3 kernels, and 5x5 ones
           with two outputs per channel */
        {2, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 64, 1},
        {2, 32, 32, 32, 64, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 32, 1},
        {2, 64, 32, 32, 128, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 64, 0},
        /* 23x25 = 575 positions: one image per product */
        {2, 2, 23, 25, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 4, 24, 24, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) tu_conv_check_reference(ctx, &cfgs[i]);
    /* 1x1 kernels with a single stride or padding attribute set: only all
       at their defaults may take the in-place path. */
    for (int v = 0; v < 6; v++) {
        tu_conv_cfg k = {2, 3, 4, 5, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
        int *field[] = {&k.sh, &k.sw, &k.pt, &k.pl, &k.pb, &k.pr};
        *field[v] += 1;
        tu_conv_check_reference(ctx, &k);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Winograd's algorithm (stride 1, one group, 3x3 and 5x5) against the
 * definition: odd sizes (partial edge tiles), no, symmetric, asymmetric and
 * oversized padding, an input smaller than the kernel, few channels, and a
 * batch of 675 tiles (two chunks, the second partial). GRAFT_CTX_WINOGRAD = 2
 * takes the small cases; the last runs at the default setting. Each case
 * also runs with GRAFT_CTX_WINOGRAD = 0, whose output must differ in some
 * bits, which shows that the Winograd path ran. */
START_TEST(test_conv2d_winograd_matches_definition)
{
    graft_ctx *ctx = tu_ctx();
    /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
    const tu_conv_cfg cfgs[] = {
        {2, 16, 9, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 16, 8, 8, 20, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0},
        {2, 17, 7, 6, 16, 3, 3, 1, 1, 2, 0, 1, 3, 1, 1, 1, 1},
        {2, 16, 14, 13, 18, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1},
        {1, 16, 3, 4, 16, 5, 5, 1, 1, 0, 1, 4, 3, 1, 1, 1, 1},
        {1, 16, 2, 2, 16, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, 0},
        {2, 3, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {3, 16, 60, 60, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    };
    const size_t n_cfgs = sizeof cfgs / sizeof cfgs[0];
    for (size_t i = 0; i < n_cfgs; i++) {
        const tu_conv_cfg *k = &cfgs[i];
        const int mode = i + 1 < n_cfgs ? 2 : 1;
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, mode), GRAFT_OK);
        check_against_reference_scaled(ctx, k, 1);
        graft_tensor *x = tu_conv_input(ctx, k, 5);
        graft_layer *l = tu_conv_layer(ctx, k, x);
        size_t ny = (size_t)k->n * k->oc * tu_conv_oh(k) * tu_conv_ow(k);
        float *wino = malloc(ny * sizeof *wino);
        memcpy(wino, graft_tensor_data_const(tu_conv_forward(l, x)), ny * sizeof *wino);
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, 0), GRAFT_OK);
        const float *direct = graft_tensor_data_const(tu_conv_forward(l, x));
        int differ = 0;
        float scale = 1.0f;
        for (size_t q = 0; q < ny; q++) {
            differ |= wino[q] != direct[q];
            scale = fabsf(direct[q]) > scale ? fabsf(direct[q]) : scale;
        }
        ck_assert_msg(differ, "case %zu: Winograd output equals the direct sum bit for bit", i);
        tu_assert_close(wino, direct, ny, 1e-5f * scale, 1e-5f, "Winograd against direct");
        free(wino);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* He-uniform init: |w| <= sqrt(6 / fan_in), fan_in = C/groups*kh*kw;
 * bias zero; the same seed gives the same weights, another seed others. */
START_TEST(test_conv2d_init_is_he_uniform_and_seeded)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 1, 8, 6, 6);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 64;
    s.kernel_h = 3;
    s.kernel_w = 5;
    s.pad_left = s.pad_right = 2;
    s.groups = 2;
    graft_layer *a = NULL, *b = NULL, *c = NULL;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &a), GRAFT_OK);
    ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &b), GRAFT_OK);
    ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &c), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(a), "conv2d");
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(a, 1, in, 42), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(b, 1, in, 42), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(c, 1, in, 43), GRAFT_OK);
    graft_tensor *wa = NULL, *ba = NULL;
    ck_assert_int_eq(graft_layer_param(a, 0, NULL, &wa, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(a, 1, NULL, &ba, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_ndim(wa), 4);
    ck_assert_int_eq(graft_tensor_dim(wa, 0), 64);
    ck_assert_int_eq(graft_tensor_dim(wa, 1), 4);
    ck_assert_int_eq(graft_tensor_dim(wa, 2), 3);
    ck_assert_int_eq(graft_tensor_dim(wa, 3), 5);
    ck_assert_int_eq(graft_tensor_ndim(ba), 1);
    ck_assert_int_eq(graft_tensor_dim(ba, 0), 64);
    float bound = sqrtf(6.0f / 60.0f), maxabs = 0; /* fan_in = 8/2 * 3 * 5 = 60 */
    double mean = 0;
    int differ = 0;
    const float *pa = tu_conv_param(a, 0), *pb = tu_conv_param(b, 0), *pc = tu_conv_param(c, 0);
    size_t nw = graft_tensor_numel(wa);
    ck_assert_uint_eq(nw, 3840);
    for (size_t i = 0; i < nw; i++) {
        ck_assert_float_eq(pa[i], pb[i]);
        differ += pa[i] != pc[i];
        if (fabsf(pa[i]) > maxabs) maxabs = fabsf(pa[i]);
        mean += pa[i];
    }
    mean /= (double)nw;
    ck_assert(maxabs <= bound && maxabs > 0.95f * bound);
    ck_assert(fabs(mean) < 0.02);
    ck_assert_int_gt(differ, (int)nw / 2);
    for (int i = 0; i < 64; i++) ck_assert_float_eq(graft_tensor_data(ba)[i], 0.0f);
    graft_layer_free(a);
    graft_layer_free(b);
    graft_layer_free(c);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- gradients ------------------------------------------------------------ */

static void gradcheck_cfg_winograd(const tu_conv_cfg *k, int winograd)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, winograd), GRAFT_OK);
    graft_tensor *x = tu_conv_input(ctx, k, 31);
    graft_layer *l = tu_conv_layer(ctx, k, x);
    size_t want = graft_tensor_numel(x) +
                  (size_t)k->oc * (k->c / k->groups) * k->kh * k->kw + (k->bias ? (size_t)k->oc : 0);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), want);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}

void tu_conv_gradcheck(const tu_conv_cfg *k) { gradcheck_cfg_winograd(k, 1); }

/* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
START_TEST(test_conv2d_gradcheck_3x3)
{
    const tu_conv_cfg k = {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    tu_conv_gradcheck(&k); /* 150 + 108 + 4 elements */
}
END_TEST

/* Winograd path: the gradients are the transforms' exact adjoints. */
START_TEST(test_conv2d_gradcheck_winograd)
{
    const tu_conv_cfg k3 = {2, 4, 9, 6, 3, 3, 3, 1, 1, 1, 1, 0, 2, 1, 1, 1, 1};
    gradcheck_cfg_winograd(&k3, 2);
    const tu_conv_cfg k5 = {1, 3, 4, 5, 4, 5, 5, 1, 1, 2, 1, 2, 3, 1, 1, 1, 0};
    gradcheck_cfg_winograd(&k5, 2);
}
END_TEST

START_TEST(test_conv2d_gradcheck_stride2_asymmetric_pad)
{
    const tu_conv_cfg k = {2, 2, 5, 6, 3, 3, 2, 2, 2, 1, 0, 2, 1, 1, 1, 1, 1};
    tu_conv_gradcheck(&k);
}
END_TEST

START_TEST(test_conv2d_gradcheck_dilation2)
{
    const tu_conv_cfg k = {1, 2, 6, 6, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1};
    tu_conv_gradcheck(&k);
}
END_TEST

START_TEST(test_conv2d_gradcheck_groups2)
{
    const tu_conv_cfg k = {2, 4, 4, 4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1};
    tu_conv_gradcheck(&k);
}
END_TEST

START_TEST(test_conv2d_gradcheck_1x1)
{
    /* one image: the input is the product's operand */
    const tu_conv_cfg k = {1, 3, 3, 4, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    tu_conv_gradcheck(&k);
    /* two small images: copied side by side into one product */
    const tu_conv_cfg k2 = {2, 3, 3, 4, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    tu_conv_gradcheck(&k2);
}
END_TEST

START_TEST(test_conv2d_gradcheck_no_bias)
{
    const tu_conv_cfg k = {1, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    tu_conv_gradcheck(&k);
    const tu_conv_cfg d = {1, 3, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 0}; /* depthwise */
    tu_conv_gradcheck(&d);
}
END_TEST

/* With need_param_grad 0 the parameter gradients are left alone and the
 * input gradient is unchanged; without input_grads the parameter gradients
 * are the same as with them. Checked on the GEMM, 1x1, 3x3 depthwise (strides 1 and 2, multiplier 1
 * and 2) and generic depthwise paths. */
START_TEST(test_conv2d_backward_skips)
{
    const tu_conv_cfg cfgs[] = {
        {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 3, 5, 5, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1},
        {1, 3, 5, 5, 4, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1},
        {2, 3, 24, 24, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {2, 3, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1},
        {2, 3, 7, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 1},  /* depthwise 3x3/2 */
        {2, 2, 6, 7, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1},  /* multiplier 2 */
        {2, 3, 5, 5, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 3, 1},  /* depthwise 5x5 */
    };
    graft_ctx *ctx = tu_ctx();
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const tu_conv_cfg *k = &cfgs[c];
        graft_tensor *x = tu_conv_input(ctx, k, 77);
        graft_layer *l = tu_conv_layer(ctx, k, x);
        graft_tensor *dy = tu_tensor(ctx, 4, k->n, k->oc, tu_conv_oh(k), tu_conv_ow(k));
        tu_fill_uniform(dy, 78, -1, 1);
        const graft_tensor *in[1] = {x}, *dx = NULL, *gw = NULL, *gb = NULL;
        ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &gw, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_layer_param(l, 1, NULL, NULL, &gb, NULL), GRAFT_OK);
        size_t nx = graft_tensor_numel(x), nw = graft_tensor_numel(gw);
        float *dx_full = malloc(nx * sizeof(float)), *dw_full = malloc(nw * sizeof(float));
        float db_full[4];

        tu_conv_forward(l, x);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, &dx), GRAFT_OK);
        memcpy(dx_full, graft_tensor_data_const(dx), nx * sizeof(float));
        memcpy(dw_full, graft_tensor_data_const(gw), nw * sizeof(float));
        memcpy(db_full, graft_tensor_data_const(gb), (size_t)k->oc * sizeof(float));

        /* Parameter gradients only. */
        graft_tensor_fill((graft_tensor *)gw, 0);
        graft_tensor_fill((graft_tensor *)gb, 0);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, NULL), GRAFT_OK);
        ck_assert(memcmp(dw_full, graft_tensor_data_const(gw), nw * sizeof(float)) == 0);
        ck_assert(memcmp(db_full, graft_tensor_data_const(gb), (size_t)k->oc * sizeof(float)) == 0);

        /* Input gradient only: parameter gradients untouched. */
        l->need_param_grad = 0;
        graft_tensor_fill((graft_tensor *)gw, 1234.5f);
        graft_tensor_fill((graft_tensor *)gb, 1234.5f);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, &dx), GRAFT_OK);
        ck_assert(memcmp(dx_full, graft_tensor_data_const(dx), nx * sizeof(float)) == 0);
        for (size_t i = 0; i < nw; i++) ck_assert_float_eq(graft_tensor_data_const(gw)[i], 1234.5f);
        for (int i = 0; i < k->oc; i++) ck_assert_float_eq(graft_tensor_data_const(gb)[i], 1234.5f);
        /* Neither: nothing to do, still succeeds. */
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, NULL), GRAFT_OK);
        for (size_t i = 0; i < nw; i++) ck_assert_float_eq(graft_tensor_data_const(gw)[i], 1234.5f);

        free(dx_full);
        free(dw_full);
        graft_tensor_free(dy);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Backward overwrites (does not accumulate) across calls, also when the
 * batch size changes between calls. */
START_TEST(test_conv2d_backward_overwrites)
{
    graft_ctx *ctx = tu_ctx();
    const tu_conv_cfg cfgs[] = {
        {3, 3, 5, 5, 4, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1, 1, 1},
        {3, 3, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1},
        {3, 3, 6, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 1},
        {3, 2, 6, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1},
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        tu_conv_cfg k = cfgs[c];
        for (int rep = 0; rep < 2; rep++) tu_conv_check_reference(ctx, &k);
        /* One layer, batch 3 then 1 then 2, each against the definition. */
        graft_tensor *x3 = tu_conv_input(ctx, &k, 101);
        graft_layer *l = tu_conv_layer(ctx, &k, x3);
        const int batches[] = {3, 1, 2};
        for (int b = 0; b < 3; b++) {
            tu_conv_cfg kb = k;
            kb.n = batches[b];
            graft_tensor *x = tu_conv_input(ctx, &kb, 500 + (uint64_t)b);
            const float *w = tu_conv_param(l, 0), *bias = tu_conv_param(l, 1);
            size_t ny = (size_t)kb.n * kb.oc * tu_conv_oh(&kb) * tu_conv_ow(&kb);
            double *yr = malloc(ny * sizeof *yr);
            ref_forward(&kb, graft_tensor_data(x), w, bias, yr);
            assert_close_double(graft_tensor_data_const(tu_conv_forward(l, x)), yr, ny, 1e-5, 1e-5,
                                "output");
            graft_tensor *dy = tu_tensor(ctx, 4, kb.n, kb.oc, tu_conv_oh(&kb), tu_conv_ow(&kb));
            tu_fill_uniform(dy, 600 + (uint64_t)b, -1, 1);
            size_t nx = graft_tensor_numel(x), nw = graft_tensor_numel(l->params[0].value);
            double *dxr = malloc(nx * sizeof *dxr), *dwr = malloc(nw * sizeof *dwr), dbr[4];
            ref_backward(&kb, graft_tensor_data(x), w, graft_tensor_data(dy), dxr, dwr, dbr);
            const graft_tensor *in[1] = {x}, *dx = NULL;
            ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, &dx), GRAFT_OK);
            assert_close_double(graft_tensor_data_const(dx), dxr, nx, 1e-5, 1e-5, "input gradient");
            assert_close_double(l->params[0].grad->data, dwr, nw, 1e-5, 1e-5, "weight gradient");
            assert_close_double(l->params[1].grad->data, dbr, (size_t)kb.oc, 1e-5, 1e-5,
                                "bias gradient");
            free(yr);
            free(dxr);
            free(dwr);
            graft_tensor_free(dy);
            graft_tensor_free(x);
        }
        graft_layer_free(l);
        graft_tensor_free(x3);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_conv2d_blas_vs_reference)
{
    graft_ctx *ctx = tu_ctx();
    /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
    const tu_conv_cfg cfgs[] = {
        {3, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* im2col + GEMM */
        {2, 8, 9, 10, 12, 3, 3, 2, 2, 0, 1, 2, 1, 2, 1, 4, 1}, /* grouped, strided, dilated */
        {3, 16, 7, 7, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0}, /* 1x1, images side by side */
        {5, 4, 13, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, /* 4 + 1 images per product */
        {2, 4, 24, 24, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, /* one image per product */
        {2, 8, 24, 24, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, /* 1x1 in place */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        graft_tensor *x = tu_conv_input(ctx, &cfgs[i], 55);
        /* small inputs keep the weight gradients' sums over up to 1152
           positions, and their rounding, well inside the 1e-5 absolute tolerance */
        tu_fill_uniform(x, 55, -0.1f, 0.1f);
        graft_layer *l = tu_conv_layer(ctx, &cfgs[i], x);
        tu_check_blas_vs_reference(l, 1, &x, 1e-4f);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- workspace and allocation ---------------------------------------------- */

typedef struct count_alloc {
    long allocs;
    long fail_at; /* the allocation with this index fails; < 0: never */
} count_alloc;

static void *counting_alloc(void *opaque, size_t size)
{
    count_alloc *c = opaque;
    if (c->fail_at >= 0 && c->allocs >= c->fail_at) return NULL;
    c->allocs++;
    return malloc(size);
}

static void counting_free(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

static graft_ctx *counting_ctx(count_alloc *c)
{
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = counting_alloc;
    a.free = counting_free;
    a.opaque = c;
    c->allocs = 0;
    c->fail_at = -1;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    return ctx;
}

/* After the first forward and backward, steady training allocates nothing,
 * nor does a smaller batch. The first pass allocates the output and the
 * input gradient, plus one workspace on the matrix-product paths that copy
 * columns and on the 3x3 depthwise path (phase planes), and no workspace
 * for the generic depthwise loops (here 5x5) or the in-place 1x1 path. A
 * rebuild with a larger input grows the workspace and still computes the
 * convolution. */
START_TEST(test_conv2d_no_allocation_in_steady_state)
{
    count_alloc ca;
    graft_ctx *ctx = NULL;
    const tu_conv_cfg cfgs[] = {
        {4, 3, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},    /* images side by side */
        {4, 3, 24, 24, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* one image per product */
        {4, 3, 24, 24, 6, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1},  /* 1x1 in place */
        {4, 3, 8, 8, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 3, 1},    /* depthwise 5x5 */
        {4, 3, 8, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1},    /* depthwise 3x3 */
        {4, 3, 9, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 1},    /* depthwise 3x3/2 */
        {4, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* Winograd */
    };
    long first[7];
    for (size_t c = 0; c < 7; c++) {
        const tu_conv_cfg *k = &cfgs[c];
        ctx = counting_ctx(&ca);
        if (c == 6) ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, 2), GRAFT_OK);
        graft_tensor *x = tu_conv_input(ctx, k, 1);
        graft_tensor *x2 = tu_tensor(ctx, 4, 2, k->c, k->h, k->w);
        graft_tensor *dy = tu_tensor(ctx, 4, k->n, k->oc, tu_conv_oh(k), tu_conv_ow(k));
        graft_tensor *dy2 = tu_tensor(ctx, 4, 2, k->oc, tu_conv_oh(k), tu_conv_ow(k));
        graft_layer *l = tu_conv_layer(ctx, k, x);
        const graft_tensor *in[1] = {x}, *in2[1] = {x2}, *dx = NULL;
        long mark = ca.allocs;
        tu_conv_forward(l, x);
        ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, &dx), GRAFT_OK);
        first[c] = ca.allocs - mark;
        long before = ca.allocs;
        for (int rep = 0; rep < 3; rep++) {
            tu_conv_forward(l, x);
            ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, &dx), GRAFT_OK);
        }
        tu_conv_forward(l, x2);
        ck_assert_int_eq(graft_layer_backward(l, 1, in2, dy2, &dx), GRAFT_OK);
        ck_assert_int_eq(ca.allocs, before);
        graft_layer_free(l);
        graft_tensor_free(x);
        graft_tensor_free(x2);
        graft_tensor_free(dy);
        graft_tensor_free(dy2);
        graft_ctx_free(ctx);
    }
    ck_assert_int_eq(first[2], first[3]);
    ck_assert_int_eq(first[0], first[3] + 1);
    ck_assert_int_eq(first[1], first[3] + 1);
    ck_assert_int_eq(first[4], first[3] + 1);
    ck_assert_int_eq(first[5], first[3] + 1);
    ck_assert_int_eq(first[6], first[3] + 2); /* forward's buffer, then backward's larger one */
    /* Rebuild on a larger input: the workspace grows, results stay right. */
    ctx = counting_ctx(&ca);
    tu_conv_cfg k = {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    graft_tensor *x = tu_conv_input(ctx, &k, 2);
    graft_layer *l = tu_conv_layer(ctx, &k, x);
    tu_conv_forward(l, x);
    k.h = 11;
    k.w = 9;
    graft_tensor *big = tu_conv_input(ctx, &k, 3);
    const graft_tensor *in[1] = {big};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 5), GRAFT_OK);
    const float *yb = graft_tensor_data_const(tu_conv_forward(l, big));
    size_t ny = (size_t)2 * 4 * 11 * 9;
    double *yr = malloc(ny * sizeof *yr);
    ref_forward(&k, graft_tensor_data(big), tu_conv_param(l, 0), tu_conv_param(l, 1), yr);
    assert_close_double(yb, yr, ny, 1e-5, 1e-5, "output after rebuild");
    free(yr);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(big);
    graft_ctx_free(ctx);
}
END_TEST

/* Every allocation failure during build, forward and backward returns
 * GRAFT_E_NOMEM (and leaks nothing, as valgrind checks); with enough memory
 * the same sequence succeeds. */
START_TEST(test_conv2d_out_of_memory)
{
    count_alloc ca;
    graft_ctx *ctx = counting_ctx(&ca);
    const tu_conv_cfg k = {2, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    graft_tensor *x = tu_conv_input(ctx, &k, 1);
    graft_tensor *dy = tu_tensor(ctx, 4, 2, 4, 6, 6);
    graft_conv2d_spec s = spec_of(&k);
    int failures = 0;
    for (long budget = 0;; budget++) {
        graft_layer *l = NULL;
        ca.fail_at = ca.allocs + budget;
        int st = graft_layer_conv2d(ctx, &s, &l);
        const graft_tensor *in[1] = {x}, *y = NULL, *dx = NULL;
        if (st == GRAFT_OK) st = graft_layer_build(l, 1, in, 1);
        if (st == GRAFT_OK) st = graft_layer_forward(l, 1, in, &y);
        if (st == GRAFT_OK) st = graft_layer_backward(l, 1, in, dy, &dx);
        ca.fail_at = -1;
        graft_layer_free(l);
        if (st == GRAFT_OK) break;
        ck_assert_msg(st == GRAFT_E_NOMEM, "budget %ld: status %d (%s)", budget, st,
                      graft_errmsg(ctx));
        failures++;
        ck_assert_int_lt(budget, 100);
    }
    ck_assert_int_ge(failures, 5); /* layer, state, params, output, workspace, ... */
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- serialisation -------------------------------------------------------- */

START_TEST(test_conv2d_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
    const tu_conv_cfg cfgs[] = {
        {2, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
        {1, 4, 7, 6, 6, 3, 2, 2, 1, 1, 0, 2, 1, 2, 1, 2, 0},
        {1, 3, 5, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        graft_tensor *x = tu_conv_input(ctx, &cfgs[i], 9);
        graft_layer *l = tu_conv_layer(ctx, &cfgs[i], x);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Saved attributes follow the kind name (u32 length + "conv2d") and the
 * version (u32): 13 int32 from offset 14, in spec order. Out-of-range
 * values there fail to load with GRAFT_E_FORMAT, naming the attribute. */
START_TEST(test_conv2d_load_rejects_bad_attributes)
{
    graft_ctx *ctx = tu_ctx();
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 4;
    s.kernel_h = 3;
    s.groups = 2;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &l), GRAFT_OK);
    graftWriter w;
    graftWriterInit(&w, ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    ck_assert_uint_eq(w.size, 14 + 13 * 4 + 4); /* + the "not built" flag */
    struct {
        int field;
        int32_t value;
        const char *msg;
    } cases[] = {
        {0, 0, "graft_load(): out_channels is 0, must be >= 1"},
        {1, 0, "graft_load(): kernel_h is 0, must be >= 1"},
        {3, -2, "graft_load(): stride_h is -2, must be >= 1"},
        {7, -1, "graft_load(): pad_bottom is -1, must be >= 0"},
        {10, 0, "graft_load(): dilation_w is 0, must be >= 1"},
        {11, 3, "graft_load(): out_channels 4 is not divisible by groups 3"},
        {12, 2, "graft_load(): bias is 2, must be 0 or 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *bytes = malloc(w.size);
        memcpy(bytes, w.data, w.size);
        uint32_t v = (uint32_t)cases[i].value;
        for (int b = 0; b < 4; b++) bytes[14 + 4 * cases[i].field + b] = (unsigned char)(v >> (8 * b));
        graftReader r;
        graftReaderInit(&r, ctx, bytes, w.size);
        graft_layer *bad = (graft_layer *)1;
        ck_assert_int_eq(graftLayerLoad(ctx, &r, &bad), GRAFT_E_FORMAT);
        ck_assert_ptr_null(bad);
        ck_assert_str_eq(graft_errmsg(ctx), cases[i].msg);
        free(bytes);
    }
    /* The unchanged bytes load, with the attributes intact. */
    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    graft_layer *copy = NULL;
    ck_assert_int_eq(graftLayerLoad(ctx, &r, &copy), GRAFT_OK);
    graftWriter w2;
    graftWriterInit(&w2, ctx);
    ck_assert_int_eq(graftLayerSave(copy, &w2), GRAFT_OK);
    ck_assert_uint_eq(w2.size, w.size);
    ck_assert(memcmp(w2.data, w.data, w.size) == 0);
    graftWriterDispose(&w2);
    graft_layer_free(copy);
    graftWriterDispose(&w);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

START_TEST(test_conv2d_bad_spec)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    graft_conv2d_spec good = GRAFT_CONV2D_SPEC_INIT;
    good.out_channels = 4;
    good.kernel_h = good.kernel_w = 3;

    ck_assert_int_eq(graft_layer_conv2d(NULL, &good, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_conv2d(): ctx is NULL");
    ck_assert_int_eq(graft_layer_conv2d(ctx, NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_conv2d(): spec is NULL");
    ck_assert_int_eq(graft_layer_conv2d(ctx, &good, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_conv2d(): out is NULL");

    /* struct_size other than sizeof(graft_conv2d_spec): GRAFT_E_VERSION. */
    const uint32_t sizes[] = {0, (uint32_t)sizeof(graft_conv2d_spec) - 4,
                              (uint32_t)sizeof(graft_conv2d_spec) + 4};
    for (int i = 0; i < 3; i++) {
        graft_conv2d_spec s = good;
        s.struct_size = sizes[i];
        l = (graft_layer *)1;
        ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &l), GRAFT_E_VERSION);
        ck_assert_ptr_null(l);
        ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "struct_size"));
    }

    /* Each attribute out of range, named in the message. */
    struct {
        size_t offset;
        int value;
        const char *msg;
    } cases[] = {
        {offsetof(graft_conv2d_spec, out_channels), 0, "out_channels is 0, must be >= 1"},
        {offsetof(graft_conv2d_spec, kernel_h), 0, "kernel_h is 0, must be >= 1"},
        {offsetof(graft_conv2d_spec, kernel_w), -1, "kernel_w is -1, must be >= 1"},
        {offsetof(graft_conv2d_spec, stride_h), 0, "stride_h is 0, must be >= 1"},
        {offsetof(graft_conv2d_spec, stride_w), -3, "stride_w is -3, must be >= 1"},
        {offsetof(graft_conv2d_spec, pad_top), -1, "pad_top is -1, must be >= 0"},
        {offsetof(graft_conv2d_spec, pad_left), -2, "pad_left is -2, must be >= 0"},
        {offsetof(graft_conv2d_spec, pad_bottom), -1, "pad_bottom is -1, must be >= 0"},
        {offsetof(graft_conv2d_spec, pad_right), -5, "pad_right is -5, must be >= 0"},
        {offsetof(graft_conv2d_spec, dilation_h), 0, "dilation_h is 0, must be >= 1"},
        {offsetof(graft_conv2d_spec, dilation_w), -1, "dilation_w is -1, must be >= 1"},
        {offsetof(graft_conv2d_spec, groups), 0, "groups is 0, must be >= 1"},
        {offsetof(graft_conv2d_spec, groups), 3, "out_channels 4 is not divisible by groups 3"},
        {offsetof(graft_conv2d_spec, bias), 2, "bias is 2, must be 0 or 1"},
        {offsetof(graft_conv2d_spec, bias), -1, "bias is -1, must be 0 or 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        graft_conv2d_spec s = good;
        memcpy((char *)&s + cases[i].offset, &cases[i].value, sizeof(int));
        l = (graft_layer *)1;
        ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &l), GRAFT_E_INVALID_ARG);
        ck_assert_ptr_null(l);
        char want[160];
        snprintf(want, sizeof want, "graft_layer_conv2d(): %s", cases[i].msg);
        ck_assert_str_eq(graft_errmsg(ctx), want);
    }
    /* The good spec works and the message is cleared. */
    ck_assert_int_eq(graft_layer_conv2d(ctx, &good, &l), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_conv2d_bad_input_shapes)
{
    graft_ctx *ctx = tu_ctx();
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 4;
    s.kernel_h = s.kernel_w = 3;
    s.groups = 2;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &s, &l), GRAFT_OK);

    /* Wrong rank, by build and by the build inside forward. */
    graft_tensor *x3 = tu_tensor(ctx, 3, 1, 4, 5), *x5 = tu_tensor(ctx, 5, 1, 2, 3, 4, 4);
    const graft_tensor *in[1] = {x3}, *y = (const graft_tensor *)1;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): conv2d layer: input must be 4-D "
                                        "(N, C, H, W), got 3-D shape (1, 4, 5)");
    ck_assert_int_eq(graft_layer_param_count(l), 0);
    in[0] = x5;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "must be 4-D"));

    /* Input channels not divisible by groups. */
    graft_tensor *x = tu_tensor(ctx, 4, 1, 3, 5, 5);
    in[0] = x;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): conv2d layer: input channels 3 "
                                        "are not divisible by groups 2");

    /* Output size < 1: H = 2 with a 3-tap kernel and no padding:
       floor((2 - 3) / 1) + 1 = 0. */
    graft_tensor *xs = tu_tensor(ctx, 4, 1, 4, 2, 5);
    in[0] = xs;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): conv2d layer: output height would be 0 (input height "
                     "2, pad_top 0, pad_bottom 0, kernel_h 3, dilation_h 1, stride_h 1), must be "
                     ">= 1");
    graft_layer_free(l);

    /* Width: W = 5, kernel_w 2 with dilation 6 spans 7: floor((5 - 7) / 2) + 1 = 0;
       with 5 more columns of padding it is floor(3 / 2) + 1 = 2 and builds. */
    graft_conv2d_spec sw = GRAFT_CONV2D_SPEC_INIT;
    sw.out_channels = 2;
    sw.kernel_w = 2;
    sw.dilation_w = 6;
    sw.stride_w = 2;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &sw, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): conv2d layer: output width would be 0 (input width 5, "
                     "pad_left 0, pad_right 0, kernel_w 2, dilation_w 6, stride_w 2), must be >= 1");
    graft_layer_free(l);
    sw.pad_left = 2;
    sw.pad_right = 3;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &sw, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(y, 3), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 2), 2);
    /* After building, a different per-sample shape is refused. */
    in[0] = x;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_forward(): conv2d layer: inputs[0] has "
                                        "shape (1, 3, 5, 5), expected (1, 4, 2, 5)");
    /* Two inputs: conv2d takes one. */
    const graft_tensor *two[2] = {xs, xs};
    ck_assert_int_eq(graft_layer_build(l, 2, two, 0), GRAFT_E_INVALID_ARG);
    graft_layer_free(l);

    graft_tensor_free(x3);
    graft_tensor_free(x5);
    graft_tensor_free(x);
    graft_tensor_free(xs);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_conv2d(void)
{
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, test_conv2d_forward_pad_stride);
    tcase_add_test(tc, test_conv2d_forward_asymmetric_padding);
    tcase_add_test(tc, test_conv2d_forward_dilation);
    tcase_add_test(tc, test_conv2d_forward_groups);
    tcase_add_test(tc, test_conv2d_no_bias);
    tcase_add_test(tc, test_conv2d_pointwise_matches_general_path);
    tcase_add_test(tc, test_conv2d_matches_definition);
    tcase_add_test(tc, test_conv2d_winograd_matches_definition);
    tcase_add_test(tc, test_conv2d_init_is_he_uniform_and_seeded);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_add_test(tc, test_conv2d_gradcheck_3x3);
    tcase_add_test(tc, test_conv2d_gradcheck_winograd);
    tcase_add_test(tc, test_conv2d_gradcheck_stride2_asymmetric_pad);
    tcase_add_test(tc, test_conv2d_gradcheck_dilation2);
    tcase_add_test(tc, test_conv2d_gradcheck_groups2);
    tcase_add_test(tc, test_conv2d_gradcheck_1x1);
    tcase_add_test(tc, test_conv2d_gradcheck_no_bias);
    tcase_add_test(tc, test_conv2d_backward_skips);
    tcase_add_test(tc, test_conv2d_backward_overwrites);
    tcase_add_test(tc, test_conv2d_blas_vs_reference);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_add_test(tc, test_conv2d_no_allocation_in_steady_state);
    tcase_add_test(tc, test_conv2d_out_of_memory);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_add_test(tc, test_conv2d_roundtrip);
    tcase_add_test(tc, test_conv2d_load_rejects_bad_attributes);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_conv2d_bad_spec);
    tcase_add_test(tc, test_conv2d_bad_input_shapes);
    suite_add_tcase(s, tc);
    return s;
}
