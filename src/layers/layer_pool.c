/*
 * layer_pool.c - max and average pooling over NCHW input, and global average
 * pooling.
 *
 * Max and average pooling share one spec (graft_pool2d_spec), one private
 * state, the output-size rule, validation and serialisation; only forward
 * and backward differ. Along one axis of size S with kernel k, stride s and
 * padding (b before, e after), output position o reads the padded cells
 * [o*s - b, o*s - b + k). The output size is
 *   floor((S + b + e - k) / s) + 1        (ceil_mode 0)
 *   ceil((S + b + e - k) / s) + 1         (ceil_mode 1)
 * and with ceil_mode a last window that would start at or beyond S + b (in
 * the bottom/right padding or past it) is dropped, as PyTorch and ONNX do.
 * Since every pad is < k, every window covers at least one input cell.
 *
 * Max: out = the largest input cell of the window (padding never wins; ties
 * go to the first in row-major window order). Forward records that cell per
 * output, and backward adds dout there:
 *   din[argmax(o)] += dout[o]
 * Average: out = (sum of the window's input cells) / D, where D is, per axis
 * product, the window clipped to [-b, S + e) when count_include_pad (a ceil
 * window running past the padding is not counted, PyTorch's rule) and the
 * number of input cells covered otherwise. Backward:
 *   din[i] += dout[o] / D for every input cell i of window o.
 *
 * Global average pooling: (N, C, H, W) -> (N, C, 1, 1),
 *   out[n, c] = mean over (h, w) of in[n, c, h, w],  din = dout / (H * W).
 */
#include "layer.h"
#include "core/options.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <limits.h>
#include <math.h>
#include <string.h>

/* ---- shared by max and average pooling ------------------------------------ */

typedef struct pool_state {
    graft_pool2d_spec spec;
    int64_t in_h, in_w, out_h, out_w; /* set by infer_shape */
    /* Max pooling: per output, the index of the winning cell in its (H, W)
     * input plane, from the last forward. Grown only when the batch grows. */
    int64_t *argmax;
    size_t argmax_cap; /* entries allocated */
} pool_state;

/* Every pass below works plane by plane, an (H, W) plane of one sample and
 * channel reading and writing only its own input, output, argmax and
 * gradient cells, so the planes are split into contiguous ranges over
 * graftParallelFor's workers (parallel.h) with results the same bits for
 * any worker count. */
typedef struct pool_pass {
    const pool_state *s;
    const float *x, *dy;
    float *y, *dx;
    int64_t *argmax;
    int64_t hw, ohw;  /* cells per input and per output plane */
    int64_t base;     /* first plane of this call's items */
} pool_pass;

/* Runs fn on planes [0, planes), cost floats touched per plane. */
static void pool_split(pool_pass *ps, int64_t planes, double cost, graftRangeFn fn)
{
    for (ps->base = 0; ps->base < planes; ps->base += INT_MAX) {
        const int k = (int)(planes - ps->base < INT_MAX ? planes - ps->base : INT_MAX);
        graftParallelFor(k, graftParallelWorkers(k, cost), fn, ps);
    }
}

/* One output position's window along one axis: the input cells [lo, hi) it
 * covers, and its length clipped to the padded input [-b, S + e). */
typedef struct pool_span {
    int64_t lo, hi, padded;
} pool_span;

static pool_span span_at(int64_t o, int kernel, int stride, int pad_begin, int pad_end,
                         int64_t size)
{
    pool_span sp;
    int64_t start = o * stride - pad_begin, end = start + kernel;
    if (end > size + pad_end) end = size + pad_end;
    sp.padded = end - start;
    sp.lo = start < 0 ? 0 : start;
    sp.hi = end < size ? end : size;
    return sp;
}

/* The output size along one axis, or 0 when the window does not fit. */
static int64_t out_size(int64_t size, int kernel, int stride, int pad_begin, int pad_end,
                        int ceil_mode)
{
    int64_t span = size + pad_begin + pad_end - kernel;
    if (span < 0) return 0;
    int64_t n = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (n - 1) * stride >= size + pad_begin) n--;
    return n;
}

static int check_positive(graft_ctx *ctx, const char *func, const char *name, int v)
{
    GRAFT_RETURN_IF_AT(v < 1, ctx, GRAFT_E_INVALID_ARG, func, "%s is %d, must be >= 1", name, v);
    return GRAFT_OK;
}

