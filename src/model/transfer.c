/*
 * transfer.c - what makes a pretrained model a starting point: freezing and
 * unfreezing layers, learning-rate multipliers, scheduled unfreezing,
 * cutting the graph and replacing its head, model options, and loading
 * weights by name and shape with a report.
 *
 * The public layer of transfer learning: it uses the graph (model.c), model
 * files (model_io.c, to load weights by name) and the trainable flags and
 * unfreeze schedule (freeze.c), and nothing below calls into it.
 */
#include "model.h"
#include "core/options.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_range(const graft_model *m, int first, int last, const char *func)
{
    GRAFT_RETURN_IF_AT(!m, NULL, GRAFT_E_INVALID_ARG, func, "model is NULL");
    GRAFT_RETURN_IF_AT(first < 0 || last < first || last >= m->n_nodes, m->ctx, GRAFT_E_RANGE,
                       func, "layer range [%d, %d] is not within the model's %d layers", first,
                       last, m->n_nodes);
    return GRAFT_OK;
}

static int check_flag(graft_ctx *ctx, int v, const char *what, const char *func)
{
    GRAFT_RETURN_IF_AT(v != 0 && v != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "%s is %d, must be 0 or 1", what, v);
    return GRAFT_OK;
}

GRAFT_API int graft_model_set_trainable(graft_model *m, int first, int last, int trainable)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_FORWARD_IF_ERROR(check_range(m, first, last, __func__));
    GRAFT_FORWARD_IF_ERROR(check_flag(m->ctx, trainable, "trainable", __func__));
    graftModelSetTrainableRange(m, first, last, trainable);
    return GRAFT_OK;
}

static int index_of(const graft_model *m, const char *name, const char *func)
{
    GRAFT_RETURN_IF_AT(!m || !name, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG, func,
                       "model and name must not be NULL");
    int i = graftModelFindNode(m, name);
    if (i >= 0) return i;
    return graftError(m->ctx, GRAFT_E_NOT_FOUND, func, "no layer named \"%s\"", name);
}

GRAFT_API int graft_model_set_trainable_by_name(graft_model *m, const char *name, int trainable)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, name, __func__);
    if (i < 0) return i;
    GRAFT_FORWARD_IF_ERROR(check_flag(m->ctx, trainable, "trainable", __func__));
    graftModelSetTrainableRange(m, i, i, trainable);
    return GRAFT_OK;
}

GRAFT_API int graft_model_freeze_through(graft_model *m, const char *name)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, name, __func__);
    if (i < 0) return i;
    graftModelSetTrainableRange(m, 0, i, 0);
    if (i + 1 < m->n_nodes) graftModelSetTrainableRange(m, i + 1, m->n_nodes - 1, 1);
    return GRAFT_OK;
}

GRAFT_API int graft_model_freeze_all_but_last(graft_model *m, int n)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    GRAFT_RETURN_IF(n < 0 || n > m->n_nodes, m->ctx, GRAFT_E_RANGE,
                    "n is %d, must be 0 to %d (the layers)", n, m->n_nodes);
    int split = m->n_nodes - n;
    if (split > 0) graftModelSetTrainableRange(m, 0, split - 1, 0);
    if (n > 0) graftModelSetTrainableRange(m, split, m->n_nodes - 1, 1);
    return GRAFT_OK;
}

GRAFT_API int graft_model_set_lr_scale(graft_model *m, int first, int last, float scale)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_FORWARD_IF_ERROR(check_range(m, first, last, __func__));
    GRAFT_RETURN_IF(!(scale >= 0.0f) || !isfinite(scale), m->ctx, GRAFT_E_RANGE,
                    "scale is %g, must be finite and >= 0", (double)scale);
    for (int i = first; i <= last; i++) m->nodes[i].lr_scale = scale;
    return GRAFT_OK;
}

GRAFT_API float graft_model_layer_lr_scale(const graft_model *m, int i)
{
    return m && i >= 0 && i < m->n_nodes ? m->nodes[i].lr_scale : NAN;
}

/* ---- options ---------------------------------------------------------------- */

