/*
 * model.c - models as graphs of named layers: building with shape checks,
 * inspection, the summary table, and running the graph forward and backward.
 *
 * Nodes are kept in the order they were added, which is a topological order
 * (a node reads only the model input and earlier nodes). Forward runs them
 * in that order; backward runs them in reverse, visiting only nodes at or
 * above a trainable layer, so a frozen trunk costs its forward pass alone.
 */
#include "model.h"
#include "core/finite.h"

#include <stdio.h>
#include <string.h>

/* ---- names and creation ----------------------------------------------------- */

int graftValidName(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > GRAFT_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

int graftModelNew(graft_ctx *ctx, const graftShape *input_shape, uint64_t seed,
                  graft_model **out)
{
    graft_model *m = graftCalloc(ctx, 1, sizeof *m);
    graftExecPool *pool = graftCalloc(ctx, 1, sizeof *pool);
    if (!m || !pool || pthread_mutex_init(&pool->lock, NULL) != 0) {
        graftFree(ctx, m);
        graftFree(ctx, pool);
        return graftError(ctx, GRAFT_E_NOMEM, "graft_model_create", "cannot allocate a model");
    }
    m->pool = pool;
    m->ctx = ctx;
    m->input_shape = *input_shape;
    m->input_shape.dims[0] = 1;
    m->seed = seed;
    m->training = -1;
    m->feature_cache = 1;
    m->feature_cache_mb = 1024;
    m->override_node = -2;
    m->fusion = 1;
    m->inplace = 1;
    *out = m;
    return GRAFT_OK;
}

GRAFT_API int graft_model_create(graft_ctx *ctx, int ndim, const int64_t *dims, uint64_t seed,
                                 graft_model **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out || !dims, ctx, GRAFT_E_INVALID_ARG, "dims and out must not be NULL");
    GRAFT_RETURN_IF(ndim < 1 || ndim > GRAFT_MAX_DIMS - 1, ctx, GRAFT_E_SHAPE,
                    "ndim is %d, must be 1 to %d (the batch dimension is added)", ndim,
                    GRAFT_MAX_DIMS - 1);
    graftShape s;
    memset(&s, 0, sizeof s);
    s.ndim = ndim + 1;
    s.dims[0] = 1;
    memcpy(s.dims + 1, dims, (size_t)ndim * sizeof *dims);
    size_t numel;
    GRAFT_FORWARD_IF_ERROR(graftShapeCheck(ctx, __func__, s.ndim, s.dims, &numel));
    return graftModelNew(ctx, &s, seed, out);
}

static void free_node(graft_ctx *ctx, graftNode *n)
{
    graft_layer_free(n->layer);
    graftFree(ctx, n->name);
    graftFree(ctx, n->inputs);
}

/* Frees the gradient pool's buffers and arrays. */
static void pool_free(graft_ctx *ctx, graftGradPool *p)
{
    for (int b = 0; b < p->cap; b++) graft_tensor_free(p->bufs[b]);
    graftFree(ctx, p->bufs);
    graftFree(ctx, p->need);
    graftFree(ctx, p->busy);
    graftFree(ctx, p->slot);
    memset(p, 0, sizeof *p);
}

static void exec_pool_free(graft_ctx *ctx, graftExecPool *pool);

/* Frees everything m holds (its layers leave parameters they share alone). */
static void free_model(graft_model *m)
{
    graft_ctx *ctx = m->ctx;
    for (int i = 0; i < m->n_nodes; i++) free_node(ctx, &m->nodes[i]);
    graftFree(ctx, m->nodes);
    graftModelSetClassNames(m, 0, NULL, NULL);
    graftModelClearUnfreeze(m);
    graftFree(ctx, (void *)m->scratch_inputs);
    graftFree(ctx, m->scratch_grads);
    pool_free(ctx, &m->grads);
    graftFree(ctx, m->scratch.data);
    exec_pool_free(ctx, m->pool);
    graftFree(ctx, m);
}

int graftModelCheckNotShared(graft_model *m, const char *func)
{
    pthread_mutex_lock(&m->pool->lock);
    const int clones = m->share_refs;
    pthread_mutex_unlock(&m->pool->lock);
    GRAFT_RETURN_IF_AT(clones > 0, m->ctx, GRAFT_E_STATE, func,
                       "%d clone%s made with GRAFT_CLONE_SHARE_WEIGHTS read%s this model's "
                       "layers: free %s first, or clone without sharing; nothing was changed",
                       clones, clones == 1 ? "" : "s", clones == 1 ? "s" : "", clones == 1 ? "it" : "them");
    return GRAFT_OK;
}

/* A model whose parameters clones read is freed when the last of them is
 * (struct graft_model, share_refs): free_model() runs on whichever comes
 * last, the model's graft_model_free() or its last clone's. */
GRAFT_API void graft_model_free(graft_model *m)
{
    if (!m) return;
    graft_model *owner = m->weights_owner;
    pthread_mutex_lock(&m->pool->lock);
    int keep = m->share_refs > 0;
    m->free_pending = keep;
    pthread_mutex_unlock(&m->pool->lock);
    if (keep) return;
    free_model(m);
    if (!owner) return;
    pthread_mutex_lock(&owner->pool->lock);
    int last = --owner->share_refs == 0 && owner->free_pending;
    pthread_mutex_unlock(&owner->pool->lock);
    if (last) free_model(owner);
}

static int find_node(const graft_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i].name, name) == 0) return i;
    return -2;
}

int graftModelFindNode(const graft_model *m, const char *name)
{
    int i = find_node(m, name);
    return i >= 0 ? i : -1;
}

static const graftShape *node_shape(const graft_model *m, int node)
{
    return node == GRAFT_INPUT_NODE ? &m->input_shape : &m->nodes[node].layer->out_shape;
}

