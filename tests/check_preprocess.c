/* check_preprocess.c - the input preprocessing a model carries
 * (src/model/preprocess.c): setting and reading it, the folder options it
 * gives, its PREP section in model files (src/model/model_io.c,
 * docs/FORMAT.md section 3.5), and predicting one image with it. */
#include "testutil.h"

#include "core/crc32.h"
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IMAGES GRAFT_TEST_DATA "/images/"

/* input (channels, h, w) - flatten - dense(classes), seeded. */
static graft_model *image_model(graft_ctx *ctx, int channels, int h, int w, int classes)
{
    const int64_t dims[3] = {channels, h, w};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 5, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, classes, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

static graft_preprocess byte_preprocess(int channels, int h, int w)
{
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    p.channels = channels;
    p.height = h;
    p.width = w;
    p.scale = 255.0f;
    return p;
}

static void assert_same_preprocess(const graft_preprocess *a, const graft_preprocess *b)
{
    ck_assert_int_eq(a->channels, b->channels);
    ck_assert_int_eq(a->width, b->width);
    ck_assert_int_eq(a->height, b->height);
    ck_assert_int_eq(a->resize, b->resize);
    ck_assert_int_eq(a->shorter_side, b->shorter_side);
    ck_assert_int_eq(a->normalize, b->normalize);
    ck_assert(memcmp(&a->scale, &b->scale, sizeof a->scale) == 0);
    ck_assert(memcmp(a->mean, b->mean, sizeof a->mean) == 0);
    ck_assert(memcmp(a->std, b->std, sizeof a->std) == 0);
}

static unsigned char *save_bytes(graft_model *m, size_t *n)
{
    void *data = NULL;
    ck_assert_msg(graft_model_save_buffer(m, &data, n) == GRAFT_OK, "%s", graft_errmsg(m->ctx));
    unsigned char *copy = malloc(*n);
    memcpy(copy, data, *n);
    graft_buffer_free(m->ctx, data);
    return copy;
}

/* ---- the API ------------------------------------------------------------------------ */

START_TEST(test_set_get_and_folder_opts)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = image_model(ctx, 3, 6, 5, 4);
    graft_preprocess got = GRAFT_PREPROCESS_INIT;
    tu_expect_error(ctx, graft_model_get_preprocess(m, &got), GRAFT_E_NOT_FOUND,
                    "graft_model_get_preprocess(): the model has no preprocessing (set one with "
                    "graft_model_set_preprocess())");
    graft_folder_opts fo = GRAFT_FOLDER_OPTS_INIT;
    ck_assert_int_eq(graft_model_folder_opts(m, &fo), GRAFT_E_NOT_FOUND);
    ck_assert_int_eq(fo.width, 224); /* unchanged */

    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    p.height = 6;
    p.width = 5;
    p.resize = GRAFT_FOLDER_RESIZE_STRETCH;
    p.normalize = GRAFT_FOLDER_NORM_MEAN_STD;
    p.mean[0] = 0.5f, p.mean[1] = 0.25f, p.mean[2] = 0.125f;
    p.std[0] = 2.0f, p.std[1] = 0.5f, p.std[2] = 0.25f;
    ck_assert_msg(graft_model_set_preprocess(m, &p) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_get_preprocess(m, &got), GRAFT_OK);
    assert_same_preprocess(&p, &got);
    ck_assert_uint_eq(got.struct_size, sizeof got);

    fo.augment = 1;
    fo.threads = 3;
    ck_assert_int_eq(graft_model_folder_opts(m, &fo), GRAFT_OK);
    ck_assert_int_eq(fo.channels, 3);
    ck_assert_int_eq(fo.width, 5);
    ck_assert_int_eq(fo.height, 6);
    ck_assert_int_eq(fo.resize, GRAFT_FOLDER_RESIZE_STRETCH);
    ck_assert_int_eq(fo.normalize, GRAFT_FOLDER_NORM_MEAN_STD);
    ck_assert(fo.mean[1] == 0.25f && fo.std[2] == 0.25f);
    ck_assert_int_eq(fo.augment, 1); /* not a preprocessing field: kept */
    ck_assert_int_eq(fo.threads, 3);

    /* Refusals leave the model's preprocessing as it was. */
    graft_preprocess bad = p;
    bad.width = 6;
    tu_expect_error(ctx, graft_model_set_preprocess(m, &bad), GRAFT_E_SHAPE,
                    "graft_model_set_preprocess(): preprocess gives images of (3, 6, 6) "
                    "(channels, height, width), but the model's input is another shape");
    bad = p;
    bad.channels = 2;
    tu_expect_error(ctx, graft_model_set_preprocess(m, &bad), GRAFT_E_INVALID_ARG,
                    "graft_model_set_preprocess(): preprocess->channels is 2, must be 1 or 3");
    bad = p;
    bad.std[1] = 0.0f;
    ck_assert_int_eq(graft_model_set_preprocess(m, &bad), GRAFT_E_INVALID_ARG);
    bad = p;
    bad.scale = NAN;
    ck_assert_int_eq(graft_model_set_preprocess(m, &bad), GRAFT_E_INVALID_ARG);
    bad = p;
    bad.shorter_side = 4;
    ck_assert_int_eq(graft_model_set_preprocess(m, &bad), GRAFT_E_INVALID_ARG);
    bad = p;
    bad.reserved[2] = 1;
    ck_assert_int_eq(graft_model_set_preprocess(m, &bad), GRAFT_E_INVALID_ARG);
    bad = p;
    bad.struct_size = 12;
    ck_assert_int_eq(graft_model_set_preprocess(m, &bad), GRAFT_E_VERSION);
    got.struct_size = 12;
    ck_assert_int_eq(graft_model_get_preprocess(m, &got), GRAFT_E_VERSION);
    ck_assert_int_eq(graft_model_set_preprocess(NULL, &p), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_get_preprocess(m, NULL), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_folder_opts(NULL, &fo), GRAFT_E_INVALID_ARG);
    got = (graft_preprocess)GRAFT_PREPROCESS_INIT;
    ck_assert_int_eq(graft_model_get_preprocess(m, &got), GRAFT_OK);
    assert_same_preprocess(&p, &got);

    /* ImageNet needs colour; a grey model takes a grey description. */
    graft_model *g = image_model(ctx, 1, 4, 4, 2);
    graft_preprocess gp = byte_preprocess(1, 4, 4);
    gp.normalize = GRAFT_FOLDER_NORM_IMAGENET;
    ck_assert_int_eq(graft_model_set_preprocess(g, &gp), GRAFT_E_INVALID_ARG);
    gp.normalize = GRAFT_FOLDER_NORM_SCALE;
    ck_assert_int_eq(graft_model_set_preprocess(g, &gp), GRAFT_OK);
    /* A model whose input is not an image takes none. */
    const int64_t flat[1] = {8};
    graft_model *v = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 1, flat, 0, &v), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_preprocess(v, &gp), GRAFT_E_SHAPE);

    /* NULL removes it. */
    ck_assert_int_eq(graft_model_set_preprocess(m, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_preprocess(m, &got), GRAFT_E_NOT_FOUND);
    graft_model_free(v);
    graft_model_free(g);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- model files --------------------------------------------------------------------- */

START_TEST(test_saved_and_loaded)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = image_model(ctx, 3, 6, 5, 4), *b = NULL;
    graft_preprocess p = byte_preprocess(3, 6, 5), got = GRAFT_PREPROCESS_INIT;
    p.shorter_side = 9;
    ck_assert_int_eq(graft_model_set_preprocess(a, &p), GRAFT_OK);

    /* Through a file. */
    char dir[64], path[128];
    tu_make_dir(dir, sizeof dir, "prep");
    snprintf(path, sizeof path, "%s/m.graft", dir);
    ck_assert_int_eq(graft_model_save(a, path), GRAFT_OK);
    ck_assert_msg(graft_model_load(ctx, path, &b) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_get_preprocess(b, &got), GRAFT_OK);
    assert_same_preprocess(&p, &got);
    graft_model_free(b);

    /* The buffer holds the file's bytes; the format stays canonical. */
    size_t nf, nb, n2;
    unsigned char *file = tu_read_file(path, &nf), *buf = save_bytes(a, &nb);
    ck_assert_uint_eq(nf, nb);
    ck_assert(memcmp(file, buf, nf) == 0);
    ck_assert_int_eq(graft_model_load_buffer(ctx, buf, nb, &b), GRAFT_OK);
    unsigned char *again = save_bytes(b, &n2);
    ck_assert_uint_eq(n2, nb);
    ck_assert(memcmp(again, buf, nb) == 0);
    graft_model_free(b);

    /* PREP is written required (flags 1: older readers refuse the file) and
     * its payload is 56 bytes. */
    const unsigned char *prep = NULL;
    for (size_t i = 16; i + 4 <= nb; i++)
        if (memcmp(buf + i, "PREP", 4) == 0) prep = buf + i;
    ck_assert_ptr_nonnull(prep);
    ck_assert(prep[4] == 1 && prep[5] == 0 && prep[6] == 0 && prep[7] == 0);
    ck_assert(prep[8] == 56 && prep[9] == 0);

    /* Without preprocessing there is no PREP section: the 1.0 to 1.2 bytes. */
    ck_assert_int_eq(graft_model_set_preprocess(a, NULL), GRAFT_OK);
    unsigned char *plain = save_bytes(a, &n2);
    ck_assert_uint_eq(n2, nb - 76);
    ck_assert_int_eq(graft_model_load_buffer(ctx, plain, n2, &b), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_preprocess(b, &got), GRAFT_E_NOT_FOUND);
    graft_model_free(b);

    /* Checkpoints carry it too. */
    ck_assert_int_eq(graft_model_set_preprocess(a, &p), GRAFT_OK);
    graft_optim *o = NULL, *ob = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &o), GRAFT_OK);
    void *ck = NULL;
    size_t nck = 0;
    ck_assert_int_eq(graft_checkpoint_save_buffer(a, o, &ck, &nck), GRAFT_OK);
    ck_assert_msg(graft_checkpoint_load_buffer(ctx, ck, nck, &b, &ob) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_get_preprocess(b, &got), GRAFT_OK);
    assert_same_preprocess(&p, &got);
    graft_buffer_free(ctx, ck);
    graft_optim_free(ob);
    graft_optim_free(o);
    graft_model_free(b);
    free(plain);
    free(again);
    free(buf);
    free(file);
    tu_rm_tree(dir);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* A file an earlier graft wrote (the fuzz seed, committed before 1.3) has
 * no PREP section: it loads, without preprocessing, and takes one. */
