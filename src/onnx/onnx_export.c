/*
 * onnx_export.c - graft models to ONNX files (graft_onnx_export).
 *
 * The file is a ModelProto written field by field with onnx_pb.c's writer:
 * IR version 7 (opsets 13 and 14) or 8 (15 to 17), one opset import of the
 * default domain, and a graph whose input "input" is (N, per-sample shape)
 * with a symbolic batch size N and whose output is the last layer's. Each
 * layer becomes one or a few nodes, its parameters initializers named
 * "<layer>#<parameter>"; the main node is named after the layer, so a file
 * imported back by graft_onnx_import() has the same layer names.
 *
 * A layer's attributes are read back from its saved record (the layer
 * record of docs/FORMAT.md), the kinds' only public description of them:
 *   conv2d      Conv (kernel_shape, strides, pads, dilations, group)
 *   max_pool2d  MaxPool;  avg_pool2d  AveragePool (count_include_pad)
 *   global_avg_pool  GlobalAveragePool
 *   dense       Gemm (transB 1), after a Flatten when the input is not (N, F)
 *   batch_norm  BatchNormalization (ONNX momentum = 1 - graft's), or folded
 *               into the conv2d before it when asked and the conv feeds it
 *               alone: W' = W * s, b' = (b - mean) * s + beta with
 *               s = gamma / sqrt(var + epsilon)
 *   relu, sigmoid, tanh, leaky_relu, softmax (axis 1), flatten (axis 1),
 *   concat (axis 1), mul, hard_sigmoid: the operator of that name
 *   clip        Clip with min and max inputs
 *   hard_swish  HardSwish (opset 14+), else x * HardSigmoid(x; 1/6, 1/2)
 *   dropout     Dropout (identity in inference)
 *   add         Add (two inputs) or Sum
 *   pad2d       Pad (constant, reflect or edge) on the last two axes
 *   reshape     Reshape to (0, dims...): 0 keeps the batch size
 *   scale_shift Mul by the scale, then Add of the shift
 */
#include "model/model.h"
#include "onnx_pb.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_BUF 160

typedef struct exp_state {
    graft_ctx *ctx;
    const char *func;
    const graft_model *m;
    const graft_onnx_export_opts *o;
    graftWriter *w;
    int *fold_into;  /* per node: the batch_norm node folded into this conv, or -1 */
    int *folded;     /* per node: 1 for a batch_norm folded into its conv */
} exp_state;

/* ---- protobuf pieces -------------------------------------------------------------- */

static void attr_int(graftWriter *w, const char *name, int64_t v)
{
    size_t a = graftPbBeginMessage(w, 5);
    graftPbWriteString(w, 1, name);
    graftPbWriteInt(w, 3, v);
    graftPbWriteInt(w, 20, ONNX_ATTR_INT);
    graftPbEndMessage(w, a);
}

static void attr_float(graftWriter *w, const char *name, float v)
{
    size_t a = graftPbBeginMessage(w, 5);
    graftPbWriteString(w, 1, name);
    graftPbWriteFloat(w, 2, v);
    graftPbWriteInt(w, 20, ONNX_ATTR_FLOAT);
    graftPbEndMessage(w, a);
}

static void attr_ints(graftWriter *w, const char *name, int n, const int64_t *v)
{
    size_t a = graftPbBeginMessage(w, 5);
    graftPbWriteString(w, 1, name);
    for (int k = 0; k < n; k++) graftPbWriteInt(w, 8, v[k]);
    graftPbWriteInt(w, 20, ONNX_ATTR_INTS);
    graftPbEndMessage(w, a);
}

static void attr_string(graftWriter *w, const char *name, const char *s)
{
    size_t a = graftPbBeginMessage(w, 5);
    graftPbWriteString(w, 1, name);
    graftPbWriteString(w, 4, s);
    graftPbWriteInt(w, 20, ONNX_ATTR_STRING);
    graftPbEndMessage(w, a);
}