static int check_pad(graft_ctx *ctx, const char *func, const char *name, int v,
                     const char *kernel_name, int kernel)
{
    GRAFT_RETURN_IF_AT(v < 0 || v >= kernel, ctx, GRAFT_E_INVALID_ARG, func,
                       "%s is %d, must be >= 0 and < %s (%d)", name, v, kernel_name, kernel);
    return GRAFT_OK;
}

static int check_flag(graft_ctx *ctx, const char *func, const char *name, int v)
{
    GRAFT_RETURN_IF_AT(v != 0 && v != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "%s is %d, must be 0 or 1", name, v);
    return GRAFT_OK;
}

/* Validates every attribute of a spec whose struct_size is known. */
static int pool_check(graft_ctx *ctx, const char *func, const graft_pool2d_spec *p)
{
    GRAFT_FORWARD_IF_ERROR(check_positive(ctx, func, "kernel_h", p->kernel_h));
    GRAFT_FORWARD_IF_ERROR(check_positive(ctx, func, "kernel_w", p->kernel_w));
    GRAFT_FORWARD_IF_ERROR(check_positive(ctx, func, "stride_h", p->stride_h));
    GRAFT_FORWARD_IF_ERROR(check_positive(ctx, func, "stride_w", p->stride_w));
    GRAFT_FORWARD_IF_ERROR(check_pad(ctx, func, "pad_top", p->pad_top, "kernel_h", p->kernel_h));
    GRAFT_FORWARD_IF_ERROR(
        check_pad(ctx, func, "pad_left", p->pad_left, "kernel_w", p->kernel_w));
    GRAFT_FORWARD_IF_ERROR(
        check_pad(ctx, func, "pad_bottom", p->pad_bottom, "kernel_h", p->kernel_h));
    GRAFT_FORWARD_IF_ERROR(
        check_pad(ctx, func, "pad_right", p->pad_right, "kernel_w", p->kernel_w));
    GRAFT_FORWARD_IF_ERROR(check_flag(ctx, func, "ceil_mode", p->ceil_mode));
    GRAFT_FORWARD_IF_ERROR(check_flag(ctx, func, "count_include_pad", p->count_include_pad));
    return GRAFT_OK;
}

static int pool_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    pool_state *s = l->state;
    const graft_pool2d_spec *p = &s->spec;
    (void)n_inputs;
    if (in[0].ndim != 4)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "%s layer: input must be 4-D (N, C, H, W), got %d dimensions",
                          l->vtbl->kind, in[0].ndim);
    int64_t h = in[0].dims[2], w = in[0].dims[3];
    int64_t oh = out_size(h, p->kernel_h, p->stride_h, p->pad_top, p->pad_bottom, p->ceil_mode);
    int64_t ow = out_size(w, p->kernel_w, p->stride_w, p->pad_left, p->pad_right, p->ceil_mode);
    if (oh < 1 || ow < 1)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "%s layer: a %dx%d window does not fit the %lldx%lld input padded "
                          "to %lldx%lld; the output size must be >= 1",
                          l->vtbl->kind, p->kernel_h, p->kernel_w, (long long)h, (long long)w,
                          (long long)(h + p->pad_top + p->pad_bottom),
                          (long long)(w + p->pad_left + p->pad_right));
    s->in_h = h;
    s->in_w = w;
    s->out_h = oh;
    s->out_w = ow;
    out->ndim = 4;
    out->dims[0] = 1;
    out->dims[1] = in[0].dims[1];
    out->dims[2] = oh;
    out->dims[3] = ow;
    return GRAFT_OK;
}

static int pool_save(const graft_layer *l, graftWriter *w)
{
    const graft_pool2d_spec *p = &((const pool_state *)l->state)->spec;
    const int32_t v[] = {p->kernel_h,   p->kernel_w,  p->stride_h,   p->stride_w,
                         p->pad_top,    p->pad_left,  p->pad_bottom, p->pad_right,
                         p->ceil_mode,  p->count_include_pad};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) graftWriteI32(w, v[i]);
    return w->status;
}

