/*
 * layer.c - what every layer kind shares: creation and freeing, building
 * (shape inference and parameter allocation), the argument and shape checks
 * around forward and backward, parameter and attribute access, and
 * serialisation of a layer with its parameters. The list of kinds is
 * registry.c's: nothing here names a kind.
 */
#include "layer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int graftIsFinite(float v) { return isfinite(v) != 0; }

void graftFillUniform(graft_tensor *t, graftRng *rng, float bound)
{
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = (2.0f * graftRngUniform(rng) - 1.0f) * bound;
}

int graftLayerNew(graft_ctx *ctx, const graftLayerVtbl *vtbl, const char *func,
                  graft_layer **out)
{
    graft_layer *l = graftCalloc(ctx, 1, sizeof *l);
    if (!l) return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a %s layer", vtbl->kind);
    if (vtbl->state_size) {
        l->state = graftCalloc(ctx, 1, vtbl->state_size);
        if (!l->state) {
            graftFree(ctx, l);
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a %s layer", vtbl->kind);
        }
    }
    l->vtbl = vtbl;
    l->ctx = ctx;
    l->scratch = &l->own_scratch;
    l->training = 1;
    l->need_param_grad = 1;
    *out = l;
    return GRAFT_OK;
}

static void free_params(graft_layer *l)
{
    if (l->shares_params) { /* another layer's: not freed here */
        memset(l->params, 0, sizeof l->params);
        l->n_params = 0;
        l->shares_params = 0;
        return;
    }
    for (int i = 0; i < l->n_params; i++) {
        graft_tensor_free(l->params[i].value);
        graft_tensor_free(l->params[i].grad);
    }
    memset(l->params, 0, sizeof l->params);
    l->n_params = 0;
}

static void free_build(graft_layer *l)
{
    free_params(l);
    if (l->input_grads) {
        for (int i = 0; i < l->n_inputs; i++) graft_tensor_free(l->input_grads[i]);
        graftFree(l->ctx, l->input_grads);
        l->input_grads = NULL;
        l->no_grads = NULL;
    }
    graftFree(l->ctx, l->in_shapes);
    l->in_shapes = NULL;
    graft_tensor_free(l->output);
    l->output = NULL;
    l->n_inputs = 0;
    l->built = 0;
    l->forward_done = 0;
}

GRAFT_API void graft_layer_free(graft_layer *l)
{
    if (!l) return;
    graft_ctx *ctx = l->ctx;
    if (l->vtbl->destroy) l->vtbl->destroy(l);
    free_build(l);
    graftFree(ctx, l->own_scratch.data);
    graftFree(ctx, l->state);
    graftFree(ctx, l);
}

float *graftLayerScratch(graft_layer *l, size_t floats, const char *func, const char *what)
{
    graftScratch *s = l->scratch;
    if (floats <= s->cap && s->data) return s->data;
    /* freed first: the contents are not kept, and the peak stays low */
    graftFree(l->ctx, s->data);
    s->cap = 0;
    s->data = graftAlloc(l->ctx, (floats ? floats : 1) * sizeof(float));
    if (!s->data) {
        graftError(l->ctx, GRAFT_E_NOMEM, func, "%s layer: cannot allocate a %zu-float %s",
                   l->vtbl->kind, floats, what);
        return NULL;
    }
    s->cap = floats;
    return s->data;
}

GRAFT_API const char *graft_layer_kind(const graft_layer *l) { return l ? l->vtbl->kind : ""; }

