/*
 * image.c - the graft_image handle: creation, loading (file reading and
 * format detection; the decoders are image_png.c and image_jpeg.c), export
 * to caller memory and tensors, and the in-place transforms, including the
 * seeded augmentation.
 *
 * Pixels are float32, planar CHW: channel c, row y, column x at
 * (c * H + y) * W + x. A transform that changes the size writes into the
 * image's spare buffer and swaps it with the pixels, so a steady image size
 * allocates nothing after the first call.
 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_FILE_BYTES ((size_t)1 << 30)
#define MAX_SIDE 65535

/* ---- buffers --------------------------------------------------------------- */

static size_t image_numel(const graft_image *im)
{
    return (size_t)im->channels * (size_t)im->height * (size_t)im->width;
}

/* Grows the spare buffer to n floats (contents not kept). */
static int ensure_spare(graft_image *im, const char *func, size_t n)
{
    if (im->spare_capacity >= n) return GRAFT_OK;
    float *p = graftCalloc(im->ctx, n, sizeof(float));
    if (!p) return graftError(im->ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu floats", n);
    graftFree(im->ctx, im->spare);
    im->spare = p;
    im->spare_capacity = n;
    return GRAFT_OK;
}

/* Grows the pixel buffer to n floats, keeping the current pixels. */
static int ensure_data(graft_image *im, const char *func, size_t n)
{
    if (im->capacity >= n) return GRAFT_OK;
    float *p = graftCalloc(im->ctx, n, sizeof(float));
    if (!p) return graftError(im->ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu floats", n);
    memcpy(p, im->data, image_numel(im) * sizeof(float));
    graftFree(im->ctx, im->data);
    im->data = p;
    im->capacity = n;
    return GRAFT_OK;
}

/* Grows the scratch area to n bytes (contents not kept). */
static int ensure_work(graft_image *im, const char *func, size_t n)
{
    if (im->work_capacity >= n) return GRAFT_OK;
    void *p = graftAlloc(im->ctx, n);
    if (!p) return graftError(im->ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu bytes", n);
    graftFree(im->ctx, im->work);
    im->work = p;
    im->work_capacity = n;
    return GRAFT_OK;
}

/* Makes the spare buffer the pixels, of the given size. */
static void swap_in_spare(graft_image *im, int width, int height, int channels)
{
    float *p = im->data;
    size_t cap = im->capacity;
    im->data = im->spare;
    im->capacity = im->spare_capacity;
    im->spare = p;
    im->spare_capacity = cap;
    im->width = width;
    im->height = height;
    im->channels = channels;
}

static int check_size(graft_ctx *ctx, const char *func, int64_t width, int64_t height)
{
    GRAFT_RETURN_IF_AT(width < 1 || height < 1, ctx, GRAFT_E_RANGE, func,
                       "width and height must be >= 1 (got %lld x %lld)", (long long)width,
                       (long long)height);
    GRAFT_RETURN_IF_AT(width > GRAFT_IMAGE_MAX_PIXELS || height > GRAFT_IMAGE_MAX_PIXELS ||
                           width * height > GRAFT_IMAGE_MAX_PIXELS,
                       ctx, GRAFT_E_RANGE, func,
                       "%lld x %lld pixels is more than GRAFT_IMAGE_MAX_PIXELS (%lld)",
                       (long long)width, (long long)height, (long long)GRAFT_IMAGE_MAX_PIXELS);
    return GRAFT_OK;
}

int graftImageNew(graft_ctx *ctx, const char *func, int width, int height, int channels,
                  graft_image **out)
{
    *out = NULL;
    GRAFT_RETURN_IF_AT(channels != 1 && channels != 3, ctx, GRAFT_E_INVALID_ARG, func,
                       "channels is %d, must be 1 or 3", channels);
    GRAFT_FORWARD_IF_ERROR(check_size(ctx, func, width, height));
    graft_image *im = graftCalloc(ctx, 1, sizeof *im);
    if (!im) return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate an image");
    size_t n = (size_t)channels * (size_t)width * (size_t)height;
    im->data = graftAlloc(ctx, n * sizeof(float));
    if (!im->data) {
        graftFree(ctx, im);
        return graftError(ctx, GRAFT_E_NOMEM, func, "cannot allocate %d x %d x %d floats",
                          channels, height, width);
    }
    im->ctx = ctx;
    im->width = width;
    im->height = height;
    im->channels = channels;
    im->capacity = n;
    *out = im;
    return GRAFT_OK;
}

/* ---- loading --------------------------------------------------------------- */

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
static const unsigned char jpeg_signature[3] = {0xff, 0xd8, 0xff};

GRAFT_API int graft_image_format(const void *data, size_t size)
{
    const unsigned char *p = data;
    if (!p) return GRAFT_IMAGE_FORMAT_UNKNOWN;
    if (size >= sizeof png_signature && memcmp(p, png_signature, sizeof png_signature) == 0)
        return GRAFT_IMAGE_FORMAT_PNG;
    if (size >= sizeof jpeg_signature && memcmp(p, jpeg_signature, sizeof jpeg_signature) == 0)
        return GRAFT_IMAGE_FORMAT_JPEG;
    return GRAFT_IMAGE_FORMAT_UNKNOWN;
}

/* Names a format graft recognises but does not decode, or returns NULL. */
static const char *unsupported_format(const unsigned char *p, size_t size)
{
    if (size >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "GIF";
    if (size >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "WebP";
    if (size >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) return "TIFF";
    if (size >= 14 && p[0] == 'B' && p[1] == 'M') return "BMP";
    return NULL;
}

static int opts_check(graft_ctx *ctx, const char *func, const graft_image_load_opts *opts,
                      int *channels, int64_t *max_pixels)
{
    *channels = 0;
    *max_pixels = GRAFT_IMAGE_MAX_PIXELS;
    if (!opts) return GRAFT_OK;
    GRAFT_RETURN_IF_AT(opts->struct_size != sizeof(graft_image_load_opts), ctx, GRAFT_E_VERSION,
                       func, "opts->struct_size is %u, expected %u (use GRAFT_IMAGE_LOAD_OPTS_INIT)",
                       (unsigned)opts->struct_size, (unsigned)sizeof(graft_image_load_opts));
    GRAFT_RETURN_IF_AT(opts->channels != 0 && opts->channels != 1 && opts->channels != 3, ctx,
                       GRAFT_E_INVALID_ARG, func, "opts->channels is %d, must be 0, 1 or 3",
                       opts->channels);
    GRAFT_RETURN_IF_AT(opts->max_pixels < 0 || opts->max_pixels > GRAFT_IMAGE_MAX_PIXELS, ctx,
                       GRAFT_E_INVALID_ARG, func,
                       "opts->max_pixels is %lld, must be 0 (default) or 1 to %lld",
                       (long long)opts->max_pixels, (long long)GRAFT_IMAGE_MAX_PIXELS);
    *channels = opts->channels;
    if (opts->max_pixels > 0) *max_pixels = opts->max_pixels;
    return GRAFT_OK;
}

static int convert_channels(graft_image *im, const char *func, int channels);

/* Detects the format of job's bytes, decodes them, converts the channels. */
static int decode(graftDecodeJob *job, int channels, graft_image **out)
{
    const unsigned char *p = job->data;
    size_t size = job->size;
    int status;
    if (size == 0)
        return graftError(job->ctx, GRAFT_E_FORMAT, job->func, "%s: empty (0 bytes)", job->source);
    switch (graft_image_format(p, size)) {
    case GRAFT_IMAGE_FORMAT_PNG: status = graftImageDecodePng(job, out); break;
    case GRAFT_IMAGE_FORMAT_JPEG: status = graftImageDecodeJpeg(job, out); break;
    default: {
        const char *name = unsupported_format(p, size);
        if (name)
            return graftError(job->ctx, GRAFT_E_UNSUPPORTED, job->func,
                              "%s: %s images are not supported (only PNG and JPEG)",
                              job->source, name);
        if (size < sizeof png_signature && memcmp(p, png_signature, size) == 0)
            return graftError(job->ctx, GRAFT_E_FORMAT, job->func,
                              "%s: truncated PNG (%zu bytes, the signature alone is 8)",
                              job->source, size);
        if (size < sizeof jpeg_signature && memcmp(p, jpeg_signature, size) == 0)
            return graftError(job->ctx, GRAFT_E_FORMAT, job->func,
                              "%s: truncated JPEG (%zu bytes)", job->source, size);
        return graftError(job->ctx, GRAFT_E_FORMAT, job->func,
                          "%s: not a PNG or JPEG image (unrecognised signature)", job->source);
    }
    }
    if (status != GRAFT_OK) return status;
    if (channels != 0 && channels != (*out)->channels) {
        status = convert_channels(*out, job->func, channels);
        if (status != GRAFT_OK) {
            graft_image_free(*out);
            *out = NULL;
        }
    }
    return status;
}


/* Reads the whole file at path into a new buffer (at most MAX_FILE_BYTES). */
static int read_file(graft_ctx *ctx, const char *func, const char *path, unsigned char **data,
                     size_t *size)
{
    char why[128];
    graftFileFailure fail;
    switch (graftReadWholeFile(ctx, path, MAX_FILE_BYTES, data, size, &fail)) {
    case GRAFT_FILE_OK:
        return GRAFT_OK;
    case GRAFT_FILE_OPEN:
        graftErrnoText(fail.sys_errno ? fail.sys_errno : ENOENT, why, sizeof why);
        return graftError(ctx, GRAFT_E_IO, func, "%s: cannot open: %s", path, why);
    case GRAFT_FILE_IS_DIR:
        return graftError(ctx, GRAFT_E_IO, func, "%s: is a directory", path);
    case GRAFT_FILE_NOMEM:
        return graftError(ctx, GRAFT_E_NOMEM, func, "%s: cannot allocate %zu bytes", path,
                          fail.bytes);
    case GRAFT_FILE_TOO_LARGE:
        if (fail.file_size >= 0)
            return graftError(ctx, GRAFT_E_FORMAT, func,
                              "%s: %lld bytes is more than the 1 GiB an image may have", path,
                              fail.file_size);
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "%s: more than the 1 GiB an image may have", path);
    default: /* fstat or read failed */
        graftErrnoText(fail.sys_errno ? fail.sys_errno : EIO, why, sizeof why);
        return graftError(ctx, GRAFT_E_IO, func, "%s: cannot read: %s", path, why);
    }
}

GRAFT_API int graft_image_load(graft_ctx *ctx, const char *path,
                               const graft_image_load_opts *opts, graft_image **out)
{
    int channels;
    graftDecodeJob job;
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!path || !out, ctx, GRAFT_E_INVALID_ARG, "path and out must not be NULL");
    memset(&job, 0, sizeof job);
    GRAFT_FORWARD_IF_ERROR(opts_check(ctx, __func__, opts, &channels, &job.max_pixels));
    unsigned char *data;
    GRAFT_FORWARD_IF_ERROR(read_file(ctx, __func__, path, &data, &job.size));
    job.ctx = ctx;
    job.func = __func__;
    job.source = path;
    job.data = data;
    int status = decode(&job, channels, out);
    graftFree(ctx, data);
    return status;
}

GRAFT_API int graft_image_load_buffer(graft_ctx *ctx, const void *data, size_t size,
                                      const graft_image_load_opts *opts, graft_image **out)
{
    int channels;
    graftDecodeJob job;
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!data && size > 0, ctx, GRAFT_E_INVALID_ARG, "data is NULL");
    memset(&job, 0, sizeof job);
    GRAFT_FORWARD_IF_ERROR(opts_check(ctx, __func__, opts, &channels, &job.max_pixels));
    job.ctx = ctx;
    job.func = __func__;
    job.source = "<memory>";
    job.data = data;
    job.size = size;
    return decode(&job, channels, out);
}

/* ---- creation, accessors --------------------------------------------------- */

GRAFT_API int graft_image_create(graft_ctx *ctx, int width, int height, int channels,
                                 graft_image **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(graftImageNew(ctx, __func__, width, height, channels, out));
    memset((*out)->data, 0, image_numel(*out) * sizeof(float));
    return GRAFT_OK;
}

#define KNOWN_FLAGS (GRAFT_IMAGE_HWC | GRAFT_IMAGE_BGR)

/* Index in flags' layout of channel c (in R, G, B order), row y, column x. */
static size_t layout_index(int flags, int channels, int width, int height, int c, int y, int x)
{
    if ((flags & GRAFT_IMAGE_BGR) && channels == 3) c = 2 - c;
    if (flags & GRAFT_IMAGE_HWC) return ((size_t)y * width + x) * channels + c;
    return ((size_t)c * height + y) * width + x;
}

GRAFT_API int graft_image_import(graft_ctx *ctx, int width, int height, int channels,
                                 int flags, const float *pixels, graft_image **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!pixels || !out, ctx, GRAFT_E_INVALID_ARG, "pixels and out must not be NULL");
    GRAFT_RETURN_IF(flags & ~KNOWN_FLAGS, ctx, GRAFT_E_INVALID_ARG,
                    "flags 0x%x has unknown bits", (unsigned)flags);
    GRAFT_FORWARD_IF_ERROR(graftImageNew(ctx, __func__, width, height, channels, out));
    float *d = (*out)->data;
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                *d++ = pixels[layout_index(flags, channels, width, height, c, y, x)];
    return GRAFT_OK;
}

GRAFT_API int graft_image_copy(const graft_image *image, graft_image **out)
{
    graftClearError(image ? image->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!out, image->ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(graftImageNew(image->ctx, __func__, image->width, image->height,
                                         image->channels, out));
    memcpy((*out)->data, image->data, image_numel(image) * sizeof(float));
    return GRAFT_OK;
}

GRAFT_API void graft_image_free(graft_image *image)
{
    if (!image) return;
    graft_ctx *ctx = image->ctx;
    graftFree(ctx, image->data);
    graftFree(ctx, image->spare);
    graftFree(ctx, image->work);
    graftFree(ctx, image);
}

GRAFT_API int graft_image_width(const graft_image *image) { return image ? image->width : 0; }
GRAFT_API int graft_image_height(const graft_image *image) { return image ? image->height : 0; }
GRAFT_API int graft_image_channels(const graft_image *image)
{
    return image ? image->channels : 0;
}
GRAFT_API float *graft_image_data(graft_image *image) { return image ? image->data : NULL; }
GRAFT_API const float *graft_image_data_const(const graft_image *image)
{
    return image ? image->data : NULL;
}

/* ---- export ---------------------------------------------------------------- */

GRAFT_API int graft_image_export(const graft_image *image, int flags, float *dst, size_t count)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!dst, image->ctx, GRAFT_E_INVALID_ARG, "dst is NULL");
    GRAFT_RETURN_IF(flags & ~KNOWN_FLAGS, image->ctx, GRAFT_E_INVALID_ARG,
                    "flags 0x%x has unknown bits", (unsigned)flags);
    GRAFT_RETURN_IF(count != image_numel(image), image->ctx, GRAFT_E_SHAPE,
                    "count is %zu, the image has %d x %d x %d = %zu values", count,
                    image->channels, image->height, image->width, image_numel(image));
    const float *s = image->data;
    int w = image->width, h = image->height, ch = image->channels;
    for (int c = 0; c < ch; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) dst[layout_index(flags, ch, w, h, c, y, x)] = *s++;
    return GRAFT_OK;
}