START_TEST(test_older_file_loads_without_preprocessing)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL, *b = NULL;
    ck_assert_msg(graft_model_load(ctx, GRAFT_TEST_DATA "/../fuzz/corpus/model/cnn.graft", &m) ==
                      GRAFT_OK,
                  "%s", graft_errmsg(ctx));
    graft_preprocess got = GRAFT_PREPROCESS_INIT;
    ck_assert_int_eq(graft_model_get_preprocess(m, &got), GRAFT_E_NOT_FOUND);
    float probs[8];
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "grey8.png", 0, NULL, probs),
                     GRAFT_E_STATE);
    graft_preprocess p = byte_preprocess(1, 6, 6);
    ck_assert_int_eq(graft_model_set_preprocess(m, &p), GRAFT_OK);
    size_t n;
    unsigned char *bytes = save_bytes(m, &n);
    ck_assert_int_eq(graft_model_load_buffer(ctx, bytes, n, &b), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_preprocess(b, &got), GRAFT_OK);
    assert_same_preprocess(&p, &got);
    ck_assert_int_eq(graft_model_predict_image(b, IMAGES "grey8.png", 0, NULL, probs), GRAFT_OK);
    free(bytes);
    graft_model_free(b);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_every_truncation_and_flip_refused)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = image_model(ctx, 3, 6, 5, 4);
    graft_preprocess p = byte_preprocess(3, 6, 5);
    ck_assert_int_eq(graft_model_set_preprocess(a, &p), GRAFT_OK);
    size_t n;
    unsigned char *bytes = save_bytes(a, &n);
    for (size_t len = 0; len < n; len++) {
        graft_model *m = (graft_model *)1;
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, bytes, len);
        int st = graft_model_load_buffer(ctx, cut, len, &m);
        ck_assert_msg(st == GRAFT_E_FORMAT, "truncated to %zu of %zu bytes: status %d (%s)", len,
                      n, st, graft_errmsg(ctx));
        ck_assert_ptr_null(m);
        free(cut);
    }
    for (size_t i = 0; i < n; i++) {
        bytes[i] ^= (unsigned char)(1u << (i % 8));
        graft_model *m = (graft_model *)1;
        int st = graft_model_load_buffer(ctx, bytes, n, &m);
        ck_assert_msg(st == GRAFT_E_FORMAT || st == GRAFT_E_VERSION,
                      "flipping byte %zu of %zu: status %d (%s)", i, n, st, graft_errmsg(ctx));
        ck_assert_ptr_null(m);
        bytes[i] ^= (unsigned char)(1u << (i % 8));
    }
    free(bytes);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* Rebuilds the file of a (which has a PREP section) with PREP's payload
 * replaced by payload and its flags by flags, CRCs recomputed. */
