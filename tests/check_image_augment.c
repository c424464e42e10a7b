/*
 * check_image_augment.c - the steps 1.3 added to the seeded augmentation
 * (src/data/image_augment.c: rotation and translation, saturation, hue,
 * grey) and the padding and letterbox transforms against torchvision
 * (tests/data/augment_refs.txt, from tests/make_augment_refs.py); the
 * documented draws of each step; 1.0-sized specs; the presets; errors.
 */
#include "testutil.h"
#include "core/internal.h"
#include "data/image.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFS GRAFT_TEST_DATA "/augment_refs.txt"

/* 1.0's sizeof(graft_augment_spec): its fields padded to the alignment. */
#define SPEC_1_0_SIZE                                                                  \
    ((offsetof(graft_augment_spec, rotation) + _Alignof(graft_augment_spec) - 1) /     \
     _Alignof(graft_augment_spec) * _Alignof(graft_augment_spec))

static float *parse_floats(const char *p, size_t n, const char *what)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    char *end;
    for (size_t i = 0; i < n; i++) {
        v[i] = strtof(p, &end);
        ck_assert_msg(end != p, "%s: value %zu missing", what, i);
        p = end;
    }
    return v;
}

static graft_image *random_image(graft_ctx *ctx, int w, int h, int ch, uint64_t seed)
{
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_create(ctx, w, h, ch, &im), GRAFT_OK);
    graftRng r;
    graftRngSeed(&r, seed);
    float *d = graft_image_data(im);
    for (size_t i = 0; i < (size_t)w * h * ch; i++) d[i] = graftRngUniform(&r);
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

/* ---- against torchvision ------------------------------------------------------ */

START_TEST(test_refs_match_torchvision)
{
    graft_ctx *ctx = tu_ctx();
    FILE *f = fopen(REFS, "r");
    ck_assert_msg(f != NULL, "cannot open " REFS ": %s", strerror(errno));
    static char line[1 << 16], in_line[1 << 16];
    int cases = 0, by_op[6] = {0};
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char op[32], name[64];
        int c, h, w, used = 0;
        ck_assert_int_eq(sscanf(line, "case %31s %63s %d %d %d%n", op, name, &c, &h, &w, &used), 5);
        const char *params = line + used;
        ck_assert_ptr_nonnull(fgets(in_line, sizeof in_line, f));
        ck_assert(strncmp(in_line, "in ", 3) == 0);
        float *in = parse_floats(in_line + 3, (size_t)c * h * w, name);
        static char oline[1 << 16];
        ck_assert_ptr_nonnull(fgets(oline, sizeof oline, f));
        int oh, ow, oused = 0;
        ck_assert_int_eq(sscanf(oline, "out %d %d%n", &oh, &ow, &oused), 2);
        float *want = parse_floats(oline + oused, (size_t)c * oh * ow, name);
        graft_image *im = NULL;
        ck_assert_int_eq(graft_image_import(ctx, w, h, c, 0, in, &im), GRAFT_OK);
        float tol = 2e-5f;
        if (strcmp(op, "affine") == 0) {
            double angle, fill;
            int tx, ty;
            ck_assert_int_eq(sscanf(params, "%lf %d %d %lf", &angle, &tx, &ty, &fill), 4);
            ck_assert_int_eq(graftImageEnsureSpare(im, "test", (size_t)c * w * h), GRAFT_OK);
            graftImageAffineRun(im, angle, tx, ty, (float)fill);
            tol = 1e-4f; /* torchvision's grid is float */
            by_op[0]++;
        } else if (strcmp(op, "saturation") == 0) {
            double fct;
            ck_assert_int_eq(sscanf(params, "%lf", &fct), 1);
            graftImageBlendGrey(im, (float)fct);
            by_op[1]++;
        } else if (strcmp(op, "hue") == 0) {
            double sh;
            ck_assert_int_eq(sscanf(params, "%lf", &sh), 1);
            graftImageHueShift(im, (float)sh);
            by_op[2]++;
        } else if (strcmp(op, "grey") == 0) {
            graftImageBlendGrey(im, 0.0f);
            by_op[3]++;
        } else if (strcmp(op, "pad") == 0) {
            int l, t, r, b;
            double fill;
            ck_assert_int_eq(sscanf(params, "%d %d %d %d %lf", &l, &t, &r, &b, &fill), 5);
            ck_assert_int_eq(graft_image_pad(im, l, t, r, b, (float)fill), GRAFT_OK);
            tol = 0.0f;
            by_op[4]++;
        } else if (strcmp(op, "letterbox") == 0) {
            int lw, lh;
            double fill;
            ck_assert_int_eq(sscanf(params, "%d %d %lf", &lw, &lh, &fill), 3);
            ck_assert_int_eq(graft_image_letterbox(im, lw, lh, (float)fill), GRAFT_OK);
            tol = 1e-4f;
            by_op[5]++;
        } else {
            ck_abort_msg("unknown op %s", op);
        }
        ck_assert_int_eq(graft_image_width(im), ow);
        ck_assert_int_eq(graft_image_height(im), oh);
        tu_assert_close(graft_image_data_const(im), want, (size_t)c * oh * ow, tol, 0, name);
        graft_image_free(im);
        free(in);
        free(want);
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 19);
    ck_assert_int_eq(by_op[0], 6);
    ck_assert_int_eq(by_op[5], 4);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- pad and letterbox by hand ------------------------------------------------- */

