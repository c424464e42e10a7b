/* check_transfer.c - freezing, surgery, staged fine-tuning, feature caching
 * and partial weight loading (src/transfer.c, and their use in src/train.c). */
#include "testutil.h"

#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIDE 8

/* n random 1xSIDExSIDE images; the label is the quadrant holding the
 * brightest pixel (4 classes). */
static graft_dataset *images(graft_ctx *ctx, int n, uint64_t seed, int classes)
{
    float *x = malloc((size_t)n * SIDE * SIDE * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    graftRng rng;
    graftRngSeed(&rng, seed);
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t)i * SIDE * SIDE;
        int best = 0;
        for (int p = 0; p < SIDE * SIDE; p++) {
            img[p] = graftRngUniform(&rng);
            if (img[p] > img[best]) best = p;
        }
        int q = (best / SIDE >= SIDE / 2) * 2 + (best % SIDE >= SIDE / 2);
        y[i] = q % classes;
    }
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, n, 3, dims, x, y, classes, 1, &ds), GRAFT_OK);
    free(x);
    free(y);
    return ds;
}

/* conv1 -> bn1 -> relu1 -> conv2 -> bn2 -> relu2 -> gap -> flat -> fc */
static graft_model *base_model(graft_ctx *ctx, int classes)
{
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 4, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    const char *names[2][3] = {{"conv1", "bn1", "relu1"}, {"conv2", "bn2", "relu2"}};
    for (int b = 0; b < 2; b++) {
        cs.out_channels = 4 * (b + 1);
        graft_layer_conv2d(ctx, &cs, &l);
        ck_assert_int_eq(graft_model_add(m, names[b][0], l, 0, NULL), GRAFT_OK);
        graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l);
        ck_assert_int_eq(graft_model_add(m, names[b][1], l, 0, NULL), GRAFT_OK);
        graft_layer_relu(ctx, &l);
        ck_assert_int_eq(graft_model_add(m, names[b][2], l, 0, NULL), GRAFT_OK);
    }
    graft_layer_global_avg_pool(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "gap", l, 0, NULL), GRAFT_OK);
    graft_layer_flatten(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, classes, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

static void fit(graft_model *m, graft_optim *o, graft_dataset *ds, int epochs)
{
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = epochs;
    fo.batch_size = 16;
    fo.seed = 9;
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "%s",
                  graft_errmsg(m->ctx));
}

/* Copies of every parameter and buffer of layer i. */
typedef struct snapshot {
    int n;
    float *data[GRAFT_LAYER_MAX_PARAMS];
    size_t numel[GRAFT_LAYER_MAX_PARAMS];
} snapshot;

static snapshot snap(graft_model *m, int i)
{
    snapshot s = {0};
    graft_layer *l = graft_model_layer(m, i);
    s.n = l->n_params;
    for (int k = 0; k < s.n; k++) {
        s.numel[k] = l->params[k].value->numel;
        s.data[k] = malloc(s.numel[k] * sizeof(float));
        memcpy(s.data[k], l->params[k].value->data, s.numel[k] * sizeof(float));
    }
    return s;
}

/* 1 when every tensor of layer i equals the snapshot byte for byte. */
static int unchanged(graft_model *m, int i, snapshot *s)
{
    graft_layer *l = graft_model_layer(m, i);
    int same = 1;
    for (int k = 0; k < s->n; k++) {
        same &= memcmp(s->data[k], l->params[k].value->data, s->numel[k] * sizeof(float)) == 0;
        free(s->data[k]);
    }
    return same;
}

START_TEST(test_freeze_api)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_freeze_through(m, "relu2"), GRAFT_OK);
    for (int i = 0; i < 9; i++) ck_assert_int_eq(graft_model_layer_trainable(m, i), i > 5);
    ck_assert_int_eq(graft_model_param_count(m, 1), 4 * 8 + 4);
    ck_assert_int_eq(graft_model_freeze_all_but_last(m, 4), GRAFT_OK);
    for (int i = 0; i < 9; i++) ck_assert_int_eq(graft_model_layer_trainable(m, i), i >= 5);
    ck_assert_int_eq(graft_model_set_trainable(m, 0, 1, 1), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_trainable(m, 1), 1);
    ck_assert_int_eq(graft_model_set_trainable_by_name(m, "conv1", 0), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_trainable(m, 0), 0);
    ck_assert_int_eq(graft_model_set_trainable(m, 3, 9, 0), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_set_trainable(): layer range [3, 9] is not "
                                        "within the model's 9 layers");
    ck_assert_int_eq(graft_model_set_trainable(m, 3, 2, 0), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_set_trainable(m, 0, 0, 2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_freeze_through(m, "nope"), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_freeze_through(): no layer named \"nope\"");
    ck_assert_int_eq(graft_model_freeze_all_but_last(m, 10), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_freeze_all_but_last(NULL, 1), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 0, 8, -1.0f), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 0, 8, NAN), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 0, 2, 0.1f), GRAFT_OK);
    ck_assert_float_eq(graft_model_layer_lr_scale(m, 2), 0.1f);
    ck_assert_float_eq(graft_model_layer_lr_scale(m, 3), 1.0f);
    ck_assert(isnan(graft_model_layer_lr_scale(m, 9)));
    int64_t v = -1;
    ck_assert_int_eq(graft_model_get_option(m, GRAFT_MODEL_FEATURE_CACHE, &v), GRAFT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, 2), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_set_option(m, 77, 0), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(graft_model_get_option(m, GRAFT_MODEL_FROZEN_BN_TRAINS, &v), GRAFT_OK);
    ck_assert_int_eq(v, 0);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* After fine-tuning with the trunk frozen, its weights and batch-norm
 * statistics are byte-identical, the head changed, and the trunk never ran
 * backward. */
