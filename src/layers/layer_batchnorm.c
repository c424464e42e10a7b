/*
 * layer_batchnorm.c - batch normalisation over the channel axis.
 *
 * Input X (N, C, ...) of rank >= 2; S is the product of the dimensions after
 * the channel (1 for a 2-D input), and each channel c pools m = N * S values
 * x[n, c, s]. Parameters gamma ("weight", C), beta ("bias", C); buffers
 * "running_mean" and "running_var" (C). Output Y has X's shape.
 *
 * Training mode, per channel:
 *   mean = sum x / m,  var = sum (x - mean)^2 / m        (biased)
 *   xhat = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps)
 *   y    = gamma * xhat + beta
 *   running_mean = (1 - momentum) * running_mean + momentum * mean
 *   running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)
 * and the backward pass differentiates through the batch statistics:
 *   dbeta  = sum dy,  dgamma = sum dy * xhat
 *   dx     = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma)
 *
 * Inference mode uses mean = running_mean and var = running_var, constants,
 * so the layer is affine and its backward pass is
 *   dx = dy * gamma * invstd,  dgamma = sum dy * xhat,  dbeta = sum dy.
 * Backward follows the mode of the last forward call, whose mean and invstd
 * are kept in the state.
 *
 * graftBatchNormFold() gives the inference map's per-channel float scale and
 * shift, so that a model can apply them inside the preceding convolution's
 * forward (see the fused nodes in model.h).
 */
#include "layer.h"
#include "core/parallel.h"
#include "core/vec.h"

#include <limits.h>
#include <math.h>
#include <string.h>

typedef struct bn_state {
    float epsilon;
    float momentum;
    int64_t channels; /* set by infer_shape */
    int64_t spatial;  /* product of the dimensions after the channel */
    int fwd_training; /* mode of the last forward call */
    graft_tensor *mean;   /* (C) the statistics the last forward used */
    graft_tensor *invstd; /* (C) */
    graft_tensor *fold;   /* (2, C): scale then shift, for graftBatchNormFold */
} bn_state;

enum { P_WEIGHT, P_BIAS, P_RUNNING_MEAN, P_RUNNING_VAR };

static int bn_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    bn_state *s = l->state;
    (void)n_inputs;
    if (in[0].ndim < 2)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "batch_norm layer: input has %d dimension, needs (N, C, ...)",
                          in[0].ndim);
    int64_t sp = 1;
    for (int d = 2; d < in[0].ndim; d++) sp *= in[0].dims[d];
    s->channels = in[0].dims[1];
    s->spatial = sp;
    *out = in[0];
    return GRAFT_OK;
}

static int bn_declare_params(const graft_layer *l, graftParamDecl *decl)
{
    const bn_state *s = l->state;
    decl[P_WEIGHT] = (graftParamDecl){"weight", {1, {s->channels}}, 1};
    decl[P_BIAS] = (graftParamDecl){"bias", {1, {s->channels}}, 1};
    decl[P_RUNNING_MEAN] = (graftParamDecl){"running_mean", {1, {s->channels}}, 0};
    decl[P_RUNNING_VAR] = (graftParamDecl){"running_var", {1, {s->channels}}, 0};
    return 4;
}

static void bn_init_params(graft_layer *l, graftRng *rng)
{
    (void)rng;
    /* bias and running_mean stay at their allocated zeros. */
    graft_tensor *w = l->params[P_WEIGHT].value, *rv = l->params[P_RUNNING_VAR].value;
    for (size_t i = 0; i < w->numel; i++) w->data[i] = 1.0f;
    for (size_t i = 0; i < rv->numel; i++) rv->data[i] = 1.0f;
}

/* Plane kernels. Sums keep 8 float lanes per plane, lane u adding the
 * elements k = u (mod 8) of the blocks of 8 in order, and are added into
 * double per plane, so that a channel's statistics lose no more than one
 * plane's float rounding; the last n % 8 elements are added in double.
 *
 * Where the compiler has GCC's vector extension (vec.h), a block is one v8f
 * and the lanes stay in registers (an array of 8 floats was kept in memory,
 * each block waiting on the store of the one before); elsewhere the same
 * lanes are an array. Each kernel is compiled for AVX2 CPUs and for any
 * x86-64 CPU (GRAFT_VECTOR_CLONES); both copies, and the array form, do the
 * same float operations in the same order, so every result is the same bits.
 * The lane sums are reduced in the fixed orders written out below. */

