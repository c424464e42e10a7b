/*
 * check_optim_adam.c - Adam and AdamW (src/model/optim_adam.c), as
 * torch.optim.Adam and torch.optim.AdamW (amsgrad off): steps computed by
 * hand, the vectorised loops against the rule written one element at a
 * time, the first step's independence of the gradient's scale, epsilon,
 * and a steady gradient. PyTorch trajectories for every kind are
 * check_optim.c's.
 */
#include "testutil.h"

#include "model/optim.h"

#include <math.h>
#include <string.h>

/* An Adam or AdamW configuration (betas 0.9 and 0.999, epsilon 1e-8, the
 * defaults) and its moments. */
typedef struct adam_rule {
    double wd;
    int decoupled; /* AdamW */
    float m[37], v[37];
} adam_rule;

/* The update rule as written in optim_adam.c, one element at a time, for
 * comparison with the blocked and vectorised loops: a tu_optim_rule whose
 * state is an adam_rule. */
static void adam_reference(float *value, const float *grad, size_t n, int step, double lr,
                           void *state)
{
    adam_rule *r = state;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = r->wd;
    const int decoupled = r->decoupled;
    float *m = r->m, *v = r->v;
    const double step_size = lr / (1.0 - pow(b1, (double)step));
    const double bc2_sqrt = sqrt(1.0 - pow(b2, (double)step));
    const double keep = decoupled ? 1.0 - lr * wd : 1.0, grad_decay = decoupled ? 0.0 : wd;
    if (keep != 1.0)
        for (size_t i = 0; i < n; i++) value[i] = (float)((double)value[i] * keep);
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

START_TEST(test_adam_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    float a, b;
    /* Adam, lr 0.1, defaults beta1 0.9, beta2 0.999, eps 1e-8; g = 0.5, -1:
       1: m = 0.05, v = 0.00025; m^ = 0.05 / 0.1 = 0.5, v^ = 0.00025 / 0.001 = 0.25;
          p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002
       2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975;
          m^ = -0.055 / 0.19 = -0.289473684, sqrt(v^) = sqrt(0.00124975 / 0.001999)
          = 0.790688051; p = 0.900000002 + 0.1 * 0.289473684 / 0.790688051 = 0.936610354 */
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    tu_optim_two_steps(o, 0.5f, -1, 0.1, &a, &b);
    ck_assert_float_eq_tol(a, 0.9f, 1e-7f);
    ck_assert_float_eq_tol(b, 0.936610354f, 2e-7f);
    graft_optim_free(o);

    /* AdamW, lr 0.1, weight decay 0.5, same gradients: first p *= 1 - 0.05,
       then the same Adam step as above:
       1: p = 0.95 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.850000002
       2: p = 0.850000002 * 0.95 + 0.036610352 = 0.844110354 */
    o = tu_optim_new(ctx, GRAFT_OPTIM_ADAMW);
    tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.5);
    tu_optim_two_steps(o, 0.5f, -1, 0.1, &a, &b);
    ck_assert_float_eq_tol(a, 0.85f, 1e-7f);
    ck_assert_float_eq_tol(b, 0.844110354f, 2e-7f);
    graft_optim_free(o);

    /* Adam with weight decay 0.5 adds it to the gradient instead:
       1: g = 0.5 + 0.5 * 1 = 1; m = 0.1, v = 0.001; m^ = 1, sqrt(v^) = 1;
          p = 1 - 0.1 * 1 / (1 + 1e-8) = 0.9 */
    o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.5);
    tu_optim_two_steps(o, 0.5f, -1, 0.1, &a, &b);
    ck_assert_float_eq_tol(a, 0.9f, 1e-7f);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

/* Every Adam and AdamW case (weight decay on or off) on slots of 1 to 37
 * elements (blocks of 8, the vector path's blocks of 4, and remainders), a
 * few steps with changing learning rates: the values must equal the scalar
 * rule's bit for bit after each step (the moments are checked through the
 * next steps). */
