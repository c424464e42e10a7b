/*
 * make_corpus.c - writes the seed corpora of the fuzz targets "model",
 * "checkpoint", "idx" and "csv". Model files and checkpoints are made with
 * graft's own API: small valid models covering every layer kind, residual
 * and concatenating graphs, class names, frozen layers and transfer
 * settings, input preprocessing, an empty model, and checkpoints of each optimizer kind and
 * schedule, trained and untrained. IDX pairs (plain and gzipped, in the
 * "idx" target's input layout) and CSV files are written by hand. The
 * models are also exported to ONNX as the seeds of the "onnx" target.
 *
 *   make_corpus OUTDIR   (writes OUTDIR/model/, checkpoint/, idx/, csv/, onnx/)
 *
 * Everything is seeded, so the files are the same on every run; `make
 * fuzz-corpus` regenerates tests/fuzz/corpus/ with it.
 */
#include "graft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static graft_ctx *ctx;

static void check(int st, const char *what)
{
    if (st != GRAFT_OK) {
        fprintf(stderr, "make_corpus: %s: %s\n", what, graft_errmsg(ctx));
        exit(1);
    }
}

static void add(graft_model *m, const char *name, graft_layer *l, const char *in0,
                const char *in1)
{
    const char *ins[2] = {in0, in1};
    int n = in1 ? 2 : in0 ? 1 : 0;
    check(graft_model_add(m, name, l, n, n ? ins : NULL), name);
}

static graft_model *new_model(int ndim, int64_t d0, int64_t d1, int64_t d2, uint64_t seed)
{
    int64_t dims[3] = {d0, d1, d2};
    graft_model *m = NULL;
    check(graft_model_create(ctx, ndim, dims, seed, &m), "graft_model_create");
    return m;
}

/* The example of docs/FORMAT.md section 5: input (4), dense "fc" of 2 units. */
static graft_model *dense_example(void)
{
    static const float w[8] = {1, 2, 3, 4, -1, 0.5f, 0, 2}, b[2] = {0.5f, -1};
    graft_model *m = new_model(1, 4, 0, 0, 7);
    graft_layer *l = NULL;
    check(graft_layer_dense(ctx, 2, 1, &l), "dense");
    add(m, "fc", l, NULL, NULL);
    graft_tensor *t = NULL;
    check(graft_layer_param(graft_model_layer(m, 0), 0, NULL, &t, NULL, NULL), "weight");
    check(graft_tensor_copy_from(t, w, 8), "weight values");
    check(graft_layer_param(graft_model_layer(m, 0), 1, NULL, &t, NULL, NULL), "bias");
    check(graft_tensor_copy_from(t, b, 2), "bias values");
    const char *names[2] = {"no", "yes"};
    check(graft_model_set_class_names(m, 2, names), "class names");
    return m;
}

/* conv - batch norm - relu - max pool - flatten - dense - softmax, 3 classes. */
static graft_model *cnn(void)
{
    graft_model *m = new_model(3, 1, 6, 6, 11);
    graft_layer *l = NULL;
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 2;
    cs.kernel_h = cs.kernel_w = 3;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 1;
    check(graft_layer_conv2d(ctx, &cs, &l), "conv2d");
    add(m, "conv", l, NULL, NULL);
    check(graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &l), "batch_norm");
    add(m, "bn", l, NULL, NULL);
    check(graft_layer_relu(ctx, &l), "relu");
    add(m, "relu", l, NULL, NULL);
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = ps.stride_h = ps.stride_w = 2;
    check(graft_layer_max_pool2d(ctx, &ps, &l), "max_pool2d");
    add(m, "pool", l, NULL, NULL);
    check(graft_layer_flatten(ctx, &l), "flatten");
    add(m, "flat", l, NULL, NULL);
    check(graft_layer_dense(ctx, 3, 1, &l), "dense");
    add(m, "fc", l, NULL, NULL);
    return m;
}

/* Every other kind: grouped, strided and dilated convolutions, a residual
 * add, a concat, average pooling with ceil mode and padding, global average
 * pooling, each activation, dropout, a dense layer without bias, softmax. */
