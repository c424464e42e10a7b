/*
 * layer_activation.c - elementwise activations: relu, clip, leaky_relu,
 * sigmoid, tanh, hard_swish, hard_sigmoid, silu and gelu. Every activation lives here:
 * a new one is an act_kind, a row of act_defs, its two kernels, a vtable
 * line and a constructor.
 *
 * Any input rank; the output has the input's shape. With x the input, y the
 * output and dy the output gradient, dx = dy * f'(x):
 *   relu        y = max(0, x)                     f' = 0 for x <= 0, else 1
 *   clip        y = min(max(x, lo), hi)           f' = 1 for lo <= x <= hi, else 0
 *   leaky_relu  y = x (x >= 0), alpha * x (x < 0) f' = 1 for x >= 0, alpha for x < 0
 *   sigmoid     y = 1 / (1 + exp(-x))             f' = y * (1 - y)
 *   tanh        y = tanh(x)                       f' = 1 - y^2
 *   hard_swish  y = x * min(max(x + 3, 0), 6) / 6 f' = 0 for x < -3, 1 for x > 3,
 *                                                    (2x + 3) / 6 for -3 <= x <= 3
 *   hard_sigmoid y = min(max(alpha * x + beta, 0), 1)
 *                                                 f' = alpha where 0 < alpha*x + beta < 1
 *   silu        y = x / (1 + exp(-x)) = x * s     f' = s * (1 + x * (1 - s)), s = sigmoid(x)
 *   gelu        y = x * P(x), P(x) = (1 + erf(x / sqrt 2)) / 2 (the normal CDF)
 *                                                 f' = P(x) + x * exp(-x^2 / 2) / sqrt(2 pi)
 *   gelu tanh   y = x * (1 + tanh(u)) / 2, u = sqrt(2 / pi) * (x + 0.044715 x^3)
 *                                                 f' = (1 + t) / 2 + x / 2 * (1 - t^2) * u',
 *                                                 t = tanh(u), u' = sqrt(2 / pi) *
 *                                                 (1 + 3 * 0.044715 x^2)
 * (silu and both gelu forms are PyTorch's expressions, in float.)
 * (hard_swish at the kinks follows PyTorch's hardswish backward.)
 * A NaN input gives a NaN output in every kind, as in PyTorch: relu and clip
 * pass it through (their comparisons are false for NaN, and the expressions
 * are written so that a false comparison keeps x), the others compute NaN
 * from it. So a NaN that reaches an activation is never turned into a value
 * that looks valid (relu(NaN) = 0 would hide it from the loss).
 * relu's f' is taken from y (y <= 0 exactly when x <= 0), sigmoid's and tanh's
 * are functions of y, and clip's f' can be kept as a bit mask, so these four
 * can run in place (inplace_ok, see layer.h): a model then writes y over x
 * to save the memory of one tensor.
 *
 * The nine kinds share one implementation: each has its own vtable, and
 * the state records which function to apply (set by the constructor and by
 * load, from the vtable) together with the two float attributes (clip's lo
 * and hi, leaky_relu's alpha, hard_sigmoid's alpha and beta) and gelu's
 * integer attribute (approximate: GRAFT_GELU_ERF or GRAFT_GELU_TANH).
 *
 * graftActivationClamp() tells a model which relu, clip or hard_swish to
 * apply inside a fused convolution (see model.h); the fused kernels repeat
 * the expressions of relu_fwd, clip_fwd and hard_swish_fwd below.
 */
#include "layer.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef enum act_kind {
    ACT_RELU,
    ACT_CLIP,
    ACT_LEAKY_RELU,
    ACT_SIGMOID,
    ACT_TANH,
    ACT_HARD_SWISH,
    ACT_HARD_SIGMOID,
    ACT_SILU,
    ACT_GELU,
    ACT_KIND_COUNT
} act_kind;

typedef struct act_state {
    act_kind kind;
    float p0, p1; /* clip: lo, hi; leaky_relu: alpha, unused; hard_sigmoid: alpha,
                     beta; others: unused */
    int approx;   /* gelu: GRAFT_GELU_ERF or GRAFT_GELU_TANH; others: 0 */
    /* clip run in place (graftLayerForwardInPlace): its input is overwritten,
     * so forward keeps f' as one byte per element, mask[i] (1: lo <= x <= hi,
     * else 0; bytes rather than bits keep both passes vectorised). Owned,
     * grown with the batch, freed by destroy. */
    unsigned char *mask;
    size_t mask_cap;   /* bytes at mask */
    int fwd_masked;    /* 1: the last forward ran in place and filled mask */
} act_state;

/* The table of activations, indexed by act_kind: everything that differs
 * between them but their kernels (act_forward_range, act_backward_range). */
typedef struct act_def {
    const graftLayerVtbl *vtbl;
    int n_attrs;                  /* float attributes saved: p0, then p1 (gelu: its
                                     one int attribute, approx) */
    const char *attr_what[2];     /* their names in load messages */
    double cost;                  /* forward cost per element, in floats streamed */
    int64_t flops;                /* forward operations per element */
} act_def;

