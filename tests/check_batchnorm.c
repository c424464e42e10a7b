/* check_batchnorm.c - the batch normalisation layer. */
#include "testutil.h"

#include "core/parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static graft_layer *built_bn(graft_ctx *ctx, float eps, float momentum, graft_tensor *x)
{
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_batch_norm(ctx, eps, momentum, &l) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    const graft_tensor *in[1] = {x};
    ck_assert_msg(graft_layer_build(l, 1, in, 7) == GRAFT_OK, "%s", graft_errmsg(ctx));
    return l;
}

static graft_tensor *param(graft_layer *l, int i)
{
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_layer_param(l, i, NULL, &t, NULL, NULL), GRAFT_OK);
    return t;
}

static void set_param(graft_layer *l, int i, const float *v, size_t n)
{
    ck_assert_int_eq(graft_tensor_copy_from(param(l, i), v, n), GRAFT_OK);
}

/* x (N=2, C=2, H=1, W=2), so each channel pools m = 4 values:
 *   channel 0: n0 {0, 2}, n1 {4, 6}    mean 3, var (9+1+1+9)/4 = 5
 *   channel 1: n0 {-1, -1}, n1 {-1, 7} mean 1, var (4+4+4+36)/4 = 12 */
static const float hand_x[] = {0, 2, -1, -1, 4, 6, -1, 7};
static const int64_t hand_dims[] = {2, 2, 1, 2};

