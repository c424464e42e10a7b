/*
 * models.c - graft's side of `make bench`: one workload per process, so that
 * the peak resident memory (VmHWM) printed is that workload's alone.
 *
 *   models WORKLOAD [RUNS] [WARMUP]     (defaults 5 and 2)
 *
 * WORKLOAD is one of
 *   lenet_train     (a) LeNet-like CNN, 1x28x28, batch 64, training step
 *   mnv2_train      (b) MobileNetV2, 3x224x224, batch 16, training step
 *   mnv2_infer16    (b) the same, inference, batch 16
 *   mnv2_infer1     (b) inference, batch 1
 *   r18_train, r18_infer16, r18_infer1   (c) ResNet-18, the same three
 *   mnv2_frozen     (d) MobileNetV2 trunk frozen, new 5-class head, batch 16,
 *                   feature cache off: every step runs the trunk forward
 *   mnv2_cached     (d) the same with the feature cache: the epochs after
 *                   the first train the head on the cached features
 * Training steps go through graft_model_fit() (SGD, lr 0.001, momentum 0.9,
 * softmax cross-entropy) on one batch of random data, one epoch per step;
 * inference through graft_model_forward(). After WARMUP untimed steps, RUNS
 * timed ones give the median and the range, printed as one line:
 *   graft WORKLOAD threads=T median=X min=Y max=Z hwm_kib=K core=NAME
 * in images per second. T is OpenBLAS's thread count (OPENBLAS_NUM_THREADS
 * sets it), NAME the kernel OpenBLAS chose (openblas_get_corename()).
 */
#define _GNU_SOURCE
#include "nets.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RUNS 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long peak_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Timestamps of the epoch ends of one fit call. */
typedef struct epoch_clock {
    double t[MAX_RUNS + 8];
    int n;
} epoch_clock;

static int on_progress(void *user, const graft_progress *p)
{
    epoch_clock *c = user;
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_EPOCH_END &&
        c->n < MAX_RUNS + 8)
        c->t[c->n++] = now();
    return 0;
}

