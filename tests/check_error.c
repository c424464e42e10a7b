/* check_error.c - status descriptions and detailed error messages
 * (src/core/error.c): graft_strerror, the "function(): cause" messages kept
 * per context and per thread, graftErrorAt's renaming and clearing. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

START_TEST(test_strerror_covers_every_code)
{
    /* Pinned values: these numbers are part of the ABI. */
    ck_assert_int_eq(GRAFT_E_INVALID_ARG, -1);
    ck_assert_int_eq(GRAFT_E_NOMEM, -2);
    ck_assert_int_eq(GRAFT_E_INTERNAL, -13);
    for (int code = GRAFT_E_INTERNAL; code <= GRAFT_OK; code++)
        ck_assert_str_ne(graft_strerror(code), "unknown error");
    ck_assert_str_eq(graft_strerror(GRAFT_E_NOMEM), "out of memory");
    ck_assert_str_eq(graft_strerror(-999), "unknown error");
    ck_assert_str_eq(graft_strerror(5), "unknown error");
}
END_TEST

START_TEST(test_errmsg_is_per_context_and_cleared_on_success)
{
    graft_ctx *a = tu_ctx(), *b = tu_ctx();
    ck_assert_int_eq(graft_ctx_set_int(a, 999, 0), GRAFT_E_NOT_FOUND);
    ck_assert_str_eq(graft_errmsg(a), "graft_ctx_set_int(): unknown setting key 999");
    ck_assert_str_eq(graft_errmsg(b), "");
    ck_assert_str_eq(graft_errmsg(NULL), "graft_ctx_set_int(): unknown setting key 999");
    ck_assert_int_eq(graft_ctx_set_int(a, GRAFT_CTX_USE_BLAS, 1), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(a), "");
    graft_ctx_free(a);
    graft_ctx_free(b);
}
END_TEST

