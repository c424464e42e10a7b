/*
 * image_handle.c - the graft_image handle: allocation (graftImageNew, which
 * the decoders and the creators share), creation, copy, freeing, the
 * accessors, and moving pixels between an image and caller memory or
 * tensors (import, export).
 *
 * Pixels are float32, planar CHW: channel c, row y, column x at
 * (c * H + y) * W + x.
 */
#include "image.h"

#include <string.h>

/* ---- allocation ------------------------------------------------------------ */

int graftImageCheckSize(graft_ctx *ctx, const char *func, int64_t width, int64_t height)
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
    GRAFT_FORWARD_IF_ERROR(graftImageCheckSize(ctx, func, width, height));
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

/* ---- creation, accessors --------------------------------------------------- */

GRAFT_API int graft_image_create(graft_ctx *ctx, int width, int height, int channels,
                                 graft_image **out)
{
    graftClearError(ctx);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!ctx, NULL, GRAFT_E_INVALID_ARG, "ctx is NULL");
    GRAFT_RETURN_IF(!out, ctx, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_FORWARD_IF_ERROR(graftImageNew(ctx, __func__, width, height, channels, out));
    memset((*out)->data, 0, graftImageNumel(*out) * sizeof(float));
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
    memcpy((*out)->data, image->data, graftImageNumel(image) * sizeof(float));
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
    GRAFT_RETURN_IF(count != graftImageNumel(image), image->ctx, GRAFT_E_SHAPE,
                    "count is %zu, the image has %d x %d x %d = %zu values", count,
                    image->channels, image->height, image->width, graftImageNumel(image));
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
    copy_planes(image, flags, batch->data + (size_t)n * graftImageNumel(image));
    return GRAFT_OK;
}