static int pool_load(graft_layer *l, graftReader *r, uint32_t version)
{
    pool_state *s = l->state;
    graft_pool2d_spec p = GRAFT_POOL2D_SPEC_INIT;
    int *const fields[] = {&p.kernel_h,   &p.kernel_w,  &p.stride_h,   &p.stride_w,
                           &p.pad_top,    &p.pad_left,  &p.pad_bottom, &p.pad_right,
                           &p.ceil_mode,  &p.count_include_pad};
    (void)version;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int32_t v;
        GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &v, "pooling attributes"));
        *fields[i] = v;
    }
    if (pool_check(l->ctx, "graft_load", &p) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->spec = p;
    return GRAFT_OK;
}

static void pool_destroy(graft_layer *l)
{
    pool_state *s = l->state;
    graftFree(l->ctx, s->argmax);
    s->argmax = NULL;
    s->argmax_cap = 0;
}

/* The sizes graft_pool2d_spec has had: 1.0. */
static const uint32_t pool2d_spec_sizes[] = {(uint32_t)sizeof(graft_pool2d_spec)};
static const graftOptionsKind pool2d_spec_kind = {
    "spec", "GRAFT_POOL2D_SPEC_INIT", pool2d_spec_sizes, GRAFT_OPTIONS_COUNT(pool2d_spec_sizes), 0,
    0};

/* The constructors' common part. */
static int pool_create(graft_ctx *ctx, const graft_pool2d_spec *spec, const graftLayerVtbl *vtbl,
                       const char *func, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF_AT(!ctx, NULL, GRAFT_E_INVALID_ARG, func, "ctx is NULL");
    GRAFT_RETURN_IF_AT(!out, ctx, GRAFT_E_INVALID_ARG, func, "out is NULL");
    GRAFT_RETURN_IF_AT(!spec, ctx, GRAFT_E_INVALID_ARG, func, "spec is NULL");
    graft_pool2d_spec sp = GRAFT_POOL2D_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &pool2d_spec_kind, spec, &sp));
    GRAFT_FORWARD_IF_ERROR(pool_check(ctx, func, &sp));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, vtbl, func, &l));
    pool_state *s = l->state;
    s->spec = sp;
    *out = l;
    return GRAFT_OK;
}

/* ---- max pooling ---------------------------------------------------------- */

/* The window rule of the file comment for one output: the cells of rows
 * [sy->lo, sy->hi) x columns [sx->lo, sx->hi) of plane x (width w), scanned
 * in row-major order. Strictly greater keeps the first of equal values; a NaN
 * wins once so that it propagates (the first NaN in scan order is kept). This
 * is the reference every faster path below must agree with bit for bit. */
static void max_window(const float *x, int64_t w, const pool_span *sy, const pool_span *sx,
                       float *y, int64_t *am)
{
    int64_t best_i = sy->lo * w + sx->lo;
    float best = x[best_i];
    for (int64_t i = sy->lo; i < sy->hi; i++) {
        for (int64_t j = sx->lo; j < sx->hi; j++) {
            float v = x[i * w + j];
            if (v > best || (isnan(v) && !isnan(best))) {
                best = v;
                best_i = i * w + j;
            }
        }
    }
    *y = best;
    *am = best_i;
}

/* Outputs [ox_lo, ox_hi) of output row oy by the reference rule. */
static void max_row_ref(const pool_state *s, const float *x, const pool_span *sy, int64_t ox_lo,
                        int64_t ox_hi, float *y, int64_t *am)
{
    const graft_pool2d_spec *p = &s->spec;
    for (int64_t ox = ox_lo; ox < ox_hi; ox++) {
        pool_span sx = span_at(ox, p->kernel_w, p->stride_w, p->pad_left, p->pad_right, s->in_w);
        max_window(x, s->in_w, sy, &sx, y + ox, am + ox);
    }
}

/* The vector path. Four adjacent outputs of one output row are computed at
 * once, one output per lane of a 4-float vector: their windows are visited
 * cell by cell in the same row-major order as max_window, and each lane keeps
 * (best value, its cell) with the same "later cell wins" test, done with
 * compare masks and bitwise selects. A lane therefore makes exactly the
 * scalar loop's decisions, and picks the very same float (bits, NaN payload
 * and sign of zero included) and the same cell.
 *
 * It covers the interior columns, whose windows lie entirely inside the
 * input row, so the loads need no bounds checks: with stride 1, tap j of the
 * four windows is the 4 floats at column base + j; with stride 2 it is every
 * other float of the 8 at base + j (even lanes of base.., odd lanes of
 * base + j - 1.., chosen so that no load reaches past the last window's last
 * column). Rows need no such care: a window's rows are clipped to the input
 * by span_at and visited in order whatever the padding. The few border
 * columns use max_window. A row whose interior is not a multiple of 4 wide
 * ends with a block overlapping the previous one, which rewrites the same
 * values. Cell indices are tracked as int32 (the fast path is only taken when
 * the plane has < 2^31 cells) and widened when stored. */
