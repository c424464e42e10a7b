/*
 * layer_slice.c - a range of one axis after the batch, as ONNX Slice takes
 * it on one axis.
 *
 * Input X (N, ...) of rank r >= 2; axis a counts the batch as axis 0
 * (1 <= a < r, or -r < a < 0 counting from the end). With n = X.dims[a],
 * start and end are resolved as ONNX Slice resolves them: a negative value
 * has n added, then for step > 0 both are clamped to [0, n], and for
 * step < 0 start to [0, n - 1] and end to [-1, n - 1]. The output keeps
 * every axis but a, which holds
 *   count = ceil((end - start) / step)   (when positive)
 * entries: Y[..., k, ...] = X[..., start + k * step, ...], k < count. An
 * empty range is refused when the layer is built. Backward writes dY into
 * those entries of dX and zeros everywhere else.
 *
 * start, end and step are ints: a value beyond the int range is clamped to
 * it when the layer is made, which changes nothing for an axis of fewer than
 * 2^31 - 1 entries; longer axes are refused when the layer is built (so
 * start + n and end + n stay in range).
 */
#include "layer.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

typedef struct slice_state {
    int axis;               /* as given: >= 1, or < 0 from the end */
    int start, end, step;   /* as given (clamped to the int range) */
    /* set by infer_shape */
    int64_t outer, inner;   /* elements per sample before and after the axis */
    int64_t dim, first, count;
} slice_state;

static int slice_check(graft_ctx *ctx, const char *func, int axis, int step)
{
    GRAFT_RETURN_IF_AT(axis == 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "axis is 0, the batch axis; slice an axis after it (>= 1, or < 0 "
                       "from the end)");
    GRAFT_RETURN_IF_AT(axis < -(GRAFT_MAX_DIMS - 1) || axis > GRAFT_MAX_DIMS - 1, ctx,
                       GRAFT_E_INVALID_ARG, func, "axis is %d, must be 1 to %d or -%d to -1",
                       axis, GRAFT_MAX_DIMS - 1, GRAFT_MAX_DIMS - 1);
    GRAFT_RETURN_IF_AT(step == 0, ctx, GRAFT_E_INVALID_ARG, func, "step is 0");
    return GRAFT_OK;
}

static int clamp_int(int64_t v)
{
    return v > INT_MAX ? INT_MAX : v < -INT_MAX ? -INT_MAX : (int)v;
}

/* ONNX Slice's resolution of one axis of n entries. */
static void resolve(int64_t n, int64_t start, int64_t end, int64_t step, int64_t *first,
                    int64_t *count)
{
    if (start < 0) start += n;
    if (end < 0) end += n;
    if (step > 0) {
        start = start < 0 ? 0 : start > n ? n : start;
        end = end < 0 ? 0 : end > n ? n : end;
        *count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = start < 0 ? 0 : start > n - 1 ? n - 1 : start;
        end = end < -1 ? -1 : end > n - 1 ? n - 1 : end;
        *count = start > end ? (start - end - 1) / -step + 1 : 0;
    }
    *first = start;
}

static int slice_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                             graftShape *out)
{
    slice_state *s = l->state;
    const char *func = "graft_layer_build";
    int r = in[0].ndim;
    (void)n_inputs;
    char got[160];
    graftShapeString(in[0].ndim, in[0].dims, got, sizeof got);
    int a = s->axis < 0 ? s->axis + r : s->axis;
    if (a < 1 || a >= r)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "slice layer: axis %d does not name an axis after the batch of the "
                          "input %s",
                          s->axis, got);
    int64_t n = in[0].dims[a];
    if (n >= INT_MAX)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "slice layer: axis %d of the input %s has 2^31 - 1 entries or more",
                          a, got);
    int64_t first, count;
    resolve(n, s->start, s->end, s->step, &first, &count);
    if (count < 1)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "slice layer: start %d, end %d, step %d select nothing of axis %d of "
                          "the input %s",
                          s->start, s->end, s->step, a, got);
    s->outer = 1;
    for (int d = 1; d < a; d++) s->outer *= in[0].dims[d];
    s->inner = 1;
    for (int d = a + 1; d < r; d++) s->inner *= in[0].dims[d];
    s->dim = n;
    s->first = first;
    s->count = count;
    *out = in[0];
    out->dims[a] = count;
    return GRAFT_OK;
}

