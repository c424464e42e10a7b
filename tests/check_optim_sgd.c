/*
 * check_optim_sgd.c - stochastic gradient descent (src/model/optim_sgd.c), as
 * torch.optim.SGD with dampening 0: steps computed by hand (plain, momentum
 * and weight decay, Nesterov), the vectorised loops against the rule
 * written one element at a time, Nesterov without momentum refused, and the
 * momentum buffer across a momentum switched off and on. PyTorch
 * trajectories for every kind are check_optim.c's.
 */
#include "testutil.h"

#include "model/optim.h"

#include <math.h>
#include <string.h>

/* An SGD configuration and its momentum buffer. */
typedef struct sgd_rule {
    double wd, mu;
    int nesterov;
    float buf[37];
} sgd_rule;

/* The update rule as written in optim_sgd.c, one element at a time, for
 * comparison with the blocked and vectorised loops: a tu_optim_rule whose
 * state is an sgd_rule. */
static void sgd_reference(float *value, const float *grad, size_t n, int step, double lr,
                          void *state)
{
    sgd_rule *r = state;
    const double wd = r->wd, mu = r->mu;
    const int nesterov = r->nesterov;
    float *buf = r->buf;
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

START_TEST(test_sgd_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    float a, b;
    /* plain: p = 1 - 0.1 * 0.5 = 0.95; 0.95 - 0.1 * (-1) = 1.05 */
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_two_steps(o, 0.5f, -1, 0.1, &a, &b);
    ck_assert_float_eq_tol(a, 0.95f, 1e-7f);
    ck_assert_float_eq_tol(b, 1.05f, 1e-7f);
    graft_optim_free(o);

    /* momentum 0.9, weight decay 0.1, g = 0.5 twice:
       1: d = 0.5 + 0.1 * 1 = 0.6; b = d = 0.6; p = 1 - 0.1 * 0.6 = 0.94
       2: d = 0.5 + 0.1 * 0.94 = 0.594; b = 0.9 * 0.6 + 0.594 = 1.134;
          p = 0.94 - 0.1 * 1.134 = 0.8266 */
    o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9);
    tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.1);
    tu_optim_two_steps(o, 0.5f, 0.5f, 0.1, &a, &b);
    ck_assert_float_eq_tol(a, 0.94f, 1e-7f);
    ck_assert_float_eq_tol(b, 0.8266f, 1e-7f);
    graft_optim_free(o);

    /* Nesterov, momentum 0.9, weight decay 0.1, g = 0.5 twice:
       1: d = 0.6; b = 0.6; d = 0.6 + 0.9 * 0.6 = 1.14; p = 1 - 0.114 = 0.886
       2: d = 0.5 + 0.0886 = 0.5886; b = 0.54 + 0.5886 = 1.1286;
          d = 0.5886 + 0.9 * 1.1286 = 1.60434; p = 0.886 - 0.160434 = 0.725566 */
    o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9);
    tu_optim_set(o, GRAFT_OPT_NESTEROV, 1);
    tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.1);
    tu_optim_two_steps(o, 0.5f, 0.5f, 0.1, &a, &b);
    ck_assert_float_eq_tol(a, 0.886f, 1e-7f);
    ck_assert_float_eq_tol(b, 0.725566f, 1e-7f);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

/* Every SGD case (weight decay on or off, momentum, Nesterov) on slots of 1
 * to 37 elements (blocks of 8 and remainders), a few steps with changing
 * learning rates: the values must equal the scalar rule's bit for bit after
 * each step (the momentum buffer is checked through the next steps). */