/* Copies the pixels in CHW order into dst, channels reversed for BGR. */
static void copy_planes(const graft_image *im, int flags, float *dst)
{
    size_t plane = (size_t)im->width * (size_t)im->height;
    for (int c = 0; c < im->channels; c++) {
        int from = ((flags & GRAFT_IMAGE_BGR) && im->channels == 3) ? 2 - c : c;
        memcpy(dst + c * plane, im->data + from * plane, plane * sizeof(float));
    }
}

GRAFT_API int graft_image_to_tensor(const graft_image *image, int flags, graft_tensor **out)
{
    graftClearError(image ? image->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!out, image->ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(flags & ~GRAFT_IMAGE_BGR, image->ctx, GRAFT_E_INVALID_ARG,
                    "flags 0x%x: only GRAFT_IMAGE_BGR applies to tensors (always CHW)",
                    (unsigned)flags);
    const int64_t dims[3] = {image->channels, image->height, image->width};
    graft_tensor *t;
    int status = graftTensorNew(image->ctx, 3, dims, &t);
    if (status != GRAFT_OK)
        return graftError(image->ctx, status, __func__, "cannot allocate the tensor");
    copy_planes(image, flags, t->data);
    *out = t;
    return GRAFT_OK;
}

GRAFT_API int graft_image_write_tensor(const graft_image *image, int flags,
                                       graft_tensor *batch, int64_t n)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!batch, image->ctx, GRAFT_E_INVALID_ARG, "batch is NULL");
    GRAFT_RETURN_IF(flags & ~GRAFT_IMAGE_BGR, image->ctx, GRAFT_E_INVALID_ARG,
                    "flags 0x%x: only GRAFT_IMAGE_BGR applies to tensors (always CHW)",
                    (unsigned)flags);
    if (batch->ndim != 4 || batch->dims[1] != image->channels ||
        batch->dims[2] != image->height || batch->dims[3] != image->width) {
        char have[128];
        graftShapeString(batch->ndim, batch->dims, have, sizeof have);
        return graftError(image->ctx, GRAFT_E_SHAPE, __func__,
                          "batch has shape %s, expected (N, %d, %d, %d) for a %dx%d image of "
                          "%d channels", have, image->channels, image->height, image->width,
                          image->width, image->height, image->channels);
    }
    GRAFT_RETURN_IF(n < 0 || n >= batch->dims[0], image->ctx, GRAFT_E_RANGE,
                    "n is %lld, the batch has %lld slots", (long long)n,
                    (long long)batch->dims[0]);
    copy_planes(image, flags, batch->data + (size_t)n * image_numel(image));
    return GRAFT_OK;
}

