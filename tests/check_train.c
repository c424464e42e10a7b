/* check_train.c - fit, evaluate and predict (src/train.c), checkpoints that
 * resume bit for bit, and argument checking. */
#include "testutil.h"

#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIDE 10
#define CLASSES 4

/* n images of SIDE x SIDE holding a bright 3x3 square on noise, labelled by
 * the quadrant of its centre: a task a small CNN separates well. */
static graft_dataset *quadrants(graft_ctx *ctx, int n, uint64_t seed)
{
    float *x = malloc((size_t)n * SIDE * SIDE * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    graftRng rng;
    graftRngSeed(&rng, seed);
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t)i * SIDE * SIDE;
        for (int p = 0; p < SIDE * SIDE; p++) img[p] = 0.3f * graftRngUniform(&rng);
        int r = (int)(graftRngNext(&rng) % (SIDE - 2)), c = (int)(graftRngNext(&rng) % (SIDE - 2));
        for (int dr = 0; dr < 3; dr++)
            for (int dc = 0; dc < 3; dc++) img[(r + dr) * SIDE + c + dc] = 1.0f;
        y[i] = (r + 1 >= SIDE / 2) * 2 + (c + 1 >= SIDE / 2);
    }
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, n, 3, dims, x, y, CLASSES, 1, &ds), GRAFT_OK);
    free(x);
    free(y);
    return ds;
}

/* conv -> batch norm -> relu -> max pool -> dropout -> flatten -> dense */
static graft_model *small_cnn(graft_ctx *ctx, uint64_t seed)
{
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, seed, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 6;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    graft_layer_conv2d(ctx, &cs, &l);
    ck_assert_int_eq(graft_model_add(m, "conv", l, 0, NULL), GRAFT_OK);
    graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l);
    ck_assert_int_eq(graft_model_add(m, "bn", l, 0, NULL), GRAFT_OK);
    graft_layer_relu(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "relu", l, 0, NULL), GRAFT_OK);
    graft_layer_max_pool2d(ctx, &ps, &l);
    ck_assert_int_eq(graft_model_add(m, "pool", l, 0, NULL), GRAFT_OK);
    graft_layer_dropout(ctx, 0.1f, 0, &l);
    ck_assert_int_eq(graft_model_add(m, "drop", l, 0, NULL), GRAFT_OK);
    graft_layer_flatten(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, CLASSES, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

/* All parameters and buffers of two models are bit-identical. */
static int same_weights(graft_model *a, graft_model *b)
{
    if (a->n_nodes != b->n_nodes) return 0;
    for (int i = 0; i < a->n_nodes; i++) {
        graft_layer *la = a->nodes[i].layer, *lb = b->nodes[i].layer;
        if (la->n_params != lb->n_params) return 0;
        for (int k = 0; k < la->n_params; k++)
            if (la->params[k].value->numel != lb->params[k].value->numel ||
                memcmp(la->params[k].value->data, lb->params[k].value->data,
                       la->params[k].value->numel * sizeof(float)) != 0)
                return 0;
    }
    return 1;
}

typedef struct progress_log {
    int batches, epochs, stop_after;
    double last_loss, last_val_acc, last_lr, first_loss;
} progress_log;

static int on_progress(void *user, const graft_progress *p)
{
    progress_log *log = user;
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_BATCH_END) {
        log->batches++;
        double loss = graft_progress_get(p, GRAFT_PROGRESS_LOSS);
        if (log->batches == 1) log->first_loss = loss;
        log->last_loss = loss;
        log->last_lr = graft_progress_get(p, GRAFT_PROGRESS_LR);
        ck_assert(graft_progress_get(p, GRAFT_PROGRESS_IMAGES_PER_SEC) > 0);
        ck_assert(isnan(graft_progress_get(p, GRAFT_PROGRESS_VAL_LOSS)));
    } else {
        log->epochs++;
        log->last_val_acc = graft_progress_get(p, GRAFT_PROGRESS_VAL_ACCURACY);
    }
    ck_assert(isnan(graft_progress_get(p, 999)));
    return log->stop_after && log->batches >= log->stop_after;
}

