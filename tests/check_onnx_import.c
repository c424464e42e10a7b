/*
 * check_onnx_import.c - the ONNX importer's driver (src/onnx/onnx_import.c):
 * walking the graph, naming layers, choosing and binding graph inputs,
 * refusing what graft cannot import, the options and arguments (batch_axis
 * 0: Conv and pooling of a one-sample graph), allocation
 * failures, and whole networks exported by PyTorch (tests/data/onnx, made by
 * tests/make_onnx_fixtures.py), which must reproduce PyTorch's outputs to
 * 1e-4.
 *
 * The operators' own tests are check_onnx_ops_nn.c, check_onnx_ops_elementwise.c,
 * check_onnx_ops_shape.c and check_onnx_fold.c; the decoder's check_onnx_pb.c;
 * the exporter's check_onnx_export.c. They build small models with the
 * ModelProto builder defined here (declared in testutil.h) on graft's
 * protobuf writer: nodes, attributes, initializers and value infos.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "graft_onnx_import_buffer(): "


/* ---- a ModelProto builder (declared in testutil.h) ------------------------------ */

void tu_mb_begin(tu_mb *b, graft_ctx *ctx, int64_t opset)
{
    b->ctx = ctx;
    graftWriterInit(&b->w, ctx);
    graftPbWriteInt(&b->w, 1, 7);               /* ModelProto.ir_version */
    graftPbWriteString(&b->w, 2, "check_onnx"); /* producer_name */
    size_t os = graftPbBeginMessage(&b->w, 8);  /* opset_import */
    graftPbWriteString(&b->w, 1, "");
    graftPbWriteInt(&b->w, 2, opset);
    graftPbEndMessage(&b->w, os);
    b->graph = graftPbBeginMessage(&b->w, 7);
    graftPbWriteString(&b->w, 2, "test_graph");
}

/* A graph input (field 11) or output (12) of element type elem; ndim -1
 * writes no shape; a size of -1, -2 or -3 writes the symbolic "N", "H" or
 * "W", another negative size a dimension with neither a value nor a name. */
void tu_mb_value(tu_mb *b, int field, const char *name, int elem, int ndim, const int64_t *dims)
{
    size_t vi = graftPbBeginMessage(&b->w, (uint32_t)field);
    graftPbWriteString(&b->w, 1, name);
    size_t tp = graftPbBeginMessage(&b->w, 2);
    size_t tt = graftPbBeginMessage(&b->w, 1);
    graftPbWriteInt(&b->w, 1, elem);
    if (ndim >= 0) {
        size_t sh = graftPbBeginMessage(&b->w, 2);
        for (int d = 0; d < ndim; d++) {
            size_t dm = graftPbBeginMessage(&b->w, 1);
            if (dims[d] >= -3 && dims[d] < 0)
                graftPbWriteString(&b->w, 2, dims[d] == -1 ? "N" : dims[d] == -2 ? "H" : "W");
            else if (dims[d] >= 0)
                graftPbWriteInt(&b->w, 1, dims[d]);
            graftPbEndMessage(&b->w, dm);
        }
        graftPbEndMessage(&b->w, sh);
    }
    graftPbEndMessage(&b->w, tt);
    graftPbEndMessage(&b->w, tp);
    graftPbEndMessage(&b->w, vi);
}

void tu_mb_input(tu_mb *b, const char *name, int ndim, const int64_t *dims)
{
    tu_mb_value(b, 11, name, ONNX_FLOAT, ndim, dims);
}

void tu_mb_output(tu_mb *b, const char *name) { tu_mb_value(b, 12, name, ONNX_FLOAT, -1, NULL); }

/* TensorProto fields: dims, data_type, name, raw_data. */
static void tensor_body(graftWriter *w, const char *name, int type, int ndim, const int64_t *dims,
                        const float *f, const int64_t *i)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        graftPbWriteInt(w, 1, dims[d]);
        n *= (size_t)dims[d];
    }
    graftPbWriteInt(w, 2, type);
    if (name) graftPbWriteString(w, 8, name);
    graftPbWriteTag(w, 9, PB_LEN);
    graftPbWriteVarint(w, n * (f ? 4 : 8));
    for (size_t k = 0; k < n; k++) {
        if (f) graftWriteF32(w, f[k]);
        else graftWriteI64(w, i[k]);
    }
}

void tu_mb_init(tu_mb *b, const char *name, int ndim, const int64_t *dims, const float *v)
{
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, name, ONNX_FLOAT, ndim, dims, v, NULL);
    graftPbEndMessage(&b->w, t);
}

void tu_mb_init_i64(tu_mb *b, const char *name, int ndim, const int64_t *dims, const int64_t *v)
{
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, name, ONNX_INT64, ndim, dims, NULL, v);
    graftPbEndMessage(&b->w, t);
}

/* Starts a node; ins and outs are comma-separated ("x,,max" leaves input 1
 * empty). name may be NULL. Finish with tu_mb_end(). */
size_t tu_mb_node(tu_mb *b, const char *op, const char *name, const char *ins, const char *outs)
{
    size_t n = graftPbBeginMessage(&b->w, 1);
    for (int field = 1; field <= 2; field++) {
        const char *p = field == 1 ? ins : outs;
        while (p && *p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            graftPbWriteBytes(&b->w, (uint32_t)field, p, len);
            if (!comma) break;
            p = comma + 1;
            if (!*p) graftPbWriteBytes(&b->w, (uint32_t)field, "", 0);
        }
    }
    if (name) graftPbWriteString(&b->w, 3, name);
    graftPbWriteString(&b->w, 4, op);
    return n;
}

void tu_mb_end(tu_mb *b, size_t pos) { graftPbEndMessage(&b->w, pos); }

/* A whole node without attributes. */
void tu_mb_simple(tu_mb *b, const char *op, const char *name, const char *ins, const char *outs)
{
    tu_mb_end(b, tu_mb_node(b, op, name, ins, outs));
}

