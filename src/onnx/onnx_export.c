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
 * Each kind writes its own nodes (its vtable's onnx_export slot, see
 * layers/onnx_node.h): this file walks the model, names the values, plans
 * which batch norms fold into the layer before them, and writes the graph's
 * input and output. docs/ONNX.md lists the operators each kind becomes.
 * The model's input preprocessing, when it has one, goes into the
 * ModelProto's metadata_props (onnx_meta.c).
 */
#include "model/model.h"
#include "core/options.h"
#include "core/protobuf.h"
#include "onnx_meta.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_BUF GRAFT_ONNX_NAME_MAX

typedef struct exp_state {
    graft_ctx *ctx;
    const char *func;
    const graft_model *m;
    const graft_onnx_export_opts *o;
    graftWriter *w;
    int *fold_into;  /* per node: the batch_norm node folded into this conv, or -1 */
    int *folded;     /* per node: 1 for a batch_norm folded into its conv */
} exp_state;

/* ---- graph inputs and outputs ------------------------------------------------------ */

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

/* ---- one layer ---------------------------------------------------------------------- */

static int export_node(exp_state *e, int i)
{
    const graftNode *node = &e->m->nodes[i];
    const graft_layer *l = node->layer;
    char out[NAME_BUF], ins_buf[4][NAME_BUF];
    const char *ins[GRAFT_LAYER_MAX_INPUTS];
    char (*many)[NAME_BUF] = NULL;
    if (e->folded[i]) return GRAFT_OK;
    if (!l->vtbl->onnx_export)
        return graftError(e->ctx, GRAFT_E_UNSUPPORTED, e->func,
                          "layer \"%s\": graft cannot export the kind %s", node->name,
                          l->vtbl->kind);
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
    graftOnnxOut o = {e->ctx,    e->func, e->w, e->o->opset, node->name, node->n_inputs,
                      ins,       out,     NULL};
    if (e->fold_into[i] >= 0) o.absorbed = e->m->nodes[e->fold_into[i]].layer;
    int st = l->vtbl->onnx_export(l, &o);
    graftFree(e->ctx, many);
    return st;
}

/* Marks batch norms that read a layer read by nothing else whose kind folds
 * them (onnx_folds_batch_norm). */
static void plan_folding(exp_state *e)
{
    const graft_model *m = e->m;
    for (int i = 0; i < m->n_nodes; i++) e->fold_into[i] = -1;
    if (!e->o->fold_batch_norm) return;
    for (int i = 0; i < m->n_nodes; i++) {
        const graftNode *n = &m->nodes[i];
        if (n->layer->vtbl != &graftBatchNormVtbl || n->inputs[0] == GRAFT_INPUT_NODE) continue;
        int j = n->inputs[0];
        if (!m->nodes[j].layer->vtbl->onnx_folds_batch_norm || m->nodes[j].consumers != 1)
            continue;
        e->fold_into[j] = i;
        e->folded[i] = 1;
    }
}

/* The sizes graft_onnx_export_opts has had: 1.0. */
static const uint32_t export_opts_sizes[] = {(uint32_t)sizeof(graft_onnx_export_opts)};
static const graftOptionsKind export_opts_kind = {
    "opts", "GRAFT_ONNX_EXPORT_OPTS_INIT", export_opts_sizes, GRAFT_OPTIONS_COUNT(export_opts_sizes),
    0, 0};

static int check_opts(graft_ctx *ctx, const char *func, const graft_onnx_export_opts *o)
{
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
        graftOnnxWritePreprocess(w, m);
        st = w->status;
    }
    graftFree(ctx, e.fold_into);
    graftFree(ctx, e.folded);
    return st;
}

static int export_common(const graft_model *m, const graft_onnx_export_opts *opts,
                         const char *func, graftWriter *w)
{
    graft_onnx_export_opts read = GRAFT_ONNX_EXPORT_OPTS_INIT;
    const graft_onnx_export_opts *o = &read;
    if (opts) GRAFT_FORWARD_IF_ERROR(graftOptionsRead(m->ctx, func, &export_opts_kind, opts, &read));
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