START_TEST(test_fit_learns_a_separable_task)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *all = quadrants(ctx, 400, 1), *train = NULL, *val = NULL;
    ck_assert_int_eq(graft_dataset_split(all, 0.25, 7, &train, &val), GRAFT_OK);
    graft_dataset *test = quadrants(ctx, 200, 99);
    graft_model *m = small_cnn(ctx, 3);
    graft_optim *o = tu_sgd(ctx, 0.05, 0.9);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 6;
    fo.batch_size = 16;
    fo.seed = 5;
    progress_log log = {0};
    fo.progress = on_progress;
    fo.user_data = &log;
    ck_assert_msg(graft_model_fit(m, o, train, val, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(log.epochs, 6);
    ck_assert_int_eq(log.batches, 6 * 19); /* 300 samples in batches of 16 */
    ck_assert_int_eq(graft_model_epochs_done(m), 6);
    ck_assert_int_eq(graft_optim_steps(o), 6 * 19);
    ck_assert(log.last_loss < log.first_loss);
    ck_assert_double_eq_tol(log.last_lr, 0.05, 1e-12);
    graft_eval *ev = NULL;
    ck_assert_int_eq(graft_model_evaluate(m, test, 64, 2, &ev), GRAFT_OK);
    double acc = graft_eval_get(ev, GRAFT_EVAL_ACCURACY);
    ck_assert_msg(acc > 0.95, "held-out accuracy %.3f", acc);
    ck_assert(graft_eval_get(ev, GRAFT_EVAL_TOPK_ACCURACY) >= acc);
    ck_assert(log.last_val_acc > 0.9);
    int64_t total = 0;
    for (int t = 0; t < CLASSES; t++)
        for (int p = 0; p < CLASSES; p++) total += graft_eval_confusion(ev, t, p);
    ck_assert_int_eq(total, 200);
    ck_assert_int_eq((int64_t)graft_eval_get(ev, GRAFT_EVAL_COUNT), 200);
    graft_eval_free(ev);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(all);
    graft_dataset_free(train);
    graft_dataset_free(val);
    graft_dataset_free(test);
    graft_ctx_free(ctx);
}
END_TEST

static graft_model *fit_fresh(graft_ctx *ctx, graft_dataset *ds, int epochs, graft_optim **opt)
{
    graft_model *m = small_cnn(ctx, 8);
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 4), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_WARMUP_EPOCHS, 0.5), GRAFT_OK);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = epochs;
    fo.batch_size = 24;
    fo.seed = 77;
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    *opt = o;
    return m;
}

START_TEST(test_same_seed_same_weights)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 100, 2);
    graft_optim *o1, *o2;
    graft_model *a = fit_fresh(ctx, ds, 2, &o1), *b = fit_fresh(ctx, ds, 2, &o2);
    ck_assert(same_weights(a, b));
    graft_optim_free(o1);
    graft_optim_free(o2);
    graft_model_free(a);
    graft_model_free(b);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* 2 epochs, checkpoint, load, 2 more == 4 epochs straight, bit for bit. */
