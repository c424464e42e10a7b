/*
 * check_onnx_ops_elementwise.c - the ONNX importer's elementwise operators
 * (src/onnx/onnx_ops_elementwise.c): binary operators between computed
 * tensors (add and mul layers) and with constants that broadcast over them
 * (scale_shift layers), the unary ones, Sum, folding on constants, the
 * combinations graft refuses, and the chains imported as one activation
 * (silu, hard_sigmoid, hard_swish, gelu).
 */
#include "testutil.h"
#include "layers/layer.h"
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

/* ---- chains folded into one activation ------------------------------------------- */

/* A node of a fold case: op over ins (comma-separated) into out, the node
 * named after out. Special ops: "Init" (an initializer out = v), "Const" (a
 * Constant node with a scalar tensor "value" v, where it stands in the
 * list), "ConstF" (the same with value_float), "ClipAttr" (Clip of ins with
 * attributes min 0 and max v). */
typedef struct fold_node {
    const char *op, *ins, *out;
    float v;
} fold_node;

enum { R_SILU, R_HSIG, R_HSWISH, R_GELU, R_GELU_TANH, R_GELU_TANH2, R_SILU_PLUS_GATE,
       R_RELU_TIMES_SIG, R_HSWISH5 };

typedef struct fold_case {
    const char *what;
    int opset;
    const char *kinds; /* the layers expected, comma-separated */
    const char *name;  /* the folded layer's name, or NULL */
    int ref;           /* R_*: what the graph computes */
    fold_node nodes[16];
} fold_case;

#define SQRT2 1.41421356f
#define RSQRT2 0.70710678f