int graftModelReserve(graft_model *m, int n_nodes, int n_inputs, const char *func)
{
    if (n_nodes > m->cap_nodes) {
        int cap = m->cap_nodes ? m->cap_nodes : 16;
        while (cap < n_nodes) cap *= 2;
        graftNode *nodes = graftCalloc(m->ctx, (size_t)cap, sizeof *nodes);
        if (!nodes) return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot grow the layer list");
        if (m->n_nodes) memcpy(nodes, m->nodes, (size_t)m->n_nodes * sizeof *nodes);
        graftFree(m->ctx, m->nodes);
        m->nodes = nodes;
        m->cap_nodes = cap;
    }
    if (n_inputs > m->scratch_cap) {
        const graft_tensor **p = graftCalloc(m->ctx, (size_t)n_inputs, sizeof *p);
        graft_tensor **q = graftCalloc(m->ctx, (size_t)n_inputs, sizeof *q);
        if (!p || !q) {
            graftFree(m->ctx, (void *)p);
            graftFree(m->ctx, q);
            return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate input slots");
        }
        graftFree(m->ctx, (void *)m->scratch_inputs);
        graftFree(m->ctx, m->scratch_grads);
        m->scratch_inputs = p;
        m->scratch_grads = q;
        m->scratch_cap = n_inputs;
    }
    return GRAFT_OK;
}

void graftModelInstallNode(graft_model *m, char *name, graft_layer *layer, int n_inputs,
                           int *inputs, int trainable)
{
    graftNode *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = name;
    n->inputs = inputs;
    n->n_inputs = n_inputs;
    n->layer = layer;
    n->trainable = trainable;
    n->lr_scale = 1.0f;
    for (int k = 0; k < n_inputs; k++)
        if (inputs[k] != GRAFT_INPUT_NODE) m->nodes[inputs[k]].consumers++;
    layer->in_model = 1;
    layer->need_param_grad = trainable;
    graftFree(m->ctx, layer->own_scratch.data); /* from runs before it joined */
    layer->own_scratch.data = NULL;
    layer->own_scratch.cap = 0;
    layer->scratch = &m->scratch;
    m->n_nodes++;
    m->graph_rev++;   /* executors remake their shadows */
    m->training = -1; /* the new layer gets the model's mode at the next run */
}

/* Adds a node that owns layer; inputs (n_inputs indices) is copied. */
static int append_node(graft_model *m, const char *name, graft_layer *layer, int n_inputs,
                       const int *inputs, int trainable, const char *func)
{
    GRAFT_FORWARD_IF_ERROR(graftModelReserve(m, m->n_nodes + 1, n_inputs, func));
    char *copy = graftStrdup(m->ctx, name);
    int *idx = graftCalloc(m->ctx, (size_t)n_inputs, sizeof *idx);
    if (!copy || !idx) {
        graftFree(m->ctx, copy);
        graftFree(m->ctx, idx);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate layer \"%s\"", name);
    }
    memcpy(idx, inputs, (size_t)n_inputs * sizeof *inputs);
    graftModelInstallNode(m, copy, layer, n_inputs, idx, trainable);
    return GRAFT_OK;
}

/* Rewrites the message of a failed layer call as "func(): layer "name"
 * (kind): cause". */
static int wrap_layer_error(graft_model *m, int st, const char *func, const char *name,
                            const graft_layer *l)
{
    char cause[GRAFT_ERRMSG_SIZE];
    const char *msg = graftThreadMessage(), *p = strstr(msg, "(): ");
    snprintf(cause, sizeof cause, "%s", p ? p + 4 : msg);
    return graftError(m->ctx, st, func, "layer \"%s\" (%s): %s", name, l->vtbl->kind, cause);
}

uint64_t graftModelLayerSeed(uint64_t seed, int index)
{
    graftRng rng;
    graftRngSeed(&rng, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(index + 1)));
    return graftRngNext(&rng);
}

GRAFT_API int graft_model_add(graft_model *m, const char *name, graft_layer *layer, int n_inputs,
                              const char *const *inputs)
{
    const char *func = __func__;
    graft_ctx *ctx = m ? m->ctx : NULL;
    int st = GRAFT_OK;
    int *idx = NULL;
    graftShape *shapes = NULL;
    graftClearError(ctx);
    if (layer && layer->in_model)
        return graftError(ctx, GRAFT_E_INVALID_ARG, func,
                          "the %s layer already belongs to a model", layer->vtbl->kind);
    if (!m) {
        graft_layer_free(layer);
        return graftError(NULL, GRAFT_E_INVALID_ARG, func, "model is NULL");
    }
    if (!layer) return graftError(ctx, GRAFT_E_INVALID_ARG, func,
                                  "layer is NULL (did its constructor fail?)");
    if (layer->ctx != ctx) {
        st = graftError(ctx, GRAFT_E_INVALID_ARG, func, "the layer belongs to another context");
        goto fail;
    }
    if (!name || !graftValidName(name) || strcmp(name, GRAFT_MODEL_INPUT) == 0) {
        st = graftError(ctx, GRAFT_E_INVALID_ARG, func,
                        "bad layer name \"%s\": 1 to %d characters of A-Z a-z 0-9 _ . : / -, "
                        "and not \"" GRAFT_MODEL_INPUT "\"", name ? name : "(null)",
                        GRAFT_NAME_MAX);
        goto fail;
    }
    if (find_node(m, name) >= 0) {
        st = graftError(ctx, GRAFT_E_INVALID_ARG, func, "a layer named \"%s\" already exists",
                        name);
        goto fail;
    }
    if (n_inputs < 0 || n_inputs > GRAFT_LAYER_MAX_INPUTS || (n_inputs > 0 && !inputs)) {
        st = graftError(ctx, GRAFT_E_INVALID_ARG, func, "layer \"%s\": n_inputs is %d%s", name,
                        n_inputs, n_inputs > 0 && !inputs ? " but inputs is NULL" : "");
        goto fail;
    }
    int count = n_inputs ? n_inputs : 1;
    idx = graftCalloc(ctx, (size_t)count, sizeof *idx);
    shapes = graftCalloc(ctx, (size_t)count, sizeof *shapes);
    if (!idx || !shapes) {
        st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate input lists");
        goto fail;
    }
    if (n_inputs == 0) {
        idx[0] = m->n_nodes - 1; /* -1: the model input */
    } else {
        for (int k = 0; k < n_inputs; k++) {
            if (!inputs[k]) {
                st = graftError(ctx, GRAFT_E_INVALID_ARG, func, "layer \"%s\": inputs[%d] is NULL",
                                name, k);
                goto fail;
            }
            idx[k] = strcmp(inputs[k], GRAFT_MODEL_INPUT) == 0 ? GRAFT_INPUT_NODE
                                                                : find_node(m, inputs[k]);
            if (idx[k] == -2) {
                st = graftError(ctx, GRAFT_E_NOT_FOUND, func,
                                "layer \"%s\": input \"%s\" is not an earlier layer", name,
                                inputs[k]);
                goto fail;
            }
        }
    }
    for (int k = 0; k < count; k++) shapes[k] = *node_shape(m, idx[k]);
    st = graftLayerBuildShapes(layer, count, shapes, graftModelLayerSeed(m->seed, m->n_nodes),
                               SIZE_MAX);
    if (st != GRAFT_OK) {
        st = wrap_layer_error(m, st, func, name, layer);
        goto fail;
    }
    st = append_node(m, name, layer, count, idx, 1, func);
    if (st != GRAFT_OK) goto fail;
    graftFree(ctx, idx);
    graftFree(ctx, shapes);
    return GRAFT_OK;

fail:
    graftFree(ctx, idx);
    graftFree(ctx, shapes);
    graft_layer_free(layer);
    return st;
}