static void frozen_trunk_case(int cache)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = images(ctx, 96, 1, 4);
    graft_model *m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, cache), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    snapshot trunk[8], head;
    for (int i = 0; i < 8; i++) trunk[i] = snap(m, i);
    head = snap(m, 8);
    graft_optim *o = tu_sgd(ctx, 0.05, 0.9);
    fit(m, o, ds, 3);
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(unchanged(m, i, &trunk[i]), "frozen layer %s changed",
                      graft_model_layer_name(m, i));
        ck_assert_int_eq(graft_model_layer(m, i)->backward_calls, 0);
    }
    ck_assert_msg(!unchanged(m, 8, &head), "the head did not train");
    /* 96 samples in batches of 16: 6 batches an epoch. Cached: the trunk runs
       once over the data; uncached: every epoch. */
    ck_assert_int_eq(graft_model_layer(m, 0)->forward_calls, cache ? 6 : 18);
    ck_assert_int_eq(graft_model_layer(m, 8)->forward_calls, 18);
    ck_assert_int_eq(graft_model_layer(m, 8)->backward_calls, 18);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}

START_TEST(test_frozen_trunk_unchanged_uncached)
{
    frozen_trunk_case(0);
}
END_TEST

START_TEST(test_frozen_trunk_unchanged_cached)
{
    frozen_trunk_case(1);
}
END_TEST

static graft_model *fine_tune(graft_ctx *ctx, graft_dataset *ds, int cache, int hidden)
{
    graft_model *m = base_model(ctx, 4);
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    hs.hidden_units = hidden;
    hs.dropout = hidden ? 0.25f : 0.0f;
    hs.seed = 3;
    ck_assert_int_eq(graft_model_replace_head(m, 3, &hs), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, cache), GRAFT_OK);
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), GRAFT_OK);
    fit(m, o, ds, 3);
    graft_optim_free(o);
    return m;
}

