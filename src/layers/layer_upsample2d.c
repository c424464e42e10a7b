/*
 * layer_upsample2d.c - resizing of the last two axes (H, W): nearest or
 * bilinear, as ONNX Resize and PyTorch's interpolate define them.
 *
 * Input X (N, ..., H, W) of rank >= 3; every leading plane is resized
 * alike. Output (N, ..., OH, OW) with OH = out_h, or floor(H * scale_h) when
 * out_h is 0 (the same for W). The scale s used below is scale_h when given,
 * else OH / H.
 *
 * Output coordinate y maps to the input coordinate
 *   HALF_PIXEL          (y + 0.5) / s - 0.5
 *   PYTORCH_HALF_PIXEL  the same, but 0 when OH == 1
 *   ALIGN_CORNERS       y * (H - 1) / (H * s - 1), 0 when H * s <= 1 (with
 *                       the size given, H * s is OH: PyTorch's (OH - 1))
 *   ASYMMETRIC          y / s
 * NEAREST rounds it (round half down or up, floor or ceil) and clamps it
 * to [0, H - 1]. LINEAR clamps it to [0, H - 1] and mixes the two rows
 * around it: with y0 = floor(c), y1 = min(y0 + 1, H - 1), t = c - y0,
 *   out = (1 - t) * X[y0] + t * X[y1]
 * (bilinear: the same along W, rows first). Backward adds each output
 * gradient to the cells it read, with the same weights.
 *
 * Coordinates depend only on the output index, so forward and backward
 * compute them per row and per column, in double as the references do.
 */
#include "layer.h"
#include "core/options.h"

#include <math.h>
#include <string.h>

typedef struct upsample_state {
    graft_upsample2d_spec spec;
    int64_t h, w, oh, ow, planes; /* set by infer_shape */
    double sh, sw;                /* the scales the coordinates use */
} upsample_state;

static int upsample_check(graft_ctx *ctx, const char *func, const graft_upsample2d_spec *p)
{
    GRAFT_RETURN_IF_AT(p->out_h < 0 || p->out_w < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "out_h and out_w are %d and %d, must be >= 0 (0: from the scale)",
                       p->out_h, p->out_w);
    GRAFT_RETURN_IF_AT(p->out_h == 0 && !(graftIsFinite(p->scale_h) && p->scale_h > 0.0f), ctx,
                       GRAFT_E_INVALID_ARG, func, "scale_h is %g, must be finite and > 0",
                       (double)p->scale_h);
    GRAFT_RETURN_IF_AT(p->out_w == 0 && !(graftIsFinite(p->scale_w) && p->scale_w > 0.0f), ctx,
                       GRAFT_E_INVALID_ARG, func, "scale_w is %g, must be finite and > 0",
                       (double)p->scale_w);
    GRAFT_RETURN_IF_AT(p->mode != GRAFT_UPSAMPLE_NEAREST && p->mode != GRAFT_UPSAMPLE_LINEAR, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "mode is %d, must be GRAFT_UPSAMPLE_NEAREST or _LINEAR", p->mode);
    GRAFT_RETURN_IF_AT(p->coord < GRAFT_COORD_HALF_PIXEL || p->coord > GRAFT_COORD_PYTORCH_HALF_PIXEL,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "coord is %d, must be one of GRAFT_COORD_HALF_PIXEL, _ALIGN_CORNERS, "
                       "_ASYMMETRIC, _PYTORCH_HALF_PIXEL",
                       p->coord);
    GRAFT_RETURN_IF_AT(p->nearest < GRAFT_NEAREST_ROUND_PREFER_FLOOR || p->nearest > GRAFT_NEAREST_CEIL,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "nearest is %d, must be one of GRAFT_NEAREST_ROUND_PREFER_FLOOR, "
                       "_ROUND_PREFER_CEIL, _FLOOR, _CEIL",
                       p->nearest);
    return GRAFT_OK;
}