START_TEST(test_pad_and_letterbox_by_hand)
{
    graft_ctx *ctx = tu_ctx();
    const float px[4] = {1, 2, 3, 4}; /* 2 x 2, grey */
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_import(ctx, 2, 2, 1, 0, px, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_pad(im, 1, 0, 0, 1, 9.0f), GRAFT_OK);
    const float padded[9] = {9, 1, 2, 9, 3, 4, 9, 9, 9};
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 3);
    tu_assert_close(graft_image_data_const(im), padded, 9, 0, 0, "pad");
    ck_assert_int_eq(graft_image_pad(im, 0, 0, 0, 0, 1.0f), GRAFT_OK);
    tu_assert_close(graft_image_data_const(im), padded, 9, 0, 0, "pad 0");
    /* Errors leave the image as it was. */
    ck_assert_int_eq(graft_image_pad(im, -1, 0, 0, 0, 0.0f), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_pad(): left, top, right and bottom are -1, "
                                        "0, 0 and 0: each must be >= 0");
    ck_assert_int_eq(graft_image_pad(im, 0, 0, 0, 0, NAN), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_pad(im, 0, 0, 1 << 30, 0, 0.0f), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_image_pad(NULL, 0, 0, 0, 0, 0.0f), GRAFT_E_INVALID_ARG);
    tu_assert_close(graft_image_data_const(im), padded, 9, 0, 0, "after errors");
    graft_image_free(im);

    /* A 4 x 2 image into 4 x 4: same width, height 2, one row above and one below. */
    const float wide[8] = {1, 1, 2, 2, 3, 3, 4, 4};
    ck_assert_int_eq(graft_image_import(ctx, 4, 2, 1, 0, wide, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_letterbox(im, 4, 4, 0.5f), GRAFT_OK);
    const float boxed[16] = {.5f, .5f, .5f, .5f, 1, 1, 2, 2, 3, 3, 4, 4, .5f, .5f, .5f, .5f};
    tu_assert_close(graft_image_data_const(im), boxed, 16, 0, 0, "letterbox");
    /* Into 3 x 4: width 3, height round(2 * 3 / 4) = round(1.5) = 2, rows 1 and 2. */
    graft_image_free(im);
    ck_assert_int_eq(graft_image_import(ctx, 4, 2, 1, 0, wide, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_letterbox(im, 3, 4, 0.0f), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 4);
    const float *d = graft_image_data_const(im);
    for (int x = 0; x < 3; x++) {
        ck_assert_float_eq(d[x], 0.0f);
        ck_assert_float_eq(d[9 + x], 0.0f);
        ck_assert_float_ne(d[3 + x], 0.0f);
    }
    ck_assert_int_eq(graft_image_letterbox(im, 0, 4, 0.0f), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_image_letterbox(im, 4, 4, INFINITY), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_width(im), 3);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- the documented draws ---------------------------------------------------- */

/* Generator k of graft_augment_spec: the k-th output of a graftRng seeded
 * with seed seeds it. */
static void step_rng(uint64_t seed, int k, graftRng *out)
{
    graftRng m;
    graftRngSeed(&m, seed);
    uint64_t s = 0;
    for (int i = 0; i <= k; i++) s = graftRngNext(&m);
    graftRngSeed(out, s);
}

START_TEST(test_augment_draws_as_documented)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = random_image(ctx, 9, 7, 3, 5);
    for (uint64_t seed = 1; seed <= 6; seed++) {
        graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
        spec.seed = seed;
        spec.rotation = 30.0f;
        spec.translate_x = 0.2f;
        spec.translate_y = 0.3f;
        spec.fill = 0.25f;
        spec.saturation = 0.5f;
        spec.hue = 0.2f;
        spec.grayscale_prob = 0.5f;
        graft_image *got = NULL, *want = NULL;
        ck_assert_int_eq(graft_image_copy(src, &got), GRAFT_OK);
        ck_assert_int_eq(graft_image_copy(src, &want), GRAFT_OK);
        ck_assert_int_eq(graft_image_augment(got, &spec), GRAFT_OK);

        graftRng r;
        step_rng(seed, 4, &r);
        double angle = -30.0 + 60.0 * graftRngUniform(&r);
        double mx = (double)0.2f * 9, my = (double)0.3f * 7; /* the fields are floats */
        int tx = (int)lround(-mx + 2 * mx * graftRngUniform(&r));
        int ty = (int)lround(-my + 2 * my * graftRngUniform(&r));
        ck_assert_int_eq(graftImageEnsureSpare(want, "test", 9 * 7 * 3), GRAFT_OK);
        graftImageAffineRun(want, angle, tx, ty, 0.25f);
        step_rng(seed, 5, &r);
        graftImageBlendGrey(want, (float)(0.5 + graftRngUniform(&r)));
        step_rng(seed, 6, &r);
        graftImageHueShift(want, (float)(-(double)0.2f + 2 * (double)0.2f * graftRngUniform(&r)));
        step_rng(seed, 7, &r);
        if (graftRngUniform(&r) < 0.5f) graftImageBlendGrey(want, 0.0f);
        ck_assert_msg(same_pixels(got, want), "seed %d", (int)seed);
        graft_image_free(got);
        graft_image_free(want);
    }
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

/* Grey comes with about the probability asked for, and is grey; rotation
 * keeps a flat image flat when the fill is its value. */
START_TEST(test_augment_distributions)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = random_image(ctx, 4, 4, 3, 9);
    int grey = 0;
    for (uint64_t seed = 0; seed < 400; seed++) {
        graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
        spec.seed = seed;
        spec.grayscale_prob = 0.3f;
        graft_image *im = NULL;
        ck_assert_int_eq(graft_image_copy(src, &im), GRAFT_OK);
        ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_OK);
        const float *d = graft_image_data_const(im);
        int is_grey = memcmp(d, d + 16, 16 * sizeof(float)) == 0 &&
                      memcmp(d, d + 32, 16 * sizeof(float)) == 0;
        if (!is_grey) ck_assert(memcmp(d, graft_image_data_const(src), 48 * sizeof(float)) == 0);
        grey += is_grey;
        graft_image_free(im);
    }
    /* Binomial(400, 0.3): mean 120, sd 9.2; 80..160 is over 4 sd. */
    ck_assert_msg(grey > 80 && grey < 160, "%d grey of 400", grey);

    graft_image *flat = NULL;
    ck_assert_int_eq(graft_image_create(ctx, 6, 5, 1, &flat), GRAFT_OK);
    float *d = graft_image_data(flat);
    for (int i = 0; i < 30; i++) d[i] = 0.75f;
    for (uint64_t seed = 0; seed < 20; seed++) {
        graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
        spec.seed = seed;
        spec.rotation = 180.0f;
        spec.translate_x = 0.5f;
        spec.fill = 0.75f;
        ck_assert_int_eq(graft_image_augment(flat, &spec), GRAFT_OK);
        for (int i = 0; i < 30; i++) ck_assert_float_eq_tol(d[i], 0.75f, 1e-6f);
        d = graft_image_data(flat);
    }
    graft_image_free(flat);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

/* A caller compiled against 1.0 passes the smaller struct: the new steps
 * stay off and the result is the 1.0 one. */
START_TEST(test_augment_1_0_spec)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *src = random_image(ctx, 12, 10, 3, 3);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.seed = 77;
    spec.crop_width = 6;
    spec.crop_height = 5;
    spec.flip_prob = 0.5f;
    spec.brightness = 0.3f;
    spec.contrast = 0.3f;
    graft_image *a = NULL, *b = NULL;
    ck_assert_int_eq(graft_image_copy(src, &a), GRAFT_OK);
    ck_assert_int_eq(graft_image_copy(src, &b), GRAFT_OK);
    ck_assert_int_eq(graft_image_augment(a, &spec), GRAFT_OK);
    /* abi/libgraft.abi (1.0's baseline) gives 448 bits on x86-64. */
    if (sizeof(void *) == 8) ck_assert_uint_eq(SPEC_1_0_SIZE, 56);
    spec.struct_size = (uint32_t)SPEC_1_0_SIZE;
    /* Beyond the 1.0 fields (on LP64 in 1.0's tail padding): never read. */
    spec.rotation = 1000.0f;
    spec.hue = 7.0f;
    ck_assert_int_eq(graft_image_augment(b, &spec), GRAFT_OK);
    ck_assert(same_pixels(a, b));
    spec.struct_size = (uint32_t)SPEC_1_0_SIZE + 4;
    ck_assert_int_eq(graft_image_augment(b, &spec), GRAFT_E_VERSION);
    graft_image_free(a);
    graft_image_free(b);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_augment_new_field_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = random_image(ctx, 4, 4, 3, 1);
    graft_augment_spec spec = GRAFT_AUGMENT_SPEC_INIT;
    spec.rotation = 181.0f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_augment(): spec->rotation is 181, must be in [0, 180]");
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.hue = 0.6f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec->hue is 0.6, must be in [0, 0.5]");
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.translate_y = -0.1f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.saturation = NAN;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.grayscale_prob = 2.0f;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    spec.fill = INFINITY;
    ck_assert_int_eq(graft_image_augment(im, &spec), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_augment(): spec->fill is inf, must be finite");
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- presets ------------------------------------------------------------------ */

START_TEST(test_presets)
{
    ck_assert_str_eq(graft_augment_preset_name(GRAFT_AUGMENT_PRESET_NONE), "none");
    ck_assert_str_eq(graft_augment_preset_name(GRAFT_AUGMENT_PRESET_LIGHT), "light");
    ck_assert_str_eq(graft_augment_preset_name(GRAFT_AUGMENT_PRESET_STANDARD), "standard");
    ck_assert_str_eq(graft_augment_preset_name(GRAFT_AUGMENT_PRESET_STRONG), "strong");
    ck_assert_ptr_null(graft_augment_preset_name(4));
    ck_assert_ptr_null(graft_augment_preset_name(-1));

    graft_augment_spec s = GRAFT_AUGMENT_SPEC_INIT;
    s.seed = 42;
    s.hue = 0.3f;
    ck_assert_int_eq(graft_augment_preset(GRAFT_AUGMENT_PRESET_STANDARD, 224, 200, &s), GRAFT_OK);
    ck_assert_uint_eq(s.struct_size, sizeof s);
    ck_assert_uint_eq(s.seed, 42);
    ck_assert_int_eq(s.crop_width, 224);
    ck_assert_int_eq(s.crop_height, 200);
    /* The 1.0 folder augmentation's defaults. */
    graft_folder_opts fo = GRAFT_FOLDER_OPTS_INIT;
    ck_assert_float_eq(s.scale_min, fo.crop_scale_min);
    ck_assert_float_eq(s.scale_max, fo.crop_scale_max);
    ck_assert_float_eq(s.ratio_min, fo.crop_ratio_min);
    ck_assert_float_eq(s.ratio_max, fo.crop_ratio_max);
    ck_assert_float_eq(s.flip_prob, fo.flip_prob);
    ck_assert_float_eq(s.brightness, 0.0f);
    ck_assert_float_eq(s.hue, 0.0f); /* every field is set */

    ck_assert_int_eq(graft_augment_preset(GRAFT_AUGMENT_PRESET_STRONG, 32, 32, &s), GRAFT_OK);
    ck_assert_float_eq(s.rotation, 15.0f);
    ck_assert_float_eq(s.saturation, 0.4f);
    ck_assert_float_eq(s.hue, 0.1f);
    ck_assert_float_eq(s.grayscale_prob, 0.1f);
    ck_assert_int_eq(graft_augment_preset(GRAFT_AUGMENT_PRESET_LIGHT, 0, 0, &s), GRAFT_OK);
    ck_assert_int_eq(s.crop_width, 0);
    ck_assert_float_eq(s.scale_min, 0.35f);
    ck_assert_float_eq(s.rotation, 0.0f);

    /* NONE is the identity, whatever the crop size. */
    graft_ctx *ctx = tu_ctx();
    graft_image *src = random_image(ctx, 8, 6, 3, 2), *im = NULL;
    ck_assert_int_eq(graft_augment_preset(GRAFT_AUGMENT_PRESET_NONE, 4, 4, &s), GRAFT_OK);
    ck_assert_int_eq(graft_image_copy(src, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_augment(im, &s), GRAFT_OK);
    ck_assert(same_pixels(src, im));
    graft_image_free(im);
    /* Every preset gives a valid spec and the crop's size. */
    for (int p = 0; p < 4; p++) {
        ck_assert_int_eq(graft_augment_preset(p, 5, 3, &s), GRAFT_OK);
        ck_assert_int_eq(graft_image_copy(src, &im), GRAFT_OK);
        ck_assert_int_eq(graft_image_augment(im, &s), GRAFT_OK);
        ck_assert_int_eq(graft_image_width(im), p ? 5 : 8);
        ck_assert_int_eq(graft_image_height(im), p ? 3 : 6);
        graft_image_free(im);
    }

    /* A 1.0 struct gets the fields it has. */
    graft_augment_spec old = GRAFT_AUGMENT_SPEC_INIT;
    old.struct_size = (uint32_t)SPEC_1_0_SIZE;
    old.rotation = -7.0f;
    ck_assert_int_eq(graft_augment_preset(GRAFT_AUGMENT_PRESET_STRONG, 8, 8, &old), GRAFT_OK);
    ck_assert_float_eq(old.brightness, 0.4f);
    ck_assert_float_eq(old.rotation, -7.0f); /* 1.0's padding is not written */

    /* Errors write nothing. */
    s = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    ck_assert_int_eq(graft_augment_preset(9, 8, 8, &s), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_augment_preset(): preset is 9, must be a "
                                         "GRAFT_AUGMENT_PRESET_* value (0 to 3)");
    ck_assert_int_eq(graft_augment_preset(1, 8, 0, &s), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(s.crop_width, 0);
    ck_assert_int_eq(graft_augment_preset(1, 8, 8, NULL), GRAFT_E_INVALID_ARG);
    s.struct_size = 3;
    ck_assert_int_eq(graft_augment_preset(1, 8, 8, &s), GRAFT_E_VERSION);
    graft_image_free(src);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- allocation failures: all or nothing ----------------------------------------- */

typedef struct {
    long left; /* allocations that succeed before the next fails; < 0: all */
} budget;

static void *budget_alloc(void *opaque, size_t size)
{
    budget *b = opaque;
    if (b->left == 0) return NULL;
    if (b->left > 0) b->left--;
    return malloc(size);
}

static void budget_free(void *opaque, void *ptr)
{
    (void)opaque;
    free(ptr);
}

/* Runs op k = 0, 1, ... allocations into a fresh image until it succeeds:
 * each failure is GRAFT_E_NOMEM and leaves the image as it was. */
static void all_or_nothing(const char *what, int (*op)(graft_image *))
{
    budget b = {-1};
    graft_allocator a = GRAFT_ALLOCATOR_INIT;
    a.alloc = budget_alloc;
    a.free = budget_free;
    a.opaque = &b;
    graft_ctx *ctx = NULL;
    ck_assert_int_eq(graft_ctx_create_advanced(&a, &ctx), GRAFT_OK);
    graft_image *ref = random_image(ctx, 9, 7, 3, 12);
    int done = 0;
    for (long k = 0; k < 50 && !done; k++) {
        graft_image *im = NULL;
        ck_assert_int_eq(graft_image_copy(ref, &im), GRAFT_OK);
        b.left = k;
        int st = op(im);
        b.left = -1;
        if (st == GRAFT_OK) {
            done = 1;
        } else {
            ck_assert_msg(st == GRAFT_E_NOMEM, "%s: %d after %ld allocations", what, st, k);
            ck_assert_msg(same_pixels(im, ref), "%s changed the image on failure %ld", what, k);
        }
        graft_image_free(im);
    }
    ck_assert_msg(done, "%s never succeeded", what);
    graft_image_free(ref);
    graft_ctx_free(ctx);
}

static int op_pad(graft_image *im) { return graft_image_pad(im, 2, 1, 0, 3, 0.5f); }
static int op_letterbox(graft_image *im) { return graft_image_letterbox(im, 5, 5, 0.0f); }
static int op_augment(graft_image *im)
{
    graft_augment_spec s = GRAFT_AUGMENT_SPEC_INIT;
    ck_assert_int_eq(graft_augment_preset(GRAFT_AUGMENT_PRESET_STRONG, 6, 5, &s), GRAFT_OK);
    s.rotation = 40.0f;
    s.seed = 8;
    return graft_image_augment(im, &s);
}
static int op_rotate_only(graft_image *im)
{
    graft_augment_spec s = GRAFT_AUGMENT_SPEC_INIT;
    s.rotation = 40.0f;
    s.translate_x = 0.3f;
    return graft_image_augment(im, &s);
}

START_TEST(test_allocation_failures)
{
    all_or_nothing("graft_image_pad", op_pad);
    all_or_nothing("graft_image_letterbox", op_letterbox);
    all_or_nothing("graft_image_augment (strong)", op_augment);
    all_or_nothing("graft_image_augment (rotation)", op_rotate_only);
}
END_TEST

Suite *suite_image_augment(void)
{
    Suite *s = suite_create("image_augment");
    TCase *tc = tcase_create("torchvision");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_refs_match_torchvision);
    tcase_add_test(tc, test_pad_and_letterbox_by_hand);
    suite_add_tcase(s, tc);
    tc = tcase_create("draws");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_augment_draws_as_documented);
    tcase_add_test(tc, test_augment_distributions);
    tcase_add_test(tc, test_augment_1_0_spec);
    tcase_add_test(tc, test_augment_new_field_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("presets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_presets);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