/* The cached run trains the head to the same weights as the uncached one. */
START_TEST(test_cached_matches_uncached)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = images(ctx, 80, 2, 3);
    for (int hidden = 0; hidden <= 6; hidden += 6) {
        graft_model *a = fine_tune(ctx, ds, 0, hidden), *b = fine_tune(ctx, ds, 1, hidden);
        ck_assert_int_eq(graft_model_layer(b, 0)->forward_calls, 5); /* cached */
        ck_assert_int_eq(graft_model_layer(a, 0)->forward_calls, 15);
        size_t compared = 0;
        for (int i = 8; i < graft_model_layer_count(a); i++) {
            graft_layer *la = graft_model_layer(a, i), *lb = graft_model_layer(b, i);
            for (int k = 0; k < la->n_params; k++) {
                const float *x = la->params[k].value->data, *y = lb->params[k].value->data;
                for (size_t e = 0; e < la->params[k].value->numel; e++, compared++)
                    ck_assert_msg(fabsf(x[e] - y[e]) <= 1e-5f * fmaxf(1.0f, fabsf(x[e])),
                                  "%s.%s[%zu]: uncached %.9g, cached %.9g",
                                  graft_model_layer_name(a, i), la->params[k].name, e, x[e], y[e]);
            }
        }
        ck_assert_uint_eq(compared, hidden ? (8 * 6 + 6) + (6 * 3 + 3) : 8 * 3 + 3);
        graft_model_free(a);
        graft_model_free(b);
    }
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_frozen_bn_option)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = images(ctx, 32, 3, 4);
    graft_model *m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FROZEN_BN_TRAINS, 1), GRAFT_OK);
    snapshot bn = snap(m, 1);
    graft_optim *o = tu_sgd(ctx, 0.01, 0.9);
    fit(m, o, ds, 1);
    ck_assert_msg(!unchanged(m, 1, &bn), "running statistics should move with the option");
    ck_assert_int_eq(graft_model_layer(m, 0)->forward_calls, 2); /* not cacheable */
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_cut_and_replace_head)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = base_model(ctx, 4);
    const char *old[] = {"a", "b", "c", "d"};
    ck_assert_int_eq(graft_model_set_class_names(m, 4, old), GRAFT_OK);
    const char *names[] = {"cat", "dog", "eel"};
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    hs.hidden_units = 5;
    hs.dropout = 0.5f;
    hs.class_names = names;
    ck_assert_int_eq(graft_model_replace_head(m, 3, &hs), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_count(m), 12);
    ck_assert_str_eq(graft_model_layer_name(m, 8), "head/hidden");
    ck_assert_str_eq(graft_model_layer_name(m, 9), "head/relu");
    ck_assert_str_eq(graft_model_layer_name(m, 10), "head/dropout");
    ck_assert_str_eq(graft_model_layer_name(m, 11), "head/fc");
    ck_assert_int_eq(graft_model_class_count(m), 3);
    ck_assert_str_eq(graft_model_class_name(m, 2), "eel");
    /* the new classifier is He-uniform, bias zero */
    graft_layer *fc = graft_model_layer(m, 11);
    float bound = sqrtf(6.0f / 5.0f);
    for (size_t e = 0; e < fc->params[0].value->numel; e++)
        ck_assert(fabsf(fc->params[0].value->data[e]) <= bound);
    for (int c = 0; c < 3; c++) ck_assert_float_eq(fc->params[1].value->data[c], 0.0f);
    /* replacing again removes the whole earlier head */
    ck_assert_int_eq(graft_model_replace_head(m, 2, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_count(m), 9);
    ck_assert_str_eq(graft_model_layer_name(m, 8), "head/fc");
    ck_assert_ptr_null(graft_model_class_name(m, 0));
    /* a cut keeps the named layer and what it reads */
    ck_assert_int_eq(graft_model_cut(m, "relu1"), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_count(m), 3);
    int nd;
    int64_t d[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graft_model_layer_output_shape(m, 2, &nd, d), GRAFT_OK);
    ck_assert(nd == 3 && d[0] == 4 && d[1] == SIDE);
    /* and layers can be appended after it */
    graft_layer *l;
    graft_layer_flatten(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_replace_head(m, 5, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_class_count(m), 5);
    ck_assert_int_eq(graft_model_layer_param_count(m, 4), 4 * SIDE * SIDE * 5 + 5);
    ck_assert_int_eq(graft_model_cut(m, "zzz"), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(graft_model_replace_head(m, 0, NULL), GRAFT_E_INVALID_ARG);
    hs = (graft_head_spec)GRAFT_HEAD_SPEC_INIT;
    hs.dropout = 1.0f;
    ck_assert_int_eq(graft_model_replace_head(m, 2, &hs), GRAFT_E_INVALID_ARG);
    hs.struct_size = 4;
    ck_assert_int_eq(graft_model_replace_head(m, 2, &hs), GRAFT_E_VERSION);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* A learning-rate multiplier scales the plain SGD update exactly. */
START_TEST(test_lr_scale_scales_updates)
{
    graft_ctx *ctx = tu_ctx();
    int64_t dims[1] = {2};
    graft_model *m = NULL;
    graft_layer *l;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    graft_layer_dense(ctx, 2, 0, &l);
    ck_assert_int_eq(graft_model_add(m, "a", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 2, 0, &l);
    ck_assert_int_eq(graft_model_add(m, "b", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 0, 0, 0.25f), GRAFT_OK);
    const float x[2] = {1, 2};
    const int32_t y[1] = {1};
    graft_dataset *ds;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 1, 1, dims, x, y, 2, 1, &ds), GRAFT_OK);
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &o), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(o, GRAFT_OPT_LR, 0.5), GRAFT_OK);
    snapshot a0 = snap(m, 0), b0 = snap(m, 1);
    float wa[4], wb[4];
    memcpy(wa, a0.data[0], sizeof wa);
    memcpy(wb, b0.data[0], sizeof wb);
    unchanged(m, 0, &a0);
    unchanged(m, 1, &b0);
    /* the gradients the step will use */
    graft_tensor *xt = tu_tensor(ctx, 2, 1, 2);
    graft_tensor_copy_from(xt, x, 2);
    graftModelSetMode(m, 1);
    const graft_tensor *logits;
    ck_assert_int_eq(graftModelForward(m, xt, &logits), GRAFT_OK);
    graft_tensor *g = tu_tensor(ctx, 2, 1, 2);
    float loss;
    graft_loss_softmax_cross_entropy(logits, y, &loss, g);
    ck_assert_int_eq(graftModelBackward(m, xt, g), GRAFT_OK);
    float ga[4], gb[4];
    memcpy(ga, graft_model_layer(m, 0)->params[0].grad->data, sizeof ga);
    memcpy(gb, graft_model_layer(m, 1)->params[0].grad->data, sizeof gb);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    ck_assert_int_eq(graft_model_fit(m, o, ds, NULL, &fo), GRAFT_OK);
    for (int e = 0; e < 4; e++) {
        ck_assert_float_eq_tol(graft_model_layer(m, 0)->params[0].value->data[e],
                               wa[e] - 0.5f * 0.25f * ga[e], 1e-7f);
        ck_assert_float_eq_tol(graft_model_layer(m, 1)->params[0].value->data[e],
                               wb[e] - 0.5f * gb[e], 1e-7f);
    }
    graft_tensor_free(xt);
    graft_tensor_free(g);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

static graft_model *staged(graft_ctx *ctx)
{
    graft_model *m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    ck_assert_int_eq(graft_model_schedule_unfreeze(m, "conv2", 2, 0.1f), GRAFT_OK);
    return m;
}

/* Unfreezing at epoch 2 happens at its start, with the multiplier, and a
 * checkpoint after epoch 1 resumes to exactly the straight run. */
START_TEST(test_scheduled_unfreeze_survives_resume)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = images(ctx, 48, 4, 4);
    graft_model *straight = staged(ctx);
    graft_optim *o = tu_sgd(ctx, 0.05, 0.9);
    fit(straight, o, ds, 1);
    ck_assert_int_eq(graft_model_layer_trainable(straight, 3), 0);
    fit(straight, o, ds, 1);
    ck_assert_int_eq(graft_model_layer_trainable(straight, 3), 0);
    fit(straight, o, ds, 2);
    ck_assert_int_eq(graft_model_layer_trainable(straight, 3), 1);
    ck_assert_int_eq(graft_model_layer_trainable(straight, 2), 0);
    ck_assert_float_eq(graft_model_layer_lr_scale(straight, 3), 0.1f);
    ck_assert_float_eq(graft_model_layer_lr_scale(straight, 8), 1.0f);

    graft_model *half = staged(ctx);
    graft_optim *o2 = tu_sgd(ctx, 0.05, 0.9);
    fit(half, o2, ds, 2);
    char path[] = "/tmp/graft-xfer-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_int_eq(graft_checkpoint_save(half, o2, path), GRAFT_OK);
    graft_model *resumed = NULL;
    graft_optim *o3 = NULL;
    ck_assert_msg(graft_checkpoint_load(ctx, path, &resumed, &o3) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    unlink(path);
    fit(resumed, o3, ds, 2);
    for (int i = 0; i < graft_model_layer_count(straight); i++) {
        graft_layer *a = graft_model_layer(straight, i), *b = graft_model_layer(resumed, i);
        for (int k = 0; k < a->n_params; k++)
            ck_assert_msg(memcmp(a->params[k].value->data, b->params[k].value->data,
                                 a->params[k].value->numel * sizeof(float)) == 0,
                          "layer %s differs after the resume", graft_model_layer_name(straight, i));
    }
    ck_assert_int_eq(graft_model_schedule_unfreeze(resumed, "nope", 1, 1), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(graft_model_schedule_unfreeze(resumed, "fc", -1, 1), GRAFT_E_RANGE);
    graft_optim_free(o);
    graft_optim_free(o2);
    graft_optim_free(o3);
    graft_model_free(straight);
    graft_model_free(half);
    graft_model_free(resumed);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_load_weights_report)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *src = base_model(ctx, 4);
    char path[] = "/tmp/graft-weights-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_int_eq(graft_model_save(src, path), GRAFT_OK);

    /* Another head size: fc has other shapes, the trunk loads. */
    graft_model *dst = base_model(ctx, 3);
    graft_layer *fc = graft_model_layer(dst, 8);
    float before = fc->params[0].value->data[0];
    graft_load_report *r = NULL;
    ck_assert_int_eq(graft_model_load_weights(dst, path, &r), GRAFT_OK);
    /* trunk: conv (2) + bn (4) twice = 12 tensors */
    ck_assert_int_eq(graft_load_report_count(r, GRAFT_WEIGHT_LOADED), 12);
    ck_assert_int_eq(graft_load_report_count(r, GRAFT_WEIGHT_SHAPE_MISMATCH), 2);
    ck_assert_int_eq(graft_load_report_count(r, -1), 14);
    ck_assert_float_eq(fc->params[0].value->data[0], before);
    int found = 0;
    for (int i = 0; i < graft_load_report_count(r, -1); i++) {
        const char *name, *detail;
        int status;
        ck_assert_int_eq(graft_load_report_entry(r, i, &name, &status, &detail), GRAFT_OK);
        if (strcmp(name, "fc/weight") == 0) {
            found = 1;
            ck_assert_int_eq(status, GRAFT_WEIGHT_SHAPE_MISMATCH);
            ck_assert_str_eq(detail, "shape (4, 8) in the file, (3, 8) in the model");
        }
    }
    ck_assert(found);
    ck_assert(memcmp(graft_model_layer(dst, 3)->params[0].value->data,
                     graft_model_layer(src, 3)->params[0].value->data,
                     graft_model_layer(src, 3)->params[0].value->numel * sizeof(float)) == 0);
    ck_assert_int_eq(graft_load_report_entry(r, 99, NULL, NULL, NULL), GRAFT_E_RANGE);
    graft_load_report_free(r);

    /* A replaced head: new names are not in the file, the old ones unused. */
    graft_model *other = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_replace_head(other, 2, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_load_weights(other, path, &r), GRAFT_OK);
    ck_assert_int_eq(graft_load_report_count(r, GRAFT_WEIGHT_LOADED), 12);
    ck_assert_int_eq(graft_load_report_count(r, GRAFT_WEIGHT_NOT_IN_FILE), 2);
    ck_assert_int_eq(graft_load_report_count(r, GRAFT_WEIGHT_NOT_IN_MODEL), 2);
    graft_load_report_free(r);
    ck_assert_int_eq(graft_model_load_weights(other, "/nonexistent/x.graft", &r), GRAFT_E_IO);
    ck_assert_ptr_null(r);
    unlink(path);
    graft_model_free(src);
    graft_model_free(dst);
    graft_model_free(other);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_transfer_settings_saved)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = staged(ctx);
    ck_assert_int_eq(graft_model_set_lr_scale(m, 0, 2, 0.5f), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE_MB, 7), GRAFT_OK);
    char path[] = "/tmp/graft-xs-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_int_eq(graft_model_save(m, path), GRAFT_OK);
    graft_model *back = NULL;
    ck_assert_msg(graft_model_load(ctx, path, &back) == GRAFT_OK, "%s", graft_errmsg(ctx));
    unlink(path);
    ck_assert_float_eq(graft_model_layer_lr_scale(back, 2), 0.5f);
    ck_assert_float_eq(graft_model_layer_lr_scale(back, 3), 1.0f);
    ck_assert_int_eq(back->n_unfreeze, 1);
    ck_assert_str_eq(back->unfreeze[0].from, "conv2");
    ck_assert_int_eq(back->unfreeze[0].epoch, 2);
    int64_t v;
    graft_model_get_option(back, GRAFT_MODEL_FEATURE_CACHE_MB, &v);
    ck_assert_int_eq(v, 7);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(graft_model_layer_trainable(back, i), graft_model_layer_trainable(m, i));
    graft_model_free(m);
    graft_model_free(back);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- replace_head: all or nothing, and the head found by structure ---------------- */

