/*
 * optim.h - private interface of graft_optim, used by train.c (steps) and
 * model_io.c (checkpoints).
 */
#ifndef GRAFT_OPTIM_H
#define GRAFT_OPTIM_H

#include "core/internal.h"

/* One parameter tensor as the optimizer sees it. The slots passed to
 * graftOptimStep() must be the same list, in the same order, at every step
 * (a model's trainable-capable parameters, frozen ones included with
 * frozen = 1: they keep their state and are not updated). */
typedef struct graftOptimSlot {
    graft_tensor *value;
    const graft_tensor *grad;
    float lr_scale; /* multiplier of the learning rate (1 by default) */
    int frozen;     /* 1: leave the value and its state alone */
} graftOptimSlot;

/* Makes one update of every slot with the learning rate lr (already taken
 * from the schedule), creates the per-slot state at the first step, and
 * counts the step. The state's layout must match the slots (count and element
 * counts); a mismatch is GRAFT_E_STATE ("this optimizer was used with another
 * model"). Allocation happens only at the first step. */
int graftOptimStep(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr);

/* The schedule's learning rate at a point measured in epochs. */
double graftOptimLearningRate(const graft_optim *o, double epoch);

/* Serialises kind, hyperparameters, step count and state; and reads them
 * back into a new optimizer with full validation (GRAFT_E_FORMAT). */
int graftOptimSave(const graft_optim *o, graftWriter *w);
int graftOptimLoad(graft_ctx *ctx, graftReader *r, graft_optim **out);

#endif /* GRAFT_OPTIM_H */
