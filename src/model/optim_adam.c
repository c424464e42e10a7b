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
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The constants of one slot's update. */
typedef struct adam_consts {
    double b1, b2, eps, step_size, bc2_sqrt;
    double grad_decay; /* Adam's weight decay, added to the gradient */
    double keep;       /* AdamW's factor 1 - lr * wd on the value */
} adam_consts;

static adam_consts adam_setup(const double *hp, int64_t step, double lr, double grad_decay,
                              double keep)
{
    adam_consts k;
    k.b1 = hp[GRAFT_OPT_BETA1];
    k.b2 = hp[GRAFT_OPT_BETA2];
    k.eps = hp[GRAFT_OPT_EPSILON];
    k.step_size = lr / (1.0 - pow(k.b1, (double)step));
    k.bc2_sqrt = sqrt(1.0 - pow(k.b2, (double)step));
    k.grad_decay = grad_decay;
    k.keep = keep;
    return k;
}

/* First half of element i: AdamW's decay of the value by keep (when
 * use_keep), Adam's weight decay wd on the gradient (when use_decay), and the
 * new moments. use_keep and use_decay are constants at every call site. */
static GRAFT_OPTIM_INLINE void adam_moments(float *restrict value, const float *restrict grad,
                                            float *restrict m, float *restrict v, size_t i,
                                            const adam_consts *k, int use_keep, int use_decay)
{
    if (use_keep) value[i] = (float)((double)value[i] * k->keep);
    float g = grad[i];
    if (use_decay) g = (float)((double)g + k->grad_decay * (double)value[i]);
    const float mi = (float)(k->b1 * (double)m[i] + (1.0 - k->b1) * (double)g);
    const float vi = (float)(k->b2 * (double)v[i] + (1.0 - k->b2) * (double)g * (double)g);
    m[i] = mi;
    v[i] = vi;
}

/* Second half: the step from the (decayed) value and the new moments. */
static GRAFT_OPTIM_INLINE void adam_step(float *restrict value, const float *restrict m,
                                         const float *restrict v, size_t i, const adam_consts *k)
{
    const double p = value[i];
    const double denom = sqrt((double)v[i]) / k->bc2_sqrt + k->eps;
    value[i] = (float)(p - k->step_size * (double)m[i] / denom);
}

/* The vector path, on SSE2 (every x86-64): four elements at a time as two
 * pairs of doubles. gcc -O2 does not vectorise the scalar form (its float
 * loads widened to double find no vector type, and sqrt() is a call that may
 * set errno), hence intrinsics. Each lane performs the scalar rule's
 * operations in the same order, and every one of them (widening, +, -, *, /,
 * sqrt, narrowing) is a correctly rounded IEEE operation in a lane as in a
 * scalar register, so the results are the same bits. (1 - beta1) and
 * (1 - beta2) are computed once, as the scalar loop's invariant
 * subexpressions are. */
#if defined(__SSE2__)
#define ADAM_VECTOR 1

/* Four doubles, elements 0-1 and 2-3. */
typedef struct adam_d4 {
    __m128d lo, hi;
} adam_d4;

static inline adam_d4 adam_widen(__m128 f)
{
    adam_d4 d = {_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f))};
    return d;
}
static inline __m128 adam_narrow(adam_d4 d)
{
    return _mm_movelh_ps(_mm_cvtpd_ps(d.lo), _mm_cvtpd_ps(d.hi));
}
static inline adam_d4 adam_load(const float *p) { return adam_widen(_mm_loadu_ps(p)); }
/* Rounds to float and stores; returns the rounded values, widened again. */
static inline adam_d4 adam_store(float *p, adam_d4 d)
{
    const __m128 f = adam_narrow(d);
    _mm_storeu_ps(p, f);
    return adam_widen(f);
}
/* a * x + b * y (the products first, then the sum) */
static inline adam_d4 adam_lin(__m128d a, adam_d4 x, __m128d b, adam_d4 y)
{
    adam_d4 r = {_mm_add_pd(_mm_mul_pd(a, x.lo), _mm_mul_pd(b, y.lo)),
                 _mm_add_pd(_mm_mul_pd(a, x.hi), _mm_mul_pd(b, y.hi))};
    return r;
}

