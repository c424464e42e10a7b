/*
 * optim_adam.c - Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW
 * (PyTorch 1.13, amsgrad off).
 *
 * For every element, with value p, gradient g, first and second moments m
 * and v, the slot's step count t (including this update), learning rate lr,
 * weight decay wd, beta1, beta2 and eps:
 *   AdamW only:  p = p * (1 - lr * wd)
 *   Adam only:   g = g + wd * p                       (when wd != 0)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g * g
 *   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * m, v and p are rounded to float where PyTorch stores them; each is
 * computed in double from float inputs. State: two buffers (m, then v) per
 * element; v is never negative. t counts the slot's own updates (a slot
 * frozen for some steps has fewer), as PyTorch's per-parameter state['step'].
 */
#include "optim_impl.h"

#include <math.h>

static void adam_moments(float *value, const float *grad, float *state, size_t n, int64_t step,
                         double lr, const double *hp, double grad_decay)
{
    const double b1 = hp[GRAFT_OPT_BETA1], b2 = hp[GRAFT_OPT_BETA2], eps = hp[GRAFT_OPT_EPSILON];
    const double step_size = lr / (1.0 - pow(b1, (double)step));
    const double bc2_sqrt = sqrt(1.0 - pow(b2, (double)step));
    float *m = state, *v = state + n;
    for (size_t i = 0; i < n; i++) {
        const double p = value[i];
        float g = grad[i];
        if (grad_decay != 0) g = (float)((double)g + grad_decay * p);
        const float mi = (float)(b1 * (double)m[i] + (1.0 - b1) * (double)g);
        const float vi = (float)(b2 * (double)v[i] + (1.0 - b2) * (double)g * (double)g);
        m[i] = mi;
        v[i] = vi;
        const double denom = sqrt((double)vi) / bc2_sqrt + eps;
        value[i] = (float)(p - step_size * (double)mi / denom);
    }
}

static void adam_update(float *value, const float *grad, float *state, size_t n, int64_t step,
                        double lr, const double *hp)
{
    adam_moments(value, grad, state, n, step, lr, hp, hp[GRAFT_OPT_WEIGHT_DECAY]);
}

static void adamw_update(float *value, const float *grad, float *state, size_t n, int64_t step,
                         double lr, const double *hp)
{
    const double keep = 1.0 - lr * hp[GRAFT_OPT_WEIGHT_DECAY];
    if (keep != 1.0)
        for (size_t i = 0; i < n; i++) value[i] = (float)((double)value[i] * keep);
    adam_moments(value, grad, state, n, step, lr, hp, 0.0);
}

const graftOptimKind graftOptimAdamKind = {
    .name = "Adam",
    .n_buffers = 2,
    .nonneg_buffers = 1u << 1,
    .check = NULL,
    .update = adam_update,
};

const graftOptimKind graftOptimAdamWKind = {
    .name = "AdamW",
    .n_buffers = 2,
    .nonneg_buffers = 1u << 1,
    .check = NULL,
    .update = adamw_update,
};
