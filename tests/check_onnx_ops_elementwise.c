/*
 * check_onnx_ops_elementwise.c - the ONNX importer's elementwise operators
 * (src/onnx/onnx_ops_elementwise.c): binary operators between computed
 * tensors (add and mul layers) and with constants that broadcast over them
 * (scale_shift layers), the unary ones, Sum, folding on constants, and the
 * combinations graft refuses.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "graft_onnx_import_buffer(): "

START_TEST(test_elementwise)
{
    graft_ctx *ctx = tu_ctx();
    /* A residual block: r = relu(x); y = (r + x) * gate, gate = sigmoid of
     * the channel means (N, C, 1, 1), then (y - 1) / 2 with constants. */
    const int64_t xd[4] = {-1, 2, 1, 2}, one[1] = {1};
    const float cone = 1.0f, ctwo = 2.0f;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 4, xd);
    tu_mb_init(&b, "one", 1, one, &cone);
    tu_mb_init(&b, "two", 1, one, &ctwo);
    tu_mb_simple(&b, "Relu", "relu", "x", "r");
    tu_mb_simple(&b, "Add", "res", "r,x", "s");
    tu_mb_simple(&b, "GlobalAveragePool", "gap", "x", "g");
    tu_mb_simple(&b, "Sigmoid", "gate", "g", "gs");
    tu_mb_simple(&b, "Mul", "scale", "s,gs", "t");
    tu_mb_simple(&b, "Sub", "minus", "t,one", "u");
    tu_mb_simple(&b, "Div", "half", "u,two", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"relu", "add", "global_avg_pool", "sigmoid", "mul",
                                        "scale_shift", "scale_shift"};
    tu_assert_kinds(m, kinds, 7);
    const float x[4] = {1, -3, 2, 4};
    const int64_t xs[4] = {1, 2, 1, 2};
    float y[4];
    tu_onnx_run(m, ctx, 4, xs, x, y, 4);
    for (int k = 0; k < 4; k++) {
        double mean = k < 2 ? -1.0 : 3.0, gate = 1 / (1 + exp(-mean));
        double s = (x[k] > 0 ? x[k] : 0) + x[k];
        ck_assert_float_eq_tol(y[k], (s * gate - 1) / 2, 1e-6);
    }
    graft_model_free(m);
    tu_mb_free(&b);

    /* Constant minus tensor, per-channel constants (1, C, 1) and Sum. */
    const int64_t x3[3] = {-1, 2, 3}, cd[3] = {1, 2, 1};
    const float cv[2] = {10, 20};
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 3, x3);
    tu_mb_init(&b, "c", 3, cd, cv);
    tu_mb_simple(&b, "Sub", "rsub", "c,x", "a");
    tu_mb_simple(&b, "Sum", "sum", "a,x,a", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds2[] = {"scale_shift", "add"};
    tu_assert_kinds(m, kinds2, 2);
    const float x6[6] = {1, 2, 3, 4, 5, 6};
    const int64_t x6s[3] = {1, 2, 3};
    float y6[6];
    tu_onnx_run(m, ctx, 3, x6s, x6, y6, 6);
    /* 2 * (c - x) + x = 2c - x */
    const float want6[6] = {19, 18, 17, 36, 35, 34};
    tu_assert_close(y6, want6, 6, 1e-6f, 0, "rsub + sum");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* Elementwise operators on constants are evaluated at import: Sqrt, Add and
 * Neg of initializers give the constant -11, which Mul applies to the
 * computed tensor as one scale_shift layer; Max of one input is that
 * input. */
START_TEST(test_elementwise_on_constants_folds)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 3}, one[1] = {1};
    const float four = 4, nine = 9;
    tu_mb b;
    tu_mb_begin(&b, ctx, 13);
    tu_mb_input(&b, "x", 2, xd);
    tu_mb_init(&b, "four", 1, one, &four);
    tu_mb_init(&b, "nine", 1, one, &nine);
    tu_mb_simple(&b, "Sqrt", "root", "four", "two");
    tu_mb_simple(&b, "Add", "plus", "two,nine", "eleven");
    tu_mb_simple(&b, "Neg", "minus", "eleven", "k");
    tu_mb_simple(&b, "Mul", "scale", "x,k", "y0");
    tu_mb_simple(&b, "Max", "same", "y0", "y");
    tu_mb_output(&b, "y");
    tu_mb_finish(&b);
    graft_model *m = tu_onnx_import_ok(&b, NULL);
    static const char *const kinds[] = {"scale_shift"};
    tu_assert_kinds(m, kinds, 1);
    ck_assert_str_eq(graft_model_layer_name(m, 0), "scale");
    const float x[3] = {1, -0.5f, 2}, want[3] = {-11, 5.5f, -22};
    float y[3];
    const int64_t xs[2] = {1, 3};
    tu_onnx_run(m, ctx, 2, xs, x, y, 3);
    tu_assert_close(y, want, 3, 0, 0, "x * -(sqrt(4) + 9)");
    graft_model_free(m);
    tu_mb_free(&b);
    graft_ctx_free(ctx);
}
END_TEST

