/* check_context.c - contexts (src/core/context.c): creation, allocator hooks
 * and settings. Versions are check_version.c's, messages check_error.c's. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_ctx_create_and_free)
{
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create(&ctx), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    graft_ctx_free(ctx);
    graft_ctx_free(NULL);
    ck_assert_int_eq(graft_ctx_create(NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_ctx_create_advanced(): out is NULL");
}
END_TEST

START_TEST(test_allocator_hooks_see_every_allocation)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = tu_counting_alloc;
    a.free = tu_counting_free;
    a.opaque = &c;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 2, 4, 3);
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    const graft_tensor *in[1] = {x}, *y = NULL, *dx[1];
    ck_assert_int_eq(graft_layer_forward(l, 1, in, &y), GRAFT_OK);
    ck_assert_int_eq(graft_layer_backward(l, 1, in, y, dx), GRAFT_OK);
    ck_assert(c.allocs > 5);
    graft_layer_free(l);
    graft_tensor_free(x);
    graft_ctx_free(ctx);
    ck_assert_int_eq(c.allocs, c.frees);
}
END_TEST

/* Fails the 1st, 2nd, ... allocation of a forward/backward setup in turn:
 * each failure must report GRAFT_E_NOMEM and leak nothing. */
START_TEST(test_allocation_failures_are_reported_and_leak_free)
{
    for (long fail = 1; fail < 200; fail++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_allocator a = GRAFT_ALLOCATOR_INIT;
        a.alloc = tu_counting_alloc;
        a.free = tu_counting_free;
        a.opaque = &c;
        graft_ctx *ctx = NULL;
        ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
        c.fail_at = c.allocs + fail;
        int64_t dims[2] = {4, 3};
        graft_tensor *x = NULL;
        graft_layer *l = NULL;
        const graft_tensor *y = NULL, *dx[1];
        int st = graft_tensor_create(ctx, 2, dims, &x);
        if (st == GRAFT_OK) st = graft_layer_dense(ctx, 2, 1, &l);
        const graft_tensor *in[1] = {x};
        if (st == GRAFT_OK) st = graft_layer_forward(l, 1, in, &y);
        if (st == GRAFT_OK) st = graft_layer_backward(l, 1, in, y, dx);
        int finished = c.fail_at != 0; /* the failure point was never reached */
        if (!finished) {
            ck_assert_msg(st == GRAFT_E_NOMEM, "failing allocation %ld gave %d", fail, st);
            ck_assert(strstr(graft_errmsg(ctx), "allocate") != NULL);
        } else {
            ck_assert_int_eq(st, GRAFT_OK);
        }
        graft_layer_free(l);
        graft_tensor_free(x);
        graft_ctx_free(ctx);
        ck_assert_int_eq(c.allocs, c.frees);
        if (finished) {
            ck_assert(fail > 5);
            return;
        }
    }
    ck_abort_msg("the sequence never finished");
}
END_TEST

START_TEST(test_allocator_validation)
{
    graft_ctx *ctx = (graft_ctx *)1;
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert(strstr(graft_errmsg(NULL), "must both be set") != NULL);
    a.alloc = tu_counting_alloc;
    a.free = tu_counting_free;
    a.struct_size = 8;
    /* the code every struct_size check gives (core/options.c) */
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_E_VERSION);
    ck_assert(strstr(graft_errmsg(NULL), "struct_size") != NULL);
    ck_assert_int_eq(graft_ctx_create_advanced(NULL, &ctx), GRAFT_E_INVALID_ARG);
}
END_TEST

START_TEST(test_settings)
{
    graft_ctx *ctx = tu_ctx();
    int v = -1;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_USE_BLAS, &v), GRAFT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 0), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_USE_BLAS, &v), GRAFT_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 2), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_ctx_set_int(): GRAFT_CTX_USE_BLAS takes 0 or 1, not 2");
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_WINOGRAD, &v), GRAFT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, 0), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_WINOGRAD, &v), GRAFT_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, 2), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_WINOGRAD, 3), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_ctx_set_int(): GRAFT_CTX_WINOGRAD takes 0, 1 or 2, not 3");
    ck_assert_int_eq(graft_ctx_set_int(ctx, 12345, 0), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(graft_ctx_get_int(ctx, 12345, &v), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_USE_BLAS, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_ctx_set_int(NULL, GRAFT_CTX_USE_BLAS, 1), GRAFT_E_INVALID_ARG);
    /* The thread count is OpenBLAS's, process-wide: set through one context,
       read through another. */
    graft_ctx *other = tu_ctx();
    int before = 0;
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &before), GRAFT_OK);
    ck_assert(before >= 1);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 1), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_get_int(other, GRAFT_CTX_NUM_THREADS, &v), GRAFT_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 0), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_ctx_set_int(): GRAFT_CTX_NUM_THREADS takes 1 to 256, not 0");
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, 257), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_ctx_set_int(ctx, GRAFT_CTX_NUM_THREADS, before), GRAFT_OK);
    graft_ctx_free(other);
    ck_assert_str_ne(graft_blas_core_name(), "");
    ck_assert_str_ne(graft_blas_core_name(), "none");
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_context(void)
{
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_test(tc, test_ctx_create_and_free);
    tcase_add_test(tc, test_settings);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocator");
    tcase_add_test(tc, test_allocator_hooks_see_every_allocation);
    tcase_add_test(tc, test_allocation_failures_are_reported_and_leak_free);
    tcase_add_test(tc, test_allocator_validation);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
