/*
 * check_onnx_ops_shape.c - the ONNX importer's shape operators
 * (src/onnx/onnx_ops_shape.c): Identity and Dropout vanish; Concat (along
 * any axis), Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Slice,
 * Split and Gather of one entry map to layers (a Transpose of size-1 axes to a reshape);
 * Shape, Size and Cast feed constant folding; and what they refuse.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "graft_onnx_import_buffer(): "

/* The subgraph exporters write for x.view(x.size(0), -1): Shape, Gather,
 * Unsqueeze, Concat with a constant, Cast, feeding Reshape. It folds to
 * constants (the batch size stays symbolic) and the Reshape becomes a
 * reshape layer. Identity and Dropout disappear; Concat, Flatten, Squeeze,
 * Unsqueeze and a Transpose of size-1 axes map to layers. */
/* The start of test_shape_subgraph_and_shape_ops's graph: the constants idx
 * (0) and rest ({-1}), xc = Concat(Dropout(Identity(x)), x) and s =
 * Shape(xc). */
static void shape_subgraph_start(tu_mb *b)
{
    const int64_t sd[1] = {1}, zero = 0, minus1 = -1;
    size_t n = tu_mb_node(b, "Constant", "c_idx", "", "idx");
    tu_mb_attr_tensor_i64(b, "value", 0, NULL, &zero);
    tu_mb_end(b, n);
    n = tu_mb_node(b, "Constant", "c_rest", "", "rest");
    tu_mb_attr_tensor_i64(b, "value", 1, sd, &minus1);
    tu_mb_end(b, n);
    tu_mb_simple(b, "Identity", "id", "x", "xi");
    tu_mb_simple(b, "Dropout", "drop", "xi", "xd");
    tu_mb_simple(b, "Concat", "cat", "xd,x", "xc"); /* (N, 4, 2, 3) */
    tu_mb_simple(b, "Shape", "shape", "xc", "s");
}

START_TEST(test_shape_subgraph_and_shape_ops)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 2, 2, 3}, sd[1] = {1}, ax0 = 0;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init_i64(&b, "axes0", 1, sd, &ax0);
    shape_subgraph_start(&b);
    size_t n = tu_mb_node(&b, "Gather", "gather", "s,idx", "batch");
    tu_mb_attr_i(&b, "axis", 0);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Unsqueeze", "unsq", "batch,axes0", "b1");
    n = tu_mb_node(&b, "Concat", "shape_cat", "b1,rest", "target64");
    tu_mb_attr_i(&b, "axis", 0);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Cast", "cast", "target64", "target");
    tu_mb_attr_i(&b, "to", ONNX_INT64);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Reshape", "view", "xc,target", "flat"); /* (N, 24) */
    n = tu_mb_node(&b, "Unsqueeze", "u", "flat", "u3");        /* opset 13 wants axes as input */
    tu_mb_end(&b, n);
    tu_mb_output(&b, "u3");
    tu_mb_finish(&b);
    graft_model *m = NULL;
    /* Opset 13 Unsqueeze without its axes input is malformed. */
    ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"u\" (Unsqueeze): no axes");
    tu_mb_free(&b);

    tu_mb_begin(&b, ctx, 11); /* opset 11: Unsqueeze and Squeeze take axes attributes */
    tu_mb_input(&b, "x", 4, xd);
    shape_subgraph_start(&b);
    tu_mb_simple(&b, "Gather", "gather", "s,idx", "batch");
    n = tu_mb_node(&b, "Unsqueeze", "unsq", "batch", "b1");
    tu_mb_attr_ints(&b, "axes", 1, &ax0);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Concat", "shape_cat", "b1,rest", "target");
    tu_mb_attr_i(&b, "axis", 0);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Reshape", "view", "xc,target", "flat"); /* (N, 24) */
    const int64_t ua[2] = {1, 3};
    n = tu_mb_node(&b, "Unsqueeze", "u", "flat", "u4"); /* (N, 1, 24, 1) */
    tu_mb_attr_ints(&b, "axes", 2, ua);
    tu_mb_end(&b, n);
    const int64_t perm[4] = {0, 3, 2, 1};
    n = tu_mb_node(&b, "Transpose", "t", "u4", "t4"); /* (N, 1, 24, 1): the same order */
    tu_mb_attr_ints(&b, "perm", 4, perm);
    tu_mb_end(&b, n);
    const int64_t sq[1] = {3};
    n = tu_mb_node(&b, "Squeeze", "sq", "t4", "s3"); /* (N, 1, 24) */
    tu_mb_attr_ints(&b, "axes", 1, sq);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Flatten", "fl", "s3", "y"); /* (N, 24) */
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"concat", "reshape", "reshape", "reshape", "flatten"};
    tu_assert_kinds(m, kinds, 5);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "cat");
    ck_assert_str_eq(graft_model_layer_input_name(m, 0, 0), "input");
    float x[2 * 12], y[2 * 24];
    tu_fill_ramp(x, 24, 0, 1);
    const int64_t xs[4] = {2, 2, 2, 3}, ys[2] = {2, 24};
    tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, 48), 2, ys);
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 24; k++) ck_assert_float_eq(y[s * 24 + k], x[s * 12 + k % 12]);
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* A ShuffleNetV2 unit's data movement on x (N, 4, 2, 3): the channels
 * split in two halves (by Split at opset op, or by two Slices), the second
 * half through a Relu, the halves joined again (Concat, axis 1), then the
 * channel shuffle: Reshape (N, 2, 2, 2, 3), Transpose perm 0 2 1 3 4,
 * Reshape (N, 4, 2, 3); last, a Transpose to NHWC and a Concat along the
 * last axis with itself. Returns the model's output for a ramp input, and
 * checks it against the same computed index by index. */
