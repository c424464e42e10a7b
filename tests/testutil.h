/*
 * testutil.h - helpers shared by graft's Check suites: tensor builders, a
 * finite-difference gradient checker, BLAS-vs-reference and save/load
 * round-trip checks that work for any layer kind, allocators that count,
 * cap or fail, temporary files and folders, and optimizer steps.
 */
#ifndef GRAFT_TESTUTIL_H
#define GRAFT_TESTUTIL_H

#include <check.h>
#include <stdio.h>

#include "graft.h"
#include "layers/layer.h"

/* Suites, one per module: tests/check_<module>.c for src/<floor>/<module>.c
 * (check_<kind>.c for layer_<kind>.c); check_kinds.c, check_torch_refs.c
 * check_alloc_fail.c and check_onnx_zoo.c run across modules. */

/* core */
Suite *suite_context(void);
Suite *suite_version(void);
Suite *suite_error(void);
Suite *suite_options(void);
Suite *suite_rng(void);
Suite *suite_crc32(void);
Suite *suite_finite(void);
Suite *suite_protobuf(void);
Suite *suite_tensor(void);
Suite *suite_blas(void);
Suite *suite_parallel(void);
Suite *suite_stream(void);
Suite *suite_file(void);

/* layers */
Suite *suite_layer(void);
Suite *suite_kinds(void);
Suite *suite_registry(void);
Suite *suite_dense(void);
Suite *suite_conv2d(void);
Suite *suite_conv_depthwise(void);
Suite *suite_conv_winograd(void);
Suite *suite_conv_epilogue(void);
Suite *suite_pool(void);
Suite *suite_batchnorm(void);
Suite *suite_activation(void);
Suite *suite_dropout(void);
Suite *suite_flatten(void);
Suite *suite_softmax(void);
Suite *suite_merge(void);
Suite *suite_mul(void);
Suite *suite_pad2d(void);
Suite *suite_reshape(void);
Suite *suite_scale_shift(void);
Suite *suite_upsample2d(void);
Suite *suite_transpose(void);
Suite *suite_slice(void);
Suite *suite_layer_norm(void);
Suite *suite_matmul(void);
Suite *suite_conv_transpose2d(void);
Suite *suite_loss(void);
Suite *suite_losses(void);
Suite *suite_onnx_node(void);
Suite *suite_torch_refs(void);

/* data */
Suite *suite_dataset(void);
Suite *suite_dataset_idx(void);
Suite *suite_dataset_csv(void);
Suite *suite_dataset_folder(void);
Suite *suite_dataset_subset(void);
Suite *suite_file_reader(void);
Suite *suite_image(void);
Suite *suite_image_png(void);
Suite *suite_image_jpeg(void);
Suite *suite_image_handle(void);
Suite *suite_image_transform(void);
Suite *suite_image_png_write(void);
Suite *suite_dataset_callback(void);
Suite *suite_dataset_grid(void);
Suite *suite_image_augment(void);

/* model */
Suite *suite_model(void);
Suite *suite_freeze(void);
Suite *suite_model_io(void);
Suite *suite_optim(void);
Suite *suite_optim_sgd(void);
Suite *suite_optim_adam(void);
Suite *suite_train(void);
Suite *suite_predict_tta(void);
Suite *suite_transfer(void);
Suite *suite_evaluate(void);
Suite *suite_fit_callbacks(void);
Suite *suite_reinit(void);
Suite *suite_predict_dataset(void);
Suite *suite_clone(void);
Suite *suite_preprocess(void);

/* onnx */
Suite *suite_onnx_pb(void);
Suite *suite_onnx_import(void);
Suite *suite_onnx_meta(void);
Suite *suite_onnx_import_helpers(void);
Suite *suite_onnx_fold(void);
Suite *suite_onnx_ops_nn(void);
Suite *suite_onnx_ops_elementwise(void);
Suite *suite_onnx_ops_shape(void);
Suite *suite_onnx_export(void);

/* across modules */
Suite *suite_alloc_fail(void);
Suite *suite_bounded_reads(void);
Suite *suite_onnx_zoo(void);

