/*
 * image_transform.c - the in-place transforms of a graft_image (channel
 * conversion, resize, crop, pad, letterbox, flip, scale, normalisation).
 * The seeded augmentation is image_augment.c's.
 *
 * A transform that changes the size writes into the image's spare buffer
 * and swaps it with the pixels, so a steady image size allocates nothing
 * after the first call.
 */
#include "image.h"

#include <math.h>
#include <string.h>

/* ---- buffers --------------------------------------------------------------- */

/* Grows the spare buffer to n floats (contents not kept). */
int graftImageEnsureSpare(graft_image *im, const char *func, size_t n)
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
int graftImageEnsureData(graft_image *im, const char *func, size_t n)
{
    if (im->capacity >= n) return GRAFT_OK;
    float *p = graftCalloc(im->ctx, n, sizeof(float));
    if (!p) return graftError(im->ctx, GRAFT_E_NOMEM, func, "cannot allocate %zu floats", n);
    memcpy(p, im->data, graftImageNumel(im) * sizeof(float));
    graftFree(im->ctx, im->data);
    im->data = p;
    im->capacity = n;
    return GRAFT_OK;
}

/* Grows the scratch area to n bytes (contents not kept). */
int graftImageEnsureWork(graft_image *im, const char *func, size_t n)
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
void graftImageSwapInSpare(graft_image *im, int width, int height, int channels)
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

/* ---- transforms ------------------------------------------------------------ */

int graftImageConvertChannels(graft_image *im, const char *func, int channels)
{
    size_t plane = (size_t)im->width * (size_t)im->height;
    if (channels == im->channels) return GRAFT_OK;
    if (channels == 1) {
        /* In place: pixel i of the result depends on pixel i of each plane. */
        float *r = im->data, *g = r + plane, *b = g + plane;
        for (size_t i = 0; i < plane; i++) r[i] = LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i];
    } else {
        GRAFT_FORWARD_IF_ERROR(graftImageEnsureData(im, func, 3 * plane));
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
    return graftImageConvertChannels(image, __func__, channels);
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
size_t graftImageResizeWorkBytes(int ch, int w, int h, int ow, int oh)
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

/* Reserves what graftImageResizeRun() needs; the only step of a resize that can fail. */
static int resize_reserve(graft_image *im, const char *func, int ow, int oh)
{
    GRAFT_FORWARD_IF_ERROR(graftImageCheckSize(im->ctx, func, ow, oh));
    GRAFT_FORWARD_IF_ERROR(graftImageEnsureSpare(im, func, (size_t)im->channels * ow * oh));
    return graftImageEnsureWork(im, func, graftImageResizeWorkBytes(im->channels, im->width, im->height, ow, oh));
}

void graftImageResizeRun(graft_image *im, int ow, int oh)
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
    graftImageSwapInSpare(im, ow, oh, ch);
}

static int resize_to(graft_image *im, const char *func, int ow, int oh)
{
    GRAFT_FORWARD_IF_ERROR(resize_reserve(im, func, ow, oh));
    graftImageResizeRun(im, ow, oh);
    return GRAFT_OK;
}

