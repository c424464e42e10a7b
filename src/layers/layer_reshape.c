/*
 * layer_reshape.c - (N, ...) -> (N, d1, ..., dk) with the same elements.
 *
 * The target per-sample shape (d1, ..., dk), k = 1 to GRAFT_MAX_DIMS - 1, is
 * an attribute; its element count must equal the input's per-sample count.
 * Row-major data keeps its order, so forward copies the input and backward
 * copies the output gradient.
 */
#include "layer.h"

#include <string.h>

typedef struct reshape_state {
    int ndim;                         /* per-sample rank */
    int64_t dims[GRAFT_MAX_DIMS - 1]; /* per-sample sizes */
} reshape_state;

static int reshape_check(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims)
{
    return graftCheckSampleDims(ctx, func, ndim, dims, " (the batch dimension is kept)");
}

static int reshape_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                               graftShape *out)
{
    const reshape_state *s = l->state;
    (void)n_inputs;
    int64_t want = 1;
    for (int d = 0; d < s->ndim; d++) want *= s->dims[d];
    int64_t have = graftShapeSampleNumel(&in[0]);
    if (in[0].ndim < 2 || have != want) {
        char got[160];
        graftShapeString(in[0].ndim, in[0].dims, got, sizeof got);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "reshape layer: the input %s holds %lld elements per sample, the "
                          "target shape %lld",
                          got, (long long)have, (long long)want);
    }
    out->ndim = s->ndim + 1;
    out->dims[0] = 1;
    memcpy(out->dims + 1, s->dims, (size_t)s->ndim * sizeof *s->dims);
    return GRAFT_OK;
}

static int reshape_save(const graft_layer *l, graftWriter *w)
{
    const reshape_state *s = l->state;
    graftWriteSampleDims(w, s->ndim, s->dims);
    return w->status;
}

static int reshape_load(graft_layer *l, graftReader *r, uint32_t version)
{
    reshape_state *s = l->state;
    (void)version;
    return graftReadSampleDims(l, r, "reshape", reshape_check, &s->ndim, s->dims);
}

static int64_t reshape_flops(const graft_layer *l)
{
    (void)l;
    return 0;
}

/* ONNX: Reshape to (0, dims...), 0 keeping the batch size. */
static int reshape_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    int64_t dims[GRAFT_MAX_DIMS], n = l->out_shape.ndim;
    dims[0] = 0;
    for (int d = 1; d < l->out_shape.ndim; d++) dims[d] = l->out_shape.dims[d];
    char sn[GRAFT_ONNX_NAME_MAX];
    graftOnnxAuxName(o, "shape", sn);
    graftOnnxInitI64(o, sn, 1, &n, dims);
    const char *ins[2] = {o->inputs[0], sn};
    graftOnnxNode(o, "Reshape", NULL, 2, ins, o->output);
    return GRAFT_OK;
}

const graftLayerVtbl graftReshapeVtbl = {
    .kind = "reshape",
    .version = 1,
    .state_size = sizeof(reshape_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = reshape_infer_shape,
    .forward = graftCopyForward,
    .backward = graftCopyBackward,
    .save = reshape_save,
    .load = reshape_load,
    .flops = reshape_flops,
    .onnx_export = reshape_onnx_export,
};

GRAFT_API int graft_layer_reshape(graft_ctx *ctx, int ndim, const int64_t *dims,
                                  graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(reshape_check(ctx, __func__, ndim, dims));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftReshapeVtbl, __func__, &l));
    reshape_state *s = l->state;
    s->ndim = ndim;
    memcpy(s->dims, dims, (size_t)ndim * sizeof *dims);
    *out = l;
    return GRAFT_OK;
}
