/* check_fit_callbacks.c - graft_model_fit()'s built-in callbacks
 * (src/model/fit_callbacks.c): reduce-on-plateau against torch's
 * ReduceLROnPlateau (tests/data/plateau_refs.txt, written by
 * tests/make_callback_refs.py; its docstring describes the format), early
 * stopping, restore best, save best, the plateau's multiplier on the
 * schedule, and the checks of the options. */
#include "testutil.h"

#include "model/fit_callbacks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLATEAU_FIXTURE GRAFT_TEST_DATA "/plateau_refs.txt"
#define SIDE 6

/* st is code and graft_errmsg() holds part. */
static void expect_error(graft_ctx *ctx, int st, int code, const char *part)
{
    ck_assert_msg(st == code, "status %d, expected %d (%s)", st, code, graft_errmsg(ctx));
    ck_assert_msg(strstr(graft_errmsg(ctx), part) != NULL, "\"%s\" not in \"%s\"", part,
                  graft_errmsg(ctx));
    ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_fit(): ", 19) == 0, "%s",
                  graft_errmsg(ctx));
}

/* ---- reduce on plateau against torch ---------------------------------------------- */

static double *read_values(FILE *f, const char *tag, int *n)
{
    char word[64];
    ck_assert_int_eq(fscanf(f, "%63s %d", word, n), 2);
    ck_assert_str_eq(word, tag);
    double *v = malloc((size_t)*n * sizeof *v);
    for (int i = 0; i < *n; i++) ck_assert_int_eq(fscanf(f, "%lf", &v[i]), 1);
    return v;
}

START_TEST(test_plateau_matches_torch)
{
    FILE *f = fopen(PLATEAU_FIXTURE, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", PLATEAU_FIXTURE);
    char line[256], name[64], mode[8], end[8];
    int cases = 0;
    while (fscanf(f, " %255[^\n]", line) == 1) {
        if (line[0] == '#') continue;
        double factor, threshold, min_lr, base;
        int patience, cooldown;
        ck_assert_int_eq(sscanf(line, "plateau %63s %7s %lf %d %lf %d %lf %lf", name, mode,
                                &factor, &patience, &threshold, &cooldown, &min_lr, &base),
                         8);
        int n, n_lrs;
        double *metrics = read_values(f, "metrics", &n);
        double *lrs = read_values(f, "lrs", &n_lrs);
        ck_assert_int_eq(n, n_lrs);
        ck_assert_int_eq(fscanf(f, "%7s", end), 1);
        ck_assert_str_eq(end, "end");
        graftPlateau p;
        graftPlateauInit(&p, factor, patience, threshold, cooldown, min_lr, base,
                         strcmp(mode, "max") == 0);
        for (int i = 0; i < n; i++) {
            double before = p.scale;
            int reduced = graftPlateauStep(&p, metrics[i]);
            ck_assert_int_eq(reduced, p.scale != before);
            double lr = p.scale * base;
            ck_assert_msg(fabs(lr - lrs[i]) <= 1e-12 * lrs[i], "%s: epoch %d: lr %.17g, torch %.17g",
                          name, i + 1, lr, lrs[i]);
        }
        free(metrics);
        free(lrs);
        cases++;
    }
    fclose(f);
    ck_assert_int_ge(cases, 8);
}
END_TEST

/* The boundary by hand: with patience 2 the rate falls on the third bad
 * epoch in a row, not the second; a NaN is a bad epoch. */
START_TEST(test_plateau_patience_boundary)
{
    graftPlateau p;
    graftPlateauInit(&p, 0.5, 2, 0, 0, 0, 1.0, 0);
    ck_assert_int_eq(graftPlateauStep(&p, 1.0), 0);
    ck_assert_int_eq(graftPlateauStep(&p, 1.0), 0);
    ck_assert_int_eq(graftPlateauStep(&p, NAN), 0);
    ck_assert_int_eq(graftPlateauStep(&p, 1.0), 1);
    ck_assert_double_eq(p.scale, 0.5);
}
END_TEST

/* ---- fitting with the callbacks ---------------------------------------------------- */

/* n images: a bright pixel in the left or right half. */
static graft_dataset *halves(graft_ctx *ctx, int n, uint64_t seed)
{
    float *x = calloc((size_t)n * SIDE * SIDE, sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    graftRng rng;
    graftRngSeed(&rng, seed);
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t)i * SIDE * SIDE;
        for (int p = 0; p < SIDE * SIDE; p++) img[p] = 0.2f * graftRngUniform(&rng);
        int r = (int)(graftRngNext(&rng) % SIDE), c = (int)(graftRngNext(&rng) % SIDE);
        img[r * SIDE + c] = 1.0f;
        y[i] = c >= SIDE / 2;
    }
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, n, 3, dims, x, y, 2, 1, &ds), GRAFT_OK);
    free(x);
    free(y);
    return ds;
}

