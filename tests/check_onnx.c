/*
 * check_onnx.c - ONNX import and export (src/onnx_import.c, src/onnx_export.c,
 * src/onnx_pb.c).
 *
 * Small models are built here with graft's protobuf writer (a few helpers
 * below turn nodes, attributes, initializers and value infos into a
 * ModelProto), imported, and run; expected values are computed by hand or by
 * a naive loop written here independently of graft's layers. Hostile inputs
 * (every truncation, random bytes, lengths past the end, absurd dimensions,
 * deep nesting) must fail with clear messages and bounded memory. Whole
 * networks exported by PyTorch (tests/data/onnx, made by
 * tests/make_onnx_fixtures.py) must reproduce PyTorch's outputs to 1e-4.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GRAFT_TEST_DATA "tests/data"
#define FN "graft_onnx_import_buffer(): "

/* ---- a ModelProto builder -------------------------------------------------------- */

typedef struct mb {
    graft_ctx *ctx;
    graftWriter w;
    size_t graph;
} mb;

static void mb_begin(mb *b, graft_ctx *ctx, int64_t opset)
{
    b->ctx = ctx;
    graftWriterInit(&b->w, ctx);
    graftPbWriteInt(&b->w, 1, 7);               /* ModelProto.ir_version */
    graftPbWriteString(&b->w, 2, "check_onnx"); /* producer_name */
    size_t os = graftPbBeginMessage(&b->w, 8);  /* opset_import */
    graftPbWriteString(&b->w, 1, "");
    graftPbWriteInt(&b->w, 2, opset);
    graftPbEndMessage(&b->w, os);
    b->graph = graftPbBeginMessage(&b->w, 7);
    graftPbWriteString(&b->w, 2, "test_graph");
}

/* A graph input (field 11) or output (12) of element type elem; ndim -1
 * writes no shape; a negative size writes the symbolic "N". */
static void mb_value(mb *b, int field, const char *name, int elem, int ndim, const int64_t *dims)
{
    size_t vi = graftPbBeginMessage(&b->w, (uint32_t)field);
    graftPbWriteString(&b->w, 1, name);
    size_t tp = graftPbBeginMessage(&b->w, 2);
    size_t tt = graftPbBeginMessage(&b->w, 1);
    graftPbWriteInt(&b->w, 1, elem);
    if (ndim >= 0) {
        size_t sh = graftPbBeginMessage(&b->w, 2);
        for (int d = 0; d < ndim; d++) {
            size_t dm = graftPbBeginMessage(&b->w, 1);
            if (dims[d] < 0) graftPbWriteString(&b->w, 2, "N");
            else graftPbWriteInt(&b->w, 1, dims[d]);
            graftPbEndMessage(&b->w, dm);
        }
        graftPbEndMessage(&b->w, sh);
    }
    graftPbEndMessage(&b->w, tt);
    graftPbEndMessage(&b->w, tp);
    graftPbEndMessage(&b->w, vi);
}

static void mb_input(mb *b, const char *name, int ndim, const int64_t *dims)
{
    mb_value(b, 11, name, ONNX_FLOAT, ndim, dims);
}

static void mb_output(mb *b, const char *name) { mb_value(b, 12, name, ONNX_FLOAT, -1, NULL); }

/* TensorProto fields: dims, data_type, name, raw_data. */
static void tensor_body(graftWriter *w, const char *name, int type, int ndim, const int64_t *dims,
                        const float *f, const int64_t *i)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        graftPbWriteInt(w, 1, dims[d]);
        n *= (size_t)dims[d];
    }
    graftPbWriteInt(w, 2, type);
    if (name) graftPbWriteString(w, 8, name);
    graftPbWriteTag(w, 9, PB_LEN);
    graftPbWriteVarint(w, n * (f ? 4 : 8));
    for (size_t k = 0; k < n; k++) {
        if (f) graftWriteF32(w, f[k]);
        else graftWriteI64(w, i[k]);
    }
}

static void mb_init(mb *b, const char *name, int ndim, const int64_t *dims, const float *v)
{
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, name, ONNX_FLOAT, ndim, dims, v, NULL);
    graftPbEndMessage(&b->w, t);
}

static void mb_init_i64(mb *b, const char *name, int ndim, const int64_t *dims, const int64_t *v)
{
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, name, ONNX_INT64, ndim, dims, NULL, v);
    graftPbEndMessage(&b->w, t);
}

/* Starts a node; ins and outs are comma-separated ("x,,max" leaves input 1
 * empty). name may be NULL. Finish with mb_end(). */
static size_t mb_node(mb *b, const char *op, const char *name, const char *ins, const char *outs)
{
    size_t n = graftPbBeginMessage(&b->w, 1);
    for (int field = 1; field <= 2; field++) {
        const char *p = field == 1 ? ins : outs;
        while (p && *p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            graftPbWriteBytes(&b->w, (uint32_t)field, p, len);
            if (!comma) break;
            p = comma + 1;
            if (!*p) graftPbWriteBytes(&b->w, (uint32_t)field, "", 0);
        }
    }
    if (name) graftPbWriteString(&b->w, 3, name);
    graftPbWriteString(&b->w, 4, op);
    return n;
}

static void mb_end(mb *b, size_t pos) { graftPbEndMessage(&b->w, pos); }

/* A whole node without attributes. */
static void mb_simple(mb *b, const char *op, const char *name, const char *ins, const char *outs)
{
    mb_end(b, mb_node(b, op, name, ins, outs));
}

static void mb_attr_i(mb *b, const char *name, int64_t v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_INT);
    graftPbWriteInt(&b->w, 3, v);
    graftPbEndMessage(&b->w, a);
}

static void mb_attr_f(mb *b, const char *name, float v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_FLOAT);
    graftPbWriteFloat(&b->w, 2, v);
    graftPbEndMessage(&b->w, a);
}

static void mb_attr_ints(mb *b, const char *name, int n, const int64_t *v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_INTS);
    for (int k = 0; k < n; k++) graftPbWriteInt(&b->w, 8, v[k]);
    graftPbEndMessage(&b->w, a);
}

static void mb_attr_s(mb *b, const char *name, const char *s)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_STRING);
    graftPbWriteString(&b->w, 4, s);
    graftPbEndMessage(&b->w, a);
}

static void mb_attr_tensor_i64(mb *b, const char *name, int ndim, const int64_t *dims,
                               const int64_t *v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_TENSOR);
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, NULL, ONNX_INT64, ndim, dims, NULL, v);
    graftPbEndMessage(&b->w, t);
    graftPbEndMessage(&b->w, a);
}

static void mb_attr_tensor_f(mb *b, const char *name, int ndim, const int64_t *dims,
                             const float *v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_TENSOR);
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, NULL, ONNX_FLOAT, ndim, dims, v, NULL);
    graftPbEndMessage(&b->w, t);
    graftPbEndMessage(&b->w, a);
}

/* Ends the graph; the bytes are b->w.data, b->w.size. */
static void mb_finish(mb *b)
{
    graftPbEndMessage(&b->w, b->graph);
    ck_assert_int_eq(b->w.status, GRAFT_OK);
}

static void mb_free(mb *b) { graftWriterDispose(&b->w); }

/* ---- running imported models ----------------------------------------------------- */

static int try_import(mb *b, const graft_onnx_import_opts *o, graft_model **m)
{
    return graft_onnx_import_buffer(b->ctx, b->w.data, b->w.size, o, m);
}

static graft_model *import_ok(mb *b, const graft_onnx_import_opts *o)
{
    graft_model *m = NULL;
    int st = try_import(b, o, &m);
    ck_assert_msg(st == GRAFT_OK, "import failed (%d): %s", st, graft_errmsg(b->ctx));
    return m;
}

/* Runs m on x (ndim, dims, data) and copies the output (n floats expected)
 * into y; returns the output tensor for shape checks (borrowed). */
static const graft_tensor *run(graft_model *m, graft_ctx *ctx, int ndim, const int64_t *dims,
                               const float *x, float *y, size_t n)
{
    graft_tensor *xt = tu_tensor_from(ctx, ndim, dims, x);
    const graft_tensor *yt = NULL;
    ck_assert_msg(graft_model_forward(m, xt, &yt) == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_tensor_free(xt);
    ck_assert_uint_eq(graft_tensor_numel(yt), n);
    memcpy(y, graft_tensor_data_const(yt), n * sizeof *y);
    return yt;
}

static void assert_dims(const graft_tensor *t, int ndim, const int64_t *dims)
{
    ck_assert_int_eq(graft_tensor_ndim(t), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(graft_tensor_dim(t, d), dims[d]);
}

static void assert_kinds(graft_model *m, const char *const *kinds, int n)
{
    ck_assert_int_eq(graft_model_layer_count(m), n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, i)), kinds[i]);
}

