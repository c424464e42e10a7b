/*
 * check_optim.c - what every optimizer shares (src/model/optim.c): the
 * hyperparameter table, learning-rate schedules, lr_scale and frozen slots,
 * per-slot state, step errors and save/load; and every kind (SGD, Adam,
 * AdamW) against PyTorch. The update rules' own tests are
 * check_optim_sgd.c and check_optim_adam.c.
 *
 * The update rules are compared with PyTorch 1.13: tests/make_torch_optim_refs.py
 * writes tests/data/torch_optim_refs.txt (its docstring describes the line
 * format), trajectories of several steps with changing learning rates,
 * lr_scale and frozen slots, which test_optim_torch_refs replays through
 * graftOptimStep. Tolerance there: |got - want| <= 1e-7 + 1e-6 * |want|.
 * PyTorch works in float32 throughout; graft rounds to float where PyTorch
 * stores a tensor, so the two differ by a few float rounding errors.
 */
#include "testutil.h"

#include "model/optim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIM_FIXTURE GRAFT_TEST_DATA "/torch_optim_refs.txt"

#define REF_ATOL 1e-7
#define REF_RTOL 1e-6

static const int all_kinds[3] = {GRAFT_OPTIM_SGD, GRAFT_OPTIM_ADAM, GRAFT_OPTIM_ADAMW};

static double get_ok(const graft_optim *o, int key)
{
    double v = NAN;
    ck_assert_int_eq(graft_optim_get(o, key, &v), GRAFT_OK);
    return v;
}

/* ---- hyperparameter table --------------------------------------------------- */

/* The documented defaults and bounds (graft.h), per key; NaN default: the
 * kind does not use the key. Columns: SGD, Adam, AdamW. */
typedef struct expect_key {
    int key;
    double def[3];
    double lo, hi;
} expect_key;

static const expect_key expected_keys[] = {
    {GRAFT_OPT_LR, {0.01, 0.001, 0.001}, 0, 10},
    {GRAFT_OPT_MOMENTUM, {0, NAN, NAN}, 0, 1},
    {GRAFT_OPT_NESTEROV, {0, NAN, NAN}, 0, 1},
    {GRAFT_OPT_WEIGHT_DECAY, {0, 0, 0.01}, 0, 1},
    {GRAFT_OPT_BETA1, {NAN, 0.9, 0.9}, 0, 1},
    {GRAFT_OPT_BETA2, {NAN, 0.999, 0.999}, 0, 1},
    {GRAFT_OPT_EPSILON, {NAN, 1e-8, 1e-8}, 0, 1},
    {GRAFT_OPT_SCHEDULE, {0, 0, 0}, 0, 2},
    {GRAFT_OPT_STEP_EPOCHS, {10, 10, 10}, 1, 1e6},
    {GRAFT_OPT_GAMMA, {0.1, 0.1, 0.1}, 0, 1},
    {GRAFT_OPT_COSINE_EPOCHS, {0, 0, 0}, 0, 1e6},
    {GRAFT_OPT_MIN_LR, {0, 0, 0}, 0, 10},
    {GRAFT_OPT_WARMUP_EPOCHS, {0, 0, 0}, 0, 1e6},
};
#define N_EXPECTED_KEYS (int)(sizeof expected_keys / sizeof expected_keys[0])

