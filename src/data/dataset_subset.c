/*
 * dataset_subset.c - subsets of a dataset chosen class by class: a
 * stratified training/validation split and at most k samples of each class.
 *
 * Both are views over the parent's source, as graft_dataset_split() makes
 * (dataset.c): one index array each, no copy of the samples. Labels are read
 * through the source's get slot with no features, which costs no decoding
 * for folder datasets.
 */
#include "dataset.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The positions of a dataset grouped by class: class c's positions are
 * pos[start[c] .. start[c + 1]), ascending. */
typedef struct by_class {
    int n_classes;
    int64_t *pos;   /* count positions */
    int64_t *start; /* n_classes + 1 offsets */
} by_class;

static void by_class_free(graft_ctx *ctx, by_class *b)
{
    graftFree(ctx, b->pos);
    graftFree(ctx, b->start);
}

static int by_class_make(graft_dataset *ds, by_class *b, const char *func)
{
    graft_ctx *ctx = ds->ctx;
    graftSource *src = ds->src;
    const int64_t n = ds->count;
    const int nc = src->n_classes;
    memset(b, 0, sizeof *b);
    b->n_classes = nc;
    int32_t *labels = graftAlloc(ctx, (size_t)n * sizeof *labels);
    int64_t *fill = graftCalloc(ctx, (size_t)nc + 1, sizeof *fill);
    b->pos = graftAlloc(ctx, (size_t)n * sizeof *b->pos);
    b->start = graftCalloc(ctx, (size_t)nc + 1, sizeof *b->start);
    int st = GRAFT_OK;
    if (!labels || !fill || !b->pos || !b->start) {
        st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate the class lists of %lld samples",
                        (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        st = src->vtbl->get(src, ds->indices ? ds->indices[i] : i, NULL, &labels[i]);
        if (st != GRAFT_OK) {
            st = graftErrorAt(ctx, st, func);
            goto done;
        }
        if (labels[i] < 0 || labels[i] >= nc) {
            st = graftError(ctx, GRAFT_E_RANGE, func,
                            "sample %lld has label %d, outside the dataset's %d classes",
                            (long long)i, (int)labels[i], nc);
            goto done;
        }
        b->start[labels[i] + 1]++;
    }
    for (int c = 0; c < nc; c++) b->start[c + 1] += b->start[c];
    for (int64_t i = 0; i < n; i++) b->pos[b->start[labels[i]] + fill[labels[i]]++] = i;
done:
    graftFree(ctx, labels);
    graftFree(ctx, fill);
    if (st != GRAFT_OK) by_class_free(ctx, b);
    return st;
}

/* Shuffles every class's positions in place, class 0 first, with one rng
 * seeded with seed: for each class, Fisher-Yates from the end as
 * graft_dataset_split() does (j = graftRngNext() % (i + 1) for i = m - 1
 * down to 1). */
static void shuffle_classes(by_class *b, uint64_t seed)
{
    graftRng rng;
    graftRngSeed(&rng, seed);
    for (int c = 0; c < b->n_classes; c++) {
        int64_t *p = b->pos + b->start[c], m = b->start[c + 1] - b->start[c];
        for (int64_t i = m - 1; i >= 1; i--) {
            int64_t j = (int64_t)(graftRngNext(&rng) % (uint64_t)(i + 1));
            int64_t t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* How many of each class go to validation (see graft.h): floor(f * n_c),
 * at most n_c - 1, then one more at a time to the classes with the largest
 * fractional parts (ties: the lower class) until n_val are placed. */
static int val_quotas(graft_ctx *ctx, const by_class *b, double f, int64_t n_val, int64_t *take,
                      const char *func)
{
    const int nc = b->n_classes;
    int *order = graftAlloc(ctx, (size_t)nc * sizeof *order);
    double *frac = graftAlloc(ctx, (size_t)nc * sizeof *frac);
    if (!order || !frac) {
        graftFree(ctx, order);
        graftFree(ctx, frac);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate the split");
    }
    int64_t placed = 0;
    for (int c = 0; c < nc; c++) {
        int64_t m = b->start[c + 1] - b->start[c];
        double q = f * (double)m;
        take[c] = (int64_t)floor(q);
        if (take[c] > m - 1) take[c] = m > 0 ? m - 1 : 0;
        frac[c] = q - floor(q);
        placed += take[c];
        /* insertion sort: larger fractional part first, then lower class */
        int k = c;
        while (k > 0 && frac[order[k - 1]] < frac[c]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = c;
    }
    int st = GRAFT_OK;
    while (placed < n_val) {
        int64_t before = placed;
        for (int k = 0; k < nc && placed < n_val; k++) {
            int c = order[k];
            if (take[c] < b->start[c + 1] - b->start[c] - 1) {
                take[c]++;
                placed++;
            }
        }
        if (placed == before) {
            st = graftError(ctx, GRAFT_E_RANGE, func,
                            "%lld validation samples cannot be drawn while every class keeps at "
                            "least one training sample: give a smaller val_fraction",
                            (long long)n_val);
            break;
        }
    }
    graftFree(ctx, order);
    graftFree(ctx, frac);
    return st;
}

/* Two views of dataset: the n_a positions a (sorted here) and the n_b
 * positions b (sorted here). */
static int make_views(graft_dataset *ds, int64_t *a, int64_t n_a, graft_dataset **out_a,
                      int64_t *b, int64_t n_b, graft_dataset **out_b, const char *func)
{
    qsort(a, (size_t)n_a, sizeof *a, compare_i64);
    graft_dataset *va = graftDatasetView(ds, a, n_a), *vb = NULL;
    if (va && out_b) {
        qsort(b, (size_t)n_b, sizeof *b, compare_i64);
        vb = graftDatasetView(ds, b, n_b);
        if (!vb) {
            graft_dataset_free(va);
            va = NULL;
        }
    }
    if (!va)
        return graftError(ds->ctx, GRAFT_E_NOMEM, func, "cannot allocate a dataset of %lld samples",
                          (long long)(n_a > n_b ? n_a : n_b));
    *out_a = va;
    if (out_b) *out_b = vb;
    return GRAFT_OK;
}

GRAFT_API int graft_dataset_split_stratified(graft_dataset *dataset, double val_fraction,
                                             uint64_t seed, graft_dataset **train,
                                             graft_dataset **val)
{
    const char *func = __func__;
    graftClearError(dataset ? dataset->ctx : NULL);
    if (train) *train = NULL;
    if (val) *val = NULL;
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    graft_ctx *ctx = dataset->ctx;
    GRAFT_RETURN_IF(!train || !val, ctx, GRAFT_E_INVALID_ARG, "train and val must not be NULL");
    GRAFT_RETURN_IF(train == val, ctx, GRAFT_E_INVALID_ARG,
                    "train and val must point to different variables");
    GRAFT_RETURN_IF(!(val_fraction > 0.0 && val_fraction < 1.0), ctx, GRAFT_E_INVALID_ARG,
                    "val_fraction is %g, must be in (0, 1)", val_fraction);
    const int64_t n = dataset->count;
    const int64_t n_val = (int64_t)round(val_fraction * (double)n);
    GRAFT_RETURN_IF(n_val < 1 || n - n_val < 1, ctx, GRAFT_E_RANGE,
                    "val_fraction %g of %lld samples gives %lld training and %lld validation "
                    "samples; each part needs at least 1",
                    val_fraction, (long long)n, (long long)(n - n_val), (long long)n_val);
    GRAFT_RETURN_IF(dataset->src->refs > INT_MAX - 2, ctx, GRAFT_E_RANGE,
                    "too many datasets share this dataset's samples");

    by_class b;
    GRAFT_FORWARD_IF_ERROR(by_class_make(dataset, &b, func));
    int64_t *take = graftCalloc(ctx, (size_t)b.n_classes, sizeof *take);
    int64_t *vpos = graftAlloc(ctx, (size_t)n * sizeof *vpos);
    int64_t *tpos = graftAlloc(ctx, (size_t)n * sizeof *tpos);
    int st;
    if (!take || !vpos || !tpos) {
        st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate the split of %lld samples",
                        (long long)n);
        goto done;
    }
    st = val_quotas(ctx, &b, val_fraction, n_val, take, func);
    if (st != GRAFT_OK) goto done;
    shuffle_classes(&b, seed);
    int64_t nv = 0, nt = 0;
    for (int c = 0; c < b.n_classes; c++)
        for (int64_t k = b.start[c]; k < b.start[c + 1]; k++) {
            if (k - b.start[c] < take[c]) vpos[nv++] = b.pos[k];
            else tpos[nt++] = b.pos[k];
        }
    st = make_views(dataset, tpos, nt, train, vpos, nv, val, func);
done:
    graftFree(ctx, take);
    graftFree(ctx, vpos);
    graftFree(ctx, tpos);
    by_class_free(ctx, &b);
    return st;
}

GRAFT_API int graft_dataset_subset_per_class(graft_dataset *dataset, int64_t k, uint64_t seed,
                                             graft_dataset **out)
{
    const char *func = __func__;
    graftClearError(dataset ? dataset->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    graft_ctx *ctx = dataset->ctx;
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(k < 1, ctx, GRAFT_E_INVALID_ARG, "k is %lld, must be >= 1", (long long)k);
    GRAFT_RETURN_IF(dataset->src->refs > INT_MAX - 1, ctx, GRAFT_E_RANGE,
                    "too many datasets share this dataset's samples");
    by_class b;
    GRAFT_FORWARD_IF_ERROR(by_class_make(dataset, &b, func));
    int64_t *pos = graftAlloc(ctx, (size_t)dataset->count * sizeof *pos);
    int st;
    if (!pos) {
        st = graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate the subset of %lld samples",
                        (long long)dataset->count);
    } else {
        shuffle_classes(&b, seed);
        int64_t m = 0;
        for (int c = 0; c < b.n_classes; c++)
            for (int64_t j = b.start[c]; j < b.start[c + 1] && j - b.start[c] < k; j++)
                pos[m++] = b.pos[j];
        st = make_views(dataset, pos, m, out, NULL, 0, NULL, func);
    }
    graftFree(ctx, pos);
    by_class_free(ctx, &b);
    return st;
}