START_TEST(test_checkpoint_resume_is_exact)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 100, 3);
    graft_optim *o4, *o2, *o_loaded = NULL;
    graft_model *straight = fit_fresh(ctx, ds, 4, &o4);
    graft_model *half = fit_fresh(ctx, ds, 2, &o2);
    char path[] = "/tmp/graft-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(graft_checkpoint_save(half, o2, path) == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_model *resumed = NULL;
    ck_assert_msg(graft_checkpoint_load(ctx, path, &resumed, &o_loaded) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    unlink(path);
    ck_assert_int_eq(graft_model_epochs_done(resumed), 2);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 2;
    fo.batch_size = 24;
    fo.seed = 77;
    ck_assert_int_eq(graft_model_fit(resumed, o_loaded, ds, NULL, &fo), GRAFT_OK);
    ck_assert_int_eq(graft_model_epochs_done(resumed), 4);
    ck_assert_int_eq(graft_optim_steps(o_loaded), graft_optim_steps(o4));
    ck_assert_msg(same_weights(straight, resumed), "the resumed run differs from the straight one");
    ck_assert(!same_weights(straight, half));
    graft_optim_free(o4);
    graft_optim_free(o2);
    graft_optim_free(o_loaded);
    graft_model_free(straight);
    graft_model_free(half);
    graft_model_free(resumed);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_save_load_predict_identical)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 60, 4);
    graft_optim *o;
    graft_model *m = fit_fresh(ctx, ds, 1, &o);
    const char *names[CLASSES] = {"top-left", "top-right", "bottom-left", "bottom-right"};
    ck_assert_int_eq(graft_model_set_class_names(m, CLASSES, names), GRAFT_OK);
    char path[] = "/tmp/graft-model-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_int_eq(graft_model_save(m, path), GRAFT_OK);
    graft_model *back = NULL;
    ck_assert_msg(graft_model_load(ctx, path, &back) == GRAFT_OK, "%s", graft_errmsg(ctx));
    unlink(path);
    ck_assert_str_eq(graft_model_class_name(back, 3), "bottom-right");
    graft_tensor *x = tu_tensor(ctx, 4, 7, 1, SIDE, SIDE);
    for (int i = 0; i < 7; i++)
        graft_dataset_get(ds, i, graft_tensor_data(x) + i * SIDE * SIDE, NULL);
    graft_tensor *p1 = tu_tensor(ctx, 2, 7, CLASSES), *p2 = tu_tensor(ctx, 2, 7, CLASSES);
    ck_assert_int_eq(graft_model_predict(m, x, p1), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict(back, x, p2), GRAFT_OK);
    ck_assert(memcmp(graft_tensor_data(p1), graft_tensor_data(p2), 7 * CLASSES * sizeof(float)) == 0);
    for (int i = 0; i < 7; i++) {
        float s = 0;
        for (int c = 0; c < CLASSES; c++) s += graft_tensor_data(p1)[i * CLASSES + c];
        ck_assert_float_eq_tol(s, 1.0f, 1e-5f);
    }
    int32_t idx[7 * 2];
    float pr[7 * 2];
    ck_assert_int_eq(graft_model_predict_topk(back, x, 2, idx, pr), GRAFT_OK);
    for (int i = 0; i < 7; i++) {
        const float *row = graft_tensor_data(p1) + i * CLASSES;
        ck_assert_float_eq(pr[i * 2], row[idx[i * 2]]);
        ck_assert(pr[i * 2] >= pr[i * 2 + 1]);
        for (int c = 0; c < CLASSES; c++) ck_assert(row[c] <= pr[i * 2]);
    }
    ck_assert_int_eq(graft_model_predict_topk(back, x, 5, idx, pr), GRAFT_E_RANGE);
    graft_tensor *wrong = tu_tensor(ctx, 2, 7, 3);
    ck_assert_int_eq(graft_model_predict(m, x, wrong), GRAFT_E_SHAPE);
    graft_tensor_free(wrong);
    graft_tensor_free(x);
    graft_tensor_free(p1);
    graft_tensor_free(p2);
    graft_optim_free(o);
    graft_model_free(m);
    graft_model_free(back);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_early_stop)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 64, 5);
    graft_model *m = small_cnn(ctx, 1);
    graft_optim *o = tu_sgd(ctx, 0.01, 0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 10;
    fo.batch_size = 16;
    progress_log log = {0};
    log.stop_after = 6;
    fo.progress = on_progress;
    fo.user_data = &log;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    ck_assert_int_eq(log.batches, 6);
    ck_assert_int_eq(graft_optim_steps(o), 6);
    ck_assert_int_eq(graft_model_epochs_done(m), 1); /* the first epoch finished, not the second */
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* A dense layer with set weights predicts class = argmax of a one-hot input,
 * so evaluation figures are known exactly. */
START_TEST(test_evaluate_figures)
{
    graft_ctx *ctx = tu_ctx();
    int64_t dims[1] = {3};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    graft_layer_dense(ctx, 3, 0, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    graft_tensor *w;
    graft_layer_param(graft_model_layer(m, 0), 0, NULL, &w, NULL, NULL);
    const float eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    graft_tensor_copy_from(w, eye, 9);
    /* inputs one-hot on classes 0,0,1,2,2,2; labels 0,1,1,2,2,0 */
    const float x[18] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1};
    const int32_t y[6] = {0, 1, 1, 2, 2, 0};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 6, 1, dims, x, y, 3, 0, &ds), GRAFT_OK);
    graft_eval *ev = NULL;
    ck_assert_int_eq(graft_model_evaluate(m, ds, 4, 1, &ev), GRAFT_OK);
    /* predicted 0,0,1,2,2,2: correct for samples 0, 2, 3, 4 */
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_ACCURACY), 4.0 / 6, 1e-12);
    ck_assert_int_eq(graft_eval_confusion(ev, 1, 0), 1);
    ck_assert_int_eq(graft_eval_confusion(ev, 0, 2), 1);
    ck_assert_int_eq(graft_eval_confusion(ev, 2, 2), 2);
    ck_assert_int_eq(graft_eval_confusion(ev, 3, 0), -1);
    /* precision(0) = 1/2, recall(0) = 1/2, precision(2) = 2/3, recall(2) = 1, recall(1) = 1/2 */
    ck_assert_double_eq_tol(graft_eval_precision(ev, 0), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_recall(ev, 0), 0.5, 1e-12);
    ck_assert_double_eq_tol(graft_eval_precision(ev, 2), 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(graft_eval_recall(ev, 2), 1.0, 1e-12);
    ck_assert_double_eq_tol(graft_eval_recall(ev, 1), 0.5, 1e-12);
    /* loss: logits are one-hot: correct rows -log(e/(e+2)), wrong rows -log(1/(e+2)) */
    double e1 = exp(1.0), want = (4 * -log(e1 / (e1 + 2)) + 2 * -log(1 / (e1 + 2))) / 6;
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_LOSS), want, 1e-6);
    /* top-2: the true class is among the two best (ties count for it) for every row */
    graft_eval_free(ev);
    ck_assert_int_eq(graft_model_evaluate(m, ds, 4, 2, &ev), GRAFT_OK);
    ck_assert_double_eq_tol(graft_eval_get(ev, GRAFT_EVAL_TOPK_ACCURACY), 1.0, 1e-12);
    graft_eval_free(ev);
    ck_assert_int_eq(graft_model_evaluate(m, ds, 4, 4, &ev), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_evaluate(m, ds, 0, 1, &ev), GRAFT_E_INVALID_ARG);
    ck_assert(isnan(graft_eval_get(NULL, GRAFT_EVAL_LOSS)));
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_fit_argument_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 32, 6);
    graft_model *m = small_cnn(ctx, 1);
    graft_optim *o = tu_sgd(ctx, 0.01, 0);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 0;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): batch_size is 0, must be >= 1");
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.epochs = 0;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_INVALID_ARG);
    fo = (graft_fit_opts)GRAFT_FIT_OPTS_INIT;
    fo.struct_size = 8;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_VERSION);
    ck_assert_int_eq(graft_model_fit(NULL, o, ds, NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_fit(m, NULL, ds, NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_LR, NAN), GRAFT_E_RANGE);
    /* samples of another shape */
    int64_t d[3] = {1, 8, 8};
    float *x = calloc(2 * 64, sizeof *x);
    int32_t y[2] = {0, 1};
    graft_dataset *other = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 2, 3, d, x, y, CLASSES, 1, &other), GRAFT_OK);
    ck_assert_int_eq(graft_model_fit(m, o, other, NULL, NULL), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): the training dataset's samples have "
                                        "shape (1, 8, 8), the model takes (1, 10, 10)");
    graft_dataset_free(other);
    /* classes that do not match the output */
    int64_t d10[3] = {1, SIDE, SIDE};
    float *x10 = calloc(2 * SIDE * SIDE, sizeof *x10);
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 2, 3, d10, x10, y, 7, 1, &other), GRAFT_OK);
    ck_assert_int_eq(graft_model_fit(m, o, other, NULL, NULL), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_fit(): the training dataset has 7 classes "
                                        "but the model outputs 4");
    graft_dataset_free(other);
    /* exploding inputs into a plain dense model: the logits overflow, and fit
       says so without touching the weights */
    for (int i = 0; i < 2 * SIDE * SIDE; i++) x10[i] = 3e38f;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 2, 3, d10, x10, y, CLASSES, 1, &other),
                     GRAFT_OK);
    graft_model *plain = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, d10, 0, &plain), GRAFT_OK);
    graft_layer_dense(ctx, CLASSES, 1, &l);
    ck_assert_int_eq(graft_model_add(plain, "fc", l, 0, NULL), GRAFT_OK);
    graft_tensor *w;
    graft_layer_param(graft_model_layer(plain, 0), 0, NULL, &w, NULL, NULL);
    graft_tensor_fill(w, 1.0f);
    ck_assert_int_eq(graft_model_fit(plain, o, other, NULL, NULL), GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "non-finite"));
    ck_assert_float_eq(graft_tensor_data(w)[0], 1.0f);
    graft_model_free(plain);
    graft_dataset_free(other);
    free(x);
    free(x10);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* A model refuses an input batch over 2^31 - 1 samples (its fused
 * conv -> batch norm -> relu group runs without the layers' own checks),
 * before reading or allocating anything: a view of a small buffer stands
 * for the input. The context refuses large allocations, so a model that
 * went ahead fails with GRAFT_E_NOMEM rather than taking the memory. */
START_TEST(test_forward_refuses_batch_over_int_max)
{
    graft_ctx *ctx = tu_capped_ctx();
    graft_model *m = small_cnn(ctx, 1);
    static float buf[SIDE * SIDE];
    int64_t dims[4] = {(int64_t)INT32_MAX + 1, 1, SIDE, SIDE};
    graft_tensor *x = NULL;
    ck_assert_int_eq(graft_tensor_create_view(ctx, 4, dims, buf, &x), GRAFT_OK);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_forward(): the input has a batch of 2147483648 samples, more "
                     "than the 2147483647 one call takes");
    ck_assert_ptr_null(y);
    static float pbuf[CLASSES];
    int64_t pdims[2] = {(int64_t)INT32_MAX + 1, CLASSES};
    graft_tensor *probs = NULL;
    ck_assert_int_eq(graft_tensor_create_view(ctx, 2, pdims, pbuf, &probs), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict(m, x, probs), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_predict(): the input has a batch of 2147483648 samples, more "
                     "than the 2147483647 one call takes");
    graft_tensor_free(probs);
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

typedef struct key_probe {
    int calls;
} key_probe;

/* Every GRAFT_PROGRESS_* key up to GRAFT_PROGRESS_BEST has a slot
 * (train.c's static assertions tie the count to that last key), and the keys
 * around them read NaN. With no callback on, there is no best epoch. */
static int probe_keys(void *user, const graft_progress *p)
{
    key_probe *k = user;
    k->calls++;
    ck_assert(isnan(graft_progress_get(p, 0)));
    ck_assert(isnan(graft_progress_get(p, GRAFT_PROGRESS_BEST + 1)));
    int end = graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_EPOCH_END;
    for (int key = GRAFT_PROGRESS_EVENT; key <= GRAFT_PROGRESS_BEST; key++) {
        int set = (end || (key != GRAFT_PROGRESS_VAL_LOSS && key != GRAFT_PROGRESS_VAL_ACCURACY)) &&
                  key != GRAFT_PROGRESS_BEST_EPOCH && key != GRAFT_PROGRESS_BEST;
        ck_assert_msg(isnan(graft_progress_get(p, key)) == !set, "key %d at %s end", key,
                      end ? "epoch" : "batch");
    }
    return 0;
}

START_TEST(test_progress_has_every_key)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 16, 3);
    graft_model *m = small_cnn(ctx, 2);
    graft_optim *o = tu_sgd(ctx, 0.01, 0.0);
    key_probe k = {0};
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 8;
    fo.progress = probe_keys;
    fo.user_data = &k;
    ck_assert_int_eq(graft_model_fit(m, o, ds, ds, &fo), GRAFT_OK);
    ck_assert_int_eq(k.calls, 3);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- non-finite values never make a fit succeed -------------------------------- */

