/*
 * check_image_handle.c - the graft_image handle (src/data/image_handle.c):
 * creation, copy and the accessors, and moving pixels between an image and
 * caller memory (export and import in CHW or HWC, RGB or BGR) or tensors.
 */
#include "testutil.h"

#include <string.h>

START_TEST(test_export_layouts)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = tu_image_load_fixture(ctx, "tiny_rgb.png", 0);
    float out[18];
    /* CHW, RGB: the planes as stored. */
    ck_assert_int_eq(graft_image_export(im, 0, out, 18), GRAFT_OK);
    ck_assert_int_eq(memcmp(out, graft_image_data_const(im), sizeof out), 0);
    /* HWC, RGB: pixel (x=2, y=1) is (51, 102, 153) / 255 at 15..17. */
    ck_assert_int_eq(graft_image_export(im, GRAFT_IMAGE_HWC, out, 18), GRAFT_OK);
    const float hwc[18] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0.2f, 0.4f, 0.6f};
    tu_assert_close(out, hwc, 18, 1e-7f, 0, "HWC");
    /* HWC, BGR. */
    ck_assert_int_eq(graft_image_export(im, GRAFT_IMAGE_HWC | GRAFT_IMAGE_BGR, out, 18),
                     GRAFT_OK);
    const float hwc_bgr[18] = {0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0.6f, 0.4f, 0.2f};
    tu_assert_close(out, hwc_bgr, 18, 1e-7f, 0, "HWC BGR");
    /* CHW, BGR: the B plane first. */
    ck_assert_int_eq(graft_image_export(im, GRAFT_IMAGE_BGR, out, 18), GRAFT_OK);
    const float chw_bgr[18] = {0, 0, 1, 0, 1, 0.6f, 0, 1, 0, 0, 1, 0.4f, 1, 0, 0, 0, 1, 0.2f};
    tu_assert_close(out, chw_bgr, 18, 1e-7f, 0, "CHW BGR");
    /* Import is the inverse of export. */
    graft_image *back = NULL;
    ck_assert_int_eq(graft_image_import(ctx, 3, 2, 3, GRAFT_IMAGE_HWC | GRAFT_IMAGE_BGR, hwc_bgr,
                                        &back),
                     GRAFT_OK);
    ck_assert_int_eq(memcmp(graft_image_data_const(back), graft_image_data_const(im),
                            sizeof out),
                     0);
    graft_image_free(back);
    ck_assert_int_eq(graft_image_export(im, 0, out, 17), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_export(): count is 17, the image has 3 x 2 x 3 = 18 values");
    ck_assert_int_eq(graft_image_export(im, 4, out, 18), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_export(NULL, 0, out, 18), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_export(im, 0, NULL, 18), GRAFT_E_INVALID_ARG);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_tensor_export)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = tu_image_load_fixture(ctx, "tiny_rgb.png", 0);
    graft_tensor *t = NULL;
    ck_assert_int_eq(graft_image_to_tensor(im, 0, &t), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_ndim(t), 3);
    ck_assert_int_eq(graft_tensor_dim(t, 0), 3);
    ck_assert_int_eq(graft_tensor_dim(t, 1), 2);
    ck_assert_int_eq(graft_tensor_dim(t, 2), 3);
    ck_assert_int_eq(memcmp(graft_tensor_data_const(t), graft_image_data_const(im),
                            18 * sizeof(float)),
                     0);
    graft_tensor_free(t);
    ck_assert_int_eq(graft_image_to_tensor(im, GRAFT_IMAGE_BGR, &t), GRAFT_OK);
    ck_assert_float_eq(graft_tensor_data_const(t)[5], 0.6f); /* B of (51, 102, 153) first */
    ck_assert_float_eq(graft_tensor_data_const(t)[17], 0.2f);
    graft_tensor_free(t);
    ck_assert_int_eq(graft_image_to_tensor(im, GRAFT_IMAGE_HWC, &t), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(t);

    /* Slot 1 of a (3, 3, 2, 3) batch; the other slots keep their values. */
    graft_tensor *batch = tu_tensor(ctx, 4, 3, 3, 2, 3);
    ck_assert_int_eq(graft_tensor_fill(batch, -7.0f), GRAFT_OK);
    ck_assert_int_eq(graft_image_write_tensor(im, 0, batch, 1), GRAFT_OK);
    const float *b = graft_tensor_data_const(batch);
    for (int i = 0; i < 18; i++) {
        ck_assert_float_eq(b[i], -7.0f);
        ck_assert_float_eq(b[18 + i], graft_image_data_const(im)[i]);
        ck_assert_float_eq(b[36 + i], -7.0f);
    }
    ck_assert_int_eq(graft_image_write_tensor(im, 0, batch, 3), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_write_tensor(): n is 3, the batch has 3 slots");
    ck_assert_int_eq(graft_image_write_tensor(im, 0, batch, -1), GRAFT_E_RANGE);
    graft_tensor *wrong = tu_tensor(ctx, 4, 2, 3, 3, 2);
    ck_assert_int_eq(graft_image_write_tensor(im, 0, wrong, 0), GRAFT_E_SHAPE);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_write_tensor(): batch has shape (2, 3, 3, 2), expected (N, 3, "
                     "2, 3) for a 3x2 image of 3 channels");
    ck_assert_int_eq(graft_image_write_tensor(im, GRAFT_IMAGE_HWC, batch, 0), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_write_tensor(im, 0, NULL, 0), GRAFT_E_INVALID_ARG);
    graft_tensor_free(wrong);
    graft_tensor_free(batch);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_create_copy_accessors)
{
    graft_ctx *ctx = tu_ctx();
    graft_image *im = NULL, *cp = NULL;
    ck_assert_int_eq(graft_image_create(ctx, 4, 3, 1, &im), GRAFT_OK);
    for (int i = 0; i < 12; i++) ck_assert_float_eq(graft_image_data_const(im)[i], 0.0f);
    graft_image_data(im)[5] = 0.5f;
    ck_assert_int_eq(graft_image_copy(im, &cp), GRAFT_OK);
    ck_assert_float_eq(graft_image_data_const(cp)[5], 0.5f);
    graft_image_data(im)[5] = 0.25f; /* the copy is independent */
    ck_assert_float_eq(graft_image_data_const(cp)[5], 0.5f);
    ck_assert_int_eq(graft_image_convert(cp, 3), GRAFT_OK);
    ck_assert_int_eq(graft_image_channels(cp), 3);
    ck_assert_float_eq(graft_image_data_const(cp)[12 + 5], 0.5f);
    ck_assert_float_eq(graft_image_data_const(cp)[24 + 5], 0.5f);
    ck_assert_int_eq(graft_image_convert(cp, 2), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_image_width(NULL), 0);
    ck_assert_int_eq(graft_image_height(NULL), 0);
    ck_assert_int_eq(graft_image_channels(NULL), 0);
    ck_assert_ptr_null(graft_image_data(NULL));
    ck_assert_ptr_null(graft_image_data_const(NULL));
    graft_image *bad = (graft_image *)1;
    ck_assert_int_eq(graft_image_create(ctx, 0, 3, 1, &bad), GRAFT_E_RANGE);
    ck_assert_ptr_null(bad);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_image_create(): width and height must be >= 1 (got 0 x 3)");
    ck_assert_int_eq(graft_image_create(ctx, 65536, 65536, 1, &bad), GRAFT_E_RANGE);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_create(): 65536 x 65536 pixels is more than "
                                        "GRAFT_IMAGE_MAX_PIXELS (268435456)");
    ck_assert_int_eq(graft_image_create(ctx, 3, 3, 4, &bad), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_image_create(): channels is 4, must be 1 or 3");
    ck_assert_int_eq(graft_image_create(NULL, 3, 3, 1, &bad), GRAFT_E_INVALID_ARG);
    graft_image_free(NULL);
    graft_image_free(cp);
    graft_image_free(im);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_image_handle(void)
{
    Suite *s = suite_create("image_handle");
    TCase *tc = tcase_create("handle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_export_layouts);
    tcase_add_test(tc, test_tensor_export);
    tcase_add_test(tc, test_create_copy_accessors);
    suite_add_tcase(s, tc);
    return s;
}
