/*
 * image.h - private view of graft_image, shared by the files that make up
 * images: image_handle.c (the handle: allocation, creation, export),
 * image_transform.c (the transforms), image.c (loading) and, through
 * image_decode.h, the decoders image_png.c and image_jpeg.c.
 */
#ifndef GRAFT_IMAGE_H
#define GRAFT_IMAGE_H

#include "core/internal.h"
#include "graft.h"

struct graft_image {
    graft_ctx *ctx;
    int width, height, channels;
    float *data;          /* channels * height * width floats, planar CHW */
    size_t capacity;      /* floats allocated at data */
    float *spare;         /* a second pixel buffer transforms write into */
    size_t spare_capacity;
    void *work;           /* scratch (resize weights and the intermediate pass) */
    size_t work_capacity; /* bytes */
};

/* The image's pixel values: channels * height * width. */
static inline size_t graftImageNumel(const graft_image *im)
{
    return (size_t)im->channels * (size_t)im->height * (size_t)im->width;
}

/* Checks a size: both sides >= 1 and at most GRAFT_IMAGE_MAX_PIXELS pixels
 * (GRAFT_E_RANGE, naming func). image_handle.c. */
int graftImageCheckSize(graft_ctx *ctx, const char *func, int64_t width, int64_t height);

/* Creates an image whose pixels are not initialised (decoders fill them).
 * Checks channels (1 or 3) and the size (graftImageCheckSize).
 * image_handle.c. */
int graftImageNew(graft_ctx *ctx, const char *func, int width, int height, int channels,
                  graft_image **out);

/* Converts the image to channels (1 or 3; grey from RGB by BT.601 luma,
 * RGB from grey by copying), in place. Errors: GRAFT_E_NOMEM (named func).
 * image_transform.c. */
int graftImageConvertChannels(graft_image *im, const char *func, int channels);

#endif /* GRAFT_IMAGE_H */
