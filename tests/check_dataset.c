/* check_dataset.c - in-memory datasets, their splits, and gathering batches. */
#include "testutil.h"

#include "data/dataset.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------- */



/* Samples of shape (2,) that carry their own index: sample i is
 * {i, 1000 + i} with label i % n_classes. */
static void fill_indexed(int64_t n, int n_classes, float *features, int32_t *labels)
{
    for (int64_t i = 0; i < n; i++) {
        features[2 * i] = (float)i;
        features[2 * i + 1] = 1000.0f + (float)i;
        labels[i] = (int32_t)(i % n_classes);
    }
}

/* A copied dataset of n indexed samples with 3 classes. */
static graft_dataset *indexed_dataset(graft_ctx *ctx, int64_t n)
{
    float *f = malloc((size_t)n * 2 * sizeof *f);
    int32_t *l = malloc((size_t)n * sizeof *l);
    ck_assert(f && l);
    fill_indexed(n, 3, f, l);
    const int64_t dims[1] = {2};
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_memory(ctx, n, 1, dims, f, l, 3, 1, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    free(f);
    free(l);
    return ds;
}

/* The source index of each sample of an indexed dataset (checking that
 * features and label agree with it), written to ids. Returns the size. */
static int64_t sample_ids(graft_dataset *ds, int64_t *ids)
{
    int64_t n = graft_dataset_size(ds);
    for (int64_t i = 0; i < n; i++) {
        float f[2];
        int32_t label = -1;
        ck_assert_int_eq(graft_dataset_get(ds, i, f, &label), GRAFT_OK);
        int64_t id = (int64_t)f[0];
        ck_assert_float_eq(f[1], 1000.0f + (float)id);
        ck_assert_int_eq(label, id % 3);
        ids[i] = id;
    }
    return n;
}

static void assert_ids(graft_dataset *ds, const int64_t *want, int64_t n, const char *what)
{
    int64_t got[64];
    ck_assert_int_le(n, 64);
    ck_assert_msg(graft_dataset_size(ds) == n, "%s: size %lld, expected %lld", what,
                  (long long)graft_dataset_size(ds), (long long)n);
    sample_ids(ds, got);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: sample %lld is %lld, expected %lld", what,
                      (long long)i, (long long)got[i], (long long)want[i]);
}

/* ---- creation --------------------------------------------------------------- */

/* copy 1: the dataset keeps its own copy, so later changes to (and freeing
 * of) the caller's arrays do not reach it. */
START_TEST(test_create_copy_owns_its_arrays)
{
    graft_ctx *ctx = tu_ctx();
    const int64_t dims[3] = {2, 1, 3};
    float *f = malloc(4 * 6 * sizeof *f);
    int32_t *l = malloc(4 * sizeof *l);
    for (int k = 0; k < 24; k++) f[k] = 0.5f * (float)k - 3.0f;
    const int32_t lv[4] = {4, 0, 2, 4};
    memcpy(l, lv, sizeof lv);
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 4, 3, dims, f, l, 5, 1, &ds), GRAFT_OK);
    ck_assert_ptr_nonnull(ds);
    for (int k = 0; k < 24; k++) f[k] = 99.0f;
    for (int k = 0; k < 4; k++) l[k] = 1;
    free(f);
    free(l);
    ck_assert_int_eq(graft_dataset_size(ds), 4);
    ck_assert_int_eq(graft_dataset_class_count(ds), 5);
    /* The private sample shape has the batch placeholder in front. */
    ck_assert_int_eq(ds->src->sample_shape.ndim, 4);
    ck_assert_int_eq(ds->src->sample_shape.dims[0], 1);
    ck_assert_int_eq(ds->src->sample_shape.dims[1], 2);
    ck_assert_int_eq(ds->src->sample_shape.dims[2], 1);
    ck_assert_int_eq(ds->src->sample_shape.dims[3], 3);
    ck_assert_uint_eq(ds->src->sample_numel, 6);
    for (int i = 0; i < 4; i++) {
        float got[6];
        int32_t label = -1;
        ck_assert_int_eq(graft_dataset_get(ds, i, got, &label), GRAFT_OK);
        ck_assert_int_eq(label, lv[i]);
        for (int e = 0; e < 6; e++) ck_assert_float_eq(got[e], 0.5f * (float)(6 * i + e) - 3.0f);
    }
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* copy 0: the caller's arrays are read in place (changes show through) and
 * never freed by graft; only the bookkeeping is allocated. */