/* ---- transforms ------------------------------------------------------------ */

/* BT.601 luma, the weights graft_image_convert() documents. */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

static int convert_channels(graft_image *im, const char *func, int channels)
{
    size_t plane = (size_t)im->width * (size_t)im->height;
    if (channels == im->channels) return GRAFT_OK;
    if (channels == 1) {
        /* In place: pixel i of the result depends on pixel i of each plane. */
        float *r = im->data, *g = r + plane, *b = g + plane;
        for (size_t i = 0; i < plane; i++) r[i] = LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i];
    } else {
        GRAFT_FORWARD_IF_ERROR(ensure_data(im, func, 3 * plane));
        memcpy(im->data + plane, im->data, plane * sizeof(float));
        memcpy(im->data + 2 * plane, im->data, plane * sizeof(float));
    }
    im->channels = channels;
    return GRAFT_OK;
}

GRAFT_API int graft_image_convert(graft_image *image, int channels)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(channels != 1 && channels != 3, image->ctx, GRAFT_E_INVALID_ARG,
                    "channels is %d, must be 1 or 3", channels);
    return convert_channels(image, __func__, channels);
}

/* Resampling weights along one axis of n input samples to m outputs: output
 * i reads count[i] inputs from start[i] with weights weight[i * taps + k]. */
