/*
 * layer_hard_sigmoid.c - the piecewise-linear sigmoid of ONNX HardSigmoid.
 *
 * Any input rank; the output has the input's shape. With t = alpha * x + beta:
 *   y  = min(max(t, 0), 1)
 *   dx = dy * alpha where 0 < t < 1, else 0
 * (at the two kinks the gradient is 0, PyTorch's hardsigmoid rule). With
 * alpha = 1/6 and beta = 1/2 this is PyTorch's hardsigmoid, and
 * x * hard_sigmoid(x) is hard_swish.
 */
#include "layer.h"

typedef struct hsig_state {
    float alpha, beta;
} hsig_state;

static int hsig_check(graft_ctx *ctx, const char *func, float alpha, float beta)
{
    GRAFT_RETURN_IF_AT(!graftIsFinite(alpha), ctx, GRAFT_E_INVALID_ARG, func,
                       "alpha is %g, must be finite", (double)alpha);
    GRAFT_RETURN_IF_AT(!graftIsFinite(beta), ctx, GRAFT_E_INVALID_ARG, func,
                       "beta is %g, must be finite", (double)beta);
    return GRAFT_OK;
}

static int hsig_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    (void)l;
    (void)n_inputs;
    *out = in[0];
    return GRAFT_OK;
}

static int hsig_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const hsig_state *s = l->state;
    const float *x = in[0]->data;
    float *y = out->data;
    for (size_t i = 0; i < out->numel; i++) {
        float t = s->alpha * x[i] + s->beta;
        y[i] = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    }
    return GRAFT_OK;
}

static int hsig_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                         const graft_tensor *dout, graft_tensor *const *din)
{
    const hsig_state *s = l->state;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    const float *x = in[0]->data, *dy = dout->data;
    float *dx = din[0]->data;
    for (size_t i = 0; i < dout->numel; i++) {
        float t = s->alpha * x[i] + s->beta;
        dx[i] = t > 0.0f && t < 1.0f ? dy[i] * s->alpha : 0.0f;
    }
    return GRAFT_OK;
}

static int hsig_save(const graft_layer *l, graftWriter *w)
{
    const hsig_state *s = l->state;
    graftWriteF32(w, s->alpha);
    graftWriteF32(w, s->beta);
    return w->status;
}

static int hsig_load(graft_layer *l, graftReader *r, uint32_t version)
{
    hsig_state *s = l->state;
    float alpha, beta;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &alpha, "hard_sigmoid alpha"));
    GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &beta, "hard_sigmoid beta"));
    if (hsig_check(l->ctx, "graft_load", alpha, beta) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->alpha = alpha;
    s->beta = beta;
    return GRAFT_OK;
}

/* A multiply, an add and the clamp per element. */
static int64_t hsig_flops(const graft_layer *l)
{
    return 3 * graftShapeSampleNumel(&l->out_shape);
}

const graftLayerVtbl graftHardSigmoidVtbl = {
    .kind = "hard_sigmoid",
    .version = 1,
    .state_size = sizeof(hsig_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = hsig_infer_shape,
    .forward = hsig_forward,
    .backward = hsig_backward,
    .save = hsig_save,
    .load = hsig_load,
    .flops = hsig_flops,
};

GRAFT_API int graft_layer_hard_sigmoid(graft_ctx *ctx, float alpha, float beta,
                                       graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(hsig_check(ctx, __func__, alpha, beta));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftHardSigmoidVtbl, __func__, &l));
    hsig_state *s = l->state;
    s->alpha = alpha;
    s->beta = beta;
    *out = l;
    return GRAFT_OK;
}
