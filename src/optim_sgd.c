/*
 * optim_sgd.c - stochastic gradient descent, as torch.optim.SGD (PyTorch
 * 1.13) with dampening 0.
 *
 * For every element, with value p, gradient g, momentum buffer b, learning
 * rate lr, weight decay wd and momentum mu:
 *   d = g + wd * p                     (when wd != 0)
 *   b = mu * b + d                     (when mu != 0)
 *   d = d + mu * b (Nesterov) or d = b (when mu != 0)
 *   p = p - lr * d
 * Intermediate tensors that PyTorch materialises in float32 (d, b, p) are
 * rounded to float here too; each is computed in double from float inputs.
 * State: one buffer (b) per element. It starts at zero, so the first update
 * with mu != 0 gives b = mu * 0 + d = d exactly, PyTorch's b = clone(d) at
 * the first step; and a momentum switched on later also starts from b = d.
 * While mu is 0, b is kept unchanged, as PyTorch keeps its buffer.
 */
#include "optim_impl.h"

static const char *sgd_check(const double *hp)
{
    if (hp[GRAFT_OPT_NESTEROV] != 0 && hp[GRAFT_OPT_MOMENTUM] == 0)
        return "GRAFT_OPT_NESTEROV is 1 but GRAFT_OPT_MOMENTUM is 0: Nesterov momentum needs "
               "GRAFT_OPT_MOMENTUM > 0";
    return NULL;
}

static void sgd_update(float *value, const float *grad, float *state, size_t n, int64_t step,
                       double lr, const double *hp)
{
    const double wd = hp[GRAFT_OPT_WEIGHT_DECAY], mu = hp[GRAFT_OPT_MOMENTUM];
    const int nesterov = hp[GRAFT_OPT_NESTEROV] != 0;
    float *buf = state;
    (void)step;
    for (size_t i = 0; i < n; i++) {
        const double p = value[i];
        float d = grad[i];
        if (wd != 0) d = (float)((double)d + wd * p);
        if (mu != 0) {
            const float b = (float)(mu * (double)buf[i] + (double)d);
            buf[i] = b;
            d = nesterov ? (float)((double)d + mu * (double)b) : b;
        }
        value[i] = (float)(p - lr * (double)d);
    }
}

const graftOptimKind graftOptimSgdKind = {
    .name = "SGD",
    .n_buffers = 1,
    .nonneg_buffers = 0,
    .check = sgd_check,
    .update = sgd_update,
};
