/*
 * nets.h - the benchmark networks, built through graft's public API only:
 * the LeNet-like CNN of workload (a), MobileNetV2 and ResNet-18 as
 * torchvision 0.14 defines them (same layers, shapes, strides, paddings,
 * biases and groups; relu6 is clip(0, 6)), and the transfer model of (d).
 *
 * Shared by bench/models.c and bench/gemm_table.c (header-only: each bench
 * program is one translation unit). Every conv2d and dense layer added is
 * also recorded in an optional net_log, so the GEMM table can time the same
 * shapes alone.
 */
#ifndef GRAFT_BENCH_NETS_H
#define GRAFT_BENCH_NETS_H

#include <graft.h>

#include <stdio.h>
#include <string.h>

#define NET_LOG_MAX 128

/* One conv2d or dense layer of a network, with its per-sample input shape. */
typedef struct net_entry {
    char name[64];
    int is_dense;
    graft_conv2d_spec spec; /* conv2d only */
    int units;              /* dense only */
    int64_t c, h, w;        /* input: C, H, W (dense: F, 1, 1) */
} net_entry;

typedef struct net_log {
    int n;
    net_entry e[NET_LOG_MAX];
} net_log;

/* The builder's cursor: model, log, and the first error. */
typedef struct net_builder {
    graft_ctx *ctx;
    graft_model *m;
    net_log *log;
    int status;
    char last[64]; /* name of the last layer added */
} net_builder;

static inline void nb_fail(net_builder *b, int st, const char *what)
{
    if (b->status == GRAFT_OK && st != GRAFT_OK) {
        b->status = st;
        fprintf(stderr, "building %s: %s\n", what, graft_errmsg(b->ctx));
    }
}

/* Per-sample output shape of the layer called name (or the model input). */
static inline void nb_shape(net_builder *b, const char *name, int64_t *c, int64_t *h, int64_t *w)
{
    int idx = strcmp(name, GRAFT_MODEL_INPUT) == 0 ? -1 : graft_model_find_layer(b->m, name);
    int nd = 0;
    int64_t d[GRAFT_MAX_DIMS] = {0};
    *c = *h = *w = 1;
    if (graft_model_layer_output_shape(b->m, idx, &nd, d) != GRAFT_OK) return;
    *c = d[0];
    if (nd >= 2) *h = d[1];
    if (nd >= 3) *w = d[2];
    if (nd != 3) { /* dense input: the flattened size */
        for (int i = 1; i < nd; i++) *c *= d[i];
        *h = *w = 1;
    }
}

/* Adds layer l as name reading from (NULL: the last layer added). */
static inline void nb_add(net_builder *b, const char *name, graft_layer *l, int st, const char *from)
{
    if (b->status != GRAFT_OK) {
        graft_layer_free(l);
        return;
    }
    nb_fail(b, st, name);
    if (b->status != GRAFT_OK) return;
    const char *in[1] = {from};
    nb_fail(b, graft_model_add(b->m, name, l, from ? 1 : 0, from ? in : NULL), name);
    snprintf(b->last, sizeof b->last, "%s", name);
}

