/*
 * batch.c - what fitting, evaluating and predicting share: checking that a
 * dataset fits the model, and the per-call batch buffers.
 */
#include "batch.h"

#include "core/finite.h"
#include "data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Checks that a dataset's samples fit the model and its classes match the
 * model's outputs, which must be (N, classes). */
int graftBatchCheckDataset(graft_model *m, const graft_dataset *ds, const char *what, const char *func)
{
    graft_ctx *ctx = m->ctx;
    int out = graftModelOutputNode(m);
    GRAFT_RETURN_IF_AT(out < 0, ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_RETURN_IF_AT(ds->ctx != ctx, ctx, GRAFT_E_INVALID_ARG, func,
                       "the %s dataset belongs to another context", what);
    const graftShape *ms = &m->input_shape, *ss = &ds->src->sample_shape;
    int same = ms->ndim == ss->ndim;
    for (int d = 1; same && d < ms->ndim; d++) same = ms->dims[d] == ss->dims[d];
    if (!same) {
        char a[128], b[128];
        graftShapeString(ss->ndim - 1, ss->dims + 1, a, sizeof a);
        graftShapeString(ms->ndim - 1, ms->dims + 1, b, sizeof b);
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "the %s dataset's samples have shape %s, the model takes %s", what, a, b);
    }
    const graftShape *os = &m->nodes[out].layer->out_shape;
    static const char *const tasks[] = {"classification", "multi-label", "regression"};
    GRAFT_RETURN_IF_AT(os->ndim != 2, ctx, GRAFT_E_SHAPE, func,
                       "the model's output must be (N, %s) for %s; it has %d "
                       "dimensions (end the model with dense, or flatten)",
                       m->task == GRAFT_TASK_CLASSIFICATION ? "classes" : "outputs",
                       tasks[m->task], os->ndim);
    if (m->task != GRAFT_TASK_CLASSIFICATION) { /* since 1.3 */
        GRAFT_RETURN_IF_AT(ds->src->n_targets == 0, ctx, GRAFT_E_STATE, func,
                           "the %s dataset has class labels; a %s model (GRAFT_MODEL_TASK) "
                           "needs float targets (graft_dataset_from_memory_targets())", what,
                           tasks[m->task]);
        GRAFT_RETURN_IF_AT(os->dims[1] != ds->src->n_targets, ctx, GRAFT_E_SHAPE, func,
                           "the %s dataset has %d targets per sample but the model outputs "
                           "%lld", what, ds->src->n_targets, (long long)os->dims[1]);
        return GRAFT_OK;
    }
    GRAFT_RETURN_IF_AT(ds->src->n_targets > 0, ctx, GRAFT_E_STATE, func,
                       "the %s dataset has float targets; the model's GRAFT_MODEL_TASK is "
                       "classification, which trains on class labels (set GRAFT_MODEL_TASK to "
                       "GRAFT_TASK_MULTI_LABEL or GRAFT_TASK_REGRESSION)", what);
    GRAFT_RETURN_IF_AT(os->dims[1] != ds->src->n_classes, ctx, GRAFT_E_SHAPE, func,
                       "the %s dataset has %d classes but the model outputs %lld", what,
                       ds->src->n_classes, (long long)os->dims[1]);
    return GRAFT_OK;
}


int graftBatchInit(graft_model *m, graftBatch *b, int batch, int64_t count,
                        int with_grad, const char *func)
{
    graft_ctx *ctx = m->ctx;
    memset(b, 0, sizeof *b);
    graftShape xs = m->input_shape;
    xs.dims[0] = batch;
    int64_t gd[2] = {batch, graftModelOutputSize(m)};
    int st = graftTensorNew(ctx, xs.ndim, xs.dims, &b->x);
    if (st == GRAFT_OK && with_grad) st = graftTensorNew(ctx, 2, gd, &b->grad);
    if (st != GRAFT_OK) return st;
    b->labels = graftCalloc(ctx, (size_t)batch, sizeof *b->labels);
    b->order = graftCalloc(ctx, (size_t)count, sizeof *b->order);
    if (!b->labels || !b->order)
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate batch buffers");
    b->cap = batch;
    return GRAFT_OK;
}

void graftBatchFree(graft_ctx *ctx, graftBatch *b)
{
    graft_tensor_free(b->x);
    graft_tensor_free(b->grad);
    graftFree(ctx, b->labels);
    graftFree(ctx, b->order);
}

/* Loads positions order[0..n) into b->x (resized to batch n) and b->labels. */
int graftBatchLoad(graft_dataset *ds, graftBatch *b, const int64_t *order, int n)
{
    b->x->dims[0] = n;
    b->x->numel = (size_t)n * ds->src->sample_numel;
    return graft_dataset_gather(ds, order, n, b->x->data, b->labels);
}

/* When the context checks inputs (GRAFT_CTX_CHECK_INPUTS): GRAFT_E_NUMERIC,
 * named func, if the batch x (the samples at dataset positions order[0..))
 * holds an inf or a NaN; the message names the first such sample by its
 * position (and file, for folders), the element, and, for e >= 0, the
 * epoch e and the batch bi (0-based). Datasets whose values were checked
 * when they were made and cannot change (dataset.h) are not read again. */
int graftBatchCheckFinite(graft_model *m, graft_dataset *ds, const graft_tensor *x,
                       const int64_t *order, const char *what, int64_t e, int64_t bi,
                       const char *func)
{
    if (!m->ctx->check_inputs || ds->src->finite) return GRAFT_OK;
    const size_t bad = graftFirstNonFinite(x->data, x->numel);
    if (bad == x->numel) return GRAFT_OK;
    const size_t per = ds->src->sample_numel;
    const int64_t pos = order[bad / per];
    const char *path = graft_dataset_sample_path(ds, pos);
    char where[64] = "";
    if (e >= 0)
        snprintf(where, sizeof where, " at epoch %lld, batch %lld", (long long)e + 1,
                 (long long)bi + 1);
    return graftError(m->ctx, GRAFT_E_NUMERIC, func,
                      "%s sample %lld%s%s%s holds %s at element %zu%s; inputs must be finite "
                      "(GRAFT_CTX_CHECK_INPUTS)",
                      what, (long long)pos, path ? " (" : "", path ? path : "", path ? ")" : "",
                      graftNonFiniteName(x->data[bad]), bad % per, where);
}

static void softmax_row(const float *in, float *out, int c)
{
    float mx = in[0];
    for (int j = 1; j < c; j++) mx = in[j] > mx ? in[j] : mx;
    double sum = 0;
    for (int j = 0; j < c; j++) sum += exp((double)(in[j] - mx));
    for (int j = 0; j < c; j++) out[j] = (float)(exp((double)(in[j] - mx)) / sum);
}

/* A row of outputs as the model's task reads them. */
void graftOutputRow(int task, const float *in, float *out, int c)
{
    if (task == GRAFT_TASK_CLASSIFICATION) {
        softmax_row(in, out, c);
    } else if (task == GRAFT_TASK_MULTI_LABEL) {
        for (int j = 0; j < c; j++) out[j] = (float)(1.0 / (1.0 + exp(-(double)in[j])));
    } else {
        memmove(out, in, (size_t)c * sizeof *out);
    }
}
