/*
 * check_dataset_idx.c - datasets read from IDX files (src/data/dataset_idx.c),
 * plain and gzip-compressed: values, header errors, absurd sizes, damaged
 * gzip data, every truncation, arguments, and Fashion-MNIST when installed.
 *
 * The fixtures are committed in GRAFT_TEST_DATA "/datasets" (written by
 * tests/data/datasets/make_fixtures.py, whose docstring lists their
 * values); crafted IDX headers are written by the tests in a fresh folder
 * under /tmp.
 */
#include "testutil.h"

#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURES GRAFT_TEST_DATA "/datasets/"
#define TINY_IMAGES FIXTURES "tiny-images-idx3-ubyte"
#define TINY_LABELS FIXTURES "tiny-labels-idx1-ubyte"
#define FASHION_DIR "/usr/share/datasets/fashion-mnist/"

/* ---- helpers ------------------------------------------------------------------ */

/* An IDX file image: magic 0 0 type rank, big-endian sizes, then data. */
static size_t make_idx(unsigned char *buf, int type, int rank, const uint32_t *dims,
                       const unsigned char *data, size_t n)
{
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)rank;
    size_t k = 4;
    for (int d = 0; d < rank; d++) {
        buf[k++] = (unsigned char)(dims[d] >> 24);
        buf[k++] = (unsigned char)(dims[d] >> 16);
        buf[k++] = (unsigned char)(dims[d] >> 8);
        buf[k++] = (unsigned char)dims[d];
    }
    if (n) memcpy(buf + k, data, n);
    return k + n;
}

/* ---- IDX ----------------------------------------------------------------------- */

/* The fixture's pixels (make_fixtures.py) and labels. */
static const unsigned char tiny_pixels[3][6] = {
    {0, 1, 2, 3, 4, 255}, {10, 11, 12, 13, 14, 15}, {200, 201, 202, 203, 204, 205}};
static const int32_t tiny_labels[3] = {2, 0, 1};

/* Asserts that ds holds the tiny fixture: shape (1, 2, 3), sample k's
 * element j = pixel * scale exactly (one float multiplication), labels. */
static void assert_tiny(graft_dataset *ds, float scale, int n_classes)
{
    ck_assert_int_eq(graft_dataset_size(ds), 3);
    ck_assert_int_eq(graft_dataset_class_count(ds), n_classes);
    const graftShape *s = &ds->src->sample_shape;
    ck_assert_int_eq(s->ndim, 4);
    ck_assert_int_eq(s->dims[1], 1);
    ck_assert_int_eq(s->dims[2], 2);
    ck_assert_int_eq(s->dims[3], 3);
    for (int k = 0; k < 3; k++) {
        float f[6];
        int32_t label = -1;
        ck_assert_int_eq(graft_dataset_get(ds, k, f, &label), GRAFT_OK);
        ck_assert_int_eq(label, tiny_labels[k]);
        for (int j = 0; j < 6; j++)
            ck_assert_msg(f[j] == (float)tiny_pixels[k][j] * scale,
                          "sample %d element %d is %g, expected %g", k, j, (double)f[j],
                          (double)((float)tiny_pixels[k][j] * scale));
    }
    ck_assert_int_eq(graft_dataset_is_deterministic(ds), 1);
}

