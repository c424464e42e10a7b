/*
 * predict_dataset.c - class probabilities and the best class of every
 * sample of a dataset in one call (graft_model_predict_dataset()), batch
 * after batch through the buffers fit and evaluate use (batch.c).
 */
#include "batch.h"

#include "core/finite.h"
#include "data/dataset.h"

#include <math.h>
#include <string.h>

/* The dataset's samples must have the model's input shape, and the model
 * must output (N, classes); labels and the dataset's class count do not
 * matter here. */
static int check_fit(graft_model *m, const graft_dataset *ds, const char *func)
{
    graft_ctx *ctx = m->ctx;
    int out = graftModelOutputNode(m);
    GRAFT_RETURN_IF_AT(out < 0, ctx, GRAFT_E_STATE, func, "the model has no layers");
    GRAFT_RETURN_IF_AT(ds->ctx != ctx, ctx, GRAFT_E_INVALID_ARG, func,
                       "the dataset belongs to another context");
    const graftShape *ms = &m->input_shape, *ss = &ds->src->sample_shape;
    int same = ms->ndim == ss->ndim;
    for (int d = 1; same && d < ms->ndim; d++) same = ms->dims[d] == ss->dims[d];
    if (!same) {
        char a[128], b[128];
        graftShapeString(ss->ndim - 1, ss->dims + 1, a, sizeof a);
        graftShapeString(ms->ndim - 1, ms->dims + 1, b, sizeof b);
        return graftError(ctx, GRAFT_E_SHAPE, func,
                          "the dataset's samples have shape %s, the model takes %s", a, b);
    }
    GRAFT_RETURN_IF_AT(m->nodes[out].layer->out_shape.ndim != 2, ctx, GRAFT_E_SHAPE, func,
                       "the model's output must be (N, classes); it has %d dimensions",
                       m->nodes[out].layer->out_shape.ndim);
    return GRAFT_OK;
}

GRAFT_API int graft_model_predict_dataset(graft_model *m, graft_dataset *ds, int batch_size,
                                          float *probs, int32_t *top1)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !ds, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and dataset must not be NULL");
    GRAFT_RETURN_IF(!probs && !top1, m->ctx, GRAFT_E_INVALID_ARG,
                    "probs and top1 are both NULL: nothing to write");
    GRAFT_RETURN_IF(batch_size < 1, m->ctx, GRAFT_E_INVALID_ARG,
                    "batch_size is %d, must be >= 1", batch_size);
    GRAFT_RETURN_IF(top1 && m->task == GRAFT_TASK_REGRESSION, m->ctx, GRAFT_E_STATE,
                    "a regression model (GRAFT_MODEL_TASK) has no best class: top1 must be "
                    "NULL");
    GRAFT_FORWARD_IF_ERROR(check_fit(m, ds, func));
    const int c = (int)graftModelOutputSize(m);
    const int batch = ds->count < batch_size ? (int)ds->count : batch_size;

    graftBatch b;
    float *row = graftAlloc(m->ctx, (size_t)c * sizeof *row);
    int st = graftBatchInit(m, &b, batch, batch, 0, func);
    if (st == GRAFT_OK && !row) st = graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate a row");
    if (st != GRAFT_OK) goto done;
    graftModelSetMode(m, 0);
    for (int64_t start = 0; start < ds->count; start += batch) {
        int n = (int)(ds->count - start < batch ? ds->count - start : batch);
        for (int i = 0; i < n; i++) b.order[i] = start + i;
        st = graftBatchLoad(ds, &b, b.order, n);
        if (st == GRAFT_OK) st = graftBatchCheckFinite(m, ds, b.x, b.order, "dataset", -1, 0, func);
        if (st != GRAFT_OK) goto done;
        const graft_tensor *logits;
        st = graftModelForward(m, b.x, &logits);
        if (st != GRAFT_OK) goto done;
        size_t bad = graftFirstNonFinite(logits->data, (size_t)n * (size_t)c);
        if (bad < (size_t)n * (size_t)c) {
            st = graftError(m->ctx, GRAFT_E_NUMERIC, func,
                            "the model's output for sample %lld is %s at class %zu; outputs "
                            "must be finite", (long long)(start + (int64_t)(bad / c)),
                            graftNonFiniteName(logits->data[bad]), bad % (size_t)c);
            goto done;
        }
        for (int i = 0; i < n; i++) {
            const float *in = logits->data + (size_t)i * c;
            float *p = probs ? probs + (size_t)(start + i) * c : row;
            graftOutputRow(m->task, in, p, c);
            if (top1) top1[start + i] = graftArgmaxRow(in, c);
        }
    }
done:
    graftBatchFree(m->ctx, &b);
    graftFree(m->ctx, row);
    if (st != GRAFT_OK) return graftErrorAt(m->ctx, st, func);
    return GRAFT_OK;
}
