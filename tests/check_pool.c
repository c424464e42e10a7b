/* check_pool.c - max, average and global average pooling. */
#include "testutil.h"

#include "core/parallel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAXP, AVGP };

static graft_pool2d_spec spec_of(int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
                                 int ceil_mode, int count_include_pad)
{
    graft_pool2d_spec p = GRAFT_POOL2D_SPEC_INIT;
    p.kernel_h = kh;
    p.kernel_w = kw;
    p.stride_h = sh;
    p.stride_w = sw;
    p.pad_top = pt;
    p.pad_left = pl;
    p.pad_bottom = pb;
    p.pad_right = pr;
    p.ceil_mode = ceil_mode;
    p.count_include_pad = count_include_pad;
    return p;
}

static graft_layer *new_pool(graft_ctx *ctx, int kind, const graft_pool2d_spec *p)
{
    graft_layer *l = NULL;
    int st = kind == MAXP ? graft_layer_max_pool2d(ctx, p, &l) : graft_layer_avg_pool2d(ctx, p, &l);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_ptr_nonnull(l);
    return l;
}

static graft_layer *built_pool(graft_ctx *ctx, int kind, const graft_pool2d_spec *p,
                               graft_tensor *x)
{
    graft_layer *l = new_pool(ctx, kind, p);
    tu_build(l, 1, &x);
    return l;
}

static graft_layer *built_global(graft_ctx *ctx, graft_tensor *x)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &l), GRAFT_OK);
    tu_build(l, 1, &x);
    return l;
}

/* Backward of the last forward with out_grad = g; returns the input gradient. */
static const float *run_backward(graft_layer *l, graft_tensor *x, const float *g)
{
    const graft_tensor *in[1] = {x}, *din[1] = {NULL};
    graft_tensor *dy = NULL;
    ck_assert_int_eq(graftTensorNew(l->ctx, l->output->ndim, l->output->dims, &dy), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_from(dy, g, graft_tensor_numel(dy)), GRAFT_OK);
    ck_assert_msg(graft_layer_backward(l, 1, in, dy, din) == GRAFT_OK, "%s",
                  graft_errmsg(l->ctx));
    graft_tensor_free(dy);
    return graft_tensor_data_const(din[0]);
}

static void assert_shape4(const graft_tensor *t, int n, int c, int h, int w)
{
    ck_assert_int_eq(graft_tensor_ndim(t), 4);
    ck_assert_int_eq(graft_tensor_dim(t, 0), n);
    ck_assert_int_eq(graft_tensor_dim(t, 1), c);
    ck_assert_int_eq(graft_tensor_dim(t, 2), h);
    ck_assert_int_eq(graft_tensor_dim(t, 3), w);
}

/* The 4x4 planes of the padded tests. Channel 1 is all negative, so a
 * padding cell (0) would win if it were allowed to. */
static const float plane_a[] = {1, 2, 0, 3,  4, -1, 6, 5,  -2, 7, 8, -3,  9, -4, 10, -5};
static const float plane_neg[] = {-4,  -8,  -1,  -7,  -3,  -6,  -2,  -9,
                                  -5, -11, -10, -12, -13, -14, -15, -16};

/* ---- forward -------------------------------------------------------------- */

/* 3x3 windows, stride 2, padding 1 on a 4x4 plane: output 2x2
 * (floor((4 + 2 - 3) / 2) + 1 = 2). Window rows (and columns) in input
 * coordinates: o = 0 -> {0, 1}, o = 1 -> {1, 2, 3}. */