void tu_mb_attr_i(tu_mb *b, const char *name, int64_t v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_INT);
    graftPbWriteInt(&b->w, 3, v);
    graftPbEndMessage(&b->w, a);
}

void tu_mb_attr_f(tu_mb *b, const char *name, float v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_FLOAT);
    graftPbWriteFloat(&b->w, 2, v);
    graftPbEndMessage(&b->w, a);
}

void tu_mb_attr_ints(tu_mb *b, const char *name, int n, const int64_t *v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_INTS);
    for (int k = 0; k < n; k++) graftPbWriteInt(&b->w, 8, v[k]);
    graftPbEndMessage(&b->w, a);
}

void tu_mb_attr_s(tu_mb *b, const char *name, const char *s)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_STRING);
    graftPbWriteString(&b->w, 4, s);
    graftPbEndMessage(&b->w, a);
}

void tu_mb_attr_tensor_i64(tu_mb *b, const char *name, int ndim, const int64_t *dims,
                               const int64_t *v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_TENSOR);
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, NULL, ONNX_INT64, ndim, dims, NULL, v);
    graftPbEndMessage(&b->w, t);
    graftPbEndMessage(&b->w, a);
}

void tu_mb_attr_tensor_f(tu_mb *b, const char *name, int ndim, const int64_t *dims,
                             const float *v)
{
    size_t a = graftPbBeginMessage(&b->w, 5);
    graftPbWriteString(&b->w, 1, name);
    graftPbWriteInt(&b->w, 20, ONNX_ATTR_TENSOR);
    size_t t = graftPbBeginMessage(&b->w, 5);
    tensor_body(&b->w, NULL, ONNX_FLOAT, ndim, dims, v, NULL);
    graftPbEndMessage(&b->w, t);
    graftPbEndMessage(&b->w, a);
}

/* Ends the graph; the bytes are b->w.data, b->w.size. */
void tu_mb_finish(tu_mb *b)
{
    graftPbEndMessage(&b->w, b->graph);
    ck_assert_int_eq(b->w.status, GRAFT_OK);
}

void tu_mb_free(tu_mb *b) { graftWriterDispose(&b->w); }

/* ---- running imported models (declared in testutil.h) -------------------------- */

int tu_onnx_try_import(tu_mb *b, const graft_onnx_import_opts *o, graft_model **m)
{
    return graft_onnx_import_buffer(b->ctx, b->w.data, b->w.size, o, m);
}

graft_model *tu_onnx_import_ok(tu_mb *b, const graft_onnx_import_opts *o)
{
    graft_model *m = NULL;
    int st = tu_onnx_try_import(b, o, &m);
    ck_assert_msg(st == GRAFT_OK, "import failed (%d): %s", st, graft_errmsg(b->ctx));
    return m;
}

int tu_onnx_status(tu_mb *b)
{
    tu_mb_finish(b);
    graft_model *m = (graft_model *)1;
    int st = tu_onnx_try_import(b, NULL, &m);
    if (st != GRAFT_OK) ck_assert_ptr_null(m);
    graft_model_free(m);
    tu_mb_free(b);
    return st;
}

/* Runs m on x (ndim, dims, data) and copies the output (n floats expected)
 * into y; returns the output tensor for shape checks (borrowed). */
const graft_tensor *tu_onnx_run(graft_model *m, graft_ctx *ctx, int ndim, const int64_t *dims,
                                const float *x, float *y, size_t n)
{
    graft_tensor *xt = tu_tensor_from(ctx, ndim, dims, x);
    const graft_tensor *yt = NULL;
    ck_assert_msg(graft_model_forward(m, xt, &yt) == GRAFT_OK, "%s", graft_errmsg(ctx));
    graft_tensor_free(xt);
    ck_assert_uint_eq(graft_tensor_numel(yt), n);
    memcpy(y, graft_tensor_data_const(yt), n * sizeof *y);
    return yt;
}

void tu_assert_kinds(graft_model *m, const char *const *kinds, int n)
{
    ck_assert_int_eq(graft_model_layer_count(m), n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, i)), kinds[i]);
}

void tu_fill_ramp(float *v, size_t n, float start, float step)
{
    for (size_t k = 0; k < n; k++) v[k] = start + step * (float)k;
}

/* A small valid model: conv, batch norm, relu, pool, flatten, gemm. */
void tu_onnx_small_model(graft_ctx *ctx, tu_mb *b)
{
    const int64_t xd[4] = {-1, 1, 4, 4}, wd[4] = {2, 1, 3, 3}, cd[1] = {2}, gd[2] = {3, 8},
                  gb[1] = {3};
    float w[18], ones[2] = {1, 1}, zeros[2] = {0, 0}, g[24], gbias[3] = {0.1f, 0.2f, 0.3f};
    tu_fill_ramp(w, 18, -1, 0.1f);
    tu_fill_ramp(g, 24, -0.5f, 0.05f);
    tu_mb_begin(b, ctx, 13);
    tu_mb_input(b, "x", 4, xd);
    tu_mb_init(b, "w", 4, wd, w);
    tu_mb_init(b, "one", 1, cd, ones);
    tu_mb_init(b, "zero", 1, cd, zeros);
    tu_mb_init(b, "g", 2, gd, g);
    tu_mb_init(b, "gb", 1, gb, gbias);
    size_t n = tu_mb_node(b, "Conv", "conv", "x,w", "c");
    const int64_t pads[4] = {1, 1, 1, 1};
    tu_mb_attr_ints(b, "pads", 4, pads);
    tu_mb_end(b, n);
    tu_mb_simple(b, "BatchNormalization", "bn", "c,one,zero,zero,one", "bn");
    tu_mb_simple(b, "Relu", "relu", "bn", "r");
    n = tu_mb_node(b, "MaxPool", "pool", "r", "p");
    const int64_t ks[2] = {2, 2};
    tu_mb_attr_ints(b, "kernel_shape", 2, ks);
    tu_mb_attr_ints(b, "strides", 2, ks);
    tu_mb_end(b, n);
    tu_mb_simple(b, "Flatten", "flat", "p", "f");
    n = tu_mb_node(b, "Gemm", "fc", "f,g,gb", "y");
    tu_mb_attr_i(b, "transB", 1);
    tu_mb_end(b, n);
    tu_mb_output(b, "y");
    tu_mb_finish(b);
}

