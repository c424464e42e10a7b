/*
 * dataset_idx.c - datasets from IDX files (MNIST, Fashion-MNIST), plain or
 * gzip-compressed (read through graftFileReader, file_reader.c).
 *
 * The IDX source keeps the pixels as bytes (a quarter of the floats'
 * memory: 47 MB for the 60000 training images of MNIST) and converts a
 * sample when it is read: feature[k] = pixel[k] * scale.
 */
#include "dataset.h"
#include "file_reader.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* deflate expands at most 1032 to 1; a gzip file's header and trailer add a
 * little, which the bound below ignores in the reader's favour. */
#define GZIP_MAX_RATIO 1032u

typedef struct idx_source {
    unsigned char *pixels; /* count * numel bytes */
    int32_t *labels;       /* count */
    float scale;
} idx_source;

static int idx_get(graftSource *src, int64_t i, float *features, int32_t *label)
{
    const idx_source *s = src->impl;
    if (features) {
        const unsigned char *p = s->pixels + (size_t)i * src->sample_numel;
        for (size_t k = 0; k < src->sample_numel; k++) features[k] = (float)p[k] * s->scale;
    }
    if (label) *label = s->labels[i];
    return GRAFT_OK;
}

static void idx_destroy(graftSource *src)
{
    idx_source *s = src->impl;
    if (!s) return;
    graftFree(src->ctx, s->pixels);
    graftFree(src->ctx, s->labels);
    graftFree(src->ctx, s);
    src->impl = NULL;
}

static const graftSourceVtbl idx_vtbl = {
    .get = idx_get,
    .destroy = idx_destroy,
};

static const char *idx_type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned bytes";
    case 0x09: return "signed bytes";
    case 0x0B: return "16-bit integers";
    case 0x0C: return "32-bit integers";
    case 0x0D: return "32-bit floats";
    case 0x0E: return "64-bit floats";
    default: return NULL;
    }
}

/* An opened IDX file whose header has been read and checked. */
typedef struct idx_file {
    graftFileReader r;
    const char *what; /* "images" or "labels" */
    int rank;
    uint32_t dims[3];
    uint64_t data_bytes;
} idx_file;

/* Opens an IDX file and checks its header against the rank expected and
 * the data size against the file's size. */