#if GRAFT_HAVE_V8F
#define LOAD8(p) (*(const v8f_mem *)(p))
#define STORE8(p, v) (*(v8f_mem *)(p) = (v))
#endif

/* tail + ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) in double, added
 * left to right: the tail, then lanes 0, 4, 1, 5, then lanes 2, 6, 3, 7 */
#define TAIL_PLUS_LANES(tail, a)                                              \
    ((tail) + (((double)(a)[0] + (a)[4]) + ((double)(a)[1] + (a)[5])) +         \
     (((double)(a)[2] + (a)[6]) + ((double)(a)[3] + (a)[7])))

/* sum of x[k], k < n */
GRAFT_VECTOR_CLONES
static double plane_sum(const float *restrict x, size_t n)
{
    double tail = 0.0;
    size_t k = 0;
#if GRAFT_HAVE_V8F
    v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; k + 8 <= n; k += 8) acc += LOAD8(x + k);
#else
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) acc[u] += x[k + u];
#endif
    for (; k < n; k++) tail += x[k];
    return TAIL_PLUS_LANES(tail, acc);
}

/* sum of (x[k] - mu)^2, k < n */
GRAFT_VECTOR_CLONES
static double plane_sq_dev(const float *restrict x, size_t n, float mu)
{
    double tail = 0.0;
    size_t k = 0;
#if GRAFT_HAVE_V8F
    v8f acc = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; k + 8 <= n; k += 8) {
        const v8f d = LOAD8(x + k) - mu;
        acc += d * d;
    }
#else
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) {
            float d = x[k + u] - mu;
            acc[u] += d * d;
        }
#endif
    for (; k < n; k++) {
        double d = (double)x[k] - mu;
        tail += d * d;
    }
    return TAIL_PLUS_LANES(tail, acc);
}

/* *sg += sum of g[k]; *sgd += sum of g[k] * (x[k] - mu), k < n. The lanes
 * are added to the double tail sums one after the other, lane 0 first. */
GRAFT_VECTOR_CLONES
static void plane_grad_sums(const float *restrict g, const float *restrict x, size_t n, float mu,
                            double *sg, double *sgd)
{
    double ta = 0.0, tb = 0.0;
    size_t k = 0;
#if GRAFT_HAVE_V8F
    v8f a = {0, 0, 0, 0, 0, 0, 0, 0}, b = a;
    for (; k + 8 <= n; k += 8) {
        const v8f gv = LOAD8(g + k);
        a += gv;
        b += gv * (LOAD8(x + k) - mu);
    }
#else
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) {
            float gv = g[k + u];
            a[u] += gv;
            b[u] += gv * (x[k + u] - mu);
        }
#endif
    for (; k < n; k++) {
        ta += g[k];
        tb += (double)g[k] * ((double)x[k] - mu);
    }
    for (int u = 0; u < 8; u++) {
        ta += a[u];
        tb += b[u];
    }
    *sg += ta;
    *sgd += tb;
}

/* Two planes at once. A plane's sum is one chain of dependent vector adds
 * (each waits for the one before), which holds a single plane's kernel well
 * below the memory's speed; two planes' chains side by side overlap. Each
 * plane keeps its own lanes, tail and reduction, so a pair kernel gives
 * exactly the two results of the single kernel. */
#if GRAFT_HAVE_V8F
/* r[j] = plane_sum(xj, n), j < 2 */
GRAFT_VECTOR_CLONES
static void plane_sum_pair(const float *restrict x0, const float *restrict x1, size_t n,
                           double r[2])
{
    double tail0 = 0.0, tail1 = 0.0;
    v8f acc0 = {0, 0, 0, 0, 0, 0, 0, 0}, acc1 = acc0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        acc0 += LOAD8(x0 + k);
        acc1 += LOAD8(x1 + k);
    }
    for (size_t t = k; t < n; t++) tail0 += x0[t];
    for (size_t t = k; t < n; t++) tail1 += x1[t];
    r[0] = TAIL_PLUS_LANES(tail0, acc0);
    r[1] = TAIL_PLUS_LANES(tail1, acc1);
}