/* y = op(ins) where x is the graph input (N, 2, 3), r = Relu(x), u =
 * Unsqueeze(x) (N, 2, 3, 1) and c an initializer of shape cdims: the import
 * status (the model, on success, freed). */
static int binary_status(graft_ctx *ctx, const char *op, const char *ins, int cndim,
                         const int64_t *cdims)
{
    const int64_t xd[3] = {-1, 2, 3}, ax[1] = {3};
    const float cv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    tu_mb b;
    tu_mb_begin(&b, ctx, 11);
    tu_mb_input(&b, "x", 3, xd);
    tu_mb_init(&b, "c", cndim, cdims, cv);
    size_t n = tu_mb_node(&b, "Unsqueeze", "u", "x", "u");
    tu_mb_attr_ints(&b, "axes", 1, ax);
    tu_mb_end(&b, n);
    tu_mb_simple(&b, "Relu", "r", "x", "r");
    tu_mb_simple(&b, op, "op", ins, "y");
    tu_mb_output(&b, "y");
    return tu_onnx_status(&b);
}

START_TEST(test_elementwise_refusals)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t c1[1] = {1}, c4[1] = {4}, c1123[4] = {1, 1, 2, 3};
    /* Operators other than the four arithmetic ones, on computed tensors. */
    ck_assert_int_eq(tu_onnx_refused(ctx, 13, "Exp", NULL, NULL), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node #1 (Exp): graft computes this operator only on constants, and an "
                        "input here is computed from the graph input");
    ck_assert_int_eq(binary_status(ctx, "Pow", "x,c", 1, c1), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Pow): graft computes this operator only on constants, and "
                        "an input here is computed from the graph input");
    /* Two computed tensors: add needs one shape, mul one rank; sub and div
     * need a constant. */
    ck_assert_int_eq(binary_status(ctx, "Add", "x,u", 1, c1), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Add): it adds computed tensors of shapes (N, 2, 3) and "
                        "(N, 2, 3, 1); graft's add layer needs one shape");
    ck_assert_int_eq(binary_status(ctx, "Mul", "x,u", 1, c1), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Mul): it multiplies computed tensors of ranks 3 and 4; "
                        "graft's mul layer needs one rank");
    ck_assert_int_eq(binary_status(ctx, "Sub", "x,r", 1, c1), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Sub): graft subtracts or divides only by a constant, and "
                        "both inputs are computed");
    ck_assert_int_eq(binary_status(ctx, "Div", "c,x", 1, c1), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"op\" (Div): graft divides only by a constant, "
                                           "and the divisor is computed");
    /* Constants that do not broadcast over the computed tensor. */
    ck_assert_int_eq(binary_status(ctx, "Add", "x,c", 1, c4), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Add): the constant (4) does not broadcast over the "
                        "computed tensor (N, 2, 3) without growing it");
    ck_assert_int_eq(binary_status(ctx, "Mul", "x,c", 4, c1123), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx), FN "node \"op\" (Mul): the constant (1, 1, 2, 3) has more "
                                           "axes than the computed tensor (N, 2, 3)");
    /* Sum adds computed tensors only. */
    ck_assert_int_eq(binary_status(ctx, "Sum", "c,c", 1, c1), GRAFT_E_UNSUPPORTED);
    ck_assert_str_eq(graft_errmsg(ctx),
                     FN "node \"op\" (Sum): it sums constants; graft sums computed tensors");
    /* And what works with the same builder: a constant that broadcasts. */
    ck_assert_int_eq(binary_status(ctx, "Div", "x,c", 1, c1), GRAFT_OK);
    ck_assert_int_eq(binary_status(ctx, "Mul", "r,x", 1, c1), GRAFT_OK);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_ops_elementwise(void)
{
    Suite *s = suite_create("onnx_ops_elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_elementwise);
    tcase_add_test(tc, test_elementwise_on_constants_folds);
    tcase_add_test(tc, test_elementwise_refusals);
    suite_add_tcase(s, tc);
    return s;
}