static void shuffle_unit(graft_ctx *ctx, int opset, int by_slice)
{
    const int64_t xd[4] = {-1, 4, 2, 3}, one[1] = {1}, two[1] = {2}, half[2] = {2, 2};
    const int64_t r5[5] = {0, 2, 2, 2, 3}, r4[4] = {0, 4, 2, 3}, big[1] = {INT64_MAX};
    const int64_t sh1[1] = {1}, zero[1] = {0};
    tu_mb b;
    tu_mb_begin(&b, ctx, opset);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init_i64(&b, "r5", 1, (const int64_t[]){5}, r5);
    tu_mb_init_i64(&b, "r4", 1, (const int64_t[]){4}, r4);
    size_t n;
    if (by_slice) {
        tu_mb_init_i64(&b, "zero", 1, sh1, zero);
        tu_mb_init_i64(&b, "one", 1, sh1, one);
        tu_mb_init_i64(&b, "two", 1, sh1, two);
        tu_mb_init_i64(&b, "big", 1, sh1, big);
        tu_mb_simple(&b, "Slice", "lo", "x,zero,two,one", "a");
        tu_mb_simple(&b, "Slice", "hi", "x,two,big,one", "c");
    } else if (opset < 13) {
        n = tu_mb_node(&b, "Split", "split", "x", "a,c");
        tu_mb_attr_i(&b, "axis", 1);
        tu_mb_attr_ints(&b, "split", 2, half);
        tu_mb_end(&b, n);
    } else if (opset < 18) {
        tu_mb_init_i64(&b, "half", 1, (const int64_t[]){2}, half);
        n = tu_mb_node(&b, "Split", "split", "x,half", "a,c");
        tu_mb_attr_i(&b, "axis", 1);
        tu_mb_end(&b, n);
    } else {
        n = tu_mb_node(&b, "Split", "split", "x", "a,c");
        tu_mb_attr_i(&b, "axis", -3);
        tu_mb_attr_i(&b, "num_outputs", 2);
        tu_mb_end(&b, n);
    }
    tu_mb_simple(&b, "Relu", "relu", "c", "cr");
    n = tu_mb_node(&b, "Concat", "join", "a,cr", "j");
    tu_mb_attr_i(&b, "axis", 1);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Reshape", "groups", "j,r5", "g");
    const int64_t p5[5] = {0, 2, 1, 3, 4}, p4[4] = {0, 2, 3, 1};
    n = tu_mb_node(&b, "Transpose", "shuffle", "g", "gt");
    tu_mb_attr_ints(&b, "perm", 5, p5);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Reshape", "ungroup", "gt,r4", "s");
    n = tu_mb_node(&b, "Transpose", "nhwc", "s", "t");
    tu_mb_attr_ints(&b, "perm", 4, p4);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Concat", "wide", "t,t", "y");
    tu_mb_attr_i(&b, "axis", -1);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const by_split[] = {"slice",     "slice",   "relu",      "concat",
                                           "reshape",   "transpose", "reshape", "transpose",
                                           "concat"};
    tu_assert_kinds(m, by_split, 9);
    float x[2 * 24], y[2 * 48];
    tu_fill_ramp(x, 48, -20, 1);
    const int64_t xs[4] = {2, 4, 2, 3}, ys[4] = {2, 2, 3, 8};
    tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, 96), 4, ys);
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 4; c++) /* shuffled channel c is joined channel (c % 2) * 2 + c / 2 */
            for (int p = 0; p < 6; p++) {
                int src = (c % 2) * 2 + c / 2;
                float v = x[(s * 4 + src) * 6 + p];
                if (src >= 2 && v < 0) v = 0;
                for (int rep = 0; rep < 2; rep++)
                    ck_assert_float_eq(y[s * 48 + p * 8 + rep * 4 + c], v);
            }
    graft_model_free(m);
    tu_mb_free(&b);
}