START_TEST(test_bn_params_declared_and_initialised)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 2, 2);
    graft_layer *l = built_bn(ctx, 1e-5f, 0.1f, x);
    ck_assert_str_eq(graft_layer_kind(l), "batch_norm");
    ck_assert_int_eq(graft_layer_param_count(l), 4);
    const char *names[] = {"weight", "bias", "running_mean", "running_var"};
    const float init[] = {1, 0, 0, 1};
    for (int i = 0; i < 4; i++) {
        const char *name;
        graft_tensor *v;
        const graft_tensor *g;
        int trainable;
        ck_assert_int_eq(graft_layer_param(l, i, &name, &v, &g, &trainable), GRAFT_OK);
        ck_assert_str_eq(name, names[i]);
        ck_assert_int_eq(trainable, i < 2);
        ck_assert(i < 2 ? g != NULL : g == NULL);
        ck_assert_int_eq(graft_tensor_ndim(v), 1);
        ck_assert_int_eq(graft_tensor_dim(v, 0), 3);
        for (int c = 0; c < 3; c++) ck_assert_float_eq(graft_tensor_data(v)[c], init[i]);
    }
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_forward_training_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor_from(ctx, 4, hand_dims, hand_x);
    /* eps = 4 makes the standard deviations whole: sqrt(5 + 4) = 3, sqrt(12 + 4) = 4. */
    graft_layer *l = built_bn(ctx, 4.0f, 0.1f, x);
    const float gamma[] = {2, -1}, beta[] = {0.5f, 1};
    set_param(l, 0, gamma, 2);
    set_param(l, 1, beta, 2);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    /* channel 0: xhat = (x - 3) / 3 = {-1, -1/3, 1/3, 1}; y = 2 xhat + 0.5
     *            = {-1.5, -1/6, 7/6, 2.5}
     * channel 1: xhat = (x - 1) / 4 = {-0.5, -0.5, -0.5, 1.5}; y = -xhat + 1
     *            = {1.5, 1.5, 1.5, -0.5}
     * laid out as n0 c0, n0 c1, n1 c0, n1 c1. */
    const float want[] = {-1.5f, -1.0f / 6, 1.5f, 1.5f, 7.0f / 6, 2.5f, 1.5f, -0.5f};
    ck_assert_int_eq(graft_tensor_ndim(y), 4);
    for (int d = 0; d < 4; d++) ck_assert_int_eq(graft_tensor_dim(y, d), hand_dims[d]);
    tu_assert_close(graft_tensor_data_const(y), want, 8, 1e-6f, 1e-6f, "batch_norm output");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_forward_training_2d_input)
{
    graft_ctx *ctx = tu_ctx();
    /* x (3, 2): channel 0 {1, 2, 6} mean 3, var (4+1+9)/3 = 14/3;
     *           channel 1 {5, 5, 5} mean 5, var 0.
     * eps = 1/3: channel 0 std sqrt(15/3) = sqrt(5), channel 1 std sqrt(1/3).
     * gamma 1, beta 0: channel 0 y = (x - 3) / sqrt(5) = {-2, -1, 3} / sqrt(5);
     * channel 1 y = 0. */
    const float xv[] = {1, 5, 2, 5, 6, 5};
    const int64_t xd[] = {3, 2};
    graft_tensor *x = tu_tensor_from(ctx, 2, xd, xv);
    graft_layer *l = built_bn(ctx, 1.0f / 3, 0.5f, x);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    const float r5 = 1.0f / sqrtf(5.0f);
    const float want[] = {-2 * r5, 0, -r5, 0, 3 * r5, 0};
    tu_assert_close(graft_tensor_data_const(y), want, 6, 1e-6f, 1e-5f, "batch_norm 2-D output");
    /* running_var = 0.5 * 1 + 0.5 * unbiased, unbiased = var * 3/2:
     * channel 0: 0.5 + 0.5 * 7 = 4; channel 1: 0.5 + 0 = 0.5.
     * running_mean = 0.5 * mean: {1.5, 2.5}. */
    const float want_rm[] = {1.5f, 2.5f}, want_rv[] = {4.0f, 0.5f};
    tu_assert_close(graft_tensor_data(param(l, 2)), want_rm, 2, 1e-6f, 1e-6f, "running_mean");
    tu_assert_close(graft_tensor_data(param(l, 3)), want_rv, 2, 1e-6f, 1e-6f, "running_var");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_running_stats_two_steps)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor_from(ctx, 4, hand_dims, hand_x);
    graft_layer *l = built_bn(ctx, 1e-5f, 0.1f, x);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    /* Step 1, m = 4: means {3, 1}; unbiased variances {5, 12} * 4/3 = {20/3, 16}.
     * running_mean = 0.9 * 0 + 0.1 * {3, 1} = {0.3, 0.1}
     * running_var  = 0.9 * 1 + 0.1 * {20/3, 16} = {0.9 + 2/3, 2.5} */
    const float rm1[] = {0.3f, 0.1f}, rv1[] = {0.9f + 2.0f / 3, 2.5f};
    tu_assert_close(graft_tensor_data(param(l, 2)), rm1, 2, 1e-6f, 1e-6f, "running_mean, step 1");
    tu_assert_close(graft_tensor_data(param(l, 3)), rv1, 2, 1e-6f, 1e-6f, "running_var, step 1");

    /* Step 2 with 2x: means {6, 2}, unbiased variances {80/3, 64}.
     * running_mean = 0.9 * {0.3, 0.1} + 0.1 * {6, 2} = {0.87, 0.29}
     * running_var  = 0.9 * {0.9 + 2/3, 2.5} + 0.1 * {80/3, 64}
     *              = {0.81 + 0.6 + 8/3, 2.25 + 6.4} = {1.41 + 8/3, 8.65} */
    float *xp = graft_tensor_data(x);
    for (int i = 0; i < 8; i++) xp[i] *= 2;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    const float rm2[] = {0.87f, 0.29f}, rv2[] = {1.41f + 8.0f / 3, 8.65f};
    tu_assert_close(graft_tensor_data(param(l, 2)), rm2, 2, 1e-6f, 1e-6f, "running_mean, step 2");
    tu_assert_close(graft_tensor_data(param(l, 3)), rv2, 2, 1e-6f, 1e-6f, "running_var, step 2");

    /* Momentum 0 keeps the running statistics; momentum 1 replaces them. */
    graft_layer *keep = built_bn(ctx, 1e-5f, 0.0f, x), *repl = built_bn(ctx, 1e-5f, 1.0f, x);
    ck_assert_int_eq(graft_layer_forward(keep, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(repl, 1, in, &y), GRAFT_OK);
    const float rm0[] = {0, 0}, rv0[] = {1, 1}, rmr[] = {6, 2}, rvr[] = {80.0f / 3, 64};
    tu_assert_close(graft_tensor_data(param(keep, 2)), rm0, 2, 0, 0, "running_mean, momentum 0");
    tu_assert_close(graft_tensor_data(param(keep, 3)), rv0, 2, 0, 0, "running_var, momentum 0");
    tu_assert_close(graft_tensor_data(param(repl, 2)), rmr, 2, 1e-6f, 1e-6f,
                    "running_mean, momentum 1");
    tu_assert_close(graft_tensor_data(param(repl, 3)), rvr, 2, 1e-6f, 1e-6f,
                    "running_var, momentum 1");
    graft_layer_free(keep);
    graft_layer_free(repl);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_single_value_per_channel)
{
    graft_ctx *ctx = tu_ctx();
    /* N = 1, 2-D: m = 1, the batch variance is 0 and every output is beta.
     * The running variance takes the biased value 0:
     * running_var = 0.75 * 1 + 0.25 * 0 = 0.75; running_mean = 0.25 * x. */
    const float xv[] = {4, -8};
    const int64_t xd[] = {1, 2};
    graft_tensor *x = tu_tensor_from(ctx, 2, xd, xv);
    graft_layer *l = built_bn(ctx, 1e-3f, 0.25f, x);
    const float beta[] = {0.5f, -2};
    set_param(l, 1, beta, 2);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    tu_assert_close(graft_tensor_data_const(y), beta, 2, 0, 0, "batch_norm output, m = 1");
    const float rm[] = {1, -2}, rv[] = {0.75f, 0.75f};
    tu_assert_close(graft_tensor_data(param(l, 2)), rm, 2, 0, 0, "running_mean, m = 1");
    tu_assert_close(graft_tensor_data(param(l, 3)), rv, 2, 0, 0, "running_var, m = 1");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_inference_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    const float xv[] = {5, 1, -1, -8};
    const int64_t xd[] = {2, 2};
    graft_tensor *x = tu_tensor_from(ctx, 2, xd, xv);
    graft_layer *l = built_bn(ctx, 1.0f, 0.1f, x);
    const float gamma[] = {2, -1}, beta[] = {0.5f, 1}, rm[] = {1, -2}, rv[] = {3, 8};
    set_param(l, 0, gamma, 2);
    set_param(l, 1, beta, 2);
    set_param(l, 2, rm, 2);
    set_param(l, 3, rv, 2);
    ck_assert_int_eq(graft_layer_set_training(l, 0), GRAFT_OK);
    const graft_tensor *in[1] = {x}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    /* eps 1: std = sqrt(3 + 1) = 2 (channel 0), sqrt(8 + 1) = 3 (channel 1).
     * n0: c0 (5 - 1) / 2 = 2 -> 2*2 + 0.5 = 4.5;    c1 (1 + 2) / 3 = 1 -> -1 + 1 = 0
     * n1: c0 (-1 - 1) / 2 = -1 -> -2 + 0.5 = -1.5;  c1 (-8 + 2) / 3 = -2 -> 2 + 1 = 3 */
    const float want[] = {4.5f, 0, -1.5f, 3};
    tu_assert_close(graft_tensor_data_const(y), want, 4, 1e-6f, 1e-6f, "inference output");
    /* Inference leaves the running statistics alone. */
    tu_assert_close(graft_tensor_data(param(l, 2)), rm, 2, 0, 0, "running_mean");
    tu_assert_close(graft_tensor_data(param(l, 3)), rv, 2, 0, 0, "running_var");

    /* Affine backward with dy = {1, 2, -1, 4}:
     * dx = dy * gamma / std = {1*2/2, 2*(-1)/3, -1*2/2, 4*(-1)/3} = {1, -2/3, -1, -4/3}
     * xhat = {2, 1, -1, -2}; dgamma = {1*2 + (-1)*(-1), 2*1 + 4*(-2)} = {3, -6}
     * dbeta = {1 - 1, 2 + 4} = {0, 6} */
    const float dyv[] = {1, 2, -1, 4};
    graft_tensor *dy = tu_tensor_from(ctx, 2, xd, dyv);
    const graft_tensor *din[1] = {NULL}, *dg = NULL, *db = NULL;
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    const float want_dx[] = {1, -2.0f / 3, -1, -4.0f / 3}, want_dg[] = {3, -6}, want_db[] = {0, 6};
    tu_assert_close(graft_tensor_data_const(din[0]), want_dx, 4, 1e-6f, 1e-6f, "inference dx");
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &dg, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(l, 1, NULL, NULL, &db, NULL), GRAFT_OK);
    tu_assert_close(graft_tensor_data_const(dg), want_dg, 2, 1e-6f, 1e-6f, "inference dgamma");
    tu_assert_close(graft_tensor_data_const(db), want_db, 2, 1e-6f, 1e-6f, "inference dbeta");
    graft_tensor_free(dy);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Sets gamma, beta and the running statistics to values away from the
 * defaults, so that every term of the gradient matters. */