START_TEST(test_create_borrowed_reads_the_callers_arrays)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    float f[6] = {1, 2, 3, 4, 5, 6};
    int32_t l[3] = {0, 1, 0};
    const int64_t dims[1] = {2};
    long before = c.allocs;
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 3, 1, dims, f, l, 2, 0, &ds), GRAFT_OK);
    long borrowed_allocs = c.allocs - before;
    float got[2];
    int32_t label;
    ck_assert_int_eq(graft_dataset_get(ds, 1, got, &label), GRAFT_OK);
    ck_assert_float_eq(got[0], 3);
    ck_assert_float_eq(got[1], 4);
    ck_assert_int_eq(label, 1);
    f[2] = -7;
    l[1] = 0;
    ck_assert_int_eq(graft_dataset_get(ds, 1, got, &label), GRAFT_OK);
    ck_assert_float_eq(got[0], -7);
    ck_assert_int_eq(label, 0);
    graft_dataset_free(ds);
    ck_assert_int_eq(c.allocs - 1, c.frees); /* only the context is left */

    /* The copying form allocates exactly two arrays more. */
    before = c.allocs;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 3, 1, dims, f, l, 2, 1, &ds), GRAFT_OK);
    ck_assert_int_eq(c.allocs - before, borrowed_allocs + 2);
    graft_dataset_free(ds);
    ck_assert_int_eq(c.allocs - 1, c.frees); /* only the context is left */
    /* The caller's arrays are intact after both datasets are gone. */
    ck_assert_float_eq(f[5], 6);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_size_class_count_get)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 5);
    ck_assert_int_eq(graft_dataset_size(ds), 5);
    ck_assert_int_eq(graft_dataset_class_count(ds), 3);
    ck_assert_int_eq(graft_dataset_size(NULL), 0);
    ck_assert_int_eq(graft_dataset_class_count(NULL), 0);
    int nd = 0;
    int64_t shape[GRAFT_MAX_DIMS] = {0};
    ck_assert_int_eq(graft_dataset_sample_shape(ds, &nd, shape), GRAFT_OK);
    ck_assert_int_eq(nd, 1);
    ck_assert_int_eq(shape[0], 2);
    ck_assert_int_eq(graft_dataset_sample_shape(ds, NULL, shape), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_dataset_sample_shape(): dataset, ndim and dims must not be NULL");
    ck_assert_int_eq(graft_dataset_sample_shape(NULL, &nd, shape), GRAFT_E_INVALID_ARG);
    int64_t ids[5];
    sample_ids(ds, ids);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(ids[i], i);
    /* Either output may be skipped. */
    float f[2] = {-1, -1};
    int32_t label = -1;
    ck_assert_int_eq(graft_dataset_get(ds, 4, NULL, &label), GRAFT_OK);
    ck_assert_int_eq(label, 1);
    ck_assert_int_eq(graft_dataset_get(ds, 2, f, NULL), GRAFT_OK);
    ck_assert_float_eq(f[0], 2);
    ck_assert_float_eq(f[1], 1002);
    ck_assert_int_eq(graft_dataset_get(ds, 3, NULL, NULL), GRAFT_OK);
    graft_dataset_free(ds);
    graft_dataset_free(NULL);
    graft_ctx_free(ctx);
}
END_TEST

/* A per-sample shape of GRAFT_MAX_DIMS - 1 dimensions is the largest. */
START_TEST(test_create_largest_ndim)
{
    graft_ctx *ctx = tu_ctx();
    int64_t dims[GRAFT_MAX_DIMS - 1];
    for (int d = 0; d < GRAFT_MAX_DIMS - 1; d++) dims[d] = d == 2 ? 2 : 1;
    const float f[4] = {1, 2, 3, 4};
    const int32_t l[2] = {0, 0};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 2, GRAFT_MAX_DIMS - 1, dims, f, l, 1, 0, &ds),
                     GRAFT_OK);
    ck_assert_int_eq(ds->src->sample_shape.ndim, GRAFT_MAX_DIMS);
    float got[2];
    ck_assert_int_eq(graft_dataset_get(ds, 1, got, NULL), GRAFT_OK);
    ck_assert_float_eq(got[0], 3);
    ck_assert_float_eq(got[1], 4);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- splitting ---------------------------------------------------------------- */

