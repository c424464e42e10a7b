/*
 * check_conv_winograd.c - stride-1 convolutions by Winograd's minimal
 * filtering (src/layers/conv_winograd.c), called directly: the plan (which
 * convolutions it takes, its tiling), the forward pass and both gradients
 * against the direct sums computed here in double, the fused epilogue, the
 * gradients' outputs overwritten (not accumulated), and the same bytes for
 * any worker count. The conv2d layer's choice of this path
 * (GRAFT_CTX_WINOGRAD) is check_conv2d.c's.
 *
 * Tolerance: the transforms cost a few float roundings, about 1e-6 of the
 * output's scale (conv_winograd.h); checked at 2e-5 of the largest
 * magnitude of the reference, plus 2e-5 relative.
 */
#include "testutil.h"

#include "layers/conv_winograd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct wcase {
    int n, c, h, w, o, r, pt, pl, pb, pr, bias;
} wcase;

static int case_oh(const wcase *k) { return k->h + k->pt + k->pb - k->r + 1; }
static int case_ow(const wcase *k) { return k->w + k->pl + k->pr - k->r + 1; }

static float *random_floats(size_t n, uint64_t seed)
{
    graftRng rng;
    graftRngSeed(&rng, seed);
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = 2.0f * graftRngUniform(&rng) - 1.0f;
    return v;
}

static size_t idx4(int a, int b, int c, int d, int nb, int nc, int nd)
{
    return (((size_t)a * nb + b) * nc + c) * nd + d;
}

/* The direct sums in double: y, and for dy the gradients dx and dw. */
static void direct(const wcase *k, const float *x, const float *wt, const float *bias,
                   const float *dy, double *y, double *dx, double *dw)
{
    const int oh = case_oh(k), ow = case_ow(k), r = k->r;
    if (dx) memset(dx, 0, (size_t)k->n * k->c * k->h * k->w * sizeof *dx);
    if (dw) memset(dw, 0, (size_t)k->o * k->c * r * r * sizeof *dw);
    for (int n = 0; n < k->n; n++)
        for (int o = 0; o < k->o; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double s = bias ? bias[o] : 0.0;
                    const double g = dy ? dy[idx4(n, o, i, j, k->o, oh, ow)] : 0.0;
                    for (int c = 0; c < k->c; c++)
                        for (int u = 0; u < r; u++)
                            for (int v = 0; v < r; v++) {
                                const int yy = i + u - k->pt, xx = j + v - k->pl;
                                if (yy < 0 || yy >= k->h || xx < 0 || xx >= k->w) continue;
                                const size_t xi = idx4(n, c, yy, xx, k->c, k->h, k->w);
                                const size_t wi = idx4(o, c, u, v, k->c, r, r);
                                s += (double)x[xi] * wt[wi];
                                if (dx) dx[xi] += g * wt[wi];
                                if (dw) dw[wi] += g * x[xi];
                            }
                    if (y) y[idx4(n, o, i, j, k->o, oh, ow)] = s;
                }
}

static void assert_near(const float *got, const double *want, size_t n, const char *what,
                        size_t case_no)
{
    double scale = 1e-3;
    for (size_t i = 0; i < n; i++) scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        ck_assert_msg(err <= 2e-5 * scale + 2e-5 * fabs(want[i]),
                      "case %zu, %s[%zu]: %.9g, the direct sum %.9g", case_no, what, i,
                      (double)got[i], want[i]);
    }
}

/* Odd sizes (partial edge tiles), no, symmetric, asymmetric and oversized
 * padding, an input smaller than the kernel, few channels, several chunks. */
static const wcase cases[] = {
    /* n, c, h, w, o, r, pt, pl, pb, pr, bias */
    {2, 3, 9, 11, 4, 3, 1, 1, 1, 1, 1},
    {1, 2, 8, 8, 5, 3, 0, 0, 0, 0, 0},
    {2, 3, 7, 6, 2, 3, 2, 0, 1, 3, 1},
    {2, 2, 14, 13, 3, 5, 2, 2, 2, 2, 1},
    {1, 2, 3, 4, 2, 5, 0, 1, 4, 3, 1},
    {1, 1, 2, 2, 1, 5, 2, 2, 2, 2, 0},
    {3, 4, 40, 37, 3, 3, 1, 1, 1, 1, 1},
};
#define N_CASES (sizeof cases / sizeof cases[0])

