/* check_parallel.c - ranges of a loop on several threads (src/parallel.h). */
#include "testutil.h"

#include "core/parallel.h"

#include <stdatomic.h>
#include <string.h>

#define MAX_ITEMS 1000

typedef struct marks {
    int hits[MAX_ITEMS];   /* how many ranges covered each item */
    int worker[MAX_ITEMS]; /* which worker ran it */
    atomic_int calls;
} marks;

static void mark_range(void *arg, int begin, int end, int worker)
{
    marks *mk = arg;
    atomic_fetch_add(&mk->calls, 1);
    for (int i = begin; i < end; i++) {
        mk->hits[i]++;
        mk->worker[i] = worker;
    }
}

/* Every item runs exactly once, in one contiguous range per worker, the
 * workers numbered in item order from 0 (the caller), for any item and
 * worker count, including more workers than items. */
START_TEST(test_parallel_for_covers_each_item_once)
{
    const int ns[] = {1, 2, 3, 7, 16, 17, 100, 999};
    const int ws[] = {1, 2, 3, 4, 16, 40};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ws / sizeof ws[0]; b++) {
            static marks mk;
            memset(&mk, 0, sizeof mk);
            const int n = ns[a], w = ws[b];
            graftParallelFor(n, w, mark_range, &mk);
            int used = w < n ? w : n;
            if (used > GRAFT_MAX_WORKERS) used = GRAFT_MAX_WORKERS;
            ck_assert_int_eq(atomic_load(&mk.calls), used);
            for (int i = 0; i < n; i++) {
                ck_assert_msg(mk.hits[i] == 1, "n %d workers %d: item %d ran %d times", n, w, i,
                              mk.hits[i]);
                if (i > 0) ck_assert_int_ge(mk.worker[i], mk.worker[i - 1]);
            }
            ck_assert_int_eq(mk.worker[0], 0);
            ck_assert_int_eq(mk.worker[n - 1], used - 1);
        }
    static marks none;
    graftParallelFor(0, 4, mark_range, &none);
    ck_assert_int_eq(atomic_load(&none.calls), 0);
}
END_TEST

/* Small work stays on the calling thread; large work uses at most the
 * BLAS's thread count and never more workers than items. */
START_TEST(test_parallel_workers)
{
    ck_assert_int_eq(graftParallelWorkers(1000, 1.0), 1);
    ck_assert_int_eq(graftParallelWorkers(1, 1e9), 1);
    int threads = 0;
    graft_ctx *ctx = tu_ctx();
    ck_assert_int_eq(graft_ctx_get_int(ctx, GRAFT_CTX_NUM_THREADS, &threads), GRAFT_OK);
    graft_ctx_free(ctx);
    const int big = graftParallelWorkers(1000, 1e6);
    ck_assert_int_ge(big, 1);
    const int want = threads < GRAFT_MAX_WORKERS ? threads : GRAFT_MAX_WORKERS;
    ck_assert_int_eq(big, want < 2 ? 1 : want);
    ck_assert_int_le(graftParallelWorkers(2, 1e9), 2);
}
END_TEST

Suite *suite_parallel(void)
{
    Suite *s = suite_create("parallel");
    TCase *tc = tcase_create("ranges");
    tcase_add_test(tc, test_parallel_for_covers_each_item_once);
    tcase_add_test(tc, test_parallel_workers);
    suite_add_tcase(s, tc);
    return s;
}