START_TEST(test_max_forward_padded_strided)
{
    graft_ctx *ctx = tu_ctx();
    float xv[32];
    memcpy(xv, plane_a, sizeof plane_a);
    memcpy(xv + 16, plane_neg, sizeof plane_neg);
    const int64_t xd[] = {1, 2, 4, 4};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_pool2d_spec p = spec_of(3, 3, 2, 2, 1, 1, 1, 1, 0, 0);
    graft_layer *l = built_pool(ctx, MAXP, &p, x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 2, 2, 2);
    /* channel 0: (0,0) max{1,2,4,-1} = 4 at (1,0); (0,1) max{2,0,3,-1,6,5} = 6 at (1,2);
       (1,0) max{4,-1,-2,7,9,-4} = 9 at (3,0);
       (1,1) max{-1,6,5,7,8,-3,-4,10,-5} = 10 at (3,2).
       channel 1: (0,0) max{-4,-8,-3,-6} = -3 at (1,0); (0,1) max{-8,-1,-7,-6,-2,-9} = -1
       at (0,2); (1,0) max{-3,-6,-5,-11,-13,-14} = -3 at (1,0);
       (1,1) max{-6,-2,-9,-11,-10,-12,-14,-15,-16} = -2 at (1,2). */
    const float want[] = {4, 6, 9, 10, -3, -1, -3, -2};
    tu_assert_close(graft_tensor_data_const(y), want, 8, 0, 0, "max pool output");

    /* Backward with dout = 1..8 goes to the argmax cells; channel 1's (1,0)
       wins two windows and receives 5 + 7 = 12. */
    const float g[] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float want_dx[] = {0, 0, 0, 0,  1, 0, 2, 0,  0, 0, 0, 0,  3, 0, 4, 0,
                             0, 0, 6, 0,  12, 0, 8, 0,  0, 0, 0, 0,  0, 0, 0, 0};
    tu_assert_close(run_backward(l, x, g), want_dx, 32, 0, 0, "max pool input gradient");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Ties go to the first cell in row-major window order, and padding never
 * wins even when every input cell is below zero. */
START_TEST(test_max_ties_and_padding)
{
    graft_ctx *ctx = tu_ctx();
    /* 3x3 zeros, 2x2 windows, stride 1: output 2x2, every window a tie, so
       each gradient goes to the window's top-left cell. */
    graft_tensor *x = tu_tensor(ctx, 4, 1, 1, 3, 3);
    graft_pool2d_spec p = spec_of(2, 2, 1, 1, 0, 0, 0, 0, 0, 0);
    graft_layer *l = built_pool(ctx, MAXP, &p, x);
    tu_forward(l, 1, &x);
    const float g[] = {1, 2, 3, 4};
    const float want_dx[] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    tu_assert_close(run_backward(l, x, g), want_dx, 9, 0, 0, "tied max gradient");
    graft_layer_free(l);
    graft_tensor_free(x);

    /* 2x2 plane of -1, 2x2 windows, stride 1, padding 1 all round: output
       3x3 (floor((2 + 2 - 2) / 1) + 1). Every output is -1, not the padding's 0.
       Window rows: o=0 -> {0}, o=1 -> {0,1}, o=2 -> {1}; columns alike. The
       first real cell of each window receives dout = 1..9:
       (0,0) <- 1 + 2 + 4 + 5 = 12, (0,1) <- 3 + 6 = 9, (1,0) <- 7 + 8 = 15,
       (1,1) <- 9. */
    x = tu_tensor(ctx, 4, 1, 1, 2, 2);
    ck_assert_int_eq(graft_tensor_fill(x, -1), GRAFT_OK);
    p = spec_of(2, 2, 1, 1, 1, 1, 1, 1, 0, 0);
    l = built_pool(ctx, MAXP, &p, x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 1, 3, 3);
    const float want[] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    tu_assert_close(graft_tensor_data_const(y), want, 9, 0, 0, "max pool over padding");
    const float g9[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float want_dx2[] = {12, 9, 15, 9};
    tu_assert_close(run_backward(l, x, g9), want_dx2, 4, 0, 0, "tied max gradient, padded");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* A 5x5 plane, 2x2 windows, stride 2, pad_top 1, pad_bottom 1, no column
 * padding.
 * Rows: span 5 + 1 + 1 - 2 = 5: floor 5/2 + 1 = 3; ceil: ceil(5/2) + 1 = 4,
 * but that 4th window would start at 3*2 = 6 >= H + pad_top = 6 (in the
 * bottom padding), so it is dropped: 3 rows either way. Row windows:
 * {0}, {1,2}, {3,4}.
 * Columns: span 5 - 2 = 3: floor 3/2 + 1 = 2; ceil 2 + 1 = 3, the 3rd window
 * starts at 4 < 5 and is kept, covering column 4 only. Column windows:
 * {0,1}, {2,3}, ceil: {4}. */
static const float plane_c[] = {0.5f, -1,    2,     -3, 1.5f,  -2, 4,  -0.5f, 3,  -4,
                                1,    -2.5f, 6,     -1, 2.5f,  -3.5f, 5, -6,   7,  -7,
                                3,    -5,    0.25f, -2, -8};

START_TEST(test_pool_ceil_mode)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[] = {1, 1, 5, 5};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, plane_c);

    /* Max, ceil: (0,*) max{0.5,-1} = 0.5, max{2,-3} = 2, max{1.5} = 1.5;
       (1,*) max{-2,4,1,-2.5} = 4, max{-0.5,3,6,-1} = 6, max{-4,2.5} = 2.5;
       (2,*) max{-3.5,5,3,-5} = 5, max{-6,7,0.25,-2} = 7, max{-7,-8} = -7. */
    graft_pool2d_spec p = spec_of(2, 2, 2, 2, 1, 0, 1, 0, 1, 0);
    graft_layer *l = built_pool(ctx, MAXP, &p, x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 1, 3, 3);
    const float want_ceil[] = {0.5f, 2, 1.5f, 4, 6, 2.5f, 5, 7, -7};
    tu_assert_close(graft_tensor_data_const(y), want_ceil, 9, 0, 0, "max pool, ceil_mode");
    graft_layer_free(l);

    /* Max, floor: the third column is gone. */
    p.ceil_mode = 0;
    l = built_pool(ctx, MAXP, &p, x);
    y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 1, 3, 2);
    const float want_floor[] = {0.5f, 2, 4, 6, 5, 7};
    tu_assert_close(graft_tensor_data_const(y), want_floor, 6, 0, 0, "max pool, floor");
    graft_layer_free(l);

    /* Average, ceil. Window sums: -0.5, -1, 1.5 / 0.5, 7.5, -1.5 / -0.5, -0.75, -15.
       count_include_pad 0 divides by the input cells covered:
         row 0: 2, 2, 1; rows 1 and 2: 4, 4, 2.
       count_include_pad 1 divides by the window clipped to the padded input:
       rows [-1,1) have 2 cells (one of them padding); the ceil column window
       [4,6) clipped to [0, 5 + 0) has 1, so every divisor is 4, 4, 2. */
    p.ceil_mode = 1;
    l = built_pool(ctx, AVGP, &p, x);
    y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 1, 3, 3);
    const float want_avg0[] = {-0.25f, -0.5f, 1.5f, 0.125f, 1.875f, -0.75f,
                               -0.125f, -0.1875f, -7.5f};
    tu_assert_close(graft_tensor_data_const(y), want_avg0, 9, 1e-6f, 0,
                    "avg pool, ceil_mode, count_include_pad 0");
    graft_layer_free(l);
    p.count_include_pad = 1;
    l = built_pool(ctx, AVGP, &p, x);
    y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 1, 3, 3);
    const float want_avg1[] = {-0.125f, -0.25f, 0.75f, 0.125f, 1.875f, -0.75f,
                               -0.125f, -0.1875f, -7.5f};
    tu_assert_close(graft_tensor_data_const(y), want_avg1, 9, 1e-6f, 0,
                    "avg pool, ceil_mode, count_include_pad 1");
    graft_layer_free(l);

    /* A symmetric case PyTorch would take: 5x5, 2x2 windows, stride 2,
       padding 1 everywhere. span 5 + 2 - 2 = 5: ceil gives 4, the 4th window
       starts at 6 >= 5 + 1 and is dropped: 3x3, the same as floor. */
    p = spec_of(2, 2, 2, 2, 1, 1, 1, 1, 1, 0);
    l = built_pool(ctx, MAXP, &p, x);
    assert_shape4(tu_forward(l, 1, &x), 1, 1, 3, 3);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* plane_a with 3x3 windows, stride 2, padding 1 (windows as in
 * test_max_forward_padded_strided):
 *   W00 rows {0,1} cols {0,1}: {1,2,4,-1}, sum 6, 4 cells
 *   W01 rows {0,1} cols {1,2,3}: {2,0,3,-1,6,5}, sum 15, 6 cells
 *   W10 rows {1,2,3} cols {0,1}: {4,-1,-2,7,9,-4}, sum 13, 6 cells
 *   W11 rows {1,2,3} cols {1,2,3}: {-1,6,5,7,8,-3,-4,10,-5}, sum 23, 9 cells
 * Every window clipped to the padded 6x6 input keeps all 9 cells. */