static inline void nb_conv(net_builder *b, const char *name, const char *from, int out, int k, int stride,
                    int pad, int groups, int bias)
{
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = out;
    s.kernel_h = s.kernel_w = k;
    s.stride_h = s.stride_w = stride;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
    s.groups = groups;
    s.bias = bias;
    if (b->log && b->log->n < NET_LOG_MAX && b->status == GRAFT_OK) {
        net_entry *e = &b->log->e[b->log->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->spec = s;
        nb_shape(b, from ? from : (b->last[0] ? b->last : GRAFT_MODEL_INPUT), &e->c, &e->h, &e->w);
    }
    graft_layer *l = NULL;
    int st = graft_layer_conv2d(b->ctx, &s, &l);
    nb_add(b, name, l, st, from);
}

static inline void nb_dense(net_builder *b, const char *name, int units)
{
    if (b->log && b->log->n < NET_LOG_MAX && b->status == GRAFT_OK) {
        net_entry *e = &b->log->e[b->log->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->is_dense = 1;
        e->units = units;
        nb_shape(b, b->last, &e->c, &e->h, &e->w);
    }
    graft_layer *l = NULL;
    int st = graft_layer_dense(b->ctx, units, 1, &l);
    nb_add(b, name, l, st, NULL);
}

static inline void nb_bn(net_builder *b, const char *name)
{
    graft_layer *l = NULL;
    int st = graft_layer_batch_norm(b->ctx, 1e-5f, 0.1f, &l);
    nb_add(b, name, l, st, NULL);
}

static inline void nb_relu(net_builder *b, const char *name)
{
    graft_layer *l = NULL;
    int st = graft_layer_relu(b->ctx, &l);
    nb_add(b, name, l, st, NULL);
}

static inline void nb_relu6(net_builder *b, const char *name)
{
    graft_layer *l = NULL;
    int st = graft_layer_clip(b->ctx, 0.0f, 6.0f, &l);
    nb_add(b, name, l, st, NULL);
}

static inline void nb_pool(net_builder *b, const char *name, int k, int stride, int pad)
{
    graft_pool2d_spec s = GRAFT_POOL2D_SPEC_INIT;
    s.kernel_h = s.kernel_w = k;
    s.stride_h = s.stride_w = stride;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
    graft_layer *l = NULL;
    int st = graft_layer_max_pool2d(b->ctx, &s, &l);
    nb_add(b, name, l, st, NULL);
}

static inline void nb_add2(net_builder *b, const char *name, const char *x, const char *y)
{
    graft_layer *l = NULL;
    int st = graft_layer_add(b->ctx, &l);
    if (b->status != GRAFT_OK) {
        graft_layer_free(l);
        return;
    }
    nb_fail(b, st, name);
    if (b->status != GRAFT_OK) return;
    const char *in[2] = {x, y};
    nb_fail(b, graft_model_add(b->m, name, l, 2, in), name);
    snprintf(b->last, sizeof b->last, "%s", name);
}

static inline void nb_gap_flatten(net_builder *b, const char *gap, const char *flat)
{
    graft_layer *l = NULL;
    int st = graft_layer_global_avg_pool(b->ctx, &l);
    nb_add(b, gap, l, st, NULL);
    st = graft_layer_flatten(b->ctx, &l);
    nb_add(b, flat, l, st, NULL);
}

static inline int nb_begin(net_builder *b, graft_ctx *ctx, net_log *log, int64_t c, int64_t hw_h,
                    int64_t hw_w)
{
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
    b->log = log;
    if (log) log->n = 0;
    int64_t dims[3] = {c, hw_h, hw_w};
    b->status = graft_model_create(ctx, 3, dims, 42, &b->m);
    if (b->status != GRAFT_OK) fprintf(stderr, "graft_model_create: %s\n", graft_errmsg(ctx));
    return b->status;
}

static inline int nb_end(net_builder *b, graft_model **out)
{
    if (b->status != GRAFT_OK) {
        graft_model_free(b->m);
        *out = NULL;
        return b->status;
    }
    *out = b->m;
    return GRAFT_OK;
}

/* (a) conv 5x5x32 (pad 2), relu, max pool 2, conv 5x5x64 (pad 2), relu,
 * max pool 2, dense 1024, relu, dense 10; input 1x28x28. */
static inline int net_lenet(graft_ctx *ctx, net_log *log, graft_model **out)
{
    net_builder b;
    if (nb_begin(&b, ctx, log, 1, 28, 28) != GRAFT_OK) return b.status;
    nb_conv(&b, "conv1", NULL, 32, 5, 1, 2, 1, 1);
    nb_relu(&b, "relu1");
    nb_pool(&b, "pool1", 2, 2, 0);
    nb_conv(&b, "conv2", NULL, 64, 5, 1, 2, 1, 1);
    nb_relu(&b, "relu2");
    nb_pool(&b, "pool2", 2, 2, 0);
    nb_dense(&b, "fc1", 1024);
    nb_relu(&b, "relu3");
    nb_dense(&b, "fc2", 10);
    return nb_end(&b, out);
}

/* torchvision's _make_divisible(v, 8) with width 1.0 leaves every channel
 * count of the table as it is. */
static inline void mnv2_trunk(net_builder *b)
{
    static const int cfg[7][4] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
    char n[64], in_name[64];
    nb_conv(b, "features.0.conv", NULL, 32, 3, 2, 1, 1, 0);
    nb_bn(b, "features.0.bn");
    nb_relu6(b, "features.0.relu6");
    int in_c = 32, idx = 1;
    for (int s = 0; s < 7; s++) {
        int t = cfg[s][0], c = cfg[s][1], reps = cfg[s][2];
        for (int r = 0; r < reps; r++, idx++) {
            int stride = r == 0 ? cfg[s][3] : 1, hidden = in_c * t;
            snprintf(in_name, sizeof in_name, "%s", b->last);
            if (t != 1) {
                snprintf(n, sizeof n, "features.%d.expand", idx);
                nb_conv(b, n, NULL, hidden, 1, 1, 0, 1, 0);
                snprintf(n, sizeof n, "features.%d.expand_bn", idx);
                nb_bn(b, n);
                snprintf(n, sizeof n, "features.%d.expand_relu6", idx);
                nb_relu6(b, n);
            }
            snprintf(n, sizeof n, "features.%d.dw", idx);
            nb_conv(b, n, NULL, hidden, 3, stride, 1, hidden, 0);
            snprintf(n, sizeof n, "features.%d.dw_bn", idx);
            nb_bn(b, n);
            snprintf(n, sizeof n, "features.%d.dw_relu6", idx);
            nb_relu6(b, n);
            snprintf(n, sizeof n, "features.%d.project", idx);
            nb_conv(b, n, NULL, c, 1, 1, 0, 1, 0);
            snprintf(n, sizeof n, "features.%d.project_bn", idx);
            nb_bn(b, n);
            if (stride == 1 && in_c == c) {
                char proj[64];
                snprintf(proj, sizeof proj, "%s", b->last);
                snprintf(n, sizeof n, "features.%d.add", idx);
                nb_add2(b, n, in_name, proj);
            }
            in_c = c;
        }
    }
    nb_conv(b, "features.18.conv", NULL, 1280, 1, 1, 0, 1, 0);
    nb_bn(b, "features.18.bn");
    nb_relu6(b, "features.18.relu6");
    nb_gap_flatten(b, "pool", "features");
}

/* MobileNetV2 (torchvision.models.mobilenet_v2): 3x224x224 input, the
 * classifier dropout(0.2) + dense(1000). */
static inline int net_mobilenet_v2(graft_ctx *ctx, net_log *log, graft_model **out)
{
    net_builder b;
    if (nb_begin(&b, ctx, log, 3, 224, 224) != GRAFT_OK) return b.status;
    mnv2_trunk(&b);
    graft_layer *l = NULL;
    int st = graft_layer_dropout(ctx, 0.2f, 7, &l);
    nb_add(&b, "classifier.dropout", l, st, NULL);
    nb_dense(&b, "classifier.fc", 1000);
    return nb_end(&b, out);
}

/* (d): the MobileNetV2 trunk frozen (through "features") and a new dense
 * head of 5 classes. */
static inline int net_mnv2_transfer(graft_ctx *ctx, graft_model **out)
{
    net_builder b;
    if (nb_begin(&b, ctx, NULL, 3, 224, 224) != GRAFT_OK) return b.status;
    mnv2_trunk(&b);
    nb_dense(&b, "head", 5);
    if (b.status == GRAFT_OK) nb_fail(&b, graft_model_freeze_through(b.m, "features"), "freeze");
    return nb_end(&b, out);
}

/* ResNet-18 (torchvision.models.resnet18): BasicBlocks [2, 2, 2, 2]. */
static inline int net_resnet18(graft_ctx *ctx, net_log *log, graft_model **out)
{
    net_builder b;
    if (nb_begin(&b, ctx, log, 3, 224, 224) != GRAFT_OK) return b.status;
    char n[64], in_name[64], shortcut[64], main_out[64];
    nb_conv(&b, "conv1", NULL, 64, 7, 2, 3, 1, 0);
    nb_bn(&b, "bn1");
    nb_relu(&b, "relu");
    nb_pool(&b, "maxpool", 3, 2, 1);
    int in_c = 64;
    for (int s = 0; s < 4; s++) {
        int c = 64 << s;
        for (int r = 0; r < 2; r++) {
            int stride = (r == 0 && s > 0) ? 2 : 1;
            snprintf(in_name, sizeof in_name, "%s", b.last);
            snprintf(n, sizeof n, "layer%d.%d.conv1", s + 1, r);
            nb_conv(&b, n, NULL, c, 3, stride, 1, 1, 0);
            snprintf(n, sizeof n, "layer%d.%d.bn1", s + 1, r);
            nb_bn(&b, n);
            snprintf(n, sizeof n, "layer%d.%d.relu1", s + 1, r);
            nb_relu(&b, n);
            snprintf(n, sizeof n, "layer%d.%d.conv2", s + 1, r);
            nb_conv(&b, n, NULL, c, 3, 1, 1, 1, 0);
            snprintf(n, sizeof n, "layer%d.%d.bn2", s + 1, r);
            nb_bn(&b, n);
            snprintf(main_out, sizeof main_out, "%s", b.last);
            snprintf(shortcut, sizeof shortcut, "%s", in_name);
            if (stride != 1 || in_c != c) {
                snprintf(n, sizeof n, "layer%d.%d.downsample.conv", s + 1, r);
                nb_conv(&b, n, in_name, c, 1, stride, 0, 1, 0);
                snprintf(n, sizeof n, "layer%d.%d.downsample.bn", s + 1, r);
                nb_bn(&b, n);
                snprintf(shortcut, sizeof shortcut, "%s", b.last);
            }
            snprintf(n, sizeof n, "layer%d.%d.add", s + 1, r);
            nb_add2(&b, n, main_out, shortcut);
            snprintf(n, sizeof n, "layer%d.%d.relu2", s + 1, r);
            nb_relu(&b, n);
            in_c = c;
        }
    }
    nb_gap_flatten(&b, "avgpool", "flatten");
    nb_dense(&b, "fc", 1000);
    return nb_end(&b, out);
}

#endif /* GRAFT_BENCH_NETS_H */
