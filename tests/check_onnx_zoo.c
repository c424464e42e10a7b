/*
 * check_onnx_zoo.c - the compact model zoo (tests/data/zoo, made by
 * tests/zoo/make_zoo_fixtures.py): reduced-width versions of the
 * torchvision architectures docs/ONNX-ZOO.md runs at full size, which
 * tests/data/onnx does not already cover. For each fixture: import, graft's
 * output on the stored input against PyTorch's (the largest difference over
 * the largest |PyTorch output|, at most 1e-4, the measure of
 * tests/zoo/zoo.py), replace_head with 10 classes, one epoch of fit (the
 * loss finite, the head's weights changed), export, and the export imported
 * back giving the fine-tuned model's outputs to 1e-5.
 *
 * Architectures graft cannot import yet are in expected_unsupported[]: their
 * import must fail with GRAFT_E_UNSUPPORTED at the operator named there. When
 * support lands the test fails, as a reminder to move the architecture out
 * of the table, so that from then on it is checked like the others.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZOO_DIR GRAFT_TEST_DATA "/zoo/"
#define N_CLASSES 10
#define FIT_SAMPLES 4

/* Expected to fail until graft imports them: name, and the operator the
 * message names. None today (convnext, shufflenet_v2 and the transformer
 * left it when the transpose, slice, layer_norm and matmul kinds came). */
static const struct {
    const char *name, *op;
} expected_unsupported[] = {
    {NULL, NULL},
};

static const char *expected_op(const char *name)
{
    for (size_t i = 0; expected_unsupported[i].name; i++)
        if (strcmp(expected_unsupported[i].name, name) == 0) return expected_unsupported[i].op;
    return NULL;
}

/* Graphs of one sample, imported with batch_axis 0: PyTorch's attention
 * moves the batch axis, so tests/zoo/make_zoo_fixtures.py exports the
 * transformer for one sequence; graft batches that graph. */
static int one_sample(const char *name)
{
    return strcmp(name, "transformer_encoder") == 0;
}

/* max |a - b| / max |b|, the shapes equal. */
static double max_rel_err(const graft_tensor *a, const graft_tensor *b)
{
    ck_assert_int_eq(graft_tensor_ndim(a), graft_tensor_ndim(b));
    for (int d = 0; d < graft_tensor_ndim(b); d++)
        ck_assert_int_eq(graft_tensor_dim(a, d), graft_tensor_dim(b, d));
    const float *x = graft_tensor_data_const(a), *y = graft_tensor_data_const(b);
    double diff = 0, top = 0;
    for (size_t k = 0; k < graft_tensor_numel(b); k++) {
        double e = fabs((double)x[k] - y[k]);
        ck_assert_msg(isfinite(e), "element %zu is not finite: %g vs %g", k, x[k], y[k]);
        if (e > diff) diff = e;
        if (fabs(y[k]) > top) top = fabs(y[k]);
    }
    ck_assert_msg(top > 0, "the reference output is all zeros");
    return diff / top;
}

/* A copy of the output of m on x (caller frees). */
static graft_tensor *forward_copy(graft_model *m, graft_ctx *ctx, const graft_tensor *x)
{
    const graft_tensor *y = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    int64_t dims[8];
    for (int d = 0; d < graft_tensor_ndim(y); d++) dims[d] = graft_tensor_dim(y, d);
    return tu_tensor_from(ctx, graft_tensor_ndim(y), dims, graft_tensor_data_const(y));
}

/* A copy of the weights of "head/fc" (caller frees). */
static float *head_weights(graft_model *m, size_t *n)
{
    int i = graft_model_find_layer(m, "head/fc");
    ck_assert_int_ge(i, 0);
    const char *name = NULL;
    graft_tensor *w = NULL;
    ck_assert_int_eq(graft_layer_param(graft_model_layer(m, i), 0, &name, &w, NULL, NULL),
                     GRAFT_OK);
    ck_assert_str_eq(name, "weight");
    *n = graft_tensor_numel(w);
    float *copy = malloc(*n * sizeof *copy);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, graft_tensor_data_const(w), *n * sizeof *copy);
    return copy;
}