START_TEST(test_sgd_matches_reference)
{
    graft_ctx *ctx = tu_ctx();
    uint64_t seed = 0x853c49e6748fea9bULL;
    static const double cases[][3] = {/* wd, mu, nesterov */
                                      {0, 0, 0},      {0.01, 0, 0}, {0, 0.9, 0},
                                      {0.01, 0.9, 0}, {0, 0.9, 1},  {0.05, 0.5, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int n = 1; n <= 37; n += 3) {
            sgd_rule r = {cases[c][0], cases[c][1], cases[c][2] != 0, {0}};
            graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
            tu_optim_set(o, GRAFT_OPT_MOMENTUM, r.mu);
            tu_optim_set(o, GRAFT_OPT_NESTEROV, cases[c][2]);
            tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, r.wd);
            char what[32];
            snprintf(what, sizeof what, "case %zu", c);
            tu_optim_check_rule(o, n, &seed, sgd_reference, &r, what);
            graft_optim_free(o);
        }
    graft_ctx_free(ctx);
}
END_TEST

/* Nesterov momentum needs a momentum: a step with GRAFT_OPT_NESTEROV and no
 * GRAFT_OPT_MOMENTUM is refused before any value moves, and goes once the
 * momentum is set. */
START_TEST(test_sgd_nesterov_needs_momentum)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(o, GRAFT_OPT_NESTEROV, 1);
    const float one = 1, half = 0.5f;
    graft_tensor *p = tu_vec(ctx, 1, &one), *g = tu_vec(ctx, 1, &half);
    graftOptimSlot slot = {p, g, 1.0f, 0};
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_STATE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "GRAFT_OPT_NESTEROV is 1 but "
                                                    "GRAFT_OPT_MOMENTUM is 0"));
    ck_assert_float_eq(graft_tensor_data(p)[0], 1.0f);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    tu_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9);
    tu_optim_step(o, 1, &slot, 0.1);
    /* d = 0.5; b = 0.5; d = 0.5 + 0.9 * 0.5 = 0.95; p = 1 - 0.095 */
    ck_assert_float_eq_tol(graft_tensor_data(p)[0], 0.905f, 1e-7f);
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

/* The momentum buffer: kept unchanged while the momentum is 0 (it starts at
 * zero, so a momentum switched on later starts from b = d, as PyTorch's
 * clone at its first momentum step), and not reset when the momentum goes
 * off and on again. g = 1 throughout, lr 0.1:
 *   steps 1, 2 (mu 0):   p = 1 - 0.1 - 0.1 = 0.8, b stays 0
 *   step 3 (mu 0.5):     b = 0.5 * 0 + 1 = 1; p = 0.8 - 0.1 = 0.7
 *   step 4 (mu 0.5):     b = 0.5 + 1 = 1.5; p = 0.7 - 0.15 = 0.55
 *   step 5 (mu 0):       d = 1; p = 0.45; b stays 1.5
 *   step 6 (mu 0.5):     b = 0.75 + 1 = 1.75; p = 0.45 - 0.175 = 0.275 */
START_TEST(test_sgd_momentum_buffer_across_switches)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    const float one = 1;
    graft_tensor *p = tu_vec(ctx, 1, &one), *g = tu_vec(ctx, 1, &one);
    graftOptimSlot slot = {p, g, 1.0f, 0};
    const double mu[6] = {0, 0, 0.5, 0.5, 0, 0.5};
    const float want[6] = {0.9f, 0.8f, 0.7f, 0.55f, 0.45f, 0.275f};
    for (int s = 0; s < 6; s++) {
        tu_optim_set(o, GRAFT_OPT_MOMENTUM, mu[s]);
        tu_optim_step(o, 1, &slot, 0.1);
        ck_assert_msg(fabsf(graft_tensor_data(p)[0] - want[s]) <= 1e-6f, "step %d: %.9g, want %g",
                      s + 1, (double)graft_tensor_data(p)[0], (double)want[s]);
    }
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_optim_sgd(void)
{
    Suite *s = suite_create("optim_sgd");
    TCase *tc = tcase_create("sgd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sgd_hand_computed);
    tcase_add_test(tc, test_sgd_matches_reference);
    tcase_add_test(tc, test_sgd_nesterov_needs_momentum);
    tcase_add_test(tc, test_sgd_momentum_buffer_across_switches);
    suite_add_tcase(s, tc);
    return s;
}
