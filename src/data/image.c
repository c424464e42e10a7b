/*
 * image.c - loading images: reading the file, detecting the format and
 * handing the bytes to that format's decoder (image_png.c, image_jpeg.c,
 * through their entry points in image_decode.h), then converting the
 * channels when asked.
 *
 * The graft_image handle itself (allocation, creation, export) is
 * image_handle.c; the in-place transforms and the seeded augmentation are
 * image_transform.c.
 */
#include "image_decode.h"

#include <errno.h>
#include <string.h>

#define MAX_FILE_BYTES ((size_t)1 << 30)

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
        status = graftImageConvertChannels(*out, job->func, channels);
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
