/*
 * check_onnx_ops_nn.c - the ONNX importer's neural-network operators
 * (src/onnx/onnx_ops_nn.c): Conv (groups, dilations, asymmetric and auto
 * pads, 1-D), ConvTranspose (pads from pads, output_shape or auto_pad),
 * BatchNormalization, the activations (LeakyRelu, HardSwish,
 * HardSigmoid and its fusion with Mul into hard_swish, Clip in both forms),
 * pooling, Gemm and MatMul (by a constant, and of two activations), Softmax
 * (any axis), LayerNormalization and its opset-13 decomposition, PyTorch's
 * sequence fixtures, and Pad (of any axes); an imported Conv and
 * BatchNormalization run as one fused convolution for inference and as two
 * layers while training.
 * Small models are built with the
 * ModelProto builder (testutil.h), imported and run; expected values are
 * computed by hand or by a naive loop written here independently of
 * graft's layers.
 */
#include "testutil.h"
#include "layers/layer.h"
#include "model/model.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "graft_onnx_import_buffer(): "


/* A naive NCHW convolution, written independently of graft's conv2d. */
static void ref_conv(const float *x, int n, int c, int h, int w, const float *wt, const float *bias,
                     int m, int groups, int kh, int kw, int sh, int sw, int dh, int dw, int pt,
                     int pl, int pb, int pr, float *y, int *oh_out, int *ow_out)
{
    int oh = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    int ow = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    int cg = c / groups, mg = m / groups;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < m; o++)
            for (int yy = 0; yy < oh; yy++)
                for (int xx = 0; xx < ow; xx++) {
                    double s = bias ? bias[o] : 0.0;
                    int g = o / mg;
                    for (int ci = 0; ci < cg; ci++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int iy = yy * sh - pt + i * dh, ix = xx * sw - pl + j * dw;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                s += (double)wt[((o * cg + ci) * kh + i) * kw + j] *
                                     x[((b * c + g * cg + ci) * h + iy) * w + ix];
                            }
                    y[((b * m + o) * oh + yy) * ow + xx] = (float)s;
                }
    *oh_out = oh;
    *ow_out = ow;
}

/* ---- convolution ------------------------------------------------------------------- */

/* Conv with 2 groups, dilation 2, stride (1, 2) and asymmetric pads
 * (top 1, left 0, bottom 2, right 1) against the naive loop. */
START_TEST(test_conv_groups_dilations_pads)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 4, 6, 7}, wd[4] = {6, 2, 3, 2}, bd[1] = {6};
    float w[72], bias[6], x[2 * 4 * 6 * 7], y[2 * 6 * 8 * 4], want[2 * 6 * 8 * 4];
    tu_fill_ramp(w, 72, -0.7f, 0.021f);
    tu_fill_ramp(bias, 6, -0.3f, 0.1f);
    for (int k = 0; k < 2 * 4 * 6 * 7; k++) x[k] = sinf(0.37f * (float)k);
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init(&b, "w", 4, wd, w);
    tu_mb_init(&b, "b", 1, bd, bias);
    size_t n = tu_mb_node(&b, "Conv", "conv", "x,w,b", "y");
    const int64_t pads[4] = {1, 0, 2, 1}, dil[2] = {2, 2}, str[2] = {1, 2}, ks[2] = {3, 2};
    tu_mb_attr_ints(&b, "pads", 4, pads);
    tu_mb_attr_ints(&b, "dilations", 2, dil);
    tu_mb_attr_ints(&b, "strides", 2, str);
    tu_mb_attr_ints(&b, "kernel_shape", 2, ks);
    tu_mb_attr_i(&b, "group", 2);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"conv2d"};
    tu_assert_kinds(m, kinds, 1);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "conv");
    int oh, ow;
    ref_conv(x, 2, 4, 6, 7, w, bias, 6, 2, 3, 2, 1, 2, 2, 2, 1, 0, 2, 1, want, &oh, &ow);
    /* (6 + 1 + 2 - 5) / 1 + 1 = 5 rows; (7 + 0 + 1 - 3) / 2 + 1 = 3 columns */
    ck_assert_int_eq(oh, 5);
    ck_assert_int_eq(ow, 3);
    const int64_t xs[4] = {2, 4, 6, 7}, ys[4] = {2, 6, 5, 3};
    tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, 180), 4, ys);
    tu_assert_close(y, want, 180, 1e-5f, 1e-5f, "conv output");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* auto_pad SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start,
 * VALID pads nothing: 5x5 input, kernel 2, stride 2. */
START_TEST(test_conv_auto_pad)
{
    graft_ctx *ctx = tu_ctx();
    static const char *const modes[3] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    /* SAME: out = ceil(5 / 2) = 3, total pad = (3 - 1) * 2 + 2 - 5 = 1. */
    const int pads[3][2] = {{0, 1}, {1, 0}, {0, 0}};
    const int outs[3] = {3, 3, 2};
    const int64_t xd[4] = {1, 1, 5, 5}, wd[4] = {1, 1, 2, 2};
    float w[4] = {1, 2, 3, 4}, x[25], y[9], want[9];
    tu_fill_ramp(x, 25, 1, 1);
    for (int mode = 0; mode < 3; mode++) {
        tu_mb b;
        tu_mb_begin(&b, ctx, 11);
        tu_mb_input(&b, "x", 4, xd);
        tu_mb_init(&b, "w", 4, wd, w);
        size_t n = tu_mb_node(&b, "Conv", NULL, "x,w", "y");
        const int64_t str[2] = {2, 2};
        tu_mb_attr_ints(&b, "strides", 2, str);
        tu_mb_attr_s(&b, "auto_pad", modes[mode]);
        tu_mb_end(&b, n);
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        int oh, ow, p0 = pads[mode][0], p1 = pads[mode][1];
        ref_conv(x, 1, 1, 5, 5, w, NULL, 1, 1, 2, 2, 2, 2, 1, 1, p0, p0, p1, p1, want, &oh, &ow);
        ck_assert_int_eq(oh, outs[mode]);
        size_t cnt = (size_t)(oh * ow);
        tu_onnx_run(m, ctx, 4, xd, x, y, cnt);
        tu_assert_close(y, want, cnt, 1e-5f, 0, modes[mode]);
        if (mode == 0) {
            /* window (0,0) reads 1 2 / 6 7: 1*1 + 2*2 + 3*6 + 4*7 = 51; window
             * (2,2) reads only x[24] = 25, at the kernel's top left: 25 */
            ck_assert_float_eq(y[0], 51);
            ck_assert_float_eq(y[8], 25);
        } else if (mode == 1) {
            /* window (0,0) starts at (-1,-1): only x[0] = 1 under weight 4 */
            ck_assert_float_eq(y[0], 4);
        }
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* A zero Pad read only by a Conv becomes the conv's padding (one layer);
 * the result equals the conv with those pads. A 1-D Conv runs as a 2-D one
 * between two reshapes. */
START_TEST(test_conv_pad_folding_and_1d)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, 4, 4}, wd[4] = {3, 2, 3, 3}, pd[1] = {8};
    const int64_t pads[8] = {0, 0, 1, 2, 0, 0, 2, 1};
    float w[54], x[32], y[3 * 6 * 5], want[3 * 6 * 5];
    tu_fill_ramp(w, 54, -0.5f, 0.02f);
    tu_fill_ramp(x, 32, -1.0f, 0.0625f);
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init(&b, "w", 4, wd, w);
    tu_mb_init_i64(&b, "pads", 1, pd, pads);
    tu_mb_simple(&b, "Pad", "pad", "x,pads", "xp");
    size_t n = tu_mb_node(&b, "Conv", "conv", "xp,w", "y");
    const int64_t cp[4] = {1, 0, 0, 0};
    tu_mb_attr_ints(&b, "pads", 4, cp);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"conv2d"};
    tu_assert_kinds(m, kinds, 1);
    int oh, ow;
    /* pads: top 1 (Pad) + 1 (Conv), left 2, bottom 2, right 1 */
    ref_conv(x, 1, 2, 4, 4, w, NULL, 3, 1, 3, 3, 1, 1, 1, 1, 2, 2, 2, 1, want, &oh, &ow);
    /* (4 + 2 + 2 - 3) + 1 = 6 rows, (4 + 2 + 1 - 3) + 1 = 5 columns */
    ck_assert_int_eq(oh, 6);
    ck_assert_int_eq(ow, 5);
    const int64_t xs[4] = {1, 2, 4, 4};
    tu_onnx_run(m, ctx, 4, xs, x, y, 90);
    tu_assert_close(y, want, 90, 1e-5f, 1e-5f, "conv after folded pad");
    graft_model_free(m);
    tu_mb_free(&b);

    /* 1-D: x (N, 2, 6), w (1, 2, 3), pads 1 and 1, stride 2 -> (N, 1, 3). */
    const int64_t x1[3] = {-1, 2, 6}, w1d[3] = {1, 2, 3};
    float w1[6] = {1, 0, -1, 2, 1, 0}, xv[12], y1[3];
    tu_fill_ramp(xv, 12, 1, 1);
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, x1);
    tu_mb_init(&b, "w", 3, w1d, w1);
    n = tu_mb_node(&b, "Conv", "c1", "x,w", "y");
    const int64_t p1[2] = {1, 1}, s1[1] = {2};
    tu_mb_attr_ints(&b, "pads", 2, p1);
    tu_mb_attr_ints(&b, "strides", 1, s1);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds1[] = {"reshape", "conv2d", "reshape"};
    tu_assert_kinds(m, kinds1, 3);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "c1/to2d");
    ck_assert_str_eq(graft_model_layer_name(m, 1), "c1");
    ck_assert_str_eq(graft_model_layer_name(m, 2), "c1/to1d");
    const int64_t xs1[3] = {1, 2, 6}, ys1[3] = {1, 1, 3};
    tu_assert_dims(tu_onnx_run(m, ctx, 3, xs1, xv, y1, 3), 3, ys1);
    /* channel 0 = 1..6, channel 1 = 7..12, both padded with a zero each side.
     * out[0] (positions -1, 0, 1): 0*1 + 1*0 + 2*-1 + 0*2 + 7*1 + 8*0 = 5
     * out[1] (1, 2, 3): 2 - 4 + 16 + 9 = 23;  out[2] (3, 4, 5): 4 - 6 + 20 + 11 = 29 */
    const float want1[3] = {5, 23, 29};
    tu_assert_close(y1, want1, 3, 1e-6f, 0, "1-D conv");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- transposed convolution ---------------------------------------------------------- */