static void fill_ramp(float *v, size_t n, float start, float step)
{
    for (size_t k = 0; k < n; k++) v[k] = start + step * (float)k;
}

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
    fill_ramp(w, 72, -0.7f, 0.021f);
    fill_ramp(bias, 6, -0.3f, 0.1f);
    for (int k = 0; k < 2 * 4 * 6 * 7; k++) x[k] = sinf(0.37f * (float)k);
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 4, xd);
    mb_init(&b, "w", 4, wd, w);
    mb_init(&b, "b", 1, bd, bias);
    size_t n = mb_node(&b, "Conv", "conv", "x,w,b", "y");
    const int64_t pads[4] = {1, 0, 2, 1}, dil[2] = {2, 2}, str[2] = {1, 2}, ks[2] = {3, 2};
    mb_attr_ints(&b, "pads", 4, pads);
    mb_attr_ints(&b, "dilations", 2, dil);
    mb_attr_ints(&b, "strides", 2, str);
    mb_attr_ints(&b, "kernel_shape", 2, ks);
    mb_attr_i(&b, "group", 2);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    static const char *const kinds[] = {"conv2d"};
    assert_kinds(m, kinds, 1);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "conv");
    int oh, ow;
    ref_conv(x, 2, 4, 6, 7, w, bias, 6, 2, 3, 2, 1, 2, 2, 2, 1, 0, 2, 1, want, &oh, &ow);
    /* (6 + 1 + 2 - 5) / 1 + 1 = 5 rows; (7 + 0 + 1 - 3) / 2 + 1 = 3 columns */
    ck_assert_int_eq(oh, 5);
    ck_assert_int_eq(ow, 3);
    const int64_t xs[4] = {2, 4, 6, 7}, ys[4] = {2, 6, 5, 3};
    assert_dims(run(m, ctx, 4, xs, x, y, 180), 4, ys);
    tu_assert_close(y, want, 180, 1e-5f, 1e-5f, "conv output");
    graft_model_free(m);
    mb_free(&b);
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
    fill_ramp(x, 25, 1, 1);
    for (int mode = 0; mode < 3; mode++) {
        mb b;
        mb_begin(&b, ctx, 11);
        mb_input(&b, "x", 4, xd);
        mb_init(&b, "w", 4, wd, w);
        size_t n = mb_node(&b, "Conv", NULL, "x,w", "y");
        const int64_t str[2] = {2, 2};
        mb_attr_ints(&b, "strides", 2, str);
        mb_attr_s(&b, "auto_pad", modes[mode]);
        mb_end(&b, n);
        mb_output(&b, "y");
        mb_finish(&b);
        graft_model *m = import_ok(&b, NULL);
        int oh, ow, p0 = pads[mode][0], p1 = pads[mode][1];
        ref_conv(x, 1, 1, 5, 5, w, NULL, 1, 1, 2, 2, 2, 2, 1, 1, p0, p0, p1, p1, want, &oh, &ow);
        ck_assert_int_eq(oh, outs[mode]);
        size_t cnt = (size_t)(oh * ow);
        run(m, ctx, 4, xd, x, y, cnt);
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
        mb_free(&b);
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
    fill_ramp(w, 54, -0.5f, 0.02f);
    fill_ramp(x, 32, -1.0f, 0.0625f);
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 4, xd);
    mb_init(&b, "w", 4, wd, w);
    mb_init_i64(&b, "pads", 1, pd, pads);
    mb_simple(&b, "Pad", "pad", "x,pads", "xp");
    size_t n = mb_node(&b, "Conv", "conv", "xp,w", "y");
    const int64_t cp[4] = {1, 0, 0, 0};
    mb_attr_ints(&b, "pads", 4, cp);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    static const char *const kinds[] = {"conv2d"};
    assert_kinds(m, kinds, 1);
    int oh, ow;
    /* pads: top 1 (Pad) + 1 (Conv), left 2, bottom 2, right 1 */
    ref_conv(x, 1, 2, 4, 4, w, NULL, 3, 1, 3, 3, 1, 1, 1, 1, 2, 2, 2, 1, want, &oh, &ow);
    /* (4 + 2 + 2 - 3) + 1 = 6 rows, (4 + 2 + 1 - 3) + 1 = 5 columns */
    ck_assert_int_eq(oh, 6);
    ck_assert_int_eq(ow, 5);
    const int64_t xs[4] = {1, 2, 4, 4};
    run(m, ctx, 4, xs, x, y, 90);
    tu_assert_close(y, want, 90, 1e-5f, 1e-5f, "conv after folded pad");
    graft_model_free(m);
    mb_free(&b);

    /* 1-D: x (N, 2, 6), w (1, 2, 3), pads 1 and 1, stride 2 -> (N, 1, 3). */
    const int64_t x1[3] = {-1, 2, 6}, w1d[3] = {1, 2, 3};
    float w1[6] = {1, 0, -1, 2, 1, 0}, xv[12], y1[3];
    fill_ramp(xv, 12, 1, 1);
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 3, x1);
    mb_init(&b, "w", 3, w1d, w1);
    n = mb_node(&b, "Conv", "c1", "x,w", "y");
    const int64_t p1[2] = {1, 1}, s1[1] = {2};
    mb_attr_ints(&b, "pads", 2, p1);
    mb_attr_ints(&b, "strides", 1, s1);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    m = import_ok(&b, NULL);
    static const char *const kinds1[] = {"reshape", "conv2d", "reshape"};
    assert_kinds(m, kinds1, 3);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "c1/to2d");
    ck_assert_str_eq(graft_model_layer_name(m, 1), "c1");
    ck_assert_str_eq(graft_model_layer_name(m, 2), "c1/to1d");
    const int64_t xs1[3] = {1, 2, 6}, ys1[3] = {1, 1, 3};
    assert_dims(run(m, ctx, 3, xs1, xv, y1, 3), 3, ys1);
    /* channel 0 = 1..6, channel 1 = 7..12, both padded with a zero each side.
     * out[0] (positions -1, 0, 1): 0*1 + 1*0 + 2*-1 + 0*2 + 7*1 + 8*0 = 5
     * out[1] (1, 2, 3): 2 - 4 + 16 + 9 = 23;  out[2] (3, 4, 5): 4 - 6 + 20 + 11 = 29 */
    const float want1[3] = {5, 23, 29};
    tu_assert_close(y1, want1, 3, 1e-6f, 0, "1-D conv");
    graft_model_free(m);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- batch norm and activations ----------------------------------------------------- */

START_TEST(test_batch_norm)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, 1, 2}, cd[1] = {2};
    const float scale[2] = {2, 0.5f}, bias[2] = {1, -1}, mean[2] = {0.5f, -2}, var[2] = {3, 0.25f};
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 4, xd);
    mb_init(&b, "s", 1, cd, scale);
    mb_init(&b, "b", 1, cd, bias);
    mb_init(&b, "m", 1, cd, mean);
    mb_init(&b, "v", 1, cd, var);
    size_t n = mb_node(&b, "BatchNormalization", "bn", "x,s,b,m,v", "y");
    mb_attr_f(&b, "epsilon", 1.0f);
    mb_attr_f(&b, "momentum", 0.75f);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    static const char *const kinds[] = {"batch_norm"};
    assert_kinds(m, kinds, 1);
    const float x[4] = {2.5f, -1.5f, -2, -1};
    float y[4];
    const int64_t xs[4] = {1, 2, 1, 2};
    run(m, ctx, 4, xs, x, y, 4);
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
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A one-node model y = op(x) on x of shape (N, 6), with optional extra
 * initializer inputs "lo" and "hi" (scalars) and attributes added by fn. */
typedef void (*attr_fn)(mb *b);

static graft_model *unary_model(graft_ctx *ctx, mb *b, int opset, const char *op, const char *ins,
                                attr_fn fn)
{
    const int64_t xd[2] = {-1, 6}, sd[1] = {0};
    const float lo = 0.0f, hi = 6.0f;
    mb_begin(b, ctx, opset);
    mb_input(b, "x", 2, xd);
    if (strstr(ins, "lo")) mb_init(b, "lo", 0, sd, &lo);
    if (strstr(ins, "hi")) mb_init(b, "hi", 0, sd, &hi);
    size_t n = mb_node(b, op, op, ins, "y");
    if (fn) fn(b);
    mb_end(b, n);
    mb_output(b, "y");
    mb_finish(b);
    return import_ok(b, NULL);
}

static void alpha_02(mb *b) { mb_attr_f(b, "alpha", 0.25f); }
static void clip_attrs(mb *b)
{
    mb_attr_f(b, "min", -1.0f);
    mb_attr_f(b, "max", 2.0f);
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
        mb b;
        graft_model *m = unary_model(ctx, &b, cases[c].opset, cases[c].op, cases[c].ins,
                                     cases[c].fn);
        ck_assert_int_eq(graft_model_layer_count(m), 1);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), cases[c].kind);
        run(m, ctx, 2, xs, x, y, 6);
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
        mb_free(&b);
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
        mb b;
        mb_begin(&b, ctx, 13);
        mb_input(&b, "x", 2, xd);
        size_t n = mb_node(&b, "HardSigmoid", "hs", "x", "h");
        mb_attr_f(&b, "alpha", fused ? 1.0f / 6.0f : 0.2f);
        mb_end(&b, n);
        mb_simple(&b, "Mul", "act/mul", "x,h", "y");
        mb_output(&b, "y");
        mb_finish(&b);
        graft_model *m = import_ok(&b, NULL);
        if (fused) {
            static const char *const kinds[] = {"hard_swish"};
            assert_kinds(m, kinds, 1);
            ck_assert_str_eq(graft_model_layer_name(m, 0), "act/mul");
        } else {
            static const char *const kinds[] = {"hard_sigmoid", "mul"};
            assert_kinds(m, kinds, 2);
        }
        run(m, ctx, 2, xs, x, y, 4);
        for (int k = 0; k < 4; k++) {
            double a = fused ? 1.0 / 6.0 : 0.2;
            ck_assert_float_eq_tol(y[k], x[k] * fmin(fmax(a * x[k] + 0.5, 0), 1), 1e-6);
        }
        graft_model_free(m);
        mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Constant nodes in their forms (a value tensor, value_float, value_ints)
 * feed Clip's bounds and a Reshape's shape. */
