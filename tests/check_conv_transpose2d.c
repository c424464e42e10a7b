/*
 * check_conv_transpose2d.c - the conv_transpose2d layer
 * (src/layers/layer_conv_transpose2d.c): forward and backward against
 * values computed by hand (overlapping taps, stride, pads cropping the
 * scatter, output padding); forward and input gradient against conv2d's
 * input gradient and forward, the adjoint pair they must be; output sizes;
 * finite-difference gradients, BLAS against the reference GEMM and save/load
 * on several geometries; attributes by name and flops; the argument, shape
 * and file errors with their messages. PyTorch references are
 * check_torch_refs.c's.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

typedef struct ct_cfg {
    int n, c, h, w, o;                   /* input (N, C, H, W), out_channels */
    int kh, kw, sh, sw, pt, pl, pb, pr, oph, opw, dh, dw, groups, bias;
} ct_cfg;

static graft_conv_transpose2d_spec spec_of(const ct_cfg *k)
{
    graft_conv_transpose2d_spec s = GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
    s.out_channels = k->o;
    s.kernel_h = k->kh;
    s.kernel_w = k->kw;
    s.stride_h = k->sh;
    s.stride_w = k->sw;
    s.pad_top = k->pt;
    s.pad_left = k->pl;
    s.pad_bottom = k->pb;
    s.pad_right = k->pr;
    s.output_padding_h = k->oph;
    s.output_padding_w = k->opw;
    s.dilation_h = k->dh;
    s.dilation_w = k->dw;
    s.groups = k->groups;
    s.bias = k->bias;
    return s;
}

/* The layer of k, built on x, parameters uniform from seed. */
static graft_layer *make(graft_ctx *ctx, const ct_cfg *k, graft_tensor *x, uint64_t seed)
{
    graft_conv_transpose2d_spec s = spec_of(k);
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_conv_transpose2d(ctx, &s, &l) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    ck_assert_str_eq(graft_layer_kind(l), "conv_transpose2d");
    const graft_tensor *in[1] = {x};
    ck_assert_msg(graft_layer_build(l, 1, in, seed) == GRAFT_OK, "%s", graft_errmsg(ctx));
    for (int i = 0; i < graft_layer_param_count(l); i++) {
        graft_tensor *t = NULL;
        ck_assert_int_eq(graft_layer_param(l, i, NULL, &t, NULL, NULL), GRAFT_OK);
        tu_fill_uniform(t, seed + 10 + (uint64_t)i, -0.5f, 0.5f);
    }
    return l;
}

static int64_t ct_out(int size, int s, int op, int d, int k, int pa, int pb)
{
    return (int64_t)s * (size - 1) + op + (int64_t)d * (k - 1) + 1 - pa - pb;
}

/* ---- hand-computed values ------------------------------------------------------ */

/* x = 1 2 / 3 4, weight 1 10 / 100 1000, bias 0.5: one channel each way. */
static graft_layer *hand_layer(graft_ctx *ctx, int s, int pt, int pl, int op, graft_tensor **x)
{
    const int64_t d[4] = {1, 1, 2, 2};
    const float xv[4] = {1, 2, 3, 4}, wv[4] = {1, 10, 100, 1000}, bv[1] = {0.5f};
    *x = tu_tensor_from(ctx, 4, d, xv);
    ct_cfg k = {1, 1, 2, 2, 1, 2, 2, s, s, pt, pl, 0, 0, op, op, 1, 1, 1, 1};
    graft_layer *l = make(ctx, &k, *x, 1);
    tu_conv_set_param(l, 0, wv, 4);
    tu_conv_set_param(l, 1, bv, 1);
    return l;
}