/* The output size of an axis of size n: out, or floor(n * scale). */
static int64_t out_size(int64_t n, int out, float scale)
{
    return out > 0 ? out : (int64_t)floor((double)n * (double)scale);
}

static int upsample_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                                graftShape *out)
{
    upsample_state *s = l->state;
    const graft_upsample2d_spec *p = &s->spec;
    const char *func = "graft_layer_build";
    (void)n_inputs;
    int r = in[0].ndim;
    if (r < 3)
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "upsample2d layer: input has %d dimensions, needs at least 3 "
                          "(N, ..., H, W)",
                          r);
    int64_t h = in[0].dims[r - 2], w = in[0].dims[r - 1];
    int64_t oh = out_size(h, p->out_h, p->scale_h), ow = out_size(w, p->out_w, p->scale_w);
    if (oh < 1 || ow < 1 || oh > ((int64_t)1 << 31) || ow > ((int64_t)1 << 31))
        return graftError(l->ctx, GRAFT_E_SHAPE, func,
                          "upsample2d layer: a %lldx%lld input gives a %lldx%lld output; each "
                          "side must be 1 to 2^31",
                          (long long)h, (long long)w, (long long)oh, (long long)ow);
    s->h = h;
    s->w = w;
    s->oh = oh;
    s->ow = ow;
    s->sh = p->out_h > 0 ? (double)oh / (double)h : (double)p->scale_h;
    s->sw = p->out_w > 0 ? (double)ow / (double)w : (double)p->scale_w;
    s->planes = 1;
    for (int d = 1; d < r - 2; d++) s->planes *= in[0].dims[d];
    *out = in[0];
    out->dims[r - 2] = oh;
    out->dims[r - 1] = ow;
    size_t numel;
    return graftShapeCheck(l->ctx, func, out->ndim, out->dims, &numel);
}

/* The input coordinate of output coordinate y on an axis of n cells
 * resized to m at scale sc. */
static double source_coord(int coord, int64_t y, int64_t n, int64_t m, double sc)
{
    switch (coord) {
    case GRAFT_COORD_ALIGN_CORNERS: {
        /* ONNX divides by the unrounded output length n * s - 1 (m - 1
         * when the size is given) */
        double span = (double)n * sc - 1.0;
        (void)m;
        return span <= 0.0 ? 0.0 : (double)y * (double)(n - 1) / span;
    }
    case GRAFT_COORD_ASYMMETRIC: return (double)y / sc;
    case GRAFT_COORD_PYTORCH_HALF_PIXEL:
        if (m == 1) return 0.0;
        return ((double)y + 0.5) / sc - 0.5;
    default: return ((double)y + 0.5) / sc - 0.5; /* HALF_PIXEL */
    }
}

/* One output coordinate's taps: out = (1 - t) * X[i0] + t * X[i1]
 * (nearest: i0 == i1, t == 0). */
typedef struct tap {
    int64_t i0, i1;
    float t;
} tap;

static tap tap_of(const graft_upsample2d_spec *p, int64_t y, int64_t n, int64_t m, double sc)
{
    double c = source_coord(p->coord, y, n, m, sc);
    tap k;
    if (p->mode == GRAFT_UPSAMPLE_NEAREST) {
        double q;
        switch (p->nearest) {
        case GRAFT_NEAREST_ROUND_PREFER_CEIL: q = floor(c + 0.5); break;
        case GRAFT_NEAREST_FLOOR: q = floor(c); break;
        case GRAFT_NEAREST_CEIL: q = ceil(c); break;
        default: q = ceil(c - 0.5); break; /* round half down */
        }
        if (q < 0) q = 0;
        if (q > (double)(n - 1)) q = (double)(n - 1);
        k.i0 = k.i1 = (int64_t)q;
        k.t = 0.0f;
        return k;
    }
    if (c < 0) c = 0;
    if (c > (double)(n - 1)) c = (double)(n - 1);
    k.i0 = (int64_t)floor(c);
    k.i1 = k.i0 + 1 < n ? k.i0 + 1 : n - 1;
    k.t = (float)(c - (double)k.i0);
    return k;
}

