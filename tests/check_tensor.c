/* check_tensor.c - tensors: creation, views, shapes, copies, resizing. */
#include "testutil.h"

#include <string.h>

START_TEST(test_create_is_zero_filled_nchw)
{
    graft_ctx *ctx = tu_ctx();
    int64_t dims[4] = {2, 3, 4, 5};
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, 4, dims, &t), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_ndim(t), 4);
    ck_assert_int_eq(graft_tensor_dim(t, 0), 2);
    ck_assert_int_eq(graft_tensor_dim(t, 3), 5);
    ck_assert_int_eq(graft_tensor_dim(t, -1), 5);
    ck_assert_int_eq(graft_tensor_dim(t, -4), 2);
    ck_assert_int_eq(graft_tensor_dim(t, 4), 0);
    ck_assert_int_eq(graft_tensor_dim(t, -5), 0);
    ck_assert_uint_eq(graft_tensor_numel(t), 120);
    for (size_t i = 0; i < 120; i++) ck_assert_float_eq(graft_tensor_data(t)[i], 0.0f);
    graft_tensor_free(t);
    graft_tensor_free(NULL);
    ck_assert_int_eq(graft_tensor_ndim(NULL), 0);
    ck_assert_uint_eq(graft_tensor_numel(NULL), 0);
    ck_assert_ptr_null(graft_tensor_data(NULL));
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_copy_fill_reshape)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *t = tu_tensor(ctx, 2, 2, 3);
    const float v[6] = {1, 2, 3, 4, 5, 6};
    float back[6];
    ck_assert_int_eq(graft_tensor_copy_from(t, v, 6), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_copy_to(t, back, 6), GRAFT_OK);
    ck_assert(memcmp(v, back, sizeof v) == 0);
    int64_t d3[3] = {3, 1, 2};
    ck_assert_int_eq(graft_tensor_reshape(t, 3, d3), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_dim(t, 0), 3);
    ck_assert_float_eq(graft_tensor_data(t)[5], 6.0f);
    int64_t d_bad[2] = {4, 2};
    ck_assert_int_eq(graft_tensor_reshape(t, 2, d_bad), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_tensor_reshape(): cannot reshape (3, 1, 2) "
                                        "(6 elements) to (4, 2) (8 elements)");
    ck_assert_int_eq(graft_tensor_copy_from(t, v, 5), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_tensor_copy_to(t, back, 7), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_tensor_copy_from(t, NULL, 6), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_tensor_fill(t, 2.5f), GRAFT_OK);
    ck_assert_float_eq(graft_tensor_data(t)[3], 2.5f);
    ck_assert_int_eq(graft_tensor_fill(NULL, 1), GRAFT_E_INVALID_ARG);
    graft_tensor_free(t);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_view_uses_caller_memory)
{
    graft_ctx *ctx = tu_ctx();
    float buf[6] = {0};
    int64_t dims[2] = {2, 3};
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_tensor_create_view(ctx, 2, dims, buf, &t), GRAFT_OK);
    ck_assert_ptr_eq(graft_tensor_data(t), buf);
    ck_assert_int_eq(graft_tensor_fill(t, 7), GRAFT_OK);
    ck_assert_float_eq(buf[4], 7.0f);
    /* a view cannot grow */
    int64_t big[2] = {4, 3};
    ck_assert_int_eq(graftTensorResize(t, 2, big), GRAFT_E_SHAPE);
    int64_t small[1] = {4};
    ck_assert_int_eq(graftTensorResize(t, 1, small), GRAFT_OK);
    ck_assert_ptr_eq(graft_tensor_data(t), buf);
    graft_tensor_free(t); /* must not free buf (valgrind/ASan would tell) */
    ck_assert_int_eq(graft_tensor_create_view(ctx, 2, dims, NULL, &t), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(t);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_resize_reuses_storage)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *t = tu_tensor(ctx, 2, 8, 4);
    float *p = graft_tensor_data(t);
    int64_t d[2] = {3, 4};
    ck_assert_int_eq(graftTensorResize(t, 2, d), GRAFT_OK);
    ck_assert_ptr_eq(graft_tensor_data(t), p); /* shrinking keeps the block */
    d[0] = 8;
    ck_assert_int_eq(graftTensorResize(t, 2, d), GRAFT_OK);
    ck_assert_ptr_eq(graft_tensor_data(t), p); /* back within capacity */
    d[0] = 9;
    ck_assert_int_eq(graftTensorResize(t, 2, d), GRAFT_OK);
    ck_assert_uint_eq(graft_tensor_numel(t), 36);
    graft_tensor_free(t);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_bad_shapes)
{
    graft_ctx *ctx = tu_ctx();
    graft_tensor *t = (graft_tensor *)1;
    int64_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(graft_tensor_create(ctx, 0, dims, &t), GRAFT_E_SHAPE);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_tensor_create(): ndim is 0, must be 1 to 8");
    ck_assert_int_eq(graft_tensor_create(ctx, 9, dims, &t), GRAFT_E_SHAPE);
    dims[1] = 0;
    ck_assert_int_eq(graft_tensor_create(ctx, 2, dims, &t), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_tensor_create(): dims[1] is 0, must be >= 1");
    dims[1] = -3;
    ck_assert_int_eq(graft_tensor_create(ctx, 2, dims, &t), GRAFT_E_SHAPE);
    int64_t huge[3] = {1 << 20, 1 << 20, 2};
    ck_assert_int_eq(graft_tensor_create(ctx, 3, huge, &t), GRAFT_E_SHAPE);
    ck_assert(strstr(graft_errmsg(ctx), "2^40") != NULL);
    int64_t big[2] = {(int64_t)1 << 30, 1 << 9}; /* 2^39 floats: 2 TiB, must fail cleanly */
    ck_assert_int_eq(graft_tensor_create(ctx, 2, big, &t), GRAFT_E_NOMEM);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, NULL, &t), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_tensor_create(NULL, 2, dims, &t), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_tensor_create(): ctx is NULL");
    ck_assert_int_eq(graft_tensor_create(ctx, 2, dims, NULL), GRAFT_E_INVALID_ARG);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_tensor(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("create");
    tcase_add_test(tc, test_create_is_zero_filled_nchw);
    tcase_add_test(tc, test_view_uses_caller_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("data");
    tcase_add_test(tc, test_copy_fill_reshape);
    tcase_add_test(tc, test_resize_reuses_storage);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_bad_shapes);
    suite_add_tcase(s, tc);
    return s;
}