START_TEST(test_constant_nodes)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 4}, xs[2] = {1, 4}, target[3] = {0, 2, 2};
    const float lo = -1.0f;
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    size_t n = mb_node(&b, "Constant", "lo", "", "lo");
    mb_attr_tensor_f(&b, "value", 0, NULL, &lo);
    mb_end(&b, n);
    n = mb_node(&b, "Constant", "hi", "", "hi");
    mb_attr_f(&b, "value_float", 2.0f);
    mb_end(&b, n);
    n = mb_node(&b, "Constant", "shape", "", "shape");
    mb_attr_ints(&b, "value_ints", 3, target);
    mb_end(&b, n);
    mb_simple(&b, "Clip", "clip", "x,lo,hi", "c");
    mb_simple(&b, "Reshape", "square", "c,shape", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    static const char *const kinds[] = {"clip", "reshape"};
    assert_kinds(m, kinds, 2);
    const float x[4] = {-3, 0.5f, 1.5f, 9};
    const float want[4] = {-1, 0.5f, 1.5f, 2};
    float y[4];
    const int64_t ys[3] = {1, 2, 2};
    assert_dims(run(m, ctx, 2, xs, x, y, 4), 3, ys);
    tu_assert_close(y, want, 4, 0, 0, "clip by constants");
    graft_model_free(m);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- pooling --------------------------------------------------------------------- */

static graft_model *pool_model(graft_ctx *ctx, mb *b, const char *op, int cip, int ceil_mode)
{
    const int64_t xd[4] = {-1, 1, 3, 3};
    mb_begin(b, ctx, 13);
    mb_input(b, "x", 4, xd);
    size_t n = mb_node(b, op, "pool", "x", "y");
    if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) {
        const int64_t ks[2] = {2, 2}, pads[4] = {1, 1, 0, 0}, st[2] = {2, 2};
        mb_attr_ints(b, "kernel_shape", 2, ks);
        mb_attr_ints(b, "pads", 4, pads);
        mb_attr_ints(b, "strides", 2, st);
        mb_attr_i(b, "count_include_pad", cip);
        mb_attr_i(b, "ceil_mode", ceil_mode);
    }
    mb_end(b, n);
    mb_output(b, "y");
    mb_finish(b);
    return import_ok(b, NULL);
}

START_TEST(test_pooling)
{
    graft_ctx *ctx = tu_ctx();
    /* x = 1 2 3 / 4 5 6 / 7 8 9, pads top and left 1, kernel 2, stride 2:
     * windows cover rows {-1,0} or {1,2} and columns {-1,0} or {1,2}. */
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const int64_t xs[4] = {1, 1, 3, 3}, ys[4] = {1, 1, 2, 2};
    float y[4];
    mb b;
    graft_model *m = pool_model(ctx, &b, "MaxPool", 0, 0);
    assert_dims(run(m, ctx, 4, xs, x, y, 4), 4, ys);
    const float want_max[4] = {1, 3, 7, 9};
    tu_assert_close(y, want_max, 4, 0, 0, "max pool");
    graft_model_free(m);
    mb_free(&b);
    /* Average over the covered cells: 1; (2+3)/2; (4+7)/2; (5+6+8+9)/4. */
    m = pool_model(ctx, &b, "AveragePool", 0, 0);
    run(m, ctx, 4, xs, x, y, 4);
    const float want_avg[4] = {1, 2.5f, 5.5f, 7};
    tu_assert_close(y, want_avg, 4, 1e-6f, 0, "average pool");
    graft_model_free(m);
    mb_free(&b);
    /* count_include_pad divides by the whole window: 1/4, 5/4, 11/4, 28/4. */
    m = pool_model(ctx, &b, "AveragePool", 1, 0);
    run(m, ctx, 4, xs, x, y, 4);
    const float want_cip[4] = {0.25f, 1.25f, 2.75f, 7};
    tu_assert_close(y, want_cip, 4, 1e-6f, 0, "average pool with count_include_pad");
    graft_model_free(m);
    mb_free(&b);
    /* Global pools: the mean 5 and the maximum 9. */
    m = pool_model(ctx, &b, "GlobalAveragePool", 0, 0);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "global_avg_pool");
    run(m, ctx, 4, xs, x, y, 1);
    ck_assert_float_eq_tol(y[0], 5, 1e-6);
    graft_model_free(m);
    mb_free(&b);
    m = pool_model(ctx, &b, "GlobalMaxPool", 0, 0);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "max_pool2d");
    run(m, ctx, 4, xs, x, y, 1);
    ck_assert_float_eq(y[0], 9);
    graft_model_free(m);
    mb_free(&b);

    /* ReduceMean over axes 2, 3 without keepdims: global_avg_pool + reshape. */
    const int64_t xd[4] = {-1, 2, 2, 2}, axes[2] = {-1, 2};
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 4, xd);
    size_t n = mb_node(&b, "ReduceMean", "mean", "x", "y");
    mb_attr_ints(&b, "axes", 2, axes);
    mb_attr_i(&b, "keepdims", 0);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    m = import_ok(&b, NULL);
    static const char *const kinds[] = {"global_avg_pool", "reshape"};
    assert_kinds(m, kinds, 2);
    const float x8[8] = {1, 2, 3, 4, 10, 20, 30, 40};
    const int64_t x8s[4] = {1, 2, 2, 2}, y8s[2] = {1, 2};
    assert_dims(run(m, ctx, 4, x8s, x8, y, 2), 2, y8s);
    ck_assert_float_eq_tol(y[0], 2.5, 1e-6);
    ck_assert_float_eq_tol(y[1], 25, 1e-5);
    graft_model_free(m);
    mb_free(&b);
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
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    mb_init(&b, "B", 2, bd, bm);
    mb_init(&b, "C", 2, cd, c);
    size_t n = mb_node(&b, "Gemm", "fc", "x,B,C", "y");
    mb_attr_f(&b, "alpha", 2);
    mb_attr_f(&b, "beta", 0.5f);
    mb_attr_i(&b, "transB", 1);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    static const char *const dense[] = {"dense"};
    assert_kinds(m, dense, 1);
    const float x[4] = {1, -1, 0.5f, 2};
    float y[6];
    const int64_t xs[2] = {2, 2};
    run(m, ctx, 2, xs, x, y, 6);
    /* row (1, -1): 2 * (1 - 2, 3 - 4, 5 - 6) + (1, 2, 3) = (-1, 0, 1)
     * row (0.5, 2): 2 * (4.5, 9.5, 14.5) + (1, 2, 3) = (10, 21, 32) */
    const float want[6] = {-1, 0, 1, 10, 21, 32};
    tu_assert_close(y, want, 6, 1e-5f, 0, "gemm");
    graft_model_free(m);
    mb_free(&b);

    /* MatMul by (2, 3) then Add of a (3) bias: one dense layer with bias. */
    const int64_t wd[2] = {2, 3}, vd[1] = {3};
    const float w[6] = {1, 0, 2, -1, 1, 3}, bias[3] = {0.5f, 0.25f, -1};
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    mb_init(&b, "W", 2, wd, w);
    mb_init(&b, "bias", 1, vd, bias);
    mb_simple(&b, "MatMul", "proj", "x,W", "xw");
    mb_simple(&b, "Add", "proj_bias", "xw,bias", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    m = import_ok(&b, NULL);
    assert_kinds(m, dense, 1);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "proj");
    ck_assert_int_eq(graft_layer_param_count(graft_model_layer(m, 0)), 2);
    run(m, ctx, 2, xs, x, y, 6);
    /* (1, -1): (1 + 1, 0 - 1, 2 - 3) + bias = (2.5, -0.75, -2)
     * (0.5, 2): (0.5 - 2, 2, 1 + 6) + bias = (-1, 2.25, 6) */
    const float want2[6] = {2.5f, -0.75f, -2, -1, 2.25f, 6};
    tu_assert_close(y, want2, 6, 1e-6f, 0, "matmul + add");
    graft_model_free(m);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- elementwise ------------------------------------------------------------------ */

