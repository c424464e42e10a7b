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

/* Element i of the update above. use_wd, use_mu and nesterov are constants
 * at every call site (sgd_span is inlined once per case), so the body has no
 * branches and no calls; the float and double operations, and their order,
 * are those of the rule as written, so results do not depend on the path. */
static GRAFT_OPTIM_INLINE void sgd_elem(float *restrict value, const float *restrict grad,
                                        float *restrict buf, size_t i, double lr, double wd,
                                        double mu, int use_wd, int use_mu, int nesterov)
{
    const double p = value[i];
    float d = grad[i];
    if (use_wd) d = (float)((double)d + wd * p);
    if (use_mu) {
        const float b = (float)(mu * (double)buf[i] + (double)d);
        buf[i] = b;
        d = nesterov ? (float)((double)d + mu * (double)b) : b;
    }
    value[i] = (float)(p - lr * (double)d);
}

/* All n elements for one case of the flags: blocks of 8 independent elements
 * (a fixed-length inner loop that gcc -O2 unrolls and vectorises, two doubles
 * per SSE2 register), then the remainder one by one. */
static GRAFT_OPTIM_INLINE void sgd_span(float *restrict value, const float *restrict grad,
                                        float *restrict buf, size_t n, double lr, double wd,
                                        double mu, int use_wd, int use_mu, int nesterov)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t u = 0; u < 8; u++)
            sgd_elem(value, grad, buf, i + u, lr, wd, mu, use_wd, use_mu, nesterov);
    for (; i < n; i++) sgd_elem(value, grad, buf, i, lr, wd, mu, use_wd, use_mu, nesterov);
}

/* restrict here too: the loops are inlined into this function, and the
 * compiler honours restrict for the function it compiles. (The slot's value,
 * gradient and state are distinct allocations.) */
static void sgd_update(float *restrict value, const float *restrict grad, float *restrict state,
                       size_t n, int64_t step, double lr, const double *restrict hp)
{
    const double wd = hp[GRAFT_OPT_WEIGHT_DECAY], mu = hp[GRAFT_OPT_MOMENTUM];
    const int nesterov = hp[GRAFT_OPT_NESTEROV] != 0;
    (void)step;
    /* one specialised loop per case (d = b when mu != 0 and not Nesterov) */
    if (wd != 0) {
        if (mu == 0)
            sgd_span(value, grad, state, n, lr, wd, mu, 1, 0, 0);
        else if (nesterov)
            sgd_span(value, grad, state, n, lr, wd, mu, 1, 1, 1);
        else
            sgd_span(value, grad, state, n, lr, wd, mu, 1, 1, 0);
    } else {
        if (mu == 0)
            sgd_span(value, grad, state, n, lr, wd, mu, 0, 0, 0);
        else if (nesterov)
            sgd_span(value, grad, state, n, lr, wd, mu, 0, 1, 1);
        else
            sgd_span(value, grad, state, n, lr, wd, mu, 0, 1, 0);
    }
}

/* The rule's intermediates in magnitude, from the bounds mp, mg and ms[0]
 * on |p|, |g| and |b|: |d| <= mg + wd * mp, |b'| <= mu * |b| + |d|, the step
 * direction |d + mu * b'| (Nesterov; b' alone is smaller) and
 * |p'| <= mp + lr * that. While mu is 0 the buffer is kept as it is. */
static int sgd_stays_finite(const double *hp, int64_t step, double lr, double mp, double mg,
                            const double *ms, double *mp_out, double *ms_out)
{
    const double wd = hp[GRAFT_OPT_WEIGHT_DECAY], mu = hp[GRAFT_OPT_MOMENTUM];
    const double d = mg + wd * mp, b = mu * ms[0] + d, dir = d + mu * b, p = mp + lr * dir;
    (void)step;
    *mp_out = p;
    ms_out[0] = mu != 0 ? b : ms[0];
    return d <= GRAFT_OPTIM_FINITE_LIMIT && b <= GRAFT_OPTIM_FINITE_LIMIT &&
           dir <= GRAFT_OPTIM_FINITE_LIMIT && p <= GRAFT_OPTIM_FINITE_LIMIT;
}

const graftOptimKind graftOptimSgdKind = {
    .name = "SGD",
    .n_buffers = 1,
    .nonneg_buffers = 0,
    .check = sgd_check,
    .update = sgd_update,
    .stays_finite = sgd_stays_finite,
};