#if defined(__GNUC__)
#define POOL_INLINE inline __attribute__((always_inline))
#else
#define POOL_INLINE inline
#endif

#if defined(__GNUC__)
#define HAVE_V4F 1
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef int64_t v2l __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* {p[0], p[2], p[4], p[6]} and {p[1], p[3], p[5], p[7]}. */
static inline v4f v4_load_even(const float *p)
{
    return GRAFT_SHUFFLE4(v4_load(p), v4_load(p + 4), 0, 2, 4, 6);
}
static inline v4f v4_load_odd(const float *p)
{
    return GRAFT_SHUFFLE4(v4_load(p), v4_load(p + 4), 1, 3, 5, 7);
}

/* Tap j of the four windows starting at r[0], r[stride], r[2 * stride] and
 * r[3 * stride] (stride 1 or 2). Every float read lies within the four
 * windows (for stride 2 this needs a kernel >= 2 wide). */
static POOL_INLINE v4f max_tap(const float *r, int j, int stride)
{
    if (stride == 1) return v4_load(r + j);
    return j == 0 ? v4_load_even(r) : v4_load_odd(r + j - 1);
}

/* All-ones lanes where cell value b, later in scan order, replaces the best
 * so far a: b > a || (isnan(b) && !isnan(a)), which is !(b <= a) && a == a
 * (b <= a is false when either is NaN). */
static inline v4i max_later_wins(v4f b, v4f a) { return ~(b <= a) & (a == a); }

static inline v4f v4_select(v4i m, v4f b, v4f a)
{
    return (v4f)(((v4i)b & m) | ((v4i)a & ~m));
}
static inline v4i v4i_select(v4i m, v4i b, v4i a) { return (b & m) | (a & ~m); }

/* Interior outputs [ox_lo, ox_hi) (at least 4) of one output row whose
 * window rows are [r_lo, r_hi), for a kernel kw wide with stride sw (1, or 2
 * with kw >= 2) and left padding pl. Inlined with constant kw and sw for the
 * common geometries, so the tap loop unrolls. */
static POOL_INLINE void
max_row_vec(const float *x, int64_t w, int64_t r_lo, int64_t r_hi, int kw, int sw, int pl,
            int64_t ox_lo, int64_t ox_hi, float *y, int64_t *am)
{
    const v4i lane = sw == 1 ? (v4i){0, 1, 2, 3} : (v4i){0, 2, 4, 6};
    const v2l zero = {0, 0};
    for (int64_t ox0 = ox_lo; ox0 < ox_hi; ox0 += 4) {
        const int64_t ox = ox0 + 4 <= ox_hi ? ox0 : ox_hi - 4;
        const int64_t base = ox * sw - pl; /* first column of lane 0's window */
        const float *r = x + r_lo * w + base;
        /* rel: the winner's cell relative to column base of its lane's
           window, i * w + j; the same for all four lanes of a tap. */
        int32_t rel = (int32_t)(r_lo * w);
        v4f best = max_tap(r, 0, sw);
        v4i best_rel = (v4i){rel, rel, rel, rel};
        for (int64_t i = r_lo; i < r_hi; i++, r += w, rel += (int32_t)w) {
#pragma GCC unroll 4
            for (int j = i == r_lo; j < kw; j++) {
                const v4f v = max_tap(r, j, sw);
                const v4i m = max_later_wins(v, best);
                const int32_t c = rel + j;
                best = v4_select(m, v, best);
                best_rel = v4i_select(m, (v4i){c, c, c, c}, best_rel);
            }
        }
        const v4i cell = best_rel + (int32_t)base + lane;
        memcpy(y + ox, &best, sizeof best);
        /* cells are >= 0: widen to int64 by interleaving with zeros */
        const v2l lo = (v2l)GRAFT_SHUFFLE4(cell, (v4i)zero, 0, 4, 1, 5);
        const v2l hi = (v2l)GRAFT_SHUFFLE4(cell, (v4i)zero, 2, 6, 3, 7);
        memcpy(am + ox, &lo, sizeof lo);
        memcpy(am + ox + 2, &hi, sizeof hi);
    }
}
#else
#define HAVE_V4F 0
#endif