/* Starts a node (finish with graftPbEndMessage after its attributes). */
static size_t begin_node(graftWriter *w, const char *op, const char *name, int n_in,
                         const char *const *ins, const char *out)
{
    size_t n = graftPbBeginMessage(w, 1);
    for (int k = 0; k < n_in; k++) graftPbWriteString(w, 1, ins[k]);
    graftPbWriteString(w, 2, out);
    graftPbWriteString(w, 3, name);
    graftPbWriteString(w, 4, op);
    return n;
}

static void simple_node(graftWriter *w, const char *op, const char *name, int n_in,
                        const char *const *ins, const char *out)
{
    graftPbEndMessage(w, begin_node(w, op, name, n_in, ins, out));
}

/* A float initializer (raw_data little-endian). */
static void init_f32(graftWriter *w, const char *name, int ndim, const int64_t *dims,
                     const float *v)
{
    size_t n = 1, t = graftPbBeginMessage(w, 5);
    for (int d = 0; d < ndim; d++) {
        graftPbWriteInt(w, 1, dims[d]);
        n *= (size_t)dims[d];
    }
    graftPbWriteInt(w, 2, ONNX_FLOAT);
    graftPbWriteString(w, 8, name);
    graftPbWriteTag(w, 9, PB_LEN);
    graftPbWriteVarint(w, n * 4);
    graftWriteFloats(w, v, n);
    graftPbEndMessage(w, t);
}

static void init_i64(graftWriter *w, const char *name, int ndim, const int64_t *dims,
                     const int64_t *v)
{
    size_t n = 1, t = graftPbBeginMessage(w, 5);
    for (int d = 0; d < ndim; d++) {
        graftPbWriteInt(w, 1, dims[d]);
        n *= (size_t)dims[d];
    }
    graftPbWriteInt(w, 2, ONNX_INT64);
    graftPbWriteString(w, 8, name);
    graftPbWriteTag(w, 9, PB_LEN);
    graftPbWriteVarint(w, n * 8);
    for (size_t k = 0; k < n; k++) graftWriteI64(w, v[k]);
    graftPbEndMessage(w, t);
}

/* A graph input or output (N, dims of s but the first). */
static void value_info(graftWriter *w, int field, const char *name, const graftShape *s)
{
    size_t vi = graftPbBeginMessage(w, (uint32_t)field);
    graftPbWriteString(w, 1, name);
    size_t tp = graftPbBeginMessage(w, 2);
    size_t tt = graftPbBeginMessage(w, 1);
    graftPbWriteInt(w, 1, ONNX_FLOAT);
    size_t sh = graftPbBeginMessage(w, 2);
    for (int d = 0; d < s->ndim; d++) {
        size_t dm = graftPbBeginMessage(w, 1);
        if (d == 0) graftPbWriteString(w, 2, "N");
        else graftPbWriteInt(w, 1, s->dims[d]);
        graftPbEndMessage(w, dm);
    }
    graftPbEndMessage(w, sh);
    graftPbEndMessage(w, tt);
    graftPbEndMessage(w, tp);
    graftPbEndMessage(w, vi);
}

/* ---- names ------------------------------------------------------------------------ */

/* The ONNX value that node i's output is (i = GRAFT_INPUT_NODE: the input). */
static void value_name(const exp_state *e, int i, char *buf)
{
    const graft_model *m = e->m;
    const char *in = e->o->input_name ? e->o->input_name : "input";
    const char *out = e->o->output_name ? e->o->output_name : "output";
    if (i == GRAFT_INPUT_NODE) {
        snprintf(buf, NAME_BUF, "%s", in);
        return;
    }
    /* A conv that a batch norm is folded into outputs the batch norm's value. */
    if (e->fold_into[i] >= 0) i = e->fold_into[i];
    if (i == m->n_nodes - 1) {
        snprintf(buf, NAME_BUF, "%s", out);
        return;
    }
    const char *name = m->nodes[i].name;
    snprintf(buf, NAME_BUF, "%s%s", name, strcmp(name, in) && strcmp(name, out) ? "" : "#out");
}

