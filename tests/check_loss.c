/* check_loss.c - softmax cross-entropy and mean squared error. */
#include "testutil.h"

#include <math.h>
#include <string.h>

static graft_tensor *tensor2(graft_ctx *ctx, int64_t n, int64_t c, const float *v)
{
    const int64_t d[2] = {n, c};
    return tu_tensor_from(ctx, 2, d, v);
}

/* ---- softmax cross-entropy: values ---------------------------------------- */

/* Two samples, two classes, labels {1, 1}:
 *   row 0 = [0, ln 3]: softmax = [1, 3] / 4 = [1/4, 3/4], loss_0 = -ln(3/4) = ln(4/3)
 *   row 1 = [ln 3, 0]: softmax = [3/4, 1/4],              loss_1 = -ln(1/4) = ln 4
 *   mean loss = (ln(4/3) + ln 4) / 2 = 0.5 * ln(16/3) = 0.83698822...
 *   grad = (softmax - onehot) / 2 = [[1/4, -1/4], [3/4, -3/4]] / 2
 *        = [[0.125, -0.125], [0.375, -0.375]] */
START_TEST(test_sce_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    const float l3 = (float)log(3.0);
    const float xv[] = {0.0f, l3, l3, 0.0f};
    const int32_t labels[] = {1, 1};
    graft_tensor *x = tensor2(ctx, 2, 2, xv), *g = tu_tensor(ctx, 2, 2, 2);
    float loss = -1;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, g), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    ck_assert_float_eq_tol(loss, 0.5 * log(16.0 / 3.0), 1e-6);
    const float want[] = {0.125f, -0.125f, 0.375f, -0.375f};
    tu_assert_close(graft_tensor_data_const(g), want, 4, 1e-7f, 0, "cross-entropy gradient");

    /* Without grad only the loss is computed. */
    float loss2 = -1;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss2, NULL), GRAFT_OK);
    ck_assert_float_eq(loss2, loss);

    /* Label 0 for row 0 instead: loss_0 = -ln(1/4) = ln 4; mean = ln 4. */
    const int32_t labels0[] = {0, 1};
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels0, &loss, g), GRAFT_OK);
    ck_assert_float_eq_tol(loss, log(4.0), 1e-6);
    /* row 0: ([1/4, 3/4] - [1, 0]) / 2 = [-0.375, 0.375] */
    const float want0[] = {-0.375f, 0.375f, 0.375f, -0.375f};
    tu_assert_close(graft_tensor_data_const(g), want0, 4, 1e-7f, 0, "cross-entropy gradient");
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

/* Equal logits over C classes: softmax 1/C, loss ln C whatever the label;
 * with C = 1 the loss is 0 and so is the gradient. */
START_TEST(test_sce_uniform_and_single_class)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {2.5f, 2.5f, 2.5f, 2.5f, -7, -7, -7, -7};
    const int32_t labels[] = {3, 0};
    graft_tensor *x = tensor2(ctx, 2, 4, xv), *g = tu_tensor(ctx, 2, 2, 4);
    float loss;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, g), GRAFT_OK);
    ck_assert_float_eq_tol(loss, log(4.0), 1e-6);
    /* (1/4 - onehot) / 2: 0.125 off the label, -0.375 on it. */
    const float want[] = {0.125f, 0.125f, 0.125f, -0.375f, -0.375f, 0.125f, 0.125f, 0.125f};
    tu_assert_close(graft_tensor_data_const(g), want, 8, 1e-7f, 0, "uniform gradient");

    const float one[] = {3.0f, -40.0f, 0.5f};
    const int32_t zeros[] = {0, 0, 0};
    graft_tensor *x1 = tensor2(ctx, 3, 1, one), *g1 = tu_tensor(ctx, 2, 3, 1);
    ck_assert_int_eq(graft_tensor_fill(g1, 9.0f), GRAFT_OK);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x1, zeros, &loss, g1), GRAFT_OK);
    ck_assert_float_eq(loss, 0.0f);
    const float zero3[] = {0, 0, 0};
    tu_assert_close(graft_tensor_data_const(g1), zero3, 3, 0, 0, "single-class gradient");
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_tensor_free(x1);
    graft_tensor_free(g1);
    graft_ctx_free(ctx);
}
END_TEST