/* n_val = round(fraction * size), halves rounded up; the rest is train. */
START_TEST(test_split_sizes_round)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 10);
    const struct {
        double fraction;
        int64_t n_val;
    } cases[] = {{0.25, 3}, {0.3, 3}, {0.34, 3}, {0.35, 4}, {0.05, 1}, {0.5, 5}, {0.94, 9}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        graft_dataset *t = NULL, *v = NULL;
        ck_assert_int_eq(graft_dataset_split(ds, cases[k].fraction, 1, &t, &v), GRAFT_OK);
        ck_assert_msg(graft_dataset_size(v) == cases[k].n_val, "fraction %g: %lld val",
                      cases[k].fraction, (long long)graft_dataset_size(v));
        ck_assert_int_eq(graft_dataset_size(t), 10 - cases[k].n_val);
        ck_assert_int_eq(graft_dataset_class_count(t), 3);
        ck_assert_int_eq(graft_dataset_class_count(v), 3);
        graft_dataset_free(t);
        graft_dataset_free(v);
    }
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* The parts are disjoint, their union is the whole, and each part is in the
 * original (ascending) order. */
START_TEST(test_split_partitions_in_order)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 61);
    graft_dataset *t = NULL, *v = NULL;
    ck_assert_int_eq(graft_dataset_split(ds, 0.2, 3, &t, &v), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_size(v), 12);
    ck_assert_int_eq(graft_dataset_size(t), 49);
    int64_t ti[64], vi[64];
    int seen[61] = {0};
    int64_t nt = sample_ids(t, ti), nv = sample_ids(v, vi);
    for (int64_t i = 0; i < nt; i++) {
        if (i > 0) ck_assert_int_lt(ti[i - 1], ti[i]);
        seen[ti[i]]++;
    }
    for (int64_t i = 0; i < nv; i++) {
        if (i > 0) ck_assert_int_lt(vi[i - 1], vi[i]);
        seen[vi[i]]++;
    }
    for (int i = 0; i < 61; i++) ck_assert_msg(seen[i] == 1, "sample %d seen %d times", i, seen[i]);
    /* A split that put the first samples in val would be no shuffle at all. */
    ck_assert(vi[nv - 1] != nv - 1);
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Same seed, same split; another seed, another split; and the exact parts
 * the documented procedure gives, computed independently (splitmix64 seeding
 * xoshiro256**, Fisher-Yates from the end with next() % (i + 1), val = the
 * first round(f * n) permuted positions, both parts sorted), so that the
 * split cannot change between versions unnoticed. */
START_TEST(test_split_is_seeded_and_stable)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 40);
    graft_dataset *t1, *v1, *t2, *v2, *t3, *v3;
    ck_assert_int_eq(graft_dataset_split(ds, 0.25, 11, &t1, &v1), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_split(ds, 0.25, 11, &t2, &v2), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_split(ds, 0.25, 12, &t3, &v3), GRAFT_OK);
    int64_t a[40], b[40], c[40];
    int64_t n = sample_ids(v1, a);
    ck_assert_int_eq(sample_ids(v2, b), n);
    ck_assert_int_eq(sample_ids(v3, c), n);
    ck_assert(memcmp(a, b, (size_t)n * sizeof *a) == 0);
    ck_assert(memcmp(a, c, (size_t)n * sizeof *a) != 0);
    n = sample_ids(t1, a);
    sample_ids(t2, b);
    ck_assert(memcmp(a, b, (size_t)n * sizeof *a) == 0);
    graft_dataset_free(t1);
    graft_dataset_free(v1);
    graft_dataset_free(t2);
    graft_dataset_free(v2);
    graft_dataset_free(t3);
    graft_dataset_free(v3);
    graft_dataset_free(ds);

    /* 10 samples, 0.3, seed 42: val {3, 7, 8}. */
    ds = indexed_dataset(ctx, 10);
    ck_assert_int_eq(graft_dataset_split(ds, 0.3, 42, &t1, &v1), GRAFT_OK);
    const int64_t want_t1[] = {0, 1, 2, 4, 5, 6, 9}, want_v1[] = {3, 7, 8};
    assert_ids(t1, want_t1, 7, "train (10, 0.3, 42)");
    assert_ids(v1, want_v1, 3, "val (10, 0.3, 42)");
    graft_dataset_free(t1);
    graft_dataset_free(v1);
    graft_dataset_free(ds);

    /* 7 samples, 0.5 (3.5 rounds to 4), seed 0: train {2, 3, 4}. */
    ds = indexed_dataset(ctx, 7);
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 0, &t1, &v1), GRAFT_OK);
    const int64_t want_t2[] = {2, 3, 4}, want_v2[] = {0, 1, 5, 6};
    assert_ids(t1, want_t2, 3, "train (7, 0.5, 0)");
    assert_ids(v1, want_v2, 4, "val (7, 0.5, 0)");
    graft_dataset_free(t1);
    graft_dataset_free(v1);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Splitting a split refers to the right source samples: the sub-split picks
 * the same positions as a split of a fresh dataset of the parent's size
 * would, mapped through the parent. */
