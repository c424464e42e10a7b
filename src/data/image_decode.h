/*
 * image_decode.h - private: what the loader (image.c) and the per-format
 * decoders (image_png.c, image_jpeg.c) share. image.c detects the format
 * and calls a decoder only through its entry point below; the decoders
 * allocate their result with graftImageNew() (image_handle.c) and never
 * call back into image.c.
 */
#ifndef GRAFT_IMAGE_DECODE_H
#define GRAFT_IMAGE_DECODE_H

#include "image.h"

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

/* The decoders' entry points. On failure *out is NULL and the message,
 * recorded in job->ctx, reads "func(): source: reason". */
int graftImageDecodePng(const graftDecodeJob *job, graft_image **out);
int graftImageDecodeJpeg(const graftDecodeJob *job, graft_image **out);

/* An 8-bit sample v as a [0, 1] float: v / 255, correctly rounded (a
 * division, not a multiplication by 1/255, so that v * k / (255 * k) gives
 * the same float for the expanded low bit depths). */
static inline float graftImageU8(unsigned v) { return (float)v / 255.0f; }

#endif /* GRAFT_IMAGE_DECODE_H */