/* What replace_head may change, copied out of the model: layers (names,
 * kinds, inputs, flags, every tensor), class names, and the output of a
 * forward pass on a fixed input. */
typedef struct model_copy {
    int n;
    char text[4096]; /* names, kinds, inputs, flags and class names */
    size_t floats;
    float *values;
    size_t outs;
    float *out;
} model_copy;

static model_copy copy_model(graft_model *m, const graft_tensor *x)
{
    model_copy c;
    memset(&c, 0, sizeof c);
    c.n = graft_model_layer_count(m);
    size_t len = 0;
    for (int i = 0; i < c.n; i++) {
        graft_layer *l = graft_model_layer(m, i);
        len += (size_t)snprintf(c.text + len, sizeof c.text - len, "%s:%s:%d:%g<",
                                graft_model_layer_name(m, i), graft_layer_kind(l),
                                graft_model_layer_trainable(m, i),
                                (double)graft_model_layer_lr_scale(m, i));
        for (int k = 0; k < graft_model_layer_input_count(m, i); k++)
            len += (size_t)snprintf(c.text + len, sizeof c.text - len, "%s,",
                                    graft_model_layer_input_name(m, i, k));
        for (int k = 0; k < l->n_params; k++) c.floats += l->params[k].value->numel;
    }
    for (int k = 0; k < graft_model_class_count(m); k++)
        len += (size_t)snprintf(c.text + len, sizeof c.text - len, "|%s",
                                graft_model_class_name(m, k));
    ck_assert_uint_lt(len, sizeof c.text);
    c.values = malloc(c.floats * sizeof *c.values + 1);
    size_t at = 0;
    for (int i = 0; i < c.n; i++) {
        graft_layer *l = graft_model_layer(m, i);
        for (int k = 0; k < l->n_params; k++) {
            memcpy(c.values + at, l->params[k].value->data,
                   l->params[k].value->numel * sizeof(float));
            at += l->params[k].value->numel;
        }
    }
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(m->ctx));
    c.outs = graft_tensor_numel(y);
    c.out = malloc(c.outs * sizeof *c.out);
    memcpy(c.out, graft_tensor_data_const(y), c.outs * sizeof *c.out);
    return c;
}