GRAFT_API int graft_model_set_option(graft_model *m, int key, int64_t value)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    switch (key) {
    case GRAFT_MODEL_FROZEN_BN_TRAINS:
        GRAFT_RETURN_IF(value != 0 && value != 1, m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_FROZEN_BN_TRAINS takes 0 or 1, not %lld", (long long)value);
        m->frozen_bn_trains = (int)value;
        m->training = -1;
        return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE:
        GRAFT_RETURN_IF(value != 0 && value != 1, m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_FEATURE_CACHE takes 0 or 1, not %lld", (long long)value);
        m->feature_cache = (int)value;
        return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE_MB:
        GRAFT_RETURN_IF(value < 0 || value > ((int64_t)1 << 30), m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_FEATURE_CACHE_MB takes 0 to 2^30, not %lld",
                        (long long)value);
        m->feature_cache_mb = value;
        return GRAFT_OK;
    case GRAFT_MODEL_TASK:
        GRAFT_RETURN_IF(value < GRAFT_TASK_CLASSIFICATION || value > GRAFT_TASK_REGRESSION,
                        m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_TASK takes GRAFT_TASK_CLASSIFICATION (0), "
                        "GRAFT_TASK_MULTI_LABEL (1) or GRAFT_TASK_REGRESSION (2), not %lld",
                        (long long)value);
        m->task = (int)value;
        return GRAFT_OK;
    default:
        return graftError(m->ctx, GRAFT_E_NOT_FOUND, __func__, "unknown option key %d", key);
    }
}

GRAFT_API int graft_model_get_option(const graft_model *m, int key, int64_t *value)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !value, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and value must not be NULL");
    switch (key) {
    case GRAFT_MODEL_FROZEN_BN_TRAINS: *value = m->frozen_bn_trains; return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE: *value = m->feature_cache; return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE_MB: *value = m->feature_cache_mb; return GRAFT_OK;
    case GRAFT_MODEL_TASK: *value = m->task; return GRAFT_OK;
    default:
        return graftError(m->ctx, GRAFT_E_NOT_FOUND, __func__, "unknown option key %d", key);
    }
}

/* ---- scheduled unfreezing --------------------------------------------------------- */

GRAFT_API int graft_model_schedule_unfreeze(graft_model *m, const char *from, int epoch,
                                            float lr_scale)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, from, __func__);
    if (i < 0) return i;
    GRAFT_RETURN_IF(epoch < 0, m->ctx, GRAFT_E_RANGE, "epoch is %d, must be >= 0", epoch);
    /* graft_model_fit() applies events at the start of their epoch, and the
     * next epoch it runs is epochs_done: an earlier one would never fire. */
    GRAFT_RETURN_IF(epoch < m->epochs_done, m->ctx, GRAFT_E_INVALID_ARG,
                    "epoch %d has passed: the model has done %lld epochs (epochs_done), so "
                    "an unfreeze there would never happen; epochs count over the model's whole "
                    "training: give epochs_done + n for n epochs from now", epoch,
                    (long long)m->epochs_done);
    GRAFT_RETURN_IF(!(lr_scale >= 0.0f) || !isfinite(lr_scale), m->ctx, GRAFT_E_RANGE,
                    "lr_scale is %g, must be finite and >= 0", (double)lr_scale);
    return graftModelAddUnfreeze(m, from, epoch, lr_scale, __func__);
}

GRAFT_API int graft_model_clear_unfreeze_schedule(graft_model *m)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    graftModelClearUnfreeze(m);
    return GRAFT_OK;
}

/* ---- surgery ---------------------------------------------------------------------- */

/* Keeps the nodes keep[i] != 0 (a set closed under "is read by a kept node"),
 * renumbering inputs, freeing the others. */
static void keep_nodes(graft_model *m, const unsigned char *keep, int *map)
{
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *node = &m->nodes[i];
        if (!keep[i]) {
            graft_layer_free(node->layer);
            graftFree(m->ctx, node->name);
            graftFree(m->ctx, node->inputs);
            continue;
        }
        map[i] = n;
        m->nodes[n++] = *node;
    }
    for (int i = 0; i < n; i++) {
        graftNode *node = &m->nodes[i];
        node->consumers = 0;
        for (int k = 0; k < node->n_inputs; k++)
            if (node->inputs[k] != GRAFT_INPUT_NODE) node->inputs[k] = map[node->inputs[k]];
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            if (m->nodes[i].inputs[k] != GRAFT_INPUT_NODE) m->nodes[m->nodes[i].inputs[k]].consumers++;
    m->n_nodes = n;
    m->training = -1;
    if (m->n_classes_named && m->n_classes_named != graftModelOutputSize(m))
        graftModelSetClassNames(m, 0, NULL, NULL);
}

