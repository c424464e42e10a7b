/*
 * layer_dropout.c - inverted dropout.
 *
 * Training mode, rate p > 0: for each element a uniform draw u in [0, 1)
 * from the layer's generator decides keep = (u >= p), and
 *   y = x * mask,  mask = keep ? 1 / (1 - p) : 0
 *   dx = dy * mask  (the mask of the last forward call)
 * Inference mode, or p == 0: y = x and dx = dy.
 *
 * The generator is seeded with the layer's seed when the layer is created
 * (or loaded) and advances with every training forward, so each step draws a
 * new mask and a run is repeatable. The mask tensor lives in the state and is
 * grown only when a batch is larger than any before.
 */
#include "layer.h"

#include <string.h>

typedef struct dropout_state {
    float rate;
    uint64_t seed;
    graftRng rng;
    int masked;         /* the last forward applied the mask */
    graft_tensor *mask; /* (batch, ...) 0 or 1 / (1 - rate) */
} dropout_state;

/* For the tests: restarts the generator from seed, so that consecutive
 * forward calls draw the same mask. Not part of the API. */
static void dropout_reseed(graft_layer *l, uint64_t seed)
{
    dropout_state *s = l->state;
    graftRngSeed(&s->rng, seed);
}

static int dropout_infer_shape(graft_layer *l, int n_inputs, const graftShape *in,
                               graftShape *out)
{
    (void)l;
    (void)n_inputs;
    *out = in[0];
    return GRAFT_OK;
}

static int dropout_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    dropout_state *s = l->state;
    const float *x = in[0]->data;
    float *y = out->data;
    size_t count = out->numel;
    s->masked = 0;
    if (!l->training || s->rate == 0.0f) {
        memcpy(y, x, count * sizeof *y);
        return GRAFT_OK;
    }
    GRAFT_FORWARD_IF_ERROR(graftTensorEnsure(l->ctx, &s->mask, out->ndim, out->dims));
    float *mask = s->mask->data;
    float rate = s->rate, scale = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < count; i++) {
        mask[i] = graftRngUniform(&s->rng) >= rate ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
    s->masked = 1;
    return GRAFT_OK;
}

static int dropout_backward(graft_layer *l, const graft_tensor *const *in,
                            const graft_tensor *out, const graft_tensor *dout,
                            graft_tensor *const *din)
{
    const dropout_state *s = l->state;
    (void)in;
    (void)out;
    if (!din[0]) return GRAFT_OK;
    const float *dy = dout->data;
    float *dx = din[0]->data;
    size_t count = dout->numel;
    if (!s->masked) {
        memcpy(dx, dy, count * sizeof *dx);
        return GRAFT_OK;
    }
    const float *mask = s->mask->data;
    for (size_t i = 0; i < count; i++) dx[i] = dy[i] * mask[i];
    return GRAFT_OK;
}

static int dropout_check(graft_ctx *ctx, const char *func, float rate)
{
    GRAFT_RETURN_IF_AT(!(rate >= 0.0f && rate < 1.0f), ctx, GRAFT_E_INVALID_ARG, func,
                       "rate is %g, must be in [0, 1)", (double)rate);
    return GRAFT_OK;
}

static int dropout_save(const graft_layer *l, graftWriter *w)
{
    const dropout_state *s = l->state;
    graftWriteF32(w, s->rate);
    graftWriteU32(w, (uint32_t)(s->seed & 0xFFFFFFFFu));
    graftWriteU32(w, (uint32_t)(s->seed >> 32));
    return w->status;
}

static int dropout_load(graft_layer *l, graftReader *r, uint32_t version)
{
    dropout_state *s = l->state;
    float rate;
    uint32_t lo, hi;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &rate, "dropout rate"));
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &lo, "dropout seed"));
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &hi, "dropout seed"));
    if (dropout_check(l->ctx, "graft_load", rate) != GRAFT_OK) return GRAFT_E_FORMAT;
    s->rate = rate;
    s->seed = (uint64_t)hi << 32 | lo;
    graftRngSeed(&s->rng, s->seed);
    return GRAFT_OK;
}

static void dropout_destroy(graft_layer *l)
{
    dropout_state *s = l->state;
    graft_tensor_free(s->mask);
    s->mask = NULL;
}

/* ONNX: Dropout with its ratio as an input (an identity in inference). */
static int dropout_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const dropout_state *s = l->state;
    char rn[GRAFT_ONNX_NAME_MAX];
    graftOnnxAuxName(o, "ratio", rn);
    graftOnnxInitF32(o, rn, 0, NULL, &s->rate);
    const char *ins[2] = {o->inputs[0], rn};
    graftOnnxNode(o, "Dropout", NULL, 2, ins, o->output);
    return GRAFT_OK;
}

static const graftAttrDecl dropout_attrs[] = {
    {"ratio", GRAFT_ATTR_FLOAT, offsetof(dropout_state, rate), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

const graftLayerVtbl graftDropoutVtbl = {
    .kind = "dropout",
    .version = 1,
    .state_size = sizeof(dropout_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = dropout_infer_shape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .save = dropout_save,
    .load = dropout_load,
    .destroy = dropout_destroy,
    .reseed = dropout_reseed,
    .attrs = dropout_attrs,
    .onnx_export = dropout_onnx_export,
};

GRAFT_API int graft_layer_dropout(graft_ctx *ctx, float rate, uint64_t seed, graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(dropout_check(ctx, __func__, rate));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftDropoutVtbl, __func__, &l));
    dropout_state *s = l->state;
    s->rate = rate;
    s->seed = seed;
    graftRngSeed(&s->rng, seed);
    *out = l;
    return GRAFT_OK;
}
