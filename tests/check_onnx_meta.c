/* check_onnx_meta.c - the input preprocessing in ONNX metadata_props
 * (src/onnx/onnx_meta.c, docs/ONNX.md section 2.1): export writes it,
 * import reads it back or takes the options', and bad keys are refused. */
#include "testutil.h"

#include "core/protobuf.h"
#include "model/model.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

static graft_model *image_model(graft_ctx *ctx)
{
    const int64_t dims[3] = {3, 4, 5};
    graft_model *m = NULL;
    graft_layer *l = NULL;
    ck_assert_int_eq(graft_model_create(ctx, 3, dims, 9, &m), GRAFT_OK);
    ck_assert_int_eq(graft_layer_flatten(ctx, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "flat", l, 0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_layer_dense(ctx, 2, 1, &l), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", l, 0, NULL), GRAFT_OK);
    return m;
}

static int contains(const unsigned char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(h + i, needle, k) == 0) return 1;
    return 0;
}

static graft_preprocess sample_preprocess(void)
{
    graft_preprocess p = GRAFT_PREPROCESS_INIT;
    p.height = 4;
    p.width = 5;
    p.resize = GRAFT_FOLDER_RESIZE_STRETCH;
    p.shorter_side = 0;
    p.normalize = GRAFT_FOLDER_NORM_MEAN_STD;
    p.mean[0] = 0.485f, p.mean[1] = 0.456f, p.mean[2] = 0.406f;
    p.std[0] = 0.229f, p.std[1] = 0.224f, p.std[2] = 1e-3f / 3.0f;
    p.scale = 1.0f / 3.0f;
    return p;
}

/* The exported bytes of m, with extra (key, value) metadata entries
 * appended (a ModelProto's fields may come in any order). */
static unsigned char *export_with(graft_model *m, const char *const *kv, int n, size_t *size)
{
    void *data = NULL;
    size_t len = 0;
    ck_assert_msg(graft_onnx_export_buffer(m, NULL, &data, &len) == GRAFT_OK, "%s",
                  graft_errmsg(m->ctx));
    graftWriter w;
    graftWriterInit(&w, m->ctx);
    graftWriteBytes(&w, data, len);
    for (int i = 0; i < n; i++) {
        size_t at = graftPbBeginMessage(&w, 14);
        graftPbWriteString(&w, 1, kv[2 * i]);
        graftPbWriteString(&w, 2, kv[2 * i + 1]);
        graftPbEndMessage(&w, at);
    }
    ck_assert_int_eq(w.status, GRAFT_OK);
    unsigned char *out = malloc(w.size);
    memcpy(out, w.data, w.size);
    *size = w.size;
    graftWriterDispose(&w);
    graft_onnx_buffer_free(m->ctx, data);
    return out;
}

static void assert_same(const graft_preprocess *a, const graft_preprocess *b)
{
    ck_assert_int_eq(a->channels, b->channels);
    ck_assert_int_eq(a->width, b->width);
    ck_assert_int_eq(a->height, b->height);
    ck_assert_int_eq(a->resize, b->resize);
    ck_assert_int_eq(a->shorter_side, b->shorter_side);
    ck_assert_int_eq(a->normalize, b->normalize);
    ck_assert(a->scale == b->scale);
    ck_assert(memcmp(a->mean, b->mean, sizeof a->mean) == 0);
    ck_assert(memcmp(a->std, b->std, sizeof a->std) == 0);
}

START_TEST(test_export_import_round_trip)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = image_model(ctx), *back = NULL;
    graft_preprocess p = sample_preprocess(), got = GRAFT_PREPROCESS_INIT;
    /* Without preprocessing: no graft keys, none after import. */
    size_t n;
    unsigned char *bytes = export_with(m, NULL, 0, &n);
    ck_assert(!contains(bytes, n, "graft.preprocess"));
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bytes, n, NULL, &back), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_preprocess(back, &got), GRAFT_E_NOT_FOUND);
    graft_model_free(back);
    free(bytes);

    /* With it, in a comma locale too: the same floats come back. */
    ck_assert_int_eq(graft_model_set_preprocess(m, &p), GRAFT_OK);
    locale_t de = newlocale(LC_NUMERIC_MASK, "de_DE.UTF-8", (locale_t)0);
    locale_t old = de ? uselocale(de) : (locale_t)0;
    bytes = export_with(m, NULL, 0, &n);
    ck_assert(contains(bytes, n, "0.485,0.456,0.406"));
    ck_assert_msg(graft_onnx_import_buffer(ctx, bytes, n, NULL, &back) == GRAFT_OK, "%s",
                  graft_errmsg(ctx));
    if (de) {
        uselocale(old);
        freelocale(de);
    }
    ck_assert_int_eq(graft_model_get_preprocess(back, &got), GRAFT_OK);
    assert_same(&p, &got);
    graft_model_free(back);

    /* The options' preprocessing wins over the file's. */
    graft_preprocess q = GRAFT_PREPROCESS_INIT;
    q.height = 4;
    q.width = 5;
    q.scale = 255.0f;
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.preprocess = &q;
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bytes, n, &o, &back), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_preprocess(back, &got), GRAFT_OK);
    assert_same(&q, &got);
    graft_model_free(back);
    q.width = 6;
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bytes, n, &o, &back), GRAFT_E_SHAPE);
    ck_assert_ptr_null(back);
    q.width = 5;
    q.struct_size = 8;
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bytes, n, &o, &back), GRAFT_E_VERSION);
    /* A caller built against 1.2 (no preprocess member) gets the file's. */
    o.struct_size = (uint32_t)offsetof(graft_onnx_import_opts, preprocess);
    ck_assert_int_eq(graft_onnx_import_buffer(ctx, bytes, n, &o, &back), GRAFT_OK);
    ck_assert_int_eq(graft_model_get_preprocess(back, &got), GRAFT_OK);
    assert_same(&p, &got);
    graft_model_free(back);
    free(bytes);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