/* r[j] = plane_sq_dev(xj, n, mu), j < 2 */
GRAFT_VECTOR_CLONES
static void plane_sq_dev_pair(const float *restrict x0, const float *restrict x1, size_t n,
                              float mu, double r[2])
{
    double tail0 = 0.0, tail1 = 0.0;
    v8f acc0 = {0, 0, 0, 0, 0, 0, 0, 0}, acc1 = acc0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const v8f d0 = LOAD8(x0 + k) - mu, d1 = LOAD8(x1 + k) - mu;
        acc0 += d0 * d0;
        acc1 += d1 * d1;
    }
    for (size_t t = k; t < n; t++) {
        double d = (double)x0[t] - mu;
        tail0 += d * d;
    }
    for (size_t t = k; t < n; t++) {
        double d = (double)x1[t] - mu;
        tail1 += d * d;
    }
    r[0] = TAIL_PLUS_LANES(tail0, acc0);
    r[1] = TAIL_PLUS_LANES(tail1, acc1);
}

/* plane_grad_sums(g0, x0, ...) then plane_grad_sums(g1, x1, ...) */
GRAFT_VECTOR_CLONES
static void plane_grad_sums_pair(const float *restrict g0, const float *restrict x0,
                                 const float *restrict g1, const float *restrict x1, size_t n,
                                 float mu, double *sg, double *sgd)
{
    double ta0 = 0.0, tb0 = 0.0, ta1 = 0.0, tb1 = 0.0;
    v8f a0 = {0, 0, 0, 0, 0, 0, 0, 0}, b0 = a0, a1 = a0, b1 = a0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const v8f gv0 = LOAD8(g0 + k), gv1 = LOAD8(g1 + k);
        a0 += gv0;
        b0 += gv0 * (LOAD8(x0 + k) - mu);
        a1 += gv1;
        b1 += gv1 * (LOAD8(x1 + k) - mu);
    }
    for (size_t t = k; t < n; t++) {
        ta0 += g0[t];
        tb0 += (double)g0[t] * ((double)x0[t] - mu);
    }
    for (size_t t = k; t < n; t++) {
        ta1 += g1[t];
        tb1 += (double)g1[t] * ((double)x1[t] - mu);
    }
    for (int u = 0; u < 8; u++) {
        ta0 += a0[u];
        tb0 += b0[u];
        ta1 += a1[u];
        tb1 += b1[u];
    }
    *sg += ta0;
    *sgd += tb0;
    *sg += ta1;
    *sgd += tb1;
}
#else
static void plane_sum_pair(const float *x0, const float *x1, size_t n, double r[2])
{
    r[0] = plane_sum(x0, n);
    r[1] = plane_sum(x1, n);
}

static void plane_sq_dev_pair(const float *x0, const float *x1, size_t n, float mu, double r[2])
{
    r[0] = plane_sq_dev(x0, n, mu);
    r[1] = plane_sq_dev(x1, n, mu);
}

static void plane_grad_sums_pair(const float *g0, const float *x0, const float *g1,
                                 const float *x1, size_t n, float mu, double *sg, double *sgd)
{
    plane_grad_sums(g0, x0, n, mu, sg, sgd);
    plane_grad_sums(g1, x1, n, mu, sg, sgd);
}
#endif

/* Channel sums: the planes x + i * stride, i < n, of one channel, their
 * plane sums added in order of i (two planes per kernel call). */

/* sum over planes of plane_sum */
static double channel_sum(const float *x, size_t n, size_t stride, size_t sp)
{
    double sum = 0.0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        double r[2];
        plane_sum_pair(x + i * stride, x + (i + 1) * stride, sp, r);
        sum += r[0];
        sum += r[1];
    }
    for (; i < n; i++) sum += plane_sum(x + i * stride, sp);
    return sum;
}

/* sum over planes of plane_sq_dev */
static double channel_sq_dev(const float *x, size_t n, size_t stride, size_t sp, float mu)
{
    double sq = 0.0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        double r[2];
        plane_sq_dev_pair(x + i * stride, x + (i + 1) * stride, sp, mu, r);
        sq += r[0];
        sq += r[1];
    }
    for (; i < n; i++) sq += plane_sq_dev(x + i * stride, sp, mu);
    return sq;
}

/* *sg and *sgd from 0: plane_grad_sums over the planes, in order */
static void channel_grad_sums(const float *g, const float *x, size_t n, size_t stride,
                              size_t sp, float mu, double *sg, double *sgd)
{
    size_t i = 0;
    *sg = *sgd = 0.0;
    for (; i + 2 <= n; i += 2)
        plane_grad_sums_pair(g + i * stride, x + i * stride, g + (i + 1) * stride,
                             x + (i + 1) * stride, sp, mu, sg, sgd);
    for (; i < n; i++) plane_grad_sums(g + i * stride, x + i * stride, sp, mu, sg, sgd);
}

