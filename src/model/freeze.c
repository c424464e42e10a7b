/*
 * freeze.c - the model's trainable flags and its unfreeze schedule: the state
 * that freeing a model (model.c), model files (model_io.c), fitting
 * (train.c) and the public transfer API (transfer.c) share. Nothing here
 * checks arguments (the public functions in transfer.c do), and it calls
 * only core, so every file of src/model may use it.
 */
#include "model.h"

#include <string.h>

void graftModelSetTrainableRange(graft_model *m, int first, int last, int trainable)
{
    for (int i = first; i <= last; i++) {
        m->nodes[i].trainable = trainable;
        m->nodes[i].layer->need_param_grad = trainable;
    }
    m->training = -1; /* frozen batch norms change mode */
}

/* ---- the unfreeze schedule ---------------------------------------------------- */

void graftModelClearUnfreeze(graft_model *m)
{
    for (int i = 0; i < m->n_unfreeze; i++) graftFree(m->ctx, m->unfreeze[i].from);
    graftFree(m->ctx, m->unfreeze);
    m->unfreeze = NULL;
    m->n_unfreeze = 0;
}

int graftModelAddUnfreeze(graft_model *m, const char *from, int64_t epoch, float lr_scale,
                          const char *func)
{
    graftUnfreeze *u = graftCalloc(m->ctx, (size_t)m->n_unfreeze + 1, sizeof *u);
    char *name = graftStrdup(m->ctx, from);
    if (!u || !name) {
        graftFree(m->ctx, u);
        graftFree(m->ctx, name);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot grow the schedule");
    }
    if (m->n_unfreeze) memcpy(u, m->unfreeze, (size_t)m->n_unfreeze * sizeof *u);
    u[m->n_unfreeze] = (graftUnfreeze){name, epoch, lr_scale};
    graftFree(m->ctx, m->unfreeze);
    m->unfreeze = u;
    m->n_unfreeze++;
    return GRAFT_OK;
}

int graftModelApplyUnfreeze(graft_model *m, int64_t epoch)
{
    for (int k = 0; k < m->n_unfreeze; k++) {
        const graftUnfreeze *u = &m->unfreeze[k];
        if (u->epoch != epoch) continue;
        int i = -1;
        for (int j = 0; j < m->n_nodes && i < 0; j++)
            if (strcmp(m->nodes[j].name, u->from) == 0) i = j;
        if (i < 0)
            return graftError(m->ctx, GRAFT_E_NOT_FOUND, "graft_model_fit",
                              "the unfreeze schedule names layer \"%s\", which the model no "
                              "longer has", u->from);
        for (int j = i; j < m->n_nodes; j++) {
            if (!m->nodes[j].trainable) m->nodes[j].lr_scale = u->lr_scale;
        }
        graftModelSetTrainableRange(m, i, m->n_nodes - 1, 1);
    }
    return GRAFT_OK;
}
