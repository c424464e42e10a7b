/*
 * layer_conv_transpose2d.c - 2-D transposed convolution over NCHW input
 * (ONNX ConvTranspose, PyTorch's ConvTranspose2d).
 *
 * Input X (N, C, H, W), weight Wt (C, O/G, KH, KW), bias b (O), output
 * Y (N, O, OH, OW), G groups, with
 *   OH = SH*(H-1) + OPH + DH*(KH-1) + 1 - PT - PB      (OW alike)
 * Every input cell scatters into the output:
 *   Y[n, g*Og + o, i*SH - PT + ki*DH, j*SW - PL + kj*DW]
 *       += X[n, g*Cg + c, i, j] * Wt[g*Cg + c, o, ki, kj]
 * (terms landing outside the output dropped), plus b[g*Og + o] everywhere:
 * the input gradient of a conv2d from Y's shape to X's with the same
 * weight. The pads remove rows and columns of the full scatter; OPH adds
 * rows at the bottom (OPW columns at the right) that it may not reach.
 *
 * Per image n and group g, with Cg = C/G, Og = O/G, K = Og*KH*KW and
 * P = H*W, the column matrix col (K x P) has row (o*KH + ki)*KW + kj and
 * column i*W + j for the output cell above:
 *   col    = Wt_g^T X_g   (K x Cg times Cg x P), added into Y_g (col2im)
 *   dcol   = dY_g at the same cells, 0 outside (im2col)   (K x P)
 *   dX_g   = Wt_g dcol                                     (Cg x P)
 *   dWt_g += X_g dcol^T                                    (Cg x K)
 *   db     = sum over n, y, x of dY.
 * A 1x1 kernel with stride 1 and no padding maps cell to cell: col is Y_g
 * itself and dcol is dY_g, so no copy is made. Otherwise col lives in the
 * layer's scratch (layer.h), used within one call only.
 */
#include "conv_common.h"
#include "layer.h"
#include "core/options.h"
#include "core/parallel.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct convt_state {
    graft_conv_transpose2d_spec spec; /* validated attributes */
    /* set by infer_shape */
    int in_c, in_h, in_w, out_h, out_w;
} convt_state;

/* ---- geometry ------------------------------------------------------------- */

/* SH*(H-1) + OPH + DH*(KH-1) + 1 - PT - PB, in 64 bits (no overflow for
 * int attributes and sizes below 2^31). */
static int64_t out_size(int64_t size, int stride, int out_pad, int dilation, int kernel,
                        int pad_a, int pad_b)
{
    return (int64_t)stride * (size - 1) + out_pad + (int64_t)dilation * (kernel - 1) + 1 -
           pad_a - pad_b;
}

/* Sizes of one call. */
typedef struct convt_dims {
    int c, h, w, o, oh, ow;
    int groups, cg, og;
    int k;       /* Og*KH*KW: rows of the column matrix */
    int p;       /* H*W: its columns */
    size_t ohw;  /* OH*OW */
    int direct;  /* 1x1, stride 1, no padding: col is the output itself */
} convt_dims;

static convt_dims get_dims(const convt_state *s)
{
    const graft_conv_transpose2d_spec *sp = &s->spec;
    convt_dims d;
    d.c = s->in_c;
    d.h = s->in_h;
    d.w = s->in_w;
    d.o = sp->out_channels;
    d.oh = s->out_h;
    d.ow = s->out_w;
    d.groups = sp->groups;
    d.cg = d.c / d.groups;
    d.og = d.o / d.groups;
    d.k = d.og * sp->kernel_h * sp->kernel_w;
    d.p = d.h * d.w;
    d.ohw = (size_t)d.oh * (size_t)d.ow;
    d.direct = sp->kernel_h == 1 && sp->kernel_w == 1 && sp->stride_h == 1 &&
               sp->stride_w == 1 && sp->pad_top == 0 && sp->pad_left == 0 &&
               sp->pad_bottom == 0 && sp->pad_right == 0 && sp->output_padding_h == 0 &&
               sp->output_padding_w == 0;
    return d;
}