int graftModelAppendBuilt(graft_model *m, const char *name, graft_layer *layer, int n_inputs,
                          const int *inputs, int trainable)
{
    const char *func = "graft_load";
    if (!graftValidName(name) || find_node(m, name) >= 0 || !strcmp(name, GRAFT_MODEL_INPUT))
        return graftError(m->ctx, GRAFT_E_FORMAT, func, "bad or repeated layer name \"%s\"", name);
    if (!layer->built || n_inputs != layer->n_inputs)
        return graftError(m->ctx, GRAFT_E_FORMAT, func,
                          "layer \"%s\": its build does not match its %d inputs", name, n_inputs);
    for (int k = 0; k < n_inputs; k++) {
        if (inputs[k] < GRAFT_INPUT_NODE || inputs[k] >= m->n_nodes)
            return graftError(m->ctx, GRAFT_E_FORMAT, func,
                              "layer \"%s\": input %d refers to node %d, not an earlier one", name,
                              k, inputs[k]);
        const graftShape *want = node_shape(m, inputs[k]), *got = &layer->in_shapes[k];
        int same = want->ndim == got->ndim;
        for (int d = 1; same && d < want->ndim; d++) same = want->dims[d] == got->dims[d];
        if (!same)
            return graftError(m->ctx, GRAFT_E_FORMAT, func,
                              "layer \"%s\": input %d's shape does not match the layer's build",
                              name, k);
    }
    return append_node(m, name, layer, n_inputs, inputs, trainable != 0, func);
}

/* ---- inspection --------------------------------------------------------------- */

int graftModelOutputNode(const graft_model *m) { return m->n_nodes - 1; }

int64_t graftModelOutputSize(const graft_model *m)
{
    if (m->n_nodes == 0) return 0;
    return graftShapeSampleNumel(&m->nodes[m->n_nodes - 1].layer->out_shape);
}

GRAFT_API int graft_model_layer_count(const graft_model *m) { return m ? m->n_nodes : 0; }

GRAFT_API int graft_model_find_layer(const graft_model *m, const char *name)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !name, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and name must not be NULL");
    int i = find_node(m, name);
    GRAFT_RETURN_IF(i < 0, m->ctx, GRAFT_E_NOT_FOUND, "no layer named \"%s\"", name);
    return i;
}

static int valid_index(const graft_model *m, int i) { return m && i >= 0 && i < m->n_nodes; }

GRAFT_API graft_layer *graft_model_layer(graft_model *m, int i)
{
    return valid_index(m, i) ? m->nodes[i].layer : NULL;
}

GRAFT_API const char *graft_model_layer_name(const graft_model *m, int i)
{
    return valid_index(m, i) ? m->nodes[i].name : NULL;
}

GRAFT_API int graft_model_layer_input_count(const graft_model *m, int i)
{
    return valid_index(m, i) ? m->nodes[i].n_inputs : 0;
}

GRAFT_API const char *graft_model_layer_input_name(const graft_model *m, int i, int k)
{
    if (!valid_index(m, i) || k < 0 || k >= m->nodes[i].n_inputs) return NULL;
    int j = m->nodes[i].inputs[k];
    return j == GRAFT_INPUT_NODE ? GRAFT_MODEL_INPUT : m->nodes[j].name;
}

GRAFT_API int graft_model_layer_output_shape(const graft_model *m, int i, int *ndim,
                                             int64_t *dims)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !ndim || !dims, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, ndim and dims must not be NULL");
    GRAFT_RETURN_IF(i != -1 && !valid_index(m, i), m->ctx, GRAFT_E_RANGE,
                    "layer index %d out of range: the model has %d layers", i, m->n_nodes);
    const graftShape *s = node_shape(m, i == -1 ? GRAFT_INPUT_NODE : i);
    *ndim = s->ndim - 1;
    for (int d = 1; d < s->ndim; d++) dims[d - 1] = s->dims[d];
    return GRAFT_OK;
}

static int64_t layer_param_scalars(const graft_layer *l)
{
    int64_t n = 0;
    for (int k = 0; k < l->n_params; k++)
        if (l->params[k].grad) n += (int64_t)l->params[k].value->numel;
    return n;
}

GRAFT_API int64_t graft_model_layer_param_count(const graft_model *m, int i)
{
    return valid_index(m, i) ? layer_param_scalars(m->nodes[i].layer) : -1;
}

GRAFT_API int graft_model_layer_trainable(const graft_model *m, int i)
{
    return valid_index(m, i) ? m->nodes[i].trainable : -1;
}

GRAFT_API int64_t graft_model_param_count(const graft_model *m, int trainable_only)
{
    int64_t n = 0;
    if (!m) return 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (!trainable_only || m->nodes[i].trainable) n += layer_param_scalars(m->nodes[i].layer);
    return n;
}

GRAFT_API int64_t graft_model_flops(const graft_model *m)
{
    int64_t n = 0;
    if (!m) return 0;
    for (int i = 0; i < m->n_nodes; i++) n += graftLayerFlops(m->nodes[i].layer);
    return n;
}

GRAFT_API int64_t graft_model_epochs_done(const graft_model *m) { return m ? m->epochs_done : 0; }

/* A bounded string builder that keeps counting past the end. */
typedef struct text_out {
    char *buf;
    size_t size, len;
} text_out;