/* A test and the name of the TCase it runs in alone. */
typedef struct tu_named_test {
    const char *name;
    const TTest *test;
} tu_named_test;
/* Adds each of n tests to s in a TCase of its own, with the timeout in seconds. */
void tu_add_tcases(Suite *s, const tu_named_test *tests, size_t n, double timeout);

/* Allocator hooks that count allocations and frees, remember the largest
 * request, and fail the fail_at-th allocation (1-based; 0: none). Pass a
 * tu_alloc_counter as the hooks' opaque pointer, or use tu_counting_ctx(). */
typedef struct tu_alloc_counter {
    long allocs, frees, fail_at;
    size_t largest;
} tu_alloc_counter;
void *tu_counting_alloc(void *opaque, size_t size);
void tu_counting_free(void *opaque, void *ptr);
/* A context whose every allocation goes through c. */
graft_ctx *tu_counting_ctx(tu_alloc_counter *c);
/* A context whose allocator refuses requests over 64 MiB, so that a call
 * that goes ahead with a huge size fails instead of taking the machine's memory. */
graft_ctx *tu_capped_ctx(void);
/* An allocator that, once armed, fails the fail_at-th allocation call, once
 * or (persistent) every call from it on, and counts what succeeds. */
typedef struct tu_fail_heap {
    long allocs, frees; /* successful allocations and frees, since the context was made */
    int armed;          /* counting allocation calls toward fail_at */
    long calls;         /* allocation calls since arming */
    long fail_at;       /* 1-based call to fail; 0: none */
    int persistent;     /* 1: every call from fail_at on fails */
    int injected;       /* failures injected */
    size_t first_size;  /* size of the first failed request */
} tu_fail_heap;
/* A context allocating through h (zeroed first), with the reference GEMM so
 * that results compare exactly across such contexts. */
graft_ctx *tu_fail_heap_ctx(tu_fail_heap *h);
/* Arms h to fail the fail_at-th call from now (0: none), counting calls from 0. */
void tu_fail_heap_arm(tu_fail_heap *h, long fail_at, int persistent);
/* Bytes allocated and not yet freed, now and at the most, through the context
 * tu_peak_ctx(p) makes (it zeroes p). */
typedef struct tu_peak_alloc {
    size_t now, peak;
} tu_peak_alloc;
graft_ctx *tu_peak_ctx(tu_peak_alloc *p);

/* A context that fails the test when it cannot be made. */
graft_ctx *tu_ctx(void);

/* A zero-filled tensor of ndim dimensions given as ints, e.g.
 * tu_tensor(ctx, 4, 2, 3, 5, 5). Fails the test on error. */
graft_tensor *tu_tensor(graft_ctx *ctx, int ndim, ...);
/* A tensor holding count values from data with the given dims. */
graft_tensor *tu_tensor_from(graft_ctx *ctx, int ndim, const int64_t *dims, const float *data);
/* Fills with values uniform in [lo, hi) from seed. */
void tu_fill_uniform(graft_tensor *t, uint64_t seed, float lo, float hi);
/* Fills with distinct values: a random permutation of lo + k * step. Keeps
 * max pooling and ReLU-like kinks away from finite-difference steps. */
void tu_fill_distinct(graft_tensor *t, uint64_t seed, float lo, float step);

/* Asserts that two float arrays agree: |a - b| <= atol + rtol * |b|, and
 * names the first index that does not. */
void tu_assert_close(const float *a, const float *b, size_t n, float atol, float rtol,
                     const char *what);

/* Options of the gradient check. */
typedef struct tu_gradcheck_opts {
    double eps;   /* finite-difference step (default 1e-2) */
    double atol;  /* absolute tolerance (default 2e-3) */
    double rtol;  /* relative tolerance (default 2e-2) */
    /* Called before every forward, e.g. to reseed a dropout mask; may be NULL. */
    void (*before_forward)(graft_layer *layer, void *arg);
    void *arg;
    int skip_inputs; /* 1: do not check input gradients */
    int skip_params; /* 1: do not check parameter gradients */
} tu_gradcheck_opts;

/* Checks the input and parameter gradients of a built layer against central
 * differences of L = sum(out * R), R random. Fails the test on the first
 * mismatch, naming the tensor and the element. Returns the number of
 * elements compared (so a caller can assert the check did something). */
size_t tu_gradcheck(graft_layer *layer, int n_inputs, graft_tensor **inputs,
                    const tu_gradcheck_opts *opts);

