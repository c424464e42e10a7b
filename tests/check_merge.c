/* check_merge.c - the layers that merge several inputs
 * (src/layers/layer_merge.c): add and concat. Values, the kernels against
 * plain loops bit for bit, worker counts, gradients, save/load and errors. */
#include "testutil.h"

#include "core/parallel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- add ------------------------------------------------------------------ */

START_TEST(test_add_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "add");
    const int64_t dims[3] = {2, 1, 3};
    const float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30, -4, -5, -6.5f},
                cv[] = {0.5f, 0.25f, 0, 100, 0, -1};
    graft_tensor *in[3] = {tu_tensor_from(ctx, 3, dims, av), tu_tensor_from(ctx, 3, dims, bv),
                           tu_tensor_from(ctx, 3, dims, cv)};
    /* Two inputs: {11, 22, 33, 0, 0, -0.5}. */
    const graft_tensor *y = tu_forward(l, 2, in);
    tu_assert_dims(y, 3, dims);
    const float want2[] = {11, 22, 33, 0, 0, -0.5f};
    tu_assert_close(graft_tensor_data_const(y), want2, 6, 0, 0, "add of 2");
    graft_layer_free(l);

    /* Three inputs: {11.5, 22.25, 33, 100, 0, -1.5}. */
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    y = tu_forward(l, 3, in);
    const float want3[] = {11.5f, 22.25f, 33, 100, 0, -1.5f};
    tu_assert_close(graft_tensor_data_const(y), want3, 6, 0, 0, "add of 3");

    /* Every input receives the output gradient. */
    graft_tensor *dy = tu_tensor(ctx, 3, 2, 1, 3);
    tu_fill_uniform(dy, 5, -1, 1);
    const graft_tensor *dx[3] = {NULL, NULL, NULL};
    ck_assert_int_eq(graft_layer_backward(l, 3, (const graft_tensor *const *)in, dy, dx),
                     GRAFT_OK);
    for (int i = 0; i < 3; i++) {
        tu_assert_dims(dx[i], 3, dims);
        tu_assert_close(graft_tensor_data_const(dx[i]), graft_tensor_data_const(dy), 6, 0, 0,
                        "add input gradient");
    }
    ck_assert_int_eq(graft_layer_backward(l, 3, (const graft_tensor *const *)in, dy, NULL),
                     GRAFT_OK);
    graft_layer_free(l);
    for (int i = 0; i < 3; i++) graft_tensor_free(in[i]);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

/* add's kernel against the plain sum, bit for bit: two and three inputs of
 * lengths that are not multiples of 8 (and 8 and 64), with NaN, +-inf and
 * +-0 among the values; y = (x0 + x1) + x2 element by element. */
START_TEST(test_add_kernel_bit_exact)
{
    graft_ctx *ctx = tu_ctx();
    const int lengths[] = {1, 7, 8, 9, 63, 64, 100};
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
    uint64_t seed = 900;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
        for (int k = 2; k <= 3; k++) {
            const int n = lengths[li];
            graft_tensor *x[3];
            for (int j = 0; j < k; j++) {
                x[j] = tu_tensor(ctx, 2, 1, n);
                tu_fill_uniform(x[j], seed++, -4, 4);
                /* specials in different places of each input */
                for (int i = j; i < n; i += 6) graft_tensor_data(x[j])[i] = special[(i / 6) % 5];
            }
            graft_layer *l = NULL;
            ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
            const graft_tensor *in[3] = {x[0], x[1], k > 2 ? x[2] : NULL}, *y = NULL;
            ck_assert_int_eq(graft_layer_build(l, k, in, 0), GRAFT_OK);
            ck_assert_int_eq(graft_layer_forward(l, k, in, &y), GRAFT_OK);
            for (int i = 0; i < n; i++) {
                float want = graft_tensor_data(x[0])[i] + graft_tensor_data(x[1])[i];
                if (k > 2) want += graft_tensor_data(x[2])[i];
                const float got = graft_tensor_data_const(y)[i];
                ck_assert_msg(memcmp(&got, &want, sizeof want) == 0,
                              "%d inputs, n %d: y[%d] = %a, want %a", k, n, i, (double)got,
                              (double)want);
            }
            graft_layer_free(l);
            for (int j = 0; j < k; j++) graft_tensor_free(x[j]);
        }
    graft_ctx_free(ctx);
}
END_TEST

