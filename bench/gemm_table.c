/*
 * gemm_table.c - GEMM efficiency of graft's conv2d and dense layers.
 *
 *   gemm_table [BATCH] [RUNS]     (defaults 16 and 3)
 *
 * For every distinct conv2d and dense layer shape of MobileNetV2 and
 * ResNet-18 (bench/nets.h), times graft_layer_forward() on a batch of
 * random input (median of RUNS after one warm-up) and one cblas_sgemm call
 * at the equivalent matrix shape: M = out_channels, N = BATCH * OH * OW,
 * K = in_channels/groups * KH * KW for a convolution (M = BATCH, N = units,
 * K = features for dense). All rates count 2*M*N*K operations, the direct
 * sum's. Each layer runs twice: with GRAFT_CTX_WINOGRAD = 0 ("direct":
 * column matrix and matrix product, whose rate against sgemm's is the GEMM
 * efficiency) and at the default setting ("graft": what a model runs; for
 * 3x3 stride-1 layers Winograd's algorithm, which needs fewer products, so
 * its rate in direct-sum operations can exceed sgemm's). Depthwise
 * convolutions (one input channel per group) are not matrix products; their
 * rows show graft's rate alone. Prints one row per shape and the
 * FLOP-weighted totals.
 */
#include "nets.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
}

static int same_shape(const net_entry *a, const net_entry *b)
{
    return a->is_dense == b->is_dense && a->c == b->c && a->h == b->h && a->w == b->w &&
           a->units == b->units &&
           (a->is_dense || memcmp(&a->spec, &b->spec, sizeof a->spec) == 0);
}

/* Seconds of one layer forward (median of runs) and of the equivalent sgemm. */
/* Times the layer of e (direct: GRAFT_CTX_WINOGRAD = 0) into *t_layer, and
 * when t_gemm is not NULL the equivalent sgemm into *t_gemm. */
static int time_entry(graft_ctx *ctx, const net_entry *e, int batch, int runs, int direct,
                      int64_t *mnk, double *t_layer, double *t_gemm)
{
    graft_layer *l = NULL;
    graft_tensor *x = NULL;
    const graft_tensor *y;
    int st;
    int64_t dims[4] = {batch, e->c, e->h, e->w};
    if (graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, direct ? 0 : 1) != GRAFT_OK) return 1;
    if (e->is_dense)
        st = graft_layer_dense(ctx, e->units, 1, &l);
    else
        st = graft_layer_conv2d(ctx, &e->spec, &l);
    if (st == GRAFT_OK) st = graft_tensor_create(ctx, e->is_dense ? 2 : 4, dims, &x);
    if (st == GRAFT_OK) {
        fill(graft_tensor_data(x), graft_tensor_numel(x));
        st = graft_layer_build(l, 1, (const graft_tensor *const *)&x, 1);
    }
    if (st == GRAFT_OK) st = graft_layer_set_training(l, 0);
    double t[16];
    for (int i = 0; st == GRAFT_OK && i <= runs; i++) {
        double t0 = now();
        st = graft_layer_forward(l, 1, (const graft_tensor *const *)&x, &y);
        if (i > 0) t[i - 1] = now() - t0;
    }
    if (st != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", e->name, graft_errmsg(ctx));
        graft_layer_free(l);
        graft_tensor_free(x);
        return st;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    *t_layer = t[runs / 2];
    if (e->is_dense) {
        mnk[0] = batch;
        mnk[1] = e->units;
        mnk[2] = e->c;
    } else {
        int64_t oh = graft_tensor_dim(y, 2), ow = graft_tensor_dim(y, 3);
        mnk[0] = e->spec.out_channels;
        mnk[1] = batch * oh * ow;
        mnk[2] = e->c / e->spec.groups * e->spec.kernel_h * e->spec.kernel_w;
    }
    graft_layer_free(l);
    graft_tensor_free(x);
    if (!t_gemm) return GRAFT_OK;
    *t_gemm = 0;
    if (!e->is_dense && e->c / e->spec.groups == 1) return GRAFT_OK; /* depthwise */
    size_t m = (size_t)mnk[0], n = (size_t)mnk[1], k = (size_t)mnk[2];
    float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b),
          *c = malloc(m * n * sizeof *c);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return GRAFT_E_NOMEM;
    }
    fill(a, m * k);
    fill(b, k * n);
    for (int i = 0; i <= runs; i++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)k, b, (int)n, 0.0f, c, (int)n);
        if (i > 0) t[i - 1] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    *t_gemm = t[runs / 2];
    free(a);
    free(b);
    free(c);
    return GRAFT_OK;
}