/* Builds y = op(x) for x (N, 4) and returns the import status. */
int tu_onnx_refused(graft_ctx *ctx, int opset, const char *op, const char *name,
                    const char *domain)
{
    const int64_t xd[2] = {-1, 4};
    tu_mb b;
    tu_mb_begin(&b, ctx, opset);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_simple(&b, "Relu", "r", "x", "a");
    size_t n = tu_mb_node(&b, op, name, "a", "y");
    if (domain) graftPbWriteString(&b.w, 7, domain);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    return tu_onnx_status(&b);
}

/* ---- names --------------------------------------------------------------------------- */

START_TEST(test_layer_names)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 3};
    char long_name[100];
    memset(long_name, 'a', 80);
    long_name[80] = '\0';
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_simple(&b, "Relu", "block 1/relu#0", "x", "a");
    tu_mb_simple(&b, "Relu", "block 1/relu#0", "a", "b");
    tu_mb_simple(&b, "Relu", NULL, "b", "c");
    tu_mb_simple(&b, "Relu", long_name, "c", "d");
    tu_mb_simple(&b, "Relu", long_name, "d", "e");
    tu_mb_simple(&b, "Relu", "input", "e", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    ck_assert_int_eq(graft_model_layer_count(m), 6);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "block_1/relu_0");
    ck_assert_str_eq(graft_model_layer_name(m, 1), "block_1/relu_0_2");
    ck_assert_str_eq(graft_model_layer_name(m, 2), "Relu_2");
    ck_assert_uint_eq(strlen(graft_model_layer_name(m, 3)), 63);
    ck_assert_str_eq(graft_model_layer_name(m, 3), long_name + 17);
    const char *fifth = graft_model_layer_name(m, 4);
    ck_assert_uint_eq(strlen(fifth), 63);
    ck_assert_str_eq(fifth + 61, "_2");
    ck_assert_str_eq(graft_model_layer_name(m, 5), "input_2");
    /* Names are usable with the transfer functions. */
    ck_assert_int_eq(graft_model_freeze_through(m, "Relu_2"), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_trainable(m, 2), 0);
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------- */

START_TEST(test_unsupported_is_refused)
{
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(tu_onnx_refused(ctx, 13, "Elu", "act3", NULL), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"act3\" (Elu): graft does not support the operator Elu");
    ck_assert_int_eq(tu_onnx_refused(ctx, 13, "Relu", "r2", "com.microsoft"), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"r2\" (Relu): operators of domain \"com.microsoft\" are not "
                        "supported");
    ck_assert_int_eq(tu_onnx_refused(ctx, 19, "Relu", "r2", NULL), GRAFT_E_VERSION);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "the file uses opset 19; this graft reads opsets 1 to 18");

    const int64_t xd[3] = {-1, 2, 3};
    tu_mb b;
    graft_model *m;
    /* Two graph inputs: one must be chosen and the other bound. */
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_input(&b, "z", 3, xd);
    tu_mb_simple(&b, "Add", "sum", "x,z", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph has 2 inputs without a value; graft models "
                                           "have one input (choose it with input_name and bind "
                                           "the others)");
    /* Binding z (per sample (2, 3), batch 1) makes it a constant: a scale_shift. */
    graft_tensor *z = tu_tensor(ctx, 3, 1, 2, 3);
    tu_fill_ramp(graft_tensor_data(z), 6, 1, 1);
    const char *names[1] = {"z"};
    const graft_tensor *values[1] = {z};
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.input_name = "x";
    o.n_bound = 1;
    o.bound_names = names;
    o.bound_values = values;
    m = tu_onnx_import_ok(&b, &o);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, 0)), "scale_shift");
    graft_model_free(m);
    graft_tensor_free(z);
    tu_mb_free(&b);
    /* A non-float input. */
    tu_mb_begin(&b, ctx, 13);
    tu_mb_value(&b, 11, "ids", ONNX_INT64, 3, xd);
    tu_mb_simple(&b, "Relu", "r", "ids", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph input \"ids\" is of type int64; graft models "
                                           "take float tensors");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* Every node graft cannot import is listed in one message: the op types by
 * count, each node with its reason (an unknown operator, or a known one with
 * an attribute graft does not compute), a node reading a refused node's
 * output is reported only when its operator is unknown, and the others that
 * do are counted as not checked. */
