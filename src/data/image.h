/*
 * image.h - private view of graft_image, shared by image.c (the handle,
 * export, transforms) and the decoders image_png.c and image_jpeg.c.
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

/* What a decoder is asked to do. The decoder returns an image with the
 * source's own channel count (1 for grey sources, 3 for colour ones); the
 * caller converts it to the requested count afterwards. */
typedef struct graftDecodeJob {
    graft_ctx *ctx;
    const char *func;   /* the public function, for messages */
    const char *source; /* the file name, or "<memory>" */
    const unsigned char *data;
    size_t size;
    int64_t max_pixels; /* resolved: 1 .. GRAFT_IMAGE_MAX_PIXELS */
} graftDecodeJob;

/* Decoders. On failure *out is NULL and the message, recorded in job->ctx,
 * reads "func(): source: reason". */
int graftImageDecodePng(const graftDecodeJob *job, graft_image **out);
int graftImageDecodeJpeg(const graftDecodeJob *job, graft_image **out);

/* Creates an image whose pixels are not initialised (decoders fill them).
 * Checks channels (1 or 3) and the pixel count against max_pixels. */
int graftImageNew(graft_ctx *ctx, const char *func, int width, int height, int channels,
                  graft_image **out);

/* An 8-bit sample v as a [0, 1] float: v / 255, correctly rounded (a
 * division, not a multiplication by 1/255, so that v * k / (255 * k) gives
 * the same float for the expanded low bit depths). */
static inline float graftImageU8(unsigned v) { return (float)v / 255.0f; }

#endif /* GRAFT_IMAGE_H */
