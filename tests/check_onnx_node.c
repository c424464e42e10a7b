/*
 * check_onnx_node.c - the functions a layer kind writes its ONNX nodes with
 * (src/layers/onnx_node.c): helper names, nodes with their inputs, output,
 * name and attributes, float and int64 initializers, a layer's parameter as
 * an initializer, and the internal errors. The nodes are written into a
 * graph started with the ModelProto builder (testutil.h) and read back with
 * graft's own decoder (src/onnx/onnx_pb.c). The kinds' mappings themselves
 * are exercised by check_onnx_export.c and check_kinds.c.
 */
#include "testutil.h"

#include "layers/onnx_node.h"
#include "onnx/onnx_pb.h"

#include <string.h>

/* An output stream for layer "blk/conv" with inputs a and b, output y. */
static graftOnnxOut out_for(tu_mb *b, const char *const *ins)
{
    graftOnnxOut o;
    memset(&o, 0, sizeof o);
    o.ctx = b->ctx;
    o.func = "graft_test_export";
    o.w = &b->w;
    o.opset = 13;
    o.name = "blk/conv";
    o.n_inputs = 2;
    o.inputs = ins;
    o.output = "y";
    return o;
}

static void decode(tu_mb *b, onnxModel *om)
{
    tu_mb_output(b, "y");
    tu_mb_finish(b);
    ck_assert_int_eq(graftOnnxModelDecode(b->ctx, "test", b->w.data, b->w.size, om), GRAFT_OK);
}