static unsigned char *with_prep(graft_model *a, const void *payload, size_t len, uint32_t flags,
                                int twice, size_t *out_n)
{
    size_t n;
    unsigned char *b = save_bytes(a, &n);
    graftWriter w;
    graftWriterInit(&w, a->ctx);
    graftWriteBytes(&w, b, 16);
    for (size_t pos = 16; pos < n;) {
        uint64_t slen = 0;
        for (int k = 7; k >= 0; k--) slen = slen << 8 | b[pos + 8 + k];
        if (memcmp(b + pos, "PREP", 4) == 0) {
            for (int t = 0; t <= twice; t++) {
                size_t at = w.size;
                graftWriteBytes(&w, "PREP", 4);
                graftWriteU32(&w, flags);
                graftWriteI64(&w, (int64_t)len);
                graftWriteBytes(&w, payload, len);
                graftWriteU32(&w, graftCrc32(0, w.data + at, w.size - at));
            }
        } else {
            graftWriteBytes(&w, b + pos, 16 + (size_t)slen + 4);
        }
        pos += 16 + (size_t)slen + 4;
    }
    ck_assert_int_eq(w.status, GRAFT_OK);
    unsigned char *copy = malloc(w.size);
    memcpy(copy, w.data, w.size);
    *out_n = w.size;
    graftWriterDispose(&w);
    free(b);
    return copy;
}