START_TEST(test_avg_count_include_pad)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t xd[] = {1, 1, 4, 4};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, plane_a);
    graft_pool2d_spec p = spec_of(3, 3, 2, 2, 1, 1, 1, 1, 0, 0);
    const float ones[] = {1, 1, 1, 1};

    graft_layer *l = built_pool(ctx, AVGP, &p, x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    assert_shape4(y, 1, 1, 2, 2);
    const float want0[] = {6.0f / 4, 15.0f / 6, 13.0f / 6, 23.0f / 9};
    tu_assert_close(graft_tensor_data_const(y), want0, 4, 1e-6f, 1e-6f,
                    "avg pool, count_include_pad 0");
    /* dout = 1: each cell gets the sum of 1/cells over the windows holding it,
       e.g. (1,1) is in all four: 1/4 + 1/6 + 1/6 + 1/9 = 25/36. */
    const float want_dx0[] = {
        1.0f / 4,  5.0f / 12, 1.0f / 6, 1.0f / 6, 5.0f / 12, 25.0f / 36, 5.0f / 18, 5.0f / 18,
        1.0f / 6,  5.0f / 18, 1.0f / 9, 1.0f / 9, 1.0f / 6,  5.0f / 18,  1.0f / 9,  1.0f / 9};
    tu_assert_close(run_backward(l, x, ones), want_dx0, 16, 1e-6f, 1e-6f,
                    "avg pool input gradient, count_include_pad 0");
    graft_layer_free(l);

    p.count_include_pad = 1;
    l = built_pool(ctx, AVGP, &p, x);
    y = tu_forward(l, 1, &x);
    const float want1[] = {6.0f / 9, 15.0f / 9, 13.0f / 9, 23.0f / 9};
    tu_assert_close(graft_tensor_data_const(y), want1, 4, 1e-6f, 1e-6f,
                    "avg pool, count_include_pad 1");
    /* dout = 1: (number of windows holding the cell) / 9. */
    const float want_dx1[] = {1.0f / 9, 2.0f / 9, 1.0f / 9, 1.0f / 9, 2.0f / 9, 4.0f / 9,
                              2.0f / 9, 2.0f / 9, 1.0f / 9, 2.0f / 9, 1.0f / 9, 1.0f / 9,
                              1.0f / 9, 2.0f / 9, 1.0f / 9, 1.0f / 9};
    tu_assert_close(run_backward(l, x, ones), want_dx1, 16, 1e-6f, 1e-6f,
                    "avg pool input gradient, count_include_pad 1");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_global_avg_forward_backward)
{
    graft_ctx *ctx = tu_ctx();
    /* (2, 2, 2, 3): n0c0 1..6 -> 21/6 = 3.5; n0c1 {-1,-2,-3,4,5,6} -> 9/6 = 1.5;
       n1c0 {0,0,0,0,0,12} -> 2; n1c1 six 0.5 -> 0.5. */
    const float xv[] = {1, 2, 3, 4, 5, 6,   -1, -2, -3, 4, 5, 6,
                        0, 0, 0, 0, 0, 12,  0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    const int64_t xd[] = {2, 2, 2, 3};
    graft_tensor *x = tu_tensor_from(ctx, 4, xd, xv);
    graft_layer *l = built_global(ctx, x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    assert_shape4(y, 2, 2, 1, 1);
    const float want[] = {3.5f, 1.5f, 2, 0.5f};
    tu_assert_close(graft_tensor_data_const(y), want, 4, 1e-6f, 0, "global avg output");
    /* dout = {6, 12, -6, 3}: each cell of a plane gets dout / 6. */
    const float g[] = {6, 12, -6, 3};
    float want_dx[24];
    for (int i = 0; i < 24; i++) want_dx[i] = (const float[]){1, 2, -1, 0.5f}[i / 6];
    tu_assert_close(run_backward(l, x, g), want_dx, 24, 1e-6f, 0, "global avg input gradient");
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- gradients ------------------------------------------------------------ */

/* Distinct values 0.1 apart keep every max window 10 finite-difference steps
 * away from a tie. */
static size_t gradcheck_pool(graft_ctx *ctx, int kind, const graft_pool2d_spec *p, int n, int c,
                             int h, int w, uint64_t seed)
{
    graft_tensor *x = tu_tensor(ctx, 4, n, c, h, w);
    if (kind == MAXP) tu_fill_distinct(x, seed, -6.0f, 0.1f);
    else tu_fill_uniform(x, seed, -2.0f, 2.0f);
    graft_layer *l = built_pool(ctx, kind, p, x);
    size_t checked = tu_gradcheck(l, 1, &x, NULL);
    graft_layer_free(l);
    graft_tensor_free(x);
    return checked;
}

/* Global average pooling against the plain loops, bit for bit: each plane's
 * sum is added in double in element order (the forward runs four planes'
 * sums side by side, the remaining planes alone), and the backward fills
 * every input cell with dout / (H * W). Plane counts 1 to 7 and planes of
 * 1, 7 (1x7), 9, 63 (7x9) and 49 cells, with NaN and infinities in some
 * planes. */
START_TEST(test_global_avg_bit_exact)
{
    graft_ctx *ctx = tu_ctx();
    const int hws[][2] = {{1, 1}, {1, 7}, {3, 3}, {7, 9}, {7, 7}};
    const int planes[][2] = {{1, 1}, {1, 3}, {2, 2}, {1, 5}, {7, 1}};
    uint64_t seed = 950;
    for (size_t hi = 0; hi < sizeof hws / sizeof hws[0]; hi++)
        for (size_t pi = 0; pi < sizeof planes / sizeof planes[0]; pi++) {
            const int n = planes[pi][0], c = planes[pi][1], h = hws[hi][0], w = hws[hi][1];
            const int hw = h * w, np = n * c;
            graft_tensor *x = tu_tensor(ctx, 4, n, c, h, w), *dy = tu_tensor(ctx, 4, n, c, 1, 1);
            tu_fill_uniform(x, seed++, -3, 5);
            tu_fill_uniform(dy, seed++, -1, 1);
            float *xv = graft_tensor_data(x);
            if (np > 2) {
                xv[hw + hw / 2] = NAN;
                xv[2 * hw] = INFINITY;
            }
            graft_layer *l = NULL;
            ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &l), GRAFT_OK);
            const graft_tensor *in[1] = {x}, *y = NULL, *din[1] = {NULL};
            ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_OK);
            ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
            ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
            for (int p = 0; p < np; p++) {
                double sum = 0.0;
                for (int i = 0; i < hw; i++) sum += xv[p * hw + i];
                const float want = (float)(sum / (double)hw), got = graft_tensor_data_const(y)[p];
                ck_assert_msg(memcmp(&got, &want, sizeof want) == 0,
                              "(%d, %d, %d, %d): y[%d] = %a, want %a", n, c, h, w, p, (double)got,
                              (double)want);
                const float g = graft_tensor_data(dy)[p] / (float)hw;
                for (int i = 0; i < hw; i++)
                    ck_assert_msg(memcmp(graft_tensor_data_const(din[0]) + p * hw + i, &g,
                                         sizeof g) == 0,
                                  "(%d, %d, %d, %d): dx[%d]", n, c, h, w, p * hw + i);
            }
            graft_layer_free(l);
            graft_tensor_free(x);
            graft_tensor_free(dy);
        }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_max_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    /* Overlapping 3x3 windows, stride 2, no padding and padding 1. */
    graft_pool2d_spec p = spec_of(3, 3, 2, 2, 0, 0, 0, 0, 0, 0);
    ck_assert_uint_eq(gradcheck_pool(ctx, MAXP, &p, 2, 2, 7, 7, 11), 196);
    p = spec_of(3, 3, 2, 2, 1, 1, 1, 1, 0, 0);
    ck_assert_uint_eq(gradcheck_pool(ctx, MAXP, &p, 2, 2, 6, 5, 12), 120);
    /* Stride 1 (every cell in up to 9 windows), asymmetric padding. */
    p = spec_of(3, 2, 1, 1, 2, 0, 1, 1, 0, 0);
    ck_assert_uint_eq(gradcheck_pool(ctx, MAXP, &p, 1, 3, 5, 6, 13), 90);
    /* Asymmetric padding with ceil_mode. */
    p = spec_of(3, 3, 2, 2, 1, 2, 0, 1, 1, 0);
    ck_assert_uint_eq(gradcheck_pool(ctx, MAXP, &p, 2, 2, 6, 6, 14), 144);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_avg_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    for (int cip = 0; cip <= 1; cip++) {
        for (int ceil_mode = 0; ceil_mode <= 1; ceil_mode++) {
            graft_pool2d_spec p = spec_of(3, 3, 2, 2, 1, 2, 0, 1, ceil_mode, cip);
            ck_assert_uint_eq(gradcheck_pool(ctx, AVGP, &p, 2, 2, 6, 6, 20 + cip), 144);
            p = spec_of(2, 3, 2, 1, 1, 1, 1, 1, ceil_mode, cip);
            ck_assert_uint_eq(gradcheck_pool(ctx, AVGP, &p, 1, 3, 5, 4, 30 + cip), 60);
        }
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_global_avg_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 3, 2, 3, 4);
    tu_fill_uniform(x, 40, -1, 1);
    graft_layer *l = built_global(ctx, x);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x, NULL), 72);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* The argmax workspace follows the batch: a layer built and run on batch 1
 * must grow it for batch 3 (the gradient check would read stale or
 * out-of-range indices otherwise), and a steady or smaller batch allocates
 * nothing. */
