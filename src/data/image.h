/*
 * image.h - private view of graft_image, shared by the files that make up
 * images: image_handle.c (the handle: allocation, creation, export),
 * image_transform.c (the transforms), image_augment.c (seeded augmentation
 * and its presets), image.c (loading) and, through
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

/* BT.601 luma, the weights graft_image_convert() documents. */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

/* The buffers of image_transform.c, shared with image_augment.c. Each
 * Ensure grows a buffer to n floats (Work: n bytes) and fails only with
 * GRAFT_E_NOMEM, named func: Spare and Work do not keep their contents,
 * Data keeps the pixels. SwapInSpare makes the spare buffer the pixels, of
 * the given size. */
int graftImageEnsureSpare(graft_image *im, const char *func, size_t n);
int graftImageEnsureData(graft_image *im, const char *func, size_t n);
int graftImageEnsureWork(graft_image *im, const char *func, size_t n);
void graftImageSwapInSpare(graft_image *im, int width, int height, int channels);

/* The steps of the transforms that cannot fail, once their buffers are
 * reserved: ResizeRun needs the spare buffer for channels * ow * oh floats
 * and ResizeWorkBytes(...) bytes of work; CropRun (a rectangle inside the
 * image) the spare buffer for channels * w * h floats; FlipRun nothing.
 * image_transform.c. */
size_t graftImageResizeWorkBytes(int ch, int w, int h, int ow, int oh);
void graftImageResizeRun(graft_image *im, int ow, int oh);
void graftImageCropRun(graft_image *im, int x, int y, int w, int h);
void graftImageFlipRun(graft_image *im);

/* The steps of graft_image_augment() with their draws given (exposed for
 * the tests against torchvision). AffineRun: step 2b, rotation by
 * angle_deg and shift by (tx, ty), bilinear, fill outside; the spare
 * buffer must hold the image's size. BlendGrey: step 5 with factor f, and
 * step 7 for f = 0. HueShift: step 6 with shift. The last two take 3
 * channels. image_augment.c. */
void graftImageAffineRun(graft_image *im, double angle_deg, int tx, int ty, float fill);
void graftImageBlendGrey(graft_image *im, float f);
void graftImageHueShift(graft_image *im, float shift);

/* Reads a caller's graft_augment_spec as graft_image_augment() does: its
 * struct_size (1.0's or the current one; a 1.0 struct's newer fields take
 * their defaults), then every field's range; errors name func.
 * IsIdentity: 1 when the spec changes no image (no step is on).
 * image_augment.c. */
int graftAugmentSpecRead(graft_ctx *ctx, const char *func, const graft_augment_spec *given,
                         graft_augment_spec *out);
int graftAugmentSpecIsIdentity(const graft_augment_spec *s);

/* Resizes planes planar w x h planes at src into ow x oh planes at dst
 * (as graft_image_resize() does each), any number of planes; src is only
 * read. Errors: GRAFT_E_NOMEM (named func). image_transform.c. */
int graftImageResizePlanes(graft_ctx *ctx, const char *func, const float *src, int planes, int w,
                           int h, float *dst, int ow, int oh);

#endif /* GRAFT_IMAGE_H */