START_TEST(test_unsupported_listed_at_once)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 4};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_simple(&b, "Elu", "act", "x", "a");
    tu_mb_simple(&b, "Relu", "r", "x", "r");
    size_t n = tu_mb_node(&b, "Softmax", "sm", "r", "p");
    tu_mb_attr_i(&b, "axis", 0);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Erf", "erf", "a", "e");
    tu_mb_simple(&b, "Add", "sum", "e,r", "s");
    tu_mb_simple(&b, "Mul", NULL, "p,s", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = (graft_model *)1;
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "3 nodes graft cannot import (1 Elu, 1 Softmax, 1 Erf): node \"act\" "
                        "(Elu): graft does not support the operator Elu; node \"sm\" (Softmax): "
                        "softmax over the batch axis; graft's softmax runs within each sample; "
                        "node \"erf\" (Erf): graft does not support the operator Erf; 2 later "
                        "nodes that read their outputs were not checked");
    tu_mb_free(&b);
    /* The same node twice by op type; a single refused node keeps its own
     * message. */
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_simple(&b, "Erf", "e1", "x", "a");
    tu_mb_simple(&b, "Erf", "e2", "x", "c");
    tu_mb_simple(&b, "Sum", "s", "a,c", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "2 nodes graft cannot import (2 Erf): node \"e1\" (Erf): graft does not "
                        "support the operator Erf; node \"e2\" (Erf): graft does not support the "
                        "operator Erf; 1 later node that reads their outputs was not checked");
    tu_mb_free(&b);
    /* A constant node refused when folded is listed in its place in the
     * file, after an earlier refused node. */
    const int64_t sd[1] = {2}, huge[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init_i64(&b, "shape", 1, sd, huge);
    tu_mb_simple(&b, "Elu", "act", "x", "a");
    tu_mb_simple(&b, "ConstantOfShape", "big", "shape", "c");
    tu_mb_simple(&b, "MatMul", "mm", "a,c", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "2 nodes graft cannot import (1 Elu, 1 ConstantOfShape): node \"act\" "
                        "(Elu): graft does not support the operator Elu; node \"big\" "
                        "(ConstantOfShape): computing constants of 1099511627776 more elements "
                        "exceeds what graft evaluates at import for a file of this size; 1 later "
                        "node that reads their outputs was not checked");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* More refused nodes than the message holds: the count of those left off,
 * and the op-type summary cut with "..."; the message stays whole. */
START_TEST(test_unsupported_list_is_bounded)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 4};
    char op[32], name[32], out[32];
    for (int distinct = 0; distinct <= 1; distinct++) {
        tu_mb b;
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 2, xd);
        for (int k = 0; k < 60; k++) {
            snprintf(op, sizeof op, distinct ? "Unknown%02d" : "Erf", k);
            snprintf(name, sizeof name, "n%02d", k);
            snprintf(out, sizeof out, "v%02d", k);
            tu_mb_simple(&b, op, name, "x", out);
        }
        tu_mb_simple(&b, "Relu", "r", "x", "y");
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = NULL;
        ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
        const char *msg = graft_errmsg(ctx);
        ck_assert_uint_lt(strlen(msg), GRAFT_ERRMSG_SIZE);
        const char *head = distinct ? FN "60 nodes graft cannot import (1 Unknown00, 1 Unknown01, "
                                    : FN "60 nodes graft cannot import (60 Erf): node \"n00\" "
                                         "(Erf): graft does not support the operator Erf; node "
                                         "\"n01\"";
        ck_assert_msg(strncmp(msg, head, strlen(head)) == 0, "%s", msg);
        if (distinct)
            ck_assert_msg(strstr(msg, ", ...): node \"n00\" (Unknown00): graft does not support "
                                      "the operator Unknown00; node \"n01\"") != NULL, "%s", msg);
        const char *more = strstr(msg, "; ... and ");
        ck_assert_msg(more != NULL, "%s", msg);
        int listed = 0;
        for (const char *p = msg; (p = strstr(p, "; node \"")) != NULL; p++) listed++;
        ck_assert_int_gt(listed, 0);
        char want[64];
        snprintf(want, sizeof want, "; ... and %d more", 60 - (listed + 1));
        ck_assert_str_eq(more, want);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- arguments and allocation failures ------------------------------------------------ */

START_TEST(test_argument_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = (graft_model *)1;
    ck_assert_int_eq(graft_onnx_import(NULL, "x.onnx", NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(graft_onnx_import(ctx, NULL, NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_import(ctx, "x.onnx", NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, NULL, 4, NULL, &m), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_import(ctx, "/nonexistent/model.onnx", NULL, &m), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_import(): cannot open "
                                        "\"/nonexistent/model.onnx\": No such file or directory");
    tu_mb b;
    tu_onnx_small_model(ctx, &b);
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.struct_size = 8;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_VERSION);
    o = (graft_onnx_import_opts)GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 2;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "batch_axis is 2, must be 0 or 1");
    o.batch_axis = 1;
    o.input_name = "nope";
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph has no input \"nope\"");
    o.input_name = NULL;
    o.n_bound = 1;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    /* Without a batch axis, the Conv's (N, C, H, W) input is one sample. */
    o = (graft_onnx_import_opts)GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "axis 0 (\"N\") of the graph input \"x\" has no fixed "
                                           "size; give it with the import option input_shape "
                                           "(CLI: --input-shape Nx1x4x4)");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

typedef struct failing_alloc {
    long calls, fail_at, live;
} failing_alloc;

static void *failing_malloc(void *opaque, size_t size)
{
    failing_alloc *f = opaque;
    if (++f->calls == f->fail_at) return NULL;
    void *p = malloc(size);
    if (p) f->live++;
    return p;
}

static void failing_free(void *opaque, void *ptr)
{
    if (ptr) ((failing_alloc *)opaque)->live--;
    free(ptr);
}

/* Import, run and export with the Nth allocation failing, for every N:
 * GRAFT_E_NOMEM each time, and nothing leaks. */
START_TEST(test_allocation_failures)
{
    graft_ctx *plain = tu_ctx();
    tu_mb b;
    tu_onnx_small_model(plain, &b);
    for (long fail_at = 1;; fail_at++) {
        failing_alloc fa = {0, fail_at, 0};
        graft_allocator a = GRAFT_ALLOCATOR_INIT;
        a.alloc = failing_malloc;
        a.free = failing_free;
        a.opaque = &fa;
        graft_ctx *ctx = NULL;
        if (graft_ctx_create_advanced(&a, &ctx) != GRAFT_OK) continue; /* the context itself */
        graft_model *m = NULL;
        void *data = NULL;
        size_t size = 0;
        int st = graft_onnx_import_buffer(ctx, b.w.data, b.w.size, NULL, &m);
        if (st == GRAFT_OK) st = graft_onnx_export_buffer(m, NULL, &data, &size);
        if (st != GRAFT_OK) {
            ck_assert_msg(st == GRAFT_E_NOMEM, "allocation %ld failed: %d %s", fail_at, st,
                          graft_errmsg(ctx));
            ck_assert_ptr_null(data);
        }
        graft_onnx_buffer_free(ctx, data);
        graft_model_free(m);
        graft_ctx_free(ctx);
        ck_assert_int_eq(fa.live, 0);
        if (st == GRAFT_OK) {
            ck_assert_int_gt(fail_at, 20); /* it did fail the earlier ones */
            break;
        }
    }
    tu_mb_free(&b);
    graft_ctx_free(plain);
}
END_TEST

