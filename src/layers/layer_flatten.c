/*
 * layer_flatten.c - (N, d1, d2, ...) -> (N, d1*d2*...).
 *
 * Row-major data is already laid out that way, so forward copies the input
 * and backward copies the output gradient.
 */
#include "layer.h"


static int flatten_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                               graftShape *out)
{
    (void)n_inputs;
    if (in[0].ndim < 2)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "flatten layer: the input has %d dimension, needs at least 2 "
                          "(N, d1, ...)",
                          in[0].ndim);
    int64_t f = 1;
    for (int d = 1; d < in[0].ndim; d++) f *= in[0].dims[d];
    out->ndim = 2;
    out->dims[0] = 1;
    out->dims[1] = f;
    return GRAFT_OK;
}

/* ONNX: Flatten with axis 1. */
static int flatten_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    (void)l;
    size_t n = graftOnnxNodeBegin(o, "Flatten", NULL, o->n_inputs, o->inputs, o->output);
    graftOnnxAttrInt(o, "axis", 1);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftFlattenVtbl = {
    .kind = "flatten",
    .version = 1,
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = flatten_infer_shape,
    .forward = graftCopyForward,
    .backward = graftCopyBackward,
    .onnx_export = flatten_onnx_export,
};

GRAFT_API int graft_layer_flatten(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return graftLayerNew(ctx, &graftFlattenVtbl, __func__, out);
}