START_TEST(test_optim_defaults_and_bounds)
{
    graft_ctx *ctx = tu_ctx();
    int used = 0, unused = 0;
    for (int k = 0; k < 3; k++) {
        graft_optim *o = tu_optim_new(ctx, all_kinds[k]);
        ck_assert_int_eq(graft_optim_steps(o), 0);
        for (int i = 0; i < N_EXPECTED_KEYS; i++) {
            const expect_key *e = &expected_keys[i];
            double v = -7, lo = -7, hi = -7;
            if (isnan(e->def[k])) {
                ck_assert_int_eq(graft_optim_get(o, e->key, &v), GRAFT_E_NOT_FOUND);
                ck_assert_int_eq(graft_optim_set(o, e->key, e->lo), GRAFT_E_NOT_FOUND);
                ck_assert_int_eq(graft_optim_bounds(all_kinds[k], e->key, &lo, &hi),
                                 GRAFT_E_NOT_FOUND);
                ck_assert(v == -7 && lo == -7 && hi == -7);
                unused++;
                continue;
            }
            ck_assert_int_eq(graft_optim_get(o, e->key, &v), GRAFT_OK);
            ck_assert_msg(v == e->def[k], "kind %d key %d default %g", all_kinds[k], e->key, v);
            ck_assert_int_eq(graft_optim_bounds(all_kinds[k], e->key, &lo, &hi), GRAFT_OK);
            ck_assert_msg(lo == e->lo && hi == e->hi, "kind %d key %d bounds [%g, %g]",
                          all_kinds[k], e->key, lo, hi);
            used++;
        }
        graft_optim_free(o);
    }
    /* SGD uses 10 keys, Adam and AdamW 11 each; 3 + 2 + 2 are left out */
    ck_assert_int_eq(used, 32);
    ck_assert_int_eq(unused, 7);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_optim_not_found_messages)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *sgd = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    graft_optim *adam = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    double v, lo, hi;
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_BETA1, 0.5), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_set(): GRAFT_OPT_BETA1 is not used by SGD optimizers");
    ck_assert_int_eq(graft_optim_get(adam, GRAFT_OPT_MOMENTUM, &v), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_get(): GRAFT_OPT_MOMENTUM is not used by Adam optimizers");
    ck_assert_int_eq(graft_optim_bounds(GRAFT_OPTIM_ADAMW, GRAFT_OPT_NESTEROV, &lo, &hi),
                     GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(NULL),
                     "graft_optim_bounds(): GRAFT_OPT_NESTEROV is not used by AdamW optimizers");
    const int unknown[] = {0, -1, 14, 500};
    for (int i = 0; i < 4; i++) {
        char want[80];
        snprintf(want, sizeof want, "graft_optim_set(): unknown key %d", unknown[i]);
        ck_assert_int_eq(graft_optim_set(adam, unknown[i], 0.5), GRAFT_E_NOT_FOUND);
        ck_assert_str_eq(graft_errmsg(ctx), want);
        ck_assert_int_eq(graft_optim_get(adam, unknown[i], &v), GRAFT_E_NOT_FOUND);
        ck_assert_int_eq(graft_optim_bounds(GRAFT_OPTIM_SGD, unknown[i], &lo, &hi),
                         GRAFT_E_NOT_FOUND);
    }
    graft_optim_free(sgd);
    graft_optim_free(adam);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_optim_set_get_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    for (int k = 0; k < 3; k++) {
        graft_optim *o = tu_optim_new(ctx, all_kinds[k]);
        for (int i = 0; i < N_EXPECTED_KEYS; i++) {
            const expect_key *e = &expected_keys[i];
            if (isnan(e->def[k])) continue;
            /* an interior value that is not the default, then each bound that
               the key accepts (keys with an open lower bound: (0, ...]) */
            const int whole = e->key == GRAFT_OPT_NESTEROV || e->key == GRAFT_OPT_SCHEDULE;
            double mid = whole ? e->hi : e->lo + (e->hi - e->lo) * 0.3125;
            tu_optim_set(o, e->key, mid);
            ck_assert(get_ok(o, e->key) == mid);
            const int lo_open = e->key == GRAFT_OPT_LR || e->key == GRAFT_OPT_EPSILON ||
                                e->key == GRAFT_OPT_GAMMA;
            const int hi_open = e->key == GRAFT_OPT_MOMENTUM || e->key == GRAFT_OPT_BETA1 ||
                                e->key == GRAFT_OPT_BETA2;
            ck_assert_int_eq(graft_optim_set(o, e->key, e->lo),
                             lo_open ? GRAFT_E_RANGE : GRAFT_OK);
            ck_assert(get_ok(o, e->key) == (lo_open ? mid : e->lo));
            ck_assert_int_eq(graft_optim_set(o, e->key, e->hi),
                             hi_open ? GRAFT_E_RANGE : GRAFT_OK);
            ck_assert(get_ok(o, e->key) == (hi_open ? (lo_open ? mid : e->lo) : e->hi));
            /* just outside either bound is always rejected */
            ck_assert_int_eq(graft_optim_set(o, e->key, e->hi + 1), GRAFT_E_RANGE);
            ck_assert_int_eq(graft_optim_set(o, e->key, e->lo - 1), GRAFT_E_RANGE);
        }
        graft_optim_free(o);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_optim_set_range_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *sgd = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    graft_optim *adam = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    /* every key of every kind rejects NaN, and keeps its value */
    for (int k = 0; k < 3; k++) {
        graft_optim *o = tu_optim_new(ctx, all_kinds[k]);
        for (int key = 1; key <= 13; key++) {
            double before;
            if (graft_optim_get(o, key, &before) != GRAFT_OK) continue;
            ck_assert_int_eq(graft_optim_set(o, key, NAN), GRAFT_E_RANGE);
            ck_assert(strstr(graft_errmsg(ctx), " is NaN") != NULL);
            ck_assert_int_eq(graft_optim_set(o, key, INFINITY), GRAFT_E_RANGE);
            ck_assert_int_eq(graft_optim_set(o, key, -INFINITY), GRAFT_E_RANGE);
            ck_assert(get_ok(o, key) == before);
        }
        graft_optim_free(o);
    }
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_LR, NAN), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_optim_set(): GRAFT_OPT_LR is NaN");
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_LR, 0), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_optim_set(): GRAFT_OPT_LR is 0, must be in (0, 10]");
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_LR, 10.5), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_MOMENTUM, 1), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_set(): GRAFT_OPT_MOMENTUM is 1, must be in [0, 1)");
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_NESTEROV, 0.5), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_set(): GRAFT_OPT_NESTEROV is 0.5, must be a whole number");
    ck_assert_int_eq(graft_optim_set(sgd, GRAFT_OPT_NESTEROV, 2), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_SCHEDULE, 1.5), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_set(): GRAFT_OPT_SCHEDULE is 1.5, must be a whole number");
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_SCHEDULE, 3), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_set(): GRAFT_OPT_SCHEDULE is 3, must be in [0, 2]");
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_EPSILON, 0), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_BETA2, 1), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_GAMMA, 0), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_STEP_EPOCHS, 0.5), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_set(): GRAFT_OPT_STEP_EPOCHS is 0.5, must be in [1, 1e+06]");
    ck_assert_int_eq(graft_optim_set(adam, GRAFT_OPT_WARMUP_EPOCHS, -0.25), GRAFT_E_RANGE);
    /* fractions are fine where the key is not a whole number */
    tu_optim_set(adam, GRAFT_OPT_STEP_EPOCHS, 2.5);
    tu_optim_set(adam, GRAFT_OPT_WARMUP_EPOCHS, 0.75);
    tu_optim_set(adam, GRAFT_OPT_COSINE_EPOCHS, 12.5);
    /* a successful call clears the message */
    ck_assert_str_eq(graft_errmsg(ctx), "");
    /* failed sets left the values alone */
    ck_assert(get_ok(sgd, GRAFT_OPT_LR) == 0.01);
    ck_assert(get_ok(sgd, GRAFT_OPT_NESTEROV) == 0);
    ck_assert(get_ok(adam, GRAFT_OPT_SCHEDULE) == GRAFT_SCHEDULE_CONSTANT);
    graft_optim_free(sgd);
    graft_optim_free(adam);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_optim_argument_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = (graft_optim *)1;
    ck_assert_int_eq(graft_optim_create(ctx, 0, &o), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(o);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_optim_create(): unknown optimizer kind 0 (use GRAFT_OPTIM_SGD, "
                     "GRAFT_OPTIM_ADAM or GRAFT_OPTIM_ADAMW)");
    ck_assert_int_eq(graft_optim_create(ctx, 4, &o), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_optim_create(ctx, -1, &o), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_optim_create(NULL, GRAFT_OPTIM_SGD, &o), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_optim_create(): ctx is NULL");
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_SGD, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_optim_create(): out is NULL");

    double v, lo, hi;
    ck_assert_int_eq(graft_optim_set(NULL, GRAFT_OPT_LR, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_optim_set(): optim is NULL");
    ck_assert_int_eq(graft_optim_get(NULL, GRAFT_OPT_LR, &v), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_optim_get(): optim is NULL");
    o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    ck_assert_int_eq(graft_optim_get(o, GRAFT_OPT_LR, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_optim_get(): value is NULL");
    ck_assert_int_eq(graft_optim_bounds(GRAFT_OPTIM_SGD, GRAFT_OPT_LR, NULL, &hi),
                     GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_optim_bounds(): lo and hi must not be NULL");
    ck_assert_int_eq(graft_optim_bounds(GRAFT_OPTIM_SGD, GRAFT_OPT_LR, &lo, NULL),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_optim_bounds(7, GRAFT_OPT_LR, &lo, &hi), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_optim_bounds(): unknown optimizer kind 7");
    ck_assert(isnan(graft_optim_lr_at(NULL, 1.0)));
    ck_assert(isnan(graftOptimLearningRate(NULL, 1.0)));
    ck_assert_int_eq(graft_optim_steps(NULL), 0);
    graft_optim_free(NULL);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- schedules --------------------------------------------------------------- */

static void assert_lr(const graft_optim *o, double epoch, double want)
{
    double got = graft_optim_lr_at(o, epoch);
    ck_assert_msg(fabs(got - want) <= 1e-12 + 1e-12 * fabs(want), "epoch %g: lr %.17g, want %.17g",
                  epoch, got, want);
    ck_assert(graftOptimLearningRate(o, epoch) == got);
}

START_TEST(test_schedule_constant)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    assert_lr(o, 0, 0.01); /* the SGD default */
    tu_optim_set(o, GRAFT_OPT_LR, 0.05);
    assert_lr(o, 0, 0.05);
    assert_lr(o, 1.5, 0.05);
    assert_lr(o, 1000, 0.05);
    /* the step and cosine keys do not matter for the constant schedule */
    tu_optim_set(o, GRAFT_OPT_GAMMA, 0.5);
    tu_optim_set(o, GRAFT_OPT_STEP_EPOCHS, 1);
    assert_lr(o, 7, 0.05);
    ck_assert(isnan(graft_optim_lr_at(o, -0.5)));
    ck_assert(isnan(graft_optim_lr_at(o, NAN)));
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_schedule_step)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    tu_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_STEP);
    tu_optim_set(o, GRAFT_OPT_LR, 0.1);
    tu_optim_set(o, GRAFT_OPT_STEP_EPOCHS, 3);
    tu_optim_set(o, GRAFT_OPT_GAMMA, 0.5);
    /* 0.1 * 0.5^floor(e / 3) */
    assert_lr(o, 0, 0.1);
    assert_lr(o, 2.99, 0.1);
    assert_lr(o, 3, 0.05);
    assert_lr(o, 6.5, 0.025);
    assert_lr(o, 9, 0.0125);
    /* the defaults: every 10 epochs times 0.1 */
    graft_optim *d = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(d, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_STEP);
    assert_lr(d, 9.5, 0.01);
    assert_lr(d, 10, 0.001);
    assert_lr(d, 25, 0.0001);
    graft_optim_free(d);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_schedule_cosine)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAMW);
    tu_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE);
    tu_optim_set(o, GRAFT_OPT_LR, 0.1);
    tu_optim_set(o, GRAFT_OPT_MIN_LR, 0.01);
    /* not set yet: the schedule is undefined */
    ck_assert(isnan(graft_optim_lr_at(o, 0)));
    ck_assert(isnan(graftOptimLearningRate(o, 3)));
    tu_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 10);
    /* 0.01 + 0.09 * (1 + cos(pi * min(e, 10) / 10)) / 2 */
    assert_lr(o, 0, 0.1);
    assert_lr(o, 2.5, 0.086819805153394638); /* 0.01 + 0.09 * (1 + 0.70710678) / 2 */
    assert_lr(o, 5, 0.055);                  /* 0.01 + 0.09 * 1 / 2 */
    assert_lr(o, 10, 0.01);
    assert_lr(o, 15, 0.01); /* stays at the floor */
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_schedule_warmup)
{
    graft_ctx *ctx = tu_ctx();
    /* warm-up 2 epochs, then cosine over 4 epochs from 0.1 to 0 */
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    tu_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE);
    tu_optim_set(o, GRAFT_OPT_LR, 0.1);
    tu_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 4);
    tu_optim_set(o, GRAFT_OPT_WARMUP_EPOCHS, 2);
    assert_lr(o, 0, 0);                     /* 0.1 * 0 / 2 */
    assert_lr(o, 0.5, 0.025);               /* 0.1 * 0.5 / 2 */
    assert_lr(o, 1, 0.05);                  /* 0.1 * 1 / 2 */
    assert_lr(o, 2, 0.1);                   /* cosine at 0 */
    assert_lr(o, 3, 0.085355339059327378);  /* 0.1 * (1 + cos(pi / 4)) / 2 */
    assert_lr(o, 4, 0.05);                  /* 0.1 * (1 + cos(pi / 2)) / 2 */
    assert_lr(o, 6, 0);                     /* the end of the cosine */
    assert_lr(o, 7, 0);

    /* warm-up 1.5 epochs, then 0.2 * 0.1^floor((e - 1.5) / 2) */
    graft_optim *s = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(s, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_STEP);
    tu_optim_set(s, GRAFT_OPT_LR, 0.2);
    tu_optim_set(s, GRAFT_OPT_STEP_EPOCHS, 2);
    tu_optim_set(s, GRAFT_OPT_WARMUP_EPOCHS, 1.5);
    assert_lr(s, 0.75, 0.1);  /* 0.2 * 0.75 / 1.5 */
    assert_lr(s, 1.5, 0.2);   /* step schedule at 0 */
    assert_lr(s, 3.4, 0.2);   /* at 1.9 */
    assert_lr(s, 3.5, 0.02);  /* at 2 */
    assert_lr(s, 5.5, 0.002); /* at 4 */

    /* warm-up with the constant schedule */
    graft_optim *c = tu_optim_new(ctx, GRAFT_OPTIM_ADAMW);
    tu_optim_set(c, GRAFT_OPT_LR, 1);
    tu_optim_set(c, GRAFT_OPT_WARMUP_EPOCHS, 4);
    assert_lr(c, 1, 0.25);
    assert_lr(c, 4, 1);
    assert_lr(c, 40, 1);
    graft_optim_free(c);
    graft_optim_free(s);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_schedule_cosine_needs_epochs_to_step)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    tu_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE);
    const float p0[2] = {1, 2}, g0[2] = {0.5f, -0.5f};
    graft_tensor *p = tu_vec(ctx, 2, p0), *g = tu_vec(ctx, 2, g0);
    graftOptimSlot slot = {p, g, 1.0f, 0};
    /* as graft_model_fit calls it: the lr from the (undefined) schedule */
    const double lr = graftOptimLearningRate(o, 0.5);
    ck_assert(isnan(lr));
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, lr), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): GRAFT_OPT_COSINE_EPOCHS must be set "
                                        "for the cosine schedule");
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_STATE);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    tu_assert_close(graft_tensor_data(p), p0, 2, 0, 0, "untouched");
    tu_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 3);
    tu_optim_step(o, 1, &slot, 0.1);
    ck_assert_int_eq(graft_optim_steps(o), 1);
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_optim_free(o);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- updates: slots ------------------------------------------------------------- */