/* The PREP payload of p, version v, as docs/FORMAT.md section 3.5 lays it out. */
static size_t prep_payload(graft_ctx *ctx, unsigned char *out, uint32_t v,
                           const graft_preprocess *p)
{
    graftWriter w;
    graftWriterInit(&w, ctx);
    graftWriteU32(&w, v);
    graftWriteI32(&w, p->channels);
    graftWriteI32(&w, p->width);
    graftWriteI32(&w, p->height);
    graftWriteI32(&w, p->resize);
    graftWriteI32(&w, p->shorter_side);
    graftWriteI32(&w, p->normalize);
    graftWriteF32(&w, p->scale);
    for (int c = 0; c < 3; c++) graftWriteF32(&w, p->mean[c]);
    for (int c = 0; c < 3; c++) graftWriteF32(&w, p->std[c]);
    size_t n = w.size;
    memcpy(out, w.data, n);
    graftWriterDispose(&w);
    return n;
}

static void expect_prep(graft_model *a, const unsigned char *payload, size_t len, uint32_t flags,
                        int twice, int status, const char *msg)
{
    size_t n;
    unsigned char *b = with_prep(a, payload, len, flags, twice, &n);
    graft_model *m = (graft_model *)1;
    int st = graft_model_load_buffer(a->ctx, b, n, &m);
    ck_assert_msg(st == status, "status %d, expected %d: %s", st, status, graft_errmsg(a->ctx));
    if (status != GRAFT_OK) {
        ck_assert_ptr_null(m);
        if (msg) ck_assert_str_eq(graft_errmsg(a->ctx), msg);
    }
    graft_model_free(m == (graft_model *)1 ? NULL : m);
    free(b);
}