START_TEST(test_split_of_split)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 20);
    graft_dataset *t, *v, *tt, *tv;
    ck_assert_int_eq(graft_dataset_split(ds, 0.25, 7, &t, &v), GRAFT_OK);
    const int64_t want_t[] = {0, 1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17};
    const int64_t want_v[] = {5, 10, 13, 18, 19};
    assert_ids(t, want_t, 15, "train");
    assert_ids(v, want_v, 5, "val");
    ck_assert_int_eq(graft_dataset_split(t, 0.4, 9, &tt, &tv), GRAFT_OK);
    const int64_t want_tt[] = {0, 6, 7, 8, 9, 11, 12, 15, 16}, want_tv[] = {1, 2, 3, 4, 14, 17};
    assert_ids(tt, want_tt, 9, "train of train");
    assert_ids(tv, want_tv, 6, "val of train");

    /* The same through a fresh dataset of 15: positions p give t's p-th samples. */
    graft_dataset *fresh = indexed_dataset(ctx, 15), *ft, *fv;
    ck_assert_int_eq(graft_dataset_split(fresh, 0.4, 9, &ft, &fv), GRAFT_OK);
    int64_t pos[16], ids[16];
    int64_t n = sample_ids(fv, pos);
    ck_assert_int_eq(sample_ids(tv, ids), n);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(ids[i], want_t[pos[i]]);
    n = sample_ids(ft, pos);
    ck_assert_int_eq(sample_ids(tt, ids), n);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(ids[i], want_t[pos[i]]);

    /* A gather through two levels of views. */
    const int64_t order[3] = {5, 0, 5};
    float x[6];
    int32_t labels[3];
    ck_assert_int_eq(graftDatasetGather(tv, order, 3, x, labels), GRAFT_OK);
    ck_assert_float_eq(x[0], 17);
    ck_assert_float_eq(x[2], 1);
    ck_assert_float_eq(x[3], 1001);
    ck_assert_float_eq(x[4], 17);
    ck_assert_int_eq(labels[0], 17 % 3);
    ck_assert_int_eq(labels[1], 1);
    graft_dataset_free(ft);
    graft_dataset_free(fv);
    graft_dataset_free(fresh);
    graft_dataset_free(tt);
    graft_dataset_free(tv);
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Frees a parent, its parts and a sub-split in the order given by perm (an
 * order of 0..4 over {ds, t, v, tt, tv}); data stays readable until the last
 * view goes, and only then is everything freed. */
static void free_in_order(const int perm[5], int copy)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    float f[24];
    int32_t l[12];
    fill_indexed(12, 3, f, l);
    const int64_t dims[1] = {2};
    graft_dataset *d[5];
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 12, 1, dims, f, l, 3, copy, &d[0]), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_split(d[0], 0.5, 5, &d[1], &d[2]), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_split(d[1], 0.5, 6, &d[3], &d[4]), GRAFT_OK);
    int64_t want[5][12], n[5];
    for (int k = 0; k < 5; k++) n[k] = sample_ids(d[k], want[k]);
    for (int step = 0; step < 5; step++) {
        graft_dataset_free(d[perm[step]]);
        d[perm[step]] = NULL;
        if (step < 4) ck_assert_int_lt(c.frees, c.allocs - 1);
        for (int k = 0; k < 5; k++) /* the survivors still read their samples */
            if (d[k]) assert_ids(d[k], want[k], n[k], "survivor");
    }
    ck_assert_int_eq(c.allocs - 1, c.frees); /* only the context is left */
    graft_ctx_free(ctx);
}

START_TEST(test_free_in_every_order)
{
    const int orders[][5] = {
        {0, 1, 2, 3, 4}, /* parent first, then the parts, then the sub-split */
        {4, 3, 2, 1, 0}, /* the smallest parts first, parent last */
        {1, 0, 3, 2, 4}, /* a part, then its parent, while the part's parts live */
        {2, 3, 0, 4, 1},
        {3, 1, 4, 0, 2},
    };
    for (size_t k = 0; k < sizeof orders / sizeof orders[0]; k++) {
        free_in_order(orders[k], 1);
        free_in_order(orders[k], 0);
    }
}
END_TEST