int graftLayerBuildShapes(graft_layer *l, int n_inputs, const graftShape *in, uint64_t seed,
                          size_t max_param_floats)
{
    const graftLayerVtbl *v = l->vtbl;
    graft_ctx *ctx = l->ctx;
    if (n_inputs < v->min_inputs || n_inputs > v->max_inputs)
        return graftError(ctx, GRAFT_E_INVALID_ARG, "graft_layer_build",
                          "a %s layer takes %d to %d inputs, not %d", v->kind, v->min_inputs,
                          v->max_inputs, n_inputs);
    free_build(l);

    graftShape *shapes = graftCalloc(ctx, (size_t)n_inputs, sizeof *shapes);
    /* One block: input_grads, then the same number of NULLs for no_grads. */
    graft_tensor **grads = graftCalloc(ctx, 2 * (size_t)n_inputs, sizeof *grads);
    if (!shapes || !grads) {
        graftFree(ctx, shapes);
        graftFree(ctx, grads);
        return graftError(ctx, GRAFT_E_NOMEM, "graft_layer_build", "cannot allocate shapes");
    }
    for (int i = 0; i < n_inputs; i++) {
        shapes[i] = in[i];
        shapes[i].dims[0] = 1;
    }
    l->in_shapes = shapes;
    l->input_grads = grads;
    l->no_grads = grads + n_inputs;
    l->n_inputs = n_inputs;

    graftShape out;
    memset(&out, 0, sizeof out);
    int st = v->infer_shape(l, n_inputs, shapes, &out);
    if (st != GRAFT_OK) goto fail;
    size_t numel;
    st = graftShapeCheck(ctx, "graft_layer_build", out.ndim, out.dims, &numel);
    if (st != GRAFT_OK) goto fail;
    out.dims[0] = 1;
    l->out_shape = out;

    if (v->declare_params) {
        graftParamDecl decl[GRAFT_LAYER_MAX_PARAMS];
        memset(decl, 0, sizeof decl);
        int n = v->declare_params(l, decl);
        if (n < 0 || n > GRAFT_LAYER_MAX_PARAMS) {
            st = graftError(ctx, GRAFT_E_INTERNAL, "graft_layer_build",
                            "%s declared %d parameters", v->kind, n);
            goto fail;
        }
        size_t total = 0;
        for (int i = 0; i < n; i++) {
            size_t numel;
            st = graftShapeCheck(ctx, "graft_layer_build", decl[i].shape.ndim, decl[i].shape.dims,
                                 &numel);
            if (st != GRAFT_OK) goto fail;
            total += numel;
        }
        if (total > max_param_floats) {
            st = graftError(ctx, GRAFT_E_FORMAT, "graft_load",
                            "%s layer: its parameters need %zu floats but only %zu remain in "
                            "the data", v->kind, total, max_param_floats);
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            graftParam *p = &l->params[i];
            p->name = decl[i].name;
            l->n_params = i + 1;
            st = graftTensorNew(ctx, decl[i].shape.ndim, decl[i].shape.dims, &p->value);
            if (st == GRAFT_OK && decl[i].trainable)
                st = graftTensorNew(ctx, decl[i].shape.ndim, decl[i].shape.dims, &p->grad);
            if (st != GRAFT_OK) goto fail;
        }
    }
    if (v->init_params) {
        graftRng rng;
        graftRngSeed(&rng, seed);
        v->init_params(l, &rng);
    }
    l->built = 1;
    return GRAFT_OK;

fail:
    free_build(l);
    return st;
}

int graftLayerBuildShared(graft_layer *l, const graft_layer *src, const char *func)
{
    graft_ctx *ctx = l->ctx;
    free_build(l);
    graftShape *shapes = graftCalloc(ctx, (size_t)src->n_inputs, sizeof *shapes);
    graft_tensor **grads = graftCalloc(ctx, 2 * (size_t)src->n_inputs, sizeof *grads);
    if (!shapes || !grads) {
        graftFree(ctx, shapes);
        graftFree(ctx, grads);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate shapes");
    }
    memcpy(shapes, src->in_shapes, (size_t)src->n_inputs * sizeof *shapes);
    l->in_shapes = shapes;
    l->input_grads = grads;
    l->no_grads = grads + src->n_inputs;
    l->n_inputs = src->n_inputs;
    graftShape out;
    memset(&out, 0, sizeof out);
    int st = l->vtbl->infer_shape(l, l->n_inputs, shapes, &out); /* the kind's derived state */
    if (st != GRAFT_OK) {
        free_build(l);
        return graftErrorAt(ctx, st, func);
    }
    l->out_shape = src->out_shape;
    memcpy(l->params, src->params, sizeof l->params);
    l->n_params = src->n_params;
    l->shares_params = 1;
    l->built = 1;
    return GRAFT_OK;
}