/* A naive NCHW transposed convolution, written independently of graft's
 * layer: every input cell adds its weighted kernel into the output at
 * (i*sh - pt + ki*dh, j*sw - pl + kj*dw); oh x ow cells. */
static void ref_convt(const float *x, int n, int c, int h, int w, const float *wt,
                      const float *bias, int m, int groups, int kh, int kw, int sh, int sw,
                      int dh, int dw, int pt, int pl, int oh, int ow, float *y)
{
    int cg = c / groups, mg = m / groups;
    for (int b = 0; b < n; b++)
        for (int o = 0; o < m; o++)
            for (int k = 0; k < oh * ow; k++) y[(b * m + o) * oh * ow + k] = bias ? bias[o] : 0;
    for (int b = 0; b < n; b++)
        for (int ci = 0; ci < c; ci++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    for (int oo = 0; oo < mg; oo++)
                        for (int ki = 0; ki < kh; ki++)
                            for (int kj = 0; kj < kw; kj++) {
                                int yy = i * sh - pt + ki * dh, xx = j * sw - pl + kj * dw;
                                if (yy < 0 || yy >= oh || xx < 0 || xx >= ow) continue;
                                int o = (ci / cg) * mg + oo;
                                y[((b * m + o) * oh + yy) * ow + xx] +=
                                    wt[((ci * mg + oo) * kh + ki) * kw + kj] *
                                    x[((b * c + ci) * h + i) * w + j];
                            }
}

/* One ConvTranspose node on x (N, 2, 3, 4) with weight (2, 2/groups, 3, 3)
 * and a bias, strides (2, 2); attrs adds the rest. The graph is left open
 * (tu_mb_finish, or tu_onnx_status). */
typedef void (*convt_attrs_fn)(tu_mb *b);

static void convt_model(tu_mb *b, graft_ctx *ctx, const float *w, const float *bias, int groups,
                        convt_attrs_fn attrs)
{
    const int64_t xd[4] = {-1, 2, 3, 4}, wd[4] = {2, 2 / groups, 3, 3}, bd[1] = {2};
    tu_mb_begin(b, ctx, 13);
    tu_mb_input(b, "x", 4, xd);
    tu_mb_init(b, "w", 4, wd, w);
    tu_mb_init(b, "b", 1, bd, bias);
    size_t n = tu_mb_node(b, "ConvTranspose", "ct", "x,w,b", "y");
    const int64_t st[2] = {2, 2};
    tu_mb_attr_ints(b, "strides", 2, st);
    tu_mb_attr_i(b, "group", groups);
    attrs(b);
    tu_mb_end(b, n);
    tu_mb_output(b, "y");
}

static void ct_pads(tu_mb *b) /* asymmetric pads, output padding, dilation */
{
    const int64_t pads[4] = {1, 0, 0, 2}, op[2] = {1, 1}, dil[2] = {1, 2};
    tu_mb_attr_ints(b, "pads", 4, pads);
    tu_mb_attr_ints(b, "output_padding", 2, op);
    tu_mb_attr_ints(b, "dilations", 2, dil);
}
static void ct_shape(tu_mb *b) /* 7x9 scatter to 6x10: pads (1, 0) above, output padding 1 */
{
    const int64_t os[2] = {6, 10};
    tu_mb_attr_ints(b, "output_shape", 2, os);
}
static void ct_upper(tu_mb *b)
{
    tu_mb_attr_s(b, "auto_pad", "SAME_UPPER");
}
static void ct_lower(tu_mb *b)
{
    tu_mb_attr_s(b, "auto_pad", "SAME_LOWER");
}
static void ct_valid(tu_mb *b)
{
    const int64_t pads[4] = {1, 1, 1, 1};
    tu_mb_attr_ints(b, "pads", 4, pads); /* ignored under VALID */
    tu_mb_attr_s(b, "auto_pad", "VALID");
}
static void ct_lead(tu_mb *b) /* 7 rows to 9: a negative leading pad */
{
    const int64_t os[2] = {9, 9};
    tu_mb_attr_ints(b, "output_shape", 2, os);
}
static void ct_big_op(tu_mb *b)
{
    const int64_t op[2] = {2, 0};
    tu_mb_attr_ints(b, "output_padding", 2, op);
}

/* ConvTranspose's pads from the pads attribute, output_shape and auto_pad
 * (ONNX's rule: total = full - target, SAME_UPPER's odd unit at the end,
 * the others' at the start, a larger target as output padding), groups,
 * dilations and output padding, against the naive loop; then what graft
 * refuses. */
START_TEST(test_conv_transpose)
{
    graft_ctx *ctx = tu_ctx();
    float w[36], bias[2] = {0.25f, -0.5f}, x[2 * 2 * 3 * 4], y[2 * 2 * 8 * 11], want[2 * 2 * 8 * 11];
    tu_fill_ramp(w, 36, -0.6f, 0.037f);
    for (int k = 0; k < 2 * 2 * 3 * 4; k++) x[k] = cosf(0.53f * (float)k);
    const struct {
        convt_attrs_fn attrs;
        int groups, dw, pt, pl, oh, ow;
        const char *what;
    } cases[] = {
        /* full: 2*2 + 1 + 2 + 1 = 8 rows less 1, 2*3 + 1 + 4 + 1 = 12 columns less 2 */
        {ct_pads, 2, 2, 1, 0, 7, 10, "pads"},
        {ct_shape, 1, 1, 1, 0, 6, 10, "output_shape"},
        /* target 6 x 8 from 7 x 9: one cell less each way */
        {ct_upper, 1, 1, 0, 0, 6, 8, "SAME_UPPER"},
        {ct_lower, 2, 1, 1, 1, 6, 8, "SAME_LOWER"},
        {ct_valid, 1, 1, 0, 0, 7, 9, "VALID"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        tu_mb b;
        convt_model(&b, ctx, w, bias, cases[t].groups, cases[t].attrs);
        tu_mb_finish(&b);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        static const char *const kinds[] = {"conv_transpose2d"};
        tu_assert_kinds(m, kinds, 1);
        const int oh = cases[t].oh, ow = cases[t].ow;
        ref_convt(x, 2, 2, 3, 4, w, bias, 2, cases[t].groups, 3, 3, 2, 2, 1, cases[t].dw,
                  cases[t].pt, cases[t].pl, oh, ow, want);
        const int64_t xs[4] = {2, 2, 3, 4}, ys[4] = {2, 2, oh, ow};
        size_t cnt = (size_t)(2 * 2 * oh * ow);
        tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, cnt), 4, ys);
        tu_assert_close(y, want, cnt, 1e-5f, 1e-5f, cases[t].what);
        graft_model_free(m);
        tu_mb_free(&b);
    }

    tu_mb b;
    convt_model(&b, ctx, w, bias, 1, ct_lead);
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"ct\" (ConvTranspose): an output size of 9 from a scatter of 7 "
                        "cells needs a negative leading pad; graft adds cells at the end only");
    convt_model(&b, ctx, w, bias, 1, ct_big_op);
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"ct\" (ConvTranspose): output_padding_h is 2, must be < stride_h "
                        "(2) or dilation_h (1)");

    /* A weight computed from the input, and a 3-D convolution. */
    const int64_t xd[4] = {-1, 2, 3, 3}, x5[5] = {-1, 2, 3, 3, 3}, wd5[5] = {2, 2, 1, 1, 1};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_simple(&b, "Relu", "r", "x", "r");
    tu_mb_simple(&b, "ConvTranspose", "ct", "x,r", "y");
    tu_mb_output(&b, "y");
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"ct\" (ConvTranspose): its weight (\"r\") is "
                                           "computed from the graph input; graft needs a "
                                           "constant");
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 5, x5);
    tu_mb_init(&b, "w", 5, wd5, w);
    tu_mb_simple(&b, "ConvTranspose", "ct", "x,w", "y");
    tu_mb_output(&b, "y");
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"ct\" (ConvTranspose): a 5-D input; graft "
                                           "computes 1-D (N, C, L) and 2-D (N, C, H, W) windows");
    graft_ctx_free(ctx);
}
END_TEST