typedef struct axisWeights {
    int taps;
    int *start, *count;
    float *weight;
} axisWeights;

static int axis_taps(int n, int m)
{
    double scale = (double)n / m;
    double support = scale > 1.0 ? scale : 1.0;
    return (int)ceil(support) * 2 + 1;
}

/* The triangle filter of graft_image_resize(): support s = max(n / m, 1),
 * output i centred at c = (i + 0.5) * n / m, input j weighted by
 * max(0, 1 - |j + 0.5 - c| / s), normalised to sum 1. Only the inputs with
 * |j + 0.5 - c| < s (and inside [0, n)) are listed. */
static void axis_compute(axisWeights *a, int n, int m)
{
    double scale = (double)n / m;
    double support = scale > 1.0 ? scale : 1.0;
    double inv = 1.0 / support;
    for (int i = 0; i < m; i++) {
        double centre = (i + 0.5) * scale;
        int lo = (int)floor(centre - support - 0.5) + 1;
        int hi = (int)ceil(centre + support - 0.5);
        if (lo < 0) lo = 0;
        if (hi > n) hi = n;
        if (hi - lo > a->taps) hi = lo + a->taps;
        double sum = 0.0;
        for (int j = lo; j < hi; j++) {
            double t = 1.0 - fabs((j + 0.5 - centre) * inv);
            sum += t > 0.0 ? t : 0.0;
        }
        float *w = a->weight + (size_t)i * a->taps;
        for (int j = lo; j < hi; j++) {
            double t = 1.0 - fabs((j + 0.5 - centre) * inv);
            w[j - lo] = (float)((t > 0.0 ? t : 0.0) / sum);
        }
        a->start[i] = lo;
        a->count[i] = hi - lo;
    }
}