/* ---- whole networks against PyTorch ------------------------------------------------------ */

/* Imports tests/data/onnx/<name>.onnx and compares its output on the stored
 * input with PyTorch's: |graft - torch| <= rtol * |torch| + 1e-6. */
static void check_network_tol(const char *name, int min_layers, float rtol)
{
    graft_ctx *ctx = tu_ctx();
    char path[256];
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.onnx", name);
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, path, NULL, &m) == GRAFT_OK, "%s: %s", path,
                  graft_errmsg(ctx));
    ck_assert_int_ge(graft_model_layer_count(m), min_layers);
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.input.pb", name);
    graft_tensor *x = tu_onnx_read_tensor(ctx, path);
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.output.pb", name);
    graft_tensor *want = tu_onnx_read_tensor(ctx, path);
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_tensor_ndim(y), 2);
    ck_assert_int_eq(graft_tensor_dim(y, 0), graft_tensor_dim(want, 0));
    ck_assert_int_eq(graft_tensor_dim(y, 1), graft_tensor_dim(want, 1));
    tu_assert_close(graft_tensor_data_const(y), graft_tensor_data_const(want),
                    graft_tensor_numel(want), 1e-6f, rtol, name);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_model_free(m);
    graft_ctx_free(ctx);
}

static void check_network(const char *name, int min_layers)
{
    check_network_tol(name, min_layers, 1e-4f);
}

START_TEST(test_network_mobilenet_v2) { check_network("mobilenet_v2", 100); }
END_TEST

START_TEST(test_network_resnet18) { check_network("resnet18", 60); }
END_TEST

START_TEST(test_network_squeezenet) { check_network("squeezenet1_1", 60); }
END_TEST

START_TEST(test_network_vgg_style) { check_network("vgg_style", 20); }
END_TEST

/* ShuffleNetV2: channel split (Slice of an activation), channel shuffle
 * (Reshape, Transpose perm 0 2 1 3 4, Reshape) and Concat, to 1e-5. */