START_TEST(test_idx_plain)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = NULL;
    const float scale = 1.0f / 255.0f;
    int st = graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, scale, 0, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    assert_tiny(ds, scale, 3); /* n_classes 0: max label 2 + 1 */
    /* 255 * (1/255) in float is exactly 1. */
    float f[6];
    ck_assert_int_eq(graft_dataset_get(ds, 0, f, NULL), GRAFT_OK);
    ck_assert_float_eq(f[5], 1.0f);
    ck_assert_float_eq(f[0], 0.0f);
    graft_dataset_free(ds);
    /* An explicit class count, and scale 1 gives the raw bytes. */
    ck_assert_int_eq(graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, 1.0f, 7, &ds),
                     GRAFT_OK);
    assert_tiny(ds, 1.0f, 7);
    ck_assert_int_eq(graft_dataset_get(ds, 2, f, NULL), GRAFT_OK);
    ck_assert_float_eq(f[0], 200.0f);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_idx_gzip)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = NULL;
    const float scale = 1.0f / 255.0f;
    int st = graft_dataset_from_idx(ctx, TINY_IMAGES ".gz", TINY_LABELS ".gz", scale, 0, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    assert_tiny(ds, scale, 3);
    graft_dataset_free(ds);
    /* One of each. */
    ck_assert_int_eq(graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS ".gz", scale, 0, &ds),
                     GRAFT_OK);
    assert_tiny(ds, scale, 3);
    graft_dataset_free(ds);
    /* A file of two gzip members (as `cat a.gz b.gz` makes) reads as one. */
    char dir[64], im[128];
    tu_make_dir(dir, sizeof dir, "idx");
    snprintf(im, sizeof im, "%s/two-members.gz", dir);
    size_t n;
    unsigned char *raw = tu_read_file(TINY_IMAGES, &n);
    char part[128];
    snprintf(part, sizeof part, "%s/p1.gz", dir);
    tu_write_gzip(part, "wb", raw, 20);
    size_t n1, n2;
    unsigned char *g1 = tu_read_file(part, &n1);
    tu_write_gzip(part, "wb", raw + 20, n - 20);
    unsigned char *g2 = tu_read_file(part, &n2);
    unsigned char both[512];
    memcpy(both, g1, n1);
    memcpy(both + n1, g2, n2);
    tu_write_file(im, both, n1 + n2);
    st = graft_dataset_from_idx(ctx, im, TINY_LABELS, scale, 0, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    assert_tiny(ds, scale, 3);
    graft_dataset_free(ds);
    free(raw);
    free(g1);
    free(g2);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* Writes an images file of the given header and data to dir/name and tries
 * to load it with the tiny labels; returns the status. */
static int try_images(graft_ctx *ctx, const char *path, int gzip, int type, int rank,
                      const uint32_t *dims, const unsigned char *data, size_t n,
                      int n_classes)
{
    unsigned char buf[256];
    size_t len = make_idx(buf, type, rank, dims, data, n);
    if (gzip) tu_write_gzip(path, "wb", buf, len);
    else tu_write_file(path, buf, len);
    graft_dataset *ds = (graft_dataset *)1;
    int st = graft_dataset_from_idx(ctx, path, TINY_LABELS, 1.0f, n_classes, &ds);
    ck_assert_ptr_null(ds);
    return st;
}

START_TEST(test_idx_header_errors)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], p[128], msg[640];
    tu_make_dir(dir, sizeof dir, "idx");
    snprintf(p, sizeof p, "%s/images", dir);
    const uint32_t good[3] = {3, 2, 3};
    unsigned char data[20];
    memcpy(data, tiny_pixels, 18);
    data[18] = data[19] = 7;

    /* Wrong magic: the first two bytes must be 0. */
    unsigned char bad_magic[34];
    make_idx(bad_magic, 0x08, 3, good, data, 18);
    bad_magic[0] = 1;
    tu_write_file(p, bad_magic, sizeof bad_magic);
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_idx(ctx, p, TINY_LABELS, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' is not an IDX file: it starts with "
             "bytes 0x01 0x00, expected 0x00 0x00", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* Unknown type code, and a known type graft does not read. */
    st = try_images(ctx, p, 0, 0x07, 3, good, data, 18, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s': unknown IDX type code 0x07", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    st = try_images(ctx, p, 0, 0x0D, 3, good, data, 18, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' holds 32-bit floats (IDX type 0x0d); "
             "only unsigned bytes (0x08) are supported", p);
    tu_expect_error(ctx, st, GRAFT_E_UNSUPPORTED, msg);

    /* Rank: images need 3, labels 1. */
    const uint32_t flat[2] = {3, 6};
    st = try_images(ctx, p, 0, 0x08, 2, flat, data, 18, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' has 2 dimensions, expected 3 (count, "
             "height, width)", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    char lp[128];
    snprintf(lp, sizeof lp, "%s/labels", dir);
    unsigned char lbuf[64];
    const uint32_t ldims[2] = {3, 1};
    tu_write_file(lp, lbuf, make_idx(lbuf, 0x08, 2, ldims, (const unsigned char *)"\2\0\1", 3));
    st = graft_dataset_from_idx(ctx, TINY_IMAGES, lp, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): labels file '%s' has 2 dimensions, expected 1 (count)",
             lp);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* A size of 0. */
    const uint32_t zero[3] = {3, 0, 3};
    st = try_images(ctx, p, 0, 0x08, 3, zero, data, 0, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s': size 1 of the header is 0", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* Truncated data (17 of 18 bytes), and data longer than announced. */
    st = try_images(ctx, p, 0, 0x08, 3, good, data, 17, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' is truncated: the header announces 18 "
             "bytes of data, the file holds 17", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    st = try_images(ctx, p, 0, 0x08, 3, good, data, 19, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' is longer than its header says: 18 "
             "bytes of data announced, 19 bytes follow the header", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    /* The same in gzip form, found while decompressing. */
    st = try_images(ctx, p, 1, 0x08, 3, good, data, 17, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' is truncated: the header announces 18 "
             "bytes of data, the file holds 17", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    st = try_images(ctx, p, 1, 0x08, 3, good, data, 20, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' is longer than its header says: more "
             "than the 18 bytes of data announced follow the header", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* Counts that disagree: 2 images, 3 labels. */
    const uint32_t two[3] = {2, 2, 3};
    st = try_images(ctx, p, 0, 0x08, 3, two, data, 12, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' holds 2 images but labels file '%s' "
             "holds 3 labels", p, TINY_LABELS);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* A label out of range: sample 0 has label 2. */
    st = graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, 1.0f, 2, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): labels file '%s': sample 0 has label 2, must be below "
             "n_classes 2", TINY_LABELS);
    tu_expect_error(ctx, st, GRAFT_E_RANGE, msg);

    /* A header shorter than its rank says, and a file shorter than a magic. */
    tu_write_file(p, "\0\0\x08\x03\0\0\0\x03\0\0\0\x02", 12);
    st = graft_dataset_from_idx(ctx, p, TINY_LABELS, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s': the header is truncated (8 of 12 "
             "bytes of sizes)", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    tu_write_file(p, "\0\0\x08", 3);
    st = graft_dataset_from_idx(ctx, p, TINY_LABELS, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' holds 3 bytes, too short for an IDX "
             "header (4 bytes of magic number)", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* A file that does not exist. */
    snprintf(lp, sizeof lp, "%s/missing", dir);
    st = graft_dataset_from_idx(ctx, TINY_IMAGES, lp, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): cannot open '%s': No such file or directory", lp);
    tu_expect_error(ctx, st, GRAFT_E_IO, msg);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* Headers announcing absurd sizes are refused before the data is allocated:
 * the largest allocation stays that of the readers' buffers. */
START_TEST(test_idx_absurd_dims)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    char dir[64], p[128], msg[640];
    tu_make_dir(dir, sizeof dir, "idx");
    snprintf(p, sizeof p, "%s/images", dir);
    const unsigned char data[6] = {1, 2, 3, 4, 5, 6};

    /* 4294967295^3 values: over 2^40 at the second size already. */
    const uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    int st = try_images(ctx, p, 0, 0x08, 3, huge, data, 6, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s': the header announces more than 2^40 "
             "values", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    /* (2^32 - 1) * 256 is just under 2^40; times 2^32 - 1 would wrap 64 bits. */
    const uint32_t wrap[3] = {0xFFFFFFFFu, 256, 0xFFFFFFFFu};
    st = try_images(ctx, p, 0, 0x08, 3, wrap, data, 6, 0);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* 60000 images of 28 x 28 in a 22-byte plain file. */
    const uint32_t mnist[3] = {60000, 28, 28};
    st = try_images(ctx, p, 0, 0x08, 3, mnist, data, 6, 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s' is truncated: the header announces "
             "47040000 bytes of data, the file holds 6", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);

    /* The same in a gzip file: more than 1032 times its size. */
    st = try_images(ctx, p, 1, 0x08, 3, mnist, data, 6, 0);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): images file '%s': the header announces 47040000 bytes "
             "of data, more than the %llu bytes a gzip file of %llu bytes can hold", p,
             (unsigned long long)sb.st_size * 1032, (unsigned long long)sb.st_size);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    ck_assert_msg(c.largest <= 65536, "largest allocation %zu bytes", c.largest);
    ck_assert_int_eq(c.allocs, c.frees + 1); /* the context itself */
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_idx_damaged_gzip)
{
    graft_ctx *ctx = tu_ctx();
    char dir[64], p[128], msg[640];
    tu_make_dir(dir, sizeof dir, "idx");
    snprintf(p, sizeof p, "%s/images.gz", dir);
    size_t n;
    unsigned char *gz = tu_read_file(TINY_IMAGES ".gz", &n);
    /* The CRC-32 of the data is the 8th to 5th bytes from the end. */
    gz[n - 8] ^= 0x55;
    tu_write_file(p, gz, n);
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_idx(ctx, p, TINY_LABELS, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): '%s': the gzip data is damaged (incorrect data check)", p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    /* Garbage after the member. */
    gz[n - 8] ^= 0x55;
    unsigned char more[128];
    memcpy(more, gz, n);
    memcpy(more + n, "junk", 4);
    tu_write_file(p, more, n + 4);
    st = graft_dataset_from_idx(ctx, p, TINY_LABELS, 1.0f, 0, &ds);
    snprintf(msg, sizeof msg,
             "graft_dataset_from_idx(): '%s': the gzip data is damaged (incorrect header check)",
             p);
    tu_expect_error(ctx, st, GRAFT_E_FORMAT, msg);
    free(gz);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

/* Every proper prefix of each fixture, plain and gzip, fails with
 * GRAFT_E_FORMAT and frees all it allocated. */
START_TEST(test_idx_every_truncation)
{
    tu_alloc_counter c = {0, 0, 0, 0};
    graft_ctx *ctx = tu_counting_ctx(&c);
    char dir[64], p[128];
    tu_make_dir(dir, sizeof dir, "idx");
    snprintf(p, sizeof p, "%s/cut", dir);
    const char *const files[4] = {TINY_IMAGES, TINY_IMAGES ".gz", TINY_LABELS,
                                  TINY_LABELS ".gz"};
    int tried = 0;
    for (int f = 0; f < 4; f++) {
        size_t n;
        unsigned char *all = tu_read_file(files[f], &n);
        const int is_images = f < 2;
        for (size_t len = 0; len < n; len++) {
            tu_write_file(p, all, len);
            graft_dataset *ds = (graft_dataset *)1;
            int st = is_images ? graft_dataset_from_idx(ctx, p, TINY_LABELS, 1.0f, 0, &ds)
                               : graft_dataset_from_idx(ctx, TINY_IMAGES, p, 1.0f, 0, &ds);
            ck_assert_msg(st == GRAFT_E_FORMAT, "%s cut to %zu bytes: status %d (%s)", files[f],
                          len, st, graft_errmsg(ctx));
            ck_assert_ptr_null(ds);
            ck_assert_int_eq(c.allocs, c.frees + 1); /* the context itself */
            tried++;
        }
        free(all);
    }
    ck_assert_int_eq(tried, 34 + 49 + 11 + 31);
    tu_rm_tree(dir);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_idx_arguments)
{
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_idx(NULL, TINY_IMAGES, TINY_LABELS, 1.0f, 0, &ds),
                     GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(NULL), "graft_dataset_from_idx(): ctx is NULL");
    tu_expect_error(ctx, graft_dataset_from_idx(ctx, NULL, TINY_LABELS, 1.0f, 0, &ds),
                    GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_idx(): images_path and labels_path must not be NULL");
    tu_expect_error(ctx, graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, 1.0f, 0, NULL),
                    GRAFT_E_INVALID_ARG, "graft_dataset_from_idx(): out is NULL");
    tu_expect_error(ctx, graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, 0.0f, 0, &ds),
                    GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_idx(): scale is 0, must be finite and > 0");
    tu_expect_error(ctx, graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, NAN, 0, &ds),
                    GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_idx(): scale is nan, must be finite and > 0");
    tu_expect_error(ctx, graft_dataset_from_idx(ctx, TINY_IMAGES, TINY_LABELS, 1.0f, -1, &ds),
                    GRAFT_E_INVALID_ARG,
                    "graft_dataset_from_idx(): n_classes is -1, must be >= 1 (or 0: max "
                    "label + 1)");
    graft_ctx_free(ctx);
}
END_TEST

/* Fashion-MNIST from Debian's dataset-fashion-mnist, when installed: its
 * test set has 10000 images of 28 x 28, 1000 of each of 10 classes. */
START_TEST(test_idx_fashion_mnist)
{
    const char *im = FASHION_DIR "t10k-images-idx3-ubyte.gz";
    const char *lb = FASHION_DIR "t10k-labels-idx1-ubyte.gz";
    if (access(im, R_OK) != 0 || access(lb, R_OK) != 0) {
        printf("check_dataset_idx: %s absent (package dataset-fashion-mnist); "
               "Fashion-MNIST test skipped\n", FASHION_DIR);
        return;
    }
    graft_ctx *ctx = tu_ctx();
    graft_dataset *ds = NULL;
    int st = graft_dataset_from_idx(ctx, im, lb, 1.0f / 255.0f, 0, &ds);
    ck_assert_msg(st == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_dataset_size(ds), 10000);
    ck_assert_int_eq(graft_dataset_class_count(ds), 10);
    ck_assert_int_eq(ds->src->sample_shape.dims[2], 28);
    ck_assert_int_eq(ds->src->sample_shape.dims[3], 28);
    int per_class[10] = {0};
    float *f = malloc(784 * sizeof *f);
    for (int64_t i = 0; i < 10000; i++) {
        int32_t label;
        ck_assert_int_eq(graft_dataset_get(ds, i, i < 5 ? f : NULL, &label), GRAFT_OK);
        per_class[label]++;
        if (i < 5)
            for (int k = 0; k < 784; k++) ck_assert(f[k] >= 0.0f && f[k] <= 1.0f);
    }
    for (int c = 0; c < 10; c++) ck_assert_int_eq(per_class[c], 1000);
    free(f);
    graft_dataset_free(ds);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_dataset_idx(void)
{
    const tu_named_test cases[] = {
        {"idx_plain", test_idx_plain},
        {"idx_gzip", test_idx_gzip},
        {"idx_header_errors", test_idx_header_errors},
        {"idx_absurd_dims", test_idx_absurd_dims},
        {"idx_damaged_gzip", test_idx_damaged_gzip},
        {"idx_every_truncation", test_idx_every_truncation},
        {"idx_arguments", test_idx_arguments},
        {"idx_fashion_mnist", test_idx_fashion_mnist},
    };
    Suite *s = suite_create("dataset_idx");
    tu_add_tcases(s, cases, sizeof cases / sizeof cases[0], 60);
    return s;
}