/* ---- column matrix -------------------------------------------------------- */

/* What the threads of one im2col or col2im share. */
typedef struct convt_pass {
    const graft_conv_transpose2d_spec *sp;
    const convt_dims *d;
    const float *src;
    float *dst;
} convt_pass;

/* im2col for output channels [o0, o1) of the group: the rows of col
 * (ps->dst, K x P) from the output-shaped planes ps->src (Og of OH x OW),
 * 0 where the cell falls outside the output. */
static void im2col_range(void *arg, int o0, int o1, int worker)
{
    const convt_pass *ps = arg;
    const graft_conv_transpose2d_spec *sp = ps->sp;
    const convt_dims *d = ps->d;
    const int kh = sp->kernel_h, kw = sp->kernel_w, sh = sp->stride_h, sw = sp->stride_w;
    (void)worker;
    for (int o = o0; o < o1; o++) {
        const float *plane = ps->src + (size_t)o * d->ohw;
        for (int ki = 0; ki < kh; ki++) {
            const int64_t offy = (int64_t)ki * sp->dilation_h - sp->pad_top;
            int ilo, ihi;
            graftConvTapRange(offy, sh, d->oh, d->h, &ilo, &ihi);
            for (int kj = 0; kj < kw; kj++) {
                const int64_t offx = (int64_t)kj * sp->dilation_w - sp->pad_left;
                int jlo, jhi;
                graftConvTapRange(offx, sw, d->ow, d->w, &jlo, &jhi);
                float *row = ps->dst + ((size_t)(o * kh + ki) * kw + kj) * (size_t)d->p;
                memset(row, 0, (size_t)ilo * d->w * sizeof *row);
                memset(row + (size_t)ihi * d->w, 0, (size_t)(d->h - ihi) * d->w * sizeof *row);
                for (int i = ilo; i < ihi; i++) {
                    float *dst = row + (size_t)i * d->w;
                    /* the cell of column j: base + j*sw, inside for j in [jlo, jhi) */
                    const int64_t base = ((int64_t)i * sh + offy) * d->ow + offx;
                    for (int j = 0; j < jlo; j++) dst[j] = 0.0f;
                    if (sw == 1) {
                        if (jhi > jlo)
                            memcpy(dst + jlo, plane + (base + jlo),
                                   (size_t)(jhi - jlo) * sizeof *dst);
                    } else {
                        for (int j = jlo; j < jhi; j++) dst[j] = plane[base + (int64_t)j * sw];
                    }
                    for (int j = jhi; j < d->w; j++) dst[j] = 0.0f;
                }
            }
        }
    }
}

/* col2im for output channels [o0, o1) of the group: adds the rows of col
 * (ps->src, K x P) into the output planes ps->dst (Og of OH x OW), the
 * transpose of im2col_range. Each channel writes its own plane only. */
static void col2im_range(void *arg, int o0, int o1, int worker)
{
    const convt_pass *ps = arg;
    const graft_conv_transpose2d_spec *sp = ps->sp;
    const convt_dims *d = ps->d;
    const int kh = sp->kernel_h, kw = sp->kernel_w, sh = sp->stride_h, sw = sp->stride_w;
    (void)worker;
    for (int o = o0; o < o1; o++) {
        float *plane = ps->dst + (size_t)o * d->ohw;
        for (int ki = 0; ki < kh; ki++) {
            const int64_t offy = (int64_t)ki * sp->dilation_h - sp->pad_top;
            int ilo, ihi;
            graftConvTapRange(offy, sh, d->oh, d->h, &ilo, &ihi);
            for (int kj = 0; kj < kw; kj++) {
                const int64_t offx = (int64_t)kj * sp->dilation_w - sp->pad_left;
                int jlo, jhi;
                graftConvTapRange(offx, sw, d->ow, d->w, &jlo, &jhi);
                if (jlo >= jhi) continue;
                const float *row =
                    ps->src + ((size_t)(o * kh + ki) * kw + kj) * (size_t)d->p;
                for (int i = ilo; i < ihi; i++) {
                    const float *src = row + (size_t)i * d->w;
                    const int64_t base = ((int64_t)i * sh + offy) * d->ow + offx;
                    if (sw == 1) {
                        graftConvRowAdd(plane + (base + jlo), src + jlo, jhi - jlo);
                    } else {
                        for (int j = jlo; j < jhi; j++) plane[base + (int64_t)j * sw] += src[j];
                    }
                }
            }
        }
    }
}

