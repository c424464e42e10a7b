/*
 * image_augment.c - the seeded augmentation of a graft_image
 * (graft_image_augment(): random resized crop, flip, rotation and
 * translation, colour jitter, grey) and its named presets.
 *
 * Every step draws from its own generator, seeded from the spec's seed, so
 * a step turned on or off leaves the others' draws as they were; the
 * geometric steps reserve all their buffers before changing anything, so
 * a failure leaves the image as it was.
 */
#include "image.h"
#include "core/options.h"

#include <math.h>
#include <string.h>

#define MAX_SIDE 65535

/* torchvision's rgb_to_grayscale, which its saturation and RandomGrayscale use. */
#define TV_GREY_R 0.2989f
#define TV_GREY_G 0.587f
#define TV_GREY_B 0.114f

/* The generators of the steps (graft_augment_spec's k). */
enum { RNG_CROP, RNG_FLIP, RNG_BRIGHTNESS, RNG_CONTRAST, RNG_AFFINE, RNG_SATURATION, RNG_HUE,
       RNG_GREY, RNG_COUNT };

/* Where the 1.0 fields end, and 1.0's sizeof(graft_augment_spec): that end
 * rounded up to the struct's alignment (56 bytes on LP64, where rotation
 * now sits in what was 1.0's tail padding, so offsetof(rotation) alone is
 * not 1.0's size, and a 1.0 struct's bytes from SPEC_1_0_END on are
 * padding: never read, never written). */
#define SPEC_1_0_END offsetof(graft_augment_spec, rotation)
#define SPEC_ALIGN _Alignof(graft_augment_spec)
#define SPEC_1_0_SIZE ((SPEC_1_0_END + SPEC_ALIGN - 1) / SPEC_ALIGN * SPEC_ALIGN)

/* The sizes graft_augment_spec has had: 1.0, then 1.3 (rotation onwards). */
static const uint32_t augment_spec_sizes[] = {(uint32_t)SPEC_1_0_SIZE,
                                              (uint32_t)sizeof(graft_augment_spec)};
static const graftOptionsKind augment_spec_kind = {"spec", "GRAFT_AUGMENT_SPEC_INIT",
                                                   augment_spec_sizes,
                                                   GRAFT_OPTIONS_COUNT(augment_spec_sizes), 0, 0};

static int in_range(float v, float lo, float hi) { return v >= lo && v <= hi; }

static int augment_check(graft_ctx *ctx, const graft_augment_spec *s, const char *f)
{
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
    static const struct {
        const char *name;
        size_t offset;
        float hi;
    } bounded[] = {
        {"flip_prob", offsetof(graft_augment_spec, flip_prob), 1.0f},
        {"brightness", offsetof(graft_augment_spec, brightness), 1.0f},
        {"contrast", offsetof(graft_augment_spec, contrast), 1.0f},
        {"rotation", offsetof(graft_augment_spec, rotation), 180.0f},
        {"translate_x", offsetof(graft_augment_spec, translate_x), 1.0f},
        {"translate_y", offsetof(graft_augment_spec, translate_y), 1.0f},
        {"saturation", offsetof(graft_augment_spec, saturation), 1.0f},
        {"hue", offsetof(graft_augment_spec, hue), 0.5f},
        {"grayscale_prob", offsetof(graft_augment_spec, grayscale_prob), 1.0f},
    };
    for (size_t k = 0; k < sizeof bounded / sizeof bounded[0]; k++) {
        float v;
        memcpy(&v, (const char *)s + bounded[k].offset, sizeof v);
        GRAFT_RETURN_IF_AT(!in_range(v, 0.0f, bounded[k].hi), ctx, GRAFT_E_INVALID_ARG, f,
                           "spec->%s is %g, must be in [0, %g]", bounded[k].name, (double)v,
                           (double)bounded[k].hi);
    }
    GRAFT_RETURN_IF_AT(!isfinite(s->fill), ctx, GRAFT_E_INVALID_ARG, f,
                       "spec->fill is %g, must be finite", (double)s->fill);
    return GRAFT_OK;
}

int graftAugmentSpecRead(graft_ctx *ctx, const char *func, const graft_augment_spec *given,
                         graft_augment_spec *out)
{
    graft_augment_spec s = GRAFT_AUGMENT_SPEC_INIT;
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(ctx, func, &augment_spec_kind, given, &s));
    if (given->struct_size < sizeof s) {
        const graft_augment_spec d = GRAFT_AUGMENT_SPEC_INIT;
        memcpy((char *)&s + SPEC_1_0_END, (const char *)&d + SPEC_1_0_END,
               sizeof s - SPEC_1_0_END);
    }
    GRAFT_FORWARD_IF_ERROR(augment_check(ctx, &s, func));
    *out = s;
    return GRAFT_OK;
}

