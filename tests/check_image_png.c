/*
 * check_image_png.c - PNG decoding with libpng (src/data/image_png.c).
 *
 * Decoded pixels are compared with an independent decoder, pngtopnm (Debian
 * package netpbm), exactly, for every colour type, bit depth, palette,
 * transparency and interlacing the fixtures cover; known values; every
 * truncation and bit flip refused cleanly without printing; hostile sizes
 * refused before allocating; every allocation failure reported.
 * tests/make_image_fixtures.py writes the fixtures in tests/data/images.
 */
#include "testutil.h"

#include "core/crc32.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static const char *const png_fixtures[] = {
    "grey1.png",          "grey2.png",           "grey4.png",
    "grey8.png",          "grey16.png",          "grey8_trns.png",
    "grey_alpha8.png",    "grey_alpha16.png",    "rgb8.png",
    "rgb16.png",          "rgba8.png",           "rgba16.png",
    "palette1.png",       "palette2.png",        "palette4.png",
    "palette8.png",       "palette4_trns.png",   "rgb8_interlaced.png",
    "grey2_interlaced.png", "rgba16_interlaced.png", "palette2_interlaced_trns.png",
};

START_TEST(test_png_matches_pngtopnm)
{
    graft_ctx *ctx = tu_ctx();
    const char *name = png_fixtures[_i];
    tu_pnm ref = tu_pnm_tool("pngtopnm", name);
    /* The file's own kind: grey PNGs give 1 channel, the others 3. */
    graft_image *im = tu_image_load_fixture(ctx, name, 0);
    int grey = strncmp(name, "grey", 4) == 0;
    ck_assert_int_eq(graft_image_channels(im), grey ? 1 : 3);
    ck_assert_int_eq(ref.channels, grey ? 1 : 3);
    tu_compare_with_pnm(im, &ref, 0.0f, name);
    graft_image_free(im);
    /* Converted the other way: grey repeated, colour as BT.601 luma. */
    im = tu_image_load_fixture(ctx, name, grey ? 3 : 1);
    tu_compare_with_pnm(im, &ref, 0.0f, name);
    graft_image_free(im);
    /* From memory: the same pixels. */
    size_t size;
    unsigned char *bytes = tu_image_fixture(name, &size);
    graft_image *a = tu_image_load_fixture(ctx, name, 0), *b = NULL;
    ck_assert_int_eq(graft_image_load_buffer(ctx, bytes, size, NULL, &b), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(b), graft_image_channels(a));
    size_t n = (size_t)graft_image_channels(a) * graft_image_width(a) * graft_image_height(a);
    ck_assert_int_eq(memcmp(graft_image_data_const(a), graft_image_data_const(b),
                            n * sizeof(float)), 0);
    graft_image_free(a);
    graft_image_free(b);
    free(bytes);
    free(ref.v);
    graft_ctx_free(ctx);
}
END_TEST

/* tiny_rgb.png holds known values (see the generator): row 0 red, green,
 * blue; row 1 black, white, (51, 102, 153). */
START_TEST(test_png_known_values)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = tu_image_load_fixture(ctx, "tiny_rgb.png", 0);
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 2);
    ck_assert_int_eq(graft_image_channels(im), 3);
    const float want[18] = {
        1, 0, 0, 0, 1, 0.2f,    /* R plane */
        0, 1, 0, 0, 1, 0.4f,    /* G plane: 102 / 255 = 0.4 */
        0, 0, 1, 0, 1, 0.6f,    /* B plane: 153 / 255 = 0.6 */
    };
    tu_assert_close(graft_image_data_const(im), want, 18, 1e-7f, 0, "tiny_rgb planes");
    graft_image_free(im);
    /* As grey: Y = 0.299 R + 0.587 G + 0.114 B; for (51, 102, 153):
       0.299*0.2 + 0.587*0.4 + 0.114*0.6 = 0.0598 + 0.2348 + 0.0684 = 0.363 */
    im = tu_image_load_fixture(ctx, "tiny_rgb.png", 1);
    const float grey[6] = {0.299f, 0.587f, 0.114f, 0, 1, 0.363f};
    tu_assert_close(graft_image_data_const(im), grey, 6, 1e-6f, 0, "tiny_rgb as grey");
    graft_image_free(im);
    /* 16-bit samples keep their precision: v / 65535, not v >> 8. */
    im = tu_image_load_fixture(ctx, "grey16.png", 0);
    const float *d = graft_image_data_const(im);
    int fine = 0;
    for (int i = 0; i < 13 * 7; i++) {
        float v8 = roundf(d[i] * 255.0f) / 255.0f;
        if (fabsf(d[i] - v8) > 1e-5f) fine++;
    }
    ck_assert_int_gt(fine, 40);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_png_every_truncation) { tu_image_check_every_truncation("rgb8.png"); }
