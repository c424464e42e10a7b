/*
 * check_conv_depthwise.c - depthwise convolutions (src/layers/conv_depthwise.c),
 * through the conv2d layer with one group per input channel: hand-computed
 * values, the 3x3 kernels on phase planes (strides 1 and 2) against the
 * definition and against the generic loops, the same bytes for any thread
 * count, and gradients against finite differences. The configuration
 * helpers and the reference (tu_conv_*) are check_conv2d.c's.
 */
#include "testutil.h"

#include "core/parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Depthwise: x (1, 2, 3, 3), both channels 1..9, groups = channels = 2,
 * kernel 2x2, output 2x2 per channel. */
START_TEST(test_conv2d_forward_depthwise)
{
    graft_ctx *ctx = tu_ctx();
    float xv[18];
    for (int i = 0; i < 9; i++) xv[i] = xv[9 + i] = (float)(i + 1);
    const int64_t xd[] = {1, 2, 3, 3};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_conv2d_spec s = GRAFT_CONV2D_SPEC_INIT;
    s.out_channels = 2;
    s.kernel_h = s.kernel_w = 2;
    s.groups = 2;
    graft_layer *l = tu_conv_spec_layer(ctx, &s, x);
    const float w[] = {1, 0, 0, -1, 0, 1, 1, 0}, b[] = {0.5f, 0};
    tu_conv_set_param(l, 0, w, 8);
    tu_conv_set_param(l, 1, b, 2);
    const graft_tensor *y = tu_conv_forward(l, x);
    /* channel 0: x[y][x] - x[y+1][x+1] = -4 everywhere, + 0.5 = -3.5
       channel 1: x[y][x+1] + x[y+1][x]: 2+4 = 6, 3+5 = 8, 5+7 = 12, 6+8 = 14 */
    const float want[] = {-3.5f, -3.5f, -3.5f, -3.5f, 6, 8, 12, 14};
    tu_assert_close(graft_tensor_data_const(y), want, 8, 1e-5f, 0, "conv2d output");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* The 3x3 depthwise kernels (strides 1 and 2, on phase planes) against the
 * definition: output, input gradient, weight and bias gradients. Odd and
 * even sizes, rows of 1 to 40 columns (vector blocks and tails), no,
 * symmetric, asymmetric and oversized padding, inputs whose last rows or
 * columns no output reads (their gradient must be zero), mixed strides and
 * a channel multiplier of 2 (input gradients of two outputs added). */
START_TEST(test_conv2d_depthwise3x3_matches_definition)
{
    graft_ctx *ctx = tu_ctx();
    /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
    const tu_conv_cfg cfgs[] = {
        {2, 3, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1},
        {1, 2, 1, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1},
        {2, 2, 13, 11, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2, 0},
        {1, 2, 6, 5, 2, 3, 3, 1, 1, 2, 0, 1, 2, 1, 1, 2, 1},
        {1, 2, 5, 19, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1},
        {1, 2, 16, 40, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1},
        {2, 3, 7, 9, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 1},
        {2, 3, 8, 10, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 0},
        {1, 2, 8, 8, 2, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 2, 1},
        {1, 2, 9, 9, 2, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 2, 1},
        {1, 2, 10, 10, 2, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 2, 1}, /* last row, column unread */
        {1, 2, 10, 11, 2, 3, 3, 2, 2, 0, 1, 0, 0, 1, 1, 2, 1}, /* odd left padding */
        {1, 2, 7, 9, 2, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1},
        {1, 2, 9, 7, 2, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1},
        {2, 2, 9, 11, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1},
        {1, 1, 3, 3, 1, 3, 3, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1},
        {1, 2, 17, 33, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1},
        {1, 2, 5, 1, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1},
        {1, 2, 2, 2, 2, 3, 3, 2, 2, 1, 2, 1, 0, 1, 1, 2, 1},
        {1, 2, 14, 14, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 1},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) tu_conv_check_reference(ctx, &cfgs[i]);
    graft_ctx_free(ctx);
}
END_TEST

/* Depthwise layers split over threads by input channel give the same bytes
 * as on one thread: output, input gradient, weight and bias gradients, for
 * the 3x3 kernels and the generic loops (5x5, two outputs per channel). */
START_TEST(test_conv2d_depthwise_threads_same_bytes)
{
    if (!graft_has_blas()) return; /* one thread only */
    graft_ctx *ctx = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
    const tu_conv_cfg cfgs[] = {
        {2, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 64, 1},
        {2, 32, 32, 32, 64, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 32, 1},
    };
    for (size_t c = 0; c < 2; c++) {
        const tu_conv_cfg *k = &cfgs[c];
        graft_tensor *x = tu_conv_input(ctx, k, 7);
        graft_layer *l = tu_conv_layer(ctx, k, x);
        graft_tensor *dy = tu_tensor(ctx, 4, k->n, k->oc, tu_conv_oh(k), tu_conv_ow(k));
        tu_fill_uniform(dy, 8, -1, 1);
        size_t ny = graft_tensor_numel(dy), nx = graft_tensor_numel(x);
        size_t nw = (size_t)k->oc * k->kh * k->kw;
        float *ref = malloc((ny + nx + nw + (size_t)k->oc) * sizeof *ref);
        for (int threads = 1; threads <= 2; threads++) {
            ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, threads), GRAFT_OK);
            const graft_tensor *y = tu_conv_forward(l, x), *in[1] = {x}, *dx = NULL, *g = NULL;
            ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, &dx), GRAFT_OK);
            const float *parts[4];
            size_t sizes[4] = {ny, nx, nw, (size_t)k->oc};
            parts[0] = graft_tensor_data_const(y);
            parts[1] = graft_tensor_data_const(dx);
            ck_assert_int_eq(graft_layer_param(l, 0, NULL, NULL, &g, NULL), GRAFT_OK);
            parts[2] = graft_tensor_data_const(g);
            ck_assert_int_eq(graft_layer_param(l, 1, NULL, NULL, &g, NULL), GRAFT_OK);
            parts[3] = graft_tensor_data_const(g);
            float *r = ref;
            for (int q = 0; q < 4; r += sizes[q], q++) {
                if (threads == 1)
                    memcpy(r, parts[q], sizes[q] * sizeof *r);
                else
                    ck_assert_msg(memcmp(r, parts[q], sizes[q] * sizeof *r) == 0,
                                  "case %zu: part %d differs between 1 and 2 threads", c, q);
            }
        }
        free(ref);
        graft_tensor_free(dy);
        graft_layer_free(l);
        graft_tensor_free(x);
    }
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    graft_ctx_free(ctx);
}
END_TEST

