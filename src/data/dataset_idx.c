/*
 * dataset_idx.c - datasets from IDX files (MNIST, Fashion-MNIST), plain or
 * gzip-compressed, and the pieces the file-reading sources share: a
 * sequential reader for plain or gzip files, and the wrapping of a new
 * source in a dataset view.
 *
 * gzip goes through zlib (Debian zlib1g-dev). It adds no dependency in
 * practice: libpng, which graft's image decoding links, itself depends on
 * zlib. Its allocation hooks are routed to the context's allocator.
 *
 * The IDX source keeps the pixels as bytes (a quarter of the floats'
 * memory: 47 MB for the 60000 training images of MNIST) and converts a
 * sample when it is read: feature[k] = pixel[k] * scale.
 */
#include "dataset_files.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* ---- the file reader --------------------------------------------------------- */

#define READER_CHUNK 65536

static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size)
{
    if (size != 0 && items > SIZE_MAX / size) return Z_NULL;
    return graftAlloc(opaque, (size_t)items * size);
}

static void zfree_hook(voidpf opaque, voidpf ptr) { graftFree(opaque, ptr); }

/* Reads raw bytes from disk, first those kept from the gzip detection. */
static int raw_read(graftFileReader *r, unsigned char *buf, size_t n, size_t *got)
{
    size_t k = 0;
    while (k < n && r->peek_pos < r->peek_len) buf[k++] = r->peek[r->peek_pos++];
    if (k < n && !r->file_eof) {
        size_t m = fread(buf + k, 1, n - k, r->file);
        if (m < n - k) {
            if (ferror(r->file))
                return graftError(r->ctx, GRAFT_E_IO, r->func, "cannot read '%s': %s", r->path,
                                  strerror(errno ? errno : EIO));
            r->file_eof = 1;
        }
        k += m;
    }
    *got = k;
    return GRAFT_OK;
}

int graftFileOpen(graftFileReader *r, graft_ctx *ctx, const char *func, const char *path)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->func = func;
    r->path = path;
    errno = 0;
    r->file = fopen(path, "rb");
    if (!r->file)
        return graftError(ctx, GRAFT_E_IO, func, "cannot open '%s': %s", path,
                          strerror(errno ? errno : ENOENT));
    struct stat st;
    if (fstat(fileno(r->file), &st) != 0 || !S_ISREG(st.st_mode)) {
        int err = errno;
        fclose(r->file);
        r->file = NULL;
        return graftError(ctx, GRAFT_E_IO, func, "cannot read '%s': %s", path,
                          err ? strerror(err) : "not a regular file");
    }
    r->file_size = (uint64_t)st.st_size;
    int st_ = raw_read(r, r->peek, 2, &r->peek_len);
    if (st_ != GRAFT_OK) {
        graftFileClose(r);
        return st_;
    }
    r->peek_pos = 0;
    if (r->peek_len == 2 && r->peek[0] == 0x1f && r->peek[1] == 0x8b) {
        z_stream *zs = graftCalloc(ctx, 1, sizeof *zs);
        r->in = graftAlloc(ctx, READER_CHUNK);
        if (!zs || !r->in) {
            graftFree(ctx, zs);
            graftFileClose(r);
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate a gzip reader");
        }
        zs->zalloc = zalloc_hook;
        zs->zfree = zfree_hook;
        zs->opaque = ctx;
        /* 15 + 16: a 32 KiB window, gzip wrapper only. */
        if (inflateInit2(zs, 15 + 16) != Z_OK) {
            graftFree(ctx, zs);
            graftFileClose(r);
            return graftError(ctx, GRAFT_E_NOMEM, func, "cannot start a gzip reader");
        }
        r->zs = zs;
        r->gzip = 1;
    }
    return GRAFT_OK;
}

/* Decompresses up to n bytes. A gzip file may hold several members one
 * after the other (as gzip and zcat allow); anything else after a member is
 * refused as damage. */
static int gzip_read(graftFileReader *r, unsigned char *buf, size_t n, size_t *got)
{
    z_stream *zs = r->zs;
    size_t done = 0;
    while (done < n) {
        if (r->stream_end) {
            /* Another member, or the end of the file. */
            if (zs->avail_in == 0 && !r->file_eof) {
                size_t m;
                GRAFT_FORWARD_IF_ERROR(raw_read(r, r->in, READER_CHUNK, &m));
                zs->next_in = r->in;
                zs->avail_in = (uInt)m;
            }
            if (zs->avail_in == 0) break;
            inflateReset(zs);
            r->stream_end = 0;
        }
        if (zs->avail_in == 0 && !r->file_eof) {
            size_t m;
            GRAFT_FORWARD_IF_ERROR(raw_read(r, r->in, READER_CHUNK, &m));
            zs->next_in = r->in;
            zs->avail_in = (uInt)m;
        }
        size_t want = n - done;
        if (want > UINT_MAX) want = UINT_MAX;
        zs->next_out = buf + done;
        zs->avail_out = (uInt)want;
        int z = inflate(zs, Z_NO_FLUSH);
        done += want - zs->avail_out;
        if (z == Z_STREAM_END) {
            r->stream_end = 1;
            continue;
        }
        if (z == Z_BUF_ERROR && zs->avail_in == 0 && r->file_eof)
            return graftError(r->ctx, GRAFT_E_FORMAT, r->func,
                              "'%s': the gzip data is truncated", r->path);
        if (z != Z_OK && z != Z_BUF_ERROR)
            return graftError(r->ctx, z == Z_MEM_ERROR ? GRAFT_E_NOMEM : GRAFT_E_FORMAT,
                              r->func, "'%s': the gzip data is damaged (%s)", r->path,
                              zs->msg ? zs->msg : "zlib error");
    }
    *got = done;
    return GRAFT_OK;
}

int graftFileRead(graftFileReader *r, void *buf, size_t n, size_t *got)
{
    *got = 0;
    if (n == 0) return GRAFT_OK;
    if (r->gzip) return gzip_read(r, buf, n, got);
    return raw_read(r, buf, n, got);
}

void graftFileClose(graftFileReader *r)
{
    if (r->zs) {
        inflateEnd(r->zs);
        graftFree(r->ctx, r->zs);
        r->zs = NULL;
    }
    graftFree(r->ctx, r->in);
    r->in = NULL;
    if (r->file) fclose(r->file);
    r->file = NULL;
}

/* ---- wrapping a source ------------------------------------------------------- */

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

/* ---- IDX ----------------------------------------------------------------------- */

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
    return graftDatasetWrap(ctx, __func__, &idx_vtbl, s, count, 3, dims,
                            n_classes > 0 ? n_classes : max_label + 1, out);

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