START_TEST(test_elementwise)
{
    graft_ctx *ctx = tu_ctx();
    /* A residual block: r = relu(x); y = (r + x) * gate, gate = sigmoid of
     * the channel means (N, C, 1, 1), then (y - 1) / 2 with constants. */
    const int64_t xd[4] = {-1, 2, 1, 2}, one[1] = {1};
    const float cone = 1.0f, ctwo = 2.0f;
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 4, xd);
    mb_init(&b, "one", 1, one, &cone);
    mb_init(&b, "two", 1, one, &ctwo);
    mb_simple(&b, "Relu", "relu", "x", "r");
    mb_simple(&b, "Add", "res", "r,x", "s");
    mb_simple(&b, "GlobalAveragePool", "gap", "x", "g");
    mb_simple(&b, "Sigmoid", "gate", "g", "gs");
    mb_simple(&b, "Mul", "scale", "s,gs", "t");
    mb_simple(&b, "Sub", "minus", "t,one", "u");
    mb_simple(&b, "Div", "half", "u,two", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    static const char *const kinds[] = {"relu", "add", "global_avg_pool", "sigmoid", "mul",
                                        "scale_shift", "scale_shift"};
    assert_kinds(m, kinds, 7);
    const float x[4] = {1, -3, 2, 4};
    const int64_t xs[4] = {1, 2, 1, 2};
    float y[4];
    run(m, ctx, 4, xs, x, y, 4);
    for (int k = 0; k < 4; k++) {
        double mean = k < 2 ? -1.0 : 3.0, gate = 1 / (1 + exp(-mean));
        double s = (x[k] > 0 ? x[k] : 0) + x[k];
        ck_assert_float_eq_tol(y[k], (s * gate - 1) / 2, 1e-6);
    }
    graft_model_free(m);
    mb_free(&b);

    /* Constant minus tensor, per-channel constants (1, C, 1) and Sum. */
    const int64_t x3[3] = {-1, 2, 3}, cd[3] = {1, 2, 1};
    const float cv[2] = {10, 20};
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 3, x3);
    mb_init(&b, "c", 3, cd, cv);
    mb_simple(&b, "Sub", "rsub", "c,x", "a");
    mb_simple(&b, "Sum", "sum", "a,x,a", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    m = import_ok(&b, NULL);
    static const char *const kinds2[] = {"scale_shift", "add"};
    assert_kinds(m, kinds2, 2);
    const float x6[6] = {1, 2, 3, 4, 5, 6};
    const int64_t x6s[3] = {1, 2, 3};
    float y6[6];
    run(m, ctx, 3, x6s, x6, y6, 6);
    /* 2 * (c - x) + x = 2c - x */
    const float want6[6] = {19, 18, 17, 36, 35, 34};
    tu_assert_close(y6, want6, 6, 1e-6f, 0, "rsub + sum");
    graft_model_free(m);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- shape operators and constant folding ------------------------------------------------ */

/* The subgraph exporters write for x.view(x.size(0), -1): Shape, Gather,
 * Unsqueeze, Concat with a constant, Cast, feeding Reshape. It folds to
 * constants (the batch size stays symbolic) and the Reshape becomes a
 * reshape layer. Identity and Dropout disappear; Concat, Flatten, Squeeze,
 * Unsqueeze and a Transpose of size-1 axes map to layers. */
START_TEST(test_shape_subgraph_and_shape_ops)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, 2, 3}, sd[1] = {1}, zero = 0, minus1 = -1, ax0 = 0;
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 4, xd);
    mb_init_i64(&b, "axes0", 1, sd, &ax0);
    size_t n = mb_node(&b, "Constant", "c_idx", "", "idx");
    mb_attr_tensor_i64(&b, "value", 0, NULL, &zero);
    mb_end(&b, n);
    n = mb_node(&b, "Constant", "c_rest", "", "rest");
    mb_attr_tensor_i64(&b, "value", 1, sd, &minus1);
    mb_end(&b, n);
    mb_simple(&b, "Identity", "id", "x", "xi");
    mb_simple(&b, "Dropout", "drop", "xi", "xd");
    mb_simple(&b, "Concat", "cat", "xd,x", "xc"); /* (N, 4, 2, 3) */
    mb_simple(&b, "Shape", "shape", "xc", "s");
    n = mb_node(&b, "Gather", "gather", "s,idx", "batch");
    mb_attr_i(&b, "axis", 0);
    mb_end(&b, n);
    mb_simple(&b, "Unsqueeze", "unsq", "batch,axes0", "b1");
    n = mb_node(&b, "Concat", "shape_cat", "b1,rest", "target64");
    mb_attr_i(&b, "axis", 0);
    mb_end(&b, n);
    n = mb_node(&b, "Cast", "cast", "target64", "target");
    mb_attr_i(&b, "to", ONNX_INT64);
    mb_end(&b, n);
    mb_simple(&b, "Reshape", "view", "xc,target", "flat"); /* (N, 24) */
    n = mb_node(&b, "Unsqueeze", "u", "flat", "u3");        /* opset 13 wants axes as input */
    mb_end(&b, n);
    mb_output(&b, "u3");
    mb_finish(&b);
    graft_model *m = NULL;
    /* Opset 13 Unsqueeze without its axes input is malformed. */
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"u\" (Unsqueeze): no axes");
    mb_free(&b);

    mb_begin(&b, ctx, 11); /* opset 11: Unsqueeze and Squeeze take axes attributes */
    mb_input(&b, "x", 4, xd);
    n = mb_node(&b, "Constant", "c_idx", "", "idx");
    mb_attr_tensor_i64(&b, "value", 0, NULL, &zero);
    mb_end(&b, n);
    n = mb_node(&b, "Constant", "c_rest", "", "rest");
    mb_attr_tensor_i64(&b, "value", 1, sd, &minus1);
    mb_end(&b, n);
    mb_simple(&b, "Identity", "id", "x", "xi");
    mb_simple(&b, "Dropout", "drop", "xi", "xd");
    mb_simple(&b, "Concat", "cat", "xd,x", "xc");
    mb_simple(&b, "Shape", "shape", "xc", "s");
    mb_simple(&b, "Gather", "gather", "s,idx", "batch");
    n = mb_node(&b, "Unsqueeze", "unsq", "batch", "b1");
    mb_attr_ints(&b, "axes", 1, &ax0);
    mb_end(&b, n);
    n = mb_node(&b, "Concat", "shape_cat", "b1,rest", "target");
    mb_attr_i(&b, "axis", 0);
    mb_end(&b, n);
    mb_simple(&b, "Reshape", "view", "xc,target", "flat"); /* (N, 24) */
    const int64_t ua[2] = {1, 3};
    n = mb_node(&b, "Unsqueeze", "u", "flat", "u4"); /* (N, 1, 24, 1) */
    mb_attr_ints(&b, "axes", 2, ua);
    mb_end(&b, n);
    const int64_t perm[4] = {0, 3, 2, 1};
    n = mb_node(&b, "Transpose", "t", "u4", "t4"); /* (N, 1, 24, 1): the same order */
    mb_attr_ints(&b, "perm", 4, perm);
    mb_end(&b, n);
    const int64_t sq[1] = {3};
    n = mb_node(&b, "Squeeze", "sq", "t4", "s3"); /* (N, 1, 24) */
    mb_attr_ints(&b, "axes", 1, sq);
    mb_end(&b, n);
    mb_simple(&b, "Flatten", "fl", "s3", "y"); /* (N, 24) */
    mb_output(&b, "y");
    mb_finish(&b);
    m = import_ok(&b, NULL);
    static const char *const kinds[] = {"concat", "reshape", "reshape", "reshape", "flatten"};
    assert_kinds(m, kinds, 5);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "cat");
    ck_assert_str_eq(graft_model_layer_input_name(m, 0, 0), "input");
    float x[2 * 12], y[2 * 24];
    fill_ramp(x, 24, 0, 1);
    const int64_t xs[4] = {2, 2, 2, 3}, ys[2] = {2, 24};
    assert_dims(run(m, ctx, 4, xs, x, y, 48), 2, ys);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 24; k++) ck_assert_float_eq(y[s * 24 + k], x[s * 12 + k % 12]);
    graft_model_free(m);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

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
            mb b;
            mb_begin(&b, ctx, opset);
            mb_input(&b, "x", 3, xd);
            mb_simple(&b, "Relu", "relu", "x", "r");
            size_t n = mb_node(&b, "Softmax", "prob", "r", "y");
            mb_attr_i(&b, "axis", 1);
            mb_end(&b, n);
            mb_output(&b, "y");
            mb_finish(&b);
            graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
            o.keep_softmax = keep;
            graft_model *m = import_ok(&b, &o);
            run(m, ctx, 3, xs, x, y, 4);
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
                assert_kinds(m, kinds, 4);
                double s = 1 + exp(1) + exp(2) + exp(3);
                for (int k = 0; k < 4; k++) ck_assert_float_eq_tol(y[k], exp(k) / s, 1e-6);
            }
            graft_model_free(m);
            mb_free(&b);
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
        mb b;
        mb_begin(&b, ctx, 6); /* attribute form */
        mb_input(&b, "x", 4, xd);
        size_t n = mb_node(&b, "Pad", "pad", "x", "y");
        const int64_t pads[8] = {0, 0, 0, 2, 0, 0, 1, 0};
        mb_attr_ints(&b, "pads", 8, pads);
        mb_attr_s(&b, "mode", modes[mode]);
        mb_attr_f(&b, "value", 7);
        mb_end(&b, n);
        mb_output(&b, "y");
        mb_finish(&b);
        graft_model *m = import_ok(&b, NULL);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "pad2d");
        assert_dims(run(m, ctx, 4, xs, x, y, 15), 4, ys);
        tu_assert_close(y, want[mode], 15, 0, 0, modes[mode]);
        graft_model_free(m);
        mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- names --------------------------------------------------------------------------- */

