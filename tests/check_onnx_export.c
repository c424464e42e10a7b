/*
 * check_onnx_export.c - ONNX export (src/onnx/onnx_export.c, and the kinds'
 * onnx_export slots through it): a model of every layer kind exports,
 * passes onnx.checker (python3-onnx, when installed) and imports back to the
 * same outputs; an imported, fine-tuned network round-trips, with batch
 * norms folded or not; and the errors.
 */
#include "testutil.h"
#include "onnx/onnx_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- export ------------------------------------------------------------------------- */

/* Runs tests/onnx_check_model.py on path. Returns 1 when checked, 0 when
 * python3-onnx is not available (the check is skipped with a message). */
static int onnx_checker(const char *path)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "check_onnx_export: /usr/bin/python3 is missing; onnx.checker not run\n");
        return 0;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_check_model.py '%s'", path);
    int st = system(cmd);
    ck_assert_msg(st != -1 && WIFEXITED(st), "cannot run %s", cmd);
    if (WEXITSTATUS(st) == 77) {
        fprintf(stderr, "check_onnx_export: python3-onnx is not installed; onnx.checker not run\n");
        return 0;
    }
    ck_assert_msg(WEXITSTATUS(st) == 0, "onnx.checker refused %s", path);
    return 1;
}

static void add_layer(graft_model *m, const char *name, int st, graft_layer *l, int n,
                      const char *const *ins)
{
    ck_assert_msg(st == GRAFT_OK, "%s: %s", name, graft_errmsg(NULL));
    ck_assert_msg(graft_model_add(m, name, l, n, ins) == GRAFT_OK, "%s: %s", name,
                  graft_errmsg(NULL));
}

#define INS(...) (const char *const[]){__VA_ARGS__}
#define NINS(...) (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define ADD(m, name, expr, ...)                         \
    do {                                                \
        graft_layer *l_ = NULL;                         \
        int st_ = (expr);                               \
        add_layer(m, name, st_, l_, NINS(__VA_ARGS__), INS(__VA_ARGS__)); \
    } while (0)

