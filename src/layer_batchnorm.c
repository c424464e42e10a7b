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

#include <math.h>

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

/* Plane kernels. Blocks of 8 elements go through a loop of fixed length
 * with unaliased (restrict) pointers, which the compiler vectorises at -O2;
 * sums keep 8 float lanes per plane and are added into double per plane, so
 * a channel's statistics lose no more than one plane's float rounding. */

/* sum of x[k], k < n */
static double plane_sum(const float *restrict x, size_t n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double tail = 0.0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) acc[u] += x[k + u];
    for (; k < n; k++) tail += x[k];
    return tail + (((double)acc[0] + acc[4]) + ((double)acc[1] + acc[5])) +
           (((double)acc[2] + acc[6]) + ((double)acc[3] + acc[7]));
}

/* sum of (x[k] - mu)^2, k < n */
static double plane_sq_dev(const float *restrict x, size_t n, float mu)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double tail = 0.0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) {
            float d = x[k + u] - mu;
            acc[u] += d * d;
        }
    for (; k < n; k++) {
        double d = (double)x[k] - mu;
        tail += d * d;
    }
    return tail + (((double)acc[0] + acc[4]) + ((double)acc[1] + acc[5])) +
           (((double)acc[2] + acc[6]) + ((double)acc[3] + acc[7]));
}

/* *sg += sum of g[k]; *sgd += sum of g[k] * (x[k] - mu), k < n */
static void plane_grad_sums(const float *restrict g, const float *restrict x, size_t n, float mu,
                            double *sg, double *sgd)
{
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double ta = 0.0, tb = 0.0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) {
            float gv = g[k + u];
            a[u] += gv;
            b[u] += gv * (x[k + u] - mu);
        }
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

/* y[k] = a * x[k] + b, k < n */
static void plane_affine(float *restrict y, const float *restrict x, size_t n, float a, float b)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) y[k + u] = a * x[k + u] + b;
    for (; k < n; k++) y[k] = a * x[k] + b;
}

/* dx[k] = c1 * g[k] + c2 * (x[k] - mu) + c0, k < n */
static void plane_affine2(float *restrict dx, const float *restrict g, const float *restrict x,
                          size_t n, float mu, float c1, float c2, float c0)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) dx[k + u] = c1 * g[k + u] + c2 * (x[k + u] - mu) + c0;
    for (; k < n; k++) dx[k] = c1 * g[k] + c2 * (x[k] - mu) + c0;
}

static int bn_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    bn_state *s = l->state;
    const int64_t cdim[1] = {s->channels};
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->mean, 1, cdim));
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->invstd, 1, cdim));

    size_t n = (size_t)in[0]->dims[0], c_count = (size_t)s->channels, sp = (size_t)s->spatial;
    size_t m = n * sp;
    const float *x = in[0]->data;
    float *y = out->data;
    const float *gamma = l->params[P_WEIGHT].value->data;
    const float *beta = l->params[P_BIAS].value->data;
    float *rmean = l->params[P_RUNNING_MEAN].value->data;
    float *rvar = l->params[P_RUNNING_VAR].value->data;
    float *mean = s->mean->data, *invstd = s->invstd->data;
    double eps = s->epsilon, mom = s->momentum;

    for (size_t c = 0; c < c_count; c++) {
        double mu, var;
        if (l->training) {
            double sum = 0.0;
            for (size_t i = 0; i < n; i++) sum += plane_sum(x + (i * c_count + c) * sp, sp);
            mu = sum / (double)m;
            double sq = 0.0;
            for (size_t i = 0; i < n; i++)
                sq += plane_sq_dev(x + (i * c_count + c) * sp, sp, (float)mu);
            var = sq / (double)m;
            /* With one value per channel (m == 1) the unbiased variance is
             * undefined (0/0); the running variance then takes the biased
             * value, 0, so it stays finite. */
            double unbiased = m > 1 ? sq / (double)(m - 1) : var;
            rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * mu);
            rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * unbiased);
        } else {
            mu = rmean[c];
            var = rvar[c];
        }
        double is = 1.0 / sqrt(var + eps);
        mean[c] = (float)mu;
        invstd[c] = (float)is;
        /* y = a * x + b with a = gamma * invstd, b = beta - a * mean. */
        double a = gamma[c] * is, b = beta[c] - a * mu;
        for (size_t i = 0; i < n; i++) {
            size_t off = (i * c_count + c) * sp;
            plane_affine(y + off, x + off, sp, (float)a, (float)b);
        }
    }
    s->fwd_training = l->training;
    return GRAFT_OK;
}

static int bn_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                       const graft_tensor *dout, graft_tensor *const *din)
{
    const bn_state *s = l->state;
    size_t n = (size_t)in[0]->dims[0], c_count = (size_t)s->channels, sp = (size_t)s->spatial;
    size_t m = n * sp;
    const float *x = in[0]->data, *dy = dout->data;
    const float *gamma = l->params[P_WEIGHT].value->data;
    const float *mean = s->mean->data, *invstd = s->invstd->data;
    float *dx = din[0] ? din[0]->data : NULL;
    (void)out;

    for (size_t c = 0; c < c_count; c++) {
        double is = invstd[c];
        double sum_dy = 0.0, sum_dy_dev = 0.0;
        for (size_t i = 0; i < n; i++) {
            size_t off = (i * c_count + c) * sp;
            plane_grad_sums(dy + off, x + off, sp, mean[c], &sum_dy, &sum_dy_dev);
        }
        double sum_dy_xhat = sum_dy_dev * is;
        if (l->need_param_grad) {
            l->params[P_WEIGHT].grad->data[c] = (float)sum_dy_xhat;
            l->params[P_BIAS].grad->data[c] = (float)sum_dy;
        }
        if (!dx) continue;
        double scale = gamma[c] * is;
        /* training: dx = scale * (dy - mean_dy - xhat * mean_dy_xhat)
         *              = c1 * dy + c2 * (x - mu) + c0 with xhat = (x - mu) * is;
         * inference: dx = scale * dy. */
        double c1 = scale, c2 = 0.0, c0 = 0.0;
        if (s->fwd_training) {
            double mean_dy = sum_dy / (double)m, mean_dy_xhat = sum_dy_xhat / (double)m;
            c2 = -scale * mean_dy_xhat * is;
            c0 = -scale * mean_dy;
        }
        for (size_t i = 0; i < n; i++) {
            size_t off = (i * c_count + c) * sp;
            if (s->fwd_training)
                plane_affine2(dx + off, dy + off, x + off, sp, mean[c], (float)c1, (float)c2,
                              (float)c0);
            else
                plane_affine(dx + off, dy + off, sp, (float)c1, 0.0f);
        }
    }
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