static int idx_open(idx_file *f, graft_ctx *ctx, const char *path, const char *what,
                    int want_rank, const char *rank_desc)
{
    static const char *const func = "graft_dataset_from_idx";
    f->what = what;
    GRAFT_FORWARD_IF_ERROR(graftFileOpen(&f->r, ctx, func, path));
    unsigned char head[4];
    size_t got;
    GRAFT_FORWARD_IF_ERROR(graftFileRead(&f->r, head, 4, &got));
    GRAFT_RETURN_IF_AT(got < 4, ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s' holds %zu bytes%s, too short for an IDX header (4 bytes "
                       "of magic number)", what, path, got,
                       f->r.gzip ? " once decompressed" : "");
    GRAFT_RETURN_IF_AT(head[0] != 0 || head[1] != 0, ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s' is not an IDX file: it starts with bytes 0x%02x 0x%02x, "
                       "expected 0x00 0x00", what, path, head[0], head[1]);
    int type = head[2], rank = head[3];
    GRAFT_RETURN_IF_AT(!idx_type_name(type), ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s': unknown IDX type code 0x%02x", what, path, type);
    GRAFT_RETURN_IF_AT(type != 0x08, ctx, GRAFT_E_UNSUPPORTED, func,
                       "%s file '%s' holds %s (IDX type 0x%02x); only unsigned bytes (0x08) "
                       "are supported", what, path, idx_type_name(type), type);
    GRAFT_RETURN_IF_AT(rank != want_rank, ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s' has %d dimensions, expected %d (%s)", what, path, rank,
                       want_rank, rank_desc);
    unsigned char raw[12];
    GRAFT_FORWARD_IF_ERROR(graftFileRead(&f->r, raw, (size_t)rank * 4, &got));
    GRAFT_RETURN_IF_AT(got < (size_t)rank * 4, ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s': the header is truncated (%zu of %d bytes of sizes)", what,
                       path, got, rank * 4);
    uint64_t bytes = 1;
    for (int d = 0; d < rank; d++) {
        uint32_t v = (uint32_t)raw[4 * d] << 24 | (uint32_t)raw[4 * d + 1] << 16 |
                     (uint32_t)raw[4 * d + 2] << 8 | (uint32_t)raw[4 * d + 3];
        GRAFT_RETURN_IF_AT(v == 0, ctx, GRAFT_E_FORMAT, func,
                           "%s file '%s': size %d of the header is 0", what, path, d);
        f->dims[d] = v;
        GRAFT_RETURN_IF_AT(bytes > (uint64_t)GRAFT_MAX_NUMEL / v, ctx, GRAFT_E_FORMAT, func,
                           "%s file '%s': the header announces more than 2^40 values", what,
                           path);
        bytes *= v;
    }
    f->rank = rank;
    f->data_bytes = bytes;
    uint64_t header = 4 + 4 * (uint64_t)rank;
    if (!f->r.gzip) {
        uint64_t have = f->r.file_size > header ? f->r.file_size - header : 0;
        GRAFT_RETURN_IF_AT(have < bytes, ctx, GRAFT_E_FORMAT, func,
                           "%s file '%s' is truncated: the header announces %llu bytes of data, "
                           "the file holds %llu", what, path, (unsigned long long)bytes,
                           (unsigned long long)have);
        GRAFT_RETURN_IF_AT(have > bytes, ctx, GRAFT_E_FORMAT, func,
                           "%s file '%s' is longer than its header says: %llu bytes of data "
                           "announced, %llu bytes follow the header", what, path,
                           (unsigned long long)bytes, (unsigned long long)have);
    } else {
        uint64_t most = f->r.file_size * GZIP_MAX_RATIO;
        GRAFT_RETURN_IF_AT(bytes + header > most, ctx, GRAFT_E_FORMAT, func,
                           "%s file '%s': the header announces %llu bytes of data, more than "
                           "the %llu bytes a gzip file of %llu bytes can hold", what, path,
                           (unsigned long long)bytes, (unsigned long long)most,
                           (unsigned long long)f->r.file_size);
    }
    return GRAFT_OK;
}

/* Reads the data (data_bytes) into buf and checks that nothing follows. */
static int idx_read_data(idx_file *f, unsigned char *buf)
{
    static const char *const func = "graft_dataset_from_idx";
    graft_ctx *ctx = f->r.ctx;
    size_t got;
    GRAFT_FORWARD_IF_ERROR(graftFileRead(&f->r, buf, (size_t)f->data_bytes, &got));
    GRAFT_RETURN_IF_AT(got < f->data_bytes, ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s' is truncated: the header announces %llu bytes of data, "
                       "the file holds %zu", f->what, f->r.path,
                       (unsigned long long)f->data_bytes, got);
    unsigned char extra;
    GRAFT_FORWARD_IF_ERROR(graftFileRead(&f->r, &extra, 1, &got));
    GRAFT_RETURN_IF_AT(got != 0, ctx, GRAFT_E_FORMAT, func,
                       "%s file '%s' is longer than its header says: more than the %llu "
                       "bytes of data announced follow the header", f->what, f->r.path,
                       (unsigned long long)f->data_bytes);
    return GRAFT_OK;
}

GRAFT_API int graft_dataset_from_idx(graft_ctx *ctx, const char *images_path,
                                     const char *labels_path, float scale, int n_classes,
                                     graft_dataset **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!images_path || !labels_path, ctx, GRAFT_E_INVALID_ARG,
                    "images_path and labels_path must not be NULL");
    GRAFT_RETURN_IF(!isfinite(scale) || !(scale > 0.0f), ctx, GRAFT_E_INVALID_ARG,
                    "scale is %g, must be finite and > 0", (double)scale);
    /* the largest feature, 255 * scale, must be finite too */
    GRAFT_RETURN_IF(!isfinite(255.0f * scale), ctx, GRAFT_E_INVALID_ARG,
                    "scale is %g: a pixel of 255 would become %g; must be at most %g",
                    (double)scale, (double)(255.0f * scale), (double)(FLT_MAX / 255));
    GRAFT_RETURN_IF(n_classes < 0, ctx, GRAFT_E_INVALID_ARG,
                    "n_classes is %d, must be >= 1 (or 0: max label + 1)", n_classes);

    idx_file im, lb;
    memset(&im, 0, sizeof im);
    memset(&lb, 0, sizeof lb);
    idx_source *s = NULL;
    unsigned char *raw_labels = NULL;
    int st = idx_open(&im, ctx, images_path, "images", 3, "count, height, width");
    if (st == GRAFT_OK) st = idx_open(&lb, ctx, labels_path, "labels", 1, "count");
    if (st != GRAFT_OK) goto fail;
    if (im.dims[0] != lb.dims[0]) {
        st = graftError(ctx, GRAFT_E_FORMAT, __func__,
                        "images file '%s' holds %u images but labels file '%s' holds %u labels",
                        images_path, (unsigned)im.dims[0], labels_path, (unsigned)lb.dims[0]);
        goto fail;
    }
    const int64_t count = im.dims[0];
    s = graftCalloc(ctx, 1, sizeof *s);
    if (s) s->pixels = graftAlloc(ctx, (size_t)im.data_bytes);
    if (s) s->labels = graftAlloc(ctx, (size_t)count * sizeof *s->labels);
    raw_labels = graftAlloc(ctx, (size_t)count);
    if (!s || !s->pixels || !s->labels || !raw_labels) {
        st = graftError(ctx, GRAFT_E_NOMEM, __func__,
                        "cannot allocate %lld images of %ux%u pixels", (long long)count,
                        (unsigned)im.dims[1], (unsigned)im.dims[2]);
        goto fail;
    }
    st = idx_read_data(&lb, raw_labels);
    if (st == GRAFT_OK) st = idx_read_data(&im, s->pixels);
    if (st != GRAFT_OK) goto fail;

    int max_label = 0;
    for (int64_t i = 0; i < count; i++) {
        if (n_classes > 0 && raw_labels[i] >= n_classes) {
            st = graftError(ctx, GRAFT_E_RANGE, __func__,
                            "labels file '%s': sample %lld has label %d, must be below "
                            "n_classes %d", labels_path, (long long)i, raw_labels[i], n_classes);
            goto fail;
        }
        if (raw_labels[i] > max_label) max_label = raw_labels[i];
        s->labels[i] = raw_labels[i];
    }
    s->scale = scale;
    graftFileClose(&im.r);
    graftFileClose(&lb.r);
    graftFree(ctx, raw_labels);
    const int64_t dims[3] = {1, im.dims[1], im.dims[2]};
    st = graftDatasetWrap(ctx, __func__, &idx_vtbl, s, count, 3, dims,
                          n_classes > 0 ? n_classes : max_label + 1, out);
    if (st == GRAFT_OK) (*out)->src->finite = 1; /* byte * scale, 255 * scale finite */
    return st;

fail:
    graftFileClose(&im.r);
    graftFileClose(&lb.r);
    graftFree(ctx, raw_labels);
    if (s) {
        graftFree(ctx, s->pixels);
        graftFree(ctx, s->labels);
        graftFree(ctx, s);
    }
    return st;
}