static void text_add(text_out *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void text_add(text_out *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = t->len < t->size ? t->buf + t->len : NULL;
    size_t room = t->len < t->size ? t->size - t->len : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n;
}

static void per_sample_shape(const graftShape *s, char *buf, size_t size)
{
    graftShapeString(s->ndim - 1, s->dims + 1, buf, size);
}

GRAFT_API int graft_model_summary(const graft_model *m, char *buf, size_t size, size_t *needed)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || (!buf && size > 0), m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model is NULL, or buf is NULL with a size");
    text_out t = {buf, size, 0};
    char shape[96], ins[200];
    /* Column widths from the content: layer labels and input lists. */
    int wl = 20, wi = 8;
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i];
        int l = (int)(strlen(n->name) + strlen(n->layer->vtbl->kind) + 3), li = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            int j = n->inputs[k];
            li += (int)strlen(j == GRAFT_INPUT_NODE ? GRAFT_MODEL_INPUT : m->nodes[j].name) + (k > 0);
        }
        if (l > wl) wl = l;
        if (li > wi) wi = li < (int)sizeof ins - 1 ? li : (int)sizeof ins - 1;
    }
    int width = wl + wi + 18 + 12 + 2 + 9 + 3;
    text_add(&t, "%-*s %-*s %-18s %12s  %s\n", wl, "Layer (kind)", wi, "Inputs", "Output shape",
             "Params", "Trainable");
    for (int i = 0; i < width; i++) text_add(&t, "-");
    text_add(&t, "\n");
    per_sample_shape(&m->input_shape, shape, sizeof shape);
    text_add(&t, "%-*s %-*s %-18s %12d  %s\n", wl, GRAFT_MODEL_INPUT " (input)", wi, "", shape, 0,
             "-");
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i];
        char label[GRAFT_NAME_MAX + 40];
        snprintf(label, sizeof label, "%s (%s)", n->name, n->layer->vtbl->kind);
        size_t pos = 0;
        ins[0] = '\0';
        for (int k = 0; k < n->n_inputs && pos < sizeof ins; k++) {
            int j = n->inputs[k];
            int w = snprintf(ins + pos, sizeof ins - pos, "%s%s", k ? "," : "",
                             j == GRAFT_INPUT_NODE ? GRAFT_MODEL_INPUT : m->nodes[j].name);
            if (w > 0) pos += (size_t)w;
        }
        per_sample_shape(&n->layer->out_shape, shape, sizeof shape);
        int64_t params = layer_param_scalars(n->layer);
        text_add(&t, "%-*s %-*s %-18s %12lld  %s\n", wl, label, wi, ins, shape, (long long)params,
                 params == 0 ? "-" : n->trainable ? "yes" : "no");
    }
    for (int i = 0; i < width; i++) text_add(&t, "-");
    text_add(&t, "\n");
    int64_t total = graft_model_param_count(m, 0), trainable = graft_model_param_count(m, 1);
    text_add(&t, "Total params: %lld (trainable: %lld, frozen: %lld)\n", (long long)total,
             (long long)trainable, (long long)(total - trainable));
    text_add(&t, "Forward FLOPs per sample: %lld (%.2f MFLOPs)\n", (long long)graft_model_flops(m),
             (double)graft_model_flops(m) / 1e6);
    if (needed) *needed = t.len;
    return GRAFT_OK;
}

/* ---- classes ------------------------------------------------------------------ */

int graftModelCopyClassNames(graft_ctx *ctx, int n, const char *const *names, const char *func,
                             char ***out)
{
    char **copy = NULL;
    *out = NULL;
    if (n > 0) {
        copy = graftCalloc(ctx, (size_t)n, sizeof *copy);
        if (!copy) return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate class names");
        for (int c = 0; c < n; c++) {
            copy[c] = graftStrdup(ctx, names[c]);
            if (!copy[c]) {
                graftModelFreeClassNames(ctx, c, copy);
                return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate class names");
            }
        }
    }
    *out = copy;
    return GRAFT_OK;
}

void graftModelFreeClassNames(graft_ctx *ctx, int n, char **names)
{
    for (int c = 0; names && c < n; c++) graftFree(ctx, names[c]);
    graftFree(ctx, names);
}

void graftModelInstallClassNames(graft_model *m, int n, char **names)
{
    graftModelFreeClassNames(m->ctx, m->n_classes_named, m->class_names);
    m->class_names = names;
    m->n_classes_named = n;
}

int graftModelSetClassNames(graft_model *m, int n, const char *const *names, const char *func)
{
    char **copy = NULL;
    GRAFT_FORWARD_IF_ERROR(graftModelCopyClassNames(m->ctx, n, names, func, &copy));
    graftModelInstallClassNames(m, n, copy);
    return GRAFT_OK;
}

GRAFT_API int graft_model_set_class_names(graft_model *m, int n, const char *const *names)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !names, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and names must not be NULL");
    GRAFT_RETURN_IF(m->n_nodes == 0, m->ctx, GRAFT_E_STATE, "the model has no layers yet");
    GRAFT_RETURN_IF((int64_t)n != graftModelOutputSize(m), m->ctx, GRAFT_E_SHAPE,
                    "%d class names for a model with %lld outputs", n,
                    (long long)graftModelOutputSize(m));
    for (int c = 0; c < n; c++) {
        GRAFT_RETURN_IF(!names[c], m->ctx, GRAFT_E_INVALID_ARG, "names[%d] is NULL", c);
        size_t len = strlen(names[c]);
        GRAFT_RETURN_IF(len < 1 || len > GRAFT_CLASS_NAME_MAX, m->ctx, GRAFT_E_INVALID_ARG,
                        "names[%d] is %zu bytes long, must be 1 to %d", c, len,
                        GRAFT_CLASS_NAME_MAX);
    }
    return graftModelSetClassNames(m, n, names, __func__);
}

GRAFT_API int graft_model_class_count(const graft_model *m)
{
    return m ? (int)graftModelOutputSize(m) : 0;
}

GRAFT_API const char *graft_model_class_name(const graft_model *m, int c)
{
    if (!m || c < 0 || c >= m->n_classes_named) return NULL;
    return m->class_names[c];
}

/* ---- running the graph ------------------------------------------------------- */

/* A frozen batch norm runs in inference mode (its running statistics are
 * part of what is frozen) unless frozen_bn_trains says otherwise. */
