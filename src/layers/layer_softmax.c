/*
 * layer_softmax.c - softmax along one axis.
 *
 * Input x (N, ...), rank r >= 2; the output y has the same shape. The axis
 * a is counted as ONNX counts it, on the whole tensor with the batch as axis
 * 0: 1 <= a < r, or -r < a <= -1 for a + r (-1: the last axis). The batch
 * axis itself is refused. graft_layer_softmax() is axis 1. Viewing x as
 * (outer, C, inner) with C = dims[a], for every (o, p) and
 * m = max_c x[o, c, p]:
 *   y[o, c, p] = exp(x[o, c, p] - m) / sum_k exp(x[o, k, p] - m)
 *   dx[o, c, p] = y[o, c, p] * (dy[o, c, p] - sum_k dy[o, k, p] * y[o, k, p])
 *
 * Saved record (version 2): i32 axis as given. Version 1 records are empty
 * and mean axis 1; a layer of axis 1 writes one (softmax_save_version).
 */
#include "layer.h"

#include <math.h>

typedef struct softmax_state {
    int axis; /* as given: 1.. or negative */
    int ax;   /* set by infer_shape: axis counted from 0 on the built rank */
} softmax_state;

static int softmax_check(graft_ctx *ctx, const char *func, int axis)
{
    GRAFT_RETURN_IF_AT(axis == 0 || axis >= GRAFT_MAX_DIMS || axis <= -GRAFT_MAX_DIMS, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "axis is %d, must be 1 to %d or -1 to -%d (axis 0 is the batch)", axis,
                       GRAFT_MAX_DIMS - 1, GRAFT_MAX_DIMS - 1);
    return GRAFT_OK;
}

static int softmax_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                               graftShape *out)
{
    softmax_state *s = l->state;
    (void)n_inputs;
    int r = in[0].ndim, a = s->axis < 0 ? s->axis + r : s->axis;
    if (r < 2)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "softmax layer: the input has %d dimension, needs at least 2 "
                          "(N, C, ...)",
                          r);
    if (a < 1 || a >= r)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "softmax layer: axis %d does not fit an input of rank %d (axis 0 is "
                          "the batch)",
                          s->axis, r);
    s->ax = a;
    *out = in[0];
    return GRAFT_OK;
}

/* Sizes of (outer, C, inner) for t around axis a. */
static void softmax_sizes(const graft_tensor *t, int a, size_t *outer, size_t *c, size_t *inner)
{
    size_t o = 1, in = 1;
    for (int d = 0; d < a; d++) o *= (size_t)t->dims[d];
    for (int d = a + 1; d < t->ndim; d++) in *= (size_t)t->dims[d];
    *outer = o;
    *c = (size_t)t->dims[a];
    *inner = in;
}

static int softmax_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const softmax_state *s = l->state;
    size_t outer, c, inner;
    softmax_sizes(in[0], s->ax, &outer, &c, &inner);
    for (size_t n = 0; n < outer; n++) {
        for (size_t p = 0; p < inner; p++) {
            const float *x = in[0]->data + n * c * inner + p;
            float *y = out->data + n * c * inner + p;
            float m = x[0];
            for (size_t k = 1; k < c; k++)
                if (x[k * inner] > m) m = x[k * inner];
            float sum = 0.0f;
            for (size_t k = 0; k < c; k++) {
                float e = expf(x[k * inner] - m);
                y[k * inner] = e;
                sum += e;
            }
            float inv = 1.0f / sum; /* sum >= 1: the maximum contributes exp(0) */
            for (size_t k = 0; k < c; k++) y[k * inner] *= inv;
        }
    }
    return GRAFT_OK;
}

static int softmax_backward(graft_layer *l, const graft_tensor *const *in,
                            const graft_tensor *out, const graft_tensor *dout,
                            graft_tensor *const *din)
{
    const softmax_state *s = l->state;
    size_t outer, c, inner;
    (void)in;
    if (!din[0]) return GRAFT_OK;
    softmax_sizes(out, s->ax, &outer, &c, &inner);
    for (size_t n = 0; n < outer; n++) {
        for (size_t p = 0; p < inner; p++) {
            size_t base = n * c * inner + p;
            const float *y = out->data + base, *dy = dout->data + base;
            float *dx = din[0]->data + base;
            float dot = 0.0f;
            for (size_t k = 0; k < c; k++) dot += dy[k * inner] * y[k * inner];
            for (size_t k = 0; k < c; k++) dx[k * inner] = y[k * inner] * (dy[k * inner] - dot);
        }
    }
    return GRAFT_OK;
}

static const graftAttrDecl softmax_attrs[] = {
    {"axis", GRAFT_ATTR_INT, offsetof(softmax_state, axis), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

static int softmax_save(const graft_layer *l, graftWriter *w)
{
    if (((const softmax_state *)l->state)->axis == 1) return w->status; /* version 1 */
    return graftLayerWriteAttrs(l, w);
}

/* Axis 1 writes the empty version-1 record, as before 1.2. */
static uint32_t softmax_save_version(const graft_layer *l)
{
    return ((const softmax_state *)l->state)->axis == 1 ? 1 : 2;
}

static int softmax_load(graft_layer *l, graftReader *r, uint32_t version)
{
    softmax_state *s = l->state, read = *s;
    if (version < 2) {
        s->axis = 1; /* 1.0 and 1.1 files: softmax over axis 1, no record */
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (softmax_check(l->ctx, "graft_load", read.axis) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->axis = read.axis;
    return GRAFT_OK;
}

/* ONNX: Softmax (opset 13 semantics: one axis) with the layer's axis. */
static int softmax_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const softmax_state *s = l->state;
    size_t n = graftOnnxNodeBegin(o, "Softmax", NULL, o->n_inputs, o->inputs, o->output);
    graftOnnxAttrInt(o, "axis", s->axis);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftSoftmaxVtbl = {
    .kind = "softmax",
    .version = 2,
    .state_size = sizeof(softmax_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = softmax_infer_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .save = softmax_save,
    .save_version = softmax_save_version,
    .load = softmax_load,
    .attrs = softmax_attrs,
    .onnx_export = softmax_onnx_export,
};

static int softmax_new(graft_ctx *ctx, int axis, const char *func, graft_layer **out)
{
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(softmax_check(ctx, func, axis));
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftSoftmaxVtbl, func, &l));
    ((softmax_state *)l->state)->axis = axis;
    *out = l;
    return GRAFT_OK;
}

GRAFT_API int graft_layer_softmax(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return softmax_new(ctx, 1, __func__, out);
}

GRAFT_API int graft_layer_softmax_axis(graft_ctx *ctx, int axis, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return softmax_new(ctx, axis, __func__, out);
}