/* add of three inputs, forward and backward, split over 2 workers: y is the
 * plain sum (x0 + x1) + x2 bit for bit, as at one worker, and every input
 * gradient is dy. 3 * 7 * 101 * 103 elements, not a whole number of the
 * layer's blocks. */
START_TEST(test_add_workers_bit_identical)
{
    if (!graft_has_blas()) {
        fprintf(stderr, "note: test_add_workers_bit_identical skipped: no BLAS, one thread\n");
        return;
    }
    graft_ctx *ctx = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    graft_tensor *x[3], *dy = tu_tensor(ctx, 4, 3, 7, 101, 103);
    for (int j = 0; j < 3; j++) {
        x[j] = tu_tensor(ctx, 4, 3, 7, 101, 103);
        tu_fill_uniform(x[j], 950 + (uint64_t)j, -4, 4);
    }
    tu_fill_uniform(dy, 960, -1, 1);
    const size_t n = graft_tensor_numel(dy);
    const graft_tensor *in[3] = {x[0], x[1], x[2]};
    for (int t = 1; t <= 2; t++) {
        ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, t), GRAFT_OK);
        if (t == 2) /* 2 floats per element (backward, one gradient) is the least counted */
            ck_assert_int_eq(graftParallelWorkers((int)(n / 4096), 2.0 * 4096), 2);
        graft_layer *l = NULL;
        ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
        const graft_tensor *y = tu_forward(l, 3, (graft_tensor **)x);
        size_t bad = n; /* the first element that differs (no assertion per element) */
        for (size_t i = 0; i < n && bad == n; i++) {
            const float want = (graft_tensor_data(x[0])[i] + graft_tensor_data(x[1])[i]) +
                               graft_tensor_data(x[2])[i];
            if (memcmp(graft_tensor_data_const(y) + i, &want, sizeof want) != 0) bad = i;
        }
        ck_assert_msg(bad == n, "%d threads: y[%zu] is not (x0 + x1) + x2", t, bad);
        const graft_tensor *dx[3] = {NULL, NULL, NULL};
        ck_assert_int_eq(graft_layer_backward(l, 3, in, dy, dx), GRAFT_OK);
        for (int j = 0; j < 3; j++)
            ck_assert_msg(memcmp(graft_tensor_data_const(dx[j]), graft_tensor_data_const(dy),
                                 n * sizeof(float)) == 0,
                          "%d threads: input %d's gradient is not dy", t, j);
        graft_layer_free(l);
    }
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    for (int j = 0; j < 3; j++) graft_tensor_free(x[j]);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_add_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *in[3] = {tu_tensor(ctx, 4, 2, 2, 2, 3), tu_tensor(ctx, 4, 2, 2, 2, 3),
                           tu_tensor(ctx, 4, 2, 2, 2, 3)};
    for (int i = 0; i < 3; i++) tu_fill_uniform(in[i], (uint64_t)(40 + i), -1, 1);
    for (int n = 2; n <= 3; n++) {
        graft_layer *l = NULL;
        ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
        ck_assert_uint_eq(tu_gradcheck(l, n, in, NULL), (size_t)(24 * n));
        ck_assert_int_eq(graft_layer_backward(l, n, (const graft_tensor *const *)in,
                                              l->output, NULL),
                         GRAFT_OK);
        graft_layer_free(l);
    }
    for (int i = 0; i < 3; i++) graft_tensor_free(in[i]);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_add_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_add(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_add(): ctx is NULL");
    ck_assert_int_eq(graft_layer_add(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_add(): out is NULL");

    graft_tensor *a = tu_tensor(ctx, 3, 2, 3, 4), *b = tu_tensor(ctx, 3, 2, 3, 5),
                 *c = tu_tensor(ctx, 2, 2, 12);
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    const graft_tensor *one[1] = {a};
    ck_assert_int_eq(graft_layer_build(l, 1, one, 0), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "takes 2 to 1024 inputs, not 1"));
    const graft_tensor *ab[3] = {a, a, b};
    ck_assert_int_eq(graft_layer_build(l, 3, ab, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): add layer: inputs[2] has shape (N, 3, 5) but "
                     "inputs[0] has (N, 3, 4); all inputs must have one shape");
    /* Same element count, other rank: still refused. */
    const graft_tensor *ac[2] = {a, c}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 2, ac, &y), GRAFT_E_SHAPE);
    ck_assert_ptr_null(y);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): add layer: inputs[1] has shape (N, 12) but "
                     "inputs[0] has (N, 3, 4); all inputs must have one shape");
    graft_layer_free(l);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- concat --------------------------------------------------------------- */