START_TEST(test_layer_names)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 3};
    char long_name[100];
    memset(long_name, 'a', 80);
    long_name[80] = '\0';
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    mb_simple(&b, "Relu", "block 1/relu#0", "x", "a");
    mb_simple(&b, "Relu", "block 1/relu#0", "a", "b");
    mb_simple(&b, "Relu", NULL, "b", "c");
    mb_simple(&b, "Relu", long_name, "c", "d");
    mb_simple(&b, "Relu", long_name, "d", "e");
    mb_simple(&b, "Relu", "input", "e", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 6);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "block_1/relu_0");
    ck_assert_str_eq(graft_model_layer_name(m, 1), "block_1/relu_0_2");
    ck_assert_str_eq(graft_model_layer_name(m, 2), "Relu_2");
    ck_assert_uint_eq(strlen(graft_model_layer_name(m, 3)), 63);
    ck_assert_str_eq(graft_model_layer_name(m, 3), long_name + 17);
    const char *fifth = graft_model_layer_name(m, 4);
    ck_assert_uint_eq(strlen(fifth), 63);
    ck_assert_str_eq(fifth + 61, "_2");
    ck_assert_str_eq(graft_model_layer_name(m, 5), "input_2");
    /* Names are usable with the transfer functions. */
    ck_assert_int_eq(graft_model_freeze_through(m, "Relu_2"), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_trainable(m, 2), 0);
    graft_model_free(m);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------- */

/* Builds y = op(x) for x (N, 4) and returns the import status. */
static int refused(graft_ctx *ctx, int opset, const char *op, const char *name, const char *domain)
{
    const int64_t xd[2] = {-1, 4};
    mb b;
    mb_begin(&b, ctx, opset);
    mb_input(&b, "x", 2, xd);
    mb_simple(&b, "Relu", "r", "x", "a");
    size_t n = mb_node(&b, op, name, "a", "y");
    if (domain) graftPbWriteString(&b.w, 7, domain);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = (graft_model *)1;
    int st = try_import(&b, NULL, &m);
    ck_assert_ptr_null(m);
    mb_free(&b);
    return st;
}

START_TEST(test_unsupported_is_refused)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(refused(ctx, 13, "Elu", "act3", NULL), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"act3\" (Elu): graft does not support the operator Elu");
    ck_assert_int_eq(refused(ctx, 13, "Exp", NULL, NULL), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node #1 (Exp): graft computes this operator only on constants, and an "
                        "input here is computed from the graph input");
    ck_assert_int_eq(refused(ctx, 13, "Relu", "r2", "com.microsoft"), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"r2\" (Relu): operators of domain \"com.microsoft\" are not "
                        "supported");
    ck_assert_int_eq(refused(ctx, 19, "Relu", "r2", NULL), GRAFT_E_VERSION);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "the file uses opset 19; this graft reads opsets 1 to 18");

    const int64_t xd[3] = {-1, 2, 3};
    mb b;
    /* A Transpose that reorders memory. */
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 3, xd);
    size_t n = mb_node(&b, "Transpose", "tr", "x", "y");
    const int64_t perm[3] = {0, 2, 1};
    mb_attr_ints(&b, "perm", 3, perm);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m;
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"tr\" (Transpose): it reorders the elements in "
                                           "memory; graft imports a Transpose only when it moves "
                                           "size-1 axes");
    mb_free(&b);
    /* Two graph inputs: one must be chosen and the other bound. */
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 3, xd);
    mb_input(&b, "z", 3, xd);
    mb_simple(&b, "Add", "sum", "x,z", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph has 2 inputs without a value; graft models "
                                           "have one input (choose it with input_name and bind "
                                           "the others)");
    /* Binding z (per sample (2, 3), batch 1) makes it a constant: a scale_shift. */
    graft_tensor *z = tu_tensor(ctx, 3, 1, 2, 3);
    fill_ramp(graft_tensor_data(z), 6, 1, 1);
    const char *names[1] = {"z"};
    const graft_tensor *values[1] = {z};
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.input_name = "x";
    o.n_bound = 1;
    o.bound_names = names;
    o.bound_values = values;
    m = import_ok(&b, &o);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "scale_shift");
    graft_model_free(m);
    graft_tensor_free(z);
    mb_free(&b);
    /* A non-float input. */
    mb_begin(&b, ctx, 13);
    mb_value(&b, 11, "ids", ONNX_INT64, 3, xd);
    mb_simple(&b, "Relu", "r", "ids", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph input \"ids\" is of type int64; graft models "
                                           "take float tensors");
    mb_free(&b);
    /* A batch-dependent computation on a folded shape. */
    const int64_t two = 2;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 3, xd);
    mb_init_i64(&b, "two", 0, NULL, &two);
    mb_simple(&b, "Shape", "shape", "x", "s");
    mb_simple(&b, "Mul", "double", "s,two", "s2");
    mb_simple(&b, "Reshape", "view", "x,s2", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"double\" (Mul): it computes with the batch size, "
                        "which graft does not know at import");
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- hostile files ------------------------------------------------------------------- */

/* A small valid model: conv, batch norm, relu, pool, flatten, gemm. */
static void small_model(graft_ctx *ctx, mb *b)
{
    const int64_t xd[4] = {-1, 1, 4, 4}, wd[4] = {2, 1, 3, 3}, cd[1] = {2}, gd[2] = {3, 8},
                  gb[1] = {3};
    float w[18], ones[2] = {1, 1}, zeros[2] = {0, 0}, g[24], gbias[3] = {0.1f, 0.2f, 0.3f};
    fill_ramp(w, 18, -1, 0.1f);
    fill_ramp(g, 24, -0.5f, 0.05f);
    mb_begin(b, ctx, 13);
    mb_input(b, "x", 4, xd);
    mb_init(b, "w", 4, wd, w);
    mb_init(b, "one", 1, cd, ones);
    mb_init(b, "zero", 1, cd, zeros);
    mb_init(b, "g", 2, gd, g);
    mb_init(b, "gb", 1, gb, gbias);
    size_t n = mb_node(b, "Conv", "conv", "x,w", "c");
    const int64_t pads[4] = {1, 1, 1, 1};
    mb_attr_ints(b, "pads", 4, pads);
    mb_end(b, n);
    mb_simple(b, "BatchNormalization", "bn", "c,one,zero,zero,one", "bn");
    mb_simple(b, "Relu", "relu", "bn", "r");
    n = mb_node(b, "MaxPool", "pool", "r", "p");
    const int64_t ks[2] = {2, 2};
    mb_attr_ints(b, "kernel_shape", 2, ks);
    mb_attr_ints(b, "strides", 2, ks);
    mb_end(b, n);
    mb_simple(b, "Flatten", "flat", "p", "f");
    n = mb_node(b, "Gemm", "fc", "f,g,gb", "y");
    mb_attr_i(b, "transB", 1);
    mb_end(b, n);
    mb_output(b, "y");
    mb_finish(b);
}

START_TEST(test_every_truncation_fails_cleanly)
{
    graft_ctx *ctx = tu_ctx();
    mb b;
    small_model(ctx, &b);
    graft_model *m = import_ok(&b, NULL);
    graft_model_free(m);
    int format = 0;
    for (size_t len = 0; len < b.w.size; len++) {
        m = (graft_model *)1;
        int st = graft_onnx_import_buffer(ctx, b.w.data, len, NULL, &m);
        ck_assert_msg(st != GRAFT_OK, "a truncation to %zu bytes was accepted", len);
        ck_assert_ptr_null(m);
        ck_assert_msg(strncmp(graft_errmsg(ctx), FN, strlen(FN)) == 0, "%s", graft_errmsg(ctx));
        ck_assert_msg(st == GRAFT_E_FORMAT || st == GRAFT_E_UNSUPPORTED, "status %d at %zu: %s",
                      st, len, graft_errmsg(ctx));
        format += st == GRAFT_E_FORMAT;
    }
    /* Most cuts land inside a field and are malformed protobuf. */
    ck_assert_int_gt(format, (int)b.w.size / 2);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_random_bytes_and_mutations)
{
    graft_ctx *ctx = tu_ctx();
    mb b;
    small_model(ctx, &b);
    unsigned char *copy = malloc(b.w.size);
    graftRng rng;
    graftRngSeed(&rng, 42);
    int ok = 0, failed = 0;
    for (int round = 0; round < 600; round++) {
        size_t size = b.w.size;
        if (round < 200) {
            size = 1 + graftRngNext(&rng) % 512;
            for (size_t k = 0; k < size; k++) copy[k] = (unsigned char)graftRngNext(&rng);
        } else {
            memcpy(copy, b.w.data, size);
            for (int flips = 0; flips < 1 + round % 4; flips++)
                copy[graftRngNext(&rng) % size] = (unsigned char)graftRngNext(&rng);
        }
        graft_model *m = NULL;
        int st = graft_onnx_import_buffer(ctx, copy, size, NULL, &m);
        if (st == GRAFT_OK) {
            ok++;
            graft_model_free(m);
        } else {
            failed++;
            ck_assert_ptr_null(m);
            ck_assert(graft_errmsg(ctx)[0] != '\0');
            ck_assert(st == GRAFT_E_FORMAT || st == GRAFT_E_UNSUPPORTED ||
                      st == GRAFT_E_VERSION || st == GRAFT_E_SHAPE || st == GRAFT_E_NOT_FOUND);
        }
    }
    ck_assert_int_gt(failed, 200);
    ck_assert_int_eq(ok + failed, 600);
    free(copy);
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_length_past_the_end)
{
    graft_ctx *ctx = tu_ctx();
    /* field 7 (graph), wire type 2, length 65535 (ff ff 03), then 3 bytes */
    const unsigned char bad[] = {0x08, 0x07, 0x3a, 0xff, 0xff, 0x03, 0x0a, 0x01, 0x00};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bad, sizeof bad, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "malformed ONNX protobuf at offset 2: field 7 of ModelProto declares "
                        "65535 bytes but only 3 remain in the enclosing message");
    /* A varint of eleven bytes. */
    const unsigned char longvar[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0x01};
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, longvar, sizeof longvar, NULL, &m),
                     GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "malformed ONNX protobuf at offset 1: varint over 64 bits in ModelProto");
    /* An empty buffer is a model without a graph. */
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, NULL, 0, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the file holds no graph");
    graft_ctx_free(ctx);
}
END_TEST

