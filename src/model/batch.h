/*
 * batch.h - what fitting, evaluating and predicting share (batch.c): the
 * dataset checks and the per-call batch buffers; and evaluation results,
 * which fit fills for its validation set (evaluate.c).
 */
#ifndef GRAFT_MODEL_BATCH_H
#define GRAFT_MODEL_BATCH_H

#include "model.h"

/* Per-batch buffers, allocated once per call. */
typedef struct graftBatch {
    graft_tensor *x, *grad;
    int32_t *labels;
    int64_t *order;
    int cap;
} graftBatch;

/* The index of row's largest of c values (the first, on ties). */
static inline int graftArgmaxRow(const float *row, int c)
{
    int best = 0;
    for (int j = 1; j < c; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

/* Checks that a dataset's samples fit the model and its classes match the
 * model's outputs, which must be (N, classes); what names the dataset in
 * messages ("training", "validation", ...). */
int graftBatchCheckDataset(graft_model *m, const graft_dataset *ds, const char *what,
                           const char *func);

/* Allocates buffers for batches of up to batch samples and an order of
 * count positions (with a gradient of the output when with_grad). On error
 * the caller still calls graftBatchFree(). */
int graftBatchInit(graft_model *m, graftBatch *b, int batch, int64_t count, int with_grad,
                   const char *func);
void graftBatchFree(graft_ctx *ctx, graftBatch *b);

/* Loads positions order[0..n) into b->x (resized to batch n) and b->labels. */
int graftBatchLoad(graft_dataset *ds, graftBatch *b, const int64_t *order, int n);

/* When the context checks inputs (GRAFT_CTX_CHECK_INPUTS): GRAFT_E_NUMERIC,
 * named func, if the batch x (the samples at dataset positions order[0..))
 * holds an inf or a NaN; the message names the first such sample by its
 * position (and file, for folders), the element, and, for e >= 0, the
 * epoch e and the batch bi (0-based). */
int graftBatchCheckFinite(graft_model *m, graft_dataset *ds, const graft_tensor *x,
                          const int64_t *order, const char *what, int64_t e, int64_t bi,
                          const char *func);

struct graft_eval {
    graft_ctx *ctx;
    int64_t count;
    double loss, accuracy, topk_accuracy;
    int k, n_classes;
    int64_t *confusion; /* n_classes * n_classes, row = true class */
    /* graft_model_evaluate() only (NULL in fit's validation results): */
    float *probs;       /* count * n_classes softmax probabilities, dataset order */
    int32_t *labels;    /* count true classes */
    double *auc;        /* n_classes one-vs-rest ROC-AUCs (NaN: undefined) */
    struct graftEvalTargets *targets; /* multi-label and regression results
                                         (evaluate_targets.c), or NULL */
};

/* The ROC-AUC of the n scores (scores[i * stride]) against the positives
 * labels[i] == cls, ties counting one half (average ranks); tmp has room
 * for n pairs. NaN when there is no positive or no negative. */
typedef struct graftScored {
    float score;
    int positive;
} graftScored;
double graftEvalAuc(const float *scores, size_t stride, const int32_t *labels, int64_t n, int cls,
                    graftScored *tmp);

/* Multi-label and regression results (evaluate_targets.c): new results
 * (thresholds: NULL for 0.5, else one per label, copied), a run over ds,
 * a key of graft_eval_get() they hold (NaN else), and freeing them. */
int graftEvalTargetsNew(graft_model *m, const float *thresholds, graft_eval **out,
                        const char *func);
int graftEvalTargetsRun(graft_model *m, graft_dataset *ds, int batch, graft_eval *e,
                        const char *what, const char *func);
double graftEvalTargetsGet(const graft_eval *e, int key);
void graftEvalTargetsFree(graft_eval *e);

/* New zeroed results for the model's classes and top-k accuracy. */
int graftEvalNew(graft_model *m, int top_k, graft_eval **out, const char *func);

/* Evaluates ds in inference mode into e (whose confusion matrix must be
 * zero; with e->probs, also each sample's probabilities and label); what
 * names the dataset in messages. */
int graftEvalRun(graft_model *m, graft_dataset *ds, int batch, int top_k, graft_eval *e,
                 const char *what, const char *func);

/* A row of c outputs as the model's task reads them (GRAFT_MODEL_TASK):
 * softmax probabilities for a classifier (max subtracted, sums in double),
 * each label's sigmoid for multi-label, the outputs as they are for
 * regression. in and out may be the same row. */
void graftOutputRow(int task, const float *in, float *out, int c);

#endif
