/*
 * optim_impl.h - what optim.c shares with the per-kind update rules in
 * optim_sgd.c and optim_adam.c.
 *
 * optim.c owns struct graft_optim, the hyperparameter table, the schedule,
 * the per-slot state and its serialisation; a kind only says how much state
 * it keeps per parameter element and how it updates one slot.
 */
#ifndef GRAFT_OPTIM_IMPL_H
#define GRAFT_OPTIM_IMPL_H

#include "optim.h"

/* Largest GRAFT_OPT_* key and GRAFT_OPTIM_* kind: hyperparameters are kept
 * in a double array indexed by key, hp[GRAFT_OPT_LR] and so on. */
#define GRAFT_OPT_KEY_MAX GRAFT_OPT_WARMUP_EPOCHS
#define GRAFT_OPTIM_KIND_MAX GRAFT_OPTIM_ADAMW

typedef struct graftOptimKind {
    const char *name;        /* "SGD", "Adam", "AdamW": used in messages */
    int n_buffers;           /* state floats per parameter element */
    unsigned nonneg_buffers; /* bit b set: buffer b never holds a negative value */
    /* (optional) Returns why the hyperparameters hp cannot make a step, or
     * NULL when they can. Called before any slot is touched. */
    const char *(*check)(const double *hp);
    /* Updates the n elements of one slot: value in place from grad, with its
     * state (n_buffers consecutive arrays of n floats, zero before the slot's
     * first update), its step count including this update (>= 1), and the
     * learning rate lr (schedule value times the slot's lr_scale).
     * hp is indexed by GRAFT_OPT_* key. Cannot fail. */
    void (*update)(float *value, const float *grad, float *state, size_t n, int64_t step,
                   double lr, const double *hp);
    /* Returns 1 when update(), on a slot whose values, gradients and state
     * buffers are at most mp, mg and ms[0..n_buffers) in magnitude (all
     * finite), surely leaves the value and every buffer finite: every
     * intermediate the rule rounds to float stays within
     * GRAFT_OPTIM_FINITE_LIMIT. Then *mp_out and ms_out[0..n_buffers)
     * receive bounds on the magnitudes after the update. 0 when the bound
     * does not show it; graftOptimStepChecked() then reads the values
     * themselves or runs the update on a copy to see. step and lr as for
     * update(). */
    int (*stays_finite)(const double *hp, int64_t step, double lr, double mp, double mg,
                        const double *ms, double *mp_out, double *ms_out);
} graftOptimKind;

/* The bound stays_finite() keeps intermediates under: FLT_MAX / 34, so that
 * the few roundings to float between the bound and the stored value (each
 * a relative 2^-24 at most) cannot reach infinity. */
#define GRAFT_OPTIM_FINITE_LIMIT 1e37

/* For the per-element helpers of the update loops: they take their case
 * flags as constant arguments, and only a copy inlined with the constants
 * known has a branch-free loop the compiler can vectorise. */
#if defined(__GNUC__)
#define GRAFT_OPTIM_INLINE inline __attribute__((always_inline))
#else
#define GRAFT_OPTIM_INLINE inline
#endif

extern const graftOptimKind graftOptimSgdKind;   /* optim_sgd.c */
extern const graftOptimKind graftOptimAdamKind;  /* optim_adam.c */
extern const graftOptimKind graftOptimAdamWKind; /* optim_adam.c */

#endif /* GRAFT_OPTIM_IMPL_H */