START_TEST(test_max_workspace_grows_with_batch)
{
    tu_alloc_counter count = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&count);
    graft_tensor *x1 = tu_tensor(ctx, 4, 1, 2, 5, 5), *x3 = tu_tensor(ctx, 4, 3, 2, 5, 5);
    graft_tensor *x2 = tu_tensor(ctx, 4, 2, 2, 5, 5);
    tu_fill_distinct(x1, 50, -3.0f, 0.1f);
    tu_fill_distinct(x3, 51, -8.0f, 0.1f);
    tu_fill_distinct(x2, 52, -5.0f, 0.1f);
    graft_pool2d_spec p = spec_of(3, 3, 2, 2, 1, 1, 1, 1, 0, 0);
    graft_layer *l = built_pool(ctx, MAXP, &p, x1);
    tu_forward(l, 1, &x1);
    ck_assert_uint_eq(tu_gradcheck(l, 1, &x3, NULL), 150);

    const float g[2 * 2 * 3 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                    25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36};
    graft_tensor *dy = tu_tensor(ctx, 4, 2, 2, 3, 3);
    ck_assert_int_eq(graft_tensor_copy_from(dy, g, 36), GRAFT_OK);
    const graft_tensor *in[1] = {x3}, *y = NULL, *din[1];
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    long before = count.allocs;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    in[0] = x2;
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, din), GRAFT_OK);
    ck_assert_int_eq(count.allocs, before);
    /* The smaller batch routes each gradient as a fresh layer does. */
    graft_layer *fresh = built_pool(ctx, MAXP, &p, x2);
    tu_forward(fresh, 1, &x2);
    const float *want = run_backward(fresh, x2, g);
    tu_assert_close(graft_tensor_data_const(din[0]), want, 100, 0, 0,
                    "max pool gradient after the batch shrank");
    graft_layer_free(fresh);
    graft_layer_free(l);
    graft_tensor_free(x1);
    graft_tensor_free(x2);
    graft_tensor_free(x3);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- the fast paths against the plain rule -------------------------------- */