/* Logits of +-1000 overflow a naive exp(). With the maximum subtracted:
 *   row [1000, -1000, 0], label 0: lse = 1000 + ln(1 + e^-2000 + e^-1000) = 1000,
 *     loss 0, grad [1 - 1, 0, 0] = 0;
 *   same row, label 1: loss = 1000 - (-1000) = 2000, grad [1, -1, 0];
 *   row [1000, 1000, -1000], label 1: lse = 1000 + ln 2, loss ln 2,
 *     grad [1/2, 1/2 - 1, 0] = [0.5, -0.5, 0];
 *   row [-1000, -1000, -1000]: uniform, loss ln 3.
 * The batch mean is the average of the rows' losses. */
START_TEST(test_sce_stable_at_large_logits)
{
    graft_ctx *ctx = tu_ctx();
    const float row[] = {1000, -1000, 0};
    graft_tensor *x = tensor2(ctx, 1, 3, row), *g = tu_tensor(ctx, 2, 1, 3);
    float loss;
    const int32_t l0 = 0, l1 = 1;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, &l0, &loss, g), GRAFT_OK);
    ck_assert_float_eq(loss, 0.0f);
    const float want0[] = {0, 0, 0};
    tu_assert_close(graft_tensor_data_const(g), want0, 3, 1e-7f, 0, "label 0 gradient");
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, &l1, &loss, g), GRAFT_OK);
    ck_assert_float_eq_tol(loss, 2000.0f, 1e-3f);
    const float want1[] = {1, -1, 0};
    tu_assert_close(graft_tensor_data_const(g), want1, 3, 1e-7f, 0, "label 1 gradient");

    const float rows[] = {1000, 1000, -1000, -1000, -1000, -1000};
    const int32_t labels[] = {1, 2};
    graft_tensor *x2 = tensor2(ctx, 2, 3, rows), *g2 = tu_tensor(ctx, 2, 2, 3);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x2, labels, &loss, g2), GRAFT_OK);
    ck_assert_float_eq_tol(loss, (log(2.0) + log(3.0)) / 2, 1e-6);
    const float third = 1.0f / 6.0f; /* (1/3) / 2 */
    const float want2[] = {0.25f, -0.25f, 0, third, third, third - 0.5f};
    tu_assert_close(graft_tensor_data_const(g2), want2, 6, 1e-7f, 0, "large-logit gradient");
    for (int i = 0; i < 6; i++) ck_assert(isfinite(graft_tensor_data_const(g2)[i]));
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_tensor_free(x2);
    graft_tensor_free(g2);
    graft_ctx_free(ctx);
}
END_TEST

/* The loss is shift-invariant per row: adding 500 to a row changes nothing. */
START_TEST(test_sce_shift_invariant)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 3, 4), *xs = tu_tensor(ctx, 2, 3, 4);
    tu_fill_uniform(x, 11, -2, 2);
    const float *a = graft_tensor_data_const(x);
    float *b = graft_tensor_data(xs);
    for (int i = 0; i < 12; i++) b[i] = a[i] + 500.0f * (float)(i / 4);
    const int32_t labels[] = {2, 0, 3};
    graft_tensor *ga = tu_tensor(ctx, 2, 3, 4), *gb = tu_tensor(ctx, 2, 3, 4);
    float la, lb;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &la, ga), GRAFT_OK);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(xs, labels, &lb, gb), GRAFT_OK);
    /* x + 500 is rounded to float: allow for the lost low bits (ulp(1000) ~ 6e-5). */
    ck_assert_float_eq_tol(la, lb, 2e-4f);
    tu_assert_close(graft_tensor_data_const(gb), graft_tensor_data_const(ga), 12, 2e-5f, 0,
                    "shifted gradient");
    graft_tensor_free(x);
    graft_tensor_free(xs);
    graft_tensor_free(ga);
    graft_tensor_free(gb);
    graft_ctx_free(ctx);
}
END_TEST

