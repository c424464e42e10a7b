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

/* What graftOptimStepChecked() found: in slot `slot`, element `index`. */
typedef enum graftOptimFaultKind {
    GRAFT_OPTIM_FAULT_GRADIENT,  /* the gradient is inf or NaN */
    GRAFT_OPTIM_FAULT_VALUE,     /* the value already is */
    GRAFT_OPTIM_FAULT_STATE,     /* the optimizer state already is */
    GRAFT_OPTIM_FAULT_NEW_VALUE, /* the update would make the value inf or NaN */
    GRAFT_OPTIM_FAULT_NEW_STATE  /* the update would make the optimizer state so */
} graftOptimFaultKind;

typedef struct graftOptimFault {
    int slot;
    graftOptimFaultKind kind;
    size_t index;
    float value;     /* the value found, or the one the update would store */
    double grad_max; /* the slot's largest |gradient| (for the NEW_ kinds) */
} graftOptimFault;

/* The most state buffers a kind keeps per element. */
#define GRAFT_OPTIM_MAX_BUFFERS 2

/* Bounds on the magnitudes of one slot's value and state buffers, which a
 * caller keeps from one checked step to the next so that a step need not
 * read the values to know them (graftOptimStepChecked()). They hold while
 * nothing but those steps changes the values: set known to 0 whenever
 * something else may have (a new list of slots, a load, the user). */
typedef struct graftOptimBound {
    int known;                                /* 0: unknown, read them */
    double value;                             /* >= max |value| */
    double state[GRAFT_OPTIM_MAX_BUFFERS];    /* >= max |buffer b| */
    /* scratch of a step: the bounds after it, committed when it is made */
    int next_known;
    double next_value, next_state[GRAFT_OPTIM_MAX_BUFFERS];
} graftOptimBound;

/* graftOptimStep() that never stores a value that is not finite. Before
 * anything is touched it reads every updated slot's gradient once (its
 * largest magnitude, graftMaxAbs(); an inf or a NaN there is a fault) and
 * takes the largest magnitudes of the value and the state from
 * bounds[slot] when known, else reads them (an inf or a NaN is a fault).
 * Then the kind's stays_finite() must show from those that the update
 * keeps the value and the state finite; where it does not (huge values, a
 * tiny epsilon, a huge learning rate) the values are read if they were
 * only bounded, and if that is not enough the update runs on a copy, 1024
 * elements at a time, to see. On a fault it returns GRAFT_E_NUMERIC with
 * *fault filled in, recording no message (the caller names the layer), and
 * the values, the state, the step counts and bounds are exactly as before
 * the call (the state is not even created at a first step). After a step,
 * bounds (n_slots entries; NULL: read the values at every step) hold the
 * new magnitudes. Other errors as graftOptimStep(). */
int graftOptimStepChecked(graft_optim *o, int n_slots, const graftOptimSlot *slots, double lr,
                          graftOptimBound *bounds, graftOptimFault *fault);

/* The schedule's learning rate at a point measured in epochs. */
double graftOptimLearningRate(const graft_optim *o, double epoch);

/* Serialises kind, hyperparameters, step count and state; and reads them
 * back into a new optimizer with full validation (GRAFT_E_FORMAT). */
int graftOptimSave(const graft_optim *o, graftWriter *w);
int graftOptimLoad(graft_ctx *ctx, graftReader *r, graft_optim **out);

#endif /* GRAFT_OPTIM_H */