/* ---- batch norm and activations ----------------------------------------------------- */

START_TEST(test_batch_norm)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, 1, 2}, cd[1] = {2};
    const float scale[2] = {2, 0.5f}, bias[2] = {1, -1}, mean[2] = {0.5f, -2}, var[2] = {3, 0.25f};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init(&b, "s", 1, cd, scale);
    tu_mb_init(&b, "b", 1, cd, bias);
    tu_mb_init(&b, "m", 1, cd, mean);
    tu_mb_init(&b, "v", 1, cd, var);
    size_t n = tu_mb_node(&b, "BatchNormalization", "bn", "x,s,b,m,v", "y");
    tu_mb_attr_f(&b, "epsilon", 1.0f);
    tu_mb_attr_f(&b, "momentum", 0.75f);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"batch_norm"};
    tu_assert_kinds(m, kinds, 1);
    const float x[4] = {2.5f, -1.5f, -2, -1};
    float y[4];
    const int64_t xs[4] = {1, 2, 1, 2};
    tu_onnx_run(m, ctx, 4, xs, x, y, 4);
    /* channel 0: 2 * (x - 0.5) / sqrt(3 + 1) + 1 = x - 0.5 + 1: 3, -1
     * channel 1: 0.5 * (x + 2) / sqrt(0.25 + 1) - 1: -1, 0.5 / 1.118034 - 1 */
    const float want[4] = {3, -1, -1, 0.5f / sqrtf(1.25f) - 1};
    tu_assert_close(y, want, 4, 1e-6f, 1e-6f, "batch norm");
    graft_tensor *rv;
    const char *name;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 0), 3, &name, &rv, NULL, NULL), 0);
    ck_assert_str_eq(name, "running_var");
    tu_assert_close(graft_tensor_data(rv), var, 2, 0, 0, "running_var");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A one-node model y = op(x) on x of shape (N, 6), with optional extra
 * initializer inputs "lo" and "hi" (scalars) and attributes added by fn. */
typedef void (*attr_fn)(tu_mb *b);

static graft_model *unary_model(graft_ctx *ctx, tu_mb *b, int opset, const char *op,
                                const char *ins, attr_fn fn)
{
    const int64_t xd[2] = {-1, 6}, sd[1] = {0};
    const float lo = 0.0f, hi = 6.0f;
    tu_mb_begin(b, ctx, opset);
    tu_mb_input(b, "x", 2, xd);
    if (strstr(ins, "lo")) tu_mb_init(b, "lo", 0, sd, &lo);
    if (strstr(ins, "hi")) tu_mb_init(b, "hi", 0, sd, &hi);
    size_t n = tu_mb_node(b, op, op, ins, "y");
    if (fn) fn(b);
    tu_mb_end(b, n);
    tu_mb_output(b, "y");
    tu_mb_finish(b);
    return tu_onnx_import_ok(b, NULL);
}

static void alpha_02(tu_mb *b) { tu_mb_attr_f(b, "alpha", 0.25f); }
static void clip_attrs(tu_mb *b)
{
    tu_mb_attr_f(b, "min", -1.0f);
    tu_mb_attr_f(b, "max", 2.0f);
}

START_TEST(test_activations)
{
    graft_ctx *ctx = tu_ctx();
    const float x[6] = {-4, -1, -0.25f, 0.5f, 2, 7};
    const int64_t xs[2] = {1, 6};
    float y[6], want[6];
    struct {
        const char *op, *ins, *kind;
        int opset;
        attr_fn fn;
    } cases[] = {
        {"Relu", "x", "relu", 13, NULL},
        {"LeakyRelu", "x", "leaky_relu", 13, alpha_02},
        {"Sigmoid", "x", "sigmoid", 13, NULL},
        {"Tanh", "x", "tanh", 13, NULL},
        {"HardSwish", "x", "hard_swish", 14, NULL},
        {"HardSigmoid", "x", "hard_sigmoid", 13, alpha_02},
        {"Clip", "x", "clip", 6, clip_attrs},      /* attribute form */
        {"Clip", "x,lo,hi", "clip", 13, NULL},     /* input form: relu6 */
        {"Clip", "x,lo", "relu", 13, NULL},        /* no upper bound: relu */
        {"Neg", "x", "scale_shift", 13, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tu_mb b;
        graft_model *m = unary_model(ctx, &b, cases[c].opset, cases[c].op, cases[c].ins,
                                     cases[c].fn);
        ck_assert_int_eq(graft_model_layer_count(m), 1);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), cases[c].kind);
        tu_onnx_run(m, ctx, 2, xs, x, y, 6);
        for (int k = 0; k < 6; k++) {
            double v = x[k], r;
            switch (c) {
            case 0: r = v > 0 ? v : 0; break;
            case 1: r = v > 0 ? v : 0.25 * v; break;
            case 2: r = 1 / (1 + exp(-v)); break;
            case 3: r = tanh(v); break;
            case 4: r = v * fmin(fmax(v + 3, 0), 6) / 6; break;
            case 5: r = fmin(fmax(0.25 * v + 0.5, 0), 1); break;
            case 6: r = fmin(fmax(v, -1), 2); break;
            case 7: r = fmin(fmax(v, 0), 6); break;
            case 8: r = v > 0 ? v : 0; break;
            default: r = -v; break;
            }
            want[k] = (float)r;
        }
        tu_assert_close(y, want, 6, 1e-6f, 1e-6f, cases[c].op);
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* x * HardSigmoid(x) with PyTorch's constants becomes one hard_swish layer
 * named after the Mul; other constants keep both layers. */
START_TEST(test_hard_sigmoid_mul_fusion)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 4}, xs[2] = {1, 4};
    const float x[4] = {-4, -1, 1, 5};
    float y[4];
    for (int fused = 1; fused >= 0; fused--) {
        tu_mb b;
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 2, xd);
        size_t n = tu_mb_node(&b, "HardSigmoid", "hs", "x", "h");
        tu_mb_attr_f(&b, "alpha", fused ? 1.0f / 6.0f : 0.2f);
        tu_mb_end(&b, n);
        tu_mb_simple(&b, "Mul", "act/mul", "x,h", "y");
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        if (fused) {
            static const char *const kinds[] = {"hard_swish"};
            tu_assert_kinds(m, kinds, 1);
            ck_assert_str_eq(graft_model_layer_name(m, 0), "act/mul");
        } else {
            static const char *const kinds[] = {"hard_sigmoid", "mul"};
            tu_assert_kinds(m, kinds, 2);
        }
        tu_onnx_run(m, ctx, 2, xs, x, y, 4);
        for (int k = 0; k < 4; k++) {
            double a = fused ? 1.0 / 6.0 : 0.2;
            ck_assert_float_eq_tol(y[k], x[k] * fmin(fmax(a * x[k] + 0.5, 0), 1), 1e-6);
        }
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- pooling --------------------------------------------------------------------- */