START_TEST(test_network_shufflenet_v2)
{
    check_network_tol("shufflenet_v2", 40, 1e-5f);
    /* the shuffles are transpose layers and the splits slice layers */
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL;
    ck_assert_int_eq(graft_onnx_import(ctx, GRAFT_TEST_DATA "/onnx/shufflenet_v2.onnx", NULL, &m),
                     GRAFT_OK);
    int transposes = 0, slices = 0;
    for (int k = 0; k < graft_model_layer_count(m); k++) {
        const char *kind = graft_layer_kind(graft_model_layer(m, k));
        transposes += strcmp(kind, "transpose") == 0;
        slices += strcmp(kind, "slice") == 0;
    }
    ck_assert_int_eq(transposes, 5);
    ck_assert_int_eq(slices, 4);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* A tf2onnx-style Keras model (tests/data/onnx/keras_style.onnx): an NHWC
 * input and its Transpose, then the dense layer as MatMul, a Constant node
 * holding the bias placed after the MatMul, Add, and Softmax. The MatMul and
 * Add become one trainable dense layer with the bias, whatever the place of
 * the Constant node, so replace_head swaps it and training runs. */
START_TEST(test_network_keras_style)
{
    graft_ctx *ctx = tu_ctx();
    const char *path = GRAFT_TEST_DATA "/onnx/keras_style.onnx";
    graft_tensor *x = tu_onnx_read_tensor(ctx, GRAFT_TEST_DATA "/onnx/keras_style.input.pb");
    graft_tensor *want = tu_onnx_read_tensor(ctx, GRAFT_TEST_DATA "/onnx/keras_style.output.pb");
    graft_model *m = NULL;
    /* With its softmax, the model gives the file's probabilities. */
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.keep_softmax = 1;
    ck_assert_msg(graft_onnx_import(ctx, path, &o, &m) == GRAFT_OK, "%s", graft_errmsg(ctx));
    int n = graft_model_layer_count(m);
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, n - 1)), "softmax");
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, n - 2)), "dense");
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_uint_eq(graft_tensor_numel(y), 10);
    tu_assert_close(graft_tensor_data_const(y), graft_tensor_data_const(want), 10, 1e-6f, 1e-4f,
                    "keras_style");
    graft_model_free(m);
    /* By default the softmax goes: the model ends in the dense layer, with
     * its bias, trainable; nothing is a scale_shift. */
    ck_assert_msg(graft_onnx_import(ctx, path, NULL, &m) == GRAFT_OK, "%s", graft_errmsg(ctx));
    n = graft_model_layer_count(m);
    for (int i = 0; i < n; i++)
        ck_assert_str_ne(graft_layer_kind(graft_model_layer(m, i)), "scale_shift");
    ck_assert_str_eq(graft_model_layer_name(m, n - 1), "model/dense/MatMul");
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, n - 1)), "dense");
    ck_assert_int_eq(graft_model_layer_param_count(m, n - 1), 16 * 5 + 5);
    ck_assert_int_eq(graft_model_layer_trainable(m, n - 1), 1);
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    float p[10];
    for (int r = 0; r < 2; r++) { /* softmax of the logits */
        const float *l = graft_tensor_data_const(y) + 5 * r;
        float mx = l[0], sum = 0;
        for (int c = 1; c < 5; c++) mx = l[c] > mx ? l[c] : mx;
        for (int c = 0; c < 5; c++) sum += p[5 * r + c] = expf(l[c] - mx);
        for (int c = 0; c < 5; c++) p[5 * r + c] /= sum;
    }
    tu_assert_close(p, graft_tensor_data_const(want), 10, 1e-6f, 1e-4f, "keras_style logits");
    /* The new head replaces the old classifier. */
    ck_assert_msg(graft_model_replace_head(m, 10, NULL) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_layer_count(m), n);
    for (int i = 0; i < n; i++)
        ck_assert_str_ne(graft_model_layer_name(m, i), "model/dense/MatMul");
    ck_assert_str_eq(graft_layer_kind(graft_model_layer(m, n - 1)), "dense");
    ck_assert_int_eq(graft_model_layer_param_count(m, n - 1), 16 * 10 + 10);
    /* One epoch on random NHWC images of 10 classes. */
    enum { COUNT = 32 };
    static float feats[COUNT * 16 * 16 * 3];
    int32_t labels[COUNT];
    tu_fill_ramp(feats, COUNT * 768, -1, 2.0f / (COUNT * 768));
    for (int k = 0; k < COUNT; k++) labels[k] = k % 10;
    const int64_t dims[3] = {16, 16, 3};
    graft_dataset *ds = NULL;
    graft_optim *opt = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, COUNT, 3, dims, feats, labels, 10, 1, &ds),
                     GRAFT_OK);
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &opt), GRAFT_OK);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 1;
    fo.batch_size = 8;
    ck_assert_msg(graft_model_fit(m, opt, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_epochs_done(m), 1);
    graft_optim_free(opt);
    graft_dataset_free(ds);
    graft_model_free(m);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- open input sizes (input_shape) ------------------------------------------------------ */

/* Imports tests/data/onnx/<name>.onnx (height and width open) with
 * input_shape (batch, 3, h, w) and compares its output on the stored input
 * of that size with PyTorch's, as check_network(). */
static void check_open_network(const char *name, int64_t batch, int64_t h, int64_t w)
{
    graft_ctx *ctx = tu_ctx();
    char path[256];
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.onnx", name);
    const int64_t shape[4] = {batch, 3, h, w};
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.input_ndim = 4;
    o.input_shape = shape;
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, path, &o, &m) == GRAFT_OK, "%s: %s", path,
                  graft_errmsg(ctx));
    int nd = 0;
    int64_t dims[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graft_model_layer_output_shape(m, -1, &nd, dims), GRAFT_OK);
    ck_assert_int_eq(nd, 3);
    ck_assert_int_eq(dims[1], h);
    ck_assert_int_eq(dims[2], w);
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.%lldx%lld.input.pb", name, (long long)h,
             (long long)w);
    graft_tensor *x = tu_onnx_read_tensor(ctx, path);
    snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.%lldx%lld.output.pb", name,
             (long long)h, (long long)w);
    graft_tensor *want = tu_onnx_read_tensor(ctx, path);
    tu_onnx_assert_output(m, ctx, x, want, 1e-6f, 1e-4f, name);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_model_free(m);
    graft_ctx_free(ctx);
}

/* A fully convolutional network at two sizes, the batch entry symbolic (-1)
 * and positive. */
START_TEST(test_open_hw_convolutional)
{
    check_open_network("fcn_open_hw", -1, 24, 32);
    check_open_network("fcn_open_hw", 1, 17, 23);
}
END_TEST

/* Shapes computed from the fixed sizes: a Resize's sizes from Shape of
 * another tensor, Reshape targets from Shape, at two sizes. */
START_TEST(test_open_hw_shape_subgraphs)
{
    check_open_network("shape_open_hw", 0, 20, 28);
    check_open_network("shape_open_hw", -1, 15, 21);
}
END_TEST

/* y = Reshape(x, (0, 2, H * W)) with H and W read by Shape(x) from the
 * input, both open (-2, -3: "H", "W"). */
static void reshape_by_shape_model(graft_ctx *ctx, tu_mb *b, const int64_t *xd)
{
    const int64_t i2 = 2, i3 = 3, ax0 = 0, head[2] = {0, 2}, one[1] = {1}, two[1] = {2};
    tu_mb_begin(b, ctx, 13);
    tu_mb_input(b, "x", 4, xd);
    tu_mb_init_i64(b, "i2", 0, NULL, &i2);
    tu_mb_init_i64(b, "i3", 0, NULL, &i3);
    tu_mb_init_i64(b, "ax0", 1, one, &ax0);
    tu_mb_init_i64(b, "head", 1, two, head);
    tu_mb_simple(b, "Relu", "relu", "x", "r");
    tu_mb_simple(b, "Shape", "shape", "x", "s");
    tu_mb_simple(b, "Gather", "h", "s,i2", "h");
    tu_mb_simple(b, "Gather", "w", "s,i3", "w");
    tu_mb_simple(b, "Mul", "hw", "h,w", "hw");
    tu_mb_simple(b, "Unsqueeze", "hw1", "hw,ax0", "hw1");
    size_t n = tu_mb_node(b, "Concat", "target", "head,hw1", "t");
    tu_mb_attr_i(b, "axis", 0);
    tu_mb_end(b, n);
    tu_mb_simple(b, "Reshape", "reshape", "r,t", "y");
    tu_mb_output(b, "y");
    tu_mb_finish(b);
}