/* Runs forward and backward with OpenBLAS and with the reference GEMM and
 * asserts that outputs, input gradients and parameter gradients agree within
 * rtol. Leaves the context on BLAS. */
void tu_check_blas_vs_reference(graft_layer *layer, int n_inputs, graft_tensor **inputs,
                                float rtol);

/* Saves the layer, loads it back, and asserts that kind, parameters and
 * inference-mode outputs are bit-identical; then loads every truncation of
 * the saved bytes and asserts each fails cleanly with GRAFT_E_FORMAT. */
void tu_check_roundtrip(graft_layer *layer, int n_inputs, graft_tensor **inputs);
/* tu_check_roundtrip of layer built on its first n_inputs (1 to 3) of (2, 2, 3, 3),
 * (2, 2, 3, 3) and (2, 4, 3, 3), uniform in [-3, 3) from seeds 60, 61, 62. */
void tu_check_roundtrip_small(graft_layer *layer, int n_inputs);

/* Forward of a layer (built on first use); fails the test on error. */
const graft_tensor *tu_forward(graft_layer *layer, int n_inputs, graft_tensor **inputs);
/* Builds a layer on the inputs' shapes, parameters from seed 1; fails the test on error. */
void tu_build(graft_layer *layer, int n_inputs, graft_tensor **inputs);
/* The tensor has ndim dimensions of these sizes. */
void tu_assert_dims(const graft_tensor *t, int ndim, const int64_t *dims);
/* The index of the first float whose bits differ between a and b; n if none. */
size_t tu_first_bit_difference(const float *a, const float *b, size_t n);
/* Saves the layer, overwrites 4 bytes of its attributes at attr_offset (counted
 * from the start of the attributes, after the kind string and the version) with
 * v, and loads it back: the status (a failed load must leave no layer). */
int tu_load_patched(graft_layer *layer, size_t attr_offset, const void *v);

/* ---- files and folders ------------------------------------------------------------ */

/* Where the committed fixtures are, relative to the source root. */
#ifndef GRAFT_TEST_DATA
#define GRAFT_TEST_DATA "tests/data"
#endif
/* Makes a fresh folder /tmp/graft-<tag>-XXXXXX, its name in buf; tu_rm_tree removes it. */
void tu_make_dir(char *buf, size_t size, const char *tag);
/* Removes a folder and everything under it. */
void tu_rm_tree(const char *dir);
/* Entries of a folder (not . and ..) whose names start with prefix (NULL: all). */
int tu_count_entries(const char *dir, const char *prefix);
/* Writes n bytes (or a string) to a file, replacing it. */
void tu_write_file(const char *path, const void *data, size_t n);
void tu_write_text(const char *path, const char *text);
/* Writes data as one gzip member: mode "wb" replaces the file, "ab" appends. */
void tu_write_gzip(const char *path, const char *mode, const void *data, size_t n);
/* The bytes of a whole file (malloc'd; the caller frees). */
unsigned char *tu_read_file(const char *path, size_t *size);
/* Asserts the status st == code and that graft_errmsg(ctx) is exactly msg. */
void tu_expect_error(graft_ctx *ctx, int st, int code, const char *msg);

/* ---- optimizers ------------------------------------------------------------------- */

struct graftOptimSlot; /* model/optim.h */
/* A new optimizer of the kind; fails the test on error. */
graft_optim *tu_optim_new(graft_ctx *ctx, int kind);
/* graft_optim_set, failing the test on error. */
void tu_optim_set(graft_optim *o, int key, double v);
/* SGD with this learning rate and momentum. */
graft_optim *tu_sgd(graft_ctx *ctx, double lr, double momentum);
/* graftOptimStep, failing the test on error. */
void tu_optim_step(graft_optim *o, int n_slots, const struct graftOptimSlot *slots, double lr);
/* A 1-D tensor of n values. */
graft_tensor *tu_vec(graft_ctx *ctx, int n, const float *values);
/* Two steps of one scalar p = 1 with gradients g1 then g2 at learning rate
 * lr: p after each. */
void tu_optim_two_steps(graft_optim *o, float g1, float g2, double lr, float *after1,
                        float *after2);
