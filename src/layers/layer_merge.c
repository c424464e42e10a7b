/*
 * layer_merge.c - layers that join several inputs: add and concat.
 *
 * add:    2 to GRAFT_LAYER_MAX_INPUTS inputs x_i of one shape;
 *         y = sum_i x_i, dx_i = dy.
 * concat: 1 to GRAFT_LAYER_MAX_INPUTS inputs x_i (N, ..., C_i, ...) of one
 *         rank whose dimensions other than the axis (1 by default, any axis
 *         after the batch) agree; y (N, ..., sum_i C_i, ...) holds x_0, x_1,
 *         ... one after the other along the axis, and dx_i is dy's slice of
 *         x_i's entries.
 */
#include "layer.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Writes a per-sample shape as "(N, d1, d2, ...)". */
static void sample_shape_string(const graftShape *s, char *buf, size_t size)
{
    size_t pos = (size_t)snprintf(buf, size, "(N");
    for (int d = 1; d < s->ndim && pos < size; d++)
        pos += (size_t)snprintf(buf + pos, size - pos, ", %lld", (long long)s->dims[d]);
    if (pos < size) snprintf(buf + pos, size - pos, ")");
}

/* Elements per sample of a per-sample shape. */
static size_t sample_numel(const graftShape *s)
{
    size_t n = 1;
    for (int d = 1; d < s->ndim; d++) n *= (size_t)s->dims[d];
    return n;
}

/* ---- add ------------------------------------------------------------------ */

static int add_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    for (int i = 1; i < n_inputs; i++) {
        int same = in[i].ndim == in[0].ndim;
        for (int d = 1; same && d < in[0].ndim; d++) same = in[i].dims[d] == in[0].dims[d];
        if (!same) {
            char got[160], want[160];
            sample_shape_string(&in[i], got, sizeof got);
            sample_shape_string(&in[0], want, sizeof want);
            return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                              "add layer: inputs[%d] has shape %s but inputs[0] has %s; all "
                              "inputs must have one shape",
                              i, got, want);
        }
    }
    *out = in[0];
    return GRAFT_OK;
}

/* The sums run left to right, y = (x_0 + x_1) + x_2 + ..., each element's
 * adds in the order of the inputs. Kernels in blocks of 8 (one v8f where the
 * compiler has GCC's vector extension, see vec.h), compiled for AVX2 CPUs
 * and for any x86-64 CPU (GRAFT_VECTOR_CLONES); the remainder, and every
 * element without the extension, takes the same expression one by one.
 * Each block is loaded before it is stored, so y may be one of the inputs. */

/* y[k] = a[k] + b[k], k < n */
GRAFT_VECTOR_CLONES
static void sum2(float *y, const float *a, const float *b, size_t n)
{
    size_t k = 0;
#if GRAFT_HAVE_V8F
    for (; k + 8 <= n; k += 8)
        *(v8f_mem *)(y + k) = *(const v8f_mem *)(a + k) + *(const v8f_mem *)(b + k);
#endif
    for (; k < n; k++) y[k] = a[k] + b[k];
}

/* add's forward and backward split the elements into blocks of
 * ADD_BLOCK (the last one shorter), the items of graftParallelFor
 * (parallel.h); each worker runs its contiguous run of blocks through every
 * input, so each element still gets its adds in the order of the inputs and
 * the result is the same for any worker count. A block is whole v8f blocks
 * and whole 64-byte lines. */
#define ADD_BLOCK 4096

typedef struct add_pass {
    int n_inputs;
    const graft_tensor *const *in; /* forward */
    graft_tensor *const *din;      /* backward: NULL entries skipped */
    const float *dy;               /* backward */
    float *y;                      /* forward */
    size_t n, block;
} add_pass;

static void add_split(add_pass *ps, double cost, graftRangeFn fn)
{
    ps->block = ADD_BLOCK;
    while ((ps->n + ps->block - 1) / ps->block > INT_MAX) ps->block *= 2;
    const int items = (int)((ps->n + ps->block - 1) / ps->block);
    graftParallelFor(items, graftParallelWorkers(items, cost * (double)ps->block), fn, ps);
}