static graft_model *branches(void)
{
    graft_model *m = new_model(3, 2, 5, 5, 23);
    graft_layer *l = NULL;
    graft_conv2d_spec cs = GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.kernel_h = 3;
    cs.kernel_w = 2;
    cs.groups = 2;
    cs.pad_top = 1;
    cs.pad_left = 1;
    cs.pad_bottom = 1;
    check(graft_layer_conv2d(ctx, &cs, &l), "grouped conv2d");
    add(m, "g", l, NULL, NULL); /* (4, 5, 6) */
    cs = (graft_conv2d_spec)GRAFT_CONV2D_SPEC_INIT;
    cs.out_channels = 4;
    cs.groups = 4;
    cs.kernel_h = cs.kernel_w = 3;
    cs.dilation_h = cs.dilation_w = 2;
    cs.pad_top = cs.pad_left = cs.pad_bottom = cs.pad_right = 2;
    cs.bias = 0;
    check(graft_layer_conv2d(ctx, &cs, &l), "depthwise conv2d");
    add(m, "dw", l, NULL, NULL); /* (4, 5, 6) */
    check(graft_layer_leaky_relu(ctx, 0.1f, &l), "leaky_relu");
    add(m, "leaky", l, NULL, NULL);
    check(graft_layer_add(ctx, &l), "add");
    add(m, "res", l, "g", "leaky");
    check(graft_layer_clip(ctx, 0.0f, 6.0f, &l), "clip");
    add(m, "relu6", l, NULL, NULL);
    check(graft_layer_hard_swish(ctx, &l), "hard_swish");
    add(m, "hs", l, "g", NULL);
    check(graft_layer_concat(ctx, &l), "concat");
    add(m, "cat", l, "relu6", "hs"); /* (8, 5, 6) */
    graft_pool2d_spec ps = GRAFT_POOL2D_SPEC_INIT;
    ps.kernel_h = ps.kernel_w = 3;
    ps.stride_h = ps.stride_w = 2;
    ps.pad_top = ps.pad_left = 1;
    ps.ceil_mode = 1;
    ps.count_include_pad = 1;
    check(graft_layer_avg_pool2d(ctx, &ps, &l), "avg_pool2d");
    add(m, "avg", l, NULL, NULL);
    check(graft_layer_sigmoid(ctx, &l), "sigmoid");
    add(m, "sig", l, NULL, NULL);
    check(graft_layer_global_avg_pool(ctx, &l), "global_avg_pool");
    add(m, "gap", l, NULL, NULL);
    check(graft_layer_tanh(ctx, &l), "tanh");
    add(m, "th", l, NULL, NULL);
    check(graft_layer_flatten(ctx, &l), "flatten");
    add(m, "flat", l, NULL, NULL);
    check(graft_layer_dropout(ctx, 0.25f, 99, &l), "dropout");
    add(m, "drop", l, NULL, NULL);
    check(graft_layer_dense(ctx, 3, 0, &l), "dense");
    add(m, "fc", l, NULL, NULL);
    check(graft_layer_softmax(ctx, &l), "softmax");
    add(m, "sm", l, NULL, NULL);
    const char *names[3] = {"red", "green", "blue"};
    check(graft_model_set_class_names(m, 3, names), "class names");
    return m;
}

/* The cnn with transfer settings: frozen trunk, learning-rate multipliers,
 * an unfreeze schedule and non-default options (an XFER section). */
static graft_model *transfer(void)
{
    graft_model *m = cnn();
    check(graft_model_freeze_through(m, "pool"), "freeze_through");
    check(graft_model_set_lr_scale(m, 0, 2, 0.1f), "lr scale");
    check(graft_model_schedule_unfreeze(m, "bn", 2, 0.5f), "schedule");
    check(graft_model_set_option(m, GRAFT_MODEL_FROZEN_BN_TRAINS, 1), "option");
    check(graft_model_set_option(m, GRAFT_MODEL_FEATURE_CACHE_MB, 16), "option");
    return m;
}

/* A rank-2 input read by a dense layer directly, then relu and softmax. */
static graft_model *rank2_dense(void)
{
    graft_model *m = new_model(2, 2, 3, 0, 5);
    graft_layer *l = NULL;
    check(graft_layer_dense(ctx, 4, 1, &l), "dense");
    add(m, "fc1", l, NULL, NULL);
    check(graft_layer_relu(ctx, &l), "relu");
    add(m, "act", l, NULL, NULL);
    check(graft_layer_dense(ctx, 2, 1, &l), "dense");
    add(m, "fc2", l, NULL, NULL);
    check(graft_layer_softmax(ctx, &l), "softmax");
    add(m, "sm", l, NULL, NULL);
    return m;
}