static const fold_case fold_cases[] = {
    {"silu", 13, "silu", "y", R_SILU,
     {{"Sigmoid", "x", "s", 0}, {"Mul", "x,s", "y", 0}}},
    {"silu, operands swapped", 13, "silu", "y", R_SILU,
     {{"Sigmoid", "x", "s", 0}, {"Mul", "s,x", "y", 0}}},
    {"silu whose gate is read twice", 13, "sigmoid,mul,add", NULL, R_SILU_PLUS_GATE,
     {{"Sigmoid", "x", "s", 0}, {"Mul", "x,s", "t", 0}, {"Add", "t,s", "y", 0}}},
    {"a gate times another tensor", 13, "sigmoid,relu,mul", NULL, R_RELU_TIMES_SIG,
     {{"Sigmoid", "x", "s", 0}, {"Relu", "x", "r", 0}, {"Mul", "r,s", "y", 0}}},
    /* PyTorch's x * F.relu6(x + 3) / 6 at opset 13: Constant nodes before
     * the node that reads them, so after the Add the chain starts from */
    {"hard_swish, Mul then Div", 13, "hard_swish", "y", R_HSWISH,
     {{"Const", "", "three", 3}, {"Add", "x,three", "a", 0}, {"Const", "", "lo", 0},
      {"Const", "", "hi", 6}, {"Clip", "a,lo,hi", "c", 0}, {"Mul", "x,c", "m", 0},
      {"ConstF", "", "six", 6}, {"Div", "m,six", "y", 0}}},
    {"hard_swish, Div then Mul, initializers", 13, "hard_swish", "y", R_HSWISH,
     {{"Init", "", "three", 3}, {"Init", "", "lo", 0}, {"Init", "", "hi", 6},
      {"Init", "", "six", 6}, {"Add", "three,x", "a", 0}, {"Clip", "a,lo,hi", "c", 0},
      {"Div", "c,six", "h", 0}, {"Mul", "h,x", "y", 0}}},
    {"hard_swish, times 1/6, Clip attributes", 10, "hard_swish", "y", R_HSWISH,
     {{"Init", "", "three", 3}, {"Init", "", "sixth", 1.0f / 6.0f}, {"Add", "x,three", "a", 0},
      {"ClipAttr", "a", "c", 6}, {"Mul", "c,x", "m", 0}, {"Mul", "sixth,m", "y", 0}}},
    {"hard_sigmoid", 13, "hard_sigmoid", "y", R_HSIG,
     {{"Init", "", "three", 3}, {"Init", "", "lo", 0}, {"Init", "", "hi", 6},
      {"Init", "", "six", 6}, {"Add", "x,three", "a", 0}, {"Clip", "a,lo,hi", "c", 0},
      {"Div", "c,six", "y", 0}}},
    {"relu6 to 5: not hard_swish", 13, "scale_shift,clip,mul,scale_shift", NULL, R_HSWISH5,
     {{"Init", "", "three", 3}, {"Init", "", "lo", 0}, {"Init", "", "hi", 5},
      {"Init", "", "six", 6}, {"Add", "x,three", "a", 0}, {"Clip", "a,lo,hi", "c", 0},
      {"Mul", "x,c", "m", 0}, {"Div", "m,six", "y", 0}}},
    /* PyTorch's nn.GELU() at opset 13 */
    {"gelu", 13, "gelu", "y", R_GELU,
     {{"Const", "", "sqrt2", SQRT2}, {"Div", "x,sqrt2", "a", 0}, {"Erf", "a", "e", 0},
      {"Const", "", "one", 1}, {"Add", "e,one", "p", 0}, {"Mul", "x,p", "q", 0},
      {"Const", "", "half", 0.5f}, {"Mul", "q,half", "y", 0}}},
    {"gelu, times 1/sqrt(2), half before x", 13, "gelu", "y", R_GELU,
     {{"Init", "", "rsqrt2", RSQRT2}, {"Init", "", "one", 1}, {"Init", "", "half", 0.5f},
      {"Mul", "rsqrt2,x", "a", 0}, {"Erf", "a", "e", 0}, {"Add", "one,e", "p", 0},
      {"Mul", "half,p", "q", 0}, {"Mul", "q,x", "y", 0}}},
    /* nn.GELU(approximate="tanh") at opset 13, and the same with the
     * operands of every Mul and Add swapped */
    {"gelu tanh", 13, "gelu", "y", R_GELU_TANH,
     {{"Mul", "x,x", "x2", 0}, {"Mul", "x,x2", "x3", 0}, {"Const", "", "k", 0.044715f},
      {"Mul", "k,x3", "kx3", 0}, {"Add", "x,kx3", "s", 0}, {"Const", "", "b", 0.7978846f},
      {"Mul", "b,s", "u", 0}, {"Tanh", "u", "t", 0}, {"Const", "", "one", 1},
      {"Add", "one,t", "p", 0}, {"Mul", "x,p", "q", 0}, {"Const", "", "half", 0.5f},
      {"Mul", "half,q", "y", 0}}},
    {"gelu tanh, swapped", 13, "gelu", "y", R_GELU_TANH,
     {{"Init", "", "k", 0.044715f}, {"Init", "", "b", 0.7978846f}, {"Init", "", "one", 1},
      {"Init", "", "half", 0.5f}, {"Mul", "x,x", "x2", 0}, {"Mul", "x2,x", "x3", 0},
      {"Mul", "x3,k", "kx3", 0}, {"Add", "kx3,x", "s", 0}, {"Mul", "s,b", "u", 0},
      {"Tanh", "u", "t", 0}, {"Add", "t,one", "p", 0}, {"Mul", "p,half", "q", 0},
      {"Mul", "q,x", "y", 0}}},
    {"tanh chain with another kappa", 13, "mul,mul,scale_shift,add,scale_shift,tanh,"
     "scale_shift,mul,scale_shift", NULL, R_GELU_TANH2,
     {{"Init", "", "k", 0.05f}, {"Init", "", "b", 0.7978846f}, {"Init", "", "one", 1},
      {"Init", "", "half", 0.5f}, {"Mul", "x,x", "x2", 0}, {"Mul", "x2,x", "x3", 0},
      {"Mul", "x3,k", "kx3", 0}, {"Add", "kx3,x", "s", 0}, {"Mul", "s,b", "u", 0},
      {"Tanh", "u", "t", 0}, {"Add", "t,one", "p", 0}, {"Mul", "p,x", "q", 0},
      {"Mul", "q,half", "y", 0}}},
};