/* Runs fn over the group's Og output channels on as many threads as pay. */
static void over_channels(const convt_dims *d, const graft_conv_transpose2d_spec *sp,
                          graftRangeFn fn, const float *src, float *dst)
{
    convt_pass ps = {sp, d, src, dst};
    double cost = (double)sp->kernel_h * sp->kernel_w * d->p;
    graftParallelFor(d->og, graftParallelWorkers(d->og, cost), fn, &ps);
}

/* The column workspace (K x P floats of the layer's scratch), or NULL when
 * the call needs none. */
static int ensure_col(graft_layer *l, const convt_dims *d, const char *func, float **col)
{
    *col = NULL;
    if (d->direct) return GRAFT_OK;
    *col = graftLayerScratch(l, (size_t)d->k * (size_t)d->p, func, "column workspace");
    return *col ? GRAFT_OK : GRAFT_E_NOMEM;
}

/* ---- attributes ----------------------------------------------------------- */

/* Validates the attributes of a spec whose struct_size is known. */
static int convt_check(graft_ctx *ctx, const char *func, const graft_conv_transpose2d_spec *sp)
{
#define CONVT_AT_LEAST(field, min)                                                      \
    GRAFT_RETURN_IF_AT(sp->field < (min), ctx, GRAFT_E_INVALID_ARG, func,               \
                       #field " is %d, must be >= %d", sp->field, (min))
    CONVT_AT_LEAST(out_channels, 1);
    CONVT_AT_LEAST(kernel_h, 1);
    CONVT_AT_LEAST(kernel_w, 1);
    CONVT_AT_LEAST(stride_h, 1);
    CONVT_AT_LEAST(stride_w, 1);
    CONVT_AT_LEAST(pad_top, 0);
    CONVT_AT_LEAST(pad_left, 0);
    CONVT_AT_LEAST(pad_bottom, 0);
    CONVT_AT_LEAST(pad_right, 0);
    CONVT_AT_LEAST(output_padding_h, 0);
    CONVT_AT_LEAST(output_padding_w, 0);
    CONVT_AT_LEAST(dilation_h, 1);
    CONVT_AT_LEAST(dilation_w, 1);
    CONVT_AT_LEAST(groups, 1);
#undef CONVT_AT_LEAST
    /* ONNX and PyTorch: each output padding smaller than its stride or its
     * dilation */
    GRAFT_RETURN_IF_AT(sp->output_padding_h >= sp->stride_h &&
                           sp->output_padding_h >= sp->dilation_h,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "output_padding_h is %d, must be < stride_h (%d) or dilation_h (%d)",
                       sp->output_padding_h, sp->stride_h, sp->dilation_h);
    GRAFT_RETURN_IF_AT(sp->output_padding_w >= sp->stride_w &&
                           sp->output_padding_w >= sp->dilation_w,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "output_padding_w is %d, must be < stride_w (%d) or dilation_w (%d)",
                       sp->output_padding_w, sp->stride_w, sp->dilation_w);
    GRAFT_RETURN_IF_AT(sp->out_channels % sp->groups != 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "out_channels %d is not divisible by groups %d", sp->out_channels,
                       sp->groups);
    GRAFT_RETURN_IF_AT(sp->bias != 0 && sp->bias != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "bias is %d, must be 0 or 1", sp->bias);
    return GRAFT_OK;
}

/* Readable by name, ONNX's names; also the saved record, in this order. */
static const graftAttrDecl convt_attrs[] = {
    {"out_channels", GRAFT_ATTR_INT, offsetof(convt_state, spec.out_channels), 1},
    {"kernel_shape", GRAFT_ATTR_INT, offsetof(convt_state, spec.kernel_h), 2},
    {"strides", GRAFT_ATTR_INT, offsetof(convt_state, spec.stride_h), 2},
    {"pads", GRAFT_ATTR_INT, offsetof(convt_state, spec.pad_top), 4},
    {"output_padding", GRAFT_ATTR_INT, offsetof(convt_state, spec.output_padding_h), 2},
    {"dilations", GRAFT_ATTR_INT, offsetof(convt_state, spec.dilation_h), 2},
    {"group", GRAFT_ATTR_INT, offsetof(convt_state, spec.groups), 1},
    {"bias", GRAFT_ATTR_INT, offsetof(convt_state, spec.bias), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* Saved attributes (version 1): the attribute table in order, 15 int32 in
 * the order of graft_conv_transpose2d_spec, out_channels to bias. */
static int convt_save(const graft_layer *l, graftWriter *w)
{
    return graftLayerWriteAttrs(l, w);
}

static int convt_load(graft_layer *l, graftReader *r, uint32_t version)
{
    convt_state *s = l->state, read = *s;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (convt_check(l->ctx, "graft_load", &read.spec) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->spec = read.spec;
    return GRAFT_OK;
}

/* ---- slots ---------------------------------------------------------------- */

static int convt_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    const char *func = "graft_layer_build";
    (void)n_inputs;
    if (in[0].ndim != 4) {
        char got[160];
        graftShapeString(in[0].ndim, in[0].dims, got, sizeof got);
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv_transpose2d layer: input must be 4-D (N, C, H, W), got %d-D "
                          "shape %s",
                          in[0].ndim, got);
    }
    const int64_t c = in[0].dims[1], h = in[0].dims[2], w = in[0].dims[3];
    if (c > INT_MAX || h > INT_MAX || w > INT_MAX || h * w > INT_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv_transpose2d layer: input channels and height*width must each "
                          "be < 2^31");
    if (c % sp->groups != 0)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv_transpose2d layer: input channels %lld are not divisible by "
                          "groups %d",
                          (long long)c, sp->groups);
    const int64_t oh = out_size(h, sp->stride_h, sp->output_padding_h, sp->dilation_h,
                                sp->kernel_h, sp->pad_top, sp->pad_bottom);
    if (oh < 1)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv_transpose2d layer: output height would be %lld (input height "
                          "%lld, stride_h %d, output_padding_h %d, kernel_h %d, dilation_h %d, "
                          "pad_top %d, pad_bottom %d), must be >= 1",
                          (long long)oh, (long long)h, sp->stride_h, sp->output_padding_h,
                          sp->kernel_h, sp->dilation_h, sp->pad_top, sp->pad_bottom);
    const int64_t ow = out_size(w, sp->stride_w, sp->output_padding_w, sp->dilation_w,
                                sp->kernel_w, sp->pad_left, sp->pad_right);
    if (ow < 1)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv_transpose2d layer: output width would be %lld (input width "
                          "%lld, stride_w %d, output_padding_w %d, kernel_w %d, dilation_w %d, "
                          "pad_left %d, pad_right %d), must be >= 1",
                          (long long)ow, (long long)w, sp->stride_w, sp->output_padding_w,
                          sp->kernel_w, sp->dilation_w, sp->pad_left, sp->pad_right);
    /* The matrix products take int sizes: K, P and an output plane must fit. */
    int64_t k = (int64_t)(sp->out_channels / sp->groups) * sp->kernel_h;
    if (k <= INT_MAX) k *= sp->kernel_w;
    if (k > INT_MAX || oh > INT_MAX || ow > INT_MAX || oh * ow > INT_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "conv_transpose2d layer: out_channels/groups*kernel_h*kernel_w "
                          "(%lld) and output height*width (%lld x %lld) must each be < 2^31",
                          (long long)k, (long long)oh, (long long)ow);
    s->in_c = (int)c;
    s->in_h = (int)h;
    s->in_w = (int)w;
    s->out_h = (int)oh;
    s->out_w = (int)ow;
    out->ndim = 4;
    out->dims[0] = 1;
    out->dims[1] = sp->out_channels;
    out->dims[2] = oh;
    out->dims[3] = ow;
    size_t numel;
    return graftShapeCheck(l->ctx, func, out->ndim, out->dims, &numel);
}

static int convt_declare_params(const graft_layer *l, graftParamDecl *decl)
{
    const convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    return graftConvDeclareParams(decl, s->in_c, sp->out_channels / sp->groups, sp->kernel_h,
                                  sp->kernel_w, sp->out_channels, sp->bias);
}

/* He uniform over the fan-in PyTorch uses for this weight layout:
 * (out_channels/groups) * KH * KW. */
static void convt_init_params(graft_layer *l, graftRng *rng)
{
    const convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    graftConvInitParams(l, rng,
                        (double)(sp->out_channels / sp->groups) * sp->kernel_h * sp->kernel_w);
}

static int convt_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    const convt_dims d = get_dims(s);
    const int n = (int)in[0]->dims[0]; /* <= GRAFT_LAYER_MAX_BATCH: check_inputs */
    const float *x = in[0]->data, *w = l->params[0].value->data;
    const float *b = sp->bias ? l->params[1].value->data : NULL;
    float *y = out->data, *col;
    GRAFT_FORWARD_IF_ERROR(ensure_col(l, &d, "graft_layer_forward", &col));
    for (int i = 0; i < n; i++) {
        for (int g = 0; g < d.groups; g++) {
            const float *xg = x + ((size_t)i * d.c + (size_t)g * d.cg) * (size_t)d.p;
            const float *wg = w + (size_t)g * d.cg * (size_t)d.k;
            float *yg = y + ((size_t)i * d.o + (size_t)g * d.og) * d.ohw;
            for (int o = 0; o < d.og; o++) {
                float *plane = yg + (size_t)o * d.ohw;
                const float bv = b ? b[g * d.og + o] : 0.0f;
                for (size_t q = 0; q < d.ohw; q++) plane[q] = bv;
            }
            if (d.direct) {
                /* K == Og and P == OH*OW: the product lands in the output */
                graftSgemm(l->ctx, 1, 0, d.k, d.p, d.cg, 1.0f, wg, d.k, xg, d.p, 1.0f, yg, d.p);
                continue;
            }
            graftSgemm(l->ctx, 1, 0, d.k, d.p, d.cg, 1.0f, wg, d.k, xg, d.p, 0.0f, col, d.p);
            over_channels(&d, sp, col2im_range, col, yg);
        }
    }
    return GRAFT_OK;
}