/* n samples of the model's input shape with labels i % classes. */
static graft_dataset *dataset_for(graft_model *m, int n)
{
    int ndim, out_ndim;
    int64_t dims[GRAFT_MAX_DIMS], out[GRAFT_MAX_DIMS];
    check(graft_model_layer_output_shape(m, -1, &ndim, dims), "input shape");
    check(graft_model_layer_output_shape(m, graft_model_layer_count(m) - 1, &out_ndim, out),
          "output shape");
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) numel *= dims[d];
    float *x = malloc((size_t)(n * numel) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    if (!x || !y) exit(1);
    for (int64_t i = 0; i < n * numel; i++) x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    for (int i = 0; i < n; i++) y[i] = i % (int)out[0];
    graft_dataset *ds = NULL;
    check(graft_dataset_from_memory(ctx, n, ndim, dims, x, y, (int)out[0], 1, &ds), "dataset");
    free(x);
    free(y);
    return ds;
}

static void fit(graft_model *m, graft_optim *o, int epochs)
{
    graft_dataset *ds = dataset_for(m, 4);
    graft_fit_opts fo = GRAFT_FIT_OPTS_INIT;
    fo.epochs = epochs;
    fo.batch_size = 2;
    fo.seed = 3;
    check(graft_model_fit(m, o, ds, NULL, &fo), "fit");
    graft_dataset_free(ds);
}

static char out_dir[2048];

static void write_bytes(const char *dir, const char *name, const void *data, size_t size);

static void save_model(graft_model *m, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model/%s.graft", out_dir, name);
    check(graft_model_save(m, path), path);
    if (graft_model_layer_count(m) > 0) {
        void *bytes = NULL;
        size_t n = 0;
        check(graft_onnx_export_buffer(m, NULL, &bytes, &n), "graft_onnx_export_buffer");
        snprintf(path, sizeof path, "%s.onnx", name);
        write_bytes("onnx", path, bytes, n);
        graft_onnx_buffer_free(ctx, bytes);
    }
}

static void save_checkpoint(graft_model *m, graft_optim *o, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s.ckpt", out_dir, dir, name);
    check(graft_checkpoint_save(m, o, path), path);
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s\n", path);
        exit(1);
    }
}

/* gzip of n bytes into out (room for cap bytes); returns the size. */
static size_t gzip(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(1);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) exit(1);
    size_t size = z.total_out;
    deflateEnd(&z);
    /* zlib writes the OS byte of the host; fix it for the same bytes everywhere. */
    if (size > 9) out[9] = 3;
    return size;
}

static size_t put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return 4;
}

/* An "idx" input: u32 little-endian length of the images file, the images
 * file (count x rows x cols bytes), the labels file (labels i % classes). */
static void idx_seed(const char *name, uint32_t count, uint32_t rows, uint32_t cols,
                     int classes, int gzipped)
{
    unsigned char images[1024], labels[256], gz_images[2048], gz_labels[1024], out[4096];
    size_t ni = 0, nl = 0;
    ni += put_be32(images, 0x00000803);
    ni += put_be32(images + ni, count);
    ni += put_be32(images + ni, rows);
    ni += put_be32(images + ni, cols);
    for (uint32_t i = 0; i < count * rows * cols; i++) images[ni++] = (unsigned char)(i * 37 % 256);
    nl += put_be32(labels, 0x00000801);
    nl += put_be32(labels + nl, count);
    for (uint32_t i = 0; i < count; i++) labels[nl++] = (unsigned char)(i % (uint32_t)classes);
    const unsigned char *a = images, *b = labels;
    if (gzipped) {
        ni = gzip(images, ni, gz_images, sizeof gz_images);
        nl = gzip(labels, nl, gz_labels, sizeof gz_labels);
        a = gz_images;
        b = gz_labels;
    }
    size_t n = 0;
    out[n++] = (unsigned char)ni;
    out[n++] = (unsigned char)(ni >> 8);
    out[n++] = (unsigned char)(ni >> 16);
    out[n++] = (unsigned char)(ni >> 24);
    memcpy(out + n, a, ni);
    n += ni;
    memcpy(out + n, b, nl);
    n += nl;
    write_bytes("idx", name, out, n);
}

static void text_seed(const char *name, const char *text)
{
    write_bytes("csv", name, text, strlen(text));
}

