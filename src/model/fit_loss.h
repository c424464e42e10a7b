/*
 * fit_loss.h - what graft_model_fit() does per batch beyond softmax
 * cross-entropy on labels (fit_loss.c): the task's loss with class and
 * sample weights, label smoothing and pos_weight; float targets; mixup and
 * cutmix. graft.h ("Losses in graft_model_fit()") specifies them.
 */
#ifndef GRAFT_MODEL_FIT_LOSS_H
#define GRAFT_MODEL_FIT_LOSS_H

#include "model.h"

typedef struct graftFitLoss {
    int task;                 /* GRAFT_TASK_* of the model */
    int l1;                   /* regression: 1 for GRAFT_LOSS_L1 */
    int c;                    /* outputs per sample */
    const float *class_w, *pos_w, *sample_w; /* the options' arrays, or NULL */
    float smoothing, mixup, cutmix;
    size_t sample_numel;      /* floats per input sample */
    int hw[2];                /* cutmix: the samples' last two sizes (H, W) */
    /* per batch, room for the largest */
    float *targets;           /* batch * c float targets (target tasks) */
    float *targets_b;         /* a copy of them, for mixing */
    float *sw;                /* batch sample weights, when sample_w is set */
    int32_t *labels_b;        /* the mixing partners' labels */
    int *perm;                /* batch: the partner of each sample */
    float *x_copy;            /* a copy of the batch's inputs, for mixing */
    double lambda;            /* of this batch: 1 when not mixed */
} graftFitLoss;

/* Checks the options against the model and the training dataset and
 * allocates the buffers for batches of up to batch samples. On error the
 * caller still calls graftFitLossFree(). */
int graftFitLossInit(graft_model *m, const graft_fit_opts *o, graft_dataset *train, int batch,
                     graftFitLoss *fl, const char *func);
void graftFitLossFree(graft_ctx *ctx, graftFitLoss *fl);

/* 1 when batches are mixed (mixup or cutmix), so features cannot be cached. */
int graftFitLossMixes(const graftFitLoss *fl);

/* Reads the float targets and the sample weights of positions order[0..n). */
int graftFitLossLoad(graftFitLoss *fl, graft_dataset *ds, const int64_t *order, int n,
                     const char *func);

/* Mixes the batch x (n samples) and its labels or targets, drawing from
 * seed (already mixed with the epoch and the batch). */
void graftFitLossMix(graftFitLoss *fl, graft_tensor *x, const int32_t *labels, int n,
                     uint64_t seed);

/* The batch's loss into *loss and its gradient into grad ((n, c)). */
int graftFitLossCompute(graftFitLoss *fl, graft_ctx *ctx, const graft_tensor *logits,
                        const int32_t *labels, float *loss, graft_tensor *grad,
                        const char *func);

/* What the batch adds to the training accuracy's numerator: samples right
 * (classification), or the fraction of labels right summed over samples
 * (multi-label); 0 for regression. */
double graftFitLossCorrect(const graftFitLoss *fl, const graft_tensor *logits,
                           const int32_t *labels, int n);

#endif /* GRAFT_MODEL_FIT_LOSS_H */
