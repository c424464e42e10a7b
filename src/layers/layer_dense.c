/*
 * layer_dense.c - fully connected layer.
 *
 * Input (N, ...) is read as X (N, F), F the product of the non-batch
 * dimensions. Weight W (U, F), bias b (U). Output Y (N, U). With last_axis
 * (graft_layer_linear(), torch.nn.Linear), the input (N, d1, ..., F) is
 * read as X (N * d1 * ..., F), one row per position of the leading axes,
 * and Y is (N, d1, ..., U); the formulas below are the same with those rows:
 *   Y = X W^T + b
 *   dX = dY W            (N, F)
 *   dW = dY^T X          (U, F)
 *   db = sum_n dY[n, :]  (U)
 *
 * Saved record: i32 units, i32 bias; version 2 adds i32 last_axis. A layer
 * with last_axis 0 writes the version-1 record (dense_save_version).
 */
#include "layer.h"

#include <math.h>

typedef struct dense_state {
    int units;
    int bias;
    int last_axis;       /* 1: rows are the positions of the leading axes */
    int64_t in_features; /* set by infer_shape */
} dense_state;

static int dense_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    dense_state *s = l->state;
    (void)n_inputs;
    int64_t f = 1;
    for (int d = s->last_axis ? in[0].ndim - 1 : 1; d < in[0].ndim; d++) f *= in[0].dims[d];
    if (in[0].ndim < 2 || f > INT32_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "dense layer: input needs a batch and at most 2^31-1 features per sample");
    s->in_features = f;
    if (s->last_axis) {
        *out = in[0];
        out->dims[out->ndim - 1] = s->units;
        size_t numel;
        return graftShapeCheck(l->ctx, "graft_layer_build", out->ndim, out->dims, &numel);
    }
    out->ndim = 2;
    out->dims[0] = 1;
    out->dims[1] = s->units;
    return GRAFT_OK;
}

static int dense_declare_params(const graft_layer *l, graftParamDecl *decl)
{
    const dense_state *s = l->state;
    decl[0] = (graftParamDecl){"weight", {2, {s->units, s->in_features}}, 1};
    if (!s->bias) return 1;
    decl[1] = (graftParamDecl){"bias", {1, {s->units}}, 1};
    return 2;
}

static void dense_init_params(graft_layer *l, graftRng *rng)
{
    const dense_state *s = l->state;
    graftFillUniform(l->params[0].value, rng, sqrtf(6.0f / (float)s->in_features));
}

/* The rows of X: the batch (<= GRAFT_LAYER_MAX_BATCH, check_inputs), or
 * with last_axis every position of the leading axes, which must stay below
 * 2^31 for the BLAS (f <= INT32_MAX: infer_shape). */
static int dense_rows(graft_layer *l, const graft_tensor *x, int *rows)
{
    const dense_state *s = l->state;
    size_t n = s->last_axis ? x->numel / (size_t)s->in_features : (size_t)x->dims[0];
    if (n > INT32_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_forward",
                          "dense layer: %zu rows in one call, at most 2^31 - 1", n);
    *rows = (int)n;
    return GRAFT_OK;
}

static int dense_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const dense_state *s = l->state;
    int n = 0, u = s->units, f = (int)s->in_features;
    GRAFT_FORWARD_IF_ERROR(dense_rows(l, in[0], &n));
    const float *w = l->params[0].value->data;
    float *y = out->data;
    if (s->bias) {
        const float *b = l->params[1].value->data;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < u; j++) y[(size_t)i * u + j] = b[j];
    }
    graftSgemm(l->ctx, 0, 1, n, u, f, 1.0f, in[0]->data, f, w, f, s->bias ? 1.0f : 0.0f, y, u);
    return GRAFT_OK;
}

static int dense_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                          const graft_tensor *dout, graft_tensor *const *din)
{
    const dense_state *s = l->state;
    int n = 0, u = s->units, f = (int)s->in_features;
    GRAFT_FORWARD_IF_ERROR(dense_rows(l, in[0], &n));
    const float *dy = dout->data;
    (void)out;
    if (l->need_param_grad) {
        graftSgemm(l->ctx, 1, 0, u, f, n, 1.0f, dy, u, in[0]->data, f, 0.0f,
                   l->params[0].grad->data, f);
        if (s->bias) {
            float *db = l->params[1].grad->data;
            for (int j = 0; j < u; j++) db[j] = 0.0f;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < u; j++) db[j] += dy[(size_t)i * u + j];
        }
    }
    if (din[0])
        graftSgemm(l->ctx, 0, 0, n, f, u, 1.0f, dy, u, l->params[0].value->data, f, 0.0f,
                   din[0]->data, f);
    return GRAFT_OK;
}

static int dense_check(graft_ctx *ctx, const char *func, int units, int bias, int last_axis)
{
    GRAFT_RETURN_IF_AT(last_axis != 0 && last_axis != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "last_axis is %d, must be 0 or 1", last_axis);
    GRAFT_RETURN_IF_AT(units < 1, ctx, GRAFT_E_INVALID_ARG, func, "units is %d, must be >= 1",
                       units);
    GRAFT_RETURN_IF_AT(bias != 0 && bias != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "bias is %d, must be 0 or 1", bias);
    return GRAFT_OK;
}

static int dense_save(const graft_layer *l, graftWriter *w)
{
    const dense_state *s = l->state;
    graftWriteI32(w, s->units);
    graftWriteI32(w, s->bias);
    if (s->last_axis) graftWriteI32(w, s->last_axis);
    return w->status;
}