/* The model: conv (4 channels, 3x3) [-> batch norm] -> relu -> dense. */
static graft_model *conv_relu_dense(graft_ctx *ctx, int with_bn)
{
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 4, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_layer_conv2d(ctx, &cs, &l);
    ck_assert_int_eq(graft_model_add(m, "conv", l, 0, NULL), GRAFT_OK);
    if (with_bn) {
        graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l);
        ck_assert_int_eq(graft_model_add(m, "bn", l, 0, NULL), GRAFT_OK);
    }
    graft_layer_relu(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "relu", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, CLASSES, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

/* Every parameter and buffer of m, one after the other (caller frees). */
static float *weights_copy(graft_model *m)
{
    size_t total = 0, at = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].layer->n_params; k++)
            total += m->nodes[i].layer->params[k].value->numel;
    float *c = malloc((total + 1) * sizeof *c);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].layer->n_params; k++) {
            const graft_tensor *t = m->nodes[i].layer->params[k].value;
            memcpy(c + at, t->data, t->numel * sizeof *c);
            at += t->numel;
        }
    return c;
}

/* Asserts that m's parameters and buffers have the bits of a weights_copy(). */
static void assert_weights_are(graft_model *m, const float *c)
{
    size_t at = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].layer->n_params; k++) {
            const graft_tensor *t = m->nodes[i].layer->params[k].value;
            ck_assert_msg(memcmp(c + at, t->data, t->numel * sizeof *c) == 0,
                          "layer \"%s\" parameter \"%s\" changed", m->nodes[i].name,
                          m->nodes[i].layer->params[k].name);
            at += t->numel;
        }
}