/* ---- gathering ---------------------------------------------------------------- */

START_TEST(test_gather)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    float f[18];
    int32_t l[6] = {0, 1, 2, 3, 0, 1};
    for (int k = 0; k < 18; k++) f[k] = (float)k + 0.25f; /* sample i: 3i+0.25 .. 3i+2.25 */
    const int64_t dims[1] = {3};
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 6, 1, dims, f, l, 4, 1, &ds), GRAFT_OK);
    const int64_t order[4] = {5, 0, 5, 2};
    float x[12];
    int32_t labels[4];
    long allocs = c.allocs;
    ck_assert_int_eq(graftDatasetGather(ds, order, 4, x, labels), GRAFT_OK);
    ck_assert_int_eq(c.allocs, allocs); /* nothing allocated in the batch loop */
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(labels[k], l[order[k]]);
        for (int e = 0; e < 3; e++)
            ck_assert_float_eq(x[3 * k + e], (float)(3 * order[k] + e) + 0.25f);
    }
    /* n = 0 touches nothing; x or labels alone. */
    x[0] = -1;
    ck_assert_int_eq(graftDatasetGather(ds, NULL, 0, x, labels), GRAFT_OK);
    ck_assert_float_eq(x[0], -1);
    ck_assert_int_eq(graftDatasetGather(ds, order + 3, 1, NULL, labels), GRAFT_OK);
    ck_assert_int_eq(labels[0], 2);
    ck_assert_int_eq(graftDatasetGather(ds, order, 1, x, NULL), GRAFT_OK);
    ck_assert_float_eq(x[0], 15.25f);

    /* Positions in a split are the split's own. */
    graft_dataset *t, *v;
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 2, &t, &v), GRAFT_OK);
    allocs = c.allocs;
    const int64_t order2[3] = {2, 1, 0};
    ck_assert_int_eq(graftDatasetGather(v, order2, 3, x, labels), GRAFT_OK);
    ck_assert_int_eq(c.allocs, allocs);
    for (int k = 0; k < 3; k++) {
        float one[3];
        int32_t label;
        ck_assert_int_eq(graft_dataset_get(v, order2[k], one, &label), GRAFT_OK);
        ck_assert_int_eq(labels[k], label);
        ck_assert(memcmp(x + 3 * k, one, sizeof one) == 0);
    }
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(ds);
    ck_assert_int_eq(c.allocs - 1, c.frees); /* only the context is left */
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_gather_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 4);
    float x[6] = {-5, -5, -5, -5, -5, -5};
    int32_t labels[3] = {-5, -5, -5};
    const int64_t bad_high[3] = {0, 4, 1}, bad_low[2] = {1, -1};
    ck_assert_int_eq(graftDatasetGather(ds, bad_high, 3, x, labels), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graftDatasetGather(): order[1] is 4, must be in [0, 4)");
    /* Nothing was written before the bad position was found. */
    ck_assert_float_eq(x[0], -5);
    ck_assert_int_eq(labels[0], -5);
    ck_assert_int_eq(graftDatasetGather(ds, bad_low, 2, x, labels), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graftDatasetGather(): order[1] is -1, must be in [0, 4)");
    ck_assert_int_eq(graftDatasetGather(ds, bad_low, -1, x, labels), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graftDatasetGather(): n is -1, must be >= 0");
    ck_assert_int_eq(graftDatasetGather(ds, NULL, 1, x, labels), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graftDatasetGather(): order is NULL");
    ck_assert_int_eq(graftDatasetGather(NULL, bad_low, 1, x, labels), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graftDatasetGather(): dataset is NULL");

    /* In a split, the split's size bounds the positions. */
    graft_dataset *t, *v;
    ck_assert_int_eq(graft_dataset_split(ds, 0.25, 1, &t, &v), GRAFT_OK);
    const int64_t one[1] = {1};
    ck_assert_int_eq(graftDatasetGather(v, one, 1, x, labels), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graftDatasetGather(): order[0] is 1, must be in [0, 1)");
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- errors --------------------------------------------------------------------- */

#define ASSERT_FAILS(call, code, msg)                              \
    do {                                                           \
        out = (graft_dataset *)&out;                               \
        ck_assert_int_eq((call), (code));                          \
        ck_assert_str_eq(graft_errmsg(ctx), (msg));                \
        ck_assert_ptr_null(out);                                   \
    } while (0)

START_TEST(test_create_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *out = NULL;
    const float f[6] = {0, 1, 2, 3, 4, 5};
    const int32_t l[3] = {0, 1, 2};
    const int64_t d1[1] = {2};
#define FM "graft_dataset_from_memory(): "

    out = (graft_dataset *)&out;
    ck_assert_int_eq(graft_dataset_from_memory(NULL, 3, 1, d1, f, l, 3, 1, &out),
                     GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), FM "ctx is NULL");
    ck_assert_ptr_null(out);
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 3, 1, d1, f, l, 3, 1, NULL),
                     GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), FM "out is NULL");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, NULL, l, 3, 1, &out),
                 GRAFT_E_INVALID_ARG, FM "features is NULL");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, f, NULL, 3, 1, &out),
                 GRAFT_E_INVALID_ARG, FM "labels is NULL");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, NULL, f, l, 3, 1, &out),
                 GRAFT_E_INVALID_ARG, FM "dims is NULL");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 0, 1, d1, f, l, 3, 1, &out),
                 GRAFT_E_INVALID_ARG, FM "count is 0, must be >= 1");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, -2, 1, d1, f, l, 3, 1, &out),
                 GRAFT_E_INVALID_ARG, FM "count is -2, must be >= 1");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, f, l, 0, 1, &out),
                 GRAFT_E_INVALID_ARG, FM "n_classes is 0, must be >= 1");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, f, l, 3, 2, &out),
                 GRAFT_E_INVALID_ARG, FM "copy is 2, must be 0 or 1");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, f, l, 3, -1, &out),
                 GRAFT_E_INVALID_ARG, FM "copy is -1, must be 0 or 1");

    /* Shapes: ndim 1..GRAFT_MAX_DIMS - 1, sizes >= 1, at most 2^40 floats. */
    int64_t dbig[GRAFT_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1};
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 0, d1, f, l, 3, 1, &out), GRAFT_E_SHAPE,
                 FM "ndim is 0, must be 1 to 7 (the per-sample shape, without the batch "
                    "dimension)");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, GRAFT_MAX_DIMS, dbig, f, l, 3, 1, &out),
                 GRAFT_E_SHAPE,
                 FM "ndim is 8, must be 1 to 7 (the per-sample shape, without the batch "
                    "dimension)");
    const int64_t d0[2] = {2, 0}, dneg[1] = {-3};
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 2, d0, f, l, 3, 1, &out), GRAFT_E_SHAPE,
                 FM "dims[1] is 0, must be >= 1");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, dneg, f, l, 3, 1, &out), GRAFT_E_SHAPE,
                 FM "dims[0] is -3, must be >= 1");
    const int64_t dhuge[2] = {(int64_t)1 << 21, (int64_t)1 << 20};
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 1, 2, dhuge, f, l, 3, 0, &out), GRAFT_E_SHAPE,
                 FM "more than 2^40 elements in the shape");
    /* 2^40 floats per sample pass the shape check; two samples overflow the
     * total before any feature is read. */
    const int64_t dmax[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 2, 2, dmax, f, l, 3, 0, &out), GRAFT_E_SHAPE,
                 FM "2 samples of 1099511627776 floats are more than 2^40 floats in all");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, INT64_MAX, 1, d1, f, l, 3, 0, &out),
                 GRAFT_E_SHAPE,
                 FM "9223372036854775807 samples of 2 floats are more than 2^40 floats in all");

    /* Labels: -1 and n_classes are the first values out of range. */
    const int32_t lneg[3] = {0, 1, -1}, lhigh[3] = {0, 3, 1};
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, f, lneg, 3, 1, &out), GRAFT_E_RANGE,
                 FM "sample 2 has label -1, must be in [0, n_classes) with n_classes 3");
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, f, lhigh, 3, 0, &out), GRAFT_E_RANGE,
                 FM "sample 1 has label 3, must be in [0, n_classes) with n_classes 3");
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 3, 1, d1, f, lhigh, 4, 0, &out), GRAFT_OK);
    graft_dataset_free(out);

    /* Features: NaN, +inf and -inf, named by sample and element. */
    float fbad[6] = {0, 1, 2, 3, 4, 5};
    fbad[3] = NAN;
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, fbad, l, 3, 1, &out), GRAFT_E_NUMERIC,
                 FM "sample 1, element 1: the feature is NaN, must be finite");
    fbad[3] = 3;
    fbad[4] = INFINITY;
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, fbad, l, 3, 0, &out), GRAFT_E_NUMERIC,
                 FM "sample 2, element 0: the feature is inf, must be finite");
    fbad[4] = 4;
    fbad[0] = -INFINITY;
    ASSERT_FAILS(graft_dataset_from_memory(ctx, 3, 1, d1, fbad, l, 3, 1, &out), GRAFT_E_NUMERIC,
                 FM "sample 0, element 0: the feature is -inf, must be finite");
    /* Only the count samples given are read: a NaN after them is not data. */
    fbad[0] = 0;
    fbad[5] = NAN;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 2, 1, d1, fbad, l, 3, 0, &out), GRAFT_OK);
    graft_dataset_free(out);
