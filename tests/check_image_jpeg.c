/*
 * check_image_jpeg.c - JPEG decoding with libjpeg(-turbo)
 * (src/data/image_jpeg.c).
 *
 * Decoded pixels are compared with an independent decoder, djpeg -pnm
 * (libjpeg-turbo-progs), within 1/255: baseline 4:2:0 and 4:4:4,
 * progressive, grey, CMYK and YCCK (made at run time); every truncation and
 * bit flip handled cleanly without printing; hostile sizes refused before
 * allocating; every allocation failure reported.
 * tests/make_image_fixtures.py writes the fixtures in tests/data/images.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static const char *const jpeg_fixtures[] = {
    "baseline420.jpg", "baseline444.jpg", "progressive.jpg", "grey.jpg", "cmyk.jpg", "small.jpg",
};

START_TEST(test_jpeg_matches_djpeg)
{
    graft_ctx *ctx = tu_ctx();
    const char *name = jpeg_fixtures[_i];
    tu_pnm ref = tu_pnm_tool("djpeg", name);
    int grey = strcmp(name, "grey.jpg") == 0;
    graft_image *im = tu_image_load_fixture(ctx, name, 0);
    ck_assert_int_eq(graft_image_channels(im), grey ? 1 : 3);
    ck_assert_int_eq(ref.channels, grey ? 1 : 3);
    tu_compare_with_pnm(im, &ref, 1.0f / 255.0f + 1e-6f, name);
    graft_image_free(im);
    im = tu_image_load_fixture(ctx, name, grey ? 3 : 1);
    tu_compare_with_pnm(im, &ref, 1.0f / 255.0f + 1e-6f, name);
    graft_image_free(im);
    free(ref.v);
    graft_ctx_free(ctx);
}
END_TEST

/* YCCK: a CMYK raster written by libjpeg with the YCCK transform (Adobe
 * marker, transform 2), made here at run time since Pillow cannot write it.
 * graft and djpeg must agree within 1/255. */
START_TEST(test_jpeg_ycck_matches_djpeg)
{
    enum { W = 19, H = 10 };
    unsigned char cmyk[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = cmyk + (y * W + x) * 4;
            p[0] = (unsigned char)(40 + 10 * x);
            p[1] = (unsigned char)(250 - 20 * y);
            p[2] = (unsigned char)(128 + 6 * (x - y));
            p[3] = (unsigned char)(100 + 7 * x + 5 * y);
        }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *jpg = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &jpg, &size);
    c.image_width = W;
    c.image_height = H;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = cmyk + c.next_scanline * W * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);

    char dir[64], path[600];
    tu_make_dir(dir, sizeof dir, "img");
    snprintf(path, sizeof path, "%s/ycck.jpg", dir);
    tu_write_file(path, jpg, size);
    free(jpg);
    tu_pnm ref = tu_pnm_tool_path("djpeg", path);
    ck_assert_int_eq(ref.channels, 3);
    graft_ctx *ctx = tu_ctx();
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(im), 3);
    tu_compare_with_pnm(im, &ref, 1.0f / 255.0f + 1e-6f, "ycck");
    /* And it is not a plain picture: R = C * K / 255 varies. */
    const float *d = graft_image_data_const(im);
    ck_assert(fabsf(d[0] - d[W - 1]) > 0.05f);
    graft_image_free(im);
    free(ref.v);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_jpeg_every_truncation) { tu_image_check_every_truncation("small.jpg"); }
END_TEST

START_TEST(test_progressive_jpeg_every_truncation)
{
    tu_image_check_every_truncation("progressive.jpg");
}
END_TEST

/* JPEG has no checksum: a flip may pass unnoticed (other pixels), but it
 * must never crash, leak or print, and the header flips must be refused. */
START_TEST(test_jpeg_bit_flips)
{
    graft_ctx *ctx = tu_ctx();
    size_t size;
    unsigned char *bytes = tu_image_fixture("small.jpg", &size);
    int refused = 0, passed = 0;
    tu_quiet q = tu_quiet_begin();
    for (size_t i = 0; i < size; i++) {
        int bit = (int)(i * 3 % 8);
        bytes[i] ^= (unsigned char)(1 << bit);
        graft_image *im = NULL;
        int st = graft_image_load_buffer(ctx, bytes, size, NULL, &im);
        bytes[i] ^= (unsigned char)(1 << bit);
        if (st != GRAFT_OK && st != GRAFT_E_FORMAT && st != GRAFT_E_UNSUPPORTED) {
            tu_quiet_end(q);
            ck_abort_msg("bit %d of byte %zu flipped: status %d, \"%s\"", bit, i, st,
                         graft_errmsg(ctx));
        }
        if (st == GRAFT_OK) {
            passed++;
            ck_assert_ptr_nonnull(im);
        } else {
            refused++;
            ck_assert_ptr_null(im);
        }
        graft_image_free(im);
    }
    tu_quiet_end(q);
    /* The first bytes (SOI, APP0 marker) cannot be changed unnoticed. */
    ck_assert_int_gt(refused, 3);
    ck_assert_int_gt(passed, 0);
    free(bytes);
    graft_ctx_free(ctx);
}
END_TEST

/* A JPEG claiming 65000 x 65000 pixels is refused before any large
 * allocation. */
START_TEST(test_jpeg_hostile_dimensions)
{
    tu_alloc_counter cnt = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&cnt);
    size_t size;
    graft_image *im = NULL;
    unsigned char *jpg = tu_image_fixture("small.jpg", &size);
    /* Walk the marker segments to the start of frame. */
    size_t sof = 0, pos = 2;
    while (pos + 4 <= size && jpg[pos] == 0xff) {
        if (jpg[pos + 1] >= 0xc0 && jpg[pos + 1] <= 0xc2) {
            sof = pos;
            break;
        }
        pos += 2 + ((size_t)jpg[pos + 2] << 8 | jpg[pos + 3]);
    }
    ck_assert_uint_gt(sof, 0);
    /* SOF: FF C0, length (2), precision (1), height (2), width (2). */
    jpg[sof + 5] = 0xfd;
    jpg[sof + 6] = 0xe8; /* 65000 */
    jpg[sof + 7] = 0xfd;
    jpg[sof + 8] = 0xe8;
    tu_quiet q = tu_quiet_begin();
    int st = graft_image_load_buffer(ctx, jpg, size, NULL, &im);
    tu_quiet_end(q);
    ck_assert_int_eq(st, GRAFT_E_FORMAT);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_load_buffer(): <memory>: JPEG of "
                                        "65000x65000 pixels is more than the limit of 268435456");
    ck_assert_uint_lt(cnt.largest, 1u << 20);
    free(jpg);
    ck_assert_int_eq(cnt.allocs - cnt.frees, 1); /* only the context is left */
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_jpeg_out_of_memory) { tu_image_check_oom("baseline420.jpg"); }
END_TEST

Suite *suite_image_jpeg(void)
{
    Suite *s = suite_create("image_jpeg");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_jpeg_matches_djpeg, 0,
                        (int)(sizeof jpeg_fixtures / sizeof jpeg_fixtures[0]));
    tcase_add_test(tc, test_jpeg_ycck_matches_djpeg);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_jpeg_every_truncation);
    tcase_add_test(tc, test_progressive_jpeg_every_truncation);
    tcase_add_test(tc, test_jpeg_bit_flips);
    tcase_add_test(tc, test_jpeg_hostile_dimensions);
    tcase_add_test(tc, test_jpeg_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