/* Bytes of scratch a resize of (w, h) to (ow, oh) with ch channels needs. */
static size_t resize_work_bytes(int ch, int w, int h, int ow, int oh)
{
    size_t tx = (size_t)axis_taps(w, ow), ty = (size_t)axis_taps(h, oh);
    size_t b = (size_t)ch * h * ow * sizeof(float);               /* after the width pass */
    b += (size_t)ow * (2 * sizeof(int) + tx * sizeof(float));     /* width weights */
    b += (size_t)oh * (2 * sizeof(int) + ty * sizeof(float));     /* height weights */
    return b;
}

/* Carves one axis's tables out of the scratch area. Every piece is a
 * multiple of 4 bytes and the area comes from the allocator (aligned for any
 * type), so the int and float pointers stay aligned. */
static void axis_carve(axisWeights *a, unsigned char **p, int n, int m)
{
    a->taps = axis_taps(n, m);
    a->start = (int *)*p;
    *p += (size_t)m * sizeof(int);
    a->count = (int *)*p;
    *p += (size_t)m * sizeof(int);
    a->weight = (float *)*p;
    *p += (size_t)m * a->taps * sizeof(float);
}

/* Reserves what resize_run() needs; the only step of a resize that can fail. */
static int resize_reserve(graft_image *im, const char *func, int ow, int oh)
{
    GRAFT_FORWARD_IF_ERROR(check_size(im->ctx, func, ow, oh));
    GRAFT_FORWARD_IF_ERROR(ensure_spare(im, func, (size_t)im->channels * ow * oh));
    return ensure_work(im, func, resize_work_bytes(im->channels, im->width, im->height, ow, oh));
}

