/*
 * image.c - loading images: reading the file, detecting the format and
 * handing the bytes to that format's decoder (image_png.c, image_jpeg.c,
 * through their entry points in image_decode.h), then converting the
 * channels when asked.
 *
 * The graft_image handle itself (allocation, creation, export) is
 * image_handle.c; the in-place transforms and the seeded augmentation are
 * image_transform.c.
 *
 * Reading a file is bounded (read_file): its first 16 bytes are read and
 * must be a PNG or JPEG signature before anything more is read, and a file
 * is at most MAX_FILE_BYTES, 1 GiB: a regular file over that is refused
 * from its size, a FIFO, pipe or device as soon as its data passes it.
 */
#include "image_decode.h"
#include "core/options.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The most bytes an image file may have: 1 GiB (graft_image_load() in
 * graft.h). */
#define MAX_FILE_BYTES ((size_t)1 << 30)
/* The bytes whose signature is checked before the rest of a file is read:
 * enough for every format graft_image_format() and unsupported_format()
 * tell apart. */
#define HEAD_BYTES 16

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

/* The sizes graft_image_load_opts has had: 1.0. */
static const uint32_t load_opts_sizes[] = {(uint32_t)sizeof(graft_image_load_opts)};
static const graftOptionsKind load_opts_kind = {"opts", "GRAFT_IMAGE_LOAD_OPTS_INIT", load_opts_sizes,
                                          GRAFT_OPTIONS_COUNT(load_opts_sizes), 0, 0};

static int opts_check(graft_ctx *ctx, const char *func, const graft_image_load_opts *opts,
                      int *channels, int64_t *max_pixels)
{
    *channels = 0;
    *max_pixels = GRAFT_IMAGE_MAX_PIXELS;
    if (!opts) return GRAFT_OK;
    graft_image_load_opts rd = GRAFT_IMAGE_LOAD_OPTS_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &load_opts_kind, opts, &rd));
    opts = &rd;
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

/* The error for size bytes at p (size > 0) that are neither PNG nor JPEG.
 * It depends on the first HEAD_BYTES only (and on size when it is less). */
static int refuse_unknown(graft_ctx *ctx, const char *func, const char *source,
                          const unsigned char *p, size_t size)
{
    const char *name = unsupported_format(p, size);
    if (name)
        return graftError(ctx, GRAFT_E_UNSUPPORTED, func,
                          "%s: %s images are not supported (only PNG and JPEG)", source, name);
    if (size < sizeof png_signature && memcmp(p, png_signature, size) == 0)
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "%s: truncated PNG (%zu bytes, the signature alone is 8)", source, size);
    if (size < sizeof jpeg_signature && memcmp(p, jpeg_signature, size) == 0)
        return graftError(ctx, GRAFT_E_FORMAT, func, "%s: truncated JPEG (%zu bytes)", source,
                          size);
    return graftError(ctx, GRAFT_E_FORMAT, func,
                      "%s: not a PNG or JPEG image (unrecognised signature)", source);
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
    default: return refuse_unknown(job->ctx, job->func, job->source, p, size);
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


/* Reads the file at path into a new buffer: its first HEAD_BYTES, whose
 * signature must be PNG's or JPEG's before anything more is read (so
 * /dev/zero costs 16 bytes), then the rest, at most MAX_FILE_BYTES: a
 * regular file larger than that is refused from its size, a FIFO, pipe or
 * device as soon as its data goes past it. */
static int read_file(graft_ctx *ctx, const char *func, const char *path, unsigned char **data,
                     size_t *size)
{
    char why[128];
    graftFileFailure fail;
    graftReadBuf b = {NULL, 0, 0, 0};
    int fd, reason = GRAFT_FILE_OK, status = GRAFT_OK;
    struct stat st;
    size_t got;
    *data = NULL;
    *size = 0;
    if (graftOpenForReading(path, &fd, &st, &fail) != GRAFT_FILE_OK) {
        graftErrnoText(fail.sys_errno ? fail.sys_errno : ENOENT, why, sizeof why);
        if (fail.reason == GRAFT_FILE_OPEN)
            return graftError(ctx, GRAFT_E_IO, func, "%s: cannot open: %s", path, why);
        return graftError(ctx, GRAFT_E_IO, func, "%s: cannot read: %s", path, why);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return graftError(ctx, GRAFT_E_IO, func, "%s: is a directory", path);
    }
    int sized = S_ISREG(st.st_mode) && st.st_size > 0;
    b.sized = sized;
    reason = graftReadMore(ctx, fd, &b, HEAD_BYTES, MAX_FILE_BYTES, &got, &fail);
    if (reason == GRAFT_FILE_OK && b.size == HEAD_BYTES &&
        graft_image_format(b.data, b.size) == GRAFT_IMAGE_FORMAT_UNKNOWN)
        status = refuse_unknown(ctx, func, path, b.data, b.size);
    else if (reason == GRAFT_FILE_OK && sized && (uint64_t)st.st_size > MAX_FILE_BYTES)
        status = graftError(ctx, GRAFT_E_FORMAT, func,
                            "%s: %lld bytes, larger than the %zu-byte limit of image files (1 GiB)",
                            path, (long long)st.st_size, MAX_FILE_BYTES);
    else if (reason == GRAFT_FILE_OK)
        reason = graftReadRest(ctx, fd, &b, sized ? (size_t)st.st_size : MAX_FILE_BYTES, !sized,
                               &fail);
    close(fd);
    if (reason == GRAFT_FILE_OK && status == GRAFT_OK && !b.data) {
        b.data = graftAlloc(ctx, 0); /* an empty file */
        if (!b.data) {
            reason = GRAFT_FILE_NOMEM;
            fail.bytes = 1;
        }
    }
    if (reason == GRAFT_FILE_OK && status == GRAFT_OK) {
        *data = b.data;
        *size = b.size;
        return GRAFT_OK;
    }
    graftFree(ctx, b.data);
    if (status != GRAFT_OK) return status;
    switch (reason) {
    case GRAFT_FILE_NOMEM:
        return graftError(ctx, GRAFT_E_NOMEM, func, "%s: cannot allocate %zu bytes", path,
                          fail.bytes);
    case GRAFT_FILE_TOO_LARGE:
        return graftError(ctx, GRAFT_E_FORMAT, func,
                          "%s: larger than the %zu-byte limit of image files (1 GiB)", path,
                          MAX_FILE_BYTES);
    default: /* a read failed */
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
