/*
 * layer_layer_norm.c - layer normalisation over the last axes of each sample
 * (PyTorch's nn.LayerNorm with normalized_shape the last `axes` sizes; ONNX
 * LayerNormalization with axis = -axes).
 *
 * Input X (N, d1, ..., dr) with 1 <= axes <= r. Each group of the last
 * `axes` axes (D = d(r-axes+1) * ... * dr elements, one group per row of the
 * leading axes) is normalised on its own:
 *   mean = sum x / D,  var = sum (x - mean)^2 / D   (biased, two passes in
 *                                                    double)
 *   rstd = 1 / sqrt(var + epsilon),  xhat = (x - mean) * rstd
 *   y = xhat * weight + bias     (affine; y = xhat without it)
 * weight (init 1) and bias (init 0) have the normalised shape
 * (d(r-axes+1), ..., dr). Backward, with g = dy * weight (dy without
 * affine), recomputing mean and rstd from X:
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
 *   dweight = sum over the groups of dy * xhat,  dbias = sum of dy
 *
 * Saved record: i32 axes, f32 epsilon, i32 affine (the attribute table).
 */
#include "layer.h"

#include <math.h>
#include <string.h>

typedef struct ln_state {
    int axes;
    float epsilon;
    int affine;
    int64_t group; /* D, set by infer_shape */
} ln_state;

static int ln_check(graft_ctx *ctx, const char *func, int axes, float epsilon, int affine)
{
    GRAFT_RETURN_IF_AT(axes < 1 || axes >= GRAFT_MAX_DIMS, ctx, GRAFT_E_INVALID_ARG, func,
                       "axes is %d, must be 1 to %d", axes, GRAFT_MAX_DIMS - 1);
    GRAFT_RETURN_IF_AT(!(graftIsFinite(epsilon) && epsilon > 0.0f), ctx, GRAFT_E_INVALID_ARG,
                       func, "epsilon is %g, must be finite and > 0", (double)epsilon);
    GRAFT_RETURN_IF_AT(affine != 0 && affine != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "affine is %d, must be 0 or 1", affine);
    return GRAFT_OK;
}

static int ln_infer_shape(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out)
{
    ln_state *s = l->state;
    (void)n_inputs;
    int r = in[0].ndim - 1; /* per-sample rank */
    if (s->axes > r)
        return graftError(l->ctx, GRAFT_E_SHAPE, "graft_layer_build",
                          "layer_norm layer: it normalises the last %d axes, and the input has "
                          "%d besides the batch",
                          s->axes, r);
    int64_t g = 1;
    for (int d = in[0].ndim - s->axes; d < in[0].ndim; d++) g *= in[0].dims[d];
    s->group = g;
    *out = in[0];
    return GRAFT_OK;
}

static int ln_declare_params(const graft_layer *l, graftParamDecl *decl)
{
    const ln_state *s = l->state;
    if (!s->affine) return 0;
    graftShape p;
    const graftShape *in = &l->in_shapes[0];
    p.ndim = s->axes;
    for (int d = 0; d < s->axes; d++) p.dims[d] = in->dims[in->ndim - s->axes + d];
    decl[0] = (graftParamDecl){"weight", p, 1};
    decl[1] = (graftParamDecl){"bias", p, 1};
    return 2;
}

static void ln_init_params(graft_layer *l, graftRng *rng)
{
    (void)rng;
    if (!((ln_state *)l->state)->affine) return;
    graft_tensor *w = l->params[0].value; /* bias stays at its zeros */
    for (size_t i = 0; i < w->numel; i++) w->data[i] = 1.0f;
}

/* mean and rstd of the group x (n values), two passes in double. */
static void moments(const float *x, size_t n, float eps, double *mean, float *rstd)
{
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    double m = sum / (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - m;
        sq += d * d;
    }
    *mean = m;
    *rstd = (float)(1.0 / sqrt(sq / (double)n + (double)eps));
}

static int ln_forward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    const ln_state *s = l->state;
    size_t n = (size_t)s->group, groups = in[0]->numel / n;
    const float *w = s->affine ? l->params[0].value->data : NULL;
    const float *b = s->affine ? l->params[1].value->data : NULL;
    for (size_t g = 0; g < groups; g++) {
        const float *x = in[0]->data + g * n;
        float *y = out->data + g * n;
        double mean;
        float rstd;
        moments(x, n, s->epsilon, &mean, &rstd);
        float m = (float)mean;
        if (w) {
            for (size_t i = 0; i < n; i++) y[i] = (x[i] - m) * rstd * w[i] + b[i];
        } else {
            for (size_t i = 0; i < n; i++) y[i] = (x[i] - m) * rstd;
        }
    }
    return GRAFT_OK;
}

