/*
 * context.c - contexts: allocator hooks, settings, and the allocation
 * helpers every other file uses.
 */
#include "internal.h"
#include "options.h"

#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *opaque, size_t size)
{
    (void)opaque;
    return malloc(size);
}

static void default_free(void *opaque, void *ptr)
{
    (void)opaque;
    free(ptr);
}

void *graftAlloc(graft_ctx *ctx, size_t size)
{
    if (size == 0) size = 1;
    return ctx->allocator.alloc(ctx->allocator.opaque, size);
}

void *graftCalloc(graft_ctx *ctx, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    void *p = graftAlloc(ctx, bytes);
    if (p) memset(p, 0, bytes > 0 ? bytes : 1);
    return p;
}

void graftFree(graft_ctx *ctx, void *ptr)
{
    if (ptr) ctx->allocator.free(ctx->allocator.opaque, ptr);
}

char *graftStrdup(graft_ctx *ctx, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = graftAlloc(ctx, n);
    if (p) memcpy(p, s, n);
    return p;
}

/* The sizes graft_allocator has had: 1.0. */
static const uint32_t allocator_sizes[] = {(uint32_t)sizeof(graft_allocator)};
static const graftOptionsKind allocator_kind = {
    "allocator", "GRAFT_ALLOCATOR_INIT", allocator_sizes, GRAFT_OPTIONS_COUNT(allocator_sizes), 0,
    0};

GRAFT_API int graft_ctx_create_advanced(const graft_allocator *allocator, graft_ctx **out)
{
    graftClearError(NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!out, NULL, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!allocator, NULL, GRAFT_E_INVALID_ARG, "allocator is NULL");
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(NULL, __func__, &allocator_kind, allocator, &a));
    allocator = &a;
    GRAFT_RETURN_IF(!allocator->alloc || !allocator->free, NULL, GRAFT_E_INVALID_ARG,
                    "allocator->alloc and allocator->free must both be set");
    graft_ctx *ctx = allocator->alloc(allocator->opaque, sizeof *ctx);
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_NOMEM, "cannot allocate the context");
    memset(ctx, 0, sizeof *ctx);
    if (pthread_mutex_init(&ctx->errlock, NULL) != 0) {
        allocator->free(allocator->opaque, ctx);
        return graftError(NULL, GRAFT_E_NOMEM, __func__, "cannot create the context's lock");
    }
    ctx->id = graftNextContextId();
    ctx->allocator = *allocator;
    ctx->use_blas = graft_has_blas();
    ctx->winograd = 1;
    ctx->check_inputs = 1;
    *out = ctx;
    return GRAFT_OK;
}

GRAFT_API int graft_ctx_create(graft_ctx **out)
{
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = default_alloc;
    a.free = default_free;
    return graft_ctx_create_advanced(&a, out);
}

GRAFT_API void graft_ctx_free(graft_ctx *ctx)
{
    if (!ctx) return;
    pthread_mutex_destroy(&ctx->errlock);
    ctx->allocator.free(ctx->allocator.opaque, ctx);
}

GRAFT_API int graft_ctx_set_int(graft_ctx *ctx, int key, int value)
{
    graftClearError(ctx);
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    switch (key) {
    case GRAFT_CTX_USE_BLAS:
        GRAFT_RETURN_IF(value != 0 && value != 1, ctx, GRAFT_E_RANGE,
                        "GRAFT_CTX_USE_BLAS takes 0 or 1, not %d", value);
        GRAFT_RETURN_IF(value == 1 && !graft_has_blas(), ctx, GRAFT_E_UNSUPPORTED,
                        "this build of graft has no BLAS");
        ctx->use_blas = value;
        return GRAFT_OK;
    case GRAFT_CTX_NUM_THREADS:
        GRAFT_RETURN_IF(value < 1 || value > 256, ctx, GRAFT_E_RANGE,
                        "GRAFT_CTX_NUM_THREADS takes 1 to 256, not %d", value);
        GRAFT_RETURN_IF(graftBlasSetThreads(value) != GRAFT_OK, ctx, GRAFT_E_UNSUPPORTED,
                        "this build of graft has no BLAS: it runs on one thread");
        return GRAFT_OK;
    case GRAFT_CTX_WINOGRAD:
        GRAFT_RETURN_IF(value < 0 || value > 2, ctx, GRAFT_E_RANGE,
                        "GRAFT_CTX_WINOGRAD takes 0, 1 or 2, not %d", value);
        ctx->winograd = value;
        return GRAFT_OK;
    case GRAFT_CTX_CHECK_INPUTS:
        GRAFT_RETURN_IF(value != 0 && value != 1, ctx, GRAFT_E_RANGE,
                        "GRAFT_CTX_CHECK_INPUTS takes 0 or 1, not %d", value);
        ctx->check_inputs = value;
        return GRAFT_OK;
    default:
        return graftError(ctx, GRAFT_E_NOT_FOUND, __func__, "unknown setting key %d", key);
    }
}

GRAFT_API int graft_ctx_get_int(const graft_ctx *ctx, int key, int *value)
{
    graftClearError((graft_ctx *)ctx);
    GRAFT_RETURN_IF(!ctx || !value, (graft_ctx *)ctx, GRAFT_E_INVALID_ARG,
                    "ctx and value must not be NULL");
    switch (key) {
    case GRAFT_CTX_USE_BLAS: *value = ctx->use_blas; return GRAFT_OK;
    case GRAFT_CTX_NUM_THREADS: *value = graftBlasThreads(); return GRAFT_OK;
    case GRAFT_CTX_WINOGRAD: *value = ctx->winograd; return GRAFT_OK;
    case GRAFT_CTX_CHECK_INPUTS: *value = ctx->check_inputs; return GRAFT_OK;
    default:
        return graftError((graft_ctx *)ctx, GRAFT_E_NOT_FOUND, __func__,
                          "unknown setting key %d", key);
    }
}

GRAFT_API void graft_buffer_free(graft_ctx *ctx, void *data)
{
    if (ctx) graftFree(ctx, data);
}
