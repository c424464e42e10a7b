/*
 * reinit.c - fresh parameters for a built model (graft_model_reinit()).
 *
 * A layer's parameters are drawn when it is built: the generic build code
 * (layers/layer.c) allocates them zeroed, then the kind's init_params slot
 * fills them from a generator seeded with the layer's seed, which
 * graft_model_add() derives from the model's seed and the layer's index
 * (graftModelLayerSeed). Re-initialising repeats exactly those two steps on
 * the tensors the layer already has: zero every parameter, then call
 * init_params with a generator seeded the same way. No tensor is allocated,
 * so once the arguments are checked nothing can fail.
 */
#include "model.h"

#include <string.h>

/* 1 when the layer has a parameter trained by gradient. Layers with none
 * (scale_shift) hold constants, which re-initialising would destroy. */
static int has_trained_param(const graft_layer *l)
{
    for (int p = 0; p < l->n_params; p++)
        if (l->params[p].grad) return 1;
    return 0;
}

/* Zeroes node i's parameters (and gradients) and draws them again. */
static void reinit_node(graft_model *m, int i, uint64_t seed)
{
    graft_layer *l = m->nodes[i].layer;
    if (!l->built || !has_trained_param(l)) return;
    for (int p = 0; p < l->n_params; p++) {
        graftParam *prm = &l->params[p];
        memset(prm->value->data, 0, prm->value->numel * sizeof(float));
        if (prm->grad) memset(prm->grad->data, 0, prm->grad->numel * sizeof(float));
    }
    if (l->vtbl->init_params) {
        graftRng rng;
        graftRngSeed(&rng, graftModelLayerSeed(seed, i));
        l->vtbl->init_params(l, &rng);
    }
}

GRAFT_API int graft_model_reinit(graft_model *m, uint64_t seed)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    for (int i = 0; i < m->n_nodes; i++) reinit_node(m, i, seed);
    m->seed = seed;
    m->epochs_done = 0;
    return GRAFT_OK;
}

GRAFT_API int graft_model_reinit_layers(graft_model *m, int first, int last, int trainable_only,
                                        uint64_t seed)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    GRAFT_RETURN_IF(trainable_only != 0 && trainable_only != 1, m->ctx, GRAFT_E_INVALID_ARG,
                    "trainable_only is %d, must be 0 or 1", trainable_only);
    GRAFT_RETURN_IF(first < 0 || last >= m->n_nodes || first > last, m->ctx, GRAFT_E_RANGE,
                    "layers %d to %d: need 0 <= first <= last < %d (the layer count)", first,
                    last, m->n_nodes);
    for (int i = first; i <= last; i++)
        if (!trainable_only || m->nodes[i].trainable) reinit_node(m, i, seed);
    return GRAFT_OK;
}