static void randomise_params(graft_layer *l, uint64_t seed)
{
    tu_fill_uniform(param(l, 0), seed, 0.5f, 1.5f);
    tu_fill_uniform(param(l, 1), seed + 1, -0.5f, 0.5f);
    tu_fill_uniform(param(l, 2), seed + 2, -0.3f, 0.3f);
    tu_fill_uniform(param(l, 3), seed + 3, 0.5f, 2.0f);
}

START_TEST(test_bn_gradcheck_training)
{
    graft_ctx *ctx = tu_ctx();
    /* 4-D (conv) input: m = 4 * 2 * 2 = 16 values per channel. */
    graft_tensor *x = tu_tensor(ctx, 4, 4, 3, 2, 2);
    tu_fill_uniform(x, 3, -1, 1);
    graft_layer *l = built_bn(ctx, 1e-3f, 0.1f, x);
    randomise_params(l, 11);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 48 + 3 + 3);
    graft_layer_free(l);
    graft_tensor_free(x);

    /* 2-D (dense) input, 5 values per channel. */
    x = tu_tensor(ctx, 2, 5, 4);
    tu_fill_uniform(x, 4, -2, 2);
    l = built_bn(ctx, 1e-3f, 0.1f, x);
    randomise_params(l, 21);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 20 + 4 + 4);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_gradcheck_inference)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 3, 2);
    tu_fill_uniform(x, 5, -1, 1);
    graft_layer *l = built_bn(ctx, 1e-3f, 0.1f, x);
    randomise_params(l, 31);
    ck_assert_int_eq(graft_layer_set_training(l, 0), GRAFT_OK);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 36 + 2 + 2);

    /* The inference gradient is the affine one, not the batch-statistics
     * one: dx = dy * gamma / sqrt(running_var + eps) exactly per element. */
    const graft_tensor *in[1] = {x}, *y = NULL, *din[1] = {NULL};
    graft_tensor *dy = tu_tensor(ctx, 4, 3, 2, 3, 2);
    tu_fill_uniform(dy, 6, -1, 1);
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    const float *g = graft_tensor_data(param(l, 0)), *rv = graft_tensor_data(param(l, 3));
    for (int i = 0; i < 36; i++) {
        int c = (i / 6) % 2;
        float want = graft_tensor_data(dy)[i] * g[c] / sqrtf(rv[c] + 1e-3f);
        ck_assert_float_eq_tol(graft_tensor_data_const(din[0])[i], want, 1e-5f);
    }
    graft_tensor_free(dy);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Planes of 25 values (5x5) take the kernels' blocks of 8 and their
 * remainder. With x in [9, 11] (a mean far from 0 relative to the spread),
 * the training forward and backward must match the formulas of
 * layer_batchnorm.c evaluated here in double:
 *   y = gamma (x - mean) / sqrt(var + eps) + beta,
 *   dgamma = sum dy * xhat, dbeta = sum dy,
 *   dx = gamma * invstd / m * (m dy - dbeta - xhat dgamma). */