static void aux_name(const char *layer, const char *what, char *buf)
{
    snprintf(buf, NAME_BUF, "%s#%s", layer, what);
}

/* ---- attributes from the layer record ---------------------------------------------- */

/* Reads n i32 attributes (or the floats of the record) back from the layer's
 * save slot. */
typedef struct record {
    graftWriter w;
    graftReader r;
} record;

static int open_record(exp_state *e, const graft_layer *l, record *rec)
{
    graftWriterInit(&rec->w, e->ctx);
    if (l->vtbl->save) {
        int st = l->vtbl->save(l, &rec->w);
        if (st != GRAFT_OK) {
            graftWriterDispose(&rec->w);
            return st;
        }
    }
    graftReaderInit(&rec->r, e->ctx, rec->w.data, rec->w.size);
    return GRAFT_OK;
}

static void close_record(record *rec) { graftWriterDispose(&rec->w); }

static const float *param(const graft_layer *l, const char *name, graft_tensor **t)
{
    graftParam *p = graftLayerFindParam((graft_layer *)l, name);
    if (t) *t = p ? p->value : NULL;
    return p ? p->value->data : NULL;
}

static int internal(exp_state *e, const char *layer, const char *what)
{
    return graftError(e->ctx, GRAFT_E_INTERNAL, e->func, "layer \"%s\": %s", layer, what);
}

/* ---- one layer ---------------------------------------------------------------------- */

static int export_conv(exp_state *e, int i, const graft_layer *l, const char *in, const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    record rec;
    int32_t a[13];
    GRAFT_FORWARD_IF_ERROR(open_record(e, l, &rec));
    for (int k = 0; k < 13; k++) graftReadI32(&rec.r, &a[k], "conv2d attributes");
    int st = rec.r.status;
    close_record(&rec);
    if (st != GRAFT_OK) return internal(e, name, "unreadable conv2d record");
    graft_tensor *wt;
    const float *wv = param(l, "weight", &wt), *bv = a[12] ? param(l, "bias", NULL) : NULL;
    if (!wv) return internal(e, name, "no weight");
    char wn[NAME_BUF], bn[NAME_BUF];
    aux_name(name, "weight", wn);
    aux_name(name, "bias", bn);
    int bn_node = e->fold_into[i];
    if (bn_node < 0) {
        init_f32(w, wn, wt->ndim, wt->dims, wv);
        if (bv) init_f32(w, bn, 1, wt->dims, bv);
    } else {
        /* Fold the batch norm: scale each output channel's weights. */
        const graft_layer *b = e->m->nodes[bn_node].layer;
        record br;
        float eps, mom;
        GRAFT_FORWARD_IF_ERROR(open_record(e, b, &br));
        graftReadF32(&br.r, &eps, "epsilon");
        graftReadF32(&br.r, &mom, "momentum");
        st = br.r.status;
        close_record(&br);
        if (st != GRAFT_OK) return internal(e, name, "unreadable batch_norm record");
        const float *gamma = param(b, "weight", NULL), *beta = param(b, "bias", NULL),
                    *mean = param(b, "running_mean", NULL), *var = param(b, "running_var", NULL);
        size_t per = wt->numel / (size_t)wt->dims[0];
        float *fw = graftAlloc(e->ctx, wt->numel * sizeof *fw);
        float *fb = graftAlloc(e->ctx, (size_t)wt->dims[0] * sizeof *fb);
        if (!fw || !fb || !gamma || !beta || !mean || !var) {
            graftFree(e->ctx, fw);
            graftFree(e->ctx, fb);
            return graftError(e->ctx, GRAFT_E_NOMEM, e->func, "cannot fold batch norm into "
                              "layer \"%s\"", name);
        }
        for (int64_t o = 0; o < wt->dims[0]; o++) {
            double s = gamma[o] / sqrt((double)var[o] + eps);
            for (size_t k = 0; k < per; k++) fw[o * per + k] = (float)(wv[o * per + k] * s);
            fb[o] = (float)(((bv ? bv[o] : 0.0) - mean[o]) * s + beta[o]);
        }
        init_f32(w, wn, wt->ndim, wt->dims, fw);
        init_f32(w, bn, 1, wt->dims, fb);
        bv = fb;
        graftFree(e->ctx, fw);
        graftFree(e->ctx, fb);
    }
    const char *ins[3] = {in, wn, bn};
    size_t n = begin_node(w, "Conv", name, bv ? 3 : 2, ins, out);
    const int64_t ks[2] = {a[1], a[2]}, strides[2] = {a[3], a[4]},
                  pads[4] = {a[5], a[6], a[7], a[8]}, dil[2] = {a[9], a[10]};
    attr_ints(w, "kernel_shape", 2, ks);
    attr_ints(w, "strides", 2, strides);
    attr_ints(w, "pads", 4, pads);
    attr_ints(w, "dilations", 2, dil);
    attr_int(w, "group", a[11]);
    graftPbEndMessage(w, n);
    return GRAFT_OK;
}