static double fold_ref(int ref, double v)
{
    double sig = 1.0 / (1.0 + exp(-v)), hs = fmin(fmax(v + 3.0, 0.0), 6.0) / 6.0;
    switch (ref) {
    case R_SILU: return v * sig;
    case R_HSIG: return hs;
    case R_HSWISH: return v * hs;
    case R_GELU: return v * 0.5 * (1.0 + erf(v / sqrt(2.0)));
    case R_GELU_TANH: /* the constants as float32 holds them */
        return 0.5 * v * (1.0 + tanh((double)0.7978846f * (v + (double)0.044715f * v * v * v)));
    case R_GELU_TANH2:
        return 0.5 * v * (1.0 + tanh((double)0.7978846f * (v + (double)0.05f * v * v * v)));
    case R_SILU_PLUS_GATE: return v * sig + sig;
    case R_RELU_TIMES_SIG: return fmax(v, 0.0) * sig;
    default: return v * fmin(fmax(v + 3.0, 0.0), 5.0) / 6.0;
    }
}

/* Builds a fold case's graph over x (N, 8) with output y. */
static void fold_build(tu_mb *b, graft_ctx *ctx, const fold_case *fc)
{
    const int64_t xd[2] = {-1, 8};
    tu_mb_begin(b, ctx, fc->opset);
    tu_mb_input(b, "x", 2, xd);
    for (const fold_node *n = fc->nodes; n->op; n++)
        if (strcmp(n->op, "Init") == 0) tu_mb_init(b, n->out, 0, NULL, &n->v);
    for (const fold_node *n = fc->nodes; n->op; n++) {
        if (strcmp(n->op, "Init") == 0) continue;
        if (strcmp(n->op, "Const") == 0 || strcmp(n->op, "ConstF") == 0) {
            size_t pos = tu_mb_node(b, "Constant", n->out, "", n->out);
            if (n->op[5]) tu_mb_attr_f(b, "value_float", n->v);
            else tu_mb_attr_tensor_f(b, "value", 0, NULL, &n->v);
            tu_mb_end(b, pos);
        } else if (strcmp(n->op, "ClipAttr") == 0) {
            size_t pos = tu_mb_node(b, "Clip", n->out, n->ins, n->out);
            tu_mb_attr_f(b, "min", 0.0f);
            tu_mb_attr_f(b, "max", n->v);
            tu_mb_end(b, pos);
        } else {
            tu_mb_simple(b, n->op, n->out, n->ins, n->out);
        }
    }
    tu_mb_output(b, "y");
    tu_mb_finish(b);
}

/* Each chain is imported as the layers expected (one activation named after
 * the chain's last node where it folds) and computes the function written
 * out, to 1e-6. */