static void add_forward_range(void *arg, int b0, int b1, int worker)
{
    const add_pass *ps = arg;
    const size_t i0 = (size_t)b0 * ps->block, e = (size_t)b1 * ps->block;
    const size_t n = (e < ps->n ? e : ps->n) - i0;
    float *y = ps->y + i0;
    (void)worker;
    /* (x_0 + x_1) in one pass, then each further input added to y */
    sum2(y, ps->in[0]->data + i0, ps->in[1]->data + i0, n);
    for (int i = 2; i < ps->n_inputs; i++) sum2(y, y, ps->in[i]->data + i0, n);
}

static int add_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    add_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.n_inputs = l->n_inputs;
    ps.in = in;
    ps.y = out->data;
    ps.n = out->numel;
    /* every input read, y written (and read again after the first pass) */
    add_split(&ps, (double)(2 * l->n_inputs - 1), add_forward_range);
    return GRAFT_OK;
}

/* Copies the output gradient's blocks to every input that wants one. */
static void add_backward_range(void *arg, int b0, int b1, int worker)
{
    const add_pass *ps = arg;
    const size_t i0 = (size_t)b0 * ps->block, e = (size_t)b1 * ps->block;
    const size_t n = (e < ps->n ? e : ps->n) - i0;
    (void)worker;
    for (int i = 0; i < ps->n_inputs; i++)
        if (ps->din[i]) memcpy(ps->din[i]->data + i0, ps->dy + i0, n * sizeof(float));
}

static int add_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    add_pass ps;
    (void)in;
    (void)out;
    memset(&ps, 0, sizeof ps);
    ps.n_inputs = l->n_inputs;
    ps.din = din;
    ps.dy = dout->data;
    ps.n = dout->numel;
    int wanted = 0;
    for (int i = 0; i < l->n_inputs; i++) wanted += din[i] != NULL;
    if (wanted == 0) return GRAFT_OK;
    /* dy read and each wanted gradient written */
    add_split(&ps, (double)(2 * wanted), add_backward_range);
    return GRAFT_OK;
}

/* ONNX: Add for two inputs, Sum for more. */
static int add_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    (void)l;
    graftOnnxNodeSame(o, o->n_inputs == 2 ? "Add" : "Sum");
    return GRAFT_OK;
}

const graftLayerVtbl graftAddVtbl = {
    .kind = "add",
    .version = 1,
    .min_inputs = 2,
    .max_inputs = GRAFT_LAYER_MAX_INPUTS,
    .infer_shape = add_infer_shape,
    .forward = add_forward,
    .backward = add_backward,
    .backward_ignores_output = 1,
    .onnx_export = add_onnx_export,
};

GRAFT_API int graft_layer_add(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return graftLayerNew(ctx, &graftAddVtbl, __func__, out);
}

/* ---- concat --------------------------------------------------------------- */

typedef struct concat_state {
    int axis;            /* as given: >= 1, or < 0 from the end */
    int64_t outer;       /* set by infer_shape: the per-sample axes before it, multiplied */
} concat_state;

static int concat_check(graft_ctx *ctx, const char *func, int axis)
{
    GRAFT_RETURN_IF_AT(axis == 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "axis is 0, the batch axis; concatenate along an axis after it (>= 1, "
                       "or < 0 from the end)");
    GRAFT_RETURN_IF_AT(axis < -(GRAFT_MAX_DIMS - 1) || axis > GRAFT_MAX_DIMS - 1, ctx,
                       GRAFT_E_INVALID_ARG, func, "axis is %d, must be 1 to %d or -%d to -1",
                       axis, GRAFT_MAX_DIMS - 1, GRAFT_MAX_DIMS - 1);
    return GRAFT_OK;
}

static int concat_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                              graftShape *out)
{
    concat_state *s = l->state;
    char got[160], want[160];
    int r = in[0].ndim, a = s->axis < 0 ? s->axis + r : s->axis;
    if (r < 2) {
        sample_shape_string(&in[0], got, sizeof got);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "concat layer: inputs[0] has shape %s; inputs need at least 2 "
                          "dimensions (N, C, ...)",
                          got);
    }
    if (a < 1 || a >= r) {
        sample_shape_string(&in[0], got, sizeof got);
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "concat layer: inputs[0] has shape %s; concatenating along axis %d "
                          "needs an axis after the batch there",
                          got, s->axis);
    }
    int64_t total = in[0].dims[a];
    for (int i = 1; i < n_inputs; i++) {
        int same = in[i].ndim == r;
        for (int d = 1; same && d < r; d++) same = d == a || in[i].dims[d] == in[0].dims[d];
        if (!same) {
            sample_shape_string(&in[i], got, sizeof got);
            sample_shape_string(&in[0], want, sizeof want);
            return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                              "concat layer: inputs[%d] has shape %s but inputs[0] has %s; "
                              "all dimensions but axis %d must agree",
                              i, got, want, a);
        }
        total += in[i].dims[a]; /* each < 2^40, at most 1024 of them: no overflow */
    }
    s->outer = 1;
    for (int d = 1; d < a; d++) s->outer *= in[0].dims[d];
    *out = in[0];
    out->dims[a] = total;
    return GRAFT_OK;
}