static int ln_backward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                       const graft_tensor *dout, graft_tensor *const *din)
{
    const ln_state *s = l->state;
    size_t n = (size_t)s->group, groups = in[0]->numel / n;
    const float *w = s->affine ? l->params[0].value->data : NULL;
    float *dw = NULL, *db = NULL;
    (void)out;
    if (s->affine && l->need_param_grad) {
        dw = l->params[0].grad->data;
        db = l->params[1].grad->data;
        memset(dw, 0, n * sizeof *dw);
        memset(db, 0, n * sizeof *db);
    }
    for (size_t g = 0; g < groups; g++) {
        const float *x = in[0]->data + g * n, *dy = dout->data + g * n;
        double mean;
        float rstd;
        moments(x, n, s->epsilon, &mean, &rstd);
        float m = (float)mean;
        double sg = 0.0, sgx = 0.0;
        for (size_t i = 0; i < n; i++) {
            float xhat = (x[i] - m) * rstd, gi = w ? dy[i] * w[i] : dy[i];
            sg += gi;
            sgx += (double)gi * xhat;
            if (dw) {
                dw[i] += dy[i] * xhat;
                db[i] += dy[i];
            }
        }
        if (!din[0]) continue;
        float mg = (float)(sg / (double)n), mgx = (float)(sgx / (double)n);
        float *dx = din[0]->data + g * n;
        for (size_t i = 0; i < n; i++) {
            float xhat = (x[i] - m) * rstd, gi = w ? dy[i] * w[i] : dy[i];
            dx[i] = rstd * (gi - mg - xhat * mgx);
        }
    }
    return GRAFT_OK;
}

static const graftAttrDecl ln_attrs[] = {
    {"axes", GRAFT_ATTR_INT, offsetof(ln_state, axes), 1},
    {"epsilon", GRAFT_ATTR_FLOAT, offsetof(ln_state, epsilon), 1},
    {"affine", GRAFT_ATTR_INT, offsetof(ln_state, affine), 1},
    {NULL, GRAFT_ATTR_INT, 0, 0},
};

static int ln_save(const graft_layer *l, graftWriter *w)
{
    return graftLayerWriteAttrs(l, w);
}

static int ln_load(graft_layer *l, graftReader *r, uint32_t version)
{
    ln_state *s = l->state, read = *s;
    (void)version;
    GRAFT_FORWARD_IF_ERROR(graftLayerReadAttrs(l, r, &read));
    if (ln_check(l->ctx, "graft_load", read.axes, read.epsilon, read.affine) != GRAFT_OK)
        return GRAFT_E_FORMAT;
    *s = read;
    return GRAFT_OK;
}

/* Two passes, the normalisation and the affine step: about 8 per element. */
static int64_t ln_flops(const graft_layer *l)
{
    return 8 * graftShapeSampleNumel(&l->out_shape);
}

/* ONNX: LayerNormalization (opset 17) with axis -axes; before 17 the
 * decomposition PyTorch exports, which the importer fuses back:
 *   m = ReduceMean(x, axes), d = Sub(x, m), v = ReduceMean(Pow(d, 2), axes),
 *   y = Div(d, Sqrt(Add(v, epsilon))), out = Add(Mul(y, weight), bias). */