void graftModelSetMode(graft_model *m, int training)
{
    if (m->training == training) return;
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *n = &m->nodes[i];
        int frozen_bn = !n->trainable && n->layer->vtbl == &graftBatchNormVtbl &&
                        !m->frozen_bn_trains;
        graft_layer_set_training(n->layer, training && !frozen_bn);
    }
    m->training = training;
}

static const graft_tensor *const *gather_inputs(graft_model *m, const graftNode *n,
                                                const graft_tensor *x)
{
    for (int k = 0; k < n->n_inputs; k++) {
        int j = n->inputs[k];
        m->scratch_inputs[k] = j == GRAFT_INPUT_NODE    ? x
                               : j == m->override_node ? m->override_tensor
                                                       : m->nodes[j].layer->output;
    }
    return m->scratch_inputs;
}

/* ---- fused conv2d -> batch_norm -> relu/clip/hard_swish (the rule is in model.h) ---- */

/* 1: the fused epilogue applies l (graftActivationClamp knows it). */
static int is_clamp(const graft_layer *l)
{
    graftEpilogueAct act;
    float lo, hi;
    return graftActivationClamp(l, &act, &lo, &hi);
}

/* Sets node->fused for the nodes up to `last` that this forward will run. */
static void plan_fusion(graft_model *m, int last)
{
    const int grads = m->training != 0; /* a backward pass may follow */
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *n = &m->nodes[i];
        n->fused = 0;
        if (!grads) continue;
        n->needs_grad = n->trainable && layer_param_scalars(n->layer) > 0;
        for (int k = 0; k < n->n_inputs && !n->needs_grad; k++)
            n->needs_grad = n->inputs[k] != GRAFT_INPUT_NODE && m->nodes[n->inputs[k]].needs_grad;
    }
    if (!m->fusion || m->override_node >= 0) return;
    for (int i = 0; i + 1 <= last; i++) {
        graftNode *c = &m->nodes[i], *bn = &m->nodes[i + 1];
        if (c->layer->vtbl != &graftConv2dVtbl || c->consumers != 1) continue;
        if (bn->layer->vtbl != &graftBatchNormVtbl || bn->n_inputs != 1 || bn->inputs[0] != i ||
            bn->layer->training)
            continue;
        if (grads && (c->needs_grad || bn->needs_grad)) continue;
        int len = 1;
        if (i + 2 <= last && bn->consumers == 1) {
            const graftNode *a = &m->nodes[i + 2];
            if (is_clamp(a->layer) && a->n_inputs == 1 && a->inputs[0] == i + 1 &&
                !(grads && a->needs_grad))
                len = 2;
        }
        c->fused = len;
        i += len;
    }
}

/* Sets node->inplace for the nodes this forward will run (the rule is in
 * model.h, "In-place nodes"). Call after plan_fusion(). */
static void plan_inplace(graft_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) m->nodes[i].inplace = 0;
    if (!m->inplace) return;
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *a = &m->nodes[i];
        if (a->fused) { /* the group's other members do not run on their own */
            i += a->fused;
            continue;
        }
        if (!a->layer->vtbl->inplace_ok || a->n_inputs != 1) continue;
        int j = a->inputs[0];
        if (j == GRAFT_INPUT_NODE || j == m->override_node) continue;
        const graftNode *p = &m->nodes[j];
        if (!p->layer->vtbl->backward_ignores_output || p->consumers != 1) continue;
        if (m->override_node >= 0 && !p->upstream) continue; /* p does not run */
        a->inplace = 1;
    }
}

/* Runs node n (not fused) forward: in place when planned so. */
static int run_node(graft_model *m, graftNode *n, const graft_tensor *x, const graft_tensor **y,
                    const char *func)
{
    const graft_tensor *const *ins = gather_inputs(m, n, x);
    int st = n->inplace ? graftLayerForwardInPlace(n->layer, ins, y)
                        : graft_layer_forward(n->layer, n->n_inputs, ins, y);
    return st == GRAFT_OK ? st : wrap_layer_error(m, st, func, n->name, n->layer);
}

/* Runs the group that starts at conv2d node i (nodes i to i + fused);
 * *y receives the group's last output. */
static int run_fused(graft_model *m, int i, const graft_tensor *x, const graft_tensor **y,
                     const char *func)
{
    graftNode *c = &m->nodes[i], *bn = &m->nodes[i + 1], *end = &m->nodes[i + c->fused];
    const graft_tensor *in = gather_inputs(m, c, x)[0];
    graftEpilogue ep = {NULL, NULL, GRAFT_EPI_NONE, 0.0f, 0.0f};
    int st = graftBatchNormFold(bn->layer, &ep.scale, &ep.shift);
    if (st != GRAFT_OK) return wrap_layer_error(m, st, func, bn->name, bn->layer);
    if (end != bn) graftActivationClamp(end->layer, &ep.act, &ep.lo, &ep.hi);
    graft_layer *out_layer = end->layer;
    graftShape os = out_layer->out_shape;
    os.dims[0] = in->dims[0];
    for (int k = 0; k <= c->fused; k++) m->nodes[i + k].layer->forward_done = 0;
    st = graftLayerOutputEnsure(out_layer, os.ndim, os.dims);
    if (st != GRAFT_OK) return wrap_layer_error(m, st, func, end->name, out_layer);
    st = graftConv2dForwardFused(c->layer, in, out_layer->output, &ep);
    if (st != GRAFT_OK) return wrap_layer_error(m, st, func, c->name, c->layer);
    for (int k = 0; k <= c->fused; k++) {
        graft_layer *l = m->nodes[i + k].layer;
        l->forward_calls++;
        l->forward_batch = in->dims[0];
    }
    out_layer->forward_done = 1;
    *y = out_layer->output;
    return GRAFT_OK;
}

/* GRAFT_E_SHAPE, named func, unless x has the shape the next forward takes
 * (the model input's, or the cached node's while a feature cache runs). */
