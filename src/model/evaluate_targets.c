/*
 * evaluate_targets.c - evaluating multi-label and regression models
 * (graft_model_evaluate_targets()): the loss, and per label the counts of
 * true and false positives and negatives at each label's threshold, or per
 * output the sums for the squared and absolute errors and R^2. The figures
 * are derived from them when read (graft_eval_get(), graft_eval_target_get()).
 */
#include "batch.h"

#include "data/dataset.h"
#include "layers/loss.h"

#include <math.h>
#include <string.h>

struct graftEvalTargets {
    int task;          /* GRAFT_TASK_MULTI_LABEL or GRAFT_TASK_REGRESSION */
    int n;             /* labels or outputs */
    float *thresholds; /* multi-label: per label */
    int64_t *tp, *fp, *fn;  /* multi-label: per label */
    int64_t subset;    /* multi-label: samples with every label right */
    double *se, *ae, *sy, *syy; /* regression: per output, sums of squared and
                                   absolute errors, of targets and their squares;
                                   the targets shifted by the first one (sy[c + j]),
                                   so targets that never vary sum to exactly 0 */
    float *targets;    /* batch buffer */
};

int graftEvalTargetsNew(graft_model *m, const float *thresholds, graft_eval **out,
                        const char *func)
{
    const int c = (int)graftModelOutputSize(m);
    graft_eval *e = graftCalloc(m->ctx, 1, sizeof *e);
    struct graftEvalTargets *t = graftCalloc(m->ctx, 1, sizeof *t);
    if (e) e->ctx = m->ctx;
    if (e && t) {
        e->targets = t;
        t->task = m->task;
        t->n = c;
        if (m->task == GRAFT_TASK_MULTI_LABEL) {
            t->thresholds = graftAlloc(m->ctx, (size_t)c * sizeof(float));
            t->tp = graftCalloc(m->ctx, (size_t)c, sizeof(int64_t));
            t->fp = graftCalloc(m->ctx, (size_t)c, sizeof(int64_t));
            t->fn = graftCalloc(m->ctx, (size_t)c, sizeof(int64_t));
        } else {
            t->se = graftCalloc(m->ctx, (size_t)c, sizeof(double));
            t->ae = graftCalloc(m->ctx, (size_t)c, sizeof(double));
            t->sy = graftCalloc(m->ctx, 2 * (size_t)c, sizeof(double)); /* sums, shifts */
            t->syy = graftCalloc(m->ctx, (size_t)c, sizeof(double));
        }
    }
    if (!e || !t || (m->task == GRAFT_TASK_MULTI_LABEL ? !t->thresholds || !t->tp || !t->fp || !t->fn
                                                      : !t->se || !t->ae || !t->sy || !t->syy)) {
        if (e) {
            e->targets = t;
            graftEvalTargetsFree(e);
        } else {
            graftFree(m->ctx, t);
        }
        graftFree(m->ctx, e);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate evaluation results");
    }
    for (int j = 0; t->thresholds && j < c; j++)
        t->thresholds[j] = thresholds ? thresholds[j] : 0.5f;
    e->n_classes = 0; /* the confusion matrix and its figures are classification's */
    e->k = 0;
    e->topk_accuracy = NAN;
    *out = e;
    return GRAFT_OK;
}

void graftEvalTargetsFree(graft_eval *e)
{
    struct graftEvalTargets *t = e->targets;
    if (!t) return;
    graftFree(e->ctx, t->thresholds);
    graftFree(e->ctx, t->tp);
    graftFree(e->ctx, t->fp);
    graftFree(e->ctx, t->fn);
    graftFree(e->ctx, t->se);
    graftFree(e->ctx, t->ae);
    graftFree(e->ctx, t->sy);
    graftFree(e->ctx, t->syy);
    graftFree(e->ctx, t->targets);
    graftFree(e->ctx, t);
    e->targets = NULL;
}