START_TEST(test_prep_content_checked)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = image_model(ctx, 3, 6, 5, 4);
    graft_preprocess p = byte_preprocess(3, 6, 5);
    ck_assert_int_eq(graft_model_set_preprocess(a, &p), GRAFT_OK);
    unsigned char pl[64];
    size_t len = prep_payload(ctx, pl, 1, &p);
    ck_assert_uint_eq(len, 56);
    /* The bytes the document gives, flags 0 or 1. */
    expect_prep(a, pl, len, 0, 0, GRAFT_OK, NULL);
    expect_prep(a, pl, len, 1, 0, GRAFT_OK, NULL);
    expect_prep(a, pl, len, 0, 1, GRAFT_E_FORMAT, NULL); /* twice */
    expect_prep(a, pl, len - 4, 0, 0, GRAFT_E_FORMAT, NULL);
    prep_payload(ctx, pl, 2, &p);
    expect_prep(a, pl, len, 0, 0, GRAFT_E_VERSION, NULL);
    ck_assert_msg(strstr(graft_errmsg(ctx), "PREP section: record version 2 at offset") &&
                      strstr(graft_errmsg(ctx), "is newer than this graft reads (1)"),
                  "%s", graft_errmsg(ctx));
    prep_payload(ctx, pl, 0, &p);
    expect_prep(a, pl, len, 0, 0, GRAFT_E_FORMAT, NULL);
    graft_preprocess bad = p;
    bad.normalize = 7;
    prep_payload(ctx, pl, 1, &bad);
    size_t n;
    unsigned char *b = with_prep(a, pl, len, 0, 0, &n);
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_load_buffer(ctx, b, n, &m), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(graft_errmsg(ctx), "PREP section at offset") &&
                      strstr(graft_errmsg(ctx), "preprocessing->normalize is 7"),
                  "%s", graft_errmsg(ctx));
    free(b);
    bad = p;
    bad.width = 4; /* not the model's input */
    prep_payload(ctx, pl, 1, &bad);
    expect_prep(a, pl, len, 0, 0, GRAFT_E_FORMAT, NULL);
    bad = p;
    bad.std[2] = -1.0f;
    prep_payload(ctx, pl, 1, &bad);
    expect_prep(a, pl, len, 0, 0, GRAFT_E_FORMAT, NULL);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- predicting an image ------------------------------------------------------------- */

/* What graft_model_predict_image() must compute, by hand with the image API. */
static void manual_probs(graft_model *m, const char *path, const graft_preprocess *p, float *probs)
{
    graft_ctx *ctx = m->ctx;
    graft_image_load_opts lo = GRAFT_IMAGE_LOAD_OPTS_INIT;
    lo.channels = p->channels;
    graft_image *img = NULL;
    ck_assert_int_eq(graft_image_load(ctx, path, &lo, &img), GRAFT_OK);
    if (p->resize == GRAFT_FOLDER_RESIZE_STRETCH) {
        ck_assert_int_eq(graft_image_resize(img, p->width, p->height), GRAFT_OK);
    } else {
        int longer = p->width > p->height ? p->width : p->height;
        int side = p->shorter_side ? p->shorter_side : (int)lround(longer * 256.0 / 224.0);
        ck_assert_int_eq(graft_image_resize_shorter(img, side), GRAFT_OK);
        ck_assert_int_eq(graft_image_center_crop(img, p->width, p->height), GRAFT_OK);
    }
    if (p->normalize == GRAFT_FOLDER_NORM_MEAN_STD)
        ck_assert_int_eq(graft_image_normalize(img, p->mean, p->std), GRAFT_OK);
    else if (p->normalize == GRAFT_FOLDER_NORM_IMAGENET)
        ck_assert_int_eq(graft_image_normalize_imagenet(img), GRAFT_OK);
    else
        ck_assert_int_eq(graft_image_scale(img, p->scale), GRAFT_OK);
    graft_tensor *x = tu_tensor(ctx, 4, 1, p->channels, p->height, p->width), *pr = NULL;
    ck_assert_int_eq(graft_image_write_tensor(img, 0, x, 0), GRAFT_OK);
    int c = graft_model_class_count(m);
    pr = tu_tensor(ctx, 2, 1, c);
    ck_assert_int_eq(graft_model_predict(m, x, pr), GRAFT_OK);
    memcpy(probs, graft_tensor_data(pr), (size_t)c * sizeof *probs);
    graft_tensor_free(pr);
    graft_tensor_free(x);
    graft_image_free(img);
}