START_TEST(test_folded_activations)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xs[2] = {2, 8};
    float x[16], y[16];
    for (int k = 0; k < 16; k++) x[k] = -7.3f + 0.97f * (float)k; /* -7.3 .. 7.25 */
    for (size_t c = 0; c < sizeof fold_cases / sizeof fold_cases[0]; c++) {
        const fold_case *fc = &fold_cases[c];
        tu_mb b;
        fold_build(&b, ctx, fc);
        graft_model *m = tu_onnx_import_ok(&b, NULL);
        char kinds[128];
        const char *want[12];
        int n = 0;
        snprintf(kinds, sizeof kinds, "%s", fc->kinds);
        for (char *t = strtok(kinds, ","); t && n < 12; t = strtok(NULL, ",")) want[n++] = t;
        ck_assert_msg(graft_model_layer_count(m) == n, "%s: %d layers", fc->what,
                      graft_model_layer_count(m));
        tu_assert_kinds(m, want, n);
        if (fc->name) ck_assert_str_eq(graft_model_layer_name(m, 0), fc->name);
        tu_onnx_run(m, ctx, 2, xs, x, y, 16);
        for (int k = 0; k < 16; k++) {
            double r = fold_ref(fc->ref, x[k]);
            ck_assert_msg(fabs(y[k] - r) <= 1e-6 + 1e-6 * fabs(r), "%s: x %g gives %g, want %g",
                          fc->what, (double)x[k], (double)y[k], r);
        }
        graft_model_free(m);
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* A gelu chain whose Erf output is also read elsewhere is not folded, and
 * graft has no Erf layer: refused, naming the node. A constant a little off
 * (1.4142 for sqrt(2), 1e-4 relative) is not folded either. */
START_TEST(test_folded_activations_not_folded)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[2] = {-1, 8};
    for (int variant = 0; variant < 2; variant++) {
        const float sqrt2 = variant ? 1.4142f : SQRT2, one = 1, half = 0.5f;
        tu_mb b;
        tu_mb_begin(&b, ctx, 13);
        tu_mb_input(&b, "x", 2, xd);
        tu_mb_init(&b, "sqrt2", 0, NULL, &sqrt2);
        tu_mb_init(&b, "one", 0, NULL, &one);
        tu_mb_init(&b, "half", 0, NULL, &half);
        tu_mb_simple(&b, "Div", "a", "x,sqrt2", "a");
        tu_mb_simple(&b, "Erf", "e", "a", "e");
        tu_mb_simple(&b, "Add", "p", "e,one", "p");
        tu_mb_simple(&b, "Mul", "q", "x,p", "q");
        tu_mb_simple(&b, "Mul", "g", "q,half", "g");
        tu_mb_simple(&b, "Add", "y", variant ? "g,g" : "g,e", "y");
        tu_mb_output(&b, "y");
        tu_mb_finish(&b);
        graft_model *m = NULL;
        ck_assert_int_eq(tu_onnx_try_import(&b, NULL, &m), GRAFT_E_UNSUPPORTED);
        ck_assert_ptr_null(m);
        ck_assert_str_eq(graft_errmsg(ctx),
                         FN "node \"e\" (Erf): graft does not support the operator Erf; 4 "
                            "later nodes that read its outputs were not checked");
        tu_mb_free(&b);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* graft's own export of gelu (both forms) and silu, at opsets 13 and 17,
 * imports back as the one layer with the same form and values. */
START_TEST(test_folded_activations_round_trip)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[1] = {8}, xs[2] = {2, 8};
    float x[16], y0[16], y1[16];
    for (int k = 0; k < 16; k++) x[k] = -5.1f + 0.67f * (float)k;
    for (int which = 0; which < 3; which++) {
        for (int opset = 13; opset <= 17; opset += 4) {
            graft_model *m = NULL, *m2 = NULL;
            graft_layer *l = NULL;
            ck_assert_int_eq(graft_model_create(ctx, 1, dims, 1, &m), GRAFT_OK);
            int st = which == 0 ? graft_layer_silu(ctx, &l)
                                : graft_layer_gelu(ctx, which == 1 ? GRAFT_GELU_ERF
                                                                   : GRAFT_GELU_TANH, &l);
            ck_assert_int_eq(st, GRAFT_OK);
            ck_assert_int_eq(graft_model_add(m, "act", l, 0, NULL), GRAFT_OK);
            graft_onnx_export_opts o = GRAFT_ONNX_EXPORT_OPTS_INIT;
            o.opset = opset;
            void *data = NULL;
            size_t size = 0;
            ck_assert_msg(graft_onnx_export_buffer(m, &o, &data, &size) == GRAFT_OK, "%s",
                          graft_errmsg(ctx));
            ck_assert_msg(graft_onnx_import_buffer(ctx, data, size, NULL, &m2) == GRAFT_OK, "%s",
                          graft_errmsg(ctx));
            ck_assert_int_eq(graft_model_layer_count(m2), 1);
            const graft_layer *l2 = graft_model_layer(m2, 0);
            ck_assert_str_eq(graft_layer_kind(l2), which == 0 ? "silu" : "gelu");
            ck_assert_str_eq(graft_model_layer_name(m2, 0), "act");
            if (which > 0) {
                int64_t a = -1;
                ck_assert_int_eq(graftLayerAttrInts(l2, "approximate", &a, 1), 1);
                ck_assert_int_eq(a, which == 1 ? GRAFT_GELU_ERF : GRAFT_GELU_TANH);
            }
            tu_onnx_run(m, ctx, 2, xs, x, y0, 16);
            tu_onnx_run(m2, ctx, 2, xs, x, y1, 16);
            tu_assert_close(y1, y0, 16, 0, 0, "round trip");
            graft_onnx_buffer_free(ctx, data);
            graft_model_free(m2);
            graft_model_free(m);
        }
    }
    graft_ctx_free(ctx);
}
END_TEST

/* PyTorch's own exports (tests/make_onnx_fixtures.py, torch.onnx.export at
 * opset 13: Conv, the activation, Conv): each activation is imported as one
 * layer of its kind between the two convolutions, and the output equals
 * PyTorch's to 1e-5 (|graft - torch| <= 1e-5 * |torch| + 1e-5). */
START_TEST(test_folded_activations_from_pytorch)
{
    static const struct {
        const char *name, *kind;
    } nets[] = {
        {"act_hardswish", "hard_swish"},
        {"act_hardswish_clamp", "hard_swish"},
        {"act_hardsigmoid_clamp", "hard_sigmoid"},
        {"act_silu", "silu"},
        {"act_gelu", "gelu"},
        {"act_gelu_tanh", "gelu"},
    };
    graft_ctx *ctx = tu_ctx();
    for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
        char path[256];
        graft_model *m = NULL;
        snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.onnx", nets[k].name);
        ck_assert_msg(graft_onnx_import(ctx, path, NULL, &m) == GRAFT_OK, "%s: %s", path,
                      graft_errmsg(ctx));
        const char *const kinds[3] = {"conv2d", nets[k].kind, "conv2d"};
        tu_assert_kinds(m, kinds, 3);
        if (strcmp(nets[k].kind, "gelu") == 0) {
            int64_t a = -1;
            ck_assert_int_eq(graftLayerAttrInts(graft_model_layer(m, 1), "approximate", &a, 1), 1);
            ck_assert_int_eq(a, strstr(nets[k].name, "tanh") ? GRAFT_GELU_TANH : GRAFT_GELU_ERF);
        }
        if (strcmp(nets[k].kind, "hard_sigmoid") == 0) {
            float a[1] = {0}, b[1] = {0};
            const graft_layer *l = graft_model_layer(m, 1);
            ck_assert_int_eq(graftLayerAttrFloats(l, "alpha", a, 1), 1);
            ck_assert_int_eq(graftLayerAttrFloats(l, "beta", b, 1), 1);
            ck_assert_float_eq_tol(a[0], 1.0f / 6.0f, 1e-9f);
            ck_assert_float_eq(b[0], 0.5f);
        }
        snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.input.pb", nets[k].name);
        graft_tensor *x = tu_onnx_read_tensor(ctx, path);
        snprintf(path, sizeof path, GRAFT_TEST_DATA "/onnx/%s.output.pb", nets[k].name);
        graft_tensor *want = tu_onnx_read_tensor(ctx, path);
        const graft_tensor *y = NULL;
        ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
        ck_assert_uint_eq(graft_tensor_numel(y), graft_tensor_numel(want));
        tu_assert_close(graft_tensor_data_const(y), graft_tensor_data_const(want),
                        graft_tensor_numel(want), 1e-5f, 1e-5f, nets[k].name);
        graft_tensor_free(x);
        graft_tensor_free(want);
        graft_model_free(m);
    }
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
    tc = tcase_create("folded_activations");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_folded_activations);
    tcase_add_test(tc, test_folded_activations_not_folded);
    tcase_add_test(tc, test_folded_activations_from_pytorch);
    tcase_add_test(tc, test_folded_activations_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