static void resize_run(graft_image *im, int ow, int oh)
{
    int ch = im->channels, w = im->width, h = im->height;
    if (ow == w && oh == h) return;
    unsigned char *p = im->work;
    float *mid = (float *)p; /* (ch, h, ow) */
    p += (size_t)ch * h * ow * sizeof(float);
    axisWeights ax, ay;
    axis_carve(&ax, &p, w, ow);
    axis_carve(&ay, &p, h, oh);
    axis_compute(&ax, w, ow);
    axis_compute(&ay, h, oh);
    /* Width pass: data (ch, h, w) -> mid (ch, h, ow). */
    for (size_t row = 0; row < (size_t)ch * h; row++) {
        const float *in = im->data + row * w;
        float *o = mid + row * ow;
        if (ow == w) {
            memcpy(o, in, (size_t)w * sizeof(float));
            continue;
        }
        for (int i = 0; i < ow; i++) {
            const float *wt = ax.weight + (size_t)i * ax.taps, *src = in + ax.start[i];
            float s = 0.0f;
            for (int k = 0; k < ax.count[i]; k++) s += wt[k] * src[k];
            o[i] = s;
        }
    }
    /* Height pass: mid (ch, h, ow) -> spare (ch, oh, ow). */
    for (int c = 0; c < ch; c++) {
        const float *in = mid + (size_t)c * h * ow;
        float *o = im->spare + (size_t)c * oh * ow;
        for (int i = 0; i < oh; i++) {
            float *orow = o + (size_t)i * ow;
            if (oh == h) {
                memcpy(orow, in + (size_t)i * ow, (size_t)ow * sizeof(float));
                continue;
            }
            const float *wt = ay.weight + (size_t)i * ay.taps;
            const float *src = in + (size_t)ay.start[i] * ow;
            for (int x = 0; x < ow; x++) orow[x] = wt[0] * src[x];
            for (int k = 1; k < ay.count[i]; k++) {
                const float *srow = src + (size_t)k * ow;
                float wk = wt[k];
                for (int x = 0; x < ow; x++) orow[x] += wk * srow[x];
            }
        }
    }
    swap_in_spare(im, ow, oh, ch);
}

static int resize_to(graft_image *im, const char *func, int ow, int oh)
{
    GRAFT_FORWARD_IF_ERROR(resize_reserve(im, func, ow, oh));
    resize_run(im, ow, oh);
    return GRAFT_OK;
}

GRAFT_API int graft_image_resize(graft_image *image, int width, int height)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    return resize_to(image, __func__, width, height);
}

GRAFT_API int graft_image_resize_shorter(graft_image *image, int size)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(size < 1, image->ctx, GRAFT_E_RANGE, "size is %d, must be >= 1", size);
    int w = image->width, h = image->height;
    int shorter = w < h ? w : h, longer = w < h ? h : w;
    int64_t other = (int64_t)size * longer / shorter;
    if (other < 1) other = 1;
    GRAFT_RETURN_IF(other > GRAFT_IMAGE_MAX_PIXELS, image->ctx, GRAFT_E_RANGE,
                    "size %d would make the longer side %lld pixels", size, (long long)other);
    return w < h ? resize_to(image, __func__, size, (int)other)
                 : resize_to(image, __func__, (int)other, size);
}

/* Copies the rectangle (x, y, w, h) into the spare buffer and swaps it in;
 * the spare buffer must already hold channels * w * h floats. */
static void crop_run(graft_image *im, int x, int y, int w, int h)
{
    for (int c = 0; c < im->channels; c++)
        for (int r = 0; r < h; r++)
            memcpy(im->spare + ((size_t)c * h + r) * w,
                   im->data + ((size_t)c * im->height + y + r) * im->width + x,
                   (size_t)w * sizeof(float));
    swap_in_spare(im, w, h, im->channels);
}

static int crop_checked(graft_image *im, const char *func, int x, int y, int w, int h)
{
    GRAFT_RETURN_IF_AT(w < 1 || h < 1 || x < 0 || y < 0 || w > im->width - x ||
                           h > im->height - y,
                       im->ctx, GRAFT_E_RANGE, func,
                       "the rectangle %dx%d at (%d, %d) is not inside the %dx%d image", w, h, x,
                       y, im->width, im->height);
    GRAFT_FORWARD_IF_ERROR(ensure_spare(im, func, (size_t)im->channels * w * h));
    crop_run(im, x, y, w, h);
    return GRAFT_OK;
}

GRAFT_API int graft_image_crop(graft_image *image, int x, int y, int width, int height)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    return crop_checked(image, __func__, x, y, width, height);
}

/* excess / 2 rounded half to even, as Python's round() in torchvision. */
static int half_to_even(int excess)
{
    int q = excess / 2;
    if (excess % 2 == 0) return q;
    return (q % 2 == 0) ? q : q + 1;
}

GRAFT_API int graft_image_center_crop(graft_image *image, int width, int height)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(width < 1 || height < 1 || width > image->width || height > image->height,
                    image->ctx, GRAFT_E_RANGE,
                    "a %dx%d crop does not fit in the %dx%d image", width, height, image->width,
                    image->height);
    return crop_checked(image, __func__, half_to_even(image->width - width),
                        half_to_even(image->height - height), width, height);
}

static void flip_run(graft_image *im)
{
    int w = im->width;
    for (size_t row = 0; row < (size_t)im->channels * im->height; row++) {
        float *p = im->data + row * w;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            float t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

GRAFT_API int graft_image_flip_horizontal(graft_image *image)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    flip_run(image);
    return GRAFT_OK;
}

GRAFT_API int graft_image_scale(graft_image *image, float factor)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!isfinite(factor), image->ctx, GRAFT_E_INVALID_ARG,
                    "factor is %g, must be finite", (double)factor);
    size_t n = image_numel(image);
    for (size_t i = 0; i < n; i++) image->data[i] *= factor;
    return GRAFT_OK;
}