#undef FM
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_get_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 3);
    float f[2];
    int32_t label;
    ck_assert_int_eq(graft_dataset_get(NULL, 0, f, &label), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_dataset_get(): dataset is NULL");
    ck_assert_int_eq(graft_dataset_get(ds, -1, f, &label), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_dataset_get(): i is -1, must be in [0, 3)");
    ck_assert_int_eq(graft_dataset_get(ds, 3, f, &label), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_dataset_get(): i is 3, must be in [0, 3)");
    /* A success clears the message. */
    ck_assert_int_eq(graft_dataset_get(ds, 2, f, &label), GRAFT_OK);
    ck_assert_str_eq(graft_errmsg(ctx), "");
    graft_dataset *t, *v;
    ck_assert_int_eq(graft_dataset_split(ds, 0.3, 1, &t, &v), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_get(v, 1, f, &label), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_dataset_get(): i is 1, must be in [0, 1)");
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_split_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = indexed_dataset(ctx, 10);
    graft_dataset *t = (graft_dataset *)&t, *v = (graft_dataset *)&v;
#define SP "graft_dataset_split(): "
#define ASSERT_SPLIT_FAILS(call, code, msg)               \
    do {                                                  \
        t = (graft_dataset *)&t;                          \
        v = (graft_dataset *)&v;                          \
        ck_assert_int_eq((call), (code));                 \
        ck_assert_str_eq(graft_errmsg(ctx), (msg));       \
        ck_assert_ptr_null(t);                            \
        ck_assert_ptr_null(v);                            \
    } while (0)

    ck_assert_int_eq(graft_dataset_split(NULL, 0.5, 1, &t, &v), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), SP "dataset is NULL");
    ck_assert_ptr_null(t);
    ck_assert_ptr_null(v);
    t = (graft_dataset *)&t;
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 1, &t, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), SP "train and val must not be NULL");
    ck_assert_ptr_null(t);
    v = (graft_dataset *)&v;
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 1, NULL, &v), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(graft_dataset_split(ds, 0.5, 1, &t, &t), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), SP "train and val must point to different variables");
    ck_assert_ptr_null(t);

    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, 0.0, 1, &t, &v), GRAFT_E_INVALID_ARG,
                       SP "val_fraction is 0, must be in (0, 1)");
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, 1.0, 1, &t, &v), GRAFT_E_INVALID_ARG,
                       SP "val_fraction is 1, must be in (0, 1)");
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, NAN, 1, &t, &v), GRAFT_E_INVALID_ARG,
                       SP "val_fraction is nan, must be in (0, 1)");
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, -0.5, 1, &t, &v), GRAFT_E_INVALID_ARG,
                       SP "val_fraction is -0.5, must be in (0, 1)");
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, INFINITY, 1, &t, &v), GRAFT_E_INVALID_ARG,
                       SP "val_fraction is inf, must be in (0, 1)");

    /* Valid fractions that leave a part empty. */
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, 0.04, 1, &t, &v), GRAFT_E_RANGE,
                       SP "val_fraction 0.04 of 10 samples gives 10 training and 0 validation "
                          "samples; each part needs at least 1");
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, 0.95, 1, &t, &v), GRAFT_E_RANGE,
                       SP "val_fraction 0.95 of 10 samples gives 0 training and 10 validation "
                          "samples; each part needs at least 1");
    graft_dataset *one = indexed_dataset(ctx, 1);
    ASSERT_SPLIT_FAILS(graft_dataset_split(one, 0.5, 1, &t, &v), GRAFT_E_RANGE,
                       SP "val_fraction 0.5 of 1 samples gives 0 training and 1 validation "
                          "samples; each part needs at least 1");
    graft_dataset_free(one);

    /* The reference count cannot overflow. */
    int refs = ds->src->refs;
    ds->src->refs = INT_MAX - 1;
    ASSERT_SPLIT_FAILS(graft_dataset_split(ds, 0.5, 1, &t, &v), GRAFT_E_RANGE,
                       SP "too many datasets share this dataset's samples");
    ds->src->refs = refs;
    /* The smallest dataset that splits: two samples, one each. */
    graft_dataset *two = indexed_dataset(ctx, 2);
    ck_assert_int_eq(graft_dataset_split(two, 0.5, 1, &t, &v), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_size(t), 1);
    ck_assert_int_eq(graft_dataset_size(v), 1);
    graft_dataset_free(t);
    graft_dataset_free(v);
    graft_dataset_free(two);