/* A layer of graft_layer_dense() writes the version-1 record, as before 1.2. */
static uint32_t dense_save_version(const graft_layer *l)
{
    return ((const dense_state *)l->state)->last_axis ? 2 : 1;
}

static int dense_load(graft_layer *l, graftReader *r, uint32_t version)
{
    dense_state *s = l->state;
    int32_t units, bias, last_axis = 0;
    GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &units, "dense units"));
    GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &bias, "dense bias flag"));
    if (version >= 2) GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &last_axis, "dense last_axis"));
    if (dense_check(l->ctx, "graft_load", units, bias, last_axis) != GRAFT_OK)
        return GRAFT_E_FORMAT;
    s->units = units;
    s->bias = bias;
    s->last_axis = last_axis;
    return GRAFT_OK;
}

/* 2 * F per output, plus the bias add. */
static int64_t dense_flops(const graft_layer *l)
{
    const dense_state *s = l->state;
    return (int64_t)s->units * (2 * s->in_features + (s->bias ? 1 : 0));
}

/* last_axis on (N, ..., F) of rank 3 or more: MatMul by W^T (F, U), then
 * Add of the bias (PyTorch's export of Linear). */
static int dense_onnx_export_matmul(const graft_layer *l, graftOnnxOut *o)
{
    const dense_state *s = l->state;
    const graft_tensor *w = l->params[0].value;
    int64_t u = s->units, f = s->in_features, dims[2] = {f, u};
    char wn[GRAFT_ONNX_NAME_MAX], bn[GRAFT_ONNX_NAME_MAX], mm[GRAFT_ONNX_NAME_MAX],
        node[GRAFT_ONNX_NAME_MAX];
    float *wt = graftAlloc(o->ctx, (size_t)(u * f) * sizeof *wt);
    if (!wt)
        return graftError(o->ctx, GRAFT_E_NOMEM, o->func,
                          "cannot write the weight of layer \"%s\"", o->name);
    for (int64_t i = 0; i < u; i++)
        for (int64_t j = 0; j < f; j++) wt[j * u + i] = w->data[i * f + j];
    graftOnnxAuxName(o, "weight_t", wn);
    graftOnnxInitF32(o, wn, 2, dims, wt);
    graftFree(o->ctx, wt);
    const char *ins[2] = {o->inputs[0], wn};
    if (!s->bias) {
        graftOnnxNode(o, "MatMul", NULL, 2, ins, o->output);
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "bias", bn));
    /* the MatMul carries the layer's name: the importer names the dense
     * layer it fuses with the Add after it */
    graftOnnxAuxName(o, "matmul", mm);
    graftOnnxNode(o, "MatMul", NULL, 2, ins, mm);
    const char *add[2] = {mm, bn};
    graftOnnxSubName(o, "bias", node);
    graftOnnxNode(o, "Add", node, 2, add, o->output);
    return GRAFT_OK;
}

/* ONNX: Gemm (transB 1), after a Flatten when the input is not (N, F). */
static int dense_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const dense_state *s = l->state;
    const char *in = o->inputs[0];
    char flat[GRAFT_ONNX_NAME_MAX], fname[GRAFT_ONNX_NAME_MAX], wn[GRAFT_ONNX_NAME_MAX],
        bn[GRAFT_ONNX_NAME_MAX];
    if (s->last_axis && l->in_shapes[0].ndim > 2) return dense_onnx_export_matmul(l, o);
    if (l->in_shapes[0].ndim > 2) {
        graftOnnxAuxName(o, "flat", flat);
        graftOnnxSubName(o, "flatten", fname);
        size_t n = graftOnnxNodeBegin(o, "Flatten", fname, 1, &in, flat);
        graftOnnxAttrInt(o, "axis", 1);
        graftOnnxNodeEnd(o, n);
        in = flat;
    }
    GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "weight", wn));
    if (s->bias) GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "bias", bn));
    const char *ins[3] = {in, wn, bn};
    size_t n = graftOnnxNodeBegin(o, "Gemm", NULL, s->bias ? 3 : 2, ins, o->output);
    graftOnnxAttrInt(o, "transB", 1);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

static const graftAttrDecl dense_attrs[] = {
    {"units", GRAFT_ATTR_INT, offsetof(dense_state, units), 1},
    {"bias", GRAFT_ATTR_INT, offsetof(dense_state, bias), 1},
    {"last_axis", GRAFT_ATTR_INT, offsetof(dense_state, last_axis), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

const graftLayerVtbl graftDenseVtbl = {
    .kind = "dense",
    .version = 2,
    .state_size = sizeof(dense_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = dense_infer_shape,
    .declare_params = dense_declare_params,
    .init_params = dense_init_params,
    .forward = dense_forward,
    .backward = dense_backward,
    .save = dense_save,
    .save_version = dense_save_version,
    .load = dense_load,
    .flops = dense_flops,
    .backward_ignores_output = 1,
    .attrs = dense_attrs,
    .onnx_export = dense_onnx_export,
};

static int dense_new(graft_ctx *ctx, int units, int bias, int last_axis, const char *func,
                     graft_layer **out)
{
    GRAFT_FORWARD_IF_ERROR(dense_check(ctx, func, units, bias, last_axis));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftDenseVtbl, func, &l));
    dense_state *s = l->state;
    s->units = units;
    s->bias = bias;
    s->last_axis = last_axis;
    *out = l;
    return GRAFT_OK;
}

GRAFT_API int graft_layer_dense(graft_ctx *ctx, int units, int bias, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return dense_new(ctx, units, bias, 0, __func__, out);
}

GRAFT_API int graft_layer_linear(graft_ctx *ctx, int units, int bias, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return dense_new(ctx, units, bias, 1, __func__, out);
}