START_TEST(test_shufflenet_split_shuffle_concat)
{
    graft_ctx *ctx = tu_ctx();
    shuffle_unit(ctx, 11, 0);
    shuffle_unit(ctx, 13, 0);
    shuffle_unit(ctx, 18, 0);
    shuffle_unit(ctx, 13, 1);
    graft_ctx_free(ctx);
}
END_TEST

/* A Slice of two axes is two slice layers, the last named after the node;
 * a Split of a constant folds, each output its part. */
START_TEST(test_slice_two_axes_and_constant_split)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[4] = {-1, 4, 2, 3}, two[1] = {2};
    const int64_t starts[2] = {1, 0}, ends[2] = {3, 2}, axes[2] = {1, 3};
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init_i64(&b, "s", 1, two, starts);
    tu_mb_init_i64(&b, "e", 1, two, ends);
    tu_mb_init_i64(&b, "a", 1, two, axes);
    tu_mb_simple(&b, "Slice", "sl", "x,s,e,a", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"slice", "slice"};
    tu_assert_kinds(m, kinds, 2);
    ck_assert_str_eq(graft_model_layer_name(m, 1), "sl");
    float x[2 * 24], y[2 * 8];
    tu_fill_ramp(x, 48, 0, 1);
    const int64_t xs[4] = {2, 4, 2, 3}, ys[4] = {2, 2, 2, 2};
    tu_assert_dims(tu_onnx_run(m, ctx, 4, xs, x, y, 16), 4, ys);
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 2; w++)
                    ck_assert_float_eq(y[((n * 2 + c) * 2 + h) * 2 + w],
                                       x[((n * 4 + c + 1) * 2 + h) * 3 + w]);
    graft_model_free(m);
    tu_mb_free(&b);
    /* y = x * Split(c)[1], c = (1, 4) 1 2 3 4 split in halves on axis 1 */
    const int64_t x2[2] = {-1, 2}, cd[2] = {1, 4};
    const float cv[4] = {1, 2, 3, 4};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, x2);
    tu_mb_init(&b, "c", 2, cd, cv);
    size_t n = tu_mb_node(&b, "Split", "sp", "c", "c0,c1");
    tu_mb_attr_i(&b, "axis", 1);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Mul", "mul", "x,c1", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    const float xv[4] = {1, 1, 2, -1};
    float yv[4];
    const int64_t xs2[2] = {2, 2};
    tu_onnx_run(m, ctx, 2, xs2, xv, yv, 4);
    const float want[4] = {3, 4, 6, -4};
    tu_assert_close(yv, want, 4, 0, 0, "x * Split(c)[1]");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* y = Transpose, Slice or Split of x (N, 2, 3): what is refused. */