/* A small generator for the comparison below (xorshift64*). */
static uint64_t ref_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* An input value: mostly a few small integers (many ties, both zeros), some
 * random values, infinities, and NaNs with distinct payloads and signs, so
 * that which NaN wins is visible in the output bits. */
static float awkward_value(uint64_t *s)
{
    uint64_t r = ref_next(s);
    switch (r % 16) {
    case 0: return -INFINITY;
    case 1: return INFINITY;
    case 2: return -0.0f;
    case 3: return bits_float(0x7fc00000u + (uint32_t)(r >> 40) % 1000u);
    case 4: return bits_float(0xffc00000u + (uint32_t)(r >> 40) % 1000u);
    case 5: case 6: case 7: return (float)(int64_t)((r >> 32) % 2000) / 64.0f - 16.0f;
    default: return (float)((int)((r >> 32) % 5) - 2); /* -2 .. 2, 0 as +0 */
    }
}

/* The definition, as in the file comment of layer_pool.c: per window the
 * first cell of the largest value in row-major order, the first NaN beating
 * everything; din[argmax] += dout in output order from zero. */
static void max_pool_reference(const graft_pool2d_spec *p, const float *x, int64_t planes,
                               int64_t h, int64_t w, int64_t oh, int64_t ow, const float *dy,
                               float *y, float *dx)
{
    memset(dx, 0, (size_t)(planes * h * w) * sizeof *dx);
    for (int64_t c = 0; c < planes; c++) {
        const float *xc = x + c * h * w;
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
                int64_t best_i = -1;
                float best = 0;
                for (int64_t i = y0; i < y0 + p->kernel_h; i++)
                    for (int64_t j = x0; j < x0 + p->kernel_w; j++) {
                        if (i < 0 || i >= h || j < 0 || j >= w) continue;
                        float v = xc[i * w + j];
                        if (best_i < 0 || v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            best_i = i * w + j;
                        }
                    }
                ck_assert(best_i >= 0);
                const int64_t o = (c * oh + oy) * ow + ox;
                y[o] = best;
                dx[c * h * w + best_i] += dy[o];
            }
    }
}

/* One geometry on one batch: output and input gradient must equal the
 * reference bit for bit. */