START_TEST(test_bn_long_planes_against_reference)
{
    graft_ctx *ctx = tu_ctx();
    enum { N = 3, C = 2, S = 25, M = N * S };
    const float eps = 1e-3f;
    graft_tensor *x = tu_tensor(ctx, 4, N, C, 5, 5), *dy = tu_tensor(ctx, 4, N, C, 5, 5);
    tu_fill_uniform(x, 41, 9, 11);
    tu_fill_uniform(dy, 42, -1, 1);
    graft_layer *l = built_bn(ctx, eps, 0.1f, x);
    randomise_params(l, 43);
    const graft_tensor *in[1] = {x}, *y = NULL, *din[1] = {NULL};
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    const float *xv = graft_tensor_data(x), *g = graft_tensor_data(dy);
    const float *gamma = graft_tensor_data(param(l, 0)), *beta = graft_tensor_data(param(l, 1));
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0, sg = 0, sgx = 0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < S; k++) sum += xv[(n * C + c) * S + k];
        double mean = sum / M;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < S; k++) {
                double d = xv[(n * C + c) * S + k] - mean;
                sq += d * d;
            }
        double is = 1.0 / sqrt(sq / M + eps);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < S; k++) {
                int i = (n * C + c) * S + k;
                sg += g[i];
                sgx += g[i] * (xv[i] - mean) * is;
            }
        tu_assert_close(&(float){(float)sgx}, graft_tensor_data(l->params[0].grad) + c, 1, 1e-4f,
                        1e-4f, "dgamma");
        tu_assert_close(&(float){(float)sg}, graft_tensor_data(l->params[1].grad) + c, 1, 1e-4f,
                        1e-4f, "dbeta");
        for (int n = 0; n < N; n++)
            for (int k = 0; k < S; k++) {
                int i = (n * C + c) * S + k;
                double xhat = (xv[i] - mean) * is;
                double want_y = gamma[c] * xhat + beta[c];
                double want_dx = gamma[c] * is / M * (M * g[i] - sg - xhat * sgx);
                ck_assert_msg(fabs(graft_tensor_data_const(y)[i] - want_y) <= 1e-4,
                              "y[%d] = %g, want %g", i, (double)graft_tensor_data_const(y)[i],
                              want_y);
                ck_assert_msg(fabs(graft_tensor_data_const(din[0])[i] - want_dx) <= 1e-4,
                              "dx[%d] = %g, want %g", i,
                              (double)graft_tensor_data_const(din[0])[i], want_dx);
            }
    }
    graft_tensor_free(dy);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- the plane kernels against plain loops, bit for bit ------------------- */