/* The issue: a borrowed (copy 0) buffer that turns NaN after the dataset was
 * made. fit refuses the batch, naming the sample, before any update; with
 * the input check off, relu now passes the NaN to the loss, which stops the
 * fit just the same (relu(NaN) was 0: the loss stayed finite, the conv
 * weights became NaN and fit returned GRAFT_OK). evaluate refuses too. */
START_TEST(test_fit_refuses_inputs_that_became_nan)
{
    graft_ctx *ctx = tu_ctx();
    enum { N = 8 };
    float *x = malloc((size_t)N * SIDE * SIDE * sizeof *x);
    int32_t y[N];
    graftRng rng;
    graftRngSeed(&rng, 12);
    for (int i = 0; i < N * SIDE * SIDE; i++) x[i] = graftRngUniform(&rng);
    for (int i = 0; i < N; i++) y[i] = i % CLASSES;
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 3, dims, x, y, CLASSES, 0, &ds), GRAFT_OK);
    x[3 * SIDE * SIDE + 5] = NAN; /* sample 3, element 5, after the dataset's own check */
    graft_model *m = conv_relu_dense(ctx, 0);
    graft_optim *o = tu_sgd(ctx, 0.1, 0.9);
    float *before = weights_copy(m);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 4;
    fo.shuffle = 0;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_NUMERIC);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_fit(): training sample 3 holds NaN at element 5 at epoch 1, "
                     "batch 1; inputs must be finite (GRAFT_CTX_CHECK_INPUTS)");
    assert_weights_are(m, before);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    ck_assert_int_eq(graft_model_epochs_done(m), 0);
    graft_eval *ev = (graft_eval *)1;
    ck_assert_int_eq(graft_model_evaluate(m, ds, 4, 1, &ev), GRAFT_E_NUMERIC);
    ck_assert_ptr_null(ev);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_evaluate(): evaluation sample 3 holds NaN at element 5; inputs "
                     "must be finite (GRAFT_CTX_CHECK_INPUTS)");
    /* unchecked inputs: the NaN reaches the loss through relu */
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 0), GRAFT_OK);
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "non-finite at epoch 1, batch 1"));
    assert_weights_are(m, before);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    /* the same buffer made finite again trains */
    x[3 * SIDE * SIDE + 5] = 0.5f;
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 1), GRAFT_OK);
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_optim_steps(o), 2);
    free(before);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* A gradient that is not finite while the loss is: +inf inputs (unchecked)
 * into a conv with negative weights give -inf, which relu makes 0, so the
 * logits and the loss are finite, but the conv's weight gradient is
 * inf * 0 = NaN. The step is refused, naming the layer, the parameter, the
 * epoch and the batch, and nothing changes. */