#undef ASSERT_SPLIT_FAILS
#undef SP
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

/* Fails the 1st, 2nd, ... allocation of: create, split, split of the train
 * part. Each failure returns GRAFT_E_NOMEM with a message, leaves the out
 * pointers NULL, and nothing leaks once the survivors are freed. */
static void allocation_failures(int copy)
{
    float f[16];
    int32_t l[8];
    fill_indexed(8, 3, f, l);
    const int64_t dims[1] = {2};
    for (long fail = 1; fail < 100; fail++) {
        tu_alloc_counter c = {0, 0, 0, 0};
        graft_ctx *ctx = tu_counting_ctx(&c);
        c.fail_at = c.allocs + fail;
        graft_dataset *ds = NULL, *t = NULL, *v = NULL, *tt = NULL, *tv = NULL;
        int stage = 0;
        int st = graft_dataset_from_memory(ctx, 8, 1, dims, f, l, 3, copy, &ds);
        if (st == GRAFT_OK) {
            stage = 1;
            st = graft_dataset_split(ds, 0.5, 3, &t, &v);
        }
        if (st == GRAFT_OK) {
            stage = 2;
            st = graft_dataset_split(t, 0.5, 4, &tt, &tv);
        }
        int finished = c.fail_at != 0; /* the failing allocation was never reached */
        if (finished) {
            ck_assert_int_eq(st, GRAFT_OK);
        } else {
            ck_assert_msg(st == GRAFT_E_NOMEM, "copy %d, allocation %ld: status %d", copy, fail,
                          st);
            ck_assert_msg(strstr(graft_errmsg(ctx), "cannot allocate") != NULL, "%s",
                          graft_errmsg(ctx));
            /* The failing call returned no object. */
            if (stage == 0) ck_assert_ptr_null(ds);
            if (stage == 1) ck_assert(t == NULL && v == NULL);
            if (stage == 2) ck_assert(tt == NULL && tv == NULL);
        }
        graft_dataset_free(ds);
        graft_dataset_free(t);
        graft_dataset_free(v);
        graft_dataset_free(tt);
        graft_dataset_free(tv);
        ck_assert_int_eq(c.allocs - 1, c.frees); /* only the context is left */
        graft_ctx_free(ctx);
        if (finished) {
            /* create: 3 (borrowed) or 5 (copied); each split: 5. */
            ck_assert_int_eq(fail - 1, (copy ? 5 : 3) + 5 + 5);
            return;
        }
    }
    ck_abort_msg("the sequence never finished");
}