static int same_model(const model_copy *a, const model_copy *b)
{
    return a->n == b->n && strcmp(a->text, b->text) == 0 && a->floats == b->floats &&
           memcmp(a->values, b->values, a->floats * sizeof(float)) == 0 && a->outs == b->outs &&
           memcmp(a->out, b->out, a->outs * sizeof(float)) == 0;
}

static void free_copy(model_copy *c)
{
    free(c->values);
    free(c->out);
}

/* The models replace_head is tried on: 0, a dense classifier and class names
 * (cut, then four new layers); 1, a head an earlier call made (removed as a
 * whole); 2, a feature extractor with no dense layer (appended to). */
static graft_model *head_case(graft_ctx *ctx, int which)
{
    graft_model *m = base_model(ctx, 4);
    const char *old[] = {"a", "b", "c", "d"};
    ck_assert_int_eq(graft_model_set_class_names(m, 4, old), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    if (which == 1) {
        graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
        hs.hidden_units = 6;
        hs.dropout = 0.25f;
        ck_assert_int_eq(graft_model_replace_head(m, 2, &hs), GRAFT_OK);
    }
    if (which == 2) ck_assert_int_eq(graft_model_cut(m, "flat"), GRAFT_OK);
    return m;
}

static int replace_for_case(graft_model *m, int which)
{
    static const char *const names[] = {"cat", "dog", "eel"};
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    hs.hidden_units = which == 1 ? 0 : 5;
    hs.dropout = which == 1 ? 0.0f : 0.5f;
    hs.seed = 7;
    hs.class_names = which == 1 ? NULL : names;
    return graft_model_replace_head(m, 3, &hs);
}

/* For every k, the k-th allocation of replace_head fails (once, and from k
 * on): the call returns GRAFT_E_NOMEM naming graft_model_replace_head, the
 * model is exactly as before (layers, parameters, class names, outputs), the
 * call then succeeds, and nothing leaks. */
START_TEST(test_replace_head_is_all_or_nothing)
{
    for (int which = 0; which < 3; which++) {
        tu_fail_heap h;
        graft_ctx *ctx = tu_fail_heap_ctx(&h);
        graft_model *m = head_case(ctx, which);
        tu_fail_heap_arm(&h, 0, 0);
        ck_assert_msg(replace_for_case(m, which) == GRAFT_OK, "%s", graft_errmsg(ctx));
        h.armed = 0;
        long n = h.calls;
        ck_assert_int_gt(n, 0);
        graft_model_free(m);
        graft_ctx_free(ctx);
        ck_assert_int_eq(h.allocs, h.frees);
        for (long k = 1; k <= n; k++) {
            for (int persistent = 0; persistent <= 1; persistent++) {
                ctx = tu_fail_heap_ctx(&h);
                m = head_case(ctx, which);
                int64_t dims[4] = {2, 1, SIDE, SIDE};
                graft_tensor *x = NULL;
                ck_assert_int_eq(graft_tensor_create(ctx, 4, dims, &x), GRAFT_OK);
                tu_fill_uniform(x, 5, 0, 1);
                model_copy before = copy_model(m, x);
                tu_fail_heap_arm(&h, k, persistent);
                int st = replace_for_case(m, which);
                h.armed = 0;
                ck_assert_msg(h.injected > 0, "case %d: allocation %ld was not made", which, k);
                ck_assert_msg(st == GRAFT_E_NOMEM, "case %d, allocation %ld failed: status %d (%s)",
                              which, k, st, graft_errmsg(ctx));
                ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_replace_head(): ", 28) == 0,
                              "case %d, allocation %ld failed: \"%s\"", which, k,
                              graft_errmsg(ctx));
                model_copy after = copy_model(m, x);
                ck_assert_msg(same_model(&before, &after),
                              "case %d, allocation %ld failed (%s): the model changed:\n%s\n%s",
                              which, k, persistent ? "from then on" : "once", before.text,
                              after.text);
                free_copy(&before);
                free_copy(&after);
                ck_assert_msg(replace_for_case(m, which) == GRAFT_OK, "%s", graft_errmsg(ctx));
                const graft_tensor *y = NULL;
                ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
                ck_assert_int_eq(graft_tensor_dim(y, 1), 3);
                graft_tensor_free(x);
                graft_model_free(m);
                graft_ctx_free(ctx);
                ck_assert_msg(h.allocs == h.frees, "case %d, allocation %ld: %ld allocations, "
                              "%ld frees", which, k, h.allocs, h.frees);
            }
        }
    }
}
END_TEST

