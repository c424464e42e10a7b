/*
 * check_image_transform.c - the in-place transforms of a graft_image and the
 * seeded augmentation (src/data/image_transform.c): resizing against
 * hand-computed values and PyTorch's F.interpolate (antialiased bilinear,
 * tests/data/images/resize_refs.txt), the shorter-side resize, a workspace
 * reused at steady sizes, crops, flips, scaling and normalisation, and
 * augmentation that a seed reproduces, with its bounds and errors.
 */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGES GRAFT_TEST_DATA "/images/"

/* An image of w x h x ch with value (c * 1000 + y * 100 + x) / 10000. */
static graft_image *coded_image(graft_ctx *ctx, int w, int h, int ch)
{
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_create(ctx, w, h, ch, &im), GRAFT_OK);
    float *d = graft_image_data(im);
    for (int c = 0; c < ch; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                d[((size_t)c * h + y) * w + x] = (float)(c * 1000 + y * 100 + x) / 10000.0f;
    return im;
}

/* ---- resize ----------------------------------------------------------------- */

/* Hand-computed 1-D cases (height 1).
 * Up, [0, 1] to 4 samples: input coordinates (i + 0.5) / 2 - 0.5 =
 * -0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1 -> 0, 0.25, 0.75, 1.
 * Down, [0, 1, 2, 3] to 2 samples, s = 2: output 0 has centre 1, weights
 * 1 - |j + 0.5 - 1| / 2 = 0.75, 0.75, 0.25, 0 (sum 1.75):
 * (0*0.75 + 1*0.75 + 2*0.25) / 1.75 = 1.25 / 1.75 = 0.714285714;
 * output 1 (centre 3): weights 0, 0.25, 0.75, 0.75:
 * (0.25 + 1.5 + 2.25) / 1.75 = 4 / 1.75 = 2.285714286.
 * (A box filter would give 0.5 and 2.5.) */
