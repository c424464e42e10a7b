/*
 * cache_speedup.c - what feature caching saves when fine-tuning a head on a
 * frozen trunk.
 *
 * A convolutional trunk (four conv/batch-norm/relu blocks with pooling, on
 * 3x64x64 inputs) is frozen and a new dense head is trained on 512 random
 * images for several epochs, once with GRAFT_MODEL_FEATURE_CACHE off and once
 * on. Prints the time of the first epoch and the median of the later ones
 * for both, and the ratio.
 */
#include <graft.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 512
#define EPOCHS 5
#define CHECK(call)                                                       \
    do {                                                                  \
        if ((call) != GRAFT_OK) {                                         \
            fprintf(stderr, "line %d: %s\n", __LINE__, graft_errmsg(ctx)); \
            return 1;                                                     \
        }                                                                 \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct timing {
    double start, epochs[EPOCHS];
    int n;
} timing;

static int on_progress(void *user, const graft_progress *p)
{
    timing *t = user;
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_EPOCH_END) {
        double now_s = now();
        t->epochs[t->n++] = now_s - t->start;
        t->start = now_s;
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(graft_ctx *ctx, graft_dataset *ds, int cache, timing *t)
{
    int64_t dims[3] = {3, 64, 64};
    graft_model *m;
    graft_layer *l;
    CHECK(graft_model_create(ctx, 3, dims, 1, &m));
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    char name[32];
    for (int b = 0; b < 4; b++) {
        cs.out_channels = 16 << b;
        CHECK(graft_layer_conv2d(ctx, &cs, &l));
        snprintf(name, sizeof name, "b%d/conv", b);
        CHECK(graft_model_add(m, name, l, 0, NULL));
        CHECK(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l));
        snprintf(name, sizeof name, "b%d/bn", b);
        CHECK(graft_model_add(m, name, l, 0, NULL));
        CHECK(graft_layer_relu(ctx, &l));
        snprintf(name, sizeof name, "b%d/relu", b);
        CHECK(graft_model_add(m, name, l, 0, NULL));
        CHECK(graft_layer_max_pool2d(ctx, &ps, &l));
        snprintf(name, sizeof name, "b%d/pool", b);
        CHECK(graft_model_add(m, name, l, 0, NULL));
    }
    CHECK(graft_layer_global_avg_pool(ctx, &l));
    CHECK(graft_model_add(m, "gap", l, 0, NULL));
    CHECK(graft_layer_flatten(ctx, &l));
    CHECK(graft_model_add(m, "features", l, 0, NULL));
    CHECK(graft_layer_dense(ctx, 5, 1, &l));
    CHECK(graft_model_add(m, "head", l, 0, NULL));
    CHECK(graft_model_freeze_through(m, "features"));
    CHECK(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, cache));
    graft_optim *o;
    CHECK(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &o));
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = EPOCHS;
    fo.progress = on_progress;
    fo.user_data = t;
    t->n = 0;
    t->start = now();
    CHECK(graft_model_fit(m, o, ds, NULL, &fo));
    graft_optim_free(o);
    graft_model_free(m);
    return 0;
}

int main(void)
{
    graft_ctx *ctx;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 1;
    float *x = malloc((size_t)N * 3 * 64 * 64 * sizeof *x);
    int32_t *y = malloc(N * sizeof *y);
    srand(1);
    for (size_t i = 0; i < (size_t)N * 3 * 64 * 64; i++) x[i] = (float)rand() / (float)RAND_MAX;
    for (int i = 0; i < N; i++) y[i] = i % 5;
    int64_t dims[3] = {3, 64, 64};
    graft_dataset *ds;
    CHECK(graft_dataset_from_memory(ctx, N, 3, dims, x, y, 5, 0, &ds));
    timing off, on;
    if (run(ctx, ds, 0, &off) || run(ctx, ds, 1, &on)) return 1;
    qsort(off.epochs + 1, EPOCHS - 1, sizeof(double), cmp);
    qsort(on.epochs + 1, EPOCHS - 1, sizeof(double), cmp);
    double off_later = off.epochs[1 + (EPOCHS - 1) / 2], on_later = on.epochs[1 + (EPOCHS - 1) / 2];
    printf("frozen trunk, new head: %d images 3x64x64, batch 32, %d epochs\n", N, EPOCHS);
    printf("%-10s %14s %22s\n", "cache", "first epoch s", "later epochs s (median)");
    printf("%-10s %14.3f %22.4f\n", "off", off.epochs[0], off_later);
    printf("%-10s %14.3f %22.4f\n", "on", on.epochs[0], on_later);
    printf("speed-up of later epochs: %.1fx\n", off_later / on_later);
    graft_dataset_free(ds);
    free(x);
    free(y);
    graft_ctx_free(ctx);
    return 0;
}