START_TEST(test_winograd_plan)
{
    graftWinograd p;
    /* 3x3 gives 4x4 output tiles, 5x5 2x2 ones; the input tile is 6x6. */
    ck_assert_int_eq(graftWinogradPlan(&p, 2, 3, 9, 11, 4, 9, 11, 3, 1, 1, 1), 1);
    ck_assert_int_eq(p.m, 4);
    ck_assert_int_eq(p.tiles_y, 3);
    ck_assert_int_eq(p.tiles_x, 3);
    ck_assert_int_eq(p.chunk_tiles % 8, 0);
    ck_assert_int_ge(p.chunk_tiles, p.rows_per_chunk * p.tiles_x);
    ck_assert_int_ge(p.workers, 1);
    ck_assert_uint_gt(graftWinogradWorkspace(&p, 1), graftWinogradWorkspace(&p, 0));
    ck_assert_int_eq(graftWinogradPlan(&p, 1, 2, 14, 13, 3, 14, 13, 5, 2, 2, 1), 1);
    ck_assert_int_eq(p.m, 2);
    ck_assert_int_eq(p.tiles_y, 7);
    ck_assert_int_eq(p.tiles_x, 7);
    /* Other kernels and empty sizes are never taken. */
    ck_assert_int_eq(graftWinogradPlan(&p, 1, 16, 8, 8, 16, 8, 8, 1, 0, 0, 1), 0);
    ck_assert_int_eq(graftWinogradPlan(&p, 1, 16, 8, 8, 16, 4, 4, 7, 1, 1, 1), 0);
    ck_assert_int_eq(graftWinogradPlan(&p, 0, 16, 8, 8, 16, 8, 8, 3, 1, 1, 1), 0);
    ck_assert_int_eq(graftWinogradPlan(&p, 1, 16, 8, 8, 16, 0, 8, 3, 1, 1, 1), 0);
    /* Unless asked always: too few channels or tiles to pay off. */
    ck_assert_int_eq(graftWinogradPlan(&p, 1, 2, 8, 8, 2, 8, 8, 3, 1, 1, 0), 0);
    ck_assert_int_eq(graftWinogradPlan(&p, 1, 16, 2, 2, 16, 2, 2, 3, 1, 1, 0), 0);
    ck_assert_int_eq(graftWinogradPlan(&p, 8, 64, 32, 32, 64, 32, 32, 3, 1, 1, 0), 1);
}
END_TEST