/* The sums of layer_batchnorm.c as plain scalar loops: lane u of a plane's
 * 8 float lanes adds the elements k = u (mod 8) of its blocks of 8 in order,
 * the remainder is added in double, and the lanes are reduced in the
 * kernels' fixed orders; planes are added into the channel's double sum in
 * sample order. */
static double ref_plane_sum(const float *x, size_t n)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double tail = 0.0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) acc[u] += x[k + u];
    for (; k < n; k++) tail += x[k];
    return tail + (((double)acc[0] + acc[4]) + ((double)acc[1] + acc[5])) +
           (((double)acc[2] + acc[6]) + ((double)acc[3] + acc[7]));
}

static double ref_plane_sq_dev(const float *x, size_t n, float mu)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double tail = 0.0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) {
            float d = x[k + u] - mu;
            acc[u] += d * d;
        }
    for (; k < n; k++) {
        double d = (double)x[k] - mu;
        tail += d * d;
    }
    return tail + (((double)acc[0] + acc[4]) + ((double)acc[1] + acc[5])) +
           (((double)acc[2] + acc[6]) + ((double)acc[3] + acc[7]));
}

static void ref_plane_grad_sums(const float *g, const float *x, size_t n, float mu, double *sg,
                                double *sgd)
{
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    double ta = 0.0, tb = 0.0;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (size_t u = 0; u < 8; u++) {
            a[u] += g[k + u];
            b[u] += g[k + u] * (x[k + u] - mu);
        }
    for (; k < n; k++) {
        ta += g[k];
        tb += (double)g[k] * ((double)x[k] - mu);
    }
    for (int u = 0; u < 8; u++) {
        ta += a[u];
        tb += b[u];
    }
    *sg += ta;
    *sgd += tb;
}

/* Asserts that n floats have the same bits. */
static void assert_same_bits(const float *got, const float *want, size_t n, const char *what,
                             int batch, int sp)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(got + i, want + i, sizeof(float)) == 0,
                      "%s[%zu] = %a, want %a (N %d, S %d)", what, i, (double)got[i],
                      (double)want[i], batch, sp);
}

/* Training and inference forward and backward on planes of awkward lengths
 * (1, 7, 8, 9, 63, 65: blocks of 8 and remainders) and batches of 1 to 5
 * (the kernels take two samples' planes at once, and one alone for an odd
 * batch): y, dx, dgamma, dbeta and the running statistics must have the
 * bits of the formulas of layer_batchnorm.c evaluated by the plain loops
 * above in the same order. */