static double last_loss;

static int on_progress(void *user_data, const graft_progress *p)
{
    (void)user_data;
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_EPOCH_END)
        last_loss = graft_progress_get(p, GRAFT_PROGRESS_LOSS);
    return 0;
}

/* Replaces the head, fits one epoch on FIT_SAMPLES samples (the stored
 * input's samples with noise, labels k % N_CLASSES) and checks the head learnt. */
static void fine_tune(graft_model *m, graft_ctx *ctx, const graft_tensor *x, const char *name)
{
    ck_assert_msg(graft_model_replace_head(m, N_CLASSES, NULL) == GRAFT_OK, "%s: %s", name,
                  graft_errmsg(ctx));
    size_t per = graft_tensor_numel(x) / (size_t)graft_tensor_dim(x, 0);
    float *feat = malloc(FIT_SAMPLES * per * sizeof *feat);
    ck_assert_ptr_nonnull(feat);
    graft_tensor *noise = tu_tensor(ctx, 1, (int)(FIT_SAMPLES * per));
    tu_fill_uniform(noise, 7, -0.1f, 0.1f);
    const float *src = graft_tensor_data_const(x), *nz = graft_tensor_data_const(noise);
    int32_t labels[FIT_SAMPLES];
    for (size_t k = 0; k < FIT_SAMPLES; k++) {
        const float *s = src + (k % (size_t)graft_tensor_dim(x, 0)) * per;
        for (size_t j = 0; j < per; j++) feat[k * per + j] = s[j] + nz[k * per + j];
        labels[k] = (int32_t)(k % N_CLASSES);
    }
    int64_t dims[8];
    for (int d = 1; d < graft_tensor_ndim(x); d++) dims[d - 1] = graft_tensor_dim(x, d);
    graft_dataset *data = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, FIT_SAMPLES, graft_tensor_ndim(x) - 1, dims,
                                               feat, labels, N_CLASSES, 1, &data),
                     GRAFT_OK);
    graft_optim *opt = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &opt), GRAFT_OK);
    ck_assert_int_eq(graft_optim_set(opt, GRAFT_OPT_LR, 1e-3), GRAFT_OK);
    size_t n;
    float *before = head_weights(m, &n);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.batch_size = 2;
    fo.progress = on_progress;
    last_loss = NAN;
    ck_assert_msg(graft_model_fit(m, opt, data, NULL, &fo) == GRAFT_OK, "%s: %s", name,
                  graft_errmsg(ctx));
    ck_assert_msg(isfinite(last_loss), "%s: the epoch's loss is %g", name, last_loss);
    size_t n2;
    float *after = head_weights(m, &n2);
    ck_assert_uint_eq(n, n2);
    int changed = 0;
    for (size_t k = 0; k < n; k++) changed |= before[k] != after[k];
    ck_assert_msg(changed, "%s: the head's weights did not change", name);
    free(before);
    free(after);
    graft_optim_free(opt);
    graft_dataset_free(data);
    graft_tensor_free(noise);
    free(feat);
}