START_TEST(test_fit_refuses_a_gradient_that_is_not_finite)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 0), GRAFT_OK);
    enum { N = 4 };
    float *x = calloc((size_t)N * SIDE * SIDE, sizeof *x);
    int32_t y[N] = {0, 1, 2, 3};
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, N, 3, dims, x, y, CLASSES, 0, &ds), GRAFT_OK);
    for (int i = 0; i < N * SIDE * SIDE; i++) x[i] = INFINITY;
    graft_model *m = conv_relu_dense(ctx, 0);
    graft_tensor *w = NULL;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 0), 0, NULL, &w, NULL, NULL), 0);
    graft_tensor_fill(w, -0.5f);
    graft_optim *o = tu_sgd(ctx, 0.1, 0.0);
    float *before = weights_copy(m);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = N;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_NUMERIC);
    const char *msg = graft_errmsg(ctx);
    ck_assert_msg(strstr(msg, "graft_model_fit(): at epoch 1, batch 1, layer \"conv\" (conv2d) "
                              "parameter \"weight\": its gradient is NaN (element ") == msg,
                  "%s", msg);
    ck_assert_ptr_nonnull(strstr(msg, "the step was not made"));
    assert_weights_are(m, before);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    ck_assert_int_eq(graft_model_epochs_done(m), 0);
    free(before);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Finite inputs, loss and gradients, but an update that overflows: the
 * head's learning rate multiplier 3e38 at lr 10. fit refuses the step; the
 * parameters, the optimizer and the batch norm's running statistics (which
 * the step's forward had updated) are as before it. */