static int export_pool(exp_state *e, int i, const graft_layer *l, const char *in, const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    int is_max = l->vtbl == &graftMaxPool2dVtbl;
    record rec;
    int32_t a[10];
    GRAFT_FORWARD_IF_ERROR(open_record(e, l, &rec));
    for (int k = 0; k < 10; k++) graftReadI32(&rec.r, &a[k], "pool attributes");
    int st = rec.r.status;
    close_record(&rec);
    if (st != GRAFT_OK) return internal(e, name, "unreadable pool record");
    size_t n = begin_node(w, is_max ? "MaxPool" : "AveragePool", name, 1, &in, out);
    const int64_t ks[2] = {a[0], a[1]}, strides[2] = {a[2], a[3]},
                  pads[4] = {a[4], a[5], a[6], a[7]};
    attr_ints(w, "kernel_shape", 2, ks);
    attr_ints(w, "strides", 2, strides);
    attr_ints(w, "pads", 4, pads);
    attr_int(w, "ceil_mode", a[8]);
    if (!is_max) attr_int(w, "count_include_pad", a[9]);
    graftPbEndMessage(w, n);
    return GRAFT_OK;
}

static int export_dense(exp_state *e, int i, const graft_layer *l, const char *in,
                        const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    graft_tensor *wt, *bt;
    const float *wv = param(l, "weight", &wt), *bv = param(l, "bias", &bt);
    if (!wv) return internal(e, name, "no weight");
    char flat[NAME_BUF], fname[NAME_BUF], wn[NAME_BUF], bn[NAME_BUF];
    if (l->in_shapes[0].ndim > 2) {
        aux_name(name, "flat", flat);
        snprintf(fname, sizeof fname, "%s/flatten", name);
        size_t n = begin_node(w, "Flatten", fname, 1, &in, flat);
        attr_int(w, "axis", 1);
        graftPbEndMessage(w, n);
        in = flat;
    }
    aux_name(name, "weight", wn);
    aux_name(name, "bias", bn);
    init_f32(w, wn, wt->ndim, wt->dims, wv);
    if (bv) init_f32(w, bn, 1, bt->dims, bv);
    const char *ins[3] = {in, wn, bn};
    size_t n = begin_node(w, "Gemm", name, bv ? 3 : 2, ins, out);
    attr_int(w, "transB", 1);
    graftPbEndMessage(w, n);
    return GRAFT_OK;
}