static void max_vs_reference(graft_ctx *ctx, const graft_pool2d_spec *p, int n, int c, int h,
                             int w, uint64_t *seed)
{
    graft_tensor *x = tu_tensor(ctx, 4, n, c, h, w);
    float *xv = graft_tensor_data(x);
    const int64_t numel = (int64_t)n * c * h * w;
    /* a third of the cases: all values tied, or all -inf */
    const uint64_t mode = ref_next(seed) % 9;
    for (int64_t i = 0; i < numel; i++)
        xv[i] = mode == 0 ? -INFINITY : mode == 1 ? 1.0f : mode == 2 && i % 7 ? -0.0f
                                                                : awkward_value(seed);
    graft_layer *l = built_pool(ctx, MAXP, p, x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    const int64_t oh = graft_tensor_dim(y, 2), ow = graft_tensor_dim(y, 3);
    const size_t ny = (size_t)graft_tensor_numel(y);
    float *dy = malloc(ny * sizeof *dy), *want_y = malloc(ny * sizeof *want_y);
    float *want_dx = malloc((size_t)numel * sizeof *want_dx);
    ck_assert(dy && want_y && want_dx);
    /* distinct gradients, so a different argmax shows in din */
    for (size_t i = 0; i < ny; i++) dy[i] = 1.0f + (float)i / 1024.0f;
    max_pool_reference(p, xv, (int64_t)n * c, h, w, oh, ow, dy, want_y, want_dx);
    ck_assert_msg(memcmp(graft_tensor_data_const(y), want_y, ny * sizeof *want_y) == 0,
                  "max pool output differs: kernel %dx%d stride %dx%d pad %d %d %d %d ceil %d "
                  "input %dx%d mode %d",
                  p->kernel_h, p->kernel_w, p->stride_h, p->stride_w, p->pad_top, p->pad_left,
                  p->pad_bottom, p->pad_right, p->ceil_mode, h, w, (int)mode);
    const float *dx = run_backward(l, x, dy);
    ck_assert_msg(memcmp(dx, want_dx, (size_t)numel * sizeof *dx) == 0,
                  "max pool gradient differs: kernel %dx%d stride %dx%d pad %d %d %d %d "
                  "ceil %d input %dx%d mode %d",
                  p->kernel_h, p->kernel_w, p->stride_h, p->stride_w, p->pad_top, p->pad_left,
                  p->pad_bottom, p->pad_right, p->ceil_mode, h, w, (int)mode);
    free(dy);
    free(want_y);
    free(want_dx);
    graft_layer_free(l);
    graft_tensor_free(x);
}

/* The specialised row kernels (2x2 stride 2, 3x3 stride 2, any kernel with
 * stride 1 or 2) and the border and tail handling around them, against the
 * plain definition: the common geometries on odd and even sizes, then random
 * ones (kernel 1-5, stride 1-3, any valid padding, ceil_mode). */
START_TEST(test_max_matches_reference)
{
    graft_ctx *ctx = tu_ctx();
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    static const int fixed[][10] = {
        /* kh kw sh sw pt pl pb pr ceil, input size */
        {2, 2, 2, 2, 0, 0, 0, 0, 0, 28}, {2, 2, 2, 2, 0, 0, 0, 0, 0, 14},
        {2, 2, 2, 2, 0, 0, 0, 0, 1, 15}, {2, 2, 2, 2, 0, 0, 0, 0, 0, 9},
        {3, 3, 2, 2, 1, 1, 1, 1, 0, 112}, {3, 3, 2, 2, 1, 1, 1, 1, 0, 17},
        {3, 3, 2, 2, 1, 1, 1, 1, 1, 18}, {3, 3, 2, 2, 0, 0, 0, 0, 1, 19},
        {3, 3, 1, 1, 1, 1, 1, 1, 0, 13}, {5, 5, 1, 1, 2, 2, 2, 2, 0, 11},
        {2, 2, 1, 1, 0, 0, 1, 1, 0, 10}, {1, 1, 1, 1, 0, 0, 0, 0, 0, 9},
        {1, 1, 2, 2, 0, 0, 0, 0, 0, 9},  {3, 3, 3, 3, 1, 1, 1, 1, 1, 20},
    };
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
        const int *f = fixed[k];
        graft_pool2d_spec p = spec_of(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], 0);
        for (int rep = 0; rep < 3; rep++)
            max_vs_reference(ctx, &p, 2, 2, f[9] - rep % 2 * 3, f[9] + rep, &seed);
    }
    for (int k = 0; k < 300; k++) {
        const int kh = 1 + (int)(ref_next(&seed) % 5), kw = 1 + (int)(ref_next(&seed) % 5);
        const int sh = 1 + (int)(ref_next(&seed) % 3), sw = 1 + (int)(ref_next(&seed) % 3);
        const int pt = (int)(ref_next(&seed) % (uint64_t)kh);
        const int pb = (int)(ref_next(&seed) % (uint64_t)kh);
        const int pl = (int)(ref_next(&seed) % (uint64_t)kw);
        const int pr = (int)(ref_next(&seed) % (uint64_t)kw);
        const int ceil_mode = (int)(ref_next(&seed) % 2);
        const int h = kh + (int)(ref_next(&seed) % 8), w = kw + (int)(ref_next(&seed) % 30);
        graft_pool2d_spec p = spec_of(kh, kw, sh, sw, pt, pl, pb, pr, ceil_mode, 0);
        max_vs_reference(ctx, &p, 1 + k % 2, 1 + k % 3, h, w, &seed);
    }
    graft_ctx_free(ctx);
}
END_TEST

/* ---- serialisation -------------------------------------------------------- */

/* ---- worker counts ---------------------------------------------------------- */

/* The first i < n where a[i] and b[i] differ in bits, or n. */
/* Forward and backward of a fresh layer (kind MAXP or AVGP with spec p, or
 * global average pooling when p is NULL) at the current thread count; out
 * receives y then dx, *n_out their float count. */
static void pool_run_all(graft_ctx *ctx, int kind, const graft_pool2d_spec *p, graft_tensor *x,
                         uint64_t seed, float *out, size_t *n_out)
{
    graft_layer *l = p ? built_pool(ctx, kind, p, x) : built_global(ctx, x);
    const graft_tensor *in[1] = {x}, *dx[1] = {NULL};
    const graft_tensor *y = tu_forward(l, 1, &x);
    const size_t ny = graft_tensor_numel(y), nx = graft_tensor_numel(x);
    graft_tensor *dy = tu_tensor(ctx, 4, (int)graft_tensor_dim(y, 0), (int)graft_tensor_dim(y, 1),
                                 (int)graft_tensor_dim(y, 2), (int)graft_tensor_dim(y, 3));
    tu_fill_uniform(dy, seed, -1, 1);
    ck_assert_msg(graft_layer_backward(l, 1, in, dy, dx) == GRAFT_OK, "%s", graft_errmsg(ctx));
    memcpy(out, graft_tensor_data_const(y), ny * sizeof *out);
    memcpy(out + ny, graft_tensor_data_const(dx[0]), nx * sizeof *out);
    *n_out = ny + nx;
    graft_tensor_free(dy);
    graft_layer_free(l);
}

/* Max pooling (overlapping 3x3 stride 2 windows with padding, and 2x2
 * stride 2), average pooling and global average pooling split over 2
 * workers by plane give the bits of one worker, outputs and input
 * gradients: 6 * 17 = 102 planes of 64 x 66, with repeated values so that
 * max pooling meets ties. */
