/*
 * layer_scale_shift.c - an elementwise affine map with constant, broadcast
 * coefficients.
 *
 * Input X (N, d1, ..., dk); buffers scale and shift of the per-sample shape
 * P = (p1, ..., pk) given as the attribute, each pi equal to di or 1. With
 * s(i) and b(i) the coefficients that element i reads (a size-1 axis of P
 * repeats along X's axis):
 *   Y[i]  = X[i] * s(i) + b(i)
 *   dX[i] = dY[i] * s(i)
 * scale and shift are buffers (trainable 0): constants of an imported
 * network such as an input normalisation, a scalar multiplier or a bias
 * added to a non-linear layer's output.
 */
#include "layer.h"

#include <string.h>

typedef struct ss_state {
    int ndim;                         /* per-sample rank of the buffers */
    int64_t dims[GRAFT_MAX_DIMS - 1];
    int64_t strides[GRAFT_MAX_DIMS];  /* per input axis (batch 0): 0 where broadcast */
} ss_state;

enum { P_SCALE, P_SHIFT };

static int ss_check(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims)
{
    return graftCheckSampleDims(ctx, func, ndim, dims, "");
}

static int ss_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    ss_state *s = l->state;
    (void)n_inputs;
    int ok = in[0].ndim == s->ndim + 1;
    for (int d = 0; ok && d < s->ndim; d++)
        ok = s->dims[d] == 1 || s->dims[d] == in[0].dims[d + 1];
    if (!ok) {
        char got[160], want[160];
        graftShapeString(in[0].ndim, in[0].dims, got, sizeof got);
        graftShapeString(s->ndim, s->dims, want, sizeof want);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "scale_shift layer: coefficients of shape %s do not broadcast over the "
                          "input %s (one per non-batch axis, each 1 or the input's size)",
                          want, got);
    }
    int64_t acc = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        s->strides[d + 1] = s->dims[d] == 1 ? 0 : acc;
        acc *= s->dims[d];
    }
    s->strides[0] = 0;
    *out = in[0];
    return GRAFT_OK;
}

static int ss_declare_params(const graft_layer *l, graftParamDecl *decl)
{
    const ss_state *s = l->state;
    graftShape p;
    memset(&p, 0, sizeof p);
    p.ndim = s->ndim;
    memcpy(p.dims, s->dims, (size_t)s->ndim * sizeof *s->dims);
    decl[P_SCALE] = (graftParamDecl){"scale", p, 0};
    decl[P_SHIFT] = (graftParamDecl){"shift", p, 0};
    return 2;
}

static void ss_init_params(graft_layer *l, graftRng *rng)
{
    (void)rng;
    graft_tensor *scale = l->params[P_SCALE].value;
    for (size_t i = 0; i < scale->numel; i++) scale->data[i] = 1.0f;
}

/* Y = X * s + b, row by row along the last axis. */
static void ss_run(const graft_layer *l, const graft_tensor *x, const float *src, float *dst)
{
    const ss_state *s = l->state;
    const float *scale = l->params[P_SCALE].value->data, *shift = l->params[P_SHIFT].value->data;
    int last = x->ndim - 1;
    int64_t inner = x->dims[last], step = s->strides[last];
    int64_t idx[GRAFT_MAX_DIMS] = {0};
    size_t rows = x->numel / (size_t)inner;
    for (size_t row = 0; row < rows; row++) {
        int64_t off = 0;
        for (int d = 1; d < last; d++) off += idx[d] * s->strides[d];
        const float *a = src + row * (size_t)inner;
        float *y = dst + row * (size_t)inner;
        for (int64_t j = 0; j < inner; j++)
            y[j] = a[j] * scale[off + j * step] + shift[off + j * step];
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d]) break;
            idx[d] = 0;
        }
    }
}

static int ss_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    ss_run(l, in[0], in[0]->data, out->data);
    return GRAFT_OK;
}

/* dX = dY * s: the forward kernel without the shift. */
static void ss_run_backward(const graft_layer *l, const graft_tensor *x, const float *dy,
                            float *dx)
{
    const ss_state *s = l->state;
    const float *scale = l->params[P_SCALE].value->data;
    int last = x->ndim - 1;
    int64_t inner = x->dims[last], step = s->strides[last];
    int64_t idx[GRAFT_MAX_DIMS] = {0};
    size_t rows = x->numel / (size_t)inner;
    for (size_t row = 0; row < rows; row++) {
        int64_t off = 0;
        for (int d = 1; d < last; d++) off += idx[d] * s->strides[d];
        for (int64_t j = 0; j < inner; j++)
            dx[row * (size_t)inner + j] = dy[row * (size_t)inner + j] * scale[off + j * step];
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d]) break;
            idx[d] = 0;
        }
    }
}

static int ss_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                       const graft_tensor *dout, graft_tensor *const *din)
{
    (void)out;
    if (din[0]) ss_run_backward(l, in[0], dout->data, din[0]->data);
    return GRAFT_OK;
}

static int ss_save(const graft_layer *l, graftWriter *w)
{
    const ss_state *s = l->state;
    graftWriteSampleDims(w, s->ndim, s->dims);
    return w->status;
}

static int ss_load(graft_layer *l, graftReader *r, uint32_t version)
{
    ss_state *s = l->state;
    (void)version;
    return graftReadSampleDims(l, r, "scale_shift", ss_check, &s->ndim, s->dims);
}

/* A multiply and an add per element. */
static int64_t ss_flops(const graft_layer *l)
{
    return 2 * graftShapeSampleNumel(&l->out_shape);
}

/* ONNX: Mul by the scale, then Add of the shift. */
static int ss_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    char sn[GRAFT_ONNX_NAME_MAX], hn[GRAFT_ONNX_NAME_MAX], mid[GRAFT_ONNX_NAME_MAX],
        mname[GRAFT_ONNX_NAME_MAX];
    GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "scale", sn));
    GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "shift", hn));
    graftOnnxAuxName(o, "scaled", mid);
    graftOnnxSubName(o, "scale", mname);
    const char *mul_in[2] = {o->inputs[0], sn}, *add_in[2] = {mid, hn};
    graftOnnxNode(o, "Mul", mname, 2, mul_in, mid);
    graftOnnxNode(o, "Add", NULL, 2, add_in, o->output);
    return GRAFT_OK;
}

const graftLayerVtbl graftScaleShiftVtbl = {
    .kind = "scale_shift",
    .version = 1,
    .state_size = sizeof(ss_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = ss_infer_shape,
    .declare_params = ss_declare_params,
    .init_params = ss_init_params,
    .forward = ss_forward,
    .backward = ss_backward,
    .save = ss_save,
    .load = ss_load,
    .flops = ss_flops,
    .onnx_export = ss_onnx_export,
};

GRAFT_API int graft_layer_scale_shift(graft_ctx *ctx, int ndim, const int64_t *dims,
                                      graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(ss_check(ctx, __func__, ndim, dims));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftScaleShiftVtbl, __func__, &l));
    ss_state *s = l->state;
    s->ndim = ndim;
    memcpy(s->dims, dims, (size_t)ndim * sizeof *dims);
    *out = l;
    return GRAFT_OK;
}
