/*
 * layer_softmax.c - softmax along axis 1.
 *
 * Input x (N, C, ...), rank >= 2; the output y has the same shape. For every
 * sample n and every position p of the trailing dimensions (one position for
 * (N, C), H*W of them for (N, C, H, W)), with m = max_c x[n, c, p]:
 *   y[n, c, p] = exp(x[n, c, p] - m) / sum_k exp(x[n, k, p] - m)
 *   dx[n, c, p] = y[n, c, p] * (dy[n, c, p] - sum_k dy[n, k, p] * y[n, k, p])
 */
#include "layer.h"

#include <math.h>

static int softmax_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                               graftShape *out)
{
    (void)n_inputs;
    if (in[0].ndim < 2)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "softmax layer: the input has %d dimension, needs at least 2 "
                          "(N, C, ...)",
                          in[0].ndim);
    *out = in[0];
    return GRAFT_OK;
}

/* Sizes of (outer, C, inner) for a tensor (N, C, ...). */
static void softmax_sizes(const graft_tensor *t, size_t *outer, size_t *c, size_t *inner)
{
    size_t in = 1;
    for (int d = 2; d < t->ndim; d++) in *= (size_t)t->dims[d];
    *outer = (size_t)t->dims[0];
    *c = (size_t)t->dims[1];
    *inner = in;
}

static int softmax_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    size_t outer, c, inner;
    (void)l;
    softmax_sizes(in[0], &outer, &c, &inner);
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
    size_t outer, c, inner;
    (void)l;
    (void)in;
    if (!din[0]) return GRAFT_OK;
    softmax_sizes(out, &outer, &c, &inner);
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

/* ONNX: Softmax with axis 1. */
static int softmax_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    (void)l;
    size_t n = graftOnnxNodeBegin(o, "Softmax", NULL, o->n_inputs, o->inputs, o->output);
    graftOnnxAttrInt(o, "axis", 1);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftSoftmaxVtbl = {
    .kind = "softmax",
    .version = 1,
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = softmax_infer_shape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .onnx_export = softmax_onnx_export,
};

GRAFT_API int graft_layer_softmax(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return graftLayerNew(ctx, &graftSoftmaxVtbl, __func__, out);
}
