/*
 * dataset.c - labelled datasets: reference-counted sources of samples and
 * the index views over them that graft_dataset handles are.
 *
 * A graft_dataset is a view: a count and a list of source indices (NULL
 * meaning 0..count-1). Every view holds one reference on its source;
 * graft_dataset_split() makes two new views over the same source, so a parent
 * and its parts may be freed in any order, and the source (with the samples
 * it owns) goes when its last view does.
 *
 * Sources are a table of functions (dataset.h). Their get slot is called
 * with i in [0, count) and must accept features and label being NULL (then
 * it skips that output). The memory source below holds features
 * (count * sample_numel floats, sample after sample) and labels (count
 * int32) either as owned copies or borrowed from the caller; both are
 * validated once, at creation. The other kinds of source (files: IDX, CSV,
 * image folders) build their own and wrap it with graftDatasetWrap().
 */
#include "dataset.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the memory source ----------------------------------------------------- */

typedef struct memory_source {
    const float *features;  /* owned_features or the caller's array */
    const int32_t *labels;  /* owned_labels or the caller's array */
    float *owned_features;  /* NULL when borrowed */
    int32_t *owned_labels;  /* NULL when borrowed */
    const float *targets;   /* sources with float targets: n_targets per sample */
    float *owned_targets;   /* NULL when borrowed */
} memory_source;

static int memory_get(graftSource *src, int64_t i, float *features, int32_t *label)
{
    const memory_source *m = src->impl;
    if (features)
        memcpy(features, m->features + (size_t)i * src->sample_numel,
               src->sample_numel * sizeof(float));
    if (label) *label = m->labels ? m->labels[i] : -1;
    return GRAFT_OK;
}

static int memory_get_targets(graftSource *src, int64_t i, float *targets)
{
    const memory_source *m = src->impl;
    memcpy(targets, m->targets + (size_t)i * (size_t)src->n_targets,
           (size_t)src->n_targets * sizeof(float));
    return GRAFT_OK;
}

static void memory_destroy(graftSource *src)
{
    memory_source *m = src->impl;
    if (!m) return;
    graftFree(src->ctx, m->owned_features);
    graftFree(src->ctx, m->owned_labels);
    graftFree(src->ctx, m->owned_targets);
    graftFree(src->ctx, m);
    src->impl = NULL;
}

static const graftSourceVtbl memory_vtbl = {
    .get = memory_get,
    .destroy = memory_destroy,
};

static const graftSourceVtbl memory_targets_vtbl = {
    .get = memory_get,
    .destroy = memory_destroy,
    .get_targets = memory_get_targets,
};

/* ---- sources and views --------------------------------------------------- */

/* Drops one reference; the last one destroys the source. */
static void source_release(graftSource *src)
{
    if (!src || --src->refs > 0) return;
    graft_ctx *ctx = src->ctx;
    if (src->vtbl->destroy) src->vtbl->destroy(src);
    graftFree(ctx, src);
}

/* Maps a dataset position (already checked) to a source index. */
static int64_t source_index(const graft_dataset *ds, int64_t pos)
{
    return ds->indices ? ds->indices[pos] : pos;
}

static const char *non_finite_name(float v)
{
    if (isnan(v)) return "NaN";
    return v > 0 ? "inf" : "-inf";
}

/* graft_dataset_from_memory() (labels, n_classes) and
 * graft_dataset_from_memory_targets() (n_targets floats per sample at
 * targets; labels NULL): the checks their arguments share, then the source. */