typedef struct peak_alloc {
    size_t now, peak;
} peak_alloc;

static void *peak_malloc(void *opaque, size_t size)
{
    peak_alloc *p = opaque;
    size_t *block = malloc(size + 16);
    if (!block) return NULL;
    block[0] = size;
    p->now += size;
    if (p->now > p->peak) p->peak = p->now;
    return (unsigned char *)block + 16;
}

static void peak_free(void *opaque, void *ptr)
{
    if (!ptr) return;
    size_t *block = (size_t *)((unsigned char *)ptr - 16);
    ((peak_alloc *)opaque)->now -= block[0];
    free(block);
}

/* Initializers that declare 2^40 elements (or more) with a few bytes of data
 * are refused before anything of that size is allocated; so is a folded
 * constant that would grow without bound. */
START_TEST(test_absurd_dimensions)
{
    peak_alloc pa = {0, 0};
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = peak_malloc;
    a.free = peak_free;
    a.opaque = &pa;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    const int64_t xd[2] = {-1, 4}, huge[2] = {(int64_t)1 << 20, (int64_t)1 << 20},
                  over[2] = {(int64_t)1 << 21, (int64_t)1 << 20};
    const float four[4] = {1, 2, 3, 4};
    for (int k = 0; k < 2; k++) {
        mb b;
        mb_begin(&b, ctx, 13);
        mb_input(&b, "x", 2, xd);
        /* the dims say 2^40 (or 2^41) elements; raw_data holds 4 */
        size_t t = graftPbBeginMessage(&b.w, 5);
        for (int d = 0; d < 2; d++) graftPbWriteInt(&b.w, 1, k ? over[d] : huge[d]);
        graftPbWriteInt(&b.w, 2, ONNX_FLOAT);
        graftPbWriteString(&b.w, 8, "w");
        graftPbWriteBytes(&b.w, 9, four, sizeof four);
        graftPbEndMessage(&b.w, t);
        mb_simple(&b, "MatMul", "mm", "x,w", "y");
        mb_output(&b, "y");
        mb_finish(&b);
        graft_model *m = NULL;
        pa.peak = pa.now;
        ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_FORMAT);
        if (k == 0)
            ck_assert_str_eq(graft_errmsg(ctx), FN "tensor \"w\" at offset 56: its dimensions "
                                                   "need 1099511627776 elements but it holds 4");
        else
            ck_assert_str_eq(graft_errmsg(ctx), FN "tensor \"w\": dimension 1 is 1048576, or the "
                                                   "element count exceeds 2^40");
        ck_assert_uint_lt(pa.peak - b.w.capacity, 1 << 20);
        mb_free(&b);
    }
    /* ConstantOfShape of (2^20, 2^20): beyond what graft folds. */
    mb b;
    const int64_t sd[1] = {2};
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    mb_init_i64(&b, "shape", 1, sd, huge);
    mb_simple(&b, "ConstantOfShape", "big", "shape", "c");
    mb_simple(&b, "MatMul", "mm", "x,c", "y");
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = NULL;
    pa.peak = pa.now;
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"big\" (ConstantOfShape): computing constants of "
                                           "1099511627776 more elements exceeds what graft "
                                           "evaluates at import for a file of this size");
    ck_assert_uint_lt(pa.peak - b.w.capacity, 1 << 20);
    mb_free(&b);
    graft_ctx_free(ctx);
    ck_assert_uint_eq(pa.now, 0);
}
END_TEST

/* Nesting is never followed recursively: a node attribute holding a graph
 * nested 20000 levels deep (attribute > graph > node > attribute > ...)
 * and an unknown field nested as deep are skipped. */
START_TEST(test_deep_nesting)
{
    graft_ctx *ctx = tu_ctx();
    graftWriter inner, next;
    graftWriterInit(&inner, ctx);
    graftPbWriteString(&inner, 1, "leaf");
    for (int level = 0; level < 20000; level++) {
        /* AttributeProto.g (6) holds a GraphProto whose node (1) holds an
         * attribute (5): alternate the three field numbers */
        static const uint32_t fields[3] = {6, 1, 5};
        graftWriterInit(&next, ctx);
        graftPbWriteBytes(&next, fields[level % 3], inner.data, inner.size);
        graftWriterDispose(&inner);
        inner = next;
    }
    ck_assert_int_eq(inner.status, GRAFT_OK);
    const int64_t xd[2] = {-1, 3};
    mb b;
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    size_t n = mb_node(&b, "Relu", "relu", "x", "y");
    size_t a = graftPbBeginMessage(&b.w, 5);
    graftPbWriteString(&b.w, 1, "deep");
    graftPbWriteInt(&b.w, 20, ONNX_ATTR_GRAPH);
    graftWriteBytes(&b.w, inner.data, inner.size);
    graftPbEndMessage(&b.w, a);
    mb_end(&b, n);
    graftPbWriteBytes(&b.w, 99, inner.data, inner.size); /* an unknown GraphProto field */
    mb_output(&b, "y");
    mb_finish(&b);
    graft_model *m = import_ok(&b, NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 1);
    graft_model_free(m);
    mb_free(&b);
    /* A Loop whose body is that graph is refused by name, not walked. */
    mb_begin(&b, ctx, 13);
    mb_input(&b, "x", 2, xd);
    n = mb_node(&b, "Loop", "loop", "x", "y");
    a = graftPbBeginMessage(&b.w, 5);
    graftPbWriteString(&b.w, 1, "body");
    graftPbWriteInt(&b.w, 20, ONNX_ATTR_GRAPH);
    graftWriteBytes(&b.w, inner.data, inner.size);
    graftPbEndMessage(&b.w, a);
    mb_end(&b, n);
    mb_output(&b, "y");
    mb_finish(&b);
    ck_assert_int_eq(try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"loop\" (Loop): graft does not support the "
                                           "operator Loop");
    mb_free(&b);
    graftWriterDispose(&inner);
    graft_ctx_free(ctx);
}
END_TEST

typedef struct failing_alloc {
    long calls, fail_at, live;
} failing_alloc;

static void *failing_malloc(void *opaque, size_t size)
{
    failing_alloc *f = opaque;
    if (++f->calls == f->fail_at) return NULL;
    void *p = malloc(size);
    if (p) f->live++;
    return p;
}

static void failing_free(void *opaque, void *ptr)
{
    if (ptr) ((failing_alloc *)opaque)->live--;
    free(ptr);
}

/* Import, run and export with the Nth allocation failing, for every N:
 * GRAFT_E_NOMEM each time, and nothing leaks. */
START_TEST(test_allocation_failures)
{
    graft_ctx *plain = tu_ctx();
    mb b;
    small_model(plain, &b);
    for (long fail_at = 1;; fail_at++) {
        failing_alloc fa = {0, fail_at, 0};
        graft_allocator a = GRAFT_ALLOCATOR_INIT;
        a.alloc = failing_malloc;
        a.free = failing_free;
        a.opaque = &fa;
        graft_ctx *ctx = NULL;
        if (graft_ctx_create_advanced(&a, &ctx) != GRAFT_OK) continue; /* the context itself */
        graft_model *m = NULL;
        void *data = NULL;
        size_t size = 0;
        int st = graft_onnx_import_buffer(ctx, b.w.data, b.w.size, NULL, &m);
        if (st == GRAFT_OK) st = graft_onnx_export_buffer(m, NULL, &data, &size);
        if (st != GRAFT_OK) {
            ck_assert_msg(st == GRAFT_E_NOMEM, "allocation %ld failed: %d %s", fail_at, st,
                          graft_errmsg(ctx));
            ck_assert_ptr_null(data);
        }
        graft_onnx_buffer_free(ctx, data);
        graft_model_free(m);
        graft_ctx_free(ctx);
        ck_assert_int_eq(fa.live, 0);
        if (st == GRAFT_OK) {
            ck_assert_int_gt(fail_at, 20); /* it did fail the earlier ones */
            break;
        }
    }
    mb_free(&b);
    graft_ctx_free(plain);
}
END_TEST

/* ---- arguments ------------------------------------------------------------------------ */

