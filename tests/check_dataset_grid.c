/* check_dataset_grid.c - datasets cut from a sprite sheet
 * (src/data/dataset_grid.c), on sheets the tests generate and write with
 * graft_image_save_png(). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CW 5 /* cell width */
#define CH 4 /* cell height */
#define ROWS 3
#define COLS 4
#define MARGIN 1
#define SPACING 2

/* The 8-bit value of pixel (x, y) of cell (r, c), channel p. */
static int cell_value(int r, int c, int x, int y, int p)
{
    return (r * 61 + c * 17 + y * 7 + x * 3 + p * 29) % 256;
}

/* Writes a sheet of ROWS x COLS cells (channels 1 or 3) to dir/sheet.png;
 * pixels outside the cells are 255. */
static void write_sheet(graft_ctx *ctx, const char *path, int channels)
{
    const int w = 2 * MARGIN + COLS * CW + (COLS - 1) * SPACING + 3;
    const int h = 2 * MARGIN + ROWS * CH + (ROWS - 1) * SPACING + 1;
    graft_image *im = NULL;
    ck_assert_int_eq(graft_image_create(ctx, w, h, channels, &im), GRAFT_OK);
    float *px = graft_image_data(im);
    for (size_t k = 0; k < (size_t)w * h * channels; k++) px[k] = 1.0f;
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++)
            for (int p = 0; p < channels; p++)
                for (int y = 0; y < CH; y++)
                    for (int x = 0; x < CW; x++) {
                        int X = MARGIN + c * (CW + SPACING) + x, Y = MARGIN + r * (CH + SPACING) + y;
                        px[((size_t)p * h + Y) * w + X] = (float)cell_value(r, c, x, y, p) / 255.0f;
                    }
    ck_assert_int_eq(graft_image_save_png(im, path), GRAFT_OK);
    graft_image_free(im);
}

static graft_grid_opts sheet_opts(void)
{
    graft_grid_opts o = GRAFT_GRID_OPTS_INIT;
    o.cell_width = CW;
    o.cell_height = CH;
    o.margin = MARGIN;
    o.spacing = SPACING;
    return o;
}