static void check_predict(graft_model *m, const char *path, const graft_preprocess *p)
{
    graft_ctx *ctx = m->ctx;
    ck_assert_msg(graft_model_set_preprocess(m, p) == GRAFT_OK, "%s", graft_errmsg(ctx));
    float want[8], got[8], top_p[3];
    int32_t top_i[3];
    manual_probs(m, path, p, want);
    ck_assert_msg(graft_model_predict_image(m, path, 0, NULL, got) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    ck_assert(memcmp(want, got, 4 * sizeof *got) == 0);
    ck_assert_int_eq(graft_model_predict_image(m, path, 3, top_i, top_p), GRAFT_OK);
    for (int r = 0; r < 3; r++) {
        ck_assert(top_p[r] == want[top_i[r]]);
        for (int j = 0; j < 4; j++)
            if (j != top_i[0]) ck_assert(want[j] <= top_p[0]);
    }
    ck_assert(top_p[0] >= top_p[1] && top_p[1] >= top_p[2]);
    size_t n;
    unsigned char *bytes = tu_read_file(path, &n);
    memset(got, 0, sizeof got);
    ck_assert_int_eq(graft_model_predict_image_buffer(m, bytes, n, 0, NULL, got), GRAFT_OK);
    ck_assert(memcmp(want, got, 4 * sizeof *got) == 0);
    free(bytes);
    /* graft_model_prepare_image() fills one slot of a batch with the same
     * input: predicting the batch gives the same probabilities there, and
     * the other slot keeps its values. */
    graft_tensor *x = tu_tensor(ctx, 4, 2, p->channels, p->height, p->width);
    ck_assert_int_eq(graft_tensor_fill(x, 7.0f), GRAFT_OK);
    ck_assert_msg(graft_model_prepare_image(m, path, x, 1) == GRAFT_OK, "%s", graft_errmsg(ctx));
    size_t per = graft_tensor_numel(x) / 2;
    for (size_t i = 0; i < per; i++) ck_assert(graft_tensor_data(x)[i] == 7.0f);
    graft_tensor *pr = tu_tensor(ctx, 2, 2, graft_model_class_count(m));
    ck_assert_int_eq(graft_model_predict(m, x, pr), GRAFT_OK);
    ck_assert(memcmp(want, graft_tensor_data(pr) + graft_model_class_count(m),
                     4 * sizeof *want) == 0);
    graft_tensor_free(pr);
    graft_tensor_free(x);
}

START_TEST(test_predict_image_matches_manual)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = image_model(ctx, 3, 6, 5, 4);
    graft_preprocess p = byte_preprocess(3, 6, 5);
    check_predict(m, IMAGES "rgb8.png", &p);
    p.shorter_side = 11;
    check_predict(m, IMAGES "small.jpg", &p);
    p.resize = GRAFT_FOLDER_RESIZE_STRETCH;
    p.normalize = GRAFT_FOLDER_NORM_IMAGENET;
    check_predict(m, IMAGES "rgb8.png", &p);
    graft_model *g = image_model(ctx, 1, 4, 4, 4);
    graft_preprocess gp = GRAFT_PREPROCESS_INIT;
    gp.channels = 1;
    gp.width = gp.height = 4;
    gp.normalize = GRAFT_FOLDER_NORM_MEAN_STD;
    gp.mean[0] = 0.5f;
    gp.std[0] = 0.25f;
    check_predict(g, IMAGES "rgb8.png", &gp); /* colour to grey */
    graft_model_free(g);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* The same file read through a folder dataset made with the model's
 * folder options gives the same input, so the same probabilities. */
START_TEST(test_predict_image_matches_folder_dataset)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = image_model(ctx, 3, 6, 5, 2);
    graft_preprocess p = byte_preprocess(3, 6, 5);
    ck_assert_int_eq(graft_model_set_preprocess(m, &p), GRAFT_OK);
    char dir[64], path[160];
    tu_make_dir(dir, sizeof dir, "prepds");
    size_t n;
    unsigned char *png = tu_read_file(IMAGES "rgb8.png", &n);
    snprintf(path, sizeof path, "%s/a", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/b", dir);
    ck_assert_int_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/a/x.png", dir);
    tu_write_file(path, png, n);
    graft_folder_opts fo = GRAFT_FOLDER_OPTS_INIT;
    ck_assert_int_eq(graft_model_folder_opts(m, &fo), GRAFT_OK);
    graft_dataset *ds = NULL;
    ck_assert_msg(graft_dataset_from_folder(ctx, dir, &fo, &ds) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    graft_tensor *x = tu_tensor(ctx, 4, 1, 3, 6, 5), *pr = tu_tensor(ctx, 2, 1, 2);
    ck_assert_int_eq(graft_dataset_get(ds, 0, graft_tensor_data(x), NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict(m, x, pr), GRAFT_OK);
    float got[2];
    ck_assert_int_eq(graft_model_predict_image(m, path, 0, NULL, got), GRAFT_OK);
    ck_assert(memcmp(got, graft_tensor_data(pr), sizeof got) == 0);
    graft_tensor_free(pr);
    graft_tensor_free(x);
    graft_dataset_free(ds);
    free(png);
    tu_rm_tree(dir);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_predict_image_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = image_model(ctx, 3, 6, 5, 4);
    float probs[4] = {-1, -1, -1, -1};
    int32_t idx[4] = {-1, -1, -1, -1};
    tu_expect_error(ctx, graft_model_predict_image(m, IMAGES "rgb8.png", 1, idx, probs),
                    GRAFT_E_STATE,
                    "graft_model_predict_image(): the model has no preprocessing: set one with "
                    "graft_model_set_preprocess()");
    graft_preprocess p = byte_preprocess(3, 6, 5);
    ck_assert_int_eq(graft_model_set_preprocess(m, &p), GRAFT_OK);
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "rgb8.png", 5, idx, probs),
                     GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "rgb8.png", -1, idx, probs),
                     GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "rgb8.png", 2, NULL, probs),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_predict_image(m, NULL, 0, NULL, probs), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "rgb8.png", 0, NULL, NULL),
                     GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "no-such.png", 2, idx, probs),
                     GRAFT_E_IO);
    ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_predict_image(): ", 29) == 0 &&
                      strstr(graft_errmsg(ctx), "no-such.png"),
                  "%s", graft_errmsg(ctx));
    static const unsigned char junk[16] = {1, 2, 3};
    ck_assert_int_eq(graft_model_predict_image_buffer(m, junk, sizeof junk, 2, idx, probs),
                     GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_model_predict_image_buffer(m, NULL, 0, 2, idx, probs),
                     GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_model_predict_image_buffer(m, NULL, 5, 2, idx, probs),
                     GRAFT_E_INVALID_ARG);
    /* Nothing was written by any failure. */
    for (int i = 0; i < 4; i++) ck_assert(probs[i] == -1 && idx[i] == -1);
    graft_tensor *x = tu_tensor(ctx, 4, 2, 3, 6, 5), *wrong = tu_tensor(ctx, 4, 1, 3, 5, 6);
    ck_assert_int_eq(graft_model_prepare_image(m, IMAGES "rgb8.png", x, 2), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_prepare_image(m, IMAGES "rgb8.png", x, -1), GRAFT_E_RANGE);
    ck_assert_int_eq(graft_model_prepare_image(m, IMAGES "rgb8.png", wrong, 0), GRAFT_E_SHAPE);
    ck_assert_int_eq(graft_model_prepare_image(m, NULL, x, 0), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_prepare_image(m, IMAGES "no-such.png", x, 0), GRAFT_E_IO);
    ck_assert_msg(strncmp(graft_errmsg(ctx), "graft_model_prepare_image(): ", 29) == 0,
                  "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_set_preprocess(m, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_prepare_image(m, IMAGES "rgb8.png", x, 0), GRAFT_E_STATE);
    graft_tensor_free(wrong);
    graft_tensor_free(x);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* ---- memory buffers -------------------------------------------------------------------- */

START_TEST(test_checkpoint_buffers)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *a = image_model(ctx, 3, 6, 5, 4), *b = NULL;
    graft_optim *o = NULL, *ob = (graft_optim *)1;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o), GRAFT_OK);
    void *data = (void *)1;
    size_t n = 7;
    ck_assert_int_eq(graft_checkpoint_save_buffer(a, NULL, &data, &n), GRAFT_E_INVALID_ARG);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(graft_model_save_buffer(NULL, &data, &n), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_model_save_buffer(a, NULL, &n), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_checkpoint_save_buffer(a, o, &data, &n), GRAFT_OK);

    /* Equal to the file graft_checkpoint_save() writes. */
    char dir[64], path[128];
    tu_make_dir(dir, sizeof dir, "ckbuf");
    snprintf(path, sizeof path, "%s/c.ckpt", dir);
    ck_assert_int_eq(graft_checkpoint_save(a, o, path), GRAFT_OK);
    size_t nf;
    unsigned char *file = tu_read_file(path, &nf);
    ck_assert_uint_eq(nf, n);
    ck_assert(memcmp(file, data, n) == 0);

    ck_assert_int_eq(graft_checkpoint_load_buffer(ctx, data, n, &b, &ob), GRAFT_OK);
    ck_assert_int_eq(graft_model_layer_count(b), 2);
    ck_assert_ptr_nonnull(ob);
    graft_model_free(b);
    graft_optim_free(ob);
    /* Every truncation is refused, both outputs NULL. */
    for (size_t len = 0; len < n; len++) {
        unsigned char *cut = malloc(len ? len : 1);
        memcpy(cut, data, len);
        b = (graft_model *)1;
        ob = (graft_optim *)1;
        int st = graft_checkpoint_load_buffer(ctx, cut, len, &b, &ob);
        ck_assert_msg(st == GRAFT_E_FORMAT, "truncated to %zu: %d (%s)", len, st,
                      graft_errmsg(ctx));
        ck_assert(b == NULL && ob == NULL);
        free(cut);
    }
    /* A model file is not a checkpoint. */
    void *model_data = NULL;
    size_t nm;
    ck_assert_int_eq(graft_model_save_buffer(a, &model_data, &nm), GRAFT_OK);
    tu_expect_error(ctx, graft_checkpoint_load_buffer(ctx, model_data, nm, &b, &ob),
                    GRAFT_E_FORMAT,
                    "graft_checkpoint_load_buffer(): a model file (file kind 1 at offset 12), "
                    "not a checkpoint");
    ck_assert_int_eq(graft_checkpoint_load_buffer(ctx, NULL, 3, &b, &ob), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_checkpoint_load_buffer(NULL, data, n, &b, &ob), GRAFT_E_INVALID_ARG);
    graft_buffer_free(ctx, model_data);
    graft_buffer_free(ctx, NULL);
    graft_buffer_free(ctx, data);
    free(file);
    tu_rm_tree(dir);
    graft_optim_free(o);
    graft_model_free(a);
    graft_ctx_free(ctx);
}
END_TEST

