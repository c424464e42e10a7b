/*
 * fit_callbacks.h - the built-in callbacks of graft_model_fit() (early
 * stopping, restore best, save best, reduce on plateau; include/graft.h,
 * "Callbacks"), which train.c calls at the start of a fit, at every epoch
 * end and when the fit ends (fit_callbacks.c).
 */
#ifndef GRAFT_MODEL_FIT_CALLBACKS_H
#define GRAFT_MODEL_FIT_CALLBACKS_H

#include "batch.h"

/* torch.optim.lr_scheduler.ReduceLROnPlateau on a multiplier of the base
 * rate (threshold_mode "rel"); a pure state machine, so that tests can
 * replay torch's sequences. */
typedef struct graftPlateau {
    double factor, threshold, min_scale; /* min_scale: min_lr / base rate */
    double base_lr;                      /* for the 1e-8 eps, in rate units */
    int patience, cooldown, maximize;
    double best;                         /* +inf (min) or -inf (max) at first */
    int bad_epochs, cooldown_left;
    double scale;                        /* 1 at first */
} graftPlateau;

/* Starts p: factor in (0, 1), threshold in [0, 1), patience and cooldown
 * >= 0, min_lr >= 0, base_lr > 0; maximize 1 for a figure that should grow. */
void graftPlateauInit(graftPlateau *p, double factor, int patience, double threshold,
                      int cooldown, double min_lr, double base_lr, int maximize);

/* One epoch's value (torch's scheduler.step(metric)); returns 1 when the
 * multiplier p->scale was reduced. */
int graftPlateauStep(graftPlateau *p, double value);

/* The callbacks' state for one fit call. */
typedef struct graftFitCallbacks {
    int on;               /* any callback enabled */
    int monitor;          /* GRAFT_MONITOR_*, AUTO resolved */
    int maximize;         /* the monitored figure should grow */
    double min_delta;
    int patience, wait;   /* early stopping (patience 0: off) */
    const char *save_best;
    int restore;          /* restore best */
    double best;          /* NaN before the first epoch */
    int64_t best_epoch;   /* 1-based, -1 before */
    int use_plateau;
    graftPlateau plateau;
    double lr_scale;      /* the multiplier every step applies (1) */
    /* the best epoch's model, for restore */
    float *copy;
    int *trainable;
    float *lr_scales;
    int64_t copy_epochs;  /* epochs_done at the copy, -1: none */
} graftFitCallbacks;

/* Checks opt's callback fields and prepares cb (allocating the copy for
 * restore best). has_val: a validation set is given. On error cb needs no
 * graftFitCallbacksEnd(). */
int graftFitCallbacksInit(graftFitCallbacks *cb, graft_model *m, const graft_optim *o,
                          const graft_fit_opts *opt, int has_val, const char *func);

/* At the end of epoch e (0-based; the model's epochs_done counts it), with
 * the epoch's training loss and accuracy and the validation results val
 * (NULL without a validation set): runs the callbacks; *stop becomes 1
 * when early stopping ends the fit. Errors: those of saving the best
 * checkpoint. */
int graftFitCallbacksEpochEnd(graftFitCallbacks *cb, graft_model *m, const graft_optim *o,
                              int64_t e, double loss, double accuracy, const graft_eval *val,
                              int *stop, const char *func);

/* Writes the GRAFT_PROGRESS_LR_SCALE, _BEST_EPOCH and _BEST slots of a
 * progress value array. */
void graftFitCallbacksReport(const graftFitCallbacks *cb, double *values);

/* Ends the fit: with status GRAFT_OK, restores the best epoch's model when
 * asked; frees cb's memory. Returns status. */
int graftFitCallbacksEnd(graftFitCallbacks *cb, graft_model *m, int status);

#endif
