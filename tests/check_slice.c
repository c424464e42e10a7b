/*
 * check_slice.c - the slice layer (src/layers/layer_slice.c): ranges of
 * every axis after the batch with steps up and down, against an index-wise
 * reference written from the ONNX Slice rules (negative values, clamping);
 * backward putting the gradient back and zeros elsewhere; gradients, a
 * save/load round trip; the argument, shape and file errors. PyTorch
 * references are check_torch_refs.c's.
 */
#include "testutil.h"

#include <limits.h>
#include <stdlib.h>

/* The entries of an axis of n that ONNX Slice takes: idx[0 .. *count). */
static void slow_range(int64_t n, int64_t start, int64_t end, int64_t step, int64_t *idx,
                       int64_t *count)
{
    if (start < 0) start += n;
    if (end < 0) end += n;
    *count = 0;
    if (step > 0) {
        if (start < 0) start = 0;
        if (end > n) end = n;
        for (int64_t i = start; i < end; i += step) idx[(*count)++] = i;
    } else {
        if (start < 0) start = 0;
        if (start > n - 1) start = n - 1;
        if (end < -1) end = -1;
        for (int64_t i = start; i > end; i += step) idx[(*count)++] = i;
    }
}

/* Forward and backward of slice(axis, start, end, step) on x (2, 3, 4, 5)
 * against slow_range. */
static void check_slice(graft_ctx *ctx, int axis, int64_t start, int64_t end, int64_t step)
{
    const int64_t xd[4] = {2, 3, 4, 5};
    int a = axis < 0 ? axis + 4 : axis;
    int64_t idx[8], count;
    slow_range(xd[a], start, end, step, idx, &count);
    char what[96];
    snprintf(what, sizeof what, "axis %d [%lld:%lld:%lld]", axis, (long long)start,
             (long long)end, (long long)step);
    ck_assert_msg(count > 0, "%s selects nothing", what);
    graft_layer *l = NULL;
    ck_assert_msg(graft_layer_slice(ctx, axis, start, end, step, &l) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    ck_assert_str_eq(graft_layer_kind(l), "slice");
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 4, 5);
    tu_fill_distinct(x, 5, -1, 0.01f);
    const float *xv = graft_tensor_data_const(x);
    const graft_tensor *y = tu_forward(l, 1, &x);
    int64_t yd[4] = {2, 3, 4, 5};
    yd[a] = count;
    tu_assert_dims(y, 4, yd);
    const float *yv = graft_tensor_data_const(y);
    graft_tensor *dy = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 4, yd, &dy), GRAFT_OK);
    tu_fill_distinct(dy, 6, 1, 0.01f);
    const float *dyv = graft_tensor_data_const(dy);
    float *dx_want = calloc(120, sizeof *dx_want);
    int64_t e = 0, i[4];
    for (i[0] = 0; i[0] < yd[0]; i[0]++)
        for (i[1] = 0; i[1] < yd[1]; i[1]++)
            for (i[2] = 0; i[2] < yd[2]; i[2]++)
                for (i[3] = 0; i[3] < yd[3]; i[3]++, e++) {
                    int64_t j[4] = {i[0], i[1], i[2], i[3]};
                    j[a] = idx[i[a]];
                    int64_t src = ((j[0] * 3 + j[1]) * 4 + j[2]) * 5 + j[3];
                    ck_assert_msg(yv[e] == xv[src], "%s: output %lld", what, (long long)e);
                    dx_want[src] = dyv[e];
                }
    const graft_tensor *in[1] = {x}, *dx[1];
    ck_assert_int_eq(graft_layer_backward(l, 1, in, dy, dx), GRAFT_OK);
    tu_assert_close(graft_tensor_data_const(dx[0]), dx_want, 120, 0, 0, what);
    free(dx_want);
    graft_tensor_free(dy);
    graft_tensor_free(x);
    graft_layer_free(l);
}

