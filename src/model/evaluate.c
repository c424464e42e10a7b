/*
 * evaluate.c - evaluating a model on a dataset: loss, top-1 and top-k
 * accuracy, the confusion matrix and the figures derived from it.
 */
#include "batch.h"

#include "data/dataset.h"

#include <math.h>
#include <string.h>

/* Rank of the true class: how many classes score strictly higher (ties
 * count for the true class). */
static int rank_of(const float *row, int c, int label)
{
    int r = 0;
    for (int j = 0; j < c; j++) r += row[j] > row[label];
    return r;
}

int graftEvalRun(graft_model *m, graft_dataset *ds, int batch, int top_k, graft_eval *e,
                    const char *what, const char *func)
{
    graftBatch b;
    int st = graftBatchInit(m, &b, batch, batch, 0, func);
    if (st != GRAFT_OK) goto done;
    int c = (int)graftModelOutputSize(m);
    double loss_sum = 0;
    int64_t top1 = 0, topk = 0;
    graftModelSetMode(m, 0);
    for (int64_t start = 0; start < ds->count; start += batch) {
        int n = (int)(ds->count - start < batch ? ds->count - start : batch);
        for (int i = 0; i < n; i++) b.order[i] = start + i;
        st = graftBatchLoad(ds, &b, b.order, n);
        if (st == GRAFT_OK) st = graftBatchCheckFinite(m, ds, b.x, b.order, what, -1, 0, func);
        if (st != GRAFT_OK) goto done;
        const graft_tensor *logits;
        st = graftModelForward(m, b.x, &logits);
        if (st != GRAFT_OK) goto done;
        float loss;
        st = graft_loss_softmax_cross_entropy(logits, b.labels, &loss, NULL);
        if (st != GRAFT_OK) goto done;
        loss_sum += (double)loss * n;
        for (int i = 0; i < n; i++) {
            const float *row = logits->data + (size_t)i * c;
            int pred = graftArgmaxRow(row, c);
            top1 += pred == b.labels[i];
            topk += rank_of(row, c, b.labels[i]) < top_k;
            e->confusion[(size_t)b.labels[i] * c + pred]++;
        }
    }
    e->count = ds->count;
    e->loss = loss_sum / (double)ds->count;
    e->accuracy = (double)top1 / (double)ds->count;
    e->topk_accuracy = (double)topk / (double)ds->count;
done:
    graftBatchFree(m->ctx, &b);
    return st;
}

int graftEvalNew(graft_model *m, int top_k, graft_eval **out, const char *func)
{
    int c = (int)graftModelOutputSize(m);
    graft_eval *e = graftCalloc(m->ctx, 1, sizeof *e);
    if (e) e->confusion = graftCalloc(m->ctx, (size_t)c * (size_t)c, sizeof *e->confusion);
    if (!e || !e->confusion) {
        graftFree(m->ctx, e);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate evaluation results");
    }
    e->ctx = m->ctx;
    e->k = top_k;
    e->n_classes = c;
    *out = e;
    return GRAFT_OK;
}

GRAFT_API void graft_eval_free(graft_eval *e)
{
    if (!e) return;
    graftEvalTargetsFree(e);
    graftFree(e->ctx, e->confusion);
    graftFree(e->ctx, e);
}

GRAFT_API int graft_model_evaluate(graft_model *m, graft_dataset *ds, int batch_size, int top_k,
                                   graft_eval **out)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!m || !ds || !out, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, dataset and out must not be NULL");
    GRAFT_RETURN_IF(batch_size < 1, m->ctx, GRAFT_E_INVALID_ARG,
                    "batch_size is %d, must be >= 1", batch_size);
    GRAFT_RETURN_IF(m->task != GRAFT_TASK_CLASSIFICATION, m->ctx, GRAFT_E_STATE,
                    "the model's GRAFT_MODEL_TASK is not classification; evaluate it with "
                    "graft_model_evaluate_targets()");
    GRAFT_FORWARD_IF_ERROR(graftBatchCheckDataset(m, ds, "evaluation", func));
    int c = (int)graftModelOutputSize(m);
    GRAFT_RETURN_IF(top_k < 1 || top_k > c, m->ctx, GRAFT_E_RANGE,
                    "top_k is %d, must be 1 to %d (the classes)", top_k, c);
    graft_eval *e;
    GRAFT_FORWARD_IF_ERROR(graftEvalNew(m, top_k, &e, func));
    int st = graftEvalRun(m, ds, batch_size, top_k, e, "evaluation", func);
    if (st != GRAFT_OK) {
        graft_eval_free(e);
        return graftErrorAt(m->ctx, st, func);
    }
    *out = e;
    return GRAFT_OK;
}

GRAFT_API double graft_eval_get(const graft_eval *e, int key)
{
    if (!e) return NAN;
    switch (key) {
    case GRAFT_EVAL_COUNT: return (double)e->count;
    case GRAFT_EVAL_LOSS: return e->loss;
    case GRAFT_EVAL_ACCURACY: return e->accuracy;
    case GRAFT_EVAL_TOPK_ACCURACY: return e->topk_accuracy;
    default: return graftEvalTargetsGet(e, key);
    }
}

GRAFT_API int graft_eval_class_count(const graft_eval *e) { return e ? e->n_classes : 0; }

GRAFT_API int64_t graft_eval_confusion(const graft_eval *e, int t, int p)
{
    if (!e || t < 0 || p < 0 || t >= e->n_classes || p >= e->n_classes) return -1;
    return e->confusion[(size_t)t * e->n_classes + p];
}

GRAFT_API double graft_eval_precision(const graft_eval *e, int c)
{
    if (!e || c < 0 || c >= e->n_classes) return NAN;
    int64_t predicted = 0;
    for (int t = 0; t < e->n_classes; t++) predicted += e->confusion[(size_t)t * e->n_classes + c];
    return predicted ? (double)e->confusion[(size_t)c * e->n_classes + c] / (double)predicted : NAN;
}

GRAFT_API double graft_eval_recall(const graft_eval *e, int c)
{
    if (!e || c < 0 || c >= e->n_classes) return NAN;
    int64_t actual = 0;
    for (int p = 0; p < e->n_classes; p++) actual += e->confusion[(size_t)c * e->n_classes + p];
    return actual ? (double)e->confusion[(size_t)c * e->n_classes + c] / (double)actual : NAN;
}