static graft_model *pool_model(graft_ctx *ctx, tu_mb *b, const char *op, int cip, int ceil_mode)
{
    const int64_t xd[4] = {-1, 1, 3, 3};
    tu_mb_begin(b, ctx, 13);
    tu_mb_input(b, "x", 4, xd);
    size_t n = tu_mb_node(b, op, "pool", "x", "y");
    if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) {
        const int64_t ks[2] = {2, 2}, pads[4] = {1, 1, 0, 0}, st[2] = {2, 2};
        tu_mb_attr_ints(b, "kernel_shape", 2, ks);
        tu_mb_attr_ints(b, "pads", 4, pads);
        tu_mb_attr_ints(b, "strides", 2, st);
        tu_mb_attr_i(b, "count_include_pad", cip);
        tu_mb_attr_i(b, "ceil_mode", ceil_mode);
    }
    tu_mb_end(b, n);
    tu_mb_output(b, "y");
    tu_mb_finish(b);
    return tu_onnx_import_ok(b, NULL);
}

START_TEST(test_pooling)
{
    graft_ctx *ctx = tu_ctx();
    /* x = 1 2 3 / 4 5 6 / 7 8 9, pads top and left 1, kernel 2, stride 2:
     * windows cover rows {-1,0} or {1,2} and columns {-1,0} or {1,2}. */
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const int64_t xs[4] = {1, 1, 3, 3}, ys[4] = {1, 1, 2, 2};
    float y[4];
    tu_mb b;
    graft_model *m = pool_model(ctx, &b, "MaxPool", 0, 0);
    tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, 4), 4, ys);
    const float want_max[4] = {1, 3, 7, 9};
    tu_assert_close(y, want_max, 4, 0, 0, "max pool");
    graft_model_free(m);
    tu_mb_free(&b);
    /* Average over the covered cells: 1; (2+3)/2; (4+7)/2; (5+6+8+9)/4. */
    m = pool_model(ctx, &b, "AveragePool", 0, 0);
    tu_onnx_run(m, ctx, 4, xs, x, y, 4);
    const float want_avg[4] = {1, 2.5f, 5.5f, 7};
    tu_assert_close(y, want_avg, 4, 1e-6f, 0, "average pool");
    graft_model_free(m);
    tu_mb_free(&b);
    /* count_include_pad divides by the whole window: 1/4, 5/4, 11/4, 28/4. */
    m = pool_model(ctx, &b, "AveragePool", 1, 0);
    tu_onnx_run(m, ctx, 4, xs, x, y, 4);
    const float want_cip[4] = {0.25f, 1.25f, 2.75f, 7};
    tu_assert_close(y, want_cip, 4, 1e-6f, 0, "average pool with count_include_pad");
    graft_model_free(m);
    tu_mb_free(&b);
    /* Global pools: the mean 5 and the maximum 9. */
    m = pool_model(ctx, &b, "GlobalAveragePool", 0, 0);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "global_avg_pool");
    tu_onnx_run(m, ctx, 4, xs, x, y, 1);
    ck_assert_float_eq_tol(y[0], 5, 1e-6);
    graft_model_free(m);
    tu_mb_free(&b);
    m = pool_model(ctx, &b, "GlobalMaxPool", 0, 0);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "max_pool2d");
    tu_onnx_run(m, ctx, 4, xs, x, y, 1);
    ck_assert_float_eq(y[0], 9);
    graft_model_free(m);
    tu_mb_free(&b);

    /* ReduceMean over axes 2, 3 without keepdims: global_avg_pool + reshape. */
    const int64_t xd[4] = {-1, 2, 2, 2}, axes[2] = {-1, 2};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    size_t n = tu_mb_node(&b, "ReduceMean", "mean", "x", "y");
    tu_mb_attr_ints(&b, "axes", 2, axes);
    tu_mb_attr_i(&b, "keepdims", 0);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"global_avg_pool", "reshape"};
    tu_assert_kinds(m, kinds, 2);
    const float x8[8] = {1, 2, 3, 4, 10, 20, 30, 40};
    const int64_t x8s[4] = {1, 2, 2, 2}, y8s[2] = {1, 2};
    tu_assert_dims(tu_onnx_run(m, ctx, 4, x8s, x8, y, 2), 2, y8s);
    ck_assert_float_eq_tol(y[0], 2.5, 1e-6);
    ck_assert_float_eq_tol(y[1], 25, 1e-5);
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- matrix products ------------------------------------------------------------- */

START_TEST(test_gemm_and_matmul)
{
    graft_ctx *ctx = tu_ctx();
    /* Gemm: y = 2 * x * B^T + 0.5 * C with B (3, 2) transposed, C (1, 3). */
    const int64_t xd[2] = {-1, 2}, bd[2] = {3, 2}, cd[2] = {1, 3};
    const float bm[6] = {1, 2, 3, 4, 5, 6}, c[3] = {2, 4, 6};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "B", 2, bd, bm);
    tu_mb_init(&b, "C", 2, cd, c);
    size_t n = tu_mb_node(&b, "Gemm", "fc", "x,B,C", "y");
    tu_mb_attr_f(&b, "alpha", 2);
    tu_mb_attr_f(&b, "beta", 0.5f);
    tu_mb_attr_i(&b, "transB", 1);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const dense[] = {"dense"};
    tu_assert_kinds(m, dense, 1);
    const float x[4] = {1, -1, 0.5f, 2};
    float y[6];
    const int64_t xs[2] = {2, 2};
    tu_onnx_run(m, ctx, 2, xs, x, y, 6);
    /* row (1, -1): 2 * (1 - 2, 3 - 4, 5 - 6) + (1, 2, 3) = (-1, 0, 1)
     * row (0.5, 2): 2 * (4.5, 9.5, 14.5) + (1, 2, 3) = (10, 21, 32) */
    const float want[6] = {-1, 0, 1, 10, 21, 32};
    tu_assert_close(y, want, 6, 1e-5f, 0, "gemm");
    graft_model_free(m);
    tu_mb_free(&b);

    /* The same Gemm in a graph without a batch axis: x (2, 2) is one sample
     * of 2 positions (a sequence), graft's (1, 2, 2); each row is multiplied
     * alike, by a dense layer over the last axis. */
    const int64_t xfixed[2] = {2, 2};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xfixed);
    tu_mb_init(&b, "B", 2, bd, bm);
    tu_mb_init(&b, "C", 2, cd, c);
    n = tu_mb_node(&b, "Gemm", "fc", "x,B,C", "y");
    tu_mb_attr_f(&b, "alpha", 2);
    tu_mb_attr_f(&b, "beta", 0.5f);
    tu_mb_attr_i(&b, "transB", 1);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    m = tu_onnx_import_ok(&b, &o);
    tu_assert_kinds(m, dense, 1);
    int64_t units_axis[1];
    ck_assert_int_eq(graftLayerAttrInts(graft_model_layer(m, 0), "last_axis", units_axis, 1), 1);
    ck_assert_int_eq(units_axis[0], 1);
    const int64_t xs1[3] = {1, 2, 2};
    tu_onnx_run(m, ctx, 3, xs1, x, y, 6);
    tu_assert_close(y, want, 6, 1e-5f, 0, "gemm over the positions of one sample");
    graft_model_free(m);
    tu_mb_free(&b);

    /* MatMul by (2, 3) then Add of a (3) bias: one dense layer with bias. */
    const int64_t wd[2] = {2, 3}, vd[1] = {3};
    const float w[6] = {1, 0, 2, -1, 1, 3}, bias[3] = {0.5f, 0.25f, -1};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "W", 2, wd, w);
    tu_mb_init(&b, "bias", 1, vd, bias);
    tu_mb_simple(&b, "MatMul", "proj", "x,W", "xw");
    tu_mb_simple(&b, "Add", "proj_bias", "xw,bias", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    tu_assert_kinds(m, dense, 1);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "proj");
    ck_assert_int_eq(graft_layer_param_count(graft_model_layer(m, 0)), 2);
    tu_onnx_run(m, ctx, 2, xs, x, y, 6);
    /* (1, -1): (1 + 1, 0 - 1, 2 - 3) + bias = (2.5, -0.75, -2)
     * (0.5, 2): (0.5 - 2, 2, 1 + 6) + bias = (-1, 2.25, 6) */
    const float want2[6] = {2.5f, -0.75f, -2, -1, 2.25f, 6};
    tu_assert_close(y, want2, 6, 1e-6f, 0, "matmul + add");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- sequences: layer normalisation, matmul of activations, softmax axes ---------- */