/* Every allocation of saving to memory, loading with PREP and predicting
 * an image may fail: the call says GRAFT_E_NOMEM, leaves nothing behind,
 * and succeeds once the allocations do. */
START_TEST(test_out_of_memory)
{
    tu_fail_heap h;
    graft_ctx *ctx = tu_fail_heap_ctx(&h);
    graft_model *m = image_model(ctx, 3, 6, 5, 4);
    graft_preprocess p = byte_preprocess(3, 6, 5);
    ck_assert_int_eq(graft_model_set_preprocess(m, &p), GRAFT_OK);
    size_t n = 0;
    unsigned char *bytes = save_bytes(m, &n);
    float want[4];
    ck_assert_int_eq(graft_model_predict_image(m, IMAGES "rgb8.png", 0, NULL, want), GRAFT_OK);
    for (int what = 0; what < 3; what++) {
        int done = 0;
        for (long at = 1; !done && at < 10000; at++) {
            long allocs = h.allocs - h.frees;
            tu_fail_heap_arm(&h, at, 0);
            void *data = NULL;
            size_t size = 0;
            graft_model *b = NULL;
            float probs[4];
            int st = what == 0   ? graft_model_save_buffer(m, &data, &size)
                     : what == 1 ? graft_model_load_buffer(ctx, bytes, n, &b)
                                 : graft_model_predict_image(m, IMAGES "rgb8.png", 0, NULL, probs);
            int injected = h.injected;
            tu_fail_heap_arm(&h, 0, 0);
            if (st == GRAFT_OK && injected && what == 2) {
                /* libpng does without some allocations of its own (ancillary
                   data): then the result must still be exact. */
                ck_assert(memcmp(probs, want, sizeof want) == 0);
            } else if (st == GRAFT_OK) {
                done = 1;
                ck_assert_msg(injected == 0, "case %d: allocation %ld failed, yet GRAFT_OK",
                              what, at);
            } else {
                ck_assert_msg(st == GRAFT_E_NOMEM, "case %d, failing allocation %ld: %d (%s)",
                              what, at, st, graft_errmsg(ctx));
                ck_assert_ptr_null(data);
                ck_assert_ptr_null(b);
                ck_assert_int_eq(h.allocs - h.frees, allocs);
            }
            graft_buffer_free(ctx, data);
            graft_model_free(b);
        }
        ck_assert_msg(done, "case %d never succeeded", what);
    }
    free(bytes);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_preprocess(void)
{
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, test_set_get_and_folder_opts);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_saved_and_loaded);
    tcase_add_test(tc, test_older_file_loads_without_preprocessing);
    tcase_add_test(tc, test_every_truncation_and_flip_refused);
    tcase_add_test(tc, test_prep_content_checked);
    tcase_add_test(tc, test_checkpoint_buffers);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("predict_image");
    tcase_add_test(tc, test_predict_image_matches_manual);
    tcase_add_test(tc, test_predict_image_matches_folder_dataset);
    tcase_add_test(tc, test_predict_image_errors);
    suite_add_tcase(s, tc);
    return s;
}