static void check_zoo(const char *name)
{
    graft_ctx *ctx = tu_ctx();
    char path[256];
    snprintf(path, sizeof path, ZOO_DIR "%s.onnx", name);
    graft_model *m = NULL;
    graft_onnx_import_opts o = GRAFT_ONNX_IMPORT_OPTS_INIT;
    o.batch_axis = !one_sample(name);
    int st = graft_onnx_import(ctx, path, &o, &m);
    const char *op = expected_op(name);
    if (op) {
        ck_assert_msg(st == GRAFT_E_UNSUPPORTED,
                      "%s now imports (status %d): remove it from expected_unsupported[] in "
                      "tests/check_onnx_zoo.c so that it is checked against PyTorch",
                      name, st);
        ck_assert_msg(strstr(graft_errmsg(ctx), op) != NULL, "%s: refused elsewhere: %s", name,
                      graft_errmsg(ctx));
        ck_assert_ptr_null(m);
        graft_ctx_free(ctx);
        return;
    }
    ck_assert_msg(st == GRAFT_OK, "%s: %s", path, graft_errmsg(ctx));
    snprintf(path, sizeof path, ZOO_DIR "%s.input.pb", name);
    graft_tensor *x = tu_onnx_read_tensor(ctx, path);
    snprintf(path, sizeof path, ZOO_DIR "%s.output.pb", name);
    graft_tensor *want = tu_onnx_read_tensor(ctx, path);
    graft_tensor *got = forward_copy(m, ctx, x);
    double err = max_rel_err(got, want);
    ck_assert_msg(err <= 1e-4, "%s: max rel err %g against PyTorch", name, err);
    graft_tensor_free(got);

    fine_tune(m, ctx, x, name);

    void *data = NULL;
    size_t size = 0;
    ck_assert_msg(graft_onnx_export_buffer(m, NULL, &data, &size) == GRAFT_OK, "%s: %s", name,
                  graft_errmsg(ctx));
    graft_model *back = NULL;
    ck_assert_msg(graft_onnx_import_buffer(ctx, data, size, NULL, &back) == GRAFT_OK, "%s: %s",
                  name, graft_errmsg(ctx));
    graft_tensor *tuned = forward_copy(m, ctx, x), *again = forward_copy(back, ctx, x);
    err = max_rel_err(again, tuned);
    ck_assert_msg(err <= 1e-5, "%s: the export differs by %g", name, err);
    graft_tensor_free(tuned);
    graft_tensor_free(again);
    graft_model_free(back);
    graft_onnx_buffer_free(ctx, data);
    graft_tensor_free(x);
    graft_tensor_free(want);
    graft_model_free(m);
    graft_ctx_free(ctx);
}

START_TEST(test_mobilenet_v3_small) { check_zoo("mobilenet_v3_small"); }
END_TEST
START_TEST(test_efficientnet_b0) { check_zoo("efficientnet_b0"); }
END_TEST
START_TEST(test_mnasnet) { check_zoo("mnasnet"); }
END_TEST
START_TEST(test_regnet_x) { check_zoo("regnet_x"); }
END_TEST
START_TEST(test_densenet) { check_zoo("densenet"); }
END_TEST
START_TEST(test_googlenet) { check_zoo("googlenet"); }
END_TEST
START_TEST(test_lraspp) { check_zoo("lraspp"); }
END_TEST
START_TEST(test_shufflenet_v2) { check_zoo("shufflenet_v2"); }
END_TEST
START_TEST(test_convnext) { check_zoo("convnext"); }
END_TEST
START_TEST(test_transformer_encoder) { check_zoo("transformer_encoder"); }
END_TEST

/* The table names only fixtures that exist. */
START_TEST(test_expected_table)
{
    for (size_t i = 0; expected_unsupported[i].name; i++) {
        char path[256];
        snprintf(path, sizeof path, ZOO_DIR "%s.onnx", expected_unsupported[i].name);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "expected_unsupported[] names %s, which is missing", path);
        fclose(f);
    }
}
END_TEST

Suite *suite_onnx_zoo(void)
{
    Suite *s = suite_create("onnx_zoo");
    const tu_named_test tests[] = {
        {"mobilenet_v3_small", test_mobilenet_v3_small},
        {"efficientnet_b0", test_efficientnet_b0},
        {"mnasnet", test_mnasnet},
        {"regnet_x", test_regnet_x},
        {"densenet", test_densenet},
        {"googlenet", test_googlenet},
        {"lraspp", test_lraspp},
        {"shufflenet_v2", test_shufflenet_v2},
        {"convnext", test_convnext},
        {"transformer_encoder", test_transformer_encoder},
        {"expected_table", test_expected_table},
    };
    tu_add_tcases(s, tests, sizeof tests / sizeof tests[0], 120);
    return s;
}