/* Elements i .. i + 3, as adam_moments then adam_step. */
static GRAFT_OPTIM_INLINE void adam_vec4(float *restrict value, const float *restrict grad,
                                         float *restrict m, float *restrict v, size_t i,
                                         const adam_consts *k, int use_keep, int use_decay)
{
    const __m128d b1 = _mm_set1_pd(k->b1), b2 = _mm_set1_pd(k->b2);
    const __m128d c1 = _mm_set1_pd(1.0 - k->b1), c2 = _mm_set1_pd(1.0 - k->b2);
    adam_d4 p = adam_load(value + i);
    if (use_keep) {
        const __m128d keep = _mm_set1_pd(k->keep);
        adam_d4 kp = {_mm_mul_pd(p.lo, keep), _mm_mul_pd(p.hi, keep)};
        p = adam_store(value + i, kp);
    }
    adam_d4 g = adam_load(grad + i);
    if (use_decay) { /* g + wd * p, rounded to float */
        const __m128d wd = _mm_set1_pd(k->grad_decay);
        const adam_d4 gd = {_mm_add_pd(g.lo, _mm_mul_pd(wd, p.lo)),
                            _mm_add_pd(g.hi, _mm_mul_pd(wd, p.hi))};
        g = adam_widen(adam_narrow(gd));
    }
    const adam_d4 mi = adam_store(m + i, adam_lin(b1, adam_load(m + i), c1, g));
    /* (1 - beta2) * g * g is ((1 - beta2) * g) * g */
    const adam_d4 gg = {_mm_mul_pd(_mm_mul_pd(c2, g.lo), g.lo),
                        _mm_mul_pd(_mm_mul_pd(c2, g.hi), g.hi)};
    const adam_d4 vo = adam_load(v + i);
    const adam_d4 vn = {_mm_add_pd(_mm_mul_pd(b2, vo.lo), gg.lo),
                        _mm_add_pd(_mm_mul_pd(b2, vo.hi), gg.hi)};
    const adam_d4 vi = adam_store(v + i, vn);
    const __m128d bc2 = _mm_set1_pd(k->bc2_sqrt), eps = _mm_set1_pd(k->eps);
    const __m128d step = _mm_set1_pd(k->step_size);
    const adam_d4 out = {
        _mm_sub_pd(p.lo, _mm_div_pd(_mm_mul_pd(step, mi.lo),
                                    _mm_add_pd(_mm_div_pd(_mm_sqrt_pd(vi.lo), bc2), eps))),
        _mm_sub_pd(p.hi, _mm_div_pd(_mm_mul_pd(step, mi.hi),
                                    _mm_add_pd(_mm_div_pd(_mm_sqrt_pd(vi.hi), bc2), eps)))};
    _mm_storeu_ps(value + i, adam_narrow(out));
}
#else
#define ADAM_VECTOR 0
#endif

/* All n elements for one case of the flags: blocks of 8 on the vector path,
 * then the rest one by one. */
static GRAFT_OPTIM_INLINE void adam_span(float *restrict value, const float *restrict grad,
                                         float *restrict m, float *restrict v, size_t n,
                                         const adam_consts *k, int use_keep, int use_decay)
{
    size_t i = 0;
#if ADAM_VECTOR
    for (; i + 8 <= n; i += 8) {
        adam_vec4(value, grad, m, v, i, k, use_keep, use_decay);
        adam_vec4(value, grad, m, v, i + 4, k, use_keep, use_decay);
    }
#endif
    for (; i < n; i++) {
        adam_moments(value, grad, m, v, i, k, use_keep, use_decay);
        adam_step(value, m, v, i, k);
    }
}