static const act_def act_defs[ACT_KIND_COUNT] = {
    [ACT_RELU] = {&graftReluVtbl, 0, {NULL, NULL}, 2.0, 1},
    [ACT_CLIP] = {&graftClipVtbl, 2, {"clip lo", "clip hi"}, 2.0, 1},
    [ACT_LEAKY_RELU] = {&graftLeakyReluVtbl, 1, {"leaky_relu alpha", NULL}, 2.0, 1},
    /* expf and tanhf, one element at a time, take about as long as
     * streaming 8 more floats would */
    [ACT_SIGMOID] = {&graftSigmoidVtbl, 0, {NULL, NULL}, 10.0, 1},
    [ACT_TANH] = {&graftTanhVtbl, 0, {NULL, NULL}, 10.0, 1},
    [ACT_HARD_SWISH] = {&graftHardSwishVtbl, 0, {NULL, NULL}, 2.0, 1},
    /* a multiply, an add and the clamp */
    [ACT_HARD_SIGMOID] = {&graftHardSigmoidVtbl, 2, {"hard_sigmoid alpha", "hard_sigmoid beta"},
                          2.0, 3},
    /* an expf and a division (silu), erff or tanhf and a few operations
     * (gelu), one element at a time */
    [ACT_SILU] = {&graftSiluVtbl, 0, {NULL, NULL}, 10.0, 4},
    [ACT_GELU] = {&graftGeluVtbl, 1, {"gelu approximate", NULL}, 12.0, 8},
};

/* Sets the state's kind from the layer's vtable. */
static int act_bind(graft_layer *l)
{
    act_state *s = l->state;
    for (int k = 0; k < ACT_KIND_COUNT; k++) {
        if (act_defs[k].vtbl == l->vtbl) {
            s->kind = (act_kind)k;
            return GRAFT_OK;
        }
    }
    return graftError(l->ctx, GRAFT_E_INTERNAL, "graft_load", "%s is not an activation",
                      l->vtbl->kind);
}

static int act_check(graft_ctx *ctx, const char *func, act_kind kind, float p0, float p1)
{
    if (kind == ACT_CLIP) {
        GRAFT_RETURN_IF_AT(!graftIsFinite(p0), ctx, GRAFT_E_INVALID_ARG, func,
                           "lo is %g, must be finite", (double)p0);
        GRAFT_RETURN_IF_AT(!graftIsFinite(p1), ctx, GRAFT_E_INVALID_ARG, func,
                           "hi is %g, must be finite", (double)p1);
        GRAFT_RETURN_IF_AT(p0 > p1, ctx, GRAFT_E_INVALID_ARG, func,
                           "lo (%g) is greater than hi (%g)", (double)p0, (double)p1);
    } else if (kind == ACT_LEAKY_RELU || kind == ACT_HARD_SIGMOID) {
        GRAFT_RETURN_IF_AT(!graftIsFinite(p0), ctx, GRAFT_E_INVALID_ARG, func,
                           "alpha is %g, must be finite", (double)p0);
    }
    if (kind == ACT_HARD_SIGMOID)
        GRAFT_RETURN_IF_AT(!graftIsFinite(p1), ctx, GRAFT_E_INVALID_ARG, func,
                           "beta is %g, must be finite", (double)p1);
    return GRAFT_OK;
}

static int gelu_check(graft_ctx *ctx, const char *func, int approx)
{
    GRAFT_RETURN_IF_AT(approx != GRAFT_GELU_ERF && approx != GRAFT_GELU_TANH, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "approximate is %d, must be GRAFT_GELU_ERF (0) or GRAFT_GELU_TANH (1)",
                       approx);
    return GRAFT_OK;
}

static int act_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    (void)l;
    (void)n_inputs;
    *out = in[0];
    return GRAFT_OK;
}

/* 1 / (1 + exp(-x)) without overflow: exp is only taken of -|x|. */
static float stable_sigmoid(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* Elementwise kernels. Where the compiler has GCC's vector extension
 * (vec.h), blocks of 8 elements run as one v8f with branch-free bodies: the
 * conditions become compare masks (all ones or all zeros per lane) and the
 * choices bitwise selects, so that there is no branch on the data (random
 * signs would otherwise mispredict half the time). The last n % 8 elements,
 * and every element without the vector extension, take the scalar body
 * written after each block: the same operations in the same order, a select
 * being the ?: it replaces, so the two give the same bits (NaN payloads and
 * signs of zero included). Each kernel is compiled for AVX2 CPUs and for
 * any x86-64 CPU (GRAFT_VECTOR_CLONES); this file does not contract
 * multiply-adds, so the copies agree too.
 *
 * Blocks are loaded before they are stored, so the kernels that relu and
 * clip run in place accept y == x (no restrict there). */
#if GRAFT_HAVE_V8F
typedef int32_t v8i __attribute__((vector_size(32)));
typedef unsigned char v8u8 __attribute__((vector_size(8)));

#define LOAD8(p) (*(const v8f_mem *)(p))
#define STORE8(p, v) (*(v8f_mem *)(p) = (v))

/* Macros rather than inline functions: a function taking or returning a
 * v8f has an ABI that depends on the target (AVX or not), which GCC warns
 * about in the portable copy. */

/* eight copies of f, bits unchanged (-0.0f stays -0.0f) */
#define SPLAT8(f) ((v8f){(f), (f), (f), (f), (f), (f), (f), (f)})

/* m ? a : b per lane, m all ones or all zeros (a vector comparison) */
#define SELECT8(m, a, b) ((v8f)(((v8i)(m) & (v8i)(a)) | (~(v8i)(m) & (v8i)(b))))

/* m ? a : +0.0f per lane */
#define KEEP8(m, a) ((v8f)((v8i)(m) & (v8i)(a)))
#endif

/* y[i] = max(0, x[i]) as x <= 0 ? +0 : x: a NaN fails the test and passes
 * through (payload and sign kept), as torch.relu propagates it; -0 gives +0.
 * y may be x */
GRAFT_VECTOR_CLONES
static void relu_fwd(float *y, const float *x, size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(x + i);
        STORE8(y + i, KEEP8(~(v <= 0.0f), v));
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        y[i] = v <= 0.0f ? 0.0f : v;
    }
}