static int check_input_shape(graft_model *m, const graft_tensor *x, const char *func)
{
    const graftShape *s = m->override_node >= 0 ? &m->nodes[m->override_node].layer->out_shape
                                                 : &m->input_shape;
    int ok = x->ndim == s->ndim;
    for (int d = 1; ok && d < s->ndim; d++) ok = x->dims[d] == s->dims[d];
    if (!ok) {
        char got[128], want[128];
        graftShapeString(x->ndim, x->dims, got, sizeof got);
        graftShape w = *s;
        w.dims[0] = x->ndim > 0 ? x->dims[0] : 1;
        graftShapeString(w.ndim, w.dims, want, sizeof want);
        return graftError(m->ctx, GRAFT_E_SHAPE, func,
                          "the input has shape %s, the model takes %s (batch first)", got, want);
    }
    /* Fused groups run without check_inputs() (layer.c): bound the batch here. */
    GRAFT_RETURN_IF_AT(x->dims[0] > GRAFT_LAYER_MAX_BATCH, m->ctx, GRAFT_E_SHAPE, func,
                       "the input has a batch of %lld samples, more than the %d one call takes",
                       (long long)x->dims[0], (int)GRAFT_LAYER_MAX_BATCH);
    return GRAFT_OK;
}

int graftModelCheckInput(graft_model *m, const graft_tensor *x, const char *func)
{
    GRAFT_RETURN_IF_AT(m->n_nodes == 0, m->ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_FORWARD_IF_ERROR(check_input_shape(m, x, func));
    if (!m->ctx->check_inputs) return GRAFT_OK;
    const size_t bad = graftFirstNonFinite(x->data, x->numel);
    if (bad == x->numel) return GRAFT_OK;
    const size_t per = x->numel / (size_t)(x->dims[0] > 0 ? x->dims[0] : 1);
    return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                      "input sample %zu holds %s at element %zu; inputs must be finite "
                      "(GRAFT_CTX_CHECK_INPUTS)",
                      bad / per, graftNonFiniteName(x->data[bad]), bad % per);
}

/* GRAFT_E_STATE, named func, for a model whose parameters are another's
 * (GRAFT_CLONE_SHARE_WEIGHTS) in training mode: training would change the
 * other model's parameters and batch-norm statistics. */
static int check_may_train(const graft_model *m, const char *func)
{
    GRAFT_RETURN_IF_AT(m->weights_owner && m->training != 0, m->ctx, GRAFT_E_STATE, func,
                       "the model shares its weights with the model it was cloned from "
                       "(GRAFT_CLONE_SHARE_WEIGHTS): it runs inference only; clone it with "
                       "flags 0 to train a copy");
    return GRAFT_OK;
}

int graftModelForward(graft_model *m, const graft_tensor *x, const graft_tensor **out)
{
    const char *func = "graft_model_forward";
    if (m->n_nodes == 0) return graftError(m->ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_FORWARD_IF_ERROR(check_may_train(m, func));
    GRAFT_FORWARD_IF_ERROR(check_input_shape(m, x, func));
    const graft_tensor *y = NULL;
    plan_fusion(m, m->n_nodes - 1);
    plan_inplace(m);
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *n = &m->nodes[i];
        if (m->override_node >= 0 && !n->upstream) continue; /* cached trunk */
        if (n->fused) {
            int st = run_fused(m, i, x, &y, func);
            if (st != GRAFT_OK) return st;
            i += n->fused;
            continue;
        }
        int st = run_node(m, n, x, &y, func);
        if (st != GRAFT_OK) return st;
    }
    *out = y;
    return GRAFT_OK;
}

/* ---- backward and its gradient buffers (the rules are in model.h) ---------- */

/* Makes the pool's arrays hold one entry per node input. Allocates only when
 * the graph has grown since the last pass. */
static int pool_reserve(graft_model *m, int slots, const char *func)
{
    graftGradPool *p = &m->grads;
    if (slots <= p->cap) return GRAFT_OK;
    graft_tensor **bufs = graftCalloc(m->ctx, (size_t)slots, sizeof *bufs);
    size_t *need = graftCalloc(m->ctx, (size_t)slots, sizeof *need);
    unsigned char *busy = graftCalloc(m->ctx, (size_t)slots, sizeof *busy);
    int *slot = graftCalloc(m->ctx, (size_t)slots, sizeof *slot);
    if (!bufs || !need || !busy || !slot) {
        graftFree(m->ctx, bufs);
        graftFree(m->ctx, need);
        graftFree(m->ctx, busy);
        graftFree(m->ctx, slot);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate the gradient plan");
    }
    if (p->cap) memcpy(bufs, p->bufs, (size_t)p->cap * sizeof *bufs); /* keep the buffers */
    graftFree(m->ctx, p->bufs);
    graftFree(m->ctx, p->need);
    graftFree(m->ctx, p->busy);
    graftFree(m->ctx, p->slot);
    p->bufs = bufs;
    p->need = need;
    p->busy = busy;
    p->slot = slot;
    p->cap = slots;
    return GRAFT_OK;
}

/* Planning: takes a free buffer for a gradient of size floats: the smallest
 * free one that holds it, else the largest free one (which grows), else a
 * new one. */
static int pool_take(graftGradPool *p, size_t size)
{
    int fit = -1, largest = -1;
    for (int b = 0; b < p->n; b++) {
        if (p->busy[b]) continue;
        if (p->need[b] >= size && (fit < 0 || p->need[b] < p->need[fit])) fit = b;
        if (largest < 0 || p->need[b] > p->need[largest]) largest = b;
    }
    int b = fit >= 0 ? fit : largest;
    if (b < 0) {
        b = p->n++;
        p->need[b] = 0;
    }
    if (p->need[b] < size) p->need[b] = size;
    p->busy[b] = 1;
    return b;
}

/* Plans the gradient buffers of a backward pass from node out (the last) at
 * the given batch size: fills p->slot, p->n, p->need and every node's
 * grad_buf, visiting the nodes as graftModelBackward() does. */
static void plan_grads(graft_model *m, int out, int slots, int64_t batch)
{
    graftGradPool *p = &m->grads;
    p->n = 0;
    for (int i = 0; i <= out; i++) m->nodes[i].grad_buf = GRAFT_GRAD_NONE;
    m->nodes[out].grad_buf = GRAFT_GRAD_DOUT;
    int slot = slots;
    for (int i = out; i >= 0; i--) {
        graftNode *n = &m->nodes[i];
        slot -= n->n_inputs;
        for (int k = 0; k < n->n_inputs; k++) p->slot[slot + k] = -1;
        if (n->grad_buf == GRAFT_GRAD_NONE || !n->upstream) continue;
        for (int k = 0; k < n->n_inputs; k++) {
            int j = n->inputs[k];
            if (j == GRAFT_INPUT_NODE || !m->nodes[j].upstream) continue;
            size_t size = (size_t)(batch * graftShapeSampleNumel(&m->nodes[j].layer->out_shape));
            p->slot[slot + k] = pool_take(p, size);
        }
        /* after the node's backward: first gradients stay as their node's,
         * further ones are added into it and freed; then the node's own */
        for (int k = 0; k < n->n_inputs; k++) {
            int b = p->slot[slot + k];
            if (b < 0) continue;
            graftNode *src = &m->nodes[n->inputs[k]];
            if (src->grad_buf == GRAFT_GRAD_NONE) src->grad_buf = b;
            else p->busy[b] = 0;
        }
        if (n->grad_buf >= 0) p->busy[n->grad_buf] = 0;
    }
}