static int convt_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                          const graft_tensor *dout, graft_tensor *const *din)
{
    convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    const convt_dims d = get_dims(s);
    const int n = (int)in[0]->dims[0];
    const int pgrad = l->need_param_grad;
    const float *x = in[0]->data, *w = l->params[0].value->data, *dy = dout->data;
    float *dw = pgrad ? l->params[0].grad->data : NULL;
    float *db = pgrad && sp->bias ? l->params[1].grad->data : NULL;
    float *dx = din[0] ? din[0]->data : NULL;
    (void)out;
    if (db) {
        memset(db, 0, (size_t)d.o * sizeof *db);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < d.o; o++) {
                const float *g = dy + ((size_t)i * d.o + (size_t)o) * d.ohw;
                db[o] += graftConvRowDot(g, NULL, (int)d.ohw);
            }
    }
    if (!dw && !dx) return GRAFT_OK;
    float *col;
    GRAFT_FORWARD_IF_ERROR(ensure_col(l, &d, "graft_layer_backward", &col));
    for (int i = 0; i < n; i++) {
        for (int g = 0; g < d.groups; g++) {
            const size_t xoff = ((size_t)i * d.c + (size_t)g * d.cg) * (size_t)d.p;
            const float *wg = w + (size_t)g * d.cg * (size_t)d.k;
            const float *dyg = dy + ((size_t)i * d.o + (size_t)g * d.og) * d.ohw;
            const float *dcol = dyg;
            if (!d.direct) {
                over_channels(&d, sp, im2col_range, dyg, col);
                dcol = col;
            }
            if (dw)
                graftSgemm(l->ctx, 0, 1, d.cg, d.k, d.p, 1.0f, x + xoff, d.p, dcol, d.p,
                           i == 0 ? 0.0f : 1.0f, dw + (size_t)g * d.cg * (size_t)d.k, d.k);
            if (dx)
                graftSgemm(l->ctx, 0, 0, d.cg, d.p, d.k, 1.0f, wg, d.k, dcol, d.p, 0.0f,
                           dx + xoff, d.p);
        }
    }
    return GRAFT_OK;
}