static int upsample_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const upsample_state *s = l->state;
    const graft_upsample2d_spec *p = &s->spec;
    size_t planes = (size_t)(in[0]->dims[0] * s->planes);
    for (size_t q = 0; q < planes; q++) {
        const float *x = in[0]->data + q * (size_t)(s->h * s->w);
        float *y = out->data + q * (size_t)(s->oh * s->ow);
        for (int64_t i = 0; i < s->oh; i++) {
            tap ti = tap_of(p, i, s->h, s->oh, s->sh);
            const float *r0 = x + ti.i0 * s->w, *r1 = x + ti.i1 * s->w;
            for (int64_t j = 0; j < s->ow; j++) {
                tap tj = tap_of(p, j, s->w, s->ow, s->sw);
                float a = (1.0f - tj.t) * r0[tj.i0] + tj.t * r0[tj.i1];
                float b = (1.0f - tj.t) * r1[tj.i0] + tj.t * r1[tj.i1];
                y[i * s->ow + j] = (1.0f - ti.t) * a + ti.t * b;
            }
        }
    }
    return GRAFT_OK;
}

static int upsample_backward(graft_layer *l, const graft_tensor *const *in,
                             const graft_tensor *out, const graft_tensor *dout,
                             graft_tensor *const *din)
{
    const upsample_state *s = l->state;
    const graft_upsample2d_spec *p = &s->spec;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    memset(din[0]->data, 0, din[0]->numel * sizeof(float));
    size_t planes = (size_t)(in[0]->dims[0] * s->planes);
    for (size_t q = 0; q < planes; q++) {
        float *dx = din[0]->data + q * (size_t)(s->h * s->w);
        const float *dy = dout->data + q * (size_t)(s->oh * s->ow);
        for (int64_t i = 0; i < s->oh; i++) {
            tap ti = tap_of(p, i, s->h, s->oh, s->sh);
            float *r0 = dx + ti.i0 * s->w, *r1 = dx + ti.i1 * s->w;
            for (int64_t j = 0; j < s->ow; j++) {
                tap tj = tap_of(p, j, s->w, s->ow, s->sw);
                float g = dy[i * s->ow + j], g0 = (1.0f - ti.t) * g, g1 = ti.t * g;
                r0[tj.i0] += (1.0f - tj.t) * g0;
                r0[tj.i1] += tj.t * g0;
                r1[tj.i0] += (1.0f - tj.t) * g1;
                r1[tj.i1] += tj.t * g1;
            }
        }
    }
    return GRAFT_OK;
}