GRAFT_API int graft_layer_build(graft_layer *l, int n_inputs, const graft_tensor *const *inputs,
                                uint64_t seed)
{
    graftClearError(l ? l->ctx : NULL);
    GRAFT_RETURN_IF(!l, NULL, GRAFT_E_INVALID_ARG, "layer is NULL");
    GRAFT_RETURN_IF(n_inputs < 1 || n_inputs > GRAFT_LAYER_MAX_INPUTS || !inputs, l->ctx,
                    GRAFT_E_INVALID_ARG, "need 1 to %d input tensors, got %d%s",
                    GRAFT_LAYER_MAX_INPUTS, n_inputs, inputs ? "" : " (inputs is NULL)");
    graftShape *shapes = graftCalloc(l->ctx, (size_t)n_inputs, sizeof *shapes);
    GRAFT_RETURN_IF(!shapes, l->ctx, GRAFT_E_NOMEM, "cannot allocate shapes");
    int st = GRAFT_OK;
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) {
            st = graftError(l->ctx, GRAFT_E_INVALID_ARG, __func__, "inputs[%d] is NULL", i);
            break;
        }
        shapes[i].ndim = inputs[i]->ndim;
        memcpy(shapes[i].dims, inputs[i]->dims, sizeof shapes[i].dims);
    }
    if (st == GRAFT_OK) st = graftLayerBuildShapes(l, n_inputs, shapes, seed, SIZE_MAX);
    graftFree(l->ctx, shapes);
    return st;
}

GRAFT_API int graft_layer_set_training(graft_layer *l, int training)
{
    graftClearError(l ? l->ctx : NULL);
    GRAFT_RETURN_IF(!l, NULL, GRAFT_E_INVALID_ARG, "layer is NULL");
    GRAFT_RETURN_IF(training != 0 && training != 1, l->ctx, GRAFT_E_INVALID_ARG,
                    "training must be 0 or 1, not %d", training);
    l->training = training;
    if (l->vtbl->set_mode) l->vtbl->set_mode(l, training);
    return GRAFT_OK;
}

/* Checks that inputs match the build (but for the batch) and share one
 * batch size, returned in *batch. */
static int check_inputs(graft_layer *l, const char *func, int n_inputs,
                        const graft_tensor *const *inputs, int64_t *batch)
{
    graft_ctx *ctx = l->ctx;
    if (!inputs) return graftError(ctx, GRAFT_E_INVALID_ARG, func, "inputs is NULL");
    if (n_inputs != l->n_inputs)
        return graftError(ctx, GRAFT_E_INVALID_ARG, func,
                          "this %s layer was built for %d inputs, got %d", l->vtbl->kind,
                          l->n_inputs, n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        const graft_tensor *t = inputs[i];
        const graftShape *s = &l->in_shapes[i];
        if (!t) return graftError(ctx, GRAFT_E_INVALID_ARG, func, "inputs[%d] is NULL", i);
        int ok = t->ndim == s->ndim;
        for (int d = 1; ok && d < s->ndim; d++) ok = t->dims[d] == s->dims[d];
        if (!ok || (i > 0 && t->dims[0] != *batch)) {
            char got[160], want[160];
            graftShape w = *s;
            w.dims[0] = i > 0 ? *batch : t->dims[0];
            graftShapeString(t->ndim, t->dims, got, sizeof got);
            graftShapeString(w.ndim, w.dims, want, sizeof want);
            return graftError(ctx, GRAFT_E_SHAPE, func,
                              "%s layer: inputs[%d] has shape %s, expected %s", l->vtbl->kind,
                              i, got, want);
        }
        if (i == 0) *batch = t->dims[0];
        if (i == 0 && *batch > GRAFT_LAYER_MAX_BATCH)
            return graftError(ctx, GRAFT_E_SHAPE, func,
                              "%s layer: inputs[0] has a batch of %lld samples, more than the "
                              "%d one call takes", l->vtbl->kind, (long long)*batch,
                              (int)GRAFT_LAYER_MAX_BATCH);
    }
    return GRAFT_OK;
}