/* The update rules themselves are tested per kind: check_optim_sgd.c and
 * check_optim_adam.c. Here: what every kind shares. */

/* lr_scale multiplies the learning rate (weight decay included); a frozen
 * slot keeps its value and its state, and its own step count. */
START_TEST(test_optim_lr_scale_and_frozen)
{
    graft_ctx *ctx = tu_ctx();
    const float v0[2] = {1, -2}, gv[2] = {0.5f, 0.25f};
    graft_tensor *p0 = tu_vec(ctx, 2, v0), *p1 = tu_vec(ctx, 2, v0), *g = tu_vec(ctx, 2, gv);
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAMW);
    tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.5);
    /* slot 1 frozen for two steps: nothing moves */
    graftOptimSlot slots[2] = {{p0, g, 1.0f, 0}, {p1, NULL, 0.5f, 1}};
    tu_optim_step(o, 2, slots, 0.1);
    tu_optim_step(o, 2, slots, 0.1);
    ck_assert_int_eq(graft_optim_steps(o), 2);
    ck_assert(memcmp(graft_tensor_data(p1), v0, sizeof v0) == 0);
    /* slot 1 unfrozen with lr_scale 0.5: its first own update (t = 1):
       p = 1 * (1 - 0.05 * 0.5) = 0.975; m^ / sqrt(v^) = 1 (up to eps);
       p = 0.975 - 0.05 = 0.925; the other: -2 * 0.975 - 0.05 = -2.0 */
    slots[1].grad = g;
    slots[1].frozen = 0;
    tu_optim_step(o, 2, slots, 0.1);
    const float want[2] = {0.925f, -2.0f};
    tu_assert_close(graft_tensor_data(p1), want, 2, 2e-7f, 0, "unfrozen slot");

    /* SGD: lr_scale 0 leaves a slot alone without weight decay, and moves it
       with 2 x the step at lr_scale 2: p = 1 - 2 * 0.1 * 0.5 = 0.9 */
    graft_optim *s = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    graft_tensor *q0 = tu_vec(ctx, 2, v0), *q1 = tu_vec(ctx, 2, v0);
    graftOptimSlot ss[2] = {{q0, g, 0.0f, 0}, {q1, g, 2.0f, 0}};
    tu_optim_step(s, 2, ss, 0.1);
    ck_assert(memcmp(graft_tensor_data(q0), v0, sizeof v0) == 0);
    const float want_q1[2] = {0.9f, -2.05f};
    tu_assert_close(graft_tensor_data(q1), want_q1, 2, 1e-7f, 0, "lr_scale 2");
    graft_optim_free(s);
    graft_optim_free(o);
    graft_tensor_free(p0);
    graft_tensor_free(p1);
    graft_tensor_free(q0);
    graft_tensor_free(q1);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- updates: PyTorch trajectories --------------------------------------------- */

