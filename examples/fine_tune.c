/*
 * fine_tune.c - the transfer-learning workflow from C.
 *
 *   fine_tune [PRETRAINED.graft]
 *
 * Loads a pretrained model, prints its summary, freezes the trunk, gives it
 * a new head for the target classes, trains the head, then unfreezes the top
 * block at a tenth of the learning rate and trains again, evaluates and
 * saves the result. Without an argument it first makes its own "pretrained"
 * model: a small CNN trained on a source task (where a bright square is:
 * four quadrants), to be fine-tuned on a target task with little data
 * (which half holds the larger of two squares). Exits 1 below 90% accuracy.
 */
#include <graft.h>

#include <stdio.h>
#include <stdlib.h>

#define SIDE 12
#define CHECK(call)                                                                 \
    do {                                                                            \
        if ((call) != GRAFT_OK) {                                                   \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, graft_errmsg(ctx));  \
            exit(2);                                                                \
        }                                                                           \
    } while (0)

/* A dataset of n synthetic SIDE x SIDE images; task 0: quadrant of a 3x3
 * square; task 1: side (left/right) of the larger of a 3x3 and a 2x2 square. */
static graft_dataset *synthetic(graft_ctx *ctx, int n, unsigned seed, int task)
{
    float *x = calloc((size_t)n * SIDE * SIDE, sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    srand(seed);
    for (int i = 0; i < n; i++) {
        float *img = x + (size_t)i * SIDE * SIDE;
        for (int p = 0; p < SIDE * SIDE; p++) img[p] = 0.2f * (float)rand() / (float)RAND_MAX;
        for (int s = 3; s >= (task ? 2 : 3); s--) {
            int r = rand() % (SIDE - s), c = rand() % (SIDE - s);
            if (task && s == 2) c = (y[i] ? rand() % (SIDE / 2 - 2) : SIDE / 2 + rand() % (SIDE / 2 - 2));
            for (int dr = 0; dr < s; dr++)
                for (int dc = 0; dc < s; dc++) img[(r + dr) * SIDE + c + dc] = 1.0f;
            if (s == 3) y[i] = task ? (c + 1 >= SIDE / 2) : (r + 1 >= SIDE / 2) * 2 + (c + 1 >= SIDE / 2);
        }
    }
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_dataset *ds = NULL;
    CHECK(graft_dataset_from_memory(ctx, n, 3, dims, x, y, task ? 2 : 4, 1, &ds));
    free(x);
    free(y);
    return ds;
}

/* The source model: two conv blocks with max pooling and a 4-class
 * classifier. */
static void pretrain(graft_ctx *ctx, const char *path)
{
    int64_t dims[3] = {1, SIDE, SIDE};
    graft_model *m;
    graft_layer *l;
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    CHECK(graft_model_create(ctx, 3, dims, 1, &m));
    const char *conv[2] = {"block1/conv", "block2/conv"}, *bn[2] = {"block1/bn", "block2/bn"},
               *act[2] = {"block1/relu", "block2/relu"}, *pool[2] = {"block1/pool", "block2/pool"};
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    for (int b = 0; b < 2; b++) {
        cs.out_channels = 8 * (b + 1);
        CHECK(graft_layer_conv2d(ctx, &cs, &l));
        CHECK(graft_model_add(m, conv[b], l, 0, NULL));
        CHECK(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l));
        CHECK(graft_model_add(m, bn[b], l, 0, NULL));
        CHECK(graft_layer_relu(ctx, &l));
        CHECK(graft_model_add(m, act[b], l, 0, NULL));
        CHECK(graft_layer_max_pool2d(ctx, &ps, &l));
        CHECK(graft_model_add(m, pool[b], l, 0, NULL));
    }
    CHECK(graft_layer_flatten(ctx, &l));
    CHECK(graft_model_add(m, "features", l, 0, NULL));
    CHECK(graft_layer_dense(ctx, 4, 1, &l));
    CHECK(graft_model_add(m, "fc", l, 0, NULL));
    graft_dataset *src = synthetic(ctx, 2000, 1, 0);
    graft_optim *o;
    CHECK(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o));
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 4;
    CHECK(graft_model_fit(m, o, src, NULL, &fo));
    CHECK(graft_model_save(m, path));
    graft_optim_free(o);
    graft_dataset_free(src);
    graft_model_free(m);
}

int main(int argc, char **argv)
{
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 2;
    const char *pretrained = argc > 1 ? argv[1] : "fine_tune_base.graft";
    if (argc < 2) pretrain(ctx, pretrained);

    /* 1. Load the pretrained model and look at it. */
    graft_model *m;
    CHECK(graft_model_load(ctx, pretrained, &m));
    char summary[4096];
    CHECK(graft_model_summary(m, summary, sizeof summary, NULL));
    printf("%s\n", summary);

    /* 2. New task, little data: 40 labelled images, 400 held out. */
    graft_dataset *train = synthetic(ctx, 40, 7, 1), *test = synthetic(ctx, 400, 8, 1);
    const char *classes[] = {"left", "right"};

    /* 3. Freeze the trunk and give the model a new head. */
    graft_head_spec head = GRAFT_HEAD_SPEC_INIT;
    head.class_names = classes;
    CHECK(graft_model_replace_head(m, 2, &head));
    CHECK(graft_model_freeze_through(m, "features"));

    /* 4. Train the head; the frozen trunk's features are computed once. */
    graft_optim *o;
    CHECK(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o));
    CHECK(graft_optim_set(o, GRAFT_OPT_LR, 0.01));
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 30;
    fo.batch_size = 8;
    CHECK(graft_model_fit(m, o, train, NULL, &fo));

    /* 5. Unfreeze the top block at a tenth of the rate and go on. */
    int top = graft_model_find_layer(m, "block2/conv");
    CHECK(graft_model_set_trainable(m, top, graft_model_layer_count(m) - 1, 1));
    CHECK(graft_model_set_lr_scale(m, top, top + 3, 0.1f));
    fo.epochs = 10;
    CHECK(graft_model_fit(m, o, train, NULL, &fo));

    /* 6. Evaluate on held-out images and save. */
    graft_eval *ev;
    CHECK(graft_model_evaluate(m, test, 64, 1, &ev));
    double acc = graft_eval_get(ev, GRAFT_EVAL_ACCURACY);
    printf("held-out accuracy on the new task: %.1f%% (recall %s %.2f, %s %.2f)\n", 100 * acc,
           graft_model_class_name(m, 0), graft_eval_recall(ev, 0), graft_model_class_name(m, 1),
           graft_eval_recall(ev, 1));
    CHECK(graft_model_save(m, "fine_tuned.graft"));

    graft_eval_free(ev);
    graft_optim_free(o);
    graft_dataset_free(train);
    graft_dataset_free(test);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return acc >= 0.9 ? 0 : 1;
}