int graftEvalTargetsRun(graft_model *m, graft_dataset *ds, int batch, graft_eval *e,
                        const char *what, const char *func)
{
    struct graftEvalTargets *t = e->targets;
    const int c = t->n;
    graftBatch b;
    int st = graftBatchInit(m, &b, batch, batch, 0, func);
    graftFree(m->ctx, t->targets);
    t->targets = st == GRAFT_OK ? graftAlloc(m->ctx, (size_t)batch * (size_t)c * sizeof(float))
                                : NULL;
    if (st == GRAFT_OK && !t->targets)
        st = graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate a batch of targets");
    if (st != GRAFT_OK) goto done;
    if (t->tp) {
        memset(t->tp, 0, (size_t)c * sizeof *t->tp);
        memset(t->fp, 0, (size_t)c * sizeof *t->fp);
        memset(t->fn, 0, (size_t)c * sizeof *t->fn);
    } else {
        memset(t->se, 0, (size_t)c * sizeof *t->se);
        memset(t->ae, 0, (size_t)c * sizeof *t->ae);
        memset(t->sy, 0, 2 * (size_t)c * sizeof *t->sy);
        memset(t->syy, 0, (size_t)c * sizeof *t->syy);
    }
    t->subset = 0;
    double loss_sum = 0;
    graftModelSetMode(m, 0);
    for (int64_t start = 0; start < ds->count; start += batch) {
        int n = (int)(ds->count - start < batch ? ds->count - start : batch);
        for (int i = 0; i < n; i++) b.order[i] = start + i;
        st = graftBatchLoad(ds, &b, b.order, n);
        if (st == GRAFT_OK) st = graftBatchCheckFinite(m, ds, b.x, b.order, what, -1, 0, func);
        if (st == GRAFT_OK) st = graftDatasetGatherTargets(ds, b.order, n, t->targets, func);
        if (st != GRAFT_OK) goto done;
        const graft_tensor *y;
        st = graftModelForward(m, b.x, &y);
        if (st != GRAFT_OK) goto done;
        const graftLossTerm term = {NULL, NULL, NULL, 0.0f, 1.0f, 0};
        double loss = 0;
        st = t->tp ? graftLossBce(m->ctx, func, y, t->targets, &term, &loss, NULL)
                   : graftLossRegression(m->ctx, func, y, t->targets, 0, &term, &loss, NULL);
        if (st != GRAFT_OK) goto done;
        loss_sum += loss * n;
        for (int i = 0; i < n; i++) {
            const float *row = y->data + (size_t)i * c, *tr = t->targets + (size_t)i * c;
            int all = 1;
            for (int j = 0; j < c; j++) {
                if (t->tp) {
                    const int pred = 1.0 / (1.0 + exp(-(double)row[j])) >= t->thresholds[j];
                    const int truth = tr[j] >= 0.5f;
                    t->tp[j] += pred && truth;
                    t->fp[j] += pred && !truth;
                    t->fn[j] += !pred && truth;
                    all &= pred == truth;
                } else {
                    const double d = (double)row[j] - (double)tr[j];
                    t->se[j] += d * d;
                    t->ae[j] += fabs(d);
                    if (start == 0 && i == 0) t->sy[c + j] = tr[j];
                    const double dy = (double)tr[j] - t->sy[c + j];
                    t->sy[j] += dy;
                    t->syy[j] += dy * dy;
                }
            }
            t->subset += all;
        }
    }
    e->count = ds->count;
    e->loss = loss_sum / (double)ds->count;
    e->accuracy = t->tp ? (double)t->subset / (double)ds->count : NAN;
done:
    graftBatchFree(m->ctx, &b);
    return st;
}

/* Per label j: precision, recall, F1 (NaN when undefined), support. */
static double label_figure(const struct graftEvalTargets *t, int64_t count, int j, int key)
{
    const double tp = (double)t->tp[j], fp = (double)t->fp[j], fn = (double)t->fn[j];
    switch (key) {
    case GRAFT_EVAL_LABEL_PRECISION: return tp + fp > 0 ? tp / (tp + fp) : NAN;
    case GRAFT_EVAL_LABEL_RECALL: return tp + fn > 0 ? tp / (tp + fn) : NAN;
    case GRAFT_EVAL_LABEL_F1: return tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : NAN;
    case GRAFT_EVAL_LABEL_SUPPORT: return tp + fn;
    case GRAFT_EVAL_LABEL_THRESHOLD: return t->thresholds[j];
    default: (void)count; return NAN;
    }
}

/* Per output j: MSE, MAE, R^2 (NaN when the targets do not vary). */
static double output_figure(const struct graftEvalTargets *t, int64_t count, int j, int key)
{
    const double n = (double)count;
    switch (key) {
    case GRAFT_EVAL_MSE: return t->se[j] / n;
    case GRAFT_EVAL_MAE: return t->ae[j] / n;
    case GRAFT_EVAL_R2: {
        const double tot = t->syy[j] - t->sy[j] * t->sy[j] / n;
        return tot > 0 ? 1.0 - t->se[j] / tot : NAN;
    }
    default: return NAN;
    }
}