static int normalize(graft_image *im, const char *func, const float *mean, const float *std)
{
    for (int c = 0; c < im->channels; c++) {
        GRAFT_RETURN_IF_AT(!isfinite(mean[c]), im->ctx, GRAFT_E_INVALID_ARG, func,
                           "mean[%d] is %g, must be finite", c, (double)mean[c]);
        GRAFT_RETURN_IF_AT(!(std[c] > 0.0f) || !isfinite(std[c]), im->ctx, GRAFT_E_INVALID_ARG,
                           func, "std[%d] is %g, must be finite and > 0", c, (double)std[c]);
    }
    size_t plane = (size_t)im->width * (size_t)im->height;
    for (int c = 0; c < im->channels; c++) {
        float *p = im->data + c * plane, m = mean[c], s = std[c];
        for (size_t i = 0; i < plane; i++) p[i] = (p[i] - m) / s;
    }
    return GRAFT_OK;
}

GRAFT_API int graft_image_normalize(graft_image *image, const float *mean, const float *std)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!mean || !std, image->ctx, GRAFT_E_INVALID_ARG,
                    "mean and std must not be NULL");
    return normalize(image, __func__, mean, std);
}

GRAFT_API int graft_image_normalize_imagenet(graft_image *image)
{
    static const float mean[3] = GRAFT_IMAGENET_MEAN, std[3] = GRAFT_IMAGENET_STD;
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(image->channels != 3, image->ctx, GRAFT_E_SHAPE,
                    "the ImageNet statistics need 3 channels (RGB), the image has %d",
                    image->channels);
    return normalize(image, __func__, mean, std);
}

/* ---- augmentation ---------------------------------------------------------- */

static int augment_check(graft_image *im, const graft_augment_spec *s)
{
    const char *f = "graft_image_augment";
    graft_ctx *ctx = im->ctx;
    GRAFT_RETURN_IF_AT(s->struct_size != sizeof(graft_augment_spec), ctx, GRAFT_E_VERSION, f,
                       "spec->struct_size is %u, expected %u (use GRAFT_AUGMENT_SPEC_INIT)",
                       (unsigned)s->struct_size, (unsigned)sizeof(graft_augment_spec));
    int off = s->crop_width == 0 && s->crop_height == 0;
    GRAFT_RETURN_IF_AT(!off && (s->crop_width < 1 || s->crop_width > MAX_SIDE ||
                                s->crop_height < 1 || s->crop_height > MAX_SIDE),
                       ctx, GRAFT_E_INVALID_ARG, f,
                       "spec->crop_width and crop_height are %d and %d: both must be 0 (no "
                       "crop) or 1 to %d",
                       s->crop_width, s->crop_height, MAX_SIDE);
    GRAFT_RETURN_IF_AT(!off && (int64_t)s->crop_width * s->crop_height > GRAFT_IMAGE_MAX_PIXELS,
                       ctx, GRAFT_E_RANGE, f,
                       "a %dx%d crop is more than GRAFT_IMAGE_MAX_PIXELS (%lld)", s->crop_width,
                       s->crop_height, (long long)GRAFT_IMAGE_MAX_PIXELS);
    GRAFT_RETURN_IF_AT(!(s->scale_min > 0.0f && s->scale_min <= s->scale_max &&
                         s->scale_max <= 1.0f),
                       ctx, GRAFT_E_INVALID_ARG, f,
                       "spec->scale_min and scale_max are %g and %g: need 0 < min <= max <= 1",
                       (double)s->scale_min, (double)s->scale_max);
    GRAFT_RETURN_IF_AT(!(s->ratio_min > 0.0f && s->ratio_min <= s->ratio_max &&
                         isfinite(s->ratio_max)),
                       ctx, GRAFT_E_INVALID_ARG, f,
                       "spec->ratio_min and ratio_max are %g and %g: need 0 < min <= max, finite",
                       (double)s->ratio_min, (double)s->ratio_max);
    GRAFT_RETURN_IF_AT(!(s->flip_prob >= 0.0f && s->flip_prob <= 1.0f), ctx,
                       GRAFT_E_INVALID_ARG, f, "spec->flip_prob is %g, must be in [0, 1]",
                       (double)s->flip_prob);
    GRAFT_RETURN_IF_AT(!(s->brightness >= 0.0f && s->brightness <= 1.0f), ctx,
                       GRAFT_E_INVALID_ARG, f, "spec->brightness is %g, must be in [0, 1]",
                       (double)s->brightness);
    GRAFT_RETURN_IF_AT(!(s->contrast >= 0.0f && s->contrast <= 1.0f), ctx, GRAFT_E_INVALID_ARG,
                       f, "spec->contrast is %g, must be in [0, 1]", (double)s->contrast);
    return GRAFT_OK;
}