GRAFT_API int graft_layer_forward(graft_layer *l, int n_inputs, const graft_tensor *const *inputs,
                                  const graft_tensor **out)
{
    graftClearError(l ? l->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!l, NULL, GRAFT_E_INVALID_ARG, "layer is NULL");
    GRAFT_RETURN_IF(!out, l->ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    if (!l->built) GRAFT_FORWARD_IF_ERROR(graft_layer_build(l, n_inputs, inputs, 0));
    int64_t batch = 0;
    GRAFT_FORWARD_IF_ERROR(check_inputs(l, __func__, n_inputs, inputs, &batch));
    graftShape os = l->out_shape;
    os.dims[0] = batch;
    l->forward_done = 0;
    GRAFT_FORWARD_IF_ERROR(graftLayerOutputEnsure(l, os.ndim, os.dims));
    GRAFT_FORWARD_IF_ERROR(l->vtbl->forward(l, inputs, l->output));
    l->forward_calls++;
    l->forward_done = 1;
    l->forward_batch = batch;
    *out = l->output;
    return GRAFT_OK;
}

int graftLayerOutputEnsure(graft_layer *l, int ndim, const int64_t *dims)
{
    if (l->output && l->output->is_view) {
        graft_tensor_free(l->output);
        l->output = NULL;
    }
    return graftTensorEnsure(l->ctx, &l->output, ndim, dims);
}

int graftLayerOutputAlias(graft_layer *l, const graft_tensor *target)
{
    if (!l->output || !l->output->is_view) {
        graft_tensor *v;
        GRAFT_FORWARD_IF_ERROR(
            graft_tensor_create_view(l->ctx, target->ndim, target->dims, target->data, &v));
        graft_tensor_free(l->output);
        l->output = v;
    }
    graft_tensor *v = l->output;
    v->ndim = target->ndim;
    memcpy(v->dims, target->dims, sizeof v->dims);
    v->numel = target->numel;
    v->capacity = target->numel;
    v->data = target->data;
    return GRAFT_OK;
}

int graftLayerForwardInPlace(graft_layer *l, const graft_tensor *const *inputs,
                             const graft_tensor **out)
{
    graftClearError(l->ctx);
    *out = NULL;
    int64_t batch = 0;
    GRAFT_FORWARD_IF_ERROR(check_inputs(l, "graft_layer_forward", 1, inputs, &batch));
    l->forward_done = 0;
    GRAFT_FORWARD_IF_ERROR(graftLayerOutputAlias(l, inputs[0]));
    GRAFT_FORWARD_IF_ERROR(l->vtbl->forward(l, inputs, l->output));
    l->forward_calls++;
    l->forward_done = 1;
    l->forward_batch = batch;
    *out = l->output;
    return GRAFT_OK;
}

/* The checks of graft_layer_backward(), in its name. */
static int backward_check(graft_layer *l, int n_inputs, const graft_tensor *const *inputs,
                          const graft_tensor *out_grad)
{
    graft_ctx *ctx = l->ctx;
    const char *func = "graft_layer_backward";
    GRAFT_RETURN_IF_AT(!out_grad, ctx, GRAFT_E_INVALID_ARG, func, "out_grad is NULL");
    GRAFT_RETURN_IF_AT(!l->built || !l->forward_done, ctx, GRAFT_E_STATE, func,
                       "%s layer: backward needs a forward call first", l->vtbl->kind);
    int64_t batch = 0;
    GRAFT_FORWARD_IF_ERROR(check_inputs(l, func, n_inputs, inputs, &batch));
    GRAFT_RETURN_IF_AT(batch != l->forward_batch, ctx, GRAFT_E_STATE, func,
                       "%s layer: the inputs have batch %lld but the last forward had %lld",
                       l->vtbl->kind, (long long)batch, (long long)l->forward_batch);
    if (!graftTensorSameShape(out_grad, l->output)) {
        char got[160], want[160];
        graftShapeString(out_grad->ndim, out_grad->dims, got, sizeof got);
        graftShapeString(l->output->ndim, l->output->dims, want, sizeof want);
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "%s layer: out_grad has shape %s, expected the output's %s",
                          l->vtbl->kind, got, want);
    }
    return GRAFT_OK;
}

/* Runs the kind's backward (after backward_check) into din. */
static int backward_run(graft_layer *l, const graft_tensor *const *inputs,
                        const graft_tensor *out_grad, graft_tensor *const *din)
{
    GRAFT_FORWARD_IF_ERROR(l->vtbl->backward(l, inputs, l->output, out_grad, din));
    l->backward_calls++;
    return GRAFT_OK;
}

int graftLayerBackwardInto(graft_layer *l, int n_inputs, const graft_tensor *const *inputs,
                           const graft_tensor *out_grad, graft_tensor *const *din)
{
    graftClearError(l->ctx);
    GRAFT_FORWARD_IF_ERROR(backward_check(l, n_inputs, inputs, out_grad));
    return backward_run(l, inputs, out_grad, din ? din : l->no_grads);
}