/* One (H, W) plane: x in, y and am (argmax cells) out. kw and sw are the
 * spec's kernel_w and stride_w, passed separately so that callers can make
 * them constants (see max_row_vec). */
static POOL_INLINE void
max_plane(const pool_state *s, const float *x, float *y, int64_t *am, int kw, int sw)
{
    const graft_pool2d_spec *p = &s->spec;
    const int64_t h = s->in_h, w = s->in_w, oh = s->out_h, ow = s->out_w;
    const int pl = p->pad_left;
    /* Interior columns: ox * sw - pl >= 0 and ox * sw - pl + kw <= w. */
    int64_t ox_lo = (pl + sw - 1) / sw, ox_hi = 0;
    if (w + pl - kw >= 0) ox_hi = (w + pl - kw) / sw + 1;
    if (ox_hi > ow) ox_hi = ow;
    int vec = HAVE_V4F && ox_hi - ox_lo >= 4 && h * w <= INT32_MAX &&
              (sw == 1 || (sw == 2 && kw >= 2));
    if (!vec) ox_lo = ox_hi = ow;
    for (int64_t oy = 0; oy < oh; oy++) {
        const pool_span sy = span_at(oy, p->kernel_h, p->stride_h, p->pad_top, p->pad_bottom, h);
        float *yr = y + oy * ow;
        int64_t *ar = am + oy * ow;
        max_row_ref(s, x, &sy, 0, ox_lo, yr, ar);
#if HAVE_V4F
        if (vec) max_row_vec(x, w, sy.lo, sy.hi, kw, sw, pl, ox_lo, ox_hi, yr, ar);
#endif
        max_row_ref(s, x, &sy, ox_hi, ow, yr, ar);
    }
}

/* max_plane over planes [c0, c1) */
static void max_forward_range(void *arg, int c0, int c1, int worker)
{
    const pool_pass *ps = arg;
    const pool_state *s = ps->s;
    const int kw = s->spec.kernel_w, sw = s->spec.stride_w;
    const int64_t hw = ps->hw, ohw = ps->ohw;
    (void)worker;
    for (int64_t c = ps->base + c0; c < ps->base + c1; c++) {
        const float *x = ps->x + c * hw;
        float *y = ps->y + c * ohw;
        int64_t *am = ps->argmax + c * ohw;
        /* the common geometries get their own copy with constant kw, sw */
        if (kw == 2 && sw == 2)
            max_plane(s, x, y, am, 2, 2);
        else if (kw == 3 && sw == 2)
            max_plane(s, x, y, am, 3, 2);
        else if (sw == 2)
            max_plane(s, x, y, am, kw, 2);
        else
            max_plane(s, x, y, am, kw, sw);
    }
}

static int max_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    pool_state *s = l->state;
    const int64_t planes = in[0]->dims[0] * in[0]->dims[1];
    const int64_t hw = s->in_h * s->in_w, ohw = s->out_h * s->out_w;
    const size_t need = (size_t)(planes * ohw);
    if (need > s->argmax_cap) {
        int64_t *a = graftAlloc(l->ctx, need * sizeof *a);
        if (!a)
            return graftError(l->ctx, GRAFT_E_NOMEM, "graft_layer_forward",
                              "max_pool2d layer: cannot allocate %zu argmax indices", need);
        graftFree(l->ctx, s->argmax);
        s->argmax = a;
        s->argmax_cap = need;
    }
    pool_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.x = in[0]->data;
    ps.y = out->data;
    ps.argmax = s->argmax;
    ps.hw = hw;
    ps.ohw = ohw;
    /* x read; y and the argmax (two floats' worth) written */
    pool_split(&ps, planes, (double)(hw + 3 * ohw), max_forward_range);
    return GRAFT_OK;
}

/* dx = 0, then dy added at each output's argmax cell, of planes [c0, c1):
 * the cells are indices within the plane, so a range writes only its own
 * planes of dx. */
