/*
 * check_onnx_import_helpers.c - what the ONNX importer's operator files
 * share (src/onnx/onnx_import_helpers.c), called directly on a node built
 * here: the node's label in messages, failures with and without a node,
 * reading attributes of each type (defaults, wrong types, strings cut to
 * the buffer), axes normalised against a rank, shapes as text, element
 * counts, and the batch axis's place. The helpers' use by every operator
 * is exercised through imports in the check_onnx_*.c suites.
 */
#include "testutil.h"

#include "onnx/onnx_import.h"

#include <string.h>

/* An importer positioned on node, index 4, batched. */
static imp importer(graft_ctx *ctx, const onnxNode *node)
{
    imp im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.func = "graft_onnx_import_buffer";
    im.node = node;
    im.node_index = 4;
    im.batched = 1;
    return im;
}

START_TEST(test_import_helpers_messages)
{
    graft_ctx *ctx = tu_ctx();
    onnxNode node;
    memset(&node, 0, sizeof node);
    node.name = "conv/1";
    node.op_type = "Conv";
    imp im = importer(ctx, &node);
    char label[64];
    ck_assert_str_eq(graftOnnxImpNodeLabel(&im, label, sizeof label), "node \"conv/1\" (Conv)");
    ck_assert_int_eq(graftOnnxImpFail(&im, GRAFT_E_UNSUPPORTED, "%d groups", 3),
                     GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_onnx_import_buffer(): node \"conv/1\" (Conv): 3 groups");
    node.name = "";
    ck_assert_str_eq(graftOnnxImpNodeLabel(&im, label, sizeof label), "node #4 (Conv)");
    ck_assert_int_eq(graftOnnxImpNomem(&im), GRAFT_E_NOMEM);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_onnx_import_buffer(): node #4 (Conv): out of memory");
    /* Outside any node: the message alone. */
    im.node = NULL;
    ck_assert_int_eq(graftOnnxImpFail(&im, GRAFT_E_FORMAT, "no graph"), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_import_buffer(): no graph");
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_import_helpers_attributes)
{
    graft_ctx *ctx = tu_ctx();
    int64_t ints[3] = {1, -2, 3};
    const char text[5] = {'a', 'b', '\0', 'c', 'd'};
    onnxAttr attrs[4];
    memset(attrs, 0, sizeof attrs);
    attrs[0].name = "alpha";
    attrs[0].type = ONNX_ATTR_FLOAT;
    attrs[0].f = 0.5f;
    attrs[1].name = "axis";
    attrs[1].type = ONNX_ATTR_INT;
    attrs[1].i = -1;
    attrs[2].name = "pads";
    attrs[2].type = ONNX_ATTR_INTS;
    attrs[2].ints = ints;
    attrs[2].n_ints = 3;
    attrs[3].name = "mode";
    attrs[3].type = ONNX_ATTR_STRING;
    attrs[3].s.p = (const unsigned char *)text;
    attrs[3].s.n = sizeof text;
    onnxNode node;
    memset(&node, 0, sizeof node);
    node.name = "n";
    node.op_type = "Op";
    node.n_attrs = 4;
    node.attrs = attrs;
    imp im = importer(ctx, &node);

    int64_t i = 0;
    float f = 0;
    ck_assert_int_eq(graftOnnxImpAttrInt(&im, "axis", 7, &i), GRAFT_OK);
    ck_assert_int_eq(i, -1);
    ck_assert_int_eq(graftOnnxImpAttrInt(&im, "absent", 7, &i), GRAFT_OK);
    ck_assert_int_eq(i, 7);
    ck_assert_int_eq(graftOnnxImpAttrFloat(&im, "alpha", 1, &f), GRAFT_OK);
    ck_assert_float_eq(f, 0.5f);
    ck_assert_int_eq(graftOnnxImpAttrFloat(&im, "absent", 2.5f, &f), GRAFT_OK);
    ck_assert_float_eq(f, 2.5f);
    /* The wrong type is malformed, and named. */
    ck_assert_int_eq(graftOnnxImpAttrInt(&im, "alpha", 0, &i), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_import_buffer(): node \"n\" (Op): attribute "
                                        "alpha has type 1, expected int");
    ck_assert_int_eq(graftOnnxImpAttrFloat(&im, "axis", 0, &f), GRAFT_E_FORMAT);
    const int64_t *v = NULL;
    int n = 0;
    ck_assert_int_eq(graftOnnxImpAttrInts(&im, "pads", &v, &n), GRAFT_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(v[1], -2);
    ck_assert_int_eq(graftOnnxImpAttrInts(&im, "absent", &v, &n), GRAFT_OK);
    ck_assert_int_eq(n, -1);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(graftOnnxImpAttrInts(&im, "axis", &v, &n), GRAFT_E_FORMAT);
    /* Strings: a NUL inside becomes '?'; cut to the buffer; the default. */
    char buf[16];
    ck_assert_int_eq(graftOnnxImpAttrString(&im, "mode", "x", buf, sizeof buf), GRAFT_OK);
    ck_assert_str_eq(buf, "ab?cd");
    ck_assert_int_eq(graftOnnxImpAttrString(&im, "mode", "x", buf, 3), GRAFT_OK);
    ck_assert_str_eq(buf, "ab");
    ck_assert_int_eq(graftOnnxImpAttrString(&im, "absent", "constant", buf, sizeof buf), GRAFT_OK);
    ck_assert_str_eq(buf, "constant");
    ck_assert_int_eq(graftOnnxImpAttrString(&im, "pads", "", buf, sizeof buf), GRAFT_E_FORMAT);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_import_helpers_axes_and_shapes)
{
    graft_ctx *ctx = tu_ctx();
    onnxNode node;
    memset(&node, 0, sizeof node);
    node.name = "t";
    node.op_type = "Transpose";
    imp im = importer(ctx, &node);
    int ax = -1;
    for (int a = -3; a < 3; a++) {
        ck_assert_int_eq(graftOnnxImpNormAxis(&im, a, 3, "axis", &ax), GRAFT_OK);
        ck_assert_int_eq(ax, a < 0 ? a + 3 : a);
    }
    ck_assert_int_eq(graftOnnxImpNormAxis(&im, 3, 3, "axis", &ax), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_import_buffer(): node \"t\" (Transpose): "
                                        "axis 3 is out of range for rank 3");
    ck_assert_int_eq(graftOnnxImpNormAxis(&im, -4, 3, "perm", &ax), GRAFT_E_FORMAT);
    ck_assert_int_eq(graftOnnxImpNormAxis(&im, 0, 0, "axis", &ax), GRAFT_E_FORMAT);

    const int64_t dims[3] = {SYM_BATCH, 2, 30};
    char text[32];
    graftOnnxImpShapeText(3, dims, text, sizeof text);
    ck_assert_str_eq(text, "(N, 2, 30)");
    graftOnnxImpShapeText(0, dims, text, sizeof text);
    ck_assert_str_eq(text, "()");
    graftOnnxImpShapeText(3, dims, text, 6); /* cut, terminated */
    ck_assert_uint_lt(strlen(text), 6);
    ck_assert_int_eq(strncmp(text, "(N, 2", 5), 0);

    size_t numel = 0;
    const int64_t ok[3] = {4, 0, 7}, big[2] = {(int64_t)1 << 30, (int64_t)1 << 11},
                  neg[2] = {2, -1};
    ck_assert_int_eq(graftOnnxImpShapeNumel(&im, 3, ok, &numel), GRAFT_OK);
    ck_assert_uint_eq(numel, 0);
    ck_assert_int_eq(graftOnnxImpShapeNumel(&im, 0, ok, &numel), GRAFT_OK);
    ck_assert_uint_eq(numel, 1);
    ck_assert_int_eq(graftOnnxImpShapeNumel(&im, 2, big, &numel), GRAFT_E_FORMAT);
    ck_assert_int_eq(graftOnnxImpShapeNumel(&im, 2, neg, &numel), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_import_buffer(): node \"t\" (Transpose): a "
                                        "tensor dimension is -1, or the element count exceeds "
                                        "2^40");

    /* The batch axis: ONNX's axis 0 when batched, graft's samples after it. */
    int64_t sample[3];
    ck_assert_int_eq(graftOnnxImpGraftAxis(&im, 2), 2);
    ck_assert_int_eq(graftOnnxImpSampleDims(&im, 3, dims, sample), 2);
    ck_assert(sample[0] == 2 && sample[1] == 30);
    im.batched = 0;
    ck_assert_int_eq(graftOnnxImpGraftAxis(&im, 2), 3);
    ck_assert_int_eq(graftOnnxImpSampleDims(&im, 3, ok, sample), 3);
    ck_assert(sample[0] == 4 && sample[2] == 7);

    ck_assert(graftOnnxImpIsFloatType(ONNX_FLOAT) && graftOnnxImpIsFloatType(ONNX_DOUBLE) &&
              graftOnnxImpIsFloatType(ONNX_FLOAT16) && graftOnnxImpIsFloatType(ONNX_BFLOAT16));
    ck_assert(!graftOnnxImpIsFloatType(ONNX_INT64) && !graftOnnxImpIsFloatType(ONNX_BOOL));
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_import_helpers(void)
{
    Suite *s = suite_create("onnx_import_helpers");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, test_import_helpers_messages);
    tcase_add_test(tc, test_import_helpers_attributes);
    tcase_add_test(tc, test_import_helpers_axes_and_shapes);
    suite_add_tcase(s, tc);
    return s;
}