static void expect_meta(graft_model *m, const char *const *kv, int n, int status,
                        const char *msg)
{
    size_t size;
    unsigned char *bytes = export_with(m, kv, n, &size);
    graft_model *back = (graft_model *)1;
    int st = graft_onnx_import_buffer(m->ctx, bytes, size, NULL, &back);
    ck_assert_msg(st == status, "status %d, expected %d: %s", st, status, graft_errmsg(m->ctx));
    if (status != GRAFT_OK) {
        ck_assert_ptr_null(back);
        if (msg) ck_assert_str_eq(graft_errmsg(m->ctx), msg);
    } else {
        graft_model_free(back);
    }
    free(bytes);
}

START_TEST(test_bad_metadata_refused)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = image_model(ctx);
    const char *kv[] = {
        "graft.preprocess.version", "1",     "graft.preprocess.channels", "3",
        "graft.preprocess.width", "5",       "graft.preprocess.height", "4",
        "graft.preprocess.resize", "stretch", "graft.preprocess.shorter_side", "0",
        "graft.preprocess.normalize", "scale", "graft.preprocess.scale", "255",
        "graft.preprocess.mean", "0,0,0",    "graft.preprocess.std", "1,1,1",
        "other.key", "ignored"};
    expect_meta(m, kv, 11, GRAFT_OK, NULL);
    expect_meta(m, kv, 9, GRAFT_E_FORMAT,
                "graft_onnx_import_buffer(): metadata_props has graft.preprocess keys but not "
                "\"graft.preprocess.std\"");
    const char *copy[22];
    memcpy(copy, kv, sizeof copy);
    copy[15] = "2.5e";
    expect_meta(m, copy, 11, GRAFT_E_FORMAT,
                "graft_onnx_import_buffer(): metadata_props \"graft.preprocess.scale\" is "
                "\"2.5e\", not a finite number");
    memcpy(copy, kv, sizeof copy);
    copy[17] = "0,0";
    expect_meta(m, copy, 11, GRAFT_E_FORMAT, NULL);
    memcpy(copy, kv, sizeof copy);
    copy[13] = "minmax";
    expect_meta(m, copy, 11, GRAFT_E_FORMAT, NULL);
    memcpy(copy, kv, sizeof copy);
    copy[3] = "2";
    expect_meta(m, copy, 11, GRAFT_E_FORMAT,
                "graft_onnx_import_buffer(): metadata_props: graft.preprocess->channels is 2, "
                "must be 1 or 3");
    memcpy(copy, kv, sizeof copy);
    copy[5] = "6"; /* not the model's input */
    expect_meta(m, copy, 11, GRAFT_E_FORMAT, NULL);
    memcpy(copy, kv, sizeof copy);
    copy[1] = "2";
    expect_meta(m, copy, 11, GRAFT_E_VERSION, NULL);
    memcpy(copy, kv, sizeof copy);
    copy[20] = "graft.preprocess.colour";
    copy[21] = "x";
    expect_meta(m, copy, 11, GRAFT_E_FORMAT,
                "graft_onnx_import_buffer(): metadata_props has the key "
                "\"graft.preprocess.colour\", which graft does not know");
    memcpy(copy, kv, sizeof copy);
    copy[20] = "graft.preprocess.width";
    copy[21] = "5";
    expect_meta(m, copy, 11, GRAFT_E_FORMAT,
                "graft_onnx_import_buffer(): metadata_props has the key "
                "\"graft.preprocess.width\" twice");
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_meta(void)
{
    Suite *s = suite_create("onnx_meta");
    TCase *tc = tcase_create("preprocess");
    tcase_add_test(tc, test_export_import_round_trip);
    tcase_add_test(tc, test_bad_metadata_refused);
    suite_add_tcase(s, tc);
    return s;
}