/* A model that uses every layer kind, with non-trivial parameters. */
static graft_model *every_kind_model(graft_ctx *ctx)
{
    graft_model *m = NULL;
    const int64_t in[3] = {3, 8, 8};
    ck_assert_int_eq(graft_model_create(ctx, 3, in, 5, &m), GRAFT_OK);
    graft_conv2d_spec c = GRAFT_CONV2D_SPEC_INIT;
    c.out_channels = 4;
    c.kernel_h = c.kernel_w = 3;
    c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = 1;
    ADD(m, "conv1", graft_layer_conv2d(ctx, &c, &l_), "input");
    ADD(m, "bn1", graft_layer_batch_norm(ctx, 1e-3f, 0.2f, &l_), "conv1");
    ADD(m, "relu1", graft_layer_relu(ctx, &l_), "bn1");
    graft_pool2d_spec p = GRAFT_POOL2D_SPEC_INIT;
    p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
    ADD(m, "maxpool", graft_layer_max_pool2d(ctx, &p, &l_), "relu1");
    p.kernel_h = p.kernel_w = 3;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
    p.count_include_pad = 1;
    ADD(m, "avgpool", graft_layer_avg_pool2d(ctx, &p, &l_), "relu1");
    graft_pad2d_spec pd = GRAFT_PAD2D_SPEC_INIT;
    pd.pad_top = pd.pad_left = pd.pad_bottom = pd.pad_right = 1;
    pd.mode = GRAFT_PAD_EDGE;
    ADD(m, "pad", graft_layer_pad2d(ctx, &pd, &l_), "maxpool");
    graft_conv2d_spec g = GRAFT_CONV2D_SPEC_INIT;
    g.out_channels = 4;
    g.kernel_h = g.kernel_w = 3;
    g.groups = 2;
    ADD(m, "gconv", graft_layer_conv2d(ctx, &g, &l_), "pad");
    ADD(m, "cat", graft_layer_concat(ctx, &l_), "maxpool", "avgpool", "gconv");
    ADD(m, "sum", graft_layer_add(ctx, &l_), "maxpool", "avgpool", "gconv");
    ADD(m, "gap", graft_layer_global_avg_pool(ctx, &l_), "cat");
    graft_conv2d_spec se = GRAFT_CONV2D_SPEC_INIT;
    se.out_channels = 4;
    ADD(m, "se", graft_layer_conv2d(ctx, &se, &l_), "gap");
    ADD(m, "gate", graft_layer_hard_sigmoid(ctx, 0.2f, 0.5f, &l_), "se");
    ADD(m, "scale", graft_layer_mul(ctx, &l_), "sum", "gate");
    ADD(m, "leaky", graft_layer_leaky_relu(ctx, 0.1f, &l_), "scale");
    ADD(m, "sig", graft_layer_sigmoid(ctx, &l_), "leaky");
    ADD(m, "tanh", graft_layer_tanh(ctx, &l_), "sig");
    ADD(m, "clip", graft_layer_clip(ctx, -0.5f, 0.75f, &l_), "tanh");
    ADD(m, "hswish", graft_layer_hard_swish(ctx, &l_), "clip");
    const int64_t ssd[3] = {4, 1, 1};
    ADD(m, "affine", graft_layer_scale_shift(ctx, 3, ssd, &l_), "hswish");
    ADD(m, "drop", graft_layer_dropout(ctx, 0.25f, 9, &l_), "affine");
    ADD(m, "flat", graft_layer_flatten(ctx, &l_), "drop");
    const int64_t rd[2] = {8, 8};
    ADD(m, "grid", graft_layer_reshape(ctx, 2, rd, &l_), "flat");
    ADD(m, "fc", graft_layer_dense(ctx, 5, 1, &l_), "grid");
    ADD(m, "prob", graft_layer_softmax(ctx, &l_), "fc");
    /* Non-trivial batch norm, scale_shift and bias values. */
    graft_tensor *t;
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(graft_layer_param(graft_model_layer(m, 1), k, NULL, &t, NULL, NULL), 0);
        tu_fill_ramp(graft_tensor_data(t), 4, k == 3 ? 0.5f : 0.2f * (float)k - 0.1f, 0.15f);
    }
    graft_layer *aff = graft_model_layer(m, graft_model_find_layer(m, "affine"));
    ck_assert_int_eq(graft_layer_param(aff, 0, NULL, &t, NULL, NULL), 0);
    tu_fill_ramp(graft_tensor_data(t), 4, 0.5f, 0.5f);
    ck_assert_int_eq(graft_layer_param(aff, 1, NULL, &t, NULL, NULL), 0);
    tu_fill_ramp(graft_tensor_data(t), 4, -1, 0.5f);
    graft_layer *conv = graft_model_layer(m, 0);
    ck_assert_int_eq(graft_layer_param(conv, 1, NULL, &t, NULL, NULL), 0);
    tu_fill_ramp(graft_tensor_data(t), 4, -0.2f, 0.1f);
    return m;
}