static int memory_create(graft_ctx *ctx, const char *func, int64_t count, int ndim,
                         const int64_t *dims, const float *features, const int32_t *labels,
                         int n_classes, int n_targets, const float *targets, int copy,
                         graft_dataset **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF_AT(!ctx, NULL, GRAFT_E_INVALID_ARG, func, "ctx is NULL");
    GRAFT_RETURN_IF_AT(!out, ctx, GRAFT_E_INVALID_ARG, func, "out is NULL");
    GRAFT_RETURN_IF_AT(!features, ctx, GRAFT_E_INVALID_ARG, func, "features is NULL");
    if (n_targets == 0) {
        GRAFT_RETURN_IF_AT(!labels, ctx, GRAFT_E_INVALID_ARG, func, "labels is NULL");
    } else {
        GRAFT_RETURN_IF_AT(!targets, ctx, GRAFT_E_INVALID_ARG, func, "targets is NULL");
    }
    GRAFT_RETURN_IF_AT(count < 1, ctx, GRAFT_E_INVALID_ARG, func, "count is %lld, must be >= 1",
                       (long long)count);
    if (n_targets == 0) {
        GRAFT_RETURN_IF_AT(n_classes < 1, ctx, GRAFT_E_INVALID_ARG, func,
                           "n_classes is %d, must be >= 1", n_classes);
    } else {
        GRAFT_RETURN_IF_AT(n_targets < 1 || n_targets > (1 << 24), ctx, GRAFT_E_INVALID_ARG, func,
                           "n_targets is %d, must be 1 to 2^24", n_targets);
    }
    GRAFT_RETURN_IF_AT(copy != 0 && copy != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "copy is %d, must be 0 or 1", copy);
    GRAFT_RETURN_IF_AT(!dims, ctx, GRAFT_E_INVALID_ARG, func, "dims is NULL");
    /* Models add the batch dimension in front, so one dimension stays free. */
    GRAFT_RETURN_IF_AT(ndim < 1 || ndim > GRAFT_MAX_DIMS - 1, ctx, GRAFT_E_SHAPE, func,
                       "ndim is %d, must be 1 to %d (the per-sample shape, without the batch "
                       "dimension)", ndim, GRAFT_MAX_DIMS - 1);
    size_t numel;
    GRAFT_FORWARD_IF_ERROR(graftShapeCheck(ctx, func, ndim, dims, &numel));
    GRAFT_RETURN_IF_AT((uint64_t)count > (uint64_t)GRAFT_MAX_NUMEL / numel ||
                           (uint64_t)count * numel > SIZE_MAX / sizeof(float) ||
                           (uint64_t)count > (uint64_t)GRAFT_MAX_NUMEL / (uint64_t)(n_targets + 1),
                       ctx, GRAFT_E_SHAPE, func,
                       "%lld samples of %zu floats are more than 2^40 floats in all",
                       (long long)count, numel);
    size_t total = (size_t)count * numel, n_t = (size_t)count * (size_t)n_targets;

    for (int64_t i = 0; labels && i < count; i++)
        GRAFT_RETURN_IF_AT(labels[i] < 0 || labels[i] >= n_classes, ctx, GRAFT_E_RANGE, func,
                           "sample %lld has label %d, must be in [0, n_classes) with n_classes %d",
                           (long long)i, (int)labels[i], n_classes);
    for (size_t k = 0; k < total; k++)
        GRAFT_RETURN_IF_AT(!isfinite(features[k]), ctx, GRAFT_E_NUMERIC, func,
                           "sample %lld, element %zu: the feature is %s, must be finite",
                           (long long)(k / numel), k % numel, non_finite_name(features[k]));
    for (size_t k = 0; k < n_t; k++)
        GRAFT_RETURN_IF_AT(!isfinite(targets[k]), ctx, GRAFT_E_NUMERIC, func,
                           "sample %lld, target %zu is %s, must be finite",
                           (long long)(k / (size_t)n_targets), k % (size_t)n_targets,
                           non_finite_name(targets[k]));

    memory_source *m = NULL;
    graftSource *src = NULL;
    graft_dataset *ds = NULL;
    m = graftCalloc(ctx, 1, sizeof *m);
    if (!m) goto nomem;
    if (copy) {
        m->owned_features = graftAlloc(ctx, total * sizeof(float));
        if (!m->owned_features) goto nomem;
        memcpy(m->owned_features, features, total * sizeof(float));
        if (labels) {
            m->owned_labels = graftAlloc(ctx, (size_t)count * sizeof(int32_t));
            if (!m->owned_labels) goto nomem;
            memcpy(m->owned_labels, labels, (size_t)count * sizeof(int32_t));
        }
        if (n_t) {
            m->owned_targets = graftAlloc(ctx, n_t * sizeof(float));
            if (!m->owned_targets) goto nomem;
            memcpy(m->owned_targets, targets, n_t * sizeof(float));
        }
        m->features = m->owned_features;
        m->labels = m->owned_labels;
        m->targets = m->owned_targets;
    } else {
        m->features = features;
        m->labels = labels;
        m->targets = n_t ? targets : NULL;
    }
    src = graftCalloc(ctx, 1, sizeof *src);
    ds = graftCalloc(ctx, 1, sizeof *ds);
    if (!src || !ds) goto nomem;

    src->vtbl = n_targets ? &memory_targets_vtbl : &memory_vtbl;
    src->ctx = ctx;
    src->refs = 1;
    src->count = count;
    src->sample_shape.ndim = ndim + 1;
    src->sample_shape.dims[0] = 1;
    memcpy(src->sample_shape.dims + 1, dims, (size_t)ndim * sizeof *dims);
    src->sample_numel = numel;
    src->n_classes = n_targets ? 0 : n_classes;
    src->n_targets = n_targets;
    src->finite = copy; /* borrowed arrays may change after the check above */
    src->impl = m;

    ds->ctx = ctx;
    ds->src = src;
    ds->count = count;
    ds->indices = NULL;
    *out = ds;
    return GRAFT_OK;

nomem:
    if (m) {
        graftFree(ctx, m->owned_features);
        graftFree(ctx, m->owned_labels);
        graftFree(ctx, m->owned_targets);
        graftFree(ctx, m);
    }
    graftFree(ctx, src);
    graftFree(ctx, ds);
    return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a dataset of %lld samples",
                      (long long)count);
}