static void max_backward_range(void *arg, int c0, int c1, int worker)
{
    const pool_pass *ps = arg;
    const int64_t hw = ps->hw, ohw = ps->ohw;
    (void)worker;
    for (int64_t c = ps->base + c0; c < ps->base + c1; c++) {
        const float *dy = ps->dy + c * ohw;
        const int64_t *am = ps->argmax + c * ohw;
        float *dxc = ps->dx + c * hw;
        memset(dxc, 0, (size_t)hw * sizeof *dxc);
        for (int64_t o = 0; o < ohw; o++) dxc[am[o]] += dy[o];
    }
}

static int max_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    const pool_state *s = l->state;
    (void)in;
    if (!din[0]) return GRAFT_OK;
    pool_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.dy = dout->data;
    ps.dx = din[0]->data;
    ps.argmax = s->argmax;
    ps.hw = s->in_h * s->in_w;
    ps.ohw = s->out_h * s->out_w;
    /* dx zeroed and added to; dy and the argmax read */
    pool_split(&ps, out->dims[0] * out->dims[1], (double)(ps.hw + 3 * ps.ohw),
               max_backward_range);
    return GRAFT_OK;
}

/* One operation per window cell per output (compare or add). */
static int64_t pool_flops(const graft_layer *l)
{
    const pool_state *s = l->state;
    return (int64_t)s->spec.kernel_h * s->spec.kernel_w * graftShapeSampleNumel(&l->out_shape);
}

/* ---- ONNX: MaxPool, AveragePool, GlobalAveragePool -------------------------- */

