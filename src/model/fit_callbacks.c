/*
 * fit_callbacks.c - graft_model_fit()'s built-in callbacks: early stopping,
 * restore best, save best and reduce on plateau (include/graft.h,
 * "Callbacks"). train.c calls them at the start of a fit, at every epoch end
 * and at the end; the state lives for one fit call.
 */
#include "fit_callbacks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- reduce on plateau --------------------------------------------------------- */

void graftPlateauInit(graftPlateau *p, double factor, int patience, double threshold,
                      int cooldown, double min_lr, double base_lr, int maximize)
{
    memset(p, 0, sizeof *p);
    p->factor = factor;
    p->patience = patience;
    p->threshold = threshold;
    p->cooldown = cooldown;
    p->base_lr = base_lr;
    p->min_scale = base_lr > 0 ? min_lr / base_lr : 0; /* a rate of 0 stays 0 */
    p->maximize = maximize;
    p->best = maximize ? -INFINITY : INFINITY;
    p->scale = 1;
}

/* torch's is_better() with threshold_mode "rel"; a NaN is never better. */
static int plateau_better(const graftPlateau *p, double v)
{
    return p->maximize ? v > p->best * (1 + p->threshold) : v < p->best * (1 - p->threshold);
}

int graftPlateauStep(graftPlateau *p, double value)
{
    if (plateau_better(p, value)) {
        p->best = value;
        p->bad_epochs = 0;
    } else {
        p->bad_epochs++;
    }
    if (p->cooldown_left > 0) {
        p->cooldown_left--;
        p->bad_epochs = 0; /* bad epochs in the cooldown do not count */
    }
    if (p->bad_epochs <= p->patience) return 0;
    p->cooldown_left = p->cooldown;
    p->bad_epochs = 0;
    double scale = p->scale * p->factor;
    if (scale < p->min_scale) scale = p->min_scale;
    /* torch: new_lr = max(old_lr * factor, min_lr), taken when old - new > eps */
    if ((p->scale - scale) * p->base_lr <= 1e-8) return 0;
    p->scale = scale;
    return 1;
}

/* ---- the model of the best epoch --------------------------------------------- */

static size_t params_numel(const graft_model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const graft_layer *l = m->nodes[i].layer;
        for (int k = 0; k < l->n_params; k++) total += l->params[k].value->numel;
    }
    return total;
}

/* Copies every parameter and buffer, the trainable flags and rate
 * multipliers into cb (save 1), or puts them back (save 0). */
static void model_copy(graftFitCallbacks *cb, graft_model *m, int save)
{
    float *c = cb->copy;
    for (int i = 0; i < m->n_nodes; i++) {
        graft_layer *l = m->nodes[i].layer;
        for (int k = 0; k < l->n_params; k++) {
            graft_tensor *t = l->params[k].value;
            if (save)
                memcpy(c, t->data, t->numel * sizeof(float));
            else
                memcpy(t->data, c, t->numel * sizeof(float));
            c += t->numel;
        }
        if (save) {
            cb->trainable[i] = m->nodes[i].trainable;
            cb->lr_scales[i] = m->nodes[i].lr_scale;
        } else {
            if (m->nodes[i].trainable != cb->trainable[i])
                graftModelSetTrainableRange(m, i, i, cb->trainable[i]);
            m->nodes[i].lr_scale = cb->lr_scales[i];
        }
    }
    if (save)
        cb->copy_epochs = m->epochs_done;
    else
        m->epochs_done = cb->copy_epochs;
}

/* ---- the callbacks -------------------------------------------------------------- */

