/*
 * image_transform.c - the in-place transforms of a graft_image (channel
 * conversion, resize, crop, flip, scale, normalisation) and the seeded
 * augmentation.
 *
 * A transform that changes the size writes into the image's spare buffer
 * and swaps it with the pixels, so a steady image size allocates nothing
 * after the first call.
 */
#include "image.h"
#include "core/options.h"

#include <math.h>
#include <string.h>

#define MAX_SIDE 65535

/* ---- buffers --------------------------------------------------------------- */

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
    memcpy(p, im->data, graftImageNumel(im) * sizeof(float));
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

/* ---- transforms ------------------------------------------------------------ */

/* BT.601 luma, the weights graft_image_convert() documents. */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

int graftImageConvertChannels(graft_image *im, const char *func, int channels)
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
    GRAFT_FORWARD_IF_ERROR(graftImageCheckSize(im->ctx, func, ow, oh));
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

/* ---- augmentation ---------------------------------------------------------- */

/* The sizes graft_augment_spec has had: 1.0. */
static const uint32_t augment_spec_sizes[] = {(uint32_t)sizeof(graft_augment_spec)};
static const graftOptionsKind augment_spec_kind = {"spec", "GRAFT_AUGMENT_SPEC_INIT", augment_spec_sizes,
                                          GRAFT_OPTIONS_COUNT(augment_spec_sizes), 0, 0};

static int augment_check(graft_image *im, const graft_augment_spec *s)
{
    const char *f = "graft_image_augment";
    graft_ctx *ctx = im->ctx;
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
    size_t n = graftImageNumel(im);
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
    graft_augment_spec sp = GRAFT_AUGMENT_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(image->ctx, f, &augment_spec_kind, spec, &sp));
    spec = &sp;
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