START_TEST(test_allocation_failures_copied)
{
    allocation_failures(1);
}
END_TEST

START_TEST(test_allocation_failures_borrowed)
{
    allocation_failures(0);
}
END_TEST

Suite *suite_dataset(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("create");
    tcase_add_test(tc, test_create_copy_owns_its_arrays);
    tcase_add_test(tc, test_create_borrowed_reads_the_callers_arrays);
    tcase_add_test(tc, test_size_class_count_get);
    tcase_add_test(tc, test_create_largest_ndim);
    suite_add_tcase(s, tc);
    tc = tcase_create("split");
    tcase_add_test(tc, test_split_sizes_round);
    tcase_add_test(tc, test_split_partitions_in_order);
    tcase_add_test(tc, test_split_is_seeded_and_stable);
    tcase_add_test(tc, test_split_of_split);
    suite_add_tcase(s, tc);
    tc = tcase_create("lifetime");
    tcase_add_test(tc, test_free_in_every_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("gather");
    tcase_add_test(tc, test_gather);
    tcase_add_test(tc, test_gather_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_get_errors);
    tcase_add_test(tc, test_split_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocation_failures");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_allocation_failures_copied);
    tcase_add_test(tc, test_allocation_failures_borrowed);
    suite_add_tcase(s, tc);
    return s;
}