/* 1 when the model has a layer of the kind. */
static int has_kind(graft_model *m, const char *kind)
{
    for (int i = 0; i < graft_model_layer_count(m); i++)
        if (!strcmp(graft_layer_kind(graft_model_layer(m, i)), kind)) return 1;
    return 0;
}

/* Imports tests/data/onnx/<name>_op<opset>.onnx, written by PyTorch
 * (tests/make_onnx_fixtures.py), and compares its output on <name>.input.pb
 * with PyTorch's: |graft - torch| <= 1e-5 + 1e-5 |torch|. Returns the import
 * status; a failed import compares nothing. */
static int check_seq_fixture(graft_ctx *ctx, const char *name, int opset, const char *const *kinds,
                             int n_kinds, int n_layers)
{
    char path[256], file[256];
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s_op%d.onnx", name, opset);
    graft_model *m = NULL;
    int st = graft_onnx_import(ctx, path, NULL, &m);
    if (st != GRAFT_OK) return st;
    for (int k = 0; k < n_kinds; k++)
        ck_assert_msg(has_kind(m, kinds[k]), "%s: no %s layer", path, kinds[k]);
    if (n_layers > 0) ck_assert_int_eq(graft_model_layer_count(m), n_layers);
    snprintf(file, sizeof file, GRAFT_TEST_DATA "/onnx/%s.input.pb", name);
    graft_tensor *x = tu_onnx_read_tensor(ctx, file);
    snprintf(file, sizeof file, GRAFT_TEST_DATA "/onnx/%s.output.pb", name);
    graft_tensor *want = tu_onnx_read_tensor(ctx, file);
    tu_onnx_assert_output(m, ctx, x, want, 1e-5f, 1e-5f, path);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_model_free(m);
    return GRAFT_OK;
}

/* nn.LayerNorm(32) then nn.Linear(32, 8) on (N, 16, 32): at opset 17 a
 * LayerNormalization node, at 13 PyTorch's nine-node decomposition, fused
 * into one layer_norm; the Linear (MatMul and Add) is one dense layer over
 * the last axis. */
START_TEST(test_seq_layernorm_linear_fixture)
{
    graft_ctx *ctx = tu_ctx();
    static const char *const kinds[] = {"layer_norm", "dense"};
    for (int opset = 13; opset <= 17; opset += 4)
        ck_assert_msg(check_seq_fixture(ctx, "seq_layernorm", opset, kinds, 2, 2) == GRAFT_OK,
                      "opset %d: %s", opset, graft_errmsg(ctx));
    graft_ctx_free(ctx);
}
END_TEST

/* One attention head without a transpose: three projections (dense over
 * the last axis), q k and attn v (matmul), the scaling by a scalar
 * (scale_shift), softmax over the last axis, the residual add and the
 * layer normalisation. */
START_TEST(test_seq_attention_fixture)
{
    graft_ctx *ctx = tu_ctx();
    static const char *const kinds[] = {"dense", "matmul", "scale_shift", "softmax", "add",
                                        "layer_norm"};
    for (int opset = 13; opset <= 17; opset += 4)
        ck_assert_msg(check_seq_fixture(ctx, "seq_attention", opset, kinds, 6, 9) == GRAFT_OK,
                      "opset %d: %s", opset, graft_errmsg(ctx));
    graft_ctx_free(ctx);
}
END_TEST

/* softmax(q k^T / sqrt(d)) v with k^T a Transpose of an activation (a
 * transpose layer): it imports and matches PyTorch. */
START_TEST(test_seq_attention_transposed_key_fixture)
{
    graft_ctx *ctx = tu_ctx();
    static const char *const kinds[] = {"matmul", "softmax", "layer_norm"};
    for (int opset = 13; opset <= 17; opset += 4) {
        int st = check_seq_fixture(ctx, "seq_attention_kt", opset, kinds, 3, 0);
        ck_assert_msg(st == GRAFT_OK, "opset %d: %s", opset, graft_errmsg(ctx));
    }
    graft_ctx_free(ctx);
}
END_TEST

/* The naive layer normalisation of n groups of g values, in double. */
static void ref_layer_norm(const float *x, size_t n, size_t g, const float *w, const float *b,
                           double eps, float *y)
{
    for (size_t i = 0; i < n; i++) {
        double m = 0, v = 0;
        for (size_t k = 0; k < g; k++) m += x[i * g + k];
        m /= (double)g;
        for (size_t k = 0; k < g; k++) v += (x[i * g + k] - m) * (x[i * g + k] - m);
        v /= (double)g;
        for (size_t k = 0; k < g; k++)
            y[i * g + k] = (float)((x[i * g + k] - m) / sqrt(v + eps) * (w ? w[k] : 1.0) +
                                   (b ? b[k] : 0.0));
    }
}

/* LayerNormalization over the last two axes (axis -2) of (N, 2, 3, 4), a
 * Scale of shape (3, 4) and no B; over axis 0 (the batch) it is refused. */
START_TEST(test_layer_normalization)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, 3, 4}, sd[2] = {3, 4}, xs[4] = {2, 2, 3, 4};
    float scale[12], x[48], y[48], want[48];
    tu_fill_ramp(scale, 12, 0.5f, 0.125f);
    for (int i = 0; i < 48; i++) x[i] = (float)((i * 37) % 11) - 4.0f + 0.01f * (float)i;
    tu_mb b;
    tu_mb_begin(&b, ctx, 17);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init(&b, "scale", 2, sd, scale);
    size_t n = tu_mb_node(&b, "LayerNormalization", "ln", "x,scale", "y");
    tu_mb_attr_i(&b, "axis", -2);
    tu_mb_attr_f(&b, "epsilon", 1e-3f);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const ln[] = {"layer_norm"};
    tu_assert_kinds(m, ln, 1);
    tu_onnx_run(m, ctx, 4, xs, x, y, 48);
    ref_layer_norm(x, 4, 12, scale, NULL, 1e-3f, want);
    tu_assert_close(y, want, 48, 1e-5f, 1e-5f, "LayerNormalization");
    graft_model_free(m);
    tu_mb_free(&b);

    tu_mb_begin(&b, ctx, 17);
    tu_mb_input(&b, "x", 4, xd);
    const int64_t all[4] = {1, 2, 3, 4};
    float ones[24];
    for (int i = 0; i < 24; i++) ones[i] = 1;
    tu_mb_init(&b, "scale", 3, all + 1, ones);
    n = tu_mb_node(&b, "LayerNormalization", "ln", "x,scale", "y");
    tu_mb_attr_i(&b, "axis", 0);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"ln\" (LayerNormalization): it normalises over the batch axis; "
                        "graft normalises each sample on its own");
    graft_ctx_free(ctx);
}
END_TEST

/* The decomposition PyTorch writes before opset 17, built by hand: pow is
 * the Pow exponent, with_affine adds Mul and Add. With exponent 2 it becomes
 * one layer_norm named after its last node; with 3 it is not a layer norm,
 * and the ReduceMean is refused as before. */
static void build_decomposed(tu_mb *b, graft_ctx *ctx, float pow_exp, int with_affine,
                             const float *gamma, const float *beta)
{
    const int64_t xd[3] = {-1, 3, 4}, gd[1] = {4}, ax[1] = {-1};
    tu_mb_begin(b, ctx, 13);
    tu_mb_input(b, "x", 3, xd);
    tu_mb_init(b, "gamma", 1, gd, gamma);
    tu_mb_init(b, "beta", 1, gd, beta);
    size_t n = tu_mb_node(b, "ReduceMean", "mean", "x", "m");
    tu_mb_attr_ints(b, "axes", 1, ax);
    tu_mb_end(b, n);
    tu_mb_simple(b, "Sub", "sub", "x,m", "d");
    n = tu_mb_node(b, "Constant", "c2", "", "two");
    tu_mb_attr_tensor_f(b, "value", 0, NULL, &pow_exp);
    tu_mb_end(b, n);
    tu_mb_simple(b, "Pow", "pow", "d,two", "p");
    n = tu_mb_node(b, "ReduceMean", "var", "p", "v");
    tu_mb_attr_ints(b, "axes", 1, ax);
    tu_mb_end(b, n);
    const float eps = 1e-5f;
    n = tu_mb_node(b, "Constant", "ce", "", "eps");
    tu_mb_attr_tensor_f(b, "value", 0, NULL, &eps);
    tu_mb_end(b, n);
    tu_mb_simple(b, "Add", "add_eps", "v,eps", "ve");
    tu_mb_simple(b, "Sqrt", "sqrt", "ve", "s");
    tu_mb_simple(b, "Div", "div", "d,s", with_affine ? "yn" : "y");
    if (with_affine) {
        tu_mb_simple(b, "Mul", "mul", "yn,gamma", "z");
        tu_mb_simple(b, "Add", "norm", "beta,z", "y");
    }
    tu_mb_output(b, "y");
    tu_mb_finish(b);
}

