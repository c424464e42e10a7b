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

static graft_optim *sgd(graft_ctx *ctx, double lr, double momentum)
{
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &o), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_LR, lr), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_MOMENTUM, momentum), GRAFT_OK);
    return o;
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
    graft_optim *o = sgd(ctx, 0.05, 0.9);
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
    graft_optim *o = sgd(ctx, 0.01, 0);
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
    graft_optim *o = sgd(ctx, 0.01, 0);
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
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
