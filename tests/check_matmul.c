/* check_matmul.c - the matmul kind (src/layers/layer_matmul.c): a
 * hand-computed product, broadcasting of the leading axes against products
 * of the repeated matrices, BLAS against the reference GEMM, and the build
 * messages. Gradients, save/load and the ONNX round trip are
 * check_kinds.c's; PyTorch's values check_torch_refs.c's. */
#include "testutil.h"

#include <string.h>

START_TEST(test_matmul_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_matmul(ctx, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "matmul");
    /* (1, 2, 3) times (1, 3, 2):
       [1 2 3; 4 5 6] [1 0; 0 1; 2 -1] = [7 -1; 16 -1] */
    const int64_t da[3] = {1, 2, 3}, db[3] = {1, 3, 2}, dy[3] = {1, 2, 2};
    const float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {1, 0, 0, 1, 2, -1};
    graft_tensor *x[2] = {tu_tensor_from(ctx, 3, da, av), tu_tensor_from(ctx, 3, db, bv)};
    const graft_tensor *y = tu_forward(l, 2, x);
    tu_assert_dims(y, 3, dy);
    const float want[] = {7, -1, 16, -1};
    tu_assert_close(graft_tensor_data_const(y), want, 4, 0, 0, "matmul");
    graft_layer_free(l);
    graft_tensor_free(x[0]);
    graft_tensor_free(x[1]);
    graft_ctx_free(ctx);
}
END_TEST

/* (2, 1, 3, 4) times (2, 5, 4, 2): A's one matrix per sample serves the 5
 * of B; each output matrix equals the product of its slices, and A's
 * gradient sums over the 5. */
