/* check_dataset_subset.c - the stratified split and the k-per-class subset. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A dataset of n samples of shape (1,), sample i holding the value i, with
 * the labels given. */
static graft_dataset *labelled(graft_ctx *ctx, int64_t n, const int32_t *labels, int n_classes)
{
    float *f = malloc((size_t)n * sizeof *f);
    ck_assert_ptr_nonnull(f);
    for (int64_t i = 0; i < n; i++) f[i] = (float)i;
    const int64_t dims[1] = {1};
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_memory(ctx, n, 1, dims, f, labels, n_classes, 1, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    free(f);
    return ds;
}

/* The source index (the value) of every sample of ds, in order, into idx;
 * counts per class into per_class (n_classes entries, zeroed here). */
static int64_t read_back(graft_dataset *ds, int64_t *idx, int n_classes, int64_t *per_class)
{
    int64_t n = graft_dataset_size(ds);
    memset(per_class, 0, (size_t)n_classes * sizeof *per_class);
    for (int64_t i = 0; i < n; i++) {
        float v;
        int32_t l;
        ck_assert_int_eq(graft_dataset_get(ds, i, &v, &l), GRAFT_OK);
        idx[i] = (int64_t)v;
        per_class[l]++;
        if (i > 0) ck_assert_msg(idx[i] > idx[i - 1], "the part is not in the original order");
    }
    return n;
}

/* Unbalanced classes: 40 of class 0, 12 of class 1, 7 of class 2, 1 of
 * class 3, interleaved. */
static void unbalanced(int32_t *labels)
{
    int64_t k = 0;
    int left[4] = {40, 12, 7, 1};
    while (k < 60)
        for (int c = 0; c < 4; c++)
            if (left[c]) {
                labels[k++] = c;
                left[c]--;
            }
}

START_TEST(test_split_stratified_proportions)
{
    graft_ctx *ctx = tu_ctx();
    int32_t labels[60];
    unbalanced(labels);
    graft_dataset *ds = labelled(ctx, 60, labels, 4), *t = NULL, *v = NULL;
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.25, 7, &t, &v), GRAFT_OK);
    /* n_val = 15: floors 10, 3, 1, 0 (= 14); the largest fractional part is
     * class 2's (1.75), so it gets the last one; class 3's lone sample stays
     * in training. */
    int64_t vi[60], ti[60], vc[4], tc[4];
    ck_assert_int_eq(read_back(v, vi, 4, vc), 15);
    ck_assert_int_eq(read_back(t, ti, 4, tc), 45);
    ck_assert_int_eq(vc[0], 10);
    ck_assert_int_eq(vc[1], 3);
    ck_assert_int_eq(vc[2], 2);
    ck_assert_int_eq(vc[3], 0);
    ck_assert_int_eq(tc[3], 1);
    /* A partition of the samples. */
    char seen[60] = {0};
    for (int i = 0; i < 15; i++) seen[vi[i]]++;
    for (int i = 0; i < 45; i++) seen[ti[i]]++;
    for (int i = 0; i < 60; i++) ck_assert_int_eq(seen[i], 1);
    /* Seeded: the same seed gives the same parts, another seed others. */
    graft_dataset *t2 = NULL, *v2 = NULL, *t3 = NULL, *v3 = NULL;
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.25, 7, &t2, &v2), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.25, 8, &t3, &v3), GRAFT_OK);
    int64_t vi2[60], vi3[60], c2[4];
    read_back(v2, vi2, 4, c2);
    read_back(v3, vi3, 4, c2);
    ck_assert_mem_eq(vi, vi2, sizeof(int64_t) * 15);
    ck_assert(memcmp(vi, vi3, sizeof(int64_t) * 15) != 0);
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(t2);
    graft_dataset_free(v2);
    graft_dataset_free(t3);
    graft_dataset_free(v3);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Balanced classes: every class gives the same number; a plain split of the
 * same data would not (checked for this seed, so the test can tell). */
