/*
 * layer_pad2d.c - padding of the last two axes (H, W).
 *
 * Input X (N, ..., H, W) of rank >= 3; every leading plane (N and the axes
 * before H) is padded alike. Output Y (N, ..., OH, OW) with
 * OH = pt + H + pb, OW = pl + W + pr. Output cell (i, j) reads the input
 * cell (src(i - pt, H), src(j - pl, W)) where, for a coordinate c of an axis
 * of size S:
 *   CONSTANT  src = c when 0 <= c < S, else none (the cell is the fill value)
 *   REFLECT   src = -c for c < 0, 2(S-1) - c for c >= S (needs pads < S)
 *   EDGE      src = min(max(c, 0), S-1)
 * Backward adds each output gradient to the input cell it read:
 *   dX[src(i), src(j)] += dY[i, j]   (cells with no source contribute nothing)
 */
#include "layer.h"
#include "core/options.h"

#include <string.h>

typedef struct pad_state {
    graft_pad2d_spec spec;
    int64_t h, w, oh, ow, planes; /* set by infer_shape */
} pad_state;

static int pad_check(graft_ctx *ctx, const char *func, const graft_pad2d_spec *p)
{
    const int v[4] = {p->pad_top, p->pad_left, p->pad_bottom, p->pad_right};
    static const char *const names[4] = {"pad_top", "pad_left", "pad_bottom", "pad_right"};
    for (int i = 0; i < 4; i++)
        GRAFT_RETURN_IF_AT(v[i] < 0, ctx, GRAFT_E_INVALID_ARG, func, "%s is %d, must be >= 0",
                           names[i], v[i]);
    GRAFT_RETURN_IF_AT(p->mode != GRAFT_PAD_CONSTANT && p->mode != GRAFT_PAD_REFLECT &&
                           p->mode != GRAFT_PAD_EDGE,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "mode is %d, must be GRAFT_PAD_CONSTANT, _REFLECT or _EDGE", p->mode);
    GRAFT_RETURN_IF_AT(!graftIsFinite(p->value), ctx, GRAFT_E_INVALID_ARG, func,
                       "value is %g, must be finite", (double)p->value);
    return GRAFT_OK;
}

static int pad_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    pad_state *s = l->state;
    const graft_pad2d_spec *p = &s->spec;
    const char *func = "graft_layer_build";
    (void)n_inputs;
    int r = in[0].ndim;
    if (r < 3)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "pad2d layer: input has %d dimensions, needs at least 3 (N, ..., H, W)",
                          r);
    int64_t h = in[0].dims[r - 2], w = in[0].dims[r - 1];
    if (p->mode == GRAFT_PAD_REFLECT &&
        (p->pad_top >= h || p->pad_bottom >= h || p->pad_left >= w || p->pad_right >= w))
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "pad2d layer: reflect padding (%d, %d, %d, %d) needs pads smaller than "
                          "the %lldx%lld input",
                          p->pad_top, p->pad_left, p->pad_bottom, p->pad_right, (long long)h,
                          (long long)w);
    s->h = h;
    s->w = w;
    s->oh = h + p->pad_top + p->pad_bottom;
    s->ow = w + p->pad_left + p->pad_right;
    s->planes = 1;
    for (int d = 1; d < r - 2; d++) s->planes *= in[0].dims[d];
    *out = in[0];
    out->dims[r - 2] = s->oh;
    out->dims[r - 1] = s->ow;
    return GRAFT_OK;
}

/* The source coordinate of padded coordinate c on an axis of size n, or -1. */
static int64_t src_index(int mode, int64_t c, int64_t n)
{
    if (c >= 0 && c < n) return c;
    switch (mode) {
    case GRAFT_PAD_REFLECT: return c < 0 ? -c : 2 * (n - 1) - c;
    case GRAFT_PAD_EDGE: return c < 0 ? 0 : n - 1;
    default: return -1;
    }
}

static int pad_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const pad_state *s = l->state;
    const graft_pad2d_spec *p = &s->spec;
    size_t planes = (size_t)(in[0]->dims[0] * s->planes);
    for (size_t q = 0; q < planes; q++) {
        const float *x = in[0]->data + q * (size_t)(s->h * s->w);
        float *y = out->data + q * (size_t)(s->oh * s->ow);
        for (int64_t i = 0; i < s->oh; i++) {
            int64_t si = src_index(p->mode, i - p->pad_top, s->h);
            for (int64_t j = 0; j < s->ow; j++) {
                int64_t sj = src_index(p->mode, j - p->pad_left, s->w);
                y[i * s->ow + j] = si < 0 || sj < 0 ? p->value : x[si * s->w + sj];
            }
        }
    }
    return GRAFT_OK;
}