START_TEST(test_pool_workers_bit_identical)
{
    if (!graft_has_blas()) {
        fprintf(stderr, "note: test_pool_workers_bit_identical skipped: no BLAS, one thread\n");
        return;
    }
    graft_ctx *ctx = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 6, 17, 64, 66);
    const size_t nx = graft_tensor_numel(x);
    tu_fill_uniform(x, 1201, -2, 2);
    float *xv = graft_tensor_data(x);
    for (size_t i = 0; i < nx; i++) xv[i] = roundf(xv[i] * 8.0f) / 8.0f; /* ties */
    const graft_pool2d_spec specs[] = {
        spec_of(3, 3, 2, 2, 1, 1, 1, 1, 0, 0), /* ResNet's stem */
        spec_of(2, 2, 2, 2, 0, 0, 0, 0, 0, 0),
        spec_of(3, 3, 1, 1, 1, 1, 1, 1, 0, 1), /* average, count_include_pad */
    };
    const int kinds[] = {MAXP, MAXP, AVGP};
    float *one = malloc(2 * nx * sizeof *one), *two = malloc(2 * nx * sizeof *two);
    ck_assert(one && two);
    for (int c = 0; c <= 3; c++) {
        const graft_pool2d_spec *p = c < 3 ? &specs[c] : NULL; /* 3: global */
        const int kind = c < 3 ? kinds[c] : AVGP;
        size_t n1 = 0, n2 = 0;
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 1), GRAFT_OK);
        pool_run_all(ctx, kind, p, x, 1300 + (uint64_t)c, one, &n1);
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 2), GRAFT_OK);
        /* a plane's least counted cost: global pooling's, the plane and one float */
        ck_assert_int_eq(graftParallelWorkers(102, 64.0 * 66 + 1), 2);
        pool_run_all(ctx, kind, p, x, 1300 + (uint64_t)c, two, &n2);
        ck_assert_uint_eq(n1, n2);
        const size_t i = tu_first_bit_difference(one, two, n1);
        ck_assert_msg(i == n1, "case %d: element %zu of y|dx: %a at 1 thread, %a at 2", c, i,
                      (double)one[i], (double)two[i]);
    }
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    free(one);
    free(two);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_pool_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 7, 6);
    tu_fill_uniform(x, 60, -1, 1);
    graft_pool2d_spec p = spec_of(3, 2, 2, 1, 2, 1, 0, 1, 1, 1);
    for (int kind = MAXP; kind <= AVGP; kind++) {
        graft_layer *l = built_pool(ctx, kind, &p, x);
        tu_check_roundtrip(l, 1, &x);
        graft_layer_free(l);
    }
    graft_layer *l = built_global(ctx, x);
    tu_check_roundtrip(l, 1, &x);
    graft_layer_free(l);
    /* An unbuilt layer round-trips too. */
    l = new_pool(ctx, AVGP, &p);
    tu_check_roundtrip(l, 1, &x);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* Saves a layer, overwrites attribute `field` (0 = kernel_h, ... in spec
 * order) with value, and loads it back. */
static int load_patched(graft_layer *l, int field, int32_t value)
{
    unsigned char le[4]; /* the format's byte order */
    for (int i = 0; i < 4; i++) le[i] = (unsigned char)((uint32_t)value >> (8 * i));
    return tu_load_patched(l, 4 * (size_t)field, le);
}

START_TEST(test_pool_load_rejects_bad_attributes)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x = tu_tensor(ctx, 4, 1, 1, 6, 6);
    graft_pool2d_spec p = spec_of(3, 3, 2, 2, 1, 1, 1, 1, 0, 0);
    for (int kind = MAXP; kind <= AVGP; kind++) {
        graft_layer *l = built_pool(ctx, kind, &p, x);
        /* The unpatched bytes load (kernel_h rewritten with its own value). */
        ck_assert_int_eq(load_patched(l, 0, 3), GRAFT_OK);
        ck_assert_int_eq(load_patched(l, 0, 0), GRAFT_E_FORMAT);
        ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): kernel_h is 0, must be >= 1");
        ck_assert_int_eq(load_patched(l, 3, -2), GRAFT_E_FORMAT);
        ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): stride_w is -2, must be >= 1");
        ck_assert_int_eq(load_patched(l, 6, 3), GRAFT_E_FORMAT);
        ck_assert_str_eq(graft_errmsg(ctx),
                         "graft_load(): pad_bottom is 3, must be >= 0 and < kernel_h (3)");
        ck_assert_int_eq(load_patched(l, 8, 2), GRAFT_E_FORMAT);
        ck_assert_str_eq(graft_errmsg(ctx), "graft_load(): ceil_mode is 2, must be 0 or 1");
        ck_assert_int_eq(load_patched(l, 9, -1), GRAFT_E_FORMAT);
        ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "count_include_pad is -1"));
        /* A kernel that no longer fits the saved input shape. */
        ck_assert_int_eq(load_patched(l, 1, 9), GRAFT_E_FORMAT);
        graft_layer_free(l);
    }
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

static int make_pool(graft_ctx *ctx, int kind, const graft_pool2d_spec *p, graft_layer **out)
{
    return kind == MAXP ? graft_layer_max_pool2d(ctx, p, out) : graft_layer_avg_pool2d(ctx, p, out);
}