int main(int argc, char **argv)
{
    int batch = argc > 1 ? atoi(argv[1]) : 16, runs = argc > 2 ? atoi(argv[2]) : 3;
    if (batch < 1 || runs < 1 || runs > 16) {
        fprintf(stderr, "usage: %s [BATCH >= 1] [RUNS 1..16]\n", argv[0]);
        return 2;
    }
    graft_ctx *ctx;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 1;
    static net_log logs[2];
    graft_model *m;
    if (net_mobilenet_v2(ctx, &logs[0], &m) != GRAFT_OK) return 1;
    graft_model_free(m);
    if (net_resnet18(ctx, &logs[1], &m) != GRAFT_OK) return 1;
    graft_model_free(m);
    const char *nets[2] = {"mnv2", "r18"};
    printf("GEMM efficiency, forward, batch %d, OpenBLAS threads %s: graft layer against one\n"
           "cblas_sgemm at the equivalent M x N x K (GFLOP/s = 2MNK / time); direct = column\n"
           "matrix and matrix product (GRAFT_CTX_WINOGRAD 0), ratio = direct / sgemm; graft =\n"
           "the default path (Winograd for 3x3 stride-1 layers), in direct-sum operations\n",
           batch, getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "default");
    printf("%-4s %-26s %-22s %5s %7s %5s %3s %8s %8s %6s %8s\n", "net", "layer (first of shape)",
           "input CxHxW kxk/s g", "M", "N", "K", "x", "direct", "sgemm", "ratio", "graft");
    double flops_all = 0, tl_all = 0, tg_all = 0, tw_all = 0, flops_dw = 0, tl_dw = 0;
    for (int ni = 0; ni < 2; ni++) {
        const net_log *lg = &logs[ni];
        for (int i = 0; i < lg->n; i++) {
            const net_entry *e = &lg->e[i];
            int times = 0, dup = 0;
            for (int a = 0; a <= ni && !dup; a++)
                for (int j = 0; j < (a == ni ? i : logs[a].n); j++)
                    if (same_shape(&logs[a].e[j], e)) dup = 1;
            if (dup) continue;
            for (int j = i; j < lg->n; j++) times += same_shape(&lg->e[j], e);
            int64_t mnk[3];
            double tl, tg, tw;
            if (time_entry(ctx, e, batch, runs, 1, mnk, &tl, &tg) != GRAFT_OK ||
                time_entry(ctx, e, batch, runs, 0, mnk, &tw, NULL) != GRAFT_OK)
                return 1;
            double fl = 2.0 * (double)mnk[0] * (double)mnk[1] * (double)mnk[2];
            char shape[40];
            if (e->is_dense)
                snprintf(shape, sizeof shape, "%lld dense", (long long)e->c);
            else
                snprintf(shape, sizeof shape, "%lldx%lldx%lld %dx%d/%d g%d", (long long)e->c,
                         (long long)e->h, (long long)e->w, e->spec.kernel_h, e->spec.kernel_w,
                         e->spec.stride_h, e->spec.groups);
            if (tg > 0) {
                printf("%-4s %-26s %-22s %5lld %7lld %5lld %3d %8.1f %8.1f %6.2f %8.1f\n",
                       nets[ni], e->name, shape, (long long)mnk[0], (long long)mnk[1],
                       (long long)mnk[2], times, fl / tl * 1e-9, fl / tg * 1e-9, tg / tl,
                       fl / tw * 1e-9);
                flops_all += fl * times;
                tl_all += tl * times;
                tg_all += tg * times;
                tw_all += tw * times;
            } else {
                /* depthwise: M x N x K here counts per group, K = KH*KW */
                fl = 2.0 * (double)mnk[1] * (double)mnk[2] * (double)mnk[0];
                printf("%-4s %-26s %-22s %5lld %7lld %5lld %3d %8.1f %8s %6s %8.1f\n", nets[ni],
                       e->name, shape, (long long)mnk[0], (long long)mnk[1], (long long)mnk[2],
                       times, fl / tl * 1e-9, "-", "-", fl / tw * 1e-9);
                flops_dw += fl * times;
                tl_dw += tl * times;
            }
        }
    }
    printf("GEMM-shaped layers, weighted by FLOPs: direct %.1f GFLOP/s, sgemm %.1f GFLOP/s, "
           "ratio %.2f; graft (default path) %.1f GFLOP/s, %.2f of sgemm\n",
           flops_all / tl_all * 1e-9, flops_all / tg_all * 1e-9, tg_all / tl_all,
           flops_all / tw_all * 1e-9, tg_all / tw_all);
    if (tl_dw > 0)
        printf("depthwise layers: graft %.1f GFLOP/s over %.1f ms per batch\n",
               flops_dw / tl_dw * 1e-9, tl_dw * 1e3);
    graft_ctx_free(ctx);
    return 0;
}