/* Forward of m and m2 on the same seeded input agree within tol. */
static void assert_same_outputs(graft_ctx *ctx, graft_model *m, graft_model *m2, int ndim,
                                const int64_t *dims, float atol, float rtol)
{
    graft_tensor *x = NULL;
    ck_assert_int_eq(graft_tensor_create(ctx, ndim, dims, &x), GRAFT_OK);
    tu_fill_uniform(x, 77, -2, 2);
    const graft_tensor *y = NULL, *y2 = NULL;
    ck_assert_msg(graft_model_forward(m, x, &y) == GRAFT_OK, "%s", graft_errmsg(ctx));
    size_t n = graft_tensor_numel(y);
    float *copy = malloc(n * sizeof *copy);
    memcpy(copy, graft_tensor_data_const(y), n * sizeof *copy);
    ck_assert_msg(graft_model_forward(m2, x, &y2) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_uint_eq(graft_tensor_numel(y2), n);
    tu_assert_close(graft_tensor_data_const(y2), copy, n, atol, rtol, "re-imported output");
    free(copy);
    graft_tensor_free(x);
}

/* Every kind exports, passes onnx.checker (opsets 13 and 14), and imports
 * back to the same outputs; HardSigmoid+Mul written for hard_swish at
 * opset 13 comes back as one hard_swish layer. */
START_TEST(test_export_every_kind)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = every_kind_model(ctx);
    char path[] = "/tmp/graft_onnx_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (int opset = 13; opset <= 14; opset++) {
        graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
        eo.opset = opset;
        ck_assert_msg(graft_onnx_export(m, path, &eo) == GRAFT_OK, "%s", graft_errmsg(ctx));
        onnx_checker(path);
        graft_onnx_import_opts io = GRAFT_ONNX_IMPORT_OPTS_INIT;
        io.keep_softmax = 1;
        graft_model *m2 = NULL;
        ck_assert_msg(graft_onnx_import(ctx, path, &io, &m2) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        /* dropout disappears, scale_shift comes back as two layers and the
         * dense layer on (N, 8, 8) gets a flatten before it: one more */
        ck_assert_int_eq(graft_model_layer_count(m2), graft_model_layer_count(m) + 1);
        ck_assert_int_lt(graft_model_find_layer(m2, "drop"), 0);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m2, graft_model_find_layer(m2,
                         "fc/flatten"))), "flatten");
        int hs = graft_model_find_layer(m2, "hswish");
        ck_assert_int_ge(hs, 0);
        ck_assert_str_eq(graft_layer_kind(graft_model_layer(m2, hs)), "hard_swish");
        ck_assert_str_eq(graft_model_layer_name(m2, 0), "conv1");
        const int64_t xd[4] = {2, 3, 8, 8};
        assert_same_outputs(ctx, m, m2, 4, xd, 1e-6f, 1e-5f);
        graft_model_free(m2);
    }
    unlink(path);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

/* The round trip of the issue: import a network, replace its head, fine-tune
 * a few steps, export (also with batch norms folded into the convs), import
 * again: the outputs agree. */