START_TEST(test_conv_transpose2d_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x;
    /* Stride 1: the four copies of the kernel overlap, e.g. the centre is
     * 1*1000 + 2*100 + 3*10 + 4*1. */
    graft_layer *l = hand_layer(ctx, 1, 0, 0, 0, &x);
    const graft_tensor *y = tu_conv_forward(l, x);
    const int64_t d3[4] = {1, 1, 3, 3};
    tu_assert_dims(y, 4, d3);
    const float overlap[9] = {1.5f,   12.5f,   20.5f,   103.5f, 1234.5f,
                              2040.5f, 300.5f, 3400.5f, 4000.5f};
    tu_assert_close(graft_tensor_data_const(y), overlap, 9, 0, 0, "stride 1");
    graft_layer_free(l);
    graft_tensor_free(x);

    /* Stride 2: each input cell fills its own 2x2 block. Backward with a
     * gradient of ones: every input cell reached the four taps (1111),
     * every tap the four cells (10), the bias the 16 outputs. */
    l = hand_layer(ctx, 2, 0, 0, 0, &x);
    y = tu_conv_forward(l, x);
    const float blocks[16] = {1,   10,   2,   20,   100, 1000, 200, 2000,
                              3,   30,   4,   40,   300, 3000, 400, 4000};
    float want[25];
    for (int i = 0; i < 16; i++) want[i] = blocks[i] + 0.5f;
    tu_assert_close(graft_tensor_data_const(y), want, 16, 0, 0, "stride 2");
    graft_tensor *dy = tu_tensor(ctx, 4, 1, 1, 4, 4);
    graft_tensor_fill(dy, 1);
    const graft_tensor *in[1] = {x}, *dx[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    const float all_taps[4] = {1111, 1111, 1111, 1111}, all_cells[4] = {10, 10, 10, 10};
    tu_assert_close(graft_tensor_data_const(dx[0]), all_taps, 4, 0, 0, "stride 2 dx");
    const graft_tensor *g = NULL;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &g, NULL), GRAFT_OK);
    tu_assert_close(graft_tensor_data_const(g), all_cells, 4, 0, 0, "stride 2 dw");
    ck_assert_int_eq(graft_layer_param(l, 1, NULL, NULL, &g, NULL), GRAFT_OK);
    ck_assert_float_eq(graft_tensor_data_const(g)[0], 16.0f);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(dy);

    /* Stride 2, pad_top = pad_left = 1, output padding 1: the 4x4 scatter
     * gains a fifth row and column (bias only), then loses its first row
     * and column. */
    l = hand_layer(ctx, 2, 1, 1, 1, &x);
    y = tu_conv_forward(l, x);
    tu_assert_dims(y, 4, (const int64_t[4]){1, 1, 4, 4});
    const float cropped[16] = {1000, 200, 2000, 0, 30, 4, 40, 0, 3000, 400, 4000, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) want[i] = cropped[i] + 0.5f;
    tu_assert_close(graft_tensor_data_const(y), want, 16, 0, 0, "cropped");
    dy = tu_tensor(ctx, 4, 1, 1, 4, 4);
    graft_tensor_fill(dy, 1);
    in[0] = x;
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    /* x00 keeps tap (1,1) only, x01 taps (1,0) and (1,1), x10 (0,1) and (1,1) */
    const float dx_crop[4] = {1000, 1100, 1010, 1111};
    tu_assert_close(graft_tensor_data_const(dx[0]), dx_crop, 4, 0, 0, "cropped dx");
    /* tap (0,0) keeps x11, (0,1) x10 and x11, (1,0) x01 and x11, (1,1) all */
    const float dw_crop[4] = {4, 7, 6, 10};
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &g, NULL), GRAFT_OK);
    tu_assert_close(graft_tensor_data_const(g), dw_crop, 4, 0, 0, "cropped dw");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- the adjoint of conv2d ------------------------------------------------------ */

/* Geometries with output padding below the stride, where conv2d maps the
 * transposed output's shape back to the input's. */