/* An update rule written one element at a time: moves value (n floats) by
 * step number step (1, 2, ...) with gradient grad at learning rate lr; state
 * is the rule's configuration and its own state (momentum, moments). */
typedef void (*tu_optim_rule)(float *value, const float *grad, size_t n, int step, double lr,
                              void *state);
/* Four steps of o (learning rate 0.1 / step) on one slot of n (at most 64)
 * values, values and gradients drawn from *seed in [-2, 2): after each step
 * the values must equal the rule's bit for bit (so o's state is checked
 * through the next steps). what names the case in a failure. */
void tu_optim_check_rule(graft_optim *o, int n, uint64_t *seed, tu_optim_rule rule, void *state,
                         const char *what);

/* ---- convolutions: helpers defined in tests/check_conv2d.c -------------------- */

/* A conv2d configuration: input (n, c, h, w) and the spec's attributes. */
typedef struct tu_conv_cfg {
    int n, c, h, w;
    int oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, bias;
} tu_conv_cfg;
int tu_conv_oh(const tu_conv_cfg *k); /* output height */
int tu_conv_ow(const tu_conv_cfg *k);
/* An input of k's shape, uniform in [-1, 1) from seed. */
graft_tensor *tu_conv_input(graft_ctx *ctx, const tu_conv_cfg *k, uint64_t seed);
/* A conv2d layer for k built on x, its bias (if any) set to non-zero values. */
graft_layer *tu_conv_layer(graft_ctx *ctx, const tu_conv_cfg *k, const graft_tensor *x);
/* A conv2d layer from a spec, built on x. */
graft_layer *tu_conv_spec_layer(graft_ctx *ctx, const graft_conv2d_spec *s,
                                const graft_tensor *x);
float *tu_conv_param(graft_layer *l, int i); /* parameter i's data */
void tu_conv_set_param(graft_layer *l, int i, const float *v, size_t n);
const graft_tensor *tu_conv_forward(graft_layer *l, const graft_tensor *x);
/* Forward and backward of a layer for k against the definition computed in
 * double: output, input gradient, weight and bias gradients. */
void tu_conv_check_reference(graft_ctx *ctx, const tu_conv_cfg *k);
/* Input and parameter gradients of a layer for k against finite differences. */
void tu_conv_gradcheck(const tu_conv_cfg *k);

/* ---- images: helpers defined in tests/check_image.c for the image suites ---- */

/* The bytes of tests/data/images/<name> (malloc'd; the caller frees). */
unsigned char *tu_image_fixture(const char *name, size_t *size);
/* tests/data/images/<name> loaded with the given channels (0: the file's). */
graft_image *tu_image_load_fixture(graft_ctx *ctx, const char *name, int channels);
/* A picture decoded by an independent tool (pngtopnm, djpeg -pnm): samples
 * interleaved as the PNM file has them, v malloc'd. */
typedef struct tu_pnm {
    int width, height, channels, maxval;
    unsigned *v;
} tu_pnm;
tu_pnm tu_pnm_tool_path(const char *tool, const char *path);
tu_pnm tu_pnm_tool(const char *tool, const char *name); /* a fixture */
/* Compares im (CHW) with the reference within tol (0: bit-exact); a grey
 * reference is repeated for 3 channels, an RGB one turned into BT.601 luma
 * for 1. */
void tu_compare_with_pnm(const graft_image *im, const tu_pnm *p, float tol, const char *what);
/* Captures stdout and stderr between begin and end; end fails the test if
 * anything was printed. */
typedef struct tu_quiet {
    int saved_out, saved_err;
    FILE *file;
} tu_quiet;
tu_quiet tu_quiet_begin(void);
void tu_quiet_end(tu_quiet q);
/* Every proper prefix of a fixture decoded from memory fails with
 * GRAFT_E_FORMAT naming "<memory>", printing nothing; the whole decodes. */
void tu_image_check_every_truncation(const char *name);
/* Failing each allocation of decoding a fixture in turn: GRAFT_E_NOMEM and
 * nothing leaked, until the decode succeeds. */
void tu_image_check_oom(const char *name);

/* ---- ONNX: helpers defined in tests/check_onnx_import.c for the ONNX suites ---- */