START_TEST(test_matmul_broadcast)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL, *one = NULL;
    ck_assert_int_eq(graft_layer_matmul(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_matmul(ctx, &one), GRAFT_OK);
    graft_tensor *x[2] = {tu_tensor(ctx, 4, 2, 1, 3, 4), tu_tensor(ctx, 4, 2, 5, 4, 2)};
    tu_fill_uniform(x[0], 3, -1, 1);
    tu_fill_uniform(x[1], 4, -1, 1);
    const graft_tensor *y = tu_forward(l, 2, x);
    const int64_t yd[4] = {2, 5, 3, 2};
    tu_assert_dims(y, 4, yd);
    graft_tensor *s[2] = {tu_tensor(ctx, 3, 1, 3, 4), tu_tensor(ctx, 3, 1, 4, 2)};
    for (int n = 0; n < 2; n++)
        for (int t = 0; t < 5; t++) {
            memcpy(graft_tensor_data(s[0]), graft_tensor_data(x[0]) + n * 12, 12 * sizeof(float));
            memcpy(graft_tensor_data(s[1]), graft_tensor_data(x[1]) + (n * 5 + t) * 8,
                   8 * sizeof(float));
            const float *ys = graft_tensor_data_const(tu_forward(one, 2, s));
            tu_assert_close(graft_tensor_data_const(y) + (n * 5 + t) * 6, ys, 6, 1e-6f, 1e-6f,
                            "a broadcast product");
        }
    tu_gradcheck_opts o = {0};
    ck_assert(tu_gradcheck(l, 2, x, &o) > 0);
    tu_check_blas_vs_reference(l, 2, x, 1e-5f);
    graft_layer_free(l);
    graft_layer_free(one);
    for (int i = 0; i < 2; i++) {
        graft_tensor_free(x[i]);
        graft_tensor_free(s[i]);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_matmul_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_matmul(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_matmul(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_matmul(ctx, &l), GRAFT_OK);
    struct {
        int64_t a[4], b[4];
        int ra, rb;
        const char *msg;
    } cases[] = {
        {{2, 3, 4}, {2, 5, 2}, 3, 3, "(N, 3, 4) and (N, 5, 2)"},
        {{2, 3, 4}, {2, 2, 4, 2}, 3, 4, "(N, 3, 4) and (N, 2, 4, 2)"},
        {{2, 3, 3, 4}, {2, 2, 4, 2}, 4, 4, "(N, 3, 3, 4) and (N, 2, 4, 2)"},
        {{2, 4}, {2, 4}, 2, 2, "(N, 4) and (N, 4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        graft_tensor *a = NULL, *b = NULL;
        ck_assert_int_eq(graft_tensor_create(ctx, cases[i].ra, cases[i].a, &a), GRAFT_OK);
        ck_assert_int_eq(graft_tensor_create(ctx, cases[i].rb, cases[i].b, &b), GRAFT_OK);
        const graft_tensor *in[2] = {a, b};
        ck_assert_int_eq(graft_layer_build(l, 2, in, 1), GRAFT_E_SHAPE);
        char want[300];
        snprintf(want, sizeof want,
                 "graft_layer_build(): matmul layer: inputs of shapes %s do not multiply (same "
                 "rank >= 3, (..., M, K) times (..., K, P), leading sizes equal or 1)",
                 cases[i].msg);
        ck_assert_str_eq(graft_errmsg(ctx), want);
        graft_tensor_free(a);
        graft_tensor_free(b);
    }
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

/* An attention block trains: (N, 8, 8) sequences whose class is the sign
 * of the sum of their first column, through linear -> matmul(q, x) ->
 * softmax(-1) -> matmul(attn, x) -> layer_norm -> flatten -> dense. The
 * model input is read by three layers (its gradients add up). In 40 epochs
 * of Adam the loss must fall below 0.4 of its start and the training
 * accuracy pass 0.85 (it reaches 0.26 of 1.07 and 0.90 here). */
START_TEST(test_attention_block_trains)
{
    graft_ctx *ctx = tu_ctx();
    enum { COUNT = 240, L = 8 };
    static float feats[COUNT * L * L];
    static int32_t labels[COUNT];
    graft_tensor *all = tu_tensor(ctx, 1, COUNT * L * L);
    tu_fill_uniform(all, 123, -1, 1);
    memcpy(feats, graft_tensor_data(all), sizeof feats);
    graft_tensor_free(all);
    for (int n = 0; n < COUNT; n++) {
        double s = 0;
        for (int r = 0; r < L; r++) s += feats[(n * L + r) * L];
        labels[n] = s > 0;
    }
    const int64_t dims[2] = {L, L};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, COUNT, 2, dims, feats, labels, 2, 1, &ds),
                     GRAFT_OK);
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 2, dims, 3, &m), GRAFT_OK);
    graft_layer *l = NULL;
    const char *in[1] = {GRAFT_MODEL_INPUT}, *qx[2] = {"q", GRAFT_MODEL_INPUT},
               *ax[2] = {"attn", GRAFT_MODEL_INPUT};
    ck_assert_int_eq(graft_model_add(m, "q", (graft_layer_linear(ctx, L, 1, &l), l), 1, in),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "scores", (graft_layer_matmul(ctx, &l), l), 2, qx),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "attn", (graft_layer_softmax_axis(ctx, -1, &l), l), 0,
                                     NULL),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "mix", (graft_layer_matmul(ctx, &l), l), 2, ax),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "norm", (graft_layer_layer_norm(ctx, 1, 1e-5f, 1, &l), l),
                                     0, NULL),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", (graft_layer_flatten(ctx, &l), l), 0, NULL),
                     GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", (graft_layer_dense(ctx, 2, 1, &l), l), 0, NULL),
                     GRAFT_OK);
    graft_eval *ev = NULL;
    ck_assert_int_eq(graft_model_evaluate(m, ds, 32, 1, &ev), GRAFT_OK);
    double before = graft_eval_get(ev, GRAFT_EVAL_LOSS);
    graft_eval_free(ev);
    graft_optim *o = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), GRAFT_OK);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 40;
    fo.batch_size = 16;
    fo.seed = 5;
    ck_assert_msg(graft_model_fit(m, o, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_evaluate(m, ds, 32, 1, &ev), GRAFT_OK);
    double after = graft_eval_get(ev, GRAFT_EVAL_LOSS), acc = graft_eval_get(ev, GRAFT_EVAL_ACCURACY);
    graft_eval_free(ev);
    ck_assert_msg(after < 0.4 * before && acc > 0.85, "loss %g -> %g, accuracy %g", before, after,
                  acc);
    graft_optim_free(o);
    graft_model_free(m);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_matmul(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("matmul");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_matmul_hand_computed);
    tcase_add_test(tc, test_matmul_broadcast);
    tcase_add_test(tc, test_matmul_errors);
    tcase_add_test(tc, test_attention_block_trains);
    suite_add_tcase(s, tc);
    return s;
}
