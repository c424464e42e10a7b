/*
 * dataset.h - private view of graft_dataset, used by the dataset*.c files
 * and by train.c (src/model). A dataset is a list of indices into a shared,
 * reference-counted source, so splits cost one index array and no copy of
 * the samples. Sources are a table of functions so that other kinds (IDX,
 * CSV, image folders) can plug in, through graftDatasetWrap().
 */
#ifndef GRAFT_DATASET_H
#define GRAFT_DATASET_H

#include "core/internal.h"

typedef struct graftSource graftSource;

typedef struct graftSourceVtbl {
    /* Writes sample i's features (sample_numel floats) and label. */
    int (*get)(graftSource *src, int64_t i, float *features, int32_t *label);
    /* Frees what the source owns (not the source struct). */
    void (*destroy)(graftSource *src);
    /* Sources with float targets (n_targets > 0): writes sample i's
     * n_targets targets. NULL for labelled sources. */
    int (*get_targets)(graftSource *src, int64_t i, float *targets);
} graftSourceVtbl;

struct graftSource {
    const graftSourceVtbl *vtbl;
    graft_ctx *ctx;
    int refs;
    int64_t count;
    graftShape sample_shape; /* as layer shapes: dims[0] = 1 (batch placeholder), then the sample's */
    size_t sample_numel;
    int n_classes;  /* 0 for sources with float targets */
    int n_targets;  /* 0: class labels; else floats per sample (get_targets) */
    int randomized; /* 1: a sample can differ between reads (augmentation), so
                       fit must not cache features computed from it */
    int finite;     /* 1: every value was found finite when the source was made
                       and cannot change (an owned copy; values computed from
                       checked bytes), so fit and evaluate need not check the
                       batches they read (GRAFT_CTX_CHECK_INPUTS) */
    void *impl;
};

struct graft_dataset {
    graft_ctx *ctx;
    graftSource *src;
    int64_t count;
    int64_t *indices; /* count source indices, or NULL for 0..count-1 */
};

/* Wraps a new source (vtbl, impl, count samples of the per-sample shape
 * (ndim, dims), n_classes) in a dataset view. impl is consumed: on failure it
 * is destroyed through vtbl->destroy. Errors: GRAFT_E_NOMEM (named func). */
int graftDatasetWrap(graft_ctx *ctx, const char *func, const graftSourceVtbl *vtbl, void *impl,
                     int64_t count, int ndim, const int64_t *dims, int n_classes,
                     graft_dataset **out);

/* Gathers the samples order[0..n) (dataset positions) into x (n *
 * sample_numel floats) and labels (n). */
int graftDatasetGather(graft_dataset *ds, const int64_t *order, int n, float *x,
                       int32_t *labels);

/* A new view over parent's source holding the source indices of the n
 * parent positions pos[0..n) (ascending; n may be 0). Takes a reference on
 * the source (the caller checks that refs can grow). NULL when out of
 * memory, with no message recorded. */
graft_dataset *graftDatasetView(graft_dataset *parent, const int64_t *pos, int64_t n);

/* Gathers the float targets of positions order[0..n) into targets (n *
 * n_targets floats). GRAFT_E_STATE for a labelled dataset. */
int graftDatasetGatherTargets(graft_dataset *ds, const int64_t *order, int n, float *targets,
                              const char *func);

#endif /* GRAFT_DATASET_H */