START_TEST(test_fit_refuses_an_update_that_overflows)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = quadrants(ctx, 8, 21);
    graft_model *m = conv_relu_dense(ctx, 1);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 3, 3, 3e38f), GRAFT_OK);
    graft_optim *o = tu_sgd(ctx, 10.0, 0.9);
    float *before = weights_copy(m);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 4;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_E_NUMERIC);
    const char *msg = graft_errmsg(ctx);
    ck_assert_msg(strstr(msg, "graft_model_fit(): at epoch 1, batch 1, layer \"fc\" (dense) "
                              "parameter \"weight\": the update would make it ") == msg,
                  "%s", msg);
    ck_assert_ptr_nonnull(strstr(msg, "inf (element "));
    assert_weights_are(m, before); /* running_mean and running_var included */
    ck_assert_int_eq(graft_optim_steps(o), 0);
    ck_assert_int_eq(graft_model_epochs_done(m), 0);
    /* at a sane rate the same model trains */
    ck_assert_int_eq(graft_model_set_lr_scale(m, 3, 3, 1.0f), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_LR, 0.01), GRAFT_OK);
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_optim_steps(o), 2);
    free(before);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Adam with a gradient of 7.5e21: the second moment (1 - beta2) * g^2
 * overflows float while the value stays finite (the step divides by
 * sqrt(inf)). Such a state used to be kept, and a checkpoint of it could not
 * be loaded back; now the step is refused and the optimizer stays usable. */
START_TEST(test_fit_refuses_an_optimizer_state_that_overflows)
{
    graft_ctx *ctx = tu_ctx();
    float x[3] = {1e22f, 1e22f, 1e22f};
    int32_t y[1] = {0};
    int64_t dims[1] = {3};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 1, 1, dims, x, y, CLASSES, 1, &ds), GRAFT_OK);
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    graft_layer_dense(ctx, CLASSES, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    graft_tensor *w = NULL;
    graft_layer_param(graft_model_layer(m, 0), 0, NULL, &w, NULL, NULL);
    graft_tensor_fill(w, 0.0f);
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), GRAFT_OK);
    float *before = weights_copy(m);
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, NULL), GRAFT_E_NUMERIC);
    const char *msg = graft_errmsg(ctx);
    ck_assert_msg(strstr(msg, "graft_model_fit(): at epoch 1, batch 1, layer \"fc\" (dense) "
                              "parameter \"weight\": the update would make its optimizer state "
                              "inf (element 0; largest |gradient| 7.5e+21)") == msg,
                  "%s", msg);
    assert_weights_are(m, before);
    ck_assert_int_eq(graft_optim_steps(o), 0);
    char path[] = "/tmp/graft-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(graft_checkpoint_save(m, o, path), GRAFT_OK);
    graft_model *m2 = NULL;
    graft_optim *o2 = NULL;
    ck_assert_msg(graft_checkpoint_load(ctx, path, &m2, &o2) == GRAFT_OK, "%s", graft_errmsg(ctx));
    unlink(path);
    graft_model_free(m2);
    graft_optim_free(o2);
    free(before);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* graft_model_forward(), _predict() and _predict_topk() refuse an input
 * that is not finite, naming the sample and the element; with
 * GRAFT_CTX_CHECK_INPUTS 0 the value flows through to that sample's
 * outputs only. */