/* Sets keep[i] for node last and every node it reads, directly or not;
 * returns how many. */
static int mark_ancestors(const graft_model *m, int last, unsigned char *keep)
{
    int n = 0;
    keep[last] = 1;
    for (int i = last; i >= 0; i--) {
        if (!keep[i]) continue;
        n++;
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            if (m->nodes[i].inputs[k] != GRAFT_INPUT_NODE) keep[m->nodes[i].inputs[k]] = 1;
    }
    return n;
}

/* Keeps node last and every node it reads, directly or not. */
static int cut_after(graft_model *m, int last, const char *func)
{
    unsigned char *keep = graftCalloc(m->ctx, (size_t)m->n_nodes, 1);
    int *map = graftCalloc(m->ctx, (size_t)m->n_nodes, sizeof *map);
    if (!keep || !map) {
        graftFree(m->ctx, keep);
        graftFree(m->ctx, map);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate the cut");
    }
    mark_ancestors(m, last, keep);
    keep_nodes(m, keep, map);
    graftFree(m->ctx, keep);
    graftFree(m->ctx, map);
    return GRAFT_OK;
}

GRAFT_API int graft_model_cut(graft_model *m, const char *name)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, name, __func__);
    if (i < 0) return i;
    GRAFT_FORWARD_IF_ERROR(graftModelCheckNotShared(m, __func__));
    return cut_after(m, i, __func__);
}

/* ---- replacing the head ------------------------------------------------------------ */

static int is_kind(const graft_model *m, int i, const graftLayerVtbl *v)
{
    return m->nodes[i].layer->vtbl == v;
}

/* The node i's only input when i has one input, a layer read by i alone;
 * else -1. */
static int sole_reader_input(const graft_model *m, int i)
{
    if (m->nodes[i].n_inputs != 1) return -1;
    int j = m->nodes[i].inputs[0];
    return j != GRAFT_INPUT_NODE && m->nodes[j].consumers == 1 ? j : -1;
}

/* Finds, from the graph alone, what replace_head keeps (see graft.h): *trunk
 * receives the node the new head reads, and *cut 1 when the nodes after it
 * (the old head) go, 0 when the head is appended to the output. */