#define RF_MAX_SLOTS 4
#define RF_MAX_NUMEL 16

typedef struct ref_run {
    const char *path;
    int line;
    char name[64];
    graft_ctx *ctx;
    graft_optim *optim;
    int n_slots;
    graftOptimSlot slots[RF_MAX_SLOTS];
    graft_tensor *grads[RF_MAX_SLOTS];
    double lr;
    int in_step, stepped, seen[RF_MAX_SLOTS], wanted;
    int cases, steps, values;
} ref_run;

#define RF_FAIL(run, ...)                                                             \
    do {                                                                              \
        char rf_msg_[256];                                                            \
        snprintf(rf_msg_, sizeof rf_msg_, __VA_ARGS__);                               \
        ck_abort_msg("%s:%d (case %s): %s", (run)->path, (run)->line, (run)->name, rf_msg_); \
    } while (0)

static int rf_int(ref_run *run, char **save)
{
    char *tok = strtok_r(NULL, " \n", save), *end;
    if (!tok) RF_FAIL(run, "missing integer");
    long v = strtol(tok, &end, 10);
    if (*end) RF_FAIL(run, "bad integer '%s'", tok);
    return (int)v;
}

static double rf_num(ref_run *run, char **save)
{
    char *tok = strtok_r(NULL, " \n", save), *end;
    if (!tok) RF_FAIL(run, "missing number");
    errno = 0;
    double v = strtod(tok, &end);
    if (*end || errno) RF_FAIL(run, "bad number '%s'", tok);
    return v;
}

/* Reads "N V..." into values, returning N. */
static int rf_values(ref_run *run, char **save, float *values)
{
    int n = rf_int(run, save);
    if (n < 1 || n > RF_MAX_NUMEL) RF_FAIL(run, "bad count %d", n);
    for (int i = 0; i < n; i++) values[i] = (float)rf_num(run, save);
    if (strtok_r(NULL, " \n", save)) RF_FAIL(run, "extra fields");
    return n;
}

static int rf_slot_index(ref_run *run, char **save)
{
    int i = rf_int(run, save);
    if (i < 0 || i >= run->n_slots) RF_FAIL(run, "bad slot %d", i);
    return i;
}

static void rf_end_case(ref_run *run)
{
    if (run->in_step && !run->stepped) RF_FAIL(run, "step without want lines");
    ck_assert_int_eq(graft_optim_steps(run->optim), run->steps);
    for (int i = 0; i < run->n_slots; i++) {
        graft_tensor_free(run->slots[i].value);
        graft_tensor_free(run->grads[i]);
    }
    graft_optim_free(run->optim);
    run->optim = NULL;
    run->n_slots = 0;
    run->cases++;
}

static const struct {
    const char *name;
    int key;
} rf_keys[] = {
    {"momentum", GRAFT_OPT_MOMENTUM}, {"nesterov", GRAFT_OPT_NESTEROV},
    {"weight_decay", GRAFT_OPT_WEIGHT_DECAY}, {"beta1", GRAFT_OPT_BETA1},
    {"beta2", GRAFT_OPT_BETA2}, {"epsilon", GRAFT_OPT_EPSILON},
};

static void rf_line(ref_run *run, char *text)
{
    char *save = NULL, *tag = strtok_r(text, " \n", &save);
    float values[RF_MAX_NUMEL];
    if (!tag || tag[0] == '#') return;
    if (strcmp(tag, "case") == 0) {
        if (run->optim) RF_FAIL(run, "case inside a case");
        char *name = strtok_r(NULL, " \n", &save), *kind = strtok_r(NULL, " \n", &save);
        if (!name || !kind) RF_FAIL(run, "bad case line");
        snprintf(run->name, sizeof run->name, "%s", name);
        int k = strcmp(kind, "sgd") == 0     ? GRAFT_OPTIM_SGD
                : strcmp(kind, "adam") == 0  ? GRAFT_OPTIM_ADAM
                : strcmp(kind, "adamw") == 0 ? GRAFT_OPTIM_ADAMW
                                             : 0;
        if (!k) RF_FAIL(run, "unknown kind %s", kind);
        run->optim = tu_optim_new(run->ctx, k);
        run->n_slots = 0;
        run->in_step = 0;
        run->steps = 0;
        return;
    }
    if (!run->optim) RF_FAIL(run, "'%s' outside a case", tag);
    if (strcmp(tag, "hp") == 0) {
        char *key = strtok_r(NULL, " \n", &save);
        double v = rf_num(run, &save);
        for (size_t i = 0; key && i < sizeof rf_keys / sizeof rf_keys[0]; i++)
            if (strcmp(key, rf_keys[i].name) == 0) {
                if (graft_optim_set(run->optim, rf_keys[i].key, v) != GRAFT_OK)
                    RF_FAIL(run, "%s", graft_errmsg(run->ctx));
                return;
            }
        RF_FAIL(run, "unknown hyperparameter %s", key ? key : "(none)");
    } else if (strcmp(tag, "slot") == 0) {
        if (run->n_slots == RF_MAX_SLOTS || run->in_step) RF_FAIL(run, "misplaced slot");
        double scale = rf_num(run, &save);
        int n = rf_values(run, &save, values);
        int i = run->n_slots++;
        run->slots[i] = (graftOptimSlot){tu_vec(run->ctx, n, values), NULL, (float)scale, 0};
        run->grads[i] = tu_tensor(run->ctx, 1, n);
    } else if (strcmp(tag, "step") == 0) {
        if (run->in_step && !run->stepped) RF_FAIL(run, "step without want lines");
        run->lr = rf_num(run, &save);
        run->in_step = 1;
        run->stepped = 0;
        run->wanted = 0;
        memset(run->seen, 0, sizeof run->seen);
    } else if (strcmp(tag, "grad") == 0 || strcmp(tag, "frozen") == 0) {
        if (!run->in_step || run->stepped) RF_FAIL(run, "misplaced %s", tag);
        int i = rf_slot_index(run, &save);
        if (run->seen[i]++) RF_FAIL(run, "slot %d given twice", i);
        run->slots[i].frozen = tag[0] == 'f';
        run->slots[i].grad = run->slots[i].frozen ? NULL : run->grads[i];
        if (!run->slots[i].frozen) {
            int n = rf_values(run, &save, values);
            if ((size_t)n != graft_tensor_numel(run->grads[i])) RF_FAIL(run, "grad size");
            ck_assert_int_eq(graft_tensor_copy_from(run->grads[i], values, (size_t)n), GRAFT_OK);
        }
    } else if (strcmp(tag, "want") == 0) {
        if (!run->in_step) RF_FAIL(run, "want outside a step");
        if (!run->stepped) {
            for (int i = 0; i < run->n_slots; i++)
                if (!run->seen[i]) RF_FAIL(run, "slot %d has no grad or frozen line", i);
            if (graftOptimStep(run->optim, run->n_slots, run->slots, run->lr) != GRAFT_OK)
                RF_FAIL(run, "step failed: %s", graft_errmsg(run->ctx));
            run->stepped = 1;
            run->steps++;
        }
        int i = rf_slot_index(run, &save);
        int n = rf_values(run, &save, values);
        graft_tensor *p = run->slots[i].value;
        if ((size_t)n != graft_tensor_numel(p)) RF_FAIL(run, "want size");
        const float *got = graft_tensor_data(p);
        for (int j = 0; j < n; j++) {
            double err = fabs((double)got[j] - (double)values[j]);
            if (err > REF_ATOL + REF_RTOL * fabs((double)values[j]))
                RF_FAIL(run, "step %d slot %d element %d: got %.9g, PyTorch %.9g", run->steps, i,
                        j, (double)got[j], (double)values[j]);
            run->values++;
        }
        run->wanted++;
    } else if (strcmp(tag, "end") == 0) {
        rf_end_case(run);
    } else {
        RF_FAIL(run, "unknown record '%s'", tag);
    }
}