/* y[k] = a * x[k] + b, k < n */
GRAFT_VECTOR_CLONES
static void plane_affine(float *restrict y, const float *restrict x, size_t n, float a, float b)
{
    size_t k = 0;
#if GRAFT_HAVE_V8F
    for (; k + 8 <= n; k += 8) STORE8(y + k, a * LOAD8(x + k) + b);
#endif
    for (; k < n; k++) y[k] = a * x[k] + b;
}

/* dx[k] = c1 * g[k] + c2 * (x[k] - mu) + c0, k < n */
GRAFT_VECTOR_CLONES
static void plane_affine2(float *restrict dx, const float *restrict g, const float *restrict x,
                          size_t n, float mu, float c1, float c2, float c0)
{
    size_t k = 0;
#if GRAFT_HAVE_V8F
    for (; k + 8 <= n; k += 8)
        STORE8(dx + k, c1 * LOAD8(g + k) + c2 * (LOAD8(x + k) - mu) + c0);
#endif
    for (; k < n; k++) dx[k] = c1 * g[k] + c2 * (x[k] - mu) + c0;
}

/* Forward and backward run per channel; the channels are split into
 * contiguous ranges over graftParallelFor's workers (parallel.h). A
 * channel's statistics and outputs are computed by one worker, in the same
 * order whatever the split, and every write (y, dx, the channel's entries
 * of the statistics, running buffers and parameter gradients) belongs to one
 * channel, so the results are the same bits for any worker count. */
typedef struct bn_pass {
    size_t n, c_count, sp, m;
    int training;         /* forward: batch statistics; backward: of the forward */
    double eps, mom;
    const float *x, *dy, *gamma, *beta;
    float *y, *dx, *rmean, *rvar, *mean, *invstd;
    float *dgamma, *dbeta; /* backward: NULL when no parameter gradients */
    int64_t base;          /* first channel of this call's items */
} bn_pass;

/* Runs fn on channels [0, c_count), cost floats touched per channel. */
static void bn_split(bn_pass *ps, double cost, graftRangeFn fn)
{
    const int64_t total = (int64_t)ps->c_count;
    for (ps->base = 0; ps->base < total; ps->base += INT_MAX) {
        const int k = (int)(total - ps->base < INT_MAX ? total - ps->base : INT_MAX);
        graftParallelFor(k, graftParallelWorkers(k, cost), fn, ps);
    }
}

static void bn_forward_range(void *arg, int c0, int c1, int worker)
{
    const bn_pass *ps = arg;
    const size_t n = ps->n, c_count = ps->c_count, sp = ps->sp, m = ps->m;
    const float *x = ps->x;
    float *y = ps->y;
    (void)worker;
    for (size_t c = (size_t)(ps->base + c0); c < (size_t)(ps->base + c1); c++) {
        double mu, var;
        if (ps->training) {
            const size_t stride = c_count * sp; /* from one sample's plane to the next */
            double sum = channel_sum(x + c * sp, n, stride, sp);
            mu = sum / (double)m;
            double sq = channel_sq_dev(x + c * sp, n, stride, sp, (float)mu);
            var = sq / (double)m;
            /* With one value per channel (m == 1) the unbiased variance is
             * undefined (0/0); the running variance then takes the biased
             * value, 0, so it stays finite. */
            double unbiased = m > 1 ? sq / (double)(m - 1) : var;
            ps->rmean[c] = (float)((1.0 - ps->mom) * ps->rmean[c] + ps->mom * mu);
            ps->rvar[c] = (float)((1.0 - ps->mom) * ps->rvar[c] + ps->mom * unbiased);
        } else {
            mu = ps->rmean[c];
            var = ps->rvar[c];
        }
        double is = 1.0 / sqrt(var + ps->eps);
        ps->mean[c] = (float)mu;
        ps->invstd[c] = (float)is;
        /* y = a * x + b with a = gamma * invstd, b = beta - a * mean. */
        double a = ps->gamma[c] * is, b = ps->beta[c] - a * mu;
        for (size_t i = 0; i < n; i++) {
            size_t off = (i * c_count + c) * sp;
            plane_affine(y + off, x + off, sp, (float)a, (float)b);
        }
    }
}