START_TEST(test_layer_norm_decomposed_fusion)
{
    graft_ctx *ctx = tu_ctx();
    const float gamma[4] = {1, 2, 0.5f, -1}, beta[4] = {0, 0.25f, -1, 3};
    const int64_t xs[3] = {2, 3, 4};
    float x[24], y[24], want[24];
    for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 5) + 0.1f * (float)i;
    static const char *const ln[] = {"layer_norm"};
    for (int affine = 0; affine <= 1; affine++) {
        tu_mb b;
        build_decomposed(&b, ctx, 2.0f, affine, gamma, beta);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        tu_assert_kinds(m, ln, 1);
        ck_assert_str_eq(graft_model_layer_name(m, 0), affine ? "norm" : "div");
        ck_assert_int_eq(graft_layer_param_count(graft_model_layer(m, 0)), affine ? 2 : 0);
        tu_onnx_run(m, ctx, 3, xs, x, y, 24);
        ref_layer_norm(x, 6, 4, affine ? gamma : NULL, affine ? beta : NULL, 1e-5, want);
        tu_assert_close(y, want, 24, 1e-5f, 1e-5f, "fused layer norm");
        graft_model_free(m);
        tu_mb_free(&b);
    }
    /* x - mean cubed: not a layer normalisation */
    tu_mb b;
    build_decomposed(&b, ctx, 3.0f, 1, gamma, beta);
    graft_model *m = NULL;
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"mean\" (ReduceMean): graft computes ReduceMean only over axes 2 "
                        "and 3 of (N, C, H, W), or as the first node of a layer normalisation; "
                        "8 later nodes that read its outputs were not checked");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* MatMul of two activations: (N, 2, 3) Relu'd times (N, 3, 2) made by a
 * Reshape, against a naive product; ranks that differ are refused. */
START_TEST(test_matmul_of_activations)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 2, 3}, xs[3] = {2, 2, 3}, shape[3] = {0, 3, 2}, sd[1] = {3};
    float x[12], y[8], want[8];
    for (int i = 0; i < 12; i++) x[i] = (float)(i % 5) - 1.5f;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "shape", 1, sd, shape);
    tu_mb_simple(&b, "Relu", "relu", "x", "a");
    tu_mb_simple(&b, "Reshape", "reshape", "x,shape", "bt");
    tu_mb_simple(&b, "MatMul", "mm", "a,bt", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    ck_assert(has_kind(m, "matmul"));
    const graft_tensor *out = tu_onnx_run(m, ctx, 3, xs, x, y, 8);
    ck_assert_int_eq(graft_tensor_dim(out, 2), 2);
    for (int nb = 0; nb < 2; nb++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                double s = 0;
                for (int k = 0; k < 3; k++)
                    s += (double)fmaxf(x[nb * 6 + i * 3 + k], 0) * x[nb * 6 + k * 2 + j];
                want[nb * 4 + i * 2 + j] = (float)s;
            }
    tu_assert_close(y, want, 8, 1e-6f, 1e-6f, "matmul of activations");
    graft_model_free(m);
    tu_mb_free(&b);

    const int64_t flat[2] = {0, 6}, fd[1] = {2};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "flat", 1, fd, flat);
    tu_mb_simple(&b, "Reshape", "reshape", "x,flat", "f");
    tu_mb_simple(&b, "MatMul", "mm", "x,f", "y");
    tu_mb_output(&b, "y");
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"mm\" (MatMul): a product of computed tensors (N, 2, 3) and "
                        "(N, 6); graft's matmul layer multiplies stacks of matrices of one rank, "
                        "(N, ..., M, K) by (N, ..., K, P)");
    graft_ctx_free(ctx);
}
END_TEST

/* Softmax over axis 2 of (N, 2, 3) at opset 13 (one axis), and at opset 11
 * with axis 2, the last (the coerced 2-D form is then that one axis); over
 * axis 0 it is refused. */
START_TEST(test_softmax_any_axis)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 2, 3}, xs[3] = {1, 2, 3};
    const float x[6] = {0, 1, 2, 3, 3, 3};
    float y[6];
    for (int opset = 11; opset <= 13; opset += 2) {
        for (int axis = -1; axis <= 2; axis += 3) {
            tu_mb b;
            tu_mb_begin(&b, ctx, opset);
            tu_mb_input(&b, "x", 3, xd);
            size_t n = tu_mb_node(&b, "Softmax", "prob", "x", "p");
            tu_mb_attr_i(&b, "axis", axis);
            tu_mb_end(&b, n);
            tu_mb_simple(&b, "Relu", "relu", "p", "y");
            tu_mb_output(&b, "y");
            tu_mb_finish(&b);
            graft_model *m = tu_onnx_import_ok(&b, NULL);
            static const char *const kinds[] = {"softmax", "relu"};
            tu_assert_kinds(m, kinds, 2);
            int64_t a = 0;
            ck_assert_int_eq(graftLayerAttrInts(graft_model_layer(m, 0), "axis", &a, 1), 1);
            ck_assert_int_eq(a, 2);
            tu_onnx_run(m, ctx, 3, xs, x, y, 6);
            double s = 1 + exp(1) + exp(2);
            const float want[6] = {(float)(1 / s), (float)(exp(1) / s), (float)(exp(2) / s),
                                   1.0f / 3, 1.0f / 3, 1.0f / 3};
            tu_assert_close(y, want, 6, 1e-6f, 1e-6f, "softmax over the last axis");
            graft_model_free(m);
            tu_mb_free(&b);
        }
    }
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    size_t n = tu_mb_node(&b, "Softmax", "prob", "x", "p");
    tu_mb_attr_i(&b, "axis", 0);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Relu", "relu", "p", "y");
    tu_mb_output(&b, "y");
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"prob\" (Softmax): softmax over the batch axis; graft's softmax "
                        "runs within each sample; 1 later node that reads its outputs was not "
                        "checked");
    graft_ctx_free(ctx);
}
END_TEST

/* Fusions do not depend on where a constant's node sits: every constant is
 * known before the first layer is made, so a bias whose Constant node (or
 * the arithmetic that computes it) comes after the MatMul, as tf2onnx
 * writes Keras' Dense, still makes one dense layer with bias; the same for
 * HardSigmoid then Mul, and for Pad then Conv, with constants between. */