START_TEST(test_concat_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    ck_assert_str_eq(graft_layer_kind(l), "concat");
    /* a (2, 1, 2), b (2, 2, 2), c (2, 3, 2); value = 100 * input + 10 * n + k
       with k the element's index within the sample. */
    const int64_t ad[3] = {2, 1, 2}, bd[3] = {2, 2, 2}, cd[3] = {2, 3, 2};
    const float av[] = {0, 1, 10, 11};
    const float bv[] = {100, 101, 102, 103, 110, 111, 112, 113};
    const float cv[] = {200, 201, 202, 203, 204, 205, 210, 211, 212, 213, 214, 215};
    graft_tensor *in[3] = {tu_tensor_from(ctx, 3, ad, av), tu_tensor_from(ctx, 3, bd, bv),
                           tu_tensor_from(ctx, 3, cd, cv)};
    const graft_tensor *y = tu_forward(l, 3, in);
    /* (2, 6, 2): sample n is a's 2 values, b's 4, then c's 6. */
    const int64_t yd[3] = {2, 6, 2};
    tu_assert_dims(y, 3, yd);
    const float want[] = {0,  1,   100, 101, 102, 103, 200, 201, 202, 203, 204, 205,
                          10, 11,  110, 111, 112, 113, 210, 211, 212, 213, 214, 215};
    tu_assert_close(graft_tensor_data_const(y), want, 24, 0, 0, "concat");

    /* Backward slices the gradient back: dy = 0, 1, ..., 23 gives
       da = {0, 1 | 12, 13}, db = {2..5 | 14..17}, dc = {6..11 | 18..23}. */
    graft_tensor *dy = tu_tensor(ctx, 3, 2, 6, 2);
    for (int i = 0; i < 24; i++) graft_tensor_data(dy)[i] = (float)i;
    const graft_tensor *dx[3] = {NULL, NULL, NULL};
    ck_assert_int_eq(graft_layer_backward(l, 3, (const graft_tensor *const *)in, dy, dx),
                     GRAFT_OK);
    const float da[] = {0, 1, 12, 13}, db[] = {2, 3, 4, 5, 14, 15, 16, 17},
                dc[] = {6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23};
    tu_assert_dims(dx[0], 3, ad);
    tu_assert_dims(dx[1], 3, bd);
    tu_assert_dims(dx[2], 3, cd);
    tu_assert_close(graft_tensor_data_const(dx[0]), da, 4, 0, 0, "concat gradient 0");
    tu_assert_close(graft_tensor_data_const(dx[1]), db, 8, 0, 0, "concat gradient 1");
    tu_assert_close(graft_tensor_data_const(dx[2]), dc, 12, 0, 0, "concat gradient 2");
    ck_assert_int_eq(graft_layer_backward(l, 3, (const graft_tensor *const *)in, dy, NULL),
                     GRAFT_OK);
    graft_layer_free(l);

    /* A single input passes through. */
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    y = tu_forward(l, 1, &in[2]);
    tu_assert_dims(y, 3, cd);
    tu_assert_close(graft_tensor_data_const(y), cv, 12, 0, 0, "concat of 1");
    graft_layer_free(l);

    for (int i = 0; i < 3; i++) graft_tensor_free(in[i]);
    graft_tensor_free(dy);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_concat_4d_other_batch)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    /* Build with batch 1, run with batch 3: (3, 1, 2, 2) + (3, 2, 2, 2) -> (3, 3, 2, 2),
       where sample n holds a[n]'s 4 values and then b[n]'s 8. */
    graft_tensor *a1 = tu_tensor(ctx, 4, 1, 1, 2, 2), *b1 = tu_tensor(ctx, 4, 1, 2, 2, 2);
    const graft_tensor *build[2] = {a1, b1};
    ck_assert_int_eq(graft_layer_build(l, 2, build, 0), GRAFT_OK);
    graft_tensor *in[2] = {tu_tensor(ctx, 4, 3, 1, 2, 2), tu_tensor(ctx, 4, 3, 2, 2, 2)};
    for (int i = 0; i < 12; i++) graft_tensor_data(in[0])[i] = (float)(i + 1);
    for (int i = 0; i < 24; i++) graft_tensor_data(in[1])[i] = (float)(-i - 1);
    const graft_tensor *y = tu_forward(l, 2, in);
    const int64_t yd[4] = {3, 3, 2, 2};
    tu_assert_dims(y, 4, yd);
    const float *yv = graft_tensor_data_const(y);
    for (int n = 0; n < 3; n++)
        for (int k = 0; k < 12; k++) {
            float want = k < 4 ? (float)(n * 4 + k + 1) : (float)(-(n * 8 + (k - 4)) - 1);
            ck_assert_float_eq(yv[n * 12 + k], want);
        }
    graft_layer_free(l);
    graft_tensor_free(a1);
    graft_tensor_free(b1);
    graft_tensor_free(in[0]);
    graft_tensor_free(in[1]);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_concat_gradcheck)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *in[3] = {tu_tensor(ctx, 4, 2, 1, 2, 2), tu_tensor(ctx, 4, 2, 3, 2, 2),
                           tu_tensor(ctx, 4, 2, 2, 2, 2)};
    for (int i = 0; i < 3; i++) tu_fill_uniform(in[i], (uint64_t)(50 + i), -1, 1);
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    ck_assert_uint_eq(tu_gradcheck(l, 3, in, NULL), 8 + 24 + 16);
    ck_assert_int_eq(
        graft_layer_backward(l, 3, (const graft_tensor *const *)in, l->output, NULL), GRAFT_OK);
    graft_layer_free(l);
    for (int i = 0; i < 3; i++) graft_tensor_free(in[i]);
    graft_ctx_free(ctx);
}
END_TEST