/* Central differences of the returned loss against the analytic gradient. */
START_TEST(test_sce_gradient_finite_differences)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 4, 5), *g = tu_tensor(ctx, 2, 4, 5);
    tu_fill_uniform(x, 21, -3, 3);
    const int32_t labels[] = {4, 0, 2, 2};
    float loss;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, g), GRAFT_OK);
    float *p = graft_tensor_data(x);
    const float *ga = graft_tensor_data_const(g);
    const float eps = 1e-2f;
    size_t checked = 0;
    for (int i = 0; i < 20; i++) {
        float saved = p[i], lp, lm;
        p[i] = saved + eps;
        ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &lp, NULL), GRAFT_OK);
        p[i] = saved - eps;
        ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &lm, NULL), GRAFT_OK);
        p[i] = saved;
        double h = (double)(float)(saved + eps) - (double)(float)(saved - eps);
        double numeric = ((double)lp - (double)lm) / h;
        ck_assert_msg(fabs(numeric - ga[i]) <= 1e-3 + 1e-2 * fabs(numeric),
                      "logit %d: analytic %.6g, numeric %.6g", i, ga[i], numeric);
        checked++;
    }
    ck_assert_uint_eq(checked, 20);
    /* Each row of the gradient sums to 0 (softmax sums to 1, onehot too). */
    for (int r = 0; r < 4; r++) {
        double s = 0;
        for (int j = 0; j < 5; j++) s += ga[r * 5 + j];
        ck_assert(fabs(s) < 1e-6);
    }
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

/* grad may be the logits tensor itself. */
START_TEST(test_sce_in_place)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 2, 3, 4), *g = tu_tensor(ctx, 2, 3, 4);
    tu_fill_uniform(x, 5, -2, 2);
    const int32_t labels[] = {1, 3, 0};
    float la, lb;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &la, g), GRAFT_OK);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &lb, x), GRAFT_OK);
    ck_assert_float_eq(la, lb);
    tu_assert_close(graft_tensor_data_const(x), graft_tensor_data_const(g), 12, 0, 0,
                    "in-place gradient");
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- softmax cross-entropy: errors ---------------------------------------- */