static int find_head(const graft_model *m, int *trunk, int *cut, const char *func)
{
    int out = m->n_nodes - 1, c = out, r = out, q;
    /* Reshapes after the classifier are part of the head: an ONNX graph
     * without a batch axis gives its (1, classes) back through one. */
    while ((is_kind(m, r, &graftReshapeVtbl) || is_kind(m, r, &graftFlattenVtbl)) &&
           (q = sole_reader_input(m, r)) >= 0)
        r = q;
    if (r != out && (is_kind(m, r, &graftDenseVtbl) || is_kind(m, r, &graftSoftmaxVtbl))) c = r;
    if (is_kind(m, c, &graftSoftmaxVtbl) && m->nodes[c].n_inputs == 1 &&
        m->nodes[c].inputs[0] != GRAFT_INPUT_NODE &&
        is_kind(m, m->nodes[c].inputs[0], &graftDenseVtbl))
        c = m->nodes[c].inputs[0];
    int64_t last_axis = 0;
    if (is_kind(m, c, &graftDenseVtbl) && graftLayerAttrInts(m->nodes[c].layer, "last_axis",
                                                              &last_axis, 1) == 1 &&
        last_axis && m->nodes[c].layer->built && m->nodes[c].layer->in_shapes[0].ndim > 2)
        return graftError(m->ctx, GRAFT_E_STATE, func,
                          "the model's output \"%s\" comes from \"%s\", a dense layer over the "
                          "last axis of a (N, ..., F) input, which gives one output per position "
                          "rather than per sample; nothing was changed: cut the model first "
                          "(graft_model_cut()) where its features end",
                          m->nodes[out].name, m->nodes[c].name);
    if (is_kind(m, c, &graftDenseVtbl)) {
        /* The classifier c; before it, what a head of this function's shape
         * has: a dropout, and a hidden dense layer with its relu. */
        if (m->nodes[c].n_inputs != 1 || m->nodes[c].inputs[0] == GRAFT_INPUT_NODE)
            return graftError(m->ctx, GRAFT_E_STATE, func,
                              "the classifier \"%s\" reads the model input: nothing would remain",
                              m->nodes[c].name);
        int first = c, p = sole_reader_input(m, c);
        if (p >= 0 && is_kind(m, p, &graftDropoutVtbl) && m->nodes[p].n_inputs == 1 &&
            m->nodes[p].inputs[0] != GRAFT_INPUT_NODE) {
            first = p;
            p = sole_reader_input(m, p);
        }
        if (p >= 0 && is_kind(m, p, &graftReluVtbl)) {
            int h = sole_reader_input(m, p);
            if (h >= 0 && is_kind(m, h, &graftDenseVtbl) && m->nodes[h].n_inputs == 1 &&
                m->nodes[h].inputs[0] != GRAFT_INPUT_NODE)
                first = h;
        }
        *trunk = m->nodes[first].inputs[0];
        *cut = 1;
        return GRAFT_OK;
    }
    const graftNode *o = &m->nodes[out];
    for (int i = 0; i < m->n_nodes; i++)
        if (is_kind(m, i, &graftDenseVtbl))
            return graftError(m->ctx, GRAFT_E_STATE, func,
                              "the model's output \"%s\" (%s) is not a classifier (a dense "
                              "layer, or a softmax reading one), so where its head starts is not "
                              "known; nothing was changed: cut the model first (graft_model_cut()) "
                              "at its classifier's dense layer or before its head",
                              o->name, o->layer->vtbl->kind);
    if (o->layer->vtbl == &graftSoftmaxVtbl || o->layer->vtbl == &graftAddVtbl ||
        o->layer->vtbl == &graftMulVtbl || o->layer->vtbl == &graftScaleShiftVtbl)
        return graftError(m->ctx, GRAFT_E_STATE, func,
                          "the model has no dense layer and its output \"%s\" (%s) ends a "
                          "classifier rather than giving features; nothing was changed: cut the "
                          "model before its classifier first (graft_model_cut())",
                          o->name, o->layer->vtbl->kind);
    *trunk = out; /* a feature extractor: the head is appended */
    *cut = 0;
    return GRAFT_OK;
}

/* Rewrites a failed layer call's message as "func(): new layer "name" (kind):
 * cause". */
static int wrap_new_layer_error(graft_ctx *ctx, int st, const char *func, const char *name,
                                const char *kind)
{
    char cause[GRAFT_ERRMSG_SIZE];
    const char *msg = ctx->errmsg, *p = strstr(msg, "(): ");
    snprintf(cause, sizeof cause, "%s", p ? p + 4 : msg);
    return graftError(ctx, st, func, "new layer \"%s\" (%s): %s", name, kind, cause);
}

#define HEAD_MAX_LAYERS 4

/* The new head, made in full before the model changes. */
typedef struct new_head {
    int n;
    const char *names[HEAD_MAX_LAYERS];
    graft_layer *layers[HEAD_MAX_LAYERS];
    char *name_copies[HEAD_MAX_LAYERS];
    int *inputs[HEAD_MAX_LAYERS];
    unsigned char *keep; /* nodes kept by the cut (NULL: no cut) */
    int *map;
    char **class_names;
    int n_class_names;
} new_head;

static void new_head_free(graft_ctx *ctx, new_head *h)
{
    for (int j = 0; j < h->n; j++) {
        graft_layer_free(h->layers[j]);
        graftFree(ctx, h->name_copies[j]);
        graftFree(ctx, h->inputs[j]);
    }
    graftFree(ctx, h->keep);
    graftFree(ctx, h->map);
    graftModelFreeClassNames(ctx, h->n_class_names, h->class_names);
}

/* Makes every layer and allocation of the new head; the model is not
 * changed. n_kept: the nodes that stay; shape: the trunk's output shape. */