START_TEST(test_winograd_forward_matches_direct)
{
    graft_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < N_CASES; i++) {
        const wcase *k = &cases[i];
        const int oh = case_oh(k), ow = case_ow(k);
        const size_t nx = (size_t)k->n * k->c * k->h * k->w, nw = (size_t)k->o * k->c * k->r * k->r;
        const size_t ny = (size_t)k->n * k->o * oh * ow;
        graftWinograd p;
        ck_assert_int_eq(graftWinogradPlan(&p, k->n, k->c, k->h, k->w, k->o, oh, ow, k->r, k->pt,
                                           k->pl, 1),
                         1);
        float *x = random_floats(nx, 1 + i), *wt = random_floats(nw, 100 + i);
        float *b = k->bias ? random_floats((size_t)k->o, 200 + i) : NULL;
        float *y = malloc(ny * sizeof *y);
        float *work = malloc(graftWinogradWorkspace(&p, 0) * sizeof(float));
        double *want = malloc(ny * sizeof *want);
        for (size_t q = 0; q < ny; q++) y[q] = NAN; /* every output is written */
        graftWinogradForward(ctx, &p, x, wt, b, y, work, NULL);
        direct(k, x, wt, b, NULL, want, NULL, NULL);
        assert_near(y, want, ny, "y", i);
        free(x);
        free(wt);
        free(b);
        free(y);
        free(work);
        free(want);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* The gradients are the forward's exact adjoints: dx and dw against the
 * direct sums, each computed alone (the other NULL) or both, overwriting
 * whatever the buffers held. */
START_TEST(test_winograd_backward_matches_direct)
{
    graft_ctx *ctx = tu_ctx();
    for (size_t i = 0; i < N_CASES; i++) {
        const wcase *k = &cases[i];
        const int oh = case_oh(k), ow = case_ow(k);
        const size_t nx = (size_t)k->n * k->c * k->h * k->w, nw = (size_t)k->o * k->c * k->r * k->r;
        const size_t ny = (size_t)k->n * k->o * oh * ow;
        graftWinograd p;
        ck_assert_int_eq(graftWinogradPlan(&p, k->n, k->c, k->h, k->w, k->o, oh, ow, k->r, k->pt,
                                           k->pl, 1),
                         1);
        float *x = random_floats(nx, 1 + i), *wt = random_floats(nw, 100 + i);
        float *dy = random_floats(ny, 300 + i);
        float *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
        float *work = malloc(graftWinogradWorkspace(&p, 1) * sizeof(float));
        double *want_dx = malloc(nx * sizeof *want_dx), *want_dw = malloc(nw * sizeof *want_dw);
        direct(k, x, wt, NULL, dy, NULL, want_dx, want_dw);
        for (int mode = 0; mode < 3; mode++) { /* both, dx only, dw only */
            for (size_t q = 0; q < nx; q++) dx[q] = 1e3f;
            for (size_t q = 0; q < nw; q++) dw[q] = -1e3f;
            graftWinogradBackward(ctx, &p, x, wt, dy, mode == 1 ? NULL : dw, mode == 2 ? NULL : dx,
                                  work);
            if (mode != 2) assert_near(dx, want_dx, nx, "dx", i);
            else for (size_t q = 0; q < nx; q++) ck_assert_float_eq(dx[q], 1e3f);
            if (mode != 1) assert_near(dw, want_dw, nw, "dw", i);
            else for (size_t q = 0; q < nw; q++) ck_assert_float_eq(dw[q], -1e3f);
        }
        free(x);
        free(wt);
        free(dy);
        free(dx);
        free(dw);
        free(work);
        free(want_dx);
        free(want_dw);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* With an epilogue, every output row goes through graftEpiloguePlane(): the
 * same bytes as the plain forward followed by the epilogue. */
START_TEST(test_winograd_forward_epilogue)
{
    graft_ctx *ctx = tu_ctx();
    const wcase *k = &cases[0];
    const int oh = case_oh(k), ow = case_ow(k);
    const size_t nx = (size_t)k->n * k->c * k->h * k->w, nw = (size_t)k->o * k->c * k->r * k->r;
    const size_t ny = (size_t)k->n * k->o * oh * ow;
    graftWinograd p;
    ck_assert_int_eq(
        graftWinogradPlan(&p, k->n, k->c, k->h, k->w, k->o, oh, ow, k->r, k->pt, k->pl, 1), 1);
    float *x = random_floats(nx, 7), *wt = random_floats(nw, 8);
    float *b = random_floats((size_t)k->o, 9);
    float *scale = random_floats((size_t)k->o, 10), *shift = random_floats((size_t)k->o, 11);
    float *y = malloc(ny * sizeof *y), *ref = malloc(ny * sizeof *ref);
    float *work = malloc(graftWinogradWorkspace(&p, 0) * sizeof(float));
    const graftEpilogueAct acts[3] = {GRAFT_EPI_NONE, GRAFT_EPI_RELU, GRAFT_EPI_CLIP};
    for (int a = 0; a < 3; a++) {
        graftEpilogue ep = {scale, shift, acts[a], -0.25f, 0.5f};
        graftWinogradForward(ctx, &p, x, wt, b, ref, work, NULL);
        for (int n = 0; n < k->n; n++)
            for (int o = 0; o < k->o; o++)
                graftEpiloguePlane(ref + idx4(n, o, 0, 0, k->o, oh, ow), (size_t)oh * ow, &ep, o);
        graftWinogradForward(ctx, &p, x, wt, b, y, work, &ep);
        ck_assert_msg(memcmp(y, ref, ny * sizeof *y) == 0, "epilogue %d differs", a);
    }
    free(x);
    free(wt);
    free(b);
    free(scale);
    free(shift);
    free(y);
    free(ref);
    free(work);
    graft_ctx_free(ctx);
}
END_TEST

/* The transforms split by channel over the workers give the same bytes for
 * any worker count, forward and backward. */
START_TEST(test_winograd_workers_same_bytes)
{
    graft_ctx *ctx = tu_ctx();
    const wcase k = {2, 16, 20, 21, 16, 3, 1, 1, 1, 1, 1};
    const int oh = case_oh(&k), ow = case_ow(&k);
    const size_t nx = (size_t)k.n * k.c * k.h * k.w, nw = (size_t)k.o * k.c * 9;
    const size_t ny = (size_t)k.n * k.o * oh * ow;
    float *x = random_floats(nx, 21), *wt = random_floats(nw, 22), *b = random_floats(16, 23);
    float *dy = random_floats(ny, 24);
    float *y[2], *dx[2], *dw[2];
    for (int run = 0; run < 2; run++) {
        graftWinograd p;
        ck_assert_int_eq(graftWinogradPlan(&p, k.n, k.c, k.h, k.w, k.o, oh, ow, 3, 1, 1, 1), 1);
        p.workers = run == 0 ? 1 : 4;
        float *work = malloc(graftWinogradWorkspace(&p, 1) * sizeof(float));
        y[run] = malloc(ny * sizeof(float));
        dx[run] = malloc(nx * sizeof(float));
        dw[run] = malloc(nw * sizeof(float));
        graftWinogradForward(ctx, &p, x, wt, b, y[run], work, NULL);
        graftWinogradBackward(ctx, &p, x, wt, dy, dw[run], dx[run], work);
        free(work);
    }
    ck_assert(memcmp(y[0], y[1], ny * sizeof(float)) == 0);
    ck_assert(memcmp(dx[0], dx[1], nx * sizeof(float)) == 0);
    ck_assert(memcmp(dw[0], dw[1], nw * sizeof(float)) == 0);
    for (int run = 0; run < 2; run++) {
        free(y[run]);
        free(dx[run]);
        free(dw[run]);
    }
    free(x);
    free(wt);
    free(b);
    free(dy);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_conv_winograd(void)
{
    Suite *s = suite_create("conv_winograd");
    TCase *tc = tcase_create("winograd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_winograd_plan);
    tcase_add_test(tc, test_winograd_forward_matches_direct);
    tcase_add_test(tc, test_winograd_backward_matches_direct);
    tcase_add_test(tc, test_winograd_forward_epilogue);
    tcase_add_test(tc, test_winograd_workers_same_bytes);
    suite_add_tcase(s, tc);
    return s;
}