START_TEST(test_resize_hand_computed)
{
    graft_ctx *ctx = tu_ctx();
    const float up_in[2] = {0, 1};
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_import(ctx, 2, 1, 1, 0, up_in, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 4, 1), GRAFT_OK);
    const float up_want[4] = {0, 0.25f, 0.75f, 1};
    tu_assert_close(graft_image_data_const(im), up_want, 4, 1e-7f, 0, "upscale");
    graft_image_free(im);

    const float down_in[4] = {0, 1, 2, 3};
    ck_assert_int_eq(graft_image_import(ctx, 4, 1, 1, 0, down_in, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 2, 1), GRAFT_OK);
    const float down_want[2] = {1.25f / 1.75f, 4.0f / 1.75f};
    tu_assert_close(graft_image_data_const(im), down_want, 2, 1e-6f, 0, "downscale");
    graft_image_free(im);

    /* The same along the height. */
    ck_assert_int_eq(graft_image_import(ctx, 1, 4, 1, 0, down_in, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 1, 2), GRAFT_OK);
    tu_assert_close(graft_image_data_const(im), down_want, 2, 1e-6f, 0, "downscale height");
    graft_image_free(im);

    /* The same size leaves the pixels bit for bit. */
    im = coded_image(ctx, 5, 4, 3);
    graft_image *orig = NULL;
    ck_assert_int_eq(graft_image_copy(im, &orig), GRAFT_OK);
    ck_assert_int_eq(graft_image_resize(im, 5, 4), GRAFT_OK);
    ck_assert_int_eq(memcmp(graft_image_data_const(im), graft_image_data_const(orig),
                            60 * sizeof(float)),
                     0);
    /* A constant image stays constant whatever the sizes. */
    float *d = graft_image_data(im);
    for (int i = 0; i < 60; i++) d[i] = 0.375f;
    ck_assert_int_eq(graft_image_resize(im, 17, 2), GRAFT_OK);
    for (int i = 0; i < 3 * 17 * 2; i++)
        ck_assert_float_eq_tol(graft_image_data_const(im)[i], 0.375f, 1e-6f);
    ck_assert_int_eq(graft_image_resize(im, 0, 2), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_resize(): width and height must be >= 1 (got 0 x 2)");
    ck_assert_int_eq(graft_image_width(im), 17); /* unchanged by the failure */
    ck_assert_int_eq(graft_image_resize(NULL, 2, 2), GRAFT_E_INVALID_ARG);
    graft_image_free(orig);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

static float *read_floats(char *line, const char *tag, size_t n)
{
    size_t tl = strlen(tag);
    ck_assert_msg(strncmp(line, tag, tl) == 0 && line[tl] == ' ', "expected a \"%s\" line", tag);
    float *v = malloc(n * sizeof *v);
    char *p = line + tl, *end;
    for (size_t i = 0; i < n; i++) {
        v[i] = strtof(p, &end);
        ck_assert_msg(end != p, "%s: value %zu missing", tag, i);
        p = end;
    }
    return v;
}

START_TEST(test_resize_matches_torch)
{
    graft_ctx *ctx = tu_ctx();
    FILE *f = fopen(IMAGES "resize_refs.txt", "r");
    ck_assert_msg(f != NULL, "cannot open " IMAGES "resize_refs.txt: %s", strerror(errno));
    static char line[1 << 16];
    int cases = 0, downs = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char name[64];
        int c, ih, iw, oh, ow, aa;
        ck_assert_int_eq(sscanf(line, "case %63s %d %d %d %d %d %d", name, &c, &ih, &iw, &oh, &ow,
                                &aa),
                         7);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        float *in = read_floats(line, "in", (size_t)c * ih * iw);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        float *want = read_floats(line, "out", (size_t)c * oh * ow);
        graft_image *im = NULL;
        ck_assert_int_eq(graft_image_import(ctx, iw, ih, c, 0, in, &im), GRAFT_OK);
        ck_assert_int_eq(graft_image_resize(im, ow, oh), GRAFT_OK);
        tu_assert_close(graft_image_data_const(im), want, (size_t)c * oh * ow, 1e-4f, 0, name);
        graft_image_free(im);
        free(in);
        free(want);
        cases++;
        downs += aa;
    }
    fclose(f);
    ck_assert_int_eq(cases, 8);
    ck_assert_int_eq(downs, 5);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_resize_shorter_side)
{
    graft_ctx *ctx = tu_ctx();
    /* torchvision Resize(size): the longer side is floor(size * long / short). */
    const int cases[][5] = {
        /* w, h, size, want w, want h */
        {40, 20, 10, 20, 10}, {7, 3, 2, 4, 2}, {3, 7, 2, 2, 4},
        {9, 9, 4, 4, 4},      {10, 30, 20, 20, 60}, {500, 375, 256, 341, 256},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        graft_image *im = coded_image(ctx, cases[i][0], cases[i][1], 1);
        ck_assert_int_eq(graft_image_resize_shorter(im, cases[i][2]), GRAFT_OK);
        ck_assert_int_eq(graft_image_width(im), cases[i][3]);
        ck_assert_int_eq(graft_image_height(im), cases[i][4]);
        graft_image_free(im);
    }
    graft_image *im = coded_image(ctx, 4, 4, 1);
    ck_assert_int_eq(graft_image_resize_shorter(im, 0), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_resize_shorter(): size is 0, must be >= 1");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* Steady sizes allocate nothing after the first round. */
START_TEST(test_transforms_reuse_workspace)
{
    tu_alloc_counter cnt = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&cnt);
    graft_image *im = coded_image(ctx, 40, 30, 3);
    for (int round = 0; round < 3; round++) {
        long before = cnt.allocs;
        ck_assert_int_eq(graft_image_resize(im, 20, 15), GRAFT_OK);
        ck_assert_int_eq(graft_image_resize(im, 40, 30), GRAFT_OK);
        ck_assert_int_eq(graft_image_center_crop(im, 32, 24), GRAFT_OK);
        ck_assert_int_eq(graft_image_resize(im, 40, 30), GRAFT_OK);
        if (round > 0) ck_assert_int_eq(cnt.allocs, before);
    }
    graft_image_free(im);
    ck_assert_int_eq(cnt.allocs - cnt.frees, 1);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- crops, flips, normalisation --------------------------------------------------- */

START_TEST(test_crop_and_center_crop)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = coded_image(ctx, 6, 5, 3);
    ck_assert_int_eq(graft_image_crop(im, 2, 1, 3, 2), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 2);
    const float *d = graft_image_data_const(im);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                ck_assert_float_eq(d[(c * 2 + y) * 3 + x],
                                   (float)(c * 1000 + (y + 1) * 100 + (x + 2)) / 10000.0f);
    ck_assert_int_eq(graft_image_crop(im, 1, 0, 3, 2), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_crop(): the rectangle 3x2 at (1, 0) is not inside the 3x2 image");
    ck_assert_int_eq(graft_image_crop(im, 0, 0, 0, 1), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_image_crop(im, -1, 0, 1, 1), GRAFT_E_RANGE);
    graft_image_free(im);

    /* Centre offsets: torchvision rounds (W - w) / 2 half to even:
       excess 1 -> 0, 2 -> 1, 3 -> 2 (1.5), 5 -> 2 (2.5), 7 -> 4 (3.5). */
    const int cases[][3] = {{1, 0, 0}, {2, 1, 0}, {3, 2, 0}, {5, 2, 0}, {7, 4, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int excess = cases[i][0], left = cases[i][1];
        im = coded_image(ctx, 2 + excess, 3 + excess, 1);
        ck_assert_int_eq(graft_image_center_crop(im, 2, 3), GRAFT_OK);
        ck_assert_int_eq(graft_image_width(im), 2);
        ck_assert_int_eq(graft_image_height(im), 3);
        /* top-left pixel of the crop is (left, left) */
        ck_assert_float_eq(graft_image_data_const(im)[0],
                           (float)(left * 100 + left) / 10000.0f);
        graft_image_free(im);
    }
    im = coded_image(ctx, 4, 4, 1);
    ck_assert_int_eq(graft_image_center_crop(im, 5, 4), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_center_crop(): a 5x4 crop does not fit in the 4x4 image");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_flip)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = coded_image(ctx, 5, 3, 3), *orig = NULL;
    ck_assert_int_eq(graft_image_copy(im, &orig), GRAFT_OK);
    ck_assert_int_eq(graft_image_flip_horizontal(im), GRAFT_OK);
    const float *d = graft_image_data_const(im), *o = graft_image_data_const(orig);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
                ck_assert_float_eq(d[(c * 3 + y) * 5 + x], o[(c * 3 + y) * 5 + (4 - x)]);
    ck_assert_int_eq(graft_image_flip_horizontal(im), GRAFT_OK); /* twice: identity */
    ck_assert_int_eq(memcmp(d, o, 45 * sizeof(float)), 0);
    ck_assert_int_eq(graft_image_flip_horizontal(NULL), GRAFT_E_INVALID_ARG);
    graft_image_free(orig);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_normalize_and_scale)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = NULL;
    const float px[6] = {0.5f, 1.0f, 0.5f, 0.0f, 0.5f, 0.25f}; /* 2x1, CHW */
    ck_assert_int_eq(graft_image_import(ctx, 2, 1, 3, 0, px, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_normalize_imagenet(im), GRAFT_OK);
    /* (0.5 - 0.485) / 0.229 = 0.0655022, (1 - 0.485) / 0.229 = 2.2489083,
       (0.5 - 0.456) / 0.224 = 0.1964286, (0 - 0.456) / 0.224 = -2.0357143,
       (0.5 - 0.406) / 0.225 = 0.4177778, (0.25 - 0.406) / 0.225 = -0.6933333 */
    const float want[6] = {0.0655022f, 2.2489083f, 0.1964286f, -2.0357143f, 0.4177778f,
                           -0.6933333f};
    tu_assert_close(graft_image_data_const(im), want, 6, 1e-6f, 0, "ImageNet");
    const float mean[3] = GRAFT_IMAGENET_MEAN, std[3] = GRAFT_IMAGENET_STD;
    ck_assert_float_eq(mean[0], 0.485f);
    ck_assert_float_eq(mean[1], 0.456f);
    ck_assert_float_eq(mean[2], 0.406f);
    ck_assert_float_eq(std[0], 0.229f);
    ck_assert_float_eq(std[1], 0.224f);
    ck_assert_float_eq(std[2], 0.225f);
    graft_image_free(im);

    ck_assert_int_eq(graft_image_import(ctx, 2, 1, 3, 0, px, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_scale(im, 255.0f), GRAFT_OK);
    ck_assert_float_eq(graft_image_data_const(im)[1], 255.0f);
    ck_assert_float_eq(graft_image_data_const(im)[5], 63.75f);
    const float m2[3] = {127.5f, 0.0f, 10.0f}, s2[3] = {127.5f, 2.0f, 0.5f};
    ck_assert_int_eq(graft_image_normalize(im, m2, s2), GRAFT_OK);
    /* (127.5 - 127.5) / 127.5 = 0, (255 - 127.5) / 127.5 = 1, 127.5 / 2, 0 / 2,
       (127.5 - 10) / 0.5 = 235, (63.75 - 10) / 0.5 = 107.5 */
    const float want2[6] = {0, 1, 63.75f, 0, 235, 107.5f};
    tu_assert_close(graft_image_data_const(im), want2, 6, 1e-6f, 0, "custom mean/std");
    const float bad_std[3] = {1, 0, 1};
    ck_assert_int_eq(graft_image_normalize(im, m2, bad_std), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_normalize(): std[1] is 0, must be finite and > 0");
    ck_assert_float_eq(graft_image_data_const(im)[1], 1.0f); /* unchanged */
    ck_assert_int_eq(graft_image_normalize(im, NULL, s2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_scale(im, INFINITY), GRAFT_E_INVALID_ARG);
    graft_image_free(im);

    im = coded_image(ctx, 2, 2, 1);
    ck_assert_int_eq(graft_image_normalize_imagenet(im), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_normalize_imagenet(): the ImageNet "
                                        "statistics need 3 channels (RGB), the image has 1");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- augmentation ----------------------------------------------------------------- */

static graft_image *augmented(graft_ctx *ctx, const graft_image *src,
                              const graft_augment_spec *spec)
{
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_copy(src, &im), GRAFT_OK);
    int st = graft_image_augment(im, spec);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    return im;
}

static int same_pixels(const graft_image *a, const graft_image *b)
{
    if (graft_image_width(a) != graft_image_width(b) ||
        graft_image_height(a) != graft_image_height(b) ||
        graft_image_channels(a) != graft_image_channels(b))
        return 0;
    size_t n = (size_t)graft_image_width(a) * graft_image_height(a) * graft_image_channels(a);
    return memcmp(graft_image_data_const(a), graft_image_data_const(b), n * sizeof(float)) == 0;
}

START_TEST(test_augment_reproducible)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = tu_image_load_fixture(ctx, "baseline444.jpg", 0);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.crop_width = 16;
    spec.crop_height = 12;
    spec.flip_prob = 0.5f;
    spec.brightness = 0.4f;
    spec.contrast = 0.4f;
    spec.seed = 42;
    graft_image *a = augmented(ctx, src, &spec), *b = augmented(ctx, src, &spec);
    ck_assert_int_eq(graft_image_width(a), 16);
    ck_assert_int_eq(graft_image_height(a), 12);
    ck_assert_msg(same_pixels(a, b), "the same seed gave different images");
    int differ = 0;
    for (uint64_t seed = 43; seed < 48; seed++) {
        spec.seed = seed;
        graft_image *c = augmented(ctx, src, &spec);
        differ += !same_pixels(a, c);
        graft_image_free(c);
    }
    ck_assert_int_eq(differ, 5);
    /* Values stay in [0, 1] after brightness and contrast. */
    const float *d = graft_image_data_const(a);
    for (int i = 0; i < 3 * 16 * 12; i++) ck_assert(d[i] >= 0.0f && d[i] <= 1.0f);
    /* The default spec does nothing. */
    graft_augment_spec none = GRAFT_AUGMENT_SPEC_INIT;
    none.seed = 9;
    graft_image *n = augmented(ctx, src, &none);
    ck_assert(same_pixels(n, src));
    graft_image_free(n);
    graft_image_free(a);
    graft_image_free(b);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

/* With scale 1/4 and ratio 1 on a 40x40 image, the crop is 20x20, resized
 * to 20x20 (an exact copy): the result must be a block of the input at an
 * offset inside [0, 20]^2. Over many seeds several offsets must occur. */
START_TEST(test_augment_crop_bounds)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = coded_image(ctx, 40, 40, 1);
    const float *s = graft_image_data_const(src);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.crop_width = spec.crop_height = 20;
    spec.scale_min = spec.scale_max = 0.25f;
    spec.ratio_min = spec.ratio_max = 1.0f;
    int seen_x[21] = {0};
    for (uint64_t seed = 0; seed < 60; seed++) {
        spec.seed = seed;
        graft_image *im = augmented(ctx, src, &spec);
        const float *d = graft_image_data_const(im);
        /* The top-left value encodes the offset: (y * 100 + x) / 10000. */
        int code = (int)lroundf(d[0] * 10000.0f), x0 = code % 100, y0 = code / 100;
        ck_assert_int_le(x0, 20);
        ck_assert_int_le(y0, 20);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 20; x++)
                ck_assert_float_eq(d[y * 20 + x], s[(y0 + y) * 40 + x0 + x]);
        seen_x[x0] = 1;
        graft_image_free(im);
    }
    int distinct = 0;
    for (int i = 0; i <= 20; i++) distinct += seen_x[i];
    ck_assert_int_ge(distinct, 8);

    /* Scale 1 and the image's own ratio: the whole image. */
    spec.scale_min = spec.scale_max = 1.0f;
    spec.crop_width = spec.crop_height = 40;
    graft_image *whole = augmented(ctx, src, &spec);
    ck_assert(same_pixels(whole, src));
    graft_image_free(whole);

    /* No attempt can fit (ratio 2 at scale 1 needs 14x7 of a 10x10 image's
       area 100: w = round(sqrt(200)) = 14 > 10), so the fallback applies:
       W/H = 1 < 2 gives w = 10, h = round(10 / 2) = 5, y = (10 - 5) / 2 = 2. */
    graft_image *sq = coded_image(ctx, 10, 10, 1);
    spec.ratio_min = spec.ratio_max = 2.0f;
    spec.crop_width = 10;
    spec.crop_height = 5;
    graft_image *fb = augmented(ctx, sq, &spec);
    const float *f = graft_image_data_const(fb), *q = graft_image_data_const(sq);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 10; x++) ck_assert_float_eq(f[y * 10 + x], q[(y + 2) * 10 + x]);
    graft_image_free(fb);
    graft_image_free(sq);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_augment_flip_and_colour)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = tu_image_load_fixture(ctx, "rgb8.png", 0), *flipped = NULL;
    ck_assert_int_eq(graft_image_copy(src, &flipped), GRAFT_OK);
    ck_assert_int_eq(graft_image_flip_horizontal(flipped), GRAFT_OK);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.flip_prob = 1.0f;
    int flips = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        spec.seed = seed;
        graft_image *im = augmented(ctx, src, &spec);
        ck_assert(same_pixels(im, flipped)); /* probability 1: always, exactly */
        graft_image_free(im);
    }
    spec.flip_prob = 0.5f;
    for (uint64_t seed = 0; seed < 200; seed++) {
        spec.seed = seed;
        graft_image *im = augmented(ctx, src, &spec);
        if (same_pixels(im, flipped))
            flips++;
        else
            ck_assert(same_pixels(im, src));
        graft_image_free(im);
    }
    ck_assert_int_gt(flips, 70); /* binomial(200, 0.5): 70..130 fails with p < 1e-4 */
    ck_assert_int_lt(flips, 130);

    /* Brightness alone: every unclamped value is scaled by one factor in
       [0.7, 1.3]. */
    spec.flip_prob = 0.0f;
    spec.brightness = 0.3f;
    spec.seed = 5;
    graft_image *br = augmented(ctx, src, &spec);
    const float *d = graft_image_data_const(br), *s = graft_image_data_const(src);
    float factor = -1.0f;
    for (int i = 0; i < 3 * 13 * 7; i++) {
        if (s[i] < 0.05f || d[i] >= 1.0f) continue;
        float r = d[i] / s[i];
        if (factor < 0.0f) factor = r;
        ck_assert_float_eq_tol(r, factor, 1e-4f);
    }
    ck_assert(factor >= 0.7f && factor <= 1.3f);
    ck_assert(fabsf(factor - 1.0f) > 1e-6f);
    graft_image_free(br);
    /* Contrast alone on a constant image changes nothing: m is the value. */
    graft_image *flat = NULL;
    ck_assert_int_eq(graft_image_create(ctx, 4, 4, 3, &flat), GRAFT_OK);
    for (int i = 0; i < 48; i++) graft_image_data(flat)[i] = 0.3f;
    spec.brightness = 0.0f;
    spec.contrast = 0.5f;
    graft_image *ct = augmented(ctx, flat, &spec);
    for (int i = 0; i < 48; i++) ck_assert_float_eq_tol(graft_image_data_const(ct)[i], 0.3f, 1e-6f);
    graft_image_free(ct);
    graft_image_free(flat);
    graft_image_free(flipped);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_augment_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = coded_image(ctx, 8, 8, 3);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.struct_size = 8;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_VERSION);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "spec->struct_size is 8; this graft reads"));
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.crop_width = 4;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec->crop_width and crop_height "
                                        "are 4 and 0: both must be 0 (no crop) or 1 to 65535");
    spec.crop_height = 4;
    spec.scale_min = 0.0f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec->scale_min and scale_max "
                                        "are 0 and 1: need 0 < min <= max <= 1");
    spec.scale_min = 0.5f;
    spec.ratio_max = 0.5f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec.ratio_max = 2.0f;
    spec.flip_prob = 1.5f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_augment(): spec->flip_prob is 1.5, must be in [0, 1]");
    spec.flip_prob = NAN;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec.flip_prob = 0.0f;
    spec.brightness = -0.1f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec.brightness = 0.0f;
    spec.contrast = 2.0f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_width(im), 8); /* untouched by the failures */
    ck_assert_int_eq(graft_image_augment(NULL, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_augment(im, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec is NULL");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_image_transform(void)
{
    Suite *s = suite_create("image_transform");
    TCase *tc = tcase_create("resize");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_resize_hand_computed);
    tcase_add_test(tc, test_resize_matches_torch);
    tcase_add_test(tc, test_resize_shorter_side);
    tcase_add_test(tc, test_transforms_reuse_workspace);
    suite_add_tcase(s, tc);
    tc = tcase_create("crop_flip_normalize");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crop_and_center_crop);
    tcase_add_test(tc, test_flip);
    tcase_add_test(tc, test_normalize_and_scale);
    suite_add_tcase(s, tc);
    tc = tcase_create("augment");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_augment_reproducible);
    tcase_add_test(tc, test_augment_crop_bounds);
    tcase_add_test(tc, test_augment_flip_and_colour);
    tcase_add_test(tc, test_augment_errors);
    suite_add_tcase(s, tc);
    return s;
}