START_TEST(test_onnx_node_names)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    const char *ins[2] = {"a", "b"};
    graftOnnxOut o = out_for(&b, ins);
    char buf[GRAFT_ONNX_NAME_MAX];
    graftOnnxAuxName(&o, "weight", buf);
    ck_assert_str_eq(buf, "blk/conv#weight");
    graftOnnxSubName(&o, "pad", buf);
    ck_assert_str_eq(buf, "blk/conv/pad");
    /* Longer names are cut to fit. */
    char what[300];
    memset(what, 'w', sizeof what - 1);
    what[sizeof what - 1] = '\0';
    graftOnnxAuxName(&o, what, buf);
    ck_assert_uint_eq(strlen(buf), GRAFT_ONNX_NAME_MAX - 1);
    ck_assert_int_eq(strncmp(buf, "blk/conv#www", 12), 0);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_onnx_node_nodes_and_attributes)
{
    graft_ctx *ctx = tu_ctx();
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    const char *ins[2] = {"a", "b"};
    graftOnnxOut o = out_for(&b, ins);
    /* A helper node, then the main node with every attribute type, then a
     * node over all inputs without attributes. */
    const char *one[1] = {"a"};
    graftOnnxNode(&o, "Relu", "blk/conv/relu", 1, one, "blk/conv#r");
    size_t n = graftOnnxNodeBegin(&o, "Conv", NULL, 2, ins, "y");
    graftOnnxAttrInt(&o, "group", -3);
    graftOnnxAttrFloat(&o, "alpha", 0.25f);
    const int64_t pads[4] = {1, 0, 2, 1};
    graftOnnxAttrInts(&o, "pads", 4, pads);
    graftOnnxAttrString(&o, "auto_pad", "NOTSET");
    graftOnnxNodeEnd(&o, n);
    graftOnnxNodeSame(&o, "Add");
    onnxModel om;
    decode(&b, &om);
    ck_assert_int_eq(om.graph.n_nodes, 3);
    const onnxNode *relu = &om.graph.nodes[0], *conv = &om.graph.nodes[1],
                   *add = &om.graph.nodes[2];
    ck_assert_str_eq(relu->op_type, "Relu");
    ck_assert_str_eq(relu->name, "blk/conv/relu");
    ck_assert_int_eq(relu->n_inputs, 1);
    ck_assert_str_eq(relu->outputs[0], "blk/conv#r");
    ck_assert_str_eq(conv->op_type, "Conv");
    ck_assert_str_eq(conv->name, "blk/conv"); /* NULL: the layer's name */
    ck_assert_int_eq(conv->n_inputs, 2);
    ck_assert_str_eq(conv->inputs[1], "b");
    ck_assert_int_eq(conv->n_outputs, 1);
    ck_assert_str_eq(conv->outputs[0], "y");
    ck_assert_int_eq(conv->n_attrs, 4);
    const onnxAttr *a = graftOnnxNodeAttr(conv, "group");
    ck_assert_int_eq(a->type, ONNX_ATTR_INT);
    ck_assert_int_eq(a->i, -3);
    a = graftOnnxNodeAttr(conv, "alpha");
    ck_assert_int_eq(a->type, ONNX_ATTR_FLOAT);
    ck_assert_float_eq(a->f, 0.25f);
    a = graftOnnxNodeAttr(conv, "pads");
    ck_assert_int_eq(a->type, ONNX_ATTR_INTS);
    ck_assert_int_eq(a->n_ints, 4);
    for (int k = 0; k < 4; k++) ck_assert_int_eq(a->ints[k], pads[k]);
    a = graftOnnxNodeAttr(conv, "auto_pad");
    ck_assert_int_eq(a->type, ONNX_ATTR_STRING);
    ck_assert_uint_eq(a->s.n, 6);
    ck_assert(memcmp(a->s.p, "NOTSET", 6) == 0);
    ck_assert_str_eq(add->op_type, "Add");
    ck_assert_str_eq(add->name, "blk/conv");
    ck_assert_int_eq(add->n_inputs, 2);
    ck_assert_str_eq(add->inputs[0], "a");
    ck_assert_str_eq(add->outputs[0], "y");
    ck_assert_int_eq(add->n_attrs, 0);
    graftOnnxModelDispose(&om);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_onnx_node_initializers)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 1, 3);
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 9), GRAFT_OK);
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    const char *ins[2] = {"a", "b"};
    graftOnnxOut o = out_for(&b, ins);
    const int64_t fd[2] = {2, 2}, id[1] = {3};
    const float fv[4] = {1, -2.5f, 0, 3e10f};
    const int64_t iv[3] = {-1, 0, (int64_t)1 << 40};
    graftOnnxInitF32(&o, "f", 2, fd, fv);
    graftOnnxInitI64(&o, "i", 1, id, iv);
    graftOnnxInitF32(&o, "scalar", 0, NULL, fv + 1);
    char name[GRAFT_ONNX_NAME_MAX];
    ck_assert_int_eq(graftOnnxInitParam(&o, l, "weight", name), GRAFT_OK);
    ck_assert_str_eq(name, "blk/conv#weight");
    /* A parameter the layer does not have is an internal error. */
    ck_assert_int_eq(graftOnnxInitParam(&o, l, "gamma", name), GRAFT_E_INTERNAL);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_test_export(): layer \"blk/conv\": a parameter is missing");
    ck_assert_int_eq(graftOnnxInternal(&o, "no mapping"), GRAFT_E_INTERNAL);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_test_export(): layer \"blk/conv\": no mapping");
    onnxModel om;
    decode(&b, &om);
    ck_assert_int_eq(om.graph.n_inits, 4);
    const onnxTensor *t = &om.graph.inits[0];
    ck_assert_str_eq(t->name, "f");
    ck_assert_int_eq(t->data_type, ONNX_FLOAT);
    ck_assert_int_eq(t->ndim, 2);
    float f[4];
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", t, f, 4), GRAFT_OK);
    ck_assert(memcmp(f, fv, sizeof fv) == 0);
    t = &om.graph.inits[1];
    ck_assert_int_eq(t->data_type, ONNX_INT64);
    int64_t i[3];
    ck_assert_int_eq(graftOnnxTensorReadI64(ctx, "test", t, i, 3), GRAFT_OK);
    ck_assert(memcmp(i, iv, sizeof iv) == 0);
    t = &om.graph.inits[2];
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", t, f, 1), GRAFT_OK);
    ck_assert_float_eq(f[0], -2.5f);
    t = &om.graph.inits[3];
    ck_assert_str_eq(t->name, "blk/conv#weight");
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->dims[0], 2);
    ck_assert_int_eq(t->dims[1], 3);
    graft_tensor *w;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &w, NULL, NULL), GRAFT_OK);
    float wv[6];
    ck_assert_int_eq(graftOnnxTensorReadF32(ctx, "test", t, wv, 6), GRAFT_OK);
    ck_assert(memcmp(wv, graft_tensor_data(w), sizeof wv) == 0);
    graftOnnxModelDispose(&om);
    tu_mb_free(&b);
    graft_tensor_free(x);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_node(void)
{
    Suite *s = suite_create("onnx_node");
    TCase *tc = tcase_create("onnx_node");
    tcase_add_test(tc, test_onnx_node_names);
    tcase_add_test(tc, test_onnx_node_nodes_and_attributes);
    tcase_add_test(tc, test_onnx_node_initializers);
    suite_add_tcase(s, tc);
    return s;
}
