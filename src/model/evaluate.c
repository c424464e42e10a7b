/*
 * evaluate.c - evaluating a model on a dataset: loss, top-1 and top-k
 * accuracy, the confusion matrix and the figures derived from it
 * (precision, recall, F1), and the per-sample probabilities with the
 * one-vs-rest ROC-AUCs derived from them.
 */
#include "batch.h"

#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
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
            if (e->probs) {
                float *p = e->probs + (size_t)(start + i) * c;
                double sum = 0;
                for (int j = 0; j < c; j++) sum += exp((double)row[j] - (double)row[pred]);
                for (int j = 0; j < c; j++)
                    p[j] = (float)(exp((double)row[j] - (double)row[pred]) / sum);
                e->labels[start + i] = b.labels[i];
            }
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

static int by_score(const void *a, const void *b)
{
    const float x = ((const graftScored *)a)->score, y = ((const graftScored *)b)->score;
    return (x > y) - (x < y);
}

/* The Mann-Whitney form: (sum of the positives' ranks - P (P + 1) / 2) /
 * (P N), ranks 1-based in ascending score, a run of equal scores sharing
 * the mean of its ranks; the area under the ROC curve with ties drawn as
 * diagonal segments, which is sklearn's value. */
double graftEvalAuc(const float *scores, size_t stride, const int32_t *labels, int64_t n, int cls,
                    graftScored *tmp)
{
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        tmp[i].score = scores[(size_t)i * stride];
        tmp[i].positive = labels[i] == cls;
        pos += tmp[i].positive;
    }
    if (pos == 0 || pos == n) return NAN;
    qsort(tmp, (size_t)n, sizeof *tmp, by_score);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, run_pos = 0;
        while (j < n && tmp[j].score == tmp[i].score) run_pos += tmp[j++].positive;
        rank_sum += (double)run_pos * 0.5 * (double)(i + 1 + j); /* mean of ranks i+1..j */
        i = j;
    }
    double p = (double)pos, q = (double)(n - pos);
    return (rank_sum - p * (p + 1) / 2) / (p * q);
}

GRAFT_API void graft_eval_free(graft_eval *e)
{
    if (!e) return;
    graftFree(e->ctx, e->probs);
    graftFree(e->ctx, e->labels);
    graftFree(e->ctx, e->auc);
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
    int st = GRAFT_OK;
    graftScored *tmp = NULL;
    if ((uint64_t)ds->count > SIZE_MAX / sizeof(float) / (size_t)c) {
        st = graftError(m->ctx, GRAFT_E_NOMEM, func, "%lld samples of %d classes: too many "
                        "probabilities to keep", (long long)ds->count, c);
    } else {
        e->probs = graftAlloc(m->ctx, (size_t)ds->count * (size_t)c * sizeof *e->probs);
        e->labels = graftAlloc(m->ctx, (size_t)ds->count * sizeof *e->labels);
        e->auc = graftAlloc(m->ctx, (size_t)c * sizeof *e->auc);
        tmp = graftAlloc(m->ctx, (size_t)ds->count * sizeof *tmp);
        if (!e->probs || !e->labels || !e->auc || !tmp)
            st = graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate the probabilities of "
                            "%lld samples of %d classes (for ROC-AUC)", (long long)ds->count, c);
    }
    if (st == GRAFT_OK) st = graftEvalRun(m, ds, batch_size, top_k, e, "evaluation", func);
    if (st == GRAFT_OK)
        for (int k = 0; k < c; k++)
            e->auc[k] = graftEvalAuc(e->probs + k, (size_t)c, e->labels, ds->count, k, tmp);
    graftFree(m->ctx, tmp);
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
    case GRAFT_EVAL_F1_MACRO: {
        double sum = 0;
        int n = 0;
        for (int c = 0; c < e->n_classes; c++) {
            double f = graft_eval_f1(e, c);
            if (!isnan(f)) sum += f, n++;
        }
        return n ? sum / n : NAN;
    }
    case GRAFT_EVAL_AUC_MACRO: {
        if (!e->auc) return NAN;
        if (e->n_classes == 2) return e->auc[1];
        double sum = 0;
        int n = 0;
        for (int c = 0; c < e->n_classes; c++)
            if (!isnan(e->auc[c])) sum += e->auc[c], n++;
        return n ? sum / n : NAN;
    }
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

GRAFT_API double graft_eval_f1(const graft_eval *e, int c)
{
    if (!e || c < 0 || c >= e->n_classes) return NAN;
    int64_t tp = e->confusion[(size_t)c * e->n_classes + c], fp = 0, fn = 0;
    for (int k = 0; k < e->n_classes; k++) {
        if (k == c) continue;
        fp += e->confusion[(size_t)k * e->n_classes + c];
        fn += e->confusion[(size_t)c * e->n_classes + k];
    }
    int64_t den = 2 * tp + fp + fn;
    return den ? (double)(2 * tp) / (double)den : NAN;
}

GRAFT_API double graft_eval_auc(const graft_eval *e, int c)
{
    if (!e || !e->auc || c < 0 || c >= e->n_classes) return NAN;
    return e->auc[c];
}
