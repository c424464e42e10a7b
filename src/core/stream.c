/*
 * stream.c - little-endian byte streams for graft's files: a growable writer
 * and a bounded reader that checks every length against what is left.
 */
#include "internal.h"

#include <string.h>

void graftWriterInit(graftWriter *w, graft_ctx *ctx)
{
    memset(w, 0, sizeof *w);
    w->ctx = ctx;
}

void graftWriterDispose(graftWriter *w)
{
    graftFree(w->ctx, w->data);
    w->data = NULL;
    w->size = w->capacity = 0;
}

void graftWriteBytes(graftWriter *w, const void *p, size_t n)
{
    if (w->status != GRAFT_OK || n == 0) return;
    if (n > SIZE_MAX - w->size) {
        w->status = graftError(w->ctx, GRAFT_E_NOMEM, __func__, "output too large");
        return;
    }
    if (w->size + n > w->capacity) {
        size_t cap = w->capacity ? w->capacity : 256;
        while (cap < w->size + n) cap = cap > SIZE_MAX / 2 ? w->size + n : cap * 2;
        unsigned char *q = graftAlloc(w->ctx, cap);
        if (!q) {
            w->status = graftError(w->ctx, GRAFT_E_NOMEM, __func__,
                                   "cannot grow an output buffer to %zu bytes", cap);
            return;
        }
        if (w->size) memcpy(q, w->data, w->size);
        graftFree(w->ctx, w->data);
        w->data = q;
        w->capacity = cap;
    }
    memcpy(w->data + w->size, p, n);
    w->size += n;
}

void graftWriteU32(graftWriter *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    graftWriteBytes(w, b, 4);
}

void graftWriteI32(graftWriter *w, int32_t v) { graftWriteU32(w, (uint32_t)v); }

void graftWriteI64(graftWriter *w, int64_t v)
{
    uint64_t u = (uint64_t)v;
    graftWriteU32(w, (uint32_t)u);
    graftWriteU32(w, (uint32_t)(u >> 32));
}

void graftWriteF32(graftWriter *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    graftWriteU32(w, u);
}

void graftWriteString(graftWriter *w, const char *s)
{
    size_t n = strlen(s);
    graftWriteU32(w, (uint32_t)n);
    graftWriteBytes(w, s, n);
}

void graftWriteFloats(graftWriter *w, const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) graftWriteF32(w, p[i]);
}

void graftReaderInit(graftReader *r, graft_ctx *ctx, const void *data, size_t size)
{
    r->ctx = ctx;
    r->data = data;
    r->size = size;
    r->pos = 0;
    r->status = GRAFT_OK;
}

int graftReadBytes(graftReader *r, void *p, size_t n, const char *what)
{
    if (r->status != GRAFT_OK) return r->status;
    if (n > r->size - r->pos) {
        r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                               "truncated data: %s needs %zu bytes at offset %zu, %zu left",
                               what, n, r->pos, r->size - r->pos);
        return r->status;
    }
    memcpy(p, r->data + r->pos, n);
    r->pos += n;
    return GRAFT_OK;
}

int graftReadU32(graftReader *r, uint32_t *v, const char *what)
{
    unsigned char b[4] = {0, 0, 0, 0};
    GRAFT_FORWARD_IF_ERROR(graftReadBytes(r, b, 4, what));
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return GRAFT_OK;
}

int graftReadI32(graftReader *r, int32_t *v, const char *what)
{
    uint32_t u;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &u, what));
    *v = (int32_t)u;
    return GRAFT_OK;
}

int graftReadI64(graftReader *r, int64_t *v, const char *what)
{
    uint32_t lo, hi;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &lo, what));
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &hi, what));
    *v = (int64_t)((uint64_t)hi << 32 | lo);
    return GRAFT_OK;
}

int graftReadF32(graftReader *r, float *v, const char *what)
{
    uint32_t u;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &u, what));
    memcpy(v, &u, 4);
    return GRAFT_OK;
}

int graftReadString(graftReader *r, char **s, uint32_t max_len, const char *what)
{
    uint32_t n;
    *s = NULL;
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &n, what));
    if (n > max_len) {
        r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                               "%s at offset %zu is %u bytes long, at most %u allowed", what,
                               r->pos - 4, n, max_len);
        return r->status;
    }
    if (n > r->size - r->pos) {
        r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                               "truncated data: %s needs %u bytes at offset %zu, %zu left", what,
                               n, r->pos, r->size - r->pos);
        return r->status;
    }
    char *p = graftAlloc(r->ctx, (size_t)n + 1);
    if (!p) {
        r->status = graftError(r->ctx, GRAFT_E_NOMEM, "graft_load", "cannot allocate %s", what);
        return r->status;
    }
    memcpy(p, r->data + r->pos, n);
    p[n] = '\0';
    if (memchr(p, '\0', n)) {
        graftFree(r->ctx, p);
        r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                               "%s at offset %zu contains a NUL byte", what, r->pos);
        return r->status;
    }
    r->pos += n;
    *s = p;
    return GRAFT_OK;
}

int graftReadFloats(graftReader *r, float *p, size_t n, const char *what)
{
    if (r->status != GRAFT_OK) return r->status;
    if (n > (r->size - r->pos) / 4) {
        r->status = graftError(r->ctx, GRAFT_E_FORMAT, "graft_load",
                               "truncated data: %s needs %zu floats at offset %zu, %zu bytes left",
                               what, n, r->pos, r->size - r->pos);
        return r->status;
    }
    for (size_t i = 0; i < n; i++) graftReadF32(r, &p[i], what);
    return GRAFT_OK;
}