GRAFT_API int graft_dataset_from_memory(graft_ctx *ctx, int64_t count, int ndim,
                                        const int64_t *dims, const float *features,
                                        const int32_t *labels, int n_classes, int copy,
                                        graft_dataset **out)
{
    return memory_create(ctx, __func__, count, ndim, dims, features, labels, n_classes, 0, NULL,
                         copy, out);
}

GRAFT_API int graft_dataset_from_memory_targets(graft_ctx *ctx, int64_t count, int ndim,
                                                const int64_t *dims, const float *features,
                                                int n_targets, const float *targets, int copy,
                                                graft_dataset **out)
{
    if (out) *out = NULL; /* as every constructor, before any check */
    GRAFT_RETURN_IF(n_targets < 1, ctx, GRAFT_E_INVALID_ARG, "n_targets is %d, must be >= 1",
                    n_targets);
    return memory_create(ctx, __func__, count, ndim, dims, features, NULL, 0, n_targets, targets,
                         copy, out);
}

GRAFT_API int graft_dataset_target_count(const graft_dataset *dataset)
{
    return dataset ? dataset->src->n_targets : 0;
}

int graftDatasetGatherTargets(graft_dataset *ds, const int64_t *order, int n, float *targets,
                              const char *func)
{
    graftSource *src = ds->src;
    GRAFT_RETURN_IF_AT(src->n_targets == 0 || !src->vtbl->get_targets, ds->ctx, GRAFT_E_STATE,
                       func, "the dataset has class labels, not float targets");
    for (int k = 0; k < n; k++)
        GRAFT_RETURN_IF_AT(order[k] < 0 || order[k] >= ds->count, ds->ctx, GRAFT_E_RANGE, func,
                           "positions[%d] is %lld, must be in [0, %lld)", k, (long long)order[k],
                           (long long)ds->count);
    for (int k = 0; k < n; k++)
        GRAFT_FORWARD_IF_ERROR(src->vtbl->get_targets(
            src, source_index(ds, order[k]), targets + (size_t)k * (size_t)src->n_targets));
    return GRAFT_OK;
}

GRAFT_API int graft_dataset_gather_targets(graft_dataset *dataset, const int64_t *positions,
                                           int n, float *targets)
{
    graftClearError(dataset ? dataset->ctx : NULL);
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    GRAFT_RETURN_IF(n < 0, dataset->ctx, GRAFT_E_INVALID_ARG, "n is %d, must be >= 0", n);
    GRAFT_RETURN_IF(n > 0 && (!positions || !targets), dataset->ctx, GRAFT_E_INVALID_ARG,
                    "positions and targets must not be NULL");
    return graftDatasetGatherTargets(dataset, positions, n, targets, __func__);
}

/* How the sources read from files (dataset_idx.c, dataset_csv.c,
 * dataset_folder.c) become datasets (dataset.h). */
