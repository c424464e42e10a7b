/*
 * tensor.c - dense float32 tensors: creation, views, shape queries, copies,
 * and the resizing that keeps steady-state training allocation-free.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void graftShapeString(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t pos = 0;
    if (size == 0) return;
    buf[0] = '\0';
    pos += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "",
                                (long long)dims[i]);
    if (pos < size) snprintf(buf + pos, size - pos, ")");
}

int graftShapeCheck(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims,
                    size_t *numel)
{
    if (!dims) return graftError(ctx, GRAFT_E_INVALID_ARG, func, "dims is NULL");
    if (ndim < 1 || ndim > GRAFT_MAX_DIMS)
        return graftError(ctx, GRAFT_E_SHAPE, func, "ndim is %d, must be 1 to %d", ndim,
                          GRAFT_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1)
            return graftError(ctx, GRAFT_E_SHAPE, func, "dims[%d] is %lld, must be >= 1", i,
                              (long long)dims[i]);
        if (dims[i] > GRAFT_MAX_NUMEL || n > GRAFT_MAX_NUMEL / dims[i])
            return graftError(ctx, GRAFT_E_SHAPE, func,
                              "more than 2^40 elements in the shape");
        n *= dims[i];
    }
    *numel = (size_t)n;
    return GRAFT_OK;
}

static int tensor_alloc(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims,
                        float *view, graft_tensor **out)
{
    size_t numel;
    if (out) *out = NULL;
    if (!ctx) return graftError(NULL, GRAFT_E_INVALID_ARG, func, "ctx is NULL");
    if (!out) return graftError(ctx, GRAFT_E_INVALID_ARG, func, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(graftShapeCheck(ctx, func, ndim, dims, &numel));
    graft_tensor *t = graftCalloc(ctx, 1, sizeof *t);
    if (!t) return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a tensor");
    t->ctx = ctx;
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->numel = numel;
    t->capacity = numel;
    if (view) {
        t->data = view;
        t->is_view = 1;
    } else {
        t->data = graftCalloc(ctx, numel, sizeof(float));
        if (!t->data) {
            graftFree(ctx, t);
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu floats", numel);
        }
    }
    *out = t;
    return GRAFT_OK;
}

int graftTensorNew(graft_ctx *ctx, int ndim, const int64_t *dims, graft_tensor **out)
{
    return tensor_alloc(ctx, __func__, ndim, dims, NULL, out);
}

GRAFT_API int graft_tensor_create(graft_ctx *ctx, int ndim, const int64_t *dims,
                                  graft_tensor **out)
{
    graftClearError(ctx);
    return tensor_alloc(ctx, __func__, ndim, dims, NULL, out);
}

GRAFT_API int graft_tensor_create_view(graft_ctx *ctx, int ndim, const int64_t *dims,
                                       float *data, graft_tensor **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!data, ctx, GRAFT_E_INVALID_ARG, "data is NULL");
    return tensor_alloc(ctx, __func__, ndim, dims, data, out);
}

GRAFT_API void graft_tensor_free(graft_tensor *t)
{
    if (!t) return;
    graft_ctx *ctx = t->ctx;
    if (!t->is_view) graftFree(ctx, t->data);
    graftFree(ctx, t);
}

int graftTensorResize(graft_tensor *t, int ndim, const int64_t *dims)
{
    size_t numel;
    GRAFT_FORWARD_IF_ERROR(graftShapeCheck(t->ctx, __func__, ndim, dims, &numel));
    if (numel > t->capacity) {
        if (t->is_view)
            return graftError(t->ctx, GRAFT_E_SHAPE, __func__,
                              "a view of %zu floats cannot hold %zu", t->capacity, numel);
        float *p = graftAlloc(t->ctx, numel * sizeof(float));
        if (!p)
            return graftError(t->ctx, GRAFT_E_NOMEM, __func__, "cannot allocate %zu floats",
                              numel);
        graftFree(t->ctx, t->data);
        t->data = p;
        t->capacity = numel;
    }
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    t->numel = numel;
    return GRAFT_OK;
}

int graftTensorEnsure(graft_ctx *ctx, graft_tensor **t, int ndim, const int64_t *dims)
{
    if (*t) return graftTensorResize(*t, ndim, dims);
    return graftTensorNew(ctx, ndim, dims, t);
}

int graftTensorSameShape(const graft_tensor *a, const graft_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

GRAFT_API int graft_tensor_ndim(const graft_tensor *t) { return t ? t->ndim : 0; }

GRAFT_API int64_t graft_tensor_dim(const graft_tensor *t, int i)
{
    if (!t) return 0;
    if (i < 0) i += t->ndim;
    if (i < 0 || i >= t->ndim) return 0;
    return t->dims[i];
}

GRAFT_API size_t graft_tensor_numel(const graft_tensor *t) { return t ? t->numel : 0; }

GRAFT_API float *graft_tensor_data(graft_tensor *t) { return t ? t->data : NULL; }

GRAFT_API const float *graft_tensor_data_const(const graft_tensor *t)
{
    return t ? t->data : NULL;
}

GRAFT_API int graft_tensor_reshape(graft_tensor *t, int ndim, const int64_t *dims)
{
    size_t numel;
    graftClearError(t ? t->ctx : NULL);
    GRAFT_RETURN_IF(!t, NULL, GRAFT_E_INVALID_ARG, "tensor is NULL");
    GRAFT_FORWARD_IF_ERROR(graftShapeCheck(t->ctx, __func__, ndim, dims, &numel));
    if (numel != t->numel) {
        char a[128], b[128];
        graftShapeString(t->ndim, t->dims, a, sizeof a);
        graftShapeString(ndim, dims, b, sizeof b);
        return graftError(t->ctx, GRAFT_E_SHAPE, __func__,
                          "cannot reshape %s (%zu elements) to %s (%zu elements)", a, t->numel,
                          b, numel);
    }
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    return GRAFT_OK;
}

GRAFT_API int graft_tensor_copy_from(graft_tensor *t, const float *src, size_t count)
{
    graftClearError(t ? t->ctx : NULL);
    GRAFT_RETURN_IF(!t || !src, t ? t->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "tensor and src must not be NULL");
    GRAFT_RETURN_IF(count != t->numel, t->ctx, GRAFT_E_SHAPE,
                    "count is %zu but the tensor has %zu elements", count, t->numel);
    memmove(t->data, src, count * sizeof(float));
    return GRAFT_OK;
}

GRAFT_API int graft_tensor_copy_to(const graft_tensor *t, float *dst, size_t count)
{
    graftClearError(t ? t->ctx : NULL);
    GRAFT_RETURN_IF(!t || !dst, t ? t->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "tensor and dst must not be NULL");
    GRAFT_RETURN_IF(count != t->numel, t->ctx, GRAFT_E_SHAPE,
                    "count is %zu but the tensor has %zu elements", count, t->numel);
    memmove(dst, t->data, count * sizeof(float));
    return GRAFT_OK;
}

GRAFT_API int graft_tensor_fill(graft_tensor *t, float value)
{
    graftClearError(t ? t->ctx : NULL);
    GRAFT_RETURN_IF(!t, NULL, GRAFT_E_INVALID_ARG, "tensor is NULL");
    for (size_t i = 0; i < t->numel; i++) t->data[i] = value;
    return GRAFT_OK;
}