START_TEST(test_fusions_ignore_node_order)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 2}, wd[2] = {2, 3}, vd[1] = {3}, rd[2] = {1, 3}, sd[1] = {1};
    const int64_t three = 3;
    const float w[6] = {1, 0, 2, -1, 1, 3}, bias[3] = {0.5f, 0.25f, -1};
    const float x[4] = {1, -1, 0.5f, 2}, want[6] = {2.5f, -0.75f, -2, -1, 2.25f, 6};
    const int64_t xs[2] = {2, 2};
    float y[6];
    static const char *const dense[] = {"dense"};
    for (int variant = 0; variant < 3; variant++) {
        tu_mb b;
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 2, xd);
        tu_mb_init(&b, "W", 2, wd, w);
        tu_mb_simple(&b, "MatMul", "proj", "x,W", "xw");
        size_t n;
        if (variant == 0) { /* the bias's Constant node after the MatMul */
            n = tu_mb_node(&b, "Constant", "proj/bias", NULL, "bias");
            tu_mb_attr_tensor_f(&b, "value", 1, vd, bias);
            tu_mb_end(&b, n);
            tu_mb_simple(&b, "Add", "proj_bias", "xw,bias", "y");
        } else { /* computed after it: (1, 3) reshaped to (3); bias first */
            n = tu_mb_node(&b, "Constant", "proj/bias_2d", NULL, "bias2d");
            tu_mb_attr_tensor_f(&b, "value", 2, rd, bias);
            tu_mb_end(&b, n);
            n = tu_mb_node(&b, "Constant", "proj/shape", NULL, "shape");
            tu_mb_attr_tensor_i64(&b, "value", 1, sd, &three);
            tu_mb_end(&b, n);
            tu_mb_simple(&b, "Reshape", "proj/bias", "bias2d,shape", "bias");
            tu_mb_simple(&b, "Add", "proj_bias", variant == 1 ? "bias,xw" : "xw,bias", "y");
        }
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        tu_assert_kinds(m, dense, 1);
        ck_assert_str_eq(graft_model_layer_name(m, 0), "proj");
        ck_assert_int_eq(graft_model_layer_param_count(m, 0), 2 * 3 + 3);
        tu_onnx_run(m, ctx, 2, xs, x, y, 6);
        tu_assert_close(y, want, 6, 1e-6f, 0, "matmul, later bias, add");
        graft_model_free(m);
        tu_mb_free(&b);
    }

    /* HardSigmoid, a Constant node, then Mul (operands swapped) and Add of
     * that constant: hard_swish and scale_shift. */
    const int64_t hd[2] = {-1, 4}, cd[1] = {4}, hs[2] = {1, 4};
    const float c[4] = {1, 2, 3, 4}, hx[4] = {-4, -1, 1, 5};
    float hy[4];
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, hd);
    size_t n = tu_mb_node(&b, "HardSigmoid", "hs", "x", "h");
    tu_mb_attr_f(&b, "alpha", 1.0f / 6.0f);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Constant", "offset", NULL, "c");
    tu_mb_attr_tensor_f(&b, "value", 1, cd, c);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Mul", "act/mul", "h,x", "a");
    tu_mb_simple(&b, "Add", "shift", "a,c", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const swish[] = {"hard_swish", "scale_shift"};
    tu_assert_kinds(m, swish, 2);
    tu_onnx_run(m, ctx, 2, hs, hx, hy, 4);
    for (int k = 0; k < 4; k++)
        ck_assert_float_eq_tol(hy[k], hx[k] * fmin(fmax(hx[k] / 6.0 + 0.5, 0), 1) + c[k], 1e-6);
    graft_model_free(m);
    tu_mb_free(&b);

    /* Pad, then the Conv's weight as a Constant node, then Conv: one conv2d
     * with the padding. */
    const int64_t pxd[4] = {-1, 1, 3, 3}, pwd[4] = {1, 1, 3, 3}, pd[1] = {8};
    const int64_t pads[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    float pw[9], px[9], py[9], pwant[9];
    tu_fill_ramp(pw, 9, -0.4f, 0.1f);
    tu_fill_ramp(px, 9, 1, 1);
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, pxd);
    tu_mb_init_i64(&b, "pads", 1, pd, pads);
    tu_mb_simple(&b, "Pad", "pad", "x,pads", "xp");
    n = tu_mb_node(&b, "Constant", "conv/weight", NULL, "w");
    tu_mb_attr_tensor_f(&b, "value", 4, pwd, pw);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Conv", "conv", "xp,w", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    static const char *const conv[] = {"conv2d"};
    tu_assert_kinds(m, conv, 1);
    int oh, ow;
    ref_conv(px, 1, 1, 3, 3, pw, NULL, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, pwant, &oh, &ow);
    ck_assert_int_eq(oh * ow, 9);
    const int64_t pxs[4] = {1, 1, 3, 3};
    tu_onnx_run(m, ctx, 4, pxs, px, py, 9);
    tu_assert_close(py, pwant, 9, 1e-5f, 1e-5f, "pad, constant weight, conv");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- softmax and pad --------------------------------------------------------------- */

/* A Softmax that produces the graph output is dropped (the model outputs
 * logits) unless keep_softmax is set. Before opset 13 the softmax runs over
 * the flattened trailing axes. */
START_TEST(test_softmax)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 2, 2}, xs[3] = {1, 2, 2};
    const float x[4] = {0, 1, 2, 3};
    float y[4];
    for (int opset = 11; opset <= 13; opset += 2) {
        for (int keep = 0; keep <= 1; keep++) {
            tu_mb b;
            tu_mb_begin(&b, ctx, opset);
            tu_mb_input(&b, "x", 3, xd);
            tu_mb_simple(&b, "Relu", "relu", "x", "r");
            size_t n = tu_mb_node(&b, "Softmax", "prob", "r", "y");
            tu_mb_attr_i(&b, "axis", 1);
            tu_mb_end(&b, n);
            tu_mb_output(&b, "y");
            tu_mb_finish(&b);
            graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
            o.keep_softmax = keep;
            graft_model *m = tu_onnx_import_ok(&b, &o);
            tu_onnx_run(m, ctx, 3, xs, x, y, 4);
            if (!keep) {
                ck_assert_int_eq(graft_model_layer_count(m), 1);
                tu_assert_close(y, x, 4, 0, 0, "logits");
            } else if (opset == 13) {
                /* over axis 1: (0, 2) and (1, 3) */
                ck_assert_int_eq(graft_model_layer_count(m), 2);
                float e = 1 / (1 + expf(2));
                const float want[4] = {e, e, 1 - e, 1 - e};
                tu_assert_close(y, want, 4, 1e-6f, 1e-6f, "softmax axis 1");
            } else {
                /* over the 4 flattened values */
                static const char *const kinds[] = {"relu", "flatten", "softmax", "reshape"};
                tu_assert_kinds(m, kinds, 4);
                double s = 1 + exp(1) + exp(2) + exp(3);
                for (int k = 0; k < 4; k++) ck_assert_float_eq_tol(y[k], exp(k) / s, 1e-6);
            }
            graft_model_free(m);
            tu_mb_free(&b);
        }
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Pad modes, hand-computed on a 2x3 plane padded left 2 and bottom 1. */
START_TEST(test_pad_modes)
{
    graft_ctx *ctx = tu_ctx();
    static const char *const modes[3] = {"constant", "reflect", "edge"};
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const int64_t xd[4] = {-1, 1, 2, 3}, xs[4] = {1, 1, 2, 3}, ys[4] = {1, 1, 3, 5};
    const float want[3][15] = {
        {7, 7, 1, 2, 3, 7, 7, 4, 5, 6, 7, 7, 7, 7, 7},
        {3, 2, 1, 2, 3, 6, 5, 4, 5, 6, 3, 2, 1, 2, 3},
        {1, 1, 1, 2, 3, 4, 4, 4, 5, 6, 4, 4, 4, 5, 6},
    };
    float y[15];
    for (int mode = 0; mode < 3; mode++) {
        tu_mb b;
        tu_mb_begin(&b, ctx, 6); /* attribute form */
        tu_mb_input(&b, "x", 4, xd);
        size_t n = tu_mb_node(&b, "Pad", "pad", "x", "y");
        const int64_t pads[8] = {0, 0, 0, 2, 0, 0, 1, 0};
        tu_mb_attr_ints(&b, "pads", 8, pads);
        tu_mb_attr_s(&b, "mode", modes[mode]);
        tu_mb_attr_f(&b, "value", 7);
        tu_mb_end(&b, n);
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "pad2d");
        tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, 15), 4, ys);
        tu_assert_close(y, want[mode], 15, 0, 0, modes[mode]);
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Pad of axes other than the last two: channels-last x (N, H 2, W 3, C 2) =
 * 1 .. 12 padded before H, after W and before C to (N, 3, 4, 3) runs H and W
 * through a pad2d layer between two transpose layers, then C (last) in
 * place; constant 0 and edge, batched and as a one-sample graph. */
START_TEST(test_pad_channels_last)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t pd[1] = {8}, pads[8] = {0, 1, 0, 1, 0, 0, 1, 0}, xs[4] = {1, 2, 3, 2};
    const int64_t ys[4] = {1, 3, 4, 3};
    float x[12], y[36];
    tu_fill_ramp(x, 12, 1, 1);
    const float want[2][36] = {
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 3, 4, 0, 5, 6, 0, 0, 0,
         0, 7, 8, 0, 9, 10, 0, 11, 12, 0, 0, 0},
        {1, 1, 2, 3, 3, 4, 5, 5, 6, 5, 5, 6, 1, 1, 2, 3, 3, 4, 5, 5, 6, 5, 5, 6,
         7, 7, 8, 9, 9, 10, 11, 11, 12, 11, 11, 12},
    };
    static const char *const kinds[4] = {"transpose", "pad2d", "transpose", "pad2d"};
    for (int k = 0; k < 4; k++) { /* constant, edge, one sample; the batch axis */
        const int64_t xd[4] = {k == 2 ? 1 : -1, 2, 3, 2};
        graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
        o.batch_axis = k != 2;
        tu_mb b;
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 4, xd);
        int64_t p[8];
        memcpy(p, pads, sizeof p);
        if (k == 3) p[0] = 1;
        tu_mb_init_i64(&b, "pads", 1, pd, p);
        size_t n = tu_mb_node(&b, "Pad", "pad", "x,pads", "y");
        tu_mb_attr_s(&b, "mode", k == 1 ? "edge" : "constant");
        tu_mb_end(&b, n);
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        if (k == 3) {
            graft_model *m;
            ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_UNSUPPORTED);
            ck_assert_str_eq(graft_errmsg(ctx), FN "node \"pad\" (Pad): it pads the batch axis; "
                                                   "graft pads the axes after it");
            tu_mb_free(&b);
            break;
        }
        graft_model *m = tu_onnx_import_ok(&b, &o);
        tu_assert_kinds(m, kinds, 4);
        const int64_t xs1[5] = {1, 1, 2, 3, 2}, ys1[5] = {1, 1, 3, 4, 3};
        tu_assert_dims(tu_onnx_run(m, ctx, k == 2 ? 5 : 4, k == 2 ? xs1 : xs, x, y, 36),
                       k == 2 ? 5 : 4, k == 2 ? ys1 : ys);
        tu_assert_close(y, want[k == 1], 36, 0, 0, "channels-last pad");
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- batch norm folded into the convolution for inference ---------------------------- */