/* restrict on the update functions themselves: the loops are inlined here,
 * and the compiler honours restrict for the function it compiles. (The
 * slot's value, gradient and state are distinct allocations.) */
static void adam_update(float *restrict value, const float *restrict grad, float *restrict state,
                        size_t n, int64_t step, double lr, const double *restrict hp)
{
    const adam_consts k = adam_setup(hp, step, lr, hp[GRAFT_OPT_WEIGHT_DECAY], 1.0);
    if (k.grad_decay != 0)
        adam_span(value, grad, state, state + n, n, &k, 0, 1);
    else
        adam_span(value, grad, state, state + n, n, &k, 0, 0);
}

static void adamw_update(float *restrict value, const float *restrict grad,
                         float *restrict state, size_t n, int64_t step, double lr,
                         const double *restrict hp)
{
    const adam_consts k = adam_setup(hp, step, lr, 0.0, 1.0 - lr * hp[GRAFT_OPT_WEIGHT_DECAY]);
    if (k.keep != 1.0)
        adam_span(value, grad, state, state + n, n, &k, 1, 0);
    else
        adam_span(value, grad, state, state + n, n, &k, 0, 0);
}

/* The rule's intermediates in magnitude, from the bounds mp, mg, ms[0] and
 * ms[1] on |p|, |g|, |m| and v: AdamW's decayed value mp * |1 - lr * wd|,
 * or Adam's decayed gradient mg + wd * mp; |m'| and v' (weighted sums); and
 * |p'| <= |p| + step_size * |m'| / eps, the denominator
 * sqrt(v') / sqrt(1 - beta2^t) + eps being at least eps. A NaN from an
 * extreme hyperparameter fails the comparisons: not shown. */
static int adam_bound(const double *hp, int64_t step, double lr, double mp, double mg,
                      const double *ms, double *mp_out, double *ms_out, int decoupled)
{
    const double b1 = hp[GRAFT_OPT_BETA1], b2 = hp[GRAFT_OPT_BETA2];
    const double eps = hp[GRAFT_OPT_EPSILON], wd = hp[GRAFT_OPT_WEIGHT_DECAY];
    double p = mp, g = mg;
    if (decoupled)
        p = mp * fabs(1.0 - lr * wd);
    else
        g = mg + wd * mp;
    const double m = b1 * ms[0] + (1.0 - b1) * g, v = b2 * ms[1] + (1.0 - b2) * g * g;
    const double step_size = lr / (1.0 - pow(b1, (double)step));
    const double out = p + step_size * m / eps;
    const double lim = GRAFT_OPTIM_FINITE_LIMIT;
    *mp_out = out;
    ms_out[0] = m;
    ms_out[1] = v;
    return p <= lim && g <= lim && m <= lim && v <= lim && out <= lim;
}

static int adam_stays_finite(const double *hp, int64_t step, double lr, double mp, double mg,
                             const double *ms, double *mp_out, double *ms_out)
{
    return adam_bound(hp, step, lr, mp, mg, ms, mp_out, ms_out, 0);
}

static int adamw_stays_finite(const double *hp, int64_t step, double lr, double mp, double mg,
                              const double *ms, double *mp_out, double *ms_out)
{
    return adam_bound(hp, step, lr, mp, mg, ms, mp_out, ms_out, 1);
}

const graftOptimKind graftOptimAdamKind = {
    .name = "Adam",
    .n_buffers = 2,
    .nonneg_buffers = 1u << 1,
    .check = NULL,
    .update = adam_update,
    .stays_finite = adam_stays_finite,
};

const graftOptimKind graftOptimAdamWKind = {
    .name = "AdamW",
    .n_buffers = 2,
    .nonneg_buffers = 1u << 1,
    .check = NULL,
    .update = adamw_update,
    .stays_finite = adamw_stays_finite,
};