/* y[i] = min(max(x[i], lo), hi) as two selects (NaN passes through); y may
 * be x */
GRAFT_VECTOR_CLONES
static void clip_fwd(float *y, const float *x, size_t n, float lo, float hi)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f lo8 = SPLAT8(lo), hi8 = SPLAT8(hi);
    for (; i + 8 <= n; i += 8) {
        v8f v = LOAD8(x + i);
        v = SELECT8(v < lo8, lo8, v);
        STORE8(y + i, SELECT8(v > hi8, hi8, v));
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

/* clip over y itself (in place), the expression of clip_fwd, recording in
 * mask[i] whether lo <= y[i] <= hi held before (1) or not (0): clip_bwd's
 * condition. The tests use & (no branches: the data's signs are random). */
GRAFT_VECTOR_CLONES
static void clip_fwd_inplace(float *y, unsigned char *restrict mask, size_t n, float lo,
                             float hi)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f lo8 = SPLAT8(lo), hi8 = SPLAT8(hi);
    for (; i + 8 <= n; i += 8) {
        v8f v = LOAD8(y + i);
        const v8i inside = (v >= lo8) & (v <= hi8); /* -1 or 0 */
        const v8u8 m = __builtin_convertvector(-inside, v8u8); /* 1 or 0 */
        memcpy(mask + i, &m, sizeof m);
        v = SELECT8(v < lo8, lo8, v);
        STORE8(y + i, SELECT8(v > hi8, hi8, v));
    }
#endif
    for (; i < n; i++) {
        float v = y[i];
        mask[i] = (unsigned char)((unsigned)(v >= lo) & (unsigned)(v <= hi));
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

/* y[i] = max(v, 0) + alpha * min(v, 0), v = x[i], with the two halves
 * selected separately (a select between v and alpha * v is not what the
 * scalar code does): the same value as v >= 0 ? v : alpha * v but for the
 * sign of a zero result */
GRAFT_VECTOR_CLONES
static void leaky_fwd(float *restrict y, const float *restrict x, size_t n, float alpha)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(x + i);
        const v8i pos = v > 0.0f;
        STORE8(y + i, KEEP8(pos, v) + alpha * KEEP8(~pos, v));
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        float p = v > 0.0f ? v : 0.0f, q = v > 0.0f ? 0.0f : v;
        y[i] = p + alpha * q;
    }
}

/* y[i] = v * min(max(v + 3, 0), 6) / 6, v = x[i] */
GRAFT_VECTOR_CLONES
static void hard_swish_fwd(float *restrict y, const float *restrict x, size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f six = SPLAT8(6.0f);
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(x + i);
        v8f g = v + 3.0f;
        g = KEEP8(~(g < 0.0f), g);
        g = SELECT8(g > six, six, g);
        STORE8(y + i, v * g / 6.0f);
    }
#endif
    for (; i < n; i++) {
        float v = x[i], g = v + 3.0f;
        g = g < 0.0f ? 0.0f : g;
        g = g > 6.0f ? 6.0f : g;
        y[i] = v * g / 6.0f;
    }
}

/* From the output: y <= 0 exactly when x <= 0 (y is +0 there, and x
 * itself elsewhere, a NaN x included), so the value is the one x would
 * give, and relu can run in place. dx[i] = y[i] <= 0 ? +0 : dy[i]: PyTorch's
 * threshold_backward, which passes the gradient at a NaN. */
GRAFT_VECTOR_CLONES
static void relu_bwd(float *dx, const float *y, const float *dy, size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    for (; i + 8 <= n; i += 8) STORE8(dx + i, KEEP8(~(LOAD8(y + i) <= 0.0f), LOAD8(dy + i)));
#endif
    for (; i < n; i++) {
        float g = dy[i];
        dx[i] = y[i] <= 0.0f ? 0.0f : g;
    }
}

/* clip_bwd's values from the mask clip_fwd_inplace recorded: dy's bits
 * where mask[i] is 1, else all zero bits (+0.0f, as clip_bwd gives), by an
 * integer AND so that there is no branch on the data */
GRAFT_VECTOR_CLONES
static void clip_bwd_masked(float *dx, const unsigned char *mask, const float *dy, size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    for (; i + 8 <= n; i += 8) {
        v8u8 m;
        memcpy(&m, mask + i, sizeof m);
        const v8i all = -__builtin_convertvector(m, v8i); /* 1 -> all ones */
        STORE8(dx + i, KEEP8(all, LOAD8(dy + i)));
    }
#endif
    for (; i < n; i++) {
        uint32_t g;
        memcpy(&g, dy + i, sizeof g);
        g &= 0u - (uint32_t)mask[i];
        memcpy(dx + i, &g, sizeof g);
    }
}

/* dx[i] = lo <= x[i] <= hi ? dy[i] : +0 */
GRAFT_VECTOR_CLONES
static void clip_bwd(float *restrict dx, const float *restrict x, const float *restrict dy,
                     size_t n, float lo, float hi)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f lo8 = SPLAT8(lo), hi8 = SPLAT8(hi);
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(x + i);
        STORE8(dx + i, KEEP8((v >= lo8) & (v <= hi8), LOAD8(dy + i)));
    }
#endif
    for (; i < n; i++) {
        float v = x[i], g = dy[i];
        g = v >= lo ? g : 0.0f;
        dx[i] = v <= hi ? g : 0.0f;
    }
}