static int make_head(graft_model *m, int n_classes, const graft_head_spec *hs, int n_kept,
                     const graftShape *trunk_shape, new_head *h, const char *func)
{
    graft_ctx *ctx = m->ctx;
    graftRng rng;
    graftRngSeed(&rng, hs->seed);
    uint64_t seed = m->seed; /* as graft_model_add() would with m->seed set to it */
    graftShape shape = *trunk_shape;
    int kinds[HEAD_MAX_LAYERS], n = 0;
    enum { HIDDEN, RELU, DROPOUT, FC };
    if (hs->hidden_units > 0) {
        kinds[n] = HIDDEN, h->names[n++] = "head/hidden";
        kinds[n] = RELU, h->names[n++] = "head/relu";
    }
    if (hs->dropout > 0.0f) kinds[n] = DROPOUT, h->names[n++] = "head/dropout";
    kinds[n] = FC, h->names[n++] = "head/fc";
    for (int j = 0; j < n; j++) {
        graft_layer *l = NULL;
        int st;
        const char *kind = kinds[j] == RELU ? "relu" : kinds[j] == DROPOUT ? "dropout" : "dense";
        switch (kinds[j]) {
        case HIDDEN:
            seed = graftRngNext(&rng);
            st = graft_layer_dense(ctx, hs->hidden_units, 1, &l);
            break;
        case RELU: st = graft_layer_relu(ctx, &l); break;
        case DROPOUT: st = graft_layer_dropout(ctx, hs->dropout, graftRngNext(&rng), &l); break;
        default:
            seed = graftRngNext(&rng);
            st = graft_layer_dense(ctx, n_classes, 1, &l);
            break;
        }
        if (st == GRAFT_OK) {
            h->layers[h->n++] = l;
            st = graftLayerBuildShapes(l, 1, &shape, graftModelLayerSeed(seed, n_kept + j),
                                       SIZE_MAX);
        }
        if (st != GRAFT_OK) return wrap_new_layer_error(ctx, st, func, h->names[j], kind);
        shape = l->out_shape;
    }
    for (int j = 0; j < n; j++) {
        h->name_copies[j] = graftStrdup(ctx, h->names[j]);
        h->inputs[j] = graftCalloc(ctx, 1, sizeof *h->inputs[j]);
        if (!h->name_copies[j] || !h->inputs[j])
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate layer \"%s\"",
                              h->names[j]);
    }
    GRAFT_FORWARD_IF_ERROR(graftModelReserve(m, n_kept + n, 1, func));
    if (hs->class_names) {
        GRAFT_FORWARD_IF_ERROR(
            graftModelCopyClassNames(ctx, n_classes, hs->class_names, func, &h->class_names));
        h->n_class_names = n_classes;
    }
    return GRAFT_OK;
}

/* The sizes graft_head_spec has had: 1.0. */
static const uint32_t head_spec_sizes[] = {(uint32_t)sizeof(graft_head_spec)};
static const graftOptionsKind head_spec_kind = {
    "spec", "GRAFT_HEAD_SPEC_INIT", head_spec_sizes, GRAFT_OPTIONS_COUNT(head_spec_sizes), 0, 0};