START_TEST(test_bn_kernels_bit_exact)
{
    graft_ctx *ctx = tu_ctx();
    const int sizes[] = {1, 7, 8, 9, 63, 65}, batches[] = {1, 2, 3, 5};
    enum { C = 3 };
    const float eps = 1e-3f, mom = 0.1f;
    uint64_t seed = 500;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            const int S = sizes[si], N = batches[bi];
            const size_t M = (size_t)N * S, total = M * C;
            if (M < 2) continue; /* training needs two values per channel */
            graft_tensor *x = tu_tensor(ctx, 3, N, C, S), *dy = tu_tensor(ctx, 3, N, C, S);
            tu_fill_uniform(x, seed++, 3, 7);
            tu_fill_uniform(dy, seed++, -1, 1);
            graft_layer *l = built_bn(ctx, eps, mom, x);
            randomise_params(l, seed++);
            float *rm = graft_tensor_data(param(l, 2)), *rv = graft_tensor_data(param(l, 3));
            for (int c = 0; c < C; c++) {
                rm[c] = 0.25f * (float)c;
                rv[c] = 1.0f + 0.5f * (float)c;
            }
            const float *xv = graft_tensor_data(x), *g = graft_tensor_data(dy);
            const float *gamma = graft_tensor_data(param(l, 0));
            const float *beta = graft_tensor_data(param(l, 1));
            float *want_y = malloc(total * sizeof(float)), *want_dx = malloc(total * sizeof(float));
            ck_assert(want_y && want_dx);
            for (int training = 1; training >= 0; training--) {
                float want_rm[C], want_rv[C], want_dg[C], want_db[C];
                graft_layer_set_training(l, training);
                for (int c = 0; c < C; c++) {
                    double mu, var, sum = 0.0, sq = 0.0;
                    if (training) {
                        for (int i = 0; i < N; i++) sum += ref_plane_sum(xv + (i * C + c) * S, S);
                        mu = sum / (double)M;
                        for (int i = 0; i < N; i++)
                            sq += ref_plane_sq_dev(xv + (i * C + c) * S, S, (float)mu);
                        var = sq / (double)M;
                        want_rm[c] = (float)((1.0 - mom) * rm[c] + (double)mom * mu);
                        want_rv[c] = (float)((1.0 - mom) * rv[c] +
                                             (double)mom * (sq / (double)(M - 1)));
                    } else {
                        mu = rm[c];
                        var = rv[c];
                        want_rm[c] = rm[c];
                        want_rv[c] = rv[c];
                    }
                    double is = 1.0 / sqrt(var + eps);
                    float mean_f = (float)mu, is_f = (float)is;
                    double a = gamma[c] * is, b = beta[c] - a * mu;
                    for (int i = 0; i < N; i++)
                        for (int k = 0; k < S; k++) {
                            size_t at = ((size_t)i * C + c) * S + k;
                            want_y[at] = (float)a * xv[at] + (float)b;
                        }
                    double sg = 0.0, sgd = 0.0, isd = is_f;
                    for (int i = 0; i < N; i++)
                        ref_plane_grad_sums(g + (i * C + c) * S, xv + (i * C + c) * S, S, mean_f,
                                            &sg, &sgd);
                    double sgx = sgd * isd, scale = gamma[c] * isd;
                    want_dg[c] = (float)sgx;
                    want_db[c] = (float)sg;
                    double c1 = scale, c2 = 0.0, c0 = 0.0;
                    if (training) {
                        c2 = -scale * (sgx / (double)M) * isd;
                        c0 = -scale * (sg / (double)M);
                    }
                    for (int i = 0; i < N; i++)
                        for (int k = 0; k < S; k++) {
                            size_t at = ((size_t)i * C + c) * S + k;
                            want_dx[at] = training ? (float)c1 * g[at] +
                                                         (float)c2 * (xv[at] - mean_f) + (float)c0
                                                   : (float)c1 * g[at] + 0.0f;
                        }
                }
                const graft_tensor *in[1] = {x}, *y = NULL, *din[1] = {NULL}, *dg = NULL,
                                   *db = NULL;
                ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
                ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
                ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &dg, NULL), GRAFT_OK);
                ck_assert_int_eq(graft_layer_param(l, 1, NULL, NULL, &db, NULL), GRAFT_OK);
                assert_same_bits(graft_tensor_data_const(y), want_y, total, "y", N, S);
                assert_same_bits(graft_tensor_data_const(din[0]), want_dx, total, "dx", N, S);
                assert_same_bits(graft_tensor_data_const(dg), want_dg, C, "dgamma", N, S);
                assert_same_bits(graft_tensor_data_const(db), want_db, C, "dbeta", N, S);
                assert_same_bits(rm, want_rm, C, "running_mean", N, S);
                assert_same_bits(rv, want_rv, C, "running_var", N, S);
            }
            free(want_y);
            free(want_dx);
            graft_tensor_free(dy);
            graft_layer_free(l);
            graft_tensor_free(x);
        }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_backward_without_param_grads)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 2, 2, 2, 2);
    tu_fill_uniform(x, 8, -1, 1);
    graft_layer *l = built_bn(ctx, 1e-5f, 0.1f, x);
    randomise_params(l, 41);
    graft_tensor *dy = tu_tensor(ctx, 4, 2, 2, 2, 2);
    tu_fill_uniform(dy, 9, -1, 1);
    const graft_tensor *in[1] = {x}, *y = NULL, *din[1] = {NULL}, *dg = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    /* Input gradients not requested: only the parameter gradients. */
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &dg, NULL), GRAFT_OK);
    float dg0[2];
    memcpy(dg0, graft_tensor_data_const(dg), sizeof dg0);
    ck_assert(dg0[0] != 0.0f && dg0[1] != 0.0f);
    /* With parameter gradients off, dgamma keeps its old value (a sentinel). */
    l->need_param_grad = 0;
    float *dgw = ((graft_tensor *)dg)->data;
    dgw[0] = dgw[1] = 123.0f;
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    ck_assert_float_eq(dgw[0], 123.0f);
    ck_assert_float_eq(dgw[1], 123.0f);
    /* The training-mode input gradient sums to 0 over each channel. */
    for (int c = 0; c < 2; c++) {
        double sum = 0;
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++) sum += graft_tensor_data_const(din[0])[(n * 2 + c) * 4 + k];
        ck_assert(fabs(sum) < 1e-5);
    }
    graft_tensor_free(dy);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- worker counts ---------------------------------------------------------- */

