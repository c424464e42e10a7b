/*
 * loss.h - the losses' common core (loss.c), which graft_model_fit() calls
 * with per-sample weights and, for mixup and cutmix, scaled and summed
 * terms. The public graft_loss_*() functions check their arguments and
 * call these; these check the values (labels, targets, weights) only.
 */
#ifndef GRAFT_LAYERS_LOSS_H
#define GRAFT_LAYERS_LOSS_H

#include "core/internal.h"

/* Where a loss adds its result: *loss += scale * L and, when grad is not
 * NULL, grad += scale * dL/dlogits (accumulate 1) or grad = scale * dL
 * (accumulate 0). Weights may be NULL (all 1). func names messages. */
typedef struct graftLossTerm {
    const float *class_weights;  /* cross-entropy: C; NULL for 1 */
    const float *pos_weight;     /* binary cross-entropy: C; NULL for 1 */
    const float *sample_weights; /* N; NULL for 1 */
    float label_smoothing;       /* cross-entropy: [0, 1] */
    float scale;
    int accumulate;
} graftLossTerm;

/* Softmax cross-entropy with torch's weighted mean and label smoothing
 * (graft.h, graft_loss_cross_entropy()). logits (N, C), finite. */
int graftLossCrossEntropy(graft_ctx *ctx, const char *func, const graft_tensor *logits,
                          const int32_t *labels, const graftLossTerm *t, double *loss,
                          graft_tensor *grad);

/* Sigmoid binary cross-entropy (BCEWithLogitsLoss) over logits (N, C) and
 * targets (N * C floats in [0, 1]). */
int graftLossBce(graft_ctx *ctx, const char *func, const graft_tensor *logits,
                 const float *targets, const graftLossTerm *t, double *loss, graft_tensor *grad);

/* Mean squared error (l1 0) or mean absolute error (l1 1) of pred (N, ...)
 * against targets (pred->numel floats), a weighted mean over samples of
 * each sample's mean over its elements. */
int graftLossRegression(graft_ctx *ctx, const char *func, const graft_tensor *pred,
                        const float *targets, int l1, const graftLossTerm *t, double *loss,
                        graft_tensor *grad);

/* GRAFT_E_RANGE (named func, what the array) unless w[0..n) are finite and >= 0. */
int graftLossCheckWeights(graft_ctx *ctx, const char *func, const char *what, const float *w,
                          int64_t n);

#endif /* GRAFT_LAYERS_LOSS_H */