GRAFT_API int graft_model_replace_head(graft_model *m, int n_classes, const graft_head_spec *spec)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    GRAFT_FORWARD_IF_ERROR(graftModelCheckNotShared(m, func));
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    if (spec) {
        GRAFT_FORWARD_IF_ERROR(graftOptionsRead(m->ctx, func, &head_spec_kind, spec, &hs));
    }
    GRAFT_RETURN_IF(n_classes < 1, m->ctx, GRAFT_E_INVALID_ARG, "n_classes is %d, must be >= 1",
                    n_classes);
    GRAFT_RETURN_IF(hs.hidden_units < 0, m->ctx, GRAFT_E_INVALID_ARG,
                    "hidden_units is %d, must be >= 0", hs.hidden_units);
    GRAFT_RETURN_IF(!(hs.dropout >= 0.0f && hs.dropout < 1.0f), m->ctx, GRAFT_E_INVALID_ARG,
                    "dropout is %g, must be in [0, 1)", (double)hs.dropout);
    GRAFT_RETURN_IF(m->n_nodes == 0, m->ctx, GRAFT_E_STATE, "the model has no layers");
    if (hs.class_names) {
        for (int c = 0; c < n_classes; c++) {
            size_t len = hs.class_names[c] ? strlen(hs.class_names[c]) : 0;
            GRAFT_RETURN_IF(len < 1 || len > GRAFT_CLASS_NAME_MAX, m->ctx, GRAFT_E_INVALID_ARG,
                            "class_names[%d] must be 1 to %d bytes", c, GRAFT_CLASS_NAME_MAX);
        }
    }
    int trunk = -1, cut = 0;
    GRAFT_FORWARD_IF_ERROR(find_head(m, &trunk, &cut, func));

    /* Everything that can fail comes first; the model changes only after. */
    new_head h;
    memset(&h, 0, sizeof h);
    int n_kept = m->n_nodes, st = GRAFT_OK;
    if (cut) {
        h.keep = graftCalloc(m->ctx, (size_t)m->n_nodes, 1);
        h.map = graftCalloc(m->ctx, (size_t)m->n_nodes, sizeof *h.map);
        if (!h.keep || !h.map)
            st = graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate the cut");
        else
            n_kept = mark_ancestors(m, trunk, h.keep);
    }
    if (st == GRAFT_OK)
        st = make_head(m, n_classes, &hs, n_kept, &m->nodes[trunk].layer->out_shape, &h, func);
    for (int j = 0; st == GRAFT_OK && j < h.n; j++) {
        int i = graftModelFindNode(m, h.names[j]);
        if (i >= 0 && (!h.keep || h.keep[i]))
            st = graftError(m->ctx, GRAFT_E_STATE, func,
                            "the model keeps a layer named \"%s\" outside its head, the name of a "
                            "new layer; nothing was changed", h.names[j]);
    }
    if (st != GRAFT_OK) {
        new_head_free(m->ctx, &h);
        return st;
    }

    /* The swap, which cannot fail. */
    if (cut) {
        keep_nodes(m, h.keep, h.map);
        trunk = h.map[trunk];
    }
    for (int j = 0; j < h.n; j++) {
        h.inputs[j][0] = j == 0 ? trunk : m->n_nodes - 1;
        graftModelInstallNode(m, h.name_copies[j], h.layers[j], 1, h.inputs[j], 1);
    }
    graftModelInstallClassNames(m, h.n_class_names, h.class_names);
    graftFree(m->ctx, h.keep);
    graftFree(m->ctx, h.map);
    return GRAFT_OK;
}

/* ---- loading weights by name -------------------------------------------------------- */

typedef struct report_entry {
    char *name;   /* "layer/param" */
    int status;
    char detail[160];
} report_entry;

struct graft_load_report {
    graft_ctx *ctx;
    int n, cap;
    report_entry *entries;
};

GRAFT_API void graft_load_report_free(graft_load_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) graftFree(r->ctx, r->entries[i].name);
    graftFree(r->ctx, r->entries);
    graftFree(r->ctx, r);
}

static int report_add(graft_load_report *r, const char *layer, const char *param, int status,
                      const char *detail)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 32;
        report_entry *e = graftCalloc(r->ctx, (size_t)cap, sizeof *e);
        if (!e) return GRAFT_E_NOMEM;
        if (r->n) memcpy(e, r->entries, (size_t)r->n * sizeof *e);
        graftFree(r->ctx, r->entries);
        r->entries = e;
        r->cap = cap;
    }
    size_t len = strlen(layer) + strlen(param) + 2;
    char *name = graftAlloc(r->ctx, len);
    if (!name) return GRAFT_E_NOMEM;
    snprintf(name, len, "%s/%s", layer, param);
    report_entry *e = &r->entries[r->n++];
    e->name = name;
    e->status = status;
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    return GRAFT_OK;
}

static void shape_text(const graft_tensor *t, char *buf, size_t size)
{
    graftShapeString(t->ndim, t->dims, buf, size);
}

/* Copies every tensor of src into dst where layer name, parameter name and
 * shape agree; records every decision in r. */