START_TEST(test_open_hw_reshape_from_shape)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, -2, -3};
    tu_mb b;
    reshape_by_shape_model(ctx, &b, xd);
    graft_model *m = NULL;
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "axis 2 (\"H\") and axis 3 (\"W\") of the graph input "
                                           "\"x\" have no fixed size; give them with the import "
                                           "option input_shape (CLI: --input-shape 1x2xHxW)");
    for (int64_t hh = 3; hh <= 5; hh += 2) {
        const int64_t shape[4] = {-1, 2, hh, 4};
        graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
        o.input_ndim = 4;
        o.input_shape = shape;
        m = tu_onnx_import_ok(&b, &o);
        const int64_t in[4] = {3, 2, hh, 4};
        float x[120], y[120];
        size_t n = (size_t)(3 * 2 * hh * 4);
        tu_fill_ramp(x, n, -5, 0.25f);
        const graft_tensor *yt = tu_onnx_run(m, ctx, 4, in, x, y, n);
        ck_assert_int_eq(graft_tensor_ndim(yt), 3);
        ck_assert_int_eq(graft_tensor_dim(yt, 0), 3);
        ck_assert_int_eq(graft_tensor_dim(yt, 1), 2);
        ck_assert_int_eq(graft_tensor_dim(yt, 2), hh * 4);
        for (size_t k = 0; k < n; k++) ck_assert_float_eq(y[k], x[k] > 0 ? x[k] : 0);
        graft_model_free(m);
    }
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A model whose output is not a classifier's (a dense layer followed by a
 * Mul by a constant, a scale_shift) is not given a head stacked on its old
 * output: replace_head refuses, says why, and changes nothing. */
START_TEST(test_replace_head_needs_a_classifier)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 2}, wd[2] = {2, 3}, vd[1] = {3};
    const float w[6] = {1, 0, 2, -1, 1, 3}, scale[3] = {0.5f, 2, -1};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "W", 2, wd, w);
    tu_mb_init(&b, "scale", 1, vd, scale);
    tu_mb_simple(&b, "MatMul", "fc", "x,W", "z");
    tu_mb_simple(&b, "Mul", "temperature", "z,scale", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"dense", "scale_shift"};
    tu_assert_kinds(m, kinds, 2);
    ck_assert_int_eq(graft_model_replace_head(m, 10, NULL), GRAFT_E_STATE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_model_replace_head(): the model's output \"temperature\" "
                     "(scale_shift) is not a classifier (a dense layer, or a softmax reading "
                     "one), so where its head starts is not known; nothing was changed: cut the "
                     "model first (graft_model_cut()) at its classifier's dense layer or before "
                     "its head");
    tu_assert_kinds(m, kinds, 2);
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* What is refused, and how. */
START_TEST(test_open_hw_refusals)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, -2, -3};
    tu_mb b;
    reshape_by_shape_model(ctx, &b, xd);
    graft_model *m = (graft_model *)1;
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    int64_t shape[5] = {1, 3, 4, 5, 6};
    o.input_shape = shape;
    o.input_ndim = 4; /* axis 1 is 2 in the file */
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(graft_errmsg(ctx), FN "input_shape gives axis 1 of the graph input \"x\" the "
                                           "size 3; the file fixes it at 2");
    shape[1] = 2;
    shape[3] = 0; /* an open axis left open */
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "input_shape gives axis 3 of the graph input \"x\" the "
                                           "size 0; sizes are 1 or more");
    shape[3] = 5;
    shape[0] = -2;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "input_shape gives axis 0 of the graph input \"x\" the "
                                           "size -2; sizes are 1 or more (or 0 or -1 for the "
                                           "batch)");
    shape[0] = 1;
    o.input_ndim = 3;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "input_shape has 3 sizes; the graph input \"x\" has rank 4");
    o.input_ndim = 5;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    o.input_ndim = 9;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "input_ndim is 9, must be 0 to 8");
    o.input_ndim = -1;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    o.input_ndim = 4;
    o.input_shape = NULL;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "input_ndim is 4 with input_shape NULL");
    /* Without a batch axis, the batch entry is a size like the others. */
    o = (graft_onnx_import_opts)GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    o.input_ndim = 4;
    const int64_t sym[4] = {-1, 2, 4, 5};
    o.input_shape = sym;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FN "input_shape gives axis 0 of the graph input \"x\" the "
                                           "size -1; sizes are 1 or more");
    tu_mb_free(&b);
    /* Unnamed open sizes (neither dim_value nor dim_param), three of them. */
    const int64_t un[4] = {-1, -9, -9, -9};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "img", 4, un);
    tu_mb_simple(&b, "Relu", "relu", "img", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "axis 1, axis 2 and axis 3 of the graph input \"img\" "
                                           "have no fixed size; give them with the import option "
                                           "input_shape (CLI: --input-shape 1x?x?x?)");
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* In a one-sample graph (batch_axis 0), Conv and pooling read an input of
 * ONNX shape (1, C, H, W) with graft's batch as theirs. x (1, 1, 2, 2),
 * a 1x1 Conv with weights (2, -1) and bias (0.5, 0), then
 * GlobalAveragePool: (2 mean + 0.5, -mean) per sample, as (1, 2, 1, 1).
 * An input whose first size is not 1 is refused. */
START_TEST(test_one_sample_conv_and_pool)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t wd[4] = {2, 1, 1, 1}, bd[1] = {2};
    const float w[2] = {2, -1}, bias[2] = {0.5f, 0};
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    tu_mb b;
    graft_model *m;
    for (int first = 1; first <= 2; first++) {
        const int64_t xd[4] = {first, 1, 2, 2};
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 4, xd);
        tu_mb_init(&b, "w", 4, wd, w);
        tu_mb_init(&b, "b", 1, bd, bias);
        tu_mb_simple(&b, "Conv", "conv", "x,w,b", "c");
        tu_mb_simple(&b, "GlobalAveragePool", "gap", "c", "y");
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        if (first == 2) {
            ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_UNSUPPORTED);
            ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx),
                                         "node \"conv\" (Conv): Conv needs the batch axis "
                                         "(N, C, ...), and the import has batch_axis 0"));
            tu_mb_free(&b);
            break;
        }
        m = tu_onnx_import_ok(&b, &o);
        const float x[8] = {1, 2, 3, 4, -1, 0, 0, 5};
        const float want[4] = {5.5f, -2.5f, 2.5f, -1};
        float y[4];
        const int64_t xs[5] = {2, 1, 1, 2, 2}, ys[5] = {2, 1, 2, 1, 1};
        tu_assert_dims(tu_onnx_run(m, ctx, 5, xs, x, y, 4), 5, ys);
        tu_assert_close(y, want, 4, 1e-6f, 0, "one-sample conv and pool");
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* Without a batch axis input_shape fixes every size; an input stored
 * without a shape takes input_shape whole. */