START_TEST(test_adam_matches_reference)
{
    graft_ctx *ctx = tu_ctx();
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    static const double cases[][2] = {/* kind (0 Adam, 1 AdamW), wd */
                                      {0, 0}, {0, 0.05}, {1, 0}, {1, 0.05}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int n = 1; n <= 37; n += 3) {
            adam_rule r = {cases[c][1], cases[c][0] != 0, {0}, {0}};
            graft_optim *o = tu_optim_new(ctx, r.decoupled ? GRAFT_OPTIM_ADAMW : GRAFT_OPTIM_ADAM);
            tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, r.wd);
            char what[32];
            snprintf(what, sizeof what, "case %zu", c);
            tu_optim_check_rule(o, n, &seed, adam_reference, &r, what);
            graft_optim_free(o);
        }
    graft_ctx_free(ctx);
}
END_TEST

/* Bias correction makes the first step lr * sign(g) whatever the
 * gradient's scale (|g| much larger than epsilon): m^ = g, sqrt(v^) = |g|.
 * For Adam and AdamW without weight decay. */
START_TEST(test_adam_first_step_is_scale_free)
{
    graft_ctx *ctx = tu_ctx();
    const float grads[6] = {1e-3f, -0.5f, 2.0f, -40.0f, 1e3f, 3e5f};
    for (int kind = 0; kind < 2; kind++) {
        graft_optim *o = tu_optim_new(ctx, kind ? GRAFT_OPTIM_ADAMW : GRAFT_OPTIM_ADAM);
        tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0);
        float zeros[6] = {0};
        graft_tensor *p = tu_vec(ctx, 6, zeros), *g = tu_vec(ctx, 6, grads);
        graftOptimSlot slot = {p, g, 1.0f, 0};
        tu_optim_step(o, 1, &slot, 0.01);
        for (int i = 0; i < 6; i++) {
            const float want = grads[i] > 0 ? -0.01f : 0.01f;
            ck_assert_msg(fabsf(graft_tensor_data(p)[i] - want) <= 1e-7f + 1e-4f * 0.01f,
                          "kind %d, g = %g: moved by %.9g", kind, (double)grads[i],
                          (double)graft_tensor_data(p)[i]);
        }
        graft_tensor_free(p);
        graft_tensor_free(g);
        graft_optim_free(o);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Epsilon bounds the step of a vanishing gradient: with g = 1e-12 and
 * epsilon 1e-8, the first step is lr * g / (|g| + eps), about lr * 1e-4;
 * with epsilon 1e-20 it is lr again. And the moments keep a steady
 * gradient's step at lr at every step (m^ = g, v^ = g^2). */
START_TEST(test_adam_epsilon_and_steady_gradient)
{
    graft_ctx *ctx = tu_ctx();
    const float zero = 0, tiny = 1e-12f, steady = 0.25f;
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    graft_tensor *p = tu_vec(ctx, 1, &zero), *g = tu_vec(ctx, 1, &tiny);
    graftOptimSlot slot = {p, g, 1.0f, 0};
    tu_optim_step(o, 1, &slot, 1.0);
    ck_assert_msg(fabs(graft_tensor_data(p)[0] + 1e-12 / (1e-12 + 1e-8)) < 1e-9, "%.9g",
                  (double)graft_tensor_data(p)[0]);
    graft_optim_free(o);
    o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    tu_optim_set(o, GRAFT_OPT_EPSILON, 1e-20);
    graft_tensor_data(p)[0] = 0;
    tu_optim_step(o, 1, &slot, 1.0);
    ck_assert_float_eq_tol(graft_tensor_data(p)[0], -1.0f, 1e-6f);
    graft_optim_free(o);
    o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    graft_tensor_data(p)[0] = 0;
    graft_tensor_data(g)[0] = steady;
    for (int s = 1; s <= 20; s++) {
        tu_optim_step(o, 1, &slot, 0.01);
        ck_assert_float_eq_tol(graft_tensor_data(p)[0], -0.01f * (float)s, 1e-6f);
    }
    graft_optim_free(o);
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_optim_adam(void)
{
    Suite *s = suite_create("optim_adam");
    TCase *tc = tcase_create("adam");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_adam_hand_computed);
    tcase_add_test(tc, test_adam_matches_reference);
    tcase_add_test(tc, test_adam_first_step_is_scale_free);
    tcase_add_test(tc, test_adam_epsilon_and_steady_gradient);
    suite_add_tcase(s, tc);
    return s;
}