static const graftAttrDecl upsample_attrs[] = {
    {"scales", GRAFT_ATTR_FLOAT, offsetof(upsample_state, spec.scale_h), 2},
    {"sizes", GRAFT_ATTR_INT, offsetof(upsample_state, spec.out_h), 2},
    {"mode", GRAFT_ATTR_INT, offsetof(upsample_state, spec.mode), 1},
    {"coordinate_transformation_mode", GRAFT_ATTR_INT, offsetof(upsample_state, spec.coord), 1},
    {"nearest_mode", GRAFT_ATTR_INT, offsetof(upsample_state, spec.nearest), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

/* The record is the attribute table in order (upsample_attrs): the two
 * scales, the two sizes, the mode, the coordinates, the rounding. */
static int upsample_save(const graft_layer *l, graftWriter *w)
{
    return graftLayerWriteAttrs(l, w);
}

static int upsample_load(graft_layer *l, graftReader *r, uint32_t version)
{
    upsample_state *s = l->state, read = *s;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (upsample_check(l->ctx, "graft_load", &read.spec) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->spec = read.spec;
    return GRAFT_OK;
}

/* Four multiply-adds per output for linear, a copy for nearest. */
static int64_t upsample_flops(const graft_layer *l)
{
    const upsample_state *s = l->state;
    int64_t n = graftShapeSampleNumel(&l->out_shape);
    return s->spec.mode == GRAFT_UPSAMPLE_LINEAR ? 8 * n : n;
}

/* ONNX: Resize (opset 13+) with scales (1, ..., 1, s_h, s_w). An output
 * size given as such is written as the scale OH / H when float arithmetic
 * gives the size back exactly, as ONNX computes floor(H * scale). */
static int upsample_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const upsample_state *s = l->state;
    const graft_upsample2d_spec *p = &s->spec;
    static const char *const coords[4] = {"half_pixel", "align_corners", "asymmetric",
                                          "pytorch_half_pixel"};
    static const char *const nearest[4] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"};
    int r = l->in_shapes[0].ndim;
    float scales[GRAFT_MAX_DIMS];
    int64_t nr = r;
    for (int d = 0; d < r; d++) scales[d] = 1.0f;
    scales[r - 2] = (float)s->sh;
    scales[r - 1] = (float)s->sw;
    if ((int64_t)floor((double)s->h * scales[r - 2]) != s->oh ||
        (int64_t)floor((double)s->w * scales[r - 1]) != s->ow)
        return graftError(o->ctx, GRAFT_E_UNSUPPORTED, o->func,
                          "layer \"%s\": upsample2d to %lldx%lld from %lldx%lld has no float "
                          "scale that ONNX Resize maps back to that size",
                          o->name, (long long)s->oh, (long long)s->ow, (long long)s->h,
                          (long long)s->w);
    char sn[GRAFT_ONNX_NAME_MAX];
    graftOnnxAuxName(o, "scales", sn);
    graftOnnxInitF32(o, sn, 1, &nr, scales);
    const char *ins[3] = {o->inputs[0], "", sn}; /* no roi */
    size_t n = graftOnnxNodeBegin(o, "Resize", NULL, 3, ins, o->output);
    graftOnnxAttrString(o, "mode", p->mode == GRAFT_UPSAMPLE_LINEAR ? "linear" : "nearest");
    graftOnnxAttrString(o, "coordinate_transformation_mode", coords[p->coord]);
    if (p->mode == GRAFT_UPSAMPLE_NEAREST) graftOnnxAttrString(o, "nearest_mode", nearest[p->nearest]);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}


const graftLayerVtbl graftUpsample2dVtbl = {
    .kind = "upsample2d",
    .version = 1,
    .state_size = sizeof(upsample_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = upsample_infer_shape,
    .forward = upsample_forward,
    .backward = upsample_backward,
    .save = upsample_save,
    .load = upsample_load,
    .flops = upsample_flops,
    .attrs = upsample_attrs,
    .onnx_export = upsample_onnx_export,
};

/* The sizes graft_upsample2d_spec has had: 1.1. */
static const uint32_t upsample2d_spec_sizes[] = {(uint32_t)sizeof(graft_upsample2d_spec)};
static const graftOptionsKind upsample2d_spec_kind = {
    "spec", "GRAFT_UPSAMPLE2D_SPEC_INIT", upsample2d_spec_sizes,
    GRAFT_OPTIONS_COUNT(upsample2d_spec_sizes), 0, 0};

GRAFT_API int graft_layer_upsample2d(graft_ctx *ctx, const graft_upsample2d_spec *spec,
                                     graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!spec, ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    graft_upsample2d_spec sp = GRAFT_UPSAMPLE2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, __func__, &upsample2d_spec_kind, spec, &sp));
    GRAFT_FORWARD_IF_ERROR(upsample_check(ctx, __func__, &sp));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftUpsample2dVtbl, __func__, &l));
    ((upsample_state *)l->state)->spec = sp;
    *out = l;
    return GRAFT_OK;
}