static int ln_onnx_export(const graft_layer *l, graftOnnxOut *o)
{
    const ln_state *s = l->state;
    char wn[GRAFT_ONNX_NAME_MAX], bn[GRAFT_ONNX_NAME_MAX];
    if (s->affine) {
        GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "weight", wn));
        GRAFT_FORWARD_IF_ERROR(graftOnnxInitParam(o, l, "bias", bn));
    }
    if (o->opset >= 17) {
        if (!s->affine) {
            /* Scale is required: ones of the normalised shape */
            const graftShape *in = &l->in_shapes[0];
            float *ones = graftAlloc(o->ctx, (size_t)s->group * sizeof *ones);
            if (!ones)
                return graftError(o->ctx, GRAFT_E_NOMEM, o->func,
                                  "cannot write the scale of layer \"%s\"", o->name);
            for (int64_t i = 0; i < s->group; i++) ones[i] = 1.0f;
            graftOnnxAuxName(o, "scale", wn);
            graftOnnxInitF32(o, wn, s->axes, in->dims + in->ndim - s->axes, ones);
            graftFree(o->ctx, ones);
        }
        const char *ins[3] = {o->inputs[0], wn, bn};
        size_t n = graftOnnxNodeBegin(o, "LayerNormalization", NULL, s->affine ? 3 : 2, ins,
                                      o->output);
        graftOnnxAttrInt(o, "axis", -s->axes);
        graftOnnxAttrFloat(o, "epsilon", s->epsilon);
        graftOnnxNodeEnd(o, n);
        return GRAFT_OK;
    }
    int64_t axes[GRAFT_MAX_DIMS];
    for (int k = 0; k < s->axes; k++) axes[k] = k - s->axes;
    char mean[GRAFT_ONNX_NAME_MAX], diff[GRAFT_ONNX_NAME_MAX], two[GRAFT_ONNX_NAME_MAX],
        sq[GRAFT_ONNX_NAME_MAX], var[GRAFT_ONNX_NAME_MAX], eps[GRAFT_ONNX_NAME_MAX],
        ve[GRAFT_ONNX_NAME_MAX], sd[GRAFT_ONNX_NAME_MAX], y[GRAFT_ONNX_NAME_MAX],
        sc[GRAFT_ONNX_NAME_MAX], node[GRAFT_ONNX_NAME_MAX];
    graftOnnxAuxName(o, "mean", mean);
    graftOnnxAuxName(o, "centered", diff);
    graftOnnxAuxName(o, "two", two);
    graftOnnxAuxName(o, "squared", sq);
    graftOnnxAuxName(o, "var", var);
    graftOnnxAuxName(o, "epsilon", eps);
    graftOnnxAuxName(o, "var_eps", ve);
    graftOnnxAuxName(o, "std", sd);
    graftOnnxAuxName(o, "normalized", y);
    graftOnnxAuxName(o, "scaled", sc);
    float ftwo = 2.0f;
    graftOnnxInitF32(o, two, 0, NULL, &ftwo);
    graftOnnxInitF32(o, eps, 0, NULL, &s->epsilon);
    const char *x = o->inputs[0];
    graftOnnxSubName(o, "mean", node);
    size_t n = graftOnnxNodeBegin(o, "ReduceMean", node, 1, &x, mean);
    graftOnnxAttrInts(o, "axes", s->axes, axes);
    graftOnnxAttrInt(o, "keepdims", 1);
    graftOnnxNodeEnd(o, n);
    const char *i_sub[2] = {x, mean}, *i_pow[2] = {diff, two}, *i_add[2] = {var, eps},
               *i_div[2] = {diff, sd}, *i_mul[2] = {y, wn}, *i_bias[2] = {sc, bn};
    graftOnnxSubName(o, "sub", node);
    graftOnnxNode(o, "Sub", node, 2, i_sub, diff);
    graftOnnxSubName(o, "pow", node);
    graftOnnxNode(o, "Pow", node, 2, i_pow, sq);
    graftOnnxSubName(o, "var", node);
    n = graftOnnxNodeBegin(o, "ReduceMean", node, 1, (const char *const[]){sq}, var);
    graftOnnxAttrInts(o, "axes", s->axes, axes);
    graftOnnxAttrInt(o, "keepdims", 1);
    graftOnnxNodeEnd(o, n);
    graftOnnxSubName(o, "add_eps", node);
    graftOnnxNode(o, "Add", node, 2, i_add, ve);
    graftOnnxSubName(o, "sqrt", node);
    graftOnnxNode(o, "Sqrt", node, 1, (const char *const[]){ve}, sd);
    if (!s->affine) {
        graftOnnxNode(o, "Div", NULL, 2, i_div, o->output);
        return GRAFT_OK;
    }
    graftOnnxSubName(o, "div", node);
    graftOnnxNode(o, "Div", node, 2, i_div, y);
    graftOnnxSubName(o, "mul", node);
    graftOnnxNode(o, "Mul", node, 2, i_mul, sc);
    graftOnnxNode(o, "Add", NULL, 2, i_bias, o->output);
    return GRAFT_OK;
}

const graftLayerVtbl graftLayerNormVtbl = {
    .kind = "layer_norm",
    .version = 1,
    .state_size = sizeof(ln_state),
    .min_inputs = 1,
    .max_inputs = 1,
    .infer_shape = ln_infer_shape,
    .declare_params = ln_declare_params,
    .init_params = ln_init_params,
    .forward = ln_forward,
    .backward = ln_backward,
    .save = ln_save,
    .load = ln_load,
    .flops = ln_flops,
    .backward_ignores_output = 1,
    .attrs = ln_attrs,
    .onnx_export = ln_onnx_export,
};

GRAFT_API int graft_layer_layer_norm(graft_ctx *ctx, int axes, float epsilon, int affine,
                                     graft_layer **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(ln_check(ctx, __func__, axes, epsilon, affine));
    graft_layer *l;
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, &graftLayerNormVtbl, __func__, &l));
    ln_state *s = l->state;
    s->axes = axes;
    s->epsilon = epsilon;
    s->affine = affine;
    *out = l;
    return GRAFT_OK;
}