int graftFitCallbacksInit(graftFitCallbacks *cb, graft_model *m, const graft_optim *o,
                          const graft_fit_opts *opt, int has_val, const char *func)
{
    graft_ctx *ctx = m->ctx;
    memset(cb, 0, sizeof *cb);
    cb->lr_scale = 1;
    cb->best = NAN;
    cb->best_epoch = -1;
    cb->copy_epochs = -1;
    GRAFT_RETURN_IF_AT(opt->monitor < GRAFT_MONITOR_AUTO || opt->monitor > GRAFT_MONITOR_ACCURACY,
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "monitor is %d, must be a GRAFT_MONITOR_* value (0 to 4)", opt->monitor);
    GRAFT_RETURN_IF_AT(!(opt->min_delta >= 0) || !isfinite(opt->min_delta), ctx,
                       GRAFT_E_INVALID_ARG, func, "min_delta is %g, must be finite and >= 0",
                       opt->min_delta);
    GRAFT_RETURN_IF_AT(opt->early_stop_patience < 0, ctx, GRAFT_E_INVALID_ARG, func,
                       "early_stop_patience is %d, must be >= 0 (0: off)",
                       opt->early_stop_patience);
    GRAFT_RETURN_IF_AT(opt->restore_best != 0 && opt->restore_best != 1, ctx,
                       GRAFT_E_INVALID_ARG, func, "restore_best is %d, must be 0 or 1",
                       opt->restore_best);
    GRAFT_RETURN_IF_AT(opt->save_best && !opt->save_best[0], ctx, GRAFT_E_INVALID_ARG, func,
                       "save_best is an empty path (NULL: no checkpoint)");
    GRAFT_RETURN_IF_AT(opt->plateau_factor != 0 &&
                           !(opt->plateau_factor > 0 && opt->plateau_factor < 1),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "plateau_factor is %g, must be 0 (off) or in (0, 1)", opt->plateau_factor);
    GRAFT_RETURN_IF_AT(opt->plateau_patience < 0 || opt->plateau_cooldown < 0, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "plateau_patience (%d) and plateau_cooldown (%d) must be >= 0",
                       opt->plateau_patience, opt->plateau_cooldown);
    GRAFT_RETURN_IF_AT(!(opt->plateau_threshold >= 0 && opt->plateau_threshold < 1), ctx,
                       GRAFT_E_INVALID_ARG, func, "plateau_threshold is %g, must be in [0, 1)",
                       opt->plateau_threshold);
    GRAFT_RETURN_IF_AT(!(opt->plateau_min_lr >= 0) || !isfinite(opt->plateau_min_lr), ctx,
                       GRAFT_E_INVALID_ARG, func, "plateau_min_lr is %g, must be finite and >= 0",
                       opt->plateau_min_lr);
    cb->patience = opt->early_stop_patience;
    cb->restore = opt->restore_best;
    cb->save_best = opt->save_best;
    cb->use_plateau = opt->plateau_factor > 0;
    cb->min_delta = opt->min_delta;
    cb->on = cb->patience > 0 || cb->restore || cb->save_best || cb->use_plateau;
    if (!cb->on) return GRAFT_OK;

    int mon = opt->monitor;
    if (mon == GRAFT_MONITOR_AUTO) mon = has_val ? GRAFT_MONITOR_VAL_LOSS : GRAFT_MONITOR_LOSS;
    GRAFT_RETURN_IF_AT(!has_val && (mon == GRAFT_MONITOR_VAL_LOSS ||
                                    mon == GRAFT_MONITOR_VAL_ACCURACY),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "monitor is the validation %s but val is NULL (give a validation set, or "
                       "monitor GRAFT_MONITOR_LOSS or GRAFT_MONITOR_ACCURACY)",
                       mon == GRAFT_MONITOR_VAL_LOSS ? "loss" : "accuracy");
    GRAFT_RETURN_IF_AT(m->task == GRAFT_TASK_REGRESSION && (mon == GRAFT_MONITOR_VAL_ACCURACY ||
                                                          mon == GRAFT_MONITOR_ACCURACY),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "monitor is an accuracy but the model is a regression model "
                       "(GRAFT_MODEL_TASK), which has none: monitor a loss");
    cb->monitor = mon;
    cb->maximize = mon == GRAFT_MONITOR_VAL_ACCURACY || mon == GRAFT_MONITOR_ACCURACY;
    if (cb->use_plateau) {
        double base;
        GRAFT_FORWARD_IF_ERROR(graft_optim_get(o, GRAFT_OPT_LR, &base));
        graftPlateauInit(&cb->plateau, opt->plateau_factor, opt->plateau_patience,
                         opt->plateau_threshold, opt->plateau_cooldown, opt->plateau_min_lr, base,
                         cb->maximize);
    }
    if (cb->restore) {
        size_t n = params_numel(m);
        cb->copy = graftAlloc(ctx, (n ? n : 1) * sizeof(float));
        cb->trainable = graftCalloc(ctx, (size_t)m->n_nodes + 1, sizeof *cb->trainable);
        cb->lr_scales = graftCalloc(ctx, (size_t)m->n_nodes + 1, sizeof *cb->lr_scales);
        if (!cb->copy || !cb->trainable || !cb->lr_scales) {
            graftFitCallbacksEnd(cb, m, GRAFT_E_NOMEM);
            return graftError(ctx, GRAFT_E_NOMEM, func,
                              "cannot allocate a copy of the model's %zu parameter values "
                              "(restore_best)", n);
        }
    }
    return GRAFT_OK;
}