static int export_batch_norm(exp_state *e, int i, const graft_layer *l, const char *in,
                             const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    static const char *const params[4] = {"weight", "bias", "running_mean", "running_var"};
    char names[4][NAME_BUF];
    const char *ins[5] = {in, names[0], names[1], names[2], names[3]};
    record rec;
    float eps, mom;
    GRAFT_FORWARD_IF_ERROR(open_record(e, l, &rec));
    graftReadF32(&rec.r, &eps, "epsilon");
    graftReadF32(&rec.r, &mom, "momentum");
    int st = rec.r.status;
    close_record(&rec);
    if (st != GRAFT_OK) return internal(e, name, "unreadable batch_norm record");
    for (int k = 0; k < 4; k++) {
        graft_tensor *t;
        const float *v = param(l, params[k], &t);
        if (!v) return internal(e, name, "missing parameter");
        aux_name(name, params[k], names[k]);
        init_f32(w, names[k], 1, t->dims, v);
    }
    size_t n = begin_node(w, "BatchNormalization", name, 5, ins, out);
    attr_float(w, "epsilon", eps);
    attr_float(w, "momentum", 1.0f - mom);
    graftPbEndMessage(w, n);
    return GRAFT_OK;
}

/* Kinds whose attributes are floats: clip, leaky_relu, hard_sigmoid,
 * dropout. */
static int export_float_attrs(exp_state *e, int i, const graft_layer *l, const char *in,
                              const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    const char *kind = l->vtbl->kind;
    record rec;
    float a = 0, b = 0;
    GRAFT_FORWARD_IF_ERROR(open_record(e, l, &rec));
    graftReadF32(&rec.r, &a, "attribute");
    if (strcmp(kind, "leaky_relu") != 0 && strcmp(kind, "dropout") != 0)
        graftReadF32(&rec.r, &b, "attribute");
    int st = rec.r.status;
    close_record(&rec);
    if (st != GRAFT_OK) return internal(e, name, "unreadable record");
    if (!strcmp(kind, "clip") || !strcmp(kind, "dropout")) {
        char lo[NAME_BUF], hi[NAME_BUF];
        aux_name(name, !strcmp(kind, "clip") ? "min" : "ratio", lo);
        aux_name(name, "max", hi);
        init_f32(w, lo, 0, NULL, &a);
        if (!strcmp(kind, "clip")) init_f32(w, hi, 0, NULL, &b);
        const char *ins[3] = {in, lo, hi};
        simple_node(w, !strcmp(kind, "clip") ? "Clip" : "Dropout", name,
                    !strcmp(kind, "clip") ? 3 : 2, ins, out);
        return GRAFT_OK;
    }
    size_t n = begin_node(w, !strcmp(kind, "leaky_relu") ? "LeakyRelu" : "HardSigmoid", name, 1,
                          &in, out);
    attr_float(w, "alpha", a);
    if (!strcmp(kind, "hard_sigmoid")) attr_float(w, "beta", b);
    graftPbEndMessage(w, n);
    return GRAFT_OK;
}

static int export_pad(exp_state *e, int i, const graft_layer *l, const char *in, const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    static const char *const modes[3] = {"constant", "reflect", "edge"};
    record rec;
    int32_t a[5];
    float value;
    GRAFT_FORWARD_IF_ERROR(open_record(e, l, &rec));
    for (int k = 0; k < 5; k++) graftReadI32(&rec.r, &a[k], "pad2d attributes");
    graftReadF32(&rec.r, &value, "pad2d value");
    int st = rec.r.status;
    close_record(&rec);
    if (st != GRAFT_OK || a[4] < 0 || a[4] > 2) return internal(e, name, "unreadable pad2d record");
    int r = l->in_shapes[0].ndim;
    int64_t pads[2 * GRAFT_MAX_DIMS] = {0}, np = 2 * r;
    pads[r - 2] = a[0];
    pads[r - 1] = a[1];
    pads[2 * r - 2] = a[2];
    pads[2 * r - 1] = a[3];
    char pn[NAME_BUF], vn[NAME_BUF];
    aux_name(name, "pads", pn);
    aux_name(name, "value", vn);
    init_i64(w, pn, 1, &np, pads);
    init_f32(w, vn, 0, NULL, &value);
    const char *ins[3] = {in, pn, vn};
    size_t n = begin_node(w, "Pad", name, 3, ins, out);
    attr_string(w, "mode", modes[a[4]]);
    graftPbEndMessage(w, n);
    return GRAFT_OK;
}