int graftDatasetWrap(graft_ctx *ctx, const char *func, const graftSourceVtbl *vtbl, void *impl,
                     int64_t count, int ndim, const int64_t *dims, int n_classes,
                     graft_dataset **out)
{
    graftSource *src = graftCalloc(ctx, 1, sizeof *src);
    graft_dataset *ds = graftCalloc(ctx, 1, sizeof *ds);
    if (!src || !ds) {
        graftSource tmp = {.vtbl = vtbl, .ctx = ctx, .impl = impl};
        if (vtbl->destroy) vtbl->destroy(&tmp);
        graftFree(ctx, src);
        graftFree(ctx, ds);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a dataset");
    }
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= (size_t)dims[d];
    src->vtbl = vtbl;
    src->ctx = ctx;
    src->refs = 1;
    src->count = count;
    src->sample_shape.ndim = ndim + 1;
    src->sample_shape.dims[0] = 1;
    memcpy(src->sample_shape.dims + 1, dims, (size_t)ndim * sizeof *dims);
    src->sample_numel = numel;
    src->n_classes = n_classes;
    src->impl = impl;
    ds->ctx = ctx;
    ds->src = src;
    ds->count = count;
    ds->indices = NULL;
    *out = ds;
    return GRAFT_OK;
}

GRAFT_API void graft_dataset_free(graft_dataset *dataset)
{
    if (!dataset) return;
    graft_ctx *ctx = dataset->ctx;
    source_release(dataset->src);
    graftFree(ctx, dataset->indices);
    graftFree(ctx, dataset);
}

GRAFT_API int64_t graft_dataset_size(const graft_dataset *dataset)
{
    return dataset ? dataset->count : 0;
}

GRAFT_API int graft_dataset_class_count(const graft_dataset *dataset)
{
    return dataset ? dataset->src->n_classes : 0;
}

GRAFT_API int graft_dataset_sample_shape(const graft_dataset *dataset, int *ndim, int64_t *dims)
{
    graftClearError(dataset ? dataset->ctx : NULL);
    GRAFT_RETURN_IF(!dataset || !ndim || !dims, dataset ? dataset->ctx : NULL,
                    GRAFT_E_INVALID_ARG, "dataset, ndim and dims must not be NULL");
    const graftShape *s = &dataset->src->sample_shape;
    *ndim = s->ndim - 1;
    for (int d = 1; d < s->ndim; d++) dims[d - 1] = s->dims[d];
    return GRAFT_OK;
}

GRAFT_API int graft_dataset_get(graft_dataset *dataset, int64_t i, float *features,
                                int32_t *label)
{
    graftClearError(dataset ? dataset->ctx : NULL);
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    GRAFT_RETURN_IF(i < 0 || i >= dataset->count, dataset->ctx, GRAFT_E_RANGE,
                    "i is %lld, must be in [0, %lld)", (long long)i,
                    (long long)dataset->count);
    graftSource *src = dataset->src;
    return src->vtbl->get(src, source_index(dataset, i), features, label);
}