/* Each sample is outer rows; a row of the output holds a row of each input
 * in turn (for axis 1, one row per sample: the inputs' samples one after
 * the other). */
static int concat_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const concat_state *s = l->state;
    size_t rows = (size_t)out->dims[0] * (size_t)s->outer;
    size_t row = sample_numel(&l->out_shape) / (size_t)s->outer;
    for (size_t n = 0; n < rows; n++) {
        float *y = out->data + n * row;
        for (int i = 0; i < l->n_inputs; i++) {
            size_t block = sample_numel(&l->in_shapes[i]) / (size_t)s->outer;
            memcpy(y, in[i]->data + n * block, block * sizeof(float));
            y += block;
        }
    }
    return GRAFT_OK;
}

static int concat_backward(graft_layer *l, const graft_tensor *const *in,
                           const graft_tensor *out, const graft_tensor *dout,
                           graft_tensor *const *din)
{
    const concat_state *s = l->state;
    size_t rows = (size_t)out->dims[0] * (size_t)s->outer;
    size_t row = sample_numel(&l->out_shape) / (size_t)s->outer;
    (void)in;
    for (size_t n = 0; n < rows; n++) {
        const float *dy = dout->data + n * row;
        for (int i = 0; i < l->n_inputs; i++) {
            size_t block = sample_numel(&l->in_shapes[i]) / (size_t)s->outer;
            if (din[i]) memcpy(din[i]->data + n * block, dy, block * sizeof(float));
            dy += block;
        }
    }
    return GRAFT_OK;
}

static const graftAttrDecl concat_attrs[] = {
    {"axis", GRAFT_ATTR_INT, offsetof(concat_state, axis), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* Version 2 records the axis (an i32); version 1 recorded nothing and
 * concatenated along axis 1. A layer of axis 1 still writes version 1, so
 * that graft 1.0 and 1.1 read the files of models that do not use the new
 * axes. */
static int concat_save(const graft_layer *l, graftWriter *w)
{
    if (((const concat_state *)l->state)->axis == 1) return w->status; /* version 1 */
    return graftLayerWriteAttrs(l, w);
}

static uint32_t concat_save_version(const graft_layer *l)
{
    return ((const concat_state *)l->state)->axis == 1 ? 1 : 2;
}

static int concat_load(graft_layer *l, graftReader *r, uint32_t version)
{
    concat_state *s = l->state, read = *s;
    if (version < 2) {
        s->axis = 1;
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (concat_check(l->ctx, "graft_load", read.axis) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->axis = read.axis;
    return GRAFT_OK;
}

/* ONNX: Concat along the axis, resolved for the built rank. */
static int concat_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const concat_state *s = l->state;
    int r = l->out_shape.ndim;
    size_t n = graftOnnxNodeBegin(o, "Concat", NULL, o->n_inputs, o->inputs, o->output);
    graftOnnxAttrInt(o, "axis", s->axis < 0 ? s->axis + r : s->axis);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftConcatVtbl = {
    .kind = "concat",
    .version = 2,
    .save_version = concat_save_version,
    .state_size = sizeof(concat_state),
    .min_inputs = 1,
    .max_inputs = GRAFT_LAYER_MAX_INPUTS,
    .infer_shape = concat_infer_shape,
    .forward = concat_forward,
    .backward = concat_backward,
    .save = concat_save,
    .load = concat_load,
    .attrs = concat_attrs,
    .onnx_export = concat_onnx_export,
};

GRAFT_API int graft_layer_concat_axis(graft_ctx *ctx, int axis, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(concat_check(ctx, __func__, axis));
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftConcatVtbl, __func__, out));
    ((concat_state *)(*out)->state)->axis = axis;
    return GRAFT_OK;
}

GRAFT_API int graft_layer_concat(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftConcatVtbl, __func__, out));
    ((concat_state *)(*out)->state)->axis = 1;
    return GRAFT_OK;
}