/* Concatenation along axes other than 1: values against an index-wise
 * reference, gradients, save/load, and the errors. */
START_TEST(test_concat_other_axes)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *a = tu_tensor(ctx, 4, 2, 3, 1, 5), *b = tu_tensor(ctx, 4, 2, 3, 4, 5);
    tu_fill_distinct(a, 1, -1, 0.01f);
    tu_fill_distinct(b, 2, 1, 0.01f);
    graft_tensor *ab[2] = {a, b};
    const int axes[2] = {2, -2};
    for (int k = 0; k < 2; k++) {
        graft_layer *l = NULL;
        ck_assert_int_eq(graft_layer_concat_axis(ctx, axes[k], &l), GRAFT_OK);
        const graft_tensor *y = tu_forward(l, 2, ab);
        const int64_t want_dims[4] = {2, 3, 5, 5};
        tu_assert_dims(y, 4, want_dims);
        const float *yv = graft_tensor_data_const(y), *av = graft_tensor_data_const(a),
                    *bv = graft_tensor_data_const(b);
        for (int n = 0; n < 6; n++)       /* batch and channel */
            for (int h = 0; h < 5; h++)   /* the joined axis */
                for (int w = 0; w < 5; w++) {
                    float want = h < 1 ? av[n * 5 + w] : bv[(n * 4 + h - 1) * 5 + w];
                    ck_assert_float_eq(yv[(n * 5 + h) * 5 + w], want);
                }
        ck_assert_uint_gt(tu_gradcheck(l, 2, ab, NULL), 0);
        tu_check_roundtrip(l, 2, ab);
        int64_t v[1];
        ck_assert_int_eq(graftLayerAttrInts(l, "axis", v, 1), 1);
        ck_assert_int_eq(v[0], axes[k]);
        graft_layer_free(l);
    }
    /* the last axis */
    graft_tensor *c = tu_tensor(ctx, 3, 2, 3, 2), *d = tu_tensor(ctx, 3, 2, 3, 4);
    tu_fill_distinct(c, 3, -1, 0.01f);
    tu_fill_distinct(d, 4, 1, 0.01f);
    graft_tensor *cd[2] = {c, d};
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_concat_axis(ctx, -1, &l), GRAFT_OK);
    const graft_tensor *y = tu_forward(l, 2, cd);
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < 6; j++)
            ck_assert_float_eq(graft_tensor_data_const(y)[r * 6 + j],
                               j < 2 ? graft_tensor_data_const(c)[r * 2 + j]
                                     : graft_tensor_data_const(d)[r * 4 + j - 2]);
    /* the other axes must agree */
    const graft_tensor *ca[2] = {c, a};
    tu_expect_error(ctx, graft_layer_build(l, 2, ca, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): concat layer: inputs[1] has shape (N, 3, 1, 5) but "
                    "inputs[0] has (N, 3, 2); all dimensions but axis 2 must agree");
    graft_layer_free(l);
    ck_assert_int_eq(graft_layer_concat_axis(ctx, 3, &l), GRAFT_OK);
    const graft_tensor *cc[2] = {c, c};
    tu_expect_error(ctx, graft_layer_build(l, 2, cc, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): concat layer: inputs[0] has shape (N, 3, 2); "
                    "concatenating along axis 3 needs an axis after the batch there");
    /* a file holding axis 0 */
    int32_t zero = 0;
    ck_assert_int_eq(tu_load_patched(l, 0, &zero), GRAFT_E_FORMAT);
    graft_layer_free(l);
    l = (graft_layer *)1;
    tu_expect_error(ctx, graft_layer_concat_axis(ctx, 0, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_concat_axis(): axis is 0, the batch axis; concatenate along "
                    "an axis after it (>= 1, or < 0 from the end)");
    ck_assert_ptr_null(l);
    tu_expect_error(ctx, graft_layer_concat_axis(ctx, -8, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_concat_axis(): axis is -8, must be 1 to 7 or -7 to -1");
    ck_assert_int_eq(graft_layer_concat_axis(ctx, 1, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_concat_axis(NULL, 1, &l), GRAFT_E_INVALID_ARG);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    graft_tensor_free(d);
    graft_ctx_free(ctx);
}
END_TEST

/* A concat layer of axis 1 writes the record graft 1.1 wrote (version 1,
 * no attributes), which loads as axis 1; another axis writes version 2 with
 * the axis, which loads back. */
static graft_layer *concat_saved_and_loaded(graft_ctx *ctx, int axis, uint32_t want_version)
{
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_concat_axis(ctx, axis, &l), GRAFT_OK);
    graftWriter w;
    graftWriterInit(&w, ctx);
    ck_assert_int_eq(graftLayerSave(l, &w), GRAFT_OK);
    /* kind string (u32 length, "concat"), version, then the attributes */
    const size_t at = 4 + 6;
    ck_assert_uint_ge(w.size, at + 4);
    uint32_t version;
    memcpy(&version, w.data + at, 4);
    ck_assert_uint_eq(version, want_version);
    if (want_version == 2) {
        int32_t written;
        memcpy(&written, w.data + at + 4, 4);
        ck_assert_int_eq(written, axis);
    }
    graftReader r;
    graftReaderInit(&r, ctx, w.data, w.size);
    graft_layer *back = NULL;
    ck_assert_msg(graftLayerLoad(ctx, &r, &back) == GRAFT_OK, "%s", graft_errmsg(ctx));
    int64_t v[1];
    ck_assert_int_eq(graftLayerAttrInts(back, "axis", v, 1), 1);
    ck_assert_int_eq(v[0], axis);
    graftWriterDispose(&w);
    graft_layer_free(l);
    return back;
}

START_TEST(test_concat_version_1_file)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *back = concat_saved_and_loaded(ctx, 1, 1);
    graft_tensor *a = tu_tensor(ctx, 3, 2, 1, 3), *b = tu_tensor(ctx, 3, 2, 2, 3);
    graft_tensor *ab[2] = {a, b};
    const graft_tensor *y = tu_forward(back, 2, ab);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 3);
    graft_layer_free(back);
    back = concat_saved_and_loaded(ctx, 2, 2);
    y = tu_forward(back, 2, (graft_tensor *[2]){a, a});
    ck_assert_int_eq(graft_tensor_dim(y, 2), 6);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_layer_free(back);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_concat_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    ck_assert_int_eq(graft_layer_concat(NULL, &l), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(l);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_layer_concat(): ctx is NULL");
    ck_assert_int_eq(graft_layer_concat(ctx, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_layer_concat(): out is NULL");

    graft_tensor *a = tu_tensor(ctx, 4, 2, 1, 4, 4), *b = tu_tensor(ctx, 4, 2, 3, 4, 4),
                 *wide = tu_tensor(ctx, 4, 2, 2, 4, 5), *flat = tu_tensor(ctx, 2, 2, 16),
                 *vec = tu_tensor(ctx, 1, 2);
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    const graft_tensor *abw[3] = {a, b, wide};
    ck_assert_int_eq(graft_layer_build(l, 3, abw, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): concat layer: inputs[2] has shape (N, 2, 4, 5) but "
                     "inputs[0] has (N, 1, 4, 4); all dimensions but axis 1 must agree");
    const graft_tensor *af[2] = {a, flat};
    ck_assert_int_eq(graft_layer_build(l, 2, af, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): concat layer: inputs[1] has shape (N, 16) but "
                     "inputs[0] has (N, 1, 4, 4); all dimensions but axis 1 must agree");
    const graft_tensor *v[2] = {vec, vec};
    ck_assert_int_eq(graft_layer_build(l, 2, v, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_layer_build(): concat layer: inputs[0] has shape (N); inputs need "
                     "at least 2 dimensions (N, C, ...)");
    /* A failed build leaves the layer unbuilt and usable. */
    const graft_tensor *ab[2] = {a, b}, *y = NULL;
    ck_assert_int_eq(graft_layer_forward(l, 2, ab, &y), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(y, 1), 4);
    graft_layer_free(l);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(wide);
    graft_tensor_free(flat);
    graft_tensor_free(vec);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_add_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_add(ctx, &l), GRAFT_OK);
    tu_check_roundtrip_small(l, 2);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_concat_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_concat(ctx, &l), GRAFT_OK);
    tu_check_roundtrip_small(l, 3);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_merge(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("add");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_add_values);
    tcase_add_test(tc, test_add_gradcheck);
    tcase_add_test(tc, test_add_kernel_bit_exact);
    tcase_add_test(tc, test_add_workers_bit_identical);
    tcase_add_test(tc, test_add_errors);
    tcase_add_test(tc, test_add_roundtrip);
    suite_add_tcase(s, tc);
    tc = tcase_create("concat");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concat_values);
    tcase_add_test(tc, test_concat_4d_other_batch);
    tcase_add_test(tc, test_concat_gradcheck);
    tcase_add_test(tc, test_concat_errors);
    tcase_add_test(tc, test_concat_other_axes);
    tcase_add_test(tc, test_concat_version_1_file);
    tcase_add_test(tc, test_concat_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