/* Conv (2 -> 3 channels, 3x3, pads 1) -> BatchNormalization -> act, x
 * (N, 2, 4, 5): act "Relu" or "HardSwish" (the fused epilogue covers them)
 * or "Sigmoid" (it does not: conv and batch norm fuse, the activation runs
 * alone). */
static graft_model *conv_bn_model(graft_ctx *ctx, tu_mb *b, const char *act, float *w,
                                  float *bias, float *bn)
{
    const int64_t xd[4] = {-1, 2, 4, 5}, wd[4] = {3, 2, 3, 3}, cd[1] = {3}, pads[4] = {1, 1, 1, 1};
    tu_fill_ramp(w, 54, -0.8f, 0.031f);
    tu_fill_ramp(bias, 3, -0.2f, 0.15f);
    const float scale[3] = {1.5f, 0.7f, -0.9f}, shift[3] = {0.1f, -0.3f, 0.25f},
                mean[3] = {0.2f, -0.1f, 0.05f}, var[3] = {0.8f, 1.3f, 0.4f};
    memcpy(bn, scale, sizeof scale);
    memcpy(bn + 3, shift, sizeof shift);
    memcpy(bn + 6, mean, sizeof mean);
    memcpy(bn + 9, var, sizeof var);
    tu_mb_begin(b, ctx, 14);
    tu_mb_input(b, "x", 4, xd);
    tu_mb_init(b, "W", 4, wd, w);
    tu_mb_init(b, "B", 1, cd, bias);
    tu_mb_init(b, "s", 1, cd, scale);
    tu_mb_init(b, "t", 1, cd, shift);
    tu_mb_init(b, "m", 1, cd, mean);
    tu_mb_init(b, "v", 1, cd, var);
    size_t n = tu_mb_node(b, "Conv", "conv", "x,W,B", "c");
    tu_mb_attr_ints(b, "pads", 4, pads);
    tu_mb_end(b, n);
    n = tu_mb_node(b, "BatchNormalization", "bn", "c,s,t,m,v", "n");
    tu_mb_attr_f(b, "epsilon", 1e-3f);
    tu_mb_end(b, n);
    tu_mb_simple(b, act, "act", "n", "y");
    tu_mb_output(b, "y");
    tu_mb_finish(b);
    return tu_onnx_import_ok(b, NULL);
}

/* The imported model's inference forward runs the convolution with the
 * batch norm (and relu) folded in (node->fused, set by the forward that
 * took the fused path), and gives the unfused forward's values (fusion
 * off) and a naive reference's to 1e-5 (relu and hard_swish join the
 * fused group, sigmoid runs after it). In training mode the batch norm
 * runs as its own layer (its output computed, its running statistics
 * updated from the batch); back in inference mode it is folded again. */
START_TEST(test_conv_batch_norm_fused_for_inference)
{
    graft_ctx *ctx = tu_ctx();
    enum { NX = 2 * 2 * 4 * 5, NY = 2 * 3 * 4 * 5 };
    const int64_t xs[4] = {2, 2, 4, 5};
    float w[54], bias[3], bn[12], x[NX], want[NY], conv[NY];
    tu_fill_ramp(x, NX, -2.0f, 0.05f);
    static const char *const ops[3] = {"Relu", "HardSwish", "Sigmoid"},
                             *acts[3] = {"relu", "hard_swish", "sigmoid"};
    for (int a = 0; a < 3; a++) {
        tu_mb b;
        graft_model *m = conv_bn_model(ctx, &b, ops[a], w, bias, bn);
        const char *const kinds[3] = {"conv2d", "batch_norm", acts[a]};
        tu_assert_kinds(m, kinds, 3);
        int oh, ow;
        ref_conv(x, 2, 2, 4, 5, w, bias, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, conv, &oh, &ow);
        for (int k = 0; k < NY; k++) {
            int ch = k / (oh * ow) % 3;
            double v = bn[ch] * (conv[k] - bn[6 + ch]) / sqrt(bn[9 + ch] + 1e-3) + bn[3 + ch];
            want[k] = (float)(a == 0   ? fmax(v, 0.0)
                              : a == 1 ? v * fmin(fmax(v + 3, 0), 6) / 6
                                       : 1 / (1 + exp(-v)));
        }
        graft_tensor *xt = tu_tensor_from(ctx, 4, xs, x);
        const graft_tensor *y = NULL;
        float fused[NY];
        /* inference: fused */
        ck_assert_int_eq(graft_model_forward(m, xt, &y), GRAFT_OK);
        ck_assert_int_eq(m->nodes[0].fused, a < 2 ? 2 : 1);
        /* the convolution's own output was never written */
        ck_assert_int_eq(m->nodes[0].layer->forward_done, 0);
        memcpy(fused, graft_tensor_data_const(y), sizeof fused);
        tu_assert_close(fused, want, NY, 1e-5f, 1e-5f, "fused against the reference");
        /* the same model unfused */
        m->fusion = 0;
        ck_assert_int_eq(graft_model_forward(m, xt, &y), GRAFT_OK);
        ck_assert_int_eq(m->nodes[0].fused, 0);
        ck_assert_int_eq(m->nodes[0].layer->forward_done, 1);
        tu_assert_close(graft_tensor_data_const(y), fused, NY, 1e-5f, 1e-5f, "unfused");
        m->fusion = 1;
        /* training mode: the batch norm is a layer of its own, on batch statistics */
        graftModelSetMode(m, 1);
        ck_assert_int_eq(graftModelForward(m, xt, &y), GRAFT_OK);
        ck_assert_int_eq(m->nodes[0].fused, 0);
        ck_assert_int_eq(m->nodes[1].layer->forward_done, 1);
        const graftParam *rm = graftLayerFindParam(m->nodes[1].layer, "running_mean");
        ck_assert_ptr_nonnull(rm);
        for (int c = 0; c < 3; c++) ck_assert_float_ne(rm->value->data[c], bn[6 + c]);
        /* and inference again: folded */
        graftModelSetMode(m, 0);
        ck_assert_int_eq(graft_model_forward(m, xt, &y), GRAFT_OK);
        ck_assert_int_eq(m->nodes[0].fused, a < 2 ? 2 : 1);
        graft_tensor_free(xt);
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_ops_nn(void)
{
    Suite *s = suite_create("onnx_ops_nn");
    TCase *tc = tcase_create("nn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conv_groups_dilations_pads);
    tcase_add_test(tc, test_conv_auto_pad);
    tcase_add_test(tc, test_conv_pad_folding_and_1d);
    tcase_add_test(tc, test_conv_transpose);
    tcase_add_test(tc, test_batch_norm);
    tcase_add_test(tc, test_conv_batch_norm_fused_for_inference);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_hard_sigmoid_mul_fusion);
    tcase_add_test(tc, test_pooling);
    tcase_add_test(tc, test_gemm_and_matmul);
    tcase_add_test(tc, test_fusions_ignore_node_order);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_seq_layernorm_linear_fixture);
    tcase_add_test(tc, test_seq_attention_fixture);
    tcase_add_test(tc, test_seq_attention_transposed_key_fixture);
    tcase_add_test(tc, test_layer_normalization);
    tcase_add_test(tc, test_layer_norm_decomposed_fusion);
    tcase_add_test(tc, test_matmul_of_activations);
    tcase_add_test(tc, test_softmax_any_axis);
    tcase_add_test(tc, test_pad_modes);
    tcase_add_test(tc, test_pad_channels_last);
    suite_add_tcase(s, tc);
    return s;
}