int graftDatasetGather(graft_dataset *ds, const int64_t *order, int n, float *x,
                       int32_t *labels)
{
    GRAFT_RETURN_IF(!ds, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    GRAFT_RETURN_IF(n < 0, ds->ctx, GRAFT_E_INVALID_ARG, "n is %d, must be >= 0", n);
    GRAFT_RETURN_IF(n > 0 && !order, ds->ctx, GRAFT_E_INVALID_ARG, "order is NULL");
    /* Check every position first, so a bad one leaves x and labels untouched. */
    for (int k = 0; k < n; k++)
        GRAFT_RETURN_IF(order[k] < 0 || order[k] >= ds->count, ds->ctx, GRAFT_E_RANGE,
                        "order[%d] is %lld, must be in [0, %lld)", k, (long long)order[k],
                        (long long)ds->count);
    graftSource *src = ds->src;
    const size_t numel = src->sample_numel;
    for (int k = 0; k < n; k++)
        GRAFT_FORWARD_IF_ERROR(src->vtbl->get(src, source_index(ds, order[k]),
                                              x ? x + (size_t)k * numel : NULL,
                                              labels ? labels + k : NULL));
    return GRAFT_OK;
}

/* ---- splitting ----------------------------------------------------------- */

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A new view over parent's source (dataset.h). */
graft_dataset *graftDatasetView(graft_dataset *parent, const int64_t *pos, int64_t n)
{
    graft_ctx *ctx = parent->ctx;
    graft_dataset *ds = graftCalloc(ctx, 1, sizeof *ds);
    int64_t *idx = graftAlloc(ctx, (size_t)n * sizeof *idx);
    if (!ds || !idx) {
        graftFree(ctx, ds);
        graftFree(ctx, idx);
        return NULL;
    }
    for (int64_t k = 0; k < n; k++) idx[k] = source_index(parent, pos[k]);
    ds->ctx = ctx;
    ds->src = parent->src;
    ds->count = n;
    ds->indices = idx;
    parent->src->refs++;
    return ds;
}

/*
 * The split procedure (the same dataset size, fraction and seed must give the
 * same parts in every version, so it is fixed as follows):
 *   1. n = size, n_val = round(val_fraction * n) (C round(): halves away from
 *      zero), n_train = n - n_val; both must be >= 1.
 *   2. perm[k] = k for k in [0, n); graftRngSeed(&rng, seed).
 *   3. Fisher-Yates, from the end: for i = n - 1 down to 1,
 *      j = graftRngNext(&rng) % (i + 1) (unsigned 64-bit), swap perm[i] and
 *      perm[j]. One graftRngNext() call per i, nothing else drawn.
 *   4. val gets the positions perm[0..n_val), train perm[n_val..n); each list
 *      is sorted ascending, then mapped through the parent's indices, so both
 *      parts keep the parent's order and a split of a split refers to the
 *      right samples of the source.
 */
GRAFT_API int graft_dataset_split(graft_dataset *dataset, double val_fraction, uint64_t seed,
                                  graft_dataset **train, graft_dataset **val)
{
    graftClearError(dataset ? dataset->ctx : NULL);
    if (train) *train = NULL;
    if (val) *val = NULL;
    GRAFT_RETURN_IF(!dataset, NULL, GRAFT_E_INVALID_ARG, "dataset is NULL");
    graft_ctx *ctx = dataset->ctx;
    GRAFT_RETURN_IF(!train || !val, ctx, GRAFT_E_INVALID_ARG,
                    "train and val must not be NULL");
    GRAFT_RETURN_IF(train == val, ctx, GRAFT_E_INVALID_ARG,
                    "train and val must point to different variables");
    GRAFT_RETURN_IF(!(val_fraction > 0.0 && val_fraction < 1.0), ctx, GRAFT_E_INVALID_ARG,
                    "val_fraction is %g, must be in (0, 1)", val_fraction);
    const int64_t n = dataset->count;
    const int64_t n_val = (int64_t)round(val_fraction * (double)n);
    const int64_t n_train = n - n_val;
    GRAFT_RETURN_IF(n_val < 1 || n_train < 1, ctx, GRAFT_E_RANGE,
                    "val_fraction %g of %lld samples gives %lld training and %lld validation "
                    "samples; each part needs at least 1",
                    val_fraction, (long long)n, (long long)n_train, (long long)n_val);
    GRAFT_RETURN_IF(dataset->src->refs > INT_MAX - 2, ctx, GRAFT_E_RANGE,
                    "too many datasets share this dataset's samples");

    int64_t *perm = graftAlloc(ctx, (size_t)n * sizeof *perm);
    if (!perm) goto nomem;
    for (int64_t k = 0; k < n; k++) perm[k] = k;
    graftRng rng;
    graftRngSeed(&rng, seed);
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)(graftRngNext(&rng) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    qsort(perm, (size_t)n_val, sizeof *perm, compare_i64);
    qsort(perm + n_val, (size_t)n_train, sizeof *perm, compare_i64);

    graft_dataset *v = graftDatasetView(dataset, perm, n_val);
    if (!v) goto nomem;
    graft_dataset *t = graftDatasetView(dataset, perm + n_val, n_train);
    if (!t) {
        graft_dataset_free(v);
        goto nomem;
    }
    graftFree(ctx, perm);
    *train = t;
    *val = v;
    return GRAFT_OK;

nomem:
    graftFree(ctx, perm);
    return graftError(ctx, GRAFT_E_NOMEM, __func__,
                      "cannot allocate the split of %lld samples", (long long)n);
}