START_TEST(test_argument_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = (graft_model *)1;
    ck_assert_int_eq(graft_onnx_import(NULL, "x.onnx", NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(graft_onnx_import(ctx, NULL, NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_import(ctx, "x.onnx", NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, NULL, 4, NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_import(ctx, "/nonexistent/model.onnx", NULL, &m), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_import(): cannot open "
                                        "\"/nonexistent/model.onnx\": No such file or directory");
    mb b;
    small_model(ctx, &b);
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.struct_size = 8;
    ck_assert_int_eq(try_import(&b, &o, &m), GRAFT_E_VERSION);
    o = (graft_onnx_import_opts)GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 2;
    ck_assert_int_eq(try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "batch_axis is 2, must be 0 or 1");
    o.batch_axis = 1;
    o.input_name = "nope";
    ck_assert_int_eq(try_import(&b, &o, &m), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph has no input \"nope\"");
    o.input_name = NULL;
    o.n_bound = 1;
    ck_assert_int_eq(try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    /* Without a batch axis, the Conv's (N, C, H, W) input is one sample. */
    o = (graft_onnx_import_opts)GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    ck_assert_int_eq(try_import(&b, &o, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "axis 0 of the graph input \"x\" has no fixed size; "
                                           "graft needs every size fixed when batch_axis is 0");
    mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- whole networks against PyTorch ------------------------------------------------------ */

/* Reads a TensorProto file of floats into a new tensor. */
static graft_tensor *read_tensor_file(graft_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the source root)", path);
    static unsigned char buf[1 << 20];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_lt(size, sizeof buf);
    onnxModel owner;
    onnxTensor t;
    memset(&owner, 0, sizeof owner);
    owner.ctx = ctx;
    ck_assert_int_eq(graftOnnxTensorDecode(&owner, "test", buf, size, &t), GRAFT_OK);
    size_t numel;
    ck_assert_int_eq(graftOnnxTensorNumel(ctx, "test", &t, &numel), GRAFT_OK);
    graft_tensor *out = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, t.ndim, t.dims, &out), GRAFT_OK);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", &t, graft_tensor_data(out), numel),
                     GRAFT_OK);
    graftOnnxModelDispose(&owner);
    return out;
}

/* Imports tests/data/onnx/<name>.onnx and compares its output on the stored
 * input with PyTorch's: |graft - torch| <= 1e-4 * |torch| + 1e-6. */
static void check_network(const char *name, int min_layers)
{
    graft_ctx *ctx = tu_ctx();
    char path[256];
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.onnx", name);
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, path, NULL, &m) == GRAFT_OK, "%s: %s", path,
                  graft_errmsg(ctx));
    ck_assert_int_ge(graft_model_layer_count(m), min_layers);
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.input.pb", name);
    graft_tensor *x = read_tensor_file(ctx, path);
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.output.pb", name);
    graft_tensor *want = read_tensor_file(ctx, path);
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_tensor_ndim(y), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 0), graft_tensor_dim(want, 0));
    ck_assert_int_eq(graft_tensor_dim(y, 1), graft_tensor_dim(want, 1));
    tu_assert_close(graft_tensor_data_const(y), graft_tensor_data_const(want),
                    graft_tensor_numel(want), 1e-6f, 1e-4f, name);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_model_free(m);
    graft_ctx_free(ctx);
}

START_TEST(test_network_mobilenet_v2) { check_network("mobilenet_v2", 100); }
END_TEST

START_TEST(test_network_resnet18) { check_network("resnet18", 60); }
END_TEST

START_TEST(test_network_squeezenet) { check_network("squeezenet1_1", 60); }
END_TEST

START_TEST(test_network_vgg_style) { check_network("vgg_style", 20); }
END_TEST

/* ---- export ------------------------------------------------------------------------- */

/* Runs tests/onnx_check_model.py on path. Returns 1 when checked, 0 when
 * python3-onnx is not available (the check is skipped with a message). */
static int onnx_checker(const char *path)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "check_onnx: /usr/bin/python3 is missing; onnx.checker not run\n");
        return 0;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_check_model.py '%s'", path);
    int st = system(cmd);
    ck_assert_msg(st != -1 && WIFEXITED(st), "cannot run %s", cmd);
    if (WEXITSTATUS(st) == 77) {
        fprintf(stderr, "check_onnx: python3-onnx is not installed; onnx.checker not run\n");
        return 0;
    }
    ck_assert_msg(WEXITSTATUS(st) == 0, "onnx.checker refused %s", path);
    return 1;
}

static void add_layer(graft_model *m, const char *name, int st, graft_layer *l, int n,
                      const char *const *ins)
{
    ck_assert_msg(st == GRAFT_OK, "%s: %s", name, graft_errmsg(NULL));
    ck_assert_msg(graft_model_add(m, name, l, n, ins) == GRAFT_OK, "%s: %s", name,
                  graft_errmsg(NULL));
}

#define INS(...) (const char *const[]){__VA_ARGS__}
#define NINS(...) (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define ADD(m, name, expr, ...)                         \
    do {                                                \
        graft_layer *l_ = NULL;                         \
        int st_ = (expr);                               \
        add_layer(m, name, st_, l_, NINS(__VA_ARGS__), INS(__VA_ARGS__)); \
    } while (0)

/* A model that uses every layer kind, with non-trivial parameters. */
static graft_model *every_kind_model(graft_ctx *ctx)
{
    graft_model *m = NULL;
    const int64_t in[3] = {3, 8, 8};
    ck_assert_int_eq(graft_model_create(ctx, 3, in, 5, &m), GRAFT_OK);
    graft_conv2d_spec c = GRAFT_CONV2D_SPEC_INIT;
    c.out_channels = 4;
    c.kernel_h = c.kernel_w = 3;
    c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = 1;
    ADD(m, "conv1", graft_layer_conv2d(ctx, &c, &l_), "input");
    ADD(m, "bn1", graft_layer_batch_norm(ctx, 1e-3f, 0.2f, &l_), "conv1");
    ADD(m, "relu1", graft_layer_relu(ctx, &l_), "bn1");
    graft_pool2d_spec p = GRAFT_POOL2D_SPEC_INIT;
    p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
    ADD(m, "maxpool", graft_layer_max_pool2d(ctx, &p, &l_), "relu1");
    p.kernel_h = p.kernel_w = 3;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
    p.count_include_pad = 1;
    ADD(m, "avgpool", graft_layer_avg_pool2d(ctx, &p, &l_), "relu1");
    graft_pad2d_spec pd = GRAFT_PAD2D_SPEC_INIT;
    pd.pad_top = pd.pad_left = pd.pad_bottom = pd.pad_right = 1;
    pd.mode = GRAFT_PAD_EDGE;
    ADD(m, "pad", graft_layer_pad2d(ctx, &pd, &l_), "maxpool");
    graft_conv2d_spec g = GRAFT_CONV2D_SPEC_INIT;
    g.out_channels = 4;
    g.kernel_h = g.kernel_w = 3;
    g.groups = 2;
    ADD(m, "gconv", graft_layer_conv2d(ctx, &g, &l_), "pad");
    ADD(m, "cat", graft_layer_concat(ctx, &l_), "maxpool", "avgpool", "gconv");
    ADD(m, "sum", graft_layer_add(ctx, &l_), "maxpool", "avgpool", "gconv");
    ADD(m, "gap", graft_layer_global_avg_pool(ctx, &l_), "cat");
    graft_conv2d_spec se = GRAFT_CONV2D_SPEC_INIT;
    se.out_channels = 4;
    ADD(m, "se", graft_layer_conv2d(ctx, &se, &l_), "gap");
    ADD(m, "gate", graft_layer_hard_sigmoid(ctx, 0.2f, 0.5f, &l_), "se");
    ADD(m, "scale", graft_layer_mul(ctx, &l_), "sum", "gate");
    ADD(m, "leaky", graft_layer_leaky_relu(ctx, 0.1f, &l_), "scale");
    ADD(m, "sig", graft_layer_sigmoid(ctx, &l_), "leaky");
    ADD(m, "tanh", graft_layer_tanh(ctx, &l_), "sig");
    ADD(m, "clip", graft_layer_clip(ctx, -0.5f, 0.75f, &l_), "tanh");
    ADD(m, "hswish", graft_layer_hard_swish(ctx, &l_), "clip");
    const int64_t ssd[3] = {4, 1, 1};
    ADD(m, "affine", graft_layer_scale_shift(ctx, 3, ssd, &l_), "hswish");
    ADD(m, "drop", graft_layer_dropout(ctx, 0.25f, 9, &l_), "affine");
    ADD(m, "flat", graft_layer_flatten(ctx, &l_), "drop");
    const int64_t rd[2] = {8, 8};
    ADD(m, "grid", graft_layer_reshape(ctx, 2, rd, &l_), "flat");
    ADD(m, "fc", graft_layer_dense(ctx, 5, 1, &l_), "grid");
    ADD(m, "prob", graft_layer_softmax(ctx, &l_), "fc");
    /* Non-trivial batch norm, scale_shift and bias values. */
    graft_tensor *t;
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 1), k, NULL, &t, NULL, NULL), 0);
        fill_ramp(graft_tensor_data(t), 4, k == 3 ? 0.5f : 0.2f * (float)k - 0.1f, 0.15f);
    }
    graft_layer *aff = graft_model_layer(m, graft_model_find_layer(m, "affine"));
    ck_assert_int_eq(graft_layer_param(aff, 0, NULL, &t, NULL, NULL), 0);
    fill_ramp(graft_tensor_data(t), 4, 0.5f, 0.5f);
    ck_assert_int_eq(graft_layer_param(aff, 1, NULL, &t, NULL, NULL), 0);
    fill_ramp(graft_tensor_data(t), 4, -1, 0.5f);
    graft_layer *conv = graft_model_layer(m, 0);
    ck_assert_int_eq(graft_layer_param(conv, 1, NULL, &t, NULL, NULL), 0);
    fill_ramp(graft_tensor_data(t), 4, -0.2f, 0.1f);
    return m;
}