/* dx[i] = dy[i] * (x[i] >= 0 ? 1 : alpha) */
GRAFT_VECTOR_CLONES
static void leaky_bwd(float *restrict dx, const float *restrict x, const float *restrict dy,
                      size_t n, float alpha)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f one = SPLAT8(1.0f), alpha8 = SPLAT8(alpha);
    for (; i + 8 <= n; i += 8)
        STORE8(dx + i, LOAD8(dy + i) * SELECT8(LOAD8(x + i) >= 0.0f, one, alpha8));
#endif
    for (; i < n; i++) {
        float f = x[i] >= 0.0f ? 1.0f : alpha;
        dx[i] = dy[i] * f;
    }
}

/* dx[i] = dy[i] * d, d = 0 (x < -3), 1 (x > 3), else (2x + 3) / 6 */
GRAFT_VECTOR_CLONES
static void hard_swish_bwd(float *restrict dx, const float *restrict x,
                           const float *restrict dy, size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    const v8f one = SPLAT8(1.0f);
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(x + i);
        v8f d = (2.0f * v + 3.0f) / 6.0f;
        d = KEEP8(~(v < -3.0f), d);
        d = SELECT8(v > 3.0f, one, d);
        STORE8(dx + i, LOAD8(dy + i) * d);
    }
#endif
    for (; i < n; i++) {
        float v = x[i], d = (2.0f * v + 3.0f) / 6.0f;
        d = v < -3.0f ? 0.0f : d;
        d = v > 3.0f ? 1.0f : d;
        dx[i] = dy[i] * d;
    }
}

/* dx[i] = dy[i] * y[i] * (1 - y[i]), sigmoid's derivative from its output */
GRAFT_VECTOR_CLONES
static void sigmoid_bwd(float *restrict dx, const float *restrict y, const float *restrict dy,
                        size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(y + i);
        STORE8(dx + i, LOAD8(dy + i) * v * (1.0f - v));
    }