START_TEST(test_slice_ranges)
{
    graft_ctx *ctx = tu_ctx();
    static const int64_t steps[] = {1, 2, 3, 7, -1, -2, -5};
    static const int64_t bounds[] = {INT64_MIN, -9, -5, -2, -1, 0, 1, 2, 4, 5, 9, INT64_MAX};
    const int nb = (int)(sizeof bounds / sizeof bounds[0]);
    int cases = 0;
    for (int axis = -3; axis <= 3; axis++) {
        if (axis == 0) continue;
        int a = axis < 0 ? axis + 4 : axis;
        const int64_t dims[4] = {2, 3, 4, 5};
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
            for (int b0 = 0; b0 < nb; b0++)
                for (int b1 = 0; b1 < nb; b1++) {
                    int64_t idx[8], count;
                    slow_range(dims[a], bounds[b0], bounds[b1], steps[s], idx, &count);
                    if (count == 0) continue;
                    check_slice(ctx, axis, bounds[b0], bounds[b1], steps[s]);
                    cases++;
                }
    }
    ck_assert_int_gt(cases, 500);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_slice_gradients_roundtrip)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_slice(ctx, 2, 4, -6, -2, &l), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 6, 2);
    tu_fill_uniform(x, 4, -1, 1);
    tu_build(l, 1, &x);
    ck_assert_uint_gt(tu_gradcheck(l, 1, &x, NULL), 0);
    tu_forward(l, 1, &x);
    tu_check_roundtrip(l, 1, &x);
    int64_t v[1];
    ck_assert_int_eq(graftLayerAttrInts(l, "axes", v, 1), 1);
    ck_assert_int_eq(v[0], 2);
    ck_assert_int_eq(graftLayerAttrInts(l, "starts", v, 1), 1);
    ck_assert_int_eq(v[0], 4);
    ck_assert_int_eq(graftLayerAttrInts(l, "ends", v, 1), 1);
    ck_assert_int_eq(v[0], -6);
    ck_assert_int_eq(graftLayerAttrInts(l, "steps", v, 1), 1);
    ck_assert_int_eq(v[0], -2);
    graft_tensor_free(x);
    graft_layer_free(l);
    /* values beyond the int range are kept as its ends */
    ck_assert_int_eq(graft_layer_slice(ctx, -1, INT64_MIN, INT64_MAX, INT64_MAX, &l), GRAFT_OK);
    ck_assert_int_eq(graftLayerAttrInts(l, "starts", v, 1), 1);
    ck_assert_int_eq(v[0], -INT_MAX);
    ck_assert_int_eq(graftLayerAttrInts(l, "ends", v, 1), 1);
    ck_assert_int_eq(v[0], INT_MAX);
    ck_assert_int_eq(graftLayerAttrInts(l, "steps", v, 1), 1);
    ck_assert_int_eq(v[0], INT_MAX);
    graft_layer_free(l);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_slice_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_layer *l = (graft_layer *)1;
    tu_expect_error(ctx, graft_layer_slice(ctx, 0, 0, 1, 1, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_slice(): axis is 0, the batch axis; slice an axis after it "
                    "(>= 1, or < 0 from the end)");
    ck_assert_ptr_null(l);
    tu_expect_error(ctx, graft_layer_slice(ctx, 1, 0, 1, 0, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_slice(): step is 0");
    tu_expect_error(ctx, graft_layer_slice(ctx, 8, 0, 1, 1, &l), GRAFT_E_INVALID_ARG,
                    "graft_layer_slice(): axis is 8, must be 1 to 7 or -7 to -1");
    ck_assert_int_eq(graft_layer_slice(ctx, -8, 0, 1, 1, &l), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_slice(ctx, 1, 0, 1, 1, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_layer_slice(NULL, 1, 0, 1, 1, &l), GRAFT_E_INVALID_ARG);
    graft_tensor *x = tu_tensor(ctx, 3, 2, 3, 4);
    const graft_tensor *in[1] = {x};
    /* an axis the input does not have; -3 is its batch axis */
    ck_assert_int_eq(graft_layer_slice(ctx, 3, 0, 1, 1, &l), GRAFT_OK);
    tu_expect_error(ctx, graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): slice layer: axis 3 does not name an axis after the "
                    "batch of the input (1, 3, 4)");
    graft_layer_free(l);
    ck_assert_int_eq(graft_layer_slice(ctx, -3, 0, 1, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    graft_layer_free(l);
    /* an empty range */
    ck_assert_int_eq(graft_layer_slice(ctx, 2, 3, 3, 1, &l), GRAFT_OK);
    tu_expect_error(ctx, graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE,
                    "graft_layer_build(): slice layer: start 3, end 3, step 1 select nothing "
                    "of axis 2 of the input (1, 3, 4)");
    graft_layer_free(l);
    ck_assert_int_eq(graft_layer_slice(ctx, 1, 0, 2, -1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_layer_build(l, 1, in, 0), GRAFT_E_SHAPE);
    /* a file holding what the constructor refuses: axis 0, step 0 */
    int32_t v = 0;
    ck_assert_int_eq(tu_load_patched(l, 0, &v), GRAFT_E_FORMAT);
    ck_assert_int_eq(tu_load_patched(l, 12, &v), GRAFT_E_FORMAT);
    v = INT32_MIN;
    ck_assert_int_eq(tu_load_patched(l, 4, &v), GRAFT_E_FORMAT);
    v = 2;
    ck_assert_int_eq(tu_load_patched(l, 0, &v), GRAFT_OK);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_slice(void)
{
    Suite *s = suite_create("slice");
    TCase *tc = tcase_create("slice");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_slice_ranges);
    tcase_add_test(tc, test_slice_gradients_roundtrip);
    tcase_add_test(tc, test_slice_errors);
    suite_add_tcase(s, tc);
    return s;
}