START_TEST(test_optim_torch_refs)
{
    ref_run run;
    memset(&run, 0, sizeof run);
    run.path = OPTIM_FIXTURE;
    run.ctx = tu_ctx();
    snprintf(run.name, sizeof run.name, "-");
    FILE *f = fopen(OPTIM_FIXTURE, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s (run from the repository root)", OPTIM_FIXTURE,
                  strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        run.line++;
        rf_line(&run, line);
    }
    free(line);
    fclose(f);
    if (run.optim) RF_FAIL(&run, "the last case has no end line");
    /* 7 SGD, 4 Adam and 3 AdamW cases of 5 steps */
    ck_assert_int_eq(run.cases, 14);
    ck_assert_int_eq(run.values, 5 * (5 * 5 + 7 + 9 + 3 * 5 + 9 + 2 * 5 + 9));
    graft_ctx_free(run.ctx);
}
END_TEST

/* ---- step errors and state ------------------------------------------------------ */

START_TEST(test_optim_step_errors)
{
    graft_ctx *ctx = tu_ctx();
    const float v[3] = {1, 2, 3};
    graft_tensor *p = tu_vec(ctx, 3, v), *g = tu_vec(ctx, 3, v), *g2 = tu_vec(ctx, 2, v);
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_SGD);
    graftOptimSlot slot = {p, g, 1.0f, 0};

    ck_assert_int_eq(graftOptimStep(NULL, 1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_model_fit(): optimizer is NULL");
    ck_assert_int_eq(graftOptimStep(o, -1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graftOptimStep(o, 1, NULL, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, NAN), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_fit(): learning rate is nan, must be finite and >= 0");
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, -0.1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, INFINITY), GRAFT_E_INVALID_ARG);
    slot.grad = g2;
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_fit(): parameter 0: gradient has 2 elements, the value 3");
    slot.grad = NULL;
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): parameter 0: gradient is NULL");
    slot.grad = g;
    slot.lr_scale = -1;
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_fit(): parameter 0: lr_scale is -1, must be finite and >= 0");
    slot.lr_scale = NAN;
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    slot.lr_scale = 1;
    slot.frozen = 2;
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_fit(): parameter 0: frozen is 2, must be 0 or 1");
    slot.frozen = 0;
    slot.value = NULL;
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): parameter 0: value is NULL");
    slot.value = p;

    /* Nesterov without momentum */
    tu_optim_set(o, GRAFT_OPT_NESTEROV, 1);
    ck_assert_int_eq(graftOptimStep(o, 1, &slot, 0.1), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_fit(): GRAFT_OPT_NESTEROV is 1 but GRAFT_OPT_MOMENTUM is 0: "
                     "Nesterov momentum needs GRAFT_OPT_MOMENTUM > 0");
    /* nothing failed above touched the values or counted a step */
    ck_assert(memcmp(graft_tensor_data(p), v, sizeof v) == 0);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    tu_optim_set(o, GRAFT_OPT_MOMENTUM, 0.5);
    tu_optim_step(o, 1, &slot, 0.1);
    ck_assert_int_eq(graft_optim_steps(o), 1);
    /* a learning rate of 0 (start of a warm-up) is a valid step */
    tu_optim_step(o, 1, &slot, 0.0);
    ck_assert_int_eq(graft_optim_steps(o), 2);
    graft_optim_free(o);
    graft_tensor_free(p);
    graft_tensor_free(g);
    graft_tensor_free(g2);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_optim_state_mismatch)
{
    graft_ctx *ctx = tu_ctx();
    const float v[4] = {1, 2, 3, 4};
    graft_tensor *a = tu_vec(ctx, 4, v), *b = tu_vec(ctx, 3, v), *c = tu_vec(ctx, 4, v);
    graft_tensor *ga = tu_vec(ctx, 4, v), *gb = tu_vec(ctx, 3, v), *gc = tu_vec(ctx, 4, v);
    graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
    /* a failed first step creates no state: a later, different layout is fine */
    graftOptimSlot bad[1] = {{a, gb, 1.0f, 0}};
    ck_assert_int_eq(graftOptimStep(o, 1, bad, 0.1), GRAFT_E_SHAPE);
    graftOptimSlot two[2] = {{a, ga, 1.0f, 0}, {b, gb, 1.0f, 0}};
    tu_optim_step(o, 2, two, 0.1);
    graftOptimSlot three[3] = {{a, ga, 1.0f, 0}, {b, gb, 1.0f, 0}, {c, gc, 1.0f, 0}};
    ck_assert_int_eq(graftOptimStep(o, 3, three, 0.1), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): this optimizer was used with another "
                                        "model: its state is for 2 parameter tensors, not 3");
    ck_assert_int_eq(graftOptimStep(o, 1, three, 0.1), GRAFT_E_STATE);
    ck_assert_int_eq(graftOptimStep(o, 0, NULL, 0.1), GRAFT_E_STATE);
    graftOptimSlot swapped[2] = {{b, gb, 1.0f, 0}, {a, ga, 1.0f, 0}};
    ck_assert_int_eq(graftOptimStep(o, 2, swapped, 0.1), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): this optimizer was used with another "
                                        "model: parameter 0 has 3 elements, its state 4");
    /* the frozen flag does not change the layout */
    two[1].frozen = 1;
    tu_optim_step(o, 2, two, 0.1);
    ck_assert_int_eq(graft_optim_steps(o), 2);
    graft_optim_free(o);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    graft_tensor_free(ga);
    graft_tensor_free(gb);
    graft_tensor_free(gc);
    graft_ctx_free(ctx);
}
END_TEST