#endif
    for (; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

/* dx[i] = dy[i] * (1 - y[i]^2), tanh's derivative from its output */
GRAFT_VECTOR_CLONES
static void tanh_bwd(float *restrict dx, const float *restrict y, const float *restrict dy,
                     size_t n)
{
    size_t i = 0;
#if GRAFT_HAVE_V8F
    for (; i + 8 <= n; i += 8) {
        const v8f v = LOAD8(y + i);
        STORE8(dx + i, LOAD8(dy + i) * (1.0f - v * v));
    }
#endif
    for (; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

/* Forward and backward split the elements into blocks of ACT_BLOCK (the
 * last one shorter), the items of graftParallelFor (parallel.h); each worker
 * runs the kernels above on its contiguous run of blocks. Every element's
 * value depends on that element alone and the vector and scalar bodies give
 * the same bits, so the results are the same for any worker count; a block
 * is whole v8f blocks and whole 64-byte lines, so workers do not share
 * lines (at aligned data). */
#define ACT_BLOCK 4096

/* hard_sigmoid, with t = alpha * x + beta: y = min(max(t, 0), 1) and
 * dx = dy * alpha where 0 < t < 1, else 0 (at the two kinks the gradient
 * is 0, PyTorch's hardsigmoid rule). With alpha = 1/6 and beta = 1/2 this
 * is PyTorch's hardsigmoid, and x * hard_sigmoid(x) is hard_swish. */
static void hard_sigmoid_fwd(float *restrict y, const float *restrict x, size_t n, float alpha,
                             float beta)
{
    for (size_t i = 0; i < n; i++) {
        float t = alpha * x[i] + beta;
        y[i] = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    }
}

static void hard_sigmoid_bwd(float *restrict dx, const float *restrict x,
                             const float *restrict dy, size_t n, float alpha, float beta)
{
    for (size_t i = 0; i < n; i++) {
        float t = alpha * x[i] + beta;
        dx[i] = t > 0.0f && t < 1.0f ? dy[i] * alpha : 0.0f;
    }
}

/* silu, PyTorch's expressions: y = x / (1 + exp(-x)) (x = -inf gives NaN,
 * as in PyTorch; a large negative x gives -0), and with s = 1 / (1 +
 * exp(-x)), dx = dy * s * (1 + x * (1 - s)). */
static void silu_fwd(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

static void silu_bwd(float *restrict dx, const float *restrict x, const float *restrict dy,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

#define GELU_SQRT1_2 0.70710678118654752440f   /* 1 / sqrt(2) */
#define GELU_PDF 0.39894228040143267794f       /* 1 / sqrt(2 pi) */
#define GELU_BETA 0.79788456080286535588f      /* sqrt(2 / pi) */
#define GELU_KAPPA 0.044715f

/* gelu, PyTorch's expressions: exact, y = x * 0.5 * (1 + erf(x / sqrt 2));
 * tanh, y = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))). */
static void gelu_fwd(float *restrict y, const float *restrict x, size_t n, int approx)
{
    if (approx == GRAFT_GELU_TANH) {
        for (size_t i = 0; i < n; i++) {
            float v = x[i], inner = GELU_BETA * (v + GELU_KAPPA * v * v * v);
            y[i] = 0.5f * v * (1.0f + tanhf(inner));
        }
        return;
    }
    for (size_t i = 0; i < n; i++) y[i] = x[i] * 0.5f * (1.0f + erff(x[i] * GELU_SQRT1_2));
}

static void gelu_bwd(float *restrict dx, const float *restrict x, const float *restrict dy,
                     size_t n, int approx)
{
    if (approx == GRAFT_GELU_TANH) {
        for (size_t i = 0; i < n; i++) {
            float v = x[i], v2 = v * v;
            float t = tanhf(GELU_BETA * (v + GELU_KAPPA * v2 * v));
            float left = 0.5f * (1.0f + t);
            float right = 0.5f * v * (1.0f - t * t) * GELU_BETA * (1.0f + 3.0f * GELU_KAPPA * v2);
            dx[i] = dy[i] * (left + right);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * GELU_SQRT1_2));
        float pdf = expf(-0.5f * v * v) * GELU_PDF;
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

typedef struct act_pass {
    const act_state *s;
    const float *x, *y_in, *dy; /* forward: x may be y (relu, clip, sigmoid, tanh) */
    float *y, *dx;
    unsigned char *mask;   /* clip in place: forward writes it, backward reads it */
    int masked;            /* mask in use */
    size_t n, block;       /* elements; elements per item */
} act_pass;

/* The first element of items [b0, b1) and how many elements they hold. */
static void act_span(const act_pass *ps, int b0, int b1, size_t *i0, size_t *len)
{
    size_t e = (size_t)b1 * ps->block;
    *i0 = (size_t)b0 * ps->block;
    *len = (e < ps->n ? e : ps->n) - *i0;
}

/* Runs fn over the pass's elements; cost: floats touched (or their time's
 * worth) per element. */
static void act_split(act_pass *ps, double cost, graftRangeFn fn)
{
    ps->block = ACT_BLOCK;
    while ((ps->n + ps->block - 1) / ps->block > INT_MAX) ps->block *= 2;
    const int items = (int)((ps->n + ps->block - 1) / ps->block);
    graftParallelFor(items, graftParallelWorkers(items, cost * (double)ps->block), fn, ps);
}

static void act_forward_range(void *arg, int b0, int b1, int worker)
{
    const act_pass *ps = arg;
    const act_state *s = ps->s;
    size_t i0, n;
    (void)worker;
    act_span(ps, b0, b1, &i0, &n);
    float *y = ps->y + i0;
    const float *x = ps->x + i0; /* == y in place */
    switch (s->kind) {
    case ACT_RELU:
        relu_fwd(y, x, n);
        break;
    case ACT_CLIP:
        if (ps->masked)
            clip_fwd_inplace(y, ps->mask + i0, n, s->p0, s->p1);
        else
            clip_fwd(y, x, n, s->p0, s->p1);
        break;
    case ACT_LEAKY_RELU:
        leaky_fwd(y, x, n, s->p0);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = stable_sigmoid(x[i]);
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_HARD_SWISH:
        hard_swish_fwd(y, x, n);
        break;
    case ACT_HARD_SIGMOID:
        hard_sigmoid_fwd(y, x, n, s->p0, s->p1);
        break;
    case ACT_SILU:
        silu_fwd(y, x, n);
        break;
    case ACT_GELU:
        gelu_fwd(y, x, n, s->approx);
        break;
    default:
        break; /* act_forward let no other kind through */
    }
}

static int act_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    act_state *s = l->state;
    act_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.x = in[0]->data;
    ps.y = out->data;
    ps.n = out->numel;
    const int inplace = ps.y == ps.x;
    s->fwd_masked = 0;
    if ((unsigned)s->kind >= ACT_KIND_COUNT)
        return graftError(l->ctx, GRAFT_E_INTERNAL, "graft_layer_forward",
                          "activation kind %d", (int)s->kind);
    if (inplace && !l->vtbl->inplace_ok)
        return graftError(l->ctx, GRAFT_E_INTERNAL, "graft_layer_forward",
                          "%s cannot run in place", l->vtbl->kind);
    if (inplace && s->kind == ACT_CLIP) {
        /* over its input: the input is overwritten, so f' is kept as a mask */
        size_t bytes = ps.n;
        if (bytes > s->mask_cap) {
            unsigned char *mk = graftAlloc(l->ctx, bytes);
            if (!mk)
                return graftError(l->ctx, GRAFT_E_NOMEM, "graft_layer_forward",
                                  "clip layer: cannot allocate a %zu-byte mask", bytes);
            graftFree(l->ctx, s->mask);
            s->mask = mk;
            s->mask_cap = bytes;
        }
        ps.mask = s->mask;
        ps.masked = 1;
    }
    /* x read and y written */
    act_split(&ps, act_defs[s->kind].cost, act_forward_range);
    s->fwd_masked = ps.masked;
    return GRAFT_OK;
}

static void act_backward_range(void *arg, int b0, int b1, int worker)
{
    const act_pass *ps = arg;
    const act_state *s = ps->s;
    size_t i0, n;
    (void)worker;
    act_span(ps, b0, b1, &i0, &n);
    float *dx = ps->dx + i0;
    const float *x = ps->x + i0, *y = ps->y_in + i0, *dy = ps->dy + i0;
    switch (s->kind) {
    case ACT_RELU:
        relu_bwd(dx, y, dy, n);
        break;
    case ACT_CLIP:
        if (ps->masked)
            clip_bwd_masked(dx, ps->mask + i0, dy, n);
        else
            clip_bwd(dx, x, dy, n, s->p0, s->p1);
        break;
    case ACT_LEAKY_RELU:
        leaky_bwd(dx, x, dy, n, s->p0);
        break;
    case ACT_SIGMOID:
        sigmoid_bwd(dx, y, dy, n);
        break;
    case ACT_TANH:
        tanh_bwd(dx, y, dy, n);
        break;
    case ACT_HARD_SWISH:
        hard_swish_bwd(dx, x, dy, n);
        break;
    case ACT_HARD_SIGMOID:
        hard_sigmoid_bwd(dx, x, dy, n, s->p0, s->p1);
        break;
    case ACT_SILU:
        silu_bwd(dx, x, dy, n);
        break;
    case ACT_GELU:
        gelu_bwd(dx, x, dy, n, s->approx);
        break;
    default:
        break; /* act_backward let no other kind through */
    }
}

static int act_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                        const graft_tensor *dout, graft_tensor *const *din)
{
    const act_state *s = l->state;
    if (!din[0]) return GRAFT_OK; /* no parameters: nothing else to compute */
    act_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.s = s;
    ps.x = in[0]->data;
    ps.y_in = out->data;
    ps.dy = dout->data;
    ps.dx = din[0]->data;
    ps.n = out->numel;
    if ((unsigned)s->kind >= ACT_KIND_COUNT)
        return graftError(l->ctx, GRAFT_E_INTERNAL, "graft_layer_backward",
                          "activation kind %d", (int)s->kind);
    if (s->kind == ACT_CLIP && ps.x == ps.y_in) {
        /* the last forward ran in place: x is gone, the mask has f' */
        if (!s->fwd_masked)
            return graftError(l->ctx, GRAFT_E_INTERNAL, "graft_layer_backward",
                              "clip layer: no mask from an in-place forward");
        ps.mask = s->mask;
        ps.masked = 1;
    }
    /* dy and x (or y) read, dx written */
    act_split(&ps, 3.0, act_backward_range);
    return GRAFT_OK;
}

static int act_save(const graft_layer *l, graftWriter *w)
{
    const act_state *s = l->state;
    int n = act_defs[s->kind].n_attrs;
    if (s->kind == ACT_GELU) {
        graftWriteI32(w, s->approx);
        return w->status;
    }
    if (n >= 1) graftWriteF32(w, s->p0);
    if (n >= 2) graftWriteF32(w, s->p1);
    return w->status;
}

static int act_load(graft_layer *l, graftReader *r, uint32_t version)
{
    act_state *s = l->state;
    float p0 = 0.0f, p1 = 0.0f;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(act_bind(l));
    const act_def *d = &act_defs[s->kind];
    if (s->kind == ACT_GELU) {
        int32_t approx = 0;
        GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &approx, d->attr_what[0]));
        if (gelu_check(l->ctx, "graft_load", approx) != GRAFT_OK) return GRAFT_E_FORMAT;
        s->approx = approx;
        return GRAFT_OK;
    }
    if (d->n_attrs >= 1) GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &p0, d->attr_what[0]));
    if (d->n_attrs >= 2) GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &p1, d->attr_what[1]));
    if (act_check(l->ctx, "graft_load", s->kind, p0, p1) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->p0 = p0;
    s->p1 = p1;
    return GRAFT_OK;
}