GRAFT_API int graft_layer_backward(graft_layer *l, int n_inputs, const graft_tensor *const *inputs,
                                   const graft_tensor *out_grad, const graft_tensor **input_grads)
{
    graft_ctx *ctx = l ? l->ctx : NULL;
    graftClearError(ctx);
    GRAFT_RETURN_IF(!l, NULL, GRAFT_E_INVALID_ARG, "layer is NULL");
    GRAFT_FORWARD_IF_ERROR(backward_check(l, n_inputs, inputs, out_grad));
    if (input_grads) {
        for (int i = 0; i < n_inputs; i++) {
            input_grads[i] = NULL;
            GRAFT_FORWARD_IF_ERROR(
                graftTensorEnsure(ctx, &l->input_grads[i], inputs[i]->ndim, inputs[i]->dims));
        }
    }
    GRAFT_FORWARD_IF_ERROR(
        backward_run(l, inputs, out_grad, input_grads ? l->input_grads : l->no_grads));
    if (input_grads)
        for (int i = 0; i < n_inputs; i++) input_grads[i] = l->input_grads[i];
    return GRAFT_OK;
}

GRAFT_API int graft_layer_param_count(const graft_layer *l) { return l ? l->n_params : 0; }

GRAFT_API int graft_layer_param(graft_layer *l, int i, const char **name, graft_tensor **value,
                                const graft_tensor **grad, int *trainable)
{
    graftClearError(l ? l->ctx : NULL);
    GRAFT_RETURN_IF(!l, NULL, GRAFT_E_INVALID_ARG, "layer is NULL");
    GRAFT_RETURN_IF(i < 0 || i >= l->n_params, l->ctx, GRAFT_E_RANGE,
                    "parameter index %d out of range: the %s layer has %d", i, l->vtbl->kind,
                    l->n_params);
    if (name) *name = l->params[i].name;
    if (value) *value = l->params[i].value;
    if (grad) *grad = l->params[i].grad;
    if (trainable) *trainable = l->params[i].grad != NULL;
    return GRAFT_OK;
}

int graftCheckSampleDims(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims,
                         const char *rank_note)
{
    GRAFT_RETURN_IF_AT(ndim < 1 || ndim > GRAFT_MAX_DIMS - 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "ndim is %d, must be 1 to %d%s", ndim, GRAFT_MAX_DIMS - 1, rank_note);
    GRAFT_RETURN_IF_AT(!dims, ctx, GRAFT_E_INVALID_ARG, func, "dims is NULL");
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        GRAFT_RETURN_IF_AT(dims[d] < 1 || dims[d] > GRAFT_MAX_NUMEL / n, ctx,
                           GRAFT_E_INVALID_ARG, func,
                           "dims[%d] is %lld; sizes must be >= 1 with at most 2^40 elements", d,
                           (long long)dims[d]);
        n *= dims[d];
    }
    return GRAFT_OK;
}

void graftWriteSampleDims(graftWriter *w, int ndim, const int64_t *dims)
{
    graftWriteU32(w, (uint32_t)ndim);
    for (int d = 0; d < ndim; d++) graftWriteI64(w, dims[d]);
}

int graftReadSampleDims(graft_layer *l, graftReader *r, const char *what, graftDimsCheck check,
                        int *ndim, int64_t *dims)
{
    uint32_t n;
    int64_t d[GRAFT_MAX_DIMS - 1];
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &n, what));
    if (n < 1 || n > GRAFT_MAX_DIMS - 1)
        return graftError(l->ctx, GRAFT_E_FORMAT, "graft_load", "%s rank is %u, must be 1 to %d",
                          what, n, GRAFT_MAX_DIMS - 1);
    for (uint32_t k = 0; k < n; k++) GRAFT_FORWARD_IF_ERROR(graftReadI64(r, &d[k], what));
    if (check(l->ctx, "graft_load", (int)n, d) != GRAFT_OK) return GRAFT_E_FORMAT;
    *ndim = (int)n;
    memcpy(dims, d, n * sizeof *d);
    return GRAFT_OK;
}

int graftCopyForward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out)
{
    (void)l;
    memcpy(out->data, in[0]->data, out->numel * sizeof(float));
    return GRAFT_OK;
}

int graftCopyBackward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                      const graft_tensor *dout, graft_tensor *const *din)
{
    (void)l;
    (void)in;
    (void)out;
    if (din[0]) memcpy(din[0]->data, dout->data, dout->numel * sizeof(float));
    return GRAFT_OK;
}