/* The first i < n where a[i] and b[i] differ in bits, or n. */
/* One forward and backward of a fresh layer (parameters from a fixed seed)
 * on x at the current thread count; out receives y, dx, dgamma, dbeta,
 * running_mean and running_var one after the other. */
static void bn_run_all(graft_ctx *ctx, graft_tensor *x, graft_tensor *dy, int training,
                       float *out)
{
    graft_layer *l = built_bn(ctx, 1e-3f, 0.1f, x);
    randomise_params(l, 61);
    ck_assert_int_eq(graft_layer_set_training(l, training), GRAFT_OK);
    const graft_tensor *in[1] = {x}, *y = NULL, *din[1] = {NULL};
    ck_assert_msg(graft_layer_forward(l, 1, in, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_msg(graft_layer_backward(l, 1, in, dy, din) == GRAFT_OK, "%s", graft_errmsg(ctx));
    const size_t n = graft_tensor_numel(x), c = (size_t)graft_tensor_dim(x, 1);
    memcpy(out, graft_tensor_data_const(y), n * sizeof *out);
    memcpy(out + n, graft_tensor_data_const(din[0]), n * sizeof *out);
    for (int i = 0; i < 2; i++) {
        const graft_tensor *g = NULL;
        ck_assert_int_eq(graft_layer_param(l, i, NULL, NULL, &g, NULL), GRAFT_OK);
        memcpy(out + 2 * n + (size_t)i * c, graft_tensor_data_const(g), c * sizeof *out);
    }
    memcpy(out + 2 * n + 2 * c, graft_tensor_data(param(l, 2)), c * sizeof *out);
    memcpy(out + 2 * n + 3 * c, graft_tensor_data(param(l, 3)), c * sizeof *out);
    graft_layer_free(l);
}

/* Forward (training statistics, running buffers, inference affine) and
 * backward (both modes) split over 2 workers by channel give the bits of
 * one worker. 17 channels (an uneven split) of m = 3 * 61 * 67 values,
 * enough work for graftParallelWorkers to use 2. */
START_TEST(test_bn_workers_bit_identical)
{
    if (!graft_has_blas()) {
        fprintf(stderr, "note: test_bn_workers_bit_identical skipped: no BLAS, one thread\n");
        return;
    }
    graft_ctx *ctx = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 3, 17, 61, 67), *dy = tu_tensor(ctx, 4, 3, 17, 61, 67);
    tu_fill_uniform(x, 71, -2, 3);
    tu_fill_uniform(dy, 72, -1, 1);
    const size_t n = graft_tensor_numel(x), total = 2 * n + 4 * 17;
    float *one = malloc(total * sizeof *one), *two = malloc(total * sizeof *two);
    ck_assert(one && two);
    for (int training = 0; training <= 1; training++) {
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 1), GRAFT_OK);
        bn_run_all(ctx, x, dy, training, one);
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 2), GRAFT_OK);
        /* the smallest per-channel cost used (inference forward) splits */
        ck_assert_int_eq(graftParallelWorkers(17, 2.0 * (double)(n / 17)), 2);
        bn_run_all(ctx, x, dy, training, two);
        const size_t i = tu_first_bit_difference(one, two, total);
        ck_assert_msg(i == total,
                      "%s: element %zu of y|dx|dgamma|dbeta|mean|var: %a at 1 thread, %a at 2",
                      training ? "training" : "inference", i, (double)one[i], (double)two[i]);
    }
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    free(one);
    free(two);
    graft_tensor_free(x);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bn_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 2, 2);
    tu_fill_uniform(x, 12, -1, 3);
    graft_layer *l = built_bn(ctx, 2e-3f, 0.3f, x);
    randomise_params(l, 51);
    const graft_tensor *in[1] = {x}, *y = NULL;
    /* Two training steps move the running statistics off their start. */
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    tu_check_roundtrip(l, 1, &x);

    /* The attributes come back: the loaded layer's training step updates
     * the running statistics exactly as the original's. */
    graftWriter w;
    graftWriterInit(&w, ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    graft_layer *copy = NULL;
    ck_assert_int_eq(graftLayerLoad(ctx, &r, &copy), GRAFT_OK);
    ck_assert_int_eq(graft_layer_set_training(l, 1), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_forward(copy, 1, in, &y), GRAFT_OK);
    for (int k = 0; k < 4; k++)
        ck_assert(memcmp(graft_tensor_data(param(l, k)), graft_tensor_data(param(copy, k)),
                         2 * sizeof(float)) == 0);
    graft_layer_free(copy);
    graftWriterDispose(&w);

    /* An unbuilt layer round-trips too. */
    graft_layer *u = NULL;
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &u), GRAFT_OK);
    graftWriterInit(&w, ctx);
    ck_assert_int_eq(graftLayerSave(u, &w), GRAFT_OK);
    graftReaderInit(&r, ctx, w.data, w.size);
    ck_assert_int_eq(graftLayerLoad(ctx, &r, &copy), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(copy), "batch_norm");
    ck_assert_int_eq(graft_layer_param_count(copy), 0);
    graft_layer_free(copy);
    graftWriterDispose(&w);
    graft_layer_free(u);

    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Saves an unbuilt layer, overwrites the float at attr_offset of its
 * attributes with v and loads it back: the status. */