END_TEST

START_TEST(test_png_interlaced_every_truncation)
{
    tu_image_check_every_truncation("palette2_interlaced_trns.png");
}
END_TEST

/* Offsets [start, end) of the chunk of the given type in a PNG. */
static void png_chunk_span(const unsigned char *p, size_t size, const char *type, size_t *start,
                           size_t *end)
{
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t len = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
                       (uint32_t)p[pos + 2] << 8 | p[pos + 3];
        if (memcmp(p + pos + 4, type, 4) == 0) {
            *start = pos;
            *end = pos + 12 + len;
            return;
        }
        pos += 12 + len;
    }
    ck_abort_msg("no %s chunk", type);
}

/* Flips one bit in every byte. PNG: every critical chunk is covered by a
 * CRC (and the pixels by zlib's Adler-32), so each flip outside the tEXt
 * chunk must be refused; a flip in tEXt (ancillary) may be ignored. */
START_TEST(test_png_bit_flips)
{
    graft_ctx *ctx = tu_ctx();
    size_t size, text_start, text_end;
    unsigned char *bytes = tu_image_fixture("rgb8.png", &size);
    png_chunk_span(bytes, size, "tEXt", &text_start, &text_end);
    int refused = 0;
    tu_quiet q = tu_quiet_begin();
    for (size_t i = 0; i < size; i++) {
        int bit = (int)(i * 5 % 8);
        bytes[i] ^= (unsigned char)(1 << bit);
        graft_image *im = NULL;
        int st = graft_image_load_buffer(ctx, bytes, size, NULL, &im);
        bytes[i] ^= (unsigned char)(1 << bit);
        int in_text = i >= text_start && i < text_end;
        if ((st != GRAFT_E_FORMAT && !(in_text && st == GRAFT_OK)) ||
            (st == GRAFT_E_FORMAT && strstr(graft_errmsg(ctx), "<memory>: ") == NULL)) {
            tu_quiet_end(q);
            ck_abort_msg("bit %d of byte %zu flipped: status %d, \"%s\"", bit, i, st,
                         graft_errmsg(ctx));
        }
        refused += st == GRAFT_E_FORMAT;
        graft_image_free(im);
    }
    tu_quiet_end(q);
    ck_assert_int_ge(refused, (int)(size - (text_end - text_start)));
    free(bytes);
    graft_ctx_free(ctx);
}
END_TEST

/* A PNG header claiming 100000 x 100000 pixels (CRC recomputed) is refused
 * before any large allocation. */
START_TEST(test_png_hostile_dimensions)
{
    tu_alloc_counter cnt = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&cnt);
    size_t size;
    unsigned char *png = tu_image_fixture("rgb8.png", &size);
    /* IHDR: length at 8, type at 12, width at 16, height at 20, CRC at 29. */
    ck_assert_int_eq(memcmp(png + 12, "IHDR", 4), 0);
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    put_be32(png + 29, graftCrc32(0, png + 12, 17));
    graft_image *im = NULL;
    tu_quiet q = tu_quiet_begin();
    int st = graft_image_load_buffer(ctx, png, size, NULL, &im);
    tu_quiet_end(q);
    ck_assert_int_eq(st, GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: PNG of "
                                        "100000x100000 pixels is more than the limit of 268435456");
    ck_assert_uint_lt(cnt.largest, 1u << 20);
    free(png);

    ck_assert_int_eq(cnt.allocs - cnt.frees, 1); /* only the context is left */
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_png_out_of_memory) { tu_image_check_oom("rgb8_interlaced.png"); }
END_TEST

Suite *suite_image_png(void)
{
    Suite *s = suite_create("image_png");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_png_matches_pngtopnm, 0,
                        (int)(sizeof png_fixtures / sizeof png_fixtures[0]));
    tcase_add_test(tc, test_png_known_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_png_every_truncation);
    tcase_add_test(tc, test_png_interlaced_every_truncation);
    tcase_add_test(tc, test_png_bit_flips);
    tcase_add_test(tc, test_png_hostile_dimensions);
    tcase_add_test(tc, test_png_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