int graftModelBackward(graft_model *m, const graft_tensor *x, const graft_tensor *dout)
{
    const char *func = "graft_model_backward";
    int out = graftModelOutputNode(m);
    if (out < 0) return graftError(m->ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_FORWARD_IF_ERROR(check_may_train(m, func));
    graftModelMarkUpstream(m);
    graftGradPool *p = &m->grads;
    int slots = 0;
    for (int i = 0; i <= out; i++) slots += m->nodes[i].n_inputs;
    GRAFT_FORWARD_IF_ERROR(pool_reserve(m, slots, func));
    plan_grads(m, out, slots, dout->dims[0]);
    for (int b = 0; b < p->n; b++) {
        if (p->bufs[b] && p->bufs[b]->capacity >= p->need[b]) continue;
        /* freed first: the old contents are not needed, and the peak stays low */
        graft_tensor_free(p->bufs[b]);
        p->bufs[b] = NULL;
        const int64_t dims[1] = {(int64_t)p->need[b]};
        if (graftTensorNew(m->ctx, 1, dims, &p->bufs[b]) != GRAFT_OK)
            return graftError(m->ctx, GRAFT_E_NOMEM, func,
                              "cannot allocate a gradient buffer of %zu floats", p->need[b]);
    }

    for (int i = 0; i <= out; i++) m->nodes[i].grad = NULL;
    m->nodes[out].grad = dout;
    int slot = slots;
    for (int i = out; i >= 0; i--) {
        graftNode *n = &m->nodes[i];
        slot -= n->n_inputs;
        if (n->grad_buf == GRAFT_GRAD_NONE || !n->upstream) continue;
        const graft_tensor *const *ins = gather_inputs(m, n, x);
        graft_tensor **din = m->scratch_grads;
        for (int k = 0; k < n->n_inputs; k++) {
            int b = p->slot[slot + k];
            din[k] = NULL;
            if (b < 0) continue;
            int st = graftTensorResize(p->bufs[b], ins[k]->ndim, ins[k]->dims); /* fits */
            if (st != GRAFT_OK) return st;
            din[k] = p->bufs[b];
        }
        n->layer->need_param_grad = n->trainable;
        int st = graftLayerBackwardInto(n->layer, n->n_inputs, ins, n->grad, din);
        if (st != GRAFT_OK) return wrap_layer_error(m, st, func, n->name, n->layer);
        for (int k = 0; k < n->n_inputs; k++) {
            if (!din[k]) continue;
            graftNode *src = &m->nodes[n->inputs[k]];
            const graft_tensor *g = din[k];
            if (src->grad_buf == p->slot[slot + k]) {
                src->grad = g; /* the first gradient, written in place */
            } else {
                float *acc = p->bufs[src->grad_buf]->data;
                for (size_t e = 0; e < g->numel; e++) acc[e] += g->data[e];
            }
        }
        n->grad = NULL; /* its buffer goes back to the pool */
    }
    return GRAFT_OK;
}

int graftModelForwardTrunk(graft_model *m, const graft_tensor *x, int last,
                           const graft_tensor **out)
{
    const graft_tensor *y = NULL;
    GRAFT_FORWARD_IF_ERROR(check_may_train(m, "graft_model_fit"));
    plan_fusion(m, last);
    plan_inplace(m);
    for (int i = 0; i <= last; i++) {
        graftNode *n = &m->nodes[i];
        if (n->upstream) continue;
        if (n->fused) {
            int st = run_fused(m, i, x, &y, "graft_model_fit");
            if (st != GRAFT_OK) return st;
            i += n->fused;
            continue;
        }
        int st = run_node(m, n, x, &y, "graft_model_fit");
        if (st != GRAFT_OK) return st;
    }
    *out = m->nodes[last].layer->output;
    return GRAFT_OK;
}

void graftModelMarkUpstream(graft_model *m)
{
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *n = &m->nodes[i];
        n->upstream = n->trainable && layer_param_scalars(n->layer) > 0;
        for (int k = 0; k < n->n_inputs && !n->upstream; k++)
            n->upstream = n->inputs[k] != GRAFT_INPUT_NODE && m->nodes[n->inputs[k]].upstream;
    }
}

void graftModelForEachParam(graft_model *m, graftParamVisitor fn, void *arg)
{
    for (int i = 0; i < m->n_nodes; i++) {
        graft_layer *l = m->nodes[i].layer;
        for (int k = 0; k < l->n_params; k++)
            if (l->params[k].grad)
                fn(arg, i, k, l->params[k].value, l->params[k].grad, m->nodes[i].trainable);
    }
}

