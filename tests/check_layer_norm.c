/* check_layer_norm.c - the layer_norm kind (src/layers/layer_layer_norm.c):
 * hand-computed values, groups of large offset, the linear kind sharing the
 * dense layer, constructor and build messages. Gradients, save/load and the
 * ONNX round trip are check_kinds.c's; PyTorch's values check_torch_refs.c's. */
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Rows {1, 2, 3, 4} and {-2, 0, 0, 2}: means 2.5 and 0, biased variances 1.25
 * and 2; with epsilon 1e-5, x - mean over sqrt(var + eps). */
START_TEST(test_layer_norm_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 1, 1e-5f, 1, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "layer_norm");
    const int64_t dims[2] = {2, 4};
    const float xv[] = {1, 2, 3, 4, -2, 0, 0, 2};
    graft_tensor *x = tu_tensor_from(ctx, 2, dims, xv);
    tu_build(l, 1, &x);
    /* weight {1, 2, 1, 1}, bias {0, 0, 0, 1} */
    graft_tensor *w = NULL, *b = NULL;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &w, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(l, 1, NULL, &b, NULL, NULL), GRAFT_OK);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(graft_tensor_data(w)[i], 1.0f); /* init */
    for (int i = 0; i < 4; i++) ck_assert_float_eq(graft_tensor_data(b)[i], 0.0f);
    graft_tensor_data(w)[1] = 2.0f;
    graft_tensor_data(b)[3] = 1.0f;
    const float *y = graft_tensor_data_const(tu_forward(l, 1, &x));
    float want[8];
    double s0 = sqrt(1.25 + 1e-5), s1 = sqrt(2.0 + 1e-5);
    for (int i = 0; i < 4; i++) want[i] = (float)((xv[i] - 2.5) / s0);
    for (int i = 0; i < 4; i++) want[4 + i] = (float)(xv[4 + i] / s1);
    want[1] *= 2;
    want[5] *= 2;
    want[3] += 1;
    want[7] += 1;
    tu_assert_close(y, want, 8, 1e-6f, 0, "layer_norm");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* A large common offset: two passes keep the variance (a one-pass
 * sum-of-squares in float would lose it). */
START_TEST(test_layer_norm_large_offset)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 1, 1e-5f, 0, &l), GRAFT_OK);
    const int64_t dims[2] = {1, 4};
    const float xv[] = {10000.0f, 10001.0f, 10002.0f, 10003.0f};
    graft_tensor *x = tu_tensor_from(ctx, 2, dims, xv);
    ck_assert_int_eq((tu_build(l, 1, &x), graft_layer_param_count(l)), 0);
    const float *y = graft_tensor_data_const(tu_forward(l, 1, &x));
    double s = sqrt(1.25 + 1e-5);
    const float want[4] = {(float)(-1.5 / s), (float)(-0.5 / s), (float)(0.5 / s),
                           (float)(1.5 / s)};
    tu_assert_close(y, want, 4, 1e-5f, 0, "layer_norm of offset values");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Over two axes of (N, 2, 3, 2): each sample's group of 6 per position of
 * axis 1 has mean 0 and variance 1 - eps effects. */
START_TEST(test_layer_norm_groups)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 2, 1e-6f, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 3, 2);
    tu_fill_uniform(x, 5, -4, 9);
    const float *y = graft_tensor_data_const(tu_forward(l, 1, &x));
    for (int g = 0; g < 6; g++) {
        double m = 0, v = 0;
        for (int i = 0; i < 6; i++) m += y[g * 6 + i];
        m /= 6;
        for (int i = 0; i < 6; i++) v += (y[g * 6 + i] - m) * (y[g * 6 + i] - m);
        ck_assert_double_eq_tol(m, 0.0, 1e-6);
        ck_assert_double_eq_tol(v / 6, 1.0, 1e-4);
    }
    graft_tensor *w = NULL;
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, &w, NULL, NULL), GRAFT_OK);
    const int64_t wd[2] = {3, 2};
    tu_assert_dims(w, 2, wd);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_layer_norm_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 0, 1e-5f, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_layer_norm(): axes is 0, must be 1 to 7");
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 1, 0.0f, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_layer_norm(): epsilon is 0, must be finite and > 0");
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 1, NAN, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 1, 1e-5f, 2, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_layer_norm(): affine is 2, must be 0 or 1");
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 1, 1e-5f, 1, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_layer_norm(NULL, 1, 1e-5f, 1, &l), GRAFT_E_INVALID_ARG);
    /* more axes than the input has besides the batch */
    ck_assert_int_eq(graft_layer_layer_norm(ctx, 3, 1e-5f, 1, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 3, 2, 4, 5);
    const graft_tensor *in[1] = {x};
    ck_assert_int_eq(graft_layer_build(l, 1, in, 1), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): layer_norm layer: it normalises the last 3 axes, and "
                     "the input has 2 besides the batch");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* graft_layer_linear: a dense layer applied per position of (N, L, F), the
 * same as graft_layer_dense on each (N, F) slice. */
