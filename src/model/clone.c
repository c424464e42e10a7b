/*
 * clone.c - graft_model_clone(): a second model with the same graph, layers,
 * flags, class names, options and schedule, whose parameters are either a
 * copy or the original's (GRAFT_CLONE_SHARE_WEIGHTS).
 *
 * Layers are copied through their saved form (graftLayerCopy()), so a copy
 * is what saving and loading would give; a shared one reads the original's
 * parameter tensors. A model whose parameters clones read stays allocated
 * until the last of them is freed (struct graft_model, share_refs; model.c
 * frees). Cloning reads only what calls that change the model write, so it
 * may run while predictions run on the original (model.h, "Executors").
 */
#include "model.h"

#include <string.h>

#define CLONE_KNOWN_FLAGS GRAFT_CLONE_SHARE_WEIGHTS

/* Appends a copy of node src of m to c (room reserved). */
static int clone_node(graft_model *c, const graft_model *m, int i, int share, const char *func)
{
    const graftNode *src = &m->nodes[i];
    graft_layer *l = NULL;
    GRAFT_FORWARD_IF_ERROR(graftLayerCopy(src->layer, share, func, &l));
    char *name = graftStrdup(c->ctx, src->name);
    int *inputs = graftCalloc(c->ctx, (size_t)src->n_inputs, sizeof *inputs);
    if (!name || !inputs) {
        graftFree(c->ctx, name);
        graftFree(c->ctx, inputs);
        graft_layer_free(l);
        return graftError(c->ctx, GRAFT_E_NOMEM, func, "cannot allocate layer \"%s\"",
                          src->name);
    }
    memcpy(inputs, src->inputs, (size_t)src->n_inputs * sizeof *inputs);
    graftModelInstallNode(c, name, l, src->n_inputs, inputs, src->trainable);
    c->nodes[i].lr_scale = src->lr_scale;
    return GRAFT_OK;
}

/* Copies everything of m but its nodes into c. */
static int clone_rest(graft_model *c, const graft_model *m, const char *func)
{
    c->epochs_done = m->epochs_done;
    c->frozen_bn_trains = m->frozen_bn_trains;
    c->feature_cache = m->feature_cache;
    c->feature_cache_mb = m->feature_cache_mb;
    c->fusion = m->fusion;
    c->inplace = m->inplace;
    c->task = m->task;
    c->has_preprocess = m->has_preprocess;
    c->preprocess = m->preprocess;
    if (m->n_classes_named > 0)
        GRAFT_FORWARD_IF_ERROR(graftModelSetClassNames(
            c, m->n_classes_named, (const char *const *)m->class_names, func));
    for (int k = 0; k < m->n_unfreeze; k++) {
        const graftUnfreeze *u = &m->unfreeze[k];
        GRAFT_FORWARD_IF_ERROR(graftModelAddUnfreeze(c, u->from, u->epoch, u->lr_scale, func));
    }
    return GRAFT_OK;
}

GRAFT_API int graft_model_clone(const graft_model *model, int flags, graft_model **out)
{
    graft_ctx *ctx = model ? model->ctx : NULL;
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!model || !out, ctx, GRAFT_E_INVALID_ARG, "model and out must not be NULL");
    GRAFT_RETURN_IF((flags & ~CLONE_KNOWN_FLAGS) != 0, ctx, GRAFT_E_INVALID_ARG,
                    "unknown flags 0x%x (GRAFT_CLONE_SHARE_WEIGHTS is the only one)",
                    (unsigned)flags);
    const int share = (flags & GRAFT_CLONE_SHARE_WEIGHTS) != 0;
    graft_model *c = NULL;
    int st = graftModelNew(ctx, &model->input_shape, model->seed, &c);
    if (st != GRAFT_OK) return graftErrorAt(ctx, st, __func__);
    st = graftModelReserve(c, model->n_nodes, model->scratch_cap, __func__);
    for (int i = 0; i < model->n_nodes && st == GRAFT_OK; i++)
        st = clone_node(c, model, i, share, __func__);
    if (st == GRAFT_OK) st = clone_rest(c, model, __func__);
    if (st != GRAFT_OK) {
        graft_model_free(c);
        return graftErrorAt(ctx, st, __func__);
    }
    if (share) {
        /* the model that owns the tensors, also when model is itself a clone */
        graft_model *owner = model->weights_owner ? model->weights_owner : (graft_model *)model;
        pthread_mutex_lock(&owner->pool->lock);
        owner->share_refs++;
        pthread_mutex_unlock(&owner->pool->lock);
        c->weights_owner = owner;
    }
    *out = c;
    return GRAFT_OK;
}