int64_t graftShapeSampleNumel(const graftShape *s)
{
    int64_t n = 1;
    for (int d = 1; d < s->ndim; d++) n *= s->dims[d];
    return n;
}

int64_t graftLayerFlops(const graft_layer *l)
{
    if (!l->built) return 0;
    if (l->vtbl->flops) return l->vtbl->flops(l);
    return graftShapeSampleNumel(&l->out_shape);
}

static const graftAttrDecl *find_attr(const graft_layer *l, const char *name)
{
    for (const graftAttrDecl *a = l->vtbl->attrs; a && a->name; a++)
        if (strcmp(a->name, name) == 0) return a;
    return NULL;
}

int graftLayerAttrInts(const graft_layer *l, const char *name, int64_t *v, int max)
{
    const graftAttrDecl *a = find_attr(l, name);
    if (!a) return 0;
    const char *base = (const char *)l->state + a->offset;
    int n = a->count < max ? a->count : max;
    for (int k = 0; k < n; k++)
        v[k] = a->type == GRAFT_ATTR_INT ? (int64_t)((const int *)base)[k]
                                         : (int64_t)((const float *)base)[k];
    return n;
}

int graftLayerAttrFloats(const graft_layer *l, const char *name, float *v, int max)
{
    const graftAttrDecl *a = find_attr(l, name);
    if (!a) return 0;
    const char *base = (const char *)l->state + a->offset;
    int n = a->count < max ? a->count : max;
    for (int k = 0; k < n; k++)
        v[k] = a->type == GRAFT_ATTR_FLOAT ? ((const float *)base)[k]
                                           : (float)((const int *)base)[k];
    return n;
}

int graftLayerWriteAttrs(const graft_layer *l, graftWriter *w)
{
    for (const graftAttrDecl *a = l->vtbl->attrs; a && a->name; a++) {
        const char *base = (const char *)l->state + a->offset;
        for (int k = 0; k < a->count; k++) {
            if (a->type == GRAFT_ATTR_INT) graftWriteI32(w, ((const int *)base)[k]);
            else graftWriteF32(w, ((const float *)base)[k]);
        }
    }
    return w->status;
}

int graftLayerReadAttrs(const graft_layer *l, graftReader *r, void *state)
{
    for (const graftAttrDecl *a = l->vtbl->attrs; a && a->name; a++) {
        char what[96];
        snprintf(what, sizeof what, "%s %s", l->vtbl->kind, a->name);
        char *base = (char *)state + a->offset;
        for (int k = 0; k < a->count; k++) {
            if (a->type == GRAFT_ATTR_INT) {
                int32_t v;
                GRAFT_FORWARD_IF_ERROR(graftReadI32(r, &v, what));
                ((int *)base)[k] = v;
            } else {
                GRAFT_FORWARD_IF_ERROR(graftReadF32(r, &((float *)base)[k], what));
            }
        }
    }
    return GRAFT_OK;
}

graftParam *graftLayerFindParam(graft_layer *l, const char *name)
{
    for (int i = 0; i < l->n_params; i++)
        if (strcmp(l->params[i].name, name) == 0) return &l->params[i];
    return NULL;
}

/* ---- serialisation -------------------------------------------------------- */

static void write_shape(graftWriter *w, const graftShape *s)
{
    graftWriteU32(w, (uint32_t)s->ndim);
    for (int d = 0; d < s->ndim; d++) graftWriteI64(w, s->dims[d]);
}

static int read_shape(graftReader *r, graftShape *s, const char *what)
{
    uint32_t ndim;
    size_t numel;
    memset(s, 0, sizeof *s);
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &ndim, what));
    if (ndim < 1 || ndim > GRAFT_MAX_DIMS)
        return r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                                      "%s has %u dimensions at offset %zu, must be 1 to %d",
                                      what, ndim, r->pos - 4, GRAFT_MAX_DIMS);
    s->ndim = (int)ndim;
    for (uint32_t d = 0; d < ndim; d++) GRAFT_FORWARD_IF_ERROR(graftReadI64(r, &s->dims[d], what));
    if (graftShapeCheck(r->ctx, "graft_load", s->ndim, s->dims, &numel) != GRAFT_OK)
        return r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                                      "%s before offset %zu is not a valid shape", what, r->pos);
    return GRAFT_OK;
}