GRAFT_API int graft_model_forward(graft_model *m, const graft_tensor *input,
                                  const graft_tensor **output)
{
    graftClearError(m ? m->ctx : NULL);
    if (output) *output = NULL;
    GRAFT_RETURN_IF(!m || !input || !output, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, input and output must not be NULL");
    GRAFT_FORWARD_IF_ERROR(graftModelCheckInput(m, input, __func__));
    graftModelSetMode(m, 0);
    return graftModelForward(m, input, output);
}

/* ---- executors: concurrent inference on one model (the rule is in model.h) ---- */

struct graftExec {
    graft_model view;          /* first: graftModelInferEnd() finds the executor from it */
    uint64_t src_rev;          /* the model's graph_rev then */
    const graftNode *src_nodes; /* the model's node array the shadows copy */
    graft_layer **src_layers;  /* view.n_nodes: the model's layer of each node */
    const float **src_data;    /* GRAFT_LAYER_MAX_PARAMS per node: its parameters' data */
    int busy;
    graftExec *next;
};

/* Frees the executor's shadows and arrays (view.n_nodes becomes 0). */
static void exec_clear(graft_ctx *ctx, graftExec *e)
{
    for (int i = 0; i < e->view.n_nodes; i++) graft_layer_free(e->view.nodes[i].layer);
    graftFree(ctx, e->view.nodes);
    graftFree(ctx, (void *)e->view.scratch_inputs);
    graftFree(ctx, e->src_layers);
    graftFree(ctx, (void *)e->src_data);
    e->view.nodes = NULL;
    e->view.scratch_inputs = NULL;
    e->src_layers = NULL;
    e->src_data = NULL;
    e->view.n_nodes = e->view.cap_nodes = e->view.scratch_cap = 0;
    e->src_nodes = NULL;
}

static void exec_pool_free(graft_ctx *ctx, graftExecPool *pool)
{
    if (!pool) return;
    for (graftExec *e = pool->execs, *next; e; e = next) {
        next = e->next;
        exec_clear(ctx, e);
        graftFree(ctx, e->view.scratch.data);
        graftFree(ctx, e);
    }
    pthread_mutex_destroy(&pool->lock);
    graftFree(ctx, pool);
}

/* 1 when e's shadows were made from m as it is now. Reads only what calls
 * that change the model write, never what a running forward writes. */
static int exec_current(const graftExec *e, const graft_model *m)
{
    if (e->src_rev != m->graph_rev || e->src_nodes != m->nodes || e->view.n_nodes != m->n_nodes)
        return 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i], *v = &e->view.nodes[i];
        const graft_layer *l = n->layer;
        if (l != e->src_layers[i] || n->inputs != v->inputs || n->n_inputs != v->n_inputs ||
            n->consumers != v->consumers || l->n_params != v->layer->n_params)
            return 0;
        for (int k = 0; k < l->n_params; k++)
            if (l->params[k].value != v->layer->params[k].value ||
                l->params[k].value->data != e->src_data[i * GRAFT_LAYER_MAX_PARAMS + k])
                return 0;
    }
    return 1;
}

/* (Re)makes e's shadows from m. */
static int exec_build(graftExec *e, graft_model *m, const char *func)
{
    graft_ctx *ctx = m->ctx;
    exec_clear(ctx, e);
    int n = m->n_nodes, slots = m->scratch_cap > 0 ? m->scratch_cap : 1;
    e->view.nodes = graftCalloc(ctx, (size_t)(n > 0 ? n : 1), sizeof *e->view.nodes);
    e->view.scratch_inputs = graftCalloc(ctx, (size_t)slots, sizeof *e->view.scratch_inputs);
    e->src_layers = graftCalloc(ctx, (size_t)(n > 0 ? n : 1), sizeof *e->src_layers);
    e->src_data = graftCalloc(ctx, (size_t)(n > 0 ? n : 1) * GRAFT_LAYER_MAX_PARAMS,
                              sizeof *e->src_data);
    if (!e->view.nodes || !e->view.scratch_inputs || !e->src_layers || !e->src_data) {
        exec_clear(ctx, e);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate an inference executor");
    }
    e->view.cap_nodes = n;
    e->view.scratch_cap = slots;
    for (int i = 0; i < n; i++) {
        const graftNode *src = &m->nodes[i];
        graft_layer *l;
        int st = graftLayerCopy(src->layer, 1, func, &l);
        if (st != GRAFT_OK) {
            exec_clear(ctx, e);
            return st;
        }
        /* an inference-only copy: nothing it runs writes the parameters */
        l->training = 0;
        if (l->vtbl->set_mode) l->vtbl->set_mode(l, 0);
        l->in_model = 1;
        l->need_param_grad = 0;
        l->scratch = &e->view.scratch;
        graftNode *v = &e->view.nodes[i]; /* zeroed; the plan's fields are its own */
        v->name = src->name; /* name and inputs stay the model's (read only) */
        v->layer = l;
        v->n_inputs = src->n_inputs;
        v->inputs = src->inputs;
        v->trainable = src->trainable;
        v->lr_scale = src->lr_scale;
        v->consumers = src->consumers;
        e->src_layers[i] = src->layer;
        for (int k = 0; k < src->layer->n_params; k++)
            e->src_data[i * GRAFT_LAYER_MAX_PARAMS + k] = src->layer->params[k].value->data;
        e->view.n_nodes = i + 1;
    }
    e->src_nodes = m->nodes;
    e->src_rev = m->graph_rev;
    return GRAFT_OK;
}

int graftModelInferBegin(graft_model *m, const char *func, graft_model **run)
{
    graftExecPool *pool = m->pool;
    graftExec *e = NULL;
    *run = m;
    if (!pool) return GRAFT_OK; /* an executor's view: never shared */
    pthread_mutex_lock(&pool->lock);
    if (!pool->owner_busy) {
        pool->owner_busy = 1;
        pthread_mutex_unlock(&pool->lock);
        return GRAFT_OK;
    }
    for (e = pool->execs; e && e->busy; e = e->next) {}
    if (e) e->busy = 1;
    pthread_mutex_unlock(&pool->lock);
    if (!e) { /* all busy: one more, made outside the lock */
        e = graftCalloc(m->ctx, 1, sizeof *e);
        if (!e)
            return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate an inference executor");
        e->busy = 1;
        pthread_mutex_lock(&pool->lock);
        e->next = pool->execs;
        pool->execs = e;
        pthread_mutex_unlock(&pool->lock);
    }
    /* what the forward reads from the model struct besides the nodes */
    graft_model *v = &e->view;
    v->ctx = m->ctx;
    v->input_shape = m->input_shape;
    v->seed = m->seed;
    v->training = 0;
    v->override_node = -2;
    v->override_tensor = NULL;
    v->fusion = m->fusion;
    v->inplace = m->inplace;
    v->frozen_bn_trains = m->frozen_bn_trains;
    if (!exec_current(e, m)) {
        int st = exec_build(e, m, func);
        if (st != GRAFT_OK) {
            graftModelInferEnd(m, v);
            return st;
        }
    }
    *run = v;
    return GRAFT_OK;
}

void graftModelInferEnd(graft_model *m, graft_model *run)
{
    graftExecPool *pool = m->pool;
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    if (run == m) pool->owner_busy = 0;
    else ((graftExec *)(void *)run)->busy = 0;
    pthread_mutex_unlock(&pool->lock);
}