static int64_t act_flops(const graft_layer *l)
{
    const act_state *s = l->state;
    return act_defs[s->kind].flops * graftShapeSampleNumel(&l->out_shape);
}

/* ---- ONNX ---------------------------------------------------------------- */

/* A scalar float initializer "<layer>#<what>", its name into name. */
static void scalar_init(graftOnnxOut *o, const char *what, float v,
                        char name[GRAFT_ONNX_NAME_MAX])
{
    graftOnnxAuxName(o, what, name);
    graftOnnxInitF32(o, name, 0, NULL, &v);
}

/* One helper node "<layer>/<what>": op over a and b (b NULL: a alone)
 * into "<layer>#<what>", which is put in out. */
static void aux_node(graftOnnxOut *o, const char *op, const char *what, const char *a,
                     const char *b, char out[GRAFT_ONNX_NAME_MAX])
{
    char node[GRAFT_ONNX_NAME_MAX];
    const char *ins[2] = {a, b};
    graftOnnxAuxName(o, what, out);
    graftOnnxSubName(o, what, node);
    graftOnnxNode(o, op, node, b ? 2 : 1, ins, out);
}

/* silu: x * Sigmoid(x) (no ONNX operator at the opsets graft writes; the
 * pair is what exporters write and what the importer folds). */
static int silu_onnx(graftOnnxOut *o)
{
    char gate[GRAFT_ONNX_NAME_MAX];
    const char *x = o->inputs[0];
    aux_node(o, "Sigmoid", "sigmoid", x, NULL, gate);
    const char *ins[2] = {x, gate};
    graftOnnxNode(o, "Mul", NULL, 2, ins, o->output);
    return GRAFT_OK;
}

/* gelu (erf): x * (Erf(x / sqrt 2) + 1) * 0.5, in the node order PyTorch's
 * exporter writes (ONNX's Gelu operator is opset 20). */
static int gelu_erf_onnx(graftOnnxOut *o)
{
    char c_sqrt2[GRAFT_ONNX_NAME_MAX], c_one[GRAFT_ONNX_NAME_MAX], c_half[GRAFT_ONNX_NAME_MAX];
    char a[GRAFT_ONNX_NAME_MAX], e[GRAFT_ONNX_NAME_MAX], p[GRAFT_ONNX_NAME_MAX],
        q[GRAFT_ONNX_NAME_MAX];
    const char *x = o->inputs[0];
    scalar_init(o, "sqrt2", 1.41421356237309504880f, c_sqrt2);
    scalar_init(o, "one", 1.0f, c_one);
    scalar_init(o, "half", 0.5f, c_half);
    aux_node(o, "Div", "div", x, c_sqrt2, a);
    aux_node(o, "Erf", "erf", a, NULL, e);
    aux_node(o, "Add", "add", e, c_one, p);
    aux_node(o, "Mul", "mul", x, p, q);
    const char *ins[2] = {q, c_half};
    graftOnnxNode(o, "Mul", NULL, 2, ins, o->output);
    return GRAFT_OK;
}