int graftImageResizePlanes(graft_ctx *ctx, const char *func, const float *src, int planes, int w,
                           int h, float *dst, int ow, int oh)
{
    size_t n_out = (size_t)planes * ow * oh;
    if (ow == w && oh == h) {
        memcpy(dst, src, n_out * sizeof(float));
        return GRAFT_OK;
    }
    /* An image of `planes` channels over the caller's buffers: the resize
     * only reads data and writes the spare buffer, and never frees them. */
    graft_image tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.ctx = ctx;
    tmp.width = w;
    tmp.height = h;
    tmp.channels = planes;
    tmp.data = (float *)src;
    tmp.capacity = (size_t)planes * w * h;
    tmp.spare = dst;
    tmp.spare_capacity = n_out;
    GRAFT_FORWARD_IF_ERROR(
        graftImageEnsureWork(&tmp, func, graftImageResizeWorkBytes(planes, w, h, ow, oh)));
    graftImageResizeRun(&tmp, ow, oh);
    graftFree(ctx, tmp.work);
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
void graftImageCropRun(graft_image *im, int x, int y, int w, int h)
{
    for (int c = 0; c < im->channels; c++)
        for (int r = 0; r < h; r++)
            memcpy(im->spare + ((size_t)c * h + r) * w,
                   im->data + ((size_t)c * im->height + y + r) * im->width + x,
                   (size_t)w * sizeof(float));
    graftImageSwapInSpare(im, w, h, im->channels);
}

static int crop_checked(graft_image *im, const char *func, int x, int y, int w, int h)
{
    GRAFT_RETURN_IF_AT(w < 1 || h < 1 || x < 0 || y < 0 || w > im->width - x ||
                           h > im->height - y,
                       im->ctx, GRAFT_E_RANGE, func,
                       "the rectangle %dx%d at (%d, %d) is not inside the %dx%d image", w, h, x,
                       y, im->width, im->height);
    GRAFT_FORWARD_IF_ERROR(graftImageEnsureSpare(im, func, (size_t)im->channels * w * h));
    graftImageCropRun(im, x, y, w, h);
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

/* Writes the image into the spare buffer at (left, top) of a w x h canvas
 * of fill, and swaps it in; the spare buffer must hold channels * w * h. */
static void pad_run(graft_image *im, int left, int top, int w, int h, float fill)
{
    int iw = im->width, ih = im->height;
    for (int c = 0; c < im->channels; c++) {
        float *o = im->spare + (size_t)c * w * h;
        const float *in = im->data + (size_t)c * ih * iw;
        for (int y = 0; y < h; y++) {
            float *row = o + (size_t)y * w;
            int sy = y - top;
            if (sy < 0 || sy >= ih) {
                for (int x = 0; x < w; x++) row[x] = fill;
                continue;
            }
            for (int x = 0; x < left; x++) row[x] = fill;
            memcpy(row + left, in + (size_t)sy * iw, (size_t)iw * sizeof(float));
            for (int x = left + iw; x < w; x++) row[x] = fill;
        }
    }
    graftImageSwapInSpare(im, w, h, im->channels);
}

GRAFT_API int graft_image_pad(graft_image *image, int left, int top, int right, int bottom,
                              float fill)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(left < 0 || top < 0 || right < 0 || bottom < 0, image->ctx,
                    GRAFT_E_INVALID_ARG, "left, top, right and bottom are %d, %d, %d and %d: "
                    "each must be >= 0", left, top, right, bottom);
    GRAFT_RETURN_IF(!isfinite(fill), image->ctx, GRAFT_E_INVALID_ARG,
                    "fill is %g, must be finite", (double)fill);
    int64_t w = (int64_t)image->width + left + right, h = (int64_t)image->height + top + bottom;
    GRAFT_FORWARD_IF_ERROR(graftImageCheckSize(image->ctx, __func__, w, h));
    if (w == image->width && h == image->height) return GRAFT_OK;
    GRAFT_FORWARD_IF_ERROR(
        graftImageEnsureSpare(image, __func__, (size_t)image->channels * (size_t)(w * h)));
    pad_run(image, left, top, (int)w, (int)h, fill);
    return GRAFT_OK;
}

GRAFT_API int graft_image_letterbox(graft_image *image, int width, int height, float fill)
{
    const char *f = __func__;
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!isfinite(fill), image->ctx, GRAFT_E_INVALID_ARG,
                    "fill is %g, must be finite", (double)fill);
    GRAFT_FORWARD_IF_ERROR(graftImageCheckSize(image->ctx, f, width, height));
    int64_t iw = image->width, ih = image->height, nw, nh;
    if (iw * height <= ih * width) {
        nh = height;
        nw = (2 * iw * height + ih) / (2 * ih);
    } else {
        nw = width;
        nh = (2 * ih * width + iw) / (2 * iw);
    }
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    if (nw > width) nw = width;
    if (nh > height) nh = height;
    /* Reserve both steps first so that a failure leaves the image as it was:
       the resize swaps the buffers, then the padding writes into the other. */
    size_t ch = (size_t)image->channels;
    size_t most = ch * (size_t)width * (size_t)height;
    GRAFT_FORWARD_IF_ERROR(graftImageEnsureSpare(image, f, most));
    GRAFT_FORWARD_IF_ERROR(graftImageEnsureData(image, f, most));
    GRAFT_FORWARD_IF_ERROR(graftImageEnsureWork(
        image, f, graftImageResizeWorkBytes(image->channels, (int)iw, (int)ih, (int)nw, (int)nh)));
    graftImageResizeRun(image, (int)nw, (int)nh);
    if (nw != width || nh != height)
        pad_run(image, (int)((width - nw) / 2), (int)((height - nh) / 2), width, height, fill);
    return GRAFT_OK;
}

void graftImageFlipRun(graft_image *im)
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
    graftImageFlipRun(image);
    return GRAFT_OK;
}

GRAFT_API int graft_image_scale(graft_image *image, float factor)
{
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!isfinite(factor), image->ctx, GRAFT_E_INVALID_ARG,
                    "factor is %g, must be finite", (double)factor);
    size_t n = graftImageNumel(image);
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