static int pad_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    const pad_state *s = l->state;
    const graft_pad2d_spec *p = &s->spec;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    memset(din[0]->data, 0, din[0]->numel * sizeof(float));
    size_t planes = (size_t)(in[0]->dims[0] * s->planes);
    for (size_t q = 0; q < planes; q++) {
        float *dx = din[0]->data + q * (size_t)(s->h * s->w);
        const float *dy = dout->data + q * (size_t)(s->oh * s->ow);
        for (int64_t i = 0; i < s->oh; i++) {
            int64_t si = src_index(p->mode, i - p->pad_top, s->h);
            if (si < 0) continue;
            for (int64_t j = 0; j < s->ow; j++) {
                int64_t sj = src_index(p->mode, j - p->pad_left, s->w);
                if (sj >= 0) dx[si * s->w + sj] += dy[i * s->ow + j];
            }
        }
    }
    return GRAFT_OK;
}

static const graftAttrDecl pad_attrs[] = {
    {"pads", GRAFT_ATTR_INT, offsetof(pad_state, spec.pad_top), 4},
    {"mode", GRAFT_ATTR_INT, offsetof(pad_state, spec.mode), 1},
    {"value", GRAFT_ATTR_FLOAT, offsetof(pad_state, spec.value), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* The record is the attribute table in order (pad_attrs): four pads, the
 * mode, the value. */
static int pad_save(const graft_layer *l, graftWriter *w) { return graftLayerWriteAttrs(l, w); }

static int pad_load(graft_layer *l, graftReader *r, uint32_t version)
{
    pad_state *s = l->state, read = *s;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (pad_check(l->ctx, "graft_load", &read.spec) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->spec = read.spec;
    return GRAFT_OK;
}

/* ONNX: Pad (constant, reflect or edge) on the last two axes; pads and the
 * constant value as inputs. */
static int pad_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const graft_pad2d_spec *sp = &((const pad_state *)l->state)->spec;
    static const char *const modes[3] = {"constant", "reflect", "edge"};
    if (sp->mode < 0 || sp->mode > 2) return graftOnnxInternal(o, "unknown pad2d mode");
    int r = l->in_shapes[0].ndim;
    int64_t pads[2 * GRAFT_MAX_DIMS] = {0}, np = 2 * r;
    pads[r - 2] = sp->pad_top;
    pads[r - 1] = sp->pad_left;
    pads[2 * r - 2] = sp->pad_bottom;
    pads[2 * r - 1] = sp->pad_right;
    char pn[GRAFT_ONNX_NAME_MAX], vn[GRAFT_ONNX_NAME_MAX];
    graftOnnxAuxName(o, "pads", pn);
    graftOnnxAuxName(o, "value", vn);
    graftOnnxInitI64(o, pn, 1, &np, pads);
    graftOnnxInitF32(o, vn, 0, NULL, &sp->value);
    const char *ins[3] = {o->inputs[0], pn, vn};
    size_t n = graftOnnxNodeBegin(o, "Pad", NULL, 3, ins, o->output);
    graftOnnxAttrString(o, "mode", modes[sp->mode]);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}


const graftLayerVtbl graftPad2dVtbl = {
    .kind = "pad2d",
    .version = 1,
    .state_size = sizeof(pad_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = pad_infer_shape,
    .forward = pad_forward,
    .backward = pad_backward,
    .save = pad_save,
    .load = pad_load,
    .attrs = pad_attrs,
    .onnx_export = pad_onnx_export,
};

/* The sizes graft_pad2d_spec has had: 1.0. */
static const uint32_t pad2d_spec_sizes[] = {(uint32_t)sizeof(graft_pad2d_spec)};
static const graftOptionsKind pad2d_spec_kind = {
    "spec", "GRAFT_PAD2D_SPEC_INIT", pad2d_spec_sizes, GRAFT_OPTIONS_COUNT(pad2d_spec_sizes), 0, 0};

GRAFT_API int graft_layer_pad2d(graft_ctx *ctx, const graft_pad2d_spec *spec, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!spec, ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    graft_pad2d_spec sp = GRAFT_PAD2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &pad2d_spec_kind, spec, &sp));
    GRAFT_FORWARD_IF_ERROR(pad_check(ctx, __func__, &sp));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftPad2dVtbl, __func__, &l));
    ((pad_state *)l->state)->spec = sp;
    *out = l;
    return GRAFT_OK;
}