int graftLayerSave(const graft_layer *l, graftWriter *w)
{
    graftWriteString(w, l->vtbl->kind);
    graftWriteU32(w, l->vtbl->save_version ? l->vtbl->save_version(l) : l->vtbl->version);
    if (l->vtbl->save) GRAFT_FORWARD_IF_ERROR(l->vtbl->save(l, w));
    graftWriteU32(w, (uint32_t)l->built);
    if (l->built) {
        graftWriteU32(w, (uint32_t)l->n_inputs);
        for (int i = 0; i < l->n_inputs; i++) write_shape(w, &l->in_shapes[i]);
        graftWriteU32(w, (uint32_t)l->n_params);
        for (int i = 0; i < l->n_params; i++) {
            const graftParam *p = &l->params[i];
            graftShape s;
            s.ndim = p->value->ndim;
            memcpy(s.dims, p->value->dims, sizeof s.dims);
            graftWriteString(w, p->name);
            write_shape(w, &s);
            graftWriteFloats(w, p->value->data, p->value->numel);
        }
    }
    return w->status;
}

int graftLayerLoadBody(graft_layer *l, graftReader *r)
{
    graft_ctx *ctx = l->ctx;
    uint32_t built, n_inputs, n_params;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &built, "built flag"));
    if (built > 1)
        return graftError(ctx, GRAFT_E_FORMAT, "graft_load", "%s layer: built flag is %u",
                          l->vtbl->kind, built);
    if (!built) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &n_inputs, "input count"));
    if (n_inputs < (uint32_t)l->vtbl->min_inputs || n_inputs > (uint32_t)l->vtbl->max_inputs)
        return graftError(ctx, GRAFT_E_FORMAT, "graft_load",
                          "%s layer: %u inputs, must be %d to %d", l->vtbl->kind, n_inputs,
                          l->vtbl->min_inputs, l->vtbl->max_inputs);
    graftShape *shapes = graftCalloc(ctx, n_inputs, sizeof *shapes);
    if (!shapes) return graftError(ctx, GRAFT_E_NOMEM, "graft_load", "cannot allocate shapes");
    int st = GRAFT_OK;
    for (uint32_t i = 0; i < n_inputs && st == GRAFT_OK; i++)
        st = read_shape(r, &shapes[i], "input shape");
    if (st == GRAFT_OK)
        st = graftLayerBuildShapes(l, (int)n_inputs, shapes, 0, (r->size - r->pos) / 4);
    graftFree(ctx, shapes);
    if (st != GRAFT_OK) {
        if (st != GRAFT_E_NOMEM) st = GRAFT_E_FORMAT;
        return st;
    }
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &n_params, "parameter count"));
    if (n_params != (uint32_t)l->n_params)
        return graftError(ctx, GRAFT_E_FORMAT, "graft_load",
                          "%s layer: %u parameters stored, the layer has %d", l->vtbl->kind,
                          n_params, l->n_params);
    for (int i = 0; i < l->n_params; i++) {
        graftParam *p = &l->params[i];
        char *name = NULL;
        graftShape s;
        GRAFT_FORWARD_IF_ERROR(graftReadString(r, &name, GRAFT_LAYER_MAX_NAME, "parameter name"));
        int same = strcmp(name, p->name) == 0;
        graftFree(ctx, name);
        if (!same)
            return graftError(ctx, GRAFT_E_FORMAT, "graft_load",
                              "%s layer: parameter %d is not \"%s\"", l->vtbl->kind, i, p->name);
        GRAFT_FORWARD_IF_ERROR(read_shape(r, &s, "parameter shape"));
        int ok = s.ndim == p->value->ndim;
        for (int d = 0; ok && d < s.ndim; d++) ok = s.dims[d] == p->value->dims[d];
        if (!ok) {
            char got[160], want[160];
            graftShapeString(s.ndim, s.dims, got, sizeof got);
            graftShapeString(p->value->ndim, p->value->dims, want, sizeof want);
            return graftError(ctx, GRAFT_E_FORMAT, "graft_load",
                              "%s layer: parameter \"%s\" has shape %s, the layer needs %s",
                              l->vtbl->kind, p->name, got, want);
        }
        GRAFT_FORWARD_IF_ERROR(graftReadFloats(r, p->value->data, p->value->numel, p->name));
    }
    return GRAFT_OK;
}