static void fill_random(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((s >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f; /* [-1, 1) */
    }
}

typedef struct workload {
    const char *name;
    int (*build)(graft_ctx *, graft_model **);
    int batch, c, hw, classes;
    int mode; /* 0 train, 1 inference, 2 frozen, 3 cached */
} workload;

static int b_lenet(graft_ctx *c, graft_model **m) { return net_lenet(c, NULL, m); }
static int b_mnv2(graft_ctx *c, graft_model **m) { return net_mobilenet_v2(c, NULL, m); }
static int b_r18(graft_ctx *c, graft_model **m) { return net_resnet18(c, NULL, m); }
static int b_mnv2t(graft_ctx *c, graft_model **m) { return net_mnv2_transfer(c, m); }

static const workload WORKLOADS[] = {
    {"lenet_train", b_lenet, 64, 1, 28, 10, 0},
    {"mnv2_train", b_mnv2, 16, 3, 224, 1000, 0},
    {"mnv2_infer16", b_mnv2, 16, 3, 224, 1000, 1},
    {"mnv2_infer1", b_mnv2, 1, 3, 224, 1000, 1},
    {"r18_train", b_r18, 16, 3, 224, 1000, 0},
    {"r18_infer16", b_r18, 16, 3, 224, 1000, 1},
    {"r18_infer1", b_r18, 1, 3, 224, 1000, 1},
    {"mnv2_frozen", b_mnv2t, 16, 3, 224, 5, 2},
    {"mnv2_cached", b_mnv2t, 16, 3, 224, 5, 3},
};

/* The samples of one cached-head epoch (4 batches). */
#define CACHED_SAMPLES 64

static int run(graft_ctx *ctx, const workload *w, int runs, int warmup, double *rates)
{
    graft_model *m = NULL;
    graft_optim *o = NULL;
    graft_dataset *ds = NULL;
    graft_tensor *x = NULL;
    float *data = NULL;
    int32_t *labels = NULL;
    int st = w->build(ctx, &m);
    if (st != GRAFT_OK) return st;
    int count = w->mode == 3 ? CACHED_SAMPLES : w->batch;
    int64_t dims[4] = {w->batch, w->c, w->hw, w->hw};
    size_t per = (size_t)w->c * w->hw * w->hw;
    data = malloc((size_t)count * per * sizeof *data);
    labels = malloc((size_t)count * sizeof *labels);
    if (!data || !labels) {
        st = GRAFT_E_NOMEM;
        goto done;
    }
    fill_random(data, (size_t)count * per, 1);
    for (int i = 0; i < count; i++) labels[i] = i % w->classes;

    if (w->mode == 1) {
        const graft_tensor *y;
        st = graft_tensor_create_view(ctx, 4, dims, data, &x);
        for (int i = 0; st == GRAFT_OK && i < warmup + runs; i++) {
            double t0 = now();
            st = graft_model_forward(m, x, &y);
            if (i >= warmup) rates[i - warmup] = w->batch / (now() - t0);
        }
        goto done;
    }

    st = graft_dataset_from_memory(ctx, count, 3, dims + 1, data, labels, w->classes, 0, &ds);
    if (st == GRAFT_OK) st = graft_optim_create(ctx, GRAFT_OPTIM_SGD, &o);
    if (st == GRAFT_OK) st = graft_optim_set(o, GRAFT_OPT_LR, 0.001);
    if (st == GRAFT_OK) st = graft_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9);
    if (st == GRAFT_OK && w->mode >= 2)
        st = graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE, w->mode == 3);
    if (st != GRAFT_OK) goto done;
    /* the cached run's first epoch fills the cache: one more untimed epoch */
    int first = w->mode == 3 ? 1 : 0;
    epoch_clock clk;
    clk.n = 0;
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = first + warmup + runs;
    fo.batch_size = w->batch;
    fo.shuffle = 0;
    fo.progress = on_progress;
    fo.user_data = &clk;
    double start = now();
    st = graft_model_fit(m, o, ds, NULL, &fo);
    if (st != GRAFT_OK) goto done;
    if (clk.n != fo.epochs) {
        fprintf(stderr, "expected %d epoch ends, saw %d\n", fo.epochs, clk.n);
        st = GRAFT_E_INTERNAL;
        goto done;
    }
    for (int i = 0; i < runs; i++) {
        int e = first + warmup + i;
        double t0 = e == 0 ? start : clk.t[e - 1];
        rates[i] = count / (clk.t[e] - t0);
    }
done:
    if (st != GRAFT_OK) fprintf(stderr, "%s: %s\n", w->name, graft_errmsg(ctx));
    graft_tensor_free(x);
    graft_dataset_free(ds);
    graft_optim_free(o);
    graft_model_free(m);
    free(data);
    free(labels);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WORKLOAD [RUNS] [WARMUP]\nworkloads:", argv[0]);
        for (size_t i = 0; i < sizeof WORKLOADS / sizeof WORKLOADS[0]; i++)
            fprintf(stderr, " %s", WORKLOADS[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5, warmup = argc > 3 ? atoi(argv[3]) : 2;
    if (runs < 1 || runs > MAX_RUNS || warmup < 0 || warmup > 8) {
        fprintf(stderr, "RUNS must be 1 to %d, WARMUP 0 to 8\n", MAX_RUNS);
        return 2;
    }
    const workload *w = NULL;
    for (size_t i = 0; i < sizeof WORKLOADS / sizeof WORKLOADS[0]; i++)
        if (strcmp(argv[1], WORKLOADS[i].name) == 0) w = &WORKLOADS[i];
    if (!w) {
        fprintf(stderr, "unknown workload %s\n", argv[1]);
        return 2;
    }
    graft_ctx *ctx;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 1;
    double rates[MAX_RUNS];
    if (run(ctx, w, runs, warmup, rates) != GRAFT_OK) return 1;
    qsort(rates, (size_t)runs, sizeof *rates, cmp_double);
    int (*get_threads)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
    char *(*get_core)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    printf("graft %s threads=%d median=%.2f min=%.2f max=%.2f hwm_kib=%ld core=%s\n", w->name,
           get_threads ? get_threads() : 0, rates[runs / 2], rates[0], rates[runs - 1],
           peak_kib(), get_core ? get_core() : "unknown");
    graft_ctx_free(ctx);
    return 0;
}