START_TEST(test_optim_allocates_only_at_first_step)
{
    for (int k = 0; k < 3; k++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        graft_tensor *p[3], *g[3];
        graftOptimSlot slots[3];
        for (int i = 0; i < 3; i++) {
            p[i] = tu_tensor(ctx, 2, 3 + i, 5);
            g[i] = tu_tensor(ctx, 2, 3 + i, 5);
            tu_fill_uniform(p[i], 10 + i, -1, 1);
            tu_fill_uniform(g[i], 20 + i, -1, 1);
            slots[i] = (graftOptimSlot){p[i], g[i], 1.0f, i == 2};
        }
        graft_optim *o = tu_optim_new(ctx, all_kinds[k]);
        if (all_kinds[k] == GRAFT_OPTIM_SGD) tu_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9);
        long before = c.allocs;
        tu_optim_step(o, 3, slots, 0.01);
        ck_assert_msg(c.allocs > before, "the first step allocates the state");
        before = c.allocs;
        for (int s = 0; s < 5; s++) {
            slots[2].frozen = s % 2;
            tu_optim_step(o, 3, slots, 0.01 / (s + 1));
        }
        ck_assert_int_eq(c.allocs, before);
        ck_assert_int_eq(graft_optim_steps(o), 6);
        graft_optim_free(o);
        for (int i = 0; i < 3; i++) {
            graft_tensor_free(p[i]);
            graft_tensor_free(g[i]);
        }
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

/* Fails each allocation of the first step in turn: GRAFT_E_NOMEM, nothing
 * changed, and the next attempt succeeds. */
START_TEST(test_optim_first_step_out_of_memory)
{
    for (long fail = 1; fail <= 3; fail++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        const float v[3] = {1, 2, 3};
        graft_tensor *p = tu_vec(ctx, 3, v), *g = tu_vec(ctx, 3, v);
        graft_optim *o = tu_optim_new(ctx, GRAFT_OPTIM_ADAM);
        graftOptimSlot slot = {p, g, 1.0f, 0};
        c.fail_at = c.allocs + fail;
        int st = graftOptimStep(o, 1, &slot, 0.1);
        c.fail_at = 0;
        if (st == GRAFT_OK) {
            ck_assert_msg(fail == 3, "the first step makes 2 allocations");
        } else {
            ck_assert_int_eq(st, GRAFT_E_NOMEM);
            ck_assert(strstr(graft_errmsg(ctx), "cannot allocate the optimizer state") != NULL);
            ck_assert_int_eq(graft_optim_steps(o), 0);
            ck_assert(memcmp(graft_tensor_data(p), v, sizeof v) == 0);
            tu_optim_step(o, 1, &slot, 0.1);
        }
        ck_assert_int_eq(graft_optim_steps(o), 1);
        graft_optim_free(o);
        graft_tensor_free(p);
        graft_tensor_free(g);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

/* ---- save / load ------------------------------------------------------------- */

typedef struct trainer {
    graft_tensor *p[3], *g[3];
    graftOptimSlot slots[3];
} trainer;

static void trainer_init(trainer *t, graft_ctx *ctx)
{
    for (int i = 0; i < 3; i++) {
        t->p[i] = tu_tensor(ctx, 1, 4 + i);
        t->g[i] = tu_tensor(ctx, 1, 4 + i);
        tu_fill_uniform(t->p[i], 30 + i, -1, 1);
        t->slots[i] = (graftOptimSlot){t->p[i], t->g[i], i == 1 ? 0.5f : 1.0f, 0};
    }
}

static void trainer_copy_values(trainer *dst, const trainer *src)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(graft_tensor_copy_from(dst->p[i], graft_tensor_data(src->p[i]),
                                                graft_tensor_numel(src->p[i])),
                         GRAFT_OK);
}

/* Step s: fresh gradients from seed s; slot 2 frozen on odd steps. */
static void trainer_step(trainer *t, graft_optim *o, int s)
{
    for (int i = 0; i < 3; i++) tu_fill_uniform(t->g[i], 100 + 7 * s + i, -2, 2);
    t->slots[2].frozen = s % 2;
    tu_optim_step(o, 3, t->slots, 0.05 / (1 + s));
}

static void trainer_free(trainer *t)
{
    for (int i = 0; i < 3; i++) {
        graft_tensor_free(t->p[i]);
        graft_tensor_free(t->g[i]);
    }
}

static void save_bytes(graft_optim *o, graft_ctx *ctx, graftWriter *w)
{
    graftWriterInit(w, ctx);
    ck_assert_int_eq(graftOptimSave(o, w), GRAFT_OK);
}

static int load_bytes(graft_ctx *ctx, const void *data, size_t size, graft_optim **out,
                      size_t *consumed)
{
    graftReader r;
    graftReaderInit(&r, ctx, data, size);
    int st = graftOptimLoad(ctx, &r, out);
    if (consumed) *consumed = r.pos;
    return st;
}

static graft_optim *configured(graft_ctx *ctx, int kind)
{
    graft_optim *o = tu_optim_new(ctx, kind);
    tu_optim_set(o, GRAFT_OPT_LR, 0.03);
    tu_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.02);
    tu_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE);
    tu_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 7.5);
    tu_optim_set(o, GRAFT_OPT_WARMUP_EPOCHS, 0.5);
    if (kind == GRAFT_OPTIM_SGD) {
        tu_optim_set(o, GRAFT_OPT_MOMENTUM, 0.8);
        tu_optim_set(o, GRAFT_OPT_NESTEROV, 1);
    } else {
        tu_optim_set(o, GRAFT_OPT_BETA1, 0.85);
        tu_optim_set(o, GRAFT_OPT_EPSILON, 1e-6);
    }
    return o;
}