START_TEST(test_linear_per_position)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *lin = NULL, *dense = NULL;
    ck_assert_int_eq(graft_layer_linear(ctx, 3, 1, &lin), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 3, 1, &dense), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(lin), "dense");
    graft_tensor *x = tu_tensor(ctx, 3, 2, 4, 5);
    tu_fill_uniform(x, 9, -1, 1);
    const graft_tensor *y = tu_forward(lin, 1, &x);
    const int64_t yd[3] = {2, 4, 3};
    tu_assert_dims(y, 3, yd);
    graft_tensor *slice = tu_tensor(ctx, 2, 2, 5);
    tu_build(dense, 1, &slice);
    for (int p = 0; p < 2; p++) {
        graft_tensor *src = NULL, *dst = NULL;
        ck_assert_int_eq(graft_layer_param(lin, p, NULL, &src, NULL, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_layer_param(dense, p, NULL, &dst, NULL, NULL), GRAFT_OK);
        memcpy(graft_tensor_data(dst), graft_tensor_data(src),
               graft_tensor_numel(src) * sizeof(float));
    }
    for (int t = 0; t < 4; t++) {
        for (int n = 0; n < 2; n++)
            memcpy(graft_tensor_data(slice) + n * 5, graft_tensor_data(x) + (n * 4 + t) * 5,
                   5 * sizeof(float));
        const float *ys = graft_tensor_data_const(tu_forward(dense, 1, &slice));
        for (int n = 0; n < 2; n++)
            tu_assert_close(graft_tensor_data_const(y) + (n * 4 + t) * 3, ys + n * 3, 3, 1e-6f,
                            1e-6f, "linear against dense per position");
    }
    tu_gradcheck_opts o = {0};
    ck_assert(tu_gradcheck(lin, 1, &x, &o) > 0);
    tu_check_roundtrip(lin, 1, &x);
    graft_layer_free(lin);
    graft_layer_free(dense);
    graft_tensor_free(x);
    graft_tensor_free(slice);
    graft_ctx_free(ctx);
}
END_TEST

/* A model of linear (per position), layer_norm with and without affine
 * parameters, matmul of two activations and softmax over the last axis,
 * exported at opsets 13 to 17 (LayerNormalization from 17, the
 * decomposition before) and imported back: the same layers and outputs. */
START_TEST(test_sequence_model_onnx_round_trip)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[2] = {4, 6};
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 2, dims, 7, &m), GRAFT_OK);
    graft_layer *l = NULL;
    const char *in[1] = {GRAFT_MODEL_INPUT}, *qk[2] = {"q", "kt"}, *av[2] = {"attn", "v"};
    ck_assert_int_eq(graft_model_add(m, "q", (graft_layer_linear(ctx, 4, 1, &l), l), 1, in),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "kt", (graft_layer_linear(ctx, 4, 0, &l), l), 1, in),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "scores", (graft_layer_matmul(ctx, &l), l), 2, qk),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "attn", (graft_layer_softmax_axis(ctx, -1, &l), l), 0,
                                     NULL),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "v", (graft_layer_layer_norm(ctx, 1, 1e-3f, 0, &l), l),
                                     1, in),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "out", (graft_layer_matmul(ctx, &l), l), 2, av),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "norm", (graft_layer_layer_norm(ctx, 2, 1e-5f, 1, &l), l),
                                     0, NULL),
                     GRAFT_OK);
    /* non-trivial affine parameters */
    graft_tensor *w = NULL;
    for (int p = 0; p < 2; p++) {
        ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 6), p, NULL, &w, NULL, NULL),
                         GRAFT_OK);
        tu_fill_uniform(w, 20 + p, 0.5f, 1.5f);
    }
    graft_tensor *x = tu_tensor(ctx, 3, 3, 4, 6);
    tu_fill_uniform(x, 11, -2, 2);
    const graft_tensor *y = NULL;
    ck_assert_int_eq(graft_model_forward(m, x, &y), GRAFT_OK);
    float want[72];
    ck_assert_uint_eq(graft_tensor_numel(y), 72);
    memcpy(want, graft_tensor_data_const(y), sizeof want);
    for (int opset = 13; opset <= 17; opset++) {
        graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
        eo.opset = opset;
        void *data = NULL;
        size_t size = 0;
        ck_assert_msg(graft_onnx_export_buffer(m, &eo, &data, &size) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        graft_onnx_import_opts io = GRAFT_ONNX_IMPORT_OPTS_INIT;
        io.keep_softmax = 1;
        graft_model *back = NULL;
        ck_assert_msg(graft_onnx_import_buffer(ctx, data, size, &io, &back) == GRAFT_OK,
                      "opset %d: %s", opset, graft_errmsg(ctx));
        graft_onnx_buffer_free(ctx, data);
        ck_assert_int_eq(graft_model_layer_count(back), 7);
        for (int i = 0; i < 7; i++) {
            ck_assert_str_eq(graft_model_layer_name(back, i), graft_model_layer_name(m, i));
            ck_assert_str_eq(graft_layer_kind(graft_model_layer(back, i)),
                             graft_layer_kind(graft_model_layer(m, i)));
        }
        ck_assert_int_eq(graft_model_forward(back, x, &y), GRAFT_OK);
        tu_assert_close(graft_tensor_data_const(y), want, 72, 1e-6f, 1e-5f, "round trip");
        graft_model_free(back);
    }
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_layer_norm(void)
{
    Suite *s = suite_create("layer_norm");
    TCase *tc = tcase_create("layer_norm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_layer_norm_hand_computed);
    tcase_add_test(tc, test_layer_norm_large_offset);
    tcase_add_test(tc, test_layer_norm_groups);
    tcase_add_test(tc, test_layer_norm_errors);
    tcase_add_test(tc, test_linear_per_position);
    tcase_add_test(tc, test_sequence_model_onnx_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