/* An output that no classifier produces is refused, and the model is left
 * as it was, instead of a new head being stacked on the old output. */
START_TEST(test_replace_head_refuses_non_classifier_outputs)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    int64_t dims[1] = {4}, three[1] = {3};
    const char *ab[2] = {"a", "b"};

    /* a dense layer, then a scale_shift (as an import can end) */
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    graft_layer_scale_shift(ctx, 1, three, &l);
    ck_assert_int_eq(graft_model_add(m, "calibrate", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_replace_head(m, 2, NULL), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_replace_head(): the model's output \"calibrate\" (scale_shift) "
                     "is not a classifier (a dense layer, or a softmax reading one), so where its "
                     "head starts is not known; nothing was changed: cut the model first "
                     "(graft_model_cut()) at its classifier's dense layer or before its head");
    ck_assert_int_eq(graft_model_layer_count(m), 2);
    graft_model_free(m);

    /* two dense layers added up */
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "a", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    const char *in[1] = {GRAFT_MODEL_INPUT};
    ck_assert_int_eq(graft_model_add(m, "b", l, 1, in), GRAFT_OK);
    graft_layer_add(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "sum", l, 2, ab), GRAFT_OK);
    ck_assert_int_eq(graft_model_replace_head(m, 2, NULL), GRAFT_E_STATE);
    ck_assert(strstr(graft_errmsg(ctx), "output \"sum\" (add) is not a classifier") != NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 3);
    graft_model_free(m);

    /* no dense layer, and a softmax output: a classifier made of other layers */
    m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_cut(m, "flat"), GRAFT_OK);
    graft_layer_softmax(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "probs", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_replace_head(m, 2, NULL), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_replace_head(): the model has no dense layer and its output "
                     "\"probs\" (softmax) ends a classifier rather than giving features; nothing "
                     "was changed: cut the model before its classifier first (graft_model_cut())");
    ck_assert_int_eq(graft_model_layer_count(m), 9);
    ck_assert_str_eq(graft_model_layer_name(m, 8), "probs");

    /* without the softmax it is a feature extractor: the head is appended */
    ck_assert_int_eq(graft_model_cut(m, "flat"), GRAFT_OK);
    ck_assert_int_eq(graft_model_replace_head(m, 2, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_count(m), 9);
    ck_assert_str_eq(graft_model_layer_name(m, 8), "head/fc");
    ck_assert_str_eq(graft_model_layer_input_name(m, 8, 0), "flat");
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* The head is what the graph says, whatever the names: a trunk layer named
 * "head/..." stays, a head of replace_head's shape under other names goes,
 * and a kept layer holding a new layer's name is refused, unchanged. */
START_TEST(test_replace_head_found_by_structure)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    int64_t dims[3] = {1, SIDE, SIDE};

    /* conv -> gap -> "head/flat" (a trunk layer) -> fc */
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 1, &m), GRAFT_OK);
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.kernel_h = cs.kernel_w = 3;
    graft_layer_conv2d(ctx, &cs, &l);
    ck_assert_int_eq(graft_model_add(m, "conv", l, 0, NULL), GRAFT_OK);
    graft_layer_global_avg_pool(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "gap", l, 0, NULL), GRAFT_OK);
    graft_layer_flatten(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "head/flat", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 4, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    ck_assert_msg(graft_model_replace_head(m, 2, NULL) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_layer_count(m), 4);
    ck_assert_str_eq(graft_model_layer_name(m, 2), "head/flat");
    ck_assert_str_eq(graft_model_layer_input_name(m, 3, 0), "head/flat");
    graft_model_free(m);

    /* flat -> hid -> act -> drop -> cls: the shape of a replace_head head */
    m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_cut(m, "flat"), GRAFT_OK);
    graft_layer_dense(ctx, 6, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "hid", l, 0, NULL), GRAFT_OK);
    graft_layer_relu(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "act", l, 0, NULL), GRAFT_OK);
    graft_layer_dropout(ctx, 0.5f, 0, &l);
    ck_assert_int_eq(graft_model_add(m, "drop", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 4, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "cls", l, 0, NULL), GRAFT_OK);
    graft_layer_softmax(ctx, &l);
    ck_assert_int_eq(graft_model_add(m, "probs", l, 0, NULL), GRAFT_OK);
    ck_assert_msg(graft_model_replace_head(m, 3, NULL) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_layer_count(m), 9);
    ck_assert_str_eq(graft_model_layer_name(m, 8), "head/fc");
    ck_assert_str_eq(graft_model_layer_input_name(m, 8, 0), "flat");
    graft_model_free(m);

    /* flat -> "head/fc" (a trunk dense layer) -> out: the new "head/fc"
       cannot be added beside it */
    m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_cut(m, "flat"), GRAFT_OK);
    graft_layer_dense(ctx, 6, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "head/fc", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 4, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "out", l, 0, NULL), GRAFT_OK);
    snapshot trunk_fc = snap(m, 8);
    ck_assert_int_eq(graft_model_replace_head(m, 3, NULL), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_replace_head(): the model keeps a layer named \"head/fc\" "
                     "outside its head, the name of a new layer; nothing was changed");
    ck_assert_int_eq(graft_model_layer_count(m), 10);
    ck_assert_str_eq(graft_model_layer_name(m, 9), "out");
    ck_assert(unchanged(m, 8, &trunk_fc));
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* A reshape after the classifier (what a graph without a batch axis gives
 * back, (1, classes)) goes with the head; a dense layer over the last axis
 * of a sequence gives one output per position, not a classifier: refused,
 * unchanged. */