START_TEST(test_error_records_in_context_and_thread)
{
    graft_ctx *a = tu_ctx(), *b = tu_ctx();
    ck_assert_int_eq(graftError(a, GRAFT_E_SHAPE, "graft_thing", "%d of %s", 3, "x"),
                     GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(a), "graft_thing(): 3 of x");
    ck_assert_str_eq(graft_errmsg(NULL), "graft_thing(): 3 of x");
    ck_assert_str_eq(graft_errmsg(b), "");
    /* Without a context only the thread's slot changes. */
    ck_assert_int_eq(graftError(NULL, GRAFT_E_RANGE, "graft_other", "n is %d", -1), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_other(): n is -1");
    ck_assert_str_eq(graft_errmsg(a), "graft_thing(): 3 of x");
    /* No function name: "graft". */
    ck_assert_int_eq(graftError(b, GRAFT_E_IO, NULL, "disk"), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(b), "graft(): disk");
    /* Clearing empties the context's and the thread's message. */
    graftClearError(a);
    ck_assert_str_eq(graft_errmsg(a), "");
    ck_assert_str_eq(graft_errmsg(NULL), "");
    ck_assert_str_eq(graft_errmsg(b), "graft(): disk");
    graftClearError(NULL);
    ck_assert_str_eq(graft_errmsg(b), "graft(): disk");
    graft_ctx_free(a);
    graft_ctx_free(b);
}
END_TEST

/* A message longer than the buffer is cut, NUL-terminated, at
 * GRAFT_ERRMSG_SIZE - 1 bytes; so is a function name that fills it. */
START_TEST(test_error_long_messages_are_cut)
{
    graft_ctx *ctx = tu_ctx();
    char big[2 * GRAFT_ERRMSG_SIZE];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    graftError(ctx, GRAFT_E_FORMAT, "graft_long", "%s", big);
    ck_assert_uint_eq(strlen(graft_errmsg(ctx)), GRAFT_ERRMSG_SIZE - 1);
    ck_assert_int_eq(strncmp(graft_errmsg(ctx), "graft_long(): mmm", 17), 0);
    ck_assert_uint_eq(strlen(graft_errmsg(NULL)), GRAFT_ERRMSG_SIZE - 1);
    graftError(ctx, GRAFT_E_FORMAT, big, "cause");
    ck_assert_uint_eq(strlen(graft_errmsg(ctx)), GRAFT_ERRMSG_SIZE - 1);
    ck_assert_ptr_null(strstr(graft_errmsg(ctx), "cause"));
    graft_ctx_free(ctx);
}
END_TEST

/* graftErrorAt renames a helper's message after the public function, keeps
 * one that already names it, and leaves everything alone on success. */
START_TEST(test_error_at_renames_the_function)
{
    graft_ctx *ctx = tu_ctx();
    graftError(ctx, GRAFT_E_NOMEM, "graftTensorNew", "cannot allocate %d bytes", 64);
    ck_assert_int_eq(graftErrorAt(ctx, GRAFT_E_NOMEM, "graft_model_add"), GRAFT_E_NOMEM);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_add(): cannot allocate 64 bytes");
    ck_assert_str_eq(graft_errmsg(NULL), "graft_model_add(): cannot allocate 64 bytes");
    /* Already named: unchanged (not "graft_model_add(): graft_model_add(): ..."). */
    ck_assert_int_eq(graftErrorAt(ctx, GRAFT_E_NOMEM, "graft_model_add"), GRAFT_E_NOMEM);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_add(): cannot allocate 64 bytes");
    /* A name that is only a prefix of the recorded one is not the same function. */
    graftError(ctx, GRAFT_E_SHAPE, "graft_model_add_x", "bad");
    graftErrorAt(ctx, GRAFT_E_SHAPE, "graft_model_add");
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_add(): bad");
    /* GRAFT_OK changes nothing. */
    ck_assert_int_eq(graftErrorAt(ctx, GRAFT_OK, "graft_other"), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_model_add(): bad");
    /* A message without "(): " is kept whole as the cause. */
    graftClearError(ctx);
    graftErrorAt(ctx, GRAFT_E_INTERNAL, "graft_f");
    ck_assert_str_eq(graft_errmsg(ctx), "graft_f(): ");
    /* Without a context, the thread's message is the one renamed. */
    graftError(NULL, GRAFT_E_IO, "graftHelper", "gone");
    ck_assert_int_eq(graftErrorAt(NULL, GRAFT_E_IO, "graft_load"), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_load(): gone");
    graft_ctx_free(ctx);
}
END_TEST

static void *fail_in_thread(void *arg)
{
    (void)arg;
    graftError(NULL, GRAFT_E_RANGE, "graft_in_thread", "other thread");
    return strcmp(graft_errmsg(NULL), "graft_in_thread(): other thread") == 0 ? arg : (void *)1;
}

/* graft_errmsg(NULL) is the calling thread's: a failure in another thread
 * does not change it. */
START_TEST(test_error_thread_slot_is_per_thread)
{
    graftError(NULL, GRAFT_E_SHAPE, "graft_main", "this thread");
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
    void *res = (void *)2;
    ck_assert_int_eq(pthread_join(t, &res), 0);
    ck_assert_ptr_null(res);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_main(): this thread");
}
END_TEST

/* Two threads failing in one context each read their own message through
 * graft_errmsg(ctx); a thread that has not called into the context reads
 * the last one recorded there. */
typedef struct shared_ctx_arg {
    graft_ctx *ctx;
    pthread_barrier_t *both_failed, *both_read;
    int ok;
} shared_ctx_arg;

static void *fail_in_shared_ctx(void *p)
{
    shared_ctx_arg *a = p;
    graftError(a->ctx, GRAFT_E_RANGE, "graft_worker", "worker's own");
    pthread_barrier_wait(a->both_failed);
    a->ok = strcmp(graft_errmsg(a->ctx), "graft_worker(): worker's own") == 0;
    pthread_barrier_wait(a->both_read);
    return NULL;
}

START_TEST(test_error_shared_context_is_per_thread)
{
    graft_ctx *ctx = tu_ctx();
    pthread_barrier_t both_failed, both_read;
    ck_assert_int_eq(pthread_barrier_init(&both_failed, NULL, 2), 0);
    ck_assert_int_eq(pthread_barrier_init(&both_read, NULL, 2), 0);
    shared_ctx_arg a = {ctx, &both_failed, &both_read, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fail_in_shared_ctx, &a), 0);
    graftError(ctx, GRAFT_E_SHAPE, "graft_main", "main's own");
    pthread_barrier_wait(&both_failed);
    int main_ok = strcmp(graft_errmsg(ctx), "graft_main(): main's own") == 0;
    pthread_barrier_wait(&both_read);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(main_ok);
    ck_assert(a.ok);
    /* after a call elsewhere, graft_errmsg(ctx) is the context's last */
    graftClearError(NULL);
    const char *last = graft_errmsg(ctx);
    ck_assert(strcmp(last, "graft_main(): main's own") == 0 ||
              strcmp(last, "graft_worker(): worker's own") == 0);
    pthread_barrier_destroy(&both_failed);
    pthread_barrier_destroy(&both_read);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_error(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("messages");
    tcase_add_test(tc, test_strerror_covers_every_code);
    tcase_add_test(tc, test_errmsg_is_per_context_and_cleared_on_success);
    tcase_add_test(tc, test_error_records_in_context_and_thread);
    tcase_add_test(tc, test_error_long_messages_are_cut);
    tcase_add_test(tc, test_error_at_renames_the_function);
    tcase_add_test(tc, test_error_thread_slot_is_per_thread);
    tcase_add_test(tc, test_error_shared_context_is_per_thread);
    suite_add_tcase(s, tc);
    return s;
}
