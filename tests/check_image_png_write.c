/* check_image_png_write.c - PNG encoding of images and tensors
 * (src/data/image_png_write.c): round trips through the decoder, the value
 * mapping, grids, and the errors. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A w x h image of channels with values uniform in [lo, hi) from seed. */
static graft_image *random_image(graft_ctx *ctx, int w, int h, int channels, float lo, float hi,
                                 uint64_t seed)
{
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_create(ctx, w, h, channels, &im), GRAFT_OK);
    graftRng rng;
    graftRngSeed(&rng, seed);
    float *p = graft_image_data(im);
    for (size_t k = 0; k < (size_t)w * h * channels; k++)
        p[k] = lo + (hi - lo) * graftRngUniform(&rng);
    return im;
}

START_TEST(test_image_round_trip_within_rounding)
{
    graft_ctx *ctx = tu_ctx();
    for (int channels = 1; channels <= 3; channels += 2) {
        graft_image *im = random_image(ctx, 13, 7, channels, 0.0f, 1.0f, 5 + channels);
        void *data = NULL;
        size_t size = 0;
        ck_assert_int_eq(graft_image_encode_png(im, &data, &size), GRAFT_OK);
        ck_assert_int_eq(graft_image_format(data, size), GRAFT_IMAGE_FORMAT_PNG);
        graft_image *back = NULL;
        ck_assert_int_eq(graft_image_load_buffer(ctx, data, size, NULL, &back), GRAFT_OK);
        ck_assert_int_eq(graft_image_width(back), 13);
        ck_assert_int_eq(graft_image_height(back), 7);
        ck_assert_int_eq(graft_image_channels(back), channels);
        const float *a = graft_image_data_const(im), *b = graft_image_data_const(back);
        for (size_t k = 0; k < (size_t)13 * 7 * channels; k++)
            ck_assert_float_le(fabsf(a[k] - b[k]), 0.5f / 255 + 1e-7f);
        /* a decoded 8-bit image comes back exactly, and so do its bytes */
        void *data2 = NULL;
        size_t size2 = 0;
        ck_assert_int_eq(graft_image_encode_png(back, &data2, &size2), GRAFT_OK);
        ck_assert_uint_eq(size2, size);
        ck_assert_int_eq(memcmp(data, data2, size), 0);
        graft_image *again = NULL;
        ck_assert_int_eq(graft_image_load_buffer(ctx, data2, size2, NULL, &again), GRAFT_OK);
        ck_assert_uint_eq(tu_first_bit_difference(graft_image_data_const(again), b,
                                                  (size_t)13 * 7 * channels),
                          (size_t)13 * 7 * channels);
        graft_buffer_free(ctx, data);
        graft_buffer_free(ctx, data2);
        graft_image_free(im);
        graft_image_free(back);
        graft_image_free(again);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_image_values_clamped_and_rounded)
{
    graft_ctx *ctx = tu_ctx();
    const float in[6] = {-3.0f, 0.0f, 0.5f / 255, 0.49f / 255, 1.0f, 7.0f};
    const float want[6] = {0.0f, 0.0f, 1.0f / 255, 0.0f, 1.0f, 1.0f};
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_import(ctx, 6, 1, 1, 0, in, &im), GRAFT_OK);
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "pngw");
    snprintf(path, sizeof path, "%s/a.png", dir);
    ck_assert_int_eq(graft_image_save_png(im, path), GRAFT_OK);
    graft_image *back = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &back), GRAFT_OK);
    for (int k = 0; k < 6; k++)
        ck_assert_float_eq(graft_image_data_const(back)[k], want[k]);
    ck_assert_int_eq(tu_count_entries(dir, NULL), 1); /* no temporary left */
    graft_image_free(im);
    graft_image_free(back);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_image_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = random_image(ctx, 4, 3, 3, 0.0f, 1.0f, 1);
    void *data = (void *)1;
    size_t size = 9;
    ck_assert_int_eq(graft_image_encode_png(NULL, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(graft_image_encode_png(im, NULL, &size), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_save_png(im, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_save_png(NULL, "/tmp/x.png"), GRAFT_E_INVALID_ARG);
    graft_image_data(im)[(1 * 3 + 2) * 4 + 3] = NAN;
    tu_expect_error(ctx, graft_image_encode_png(im, &data, &size), GRAFT_E_NUMERIC,
                    "graft_image_encode_png(): the value of channel 1 at row 2, column 3 is "
                    "NaN; a PNG needs finite values");
    graft_image_data(im)[(1 * 3 + 2) * 4 + 3] = 0.5f;
    /* an unwritable place: a folder that does not exist */
    int st = graft_image_save_png(im, "/nonexistent-graft-dir/a.png");
    ck_assert_int_eq(st, GRAFT_E_IO);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "graft_image_save_png()"));
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "/nonexistent-graft-dir/a.png"));
    graft_buffer_free(ctx, NULL);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tensor_mapping_and_shapes)
{
    graft_ctx *ctx = tu_ctx();
    /* (H, W) with lo -1, hi 1: -1 black, 0 mid grey (round(127.5) = 128), 1 white */
    const float v[4] = {-1.0f, 0.0f, 1.0f, 5.0f};
    int64_t d2[2] = {2, 2};
    graft_tensor *t = tu_tensor_from(ctx, 2, d2, v);
    void *data = NULL;
    size_t size = 0;
    ck_assert_int_eq(graft_tensor_encode_png(t, -1.0f, 1.0f, 0, &data, &size), GRAFT_OK);
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load_buffer(ctx, data, size, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(im), 1);
    const float want[4] = {0.0f, 128.0f / 255, 1.0f, 1.0f};
    for (int k = 0; k < 4; k++) ck_assert_float_eq(graft_image_data_const(im)[k], want[k]);
    graft_image_free(im);
    graft_buffer_free(ctx, data);
    graft_tensor_free(t);

    /* (C, H, W) of 2 and 4 channels: grey + alpha and RGBA decode with alpha dropped */
    for (int c = 2; c <= 4; c += 2) {
        graft_tensor *x = tu_tensor(ctx, 3, c, 3, 5);
        tu_fill_uniform(x, 3, 0.0f, 1.0f);
        ck_assert_int_eq(graft_tensor_encode_png(x, 0.0f, 1.0f, 0, &data, &size), GRAFT_OK);
        ck_assert_int_eq(graft_image_load_buffer(ctx, data, size, NULL, &im), GRAFT_OK);
        ck_assert_int_eq(graft_image_channels(im), c == 2 ? 1 : 3);
        const float *a = graft_tensor_data_const(x), *b = graft_image_data_const(im);
        for (int k = 0; k < (c == 2 ? 1 : 3) * 15; k++)
            ck_assert_float_le(fabsf(a[k] - b[k]), 0.5f / 255 + 1e-7f);
        graft_image_free(im);
        graft_buffer_free(ctx, data);
        graft_tensor_free(x);
    }
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tensor_grid)
{
    graft_ctx *ctx = tu_ctx();
    /* 5 RGB samples of 2x3, sample n filled with (n + 1) / 8 (channel 0),
     * 0 (1), 1 (2): columns 0 gives ceil(sqrt(5)) = 3 columns, 2 rows */
    graft_tensor *x = tu_tensor(ctx, 4, 5, 3, 2, 3);
    float *p = graft_tensor_data(x);
    for (int n = 0; n < 5; n++)
        for (int k = 0; k < 6; k++) {
            p[(n * 3 + 0) * 6 + k] = (float)(n + 1) / 8;
            p[(n * 3 + 1) * 6 + k] = 0.0f;
            p[(n * 3 + 2) * 6 + k] = 1.0f;
        }
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "pngw");
    snprintf(path, sizeof path, "%s/grid.png", dir);
    ck_assert_int_eq(graft_tensor_save_png(x, path, 0.0f, 1.0f, 0), GRAFT_OK);
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 9);
    ck_assert_int_eq(graft_image_height(im), 4);
    const float *q = graft_image_data_const(im);
    for (int y = 0; y < 4; y++)
        for (int xx = 0; xx < 9; xx++) {
            int n = (y / 2) * 3 + xx / 3;
            float r = n < 5 ? floorf(255.0f * (float)(n + 1) / 8 + 0.5f) / 255 : 0.0f;
            float b = n < 5 ? 1.0f : 0.0f;
            ck_assert_float_eq(q[(0 * 4 + y) * 9 + xx], r);
            ck_assert_float_eq(q[(1 * 4 + y) * 9 + xx], 0.0f);
            ck_assert_float_eq(q[(2 * 4 + y) * 9 + xx], b);
        }
    graft_image_free(im);
    /* one column: 5 cells down */
    ck_assert_int_eq(graft_tensor_save_png(x, path, 0.0f, 1.0f, 1), GRAFT_OK);
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 3);
    ck_assert_int_eq(graft_image_height(im), 10);
    graft_image_free(im);
    /* more columns than samples: one row */
    ck_assert_int_eq(graft_tensor_save_png(x, path, 0.0f, 1.0f, 9), GRAFT_OK);
    ck_assert_int_eq(graft_image_load(ctx, path, NULL, &im), GRAFT_OK);
    ck_assert_int_eq(graft_image_width(im), 15);
    ck_assert_int_eq(graft_image_height(im), 2);
    graft_image_free(im);
    graft_tensor_free(x);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tensor_errors)
{
    graft_ctx *ctx = tu_ctx();
    void *data = NULL;
    size_t size = 0;
    graft_tensor *x = tu_tensor(ctx, 3, 5, 2, 2);
    tu_expect_error(ctx, graft_tensor_encode_png(x, 0.0f, 1.0f, 0, &data, &size), GRAFT_E_SHAPE,
                    "graft_tensor_encode_png(): the tensor has shape (5, 2, 2); a PNG is drawn "
                    "from (H, W), (C, H, W) or (N, C, H, W) with C 1 to 4");
    graft_tensor_free(x);
    x = tu_tensor(ctx, 1, 7);
    ck_assert_int_eq(graft_tensor_encode_png(x, 0.0f, 1.0f, 0, &data, &size), GRAFT_E_SHAPE);
    graft_tensor_free(x);
    x = tu_tensor(ctx, 2, 2, 2);
    ck_assert_int_eq(graft_tensor_encode_png(x, 1.0f, 1.0f, 0, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_tensor_encode_png(x, 0.0f, INFINITY, 0, &data, &size),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_tensor_encode_png(x, 0.0f, 1.0f, -1, &data, &size),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_tensor_encode_png(NULL, 0.0f, 1.0f, 0, &data, &size),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_tensor_save_png(x, NULL, 0.0f, 1.0f, 0), GRAFT_E_INVALID_ARG);
    graft_tensor_data(x)[3] = -INFINITY;
    tu_expect_error(ctx, graft_tensor_save_png(x, "/tmp/never.png", 0.0f, 1.0f, 0),
                    GRAFT_E_NUMERIC,
                    "graft_tensor_save_png(): element 3 is -inf; a PNG needs finite values");
    ck_assert_int_eq(access("/tmp/never.png", F_OK), -1);
    graft_tensor_free(x);
    /* too large a picture is refused before any value is read (the view
     * over one float is never read) */
    int64_t big[4] = {1 << 15, 1, 1, 1 << 14};
    graft_tensor *v = NULL;
    static float one;
    ck_assert_int_eq(graft_tensor_create_view(ctx, 4, big, &one, &v), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_encode_png(v, 0.0f, 1.0f, 1, &data, &size), GRAFT_E_RANGE);
    graft_tensor_free(v);
    graft_ctx_free(ctx);
}
END_TEST

/* Fails each allocation of encoding (once, then for good from it on): every
 * failure is GRAFT_E_NOMEM naming the function, with nothing returned and
 * nothing leaked; the image still encodes afterwards. */
START_TEST(test_allocation_failures)
{
    for (int persistent = 0; persistent <= 1; persistent++) {
        long k = 1;
        for (;; k++) {
            tu_fail_heap h;
            graft_ctx *ctx = tu_fail_heap_ctx(&h);
            graft_image *im = random_image(ctx, 9, 5, 3, 0.0f, 1.0f, 2);
            int64_t d[4] = {2, 1, 3, 3};
            graft_tensor *t = NULL;
            ck_assert_int_eq(graft_tensor_create(ctx, 4, d, &t), GRAFT_OK);
            void *data = (void *)1;
            size_t size = 7;
            tu_fail_heap_arm(&h, k, persistent);
            int st = graft_image_encode_png(im, &data, &size);
            const int injected = h.injected;
            tu_fail_heap_arm(&h, 0, 0);
            if (injected) {
                ck_assert_int_eq(st, GRAFT_E_NOMEM);
                ck_assert_ptr_null(data);
                ck_assert_uint_eq(size, 0);
                ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_image_encode_png(): ", 26) == 0,
                              "allocation %ld: %s", k, graft_errmsg(ctx));
                ck_assert_int_eq(graft_image_encode_png(im, &data, &size), GRAFT_OK);
            } else {
                ck_assert_int_eq(st, GRAFT_OK);
            }
            graft_buffer_free(ctx, data);
            tu_fail_heap_arm(&h, k, persistent);
            st = graft_tensor_encode_png(t, 0.0f, 1.0f, 0, &data, &size);
            tu_fail_heap_arm(&h, 0, 0);
            if (st == GRAFT_OK) graft_buffer_free(ctx, data);
            else ck_assert_int_eq(st, GRAFT_E_NOMEM);
            graft_tensor_free(t);
            graft_image_free(im);
            graft_ctx_free(ctx);
            ck_assert_int_eq(h.allocs, h.frees);
            if (!injected) break;
        }
        ck_assert_int_gt(k, 3); /* libpng, zlib and the output did allocate */
    }
}
END_TEST

Suite *suite_image_png_write(void)
{
    Suite *s = suite_create("image_png_write");
    TCase *tc = tcase_create("image");
    tcase_add_test(tc, test_image_round_trip_within_rounding);
    tcase_add_test(tc, test_image_values_clamped_and_rounded);
    tcase_add_test(tc, test_image_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("tensor");
    tcase_add_test(tc, test_tensor_mapping_and_shapes);
    tcase_add_test(tc, test_tensor_grid);
    tcase_add_test(tc, test_tensor_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocation_failures");
    tcase_add_test(tc, test_allocation_failures);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