static int bn_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    bn_state *s = l->state;
    const int64_t cdim[1] = {s->channels};
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->mean, 1, cdim));
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->invstd, 1, cdim));

    bn_pass ps;
    memset(&ps, 0, sizeof ps);
    ps.n = (size_t)in[0]->dims[0];
    ps.c_count = (size_t)s->channels;
    ps.sp = (size_t)s->spatial;
    ps.m = ps.n * ps.sp;
    ps.training = l->training;
    ps.eps = s->epsilon;
    ps.mom = s->momentum;
    ps.x = in[0]->data;
    ps.y = out->data;
    ps.gamma = l->params[P_WEIGHT].value->data;
    ps.beta = l->params[P_BIAS].value->data;
    ps.rmean = l->params[P_RUNNING_MEAN].value->data;
    ps.rvar = l->params[P_RUNNING_VAR].value->data;
    ps.mean = s->mean->data;
    ps.invstd = s->invstd->data;
    /* training reads x three times (sum, deviations, affine); y written once */
    bn_split(&ps, (double)ps.m * (l->training ? 4.0 : 2.0), bn_forward_range);
    s->fwd_training = l->training;
    return GRAFT_OK;
}

static void bn_backward_range(void *arg, int c0, int c1, int worker)
{
    const bn_pass *ps = arg;
    const size_t n = ps->n, c_count = ps->c_count, sp = ps->sp, m = ps->m;
    const float *x = ps->x, *dy = ps->dy;
    const float *mean = ps->mean, *invstd = ps->invstd;
    float *dx = ps->dx;
    (void)worker;
    for (size_t c = (size_t)(ps->base + c0); c < (size_t)(ps->base + c1); c++) {
        double is = invstd[c];
        double sum_dy, sum_dy_dev;
        channel_grad_sums(dy + c * sp, x + c * sp, n, c_count * sp, sp, mean[c], &sum_dy,
                          &sum_dy_dev);
        double sum_dy_xhat = sum_dy_dev * is;
        if (ps->dgamma) {
            ps->dgamma[c] = (float)sum_dy_xhat;
            ps->dbeta[c] = (float)sum_dy;
        }
        if (!dx) continue;
        double scale = ps->gamma[c] * is;
        /* training: dx = scale * (dy - mean_dy - xhat * mean_dy_xhat)
         *              = k1 * dy + k2 * (x - mu) + k0 with xhat = (x - mu) * is;
         * inference: dx = scale * dy. */
        double k1 = scale, k2 = 0.0, k0 = 0.0;
        if (ps->training) {
            double mean_dy = sum_dy / (double)m, mean_dy_xhat = sum_dy_xhat / (double)m;
            k2 = -scale * mean_dy_xhat * is;
            k0 = -scale * mean_dy;
        }
        for (size_t i = 0; i < n; i++) {
            size_t off = (i * c_count + c) * sp;
            if (ps->training)
                plane_affine2(dx + off, dy + off, x + off, sp, mean[c], (float)k1, (float)k2,
                              (float)k0);
            else
                plane_affine(dx + off, dy + off, sp, (float)k1, 0.0f);
        }
    }
}

static int bn_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                       const graft_tensor *dout, graft_tensor *const *din)
{
    const bn_state *s = l->state;
    bn_pass ps;
    (void)out;
    memset(&ps, 0, sizeof ps);
    ps.n = (size_t)in[0]->dims[0];
    ps.c_count = (size_t)s->channels;
    ps.sp = (size_t)s->spatial;
    ps.m = ps.n * ps.sp;
    ps.training = s->fwd_training;
    ps.x = in[0]->data;
    ps.dy = dout->data;
    ps.gamma = l->params[P_WEIGHT].value->data;
    ps.mean = s->mean->data;
    ps.invstd = s->invstd->data;
    ps.dx = din[0] ? din[0]->data : NULL;
    if (l->need_param_grad) {
        ps.dgamma = l->params[P_WEIGHT].grad->data;
        ps.dbeta = l->params[P_BIAS].grad->data;
    }
    /* the sums read dy and x; dx reads them again and is written */
    bn_split(&ps, (double)ps.m * (ps.dx ? 5.0 : 2.0), bn_backward_range);
    return GRAFT_OK;
}

static int bn_check(graft_ctx *ctx, const char *func, float epsilon, float momentum)
{
    GRAFT_RETURN_IF_AT(!(epsilon > 0.0f) || !graftIsFinite(epsilon), ctx, GRAFT_E_INVALID_ARG,
                       func, "epsilon is %g, must be > 0 and finite", (double)epsilon);
    GRAFT_RETURN_IF_AT(!(momentum >= 0.0f && momentum <= 1.0f), ctx, GRAFT_E_INVALID_ARG, func,
                       "momentum is %g, must be in [0, 1]", (double)momentum);
    return GRAFT_OK;
}