static graft_optim *optim(int kind)
{
    graft_optim *o = NULL;
    check(graft_optim_create(ctx, kind, &o), "graft_optim_create");
    return o;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    snprintf(out_dir, sizeof out_dir, "%s", argv[1]);
    char sub[4096];
    mkdir(out_dir, 0777);
    snprintf(sub, sizeof sub, "%s/model", out_dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/checkpoint", out_dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/idx", out_dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/csv", out_dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/onnx", out_dir);
    mkdir(sub, 0777);
    check(graft_ctx_create(&ctx), "graft_ctx_create");
    /* The reference products keep the files the same on every machine. */
    check(graft_ctx_set_int(ctx, GRAFT_CTX_USE_BLAS, 0), "GRAFT_CTX_USE_BLAS");

    graft_model *m = new_model(1, 3, 0, 0, 1);
    save_model(m, "empty");
    graft_model_free(m);

    m = dense_example();
    save_model(m, "dense_example");
    graft_optim *o = optim(GRAFT_OPTIM_ADAMW);
    save_checkpoint(m, o, "checkpoint", "adamw_untrained");
    graft_optim_free(o);
    graft_model_free(m);

    m = cnn();
    save_model(m, "cnn");
    o = optim(GRAFT_OPTIM_SGD);
    check(graft_optim_set(o, GRAFT_OPT_MOMENTUM, 0.9), "momentum");
    check(graft_optim_set(o, GRAFT_OPT_NESTEROV, 1), "nesterov");
    check(graft_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 1e-4), "weight decay");
    check(graft_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_STEP), "schedule");
    check(graft_optim_set(o, GRAFT_OPT_STEP_EPOCHS, 2), "step epochs");
    fit(m, o, 1);
    save_model(m, "cnn_trained");
    save_checkpoint(m, o, "checkpoint", "sgd_nesterov_step");
    save_checkpoint(m, o, "model", "sgd_checkpoint"); /* load_buffer takes checkpoints */
    /* The input preprocessing (since 1.3): a PREP section, ONNX metadata_props. */
    graft_preprocess pre = GRAFT_PREPROCESS_INIT;
    pre.channels = 1;
    pre.width = pre.height = 6;
    pre.normalize = GRAFT_FOLDER_NORM_MEAN_STD;
    pre.mean[0] = 0.5f;
    pre.std[0] = 0.25f;
    check(graft_model_set_preprocess(m, &pre), "preprocess");
    save_model(m, "cnn_preprocess");
    save_checkpoint(m, o, "checkpoint", "sgd_preprocess");
    graft_optim_free(o);
    graft_model_free(m);

    m = branches();
    save_model(m, "branches");
    o = optim(GRAFT_OPTIM_ADAM);
    check(graft_optim_set(o, GRAFT_OPT_SCHEDULE, GRAFT_SCHEDULE_COSINE), "schedule");
    check(graft_optim_set(o, GRAFT_OPT_COSINE_EPOCHS, 4), "cosine epochs");
    check(graft_optim_set(o, GRAFT_OPT_WARMUP_EPOCHS, 0.5), "warm-up");
    fit(m, o, 1);
    save_checkpoint(m, o, "checkpoint", "adam_cosine");
    graft_optim_free(o);
    graft_model_free(m);

    m = transfer();
    save_model(m, "transfer");
    o = optim(GRAFT_OPTIM_SGD);
    fit(m, o, 2);
    save_checkpoint(m, o, "checkpoint", "sgd_transfer");
    graft_optim_free(o);
    graft_model_free(m);

    m = rank2_dense();
    save_model(m, "rank2_dense");
    o = optim(GRAFT_OPTIM_ADAMW);
    check(graft_optim_set(o, GRAFT_OPT_WEIGHT_DECAY, 0.05), "weight decay");
    fit(m, o, 1);
    save_checkpoint(m, o, "checkpoint", "adamw_trained");
    graft_optim_free(o);
    graft_model_free(m);

    graft_ctx_free(ctx);

    idx_seed("three_4x5.idx", 3, 4, 5, 3, 0);
    idx_seed("three_4x5_gz.idx", 3, 4, 5, 3, 1);
    idx_seed("one_1x1.idx", 1, 1, 1, 1, 0);
    idx_seed("ten_3x3_gz.idx", 10, 3, 3, 10, 1);

    text_seed("label_last.csv", "0.5,1,2,0\n1.5,-2,3e-2,1\n-0.25,4,5,2\n");
    text_seed("label_first_header.csv", "label;a;b;c\n1;0.5;2;3\n0;1e-3;-4;+5\n");
    text_seed("crlf.csv", "1,2,0\r\n3,4,1\r\n");
    text_seed("one_row.csv", "7,0\n");

    printf("make_corpus: wrote %s/model, checkpoint, idx, csv and onnx\n", out_dir);
    return 0;
}