/* 2 * (O/G) * KH * KW per input cell and input channel (every product of
 * the scatter, the dropped ones included), plus the bias per output cell. */
static int64_t convt_flops(const graft_layer *l)
{
    const convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    int64_t per_input = 2 * (int64_t)(sp->out_channels / sp->groups) * sp->kernel_h *
                        sp->kernel_w;
    int64_t bias = sp->bias ? (int64_t)sp->out_channels * s->out_h * s->out_w : 0;
    return per_input * s->in_c * s->in_h * s->in_w + bias;
}

/* ---- ONNX: ConvTranspose --------------------------------------------------- */

static int convt_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const convt_state *s = l->state;
    const graft_conv_transpose2d_spec *sp = &s->spec;
    char wn[GRAFT_ONNX_NAME_MAX], bn[GRAFT_ONNX_NAME_MAX];
    GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "weight", wn));
    if (sp->bias) GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "bias", bn));
    const char *ins[3] = {o->inputs[0], wn, bn};
    size_t n = graftOnnxNodeBegin(o, "ConvTranspose", NULL, sp->bias ? 3 : 2, ins, o->output);
    const int64_t ks[2] = {sp->kernel_h, sp->kernel_w}, st[2] = {sp->stride_h, sp->stride_w},
                  pads[4] = {sp->pad_top, sp->pad_left, sp->pad_bottom, sp->pad_right},
                  op[2] = {sp->output_padding_h, sp->output_padding_w},
                  dil[2] = {sp->dilation_h, sp->dilation_w};
    graftOnnxAttrInts(o, "kernel_shape", 2, ks);
    graftOnnxAttrInts(o, "strides", 2, st);
    graftOnnxAttrInts(o, "pads", 4, pads);
    graftOnnxAttrInts(o, "output_padding", 2, op);
    graftOnnxAttrInts(o, "dilations", 2, dil);
    graftOnnxAttrInt(o, "group", sp->groups);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftConvTranspose2dVtbl = {
    .kind = "conv_transpose2d",
    .version = 1,
    .state_size = sizeof(convt_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = convt_infer_shape,
    .declare_params = convt_declare_params,
    .init_params = convt_init_params,
    .forward = convt_forward,
    .backward = convt_backward,
    .save = convt_save,
    .load = convt_load,
    .flops = convt_flops,
    .backward_ignores_output = 1,
    .attrs = convt_attrs,
    .onnx_export = convt_onnx_export,
};

/* The sizes graft_conv_transpose2d_spec has had: 1.2. */
static const uint32_t convt_spec_sizes[] = {(uint32_t)sizeof(graft_conv_transpose2d_spec)};
static const graftOptionsKind convt_spec_kind = {
    "spec", "GRAFT_CONV_TRANSPOSE2D_SPEC_INIT", convt_spec_sizes,
    GRAFT_OPTIONS_COUNT(convt_spec_sizes), 0, 0};

GRAFT_API int graft_layer_conv_transpose2d(graft_ctx *ctx, const graft_conv_transpose2d_spec *spec,
                                           graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!spec, ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    graft_conv_transpose2d_spec sp = GRAFT_CONV_TRANSPOSE2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &convt_spec_kind, spec, &sp));
    GRAFT_FORWARD_IF_ERROR(convt_check(ctx, __func__, &sp));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftConvTranspose2dVtbl, __func__, &l));
    ((convt_state *)l->state)->spec = sp;
    *out = l;
    return GRAFT_OK;
}