static int bn_save(const graft_layer *l, graftWriter *w)
{
    const bn_state *s = l->state;
    graftWriteF32(w, s->epsilon);
    graftWriteF32(w, s->momentum);
    return w->status;
}

static int bn_load(graft_layer *l, graftReader *r, uint32_t version)
{
    bn_state *s = l->state;
    float epsilon, momentum;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &epsilon, "batch_norm epsilon"));
    GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &momentum, "batch_norm momentum"));
    if (bn_check(l->ctx, "graft_load", epsilon, momentum) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->epsilon = epsilon;
    s->momentum = momentum;
    return GRAFT_OK;
}

static void bn_destroy(graft_layer *l)
{
    bn_state *s = l->state;
    graft_tensor_free(s->mean);
    graft_tensor_free(s->invstd);
    graft_tensor_free(s->fold);
    s->mean = s->invstd = s->fold = NULL;
}

int graftBatchNormFold(graft_layer *l, const float **scale, const float **shift)
{
    bn_state *s = l->state;
    const int64_t cdim[1] = {s->channels}, fdim[2] = {2, s->channels};
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->mean, 1, cdim));
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->invstd, 1, cdim));
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->fold, 2, fdim));
    size_t c_count = (size_t)s->channels;
    const float *gamma = l->params[P_WEIGHT].value->data;
    const float *beta = l->params[P_BIAS].value->data;
    const float *rmean = l->params[P_RUNNING_MEAN].value->data;
    const float *rvar = l->params[P_RUNNING_VAR].value->data;
    float *a_out = s->fold->data, *b_out = s->fold->data + c_count;
    double eps = s->epsilon;
    /* the same expressions, in the same precision, as bn_forward's
     * inference branch */
    for (size_t c = 0; c < c_count; c++) {
        double mu = rmean[c], var = rvar[c];
        double is = 1.0 / sqrt(var + eps);
        s->mean->data[c] = (float)mu;
        s->invstd->data[c] = (float)is;
        double a = gamma[c] * is, b = beta[c] - a * mu;
        a_out[c] = (float)a;
        b_out[c] = (float)b;
    }
    s->fwd_training = 0;
    *scale = a_out;
    *shift = b_out;
    return GRAFT_OK;
}

/* A multiply and an add per element (inference form). */
static int64_t bn_flops(const graft_layer *l)
{
    return 2 * graftShapeSampleNumel(&l->out_shape);
}

/* ONNX: BatchNormalization; ONNX's momentum is 1 - graft's (the weight of
 * the running value, where graft gives the new batch's). */
static int bn_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const bn_state *s = l->state;
    static const char *const params[4] = {"weight", "bias", "running_mean", "running_var"};
    char names[4][GRAFT_ONNX_NAME_MAX];
    for (int k = 0; k < 4; k++) GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, params[k], names[k]));
    const char *ins[5] = {o->inputs[0], names[0], names[1], names[2], names[3]};
    size_t n = graftOnnxNodeBegin(o, "BatchNormalization", NULL, 5, ins, o->output);
    graftOnnxAttrFloat(o, "epsilon", s->epsilon);
    graftOnnxAttrFloat(o, "momentum", 1.0f - s->momentum);
    graftOnnxNodeEnd(o, n);
    return GRAFT_OK;
}

static const graftAttrDecl bn_attrs[] = {
    {"epsilon", GRAFT_ATTR_FLOAT, offsetof(bn_state, epsilon), 1},
    {"momentum", GRAFT_ATTR_FLOAT, offsetof(bn_state, momentum), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

const graftLayerVtbl graftBatchNormVtbl = {
    .kind = "batch_norm",
    .version = 1,
    .state_size = sizeof(bn_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = bn_infer_shape,
    .declare_params = bn_declare_params,
    .init_params = bn_init_params,
    .forward = bn_forward,
    .backward = bn_backward,
    .save = bn_save,
    .load = bn_load,
    .destroy = bn_destroy,
    .flops = bn_flops,
    .backward_ignores_output = 1,
    .attrs = bn_attrs,
    .onnx_export = bn_onnx_export,
};

GRAFT_API int graft_layer_batch_norm(graft_ctx *ctx, float epsilon, float momentum,
                                     graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(bn_check(ctx, __func__, epsilon, momentum));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftBatchNormVtbl, __func__, &l));
    bn_state *s = l->state;
    s->epsilon = epsilon;
    s->momentum = momentum;
    *out = l;
    return GRAFT_OK;
}