START_TEST(test_transpose_slice_split_refusals)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 2, 3}, sh1[1] = {1};
    tu_mb b;
    /* a Transpose that moves the batch axis */
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    size_t n = tu_mb_node(&b, "Transpose", "tr", "x", "y");
    const int64_t perm[3] = {1, 0, 2};
    tu_mb_attr_ints(&b, "perm", 3, perm);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    ck_assert_int_eq(tu_onnx_status(&b), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"tr\" (Transpose): it moves the batch axis "
                                           "(perm[0] is 1); graft transposes the axes after the "
                                           "batch");
    /* a Slice of the batch axis, an empty Slice, and one that imports */
    const int64_t zero = 0, one = 1, three = 3;
    for (int k = 0; k < 3; k++) {
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 3, xd);
        tu_mb_init_i64(&b, "s", 1, sh1, k == 1 ? &three : &zero);
        tu_mb_init_i64(&b, "e", 1, sh1, k == 1 ? &three : &one);
        tu_mb_init_i64(&b, "a", 1, sh1, k == 0 ? &zero : &one);
        tu_mb_simple(&b, "Slice", "sl", "x,s,e,a", "y");
        tu_mb_output(&b, "y");
        int st = tu_onnx_status(&b);
        if (k == 0) {
            ck_assert_int_eq(st, GRAFT_E_UNSUPPORTED);
            ck_assert_str_eq(graft_errmsg(ctx), FN "node \"sl\" (Slice): it slices the batch "
                                                   "axis (starts 0, ends 1, steps 1); graft "
                                                   "slices the axes after it");
        } else if (k == 1) {
            ck_assert_int_eq(st, GRAFT_E_UNSUPPORTED);
            ck_assert_str_eq(graft_errmsg(ctx), FN "node \"sl\" (Slice): its result is empty on "
                                                   "axis 1; graft tensors have no size-0 axis");
        } else {
            ck_assert_int_eq(st, GRAFT_OK);
        }
    }
    /* Split: of the batch axis, into unequal parts before opset 18, sizes
     * that do not add up */
    const int64_t sizes[2] = {1, 1};
    for (int k = 0; k < 3; k++) {
        tu_mb_begin(&b, ctx, k == 1 ? 13 : 11);
        tu_mb_input(&b, "x", 3, xd);
        n = tu_mb_node(&b, "Split", "sp", "x", "y,z");
        tu_mb_attr_i(&b, "axis", k == 0 ? 0 : 2);
        if (k == 2) tu_mb_attr_ints(&b, "split", 2, sizes);
        tu_mb_end(&b, n);
        tu_mb_output(&b, "y");
        ck_assert_int_ne(tu_onnx_status(&b), GRAFT_OK);
        static const char *const why[3] = {
            FN "node \"sp\" (Split): it splits the batch axis; graft splits the axes after it",
            FN "node \"sp\" (Split): axis 2 of size 3 does not split into 2 equal parts",
            FN "node \"sp\" (Split): the split sizes add up to 2, not 3"};
        ck_assert_str_eq(graft_errmsg(ctx), why[k]);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* y = op(ins) for x (N, 2, 3) and r = Relu(x), with the attribute attr
 * ("axis": an int, else ints) of n values v, or, without attr, the int64
 * initializer "t" holding them: the import status. */
static int shape_status(graft_ctx *ctx, int opset, const char *op, const char *ins,
                        const char *attr, int n, const int64_t *v)
{
    const int64_t xd[3] = {-1, 2, 3}, tn[1] = {n};
    tu_mb b;
    tu_mb_begin(&b, ctx, opset);
    tu_mb_input(&b, "x", 3, xd);
    if (!attr) tu_mb_init_i64(&b, "t", 1, tn, v);
    tu_mb_simple(&b, "Relu", "r", "x", "r");
    size_t node = tu_mb_node(&b, op, "op", ins, "y");
    if (attr && strcmp(attr, "axis") == 0) tu_mb_attr_i(&b, attr, v[0]);
    else if (attr) tu_mb_attr_ints(&b, attr, n, v);
    tu_mb_end(&b, node);
    tu_mb_output(&b, "y");
    return tu_onnx_status(&b);
}

/* Gather of one entry of a computed tensor's axis: a slice layer, the axis
 * dropped for a scalar index. x (N, 3, 2) holds rows r0, r1, r2:
 *   g1 = Gather(x, -1, axis 1)  = r2                    (N, 2)
 *   g2 = Gather(x, (0), axis 2) = column 0, kept as     (N, 3, 1)
 *   y  = Concat(g1, g2 as (N, 3)) along 1               (N, 5)
 * and, in a one-sample graph (batch_axis 0), Gather(x (3, 2), 1, axis 0)
 * is row 1 of each of graft's samples (PyTorch's q, k, v = qkv[0], ...). */
START_TEST(test_gather_of_activation)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[3] = {-1, 3, 2}, s1[1] = {1}, s2[2] = {0, 3}, last = -1, zero = 0;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init_i64(&b, "last", 0, NULL, &last);
    tu_mb_init_i64(&b, "first", 1, s1, &zero);
    tu_mb_init_i64(&b, "shape", 1, (const int64_t[1]){2}, s2);
    size_t n = tu_mb_node(&b, "Gather", "row", "x,last", "g1");
    tu_mb_attr_i(&b, "axis", 1);
    tu_mb_end(&b, n);
    n = tu_mb_node(&b, "Gather", "col", "x,first", "g2");
    tu_mb_attr_i(&b, "axis", 2);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Reshape", "flat", "g2,shape", "g2f");
    n = tu_mb_node(&b, "Concat", "cat", "g1,g2f", "y");
    tu_mb_attr_i(&b, "axis", 1);
    tu_mb_end(&b, n);
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    const float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const float want[10] = {5, 6, 1, 3, 5, 11, 12, 7, 9, 11};
    float y[10];
    const int64_t xs[3] = {2, 3, 2}, ys[2] = {2, 5};
    tu_assert_dims(tu_onnx_run(m, ctx, 3, xs, x, y, 10), 2, ys);
    tu_assert_close(y, want, 10, 0, 0, "gathered row and column");
    graft_model_free(m);
    tu_mb_free(&b);

    const int64_t one_sample[2] = {3, 2}, one = 1;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, one_sample);
    tu_mb_init_i64(&b, "one", 0, NULL, &one);
    tu_mb_simple(&b, "Gather", "k", "x,one", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = 0;
    m = tu_onnx_import_ok(&b, &o);
    const float want1[4] = {3, 4, 9, 10};
    float y1[4];
    const int64_t y1s[2] = {2, 2};
    tu_assert_dims(tu_onnx_run(m, ctx, 3, xs, x, y1, 4), 2, y1s);
    tu_assert_close(y1, want1, 4, 0, 0, "row 1 of each sample");
    graft_model_free(m);
    tu_mb_free(&b);

    /* Refused: the batch axis, several indices, a computed index. */
    static const struct {
        const char *ins;
        int axis, status;
        const char *msg;
    } bad[] = {
        {"x,first", 0, GRAFT_E_UNSUPPORTED,
         "it gathers from the batch axis; graft gathers from the axes after it"},
        {"x,two", 1, GRAFT_E_UNSUPPORTED,
         "it gathers 2 entries (indices of rank 1) from a computed tensor; graft takes one (a "
         "scalar index or one of shape (1))"},
        {"x,x", 1, GRAFT_E_UNSUPPORTED,
         "its indices (\"x\") is computed from the graph input; graft needs a constant"},
        {"x,first", 3, GRAFT_E_FORMAT, "axis 3 is out of range for rank 3"},
    };
    const int64_t two[2] = {0, 1};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 3, xd);
        tu_mb_init_i64(&b, "first", 1, s1, &zero);
        tu_mb_init_i64(&b, "two", 1, (const int64_t[1]){2}, two);
        n = tu_mb_node(&b, "Gather", "g", bad[k].ins, "y");
        tu_mb_attr_i(&b, "axis", bad[k].axis);
        tu_mb_end(&b, n);
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), bad[k].status);
        char want_msg[256];
        snprintf(want_msg, sizeof want_msg, FN "node \"g\" (Gather): %s", bad[k].msg);
        ck_assert_str_eq(graft_errmsg(ctx), want_msg);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_shape_ops_refusals)
{
    graft_ctx *ctx = tu_ctx();
    /* Reshape: a computed target, two -1, a size that is not the batch,
     * a target holding another element count. */
    const int64_t two_infer[3] = {0, -1, -1}, not_batch[2] = {7, 6}, wrong[3] = {0, 2, 2};
    ck_assert_int_eq(shape_status(ctx, 13, "Reshape", "x,r", NULL, 3, wrong), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"op\" (Reshape): its shape (\"r\") is computed "
                                           "from the graph input; graft needs a constant");
    ck_assert_int_eq(shape_status(ctx, 13, "Reshape", "x,t", NULL, 3, two_infer), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"op\" (Reshape): more than one -1 in the target");
    ck_assert_int_eq(shape_status(ctx, 13, "Reshape", "x,t", NULL, 2, not_batch),
                     GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Reshape): its target shape's first size is 7, not the batch");
    ck_assert_int_eq(shape_status(ctx, 13, "Reshape", "x,t", NULL, 3, wrong), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Reshape): the target holds 4 elements, the input 6");
    /* Flatten of the batch axis; Squeeze of an axis that is not of size 1,
     * or of the batch axis; a perm that is not a permutation. */
    const int64_t zero[1] = {0}, one[1] = {1}, bad_perm[3] = {0, 1, 1};
    ck_assert_int_eq(shape_status(ctx, 13, "Flatten", "x", "axis", 1, zero), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Flatten): it flattens the batch axis (axis 0)");
    ck_assert_int_eq(shape_status(ctx, 11, "Squeeze", "x", "axes", 1, one), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), FN "node \"op\" (Squeeze): axis 1 has size "));
    ck_assert_int_eq(shape_status(ctx, 11, "Squeeze", "x", "axes", 1, zero), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"op\" (Squeeze): it removes the batch axis");
    ck_assert_int_eq(shape_status(ctx, 13, "Transpose", "x", "perm", 3, bad_perm), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"op\" (Transpose): perm is not a permutation");
    /* The same builder with valid values imports. */
    const int64_t ok_target[2] = {0, -1}, ax1[1] = {1};
    ck_assert_int_eq(shape_status(ctx, 13, "Reshape", "x,t", NULL, 2, ok_target), GRAFT_OK);
    ck_assert_int_eq(shape_status(ctx, 13, "Flatten", "x", "axis", 1, ax1), GRAFT_OK);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_ops_shape(void)
{
    Suite *s = suite_create("onnx_ops_shape");
    TCase *tc = tcase_create("shape");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_shape_subgraph_and_shape_ops);
    tcase_add_test(tc, test_shufflenet_split_shuffle_concat);
    tcase_add_test(tc, test_slice_two_axes_and_constant_split);
    tcase_add_test(tc, test_transpose_slice_split_refusals);
    tcase_add_test(tc, test_gather_of_activation);
    tcase_add_test(tc, test_shape_ops_refusals);
    suite_add_tcase(s, tc);
    return s;
}