/* conv -> batch norm -> relu -> flatten -> dense */
static graft_model *small_net(graft_ctx *ctx)
{
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 3, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 3;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    ck_assert_int_eq(graft_layer_conv2d(ctx, &cs, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "conv", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "bn", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_relu(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "relu", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

/* Every parameter and buffer, the trainable flags and the epochs done of
 * two models are identical. */
static void assert_same_model(graft_model *a, graft_model *b)
{
    ck_assert_int_eq(a->n_nodes, b->n_nodes);
    ck_assert_int_eq(graft_model_epochs_done(a), graft_model_epochs_done(b));
    for (int i = 0; i < a->n_nodes; i++) {
        graft_layer *la = a->nodes[i].layer, *lb = b->nodes[i].layer;
        ck_assert_int_eq(a->nodes[i].trainable, b->nodes[i].trainable);
        ck_assert(a->nodes[i].lr_scale == b->nodes[i].lr_scale);
        ck_assert_int_eq(la->n_params, lb->n_params);
        for (int k = 0; k < la->n_params; k++)
            ck_assert_msg(memcmp(la->params[k].value->data, lb->params[k].value->data,
                                 la->params[k].value->numel * sizeof(float)) == 0,
                          "layer %s parameter %s differs", a->nodes[i].name, la->params[k].name);
    }
}

typedef struct epoch_log {
    int epochs;
    double lr[16], lr_scale[16], sched[16], best_epoch[16], best[16];
    const graft_optim *o;
    int batches_per_epoch;
} epoch_log;

/* Records the rate of each epoch's first batch and the callbacks' keys at
 * each epoch end. */
static int log_epochs(void *user, const graft_progress *p)
{
    epoch_log *log = user;
    int e = (int)graft_progress_get(p, GRAFT_PROGRESS_EPOCH) - 1;
    ck_assert(e >= 0 && e < 16);
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_BATCH_END) {
        if (graft_progress_get(p, GRAFT_PROGRESS_BATCH) == 1) {
            log->lr[e] = graft_progress_get(p, GRAFT_PROGRESS_LR);
            log->lr_scale[e] = graft_progress_get(p, GRAFT_PROGRESS_LR_SCALE);
            /* the step of this batch ran at the optimizer's count before it */
            log->sched[e] = graft_optim_lr_at(log->o, (double)(graft_optim_steps(log->o) - 1) /
                                                        log->batches_per_epoch);
        }
    } else {
        log->best_epoch[e] = graft_progress_get(p, GRAFT_PROGRESS_BEST_EPOCH);
        log->best[e] = graft_progress_get(p, GRAFT_PROGRESS_BEST);
        log->epochs++;
    }
    return 0;
}

/* min_delta so large that only the first epoch improves: patience 2 stops
 * after the third epoch. */
START_TEST(test_early_stopping_stops_after_patience)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = halves(ctx, 32, 1);
    graft_model *m = small_net(ctx);
    graft_optim *o = tu_sgd(ctx, 0.05, 0.9);
    epoch_log log = {0};
    log.o = o;
    log.batches_per_epoch = 4;
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 10;
    fo.batch_size = 8;
    fo.early_stop_patience = 2;
    fo.min_delta = 1e9;
    fo.progress = log_epochs;
    fo.user_data = &log;
    ck_assert_int_eq(graft_model_fit(m, o, ds, ds, &fo), GRAFT_OK);
    ck_assert_int_eq(graft_model_epochs_done(m), 3);
    ck_assert_int_eq(log.epochs, 3);
    ck_assert_int_eq(graft_optim_steps(o), 12);
    for (int e = 0; e < 3; e++) ck_assert_double_eq(log.best_epoch[e], 1);
    /* the best is the first epoch's validation loss (monitor AUTO with val) */
    ck_assert(log.best[0] > 0 && log.best[0] == log.best[2]);
    /* without min_delta a steadily learning model is not stopped by patience 5 */
    graft_model *m2 = small_net(ctx);
    graft_optim *o2 = tu_sgd(ctx, 0.05, 0.9);
    fo.min_delta = 0;
    fo.early_stop_patience = 5;
    fo.epochs = 4;
    fo.progress = NULL;
    ck_assert_int_eq(graft_model_fit(m2, o2, ds, ds, &fo), GRAFT_OK);
    ck_assert_int_eq(graft_model_epochs_done(m2), 4);
    graft_optim_free(o);
    graft_optim_free(o2);
    graft_model_free(m);
    graft_model_free(m2);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* The model after 3 epochs with restore_best, whose best epoch is the first,
 * is the model after 1 epoch: parameters, batch-norm statistics, trainable
 * flags (an unfreeze scheduled at epoch 2 undone) and epochs done. And the
 * save-best checkpoint, written at the first epoch only, holds that model. */
START_TEST(test_restore_best_and_save_best)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = halves(ctx, 24, 2);
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "savebest");
    snprintf(path, sizeof path, "%s/best.ckpt", dir);
    graft_model *a = small_net(ctx), *b = small_net(ctx);
    for (int k = 0; k < 2; k++) {
        graft_model *m = k ? b : a;
        ck_assert_int_eq(graft_model_set_trainable(m, 0, 1, 0), GRAFT_OK);
        ck_assert_int_eq(graft_model_schedule_unfreeze(m, "conv", 2, 0.5f), GRAFT_OK);
    }
    graft_optim *oa = tu_sgd(ctx, 0.05, 0.9), *ob = tu_sgd(ctx, 0.05, 0.9);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 8;
    fo.seed = 5;
    fo.epochs = 1;
    ck_assert_int_eq(graft_model_fit(b, ob, ds, NULL, &fo), GRAFT_OK);
    fo.epochs = 4;
    fo.restore_best = 1;
    fo.min_delta = 1e9;
    fo.save_best = path;
    ck_assert_int_eq(graft_model_fit(a, oa, ds, NULL, &fo), GRAFT_OK);
    ck_assert_int_eq(graft_optim_steps(oa), 12); /* the optimizer is not rewound */
    ck_assert_int_eq(graft_model_layer_trainable(a, 0), 0);
    assert_same_model(a, b);
    graft_model *c = NULL;
    graft_optim *oc = NULL;
    ck_assert_int_eq(graft_checkpoint_load(ctx, path, &c, &oc), GRAFT_OK);
    ck_assert_int_eq(graft_optim_steps(oc), 3);
    assert_same_model(c, b);
    /* a checkpoint that cannot be written ends the fit with its error */
    snprintf(path, sizeof path, "%s/no/such/dir/best.ckpt", dir);
    fo.epochs = 2;
    int64_t before = graft_model_epochs_done(c);
    expect_error(ctx, graft_model_fit(c, oc, ds, NULL, &fo), GRAFT_E_IO, "save_best: epoch");
    ck_assert_int_eq(graft_model_epochs_done(c), before + 1);
    graft_optim_free(oa);
    graft_optim_free(ob);
    graft_optim_free(oc);
    graft_model_free(a);
    graft_model_free(b);
    graft_model_free(c);
    graft_dataset_free(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* A threshold no epoch can meet makes every epoch after the first bad: with
 * patience 0 the multiplier halves each epoch, on top of the cosine
 * schedule, and GRAFT_OPT_LR stays as it was. */
START_TEST(test_plateau_scales_the_schedule)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = halves(ctx, 32, 3);
    graft_model *m = small_net(ctx);
    graft_optim *o = tu_sgd(ctx, 0.1, 0);
    tu_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE);
    tu_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 8);
    epoch_log log = {0};
    log.o = o;
    log.batches_per_epoch = 2;
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 5;
    fo.batch_size = 16;
    fo.monitor = GRAFT_MONITOR_LOSS;
    fo.plateau_factor = 0.5;
    fo.plateau_patience = 0;
    fo.plateau_threshold = 0.999;
    fo.plateau_min_lr = 0.1 * 0.25; /* the floor: at most two halvings */
    fo.progress = log_epochs;
    fo.user_data = &log;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    const double want[5] = {1, 1, 0.5, 0.25, 0.25};
    for (int e = 0; e < 5; e++) {
        ck_assert_double_eq(log.lr_scale[e], want[e]);
        ck_assert_double_eq_tol(log.lr[e], want[e] * log.sched[e], 1e-15);
    }
    ck_assert(log.sched[4] < log.sched[0]); /* the cosine went on */
    double lr;
    ck_assert_int_eq(graft_optim_get(o, GRAFT_OPT_LR, &lr), GRAFT_OK);
    ck_assert_double_eq(lr, 0.1);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_callback_option_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = halves(ctx, 8, 4);
    graft_model *m = small_net(ctx);
    graft_optim *o = tu_sgd(ctx, 0.05, 0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.monitor = 5;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "monitor is 5");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.monitor = GRAFT_MONITOR_VAL_ACCURACY;
    fo.early_stop_patience = 1;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG,
                    "validation accuracy but val is NULL");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.plateau_factor = 1;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "plateau_factor");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.plateau_factor = 0.5;
    fo.plateau_threshold = 1;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "plateau_threshold");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.min_delta = NAN;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "min_delta");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.early_stop_patience = -1;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "early_stop_patience");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.restore_best = 2;
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "restore_best");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.save_best = "";
    expect_error(ctx, graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG, "save_best");
    ck_assert_int_eq(graft_optim_steps(o), 0);
    ck_assert_int_eq(graft_model_epochs_done(m), 0);
    /* a 1.0 caller's struct (up to user_data) is read with the callbacks off;
     * the bytes after it are never looked at */
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.struct_size = (uint32_t)offsetof(graft_fit_opts, class_weights);
    fo.monitor = 99;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    ck_assert_int_eq(graft_model_epochs_done(m), 1);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_fit_callbacks(void)
{
    Suite *s = suite_create("fit_callbacks");
    const tu_named_test tests[] = {
        {"plateau_matches_torch", test_plateau_matches_torch},
        {"plateau_patience_boundary", test_plateau_patience_boundary},
        {"early_stopping", test_early_stopping_stops_after_patience},
        {"restore_and_save_best", test_restore_best_and_save_best},
        {"plateau_scales_the_schedule", test_plateau_scales_the_schedule},
        {"option_errors", test_callback_option_errors},
    };
    tu_add_tcases(s, tests, sizeof tests / sizeof tests[0], 30);
    return s;
}