static const graftAttrDecl pool_attrs[] = {
    {"kernel_shape", GRAFT_ATTR_INT, offsetof(pool_state, spec.kernel_h), 2},
    {"strides", GRAFT_ATTR_INT, offsetof(pool_state, spec.stride_h), 2},
    {"pads", GRAFT_ATTR_INT, offsetof(pool_state, spec.pad_top), 4},
    {"ceil_mode", GRAFT_ATTR_INT, offsetof(pool_state, spec.ceil_mode), 1},
    {"count_include_pad", GRAFT_ATTR_INT, offsetof(pool_state, spec.count_include_pad), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

static int pool_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const graft_pool2d_spec *sp = &((const pool_state *)l->state)->spec;
    int is_max = l->vtbl == &graftMaxPool2dVtbl;
    size_t n = graftOnnxNodeBegin(o, is_max ? "MaxPool" : "AveragePool", NULL, 1, o->inputs,
                                  o->output);
    const int64_t ks[2] = {sp->kernel_h, sp->kernel_w}, st[2] = {sp->stride_h, sp->stride_w},
                  pads[4] = {sp->pad_top, sp->pad_left, sp->pad_bottom, sp->pad_right};
    graftOnnxAttrInts(o, "kernel_shape", 2, ks);
    graftOnnxAttrInts(o, "strides", 2, st);
    graftOnnxAttrInts(o, "pads", 4, pads);
    graftOnnxAttrInt(o, "ceil_mode", sp->ceil_mode);
    if (!is_max) graftOnnxAttrInt(o, "count_include_pad", sp->count_include_pad);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

const graftLayerVtbl graftMaxPool2dVtbl = {
    .kind = "max_pool2d",
    .version = 1,
    .state_size = sizeof(pool_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = pool_infer_shape,
    .forward = max_forward,
    .backward = max_backward,
    .save = pool_save,
    .load = pool_load,
    .destroy = pool_destroy,
    .flops = pool_flops,
    .attrs = pool_attrs,
    .onnx_export = pool_onnx_export,
};

GRAFT_API int graft_layer_max_pool2d(graft_ctx *ctx, const graft_pool2d_spec *spec,
                                     graft_layer **out)
{
    return pool_create(ctx, spec, &graftMaxPool2dVtbl, __func__, out);
}

/* ---- average pooling ------------------------------------------------------ */

/* The divisor of an average window (see the file comment). */
static float avg_divisor(const graft_pool2d_spec *p, const pool_span *sy, const pool_span *sx)
{
    if (p->count_include_pad) return (float)(sy->padded * sx->padded);
    return (float)((sy->hi - sy->lo) * (sx->hi - sx->lo));
}

/* Average pooling of planes [c0, c1). */
static void avg_forward_range(void *arg, int c0, int c1, int worker)
{
    const pool_pass *ps = arg;
    const pool_state *s = ps->s;
    const graft_pool2d_spec *p = &s->spec;
    const int64_t h = s->in_h, w = s->in_w, oh = s->out_h, ow = s->out_w;
    (void)worker;
    for (int64_t c = ps->base + c0; c < ps->base + c1; c++) {
        const float *x = ps->x + c * h * w;
        float *y = ps->y + c * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            pool_span sy = span_at(oy, p->kernel_h, p->stride_h, p->pad_top, p->pad_bottom, h);
            for (int64_t ox = 0; ox < ow; ox++) {
                pool_span sx =
                    span_at(ox, p->kernel_w, p->stride_w, p->pad_left, p->pad_right, w);
                float sum = 0.0f;
                for (int64_t i = sy.lo; i < sy.hi; i++)
                    for (int64_t j = sx.lo; j < sx.hi; j++) sum += x[i * w + j];
                y[oy * ow + ox] = sum / avg_divisor(p, &sy, &sx);
            }
        }
    }
}

/* The cells each output window reads, summed over a plane's outputs. */
static double avg_window_cells(const pool_state *s)
{
    return (double)s->out_h * s->out_w * s->spec.kernel_h * s->spec.kernel_w;
}

static int avg_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const pool_state *s = l->state;
    pool_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.x = in[0]->data;
    ps.y = out->data;
    /* every window's cells read, y written */
    pool_split(&ps, in[0]->dims[0] * in[0]->dims[1],
               avg_window_cells(s) + (double)(s->out_h * s->out_w), avg_forward_range);
    return GRAFT_OK;
}

/* dx = 0, then each output's share added to its window's cells, of planes
 * [c0, c1) */
static void avg_backward_range(void *arg, int c0, int c1, int worker)
{
    const pool_pass *ps = arg;
    const pool_state *s = ps->s;
    const graft_pool2d_spec *p = &s->spec;
    const int64_t h = s->in_h, w = s->in_w, oh = s->out_h, ow = s->out_w;
    (void)worker;
    for (int64_t c = ps->base + c0; c < ps->base + c1; c++) {
        const float *dy = ps->dy + c * oh * ow;
        float *dxc = ps->dx + c * h * w;
        memset(dxc, 0, (size_t)(h * w) * sizeof *dxc);
        for (int64_t oy = 0; oy < oh; oy++) {
            pool_span sy = span_at(oy, p->kernel_h, p->stride_h, p->pad_top, p->pad_bottom, h);
            for (int64_t ox = 0; ox < ow; ox++) {
                pool_span sx =
                    span_at(ox, p->kernel_w, p->stride_w, p->pad_left, p->pad_right, w);
                float g = dy[oy * ow + ox] / avg_divisor(p, &sy, &sx);
                for (int64_t i = sy.lo; i < sy.hi; i++)
                    for (int64_t j = sx.lo; j < sx.hi; j++) dxc[i * w + j] += g;
            }
        }
    }
}

static int avg_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    const pool_state *s = l->state;
    (void)in;
    if (!din[0]) return GRAFT_OK;
    pool_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.dy = dout->data;
    ps.dx = din[0]->data;
    /* dx zeroed, then every window's cells read and written; dy read */
    pool_split(&ps, out->dims[0] * out->dims[1],
               (double)(s->in_h * s->in_w) + 2.0 * avg_window_cells(s) +
                   (double)(s->out_h * s->out_w),
               avg_backward_range);
    return GRAFT_OK;
}

const graftLayerVtbl graftAvgPool2dVtbl = {
    .kind = "avg_pool2d",
    .version = 1,
    .state_size = sizeof(pool_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = pool_infer_shape,
    .forward = avg_forward,
    .backward = avg_backward,
    .save = pool_save,
    .load = pool_load,
    .destroy = pool_destroy,
    .flops = pool_flops,
    .attrs = pool_attrs,
    .onnx_export = pool_onnx_export,
};

GRAFT_API int graft_layer_avg_pool2d(graft_ctx *ctx, const graft_pool2d_spec *spec,
                                     graft_layer **out)
{
    return pool_create(ctx, spec, &graftAvgPool2dVtbl, __func__, out);
}

/* ---- global average pooling ----------------------------------------------- */

static int gap_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    (void)n_inputs;
    if (in[0].ndim != 4)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "global_avg_pool layer: input must be 4-D (N, C, H, W), got %d "
                          "dimensions",
                          in[0].ndim);
    out->ndim = 4;
    out->dims[0] = 1;
    out->dims[1] = in[0].dims[1];
    out->dims[2] = 1;
    out->dims[3] = 1;
    return GRAFT_OK;
}