/* gelu (tanh): x * (Tanh(sqrt(2 / pi) * (x + 0.044715 * x * x * x)) + 1) * 0.5 */
static int gelu_tanh_onnx(graftOnnxOut *o)
{
    char c_kappa[GRAFT_ONNX_NAME_MAX], c_beta[GRAFT_ONNX_NAME_MAX], c_one[GRAFT_ONNX_NAME_MAX],
        c_half[GRAFT_ONNX_NAME_MAX];
    char x2[GRAFT_ONNX_NAME_MAX], x3[GRAFT_ONNX_NAME_MAX], k[GRAFT_ONNX_NAME_MAX],
        s[GRAFT_ONNX_NAME_MAX], u[GRAFT_ONNX_NAME_MAX], t[GRAFT_ONNX_NAME_MAX],
        p[GRAFT_ONNX_NAME_MAX], q[GRAFT_ONNX_NAME_MAX];
    const char *x = o->inputs[0];
    scalar_init(o, "kappa", GELU_KAPPA, c_kappa);
    scalar_init(o, "beta", GELU_BETA, c_beta);
    scalar_init(o, "one", 1.0f, c_one);
    scalar_init(o, "half", 0.5f, c_half);
    aux_node(o, "Mul", "square", x, x, x2);
    aux_node(o, "Mul", "cube", x2, x, x3);
    aux_node(o, "Mul", "kappa_cube", x3, c_kappa, k);
    aux_node(o, "Add", "inner_sum", x, k, s);
    aux_node(o, "Mul", "inner", s, c_beta, u);
    aux_node(o, "Tanh", "tanh", u, NULL, t);
    aux_node(o, "Add", "add", t, c_one, p);
    aux_node(o, "Mul", "mul", x, p, q);
    const char *ins[2] = {q, c_half};
    graftOnnxNode(o, "Mul", NULL, 2, ins, o->output);
    return GRAFT_OK;
}

static int act_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const act_state *s = l->state;
    const char *in = o->inputs[0];
    size_t n;
    switch (s->kind) {
    case ACT_RELU:
        graftOnnxNodeSame(o, "Relu");
        return GRAFT_OK;
    case ACT_SIGMOID:
        graftOnnxNodeSame(o, "Sigmoid");
        return GRAFT_OK;
    case ACT_TANH:
        graftOnnxNodeSame(o, "Tanh");
        return GRAFT_OK;
    case ACT_CLIP: { /* min and max are inputs since opset 11 */
        char lo[GRAFT_ONNX_NAME_MAX], hi[GRAFT_ONNX_NAME_MAX];
        graftOnnxAuxName(o, "min", lo);
        graftOnnxAuxName(o, "max", hi);
        graftOnnxInitF32(o, lo, 0, NULL, &s->p0);
        graftOnnxInitF32(o, hi, 0, NULL, &s->p1);
        const char *ins[3] = {in, lo, hi};
        graftOnnxNode(o, "Clip", NULL, 3, ins, o->output);
        return GRAFT_OK;
    }
    case ACT_LEAKY_RELU:
        n = graftOnnxNodeBegin(o, "LeakyRelu", NULL, 1, &in, o->output);
        graftOnnxAttrFloat(o, "alpha", s->p0);
        graftOnnxNodeEnd(o, n);
        return GRAFT_OK;
    case ACT_HARD_SIGMOID:
        n = graftOnnxNodeBegin(o, "HardSigmoid", NULL, 1, &in, o->output);
        graftOnnxAttrFloat(o, "alpha", s->p0);
        graftOnnxAttrFloat(o, "beta", s->p1);
        graftOnnxNodeEnd(o, n);
        return GRAFT_OK;
    case ACT_HARD_SWISH: {
        if (o->opset >= 14) {
            graftOnnxNodeSame(o, "HardSwish");
            return GRAFT_OK;
        }
        /* before opset 14: x * HardSigmoid(x; 1/6, 1/2) */
        char gate[GRAFT_ONNX_NAME_MAX], gname[GRAFT_ONNX_NAME_MAX];
        graftOnnxAuxName(o, "gate", gate);
        graftOnnxSubName(o, "gate", gname);
        n = graftOnnxNodeBegin(o, "HardSigmoid", gname, 1, &in, gate);
        graftOnnxAttrFloat(o, "alpha", 1.0f / 6.0f);
        graftOnnxAttrFloat(o, "beta", 0.5f);
        graftOnnxNodeEnd(o, n);
        const char *ins[2] = {in, gate};
        graftOnnxNode(o, "Mul", NULL, 2, ins, o->output);
        return GRAFT_OK;
    }
    case ACT_SILU:
        return silu_onnx(o);
    case ACT_GELU:
        return s->approx == GRAFT_GELU_TANH ? gelu_tanh_onnx(o) : gelu_erf_onnx(o);
    default:
        return graftOnnxInternal(o, "unknown activation");
    }
}