static int export_reshape(exp_state *e, int i, const graft_layer *l, const char *in,
                          const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    int64_t dims[GRAFT_MAX_DIMS], n = l->out_shape.ndim;
    dims[0] = 0; /* keeps the batch size */
    for (int d = 1; d < l->out_shape.ndim; d++) dims[d] = l->out_shape.dims[d];
    char sn[NAME_BUF];
    aux_name(name, "shape", sn);
    init_i64(w, sn, 1, &n, dims);
    const char *ins[2] = {in, sn};
    simple_node(w, "Reshape", name, 2, ins, out);
    return GRAFT_OK;
}

static int export_scale_shift(exp_state *e, int i, const graft_layer *l, const char *in,
                              const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    graft_tensor *st, *sh;
    const float *sv = param(l, "scale", &st), *hv = param(l, "shift", &sh);
    if (!sv || !hv) return internal(e, name, "missing coefficients");
    char sn[NAME_BUF], hn[NAME_BUF], mid[NAME_BUF], mname[NAME_BUF];
    aux_name(name, "scale", sn);
    aux_name(name, "shift", hn);
    aux_name(name, "scaled", mid);
    snprintf(mname, sizeof mname, "%s/scale", name);
    init_f32(w, sn, st->ndim, st->dims, sv);
    init_f32(w, hn, sh->ndim, sh->dims, hv);
    const char *mul_in[2] = {in, sn}, *add_in[2] = {mid, hn};
    simple_node(w, "Mul", mname, 2, mul_in, mid);
    simple_node(w, "Add", name, 2, add_in, out);
    return GRAFT_OK;
}

static int export_hard_swish(exp_state *e, int i, const char *in, const char *out)
{
    graftWriter *w = e->w;
    const char *name = e->m->nodes[i].name;
    if (e->o->opset >= 14) {
        simple_node(w, "HardSwish", name, 1, &in, out);
        return GRAFT_OK;
    }
    char hs[NAME_BUF], hname[NAME_BUF];
    aux_name(name, "gate", hs);
    snprintf(hname, sizeof hname, "%s/gate", name);
    size_t n = begin_node(w, "HardSigmoid", hname, 1, &in, hs);
    attr_float(w, "alpha", 1.0f / 6.0f);
    attr_float(w, "beta", 0.5f);
    graftPbEndMessage(w, n);
    const char *ins[2] = {in, hs};
    simple_node(w, "Mul", name, 2, ins, out);
    return GRAFT_OK;
}