START_TEST(test_split_stratified_balanced)
{
    graft_ctx *ctx = tu_ctx();
    int32_t labels[50];
    for (int i = 0; i < 50; i++) labels[i] = i % 5;
    graft_dataset *ds = labelled(ctx, 50, labels, 5), *t = NULL, *v = NULL;
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.2, 1, &t, &v), GRAFT_OK);
    int64_t idx[50], c[5];
    read_back(v, idx, 5, c);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(c[k], 2);
    graft_dataset_free(t);
    graft_dataset_free(v);
    int uneven = 0;
    for (uint64_t seed = 0; seed < 4; seed++) {
        ck_assert_int_eq(graft_dataset_split(ds, 0.2, seed, &t, &v), GRAFT_OK);
        read_back(v, idx, 5, c);
        for (int k = 0; k < 5; k++) uneven |= c[k] != 2;
        graft_dataset_free(t);
        graft_dataset_free(v);
    }
    ck_assert_msg(uneven, "the plain split happened to be stratified for every seed tried");
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* A split of a split refers to the right samples of the source. */
START_TEST(test_split_stratified_of_a_view)
{
    graft_ctx *ctx = tu_ctx();
    int32_t labels[40];
    for (int i = 0; i < 40; i++) labels[i] = (i / 3) % 2;
    graft_dataset *ds = labelled(ctx, 40, labels, 2), *a = NULL, *b = NULL, *t = NULL, *v = NULL;
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 3, &a, &b), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_split_stratified(a, 0.5, 3, &t, &v), GRAFT_OK);
    graft_dataset_free(a);
    graft_dataset_free(ds);
    for (int64_t i = 0; i < graft_dataset_size(v); i++) {
        float x;
        int32_t l;
        ck_assert_int_eq(graft_dataset_get(v, i, &x, &l), GRAFT_OK);
        ck_assert_int_eq(l, labels[(int)x]);
    }
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(b);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_split_stratified_errors)
{
    graft_ctx *ctx = tu_ctx();
    int32_t labels[6] = {0, 1, 2, 0, 1, 2};
    graft_dataset *ds = labelled(ctx, 6, labels, 3), *t = (graft_dataset *)1, *v = (graft_dataset *)1;
    ck_assert_int_eq(graft_dataset_split_stratified(NULL, 0.5, 0, &t, &v), GRAFT_E_INVALID_ARG);
    ck_assert(t == NULL && v == NULL);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.5, 0, &t, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.5, 0, &t, &t), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.0, 0, &t, &v), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 1.0, 0, &t, &v), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, NAN, 0, &t, &v), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.01, 0, &t, &v), GRAFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "each part needs at least 1"));
    /* 4 of 6 to validation would leave a class without training samples. */
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.67, 0, &t, &v), GRAFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "every class keeps at least one"));
    ck_assert(t == NULL && v == NULL);
    /* Half is possible: one of each class. */
    ck_assert_int_eq(graft_dataset_split_stratified(ds, 0.5, 0, &t, &v), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_size(v), 3);
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_subset_per_class)
{
    graft_ctx *ctx = tu_ctx();
    int32_t labels[60];
    unbalanced(labels);
    graft_dataset *ds = labelled(ctx, 60, labels, 4), *s = NULL, *s2 = NULL, *s3 = NULL;
    ck_assert_int_eq(graft_dataset_subset_per_class(ds, 10, 5, &s), GRAFT_OK);
    int64_t idx[60], idx2[60], c[4];
    /* 10, 10, 7 (all of class 2), 1 (all of class 3) */
    ck_assert_int_eq(read_back(s, idx, 4, c), 28);
    ck_assert_int_eq(c[0], 10);
    ck_assert_int_eq(c[1], 10);
    ck_assert_int_eq(c[2], 7);
    ck_assert_int_eq(c[3], 1);
    ck_assert_int_eq(graft_dataset_subset_per_class(ds, 10, 5, &s2), GRAFT_OK);
    read_back(s2, idx2, 4, c);
    ck_assert_mem_eq(idx, idx2, sizeof(int64_t) * 28);
    ck_assert_int_eq(graft_dataset_subset_per_class(ds, 10, 6, &s3), GRAFT_OK);
    read_back(s3, idx2, 4, c);
    ck_assert(memcmp(idx, idx2, sizeof(int64_t) * 28) != 0);
    /* Not the first k of each class: the draw shuffles. */
    int first_only = 1;
    for (int i = 0; i < 28; i++) {
        int rank = 0;
        for (int j = 0; j < idx[i]; j++) rank += labels[j] == labels[idx[i]];
        first_only &= rank < 10;
    }
    ck_assert(!first_only);
    graft_dataset_free(s2);
    graft_dataset_free(s3);
    /* k of a subset: a subset again; errors. */
    s2 = (graft_dataset *)1;
    ck_assert_int_eq(graft_dataset_subset_per_class(s, 0, 5, &s2), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(s2);
    ck_assert_int_eq(graft_dataset_subset_per_class(NULL, 1, 5, &s2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_subset_per_class(s, 1, 5, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_subset_per_class(s, 1, 5, &s2), GRAFT_OK);
    graft_dataset_free(s);
    graft_dataset_free(ds);
    ck_assert_int_eq(read_back(s2, idx, 4, c), 4);
    for (int k = 0; k < 4; k++) ck_assert_int_eq(c[k], 1);
    graft_dataset_free(s2);
    graft_ctx_free(ctx);
}
END_TEST

/* Every allocation failure is reported as such and leaks nothing. */
START_TEST(test_subset_allocation_failures)
{
    int32_t labels[12];
    for (int i = 0; i < 12; i++) labels[i] = i % 3;
    float f[12] = {0};
    const int64_t dims[1] = {1};
    for (long fail = 1; fail < 40; fail++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        graft_dataset *ds = NULL, *t = NULL, *v = NULL, *s = NULL;
        ck_assert_int_eq(graft_dataset_from_memory(ctx, 12, 1, dims, f, labels, 3, 1, &ds), GRAFT_OK);
        c.fail_at = c.allocs + fail;
        int st = graft_dataset_split_stratified(ds, 0.5, 1, &t, &v);
        if (st == GRAFT_OK) st = graft_dataset_subset_per_class(ds, 2, 1, &s);
        if (c.fail_at != 0) {
            ck_assert_int_eq(st, GRAFT_OK);
        } else {
            ck_assert_int_eq(st, GRAFT_E_NOMEM);
            ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "cannot allocate"));
            ck_assert_ptr_null(s);
            if (!t) ck_assert_ptr_null(v);
        }
        graft_dataset_free(ds);
        graft_dataset_free(t);
        graft_dataset_free(v);
        graft_dataset_free(s);
        ck_assert_int_eq(c.allocs - 1, c.frees);
        graft_ctx_free(ctx);
    }
}
END_TEST

Suite *suite_dataset_subset(void)
{
    Suite *s = suite_create("dataset_subset");
    TCase *tc = tcase_create("split_stratified");
    tcase_add_test(tc, test_split_stratified_proportions);
    tcase_add_test(tc, test_split_stratified_balanced);
    tcase_add_test(tc, test_split_stratified_of_a_view);
    tcase_add_test(tc, test_split_stratified_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("subset_per_class");
    tcase_add_test(tc, test_subset_per_class);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocation_failures");
    tcase_add_test(tc, test_subset_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