START_TEST(test_export_round_trip_after_fine_tuning)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, GRAFT_TEST_DATA "/onnx/vgg_style.onnx", NULL, &m) ==
                      GRAFT_OK,
                  "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_replace_head(m, 3, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_freeze_through(m, "/Reshape"), GRAFT_OK);
    const int64_t dims[3] = {3, 32, 32};
    float *feat = malloc(6 * 3 * 32 * 32 * sizeof *feat);
    int32_t labels[6] = {0, 1, 2, 0, 1, 2};
    graftRng rng;
    graftRngSeed(&rng, 3);
    for (int k = 0; k < 6 * 3 * 32 * 32; k++) feat[k] = graftRngUniform(&rng) * 2 - 1;
    graft_dataset *ds = NULL;
    ck_assert_int_eq(graft_dataset_from_memory(ctx, 6, 3, dims, feat, labels, 3, 1, &ds), 0);
    graft_optim *opt = NULL;
    ck_assert_int_eq(graft_optim_create(ctx, GRAFT_OPTIM_SGD, &opt), GRAFT_OK);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = 2;
    fo.batch_size = 3;
    ck_assert_msg(graft_model_fit(m, opt, ds, NULL, &fo) == GRAFT_OK, "%s", graft_errmsg(ctx));
    ck_assert_int_eq(graft_model_class_count(m), 3);
    const int64_t xd[4] = {2, 3, 32, 32};
    for (int fold = 0; fold <= 1; fold++) {
        graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
        eo.fold_batch_norm = fold;
        void *data = NULL;
        size_t size = 0;
        ck_assert_msg(graft_onnx_export_buffer(m, &eo, &data, &size) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        char path[] = "/tmp/graft_onnx_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
        close(fd);
        onnx_checker(path);
        unlink(path);
        graft_model *m2 = NULL;
        ck_assert_msg(graft_onnx_import_buffer(ctx, data, size, NULL, &m2) == GRAFT_OK, "%s",
                      graft_errmsg(ctx));
        graft_onnx_buffer_free(ctx, data);
        /* 3 batch norms fold into their convs */
        ck_assert_int_eq(graft_model_layer_count(m2), graft_model_layer_count(m) - 3 * fold);
        ck_assert_int_ge(graft_model_find_layer(m2, "head/fc"), 0);
        assert_same_outputs(ctx, m, m2, 4, xd, 1e-5f, fold ? 1e-4f : 1e-5f);
        graft_model_free(m2);
    }
    graft_optim_free(opt);
    graft_dataset_free(ds);
    free(feat);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

START_TEST(test_export_errors)
{
    graft_ctx *ctx = tu_ctx();
    graft_model *m = NULL;
    const int64_t in[1] = {4};
    ck_assert_int_eq(graft_model_create(ctx, 1, in, 0, &m), GRAFT_OK);
    void *data = (void *)1;
    size_t size = 1;
    ck_assert_int_eq(graft_onnx_export_buffer(m, NULL, &data, &size), GRAFT_E_STATE);
    ck_assert_ptr_null(data);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_export_buffer(): the model has no layers");
    ADD(m, "fc", graft_layer_dense(ctx, 2, 1, &l_), "input");
    graft_onnx_export_opts eo = GRAFT_ONNX_EXPORT_OPTS_INIT;
    eo.opset = 12;
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_str_eq(graft_errmsg(ctx),
                     "graft_onnx_export_buffer(): opset is 12, must be 13 to 17");
    eo.opset = 13;
    eo.struct_size = 4;
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_E_VERSION);
    eo = (graft_onnx_export_opts)GRAFT_ONNX_EXPORT_OPTS_INIT;
    eo.input_name = eo.output_name = "x";
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_export_buffer(NULL, NULL, &data, &size), GRAFT_E_INVALID_ARG);
    ck_assert_int_eq(graft_onnx_export(m, "/nonexistent/dir/m.onnx", NULL), GRAFT_E_IO);
    ck_assert_str_eq(graft_errmsg(ctx), "graft_onnx_export(): cannot create a temporary file for "
                                        "\"/nonexistent/dir/m.onnx\": No such file or directory");
    /* Custom names come back as the graph's input and output. */
    eo = (graft_onnx_export_opts)GRAFT_ONNX_EXPORT_OPTS_INIT;
    eo.input_name = "pixels";
    eo.output_name = "fc";
    ck_assert_int_eq(graft_onnx_export_buffer(m, &eo, &data, &size), GRAFT_OK);
    onnxModel om;
    ck_assert_int_eq(graftOnnxModelDecode(ctx, "test", data, size, &om), GRAFT_OK);
    ck_assert_str_eq(om.graph.inputs[0].name, "pixels");
    ck_assert_str_eq(om.graph.outputs[0].name, "fc");
    ck_assert_int_eq(om.graph.inputs[0].dims[0], -1); /* symbolic batch */
    ck_assert_int_eq(om.graph.inputs[0].dims[1], 4);
    ck_assert_int_eq(om.opsets[0].version, 13);
    ck_assert_int_eq(om.ir_version, 7);
    graftOnnxModelDispose(&om);
    graft_onnx_buffer_free(ctx, data);
    graft_model_free(m);
    graft_ctx_free(ctx);
}
END_TEST

Suite *suite_onnx_export(void)
{
    Suite *s = suite_create("onnx_export");
    TCase *tc = tcase_create("export");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_export_every_kind);
    tcase_add_test(tc, test_export_round_trip_after_fine_tuning);
    tcase_add_test(tc, test_export_errors);
    suite_add_tcase(s, tc);
    return s;
}