static int load_patched(graft_ctx *ctx, size_t attr_offset, float v)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    int st = tu_load_patched(l, attr_offset, &v); /* little-endian hosts, as the format */
    graft_layer_free(l);
    return st;
}

START_TEST(test_bn_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 0.0f, 0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_batch_norm(): epsilon is 0, must be > 0 and finite");
    ck_assert_int_eq(graft_layer_batch_norm(ctx, -1e-5f, 0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_batch_norm(ctx, NAN, 0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "epsilon is nan"));
    ck_assert_int_eq(graft_layer_batch_norm(ctx, INFINITY, 0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "epsilon is inf"));
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, -0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_batch_norm(): momentum is -0.1, must be in [0, 1]");
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 1.5f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "momentum is 1.5"));
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, NAN, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "momentum is nan"));
    ck_assert_int_eq(graft_layer_batch_norm(NULL, 1e-5f, 0.1f, &l), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_batch_norm(): ctx is NULL");
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_batch_norm(): out is NULL");

    /* Rank 1 has no channel axis. */
    ck_assert_int_eq(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), GRAFT_OK);
    graft_tensor *v = tu_tensor(ctx, 1, 4);
    const graft_tensor *in[1] = {v}, *y = NULL;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): batch_norm layer: input has 1 dimension, needs (N, C, ...)");
    ck_assert_int_eq(graft_layer_param_count(l), 0);

    /* Wrong channel count after the build; backward before forward. */
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 2, 2), *bad = tu_tensor(ctx, 4, 2, 4, 2, 2);
    in[0] = x;
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, x, NULL), GRAFT_E_STATE);
    in[0] = bad;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_forward(): batch_norm layer: inputs[0] has "
                                        "shape (2, 4, 2, 2), expected (2, 3, 2, 2)");
    graft_layer_free(l);

    /* Attributes out of range in a saved layer: the epsilon is the first,
     * the momentum the second. */
    ck_assert_int_eq(load_patched(ctx, 0, 1e-5f), GRAFT_OK);
    ck_assert_int_eq(load_patched(ctx, 0, -1.0f), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): epsilon is -1, must be > 0 and finite");
    ck_assert_int_eq(load_patched(ctx, 0, NAN), GRAFT_E_FORMAT);
    ck_assert_int_eq(load_patched(ctx, 4, 2.0f), GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): momentum is 2, must be in [0, 1]");

    graft_tensor_free(v);
    graft_tensor_free(x);
    graft_tensor_free(bad);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_batchnorm(void)
{
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, test_bn_params_declared_and_initialised);
    tcase_add_test(tc, test_bn_forward_training_hand_computed);
    tcase_add_test(tc, test_bn_forward_training_2d_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("running_stats");
    tcase_add_test(tc, test_bn_running_stats_two_steps);
    tcase_add_test(tc, test_bn_single_value_per_channel);
    suite_add_tcase(s, tc);
    tc = tcase_create("inference");
    tcase_add_test(tc, test_bn_inference_hand_computed);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bn_gradcheck_training);
    tcase_add_test(tc, test_bn_gradcheck_inference);
    tcase_add_test(tc, test_bn_long_planes_against_reference);
    tcase_add_test(tc, test_bn_kernels_bit_exact);
    tcase_add_test(tc, test_bn_backward_without_param_grads);
    tcase_add_test(tc, test_bn_workers_bit_identical);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bn_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_bn_errors);
    suite_add_tcase(s, tc);
    return s;
}