static int export_node(exp_state *e, int i)
{
    const graftNode *node = &e->m->nodes[i];
    const graft_layer *l = node->layer;
    const char *kind = l->vtbl->kind;
    char out[NAME_BUF], ins_buf[4][NAME_BUF];
    const char *ins[GRAFT_LAYER_MAX_INPUTS];
    char (*many)[NAME_BUF] = NULL;
    int st = GRAFT_OK;
    if (e->folded[i]) return GRAFT_OK;
    value_name(e, i, out);
    if (node->n_inputs > 4) {
        many = graftCalloc(e->ctx, (size_t)node->n_inputs, sizeof *many);
        if (!many) return graftError(e->ctx, GRAFT_E_NOMEM, e->func, "cannot allocate names");
    }
    for (int k = 0; k < node->n_inputs; k++) {
        char *buf = many ? many[k] : ins_buf[k];
        value_name(e, node->inputs[k], buf);
        ins[k] = buf;
    }
    graftWriter *w = e->w;
    const char *name = node->name;
    if (!strcmp(kind, "conv2d")) st = export_conv(e, i, l, ins[0], out);
    else if (!strcmp(kind, "max_pool2d") || !strcmp(kind, "avg_pool2d"))
        st = export_pool(e, i, l, ins[0], out);
    else if (!strcmp(kind, "global_avg_pool"))
        simple_node(w, "GlobalAveragePool", name, 1, ins, out);
    else if (!strcmp(kind, "dense")) st = export_dense(e, i, l, ins[0], out);
    else if (!strcmp(kind, "batch_norm")) st = export_batch_norm(e, i, l, ins[0], out);
    else if (!strcmp(kind, "relu")) simple_node(w, "Relu", name, 1, ins, out);
    else if (!strcmp(kind, "sigmoid")) simple_node(w, "Sigmoid", name, 1, ins, out);
    else if (!strcmp(kind, "tanh")) simple_node(w, "Tanh", name, 1, ins, out);
    else if (!strcmp(kind, "clip") || !strcmp(kind, "leaky_relu") ||
             !strcmp(kind, "hard_sigmoid") || !strcmp(kind, "dropout"))
        st = export_float_attrs(e, i, l, ins[0], out);
    else if (!strcmp(kind, "hard_swish")) st = export_hard_swish(e, i, ins[0], out);
    else if (!strcmp(kind, "flatten") || !strcmp(kind, "softmax") || !strcmp(kind, "concat")) {
        const char *op = !strcmp(kind, "flatten") ? "Flatten" : !strcmp(kind, "softmax") ? "Softmax"
                                                                                         : "Concat";
        size_t n = begin_node(w, op, name, node->n_inputs, ins, out);
        attr_int(w, "axis", 1);
        graftPbEndMessage(w, n);
    } else if (!strcmp(kind, "add")) {
        simple_node(w, node->n_inputs == 2 ? "Add" : "Sum", name, node->n_inputs, ins, out);
    } else if (!strcmp(kind, "mul")) simple_node(w, "Mul", name, 2, ins, out);
    else if (!strcmp(kind, "pad2d")) st = export_pad(e, i, l, ins[0], out);
    else if (!strcmp(kind, "reshape")) st = export_reshape(e, i, l, ins[0], out);
    else if (!strcmp(kind, "scale_shift")) st = export_scale_shift(e, i, l, ins[0], out);
    else st = graftError(e->ctx, GRAFT_E_UNSUPPORTED, e->func,
                         "layer \"%s\": graft cannot export the kind %s", name, kind);
    graftFree(e->ctx, many);
    return st;
}

/* Marks batch norms that read a conv2d read by nothing else. */
static void plan_folding(exp_state *e)
{
    const graft_model *m = e->m;
    for (int i = 0; i < m->n_nodes; i++) e->fold_into[i] = -1;
    if (!e->o->fold_batch_norm) return;
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i];
        if (n->layer->vtbl != &graftBatchNormVtbl || n->inputs[0] == GRAFT_INPUT_NODE) continue;
        int j = n->inputs[0];
        if (m->nodes[j].layer->vtbl != &graftConv2dVtbl || m->nodes[j].consumers != 1) continue;
        e->fold_into[j] = i;
        e->folded[i] = 1;
    }
}

static int check_opts(graft_ctx *ctx, const char *func, const graft_onnx_export_opts *o)
{
    GRAFT_RETURN_IF_AT(o->struct_size != sizeof(graft_onnx_export_opts), ctx, GRAFT_E_VERSION,
                       func,
                       "opts->struct_size is %u; this graft knows %zu (use "
                       "GRAFT_ONNX_EXPORT_OPTS_INIT)",
                       (unsigned)o->struct_size, sizeof(graft_onnx_export_opts));
    GRAFT_RETURN_IF_AT(o->opset < 13 || o->opset > 17, ctx, GRAFT_E_INVALID_ARG, func,
                       "opset is %d, must be 13 to 17", o->opset);
    GRAFT_RETURN_IF_AT(o->fold_batch_norm != 0 && o->fold_batch_norm != 1, ctx,
                       GRAFT_E_INVALID_ARG, func, "fold_batch_norm is %d, must be 0 or 1",
                       o->fold_batch_norm);
    GRAFT_RETURN_IF_AT((o->input_name && !o->input_name[0]) ||
                           (o->output_name && !o->output_name[0]) ||
                           (o->input_name && o->output_name &&
                            !strcmp(o->input_name, o->output_name)),
                       ctx, GRAFT_E_INVALID_ARG, func,
                       "input_name and output_name must be non-empty and differ");
    return GRAFT_OK;
}