/* Global average pooling's kernels.
 *
 * A plane's sum is a chain of double adds in element order, each add
 * waiting for the one before (4 or so cycles): gap_sums runs four planes'
 * chains side by side, so that their adds overlap, each plane's own adds
 * keeping their order and so their result. */

/* sum[p] = sum over i < hw of x[p * hw + i], added in order of i, p < 4 */
static void gap_sums4(const float *x, int64_t hw, double sum[4])
{
    const float *x0 = x, *x1 = x + hw, *x2 = x + 2 * hw, *x3 = x + 3 * hw;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (int64_t i = 0; i < hw; i++) {
        s0 += x0[i];
        s1 += x1[i];
        s2 += x2[i];
        s3 += x3[i];
    }
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
    sum[3] = s3;
}

/* d[i] = g, i < n, in blocks of 8 (vec.h) */
GRAFT_VECTOR_CLONES
static void gap_fill(float *d, float g, int64_t n)
{
    int64_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f g8 = {g, g, g, g, g, g, g, g};
    for (; i + 8 <= n; i += 8) *(v8f_mem *)(d + i) = g8;
#endif
    for (; i < n; i++) d[i] = g;
}

/* out[c] = the mean of plane c, planes [c0, c1): four at a time, then one
 * by one (each plane's sum is the same either way) */
static void gap_forward_range(void *arg, int c0, int c1, int worker)
{
    const pool_pass *ps = arg;
    const int64_t hw = ps->hw, end = ps->base + c1;
    int64_t c = ps->base + c0;
    (void)worker;
    for (; c + 4 <= end; c += 4) {
        double sum[4];
        gap_sums4(ps->x + c * hw, hw, sum);
        for (int p = 0; p < 4; p++) ps->y[c + p] = (float)(sum[p] / (double)hw);
    }
    for (; c < end; c++) {
        const float *x = ps->x + c * hw;
        double sum = 0.0;
        for (int64_t i = 0; i < hw; i++) sum += x[i];
        ps->y[c] = (float)(sum / (double)hw);
    }
}

static int gap_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    (void)l;
    pool_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.x = in[0]->data;
    ps.y = out->data;
    ps.hw = in[0]->dims[2] * in[0]->dims[3];
    /* the plane read, one float written */
    pool_split(&ps, in[0]->dims[0] * in[0]->dims[1], (double)(ps.hw + 1), gap_forward_range);
    return GRAFT_OK;
}

/* din's planes [c0, c1) filled with dout[c] / (H * W) */
static void gap_backward_range(void *arg, int c0, int c1, int worker)
{
    const pool_pass *ps = arg;
    const int64_t hw = ps->hw;
    (void)worker;
    for (int64_t c = ps->base + c0; c < ps->base + c1; c++)
        gap_fill(ps->dx + c * hw, ps->dy[c] / (float)hw, hw);
}

static int gap_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    (void)l;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    pool_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.dy = dout->data;
    ps.dx = din[0]->data;
    ps.hw = in[0]->dims[2] * in[0]->dims[3];
    /* the plane written, one float read */
    pool_split(&ps, in[0]->dims[0] * in[0]->dims[1], (double)(ps.hw + 1), gap_backward_range);
    return GRAFT_OK;
}

/* One add per input element. */
static int64_t global_avg_pool_flops(const graft_layer *l)
{
    return graftShapeSampleNumel(&l->in_shapes[0]);
}

static int global_avg_pool_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    (void)l;
    graftOnnxNodeSame(o, "GlobalAveragePool");
    return GRAFT_OK;
}

const graftLayerVtbl graftGlobalAvgPoolVtbl = {
    .kind = "global_avg_pool",
    .version = 1,
    .state_size = 0,
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = gap_infer_shape,
    .forward = gap_forward,
    .backward = gap_backward,
    .flops = global_avg_pool_flops,
    .onnx_export = global_avg_pool_onnx_export,
};

GRAFT_API int graft_layer_global_avg_pool(graft_ctx *ctx, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    return graftLayerNew(ctx, &graftGlobalAvgPoolVtbl, __func__, out);
}