START_TEST(test_open_hw_no_batch_axis_and_no_shape)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    const int64_t xd[3] = {-1, -2, 4};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_simple(&b, "Relu", "relu", "x", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    graft_model *m = NULL;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "axis 0 (\"N\") and axis 1 (\"H\") of the graph input "
                                           "\"x\" have no fixed size; give them with the import "
                                           "option input_shape (CLI: --input-shape NxHx4)");
    const int64_t shape[3] = {2, 3, 4};
    o.input_ndim = 3;
    o.input_shape = shape;
    m = tu_onnx_import_ok(&b, &o);
    int nd = 0;
    int64_t dims[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graft_model_layer_output_shape(m, -1, &nd, dims), GRAFT_OK);
    ck_assert_int_eq(nd, 3);
    ck_assert_int_eq(dims[0], 2);
    ck_assert_int_eq(dims[1], 3);
    ck_assert_int_eq(dims[2], 4);
    graft_model_free(m);
    tu_mb_free(&b);
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", -1, NULL);
    tu_mb_simple(&b, "Relu", "relu", "x", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "the graph input \"x\" has no shape; give it with the "
                                           "import option input_shape (CLI: --input-shape)");
    o = (graft_onnx_import_opts)GRAFT_ONNX_IMPORT_OPTS_INIT;
    const int64_t batched[3] = {-1, 5, 6};
    o.input_ndim = 3;
    o.input_shape = batched;
    m = tu_onnx_import_ok(&b, &o);
    ck_assert_int_eq(graft_model_layer_output_shape(m, -1, &nd, dims), GRAFT_OK);
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(dims[0], 5);
    ck_assert_int_eq(dims[1], 6);
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* tests/data/onnx/unsupported.onnx: five refused nodes, one of them a GRU
 * that reads another's output; the message holds four and counts the
 * fifth. */
START_TEST(test_network_unsupported)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL;
    ck_assert_int_eq(graft_onnx_import(ctx, GRAFT_TEST_DATA "/onnx/unsupported.onnx", NULL, &m),
                     GRAFT_E_UNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_onnx_import(): 5 nodes graft cannot import (2 Erf, 1 Resize, 1 "
                     "LpNormalization, 1 GRU): node \"gelu/erf\" (Erf): graft does not support "
                     "the operator Erf; node \"gelu_1/erf\" (Erf): graft does not support the "
                     "operator Erf; node \"upsample\" (Resize): mode \"cubic\"; graft resizes "
                     "nearest and linear; node \"norm\" (LpNormalization): graft does not "
                     "support the operator LpNormalization; ... and 1 more; 3 later nodes that "
                     "read their outputs were not checked");
    graft_ctx_free(ctx);
}
END_TEST

/* A caller built against 1.0 or 1.1 passes the struct without input_ndim
 * and input_shape: they read as 0 and NULL, whatever follows in memory. */
START_TEST(test_open_hw_old_struct_size)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    tu_onnx_small_model(ctx, &b);
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.struct_size = (uint32_t)offsetof(graft_onnx_import_opts, input_ndim);
    o.input_ndim = 99; /* past the caller's struct: not read */
    graft_model *m = tu_onnx_import_ok(&b, &o);
    graft_model_free(m);
    tu_mb_free(&b);
    const int64_t xd[4] = {-1, 2, -2, -3};
    reshape_by_shape_model(ctx, &b, xd);
    const int64_t shape[4] = {1, 2, 3, 4};
    o.input_ndim = 4;
    o.input_shape = shape;
    ck_assert_int_eq(tu_onnx_try_import(&b, &o, &m), GRAFT_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "no fixed size"));
    o.struct_size = (uint32_t)sizeof o;
    m = tu_onnx_import_ok(&b, &o);
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_import(void)
{
    Suite *s = suite_create("onnx_import");
    TCase *tc = tcase_create("import");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_layer_names);
    tcase_add_test(tc, test_unsupported_is_refused);
    tcase_add_test(tc, test_unsupported_listed_at_once);
    tcase_add_test(tc, test_unsupported_list_is_bounded);
    tcase_add_test(tc, test_argument_errors);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    tc = tcase_create("networks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_network_mobilenet_v2);
    tcase_add_test(tc, test_network_resnet18);
    tcase_add_test(tc, test_network_squeezenet);
    tcase_add_test(tc, test_network_vgg_style);
    tcase_add_test(tc, test_network_shufflenet_v2);
    tcase_add_test(tc, test_network_keras_style);
    tcase_add_test(tc, test_replace_head_needs_a_classifier);
    tcase_add_test(tc, test_network_unsupported);
    suite_add_tcase(s, tc);
    tc = tcase_create("input_shape");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_hw_convolutional);
    tcase_add_test(tc, test_open_hw_shape_subgraphs);
    tcase_add_test(tc, test_open_hw_reshape_from_shape);
    tcase_add_test(tc, test_open_hw_refusals);
    tcase_add_test(tc, test_open_hw_no_batch_axis_and_no_shape);
    tcase_add_test(tc, test_one_sample_conv_and_pool);
    tcase_add_test(tc, test_open_hw_old_struct_size);
    suite_add_tcase(s, tc);
    return s;
}