START_TEST(test_forward_and_predict_refuse_non_finite_inputs)
{
    graft_ctx *ctx = tu_ctx();
    int v = -1;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_CHECK_INPUTS, &v), GRAFT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 2), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_ctx_set_int(): GRAFT_CTX_CHECK_INPUTS takes 0 or 1, "
                                        "not 2");
    graft_model *m = conv_relu_dense(ctx, 1);
    graft_tensor *x = tu_tensor(ctx, 4, 2, 1, SIDE, SIDE), *probs = tu_tensor(ctx, 2, 2, CLASSES);
    tu_fill_uniform(x, 4, 0, 1);
    graft_tensor_data(x)[SIDE * SIDE + 2 * SIDE + 3] = -INFINITY; /* sample 1, element 23 */
    const graft_tensor *out = (const graft_tensor *)1;
    ck_assert_int_eq(graft_model_forward(m, x, &out), GRAFT_E_NUMERIC);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_forward(): input sample 1 holds -inf at "
                                        "element 23; inputs must be finite "
                                        "(GRAFT_CTX_CHECK_INPUTS)");
    ck_assert_int_eq(graft_model_predict(m, x, probs), GRAFT_E_NUMERIC);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_predict(): input sample 1 holds -inf at "
                                        "element 23; inputs must be finite "
                                        "(GRAFT_CTX_CHECK_INPUTS)");
    int32_t idx[2];
    float top[2];
    ck_assert_int_eq(graft_model_predict_topk(m, x, 1, idx, top), GRAFT_E_NUMERIC);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "graft_model_predict_topk(): input sample 1"));
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_CHECK_INPUTS, 0), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_CHECK_INPUTS, &v), GRAFT_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_msg(graft_model_forward(m, x, &out) == GRAFT_OK, "%s", graft_errmsg(ctx));
    int finite0 = 1, finite1 = 1;
    for (int c = 0; c < CLASSES; c++) {
        finite0 &= isfinite(graft_tensor_data_const(out)[c]) != 0;
        finite1 &= isfinite(graft_tensor_data_const(out)[CLASSES + c]) != 0;
    }
    ck_assert(finite0);
    ck_assert(!finite1);
    graft_tensor_free(x);
    graft_tensor_free(probs);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* Writes an IDX file: 0 0 8 rank, rank big-endian sizes, the bytes. */
static void write_idx(const char *path, int rank, const uint32_t *sizes, const uint8_t *data,
                      size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    uint8_t head[4] = {0, 0, 8, (uint8_t)rank};
    fwrite(head, 1, 4, f);
    for (int r = 0; r < rank; r++) {
        uint8_t be[4] = {(uint8_t)(sizes[r] >> 24), (uint8_t)(sizes[r] >> 16),
                         (uint8_t)(sizes[r] >> 8), (uint8_t)sizes[r]};
        fwrite(be, 1, 4, f);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

/* An IDX scale under which a pixel of 255 overflows float is refused when
 * the dataset is made (every sample would be read as inf later). */
START_TEST(test_idx_scale_that_overflows_is_refused)
{
    graft_ctx *ctx = tu_ctx();
    char dir[] = "/tmp/graft-idx-XXXXXX", img[64], lab[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(img, sizeof img, "%s/images", dir);
    snprintf(lab, sizeof lab, "%s/labels", dir);
    const uint32_t isz[3] = {2, 2, 2}, lsz[1] = {2};
    const uint8_t pixels[8] = {0, 255, 3, 4, 5, 6, 7, 8}, labels[2] = {0, 1};
    write_idx(img, 3, isz, pixels, 8);
    write_idx(lab, 1, lsz, labels, 2);
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_idx(ctx, img, lab, 1e37f, 0, &ds), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "a pixel of 255 would become inf"));
    ck_assert_int_eq(graft_dataset_from_idx(ctx, img, lab, 1e36f, 0, &ds), GRAFT_OK);
    float f[4];
    ck_assert_int_eq(graft_dataset_get(ds, 0, f, NULL), GRAFT_OK);
    ck_assert(isfinite(f[1]));
    graft_dataset_free(ds);
    unlink(img);
    unlink(lab);
    rmdir(dir);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_train(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("fit");
    tcase_add_test(tc, test_fit_learns_a_separable_task);
    tcase_add_test(tc, test_same_seed_same_weights);
    tcase_add_test(tc, test_checkpoint_resume_is_exact);
    tcase_add_test(tc, test_save_load_predict_identical);
    tcase_add_test(tc, test_early_stop);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("evaluate");
    tcase_add_test(tc, test_evaluate_figures);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_fit_argument_errors);
    tcase_add_test(tc, test_forward_refuses_batch_over_int_max);
    tcase_add_test(tc, test_progress_has_every_key);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("non-finite");
    tcase_add_test(tc, test_fit_refuses_inputs_that_became_nan);
    tcase_add_test(tc, test_fit_refuses_a_gradient_that_is_not_finite);
    tcase_add_test(tc, test_fit_refuses_an_update_that_overflows);
    tcase_add_test(tc, test_fit_refuses_an_optimizer_state_that_overflows);
    tcase_add_test(tc, test_forward_and_predict_refuse_non_finite_inputs);
    tcase_add_test(tc, test_idx_scale_that_overflows_is_refused);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