int graftAugmentSpecIsIdentity(const graft_augment_spec *s)
{
    return s->crop_width == 0 && s->flip_prob == 0.0f && s->rotation == 0.0f &&
           s->translate_x == 0.0f && s->translate_y == 0.0f && s->brightness == 0.0f &&
           s->contrast == 0.0f && s->saturation == 0.0f && s->hue == 0.0f &&
           s->grayscale_prob == 0.0f;
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

void graftImageAffineRun(graft_image *im, double angle_deg, int tx, int ty, float fill)
{
    int w = im->width, h = im->height, ch = im->channels;
    size_t plane = (size_t)w * h;
    double a = angle_deg * (3.14159265358979323846 / 180.0);
    double ca = cos(a), sa = sin(a);
    for (int y = 0; y < h; y++) {
        double v = y + 0.5 - h * 0.5 - ty;
        for (int x = 0; x < w; x++) {
            double u = x + 0.5 - w * 0.5 - tx;
            double px = ca * u - sa * v + w * 0.5 - 0.5;
            double py = sa * u + ca * v + h * 0.5 - 0.5;
            size_t o = (size_t)y * w + x;
            if (!(px > -1.0 && px < w && py > -1.0 && py < h)) {
                /* No neighbour inside (NaN-safe): all fill. */
                for (int c = 0; c < ch; c++) im->spare[c * plane + o] = fill;
                continue;
            }
            /* px, py > -1: truncating px + 2 is floor(px) + 2. */
            int x0 = (int)(px + 2.0) - 2, y0 = (int)(py + 2.0) - 2;
            double fx = px - x0, fy = py - y0;
            double wt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            if (x0 >= 0 && x0 + 1 < w && y0 >= 0 && y0 + 1 < h) {
                size_t at = (size_t)y0 * w + x0;
                for (int c = 0; c < ch; c++) {
                    const float *src = im->data + c * plane + at;
                    double s = wt[0] * src[0] + wt[1] * src[1] + wt[2] * src[w] +
                               wt[3] * src[w + 1];
                    im->spare[c * plane + o] = (float)s;
                }
                continue;
            }
            int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
            size_t at[4];
            double outside = 0.0;
            int inside[4];
            for (int k = 0; k < 4; k++) {
                inside[k] = xs[k] >= 0 && xs[k] < w && ys[k] >= 0 && ys[k] < h;
                if (inside[k]) at[k] = (size_t)ys[k] * w + xs[k];
                else outside += wt[k];
            }
            for (int c = 0; c < ch; c++) {
                const float *src = im->data + c * plane;
                double s = outside * fill;
                for (int k = 0; k < 4; k++)
                    if (inside[k]) s += wt[k] * src[at[k]];
                im->spare[c * plane + o] = (float)s;
            }
        }
    }
    graftImageSwapInSpare(im, w, h, ch);
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

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void graftImageBlendGrey(graft_image *im, float f)
{
    size_t plane = (size_t)im->width * (size_t)im->height;
    float *r = im->data, *g = r + plane, *b = g + plane;
    for (size_t i = 0; i < plane; i++) {
        float y = TV_GREY_R * r[i] + TV_GREY_G * g[i] + TV_GREY_B * b[i];
        if (f == 0.0f) {
            r[i] = g[i] = b[i] = clamp01(y);
            continue;
        }
        float k = (1.0f - f) * y;
        r[i] = clamp01(f * r[i] + k);
        g[i] = clamp01(f * g[i] + k);
        b[i] = clamp01(f * b[i] + k);
    }
}

void graftImageHueShift(graft_image *im, float shift)
{
    size_t plane = (size_t)im->width * (size_t)im->height;
    float *rp = im->data, *gp = rp + plane, *bp = gp + plane;
    for (size_t i = 0; i < plane; i++) {
        float r = rp[i], g = gp[i], b = bp[i];
        float mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
        float mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
        float cr = mx - mn;
        int eq = mx == mn;
        float s = cr / (eq ? 1.0f : mx);
        float div = eq ? 1.0f : cr;
        float rc = (mx - r) / div, gc = (mx - g) / div, bc = (mx - b) / div;
        float hh;
        if (mx == r) hh = bc - gc;
        else if (mx == g) hh = 2.0f + rc - bc;
        else hh = 4.0f + gc - rc;
        /* torch's fmod(h / 6 + 1, 1) (a value in [0, 2)), then
         * (h + shift) % 1 (Python's modulo): both x - floor(x), exact here. */
        hh = hh / 6.0f + 1.0f;
        hh -= floorf(hh);
        hh += shift;
        hh -= floorf(hh);
        float v = mx;
        float fi = floorf(hh * 6.0f);
        float f = hh * 6.0f - fi;
        int sector = ((int)fi % 6 + 6) % 6;
        float p = clamp01(v * (1.0f - s));
        float q = clamp01(v * (1.0f - s * f));
        float t = clamp01(v * (1.0f - s * (1.0f - f)));
        switch (sector) {
        case 0: r = v, g = t, b = p; break;
        case 1: r = q, g = v, b = p; break;
        case 2: r = p, g = v, b = t; break;
        case 3: r = p, g = q, b = v; break;
        case 4: r = t, g = p, b = v; break;
        default: r = v, g = p, b = q; break;
        }
        rp[i] = r;
        gp[i] = g;
        bp[i] = b;
    }
}

/* Reserves the buffers of the geometric steps (crop to w x h then resize
 * to the spec's size; the affine step's spare buffer), before any change. */
static int reserve_geometry(graft_image *im, const graft_augment_spec *s, int crop, int w,
                            int h, int affine, const char *f)
{
    size_t ch = (size_t)im->channels;
    size_t most = graftImageNumel(im);
    if (crop) {
        size_t cut = ch * w * h, out = ch * s->crop_width * s->crop_height;
        most = cut > out ? cut : out;
        /* The crop swaps the buffers, then the resize writes into the other. */
        GRAFT_FORWARD_IF_ERROR(graftImageEnsureSpare(im, f, most));
        GRAFT_FORWARD_IF_ERROR(graftImageEnsureData(im, f, most));
        GRAFT_FORWARD_IF_ERROR(graftImageEnsureWork(
            im, f, graftImageResizeWorkBytes(im->channels, w, h, s->crop_width, s->crop_height)));
    }
    if (affine) {
        GRAFT_FORWARD_IF_ERROR(graftImageEnsureSpare(im, f, most));
        GRAFT_FORWARD_IF_ERROR(graftImageEnsureData(im, f, most));
    }
    return GRAFT_OK;
}

GRAFT_API int graft_image_augment(graft_image *image, const graft_augment_spec *spec)
{
    const char *f = __func__;
    graftClearError(image ? image->ctx : NULL);
    GRAFT_RETURN_IF(!image, NULL, GRAFT_E_INVALID_ARG, "image is NULL");
    GRAFT_RETURN_IF(!spec, image->ctx, GRAFT_E_INVALID_ARG, "spec is NULL");
    graft_augment_spec sp;
    GRAFT_FORWARD_IF_ERROR(graftAugmentSpecRead(image->ctx, f, spec, &sp));
    spec = &sp;

    graftRng master, rng[RNG_COUNT];
    graftRngSeed(&master, spec->seed);
    for (int k = 0; k < RNG_COUNT; k++) graftRngSeed(&rng[k], graftRngNext(&master));

    /* Draw the geometry first, then reserve, then change the image. */
    int crop = spec->crop_width > 0;
    int x = 0, y = 0, w = image->width, h = image->height;
    if (crop) random_crop_rect(&rng[RNG_CROP], spec, image->width, image->height, &x, &y, &w, &h);
    int flip = spec->flip_prob > 0.0f && graftRngUniform(&rng[RNG_FLIP]) < spec->flip_prob;
    int out_w = crop ? spec->crop_width : image->width;
    int out_h = crop ? spec->crop_height : image->height;
    double angle = 0.0;
    int tx = 0, ty = 0;
    if (spec->rotation > 0.0f)
        angle = uniform_range(&rng[RNG_AFFINE], -spec->rotation, spec->rotation);
    if (spec->translate_x > 0.0f) {
        double m = (double)spec->translate_x * out_w;
        tx = (int)lround(uniform_range(&rng[RNG_AFFINE], -m, m));
    }
    if (spec->translate_y > 0.0f) {
        double m = (double)spec->translate_y * out_h;
        ty = (int)lround(uniform_range(&rng[RNG_AFFINE], -m, m));
    }
    int affine = angle != 0.0 || tx != 0 || ty != 0;
    GRAFT_FORWARD_IF_ERROR(reserve_geometry(image, spec, crop, w, h, affine, f));

    if (crop) {
        graftImageCropRun(image, x, y, w, h);
        graftImageResizeRun(image, spec->crop_width, spec->crop_height);
    }
    if (flip) graftImageFlipRun(image);
    if (affine) graftImageAffineRun(image, angle, tx, ty, spec->fill);
    if (spec->brightness > 0.0f) {
        double b = uniform_range(&rng[RNG_BRIGHTNESS], 1.0 - spec->brightness,
                                 1.0 + spec->brightness);
        clamp_scale(image, (float)b, 0.0f);
    }
    if (spec->contrast > 0.0f) {
        double k = uniform_range(&rng[RNG_CONTRAST], 1.0 - spec->contrast, 1.0 + spec->contrast);
        double m = grey_mean(image);
        clamp_scale(image, (float)k, (float)((1.0 - k) * m));
    }
    int rgb = image->channels == 3;
    if (spec->saturation > 0.0f) {
        double s = uniform_range(&rng[RNG_SATURATION], 1.0 - spec->saturation,
                                 1.0 + spec->saturation);
        if (rgb) graftImageBlendGrey(image, (float)s);
    }
    if (spec->hue > 0.0f) {
        double hs = uniform_range(&rng[RNG_HUE], -spec->hue, spec->hue);
        if (rgb) graftImageHueShift(image, (float)hs);
    }
    if (spec->grayscale_prob > 0.0f && graftRngUniform(&rng[RNG_GREY]) < spec->grayscale_prob &&
        rgb)
        graftImageBlendGrey(image, 0.0f);
    return GRAFT_OK;
}

/* ---- presets ---------------------------------------------------------------- */

static const char *const preset_names[] = {"none", "light", "standard", "strong"};

GRAFT_API const char *graft_augment_preset_name(int preset)
{
    int n = (int)(sizeof preset_names / sizeof preset_names[0]);
    return preset >= 0 && preset < n ? preset_names[preset] : NULL;
}

GRAFT_API int graft_augment_preset(int preset, int crop_width, int crop_height,
                                   graft_augment_spec *out)
{
    const char *f = __func__;
    graftClearError(NULL);
    GRAFT_RETURN_IF(!out, NULL, GRAFT_E_INVALID_ARG, "out is NULL");
    GRAFT_RETURN_IF(!graft_augment_preset_name(preset), NULL, GRAFT_E_INVALID_ARG,
                    "preset is %d, must be a GRAFT_AUGMENT_PRESET_* value (0 to 3)", preset);
    graft_augment_spec s = GRAFT_AUGMENT_SPEC_INIT;
    /* Validates out->struct_size (and copies the caller's fields, then replaced). */
    GRAFT_FORWARD_IF_ERROR(graftOptionsRead(NULL, f, &augment_spec_kind, out, &s));
    graft_augment_spec d = GRAFT_AUGMENT_SPEC_INIT;
    d.seed = s.seed;
    if (preset != GRAFT_AUGMENT_PRESET_NONE) {
        d.crop_width = crop_width;
        d.crop_height = crop_height;
        d.flip_prob = 0.5f;
    }
    switch (preset) {
    case GRAFT_AUGMENT_PRESET_LIGHT:
        d.scale_min = 0.35f;
        d.brightness = 0.1f;
        d.contrast = 0.1f;
        break;
    case GRAFT_AUGMENT_PRESET_STRONG:
        d.rotation = 15.0f;
        d.brightness = 0.4f;
        d.contrast = 0.4f;
        d.saturation = 0.4f;
        d.hue = 0.1f;
        d.grayscale_prob = 0.1f;
        break;
    default: break;
    }
    int off = crop_width == 0 && crop_height == 0;
    GRAFT_RETURN_IF(!off && (crop_width < 1 || crop_width > MAX_SIDE || crop_height < 1 ||
                             crop_height > MAX_SIDE),
                    NULL, GRAFT_E_INVALID_ARG,
                    "crop_width and crop_height are %d and %d: both must be 0 (no crop) or 1 "
                    "to %d",
                    crop_width, crop_height, MAX_SIDE);
    size_t end = out->struct_size < sizeof d ? SPEC_1_0_END : sizeof d;
    memcpy((char *)out + sizeof(uint32_t), (const char *)&d + sizeof(uint32_t),
           end - sizeof(uint32_t));
    return GRAFT_OK;
}