START_TEST(test_sce_errors)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {0.5f, -1, 2, 0, 1, 1, 3, -2, 0, 0};
    graft_tensor *x = tensor2(ctx, 2, 5, xv), *g = tu_tensor(ctx, 2, 2, 5);
    const int32_t labels[] = {4, 0};
    float loss = 123.0f;

    ck_assert_int_eq(graft_loss_softmax_cross_entropy(NULL, labels, &loss, g),
                     GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_loss_softmax_cross_entropy(): logits is NULL");
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, NULL, &loss, g), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_softmax_cross_entropy(): labels is NULL");
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, NULL, g), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_softmax_cross_entropy(): loss is NULL");

    /* Logits must be 2-D. */
    graft_tensor *x3 = tu_tensor(ctx, 3, 2, 5, 1), *x1 = tu_tensor(ctx, 1, 5);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x3, labels, &loss, NULL), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_softmax_cross_entropy(): logits has shape "
                                        "(2, 5, 1), must be 2-D (batch, classes)");
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x1, labels, &loss, NULL), GRAFT_E_SHAPE);
    ck_assert(strstr(graft_errmsg(ctx), "(5)") != NULL);

    /* grad must have the logits' shape. */
    graft_tensor *gt = tu_tensor(ctx, 2, 5, 2), *gb = tu_tensor(ctx, 2, 2, 6);
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, gt), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_softmax_cross_entropy(): grad has shape "
                                        "(5, 2), must be the logits' shape (2, 5)");
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, gb), GRAFT_E_SHAPE);

    /* Labels outside [0, C): the message names the sample, the label and C. */
    const int32_t high[] = {4, 5}, neg[] = {-1, 0};
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, high, &loss, g), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_loss_softmax_cross_entropy(): labels[1] is 5, must be in [0, 5)");
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, neg, &loss, g), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_loss_softmax_cross_entropy(): labels[0] is -1, must be in [0, 5)");
    ck_assert_str_eq(graft_errmsg(NULL), graft_errmsg(ctx));

    /* Non-finite logits. */
    float *p = graft_tensor_data(x);
    p[7] = NAN;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, g), GRAFT_E_NUMERIC);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_loss_softmax_cross_entropy(): logits[1, 2] is nan, must be finite");
    p[7] = -INFINITY;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, g), GRAFT_E_NUMERIC);
    ck_assert(strstr(graft_errmsg(ctx), "logits[1, 2] is -inf") != NULL);
    p[7] = 0;
    p[0] = INFINITY;
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, NULL), GRAFT_E_NUMERIC);
    ck_assert(strstr(graft_errmsg(ctx), "logits[0, 0] is inf") != NULL);
    p[0] = 0.5f;

    /* Failures leave the outputs alone. */
    ck_assert_float_eq(loss, 123.0f);
    for (int i = 0; i < 10; i++) ck_assert_float_eq(graft_tensor_data_const(g)[i], 0.0f);

    /* A success clears the message. */
    ck_assert_int_eq(graft_loss_softmax_cross_entropy(x, labels, &loss, g), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    graft_tensor_free(x);
    graft_tensor_free(g);
    graft_tensor_free(x3);
    graft_tensor_free(x1);
    graft_tensor_free(gt);
    graft_tensor_free(gb);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- mean squared error ---------------------------------------------------- */

/* pred [1, 2, 3, 4], target [0, 2, 5, 3]: d = [1, 0, -2, 1],
 * loss = (1 + 0 + 4 + 1) / 4 = 1.5, grad = 2 d / 4 = [0.5, 0, -1, 0.5]. */
START_TEST(test_mse_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    const float pv[] = {1, 2, 3, 4}, tv[] = {0, 2, 5, 3};
    graft_tensor *p = tensor2(ctx, 2, 2, pv), *t = tensor2(ctx, 2, 2, tv);
    graft_tensor *g = tu_tensor(ctx, 2, 2, 2);
    float loss = -1;
    ck_assert_int_eq(graft_loss_mse(p, t, &loss, g), GRAFT_OK);
    ck_assert_float_eq(loss, 1.5f);
    const float want[] = {0.5f, 0, -1, 0.5f};
    tu_assert_close(graft_tensor_data_const(g), want, 4, 0, 0, "mse gradient");
    float loss2 = -1;
    ck_assert_int_eq(graft_loss_mse(p, t, &loss2, NULL), GRAFT_OK);
    ck_assert_float_eq(loss2, 1.5f);
    /* Equal tensors: zero loss and gradient. */
    ck_assert_int_eq(graft_loss_mse(p, p, &loss, g), GRAFT_OK);
    ck_assert_float_eq(loss, 0.0f);
    const float zero[] = {0, 0, 0, 0};
    tu_assert_close(graft_tensor_data_const(g), zero, 4, 0, 0, "mse gradient at 0");
    /* In place over pred: the gradient as above. */
    ck_assert_int_eq(graft_loss_mse(p, t, &loss, p), GRAFT_OK);
    ck_assert_float_eq(loss, 1.5f);
    tu_assert_close(graft_tensor_data_const(p), want, 4, 0, 0, "in-place mse gradient");
    graft_tensor_free(p);
    graft_tensor_free(t);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_mse_gradient_finite_differences)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *p = tu_tensor(ctx, 4, 2, 3, 2, 2), *t = tu_tensor(ctx, 4, 2, 3, 2, 2);
    graft_tensor *g = tu_tensor(ctx, 4, 2, 3, 2, 2);
    tu_fill_uniform(p, 31, -2, 2);
    tu_fill_uniform(t, 32, -2, 2);
    float loss;
    ck_assert_int_eq(graft_loss_mse(p, t, &loss, g), GRAFT_OK);
    float *x = graft_tensor_data(p);
    const float *ga = graft_tensor_data_const(g);
    size_t checked = 0;
    for (int i = 0; i < 24; i++) {
        float saved = x[i], lp, lm;
        x[i] = saved + 1e-2f;
        ck_assert_int_eq(graft_loss_mse(p, t, &lp, NULL), GRAFT_OK);
        x[i] = saved - 1e-2f;
        ck_assert_int_eq(graft_loss_mse(p, t, &lm, NULL), GRAFT_OK);
        x[i] = saved;
        double h = (double)(float)(saved + 1e-2f) - (double)(float)(saved - 1e-2f);
        double numeric = ((double)lp - (double)lm) / h;
        ck_assert_msg(fabs(numeric - ga[i]) <= 1e-4 + 1e-2 * fabs(numeric),
                      "element %d: analytic %.6g, numeric %.6g", i, ga[i], numeric);
        checked++;
    }
    ck_assert_uint_eq(checked, 24);
    graft_tensor_free(p);
    graft_tensor_free(t);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_mse_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *p = tu_tensor(ctx, 2, 2, 3), *t = tu_tensor(ctx, 2, 2, 3);
    graft_tensor *t6 = tu_tensor(ctx, 1, 6), *g = tu_tensor(ctx, 2, 3, 2);
    float loss = 7.0f;
    ck_assert_int_eq(graft_loss_mse(NULL, t, &loss, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_mse(): pred is NULL");
    ck_assert_int_eq(graft_loss_mse(p, NULL, &loss, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_mse(): target is NULL");
    ck_assert_int_eq(graft_loss_mse(p, t, NULL, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_loss_mse(): loss is NULL");
    ck_assert_int_eq(graft_loss_mse(NULL, NULL, &loss, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_loss_mse(): pred is NULL");
    /* Same element count, other shape. */
    ck_assert_int_eq(graft_loss_mse(p, t6, &loss, NULL), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_loss_mse(): target has shape (6), must be pred's shape (2, 3)");
    ck_assert_int_eq(graft_loss_mse(p, t, &loss, g), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_loss_mse(): grad has shape (3, 2), must be pred's shape (2, 3)");
    ck_assert_float_eq(loss, 7.0f);
    ck_assert_int_eq(graft_loss_mse(p, t, &loss, NULL), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    ck_assert_float_eq(loss, 0.0f);
    graft_tensor_free(p);
    graft_tensor_free(t);
    graft_tensor_free(t6);
    graft_tensor_free(g);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_loss(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("cross_entropy_values");
    tcase_add_test(tc, test_sce_hand_computed);
    tcase_add_test(tc, test_sce_uniform_and_single_class);
    tcase_add_test(tc, test_sce_shift_invariant);
    tcase_add_test(tc, test_sce_in_place);
    suite_add_tcase(s, tc);
    tc = tcase_create("cross_entropy_stability");
    tcase_add_test(tc, test_sce_stable_at_large_logits);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_add_test(tc, test_sce_gradient_finite_differences);
    tcase_add_test(tc, test_mse_gradient_finite_differences);
    suite_add_tcase(s, tc);
    tc = tcase_create("mse_values");
    tcase_add_test(tc, test_mse_hand_computed);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_sce_errors);
    tcase_add_test(tc, test_mse_errors);
    suite_add_tcase(s, tc);
    return s;
}