START_TEST(test_pool_spec_errors)
{
    graft_ctx *ctx = tu_ctx();
    static const char *const func[] = {"graft_layer_max_pool2d", "graft_layer_avg_pool2d"};
    for (int kind = MAXP; kind <= AVGP; kind++) {
        char want[256];
        graft_pool2d_spec good = spec_of(3, 2, 1, 1, 2, 1, 0, 0, 0, 0), p;
        graft_layer *l = (graft_layer *)1;

        ck_assert_int_eq(make_pool(NULL, kind, &good, &l), GRAFT_E_INVALID_ARG);
        ck_assert_ptr_null(l);
        snprintf(want, sizeof want, "%s(): ctx is NULL", func[kind]);
        ck_assert_str_eq(graft_errmsg(NULL), want);
        ck_assert_int_eq(make_pool(ctx, kind, NULL, &l), GRAFT_E_INVALID_ARG);
        snprintf(want, sizeof want, "%s(): spec is NULL", func[kind]);
        ck_assert_str_eq(graft_errmsg(ctx), want);
        ck_assert_int_eq(make_pool(ctx, kind, &good, NULL), GRAFT_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "out is NULL"));

        p = good;
        p.struct_size = sizeof p - 4;
        l = (graft_layer *)1;
        ck_assert_int_eq(make_pool(ctx, kind, &p, &l), GRAFT_E_VERSION);
        ck_assert_ptr_null(l);
        ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "struct_size"));
        p.struct_size = sizeof p + 8;
        ck_assert_int_eq(make_pool(ctx, kind, &p, &l), GRAFT_E_VERSION);

        /* Each bad field, named in the message. */
        static const struct {
            int field;
            int value;
            const char *msg;
        } bad[] = {
            {0, 0, "kernel_h is 0, must be >= 1"},
            {1, -1, "kernel_w is -1, must be >= 1"},
            {2, 0, "stride_h is 0, must be >= 1"},
            {3, 0, "stride_w is 0, must be >= 1"},
            {4, -1, "pad_top is -1, must be >= 0 and < kernel_h (3)"},
            {4, 3, "pad_top is 3, must be >= 0 and < kernel_h (3)"},
            {5, 2, "pad_left is 2, must be >= 0 and < kernel_w (2)"},
            {6, 4, "pad_bottom is 4, must be >= 0 and < kernel_h (3)"},
            {7, 2, "pad_right is 2, must be >= 0 and < kernel_w (2)"},
            {7, -3, "pad_right is -3, must be >= 0 and < kernel_w (2)"},
            {8, 2, "ceil_mode is 2, must be 0 or 1"},
            {9, -1, "count_include_pad is -1, must be 0 or 1"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            p = good;
            int *fields[] = {&p.kernel_h,   &p.kernel_w, &p.stride_h,   &p.stride_w,
                             &p.pad_top,    &p.pad_left, &p.pad_bottom, &p.pad_right,
                             &p.ceil_mode,  &p.count_include_pad};
            *fields[bad[i].field] = bad[i].value;
            l = (graft_layer *)1;
            ck_assert_int_eq(make_pool(ctx, kind, &p, &l), GRAFT_E_INVALID_ARG);
            ck_assert_ptr_null(l);
            snprintf(want, sizeof want, "%s(): %s", func[kind], bad[i].msg);
            ck_assert_str_eq(graft_errmsg(ctx), want);
        }
        /* The largest pads allowed are accepted. */
        p = spec_of(3, 2, 1, 1, 2, 1, 2, 1, 1, 1);
        ck_assert_int_eq(make_pool(ctx, kind, &p, &l), GRAFT_OK);
        graft_layer_free(l);
    }
    graft_layer *g = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_global_avg_pool(NULL, &g), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(g);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_global_avg_pool(): ctx is NULL");
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_global_avg_pool(): out is NULL");
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_pool_shape_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *x3 = tu_tensor(ctx, 3, 2, 4, 4), *x5 = tu_tensor(ctx, 5, 1, 2, 4, 4, 1);
    graft_tensor *small = tu_tensor(ctx, 4, 1, 2, 2, 4);
    graft_pool2d_spec p = spec_of(3, 3, 1, 1, 0, 0, 0, 0, 0, 0);
    const graft_tensor *in[1], *y = (const graft_tensor *)1;
    static const char *const kinds[] = {"max_pool2d", "avg_pool2d"};
    for (int kind = MAXP; kind <= AVGP; kind++) {
        char want[256];
        graft_layer *l = new_pool(ctx, kind, &p);
        in[0] = x3;
        ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
        snprintf(want, sizeof want,
                 "graft_layer_build(): %s layer: input must be 4-D (N, C, H, W), got 3 dimensions",
                 kinds[kind]);
        ck_assert_str_eq(graft_errmsg(ctx), want);
        in[0] = x5;
        ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_E_SHAPE);
        ck_assert_ptr_null(y);
        ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "got 5 dimensions"));
        /* 3x3 windows on 2 rows without padding: output height 0. */
        in[0] = small;
        ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
        snprintf(want, sizeof want,
                 "graft_layer_build(): %s layer: a 3x3 window does not fit the 2x4 input padded "
                 "to 2x4; the output size must be >= 1",
                 kinds[kind]);
        ck_assert_str_eq(graft_errmsg(ctx), want);
        graft_layer_free(l);
        /* With a row of padding on each side it fits: output 2x2. */
        graft_pool2d_spec q = spec_of(3, 3, 1, 1, 1, 0, 1, 0, 0, 0);
        l = built_pool(ctx, kind, &q, small);
        assert_shape4(tu_forward(l, 1, &small), 1, 2, 2, 2);
        graft_layer_free(l);
    }
    graft_layer *g = NULL;
    ck_assert_int_eq(graft_layer_global_avg_pool(ctx, &g), GRAFT_OK);
    in[0] = x3;
    ck_assert_int_eq(graft_layer_build(g, 1, in, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_build(): global_avg_pool layer: input must "
                                        "be 4-D (N, C, H, W), got 3 dimensions");
    graft_layer_free(g);
    graft_tensor_free(x3);
    graft_tensor_free(x5);
    graft_tensor_free(small);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_pool(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, test_max_forward_padded_strided);
    tcase_add_test(tc, test_max_ties_and_padding);
    tcase_add_test(tc, test_pool_ceil_mode);
    tcase_add_test(tc, test_avg_count_include_pad);
    tcase_add_test(tc, test_global_avg_forward_backward);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_max_gradcheck);
    tcase_add_test(tc, test_avg_gradcheck);
    tcase_add_test(tc, test_global_avg_gradcheck);
    tcase_add_test(tc, test_global_avg_bit_exact);
    tcase_add_test(tc, test_max_workspace_grows_with_batch);
    tcase_add_test(tc, test_max_matches_reference);
    tcase_add_test(tc, test_pool_workers_bit_identical);
    suite_add_tcase(s, tc);
    tc = tcase_create("serialisation");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pool_roundtrip);
    tcase_add_test(tc, test_pool_load_rejects_bad_attributes);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_pool_spec_errors);
    tcase_add_test(tc, test_pool_shape_errors);
    suite_add_tcase(s, tc);
    return s;
}