START_TEST(test_optim_save_load_mid_training)
{
    for (int k = 0; k < 3; k++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        trainer a, b;
        trainer_init(&a, ctx);
        trainer_init(&b, ctx);
        graft_optim *o = configured(ctx, all_kinds[k]);
        for (int s = 0; s < 3; s++) trainer_step(&a, o, s);

        graftWriter w;
        save_bytes(o, ctx, &w);
        graft_optim *l = NULL;
        size_t used = 0;
        ck_assert_msg(load_bytes(ctx, w.data, w.size, &l, &used) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        ck_assert_uint_eq(used, w.size);
        ck_assert_int_eq(graft_optim_steps(l), 3);
        for (int key = 1; key <= 13; key++) {
            double x, y;
            int sa = graft_optim_get(o, key, &x), sb = graft_optim_get(l, key, &y);
            ck_assert_int_eq(sa, sb);
            if (sa == GRAFT_OK) ck_assert(memcmp(&x, &y, sizeof x) == 0);
        }
        ck_assert(graft_optim_lr_at(l, 2.25) == graft_optim_lr_at(o, 2.25));
        /* saving the loaded optimizer gives the same bytes */
        graftWriter w2;
        save_bytes(l, ctx, &w2);
        ck_assert_uint_eq(w2.size, w.size);
        ck_assert(memcmp(w.data, w2.data, w.size) == 0);
        graftWriterDispose(&w2);

        /* both go on from the same values and give bit-identical updates */
        trainer_copy_values(&b, &a);
        long allocs = c.allocs;
        for (int s = 3; s < 7; s++) {
            trainer_step(&a, o, s);
            trainer_step(&b, l, s);
            for (int i = 0; i < 3; i++)
                ck_assert_msg(memcmp(graft_tensor_data(a.p[i]), graft_tensor_data(b.p[i]),
                                     graft_tensor_numel(a.p[i]) * sizeof(float)) == 0,
                              "kind %d step %d slot %d differs", all_kinds[k], s, i);
        }
        ck_assert_int_eq(c.allocs, allocs); /* a loaded state is not reallocated */
        ck_assert_int_eq(graft_optim_steps(l), 7);
        graftWriterDispose(&w);
        graft_optim_free(o);
        graft_optim_free(l);
        trainer_free(&a);
        trainer_free(&b);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

START_TEST(test_optim_save_load_before_first_step)
{
    graft_ctx *ctx = tu_ctx();
    graft_optim *o = configured(ctx, GRAFT_OPTIM_ADAMW);
    graftWriter w;
    save_bytes(o, ctx, &w);
    /* version, kind, count, 11 x (key, value), steps, state flag */
    ck_assert_uint_eq(w.size, 4 + 4 + 4 + 11 * 12 + 8 + 4);
    graft_optim *l = NULL;
    ck_assert_int_eq(load_bytes(ctx, w.data, w.size, &l, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_optim_steps(l), 0);
    ck_assert(get_ok(l, GRAFT_OPT_BETA1) == 0.85);
    /* the loaded optimizer creates its state at its first step */
    trainer t;
    trainer_init(&t, ctx);
    trainer_step(&t, l, 0);
    ck_assert_int_eq(graft_optim_steps(l), 1);
    trainer_free(&t);
    graftWriterDispose(&w);
    graft_optim_free(o);
    graft_optim_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_optim_load_every_truncation_fails)
{
    for (int k = 0; k < 3; k++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        trainer t;
        trainer_init(&t, ctx);
        graft_optim *o = configured(ctx, all_kinds[k]);
        for (int s = 0; s < 2; s++) trainer_step(&t, o, s);
        graftWriter w;
        save_bytes(o, ctx, &w);
        for (size_t n = 0; n < w.size; n++) {
            /* a copy of exactly n bytes, so valgrind sees any read past it */
            unsigned char *cut = malloc(n ? n : 1);
            memcpy(cut, w.data, n);
            graft_optim *l = (graft_optim *)1;
            int st = load_bytes(ctx, cut, n, &l, NULL);
            ck_assert_msg(st == GRAFT_E_FORMAT, "kind %d, %zu of %zu bytes: %d", all_kinds[k], n,
                          w.size, st);
            ck_assert_ptr_null(l);
            ck_assert(strncmp(graft_errmsg(ctx), "graft_load(): ", 14) == 0);
            free(cut);
        }
        graftWriterDispose(&w);
        graft_optim_free(o);
        trainer_free(&t);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
    }
}
END_TEST

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u64(p, u);
}

/* Loads a copy of bytes with one patch applied and checks the status and a
 * piece of the message. */
static void expect_corrupt(graft_ctx *ctx, const graftWriter *w, void (*patch)(unsigned char *),
                           int status, const char *needle)
{
    unsigned char *copy = malloc(w->size);
    memcpy(copy, w->data, w->size);
    patch(copy);
    graft_optim *l = (graft_optim *)1;
    int st = load_bytes(ctx, copy, w->size, &l, NULL);
    ck_assert_msg(st == status, "got %d (%s), want %d", st, graft_errmsg(ctx), status);
    ck_assert_ptr_null(l);
    ck_assert_msg(strstr(graft_errmsg(ctx), needle) != NULL, "message '%s' lacks '%s'",
                  graft_errmsg(ctx), needle);
    free(copy);
}

/* Offsets in the bytes of an Adam optimizer with 11 hyperparameters:
 * 0 version, 4 kind, 8 count, 12 + 12 i key i (LR, WEIGHT_DECAY, BETA1, BETA2,
 * EPSILON, SCHEDULE, ... in key order) and 16 + 12 i its value, 144 steps, 152 state flag,
 * 156 slot count, 160 + 16 j slot j header (numel, step), then the
 * state floats (m then v of each slot). */
#define ADAM_STEPS_AT 144
#define ADAM_FLAG_AT 152
#define ADAM_SLOTS_AT 156
#define ADAM_SLOT0_AT 160
#define ADAM_FLOATS_AT (160 + 3 * 16)

static void p_version0(unsigned char *b) { put_u32(b, 0); }
static void p_version2(unsigned char *b) { put_u32(b, 2); }
static void p_kind(unsigned char *b) { put_u32(b + 4, 9); }
static void p_count(unsigned char *b) { put_u32(b + 8, 12); }
static void p_key_momentum(unsigned char *b) { put_u32(b + 12, GRAFT_OPT_MOMENTUM); }
static void p_key_unknown(unsigned char *b) { put_u32(b + 12, 77); }
static void p_key_twice(unsigned char *b) { put_u32(b + 24, GRAFT_OPT_LR); }
static void p_lr_zero(unsigned char *b) { put_f64(b + 16, 0.0); }
static void p_beta_nan(unsigned char *b) { put_f64(b + 16 + 12 * 2, NAN); }
static void p_schedule_fraction(unsigned char *b) { put_f64(b + 16 + 12 * 5, 1.5); }
static void p_steps_negative(unsigned char *b) { put_u64(b + ADAM_STEPS_AT, UINT64_MAX); }
static void p_flag(unsigned char *b) { put_u32(b + ADAM_FLAG_AT, 0); }
static void p_slots_huge(unsigned char *b) { put_u32(b + ADAM_SLOTS_AT, 0x7fffffffu); }
static void p_numel_zero(unsigned char *b) { put_u64(b + ADAM_SLOT0_AT, 0); }
static void p_numel_huge(unsigned char *b) { put_u64(b + ADAM_SLOT0_AT, (uint64_t)1 << 39); }
static void p_slot_step(unsigned char *b) { put_u64(b + ADAM_SLOT0_AT + 8, 3); }
static void p_state_inf(unsigned char *b) { put_u32(b + ADAM_FLOATS_AT, 0x7f800000u); }
static void p_v_negative(unsigned char *b)
{
    put_u32(b + ADAM_FLOATS_AT + 4 * 4, 0xbf800000u); /* slot 0's v[0] = -1 */
}

START_TEST(test_optim_load_rejects_bad_fields)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    trainer t;
    trainer_init(&t, ctx);
    graft_optim *o = configured(ctx, GRAFT_OPTIM_ADAM);
    for (int s = 0; s < 2; s++) trainer_step(&t, o, s);
    graftWriter w;
    save_bytes(o, ctx, &w);
    /* 3 slots of 4, 5 and 6 elements, 2 buffers each */
    ck_assert_uint_eq(w.size, ADAM_FLOATS_AT + 4 * 2 * (4 + 5 + 6));
    size_t largest = c.largest;

    expect_corrupt(ctx, &w, p_version0, GRAFT_E_FORMAT,
                   "graft_load(): optimizer record version at offset 0 is 0");
    expect_corrupt(ctx, &w, p_version2, GRAFT_E_VERSION,
                   "optimizer record version 2 at offset 0 needs a newer graft");
    expect_corrupt(ctx, &w, p_kind, GRAFT_E_FORMAT,
                   "optimizer kind at offset 4 is 9, not a GRAFT_OPTIM_* kind");
    expect_corrupt(ctx, &w, p_count, GRAFT_E_FORMAT,
                   "optimizer hyperparameter count at offset 8 is 12, Adam optimizers have 11");
    expect_corrupt(ctx, &w, p_key_momentum, GRAFT_E_FORMAT,
                   "optimizer hyperparameter key at offset 12 is 2, not a key of Adam optimizers");
    expect_corrupt(ctx, &w, p_key_unknown, GRAFT_E_FORMAT, "key at offset 12 is 77");
    expect_corrupt(ctx, &w, p_key_twice, GRAFT_E_FORMAT,
                   "optimizer hyperparameter GRAFT_OPT_LR at offset 24 appears twice");
    expect_corrupt(ctx, &w, p_lr_zero, GRAFT_E_FORMAT,
                   "optimizer hyperparameter GRAFT_OPT_LR at offset 16 is 0, must be in (0, 10]");
    expect_corrupt(ctx, &w, p_beta_nan, GRAFT_E_FORMAT,
                   "optimizer hyperparameter GRAFT_OPT_BETA1 at offset 40 is NaN");
    expect_corrupt(ctx, &w, p_schedule_fraction, GRAFT_E_FORMAT,
                   "GRAFT_OPT_SCHEDULE at offset 76 is 1.5, must be a whole number");
    expect_corrupt(ctx, &w, p_steps_negative, GRAFT_E_FORMAT,
                   "optimizer step count at offset 144 is -1, must be >= 0");
    expect_corrupt(ctx, &w, p_flag, GRAFT_E_FORMAT,
                   "optimizer state flag at offset 152 is 0, must be 1 for 2 steps");
    expect_corrupt(ctx, &w, p_slots_huge, GRAFT_E_FORMAT,
                   "optimizer slot count at offset 156 is 2147483647, more than the");
    expect_corrupt(ctx, &w, p_numel_zero, GRAFT_E_FORMAT,
                   "optimizer slot 0 element count at offset 160 is 0");
    expect_corrupt(ctx, &w, p_numel_huge, GRAFT_E_FORMAT,
                   "optimizer state of 3 slots needs more than the");
    expect_corrupt(ctx, &w, p_slot_step, GRAFT_E_FORMAT,
                   "optimizer slot 0 step count at offset 168 is 3, must be in [0, 2]");
    expect_corrupt(ctx, &w, p_state_inf, GRAFT_E_FORMAT,
                   "graft_load(): optimizer state of slot 0 at offset 208 is inf, must be finite");
    expect_corrupt(ctx, &w, p_v_negative, GRAFT_E_FORMAT,
                   "optimizer state of slot 0 at offset 224 is -1, must be finite and >= 0");
    /* no count made the loader allocate more than the bytes justify */
    ck_assert_uint_le(c.largest, largest > w.size ? largest : w.size);
    graft_optim *none = (graft_optim *)1;
    ck_assert_int_eq(graftOptimLoad(ctx, NULL, &none), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(none);

    graftWriterDispose(&w);
    graft_optim_free(o);
    trainer_free(&t);
    graft_ctx_free(ctx);
    ck_assert_int_eq(c.allocs, c.frees);
}
END_TEST

/* SGD keeps one buffer per element, which may be negative, and each slot's
 * own update count survives a round trip. */
static void p_sgd_negative(unsigned char *b)
{
    /* SGD: 10 hyperparameters: steps at 132, flag 140, slots 144, slot j's
       header at 148 + 16 j, the buffers at 196 */
    put_u32(b + 196, 0xbf800000u); /* -1 */
}

START_TEST(test_optim_load_sgd_layout)
{
    graft_ctx *ctx = tu_ctx();
    trainer t;
    trainer_init(&t, ctx);
    graft_optim *o = configured(ctx, GRAFT_OPTIM_SGD);
    for (int s = 0; s < 3; s++) trainer_step(&t, o, s); /* slot 2 frozen at step 1 */
    graftWriter w;
    save_bytes(o, ctx, &w);
    ck_assert_uint_eq(w.size, 196 + 4 * (4 + 5 + 6));
    ck_assert_int_eq(w.data[132], 3);          /* the optimizer's steps */
    ck_assert_int_eq(w.data[148 + 16 * 0 + 8], 3); /* slot 0's updates */
    ck_assert_int_eq(w.data[148 + 16 * 2 + 8], 2); /* slot 2's updates */
    unsigned char *copy = malloc(w.size);
    memcpy(copy, w.data, w.size);
    p_sgd_negative(copy);
    graft_optim *l = NULL;
    ck_assert_int_eq(load_bytes(ctx, copy, w.size, &l, NULL), GRAFT_OK);
    graftWriter w2;
    save_bytes(l, ctx, &w2);
    ck_assert(memcmp(w2.data, copy, w.size) == 0);
    put_u32(copy + 196 + 4 * 3, 0x7fc00000u); /* NaN */
    graft_optim *bad = (graft_optim *)1;
    ck_assert_int_eq(load_bytes(ctx, copy, w.size, &bad, NULL), GRAFT_E_FORMAT);
    ck_assert_ptr_null(bad);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_load(): optimizer state of slot 0 at offset 208 is nan, must be "
                     "finite");
    free(copy);
    graftWriterDispose(&w);
    graftWriterDispose(&w2);
    graft_optim_free(o);
    graft_optim_free(l);
    trainer_free(&t);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_optim(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("hyperparameters");
    tcase_add_test(tc, test_optim_defaults_and_bounds);
    tcase_add_test(tc, test_optim_not_found_messages);
    tcase_add_test(tc, test_optim_set_get_roundtrip);
    tcase_add_test(tc, test_optim_set_range_errors);
    tcase_add_test(tc, test_optim_argument_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("schedules");
    tcase_add_test(tc, test_schedule_constant);
    tcase_add_test(tc, test_schedule_step);
    tcase_add_test(tc, test_schedule_cosine);
    tcase_add_test(tc, test_schedule_warmup);
    tcase_add_test(tc, test_schedule_cosine_needs_epochs_to_step);
    suite_add_tcase(s, tc);
    tc = tcase_create("updates");
    tcase_add_test(tc, test_optim_lr_scale_and_frozen);
    tcase_add_test(tc, test_optim_torch_refs);
    suite_add_tcase(s, tc);
    tc = tcase_create("state");
    tcase_add_test(tc, test_optim_step_errors);
    tcase_add_test(tc, test_optim_state_mismatch);
    tcase_add_test(tc, test_optim_allocates_only_at_first_step);
    tcase_add_test(tc, test_optim_first_step_out_of_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_add_test(tc, test_optim_save_load_mid_training);
    tcase_add_test(tc, test_optim_save_load_before_first_step);
    tcase_add_test(tc, test_optim_load_every_truncation_fails);
    tcase_add_test(tc, test_optim_load_rejects_bad_fields);
    tcase_add_test(tc, test_optim_load_sgd_layout);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
