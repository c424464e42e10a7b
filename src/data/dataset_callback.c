/*
 * dataset_callback.c - datasets whose samples the caller's function makes
 * when they are read (graft_dataset_from_callback()).
 *
 * The source keeps the function, its user data and one sample's worth of
 * floats, which it hands to the function when a read asks for the label
 * only (the function always gets somewhere to write). Every label is
 * checked as it arrives. The features are the caller's to vouch for, so the
 * source is never marked finite: fit and evaluate check the batches they
 * read (GRAFT_CTX_CHECK_INPUTS).
 */
#include "dataset.h"

#include <string.h>

typedef struct callback_source {
    graft_sample_fn fn;
    void *user_data;
    float *scratch; /* sample_numel floats for label-only reads */
} callback_source;

/* Messages of a failed sample name the function the callback serves. */
static const char *const FN_NAME = "graft_sample_fn";

static int callback_get(graftSource *src, int64_t i, float *features, int32_t *label)
{
    callback_source *s = src->impl;
    int32_t lab = -1;
    int r = s->fn(s->user_data, i, features ? features : s->scratch, &lab);
    if (r != 0) {
        int st = r < 0 ? r : GRAFT_E_CANCELLED;
        return graftError(src->ctx, st, FN_NAME,
                          "the callback failed on sample %lld: it returned %d (%s)",
                          (long long)i, r, graft_strerror(st));
    }
    if (lab < 0 || lab >= src->n_classes)
        return graftError(src->ctx, GRAFT_E_RANGE, FN_NAME,
                          "the callback gave sample %lld the label %d, must be in [0, %d)%s",
                          (long long)i, (int)lab, src->n_classes,
                          lab == -1 ? " (was the label written?)" : "");
    if (label) *label = lab;
    return GRAFT_OK;
}

static void callback_destroy(graftSource *src)
{
    callback_source *s = src->impl;
    if (!s) return;
    graftFree(src->ctx, s->scratch);
    graftFree(src->ctx, s);
    src->impl = NULL;
}

static const graftSourceVtbl callback_vtbl = {
    .get = callback_get,
    .destroy = callback_destroy,
};

GRAFT_API int graft_dataset_from_callback(graft_ctx *ctx, int64_t count, int ndim,
                                          const int64_t *dims, int n_classes, int flags,
                                          graft_sample_fn fn, void *user_data,
                                          graft_dataset **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!fn, ctx, GRAFT_E_INVALID_ARG, "fn is NULL");
    GRAFT_RETURN_IF(!dims, ctx, GRAFT_E_INVALID_ARG, "dims is NULL");
    GRAFT_RETURN_IF(count < 1, ctx, GRAFT_E_INVALID_ARG, "count is %lld, must be >= 1",
                    (long long)count);
    GRAFT_RETURN_IF(n_classes < 1, ctx, GRAFT_E_INVALID_ARG, "n_classes is %d, must be >= 1",
                    n_classes);
    GRAFT_RETURN_IF((flags & ~GRAFT_CALLBACK_DETERMINISTIC) != 0, ctx, GRAFT_E_INVALID_ARG,
                    "flags is %d; the only flag is GRAFT_CALLBACK_DETERMINISTIC (%d)", flags,
                    GRAFT_CALLBACK_DETERMINISTIC);
    GRAFT_RETURN_IF(ndim < 1 || ndim > GRAFT_MAX_DIMS - 1, ctx, GRAFT_E_SHAPE,
                    "ndim is %d, must be 1 to %d (the per-sample shape, without the batch "
                    "dimension)", ndim, GRAFT_MAX_DIMS - 1);
    size_t numel;
    GRAFT_FORWARD_IF_ERROR(graftShapeCheck(ctx, __func__, ndim, dims, &numel));
    GRAFT_RETURN_IF((uint64_t)count > (uint64_t)GRAFT_MAX_NUMEL / numel, ctx, GRAFT_E_SHAPE,
                    "%lld samples of %zu floats are more than 2^40 floats in all",
                    (long long)count, numel);

    callback_source *s = graftCalloc(ctx, 1, sizeof *s);
    if (s) s->scratch = graftAlloc(ctx, numel * sizeof(float));
    if (!s || !s->scratch) {
        if (s) graftFree(ctx, s);
        return graftError(ctx, GRAFT_E_NOMEM, __func__,
                          "cannot allocate a callback dataset of samples of %zu floats", numel);
    }
    s->fn = fn;
    s->user_data = user_data;
    GRAFT_FORWARD_IF_ERROR(graftDatasetWrap(ctx, __func__, &callback_vtbl, s, count, ndim, dims,
                                            n_classes, out));
    (*out)->src->randomized = !(flags & GRAFT_CALLBACK_DETERMINISTIC);
    (*out)->src->finite = 0;
    return GRAFT_OK;
}