/* The 3x3 depthwise kernels give the same result as the generic direct
 * loops: a 3x3 kernel embedded in a 3x5 one with zero outer columns (which
 * takes the generic path) at stride 1 and 2. */
START_TEST(test_conv2d_depthwise3x3_matches_generic_path)
{
    graft_ctx *ctx = tu_ctx();
    for (int st = 1; st <= 2; st++) {
        /* n, c, h, w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias */
        const tu_conv_cfg k3 = {2, 4, 11, 13, 4, 3, 3, st, st, 1, 1, 1, 1, 1, 1, 4, 1};
        tu_conv_cfg k5 = k3;
        k5.kw = 5;
        k5.pl = 2;
        k5.pr = 2;
        ck_assert_int_eq(tu_conv_ow(&k3), tu_conv_ow(&k5));
        graft_tensor *x = tu_conv_input(ctx, &k3, 5);
        graft_layer *l3 = tu_conv_layer(ctx, &k3, x), *l5 = tu_conv_layer(ctx, &k5, x);
        float *w3 = tu_conv_param(l3, 0), *w5 = tu_conv_param(l5, 0);
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                    w5[(o * 3 + i) * 5 + j] = (j == 0 || j == 4) ? 0.0f : w3[(o * 3 + i) * 3 + j - 1];
        memcpy(tu_conv_param(l5, 1), tu_conv_param(l3, 1), 4 * sizeof(float));
        const graft_tensor *y3 = tu_conv_forward(l3, x), *y5 = tu_conv_forward(l5, x);
        size_t ny = graft_tensor_numel(y3);
        ck_assert_uint_eq(ny, graft_tensor_numel(y5));
        for (size_t i = 0; i < ny; i++)
            ck_assert_float_eq_tol(graft_tensor_data_const(y3)[i], graft_tensor_data_const(y5)[i],
                                   1e-5f);
        graft_tensor *dy = tu_tensor(ctx, 4, k3.n, k3.oc, tu_conv_oh(&k3), tu_conv_ow(&k3));
        tu_fill_uniform(dy, 9, -1, 1);
        const graft_tensor *in[1] = {x}, *dx3 = NULL, *dx5 = NULL, *g3 = NULL, *g5 = NULL;
        ck_assert_int_eq(graft_layer_backward(l3, 1, in, dy, &dx3), GRAFT_OK);
        ck_assert_int_eq(graft_layer_backward(l5, 1, in, dy, &dx5), GRAFT_OK);
        for (size_t i = 0; i < graft_tensor_numel(x); i++)
            ck_assert_float_eq_tol(graft_tensor_data_const(dx3)[i],
                                   graft_tensor_data_const(dx5)[i], 1e-5f);
        ck_assert_int_eq(graft_layer_param(l3, 0, NULL, NULL, &g3, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_layer_param(l5, 0, NULL, NULL, &g5, NULL), GRAFT_OK);
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    ck_assert_float_eq_tol(graft_tensor_data_const(g3)[(o * 3 + i) * 3 + j],
                                           graft_tensor_data_const(g5)[(o * 3 + i) * 5 + j + 1],
                                           1e-4f);
        graft_tensor_free(dy);
        graft_layer_free(l3);
        graft_layer_free(l5);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_conv2d_gradcheck_depthwise)
{
    /* groups == channels == out_channels, stride 2 */
    const tu_conv_cfg k = {2, 3, 5, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 1};
    tu_conv_gradcheck(&k);
    /* channel multiplier 2, stride 1, asymmetric padding */
    const tu_conv_cfg m = {1, 2, 5, 4, 4, 3, 3, 1, 1, 0, 1, 2, 1, 1, 1, 2, 1};
    tu_conv_gradcheck(&m);
}
END_TEST

Suite *suite_conv_depthwise(void)
{
    Suite *s = suite_create("conv_depthwise");
    TCase *tc = tcase_create("depthwise");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conv2d_forward_depthwise);
    tcase_add_test(tc, test_conv2d_depthwise3x3_matches_definition);
    tcase_add_test(tc, test_conv2d_depthwise3x3_matches_generic_path);
    tcase_add_test(tc, test_conv2d_depthwise_threads_same_bytes);
    tcase_add_test(tc, test_conv2d_gradcheck_depthwise);
    suite_add_tcase(s, tc);
    return s;
}