/* An integer uniform in [0, n] (modulo bias below 2^-40 for image sizes). */
static int uniform_int(graftRng *rng, int n)
{
    return (int)(graftRngNext(rng) % (uint64_t)(n + 1));
}

static double uniform_range(graftRng *rng, double lo, double hi)
{
    return lo + (hi - lo) * graftRngUniform(rng);
}

/* torchvision's RandomResizedCrop.get_params, as graft_augment_spec says. */
static void random_crop_rect(graftRng *rng, const graft_augment_spec *s, int width, int height,
                             int *x, int *y, int *w, int *h)
{
    double area = (double)width * height;
    double log_lo = log(s->ratio_min), log_hi = log(s->ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uniform_range(rng, s->scale_min, s->scale_max);
        double ratio = exp(uniform_range(rng, log_lo, log_hi));
        double cw = floor(sqrt(target * ratio) + 0.5), chh = floor(sqrt(target / ratio) + 0.5);
        if (cw >= 1.0 && cw <= width && chh >= 1.0 && chh <= height) {
            *w = (int)cw;
            *h = (int)chh;
            *x = uniform_int(rng, width - *w);
            *y = uniform_int(rng, height - *h);
            return;
        }
    }
    double in_ratio = (double)width / height;
    *w = width;
    *h = height;
    if (in_ratio < s->ratio_min) {
        *h = (int)floor(width / (double)s->ratio_min + 0.5);
    } else if (in_ratio > s->ratio_max) {
        *w = (int)floor(height * (double)s->ratio_max + 0.5);
    }
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
    if (*w > width) *w = width;
    if (*h > height) *h = height;
    *x = (width - *w) / 2;
    *y = (height - *h) / 2;
}

static void clamp_scale(graft_image *im, float factor, float shift)
{
    size_t n = image_numel(im);
    for (size_t i = 0; i < n; i++) {
        float v = factor * im->data[i] + shift;
        im->data[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    }
}

static double grey_mean(const graft_image *im)
{
    size_t plane = (size_t)im->width * (size_t)im->height;
    double sum = 0.0;
    if (im->channels == 1) {
        for (size_t i = 0; i < plane; i++) sum += im->data[i];
    } else {
        const float *r = im->data, *g = r + plane, *b = g + plane;
        for (size_t i = 0; i < plane; i++) sum += LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i];
    }
    return sum / (double)plane;
}

GRAFT_API int graft_image_augment(graft_image *image, const graft_augment_spec *spec)
{
    const char *f = __func__;
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!spec, image->ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    GRAFT_FORWARD_IF_ERROR(augment_check(image, spec));

    /* One generator per step, each seeded from the spec's seed. */
    graftRng master, rng[4];
    graftRngSeed(&master, spec->seed);
    for (int k = 0; k < 4; k++) graftRngSeed(&rng[k], graftRngNext(&master));

    int do_crop = spec->crop_width > 0;
    int x = 0, y = 0, w = image->width, h = image->height;
    if (do_crop) {
        random_crop_rect(&rng[0], spec, image->width, image->height, &x, &y, &w, &h);
        /* Reserve everything first so that a failure leaves the image as it was:
           the crop swaps the buffers, then the resize writes into the other. */
        size_t ch = (size_t)image->channels;
        size_t most = ch * w * h;
        size_t out = ch * spec->crop_width * spec->crop_height;
        if (out > most) most = out;
        GRAFT_FORWARD_IF_ERROR(ensure_spare(image, f, most));
        GRAFT_FORWARD_IF_ERROR(ensure_data(image, f, most));
        GRAFT_FORWARD_IF_ERROR(ensure_work(image, f,
                                           resize_work_bytes(image->channels, w, h,
                                                             spec->crop_width,
                                                             spec->crop_height)));
        crop_run(image, x, y, w, h);
        resize_run(image, spec->crop_width, spec->crop_height);
    }
    if (spec->flip_prob > 0.0f && graftRngUniform(&rng[1]) < spec->flip_prob) flip_run(image);
    if (spec->brightness > 0.0f) {
        double b = uniform_range(&rng[2], 1.0 - spec->brightness, 1.0 + spec->brightness);
        clamp_scale(image, (float)b, 0.0f);
    }
    if (spec->contrast > 0.0f) {
        double k = uniform_range(&rng[3], 1.0 - spec->contrast, 1.0 + spec->contrast);
        double m = grey_mean(image);
        clamp_scale(image, (float)k, (float)((1.0 - k) * m));
    }
    return GRAFT_OK;
}