/* A ModelProto under construction with graft's protobuf writer: begin (the
 * opset of the default domain), inputs, initializers, nodes with their
 * attributes, outputs, then finish; the bytes are w.data, w.size. */
typedef struct tu_mb {
    graft_ctx *ctx;
    graftWriter w;
    size_t graph;
} tu_mb;
void tu_mb_begin(tu_mb *b, graft_ctx *ctx, int64_t opset);
/* A graph input (field 11) or output (12) of element type elem; ndim -1
 * writes no shape; a size of -1, -2 or -3 writes the symbolic "N", "H" or
 * "W", another negative size a dimension with neither a value nor a name. */
void tu_mb_value(tu_mb *b, int field, const char *name, int elem, int ndim, const int64_t *dims);
void tu_mb_input(tu_mb *b, const char *name, int ndim, const int64_t *dims); /* float */
void tu_mb_output(tu_mb *b, const char *name);
/* Initializers, float or int64 (raw data). */
void tu_mb_init(tu_mb *b, const char *name, int ndim, const int64_t *dims, const float *v);
void tu_mb_init_i64(tu_mb *b, const char *name, int ndim, const int64_t *dims, const int64_t *v);
/* Starts a node; ins and outs are comma-separated ("x,,max" leaves input 1
 * empty); name may be NULL. Add attributes, then tu_mb_end(). */
size_t tu_mb_node(tu_mb *b, const char *op, const char *name, const char *ins, const char *outs);
void tu_mb_end(tu_mb *b, size_t pos);
/* A whole node without attributes. */
void tu_mb_simple(tu_mb *b, const char *op, const char *name, const char *ins, const char *outs);
void tu_mb_attr_i(tu_mb *b, const char *name, int64_t v);
void tu_mb_attr_f(tu_mb *b, const char *name, float v);
void tu_mb_attr_ints(tu_mb *b, const char *name, int n, const int64_t *v);
void tu_mb_attr_s(tu_mb *b, const char *name, const char *s);
void tu_mb_attr_tensor_i64(tu_mb *b, const char *name, int ndim, const int64_t *dims,
                           const int64_t *v);
void tu_mb_attr_tensor_f(tu_mb *b, const char *name, int ndim, const int64_t *dims,
                         const float *v);
/* Ends the graph (fails the test if the writer failed). */
void tu_mb_finish(tu_mb *b);
void tu_mb_free(tu_mb *b);
/* A small valid model: conv, batch norm, relu, pool, flatten, gemm. */
void tu_onnx_small_model(graft_ctx *ctx, tu_mb *b);
/* graft_onnx_import_buffer of b's bytes: the status; or the model, failing
 * the test on error. */
int tu_onnx_try_import(tu_mb *b, const graft_onnx_import_opts *o, graft_model **m);
graft_model *tu_onnx_import_ok(tu_mb *b, const graft_onnx_import_opts *o);
/* Finishes b and imports its bytes: the status; the model (NULL on failure)
 * and b are freed. */
int tu_onnx_status(tu_mb *b);
/* y = op(Relu(x)) for x (N, 4), node name and domain optional: the import
 * status (tu_onnx_status). */
int tu_onnx_refused(graft_ctx *ctx, int opset, const char *op, const char *name,
                    const char *domain);
/* Runs m on x (ndim, dims, data), copies the output (n floats expected) into
 * y and returns the output tensor (borrowed) for shape checks. */
const graft_tensor *tu_onnx_run(graft_model *m, graft_ctx *ctx, int ndim, const int64_t *dims,
                                const float *x, float *y, size_t n);
/* Reads a file holding one TensorProto of floats (tests/make_onnx_fixtures.py
 * writes them) into a new tensor; path relative to the source root. */
graft_tensor *tu_onnx_read_tensor(graft_ctx *ctx, const char *path);
/* Runs m on x and checks that the output has want's shape and values
 * (tu_assert_close() with atol, rtol; label names the case). */
void tu_onnx_assert_output(graft_model *m, graft_ctx *ctx, graft_tensor *x,
                           const graft_tensor *want, float atol, float rtol, const char *label);
/* The model has n layers of these kinds, in order. */
void tu_assert_kinds(graft_model *m, const char *const *kinds, int n);
/* v[k] = start + step * k. */
void tu_fill_ramp(float *v, size_t n, float start, float step);

#endif