START_TEST(test_rows_are_classes)
{
    graft_ctx *ctx = tu_ctx();
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "grid");
    snprintf(path, sizeof path, "%s/sheet.png", dir);
    write_sheet(ctx, path, 3);
    graft_grid_opts o = sheet_opts();
    o.scale = 255.0f;
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &o, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_size(ds), ROWS * COLS);
    ck_assert_int_eq(graft_dataset_class_count(ds), ROWS);
    ck_assert_int_eq(graft_dataset_is_deterministic(ds), 1);
    int ndim;
    int64_t dims[GRAFT_MAX_DIMS];
    ck_assert_int_eq(graft_dataset_sample_shape(ds, &ndim, dims), GRAFT_OK);
    ck_assert_int_eq(ndim, 3);
    ck_assert_int_eq(dims[0], 3);
    ck_assert_int_eq(dims[1], CH);
    ck_assert_int_eq(dims[2], CW);
    float f[3 * CH * CW];
    for (int k = 0; k < ROWS * COLS; k++) {
        int32_t lab;
        ck_assert_int_eq(graft_dataset_get(ds, k, f, &lab), GRAFT_OK);
        ck_assert_int_eq(lab, k / COLS);
        for (int p = 0; p < 3; p++)
            for (int y = 0; y < CH; y++)
                for (int x = 0; x < CW; x++)
                    ck_assert_float_eq_tol(f[(p * CH + y) * CW + x],
                                           (float)cell_value(k / COLS, k % COLS, x, y, p), 1e-4f);
    }
    graft_dataset_free(ds);
    /* columns as classes, grey, the first 10 cells */
    o.label_by = GRAFT_GRID_LABEL_COLUMN;
    o.channels = 1;
    o.count = 10;
    o.scale = 1.0f;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &o, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_size(ds), 10);
    ck_assert_int_eq(graft_dataset_class_count(ds), COLS);
    int32_t lab;
    ck_assert_int_eq(graft_dataset_get(ds, 9, f, &lab), GRAFT_OK);
    ck_assert_int_eq(lab, 1);
    graft_dataset_free(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_label_array_and_normalisation)
{
    graft_ctx *ctx = tu_ctx();
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "grid");
    snprintf(path, sizeof path, "%s/sheet.png", dir);
    write_sheet(ctx, path, 1);
    graft_grid_opts o = sheet_opts();
    int32_t labels[6] = {4, 0, 2, 2, 1, 0};
    o.label_by = GRAFT_GRID_LABEL_ARRAY;
    o.labels = labels;
    o.count = 6;
    o.rows = 2;
    o.columns = 3; /* fewer than fit */
    o.channels = 3;
    o.normalize = GRAFT_FOLDER_NORM_MEAN_STD;
    o.mean[0] = o.mean[1] = o.mean[2] = 0.5f;
    o.std[0] = o.std[1] = o.std[2] = 0.25f;
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &o, &ds), GRAFT_OK);
    ck_assert_int_eq(graft_dataset_class_count(ds), 5);
    float f[3 * CH * CW];
    int32_t lab;
    /* sample 4 is row 1, column 1 of the 3-column grid */
    ck_assert_int_eq(graft_dataset_get(ds, 4, f, &lab), GRAFT_OK);
    ck_assert_int_eq(lab, 1);
    float want = ((float)cell_value(1, 1, 2, 3, 0) / 255.0f - 0.5f) / 0.25f;
    ck_assert_float_eq_tol(f[(2 * CH + 3) * CW + 2], want, 1e-6f);
    graft_dataset_free(ds);
    /* a label at or above n_classes, naming the sample */
    o.n_classes = 3;
    tu_expect_error(ctx, graft_dataset_from_grid(ctx, path, &o, &ds), GRAFT_E_RANGE,
                    "graft_dataset_from_grid(): sample 0 (row 0, column 0) has label 4, must be "
                    "in [0, 3)");
    ck_assert_ptr_null(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_errors)
{
    graft_ctx *ctx = tu_ctx();
    char dir[256], path[300], missing[300];
    tu_make_dir(dir, sizeof dir, "grid");
    snprintf(path, sizeof path, "%s/sheet.png", dir);
    snprintf(missing, sizeof missing, "%s/none.png", dir);
    write_sheet(ctx, path, 1);
    graft_grid_opts o = sheet_opts();
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, NULL, &o, &ds), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, NULL, &ds), GRAFT_E_INVALID_ARG);
    graft_grid_opts bad = GRAFT_GRID_OPTS_INIT;
    tu_expect_error(ctx, graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_grid(): cell_width 0 and cell_height 0 must both be >= 1");
    bad = o;
    bad.struct_size = 8;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_VERSION);
    bad = o;
    bad.label_by = GRAFT_GRID_LABEL_ARRAY;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_INVALID_ARG);
    bad = o;
    bad.reserved[1] = 1;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_INVALID_ARG);
    bad = o;
    bad.normalize = GRAFT_FOLDER_NORM_IMAGENET; /* a grey sheet */
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_INVALID_ARG);
    bad = o;
    bad.rows = ROWS + 1;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_RANGE);
    bad = o;
    bad.count = ROWS * COLS + 1;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_RANGE);
    bad = o;
    bad.cell_width = 1000;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "no whole cell of 1000x4 pixels"));
    bad = o;
    bad.normalize = GRAFT_FOLDER_NORM_SCALE;
    bad.scale = 3e38f; /* 255/255 * 3e38 is finite, but overflow is checked anyway */
    bad.normalize = GRAFT_FOLDER_NORM_MEAN_STD;
    bad.std[0] = 1e-38f;
    bad.mean[0] = -1e30f;
    ck_assert_int_eq(graft_dataset_from_grid(ctx, path, &bad, &ds), GRAFT_E_NUMERIC);
    ck_assert_int_eq(graft_dataset_from_grid(ctx, missing, &o, &ds), GRAFT_E_IO);
    ck_assert_ptr_nonnull(strstr(graft_errmsg(ctx), "graft_dataset_from_grid(): "));
    ck_assert_ptr_null(ds);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* Each allocation of graft_dataset_from_grid() failed in turn (once, then for
 * good): GRAFT_E_NOMEM naming the function, no dataset, nothing leaked. */
START_TEST(test_allocation_failures)
{
    char dir[256], path[300];
    tu_make_dir(dir, sizeof dir, "grid");
    snprintf(path, sizeof path, "%s/sheet.png", dir);
    graft_ctx *plain = tu_ctx();
    write_sheet(plain, path, 3);
    graft_ctx_free(plain);
    for (int persistent = 0; persistent <= 1; persistent++) {
        long k = 1;
        for (;; k++) {
            tu_fail_heap h;
            graft_ctx *ctx = tu_fail_heap_ctx(&h);
            graft_grid_opts o = sheet_opts();
            graft_dataset *ds = (graft_dataset *)1;
            tu_fail_heap_arm(&h, k, persistent);
            int st = graft_dataset_from_grid(ctx, path, &o, &ds);
            const int injected = h.injected;
            tu_fail_heap_arm(&h, 0, 0);
            if (injected) {
                ck_assert_int_eq(st, GRAFT_E_NOMEM);
                ck_assert_ptr_null(ds);
                ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_dataset_from_grid(): ", 27) == 0,
                              "allocation %ld: %s", k, graft_errmsg(ctx));
            } else {
                ck_assert_int_eq(st, GRAFT_OK);
                graft_dataset_free(ds);
            }
            graft_ctx_free(ctx);
            ck_assert_int_eq(h.allocs, h.frees);
            if (!injected) break;
        }
        ck_assert_int_gt(k, 3);
    }
    tu_rm_tree(dir);
}
END_TEST

Suite *suite_dataset_grid(void)
{
    Suite *s = suite_create("dataset_grid");
    TCase *tc = tcase_create("grid");
    tcase_add_test(tc, test_rows_are_classes);
    tcase_add_test(tc, test_label_array_and_normalisation);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocation_failures");
    tcase_add_test(tc, test_allocation_failures);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}