static const char *monitor_name(int mon)
{
    switch (mon) {
    case GRAFT_MONITOR_VAL_LOSS: return "validation loss";
    case GRAFT_MONITOR_VAL_ACCURACY: return "validation accuracy";
    case GRAFT_MONITOR_LOSS: return "training loss";
    default: return "training accuracy";
    }
}

int graftFitCallbacksEpochEnd(graftFitCallbacks *cb, graft_model *m, const graft_optim *o,
                              int64_t e, double loss, double accuracy, const graft_eval *val,
                              int *stop, const char *func)
{
    *stop = 0;
    if (!cb->on) return GRAFT_OK;
    double v = cb->monitor == GRAFT_MONITOR_VAL_LOSS       ? val->loss
               : cb->monitor == GRAFT_MONITOR_VAL_ACCURACY ? val->accuracy
               : cb->monitor == GRAFT_MONITOR_LOSS         ? loss
                                                           : accuracy;
    int improved = cb->best_epoch < 0 ? !isnan(v)
                   : cb->maximize     ? v > cb->best + cb->min_delta
                                      : v < cb->best - cb->min_delta;
    if (improved) {
        cb->best = v;
        cb->best_epoch = e + 1;
        cb->wait = 0;
        if (cb->restore) model_copy(cb, m, 1);
        if (cb->save_best) {
            int st = graft_checkpoint_save(m, o, cb->save_best);
            if (st != GRAFT_OK) {
                const char *msg = graft_errmsg(m->ctx), *sep = strstr(msg, "(): ");
                char cause[GRAFT_ERRMSG_SIZE];
                snprintf(cause, sizeof cause, "%s", sep ? sep + 4 : msg);
                return graftError(m->ctx, st, func,
                                  "save_best: epoch %lld improved the %s to %g but its "
                                  "checkpoint could not be written: %s; the fit stopped after "
                                  "that epoch",
                                  (long long)e + 1, monitor_name(cb->monitor), v, cause);
            }
        }
    } else {
        cb->wait++;
        if (cb->patience > 0 && cb->wait >= cb->patience) *stop = 1;
    }
    if (cb->use_plateau) {
        graftPlateauStep(&cb->plateau, v);
        cb->lr_scale = cb->plateau.scale;
    }
    return GRAFT_OK;
}

void graftFitCallbacksReport(const graftFitCallbacks *cb, double *values)
{
    values[GRAFT_PROGRESS_LR_SCALE] = cb->lr_scale;
    values[GRAFT_PROGRESS_BEST_EPOCH] = cb->best_epoch > 0 ? (double)cb->best_epoch : NAN;
    values[GRAFT_PROGRESS_BEST] = cb->best_epoch > 0 ? cb->best : NAN;
}

int graftFitCallbacksEnd(graftFitCallbacks *cb, graft_model *m, int status)
{
    /* also when the last epoch was the best: a progress callback may have
     * stopped the fit after some steps of the next */
    if (status == GRAFT_OK && cb->restore && cb->copy_epochs >= 0) model_copy(cb, m, 0);
    graftFree(m->ctx, cb->copy);
    graftFree(m->ctx, cb->trainable);
    graftFree(m->ctx, cb->lr_scales);
    cb->copy = NULL;
    cb->trainable = NULL;
    cb->lr_scales = NULL;
    return status;
}