/* Attributes by name: which ones a kind has depends on the vtable. */
static const graftAttrDecl clip_attrs[] = {
    {"min", GRAFT_ATTR_FLOAT, offsetof(act_state, p0), 1},
    {"max", GRAFT_ATTR_FLOAT, offsetof(act_state, p1), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};
static const graftAttrDecl alpha_attrs[] = {
    {"alpha", GRAFT_ATTR_FLOAT, offsetof(act_state, p0), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};
static const graftAttrDecl hard_sigmoid_attrs[] = {
    {"alpha", GRAFT_ATTR_FLOAT, offsetof(act_state, p0), 1},
    {"beta", GRAFT_ATTR_FLOAT, offsetof(act_state, p1), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

static const graftAttrDecl gelu_attrs[] = {
    {"approximate", GRAFT_ATTR_INT, offsetof(act_state, approx), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

static void act_destroy(graft_layer *l)
{
    act_state *s = l->state;
    graftFree(l->ctx, s->mask);
    s->mask = NULL;
    s->mask_cap = 0;
}

/* inplace: the kind's backward can do without its input (leaky_relu's
 * derivative at a zero output, hard_swish's, hard_sigmoid's, silu's and
 * gelu's need x). */
#define ACT_VTBL(name, kind_name, inplace, attr_table) \
    const graftLayerVtbl name = {                      \
        .kind = kind_name,                             \
        .version = 1,                                  \
        .state_size = sizeof(act_state),               \
        .min_inputs = 1,                               \
        .max_inputs = 1,                               \
        .infer_shape = act_infer_shape,                \
        .forward = act_forward,                        \
        .backward = act_backward,                      \
        .save = act_save,                              \
        .load = act_load,                              \
        .destroy = act_destroy,                        \
        .flops = act_flops,                            \
        .attrs = attr_table,                           \
        .onnx_export = act_onnx_export,                \
        .inplace_ok = inplace,                         \
    }

ACT_VTBL(graftReluVtbl, "relu", 1, NULL);
ACT_VTBL(graftClipVtbl, "clip", 1, clip_attrs);
ACT_VTBL(graftLeakyReluVtbl, "leaky_relu", 0, alpha_attrs);
ACT_VTBL(graftSigmoidVtbl, "sigmoid", 1, NULL);
ACT_VTBL(graftTanhVtbl, "tanh", 1, NULL);
ACT_VTBL(graftHardSwishVtbl, "hard_swish", 0, NULL);
ACT_VTBL(graftHardSigmoidVtbl, "hard_sigmoid", 0, hard_sigmoid_attrs);
ACT_VTBL(graftSiluVtbl, "silu", 0, NULL);
ACT_VTBL(graftGeluVtbl, "gelu", 0, gelu_attrs);

/* The constructors' shared body; func is the public function's name. */
static int act_create(graft_ctx *ctx, act_kind kind, float p0, float p1, const char *func,
                      graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF_AT(!ctx, NULL, GRAFT_E_INVALID_ARG, func, "ctx is NULL");
    GRAFT_RETURN_IF_AT(!out, ctx, GRAFT_E_INVALID_ARG, func, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(act_check(ctx, func, kind, p0, p1));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, act_defs[kind].vtbl, func, &l));
    act_state *s = l->state;
    s->kind = kind;
    s->p0 = p0;
    s->p1 = p1;
    *out = l;
    return GRAFT_OK;
}

GRAFT_API int graft_layer_relu(graft_ctx *ctx, graft_layer **out)
{
    return act_create(ctx, ACT_RELU, 0.0f, 0.0f, __func__, out);
}

GRAFT_API int graft_layer_clip(graft_ctx *ctx, float lo, float hi, graft_layer **out)
{
    return act_create(ctx, ACT_CLIP, lo, hi, __func__, out);
}

GRAFT_API int graft_layer_leaky_relu(graft_ctx *ctx, float alpha, graft_layer **out)
{
    return act_create(ctx, ACT_LEAKY_RELU, alpha, 0.0f, __func__, out);
}

GRAFT_API int graft_layer_sigmoid(graft_ctx *ctx, graft_layer **out)
{
    return act_create(ctx, ACT_SIGMOID, 0.0f, 0.0f, __func__, out);
}

GRAFT_API int graft_layer_tanh(graft_ctx *ctx, graft_layer **out)
{
    return act_create(ctx, ACT_TANH, 0.0f, 0.0f, __func__, out);
}

GRAFT_API int graft_layer_hard_swish(graft_ctx *ctx, graft_layer **out)
{
    return act_create(ctx, ACT_HARD_SWISH, 0.0f, 0.0f, __func__, out);
}

GRAFT_API int graft_layer_hard_sigmoid(graft_ctx *ctx, float alpha, float beta,
                                       graft_layer **out)
{
    return act_create(ctx, ACT_HARD_SIGMOID, alpha, beta, __func__, out);
}

GRAFT_API int graft_layer_silu(graft_ctx *ctx, graft_layer **out)
{
    return act_create(ctx, ACT_SILU, 0.0f, 0.0f, __func__, out);
}

GRAFT_API int graft_layer_gelu(graft_ctx *ctx, int approximate, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF_AT(!ctx, NULL, GRAFT_E_INVALID_ARG, __func__, "ctx is NULL");
    GRAFT_RETURN_IF_AT(!out, ctx, GRAFT_E_INVALID_ARG, __func__, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(gelu_check(ctx, __func__, approximate));
    GRAFT_FORWARD_IF_ERROR(act_create(ctx, ACT_GELU, 0.0f, 0.0f, __func__, out));
    ((act_state *)(*out)->state)->approx = approximate;
    return GRAFT_OK;
}

int graftActivationClamp(const graft_layer *l, graftEpilogueAct *act, float *lo, float *hi)
{
    const act_state *s = l->state;
    if (l->vtbl == &graftReluVtbl) {
        *act = GRAFT_EPI_RELU;
        *lo = 0.0f;
        *hi = 0.0f;
        return 1;
    }
    if (l->vtbl == &graftClipVtbl) {
        *act = GRAFT_EPI_CLIP;
        *lo = s->p0;
        *hi = s->p1;
        return 1;
    }
    if (l->vtbl == &graftHardSwishVtbl) {
        *act = GRAFT_EPI_HARD_SWISH;
        *lo = 0.0f;
        *hi = 0.0f;
        return 1;
    }
    return 0;
}