START_TEST(test_replace_head_through_reshape_and_refuses_linear)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    int64_t dims[1] = {4}, row[2] = {1, 3}, seq[2] = {5, 4};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, dims, 0, &m), GRAFT_OK);
    graft_layer_dense(ctx, 6, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "feat", l, 0, NULL), GRAFT_OK);
    graft_layer_dense(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    graft_layer_reshape(ctx, 2, row, &l);
    ck_assert_int_eq(graft_model_add(m, "fc/reshape", l, 0, NULL), GRAFT_OK);
    ck_assert_msg(graft_model_replace_head(m, 2, NULL) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_layer_count(m), 2);
    ck_assert_str_eq(graft_model_layer_name(m, 1), "head/fc");
    ck_assert_str_eq(graft_model_layer_input_name(m, 1, 0), "feat");
    graft_model_free(m);

    ck_assert_int_eq(graft_model_create(ctx, 2, seq, 0, &m), GRAFT_OK);
    graft_layer_linear(ctx, 3, 1, &l);
    ck_assert_int_eq(graft_model_add(m, "proj", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_replace_head(m, 2, NULL), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_replace_head(): the model's output \"proj\" comes from "
                     "\"proj\", a dense layer over the last axis of a (N, ..., F) input, which "
                     "gives one output per position rather than per sample; nothing was "
                     "changed: cut the model first (graft_model_cut()) where its features end");
    ck_assert_int_eq(graft_model_layer_count(m), 1);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* An unfreeze at an epoch the model has passed would never happen: it is
 * refused, naming the epoch and epochs_done; epochs_done itself is the next
 * epoch and is accepted. */
START_TEST(test_schedule_unfreeze_refuses_passed_epoch)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = images(ctx, 32, 6, 4);
    graft_model *m = base_model(ctx, 4);
    ck_assert_int_eq(graft_model_freeze_through(m, "flat"), GRAFT_OK);
    graft_optim *o = tu_sgd(ctx, 0.05, 0.9);
    fit(m, o, ds, 2);
    ck_assert_int_eq(graft_model_epochs_done(m), 2);
    ck_assert_int_eq(graft_model_schedule_unfreeze(m, "conv2", 1, 0.1f), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_schedule_unfreeze(): epoch 1 has passed: the model has done 2 "
                     "epochs (epochs_done), so an unfreeze there would never happen; epochs "
                     "count over the model's whole training: give epochs_done + n for n epochs "
                     "from now");
    ck_assert_int_eq(m->n_unfreeze, 0);
    ck_assert_int_eq(graft_model_schedule_unfreeze(m, "conv2", 0, 0.1f), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_schedule_unfreeze(m, "conv2", 2, 0.1f), GRAFT_OK);
    fit(m, o, ds, 1);
    ck_assert_int_eq(graft_model_layer_trainable(m, 3), 1);
    ck_assert_float_eq(graft_model_layer_lr_scale(m, 3), 0.1f);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_transfer(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("freeze");
    tcase_add_test(tc, test_freeze_api);
    tcase_add_test(tc, test_frozen_trunk_unchanged_uncached);
    tcase_add_test(tc, test_frozen_trunk_unchanged_cached);
    tcase_add_test(tc, test_frozen_bn_option);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("cache");
    tcase_add_test(tc, test_cached_matches_uncached);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("surgery");
    tcase_add_test(tc, test_cut_and_replace_head);
    tcase_add_test(tc, test_replace_head_is_all_or_nothing);
    tcase_add_test(tc, test_replace_head_refuses_non_classifier_outputs);
    tcase_add_test(tc, test_replace_head_found_by_structure);
    tcase_add_test(tc, test_replace_head_through_reshape_and_refuses_linear);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("staged");
    tcase_add_test(tc, test_lr_scale_scales_updates);
    tcase_add_test(tc, test_scheduled_unfreeze_survives_resume);
    tcase_add_test(tc, test_transfer_settings_saved);
    tcase_add_test(tc, test_schedule_unfreeze_refuses_passed_epoch);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    tc = tcase_create("partial_load");
    tcase_add_test(tc, test_load_weights_report);
    suite_add_tcase(s, tc);
    return s;
}