static const ct_cfg adjoint_cfgs[] = {
    /*  n  c  h  w  o  kh kw sh sw pt pl pb pr oph opw dh dw g  bias */
    {2, 3, 4, 5, 4, 3, 3, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0},
    {2, 3, 4, 4, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {1, 4, 3, 5, 6, 4, 3, 2, 3, 1, 0, 2, 1, 1, 2, 1, 1, 2, 0},
    {2, 2, 5, 3, 3, 3, 2, 1, 2, 2, 0, 1, 1, 0, 1, 2, 3, 1, 0},
    {1, 3, 4, 4, 3, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1, 1, 1, 3, 0},
    {2, 3, 4, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0},
};

/* conv_transpose2d(x) equals conv2d's input gradient for the output
 * gradient x, and conv_transpose2d's input gradient for dy equals
 * conv2d(dy), when both use the same weight array: conv2d from O to C
 * channels has weight (C, O/G, KH, KW), the transposed layer's shape. */
START_TEST(test_conv_transpose2d_adjoint_of_conv2d)
{
    graft_ctx *ctx = tu_ctx();
    for (size_t t = 0; t < sizeof adjoint_cfgs / sizeof adjoint_cfgs[0]; t++) {
        const ct_cfg *k = &adjoint_cfgs[t];
        graft_tensor *x = tu_tensor(ctx, 4, k->n, k->c, k->h, k->w);
        tu_fill_uniform(x, 100 + t, -1, 1);
        graft_layer *lt = make(ctx, k, x, 5 + t);
        const graft_tensor *y = tu_conv_forward(lt, x);
        const int64_t oh = ct_out(k->h, k->sh, k->oph, k->dh, k->kh, k->pt, k->pb);
        const int64_t ow = ct_out(k->w, k->sw, k->opw, k->dw, k->kw, k->pl, k->pr);
        const int64_t yd[4] = {k->n, k->o, oh, ow};
        tu_assert_dims(y, 4, yd);

        graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
        cs.out_channels = k->c;
        cs.kernel_h = k->kh;
        cs.kernel_w = k->kw;
        cs.stride_h = k->sh;
        cs.stride_w = k->sw;
        cs.pad_top = k->pt;
        cs.pad_left = k->pl;
        cs.pad_bottom = k->pb;
        cs.pad_right = k->pr;
        cs.dilation_h = k->dh;
        cs.dilation_w = k->dw;
        cs.groups = k->groups;
        cs.bias = 0;
        graft_tensor *dy = tu_tensor(ctx, 4, k->n, k->o, (int)oh, (int)ow);
        tu_fill_uniform(dy, 200 + t, -1, 1);
        graft_layer *lc = tu_conv_spec_layer(ctx, &cs, dy);
        graft_tensor *wc = NULL, *wt = NULL;
        ck_assert_int_eq(graft_layer_param(lc, 0, NULL, &wc, NULL, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_layer_param(lt, 0, NULL, &wt, NULL, NULL), GRAFT_OK);
        ck_assert_uint_eq(graft_tensor_numel(wc), graft_tensor_numel(wt));
        tu_conv_set_param(lc, 0, graft_tensor_data_const(wt), graft_tensor_numel(wt));

        /* conv2d(dy) has x's shape; its input gradient for x has y's */
        const graft_tensor *cy = tu_conv_forward(lc, dy);
        const int64_t xd[4] = {k->n, k->c, k->h, k->w};
        tu_assert_dims(cy, 4, xd);
        const graft_tensor *cin[1] = {dy}, *cdx[1];
        ck_assert_int_eq(graft_layer_backward(lc, 1, cin, x, cdx), GRAFT_OK);
        tu_assert_close(graft_tensor_data_const(y), graft_tensor_data_const(cdx[0]),
                        graft_tensor_numel(y), 1e-5f, 1e-5f, "forward = conv2d input gradient");

        const graft_tensor *tin[1] = {x}, *tdx[1];
        ck_assert_int_eq(graft_layer_backward(lt, 1, tin, dy, tdx), GRAFT_OK);
        tu_assert_close(graft_tensor_data_const(tdx[0]), graft_tensor_data_const(cy),
                        graft_tensor_numel(x), 1e-5f, 1e-5f, "input gradient = conv2d");
        graft_layer_free(lt);
        graft_layer_free(lc);
        graft_tensor_free(x);
        graft_tensor_free(dy);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- gradients, BLAS, save/load --------------------------------------------------- */

static const ct_cfg grad_cfgs[] = {
    /*  n  c  h  w  o  kh kw sh sw pt pl pb pr oph opw dh dw g  bias */
    {2, 2, 3, 4, 3, 3, 3, 2, 2, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1},
    {2, 4, 3, 3, 2, 2, 3, 1, 2, 0, 1, 1, 0, 0, 1, 2, 1, 2, 1},
    /* output padding below the dilation but not the stride */
    {1, 2, 3, 3, 2, 3, 2, 1, 1, 1, 0, 0, 0, 1, 1, 2, 2, 1, 0},
    /* a 1x1 kernel: the direct path */
    {2, 3, 3, 4, 2, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1},
};

START_TEST(test_conv_transpose2d_gradients_blas_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    for (size_t t = 0; t < sizeof grad_cfgs / sizeof grad_cfgs[0]; t++) {
        const ct_cfg *k = &grad_cfgs[t];
        graft_tensor *x = tu_tensor(ctx, 4, k->n, k->c, k->h, k->w);
        tu_fill_uniform(x, 300 + t, -1, 1);
        graft_layer *l = make(ctx, k, x, 40 + t);
        size_t weights = (size_t)k->c * (k->o / k->groups) * k->kh * k->kw;
        size_t compared = tu_gradcheck(l, 1, &x, NULL);
        ck_assert_uint_eq(compared, graft_tensor_numel(x) + weights + (k->bias ? k->o : 0));
        tu_check_blas_vs_reference(l, 1, &x, 1e-4f);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Attributes by their ONNX names, the output size formula and flops. */
START_TEST(test_conv_transpose2d_attrs_sizes_flops)
{
    graft_ctx *ctx = tu_ctx();
    const ct_cfg k = {1, 4, 5, 7, 6, 3, 4, 3, 2, 1, 2, 0, 1, 2, 1, 1, 2, 2, 1};
    graft_tensor *x = tu_tensor(ctx, 4, k.n, k.c, k.h, k.w);
    tu_fill_uniform(x, 9, -1, 1);
    graft_layer *l = make(ctx, &k, x, 2);
    const graft_tensor *y = tu_conv_forward(l, x);
    /* 3*4 + 2 + 3 - 1 - 0 = 16 rows, 2*6 + 1 + 7 - 2 - 1 = 17 columns */
    tu_assert_dims(y, 4, (const int64_t[4]){1, 6, 16, 17});
    int64_t v[8];
    ck_assert_int_eq(graftLayerAttrInts(l, "kernel_shape", v, 8), 2);
    ck_assert(v[0] == 3 && v[1] == 4);
    ck_assert_int_eq(graftLayerAttrInts(l, "strides", v, 8), 2);
    ck_assert(v[0] == 3 && v[1] == 2);
    ck_assert_int_eq(graftLayerAttrInts(l, "pads", v, 8), 4);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 0 && v[3] == 1);
    ck_assert_int_eq(graftLayerAttrInts(l, "output_padding", v, 8), 2);
    ck_assert(v[0] == 2 && v[1] == 1);
    ck_assert_int_eq(graftLayerAttrInts(l, "dilations", v, 8), 2);
    ck_assert(v[0] == 1 && v[1] == 2);
    ck_assert_int_eq(graftLayerAttrInts(l, "group", v, 8), 1);
    ck_assert_int_eq(v[0], 2);
    ck_assert_int_eq(graftLayerAttrInts(l, "out_channels", v, 8), 1);
    ck_assert_int_eq(v[0], 6);
    /* every input cell times (6/2)*3*4 weights, a multiply-add each, plus
     * the bias on every output cell */
    ck_assert_int_eq(graftLayerFlops(l), 2 * 3 * 3 * 4 * (4 * 5 * 7) + 6 * 16 * 17);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_conv_transpose2d_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_conv_transpose2d_spec s = GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
    graft_layer *l = (graft_layer *)1;
    /* out_channels has no default */
    tu_expect_error(ctx, graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_conv_transpose2d(): out_channels is 0, must be >= 1");
    ck_assert_ptr_null(l);
    s.out_channels = 4;
    const struct {
        size_t offset;
        int value;
        const char *msg;
    } bad[] = {
        {offsetof(graft_conv_transpose2d_spec, kernel_w), 0, "kernel_w is 0, must be >= 1"},
        {offsetof(graft_conv_transpose2d_spec, stride_h), 0, "stride_h is 0, must be >= 1"},
        {offsetof(graft_conv_transpose2d_spec, pad_right), -1, "pad_right is -1, must be >= 0"},
        {offsetof(graft_conv_transpose2d_spec, output_padding_w), -2,
         "output_padding_w is -2, must be >= 0"},
        {offsetof(graft_conv_transpose2d_spec, dilation_h), 0, "dilation_h is 0, must be >= 1"},
        {offsetof(graft_conv_transpose2d_spec, groups), 0, "groups is 0, must be >= 1"},
        {offsetof(graft_conv_transpose2d_spec, groups), 3,
         "out_channels 4 is not divisible by groups 3"},
        {offsetof(graft_conv_transpose2d_spec, bias), 2, "bias is 2, must be 0 or 1"},
        /* ONNX and PyTorch: output padding below the stride or the dilation */
        {offsetof(graft_conv_transpose2d_spec, output_padding_h), 1,
         "output_padding_h is 1, must be < stride_h (1) or dilation_h (1)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        graft_conv_transpose2d_spec b = s;
        memcpy((char *)&b + bad[i].offset, &bad[i].value, sizeof(int));
        char want[256];
        snprintf(want, sizeof want, "graft_layer_conv_transpose2d(): %s", bad[i].msg);
        tu_expect_error(ctx, graft_layer_conv_transpose2d(ctx, &b, &l), GRAFT_E_INVALID_ARG,
                        want);
        ck_assert_ptr_null(l);
    }
    s.stride_w = 2;
    s.output_padding_w = 2;
    tu_expect_error(ctx, graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_conv_transpose2d(): output_padding_w is 2, must be < stride_w "
                    "(2) or dilation_w (1)");
    s.dilation_w = 3; /* below the dilation: PyTorch's rule accepts it */
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_OK);
    graft_layer_free(l);
    s.output_padding_w = 1;
    s.dilation_w = 1;
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_OK);
    graft_layer_free(l);
    s.struct_size = 8;
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_E_VERSION);
    s.struct_size = sizeof s;
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, &s, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_conv_transpose2d(NULL, &s, &l), GRAFT_E_INVALID_ARG);

    /* Building: a 4-D input, channels divisible by groups, an output of
     * at least one cell. */
    s = (graft_conv_transpose2d_spec)GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
    s.out_channels = 2;
    s.groups = 2;
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_OK);
    graft_tensor *x3 = tu_tensor(ctx, 3, 1, 2, 5), *x = tu_tensor(ctx, 4, 1, 3, 2, 2);
    const graft_tensor *in3[1] = {x3}, *in[1] = {x};
    tu_expect_error(ctx, graft_layer_build(l, 1, in3, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): conv_transpose2d layer: input must be 4-D (N, C, H, "
                    "W), got 3-D shape (1, 2, 5)");
    tu_expect_error(ctx, graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): conv_transpose2d layer: input channels 3 are not "
                    "divisible by groups 2");
    graft_layer_free(l);
    s.groups = 1;
    s.pad_top = 1;
    s.pad_bottom = 1;
    ck_assert_int_eq(graft_layer_conv_transpose2d(ctx, &s, &l), GRAFT_OK);
    tu_expect_error(ctx, graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): conv_transpose2d layer: output height would be 0 "
                    "(input height 2, stride_h 1, output_padding_h 0, kernel_h 1, dilation_h "
                    "1, pad_top 1, pad_bottom 1), must be >= 1");
    graft_layer_free(l);
    graft_tensor_free(x3);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* A file can hold nothing the constructor refuses: the load runs the same
 * check and fails with GRAFT_E_FORMAT, naming the attribute. */
START_TEST(test_conv_transpose2d_load_checks)
{
    graft_ctx *ctx = tu_ctx();
    const ct_cfg k = {1, 2, 3, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1};
    graft_tensor *x = tu_tensor(ctx, 4, k.n, k.c, k.h, k.w);
    tu_fill_uniform(x, 3, -1, 1);
    graft_layer *l = make(ctx, &k, x, 4);
    /* the record: out_channels, kernel_shape, strides, pads,
     * output_padding, dilations, group, bias; 4 bytes each */
    const int32_t two = 2, three = 3, neg = -1, zero = 0;
    ck_assert_int_eq(tu_load_patched(l, 36, &two), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): output_padding_h is 2, must be < "
                                        "stride_h (2) or dilation_h (1)");
    ck_assert_int_eq(tu_load_patched(l, 52, &three), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_load(): out_channels 4 is not divisible by groups 3");
    ck_assert_int_eq(tu_load_patched(l, 28, &neg), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): pad_bottom is -1, must be >= 0");
    ck_assert_int_eq(tu_load_patched(l, 48, &zero), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): dilation_w is 0, must be >= 1");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_conv_transpose2d(void)
{
    Suite *s = suite_create("conv_transpose2d");
    TCase *tc = tcase_create("conv_transpose2d");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conv_transpose2d_values);
    tcase_add_test(tc, test_conv_transpose2d_adjoint_of_conv2d);
    tcase_add_test(tc, test_conv_transpose2d_gradients_blas_roundtrip);
    tcase_add_test(tc, test_conv_transpose2d_attrs_sizes_flops);
    tcase_add_test(tc, test_conv_transpose2d_errors);
    tcase_add_test(tc, test_conv_transpose2d_load_checks);
    suite_add_tcase(s, tc);
    return s;
}