static int serialise(const graft_model *m, const graft_onnx_export_opts *o, const char *func,
                     graftWriter *w)
{
    graft_ctx *ctx = m->ctx;
    GRAFT_RETURN_IF_AT(m->n_nodes == 0, ctx, GRAFT_E_STATE, func, "the model has no layers");
    exp_state e = {ctx, func, m, o, w, NULL, NULL};
    e.fold_into = graftCalloc(ctx, (size_t)m->n_nodes, sizeof *e.fold_into);
    e.folded = graftCalloc(ctx, (size_t)m->n_nodes, sizeof *e.folded);
    if (!e.fold_into || !e.folded) {
        graftFree(ctx, e.fold_into);
        graftFree(ctx, e.folded);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate the export plan");
    }
    plan_folding(&e);
    graftPbWriteInt(w, 1, o->opset <= 14 ? 7 : 8); /* ir_version */
    graftPbWriteString(w, 2, "graft");
    graftPbWriteString(w, 3, GRAFT_VERSION_STRING);
    size_t os = graftPbBeginMessage(w, 8);
    graftPbWriteString(w, 1, "");
    graftPbWriteInt(w, 2, o->opset);
    graftPbEndMessage(w, os);
    size_t g = graftPbBeginMessage(w, 7);
    graftPbWriteString(w, 2, "graft");
    int st = GRAFT_OK;
    for (int i = 0; i < m->n_nodes && st == GRAFT_OK; i++) st = export_node(&e, i);
    if (st == GRAFT_OK) {
        char in[NAME_BUF], out[NAME_BUF];
        value_name(&e, GRAFT_INPUT_NODE, in);
        value_name(&e, m->n_nodes - 1, out);
        value_info(w, 11, in, &m->input_shape);
        value_info(w, 12, out, &m->nodes[m->n_nodes - 1].layer->out_shape);
        graftPbEndMessage(w, g);
        st = w->status;
    }
    graftFree(ctx, e.fold_into);
    graftFree(ctx, e.folded);
    return st;
}

static int export_common(const graft_model *m, const graft_onnx_export_opts *opts,
                         const char *func, graftWriter *w)
{
    graft_onnx_export_opts defaults = GRAFT_ONNX_EXPORT_OPTS_INIT;
    const graft_onnx_export_opts *o = opts ? opts : &defaults;
    GRAFT_FORWARD_IF_ERROR(check_opts(m->ctx, func, o));
    graftWriterInit(w, m->ctx);
    int st = serialise(m, o, func, w);
    if (st != GRAFT_OK) graftWriterDispose(w);
    return st;
}

GRAFT_API int graft_onnx_export_buffer(const graft_model *model,
                                       const graft_onnx_export_opts *opts, void **data,
                                       size_t *size)
{
    graftClearError(model ? model->ctx : NULL);
    if (data) *data = NULL;
    if (size) *size = 0;
    GRAFT_RETURN_IF(!model || !data || !size, model ? model->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model, data and size must not be NULL");
    graftWriter w;
    GRAFT_FORWARD_IF_ERROR(export_common(model, opts, __func__, &w));
    *data = w.data;
    *size = w.size;
    return GRAFT_OK;
}

GRAFT_API void graft_onnx_buffer_free(graft_ctx *ctx, void *data)
{
    if (ctx) graftFree(ctx, data);
}

GRAFT_API int graft_onnx_export(const graft_model *model, const char *path,
                                const graft_onnx_export_opts *opts)
{
    graftClearError(model ? model->ctx : NULL);
    GRAFT_RETURN_IF(!model || !path || !path[0], model ? model->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and path (non-empty) must not be NULL");
    graftWriter w;
    GRAFT_FORWARD_IF_ERROR(export_common(model, opts, __func__, &w));
    int st = graftWriteFileAtomic(model->ctx, __func__, path, w.data, w.size);
    graftWriterDispose(&w);
    return st;
}