double graftEvalTargetsGet(const graft_eval *e, int key)
{
    const struct graftEvalTargets *t = e->targets;
    if (!t || e->count == 0) return NAN;
    if (t->tp) {
        double tp = 0, fp = 0, fn = 0, f1 = 0;
        int defined = 0;
        for (int j = 0; j < t->n; j++) {
            tp += (double)t->tp[j];
            fp += (double)t->fp[j];
            fn += (double)t->fn[j];
            const double v = label_figure(t, e->count, j, GRAFT_EVAL_LABEL_F1);
            if (!isnan(v)) {
                f1 += v;
                defined++;
            }
        }
        switch (key) {
        case GRAFT_EVAL_SUBSET_ACCURACY: return (double)t->subset / (double)e->count;
        case GRAFT_EVAL_HAMMING_LOSS: return (fp + fn) / ((double)e->count * t->n);
        case GRAFT_EVAL_MICRO_PRECISION: return tp + fp > 0 ? tp / (tp + fp) : NAN;
        case GRAFT_EVAL_MICRO_RECALL: return tp + fn > 0 ? tp / (tp + fn) : NAN;
        case GRAFT_EVAL_MICRO_F1: return tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : NAN;
        case GRAFT_EVAL_MACRO_F1: return defined ? f1 / defined : NAN;
        default: return NAN;
        }
    }
    if (key != GRAFT_EVAL_MSE && key != GRAFT_EVAL_MAE && key != GRAFT_EVAL_R2) return NAN;
    double sum = 0;
    int defined = 0;
    for (int j = 0; j < t->n; j++) {
        const double v = output_figure(t, e->count, j, key);
        if (!isnan(v)) {
            sum += v;
            defined++;
        }
    }
    return defined ? sum / defined : NAN;
}

GRAFT_API double graft_eval_target_get(const graft_eval *e, int j, int key)
{
    if (!e || !e->targets || j < 0 || j >= e->targets->n || e->count == 0) return NAN;
    return e->targets->tp ? label_figure(e->targets, e->count, j, key)
                          : output_figure(e->targets, e->count, j, key);
}

GRAFT_API int graft_eval_target_count(const graft_eval *e)
{
    return e && e->targets ? e->targets->n : 0;
}

GRAFT_API int graft_model_evaluate_targets(graft_model *m, graft_dataset *ds, int batch_size,
                                           const float *thresholds, graft_eval **out)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!m || !ds || !out, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, dataset and out must not be NULL");
    GRAFT_RETURN_IF(batch_size < 1, m->ctx, GRAFT_E_INVALID_ARG,
                    "batch_size is %d, must be >= 1", batch_size);
    GRAFT_RETURN_IF(m->task == GRAFT_TASK_CLASSIFICATION, m->ctx, GRAFT_E_STATE,
                    "the model's GRAFT_MODEL_TASK is classification; evaluate it with "
                    "graft_model_evaluate() (or set GRAFT_MODEL_TASK)");
    GRAFT_RETURN_IF(thresholds && m->task != GRAFT_TASK_MULTI_LABEL, m->ctx, GRAFT_E_INVALID_ARG,
                    "thresholds are for multi-label models, must be NULL for regression");
    GRAFT_FORWARD_IF_ERROR(graftBatchCheckDataset(m, ds, "evaluation", func));
    const int c = (int)graftModelOutputSize(m);
    for (int j = 0; thresholds && j < c; j++)
        GRAFT_RETURN_IF(!(thresholds[j] >= 0.0f && thresholds[j] <= 1.0f), m->ctx, GRAFT_E_RANGE,
                        "thresholds[%d] is %g, must be in [0, 1]", j, (double)thresholds[j]);
    graft_eval *e;
    GRAFT_FORWARD_IF_ERROR(graftEvalTargetsNew(m, thresholds, &e, func));
    int st = graftEvalTargetsRun(m, ds, batch_size, e, "evaluation", func);
    if (st != GRAFT_OK) {
        graftEvalTargetsFree(e); /* (not graft_eval_free(): evaluate.c calls this file) */
        graftFree(m->ctx, e);
        return graftErrorAt(m->ctx, st, func);
    }
    *out = e;
    return GRAFT_OK;
}