static int match_weights(graft_model *dst, graft_model *src, graft_load_report *r)
{
    unsigned char *used = graftCalloc(dst->ctx, (size_t)src->n_nodes * GRAFT_LAYER_MAX_PARAMS + 1, 1);
    if (!used) return GRAFT_E_NOMEM;
    int st = GRAFT_OK;
    for (int i = 0; i < dst->n_nodes && st == GRAFT_OK; i++) {
        graft_layer *l = dst->nodes[i].layer;
        int j = -1;
        for (int s = 0; s < src->n_nodes && j < 0; s++)
            if (strcmp(src->nodes[s].name, dst->nodes[i].name) == 0) j = s;
        for (int k = 0; k < l->n_params && st == GRAFT_OK; k++) {
            graftParam *p = &l->params[k];
            graftParam *q = NULL;
            int qk = -1;
            if (j >= 0 && src->nodes[j].layer->vtbl == l->vtbl)
                for (int t = 0; t < src->nodes[j].layer->n_params; t++)
                    if (strcmp(src->nodes[j].layer->params[t].name, p->name) == 0) {
                        q = &src->nodes[j].layer->params[t];
                        qk = t;
                    }
            char detail[160], a[64], b[64];
            if (!q) {
                snprintf(detail, sizeof detail, j < 0 ? "no layer of that name in the file"
                                                      : "the file's layer of that name is a %s",
                         j < 0 ? "" : src->nodes[j].layer->vtbl->kind);
                st = report_add(r, dst->nodes[i].name, p->name, GRAFT_WEIGHT_NOT_IN_FILE, detail);
                continue;
            }
            used[(size_t)j * GRAFT_LAYER_MAX_PARAMS + qk] = 1;
            if (!graftTensorSameShape(p->value, q->value)) {
                shape_text(q->value, a, sizeof a);
                shape_text(p->value, b, sizeof b);
                snprintf(detail, sizeof detail, "shape %s in the file, %s in the model", a, b);
                st = report_add(r, dst->nodes[i].name, p->name, GRAFT_WEIGHT_SHAPE_MISMATCH,
                                detail);
                continue;
            }
            memcpy(p->value->data, q->value->data, p->value->numel * sizeof(float));
            shape_text(p->value, a, sizeof a);
            snprintf(detail, sizeof detail, "shape %s", a);
            st = report_add(r, dst->nodes[i].name, p->name, GRAFT_WEIGHT_LOADED, detail);
        }
    }
    for (int s = 0; s < src->n_nodes && st == GRAFT_OK; s++)
        for (int t = 0; t < src->nodes[s].layer->n_params && st == GRAFT_OK; t++)
            if (!used[(size_t)s * GRAFT_LAYER_MAX_PARAMS + t])
                st = report_add(r, src->nodes[s].name, src->nodes[s].layer->params[t].name,
                                GRAFT_WEIGHT_NOT_IN_MODEL, "no place for it in the model");
    graftFree(dst->ctx, used);
    return st;
}

GRAFT_API int graft_model_load_weights(graft_model *m, const char *path, graft_load_report **out)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!m || !path, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and path must not be NULL");
    graft_model *src = NULL;
    GRAFT_FORWARD_IF_ERROR(graft_model_load(m->ctx, path, &src));
    graft_load_report *r = graftCalloc(m->ctx, 1, sizeof *r);
    int st = r ? GRAFT_OK : GRAFT_E_NOMEM;
    if (r) {
        r->ctx = m->ctx;
        st = match_weights(m, src, r);
    }
    graft_model_free(src);
    if (st != GRAFT_OK) {
        graft_load_report_free(r);
        return graftError(m->ctx, st, func, "cannot allocate the load report");
    }
    if (out) *out = r;
    else graft_load_report_free(r);
    return GRAFT_OK;
}

GRAFT_API int graft_load_report_count(const graft_load_report *r, int status)
{
    if (!r) return 0;
    if (status < 0) return r->n;
    int n = 0;
    for (int i = 0; i < r->n; i++) n += r->entries[i].status == status;
    return n;
}

GRAFT_API int graft_load_report_entry(const graft_load_report *r, int i, const char **name,
                                      int *status, const char **detail)
{
    graftClearError(r ? r->ctx : NULL);
    GRAFT_RETURN_IF(!r, NULL, GRAFT_E_INVALID_ARG, "report is NULL");
    GRAFT_RETURN_IF(i < 0 || i >= r->n, r->ctx, GRAFT_E_RANGE,
                    "entry %d out of range: the report has %d", i, r->n);
    if (name) *name = r->entries[i].name;
    if (status) *status = r->entries[i].status;
    if (detail) *detail = r->entries[i].detail;
    return GRAFT_OK;
}