static int slice_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const slice_state *s = l->state;
    const size_t rows = (size_t)(in[0]->dims[0] * s->outer), inner = (size_t)s->inner;
    const size_t cnt = (size_t)s->count, n = (size_t)s->dim;
    for (size_t o = 0; o < rows; o++) {
        const float *x = in[0]->data + (o * n + (size_t)s->first) * inner;
        float *y = out->data + o * cnt * inner;
        if (s->step == 1) {
            memcpy(y, x, cnt * inner * sizeof(float));
            continue;
        }
        if (inner == 1) {
            for (size_t k = 0; k < cnt; k++) y[k] = x[(ptrdiff_t)k * s->step];
            continue;
        }
        for (size_t k = 0; k < cnt; k++)
            memcpy(y + k * inner, x + (ptrdiff_t)k * s->step * (ptrdiff_t)inner,
                   inner * sizeof(float));
    }
    return GRAFT_OK;
}

static int slice_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                          const graft_tensor *dout, graft_tensor *const *din)
{
    const slice_state *s = l->state;
    (void)in;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    const size_t rows = (size_t)(dout->dims[0] * s->outer), inner = (size_t)s->inner;
    const size_t cnt = (size_t)s->count, n = (size_t)s->dim;
    memset(din[0]->data, 0, din[0]->numel * sizeof(float));
    for (size_t o = 0; o < rows; o++) {
        float *dx = din[0]->data + (o * n + (size_t)s->first) * inner;
        const float *dy = dout->data + o * cnt * inner;
        for (size_t k = 0; k < cnt; k++)
            memcpy(dx + (ptrdiff_t)k * s->step * (ptrdiff_t)inner, dy + k * inner,
                   inner * sizeof(float));
    }
    return GRAFT_OK;
}

static const graftAttrDecl slice_attrs[] = {
    {"axes", GRAFT_ATTR_INT, offsetof(slice_state, axis), 1},
    {"starts", GRAFT_ATTR_INT, offsetof(slice_state, start), 1},
    {"ends", GRAFT_ATTR_INT, offsetof(slice_state, end), 1},
    {"steps", GRAFT_ATTR_INT, offsetof(slice_state, step), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* The record is the attribute table: axis, start, end, step. */
static int slice_save(const graft_layer *l, graftWriter *w)
{
    return graftLayerWriteAttrs(l, w);
}

static int slice_load(graft_layer *l, graftReader *r, uint32_t version)
{
    slice_state *s = l->state, read = *s;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (slice_check(l->ctx, "graft_load", read.axis, read.step) != GRAFT_OK ||
        read.start == INT_MIN || read.end == INT_MIN || read.step == INT_MIN)
        return graftError(l->ctx, GRAFT_E_FORMAT, "graft_load",
                          "slice layer: axis %d, start %d, end %d, step %d are not a slice "
                          "graft makes",
                          read.axis, read.start, read.end, read.step);
    *s = read;
    return GRAFT_OK;
}

static int64_t slice_flops(const graft_layer *l)
{
    (void)l;
    return 0;
}

/* ONNX: Slice (opset 10+ form) with one-element starts, ends, axes and
 * steps, the axis and range resolved for the built shape. */
static int slice_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const slice_state *s = l->state;
    int r = l->in_shapes[0].ndim;
    int64_t one = 1, axis = s->axis < 0 ? s->axis + r : s->axis, step = s->step;
    int64_t start = s->first;
    /* the entry after the last one taken; -1 past the front when counting
     * down, which ONNX reads as n - 1, so the end is then written as -n - 1 */
    int64_t end = s->first + s->count * step;
    if (end < 0) end = -s->dim - 1;
    char sn[4][GRAFT_ONNX_NAME_MAX];
    static const char *const what[4] = {"starts", "ends", "axes", "steps"};
    const int64_t *vals[4] = {&start, &end, &axis, &step};
    for (int k = 0; k < 4; k++) {
        graftOnnxAuxName(o, what[k], sn[k]);
        graftOnnxInitI64(o, sn[k], 1, &one, vals[k]);
    }
    const char *ins[5] = {o->inputs[0], sn[0], sn[1], sn[2], sn[3]};
    graftOnnxNode(o, "Slice", NULL, 5, ins, o->output);
    return GRAFT_OK;
}

const graftLayerVtbl graftSliceVtbl = {
    .kind = "slice",
    .version = 1,
    .state_size = sizeof(slice_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = slice_infer_shape,
    .forward = slice_forward,
    .backward = slice_backward,
    .backward_ignores_output = 1,
    .save = slice_save,
    .load = slice_load,
    .flops = slice_flops,
    .attrs = slice_attrs,
    .onnx_export = slice_onnx_export,
};

GRAFT_API int graft_layer_slice(graft_ctx *ctx, int axis, int64_t start, int64_t end,
                                int64_t step, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(slice_check(ctx, __func__, axis, step == 0 ? 0 : 1));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftSliceVtbl, __func__, &l));
    slice_state *s = l->state;
    s->axis = axis;
    s->start = clamp_int(start);
    s->end = clamp_int(end);
    s->step = clamp_int(step);
    *out = l;
    return GRAFT_OK;
}