/* Forward of m and m2 on the same seeded input agree within tol. */
static void assert_same_outputs(graft_ctx *ctx, graft_model *m, graft_model *m2, int ndim,
                                const int64_t *dims, float atol, float rtol)
{
    graft_tensor *x = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, ndim, dims, &x), GRAFT_OK);
    tu_fill_uniform(x, 77, -2, 2);
    const graft_tensor *y = NULL, *y2 = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    size_t n = graft_tensor_numel(y);
    float *copy = malloc(n * sizeof *copy);
    memcpy(copy, graft_tensor_data_const(y), n * sizeof *copy);
    ck_assert_msg(graft_model_forward(m2, x, &y2) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_uint_eq(graft_tensor_numel(y2), n);
    tu_assert_close(graft_tensor_data_const(y2), copy, n, atol, rtol, "re-imported output");
    free(copy);
    graft_tensor_free(x);
}

/* Every kind exports, passes onnx.checker (opsets 13 and 14), and imports
 * back to the same outputs; HardSigmoid+Mul written for hard_swish at
 * opset 13 comes back as one hard_swish layer. */
START_TEST(test_export_every_kind)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = every_kind_model(ctx);
    char path[] = "/tmp/graft_onnx_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (int opset = 13; opset <= 14; opset++) {
        graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
        eo.opset = opset;
        ck_assert_msg(graft_onnx_export(m, path, &eo) == GRAFT_OK, "%s", graft_errmsg(ctx));
        onnx_checker(path);
        graft_onnx_import_opts io = GRAFT_ONNX_IMPORT_OPTS_INIT;
        io.keep_softmax = 1;
        graft_model *m2 = NULL;
        ck_assert_msg(graft_onnx_import(ctx, path, &io, &m2) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        /* dropout disappears, scale_shift comes back as two layers and the
         * dense layer on (N, 8, 8) gets a flatten before it: one more */
        ck_assert_int_eq(graft_model_layer_count(m2), graft_model_layer_count(m) + 1);
        ck_assert_int_lt(graft_model_find_layer(m2, "drop"), 0);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m2, graft_model_find_layer(m2,
                         "fc/flatten"))), "flatten");
        int hs = graft_model_find_layer(m2, "hswish");
        ck_assert_int_ge(hs, 0);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m2, hs)), "hard_swish");
        ck_assert_str_eq(graft_model_layer_name(m2, 0), "conv1");
        const int64_t xd[4] = {2, 3, 8, 8};
        assert_same_outputs(ctx, m, m2, 4, xd, 1e-6f, 1e-5f);
        graft_model_free(m2);
    }
    unlink(path);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* The round trip of the issue: import a network, replace its head, fine-tune
 * a few steps, export (also with batch norms folded into the convs), import
 * again: the outputs agree. */
START_TEST(test_export_round_trip_after_fine_tuning)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, GRAFT_TEST_DATA "/onnx/vgg_style.onnx", NULL, &m) ==
                      GRAFT_OK,
                  "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_replace_head(m, 3, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_through(m, "/Reshape"), GRAFT_OK);
    const int64_t dims[3] = {3, 32, 32};
    float *feat = malloc(6 * 3 * 32 * 32 * sizeof *feat);
    int32_t labels[6] = {0, 1, 2, 0, 1, 2};
    graftRng rng;
    graftRngSeed(&rng, 3);
    for (int k = 0; k < 6 * 3 * 32 * 32; k++) feat[k] = graftRngUniform(&rng) * 2 - 1;
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 6, 3, dims, feat, labels, 3, 1, &ds), 0);
    graft_optim *opt = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &opt), GRAFT_OK);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 2;
    fo.batch_size = 3;
    ck_assert_msg(graft_model_fit(m, opt, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_class_count(m), 3);
    const int64_t xd[4] = {2, 3, 32, 32};
    for (int fold = 0; fold <= 1; fold++) {
        graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
        eo.fold_batch_norm = fold;
        void *data = NULL;
        size_t size = 0;
        ck_assert_msg(graft_onnx_export_buffer(m, &eo, &data, &size) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        char path[] = "/tmp/graft_onnx_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
        close(fd);
        onnx_checker(path);
        unlink(path);
        graft_model *m2 = NULL;
        ck_assert_msg(graft_onnx_import_buffer(ctx, data, size, NULL, &m2) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        graft_onnx_buffer_free(ctx, data);
        /* 3 batch norms fold into their convs */
        ck_assert_int_eq(graft_model_layer_count(m2), graft_model_layer_count(m) - 3 * fold);
        ck_assert_int_ge(graft_model_find_layer(m2, "head/fc"), 0);
        assert_same_outputs(ctx, m, m2, 4, xd, 1e-5f, fold ? 1e-4f : 1e-5f);
        graft_model_free(m2);
    }
    graft_optim_free(opt);
    graft_dataset_free(ds);
    free(feat);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_export_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL;
    const int64_t in[1] = {4};
    ck_assert_int_eq(graft_model_create(ctx, 1, in, 0, &m), GRAFT_OK);
    void *data = (void *)1;
    size_t size = 1;
    ck_assert_int_eq(graft_onnx_export_buffer(m, NULL, &data, &size), GRAFT_E_STATE);
    ck_assert_ptr_null(data);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_export_buffer(): the model has no layers");
    ADD(m, "fc", graft_layer_dense(ctx, 2, 1, &l_), "input");
    graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
    eo.opset = 12;
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_onnx_export_buffer(): opset is 12, must be 13 to 17");
    eo.opset = 13;
    eo.struct_size = 4;
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_E_VERSION);
    eo = (graft_onnx_export_opts)GRAFT_ONNX_EXPORT_OPTS_INIT;
    eo.input_name = eo.output_name = "x";
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_export_buffer(NULL, NULL, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_export(m, "/nonexistent/dir/m.onnx", NULL), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_export(): cannot create a temporary file for "
                                        "\"/nonexistent/dir/m.onnx\": No such file or directory");
    /* Custom names come back as the graph's input and output. */
    eo = (graft_onnx_export_opts)GRAFT_ONNX_EXPORT_OPTS_INIT;
    eo.input_name = "pixels";
    eo.output_name = "fc";
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_OK);
    onnxModel om;
    ck_assert_int_eq(graftOnnxModelDecode(ctx, "test", data, size, &om), GRAFT_OK);
    ck_assert_str_eq(om.graph.inputs[0].name, "pixels");
    ck_assert_str_eq(om.graph.outputs[0].name, "fc");
    ck_assert_int_eq(om.graph.inputs[0].dims[0], -1); /* symbolic batch */
    ck_assert_int_eq(om.graph.inputs[0].dims[1], 4);
    ck_assert_int_eq(om.opsets[0].version, 13);
    ck_assert_int_eq(om.ir_version, 7);
    graftOnnxModelDispose(&om);
    graft_onnx_buffer_free(ctx, data);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx(void)
{
    Suite *s = suite_create("onnx");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"conv_groups_dilations_pads", test_conv_groups_dilations_pads},
        {"conv_auto_pad", test_conv_auto_pad},
        {"conv_pad_folding_and_1d", test_conv_pad_folding_and_1d},
        {"batch_norm", test_batch_norm},
        {"activations", test_activations},
        {"hard_sigmoid_mul_fusion", test_hard_sigmoid_mul_fusion},
        {"constant_nodes", test_constant_nodes},
        {"pooling", test_pooling},
        {"gemm_and_matmul", test_gemm_and_matmul},
        {"elementwise", test_elementwise},
        {"shape_subgraph_and_shape_ops", test_shape_subgraph_and_shape_ops},
        {"softmax", test_softmax},
        {"pad_modes", test_pad_modes},
        {"layer_names", test_layer_names},
        {"unsupported_is_refused", test_unsupported_is_refused},
        {"every_truncation_fails_cleanly", test_every_truncation_fails_cleanly},
        {"random_bytes_and_mutations", test_random_bytes_and_mutations},
        {"length_past_the_end", test_length_past_the_end},
        {"absurd_dimensions", test_absurd_dimensions},
        {"deep_nesting", test_deep_nesting},
        {"allocation_failures", test_allocation_failures},
        {"argument_errors", test_argument_errors},
        {"network_mobilenet_v2", test_network_mobilenet_v2},
        {"network_resnet18", test_network_resnet18},
        {"network_squeezenet", test_network_squeezenet},
        {"network_vgg_style", test_network_vgg_style},
        {"export_every_kind", test_export_every_kind},
        {"export_round_trip_after_fine_tuning", test_export_round_trip_after_fine_tuning},
        {"export_errors", test_export_errors},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        TCase *tc = tcase_create(cases[k].name);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, cases[k].test);
        suite_add_tcase(s, tc);
    }
    return s;
}
